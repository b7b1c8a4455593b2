"""The in-task proxy stand-in: what the official `caddy` image does when an ECS task runs it with the command
`caddy reverse-proxy --from <addr> --to <addr> [--header-up "Field: value"]…` — the subset of Caddy's
`reverse-proxy` command (caddyserver/caddy `modules/caddyhttp/reverseproxy/command.go`) that neo4j-gw uses:

- `--from`: the address to listen on. Without a host (`:8080`) Caddy serves plain HTTP on every interface at that
  port; a host name makes it serve HTTPS (not used, refused here).
- `--to`: the upstream, HTTP unless it names a scheme; inside a task's network namespace `127.0.0.1`/`localhost`
  is the other containers of the task. A request the upstream does not answer (nothing listens there) gets
  502, as Caddy answers a failed dial.
- `--header-up "Field: value"`: sets (replaces) that request header on the way to the upstream; the value's
  placeholders are evaluated per request — `{env.NAME}` is the container's environment variable NAME (Caddy's
  global placeholder), so a secret that ECS put in the environment never appears in the command. The flag is a
  string slice, so a value must not contain a comma. A missing `:` or an empty field or value stops Caddy at start
  (`header-up N: invalid format …`).
- Every other request header, the method, path, query and body are passed through unmodified; the response comes
  back as the upstream gave it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import httpx

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host"}


class ProxyStartupError(Exception):
    """Caddy exits at start; the message is what it prints."""


@dataclass
class ProxySettings:
    listen_host: str
    listen_port: int
    upstream_host: str
    upstream_port: int
    header_up: list[tuple[str, str]]


def is_caddy(image: str) -> bool:
    """`caddy`, `caddy:2.10`, `library/caddy:…`, `docker.io/library/caddy@sha256:…`."""
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0] == "caddy"


def _split_slice(values: list[str]) -> list[str]:
    """cobra's StringSlice: every occurrence of the flag, each split at commas."""
    out: list[str] = []
    for v in values:
        out += [part for part in v.split(",")]
    return out


def parse_command(command: list[str]) -> ProxySettings:
    """The settings of `caddy reverse-proxy …` (the container's `command`)."""
    args = list(command)
    if args[:1] == ["caddy"]:
        args = args[1:]
    if args[:1] != ["reverse-proxy"]:
        raise ProxyStartupError(f"the stand-in runs `caddy reverse-proxy` only, not {' '.join(command) or '(no command)'}")
    flags: dict[str, list[str]] = {"from": [], "to": [], "header-up": []}
    aliases = {"f": "from", "t": "to", "H": "header-up"}
    i = 1
    while i < len(args):
        arg = args[i]
        name, value = arg, None
        if arg.startswith("--"):
            name = arg[2:]
        elif arg.startswith("-") and len(arg) == 2:
            name = aliases.get(arg[1], arg[1])
        else:
            raise ProxyStartupError(f"unexpected argument {arg!r}")
        if "=" in name:
            name, value = name.split("=", 1)
        if name not in flags:
            raise ProxyStartupError(f"unknown flag: --{name}")
        if value is None:
            i += 1
            if i >= len(args):
                raise ProxyStartupError(f"flag needs an argument: --{name}")
            value = args[i]
        flags[name].append(value)
        i += 1
    origin = (flags["from"] or ["localhost"])[-1]
    m = re.fullmatch(r"(?:(?P<scheme>https?)://)?(?P<host>[^:/]*)(?::(?P<port>\d+))?", origin)
    if not m:
        raise ProxyStartupError(f"invalid downstream address {origin}")
    if m.group("host") and m.group("scheme") != "http" and m.group("port") != "80":
        raise ProxyStartupError(f"--from {origin} would serve HTTPS with a certificate; the stand-in serves HTTP only")
    listen_port = int(m.group("port") or 80)
    to = _split_slice(flags["to"])
    if not to:
        raise ProxyStartupError("--to is required")
    if len(to) > 1:
        raise ProxyStartupError("the stand-in proxies to one upstream only")
    u = re.fullmatch(r"(?:(?P<scheme>https?)://)?(?P<host>[^:/]*)(?::(?P<port>\d+))?", to[0])
    if not u or u.group("scheme") == "https":
        raise ProxyStartupError(f"invalid upstream address {to[0]} (the stand-in proxies to HTTP only)")
    headers: list[tuple[str, str]] = []
    for n, h in enumerate(_split_slice(flags["header-up"])):
        key, found, val = h.partition(":")
        key, val = key.strip(), val.strip()
        if not found or not key or not val:
            raise ProxyStartupError(f'header-up {n}: invalid format "{h}" (expecting "Field: value")')
        headers = [(k, v) for k, v in headers if k.lower() != key.lower()] + [(key, val)]
    return ProxySettings(
        listen_host=m.group("host") or "0.0.0.0",
        listen_port=listen_port,
        upstream_host=u.group("host") or "localhost",
        upstream_port=int(u.group("port") or 80),
        header_up=headers,
    )


def replace_placeholders(value: str, env: dict[str, str]) -> str:
    """Caddy's `{env.NAME}` (empty when unset); other placeholders are left as they are."""
    return re.sub(r"\{env\.([^{}]+)\}", lambda m: env.get(m.group(1), ""), value)


def build_app(settings: ProxySettings, env: dict[str, str], upstream: Callable[[str, int], tuple[str, int] | None]) -> Any:
    """An ASGI app that proxies to `upstream(host, port)` (the loopback address standing for that address inside
    the task, or None when nothing listens there)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
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
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        set_names = {k.lower() for k, _ in settings.header_up}
        out = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP and k.lower() not in set_names]
        out += [(k, replace_placeholders(v, env)) for k, v in settings.header_up]
        target = upstream(settings.upstream_host, settings.upstream_port)
        status, reply_headers, reply = 502, [(b"content-length", b"0")], b""
        if target is not None:
            query = scope.get("query_string", b"").decode("latin-1")
            url = f"http://{target[0]}:{target[1]}{scope['path']}" + (f"?{query}" if query else "")
            try:
                async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
                    r = await client.request(scope["method"], url, headers=out, content=body)
                status, reply = r.status_code, r.content
                reply_headers = [
                    (k.encode("latin-1"), v.encode("latin-1"))
                    for k, v in r.headers.multi_items()
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
                ] + [(b"content-length", str(len(reply)).encode())]
            except httpx.HTTPError:
                status, reply_headers, reply = 502, [(b"content-length", b"0")], b""
        await send({"type": "http.response.start", "status": status, "headers": reply_headers})
        await send({"type": "http.response.body", "body": reply})

    return app
