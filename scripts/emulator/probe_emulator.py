#!/usr/bin/env python3
"""Probes what the local emulator (scripts/emulator/moto_server.py) answers for every AWS call neo4j-gw makes.

    python scripts/emulator/probe_emulator.py [--endpoint URL] [--region R] [SECTION ...]

Without --endpoint it starts scripts/emulator/moto_server.py itself (loopback only) and stops it at the end.
Sections: ec2 elbv2 ecs route53 acm secrets logs iam sts lambda cognito agentcore agentcore_delay misc (default: all;
agentcore_delay starts its own emulator with --agentcore-delay-seconds 2).
Prints one JSON object per probe: {"probe": name, "ok": bool, ...observations}. docs/emulator.md summarises them.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import io
import json
import os
import subprocess
import sys
import time
import traceback
import urllib.request
import zipfile
from typing import Any, Callable

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))

RESULTS: list[dict[str, Any]] = []


# Imported certificates are what the ACM probes need; seed_emulator.py requests DNS-validated ones instead.
def self_signed_certificate(domain: str, extra_names: tuple[str, ...] = ()) -> tuple[str, str]:
    """A PEM (certificate, private key) pair, RSA 2048, CN=<domain>, SANs <domain>, *.<domain> and extra_names."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    names = list(dict.fromkeys([domain, f"*.{domain}", *extra_names]))
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem_cert = cert.public_bytes(serialization.Encoding.PEM).decode()
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    return pem_cert, pem_key


def start_emulator(*extra: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "moto_server.py"), *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, json.loads(line)["endpoint"]


def stop_emulator(proc: subprocess.Popen[str]) -> int:
    assert proc.stdin is not None
    proc.stdin.close()
    return proc.wait(timeout=15)


class Probe:
    def __init__(self, endpoint: str, region: str):
        self.endpoint = endpoint
        self.region = region
        self.session = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name=region)
        self.config = Config(retries={"max_attempts": 1})

    def client(self, name: str) -> Any:
        return self.session.client(name, endpoint_url=self.endpoint, config=self.config)

    def record(self, name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            out = {"probe": name, "ok": True, **fn()}
        except ClientError as e:
            out = {"probe": name, "ok": False, "error": e.response.get("Error"), "status": e.response["ResponseMetadata"].get("HTTPStatusCode"), "at": traceback.format_exc(limit=2).splitlines()[-3:]}
        except Exception as e:  # noqa: BLE001
            out = {"probe": name, "ok": False, "exception": f"{type(e).__name__}: {e}", "trace": traceback.format_exc(limit=3)}
        RESULTS.append(out)
        print(json.dumps(out, default=str), flush=True)
        return out


def err(fn: Callable[[], Any]) -> Any:
    """Call fn; return its result, or the AWS error code and message if it fails."""
    try:
        return fn()
    except ClientError as e:
        return {"error": e.response["Error"].get("Code"), "message": e.response["Error"].get("Message"), "http": e.response["ResponseMetadata"].get("HTTPStatusCode")}


TAGS = [{"Key": "neo4j-gw:stack", "Value": "probe"}]


# ------------------------------------------------------------------------------------------------------------ EC2
def probe_ec2(p: Probe, ctx: dict[str, Any]) -> None:
    ec2 = p.client("ec2")

    def vpc() -> dict[str, Any]:
        v = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": TAGS + [{"Key": "Name", "Value": "probe"}]}])["Vpc"]
        ctx["vpc"] = v["VpcId"]
        ec2.modify_vpc_attribute(VpcId=v["VpcId"], EnableDnsHostnames={"Value": True})
        ec2.modify_vpc_attribute(VpcId=v["VpcId"], EnableDnsSupport={"Value": True})
        attr = ec2.describe_vpc_attribute(VpcId=v["VpcId"], Attribute="enableDnsHostnames")["EnableDnsHostnames"]
        found = ec2.describe_vpcs(Filters=[{"Name": "tag:neo4j-gw:stack", "Values": ["probe"]}])["Vpcs"]
        by_key = ec2.describe_vpcs(Filters=[{"Name": "tag-key", "Values": ["neo4j-gw:stack"]}])["Vpcs"]
        default = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
        return {"create_tags": v.get("Tags"), "state": v["State"], "dns_hostnames": attr, "by_tag": [x["VpcId"] for x in found],
                "by_tag_key": len(by_key), "default_vpcs": [(x["VpcId"], x["CidrBlock"]) for x in default]}

    def azs() -> dict[str, Any]:
        z = ec2.describe_availability_zones(Filters=[{"Name": "state", "Values": ["available"]}])["AvailabilityZones"]
        ctx["azs"] = [x["ZoneName"] for x in z]
        return {"zones": [(x["ZoneName"], x["ZoneId"], x.get("ZoneType"), x.get("OptInStatus")) for x in z]}

    def subnets() -> dict[str, Any]:
        out = []
        ctx["subnets"] = []
        for i, az in enumerate(ctx["azs"][:2]):
            s = ec2.create_subnet(VpcId=ctx["vpc"], CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=az,
                                  TagSpecifications=[{"ResourceType": "subnet", "Tags": TAGS}])["Subnet"]
            ec2.modify_subnet_attribute(SubnetId=s["SubnetId"], MapPublicIpOnLaunch={"Value": True})
            ctx["subnets"].append(s["SubnetId"])
            out.append((s["SubnetId"], s["AvailabilityZone"], s.get("Tags")))
        d = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [ctx["vpc"]]}, {"Name": "tag:neo4j-gw:stack", "Values": ["probe"]}])["Subnets"]
        return {"created": out, "described": [(x["SubnetId"], x["MapPublicIpOnLaunch"], x["AvailableIpAddressCount"]) for x in d]}

    def igw() -> dict[str, Any]:
        g = ec2.create_internet_gateway(TagSpecifications=[{"ResourceType": "internet-gateway", "Tags": TAGS}])["InternetGateway"]
        ctx["igw"] = g["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=g["InternetGatewayId"], VpcId=ctx["vpc"])
        d = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [ctx["vpc"]]}])["InternetGateways"]
        delete_attached = err(lambda: ec2.delete_internet_gateway(InternetGatewayId=g["InternetGatewayId"]))
        return {"tags": g.get("Tags"), "attachments": d[0]["Attachments"], "delete_while_attached": delete_attached}

    def routes() -> dict[str, Any]:
        rt = ec2.create_route_table(VpcId=ctx["vpc"], TagSpecifications=[{"ResourceType": "route-table", "Tags": TAGS}])["RouteTable"]
        ctx["rt"] = rt["RouteTableId"]
        r = ec2.create_route(RouteTableId=rt["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=ctx["igw"])
        assoc = [ec2.associate_route_table(RouteTableId=rt["RouteTableId"], SubnetId=s) for s in ctx["subnets"]]
        ctx["assoc"] = [a["AssociationId"] for a in assoc]
        d = ec2.describe_route_tables(RouteTableIds=[rt["RouteTableId"]])["RouteTables"][0]
        main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [ctx["vpc"]]}, {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
        return {"create_route": r.get("Return"), "assoc_state": [a.get("AssociationState") for a in assoc], "routes": d["Routes"],
                "associations": [(a.get("SubnetId"), a.get("Main")) for a in d["Associations"]], "main_tables": len(main)}

    def sgs() -> dict[str, Any]:
        alb = ec2.create_security_group(GroupName="probe-alb", Description="ALB", VpcId=ctx["vpc"], TagSpecifications=[{"ResourceType": "security-group", "Tags": TAGS}])
        task = ec2.create_security_group(GroupName="probe-task", Description="task", VpcId=ctx["vpc"], TagSpecifications=[{"ResourceType": "security-group", "Tags": TAGS}])
        ctx["sg_alb"], ctx["sg_task"] = alb["GroupId"], task["GroupId"]
        a1 = ec2.authorize_security_group_ingress(GroupId=alb["GroupId"], IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "https"}]}])
        a2 = ec2.authorize_security_group_ingress(GroupId=task["GroupId"], IpPermissions=[{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": alb["GroupId"], "Description": "from alb"}]}])
        dup = err(lambda: ec2.authorize_security_group_ingress(GroupId=task["GroupId"], IpPermissions=[{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": alb["GroupId"]}]}]))
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [task["GroupId"]]}])["SecurityGroupRules"]
        ingress = [r for r in rules if not r["IsEgress"]]
        rev = ec2.revoke_security_group_ingress(GroupId=task["GroupId"], SecurityGroupRuleIds=[ingress[0]["SecurityGroupRuleId"]]) if ingress else None
        after = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [task["GroupId"]]}])["SecurityGroupRules"]
        # put it back for the ECS probes
        ec2.authorize_security_group_ingress(GroupId=task["GroupId"], IpPermissions=[{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": alb["GroupId"]}]}])
        by_tag = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [ctx["vpc"]]}, {"Name": "tag:neo4j-gw:stack", "Values": ["probe"]}])["SecurityGroups"]
        by_name = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [ctx["vpc"]]}, {"Name": "group-name", "Values": ["probe-task"]}])["SecurityGroups"]
        return {"create_keys": sorted(alb), "create_tags": alb.get("Tags"), "auth_return": a1.get("Return"), "auth_rules": a2.get("SecurityGroupRules"),
                "duplicate": dup, "rules": rules, "revoke": rev and {k: v for k, v in rev.items() if k != "ResponseMetadata"},
                "after_revoke_ingress": [r for r in after if not r["IsEgress"]], "by_tag": len(by_tag), "by_name": len(by_name)}

    def enis() -> dict[str, Any]:
        d = ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [ctx["vpc"]]}])["NetworkInterfaces"]
        g = ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [ctx["sg_task"]]}])["NetworkInterfaces"]
        return {"in_vpc": len(d), "with_task_sg": len(g)}

    for name, fn in [("ec2.vpc", vpc), ("ec2.azs", azs), ("ec2.subnets", subnets), ("ec2.igw", igw), ("ec2.routes", routes),
                     ("ec2.security_groups", sgs), ("ec2.enis_before_ecs", enis)]:
        p.record(name, fn)


