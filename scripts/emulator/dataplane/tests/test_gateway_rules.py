"""The gateway stand-in's token checks (CUSTOM_JWT) and the load balancer stand-in's rule conditions."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # scripts/emulator/

import json
import time

import pytest

from dataplane.alb import _condition_holds
from dataplane.cognito import TokenCheck, access_token_seconds, issuer, mint


def jwks() -> dict:
    import gzip
    from importlib import resources

    return json.loads(gzip.decompress((resources.files("moto") / "cognitoidp/resources/jwks-public.json.gz").read_bytes()))


@pytest.fixture
def check(monkeypatch):
    c = TokenCheck.__new__(TokenCheck)
    monkeypatch.setattr(c, "_jwks", lambda url: (issuer("us-east-1", "us-east-1_pool"), jwks()))
    return c


AUTHORIZER = {"discoveryUrl": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool/.well-known/openid-configuration",
              "allowedClients": ["client-a"], "allowedScopes": ["rs/invoke"]}


def test_a_token_of_the_allowed_client_and_scope_passes(check):
    claims = check.check(mint("us-east-1", "us-east-1_pool", "client-a", ["rs/invoke"], 3600), AUTHORIZER)
    assert claims["token_use"] == "access" and claims["client_id"] == "client-a" and "aud" not in claims


@pytest.mark.parametrize(
    "token, reason",
    [
        (lambda: mint("us-east-1", "us-east-1_pool", "client-b", ["rs/invoke"], 3600), "client_id not allowed"),
        (lambda: mint("us-east-1", "us-east-1_pool", "client-a", ["rs/other"], 3600), "scope not allowed"),
        (lambda: mint("us-east-1", "us-east-1_pool", "client-a", ["rs/invoke"], 3600, now=int(time.time()) - 7200), "expired"),
        (lambda: mint("us-east-1", "us-east-1_other", "client-a", ["rs/invoke"], 3600), "issuer"),
        (lambda: "not-a-jwt", "not a JWT"),
    ],
)
def test_tokens_the_authorizer_refuses(check, token, reason):
    with pytest.raises(ValueError, match=reason):
        check.check(token(), AUTHORIZER)


def test_allowed_audience_is_checked_when_set(check):
    with pytest.raises(ValueError, match="audience"):
        check.check(mint("us-east-1", "us-east-1_pool", "client-a", ["rs/invoke"], 3600), {**AUTHORIZER, "allowedAudience": ["api"]})


def test_token_lifetime_follows_the_app_client():
    assert access_token_seconds({"AccessTokenValidity": 60, "TokenValidityUnits": {"AccessToken": "minutes"}}) == 3600
    assert access_token_seconds({}) == 3600


def test_listener_rule_conditions():
    headers = {"x-neo4j-gw-origin": ["abc123"], "user-agent": ["t"]}
    header = {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Neo4j-Gw-Origin", "Values": ["abc123"]}}
    assert _condition_holds(header, "mcp.example.com", "/mcp", "POST", headers, "203.0.113.10")
    assert not _condition_holds(header, "mcp.example.com", "/mcp", "POST", {"x-neo4j-gw-origin": ["wrong"]}, "203.0.113.10")
    assert not _condition_holds(header, "mcp.example.com", "/mcp", "POST", {}, "203.0.113.10")
    wildcard = {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "x-neo4j-gw-origin", "Values": ["abc*"]}}
    assert _condition_holds(wildcard, "h", "/", "GET", headers, "1.2.3.4")
    host = {"Field": "host-header", "HostHeaderConfig": {"Values": ["*.example.com"]}}
    assert _condition_holds(host, "MCP.example.com", "/", "GET", {}, "1.2.3.4")
    path = {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/mcp*"]}}
    assert _condition_holds(path, "h", "/mcp", "GET", {}, "1.2.3.4") and not _condition_holds(path, "h", "/MCP", "GET", {}, "1.2.3.4")
    source = {"Field": "source-ip", "SourceIpConfig": {"Values": ["203.0.113.0/24"]}}
    assert _condition_holds(source, "h", "/", "GET", {}, "203.0.113.10") and not _condition_holds(source, "h", "/", "GET", {}, "198.51.100.1")


# --------------------------------------------------------------------------------------------------------------
# Issue 17: the restricted headers — one list, read by the CLI and by the gateway stand-in
# --------------------------------------------------------------------------------------------------------------

from pathlib import Path

from dataplane.gateway import RESTRICTED_HEADERS_FILE, Gateways, _restricted

REPO = Path(__file__).resolve().parents[4]


def test_the_stand_in_refuses_every_header_of_the_guides_table():
    table = json.loads(RESTRICTED_HEADERS_FILE.read_text())["guide_table"]
    assert len(table) >= 99
    for name in table:
        assert name == "Authorization" or _restricted(name), name
        assert name == "Authorization" or _restricted(name.upper()), name
    assert _restricted("X-Amzn-Trace-Id") and not _restricted("X-Amzn-Bedrock-AgentCore-Runtime-Custom-Db")
    assert not _restricted("X-Neo4j-Authorization") and not _restricted("X-Neo4j-Gw-Origin")


def test_an_allow_listed_restricted_header_is_not_forwarded():
    target = {"metadataConfiguration": {"allowedRequestHeaders": ["X-Neo4j-Authorization", "Viewport-Width", "X-XSS-Protection"]}}
    out = Gateways._forwarded(None, target, {"Viewport-Width": "1", "X-XSS-Protection": "0"}, {"X-Neo4j-Authorization": "Basic x"})
    assert out == {"X-Neo4j-Authorization": "Basic x"}


def test_there_is_one_copy_of_the_list():
    """The CLI embeds the same file; no other source spells the names the list added in issue 17."""
    config = (REPO / "src" / "config.rs").read_text()
    assert 'include_str!("../data/agentcore-restricted-headers.json")' in config
    for path in list((REPO / "src").rglob("*.rs")) + list((REPO / "scripts").rglob("*.py")) + list((REPO / "lambda").rglob("*.py")):
        if "tests" in path.parts:
            continue
        text = path.read_text().split("#[cfg(test)]")[0].lower()  # unit tests may name examples
        for name in ("viewport-width", "x-xss-protection", "public-key-pins", "proxy-authorization"):
            assert f'"{name}"' not in text, f"{path} has its own copy of {name}"
