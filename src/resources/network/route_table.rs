//! The public route table: the default route to the internet gateway and the associations of both subnets.

use async_trait::async_trait;
use aws_sdk_ec2::types::{ResourceType, RouteTable};

use crate::error::{self, Result};
use crate::resources::network::ec2::{self, our_filters, tag_pairs, tag_spec};
use crate::resources::{AwsResult, Cx, Drift, Duplicate, Live, Observation, Resource, ids};
use crate::resources::{Output, internet_gateway, subnet, vpc};
use crate::state::Ids;

pub const NODE: &str = "route-table";

const DEFAULT_ROUTE: &str = "0.0.0.0/0";
const SUBNETS: [Output; 2] = [subnet::A_ID, subnet::B_ID];

pub struct RouteTableResource;

impl RouteTableResource {
    /// The route table to keep and the other copies carrying this node's tags, from one filtered describe;
    /// without a record, the one in the stack's VPC is kept.
    async fn find(
        &self,
        cx: &Cx,
        recorded: Option<&Ids>,
    ) -> Result<(Option<RouteTable>, Vec<RouteTable>)> {
        let ec2 = &cx.aws().ec2;
        let recorded_id = recorded
            .and_then(|r| r.get("route_table_id"))
            .map(String::as_str);
        let out = ec2
            .describe_route_tables()
            .set_filters(Some(our_filters(cx)))
            .send()
            .await
            .aws(cx, "DescribeRouteTables")?;
        let vpc_id = cx.dep_opt(vpc::VPC_ID);
        let (kept, others) = ec2::copies(
            out.route_tables().to_vec(),
            recorded_id,
            |t| t.route_table_id(),
            |t| vpc_id.is_some() && t.vpc_id() == vpc_id.as_deref(),
        );
        if let (None, Some(id)) = (&kept, recorded_id) {
            match ec2.describe_route_tables().route_table_ids(id).send().await {
                Ok(out) => {
                    if let Some(t) = out.route_tables().first() {
                        return Ok((Some(t.clone()), others));
                    }
                }
                Err(e) if ec2::is_not_found(error::code_of(&e)) => {}
                Err(e) => return Err(error::aws(cx.node, "DescribeRouteTables", e)),
            }
            return Ok(ec2::first_kept(others));
        }
        Ok((kept, others))
    }

    /// Adds the default route and the missing associations.
    async fn repair(
        &self,
        cx: &Cx,
        rt_id: &str,
        route: RouteFix,
        associate: &[String],
    ) -> Result<()> {
        let ec2 = &cx.aws().ec2;
        let igw_id = cx.dep(internet_gateway::INTERNET_GATEWAY_ID)?;
        match route {
            RouteFix::Create => {
                ec2.create_route()
                    .route_table_id(rt_id)
                    .destination_cidr_block(DEFAULT_ROUTE)
                    .gateway_id(&igw_id)
                    .send()
                    .await
                    .aws(cx, "CreateRoute")?;
            }
            RouteFix::Replace => {
                ec2.replace_route()
                    .route_table_id(rt_id)
                    .destination_cidr_block(DEFAULT_ROUTE)
                    .gateway_id(&igw_id)
                    .send()
                    .await
                    .aws(cx, "ReplaceRoute")?;
            }
            RouteFix::None => {}
        }
        for subnet_id in associate {
            ec2.associate_route_table()
                .route_table_id(rt_id)
                .subnet_id(subnet_id)
                .send()
                .await
                .aws(cx, "AssociateRouteTable")?;
        }
        Ok(())
    }

    fn subnets(cx: &Cx) -> Vec<String> {
        SUBNETS.iter().filter_map(|s| cx.dep_opt(*s)).collect()
    }
}

#[derive(Clone, Copy)]
enum RouteFix {
    None,
    Create,
    Replace,
}

