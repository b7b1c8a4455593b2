"""The gateway stand-in's two readings of the AgentCore guide where it is silent (gateway.py's module docstring),
its credential providers, and the in-task proxy stand-in (caddy.py) as the Caddy image documents it."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # scripts/emulator/

import json
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from dataplane import caddy
from dataplane.aws import NotFound
from dataplane.gateway import Gateways, SessionHeaders, TargetError, _refused_by_validation
from dataplane.neo4j_mcp import _uvicorn

PROVIDER = "arn:aws:bedrock-agentcore:us-east-1:123456789012:token-vault/default/apikeycredentialprovider/s-origin-key"
ORIGIN = "a" * 64


class FakeAws:
    def __init__(self, keys):
        self.keys = keys

    def api_key(self, region, arn, authorise=None):
        # The gateway role's IAM check (authorise) is the emulator's (tests/it/agent_path_diagnosis.rs), not these tests'.
        if arn not in self.keys:
            raise NotFound(arn)
        return self.keys[arn]


def gateways(reading, keys=None):
    return Gateways(FakeAws(keys if keys is not None else {PROVIDER: ORIGIN}), None, None, None, reading=reading)


TARGET = {
    "targetId": "t1",
    "name": "neo4j-mcp",
    "metadataConfiguration": {"allowedRequestHeaders": ["X-Neo4j-Authorization"]},
    "credentialProviderConfigurations": [
        {
            "credentialProviderType": "API_KEY",
            "credentialProvider": {
                "apiKeyCredentialProvider": {
                    "providerArn": PROVIDER,
                    "credentialParameterName": "X-Neo4j-Gw-Origin",
                    "credentialPrefix": "Origin",
                    "credentialLocation": "HEADER",
                }
            },
        }
    ],
}
CLIENT = {"authorization": "Bearer client-token", "x-neo4j-authorization": "Basic client", "user-agent": "agent/1"}
INTERCEPTOR = {"X-Neo4j-Authorization": "Basic interceptor"}


def body(method):
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method}).encode()


def test_the_credential_providers_key_goes_on_every_request_under_both_readings():
    for reading in ("strict", "lenient"):
        session = gateways(reading)._session_headers("us-east-1", TARGET, (CLIENT, INTERCEPTOR), listing=False)
        for method in ("initialize", "notifications/initialized", "tools/call", "tools/list"):
            assert session.for_body(body(method))["X-Neo4j-Gw-Origin"] == "Origin" + ORIGIN, (reading, method)


def test_strict_the_handshake_and_a_dynamic_listing_carry_only_the_providers_header():
    g = gateways("strict")
    call = g._session_headers("us-east-1", TARGET, (CLIENT, INTERCEPTOR), listing=False)
    assert call.for_body(body("initialize")) == {"X-Neo4j-Gw-Origin": "Origin" + ORIGIN}
    assert call.for_body(body("notifications/initialized")) == {"X-Neo4j-Gw-Origin": "Origin" + ORIGIN}
    assert call.for_body(b"") == {"X-Neo4j-Gw-Origin": "Origin" + ORIGIN}  # a GET or DELETE of the session
    # The interceptor's allow-listed header wins over the client's, on the call itself only.
    assert call.for_body(body("tools/call")) == {
        "X-Neo4j-Authorization": "Basic interceptor",
        "X-Neo4j-Gw-Origin": "Origin" + ORIGIN,
    }
    listing = g._session_headers("us-east-1", TARGET, (CLIENT, INTERCEPTOR), listing=True)
    assert listing.for_body(body("tools/list")) == {"X-Neo4j-Gw-Origin": "Origin" + ORIGIN}


def test_lenient_the_handshake_carries_the_forwarded_headers_too():
    g = gateways("lenient")
    for listing in (False, True):
        session = g._session_headers("us-east-1", TARGET, (CLIENT, INTERCEPTOR), listing=listing)
        for method in ("initialize", "tools/list", "tools/call"):
            assert session.for_body(body(method)) == {
                "X-Neo4j-Authorization": "Basic interceptor",
                "X-Neo4j-Gw-Origin": "Origin" + ORIGIN,
            }


def test_a_provider_that_cannot_vend_its_key_fails_the_call():
    with pytest.raises(TargetError, match="could not vend its key"):
        gateways("strict", keys={})._provider_headers("us-east-1", TARGET)


def test_defaults_of_an_api_key_provider_are_authorization_and_bearer():
    target = {"credentialProviderConfigurations": [
        {"credentialProviderType": "API_KEY", "credentialProvider": {"apiKeyCredentialProvider": {"providerArn": PROVIDER}}}
    ]}
    assert gateways("strict")._provider_headers("us-east-1", target) == {"Authorization": "Bearer " + ORIGIN}


@pytest.mark.parametrize(
    "name, value",
    [
        ("Host", "gw.example.test"),
        ("Content-Length", "47"),
        ("User-Agent", "agent/1"),
        ("X-Amzn-Trace-Id", "Root=1"),
        ("Mcp-Session-Id", "s"),
        ("Accept", "application/json"),
        ("X-Forwarded-For", "1.2.3.4"),
        ("Bad Name", "x"),
        ("X-Long", "x" * 4097),
        ("X-Control", "a\nb"),
    ],
)
def test_headers_the_guides_validation_refuses(name, value):
    assert _refused_by_validation(name, value)


@pytest.mark.parametrize(
    "name", ["Authorization", "X-Neo4j-Authorization", "X-Neo4j-Gw-Origin", "X-Amzn-Bedrock-AgentCore-Runtime-Custom-A"]
)
def test_headers_an_interceptor_may_set(name):
    assert not _refused_by_validation(name, "Basic abc")


# An interceptor answer that sets a header the guide's validation refuses (gateway.py's module docstring; the table in
# docs/aws-behaviour.md, "Strict and lenient readings"): strict fails the request, lenient drops the header.

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:s-interceptor"
GATEWAY = {
    "gatewayId": "s-gateway-abcdefghij",
    "gatewayArn": "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/s-gateway-abcdefghij",
    "name": "s-gateway",
    "status": "READY",
    "roleArn": "arn:aws:iam::123456789012:role/s-gateway",
    "interceptorConfigurations": [
        {
            "interceptor": {"lambda": {"arn": FUNCTION}},
            "interceptionPoints": ["REQUEST"],
            "inputConfiguration": {"passRequestHeaders": False},
        }
    ],
}
READY_TARGET = dict(
    TARGET,
    status="READY",
    gatewayArn=GATEWAY["gatewayArn"],
    targetConfiguration={"mcp": {"mcpServer": {"endpoint": "https://mcp.example.test/mcp", "listingMode": "DYNAMIC"}}},
)
REFUSED = ("X-Amzn-Trace-Id", "Root=1-00000000-000000000000000000000000")  # the guide's `X-Amzn-` prefix
# An allow-listed name with a value the guide refuses (over 4 KB): refused by value, not by name.
REFUSED_VALUE = ("X-Neo4j-Authorization", "Basic " + "a" * 4096)


class GatewayAws(FakeAws):
    """GetGateway and ListGatewayTargets as the emulator answers them, and the origin key's value."""

    def gateway(self, region, gateway_id):
        return GATEWAY

    def targets(self, region, gateway_id):
        return [READY_TARGET]


