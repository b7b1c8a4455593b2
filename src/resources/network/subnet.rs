//! The two public subnets, one per availability zone, with public IPs on launch.

use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, ResourceType, Subnet};

use crate::error::{self, Error, Result};
use crate::resources::network::ec2::{self, our_filters, tag_pairs, tag_spec};
use crate::resources::{AwsResult, Cx, Drift, Duplicate, Live, Observation, Resource, ids};
use crate::resources::{Output, vpc};
use crate::state::Ids;

pub const NODE_A: &str = "subnet-a";
pub const NODE_B: &str = "subnet-b";
pub const A_ID: Output = Output::new(NODE_A, "subnet_id");
pub const B_ID: Output = Output::new(NODE_B, "subnet_id");

pub struct SubnetResource {
    pub node: &'static str,
    /// 0 for the first availability zone and 10.0.0.0/24, 1 for the second and 10.0.1.0/24.
    pub index: usize,
}

pub const SUBNETS: [SubnetResource; 2] = [
    SubnetResource {
        node: NODE_A,
        index: 0,
    },
    SubnetResource {
        node: NODE_B,
        index: 1,
    },
];

impl SubnetResource {
    fn cidr(&self) -> String {
        format!("10.0.{}.0/24", self.index)
    }

    async fn zone(&self, cx: &Cx) -> Result<String> {
        let out = cx
            .aws()
            .ec2
            .describe_availability_zones()
            .filters(Filter::builder().name("state").values("available").build())
            .send()
            .await
            .aws(cx, "DescribeAvailabilityZones")?;
        let mut zones: Vec<String> = out
            .availability_zones()
            .iter()
            .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
            .filter_map(|z| z.zone_name().map(str::to_owned))
            .collect();
        zones.sort();
        zones.get(self.index).cloned().ok_or_else(|| {
            Error::Preflight(format!(
                "{}: the region {} has fewer than two available zones",
                cx.node,
                cx.aws().region
            ))
        })
    }

