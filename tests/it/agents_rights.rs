//! Agents' rights at the gateway (issue 20), end to end on the local data plane: the gateway's policy engine in
//! `ENFORCE` mode with the stack's two Cedar policies lets the stack's agent (scope `read`) list and call the read
//! tools only — `write-cypher` is neither listed nor called, and nothing reaches Neo4j — and every tool call leaves
//! one audit line (outcome, arguments' hash, never a value) in the stack's audit log group through the gateway's
//! log delivery. `down` leaves no engine, policy or delivery behind.
//!
//! The server runs with `--read-only false`, so that it offers `write-cypher` itself: what hides and refuses the
//! tool is the gateway's policy, not the server's read-only mode.

use std::collections::BTreeSet;

use crate::support::checks::fqdn;
use crate::support::dataplane::neo4j_writes;
use crate::support::inventory::{self, Scope};
use crate::support::{self, Emulator, Stack, fixtures, state_id};
use serde_json::Value;

const DEMO_URI: &str = "neo4j+s://demo.neo4jlabs.com:7687";
const DEMO_DATABASE: &str = "companies";

/// The audit lines of the stack's gateway, oldest first, each parsed.
async fn audit_lines(sdk: &aws_config::SdkConfig, stack: &str) -> Vec<(String, Value)> {
    let logs = aws_sdk_cloudwatchlogs::Client::new(sdk);
    let out = logs
        .filter_log_events()
        .log_group_name(neo4j_gw::resources::log_group::audit_log_group(stack))
        .send()
        .await
        .expect("audit log events");
    out.events()
        .iter()
        .map(|e| {
            let text = e.message().unwrap_or_default().to_owned();
            let doc = serde_json::from_str(&text)
                .unwrap_or_else(|err| panic!("an audit line is not JSON: {err}: {text}"));
            (text, doc)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_agent_neither_sees_nor_calls_write_cypher_and_every_call_is_audited() {
    let emu = Emulator::start();
    let sdk = emu.sdk().await;
    let (_zone, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "rights");
    let scope = Scope::new(&st.name, &fqdn());

    let up = st.up(&cert, &["--read-only", "false", "--yes"]);
    support::verified(&up);
    assert_eq!(
        crate::support::checks::converged(&emu, &st, &scope).await,
        Vec::<String>::new()
    );
    let state = st.state();
    for node in [
        "policy-engine",
        "policy-read",
        "policy-write",
        "gateway-log-delivery",
    ] {
        assert_eq!(
            state["resources"][node]["status"], "ready",
            "{node}: {}",
            state["resources"][node]
        );
    }

    // The listing: the read tools, not write-cypher (the server offers it: it is not read-only).
    let tools = st.run(&["tools", "--json"]);
    tools.ok();
    assert_eq!(
        support::tool_names(&tools.stdout),
        BTreeSet::from([
            "neo4j-mcp___get-schema".to_owned(),
            "neo4j-mcp___read-cypher".to_owned()
        ]),
        "{}",
        tools.stdout
    );

    // `up`'s own verification calls a read tool: its line is there already.
    let earlier = audit_lines(&sdk, &st.name).await;
    assert!(
        earlier.iter().all(|(_, l)| l["outcome"] == "allowed"),
        "{earlier:?}"
    );

    // The call: refused by the gateway's policy before the server, so Neo4j receives no write.
    let before = neo4j_writes(&emu, DEMO_URI, DEMO_DATABASE).await;
    let write = st.run(&[
        "call",
        "write-cypher",
        "--args",
        r#"{"query":"CREATE (n:X {a: 1})"}"#,
    ]);
    assert_ne!(write.code, 0, "{}", write.stdout);
    // The gateway's denial, told in terms of the agent's right (its access level against the tool's).
    assert!(
        write
            .stderr
            .contains(r#"agent default has access "read"; write-cypher needs "write""#),
        "{}",
        write.stderr
    );
    let after = neo4j_writes(&emu, DEMO_URI, DEMO_DATABASE).await;
    assert_eq!(after, before, "a write reached Neo4j");
    assert!(!after.iter().any(|w| w.contains(":X")), "{after:?}");

    // Reading still works.
    let read = st.run(&[
        "call",
        "read-cypher",
        "--args",
        r#"{"query":"RETURN 1 AS secretvalue"}"#,
    ]);
    read.ok();
    assert_eq!(read.stdout.trim(), r#"[{"secretvalue": 1}]"#);

    // One audit line per call, in order, with the agent's client id and the outcome; never an argument's value.
    let client = state_id(&state, "app-client", "client_id");
    let all = audit_lines(&sdk, &st.name).await;
    let lines = &all[earlier.len()..];
    let summary: Vec<(&str, &str)> = lines
        .iter()
        .map(|(_, l)| {
            (
                l["tool"].as_str().unwrap_or_default(),
                l["outcome"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("neo4j-mcp___write-cypher", "denied"),
            ("neo4j-mcp___read-cypher", "allowed")
        ],
        "{lines:?}"
    );
    for (text, line) in &all {
        assert_eq!(line["client_id"], client.as_str(), "{text}");
        assert_eq!(
            line["gateway_id"],
            state_id(&state, "gateway", "gateway_id").as_str(),
            "{text}"
        );
        assert_eq!(
            line["arguments_sha256"].as_str().map(str::len),
            Some(64),
            "{text}"
        );
        for value in ["CREATE", "(n:X", "secretvalue", "RETURN 1"] {
            assert!(
                !text.contains(value),
                "an argument's value in the audit: {text}"
            );
        }
    }
    assert_eq!(lines[0].1["policy"]["mode"], "ENFORCE", "{}", lines[0].0);
    assert_eq!(lines[0].1["policy"]["decision"], "deny", "{}", lines[0].0);

    // `status` of the deployed stack: the new nodes present, nothing drifted.
    let (code, status) = st.status_json();
    assert_eq!(code, 0, "{status}");

    // down leaves nothing: no engine, policy, delivery (source, destination) or audit log group.
    st.run(&["down", "--yes"]).ok();
    let left = inventory::inventory(&sdk, &scope).await;
    assert!(
        left.is_empty(),
        "left after down: {}",
        inventory::describe(&left)
    );
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    for (what, found) in [
        (
            "delivery sources",
            logs.describe_delivery_sources()
                .send()
                .await
                .unwrap()
                .delivery_sources()
                .len(),
        ),
        (
            "delivery destinations",
            logs.describe_delivery_destinations()
                .send()
                .await
                .unwrap()
                .delivery_destinations()
                .len(),
        ),
        (
            "deliveries",
            logs.describe_deliveries()
                .send()
                .await
                .unwrap()
                .deliveries()
                .len(),
        ),
    ] {
        assert_eq!(found, 0, "{what} left after down");
    }
    let ac = aws_sdk_bedrockagentcorecontrol::Client::new(&sdk);
    assert_eq!(
        ac.list_policy_engines()
            .send()
            .await
            .unwrap()
            .policy_engines()
            .len(),
        0,
        "policy engines left after down"
    );
}
