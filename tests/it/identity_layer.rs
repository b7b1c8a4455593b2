//! The identity layer (Cognito, the interceptor Lambda, the AgentCore Gateway and its target) and
//! `neo4j-gw token`, against a real moto server started by the test support, and a loopback OAuth token
//! endpoint written here (moto has none).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use crate::support::{Emulator, REGION, Stack, drift_attributes, fixtures, report, state_id};
use base64::Engine as _;
use serde_json::Value;

const OUTPUT_KEYS: &[&str] = &[
    "McpFqdn",
    "McpServiceUrl",
    "Neo4jSecretArn",
    "InterceptorLambdaArn",
    "GatewayArn",
    "GatewayUrl",
    "CognitoUserPoolId",
    "CognitoAppClientId",
    "CognitoDiscoveryUrl",
    "CognitoTokenEndpoint",
    "CognitoScope",
];

const IDENTITY: &[&str] = &[
    "user-pool",
    "user-pool-domain",
    "resource-server",
    "app-client",
    "interceptor-log-group",
    "interceptor-role",
    "interceptor-function",
    "gateway-role",
    "gateway",
    "gateway-target",
];

const SCOPE: &str = "neo4j-mcp-gateway/invoke";
/// What the `default` agent (read access) is granted and asks for: the gateway's scope and its level's.
const AGENT_SCOPES: [&str; 2] = ["neo4j-mcp-gateway/invoke", "neo4j-mcp-gateway/read"];

/// IAM returns policy documents URL-encoded.
fn policy(doc: &str) -> Value {
    serde_json::from_str(
        &percent_encoding::percent_decode_str(doc)
            .decode_utf8()
            .unwrap(),
    )
    .unwrap()
}

struct Clients {
    cognito: aws_sdk_cognitoidentityprovider::Client,
    agentcore: aws_sdk_bedrockagentcorecontrol::Client,
    lambda: aws_sdk_lambda::Client,
    iam: aws_sdk_iam::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
}

async fn clients(emu: &Emulator) -> Clients {
    let sdk = emu.sdk().await;
    Clients {
        cognito: aws_sdk_cognitoidentityprovider::Client::new(&sdk),
        agentcore: aws_sdk_bedrockagentcorecontrol::Client::new(&sdk),
        lambda: aws_sdk_lambda::Client::new(&sdk),
        iam: aws_sdk_iam::Client::new(&sdk),
        logs: aws_sdk_cloudwatchlogs::Client::new(&sdk),
    }
}

async fn pools_named(c: &Clients, name: &str) -> usize {
    let out = c
        .cognito
        .list_user_pools()
        .max_results(60)
        .send()
        .await
        .unwrap();
    out.user_pools()
        .iter()
        .filter(|p| p.name() == Some(name))
        .count()
}

async fn gateways_named(c: &Clients, name: &str) -> usize {
    let out = c.agentcore.list_gateways().send().await.unwrap();
    out.items().iter().filter(|g| g.name() == name).count()
}

async fn client_secret(c: &Clients, pool: &str, client: &str) -> String {
    c.cognito
        .describe_user_pool_client()
        .user_pool_id(pool)
        .client_id(client)
        .send()
        .await
        .unwrap()
        .user_pool_client()
        .unwrap()
        .client_secret()
        .unwrap()
        .to_owned()
}

