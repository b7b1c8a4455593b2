"""IAM: AWS managed policies.

Patches (numbered as in docs/emulator.md, which says what each restores):

  #19  patch_iam_aws_managed_policies
"""

from __future__ import annotations

import json
from typing import Any, Callable

from .helpers import wrap


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
