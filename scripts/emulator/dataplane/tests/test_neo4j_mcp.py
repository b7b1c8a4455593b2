"""The MCP server stand-in follows neo4j/mcp v1.5.3 (internal/server/middleware.go, server.go, config.go, the
cypher tools): each test names the rule it checks."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # scripts/emulator/

import base64
import json

import pytest
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette suggests httpx2; httpx is what mcp 1.x and uvicorn use here
    from starlette.testclient import TestClient

from dataplane.neo4j_dbms import Neo4jStandIn
from dataplane.neo4j_mcp import UNAUTHORIZED, Settings, StartupError, build_app, image_version

URI = "neo4j+s://db.example.test:7687"
ENV = {
    "NEO4J_TRANSPORT_MODE": "http",
    "NEO4J_MCP_HTTP_HOST": "0.0.0.0",
    "NEO4J_MCP_HTTP_PORT": "8080",
    "NEO4J_URI": URI,
    "NEO4J_DATABASE": "movies",
    "NEO4J_READ_ONLY": "true",
    "NEO4J_HTTP_AUTH_HEADER_NAME": "X-Neo4j-Authorization",
}
ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def rpc(method: str, params: dict | None = None, id: int | None = 1) -> dict:
    body: dict = {"jsonrpc": "2.0", "method": method}
    if id is not None:
        body["id"] = id
    if params is not None:
        body["params"] = params
    return body


INIT = rpc("initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}})


@pytest.fixture
def server():
    def make(**overrides):
        env = {**ENV, **overrides}
        dbms = Neo4jStandIn()
        dbms.register(URI, {"neo4j": "secret-pw"}, ["movies"])
        client = TestClient(build_app(Settings.load(env, "neo4j/mcp:v1.5.3"), dbms, lambda m: None))
        client.__enter__()
        made.append(client)
        return client

    made: list = []
    yield make
    for c in made:
        c.__exit__(None, None, None)


def test_healthz_without_credentials_and_other_routes(server):
    c = server()
    r = c.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert c.post("/healthz").status_code == 405
    r = c.get("/mcp")
    assert r.status_code == 405 and "only POST is supported" in r.text
    r = c.post("/other", json=INIT)
    assert r.status_code == 404 and "only handles requests to /mcp" in r.text


def test_initialize_needs_credentials_even_with_both_flags(server):
    c = server(NEO4J_HTTP_ALLOW_UNAUTHENTICATED_PING="true", NEO4J_HTTP_ALLOW_UNAUTHENTICATED_TOOLS_LIST="true")
    r = c.post("/mcp", json=INIT, headers=ACCEPT)
    assert r.status_code == 401 and r.text.strip() == UNAUTHORIZED
    assert r.headers["content-type"].startswith("text/plain")
    assert sorted(r.headers.get_list("www-authenticate")) == [
        'Basic realm="Neo4j MCP Server"',
        'Bearer realm="Neo4j MCP Server"',
    ]


def test_tools_list_and_ping_skip_auth_only_with_their_flags(server):
    closed = server()
    assert closed.post("/mcp", json=rpc("tools/list"), headers=ACCEPT).status_code == 401
    assert closed.post("/mcp", json=rpc("ping"), headers=ACCEPT).status_code == 401
    open_ = server(NEO4J_HTTP_ALLOW_UNAUTHENTICATED_TOOLS_LIST="true", NEO4J_HTTP_ALLOW_UNAUTHENTICATED_PING="true")
    r = open_.post("/mcp", json=rpc("tools/list"), headers=ACCEPT)
    assert r.status_code == 200
    assert [t["name"] for t in r.json()["result"]["tools"]] == ["get-schema", "read-cypher"]
    assert open_.post("/mcp", json=rpc("ping"), headers=ACCEPT).status_code == 200
    big = rpc("tools/list", {"pad": "x" * 5000})
    assert open_.post("/mcp", json=big, headers=ACCEPT).status_code == 413


def test_credentials_are_checked_for_form_only_then_by_neo4j(server):
    c = server()
    assert c.post("/mcp", json=INIT, headers={**ACCEPT, "authorization": "Bearer "}).status_code == 401
    r = c.post("/mcp", json=INIT, headers={**ACCEPT, "authorization": basic("neo4j", "")})
    assert r.status_code == 401 and "cannot be empty" in r.text
    # A wrong password passes initialize; Neo4j refuses it when a tool runs: isError, not an HTTP error.
    wrong = {**ACCEPT, "x-neo4j-authorization": basic("neo4j", "wrong")}
    assert c.post("/mcp", json=INIT, headers=wrong).status_code == 200
    r = c.post("/mcp", json=rpc("tools/call", {"name": "read-cypher", "arguments": {"query": "RETURN 1 AS n"}}), headers=wrong)
    assert r.status_code == 200
    result = r.json()["result"]
    assert result["isError"] is True and "Neo.ClientError.Security.Unauthorized" in result["content"][0]["text"]


def test_the_custom_header_carries_basic_credentials(server):
    c = server()
    good = {**ACCEPT, "x-neo4j-authorization": basic("neo4j", "secret-pw")}
    r = c.post("/mcp", json=rpc("tools/call", {"name": "read-cypher", "arguments": {"query": "RETURN 1 AS n"}}), headers=good)
    assert r.json()["result"]["content"][0]["text"] == json.dumps([{"n": 1}])
    # A bearer token in the custom header is handed to Neo4j as an SSO token, which this DBMS refuses.
    sso = {**ACCEPT, "x-neo4j-authorization": "Bearer some-cognito-token"}
    r = c.post("/mcp", json=rpc("tools/call", {"name": "get-schema", "arguments": {}}), headers=sso)
    assert r.json()["result"]["isError"] is True


def test_read_only_refuses_writes_and_has_no_write_tool(server):
    c = server()
    good = {**ACCEPT, "x-neo4j-authorization": basic("neo4j", "secret-pw")}
    r = c.post("/mcp", json=rpc("tools/call", {"name": "read-cypher", "arguments": {"query": "CREATE (n:X) RETURN n"}}), headers=good)
    result = r.json()["result"]
    assert result["isError"] is True and result["content"][0]["text"].startswith("read-cypher can only run read-only")
    r = c.post("/mcp", json=rpc("tools/call", {"name": "write-cypher", "arguments": {"query": "CREATE (n:X)"}}), headers=good)
    assert r.json()["error"] == {"code": -32602, "message": "tool 'write-cypher' not found: tool not found"}
    writer = server(NEO4J_READ_ONLY="false")
    r = writer.post("/mcp", json=rpc("tools/call", {"name": "write-cypher", "arguments": {"query": "CREATE (n:X)"}}), headers=good)
    assert r.json()["result"]["isError"] is False


@pytest.mark.parametrize(
    "change, message",
    [
        ({"NEO4J_PASSWORD": "x"}, "should not be set for HTTP transport mode"),
        ({"NEO4J_USERNAME": "x"}, "should not be set for HTTP transport mode"),
        ({"NEO4J_URI": ""}, "Neo4j URI is required"),
        ({"NEO4J_TRANSPORT_MODE": "grpc"}, "invalid transport mode 'grpc'"),
        ({"NEO4J_TRANSPORT_MODE": "stdio"}, "stdio"),
        ({"NEO4J_HTTP_AUTH_HEADER_NAME": " "}, "header name cannot be empty"),
    ],
)
def test_configuration_errors_stop_the_server(change, message):
    with pytest.raises(StartupError, match=message):
        Settings.load({**ENV, **change}, "neo4j/mcp:v1.5.3")


def test_defaults_and_versions():
    s = Settings.load({"NEO4J_TRANSPORT_MODE": "http", "NEO4J_URI": URI}, "neo4j/mcp:v1.5.3")
    assert (s.host, s.port, s.database, s.read_only, s.auth_header) == ("127.0.0.1", 80, "neo4j", False, "Authorization")
    assert image_version("neo4j/mcp:v1.5.3") == (1, 5, 3)
    assert image_version("mcp/neo4j:1.4.2") == (1, 4, 2)
    assert image_version("mcp/neo4j:latest") is None
    old = Settings.load({**ENV, "NEO4J_HTTP_ALLOW_UNAUTHENTICATED_TOOLS_LIST": "true"}, "mcp/neo4j:1.4.2")
    assert not old.allow_tools_list and not old.healthz  # the flag came in 1.4.3, /healthz in 1.5.0


# --------------------------------------------------------------------------------------------------------------
# Issue 17: as strict as v1.5.3 — case-sensitive Bearer, the start-up checks, get-schema without APOC
# --------------------------------------------------------------------------------------------------------------


def standalone(without_apoc=()):
    dbms = Neo4jStandIn()
    dbms.register(URI, {"neo4j": "secret-pw"}, ["movies"], list(without_apoc))
    lines: list[str] = []
    client = TestClient(build_app(Settings.load(ENV, "neo4j/mcp:v1.5.3"), dbms, lines.append))
    client.__enter__()
    return client, lines


def test_bearer_is_case_sensitive_and_basic_is_not():
    """middleware.go: strings.CutPrefix(authHeader, "Bearer "); then Go's BasicAuth (EqualFold on "Basic ")."""
    c, _ = standalone()
    try:
        lower = c.post("/mcp", json=INIT, headers={**ACCEPT, "x-neo4j-authorization": "bearer some-token"})
        assert lower.status_code == 401 and lower.text.strip() == UNAUTHORIZED
        upper = c.post("/mcp", json=INIT, headers={**ACCEPT, "x-neo4j-authorization": "Bearer some-token"})
        assert upper.status_code == 200
        basic_lower = basic("neo4j", "secret-pw").replace("Basic ", "basic ")
        assert c.post("/mcp", json=INIT, headers={**ACCEPT, "x-neo4j-authorization": basic_lower}).status_code == 200
    finally:
        c.__exit__(None, None, None)


