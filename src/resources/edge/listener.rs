//! The HTTPS:443 listener of the load balancer: the stack's certificate, a TLS 1.3 security policy, and a default
//! action. With the origin lock (the default) the default action answers 403 and only the origin rule
//! (`origin_rule`) forwards — requests that carry the origin value the gateway adds; without it, every request
//! is forwarded to the target group, as in the sample.

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, Listener, ProtocolEnum,
};

use crate::error::{self, Error, Result};
use crate::resources::edge::elb::{self, is_ours, tags_of};
use crate::resources::load_balancer;
use crate::resources::{AwsResult, Cx, Drift, Live, Observation, Resource, ids};
use crate::resources::{Output, certificate, target_group};
use crate::state::Ids;

pub const NODE: &str = "listener";
pub const ARN: Output = Output::new(NODE, "arn");

pub const PORT: i32 = 443;
/// TLS 1.3 and 1.2 with forward-secret ciphers only.
pub const SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

pub struct ListenerResource;

/// The certificate the listener should use: the one pre-flight checked, else the setting.
fn desired_certificate(cx: &Cx) -> Option<String> {
    cx.dep_opt(certificate::CERTIFICATE_ARN)
        .or_else(|| cx.settings().certificate_arn.clone())
}

/// The listener's default certificate (`describe_listeners` lists only that one).
fn certificate_of(l: &Listener) -> Option<&str> {
    let certs = l.certificates();
    certs
        .iter()
        .find(|c| c.is_default() == Some(true))
        .or_else(|| certs.first())
        .and_then(|c| c.certificate_arn())
}

