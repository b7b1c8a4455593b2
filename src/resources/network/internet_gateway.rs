//! The internet gateway, attached to the VPC.

use async_trait::async_trait;
use aws_sdk_ec2::types::{InternetGateway, ResourceType};

use crate::error::{self, Result};
use crate::resources::network::ec2::{self, our_filters, tag_pairs, tag_spec};
use crate::resources::{AwsResult, Cx, Drift, Duplicate, Live, Observation, Resource, ids};
use crate::resources::{Output, vpc};
use crate::state::Ids;

pub const NODE: &str = "internet-gateway";
pub const INTERNET_GATEWAY_ID: Output = Output::new(NODE, "internet_gateway_id");

/// EC2's answer to detaching a gateway that is not attached (to that VPC): the goal is reached.
const NOT_ATTACHED: &str = "Gateway.NotAttached";

pub struct InternetGatewayResource;

impl InternetGatewayResource {
    /// The gateway to keep and the other copies carrying this node's tags, from one filtered describe; without a
    /// record, the one attached to the stack's VPC is kept.
    async fn find(
        &self,
        cx: &Cx,
        recorded: Option<&Ids>,
    ) -> Result<(Option<InternetGateway>, Vec<InternetGateway>)> {
        let ec2 = &cx.aws().ec2;
        let recorded_id = recorded
            .and_then(|r| r.get("internet_gateway_id"))
            .map(String::as_str);
        let out = ec2
            .describe_internet_gateways()
            .set_filters(Some(our_filters(cx)))
            .send()
            .await
            .aws(cx, "DescribeInternetGateways")?;
        let vpc_id = cx.dep_opt(vpc::VPC_ID);
        let (kept, others) = ec2::copies(
            out.internet_gateways().to_vec(),
            recorded_id,
            |g| g.internet_gateway_id(),
            |g| {
                g.attachments()
                    .iter()
                    .any(|a| vpc_id.is_some() && a.vpc_id() == vpc_id.as_deref())
            },
        );
        if let (None, Some(id)) = (&kept, recorded_id) {
            match ec2
                .describe_internet_gateways()
                .internet_gateway_ids(id)
                .send()
                .await
            {
                Ok(out) => {
                    if let Some(g) = out.internet_gateways().first() {
                        return Ok((Some(g.clone()), others));
                    }
                }
                Err(e) if ec2::is_not_found(error::code_of(&e)) => {}
                Err(e) => return Err(error::aws(cx.node, "DescribeInternetGateways", e)),
            }
            return Ok(ec2::first_kept(others));
        }
        Ok((kept, others))
    }

    async fn attach(&self, cx: &Cx, igw_id: &str, vpc_id: &str) -> Result<()> {
        cx.aws()
            .ec2
            .attach_internet_gateway()
            .internet_gateway_id(igw_id)
            .vpc_id(vpc_id)
            .send()
            .await
            .aws(cx, "AttachInternetGateway")?;
        Ok(())
    }
}

#[async_trait]
impl Resource for InternetGatewayResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "ec2:internet-gateway"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &[vpc::NODE]
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        let (Some(igw), others) = self.find(cx, recorded).await? else {
            return Ok(Observation::Missing);
        };
        let igw_id = igw.internet_gateway_id().unwrap_or_default().to_owned();
        if !cx.is_ours(tag_pairs(igw.tags())) {
            return Ok(Observation::Foreign(format!(
                "internet gateway {igw_id} is not tagged as this stack's"
            )));
        }
        let attached: Vec<String> = igw
            .attachments()
            .iter()
            .filter_map(|a| a.vpc_id().map(str::to_owned))
            .collect();
        let mut drift = Vec::new();
        if let Some(vpc_id) = cx.dep_opt(vpc::VPC_ID)
            && !attached.contains(&vpc_id)
        {
            drift.push(Drift::new(
                "attachment",
                &vpc_id,
                if attached.is_empty() {
                    "detached".into()
                } else {
                    attached.join(",")
                },
            ));
        }
        let mut ids = ids([("internet_gateway_id", igw_id)]);
        if let Some(v) = attached.first() {
            ids.insert("attached_vpc_id".into(), v.clone());
        }
        let duplicates = others
            .iter()
            .map(|g| {
                let id = g.internet_gateway_id().unwrap_or_default().to_owned();
                let mut ids = crate::resources::ids([("internet_gateway_id", id.clone())]);
                if let Some(v) = g.attachments().iter().find_map(|a| a.vpc_id()) {
                    ids.insert("attached_vpc_id".into(), v.to_owned());
                }
                Duplicate { id, ids }
            })
            .collect();
        Ok(Observation::Present(
            Live::new(ids).with_drift(drift).with_duplicates(duplicates),
        ))
    }

    fn settle(&self, cx: &Cx) -> Option<std::time::Duration> {
        Some(crate::resources::settle_bound(cx))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let vpc_id = cx.dep(vpc::VPC_ID)?;
        let out = cx
            .aws()
            .ec2
            .create_internet_gateway()
            .tag_specifications(tag_spec(cx, ResourceType::InternetGateway, &cx.name("igw")))
            .customize()
            .config_override(crate::aws::no_retry!(aws_sdk_ec2))
            .send()
            .await
            .aws(cx, "CreateInternetGateway")?;
        let igw_id = out
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .unwrap_or_default()
            .to_owned();
        self.attach(cx, &igw_id, &vpc_id).await?;
        Ok(ids([
            ("internet_gateway_id", igw_id),
            ("attached_vpc_id", vpc_id),
        ]))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        let vpc_id = cx.dep(vpc::VPC_ID)?;
        let igw_id = live.id("internet_gateway_id")?;
        if let Some(other) = live.ids.get("attached_vpc_id") {
            match cx
                .aws()
                .ec2
                .detach_internet_gateway()
                .internet_gateway_id(igw_id)
                .vpc_id(other)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if error::code_of(&e) == Some(NOT_ATTACHED) => {}
                Err(e) => return Err(error::aws(cx.node, "DetachInternetGateway", e)),
            }
        }
        self.attach(cx, igw_id, &vpc_id).await?;
        Ok(ids([
            ("internet_gateway_id", igw_id.to_owned()),
            ("attached_vpc_id", vpc_id),
        ]))
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        let igw_id = live.id("internet_gateway_id")?.to_owned();
        let ec2 = cx.aws().ec2.clone();
        if let Some(vpc_id) = live.ids.get("attached_vpc_id").cloned() {
            ec2::delete_with_dependency_retry(
                cx,
                "DetachInternetGateway",
                ec2::filter("vpc-id", &vpc_id),
                || {
                    let (ec2, igw_id, vpc_id) = (ec2.clone(), igw_id.clone(), vpc_id.clone());
                    async move {
                        match ec2
                            .detach_internet_gateway()
                            .internet_gateway_id(igw_id)
                            .vpc_id(vpc_id)
                            .send()
                            .await
                        {
                            // Already detached (e.g. a repeated call whose first answer was lost).
                            Err(e) if error::code_of(&e) == Some(NOT_ATTACHED) => Ok(()),
                            other => other.map(|_| ()),
                        }
                    }
                },
            )
            .await?;
        }
        ec2.delete_internet_gateway()
            .internet_gateway_id(&igw_id)
            .send()
            .await
            .or_gone_code(cx, "DeleteInternetGateway", ec2::is_not_found)
            .map(|_| ())
    }
}
