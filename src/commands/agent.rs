//! The agent's path, as an agent walks it: a Cognito access token → the gateway (`CUSTOM_JWT`) → the REQUEST
//! interceptor (swaps the token for Neo4j credentials) → the gateway target → the Neo4j MCP server behind the
//! load balancer. Used by `tools`, `call` and the check at the end of `up`.
//!
//! When a step fails, [`Walk::diagnose`] names the hop that failed — token, gateway 401, interceptor error,
//! target (not READY / 401), server unhealthy — with the evidence: the HTTP status and body of a plain
//! `initialize`, the target's status and `statusReasons`, the healthy-target count, and the name of the
//! interceptor's newest log stream.

use std::collections::BTreeMap;

use serde_json::Value;

use super::token::{self, Token};
use super::{Env, Prepared};
use crate::engine::{Engine, Report};
use crate::error::{Error, Result};
use crate::mcp::{self, Failure, Session};
use crate::reach::{Reach, Unreached};
use crate::resources::{
    Cx, gateway, gateway_target, interceptor_function, target_group, task_roles,
};
use crate::state::State;
use rmcp::model::Tool;

/// What the interceptor answers when it cannot read the Neo4j credentials (lambda/interceptor/interceptor.py).
const INTERCEPTOR_MESSAGES: &[&str] = &[
    "Neo4j credentials are temporarily unavailable",
    "The gateway could not obtain Neo4j credentials",
];

/// What the gateway answers when it cannot invoke the interceptor (the start of its message, any exception level).
const INVOKE_FAILED: &str = "Interceptor invocation failed";

/// What the gateway answers when its policy engine cannot decide (the role lacks the engine's actions, or the engine
/// is not ACTIVE): the text reported from an account (docs/aws-behaviour.md, "Agents' rights at the gateway").
const POLICY_FAILED: &str = "Policy evaluation failed";

/// The task execution role's node.
const TASK_EXECUTION_ROLE: &str = task_roles::TASK_EXECUTION_ROLE.node;

/// The IAM roles AWS acts with on the agent's path: the gateway's (invokes the interceptor), the interceptor's
/// (reads the secrets), the task execution role (starts the server's task).
const ROLES: &[&str] = &[
    gateway::ROLE_NODE,
    interceptor_function::ROLE_NODE,
    TASK_EXECUTION_ROLE,
];

/// One walk of the path: the token and the gateway URL.
pub struct Walk<'a> {
    engine: &'a Engine,
    state: &'a State,
    reach: Reach,
    pub url: String,
    token: Option<Token>,
    /// The agent whose token the walk uses.
    pub agent: String,
    /// Show the steps as progress lines (`up`); `tools` and `call` keep stderr for errors.
    show: bool,
}

/// The hop that failed and what shows it.
#[derive(Debug)]
pub struct Diagnosis {
    pub hop: &'static str,
    pub detail: String,
    pub evidence: BTreeMap<String, String>,
}

impl Diagnosis {
    pub fn into_error(self, step: &str) -> Error {
        let mut text = format!(
            "agent path: {step} failed at the {}: {}",
            self.hop, self.detail
        );
        for (k, v) in &self.evidence {
            text.push_str(&format!("\n  {k}: {v}"));
        }
        Error::other(text)
    }
}

