"""Agents' rights at the gateway (issue 20): the gateway stand-in's policy engine — AgentCore Policy, Cedar evaluated
by the real Cedar engine (cedarpy) — in front of the real Neo4j MCP server stand-in, and its audit lines in
CloudWatch Logs. The control plane (policy engines, policies, log deliveries) is the emulator's, in-process
(moto's mock_aws with the emulator's patches); the gateway's own configuration is given as GetGateway answers it."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # scripts/emulator/

import base64
import json
import warnings

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.applications import Starlette
    from starlette.routing import Route
    from starlette.testclient import TestClient

from mcp.shared.exceptions import McpError
from mcp.types import CallToolResult, ErrorData, ListToolsResult

from dataplane import audit, aws as aws_module, gateway as gateway_module, policy
from dataplane.gateway import Gateways
from dataplane.neo4j_dbms import Neo4jStandIn
from dataplane.neo4j_mcp import Settings, build_app

REGION = "us-east-1"
ACCOUNT = "123456789012"
GATEWAY_ID = "s-gateway-abcdefghij"
GATEWAY_ARN = f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:gateway/{GATEWAY_ID}"
TARGET = "neo4j-mcp"
RS = "neo4j-gw-s"  # the resource server's identifier: scopes RS/read and RS/write
URI = "neo4j+s://db.example.test:7687"
READER = {"sub": "client-reader", "client_id": "client-reader", "scope": f"{RS}/read", "token_use": "access"}
WRITER = {"sub": "client-writer", "client_id": "client-writer", "scope": f"{RS}/read {RS}/write", "token_use": "access"}
TOKENS = {"reader-token": READER, "writer-token": WRITER}
LOG_GROUP = f"/aws/vendedlogs/bedrock-agentcore/gateway/APPLICATION_LOGS/{GATEWAY_ID}"

# The two policies neo4j-gw sends (docs/aws-behaviour.md, "Agents' rights at the gateway"): one per access level,
# on the token's scope claim.
READ_POLICY = f"""permit(
  principal is AgentCore::OAuthUser,
  action in [AgentCore::Action::"{TARGET}___get-schema", AgentCore::Action::"{TARGET}___read-cypher"],
  resource == AgentCore::Gateway::"{GATEWAY_ARN}"
) when {{ principal.hasTag("scope") && principal.getTag("scope") like "*{RS}/read*" }};"""
WRITE_POLICY = f"""permit(
  principal is AgentCore::OAuthUser,
  action == AgentCore::Action::"{TARGET}___write-cypher",
  resource == AgentCore::Gateway::"{GATEWAY_ARN}"
) when {{ principal.hasTag("scope") && principal.getTag("scope") like "*{RS}/write*" }};"""


@pytest.fixture(scope="module", autouse=True)
def emulator_patches():
    policy.install_control_plane()
    audit.install_control_plane()


class Server:
    """The Neo4j MCP server stand-in (NEO4J_READ_ONLY=false), reached the way the gateway reaches a target: an MCP
    client session. Every request that reaches it is counted."""

    def __init__(self):
        self.dbms = Neo4jStandIn()
        self.dbms.register(URI, {"neo4j": "secret-pw"}, ["movies"])
        env = {
            "NEO4J_TRANSPORT_MODE": "http", "NEO4J_MCP_HTTP_HOST": "0.0.0.0", "NEO4J_MCP_HTTP_PORT": "8080",
            "NEO4J_URI": URI, "NEO4J_DATABASE": "movies", "NEO4J_READ_ONLY": "false",
        }
        self.requests: list[str] = []
        self.client = TestClient(build_app(Settings.load(env, "neo4j/mcp:v1.5.3"), self.dbms, lambda m: None))
        self.client.__enter__()

    def post(self, method: str, params: dict) -> dict:
        self.requests.append(method)
        auth = "Basic " + base64.b64encode(b"neo4j:secret-pw").decode()
        r = self.client.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
            headers={"accept": "application/json, text/event-stream", "authorization": auth},
        )
        return r.json()

    async def session(self, albs, endpoint, headers, work):  # stands in for gateway._target_session
        server = self

        class Session:
            async def list_tools(self, cursor=None):
                return ListToolsResult.model_validate(server.post("tools/list", {"cursor": cursor} if cursor else {})["result"])

            async def call_tool(self, name, arguments):
                answer = server.post("tools/call", {"name": name, "arguments": arguments})
                if "error" in answer:
                    raise McpError(ErrorData(**answer["error"]))
                return CallToolResult.model_validate(answer["result"])

        return await work(Session())


class Tokens:
    def check(self, token, authorizer):
        if token not in TOKENS:
            raise ValueError("not a JWT")
        return TOKENS[token]


ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/s-gateway"


def gateway_role(actions):
    """The gateway's role, allowed `actions` on the stack's policy engines and gateway."""
    iam = boto3.client("iam", region_name=REGION)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "bedrock-agentcore.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="s-gateway", AssumeRolePolicyDocument=json.dumps(trust))
    resources = [f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:policy-engine/s_neo4j_gw-*", GATEWAY_ARN]
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resources}]}
    iam.put_role_policy(RoleName="s-gateway", PolicyName="policy-engine", PolicyDocument=json.dumps(document))


class Aws(aws_module.Aws):
    """GetGateway / ListGatewayTargets as the emulator answers them; everything else the data plane's own reads of
    the emulator, in-process."""

    def __init__(self, engine_configuration):
        self.engine_configuration = engine_configuration

    def gateway(self, region, gateway_id):
        gw = {
            "gatewayId": GATEWAY_ID, "gatewayArn": GATEWAY_ARN, "name": "s-gateway", "status": "READY", "roleArn": ROLE_ARN,
            "authorizerType": "CUSTOM_JWT",
            "authorizerConfiguration": {"customJWTAuthorizer": {"discoveryUrl": "https://idp.test/.well-known/openid-configuration"}},
        }
        if self.engine_configuration is not None:
            gw["policyEngineConfiguration"] = self.engine_configuration
        return gw

    def targets(self, region, gateway_id):
        return [{
            "targetId": "T1", "name": TARGET, "status": "READY", "gatewayArn": GATEWAY_ARN,
            "targetConfiguration": {"mcp": {"mcpServer": {"endpoint": "https://mcp.example.test/mcp", "listingMode": "DYNAMIC"}}},
        }]

    def client(self, service, region):
        return boto3.client(service, region_name=region)


def control():
    return boto3.client("bedrock-agentcore-control", region_name=REGION)


def engine_with(*statements, mode="IGNORE_ALL_FINDINGS"):
    engine = control().create_policy_engine(name="s_neo4j_gw")
    for i, statement in enumerate(statements):
        control().create_policy(
            policyEngineId=engine["policyEngineId"], name=f"access_{i}", definition={"cedar": {"statement": statement}},
            validationMode=mode,
        )
    return engine


def deliver_logs():
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName=LOG_GROUP)
    logs.put_delivery_source(name="s-gateway-logs", resourceArn=GATEWAY_ARN, logType="APPLICATION_LOGS")
    dest = logs.put_delivery_destination(
        name="s-gateway-logs",
        deliveryDestinationConfiguration={"destinationResourceArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}"},
    )["deliveryDestination"]
    logs.create_delivery(deliverySourceName="s-gateway-logs", deliveryDestinationArn=dest["arn"])


def audit_lines():
    logs = boto3.client("logs", region_name=REGION)
    events = logs.filter_log_events(logGroupName=LOG_GROUP).get("events", [])
    return [json.loads(e["message"]) for e in events]


@pytest.fixture
def plane(monkeypatch):
    """A gateway stand-in in front of the server stand-in; `configure(engine_configuration)` sets what GetGateway
    says of the policy engine."""
    with mock_aws():
        gateway_role(policy.ROLE_ACTIONS)
        server = Server()
        monkeypatch.setattr(gateway_module, "_target_session", server.session)
        state = {"aws": Aws(None)}
        gateways = Gateways(state["aws"], None, None, Tokens())

        async def endpoint(request):
            return await gateways.handle(request, GATEWAY_ID, REGION)

        client = TestClient(Starlette(routes=[Route("/mcp", endpoint, methods=["POST", "GET"])]))

        def rpc(token, method, params=None):
            body = {"jsonrpc": "2.0", "id": 7, "method": method}
            if params is not None:
                body["params"] = params
            return client.post("/mcp", json=body, headers={"authorization": f"Bearer {token}"}).json()

        def configure(engine_configuration):
            state["aws"].engine_configuration = engine_configuration

        yield rpc, configure, server
        server.client.__exit__(None, None, None)


def listed(answer):
    return sorted(t["name"] for t in answer["result"]["tools"]) if "result" in answer else answer


def all_tools(rpc, token):
    names, cursor = [], None
    while True:
        answer = rpc(token, "tools/list", {"cursor": cursor} if cursor else {})
        names += [t["name"] for t in answer["result"]["tools"]]
        cursor = answer["result"].get("nextCursor")
        if not cursor:
            return sorted(names)


def enforce(engine):
    return {"arn": engine["policyEngineArn"], "mode": "ENFORCE"}


def test_without_a_policy_engine_every_caller_sees_and_calls_every_tool(plane):
    rpc, configure, server = plane
    assert all_tools(rpc, "reader-token") == [f"{TARGET}___get-schema", f"{TARGET}___read-cypher", f"{TARGET}___write-cypher"]
    answer = rpc("reader-token", "tools/call", {"name": f"{TARGET}___write-cypher", "arguments": {"query": "CREATE (n:Note)"}})
    assert answer["result"]["isError"] is False and server.requests[-1] == "tools/call"


def test_a_readers_listing_lacks_write_cypher_and_a_writers_has_it(plane):
    rpc, configure, server = plane
    configure(enforce(engine_with(READ_POLICY, WRITE_POLICY)))
    assert all_tools(rpc, "reader-token") == [f"{TARGET}___get-schema", f"{TARGET}___read-cypher"]
    assert all_tools(rpc, "writer-token") == [f"{TARGET}___get-schema", f"{TARGET}___read-cypher", f"{TARGET}___write-cypher"]


def test_a_readers_write_cypher_is_refused_before_anything_reaches_the_server(plane):
    rpc, configure, server = plane
    configure(enforce(engine_with(READ_POLICY, WRITE_POLICY)))
    all_tools(rpc, "reader-token")  # the gateway lists the DYNAMIC target: its tools enter the engine's schema
    before = list(server.requests)
    answer = rpc("reader-token", "tools/call", {"name": f"{TARGET}___write-cypher", "arguments": {"query": "CREATE (n:Note)"}})
    assert answer["error"] == {
        "code": policy.DENIED_CODE,
        "message": f"{policy.DENIED_MESSAGE} [{policy.NO_DETERMINING}]",
    }
    assert server.requests == before
    assert server.dbms.writes(URI, "movies") == []


def test_a_writers_write_cypher_reaches_the_server_and_writes(plane):
    rpc, configure, server = plane
    configure(enforce(engine_with(READ_POLICY, WRITE_POLICY)))
    all_tools(rpc, "writer-token")
    query = "CREATE (n:Note {text: $t}) RETURN n"
    answer = rpc("writer-token", "tools/call", {"name": f"{TARGET}___write-cypher", "arguments": {"query": query, "params": {"t": "hi"}}})
    assert answer["result"]["isError"] is False
    assert server.dbms.writes(URI, "movies") == [query]


def test_a_call_of_a_tool_the_engine_has_not_seen_is_denied_strict_reading(plane):
    """A DYNAMIC target nobody has listed yet: the engine's schema has no such action, so the call is refused."""
    rpc, configure, server = plane
    configure(enforce(engine_with(READ_POLICY, WRITE_POLICY)))
    answer = rpc("writer-token", "tools/call", {"name": f"{TARGET}___write-cypher", "arguments": {"query": "CREATE (n)"}})
    assert answer["error"]["code"] == policy.DENIED_CODE and server.requests == []


