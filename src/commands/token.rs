//! `neo4j-gw token`: an OAuth access token for the gateway, from the client-credentials grant.
//!
//! The pool, app client and domain come from the state file; the client secret is read from Cognito
//! (`DescribeUserPoolClient`) at call time and only ever sent to the token endpoint, as HTTP Basic client
//! authentication. By default only the access token is printed, so `TOKEN=$(neo4j-gw token)` works.
//! [`obtain`] is the same grant for the commands that go through the gateway (`tools`, `call`, `up`'s check).

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::{Env, connect, prepare};
use crate::cli::TokenArgs;
use crate::config::{PasswordSource, Purpose, Secret};
use crate::error::{Error, Result};
use crate::reach::{Reach, Route, Unreached};
use crate::resources::{Cx, app_client, user_pool, user_pool_domain};
use crate::state::State;
use crate::wait::{self, Poll};

const NODE: &str = "token";
/// How long a token endpoint whose name does not resolve yet (a fresh Cognito domain) is retried at most; nothing
/// else is retried (a refused connection, a TLS failure, a timeout are reported at once).
const MAX_REACH_WAIT: Duration = Duration::from_secs(180);

pub async fn run(env: &Env, args: &TokenArgs) -> Result<()> {
    let prepared = prepare(env, None, Purpose::Inspect, PasswordSource::Env(None)).await?;
    let agent = choose_agent(&prepared.settings, args.agent.as_deref())?;
    let token = obtain_for(env, &prepared, &agent, args.token_endpoint.as_deref()).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&token.document()).unwrap_or_default()
        );
    } else if args.headers {
        // For MCP clients' header helpers (e.g. Claude Code's `headersHelper`): the headers as a JSON object.
        println!(
            "{}",
            json!({"Authorization": format!("Bearer {}", token.access_token.expose())})
        );
    } else {
        println!("{}", token.access_token.expose());
    }
    Ok(())
}

/// A token for the deployed stack of `prepared`: connects, then [`obtain`]. `endpoint_flag` overrides the token
/// endpoint (else the `token_endpoint` setting, else the Cognito domain's, reached as `crate::reach` says).
pub async fn obtain_for(
    env: &Env,
    prepared: &super::Prepared,
    agent: &str,
    endpoint_flag: Option<&str>,
) -> Result<Token> {
    let state = deployed(prepared)?;
    let override_endpoint = match endpoint_flag {
        Some(u) => Some(validate_endpoint(u).map_err(|m| Error::usage("--token-endpoint", m))?),
        None => prepared.settings.token_endpoint.clone(),
    };
    let (aws, account) = connect(env, prepared).await?;
    let reach = Reach::new(
        prepared.settings.data_plane_endpoint.as_deref(),
        aws.emulated,
    )?;
    let engine = super::engine(env, prepared, aws, &account);
    let cx = Cx::new(engine.shared.clone(), NODE, env.progress.line(NODE));
    let token = obtain(&cx, &state, agent, override_endpoint.as_deref(), &reach).await;
    // Nothing on stderr when it worked: `TOKEN=$(neo4j-gw token)` and headers helpers read stdout only.
    cx.line.dismiss();
    token
}

/// The state of a deployed stack, or a message saying to deploy it.
pub fn deployed(prepared: &super::Prepared) -> Result<State> {
    prepared.state.clone().ok_or_else(|| {
        Error::other(format!(
            "stack `{}` is not deployed (no state file at {}): run `neo4j-gw up` first",
            prepared.settings.stack,
            prepared.file.path.display()
        ))
    })
}

/// An access token from the client-credentials grant.
pub struct Token {
    pub access_token: Secret,
    pub token_type: String,
    pub expires_in: u64,
    pub expires_at: String,
    pub scope: String,
}

impl Token {
    /// The document `token --json` prints.
    pub fn document(&self) -> Value {
        json!({
            "access_token": self.access_token.expose(),
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "expires_at": self.expires_at,
            "scope": self.scope,
        })
    }
}