    /// The subnet to keep and the other copies carrying this node's tags (a copy in another VPC: a subnet's CIDR
    /// is unique within its VPC). Without a record, the one in the stack's VPC is kept.
    async fn find(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<(Option<Subnet>, Vec<Subnet>)> {
        let ec2 = &cx.aws().ec2;
        let recorded_id = recorded
            .and_then(|r| r.get("subnet_id"))
            .map(String::as_str);
        // Both subnets (and their copies) in one call while every node is observed.
        let tagged: Vec<Subnet> = match cx
            .batched("ec2:DescribeSubnets", || async {
                let out = ec2
                    .describe_subnets()
                    .filters(ec2::stack_filter(cx))
                    .send()
                    .await
                    .aws(cx, "DescribeSubnets")?;
                Ok(out.subnets().to_vec())
            })
            .await
        {
            Some(all) => all
                .iter()
                .filter(|s| cx.is_ours(tag_pairs(s.tags())))
                .cloned()
                .collect(),
            None => ec2
                .describe_subnets()
                .set_filters(Some(our_filters(cx)))
                .send()
                .await
                .aws(cx, "DescribeSubnets")?
                .subnets()
                .to_vec(),
        };
        let vpc_id = cx.dep_opt(vpc::VPC_ID);
        let (kept, others) = ec2::copies(
            tagged,
            recorded_id,
            |s| s.subnet_id(),
            |s| vpc_id.is_some() && s.vpc_id() == vpc_id.as_deref(),
        );
        if let (None, Some(id)) = (&kept, recorded_id) {
            match ec2.describe_subnets().subnet_ids(id).send().await {
                Ok(out) => {
                    if let Some(s) = out.subnets().first() {
                        return Ok((Some(s.clone()), others));
                    }
                }
                Err(e) if ec2::is_not_found(error::code_of(&e)) => {}
                Err(e) => return Err(error::aws(cx.node, "DescribeSubnets", e)),
            }
            return Ok(ec2::first_kept(others));
        }
        Ok((kept, others))
    }

    async fn map_public_ip(&self, cx: &Cx, subnet_id: &str) -> Result<()> {
        cx.aws()
            .ec2
            .modify_subnet_attribute()
            .subnet_id(subnet_id)
            .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
            .send()
            .await
            .aws(cx, "ModifySubnetAttribute(MapPublicIpOnLaunch)")?;
        Ok(())
    }
}

#[async_trait]
impl Resource for SubnetResource {
    fn id(&self) -> &'static str {
        self.node
    }
    fn kind(&self) -> &'static str {
        "ec2:subnet"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &[vpc::NODE]
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        let (Some(subnet), others) = self.find(cx, recorded).await? else {
            return Ok(Observation::Missing);
        };
        let subnet_id = subnet.subnet_id().unwrap_or_default().to_owned();
        if !cx.is_ours(tag_pairs(subnet.tags())) {
            return Ok(Observation::Foreign(format!(
                "subnet {subnet_id} is not tagged as this stack's"
            )));
        }
        let mut drift = Vec::new();
        let cidr = subnet.cidr_block().unwrap_or_default();
        if cidr != self.cidr() {
            drift.push(Drift::new("cidr_block", self.cidr(), cidr).replace());
        }
        if let Some(vpc_id) = cx.dep_opt(vpc::VPC_ID)
            && subnet.vpc_id() != Some(vpc_id.as_str())
        {
            drift.push(Drift::new("vpc_id", &vpc_id, subnet.vpc_id().unwrap_or("-")).replace());
        }
        if subnet.map_public_ip_on_launch() != Some(true) {
            drift.push(Drift::new("map_public_ip_on_launch", true, false));
        }
        let zone = subnet.availability_zone().unwrap_or_default().to_owned();
        Ok(Observation::Present(
            Live::new(ids([("subnet_id", subnet_id), ("availability_zone", zone)]))
                .with_drift(drift)
                .with_duplicates(
                    others
                        .iter()
                        .filter_map(|s| s.subnet_id())
                        .map(|id| Duplicate {
                            id: id.to_owned(),
                            ids: ids([("subnet_id", id.to_owned())]),
                        })
                        .collect(),
                ),
        ))
    }

    fn settle(&self, cx: &Cx) -> Option<std::time::Duration> {
        Some(crate::resources::settle_bound(cx))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let vpc_id = cx.dep(vpc::VPC_ID)?;
        let zone = self.zone(cx).await?;
        let out = cx
            .aws()
            .ec2
            .create_subnet()
            .vpc_id(vpc_id)
            .cidr_block(self.cidr())
            .availability_zone(&zone)
            .tag_specifications(tag_spec(
                cx,
                ResourceType::Subnet,
                &cx.name(&format!("public-{}", &self.node[7..])),
            ))
            .customize()
            .config_override(crate::aws::no_retry!(aws_sdk_ec2))
            .send()
            .await
            .aws(cx, "CreateSubnet")?;
        let subnet_id = out
            .subnet()
            .and_then(|s| s.subnet_id())
            .unwrap_or_default()
            .to_owned();
        self.map_public_ip(cx, &subnet_id).await?;
        Ok(ids([("subnet_id", subnet_id), ("availability_zone", zone)]))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        self.map_public_ip(cx, live.id("subnet_id")?).await?;
        Ok(live.ids.clone())
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        let subnet_id = live.id("subnet_id")?.to_owned();
        let ec2 = cx.aws().ec2.clone();
        ec2::delete_with_dependency_retry(
            cx,
            "DeleteSubnet",
            ec2::filter("subnet-id", &subnet_id),
            || {
                let (ec2, subnet_id) = (ec2.clone(), subnet_id.clone());
                async move {
                    ec2.delete_subnet()
                        .subnet_id(subnet_id)
                        .send()
                        .await
                        .map(|_| ())
                }
            },
        )
        .await
    }
}