def test_a_forbid_overrides_a_permit_and_log_only_does_not_enforce(plane):
    rpc, configure, server = plane
    forbid = f'forbid(principal, action == AgentCore::Action::"{TARGET}___write-cypher", resource == AgentCore::Gateway::"{GATEWAY_ARN}");'
    engine = engine_with(READ_POLICY, WRITE_POLICY, forbid)
    configure(enforce(engine))
    assert f"{TARGET}___write-cypher" not in all_tools(rpc, "writer-token")
    answer = rpc("writer-token", "tools/call", {"name": f"{TARGET}___write-cypher", "arguments": {"query": "CREATE (n)"}})
    assert answer["error"]["message"].startswith(policy.DENIED_MESSAGE + " [Policy evaluation denied due to determining policies: access_2-")
    configure({"arn": engine["policyEngineArn"], "mode": "LOG_ONLY"})
    assert f"{TARGET}___write-cypher" in all_tools(rpc, "reader-token")
    answer = rpc("reader-token", "tools/call", {"name": f"{TARGET}___write-cypher", "arguments": {"query": "CREATE (n)"}})
    assert answer["result"]["isError"] is False


def test_a_gateway_naming_a_missing_engine_fails_closed(plane):
    rpc, configure, server = plane
    configure({"arn": f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:policy-engine/gone-0123456789", "mode": "ENFORCE"})
    assert rpc("writer-token", "tools/list", {})["error"]["message"] == "Policy evaluation failed for list tools"
    answer = rpc("writer-token", "tools/call", {"name": f"{TARGET}___read-cypher", "arguments": {"query": "RETURN 1 AS n"}})
    assert answer["error"]["code"] == -32603 and server.requests == []


def test_a_gateway_role_without_the_policy_actions_fails_closed(plane):
    rpc, configure, server = plane
    configure(enforce(engine_with(READ_POLICY, WRITE_POLICY)))
    iam = boto3.client("iam", region_name=REGION)
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(policy.ROLE_ACTIONS[1:]), "Resource": "*"}]}
    iam.put_role_policy(RoleName="s-gateway", PolicyName="policy-engine", PolicyDocument=json.dumps(document))
    answer = rpc("writer-token", "tools/list", {})
    assert answer["error"] == {"code": -32603, "message": "Policy evaluation failed for list tools"}
    answer = rpc("writer-token", "tools/call", {"name": f"{TARGET}___read-cypher", "arguments": {"query": "RETURN 1 AS n"}})
    assert answer["error"]["code"] == -32603 and server.requests == []


