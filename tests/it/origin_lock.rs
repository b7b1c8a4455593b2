//! Only the gateway can reach the MCP server. Direct requests to the load balancer (through the data
//! plane's load balancer stand-in, which applies the listener's default action and rules as stored in the
//! emulator) are refused; the same calls through the gateway work; the origin value rotates without a failed
//! call; drift of the lock is repaired; the opt-out says what it costs; the value is never shown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::support::dataplane::public;
use crate::support::{self, Emulator, Stack, drift_attributes, fixtures, report, state_id};
use serde_json::{Value, json};

const MCP: &str = "https://mcp.example.com/mcp";

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn init() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
           "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
}

/// A request straight to the load balancer, as anyone on the internet can send it: (status, body).
async fn direct(emu: &Emulator, body: Value, headers: &[(&str, &str)]) -> (u16, String) {
    let (status, _, text) = public(emu, MCP, |c, u| {
        let mut r = c
            .post(u)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r
    })
    .await;
    (status, text)
}

/// The origin secret's content, as the test (with AWS access) reads it.
async fn origin(sdk: &aws_config::SdkConfig, st: &Stack<'_>) -> Value {
    let arn = state_id(&st.state(), "origin-secret", "arn");
    let v = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .unwrap();
    serde_json::from_str(v.secret_string().unwrap()).unwrap()
}

/// The header values the origin rule accepts.
async fn rule_values(sdk: &aws_config::SdkConfig, st: &Stack<'_>) -> Vec<String> {
    let arn = state_id(&st.state(), "origin-rule", "arn");
    let out = aws_sdk_elasticloadbalancingv2::Client::new(sdk)
        .describe_rules()
        .rule_arns(arn)
        .send()
        .await
        .unwrap();
    let mut v: Vec<String> = out.rules()[0].conditions()[0]
        .http_header_config()
        .unwrap()
        .values()
        .to_vec();
    v.sort();
    v
}

