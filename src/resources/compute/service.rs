//! The ECS service `<stack>-mcp` in the stack's cluster: Fargate, the configured desired count, both public
//! subnets with the task security group and a public IP (no NAT: the task pulls its image and reaches Neo4j over
//! the internet gateway), attached to the target group on container `neo4j-mcp` port 8080, deployment circuit
//! breaker with rollback, a health-check grace period, tags propagated from the service, no ECS Exec.
//!
//! Changes are applied in place with `UpdateService` (a new task definition revision, the desired count, the
//! network configuration, the load balancer, the deployment settings): the ALB, the target group and the DNS
//! record are untouched. `wait_ready` waits until the service is steady — running = desired, nothing pending, a
//! single PRIMARY deployment whose rollout is COMPLETED — and, when tasks are wanted, the target group reports a
//! healthy target. When it gives up it prints the last state, why recent tasks stopped, the targets' health
//! reasons and the service's latest events; a rollback by the circuit breaker fails at once with its reason.
//!
//! `down` scales the service to 0, deletes it (force) and waits until its tasks have stopped (so their network
//! interfaces are released before the security group and subnets go) and the service is INACTIVE.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, DeploymentCircuitBreaker, DeploymentConfiguration,
    DesiredStatus, LaunchType, LoadBalancer, NetworkConfiguration, PropagateTags, Service,
    ServiceField,
};
use sha2::{Digest, Sha256};

use super::ecs;
use crate::error::{self, Error, Result};
use crate::resources::task_definition::{self, CONTAINER, PORT, front_container};
use crate::resources::{AwsResult, Cx, Drift, Health, Live, Observation, Resource, ids};
use crate::resources::{
    Output, cluster, listener, route_table, security_group, subnet, target_group,
};
use crate::state::Ids;
use crate::wait::{self, Poll};

pub const NODE: &str = "service";
pub const CLUSTER_NAME: Output = Output::new(NODE, "cluster_name");
pub const SERVICE_NAME: Output = Output::new(NODE, "service_name");

pub struct ServiceResource;

/// What a new task definition revision does to the service, for `plan`.
pub const ROLLOUT: &str = "rollout: a new deployment onto the new task definition revision; up waits until the new \
     tasks serve and the old ones are gone";

/// Seconds ECS ignores failing ALB health checks of a new task (the server starts in well under a second,
/// but an image pull on a cold host can take a while).
pub const HEALTH_CHECK_GRACE_SECONDS: i32 = 60;

/// The role ECS needs in an account before it can create a service with a load balancer. An account that never
/// used ECS does not have it, and CreateService then fails with InvalidParameterException "Unable to assume the
/// service linked role" (ECS developer guide, "Using service-linked roles for Amazon ECS";
/// docs/aws-behaviour.md, point 4). It belongs to the account, not to the stack: created when missing, never
/// deleted.
pub const ECS_SERVICE_LINKED_ROLE: &str = "AWSServiceRoleForECS";

async fn ensure_service_linked_role(cx: &Cx) -> Result<()> {
    let iam = &cx.aws().iam;
    match iam
        .get_role()
        .role_name(ECS_SERVICE_LINKED_ROLE)
        .send()
        .await
    {
        Ok(_) => return Ok(()),
        Err(e) if error::code_of(&e) == Some("NoSuchEntity") => {}
        Err(e) => return Err(error::aws(cx.node, "GetRole (AWSServiceRoleForECS)", e)),
    }
    cx.say("creating the account's ECS service-linked role");
    match iam
        .create_service_linked_role()
        .aws_service_name("ecs.amazonaws.com")
        .send()
        .await
    {
        Ok(_) => Ok(()),
        // Created meanwhile (another run, or the console): what was wanted.
        Err(e)
            if error::code_of(&e) == Some("EntityAlreadyExists")
                || (error::code_of(&e) == Some("InvalidInput")
                    && aws_sdk_iam::error::ProvideErrorMetadata::message(&e)
                        .is_some_and(|m| m.contains("has been taken"))) =>
        {
            Ok(())
        }
        Err(e) => Err(error::aws(
            cx.node,
            "CreateServiceLinkedRole (ecs.amazonaws.com)",
            e,
        )),
    }
}