/// Up → status (eleven outputs, consistent with the emulator) → no-op up → lost state adopted → down → nothing
/// of the stack left. Gateways and targets take 3 s to become READY (and to disappear): the waits are observed.
#[tokio::test(flavor = "multi_thread")]
async fn whole_stack_lifecycle_with_slow_gateway() {
    let emu = Emulator::start_with(&["--agentcore-delay-seconds", "3"]);
    let (_, cert) = fixtures(&emu).await;
    let c = clients(&emu).await;
    let st = Stack::new(&emu, "id-life");

    let up = st.up(&cert, &[]);
    up.ok();
    for op in [
        "CreateUserPool",
        "CreateUserPoolDomain",
        "CreateResourceServer",
        "CreateUserPoolClient",
        "CreateFunction",
        "CreateGateway",
        "CreateGatewayTarget",
    ] {
        assert_eq!(up.count(op), 1, "{op}: {:?}", up.mutating());
    }
    // CREATING for 3 s: the waits polled more than once.
    assert!(up.count("GetGateway") >= 3, "gateway wait not observed");
    assert!(
        up.count("GetGatewayTarget") >= 3,
        "target wait not observed"
    );
    assert!(up.stdout.contains("Outputs:"), "{}", up.stdout);
    for key in OUTPUT_KEYS {
        assert!(up.stdout.contains(key), "up prints {key}: {}", up.stdout);
    }

    // status --json: every resource present, exactly the eleven outputs, consistent with what moto holds.
    let (code, status) = st.status_json();
    assert_eq!(code, 0, "{status:#}");
    for node in IDENTITY {
        assert_eq!(
            report(&status, node)["state"],
            "present",
            "{node}: {status:#}"
        );
    }
    let outputs = status["outputs"].as_object().unwrap();
    let keys: BTreeSet<&str> = outputs.keys().map(String::as_str).collect();
    assert_eq!(keys, OUTPUT_KEYS.iter().copied().collect::<BTreeSet<_>>());
    let out = |k: &str| outputs[k].as_str().unwrap().to_owned();

    let state = st.state();
    let pool_id = state_id(&state, "user-pool", "user_pool_id");
    let client_id = state_id(&state, "app-client", "client_id");
    let gateway_id = state_id(&state, "gateway", "gateway_id");
    let function_arn = state_id(&state, "interceptor-function", "arn");
    let domain = state_id(&state, "user-pool-domain", "domain");
    assert_eq!(domain, "id-life-123456789012-us-east-1");
    assert_eq!(out("CognitoUserPoolId"), pool_id);
    assert_eq!(out("CognitoAppClientId"), client_id);
    assert_eq!(out("CognitoScope"), SCOPE);
    assert_eq!(
        out("CognitoDiscoveryUrl"),
        format!(
            "https://cognito-idp.{REGION}.amazonaws.com/{pool_id}/.well-known/openid-configuration"
        )
    );
    assert_eq!(
        out("CognitoTokenEndpoint"),
        format!("https://{domain}.auth.{REGION}.amazoncognito.com/oauth2/token")
    );
    assert_eq!(out("InterceptorLambdaArn"), function_arn);
    assert_eq!(
        out("McpServiceUrl"),
        format!("https://{}/mcp", out("McpFqdn"))
    );

    // The gateway as moto holds it.
    let g = c
        .agentcore
        .get_gateway()
        .gateway_identifier(&gateway_id)
        .send()
        .await
        .unwrap();
    assert_eq!(g.gateway_arn(), out("GatewayArn"));
    assert_eq!(g.gateway_url(), Some(out("GatewayUrl").as_str()));
    assert_eq!(g.name(), "id-life-gw");
    let jwt = g
        .authorizer_configuration()
        .unwrap()
        .as_custom_jwt_authorizer()
        .unwrap();
    assert_eq!(jwt.discovery_url(), out("CognitoDiscoveryUrl"));
    assert_eq!(jwt.allowed_clients(), std::slice::from_ref(&client_id));
    assert_eq!(jwt.allowed_scopes(), [SCOPE.to_owned()]);
    let versions = g
        .protocol_configuration()
        .unwrap()
        .as_mcp()
        .unwrap()
        .supported_versions();
    assert_eq!(versions, ["2025-03-26", "2025-06-18"]);
    let [interceptor] = g.interceptor_configurations() else {
        panic!("one interceptor expected")
    };
    assert_eq!(
        interceptor
            .interceptor()
            .unwrap()
            .as_lambda()
            .unwrap()
            .arn(),
        function_arn
    );
    assert_eq!(interceptor.interception_points()[0].as_str(), "REQUEST");
    // The interceptor reads no request header: none is passed to it (they carry the caller's token).
    assert!(
        !interceptor
            .input_configuration()
            .unwrap()
            .pass_request_headers()
    );
    assert_eq!(
        g.role_arn(),
        Some(state_id(&state, "gateway-role", "arn").as_str())
    );

    // The target points at the MCP server behind the ALB.
    let target = c
        .agentcore
        .get_gateway_target()
        .gateway_identifier(&gateway_id)
        .target_id(state_id(&state, "gateway-target", "target_id"))
        .send()
        .await
        .unwrap();
    assert_eq!(target.name(), "neo4j-mcp");
    let endpoint = target
        .target_configuration()
        .unwrap()
        .as_mcp()
        .unwrap()
        .as_mcp_server()
        .unwrap()
        .endpoint();
    assert_eq!(endpoint, out("McpServiceUrl"));
    // With the origin lock (the default) the target's credential provider is the origin key: the gateway sends its
    // value in X-Neo4j-Gw-Origin on every request to the server; no header needs to be allow-listed.
    let providers = target.credential_provider_configurations();
    assert_eq!(providers.len(), 1);
    assert_eq!(providers[0].credential_provider_type().as_str(), "API_KEY");
    let key = providers[0]
        .credential_provider()
        .unwrap()
        .as_api_key_credential_provider()
        .unwrap();
    assert_eq!(key.provider_arn(), state_id(&state, "origin-key", "arn"));
    assert_eq!(
        (
            key.credential_parameter_name(),
            key.credential_location().map(|l| l.as_str())
        ),
        (Some("X-Neo4j-Gw-Origin"), Some("HEADER"))
    );
    assert!(
        target
            .metadata_configuration()
            .is_none_or(|m| m.allowed_request_headers().is_empty())
    );
    // The provider reads the origin secret's `current`: it holds no copy of the value.
    let provider = c
        .agentcore
        .get_api_key_credential_provider()
        .name("id-life-origin-key")
        .send()
        .await
        .unwrap();
    assert_eq!(
        provider.api_key_secret_source().map(|s| s.as_str()),
        Some("EXTERNAL")
    );
    assert_eq!(
        provider.api_key_secret_arn().map(|s| s.secret_arn()),
        Some(state_id(&state, "origin-secret", "arn").as_str())
    );
    assert_eq!(provider.api_key_secret_json_key(), Some("current"));

    // The Lambda: runtime, architecture, handler, size, environment, not in a VPC, the recorded code hash.
    let f = c
        .lambda
        .get_function()
        .function_name(&function_arn)
        .send()
        .await
        .unwrap();
    let conf = f.configuration().unwrap();
    assert_eq!(conf.runtime().unwrap().as_str(), "python3.13");
    assert_eq!(conf.architectures()[0].as_str(), "arm64");
    assert_eq!(conf.handler(), Some("interceptor.handler"));
    assert_eq!((conf.memory_size(), conf.timeout()), (Some(128), Some(30)));
    assert_eq!(
        conf.code_sha256(),
        Some(state_id(&state, "interceptor-function", "code_sha256").as_str())
    );
    assert!(conf.vpc_config().is_none_or(|v| v.subnet_ids().is_empty()));
    // With the origin lock the task adds the credentials: the function reads no secret and sets no header. It
    // carries the secret's version (a new value of the secret is a configuration update).
    let vars = conf.environment().unwrap().variables().unwrap();
    let mut vars: Vec<(&String, &String)> = vars.iter().collect();
    vars.sort();
    assert_eq!(
        vars,
        [
            (&"NEO4J_CREDENTIALS".to_owned(), &"task".to_owned()),
            (
                &"NEO4J_GW_SECRET_VERSION".to_owned(),
                &state_id(&state, "secret", "version")
            )
        ]
    );

    // Its log group has the retention setting.
    let groups = c
        .logs
        .describe_log_groups()
        .log_group_name_prefix("/aws/lambda/id-life-interceptor")
        .send()
        .await
        .unwrap();
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(30));

    // Roles: the interceptor's writes one log group and reads no secret; the gateway's is confused-deputy protected,
    // invokes one function and reads the origin key (its provider, and the origin secret it names).
    let ipol = c
        .iam
        .get_role_policy()
        .role_name("id-life-interceptor")
        .policy_name("neo4j-gw")
        .send()
        .await
        .unwrap();
    let ipol = policy(ipol.policy_document());
    let text = ipol.to_string();
    assert!(!text.contains("secretsmanager"), "{text}");
    assert!(text.contains("/aws/lambda/id-life-interceptor"), "{text}");
    assert!(!text.contains("\"*\""), "no wildcard resources: {text}");
    let grole = c
        .iam
        .get_role()
        .role_name("id-life-gateway")
        .send()
        .await
        .unwrap();
    let trust = policy(grole.role().unwrap().assume_role_policy_document().unwrap());
    let cond = &trust["Statement"][0]["Condition"];
    assert_eq!(
        trust["Statement"][0]["Principal"]["Service"],
        "bedrock-agentcore.amazonaws.com"
    );
    assert_eq!(cond["StringEquals"]["aws:SourceAccount"], "123456789012");
    assert_eq!(
        cond["ArnLike"]["aws:SourceArn"],
        "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/*"
    );
    let gpol = c
        .iam
        .get_role_policy()
        .role_name("id-life-gateway")
        .policy_name("neo4j-gw")
        .send()
        .await
        .unwrap();
    let gpol = policy(gpol.policy_document());
    assert_eq!(gpol["Statement"][0]["Action"][0], "lambda:InvokeFunction");
    assert_eq!(gpol["Statement"][0]["Resource"][0], function_arn.as_str());
    let gtext = gpol.to_string();
    for want in [
        "bedrock-agentcore:GetWorkloadAccessToken",
        "bedrock-agentcore:GetResourceApiKey",
        state_id(&state, "origin-key", "arn").as_str(),
        state_id(&state, "origin-secret", "arn").as_str(),
    ] {
        assert!(gtext.contains(want), "{want} not in {gtext}");
    }

    // Cognito: no self sign-up, the client's OAuth settings, the domain on our pool.
    let pool = c
        .cognito
        .describe_user_pool()
        .user_pool_id(&pool_id)
        .send()
        .await
        .unwrap();
    assert!(
        pool.user_pool()
            .unwrap()
            .admin_create_user_config()
            .unwrap()
            .allow_admin_create_user_only()
    );
    let client = c
        .cognito
        .describe_user_pool_client()
        .user_pool_id(&pool_id)
        .client_id(&client_id)
        .send()
        .await
        .unwrap();
    let client = client.user_pool_client().unwrap();
    assert_eq!(
        client.allowed_o_auth_flows()[0].as_str(),
        "client_credentials"
    );
    assert_eq!(client.allowed_o_auth_flows().len(), 1);
    assert_eq!(
        client.allowed_o_auth_scopes(),
        AGENT_SCOPES.map(str::to_owned)
    );
    assert_eq!(client.access_token_validity(), Some(60));
    let secret = client.client_secret().unwrap().to_owned();
    assert!(!secret.is_empty());
    let d = c
        .cognito
        .describe_user_pool_domain()
        .domain(&domain)
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.domain_description().unwrap().user_pool_id(),
        Some(pool_id.as_str())
    );

    // The client secret is never in the state, the outputs or the output of any command.
    let state_text = std::fs::read_to_string(st.state_path()).unwrap();
    assert!(!state_text.contains(&secret), "secret in the state file");
    assert!(!up.stdout.contains(&secret) && !up.stderr.contains(&secret));
    let text_status = st.run(&["status"]);
    text_status.ok();
    assert!(!text_status.stdout.contains(&secret));
    for key in OUTPUT_KEYS {
        assert!(text_status.stdout.contains(key), "status prints {key}");
    }

    // A second up changes nothing.
    let again = st.up(&cert, &[]);
    again.ok();
    assert_eq!(
        again.mutating(),
        Vec::<String>::new(),
        "no-op up made mutating calls"
    );

    // A lost state file: everything is found by tag and name, nothing is created twice.
    std::fs::remove_file(st.state_path()).unwrap();
    let adopt = st.up(&cert, &[]);
    adopt.ok();
    let creates: Vec<String> = adopt
        .mutating()
        .into_iter()
        .filter(|op| op.contains(":Create"))
        .collect();
    assert_eq!(
        creates,
        Vec::<String>::new(),
        "adoption must not create anything"
    );
    assert_eq!(state_id(&st.state(), "user-pool", "user_pool_id"), pool_id);
    assert_eq!(state_id(&st.state(), "gateway", "gateway_id"), gateway_id);
    assert_eq!(pools_named(&c, "id-life-pool").await, 1);
    assert_eq!(gateways_named(&c, "id-life-gw").await, 1);

    // down: target, gateway (waited until gone), …, pool. Nothing of the stack is left.
    let down = st.run(&["down", "--yes"]);
    down.ok();
    assert!(
        down.count("GetGateway") >= 2,
        "gateway deletion wait not observed"
    );
    assert!(
        down.count("GetGatewayTarget") >= 2,
        "target deletion wait not observed"
    );
    let ops: Vec<&str> = down
        .calls
        .iter()
        .filter_map(|c| c["operation"].as_str())
        .collect();
    let at = |op: &str| {
        ops.iter()
            .position(|o| *o == op)
            .unwrap_or_else(|| panic!("{op} not called: {ops:?}"))
    };
    for (first, then) in [
        ("DeleteGatewayTarget", "DeleteGateway"),
        ("DeleteGateway", "DeleteFunction"),
        ("DeleteGateway", "DeleteUserPoolClient"),
        ("DeleteUserPoolClient", "DeleteUserPool"),
        ("DeleteUserPoolDomain", "DeleteUserPool"),
    ] {
        assert!(
            at(first) < at(then),
            "{first} must come before {then}: {ops:?}"
        );
    }
    assert_eq!(gateways_named(&c, "id-life-gw").await, 0);
    assert_eq!(pools_named(&c, "id-life-pool").await, 0);
    assert!(
        c.lambda
            .get_function()
            .function_name("id-life-interceptor")
            .send()
            .await
            .is_err()
    );
    for role in ["id-life-interceptor", "id-life-gateway"] {
        assert!(
            c.iam.get_role().role_name(role).send().await.is_err(),
            "{role} left"
        );
    }
    let d = c
        .cognito
        .describe_user_pool_domain()
        .domain(&domain)
        .send()
        .await
        .unwrap();
    assert!(
        d.domain_description()
            .is_none_or(|d| d.user_pool_id().is_none())
    );
    let (code, status) = st.status_json();
    assert_eq!(code, 3);
    for node in IDENTITY {
        assert_eq!(report(&status, node)["state"], "missing", "{node}");
    }
}

