//! The public Route53 hosted zone of `domain_name`. The stack uses it but does not own it: pre-flight checks that
//! it exists and is public, the DNS record goes into it, and nothing ever changes or deletes it.

use async_trait::async_trait;
use aws_sdk_route53::types::HostedZone;

use crate::error::{Error, Result};
use crate::resources::Output;
use crate::resources::{AwsResult, Cx, Live, Observation, Resource, ids};
use crate::state::Ids;

pub const NODE: &str = "hosted-zone";
pub const HOSTED_ZONE_ID: Output = Output::new(NODE, "hosted_zone_id");

pub struct HostedZoneResource;

/// A hosted zone ID without the `/hostedzone/` prefix Route53 puts in front of it.
pub fn bare_zone_id(id: &str) -> &str {
    id.trim_start_matches("/hostedzone/")
}

/// A DNS name lower-cased and without its trailing dot, for comparisons.
pub fn normalize_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl HostedZoneResource {
    /// Every hosted zone named exactly `domain` (public and private ones), with whether each is private.
    async fn zones_named(&self, cx: &Cx, domain: &str) -> Result<Vec<(HostedZone, bool)>> {
        let r53 = &cx.aws().route53;
        let want = normalize_name(domain);
        let mut found = Vec::new();
        let mut next: (Option<String>, Option<String>) = (Some(format!("{want}.")), None);
        loop {
            let out = r53
                .list_hosted_zones_by_name()
                .set_dns_name(next.0.clone())
                .set_hosted_zone_id(next.1.clone())
                .send()
                .await
                .aws(cx, "ListHostedZonesByName")?;
            // AWS lists the zones in name order starting at `domain`: the exact matches come first, and a page
            // whose last zone has another name holds all of them.
            let zones = out.hosted_zones();
            found.extend(
                zones
                    .iter()
                    .filter(|z| normalize_name(z.name()) == want)
                    .cloned(),
            );
            let more = zones
                .last()
                .is_some_and(|z| normalize_name(z.name()) == want);
            if !more || !out.is_truncated() {
                break;
            }
            next = (
                out.next_dns_name().map(str::to_owned),
                out.next_hosted_zone_id().map(str::to_owned),
            );
            if next.0.as_deref().map(normalize_name).as_deref() != Some(want.as_str()) {
                break;
            }
        }
        let mut zones = Vec::new();
        for z in found {
            let private = match z.config() {
                Some(c) => c.private_zone(),
                None => {
                    let out = r53
                        .get_hosted_zone()
                        .id(bare_zone_id(z.id()))
                        .send()
                        .await
                        .aws(cx, "GetHostedZone")?;
                    out.hosted_zone()
                        .and_then(|h| h.config())
                        .is_some_and(|c| c.private_zone())
                }
            };
            zones.push((z, private));
        }
        Ok(zones)
    }
}

#[async_trait]
impl Resource for HostedZoneResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "route53:hosted-zone"
    }
    fn external(&self) -> bool {
        true
    }

    fn missing_message(&self, cx: &Cx) -> String {
        match &cx.settings().domain_name {
            None => "hosted-zone: --domain-name is not set".into(),
            Some(d) => format!(
                "hosted-zone: no public hosted zone for {d} in account {}. Create one (Route53 → Hosted zones → Create \
                 hosted zone, type Public) and delegate {d} to its name servers, or pass the apex of a zone you have with \
                 --domain-name",
                cx.shared.account
            ),
        }
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        let Some(domain) = cx.settings().domain_name.clone() else {
            return Ok(Observation::Missing);
        };
        let zones = self.zones_named(cx, &domain).await?;
        let public: Vec<&HostedZone> = zones
            .iter()
            .filter(|(_, private)| !private)
            .map(|(z, _)| z)
            .collect();
        let recorded_id = recorded
            .and_then(|r| r.get("hosted_zone_id"))
            .map(String::as_str);
        let zone = match public.as_slice() {
            [] => {
                let private: Vec<&str> = zones.iter().map(|(z, _)| bare_zone_id(z.id())).collect();
                if private.is_empty() {
                    return Ok(Observation::Missing);
                }
                return Ok(Observation::Foreign(format!(
                    "the only hosted zone{} named {domain} ({}) {} private (visible only inside VPCs); the internet-facing \
                     load balancer needs a name in a public zone: create a public hosted zone for {domain} and delegate \
                     the domain to it",
                    if private.len() == 1 { "" } else { "s" },
                    private.join(", "),
                    if private.len() == 1 { "is" } else { "are" },
                )));
            }
            [one] => *one,
            many => match many
                .iter()
                .find(|z| Some(bare_zone_id(z.id())) == recorded_id)
            {
                Some(z) => *z,
                None => {
                    return Err(Error::Preflight(format!(
                        "hosted-zone: {} public hosted zones are named {domain} ({}); neo4j-gw cannot tell which one the \
                         domain is delegated to. Delete the unused one(s), then re-run",
                        many.len(),
                        many.iter()
                            .map(|z| bare_zone_id(z.id()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            },
        };
        let live = Live::new(ids([
            ("hosted_zone_id", bare_zone_id(zone.id()).to_owned()),
            ("name", domain),
        ]));
        Ok(Observation::Present(live))
    }

    async fn create(&self, _cx: &Cx) -> Result<Ids> {
        Err(Error::other(
            "hosted-zone: is not created by neo4j-gw (it is checked in pre-flight)",
        ))
    }

    async fn delete(&self, _cx: &Cx, _live: &Live) -> Result<()> {
        Err(Error::other("hosted-zone: is never deleted by neo4j-gw"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_ids_and_names_are_normalized() {
        assert_eq!(bare_zone_id("/hostedzone/Z123"), "Z123");
        assert_eq!(bare_zone_id("Z123"), "Z123");
        assert_eq!(normalize_name("Example.COM."), "example.com");
        assert_eq!(normalize_name("example.com"), "example.com");
    }
}
