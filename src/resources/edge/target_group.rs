//! The target group of the MCP tasks: IP targets on HTTP 8080, the configured health-check path answering 200,
//! explicit health-check timing and a 30 s deregistration delay (AWS's default of 300 s makes every deploy slow).

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Matcher, ProtocolEnum, TargetGroup, TargetGroupAttribute, TargetHealthStateEnum, TargetTypeEnum,
};

use crate::error::{self, Result};
use crate::resources::edge::elb::{self, is_ours, tags_of};
use crate::resources::{AwsResult, Cx, Drift, Live, Observation, Resource, ids};
use crate::resources::{Output, vpc};
use crate::state::Ids;
use crate::wait::{self, Poll};

pub const NODE: &str = "target-group";
pub const ARN: Output = Output::new(NODE, "arn");

/// The container port the tasks listen on.
pub const PORT: i32 = 8080;
pub const HEALTH_CHECK_INTERVAL_SECONDS: i32 = 15;
pub const HEALTH_CHECK_TIMEOUT_SECONDS: i32 = 5;
pub const HEALTHY_THRESHOLD: i32 = 2;
pub const UNHEALTHY_THRESHOLD: i32 = 3;
pub const MATCHER: &str = "200";
pub const DEREGISTRATION_DELAY_SECONDS: &str = "30";
const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";

pub struct TargetGroupResource;

/// The health-check attributes that can be changed in place, as (attribute, expected, actual).
fn health_check_drift(cx: &Cx, tg: &TargetGroup) -> Vec<Drift> {
    let mut drift = Vec::new();
    let mut check = |attr: &str, expected: String, actual: String| {
        if expected != actual {
            drift.push(Drift::new(attr, expected, actual));
        }
    };
    let num = |v: Option<i32>| v.map(|n| n.to_string()).unwrap_or_else(|| "unset".into());
    check(
        "health_check_enabled",
        "true".into(),
        tg.health_check_enabled().unwrap_or(false).to_string(),
    );
    check(
        "health_check_protocol",
        "HTTP".into(),
        tg.health_check_protocol()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "unset".into()),
    );
    check(
        "health_check_port",
        "traffic-port".into(),
        tg.health_check_port().unwrap_or("unset").to_owned(),
    );
    check(
        "health_check_path",
        cx.settings().health_check_path.clone(),
        tg.health_check_path().unwrap_or("unset").to_owned(),
    );
    check(
        "health_check_matcher",
        MATCHER.into(),
        tg.matcher()
            .and_then(|m| m.http_code())
            .unwrap_or("unset")
            .to_owned(),
    );
    check(
        "health_check_interval_seconds",
        HEALTH_CHECK_INTERVAL_SECONDS.to_string(),
        num(tg.health_check_interval_seconds()),
    );
    check(
        "health_check_timeout_seconds",
        HEALTH_CHECK_TIMEOUT_SECONDS.to_string(),
        num(tg.health_check_timeout_seconds()),
    );
    check(
        "healthy_threshold_count",
        HEALTHY_THRESHOLD.to_string(),
        num(tg.healthy_threshold_count()),
    );
    check(
        "unhealthy_threshold_count",
        UNHEALTHY_THRESHOLD.to_string(),
        num(tg.unhealthy_threshold_count()),
    );
    drift
}

