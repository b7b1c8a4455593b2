//! The compute half of the serving stack — secret, task roles, cluster, task definition, service — proven
//! through the real binary against a real moto server (with the launcher's fake ECS agent unless stated).

use std::collections::BTreeMap;

use crate::support::{self, Emulator, Stack, dataplane, fixtures, report, state_id};
use aws_sdk_ecs::types::{ServiceField, TaskDefinitionField, TaskDefinitionStatus};
use serde_json::Value;

const SECRET_KEYS: [&str; 5] = [
    "NEO4J_AUTHORIZATION",
    "NEO4J_DATABASE",
    "NEO4J_PASSWORD",
    "NEO4J_URI",
    "NEO4J_USERNAME",
];

fn detail<'v>(r: &'v Value, key: &str) -> Option<&'v str> {
    r["details"]
        .as_array()?
        .iter()
        .find(|d| d[0] == key)
        .and_then(|d| d[1].as_str())
}

async fn secret_json(sdk: &aws_config::SdkConfig, arn: &str) -> BTreeMap<String, String> {
    let sm = aws_sdk_secretsmanager::Client::new(sdk);
    let v = sm.get_secret_value().secret_id(arn).send().await.unwrap();
    serde_json::from_str(v.secret_string().unwrap()).unwrap()
}

