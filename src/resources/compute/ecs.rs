//! Helpers shared by the ECS resources (cluster, task definition, service).

use aws_sdk_ecs::types::Tag;

use crate::resources::Cx;

/// The stack's tags in ECS's shape.
pub fn tags(cx: &Cx, name: &str) -> Vec<Tag> {
    cx.tags(name)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// True when ECS tags mark the resource as this node's of this stack.
pub fn is_ours(cx: &Cx, tags: &[Tag]) -> bool {
    cx.is_ours(
        tags.iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
    )
}

/// ECS "not found" codes (a missing cluster makes every call about it fail with ClusterNotFoundException).
pub fn is_not_found(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("ClusterNotFoundException" | "ServiceNotFoundException" | "ServiceNotActiveException")
    )
}
