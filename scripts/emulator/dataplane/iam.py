"""IAM on the data plane: every action a stand-in performs on behalf of one of the stack's roles is allowed or
denied by that role's policies as they are stored in the emulator at that moment, evaluated by moto's own IAM
policy evaluation (`moto.iam.access_control.IAMPolicy`, the code behind moto's request authorisation). A policy
changed out of band takes effect on the next request, as on AWS.

Where AWS acts for a role, so does the data plane:
- the gateway assumes its role (trust: `bedrock-agentcore.amazonaws.com`, with the trust policy's conditions on
  `aws:SourceAccount` and `aws:SourceArn`) and invokes the REQUEST interceptor with it (`lambda:InvokeFunction` on
  the function) — gateway.py;
- Lambda assumes the function's role (trust: `lambda.amazonaws.com`) and hands its credentials to the function:
  the function's own AWS calls (the interceptor's `secretsmanager:GetSecretValue`, whatever it reads) are signed
  with an STS session of the role, and moto authorises each such request against the role's policies
  ([`install`]: moto's request authorisation, switched on for these sessions only) — lambda_runtime.py;
- ECS assumes the task execution role (trust: `ecs-tasks.amazonaws.com`) to start a task: read each of the
  container's `secrets` (`secretsmanager:GetSecretValue`) and create its log stream and write it
  (`logs:CreateLogStream`, `logs:PutLogEvents`) — neo4j_mcp.py.

Denials read as AWS words them: `User: arn:aws:sts::<account>:assumed-role/<role>/<session> is not authorized to
perform: <action> on resource: <arn> because no identity-based policy allows the <action> action`.

What moto's evaluation does not cover, done here: trust policies name a *service* principal (moto checks `AWS`
principals only) and use `ArnLike`/`StringLike` conditions (moto evaluates `StringEquals` only); both are checked
in [`assume`]. KMS is not evaluated: the stack's secrets use the account's default `aws/secretsmanager` key, for
which AWS requires no key policy grant in the role.
"""

from __future__ import annotations

import fnmatch
import json
import re
import threading
from typing import Any
from urllib.parse import unquote

# Access keys of the STS sessions the data plane created for roles (Lambda functions): moto authorises every
# request signed with one of them against the role's policies.
_ROLE_SESSIONS: set[str] = set()
_lock = threading.Lock()
_KEY = re.compile(r"Credential=([^/]+)/")


class AccessDenied(Exception):
    """A role may not perform an action (or may not be assumed); the message is AWS's wording."""

    def __init__(self, message: str, action: str, role_arn: str):
        super().__init__(message)
        self.action = action
        self.role_arn = role_arn


def _parts(role_arn: str) -> tuple[str, str, str]:
    """(account, partition, role name) of `arn:<partition>:iam::<account>:role/<path/>name`."""
    fields = role_arn.split(":")
    if len(fields) < 6 or fields[2] != "iam" or not fields[5].startswith("role/"):
        raise AccessDenied(f"{role_arn} is not a role ARN", "sts:AssumeRole", role_arn)
    return fields[4], fields[1], fields[5].rsplit("/", 1)[-1]


def _role(role_arn: str) -> Any:
    from moto.iam.models import iam_backends

    account, partition, name = _parts(role_arn)
    try:
        return iam_backends[account][partition].get_role(name)
    except Exception:  # noqa: BLE001 - NoSuchEntity
        raise AccessDenied(f"The role {role_arn} does not exist", "sts:AssumeRole", role_arn) from None


def _document(doc: Any) -> dict[str, Any]:
    if isinstance(doc, dict):
        return doc
    text = unquote(doc) if isinstance(doc, str) and doc.startswith("%7B") else doc
    return json.loads(text)


def policies(role_arn: str) -> list[Any]:
    """The role's inline and attached policies, as moto's request authorisation collects them."""
    from moto.iam.models import iam_backends

    account, partition, name = _parts(role_arn)
    backend = iam_backends[account][partition]
    out: list[Any] = []
    for policy_name in backend.list_role_policies(name):
        _, document = backend.get_role_policy(name, policy_name)
        out.append(document if isinstance(document, str) else json.dumps(document))
    attached, _ = backend.list_attached_role_policies(name)
    out += list(attached)
    return out


def session_arn(role_arn: str, session: str) -> str:
    account, partition, name = _parts(role_arn)
    return f"arn:{partition}:sts::{account}:assumed-role/{name}/{session}"


