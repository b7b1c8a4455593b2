"""Cognito's OAuth 2.0 token endpoint for the client-credentials grant (moto has none), at the domain's host name
`<prefix>.auth.<region>.amazoncognito.com`, and the checks of access tokens that a resource server such as the
AgentCore gateway makes.

Tokens are real RS256 JWTs, signed with the key whose public half moto serves as every user pool's JWKS
(`/<poolId>/.well-known/jwks.json`, reached through the pool's discovery document), with the claims Cognito puts in
an access token of the client-credentials grant: `sub` and `client_id` (the app client), `token_use` = "access",
`scope`, `auth_time`, `iat`, `exp`, `iss` = `https://cognito-idp.<region>.amazonaws.com/<poolId>`, `version` = 2,
`jti` — and no `aud` (Amazon Cognito developer guide, "Understanding the access token").

The request is checked as Cognito does (developer guide, "The token endpoint"): grant_type=client_credentials;
the client authenticated with HTTP Basic or client_id/client_secret in the body; the client allowed the
client_credentials flow; every requested scope allowed for the client (no scope: all of the client's scopes).
Errors are OAuth error objects with HTTP 400 (`invalid_request`, `invalid_client`, `unauthorized_client`,
`invalid_scope`, `unsupported_grant_type`).
"""

from __future__ import annotations

import base64
import gzip
import json
import time
import uuid
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

import jwt
from jwt.algorithms import RSAAlgorithm
from starlette.requests import Request
from starlette.responses import JSONResponse

from .aws import Aws, NotFound

KID = "dummy"  # the key id of moto's JWKS

_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


def _moto_private_key() -> Any:
    raw = (resources.files("moto") / "cognitoidp/resources/jwks-private.json.gz").read_bytes()
    jwk = json.loads(gzip.decompress(raw))
    if "keys" in jwk:
        jwk = jwk["keys"][0]
    return RSAAlgorithm.from_jwk(json.dumps(jwk))


_PRIVATE_KEY = None


def private_key() -> Any:
    global _PRIVATE_KEY
    if _PRIVATE_KEY is None:
        _PRIVATE_KEY = _moto_private_key()
    return _PRIVATE_KEY