/// The agent a command acts as: the one named (it must be configured), else the stack's only agent; a stack with
/// several agents needs `--agent` (exit 2, listing them). Pure: no AWS call.
pub fn choose_agent(settings: &crate::config::Settings, requested: Option<&str>) -> Result<String> {
    let names = || {
        settings
            .agents
            .iter()
            .map(|(n, a)| format!("{n} ({})", a.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match requested {
        Some(name) if settings.agents.contains_key(name) => Ok(name.to_owned()),
        Some(name) => Err(Error::usage(
            "--agent",
            format!(
                "stack `{}` has no agent `{name}`; its agents are {}",
                settings.stack,
                names()
            ),
        )),
        None if settings.agents.len() == 1 => {
            Ok(settings.agents.keys().next().cloned().unwrap_or_default())
        }
        None => Err(Error::usage(
            "--agent",
            format!(
                "stack `{}` has several agents: name one of {}",
                settings.stack,
                names()
            ),
        )),
    }
}

/// The scopes an agent's token asks for: the gateway's and those of its access level, space-separated.
pub fn agent_scopes(settings: &crate::config::Settings, agent: &str) -> String {
    let mut scopes = vec![format!(
        "{}/{}",
        settings.resource_server_id, settings.scope
    )];
    if let Some(access) = settings.access_of(agent) {
        scopes.extend(
            access
                .levels()
                .iter()
                .map(|a| format!("{}/{}", settings.resource_server_id, a.scope())),
        );
    }
    scopes.join(" ")
}

/// Gets an access token for an agent's app client: the client secret is read from Cognito now and kept only in
/// memory; the token endpoint is `endpoint` when given, else the stack's Cognito domain's (through `reach`).
pub async fn obtain(
    cx: &Cx,
    state: &State,
    agent: &str,
    endpoint: Option<&str>,
    reach: &Reach,
) -> Result<Token> {
    let settings = cx.settings();
    let pool_id = recorded(state, user_pool::NODE, "user_pool_id")?;
    let client_id = recorded(state, &app_client::node_of(agent), "client_id").map_err(|_| {
        Error::other(format!(
            "{NODE}: agent `{agent}` has no app client recorded: run `neo4j-gw up` to create it"
        ))
    })?;
    let scope = agent_scopes(settings, agent);
    let route = match endpoint {
        Some(u) => Route {
            client: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| Error::other(format!("{NODE}: cannot set up the HTTP client: {e}")))?,
            url: u.to_owned(),
        },
        None => {
            let domain = recorded(state, user_pool_domain::NODE, "domain")?;
            let url = format!(
                "https://{domain}.auth.{}.amazoncognito.com/oauth2/token",
                cx.shared.region
            );
            reach
                .route(&url, Duration::from_secs(30))
                .map_err(|e| match e {
                    Error::Usage { message, .. } => Error::usage(
                        "--data-plane-endpoint",
                        format!("{message} (or pass --token-endpoint)"),
                    ),
                    other => other,
                })?
        }
    };
    // A given endpoint's name is the operator's, not a new Cognito domain's: not resolving is not waited for.
    let overridden = endpoint.is_some();
    let endpoint = route.url.clone();

    // The secret, read now and kept only in memory.
    let client = app_client::describe(cx, &pool_id, &client_id).await?.ok_or_else(|| {
        Error::other(format!(
            "{NODE}: app client {client_id} (agent {agent}) of user pool {pool_id} does not exist: run `neo4j-gw up` to create it again"
        ))
    })?;
    let secret = match client.client_secret() {
        Some(s) if !s.is_empty() => Secret::new(s.to_owned()),
        _ => {
            return Err(Error::other(format!(
                "{NODE}: app client {client_id} has no secret: run `neo4j-gw up` to replace it with one that has"
            )));
        }
    };
    drop(client);

    let http = route.client;
    let bound = settings.wait_timeout.min(MAX_REACH_WAIT);
    let announced = std::sync::atomic::AtomicBool::new(false);
    let response = wait::until(cx, "the token endpoint's name to resolve", bound, || {
        let request = http
            .post(&endpoint)
            .basic_auth(&client_id, Some(secret.expose()))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("grant_type", "client_credentials"), ("scope", scope.as_str())]);
        let endpoint = &endpoint;
        let announced = &announced;
        async move {
            match request.send().await {
                Ok(r) => Ok(Poll::Ready(r)),
                Err(e) => {
                    let kind = Unreached::of(&e);
                    // Only what AWS documents as a propagation delay is waited for: a new Cognito domain's name
                    // resolving. Everything else is reported at once, with what to check.
                    if kind != Unreached::Dns || overridden {
                        let check = if overridden {
                            "check --token-endpoint".to_owned()
                        } else {
                            reach.what_to_check(kind)
                        };
                        return Err(Error::other(format!(
                            "{NODE}: {}: {}. {check}",
                            kind.describe(endpoint),
                            describe_reqwest(&e)
                        )));
                    }
                    if !announced.swap(true, std::sync::atomic::Ordering::Relaxed) && !cx.line.visible() {
                        eprintln!(
                            "{NODE}: {endpoint} does not resolve yet; a new Cognito domain takes up to a few \
                             minutes to resolve: retrying for up to {}s",
                            bound.as_secs()
                        );
                    }
                    Ok(Poll::Pending(format!(
                        "{} (a new Cognito domain takes up to a few minutes to resolve)",
                        kind.describe(endpoint)
                    )))
                }
            }
        }
    })
    .await
    .map_err(|e| match e {
        Error::Wait(m) => Error::other(format!(
            "{m}. A newly created Cognito domain can take a few minutes to resolve: try again shortly; if it \
             persists, check that the domain exists (`neo4j-gw status`, user-pool-domain) and that this machine \
             resolves public names"
        )),
        other => other,
    })?;
    let status = response.status();
    let body = response.text().await.map_err(|e| {
        Error::other(format!(
            "{NODE}: reading the answer of {endpoint} failed: {e}"
        ))
    })?;
    let doc: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(Error::other(
            match doc.get("error").and_then(Value::as_str) {
                Some(code) => oauth_error(
                    code,
                    doc.get("error_description").and_then(Value::as_str),
                    &scope,
                    &endpoint,
                ),
                None => format!(
                    "{NODE}: {endpoint} answered HTTP {status} without an OAuth error; is it an OAuth 2.0 token endpoint?"
                ),
            },
        ));
    }
    answer(&doc, &scope, SystemTime::now()).ok_or_else(|| {
        Error::other(format!("{NODE}: {endpoint} answered HTTP {status} without an access_token; is it an OAuth 2.0 token endpoint?"))
    })
}