def check(role_arn: str, action: str, resource: str, session: str = "dataplane") -> None:
    """Raises AccessDenied unless the role's identity policies allow `action` on `resource` (an explicit Deny
    wins), evaluated by moto's IAMPolicy."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    _role(role_arn)
    allowed = False
    for policy in policies(role_arn):
        result = IAMPolicy(policy).is_action_permitted(action, resource)
        if result == PermissionResult.DENIED:
            raise AccessDenied(
                f"User: {session_arn(role_arn, session)} is not authorized to perform: {action} on resource: "
                f"{resource} with an explicit deny in an identity-based policy",
                action,
                role_arn,
            )
        allowed = allowed or result == PermissionResult.PERMITTED
    if not allowed:
        raise AccessDenied(
            f"User: {session_arn(role_arn, session)} is not authorized to perform: {action} on resource: {resource} "
            f"because no identity-based policy allows the {action} action",
            action,
            role_arn,
        )


def _condition_holds(operator: str, expected: dict[str, Any], context: dict[str, str]) -> bool:
    """One condition block of a trust policy, for the operators a service trust uses."""
    from moto.iam.access_control import IAMPolicyStatement

    if operator in ("StringEquals",):  # moto's own evaluation
        return IAMPolicyStatement({"Condition": {operator: expected}})._check_conditions(context) and all(
            key in context for key in expected
        )
    like = operator in ("ArnLike", "StringLike")
    equals = operator in ("ArnEquals",)
    if not (like or equals):
        return False  # an operator this stand-in does not know: the stricter reading
    for key, values in expected.items():
        actual = context.get(key)
        if actual is None:
            return False
        values = values if isinstance(values, list) else [values]
        if not any(fnmatch.fnmatchcase(actual, v) if like else actual == v for v in values):
            return False
    return True


def assume(role_arn: str, service: str, context: dict[str, str] | None = None) -> None:
    """Raises AccessDenied unless the role's trust policy lets `service` assume it under `context` (the keys a
    service sets, e.g. aws:SourceAccount, aws:SourceArn)."""
    role = _role(role_arn)
    trust = _document(role.assume_role_policy_document)
    statements = trust.get("Statement") or []
    statements = statements if isinstance(statements, list) else [statements]
    context = context or {}
    allowed = False
    for statement in statements:
        actions = statement.get("Action") or []
        actions = actions if isinstance(actions, list) else [actions]
        if not any(fnmatch.fnmatchcase("sts:AssumeRole", a) for a in actions):
            continue
        principals = (statement.get("Principal") or {}).get("Service") if isinstance(statement.get("Principal"), dict) else None
        principals = principals if isinstance(principals, list) else [principals]
        if service not in principals:
            continue
        conditions = statement.get("Condition") or {}
        holds = all(_condition_holds(op, expected, context) for op, expected in conditions.items())
        if statement.get("Effect") == "Deny" and holds:
            allowed = False
            break
        allowed = allowed or (statement.get("Effect") == "Allow" and holds)
    if not allowed:
        raise AccessDenied(
            f"{service} is not authorized to perform: sts:AssumeRole on resource: {role_arn} (its trust policy)",
            "sts:AssumeRole",
            role_arn,
        )


def role_session(role_arn: str, service: str, session: str, region: str) -> dict[str, str]:
    """Credentials of an STS session of the role, as `service` gets them (its trust is checked), from moto's STS.
    Every request signed with them is authorised by moto against the role's policies."""
    from moto.sts.models import sts_backends

    assume(role_arn, service)
    account, partition, _ = _parts(role_arn)
    assumed = sts_backends[account][partition].assume_role(
        region_name=region,
        role_session_name=session,
        role_arn=role_arn,
        policy=None,  # type: ignore[arg-type]
        duration=43200,
        external_id=None,  # type: ignore[arg-type]
    )
    with _lock:
        _ROLE_SESSIONS.add(assumed.access_key_id)
    return {
        "AWS_ACCESS_KEY_ID": assumed.access_key_id,
        "AWS_SECRET_ACCESS_KEY": assumed.secret_access_key,
        "AWS_SESSION_TOKEN": assumed.session_token,
    }


def install() -> None:
    """Switches moto's own request authorisation on for requests signed with a role session of [`role_session`]
    (everything else stays unauthenticated, as the emulator runs), and lets Secrets Manager name the secret a
    request is about (moto authorises its actions on `*`), so that a policy scoped to a secret's ARN is honoured."""
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.secretsmanager.responses import SecretsManagerResponse

    if getattr(ActionAuthenticatorMixin, "_neo4j_gw_role_sessions", False):
        return
    original = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        m = _KEY.search(self.headers.get("Authorization") or "")
        with _lock:
            ours = bool(m) and m.group(1) in _ROLE_SESSIONS
        if not ours:
            return original(self, iam_request_cls, resource)
        parsed = self.uri.split("?", 1)
        path = self.raw_path + ("?" + parsed[1] if len(parsed) > 1 else "")
        request = iam_request_cls(
            account_id=self.current_account,
            method=self.method,
            path=path,
            data=self.data,
            body=self.raw_body,
            headers=self.headers,
            action=self._get_action(),
        )
        request.check_action_permitted(resource)

    def determine_resource(self: Any) -> str:
        try:
            secret_id = json.loads(self.body or "{}").get("SecretId")
        except ValueError:
            return "*"
        if not secret_id:
            return "*"
        try:
            return self.backend.describe_secret(secret_id).arn
        except Exception:  # noqa: BLE001 - not found: the ARN asked for, or a name's ARN pattern
            if str(secret_id).startswith("arn:"):
                return str(secret_id)
            return f"arn:aws:secretsmanager:{self.region}:{self.current_account}:secret:{secret_id}"

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize  # type: ignore[method-assign]
    SecretsManagerResponse._determine_resource = determine_resource  # type: ignore[attr-defined]
    ActionAuthenticatorMixin._neo4j_gw_role_sessions = True  # type: ignore[attr-defined]
