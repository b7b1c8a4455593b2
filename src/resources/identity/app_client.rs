//! One Cognito app client per agent (issue 20): `<stack>-client` for the agent `default` (the client every stack
//! had before agents existed, adopted as it is), `<stack>-client-<agent>` for any other. Each has a generated
//! secret, the `client_credentials` flow only, the gateway's scope plus the scopes of its access level
//! (`<resource server>/read`, and `/write` for `write`: the gateway's policy engine permits tools on them), and an
//! access-token validity of `--token-validity-minutes`.
//!
//! One node per agent (`app-client`, `app-client-<agent>`), so observe, create, drift, adoption and deletion are
//! those of every other node. An agent recorded in the state but no longer configured is a node that is not
//! [`Resource::wanted`]: `up` deletes its client (after asking), and `status` shows it `unused`.
//!
//! The client secret is never stored, logged or printed by `up`/`status`: `neo4j-gw token` reads it with
//! `DescribeUserPoolClient` when it needs it.

use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::types::{
    OAuthFlowType, TimeUnitsType, TokenValidityUnitsType, UserPoolClientType,
};

use crate::config::{Access, DEFAULT_AGENT};
use crate::error::{Error, Result};
use crate::resources::Output;
use crate::resources::{
    AwsResult, Cx, Drift, Duplicate, Live, Observation, Resource, ids, resource_server, user_pool,
};
use crate::state::Ids;

/// The `default` agent's client ID (the stack's outputs name it).
pub const CLIENT_ID: Output = Output::new(NODE, "client_id");

/// The `default` agent's node; every other agent's is `app-client-<agent>` ([`node_of`]).
pub const NODE: &str = "app-client";

/// The node's prefix for agents other than `default`.
pub const AGENT_NODE_PREFIX: &str = "app-client-";

/// One agent's app client.
pub struct AppClientResource {
    pub node: &'static str,
    pub agent: &'static str,
}

/// The `default` agent's client.
pub const DEFAULT: AppClientResource = AppClientResource {
    node: NODE,
    agent: DEFAULT_AGENT,
};

/// The node of an agent's client.
pub fn node_of(agent: &str) -> String {
    if agent == DEFAULT_AGENT {
        NODE.to_owned()
    } else {
        format!("{AGENT_NODE_PREFIX}{agent}")
    }
}

/// The agent a node of this kind serves, if `node` is one.
pub fn agent_of(node: &str) -> Option<&str> {
    if node == NODE {
        Some(DEFAULT_AGENT)
    } else {
        node.strip_prefix(AGENT_NODE_PREFIX)
    }
}

/// An agent's client ID as the state or a walk knows it.
pub fn client_id_output(node: &'static str) -> Output {
    Output::new(node, "client_id")
}

impl AppClientResource {
    /// The node of `agent` (its names live as long as the process: a plan is built a few times per run).
    pub fn of(agent: &str) -> AppClientResource {
        if agent == DEFAULT_AGENT {
            return DEFAULT;
        }
        AppClientResource {
            node: crate::resources::intern(node_of(agent)),
            agent: crate::resources::intern(agent.to_owned()),
        }
    }

    fn client_name(&self, cx: &Cx) -> String {
        if self.agent == DEFAULT_AGENT {
            cx.name("client")
        } else {
            cx.name(&format!("client-{}", self.agent))
        }
    }

    /// The agent's access level: configured, else the one its client was given (an agent being removed).
    fn access(&self, cx: &Cx) -> Access {
        cx.settings().access_of(self.agent).unwrap_or(Access::Read)
    }

    /// The scopes its client is granted: the gateway's, then its access level's, sorted.
    fn scopes(&self, cx: &Cx) -> Vec<String> {
        let mut scopes = vec![resource_server::full_scope(cx)];
        scopes.extend(
            self.access(cx)
                .levels()
                .iter()
                .map(|a| resource_server::access_scope(cx, *a)),
        );
        scopes.sort();
        scopes
    }
}

/// Describes a client (the answer carries its secret: callers keep only what they need).
pub async fn describe(
    cx: &Cx,
    pool_id: &str,
    client_id: &str,
) -> Result<Option<UserPoolClientType>> {
    Ok(cx
        .aws()
        .cognito
        .describe_user_pool_client()
        .user_pool_id(pool_id)
        .client_id(client_id)
        .send()
        .await
        .or_gone(cx, "DescribeUserPoolClient", |e| {
            e.is_resource_not_found_exception()
        })?
        .and_then(|out| out.user_pool_client))
}

