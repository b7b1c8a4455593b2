"""Bedrock AgentCore: the control plane's gateways and targets, and AgentCore Identity's API key credential
providers.

Patches (numbered as in docs/emulator.md, which says what each restores):

  #2   patch_agentcore_update_transitions
  #26  patch_agentcore_update_exception_level
  #3   patch_agentcore_gateway_ids
  #4   patch_agentcore_create_idempotency
  #5   patch_agentcore_delete_rules
  #6   set_agentcore_delay
  #7   add_agentcore_synchronize_gateway_targets
  #28  add_agentcore_api_key_credential_providers
  #29  add_agentcore_policy_and_gateway_logs
"""

from __future__ import annotations

import copy
import json
import time
from datetime import datetime
from typing import Any, Callable

from .helpers import bound, wrap
from .helpers import fingerprint as _fingerprint


AGENTCORE_GATEWAY_MODEL = "bedrock-agentcore-control::gateway"
# Set when the data plane runs: called with a target that SynchronizeGatewayTargets put in SYNCHRONIZING.
SYNC_HOOK: Callable[[Any], None] | None = None
AGENTCORE_TARGET_MODEL = "bedrock-agentcore-control::gateway_target"


def patch_agentcore_update_transitions() -> None:
    """AWS: update_gateway / update_gateway_target put the resource in UPDATING, then READY.
    moto models only CREATING -> READY, so after an update the status stays UPDATING for ever. Add UPDATING -> READY
    and restart the transition clock (time and manual progressions) when an update starts."""
    from moto.bedrockagentcorecontrol.models import Gateway, GatewayTarget

    for cls in (Gateway, GatewayTarget):

        def init(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            self._transitions = [("CREATING", "READY"), ("UPDATING", "READY"), ("SYNCHRONIZING", "READY")]

        def update(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)  # sets status UPDATING
            self._time_progressed = datetime.now()
            self._tick = 0

        wrap(cls, "__init__", init)
        wrap(cls, "update", update)


def patch_agentcore_update_exception_level() -> None:
    """AgentCore's UpdateGateway takes the gateway's whole configuration (name, role, protocol and authorizer are
    required), and `exceptionLevel` has one value, DEBUG ("If the value is omitted, a generic error message is
    returned to the end user"): an update without it turns DEBUG off — the only way to turn it off. moto keeps the
    old value when the field is omitted. (That AWS clears it is the reading neo4j-gw relies on; docs/emulator.md.)
    moto already stores exceptionLevel at CreateGateway and returns it from GetGateway."""
    from moto.bedrockagentcorecontrol.models import Gateway

    def update(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> None:
        call = bound(original, self, *args, **kwargs)
        original(self, *args, **kwargs)
        self.exception_level = call.get("exception_level")

    wrap(Gateway, "update", update)


def patch_agentcore_gateway_ids() -> None:
    """AWS gateway ids are '<lower-cased name>-<10 chars [0-9a-z]>' (API pattern `([0-9a-z][-]?){1,100}-[0-9a-z]{10}`),
    the ARN ends in 'gateway/<id>' and gatewayUrl is 'https://<id>.gateway.bedrock-agentcore.<region>.amazonaws.com/mcp'.
    moto uses 10 bare hex chars and a gatewayUrl without the '/mcp' path."""
    from moto.bedrockagentcorecontrol.models import Gateway
    from moto.moto_api._internal import mock_random

    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

    def init(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        old_id = self.gateway_id
        suffix = "".join(mock_random.choice(alphabet) for _ in range(10))
        self.gateway_id = f"{self.name.lower()}-{suffix}"
        self.gateway_arn = self.gateway_arn.replace(f"gateway/{old_id}", f"gateway/{self.gateway_id}")
        self.gateway_url = (
            f"https://{self.gateway_id}.gateway.bedrock-agentcore.{self.region_name}.amazonaws.com/mcp"
        )
        details = self.workload_identity_details
        details["workloadIdentityArn"] = details["workloadIdentityArn"].replace(old_id, self.gateway_id)

    wrap(Gateway, "__init__", init)


def _agentcore_error(code: str, message: str) -> Exception:
    from moto.bedrockagentcorecontrol.exceptions import BedrockAgentCoreControlClientError

    err = BedrockAgentCoreControlClientError(message)
    err.code = code
    return err


def patch_agentcore_create_idempotency() -> None:
    """AWS: create_gateway / create_gateway_target honour clientToken the way AWS client tokens work (AgentCore
    documents EC2's rules): a repeat with the same token and the same parameters is answered with the first
    request's answer and creates nothing — also after that resource was deleted, for as long as AWS remembers the
    token (EC2: at least 24 hours; the emulator: until /moto-api/reset); the same token with other parameters is
    refused (ConflictException here; AWS's exact code for AgentCore is not documented). Gateway names are unique per
    account and region, target names per gateway (ConflictException). moto ignores clientToken and accepts
    duplicate names."""
    from moto.bedrockagentcorecontrol.responses import BedrockAgentCoreControlResponse
    from moto.core.responses import ActionResult

    def tokens(backend: Any) -> dict[Any, tuple[str, dict[str, Any]]]:
        return backend.__dict__.setdefault("_neo4j_gw_client_tokens", {})

    def replay(backend: Any, key: Any, fingerprint: str) -> Any:
        known = tokens(backend).get(key)
        if known is None:
            return None
        if known[0] != fingerprint:
            raise _agentcore_error(
                "ConflictException",
                f"The client token {key[-1]} was already used for a request with different parameters",
            )
        return ActionResult(copy.deepcopy(known[1]))

    def create_gateway(original: Callable[..., Any], self: Any) -> Any:
        params = self._get_params()
        token = params.get("clientToken")
        fingerprint = _fingerprint(params)
        if token and (answer := replay(self.backend, ("gateway", token), fingerprint)) is not None:
            return answer
        if any(g.name == params.get("name") for g in self.backend.gateways.values()):
            raise _agentcore_error("ConflictException", f"Gateway with name {params.get('name')} already exists")
        before = set(self.backend.gateways)
        result = original(self)
        if token:
            for gateway_id in set(self.backend.gateways) - before:
                answer = self.backend.gateways[gateway_id].to_dict()
                answer["status"] = "CREATING"
                tokens(self.backend)[("gateway", token)] = (fingerprint, copy.deepcopy(answer))
        return result

    def create_gateway_target(original: Callable[..., Any], self: Any) -> Any:
        params = self._get_params()
        gateway = self.backend._get_gateway(self._get_param("gatewayIdentifier"))
        token = params.get("clientToken")
        fingerprint = _fingerprint({**params, "gatewayIdentifier": gateway.gateway_id})
        if token and (answer := replay(self.backend, ("target", token), fingerprint)) is not None:
            return answer
        siblings = [t for (gid, _), t in self.backend.gateway_targets.items() if gid == gateway.gateway_id]
        if any(t.name == params.get("name") for t in siblings):
            raise _agentcore_error("ConflictException", f"Target with name {params.get('name')} already exists")
        before = set(self.backend.gateway_targets)
        result = original(self)
        if token:
            for key in set(self.backend.gateway_targets) - before:
                answer = self.backend.gateway_targets[key].to_dict()
                answer["status"] = "CREATING"
                tokens(self.backend)[("target", token)] = (fingerprint, copy.deepcopy(answer))
        return result

    wrap(BedrockAgentCoreControlResponse, "create_gateway", create_gateway)
    wrap(BedrockAgentCoreControlResponse, "create_gateway_target", create_gateway_target)


def patch_agentcore_delete_rules(delay_seconds: float) -> None:
    """AWS: delete_gateway fails while the gateway still has targets (including targets still DELETING), and deletes
    are asynchronous: the resource stays visible with status DELETING for a while. moto deletes a gateway together
    with its targets and removes everything at once. With delay_seconds > 0 a deleted gateway or target stays
    visible (status DELETING) for that long; with 0 it disappears at once, as in moto."""
    from moto.bedrockagentcorecontrol.models import BedrockAgentCoreControlBackend as Backend

    def purge(backend: Any) -> None:
        now = time.monotonic()
        for key, target in list(backend.gateway_targets.items()):
            if getattr(target, "_neo4j_gw_gone_at", now + 1) <= now:
                backend.gateway_targets.pop(key, None)
        for key, gateway in list(backend.gateways.items()):
            if getattr(gateway, "_neo4j_gw_gone_at", now + 1) <= now:
                backend.gateways.pop(key, None)

    def mark_deleting(resource: Any) -> None:
        resource.status = "DELETING"  # no transition leaves DELETING
        resource._neo4j_gw_gone_at = time.monotonic() + delay_seconds

    def delete_gateway(original: Callable[..., Any], self: Any, gateway_identifier: str) -> Any:
        purge(self)
        gateway = self._get_gateway(gateway_identifier)
        if any(gid == gateway.gateway_id for (gid, _) in self.gateway_targets):
            raise _agentcore_error(
                "ValidationException",
                f"Gateway {gateway.gateway_id} has targets; delete all targets before deleting the gateway",
            )
        if delay_seconds <= 0:
            return original(self, gateway_identifier)
        mark_deleting(gateway)
        return gateway

    def delete_gateway_target(original: Callable[..., Any], self: Any, gateway_identifier: str, target_id: str) -> Any:
        purge(self)
        if delay_seconds <= 0:
            return original(self, gateway_identifier, target_id)
        gateway = self._get_gateway(gateway_identifier)
        target = self._get_gateway_target(gateway.gateway_id, target_id)
        mark_deleting(target)
        return target

    def purging(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        purge(self)
        return original(self, *args, **kwargs)

    wrap(Backend, "delete_gateway", delete_gateway)
    wrap(Backend, "delete_gateway_target", delete_gateway_target)
    for name in ("_get_gateway", "_get_gateway_target", "list_gateways", "list_gateway_targets", "create_gateway"):
        wrap(Backend, name, purging)


def set_agentcore_delay(seconds: float) -> None:
    """--agentcore-delay-seconds: make CREATING/UPDATING -> READY of gateways and targets take `seconds` of wall
    time (moto's time-based progression) instead of happening on the next read. Registered as the *default*
    transition, so POST /moto-api/state-manager/set-transition still overrides it and unset-transition returns
    to it; /moto-api/reset keeps it."""
    if seconds <= 0:
        return
    from moto.moto_api import state_manager

    for model in (AGENTCORE_GATEWAY_MODEL, AGENTCORE_TARGET_MODEL):
        state_manager.register_default_transition(model, {"progression": "time", "seconds": seconds})


def add_agentcore_synchronize_gateway_targets() -> None:
    """moto answers HTTP 500 for SynchronizeGatewayTargets. Serve it: each listed target goes SYNCHRONIZING, then
    READY under the same transition rules as an update, and gets lastSynchronizedAt."""
    from moto.bedrockagentcorecontrol.models import GatewayTarget
    from moto.bedrockagentcorecontrol.responses import BedrockAgentCoreControlResponse
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow

    def synchronize_gateway_targets(self: Any) -> Any:
        gateway = self.backend._get_gateway(self._get_param("gatewayIdentifier"))
        targets = []
        for target_id in self._get_param("targetIdList") or []:
            target = self.backend._get_gateway_target(gateway.gateway_id, target_id)
            target.status = "SYNCHRONIZING"
            target._time_progressed = datetime.now()
            target._tick = 0
            target.last_synchronized_at = utcnow()
            if SYNC_HOOK is not None:  # the data plane lists the target's tools and decides the outcome
                SYNC_HOOK(target)
            result = target.to_dict()
            result["status"] = "SYNCHRONIZING"
            targets.append(result)
        return ActionResult({"targets": targets})

    def to_dict(original: Callable[..., Any], self: Any) -> dict[str, Any]:
        result = original(self)
        if getattr(self, "last_synchronized_at", None) is not None:
            result["lastSynchronizedAt"] = self.last_synchronized_at
        if getattr(self, "status_reasons", None):
            result["statusReasons"] = list(self.status_reasons)
        return result

    BedrockAgentCoreControlResponse.synchronize_gateway_targets = synchronize_gateway_targets  # type: ignore[attr-defined]
    wrap(GatewayTarget, "to_dict", to_dict)


def add_agentcore_api_key_credential_providers() -> None:
    """moto 5.2.5 has no AgentCore Identity API-key credential providers (its dispatch answers HTTP 500). Serve
    Create/Get/Update/Delete/ListApiKeyCredentialProviders as the SDK model (aws-sdk-bedrockagentcorecontrol
    1.61.0; botocore `bedrock-agentcore-control`) describes them: `name` ([a-zA-Z0-9\\-_]+, 1..128, unique in the
    account and region: ConflictException otherwise; ResourceNotFoundException for an unknown one); the ARN is
    `arn:aws:bedrock-agentcore:<region>:<account>:token-vault/default/apikeycredentialprovider/<name>`; tags on it
    through the service's Tag/ListTagsForResource. `apiKeySecretSource` EXTERNAL needs `apiKeySecretConfig`
    {secretId, jsonKey} naming an existing Secrets Manager secret (ValidationException otherwise) and stores no
    value; MANAGED (the default) stores `apiKey` in a secret `bedrock-agentcore-identity!default/apikey/<name>`
    under the JSON key `api_key_value` (the token vault's naming as AWS samples show it; an assumption). Either
    way `apiKeySecretArn` {secretArn} and `apiKeySecretJsonKey` say where the gateway reads the key
    (scripts/emulator/dataplane/gateway.py adds it to every call it makes to a target that names the provider)."""
    import re

    from moto.bedrockagentcorecontrol.models import BedrockAgentCoreControlBackend
    from moto.bedrockagentcorecontrol.responses import BedrockAgentCoreControlResponse
    from moto.core.responses import ActionResult, EmptyResult
    from moto.core.utils import utcnow
    from moto.secretsmanager.models import secretsmanager_backends

    managed_key = "api_key_value"

    def providers(backend: Any) -> dict[str, dict[str, Any]]:
        if not hasattr(backend, "api_key_providers"):
            backend.api_key_providers = {}
        return backend.api_key_providers

    def secrets(self: Any) -> Any:
        return secretsmanager_backends[self.current_account][self.region]

    def valid_name(name: Any) -> str:
        if not isinstance(name, str) or not re.fullmatch(r"[a-zA-Z0-9\-_]{1,128}", name):
            raise _agentcore_error("ValidationException", f"Invalid credential provider name: {name!r}")
        return name

    def drop_managed(self: Any, provider: dict[str, Any] | None) -> None:
        """The token vault's own secret goes with the provider (or when the provider stops using it)."""
        if provider is not None and provider["source"] == "MANAGED":
            backend = secrets(self)
            if backend._is_valid_identifier(provider["secret_arn"]):
                backend.delete_secret(provider["secret_arn"], None, True)

    def source_of(self: Any, name: str, params: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
        source = params.get("apiKeySecretSource") or "MANAGED"
        if source == "EXTERNAL":
            config = params.get("apiKeySecretConfig") or {}
            if not config.get("secretId") or not config.get("jsonKey"):
                raise _agentcore_error(
                    "ValidationException", "apiKeySecretConfig is required when apiKeySecretSource is EXTERNAL"
                )
            backend = secrets(self)
            if not backend._is_valid_identifier(config["secretId"]):
                raise _agentcore_error("ValidationException", f"Secret {config['secretId']} was not found")
            arn = backend.secrets[config["secretId"]].arn
            drop_managed(self, previous)
            return {"source": "EXTERNAL", "secret_arn": arn, "json_key": config["jsonKey"]}
        if source != "MANAGED":
            raise _agentcore_error("ValidationException", f"Invalid apiKeySecretSource {source!r}")
        backend = secrets(self)
        secret_name = f"bedrock-agentcore-identity!default/apikey/{name}"
        value = json.dumps({managed_key: params.get("apiKey") or ""})
        if previous is not None and previous["source"] == "MANAGED":
            backend.put_secret_value(secret_name, value, None, None, None)  # type: ignore[arg-type]
        else:
            backend.create_secret(secret_name, value, None, None, None, None, None, [], False)
        arn = backend.secrets[secret_name].arn
        return {"source": "MANAGED", "secret_arn": arn, "json_key": managed_key}

    def answer(provider: dict[str, Any], times: bool) -> Any:
        out: dict[str, Any] = {
            "apiKeySecretArn": {"secretArn": provider["secret_arn"]},
            "apiKeySecretJsonKey": provider["json_key"],
            "apiKeySecretSource": provider["source"],
            "name": provider["name"],
            "credentialProviderArn": provider["arn"],
        }
        if times:
            out["createdTime"] = provider["created"]
            out["lastUpdatedTime"] = provider["updated"]
        return ActionResult(out)

    def find(self: Any) -> dict[str, Any]:
        name = self._get_param("name")
        provider = providers(self.backend).get(name)
        if provider is None:
            raise _agentcore_error("ResourceNotFoundException", f"Credential provider {name} not found")
        return provider

    def create(self: Any) -> Any:
        params = self._get_params()
        name = valid_name(params.get("name"))
        if name in providers(self.backend):
            raise _agentcore_error("ConflictException", f"Credential provider {name} already exists")
        arn = (
            f"arn:aws:bedrock-agentcore:{self.region}:{self.current_account}:"
            f"token-vault/default/apikeycredentialprovider/{name}"
        )
        now = utcnow()
        provider = {"name": name, "arn": arn, "created": now, "updated": now, **source_of(self, name, params, None)}
        providers(self.backend)[name] = provider
        if params.get("tags"):
            self.backend.tag_resource(arn, params["tags"])
        return answer(provider, times=False)

    def get(self: Any) -> Any:
        return answer(find(self), times=True)

    def update(self: Any) -> Any:
        provider = find(self)
        provider.update(source_of(self, provider["name"], self._get_params(), provider))
        provider["updated"] = utcnow()
        return answer(provider, times=True)

    def delete(self: Any) -> Any:
        provider = find(self)
        drop_managed(self, provider)
        del providers(self.backend)[provider["name"]]
        self.backend.tagger.delete_all_tags_for_resource(provider["arn"])
        return EmptyResult()

    def list_all(self: Any) -> Any:
        items = [
            {
                "name": p["name"],
                "credentialProviderArn": p["arn"],
                "createdTime": p["created"],
                "lastUpdatedTime": p["updated"],
            }
            for p in providers(self.backend).values()
        ]
        return ActionResult({"credentialProviders": items})

    for op, fn in (
        ("create_api_key_credential_provider", create),
        ("get_api_key_credential_provider", get),
        ("update_api_key_credential_provider", update),
        ("delete_api_key_credential_provider", delete),
        ("list_api_key_credential_providers", list_all),
    ):
        setattr(BedrockAgentCoreControlResponse, op, fn)
    BedrockAgentCoreControlBackend.api_key_provider = lambda self, name: providers(self).get(name)  # type: ignore[attr-defined]


def add_agentcore_policy_and_gateway_logs() -> None:
    """moto 5.2.5 has no AgentCore Policy (policy engines and Cedar policies) and refuses a gateway as a log delivery
    source: both served by the data plane's modules beside the gateway stand-in that uses them
    (scripts/emulator/dataplane/policy.py, audit.py; docs/aws-behaviour.md, issue 20 section)."""
    from dataplane import audit, policy

    policy.install_control_plane()
    audit.install_control_plane()
