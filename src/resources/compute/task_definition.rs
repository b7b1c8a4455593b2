//! The Fargate task definition, family `<stack>-mcp`: the container `neo4j-mcp` running the Neo4j MCP server in
//! HTTP mode (stack.md §1 rows 4–5, §4) and, with the origin lock, the in-task credentials proxy in front of it.
//!
//! Server environment: `NEO4J_TRANSPORT_MODE=http`, `NEO4J_READ_ONLY` from the settings, `NEO4J_TELEMETRY=false`
//! (the server phones home by default), `NEO4J_HTTP_AUTH_HEADER_NAME` (the header that carries the credentials);
//! it listens on `0.0.0.0:8080` alone, on `127.0.0.1:8081` behind the proxy. No
//! `NEO4J_HTTP_ALLOW_UNAUTHENTICATED_*`: no source shows that AWS needs an unauthenticated `ping` or `tools/list`,
//! and every request that reaches the server carries credentials (docs/aws-behaviour.md, "Strict and lenient
//! readings"). `NEO4J_URI` and `NEO4J_DATABASE` come from the secret's JSON keys as ECS secrets. There is
//! deliberately no username or password: in HTTP mode the server refuses to start with them.
//!
//! The proxy (with the origin lock; [`PROXY_CONTAINER`]): the official Caddy image, configured by its command only
//! — `caddy reverse-proxy --from :8080 --to 127.0.0.1:8081 --header-up "<auth_header>:
//! {env.NEO4J_AUTHORIZATION}"` — so the load balancer's requests (which passed the origin lock) reach the server
//! with the Neo4j credentials, whatever the gateway sent. `NEO4J_AUTHORIZATION` (`Basic <base64>`) is an ECS secret
//! from the Neo4j secret's key of that name: the value is never in the task definition, the command or the state.
//! A new password reaches the proxy when the service starts new tasks (ECS reads secrets at task start).
//!
//! The secret's version rides along as `NEO4J_GW_SECRET_VERSION` (`secret::carry_version`): ECS resolves secrets only
//! when a task starts, so a new value of the secret (a new password for the proxy, a new URI or database for the
//! server) must be a new revision, which the service then rolls out.
//!
//! A task definition is immutable: a change registers a new revision (`update` returns its ARN, and the
//! `service` node then rolls the service onto it in place). `observe` looks at the latest ACTIVE revision of the
//! family. Older revisions stay ACTIVE until `down` (the circuit breaker may roll the service back onto one);
//! `down` deregisters every ACTIVE revision of the family and then deletes the INACTIVE ones.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, CpuArchitecture, KeyValuePair, LogConfiguration, LogDriver,
    NetworkMode, OsFamily, PortMapping, RuntimePlatform, Secret, TaskDefinition,
    TaskDefinitionField, TaskDefinitionStatus, TransportProtocol,
};

use super::ecs;
use crate::config::{Architecture, Settings};
use crate::error::{self, Error, Result};
use crate::resources::{AwsResult, Cx, Drift, Duplicate, Live, Observation, Resource, ids};
use crate::resources::{Output, log_group, secret, task_roles};
use crate::state::Ids;

pub const NODE: &str = "task-definition";
pub const ARN: Output = Output::new(NODE, "arn");

pub struct TaskDefinitionResource;

/// The server's container.
pub const CONTAINER: &str = "neo4j-mcp";
/// What a new version of the secret does to the task definition (for `plan`): it carries the version
/// ([`secret::carry_version`](crate::resources::secret::carry_version)), so the new value takes effect in the same `up`.
pub const NEW_SECRET_VERSION: &str = "the secret changes, and the task reads it only when it starts: a new revision carries its new version";
/// The in-task credentials proxy's container (with the origin lock).
pub const PROXY_CONTAINER: &str = "credentials-proxy";
/// The proxy's image: the official Caddy image (Docker Hub `caddy`; `reverse-proxy --header-up` since 2.7). Not
/// built here; pin a digest in production.
pub const PROXY_IMAGE: &str = "caddy:2.10.2";
/// The port the load balancer sends to: the proxy's with the origin lock, else the server's.
pub const PORT: i32 = 8080;
/// The server's port behind the proxy, on the task's loopback interface only.
pub const SERVER_PORT_BEHIND_PROXY: i32 = 8081;
/// The proxy's environment variable (an ECS secret) with the credentials header's value.
pub const PROXY_CREDENTIALS_VAR: &str = "NEO4J_AUTHORIZATION";
const STREAM_PREFIX: &str = "mcp";

