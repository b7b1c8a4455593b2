"""Tests for the gateway's REQUEST interceptor (interceptor.py), against moto's in-process Secrets Manager."""

from __future__ import annotations

import base64
import copy
import json
import logging

import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

import interceptor
from conftest import PASSWORD, SECRET_NAME, USERNAME, secret_json

BEARER = "eyJraWQiOiJ0ZXN0In0.eyJzdWIiOiJjbGllbnQifQ.c2lnbmF0dXJl"


def documented_event(headers=..., body=...):
    """The request interceptor input from stack.md section 3 (and the AgentCore docs)."""
    event = {
        "interceptorInputVersion": "1.0",
        "mcp": {
            "rawGatewayRequest": {"body": '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'},
            "gatewayRequest": {
                "path": "/mcp",
                "httpMethod": "POST",
                "headers": {"Authorization": f"Bearer {BEARER}", "Mcp-Session-Id": "session-123"},
                "body": {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            },
        },
    }
    request = event["mcp"]["gatewayRequest"]
    if headers is None:
        request["headers"] = None
    elif headers == "missing":
        del request["headers"]
    elif headers is not ...:
        request["headers"] = headers
    if body is not ...:
        request["body"] = body
    return event


def basic(username=USERNAME, password=PASSWORD):
    return "Basic " + base64.b64encode(f"{username}:{password}".encode("utf-8")).decode("ascii")


def decode_basic(value):
    assert value.startswith("Basic ")
    return base64.b64decode(value[len("Basic "):], validate=True).decode("utf-8")


def forwarded(result):
    assert result["interceptorOutputVersion"] == "1.0"
    assert "transformedGatewayResponse" not in result["mcp"]
    return result["mcp"]["transformedGatewayRequest"]


def error_answer(result):
    assert result["interceptorOutputVersion"] == "1.0"
    assert "transformedGatewayRequest" not in result["mcp"]
    response = result["mcp"]["transformedGatewayResponse"]
    assert response["headers"] == {"Content-Type": "application/json"}
    body = response["body"]
    assert body["jsonrpc"] == "2.0"
    assert body["error"]["code"] == -32603
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return response


# 1. The documented event: the function returns only the header it sets.
def a_documented_request_event():
    """A REQUEST event as the guide documents it, with the headers a real request carries (as if
    `passRequestHeaders` were on): none of them may come back."""
    return documented_event(
        headers={
            "Host": "gw-abc.gateway.bedrock-agentcore.us-east-1.amazonaws.com",
            "Content-Length": "47",
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "User-Agent": "test-client/1.0",
            "X-Amzn-Trace-Id": "Root=1-00000000-000000000000000000000000",
            "Mcp-Session-Id": "session-123",
            "Mcp-Protocol-Version": "2025-06-18",
            "Authorization": f"Bearer {BEARER}",
            "X-Neo4j-Authorization": "Basic Zm9yZ2VkOmZvcmdlZA==",
        }
    )


def test_documented_event_gets_only_the_basic_auth_header(secret):
    event = a_documented_request_event()
    original_body = copy.deepcopy(event["mcp"]["gatewayRequest"]["body"])

    result = interceptor.handler(event, None)

    request = forwarded(result)
    assert request["headers"] == {"Authorization": basic()}
    assert decode_basic(request["headers"]["Authorization"]) == f"{USERNAME}:{PASSWORD}"
    assert request["body"] == original_body
    assert set(result) == {"interceptorOutputVersion", "mcp"}
    assert set(result["mcp"]) == {"transformedGatewayRequest"}
    assert BEARER not in json.dumps(result)


def test_the_credentials_header_replaces_a_callers_whatever_its_case(secret, monkeypatch):
    monkeypatch.setenv("AUTH_HEADER", "X-Neo4j-Authorization")
    request = forwarded(interceptor.handler(a_documented_request_event(), None))
    assert request["headers"] == {"X-Neo4j-Authorization": basic()}


@pytest.mark.parametrize("headers", ["missing", None, {}], ids=["key-missing", "null", "empty"])
def test_no_request_headers_give_the_same_answer(secret, headers):
    request = forwarded(interceptor.handler(documented_event(headers=headers), None))
    assert request["headers"] == {"Authorization": basic()}
    assert request["body"] == {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


def test_with_credentials_in_the_task_no_header_is_set_and_no_secret_read(get_secret_calls, monkeypatch, caplog):
    monkeypatch.setenv("NEO4J_CREDENTIALS", "task")
    monkeypatch.delenv("SECRET_ARN", raising=False)
    with caplog.at_level(logging.INFO):
        result = interceptor.handler(a_documented_request_event(), None)
    request = forwarded(result)
    assert "headers" not in request
    assert request["body"] == {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    assert get_secret_calls.calls == 0
    assert "method=tools/list credentials=task" in caplog.text
    assert BEARER not in caplog.text and "session-123" not in caplog.text


# 4. Non-ASCII credentials are encoded as UTF-8.
def test_non_ascii_password_is_utf8_encoded(sm, monkeypatch):
    password = "pässwörd-日本"
    username = "nöö4j"
    arn = sm.create_secret(Name=SECRET_NAME, SecretString=secret_json(username=username, password=password))["ARN"]
    monkeypatch.setenv("SECRET_ARN", arn)

    request = forwarded(interceptor.handler(documented_event(), None))

    value = request["headers"]["Authorization"]
    raw = base64.b64decode(value[len("Basic "):], validate=True)
    assert raw == f"{username}:{password}".encode("utf-8")
    assert decode_basic(value) == f"{username}:{password}"


def test_password_containing_a_colon_is_kept_whole(sm, monkeypatch):
    arn = sm.create_secret(Name=SECRET_NAME, SecretString=secret_json(password="a:b:c"))["ARN"]
    monkeypatch.setenv("SECRET_ARN", arn)
    request = forwarded(interceptor.handler(documented_event(), None))
    assert decode_basic(request["headers"]["Authorization"]) == f"{USERNAME}:a:b:c"


# 5. A custom header name.
def test_custom_auth_header(secret, monkeypatch):
    monkeypatch.setenv("AUTH_HEADER", "X-Neo4j-Authorization")
    headers = {
        "Authorization": f"Bearer {BEARER}",
        "x-neo4j-authorization": "Basic c3Bvb2Y6c3Bvb2Y=",  # a caller must not be able to smuggle its own value
        "Mcp-Session-Id": "s1",
    }
    request = forwarded(interceptor.handler(documented_event(headers=headers), None))
    assert request["headers"] == {"X-Neo4j-Authorization": basic()}


def test_blank_auth_header_falls_back_to_authorization(secret, monkeypatch):
    monkeypatch.setenv("AUTH_HEADER", "  ")
    request = forwarded(interceptor.handler(documented_event(), None))
    assert request["headers"]["Authorization"] == basic()


# 6. The in-memory cache.
def test_cache_within_ttl_then_refresh_picks_up_rotation(secret, sm, get_secret_calls, clock):
    for _ in range(10):
        request = forwarded(interceptor.handler(documented_event(), None))
        assert request["headers"]["Authorization"] == basic()
        clock.advance(29.0)  # 10 × 29 s = 290 s < 300 s
    assert get_secret_calls.calls == 1

    sm.put_secret_value(SecretId=secret, SecretString=secret_json(password="rotated-Pa55"))
    # Still within the TTL: the old password is served from the cache.
    request = forwarded(interceptor.handler(documented_event(), None))
    assert request["headers"]["Authorization"] == basic()
    assert get_secret_calls.calls == 1

    clock.advance(10.0 + 0.001)  # past 300 s since the fetch
    request = forwarded(interceptor.handler(documented_event(), None))
    assert request["headers"]["Authorization"] == basic(password="rotated-Pa55")
    assert get_secret_calls.calls == 2

    for _ in range(5):
        forwarded(interceptor.handler(documented_event(), None))
    assert get_secret_calls.calls == 2


def test_ttl_is_configurable(secret, get_secret_calls, clock, monkeypatch):
    monkeypatch.setenv("SECRET_TTL_SECONDS", "5")
    interceptor.handler(documented_event(), None)
    clock.advance(4.9)
    interceptor.handler(documented_event(), None)
    assert get_secret_calls.calls == 1
    clock.advance(0.2)
    interceptor.handler(documented_event(), None)
    assert get_secret_calls.calls == 2


def test_ttl_zero_disables_the_cache(secret, get_secret_calls, monkeypatch):
    monkeypatch.setenv("SECRET_TTL_SECONDS", "0")
    for _ in range(3):
        forwarded(interceptor.handler(documented_event(), None))
    assert get_secret_calls.calls == 3


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf", ""])
def test_invalid_ttl_uses_the_default(secret, get_secret_calls, clock, monkeypatch, value):
    monkeypatch.setenv("SECRET_TTL_SECONDS", value)
    interceptor.handler(documented_event(), None)
    clock.advance(299.0)
    interceptor.handler(documented_event(), None)
    assert get_secret_calls.calls == 1
    clock.advance(2.0)
    interceptor.handler(documented_event(), None)
    assert get_secret_calls.calls == 2


def test_changing_the_secret_arn_bypasses_the_cache(secret, sm, get_secret_calls, monkeypatch):
    forwarded(interceptor.handler(documented_event(), None))
    other = sm.create_secret(Name="neo4j-gw/other", SecretString=secret_json(username="other"))["ARN"]
    monkeypatch.setenv("SECRET_ARN", other)
    request = forwarded(interceptor.handler(documented_event(), None))
    assert request["headers"]["Authorization"] == basic(username="other")
    assert get_secret_calls.calls == 2


def test_client_is_created_lazily_and_reused(secret):
    assert interceptor._client is None
    interceptor.handler(documented_event(), None)
    client = interceptor._client
    assert client is not None
    interceptor._cache = None
    interceptor.handler(documented_event(), None)
    assert interceptor._client is client


# 7. Error paths: answered with a JSON-RPC error, never raised, never cached.
def test_missing_secret_answers_500_then_recovers(sm, get_secret_calls, monkeypatch):
    monkeypatch.setenv("SECRET_ARN", SECRET_NAME)
    event = documented_event(body={"jsonrpc": "2.0", "id": 42, "method": "tools/call"})

    response = error_answer(interceptor.handler(event, None))
    assert response["statusCode"] == 500
    assert response["body"]["id"] == 42

    sm.create_secret(Name=SECRET_NAME, SecretString=secret_json())
    request = forwarded(interceptor.handler(event, None))  # same instant: the failure was not cached
    assert request["headers"]["Authorization"] == basic()
    assert get_secret_calls.calls == 2


@pytest.mark.parametrize(
    "bad_value",
    [
        "this is not json",
        '["NEO4J_USERNAME", "NEO4J_PASSWORD"]',
        json.dumps({"NEO4J_URI": "neo4j://x", "NEO4J_USERNAME": "neo4j", "NEO4J_DATABASE": "neo4j"}),
        secret_json(password=""),
        secret_json(password=None),
        secret_json(username=""),
        json.dumps({"NEO4J_PASSWORD": "only-a-password"}),
    ],
    ids=["not-json", "json-array", "no-password", "empty-password", "null-password", "empty-username", "no-username"],
)
def test_bad_secret_content_answers_500_then_recovers(sm, get_secret_calls, monkeypatch, bad_value):
    arn = sm.create_secret(Name=SECRET_NAME, SecretString=bad_value)["ARN"]
    monkeypatch.setenv("SECRET_ARN", arn)
    event = documented_event(body={"jsonrpc": "2.0", "id": "req-7", "method": "tools/list"})

    response = error_answer(interceptor.handler(event, None))
    assert response["statusCode"] == 500
    assert response["body"]["id"] == "req-7"
    assert interceptor._cache is None

    sm.put_secret_value(SecretId=arn, SecretString=secret_json())
    request = forwarded(interceptor.handler(event, None))
    assert request["headers"]["Authorization"] == basic()
    assert get_secret_calls.calls == 2


def test_binary_secret_answers_500(sm, monkeypatch):
    arn = sm.create_secret(Name=SECRET_NAME, SecretBinary=b"\x00\x01")["ARN"]
    monkeypatch.setenv("SECRET_ARN", arn)
    response = error_answer(interceptor.handler(documented_event(), None))
    assert response["statusCode"] == 500
    assert response["body"]["id"] == 1


def test_missing_secret_arn_answers_500(aws):
    response = error_answer(interceptor.handler(documented_event(), None))
    assert response["statusCode"] == 500
    assert interceptor._client is None  # nothing was called


def test_throttling_answers_503_and_is_not_cached(secret, get_secret_calls):
    client = interceptor._get_client()
    with Stubber(client) as stubber:
        stubber.add_client_error("get_secret_value", service_error_code="ThrottlingException", http_status_code=400)
        response = error_answer(interceptor.handler(documented_event(), None))
        stubber.assert_no_pending_responses()
    assert response["statusCode"] == 503
    assert response["body"]["id"] == 1

    request = forwarded(interceptor.handler(documented_event(), None))
    assert request["headers"]["Authorization"] == basic()


def test_access_denied_answers_500(secret):
    client = interceptor._get_client()
    with Stubber(client) as stubber:
        stubber.add_client_error("get_secret_value", service_error_code="AccessDeniedException", http_status_code=400)
        response = error_answer(interceptor.handler(documented_event(), None))
    assert response["statusCode"] == 500


def test_connection_error_answers_503(secret, monkeypatch):
    client = interceptor._get_client()

    def unreachable(**kwargs):
        raise EndpointConnectionError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com/")

    monkeypatch.setattr(client, "get_secret_value", unreachable)
    response = error_answer(interceptor.handler(documented_event(), None))
    assert response["statusCode"] == 503


def test_unexpected_exception_answers_500(secret, monkeypatch):
    def broken(secret_id):
        raise RuntimeError("boom")

    monkeypatch.setattr(interceptor, "_fetch", broken)
    response = error_answer(interceptor.handler(documented_event(), None))
    assert response["statusCode"] == 500


@pytest.mark.parametrize(
    "body, expected_id",
    [
        ({"jsonrpc": "2.0", "method": "notifications/initialized"}, None),
        ({"jsonrpc": "2.0", "id": None, "method": "tools/list"}, None),
        ({"jsonrpc": "2.0", "id": 0, "method": "tools/list"}, 0),
        ({"jsonrpc": "2.0", "id": {"not": "valid"}, "method": "tools/list"}, None),
        ('{"jsonrpc":"2.0","id":"from-string","method":"tools/list"}', "from-string"),
        ("not json at all", None),
        ([{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}], None),
    ],
    ids=["notification", "null-id", "zero-id", "object-id", "json-string-body", "garbage-string", "batch"],
)
def test_error_echoes_the_request_id_or_null(aws, body, expected_id):
    response = error_answer(interceptor.handler(documented_event(body=body), None))
    assert response["body"]["id"] == expected_id
    assert "id" in response["body"]


# Body handling.
def test_json_string_body_is_passed_on_as_an_object(secret):
    event = documented_event(body='{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get-schema"}}')
    request = forwarded(interceptor.handler(event, None))
    assert request["body"] == {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "get-schema"}}


def test_undecodable_string_body_is_passed_on_unchanged(secret):
    request = forwarded(interceptor.handler(documented_event(body="not json"), None))
    assert request["body"] == "not json"


def test_missing_body_falls_back_to_the_raw_body(secret):
    event = documented_event()
    del event["mcp"]["gatewayRequest"]["body"]
    request = forwarded(interceptor.handler(event, None))
    assert request["body"] == {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


def test_batch_body_is_passed_on_unchanged(secret):
    body = [{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {"jsonrpc": "2.0", "method": "ping"}]
    request = forwarded(interceptor.handler(documented_event(body=copy.deepcopy(body)), None))
    assert request["body"] == body


@pytest.mark.parametrize("event", [None, {}, {"mcp": None}, {"mcp": {"gatewayRequest": None}}, "garbage"])
def test_malformed_events_never_raise(secret, event):
    request = forwarded(interceptor.handler(event, None))
    assert request["headers"] == {"Authorization": basic()}
    assert "body" not in request


# 8. Nothing sensitive reaches the logs.
def test_logs_never_contain_secrets(sm, monkeypatch, caplog, capsys, clock):
    caplog.set_level(logging.DEBUG)
    marker = "Zq7-never-logged"  # ASCII: survives the \uXXXX escaping of JSON bodies in SDK debug logs
    password = f"pässwörd-日本-{marker}"
    arn = sm.create_secret(Name=SECRET_NAME, SecretString=secret_json(password=password))["ARN"]
    monkeypatch.setenv("SECRET_ARN", arn)
    monkeypatch.setenv("SECRET_TTL_SECONDS", "60")

    outputs = []
    outputs.append(interceptor.handler(documented_event(), None))  # fetched
    outputs.append(interceptor.handler(documented_event(), None))  # cached
    clock.advance(61)
    sm.put_secret_value(SecretId=arn, SecretString=secret_json(password=f"{password}-2"))
    outputs.append(interceptor.handler(documented_event(), None))  # refreshed
    # Error paths: content problems, then a missing secret, then a transient error.
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"NEO4J_USERNAME": "neo4j", "NEO4J_PASSWORD": ""}))
    clock.advance(61)
    outputs.append(interceptor.handler(documented_event(), None))
    sm.put_secret_value(SecretId=arn, SecretString=f"{password} is not json")
    outputs.append(interceptor.handler(documented_event(), None))
    monkeypatch.setenv("SECRET_ARN", "neo4j-gw/does-not-exist")
    outputs.append(interceptor.handler(documented_event(), None))
    monkeypatch.setenv("SECRET_ARN", arn)
    with Stubber(interceptor._get_client()) as stubber:
        stubber.add_client_error("get_secret_value", service_error_code="InternalServiceError", http_status_code=500)
        outputs.append(interceptor.handler(documented_event(), None))

    statuses = [
        "request" if "transformedGatewayRequest" in o["mcp"] else o["mcp"]["transformedGatewayResponse"]["statusCode"]
        for o in outputs
    ]
    assert statuses == ["request", "request", "request", 500, 500, 500, 503]

    captured = capsys.readouterr()
    log_text = "\n".join(
        [caplog.text, captured.out, captured.err]
        + [record.getMessage() for record in caplog.records]
        + [repr(record.args) for record in caplog.records]
    )
    # The interceptor did log something useful: the method, the credential source, the error class.
    assert "method=tools/list" in log_text
    assert "credentials=secretsmanager" in log_text and "credentials=cache" in log_text
    assert "SecretMissingPassword" in log_text and "SecretNotJson" in log_text
    assert "ResourceNotFoundException" in log_text and "InternalServiceError" in log_text

    forbidden = [
        marker,
        json.dumps(password)[1:-1],  # the JSON-escaped form, as a raw HTTP body would carry it
        password,
        f"{password}-2",
        basic(password=password),
        basic(password=f"{password}-2"),
        basic(password=password)[len("Basic "):],
        basic(password=f"{password}-2")[len("Basic "):],
        BEARER,
    ]
    for needle in forbidden:
        assert needle not in log_text

    # The error answers themselves carry no secret either.
    for output in outputs[3:]:
        dumped = json.dumps(output, ensure_ascii=False)
        for needle in forbidden:
            assert needle not in dumped


def test_sdk_debug_logging_is_capped_at_info():
    # botocore logs HTTP response bodies (the SecretString) at DEBUG; the module keeps the SDK loggers at INFO.
    for name in ("boto3", "botocore", "urllib3"):
        assert logging.getLogger(name).level >= logging.INFO


def test_network_guard_refuses_non_loopback():
    # Sanity check of conftest's guard: it raises before any packet is sent (192.0.2.1 is TEST-NET-1).
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(AssertionError, match="network connection"):
            sock.connect(("192.0.2.1", 443))


# --- the origin lock -------------------------------------------------------------------------------------------

ORIGIN = "0123456789abcdef" * 4
