//! `neo4j-gw doctor --agent-path`: the check an operator runs once, after the first `up` on a real account. It
//! answers those questions that docs/aws-behaviour.md leaves open ("Still open", which says which ones) that the
//! deployed stack's evidence can settle, and prints a short report:
//! - the target's status and `statusReasons` (was a DYNAMIC target contacted at creation, and refused?);
//! - one `initialize`, `notifications/initialized`, `ping`, `tools/list` and `tools/call` (`read-cypher` of
//!   `RETURN 1`) through the gateway as an agent makes them: did the gateway's own handshake with the server carry
//!   the credentials (neo4j/mcp v1.5.3 answers an `initialize` without them with 401, the origin lock with 403)?
//! - the interceptor's log of methods (it logs the method of each request it sees, never a value): which methods
//!   invoke it;
//! - the gateway's answer to an `initialize` without a token and with a malformed one (status, challenge, body);
//! - the running task's image and digest (was `neo4j/mcp:v1.5.3` pulled?);
//! - the server's log of its start-up checks (`Verify server requirements…`, `Error during verification`: APOC);
//! - the gateway's exception level.
//!
//! It creates nothing and changes nothing in AWS (reads only — the test checks the ledger); in Neo4j it runs one
//! read query. Its requests leave log lines, as any agent's do.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::json;

use super::agent::{Walk, qualified};
use super::{Env, Prepared, logs};
use crate::engine::Engine;
use crate::error::{Result, exit};
use crate::mcp::{self, result_text, shorten};
use crate::resources::{
    Cx, Output, gateway, gateway_target, interceptor_function, log_group, service,
};

/// The methods an agent's session sends, in order: which of them invoke the interceptor is the open question.
const METHODS: &[&str] = &[
    "initialize",
    "notifications/initialized",
    "ping",
    "tools/list",
    "tools/call",
];

/// One answered question.
#[derive(Debug, Serialize)]
pub struct Answer {
    pub question: &'static str,
    pub answer: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The methods named in the interceptor's log lines (`method=<name>`).
pub fn logged_methods<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in lines {
        for part in line.split_whitespace() {
            if let Some(m) = part.strip_prefix("method=") {
                let m = m.trim_matches(|c| c == '"' || c == ',');
                if !m.is_empty() && !out.iter().any(|o| o == m) {
                    out.push(m.to_owned());
                }
            }
        }
    }
    out
}