/// The IDs of every client of this name in the pool (all pages); None when the pool does not exist.
async fn named_clients(cx: &Cx, pool_id: &str, name: &str) -> Result<Option<Vec<String>>> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = match cx
            .aws()
            .cognito
            .list_user_pool_clients()
            .user_pool_id(pool_id)
            .max_results(60)
            .set_next_token(next.take())
            .send()
            .await
            .or_gone(cx, "ListUserPoolClients", |e| {
                e.is_resource_not_found_exception()
            })? {
            Some(page) => page,
            None => return Ok(None),
        };
        for c in page.user_pool_clients() {
            if c.client_name() == Some(name)
                && let Some(id) = c.client_id()
            {
                out.push(id.to_owned());
            }
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_owned()),
            _ => return Ok(Some(out)),
        }
    }
}

/// The access-token validity in minutes, whatever unit Cognito reports it in (its default unit is hours).
impl AppClientResource {
    /// What the state records of it: the client ID and the agent's name (`logs --audit` maps one to the other).
    fn ids(&self, client_id: String) -> Ids {
        ids([("client_id", client_id), ("agent", self.agent.to_owned())])
    }
}

fn validity_minutes(c: &UserPoolClientType) -> Option<i32> {
    let v = c.access_token_validity()?;
    let unit = c
        .token_validity_units()
        .and_then(|u| u.access_token())
        .cloned()
        .unwrap_or(TimeUnitsType::Hours);
    Some(match unit {
        TimeUnitsType::Seconds => v / 60,
        TimeUnitsType::Minutes => v,
        TimeUnitsType::Hours => v * 60,
        TimeUnitsType::Days => v * 1440,
        _ => v,
    })
}

fn drift(want_scopes: &[String], want_validity: i32, c: &UserPoolClientType) -> Vec<Drift> {
    let mut drift = Vec::new();
    if c.client_secret().is_none_or(str::is_empty) {
        // A secret can only be generated when the client is created.
        drift.push(Drift::new("generate_secret", true, false).replace());
    }
    let flows: Vec<&str> = c
        .allowed_o_auth_flows()
        .iter()
        .map(|f| f.as_str())
        .collect();
    if flows != ["client_credentials"] {
        drift.push(Drift::new(
            "allowed_oauth_flows",
            "client_credentials",
            flows.join(","),
        ));
    }
    if c.allowed_o_auth_flows_user_pool_client() != Some(true) {
        drift.push(Drift::new(
            "allowed_oauth_flows_user_pool_client",
            true,
            false,
        ));
    }
    let mut scopes: Vec<&str> = c
        .allowed_o_auth_scopes()
        .iter()
        .map(String::as_str)
        .collect();
    scopes.sort_unstable();
    if scopes != want_scopes {
        drift.push(Drift::new(
            "allowed_oauth_scopes",
            want_scopes.join(","),
            scopes.join(","),
        ));
    }
    let want = want_validity;
    match validity_minutes(c) {
        Some(m) if m == want => {}
        Some(m) => drift.push(Drift::new("access_token_validity_minutes", want, m)),
        None => drift.push(Drift::new(
            "access_token_validity_minutes",
            want,
            "the default (60)",
        )),
    }
    drift
}

