//! The origin lock's listener rule on the HTTPS listener: requests whose [`HEADER`] carries an accepted origin
//! value are forwarded to the target group; the listener's default action answers everything else with 403.
//! (ELB user guide for ALBs, "Listener rules": rules are evaluated in priority order before the default action;
//! an `http-header` condition matches a header by name, case-insensitively, against up to the rule's values, which
//! are at most 128 characters and may use `*` and `?` — the origin values are 64 hex digits.)
//!
//! The accepted values are the origin secret's current one and, during a rotation, the previous one
//! (`origin_secret::Origin::accepted`), each as the pattern `*<value>` ([`pattern`]): the gateway sends the value
//! behind the origin key's `credentialPrefix`, with or without a space (not documented). Drift in them is reported as `(hidden)`: the values never leave AWS and
//! this process.

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, HttpHeaderConditionConfig, Rule, RuleCondition,
};

use crate::config::Secret;
use crate::error::{self, Error, Result};
use crate::resources::edge::elb::{self, is_ours, tags_of};
use crate::resources::origin_secret::{self, HEADER, Origin};
use crate::resources::{AwsResult, Cx, Drift, Live, Observation, Resource, ids};
use crate::resources::{listener, target_group};
use crate::state::Ids;

pub const NODE: &str = "origin-rule";
/// The rule's priority: the only rule of the listener.
pub const PRIORITY: i32 = 10;
const HIDDEN: &str = "(hidden)";

pub struct OriginRuleResource;

/// The rule's value for an origin value: `*` (any prefix, ELB's wildcard) and the 64 hex digits — 65 characters, of
/// the 128 a condition value may have.
fn pattern(value: &Secret) -> String {
    format!("*{}", value.expose())
}

fn condition(values: &[Secret]) -> RuleCondition {
    RuleCondition::builder()
        .field("http-header")
        .http_header_config(
            HttpHeaderConditionConfig::builder()
                .http_header_name(HEADER)
                .set_values(Some(values.iter().map(pattern).collect()))
                .build(),
        )
        .build()
}

fn forward(tg_arn: &str) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(tg_arn)
        .build()
}

/// The header values the rule accepts, sorted.
fn values_of(r: &Rule) -> Option<Vec<String>> {
    let mut values: Vec<String> = Vec::new();
    for c in r.conditions() {
        let h = c.http_header_config()?;
        if !h
            .http_header_name()
            .is_some_and(|n| n.eq_ignore_ascii_case(HEADER))
        {
            return None;
        }
        values.extend(h.values().iter().cloned());
    }
    values.sort();
    Some(values)
}

fn forwards_to(r: &Rule) -> Vec<String> {
    r.actions()
        .iter()
        .map(|a| match a.r#type() {
            Some(ActionTypeEnum::Forward) => format!(
                "forward:{}",
                a.target_group_arn()
                    .or_else(|| {
                        a.forward_config()
                            .and_then(|f| f.target_groups().first())
                            .and_then(|t| t.target_group_arn())
                    })
                    .unwrap_or_default()
            ),
            Some(t) => t.as_str().to_owned(),
            None => "unknown".into(),
        })
        .collect()
}

/// What the rule must accept now.
async fn desired_values(cx: &Cx) -> Result<Vec<Secret>> {
    known_values(cx).await?.ok_or_else(|| {
        Error::other(format!(
            "{NODE}: the origin secret is missing or holds no valid value; `neo4j-gw up` makes a new one"
        ))
    })
}

/// What the rule must accept now, when the origin secret exists and holds a valid value (else it will be made
/// again by its node first, with a new value, and the rule compared then).
async fn known_values(cx: &Cx) -> Result<Option<Vec<Secret>>> {
    let Some(arn) = cx.dep_opt(origin_secret::ARN) else {
        return Ok(None);
    };
    let origin: Option<Origin> = match origin_secret::read(cx, &arn).await {
        Ok(o) => o,
        Err(e) if e.aws_code() == Some("ResourceNotFoundException") => None,
        Err(e) => return Err(e),
    };
    Ok(origin.map(|o| {
        o.accepted(
            u64::from(cx.settings().secret_cache_ttl),
            origin_secret::now(),
        )
    }))
}

/// Points the rule at `values` (and the target group).
pub async fn set_values(cx: &Cx, rule_arn: &str, values: &[Secret]) -> Result<()> {
    cx.aws()
        .elb
        .modify_rule()
        .rule_arn(rule_arn)
        .conditions(condition(values))
        .actions(forward(&cx.dep(target_group::ARN)?))
        .send()
        .await
        .aws(cx, "ModifyRule")?;
    Ok(())
}