def issuer(region: str, pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


def access_token_seconds(client: dict[str, Any]) -> int:
    validity = client.get("AccessTokenValidity")
    if not validity:
        return 3600
    unit = (client.get("TokenValidityUnits") or {}).get("AccessToken", "hours")
    return int(validity) * _UNITS.get(unit, 3600)


def mint(region: str, pool_id: str, client_id: str, scopes: list[str], lifetime: int, now: int | None = None) -> str:
    now = int(time.time()) if now is None else now
    claims = {
        "sub": client_id,
        "token_use": "access",
        "scope": " ".join(scopes),
        "auth_time": now,
        "iss": issuer(region, pool_id),
        "exp": now + lifetime,
        "iat": now,
        "version": 2,
        "jti": str(uuid.uuid4()),
        "client_id": client_id,
    }
    return jwt.encode(claims, private_key(), algorithm="RS256", headers={"kid": KID})


def _error(code: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": code}, status_code=status)


class TokenEndpoint:
    """POST /oauth2/token at `<prefix>.auth.<region>.amazoncognito.com`."""

    def __init__(self, aws: Aws):
        self.aws = aws

    async def __call__(self, request: Request, prefix: str | None, region: str) -> JSONResponse:
        """The token endpoint of the Cognito domain `prefix`; with `prefix` None (the loopback form
        `http://127.0.0.1:PORT/oauth2/token`, for `--token-endpoint`), of whichever pool holds the client."""
        if request.url.path != "/oauth2/token":
            return JSONResponse({"error": "not_found"}, status_code=404)
        if request.method != "POST":
            return JSONResponse({"error": "invalid_request"}, status_code=405)
        pool_id = None
        if prefix is not None:
            try:
                pool_id = self.aws.user_pool_of_domain(region, prefix)
            except (NotFound, Exception):  # noqa: BLE001 - an unknown domain does not resolve
                return JSONResponse({"error": "not_found"}, status_code=404)
        form = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)

        def one(key: str) -> str:
            return (form.get(key) or [""])[0]

        client_id, secret = one("client_id"), one("client_secret")
        auth = request.headers.get("authorization", "")
        if auth[:6].lower() == "basic ":
            try:
                client_id, secret = base64.b64decode(auth[6:]).decode("utf-8").split(":", 1)
            except Exception:  # noqa: BLE001
                return _error("invalid_client")
        grant = one("grant_type")
        if not grant:
            return _error("invalid_request")
        if grant != "client_credentials":
            return _error("unsupported_grant_type")
        if pool_id is None and client_id:
            pool_id = self.aws.pool_of_client(region, client_id)
        client = self.aws.user_pool_client(region, pool_id, client_id) if client_id and pool_id else None
        if client is None or not client.get("ClientSecret") or client.get("ClientSecret") != secret:
            return _error("invalid_client")
        if "client_credentials" not in client.get("AllowedOAuthFlows", []) or not client.get(
            "AllowedOAuthFlowsUserPoolClient"
        ):
            return _error("unauthorized_client")
        allowed = client.get("AllowedOAuthScopes", [])
        requested = one("scope").split() or list(allowed)
        if not requested or any(s not in allowed for s in requested):
            return _error("invalid_scope")
        lifetime = access_token_seconds(client)
        token = mint(region, pool_id, client_id, requested, lifetime)
        return JSONResponse({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"})


class TokenCheck:
    """Validates a Cognito access token the way a CUSTOM_JWT authorizer is configured to: signature against the
    JWKS named by the discovery document, expiry, issuer, and the allowed clients, audiences and scopes."""

    def __init__(self, aws: Aws):
        self.aws = aws

    def _jwks(self, discovery_url: str) -> tuple[str, dict[str, Any]]:
        """(issuer, JWKS) from a discovery URL, fetched from the emulator instead of the public host."""
        import urllib.request

        local = self._local(discovery_url)
        with urllib.request.urlopen(local, timeout=10) as r:  # noqa: S310 - loopback only
            document = json.loads(r.read())
        with urllib.request.urlopen(self._local(document["jwks_uri"]), timeout=10) as r:  # noqa: S310
            jwks = json.loads(r.read())
        return document["issuer"], jwks

    def _local(self, url: str) -> str:
        """The emulator's URL for a Cognito IdP URL (https://cognito-idp.<region>.amazonaws.com/...)."""
        from urllib.parse import urlparse

        u = urlparse(url)
        if u.hostname and u.hostname.startswith("cognito-idp.") and u.hostname.endswith(".amazonaws.com"):
            return self.aws.endpoint + u.path
        if u.hostname == "127.0.0.1":
            return self.aws.endpoint + u.path
        raise ValueError(f"discovery URL {url} is not a Cognito user pool's")

    def check(self, token: str, authorizer: dict[str, Any]) -> dict[str, Any]:
        """The token's claims, or raises ValueError with the reason (never the token)."""
        try:
            iss, jwks = self._jwks(authorizer["discoveryUrl"])
        except Exception as e:  # noqa: BLE001
            raise ValueError(f"cannot read the discovery document: {type(e).__name__}") from None
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise ValueError("not a JWT") from None
        keys = {k.get("kid"): k for k in jwks.get("keys", [])}
        key = keys.get(header.get("kid"))
        if key is None:
            raise ValueError("signing key not in the JWKS")
        try:
            claims = jwt.decode(
                token,
                RSAAlgorithm.from_jwk(json.dumps(key)),
                algorithms=["RS256"],
                issuer=iss,
                options={"verify_aud": False, "require": ["exp", "iat", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise ValueError("token expired") from None
        except jwt.InvalidIssuerError:
            raise ValueError("issuer mismatch") from None
        except jwt.PyJWTError as e:
            raise ValueError(f"invalid token ({type(e).__name__})") from None
        clients = authorizer.get("allowedClients") or []
        if clients and claims.get("client_id") not in clients:
            raise ValueError("client_id not allowed")
        audiences = authorizer.get("allowedAudience") or []
        if audiences:
            aud = claims.get("aud")
            aud = aud if isinstance(aud, list) else [aud]
            if not any(a in audiences for a in aud):
                raise ValueError("audience not allowed")
        scopes = authorizer.get("allowedScopes") or []
        if scopes and not any(s in scopes for s in str(claims.get("scope", "")).split()):
            raise ValueError("scope not allowed")
        return claims