/// An ID recorded by `up`, or a message saying to run it.
pub fn recorded(state: &State, node: &str, key: &str) -> Result<String> {
    state
        .resources
        .get(node)
        .and_then(|r| r.ids.get(key))
        .cloned()
        .ok_or_else(|| {
            Error::other(format!(
                "{NODE}: the state of stack `{}` has no {node} (`{key}`): run `neo4j-gw up` first",
                state.stack
            ))
        })
}

fn validate_endpoint(u: &str) -> std::result::Result<String, String> {
    let parsed = url::Url::parse(u).map_err(|e| format!("`{u}` is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!("`{u}` must be an http(s) URL"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry credentials".into());
    }
    Ok(u.to_owned())
}

/// The error and its causes, without the request (which carries the client's credentials in a header only).
fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let t = s.to_string();
        if !parts.contains(&t) {
            parts.push(t);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// The token of a successful token answer.
fn answer(doc: &Value, requested_scope: &str, now: SystemTime) -> Option<Token> {
    let access_token = doc
        .get("access_token")?
        .as_str()
        .filter(|t| !t.is_empty())?;
    let expires_in = doc
        .get("expires_in")
        .and_then(Value::as_u64)
        .unwrap_or(3600);
    let expires_at =
        humantime::format_rfc3339_seconds(now + Duration::from_secs(expires_in)).to_string();
    Some(Token {
        access_token: Secret::new(access_token.to_owned()),
        token_type: doc
            .get("token_type")
            .and_then(Value::as_str)
            .unwrap_or("Bearer")
            .to_owned(),
        expires_in,
        expires_at,
        scope: doc
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or(requested_scope)
            .to_owned(),
    })
}

/// A message for an OAuth error answer: what it means for this stack and what to do.
fn oauth_error(code: &str, description: Option<&str>, scope: &str, endpoint: &str) -> String {
    let said = description.map(|d| format!(" ({d})")).unwrap_or_default();
    let what = match code {
        "invalid_client" => "the token endpoint did not accept the app client's ID and secret. The client may have been \
            deleted or replaced out of band: run `neo4j-gw status`, then `neo4j-gw up` to repair the stack"
            .to_owned(),
        "invalid_scope" => format!(
            "the scope `{scope}` is not granted to the app client or not defined by the resource server. Use the \
             --resource-server-id and --scope of the deployment, or run `neo4j-gw up` to restore them"
        ),
        "unauthorized_client" => "the app client may not use the client-credentials grant: run `neo4j-gw up` to \
            restore its OAuth settings"
            .to_owned(),
        "invalid_grant" | "unsupported_grant_type" | "invalid_request" => {
            format!("the endpoint {endpoint} refused the client-credentials request; is it the Cognito domain's token endpoint?")
        }
        _ => format!("the endpoint {endpoint} refused the request"),
    };
    format!("{NODE}: OAuth error `{code}`{said}: {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(agents: &str) -> crate::config::Settings {
        let mut layers = crate::config::Layers::default();
        layers.flags.insert("agents".into(), agents.into());
        layers.flags.insert("region".into(), "us-east-1".into());
        crate::config::resolve(
            &layers,
            crate::config::Purpose::Inspect,
            PasswordSource::Env(None),
        )
        .unwrap()
    }

    #[test]
    fn one_agent_is_chosen_by_itself_and_several_need_a_name() {
        assert_eq!(
            choose_agent(&settings("default:read"), None).unwrap(),
            "default"
        );
        let two = settings("reader:read,writer:write");
        assert_eq!(choose_agent(&two, Some("writer")).unwrap(), "writer");
        for asked in [None, Some("nobody")] {
            let e = choose_agent(&two, asked).unwrap_err();
            assert!(matches!(e, Error::Usage { .. }), "{e}");
            assert!(
                e.to_string().contains("reader (read), writer (write)"),
                "{e}"
            );
        }
        assert_eq!(
            agent_scopes(&two, "writer"),
            "neo4j-mcp-gateway/invoke neo4j-mcp-gateway/read neo4j-mcp-gateway/write"
        );
        assert_eq!(
            agent_scopes(&two, "reader"),
            "neo4j-mcp-gateway/invoke neo4j-mcp-gateway/read"
        );
    }

    #[test]
    fn answer_computes_expiry_and_defaults_the_scope() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let doc = json!({"access_token": "abc", "token_type": "Bearer", "expires_in": 3600});
        let a = answer(&doc, "rs/invoke", now).unwrap().document();
        assert_eq!(a["expires_at"], "2023-11-14T23:13:20Z");
        assert_eq!(a["scope"], "rs/invoke");
        assert_eq!(a["expires_in"], 3600);
        assert!(answer(&json!({"token_type": "Bearer"}), "s", now).is_none());
    }

    #[test]
    fn oauth_errors_name_the_error_and_the_remedy() {
        let m = oauth_error(
            "invalid_scope",
            Some("Invalid scope requested"),
            "rs/invoke",
            "http://x",
        );
        assert!(
            m.contains("invalid_scope") && m.contains("rs/invoke") && m.contains("--scope"),
            "{m}"
        );
        let m = oauth_error("invalid_client", None, "rs/invoke", "http://x");
        assert!(
            m.contains("invalid_client") && m.contains("neo4j-gw up"),
            "{m}"
        );
    }

    #[test]
    fn endpoint_override_is_a_plain_http_url() {
        assert!(validate_endpoint("http://127.0.0.1:8080/oauth2/token").is_ok());
        assert!(validate_endpoint("ftp://x/token").is_err());
        assert!(validate_endpoint("https://id:secret@x/token").is_err());
        assert!(validate_endpoint("not a url").is_err());
    }
}
