"""The gateway's audit trail on the local plane: one JSON line per tools/call, delivered where AgentCore delivers a
gateway's logs — through CloudWatch Logs vended-log delivery (PutDeliverySource with the gateway's ARN and logType
APPLICATION_LOGS, PutDeliveryDestination naming a log group, CreateDelivery pairing them). Without such a delivery
nothing is written (the switch is the delivery, as on AWS). docs/aws-behaviour.md, "Agents' rights at the gateway
(issue 20)", gives the sources and what is assumed.

A line never holds an argument's value, a token or a secret: the arguments are reduced to the SHA-256 of their
canonical JSON (keys sorted, no spaces), so that two identical calls can be matched without revealing either.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any

LOG_TYPE = "APPLICATION_LOGS"
OUTCOMES = ("allowed", "denied", "error")


def arguments_sha256(arguments: Any) -> str:
    canonical = json.dumps(arguments if arguments is not None else {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def line(
    *,
    gateway_id: str,
    claims: dict[str, Any] | None,
    tool: str,
    outcome: str,
    started: float,
    arguments: Any,
    policy: dict[str, Any] | None = None,
    detail: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """One audit record. `started` and `now` are time.monotonic() readings (the duration); `time` is the wall
    clock at the end of the call, UTC, milliseconds."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
    end = time.monotonic() if now is None else now
    record: dict[str, Any] = {
        "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "gateway_id": gateway_id,
        "client_id": (claims or {}).get("client_id"),
        "tool": tool,
        "outcome": outcome,
        "duration_ms": max(0, round((end - started) * 1000)),
        "arguments_sha256": arguments_sha256(arguments),
    }
    if policy is not None:
        record["policy"] = policy
    if detail:
        record["detail"] = detail[:300]
    return record


class Audit:
    """Writes audit lines into every log group a CloudWatch Logs delivery of the gateway's APPLICATION_LOGS names
    (the emulator's state read at each call: a delivery made or removed out of band counts at once)."""

    def __init__(self, aws: Any):
        self.aws = aws
        self._lock = threading.Lock()

    def groups(self, region: str, gateway_arn: str) -> list[str]:
        logs = self.aws.client("logs", region)
        sources = {
            s["name"]
            for s in logs.describe_delivery_sources().get("deliverySources", [])
            if gateway_arn in (s.get("resourceArns") or []) and s.get("logType") == LOG_TYPE
        }
        if not sources:
            return []
        destinations = {d["arn"]: d for d in logs.describe_delivery_destinations().get("deliveryDestinations", [])}
        out = []
        for delivery in logs.describe_deliveries().get("deliveries", []):
            if delivery.get("deliverySourceName") not in sources:
                continue
            dest = destinations.get(delivery.get("deliveryDestinationArn", ""), {})
            arn = (dest.get("deliveryDestinationConfiguration") or {}).get("destinationResourceArn", "")
            if dest.get("deliveryDestinationType") == "CWL" and ":log-group:" in arn:
                out.append(arn.split(":log-group:", 1)[1].removesuffix(":*"))
        return sorted(set(out))

    def write(self, region: str, gateway_arn: str, record: dict[str, Any]) -> list[str]:
        """Appends `record` to the stream named for the gateway in each delivery's log group; returns the groups
        written. A group that does not exist is skipped, and a failure to deliver is reported on stderr only: the
        caller's answer never depends on the audit (AWS delivers vended logs asynchronously)."""
        stream = gateway_arn.rsplit("/", 1)[-1]
        message = json.dumps(record, sort_keys=True, separators=(",", ":"))
        try:
            with self._lock:
                return [
                    group
                    for group in self.groups(region, gateway_arn)
                    if self.aws.put_log_lines(region, group, stream, [(int(time.time() * 1000), message)])
                ]
        except Exception as e:  # noqa: BLE001 - a delivery is asynchronous on AWS: it never fails the tool call
            print(f"gateway audit: the line for {record.get('tool')} was not delivered: {type(e).__name__}", file=sys.stderr)
            return []


def install_control_plane() -> None:
    """moto 5.2.5's PutDeliverySource knows a fixed list of services and refuses `bedrock-agentcore` ("Cannot
    access provided service."). AgentCore gateways are delivery sources of logType APPLICATION_LOGS (AgentCore
    guide, "AgentCore generated gateway observability data": "AgentCore can output logs to CloudWatch Logs,
    Amazon S3, or Firehose"; the log type as AWS samples use it): accept them, refuse other log types for them."""
    from moto.logs.exceptions import ConflictException, ValidationException
    from moto.logs.models import DeliverySource, LogsBackend

    original = LogsBackend.put_delivery_source

    def put_delivery_source(self: Any, name: str, resource_arn: str, log_type: str, tags: dict[str, str]) -> Any:
        if resource_arn.split(":")[2:3] != ["bedrock-agentcore"]:
            return original(self, name, resource_arn, log_type, tags)
        if log_type != LOG_TYPE:
            raise ValidationException(msg=" This service is not allowed for this LogSource.")
        if name in self.delivery_sources:
            if tags:
                raise ConflictException(msg="Tags can only be provided when a resource is being created, not updated.")
            if resource_arn not in self.delivery_sources[name].resource_arns:
                raise ConflictException(
                    msg="Update to existing Delivery Source with new ResourceId is not allowed. Please create a new "
                    "Delivery Source instead."
                )
        source = DeliverySource(
            account_id=self.account_id, region=self.region_name, name=name, resource_arn=resource_arn, log_type=log_type, tags=tags
        )
        self.delivery_sources[name] = source
        if tags:
            self.tag_resource(source.arn, tags)
        return source

    LogsBackend.put_delivery_source = put_delivery_source  # type: ignore[method-assign]