#[async_trait]
impl Resource for RouteTableResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "ec2:route-table"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &[
            vpc::NODE,
            internet_gateway::NODE,
            subnet::NODE_A,
            subnet::NODE_B,
        ]
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        let (Some(rt), others) = self.find(cx, recorded).await? else {
            return Ok(Observation::Missing);
        };
        let rt_id = rt.route_table_id().unwrap_or_default().to_owned();
        if !cx.is_ours(tag_pairs(rt.tags())) {
            return Ok(Observation::Foreign(format!(
                "route table {rt_id} is not tagged as this stack's"
            )));
        }
        let mut drift = Vec::new();
        if let Some(igw_id) = cx.dep_opt(internet_gateway::INTERNET_GATEWAY_ID) {
            let route = rt
                .routes()
                .iter()
                .find(|r| r.destination_cidr_block() == Some(DEFAULT_ROUTE));
            match route.and_then(|r| r.gateway_id()) {
                Some(g) if g == igw_id => {}
                Some(other) => drift.push(Drift::new("default_route", &igw_id, other)),
                None => drift.push(Drift::new("default_route", &igw_id, "missing")),
            }
        }
        let associated: Vec<&str> = rt
            .associations()
            .iter()
            .filter_map(|a| a.subnet_id())
            .collect();
        for subnet_id in Self::subnets(cx) {
            if !associated.contains(&subnet_id.as_str()) {
                drift.push(Drift::new(
                    format!("association:{subnet_id}"),
                    "associated",
                    "missing",
                ));
            }
        }
        let duplicates = others
            .iter()
            .filter_map(|t| t.route_table_id())
            .map(|id| Duplicate {
                id: id.to_owned(),
                ids: ids([("route_table_id", id.to_owned())]),
            })
            .collect();
        Ok(Observation::Present(
            Live::new(ids([("route_table_id", rt_id)]))
                .with_drift(drift)
                .with_duplicates(duplicates),
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
            .create_route_table()
            .vpc_id(vpc_id)
            .tag_specifications(tag_spec(cx, ResourceType::RouteTable, &cx.name("public")))
            // CreateRouteTable takes a ClientToken (aws-sdk-ec2 1.237 `CreateRouteTableInput`; "Ensuring
            // idempotency", EC2 API): a repeat of this create is recognised by AWS. The emulator ignores it, so
            // duplicates are still looked for (`observe`). At most 64 ASCII characters: the create token's 64 hex.
            .client_token(cx.create_token())
            .customize()
            .config_override(crate::aws::no_retry!(aws_sdk_ec2))
            .send()
            .await
            .aws(cx, "CreateRouteTable")?;
        let rt_id = out
            .route_table()
            .and_then(|t| t.route_table_id())
            .unwrap_or_default()
            .to_owned();
        self.repair(cx, &rt_id, RouteFix::Create, &Self::subnets(cx))
            .await?;
        Ok(ids([("route_table_id", rt_id)]))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        let route = match live.drift.iter().find(|d| d.attribute == "default_route") {
            Some(d) if d.actual == "missing" => RouteFix::Create,
            Some(_) => RouteFix::Replace,
            None => RouteFix::None,
        };
        let associate: Vec<String> = live
            .drift
            .iter()
            .filter_map(|d| d.attribute.strip_prefix("association:").map(str::to_owned))
            .collect();
        self.repair(cx, live.id("route_table_id")?, route, &associate)
            .await?;
        Ok(live.ids.clone())
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        let rt_id = live.id("route_table_id")?.to_owned();
        let ec2 = &cx.aws().ec2;
        if let (Some(rt), _) = self.find(cx, Some(&live.ids)).await?
            && rt.route_table_id() == Some(rt_id.as_str())
        {
            for a in rt.associations() {
                if a.main() == Some(true) {
                    continue;
                }
                if let Some(assoc) = a.route_table_association_id() {
                    match ec2
                        .disassociate_route_table()
                        .association_id(assoc)
                        .send()
                        .await
                    {
                        Ok(_) => {}
                        Err(e) if ec2::is_not_found(error::code_of(&e)) => {}
                        Err(e) => return Err(error::aws(cx.node, "DisassociateRouteTable", e)),
                    }
                }
            }
        }
        let ec2 = ec2.clone();
        ec2::delete_with_dependency_retry(
            cx,
            "DeleteRouteTable",
            ec2::filter("vpc-id", "none"),
            || {
                let (ec2, rt_id) = (ec2.clone(), rt_id.clone());
                async move {
                    ec2.delete_route_table()
                        .route_table_id(rt_id)
                        .send()
                        .await
                        .map(|_| ())
                }
            },
        )
        .await
    }
}
