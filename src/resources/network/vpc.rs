//! The VPC: 10.0.0.0/16 with DNS support and DNS hostnames on.

use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, Vpc, VpcAttributeName};

use crate::error::{self, Result};
use crate::resources::Output;
use crate::resources::network::ec2::{self, our_filters, tag_pairs, tag_spec};
use crate::resources::{AwsResult, Cx, Drift, Duplicate, Live, Observation, Resource, ids};
use crate::state::Ids;

pub const NODE: &str = "vpc";
pub const VPC_ID: Output = Output::new(NODE, "vpc_id");

pub const CIDR: &str = "10.0.0.0/16";

pub struct VpcResource;

fn duplicates(others: &[Vpc]) -> Vec<Duplicate> {
    others
        .iter()
        .filter_map(|v| v.vpc_id())
        .map(|id| Duplicate {
            id: id.to_owned(),
            ids: ids([("vpc_id", id.to_owned())]),
        })
        .collect()
}

impl VpcResource {
    /// The VPC to keep and the other copies carrying this node's tags: one filtered describe finds them all (the
    /// recorded one among them); only a recorded VPC without the tags is looked up by ID.
    async fn find(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<(Option<Vpc>, Vec<Vpc>)> {
        let ec2 = &cx.aws().ec2;
        let recorded_id = recorded.and_then(|r| r.get("vpc_id")).map(String::as_str);
        let out = ec2
            .describe_vpcs()
            .set_filters(Some(our_filters(cx)))
            .send()
            .await
            .aws(cx, "DescribeVpcs")?;
        let (kept, others) =
            ec2::copies(out.vpcs().to_vec(), recorded_id, |v| v.vpc_id(), |_| false);
        if let (None, Some(id)) = (&kept, recorded_id) {
            match ec2.describe_vpcs().vpc_ids(id).send().await {
                Ok(out) => {
                    if let Some(v) = out.vpcs().first() {
                        return Ok((Some(v.clone()), others));
                    }
                }
                Err(e) if ec2::is_not_found(error::code_of(&e)) => {}
                Err(e) => return Err(error::aws(cx.node, "DescribeVpcs", e)),
            }
            return Ok(ec2::first_kept(others));
        }
        Ok((kept, others))
    }

    async fn attribute(&self, cx: &Cx, vpc_id: &str, attr: VpcAttributeName) -> Result<bool> {
        let out = cx
            .aws()
            .ec2
            .describe_vpc_attribute()
            .vpc_id(vpc_id)
            .attribute(attr.clone())
            .send()
            .await
            .aws(cx, "DescribeVpcAttribute")?;
        let v = match attr {
            VpcAttributeName::EnableDnsHostnames => out.enable_dns_hostnames(),
            _ => out.enable_dns_support(),
        };
        Ok(v.and_then(|v| v.value()).unwrap_or(false))
    }

    async fn set_dns(&self, cx: &Cx, vpc_id: &str, support: bool, hostnames: bool) -> Result<()> {
        let ec2 = &cx.aws().ec2;
        let on = || AttributeBooleanValue::builder().value(true).build();
        if support {
            ec2.modify_vpc_attribute()
                .vpc_id(vpc_id)
                .enable_dns_support(on())
                .send()
                .await
                .aws(cx, "ModifyVpcAttribute(EnableDnsSupport)")?;
        }
        if hostnames {
            ec2.modify_vpc_attribute()
                .vpc_id(vpc_id)
                .enable_dns_hostnames(on())
                .send()
                .await
                .aws(cx, "ModifyVpcAttribute(EnableDnsHostnames)")?;
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for VpcResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "ec2:vpc"
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        // With a recorded ID, the two DNS attributes are read at the same time as the VPC: one round trip, not three.
        let dns = |id: String| async move {
            tokio::join!(
                self.attribute(cx, &id, VpcAttributeName::EnableDnsSupport),
                self.attribute(cx, &id, VpcAttributeName::EnableDnsHostnames)
            )
        };
        let recorded_id = recorded.and_then(|r| r.get("vpc_id")).map(String::as_str);
        let (found, early) =
            crate::resources::alongside(cx, recorded_id, self.find(cx, recorded), dns).await;
        let (Some(vpc), others) = found? else {
            return Ok(Observation::Missing);
        };
        let vpc_id = vpc.vpc_id().unwrap_or_default().to_owned();
        if !cx.is_ours(tag_pairs(vpc.tags())) {
            return Ok(Observation::Foreign(format!(
                "VPC {vpc_id} is not tagged {}={}",
                crate::resources::TAG_STACK,
                cx.stack()
            )));
        }
        let mut drift = Vec::new();
        let cidr = vpc.cidr_block().unwrap_or_default();
        if cidr != CIDR {
            drift.push(Drift::new("cidr_block", CIDR, cidr).replace());
        }
        let (support, hostnames) = crate::resources::reads_for(early, &vpc_id, dns).await;
        let (support, hostnames) = (support?, hostnames?);
        if !support {
            drift.push(Drift::new("enable_dns_support", true, false));
        }
        if !hostnames {
            drift.push(Drift::new("enable_dns_hostnames", true, false));
        }
        Ok(Observation::Present(
            Live::new(ids([("vpc_id", vpc_id)]))
                .with_drift(drift)
                .with_duplicates(duplicates(&others)),
        ))
    }

    fn settle(&self, cx: &Cx) -> Option<std::time::Duration> {
        Some(crate::resources::settle_bound(cx))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let out = cx
            .aws()
            .ec2
            .create_vpc()
            .cidr_block(CIDR)
            .tag_specifications(tag_spec(cx, ResourceType::Vpc, &cx.name("vpc")))
            .customize()
            .config_override(crate::aws::no_retry!(aws_sdk_ec2))
            .send()
            .await
            .aws(cx, "CreateVpc")?;
        let vpc_id = out
            .vpc()
            .and_then(|v| v.vpc_id())
            .unwrap_or_default()
            .to_owned();
        self.set_dns(cx, &vpc_id, true, true).await?;
        Ok(ids([("vpc_id", vpc_id)]))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        let vpc_id = live.id("vpc_id")?;
        let has = |a: &str| live.drift.iter().any(|d| d.attribute == a);
        self.set_dns(
            cx,
            vpc_id,
            has("enable_dns_support"),
            has("enable_dns_hostnames"),
        )
        .await?;
        Ok(live.ids.clone())
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        let vpc_id = live.id("vpc_id")?.to_owned();
        let ec2 = cx.aws().ec2.clone();
        ec2::delete_with_dependency_retry(cx, "DeleteVpc", ec2::filter("vpc-id", &vpc_id), || {
            let ec2 = ec2.clone();
            let vpc_id = vpc_id.clone();
            async move { ec2.delete_vpc().vpc_id(vpc_id).send().await.map(|_| ()) }
        })
        .await
    }
}
