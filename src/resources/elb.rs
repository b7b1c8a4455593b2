//! Helpers shared by the Elastic Load Balancing (v2) resource kinds: tags and the "not found" codes.

use aws_sdk_elasticloadbalancingv2::types::Tag;

use super::Cx;
use crate::error::{self, Result};

/// The stack's tags for a create call.
pub fn tags(cx: &Cx, name: &str) -> Vec<Tag> {
    cx.tags(name)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The tags of a load balancer, target group or listener.
pub async fn tags_of(cx: &Cx, arn: &str) -> Result<Vec<(String, String)>> {
    let out = cx
        .aws()
        .elb
        .describe_tags()
        .resource_arns(arn)
        .send()
        .await
        .map_err(|e| error::aws(cx.node, "DescribeTags", e))?;
    Ok(out
        .tag_descriptions()
        .iter()
        .filter(|d| d.resource_arn() == Some(arn))
        .flat_map(|d| d.tags())
        .map(|t| {
            (
                t.key().unwrap_or_default().to_owned(),
                t.value().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}

/// True when the tags mark the resource as this node's resource of this stack.
pub fn is_ours(cx: &Cx, tags: &[(String, String)]) -> bool {
    cx.is_ours(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// True for the ELBv2 "does not exist" error codes.
pub fn is_not_found(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("TargetGroupNotFound" | "LoadBalancerNotFound" | "ListenerNotFound" | "RuleNotFound")
    )
}
