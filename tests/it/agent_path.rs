//! The path the stack exists for — an agent with a Cognito token lists and calls the Neo4j MCP server's
//! tools through the gateway — end to end on the local data plane: the Cognito stand-in's signed JWTs, the
//! gateway stand-in (CUSTOM_JWT checks, the deployed interceptor code, the header allow-list, tool prefixes),
//! the load balancer stand-in and the MCP server stand-in configured from the registered task definition.

use std::collections::BTreeSet;

use crate::support::dataplane::{self, client_credentials, initialize, mint};
use crate::support::{self, Emulator, Stack, fixtures, state_id};
use serde_json::Value;

const SCOPE: &str = "neo4j-mcp-gateway/invoke";
const DEMO_URI: &str = "neo4j+s://demo.neo4jlabs.com:7687";

/// The interceptor's log lines (its CloudWatch log group, every stream).
async fn interceptor_log(sdk: &aws_config::SdkConfig, stack: &str) -> Vec<String> {
    let logs = aws_sdk_cloudwatchlogs::Client::new(sdk);
    let out = logs
        .filter_log_events()
        .log_group_name(format!("/aws/lambda/{stack}-interceptor"))
        .send()
        .await
        .expect("interceptor log events");
    out.events()
        .iter()
        .map(|e| e.message().unwrap_or_default().to_owned())
        .collect()
}

