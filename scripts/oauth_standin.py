#!/usr/bin/env python3
"""A loopback stand-in for Cognito's OAuth2 token endpoint, for the local demo (moto has no /oauth2/token).

    python scripts/oauth_standin.py --endpoint http://127.0.0.1:PORT [--region us-east-1]

It serves POST /oauth2/token on a free 127.0.0.1 port and checks the request the way Cognito does for the
client-credentials grant: grant_type=client_credentials, the client authenticated with HTTP Basic (or client_id /
client_secret in the body) against the app client and secret that the emulator holds, and every requested scope
allowed for that client. It answers {"access_token", "token_type": "Bearer", "expires_in"} or an OAuth error
({"error": "invalid_client" | "invalid_scope" | "unauthorized_client" | "unsupported_grant_type"}). The token is
an unsigned JWT-shaped string (the emulated gateway does not validate it).

Prints one JSON line {"token_endpoint": "http://127.0.0.1:N/oauth2/token"} when ready and serves until stdin
reaches EOF. Talks only to the loopback emulator endpoint.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def find_client(cognito, client_id: str):
    for page in cognito.get_paginator("list_user_pools").paginate(MaxResults=60):
        for pool in page["UserPools"]:
            try:
                return cognito.describe_user_pool_client(UserPoolId=pool["Id"], ClientId=client_id)["UserPoolClient"]
            except cognito.exceptions.ResourceNotFoundException:
                continue
    return None


def make_handler(cognito, region: str):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):  # keep stdout clean; never log credentials
            pass

        def answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            if self.path.split("?")[0] != "/oauth2/token":
                return self.answer(404, {"error": "not_found"})
            length = int(self.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
            one = lambda k: (form.get(k) or [""])[0]
            client_id, secret = one("client_id"), one("client_secret")
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                try:
                    client_id, secret = base64.b64decode(auth[6:]).decode().split(":", 1)
                except Exception:
                    return self.answer(400, {"error": "invalid_client"})
            if one("grant_type") != "client_credentials":
                return self.answer(400, {"error": "unsupported_grant_type"})
            client = find_client(cognito, client_id) if client_id else None
            if client is None or client.get("ClientSecret") != secret:
                return self.answer(400, {"error": "invalid_client"})
            if "client_credentials" not in client.get("AllowedOAuthFlows", []):
                return self.answer(400, {"error": "unauthorized_client"})
            allowed = client.get("AllowedOAuthScopes", [])
            requested = one("scope").split() or allowed
            if any(s not in allowed for s in requested):
                return self.answer(400, {"error": "invalid_scope"})
            now = int(time.time())
            claims = {
                "sub": client_id,
                "client_id": client_id,
                "token_use": "access",
                "scope": " ".join(requested),
                "iss": f"https://cognito-idp.{region}.amazonaws.com/{client['UserPoolId']}",
                "iat": now,
                "exp": now + 3600,
            }
            token = ".".join([b64url(b'{"alg":"none","typ":"JWT"}'), b64url(json.dumps(claims).encode()), ""])
            return self.answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    return Handler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="the emulator's loopback endpoint URL")
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()
    host = urllib.parse.urlparse(args.endpoint).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"refusing a non-loopback endpoint: {args.endpoint}", file=sys.stderr)
        return 2
    cognito = boto3.client(
        "cognito-idp",
        endpoint_url=args.endpoint,
        region_name=args.region,
        aws_access_key_id="demo",
        aws_secret_access_key="demo",
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(cognito, args.region))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"token_endpoint": f"http://127.0.0.1:{server.server_port}/oauth2/token"}), flush=True)
    sys.stdin.read()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
