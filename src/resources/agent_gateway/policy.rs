//! The two Cedar policies of the gateway's policy engine (issue 20), one per access level: `read_access` permits
//! the read tools to a token with the scope `<resource server>/read`, `write_access` the write tool to one with
//! `<resource server>/write`, both on the stack's gateway only. Default deny does the rest: a tool no policy names
//! (one a new server image adds) is neither listed nor callable (docs/aws-behaviour.md, "Agents' rights at the
//! gateway (issue 20)", "The configuration the Rust side sends", point 3). Which tool needs which level is
//! [`Access::tools`], the crate's one list.
//!
//! Service model (aws-sdk-bedrockagentcorecontrol 1.61.0): `CreatePolicy {policyEngineId, name, definition {cedar
//! {statement}}, validationMode, clientToken}` is asynchronous (poll `GetPolicy` until `ACTIVE`); `UpdatePolicy`
//! changes the statement in place. `validationMode` is `IGNORE_ALL_FINDINGS`: the engine's schema knows a DYNAMIC
//! target's tools only once the gateway has listed them, and the default (`FAIL_ON_ANY_FINDINGS`) would refuse the
//! policy before that. `enforcementMode` is left out (ACTIVE).
//!
//! Policies carry no tags: a policy of the stack's name in the stack's own engine is the stack's.

use async_trait::async_trait;
use aws_sdk_bedrockagentcorecontrol::types::{
    CedarPolicy, EnforcementMode, Policy, PolicyDefinition, PolicyStatus, PolicyValidationMode,
};

use crate::config::Access;
use crate::error::{Error, Result};
use crate::resources::{
    AwsResult, Cx, Drift, Health, Live, Observation, Resource, gateway, gateway_target, ids,
    policy_engine,
};
use crate::state::Ids;
use crate::wait::{self, Poll};

use super::delete_and_wait;

pub const READ_NODE: &str = "policy-read";
pub const WRITE_NODE: &str = "policy-write";

/// One access level's policy.
pub struct PolicyResource {
    pub node: &'static str,
    /// The policy's name in the engine (`[A-Za-z][A-Za-z0-9_]*`).
    pub name: &'static str,
    pub access: Access,
}

pub const READ: PolicyResource = PolicyResource {
    node: READ_NODE,
    name: "read_access",
    access: Access::Read,
};

pub const WRITE: PolicyResource = PolicyResource {
    node: WRITE_NODE,
    name: "write_access",
    access: Access::Write,
};

/// A Cedar string literal's content: `\` and `"` escaped.
fn cedar_string(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A literal inside a Cedar `like` pattern: `*` is its wildcard, so a literal one is escaped as well.
fn cedar_like_literal(s: &str) -> String {
    cedar_string(s).replace('*', "\\*")
}

/// The Cedar statement of `access`'s policy: the level's tools as the gateway names them
/// (`<target>___<tool>`), on the gateway `gateway_arn`, for a principal whose `scope` claim holds
/// `<resource server>/<level's scope>`. The stack's resource server defines `read` and `write`, neither of
/// which contains the other, so the `like` pattern cannot match the other level.
pub fn statement(access: Access, target: &str, gateway_arn: &str, resource_server: &str) -> String {
    let actions: Vec<String> = access
        .tools()
        .iter()
        .map(|tool| {
            format!(
                "AgentCore::Action::\"{}\"",
                cedar_string(&format!("{target}___{tool}"))
            )
        })
        .collect();
    let action = match actions.as_slice() {
        [one] => format!("action == {one}"),
        many => format!("action in [{}]", many.join(", ")),
    };
    format!(
        "permit(\n  principal is AgentCore::OAuthUser,\n  {action},\n  resource == AgentCore::Gateway::\"{}\"\n) \
         when {{ principal.hasTag(\"scope\") && principal.getTag(\"scope\") like \"*{}/{}*\" }};",
        cedar_string(gateway_arn),
        cedar_like_literal(resource_server),
        cedar_like_literal(access.scope()),
    )
}

impl PolicyResource {
    fn desired(&self, cx: &Cx) -> Result<String> {
        Ok(statement(
            self.access,
            &cx.settings().target_name,
            &cx.dep(gateway::ARN)?,
            &cx.settings().resource_server_id,
        ))
    }

    fn definition(statement: &str) -> Result<PolicyDefinition> {
        Ok(PolicyDefinition::Cedar(
            CedarPolicy::builder()
                .statement(statement)
                .build()
                .map_err(|e| Error::other(format!("policy: {e}")))?,
        ))
    }

    /// The engine whose policies this node looks at: the engine node's (this walk or the state), the one recorded
    /// with the policy, or the stack's found by name and tag.
    async fn engine_id(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Option<String>> {
        if let Some(id) = cx
            .dep_opt(policy_engine::POLICY_ENGINE_ID)
            .or_else(|| recorded.and_then(|r| r.get("policy_engine_id")).cloned())
        {
            return Ok(Some(id));
        }
        policy_engine::find_stacks_engine(cx).await
    }
}

/// Every policy of an engine (ListPolicies answers them whole: statement, status, enforcement mode), or None when
/// the engine is gone.
async fn list(cx: &Cx, engine_id: &str) -> Result<Option<Vec<Policy>>> {
    let mut all = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let Some(out) = cx
            .aws()
            .agentcore
            .list_policies()
            .policy_engine_id(engine_id)
            .max_results(100)
            .set_next_token(next.take())
            .send()
            .await
            .or_gone(cx, "ListPolicies", |e| e.is_resource_not_found_exception())?
        else {
            return Ok(None);
        };
        all.extend(out.policies().iter().cloned());
        match out.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_owned()),
            _ => return Ok(Some(all)),
        }
    }
}