def test_one_audit_line_per_tool_call_with_agent_outcome_and_an_argument_hash_never_a_value(plane):
    rpc, configure, server = plane
    configure(enforce(engine_with(READ_POLICY, WRITE_POLICY)))
    deliver_logs()
    all_tools(rpc, "reader-token")
    secret_text = "the-value-must-not-be-logged"
    rpc("reader-token", "tools/call", {"name": f"{TARGET}___write-cypher", "arguments": {"query": "CREATE (n {t: $t})", "params": {"t": secret_text}}})
    rpc("writer-token", "tools/call", {"name": f"{TARGET}___write-cypher", "arguments": {"query": "CREATE (n {t: $t})", "params": {"t": secret_text}}})
    rpc("reader-token", "tools/call", {"name": f"{TARGET}___read-cypher", "arguments": {"query": "CREATE (n)"}})  # isError
    lines = audit_lines()
    assert [(l["client_id"], l["tool"], l["outcome"]) for l in lines] == [
        ("client-reader", f"{TARGET}___write-cypher", "denied"),
        ("client-writer", f"{TARGET}___write-cypher", "allowed"),
        ("client-reader", f"{TARGET}___read-cypher", "error"),
    ]
    same = {"query": "CREATE (n {t: $t})", "params": {"t": secret_text}}
    assert lines[0]["arguments_sha256"] == lines[1]["arguments_sha256"] == audit.arguments_sha256(same)
    assert all(l["gateway_id"] == GATEWAY_ID and l["duration_ms"] >= 0 and l["time"].endswith("Z") for l in lines)
    assert lines[0]["policy"] == {"mode": "ENFORCE", "decision": "deny", "reason": policy.NO_DETERMINING}
    raw = json.dumps(lines)
    assert secret_text not in raw and "CREATE" not in raw and "token" not in raw


