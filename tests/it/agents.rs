//! Agents with their own keys and rights (issue 20), end to end on the local data plane: each agent an app client
//! of its own, its access level enforced by the gateway's policy engine (the stand-in evaluates the Cedar policies
//! `up` writes, with the real Cedar engine) before anything reaches the server, every tool call audited, an agent
//! removed from the configuration deleted after a yes and left without a way to a token, and a stack deployed
//! before agents existed upgraded in place.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{self, Emulator, Stack, fixtures, state_id};

const AGENTS: &str = "reader:read,writer:write";

/// The tools an agent sees (`tools --json --agent NAME`).
fn tools_of(st: &Stack<'_>, agent: &str) -> BTreeSet<String> {
    let run = st.run(&["tools", "--json", "--agent", agent]);
    run.ok();
    support::tool_names(&run.stdout)
}

/// Every app client secret of the stack's pool, read with the SDK (what must never appear anywhere).
async fn client_secrets(sdk: &aws_config::SdkConfig, pool_id: &str) -> Vec<String> {
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(sdk);
    let clients = cognito
        .list_user_pool_clients()
        .user_pool_id(pool_id)
        .max_results(60)
        .send()
        .await
        .expect("list clients");
    let mut secrets = Vec::new();
    for c in clients.user_pool_clients() {
        let d = cognito
            .describe_user_pool_client()
            .user_pool_id(pool_id)
            .client_id(c.client_id().unwrap())
            .send()
            .await
            .expect("describe client");
        if let Some(s) = d.user_pool_client().and_then(|c| c.client_secret()) {
            secrets.push(s.to_owned());
        }
    }
    assert!(!secrets.is_empty(), "no client secret to look for");
    secrets
}

/// `NEO4J_READ_ONLY` of the server's task definition as the state records it now.
async fn server_read_only(sdk: &aws_config::SdkConfig, st: &Stack<'_>) -> String {
    let arn = state_id(&st.state(), "task-definition", "arn");
    let ecs = aws_sdk_ecs::Client::new(sdk);
    let td = ecs
        .describe_task_definition()
        .task_definition(&arn)
        .send()
        .await
        .expect("task definition");
    td.task_definition()
        .unwrap()
        .container_definitions()
        .iter()
        .flat_map(|c| c.environment())
        .find(|kv| kv.name() == Some("NEO4J_READ_ONLY"))
        .and_then(|kv| kv.value())
        .unwrap_or("unset")
        .to_owned()
}