impl<'a> Walk<'a> {
    pub fn new(
        engine: &'a Engine,
        prepared: &Prepared,
        state: &'a State,
        show: bool,
    ) -> Result<Walk<'a>> {
        let reach = Reach::new(
            prepared.settings.data_plane_endpoint.as_deref(),
            engine.shared.aws.emulated,
        )?;
        let url = token::recorded(state, gateway::NODE, "url")?;
        Ok(Walk {
            engine,
            state,
            reach,
            url,
            token: None,
            agent: verifying_agent(&prepared.settings),
            show,
        })
    }

    /// Walks as `agent` (from `--agent`: see [`token::choose_agent`]).
    pub fn as_agent(mut self, agent: String) -> Self {
        self.agent = agent;
        self
    }

    /// Uses `token` for the session instead of asking Cognito for one.
    pub fn with_token(mut self, token: Token) -> Self {
        self.token = Some(token);
        self
    }

    /// The access token of the session, once one was obtained.
    pub fn token(&self) -> Option<&Token> {
        self.token.as_ref()
    }

    /// False against an emulator without a data plane: then nothing can be reached.
    pub fn reachable(&self) -> bool {
        self.reach.available()
    }

    pub fn unreachable_reason(&self) -> &'static str {
        self.reach.unavailable_reason()
    }

    fn line(&self, env: &Env, node: &'static str) -> crate::progress::Line {
        if self.show {
            env.progress.line(node)
        } else {
            crate::progress::Progress::hidden()
        }
    }

    fn cx(&self, env: &Env, node: &'static str) -> Cx {
        Cx::new(self.engine.shared.clone(), node, self.line(env, node))
    }

    /// An error for `tools` and `call` when nothing can be reached (an emulator without a data plane).
    pub fn require_reachable(&self) -> Result<()> {
        if self.reachable() {
            Ok(())
        } else {
            Err(Error::usage(
                "--data-plane-endpoint",
                self.unreachable_reason(),
            ))
        }
    }

    /// The tools an agent sees: token, `initialize`, every page of `tools/list`. A failure — an empty list too —
    /// names the hop, with the evidence.
    pub async fn list_tools(&mut self, env: &Env) -> Result<Vec<Tool>> {
        let session = self.open(env).await?;
        let listed = session.tools().await;
        session.close().await;
        let failure = match listed {
            Ok(tools) if !tools.is_empty() => return Ok(tools),
            Ok(_) => Failure::Other("the gateway listed no tools".into()),
            Err(f) => f,
        };
        Err(self
            .diagnose(env, "tools/list", &failure)
            .await
            .into_error("tools/list"))
    }

    /// What "verified" means (`up`, `doctor`): in one session, the tools listed and a read-only query
    /// ([`PROBE_QUERY`]) answered by Neo4j through `read-cypher`. A failure names the hop; a query Neo4j refused is
    /// named a broken database connection, with the server's text and what to do. The outer error is the listing's,
    /// the inner one the query's.
    pub async fn verify(&mut self, env: &Env) -> Result<(Vec<Tool>, Result<()>)> {
        let session = self.open(env).await?;
        let tools = match session.tools().await {
            Ok(tools) if !tools.is_empty() => tools,
            listed => {
                session.close().await;
                let failure = match listed {
                    Err(f) => f,
                    Ok(_) => Failure::Other("the gateway listed no tools".into()),
                };
                return Err(self
                    .diagnose(env, "tools/list", &failure)
                    .await
                    .into_error("tools/list"));
            }
        };
        let Some(read) = tools.iter().find(|t| t.name.ends_with(READ_TOOL)) else {
            session.close().await;
            let listed = tools
                .iter()
                .map(|t| t.name.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Ok((
                tools,
                Err(Error::other(format!(
                    "agent path: the gateway lists no `{READ_TOOL}` tool, so no query can prove that Neo4j answers \
                 (listed: {listed})"
                ))),
            ));
        };
        let line = self.line(env, "database");
        line.set(format!("{READ_TOOL}: {PROBE_QUERY}"));
        let mut args = serde_json::Map::new();
        args.insert("query".into(), Value::from(PROBE_QUERY));
        let answer = session.call(&read.name, args).await;
        session.close().await;
        match answer {
            Ok(result) if result.is_error != Some(true) => {
                line.finish(format!("Neo4j answered {PROBE_QUERY}"), true);
                Ok((tools, Ok(())))
            }
            Ok(result) => {
                line.finish("Neo4j did not answer".into(), false);
                Ok((tools, Err(database_error(&mcp::result_text(&result)))))
            }
            Err(f) => {
                line.finish("failed".into(), false);
                let e = self
                    .diagnose(env, "tools/call", &f)
                    .await
                    .into_error(&format!("tools/call {READ_TOOL} ({PROBE_QUERY})"));
                Ok((tools, Err(e)))
            }
        }
    }

    /// Token, then the `initialize` handshake with the gateway.
    pub async fn open(&mut self, env: &Env) -> Result<Session> {
        let line = self.line(env, "agent-path");
        line.set("getting an access token".into());
        let cx = Cx::new(self.engine.shared.clone(), "token", line.clone());
        let obtained = match self.token.take() {
            Some(t) => Ok(t),
            None => {
                token::obtain(
                    &cx,
                    self.state,
                    &self.agent,
                    cx.settings().token_endpoint.as_deref(),
                    &self.reach,
                )
                .await
            }
        };
        let token = obtained.map_err(|e| match e {
            e @ Error::Usage { .. } => e,
            e => Diagnosis {
                hop: "token",
                detail: e.to_string(),
                evidence: BTreeMap::new(),
            }
            .into_error("getting an access token"),
        })?;
        let versions = cx.settings().protocol_versions.clone();
        line.set("initialize through the gateway".into());
        match Session::open(&self.url, &token.access_token, &self.reach, &versions).await {
            Ok(s) => {
                line.finish("token obtained, session initialized".into(), true);
                self.token = Some(token);
                Ok(s)
            }
            Err(f) => {
                line.finish("failed".into(), false);
                self.token = Some(token);
                // The gateway could not be reached at all: nothing on the path to diagnose, say what to check.
                let kind = Unreached::of_text(&f.to_string());
                if matches!(kind, Unreached::Refused | Unreached::Tls | Unreached::Dns) {
                    return Err(Error::other(format!(
                        "agent path: initialize: {}: {}. {}",
                        kind.describe(&self.url),
                        mcp::shorten(&f.to_string(), 400),
                        self.reach.what_to_check(kind)
                    )));
                }
                Err(self
                    .diagnose(env, "initialize", &f)
                    .await
                    .into_error("initialize"))
            }
        }
    }

    /// Names the hop that made `step` fail, from what the client saw and what AWS reports.
    pub async fn diagnose(&self, env: &Env, step: &str, failure: &Failure) -> Diagnosis {
        let mut evidence = BTreeMap::new();
        evidence.insert(
            "client saw".to_owned(),
            mcp::shorten(&failure.to_string(), 400),
        );
        let versions = self.engine.shared.settings.protocol_versions.clone();
        let probe = match &self.token {
            Some(t) => mcp::probe(&self.url, &t.access_token, &self.reach, &versions)
                .await
                .ok(),
            None => None,
        };
        if let Some(p) = &probe {
            evidence.insert(
                "gateway answer to a plain initialize".to_owned(),
                format!(
                    "HTTP {}{}: {}",
                    p.status,
                    p.www_authenticate
                        .as_ref()
                        .map(|w| format!(" (WWW-Authenticate: {w})"))
                        .unwrap_or_default(),
                    p.body
                ),
            );
        }
        // What AWS says about the resources on the path (read-only calls).
        let reports: BTreeMap<String, Report> = self
            .engine
            .status(Some(self.state))
            .await
            .into_iter()
            .map(|r| (r.resource.clone(), r))
            .collect();
        let target = reports.get(gateway_target::NODE);
        if let Some(t) = target {
            evidence.insert(
                "gateway target".to_owned(),
                format!(
                    "{}{}",
                    t.state,
                    t.message
                        .as_ref()
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default()
                ),
            );
        }
        let healthy = reports
            .get(target_group::NODE)
            .and_then(|r| r.details.iter().find(|(k, _)| k == "healthy_targets"))
            .map(|(_, v)| v.clone());
        if let Some(h) = &healthy {
            evidence.insert("healthy targets of the load balancer".to_owned(), h.clone());
        }
        let cx = self.cx(env, interceptor_function::NODE);
        if let Some(stream) = interceptor_function::newest_log_stream(&cx).await {
            evidence.insert("interceptor log stream".to_owned(), stream);
        }
        // The roles of the path (issue 17): a policy or trust changed out of band is the likeliest cause of a hop
        // that AWS refuses on a role's behalf; each drifted one is named, and `up` puts it back.
        let drifted_roles: Vec<&str> = ROLES
            .iter()
            .copied()
            .filter(|node| reports.get(*node).is_some_and(|r| !r.drift.is_empty()))
            .collect();
        for node in &drifted_roles {
            if let Some(r) = reports.get(*node) {
                let what: Vec<&str> = r.drift.iter().map(|d| d.attribute.as_str()).collect();
                evidence.insert(
                    format!("IAM role {node}"),
                    format!("drifted ({}); `neo4j-gw up` restores it", what.join(", ")),
                );
            }
        }
        let role_drifted = |node: &str| drifted_roles.contains(&node);
        if !self.engine.shared.settings.gateway_debug {
            evidence.insert(
                "gateway exception level".to_owned(),
                "off: AgentCore answers failures with a generic message; `neo4j-gw up --gateway-debug` makes it \
                 return its granular error (exceptionLevel DEBUG) while you bring the stack up"
                    .to_owned(),
            );
        }
        let said = format!(
            "{failure} {}",
            probe.as_ref().map(|p| p.body.as_str()).unwrap_or_default()
        );
        let (hop, detail) = if probe
            .as_ref()
            .is_some_and(|p| p.status == 401 || p.status == 403)
        {
            (
                "gateway (401)",
                "the gateway refused the access token (401: no or an invalid token — signature against the user \
                 pool's JWKS, expiry, the app client in allowedClients; 403: a valid token without the scope in \
                 allowedScopes). Run `neo4j-gw status`: a drifted gateway authorizer is repaired by `neo4j-gw up`"
                    .to_owned(),
            )
        } else if said.contains(INVOKE_FAILED) {
            (
                "gateway → interceptor (invoke)",
                format!(
                    "the gateway could not invoke the REQUEST interceptor: AgentCore invokes it with the gateway's \
                     role, which must trust bedrock-agentcore.amazonaws.com and allow lambda:InvokeFunction on the \
                     function{}",
                    if role_drifted(gateway::ROLE_NODE) {
                        " — the gateway role has drifted; `neo4j-gw up` restores it"
                    } else {
                        "; the interceptor function's own state (`neo4j-gw status`) is the other cause"
                    }
                ),
            )
        } else if INTERCEPTOR_MESSAGES.iter().any(|m| said.contains(m)) {
            (
                "interceptor",
                format!(
                    "the REQUEST interceptor could not read the Neo4j credentials (or the origin value) from its \
                     secrets; its log stream below says why (secret missing, not JSON, access denied){}",
                    if role_drifted(interceptor_function::ROLE_NODE) {
                        " — the interceptor's role has drifted (it may read exactly the stack's secrets); \
                         `neo4j-gw up` restores it"
                    } else {
                        ""
                    }
                ),
            )
        } else if said.contains(POLICY_FAILED) {
            let engine = self
                .engine
                .shared
                .known
                .read()
                .ok()
                .and_then(|k| crate::resources::policy_engine::ARN.in_known(&k).cloned());
            (
                "gateway → policy engine",
                format!(
                    "the gateway could not evaluate its policies (issue 20): AgentCore asks the policy engine{} with                      the gateway's role, which must allow {} on the engine and the gateway, and the engine must be                      ACTIVE{}",
                    engine.map(|e| format!(" {e}")).unwrap_or_default(),
                    gateway::POLICY_ACTIONS.join(", "),
                    if role_drifted(gateway::ROLE_NODE) {
                        " — the gateway role has drifted; `neo4j-gw up` restores it"
                    } else {
                        "; see `neo4j-gw status` (policy-engine, policy-read, policy-write)"
                    }
                ),
            )
        } else if role_drifted(gateway::ROLE_NODE) {
            (
                "gateway → target (origin key)",
                "the gateway's own calls to the target carry the origin key, which AgentCore fetches with the \
                 gateway's role (bedrock-agentcore:GetWorkloadAccessToken, bedrock-agentcore:GetResourceApiKey on \
                 the origin key provider, secretsmanager:GetSecretValue on the origin secret) — the gateway role \
                 has drifted; `neo4j-gw up` restores it"
                    .to_owned(),
            )
        } else if target.is_some_and(|t| t.state != "present") {
            (
                "gateway target",
                format!(
                    "the gateway target is {}; `neo4j-gw up` synchronises or replaces it",
                    target.map(|t| t.state).unwrap_or("missing")
                ),
            )
        } else if healthy.as_deref().is_some_and(|h| h.starts_with("0/"))
            && role_drifted(TASK_EXECUTION_ROLE)
        {
            (
                "MCP server's task (execution role)",
                "the load balancer has no healthy target and the task execution role has drifted: ECS starts the \
                 server's task with that role, which must read the task's secret and write its log stream \
                 (ResourceInitializationError otherwise); `neo4j-gw up` restores the role"
                    .to_owned(),
            )
        } else if healthy.as_deref().is_some_and(|h| h.starts_with("0/")) {
            (
                "MCP server (unhealthy)",
                "the load balancer has no healthy target: the server's tasks are not running or fail their health \
                 check; see `neo4j-gw status` (service) and the container's logs"
                    .to_owned(),
            )
        } else if said.contains("401") || said.contains("Unauthorized") {
            (
                "MCP server (401)",
                "the Neo4j MCP server refused the request's credentials: the header the interceptor sets did not \
                 reach it or carried no usable Basic credentials"
                    .to_owned(),
            )
        } else {
            ("gateway", format!("{step} did not complete"))
        };
        Diagnosis {
            hop,
            detail,
            evidence,
        }
    }
}

