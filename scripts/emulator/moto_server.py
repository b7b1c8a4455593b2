#!/usr/bin/env python3
"""Local AWS emulator for neo4j-gw: moto's server, patched where moto 5.2.5 differs from AWS for our stack.

Usage (with the project's venv python, see scripts/venv):

    python scripts/emulator/moto_server.py [--port N] [--no-ecs-agent] [--agentcore-delay-seconds S]
                                           [--log-requests] [--agentcore-reading strict|lenient]

Binds 127.0.0.1 only (port 0 = let the kernel pick a free port, no race). When ready it prints exactly one JSON
line on stdout, {"port": N, "endpoint": "http://127.0.0.1:N"}, and serves until stdin reaches EOF or it gets
SIGTERM/SIGINT; then it exits 0. Diagnostics go to stderr. Unless --no-data-plane is given, it also starts the
local data plane (dataplane/ beside this file: the gateway, Cognito token endpoint, load balancer and MCP server
stand-ins) on another loopback port and adds {"data_plane": "http://127.0.0.1:M"} to that line.
`--agentcore-reading` chooses how the gateway stand-in reads the AgentCore guide where it is silent
(dataplane/gateway.py; docs/emulator.md): `strict` (the default, or the environment variable
NEO4J_GW_AGENTCORE_READING) or `lenient`.

The patches live beside this file, one module per AWS service (patches/: each patch one function with a
docstring saying what AWS does and what moto does instead, applied in this process only; moto's files are
untouched). docs/emulator.md lists them by number with the probes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from typing import Any

# Our fake ECS agent decides how many tasks run; moto's own knob must not interfere (with --no-ecs-agent a
# service must keep runningCount 0). Set before moto is imported, as moto reads it at service creation.
os.environ.pop("MOTO_ECS_SERVICE_RUNNING", None)
os.environ.pop("MOTO_ECS_SERVICE_FAILED_TASKS", None)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # patches/ and dataplane/ beside this file
from patches import agentcore, apply_patches  # noqa: E402
from patches.helpers import log  # noqa: E402


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default 0: any free port)")
    parser.add_argument("--no-ecs-agent", action="store_true", help="never run ECS tasks (runningCount stays 0)")
    parser.add_argument("--log-requests", action="store_true", help="log every request on stderr (werkzeug)")
    parser.add_argument(
        "--no-data-plane",
        action="store_true",
        help="do not start the data plane stand-ins (gateway, Cognito token endpoint, load balancer, MCP server)",
    )
    parser.add_argument(
        "--agentcore-delay-seconds",
        type=float,
        default=0.0,
        metavar="S",
        help="AgentCore gateways/targets take S seconds to become READY (and to disappear once deleted)",
    )
    parser.add_argument(
        "--agentcore-reading",
        choices=("strict", "lenient"),
        default=os.environ.get("NEO4J_GW_AGENTCORE_READING") or "strict",
        help="where the AgentCore guide is silent, the gateway stand-in takes the strict (default) or lenient reading",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.agentcore_delay_seconds < 0:
        sys.exit("moto_server: --agentcore-delay-seconds must be >= 0")

    from werkzeug.serving import make_server

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

    if not args.log_requests:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # errors still reach stderr
    apply_patches(ecs_agent=not args.no_ecs_agent, agentcore_delay_seconds=args.agentcore_delay_seconds)

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler)
    port = server.server_address[1]
    os.environ["MOTO_PORT"] = str(port)  # moto builds a few self-referencing URLs from it

    serving = threading.Thread(target=server.serve_forever, name="moto-server", daemon=True)
    serving.start()

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def watch_stdin() -> None:
        # os.read on the raw fd: a daemon thread blocked in sys.stdin's buffered reader aborts the interpreter
        # at shutdown ("could not acquire lock for <stdin>").
        try:
            while os.read(0, 65536):
                pass
        except OSError:
            pass
        stop.set()

    threading.Thread(target=watch_stdin, name="stdin-eof", daemon=True).start()

    ready: dict[str, Any] = {"port": port, "endpoint": f"http://127.0.0.1:{port}"}
    plane = None
    if not args.no_data_plane:
        from dataplane import DataPlane

        plane = DataPlane(
            ready["endpoint"],
            agentcore_delay_seconds=args.agentcore_delay_seconds,
            agentcore_reading=args.agentcore_reading,
        )
        ready["data_plane"] = plane.start()
        agentcore.SYNC_HOOK = plane.gateways.sync_hook
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    log(
        f"serving on 127.0.0.1:{port} (ecs agent {'off' if args.no_ecs_agent else 'on'}, "
        f"agentcore delay {args.agentcore_delay_seconds:g}s, agentcore reading {args.agentcore_reading})"
    )

    while not stop.wait(0.5):  # a timed wait keeps the main thread responsive to signals
        pass
    if plane is not None:
        plane.stop()
    server.shutdown()
    server.server_close()
    log("stopped")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # request threads are daemons; skip interpreter teardown races with them


if __name__ == "__main__":
    sys.exit(main())
