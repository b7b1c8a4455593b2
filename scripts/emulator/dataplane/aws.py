"""What the data plane reads of the emulated control plane, through the public AWS API of the moto server it runs
beside (boto3 over loopback), so that every part of the data plane acts on what is stored *now*: a listener rule
changed out of band changes what the load balancer stand-in does on the very next request.

Nothing here resolves or contacts a public name: every client's endpoint is the loopback emulator.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import threading
from typing import Any

import boto3
from botocore.config import Config

ACCOUNT_ACCESS_KEY = "dataplane"  # any key: moto maps unknown keys to its default account


class NotFound(Exception):
    """A name or resource the data plane looked for does not exist in the emulator."""


class Aws:
    """boto3 clients to the loopback emulator, one per (service, region), created on first use."""

    def __init__(self, endpoint: str):
        if not endpoint.startswith("http://127.0.0.1:"):
            raise ValueError(f"the data plane only talks to a loopback emulator, not {endpoint}")
        self.endpoint = endpoint
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str) -> Any:
        with self._lock:
            key = (service, region)
            if key not in self._clients:
                self._clients[key] = boto3.client(
                    service,
                    region_name=region,
                    endpoint_url=self.endpoint,
                    aws_access_key_id=ACCOUNT_ACCESS_KEY,
                    aws_secret_access_key=ACCOUNT_ACCESS_KEY,
                    config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30),
                )
            return self._clients[key]

    # ------------------------------------------------------------------------------------------------------------
    # Route53: the public name of the MCP server
    # ------------------------------------------------------------------------------------------------------------

    def resolve_alias(self, fqdn: str) -> str:
        """The DNS name of the load balancer that the A alias record `fqdn` points at, from the public hosted zone
        that holds the record (what public DNS would answer). Raises NotFound (NXDOMAIN) otherwise."""
        name = fqdn.rstrip(".").lower() + "."
        r53 = self.client("route53", "us-east-1")
        best = None
        for page in r53.get_paginator("list_hosted_zones").paginate():
            for zone in page["HostedZones"]:
                if zone.get("Config", {}).get("PrivateZone"):
                    continue
                zname = zone["Name"].lower()
                if (name == zname or name.endswith("." + zname)) and (best is None or len(zname) > len(best[1])):
                    best = (zone["Id"], zname)
        if best is None:
            raise NotFound(f"no public hosted zone holds {fqdn} (NXDOMAIN)")
        records = r53.list_resource_record_sets(
            HostedZoneId=best[0], StartRecordName=name, StartRecordType="A", MaxItems="1"
        )["ResourceRecordSets"]
        for record in records:
            if record["Name"].lower() == name and record["Type"] == "A" and "AliasTarget" in record:
                return record["AliasTarget"]["DNSName"].rstrip(".").lower()
        raise NotFound(f"{fqdn} has no A alias record in its public hosted zone (NXDOMAIN)")

    # ------------------------------------------------------------------------------------------------------------
    # ELBv2
    # ------------------------------------------------------------------------------------------------------------

    @staticmethod
    def region_of_elb_dns(dns_name: str) -> str:
        # <name>-<id>.<region>.elb.amazonaws.com
        parts = dns_name.split(".")
        if len(parts) >= 5 and parts[-3] == "elb":
            return parts[-4]
        raise NotFound(f"{dns_name} is not a load balancer's DNS name")

    def load_balancer_by_dns(self, dns_name: str) -> tuple[str, dict[str, Any]]:
        region = self.region_of_elb_dns(dns_name)
        elb = self.client("elbv2", region)
        for page in elb.get_paginator("describe_load_balancers").paginate():
            for lb in page["LoadBalancers"]:
                if lb["DNSName"].rstrip(".").lower() == dns_name:
                    return region, lb
        raise NotFound(f"no load balancer has the DNS name {dns_name}")

    def listener(self, region: str, lb_arn: str, port: int) -> dict[str, Any] | None:
        for listener in self.client("elbv2", region).describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]:
            if int(listener["Port"]) == port:
                return listener
        return None

    def listener_certificates(self, region: str, listener: dict[str, Any]) -> list[str]:
        arns = [c["CertificateArn"] for c in listener.get("Certificates", []) if c.get("CertificateArn")]
        try:
            extra = self.client("elbv2", region).describe_listener_certificates(ListenerArn=listener["ListenerArn"])
            arns += [c["CertificateArn"] for c in extra.get("Certificates", []) if c.get("CertificateArn")]
        except Exception:  # noqa: BLE001 - the default certificate is enough
            pass
        return list(dict.fromkeys(arns))

    def rules(self, region: str, listener_arn: str) -> list[dict[str, Any]]:
        """The listener's rules in evaluation order, the default rule last."""
        rules = self.client("elbv2", region).describe_rules(ListenerArn=listener_arn)["Rules"]
        ordered = sorted((r for r in rules if not r.get("IsDefault")), key=lambda r: int(r["Priority"]))
        return ordered + [r for r in rules if r.get("IsDefault")]

    def routable_targets(self, region: str, target_group_arn: str) -> list[tuple[str, int]]:
        """The targets a load balancer node sends requests to: the healthy ones; when every registered target is
        unhealthy, all of them — ALBs fail open (ELB user guide, "Health checks for Application Load Balancer target
        groups": "If a target group contains only unhealthy registered targets, the load balancer routes requests
        to all those targets")."""
        health = self.client("elbv2", region).describe_target_health(TargetGroupArn=target_group_arn)
        registered = [
            (d["Target"]["Id"], int(d["Target"].get("Port") or 0), d.get("TargetHealth", {}).get("State"))
            for d in health["TargetHealthDescriptions"]
            if d.get("TargetHealth", {}).get("State") in ("healthy", "unhealthy", "initial")
        ]
        healthy = [(ip, port) for ip, port, state in registered if state == "healthy"]
        return healthy or [(ip, port) for ip, port, _ in registered]

    def ingress_allows(self, region: str, group_ids: list[str], port: int, source_ip: str) -> bool:
        """True when one of the security groups lets `source_ip` in on TCP `port`."""
        if not group_ids:
            return False
        ip = ipaddress.ip_address(source_ip)
        groups = self.client("ec2", region).describe_security_groups(GroupIds=group_ids)["SecurityGroups"]
        for group in groups:
            for perm in group.get("IpPermissions", []):
                proto = perm.get("IpProtocol")
                if proto not in ("-1", "tcp", "6"):
                    continue
                if proto != "-1" and not (perm.get("FromPort", 0) <= port <= perm.get("ToPort", 65535)):
                    continue
                for r in perm.get("IpRanges", []):
                    if ip.version == 4 and ip in ipaddress.ip_network(r["CidrIp"], strict=False):
                        return True
                for r in perm.get("Ipv6Ranges", []):
                    if ip.version == 6 and ip in ipaddress.ip_network(r["CidrIpv6"], strict=False):
                        return True
        return False

    # ------------------------------------------------------------------------------------------------------------
    # ACM
    # ------------------------------------------------------------------------------------------------------------

    def certificate(self, arn: str) -> dict[str, Any]:
        region = arn.split(":")[3]
        return self.client("acm", region).describe_certificate(CertificateArn=arn)["Certificate"]

    @staticmethod
    def covers(certificate: dict[str, Any], host: str) -> bool:
        names = [certificate.get("DomainName", "")] + list(certificate.get("SubjectAlternativeNames", []))
        host = host.lower()
        for name in names:
            name = (name or "").lower()
            if name == host:
                return True
            if name.startswith("*.") and host.count(".") == name.count(".") and fnmatch.fnmatch(host, name):
                return True
        return False

    # ------------------------------------------------------------------------------------------------------------
    # ECS: which task answers at an IP address, and what it runs
    # ------------------------------------------------------------------------------------------------------------

    def task_at(self, region: str, ip: str) -> dict[str, Any] | None:
        ecs = self.client("ecs", region)
        for cluster in ecs.list_clusters()["clusterArns"]:
            arns = ecs.list_tasks(cluster=cluster, desiredStatus="RUNNING").get("taskArns", [])
            for i in range(0, len(arns), 100):
                for task in ecs.describe_tasks(cluster=cluster, tasks=arns[i : i + 100]).get("tasks", []):
                    for attachment in task.get("attachments", []):
                        for detail in attachment.get("details", []):
                            if detail.get("name") == "privateIPv4Address" and detail.get("value") == ip:
                                return task
        return None

    def task_definition(self, region: str, arn: str) -> dict[str, Any]:
        return self.client("ecs", region).describe_task_definition(taskDefinition=arn)["taskDefinition"]

    def secret_string(self, region: str, secret_id: str) -> str:
        return self.client("secretsmanager", region).get_secret_value(SecretId=secret_id)["SecretString"]

    # ------------------------------------------------------------------------------------------------------------
    # AgentCore and Cognito
    # ------------------------------------------------------------------------------------------------------------

    def gateway(self, region: str, gateway_id: str) -> dict[str, Any]:
        client = self.client("bedrock-agentcore-control", region)
        try:
            return client.get_gateway(gatewayIdentifier=gateway_id)
        except client.exceptions.ResourceNotFoundException:
            raise NotFound(f"no gateway {gateway_id}") from None

    def targets(self, region: str, gateway_id: str) -> list[dict[str, Any]]:
        client = self.client("bedrock-agentcore-control", region)
        out = []
        for item in client.list_gateway_targets(gatewayIdentifier=gateway_id, maxResults=100).get("items", []):
            out.append(client.get_gateway_target(gatewayIdentifier=gateway_id, targetId=item["targetId"]))
        return out

    def api_key(self, region: str, provider_arn: str, authorise: Any = None) -> str:
        """The API key an AgentCore Identity API-key credential provider vends: read from the secret and JSON key
        the provider names (`apiKeySecretArn`, `apiKeySecretJsonKey`), as the token vault does at each call.
        Raises NotFound when the provider or its key is gone; `authorise(secret_arn)` runs first (it raises when the
        caller's role may not use the key)."""
        client = self.client("bedrock-agentcore-control", region)
        name = provider_arn.rsplit("/", 1)[-1]
        try:
            provider = client.get_api_key_credential_provider(name=name)
        except client.exceptions.ResourceNotFoundException:
            raise NotFound(f"no API key credential provider {name}") from None
        if provider.get("credentialProviderArn") != provider_arn:
            raise NotFound(f"no API key credential provider {provider_arn}")
        import json

        if authorise is not None:
            authorise(provider["apiKeySecretArn"]["secretArn"])
        try:
            value = json.loads(self.secret_string(region, provider["apiKeySecretArn"]["secretArn"]))
            key = value[provider["apiKeySecretJsonKey"]]
        except Exception:  # noqa: BLE001 - the secret or its key is gone: the provider vends nothing
            raise NotFound(f"the API key of {name} cannot be read") from None
        if not isinstance(key, str) or not key:
            raise NotFound(f"the API key of {name} is empty")
        return key

    def user_pool_of_domain(self, region: str, prefix: str) -> str:
        domain = self.client("cognito-idp", region).describe_user_pool_domain(Domain=prefix)
        description = domain.get("DomainDescription") or {}
        if not description.get("UserPoolId"):
            raise NotFound(f"no Cognito domain {prefix} in {region}")
        if description.get("Status", "ACTIVE") != "ACTIVE":
            raise NotFound(f"the Cognito domain {prefix} is {description.get('Status')}")
        return description["UserPoolId"]

    def pool_of_client(self, region: str, client_id: str) -> str | None:
        client = self.client("cognito-idp", region)
        for page in client.get_paginator("list_user_pools").paginate(MaxResults=60):
            for pool in page["UserPools"]:
                if self.user_pool_client(region, pool["Id"], client_id) is not None:
                    return pool["Id"]
        return None

    def user_pool_client(self, region: str, pool_id: str, client_id: str) -> dict[str, Any] | None:
        client = self.client("cognito-idp", region)
        try:
            return client.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)["UserPoolClient"]
        except client.exceptions.ResourceNotFoundException:
            return None

    def put_log_lines(self, region: str, group: str, stream: str, lines: list[tuple[int, str]]) -> bool:
        """Appends (millis, message) lines to a log stream, creating the stream; False when the group is missing."""
        logs = self.client("logs", region)
        try:
            try:
                logs.create_log_stream(logGroupName=group, logStreamName=stream)
            except logs.exceptions.ResourceAlreadyExistsException:
                pass
            logs.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                logEvents=[{"timestamp": ts, "message": msg} for ts, msg in lines],
            )
            return True
        except logs.exceptions.ResourceNotFoundException:
            return False