async fn active_revisions(ecs: &aws_sdk_ecs::Client, family: &str) -> Vec<String> {
    ecs.list_task_definitions()
        .family_prefix(family)
        .status(TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap()
        .task_definition_arns()
        .iter()
        .filter(|a| a.contains(&format!("task-definition/{family}:")))
        .cloned()
        .collect()
}

async fn service(ecs: &aws_sdk_ecs::Client, stack: &str) -> aws_sdk_ecs::types::Service {
    ecs.describe_services()
        .cluster(stack)
        .services(format!("{stack}-mcp"))
        .include(ServiceField::Tags)
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone()
}

fn decode(doc: &str) -> Value {
    serde_json::from_str(&percent_encoding::percent_decode_str(doc).decode_utf8_lossy()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn up_builds_the_compute_as_specified_then_noop_then_down_leaves_nothing() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let sdk = emu.sdk().await;
    let mut st = Stack::new(&emu, "sc-life");
    st.extra_env
        .push(("NEO4J_PASSWORD".into(), "pw-life-1".into()));
    // The database `up`'s verification queries through the gateway.
    dataplane::neo4j(
        &emu,
        "neo4j+s://db.example.com:7687",
        &[("reader", "pw-life-1")],
        &["movies"],
    )
    .await;
    let up = st.up(
        &cert,
        &[
            "--neo4j-uri",
            "neo4j+s://db.example.com:7687",
            "--neo4j-database",
            "movies",
            "--neo4j-username",
            "reader",
        ],
    );
    up.ok();
    let state = st.state();

    // The secret: named from the stack, tagged, the four JSON keys and the credentials header's value derived from
    // them (which the task's proxy sends).
    let secret_arn = state_id(&state, "secret", "arn");
    assert_eq!(state_id(&state, "secret", "name"), "neo4j-gw/sc-life/neo4j");
    let value = secret_json(&sdk, &secret_arn).await;
    assert_eq!(
        value.keys().map(String::as_str).collect::<Vec<_>>(),
        SECRET_KEYS
    );
    assert_eq!(value["NEO4J_URI"], "neo4j+s://db.example.com:7687");
    assert_eq!(value["NEO4J_DATABASE"], "movies");
    assert_eq!(value["NEO4J_USERNAME"], "reader");
    assert_eq!(value["NEO4J_PASSWORD"], "pw-life-1");
    assert_eq!(
        value["NEO4J_AUTHORIZATION"],
        format!("Basic {}", {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode("reader:pw-life-1")
        })
    );
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let described = sm
        .describe_secret()
        .secret_id(&secret_arn)
        .send()
        .await
        .unwrap();
    assert!(
        described.tags().iter().any(
            |t| t.key() == Some(neo4j_gw::resources::TAG_STACK) && t.value() == Some("sc-life")
        )
    );

    // The execution role: logs on that one log group, GetSecretValue on that one secret; nothing else.
    let iam = aws_sdk_iam::Client::new(&sdk);
    let exec = state_id(&state, "task-execution-role", "role_name");
    let policy = iam
        .get_role_policy()
        .role_name(&exec)
        .policy_name("neo4j-gw")
        .send()
        .await
        .unwrap();
    let policy = decode(policy.policy_document());
    let log_group_arn = state_id(&state, "log-group", "arn");
    let mut grants: Vec<(String, String)> = Vec::new();
    for s in policy["Statement"].as_array().unwrap() {
        assert_eq!(s["Effect"], "Allow");
        let actions: Vec<String> = match &s["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_owned()).collect(),
            other => panic!("{other}"),
        };
        for a in actions {
            grants.push((a, s["Resource"].as_str().unwrap().to_owned()));
        }
    }
    grants.sort();
    assert_eq!(
        grants,
        vec![
            (
                "logs:CreateLogStream".to_owned(),
                format!("{log_group_arn}:*")
            ),
            ("logs:PutLogEvents".to_owned(), format!("{log_group_arn}:*")),
            (
                "secretsmanager:GetSecretValue".to_owned(),
                secret_arn.clone()
            ),
        ]
    );
    let trust = iam.get_role().role_name(&exec).send().await.unwrap();
    let trust = decode(trust.role().unwrap().assume_role_policy_document().unwrap());
    assert_eq!(
        trust["Statement"][0]["Principal"]["Service"],
        "ecs-tasks.amazonaws.com"
    );
    // The task role: trusted by ECS tasks of this account, no permissions at all.
    let task_role = state_id(&state, "task-role", "role_name");
    let inline = iam
        .list_role_policies()
        .role_name(&task_role)
        .send()
        .await
        .unwrap();
    assert!(
        inline.policy_names().is_empty(),
        "{:?}",
        inline.policy_names()
    );
    let attached = iam
        .list_attached_role_policies()
        .role_name(&task_role)
        .send()
        .await
        .unwrap();
    assert!(attached.attached_policies().is_empty());
    let trust = iam.get_role().role_name(&task_role).send().await.unwrap();
    let trust = decode(trust.role().unwrap().assume_role_policy_document().unwrap());
    assert_eq!(
        trust["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"],
        "123456789012"
    );

    // The cluster: named after the stack, tagged.
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    assert_eq!(state_id(&state, "cluster", "cluster_name"), "sc-life");
    let tags = ecs
        .list_tags_for_resource()
        .resource_arn(state_id(&state, "cluster", "arn"))
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == Some(neo4j_gw::resources::TAG_STACK))
    );

    // The task definition: Fargate, awsvpc, ARM64, 256/1024, the roles, the environment of stack.md row 5,
    // the two ECS secrets from the secret's JSON keys, awslogs, and no credentials; with the origin lock (the
    // default) the server listens on the task's loopback behind the credentials proxy, which has port 8080.
    let td_arn = state_id(&state, "task-definition", "arn");
    assert_eq!(state_id(&state, "task-definition", "family"), "sc-life-mcp");
    let td = ecs
        .describe_task_definition()
        .task_definition(&td_arn)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .unwrap();
    assert!(!td.tags().is_empty(), "task definition tags");
    let td = td.task_definition().unwrap();
    assert_eq!(td.network_mode().unwrap().as_str(), "awsvpc");
    assert_eq!(td.requires_compatibilities()[0].as_str(), "FARGATE");
    assert_eq!((td.cpu(), td.memory()), (Some("256"), Some("1024")));
    let platform = td.runtime_platform().unwrap();
    assert_eq!(platform.cpu_architecture().unwrap().as_str(), "ARM64");
    assert_eq!(
        platform.operating_system_family().unwrap().as_str(),
        "LINUX"
    );
    assert_eq!(
        td.execution_role_arn().unwrap(),
        state_id(&state, "task-execution-role", "arn")
    );
    assert_eq!(
        td.task_role_arn().unwrap(),
        state_id(&state, "task-role", "arn")
    );
    assert_eq!(td.container_definitions().len(), 2);
    let c = &td.container_definitions()[0];
    let secret_version = state_id(&state, "secret", "version");
    assert_eq!(c.name(), Some("neo4j-mcp"));
    assert_eq!(c.image(), Some("neo4j/mcp:v1.5.3"));
    assert!(
        c.port_mappings().is_empty(),
        "the server is reached through the proxy only"
    );
    // The proxy: Caddy's reverse-proxy command, the credentials header's value from the secret, never in argv.
    let proxy = &td.container_definitions()[1];
    assert_eq!(proxy.name(), Some("credentials-proxy"));
    assert!(proxy.image().unwrap().starts_with("caddy:"));
    assert_eq!(proxy.port_mappings()[0].container_port(), Some(8080));
    assert_eq!(
        proxy.command().join(" "),
        "caddy reverse-proxy --from :8080 --to 127.0.0.1:8081 --header-up \
         X-Neo4j-Authorization: {env.NEO4J_AUTHORIZATION}"
    );
    assert_eq!(
        proxy
            .secrets()
            .iter()
            .map(|s| (s.name(), s.value_from()))
            .collect::<Vec<_>>(),
        [(
            "NEO4J_AUTHORIZATION",
            format!("{secret_arn}:NEO4J_AUTHORIZATION::").as_str()
        )]
    );
    let env: BTreeMap<&str, &str> = c
        .environment()
        .iter()
        .map(|kv| (kv.name().unwrap(), kv.value().unwrap()))
        .collect();
    let want: BTreeMap<&str, &str> = [
        ("NEO4J_TRANSPORT_MODE", "http"),
        ("NEO4J_MCP_HTTP_PORT", "8081"),
        ("NEO4J_MCP_HTTP_HOST", "127.0.0.1"),
        ("NEO4J_READ_ONLY", "true"),
        // In no mode an unauthenticated ping or tools/list: no NEO4J_HTTP_ALLOW_UNAUTHENTICATED_* flags.
        ("NEO4J_TELEMETRY", "false"),
        ("NEO4J_HTTP_AUTH_HEADER_NAME", "X-Neo4j-Authorization"),
        // The secret's version, so that a new value of the secret is a new revision (`settings_rollout`).
        ("NEO4J_GW_SECRET_VERSION", secret_version.as_str()),
    ]
    .into_iter()
    .collect();
    assert_eq!(env, want);
    let secrets: BTreeMap<&str, &str> = c
        .secrets()
        .iter()
        .map(|s| (s.name(), s.value_from()))
        .collect();
    assert_eq!(
        secrets,
        [
            ("NEO4J_DATABASE", format!("{secret_arn}:NEO4J_DATABASE::")),
            ("NEO4J_URI", format!("{secret_arn}:NEO4J_URI::")),
        ]
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect()
    );
    let log = c.log_configuration().unwrap();
    assert_eq!(log.log_driver().as_str(), "awslogs");
    let opts = log.options().unwrap();
    assert_eq!(opts["awslogs-group"], state_id(&state, "log-group", "name"));
    assert_eq!(opts["awslogs-region"], "us-east-1");

    // The service: Fargate in both subnets with the task SG and a public IP, behind the target group, circuit
    // breaker with rollback, grace period, tags propagated, no ECS Exec — and running with a healthy target.
    let svc = service(&ecs, "sc-life").await;
    assert_eq!(svc.status(), Some("ACTIVE"));
    assert_eq!(svc.task_definition(), Some(td_arn.as_str()));
    assert_eq!((svc.desired_count(), svc.running_count()), (1, 1));
    assert_eq!(svc.launch_type().unwrap().as_str(), "FARGATE");
    let vpc = svc
        .network_configuration()
        .unwrap()
        .awsvpc_configuration()
        .unwrap();
    let mut subnets = vpc.subnets().to_vec();
    subnets.sort();
    let mut want_subnets = vec![
        state_id(&state, "subnet-a", "subnet_id"),
        state_id(&state, "subnet-b", "subnet_id"),
    ];
    want_subnets.sort();
    assert_eq!(subnets, want_subnets);
    assert_eq!(
        vpc.security_groups(),
        [state_id(&state, "task-sg", "group_id")]
    );
    assert_eq!(vpc.assign_public_ip().unwrap().as_str(), "ENABLED");
    let lb = &svc.load_balancers()[0];
    assert_eq!(
        lb.target_group_arn(),
        Some(state_id(&state, "target-group", "arn").as_str())
    );
    assert_eq!(
        (lb.container_name(), lb.container_port()),
        (Some("credentials-proxy"), Some(8080))
    );
    let breaker = svc
        .deployment_configuration()
        .unwrap()
        .deployment_circuit_breaker()
        .unwrap();
    assert!(breaker.enable() && breaker.rollback());
    assert_eq!(svc.health_check_grace_period_seconds(), Some(60));
    assert_eq!(svc.propagate_tags().unwrap().as_str(), "SERVICE");
    assert!(!svc.enable_execute_command());
    assert!(
        svc.tags()
            .iter()
            .any(|t| t.key() == Some(neo4j_gw::resources::TAG_STACK))
    );
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let health = elb
        .describe_target_health()
        .target_group_arn(state_id(&state, "target-group", "arn"))
        .send()
        .await
        .unwrap();
    assert!(health.target_health_descriptions().iter().any(|d| {
        d.target_health()
            .and_then(|h| h.state())
            .map(|s| s.as_str())
            == Some("healthy")
    }));

    // status: the service's counts and target health; the secret's ARN among the outputs.
    let (code, status) = st.status_json();
    assert_eq!(code, 0, "{status:#}");
    let s = report(&status, "service");
    assert_eq!(s["state"], "present");
    assert_eq!(detail(s, "running"), Some("1"));
    assert_eq!(detail(s, "desired"), Some("1"));
    assert_eq!(detail(s, "healthy_targets"), Some("1"));
    assert_eq!(status["outputs"]["Neo4jSecretArn"], secret_arn.as_str());

    // A second up changes nothing.
    let again = st.up(
        &cert,
        &[
            "--neo4j-uri",
            "neo4j+s://db.example.com:7687",
            "--neo4j-database",
            "movies",
            "--neo4j-username",
            "reader",
        ],
    );
    again.ok();
    assert_eq!(again.mutating(), Vec::<String>::new());

    // down: service gone and its tasks stopped, task definitions deregistered, cluster, roles, secret gone.
    let down = st.run(&["down", "--yes"]);
    down.ok();
    for op in [
        "UpdateService",
        "DeleteService",
        "DeregisterTaskDefinition",
        "DeleteCluster",
    ] {
        assert!(down.count(op) >= 1, "{op}: {:?}", down.mutating());
    }
    let svc = service(&ecs, "sc-life").await;
    assert_eq!(svc.status(), Some("INACTIVE"));
    let tasks = ecs
        .list_tasks()
        .cluster("sc-life")
        .service_name("sc-life-mcp")
        .send()
        .await;
    assert!(tasks.map(|t| t.task_arns().is_empty()).unwrap_or(true));
    assert_eq!(
        active_revisions(&ecs, "sc-life-mcp").await,
        Vec::<String>::new()
    );
    let clusters = ecs
        .describe_clusters()
        .clusters("sc-life")
        .send()
        .await
        .unwrap();
    assert!(
        clusters
            .clusters()
            .iter()
            .all(|c| c.status() == Some("INACTIVE"))
    );
    for role in [&exec, &task_role] {
        assert!(
            iam.get_role().role_name(role).send().await.is_err(),
            "{role}"
        );
    }
    let gone = sm.describe_secret().secret_id(&secret_arn).send().await;
    assert!(gone.is_err(), "secret left after down: {gone:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn image_change_rolls_the_same_service_onto_a_new_revision() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "sc-image");
    st.up(&cert, &["--image", "mcp/neo4j:1.5.2"]).ok();
    let before = st.state();
    let td1 = state_id(&before, "task-definition", "arn");

    let up = st.up(&cert, &["--image", "mcp/neo4j:1.5.3"]);
    up.ok();
    let mut mutating = up.mutating();
    mutating.sort();
    assert_eq!(
        mutating,
        vec!["ECS:RegisterTaskDefinition", "ECS:UpdateService"],
        "only a new revision and an in-place service update"
    );
    let after = st.state();
    let td2 = state_id(&after, "task-definition", "arn");
    assert_ne!(td1, td2);
    assert_eq!(
        state_id(&after, "task-definition", "revision"),
        (state_id(&before, "task-definition", "revision")
            .parse::<i32>()
            .unwrap()
            + 1)
        .to_string()
    );
    for (node, key) in [
        ("service", "arn"),
        ("load-balancer", "arn"),
        ("target-group", "arn"),
        ("listener", "arn"),
    ] {
        assert_eq!(
            state_id(&before, node, key),
            state_id(&after, node, key),
            "{node} must be untouched"
        );
    }
    let ecs = aws_sdk_ecs::Client::new(&emu.sdk().await);
    let svc = service(&ecs, "sc-image").await;
    assert_eq!(svc.task_definition(), Some(td2.as_str()));
    assert_eq!(svc.running_count(), 1);
    let td = ecs
        .describe_task_definition()
        .task_definition(&td2)
        .send()
        .await
        .unwrap();
    assert_eq!(
        td.task_definition().unwrap().container_definitions()[0].image(),
        Some("mcp/neo4j:1.5.3")
    );
    // The desired count is applied in place too, without a new revision.
    let up = st.up(
        &cert,
        &["--image", "mcp/neo4j:1.5.3", "--desired-count", "2"],
    );
    up.ok();
    assert_eq!(up.mutating(), vec!["ECS:UpdateService"]);
    assert_eq!(service(&ecs, "sc-image").await.running_count(), 2);
}

/// What `up` changes when the secret gets a new value: the secret, and its version in its consumers — a task
/// definition revision the service rolls onto, and the interceptor's configuration (`settings_rollout` shows
/// that each takes effect at once).
const NEW_SECRET_VALUE: [&str; 4] = [
    "ECS:RegisterTaskDefinition",
    "ECS:UpdateService",
    "Lambda:UpdateFunctionConfiguration",
    "Secrets Manager:PutSecretValue",
];

#[tokio::test(flavor = "multi_thread")]
async fn password_change_writes_the_secret_and_its_version_and_up_after_down_works() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let sdk = emu.sdk().await;
    let uri = ["--neo4j-uri", "neo4j+s://db.example.com"];
    let mut st = Stack::new(&emu, "sc-pw");
    st.extra_env
        .push(("NEO4J_PASSWORD".into(), "first-pw".into()));
    dataplane::neo4j(&emu, uri[1], &[("companies", "first-pw")], &["companies"]).await;
    st.up(&cert, &uri).ok();
    let arn = state_id(&st.state(), "secret", "arn");

    st.extra_env = vec![("NEO4J_PASSWORD".into(), "second-pw".into())];
    // status (read-only) shows the difference without the values.
    let (code, status) = st.status_json();
    assert_eq!(code, 3);
    let drift = &report(&status, "secret")["drift"];
    assert_eq!(drift[0]["attribute"], "password");
    assert_eq!(drift[0]["expected"], "(hidden)");
    assert_eq!(drift[0]["actual"], "(hidden)");

    dataplane::neo4j_password(&emu, uri[1], "companies", "second-pw").await;
    let up = st.up(&cert, &uri);
    up.ok();
    let mut mutating = up.mutating();
    mutating.sort();
    assert_eq!(mutating, NEW_SECRET_VALUE);
    assert_eq!(secret_json(&sdk, &arn).await["NEO4J_PASSWORD"], "second-pw");
    assert_eq!(state_id(&st.state(), "secret", "arn"), arn);

    // down force-deletes the secret, so the same stack comes up again under the same name.
    st.run(&["down", "--yes"]).ok();
    let again = st.up(&cert, &uri);
    again.ok();
    // The Neo4j secret and the origin lock's secret.
    assert!(again.count("CreateSecret") == 2, "{:?}", again.mutating());
    let arn2 = state_id(&st.state(), "secret", "arn");
    assert_ne!(arn, arn2, "a new secret under the same name");
    assert_eq!(
        state_id(&st.state(), "secret", "name"),
        "neo4j-gw/sc-pw/neo4j"
    );
    assert_eq!(
        secret_json(&sdk, &arn2).await["NEO4J_PASSWORD"],
        "second-pw"
    );
    st.run(&["status"]).ok();

    // A secret scheduled for deletion out of band (with a recovery window) is restored by up, not recreated.
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    sm.delete_secret()
        .secret_id(&arn2)
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    let (_, status) = st.status_json();
    assert_eq!(report(&status, "secret")["state"], "drifted");
    let up = st.up(&cert, &uri);
    up.ok();
    let mut mutating = up.mutating();
    mutating.sort();
    let mut restored = NEW_SECRET_VALUE.to_vec();
    restored.push("Secrets Manager:RestoreSecret");
    restored.sort();
    assert_eq!(mutating, restored);
    assert_eq!(state_id(&st.state(), "secret", "arn"), arn2);
    st.run(&["status"]).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn service_wait_times_out_with_the_state_and_reasons() {
    let emu = Emulator::start_with(&["--no-ecs-agent"]);
    let (_, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "sc-wait");
    let up = st.up(&cert, &["--wait-timeout", "4"]);
    assert_eq!(up.code, 1, "{}", up.stderr);
    let err = &up.stderr;
    assert!(err.contains("service: timed out after"), "{err}");
    assert!(err.contains("running 0/1, pending 1"), "{err}");
    assert!(err.contains("targets: none registered"), "{err}");
    assert!(err.contains("stopped tasks: none"), "{err}");
    // The state keeps the service, so the next run picks it up; status says it is not ready.
    assert!(!state_id(&st.state(), "service", "arn").is_empty());
    let (code, status) = st.status_json();
    assert_eq!(code, 3);
    assert_eq!(report(&status, "service")["state"], "pending");
}

#[tokio::test(flavor = "multi_thread")]
async fn service_without_healthy_targets_reports_why_tasks_stopped() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "sc-reason");
    st.up(&cert, &["--image", "mcp/neo4j:1.5.2"]).ok();
    // A new deployment stops the first task (the fake agent gives it a stoppedReason).
    st.up(&cert, &["--image", "mcp/neo4j:1.5.3"]).ok();
    // Take the healthy target away: the service is no longer ready.
    let sdk = emu.sdk().await;
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let tg = state_id(&st.state(), "target-group", "arn");
    let health = elb
        .describe_target_health()
        .target_group_arn(&tg)
        .send()
        .await
        .unwrap();
    let targets: Vec<_> = health
        .target_health_descriptions()
        .iter()
        .filter_map(|d| d.target().cloned())
        .collect();
    assert!(!targets.is_empty());
    elb.deregister_targets()
        .target_group_arn(&tg)
        .set_targets(Some(targets))
        .send()
        .await
        .unwrap();
    let (code, status) = st.status_json();
    assert_eq!(code, 3);
    let s = report(&status, "service");
    assert_eq!(s["state"], "unhealthy", "{s:#}");
    assert_eq!(detail(s, "healthy_targets"), Some("0"));

    let up = st.up(
        &cert,
        &["--image", "mcp/neo4j:1.5.3", "--wait-timeout", "3"],
    );
    assert_eq!(up.code, 1, "{}", up.stderr);
    assert!(up.stderr.contains("timed out"), "{}", up.stderr);
    assert!(
        up.stderr.contains("stopped task") && up.stderr.contains("Task stopped by deployment"),
        "the stopped task's reason must be printed: {}",
        up.stderr
    );
    assert!(
        up.stderr.contains("targets: none registered"),
        "{}",
        up.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_password_appears_nowhere_but_in_secrets_manager() {
    const PASSWORD: &str = "Pw-Recognisable-8d1f3c";
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let mut st = Stack::new(&emu, "sc-hygiene");
    st.extra_env
        .push(("NEO4J_PASSWORD".into(), PASSWORD.into()));
    let uri = ["--neo4j-uri", "neo4j+s://db.example.com"];
    dataplane::neo4j(&emu, uri[1], &[("companies", PASSWORD)], &["companies"]).await;
    let check = |what: &str, run: &support::Run| {
        assert!(!run.stdout.contains(PASSWORD), "{what}: stdout");
        assert!(!run.stderr.contains(PASSWORD), "{what}: stderr");
        let ledger = serde_json::to_string(&run.calls).unwrap();
        assert!(!ledger.contains(PASSWORD), "{what}: call ledger");
        assert!(!run.calls.is_empty(), "{what}: the ledger was written");
    };
    let state_files = |st: &Stack| {
        let dir = st.state_path().parent().unwrap().to_owned();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read(&path).unwrap();
            assert!(
                !String::from_utf8_lossy(&text).contains(PASSWORD),
                "{}",
                path.display()
            );
        }
    };
    let mut args = vec!["-vv"];
    args.extend([
        "up",
        "--domain-name",
        support::DOMAIN,
        "--certificate-arn",
        &cert,
    ]);
    args.extend(uri);
    let up = st.run(&args);
    up.ok();
    assert!(up.stderr.contains("PutSecretValue") || up.stderr.contains("CreateSecret"));
    check("up", &up);
    state_files(&st);
    // A changed password: the drift is reported, never the values.
    st.extra_env = vec![("NEO4J_PASSWORD".into(), format!("{PASSWORD}-2"))];
    dataplane::neo4j_password(&emu, uri[1], "companies", &format!("{PASSWORD}-2")).await;
    let status = st.run(&["-vv", "status", "--json"]);
    assert_eq!(status.code, 3);
    check("status", &status);
    assert!(status.stdout.contains("(hidden)"));
    let status = st.run(&["-vv", "status"]);
    check("status", &status);
    let up = st.run(&args);
    up.ok();
    check("up with a new password", &up);
    state_files(&st);
    let down = st.run(&["-vv", "down", "--yes"]);
    down.ok();
    check("down", &down);
    // The ledger file of the last run (the support module keeps it per run) and the state dir.
    let ledger = std::fs::read_to_string(st.dir.path().join("calls.jsonl")).unwrap_or_default();
    assert!(!ledger.contains(PASSWORD));
    state_files(&st);
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_state_is_adopted_then_down_finds_everything_by_name() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "sc-adopt");
    st.up(&cert, &[]).ok();
    let before = st.state();
    std::fs::remove_file(st.state_path()).unwrap();

    let up = st.up(&cert, &[]);
    up.ok();
    let creates: Vec<String> = up
        .mutating()
        .into_iter()
        .filter(|c| c.contains(":Create") || c.contains(":Register"))
        .collect();
    assert_eq!(
        creates,
        Vec::<String>::new(),
        "adoption must not create anything"
    );
    let after = st.state();
    for (node, key) in [
        ("secret", "arn"),
        ("task-execution-role", "arn"),
        ("task-role", "arn"),
        ("cluster", "arn"),
        ("task-definition", "arn"),
        ("service", "arn"),
    ] {
        assert_eq!(
            state_id(&before, node, key),
            state_id(&after, node, key),
            "{node}"
        );
    }

    std::fs::remove_file(st.state_path()).unwrap();
    st.run(&["down", "--yes"]).ok();
    let sdk = emu.sdk().await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    assert_eq!(service(&ecs, "sc-adopt").await.status(), Some("INACTIVE"));
    assert_eq!(
        active_revisions(&ecs, "sc-adopt-mcp").await,
        Vec::<String>::new()
    );
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    assert!(
        sm.describe_secret()
            .secret_id(state_id(&before, "secret", "arn"))
            .send()
            .await
            .is_err()
    );
}
