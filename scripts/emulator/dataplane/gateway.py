"""The AgentCore gateway stand-in: the data plane of every gateway in the emulator, at its gateway URL
(`https://<gatewayId>.gateway.bedrock-agentcore.<region>.amazonaws.com/mcp`), and the control-plane
synchronisation of its MCP server targets. It reads the gateway's and its targets' configuration from the
emulator at each request, so a change made out of band takes effect at once. The rules it follows are those of
the AgentCore developer guide and the service model; docs/aws-behaviour.md quotes each with its source, and says
where a source leaves a question open and which reading the stand-in takes (the stricter one).

A request to the gateway:
1. Inbound auth (CUSTOM_JWT): the bearer token must be a JWT signed by a key of the JWKS that the discovery URL
   names, not expired, from that issuer, with `client_id` among allowedClients, a `scope` among allowedScopes and
   (when set) `aud` among allowedAudience. Otherwise HTTP 401 with a `WWW-Authenticate: Bearer` challenge and a
   JSON-RPC error body.
2. Every REQUEST interceptor is invoked — the function's code as deployed (lambda_runtime) — with the documented
   event: `interceptorInputVersion` "1.0", `mcp.rawGatewayRequest.body` (the body as received) and
   `mcp.gatewayRequest` {path, httpMethod, body, and `headers` only when `passRequestHeaders` is true}. An answer
   with `transformedGatewayResponse` is returned to the caller as it is; otherwise `transformedGatewayRequest`
   (headers, body) replaces the request. A failed invoke is a JSON-RPC error to the caller.
3. The gateway answers `initialize`, `ping` and notifications itself; `tools/list` lists every READY target's
   tools as `<target>___<tool>` (cached at synchronisation for listingMode DEFAULT, fetched from the target at
   each request for DYNAMIC), in pages; `tools/call` of `<target>___<tool>` calls `<tool>` on that target.
   With a policy engine (`policyEngineConfiguration`; policy.py), `tools/list` shows in ENFORCE mode only the
   tools the caller's token may call, and `tools/call` is decided by the engine before anything goes to the
   target (refused in ENFORCE mode; recorded only in LOG_ONLY). Each `tools/call` writes one audit line where a
   CloudWatch Logs delivery of the gateway's APPLICATION_LOGS points (audit.py). Both are off unless configured.
4. A call to a target goes out as an MCP client (the official MCP Python SDK: initialize, then the request) to
   the target's endpoint over HTTPS — through the load balancer stand-in, from an address on the internet — with
   only the headers the target's `metadataConfiguration.allowedRequestHeaders` lets through, taken from the
   (transformed) request.

Synchronisation (CreateGatewayTarget, UpdateGatewayTarget, SynchronizeGatewayTargets): for listingMode DEFAULT
the gateway connects to the endpoint as an MCP client with only what the target's credential provider adds (no
interceptor runs: they act on requests to the gateway) and lists its tools; if it cannot, the target ends FAILED
(create), UPDATE_UNSUCCESSFUL (update) or SYNCHRONIZE_UNSUCCESSFUL with the reason.

Credential providers: an `API_KEY` provider on a target adds its key to EVERY request the gateway sends to that
target — synchronisation, the session's `initialize` and `notifications/initialized`, and the request itself — in
the header `credentialParameterName` (default `Authorization`) as `credentialPrefix` + key (default prefix
`Bearer `; the defaults are those AWS CDK documents). The key is read at each call from the secret the provider
names (moto_server.py serves the providers).

Where the AgentCore guide is silent, two readings (docs/aws-behaviour.md, "Strict and lenient readings"):
- strict (the default): the gateway's own handshake with a target (`initialize`, `notifications/initialized`) and
  a DYNAMIC target's listing carry only what the credential provider adds — never the interceptor's or the
  client's headers, which go on `tools/call` only; an interceptor answer with a header the guide's validation
  rules refuse (a restricted name, an `X-Amzn-` prefix, a name outside `^[a-zA-Z0-9_-]+$`, a value over 4 KB or
  not printable ASCII) fails the request (HTTP 500, JSON-RPC -32603 "Interceptor returned an invalid response":
  the error an invalid interceptor answer gets; which error AWS gives is not documented); and a DYNAMIC target
  is contacted at create, update and synchronisation exactly like a DEFAULT one (its tools are not cached).
- lenient: the handshake and the listing carry the forwarded headers too; refused interceptor headers are
  dropped silently; a DYNAMIC target is not contacted until a client asks.
The reading comes from `Gateways(reading=…)`: moto_server.py's `--agentcore-reading`, whose default is the
environment variable NEO4J_GW_AGENTCORE_READING, else `strict`.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from .alb import ConnectFailed, LoadBalancers
from . import iam, policy
from .audit import Audit, line as audit_line
from .aws import Aws, NotFound
from .cognito import TokenCheck
from .lambda_runtime import InvokeError, LambdaRuntime

READINGS = ("strict", "lenient")
DEFAULT_READING = os.environ.get("NEO4J_GW_AGENTCORE_READING") or "strict"
HANDSHAKE_METHODS = ("initialize", "notifications/initialized")
# Defaults of an API-key credential provider's placement (AWS CDK, ApiKeyAdditionalConfiguration).
API_KEY_DEFAULT_HEADER = "Authorization"
API_KEY_DEFAULT_PREFIX = "Bearer "
MAX_HEADER_VALUE = 4096
INTERNET_GATEWAY_SOURCE = "198.51.100.20"  # a documentation address: AgentCore publishes no egress ranges
PAGE_SIZE = 2  # tools per tools/list page: small, so clients must follow nextCursor
SERVER_VERSION = "1.0.0"

# Header names a target cannot allow: the restricted headers of the AgentCore developer guide, "Header propagation
# with Gateway", with neo4j-gw's stricter prefixes and MCP's transport headers — the ONE list, shared with the CLI's
# `auth_header` check (src/config.rs embeds the same file), source inside (docs/aws-behaviour.md, point 2).
# `Authorization` cannot be allowed either, but is forwarded when the interceptor sets it.
RESTRICTED_HEADERS_FILE = Path(__file__).resolve().parents[3] / "data" / "agentcore-restricted-headers.json"


def _load_restricted() -> tuple[frozenset[str], tuple[str, ...], str]:
    doc = json.loads(RESTRICTED_HEADERS_FILE.read_text())
    names = {n.lower() for n in doc["guide_table"]} | {n.lower() for n in doc["project_names"]["names"]}
    names.discard("authorization")
    prefixes = tuple(p.lower() for p in doc["project_prefixes"]["prefixes"]) + (doc["guide_prefix"]["prefix"].lower(),)
    return frozenset(names), prefixes, doc["guide_prefix"]["except"].lower()


RESTRICTED_HEADERS, _RESTRICTED_PREFIXES, _RESTRICTED_EXCEPT = _load_restricted()


def _restricted(name: str) -> bool:
    n = name.lower()
    if n in RESTRICTED_HEADERS:
        return True
    return any(n.startswith(p) for p in _RESTRICTED_PREFIXES) and not n.startswith(_RESTRICTED_EXCEPT)


def _refused_by_validation(name: str, value: str) -> bool:
    """The guide's rules for headers an interceptor returns ("All lambda-provided headers are subject to the same
    validation rules as configured headers"): `Authorization` is the one restricted name an interceptor may set."""
    if name.lower() == "authorization":
        return False
    return (
        _restricted(name)
        or not re.fullmatch(r"[a-zA-Z0-9_-]+", name)
        or len(value.encode("utf-8")) > MAX_HEADER_VALUE
        or not all(32 <= ord(c) < 127 for c in value)
    )


