//! The gateway's audit trail (issue 20): a CloudWatch Logs vended-log delivery of the gateway's `APPLICATION_LOGS`
//! into the stack's audit log group ([`log_group::audit_log_group`]). Three CloudWatch Logs objects make one node,
//! because none is of use without the others: the delivery source `<stack>-gateway-logs` (the gateway's ARN, log
//! type `APPLICATION_LOGS`), the delivery destination `<stack>-gateway-logs` (the log group's ARN without `:*`) and
//! the delivery pairing them (docs/aws-behaviour.md, "Audit lines: the gateway's log delivery"; CloudWatch Logs API
//! reference, `PutDeliverySource`, `PutDeliveryDestination`, `CreateDelivery`).
//!
//! All three take tags, but only when they are created ("Tags can only be provided when a resource is being created,
//! not updated"): a part is put with tags when it is missing, without when it is changed. Whose they are is read on
//! the source, which is never changed in place (a source cannot move to another resource; it is replaced). Missing
//! parts (an interrupted create, a part deleted out of band) are drift that `up` completes; `down` deletes the
//! delivery, then the source, then the destination, as CloudWatch Logs wants a delivery gone before its ends.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::types::{
    Delivery, DeliveryDestination, DeliveryDestinationConfiguration, DeliverySource,
};

use crate::error::{Error, Result};
use crate::resources::{
    AwsResult, Cx, Drift, Live, Observation, Output, Resource, gateway, ids, log_group,
};
use crate::state::Ids;

pub const NODE: &str = "gateway-log-delivery";
pub const DELIVERY_ID: Output = Output::new(NODE, "delivery_id");

/// The log type AgentCore gateways deliver.
pub const LOG_TYPE: &str = "APPLICATION_LOGS";

/// `<stack>-gateway-logs`: the delivery source's and the delivery destination's name.
pub fn delivery_name(cx: &Cx) -> String {
    cx.name("gateway-logs")
}

pub struct GatewayLogDeliveryResource;

/// The three parts as found.
#[derive(Default)]
struct Parts {
    source: Option<DeliverySource>,
    destination: Option<DeliveryDestination>,
    delivery: Option<Delivery>,
}

/// What the parts should be.
struct Desired {
    gateway_arn: String,
    group_arn: String,
}

impl Desired {
    fn of(cx: &Cx) -> Result<Desired> {
        Ok(Desired {
            gateway_arn: cx.dep(gateway::ARN)?,
            group_arn: cx.dep(log_group::GATEWAY_LOGS_ARN)?,
        })
    }
}

async fn get_source(cx: &Cx, name: &str) -> Result<Option<DeliverySource>> {
    Ok(cx
        .aws()
        .logs
        .get_delivery_source()
        .name(name)
        .send()
        .await
        .or_gone(cx, "GetDeliverySource", |e| {
            e.is_resource_not_found_exception()
        })?
        .and_then(|o| o.delivery_source))
}

async fn get_destination(cx: &Cx, name: &str) -> Result<Option<DeliveryDestination>> {
    Ok(cx
        .aws()
        .logs
        .get_delivery_destination()
        .name(name)
        .send()
        .await
        .or_gone(cx, "GetDeliveryDestination", |e| {
            e.is_resource_not_found_exception()
        })?
        .and_then(|o| o.delivery_destination))
}

async fn get_delivery(cx: &Cx, id: &str) -> Result<Option<Delivery>> {
    Ok(cx
        .aws()
        .logs
        .get_delivery()
        .id(id)
        .send()
        .await
        .or_gone(cx, "GetDelivery", |e| e.is_resource_not_found_exception())?
        .and_then(|o| o.delivery))
}

/// The delivery from the source `source` (a source has at most one delivery per destination type).
async fn find_delivery(cx: &Cx, source: &str) -> Result<Option<Delivery>> {
    let mut next: Option<String> = None;
    loop {
        let out = cx
            .aws()
            .logs
            .describe_deliveries()
            .set_next_token(next.take())
            .send()
            .await
            .aws(cx, "DescribeDeliveries")?;
        if let Some(d) = out
            .deliveries()
            .iter()
            .find(|d| d.delivery_source_name() == Some(source))
        {
            return Ok(Some(d.clone()));
        }
        match out.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_owned()),
            _ => return Ok(None),
        }
    }
}

