"""Failure states that AWS reaches and moto never does, put on the emulator's resources by tests
(`POST /_dataplane/force-state`), so that neo4j-gw's repair of each can be exercised:

- an AgentCore gateway or target in FAILED / UPDATE_UNSUCCESSFUL / SYNCHRONIZE_UNSUCCESSFUL, or stuck in a
  transition (CREATING, UPDATING, SYNCHRONIZING) during which deletes answer ConflictException, with
  `statusReasons`;
- a Lambda function whose `State` is Failed, or whose `LastUpdateStatus` is Failed, with the reason;
- a Cognito user-pool domain whose `Status` is FAILED.

A forced state stays until the API call that repairs it on AWS: an update of the gateway or target (which goes
UPDATING → READY), an UpdateFunctionCode/Configuration for a failed *last update*, a delete and a new create for
the rest. The model patches that make the states visible (statusReasons, StateReason, the domain's Status) live
here with the forcing itself.
"""

from __future__ import annotations

from typing import Any

ACCOUNT = "123456789012"
FAIL_NEXT: dict[str, int] = {}  # operation -> how many of its next calls fail (kind "iam-propagation")
TRANSITIONAL = {"CREATING", "UPDATING", "SYNCHRONIZING", "DELETING"}


def _conflict(message: str) -> Exception:
    from moto.bedrockagentcorecontrol.exceptions import BedrockAgentCoreControlClientError

    err = BedrockAgentCoreControlClientError(message)
    err.code = "ConflictException"
    return err