impl TargetGroupResource {
    async fn find(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Option<TargetGroup>> {
        let elbv2 = &cx.aws().elb;
        if let Some(arn) = recorded.and_then(|r| r.get("arn")) {
            match elbv2
                .describe_target_groups()
                .target_group_arns(arn)
                .send()
                .await
            {
                Ok(out) => {
                    if let Some(tg) = out.target_groups().first() {
                        return Ok(Some(tg.clone()));
                    }
                }
                Err(e) if elb::is_not_found(error::code_of(&e)) => {}
                Err(e) => return Err(error::aws(cx.node, "DescribeTargetGroups", e)),
            }
        }
        Ok(elbv2
            .describe_target_groups()
            .names(cx.name("tg"))
            .send()
            .await
            .or_gone_code(cx, "DescribeTargetGroups", elb::is_not_found)?
            .and_then(|out| out.target_groups().first().cloned()))
    }

    async fn deregistration_delay(&self, cx: &Cx, arn: &str) -> Result<Option<String>> {
        let out = cx
            .aws()
            .elb
            .describe_target_group_attributes()
            .target_group_arn(arn)
            .send()
            .await
            .aws(cx, "DescribeTargetGroupAttributes")?;
        Ok(out
            .attributes()
            .iter()
            .find(|a| a.key() == Some(DEREGISTRATION_DELAY))
            .and_then(|a| a.value())
            .map(str::to_owned))
    }

    async fn set_deregistration_delay(&self, cx: &Cx, arn: &str) -> Result<()> {
        cx.aws()
            .elb
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .attributes(
                TargetGroupAttribute::builder()
                    .key(DEREGISTRATION_DELAY)
                    .value(DEREGISTRATION_DELAY_SECONDS)
                    .build(),
            )
            .send()
            .await
            .aws(cx, "ModifyTargetGroupAttributes")?;
        Ok(())
    }

    /// Target counts and the reasons of targets that are not healthy, for `status`.
    async fn target_health(&self, cx: &Cx, arn: &str) -> Result<Vec<(String, String)>> {
        let all = crate::resources::edge::elb::target_health(cx, arn).await?;
        let all = all.as_slice();
        let healthy = all
            .iter()
            .filter(|d| {
                d.target_health().and_then(|h| h.state()) == Some(&TargetHealthStateEnum::Healthy)
            })
            .count();
        let mut details = vec![(
            "healthy_targets".to_owned(),
            format!("{healthy}/{}", all.len()),
        )];
        for d in all {
            let Some(h) = d.target_health() else { continue };
            if h.state() == Some(&TargetHealthStateEnum::Healthy) {
                continue;
            }
            details.push((
                format!("target {}", d.target().and_then(|t| t.id()).unwrap_or("?")),
                format!(
                    "{} ({}{})",
                    h.state().map(|s| s.as_str()).unwrap_or("unknown"),
                    h.reason().map(|r| r.as_str()).unwrap_or("no reason"),
                    h.description()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                ),
            ));
        }
        Ok(details)
    }
}

#[async_trait]
impl Resource for TargetGroupResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "elbv2:target-group"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &[vpc::NODE]
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        // Tags, attributes and target health need only the ARN: read with the lookup (one round trip).
        let reads = |arn: String| async move {
            tokio::join!(
                tags_of(cx, &arn),
                self.deregistration_delay(cx, &arn),
                self.target_health(cx, &arn)
            )
        };
        let recorded_arn = recorded.and_then(|r| r.get("arn")).map(String::as_str);
        let (found, early) =
            crate::resources::alongside(cx, recorded_arn, self.find(cx, recorded), reads).await;
        let Some(tg) = found? else {
            return Ok(Observation::Missing);
        };
        let arn = tg.target_group_arn().unwrap_or_default().to_owned();
        let name = tg.target_group_name().unwrap_or_default().to_owned();
        let (tags, delay, health) = crate::resources::reads_for(early, &arn, reads).await;
        if !is_ours(cx, &tags?) {
            return Ok(Observation::Foreign(format!(
                "target group {name} ({arn}) is not tagged as this stack's"
            )));
        }
        let mut drift = Vec::new();
        let protocol = tg.protocol().map(|p| p.as_str()).unwrap_or("unset");
        if protocol != "HTTP" {
            drift.push(Drift::new("protocol", "HTTP", protocol).replace());
        }
        let port = tg
            .port()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "unset".into());
        if port != PORT.to_string() {
            drift.push(Drift::new("port", PORT, port).replace());
        }
        let target_type = tg.target_type().map(|t| t.as_str()).unwrap_or("unset");
        if target_type != "ip" {
            drift.push(Drift::new("target_type", "ip", target_type).replace());
        }
        if let Some(vpc) = cx.dep_opt(vpc::VPC_ID) {
            let actual = tg.vpc_id().unwrap_or("unset");
            if actual != vpc {
                drift.push(Drift::new("vpc_id", vpc, actual).replace());
            }
        }
        drift.extend(health_check_drift(cx, &tg));
        let delay = delay?.unwrap_or_else(|| "unset".into());
        if delay != DEREGISTRATION_DELAY_SECONDS {
            drift.push(Drift::new(
                DEREGISTRATION_DELAY,
                DEREGISTRATION_DELAY_SECONDS,
                delay,
            ));
        }
        let mut live = Live::new(ids([("arn", arn.clone()), ("name", name)])).with_drift(drift);
        // Informational: the service's wait decides whether the targets are healthy enough.
        live.details = health?;
        Ok(Observation::Present(live))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let name = cx.name("tg");
        let out = cx
            .aws()
            .elb
            .create_target_group()
            .name(&name)
            .protocol(ProtocolEnum::Http)
            .port(PORT)
            .vpc_id(cx.dep(vpc::VPC_ID)?)
            .target_type(TargetTypeEnum::Ip)
            .health_check_enabled(true)
            .health_check_protocol(ProtocolEnum::Http)
            .health_check_port("traffic-port")
            .health_check_path(&cx.settings().health_check_path)
            .matcher(Matcher::builder().http_code(MATCHER).build())
            .health_check_interval_seconds(HEALTH_CHECK_INTERVAL_SECONDS)
            .health_check_timeout_seconds(HEALTH_CHECK_TIMEOUT_SECONDS)
            .healthy_threshold_count(HEALTHY_THRESHOLD)
            .unhealthy_threshold_count(UNHEALTHY_THRESHOLD)
            .set_tags(Some(elb::tags(cx, &name)))
            .send()
            .await
            .aws(cx, "CreateTargetGroup")?;
        let arn = out
            .target_groups()
            .first()
            .and_then(|t| t.target_group_arn())
            .unwrap_or_default()
            .to_owned();
        self.set_deregistration_delay(cx, &arn).await?;
        Ok(ids([("arn", arn), ("name", name)]))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        let arn = live.id("arn")?;
        if live.drift.iter().any(|d| {
            d.attribute.starts_with("health_check") || d.attribute.ends_with("threshold_count")
        }) {
            cx.aws()
                .elb
                .modify_target_group()
                .target_group_arn(arn)
                .health_check_enabled(true)
                .health_check_protocol(ProtocolEnum::Http)
                .health_check_port("traffic-port")
                .health_check_path(&cx.settings().health_check_path)
                .matcher(Matcher::builder().http_code(MATCHER).build())
                .health_check_interval_seconds(HEALTH_CHECK_INTERVAL_SECONDS)
                .health_check_timeout_seconds(HEALTH_CHECK_TIMEOUT_SECONDS)
                .healthy_threshold_count(HEALTHY_THRESHOLD)
                .unhealthy_threshold_count(UNHEALTHY_THRESHOLD)
                .send()
                .await
                .aws(cx, "ModifyTargetGroup")?;
        }
        if live
            .drift
            .iter()
            .any(|d| d.attribute == DEREGISTRATION_DELAY)
        {
            self.set_deregistration_delay(cx, arn).await?;
        }
        Ok(live.ids.clone())
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        let arn = live.id("arn")?.to_owned();
        let what = "the target group to be released by its listener";
        wait::until(cx, what, cx.settings().wait_timeout, || {
            let arn = arn.clone();
            async move {
                let err = match cx.aws().elb.delete_target_group().target_group_arn(&arn).send().await {
                    Ok(_) => return Ok(Poll::Ready(())),
                    Err(e) if elb::is_not_found(error::code_of(&e)) => return Ok(Poll::Ready(())),
                    Err(e) if error::code_of(&e) == Some("ResourceInUse") => e,
                    Err(e) => return Err(error::aws(cx.node, "DeleteTargetGroup", e)),
                };
                // A listener or rule still forwarding to it will not go away by itself (e.g. when the group
                // must be replaced while the listener still uses it): say so at once instead of waiting.
                let users = match self.find(cx, Some(&live.ids)).await? {
                    Some(tg) => tg.load_balancer_arns().to_vec(),
                    None => return Ok(Poll::Ready(())),
                };
                if users.is_empty() {
                    // Released a moment ago (e.g. its service was just deleted); AWS catches up.
                    return Ok(Poll::Pending(format!("in use ({})", error::aws(cx.node, "DeleteTargetGroup", err))));
                }
                Ok(Poll::Failed(format!(
                    "a listener or rule of load balancer {} still forwards to it. Delete that listener (this stack's \
                     listener is recreated by the next `neo4j-gw up`), then re-run",
                    users.join(", ")
                )))
            }
        })
        .await
    }
}
