//! The internet-facing Application Load Balancer in both public subnets, behind the ALB security group.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    IpAddressType, LoadBalancer, LoadBalancerSchemeEnum, LoadBalancerStateEnum,
    LoadBalancerTypeEnum,
};

use crate::error::{self, Result};
use crate::resources::edge::elb::{self, is_ours, tags_of};
use crate::resources::network::ec2::filter;
use crate::resources::{
    AwsResult, Cx, Drift, Health, Live, Observation, Resource, TAG_RESOURCE, TAG_STACK, ids,
};
use crate::resources::{Output, internet_gateway, security_group, subnet, vpc};
use crate::state::Ids;
use crate::wait::{self, Poll};

pub const ARN: Output = Output::new(NODE, "arn");
pub const DNS_NAME: Output = Output::new(NODE, "dns_name");
pub const CANONICAL_HOSTED_ZONE_ID: Output = Output::new(NODE, "canonical_hosted_zone_id");

pub const NODE: &str = "load-balancer";

pub struct LoadBalancerResource;

async fn describe(cx: &Cx, arn: Option<&str>, name: Option<&str>) -> Result<Option<LoadBalancer>> {
    let mut req = cx.aws().elb.describe_load_balancers();
    if let Some(arn) = arn {
        req = req.load_balancer_arns(arn);
    }
    if let Some(name) = name {
        req = req.names(name);
    }
    Ok(req
        .send()
        .await
        .or_gone_code(cx, "DescribeLoadBalancers", elb::is_not_found)?
        .and_then(|out| out.load_balancers().first().cloned()))
}

async fn find(cx: &Cx, recorded_arn: Option<&str>) -> Result<Option<LoadBalancer>> {
    if let Some(arn) = recorded_arn
        && let Some(lb) = describe(cx, Some(arn), None).await?
    {
        return Ok(Some(lb));
    }
    describe(cx, None, Some(&format!("{}-alb", cx.stack()))).await
}

/// This stack's load balancer's IDs (`arn`, `dns_name`, `canonical_hosted_zone_id`), for nodes that need them
/// before the load-balancer node has been observed: `down` without a state file walks the listener and the DNS
/// record before the load balancer. Read-only; only a load balancer tagged as this stack's counts.
pub async fn of_stack(cx: &Cx) -> Result<Option<Ids>> {
    let known: Option<Ids> = [ARN, DNS_NAME, CANONICAL_HOSTED_ZONE_ID]
        .into_iter()
        .map(|o| cx.dep_opt(o).map(|v| (o.key.to_owned(), v)))
        .collect();
    if known.is_some() {
        return Ok(known);
    }
    let Some(lb) = find(cx, cx.dep_opt(ARN).as_deref()).await? else {
        return Ok(None);
    };
    let tags = tags_of(cx, lb.load_balancer_arn().unwrap_or_default()).await?;
    let has = |k: &str, v: &str| tags.iter().any(|(tk, tv)| tk == k && tv == v);
    if !(has(TAG_STACK, cx.stack()) && has(TAG_RESOURCE, NODE)) {
        return Ok(None);
    }
    Ok(Some(ids_of(&lb)))
}

fn health_of(lb: &LoadBalancer) -> Health {
    let state = lb.state();
    let reason = state.and_then(|s| s.reason()).unwrap_or("no reason given");
    match state.and_then(|s| s.code()) {
        Some(LoadBalancerStateEnum::Active) => Health::Ready,
        Some(LoadBalancerStateEnum::Provisioning) => Health::Pending("provisioning".into()),
        Some(LoadBalancerStateEnum::ActiveImpaired) => {
            Health::Unhealthy(format!("active_impaired: {reason}"))
        }
        Some(LoadBalancerStateEnum::Failed) => Health::Unhealthy(format!("failed: {reason}")),
        Some(other) => Health::Pending(other.as_str().to_owned()),
        None => Health::Pending("no state reported".into()),
    }
}

fn ids_of(lb: &LoadBalancer) -> Ids {
    ids([
        ("arn", lb.load_balancer_arn().unwrap_or_default().to_owned()),
        ("dns_name", lb.dns_name().unwrap_or_default().to_owned()),
        (
            "canonical_hosted_zone_id",
            lb.canonical_hosted_zone_id().unwrap_or_default().to_owned(),
        ),
    ])
}

