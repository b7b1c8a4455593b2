//! `logs` reads the CloudWatch Logs of the server tasks and the interceptor, merged by time with
//! the source on each line, `--source`, `--since`, `--json`, and `--follow` until Ctrl-C — against the emulator's
//! CloudWatch Logs with events put by the test. Read-only.
//!
//! `logs --audit` reads the gateway's audit lines from the audit log group of the gateway the state file records,
//! naming each line's agent from the state's app-client nodes — against a state file written by the test (no stack
//! is deployed: the lines are put into the group as the gateway stand-in writes them).

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::{Emulator, REGION, Stack};
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use serde_json::Value;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn put(logs: &aws_sdk_cloudwatchlogs::Client, group: &str, events: &[(i64, &str)]) {
    put_in(logs, group, "stream-1", events).await
}

async fn put_in(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    stream: &str,
    events: &[(i64, &str)],
) {
    let batch: Vec<InputLogEvent> = events
        .iter()
        .map(|(ts, m)| {
            InputLogEvent::builder()
                .timestamp(*ts)
                .message(*m)
                .build()
                .unwrap()
        })
        .collect();
    logs.put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .set_log_events(Some(batch))
        .send()
        .await
        .unwrap();
}

/// The messages of `logs` text output, in order, with their source column.
fn lines(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let _ts = parts.next().unwrap();
            let source = parts.next().unwrap().to_owned();
            let message = parts.next().unwrap_or("").trim().to_owned();
            (source, message)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_merges_both_sources_by_time_and_follows_until_ctrl_c() {
    let emu = Emulator::start();
    let st = Stack::new(&emu, "logs");
    let server = format!("/neo4j-gw/{}/mcp", st.name);
    let interceptor = format!("/aws/lambda/{}-interceptor", st.name);

    // Nothing deployed: both log groups are named in the error.
    let r = st.run(&["logs"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&server) && r.stderr.contains(&interceptor),
        "{}",
        r.stderr
    );

    let logs = aws_sdk_cloudwatchlogs::Client::new(&emu.sdk().await);
    for g in [&server, &interceptor] {
        logs.create_log_group()
            .log_group_name(g)
            .send()
            .await
            .unwrap();
        logs.create_log_stream()
            .log_group_name(g)
            .log_stream_name("stream-1")
            .send()
            .await
            .unwrap();
    }
    let now = now_ms();
    put(
        &logs,
        &server,
        &[
            (now - 2 * 3600 * 1000, "server old"),
            (now - 5 * 60 * 1000, "server one"),
            (now - 60 * 1000, "server three"),
        ],
    )
    .await;
    put(
        &logs,
        &interceptor,
        &[(now - 3 * 60 * 1000, "interceptor two")],
    )
    .await;

    // The default window (10 minutes), merged by time, the source on each line; read-only.
    let r = st.run(&["logs"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        lines(&r.stdout),
        vec![
            ("server".into(), "server one".into()),
            ("interceptor".into(), "interceptor two".into()),
            ("server".into(), "server three".into()),
        ]
    );
    assert!(r.mutating().is_empty(), "{:?}", r.mutating());
    // One source; a longer window.
    let r = st.run(&["logs", "--source", "interceptor"]);
    assert_eq!(
        lines(&r.stdout),
        vec![("interceptor".into(), "interceptor two".into())]
    );
    let r = st.run(&["logs", "--since", "3h", "--source", "server"]);
    assert_eq!(lines(&r.stdout).len(), 3);
    assert_eq!(lines(&r.stdout)[0].1, "server old");
    let r = st.run(&["logs", "--since", "soon"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--since"), "{}", r.stderr);
    // JSON lines.
    let r = st.run(&["logs", "--json"]);
    let docs: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[1]["source"], "interceptor");
    assert_eq!(docs[1]["log_group"], interceptor.as_str());
    assert_eq!(docs[1]["log_stream"], "stream-1");
    assert_eq!(docs[1]["timestamp_ms"], now - 3 * 60 * 1000);
    assert!(docs[1]["timestamp"].as_str().unwrap().ends_with('Z'));

    // --follow: what is there, then what arrives, until SIGINT (exit 0).
    let mut cmd = st.command(&["logs", "--follow", "--json"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                break;
            }
        }
    });
    // An upper bound only: the events come as soon as the command has read them.
    let bound = Duration::from_secs(60);
    let first: Vec<String> = (0..3)
        .map(|_| {
            rx.recv_timeout(bound).expect("the existing events")["message"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(first, vec!["server one", "interceptor two", "server three"]);
    put(&logs, &interceptor, &[(now_ms(), "interceptor four")]).await;
    let next = rx.recv_timeout(bound).expect("the new event");
    assert_eq!(next["message"], "interceptor four");
    assert_eq!(next["source"], "interceptor");
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "Ctrl-C ends --follow normally");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!err.contains("saving the state"), "{err}");
    // Nothing seen twice.
    assert!(rx.try_iter().all(|v| v["message"] != "interceptor four"));
}

/// A state file of stack `st` recording a gateway and two agents: `default` (the node `app-client` of a state file
/// older than issue 20, without an `agent` id) and `read`.
fn audit_state(st: &Stack<'_>, gateway_id: &str) {
    use neo4j_gw::resources::{app_client, gateway};
    use neo4j_gw::state::{Record, State, StateFile, Status};
    let record = |kind: &str, ids: &[(&str, &str)]| Record {
        kind: kind.into(),
        owned: true,
        status: Status::Ready,
        ids: ids
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        updated_at: "2026-01-01T00:00:00Z".into(),
    };
    // The emulator's account (moto's default), which the credentials' must match.
    let mut state = State::new(&st.name, REGION, "123456789012");
    state.resources.insert(
        gateway::NODE.into(),
        record("bedrock-agentcore:gateway", &[("gateway_id", gateway_id)]),
    );
    state.resources.insert(
        app_client::NODE.into(),
        record(
            "cognito-idp:user-pool-client",
            &[("client_id", "client-default")],
        ),
    );
    state.resources.insert(
        format!("{}-read", app_client::NODE),
        record(
            "cognito-idp:user-pool-client",
            &[("client_id", "client-read"), ("agent", "read")],
        ),
    );
    StateFile::new(st.state_path().parent().unwrap(), &st.name)
        .save(&state)
        .unwrap();
}

/// One audit line as the gateway stand-in writes it (scripts/emulator/dataplane/audit.py).
fn audit_line(client_id: &str, tool: &str, outcome: &str, policy: Option<Value>) -> String {
    let mut line = serde_json::json!({
        "time": "2026-12-07T05:50:00.123Z",
        "gateway_id": "gw-audit-1",
        "client_id": client_id,
        "tool": format!("neo4j-mcp___{tool}"),
        "outcome": outcome,
        "duration_ms": 17,
        "arguments_sha256": "a3f1c2d4e5b60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
        "detail": "tool result isError",
    });
    if let Some(p) = policy {
        line["policy"] = p;
    }
    line.to_string()
}

/// One audit line written by the gateway stand-in's own code (scripts/emulator/dataplane/audit.py), so that the
/// parser is held to the lines the emulator delivers.
fn stand_in_line(client_id: &str, tool: &str, outcome: &str) -> String {
    let script = format!(
        "import json, time\n\
         from dataplane.audit import line\n\
         t = time.monotonic()\n\
         r = line(gateway_id='gw-audit-1', claims={{'client_id': {client_id:?}}}, tool='neo4j-mcp___{tool}', \
         outcome={outcome:?}, started=t - 0.005, now=t, arguments={{'query': 'RETURN 1'}}, detail='x')\n\
         print(json.dumps(r, sort_keys=True, separators=(',', ':')))"
    );
    let out = std::process::Command::new(crate::support::python())
        .current_dir(crate::support::repo_path("scripts/emulator"))
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The AGENT, TOOL and OUTCOME columns of `logs --audit`'s table rows (the header left out; a row's continuation,
/// indented when the row is wider than COLUMNS, too).
fn audit_rows(stdout: &str) -> Vec<(String, String, String)> {
    let mut lines = stdout.lines();
    assert!(
        lines.next().is_some_and(|h| h.starts_with("TIME ")),
        "{stdout}"
    );
    lines
        .filter(|l| !l.starts_with("    "))
        .map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            // An unknown agent is two words: `unknown (<client id>)`.
            let (agent, rest) = if c[1] == "unknown" {
                (format!("{} {}", c[1], c[2]), &c[3..])
            } else {
                (c[1].to_owned(), &c[2..])
            };
            (agent, rest[0].to_owned(), rest[1].to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_audit_names_the_agents_filters_and_prints_json() {
    let emu = Emulator::start();
    let st = Stack::new(&emu, "audit");
    let gateway_id = "gw-audit-1";
    let group = neo4j_gw::resources::log_group::audit_log_group("audit");

    // No state file: no gateway, so no audit group to read; nothing asked of AWS.
    let r = st.run(&["logs", "--audit"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("no gateway recorded"), "{}", r.stderr);
    assert!(
        r.calls.iter().all(|c| c["service"] != "logs"),
        "{:?}",
        r.calls
    );
    // --audit reads one group: --source is refused; --agent needs --audit.
    let r = st.run(&["logs", "--audit", "--source", "server"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = st.run(&["logs", "--agent", "read"]);
    assert_eq!(r.code, 2, "{}", r.stderr);

    audit_state(&st, gateway_id);
    // The gateway is recorded, its audit group missing (a stack deployed before issue 20): named in the error.
    let r = st.run(&["logs", "--audit"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains(&group), "{}", r.stderr);
    // An agent the state does not know: exit 2 listing the known ones, before any AWS call.
    let r = st.run(&["logs", "--audit", "--agent", "writer"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("`writer`") && r.stderr.contains("known agents: default, read"),
        "{}",
        r.stderr
    );
    assert!(r.calls.is_empty(), "{:?}", r.calls);

    let logs = aws_sdk_cloudwatchlogs::Client::new(&emu.sdk().await);
    logs.create_log_group()
        .log_group_name(&group)
        .send()
        .await
        .unwrap();
    logs.create_log_stream()
        .log_group_name(&group)
        .log_stream_name(gateway_id)
        .send()
        .await
        .unwrap();
    let denied = serde_json::json!({"mode": "ENFORCE", "decision": "deny", "reason": "no permit"});
    let now = now_ms();
    let old = audit_line("client-read", "get-schema", "allowed", None);
    let first = stand_in_line("client-default", "read-cypher", "allowed");
    assert!(first.contains("\"detail\":\"x\""), "{first}");
    let second = audit_line(
        "client-read",
        "write-cypher",
        "denied",
        Some(denied.clone()),
    );
    let third = audit_line("client-gone", "read-cypher", "error", None);
    put_in(
        &logs,
        &group,
        gateway_id,
        &[
            (now - 2 * 3600 * 1000, old.as_str()),
            (now - 5 * 60 * 1000, first.as_str()),
            (now - 4 * 60 * 1000, second.as_str()),
            (now - 3 * 60 * 1000, "not an audit line"),
            (now - 2 * 60 * 1000, third.as_str()),
        ],
    )
    .await;

    // The table, in time order, each line's agent named from the state; the line that is not one is counted.
    let mut cmd = st.command(&["logs", "--audit"]);
    cmd.env("COLUMNS", "80");
    let r = st.run_cmd(cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let row = |a: &str, t: &str, o: &str| (a.to_owned(), t.to_owned(), o.to_owned());
    assert_eq!(
        audit_rows(&r.stdout),
        vec![
            row("default", "read-cypher", "allowed"),
            row("read", "write-cypher", "denied"),
            row("unknown (client-gone)", "read-cypher", "error"),
        ]
    );
    assert!(
        r.stdout.lines().all(|l| l.chars().count() <= 80),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(" a3f1c2d4e5b6"), "{}", r.stdout);
    assert!(
        !r.stdout.contains("a3f1c2d4e5b60") && !r.stdout.contains("isError"),
        "only 12 hex digits of the hash, no detail: {}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains("1 line of the audit log group was not an audit line"),
        "{}",
        r.stderr
    );
    assert!(r.mutating().is_empty(), "{:?}", r.mutating());
    // One agent; a longer window.
    let r = st.run(&["logs", "--audit", "--agent", "read"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        audit_rows(&r.stdout),
        vec![row("read", "write-cypher", "denied")]
    );
    let r = st.run(&["logs", "--audit", "--agent", "read", "--since", "3h"]);
    assert_eq!(
        audit_rows(&r.stdout),
        vec![
            row("read", "get-schema", "allowed"),
            row("read", "write-cypher", "denied")
        ]
    );
    // JSON lines: the agent, both tool names, the policy's decision; no detail.
    let r = st.run(&["logs", "--audit", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 3, "{}", r.stdout);
    assert_eq!(
        docs[1],
        serde_json::json!({
            "time": "2026-12-07T05:50:00.123Z",
            "agent": "read",
            "client_id": "client-read",
            "tool": "write-cypher",
            "gateway_tool": "neo4j-mcp___write-cypher",
            "outcome": "denied",
            "duration_ms": 17,
            "arguments_sha256": "a3f1c2d4e5b60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
            "policy": denied,
        })
    );
    // The stand-in's own line: its fields, no detail, no argument.
    assert_eq!(docs[0]["agent"], "default");
    assert_eq!(docs[0]["client_id"], "client-default");
    assert_eq!(docs[0]["gateway_tool"], "neo4j-mcp___read-cypher");
    assert_eq!(docs[0]["duration_ms"], 5);
    assert_eq!(docs[0]["arguments_sha256"].as_str().map(str::len), Some(64));
    assert!(docs[0].get("policy").is_none() && docs[0].get("detail").is_none());
    assert!(!r.stdout.contains("RETURN 1"), "{}", r.stdout);
    assert_eq!(docs[2]["agent"], "unknown (client-gone)");

    // --follow: what is there, then what arrives, until SIGINT (exit 0); the skipped line is noted at the end.
    let mut cmd = st.command(&[
        "logs", "--audit", "--follow", "--json", "--agent", "default",
    ]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                break;
            }
        }
    });
    let bound = Duration::from_secs(60);
    let shown = rx.recv_timeout(bound).expect("the default agent's line");
    assert_eq!(
        (shown["agent"].as_str(), shown["tool"].as_str()),
        (Some("default"), Some("read-cypher"))
    );
    let fourth = audit_line("client-default", "get-schema", "allowed", None);
    let other = audit_line("client-read", "get-schema", "allowed", None);
    put_in(
        &logs,
        &group,
        gateway_id,
        &[(now_ms(), other.as_str()), (now_ms(), fourth.as_str())],
    )
    .await;
    let next = rx.recv_timeout(bound).expect("the new line");
    assert_eq!(
        (next["agent"].as_str(), next["tool"].as_str()),
        (Some("default"), Some("get-schema"))
    );
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "Ctrl-C ends --follow normally");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("not an audit line"), "{err}");
    assert_eq!(
        rx.try_iter().count(),
        0,
        "only the default agent's lines, none twice"
    );
}