/// The read-only tool of the Neo4j MCP server, and the query `up` and `doctor` send through it.
pub const READ_TOOL: &str = "read-cypher";
pub const PROBE_QUERY: &str = "RETURN 1 AS ok";

/// A query that the Neo4j MCP server answered with an error: the path up to the server works, its connection to
/// Neo4j does not. Names the likely setting from the server's text (the Neo4j error codes it passes on).
pub fn database_error(said: &str) -> Error {
    let text = mcp::shorten(said, 400);
    let (what, todo) = if text.contains("Security.Unauthorized")
        || text.contains("authentication failure")
    {
        (
            "Neo4j refused the username or password",
            "set the right password (NEO4J_PASSWORD or --neo4j-password-stdin) and --neo4j-username, then run \
             `neo4j-gw up`",
        )
    } else if text.contains("DatabaseNotFound") || text.contains("Database does not exist") {
        (
            "the database does not exist on that Neo4j server",
            "set --neo4j-database to an existing database (e.g. `neo4j`), then run `neo4j-gw up`",
        )
    } else if [
        "ServiceUnavailable",
        "Could not connect",
        "connection refused",
        "no such host",
        "unsupported URI",
    ]
    .iter()
    .any(|m| text.contains(m))
    {
        (
            "the MCP server cannot connect to Neo4j at the configured URI",
            "check --neo4j-uri (scheme, host, port) and that the database accepts connections from the internet \
             (the task reaches it through the internet gateway), then run `neo4j-gw up`",
        )
    } else {
        (
            "Neo4j did not answer the query",
            "check --neo4j-uri, --neo4j-database, --neo4j-username and the password, then run `neo4j-gw up`; \
             `neo4j-gw logs` shows the server's side",
        )
    };
    Error::other(format!(
        "agent path: the gateway lists the tools, but the database connection is broken: {what}. {READ_TOOL} \
         `{PROBE_QUERY}` answered with an error.\n  server said: {text}\n  what to do: {todo}"
    ))
}

