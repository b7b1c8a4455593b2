//! `neo4j-gw status`: what exists, what is healthy, what drifted, and the outputs. Read-only.

use serde_json::json;

use super::{Env, connect_beside, engine, known, prepare};
use crate::cli::StatusArgs;
use crate::config::{PasswordSource, Purpose};
use crate::error::{Result, exit};
use crate::outputs;

/// What `status` and `up` say when the origin lock is off.
pub const OFF_WARNING: &str = "the origin lock is off (origin_lock = false): anyone who finds the server's URL reaches \
    it directly, without Cognito or the gateway, and can try Neo4j passwords; and the interceptor then carries the \
    credentials, which works only if AgentCore also sends an interceptor's headers on its own handshake with the \
    server (not documented; docs/aws-behaviour.md, \"Strict and lenient readings\"). Turn it on with \
    `neo4j-gw up --origin-lock true`";

/// The origin lock as `status` shows it: whether it is wanted, and whether the listener and the rule are as the
/// lock needs them.
fn origin_lock(
    settings: &crate::config::Settings,
    reports: &[crate::engine::Report],
) -> serde_json::Value {
    let find = |n: &str| reports.iter().find(|r| r.resource == n);
    let listener = find(crate::resources::listener::NODE);
    let default_ok = listener.is_some_and(|l| {
        l.state != "missing" && !l.drift.iter().any(|d| d.attribute == "default_action")
    });
    let rule = find(crate::resources::origin_rule::NODE)
        .map(|r| r.state)
        .unwrap_or("missing");
    let (on, summary) = if !settings.origin_lock {
        (
            false,
            "off — the load balancer forwards every request (origin_lock = false)".to_owned(),
        )
    } else if default_ok && rule == "present" {
        (
            true,
            "on — the listener answers 403 unless a request carries the origin value the gateway adds; \
             the origin rule forwards those"
                .to_owned(),
        )
    } else {
        (
            false,
            format!(
                "wanted but not in force — listener default {}, origin rule {rule}; `neo4j-gw up` restores it",
                if default_ok { "403" } else { "not 403" }
            ),
        )
    };
    json!({"wanted": settings.origin_lock, "in_force": on, "summary": summary})
}

/// Each agent as `status` shows it: access level, client ID (never its secret), and whether its rights are in force
/// — its client exists with its scopes, the gateway admits it and enforces the policy engine, and the access
/// policies are in place. An agent the state still records but the configuration no longer names is listed too
/// (`up` deletes its client).
pub fn agents(
    settings: &crate::config::Settings,
    reports: &[crate::engine::Report],
) -> Vec<serde_json::Value> {
    use crate::resources::app_client;
    let gateway = reports
        .iter()
        .find(|r| r.resource == crate::resources::gateway::NODE);
    let gateway_ok = gateway.is_some_and(|g| {
        g.state == "present"
            && !g
                .drift
                .iter()
                .any(|d| d.attribute.starts_with("authorizer") || d.attribute.starts_with("policy"))
    });
    let policies: Vec<_> = reports
        .iter()
        .filter(|r| r.kind == "agentcore:policy" || r.kind == "agentcore:policy-engine")
        .collect();
    let policies_ok = !policies.is_empty() && policies.iter().all(|r| r.state == "present");
    reports
        .iter()
        .filter_map(|r| Some((r, app_client::agent_of(&r.resource)?)))
        .filter(|(r, agent)| settings.agents.contains_key(*agent) || !r.ids.is_empty())
        .map(|(r, agent)| {
            let access = settings.access_of(agent);
            let client_ok = r.state == "present";
            let in_force = access.is_some() && client_ok && gateway_ok && policies_ok;
            let why = if access.is_none() {
                "not configured: `neo4j-gw up` deletes its client".to_owned()
            } else if in_force {
                "in force".to_owned()
            } else {
                let mut missing = Vec::new();
                if !client_ok {
                    missing.push(format!("its client is {}", r.state));
                }
                if !gateway_ok {
                    missing.push("the gateway does not admit it as configured".to_owned());
                }
                if !policies_ok {
                    missing.push("the access policies are not all in place".to_owned());
                }
                format!(
                    "not in force: {}; `neo4j-gw up` repairs it",
                    missing.join(", ")
                )
            };
            json!({
                "agent": agent,
                "access": access.map(crate::config::Access::as_str),
                "client_id": r.ids.get("client_id"),
                "in_force": in_force,
                "summary": why,
            })
        })
        .collect()
}

