"""Fixtures for the interceptor's tests: fake AWS environment, moto's in-process mock, a fake clock, a call counter.

Nothing here talks to the network: moto intercepts botocore in process, and a guard refuses any socket connection
that is not to the loopback interface.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import interceptor  # noqa: E402

USERNAME = "neo4j"
PASSWORD = "s3cr3t-Pa55w0rd!"
SECRET_NAME = "neo4j-gw/test/neo4j"


def secret_json(username=USERNAME, password=PASSWORD, **extra):
    data = {
        "NEO4J_URI": "neo4j+s://example.databases.neo4j.io",
        "NEO4J_USERNAME": username,
        "NEO4J_PASSWORD": password,
        "NEO4J_DATABASE": "neo4j",
    }
    data.update(extra)
    return json.dumps(data)


class FakeClock:
    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _is_loopback(address) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
    else:
        return True  # AF_UNIX and friends never leave the machine
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail loudly on any connection that would leave the machine."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_connect(self, address):
        if not _is_loopback(address):
            raise AssertionError(f"test tried to open a network connection to {address!r}")
        return real_connect(self, address)

    def guarded_connect_ex(self, address):
        if not _is_loopback(address):
            raise AssertionError(f"test tried to open a network connection to {address!r}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch, tmp_path):
    """Fake credentials and region; no profile, config file or endpoint override from the developer's machine."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name in ("SECRET_ARN", "AUTH_HEADER", "SECRET_TTL_SECONDS", "ORIGIN_SECRET_ARN", "ORIGIN_HEADER"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config-absent"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials-absent"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """A fresh module state (no cached credentials, no client) and a fake monotonic clock for every test."""
    interceptor.reset()
    fake = FakeClock()
    monkeypatch.setattr(interceptor, "_now", fake)
    yield fake
    interceptor.reset()


@pytest.fixture
def aws():
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def sm(aws):
    """The test's own Secrets Manager client (inside moto's mock)."""
    import boto3

    return boto3.client("secretsmanager", region_name="us-east-1")


@pytest.fixture
def secret(sm, monkeypatch):
    """A secret holding valid credentials; SECRET_ARN points at its ARN. Returns the ARN."""
    arn = sm.create_secret(Name=SECRET_NAME, SecretString=secret_json())["ARN"]
    monkeypatch.setenv("SECRET_ARN", arn)
    return arn


class CallCounter:
    """Counts GetSecretValue API calls made by the interceptor's own boto3 client."""

    def __init__(self):
        self.calls = 0

    def __call__(self, **kwargs):
        self.calls += 1


@pytest.fixture
def get_secret_calls(aws):
    counter = CallCounter()
    client = interceptor._get_client()  # created inside the mock, then reused by the handler
    client.meta.events.register("before-call.secrets-manager.GetSecretValue", counter)
    yield counter
    client.meta.events.unregister("before-call.secrets-manager.GetSecretValue", counter)
