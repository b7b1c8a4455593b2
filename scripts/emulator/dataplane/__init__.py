"""The local data plane: stand-ins, on loopback, for the parts of AWS that moto does not serve and that the
stack's agent path goes through — Cognito's token endpoint, the AgentCore gateway's MCP endpoint, the
Application Load Balancer, the Neo4j MCP server of each ECS task and the Neo4j database — each a small real
server that reads what the control plane (moto, in the same process) holds at the moment of the request.

One HTTP front on 127.0.0.1 plays "the internet": a request reaches it with the public host name in the Host
header (neo4j-gw's `--data-plane-endpoint` sends it so, and never resolves the name) and goes to the stand-in of
that name:

    <prefix>.auth.<region>.amazoncognito.com          the Cognito domain's /oauth2/token
    <gatewayId>.gateway.bedrock-agentcore.<region>.amazonaws.com   the gateway's /mcp
    any name with an A alias to a load balancer        that load balancer (HTTPS listener rules, targets)

`/_dataplane/...` on 127.0.0.1 is the control API of the tests and the demo (the Neo4j stand-in's users).
docs/emulator.md describes what each stand-in does and the sources it follows.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from typing import Any

from .alb import ConnectFailed, LoadBalancers
from .aws import Aws
from .cognito import TokenCheck, TokenEndpoint
from .gateway import Gateways
from .lambda_runtime import LambdaRuntime
from .neo4j_dbms import Neo4jStandIn
from .neo4j_mcp import Tasks

COGNITO_HOST = re.compile(r"^(?P<prefix>[a-z0-9-]+)\.auth\.(?P<region>[a-z0-9-]+)\.amazoncognito\.com$")
GATEWAY_HOST = re.compile(r"^(?P<id>[0-9a-z-]+)\.gateway\.bedrock-agentcore\.(?P<region>[a-z0-9-]+)\.amazonaws\.com$")

# The address the stand-ins give a client on the internet (a documentation address, RFC 5737): AgentCore
# publishes no egress ranges, so the gateway's requests come from an address the stack cannot know either.
INTERNET_CLIENT = "203.0.113.10"


def _quiet_libraries() -> None:
    """The stand-ins' HTTP clients log every request at INFO; the emulator's stderr keeps errors only. (They never
    log headers or bodies at any level used here.)"""
    import logging

    for name in ("httpx", "httpcore", "mcp", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)


class DataPlane:
    def __init__(self, moto_endpoint: str, agentcore_delay_seconds: float = 0.0, agentcore_reading: str | None = None):
        _quiet_libraries()
        self.aws = Aws(moto_endpoint)
        self.neo4j = Neo4jStandIn()
        self.tasks = Tasks(self.aws, self.neo4j)
        self.albs = LoadBalancers(self.aws, self.tasks)
        self.lambdas = LambdaRuntime(self.aws)
        self.tokens = TokenEndpoint(self.aws)
        # agentcore_reading: where the AgentCore guide is silent (gateway.py's module docstring); None: its default.
        reading = {"reading": agentcore_reading} if agentcore_reading is not None else {}
        self.gateways = Gateways(self.aws, self.albs, self.lambdas, TokenCheck(self.aws), agentcore_delay_seconds, **reading)
        self.server: Any = None
        self.port = 0

    # ------------------------------------------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response

        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        host = (request.headers.get("host") or "").split(":")[0].lower()
        try:
            if host in ("127.0.0.1", "localhost") and request.url.path.startswith("/_dataplane/"):
                response = await self.control(request)
            elif host in ("127.0.0.1", "localhost") and request.url.path == "/oauth2/token":
                response = await self.tokens(request, None, "us-east-1")
            elif m := COGNITO_HOST.match(host):
                response = await self.tokens(request, m.group("prefix"), m.group("region"))
            elif m := GATEWAY_HOST.match(host):
                response = await self.gateways.handle(request, m.group("id"), m.group("region"))
            else:
                response = await self.internet(request, host)
        except Exception as e:  # noqa: BLE001 - a stand-in's own failure, reported as such
            import traceback

            traceback.print_exc()
            response = JSONResponse({"error": "data plane stand-in failed", "detail": f"{type(e).__name__}: {e}"}, status_code=599)
        await response(scope, receive, send)

    async def internet(self, request: Any, host: str) -> Any:
        """A request from an arbitrary client on the internet to https://<host>/… (the load balancer's name)."""
        from starlette.responses import JSONResponse, Response

        body = await request.body()
        try:
            r = await self.albs.request(
                host,
                method=request.method,
                path=request.url.path,
                query=request.url.query,
                headers=[(k, v) for k, v in request.headers.items() if k.lower() != "host"] + [("host", host)],
                body=body,
                source_ip=INTERNET_CLIENT,
            )
        except ConnectFailed as e:
            # The client could not connect at all; the front answers 599 with what it would have seen.
            return JSONResponse({"error": "connect", "kind": e.kind, "detail": str(e)}, status_code=599)
        response = Response(r.body, status_code=r.status)
        response.headers.clear() if hasattr(response.headers, "clear") else None
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in r.headers if k.lower() != "content-length"]
        raw.append((b"content-length", str(len(r.body)).encode()))
        response.raw_headers = raw
        return response

    async def control(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        path = request.url.path
        if path == "/_dataplane/neo4j" and request.method == "PUT":
            doc = await request.json()
            self.neo4j.register(doc["uri"], doc.get("users", {}), doc.get("databases", ["neo4j"]), doc.get("without_apoc", []))
            return JSONResponse({"ok": True})
        if path == "/_dataplane/neo4j/password" and request.method == "POST":
            doc = await request.json()
            self.neo4j.set_password(doc["uri"], doc["user"], doc["password"])
            return JSONResponse({"ok": True})
        if path == "/_dataplane/neo4j/apoc" and request.method == "POST":
            doc = await request.json()
            self.neo4j.set_apoc(doc["uri"], doc["database"], bool(doc["installed"]))
            return JSONResponse({"ok": True})
        if path == "/_dataplane/cognito/mint" and request.method == "POST":
            # A token as the Cognito stand-in issues it, with a chosen lifetime (negative: already expired).
            from .cognito import mint

            doc = await request.json()
            now = int(time.time())
            lifetime = int(doc.get("lifetime", 3600))
            if lifetime > 0:
                token = mint(doc["region"], doc["pool_id"], doc["client_id"], doc["scopes"], lifetime, now=now)
            else:  # issued an hour before it expired, `-lifetime` seconds ago
                token = mint(doc["region"], doc["pool_id"], doc["client_id"], doc["scopes"], 3600, now=now - 3600 + lifetime)
            return JSONResponse({"access_token": token})
        if path == "/_dataplane/force-state" and request.method == "POST":
            from . import states

            return JSONResponse(states.force(await request.json()))
        if path == "/_dataplane/neo4j/writes" and request.method == "GET":
            return JSONResponse({"writes": self.neo4j.writes(request.query_params["uri"], request.query_params["database"])})
        return JSONResponse({"error": "unknown control path"}, status_code=404)

    # ------------------------------------------------------------------------------------------------------------

    def start(self) -> str:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(256)
        self.port = sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(self, log_level="warning", lifespan="on", access_log=False))
        threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True, name="data-plane").start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        from . import states

        from . import iam

        iam.install()
        self.gateways.install_control_plane_hooks()
        self.install_health_checks()
        states.install()
        return f"http://127.0.0.1:{self.port}"

    def install_health_checks(self) -> None:
        """ELB health checks of IP targets, for real: a registered target is healthy only when the container
        behind its address answers the target group's health check (path and success codes). moto reports every
        registered target healthy; with this, a task whose server did not start, or a wrong health-check path,
        shows as unhealthy with ELB's reason codes, as on AWS."""
        from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup

        tasks = self.tasks
        original = FakeTargetGroup.health_for

        def health_for(group: Any, target: dict[str, Any], ec2_backend: Any) -> Any:
            result = original(group, target, ec2_backend)
            if result.status != "healthy" or group.target_type != "ip" or not group.health_check_enabled:
                return result
            port = int(result.port)
            if group.health_check_port not in (None, "traffic-port"):
                port = int(group.health_check_port)
            codes = (group.matcher or {}).get("HttpCode", "200")
            problem = tasks.health(group.region_name, result.instance_id, port, group.health_check_path or "/", codes)
            if problem is None:
                return result
            return FakeHealthStatus(result.instance_id, result.port, group.health_check_port, "unhealthy", *problem)

        FakeTargetGroup.health_for = health_for  # type: ignore[method-assign]

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        self.tasks.close()
        self.lambdas.close()
