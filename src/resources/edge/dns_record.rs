//! The alias A record `<subdomain>.<domain_name>` → the load balancer, in the public hosted zone.
//!
//! Route53 records carry no tags, so ownership is decided by content: a record counts as this stack's when it is
//! recorded in the state, or when it aliases this stack's load balancer. A record of that name pointing elsewhere
//! that the state does not know is foreign and is never overwritten or deleted.
//!
//! Moving the name (a changed subdomain or domain) is done in place, make-before-break: `observe` reports the
//! recorded old name as drift of `fqdn`, and `update` first UPSERTs the new record and waits until it is INSYNC,
//! then deletes the old one (with its exact current values) and waits again. So the service stays reachable under
//! the old name until the new one serves, and a run interrupted in between leaves both records known: the state
//! still holds the old name, and the next `observe` finds both (the old one reported as `previous_*`), finishing the
//! move. Nothing here ever resolves or contacts the name.

use async_trait::async_trait;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecordSet, RrType,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::{self, Error, Result};
use crate::resources::Output;
use crate::resources::hosted_zone::{self, bare_zone_id, normalize_name};
use crate::resources::load_balancer;
use crate::resources::{AwsResult, Cx, Drift, Health, Live, Observation, Resource, ids};
use crate::state::Ids;
use crate::wait::{self, Poll};

pub const FQDN: Output = Output::new(NODE, "fqdn");

pub struct DnsRecordResource;

/// A record's place: (fqdn, hosted zone ID).
type Place = (String, String);

fn same_place(a: &Place, b: &Place) -> bool {
    normalize_name(&a.0) == normalize_name(&b.0) && bare_zone_id(&a.1) == bare_zone_id(&b.1)
}

/// The load balancer an alias should point to: (dns_name, canonical_hosted_zone_id).
type Target = (String, String);

/// This stack's load balancer as an alias target, if it exists.
async fn stack_target(cx: &Cx) -> Result<Option<Target>> {
    Ok(load_balancer::of_stack(cx).await?.and_then(|ids| {
        Some((
            ids.get("dns_name")?.clone(),
            ids.get("canonical_hosted_zone_id")?.clone(),
        ))
    }))
}

/// An ALB DNS name for comparison: lower case, no trailing dot, without the `dualstack.` prefix Route53 accepts.
fn normalize_alias(dns: &str) -> String {
    let n = normalize_name(dns);
    n.strip_prefix("dualstack.").map(str::to_owned).unwrap_or(n)
}

/// True when a record at a name the stack moved away from still aliases this stack's load balancer, or one named
/// like it (`<stack>-alb-…`: the stack's load balancer before a replacement). Route53 records carry no tags: once
/// the stack left a name, whoever points it elsewhere owns it, and neo4j-gw neither deletes it nor counts it as
/// the stack's leftover.
async fn still_ours(cx: &Cx, set: &ResourceRecordSet) -> Result<bool> {
    if stack_target(cx).await?.is_some_and(|t| points_to(set, &t)) {
        return Ok(true);
    }
    let lb_prefix = format!("{}-alb-", cx.stack()).to_ascii_lowercase();
    Ok(set
        .alias_target()
        .is_some_and(|a| normalize_alias(a.dns_name()).starts_with(&lb_prefix)))
}

fn points_to(set: &ResourceRecordSet, target: &Target) -> bool {
    set.alias_target().is_some_and(|a| {
        normalize_alias(a.dns_name()) == normalize_alias(&target.0)
            && bare_zone_id(a.hosted_zone_id()) == target.1
    })
}

fn describe_set(set: &ResourceRecordSet) -> String {
    match set.alias_target() {
        Some(a) => format!(
            "alias {} (zone {}, evaluate target health {})",
            normalize_name(a.dns_name()),
            bare_zone_id(a.hosted_zone_id()),
            a.evaluate_target_health()
        ),
        None => format!(
            "A {} (TTL {})",
            set.resource_records()
                .iter()
                .map(|r| r.value())
                .collect::<Vec<_>>()
                .join(","),
            set.ttl()
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into())
        ),
    }
}

fn describe_target(target: &Target) -> String {
    format!(
        "alias {} (zone {}, evaluate target health true)",
        normalize_name(&target.0),
        target.1
    )
}