def probe_ec2_teardown(p: Probe, ctx: dict[str, Any]) -> None:
    ec2 = p.client("ec2")

    def teardown() -> dict[str, Any]:
        out: dict[str, Any] = {}
        out["enis_left"] = [(e["NetworkInterfaceId"], e["Status"], e.get("Description")) for e in ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [ctx["vpc"]]}])["NetworkInterfaces"]]
        out["delete_vpc_with_subnets"] = err(lambda: ec2.delete_vpc(VpcId=ctx["vpc"]))
        out["delete_sg_referenced"] = err(lambda: ec2.delete_security_group(GroupId=ctx["sg_alb"]))
        for a in ctx["assoc"]:
            ec2.disassociate_route_table(AssociationId=a)
        out["delete_rt"] = err(lambda: ec2.delete_route_table(RouteTableId=ctx["rt"]))
        out["detach_igw"] = err(lambda: ec2.detach_internet_gateway(InternetGatewayId=ctx["igw"], VpcId=ctx["vpc"]))
        out["delete_igw"] = err(lambda: ec2.delete_internet_gateway(InternetGatewayId=ctx["igw"]))
        out["delete_sg_task"] = err(lambda: ec2.delete_security_group(GroupId=ctx["sg_task"]))
        out["delete_sg_alb"] = err(lambda: ec2.delete_security_group(GroupId=ctx["sg_alb"]))
        for s in ctx["subnets"]:
            out.setdefault("delete_subnets", []).append(err(lambda s=s: ec2.delete_subnet(SubnetId=s)) and "ok")
        out["delete_vpc"] = err(lambda: ec2.delete_vpc(VpcId=ctx["vpc"])) and "ok"
        out["describe_deleted_vpc"] = err(lambda: ec2.describe_vpcs(VpcIds=[ctx["vpc"]]))
        return out

    p.record("ec2.teardown", teardown)


# ---------------------------------------------------------------------------------------------------------- ELBv2
def probe_elbv2(p: Probe, ctx: dict[str, Any]) -> None:
    elb = p.client("elbv2")
    acm = p.client("acm")

    def alb() -> dict[str, Any]:
        lb = elb.create_load_balancer(Name="probe-alb", Subnets=ctx["subnets"], SecurityGroups=[ctx["sg_alb"]], Scheme="internet-facing",
                                      Type="application", IpAddressType="ipv4", Tags=TAGS)["LoadBalancers"][0]
        ctx["lb"] = lb["LoadBalancerArn"]
        again = elb.describe_load_balancers(LoadBalancerArns=[lb["LoadBalancerArn"]])["LoadBalancers"][0]
        by_name = elb.describe_load_balancers(Names=["probe-alb"])["LoadBalancers"]
        missing = err(lambda: elb.describe_load_balancers(Names=["nope"]))
        tags = elb.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"]
        ctx["lb_dns"], ctx["lb_zone"] = lb["DNSName"], lb["CanonicalHostedZoneId"]
        dup = err(lambda: elb.create_load_balancer(Name="probe-alb", Subnets=ctx["subnets"], SecurityGroups=[ctx["sg_alb"]]))
        dup_other = err(lambda: elb.create_load_balancer(Name="probe-alb", Subnets=ctx["subnets"][:1], SecurityGroups=[ctx["sg_alb"]]))
        tg_dup = (elb.create_target_group(Name="probe-dup", Protocol="HTTP", Port=80, VpcId=ctx["vpc"], TargetType="ip"),
                  err(lambda: elb.create_target_group(Name="probe-dup", Protocol="HTTP", Port=80, VpcId=ctx["vpc"], TargetType="ip")))[1]
        elb.delete_target_group(TargetGroupArn=elb.describe_target_groups(Names=["probe-dup"])["TargetGroups"][0]["TargetGroupArn"])
        return {"arn": lb["LoadBalancerArn"], "dns": lb["DNSName"], "zone": lb["CanonicalHostedZoneId"], "state_create": lb["State"],
                "state_next": again["State"], "azs": [a["ZoneName"] for a in lb["AvailabilityZones"]], "by_name": len(by_name),
                "missing_name": missing, "tags": tags, "duplicate_create_same_arn": dup if isinstance(dup, dict) and "error" in dup else dup["LoadBalancers"][0]["LoadBalancerArn"] == lb["LoadBalancerArn"],
                "duplicate_other_subnets": dup_other if "error" in dup_other else "created", "identical_target_group_again": tg_dup if "error" in tg_dup else "ok"}

    def tg() -> dict[str, Any]:
        t = elb.create_target_group(Name="probe-tg", Protocol="HTTP", Port=8080, VpcId=ctx["vpc"], TargetType="ip", HealthCheckPath="/healthz",
                                    HealthCheckProtocol="HTTP", Matcher={"HttpCode": "200"}, HealthCheckIntervalSeconds=15, HealthyThresholdCount=2, Tags=TAGS)["TargetGroups"][0]
        ctx["tg"] = t["TargetGroupArn"]
        m = elb.modify_target_group_attributes(TargetGroupArn=t["TargetGroupArn"], Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}])
        attrs = elb.describe_target_group_attributes(TargetGroupArn=t["TargetGroupArn"])["Attributes"]
        tags = elb.describe_tags(ResourceArns=[t["TargetGroupArn"]])["TagDescriptions"][0]["Tags"]
        health = elb.describe_target_health(TargetGroupArn=t["TargetGroupArn"])["TargetHealthDescriptions"]
        return {"tg": {k: t.get(k) for k in ("TargetType", "HealthCheckPath", "Matcher", "Port", "Protocol", "LoadBalancerArns", "HealthCheckIntervalSeconds", "HealthyThresholdCount")},
                "modify_attrs_return": m["Attributes"], "attrs": {a["Key"]: a["Value"] for a in attrs if "deregistration" in a["Key"]},
                "tags": tags, "health_empty": health}

    def listener() -> dict[str, Any]:
        pem_cert, pem_key = self_signed_certificate("probe.example.com")
        cert = acm.import_certificate(Certificate=pem_cert, PrivateKey=pem_key)["CertificateArn"]
        ctx["cert"] = cert
        no_cert = err(lambda: elb.create_listener(LoadBalancerArn=ctx["lb"], Protocol="HTTPS", Port=443, SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
                                                  Certificates=[{"CertificateArn": cert.replace(cert[-6:], "000000")}],
                                                  DefaultActions=[{"Type": "forward", "TargetGroupArn": ctx["tg"]}]))
        li = elb.create_listener(LoadBalancerArn=ctx["lb"], Protocol="HTTPS", Port=443, SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
                                 Certificates=[{"CertificateArn": cert}], DefaultActions=[{"Type": "forward", "TargetGroupArn": ctx["tg"]}], Tags=TAGS)["Listeners"][0]
        ctx["listener"] = li["ListenerArn"]
        tg_after = elb.describe_target_groups(TargetGroupArns=[ctx["tg"]])["TargetGroups"][0]["LoadBalancerArns"]
        mod = elb.modify_listener(ListenerArn=li["ListenerArn"], SslPolicy="ELBSecurityPolicy-TLS13-1-3-2021-06", Certificates=[{"CertificateArn": cert}])["Listeners"][0]
        bad_policy = err(lambda: elb.modify_listener(ListenerArn=li["ListenerArn"], SslPolicy="NoSuchPolicy"))
        listed = elb.describe_listeners(LoadBalancerArn=ctx["lb"])["Listeners"]
        in_use = acm.describe_certificate(CertificateArn=cert)["Certificate"].get("InUseBy")
        return {"create": {k: li.get(k) for k in ("Protocol", "Port", "SslPolicy", "Certificates", "DefaultActions")},
                "unknown_cert": no_cert, "tg_load_balancer_arns": tg_after, "modify_ssl_policy": mod["SslPolicy"], "modify_bad_policy": bad_policy,
                "listed": len(listed), "cert_in_use_by": in_use}

    for name, fn in [("elbv2.load_balancer", alb), ("elbv2.target_group", tg), ("elbv2.listener", listener)]:
        p.record(name, fn)


