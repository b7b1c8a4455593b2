//! The gateway's AgentCore Policy engine `<stack with - as _>_neo4j_gw` (issue 20): the Cedar policies of the
//! `policy` kind live in it, and the gateway names it in `policyEngineConfiguration` with mode `ENFORCE`, so that
//! AgentCore itself filters `tools/list` and refuses a `tools/call` the caller's scopes do not permit
//! (docs/aws-behaviour.md, "Agents' rights at the gateway (issue 20)").
//!
//! Service model (aws-sdk-bedrockagentcorecontrol 1.61.0; botocore `bedrock-agentcore-control`): names
//! `[A-Za-z][A-Za-z0-9_]*`, 1–48 — no hyphens, hence the underscores; `CreatePolicyEngine` takes `tags` and a
//! `clientToken` and is asynchronous (poll `GetPolicyEngine` until `ACTIVE`; `CREATE_FAILED` carries
//! `statusReasons`); `DeletePolicyEngine` wants no policies left (they are their own nodes, which depend on this
//! one and so are deleted first, as is the gateway that names it) and is asynchronous too (polled until gone).

use async_trait::async_trait;
use aws_sdk_bedrockagentcorecontrol::operation::get_policy_engine::GetPolicyEngineOutput;
use aws_sdk_bedrockagentcorecontrol::types::PolicyEngineStatus;

use super::{delete_and_wait, tags};
use crate::error::Result;
use crate::resources::{
    AwsResult, Cx, Drift, Health, Live, Observation, Output, Resource, gateway, ids,
};
use crate::state::Ids;
use crate::wait::{self, Poll};

pub const NODE: &str = "policy-engine";
pub const POLICY_ENGINE_ID: Output = Output::new(NODE, "policy_engine_id");
pub const ARN: Output = Output::new(NODE, "arn");

/// `<stack with - as _>_neo4j_gw`: stack names are lowercase letters, digits and single hyphens, start with a letter
/// and have at most 24 characters, so this fits `[A-Za-z][A-Za-z0-9_]*` and 48 characters.
pub fn engine_name(stack: &str) -> String {
    format!("{}_neo4j_gw", stack.replace('-', "_"))
}

/// The ARNs the stack's engine can have before it exists: AgentCore's IDs are the name plus a generated suffix
/// (`<name>-<10 characters>`, service model), so the gateway's role can name the engine before it is created.
pub fn arn_pattern(cx: &Cx) -> String {
    let (account, region) = (&cx.shared.account, &cx.shared.region);
    format!(
        "arn:{}:bedrock-agentcore:{region}:{account}:policy-engine/{}-*",
        crate::resources::partition(region),
        engine_name(cx.stack())
    )
}

pub struct PolicyEngineResource;

async fn get(cx: &Cx, id: &str) -> Result<Option<GetPolicyEngineOutput>> {
    cx.aws()
        .agentcore
        .get_policy_engine()
        .policy_engine_id(id)
        .send()
        .await
        .or_gone(cx, "GetPolicyEngine", |e| {
            e.is_resource_not_found_exception()
        })
}

/// The ID of the engine named `name`, if one exists (any status).
async fn find_by_name(cx: &Cx, name: &str) -> Result<Option<String>> {
    let mut next: Option<String> = None;
    loop {
        let out = cx
            .aws()
            .agentcore
            .list_policy_engines()
            .max_results(100)
            .set_next_token(next.take())
            .send()
            .await
            .aws(cx, "ListPolicyEngines")?;
        if let Some(e) = out.policy_engines().iter().find(|e| e.name() == name) {
            return Ok(Some(e.policy_engine_id().to_owned()));
        }
        match out.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_owned()),
            _ => return Ok(None),
        }
    }
}

/// The ID of the stack's engine found by name and tag, for the policies' nodes when the engine node has not been
/// read yet (`down` without a state file walks the policies first).
pub async fn find_stacks_engine(cx: &Cx) -> Result<Option<String>> {
    let Some(id) = find_by_name(cx, &engine_name(cx.stack())).await? else {
        return Ok(None);
    };
    let Some(e) = get(cx, &id).await? else {
        return Ok(None);
    };
    let t = tags(cx, e.policy_engine_arn()).await?;
    Ok(
        (t.get(crate::resources::TAG_STACK).map(String::as_str) == Some(cx.stack()))
            .then(|| e.policy_engine_id().to_owned()),
    )
}