#[async_trait]
impl Resource for AppClientResource {
    fn id(&self) -> &'static str {
        self.node
    }
    fn kind(&self) -> &'static str {
        "cognito:app-client"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        // The scope must exist before a client can be granted it (ScopeDoesNotExistException otherwise).
        &[user_pool::NODE, resource_server::NODE]
    }

    fn owned_through(&self) -> Option<&'static str> {
        Some(user_pool::NODE)
    }

    fn wanted(&self, cx: &Cx) -> bool {
        cx.settings().agents.contains_key(self.agent)
    }

    fn unwanted_reason(&self, cx: &Cx) -> String {
        let _ = cx;
        format!("agent {} is not among the configured agents", self.agent)
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        // Only the stack's own pool is ever looked into, so a client of our name there is the stack's.
        let Some(pool_id) = cx.dep_opt(user_pool::USER_POOL_ID) else {
            return Ok(Observation::Missing);
        };
        // CreateUserPoolClient takes no idempotency token and client names are not unique: every client of our
        // name is listed (a create whose answer was lost leaves a second one) while the recorded one is described.
        let by_id = async {
            match recorded.and_then(|r| r.get("client_id")) {
                Some(id) => describe(cx, &pool_id, id).await,
                None => Ok(None),
            }
        };
        let name = self.client_name(cx);
        let (by_id, named) = tokio::join!(by_id, named_clients(cx, &pool_id, &name));
        // The pool is gone (e.g. a `down` killed after DeleteUserPool, before the state said so), and its clients
        // with it.
        let Some(named) = named? else {
            return Ok(Observation::Missing);
        };
        let mut found = by_id?;
        let kept_id = found
            .as_ref()
            .and_then(|c| c.client_id())
            .map(str::to_owned);
        let mut others: Vec<String> = named
            .into_iter()
            .filter(|id| Some(id) != kept_id.as_ref())
            .collect();
        if found.is_none() && !others.is_empty() {
            // Without a record, the oldest is kept (DescribeUserPoolClient gives each one's creation date).
            let mut dated = Vec::new();
            for id in others {
                if let Some(c) = describe(cx, &pool_id, &id).await? {
                    let created = c
                        .creation_date()
                        .map(|d| (d.secs(), d.subsec_nanos()))
                        .unwrap_or((i64::MAX, 0));
                    dated.push((created, id));
                }
            }
            dated.sort();
            others = dated.into_iter().map(|(_, id)| id).collect();
            if !others.is_empty() {
                let oldest = others.remove(0);
                found = describe(cx, &pool_id, &oldest).await?;
            }
        }
        let Some(client) = found else {
            return Ok(Observation::Missing);
        };
        let client_id = client.client_id().unwrap_or_default().to_owned();
        let drift = drift(
            &self.scopes(cx),
            cx.settings().token_validity_minutes,
            &client,
        );
        drop(client); // holds the secret: let it go at once
        let duplicates = others
            .into_iter()
            .map(|id| Duplicate {
                ids: ids([("client_id", id.clone())]),
                id,
            })
            .collect();
        let mut live = Live::new(self.ids(client_id));
        // `status` lists each agent with its access and client ID (never its secret).
        live.details = vec![
            ("agent".to_owned(), self.agent.to_owned()),
            ("access".to_owned(), self.access(cx).as_str().to_owned()),
        ];
        Ok(Observation::Present(
            live.with_drift(drift).with_duplicates(duplicates),
        ))
    }

    fn settle(&self, cx: &Cx) -> Option<std::time::Duration> {
        Some(crate::resources::settle_bound(cx))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let pool_id = cx.dep(user_pool::USER_POOL_ID)?;
        let out = cx
            .aws()
            .cognito
            .create_user_pool_client()
            .user_pool_id(pool_id)
            .client_name(self.client_name(cx))
            .generate_secret(true)
            .allowed_o_auth_flows(OAuthFlowType::ClientCredentials)
            .allowed_o_auth_flows_user_pool_client(true)
            .set_allowed_o_auth_scopes(Some(self.scopes(cx)))
            .access_token_validity(cx.settings().token_validity_minutes)
            .token_validity_units(
                TokenValidityUnitsType::builder()
                    .access_token(TimeUnitsType::Minutes)
                    .build(),
            )
            .customize()
            .config_override(crate::aws::no_retry!(aws_sdk_cognitoidentityprovider))
            .send()
            .await
            .aws(cx, "CreateUserPoolClient")?;
        let client_id = out
            .user_pool_client()
            .and_then(|c| c.client_id())
            .ok_or_else(|| {
                Error::other(format!(
                    "{}: CreateUserPoolClient returned no client ID",
                    cx.node
                ))
            })?
            .to_owned();
        Ok(self.ids(client_id))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        // UpdateUserPoolClient replaces the whole configuration: send all of it.
        let pool_id = cx.dep(user_pool::USER_POOL_ID)?;
        cx.aws()
            .cognito
            .update_user_pool_client()
            .user_pool_id(pool_id)
            .client_id(live.id("client_id")?)
            .client_name(self.client_name(cx))
            .allowed_o_auth_flows(OAuthFlowType::ClientCredentials)
            .allowed_o_auth_flows_user_pool_client(true)
            .set_allowed_o_auth_scopes(Some(self.scopes(cx)))
            .access_token_validity(cx.settings().token_validity_minutes)
            .token_validity_units(
                TokenValidityUnitsType::builder()
                    .access_token(TimeUnitsType::Minutes)
                    .build(),
            )
            .send()
            .await
            .aws(cx, "UpdateUserPoolClient")?;
        Ok(self.ids(live.id("client_id")?.to_owned()))
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        let Some(pool_id) = cx.dep_opt(user_pool::USER_POOL_ID) else {
            return Ok(());
        };
        cx.aws()
            .cognito
            .delete_user_pool_client()
            .user_pool_id(pool_id)
            .client_id(live.id("client_id")?)
            .send()
            .await
            .or_gone(cx, "DeleteUserPoolClient", |e| {
                e.is_resource_not_found_exception()
            })
            .map(|_| ())
    }
}