class Interceptor:
    """The deployed interceptor's answer, with one header more: the allow-listed one it may set and a refused one."""

    def __init__(self, refused):
        self.events = []
        self.refused = refused

    def invoke(self, arn, event):
        from dataplane.lambda_runtime import Invocation

        self.events.append(event)
        headers = dict(INTERCEPTOR, **{self.refused[0]: self.refused[1]})
        body = event["mcp"]["gatewayRequest"]["body"]
        answer = {"interceptorOutputVersion": "1.0", "mcp": {"transformedGatewayRequest": {"headers": headers, "body": body}}}
        return Invocation(answer, "/aws/lambda/s-interceptor", "stream", "request-id")


class NoAudit:
    def write(self, region, gateway_arn, record):
        return []


def refused_header_call(monkeypatch, reading, refused=REFUSED):
    """One tools/call through the gateway stand-in; returns (HTTP response, the headers each request of the session
    with the target carried, or None when the target was not contacted, the interceptor's invocations)."""
    from mcp.types import CallToolResult
    from starlette.applications import Starlette
    from starlette.routing import Route

    from dataplane import gateway as gateway_module

    # The gateway role's trust and permissions are the emulator's checks (tests/it/agent_path_diagnosis.rs).
    monkeypatch.setattr(gateway_module.iam, "assume", lambda *a, **k: None)
    monkeypatch.setattr(gateway_module.iam, "check", lambda *a, **k: None)
    sent = {}

    async def target_session(albs, endpoint, headers, work):  # stands in for the MCP client session to the target
        sent["handshake"] = headers.for_body(body("initialize"))
        sent["call"] = headers.for_body(body("tools/call"))

        class Session:
            async def call_tool(self, name, arguments):
                sent["tool"] = name
                return CallToolResult.model_validate({"content": [{"type": "text", "text": "[{\"probe\":1}]"}]})

        return await work(Session())

    monkeypatch.setattr(gateway_module, "_target_session", target_session)
    interceptor = Interceptor(refused)
    g = Gateways(GatewayAws({PROVIDER: ORIGIN}), None, interceptor, None, reading=reading)
    g.audit = NoAudit()

    async def endpoint(request):
        return await g.handle(request, GATEWAY["gatewayId"], "us-east-1")

    with TestClient(Starlette(routes=[Route("/mcp", endpoint, methods=["POST"])])) as client:
        r = client.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                  "params": {"name": "neo4j-mcp___read-cypher", "arguments": {"query": "RETURN 1 AS probe"}}},
        )
    return r, (sent or None), interceptor.events


