"""The Neo4j MCP server stand-in: what one ECS task of the stack runs, built on the official MCP Python SDK
(FastMCP, streamable HTTP, stateless, JSON responses), behaving as github.com/neo4j/mcp does at the version the
task definition's image names (rules from the source at tag v1.5.3; see docs/aws-behaviour.md, "The Neo4j MCP
server").

Its settings come from the task definition that `up` registered in the emulator — the container's environment,
and its `secrets` resolved from Secrets Manager as ECS does at task start — so a wrong variable there fails here
as it would on AWS:
- NEO4J_TRANSPORT_MODE must be `http` (stdio mode reads stdin, which an ECS task does not have, and exits);
  NEO4J_URI is required; NEO4J_USERNAME / NEO4J_PASSWORD in HTTP mode stop the server at start
  ("Failed to load configuration: …"); a blank NEO4J_HTTP_AUTH_HEADER_NAME too;
- it listens on NEO4J_MCP_HTTP_HOST:NEO4J_MCP_HTTP_PORT (defaults 127.0.0.1:80): anything but 0.0.0.0 and the
  port the load balancer sends to leaves the load balancer with "connection refused".

Routes (v1.5.3 `internal/server/server.go`, `middleware.go`): `GET /healthz` → 200 `{"status":"ok"}` without
credentials (other methods 405); `/mcp` POST and OPTIONS only (others 405); any other path 404. Authentication
on `/mcp`: a non-default NEO4J_HTTP_AUTH_HEADER_NAME header's value is copied into Authorization; `Bearer ` first,
case-sensitive (empty → 401), then `Basic` (empty user or password → 401); without credentials only `ping` and `tools/list`
pass, each only with its NEO4J_HTTP_ALLOW_UNAUTHENTICATED_* flag (body at most 4 KiB, else 413); everything
else — `initialize` included — is 401 `Unauthorized: Basic or Bearer authentication required` (text/plain, two
WWW-Authenticate headers). Credentials are checked by Neo4j only when a tool runs: a wrong password is an
`isError: true` tool result, not an HTTP error.

The first authenticated `initialize` runs v1.5.3's start-up checks (`RETURN 1`, APOC's apoc.meta.schema present)
with its credentials; a failure is logged ("Error during verification") and retried at the next one.

Tools: get-schema (apoc.meta.schema: without APOC an isError result with Neo4j's ProcedureNotFound), read-cypher {query, params} (runs EXPLAIN first and refuses anything but a read query with an
isError result), write-cypher — absent from the list when NEO4J_READ_ONLY is true (a call to it is JSON-RPC error
-32602 "tool 'write-cypher' not found").
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from mcp.server.fastmcp import Context, FastMCP
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, TextContent

from . import iam
from .aws import Aws
from .neo4j_dbms import Neo4jError, Neo4jStandIn

UNAUTHORIZED = "Unauthorized: Basic or Bearer authentication required"
MAX_UNAUTHENTICATED_BODY = 4096

READ_CYPHER_REFUSAL = (
    "read-cypher can only run read-only Cypher statements. For write operations (CREATE, MERGE, DELETE, SET, "
    "etc...), schema/admin commands, or PROFILE queries, use write-cypher instead."
)


class StartupError(Exception):
    """The server process exits at start; the message is what it prints."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    v = value.strip()
    if v in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if v in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return default  # Go's ParseBool failed: a warning, and the default


def image_version(image: str) -> tuple[int, int, int] | None:
    """(1, 5, 3) for `neo4j/mcp:v1.5.3` or `mcp/neo4j:1.5.3`; None for `latest`, a digest or no tag."""
    tag = image.rsplit("@", 1)[0]
    if ":" not in tag.rsplit("/", 1)[-1]:
        return None
    m = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)", tag.rsplit(":", 1)[1])
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