fn build_error(e: impl std::fmt::Display) -> Error {
    Error::other(format!("dns-record: cannot build the Route53 change: {e}"))
}

/// Where the record should be, when the domain and its hosted zone are known.
fn desired(cx: &Cx) -> Option<Place> {
    Some((
        cx.settings().fqdn()?,
        cx.dep_opt(hosted_zone::HOSTED_ZONE_ID)?,
    ))
}

fn place_in(ids: &Ids, prefix: &str) -> Option<Place> {
    Some((
        ids.get(&format!("{prefix}fqdn"))?.clone(),
        ids.get(&format!("{prefix}hosted_zone_id"))?.clone(),
    ))
}

/// The simple (non-weighted, non-latency…) A record named `fqdn` in the zone, if any. Read-only.
async fn lookup(cx: &Cx, place: &Place) -> Result<Option<ResourceRecordSet>> {
    let (fqdn, zone) = place;
    let out = match cx
        .aws()
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(bare_zone_id(zone))
        .start_record_name(fqdn)
        .start_record_type(RrType::A)
        .max_items(10)
        .send()
        .await
    {
        Ok(out) => out,
        // The zone is gone, and the record with it.
        Err(e) if error::code_of(&e) == Some("NoSuchHostedZone") => return Ok(None),
        Err(e) => return Err(error::aws(cx.node, "ListResourceRecordSets", e)),
    };
    let want = normalize_name(fqdn);
    Ok(out
        .resource_record_sets()
        .iter()
        .find(|r| {
            normalize_name(r.name()) == want
                && r.r#type() == &RrType::A
                && r.set_identifier().is_none()
        })
        .cloned())
}

async fn change(
    cx: &Cx,
    zone: &str,
    action: ChangeAction,
    set: ResourceRecordSet,
    what: &str,
) -> Result<String> {
    let batch = ChangeBatch::builder()
        .comment(format!("neo4j-gw stack {}: {what}", cx.stack()))
        .changes(
            Change::builder()
                .action(action)
                .resource_record_set(set)
                .build()
                .map_err(build_error)?,
        )
        .build()
        .map_err(build_error)?;
    let out = cx
        .aws()
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(bare_zone_id(zone))
        .change_batch(batch)
        .send()
        .await
        .aws(cx, "ChangeResourceRecordSets")?;
    Ok(out
        .change_info()
        .map(|c| c.id().trim_start_matches("/change/").to_owned())
        .unwrap_or_default())
}

/// UPSERTs the alias record; returns the change ID.
async fn upsert(cx: &Cx, place: &Place, target: &Target) -> Result<String> {
    let set = ResourceRecordSet::builder()
        .name(&place.0)
        .r#type(RrType::A)
        .alias_target(
            AliasTarget::builder()
                .dns_name(&target.0)
                .hosted_zone_id(&target.1)
                .evaluate_target_health(true)
                .build()
                .map_err(build_error)?,
        )
        .build()
        .map_err(build_error)?;
    change(
        cx,
        &place.1,
        ChangeAction::Upsert,
        set,
        &format!("point {} at the load balancer", place.0),
    )
    .await
}

/// `Some(true)` when the change is INSYNC, `Some(false)` while PENDING, `None` when Route53 no longer knows it.
pub async fn change_in_sync(cx: &Cx, change_id: &str) -> Result<Option<bool>> {
    match cx
        .aws()
        .route53
        .get_change()
        .id(change_id.trim_start_matches("/change/"))
        .send()
        .await
    {
        Ok(out) => Ok(Some(
            out.change_info()
                .is_some_and(|c| c.status() == &ChangeStatus::Insync),
        )),
        Err(e) if error::code_of(&e) == Some("NoSuchChange") => Ok(None),
        Err(e) => Err(error::aws(cx.node, "GetChange", e)),
    }
}

async fn wait_in_sync(cx: &Cx, change_id: &str, what: &str) -> Result<()> {
    if change_id.is_empty() {
        return Ok(());
    }
    wait::until(cx, what, cx.settings().wait_timeout, || async move {
        Ok(match change_in_sync(cx, change_id).await? {
            Some(false) => Poll::Pending(format!("change {change_id} PENDING")),
            _ => Poll::Ready(()),
        })
    })
    .await
}