/// `up`, then the tools listed and `read-cypher` answered through the gateway: what every reading must allow.
fn lists_and_reads(st: &Stack<'_>, up: &support::Run) {
    support::verified(up);
    let tools = st.run(&["tools", "--json"]);
    tools.ok();
    assert!(
        support::tool_names(&tools.stdout).contains("neo4j-mcp___read-cypher"),
        "{}",
        tools.stdout
    );
    let call = st.run(&[
        "call",
        "read-cypher",
        "--args",
        r#"{"query":"RETURN 1 AS n"}"#,
    ]);
    call.ok();
    assert_eq!(call.stdout.trim(), r#"[{"n": 1}]"#);
}

/// Under the strict reading of the AgentCore guide (the emulator's default): the gateway's own handshake with the
/// server carries only the credential provider's header, the interceptor's answer is validated, the target is
/// contacted at creation — and the stack works, with the origin lock on.
#[tokio::test(flavor = "multi_thread")]
async fn an_agent_lists_and_calls_tools_through_the_gateway() {
    let emu = Emulator::start();
    let sdk = emu.sdk().await;
    let (_zone, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "agent");

    // `up` ends by listing the tools through the gateway as an agent would.
    let up = st.up(&cert, &["--secret-cache-ttl", "2"]);
    up.ok();
    assert!(
        up.stdout
            .contains("Verified: an agent with a token lists 2 tools through the gateway")
            && up.stdout.contains("neo4j-mcp___read-cypher"),
        "{}",
        up.stdout
    );

    // tools: both read tools, prefixed with the target name; no write tool in read-only mode.
    let tools = st.run(&["tools", "--json"]);
    tools.ok();
    assert_eq!(
        support::tool_names(&tools.stdout),
        BTreeSet::from([
            "neo4j-mcp___get-schema".to_owned(),
            "neo4j-mcp___read-cypher".to_owned()
        ])
    );
    let plain = st.run(&["tools"]);
    plain.ok();
    assert!(
        plain
            .stdout
            .lines()
            .any(|l| l.starts_with("neo4j-mcp___get-schema") && l.contains("Retrieve the schema")),
        "{}",
        plain.stdout
    );

    // call: the prefix is added; the answer comes from Neo4j through the server stand-in.
    let call = st.run(&[
        "call",
        "read-cypher",
        "--args",
        r#"{"query":"RETURN 1 AS n"}"#,
    ]);
    call.ok();
    assert_eq!(call.stdout.trim(), r#"[{"n": 1}]"#);
    let call = st.run(&[
        "call",
        "neo4j-mcp___read-cypher",
        "--args",
        r#"{"query":"RETURN $x AS x","params":{"x":"y"}}"#,
        "--json",
    ]);
    call.ok();
    let result: Value = serde_json::from_str(&call.stdout).unwrap();
    assert_eq!(result["isError"], false, "{result}");

    // A write through read-cypher is refused by the server (isError); write-cypher is refused by the gateway's
    // policy engine before the server (which, read-only, does not offer it either): issue 20.
    let refused = st.run(&[
        "call",
        "read-cypher",
        "--args",
        r#"{"query":"CREATE (n:Person) RETURN n"}"#,
    ]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("read-cypher can only run read-only Cypher statements"),
        "{}",
        refused.stderr
    );
    let write = st.run(&[
        "call",
        "write-cypher",
        "--args",
        r#"{"query":"CREATE (n:Person)"}"#,
    ]);
    assert_eq!(write.code, 1, "{}", write.stderr);
    assert!(
        write
            .stderr
            .contains(r#"agent default has access "read"; write-cypher needs "write""#),
        "{}",
        write.stderr
    );
    // Bad arguments never reach AWS.
    let bad = st.run(&["call", "read-cypher", "--args", "{"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.calls.is_empty());

    // Tokens the gateway must refuse, sent as an agent would send them.
    let state = st.state();
    let gateway_url = state_id(&state, "gateway", "url");
    let pool = state_id(&state, "user-pool", "user_pool_id");
    let client = state_id(&state, "app-client", "client_id");
    // No or an invalid token: 401; a valid token without the scope: 403 insufficient_scope (AgentCore developer
    // guide, "Scope advertisement in authentication challenges").
    for (what, token, want, challenge) in [
        (
            "not a JWT",
            "not-a-token".to_owned(),
            401,
            "resource_metadata=",
        ),
        (
            "expired",
            mint(&emu, &pool, &client, SCOPE, -60).await,
            401,
            "resource_metadata=",
        ),
        (
            "wrong scope",
            mint(&emu, &pool, &client, "neo4j-mcp-gateway/other", 3600).await,
            403,
            "error=\"insufficient_scope\"",
        ),
    ] {
        let (status, www, body) = initialize(&emu, &gateway_url, &token).await;
        assert_eq!(status, want, "{what}: {body}");
        assert!(
            www.as_deref()
                .is_some_and(|w| w.starts_with("Bearer") && w.contains(challenge)),
            "{what}: {www:?}"
        );
        let doc: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: {e}: {body}"));
        assert!(
            doc["error"]["code"].is_i64(),
            "{what}: not a JSON-RPC error: {body}"
        );
    }
    // The stack's own client's token works …
    let good = mint(&emu, &pool, &client, SCOPE, 3600).await;
    assert_eq!(initialize(&emu, &gateway_url, &good).await.0, 200);
    // … another client of the same pool, with a valid token for the same scope, is refused.
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
    let other = cognito
        .create_user_pool_client()
        .user_pool_id(&pool)
        .client_name("another-app")
        .generate_secret(true)
        .allowed_o_auth_flows(
            aws_sdk_cognitoidentityprovider::types::OAuthFlowType::ClientCredentials,
        )
        .allowed_o_auth_flows_user_pool_client(true)
        .allowed_o_auth_scopes(SCOPE)
        .send()
        .await
        .unwrap();
    let other = other.user_pool_client().unwrap();
    let domain = state_id(&state, "user-pool-domain", "domain");
    let (status, answer) = client_credentials(
        &emu,
        &domain,
        other.client_id().unwrap(),
        other.client_secret().unwrap(),
        SCOPE,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let theirs = answer["access_token"].as_str().unwrap();
    let (status, _, body) = initialize(&emu, &gateway_url, theirs).await;
    assert_eq!(
        status, 401,
        "a token of another client must be refused: {body}"
    );

    // With the origin lock the interceptor sets nothing: the gateway's credential provider sends the origin value and
    // the task's proxy adds the Neo4j credentials. Its log names the method of every request, never a value.
    let log = interceptor_log(&sdk, &st.name).await;
    assert!(
        log.iter()
            .any(|l| l.contains("method=tools/call credentials=task")),
        "{log:?}"
    );
    for line in &log {
        assert!(
            !line.contains("Bearer") && !line.contains("Basic"),
            "{line}"
        );
    }

    st.run(&["down", "--yes"]).ok();
    let gone = st.run(&["tools"]);
    assert_ne!(gone.code, 0);
    assert!(gone.stderr.contains("not deployed"), "{}", gone.stderr);
}

/// Under the lenient reading (the handshake carries the forwarded headers, refused interceptor headers are dropped,
/// a DYNAMIC target is not contacted at creation) the same stack works the same way.
#[tokio::test(flavor = "multi_thread")]
async fn the_same_path_works_under_the_lenient_reading() {
    let emu = Emulator::start_with(&["--agentcore-reading", "lenient"]);
    let (_zone, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "lenient");
    lists_and_reads(&st, &st.up(&cert, &[]));
}

/// Without the origin lock the interceptor carries the credentials (today's path before the lock); that needs the
/// lenient reading. The Neo4j password is then rotated out of band and picked up without a redeploy.
#[tokio::test(flavor = "multi_thread")]
async fn without_the_lock_the_interceptor_carries_the_credentials_under_the_lenient_reading() {
    let emu = Emulator::start_with(&["--agentcore-reading", "lenient"]);
    let sdk = emu.sdk().await;
    let (_zone, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "nolock");
    lists_and_reads(
        &st,
        &st.up(
            &cert,
            &["--secret-cache-ttl", "2", "--origin-lock", "false", "--yes"],
        ),
    );
    let state = st.state();

    // The Neo4j password is rotated (in Neo4j and in the secret) out of band: once the interceptor's cache
    // expires (2 s here), it reads the new one and calls work again — without a redeploy.
    let before = interceptor_log(&sdk, &st.name).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let arn = state_id(&state, "secret", "arn");
    let mut doc: Value = serde_json::from_str(
        secrets
            .get_secret_value()
            .secret_id(&arn)
            .send()
            .await
            .unwrap()
            .secret_string()
            .unwrap(),
    )
    .unwrap();
    let rotated = "rotated-Pw-7f3a9c";
    dataplane::neo4j_password(&emu, DEMO_URI, "companies", rotated).await;
    doc["NEO4J_PASSWORD"] = Value::from(rotated);
    secrets
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(doc.to_string())
        .send()
        .await
        .unwrap();
    // Bounded: the cache lives 2 s; each failure must be Neo4j refusing the old password, nothing else.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut failures = 0;
    loop {
        let r = st.run(&[
            "call",
            "read-cypher",
            "--args",
            r#"{"query":"RETURN 2 AS n"}"#,
        ]);
        for out in [&r.stdout, &r.stderr] {
            assert!(!out.contains(rotated), "the password reached the output");
        }
        if r.code == 0 {
            assert_eq!(r.stdout.trim(), r#"[{"n": 2}]"#);
            break;
        }
        assert!(
            r.stderr.contains("Neo.ClientError.Security.Unauthorized"),
            "a failure other than the old password: {}",
            r.stderr
        );
        failures += 1;
        assert!(
            std::time::Instant::now() < deadline,
            "still failing after {failures} calls"
        );
    }
    let after = interceptor_log(&sdk, &st.name).await;
    let reads = |log: &[String]| {
        log.iter()
            .filter(|l| l.contains("credentials=secretsmanager"))
            .count()
    };
    assert!(
        reads(&after) > reads(&before),
        "the interceptor did not read the secret again"
    );
    for line in &after {
        assert!(
            !line.contains(rotated) && !line.contains("companies\""),
            "a credential in the interceptor's log: {line}"
        );
    }
}

/// Without the origin lock, under the strict reading, nothing can carry the credentials on the gateway's own
/// handshake: the target cannot be created, and `up` says so with AgentCore's reason. (Why the lock's design moves
/// them into the task.)
#[tokio::test(flavor = "multi_thread")]
async fn without_the_lock_the_strict_reading_refuses_the_handshake() {
    let emu = Emulator::start();
    let (_zone, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "strictopen");
    let up = st.up(&cert, &["--origin-lock", "false", "--yes"]);
    assert_ne!(up.code, 0, "{}", up.stdout);
    assert!(
        up.stderr.contains("gateway-target") && up.stderr.contains("401"),
        "{}",
        up.stderr
    );
}
