//! CloudWatch log groups with the configured retention (the CDK sample kept logs forever).

use async_trait::async_trait;

use super::{Cx, Drift, Live, Observation, Resource, ids};
use crate::error::{self, Result};
use crate::resources::AwsResult;
use crate::resources::Output;
use crate::state::Ids;

pub const CONTAINER_LOGS_NODE: &str = "log-group";
pub const CONTAINER_LOGS_NAME: Output = Output::new(CONTAINER_LOGS_NODE, "name");
pub const CONTAINER_LOGS_ARN: Output = Output::new(CONTAINER_LOGS_NODE, "arn");

/// `arn:<partition>:logs:<region>:<account>:log-group:<name>`, the form without the trailing `:*` (CloudWatch
/// Logs API reference, LogGroup.logGroupArn; docs/aws-behaviour.md, point 6).
pub fn log_group_arn(region: &str, account: &str, name: &str) -> String {
    format!(
        "arn:{}:logs:{region}:{account}:log-group:{name}",
        super::partition(region)
    )
}

pub struct LogGroupResource {
    pub node: &'static str,
    pub deps: &'static [&'static str],
    /// The log group's name, derived from the stack.
    pub name: fn(&Cx) -> String,
}

/// The ECS container logs.
pub const CONTAINER_LOGS: LogGroupResource = LogGroupResource {
    node: CONTAINER_LOGS_NODE,
    deps: &[],
    name: |cx| format!("/neo4j-gw/{}/mcp", cx.stack()),
};

pub const GATEWAY_LOGS_NODE: &str = "gateway-log-group";
pub const GATEWAY_LOGS_NAME: Output = Output::new(GATEWAY_LOGS_NODE, "name");
pub const GATEWAY_LOGS_ARN: Output = Output::new(GATEWAY_LOGS_NODE, "arn");

/// The log group of the gateway's audit lines (issue 20) for the stack `stack`: where its log delivery
/// (`gateway_log_delivery`) sends the gateway's `APPLICATION_LOGS`, and what `logs --audit` reads.
///
/// AWS's default for a gateway is `/aws/vendedlogs/bedrock-agentcore/gateway/APPLICATION_LOGS/<gateway id>`, but the
/// ID exists only once the gateway does, and a delivery destination may name any group. The stack's gateway *name*
/// (`<stack>-gw`) takes the ID's place: the name is known before anything exists (so `status` and `logs --audit`
/// need no state), and the group outlives a replacement of the gateway. The `/aws/vendedlogs/` prefix is kept:
/// CloudWatch Logs documents it for vended logs, whose delivery then needs no resource policy per group.
pub fn audit_log_group(stack: &str) -> String {
    format!("/aws/vendedlogs/bedrock-agentcore/gateway/APPLICATION_LOGS/{stack}-gw")
}

/// The gateway's audit log group (see [`audit_log_group`]).
pub const GATEWAY_LOGS: LogGroupResource = LogGroupResource {
    node: GATEWAY_LOGS_NODE,
    deps: &[],
    name: |cx| audit_log_group(cx.stack()),
};

impl LogGroupResource {
    async fn find(
        &self,
        cx: &Cx,
        name: &str,
    ) -> Result<Option<aws_sdk_cloudwatchlogs::types::LogGroup>> {
        let out = cx
            .aws()
            .logs
            .describe_log_groups()
            .log_group_name_prefix(name)
            .send()
            .await
            .aws(cx, "DescribeLogGroups")?;
        Ok(out
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(name))
            .cloned())
    }

    async fn set_retention(&self, cx: &Cx, name: &str) -> Result<()> {
        cx.aws()
            .logs
            .put_retention_policy()
            .log_group_name(name)
            .retention_in_days(cx.settings().log_retention_days)
            .send()
            .await
            .aws(cx, "PutRetentionPolicy")?;
        Ok(())
    }
}

#[async_trait]
impl Resource for LogGroupResource {
    fn id(&self) -> &'static str {
        self.node
    }
    fn kind(&self) -> &'static str {
        "logs:log-group"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        self.deps
    }

    async fn observe(&self, cx: &Cx, _recorded: Option<&Ids>) -> Result<Observation> {
        let name = (self.name)(cx);
        // The group and its tags at once: one round trip instead of two (a missing group's tag error is moot).
        #[allow(deprecated)]
        let read_tags = || {
            cx.aws()
                .logs
                .list_tags_log_group()
                .log_group_name(&name)
                .send()
        };
        let (group, tags) = tokio::join!(self.find(cx, &name), async {
            if cx.expect_gone {
                None
            } else {
                Some(read_tags().await)
            }
        });
        let Some(group) = group? else {
            return Ok(Observation::Missing);
        };
        let tags = match tags {
            Some(t) => t,
            None => read_tags().await,
        }
        .aws(cx, "ListTagsLogGroup")?;
        let tag_map = tags.tags().cloned().unwrap_or_default();
        if !cx.is_ours(tag_map.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            return Ok(Observation::Foreign(format!(
                "log group {name} is not tagged as this stack's"
            )));
        }
        let mut drift = Vec::new();
        let want = cx.settings().log_retention_days;
        match group.retention_in_days() {
            Some(d) if d == want => {}
            Some(d) => drift.push(Drift::new("retention_in_days", want, d)),
            None => drift.push(Drift::new("retention_in_days", want, "never expire")),
        }
        let arn = log_group_arn(&cx.shared.region, &cx.shared.account, &name);
        Ok(Observation::Present(
            Live::new(ids([("name", name), ("arn", arn)])).with_drift(drift),
        ))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let name = (self.name)(cx);
        let result = cx
            .aws()
            .logs
            .create_log_group()
            .log_group_name(&name)
            .set_tags(Some(cx.tags(&name).into_iter().collect()))
            .send()
            .await;
        if let Err(e) = result {
            return Err(error::aws(cx.node, "CreateLogGroup", e));
        }
        self.set_retention(cx, &name).await?;
        // Built, not read back: a describe right after the create may not list the new group yet.
        let arn = log_group_arn(&cx.shared.region, &cx.shared.account, &name);
        Ok(ids([("name", name), ("arn", arn)]))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        self.set_retention(cx, live.id("name")?).await?;
        Ok(live.ids.clone())
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        cx.aws()
            .logs
            .delete_log_group()
            .log_group_name(live.id("name")?)
            .send()
            .await
            .or_gone(cx, "DeleteLogGroup", |e| {
                e.is_resource_not_found_exception()
            })
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_group_is_named_after_the_stacks_gateway() {
        // `<stack>-gw` is the gateway's name (`gateway::gateway_name`); `logs --audit` imports this function.
        assert_eq!(
            audit_log_group("neo4j-gw"),
            "/aws/vendedlogs/bedrock-agentcore/gateway/APPLICATION_LOGS/neo4j-gw-gw"
        );
        assert_eq!(
            log_group_arn("us-east-1", "123456789012", &audit_log_group("s")),
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/bedrock-agentcore/gateway/APPLICATION_LOGS/s-gw"
        );
    }
}