/// What the loopback token endpoint saw and answers.
#[derive(Clone)]
struct Expect {
    client_id: String,
    secret: String,
    scope: String,
}

struct OAuthServer {
    url: String,
    /// (grant_type, scope, client id from the Basic header) of every request.
    seen: Arc<Mutex<Vec<(String, String, String)>>>,
}

/// A minimal OAuth 2.0 token endpoint on 127.0.0.1: checks the grant type, the HTTP Basic client
/// authentication and the scope, the way Cognito does, and answers a token or an OAuth error.
fn oauth_server(expect: Expect) -> OAuthServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/oauth2/token", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            serve(stream, &expect, &log);
        }
    });
    OAuthServer { url, seen }
}

fn serve(stream: TcpStream, expect: &Expect, log: &Mutex<Vec<(String, String, String)>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let header = |k: &str| {
        headers
            .iter()
            .find(|(h, _)| h == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let length: usize = header("content-length").parse().unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| {
        form.iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (id, secret) = header("authorization")
        .strip_prefix("Basic ")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())))
        .unwrap_or_default();
    log.lock()
        .unwrap()
        .push((field("grant_type"), field("scope"), id.clone()));
    let (status, answer) = if !request_line.starts_with("POST /oauth2/token ")
        || !header("content-type").starts_with("application/x-www-form-urlencoded")
    {
        (
            "400 Bad Request",
            r#"{"error":"invalid_request"}"#.to_owned(),
        )
    } else if field("grant_type") != "client_credentials" {
        (
            "400 Bad Request",
            r#"{"error":"unsupported_grant_type"}"#.to_owned(),
        )
    } else if id != expect.client_id || secret != expect.secret {
        (
            "400 Bad Request",
            r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#
                .to_owned(),
        )
    } else if field("scope") != expect.scope {
        ("400 Bad Request", r#"{"error":"invalid_scope"}"#.to_owned())
    } else {
        (
            "200 OK",
            r#"{"access_token":"eyJ.test-token.sig","token_type":"Bearer","expires_in":3600}"#
                .to_owned(),
        )
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
}

/// The whole stack once more, then: a Cognito domain prefix that is taken, `token` (default output, --json,
/// OAuth errors, no state, the emulator guard, an unreachable endpoint), and drift repaired by `up`.
#[tokio::test(flavor = "multi_thread")]
async fn token_domain_conflict_and_drift() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let c = clients(&emu).await;
    let st = Stack::new(&emu, "id-tok");

    // `token` before anything was deployed.
    let r = st.run(&[
        "token",
        "--token-endpoint",
        "http://127.0.0.1:9/oauth2/token",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("run `neo4j-gw up` first"), "{}", r.stderr);

    // Someone else's pool holds the default domain prefix: up says so and names the setting.
    let other = c
        .cognito
        .create_user_pool()
        .pool_name("someone-else")
        .send()
        .await
        .unwrap();
    let other_pool = other.user_pool().unwrap().id().unwrap().to_owned();
    c.cognito
        .create_user_pool_domain()
        .domain("id-tok-123456789012-us-east-1")
        .user_pool_id(&other_pool)
        .send()
        .await
        .unwrap();
    let r = st.up(&cert, &[]);
    // A conflict in the plan: `up` stops before its first change.
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.mutating(), Vec::<String>::new());
    assert!(
        r.stderr.contains("id-tok-123456789012-us-east-1")
            && r.stderr.contains("taken")
            && r.stderr.contains("--cognito-domain-prefix"),
        "{}",
        r.stderr
    );
    let up = st.up(&cert, &["--cognito-domain-prefix", "id-tok-custom"]);
    up.ok();
    assert_eq!(up.count("CreateUserPoolDomain"), 1);
    let state = st.state();
    assert_eq!(
        state_id(&state, "user-pool-domain", "domain"),
        "id-tok-custom"
    );
    // The foreign domain is untouched.
    let d = c
        .cognito
        .describe_user_pool_domain()
        .domain("id-tok-123456789012-us-east-1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.domain_description().unwrap().user_pool_id(),
        Some(other_pool.as_str())
    );

    let pool_id = state_id(&state, "user-pool", "user_pool_id");
    let client_id = state_id(&state, "app-client", "client_id");
    let secret = client_secret(&c, &pool_id, &client_id).await;
    let good = oauth_server(Expect {
        client_id: client_id.clone(),
        secret: secret.clone(),
        scope: AGENT_SCOPES.join(" "),
    });

    // Default output: the access token alone.
    let r = st.run(&["token", "--token-endpoint", &good.url]);
    r.ok();
    assert_eq!(r.stdout, "eyJ.test-token.sig\n");
    assert_eq!(
        good.seen.lock().unwrap().last().cloned(),
        Some((
            "client_credentials".into(),
            AGENT_SCOPES.join(" "),
            client_id.clone()
        ))
    );
    assert!(!r.stderr.contains(&secret));

    // --json, with the endpoint from the environment (the config key).
    let mut cmd = st.command(&["token", "--json"]);
    cmd.env("NEO4J_GW_TOKEN_ENDPOINT", &good.url);
    let r = st.run_cmd(cmd);
    r.ok();
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    let keys: BTreeSet<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "access_token",
            "token_type",
            "expires_in",
            "expires_at",
            "scope"
        ])
    );
    assert_eq!(doc["access_token"], "eyJ.test-token.sig");
    assert_eq!(doc["token_type"], "Bearer");
    assert_eq!(doc["expires_in"], 3600);
    assert_eq!(doc["scope"], AGENT_SCOPES.join(" "));
    let expires = humantime::parse_rfc3339(doc["expires_at"].as_str().unwrap()).unwrap();
    let left = expires
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(left.as_secs() > 3500 && left.as_secs() <= 3600, "{left:?}");

    // invalid_scope: a scope the endpoint does not grant.
    let mut cmd = st.command(&["token", "--token-endpoint", &good.url]);
    cmd.env("NEO4J_GW_SCOPE", "admin");
    let r = st.run_cmd(cmd);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("invalid_scope") && r.stderr.contains("neo4j-mcp-gateway/admin"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, "");

    // invalid_client: the endpoint expects another secret. The real one is never echoed.
    let wrong = oauth_server(Expect {
        client_id: client_id.clone(),
        secret: "not-the-secret".into(),
        scope: AGENT_SCOPES.join(" "),
    });
    let r = st.run(&["token", "--token-endpoint", &wrong.url]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("invalid_client") && r.stderr.contains("neo4j-gw up"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(&secret) && !r.stdout.contains(&secret));

    // Against an emulator the real Cognito domain is never contacted: without the emulator's data plane (or an
    // explicit endpoint) `token` says what to pass; with it, the Cognito stand-in at the domain's name answers
    // with a signed access token carrying Cognito's claims.
    let r = st.run_cmd(st.command_without_data_plane(&["token"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--token-endpoint") && r.stderr.contains("--data-plane-endpoint"),
        "{}",
        r.stderr
    );
    let r = st.run(&["token"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let parts: Vec<&str> = r.stdout.trim().split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT: {}", r.stdout);
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["token_use"], "access");
    assert_eq!(claims["scope"], AGENT_SCOPES.join(" "));
    assert_eq!(
        claims["client_id"],
        state_id(&st.state(), "app-client", "client_id")
    );
    assert!(
        claims.get("aud").is_none(),
        "Cognito access tokens carry no aud: {claims}"
    );

    // An endpoint that refuses connections is reported at once (it is not a documented propagation delay),
    // naming the endpoint and what to check.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/oauth2/token", closed.local_addr().unwrap());
    drop(closed);
    let r = st.run(&["token", "--token-endpoint", &dead]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("refused")
            && r.stderr.contains(&dead)
            && r.stderr.contains("--token-endpoint"),
        "{}",
        r.stderr
    );

    // Drift: the gateway's authorizer and interceptor changed out of band.
    let gateway_id = state_id(&state, "gateway", "gateway_id");
    let g = c
        .agentcore
        .get_gateway()
        .gateway_identifier(&gateway_id)
        .send()
        .await
        .unwrap();
    let jwt = aws_sdk_bedrockagentcorecontrol::types::CustomJwtAuthorizerConfiguration::builder()
        .discovery_url(
            g.authorizer_configuration()
                .unwrap()
                .as_custom_jwt_authorizer()
                .unwrap()
                .discovery_url(),
        )
        .allowed_clients("someone-else")
        .allowed_scopes(SCOPE)
        .build()
        .unwrap();
    c.agentcore
        .update_gateway()
        .gateway_identifier(&gateway_id)
        .name(g.name())
        .role_arn(g.role_arn().unwrap())
        .protocol_type(g.protocol_type().clone())
        .protocol_configuration(g.protocol_configuration().unwrap().clone())
        .authorizer_type(g.authorizer_type().clone())
        .authorizer_configuration(
            aws_sdk_bedrockagentcorecontrol::types::AuthorizerConfiguration::CustomJwtAuthorizer(
                jwt,
            ),
        )
        .set_interceptor_configurations(Some(vec![]))
        .send()
        .await
        .unwrap();
    // Lambda code changed out of band.
    let before_sha = state_id(&state, "interceptor-function", "code_sha256");
    let mut other_zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    other_zip
        .start_file("interceptor.py", zip::write::SimpleFileOptions::default())
        .unwrap();
    other_zip
        .write_all(b"def handler(event, context):\n    return {}\n")
        .unwrap();
    let other_zip = other_zip.finish().unwrap().into_inner();
    c.lambda
        .update_function_code()
        .function_name("id-tok-interceptor")
        .zip_file(aws_sdk_lambda::primitives::Blob::new(other_zip))
        .send()
        .await
        .unwrap();

    let (code, status) = st.status_json();
    assert_eq!(code, 3);
    assert_eq!(report(&status, "gateway")["state"], "drifted");
    let attrs = drift_attributes(&status, "gateway");
    assert!(
        attrs.contains(&"authorizer.allowed_clients".to_owned())
            && attrs.contains(&"interceptor".to_owned()),
        "{attrs:?}"
    );
    assert_eq!(report(&status, "interceptor-function")["state"], "drifted");
    assert_eq!(
        drift_attributes(&status, "interceptor-function"),
        ["code_sha256"]
    );

    let fix = st.up(&cert, &[]);
    fix.ok();
    let mut mutating: Vec<String> = fix
        .mutating()
        .iter()
        .map(|m| m.rsplit(':').next().unwrap().to_owned())
        .collect();
    mutating.sort();
    assert_eq!(
        mutating,
        ["UpdateFunctionCode", "UpdateGateway"],
        "only the drifted resources are repaired"
    );
    let g = c
        .agentcore
        .get_gateway()
        .gateway_identifier(&gateway_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        g.authorizer_configuration()
            .unwrap()
            .as_custom_jwt_authorizer()
            .unwrap()
            .allowed_clients(),
        std::slice::from_ref(&client_id)
    );
    assert_eq!(g.interceptor_configurations().len(), 1);
    let f = c
        .lambda
        .get_function()
        .function_name("id-tok-interceptor")
        .send()
        .await
        .unwrap();
    assert_eq!(
        f.configuration().unwrap().code_sha256(),
        Some(before_sha.as_str())
    );
    let (code, status) = st.status_json();
    assert_eq!(code, 0, "{status:#}");

    st.run(&["down", "--yes"]).ok();
    assert_eq!(pools_named(&c, "id-tok-pool").await, 0);
    assert_eq!(
        pools_named(&c, "someone-else").await,
        1,
        "the foreign pool survives"
    );
}