async fn get(
    cx: &Cx,
    engine_id: &str,
    policy_id: &str,
) -> Result<Option<(PolicyStatus, Vec<String>)>> {
    Ok(cx
        .aws()
        .agentcore
        .get_policy()
        .policy_engine_id(engine_id)
        .policy_id(policy_id)
        .send()
        .await
        .or_gone(cx, "GetPolicy", |e| e.is_resource_not_found_exception())?
        .map(|p| (p.status().clone(), p.status_reasons().to_vec())))
}

fn live_statement(p: &Policy) -> &str {
    match p.definition() {
        Some(PolicyDefinition::Cedar(c)) => c.statement(),
        _ => "",
    }
}

fn reasons(r: &[String]) -> String {
    if r.is_empty() {
        "no reason given".into()
    } else {
        r.join("; ")
    }
}

fn health(status: &PolicyStatus, r: &[String]) -> Health {
    match status {
        PolicyStatus::Active => Health::Ready,
        PolicyStatus::Creating | PolicyStatus::Updating => {
            Health::Pending(format!("status {}", status.as_str()))
        }
        s => Health::Unhealthy(format!("status {}: {}", s.as_str(), reasons(r))),
    }
}

/// What differs from the desired policy: the statement and the enforcement mode are updated in place, a policy
/// whose create failed is replaced.
fn drift(p: &Policy, want: Option<&str>) -> Vec<Drift> {
    let mut d = Vec::new();
    if let Some(want) = want
        && live_statement(p) != want
    {
        d.push(Drift::new("statement", want, live_statement(p)));
    }
    if p.enforcement_mode() != &EnforcementMode::Active {
        d.push(Drift::new(
            "enforcement_mode",
            EnforcementMode::Active.as_str(),
            p.enforcement_mode().as_str(),
        ));
    }
    match p.status() {
        PolicyStatus::CreateFailed => d.push(
            Drift::new(
                "status",
                "ACTIVE",
                format!("CREATE_FAILED: {}", reasons(p.status_reasons())),
            )
            .replace(),
        ),
        PolicyStatus::UpdateFailed => d.push(Drift::new(
            "status",
            "ACTIVE",
            format!("UPDATE_FAILED: {}", reasons(p.status_reasons())),
        )),
        _ => {}
    }
    d
}