def test_no_audit_line_without_a_log_delivery(plane):
    rpc, configure, server = plane
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName=LOG_GROUP)
    rpc("writer-token", "tools/call", {"name": f"{TARGET}___read-cypher", "arguments": {"query": "RETURN 1 AS n"}})
    assert audit_lines() == []


def test_policies_are_validated_against_the_schema_unless_findings_are_ignored():
    with mock_aws():
        engine = control().create_policy_engine(name="s_neo4j_gw")
        assert engine["status"] == "CREATING"
        assert control().get_policy_engine(policyEngineId=engine["policyEngineId"])["status"] == "ACTIVE"
        with pytest.raises(ClientError, match="failed validation"):  # no gateway has shown the tool: unknown action
            control().create_policy(policyEngineId=engine["policyEngineId"], name="w", definition={"cedar": {"statement": WRITE_POLICY}})
        with pytest.raises(ClientError, match="not valid Cedar"):
            control().create_policy(
                policyEngineId=engine["policyEngineId"], name="w", definition={"cedar": {"statement": "permit(principal, action, resource) when {"}},
                validationMode="IGNORE_ALL_FINDINGS",
            )
        made = control().create_policy(
            policyEngineId=engine["policyEngineId"], name="w", definition={"cedar": {"statement": WRITE_POLICY}},
            validationMode="IGNORE_ALL_FINDINGS",
        )
        assert made["status"] == "CREATING" and made["policyId"].startswith("w-")
        with pytest.raises(ClientError) as e:
            control().delete_policy_engine(policyEngineId=engine["policyEngineId"])
        assert e.value.response["Error"]["Code"] == "ConflictException"
        control().delete_policy(policyEngineId=engine["policyEngineId"], policyId=made["policyId"])
        control().delete_policy_engine(policyEngineId=engine["policyEngineId"])
        with pytest.raises(ClientError) as e:
            control().get_policy_engine(policyEngineId=engine["policyEngineId"])
        assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_the_documented_schema_accepts_the_guides_policy_shapes():
    manifest = {"RefundTool": [{"name": "process_refund", "inputSchema": {
        "type": "object", "properties": {"amount": {"type": "integer"}, "orderId": {"type": "string"}}, "required": ["amount"]}}]}
    gw = "arn:aws:bedrock-agentcore:us-west-2:123456789012:gateway/refund-gateway"
    guide = f'''permit(principal is AgentCore::OAuthUser, action == AgentCore::Action::"RefundTool___process_refund",
      resource == AgentCore::Gateway::"{gw}") when {{ principal.hasTag("username") && principal.getTag("username") == "John"
      && context.input.amount < 500 }};'''
    group = f'permit(principal, action in AgentCore::Action::"RefundTool", resource == AgentCore::Gateway::"{gw}");'
    assert policy.validate(guide, manifest) == [] and policy.validate(group, manifest) == []
    assert policy.validate(guide.replace("amount < 500", "nope < 500"), manifest) != []
    john = {"sub": "u-1", "username": "John"}
    assert policy.authorize([("p", guide)], manifest, gw, john, "RefundTool___process_refund", {"amount": 450}).allowed
    assert not policy.authorize([("p", guide)], manifest, gw, john, "RefundTool___process_refund", {"amount": 600}).allowed
    assert policy.may_list([("p", guide)], gw, john, "RefundTool___process_refund")  # some amount would be permitted
    assert not policy.may_list([("p", guide)], gw, {"sub": "u-2", "username": "Ann"}, "RefundTool___process_refund")