/// Reads the three parts: with a recorded delivery ID all at once (one round trip), else the delivery is looked for
/// among the account's deliveries by its source's name.
async fn read(cx: &Cx, recorded: Option<&str>) -> Result<Parts> {
    let name = delivery_name(cx);
    let (source, destination, delivery) =
        tokio::join!(get_source(cx, &name), get_destination(cx, &name), async {
            match recorded {
                Some(id) => get_delivery(cx, id).await,
                None => Ok(None),
            }
        });
    let mut parts = Parts {
        source: source?,
        destination: destination?,
        delivery: delivery?.filter(|d| d.delivery_source_name() == Some(name.as_str())),
    };
    if parts.delivery.is_none() && parts.source.is_some() {
        parts.delivery = find_delivery(cx, &name).await?;
    }
    Ok(parts)
}

fn tag_pairs(tags: Option<&HashMap<String, String>>) -> Vec<(&str, &str)> {
    tags.map(|t| t.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
        .unwrap_or_default()
}

/// Why the parts are not this stack's, if they are not: the source decides; a destination of our name with
/// another stack's tags, or untagged while no source of ours vouches for it, was made by someone else.
fn foreign(cx: &Cx, parts: &Parts, name: &str) -> Option<String> {
    if let Some(s) = &parts.source
        && !cx.is_ours(tag_pairs(s.tags()))
    {
        return Some(format!(
            "CloudWatch Logs delivery source {name} is not tagged as this stack's"
        ));
    }
    if let Some(d) = &parts.destination {
        let tags = tag_pairs(d.tags());
        let vouched = parts.source.is_some();
        if (!tags.is_empty() && !cx.is_ours(tags))
            || (d.tags().is_none_or(|t| t.is_empty()) && !vouched)
        {
            return Some(format!(
                "CloudWatch Logs delivery destination {name} is not tagged as this stack's"
            ));
        }
    }
    None
}

fn present(p: bool) -> &'static str {
    if p { "present" } else { "missing" }
}

/// Missing parts and parts pointing elsewhere. A source naming another resource (a replaced gateway) must be
/// replaced: CloudWatch Logs refuses to move a source.
fn drift(parts: &Parts, want: Option<&Desired>) -> Vec<Drift> {
    let mut d = Vec::new();
    match &parts.source {
        None => d.push(Drift::new("delivery_source", "present", "missing")),
        Some(s) => {
            if let Some(w) = want
                && s.resource_arns() != [w.gateway_arn.clone()]
            {
                d.push(Drift::new(
                    "delivery_source.resource_arn",
                    &w.gateway_arn,
                    s.resource_arns().join(","),
                ));
            }
            if s.log_type() != Some(LOG_TYPE) {
                d.push(Drift::new(
                    "delivery_source.log_type",
                    LOG_TYPE,
                    s.log_type().unwrap_or("none"),
                ));
            }
        }
    }
    match &parts.destination {
        None => d.push(Drift::new("delivery_destination", "present", "missing")),
        Some(dest) => {
            let have = dest
                .delivery_destination_configuration()
                .map(|c| c.destination_resource_arn())
                .unwrap_or("none");
            if let Some(w) = want
                && have.trim_end_matches(":*") != w.group_arn
            {
                d.push(Drift::new(
                    "delivery_destination.log_group",
                    &w.group_arn,
                    have,
                ));
            }
        }
    }
    let paired = match (&parts.delivery, &parts.destination) {
        (Some(del), Some(dest)) => del.delivery_destination_arn() == dest.arn(),
        (Some(_), None) => false,
        (None, _) => false,
    };
    if !paired {
        d.push(Drift::new(
            "delivery",
            "present",
            present(parts.delivery.is_some()),
        ));
    }
    d
}

fn delivery_ids(parts: &Parts, name: &str) -> Ids {
    ids([
        (
            "delivery_id",
            parts
                .delivery
                .as_ref()
                .and_then(|d| d.id())
                .unwrap_or_default()
                .to_owned(),
        ),
        ("delivery_source", name.to_owned()),
        (
            "delivery_destination_arn",
            parts
                .destination
                .as_ref()
                .and_then(|d| d.arn())
                .unwrap_or_default()
                .to_owned(),
        ),
    ])
}