/// True when the task runs the credentials proxy: with the origin lock (the proxy adds credentials to whatever the
/// load balancer forwards, so only the lock may decide what reaches it).
pub fn proxied(s: &Settings) -> bool {
    s.origin_lock
}

/// The container the service's load balancer sends to.
pub fn front_container(s: &Settings) -> &'static str {
    if proxied(s) {
        PROXY_CONTAINER
    } else {
        CONTAINER
    }
}

/// The proxy's command: everything it does, with no secret in it.
pub fn proxy_command(s: &Settings) -> Vec<String> {
    [
        "caddy",
        "reverse-proxy",
        "--from",
        &format!(":{PORT}"),
        "--to",
        &format!("127.0.0.1:{SERVER_PORT_BEHIND_PROXY}"),
        "--header-up",
        &format!("{}: {{env.{PROXY_CREDENTIALS_VAR}}}", s.auth_header),
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

/// The proxy's ECS secrets: the credentials header's value from the Neo4j secret.
pub fn proxy_secrets(secret_arn: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(
        PROXY_CREDENTIALS_VAR.to_owned(),
        format!(
            "{secret_arn}:{}::",
            crate::resources::secret::KEY_AUTHORIZATION
        ),
    )])
}

pub fn family(stack: &str) -> String {
    format!("{stack}-mcp")
}