def test_create_policy_validates_against_the_tools_the_engines_gateway_has_shown(monkeypatch):
    manifest = {TARGET: [{"name": "write-cypher", "inputSchema": {"type": "object", "properties": {"query": {"type": "string"}}}}]}
    with mock_aws():
        engine = control().create_policy_engine(name="s_neo4j_gw")
        gw = control().create_gateway(
            name="s-gateway", roleArn=ROLE_ARN, protocolType="MCP", authorizerType="NONE",
            policyEngineConfiguration={"arn": engine["policyEngineArn"], "mode": "ENFORCE"},
        )
        monkeypatch.setattr(policy, "MANIFEST_OF_GATEWAY", lambda gateway_id: manifest if gateway_id == gw["gatewayId"] else {})
        statement = WRITE_POLICY.replace(GATEWAY_ARN, gw["gatewayArn"])
        made = control().create_policy(policyEngineId=engine["policyEngineId"], name="w", definition={"cedar": {"statement": statement}})
        assert made["status"] == "CREATING"
        with pytest.raises(ClientError, match="failed validation"):
            control().create_policy(
                policyEngineId=engine["policyEngineId"], name="r", definition={"cedar": {"statement": READ_POLICY.replace(GATEWAY_ARN, gw["gatewayArn"])}}
            )
        with pytest.raises(ClientError) as e:  # named by a gateway
            control().delete_policy(policyEngineId=engine["policyEngineId"], policyId=made["policyId"])
            control().delete_policy_engine(policyEngineId=engine["policyEngineId"])
        assert e.value.response["Error"]["Code"] == "ConflictException"