fn assert_hidden(what: &str, texts: &[&str], values: &[&str]) {
    for t in texts {
        for v in values {
            assert!(
                !v.is_empty() && !t.contains(v),
                "the origin value appears in {what}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_gateway_reaches_the_server() {
    let emu = Emulator::start();
    let sdk = emu.sdk().await;
    let (_zone, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "locked");
    let up = st.run(&[
        "-vvv",
        "up",
        "--domain-name",
        "example.com",
        "--certificate-arn",
        &cert,
    ]);
    support::verified(&up);

    // status: the lock is on, and the listener is as the rules say.
    let status = st.run(&["status"]);
    status.ok();
    assert!(
        status.stdout.contains("origin-lock: on"),
        "{}",
        status.stdout
    );
    let (_, doc) = st.status_json();
    assert_eq!(doc["origin_lock"]["in_force"], true);
    assert_eq!(report(&doc, "origin-rule")["state"], "present");

    // Straight to the load balancer: refused whatever the request is.
    let (code, body) = direct(
        &emu,
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        &[],
    )
    .await;
    assert_eq!(code, 403, "unauthenticated tools/list: {body}");
    let good = basic("companies", "companies");
    let creds = [
        ("x-neo4j-authorization", good.as_str()),
        ("authorization", good.as_str()),
    ];
    let (code, _) = direct(&emu, init(), &creds).await;
    assert_eq!(
        code, 403,
        "initialize with the right Neo4j password, without the origin value"
    );
    let mut wrong = creds.to_vec();
    wrong.push((
        "x-neo4j-gw-origin",
        "0000000000000000000000000000000000000000000000000000000000000000",
    ));
    assert_eq!(
        direct(&emu, init(), &wrong).await.0,
        403,
        "a wrong origin value"
    );
    let (code, _, _) = public(&emu, "https://mcp.example.com/healthz", |c, u| c.get(u)).await;
    assert_eq!(
        code, 403,
        "even /healthz is behind the lock from the internet"
    );
    // … while the load balancer's own health checks still pass (they go from the ALB to the task).
    let (_, doc) = st.status_json();
    assert_eq!(report(&doc, "target-group")["state"], "present");

    // The key alone opens the door — as the gateway's credential provider sends it, or bare — and behind it the
    // task's proxy adds the Neo4j credentials, whatever the caller sent: the origin value is the one secret
    // between the internet and the database (and it never leaves AWS).
    let value = origin(&sdk, &st).await["current"]
        .as_str()
        .unwrap()
        .to_owned();
    let as_sent = format!("Origin{value}");
    for key in [as_sent.as_str(), value.as_str()] {
        let keyed = [
            ("x-neo4j-gw-origin", key),
            ("x-neo4j-authorization", "Basic d3Jvbmc6d3Jvbmc="),
        ];
        assert_eq!(direct(&emu, init(), &keyed).await.0, 200);
    }

    // Through the gateway it all works.
    let tools = st.run(&["tools"]);
    tools.ok();
    assert!(tools.stdout.contains("neo4j-mcp___read-cypher"));
    let call = st.run(&[
        "-vvv",
        "call",
        "read-cypher",
        "--args",
        r#"{"query":"RETURN 1 AS n"}"#,
    ]);
    call.ok();

    // The value appears nowhere: outputs at the most verbose level, the state file, the interceptor's log.
    let state = std::fs::read_to_string(st.state_path()).unwrap();
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk)
        .filter_log_events()
        .log_group_name(format!("/aws/lambda/{}-interceptor", st.name))
        .send()
        .await
        .unwrap();
    let log: Vec<String> = logs
        .events()
        .iter()
        .map(|e| e.message().unwrap_or_default().to_owned())
        .collect();
    // The interceptor carries neither the value nor the credentials any more: the task does.
    assert!(
        log.iter().any(|l| l.contains("credentials=task")),
        "{log:?}"
    );
    assert_hidden(
        "outputs, state or logs",
        &[
            &up.stdout,
            &up.stderr,
            &status.stdout,
            &call.stdout,
            &call.stderr,
            &state,
            &log.join("\n"),
        ],
        &[&value],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_origin_value_rotates_under_load_without_a_failed_call() {
    let emu = Emulator::start();
    let sdk = emu.sdk().await;
    let (_zone, cert) = fixtures(&emu).await;
    let st = Arc::new(Stack::new(&emu, "rotate"));
    support::verified(&st.up(&cert, &["--secret-cache-ttl", "2"]));
    let before = origin(&sdk, &st).await["current"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(rule_values(&sdk, &st).await, vec![format!("*{before}")]);

    // A loop of calls through the gateway while the value rotates (bounded by the rotation itself).
    let stop = Arc::new(AtomicBool::new(false));
    let results = std::thread::scope(|scope| {
        let caller = {
            let (st, stop) = (st.clone(), stop.clone());
            scope.spawn(move || {
                let mut results = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let r = st.run(&[
                        "call",
                        "read-cypher",
                        "--args",
                        r#"{"query":"RETURN 7 AS n"}"#,
                    ]);
                    results.push((r.code, r.stderr));
                }
                results
            })
        };
        let rotate = st.run(&["-vvv", "rotate-origin"]);
        stop.store(true, Ordering::SeqCst);
        let results = caller.join().unwrap();
        rotate.ok();
        assert!(rotate.stdout.contains("rotated"), "{}", rotate.stdout);
        // Off a terminal, one line per real event: the wait is one line, not one per second.
        let waits = rotate
            .stderr
            .lines()
            .filter(|l| l.contains("until every interceptor has read the new value"))
            .count();
        assert_eq!(waits, 1, "{}", rotate.stderr);
        assert_hidden(
            "rotate-origin's output",
            &[&rotate.stdout, &rotate.stderr],
            &[&before],
        );
        results
    });
    let failed: Vec<_> = results.iter().filter(|(code, _)| *code != 0).collect();
    assert!(
        results.len() >= 3,
        "too few calls during the rotation: {}",
        results.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {} calls failed: {failed:?}",
        failed.len(),
        results.len()
    );

    // Only the new value now.
    let after = origin(&sdk, &st).await;
    let new = after["current"].as_str().unwrap().to_owned();
    assert_ne!(new, before);
    assert!(after.get("previous").is_none(), "{after}");
    assert_eq!(rule_values(&sdk, &st).await, vec![format!("*{new}")]);
    let keyed_old = [("x-neo4j-gw-origin", before.as_str())];
    assert_eq!(
        direct(&emu, init(), &keyed_old).await.0,
        403,
        "the old value no longer opens the door"
    );
    st.run(&[
        "call",
        "read-cypher",
        "--args",
        r#"{"query":"RETURN 1 AS n"}"#,
    ])
    .ok();
    // A second up finds nothing to do: the rotation left nothing half-done.
    let again = st.up(&cert, &["--secret-cache-ttl", "2"]);
    support::verified(&again);
    assert!(again.mutating().is_empty(), "{:?}", again.mutating());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_lock_is_drift_and_up_restores_it_and_the_opt_out_says_what_it_costs() {
    // Lenient: without the lock the interceptor carries the credentials, which needs that reading (the opt-out
    // below; docs/aws-behaviour.md, "Strict and lenient readings").
    let emu = Emulator::start_with(&["--agentcore-reading", "lenient"]);
    let sdk = emu.sdk().await;
    let (_zone, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "lockdrift");
    support::verified(&st.up(&cert, &[]));
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let state = st.state();
    let listener = state_id(&state, "listener", "arn");
    let tg = state_id(&state, "target-group", "arn");
    let tools_list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});

    // The listener forwards everything again (changed out of band).
    elb.modify_listener()
        .listener_arn(&listener)
        .default_actions(
            aws_sdk_elasticloadbalancingv2::types::Action::builder()
                .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::Forward)
                .target_group_arn(&tg)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (code, doc) = st.status_json();
    assert_eq!(code, 3);
    assert_eq!(doc["origin_lock"]["in_force"], false);
    assert!(drift_attributes(&doc, "listener").contains(&"default_action".to_owned()));
    support::verified(&st.up(&cert, &[]));
    assert_eq!(direct(&emu, tools_list.clone(), &[]).await.0, 403);

    // The rule is deleted, then its values changed: missing, then drifted (the values hidden).
    elb.delete_rule()
        .rule_arn(state_id(&st.state(), "origin-rule", "arn"))
        .send()
        .await
        .unwrap();
    let (_, doc) = st.status_json();
    assert_eq!(report(&doc, "origin-rule")["state"], "missing");
    support::verified(&st.up(&cert, &[]));
    let rule = state_id(&st.state(), "origin-rule", "arn");
    elb.modify_rule()
        .rule_arn(&rule)
        .conditions(
            aws_sdk_elasticloadbalancingv2::types::RuleCondition::builder()
                .field("http-header")
                .http_header_config(
                    aws_sdk_elasticloadbalancingv2::types::HttpHeaderConditionConfig::builder()
                        .http_header_name("X-Neo4j-Gw-Origin")
                        .values("*")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (_, doc) = st.status_json();
    let d = &report(&doc, "origin-rule")["drift"][0];
    assert_eq!(
        (
            d["attribute"].as_str(),
            d["expected"].as_str(),
            d["actual"].as_str()
        ),
        (Some("origin_values"), Some("(hidden)"), Some("(hidden)"))
    );
    support::verified(&st.up(&cert, &[]));

    // The target loses its credential provider (the origin key): drifted, and the path fails until up restores it.
    let (gw, target) = (
        state_id(&st.state(), "gateway", "gateway_id"),
        state_id(&st.state(), "gateway-target", "target_id"),
    );
    support::oob::clear_target_credential_providers(&sdk, &gw, &target).await;
    let (_, doc) = st.status_json();
    assert!(
        drift_attributes(&doc, "gateway-target").contains(&"credential_provider".to_owned()),
        "{doc}"
    );
    assert_eq!(
        st.run(&["tools"]).code,
        1,
        "without the origin header the load balancer refuses the gateway"
    );
    support::verified(&st.up(&cert, &[]));

    // The opt-out restores the sample's behaviour — and says what that costs, in up and in status.
    // Turning the lock off deletes its secret and rule: that needs --yes off a terminal.
    let refused = st.up(&cert, &["--origin-lock", "false"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.mutating().is_empty());
    let open = st.up(&cert, &["--origin-lock", "false", "--yes"]);
    support::verified(&open);
    assert!(
        open.stderr.contains("warning: the origin lock is off"),
        "{}",
        open.stderr
    );
    let status = st.run(&["status"]);
    status.ok();
    assert!(
        status.stdout.contains("origin-lock: off")
            && status.stderr.contains("the origin lock is off"),
        "{status:?}",
        status = status.stdout
    );
    let (_, doc) = st.status_json();
    assert_eq!(report(&doc, "origin-rule")["state"], "unused");
    assert_eq!(report(&doc, "origin-secret")["state"], "unused");
    assert_eq!(report(&doc, "origin-key")["state"], "unused");
    let (code, body) = direct(&emu, tools_list.clone(), &[]).await;
    assert_eq!(
        code, 401,
        "the hole the lock closes: anyone reaches the server (which, without the unauthenticated tools/list of \
         old, asks for credentials): {body}"
    );
    // And back on: the target then allows no header, which only a new target can do (an update cannot empty the
    // list), so `up` asks first.
    let back = st.up(&cert, &["--origin-lock", "true"]);
    assert_eq!(back.code, 2, "{}", back.stderr);
    assert!(back.stderr.contains("gateway-target"), "{}", back.stderr);
    support::verified(&st.up(&cert, &["--origin-lock", "true", "--yes"]));
    assert_eq!(direct(&emu, tools_list, &[]).await.0, 403);
    st.run(&["down", "--yes"]).ok();
}