/// The tool name as the gateway exposes it: `<target>___<tool>`, the prefix added when missing.
pub fn qualified(target: &str, tool: &str) -> String {
    let prefix = format!("{target}___");
    if tool.starts_with(&prefix) {
        tool.to_owned()
    } else {
        format!("{prefix}{tool}")
    }
}

/// The first line of a tool's description.
pub fn summary(description: Option<&str>) -> String {
    description
        .unwrap_or_default()
        .trim()
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Arguments of `call`: a JSON object.
pub fn arguments(text: &str, what: &str) -> Result<serde_json::Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::usage(
            what,
            "must be a JSON object, e.g. '{\"query\":\"RETURN 1 AS n\"}'",
        )),
        Err(e) => Err(Error::usage(what, format!("is not valid JSON: {e}"))),
    }
}

/// The agent whose token `up`'s check, `doctor` and the diagnosis use: `default` when configured, else the first
/// agent with read access (every level has it), by name.
pub fn verifying_agent(settings: &crate::config::Settings) -> String {
    if settings.agents.contains_key(crate::config::DEFAULT_AGENT) {
        return crate::config::DEFAULT_AGENT.to_owned();
    }
    settings
        .agents
        .keys()
        .next()
        .cloned()
        .unwrap_or_else(|| crate::config::DEFAULT_AGENT.to_owned())
}