impl GatewayLogDeliveryResource {
    /// Puts what is missing or wrong, in the order CloudWatch Logs needs (the ends before the delivery); returns the
    /// parts as they are then.
    async fn ensure(&self, cx: &Cx, mut parts: Parts) -> Result<Parts> {
        let name = delivery_name(cx);
        let want = Desired::of(cx)?;
        let logs = &cx.aws().logs;
        let tags: HashMap<String, String> = cx.tags(&name).into_iter().collect();
        let source_moved = parts.source.as_ref().is_some_and(|s| {
            s.resource_arns() != [want.gateway_arn.clone()] || s.log_type() != Some(LOG_TYPE)
        });
        if source_moved {
            cx.say("replacing the delivery source (it names another gateway)");
            if let Some(id) = parts.delivery.take().and_then(|d| d.id.clone()) {
                delete_delivery(cx, &id).await?;
            }
            delete_source(cx, &name).await?;
            parts.source = None;
        }
        if parts.source.is_none() {
            let out = logs
                .put_delivery_source()
                .name(&name)
                .resource_arn(&want.gateway_arn)
                .log_type(LOG_TYPE)
                .set_tags(Some(tags.clone()))
                .send()
                .await
                .aws(cx, "PutDeliverySource")?;
            parts.source = out.delivery_source;
        }
        let dest_ok = parts.destination.as_ref().is_some_and(|d| {
            d.delivery_destination_configuration()
                .map(|c| c.destination_resource_arn().trim_end_matches(":*"))
                == Some(want.group_arn.as_str())
        });
        if !dest_ok {
            let config = DeliveryDestinationConfiguration::builder()
                .destination_resource_arn(&want.group_arn)
                .build()
                .map_err(|e| Error::other(format!("{NODE}: {e}")))?;
            // Tags only on the create: an update with tags is refused.
            let create = parts.destination.is_none();
            let out = logs
                .put_delivery_destination()
                .name(&name)
                .delivery_destination_configuration(config)
                .set_tags(create.then(|| tags.clone()))
                .send()
                .await
                .aws(cx, "PutDeliveryDestination")?;
            parts.destination = out.delivery_destination;
        }
        let dest_arn = parts
            .destination
            .as_ref()
            .and_then(|d| d.arn())
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::other(format!(
                    "{NODE}: PutDeliveryDestination answered without the destination's ARN"
                ))
            })?;
        if let Some(d) = &parts.delivery
            && d.delivery_destination_arn() != Some(dest_arn.as_str())
            && let Some(id) = d.id()
        {
            delete_delivery(cx, id).await?;
            parts.delivery = None;
        }
        if parts.delivery.is_none() {
            let out = logs
                .create_delivery()
                .delivery_source_name(&name)
                .delivery_destination_arn(&dest_arn)
                .set_tags(Some(tags))
                .send()
                .await
                .aws(cx, "CreateDelivery")?;
            parts.delivery = out.delivery;
        }
        Ok(parts)
    }
}

async fn delete_delivery(cx: &Cx, id: &str) -> Result<()> {
    cx.aws()
        .logs
        .delete_delivery()
        .id(id)
        .send()
        .await
        .or_gone(cx, "DeleteDelivery", |e| {
            e.is_resource_not_found_exception()
        })
        .map(|_| ())
}

async fn delete_source(cx: &Cx, name: &str) -> Result<()> {
    cx.aws()
        .logs
        .delete_delivery_source()
        .name(name)
        .send()
        .await
        .or_gone(cx, "DeleteDeliverySource", |e| {
            e.is_resource_not_found_exception()
        })
        .map(|_| ())
}