_sync_lock = threading.Lock()


def _exception_text(gateway: dict[str, Any], generic: str, detail: Any) -> str:
    """What the caller is told about a failure of the gateway's own: botocore `CreateGatewayRequest.exceptionLevel`
    — "If the value is omitted, a generic error message is returned to the end user"; with `DEBUG` the stand-in
    adds the underlying error (the wording of AWS's detailed message is not documented: an assumption)."""
    if gateway.get("exceptionLevel") == "DEBUG":
        return f"{generic} ({detail})"
    return generic


def _jsonrpc_error(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


class TargetError(Exception):
    """A call to a target failed; `status` is the HTTP status the target (or the way to it) gave, if any."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class AlbTransport(httpx.AsyncBaseTransport):
    """httpx transport that sends requests for https://<fqdn>/… through the load balancer stand-in, as a client on
    the internet would: no DNS, no socket to the public name."""

    def __init__(self, albs: LoadBalancers, source_ip: str, headers: "SessionHeaders | None" = None):
        self.albs = albs
        self.source_ip = source_ip
        self.session_headers = headers or SessionHeaders({}, {})

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        extra = self.session_headers.for_body(body)
        try:
            r = await self.albs.request(
                request.url.host,
                method=request.method,
                path=request.url.path,
                query=request.url.query.decode() if isinstance(request.url.query, bytes) else str(request.url.query),
                headers=[(k, v) for k, v in request.headers.items() if k.lower() not in {e.lower() for e in extra}]
                + list(extra.items()),
                body=body,
                source_ip=self.source_ip,
                port=request.url.port or 443,
            )
        except ConnectFailed as e:
            raise httpx.ConnectError(str(e), request=request) from None
        return httpx.Response(r.status, headers=r.headers, content=r.body, request=request)


class SessionHeaders:
    """The headers of each request of one session with a target: `handshake` on the session's own requests
    (`initialize`, `notifications/initialized`, and any request without a JSON-RPC method), `request` on the rest."""

    def __init__(self, handshake: dict[str, str], request: dict[str, str]):
        self.handshake = handshake
        self.request = request

    def for_body(self, body: bytes) -> dict[str, str]:
        try:
            method = json.loads(body).get("method") if body else None
        except (ValueError, AttributeError):
            method = None
        if not isinstance(method, str) or method in HANDSHAKE_METHODS:
            return self.handshake
        return self.request


async def _target_session(albs: LoadBalancers, endpoint: str, headers: SessionHeaders, work: Any) -> Any:
    """Runs `work(session)` in an initialized MCP client session with the target (official MCP Python SDK)."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    client = httpx.AsyncClient(transport=AlbTransport(albs, INTERNET_GATEWAY_SOURCE, headers), timeout=30)
    try:
        async with client:
            async with streamable_http_client(endpoint, http_client=client) as (read, write, _):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    return await work(session)
    except BaseExceptionGroup as group:  # anyio task groups wrap what failed
        raise _target_error(group) from None
    except Exception as e:  # noqa: BLE001
        raise _target_error(e) from None


async def _all_tools(session: Any) -> list[dict[str, Any]]:
    """Every page of the target's tools/list."""
    tools, cursor = [], None
    while True:
        page = await session.list_tools(cursor=cursor) if cursor else await session.list_tools()
        tools += [t.model_dump(by_alias=True, exclude_none=True) for t in page.tools]
        cursor = page.nextCursor
        if not cursor:
            return tools


def _target_error(e: BaseException) -> TargetError:
    leaves: list[BaseException] = []

    def walk(x: BaseException) -> None:
        if isinstance(x, BaseExceptionGroup):
            for inner in x.exceptions:
                walk(inner)
        else:
            leaves.append(x)

    walk(e)
    for leaf in leaves:
        if isinstance(leaf, httpx.HTTPStatusError):
            body = leaf.response.text[:200].strip() if leaf.response is not None else ""
            return TargetError(f"HTTP {leaf.response.status_code} from the MCP server: {body}", leaf.response.status_code)
        if isinstance(leaf, httpx.ConnectError):
            return TargetError(f"cannot connect to the MCP server: {leaf}")
    from mcp.shared.exceptions import McpError

    for leaf in leaves:
        if isinstance(leaf, McpError):
            return TargetError(f"the MCP server answered with an error: {leaf.error.message}")
    return TargetError(f"{type(leaves[0]).__name__}: {leaves[0]}" if leaves else str(e))


def _mcp_endpoint(target: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    server = (((target.get("targetConfiguration") or {}).get("mcp") or {}).get("mcpServer")) or {}
    return server.get("endpoint", ""), server.get("listingMode") or "DEFAULT", server


class Gateways:
    def __init__(
        self,
        aws: Aws,
        albs: LoadBalancers,
        lambdas: LambdaRuntime,
        tokens: TokenCheck,
        delay: float = 0.0,
        reading: str = DEFAULT_READING,
    ):
        if reading not in READINGS:
            raise ValueError(f"unknown reading {reading!r}: one of {', '.join(READINGS)}")
        self.reading = reading  # where the AgentCore guide is silent: "strict" or "lenient" (module docstring)
        self.delay = delay  # --agentcore-delay-seconds: how long a synchronisation takes
        self.aws = aws
        self.albs = albs
        self.lambdas = lambdas
        self.tokens = tokens
        # Tools cached by synchronisation (listingMode DEFAULT): (gateway id, target id) -> [tool dicts]
        self.cache: dict[tuple[str, str], list[dict[str, Any]]] = {}
        # The tool manifest a policy engine's schema is made of: gateway id -> {target name: [tools]}, from every
        # synchronisation and every listing of a target (policy.py; issue 20)
        self.manifests: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self.audit = Audit(aws)

    # ------------------------------------------------------------------------------------------------------------
    # The data plane
    # ------------------------------------------------------------------------------------------------------------

    async def handle(self, request: Any, gateway_id: str, region: str) -> Any:
        from starlette.responses import JSONResponse, Response

        try:
            gateway = self.aws.gateway(region, gateway_id)
        except NotFound:
            return JSONResponse({"message": "Gateway not found"}, status_code=404)
        if request.url.path != "/mcp":
            return JSONResponse({"message": "Not Found"}, status_code=404)
        if request.method != "POST":
            return Response(status_code=405, headers={"allow": "POST"})
        if gateway.get("status") not in ("READY", "UPDATING"):
            return JSONResponse(_jsonrpc_error(None, -32603, f"Gateway is {gateway.get('status')}"), status_code=503)
        raw = (await request.body()).decode("utf-8", "replace")

        # 1. Inbound authorization.
        authorizer = (gateway.get("authorizerConfiguration") or {}).get("customJWTAuthorizer")
        claims: dict[str, Any] | None = None  # the token's claims: the policy engine's principal and its tags
        if gateway.get("authorizerType") == "CUSTOM_JWT" and authorizer is not None:
            auth = request.headers.get("authorization", "")
            reason = "missing bearer token"
            if auth[:7].lower() == "bearer ":
                try:
                    claims = self.tokens.check(auth[7:].strip(), authorizer)
                except ValueError as e:
                    reason = str(e)
            if claims is None:
                return self._unauthorized(request, reason, authorizer)

        try:
            body = json.loads(raw)
        except ValueError:
            return JSONResponse(_jsonrpc_error(None, -32700, "Parse error"), status_code=400)
        if not isinstance(body, dict):
            return JSONResponse(_jsonrpc_error(None, -32600, "Invalid Request: batches are not supported"), status_code=400)
        headers = {k: v for k, v in request.headers.items()}
        client_headers = dict(headers)
        interceptor_headers: dict[str, str] | None = None

        # 2. REQUEST interceptors.
        for interceptor in gateway.get("interceptorConfigurations") or []:
            if "REQUEST" not in (interceptor.get("interceptionPoints") or []):
                continue
            arn = ((interceptor.get("interceptor") or {}).get("lambda") or {}).get("arn")
            pass_headers = bool((interceptor.get("inputConfiguration") or {}).get("passRequestHeaders"))
            gateway_request: dict[str, Any] = {"path": "/mcp", "httpMethod": "POST", "body": body}
            if pass_headers:
                gateway_request["headers"] = headers
            event = {
                "interceptorInputVersion": "1.0",
                "mcp": {"rawGatewayRequest": {"body": raw}, "gatewayRequest": gateway_request},
            }
            try:
                self._may_invoke(gateway, arn, region)
                invocation = await asyncio.to_thread(self.lambdas.invoke, arn, event)
            except InvokeError as e:
                return JSONResponse(
                    _jsonrpc_error(body.get("id"), -32603, _exception_text(gateway, f"Interceptor invocation failed: {e.kind}", e)),
                    status_code=500,
                )
            out = invocation.result if isinstance(invocation.result, dict) else {}
            if out.get("interceptorOutputVersion") != "1.0":
                return JSONResponse(
                    _jsonrpc_error(body.get("id"), -32603, "Interceptor returned an invalid response"), status_code=500
                )
            mcp_out = out.get("mcp") or {}
            if "transformedGatewayResponse" in mcp_out:
                answer = mcp_out["transformedGatewayResponse"] or {}
                content = answer.get("body")
                return Response(
                    json.dumps(content) if not isinstance(content, str) else content,
                    status_code=int(answer.get("statusCode", 200)),
                    headers={k: str(v) for k, v in (answer.get("headers") or {}).items() if k.lower() != "content-length"}
                    | {"content-type": "application/json"},
                )
            transformed = mcp_out.get("transformedGatewayRequest") or {}
            if "headers" in transformed and isinstance(transformed["headers"], dict):
                interceptor_headers = {str(k): str(v) for k, v in transformed["headers"].items()}
                refused = sorted(k for k, v in interceptor_headers.items() if _refused_by_validation(k, v))
                if refused and self.reading == "strict":
                    return JSONResponse(
                        _jsonrpc_error(body.get("id"), -32603, "Interceptor returned an invalid response"),
                        status_code=500,
                        headers={"x-standin-reason": "interceptor headers refused: " + ",".join(refused)},
                    )
            if "body" in transformed and isinstance(transformed["body"], dict):
                body = transformed["body"]

        # 3. The MCP request.
        method, request_id = body.get("method"), body.get("id")
        if request_id is None and isinstance(method, str):
            return Response(status_code=202)  # a notification
        if method == "initialize":
            return JSONResponse({"jsonrpc": "2.0", "id": request_id, "result": self._initialize(gateway, body)})
        if method == "ping":
            return JSONResponse({"jsonrpc": "2.0", "id": request_id, "result": {}})
        if method == "tools/list":
            return await self._tools_list(gateway, region, body, (client_headers, interceptor_headers), claims)
        if method == "tools/call":
            return await self._tools_call(gateway, region, body, (client_headers, interceptor_headers), claims)
        return JSONResponse(_jsonrpc_error(request_id, -32601, f"Method not found: {method}"))

    @staticmethod
    def _may_invoke(gateway: dict[str, Any], function_arn: str, region: str) -> None:
        """AgentCore invokes the interceptor with the gateway's role: the role must trust the service (with its
        trust policy's conditions on the source account and gateway) and allow lambda:InvokeFunction on the
        function (AgentCore guide, gateway prerequisites: an identity policy suffices in the same account).
        A denial is an invoke failure of kind AccessDeniedException (iam.py)."""
        role = gateway.get("roleArn") or ""
        gateway_arn = gateway.get("gatewayArn") or ""
        try:
            iam.assume(
                role,
                "bedrock-agentcore.amazonaws.com",
                {"aws:SourceAccount": gateway_arn.split(":")[4] if gateway_arn.count(":") >= 5 else "", "aws:SourceArn": gateway_arn},
            )
            iam.check(role, "lambda:InvokeFunction", function_arn, session=gateway.get("gatewayId") or "gateway")
        except iam.AccessDenied as e:
            raise InvokeError("AccessDeniedException", str(e)) from None

    def _unauthorized(self, request: Any, reason: str, authorizer: dict[str, Any]) -> Any:
        """The guide's "Scope advertisement in authentication challenges": 401 for no or an invalid token, 403 with
        error="insufficient_scope" for a valid token without the required scope; both with a WWW-Authenticate
        header naming `resource_metadata` and `scope`. The body is not documented: a JSON-RPC error, as reported."""
        from starlette.responses import JSONResponse

        resource = f"https://{request.headers.get('host', '').split(':')[0]}/.well-known/oauth-protected-resource"
        scope = " ".join(authorizer.get("allowedScopes") or [])
        insufficient = reason == "scope not allowed"
        challenge = f'Bearer resource_metadata="{resource}", scope="{scope}"'
        if insufficient:
            challenge = f'Bearer error="insufficient_scope", resource_metadata="{resource}", scope="{scope}"'
        return JSONResponse(
            _jsonrpc_error(0, -32001, "Insufficient scope" if insufficient else "Invalid Bearer token"),
            status_code=403 if insufficient else 401,
            headers={"www-authenticate": challenge, "x-standin-reason": reason},
        )

    def _initialize(self, gateway: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        supported = ((gateway.get("protocolConfiguration") or {}).get("mcp") or {}).get("supportedVersions") or [
            "2025-03-26"
        ]
        asked = ((body.get("params") or {}).get("protocolVersion")) or ""
        version = asked if asked in supported else sorted(supported)[-1]
        return {
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": gateway.get("name", "gateway"), "version": SERVER_VERSION},
        }

    def _forwarded(self, target: dict[str, Any], client: dict[str, str], interceptor: dict[str, str] | None) -> dict[str, str]:
        """What goes to the target (the guide's "Header propagation from interceptor lambda"): the client's
        allow-listed headers, merged with the interceptor's allow-listed ones, which win on a conflict; and the
        interceptor's `Authorization`, which is forwarded without being allow-listed. Never the client's own
        `Authorization`, never a header the guide's validation refuses (by name or by value: under the strict
        reading an interceptor's such header has already failed the request, under the lenient one it is dropped
        here)."""
        allowed = {h.lower() for h in ((target.get("metadataConfiguration") or {}).get("allowedRequestHeaders") or [])}
        out: dict[str, str] = {}
        for source in (client, interceptor or {}):
            for k, v in source.items():
                if k.lower() in allowed and not _restricted(k) and not _refused_by_validation(k, v):
                    for existing in [e for e in out if e.lower() == k.lower()]:
                        del out[existing]
                    out[k] = v
        for k, v in (interceptor or {}).items():
            if k.lower() == "authorization":
                out["Authorization"] = v
        return out

    def _provider_headers(self, region: str, target: dict[str, Any]) -> dict[str, str]:
        """What the target's credential provider adds to every request to it (module docstring)."""
        out: dict[str, str] = {}
        for config in target.get("credentialProviderConfigurations") or []:
            if config.get("credentialProviderType") != "API_KEY":
                continue
            provider = (config.get("credentialProvider") or {}).get("apiKeyCredentialProvider") or {}
            if (provider.get("credentialLocation") or "HEADER") != "HEADER":
                raise TargetError("the stand-in places API keys in headers only")
            provider_arn = provider.get("providerArn", "")
            try:
                key = self.aws.api_key(
                    region, provider_arn, authorise=lambda secret_arn: self._may_use_key(target, provider_arn, secret_arn)
                )
            except NotFound as e:
                raise TargetError(f"the credential provider could not vend its key: {e}") from None
            except iam.AccessDenied as e:
                raise TargetError(f"the credential provider could not vend its key: AccessDeniedException: {e}") from None
            name = provider.get("credentialParameterName") or API_KEY_DEFAULT_HEADER
            prefix = provider.get("credentialPrefix")
            out[name] = (API_KEY_DEFAULT_PREFIX if prefix is None else prefix) + key
        return out

    def _may_use_key(self, target: dict[str, Any], provider_arn: str, secret_arn: str) -> None:
        """AgentCore fetches an API key for a target with the gateway's role (the starter toolkit's gateway role for
        API-key targets: GetWorkloadAccessToken on the workload identity, GetResourceApiKey on the provider, and
        the key's secret): each is evaluated against the role's policies as stored now (iam.py)."""
        gateway_arn = target.get("gatewayArn") or ""
        gateway = self.aws.gateway(provider_arn.split(":")[3], gateway_arn.rsplit("/", 1)[-1])
        role = gateway.get("roleArn") or ""
        prefix = provider_arn.split(":token-vault/")[0] if ":token-vault/" in provider_arn else ":".join(provider_arn.split(":")[:5])
        session = gateway.get("gatewayId") or "gateway"
        workload = f"{prefix}:workload-identity-directory/default/workload-identity/{gateway.get('name', '')}"
        iam.check(role, "bedrock-agentcore:GetWorkloadAccessToken", workload, session=session)
        iam.check(role, "bedrock-agentcore:GetResourceApiKey", provider_arn, session=session)
        iam.check(role, "secretsmanager:GetSecretValue", secret_arn, session=session)

    def _session_headers(self, region: str, target: dict[str, Any], headers: tuple, listing: bool) -> SessionHeaders:
        """The headers of a session for a client's request: the credential provider's on every request; the
        forwarded ones (client and interceptor) on the request itself, and — under the lenient reading only — on
        the handshake and on a DYNAMIC listing too."""
        provider = self._provider_headers(region, target)
        forwarded = self._forwarded(target, *headers)
        both = {k: v for k, v in forwarded.items() if k.lower() not in {p.lower() for p in provider}} | provider
        if "Authorization" in forwarded:  # an interceptor's Authorization overrides the provider's
            both = {k: v for k, v in both.items() if k.lower() != "authorization"} | {"Authorization": forwarded["Authorization"]}
        if self.reading == "lenient":
            return SessionHeaders(both, both)
        return SessionHeaders(provider, provider if listing else both)

    def _ready_targets(self, region: str, gateway_id: str) -> list[dict[str, Any]]:
        return [t for t in self.aws.targets(region, gateway_id) if t.get("status") == "READY"]

    async def _target_tools(self, region: str, gateway_id: str, target: dict[str, Any], headers: tuple) -> list[dict[str, Any]]:
        endpoint, mode, _ = _mcp_endpoint(target)
        if mode == "DEFAULT":
            return self.cache.get((gateway_id, target["targetId"]), [])

        tools = await _target_session(
            self.albs, endpoint, self._session_headers(region, target, headers, listing=True), _all_tools
        )
        self.manifests.setdefault(gateway_id, {})[target["name"]] = tools
        return tools

    def manifest_of(self, gateway_id: str) -> dict[str, list[dict[str, Any]]]:
        """The tools the gateway knows of each target, for its policy engine's schema (policy.py)."""
        return {name: list(tools) for name, tools in self.manifests.get(gateway_id, {}).items()}

    def _policies(self, gateway: dict[str, Any], region: str) -> tuple[str, list[tuple[str, str]]] | None:
        """The gateway's policy engine mode and deciding policies, or None when it names no engine (policy.py).
        Raises policy.EngineUnavailable when it names one that cannot be read."""
        config = gateway.get("policyEngineConfiguration") or {}
        if not config.get("arn"):
            return None
        role, session = gateway.get("roleArn") or "", gateway.get("gatewayId") or "gateway"
        try:  # the gateway evaluates with its role (policy.ROLE_ACTIONS): each action on the engine and the gateway
            for action in policy.ROLE_ACTIONS:
                for resource in (config["arn"], gateway.get("gatewayArn") or ""):
                    iam.check(role, action, resource, session=session)
        except iam.AccessDenied as e:
            raise policy.EngineUnavailable(f"AccessDeniedException: {e}") from None
        return config.get("mode") or "LOG_ONLY", policy.engine_policies(self.aws, region, config["arn"])

    async def _tools_list(
        self, gateway: dict[str, Any], region: str, body: dict[str, Any], headers: tuple, claims: dict[str, Any] | None = None
    ) -> Any:
        from starlette.responses import JSONResponse

        request_id = body.get("id")
        try:
            engine = self._policies(gateway, region)
        except policy.EngineUnavailable as e:
            return JSONResponse(
                _jsonrpc_error(request_id, -32603, _exception_text(gateway, "Policy evaluation failed for list tools", e))
            )
        listed: list[dict[str, Any]] = []
        for target in self._ready_targets(region, gateway["gatewayId"]):
            try:
                tools = await self._target_tools(region, gateway["gatewayId"], target, headers)
            except TargetError as e:
                return JSONResponse(
                    _jsonrpc_error(request_id, -32603, f"Failed to list tools of target {target['name']}: {e}")
                )
            for tool in tools:
                listed.append(dict(tool, name=f"{target['name']}___{tool['name']}"))
        if engine is not None and engine[0] == "ENFORCE":  # a principal sees only the tools it may call
            listed = [t for t in listed if policy.may_list(engine[1], gateway["gatewayArn"], claims, t["name"])]
        cursor = (body.get("params") or {}).get("cursor")
        try:
            start = int(cursor) if cursor else 0
        except ValueError:
            return JSONResponse(_jsonrpc_error(request_id, -32602, "Invalid cursor"))
        page = listed[start : start + PAGE_SIZE]
        result: dict[str, Any] = {"tools": page}
        if start + PAGE_SIZE < len(listed):
            result["nextCursor"] = str(start + PAGE_SIZE)
        return JSONResponse({"jsonrpc": "2.0", "id": request_id, "result": result})

    async def _tools_call(
        self, gateway: dict[str, Any], region: str, body: dict[str, Any], headers: tuple, claims: dict[str, Any] | None = None
    ) -> Any:
        from starlette.responses import JSONResponse

        started = time.monotonic()
        request_id = body.get("id")
        params = body.get("params") or {}
        name = str(params.get("name", ""))
        arguments = params.get("arguments") or {}
        audit_policy: dict[str, Any] | None = None

        def audited(outcome: str, response: Any, detail: str | None = None) -> Any:
            record = audit_line(
                gateway_id=gateway["gatewayId"], claims=claims, tool=name, outcome=outcome, started=started,
                arguments=arguments, policy=audit_policy, detail=detail,
            )
            self.audit.write(region, gateway.get("gatewayArn", ""), record)
            return response

        target_name, sep, tool = name.partition("___")
        target = next((t for t in self._ready_targets(region, gateway["gatewayId"]) if t["name"] == target_name), None)
        if not sep or target is None:
            return audited("error", JSONResponse(_jsonrpc_error(request_id, -32602, f"Unknown tool: {name}")), "unknown tool")
        endpoint, _, _ = _mcp_endpoint(target)

        # The policy engine decides before anything goes to the target (policy.py; issue 20).
        try:
            engine = self._policies(gateway, region)
        except policy.EngineUnavailable as e:
            text = _exception_text(gateway, "Policy evaluation failed for call tool", e)
            return audited("error", JSONResponse(_jsonrpc_error(request_id, -32603, text)), "policy evaluation failed")
        if engine is not None:
            mode, policies = engine
            ready = {t["name"] for t in self._ready_targets(region, gateway["gatewayId"])}
            manifest = {k: v for k, v in self.manifest_of(gateway["gatewayId"]).items() if k in ready}
            decision = policy.authorize(policies, manifest, gateway["gatewayArn"], claims, name, arguments)
            audit_policy = {"mode": mode, "decision": "allow" if decision.allowed else "deny", "reason": decision.reason}
            if not decision.allowed and mode == "ENFORCE":
                message = f"{policy.DENIED_MESSAGE} [{decision.reason}]"
                return audited("denied", JSONResponse(_jsonrpc_error(request_id, policy.DENIED_CODE, message)))

        from mcp.shared.exceptions import McpError

        async def work(session: Any) -> dict[str, Any]:
            try:
                result = await session.call_tool(tool, params.get("arguments") or {})
            except McpError as e:  # the server's JSON-RPC error goes back to the caller as it is
                return {"error": e.error.model_dump(exclude_none=True)}
            return {"result": result.model_dump(by_alias=True, exclude_none=True)}

        try:
            session = self._session_headers(region, target, headers, listing=False)
            answer = await _target_session(self.albs, endpoint, session, work)
        except TargetError as e:
            text = f"Failed to call tool {name} on target {target_name}: {e}"
            return audited("error", JSONResponse(_jsonrpc_error(request_id, -32603, text)), "target unreachable")
        response = JSONResponse({"jsonrpc": "2.0", "id": request_id, **answer})
        if "error" in answer:
            return audited("error", response, f"JSON-RPC error {answer['error'].get('code')}")
        if (answer.get("result") or {}).get("isError"):
            return audited("error", response, "tool result isError")
        return audited("allowed", response)

    # ------------------------------------------------------------------------------------------------------------
    # The control plane's synchronisation of MCP server targets
    # ------------------------------------------------------------------------------------------------------------

    def synchronise(self, target_obj: Any, failed_status: str) -> None:
        """Lists the target's tools as the gateway does after a create, update or sync request, and sets the
        target's status on moto's model: READY, or `failed_status` with the reason."""
        if self.delay:
            time.sleep(self.delay)
        config = target_obj.target_configuration or {}
        server = ((config.get("mcp") or {}).get("mcpServer")) or {}
        endpoint, mode = server.get("endpoint", ""), server.get("listingMode") or "DEFAULT"
        key = (target_obj.gateway_id, target_obj.target_id)
        status, reasons = "READY", []
        self.cache.pop(key, None)
        # Strict reading: a DYNAMIC target is contacted exactly like a DEFAULT one (its tools are not cached).
        if mode == "DEFAULT" or self.reading == "strict":
            target = {
                "credentialProviderConfigurations": target_obj.credential_provider_configurations or [],
                "gatewayArn": target_obj.gateway_arn,
            }
            try:
                provider = self._provider_headers(target_obj.region_name, target)
                tools = asyncio.run(_target_session(self.albs, endpoint, SessionHeaders(provider, provider), _all_tools))
                if mode == "DEFAULT":
                    self.cache[key] = tools
                self.manifests.setdefault(target_obj.gateway_id, {})[target_obj.name] = tools
            except TargetError as e:
                status, reasons = failed_status, [f"Unable to connect to the MCP server: {e}"]
        with _sync_lock:
            target_obj.status = status
            target_obj.status_reasons = reasons
            target_obj._transitions = []  # the outcome is final; moto's clock must not move it on

    def install_control_plane_hooks(self) -> None:
        from moto.bedrockagentcorecontrol.models import BedrockAgentCoreControlBackend as Backend
        from moto.bedrockagentcorecontrol.models import GatewayTarget

        plane = self
        policy.MANIFEST_OF_GATEWAY = self.manifest_of  # CreatePolicy validates against what this gateway knows

        def start(target: Any, failed_status: str) -> None:
            threading.Thread(
                target=plane.synchronise, args=(target, failed_status), daemon=True, name="target-sync"
            ).start()

        original_create = Backend.create_gateway_target

        def create_gateway_target(self: Any, *args: Any, **kwargs: Any) -> Any:
            target = original_create(self, *args, **kwargs)
            target.status = "CREATING"
            target._transitions = []
            start(target, "FAILED")
            return target

        original_update = GatewayTarget.update

        def update(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = original_update(self, *args, **kwargs)
            self.status = "UPDATING"
            self._transitions = []
            start(self, "UPDATE_UNSUCCESSFUL")
            return result

        Backend.create_gateway_target = create_gateway_target  # type: ignore[method-assign]
        GatewayTarget.update = update  # type: ignore[method-assign]

        def sync_hook(target: Any) -> None:
            target._transitions = []
            start(target, "SYNCHRONIZE_UNSUCCESSFUL")

        self.sync_hook = sync_hook
