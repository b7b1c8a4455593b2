//! Helpers shared by the Elastic Load Balancing (v2) resource kinds: tags and the "not found" codes.

use aws_sdk_elasticloadbalancingv2::types::{Tag, TargetHealthDescription};

use crate::error::Result;
use crate::resources::AwsResult;
use crate::resources::Cx;

/// The stack's tags for a create call.
pub fn tags(cx: &Cx, name: &str) -> Vec<Tag> {
    cx.tags(name)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

type TagMap = std::collections::BTreeMap<String, Vec<(String, String)>>;

fn pairs(d: &aws_sdk_elasticloadbalancingv2::types::TagDescription) -> Vec<(String, String)> {
    d.tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_owned(),
                t.value().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The tags of a load balancer, target group, listener or rule.
pub async fn tags_of(cx: &Cx, arn: &str) -> Result<Vec<(String, String)>> {
    // While every node is observed: one DescribeTags for every load-balancing ARN the run knows (it takes up to
    // 20). A call naming an ARN that is gone fails as a whole; each node then asks on its own.
    if let Some(all) = cx
        .batched("elb:DescribeTags", || async {
            // DescribeTags takes up to 20 ARNs (ELBv2 API reference).
            describe_tags(
                cx,
                cx.known_values(|v| v.contains(":elasticloadbalancing:"), 20),
            )
            .await
        })
        .await
        && let Some(tags) = all.get(arn)
    {
        return Ok(tags.clone());
    }
    let mut one = describe_tags(cx, vec![arn.to_owned()]).await?;
    Ok(one.remove(arn).unwrap_or_default())
}

/// The tags of each of `arns`, by ARN.
async fn describe_tags(cx: &Cx, arns: Vec<String>) -> Result<TagMap> {
    let out = cx
        .aws()
        .elb
        .describe_tags()
        .set_resource_arns(Some(arns))
        .send()
        .await
        .aws(cx, "DescribeTags")?;
    Ok(out
        .tag_descriptions()
        .iter()
        .filter_map(|d| Some((d.resource_arn()?.to_owned(), pairs(d))))
        .collect())
}

/// The health of the target group's targets. While every node is observed, one DescribeTargetHealth answers it for
/// both nodes that show it (the target group and the service).
pub async fn target_health(cx: &Cx, arn: &str) -> Result<Vec<TargetHealthDescription>> {
    let describe = || async {
        let out = cx
            .aws()
            .elb
            .describe_target_health()
            .target_group_arn(arn)
            .send()
            .await
            .aws(cx, "DescribeTargetHealth")?;
        Ok(out.target_health_descriptions().to_vec())
    };
    if let Some(answer) = cx
        .batched("elb:DescribeTargetHealth", || async {
            Ok((arn.to_owned(), describe().await?))
        })
        .await
        && answer.0 == arn
    {
        return Ok(answer.1.clone());
    }
    describe().await
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