/// The subnets and security group the load balancer should have, when they are known.
fn desired_subnets(cx: &Cx) -> Option<BTreeSet<String>> {
    Some(
        [cx.dep_opt(subnet::A_ID)?, cx.dep_opt(subnet::B_ID)?]
            .into_iter()
            .collect(),
    )
}

fn desired_groups(cx: &Cx) -> Option<BTreeSet<String>> {
    Some(
        [cx.dep_opt(security_group::ALB_GROUP_ID)?]
            .into_iter()
            .collect(),
    )
}

fn list(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(",")
}

/// `ELB app/<name>/<id>`: the description AWS gives the load balancer's network interfaces.
fn eni_description(arn: &str) -> Option<String> {
    arn.split_once(":loadbalancer/")
        .map(|(_, rest)| format!("ELB {rest}"))
}

#[async_trait]
impl Resource for LoadBalancerResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "elbv2:load-balancer"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &[
            subnet::NODE_A,
            subnet::NODE_B,
            security_group::ALB_NODE,
            internet_gateway::NODE,
        ]
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        let recorded_arn = recorded.and_then(|r| r.get("arn")).map(String::as_str);
        let reads = |arn: String| async move { tags_of(cx, &arn).await };
        let (found, early) =
            crate::resources::alongside(cx, recorded_arn, find(cx, recorded_arn), reads).await;
        let Some(lb) = found? else {
            return Ok(Observation::Missing);
        };
        let arn = lb.load_balancer_arn().unwrap_or_default().to_owned();
        if !is_ours(cx, &crate::resources::reads_for(early, &arn, reads).await?) {
            return Ok(Observation::Foreign(format!(
                "load balancer {} ({arn}) is not tagged as this stack's",
                lb.load_balancer_name().unwrap_or_default()
            )));
        }
        let mut drift = Vec::new();
        let scheme = lb.scheme().map(|s| s.as_str()).unwrap_or("unset");
        if scheme != "internet-facing" {
            drift.push(Drift::new("scheme", "internet-facing", scheme).replace());
        }
        let kind = lb.r#type().map(|t| t.as_str()).unwrap_or("unset");
        if kind != "application" {
            drift.push(Drift::new("type", "application", kind).replace());
        }
        if let Some(vpc) = cx.dep_opt(vpc::VPC_ID) {
            let actual = lb.vpc_id().unwrap_or("unset");
            if actual != vpc {
                drift.push(Drift::new("vpc_id", vpc, actual).replace());
            }
        }
        let ip_type = lb.ip_address_type().map(|t| t.as_str()).unwrap_or("unset");
        if ip_type != "ipv4" {
            drift.push(Drift::new("ip_address_type", "ipv4", ip_type));
        }
        if let Some(want) = desired_subnets(cx) {
            let actual: BTreeSet<String> = lb
                .availability_zones()
                .iter()
                .filter_map(|z| z.subnet_id())
                .map(str::to_owned)
                .collect();
            if actual != want {
                drift.push(Drift::new("subnets", list(&want), list(&actual)));
            }
        }
        if let Some(want) = desired_groups(cx) {
            let actual: BTreeSet<String> = lb.security_groups().iter().cloned().collect();
            if actual != want {
                drift.push(Drift::new("security_groups", list(&want), list(&actual)));
            }
        }
        let mut live = Live::new(ids_of(&lb)).with_drift(drift);
        live.health = health_of(&lb);
        live.details.push((
            "state".into(),
            lb.state()
                .and_then(|s| s.code())
                .map(|c| c.as_str())
                .unwrap_or("unknown")
                .into(),
        ));
        Ok(Observation::Present(live))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let name = format!("{}-alb", cx.stack());
        let out = cx
            .aws()
            .elb
            .create_load_balancer()
            .name(&name)
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(LoadBalancerSchemeEnum::InternetFacing)
            .ip_address_type(IpAddressType::Ipv4)
            .subnets(cx.dep(subnet::A_ID)?)
            .subnets(cx.dep(subnet::B_ID)?)
            .security_groups(cx.dep(security_group::ALB_GROUP_ID)?)
            .set_tags(Some(elb::tags(cx, &name)))
            .send()
            .await
            .aws(cx, "CreateLoadBalancer")?;
        let lb = out.load_balancers().first().ok_or_else(|| {
            crate::error::Error::other(
                "load-balancer: CreateLoadBalancer returned no load balancer",
            )
        })?;
        Ok(ids_of(lb))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        let arn = live.id("arn")?;
        let elbv2 = &cx.aws().elb;
        for d in &live.drift {
            match d.attribute.as_str() {
                "subnets" => {
                    elbv2
                        .set_subnets()
                        .load_balancer_arn(arn)
                        .subnets(cx.dep(subnet::A_ID)?)
                        .subnets(cx.dep(subnet::B_ID)?)
                        .send()
                        .await
                        .aws(cx, "SetSubnets")?;
                }
                "security_groups" => {
                    elbv2
                        .set_security_groups()
                        .load_balancer_arn(arn)
                        .security_groups(cx.dep(security_group::ALB_GROUP_ID)?)
                        .send()
                        .await
                        .aws(cx, "SetSecurityGroups")?;
                }
                "ip_address_type" => {
                    elbv2
                        .set_ip_address_type()
                        .load_balancer_arn(arn)
                        .ip_address_type(IpAddressType::Ipv4)
                        .send()
                        .await
                        .aws(cx, "SetIpAddressType")?;
                }
                _ => {}
            }
        }
        Ok(live.ids.clone())
    }

    async fn wait_ready(&self, cx: &Cx, ids: &Ids) -> Result<()> {
        let arn = ids.get("arn").cloned().unwrap_or_default();
        wait::until(
            cx,
            "the load balancer to be active",
            cx.settings().wait_timeout,
            || {
                let arn = arn.clone();
                async move {
                    let Some(lb) = describe(cx, Some(&arn), None).await? else {
                        return Ok(Poll::Failed(format!(
                            "load balancer {arn} no longer exists"
                        )));
                    };
                    Ok(match health_of(&lb) {
                        Health::Ready => Poll::Ready(()),
                        // It routes traffic; AWS is adding capacity.
                        Health::Unhealthy(m) if m.starts_with("active_impaired") => Poll::Ready(()),
                        Health::Unhealthy(m) => Poll::Failed(m),
                        Health::Pending(m) => Poll::Pending(m),
                    })
                }
            },
        )
        .await
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        let arn = live.id("arn")?.to_owned();
        match cx
            .aws()
            .elb
            .delete_load_balancer()
            .load_balancer_arn(&arn)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if elb::is_not_found(error::code_of(&e)) => {}
            Err(e) => return Err(error::aws(cx.node, "DeleteLoadBalancer", e)),
        }
        let timeout = cx.settings().wait_timeout;
        wait::until(cx, "the load balancer to be gone", timeout, || {
            let arn = arn.clone();
            async move {
                Ok(match describe(cx, Some(&arn), None).await? {
                    None => Poll::Ready(()),
                    Some(lb) => Poll::Pending(
                        lb.state()
                            .and_then(|s| s.code())
                            .map(|c| c.as_str().to_owned())
                            .unwrap_or_else(|| "still listed".into()),
                    ),
                })
            }
        })
        .await?;
        // Its network interfaces outlive it briefly; they block the deletion of the security group and subnets.
        let Some(description) = eni_description(&arn) else {
            return Ok(());
        };
        wait::until(
            cx,
            "the load balancer's network interfaces to be released",
            timeout,
            || {
                let description = description.clone();
                async move {
                    let out = cx
                        .aws()
                        .ec2
                        .describe_network_interfaces()
                        .filters(filter("description", &description))
                        .send()
                        .await
                        .aws(cx, "DescribeNetworkInterfaces")?;
                    let left: Vec<&str> = out
                        .network_interfaces()
                        .iter()
                        .filter_map(|n| n.network_interface_id())
                        .collect();
                    Ok(if left.is_empty() {
                        Poll::Ready(())
                    } else {
                        Poll::Pending(format!("{} left: {}", left.len(), left.join(", ")))
                    })
                }
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::eni_description;

    #[test]
    fn network_interface_description_comes_from_the_arn() {
        assert_eq!(
            eni_description("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/s-alb/64fe551c5f034090").as_deref(),
            Some("ELB app/s-alb/64fe551c5f034090")
        );
        assert_eq!(eni_description("nonsense"), None);
    }
}