def test_an_audit_delivery_to_a_missing_log_group_never_fails_the_call(plane):
    rpc, configure, server = plane
    deliver_logs()
    boto3.client("logs", region_name=REGION).delete_log_group(logGroupName=LOG_GROUP)
    answer = rpc("writer-token", "tools/call", {"name": f"{TARGET}___read-cypher", "arguments": {"query": "RETURN 1 AS n"}})
    assert answer["result"]["isError"] is False and json.loads(answer["result"]["content"][0]["text"]) == [{"n": 1}]


def test_a_create_repeated_with_its_client_token_answers_the_same_resource_and_makes_no_second():
    """SDK 1.61.0 `client_token`: "If you retry a request with the same client token, the service returns the same
    response without creating a duplicate"; the token with other parameters is refused."""
    with mock_aws():
        first = control().create_policy_engine(name="t_neo4j_gw", clientToken="token-engine-0000000000000000000000001")
        again = control().create_policy_engine(name="t_neo4j_gw", clientToken="token-engine-0000000000000000000000001")
        assert again["policyEngineId"] == first["policyEngineId"]
        assert len(control().list_policy_engines()["policyEngines"]) == 1
        with pytest.raises(ClientError) as e:
            control().create_policy_engine(name="t_neo4j_gw", description="other", clientToken="token-engine-0000000000000000000000001")
        assert e.value.response["Error"]["Code"] == "ConflictException"
        made = dict(policyEngineId=first["policyEngineId"], name="w", definition={"cedar": {"statement": WRITE_POLICY}},
                    validationMode="IGNORE_ALL_FINDINGS", clientToken="token-policy-0000000000000000000000001")
        p1, p2 = control().create_policy(**made), control().create_policy(**made)
        assert p1["policyId"] == p2["policyId"]
        assert len(control().list_policies(policyEngineId=first["policyEngineId"])["policies"]) == 1
        # Once the resource is gone its token makes a new one.
        control().delete_policy(policyEngineId=first["policyEngineId"], policyId=p1["policyId"])
        assert control().create_policy(**made)["policyId"] != p1["policyId"]
