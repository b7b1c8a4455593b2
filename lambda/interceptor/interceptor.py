"""REQUEST interceptor for the Amazon Bedrock AgentCore Gateway in front of the Neo4j MCP server.

The gateway authenticates callers with a Cognito bearer token and invokes this function before it forwards an MCP
request to the Neo4j MCP server. The function returns only the headers it sets itself — never the request's own
(the AgentCore guide validates every header an interceptor returns like a configured one: restricted names and
`X-Amzn-` are refused) — and reads no request header (the gateway passes none: `passRequestHeaders` is off). It
logs the JSON-RPC method of each request, never a value.

Where the Neo4j credentials come from (NEO4J_CREDENTIALS):
    interceptor (default)  the function sets AUTH_HEADER to HTTP Basic credentials for Neo4j, read from a Secrets
                           Manager secret and cached in memory for a short time. (The stack without the origin lock.)
    task                   the ECS task adds them (its proxy in front of the server): the function sets no header and
                           reads no secret. (The stack with the origin lock, whose origin value the target's
                           credential provider sends: docs/aws-behaviour.md, "Strict and lenient readings".)

Environment:
    NEO4J_CREDENTIALS   `interceptor` or `task`, as above. Default `interceptor`.
    SECRET_ARN          ARN (or name) of the secret; its SecretString is JSON with NEO4J_USERNAME and
                        NEO4J_PASSWORD (NEO4J_URI and NEO4J_DATABASE are ignored here). Required with `interceptor`.
    AUTH_HEADER         name of the header to set on the forwarded request. Default ``Authorization``.
    SECRET_TTL_SECONDS  how long the credentials stay cached, in seconds. Default 300; 0 disables the cache.
    NEO4J_GW_SECRET_VERSION  the secret's version, set by neo4j-gw and not read here: a new value of the secret
                        changes it, and that configuration update makes Lambda serve from new execution
                        environments, whose cache is empty — a changed password takes effect at once.

On any failure the function answers the caller directly (``transformedGatewayResponse``) with a JSON-RPC error
instead of raising: HTTP 503 when Secrets Manager could not be reached or answered with a transient error
(throttling, internal error, timeout), HTTP 500 for everything else (configuration: no SECRET_ARN, secret not
found, access denied; content: not JSON, username or password missing). Failures are never cached.

Standard library and boto3 only (both are in the Lambda python3.13 runtime).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import threading
import time
from typing import Any, Callable, Optional

OUTPUT_VERSION = "1.0"
DEFAULT_AUTH_HEADER = "Authorization"
DEFAULT_TTL_SECONDS = 300.0
USERNAME_KEY = "NEO4J_USERNAME"
PASSWORD_KEY = "NEO4J_PASSWORD"
JSONRPC_INTERNAL_ERROR = -32603

# Secrets Manager error codes that are worth retrying later: answered with HTTP 503.
_TRANSIENT_ERROR_CODES = frozenset(
    {
        "InternalServiceError",
        "InternalServiceErrorException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)

logger = logging.getLogger("neo4j_gw.interceptor")
logger.setLevel(logging.INFO)

# botocore logs whole HTTP response bodies (the secret's value included) at DEBUG. Keep the SDK's loggers at INFO
# or above even if the function's log level is set to DEBUG, so the password can never reach the logs that way.
for _sdk_logger in ("boto3", "botocore", "urllib3"):
    if logging.getLogger(_sdk_logger).level < logging.INFO:  # NOTSET (0) or DEBUG
        logging.getLogger(_sdk_logger).setLevel(logging.INFO)

# Monotonic clock used for the cache; tests replace it with a fake clock.
_now: Callable[[], float] = time.monotonic

# Lazily created Secrets Manager client, reused across invocations of a warm Lambda environment.
_client: Any = None

# Cached credentials: {"secret_id": str, "username": str, "password": str, "expires_at": float} or None.
_cache: Optional[dict] = None

_lock = threading.Lock()


class InterceptorError(Exception):
    """A failure that is answered with a JSON-RPC error; ``status`` is the HTTP status code to return."""

    def __init__(self, status: int, kind: str):
        super().__init__(kind)
        self.status = status
        self.kind = kind  # non-sensitive description, safe to log


def reset() -> None:
    """Forget the cached credentials and the client (used by tests)."""
    global _client, _cache
    with _lock:
        _client = None
        _cache = None


def _get_client() -> Any:
    global _client
    if _client is None:
        import boto3
        from botocore.config import Config

        # Stay well inside the Lambda's 30 s timeout, with a few quick retries for transient errors.
        config = Config(
            connect_timeout=3,
            read_timeout=5,
            retries={"max_attempts": 3, "mode": "standard"},
        )
        _client = boto3.client("secretsmanager", config=config)
    return _client


def _fetch(secret_id: str) -> str:
    """Return the secret's SecretString; raise InterceptorError on any Secrets Manager problem."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = _get_client().get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
        status = 503 if code in _TRANSIENT_ERROR_CODES else 500
        raise InterceptorError(status, f"SecretsManager:{code}") from None
    except BotoCoreError as exc:  # connection errors, timeouts, missing region or credentials
        raise InterceptorError(503, f"SecretsManager:{type(exc).__name__}") from None
    secret_string = response.get("SecretString")
    if not isinstance(secret_string, str):
        raise InterceptorError(500, "SecretHasNoSecretString")
    return secret_string