def test_the_first_initialize_verifies_return_1_and_apoc_and_only_logs_a_failure():
    """server.go: the BeforeInitialize hook runs verifyRequirements once, with the request's credentials; an error
    is logged ("Error during verification") and the initialize goes on; a success is not repeated."""
    good = {**ACCEPT, "x-neo4j-authorization": basic("neo4j", "secret-pw")}
    c, lines = standalone(without_apoc=["movies"])
    try:
        assert c.post("/mcp", json=INIT, headers=good).status_code == 200
        assert any("Error during verification" in l and "APOC plugin is installed" in l for l in lines), lines
        assert c.post("/mcp", json=INIT, headers=good).status_code == 200
        assert sum("Verify server requirements" in l for l in lines) == 2  # a failure is tried again
    finally:
        c.__exit__(None, None, None)
    c, lines = standalone()
    try:
        wrong = {**ACCEPT, "x-neo4j-authorization": basic("neo4j", "wrong")}
        assert c.post("/mcp", json=INIT, headers=wrong).status_code == 200
        assert any("impossible to verify connectivity" in l and "Unauthorized" in l for l in lines), lines
        for _ in range(2):
            assert c.post("/mcp", json=INIT, headers=good).status_code == 200
        assert sum("Verify server requirements" in l for l in lines) == 2  # verified once, then never again
        assert not any("APOC" in l for l in lines)
    finally:
        c.__exit__(None, None, None)


def test_get_schema_fails_without_apoc_as_neo4j_answers():
    """get_schema_handler.go: CALL apoc.meta.schema(...); the error's text is the tool's isError result."""
    good = {**ACCEPT, "x-neo4j-authorization": basic("neo4j", "secret-pw")}
    schema = rpc("tools/call", {"name": "get-schema", "arguments": {}})
    c, _ = standalone(without_apoc=["movies"])
    try:
        result = c.post("/mcp", json=schema, headers=good).json()["result"]
        text = result["content"][0]["text"]
        assert result["isError"] is True
        assert text.startswith("failed to execute read query: Neo4jError: Neo.ClientError.Procedure.ProcedureNotFound")
        assert "apoc.meta.schema" in text
        # read-cypher does not need APOC.
        r = c.post("/mcp", json=rpc("tools/call", {"name": "read-cypher", "arguments": {"query": "RETURN 1 AS n"}}), headers=good)
        assert r.json()["result"].get("isError") is not True
    finally:
        c.__exit__(None, None, None)
    c, _ = standalone()
    try:
        assert c.post("/mcp", json=schema, headers=good).json()["result"].get("isError") is not True
    finally:
        c.__exit__(None, None, None)
