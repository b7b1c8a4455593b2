"""write-cypher on the MCP server stand-in, as neo4j/mcp v1.5.3 answers it (internal/tools/cypher/
write_cypher_handler.go: ExecuteWriteQuery, then Neo4jRecordsToJSON — json.MarshalIndent of each record's map; no
EXPLAIN), the small part of write Cypher the demo needs (one node pattern: CREATE, MERGE, and MATCH to read it back),
and the refusal with NEO4J_READ_ONLY=true (tools_register.go drops the tool; mcp-go v0.54.0 server.go answers
INVALID_PARAMS "tool '<name>' not found: tool not found")."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # scripts/emulator/

import json
import re
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from dataplane.neo4j_dbms import Neo4jStandIn
from dataplane.neo4j_mcp import Settings, build_app, records_json

from test_neo4j_mcp import ACCEPT, ENV, URI, basic, rpc

GOOD = {**ACCEPT, "x-neo4j-authorization": basic("neo4j", "secret-pw")}


@pytest.fixture
def server():
    made = []

    def make(read_only: str):
        dbms = Neo4jStandIn()
        dbms.register(URI, {"neo4j": "secret-pw"}, ["movies"])
        client = TestClient(build_app(Settings.load({**ENV, "NEO4J_READ_ONLY": read_only}, "neo4j/mcp:v1.5.3"), dbms, lambda m: None))
        client.__enter__()
        made.append(client)
        return client, dbms

    yield make
    for c in made:
        c.__exit__(None, None, None)


def call(client, tool, query, params=None):
    arguments = {"query": query} | ({"params": params} if params is not None else {})
    return client.post("/mcp", json=rpc("tools/call", {"name": tool, "arguments": arguments}), headers=GOOD).json()


def test_create_returns_the_node_as_the_go_driver_marshals_it_indented(server):
    client, dbms = server("false")
    result = call(client, "write-cypher", "CREATE (n:Note {text: $t}) RETURN n", {"t": "hello <you> & me"})["result"]
    text = result["content"][0]["text"]
    assert result["isError"] is False
    assert re.fullmatch(
        r'\[\n  \{\n    "n": \{\n      "ElementId": "4:[0-9a-f-]{36}:0",\n      "Labels": \[\n        "Note"\n      \],\n'
        r'      "Props": \{\n        "text": "hello \\u003cyou\\u003e \\u0026 me"\n      \}\n    \}\n  \}\n\]',
        text,
    ), text
    assert dbms.writes(URI, "movies") == ["CREATE (n:Note {text: $t}) RETURN n"]


def test_merge_matches_an_existing_node_and_a_write_without_return_answers_an_empty_list(server):
    client, _ = server("false")
    first = json.loads(call(client, "write-cypher", "MERGE (n:Note {text: 'a'}) RETURN n")["result"]["content"][0]["text"])
    again = json.loads(call(client, "write-cypher", "MERGE (n:Note {text: 'a'}) RETURN n")["result"]["content"][0]["text"])
    assert first == again and first[0]["n"]["Props"] == {"text": "a"}
    assert call(client, "write-cypher", "CREATE (n:Note {text: 'b'})")["result"]["content"][0]["text"] == "[]"


def test_read_cypher_reads_the_written_nodes_back(server):
    client, _ = server("false")
    call(client, "write-cypher", "CREATE (n:Note {text: $t})", {"t": "one"})
    call(client, "write-cypher", "CREATE (n:Note {text: $t})", {"t": "two"})
    rows = json.loads(call(client, "read-cypher", "MATCH (n:Note) RETURN n.text AS text")["result"]["content"][0]["text"])
    assert rows == [{"text": "one"}, {"text": "two"}]
    count = json.loads(call(client, "read-cypher", "MATCH (n:Note {text: 'two'}) RETURN count(n) AS c")["result"]["content"][0]["text"])
    assert count == [{"c": 1}]
    refused = call(client, "read-cypher", "MERGE (n:Note {text: 'x'}) RETURN n")["result"]
    assert refused["isError"] is True and refused["content"][0]["text"].startswith("read-cypher can only run read-only")


def test_a_read_only_server_refuses_write_cypher_as_an_unknown_tool_and_writes_nothing(server):
    client, dbms = server("true")
    answer = call(client, "write-cypher", "CREATE (n:Note {text: 'x'}) RETURN n")
    assert answer["error"] == {"code": -32602, "message": "tool 'write-cypher' not found: tool not found"}
    listed = client.post("/mcp", json=rpc("tools/list"), headers=GOOD).json()["result"]["tools"]
    assert sorted(t["name"] for t in listed) == ["get-schema", "read-cypher"]
    assert dbms.writes(URI, "movies") == []


def test_records_json_is_go_marshal_indent():
    assert records_json([]) == "[]"
    assert records_json([{"b": 1.0, "a": [1, 2]}]) == '[\n  {\n    "a": [\n      1,\n      2\n    ],\n    "b": 1\n  }\n]'
