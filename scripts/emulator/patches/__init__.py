"""moto, patched in this process where it differs from AWS for neo4j-gw's calls: one module per AWS service,
each patch one function whose docstring says what AWS does and what moto does instead. moto's files are untouched.
docs/emulator.md lists the patches by number (each module's docstring names its numbers) with the probes.

`apply_patches` installs them all, in a fixed order: wraps of one method stack in call order.
"""

from __future__ import annotations

from . import acm, agentcore, all_services, cognito, ec2, ecs, elbv2, iam, logs, route53, secretsmanager


def apply_patches(ecs_agent: bool, agentcore_delay_seconds: float) -> None:
    all_services.patch_not_implemented_as_501()  # #1
    agentcore.patch_agentcore_update_transitions()  # #2
    agentcore.patch_agentcore_update_exception_level()  # #26
    agentcore.patch_agentcore_gateway_ids()  # #3
    agentcore.patch_agentcore_create_idempotency()  # #4
    agentcore.patch_agentcore_delete_rules(agentcore_delay_seconds)  # #5
    agentcore.set_agentcore_delay(agentcore_delay_seconds)  # #6
    ecs.patch_ecs_create_service_fields()  # #8
    ecs.patch_ecs_create_service_validation()  # #9
    ecs.patch_ecs_create_service_idempotency()  # #9b
    ecs.patch_ecs_service_linked_role()  # #24
    ecs.patch_ecs_agent(ecs_agent)  # #10
    ecs.patch_ecs_list_tasks()  # #11
    ecs.patch_ecs_describe_task_definition_family()  # #25
    ecs.patch_ecs_list_services()  # #12
    ecs.patch_ecs_delete_cluster()  # #13
    ec2.patch_ec2_source_group_rule_equality()  # #14
    ec2.patch_ec2_eni_private_dns_name()  # #14b
    elbv2.patch_elbv2_duplicate_load_balancer()  # #15
    elbv2.patch_elbv2_duplicate_listener()  # #15b
    elbv2.patch_elbv2_dns_names()  # #15c
    route53.patch_route53_change_validation()  # #16
    secretsmanager.patch_secretsmanager_put_on_deleted()  # #17
    secretsmanager.patch_secretsmanager_version_stage_current()  # #27
    acm.patch_acm_dns_validation()  # #23
    logs.patch_logs_retention_values()  # #18
    iam.patch_iam_aws_managed_policies()  # #19
    cognito.patch_cognito_domain_rules()  # #20
    cognito.patch_cognito_client_scopes()  # #21
    cognito.add_cognito_missing_actions()  # #22
    cognito.patch_cognito_client_dates()  # #30
    cognito.add_cognito_update_resource_server()  # #31
    agentcore.add_agentcore_synchronize_gateway_targets()  # #7
    agentcore.add_agentcore_api_key_credential_providers()  # #28
    agentcore.add_agentcore_policy_and_gateway_logs()  # #29
