"""Cognito user pools: domains, app client scopes, missing actions, app client dates.

Patches (numbered as in docs/emulator.md, which says what each restores):

  #20  patch_cognito_domain_rules
  #21  patch_cognito_client_scopes
  #22  add_cognito_missing_actions
  #30  patch_cognito_client_dates
  #31  add_cognito_update_resource_server
"""

from __future__ import annotations

from typing import Any, Callable

from .helpers import bound, wrap


COGNITO_STANDARD_SCOPES = {"openid", "email", "phone", "profile", "aws.cognito.signin.user.admin"}


def patch_cognito_domain_rules() -> None:
    """AWS: a domain prefix belongs to one user pool (create_user_pool_domain fails with InvalidParameterException
    when it is taken), a pool has at most one domain, and delete_user_pool fails while the pool still has a
    domain. moto re-assigns a taken domain, allows several per pool and deletes the pool anyway."""
    from moto.cognitoidp.exceptions import InvalidParameterException
    from moto.cognitoidp.models import CognitoIdpBackend

    def create_user_pool_domain(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound(original, self, *args, **kwargs)
        if call["domain"] in self.user_pool_domains:
            raise InvalidParameterException("Domain already associated with another user pool.")
        if any(d.user_pool_id == call["user_pool_id"] for d in self.user_pool_domains.values()):
            raise InvalidParameterException("User pool already has a domain configured.")
        return original(self, *args, **kwargs)

    def delete_user_pool(original: Callable[..., Any], self: Any, user_pool_id: str) -> Any:
        self.describe_user_pool(user_pool_id)
        if any(d.user_pool_id == user_pool_id for d in self.user_pool_domains.values()):
            raise InvalidParameterException(
                "User pool cannot be deleted. It has a domain configured that should be deleted first."
            )
        return original(self, user_pool_id)

    wrap(CognitoIdpBackend, "create_user_pool_domain", create_user_pool_domain)
    wrap(CognitoIdpBackend, "delete_user_pool", delete_user_pool)


def patch_cognito_client_scopes() -> None:
    """AWS create/update_user_pool_client fail with ScopeDoesNotExistException when AllowedOAuthScopes names a
    scope that is neither standard nor defined by a resource server of the pool (so the resource server must be
    created first). moto accepts any scope."""
    from moto.cognitoidp.models import CognitoIdpBackend
    from moto.core.exceptions import JsonRESTError

    def check(backend: Any, user_pool_id: str, config: dict[str, Any]) -> None:
        pool = backend.describe_user_pool(user_pool_id)
        defined = set(COGNITO_STANDARD_SCOPES)
        for server in pool.resource_servers.values():
            defined |= {f"{server.identifier}/{s['ScopeName']}" for s in server.scopes or []}
        unknown = [scope for scope in config.get("AllowedOAuthScopes") or [] if scope not in defined]
        if unknown:
            raise JsonRESTError("ScopeDoesNotExistException", f"Invalid scope requested: {unknown[0]}")

    def create_user_pool_client(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound(original, self, *args, **kwargs)
        check(self, call["user_pool_id"], call["extended_config"] or {})
        return original(self, *args, **kwargs)

    def update_user_pool_client(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound(original, self, *args, **kwargs)
        check(self, call["user_pool_id"], call["extended_config"] or {})
        return original(self, *args, **kwargs)

    wrap(CognitoIdpBackend, "create_user_pool_client", create_user_pool_client)
    wrap(CognitoIdpBackend, "update_user_pool_client", update_user_pool_client)


def add_cognito_missing_actions() -> None:
    """moto answers HTTP 500 (an HTML page, which SDKs retry) for ListTagsForResource and DeleteResourceServer.
    Serve them: tags are the pool's UserPoolTags; deleting a resource server removes it from its pool."""
    from moto.cognitoidp.exceptions import ResourceNotFoundError
    from moto.cognitoidp.responses import CognitoIdpResponse
    from moto.core.responses import ActionResult, EmptyResult

    def list_tags_for_resource(self: Any) -> Any:
        arn = self._get_param("ResourceArn")
        for pool in self.backend.user_pools.values():
            if pool.arn == arn:
                return ActionResult({"Tags": dict(pool.extended_config.get("UserPoolTags") or {})})
        raise ResourceNotFoundError(arn)

    def delete_resource_server(self: Any) -> Any:
        pool = self.backend.describe_user_pool(self._get_param("UserPoolId"))
        identifier = self._get_param("Identifier")
        if pool.resource_servers.pop(identifier, None) is None:
            raise ResourceNotFoundError(identifier)
        return EmptyResult()

    CognitoIdpResponse.list_tags_for_resource = list_tags_for_resource  # type: ignore[attr-defined]
    CognitoIdpResponse.delete_resource_server = delete_resource_server  # type: ignore[attr-defined]


def patch_cognito_client_dates() -> None:
    """AWS's UserPoolClientType (CreateUserPoolClient, DescribeUserPoolClient, UpdateUserPoolClient) carries
    CreationDate and LastModifiedDate; an update moves LastModifiedDate. ListUserPoolClients'
    UserPoolClientDescription has neither. moto's clients have no dates, so neo4j-gw's rule "without a record the
    oldest copy is kept" saw every client tie and kept the smallest ID: a random one. Dates are set and returned as
    moto does a user pool's (a datetime from moto's utcnow, serialised by moto as the pool's CreationDate is)."""
    from moto.cognitoidp.models import CognitoIdpBackend, CognitoIdpUserPoolClient
    from moto.core import utils as moto_utils  # the clock read at each call (tests set it)

    def init(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.creation_date = moto_utils.utcnow()
        self.last_modified_date = self.creation_date

    def to_json(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        out: dict[str, Any] = original(self, *args, **kwargs)
        if bound(original, self, *args, **kwargs)["extended"]:
            out["CreationDate"] = self.creation_date
            out["LastModifiedDate"] = self.last_modified_date
        return out

    def update_user_pool_client(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.last_modified_date = moto_utils.utcnow()
        return client

    wrap(CognitoIdpUserPoolClient, "__init__", init)
    wrap(CognitoIdpUserPoolClient, "to_json", to_json)
    wrap(CognitoIdpBackend, "update_user_pool_client", update_user_pool_client)


def add_cognito_update_resource_server() -> None:
    """moto 5.2.5 answers UpdateResourceServer with "not implemented" (HTTP 501 through #1). Serve it as the
    service model describes it: UserPoolId, Identifier and Name required, Scopes the whole new list ("If you don't
    provide a value for an attribute, it is set to its default value": an update without Scopes leaves none); an
    unknown pool or identifier is ResourceNotFoundException; the answer is the updated ResourceServer. Scopes that
    app clients hold and the new list lacks stay on the clients, as on AWS (nothing documents their removal)."""
    from moto.cognitoidp.exceptions import ResourceNotFoundError
    from moto.cognitoidp.responses import CognitoIdpResponse
    from moto.core.responses import ActionResult

    def update_resource_server(self: Any) -> Any:
        pool = self.backend.describe_user_pool(self._get_param("UserPoolId"))
        identifier = self._get_param("Identifier")
        server = pool.resource_servers.get(identifier)
        if server is None:
            raise ResourceNotFoundError(identifier)
        server.name = self._get_param("Name")
        server.scopes = self._get_param("Scopes") or []
        return ActionResult({"ResourceServer": server.to_json()})

    CognitoIdpResponse.update_resource_server = update_resource_server  # type: ignore[attr-defined]
