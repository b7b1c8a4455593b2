#!/usr/bin/env python3
"""Local AWS emulator for neo4j-gw: moto's server, patched where moto 5.2.5 differs from AWS for our stack.

Usage (with the project's venv python, see scripts/venv):

    python scripts/emulator/moto_server.py [--port N] [--no-ecs-agent] [--agentcore-delay-seconds S] [--log-requests]
                                  [--agentcore-reading strict|lenient]

Binds 127.0.0.1 only (port 0 = let the kernel pick a free port, no race). When ready it prints exactly one JSON
line on stdout, {"port": N, "endpoint": "http://127.0.0.1:N"}, and serves until stdin reaches EOF or it gets
SIGTERM/SIGINT; then it exits 0. Diagnostics go to stderr. Unless --no-data-plane is given, it also starts the
local data plane (scripts/emulator/dataplane: the gateway, Cognito token endpoint, load balancer and MCP server stand-ins)
on another loopback port and adds {"data_plane": "http://127.0.0.1:M"} to that line. `--agentcore-reading`
chooses how the gateway stand-in reads the AgentCore guide where it is silent (scripts/emulator/dataplane/gateway.py;
docs/emulator.md): `strict` (the default, or the environment variable NEO4J_GW_AGENTCORE_READING) or `lenient`.

Every patch below is one function with a docstring saying what AWS does and what moto does instead. They patch
moto's classes in this process only; moto's files are untouched. docs/emulator.md lists them with the probes.
"""

from __future__ import annotations

import argparse
import copy
import functools
import inspect
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from datetime import datetime
from typing import Any, Callable

# Our fake ECS agent decides how many tasks run; moto's own knob must not interfere (with --no-ecs-agent a
# service must keep runningCount 0). Set before moto is imported, as moto reads it at service creation.
os.environ.pop("MOTO_ECS_SERVICE_RUNNING", None)
os.environ.pop("MOTO_ECS_SERVICE_FAILED_TASKS", None)

AGENTCORE_GATEWAY_MODEL = "bedrock-agentcore-control::gateway"
# Set when the data plane runs: called with a target that SynchronizeGatewayTargets put in SYNCHRONIZING.
SYNC_HOOK: Callable[[Any], None] | None = None
AGENTCORE_TARGET_MODEL = "bedrock-agentcore-control::gateway_target"


def log(msg: str) -> None:
    print(f"moto_server: {msg}", file=sys.stderr, flush=True)


def wrap(owner: Any, name: str, wrapper: Callable[..., Any]) -> None:
    """Replace owner.name by a function calling wrapper(original, *args, **kwargs). Wraps stack in call order."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def patched(*args: Any, **kwargs: Any) -> Any:
        return wrapper(original, *args, **kwargs)

    setattr(owner, name, patched)


def bound(function: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The arguments of a call to function by parameter name, defaults included (moto mixes positional/keyword)."""
    arguments = inspect.signature(function).bind(*args, **kwargs)
    arguments.apply_defaults()
    return dict(arguments.arguments)


# ----------------------------------------------------------------------------------------------------------------
# Bedrock AgentCore control plane
# ----------------------------------------------------------------------------------------------------------------


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


def _fingerprint(params: dict[str, Any]) -> str:
    """A request's parameters without its client token, for comparing a repeat with the first request."""
    return json.dumps({k: v for k, v in params.items() if k != "clientToken"}, sort_keys=True, default=str)


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


# ----------------------------------------------------------------------------------------------------------------
# ECS (+ the ELBv2 target registration a real ECS agent does)
# ----------------------------------------------------------------------------------------------------------------

DEFAULT_DEPLOYMENT_CONFIGURATION = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}


def patch_ecs_create_service_fields() -> None:
    """AWS: create_service keeps deploymentConfiguration (AWS fills the defaults above), healthCheckGracePeriodSeconds
    and enableExecuteCommand, and describe_services returns them with createdAt. moto's response handler drops
    them and moto has no createdAt. (clientToken: patch_ecs_create_service_idempotency.)"""
    from moto.core.utils import utcnow
    from moto.ecs.responses import EC2ContainerServiceResponse

    def create_service(original: Callable[..., Any], self: Any) -> Any:
        result = original(self)
        service = self.ecs_backend._get_service(self._get_param("cluster", "default"), self._get_param("serviceName"))
        config = json.loads(json.dumps(DEFAULT_DEPLOYMENT_CONFIGURATION))
        config.update(self._get_param("deploymentConfiguration") or {})
        service.deployment_configuration = config
        grace = self._get_param("healthCheckGracePeriodSeconds")
        if grace is not None:
            service.health_check_grace_period_seconds = grace
        service.enable_execute_command = bool(self._get_param("enableExecuteCommand", False))
        service.created_at = utcnow()
        return result

    wrap(EC2ContainerServiceResponse, "create_service", create_service)