def _parse_credentials(secret_string: str) -> tuple[str, str]:
    try:
        data = json.loads(secret_string)
    except ValueError:
        raise InterceptorError(500, "SecretNotJson") from None
    if not isinstance(data, dict):
        raise InterceptorError(500, "SecretNotJsonObject")
    username = data.get(USERNAME_KEY)
    password = data.get(PASSWORD_KEY)
    if not isinstance(username, str) or not username:
        raise InterceptorError(500, "SecretMissingUsername")
    if not isinstance(password, str) or not password:
        raise InterceptorError(500, "SecretMissingPassword")
    return username, password


def _ttl_seconds() -> float:
    raw = os.environ.get("SECRET_TTL_SECONDS")
    if raw is None or not raw.strip():
        return DEFAULT_TTL_SECONDS
    try:
        ttl = float(raw)
    except ValueError:
        logger.warning("SECRET_TTL_SECONDS is not a number; using the default of %s s", DEFAULT_TTL_SECONDS)
        return DEFAULT_TTL_SECONDS
    if not math.isfinite(ttl) or ttl < 0:
        logger.warning("SECRET_TTL_SECONDS is negative or not finite; using the default of %s s", DEFAULT_TTL_SECONDS)
        return DEFAULT_TTL_SECONDS
    return ttl


def _credentials() -> tuple[str, str, bool]:
    """Return (username, password, from_cache). Only successful reads are cached."""
    global _cache
    secret_id = os.environ.get("SECRET_ARN", "").strip()
    if not secret_id:
        raise InterceptorError(500, "SecretArnNotConfigured")
    ttl = _ttl_seconds()
    with _lock:
        now = _now()
        cached = _cache
        if cached is not None and cached["secret_id"] == secret_id and now < cached["expires_at"]:
            return cached["username"], cached["password"], True
        username, password = _parse_credentials(_fetch(secret_id))
        if ttl > 0:
            _cache = {
                "secret_id": secret_id,
                "username": username,
                "password": password,
                "expires_at": now + ttl,
            }
        else:
            _cache = None
        return username, password, False


def basic_auth_value(username: str, password: str) -> str:
    """``Basic`` + base64 of the UTF-8 bytes of ``username:password`` (RFC 7617 with charset UTF-8)."""
    token = base64.b64encode(f"{username}:{password}".encode("utf-8")).decode("ascii")
    return f"Basic {token}"


def _as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _request_body(gateway_request: dict, mcp: dict) -> tuple[bool, Any]:
    """Return (present, body). A JSON string body is decoded; an undecodable string is kept as it is."""
    if "body" in gateway_request and gateway_request["body"] is not None:
        body = gateway_request["body"]
    else:
        body = _as_dict(mcp.get("rawGatewayRequest")).get("body")
        if body is None:
            return False, None
    if isinstance(body, (str, bytes, bytearray)):
        try:
            return True, json.loads(body)
        except ValueError:
            return True, body
    return True, body


def _jsonrpc_id(body: Any) -> Any:
    if isinstance(body, dict):
        request_id = body.get("id")
        # JSON-RPC ids are strings, numbers or null; anything else is answered with null.
        if isinstance(request_id, (str, int, float)) and not isinstance(request_id, bool):
            return request_id
    return None


def _jsonrpc_method(body: Any) -> str:
    method = body.get("method") if isinstance(body, dict) else None
    if isinstance(method, str):
        return method[:80]
    return "-"


def _error_response(status: int, request_id: Any) -> dict:
    message = (
        "Neo4j credentials are temporarily unavailable"
        if status == 503
        else "The gateway could not obtain Neo4j credentials"
    )
    return {
        "interceptorOutputVersion": OUTPUT_VERSION,
        "mcp": {
            "transformedGatewayResponse": {
                "statusCode": status,
                "headers": {"Content-Type": "application/json"},
                "body": {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "error": {"code": JSONRPC_INTERNAL_ERROR, "message": message},
                },
            }
        },
    }


def _credentials_in_task() -> bool:
    return (os.environ.get("NEO4J_CREDENTIALS") or "").strip().lower() == "task"


def handler(event: Any, context: Any) -> dict:
    mcp = _as_dict(_as_dict(event).get("mcp"))
    gateway_request = _as_dict(mcp.get("gatewayRequest"))
    has_body, body = _request_body(gateway_request, mcp)
    method = _jsonrpc_method(body)
    request_id = _jsonrpc_id(body)

    transformed: dict = {}
    if _credentials_in_task():
        logger.info("method=%s credentials=task", method)
    else:
        auth_header = (os.environ.get("AUTH_HEADER") or "").strip() or DEFAULT_AUTH_HEADER
        try:
            username, password, from_cache = _credentials()
        except InterceptorError as exc:
            logger.error("method=%s status=%s error=%s", method, exc.status, exc.kind)
            return _error_response(exc.status, request_id)
        except Exception as exc:  # never let the gateway see a raw Lambda error
            logger.error("method=%s status=500 error=%s", method, type(exc).__name__)
            return _error_response(500, request_id)
        # Only the header this function sets: the gateway merges it with the allow-listed client headers itself.
        transformed["headers"] = {auth_header: basic_auth_value(username, password)}
        logger.info(
            "method=%s credentials=%s header=%s", method, "cache" if from_cache else "secretsmanager", auth_header
        )
    if has_body:
        transformed["body"] = body
    return {"interceptorOutputVersion": OUTPUT_VERSION, "mcp": {"transformedGatewayRequest": transformed}}
