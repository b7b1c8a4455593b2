//! The user pool's resource server (`--resource-server-id`, default `neo4j-mcp-gateway`) defining the one OAuth
//! scope (`--scope`, default `invoke`) that the app client is granted and the gateway requires:
//! `<identifier>/<scope>`.
//!
//! A resource server lives inside its user pool and has no tags: it is the stack's when its pool is. `down`
//! deletes it before the pool (plain moto answers `DeleteResourceServer` with HTTP 500; the test emulator's
//! launcher implements it as AWS does).

use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::types::{ResourceServerScopeType, ResourceServerType};

use crate::config::Access;
use crate::error::{Error, Result};
use crate::resources::{AwsResult, Cx, Drift, Live, Observation, Resource, ids, user_pool};
use crate::state::Ids;

pub const NODE: &str = "resource-server";

pub struct ResourceServerResource;

/// The full scope name the app client and the gateway use: `<identifier>/<scope>`.
pub fn full_scope(cx: &Cx) -> String {
    format!(
        "{}/{}",
        cx.settings().resource_server_id,
        cx.settings().scope
    )
}

/// The scopes the resource server defines: the gateway's own (`--scope`) and one per access level
/// ([`Access::scope`], issue 20), sorted, without repeats.
pub fn scope_names(settings: &crate::config::Settings) -> Vec<String> {
    let mut v = vec![
        settings.scope.clone(),
        Access::Read.scope().to_owned(),
        Access::Write.scope().to_owned(),
    ];
    v.sort();
    v.dedup();
    v
}

/// The full scopes the stack's app client is granted and asks its tokens for: the gateway's scope and the `read`
/// level (issue 20: the default agent reads), sorted, without repeats.
pub fn client_scopes(settings: &crate::config::Settings) -> Vec<String> {
    let mut v = vec![
        format!("{}/{}", settings.resource_server_id, settings.scope),
        format!("{}/{}", settings.resource_server_id, Access::Read.scope()),
    ];
    v.sort();
    v.dedup();
    v
}

fn display_name(cx: &Cx) -> String {
    cx.name("gateway")
}

fn scopes(cx: &Cx) -> Result<Vec<ResourceServerScopeType>> {
    scope_names(cx.settings())
        .into_iter()
        .map(|name| {
            let description = if name == cx.settings().scope {
                "Call the Neo4j MCP server through the AgentCore Gateway".to_owned()
            } else {
                format!("Access level {name}: the tools the gateway's policy engine permits to it")
            };
            ResourceServerScopeType::builder()
                .scope_name(name)
                .scope_description(description)
                .build()
                .map_err(|e| Error::other(format!("{}: {e}", cx.node)))
        })
        .collect()
}

async fn describe(cx: &Cx, pool_id: &str, identifier: &str) -> Result<Option<ResourceServerType>> {
    Ok(cx
        .aws()
        .cognito
        .describe_resource_server()
        .user_pool_id(pool_id)
        .identifier(identifier)
        .send()
        .await
        .or_gone(cx, "DescribeResourceServer", |e| {
            e.is_resource_not_found_exception()
        })?
        .and_then(|out| out.resource_server))
}

impl ResourceServerResource {
    fn live(&self, cx: &Cx, rs: &ResourceServerType, identifier: &str) -> Live {
        let mut drift = Vec::new();
        let want_id = &cx.settings().resource_server_id;
        if identifier != want_id {
            // The identifier is the resource server's key: a new one is a new resource server.
            drift.push(Drift::new("identifier", want_id, identifier).replace());
        }
        let mut have: Vec<&str> = rs.scopes().iter().map(|s| s.scope_name()).collect();
        have.sort_unstable();
        let want = scope_names(cx.settings());
        if have != want {
            drift.push(Drift::new("scopes", want.join(","), have.join(",")));
        }
        let name = display_name(cx);
        if rs.name() != Some(name.as_str()) {
            drift.push(Drift::new("name", name, rs.name().unwrap_or_default()));
        }
        Live::new(ids([("identifier", identifier.to_owned())])).with_drift(drift)
    }
}

#[async_trait]
impl Resource for ResourceServerResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "cognito:resource-server"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &[user_pool::NODE]
    }

    fn owned_through(&self) -> Option<&'static str> {
        Some(user_pool::NODE)
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        // Only the stack's own pool is ever looked into, so what is found there is the stack's.
        let Some(pool_id) = cx.dep_opt(user_pool::USER_POOL_ID) else {
            return Ok(Observation::Missing);
        };
        let want = cx.settings().resource_server_id.clone();
        let recorded = recorded.and_then(|r| r.get("identifier")).cloned();
        for identifier in recorded.into_iter().chain([want]) {
            if let Some(rs) = describe(cx, &pool_id, &identifier).await? {
                return Ok(Observation::Present(self.live(cx, &rs, &identifier)));
            }
        }
        Ok(Observation::Missing)
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let pool_id = cx.dep(user_pool::USER_POOL_ID)?;
        let identifier = cx.settings().resource_server_id.clone();
        cx.aws()
            .cognito
            .create_resource_server()
            .user_pool_id(pool_id)
            .identifier(&identifier)
            .name(display_name(cx))
            .set_scopes(Some(scopes(cx)?))
            .send()
            .await
            .aws(cx, "CreateResourceServer")?;
        Ok(ids([("identifier", identifier)]))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        let pool_id = cx.dep(user_pool::USER_POOL_ID)?;
        cx.aws()
            .cognito
            .update_resource_server()
            .user_pool_id(pool_id)
            .identifier(live.id("identifier")?)
            .name(display_name(cx))
            .set_scopes(Some(scopes(cx)?))
            .send()
            .await
            .aws(cx, "UpdateResourceServer")?;
        Ok(live.ids.clone())
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        let Some(pool_id) = cx.dep_opt(user_pool::USER_POOL_ID) else {
            return Ok(());
        };
        cx.aws()
            .cognito
            .delete_resource_server()
            .user_pool_id(pool_id)
            .identifier(live.id("identifier")?)
            .send()
            .await
            .or_gone(cx, "DeleteResourceServer", |e| {
                e.is_resource_not_found_exception()
            })
            .map(|_| ())
    }
}