def patch_ecs_create_service_validation() -> None:
    """AWS create_service fails with InvalidParameterException when:
    - an ACTIVE (or DRAINING) service of that name exists in the cluster ("Creation of service was not idempotent.");
      moto silently replaces the service. (AWS returns the existing service for an exact repeat; look up first.)
    - a loadBalancers target group does not exist or is not attached to a load balancer (a listener or rule must
      forward to it first); moto accepts any ARN.
    - the task definition uses awsvpc and no networkConfiguration is given; moto accepts it."""
    from moto.ecs.exceptions import InvalidParameterException
    from moto.ecs.models import EC2ContainerServiceBackend
    from moto.elbv2.models import elbv2_backends

    def create_service(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound(original, self, *args, **kwargs)
        cluster = self._get_cluster(call["cluster_str"])
        existing = self.services.get(f"{cluster.name}:{call['service_name']}")
        if existing is not None and existing.status in ("ACTIVE", "DRAINING"):
            raise InvalidParameterException("Creation of service was not idempotent.")
        elbv2 = elbv2_backends[self.account_id][self.region_name]
        for lb in call["load_balancers"] or []:
            arn = lb.get("targetGroupArn")
            if not arn:
                continue
            group = elbv2.target_groups.get(arn)
            if group is None:
                raise InvalidParameterException(f"Unable to find target group {arn}.")
            if not group.load_balancer_arns:
                raise InvalidParameterException(
                    f"The target group with targetGroupArn {arn} does not have an associated load balancer."
                )
        task_definition_str = call["task_definition_str"]
        if task_definition_str and not call["network_configuration"]:
            if self.describe_task_definition(task_definition_str).network_mode == "awsvpc":
                raise InvalidParameterException(
                    "Network Configuration must be provided when networkMode 'awsvpc' is specified."
                )
        return original(self, *args, **kwargs)

    wrap(EC2ContainerServiceBackend, "create_service", create_service)


def patch_ecs_service_linked_role() -> None:
    """AWS: ECS creates a service only when the account has the service-linked role AWSServiceRoleForECS; in an
    account that never used ECS, CreateService fails with InvalidParameterException "Unable to assume the service
    linked role. Please verify that the ECS service linked role exists." (ECS developer guide, "Using
    service-linked roles for Amazon ECS"). moto needs no such role."""
    from moto.ecs.exceptions import InvalidParameterException
    from moto.ecs.models import EC2ContainerServiceBackend
    from moto.iam import models as iam_models
    from moto.iam.models import iam_backends

    # moto names the role of ecs.amazonaws.com "AWSServiceRoleForecs"; AWS names it AWSServiceRoleForECS.
    iam_models.SERVICE_NAME_CONVERSION.setdefault("ecs", "ECS")

    def create_service(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        iam = iam_backends[self.account_id]["global"]
        if not any(role.name == "AWSServiceRoleForECS" for role in iam.roles.values()):
            raise InvalidParameterException(
                "Unable to assume the service linked role. Please verify that the ECS service linked role exists."
            )
        return original(self, *args, **kwargs)

    wrap(EC2ContainerServiceBackend, "create_service", create_service)


def patch_ecs_create_service_idempotency() -> None:
    """AWS create_service honours clientToken per cluster (ECS_Idempotency): a repeat with the same token and the
    same parameters in the same cluster "succeeds without performing any further actions" — it answers with the
    service the first request created, also after that service was deleted, for as long as ECS remembers the token
    (the emulator: until /moto-api/reset); the same token with other parameters is refused (InvalidParameterException
    here; AWS's exact code is not documented). moto ignores clientToken."""
    from moto.core.responses import ActionResult
    from moto.ecs.exceptions import InvalidParameterException
    from moto.ecs.responses import EC2ContainerServiceResponse

    def create_service(original: Callable[..., Any], self: Any) -> Any:
        token = self._get_param("clientToken")
        if not token:
            return original(self)
        memory = self.ecs_backend.__dict__.setdefault("_neo4j_gw_service_tokens", {})
        cluster = self.ecs_backend._get_cluster(self._get_param("cluster", "default"))
        key = (cluster.arn, token)
        fingerprint = _fingerprint(self._get_params())
        known = memory.get(key)
        if known is not None:
            if known[0] != fingerprint:
                raise InvalidParameterException(
                    f"The client token {token} was already used for a request with different parameters."
                )
            return ActionResult({"service": known[1]})
        result = original(self)
        memory[key] = (fingerprint, self.ecs_backend._get_service(cluster.name, self._get_param("serviceName")))
        return result

    wrap(EC2ContainerServiceResponse, "create_service", create_service)


def _service_tasks(backend: Any, service: Any) -> list[Any]:
    """The tasks our fake agent started for this service and has not stopped."""
    return [
        task
        for task in backend.tasks.get(service.cluster_name, {}).values()
        if task.group == f"service:{service.name}" and task.desired_status == "RUNNING"
    ]


def _task_ip(task: Any) -> str | None:
    for attachment in task.attachments:
        for detail in attachment.get("details", []):
            if detail.get("name") == "privateIPv4Address":
                return detail.get("value")
    return None


def _start_task(backend: Any, service: Any, index: int, deployment_id: str) -> Any:
    """Start one Fargate task like ECS would: group 'service:<name>', startedBy the deployment id, one ENI in
    the service's subnets (round robin), RUNNING and staying RUNNING (moto's ecs::task model would otherwise walk
    RUNNING -> STOPPED one step per describe_tasks)."""
    from moto.core.utils import utcnow
    from moto.ec2.models import ec2_backends
    from moto.ecs.models import Task

    cluster = backend._get_cluster(service.cluster_name)
    task_definition = backend.describe_task_definition(service.task_definition)
    network = json.loads(json.dumps(service.network_configuration)) if service.network_configuration else None
    if network:
        subnets = network["awsvpcConfiguration"]["subnets"]
        network["awsvpcConfiguration"]["subnets"] = subnets[index % len(subnets):] + subnets[: index % len(subnets)]
    ec2 = ec2_backends[backend.account_id][backend.region_name]
    enis_before = set(ec2.enis)
    tags: list[dict[str, str]] = []
    if service.propagate_tags == "SERVICE":
        tags = list(service.tags)
    elif service.propagate_tags == "TASK_DEFINITION":
        tags = list(task_definition.tags or [])
    try:
        task = Task(
            cluster=cluster,
            task_definition=task_definition,
            container_instance_arn=None,
            resource_requirements=None,
            backend=backend,
            group=f"service:{service.name}",
            launch_type=service.launch_type or "FARGATE",
            started_by=deployment_id,
            tags=tags,
            networking_configuration=network,
            platform_version=service.platform_version or "1.4.0",
        )
    except Exception:
        for eni_id in set(ec2.enis) - enis_before:  # don't leak the ENI of a task that failed to start
            ec2.enis.pop(eni_id, None)
        raise
    task._transitions = []  # stays RUNNING until the agent stops it
    task.started_at = utcnow()
    for container in task.containers:
        container.last_status = "RUNNING"
    backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
    return task


def _stop_task(backend: Any, task: Any, reason: str) -> None:
    """Stop a service task like ECS would: STOPPED with a reason, and its ENI deleted (ECS deletes task ENIs)."""
    from moto.core.utils import utcnow
    from moto.ec2.models import ec2_backends

    task.desired_status = "STOPPED"
    task.status = "STOPPED"
    task.stopped_reason = reason
    task.stopped_at = utcnow()
    for container in task.containers:
        container.last_status = "STOPPED"
    ec2 = ec2_backends[backend.account_id][backend.region_name]
    for attachment in task.attachments:
        attachment["status"] = "DELETED"
        for detail in attachment.get("details", []):
            if detail.get("name") == "networkInterfaceId":
                ec2.enis.pop(detail.get("value"), None)


def _sync_targets(backend: Any, service: Any, running: list[Any], stopped: list[Any]) -> None:
    """Register running task IPs in each target group of service.loadBalancers (port = containerPort) and
    deregister stopped ones; moto's ELBv2 then reports registered IP targets 'healthy'."""
    from moto.elbv2.models import elbv2_backends

    elbv2 = elbv2_backends[backend.account_id][backend.region_name]
    for lb in service.load_balancers or []:
        group = elbv2.target_groups.get(lb.get("targetGroupArn", ""))
        if group is None:
            continue
        port = lb.get("containerPort") or group.port
        for task in stopped:
            ip = _task_ip(task)
            if ip and ip in group.targets:
                group.deregister([{"Id": ip, "Port": port}])
        to_register = [{"Id": ip, "Port": port} for ip in map(_task_ip, running) if ip and ip not in group.targets]
        if to_register:
            group.register(to_register)


def _recount_cluster(backend: Any, cluster_name: str) -> None:
    """Recompute the cluster's runningTasksCount / pendingTasksCount / activeServicesCount from its services and
    tasks (moto's own bookkeeping drifts, e.g. on an update_service without desiredCount)."""
    cluster = backend.clusters.get(cluster_name)
    if cluster is None:
        return
    services = [s for s in backend.services.values() if s.cluster_name == cluster_name and s.status == "ACTIVE"]
    standalone = [
        t
        for t in backend.tasks.get(cluster_name, {}).values()
        if not t.group.startswith("service:") and t.desired_status == "RUNNING"
    ]
    cluster.running_tasks_count = sum(s.running_count for s in services) + len(standalone)
    cluster.pending_tasks_count = sum(s.pending_count for s in services)
    cluster.active_services_count = len(services)


def _primary_deployment(service: Any, new: bool) -> dict[str, Any]:
    """The service's PRIMARY deployment, replaced by a fresh one when `new` (task definition changed or forced)."""
    from moto.core.utils import utcnow
    from moto.moto_api._internal import mock_random

    if new or not service.deployments:
        now = utcnow()
        old = service.deployments[0] if service.deployments else {}
        service.deployments = [
            {
                **old,
                "id": f"ecs-svc/{mock_random.randint(0, 10**19)}",
                "status": "PRIMARY",
                "createdAt": now,
                "updatedAt": now,
                "failedTasks": 0,
                "taskDefinition": service.task_definition,
                "launchType": service.launch_type,
                "networkConfiguration": service.network_configuration or None,
            }
        ]
    return service.deployments[0]


def reconcile_service(backend: Any, service: Any, agent: bool, new_deployment: bool) -> None:
    """What the ECS scheduler does after create/update/delete. With the agent: run desiredCount tasks of the
    service's task definition (a new deployment replaces all tasks), register their IPs in the target groups,
    runningCount = desiredCount, deployment COMPLETED. Without it: nothing runs, runningCount 0,
    pendingCount = desiredCount, deployment IN_PROGRESS (COMPLETED only when desiredCount is 0)."""
    from moto.core.utils import utcnow

    desired = service.desired_count if service.status == "ACTIVE" else 0
    deployment = _primary_deployment(service, new_deployment)
    if agent:
        tasks = _service_tasks(backend, service)
        # a new deployment (new task definition or forceNewDeployment) replaces every task
        stale = tasks if new_deployment else [t for t in tasks if t.task_definition_arn != service.task_definition]
        keep = [t for t in tasks if t not in stale]
        excess = keep[desired:] if len(keep) > desired else []
        keep = keep[:desired]
        stopped = stale + excess
        for task in stale:
            _stop_task(backend, task, f"Task stopped by deployment {deployment['id']}")
        for task in excess:
            _stop_task(backend, task, f"Scaling activity initiated by (deployment {deployment['id']})")
        if desired > len(keep):
            keep += [_start_task(backend, service, i, deployment["id"]) for i in range(len(keep), desired)]
        _sync_targets(backend, service, keep, stopped)
        running, pending = len(keep), 0
    else:
        running, pending = 0, desired
    service.running_count, service.pending_count = running, pending
    _recount_cluster(backend, service.cluster_name)
    deployment.update(
        {
            "desiredCount": desired,
            "runningCount": running,
            "pendingCount": pending,
            "rolloutState": "COMPLETED" if running >= desired else "IN_PROGRESS",
            "rolloutStateReason": (
                f"ECS deployment {deployment['id']} completed."
                if running >= desired
                else f"ECS deployment {deployment['id']} in progress."
            ),
            "updatedAt": utcnow(),
        }
    )


def patch_ecs_agent(agent: bool) -> None:
    """AWS runs a service's tasks, registers them in its target groups and reports runningCount. moto runs nothing
    (runningCount 0, or MOTO_ECS_SERVICE_RUNNING for every service), sets runningCount = desiredCount on any
    update_service with a desiredCount, leaves deployments untouched on update, stores the task definition as given
    (not as an ARN) and keeps runningCount after delete_service. Route create/update/delete through
    reconcile_service; with agent=False (--no-ecs-agent) nothing ever runs."""
    from moto.ecs.models import EC2ContainerServiceBackend

    def safely(backend: Any, service: Any, new_deployment: bool) -> None:
        try:
            reconcile_service(backend, service, agent, new_deployment)
        except Exception:  # never fail the API call because of the fake agent
            log("fake ECS agent failed:\n" + traceback.format_exc())

    def create_service(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        service = original(self, *args, **kwargs)
        service.deployments = service.deployments[:1]
        if service.deployments:
            service.deployments[0]["taskDefinition"] = service.task_definition
        safely(self, service, new_deployment=False)
        return service

    def update_service(original: Callable[..., Any], self: Any, props: dict[str, Any]) -> Any:
        cluster_str = props.get("cluster", "default")
        service_name = props.get("service", "").split("/")[-1]
        before = self._get_service(cluster_str, service_name)
        old_task_definition = before.task_definition
        forced = bool(props.get("force_new_deployment"))
        service = original(self, props)
        if service.task_definition:
            service.task_definition = self.describe_task_definition(service.task_definition).arn
        safely(self, service, new_deployment=forced or service.task_definition != old_task_definition)
        return service

    def delete_service(original: Callable[..., Any], self: Any, cluster_name: str, service_name: str, force: bool) -> Any:
        service = original(self, cluster_name, service_name, force)
        # moto already took running/pending out of the cluster counters and marked the service INACTIVE.
        service.running_count = 0
        service.pending_count = 0
        if agent:
            try:
                tasks = _service_tasks(self, service)
                for task in tasks:
                    _stop_task(self, task, "Service was deleted")
                _sync_targets(self, service, [], tasks)
            except Exception:
                log("fake ECS agent failed:\n" + traceback.format_exc())
        for deployment in service.deployments:
            deployment.update({"desiredCount": 0, "runningCount": 0, "pendingCount": 0})
        _recount_cluster(self, service.cluster_name)
        return service

    wrap(EC2ContainerServiceBackend, "create_service", create_service)
    wrap(EC2ContainerServiceBackend, "update_service", update_service)
    wrap(EC2ContainerServiceBackend, "delete_service", delete_service)


def patch_ecs_list_tasks() -> None:
    """AWS list_tasks filters on serviceName and, when desiredStatus is not given, lists only tasks whose desired
    status is RUNNING. moto ignores serviceName (its TODO) and returns stopped tasks too."""
    from moto.ecs.models import EC2ContainerServiceBackend

    def list_tasks(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound(original, self, *args, **kwargs)
        service_name = call["service_name"]
        call["desiredStatus"] = call["desiredStatus"] or "RUNNING"
        tasks = original(**call)
        if service_name:
            tasks = [t for t in tasks if t.group == f"service:{service_name.split('/')[-1]}"]
        return tasks

    wrap(EC2ContainerServiceBackend, "list_tasks", list_tasks)


def patch_ecs_describe_task_definition_family() -> None:
    """AWS describe_task_definition with a family alone answers with the family's latest ACTIVE revision, and with
    ClientException "Unable to describe task definition." when it has none (ECS API reference, DescribeTaskDefinition
    `taskDefinition`: "The family for the latest ACTIVE revision"). moto answers with the latest revision whatever its
    status, so a deregistered task definition looked present (found by tests/drift_matrix.rs, issue 11)."""
    from moto.ecs.exceptions import TaskDefinitionNotFoundException
    from moto.ecs.models import EC2ContainerServiceBackend

    def describe(original: Callable[..., Any], self: Any, task_definition_str: str) -> Any:
        name = task_definition_str.split("/")[-1]
        if ":" in name:
            return original(self, task_definition_str)
        revisions = self.task_definitions.get(name, {})
        active = [r for r, td in revisions.items() if td.status == "ACTIVE"]
        if not active:
            raise TaskDefinitionNotFoundException()
        return revisions[max(active)]

    wrap(EC2ContainerServiceBackend, "describe_task_definition", describe)


def patch_ecs_list_services() -> None:
    """AWS list_services returns ACTIVE and DRAINING services only; moto also lists deleted (INACTIVE) ones."""
    from moto.ecs.models import EC2ContainerServiceBackend

    def list_services(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound(original, self, *args, **kwargs)
        cluster = self._get_cluster(call["cluster_str"])
        inactive = {s.arn for s in self.services.values() if s.cluster_name == cluster.name and s.status == "INACTIVE"}
        return [arn for arn in original(self, *args, **kwargs) if arn not in inactive]

    wrap(EC2ContainerServiceBackend, "list_services", list_services)


def patch_ecs_delete_cluster() -> None:
    """AWS delete_cluster fails with ClusterContainsServicesException while ACTIVE/DRAINING services remain and with
    ClusterContainsTasksException while tasks run; moto always marks the cluster INACTIVE."""
    from moto.ecs.exceptions import ECSException
    from moto.ecs.models import EC2ContainerServiceBackend

    def delete_cluster(original: Callable[..., Any], self: Any, cluster_str: str) -> Any:
        cluster = self._get_cluster(cluster_str)
        if any(s.cluster_name == cluster.name and s.status in ("ACTIVE", "DRAINING") for s in self.services.values()):
            raise ECSException(
                "ClusterContainsServicesException",
                "The Cluster cannot be deleted while Services are active.",
            )
        if any(t.desired_status == "RUNNING" for t in self.tasks.get(cluster.name, {}).values()):
            raise ECSException(
                "ClusterContainsTasksException",
                "The Cluster cannot be deleted while Tasks are active.",
            )
        return original(self, cluster_str)

    wrap(EC2ContainerServiceBackend, "delete_cluster", delete_cluster)


# ----------------------------------------------------------------------------------------------------------------
# EC2, ELBv2, Route53, Secrets Manager, CloudWatch Logs, IAM
# ----------------------------------------------------------------------------------------------------------------


def patch_ec2_source_group_rule_equality() -> None:
    """AWS: a rule's description is not part of its identity; authorizing the same port range from the same source
    security group again fails with InvalidPermission.Duplicate whatever the description. moto compares the source
    group dict including its Description, so a repeat with another (or no) description adds a second identical
    rule, and a revoke by IpPermissions without the description does not find the rule."""
    from moto.ec2.models.security_groups import SecurityGroupRule

    def without_description(group: dict[str, Any] | None) -> dict[str, Any]:
        return {k: v for k, v in (group or {}).items() if k != "Description"}

    def eq(self: Any, other: Any) -> bool:  # moto's __eq__, minus the description
        if not isinstance(other, SecurityGroupRule):
            return NotImplemented  # type: ignore[return-value]
        if self.ip_protocol != other.ip_protocol or self.prefix_list_id != other.prefix_list_id:
            return False
        for field in ("CidrIp", "CidrIpv6"):
            if field in self.ip_range and self.ip_range.get(field) != other.ip_range.get(field):
                return False
        if without_description(self.source_group) != without_description(other.source_group):
            return False
        if self.ip_protocol != "-1" and (self.from_port, self.to_port) != (other.from_port, other.to_port):
            return False
        return True

    SecurityGroupRule.__eq__ = eq  # type: ignore[method-assign]


def patch_ec2_eni_private_dns_name() -> None:
    """moto sets NetworkInterface.private_dns_name only in VPCs with DNS hostnames enabled, and moto's own ECS task
    code reads it unconditionally, so a task (ours or run_task) in such a VPC crashes with AttributeError. AWS
    gives every ENI a private DNS name; default it from the private IP."""
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface
    from moto.ec2.utils import generate_dns_from_ip

    def private_dns_name(self: Any) -> str | None:
        if "private_dns_name" in self.__dict__:
            return self.__dict__["private_dns_name"]
        return generate_dns_from_ip(self.private_ip_address) if self.private_ip_address else None

    def set_private_dns_name(self: Any, value: str | None) -> None:
        self.__dict__["private_dns_name"] = value

    NetworkInterface.private_dns_name = property(private_dns_name, set_private_dns_name)  # type: ignore[attr-defined]


def patch_elbv2_duplicate_load_balancer() -> None:
    """AWS create_load_balancer is idempotent by name: the same name with the same scheme, type and subnets returns
    the existing load balancer, other settings fail with DuplicateLoadBalancerName. moto creates a second load
    balancer with the same name (a different ARN)."""
    from moto.elbv2.exceptions import DuplicateLoadBalancerName
    from moto.elbv2.models import ELBv2Backend

    def create_load_balancer(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound(original, self, *args, **kwargs)
        for balancer in self.load_balancers.values():
            if balancer.name != call["name"]:
                continue
            subnets = set(call["subnet_ids"] or []) | {m["SubnetId"] for m in call["subnet_mappings"] or []}
            same = (
                subnets == {s.id for s in balancer.subnets}
                and (call["scheme"] or "internet-facing") == balancer.scheme
                and (call["loadbalancer_type"] or "application") == balancer.type
            )
            if same:
                return balancer
            raise DuplicateLoadBalancerName()
        return original(self, *args, **kwargs)

    wrap(ELBv2Backend, "create_load_balancer", create_load_balancer)


def patch_elbv2_duplicate_listener() -> None:
    """AWS create_listener is idempotent: a second call with the same port and settings returns the existing
    listener; the same port with other settings fails with DuplicateListener. moto checks the port against the
    listeners' ARNs, so it never matches, and a repeated call (e.g. the SDK's retry after a lost answer) makes a
    second listener on the same port."""
    from moto.elbv2.exceptions import DuplicateListenerError
    from moto.elbv2.models import ELBv2Backend

    def create_listener(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound(original, self, *args, **kwargs)
        balancer = self.load_balancers.get(call["load_balancer_arn"])
        if balancer is not None:
            for listener in balancer.listeners.values():
                if str(listener.port) != str(call["port"]):
                    continue
                same = (
                    listener.protocol == (call["protocol"] or "").upper()
                    and listener.certificate == call["certificate"]
                    and listener.ssl_policy == call["ssl_policy"]
                )
                if same:
                    return listener
                raise DuplicateListenerError()
        return original(self, *args, **kwargs)

    wrap(ELBv2Backend, "create_listener", create_listener)


def patch_elbv2_dns_names() -> None:
    """AWS gives every load balancer its own DNS name, '<name>-<digits>.<region>.elb.amazonaws.com': one deleted and
    created again under the same name gets a new DNS name, so a DNS alias to the old one no longer resolves to it.
    moto derives the DNS name from the name alone ('<name>-1.…'), so after such a re-creation the old alias still
    looked right."""
    from moto.elbv2.models import ELBv2Backend
    from moto.moto_api._internal import mock_random

    def create_load_balancer(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        before = set(self.load_balancers)
        balancer = original(self, *args, **kwargs)
        if balancer.arn not in before:
            digits = "".join(mock_random.choice("0123456789") for _ in range(10))
            balancer.dns_name = f"{balancer.name}-{digits}.{self.region_name}.elb.amazonaws.com"
        return balancer

    wrap(ELBv2Backend, "create_load_balancer", create_load_balancer)


def patch_route53_change_validation() -> None:
    """AWS change_resource_record_sets fails the whole batch with InvalidChangeBatch when a CREATE names a record
    set (name, type, set identifier) that exists, or a DELETE one that does not. moto only checks its change
    journal, so a CREATE after an UPSERT, or a second DELETE, succeeds."""
    from moto.route53.exceptions import Route53ClientError
    from moto.route53.models import Route53Backend

    def key(name: str, rtype: str, set_id: str | None) -> tuple[str, str, str | None]:
        return (name.lower().rstrip(".") + ".", rtype, set_id)

    def change(original: Callable[..., Any], self: Any, zoneid: str, change_list: list[dict[str, Any]]) -> Any:
        zone = self.get_hosted_zone(zoneid)
        present = {key(r.name, r.type, r.set_identifier) for r in zone.rrsets}
        for item in change_list:
            record = item.get("ResourceRecordSet", {})
            k = key(record.get("Name", ""), record.get("Type", ""), record.get("SetIdentifier"))
            shown = f"[name='{k[0]}', type='{k[1]}'" + (f", set-identifier='{k[2]}'" if k[2] else "") + "]"
            if item.get("Action") == "CREATE":
                if k in present:
                    raise Route53ClientError(
                        "InvalidChangeBatch", f"Tried to create resource record set {shown} but it already exists"
                    )
                present.add(k)
            elif item.get("Action") == "DELETE":
                if k not in present:
                    raise Route53ClientError(
                        "InvalidChangeBatch", f"Tried to delete resource record set {shown} but it was not found"
                    )
                present.discard(k)
            elif item.get("Action") == "UPSERT":
                present.add(k)
        return original(self, zoneid, change_list)

    wrap(Route53Backend, "change_resource_record_sets", change)


def patch_acm_dns_validation() -> None:
    """AWS: a certificate requested with DNS validation becomes ISSUED once ACM finds the CNAME record it asked
    for (DomainValidationOptions[].ResourceRecord) in public DNS; until then it stays PENDING_VALIDATION (ACM user
    guide, "DNS validation"). moto issues every requested certificate after 60 seconds, records or not. Here it is
    issued when each validation record exists in a public hosted zone of the emulator's Route53, and never by time
    alone."""
    from moto.acm.models import CertBundle
    from moto.route53.models import route53_backends

    def validated(cert: Any) -> bool:
        options = cert.describe()["Certificate"].get("DomainValidationOptions") or []
        if not options:
            return False
        r53 = route53_backends[cert.arn.split(":")[4]]["aws"]
        for option in options:
            record = option["ResourceRecord"]
            name, value = record["Name"].lower(), record["Value"].lower()
            found = False
            for zone in r53.zones.values():
                if zone.private_zone or not (name == zone.name.lower() or name.endswith("." + zone.name.lower())):
                    continue
                for rrset in zone.rrsets:
                    if rrset.name.lower() == name and rrset.type == "CNAME" and any(
                        str(r).lower().rstrip(".") == value.rstrip(".") for r in rrset.records
                    ):
                        found = True
            if not found:
                return False
        return True

    def check(original: Callable[..., Any], self: Any) -> None:
        if self.type == "AMAZON_ISSUED" and self.status == "PENDING_VALIDATION":
            if validated(self):
                self.status = "ISSUED"
            return
        original(self)

    wrap(CertBundle, "check", check)


def patch_secretsmanager_put_on_deleted() -> None:
    """AWS put_secret_value on a secret scheduled for deletion fails with InvalidRequestException (restore it first);
    moto stores the new version."""
    from moto.secretsmanager.exceptions import InvalidRequestException
    from moto.secretsmanager.models import SecretsManagerBackend

    def put_secret_value(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound(original, self, *args, **kwargs)
        secret_id = call["secret_id"]
        if self._is_valid_identifier(secret_id):
            secret = self.secrets[secret_id]
            if getattr(secret, "is_deleted", lambda: False)():
                raise InvalidRequestException(
                    "You can't perform this operation on the secret because it was marked for deletion."
                )
        return original(self, *args, **kwargs)

    wrap(SecretsManagerBackend, "put_secret_value", put_secret_value)


def patch_secretsmanager_version_stage_current() -> None:
    """AWS UpdateSecretVersionStage that moves AWSCURRENT makes the target version the secret's current one (what
    GetSecretValue without a stage answers, and what a later PutSecretValue moves away from); moto moves the label
    but keeps its own default version, so two versions end up labelled AWSCURRENT after the next PutSecretValue
    (the lease's compare-and-swap, src/lease.rs). The check of RemoveFromVersionId itself moto does as AWS does."""
    from moto.secretsmanager.models import SecretsManagerBackend

    def update_secret_version_stage(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound(original, self, *args, **kwargs)
        result = original(self, *args, **kwargs)
        target = call.get("move_to_version_id")
        if call.get("version_stage") == "AWSCURRENT" and target:
            secret = self.secrets[call["secret_id"]]
            secret.default_version_id = target
        return result

    wrap(SecretsManagerBackend, "update_secret_version_stage", update_secret_version_stage)


LOG_RETENTION_DAYS = {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}


def patch_logs_retention_values() -> None:
    """AWS put_retention_policy accepts only the listed retentionInDays values (InvalidParameterException otherwise);
    moto stores any number."""
    from moto.logs.exceptions import InvalidParameterException
    from moto.logs.models import LogsBackend

    def put_retention_policy(original: Callable[..., Any], self: Any, log_group_name: str, retention_in_days: Any) -> Any:
        if int(retention_in_days) not in LOG_RETENTION_DAYS:
            raise InvalidParameterException(
                constraint=f"Member must satisfy enum value set: {sorted(LOG_RETENTION_DAYS)}",
                parameter="retentionInDays",
                value=retention_in_days,
            )
        return original(self, log_group_name, retention_in_days)

    wrap(LogsBackend, "put_retention_policy", put_retention_policy)


def patch_iam_aws_managed_policies() -> None:
    """AWS managed policies (arn:aws:iam::aws:policy/...) exist in every account. moto knows them only with
    MOTO_IAM_LOAD_MANAGED_POLICIES=true, which builds all ~1,600 of them for every account and partition (over a
    second on the first call after each reset). Instead, materialise one from moto's bundled copy the first time
    attach_role_policy / get_policy names it; unknown names still fail as in AWS."""
    from moto.iam.models import AWSManagedPolicy, IAMBackend

    cache: dict[str, Any] = {}

    def ensure(backend: Any, policy_arn: str) -> None:
        if policy_arn in backend.managed_policies or ":iam::aws:policy/" not in policy_arn:
            return
        if "data" not in cache:
            from moto.iam.aws_managed_policies import aws_managed_policies_data

            cache["data"] = json.loads(aws_managed_policies_data)
        name = policy_arn.rsplit("/", 1)[-1]
        data = cache["data"].get(name)
        if data is None:
            return
        policy = AWSManagedPolicy.from_data(name, backend.account_id, backend.region_name, data)
        if policy.arn == policy_arn:
            backend.aws_managed_policies.append(policy)
            backend.managed_policies[policy.arn] = policy

    def attach_role_policy(original: Callable[..., Any], self: Any, policy_arn: str, role_name: str) -> Any:
        ensure(self, policy_arn)
        return original(self, policy_arn, role_name)

    def get_policy(original: Callable[..., Any], self: Any, policy_arn: str) -> Any:
        ensure(self, policy_arn)
        return original(self, policy_arn)

    wrap(IAMBackend, "attach_role_policy", attach_role_policy)
    wrap(IAMBackend, "get_policy", get_policy)


# ----------------------------------------------------------------------------------------------------------------
# Cognito
# ----------------------------------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------------------------------
# All services
# ----------------------------------------------------------------------------------------------------------------


def patch_not_implemented_as_501() -> None:
    """moto answers a call it does not implement with HTTP 500 and an HTML page; AWS SDKs take a 500 for a
    transient fault and retry it with backoff, so a test spends its retry budget and then shows no useful
    message. Answer 501 with a proper error (code NotImplemented) instead, which SDKs do not retry."""
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult, BaseResponse

    class EmulatorNotImplemented(ServiceException):  # defined here: moto maps errors of moto.* modules to models
        code = "NotImplemented"

    def call_action(original: Callable[..., Any], self: Any) -> Any:
        try:
            return original(self)
        except NotImplementedError as e:
            error = EmulatorNotImplemented(f"not implemented by the local emulator (moto 5.2.5): {e}")
            _status, headers, body = self.serialized(ActionResult(error))
            return 501, headers, body

    warnings.filterwarnings("ignore", message=r"Exception\(EmulatorNotImplemented\)")
    wrap(BaseResponse, "call_action", call_action)


# ----------------------------------------------------------------------------------------------------------------
# Server
# ----------------------------------------------------------------------------------------------------------------


def apply_patches(ecs_agent: bool, agentcore_delay_seconds: float) -> None:
    patch_not_implemented_as_501()
    patch_agentcore_update_transitions()
    patch_agentcore_update_exception_level()
    patch_agentcore_gateway_ids()
    patch_agentcore_create_idempotency()
    patch_agentcore_delete_rules(agentcore_delay_seconds)
    set_agentcore_delay(agentcore_delay_seconds)
    patch_ecs_create_service_fields()
    patch_ecs_create_service_validation()
    patch_ecs_create_service_idempotency()
    patch_ecs_service_linked_role()
    patch_ecs_agent(ecs_agent)
    patch_ecs_list_tasks()
    patch_ecs_describe_task_definition_family()
    patch_ecs_list_services()
    patch_ecs_delete_cluster()
    patch_ec2_source_group_rule_equality()
    patch_ec2_eni_private_dns_name()
    patch_elbv2_duplicate_load_balancer()
    patch_elbv2_duplicate_listener()
    patch_elbv2_dns_names()
    patch_route53_change_validation()
    patch_secretsmanager_put_on_deleted()
    patch_secretsmanager_version_stage_current()
    patch_acm_dns_validation()
    patch_logs_retention_values()
    patch_iam_aws_managed_policies()
    patch_cognito_domain_rules()
    patch_cognito_client_scopes()
    add_cognito_missing_actions()
    add_agentcore_synchronize_gateway_targets()
    add_agentcore_api_key_credential_providers()


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
        global SYNC_HOOK
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from dataplane import DataPlane

        plane = DataPlane(
            ready["endpoint"],
            agentcore_delay_seconds=args.agentcore_delay_seconds,
            agentcore_reading=args.agentcore_reading,
        )
        ready["data_plane"] = plane.start()
        SYNC_HOOK = plane.gateways.sync_hook
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