#[async_trait]
impl Resource for GatewayLogDeliveryResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "logs:delivery"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &[gateway::NODE, log_group::GATEWAY_LOGS_NODE]
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        let name = delivery_name(cx);
        let recorded_id = recorded
            .and_then(|r| r.get("delivery_id"))
            .filter(|id| !id.is_empty() && !cx.expect_gone);
        let parts = read(cx, recorded_id.map(String::as_str)).await?;
        if parts.source.is_none() && parts.destination.is_none() && parts.delivery.is_none() {
            return Ok(Observation::Missing);
        }
        if let Some(why) = foreign(cx, &parts, &name) {
            // An answer without the destination's tags (moto drops them from the object once it was put again
            // without tags; AWS keeps them) is checked against the tags CloudWatch Logs holds for its ARN.
            let untagged = parts
                .destination
                .as_ref()
                .filter(|d| d.tags().is_none_or(|t| t.is_empty()))
                .and_then(|d| d.arn());
            let ours = match untagged {
                Some(arn) if parts.source.is_none() => {
                    let tags = cx
                        .aws()
                        .logs
                        .list_tags_for_resource()
                        .resource_arn(arn)
                        .send()
                        .await
                        .aws(cx, "ListTagsForResource")?;
                    cx.is_ours(tag_pairs(tags.tags()))
                }
                _ => false,
            };
            if !ours {
                return Ok(Observation::Foreign(why));
            }
        }
        // What they should name cannot be known without the gateway and the group (`status` before they exist).
        let want = Desired::of(cx).ok();
        let d = drift(&parts, want.as_ref());
        Ok(Observation::Present(
            Live::new(delivery_ids(&parts, &name)).with_drift(d),
        ))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        // A repeat after a lost answer finds the parts already made and completes the rest.
        let parts = read(cx, None).await?;
        let parts = self.ensure(cx, parts).await?;
        Ok(delivery_ids(&parts, &delivery_name(cx)))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        let recorded = live.ids.get("delivery_id").filter(|id| !id.is_empty());
        let parts = read(cx, recorded.map(String::as_str)).await?;
        let parts = self.ensure(cx, parts).await?;
        Ok(delivery_ids(&parts, &delivery_name(cx)))
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        let name = delivery_name(cx);
        let recorded = live.ids.get("delivery_id").filter(|id| !id.is_empty());
        let parts = read(cx, recorded.map(String::as_str)).await?;
        if let Some(id) = parts.delivery.as_ref().and_then(|d| d.id()) {
            delete_delivery(cx, id).await?;
        }
        if parts.source.is_some() {
            delete_source(cx, &name).await?;
        }
        if parts.destination.is_some() {
            cx.aws()
                .logs
                .delete_delivery_destination()
                .name(&name)
                .send()
                .await
                .or_gone(cx, "DeleteDeliveryDestination", |e| {
                    e.is_resource_not_found_exception()
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GW: &str = "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/s-gw-abcdefghij";
    const GROUP: &str = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/x";
    const DEST: &str = "arn:aws:logs:us-east-1:123456789012:delivery-destination:s-gateway-logs";

    fn parts(gateway: &str, group: &str, paired: bool) -> Parts {
        Parts {
            source: Some(
                DeliverySource::builder()
                    .name("s-gateway-logs")
                    .resource_arns(gateway)
                    .log_type(LOG_TYPE)
                    .build(),
            ),
            destination: Some(
                DeliveryDestination::builder()
                    .name("s-gateway-logs")
                    .arn(DEST)
                    .delivery_destination_configuration(
                        DeliveryDestinationConfiguration::builder()
                            .destination_resource_arn(group)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            ),
            delivery: paired.then(|| {
                Delivery::builder()
                    .id("d1")
                    .delivery_source_name("s-gateway-logs")
                    .delivery_destination_arn(DEST)
                    .build()
            }),
        }
    }

    fn want() -> Desired {
        Desired {
            gateway_arn: GW.into(),
            group_arn: GROUP.into(),
        }
    }

    fn attrs(d: Vec<Drift>) -> Vec<String> {
        d.into_iter().map(|d| d.attribute).collect()
    }

    #[test]
    fn complete_parts_do_not_drift_and_missing_or_moved_ones_do() {
        assert_eq!(
            drift(&parts(GW, GROUP, true), Some(&want())),
            Vec::<Drift>::new()
        );
        // The group's ARN with the `:*` some answers carry is the same group.
        let star = format!("{GROUP}:*");
        assert_eq!(
            drift(&parts(GW, &star, true), Some(&want())),
            Vec::<Drift>::new()
        );
        assert_eq!(
            attrs(drift(&parts(GW, GROUP, false), Some(&want()))),
            ["delivery"]
        );
        assert_eq!(
            attrs(drift(
                &parts("arn:old-gateway", "arn:other", true),
                Some(&want())
            )),
            [
                "delivery_source.resource_arn",
                "delivery_destination.log_group"
            ]
        );
        assert_eq!(
            attrs(drift(&Parts::default(), None)),
            ["delivery_source", "delivery_destination", "delivery"]
        );
    }
}