/// CreateService's answer while the service-linked role is not usable yet.
fn slr_not_ready(e: &Error) -> bool {
    matches!(e, Error::Aws(f) if f.code.as_deref() == Some("InvalidParameterException")
        && f.message.contains("service linked role"))
}

pub fn service_name(stack: &str) -> String {
    format!("{stack}-mcp")
}

fn cluster_of(cx: &Cx) -> String {
    // The cluster is named after the stack; its recorded name wins.
    cx.dep_opt(cluster::CLUSTER_NAME)
        .unwrap_or_else(|| cx.stack().to_owned())
}

/// A client token for CreateService (≤ 36 characters), from this resource lifetime's create token
/// ([`Cx::create_token`]): the same for every repeat of one create, new for a service created again after the last
/// one was deleted (out of band, or by `down`) — ECS answers a token it remembers with the service it created
/// first, even a deleted one.
fn client_token(cx: &Cx, task_definition: &str) -> String {
    let digest = Sha256::digest(format!(
        "neo4j-gw:{}:{}:{task_definition}:{}",
        cx.stack(),
        cx.node,
        cx.create_token()
    ));
    hex::encode(digest)[..32].to_owned()
}

fn network(cx: &Cx) -> Result<NetworkConfiguration> {
    let vpc = AwsVpcConfiguration::builder()
        .subnets(cx.dep(subnet::A_ID)?)
        .subnets(cx.dep(subnet::B_ID)?)
        .security_groups(cx.dep(security_group::TASK_GROUP_ID)?)
        .assign_public_ip(AssignPublicIp::Enabled)
        .build()
        .map_err(|e| Error::other(format!("{}: {e}", cx.node)))?;
    Ok(NetworkConfiguration::builder()
        .awsvpc_configuration(vpc)
        .build())
}

fn load_balancer(cx: &Cx) -> Result<LoadBalancer> {
    Ok(LoadBalancer::builder()
        .target_group_arn(cx.dep(target_group::ARN)?)
        .container_name(front_container(cx.settings()))
        .container_port(PORT)
        .build())
}

fn deployment_configuration() -> DeploymentConfiguration {
    DeploymentConfiguration::builder()
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(true)
                .rollback(true)
                .build(),
        )
        .maximum_percent(200)
        .minimum_healthy_percent(100)
        .build()
}