/// One agent per configured access level (the first by name): whose listing shows what that level sees.
pub fn agent_per_level(
    settings: &crate::config::Settings,
) -> BTreeMap<crate::config::Access, String> {
    let mut out = BTreeMap::new();
    for (name, access) in &settings.agents {
        out.entry(*access).or_insert_with(|| name.clone());
    }
    out
}

/// The tool surface: the tools each configured access level sees through the gateway (`tools/list` as one agent
/// of each level; the gateway's policy engine filters the listing). `known` holds listings already made (by
/// agent), which are not made again. None when the data plane cannot be reached.
pub async fn tool_surface(
    env: &Env,
    engine: &Engine,
    prepared: &Prepared,
    state: &State,
    known: BTreeMap<String, Vec<String>>,
) -> Result<Option<BTreeMap<String, Vec<String>>>> {
    let mut surface = BTreeMap::new();
    for (access, agent) in agent_per_level(&prepared.settings) {
        let names = match known.get(&agent) {
            Some(names) => names.clone(),
            None => {
                let mut walk = Walk::new(engine, prepared, state, false)?.as_agent(agent.clone());
                if !walk.reachable() {
                    return Ok(None);
                }
                walk.list_tools(env)
                    .await?
                    .iter()
                    .map(|t| t.name.to_string())
                    .collect()
            }
        };
        let mut names = names;
        names.sort();
        surface.insert(access.as_str().to_owned(), names);
    }
    Ok(Some(surface))
}