def probe_elbv2_teardown(p: Probe, ctx: dict[str, Any]) -> None:
    elb = p.client("elbv2")

    def teardown() -> dict[str, Any]:
        out = {}
        out["delete_tg_in_use"] = err(lambda: elb.delete_target_group(TargetGroupArn=ctx["tg"]))
        out["delete_listener"] = err(lambda: elb.delete_listener(ListenerArn=ctx["listener"])) and "ok"
        out["delete_lb"] = err(lambda: elb.delete_load_balancer(LoadBalancerArn=ctx["lb"])) and "ok"
        out["describe_deleted_lb"] = err(lambda: elb.describe_load_balancers(LoadBalancerArns=[ctx["lb"]]))
        out["delete_tg"] = err(lambda: elb.delete_target_group(TargetGroupArn=ctx["tg"])) and "ok"
        out["delete_tg_again"] = err(lambda: elb.delete_target_group(TargetGroupArn=ctx["tg"])) and "ok"
        out["delete_lb_again"] = err(lambda: elb.delete_load_balancer(LoadBalancerArn=ctx["lb"])) and "ok"
        again = elb.create_load_balancer(Name="probe-alb", Subnets=ctx["subnets"], SecurityGroups=[ctx["sg_alb"]])["LoadBalancers"][0]
        out["recreated_lb_new_dns_name"] = (again["DNSName"] != ctx["lb_dns"], again["DNSName"])
        elb.delete_load_balancer(LoadBalancerArn=again["LoadBalancerArn"])
        return out

    p.record("elbv2.teardown", teardown)