/// Deletes the record at `place` with its exact current values (Route53 requires them), then waits for INSYNC.
/// A place the stack moved away from (`left`) is deleted only while its record is still the stack's
/// ([`still_ours`]); otherwise it is kept, and said so.
async fn delete_at(cx: &Cx, place: &Place, left: bool) -> Result<()> {
    let Some(set) = lookup(cx, place).await? else {
        return Ok(());
    };
    if left && !still_ours(cx, &set).await? {
        tracing::warn!(
            "{}: kept {}: it is {} now, not this stack's load balancer (the stack no longer uses that name)",
            cx.node,
            place.0,
            describe_set(&set)
        );
        return Ok(());
    }
    let batch = ChangeBatch::builder()
        .comment(format!("neo4j-gw stack {}: remove {}", cx.stack(), place.0))
        .changes(
            Change::builder()
                .action(ChangeAction::Delete)
                .resource_record_set(set)
                .build()
                .map_err(build_error)?,
        )
        .build()
        .map_err(build_error)?;
    cx.say(format!("deleting {}", place.0));
    let out = cx
        .aws()
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(bare_zone_id(&place.1))
        .change_batch(batch)
        .send()
        .await;
    let change_id = match out {
        Ok(out) => out
            .change_info()
            .map(|c| c.id().trim_start_matches("/change/").to_owned())
            .unwrap_or_default(),
        // Deleted meanwhile (Route53: "…it was not found"), or the zone is gone.
        Err(e) if error::code_of(&e) == Some("NoSuchHostedZone") => return Ok(()),
        Err(e)
            if error::code_of(&e) == Some("InvalidChangeBatch")
                && e.message().is_some_and(|m| m.contains("not found")) =>
        {
            return Ok(());
        }
        Err(e) => return Err(error::aws(cx.node, "ChangeResourceRecordSets(DELETE)", e)),
    };
    wait_in_sync(
        cx,
        &change_id,
        &format!("the removal of {} to be INSYNC", place.0),
    )
    .await
}

/// The stack's record when neither the state nor the settings say where it is (`down` or `status` after the state
/// file was lost, without `--domain-name`): an A alias in a public hosted zone that points at this stack's load
/// balancer — or, when that is already gone, at a load balancer named like it (`<stack>-alb-…`). Without this,
/// such a `down` reported the record "already gone" and left it behind. Read-only; pages through every zone.
async fn find_by_target(
    cx: &Cx,
    target: Option<&Target>,
) -> Result<Option<(Place, ResourceRecordSet)>> {
    let r53 = &cx.aws().route53;
    let lb_prefix = format!("{}-alb-", cx.stack()).to_ascii_lowercase();
    let ours = |set: &ResourceRecordSet| {
        set.r#type() == &RrType::A
            && set.set_identifier().is_none()
            && match target {
                Some(t) => points_to(set, t),
                None => set
                    .alias_target()
                    .is_some_and(|a| normalize_alias(a.dns_name()).starts_with(&lb_prefix)),
            }
    };
    let mut marker: Option<String> = None;
    loop {
        let zones = r53
            .list_hosted_zones()
            .set_marker(marker.clone())
            .send()
            .await
            .aws(cx, "ListHostedZones")?;
        for zone in zones.hosted_zones() {
            if zone.config().is_some_and(|c| c.private_zone()) {
                continue;
            }
            let zone_id = bare_zone_id(zone.id()).to_owned();
            let mut start: Option<(String, RrType)> = None;
            loop {
                let page = r53
                    .list_resource_record_sets()
                    .hosted_zone_id(&zone_id)
                    .set_start_record_name(start.as_ref().map(|s| s.0.clone()))
                    .set_start_record_type(start.as_ref().map(|s| s.1.clone()))
                    .send()
                    .await;
                let page = match page {
                    Ok(p) => p,
                    Err(e) if error::code_of(&e) == Some("NoSuchHostedZone") => break,
                    Err(e) => return Err(error::aws(cx.node, "ListResourceRecordSets", e)),
                };
                if let Some(set) = page.resource_record_sets().iter().find(|s| ours(s)) {
                    return Ok(Some(((normalize_name(set.name()), zone_id), set.clone())));
                }
                match (
                    page.is_truncated(),
                    page.next_record_name(),
                    page.next_record_type(),
                ) {
                    (true, Some(name), Some(t)) => start = Some((name.to_owned(), t.clone())),
                    _ => break,
                }
            }
        }
        match (zones.is_truncated(), zones.next_marker()) {
            (true, Some(m)) => marker = Some(m.to_owned()),
            _ => break,
        }
    }
    Ok(None)
}