/// What changed between two tool surfaces, per access level: `read: +new-tool -gone-tool`. Levels present in only
/// one of them are not compared (an agent of that level was added or removed: not a change of the server's).
pub fn surface_changes(
    recorded: &BTreeMap<String, Vec<String>>,
    current: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (level, now) in current {
        let Some(before) = recorded.get(level) else {
            continue;
        };
        let mut d: Vec<String> = now
            .iter()
            .filter(|t| !before.contains(t))
            .map(|t| format!("+{t}"))
            .collect();
        d.extend(
            before
                .iter()
                .filter(|t| !now.contains(t))
                .map(|t| format!("-{t}")),
        );
        if !d.is_empty() {
            out.push(format!("{level}: {}", d.join(" ")));
        }
    }
    out
}

/// The tools each access level sees now against those the last `up` recorded (through the gateway, as agents see
/// them; only for a deployed stack with a recorded surface and a reachable data plane). Never fails `status`: a
/// listing that fails is said in the summary.
pub async fn surface_report(env: &Env, engine: &Engine, prepared: &Prepared) -> serde_json::Value {
    let Some(state) = prepared
        .state
        .as_ref()
        .filter(|s| !s.tool_surface.is_empty())
    else {
        return serde_json::json!(null);
    };
    match tool_surface(env, engine, prepared, state, Default::default()).await {
        Ok(Some(current)) => {
            let changes = surface_changes(&state.tool_surface, &current);
            let summary = if changes.is_empty() {
                "as the last `up` recorded them".to_owned()
            } else {
                format!(
                    "changed since the last `up` — {}; `neo4j-gw up` records them (a tool no access level grants stays refused)",
                    changes.join("; ")
                )
            };
            serde_json::json!({"recorded": state.tool_surface, "current": current, "changes": changes, "summary": summary})
        }
        Ok(None) => {
            serde_json::json!({"recorded": state.tool_surface, "current": null, "changes": [],
            "summary": "not compared: the gateway's data plane cannot be reached"})
        }
        Err(e) => {
            serde_json::json!({"recorded": state.tool_surface, "current": null, "changes": [],
            "summary": format!("not compared: listing the tools failed: {}", e.to_string().lines().next().unwrap_or_default())})
        }
    }
}

