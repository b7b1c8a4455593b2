"""The data plane's IAM (issue 17): what a stand-in does on behalf of a role is allowed or denied by the role's
policies in the emulator, evaluated by moto's own IAM evaluation; a function's AWS calls are authorised by moto."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # scripts/emulator/

import boto3
import pytest
from moto import mock_aws

from dataplane import iam

ACCOUNT = "123456789012"
GATEWAY_ARN = f"arn:aws:bedrock-agentcore:us-east-1:{ACCOUNT}:gateway/gw-1"


def trust(service, condition=None):
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def allow(actions, resources):
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resources}]})


@pytest.fixture
def aws(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        iam.install()
        yield boto3.client("iam", region_name="us-east-1")


def role(client, name, trust_doc, policy=None):
    arn = client.create_role(RoleName=name, AssumeRolePolicyDocument=trust_doc)["Role"]["Arn"]
    if policy:
        client.put_role_policy(RoleName=name, PolicyName="neo4j-gw", PolicyDocument=policy)
    return arn


def test_an_action_is_allowed_only_on_the_resources_the_policy_names(aws):
    fn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:s-interceptor"
    arn = role(aws, "s-gateway", trust("bedrock-agentcore.amazonaws.com"), allow(["lambda:InvokeFunction"], [fn]))
    iam.check(arn, "lambda:InvokeFunction", fn)
    with pytest.raises(iam.AccessDenied, match="not authorized to perform: lambda:InvokeFunction on resource: .*other"):
        iam.check(arn, "lambda:InvokeFunction", fn.replace("s-interceptor", "other"))
    aws.delete_role_policy(RoleName="s-gateway", PolicyName="neo4j-gw")  # out of band: effective at once
    with pytest.raises(iam.AccessDenied, match="because no identity-based policy allows"):
        iam.check(arn, "lambda:InvokeFunction", fn)


def test_an_explicit_deny_wins(aws):
    doc = json.loads(allow(["secretsmanager:GetSecretValue"], ["*"]))
    doc["Statement"].append({"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": "arn:aws:secretsmanager:*:*:secret:x*"})
    arn = role(aws, "s-exec", trust("ecs-tasks.amazonaws.com"), json.dumps(doc))
    with pytest.raises(iam.AccessDenied, match="explicit deny"):
        iam.check(arn, "secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:x-1")


def test_the_trust_policy_names_the_service_and_its_conditions_hold(aws):
    condition = {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:bedrock-agentcore:us-east-1:{ACCOUNT}:gateway/*"},
    }
    arn = role(aws, "s-gw", trust("bedrock-agentcore.amazonaws.com", condition))
    iam.assume(arn, "bedrock-agentcore.amazonaws.com", {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": GATEWAY_ARN})
    with pytest.raises(iam.AccessDenied):
        iam.assume(arn, "lambda.amazonaws.com", {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": GATEWAY_ARN})
    with pytest.raises(iam.AccessDenied):
        iam.assume(arn, "bedrock-agentcore.amazonaws.com", {"aws:SourceAccount": "999999999999", "aws:SourceArn": GATEWAY_ARN})
    with pytest.raises(iam.AccessDenied):
        iam.assume(arn, "bedrock-agentcore.amazonaws.com", {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": GATEWAY_ARN.replace("gateway/", "runtime/")})


def test_a_functions_own_calls_are_authorised_by_moto_against_its_role(aws):
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    mine = sm.create_secret(Name="s-neo4j", SecretString='{"NEO4J_USERNAME":"u","NEO4J_PASSWORD":"p"}')["ARN"]
    other = sm.create_secret(Name="s-other", SecretString="x")["ARN"]
    arn = role(aws, "s-interceptor", trust("lambda.amazonaws.com"), allow(["secretsmanager:GetSecretValue"], [mine]))
    creds = iam.role_session(arn, "lambda.amazonaws.com", "s-interceptor", "us-east-1")
    as_role = boto3.client(
        "secretsmanager",
        region_name="us-east-1",
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
    )
    assert as_role.get_secret_value(SecretId=mine)["SecretString"].startswith("{")
    assert as_role.get_secret_value(SecretId="s-neo4j")["ARN"] == mine  # by name: the same secret, the same ARN
    with pytest.raises(as_role.exceptions.ClientError, match="AccessDenied"):
        as_role.get_secret_value(SecretId=other)
    aws.delete_role_policy(RoleName="s-interceptor", PolicyName="neo4j-gw")
    with pytest.raises(as_role.exceptions.ClientError, match="AccessDenied"):
        as_role.get_secret_value(SecretId=mine)
    # Everything not signed with a role session stays as the emulator runs: unauthenticated.
    assert sm.get_secret_value(SecretId=other)["SecretString"] == "x"


def test_a_role_the_service_may_not_assume_gets_no_session(aws):
    arn = role(aws, "s-wrong", trust("ecs-tasks.amazonaws.com"))
    with pytest.raises(iam.AccessDenied, match="lambda.amazonaws.com is not authorized"):
        iam.role_session(arn, "lambda.amazonaws.com", "f", "us-east-1")