pub async fn run(env: &Env, engine: &Engine, p: &Prepared, json_out: bool) -> Result<i32> {
    let Some(state) = p.state.as_ref() else {
        return Err(crate::error::Error::usage(
            "--agent-path",
            format!(
                "stack `{}` is not deployed: run `neo4j-gw up` first",
                p.settings.stack
            ),
        ));
    };
    let start = now_ms();
    let cx = |node: &'static str| {
        Cx::new(
            engine.shared.clone(),
            node,
            crate::progress::Progress::hidden(),
        )
    };
    let mut answers = Vec::new();
    let reports = engine.status(Some(state)).await;
    let report = |node: &str| reports.iter().find(|r| r.resource == node);

    // 1. The target: status and reasons.
    let target = report(gateway_target::NODE);
    answers.push(Answer {
        question: "Is a DYNAMIC target contacted when it is created (and refused without credentials)?",
        answer: match target {
            Some(t) if t.ok() => format!(
                "the target is READY (listing mode {}): a contact at creation, if AgentCore made one, succeeded",
                crate::resources::gateway_target::LISTING_MODE.as_str()
            ),
            Some(t) => format!(
                "the target is {}{}: AgentCore's reasons name what it met",
                t.state,
                t.message
                    .as_ref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            ),
            None => "the stack has no gateway target".to_owned(),
        },
        evidence: target
            .map(|t| {
                t.drift
                    .iter()
                    .map(|d| format!("{}: {}", d.attribute, d.actual))
                    .collect()
            })
            .unwrap_or_default(),
    });

    // 2. An agent's session, method by method.
    let mut walk = Walk::new(engine, p, state, false)?;
    walk.require_reachable()?;
    let versions = p.settings.protocol_versions.clone();
    let reach = crate::reach::Reach::new(
        p.settings.data_plane_endpoint.as_deref(),
        engine.shared.aws.emulated,
    )?;
    let mut session_evidence = Vec::new();
    let mut call_ok = false;
    match walk.open(env).await {
        Err(e) => session_evidence.push(format!("initialize: {}", shorten(&e.to_string(), 400))),
        Ok(session) => {
            session_evidence.push("initialize + notifications/initialized: answered".to_owned());
            if let Some(token) = walk.token() {
                let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
                match mcp::post(&walk.url, Some(&token.access_token), &reach, &ping).await {
                    Ok(r) => session_evidence.push(format!("ping: HTTP {} {}", r.status, r.body)),
                    Err(e) => session_evidence.push(format!("ping: {e}")),
                }
            }
            match session.tools().await {
                Ok(tools) => session_evidence.push(format!("tools/list: {} tools", tools.len())),
                Err(f) => {
                    session_evidence.push(format!("tools/list: {}", shorten(&f.to_string(), 300)))
                }
            }
            let mut args = serde_json::Map::new();
            args.insert("query".into(), json!("RETURN 1 AS probe"));
            let tool = qualified(&p.settings.target_name, "read-cypher");
            match session.call(&tool, args).await {
                Ok(r) if r.is_error != Some(true) => {
                    call_ok = true;
                    session_evidence.push(format!(
                        "tools/call {tool}: {}",
                        shorten(&result_text(&r), 120)
                    ));
                }
                Ok(r) => session_evidence.push(format!(
                    "tools/call {tool}: isError: {}",
                    shorten(&result_text(&r), 300)
                )),
                Err(f) => session_evidence.push(format!(
                    "tools/call {tool}: {}",
                    shorten(&f.to_string(), 300)
                )),
            }
            session.close().await;
        }
    }
    answers.push(Answer {
        question: "Does the gateway's own handshake (initialize) with the server carry the credentials and the origin value?",
        answer: if call_ok {
            "yes, or no handshake is sent: a tools/call went through, and the server (neo4j/mcp v1.5.3) answers an \
             initialize without credentials with 401 — the origin lock with 403 before it"
                .to_owned()
        } else {
            "not shown: the tools/call did not go through; the evidence says where it stopped (`neo4j-gw tools` \
             names the hop)"
                .to_owned()
        },
        evidence: session_evidence,
    });

    // 3. Which methods invoked the interceptor: its log, read until the tools/call shows (bounded).
    let interceptor_group = (interceptor_function::LOG_GROUP.name)(&cx("logs"));
    let limit = if engine.shared.aws.emulated {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(90) // CloudWatch Logs delivers within seconds to a minute
    };
    let waited = Instant::now();
    let mut seen = Vec::new();
    loop {
        if let Ok(Some(events)) =
            logs::fetch(&cx("logs"), "interceptor", &interceptor_group, start).await
        {
            seen = logged_methods(events.iter().map(|e| e.message.as_str()));
        }
        if seen.iter().any(|m| m == "tools/call") || waited.elapsed() >= limit {
            break;
        }
        if engine
            .shared
            .cancel
            .sleep(Duration::from_millis(if engine.shared.aws.emulated {
                200
            } else {
                3000
            }))
            .await
            .is_err()
        {
            break;
        }
    }
    let marks: Vec<String> = METHODS
        .iter()
        .map(|m| {
            format!(
                "{m} {}",
                if seen.iter().any(|s| s == m) {
                    "yes"
                } else {
                    "no"
                }
            )
        })
        .collect();
    answers.push(Answer {
        question: "Which requests invoke the REQUEST interceptor (initialize, ping, notifications)?",
        answer: if seen.is_empty() {
            format!("no method logged by the interceptor in {interceptor_group} (within {}s)", limit.as_secs())
        } else {
            marks.join(", ")
        },
        evidence: vec![format!("methods in its log since the check began: {}", seen.join(", "))],
    });

    // 4. The gateway's answer without a token, and with a malformed one.
    let mut auth_evidence = Vec::new();
    let init = mcp::initialize_body(&versions);
    let garbage = crate::config::Secret::new("not-a-jwt".to_owned());
    for (what, token) in [("no token", None), ("a malformed token", Some(&garbage))] {
        match mcp::post(&walk.url, token, &reach, &init).await {
            Ok(r) => auth_evidence.push(format!(
                "{what}: HTTP {}{}; body: {}",
                r.status,
                r.www_authenticate
                    .map(|w| format!(", WWW-Authenticate: {w}"))
                    .unwrap_or_default(),
                r.body
            )),
            Err(e) => auth_evidence.push(format!("{what}: {e}")),
        }
    }
    answers.push(Answer {
        question: "What does the gateway answer to a request without a valid token (status, challenge, body)?",
        answer: "see the evidence: neo4j-gw relies on the status only".to_owned(),
        evidence: auth_evidence,
    });

    // 5. The image.
    answers.push(image(engine, state).await);

    // 6. The server's start-up checks (v1.5.3 logs them at the first authenticated initialize).
    let server_group = (log_group::CONTAINER_LOGS.name)(&cx("logs"));
    let day_ago = start - 24 * 3600 * 1000;
    let lines: Vec<String> = match logs::fetch(&cx("logs"), "server", &server_group, day_ago).await
    {
        Ok(Some(events)) => events
            .into_iter()
            .map(|e| e.message)
            .filter(|m| {
                m.contains("Verify server requirements") || m.contains("Error during verification")
            })
            .collect(),
        _ => Vec::new(),
    };
    let failed = lines
        .iter()
        .any(|l| l.contains("Error during verification"));
    answers.push(Answer {
        question: "Did the server's start-up checks (RETURN 1, APOC) pass with the forwarded credentials?",
        answer: match (lines.is_empty(), failed) {
            (true, _) => format!("nothing logged in {server_group} within a day"),
            (false, true) => "no: the server logged an error (below); APOC missing makes get-schema fail".to_owned(),
            (false, false) => "yes: the checks ran with the credentials of an initialize and logged no error".to_owned(),
        },
        evidence: lines.into_iter().rev().take(3).map(|l| shorten(&l, 300)).collect(),
    });

    // 7. The exception level, and what cannot be seen after the fact.
    let level = report(gateway::NODE)
        .and_then(|g| g.details.iter().find(|(k, _)| k == "exception_level"))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "unknown".into());
    answers.push(Answer {
        question: "Does the gateway return granular errors (exceptionLevel)?",
        answer: format!(
            "exception level {level}{}",
            if level == "DEBUG" {
                "; `neo4j-gw up --gateway-debug false` turns it off (an UpdateGateway without it)"
            } else {
                "; `neo4j-gw up --gateway-debug` turns it on while the stack is brought up"
            }
        ),
        evidence: Vec::new(),
    });
    answers.push(Answer {
        question: "Which error does CreateGateway give for a role that is not assumable yet?",
        answer: "not observable after `up`: `up` prints each CreateGateway error it retries (\"the new role to be \
                 assumable by AgentCore\"); keep that output of the first `up`"
            .to_owned(),
        evidence: Vec::new(),
    });

    if json_out {
        let doc = json!({
            "stack": p.settings.stack,
            "region": p.region,
            "agent_path_works": call_ok,
            "answers": answers,
            "created": [],
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        println!(
            "doctor --agent-path: stack {} in {} — answers to docs/aws-behaviour.md \"Still open\"",
            p.settings.stack, p.region
        );
        for (i, a) in answers.iter().enumerate() {
            println!("{}. {}\n   → {}", i + 1, a.question, a.answer);
            for e in &a.evidence {
                println!("     · {e}");
            }
        }
        println!(
            "doctor --agent-path: nothing was created or changed; the agent path {}",
            if call_ok {
                "works"
            } else {
                "does not work (see 2.)"
            }
        );
    }
    Ok(if call_ok { exit::OK } else { exit::NOT_HEALTHY })
}

/// The running task's image and the digest ECS pulled.
async fn image(engine: &Engine, state: &crate::state::State) -> Answer {
    let question = "Is the configured image (neo4j/mcp:v1.5.3 by default) pullable?";
    let ids = |output: Output| output.recorded(state).cloned();
    let (Some(cluster), Some(service)) = (ids(service::CLUSTER_NAME), ids(service::SERVICE_NAME))
    else {
        return Answer {
            question,
            answer: "the stack has no service".into(),
            evidence: Vec::new(),
        };
    };
    let ecs = &engine.shared.aws.ecs;
    let arns = ecs
        .list_tasks()
        .cluster(&cluster)
        .service_name(&service)
        .send()
        .await
        .map(|o| o.task_arns().to_vec())
        .unwrap_or_default();
    let mut evidence = Vec::new();
    if !arns.is_empty()
        && let Ok(out) = ecs
            .describe_tasks()
            .cluster(&cluster)
            .set_tasks(Some(arns))
            .send()
            .await
    {
        for t in out.tasks() {
            for c in t.containers() {
                evidence.push(format!(
                    "task {}: {} {} (digest {})",
                    t.task_arn()
                        .and_then(|a| a.rsplit('/').next())
                        .unwrap_or("?"),
                    c.image().unwrap_or("?"),
                    c.last_status().unwrap_or("?"),
                    c.image_digest().unwrap_or("not reported")
                ));
            }
        }
    }
    let running = evidence.iter().any(|e| e.contains(" RUNNING "));
    Answer {
        question,
        answer: if running {
            format!("yes: a task runs {}", engine.shared.settings.image)
        } else {
            "no running task shows it: see `neo4j-gw status` (service) for the stopped tasks' reasons".into()
        },
        evidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interceptors_log_names_the_methods() {
        let lines = [
            "[INFO]\t2026-12-07\tid\tmethod=initialize credentials=secret header=X origin=on",
            "method=tools/call credentials=cache",
            "START RequestId: x",
            "method=initialize credentials=cache",
        ];
        assert_eq!(
            logged_methods(lines.iter().copied()),
            vec!["initialize", "tools/call"]
        );
    }
}