/// Returns the exit code: 0 when everything is present and healthy, 3 otherwise.
pub async fn run(env: &Env, args: &StatusArgs) -> Result<i32> {
    let prepared = prepare(
        env,
        Some(&args.settings),
        Purpose::Inspect,
        PasswordSource::Env(std::env::var("NEO4J_PASSWORD").ok()),
    )
    .await?;
    let mut connected = connect_beside(env, &prepared).await?;
    let account = connected.account.clone();
    let engine = engine(env, &prepared, connected.aws.clone(), &account);
    let reports = engine.status(prepared.state.as_ref()).await;
    connected.verified(&prepared).await?;
    env.write_timings("status");
    let outs = outputs::compute(&prepared.settings, &prepared.region, &known(&engine));
    let healthy = prepared.state.is_some() && reports.iter().all(|r| r.ok());
    let lock = origin_lock(&prepared.settings, &reports);
    let agents = agents(&prepared.settings, &reports);
    let surface = super::agent::surface_report(env, &engine, &prepared).await;
    if args.json {
        let doc = json!({
            "stack": prepared.settings.stack,
            "region": prepared.region,
            "account": account,
            "deployed": prepared.state.is_some(),
            "origin_lock": lock,
            "agents": agents,
            "tool_surface": surface,
            "healthy": healthy,
            "resources": reports,
            "outputs": outs,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        // Every line fits the terminal (or COLUMNS); off a terminal lines are whole (crate::term).
        let width = crate::term::width();
        let print = |line: String| {
            for l in crate::term::wrap(&line, width, 4) {
                println!("{l}");
            }
        };
        print(format!(
            "stack {} · {} · account {}{}",
            prepared.settings.stack,
            prepared.region,
            account,
            if prepared.state.is_none() {
                " · no state file (never deployed, or taken down)"
            } else {
                ""
            }
        ));
        print(format!(
            "{:<22} {:<24} {:<10} DETAIL",
            "RESOURCE", "KIND", "STATE"
        ));
        for r in &reports {
            let mut detail: Vec<String> = r.ids.values().take(2).cloned().collect();
            for d in &r.drift {
                detail.push(format!(
                    "{}: expected {}, found {}",
                    d.attribute, d.expected, d.actual
                ));
            }
            for (k, v) in &r.details {
                detail.push(format!("{k}={v}"));
            }
            if let Some(m) = &r.message {
                detail.push(m.clone());
            }
            if !r.owned {
                detail.push("(not owned)".into());
            }
            print(format!(
                "{:<22} {:<24} {:<10} {}",
                r.resource,
                r.kind,
                r.state,
                detail.join("; ")
            ));
        }
        print(format!(
            "origin-lock: {}",
            lock["summary"].as_str().unwrap_or_default()
        ));
        for a in &agents {
            print(format!(
                "agent {} ({}): client {} — {}",
                a["agent"].as_str().unwrap_or_default(),
                a["access"].as_str().unwrap_or("removed"),
                a["client_id"].as_str().unwrap_or("none"),
                a["summary"].as_str().unwrap_or_default()
            ));
        }
        if let Some(line) = surface["summary"].as_str() {
            print(format!("tools: {line}"));
        }
        if !outs.is_empty() {
            print("Outputs:".into());
            for line in outputs::render(&outs).lines() {
                print(line.to_owned());
            }
        }
    }
    if !prepared.settings.origin_lock && prepared.state.is_some() {
        env.progress.note(&format!("warning: {}", OFF_WARNING));
    }
    Ok(if healthy { exit::OK } else { exit::NOT_HEALTHY })
}
