"""The Application Load Balancer stand-in: what happens to an HTTPS request sent to the stack's public name.

For every request it reads what is stored in the emulator *now* and acts as ELB does (Elastic Load Balancing
user guide for ALBs: "Listener rules", "Rule condition types", "Target groups — health checks"):
- the load balancer's security groups must admit the client's address on the listener's port (otherwise the
  connection times out: security groups drop, they do not refuse);
- the HTTPS listener presents the certificate that covers the requested host name (SNI), the default one or one
  added to the listener; a client that checks certificates — the AgentCore gateway does — refuses one that no
  public CA signed;
- the rules are evaluated in priority order, the default rule last; conditions `host-header`, `path-pattern`,
  `http-header`, `http-request-method`, `source-ip` (values with `*` and `?` wildcards, header names
  case-insensitive); actions `forward` (target group, or weighted groups), `fixed-response`, `redirect`;
- a forward goes to a healthy registered target; when every registered target is unhealthy, to any of them (ALBs
  fail open); none registered: 503; a target that does not accept the connection is a 502 (the container is not
  listening there).
ALB adds `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Port` and `X-Amzn-Trace-Id`.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import itertools
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from .aws import Aws, NotFound
from .neo4j_mcp import ConnectionRefused, Tasks


class ConnectFailed(Exception):
    """The client could not reach the listener or complete TLS; `kind` is what it would see."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _text(status: int, body: str, content_type: str = "text/html") -> Response:
    return Response(status, [("content-type", content_type)], body.encode())


def _match(pattern: str, value: str, case: bool = False) -> bool:
    if not case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern)


def _condition_holds(cond: dict[str, Any], host: str, path: str, method: str, headers: dict[str, list[str]], source: str) -> bool:
    field = cond.get("Field")
    if field == "host-header":
        values = (cond.get("HostHeaderConfig") or {}).get("Values") or cond.get("Values") or []
        return any(_match(v, host) for v in values)
    if field == "path-pattern":
        values = (cond.get("PathPatternConfig") or {}).get("Values") or cond.get("Values") or []
        return any(_match(v, path, case=True) for v in values)
    if field == "http-header":
        cfg = cond.get("HttpHeaderConfig") or {}
        name = (cfg.get("HttpHeaderName") or "").lower()
        return any(_match(v, got) for v in cfg.get("Values", []) for got in headers.get(name, []))
    if field == "http-request-method":
        values = (cond.get("HttpRequestMethodConfig") or {}).get("Values", [])
        return method in values
    if field == "source-ip":
        values = (cond.get("SourceIpConfig") or {}).get("Values", [])
        ip = ipaddress.ip_address(source)
        return any(ip in ipaddress.ip_network(v, strict=False) for v in values)
    return False  # a condition type the stand-in does not know never matches