fn reasons(e: &GetPolicyEngineOutput) -> String {
    if e.status_reasons().is_empty() {
        "no reason given".into()
    } else {
        e.status_reasons().join("; ")
    }
}

fn health(e: &GetPolicyEngineOutput) -> Health {
    match e.status() {
        PolicyEngineStatus::Active => Health::Ready,
        PolicyEngineStatus::Creating | PolicyEngineStatus::Updating => {
            Health::Pending(format!("status {}", e.status().as_str()))
        }
        s => Health::Unhealthy(format!("status {}: {}", s.as_str(), reasons(e))),
    }
}

/// A failed create is repaired by a new engine; a failed update in place is not ours to repair (neo4j-gw never
/// updates the engine), so it is reported, and a new engine is the repair too.
fn status_drift(e: &GetPolicyEngineOutput) -> Option<Drift> {
    match e.status() {
        PolicyEngineStatus::CreateFailed | PolicyEngineStatus::UpdateFailed => Some(
            Drift::new(
                "status",
                "ACTIVE",
                format!("{}: {}", e.status().as_str(), reasons(e)),
            )
            .replace(),
        ),
        _ => None,
    }
}

fn engine_ids(e: &GetPolicyEngineOutput) -> Ids {
    ids([
        ("policy_engine_id", e.policy_engine_id().to_owned()),
        ("arn", e.policy_engine_arn().to_owned()),
    ])
}

fn wait_poll(e: Option<GetPolicyEngineOutput>) -> Poll<()> {
    match e {
        None => Poll::Pending("not visible yet".into()),
        Some(e) => match health(&e) {
            Health::Ready => Poll::Ready(()),
            Health::Pending(s) => Poll::Pending(s),
            Health::Unhealthy(s) => Poll::Failed(format!(
                "{s}. AgentCore could not create the policy engine: fix what the reasons name, then re-run \
                 `neo4j-gw up`, which replaces a failed engine"
            )),
        },
    }
}

