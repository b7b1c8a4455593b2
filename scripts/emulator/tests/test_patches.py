"""The emulator's moto patches: every patch docs/emulator.md lists is applied, under its number, by the module of
its AWS service — and nothing is applied that the document does not list."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

EMULATOR = Path(__file__).resolve().parents[1]
REPO = EMULATOR.parents[1]
sys.path.insert(0, str(EMULATOR))

import patches  # noqa: E402  (moto itself is imported only when a patch is applied)

SERVICE_MODULES = ("agentcore", "ecs", "ec2", "elbv2", "route53", "acm", "secretsmanager", "logs", "iam", "cognito")


def documented() -> dict[str, str]:
    """docs/emulator.md's patch table: function name -> number."""
    text = (REPO / "docs" / "emulator.md").read_text()
    table = text.split("## Patches applied by", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+[a-z]?) \| `(\w+)`", table, flags=re.M)
    return {name: number for number, name in rows}


def applied() -> list[tuple[str, str, str]]:
    """`apply_patches`'s calls in order: (module, function, the number its comment gives)."""
    source = (EMULATOR / "patches" / "__init__.py").read_text()
    body = source.split("def apply_patches", 1)[1]
    return re.findall(r"^    (\w+)\.(\w+)\(.*\)  # #(\d+[a-z]?)$", body, flags=re.M)


def test_the_document_lists_the_patches():
    assert len(documented()) >= 28


def test_every_documented_patch_is_applied_and_nothing_else():
    names = [name for _, name, _ in applied()]
    assert len(names) == len(set(names)), "a patch applied twice"
    assert sorted(names) == sorted(documented())


def test_each_call_carries_the_documented_number():
    numbers = documented()
    for _, name, number in applied():
        assert number == numbers[name], f"{name} is #{numbers[name]} in docs/emulator.md, #{number} in apply_patches"


def test_each_patch_lives_in_the_module_of_its_service():
    for module, name, _ in applied():
        assert callable(getattr(getattr(patches, module), name)), f"patches.{module}.{name}"
        if module == "all_services":
            continue
        assert module in SERVICE_MODULES, module
        assert re.match(rf"(patch|add|set)_{module}_", name), f"{name} is not a {module} patch"


def test_each_module_names_its_patches_with_their_numbers():
    numbers = documented()
    for module, name, _ in applied():
        doc = getattr(patches, module).__doc__
        assert re.search(rf"#{numbers[name]} +{name}$", doc, flags=re.M), f"patches/{module}.py's docstring: {name}"