def install() -> None:
    from moto.awslambda.models import LambdaFunction
    from moto.bedrockagentcorecontrol.models import BedrockAgentCoreControlBackend as Backend
    from moto.bedrockagentcorecontrol.models import Gateway
    from moto.cognitoidp.models import CognitoIdpUserPoolDomain

    # Gateways: statusReasons, and an update puts a forced gateway back on UPDATING -> READY.
    gateway_to_dict = Gateway.to_dict

    def to_dict(self: Any) -> dict[str, Any]:
        result = gateway_to_dict(self)
        if getattr(self, "status_reasons", None):
            result["statusReasons"] = list(self.status_reasons)
        return result

    gateway_update = Gateway.update

    def update(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = gateway_update(self, *args, **kwargs)
        self.status_reasons = []
        self._transitions = [("CREATING", "READY"), ("UPDATING", "READY"), ("SYNCHRONIZING", "READY")]
        return out

    Gateway.to_dict = to_dict  # type: ignore[method-assign]
    Gateway.update = update  # type: ignore[method-assign]

    # AgentCore answers ConflictException to a delete while a gateway or target is in a transition (service
    # model: DeleteGateway and DeleteGatewayTarget list ConflictException).
    delete_gateway = Backend.delete_gateway

    def guarded_delete_gateway(self: Any, gateway_identifier: str, *args: Any, **kwargs: Any) -> Any:
        gateway = self._get_gateway(gateway_identifier)
        if getattr(gateway, "_neo4j_gw_forced", False) and gateway._status in TRANSITIONAL - {"DELETING"}:
            raise _conflict(f"Gateway {gateway.gateway_id} is {gateway.status}; retry once it has settled")
        return delete_gateway(self, gateway_identifier, *args, **kwargs)

    delete_target = Backend.delete_gateway_target

    def guarded_delete_target(self: Any, gateway_identifier: str, target_id: str, *args: Any, **kwargs: Any) -> Any:
        gateway = self._get_gateway(gateway_identifier)
        target = self._get_gateway_target(gateway.gateway_id, target_id)
        if getattr(target, "_neo4j_gw_forced", False) and target._status in TRANSITIONAL - {"DELETING"}:
            raise _conflict(f"Target {target_id} is {target.status}; retry once it has settled")
        return delete_target(self, gateway_identifier, target_id, *args, **kwargs)

    Backend.delete_gateway = guarded_delete_gateway  # type: ignore[method-assign]
    Backend.delete_gateway_target = guarded_delete_target  # type: ignore[method-assign]

    # IAM's eventual consistency: the next N CreateGateway calls fail as if the new role were not assumable yet.
    # (The exact code and text AgentCore uses are not documented; docs/aws-behaviour.md, point 4.)
    create_gateway = Backend.create_gateway

    def failing_create_gateway(self: Any, *args: Any, **kwargs: Any) -> Any:
        left = FAIL_NEXT.get("CreateGateway", 0)
        if left:
            FAIL_NEXT["CreateGateway"] = left - 1
            from moto.bedrockagentcorecontrol.exceptions import BedrockAgentCoreControlClientError

            err = BedrockAgentCoreControlClientError(
                "The gateway's role cannot be assumed by bedrock-agentcore.amazonaws.com; check its trust policy"
            )
            err.code = "ValidationException"
            raise err
        return create_gateway(self, *args, **kwargs)

    Backend.create_gateway = failing_create_gateway  # type: ignore[method-assign]

    # A forced transition that settles by itself: READY after a number of reads (Get*).
    def settling(original: Any) -> Any:
        def get(self: Any, *args: Any, **kwargs: Any) -> Any:
            obj = original(self, *args, **kwargs)
            left = getattr(obj, "_neo4j_gw_settle_reads", 0)
            if left:
                obj._neo4j_gw_settle_reads = left - 1
                if left == 1:
                    obj.status = "READY"
                    obj.status_reasons = []
                    obj._neo4j_gw_forced = False
            return obj

        return get

    Backend.get_gateway = settling(Backend.get_gateway)  # type: ignore[method-assign]
    Backend.get_gateway_target = settling(Backend.get_gateway_target)  # type: ignore[method-assign]

    # Lambda: a forced State / LastUpdateStatus with its reason; an update clears a failed last update.
    get_configuration = LambdaFunction.get_configuration

    def configuration(self: Any, on_create: bool = False) -> dict[str, Any]:
        config = get_configuration(self, on_create)
        forced = getattr(self, "_neo4j_gw_forced", None) or {}
        if forced.get("state"):
            config["State"] = forced["state"]
            config["StateReason"] = forced.get("reason", "")
            config["StateReasonCode"] = forced.get("reason_code", "InternalError")
        if forced.get("last_update_status"):
            config["LastUpdateStatus"] = forced["last_update_status"]
            config["LastUpdateStatusReason"] = forced.get("reason", "")
            config["LastUpdateStatusReasonCode"] = forced.get("reason_code", "InternalError")
        return config

    LambdaFunction.get_configuration = configuration  # type: ignore[method-assign]
    for name in ("update_configuration", "update_function_code"):
        original = getattr(LambdaFunction, name)

        def clearing(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            forced = getattr(self, "_neo4j_gw_forced", None)
            if forced:
                forced.pop("last_update_status", None)
            return _original(self, *args, **kwargs)

        setattr(LambdaFunction, name, clearing)

    # Cognito: a domain's Status.
    domain_to_json = CognitoIdpUserPoolDomain.to_json

    def domain_json(self: Any, extended: bool = True) -> dict[str, Any]:
        result = domain_to_json(self, extended)
        if extended and getattr(self, "_neo4j_gw_status", None):
            result["Status"] = self._neo4j_gw_status
        return result

    CognitoIdpUserPoolDomain.to_json = domain_json  # type: ignore[method-assign]


def force(doc: dict[str, Any]) -> dict[str, Any]:
    """Applies one forced state; `doc` names the kind, the resource and the state."""
    kind, region = doc["kind"], doc.get("region", "us-east-1")
    if kind in ("gateway", "target"):
        from moto.bedrockagentcorecontrol.models import bedrockagentcorecontrol_backends

        backend = bedrockagentcorecontrol_backends[ACCOUNT][region]
        gateway = backend._get_gateway(doc["gateway_id"])
        obj = gateway if kind == "gateway" else backend._get_gateway_target(gateway.gateway_id, doc["target_id"])
        obj.status = doc["status"]
        obj.status_reasons = list(doc.get("reasons", []))
        obj._transitions = []
        obj._neo4j_gw_forced = True
        obj._neo4j_gw_settle_reads = int(doc.get("settle_after_reads", 0))  # 0: stays until repaired
        return {"ok": True}
    if kind == "lambda":
        from moto.awslambda.models import lambda_backends

        fn = lambda_backends[ACCOUNT][region].get_function(doc["function_name"])
        fn._neo4j_gw_forced = {k: doc[k] for k in ("state", "last_update_status", "reason", "reason_code") if k in doc}
        return {"ok": True}
    if kind == "iam-propagation":
        FAIL_NEXT[doc["operation"]] = int(doc["times"])
        return {"ok": True}
    if kind == "cognito-domain":
        from moto.cognitoidp.models import cognitoidp_backends

        backend = cognitoidp_backends[ACCOUNT][region]
        domain = backend.user_pool_domains[doc["domain"]]
        domain._neo4j_gw_status = doc["status"]
        return {"ok": True}
    raise ValueError(f"unknown kind {kind}")