/// The client names of the stack's pool.
async fn client_names(sdk: &aws_config::SdkConfig, pool_id: &str) -> BTreeSet<String> {
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(sdk);
    cognito
        .list_user_pool_clients()
        .user_pool_id(pool_id)
        .max_results(60)
        .send()
        .await
        .expect("list clients")
        .user_pool_clients()
        .iter()
        .filter_map(|c| c.client_name().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_and_a_writer_have_their_own_clients_and_rights_and_a_removed_agent_gets_no_token()
{
    let emu = Emulator::start();
    let sdk = emu.sdk().await;
    let (_zone, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "agents");

    // A bad agent name or access level is exit 2 before any AWS request.
    for bad in ["Reader:read", "reader:admin"] {
        let r = st.up(&cert, &["--agents", bad]);
        assert_eq!(r.code, 2, "{bad}: {}", r.stderr);
        assert!(r.stderr.contains("--agents"), "{}", r.stderr);
        assert!(r.calls.is_empty(), "{bad}: {:?}", r.calls);
    }

    let up = st.up(&cert, &["--agents", AGENTS, "-vvv"]);
    support::verified(&up);
    let state = st.state();
    let pool_id = state_id(&state, "user-pool", "user_pool_id");
    let reader = state_id(&state, "app-client-reader", "client_id");
    let writer = state_id(&state, "app-client-writer", "client_id");
    assert_ne!(reader, writer);
    assert_eq!(state_id(&state, "app-client-writer", "agent"), "writer");
    assert_eq!(
        client_names(&sdk, &pool_id).await,
        BTreeSet::from([
            "agents-client-reader".to_owned(),
            "agents-client-writer".to_owned()
        ]),
        "no default client: the configuration names two other agents"
    );

    // An agent writes: the server registers its write tools.
    assert_eq!(server_read_only(&sdk, &st).await, "false");

    // Several agents: a command that needs a token must be told which (exit 2, before any AWS call).
    let unnamed = st.run(&["token"]);
    assert_eq!(unnamed.code, 2, "{}", unnamed.stderr);
    assert!(
        unnamed.stderr.contains("reader (read), writer (write)"),
        "{}",
        unnamed.stderr
    );
    assert!(unnamed.calls.is_empty(), "{:?}", unnamed.calls);

    // The reader sees the read tools only; the writer also write-cypher.
    let read_tools = tools_of(&st, "reader");
    assert!(
        read_tools.contains("neo4j-mcp___read-cypher"),
        "{read_tools:?}"
    );
    assert!(
        !read_tools.contains("neo4j-mcp___write-cypher"),
        "{read_tools:?}"
    );
    let write_tools = tools_of(&st, "writer");
    assert!(
        write_tools.contains("neo4j-mcp___write-cypher"),
        "{write_tools:?}"
    );

    // The reader's write is refused by the gateway, naming the right it lacks; the writer's goes through.
    let create = r#"{"query":"CREATE (v:Visit {by: 'writer'}) RETURN count(v) AS n"}"#;
    let refused = st.run(&[
        "call",
        "write-cypher",
        "--agent",
        "reader",
        "--args",
        create,
    ]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains(r#"agent reader has access "read"; write-cypher needs "write""#),
        "{}",
        refused.stderr
    );
    let written = st.run(&[
        "call",
        "write-cypher",
        "--agent",
        "writer",
        "--args",
        create,
    ]);
    written.ok();
    let read_back = st.run(&[
        "call",
        "read-cypher",
        "--agent",
        "reader",
        "--args",
        r#"{"query":"MATCH (v:Visit {by: 'writer'}) RETURN count(v) AS n"}"#,
    ]);
    read_back.ok();
    assert!(
        read_back.stdout.contains("\"n\": 1"),
        "one write reached the server (the writer's), none of the reader's: {}",
        read_back.stdout
    );

    // status lists each agent with its access and client ID, its rights in force.
    let (_, status) = st.status_json();
    let agents: Vec<(String, String, String, bool)> = status["agents"]
        .as_array()
        .expect("status lists agents")
        .iter()
        .map(|a| {
            (
                a["agent"].as_str().unwrap().to_owned(),
                a["access"].as_str().unwrap().to_owned(),
                a["client_id"].as_str().unwrap().to_owned(),
                a["in_force"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        agents,
        vec![
            ("reader".into(), "read".into(), reader.clone(), true),
            ("writer".into(), "write".into(), writer.clone(), true),
        ],
        "{status}"
    );

    // connect: the client's token command names the agent, and its scopes are the agent's.
    let connect = st.run(&["connect", "--agent", "writer"]);
    connect.ok();
    let doc: Value = serde_json::from_str(&connect.stdout).unwrap();
    let command: Vec<&str> = doc["token"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        command.windows(2).any(|w| w == ["--agent", "writer"]),
        "{command:?}"
    );
    assert!(
        doc["token"]["scope"]
            .as_str()
            .unwrap()
            .ends_with("neo4j-mcp-gateway/write"),
        "{doc}"
    );

    // No agent's secret in any output (at -vvv), the state file or the recorded settings.
    let token = st.run(&["token", "--agent", "writer", "-vvv"]);
    token.ok();
    let state_text = std::fs::read_to_string(st.state_path()).unwrap();
    for secret in client_secrets(&sdk, &pool_id).await {
        for (what, text) in [
            ("up -vvv", format!("{}{}", up.stdout, up.stderr)),
            ("token -vvv", format!("{}{}", token.stdout, token.stderr)),
            ("refused call", refused.stderr.clone()),
            ("state file", state_text.clone()),
        ] {
            assert!(!text.contains(&secret), "a client secret appears in {what}");
        }
    }

    // Removing the writer: plan names it as a delete (exit 3); up asks (no terminal: exit 2 without --yes, nothing
    // changed); up --yes deletes its client; a token for it then fails clearly.
    let plan = st.run(&["plan", "--agents", "reader:read"]);
    assert_eq!(plan.code, 3, "{}\n{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout.contains("app-client-writer") && plan.stdout.contains("agent writer"),
        "{}",
        plan.stdout
    );
    let unasked = st.up(&cert, &["--agents", "reader:read"]);
    assert_eq!(unasked.code, 2, "{}", unasked.stderr);
    assert!(unasked.stderr.contains("--yes"), "{}", unasked.stderr);
    assert!(
        client_names(&sdk, &pool_id)
            .await
            .contains("agents-client-writer")
    );
    let removed = st.up(&cert, &["--agents", "reader:read", "--yes"]);
    support::verified(&removed);
    assert_eq!(
        client_names(&sdk, &pool_id).await,
        BTreeSet::from(["agents-client-reader".to_owned()])
    );
    assert!(st.state()["resources"].get("app-client-writer").is_none());
    let gone = st.run(&["token", "--agent", "writer"]);
    assert_eq!(gone.code, 2, "{}", gone.stderr);
    assert!(
        gone.stderr.contains("has no agent `writer`") && gone.stderr.contains("reader (read)"),
        "{}",
        gone.stderr
    );
    // The one remaining agent needs no name, and the server is read-only again.
    st.run(&["token"]).ok();
    assert_eq!(server_read_only(&sdk, &st).await, "true");

    st.run(&["down", "--yes"]).ok();
}

/// A stack deployed before agents existed: one client `<stack>-client` granted only the gateway's scope, a resource
/// server with that one scope, a state file without agents. `up` adopts the client as the agent `default` — same
/// client ID, no replacement, no confirmation — and that agent keeps listing and calling tools.
#[tokio::test(flavor = "multi_thread")]
async fn a_stack_deployed_before_agents_is_upgraded_in_place_and_its_default_agent_keeps_working() {
    let emu = Emulator::start();
    let sdk = emu.sdk().await;
    let (_zone, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "legacy");
    support::verified(&st.up(&cert, &[]));
    let state = st.state();
    let pool_id = state_id(&state, "user-pool", "user_pool_id");
    let client_id = state_id(&state, "app-client", "client_id");

    // Back to what earlier versions deployed and recorded.
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
    use aws_sdk_cognitoidentityprovider::types::{OAuthFlowType, ResourceServerScopeType};
    cognito
        .update_resource_server()
        .user_pool_id(&pool_id)
        .identifier("neo4j-mcp-gateway")
        .name("legacy-gateway")
        .scopes(
            ResourceServerScopeType::builder()
                .scope_name("invoke")
                .scope_description("invoke")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    cognito
        .update_user_pool_client()
        .user_pool_id(&pool_id)
        .client_id(&client_id)
        .client_name("legacy-client")
        .allowed_o_auth_flows(OAuthFlowType::ClientCredentials)
        .allowed_o_auth_flows_user_pool_client(true)
        .allowed_o_auth_scopes("neo4j-mcp-gateway/invoke")
        .send()
        .await
        .unwrap();
    let mut old: Value = st.state();
    old["resources"]["app-client"]["ids"]
        .as_object_mut()
        .unwrap()
        .remove("agent");
    old["settings"].as_object_mut().unwrap().remove("agents");
    std::fs::write(st.state_path(), serde_json::to_vec_pretty(&old).unwrap()).unwrap();

    // The plan updates, never replaces or deletes; up needs no yes.
    let plan = st.run(&["plan", "--json"]);
    assert_eq!(plan.code, 3, "{}", plan.stderr);
    let doc: Value = serde_json::from_str(&plan.stdout).unwrap();
    let summary = &doc["summary"];
    assert!(
        summary.get("replace").is_none() && summary.get("delete").is_none(),
        "the upgrade would replace or delete: {summary}"
    );
    assert!(summary.get("update").is_some(), "{summary}");
    let upgraded = st.up(&cert, &[]);
    support::verified(&upgraded);
    assert_eq!(
        st.state()["resources"]["app-client"]["ids"]["client_id"],
        client_id
    );
    assert_eq!(
        st.state()["resources"]["app-client"]["ids"]["agent"],
        "default"
    );
    let call = st.run(&[
        "call",
        "read-cypher",
        "--args",
        r#"{"query":"RETURN 1 AS n"}"#,
    ]);
    call.ok();
    assert_eq!(call.stdout.trim(), r#"[{"n": 1}]"#);
    st.run(&["down", "--yes"]).ok();
}