# Run in a fresh interpreter, with moto's in-process mock: applying the patches changes moto's classes for the
# whole process. Each call goes through a patch of a different module (numbers as in docs/emulator.md).
PATCHED_CALLS = """
import datetime
import json
import boto3
from botocore.exceptions import ClientError
from moto import mock_aws

import patches

patches.apply_patches(ecs_agent=True, agentcore_delay_seconds=0)
seen = {}


def code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


with mock_aws():
    client = lambda service: boto3.client(
        service, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    agentcore, ecs, iam, logs = client("bedrock-agentcore-control"), client("ecs"), client("iam"), client("logs")
    gateway = dict(
        name="Demo-gw", roleArn="arn:aws:iam::123456789012:role/r", protocolType="MCP", authorizerType="AWS_IAM",
        clientToken="t" * 33,
    )
    first, again = agentcore.create_gateway(**gateway), agentcore.create_gateway(**gateway)
    seen["gateway_url"] = first["gatewayUrl"]
    seen["gateway_token_replayed"] = first["gatewayId"] == again["gatewayId"]
    seen["gateway_token_other_params"] = code(lambda: agentcore.create_gateway(**gateway, description="other"))

    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(family="f", containerDefinitions=[{"name": "x", "image": "i", "memory": 128}])
    service = dict(cluster="c", serviceName="s", taskDefinition="f", desiredCount=0, clientToken="k")
    seen["service_without_linked_role"] = code(lambda: ecs.create_service(**service))
    iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")
    first, again = ecs.create_service(**service), ecs.create_service(**service)
    seen["service_token_replayed"] = first["service"]["serviceArn"] == again["service"]["serviceArn"]
    seen["service_token_other_params"] = code(lambda: ecs.create_service(**{**service, "desiredCount": 1}))

    logs.create_log_group(logGroupName="g")
    seen["retention_of_2_days"] = code(lambda: logs.put_retention_policy(logGroupName="g", retentionInDays=2))

    idp = client("cognito-idp")
    pool_id = idp.create_user_pool(PoolName="p")["UserPool"]["Id"]
    pool = idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    created = idp.create_user_pool_client(UserPoolId=pool_id, ClientName="c")["UserPoolClient"]
    described = idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=created["ClientId"])["UserPoolClient"]
    import moto.core.utils as moto_utils  # the clock #30 reads: a second later for the update, no waiting
    later = moto_utils.utcnow() + datetime.timedelta(seconds=1)
    moto_utils.utcnow = lambda: later
    updated = idp.update_user_pool_client(UserPoolId=pool_id, ClientId=created["ClientId"], ClientName="c")[
        "UserPoolClient"
    ]
    listed = idp.list_user_pool_clients(UserPoolId=pool_id, MaxResults=10)["UserPoolClients"]
    seen["client_dates_typed_as_the_pools"] = all(
        type(answer[key]) is type(pool["CreationDate"])
        for answer in (created, described, updated)
        for key in ("CreationDate", "LastModifiedDate")
    )
    seen["client_created_kept"] = created["CreationDate"] == described["CreationDate"] == updated["CreationDate"]
    seen["client_modified_on_update"] = updated["LastModifiedDate"] > described["LastModifiedDate"]
    seen["listed_client_keys"] = sorted(listed[0])

    scope = {"ScopeName": "invoke", "ScopeDescription": "d"}
    idp.create_resource_server(UserPoolId=pool_id, Identifier="rs", Name="n", Scopes=[scope])
    more = [scope, {"ScopeName": "read", "ScopeDescription": "r"}]
    answered = idp.update_resource_server(UserPoolId=pool_id, Identifier="rs", Name="m", Scopes=more)
    seen["resource_server_updated"] = answered["ResourceServer"]["Scopes"] == more
    described = idp.describe_resource_server(UserPoolId=pool_id, Identifier="rs")["ResourceServer"]
    seen["resource_server_update_kept"] = (described["Name"], described["Scopes"]) == ("m", more)
    seen["unknown_resource_server_update"] = code(
        lambda: idp.update_resource_server(UserPoolId=pool_id, Identifier="nope", Name="n")
    )
print(json.dumps(seen))
"""


def test_the_patched_moto_answers_as_aws_does():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOTO_", "AWS_"))}
    out = subprocess.run(
        [sys.executable, "-c", PATCHED_CALLS], cwd=EMULATOR, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.splitlines()[-1])
    assert re.fullmatch(  # 3
        r"https://demo-gw-[0-9a-z]{10}\.gateway\.bedrock-agentcore\.us-east-1\.amazonaws\.com/mcp", seen["gateway_url"]
    )
    assert seen["gateway_token_replayed"]  # 4
    assert seen["gateway_token_other_params"] == "ConflictException"  # 4
    assert seen["service_without_linked_role"] == "InvalidParameterException"  # 24
    assert seen["service_token_replayed"]  # 9b
    assert seen["service_token_other_params"] == "InvalidParameterException"  # 9b
    assert seen["retention_of_2_days"] == "InvalidParameterException"  # 18
    assert seen["client_dates_typed_as_the_pools"]  # 30
    assert seen["client_created_kept"]  # 30
    assert seen["client_modified_on_update"]  # 30
    assert seen["listed_client_keys"] == ["ClientId", "ClientName", "UserPoolId"]  # 30
    assert seen["resource_server_updated"]  # 31
    assert seen["resource_server_update_kept"]  # 31
    assert seen["unknown_resource_server_update"] == "ResourceNotFoundException"  # 31
