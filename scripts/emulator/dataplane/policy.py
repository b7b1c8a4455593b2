"""AgentCore Policy on the local plane: a gateway's policy engine (Cedar) evaluated with the real Cedar engine
(`cedarpy`, the Python binding of the Rust `cedar-policy` crate) against the Cedar schema AgentCore documents, and
the control plane of policy engines and policies (moto 5.2.5 has neither).

What the AgentCore developer guide and the service model say, and what this module does (docs/aws-behaviour.md,
"Agents' rights at the gateway (issue 20)", quotes each with its source):
- A gateway names its engine in `policyEngineConfiguration {arn, mode}`; `ENFORCE` allows or denies each tool
  call, `LOG_ONLY` evaluates and records but does not enforce. Without it nothing here runs.
- The authorization request of a tool call (guide, "Authorization flow"): principal `AgentCore::OAuthUser::"<sub>"`
  whose tags are the token's claims, action `AgentCore::Action::"<tool name as the gateway lists it>"`, resource
  `AgentCore::Gateway::"<gateway ARN>"`, context `{input: <the call's arguments>}`.
- The schema (guide, "Schema constraints") is generated from the gateway's tool manifest: namespace `AgentCore`;
  `OAuthUser` with an `id` and tags; `Gateway`; each tool an action in `CallTool`, itself in `Mcp`; a tool's
  input a record typed from its JSON schema (string → String, integer → Long, boolean → Bool, number → Decimal).
  A target is an action group ("use a Gateway Target (an Action Group) and write policies against that target").
- Default deny; a forbid overrides any permit.
- Listing (guide, "Use a gateway with Policy"): a tool is listed "if there exists any set of circumstances under
  which a call to that tool would be permitted" — partial evaluation with the context unknown.
- Policies are validated at CreatePolicy against the schema (`FAIL_ON_ANY_FINDINGS`, the default) or not
  (`IGNORE_ALL_FINDINGS`); a policy whose own `enforcementMode` is `LOG_ONLY` is evaluated but never decides.

Where the guide is silent the stricter reading is taken: a tool call whose tool the engine's schema does not know
(a DYNAMIC target no listing or synchronisation has shown yet) is denied; a request the schema refuses (an
argument of the wrong type, a required one missing) is denied; a gateway without a JWT authorizer has no
principal and every call is denied; an engine cannot be deleted while a gateway names it; the gateway's role must
allow ROLE_ACTIONS on both the engine and the gateway, or nothing is listed or called.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import cedarpy

NAMESPACE = "AgentCore"
# The error a denied call gets. The guide's "Policy responses" section was not in the stored copies; this text is
# AgentCore's as reported from a real account (docs/aws-behaviour.md, issue 20 section): an assumption in its form.
DENIED_CODE = -32002
DENIED_MESSAGE = "Tool Execution Denied: Tool call not allowed due to policy enforcement"
NO_DETERMINING = "Policy evaluation denied due to no determining policies"

# What the gateway's role must allow for its policy engine to be evaluated: reported from a real account (a role
# without them gets "InternalServerException - Policy evaluation failed for list tools"; docs/aws-behaviour.md, issue
# 20 section). Which resource each is checked on is not documented: the stand-in checks each on both the engine's and
# the gateway's ARN (the stricter reading — a role that grants them on both passes under either).
ROLE_ACTIONS = (
    "bedrock-agentcore:AuthorizeAction",
    "bedrock-agentcore:PartiallyAuthorizeActions",
    "bedrock-agentcore:GetPolicyEngine",
)

_JSON_TO_CEDAR = {"string": "String", "integer": "Long", "boolean": "Bool", "number": "decimal"}


# ----------------------------------------------------------------------------------------------------------------
# The schema, from the tool manifest
# ----------------------------------------------------------------------------------------------------------------


def _type_name(tool: str) -> str:
    """The common type of a tool's input. The guide's example is `RefundTool___process_refundInput`; a tool name
    with characters a Cedar identifier cannot hold (neo4j/mcp's `write-cypher`) has them replaced by `_` — how
    AgentCore names it is not documented, and no policy names the type."""
    return re.sub(r"[^A-Za-z0-9_]", "_", tool) + "Input"


def _input_record(tool: dict[str, Any]) -> dict[str, Any]:
    schema = tool.get("inputSchema") or {}
    required = set(schema.get("required") or [])
    attributes: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        kind = _JSON_TO_CEDAR.get((prop or {}).get("type"))
        if kind is None:
            continue  # objects and arrays: the guide maps only the four scalar types
        attr: dict[str, Any] = {"type": "Extension", "name": "decimal"} if kind == "decimal" else {"type": kind}
        attr["required"] = name in required
        attributes[name] = attr
    return {"type": "Record", "attributes": attributes}


def schema_for(manifest: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The Cedar schema (JSON form) of a gateway whose targets list `manifest` {target name: [tools]}, tool names
    as the target gives them (the gateway lists them as `<target>___<tool>`)."""
    common: dict[str, Any] = {}
    actions: dict[str, Any] = {"Mcp": {}, "CallTool": {"memberOf": [{"id": "Mcp"}]}}
    for target, tools in sorted(manifest.items()):
        actions[target] = {"memberOf": [{"id": "CallTool"}]}
        for tool in tools:
            name = f"{target}___{tool['name']}"
            common[_type_name(name)] = _input_record(tool)
            actions[name] = {
                "memberOf": [{"id": "CallTool"}, {"id": target}],
                "appliesTo": {
                    "principalTypes": ["OAuthUser"],
                    "resourceTypes": ["Gateway"],
                    "context": {"type": "Record", "attributes": {"input": {"type": _type_name(name)}}},
                },
            }
    return {
        NAMESPACE: {
            "commonTypes": common,
            "entityTypes": {
                "OAuthUser": {
                    "shape": {"type": "Record", "attributes": {"id": {"type": "String"}}},
                    "tags": {"type": "String"},
                },
                "Gateway": {},
            },
            "actions": actions,
        }
    }


# ----------------------------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Decision:
    allowed: bool
    reason: str  # the bracketed part of the denial text, or the determining policies of an allow
    errors: list[str]


def _tag(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def principal_of(claims: dict[str, Any]) -> dict[str, Any]:
    """The OAuthUser entity of a token: its id the `sub` claim, its tags every claim (as strings)."""
    sub = str(claims.get("sub", ""))
    return {
        "uid": {"type": f"{NAMESPACE}::OAuthUser", "id": sub},
        "attrs": {"id": sub},
        "parents": [],
        "tags": {k: _tag(v) for k, v in claims.items()},
    }


def _input_of(tool: dict[str, Any] | None, arguments: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments as the context's `input` record: only the attributes the schema types (the others
    cannot be typed; a value of the wrong type stays as it is, so that the schema refuses the request)."""
    if tool is None:
        return dict(arguments)
    props = (tool.get("inputSchema") or {}).get("properties") or {}
    out: dict[str, Any] = {}
    for name, value in arguments.items():
        kind = _JSON_TO_CEDAR.get((props.get(name) or {}).get("type"))
        if kind is None:
            continue
        if kind == "decimal" and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = {"__extn": {"fn": "decimal", "arg": f"{float(value):.4f}"}}
        out[name] = value
    return out


def _policy_set(policies: Iterable[tuple[str, str]]) -> str:
    """The statements as one policy set, each with its policy id as `@id` (Cedar's own policy ids are positional)."""
    return "\n".join(f'@id("{pid}")\n{statement.strip()}' for pid, statement in policies)


def _determining(result: Any) -> list[str]:
    """The determining policies of a decision, by their `@id` (the control plane's policy ids)."""
    by_id = result.diagnostics.id_annotations_by_reason
    return sorted(by_id.get(r, r) for r in result.diagnostics.reasons)


def authorize(
    policies: list[tuple[str, str]],
    manifest: dict[str, list[dict[str, Any]]],
    gateway_arn: str,
    claims: dict[str, Any] | None,
    tool_name: str,
    arguments: dict[str, Any],
) -> Decision:
    """The decision for a tools/call of `tool_name` (`<target>___<tool>`) by the holder of `claims`."""
    if claims is None:
        return Decision(False, "no OAuth principal (the gateway has no JWT authorizer)", [])
    target, _, tool = tool_name.partition("___")
    spec = next((t for t in manifest.get(target, []) if t.get("name") == tool), None)
    if spec is None:
        return Decision(False, f"the policy engine's schema has no action {tool_name}", [])
    request = {
        "principal": {"type": f"{NAMESPACE}::OAuthUser", "id": str(claims.get("sub", ""))},
        "action": {"type": f"{NAMESPACE}::Action", "id": tool_name},
        "resource": {"type": f"{NAMESPACE}::Gateway", "id": gateway_arn},
        "context": {"input": _input_of(spec, arguments)},
    }
    entities = [principal_of(claims), {"uid": {"type": f"{NAMESPACE}::Gateway", "id": gateway_arn}, "attrs": {}, "parents": []}]
    result = cedarpy.is_authorized(request, _policy_set(policies), entities, schema=schema_for(manifest))
    errors, determining = list(result.diagnostics.errors), _determining(result)
    if result.allowed:
        return Decision(True, ", ".join(determining), errors)
    if not determining:
        return Decision(False, NO_DETERMINING, errors)
    return Decision(False, "Policy evaluation denied due to determining policies: " + ", ".join(determining), errors)


def may_list(
    policies: list[tuple[str, str]],
    gateway_arn: str,
    claims: dict[str, Any] | None,
    tool_name: str,
) -> bool:
    """Tool listing is a meta action: a tool is listed when some context would let its call be permitted — the
    request evaluated with the context unknown: Allow, or a residual permit that a context could satisfy."""
    if claims is None:
        return False
    request = {  # this call takes entity references in Cedar's syntax only
        "principal": f"{NAMESPACE}::OAuthUser::{json.dumps(str(claims.get('sub', '')))}",
        "action": f"{NAMESPACE}::Action::{json.dumps(tool_name)}",
        "resource": f"{NAMESPACE}::Gateway::{json.dumps(gateway_arn)}",
        "context": None,
    }
    target = tool_name.partition("___")[0]
    entities = [
        principal_of(claims),
        {"uid": {"type": f"{NAMESPACE}::Gateway", "id": gateway_arn}, "attrs": {}, "parents": []},
        {"uid": {"type": f"{NAMESPACE}::Action", "id": "Mcp"}, "attrs": {}, "parents": []},
        {"uid": {"type": f"{NAMESPACE}::Action", "id": "CallTool"}, "attrs": {}, "parents": [{"type": f"{NAMESPACE}::Action", "id": "Mcp"}]},
        {"uid": {"type": f"{NAMESPACE}::Action", "id": target}, "attrs": {}, "parents": [{"type": f"{NAMESPACE}::Action", "id": "CallTool"}]},
        {
            "uid": {"type": f"{NAMESPACE}::Action", "id": tool_name},
            "attrs": {},
            "parents": [{"type": f"{NAMESPACE}::Action", "id": "CallTool"}, {"type": f"{NAMESPACE}::Action", "id": target}],
        },
    ]
    result = cedarpy.is_authorized_partial(request, _policy_set(policies), entities)
    if result.decision == cedarpy.Decision.Allow:
        return True
    if result.decision == cedarpy.Decision.Deny:
        return False
    # NoDecision: the residuals (policy id -> the policy as JSON) still depend on the context; a permit among them is
    # a context under which the call could be permitted (a residual forbid cannot rule it out for every context).
    residuals = result.residuals or {}
    return any(isinstance(r, dict) and r.get("effect") == "permit" for r in residuals.values())


def validate(statement: str, manifest: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The findings of Cedar's validator for one policy against the schema of `manifest` (empty: valid)."""
    try:
        result = cedarpy.validate_policies(statement, schema_for(manifest))
    except Exception as e:  # noqa: BLE001 - a policy that does not parse
        return [str(e)]
    return [str(e) for e in result.errors]


def parses(statement: str) -> str | None:
    """None if `statement` is one Cedar policy; otherwise why not."""
    try:
        text = cedarpy.policies_to_json_str(statement)
    except Exception as e:  # noqa: BLE001
        return str(e)
    parsed = json.loads(text)
    count = len(parsed.get("staticPolicies", {})) + len(parsed.get("templates", {}))
    return None if count == 1 else f"expected exactly one policy, found {count}"


# ----------------------------------------------------------------------------------------------------------------
# The control plane: policy engines and policies (bedrock-agentcore-control), served inside moto
# ----------------------------------------------------------------------------------------------------------------

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")
# The tool manifest of a gateway as the data plane knows it (set by the gateway stand-in): gateway id ->
# {target name: [tools]}. Tools of a DYNAMIC target are known only once the gateway has contacted it.
MANIFEST_OF_GATEWAY: Callable[[str], dict[str, list[dict[str, Any]]]] = lambda gateway_id: {}
_lock = threading.Lock()


class EngineUnavailable(Exception):
    """The gateway names a policy engine that cannot be read (gone, or not ACTIVE)."""


def engine_policies(aws: Any, region: str, engine_arn: str) -> list[tuple[str, str]]:
    """The policies that decide at the gateway: (policy id, Cedar statement) of each ACTIVE policy whose own
    enforcementMode is ACTIVE (a LOG_ONLY policy is evaluated for the record only), read from the emulator now."""
    engine_id = engine_arn.rsplit("/", 1)[-1]
    client = aws.client("bedrock-agentcore-control", region)
    try:
        if client.get_policy_engine(policyEngineId=engine_id).get("status") != "ACTIVE":
            raise EngineUnavailable(f"policy engine {engine_id} is not ACTIVE")
        listed = client.list_policies(policyEngineId=engine_id).get("policies", [])
    except client.exceptions.ResourceNotFoundException:
        raise EngineUnavailable(f"policy engine {engine_id} not found") from None
    return [
        (p["policyId"], ((p.get("definition") or {}).get("cedar") or {}).get("statement", ""))
        for p in listed
        if p.get("status") == "ACTIVE" and (p.get("enforcementMode") or "ACTIVE") == "ACTIVE"
    ]


def _suffix() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(10))


def install_control_plane() -> None:
    """Serves CreatePolicyEngine, GetPolicyEngine, ListPolicyEngines, DeletePolicyEngine, CreatePolicy, GetPolicy,
    ListPolicies, UpdatePolicy and DeletePolicy as the service model (botocore `bedrock-agentcore-control`, read in
    botocore 1.44.18; the same shapes as aws-sdk-bedrockagentcorecontrol 1.61.0) describes them:
    - names `[A-Za-z][A-Za-z0-9_]*`, 1–48; ids "the user name plus a 10-character generated suffix"; an engine
      name unique in the account and region, a policy name unique in its engine (ConflictException otherwise);
    - creates and deletes are asynchronous (HTTP 202): the answer says CREATING / DELETING, a Get afterwards
      ACTIVE (or the resource is gone) — the caller must wait as for every asynchronous AgentCore call;
    - CreatePolicy / UpdatePolicy: a statement (35–10000 characters) that is not exactly one Cedar policy is a
      ValidationException; with `validationMode` FAIL_ON_ANY_FINDINGS (the default) it must also validate against
      the schema of the tools the engine's gateways are known to have (ValidationException with the findings);
    - DeletePolicyEngine: "The policy engine must not have any associated policies before deletion" and (stricter
      reading) no gateway may name it: ConflictException;
    - CreatePolicyEngine / CreatePolicy with a `clientToken`: "If you retry a request with the same client token,
      the service returns the same response without creating a duplicate" (SDK 1.61.0, `client_token`); the same
      token with other parameters is a ConflictException (the stricter reading, as for gateways: docs/emulator.md
      #4). A token outlives the resource it made only as long as that resource exists."""
    from moto.bedrockagentcorecontrol.models import BedrockAgentCoreControlBackend
    from moto.bedrockagentcorecontrol.responses import BedrockAgentCoreControlResponse
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow


    def _agentcore_error(code: str, message: str) -> Exception:
        from moto.bedrockagentcorecontrol.exceptions import BedrockAgentCoreControlClientError

        err = BedrockAgentCoreControlClientError(message)
        err.code = code
        return err

    def engines(backend: Any) -> dict[str, dict[str, Any]]:
        if not hasattr(backend, "policy_engines"):
            backend.policy_engines = {}
        return backend.policy_engines

    def valid_name(kind: str, name: Any) -> str:
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise _agentcore_error("ValidationException", f"Invalid {kind} name: {name!r} (pattern [A-Za-z][A-Za-z0-9_]*, 1-48)")
        return name

    def engine_of(self: Any) -> dict[str, Any]:
        engine_id = self._get_param("policyEngineId")
        engine = engines(self.backend).get(engine_id)
        if engine is None or engine["status"] == "DELETING":
            raise _agentcore_error("ResourceNotFoundException", f"Policy engine {engine_id} not found")
        return engine

    def policy_of(self: Any, engine: dict[str, Any]) -> dict[str, Any]:
        policy_id = self._get_param("policyId")
        policy = engine["policies"].get(policy_id)
        if policy is None:
            raise _agentcore_error("ResourceNotFoundException", f"Policy {policy_id} not found")
        return policy

    def engine_answer(engine: dict[str, Any], status: str | None = None) -> dict[str, Any]:
        out = {k: engine[k] for k in ("policyEngineId", "name", "createdAt", "updatedAt", "policyEngineArn")}
        out["status"] = status or engine["status"]
        out["statusReasons"] = []
        if engine.get("description"):
            out["description"] = engine["description"]
        return out

    def policy_answer(policy: dict[str, Any], status: str | None = None) -> dict[str, Any]:
        keys = ("policyId", "name", "policyEngineId", "createdAt", "updatedAt", "policyArn", "definition", "enforcementMode")
        out = {k: policy[k] for k in keys}
        out["status"] = status or policy["status"]
        out["statusReasons"] = []
        if policy.get("description"):
            out["description"] = policy["description"]
        return out

    def checked_definition(self: Any, engine: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        definition = params.get("definition") or {}
        statement = ((definition.get("cedar") or {}).get("statement")) if isinstance(definition, dict) else None
        if not isinstance(statement, str) or not 35 <= len(statement) <= 10000:
            raise _agentcore_error("ValidationException", "definition.cedar.statement is required (35-10000 characters)")
        problem = parses(statement)
        if problem is not None:
            raise _agentcore_error("ValidationException", f"The policy is not valid Cedar: {problem}")
        mode = params.get("validationMode") or "FAIL_ON_ANY_FINDINGS"
        if mode not in ("FAIL_ON_ANY_FINDINGS", "IGNORE_ALL_FINDINGS"):
            raise _agentcore_error("ValidationException", f"Invalid validationMode {mode!r}")
        if mode == "FAIL_ON_ANY_FINDINGS":
            manifest: dict[str, list[dict[str, Any]]] = {}
            for gateway in list(self.backend.gateways.values()):
                if (getattr(gateway, "policy_engine_configuration", None) or {}).get("arn") == engine["policyEngineArn"]:
                    manifest.update(MANIFEST_OF_GATEWAY(gateway.gateway_id))
            findings = validate(statement, manifest)
            if findings:
                raise _agentcore_error("ValidationException", "The policy failed validation: " + "; ".join(findings))
        return {"cedar": {"statement": statement}}

    def replayed(self: Any, kind: str, params: dict[str, Any], exists: Any) -> Any:
        """The resource an earlier request with this client token made, when it still `exists`; None otherwise."""
        token = params.get("clientToken")
        if not token:
            return None
        tokens = self.backend.__dict__.setdefault("policy_client_tokens", {})
        seen = tokens.get((kind, token))
        if seen is None:
            return None
        fingerprint, resource = seen
        if not exists(resource):
            del tokens[(kind, token)]
            return None
        if fingerprint != json.dumps({k: v for k, v in params.items() if k != "clientToken"}, sort_keys=True, default=str):
            raise _agentcore_error("ConflictException", f"Client token {token} was used with other parameters")
        return resource

    def remember(self: Any, kind: str, params: dict[str, Any], resource: Any) -> None:
        token = params.get("clientToken")
        if token:
            fingerprint = json.dumps({k: v for k, v in params.items() if k != "clientToken"}, sort_keys=True, default=str)
            self.backend.__dict__.setdefault("policy_client_tokens", {})[(kind, token)] = (fingerprint, resource)

    def create_engine(self: Any) -> Any:
        params = self._get_params()
        name = valid_name("policy engine", params.get("name"))
        again = replayed(self, "engine", params, lambda e: e["policyEngineId"] in engines(self.backend))
        if again is not None:
            return ActionResult(engine_answer(again, "CREATING"))
        with _lock:
            if any(e["name"] == name for e in engines(self.backend).values()):
                raise _agentcore_error("ConflictException", f"Policy engine {name} already exists")
            engine_id = f"{name}-{_suffix()}"
            now = utcnow()
            engine = {
                "policyEngineId": engine_id,
                "name": name,
                "description": params.get("description"),
                "createdAt": now,
                "updatedAt": now,
                "policyEngineArn": f"arn:aws:bedrock-agentcore:{self.region}:{self.current_account}:policy-engine/{engine_id}",
                "status": "ACTIVE",
                "policies": {},
            }
            engines(self.backend)[engine_id] = engine
            remember(self, "engine", params, engine)
        if params.get("tags"):
            self.backend.tag_resource(engine["policyEngineArn"], params["tags"])
        return ActionResult(engine_answer(engine, "CREATING"))

    def get_engine(self: Any) -> Any:
        return ActionResult(engine_answer(engine_of(self)))

    def list_engines(self: Any) -> Any:
        items = [engine_answer(e) for e in engines(self.backend).values() if e["status"] != "DELETING"]
        return ActionResult({"policyEngines": items})

    def delete_engine(self: Any) -> Any:
        engine = engine_of(self)
        if engine["policies"]:
            raise _agentcore_error("ConflictException", f"Policy engine {engine['policyEngineId']} still has policies")
        for gateway in self.backend.gateways.values():
            config = getattr(gateway, "policy_engine_configuration", None) or {}
            if config.get("arn") == engine["policyEngineArn"]:
                raise _agentcore_error(
                    "ConflictException", f"Policy engine {engine['policyEngineId']} is associated with gateway {gateway.gateway_id}"
                )
        with _lock:
            del engines(self.backend)[engine["policyEngineId"]]
        self.backend.tagger.delete_all_tags_for_resource(engine["policyEngineArn"])
        return ActionResult(engine_answer(engine, "DELETING"))

    def create_policy(self: Any) -> Any:
        engine = engine_of(self)
        params = self._get_params()
        name = valid_name("policy", params.get("name"))
        again = replayed(self, "policy", params, lambda p: p["policyId"] in engine["policies"])
        if again is not None:
            return ActionResult(policy_answer(again, "CREATING"))
        definition = checked_definition(self, engine, params)
        enforcement = params.get("enforcementMode") or "ACTIVE"
        if enforcement not in ("ACTIVE", "LOG_ONLY"):
            raise _agentcore_error("ValidationException", f"Invalid enforcementMode {enforcement!r}")
        with _lock:
            if any(p["name"] == name for p in engine["policies"].values()):
                raise _agentcore_error("ConflictException", f"Policy {name} already exists")
            policy_id = f"{name}-{_suffix()}"
            now = utcnow()
            policy = {
                "policyId": policy_id,
                "name": name,
                "policyEngineId": engine["policyEngineId"],
                "createdAt": now,
                "updatedAt": now,
                "policyArn": f"{engine['policyEngineArn']}/policy/{policy_id}",
                "definition": definition,
                "enforcementMode": enforcement,
                "description": params.get("description"),
                "status": "ACTIVE",
            }
            engine["policies"][policy_id] = policy
            remember(self, "policy", params, policy)
        return ActionResult(policy_answer(policy, "CREATING"))

    def get_policy(self: Any) -> Any:
        engine = engine_of(self)
        return ActionResult(policy_answer(policy_of(self, engine)))

    def list_policies(self: Any) -> Any:
        engine = engine_of(self)
        return ActionResult({"policies": [policy_answer(p) for p in engine["policies"].values()]})

    def update_policy(self: Any) -> Any:
        engine = engine_of(self)
        policy = policy_of(self, engine)
        params = self._get_params()
        if params.get("definition") is not None:
            policy["definition"] = checked_definition(self, engine, params)
        if params.get("description") is not None:
            policy["description"] = params["description"]
        if params.get("enforcementMode") is not None:
            policy["enforcementMode"] = params["enforcementMode"]
        policy["updatedAt"] = utcnow()
        return ActionResult(policy_answer(policy, "UPDATING"))

    def delete_policy(self: Any) -> Any:
        engine = engine_of(self)
        policy = policy_of(self, engine)
        with _lock:
            del engine["policies"][policy["policyId"]]
        return ActionResult(policy_answer(policy, "DELETING"))

    for op, fn in (
        ("create_policy_engine", create_engine),
        ("get_policy_engine", get_engine),
        ("list_policy_engines", list_engines),
        ("delete_policy_engine", delete_engine),
        ("create_policy", create_policy),
        ("get_policy", get_policy),
        ("list_policies", list_policies),
        ("update_policy", update_policy),
        ("delete_policy", delete_policy),
    ):
        setattr(BedrockAgentCoreControlResponse, op, fn)
    BedrockAgentCoreControlBackend.policy_engine_by_arn = lambda self, arn: next(  # type: ignore[attr-defined]
        (e for e in engines(self).values() if e["policyEngineArn"] == arn), None
    )