/// A token for `up`'s final check, asked for beside the first reads of a deployed stack (a Cognito round trip off the
/// critical path); None when it cannot be had yet. `up` uses it only if the identity resources are unchanged.
pub async fn early_token(engine: &Engine, prepared: &Prepared, state: &State) -> Option<Token> {
    let reach = Reach::new(
        prepared.settings.data_plane_endpoint.as_deref(),
        engine.shared.aws.emulated,
    )
    .ok()
    .filter(Reach::available)?;
    let cx = Cx::new(
        engine.shared.clone(),
        "token",
        crate::progress::Progress::hidden(),
    );
    let start = std::time::Instant::now();
    let agent = verifying_agent(&prepared.settings);
    let token = token::obtain(
        &cx,
        state,
        &agent,
        cx.settings().token_endpoint.as_deref(),
        &reach,
    )
    .await
    .ok();
    engine.timings.record_beside("(token)", start);
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surface_changes_name_added_and_removed_tools_per_level() {
        let m = |pairs: &[(&str, &[&str])]| -> BTreeMap<String, Vec<String>> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect()
        };
        let before = m(&[("read", &["a", "b"]), ("write", &["a", "b", "w"])]);
        let after = m(&[("read", &["a", "c"]), ("write", &["a", "b", "w"])]);
        assert_eq!(surface_changes(&before, &after), vec!["read: +c -b"]);
        assert!(surface_changes(&before, &before).is_empty());
        // A level only one side has is an agent added or removed, not a change of the server's tools.
        assert!(surface_changes(&m(&[("read", &["a"])]), &m(&[("write", &["w"])])).is_empty());
    }

    #[test]
    fn tool_names_get_the_target_prefix_once() {
        assert_eq!(
            qualified("neo4j-mcp", "read-cypher"),
            "neo4j-mcp___read-cypher"
        );
        assert_eq!(
            qualified("neo4j-mcp", "neo4j-mcp___read-cypher"),
            "neo4j-mcp___read-cypher"
        );
    }

    #[test]
    fn arguments_must_be_an_object() {
        assert!(arguments(r#"{"query":"RETURN 1"}"#, "--args").is_ok());
        assert!(arguments("[1]", "--args").is_err());
        let e = arguments("{", "--args").unwrap_err();
        assert!(e.to_string().starts_with("--args"), "{e}");
    }

    #[test]
    fn summary_is_the_first_line() {
        assert_eq!(
            summary(Some("\n\tRetrieve the schema.\n more")),
            "Retrieve the schema."
        );
        assert_eq!(summary(None), "");
    }
}