#[async_trait]
impl Resource for PolicyEngineResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "agentcore:policy-engine"
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        let name = engine_name(cx.stack());
        let mut found = None;
        // With a recorded ID and ARN, the engine and its tags are read at once: one round trip, not two.
        let mut early_tags = None;
        if let Some(id) = recorded.and_then(|r| r.get("policy_engine_id")) {
            match recorded
                .and_then(|r| r.get("arn"))
                .filter(|_| !cx.expect_gone)
            {
                Some(arn) => {
                    let (e, t) = tokio::join!(get(cx, id), tags(cx, arn));
                    found = e?;
                    early_tags = t.ok().map(|t| (arn.clone(), t));
                }
                None => found = get(cx, id).await?,
            }
        }
        if found.is_none()
            && let Some(id) = find_by_name(cx, &name).await?
        {
            found = get(cx, &id).await?;
        }
        let Some(e) = found else {
            return Ok(Observation::Missing);
        };
        if e.status() == &PolicyEngineStatus::Deleting {
            return Ok(Observation::Missing);
        }
        let t = match early_tags {
            Some((arn, t)) if arn == e.policy_engine_arn() => t,
            _ => tags(cx, e.policy_engine_arn()).await?,
        };
        if !cx.is_ours(t.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            return Ok(Observation::Foreign(format!(
                "AgentCore policy engine {} ({}) is not tagged as this stack's",
                e.name(),
                e.policy_engine_id()
            )));
        }
        let live = Live {
            health: health(&e),
            ..Live::new(engine_ids(&e))
        };
        Ok(Observation::Present(
            live.with_drift(status_drift(&e).into_iter().collect()),
        ))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let name = engine_name(cx.stack());
        // An engine of that name still being deleted (an earlier `down`) must be gone first: names are unique.
        wait::until(
            cx,
            "the previous policy engine of that name to be deleted",
            cx.settings().wait_timeout,
            || async {
                let Some(id) = find_by_name(cx, &name).await? else {
                    return Ok(Poll::Ready(()));
                };
                Ok(match get(cx, &id).await? {
                    Some(e) if e.status() == &PolicyEngineStatus::Deleting => {
                        Poll::Pending("DELETING".into())
                    }
                    _ => Poll::Ready(()),
                })
            },
        )
        .await?;
        let out = cx
            .aws()
            .agentcore
            .create_policy_engine()
            .name(&name)
            .description(format!(
                "neo4j-gw stack {}: which agent may list and call which tool at the gateway",
                cx.stack()
            ))
            .client_token(gateway::client_token(
                cx.stack(),
                &cx.shared.account,
                &cx.shared.region,
                NODE,
                &cx.create_token(),
            ))
            .set_tags(Some(cx.tags(&name).into_iter().collect()))
            .send()
            .await
            .aws(cx, "CreatePolicyEngine")?;
        Ok(ids([
            ("policy_engine_id", out.policy_engine_id().to_owned()),
            ("arn", out.policy_engine_arn().to_owned()),
        ]))
    }

    async fn wait_ready(&self, cx: &Cx, ids: &Ids) -> Result<()> {
        let id = ids.get("policy_engine_id").cloned().unwrap_or_default();
        wait::until(
            cx,
            "the policy engine to become ACTIVE",
            cx.settings().wait_timeout,
            || async { Ok(wait_poll(get(cx, &id).await?)) },
        )
        .await
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        let id = live.id("policy_engine_id")?.to_owned();
        // ConflictException while policies are left or a gateway names it (their nodes go first), or while it is
        // in a transition: wait for that to settle, then delete.
        delete_and_wait(
            cx,
            "the policy engine",
            "DeletePolicyEngine",
            " (its policies, and any gateway naming it, must go first)",
            || {
                cx.aws()
                    .agentcore
                    .delete_policy_engine()
                    .policy_engine_id(&id)
                    .send()
            },
            || async { Ok(get(cx, &id).await?.map(|e| e.status().as_str().to_owned())) },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(status: PolicyEngineStatus, reasons: &[&str]) -> GetPolicyEngineOutput {
        let now = aws_smithy_types::DateTime::from_secs(0);
        GetPolicyEngineOutput::builder()
            .policy_engine_id("s_neo4j_gw-abcdefghij")
            .name("s_neo4j_gw")
            .policy_engine_arn(
                "arn:aws:bedrock-agentcore:us-east-1:123456789012:policy-engine/s_neo4j_gw-abcdefghij",
            )
            .created_at(now)
            .updated_at(now)
            .status(status)
            .set_status_reasons(Some(reasons.iter().map(|r| r.to_string()).collect()))
            .build()
            .unwrap()
    }

    #[test]
    fn names_fit_the_service_model() {
        assert_eq!(engine_name("neo4j-gw"), "neo4j_gw_neo4j_gw");
        let longest = engine_name("a23456789-123456789-1234");
        assert!(longest.len() <= 48, "{longest}");
        let re = |s: &str| {
            s.starts_with(|c: char| c.is_ascii_alphabetic())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        assert!(re(&longest), "{longest}");
    }

    #[test]
    fn a_failed_create_is_replaced_and_names_aws_reasons() {
        assert_eq!(
            health(&engine(PolicyEngineStatus::Active, &[])),
            Health::Ready
        );
        assert!(status_drift(&engine(PolicyEngineStatus::Active, &[])).is_none());
        let failed = engine(PolicyEngineStatus::CreateFailed, &["quota exceeded"]);
        let d = status_drift(&failed).unwrap();
        assert!(d.replace && d.actual.contains("quota exceeded"), "{d:?}");
        match wait_poll(Some(failed)) {
            Poll::Failed(m) => assert!(
                m.contains("CREATE_FAILED")
                    && m.contains("quota exceeded")
                    && m.contains("neo4j-gw up"),
                "{m}"
            ),
            _ => panic!("expected a failure"),
        }
        assert!(matches!(
            wait_poll(Some(engine(PolicyEngineStatus::Creating, &[]))),
            Poll::Pending(_)
        ));
    }
}