# ------------------------------------------------------------------------------------------------------------ ECS
def probe_ecs(p: Probe, ctx: dict[str, Any]) -> None:
    ecs = p.client("ecs")
    elb = p.client("elbv2")
    sm = p.client("secretsmanager")
    ec2 = p.client("ec2")

    def cluster() -> dict[str, Any]:
        c = ecs.create_cluster(clusterName="probe", tags=[{"key": "neo4j-gw:stack", "value": "probe"}], settings=[{"name": "containerInsights", "value": "disabled"}])["cluster"]
        again = ecs.create_cluster(clusterName="probe")["cluster"]
        d = ecs.describe_clusters(clusters=["probe"], include=["TAGS"])["clusters"][0]
        missing = ecs.describe_clusters(clusters=["nope"])
        return {"arn": c["clusterArn"], "status": c["status"], "tags_create": c.get("tags"), "create_again_same_arn": again["clusterArn"] == c["clusterArn"],
                "describe_tags": d.get("tags"), "missing": {"clusters": missing["clusters"], "failures": missing["failures"]}}

    def taskdef() -> dict[str, Any]:
        secret = sm.create_secret(Name="probe/neo4j", SecretString=json.dumps({"NEO4J_URI": "neo4j+s://x", "NEO4J_DATABASE": "neo4j"}))["ARN"]
        kwargs = dict(family="probe-mcp", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="1024",
                      runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
                      executionRoleArn="arn:aws:iam::123456789012:role/probe-exec",
                      containerDefinitions=[{"name": "mcp", "image": "mcp/neo4j:latest", "essential": True,
                                             "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
                                             "environment": [{"name": "NEO4J_TRANSPORT_MODE", "value": "http"}],
                                             "secrets": [{"name": "NEO4J_URI", "valueFrom": f"{secret}:NEO4J_URI::"}],
                                             "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/probe", "awslogs-region": p.region, "awslogs-stream-prefix": "mcp"}}}],
                      tags=[{"key": "neo4j-gw:stack", "value": "probe"}])
        t1 = ecs.register_task_definition(**kwargs)
        t2 = ecs.register_task_definition(**kwargs)
        ctx["td1"], ctx["td2"] = t1["taskDefinition"]["taskDefinitionArn"], t2["taskDefinition"]["taskDefinitionArn"]
        listed = ecs.list_task_definitions(familyPrefix="probe-mcp")["taskDefinitionArns"]
        listed_desc = ecs.list_task_definitions(familyPrefix="probe-mcp", sort="DESC")["taskDefinitionArns"]
        d = ecs.describe_task_definition(taskDefinition="probe-mcp", include=["TAGS"])
        td = d["taskDefinition"]
        return {"arns": [ctx["td1"], ctx["td2"]], "tags_in_register": t1.get("tags"), "listed": listed, "listed_desc": listed_desc,
                "latest_revision": td["revision"], "runtimePlatform": td.get("runtimePlatform"), "secrets": td["containerDefinitions"][0].get("secrets"),
                "cpu_memory": (td.get("cpu"), td.get("memory")), "status": td["status"], "describe_tags": d.get("tags"),
                "compat": (td.get("compatibilities"), td.get("requiresCompatibilities"))}

    def service_validation() -> dict[str, Any]:
        elb2 = p.client("elbv2")
        lonely = elb2.create_target_group(Name="probe-lonely", Protocol="HTTP", Port=8080, VpcId=ctx["vpc"], TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
        net = {"awsvpcConfiguration": {"subnets": ctx["subnets"], "securityGroups": [ctx["sg_task"]], "assignPublicIp": "ENABLED"}}
        no_lb = err(lambda: ecs.create_service(cluster="probe", serviceName="probe-v", taskDefinition=ctx["td1"], desiredCount=1, launchType="FARGATE",
                                               networkConfiguration=net, loadBalancers=[{"targetGroupArn": lonely, "containerName": "mcp", "containerPort": 8080}]))
        no_net = err(lambda: ecs.create_service(cluster="probe", serviceName="probe-v", taskDefinition=ctx["td1"], desiredCount=1, launchType="FARGATE"))
        bad_subnet = err(lambda: ecs.create_service(cluster="probe", serviceName="probe-v", taskDefinition=ctx["td1"], desiredCount=1, launchType="FARGATE",
                                                    networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-0000"], "securityGroups": [ctx["sg_task"]]}}))
        elb2.delete_target_group(TargetGroupArn=lonely)
        return {"tg_without_lb": no_lb, "awsvpc_without_network": no_net, "unknown_subnet": bad_subnet}

    def service() -> dict[str, Any]:
        net = {"awsvpcConfiguration": {"subnets": ctx["subnets"], "securityGroups": [ctx["sg_task"]], "assignPublicIp": "ENABLED"}}
        s = ecs.create_service(cluster="probe", serviceName="probe-mcp", taskDefinition=ctx["td1"], desiredCount=1, launchType="FARGATE",
                               platformVersion="LATEST", networkConfiguration=net,
                               loadBalancers=[{"targetGroupArn": ctx["tg"], "containerName": "mcp", "containerPort": 8080}],
                               deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}, "maximumPercent": 200, "minimumHealthyPercent": 100},
                               healthCheckGracePeriodSeconds=60, tags=[{"key": "neo4j-gw:stack", "value": "probe"}], propagateTags="SERVICE",
                               enableECSManagedTags=True)["service"]
        dup = err(lambda: ecs.create_service(cluster="probe", serviceName="probe-mcp", taskDefinition=ctx["td1"], desiredCount=1, launchType="FARGATE", networkConfiguration=net))
        d = ecs.describe_services(cluster="probe", services=["probe-mcp"], include=["TAGS"])["services"][0]
        health = elb.describe_target_health(TargetGroupArn=ctx["tg"])["TargetHealthDescriptions"]
        tasks = ecs.list_tasks(cluster="probe", serviceName="probe-mcp")["taskArns"]
        dt = ecs.describe_tasks(cluster="probe", tasks=tasks)["tasks"] if tasks else []
        dt2 = ecs.describe_tasks(cluster="probe", tasks=tasks)["tasks"] if tasks else []
        enis = ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [ctx["sg_task"]]}])["NetworkInterfaces"]
        keys = ("status", "desiredCount", "runningCount", "pendingCount", "taskDefinition", "launchType", "platformVersion", "deploymentConfiguration",
                "healthCheckGracePeriodSeconds", "loadBalancers", "networkConfiguration", "propagateTags", "enableECSManagedTags", "tags", "serviceArn", "createdAt")
        return {"create": {k: s.get(k) for k in keys}, "duplicate_create": dup, "describe": {k: d.get(k) for k in keys},
                "deployments": [{k: x.get(k) for k in ("id", "status", "rolloutState", "runningCount", "desiredCount", "taskDefinition")} for x in d["deployments"]],
                "target_health": health, "tasks": len(tasks),
                "task": dt and {k: dt[0].get(k) for k in ("lastStatus", "desiredStatus", "group", "startedBy", "taskDefinitionArn", "launchType", "tags", "attachments")},
                "task_status_second_describe": dt2 and dt2[0]["lastStatus"], "task_enis": [(e["NetworkInterfaceId"], e["PrivateIpAddress"], e["Status"]) for e in enis]}

    def update() -> dict[str, Any]:
        u = ecs.update_service(cluster="probe", service="probe-mcp", taskDefinition=ctx["td2"], desiredCount=2, forceNewDeployment=True)["service"]
        d = ecs.describe_services(cluster="probe", services=["probe-mcp"])["services"][0]
        health = elb.describe_target_health(TargetGroupArn=ctx["tg"])["TargetHealthDescriptions"]
        running = ecs.list_tasks(cluster="probe", serviceName="probe-mcp")["taskArns"]
        stopped = ecs.list_tasks(cluster="probe", serviceName="probe-mcp", desiredStatus="STOPPED")["taskArns"]
        st = ecs.describe_tasks(cluster="probe", tasks=stopped)["tasks"] if stopped else []
        u0 = ecs.update_service(cluster="probe", service="probe-mcp", desiredCount=0)["service"]
        health0 = elb.describe_target_health(TargetGroupArn=ctx["tg"])["TargetHealthDescriptions"]
        u1 = ecs.update_service(cluster="probe", service="probe-mcp", desiredCount=1)["service"]
        family = ecs.update_service(cluster="probe", service="probe-mcp", taskDefinition="probe-mcp:1")["service"]["taskDefinition"]
        cl = ecs.describe_clusters(clusters=["probe"])["clusters"][0]
        return {"update": {k: u.get(k) for k in ("taskDefinition", "desiredCount", "runningCount", "pendingCount")},
                "deployments": [{k: x.get(k) for k in ("id", "status", "rolloutState", "runningCount", "taskDefinition")} for x in d["deployments"]],
                "targets_after_scale_2": [(h["Target"]["Id"], h["Target"]["Port"], h["TargetHealth"]["State"]) for h in health],
                "running_tasks": len(running), "stopped_tasks": len(stopped), "stopped_reason": st and (st[0]["lastStatus"], st[0].get("stoppedReason")),
                "scale_0": (u0["runningCount"], u0["desiredCount"], len(health0)), "scale_1": u1["runningCount"], "update_by_family_rev": family,
                "cluster_counts": (cl["runningTasksCount"], cl["pendingTasksCount"], cl["activeServicesCount"])}

    def delete() -> dict[str, Any]:
        net = {"awsvpcConfiguration": {"subnets": ctx["subnets"], "securityGroups": [ctx["sg_task"]], "assignPublicIp": "ENABLED"}}
        token_args = dict(cluster="probe", serviceName="probe-tok", taskDefinition=ctx["td1"], desiredCount=0, launchType="FARGATE",
                          networkConfiguration=net, clientToken="probe-service-token-0123456789abcd")
        first = ecs.create_service(**token_args)["service"]["serviceArn"]
        ecs.delete_service(cluster="probe", service="probe-tok", force=True)
        replay = ecs.create_service(**token_args)["service"]
        token_other_params = err(lambda: ecs.create_service(**{**token_args, "desiredCount": 1}))
        cluster_with_service = err(lambda: ecs.delete_cluster(cluster="probe"))
        not_forced = err(lambda: ecs.delete_service(cluster="probe", service="probe-mcp"))
        dl = ecs.delete_service(cluster="probe", service="probe-mcp", force=True)["service"]
        d = ecs.describe_services(cluster="probe", services=["probe-mcp"])
        health = elb.describe_target_health(TargetGroupArn=ctx["tg"])["TargetHealthDescriptions"]
        enis = ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [ctx["sg_task"]]}])["NetworkInterfaces"]
        listed = ecs.list_services(cluster="probe")["serviceArns"]
        dereg = ecs.deregister_task_definition(taskDefinition=ctx["td1"])["taskDefinition"]["status"]
        inactive = ecs.list_task_definitions(familyPrefix="probe-mcp", status="INACTIVE")["taskDefinitionArns"]
        active = ecs.list_task_definitions(familyPrefix="probe-mcp")["taskDefinitionArns"]
        del_cluster_with_tasks = err(lambda: ecs.delete_cluster(cluster="probe"))
        return {"token_replay_after_delete": (replay["serviceArn"] == first, replay["status"]), "token_other_params": token_other_params,
                "delete_cluster_with_service": cluster_with_service, "delete_without_force": not_forced, "delete_status": dl["status"], "running_after": dl["runningCount"],
                "describe_after": [(s["status"], s["runningCount"]) for s in d["services"]], "failures": d["failures"], "targets_after": health,
                "task_enis_after": len(enis), "list_services_after": listed, "deregister_status": dereg, "inactive": inactive, "active": active,
                "delete_cluster": del_cluster_with_tasks if isinstance(del_cluster_with_tasks, dict) and "error" in del_cluster_with_tasks else del_cluster_with_tasks["cluster"]["status"]}

    for name, fn in [("ecs.cluster", cluster), ("ecs.task_definition", taskdef), ("ecs.create_service_validation", service_validation),
                     ("ecs.service", service), ("ecs.update_service", update), ("ecs.delete_service", delete)]:
        p.record(name, fn)


# -------------------------------------------------------------------------------------------------------- Route53
def probe_route53(p: Probe, ctx: dict[str, Any]) -> None:
    r53 = p.client("route53")

    def zones() -> dict[str, Any]:
        z = r53.create_hosted_zone(Name="example.com", CallerReference=str(time.time()))
        zid = z["HostedZone"]["Id"]
        ctx["zone"] = zid
        private = r53.create_hosted_zone(Name="example.com", CallerReference=str(time.time()) + "p", VPC={"VPCRegion": p.region, "VPCId": ctx["vpc"]},
                                         HostedZoneConfig={"PrivateZone": True})["HostedZone"]["Id"]
        by_name = r53.list_hosted_zones_by_name(DNSName="example.com")
        by_name_dot = r53.list_hosted_zones_by_name(DNSName="example.com.", MaxItems="1")
        g = r53.get_hosted_zone(Id=zid)
        g_short = err(lambda: r53.get_hosted_zone(Id=zid.split("/")[-1])["HostedZone"]["Id"])
        return {"create_id": zid, "change_info": z["ChangeInfo"], "by_name": [(h["Id"], h["Name"], h["Config"].get("PrivateZone")) for h in by_name["HostedZones"]],
                "by_name_keys": sorted(k for k in by_name if k != "ResponseMetadata"), "maxitems1": (len(by_name_dot["HostedZones"]), by_name_dot.get("IsTruncated")),
                "get": {"Id": g["HostedZone"]["Id"], "Name": g["HostedZone"]["Name"], "Config": g["HostedZone"]["Config"], "NameServers": g.get("DelegationSet", {}).get("NameServers")},
                "get_with_bare_id": g_short, "private_id": private}

    def records() -> dict[str, Any]:
        change = {"Action": "UPSERT", "ResourceRecordSet": {"Name": "mcp.example.com", "Type": "A",
                  "AliasTarget": {"HostedZoneId": ctx.get("lb_zone", "Z35SXDOTRQ7X7K"), "DNSName": ctx.get("lb_dns", "x.elb.amazonaws.com"), "EvaluateTargetHealth": True}}}
        c = r53.change_resource_record_sets(HostedZoneId=ctx["zone"], ChangeBatch={"Comment": "probe", "Changes": [change]})["ChangeInfo"]
        st = r53.get_change(Id=c["Id"])["ChangeInfo"]
        st_bare = err(lambda: r53.get_change(Id=c["Id"].split("/")[-1])["ChangeInfo"]["Status"])
        rr = r53.list_resource_record_sets(HostedZoneId=ctx["zone"])["ResourceRecordSets"]
        filtered = r53.list_resource_record_sets(HostedZoneId=ctx["zone"], StartRecordName="mcp.example.com", StartRecordType="A", MaxItems="1")["ResourceRecordSets"]
        create_again = err(lambda: r53.change_resource_record_sets(HostedZoneId=ctx["zone"], ChangeBatch={"Changes": [{**change, "Action": "CREATE"}]}))
        delete = r53.change_resource_record_sets(HostedZoneId=ctx["zone"], ChangeBatch={"Changes": [{**change, "Action": "DELETE"}]})["ChangeInfo"]["Status"]
        delete_again = err(lambda: r53.change_resource_record_sets(HostedZoneId=ctx["zone"], ChangeBatch={"Changes": [{**change, "Action": "DELETE"}]}))
        return {"change": c, "get_change": st, "get_change_bare_id": st_bare, "records": rr, "start_record_filter": filtered,
                "create_existing": create_again, "delete": delete, "delete_missing": delete_again}

    p.record("route53.zones", zones)
    p.record("route53.records", records)


