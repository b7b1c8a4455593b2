//! The two IAM roles of the ECS task, both trusted by `ecs-tasks.amazonaws.com`:
//! - `task-execution-role` (`<stack>-task-exec`), used by ECS itself to start the task: it may write to the
//!   container log group (`logs:CreateLogStream`, `logs:PutLogEvents` on `<log group arn>:*`) and read the one
//!   secret (`secretsmanager:GetSecretValue` on its ARN) for the container's ECS secrets — nothing wider. The
//!   default image comes from Docker Hub, which needs no permissions; only when `--image` names a private ECR
//!   repository (`<account>.dkr.ecr.<region>.amazonaws.com/<repo>…`) are the ECR pull permissions added, scoped to
//!   that repository (`ecr:GetAuthorizationToken` has no resource-level permissions, so it is on `*`).
//!   Its trust policy has no conditions: AWS documents the confused-deputy conditions for task roles, and a
//!   condition ECS does not satisfy when it assumes the execution role would stop every task from starting.
//! - `task-role` (`<stack>-task`), the identity of the MCP server's process: no permissions at all (the server
//!   talks only to Neo4j). Its trust policy requires `aws:SourceAccount` = the stack's account.

use serde_json::{Value, json};

use crate::error::Result;
use crate::resources::Cx;
use crate::resources::iam_role::{RoleResource, service_trust};
use crate::resources::{Output, log_group, secret};

pub const EXECUTION_ROLE_NODE: &str = "task-execution-role";
pub const TASK_ROLE_NODE: &str = "task-role";
pub const EXECUTION_ROLE_ARN: Output = Output::new(EXECUTION_ROLE_NODE, "arn");
pub const TASK_ROLE_ARN: Output = Output::new(TASK_ROLE_NODE, "arn");

const ECS_TASKS: &str = "ecs-tasks.amazonaws.com";

pub const TASK_EXECUTION_ROLE: RoleResource = RoleResource {
    node: EXECUTION_ROLE_NODE,
    suffix: "task-exec",
    description: "neo4j-gw: ECS task execution (container logs, the Neo4j secret)",
    deps: &[log_group::CONTAINER_LOGS_NODE, secret::NODE],
    trust: |_| Ok(service_trust(ECS_TASKS, None)),
    policy: execution_policy,
};

pub const TASK_ROLE: RoleResource = RoleResource {
    node: TASK_ROLE_NODE,
    suffix: "task",
    description: "neo4j-gw: the Neo4j MCP server's task role (no permissions)",
    deps: &[],
    trust: |cx| {
        Ok(service_trust(
            ECS_TASKS,
            Some(json!({"StringEquals": {"aws:SourceAccount": cx.shared.account}})),
        ))
    },
    policy: |_| Ok(None),
};

fn execution_policy(cx: &Cx) -> Result<Option<Value>> {
    let log_group = cx.dep(log_group::CONTAINER_LOGS_ARN)?;
    let secret = cx.dep(secret::ARN)?;
    Ok(Some(policy_document(
        &log_group,
        &secret,
        ecr_repository(&cx.settings().image),
    )))
}

fn policy_document(log_group_arn: &str, secret_arn: &str, ecr: Option<EcrRepository>) -> Value {
    let mut statements = vec![
        json!({
            "Sid": "ContainerLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": format!("{}:*", log_group_arn.trim_end_matches(":*")),
        }),
        json!({
            "Sid": "Neo4jSecret",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": secret_arn,
        }),
    ];
    if let Some(repo) = ecr {
        statements.push(json!({
            "Sid": "EcrAuth",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*",
        }));
        statements.push(json!({
            "Sid": "EcrPull",
            "Effect": "Allow",
            "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
            "Resource": format!(
                "arn:{}:ecr:{}:{}:repository/{}",
                repo.partition, repo.region, repo.account, repo.name
            ),
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

#[derive(Debug, PartialEq, Eq)]
struct EcrRepository {
    partition: &'static str,
    account: String,
    region: String,
    name: String,
}

/// The private ECR repository an image reference points at, if any:
/// `<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repo>[:tag|@digest]`.
fn ecr_repository(image: &str) -> Option<EcrRepository> {
    let (host, path) = image.split_once('/')?;
    let (partition, host) = match host.strip_suffix(".amazonaws.com.cn") {
        Some(h) => ("aws-cn", h),
        None => ("aws", host.strip_suffix(".amazonaws.com")?),
    };
    let mut parts = host.split('.');
    let (account, dkr, ecr, region) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let account_ok = account.len() == 12 && account.chars().all(|c| c.is_ascii_digit());
    if !account_ok || dkr != "dkr" || !ecr.starts_with("ecr") || parts.next().is_some() {
        return None;
    }
    let name = path.split('@').next()?;
    // A tag follows the last ':' of the last path segment.
    let name = match name.rsplit_once(':') {
        Some((n, tag)) if !tag.contains('/') => n,
        _ => name,
    };
    Some(EcrRepository {
        partition,
        account: account.to_owned(),
        region: region.to_owned(),
        name: name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_images_need_no_ecr() {
        assert_eq!(ecr_repository("mcp/neo4j:latest"), None);
        assert_eq!(ecr_repository("docker.io/mcp/neo4j:1.5.3"), None);
        let doc = policy_document("arn:aws:logs:us-east-1:1:log-group:/g:*", "arn:s", None);
        let text = doc.to_string();
        assert!(!text.contains("ecr:"), "{text}");
        assert!(
            text.contains("arn:aws:logs:us-east-1:1:log-group:/g:*"),
            "{text}"
        );
        assert!(!text.contains(":*:*"), "{text}");
        assert!(!text.contains("\"Resource\":\"*\""), "nothing on *: {text}");
    }

    #[test]
    fn ecr_images_get_scoped_pull_permissions() {
        let repo = ecr_repository("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/neo4j-mcp:v1")
            .unwrap();
        assert_eq!(repo.name, "team/neo4j-mcp");
        assert_eq!(repo.region, "eu-west-1");
        let digest =
            ecr_repository("123456789012.dkr.ecr.eu-west-1.amazonaws.com/mcp@sha256:abc").unwrap();
        assert_eq!(digest.name, "mcp");
        let doc = policy_document("arn:g", "arn:s", Some(repo)).to_string();
        assert!(
            doc.contains("arn:aws:ecr:eu-west-1:123456789012:repository/team/neo4j-mcp"),
            "{doc}"
        );
    }
}
