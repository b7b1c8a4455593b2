//! What the agent's path needs, and how neo4j-gw names what is missing — on stand-ins as strict as AWS and the
//! Neo4j MCP server where the project depends on them:
//! - IAM on the data path: each permission a role needs is removed out of band; the hop that needs it fails, the
//!   diagnosis names the hop and the drifted role, and `up` puts the role back (nothing else).
//! - The gateway's exception level: off by default, `--gateway-debug` turns it on, `status` shows it, drift is
//!   repaired, and a failed agent call suggests it.
//! - A database without APOC: `doctor` says so (from get-schema's error through the gateway).

use crate::support::{self, Emulator, Run, Stack, drift_attributes, fixtures, report, state_id};
use serde_json::{Value, json};

/// The role's inline policy `neo4j-gw`, as a document.
async fn policy(iam: &aws_sdk_iam::Client, role: &str) -> Value {
    let out = iam
        .get_role_policy()
        .role_name(role)
        .policy_name("neo4j-gw")
        .send()
        .await
        .unwrap();
    let text = percent_encoding::percent_decode_str(out.policy_document())
        .decode_utf8_lossy()
        .into_owned();
    serde_json::from_str(&text).unwrap()
}

/// Out of band: the role's policy without `resource` for `action` in any statement whose actions include it (a
/// statement left with no resource is dropped). The statement's other actions keep all its resources, so one
/// permission of a statement that grants several (`logs:CreateLogStream` and `logs:PutLogEvents`) is revoked
/// alone.
async fn revoke(iam: &aws_sdk_iam::Client, role: &str, action: &str, resource: &str) {
    let mut doc = policy(iam, role).await;
    let statements = doc["Statement"].as_array().unwrap().clone();
    let mut kept = Vec::new();
    for mut s in statements {
        let actions: Vec<String> = match &s["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_owned()).collect(),
            _ => vec![],
        };
        if actions.iter().any(|a| a == action) {
            let resources: Vec<Value> = match &s["Resource"] {
                Value::String(r) => vec![json!(r)],
                Value::Array(r) => r.clone(),
                _ => vec![],
            };
            let others: Vec<&String> = actions.iter().filter(|a| *a != action).collect();
            if !others.is_empty() {
                let mut rest = s.clone();
                rest["Action"] = json!(others);
                kept.push(rest);
                s.as_object_mut().unwrap().remove("Sid");
            }
            let left: Vec<Value> = resources
                .into_iter()
                .filter(|r| {
                    r.as_str() != Some(resource)
                        && !resource.starts_with(r.as_str().unwrap().trim_end_matches('*'))
                })
                .collect();
            if left.is_empty() {
                continue;
            }
            s["Action"] = json!([action]);
            s["Resource"] = Value::Array(left);
        }
        kept.push(s);
    }
    if kept.is_empty() {
        // IAM refuses a policy without statements: one that allows nothing of the path.
        kept.push(json!({"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}));
    }
    doc["Statement"] = Value::Array(kept);
    iam.put_role_policy()
        .role_name(role)
        .policy_name("neo4j-gw")
        .policy_document(doc.to_string())
        .send()
        .await
        .unwrap();
}

/// The agent's call fails at `hop`, naming the drifted role; `up` restores only that role's policy, and the call
/// works again.
fn fails_at_then_repaired(st: &Stack, cert: &str, hop: &str, role_node: &str) -> Run {
    let r = st.run(&["tools"]);
    assert_eq!(r.code, 1, "{hop}: {}", r.stderr);
    assert!(
        r.stderr.contains(&format!("failed at the {hop}")),
        "expected the {hop}: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("IAM role {role_node}: drifted")),
        "{hop}: the role is not named: {}",
        r.stderr
    );
    let (_, status) = st.status_json();
    assert!(
        drift_attributes(&status, role_node)
            .iter()
            .any(|a| a.starts_with("inline_policy") || a == "trust_policy"),
        "{status}"
    );
    let up = st.up(cert, &[]);
    support::verified(&up);
    let changed = up.mutating();
    assert!(
        changed
            .iter()
            .any(|c| c.ends_with(":PutRolePolicy") || c.ends_with(":UpdateAssumeRolePolicy")),
        "{hop}: up did not restore the role: {changed:?}"
    );
    assert!(
        !changed
            .iter()
            .any(|c| c.contains(":Create") || c.contains(":Delete")),
        "{hop}: up created or deleted something: {changed:?}"
    );
    st.run(&["tools"]).ok();
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn each_iam_permission_of_the_data_path_is_needed_and_up_restores_it() {
    let emu = Emulator::start();
    let sdk = emu.sdk().await;
    let (_zone, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "iam");
    support::verified(&st.up(&cert, &["--secret-cache-ttl", "0"]));
    let state = st.state();
    let iam = aws_sdk_iam::Client::new(&sdk);
    let function = state_id(&state, "interceptor-function", "arn");
    let neo4j_secret = state_id(&state, "secret", "arn");
    let origin_secret = state_id(&state, "origin-secret", "arn");
    let log_group = state_id(&state, "log-group", "arn")
        .trim_end_matches(":*")
        .to_owned();

    // The gateway's role may no longer invoke the interceptor.
    let gateway_role = format!("{}-gateway", st.name);
    revoke(&iam, &gateway_role, "lambda:InvokeFunction", &function).await;
    let r = fails_at_then_repaired(&st, &cert, "gateway → interceptor (invoke)", "gateway-role");
    // Off by default, the exception level is suggested; the generic message carries no IAM detail.
    assert!(r.stderr.contains("--gateway-debug"), "{}", r.stderr);
    assert!(
        !r.stderr.contains("is not authorized to perform"),
        "{}",
        r.stderr
    );

    // The gateway's role no longer trusts AgentCore.
    iam.update_assume_role_policy()
        .role_name(&gateway_role)
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    fails_at_then_repaired(&st, &cert, "gateway → interceptor (invoke)", "gateway-role");

    // The gateway's role may no longer get its workload access token, then no longer fetch the origin key (the
    // API-key provider), then no longer read the key's secret: the gateway's own calls to the target lose the
    // origin value (with the lock, the interceptor reads no
    // secret: the task's proxy adds the Neo4j credentials).
    let provider = state_id(&state, "origin-key", "arn");
    // The gateway's workload identity, in the default directory of the provider's account and region (any name of
    // it: the role's grant is the directory's `workload-identity/*`).
    let workload = format!(
        "{}:workload-identity-directory/default/workload-identity/{}-gateway",
        provider.split(":token-vault/").next().unwrap(),
        st.name
    );
    for (action, resource) in [
        ("bedrock-agentcore:GetWorkloadAccessToken", &workload),
        ("bedrock-agentcore:GetResourceApiKey", &provider),
        ("secretsmanager:GetSecretValue", &origin_secret),
    ] {
        revoke(&iam, &gateway_role, action, resource).await;
        fails_at_then_repaired(&st, &cert, "gateway → target (origin key)", "gateway-role");
    }

    // The gateway's role may no longer ask its policy engine (issue 20), one action at a time: every listing fails
    // closed, named as the policy engine's hop.
    let engine = state_id(&state, "policy-engine", "arn");
    for action in neo4j_gw::resources::gateway::POLICY_ACTIONS {
        revoke(&iam, &gateway_role, action, &engine).await;
        fails_at_then_repaired(&st, &cert, "gateway → policy engine", "gateway-role");
    }

    // The task execution role may no longer read the task's secret; then no longer create its log stream; then no
    // longer put events into it. Each matters when a task starts: a new deployment starts one.
    let exec_role = format!("{}-task-exec", st.name);
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let redeploy = || async {
        ecs.update_service()
            .cluster(state_id(&state, "service", "cluster_name"))
            .service(state_id(&state, "service", "service_name"))
            .force_new_deployment(true)
            .send()
            .await
            .unwrap();
    };
    let log_stream = format!("{log_group}:log-stream:x");
    for (action, resource) in [
        ("secretsmanager:GetSecretValue", &neo4j_secret),
        ("logs:CreateLogStream", &log_stream),
        ("logs:PutLogEvents", &log_stream),
    ] {
        revoke(&iam, &exec_role, action, resource).await;
        redeploy().await;
        fails_at_then_repaired(
            &st,
            &cert,
            "MCP server's task (execution role)",
            "task-execution-role",
        );
    }

    // With the exception level DEBUG the gateway's answer carries AWS's reason.
    support::verified(&st.up(&cert, &["--gateway-debug"]));
    revoke(&iam, &gateway_role, "lambda:InvokeFunction", &function).await;
    let r = st.run(&["tools"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("is not authorized to perform: lambda:InvokeFunction"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("up --gateway-debug`"),
        "already on: {}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_exception_level_is_off_unless_asked_and_shown_and_repaired() {
    let emu = Emulator::start();
    let sdk = emu.sdk().await;
    let (_zone, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "debug");
    support::verified(&st.up(&cert, &[]));
    let agentcore = aws_sdk_bedrockagentcorecontrol::Client::new(&sdk);
    let gateway_id = state_id(&st.state(), "gateway", "gateway_id");
    let level = || async {
        agentcore
            .get_gateway()
            .gateway_identifier(&gateway_id)
            .send()
            .await
            .unwrap()
            .exception_level()
            .map(|l| l.as_str().to_owned())
    };
    let shown = |status: &Value| {
        report(status, "gateway")["details"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d[0] == "exception_level")
            .map(|d| d[1].as_str().unwrap().to_owned())
    };
    assert_eq!(level().await, None, "off by default");
    let (_, status) = st.status_json();
    assert_eq!(shown(&status).as_deref(), Some("off"), "{status}");
    assert!(st.run(&["status"]).stdout.contains("exception_level=off"));

    // --gateway-debug turns it on (an update in place), and status shows it.
    let up = st.up(&cert, &["--gateway-debug"]);
    support::verified(&up);
    assert_eq!(up.count("UpdateGateway"), 1, "{}", up.stderr);
    assert_eq!(level().await.as_deref(), Some("DEBUG"));
    let (code, status) = st.status_json();
    assert_eq!(code, 0);
    assert_eq!(shown(&status).as_deref(), Some("DEBUG"), "{status}");

    // Recorded: a plain `up` keeps it; turned off out of band, it is drift that `up` repairs.
    let again = st.up(&cert, &[]);
    support::verified(&again);
    assert!(again.mutating().is_empty(), "{:?}", again.mutating());
    let g = agentcore
        .get_gateway()
        .gateway_identifier(&gateway_id)
        .send()
        .await
        .unwrap();
    agentcore
        .update_gateway()
        .gateway_identifier(&gateway_id)
        .name(g.name())
        .role_arn(g.role_arn().unwrap())
        .protocol_type(g.protocol_type().clone())
        .set_protocol_configuration(g.protocol_configuration().cloned())
        .authorizer_type(g.authorizer_type().clone())
        .set_authorizer_configuration(g.authorizer_configuration().cloned())
        .set_interceptor_configurations(Some(g.interceptor_configurations().to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(level().await, None, "an update without it turns it off");
    let (code, status) = st.status_json();
    assert_eq!(code, 3);
    assert!(drift_attributes(&status, "gateway").contains(&"exception_level".to_owned()));
    support::verified(&st.up(&cert, &[]));
    assert_eq!(level().await.as_deref(), Some("DEBUG"));

    // --gateway-debug false turns it off again.
    support::verified(&st.up(&cert, &["--gateway-debug", "false"]));
    assert_eq!(level().await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_says_when_the_database_lacks_apoc() {
    let emu = Emulator::start();
    let (_zone, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "apoc");
    support::verified(&st.up(&cert, &[]));
    let check = |run: &Run| -> (String, String) {
        let doc: Value = serde_json::from_str(&run.stdout).unwrap();
        let c = doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "database: APOC")
            .unwrap_or_else(|| panic!("no APOC check: {doc}"))
            .clone();
        (
            c["status"].as_str().unwrap().to_owned(),
            c["message"].as_str().unwrap().to_owned(),
        )
    };
    let run = st.run(&["doctor", "--json"]);
    assert_eq!(check(&run).0, "pass", "{}", run.stdout);
    assert!(run.mutating().is_empty(), "{:?}", run.mutating());

    support::dataplane::neo4j_apoc(
        &emu,
        "neo4j+s://demo.neo4jlabs.com:7687",
        "companies",
        false,
    )
    .await;
    let run = st.run(&["doctor", "--json"]);
    assert_eq!(run.code, 3, "{}", run.stdout);
    let (status, message) = check(&run);
    assert_eq!(status, "fail");
    assert!(
        message.contains("lacks APOC") && message.contains("apoc.meta.schema"),
        "{message}"
    );
    // get-schema is what fails; a read query still works.
    let call = st.run(&["call", "get-schema"]);
    assert_eq!(call.code, 1);
    assert!(call.stderr.contains("ProcedureNotFound"), "{}", call.stderr);
    st.run(&[
        "call",
        "read-cypher",
        "--args",
        r#"{"query":"RETURN 1 AS n"}"#,
    ])
    .ok();
}

/// The first-real-account check: after `up`, `doctor --agent-path` answers the open questions from the stack's
/// evidence, creates and changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn doctor_agent_path_answers_the_open_questions_and_leaves_nothing() {
    let emu = Emulator::start();
    let (_zone, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "probe");
    support::verified(&st.up(&cert, &[]));
    let run = st.run(&["doctor", "--agent-path", "--json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.mutating().is_empty(),
        "it changed something: {:?}",
        run.mutating()
    );
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["agent_path_works"], true, "{doc}");
    assert_eq!(doc["created"], json!([]));
    let answer = |needle: &str| -> Value {
        doc["answers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["question"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no answer about {needle}: {doc}"))
            .clone()
    };
    assert!(
        answer("DYNAMIC target")["answer"]
            .as_str()
            .unwrap()
            .contains("READY")
    );
    assert!(
        answer("handshake")["answer"]
            .as_str()
            .unwrap()
            .starts_with("yes")
    );
    // The local gateway invokes the interceptor for every request: its log names each method.
    let methods = answer("invoke the REQUEST interceptor")["answer"]
        .as_str()
        .unwrap()
        .to_owned();
    for m in [
        "initialize yes",
        "ping yes",
        "tools/list yes",
        "tools/call yes",
    ] {
        assert!(methods.contains(m), "{methods}");
    }
    let auth = answer("without a valid token")["evidence"].to_string();
    assert!(
        auth.contains("no token: HTTP 401") && auth.contains("WWW-Authenticate"),
        "{auth}"
    );
    assert!(
        answer("image")["answer"]
            .as_str()
            .unwrap()
            .starts_with("yes"),
        "{doc}"
    );
    assert!(
        answer("start-up checks")["answer"]
            .as_str()
            .unwrap()
            .starts_with("yes"),
        "{doc}"
    );
    assert!(
        answer("exceptionLevel")["answer"]
            .as_str()
            .unwrap()
            .contains("off")
    );
    // The text report says the same in short.
    let text = st.run(&["doctor", "--agent-path"]);
    assert!(
        text.stdout.contains("nothing was created or changed"),
        "{}",
        text.stdout
    );
}

/// Without the origin lock the interceptor carries the Neo4j credentials (which needs the lenient reading of the
/// guide, docs/aws-behaviour.md): its role must read the Neo4j secret; without that the call fails at the
/// interceptor, naming its role, and `up` restores it.
#[tokio::test(flavor = "multi_thread")]
async fn without_the_lock_the_interceptor_role_must_read_the_neo4j_secret() {
    let emu = Emulator::start_with(&["--agentcore-reading", "lenient"]);
    let sdk = emu.sdk().await;
    let (_zone, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "iamopen");
    support::verified(&st.up(
        &cert,
        &["--secret-cache-ttl", "0", "--origin-lock", "false", "--yes"],
    ));
    let iam = aws_sdk_iam::Client::new(&sdk);
    let neo4j_secret = state_id(&st.state(), "secret", "arn");
    revoke(
        &iam,
        &format!("{}-interceptor", st.name),
        "secretsmanager:GetSecretValue",
        &neo4j_secret,
    )
    .await;
    let r = fails_at_then_repaired(&st, &cert, "interceptor", "interceptor-role");
    assert!(
        !r.stderr.contains("companies\""),
        "a secret reached the output"
    );
}