@dataclass
class Settings:
    """neo4j-mcp's configuration, as `LoadConfig` reads it (v1.5.3 internal/config/config.go)."""

    uri: str
    database: str
    read_only: bool
    host: str
    port: int
    auth_header: str
    allow_ping: bool
    allow_tools_list: bool
    healthz: bool
    version: tuple[int, int, int] | None

    @staticmethod
    def load(env: dict[str, str], image: str) -> "Settings":
        version = image_version(image)
        known = version or (1, 5, 3)  # `latest` follows main, which has what v1.5.3 has
        mode = env.get("NEO4J_TRANSPORT_MODE") or env.get("NEO4J_MCP_TRANSPORT") or "stdio"
        if mode not in ("stdio", "http"):
            raise StartupError(f"Failed to load configuration: invalid transport mode '{mode}', must be one of [stdio http]")
        if not env.get("NEO4J_URI"):
            raise StartupError("Failed to load configuration: Neo4j URI is required but was empty")
        if mode == "stdio":
            raise StartupError("stdio transport: standard input closed, exiting (an ECS task has no stdin)")
        if env.get("NEO4J_USERNAME") or env.get("NEO4J_PASSWORD"):
            raise StartupError(
                "Failed to load configuration: Neo4j username and password should not be set for HTTP transport "
                "mode; credentials are provided per-request via Basic Auth headers"
            )
        header = env.get("NEO4J_HTTP_AUTH_HEADER_NAME")
        if header is not None and not header.strip():
            raise StartupError(
                "Failed to load configuration: invalid auth header name: explicitly configured header name cannot be empty"
            )
        tls = _bool(env.get("NEO4J_MCP_HTTP_TLS_ENABLED"), False)
        try:
            port = int(env.get("NEO4J_MCP_HTTP_PORT") or (443 if tls else 80))
        except ValueError:
            raise StartupError("Failed to load configuration: invalid NEO4J_MCP_HTTP_PORT") from None
        return Settings(
            uri=env["NEO4J_URI"],
            database=env.get("NEO4J_DATABASE") or "neo4j",
            read_only=_bool(env.get("NEO4J_READ_ONLY"), False),
            host=env.get("NEO4J_MCP_HTTP_HOST") or "127.0.0.1",
            port=port,
            auth_header=(header or "Authorization").strip() if known >= (1, 4, 0) else "Authorization",
            allow_ping=known >= (1, 4, 1) and _bool(env.get("NEO4J_HTTP_ALLOW_UNAUTHENTICATED_PING"), False),
            allow_tools_list=known >= (1, 4, 3)
            and _bool(env.get("NEO4J_HTTP_ALLOW_UNAUTHENTICATED_TOOLS_LIST"), False),
            healthz=known >= (1, 5, 0),
            version=version,
        )


def _credentials(authorization: str | None) -> tuple[str, ...] | None | str:
    """('bearer', token) / ('basic', user, password); None when absent; an error text when malformed.
    v1.5.3 middleware.go: `strings.CutPrefix(authHeader, "Bearer ")` — case-sensitive, so `bearer x` is no
    bearer token; then Go's `r.BasicAuth()`, whose "Basic " prefix is case-insensitive (net/http EqualFold)."""
    if not authorization:
        return None
    if authorization.startswith("Bearer "):
        token = authorization[7:].strip()
        return ("bearer", token) if token else "Unauthorized: Bearer token is empty"
    if authorization[:6].lower() == "basic ":
        try:
            user, _, password = base64.b64decode(authorization[6:].strip()).decode("utf-8").partition(":")
        except Exception:  # noqa: BLE001
            return None
        if not user or not password:
            return "Unauthorized: Username and password cannot be empty"
        return ("basic", user, password)
    return None