/// The container's environment, by name.
pub fn environment(s: &Settings) -> BTreeMap<String, String> {
    let (host, port) = if proxied(s) {
        ("127.0.0.1", SERVER_PORT_BEHIND_PROXY)
    } else {
        ("0.0.0.0", PORT)
    };
    let mut env: BTreeMap<String, String> = [
        ("NEO4J_TRANSPORT_MODE", "http".to_owned()),
        ("NEO4J_MCP_HTTP_HOST", host.to_owned()),
        ("NEO4J_MCP_HTTP_PORT", port.to_string()),
        ("NEO4J_READ_ONLY", s.server_read_only().to_string()),
        ("NEO4J_TELEMETRY", "false".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if !s.auth_header.eq_ignore_ascii_case("Authorization") {
        env.insert("NEO4J_HTTP_AUTH_HEADER_NAME".into(), s.auth_header.clone());
    }
    env
}

/// The container's ECS secrets, by name: `valueFrom` = `<secretArn>:<json key>::`.
pub fn secrets(secret_arn: &str) -> BTreeMap<String, String> {
    ["NEO4J_URI", "NEO4J_DATABASE"]
        .into_iter()
        .map(|k| (k.to_owned(), format!("{secret_arn}:{k}::")))
        .collect()
}

fn architecture(a: Architecture) -> CpuArchitecture {
    match a {
        Architecture::Arm64 => CpuArchitecture::Arm64,
        Architecture::X86_64 => CpuArchitecture::X8664,
    }
}

/// The properties that matter, in a comparable form (of the desired definition or a live one).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Spec {
    image: String,
    environment: BTreeMap<String, String>,
    secrets: BTreeMap<String, String>,
    cpu: String,
    memory: String,
    architecture: String,
    execution_role: Option<String>,
    task_role: Option<String>,
    port: String,
    logging: Option<String>,
    network_mode: String,
    /// The proxy container, comparable: image, command, secrets, port; None without one.
    proxy: Option<String>,
}

fn proxy_spec(
    image: &str,
    command: &[String],
    secrets: &BTreeMap<String, String>,
    port: &str,
) -> String {
    format!(
        "{image} `{}` secrets {} port {port}",
        command.join(" "),
        join(secrets)
    )
}

fn logging(group: &str, region: &str) -> String {
    format!("awslogs group={group} region={region} stream-prefix={STREAM_PREFIX}")
}

fn desired(cx: &Cx) -> Spec {
    let s = cx.settings();
    Spec {
        image: s.image.clone(),
        environment: environment(s),
        secrets: cx
            .dep_opt(secret::ARN)
            .map(|a| secrets(&a))
            .unwrap_or_default(),
        cpu: s.cpu.to_string(),
        memory: s.memory.to_string(),
        architecture: s.architecture.ecs_name().to_owned(),
        execution_role: cx.dep_opt(task_roles::EXECUTION_ROLE_ARN),
        task_role: cx.dep_opt(task_roles::TASK_ROLE_ARN),
        port: if proxied(s) {
            String::new()
        } else {
            format!("{PORT}/tcp")
        },
        logging: cx
            .dep_opt(log_group::CONTAINER_LOGS_NAME)
            .map(|g| logging(&g, &cx.shared.region)),
        network_mode: "awsvpc".into(),
        proxy: proxied(s).then(|| {
            proxy_spec(
                PROXY_IMAGE,
                &proxy_command(s),
                &cx.dep_opt(secret::ARN)
                    .map(|a| proxy_secrets(&a))
                    .unwrap_or_default(),
                &format!("{PORT}/tcp"),
            )
        }),
    }
}

fn ports(c: &ContainerDefinition) -> String {
    let mut ports: Vec<String> = c
        .port_mappings()
        .iter()
        .map(|p| {
            format!(
                "{}/{}",
                p.container_port().unwrap_or_default(),
                p.protocol().map(|p| p.as_str()).unwrap_or("tcp")
            )
        })
        .collect();
    ports.sort();
    ports.join(",")
}

fn secrets_of(c: &ContainerDefinition) -> BTreeMap<String, String> {
    c.secrets()
        .iter()
        .map(|s| (s.name().to_owned(), s.value_from().to_owned()))
        .collect()
}

fn live_spec(td: &TaskDefinition) -> Option<Spec> {
    let c = td
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some(CONTAINER))?;
    let log = c.log_configuration();
    let opt = |k: &str| {
        log.and_then(|l| l.options())
            .and_then(|o| o.get(k))
            .cloned()
            .unwrap_or_default()
    };
    let proxy = td
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some(PROXY_CONTAINER))
        .map(|p| {
            proxy_spec(
                p.image().unwrap_or_default(),
                p.command(),
                &secrets_of(p),
                &ports(p),
            )
        });
    Some(Spec {
        image: c.image().unwrap_or_default().to_owned(),
        environment: c
            .environment()
            .iter()
            .map(|kv| {
                (
                    kv.name().unwrap_or_default().to_owned(),
                    kv.value().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        secrets: secrets_of(c),
        cpu: td.cpu().unwrap_or_default().to_owned(),
        memory: td.memory().unwrap_or_default().to_owned(),
        architecture: td
            .runtime_platform()
            .and_then(|p| p.cpu_architecture())
            .map(|a| a.as_str().to_owned())
            .unwrap_or_else(|| "X86_64".into()),
        execution_role: td.execution_role_arn().map(str::to_owned),
        task_role: td.task_role_arn().map(str::to_owned),
        port: ports(c),
        logging: Some(
            if log.map(|l| l.log_driver()) == Some(&LogDriver::Awslogs)
                && opt("awslogs-stream-prefix") == STREAM_PREFIX
            {
                logging(&opt("awslogs-group"), &opt("awslogs-region"))
            } else {
                "another log configuration".into()
            },
        ),
        network_mode: td
            .network_mode()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default(),
        proxy,
    })
}

fn join(m: &BTreeMap<String, String>) -> String {
    if m.is_empty() {
        return "(none)".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What differs; properties whose desired value depends on an unknown dependency are not compared.
fn spec_drift(want: &Spec, have: &Spec) -> Vec<Drift> {
    let mut d = Vec::new();
    let mut cmp = |attr: &str, w: &str, h: &str| {
        if w != h {
            d.push(Drift::new(attr, w, h));
        }
    };
    cmp("image", &want.image, &have.image);
    cmp(
        "environment",
        &join(&want.environment),
        &join(&have.environment),
    );
    if !want.secrets.is_empty() {
        cmp("secrets", &join(&want.secrets), &join(&have.secrets));
    }
    cmp("cpu", &want.cpu, &have.cpu);
    cmp("memory", &want.memory, &have.memory);
    cmp("architecture", &want.architecture, &have.architecture);
    let none = "(none)".to_owned();
    if let Some(w) = &want.execution_role {
        cmp(
            "execution_role",
            w,
            have.execution_role.as_ref().unwrap_or(&none),
        );
    }
    if let Some(w) = &want.task_role {
        cmp("task_role", w, have.task_role.as_ref().unwrap_or(&none));
    }
    cmp("port", &want.port, &have.port);
    if let (Some(w), Some(h)) = (&want.logging, &have.logging) {
        cmp("logging", w, h);
    }
    cmp("network_mode", &want.network_mode, &have.network_mode);
    let none = "(none)".to_owned();
    cmp(
        "credentials_proxy",
        want.proxy.as_ref().unwrap_or(&none),
        have.proxy.as_ref().unwrap_or(&none),
    );
    d
}

fn revision_of(arn: &str) -> Option<(&str, i32)> {
    let (rest, rev) = arn.rsplit_once(':')?;
    let family = rest.rsplit_once("task-definition/")?.1;
    Some((family, rev.parse().ok()?))
}

impl TaskDefinitionResource {
    /// The ARNs of the family's revisions with the given status, oldest first.
    async fn revisions(&self, cx: &Cx, status: TaskDefinitionStatus) -> Result<Vec<String>> {
        let family = family(cx.stack());
        let mut pages = cx
            .aws()
            .ecs
            .list_task_definitions()
            .family_prefix(&family)
            .status(status)
            .into_paginator()
            .send();
        let mut out: Vec<(i32, String)> = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.aws(cx, "ListTaskDefinitions")?;
            for arn in page.task_definition_arns() {
                // familyPrefix may match longer family names: keep our family only.
                if let Some((f, rev)) = revision_of(arn)
                    && f == family
                {
                    out.push((rev, arn.clone()));
                }
            }
        }
        out.sort();
        Ok(out.into_iter().map(|(_, a)| a).collect())
    }

    async fn register(&self, cx: &Cx) -> Result<Ids> {
        let s = cx.settings();
        let family = family(cx.stack());
        let secret_arn = cx.dep(secret::ARN)?;
        let log_group = cx.dep(log_group::CONTAINER_LOGS_NAME)?;
        let mut environment = environment(s);
        crate::resources::secret::carry_version(
            crate::resources::secret::known_version(cx),
            &mut environment,
            None,
        );
        let environment: Vec<KeyValuePair> = environment
            .into_iter()
            .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
            .collect();
        let secrets: Vec<Secret> = secrets(&secret_arn)
            .into_iter()
            .map(|(k, v)| Secret::builder().name(k).value_from(v).build())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::other(format!("{}: {e}", cx.node)))?;
        let log = LogConfiguration::builder()
            .log_driver(LogDriver::Awslogs)
            .options("awslogs-group", log_group)
            .options("awslogs-region", cx.shared.region.clone())
            .options("awslogs-stream-prefix", STREAM_PREFIX)
            .build()
            .map_err(|e| Error::other(format!("{}: {e}", cx.node)))?;
        let port = PortMapping::builder()
            .container_port(PORT)
            .protocol(TransportProtocol::Tcp)
            .build();
        let mut container = ContainerDefinition::builder()
            .name(CONTAINER)
            .image(&s.image)
            .essential(true)
            .set_environment(Some(environment))
            .set_secrets(Some(secrets))
            .log_configuration(log.clone());
        if !proxied(s) {
            container = container.port_mappings(port.clone());
        }
        let mut containers = vec![container.build()];
        if proxied(s) {
            let proxy_secrets: Vec<Secret> = proxy_secrets(&secret_arn)
                .into_iter()
                .map(|(k, v)| Secret::builder().name(k).value_from(v).build())
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| Error::other(format!("{}: {e}", cx.node)))?;
            containers.push(
                ContainerDefinition::builder()
                    .name(PROXY_CONTAINER)
                    .image(PROXY_IMAGE)
                    .essential(true)
                    .port_mappings(port)
                    .set_command(Some(proxy_command(s)))
                    .set_secrets(Some(proxy_secrets))
                    .log_configuration(log)
                    .build(),
            );
        }
        let out = cx
            .aws()
            .ecs
            .register_task_definition()
            .family(&family)
            .requires_compatibilities(Compatibility::Fargate)
            .network_mode(NetworkMode::Awsvpc)
            .cpu(s.cpu.to_string())
            .memory(s.memory.to_string())
            .runtime_platform(
                RuntimePlatform::builder()
                    .cpu_architecture(architecture(s.architecture))
                    .operating_system_family(OsFamily::Linux)
                    .build(),
            )
            .execution_role_arn(cx.dep(task_roles::EXECUTION_ROLE_ARN)?)
            .task_role_arn(cx.dep(task_roles::TASK_ROLE_ARN)?)
            .set_container_definitions(Some(containers))
            .set_tags(Some(ecs::tags(cx, &family)))
            .customize()
            .config_override(crate::aws::no_retry!(aws_sdk_ecs))
            .send()
            .await
            .aws(cx, "RegisterTaskDefinition")?;
        let td = out.task_definition().ok_or_else(|| {
            Error::other(format!(
                "{}: RegisterTaskDefinition returned no task definition",
                cx.node
            ))
        })?;
        Ok(ids([
            (
                "arn",
                td.task_definition_arn().unwrap_or_default().to_owned(),
            ),
            ("family", family),
            ("revision", td.revision().to_string()),
        ]))
    }
}

#[async_trait]
impl Resource for TaskDefinitionResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "ecs:task-definition"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &[
            secret::NODE,
            log_group::CONTAINER_LOGS_NODE,
            task_roles::EXECUTION_ROLE_NODE,
            task_roles::TASK_ROLE_NODE,
        ]
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        let describe = |task_definition: String| {
            cx.aws()
                .ecs
                .describe_task_definition()
                .task_definition(task_definition)
                .include(TaskDefinitionField::Tags)
                .send()
        };
        // The family alone names its latest ACTIVE revision (DescribeTaskDefinition's `taskDefinition`, ECS API
        // reference): one call when it exists. When it does not, ECS answers with a ClientException, and the
        // family's revisions are listed to tell "none" from a failure.
        // (An implementation that answers with the latest revision whatever its status — moto does — is asked the
        // long way too: only an ACTIVE revision counts.)
        let by_family = describe(family(cx.stack())).await.ok().filter(|out| {
            out.task_definition()
                .is_some_and(|td| td.status() == Some(&TaskDefinitionStatus::Active))
        });
        let out = match by_family {
            Some(out) => out,
            None => {
                let Some(arn) = self
                    .revisions(cx, TaskDefinitionStatus::Active)
                    .await?
                    .pop()
                else {
                    return Ok(Observation::Missing);
                };
                describe(arn).await.aws(cx, "DescribeTaskDefinition")?
            }
        };
        // RegisterTaskDefinition takes no idempotency token: a registration whose answer was lost leaves a newer
        // revision than the recorded one, the same definition again. While the recorded revision is ACTIVE and the
        // latest is a copy of it, the recorded one is kept and every newer one is a duplicate. A newer revision with
        // another definition is a change (out of band, or a lost update): judged as drift of the latest, as always.
        // Older revisions stay either way (the circuit breaker may roll the service back onto one).
        let mut out = out;
        let mut duplicates = Vec::new();
        let recorded_arn = recorded.and_then(|r| r.get("arn")).cloned();
        if let Some(rec_arn) = recorded_arn
            && let Some((_, rec_rev)) = revision_of(&rec_arn)
            && out
                .task_definition()
                .is_some_and(|td| td.revision() > rec_rev)
        {
            let rec = describe(rec_arn.clone())
                .await
                .aws(cx, "DescribeTaskDefinition")?;
            let same = |o: &aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput| {
                o.task_definition().and_then(live_spec)
            };
            let rec_active = rec
                .task_definition()
                .is_some_and(|td| td.status() == Some(&TaskDefinitionStatus::Active));
            if rec_active && same(&rec).is_some() && same(&rec) == same(&out) {
                duplicates = self
                    .revisions(cx, TaskDefinitionStatus::Active)
                    .await?
                    .into_iter()
                    .filter(|a| revision_of(a).is_some_and(|(_, r)| r > rec_rev))
                    .map(|a| Duplicate {
                        id: a.clone(),
                        ids: ids([("arn", a)]),
                    })
                    .collect();
                out = rec;
            }
        }
        let Some(td) = out.task_definition() else {
            return Ok(Observation::Missing);
        };
        let family = family(cx.stack());
        let arn = td.task_definition_arn().unwrap_or_default().to_owned();
        if !ecs::is_ours(cx, out.tags()) {
            return Ok(Observation::Foreign(format!(
                "task definition family {family} is not tagged as this stack's"
            )));
        }
        let drift = match live_spec(td) {
            Some(have) => {
                let mut want = desired(cx);
                let version = crate::resources::secret::live_version(cx).await;
                crate::resources::secret::carry_version(
                    version,
                    &mut want.environment,
                    Some(&have.environment),
                );
                spec_drift(&want, &have)
            }
            None => vec![Drift::new("container", CONTAINER, "missing")],
        };
        let mut live = Live::new(ids([
            ("arn", arn),
            ("family", family),
            ("revision", td.revision().to_string()),
        ]))
        .with_drift(drift)
        .with_duplicates(duplicates);
        live.details.push((
            "image".into(),
            td.container_definitions()
                .iter()
                .find(|c| c.name() == Some(CONTAINER))
                .and_then(|c| c.image())
                .unwrap_or_default()
                .to_owned(),
        ));
        Ok(Observation::Present(live))
    }

    fn settle(&self, cx: &Cx) -> Option<std::time::Duration> {
        Some(crate::resources::settle_bound(cx))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        self.register(cx).await
    }

    async fn delete_duplicate(&self, cx: &Cx, duplicate: &Duplicate) -> Result<()> {
        let ecs = &cx.aws().ecs;
        let arn = duplicate.ids.get("arn").cloned().unwrap_or_default();
        match ecs
            .deregister_task_definition()
            .task_definition(&arn)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if error::code_of(&e) == Some("ClientException") => {}
            Err(e) => return Err(error::aws(cx.node, "DeregisterTaskDefinition", e)),
        }
        // Best effort, as in `delete`: deregistering is what matters.
        if let Err(e) = ecs
            .delete_task_definitions()
            .task_definitions(&arn)
            .send()
            .await
        {
            tracing::warn!(
                "{}: {}",
                cx.node,
                error::aws(cx.node, "DeleteTaskDefinitions", e)
            );
        }
        Ok(())
    }

    async fn update(&self, cx: &Cx, _live: &Live) -> Result<Ids> {
        // Immutable: a new revision replaces the old one as the family's latest.
        self.register(cx).await
    }

    async fn delete(&self, cx: &Cx, _live: &Live) -> Result<()> {
        let ecs = &cx.aws().ecs;
        for arn in self.revisions(cx, TaskDefinitionStatus::Active).await? {
            ecs.deregister_task_definition()
                .task_definition(&arn)
                .send()
                .await
                .aws(cx, "DeregisterTaskDefinition")?;
        }
        // Deregistered revisions stay listed as INACTIVE; delete them too (best effort: deregistering is what
        // matters, and not every endpoint implements DeleteTaskDefinitions).
        let inactive = self.revisions(cx, TaskDefinitionStatus::Inactive).await?;
        for chunk in inactive.chunks(10) {
            if let Err(e) = ecs
                .delete_task_definitions()
                .set_task_definitions(Some(chunk.to_vec()))
                .send()
                .await
            {
                tracing::warn!(
                    "{}: {}",
                    cx.node,
                    error::aws(cx.node, "DeleteTaskDefinitions", e)
                );
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Layers, PasswordSource, Purpose, resolve};

    fn settings(flags: &[(&str, &str)]) -> Settings {
        let mut all = vec![("region", "us-east-1")];
        all.extend_from_slice(flags);
        let layers = Layers {
            flags: all
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        };
        resolve(&layers, Purpose::Inspect, PasswordSource::Env(None)).unwrap()
    }

    #[test]
    fn environment_matches_the_sample_plus_telemetry_off_and_no_credentials() {
        let base = [
            ("NEO4J_TRANSPORT_MODE", "http"),
            ("NEO4J_MCP_HTTP_PORT", "8081"),
            ("NEO4J_MCP_HTTP_HOST", "127.0.0.1"),
            ("NEO4J_READ_ONLY", "true"),
            ("NEO4J_TELEMETRY", "false"),
            ("NEO4J_HTTP_AUTH_HEADER_NAME", "X-Neo4j-Authorization"),
        ];
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        // With the origin lock (the default) the server listens behind the proxy, on the task's loopback only.
        assert_eq!(environment(&settings(&[])), map(&base));
        // Without it, on every interface; and in no mode with an unauthenticated ping or tools/list.
        let mut alone = base.to_vec();
        alone[1] = ("NEO4J_MCP_HTTP_PORT", "8080");
        alone[2] = ("NEO4J_MCP_HTTP_HOST", "0.0.0.0");
        assert_eq!(
            environment(&settings(&[("origin_lock", "false")])),
            map(&alone)
        );
        let env = environment(&settings(&[
            ("read_only", "false"),
            ("auth_header", "X-Db-Auth"),
        ]));
        assert_eq!(env["NEO4J_READ_ONLY"], "false");
        assert_eq!(env["NEO4J_HTTP_AUTH_HEADER_NAME"], "X-Db-Auth");
        assert!(!env.contains_key("NEO4J_USERNAME") && !env.contains_key("NEO4J_PASSWORD"));
    }

    #[test]
    fn secrets_reference_json_keys() {
        let s = secrets("arn:aws:secretsmanager:us-east-1:1:secret:x-AbCdEf");
        assert_eq!(
            s["NEO4J_URI"],
            "arn:aws:secretsmanager:us-east-1:1:secret:x-AbCdEf:NEO4J_URI::"
        );
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn revisions_parse_and_drift_compares() {
        assert_eq!(
            revision_of("arn:aws:ecs:us-east-1:1:task-definition/s-mcp:12"),
            Some(("s-mcp", 12))
        );
        let a = Spec {
            image: "mcp/neo4j:1".into(),
            environment: BTreeMap::new(),
            secrets: BTreeMap::new(),
            cpu: "256".into(),
            memory: "1024".into(),
            architecture: "ARM64".into(),
            execution_role: None,
            task_role: None,
            port: "8080/tcp".into(),
            logging: Some(logging("g", "r")),
            network_mode: "awsvpc".into(),
            proxy: None,
        };
        assert_eq!(spec_drift(&a, &a), Vec::new());
        let b = Spec {
            image: "mcp/neo4j:2".into(),
            memory: "2048".into(),
            ..a.clone()
        };
        let attrs: Vec<String> = spec_drift(&a, &b)
            .into_iter()
            .map(|d| d.attribute)
            .collect();
        assert_eq!(attrs, vec!["image", "memory"]);
        // A proxy that went missing is drift.
        let c = Spec {
            proxy: Some("caddy".into()),
            ..a.clone()
        };
        let attrs: Vec<String> = spec_drift(&c, &a)
            .into_iter()
            .map(|d| d.attribute)
            .collect();
        assert_eq!(attrs, vec!["credentials_proxy"]);
    }

    #[test]
    fn the_proxy_command_carries_no_secret_and_names_the_credentials_variable() {
        let s = settings(&[]);
        let command = proxy_command(&s).join(" ");
        assert_eq!(
            command,
            "caddy reverse-proxy --from :8080 --to 127.0.0.1:8081 --header-up \
             X-Neo4j-Authorization: {env.NEO4J_AUTHORIZATION}"
        );
        assert_eq!(front_container(&s), PROXY_CONTAINER);
        assert_eq!(
            front_container(&settings(&[("origin_lock", "false")])),
            CONTAINER
        );
        assert_eq!(
            proxy_secrets("arn:s")[PROXY_CREDENTIALS_VAR],
            "arn:s:NEO4J_AUTHORIZATION::"
        );
    }
}