class LoadBalancers:
    def __init__(self, aws: Aws, tasks: Tasks):
        self.aws = aws
        self.tasks = tasks
        self._rr = itertools.count()

    def certificate_problem(self, region: str, listener: dict[str, Any], host: str) -> str | None:
        """Why a client that verifies certificates would refuse the TLS handshake for `host`, or None."""
        for arn in self.aws.listener_certificates(region, listener):
            try:
                cert = self.aws.certificate(arn)
            except Exception:  # noqa: BLE001
                continue
            if not self.aws.covers(cert, host):
                continue
            if cert.get("Status") != "ISSUED":
                return f"the certificate for {host} is {cert.get('Status')}"
            kind = cert.get("Type")
            if kind == "PRIVATE":
                return f"x509: certificate for {host} signed by a private CA (not publicly trusted)"
            subject_cn = str(cert.get("Subject", "")).removeprefix("CN=").split(",")[0]
            if kind == "IMPORTED" and cert.get("Issuer") in (subject_cn, cert.get("Subject")):
                return f"x509: certificate for {host} is self-signed (not publicly trusted)"
            return None
        return f"x509: no certificate of the listener covers {host}"

    async def request(
        self,
        fqdn: str,
        *,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes,
        source_ip: str,
        port: int = 443,
    ) -> Response:
        """One request from `source_ip` to https://fqdn:port/path. Raises ConnectFailed when it cannot connect."""
        try:
            lb_dns = self.aws.resolve_alias(fqdn)
            region, lb = self.aws.load_balancer_by_dns(lb_dns)
        except NotFound as e:
            raise ConnectFailed("dns", str(e)) from None
        if (lb.get("State") or {}).get("Code") not in ("active", "provisioning"):
            raise ConnectFailed("connect", f"the load balancer is {(lb.get('State') or {}).get('Code')}")
        if lb.get("Scheme") != "internet-facing" and not ipaddress.ip_address(source_ip).is_private:
            raise ConnectFailed("connect", "an internal load balancer cannot be reached from the internet")
        if not self.aws.ingress_allows(region, lb.get("SecurityGroups", []), port, source_ip):
            raise ConnectFailed(
                "timeout",
                f"connection to {fqdn}:{port} timed out: the load balancer's security groups do not admit {source_ip}",
            )
        listener = self.aws.listener(region, lb["LoadBalancerArn"], port)
        if listener is None:
            raise ConnectFailed("refused", f"connection to {fqdn}:{port} refused: no listener on port {port}")
        if listener.get("Protocol") == "HTTPS":
            problem = self.certificate_problem(region, listener, fqdn)
            if problem:
                raise ConnectFailed("tls", problem)
        by_name: dict[str, list[str]] = {}
        for k, v in headers:
            by_name.setdefault(k.lower(), []).append(v)
        for rule in self.aws.rules(region, listener["ListenerArn"]):
            conditions = rule.get("Conditions", [])
            if all(_condition_holds(c, fqdn, path, method, by_name, source_ip) for c in conditions):
                return await self._act(region, rule.get("Actions", []), fqdn, method, path, query, headers, body, source_ip, port)
        return _text(503, "no rule matched")

    async def _act(self, region, actions, fqdn, method, path, query, headers, body, source_ip, port) -> Response:
        for action in sorted(actions, key=lambda a: a.get("Order", 0)):
            kind = action.get("Type")
            if kind == "fixed-response":
                cfg = action.get("FixedResponseConfig") or {}
                return _text(int(cfg.get("StatusCode", 503)), cfg.get("MessageBody", ""), cfg.get("ContentType", "text/plain"))
            if kind == "redirect":
                cfg = action.get("RedirectConfig") or {}
                location = f"{cfg.get('Protocol', 'https').lower()}://{cfg.get('Host', fqdn)}:{cfg.get('Port', port)}{cfg.get('Path', path)}"
                code = 301 if cfg.get("StatusCode") == "HTTP_301" else 302
                return Response(code, [("location", location)], b"")
            if kind == "forward":
                groups = []
                if action.get("TargetGroupArn"):
                    groups.append(action["TargetGroupArn"])
                for g in (action.get("ForwardConfig") or {}).get("TargetGroups", []):
                    if g.get("Weight", 1) > 0:
                        groups.append(g["TargetGroupArn"])
                return await self._forward(region, list(dict.fromkeys(groups)), method, path, query, headers, body, source_ip, port)
        return _text(500, "unsupported action")

    async def _forward(self, region, groups, method, path, query, headers, body, source_ip, port) -> Response:
        targets = [t for g in groups for t in self.aws.routable_targets(region, g)]
        if not targets:
            return _text(503, "<html><body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>")
        ip, target_port = targets[next(self._rr) % len(targets)]
        try:
            host, local_port = self.tasks.connect(region, ip, target_port)
        except ConnectionRefused:
            return _text(502, "<html><body><center><h1>502 Bad Gateway</h1></center></body></html>")
        hop = {"connection", "keep-alive", "transfer-encoding", "upgrade", "content-length"}
        out = [(k, v) for k, v in headers if k.lower() not in hop and not k.lower().startswith("x-forwarded-")]
        out += [
            ("x-forwarded-for", source_ip),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-port", str(port)),
            ("x-amzn-trace-id", f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}"),
        ]
        url = f"http://{host}:{local_port}{path}" + (f"?{query}" if query else "")
        try:
            async with httpx.AsyncClient(timeout=60, trust_env=False) as client:
                r = await client.request(method, url, headers=out, content=body)
        except httpx.HTTPError:
            return _text(502, "<html><body><center><h1>502 Bad Gateway</h1></center></body></html>")
        keep = [(k, v) for k, v in r.headers.multi_items() if k.lower() not in hop]
        return Response(r.status_code, keep, r.content)