/// The default actions as text: `forward:<tg arn>` for a plain forward (AWS reports it both as `TargetGroupArn`
/// and as a one-group `ForwardConfig`), the action type otherwise.
fn actions_of(l: &Listener) -> Vec<String> {
    l.default_actions()
        .iter()
        .map(|a| match a.r#type() {
            Some(ActionTypeEnum::Forward) => {
                let mut groups: Vec<&str> = a
                    .forward_config()
                    .map(|f| {
                        f.target_groups()
                            .iter()
                            .filter_map(|t| t.target_group_arn())
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(arn) = a.target_group_arn()
                    && !groups.contains(&arn)
                {
                    groups.push(arn);
                }
                format!("forward:{}", groups.join("+"))
            }
            Some(ActionTypeEnum::FixedResponse) => format!(
                "fixed-response:{}",
                a.fixed_response_config()
                    .and_then(|f| f.status_code())
                    .unwrap_or("?")
            ),
            Some(other) => other.as_str().to_owned(),
            None => "unknown".to_owned(),
        })
        .collect()
}

/// What a request that matches no rule gets: 403 with the origin lock, the target group without.
fn default_action(cx: &Cx) -> Result<Action> {
    if cx.settings().origin_lock {
        Ok(Action::builder()
            .r#type(ActionTypeEnum::FixedResponse)
            .fixed_response_config(
                FixedResponseActionConfig::builder()
                    .status_code("403")
                    .content_type("text/plain")
                    .message_body("Forbidden: only the AgentCore gateway may call this server")
                    .build(),
            )
            .build())
    } else {
        Ok(Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn(cx.dep(target_group::ARN)?)
            .build())
    }
}

/// [`default_action`] as [`actions_of`] reports it.
fn desired_default(cx: &Cx) -> Option<String> {
    if cx.settings().origin_lock {
        Some("fixed-response:403".into())
    } else {
        cx.dep_opt(target_group::ARN)
            .map(|tg| format!("forward:{tg}"))
    }
}

impl ListenerResource {
    async fn find(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Option<Listener>> {
        let elbv2 = &cx.aws().elb;
        if let Some(arn) = recorded.and_then(|r| r.get("arn")) {
            match elbv2.describe_listeners().listener_arns(arn).send().await {
                Ok(out) => {
                    if let Some(l) = out.listeners().first() {
                        return Ok(Some(l.clone()));
                    }
                }
                Err(e) if elb::is_not_found(error::code_of(&e)) => {}
                Err(e) => return Err(error::aws(cx.node, "DescribeListeners", e)),
            }
        }
        // By the load balancer's port 443 (found by name when it is not known yet, as in `down` without state).
        let Some(lb_arn) = load_balancer::of_stack(cx)
            .await?
            .and_then(|ids| ids.get("arn").cloned())
        else {
            return Ok(None);
        };
        Ok(elbv2
            .describe_listeners()
            .load_balancer_arn(lb_arn)
            .send()
            .await
            .or_gone_code(cx, "DescribeListeners", elb::is_not_found)?
            .and_then(|out| {
                out.listeners()
                    .iter()
                    .find(|l| l.port() == Some(PORT))
                    .cloned()
            }))
    }
}

#[async_trait]
impl Resource for ListenerResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "elbv2:listener"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &[load_balancer::NODE, target_group::NODE, certificate::NODE]
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        let recorded_arn = recorded.and_then(|r| r.get("arn")).map(String::as_str);
        let reads = |arn: String| async move { tags_of(cx, &arn).await };
        let (found, early) =
            crate::resources::alongside(cx, recorded_arn, self.find(cx, recorded), reads).await;
        let Some(l) = found? else {
            return Ok(Observation::Missing);
        };
        let arn = l.listener_arn().unwrap_or_default().to_owned();
        if !is_ours(cx, &crate::resources::reads_for(early, &arn, reads).await?) {
            return Ok(Observation::Foreign(format!(
                "listener {arn} on port {PORT} is not tagged as this stack's"
            )));
        }
        let mut drift = Vec::new();
        let protocol = l.protocol().map(|p| p.as_str()).unwrap_or("unset");
        if protocol != "HTTPS" {
            drift.push(Drift::new("protocol", "HTTPS", protocol));
        }
        if let Some(want) = desired_certificate(cx) {
            let actual = certificate_of(&l).unwrap_or("none");
            if actual != want {
                drift.push(Drift::new("certificate", want, actual));
            }
        }
        let policy = l.ssl_policy().unwrap_or("none");
        if policy != SSL_POLICY {
            drift.push(Drift::new("ssl_policy", SSL_POLICY, policy));
        }
        if let Some(want) = desired_default(cx) {
            let want = vec![want];
            let actual = actions_of(&l);
            if actual != want {
                drift.push(Drift::new(
                    "default_action",
                    want.join(", "),
                    actual.join(", "),
                ));
            }
        }
        Ok(Observation::Present(
            Live::new(ids([("arn", arn)])).with_drift(drift),
        ))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let certificate = desired_certificate(cx).ok_or_else(|| {
            Error::other("listener: no certificate known (--certificate-arn is required)")
        })?;
        let out = cx
            .aws()
            .elb
            .create_listener()
            .load_balancer_arn(cx.dep(load_balancer::ARN)?)
            .protocol(ProtocolEnum::Https)
            .port(PORT)
            .certificates(Certificate::builder().certificate_arn(certificate).build())
            .ssl_policy(SSL_POLICY)
            .default_actions(default_action(cx)?)
            .set_tags(Some(elb::tags(cx, &cx.name("https"))))
            .send()
            .await
            .aws(cx, "CreateListener")?;
        let arn = out
            .listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .unwrap_or_default()
            .to_owned();
        Ok(ids([("arn", arn)]))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        let certificate = desired_certificate(cx).ok_or_else(|| {
            Error::other("listener: no certificate known (--certificate-arn is required)")
        })?;
        cx.aws()
            .elb
            .modify_listener()
            .listener_arn(live.id("arn")?)
            .protocol(ProtocolEnum::Https)
            .port(PORT)
            .certificates(Certificate::builder().certificate_arn(certificate).build())
            .ssl_policy(SSL_POLICY)
            .default_actions(default_action(cx)?)
            .send()
            .await
            .aws(cx, "ModifyListener")?;
        Ok(live.ids.clone())
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        cx.aws()
            .elb
            .delete_listener()
            .listener_arn(live.id("arn")?)
            .send()
            .await
            .or_gone_code(cx, "DeleteListener", elb::is_not_found)
            .map(|_| ())
    }
}