@pytest.mark.parametrize("refused", [REFUSED, REFUSED_VALUE], ids=["by-name", "by-value"])
def test_strict_an_interceptor_header_the_validation_refuses_fails_the_request(monkeypatch, refused):
    assert _refused_by_validation(*refused)
    r, sent, invocations = refused_header_call(monkeypatch, "strict", refused)
    assert len(invocations) == 1
    assert r.status_code == 500
    assert r.json() == {"jsonrpc": "2.0", "id": 7, "error": {"code": -32603, "message": "Interceptor returned an invalid response"}}
    assert r.headers["x-standin-reason"] == f"interceptor headers refused: {refused[0]}"
    assert sent is None, "the target was contacted"


def test_lenient_an_allow_listed_header_with_a_value_the_validation_refuses_is_dropped(monkeypatch):
    r, sent, _ = refused_header_call(monkeypatch, "lenient", REFUSED_VALUE)
    assert r.status_code == 200
    # The interceptor's only allow-listed header had a refused value: only the origin key's header goes on.
    expected = {"X-Neo4j-Gw-Origin": "Origin" + ORIGIN}
    assert sent["handshake"] == expected
    assert sent["call"] == expected


def test_lenient_an_interceptor_header_the_validation_refuses_is_dropped_and_the_call_goes_through(monkeypatch):
    r, sent, invocations = refused_header_call(monkeypatch, "lenient")
    assert len(invocations) == 1
    assert r.status_code == 200
    assert r.json() == {"jsonrpc": "2.0", "id": 7, "result": {"content": [{"type": "text", "text": "[{\"probe\":1}]"}], "isError": False}}
    assert sent["tool"] == "read-cypher"
    # The refused header goes nowhere; the interceptor's allow-listed one and the origin key's go on every request.
    expected = {"X-Neo4j-Authorization": "Basic interceptor", "X-Neo4j-Gw-Origin": "Origin" + ORIGIN}
    assert sent["handshake"] == expected
    assert sent["call"] == expected


def test_unknown_reading_is_refused():
    with pytest.raises(ValueError):
        gateways("sloppy")


def test_session_headers_pick_by_the_json_rpc_method():
    s = SessionHeaders({"h": "1"}, {"r": "1"})
    assert s.for_body(body("initialize")) == {"h": "1"}
    assert s.for_body(body("tools/call")) == {"r": "1"}
    assert s.for_body(b"not json") == {"h": "1"}


# ------------------------------------------------------------------------------------------------------------------
# The in-task proxy (Caddy's `reverse-proxy` command)
# ------------------------------------------------------------------------------------------------------------------

COMMAND = [
    "caddy", "reverse-proxy", "--from", ":8080", "--to", "127.0.0.1:8081",
    "--header-up", "X-Neo4j-Authorization: {env.NEO4J_AUTHORIZATION}",
]


def test_the_command_neo4j_gw_registers_parses():
    s = caddy.parse_command(COMMAND)
    assert (s.listen_host, s.listen_port, s.upstream_host, s.upstream_port) == ("0.0.0.0", 8080, "127.0.0.1", 8081)
    assert s.header_up == [("X-Neo4j-Authorization", "{env.NEO4J_AUTHORIZATION}")]
    assert caddy.replace_placeholders("Basic {env.X} {other}", {"X": "abc"}) == "Basic abc {other}"


@pytest.mark.parametrize(
    "command, message",
    [
        (["caddy", "run"], "reverse-proxy"),
        (["caddy", "reverse-proxy", "--from", ":8080"], "--to is required"),
        (COMMAND[:-1] + ["X-Neo4j-Authorization"], "invalid format"),
        (["caddy", "reverse-proxy", "--from", "mcp.example.test", "--to", ":8081"], "HTTPS"),
    ],
)
def test_commands_caddy_refuses_at_start(command, message):
    with pytest.raises(caddy.ProxyStartupError, match=message):
        caddy.parse_command(command)


@pytest.mark.parametrize("image", ["caddy", "caddy:2.10.2", "docker.io/library/caddy@sha256:abc", "library/caddy:2"])
def test_caddy_images_are_recognised(image):
    assert caddy.is_caddy(image)
    assert not caddy.is_caddy("neo4j/mcp:v1.5.3")


def test_the_proxy_sets_the_header_from_its_environment_and_passes_the_rest():
    seen = []

    async def echo(scope, receive, send):
        if scope["type"] != "http":
            return
        seen.append({k.decode().lower(): v.decode() for k, v in scope["headers"]})
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    server, port = _uvicorn(echo)
    try:
        settings = caddy.parse_command(COMMAND)
        app = caddy.build_app(settings, {"NEO4J_AUTHORIZATION": "Basic c2VjcmV0"}, lambda h, p: ("127.0.0.1", port))
        with TestClient(app) as client:
            r = client.post("/mcp", content=b"{}", headers={"X-Neo4j-Authorization": "Basic forged", "X-Other": "kept"})
        assert r.status_code == 200 and r.text == "ok"
        assert seen[0]["x-neo4j-authorization"] == "Basic c2VjcmV0"
        assert seen[0]["x-other"] == "kept"
        # Nothing listens upstream: 502, as Caddy answers a failed dial.
        with TestClient(caddy.build_app(settings, {}, lambda h, p: None)) as client:
            assert client.get("/healthz").status_code == 502
    finally:
        server.should_exit = True