impl OriginRuleResource {
    async fn find(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Option<Rule>> {
        let elbv2 = &cx.aws().elb;
        if let Some(arn) = recorded.and_then(|r| r.get("arn")) {
            match elbv2.describe_rules().rule_arns(arn).send().await {
                Ok(out) => {
                    if let Some(r) = out.rules().first() {
                        return Ok(Some(r.clone()));
                    }
                }
                Err(e) if elb::is_not_found(error::code_of(&e)) => {}
                Err(e) => return Err(error::aws(cx.node, "DescribeRules", e)),
            }
        }
        let Some(listener) = cx.dep_opt(listener::ARN) else {
            return Ok(None);
        };
        let out = match elbv2.describe_rules().listener_arn(&listener).send().await {
            Ok(out) => out,
            Err(e) if elb::is_not_found(error::code_of(&e)) => return Ok(None),
            Err(e) => return Err(error::aws(cx.node, "DescribeRules", e)),
        };
        Ok(out
            .rules()
            .iter()
            .find(|r| r.priority() == Some(&PRIORITY.to_string()))
            .cloned())
    }
}

#[async_trait]
impl Resource for OriginRuleResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "elbv2:listener-rule"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &[listener::NODE, target_group::NODE, origin_secret::NODE]
    }
    fn wanted(&self, cx: &Cx) -> bool {
        cx.settings().origin_lock
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        let recorded_arn = recorded.and_then(|r| r.get("arn")).map(String::as_str);
        let reads = |arn: String| async move { tags_of(cx, &arn).await };
        // What the rule must accept is read at the same time (the origin secret's value).
        let wanted = self.wanted(cx) && !cx.expect_gone;
        let ((found, early), values) = tokio::join!(
            crate::resources::alongside(cx, recorded_arn, self.find(cx, recorded), reads),
            async {
                if wanted {
                    Some(known_values(cx).await)
                } else {
                    None
                }
            }
        );
        let Some(r) = found? else {
            return Ok(Observation::Missing);
        };
        let arn = r.rule_arn().unwrap_or_default().to_owned();
        if !is_ours(cx, &crate::resources::reads_for(early, &arn, reads).await?) {
            return Ok(Observation::Foreign(format!(
                "listener rule {arn} (priority {PRIORITY}) is not tagged as this stack's"
            )));
        }
        let mut drift = Vec::new();
        // Compared only while the lock is wanted (when it is being removed, the secret may be gone already), and not
        // by the look that proves a delete took.
        if let Some(values) = values.transpose()?.flatten() {
            let mut want: Vec<String> = values.iter().map(pattern).collect();
            want.sort();
            match values_of(&r) {
                Some(have) if have == want => {}
                Some(_) => drift.push(Drift::new("origin_values", HIDDEN, HIDDEN)),
                None => drift.push(Drift::new(
                    "conditions",
                    format!("http-header {HEADER}"),
                    "other conditions",
                )),
            }
        }
        if let Some(tg) = cx.dep_opt(target_group::ARN) {
            let want = vec![format!("forward:{tg}")];
            let have = forwards_to(&r);
            if have != want {
                drift.push(Drift::new("action", want.join(","), have.join(",")));
            }
        }
        Ok(Observation::Present(
            Live::new(ids([
                ("arn", arn),
                (
                    "listener_arn",
                    cx.dep_opt(listener::ARN).unwrap_or_default(),
                ),
            ]))
            .with_drift(drift),
        ))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let listener = cx.dep(listener::ARN)?;
        let values = desired_values(cx).await?;
        let out = cx
            .aws()
            .elb
            .create_rule()
            .listener_arn(&listener)
            .priority(PRIORITY)
            .conditions(condition(&values))
            .actions(forward(&cx.dep(target_group::ARN)?))
            .set_tags(Some(elb::tags(cx, &cx.name("origin"))))
            // CreateRule has no client token: a blind SDK retry after a lost answer would meet its own rule
            // (PriorityInUse). The engine's second look finds it by priority and tag instead.
            .customize()
            .config_override(crate::aws::no_retry!(aws_sdk_elasticloadbalancingv2))
            .send()
            .await
            .aws(cx, "CreateRule")?;
        let arn = out
            .rules()
            .first()
            .and_then(|r| r.rule_arn())
            .unwrap_or_default()
            .to_owned();
        Ok(ids([("arn", arn), ("listener_arn", listener)]))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        let values = desired_values(cx).await?;
        set_values(cx, live.id("arn")?, &values).await?;
        Ok(live.ids.clone())
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        cx.aws()
            .elb
            .delete_rule()
            .rule_arn(live.id("arn")?)
            .send()
            .await
            .or_gone_code(cx, "DeleteRule", elb::is_not_found)
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_matches_the_header_with_the_values() {
        let v = [Secret::new("a".repeat(64)), Secret::new("b".repeat(64))];
        let rule = Rule::builder()
            .conditions(condition(&v))
            .actions(forward("arn:tg"))
            .build();
        // Any prefix (the credential provider's), then the value: 65 characters of the 128 a value may have.
        assert_eq!(
            values_of(&rule).unwrap(),
            vec![
                format!("*{}", "a".repeat(64)),
                format!("*{}", "b".repeat(64))
            ]
        );
        assert!(values_of(&rule).unwrap().iter().all(|v| v.len() <= 128));
        assert_eq!(forwards_to(&rule), ["forward:arn:tg"]);
        let other = Rule::builder()
            .conditions(RuleCondition::builder().field("path-pattern").build())
            .build();
        assert!(values_of(&other).is_none());
    }
}