fn sorted(items: &[String]) -> String {
    let set: BTreeSet<&str> = items.iter().map(String::as_str).collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

/// Differences between the live service and what the settings and dependencies call for. Properties whose
/// desired value depends on an unknown dependency are not compared.
fn service_drift(cx: &Cx, svc: &Service) -> Vec<Drift> {
    let mut drift = Vec::new();
    if let Some(td) = cx.dep_opt(task_definition::ARN)
        && svc.task_definition() != Some(td.as_str())
    {
        drift.push(Drift::new(
            "task_definition",
            &td,
            svc.task_definition().unwrap_or("(none)"),
        ));
    }
    let want = cx.settings().desired_count as i32;
    if svc.desired_count() != want {
        drift.push(Drift::new("desired_count", want, svc.desired_count()));
    }
    if let (Some(a), Some(b), Some(sg)) = (
        cx.dep_opt(subnet::A_ID),
        cx.dep_opt(subnet::B_ID),
        cx.dep_opt(security_group::TASK_GROUP_ID),
    ) {
        let vpc = svc
            .network_configuration()
            .and_then(|n| n.awsvpc_configuration());
        let want = format!(
            "subnets {} security groups {} public ip ENABLED",
            sorted(&[a, b]),
            sg
        );
        let have = match vpc {
            Some(v) => format!(
                "subnets {} security groups {} public ip {}",
                sorted(v.subnets()),
                sorted(v.security_groups()),
                v.assign_public_ip()
                    .map(|p| p.as_str())
                    .unwrap_or("DISABLED")
            ),
            None => "(none)".into(),
        };
        if want != have {
            drift.push(Drift::new("network", want, have));
        }
    }
    if let Some(tg) = cx.dep_opt(target_group::ARN) {
        let want = format!("{tg} {}:{PORT}", front_container(cx.settings()));
        let have: Vec<String> = svc
            .load_balancers()
            .iter()
            .map(|l| {
                format!(
                    "{} {}:{}",
                    l.target_group_arn().unwrap_or_default(),
                    l.container_name().unwrap_or_default(),
                    l.container_port().unwrap_or_default()
                )
            })
            .collect();
        if have != [want.clone()] {
            let have = if have.is_empty() {
                "(none)".into()
            } else {
                have.join(", ")
            };
            drift.push(Drift::new("load_balancer", want, have));
        }
    }
    let breaker = svc
        .deployment_configuration()
        .and_then(|d| d.deployment_circuit_breaker())
        .map(|b| (b.enable(), b.rollback()));
    if breaker != Some((true, true)) {
        drift.push(Drift::new(
            "circuit_breaker",
            "enabled with rollback",
            match breaker {
                Some((true, false)) => "enabled without rollback",
                _ => "disabled",
            },
        ));
    }
    if svc.health_check_grace_period_seconds() != Some(HEALTH_CHECK_GRACE_SECONDS) {
        drift.push(Drift::new(
            "health_check_grace_period_seconds",
            HEALTH_CHECK_GRACE_SECONDS,
            svc.health_check_grace_period_seconds()
                .map(|s| s.to_string())
                .unwrap_or_else(|| "(none)".into()),
        ));
    }
    if let Some(lt) = svc.launch_type()
        && lt != &LaunchType::Fargate
    {
        drift.push(Drift::new("launch_type", "FARGATE", lt.as_str()).replace());
    }
    drift
}

/// The state of the service's rollout, as far as steadiness is concerned.
struct Rollout {
    running: i32,
    desired: i32,
    pending: i32,
    deployments: usize,
    /// The PRIMARY deployment's rollout state (moto may leave it out).
    state: Option<String>,
    primary_task_definition: Option<String>,
    /// A deployment the circuit breaker marked FAILED, with its reason.
    failed: Option<String>,
    failed_tasks: i32,
    last_event: Option<String>,
}

impl Rollout {
    fn of(svc: &Service) -> Rollout {
        let primary = svc
            .deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"));
        let failed = svc
            .deployments()
            .iter()
            .find(|d| d.rollout_state().map(|s| s.as_str()) == Some("FAILED"))
            .map(|d| {
                d.rollout_state_reason()
                    .unwrap_or("the deployment failed")
                    .to_owned()
            });
        Rollout {
            running: svc.running_count(),
            desired: svc.desired_count(),
            pending: svc.pending_count(),
            deployments: svc.deployments().len(),
            state: primary
                .and_then(|d| d.rollout_state())
                .map(|s| s.as_str().to_owned()),
            primary_task_definition: primary.and_then(|d| d.task_definition()).map(str::to_owned),
            failed,
            failed_tasks: primary.map(|d| d.failed_tasks()).unwrap_or(0),
            last_event: svc
                .events()
                .first()
                .and_then(|e| e.message())
                .map(str::to_owned),
        }
    }

    fn steady(&self) -> bool {
        self.running == self.desired
            && self.pending == 0
            && self.deployments <= 1
            && self.state.as_deref().is_none_or(|s| s == "COMPLETED")
    }

    fn describe(&self) -> String {
        let mut s = format!(
            "running {}/{}, pending {}",
            self.running, self.desired, self.pending
        );
        if let Some(state) = &self.state {
            s.push_str(&format!(", rollout {state}"));
        }
        if self.deployments > 1 {
            s.push_str(&format!(", {} deployments", self.deployments));
        }
        if self.failed_tasks > 0 {
            s.push_str(&format!(", {} failed tasks", self.failed_tasks));
        }
        s
    }
}

/// The health of the targets in a target group.
struct Targets {
    healthy: usize,
    /// One line per target that is not healthy: `ip:port state (reason: description)`.
    others: Vec<String>,
}

impl Targets {
    fn describe(&self) -> String {
        match (self.healthy, self.others.len()) {
            (0, 0) => "targets: none registered".into(),
            (h, 0) => format!("targets: {h} healthy"),
            (h, _) => format!("targets: {h} healthy; {}", self.others.join("; ")),
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

/// Decides one poll of a rollout: failed (circuit breaker, rollback), ready (steady, and a healthy target when
/// tasks are wanted and the target group is known), or pending with the observed state.
fn judge(r: &Rollout, want_task_definition: Option<&str>, targets: Option<&Targets>) -> Poll<()> {
    if let Some(reason) = &r.failed {
        return Poll::Failed(format!(
            "the deployment circuit breaker stopped the rollout: {reason}"
        ));
    }
    if let (Some(want), Some(primary)) =
        (want_task_definition, r.primary_task_definition.as_deref())
        && primary != want
        && r.deployments == 1
    {
        return Poll::Failed(format!(
            "the service runs {primary} instead of {want}: the deployment was rolled back{}",
            r.last_event
                .as_deref()
                .map(|e| format!(" (latest event: {})", truncate(e, 200)))
                .unwrap_or_default()
        ));
    }
    let mut state = r.describe();
    let mut ready = r.steady();
    if r.desired > 0
        && let Some(t) = targets
    {
        state.push_str(&format!("; {}", t.describe()));
        ready &= t.healthy > 0;
    }
    if ready {
        Poll::Ready(())
    } else {
        Poll::Pending(state)
    }
}

impl ServiceResource {
    async fn send_create(
        &self,
        cx: &Cx,
        cluster: &str,
        name: &str,
        task_definition: &str,
    ) -> Result<aws_sdk_ecs::operation::create_service::CreateServiceOutput> {
        cx.aws()
            .ecs
            .create_service()
            .cluster(cluster)
            .service_name(name)
            .task_definition(task_definition)
            .desired_count(cx.settings().desired_count as i32)
            .launch_type(LaunchType::Fargate)
            .network_configuration(network(cx)?)
            .load_balancers(load_balancer(cx)?)
            .deployment_configuration(deployment_configuration())
            .health_check_grace_period_seconds(HEALTH_CHECK_GRACE_SECONDS)
            .propagate_tags(PropagateTags::Service)
            .enable_ecs_managed_tags(true)
            .enable_execute_command(false)
            .set_tags(Some(ecs::tags(cx, name)))
            .client_token(client_token(cx, task_definition))
            .send()
            .await
            .aws(cx, "CreateService")
    }

    /// The service of that name in the cluster, whatever its status; None if there is none (or no cluster).
    async fn describe(&self, cx: &Cx, cluster: &str, name: &str) -> Result<Option<Service>> {
        let out = match cx
            .aws()
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(name)
            .include(ServiceField::Tags)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if ecs::is_not_found(error::code_of(&e)) => return Ok(None),
            Err(e) => return Err(error::aws(cx.node, "DescribeServices", e)),
        };
        Ok(out
            .services()
            .iter()
            .find(|s| s.service_name() == Some(name))
            .cloned())
    }

    async fn targets(&self, cx: &Cx, target_group: &str) -> Result<Targets> {
        match crate::resources::edge::elb::target_health(cx, target_group).await {
            Ok(all) => Ok(Self::count_targets(&all)),
            Err(e) if e.aws_code() == Some("TargetGroupNotFound") => Ok(Targets {
                healthy: 0,
                others: vec!["the target group does not exist".into()],
            }),
            Err(e) => Err(e),
        }
    }

    fn count_targets(
        all: &[aws_sdk_elasticloadbalancingv2::types::TargetHealthDescription],
    ) -> Targets {
        let mut t = Targets {
            healthy: 0,
            others: Vec::new(),
        };
        for d in all {
            let health = d.target_health();
            let state = health
                .and_then(|h| h.state())
                .map(|s| s.as_str())
                .unwrap_or("unknown");
            if state == "healthy" {
                t.healthy += 1;
                continue;
            }
            let target = d
                .target()
                .map(|t| {
                    format!(
                        "{}:{}",
                        t.id().unwrap_or_default(),
                        t.port().unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            let reason = health.and_then(|h| h.reason()).map(|r| r.as_str());
            let description = health.and_then(|h| h.description());
            t.others.push(match (reason, description) {
                (Some(r), Some(d)) => format!("{target} {state} ({r}: {d})"),
                (Some(r), None) => format!("{target} {state} ({r})"),
                (None, Some(d)) => format!("{target} {state} ({d})"),
                (None, None) => format!("{target} {state}"),
            });
        }
        t
    }

    /// Why the service's recently stopped tasks stopped (newest first, at most `max`).
    async fn stopped_reasons(
        &self,
        cx: &Cx,
        cluster: &str,
        name: &str,
        max: usize,
    ) -> Result<Vec<String>> {
        let ecs = &cx.aws().ecs;
        let list = match ecs
            .list_tasks()
            .cluster(cluster)
            .service_name(name)
            .desired_status(DesiredStatus::Stopped)
            .send()
            .await
        {
            Ok(l) => l,
            Err(e) if ecs::is_not_found(error::code_of(&e)) => return Ok(Vec::new()),
            Err(e) => return Err(error::aws(cx.node, "ListTasks", e)),
        };
        let arns: Vec<String> = list.task_arns().iter().take(100).cloned().collect();
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        let out = ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(arns))
            .send()
            .await
            .aws(cx, "DescribeTasks")?;
        let mut tasks: Vec<_> = out.tasks().to_vec();
        tasks.sort_by(|a, b| {
            let key = |t: &aws_sdk_ecs::types::Task| {
                t.stopped_at()
                    .or(t.stopping_at())
                    .map(|d| (d.secs(), d.subsec_nanos()))
            };
            key(b).cmp(&key(a))
        });
        Ok(tasks
            .iter()
            .take(max)
            .map(|t| {
                let id = t
                    .task_arn()
                    .and_then(|a| a.rsplit('/').next())
                    .unwrap_or("?");
                let mut line = format!(
                    "task {id}: {}",
                    t.stopped_reason().unwrap_or("(no reason given)")
                );
                for c in t.containers() {
                    if let Some(r) = c.reason() {
                        line.push_str(&format!(
                            "; container {}: {r}",
                            c.name().unwrap_or(CONTAINER)
                        ));
                    } else if let Some(code) = c.exit_code()
                        && code != 0
                    {
                        line.push_str(&format!(
                            "; container {} exited with {code}",
                            c.name().unwrap_or(CONTAINER)
                        ));
                    }
                }
                line
            })
            .collect())
    }

    /// Everything useful for an operator when the service did not become ready.
    async fn diagnostics(&self, cx: &Cx, cluster: &str, name: &str) -> String {
        let mut lines = Vec::new();
        match self.describe(cx, cluster, name).await {
            Ok(Some(svc)) => {
                lines.push(format!("  service: {}", Rollout::of(&svc).describe()));
                for e in svc.events().iter().take(3) {
                    if let Some(m) = e.message() {
                        lines.push(format!("  service event: {}", truncate(m, 300)));
                    }
                }
            }
            Ok(None) => lines.push("  service: not found".into()),
            Err(e) => lines.push(format!("  service: {e}")),
        }
        match self.stopped_reasons(cx, cluster, name, 3).await {
            Ok(r) if r.is_empty() => lines.push("  stopped tasks: none".into()),
            Ok(r) => lines.extend(r.into_iter().map(|l| format!("  stopped {l}"))),
            Err(e) => lines.push(format!("  stopped tasks: {e}")),
        }
        if let Some(tg) = cx.dep_opt(target_group::ARN) {
            match self.targets(cx, &tg).await {
                Ok(t) => lines.push(format!("  {}", t.describe())),
                Err(e) => lines.push(format!("  targets: {e}")),
            }
        }
        lines.join("\n")
    }

    /// One poll of the rollout: ready, pending (with the state), or failed (with the reason).
    async fn poll(&self, cx: &Cx, cluster: &str, name: &str) -> Result<Poll<()>> {
        let Some(svc) = self.describe(cx, cluster, name).await? else {
            return Ok(Poll::Failed("the service does not exist".into()));
        };
        if svc.status() != Some("ACTIVE") {
            return Ok(Poll::Failed(format!(
                "the service is {}",
                svc.status().unwrap_or("unknown")
            )));
        }
        let r = Rollout::of(&svc);
        let targets = match cx.dep_opt(target_group::ARN) {
            Some(tg) if r.desired > 0 => Some(self.targets(cx, &tg).await?),
            _ => None,
        };
        let want = cx.dep_opt(task_definition::ARN);
        let mut state = match judge(&r, want.as_deref(), targets.as_ref()) {
            Poll::Pending(state) => state,
            other => return Ok(other),
        };
        if r.failed_tasks > 0
            && let Some(reason) = self.stopped_reasons(cx, cluster, name, 1).await?.pop()
        {
            state.push_str(&format!("; last stopped {}", truncate(&reason, 200)));
        }
        Ok(Poll::Pending(state))
    }
}

#[async_trait]
impl Resource for ServiceResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "ecs:service"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        // ECS creates a service with a load balancer only when the target group is associated with one (a listener
        // or a listener rule forwards to it; else InvalidParameterException "… does not have an associated load
        // balancer"). With the origin lock the listener's default action answers 403 and the origin rule is what
        // forwards: the service comes after both.
        &[
            cluster::NODE,
            task_definition::NODE,
            listener::NODE,
            crate::resources::origin_rule::NODE,
            target_group::NODE,
            security_group::TASK_NODE,
            subnet::NODE_A,
            subnet::NODE_B,
            route_table::NODE,
        ]
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        let cluster = recorded
            .and_then(|r| r.get("cluster_name").cloned())
            .unwrap_or_else(|| cluster_of(cx));
        let name = service_name(cx.stack());
        let Some(svc) = self.describe(cx, &cluster, &name).await? else {
            return Ok(Observation::Missing);
        };
        // INACTIVE: deleted (ECS keeps it describable for a while); DRAINING: being deleted.
        if svc.status() != Some("ACTIVE") {
            return Ok(Observation::Missing);
        }
        if !ecs::is_ours(cx, svc.tags()) {
            return Ok(Observation::Foreign(format!(
                "ECS service {name} in cluster {cluster} is not tagged as this stack's"
            )));
        }
        let drift = service_drift(cx, &svc);
        let r = Rollout::of(&svc);
        let mut live = Live::new(ids([
            ("service_name", name),
            ("arn", svc.service_arn().unwrap_or_default().to_owned()),
            ("cluster_name", cluster),
        ]))
        .with_drift(drift);
        live.details.extend([
            ("running".to_owned(), r.running.to_string()),
            ("desired".to_owned(), r.desired.to_string()),
            ("pending".to_owned(), r.pending.to_string()),
        ]);
        if let Some(s) = &r.state {
            live.details.push(("rollout".into(), s.clone()));
        }
        let mut targets = None;
        if let Some(tg) = cx.dep_opt(target_group::ARN) {
            let t = self.targets(cx, &tg).await?;
            live.details
                .push(("healthy_targets".into(), t.healthy.to_string()));
            targets = Some(t);
        }
        live.health = if let Some(reason) = &r.failed {
            Health::Unhealthy(format!("deployment failed: {reason}"))
        } else if !r.steady() {
            Health::Pending(r.describe())
        } else {
            match targets {
                Some(t) if r.desired > 0 && t.healthy == 0 => {
                    Health::Unhealthy(format!("no healthy target ({})", t.describe()))
                }
                _ => Health::Ready,
            }
        };
        Ok(Observation::Present(live))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let cluster = cluster_of(cx);
        let name = service_name(cx.stack());
        // A service being deleted (DRAINING) blocks a create of its name until it is INACTIVE.
        if self
            .describe(cx, &cluster, &name)
            .await?
            .is_some_and(|s| s.status() == Some("DRAINING"))
        {
            wait::until(
                cx,
                "the previous service of this name to finish draining",
                cx.settings().wait_timeout,
                || {
                    let (cluster, name) = (cluster.clone(), name.clone());
                    async move {
                        Ok(match self.describe(cx, &cluster, &name).await? {
                            Some(s) if s.status() == Some("DRAINING") => {
                                Poll::Pending("DRAINING".into())
                            }
                            _ => Poll::Ready(()),
                        })
                    }
                },
            )
            .await?;
        }
        let task_definition = cx.dep(task_definition::ARN)?;
        ensure_service_linked_role(cx).await?;
        // Right after the service-linked role is created, ECS may not be able to assume it yet: retried, bounded.
        let out = wait::until_propagated(
            cx,
            "ECS to be able to use its service-linked role",
            || async {
                match self
                    .send_create(cx, &cluster, &name, &task_definition)
                    .await
                {
                    Ok(out) => Ok(Poll::Ready(out)),
                    Err(e) if slr_not_ready(&e) => Ok(Poll::Pending(
                        "ECS cannot assume AWSServiceRoleForECS yet".into(),
                    )),
                    Err(e) => Err(e),
                }
            },
        )
        .await?;
        let arn = out
            .service()
            .and_then(|s| s.service_arn())
            .unwrap_or_default()
            .to_owned();
        Ok(ids([
            ("service_name", name),
            ("arn", arn),
            ("cluster_name", cluster),
        ]))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        let changed = |a: &str| live.drift.iter().any(|d| d.attribute == a);
        let mut req = cx
            .aws()
            .ecs
            .update_service()
            .cluster(live.id("cluster_name")?)
            .service(live.id("service_name")?);
        // Only what drifted: resending an unchanged network or load balancer configuration starts a deployment.
        if changed("task_definition") {
            req = req.task_definition(cx.dep(task_definition::ARN)?);
        }
        if changed("desired_count") {
            req = req.desired_count(cx.settings().desired_count as i32);
        }
        if changed("network") {
            req = req.network_configuration(network(cx)?);
        }
        if changed("load_balancer") {
            req = req.load_balancers(load_balancer(cx)?);
        }
        if changed("circuit_breaker") {
            req = req.deployment_configuration(deployment_configuration());
        }
        if changed("health_check_grace_period_seconds") {
            req = req.health_check_grace_period_seconds(HEALTH_CHECK_GRACE_SECONDS);
        }
        req.send().await.aws(cx, "UpdateService")?;
        Ok(live.ids.clone())
    }

    async fn wait_ready(&self, cx: &Cx, ids: &Ids) -> Result<()> {
        let cluster = ids
            .get("cluster_name")
            .cloned()
            .unwrap_or_else(|| cluster_of(cx));
        let name = ids
            .get("service_name")
            .cloned()
            .unwrap_or_else(|| service_name(cx.stack()));
        let what = if cx.settings().desired_count > 0 {
            "the service to be steady with a healthy target"
        } else {
            "the service to be steady"
        };
        let result = wait::until(cx, what, cx.settings().wait_timeout, || {
            let (cluster, name) = (cluster.clone(), name.clone());
            async move { self.poll(cx, &cluster, &name).await }
        })
        .await;
        match result {
            Err(Error::Wait(message)) => Err(Error::Wait(format!(
                "{message}\n{}",
                self.diagnostics(cx, &cluster, &name).await
            ))),
            other => other,
        }
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        let ecs = &cx.aws().ecs;
        let cluster = live.id("cluster_name")?.to_owned();
        let name = live.id("service_name")?.to_owned();
        cx.say("scaling to 0");
        match ecs
            .update_service()
            .cluster(&cluster)
            .service(&name)
            .desired_count(0)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if ecs::is_not_found(error::code_of(&e)) => {}
            Err(e) => return Err(error::aws(cx.node, "UpdateService", e)),
        }
        match ecs
            .delete_service()
            .cluster(&cluster)
            .service(&name)
            .force(true)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if ecs::is_not_found(error::code_of(&e)) => {}
            Err(e) => return Err(error::aws(cx.node, "DeleteService", e)),
        }
        wait::until(
            cx,
            "the service's tasks to stop and the service to be INACTIVE",
            cx.settings().wait_timeout,
            || {
                let (cluster, name) = (cluster.clone(), name.clone());
                async move {
                    let running = match ecs
                        .list_tasks()
                        .cluster(&cluster)
                        .service_name(&name)
                        .send()
                        .await
                    {
                        Ok(l) => l.task_arns().to_vec(),
                        Err(e) if ecs::is_not_found(error::code_of(&e)) => Vec::new(),
                        Err(e) => return Err(error::aws(cx.node, "ListTasks", e)),
                    };
                    // Tasks told to stop still hold their network interface until they are STOPPED.
                    let stopping = match ecs
                        .list_tasks()
                        .cluster(&cluster)
                        .service_name(&name)
                        .desired_status(DesiredStatus::Stopped)
                        .send()
                        .await
                    {
                        Ok(l) => l.task_arns().iter().take(100).cloned().collect::<Vec<_>>(),
                        Err(e) if ecs::is_not_found(error::code_of(&e)) => Vec::new(),
                        Err(e) => return Err(error::aws(cx.node, "ListTasks", e)),
                    };
                    let mut not_stopped = running.len();
                    if !stopping.is_empty() {
                        let out = ecs
                            .describe_tasks()
                            .cluster(&cluster)
                            .set_tasks(Some(stopping))
                            .send()
                            .await
                            .aws(cx, "DescribeTasks")?;
                        not_stopped += out
                            .tasks()
                            .iter()
                            .filter(|t| t.last_status() != Some("STOPPED"))
                            .count();
                    }
                    if not_stopped > 0 {
                        return Ok(Poll::Pending(format!(
                            "{not_stopped} task(s) still stopping"
                        )));
                    }
                    Ok(match self.describe(cx, &cluster, &name).await? {
                        Some(s) if s.status() != Some("INACTIVE") => {
                            Poll::Pending(format!("service {}", s.status().unwrap_or("unknown")))
                        }
                        _ => Poll::Ready(()),
                    })
                }
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_token_are_bounded() {
        assert_eq!(service_name("s"), "s-mcp");
        let t = hex::encode(Sha256::digest("x"))[..32].to_owned();
        assert!(t.len() <= 36);
    }

    use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, ServiceEvent};

    fn svc(running: i32, desired: i32, deployments: Vec<Deployment>) -> Service {
        Service::builder()
            .status("ACTIVE")
            .running_count(running)
            .desired_count(desired)
            .pending_count(desired - running)
            .set_deployments(Some(deployments))
            .events(
                ServiceEvent::builder()
                    .message("(service s-mcp) was unable to place a task")
                    .build(),
            )
            .build()
    }

    fn deployment(status: &str, td: &str, state: Option<&str>) -> Deployment {
        Deployment::builder()
            .status(status)
            .task_definition(td)
            .set_rollout_state(state.map(DeploymentRolloutState::from))
            .rollout_state_reason("ECS deployment circuit breaker: tasks failed to start.")
            .build()
    }

    fn healthy(n: usize) -> Targets {
        Targets {
            healthy: n,
            others: if n == 0 {
                vec![
                    "10.0.0.5:8080 unhealthy (Target.FailedHealthChecks: Health checks failed)"
                        .into(),
                ]
            } else {
                Vec::new()
            },
        }
    }

    #[test]
    fn steady_with_a_healthy_target_is_ready() {
        let r = Rollout::of(&svc(
            1,
            1,
            vec![deployment("PRIMARY", "td:2", Some("COMPLETED"))],
        ));
        assert!(matches!(
            judge(&r, Some("td:2"), Some(&healthy(1))),
            Poll::Ready(())
        ));
        // moto may leave the rollout state out.
        let r = Rollout::of(&svc(1, 1, vec![deployment("PRIMARY", "td:2", None)]));
        assert!(matches!(judge(&r, Some("td:2"), None), Poll::Ready(())));
    }

    #[test]
    fn no_healthy_target_or_a_second_deployment_is_pending() {
        let r = Rollout::of(&svc(
            1,
            1,
            vec![deployment("PRIMARY", "td:2", Some("COMPLETED"))],
        ));
        match judge(&r, Some("td:2"), Some(&healthy(0))) {
            Poll::Pending(s) => assert!(s.contains("Target.FailedHealthChecks"), "{s}"),
            _ => panic!("expected pending"),
        }
        let r = Rollout::of(&svc(
            1,
            1,
            vec![
                deployment("PRIMARY", "td:2", Some("IN_PROGRESS")),
                deployment("ACTIVE", "td:1", Some("COMPLETED")),
            ],
        ));
        match judge(&r, Some("td:2"), Some(&healthy(1))) {
            Poll::Pending(s) => assert!(s.contains("rollout IN_PROGRESS, 2 deployments"), "{s}"),
            _ => panic!("expected pending"),
        }
    }

    #[test]
    fn circuit_breaker_failure_and_rollback_fail_with_the_reason() {
        let r = Rollout::of(&svc(
            0,
            1,
            vec![
                deployment("PRIMARY", "td:1", Some("IN_PROGRESS")),
                deployment("ACTIVE", "td:2", Some("FAILED")),
            ],
        ));
        match judge(&r, Some("td:2"), Some(&healthy(0))) {
            Poll::Failed(s) => assert!(s.contains("circuit breaker: tasks failed to start"), "{s}"),
            _ => panic!("expected failed"),
        }
        // After the rollback finished: only the old revision's deployment is left.
        let r = Rollout::of(&svc(
            1,
            1,
            vec![deployment("PRIMARY", "td:1", Some("COMPLETED"))],
        ));
        match judge(&r, Some("td:2"), Some(&healthy(1))) {
            Poll::Failed(s) => {
                assert!(
                    s.contains("rolled back") && s.contains("unable to place a task"),
                    "{s}"
                )
            }
            _ => panic!("expected failed"),
        }
    }

    #[test]
    fn truncation_keeps_short_text() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 3), "abc…");
    }
}
