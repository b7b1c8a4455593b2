"""ECS (+ the ELBv2 target registration a real ECS agent does): the fake ECS agent and the service calls.

Patches (numbered as in docs/emulator.md, which says what each restores):

  #8   patch_ecs_create_service_fields
  #9   patch_ecs_create_service_validation
  #24  patch_ecs_service_linked_role
  #9b  patch_ecs_create_service_idempotency
  #10  patch_ecs_agent
  #11  patch_ecs_list_tasks
  #25  patch_ecs_describe_task_definition_family
  #12  patch_ecs_list_services
  #13  patch_ecs_delete_cluster
"""

from __future__ import annotations

import json
import traceback
from typing import Any, Callable

from .helpers import bound, log, wrap
from .helpers import fingerprint as _fingerprint


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
    status, so a deregistered task definition looked present (found by tests/it/drift_matrix.rs)."""
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
