//! Helpers shared by the EC2 resource kinds: tags, tag filters, lookups and the `DependencyViolation`
//! retry used when deleting network resources.

use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

use crate::error::{self, Error, Result};
use crate::resources::{Cx, TAG_RESOURCE, TAG_STACK};

pub fn tag_spec(cx: &Cx, resource_type: ResourceType, name: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource_type)
        .set_tags(Some(
            cx.tags(name)
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .build()
}

/// Filters matching this node's resource of this stack.
pub fn our_filters(cx: &Cx) -> Vec<Filter> {
    vec![
        Filter::builder()
            .name(format!("tag:{TAG_STACK}"))
            .values(cx.stack())
            .build(),
        Filter::builder()
            .name(format!("tag:{TAG_RESOURCE}"))
            .values(cx.node)
            .build(),
    ]
}

/// The filter matching every resource of this stack (all nodes): what one batched describe asks for.
pub fn stack_filter(cx: &Cx) -> Filter {
    filter(&format!("tag:{TAG_STACK}"), cx.stack())
}

/// What one describe of every resource of the stack (of one kind) says about this node's: `Some(Some(item))` the
/// one with the recorded ID, or — without one — the one tagged as this node's; `Some(None)` none (when the node
/// has no recorded ID: a search by tags would find none either); `None` when the answer cannot tell (a recorded
/// ID not among the stack's resources may still exist untagged, or several carry this node's tags): then the
/// node asks on its own.
pub fn pick<T: Clone>(
    cx: &Cx,
    items: &[T],
    recorded_id: Option<&str>,
    id_of: impl Fn(&T) -> Option<&str>,
    tags_of: impl Fn(&T) -> &[Tag],
) -> Option<Option<T>> {
    if let Some(id) = recorded_id {
        return items
            .iter()
            .find(|i| id_of(i) == Some(id))
            .cloned()
            .map(Some);
    }
    let mine: Vec<&T> = items
        .iter()
        .filter(|i| cx.is_ours(tag_pairs(tags_of(i))))
        .collect();
    match mine.as_slice() {
        [] => Some(None),
        [one] => Some(Some((*one).clone())),
        _ => None,
    }
}

/// Splits the copies of this node's resource (every one carrying its tags) into the one to keep and the
/// duplicates. Kept: the recorded one; without a record, the first that `prefer` accepts (e.g. the one in the
/// stack's VPC), else the first by ID — EC2 reports no creation time for VPCs, subnets, internet gateways or
/// route tables, and the smallest ID is a rule every run applies alike. A recorded ID not among them gives no
/// kept copy: the caller looks it up by ID (it may exist without the tags), then keeps [`first_kept`].
pub fn copies<T>(
    mut tagged: Vec<T>,
    recorded: Option<&str>,
    id_of: impl Fn(&T) -> Option<&str>,
    prefer: impl Fn(&T) -> bool,
) -> (Option<T>, Vec<T>) {
    tagged.sort_by(|a, b| {
        (!prefer(a), id_of(a).unwrap_or("")).cmp(&(!prefer(b), id_of(b).unwrap_or("")))
    });
    match recorded {
        Some(id) => match tagged.iter().position(|t| id_of(t) == Some(id)) {
            Some(i) => {
                let kept = tagged.remove(i);
                (Some(kept), tagged)
            }
            None => (None, tagged),
        },
        None => first_kept(tagged),
    }
}

/// The first of `copies` kept, the others duplicates.
pub fn first_kept<T>(mut copies: Vec<T>) -> (Option<T>, Vec<T>) {
    if copies.is_empty() {
        return (None, copies);
    }
    let kept = copies.remove(0);
    (Some(kept), copies)
}

pub fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

pub fn tag_pairs(tags: &[Tag]) -> impl Iterator<Item = (&str, &str)> {
    tags.iter()
        .map(|t| (t.key().unwrap_or(""), t.value().unwrap_or("")))
}

/// True for the EC2 "does not exist" error codes (`InvalidVpcID.NotFound`, `InvalidSubnetID.NotFound`, …).
pub fn is_not_found(code: Option<&str>) -> bool {
    code.is_some_and(|c| {
        c.ends_with(".NotFound") || c.ends_with("NotFound") || c == "InvalidGroup.NotFound"
    })
}

/// At most one match, or an error naming the duplicates.
pub fn single<T>(cx: &Cx, mut found: Vec<T>, id_of: impl Fn(&T) -> String) -> Result<Option<T>> {
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(Error::Conflict(format!(
            "{}: {} resources carry this stack's tags ({}); delete the extra ones, then re-run",
            cx.node,
            found.len(),
            found.iter().map(id_of).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Deletes a network resource, retrying `DependencyViolation` (ENIs of deleted load balancers and tasks take
/// a while to go away) with a visible timer; when it gives up, names the blocking network interfaces.
pub async fn delete_with_dependency_retry<F, Fut, E>(
    cx: &Cx,
    what: &str,
    eni_filter: Filter,
    mut attempt: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<(), aws_sdk_ec2::error::SdkError<E>>>,
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let start = Instant::now();
    let timeout = cx.settings().wait_timeout;
    loop {
        let err = match attempt().await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let code = error::code_of(&err).map(str::to_owned);
        if is_not_found(code.as_deref()) {
            return Ok(());
        }
        if code.as_deref() != Some("DependencyViolation") {
            return Err(error::aws(cx.node, what, err));
        }
        if start.elapsed() >= timeout {
            let blockers = blocking_enis(cx, eni_filter).await;
            return Err(Error::Wait(format!(
                "{}: {what} still fails with DependencyViolation after {}s; blocking network interfaces: {blockers}. Delete those (or what owns them), then re-run `neo4j-gw down`",
                cx.node,
                start.elapsed().as_secs()
            )));
        }
        cx.say(format!(
            "{what}: waiting for dependent network interfaces to go"
        ));
        cx.shared
            .cancel
            .sleep(Duration::from_secs(if cx.emulated() { 1 } else { 2 }))
            .await?;
    }
}

async fn blocking_enis(cx: &Cx, f: Filter) -> String {
    match cx
        .aws()
        .ec2
        .describe_network_interfaces()
        .filters(f)
        .send()
        .await
    {
        Ok(out) if !out.network_interfaces().is_empty() => out
            .network_interfaces()
            .iter()
            .map(|n| {
                format!(
                    "{} ({}; requester {}; type {})",
                    n.network_interface_id().unwrap_or("?"),
                    n.description().unwrap_or("no description"),
                    n.requester_id().unwrap_or("-"),
                    n.interface_type().map(|t| t.as_str()).unwrap_or("-")
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        Ok(_) => "none found (the dependency may be a route, peering or endpoint)".into(),
        Err(e) => format!(
            "unknown ({})",
            error::aws(cx.node, "DescribeNetworkInterfaces", e)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::copies;

    fn id<'a>(s: &'a &'static str) -> Option<&'a str> {
        Some(s)
    }

    #[test]
    fn the_recorded_copy_is_kept_else_the_preferred_else_the_smallest_id() {
        let found = vec!["vpc-c", "vpc-a", "vpc-b"];
        assert_eq!(
            copies(found.clone(), Some("vpc-c"), id, |_| false),
            (Some("vpc-c"), vec!["vpc-a", "vpc-b"])
        );
        assert_eq!(
            copies(found.clone(), None, id, |_| false),
            (Some("vpc-a"), vec!["vpc-b", "vpc-c"])
        );
        assert_eq!(
            copies(found.clone(), None, id, |v| *v == "vpc-b"),
            (Some("vpc-b"), vec!["vpc-a", "vpc-c"])
        );
        // A recorded ID not among the tagged copies: the caller looks it up by ID.
        assert_eq!(
            copies(found, Some("vpc-z"), id, |_| false),
            (None, vec!["vpc-a", "vpc-b", "vpc-c"])
        );
    }
}