# ------------------------------------------------------------------------------------------------------------ ACM
def probe_acm(p: Probe, ctx: dict[str, Any]) -> None:
    acm = p.client("acm")

    def certs() -> dict[str, Any]:
        pem_cert, pem_key = self_signed_certificate("example.com")
        arn = acm.import_certificate(Certificate=pem_cert, PrivateKey=pem_key, Tags=[{"Key": "neo4j-gw:stack", "Value": "probe"}])["CertificateArn"]
        d = acm.describe_certificate(CertificateArn=arn)["Certificate"]
        req = acm.request_certificate(DomainName="mcp.example.com", ValidationMethod="DNS")["CertificateArn"]
        dr = acm.describe_certificate(CertificateArn=req)["Certificate"]
        listed = acm.list_certificates(CertificateStatuses=["ISSUED"])["CertificateSummaryList"]
        listed_all = acm.list_certificates()["CertificateSummaryList"]
        return {"imported": {k: d.get(k) for k in ("DomainName", "SubjectAlternativeNames", "Status", "Type", "KeyAlgorithm", "NotAfter", "InUseBy")},
                "requested": {k: dr.get(k) for k in ("DomainName", "SubjectAlternativeNames", "Status", "Type")},
                "requested_validation": dr.get("DomainValidationOptions"),
                "list_issued": [(c["CertificateArn"][-12:], c["DomainName"], c.get("Status"), c.get("SubjectAlternativeNameSummaries")) for c in listed],
                "list_all_count": len(listed_all)}

    p.record("acm.certificates", certs)


# ---------------------------------------------------------------------------------------------------- Secrets Manager
def probe_secrets(p: Probe, ctx: dict[str, Any]) -> None:
    sm = p.client("secretsmanager")

    def lifecycle() -> dict[str, Any]:
        out: dict[str, Any] = {}
        c = sm.create_secret(Name="probe/life", SecretString='{"NEO4J_PASSWORD":"pässword"}', Tags=[{"Key": "neo4j-gw:stack", "Value": "probe"}], Description="d")
        out["create"] = {k: c.get(k) for k in ("ARN", "Name", "VersionId")}
        d = sm.describe_secret(SecretId="probe/life")
        out["describe"] = {k: d.get(k) for k in ("ARN", "Name", "Tags", "DeletedDate", "VersionIdsToStages")}
        out["get"] = sm.get_secret_value(SecretId=c["ARN"])["SecretString"]
        out["get_by_partial_arn"] = err(lambda: sm.get_secret_value(SecretId=c["ARN"][:-7])["Name"])
        pv = sm.put_secret_value(SecretId="probe/life", SecretString='{"NEO4J_PASSWORD":"new"}')
        out["put"] = {k: pv.get(k) for k in ("VersionId", "VersionStages")}
        out["stages_after_put"] = sm.describe_secret(SecretId="probe/life")["VersionIdsToStages"]
        out["create_duplicate"] = err(lambda: sm.create_secret(Name="probe/life", SecretString="x"))
        dl = sm.delete_secret(SecretId="probe/life", RecoveryWindowInDays=7)
        out["delete_window"] = {k: dl.get(k) for k in ("ARN", "DeletionDate")}
        out["describe_scheduled"] = {k: sm.describe_secret(SecretId="probe/life").get(k) for k in ("DeletedDate",)}
        out["get_scheduled"] = err(lambda: sm.get_secret_value(SecretId="probe/life"))
        out["put_scheduled"] = err(lambda: sm.put_secret_value(SecretId="probe/life", SecretString="x"))
        out["create_while_scheduled"] = err(lambda: sm.create_secret(Name="probe/life", SecretString="x"))
        out["list_scheduled_default"] = [s["Name"] for s in sm.list_secrets()["SecretList"]]
        out["list_include_planned"] = [s["Name"] for s in sm.list_secrets(IncludePlannedDeletion=True)["SecretList"]]
        out["restore"] = {k: sm.restore_secret(SecretId="probe/life").get(k) for k in ("ARN", "Name")}
        out["get_after_restore"] = sm.get_secret_value(SecretId="probe/life")["SecretString"]
        out["force_delete"] = {k: sm.delete_secret(SecretId="probe/life", ForceDeleteWithoutRecovery=True).get(k) for k in ("ARN", "DeletionDate")}
        out["describe_after_force"] = err(lambda: sm.describe_secret(SecretId="probe/life"))
        c2 = sm.create_secret(Name="probe/life", SecretString="again")
        out["recreate_after_force_same_arn"] = c2["ARN"] == c["ARN"]
        out["force_delete_missing"] = err(lambda: sm.delete_secret(SecretId="probe/nope", ForceDeleteWithoutRecovery=True))
        out["both_flags"] = err(lambda: sm.delete_secret(SecretId="probe/life", ForceDeleteWithoutRecovery=True, RecoveryWindowInDays=7))
        return out

    p.record("secretsmanager.lifecycle", lifecycle)


# --------------------------------------------------------------------------------------------------- CloudWatch Logs
def probe_logs(p: Probe, ctx: dict[str, Any]) -> None:
    logs = p.client("logs")

    def groups() -> dict[str, Any]:
        out: dict[str, Any] = {}
        logs.create_log_group(logGroupName="/probe/mcp", tags={"neo4j-gw:stack": "probe"})
        out["create_again"] = err(lambda: logs.create_log_group(logGroupName="/probe/mcp"))
        logs.put_retention_policy(logGroupName="/probe/mcp", retentionInDays=30)
        out["bad_retention"] = err(lambda: logs.put_retention_policy(logGroupName="/probe/mcp", retentionInDays=31))
        d = logs.describe_log_groups(logGroupNamePrefix="/probe/")["logGroups"]
        out["describe"] = [{k: g.get(k) for k in ("logGroupName", "retentionInDays", "arn", "logGroupArn")} for g in d]
        arn = d[0].get("logGroupArn") or d[0]["arn"].removesuffix(":*")
        out["list_tags_for_resource"] = err(lambda: logs.list_tags_for_resource(resourceArn=arn)["tags"])
        out["list_tags_for_resource_star_arn"] = err(lambda: logs.list_tags_for_resource(resourceArn=d[0]["arn"])["tags"])
        out["list_tags_log_group"] = err(lambda: logs.list_tags_log_group(logGroupName="/probe/mcp")["tags"])
        logs.delete_log_group(logGroupName="/probe/mcp")
        out["delete_again"] = err(lambda: logs.delete_log_group(logGroupName="/probe/mcp"))
        return out

    p.record("logs.groups", groups)