def _go_value(value: Any) -> Any:
    """A value as Go's encoding/json writes it: a float with an integral value has no fraction (`1`, not `1.0`)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: _go_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_go_value(v) for v in value]
    return value


def records_json(rows: list[dict[str, Any]]) -> str:
    """neo4j/mcp v1.5.3 `Neo4jRecordsToJSON`: each record's `AsMap()`, `json.MarshalIndent(results, "", "  ")` —
    two-space indent, map keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped as Go does, other characters as
    UTF-8; an empty result is `[]`."""
    text = json.dumps(_go_value(rows), indent=2, sort_keys=True, ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def build_app(settings: Settings, dbms: Neo4jStandIn, log: Any) -> Any:
    """The server's ASGI app: neo4j-mcp's routes and auth middleware around a FastMCP streamable-HTTP app."""
    mcp = FastMCP(
        "neo4j-mcp",
        stateless_http=True,
        json_response=True,
        streamable_http_path="/mcp",
        # neo4j-mcp has no Host/Origin check (v1.5.3 middleware.go: CORS only adds headers).
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )

    def ok(text: str) -> CallToolResult:
        return CallToolResult(content=[TextContent(type="text", text=text)])

    def failed(text: str) -> CallToolResult:
        # neo4j-mcp answers a failed tool with mcp.NewToolResultError(text): isError, the text as it is.
        return CallToolResult(content=[TextContent(type="text", text=text)], isError=True)

    def auth_of(ctx: Context) -> tuple[str, ...] | None:
        request = ctx.request_context.request
        creds = _credentials(request.headers.get("authorization") if request is not None else None)
        return creds if isinstance(creds, tuple) else None

    @mcp.tool(
        name="get-schema",
        description="Retrieve the schema information from the Neo4j database, including node labels, "
        "relationship types, and property keys.",
    )
    def get_schema(ctx: Context) -> CallToolResult:
        auth = auth_of(ctx)
        if auth is None:
            return failed("failed to execute read query: no credentials in the request")
        try:  # v1.5.3 get_schema_handler.go: CALL apoc.meta.schema(...); an error is returned as its text
            return ok(json.dumps(dbms.schema(settings.uri, settings.database, auth)))
        except Neo4jError as e:
            return failed(f"failed to execute read query: {e}")

    @mcp.tool(
        name="read-cypher",
        description="read-cypher can run only read-only Cypher statements. For write operations (CREATE, MERGE, "
        "DELETE, SET, etc...), schema/admin commands, or PROFILE queries, use write-cypher instead.",
    )
    def read_cypher(query: str, ctx: Context, params: dict[str, Any] | None = None) -> CallToolResult:
        if not query.strip():
            return failed("Query parameter is required and cannot be empty")
        auth = auth_of(ctx)
        if auth is None:
            return failed("error during GetQueryType: no credentials in the request")
        try:
            kind = dbms.explain(settings.uri, settings.database, auth, query)
        except Neo4jError as e:
            return failed(f"error during GetQueryType: {e}")
        if kind != "r":
            return failed(READ_CYPHER_REFUSAL)
        try:
            return ok(json.dumps(dbms.run(settings.uri, settings.database, auth, query, params or {})))
        except Neo4jError as e:
            return failed(f"failed to execute read query: {e}")

    verified = {"done": False}
    verify_lock = threading.Lock()

    def verify_requirements(auth: tuple[str, ...]) -> None:
        """v1.5.3 server.go, the BeforeInitialize hook of HTTP mode: once per server, with the initialize request's
        credentials, `RETURN 1 as first`, then the APOC check (`SHOW PROCEDURES … 'apoc.meta.schema' …`). A failure
        is only logged ("Error during verification") and retried at the next initialize; the initialize itself
        goes on."""
        with verify_lock:
            if verified["done"]:
                return
            log('level=INFO msg="Verify server requirements..."')
            try:
                dbms.run(settings.uri, settings.database, auth, "RETURN 1 as first", {})
            except Neo4jError as e:
                error = f"impossible to verify connectivity with the Neo4j instance: failed to execute read query: {e}"
                log(f'level=ERROR msg="Error during verification" error="{error}"')
                return
            try:
                apoc = dbms.has_apoc_meta_schema(settings.uri, settings.database, auth)
            except Neo4jError as e:
                log(f'level=ERROR msg="Error during verification" error="failed to check for APOC availability: {e}"')
                return
            if not apoc:
                error = "please ensure the APOC plugin is installed and includes the 'meta' component"
                log(f'level=ERROR msg="Error during verification" error="{error}"')
                return
            verified["done"] = True

    tool_names = {"get-schema", "read-cypher"}
    if not settings.read_only:
        tool_names.add("write-cypher")

        @mcp.tool(
            name="write-cypher",
            description="write-cypher executes any arbitrary Cypher query, with write access, against the "
            "user-configured Neo4j database.",
        )
        def write_cypher(query: str, ctx: Context, params: dict[str, Any] | None = None) -> CallToolResult:
            if not query.strip():
                return failed("Query parameter is required and cannot be empty")
            auth = auth_of(ctx)
            if auth is None:
                return failed("failed to execute write query: no credentials in the request")
            try:
                return ok(records_json(dbms.run(settings.uri, settings.database, auth, query, params or {})))
            except Neo4jError as e:
                return failed(f"failed to execute write query: {e}")

    inner = mcp.streamable_http_app()

    async def plain(send: Any, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        body = (text + "\n").encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
                + (headers or []),
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await inner(scope, receive, send)
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/healthz" and settings.healthz:
            if method != "GET":
                return await plain(send, 405, "Method Not Allowed", [(b"allow", b"GET")])
            body = b'{"status":"ok"}'
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
            return await send({"type": "http.response.body", "body": body})
        if path not in ("/mcp", "/mcp/"):
            return await plain(send, 404, "Not Found: This server only handles requests to /mcp")
        if method not in ("POST", "OPTIONS"):
            return await plain(send, 405, "Method Not Allowed: only POST is supported on /mcp", [(b"allow", b"POST, OPTIONS")])
        headers = [(k, v) for k, v in scope["headers"]]
        lower = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
        if settings.auth_header.lower() != "authorization" and lower.get(settings.auth_header.lower()):
            headers = [(k, v) for k, v in headers if k.lower() != b"authorization"]
            headers.append((b"authorization", lower[settings.auth_header.lower()].encode("latin-1")))
            lower["authorization"] = lower[settings.auth_header.lower()]
        creds = _credentials(lower.get("authorization"))
        if isinstance(creds, str):
            return await plain(send, 401, creds)
        # Read the body once (the unauthenticated check needs its method) and replay it to the MCP app.
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if creds is None:
            exempt = (["ping"] if settings.allow_ping else []) + (["tools/list"] if settings.allow_tools_list else [])
            allowed = False
            if exempt and method == "POST":
                if len(body) > MAX_UNAUTHENTICATED_BODY:
                    return await plain(send, 413, "request body too large")
                try:
                    allowed = json.loads(body).get("method") in exempt
                except Exception:  # noqa: BLE001 - not one JSON object: falls through to 401
                    allowed = False
            if not allowed:  # v1.5.3 logs nothing for it (its request log is at DEBUG level)
                return await plain(
                    send,
                    401,
                    UNAUTHORIZED,
                    [(b"www-authenticate", b'Basic realm="Neo4j MCP Server"'), (b"www-authenticate", b'Bearer realm="Neo4j MCP Server"')],
                )
        # mcp-go answers a call of a tool it does not have with JSON-RPC error -32602 (server/server.go).
        try:
            message = json.loads(body) if method == "POST" else None
        except ValueError:
            message = None
        if isinstance(message, dict) and message.get("method") == "initialize" and isinstance(creds, tuple):
            verify_requirements(creds)
        if isinstance(message, dict) and message.get("method") == "tools/call":
            name = (message.get("params") or {}).get("name")
            if name not in tool_names:
                error = {
                    "jsonrpc": "2.0",
                    "id": message.get("id"),
                    "error": {"code": -32602, "message": f"tool '{name}' not found: tool not found"},
                }
                data = json.dumps(error).encode()
                await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
                return await send({"type": "http.response.body", "body": data})
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await inner(dict(scope, headers=headers), replay, send)

    return app


# --------------------------------------------------------------------------------------------------------------
# ECS tasks: one server per running task, started from its task definition on first contact
# --------------------------------------------------------------------------------------------------------------


@dataclass
class TaskServer:
    task_arn: str
    region: str
    settings: Settings | None
    error: str | None
    listen: tuple[str, int] | None = None  # where uvicorn listens on loopback
    server: Any = None
    log_lines: list[tuple[int, str]] = field(default_factory=list)
    retry: bool = False  # the start failed for a reason a replacement task may not meet (IAM): try again
    # The task's in-task proxy (caddy.py), when the task definition has one: its settings, its loopback address.
    proxy: Any = None
    proxy_listen: tuple[str, int] | None = None
    proxy_server: Any = None


class TaskStartDenied(Exception):
    """The task execution role may not do what starting the task needs (iam.py): ECS stops the task, and the task
    it starts in its place tries again."""


class ConnectionRefused(Exception):
    pass


def _uvicorn(app: Any) -> tuple[Any, int]:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"uvicorn-{port}")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    return server, port


class Tasks:
    """The containers of the stack's ECS tasks, looked up by the IP address the load balancer forwards to."""

    def __init__(self, aws: Aws, dbms: Neo4jStandIn):
        self.aws = aws
        self.dbms = dbms
        self._servers: dict[str, TaskServer] = {}
        self._lock = threading.Lock()

    def _log(self, ts: TaskServer, group: str | None, stream: str | None) -> Any:
        def log(message: str) -> None:
            ts.log_lines.append((int(time.time() * 1000), message))
            if group and stream:
                self.aws.put_log_lines(ts.region, group, stream, [ts.log_lines.pop()])

        return log

    def _start(self, region: str, task: dict[str, Any]) -> TaskServer:
        """Starts the task's containers: the Neo4j MCP server, and an in-task proxy (caddy.py) if there is one."""
        from . import caddy

        definition = self.aws.task_definition(region, task["taskDefinitionArn"])
        containers = definition["containerDefinitions"]
        proxies = [c for c in containers if caddy.is_caddy(c.get("image", ""))]
        servers = [c for c in containers if not caddy.is_caddy(c.get("image", ""))]
        ts = self._start_server(region, task, definition, servers[0]) if servers else TaskServer(task["taskArn"], region, None, "no server container")
        if proxies and ts.error is None:
            self._start_proxy(region, task, definition, ts, proxies[0])
        return ts

    def _container_env(
        self, region: str, container: dict[str, Any], execution_role: str, session: str
    ) -> dict[str, str]:
        """The container's environment as ECS gives it: `environment`, and `secrets` resolved from Secrets Manager
        with the task execution role (TaskStartDenied when the role may not read one: iam.py; raises otherwise when
        one cannot be read: the task does not start)."""
        env = {e["name"]: e["value"] for e in container.get("environment", [])}
        for secret in container.get("secrets", []):
            # valueFrom: <secret arn>:<json key>:<version stage>:<version id>
            arn, _, rest = secret["valueFrom"].partition(":secret:")
            name_and_key = rest.split(":")
            secret_arn = f"{arn}:secret:{name_and_key[0]}"
            try:
                iam.assume(execution_role, "ecs-tasks.amazonaws.com")
                iam.check(execution_role, "secretsmanager:GetSecretValue", secret_arn, session)
            except iam.AccessDenied as e:
                raise TaskStartDenied(
                    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
                    "retrieval failed: unable to retrieve secret from asm: service call has been retried 1 "
                    f"time(s): AccessDeniedException: {e}"
                ) from e
            value = self.aws.secret_string(region, secret_arn)
            key = name_and_key[1] if len(name_and_key) > 1 else ""
            env[secret["name"]] = str(json.loads(value)[key]) if key else value
        return env

    def _start_proxy(
        self, region: str, task: dict[str, Any], definition: dict[str, Any], ts: TaskServer, container: dict[str, Any]
    ) -> None:
        from . import caddy

        try:
            env = self._container_env(
                region, container, definition.get("executionRoleArn") or "", task["taskArn"].rsplit("/", 1)[-1]
            )
        except TaskStartDenied as e:
            ts.error = str(e)
            ts.retry = True
            return
        except Exception as e:  # noqa: BLE001 - ECS cannot start the task
            ts.error = f"ResourceInitializationError: unable to pull secrets or registry auth: {type(e).__name__}"
            return
        try:
            settings = caddy.parse_command(container.get("command") or [])
        except caddy.ProxyStartupError as e:
            ts.error = f"the proxy container exited: {e}"
            return
        server_settings = ts.settings

        def upstream(host: str, port: int) -> tuple[str, int] | None:
            # Inside the task, the loopback interface is shared by its containers (awsvpc network mode).
            if server_settings is None or ts.listen is None:
                return None
            if host in ("127.0.0.1", "localhost", "::1") and port == server_settings.port:
                if server_settings.host in ("127.0.0.1", "localhost", "0.0.0.0", "::"):
                    return ts.listen
            return None

        ts.proxy = settings
        ts.proxy_server, port = _uvicorn(caddy.build_app(settings, env, upstream))
        ts.proxy_listen = ("127.0.0.1", port)

    def _start_server(
        self, region: str, task: dict[str, Any], definition: dict[str, Any], container: dict[str, Any]
    ) -> TaskServer:
        env: dict[str, str] = {}
        ts = TaskServer(task["taskArn"], region, None, None)
        options = (container.get("logConfiguration") or {}).get("options", {})
        group = options.get("awslogs-group")
        stream = None
        if group and options.get("awslogs-stream-prefix"):
            stream = f"{options['awslogs-stream-prefix']}/{container['name']}/{task['taskArn'].rsplit('/', 1)[-1]}"
        log = self._log(ts, group, stream)
        # ECS starts the task with the task execution role: it must trust ecs-tasks.amazonaws.com, read each of the
        # container's secrets and create and write its log stream (iam.py); otherwise the task stops with ECS's
        # ResourceInitializationError, and the next task ECS starts in its place tries again.
        execution_role = definition.get("executionRoleArn") or ""
        session = task["taskArn"].rsplit("/", 1)[-1]
        if group and stream:
            log_stream_arn = f"arn:aws:logs:{region}:{task['taskArn'].split(':')[4]}:log-group:{group}:log-stream:{stream}"
            try:
                iam.assume(execution_role, "ecs-tasks.amazonaws.com")
                iam.check(execution_role, "logs:CreateLogStream", log_stream_arn, session)
                iam.check(execution_role, "logs:PutLogEvents", log_stream_arn, session)
            except iam.AccessDenied as e:
                ts.error = (
                    "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 "
                    f"times: failed to create Cloudwatch log stream: AccessDeniedException: {e}"
                )
                ts.retry = True
                return ts
        try:
            env = self._container_env(region, container, execution_role, session)
        except TaskStartDenied as e:
            ts.error = str(e)
            ts.retry = True
            log(ts.error)
            return ts
        except Exception as e:  # noqa: BLE001 - ECS cannot start the task
            ts.error = f"ResourceInitializationError: unable to pull secrets or registry auth: {type(e).__name__}"
            log(ts.error)
            return ts
        try:
            ts.settings = Settings.load(env, container.get("image", ""))
        except StartupError as e:
            ts.error = str(e)
            log(ts.error)
            return ts
        log(f'level=INFO msg="Starting Neo4j MCP Server" transport=http address={ts.settings.host}:{ts.settings.port}')
        ts.server, port = _uvicorn(build_app(ts.settings, self.dbms, log))
        ts.listen = ("127.0.0.1", port)
        return ts

    def connect(self, region: str, ip: str, port: int) -> tuple[str, int]:
        """The loopback address that stands for ip:port of a task's container; ConnectionRefused when nothing
        listens there (no task at that IP, the server exited at start, or it listens elsewhere)."""
        task = self.aws.task_at(region, ip)
        if task is None:
            raise ConnectionRefused(f"no running task has the address {ip}")
        with self._lock:
            ts = self._servers.get(task["taskArn"])
            if ts is None or ts.retry:
                ts = self._start(region, task)
                self._servers[task["taskArn"]] = ts
        if ts.error is not None:
            raise ConnectionRefused(f"the container exited: {ts.error}")
        assert ts.settings is not None and ts.listen is not None
        if ts.proxy is not None and ts.proxy_listen is not None and ts.proxy.listen_port == port:
            if ts.proxy.listen_host not in ("0.0.0.0", "::", ip):
                raise ConnectionRefused(f"the proxy listens on {ts.proxy.listen_host}:{port}, not on {ip}:{port}")
            return ts.proxy_listen
        if ts.settings.host not in ("0.0.0.0", "::", ip) or ts.settings.port != port:
            raise ConnectionRefused(
                f"the server listens on {ts.settings.host}:{ts.settings.port}, not on {ip}:{port} "
                "(NEO4J_MCP_HTTP_HOST / NEO4J_MCP_HTTP_PORT)"
            )
        return ts.listen

    def health(self, region: str, ip: str, port: int, path: str, codes: str) -> tuple[str, str] | None:
        """An ALB health check of the container at ip:port: None when `GET path` answers one of `codes` (e.g.
        "200" or "200-399"), else (reason code, description) as DescribeTargetHealth reports them."""
        try:
            host, local_port = self.connect(region, ip, port)
        except ConnectionRefused as e:
            return ("Target.FailedHealthChecks", f"Health checks failed: {e}")
        try:
            with httpx.Client(timeout=5, trust_env=False) as client:
                status = client.get(f"http://{host}:{local_port}{path}").status_code
        except httpx.HTTPError as e:
            return ("Target.Timeout", f"Request timed out ({type(e).__name__})")
        for part in codes.split(","):
            low, _, high = part.strip().partition("-")
            if low and int(low) <= status <= int(high or low):
                return None
        return ("Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{status}]")

    def close(self) -> None:
        with self._lock:
            for ts in self._servers.values():
                for server in (ts.server, ts.proxy_server):
                    if server is not None:
                        server.should_exit = True
            self._servers.clear()