#[async_trait]
impl Resource for PolicyResource {
    fn id(&self) -> &'static str {
        self.node
    }
    fn kind(&self) -> &'static str {
        "agentcore:policy"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        // The target's name is in the statement, and the target's tools are what the policy is about.
        &[policy_engine::NODE, gateway::NODE, gateway_target::NODE]
    }
    fn owned_through(&self) -> Option<&'static str> {
        Some(policy_engine::NODE)
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        let Some(engine_id) = self.engine_id(cx, recorded).await? else {
            return Ok(Observation::Missing);
        };
        // Both policies' nodes take one ListPolicies answer while the engine observes every node.
        let listed = match cx.batched("ListPolicies", || list(cx, &engine_id)).await {
            Some(answer) => (*answer).clone(),
            None => list(cx, &engine_id).await?,
        };
        let Some(policies) = listed else {
            return Ok(Observation::Missing);
        };
        let recorded_id = recorded
            .filter(|r| r.get("policy_engine_id") == Some(&engine_id))
            .and_then(|r| r.get("policy_id"));
        let found = recorded_id
            .and_then(|id| policies.iter().find(|p| p.policy_id() == id))
            .or_else(|| policies.iter().find(|p| p.name() == self.name));
        let Some(p) = found else {
            return Ok(Observation::Missing);
        };
        if p.status() == &PolicyStatus::Deleting {
            return Ok(Observation::Missing);
        }
        // What it should say cannot be known without the gateway (e.g. `status` before it exists).
        let want = self.desired(cx).ok();
        let live = Live {
            health: health(p.status(), p.status_reasons()),
            ..Live::new(ids([
                ("policy_id", p.policy_id().to_owned()),
                ("policy_engine_id", engine_id.clone()),
                ("arn", p.policy_arn().to_owned()),
            ]))
        };
        Ok(Observation::Present(
            live.with_drift(drift(p, want.as_deref())),
        ))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let engine_id = cx.dep(policy_engine::POLICY_ENGINE_ID)?;
        let statement = self.desired(cx)?;
        let out = cx
            .aws()
            .agentcore
            .create_policy()
            .policy_engine_id(&engine_id)
            .name(self.name)
            .description(format!(
                "neo4j-gw stack {}: the {} tools for a token with the scope {}/{}",
                cx.stack(),
                self.access.as_str(),
                cx.settings().resource_server_id,
                self.access.scope()
            ))
            .definition(Self::definition(&statement)?)
            .validation_mode(PolicyValidationMode::IgnoreAllFindings)
            .client_token(gateway::client_token(
                cx.stack(),
                &cx.shared.account,
                &cx.shared.region,
                self.node,
                &cx.create_token(),
            ))
            .send()
            .await
            .aws(cx, "CreatePolicy")?;
        Ok(ids([
            ("policy_id", out.policy_id().to_owned()),
            ("policy_engine_id", engine_id),
            ("arn", out.policy_arn().to_owned()),
        ]))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        let engine_id = live.id("policy_engine_id")?.to_owned();
        let policy_id = live.id("policy_id")?.to_owned();
        // AgentCore refuses an update while one is in progress.
        wait::until(
            cx,
            "the policy to settle before updating it",
            cx.settings().wait_timeout,
            || async {
                Ok(match get(cx, &engine_id, &policy_id).await? {
                    None => Poll::Failed(
                        "it disappeared; re-run `neo4j-gw up` to create it again".into(),
                    ),
                    Some((s, r)) => match health(&s, &r) {
                        Health::Pending(s) => Poll::Pending(s),
                        _ => Poll::Ready(()),
                    },
                })
            },
        )
        .await?;
        let mode = live
            .drift
            .iter()
            .any(|d| d.attribute == "enforcement_mode")
            .then_some(EnforcementMode::Active);
        cx.aws()
            .agentcore
            .update_policy()
            .policy_engine_id(&engine_id)
            .policy_id(&policy_id)
            .definition(Self::definition(&self.desired(cx)?)?)
            .validation_mode(PolicyValidationMode::IgnoreAllFindings)
            .set_enforcement_mode(mode)
            .send()
            .await
            .aws(cx, "UpdatePolicy")?;
        Ok(live.ids.clone())
    }

    async fn wait_ready(&self, cx: &Cx, ids: &Ids) -> Result<()> {
        let engine_id = ids.get("policy_engine_id").cloned().unwrap_or_default();
        let policy_id = ids.get("policy_id").cloned().unwrap_or_default();
        wait::until(
            cx,
            "the policy to become ACTIVE",
            cx.settings().wait_timeout,
            || async {
                Ok(match get(cx, &engine_id, &policy_id).await? {
                    None => Poll::Pending("not visible yet".into()),
                    Some((s, r)) => match health(&s, &r) {
                        Health::Ready => Poll::Ready(()),
                        Health::Pending(s) => Poll::Pending(s),
                        Health::Unhealthy(s) => Poll::Failed(format!(
                            "{s}. AgentCore refused the Cedar statement: the reasons say why; re-run `neo4j-gw up` \
                             once that is fixed (it updates a policy whose update failed and replaces one whose \
                             create failed)"
                        )),
                    },
                })
            },
        )
        .await
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        let engine_id = live.id("policy_engine_id")?.to_owned();
        let policy_id = live.id("policy_id")?.to_owned();
        delete_and_wait(
            cx,
            "the policy",
            "DeletePolicy",
            "",
            || {
                cx.aws()
                    .agentcore
                    .delete_policy()
                    .policy_engine_id(&engine_id)
                    .policy_id(&policy_id)
                    .send()
            },
            || async {
                Ok(get(cx, &engine_id, &policy_id)
                    .await?
                    .map(|(s, _)| s.as_str().to_owned()))
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GW: &str = "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/s-gw-abcdefghij";

    #[test]
    fn the_statements_are_the_documented_ones() {
        assert_eq!(
            statement(Access::Read, "neo4j-mcp", GW, "neo4j-mcp-gateway"),
            "permit(\n  principal is AgentCore::OAuthUser,\n  action in [AgentCore::Action::\"neo4j-mcp___get-schema\", \
             AgentCore::Action::\"neo4j-mcp___read-cypher\"],\n  resource == AgentCore::Gateway::\"arn:aws:bedrock-agentcore:\
             us-east-1:123456789012:gateway/s-gw-abcdefghij\"\n) when { principal.hasTag(\"scope\") && \
             principal.getTag(\"scope\") like \"*neo4j-mcp-gateway/read*\" };"
        );
        assert_eq!(
            statement(Access::Write, "neo4j-mcp", GW, "neo4j-mcp-gateway"),
            "permit(\n  principal is AgentCore::OAuthUser,\n  action == AgentCore::Action::\"neo4j-mcp___write-cypher\",\n  \
             resource == AgentCore::Gateway::\"arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/s-gw-abcdefghij\"\n) \
             when { principal.hasTag(\"scope\") && principal.getTag(\"scope\") like \"*neo4j-mcp-gateway/write*\" };"
        );
        // Within the model's 35–10000 characters.
        assert!(statement(Access::Write, "t", GW, "r").len() >= 35);
    }

    #[test]
    fn quotes_and_wildcards_stay_literal() {
        let s = statement(Access::Write, "t\"x", GW, "rs*");
        assert!(
            s.contains(r#"AgentCore::Action::"t\"x___write-cypher""#),
            "{s}"
        );
        assert!(s.contains(r#"like "*rs\*/write*""#), "{s}");
    }

    fn policy(statement: &str, mode: EnforcementMode, status: PolicyStatus) -> Policy {
        let now = aws_smithy_types::DateTime::from_secs(0);
        Policy::builder()
            .policy_id("read_access-abcdefghij")
            .name("read_access")
            .policy_engine_id("e-abcdefghij")
            .definition(PolicyResource::definition(statement).unwrap())
            .created_at(now)
            .updated_at(now)
            .policy_arn("arn:p")
            .status(status)
            .enforcement_mode(mode)
            .set_status_reasons(Some(vec!["bad".into()]))
            .build()
            .unwrap()
    }

    #[test]
    fn a_changed_statement_or_mode_is_updated_and_a_failed_create_replaced() {
        let want = statement(Access::Read, "neo4j-mcp", GW, "rs");
        let ok = policy(&want, EnforcementMode::Active, PolicyStatus::Active);
        assert_eq!(drift(&ok, Some(&want)), Vec::<Drift>::new());
        // Unknown desired statement (no gateway yet): only what can be judged.
        assert_eq!(drift(&ok, None), Vec::<Drift>::new());
        // Another gateway's ARN, or another target: the statement differs → UpdatePolicy.
        let other = statement(Access::Read, "neo4j-mcp", "arn:other", "rs");
        let d = drift(
            &policy(&other, EnforcementMode::Active, PolicyStatus::Active),
            Some(&want),
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].attribute, "statement");
        assert!(!d[0].replace);
        // A policy switched to LOG_ONLY out of band no longer decides: drift.
        let d = drift(
            &policy(&want, EnforcementMode::LogOnly, PolicyStatus::Active),
            Some(&want),
        );
        assert_eq!(
            (
                d[0].attribute.as_str(),
                d[0].expected.as_str(),
                d[0].actual.as_str()
            ),
            ("enforcement_mode", "ACTIVE", "LOG_ONLY")
        );
        let d = drift(
            &policy(&want, EnforcementMode::Active, PolicyStatus::CreateFailed),
            Some(&want),
        );
        assert!(d[0].replace && d[0].actual.contains("bad"), "{d:?}");
    }
}