# ------------------------------------------------------------------------------------------------------------ IAM
TRUST_LAMBDA = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def probe_iam(p: Probe, ctx: dict[str, Any]) -> None:
    iam = p.client("iam")

    def roles() -> dict[str, Any]:
        out: dict[str, Any] = {}
        r = iam.create_role(RoleName="probe-role", AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA), Tags=[{"Key": "neo4j-gw:stack", "Value": "probe"}], Description="d")["Role"]
        out["create"] = {k: r.get(k) for k in ("Arn", "RoleId", "Path", "Tags")}
        out["create_again"] = err(lambda: iam.create_role(RoleName="probe-role", AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA)))
        g = iam.get_role(RoleName="probe-role")["Role"]
        out["get_trust_type"] = type(g["AssumeRolePolicyDocument"]).__name__
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
        iam.put_role_policy(RoleName="probe-role", PolicyName="inline", PolicyDocument=json.dumps(policy))
        gp = iam.get_role_policy(RoleName="probe-role", PolicyName="inline")
        out["get_role_policy_doc_type"] = type(gp["PolicyDocument"]).__name__
        out["get_role_policy_equal"] = gp["PolicyDocument"] == policy
        out["list_role_policies"] = iam.list_role_policies(RoleName="probe-role")["PolicyNames"]
        out["list_role_tags"] = iam.list_role_tags(RoleName="probe-role")["Tags"]
        iam.attach_role_policy(RoleName="probe-role", PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
        out["attached"] = iam.list_attached_role_policies(RoleName="probe-role")["AttachedPolicies"]
        out["attach_unknown_managed"] = err(lambda: iam.attach_role_policy(RoleName="probe-role", PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicy"))
        out["get_policy_managed"] = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")["Policy"]["Arn"]
        out["delete_with_policies"] = err(lambda: iam.delete_role(RoleName="probe-role"))
        iam.delete_role_policy(RoleName="probe-role", PolicyName="inline")
        iam.detach_role_policy(RoleName="probe-role", PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
        out["delete_role_policy_again"] = err(lambda: iam.delete_role_policy(RoleName="probe-role", PolicyName="inline"))
        iam.delete_role(RoleName="probe-role")
        out["get_deleted"] = err(lambda: iam.get_role(RoleName="probe-role"))
        # leave a role for Lambda
        ctx["lambda_role"] = iam.create_role(RoleName="probe-lambda", AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))["Role"]["Arn"]
        return out

    p.record("iam.roles", roles)


def probe_sts(p: Probe, ctx: dict[str, Any]) -> None:
    def ident() -> dict[str, Any]:
        i = p.client("sts").get_caller_identity()
        hdr = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x", region_name=p.region).client("sts", endpoint_url=p.endpoint)
        hdr.meta.events.register("before-sign.sts.*", lambda request, **kw: request.headers.__setitem__("x-moto-account-id", "111122223333"))
        return {"identity": {k: i[k] for k in ("Account", "Arn", "UserId")}, "with_x_moto_account_id_header": hdr.get_caller_identity()["Account"]}

    p.record("sts.get_caller_identity", ident)


# --------------------------------------------------------------------------------------------------------- Lambda
def lambda_zip(body: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("interceptor.py", body)
    return buf.getvalue()


def probe_lambda(p: Probe, ctx: dict[str, Any]) -> None:
    lam = p.client("lambda")

    def functions() -> dict[str, Any]:
        out: dict[str, Any] = {}
        code = lambda_zip("def handler(event, context):\n    return event\n")
        want = base64.b64encode(hashlib.sha256(code).digest()).decode()
        out["missing_role"] = err(lambda: lam.create_function(FunctionName="probe-nr", Runtime="python3.13", Role="arn:aws:iam::123456789012:role/nope",
                                                              Handler="interceptor.handler", Code={"ZipFile": code}))
        c = lam.create_function(FunctionName="probe-fn", Runtime="python3.13", Role=ctx["lambda_role"], Handler="interceptor.handler", Code={"ZipFile": code},
                                Architectures=["arm64"], Timeout=30, MemorySize=128, Environment={"Variables": {"SECRET_ARN": "arn:x"}},
                                Tags={"neo4j-gw:stack": "probe"}, Publish=False)
        out["create"] = {k: c.get(k) for k in ("FunctionArn", "CodeSha256", "CodeSize", "State", "LastUpdateStatus", "Architectures", "Runtime", "Version", "PackageType")}
        out["sha256_is_b64_of_zip_sha256"] = c["CodeSha256"] == want
        g = lam.get_function(FunctionName="probe-fn")
        out["get"] = {k: g["Configuration"].get(k) for k in ("CodeSha256", "State", "LastUpdateStatus", "Timeout", "MemorySize", "Environment")}
        out["get_code_keys"] = sorted(g["Code"])
        out["get_tags"] = g.get("Tags")
        code2 = lambda_zip("def handler(event, context):\n    return {}\n")
        u = lam.update_function_code(FunctionName="probe-fn", ZipFile=code2, Architectures=["arm64"])
        out["update_code"] = {k: u.get(k) for k in ("CodeSha256", "LastUpdateStatus", "State")}
        out["update_code_sha_ok"] = u["CodeSha256"] == base64.b64encode(hashlib.sha256(code2).digest()).decode()
        uc = lam.update_function_configuration(FunctionName="probe-fn", Timeout=20, Environment={"Variables": {"SECRET_ARN": "arn:y"}})
        out["update_config"] = {k: uc.get(k) for k in ("Timeout", "Environment", "LastUpdateStatus", "CodeSha256")}
        out["list_tags"] = lam.list_tags(Resource=c["FunctionArn"])["Tags"]
        out["waiter_function_updated_v2"] = err(lambda: lam.get_waiter("function_updated_v2").wait(FunctionName="probe-fn", WaiterConfig={"Delay": 1, "MaxAttempts": 3}) or "ok")
        out["add_permission"] = err(lambda: json.loads(lam.add_permission(FunctionName="probe-fn", StatementId="agentcore", Action="lambda:InvokeFunction",
                                                                          Principal="bedrock-agentcore.amazonaws.com", SourceAccount="123456789012")["Statement"])["Effect"])
        out["create_again"] = err(lambda: lam.create_function(FunctionName="probe-fn", Runtime="python3.13", Role=ctx["lambda_role"], Handler="h.h", Code={"ZipFile": code}))
        lam.delete_function(FunctionName="probe-fn")
        out["get_deleted"] = err(lambda: lam.get_function(FunctionName="probe-fn"))
        out["delete_again"] = err(lambda: lam.delete_function(FunctionName="probe-fn"))
        return out

    p.record("lambda.functions", functions)


# -------------------------------------------------------------------------------------------------------- Cognito
def probe_cognito(p: Probe, ctx: dict[str, Any]) -> None:
    idp = p.client("cognito-idp")

    def pool() -> dict[str, Any]:
        out: dict[str, Any] = {}
        up = idp.create_user_pool(PoolName="probe-pool", AdminCreateUserConfig={"AllowAdminCreateUserOnly": True}, UserPoolTags={"neo4j-gw:stack": "probe"})["UserPool"]
        pid = up["Id"]
        out["pool"] = {k: up.get(k) for k in ("Id", "Arn", "Name", "UserPoolTags", "AdminCreateUserConfig", "Domain")}
        dom = idp.create_user_pool_domain(Domain="neo4j-mcp-123456789012-us-east-1", UserPoolId=pid)
        out["create_domain"] = {k: v for k, v in dom.items() if k != "ResponseMetadata"}
        dd = idp.describe_user_pool_domain(Domain="neo4j-mcp-123456789012-us-east-1")["DomainDescription"]
        out["describe_domain"] = {k: dd.get(k) for k in ("UserPoolId", "Domain", "Status", "CloudFrontDistribution", "Version")}
        out["describe_missing_domain"] = idp.describe_user_pool_domain(Domain="nope-nope")["DomainDescription"]
        out["domain_taken"] = err(lambda: idp.create_user_pool_domain(Domain="neo4j-mcp-123456789012-us-east-1", UserPoolId=pid))
        out["pool_domain_field"] = idp.describe_user_pool(UserPoolId=pid)["UserPool"].get("Domain")
        rs = idp.create_resource_server(UserPoolId=pid, Identifier="neo4j-mcp-gateway", Name="neo4j-mcp-gateway", Scopes=[{"ScopeName": "invoke", "ScopeDescription": "Invoke"}])["ResourceServer"]
        out["resource_server"] = rs
        out["resource_server_again"] = err(lambda: idp.create_resource_server(UserPoolId=pid, Identifier="neo4j-mcp-gateway", Name="x"))
        out["second_domain_same_pool"] = err(lambda: idp.create_user_pool_domain(Domain="neo4j-mcp-other", UserPoolId=pid))
        out["delete_pool_with_domain"] = err(lambda: idp.delete_user_pool(UserPoolId=pid))
        out["bad_scope_client"] = err(lambda: idp.create_user_pool_client(UserPoolId=pid, ClientName="bad", GenerateSecret=True, AllowedOAuthFlows=["client_credentials"],
                                                                          AllowedOAuthFlowsUserPoolClient=True, AllowedOAuthScopes=["neo4j-mcp-gateway/nope"])["UserPoolClient"]["ClientId"])
        cl = idp.create_user_pool_client(UserPoolId=pid, ClientName="probe-client", GenerateSecret=True, AllowedOAuthFlows=["client_credentials"],
                                         AllowedOAuthFlowsUserPoolClient=True, AllowedOAuthScopes=["neo4j-mcp-gateway/invoke"], SupportedIdentityProviders=["COGNITO"])["UserPoolClient"]
        out["client"] = {k: cl.get(k) for k in ("ClientId", "AllowedOAuthFlows", "AllowedOAuthScopes", "AllowedOAuthFlowsUserPoolClient")}
        out["client_secret_in_create"] = bool(cl.get("ClientSecret"))
        dc = idp.describe_user_pool_client(UserPoolId=pid, ClientId=cl["ClientId"])["UserPoolClient"]
        out["describe_client_secret_same"] = dc.get("ClientSecret") == cl.get("ClientSecret")
        out["list_clients"] = [c["ClientName"] for c in idp.list_user_pool_clients(UserPoolId=pid, MaxResults=60)["UserPoolClients"]]
        out["list_pools"] = [(x["Id"], x["Name"]) for x in idp.list_user_pools(MaxResults=60)["UserPools"]]
        out["list_tags_for_resource"] = err(lambda: idp.list_tags_for_resource(ResourceArn=up["Arn"])["Tags"])
        out["describe_pool_tags"] = idp.describe_user_pool(UserPoolId=pid)["UserPool"].get("UserPoolTags")
        with urllib.request.urlopen(f"{p.endpoint}/{pid}/.well-known/openid-configuration", timeout=5) as r:
            oidc = json.loads(r.read())
        out["openid_configuration"] = {k: oidc.get(k) for k in ("issuer", "jwks_uri", "token_endpoint", "authorization_endpoint")}
        with urllib.request.urlopen(f"{p.endpoint}/{pid}/.well-known/jwks.json", timeout=5) as r:
            out["jwks_keys"] = len(json.loads(r.read())["keys"])
        try:
            urllib.request.urlopen(urllib.request.Request(f"{p.endpoint}/oauth2/token", data=b"grant_type=client_credentials", method="POST"), timeout=5)
            out["oauth2_token"] = "answered"
        except Exception as e:  # noqa: BLE001
            out["oauth2_token"] = f"{type(e).__name__}: {e}"[:120]
        out["delete_rs"] = err(lambda: idp.delete_resource_server(UserPoolId=pid, Identifier="neo4j-mcp-gateway") and "ok")
        idp.delete_user_pool_domain(Domain="neo4j-mcp-123456789012-us-east-1", UserPoolId=pid)
        out["describe_domain_after_delete"] = idp.describe_user_pool_domain(Domain="neo4j-mcp-123456789012-us-east-1")["DomainDescription"]
        idp.delete_user_pool(UserPoolId=pid)
        out["describe_pool_deleted"] = err(lambda: idp.describe_user_pool(UserPoolId=pid))
        out["delete_pool_again"] = err(lambda: idp.delete_user_pool(UserPoolId=pid))
        return out

    p.record("cognito.pool", pool)


# ---------------------------------------------------------------------------------------------------- AgentCore
def gateway_args(name: str) -> dict[str, Any]:
    return dict(name=name, roleArn="arn:aws:iam::123456789012:role/probe-gw", protocolType="MCP",
                protocolConfiguration={"mcp": {"supportedVersions": ["2025-03-26"], "searchType": "SEMANTIC"}},
                authorizerType="CUSTOM_JWT",
                authorizerConfiguration={"customJWTAuthorizer": {"discoveryUrl": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_x/.well-known/openid-configuration",
                                                                 "allowedClients": ["client"], "allowedScopes": ["neo4j-mcp-gateway/invoke"]}},
                interceptorConfigurations=[{"interceptor": {"lambda": {"arn": "arn:aws:lambda:us-east-1:123456789012:function:probe-fn"}},
                                            "interceptionPoints": ["REQUEST"], "inputConfiguration": {"passRequestHeaders": True}}])


def probe_agentcore(p: Probe, ctx: dict[str, Any]) -> None:
    ac = p.client("bedrock-agentcore-control")

    def gateway() -> dict[str, Any]:
        out: dict[str, Any] = {}
        token = "probe-token-0123456789abcdefghijklmnopqrstuvwxyz"
        g = ac.create_gateway(**gateway_args("probe-gw"), clientToken=token, tags={"neo4j-gw:stack": "probe"})
        gid = g["gatewayId"]
        ctx["gw"] = gid
        out["create"] = {k: g.get(k) for k in ("gatewayId", "gatewayArn", "gatewayUrl", "status", "name", "protocolConfiguration", "interceptorConfigurations", "authorizerConfiguration")}
        out["same_token_same_gateway"] = ac.create_gateway(**gateway_args("probe-gw"), clientToken=token)["gatewayId"] == gid
        out["duplicate_name"] = err(lambda: ac.create_gateway(**gateway_args("probe-gw")))
        out["get"] = {k: ac.get_gateway(gatewayIdentifier=gid).get(k) for k in ("status", "statusReasons", "updatedAt")}
        out["get_by_arn"] = err(lambda: ac.get_gateway(gatewayIdentifier=g["gatewayArn"])["gatewayId"])
        out["list"] = [(x["gatewayId"], x["name"], x["status"]) for x in ac.list_gateways()["items"]]
        out["tags"] = ac.list_tags_for_resource(resourceArn=g["gatewayArn"])["tags"]
        args = gateway_args("probe-gw")
        args["interceptorConfigurations"][0]["inputConfiguration"]["passRequestHeaders"] = False
        u = ac.update_gateway(gatewayIdentifier=gid, **args)
        out["update_status"] = u["status"]
        after = ac.get_gateway(gatewayIdentifier=gid)
        out["get_after_update"] = (after["status"], after["interceptorConfigurations"][0]["inputConfiguration"])
        out["update_rename"] = err(lambda: ac.update_gateway(gatewayIdentifier=gid, **gateway_args("probe-gw-renamed"))["name"])
        ac.update_gateway(gatewayIdentifier=gid, **gateway_args("probe-gw"))
        out["get_missing"] = err(lambda: ac.get_gateway(gatewayIdentifier="nope-0123456789"))
        return out

    def targets() -> dict[str, Any]:
        out: dict[str, Any] = {}
        gid = ctx["gw"]
        cfg = {"mcp": {"mcpServer": {"endpoint": "https://mcp.example.com/mcp"}}}
        t = ac.create_gateway_target(gatewayIdentifier=gid, name="neo4j-mcp", targetConfiguration=cfg, clientToken="target-token-0123456789abcdefghijklmnopqrstuvwxyz")
        tid = t["targetId"]
        out["create"] = {k: t.get(k) for k in ("targetId", "gatewayArn", "status", "name", "targetConfiguration", "credentialProviderConfigurations")}
        out["same_token"] = ac.create_gateway_target(gatewayIdentifier=gid, name="neo4j-mcp", targetConfiguration=cfg, clientToken="target-token-0123456789abcdefghijklmnopqrstuvwxyz")["targetId"] == tid
        out["duplicate_name"] = err(lambda: ac.create_gateway_target(gatewayIdentifier=gid, name="neo4j-mcp", targetConfiguration=cfg))
        out["get"] = {k: ac.get_gateway_target(gatewayIdentifier=gid, targetId=tid).get(k) for k in ("status", "statusReasons", "lastSynchronizedAt")}
        out["list"] = [(x["targetId"], x["name"], x["status"]) for x in ac.list_gateway_targets(gatewayIdentifier=gid)["items"]]
        cfg2 = {"mcp": {"mcpServer": {"endpoint": "https://mcp2.example.com/mcp"}}}
        out["update_status"] = ac.update_gateway_target(gatewayIdentifier=gid, targetId=tid, name="neo4j-mcp", targetConfiguration=cfg2,
                                                        metadataConfiguration={"allowedRequestHeaders": ["X-Neo4j-Authorization"]})["status"]
        g2 = ac.get_gateway_target(gatewayIdentifier=gid, targetId=tid)
        out["get_after_update"] = (g2["status"], g2["targetConfiguration"], g2.get("metadataConfiguration"))
        out["delete_gateway_with_target"] = err(lambda: ac.delete_gateway(gatewayIdentifier=gid))
        out["delete_target"] = {k: v for k, v in ac.delete_gateway_target(gatewayIdentifier=gid, targetId=tid).items() if k != "ResponseMetadata"}
        out["get_deleted_target"] = err(lambda: ac.get_gateway_target(gatewayIdentifier=gid, targetId=tid))
        replay = ac.create_gateway_target(gatewayIdentifier=gid, name="neo4j-mcp", targetConfiguration=cfg, clientToken="target-token-0123456789abcdefghijklmnopqrstuvwxyz")
        out["deleted_target_token_replays"] = (replay["targetId"] == tid, len(ac.list_gateway_targets(gatewayIdentifier=gid)["items"]))
        out["delete_gateway"] = {k: v for k, v in ac.delete_gateway(gatewayIdentifier=gid).items() if k != "ResponseMetadata"}
        out["get_deleted_gateway"] = err(lambda: ac.get_gateway(gatewayIdentifier=gid))
        token = "probe-token-0123456789abcdefghijklmnopqrstuvwxyz"
        out["deleted_gateway_token_replays"] = ac.create_gateway(**gateway_args("probe-gw"), clientToken=token, tags={"neo4j-gw:stack": "probe"})["gatewayId"] == gid
        out["token_other_params"] = err(lambda: ac.create_gateway(**gateway_args("probe-gw-2"), clientToken=token))
        return out

    p.record("agentcore.gateway", gateway)
    p.record("agentcore.targets", targets)


def probe_agentcore_delay(region: str) -> None:
    proc, endpoint = start_emulator("--agentcore-delay-seconds", "2")
    try:
        p = Probe(endpoint, region)
        ac = p.client("bedrock-agentcore-control")

        def timeline() -> dict[str, Any]:
            def watch(get: Callable[[], str], limit: float = 6) -> list[tuple[float, str]]:
                t0, seen = time.monotonic(), []
                while time.monotonic() - t0 < limit:
                    s = get()
                    if not seen or seen[-1][1] != s:
                        seen.append((round(time.monotonic() - t0, 1), s))
                    if s == "READY" or s == "GONE":
                        break
                    time.sleep(0.25)
                return seen

            def status_or_gone(fn: Callable[[], Any]) -> str:
                try:
                    return fn()["status"]
                except ClientError as e:
                    return "GONE" if e.response["Error"]["Code"] == "ResourceNotFoundException" else e.response["Error"]["Code"]

            gid = ac.create_gateway(**gateway_args("delay-gw"))["gatewayId"]
            out = {"gateway_create": watch(lambda: ac.get_gateway(gatewayIdentifier=gid)["status"])}
            ac.update_gateway(gatewayIdentifier=gid, **gateway_args("delay-gw"))
            out["gateway_update"] = watch(lambda: ac.get_gateway(gatewayIdentifier=gid)["status"])
            tid = ac.create_gateway_target(gatewayIdentifier=gid, name="t", targetConfiguration={"mcp": {"mcpServer": {"endpoint": "https://x/mcp"}}})["targetId"]
            out["target_create"] = watch(lambda: ac.get_gateway_target(gatewayIdentifier=gid, targetId=tid)["status"])
            ac.delete_gateway_target(gatewayIdentifier=gid, targetId=tid)
            out["delete_gateway_while_target_deleting"] = err(lambda: ac.delete_gateway(gatewayIdentifier=gid))["error"]
            out["target_delete"] = watch(lambda: status_or_gone(lambda: ac.get_gateway_target(gatewayIdentifier=gid, targetId=tid)))
            ac.delete_gateway(gatewayIdentifier=gid)
            out["gateway_delete"] = watch(lambda: status_or_gone(lambda: ac.get_gateway(gatewayIdentifier=gid)))
            # state manager override at run time
            req = urllib.request.Request(f"{endpoint}/moto-api/state-manager/set-transition", method="POST",
                                         data=json.dumps({"model_name": "bedrock-agentcore-control::gateway", "transition": {"progression": "manual", "times": 3}}).encode())
            urllib.request.urlopen(req, timeout=5).read()
            gid2 = ac.create_gateway(**gateway_args("manual-gw"))["gatewayId"]
            out["manual_3_reads"] = [ac.get_gateway(gatewayIdentifier=gid2)["status"] for _ in range(4)]
            with urllib.request.urlopen(f"{endpoint}/moto-api/state-manager/get-transition?model_name=bedrock-agentcore-control::gateway_target", timeout=5) as r:
                out["get_transition_target"] = json.loads(r.read())
            return out

        p.record("agentcore.delay_2s", timeline)
    finally:
        print(json.dumps({"probe": "agentcore.delay_2s.exit", "rc": stop_emulator(proc)}), flush=True)


# ---------------------------------------------------------------------------------------------------------- misc
def probe_misc(p: Probe, ctx: dict[str, Any]) -> None:
    def regions_accounts() -> dict[str, Any]:
        west = Probe(p.endpoint, "eu-west-1")
        west.client("secretsmanager").create_secret(Name="probe/region", SecretString="x")
        east_sees = [s["Name"] for s in p.client("secretsmanager").list_secrets()["SecretList"] if s["Name"] == "probe/region"]
        west_arn = west.client("secretsmanager").describe_secret(SecretId="probe/region")["ARN"]
        return {"east_sees_west_secret": bool(east_sees), "west_arn": west_arn}

    def unimplemented() -> dict[str, Any]:
        ac = p.client("bedrock-agentcore-control")
        gid = ac.create_gateway(**gateway_args("sync-gw"))["gatewayId"]
        tid = ac.create_gateway_target(gatewayIdentifier=gid, name="t", targetConfiguration={"mcp": {"mcpServer": {"endpoint": "https://x/mcp"}}})["targetId"]
        sync = ac.synchronize_gateway_targets(gatewayIdentifier=gid, targetIdList=[tid])["targets"]
        after = ac.get_gateway_target(gatewayIdentifier=gid, targetId=tid)
        return {"synchronize_gateway_targets": [(t["targetId"], t["status"], bool(t.get("lastSynchronizedAt"))) for t in sync],
                "after_sync": (after["status"], bool(after.get("lastSynchronizedAt"))),
                "unimplemented_call_example": err(lambda: ac.list_policy_engines())}

    def reset() -> dict[str, Any]:
        req = urllib.request.Request(f"{p.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            status = r.status
        left = p.client("secretsmanager").list_secrets()["SecretList"]
        return {"reset_http": status, "secrets_after_reset": len(left)}

    p.record("misc.regions", regions_accounts)
    p.record("misc.unimplemented", unimplemented)
    p.record("misc.reset", reset)


SECTIONS = ["ec2", "elbv2", "ecs", "route53", "acm", "secrets", "logs", "iam", "sts", "lambda", "cognito", "agentcore", "agentcore_delay", "misc"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("sections", nargs="*", default=SECTIONS)
    args = ap.parse_args()
    proc = None
    endpoint = args.endpoint
    if not endpoint:
        proc, endpoint = start_emulator()
    p = Probe(endpoint, args.region)
    ctx: dict[str, Any] = {}
    want = set(args.sections)
    needs_net = want & {"elbv2", "ecs", "route53"}
    try:
        if "ec2" in want or needs_net:
            probe_ec2(p, ctx)
        if "elbv2" in want or "ecs" in want:
            probe_elbv2(p, ctx)
        if "ecs" in want:
            probe_ecs(p, ctx)
        if "route53" in want:
            probe_route53(p, ctx)
        if "elbv2" in want or "ecs" in want:
            probe_elbv2_teardown(p, ctx)
        if "ec2" in want or needs_net:
            probe_ec2_teardown(p, ctx)
        for name, fn in [("acm", probe_acm), ("secrets", probe_secrets), ("logs", probe_logs), ("iam", probe_iam), ("sts", probe_sts),
                         ("lambda", probe_lambda), ("cognito", probe_cognito), ("agentcore", probe_agentcore), ("misc", probe_misc)]:
            if name in want:
                if name == "lambda" and "lambda_role" not in ctx:
                    ctx["lambda_role"] = p.client("iam").create_role(RoleName="probe-lambda", AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))["Role"]["Arn"]
                fn(p, ctx)
        if "agentcore_delay" in want:
            probe_agentcore_delay(args.region)
    finally:
        if proc is not None:
            print(json.dumps({"probe": "emulator.exit", "rc": stop_emulator(proc)}), flush=True)
    failed = [r["probe"] for r in RESULTS if not r["ok"]]
    print(json.dumps({"probe": "summary", "count": len(RESULTS), "failed": failed}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