fn target_needed(target: Option<Target>) -> Result<Target> {
    target.ok_or_else(|| {
        Error::other("dns-record: this stack's load balancer is not known yet (run `neo4j-gw up`)")
    })
}

fn desired_needed(cx: &Cx) -> Result<Place> {
    desired(cx).ok_or_else(|| {
        Error::other("dns-record: the domain or its hosted zone is not known (--domain-name is required for `up`)")
    })
}

pub const NODE: &str = "dns-record";

#[async_trait]
impl Resource for DnsRecordResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "route53:record"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &[hosted_zone::NODE, load_balancer::NODE]
    }

    fn owned_through(&self) -> Option<&'static str> {
        Some(load_balancer::NODE)
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        let want = desired(cx);
        let rec = recorded.and_then(|r| place_in(r, ""));
        let mut current: Option<(Place, ResourceRecordSet, Option<Target>)> = None;
        if let Some(w) = &want
            && let Some(set) = lookup(cx, w).await?
        {
            let target = stack_target(cx).await?;
            let recorded_here = rec.as_ref().is_some_and(|r| same_place(r, w));
            if !recorded_here && !target.as_ref().is_some_and(|t| points_to(&set, t)) {
                return Ok(Observation::Foreign(format!(
                    "the A record {} in hosted zone {} is {}, not this stack's load balancer",
                    w.0,
                    w.1,
                    describe_set(&set)
                )));
            }
            current = Some((w.clone(), set, target));
        }
        if want.is_none() && rec.is_none() {
            let target = stack_target(cx).await?;
            if let Some((place, set)) = find_by_target(cx, target.as_ref()).await? {
                current = Some((place, set, target));
            }
        }
        // The recorded record, when it is somewhere else than it should be (a moved name).
        let old = match &rec {
            Some(r) if want.as_ref().is_none_or(|w| !same_place(r, w)) => {
                match lookup(cx, r).await? {
                    // Left by a move, or unknown settings (`down` without them): the stack's only while it still
                    // points at the stack's load balancer.
                    Some(set) if still_ours(cx, &set).await? => Some(r.clone()),
                    Some(set) => {
                        tracing::warn!(
                            "{}: kept {}: it is {} now, not this stack's load balancer (the stack no longer uses \
                             that name)",
                            cx.node,
                            r.0,
                            describe_set(&set)
                        );
                        None
                    }
                    None => None,
                }
            }
            _ => None,
        };
        let live = match (current, old) {
            (None, None) => return Ok(Observation::Missing),
            (None, Some(old)) => {
                let mut live = Live::new(ids([
                    ("fqdn", old.0.clone()),
                    ("hosted_zone_id", old.1.clone()),
                ]));
                if let Some(w) = &want {
                    let (expected, actual) = if normalize_name(&w.0) == normalize_name(&old.0) {
                        // Same name, another zone (the domain's zone was recreated).
                        (
                            format!("{} in zone {}", w.0, w.1),
                            format!("{} in zone {}", old.0, old.1),
                        )
                    } else {
                        (w.0.clone(), old.0.clone())
                    };
                    live.drift.push(Drift::new("fqdn", expected, actual));
                }
                live
            }
            (Some((place, set, target)), old) => {
                let mut live = Live::new(ids([
                    ("fqdn", place.0.clone()),
                    ("hosted_zone_id", place.1.clone()),
                ]));
                if let Some(t) = &target
                    && !(points_to(&set, t)
                        && set
                            .alias_target()
                            .is_some_and(|a| a.evaluate_target_health()))
                {
                    live.drift.push(Drift::new(
                        "alias_target",
                        describe_target(t),
                        describe_set(&set),
                    ));
                }
                if let Some(old) = old {
                    live.drift.push(Drift::new(
                        "previous_record",
                        "absent",
                        format!("{} in {}", old.0, old.1),
                    ));
                    live.ids.insert("previous_fqdn".into(), old.0);
                    live.ids.insert("previous_hosted_zone_id".into(), old.1);
                }
                // A change made by an earlier run that may not have propagated yet.
                let recorded_change = recorded
                    .and_then(|r| r.get("change_id"))
                    .filter(|_| rec.as_ref().is_some_and(|r| same_place(r, &place)));
                if let Some(change_id) = recorded_change
                    && change_in_sync(cx, change_id).await? == Some(false)
                {
                    live.health = Health::Pending(format!("change {change_id} PENDING"));
                    live.ids.insert("change_id".into(), change_id.clone());
                }
                live
            }
        };
        Ok(Observation::Present(live))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let place = desired_needed(cx)?;
        let target = target_needed(stack_target(cx).await?)?;
        let change_id = upsert(cx, &place, &target).await?;
        Ok(ids([
            ("fqdn", place.0),
            ("hosted_zone_id", place.1),
            ("change_id", change_id),
        ]))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        let place = desired_needed(cx)?;
        let target = target_needed(stack_target(cx).await?)?;
        let change_id = upsert(cx, &place, &target).await?;
        // Make before break: the new record serves before an old one goes.
        wait_in_sync(cx, &change_id, &format!("{} to be INSYNC", place.0)).await?;
        for old in [place_in(&live.ids, ""), place_in(&live.ids, "previous_")]
            .into_iter()
            .flatten()
        {
            if !same_place(&old, &place) {
                delete_at(cx, &old, true).await?;
            }
        }
        Ok(ids([
            ("fqdn", place.0),
            ("hosted_zone_id", place.1),
            ("change_id", change_id),
        ]))
    }

    async fn wait_ready(&self, cx: &Cx, ids: &Ids) -> Result<()> {
        let Some(change_id) = ids.get("change_id") else {
            return Ok(());
        };
        let name = ids.get("fqdn").map(String::as_str).unwrap_or("the record");
        wait_in_sync(cx, change_id, &format!("{name} to be INSYNC")).await
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        if let Some(place) = place_in(&live.ids, "") {
            delete_at(cx, &place, false).await?;
        }
        if let Some(place) = place_in(&live.ids, "previous_") {
            delete_at(cx, &place, true).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_names_compare_without_case_dot_or_dualstack() {
        assert_eq!(
            normalize_alias("dualstack.S-ALB-1.us-east-1.elb.amazonaws.com."),
            "s-alb-1.us-east-1.elb.amazonaws.com"
        );
        assert_eq!(
            normalize_alias("s-alb-1.us-east-1.elb.amazonaws.com"),
            "s-alb-1.us-east-1.elb.amazonaws.com"
        );
    }

    #[test]
    fn places_compare_without_zone_prefix_or_trailing_dot() {
        let a = ("mcp.example.com.".to_owned(), "/hostedzone/Z1".to_owned());
        let b = ("MCP.example.com".to_owned(), "Z1".to_owned());
        assert!(same_place(&a, &b));
        assert!(!same_place(
            &a,
            &("mcp2.example.com".to_owned(), "Z1".to_owned())
        ));
        assert!(!same_place(
            &a,
            &("mcp.example.com".to_owned(), "Z2".to_owned())
        ));
    }

    #[test]
    fn points_to_matches_the_alias_target() {
        let set = ResourceRecordSet::builder()
            .name("mcp.example.com.")
            .r#type(RrType::A)
            .alias_target(
                AliasTarget::builder()
                    .dns_name("dualstack.s-alb-1.us-east-1.elb.amazonaws.com.")
                    .hosted_zone_id("Z35SXDOTRQ7X7K")
                    .evaluate_target_health(true)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        assert!(points_to(
            &set,
            &(
                "s-alb-1.us-east-1.elb.amazonaws.com".into(),
                "Z35SXDOTRQ7X7K".into()
            )
        ));
        assert!(!points_to(
            &set,
            &(
                "other-1.us-east-1.elb.amazonaws.com".into(),
                "Z35SXDOTRQ7X7K".into()
            )
        ));
        assert!(!points_to(
            &set,
            &(
                "s-alb-1.us-east-1.elb.amazonaws.com".into(),
                "ZOTHER".into()
            )
        ));
    }
}
