//! The drift matrix on the whole stack, in one emulator per matrix.
//!
//! - **Deleted out of band** (`deleted_out_of_band_matrix`): for every owned node of the plan, the resource is
//!   deleted with the AWS SDK the way an operator would have to on AWS — with whatever AWS refuses to leave
//!   behind deleted (or detached, or scaled to 0) first, even where moto would not insist. Then `status` exits 3
//!   naming exactly the deleted nodes `missing` (other nodes may be drifted or unhealthy only if they depend on
//!   what was touched), `up` creates exactly the deleted nodes and changes nothing but what depends on them (its
//!   per-node outcomes and the call ledger both say so), and the stack has converged again: `status` 0, one
//!   resource per node in the emulator, a state file that matches. Every case starts from that converged stack.
//! - **Changed out of band** (`changed_out_of_band_matrix`): for each property that matters (security group
//!   rules, the task definition's image and environment, the listener's certificate, the DNS record's target,
//!   the gateway's authorizer and interceptor, the target's endpoint, the Lambda's code hash) the change is made
//!   with the SDK; `status` exits 3 reporting the node `drifted` with an attribute naming the property; `up`
//!   restores it in place with exactly the expected mutating calls; the stack has converged again.
//!
//! The dependency graph comes from `status --json` (`depends_on`), the node list from the plan via the same
//! output, so a new node without a case fails the matrix. Cases are independent: a failing one is recorded
//! (`support::report`) and the stack is brought back to converged before the next; the test fails at the
//! end listing every failed case. After the last case `down` must leave nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use crate::support::checks::{self, as_strs, fqdn, up_args};
use crate::support::inventory::{self, Scope};
use crate::support::report::{self, Case};
use crate::support::{self, DOMAIN, Emulator, LEASE_NODE, Stack, certificate, state_id};
use serde_json::Value;

type Set = BTreeSet<String>;

fn set<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Set {
    items.into_iter().map(Into::into).collect()
}

fn list(s: &Set) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Maps an SDK error to a message with its code.
fn sdk<E: std::error::Error>(op: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| {
        format!(
            "{op}: {}",
            aws_smithy_types::error::display::DisplayErrorContext(&e)
        )
    }
}

struct Clients {
    ec2: aws_sdk_ec2::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    ecs: aws_sdk_ecs::Client,
    r53: aws_sdk_route53::Client,
    sm: aws_sdk_secretsmanager::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    iam: aws_sdk_iam::Client,
    idp: aws_sdk_cognitoidentityprovider::Client,
    lambda: aws_sdk_lambda::Client,
    ac: aws_sdk_bedrockagentcorecontrol::Client,
    sdk: aws_config::SdkConfig,
}

impl Clients {
    async fn new(emu: &Emulator) -> Clients {
        let sdk = emu.sdk().await;
        Clients {
            ec2: aws_sdk_ec2::Client::new(&sdk),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&sdk),
            ecs: aws_sdk_ecs::Client::new(&sdk),
            r53: aws_sdk_route53::Client::new(&sdk),
            sm: aws_sdk_secretsmanager::Client::new(&sdk),
            logs: aws_sdk_cloudwatchlogs::Client::new(&sdk),
            iam: aws_sdk_iam::Client::new(&sdk),
            idp: aws_sdk_cognitoidentityprovider::Client::new(&sdk),
            lambda: aws_sdk_lambda::Client::new(&sdk),
            ac: aws_sdk_bedrockagentcorecontrol::Client::new(&sdk),
            sdk,
        }
    }
}

/// The plan as `status --json` reports it: every node with its dependencies, in plan order, and which are owned.
struct Graph {
    order: Vec<String>,
    owned: Set,
    deps: BTreeMap<String, Set>,
}

impl Graph {
    fn of(status: &Value) -> Graph {
        let mut g = Graph {
            order: Vec::new(),
            owned: Set::new(),
            deps: BTreeMap::new(),
        };
        for r in status["resources"].as_array().expect("resources") {
            let id = r["resource"].as_str().unwrap().to_owned();
            g.order.push(id.clone());
            if r["owned"] == true {
                g.owned.insert(id.clone());
            }
            let deps: Set = r["depends_on"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| d.as_str().unwrap().to_owned())
                .collect();
            g.deps.insert(id, deps);
        }
        g
    }

    /// Every node that depends, directly or through others, on one of `roots` (the roots excluded).
    fn dependents(&self, roots: &Set) -> Set {
        let mut out = Set::new();
        loop {
            let before = out.len();
            for (node, deps) in &self.deps {
                if deps.iter().any(|d| roots.contains(d) || out.contains(d)) {
                    out.insert(node.clone());
                }
            }
            if out.len() == before {
                break;
            }
        }
        out.retain(|n| !roots.contains(n));
        out
    }
}

/// What one `up` did to each node, from its per-node lines on stderr (`<ts> <node>: <outcome> (<secs>s)`).
#[derive(Debug, Default)]
struct Outcomes {
    created: Set,
    /// node → the attributes it reported
    updated: BTreeMap<String, String>,
    replaced: BTreeMap<String, String>,
    adopted: Set,
    unchanged: Set,
    failed: BTreeMap<String, String>,
}

impl Outcomes {
    fn parse(stderr: &str, nodes: &Set) -> Outcomes {
        let mut o = Outcomes::default();
        for line in stderr.lines() {
            let Some((_, rest)) = line.split_once(' ') else {
                continue;
            };
            let Some((node, text)) = rest.split_once(": ") else {
                continue;
            };
            if !nodes.contains(node) {
                continue;
            }
            let node = node.to_owned();
            // The outcome line ends with the node's elapsed time, ` (1.2s)`.
            let Some(text) = text
                .strip_suffix("s)")
                .and_then(|t| t.rsplit_once(" ("))
                .filter(|(_, secs)| secs.parse::<f64>().is_ok())
                .map(|(t, _)| t)
            else {
                if let Some(why) = text.strip_prefix("failed: ") {
                    o.failed.insert(node, why.to_owned());
                }
                continue;
            };
            let inner = |t: &str, p: &str| {
                t.strip_prefix(p)
                    .and_then(|t| t.strip_suffix(')'))
                    .map(str::to_owned)
            };
            if text == "created" {
                o.created.insert(node);
            } else if let Some(a) = inner(text, "updated (") {
                o.updated.insert(node, a);
            } else if let Some(a) = inner(text, "replaced (") {
                o.replaced.insert(node, a);
            } else if text.starts_with("adopted") {
                o.adopted.insert(node);
            } else if text == "up to date" {
                o.unchanged.insert(node);
            } else if let Some(why) = text.strip_prefix("failed: ") {
                o.failed.insert(node, why.to_owned());
            }
        }
        o
    }

    fn reported(&self) -> Set {
        let mut all = self.created.clone();
        all.extend(self.updated.keys().cloned());
        all.extend(self.replaced.keys().cloned());
        all.extend(self.adopted.iter().cloned());
        all.extend(self.unchanged.iter().cloned());
        all.extend(self.failed.keys().cloned());
        all
    }

    fn changes(&self) -> String {
        let mut parts = Vec::new();
        if !self.created.is_empty() {
            parts.push(format!("created {}", list(&self.created)));
        }
        for (label, m) in [("updated", &self.updated), ("replaced", &self.replaced)] {
            if !m.is_empty() {
                parts.push(format!(
                    "{label} {}",
                    m.iter()
                        .map(|(n, a)| format!("{n} ({a})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        if !self.adopted.is_empty() {
            parts.push(format!("adopted {}", list(&self.adopted)));
        }
        if parts.is_empty() {
            "nothing".into()
        } else {
            parts.join("; ")
        }
    }
}

/// The ledger of an `up` against its per-node outcomes. The ledger records the node and the phase each call was made
/// for (`neo4j_gw::ledger`), so no table of operations per kind is needed: every mutating call belongs to a node
/// that was created, updated or replaced; one made in a node's create phase to a created or replaced node, and each
/// `Create…` operation at most once per node (a second would be a second resource); one made in a delete phase to a
/// replaced node. The lease's calls are not the stack's changes.
fn ledger_problems(calls: &[Value], o: &Outcomes) -> Vec<String> {
    let mut made = o.created.clone();
    made.extend(o.replaced.keys().cloned());
    let mut changed = made.clone();
    changed.extend(o.updated.keys().cloned());
    let mut problems = Vec::new();
    let mut creates: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for call in calls.iter().filter(|c| c["mutating"] == true) {
        let op = call["operation"].as_str().unwrap_or("?");
        let Some(node) = call["node"].as_str() else {
            problems.push(format!("mutating call {op} made for no node of the plan"));
            continue;
        };
        if node == LEASE_NODE {
            continue;
        }
        let phase = call["phase"].as_str().unwrap_or("?");
        let (pool, was) = match phase {
            "create" => (&made, "created or replaced"),
            "delete" => (&made, "replaced"),
            _ => (&changed, "changed"),
        };
        if !pool.contains(node) {
            problems.push(format!(
                "{op} for {node} (its {phase} phase), but {node} was not {was}"
            ));
        }
        if phase == "create" && op.starts_with("Create") {
            *creates.entry((node, op)).or_default() += 1;
        }
    }
    for ((node, op), n) in creates {
        if n > 1 {
            problems.push(format!("{n}× {op} for the one node {node}"));
        }
    }
    problems
}

/// Every non-`present` line of a status, as `node state (drift attributes or message)`.
fn status_lines(status: &Value) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for r in status["resources"].as_array().into_iter().flatten() {
        let state = r["state"].as_str().unwrap_or("?").to_owned();
        if state == "present" {
            continue;
        }
        let attrs: Vec<&str> = r["drift"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["attribute"].as_str())
            .collect();
        let why = if attrs.is_empty() {
            r["message"].as_str().unwrap_or("").to_owned()
        } else {
            attrs.join(", ")
        };
        out.insert(r["resource"].as_str().unwrap().to_owned(), (state, why));
    }
    out
}

/// A stack whose waits give up after 2 minutes (everything is immediate in the emulator; a wait that never ends
/// is a failed case, not a hung test).
fn stack<'a>(emu: &'a Emulator, name: &str) -> Stack<'a> {
    let mut st = Stack::new(emu, name);
    st.extra_env
        .push(("NEO4J_GW_WAIT_TIMEOUT".into(), "120".into()));
    st
}

/// The shared fixture of one matrix: an emulator, the stack, SDK clients, the plan.
struct Bench<'a> {
    emu: &'a Emulator,
    st: Stack<'a>,
    cert: String,
    scope: Scope,
    aws: Clients,
    graph: Graph,
}

impl<'a> Bench<'a> {
    async fn start(emu: &'a Emulator, name: &str) -> Bench<'a> {
        let cert = checks::fresh(emu).await;
        let st = stack(emu, name);
        let scope = Scope::new(name, &fqdn());
        st.run(&as_strs(&up_args(&cert))).ok();
        let problems = checks::converged(emu, &st, &scope).await;
        assert!(
            problems.is_empty(),
            "the stack did not converge after the first up: {problems:#?}"
        );
        let (_, status) = st.status_json();
        let graph = Graph::of(&status);
        Bench {
            emu,
            st,
            cert,
            scope,
            aws: Clients::new(emu).await,
            graph,
        }
    }

    fn up(&self) -> support::Run {
        self.st.run(&as_strs(&up_args(&self.cert)))
    }

    fn id(&self, node: &str, key: &str) -> String {
        state_id(&self.st.state(), node, key)
    }

    /// `checks::converged`, except that ACTIVE task definition revisions of the stack's family older than the
    /// recorded one are accepted: neo4j-gw keeps superseded revisions ACTIVE until `down` by design (the circuit
    /// breaker may roll the service back onto one). Returns (problems, note).
    async fn converged(&self) -> (Vec<String>, String) {
        let mut problems = checks::converged(self.emu, &self.st, &self.scope).await;
        let mut note = String::new();
        if let Some(i) = problems
            .iter()
            .position(|p| p.starts_with("ecs:task-definition:"))
        {
            let recorded = self.id("task-definition", "arn");
            let rev = |arn: &str| {
                arn.rsplit_once(':')
                    .and_then(|(_, r)| r.parse::<u32>().ok())
                    .unwrap_or(0)
            };
            let family = |arn: &str| {
                arn.rsplit_once(':')
                    .map(|(f, _)| f.to_owned())
                    .unwrap_or_default()
            };
            let items = inventory::inventory(&self.aws.sdk, &self.scope).await;
            let tds: Vec<&inventory::Item> = items
                .iter()
                .filter(|i| i.kind == "ecs:task-definition")
                .collect();
            let older = tds
                .iter()
                .filter(|i| i.id != recorded)
                .all(|i| family(&i.id) == family(&recorded) && rev(&i.id) < rev(&recorded));
            if older && tds.iter().any(|i| i.id == recorded) {
                problems.remove(i);
                note = format!(
                    "{} superseded task definition revision(s) stay ACTIVE until down",
                    tds.len() - 1
                );
            }
        }
        (problems, note)
    }

    /// Brings the stack back to converged after a failed case: `up` again, else a fresh stack.
    async fn recover(&mut self) -> String {
        let again = self.up();
        if again.code == 0 && self.converged().await.0.is_empty() {
            return "recovered by a second up".into();
        }
        let _ = self.st.run(&["down", "--yes"]);
        self.cert = checks::fresh(self.emu).await;
        self.st = stack(self.emu, &self.st.name);
        self.up();
        let (problems, _) = self.converged().await;
        if problems.is_empty() {
            "recovered by down, a fresh emulator and up".into()
        } else {
            format!("NOT recovered: {}", problems.join(" | "))
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Out-of-band operations, done the way AWS requires them.
// ---------------------------------------------------------------------------------------------------------------

/// Fails when network interfaces match the filter: AWS refuses to delete a subnet or security group, or to
/// detach an internet gateway from a VPC with public addresses, while they exist.
async fn no_enis(b: &Bench<'_>, filter: &str, value: &str, what: &str) -> Result<(), String> {
    let out = b
        .aws
        .ec2
        .describe_network_interfaces()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name(filter)
                .values(value)
                .build(),
        )
        .send()
        .await
        .map_err(sdk("DescribeNetworkInterfaces"))?;
    let left: Vec<&str> = out
        .network_interfaces()
        .iter()
        .filter_map(|n| n.network_interface_id())
        .collect();
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "AWS would refuse to {what}: network interfaces {} remain",
            left.join(", ")
        ))
    }
}

/// Scales the service to 0 and checks its tasks are gone (their ENIs block subnets and security groups).
async fn scale_service_to_zero(b: &Bench<'_>) -> Result<(), String> {
    let cluster = b.id("service", "cluster_name");
    let service = b.id("service", "service_name");
    b.aws
        .ecs
        .update_service()
        .cluster(&cluster)
        .service(&service)
        .desired_count(0)
        .send()
        .await
        .map_err(sdk("UpdateService"))?;
    let tasks = b
        .aws
        .ecs
        .list_tasks()
        .cluster(&cluster)
        .service_name(&service)
        .send()
        .await
        .map_err(sdk("ListTasks"))?;
    if !tasks.task_arns().is_empty() {
        return Err(format!(
            "tasks still running after scaling to 0: {:?}",
            tasks.task_arns()
        ));
    }
    Ok(())
}

async fn delete_service(b: &Bench<'_>) -> Result<(), String> {
    let cluster = b.id("service", "cluster_name");
    let service = b.id("service", "service_name");
    b.aws
        .ecs
        .delete_service()
        .cluster(&cluster)
        .service(&service)
        .force(true)
        .send()
        .await
        .map_err(sdk("DeleteService"))?;
    let tasks = b
        .aws
        .ecs
        .list_tasks()
        .cluster(&cluster)
        .service_name(&service)
        .send()
        .await
        .map_err(sdk("ListTasks"))?;
    if !tasks.task_arns().is_empty() {
        return Err("the deleted service's tasks are still running".into());
    }
    Ok(())
}

/// Deletes the ALB (AWS deletes its listeners with it) and checks its network interfaces are released.
async fn delete_load_balancer(b: &Bench<'_>) -> Result<(), String> {
    let arn = b.id("load-balancer", "arn");
    b.aws
        .elb
        .delete_load_balancer()
        .load_balancer_arn(&arn)
        .send()
        .await
        .map_err(sdk("DeleteLoadBalancer"))?;
    let description = arn
        .split_once(":loadbalancer/")
        .map(|(_, rest)| format!("ELB {rest}"))
        .unwrap_or_default();
    no_enis(
        b,
        "description",
        &description,
        "go on while the ALB's interfaces exist",
    )
    .await
}

async fn delete_security_group(b: &Bench<'_>, node: &str) -> Result<(), String> {
    let id = b.id(node, "group_id");
    no_enis(b, "group-id", &id, &format!("delete {node}")).await?;
    b.aws
        .ec2
        .delete_security_group()
        .group_id(&id)
        .send()
        .await
        .map_err(sdk("DeleteSecurityGroup"))?;
    Ok(())
}

async fn delete_subnet(b: &Bench<'_>, node: &str) -> Result<(), String> {
    let id = b.id(node, "subnet_id");
    no_enis(b, "subnet-id", &id, &format!("delete {node}")).await?;
    b.aws
        .ec2
        .delete_subnet()
        .subnet_id(&id)
        .send()
        .await
        .map_err(sdk("DeleteSubnet"))?;
    Ok(())
}

async fn delete_route_table(b: &Bench<'_>) -> Result<(), String> {
    let id = b.id("route-table", "route_table_id");
    let out = b
        .aws
        .ec2
        .describe_route_tables()
        .route_table_ids(&id)
        .send()
        .await
        .map_err(sdk("DescribeRouteTables"))?;
    for t in out.route_tables() {
        for a in t.associations() {
            if a.main() == Some(true) {
                continue;
            }
            b.aws
                .ec2
                .disassociate_route_table()
                .association_id(a.route_table_association_id().unwrap_or_default())
                .send()
                .await
                .map_err(sdk("DisassociateRouteTable"))?;
        }
    }
    b.aws
        .ec2
        .delete_route_table()
        .route_table_id(&id)
        .send()
        .await
        .map_err(sdk("DeleteRouteTable"))?;
    Ok(())
}

/// Detaches the internet gateway (AWS refuses while the VPC has public addresses: ALB and task interfaces).
async fn detach_internet_gateway(b: &Bench<'_>) -> Result<(), String> {
    let igw = b.id("internet-gateway", "internet_gateway_id");
    let vpc = b.id("vpc", "vpc_id");
    no_enis(
        b,
        "vpc-id",
        &vpc,
        "detach the internet gateway (mapped public addresses)",
    )
    .await?;
    b.aws
        .ec2
        .detach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&vpc)
        .send()
        .await
        .map_err(sdk("DetachInternetGateway"))?;
    Ok(())
}

/// Deletes an IAM role the only way IAM allows: inline policies and attached managed policies first.
async fn delete_role(b: &Bench<'_>, node: &str) -> Result<(), String> {
    let name = b.id(node, "role_name");
    let iam = &b.aws.iam;
    let inline = iam
        .list_role_policies()
        .role_name(&name)
        .send()
        .await
        .map_err(sdk("ListRolePolicies"))?;
    for p in inline.policy_names() {
        iam.delete_role_policy()
            .role_name(&name)
            .policy_name(p)
            .send()
            .await
            .map_err(sdk("DeleteRolePolicy"))?;
    }
    let attached = iam
        .list_attached_role_policies()
        .role_name(&name)
        .send()
        .await
        .map_err(sdk("ListAttachedRolePolicies"))?;
    for p in attached.attached_policies() {
        iam.detach_role_policy()
            .role_name(&name)
            .policy_arn(p.policy_arn().unwrap_or_default())
            .send()
            .await
            .map_err(sdk("DetachRolePolicy"))?;
    }
    iam.delete_role()
        .role_name(&name)
        .send()
        .await
        .map_err(sdk("DeleteRole"))?;
    Ok(())
}

async fn delete_log_group(b: &Bench<'_>, node: &str) -> Result<(), String> {
    b.aws
        .logs
        .delete_log_group()
        .log_group_name(b.id(node, "name"))
        .send()
        .await
        .map_err(sdk("DeleteLogGroup"))?;
    Ok(())
}

async fn delete_user_pool_domain(b: &Bench<'_>) -> Result<(), String> {
    b.aws
        .idp
        .delete_user_pool_domain()
        .domain(b.id("user-pool-domain", "domain"))
        .user_pool_id(b.id("user-pool", "user_pool_id"))
        .send()
        .await
        .map_err(sdk("DeleteUserPoolDomain"))?;
    Ok(())
}

async fn delete_policy(b: &Bench<'_>, node: &str) -> Result<(), String> {
    b.aws
        .ac
        .delete_policy()
        .policy_engine_id(b.id(node, "policy_engine_id"))
        .policy_id(b.id(node, "policy_id"))
        .send()
        .await
        .map_err(sdk("DeletePolicy"))?;
    Ok(())
}

async fn delete_gateway_target(b: &Bench<'_>) -> Result<(), String> {
    b.aws
        .ac
        .delete_gateway_target()
        .gateway_identifier(b.id("gateway-target", "gateway_id"))
        .target_id(b.id("gateway-target", "target_id"))
        .send()
        .await
        .map_err(sdk("DeleteGatewayTarget"))?;
    Ok(())
}

/// What an out-of-band change did: the nodes deleted, the nodes changed on the way (e.g. a service scaled to 0
/// so that AWS lets its subnet go), and the change in words.
struct Fault {
    deleted: Set,
    modified: Set,
    words: String,
}

/// One Route53 change of a record set in the zone, out of band.
async fn change_record(
    b: &Bench<'_>,
    zone: &str,
    action: aws_sdk_route53::types::ChangeAction,
    set: aws_sdk_route53::types::ResourceRecordSet,
) -> Result<(), String> {
    let batch = aws_sdk_route53::types::ChangeBatch::builder()
        .changes(
            aws_sdk_route53::types::Change::builder()
                .action(action)
                .resource_record_set(set)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .build()
        .map_err(|e| e.to_string())?;
    b.aws
        .r53
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(batch)
        .send()
        .await
        .map_err(sdk("ChangeResourceRecordSets"))?;
    Ok(())
}

fn fault(deleted: &[&str], modified: &[&str], words: impl Into<String>) -> Fault {
    Fault {
        deleted: set(deleted.iter().copied()),
        modified: set(modified.iter().copied()),
        words: words.into(),
    }
}

/// Deletes `node`'s resource out of band, with what AWS requires to go first.
async fn delete_out_of_band(b: &Bench<'_>, node: &str) -> Result<Fault, String> {
    let aws = &b.aws;
    Ok(match node {
        "vpc" => {
            scale_service_to_zero(b).await?;
            delete_load_balancer(b).await?;
            delete_security_group(b, "task-sg").await?;
            delete_security_group(b, "alb-sg").await?;
            delete_route_table(b).await?;
            delete_subnet(b, "subnet-a").await?;
            delete_subnet(b, "subnet-b").await?;
            detach_internet_gateway(b).await?;
            aws.ec2
                .delete_vpc()
                .vpc_id(b.id("vpc", "vpc_id"))
                .send()
                .await
                .map_err(sdk("DeleteVpc"))?;
            fault(
                &[
                    "vpc",
                    "subnet-a",
                    "subnet-b",
                    "route-table",
                    "alb-sg",
                    "task-sg",
                    "load-balancer",
                    "listener",
                    "origin-rule",
                ],
                &["service", "internet-gateway"],
                "DeleteVpc, after everything AWS requires: service scaled to 0, ALB (and its listener) deleted, \
                 both security groups, the route table and both subnets deleted, the internet gateway detached",
            )
        }
        "subnet-a" | "subnet-b" => {
            scale_service_to_zero(b).await?;
            delete_load_balancer(b).await?;
            delete_subnet(b, node).await?;
            fault(
                &[node, "load-balancer", "listener", "origin-rule"],
                &["service"],
                format!(
                    "DeleteSubnet {node}, after the service was scaled to 0 and the ALB (with its listener) deleted: \
                     their network interfaces are in the subnet"
                ),
            )
        }
        "internet-gateway" => {
            scale_service_to_zero(b).await?;
            delete_load_balancer(b).await?;
            detach_internet_gateway(b).await?;
            aws.ec2
                .delete_internet_gateway()
                .internet_gateway_id(b.id(node, "internet_gateway_id"))
                .send()
                .await
                .map_err(sdk("DeleteInternetGateway"))?;
            fault(
                &[node, "load-balancer", "listener", "origin-rule"],
                &["service"],
                "DetachInternetGateway + DeleteInternetGateway, after the service was scaled to 0 and the ALB \
                 (with its listener) deleted: AWS refuses to detach while the VPC has mapped public addresses",
            )
        }
        "route-table" => {
            delete_route_table(b).await?;
            fault(&[node], &[], "DisassociateRouteTable ×2 + DeleteRouteTable")
        }
        "alb-sg" => {
            let alb_sg = b.id("alb-sg", "group_id");
            let task_sg = b.id("task-sg", "group_id");
            aws.ec2
                .revoke_security_group_ingress()
                .group_id(&task_sg)
                .ip_permissions(
                    aws_sdk_ec2::types::IpPermission::builder()
                        .ip_protocol("tcp")
                        .from_port(8080)
                        .to_port(8080)
                        .user_id_group_pairs(
                            aws_sdk_ec2::types::UserIdGroupPair::builder()
                                .group_id(&alb_sg)
                                .build(),
                        )
                        .build(),
                )
                .send()
                .await
                .map_err(sdk("RevokeSecurityGroupIngress"))?;
            let default = aws
                .ec2
                .describe_security_groups()
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("vpc-id")
                        .values(b.id("vpc", "vpc_id"))
                        .build(),
                )
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("group-name")
                        .values("default")
                        .build(),
                )
                .send()
                .await
                .map_err(sdk("DescribeSecurityGroups"))?;
            let default = default
                .security_groups()
                .first()
                .and_then(|g| g.group_id())
                .ok_or("the VPC has no default security group")?
                .to_owned();
            aws.elb
                .set_security_groups()
                .load_balancer_arn(b.id("load-balancer", "arn"))
                .security_groups(default)
                .send()
                .await
                .map_err(sdk("SetSecurityGroups"))?;
            delete_security_group(b, node).await?;
            fault(
                &[node],
                &["task-sg", "load-balancer"],
                "DeleteSecurityGroup alb-sg, after the task-sg rule referencing it was revoked and the ALB moved to \
                 the VPC's default security group",
            )
        }
        "task-sg" => {
            scale_service_to_zero(b).await?;
            delete_security_group(b, node).await?;
            fault(
                &[node],
                &["service"],
                "DeleteSecurityGroup task-sg, after the service was scaled to 0 (its tasks' interfaces use it)",
            )
        }
        "target-group" => {
            let fixed = aws_sdk_elasticloadbalancingv2::types::Action::builder()
                .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::FixedResponse)
                .fixed_response_config(
                    aws_sdk_elasticloadbalancingv2::types::FixedResponseActionConfig::builder()
                        .status_code("503")
                        .build(),
                )
                .build();
            aws.elb
                .modify_listener()
                .listener_arn(b.id("listener", "arn"))
                .default_actions(fixed)
                .send()
                .await
                .map_err(sdk("ModifyListener"))?;
            aws.elb
                .delete_rule()
                .rule_arn(b.id("origin-rule", "arn"))
                .send()
                .await
                .map_err(sdk("DeleteRule"))?;
            aws.elb
                .delete_target_group()
                .target_group_arn(b.id(node, "arn"))
                .send()
                .await
                .map_err(sdk("DeleteTargetGroup"))?;
            fault(
                &[node, "origin-rule"],
                &["listener"],
                "DeleteTargetGroup, after the listener was pointed at a fixed 503 response and the origin rule \
                 deleted (AWS refuses to delete a target group a listener or rule forwards to)",
            )
        }
        "load-balancer" => {
            delete_load_balancer(b).await?;
            fault(
                &[node, "listener", "origin-rule"],
                &[],
                "DeleteLoadBalancer (AWS deletes its listener and the listener's rules with it)",
            )
        }
        "listener" => {
            aws.elb
                .delete_listener()
                .listener_arn(b.id(node, "arn"))
                .send()
                .await
                .map_err(sdk("DeleteListener"))?;
            fault(
                &[node, "origin-rule"],
                &[],
                "DeleteListener (AWS deletes its rules with it)",
            )
        }
        "origin-rule" => {
            aws.elb
                .delete_rule()
                .rule_arn(b.id(node, "arn"))
                .send()
                .await
                .map_err(sdk("DeleteRule"))?;
            fault(&[node], &[], "DeleteRule")
        }
        "dns-record" => {
            let zone = b.id(node, "hosted_zone_id");
            let name = format!("{}.", b.id(node, "fqdn").trim_end_matches('.'));
            let sets = aws
                .r53
                .list_resource_record_sets()
                .hosted_zone_id(&zone)
                .start_record_name(&name)
                .start_record_type(aws_sdk_route53::types::RrType::A)
                .max_items(1)
                .send()
                .await
                .map_err(sdk("ListResourceRecordSets"))?;
            let set = sets
                .resource_record_sets()
                .iter()
                .find(|s| s.name() == name && s.r#type() == &aws_sdk_route53::types::RrType::A)
                .ok_or(format!("no A record {name}"))?
                .clone();
            change_record(b, &zone, aws_sdk_route53::types::ChangeAction::Delete, set).await?;
            fault(
                &[node],
                &[],
                "ChangeResourceRecordSets DELETE of the alias record",
            )
        }
        "origin-key" => {
            aws.ac
                .delete_api_key_credential_provider()
                .name(b.id(node, "name"))
                .send()
                .await
                .map_err(sdk("DeleteApiKeyCredentialProvider"))?;
            fault(&[node], &[], "DeleteApiKeyCredentialProvider")
        }
        "origin-secret" => {
            aws.sm
                .delete_secret()
                .secret_id(b.id(node, "arn"))
                .force_delete_without_recovery(true)
                .send()
                .await
                .map_err(sdk("DeleteSecret"))?;
            fault(&[node], &[], "DeleteSecret, ForceDeleteWithoutRecovery")
        }
        "secret" => {
            aws.sm
                .delete_secret()
                .secret_id(b.id(node, "arn"))
                .force_delete_without_recovery(true)
                .send()
                .await
                .map_err(sdk("DeleteSecret"))?;
            fault(&[node], &[], "DeleteSecret, ForceDeleteWithoutRecovery")
        }
        "log-group" | "interceptor-log-group" | "gateway-log-group" => {
            delete_log_group(b, node).await?;
            fault(&[node], &[], "DeleteLogGroup")
        }
        "task-execution-role" | "task-role" | "interceptor-role" | "gateway-role" => {
            delete_role(b, node).await?;
            fault(
                &[node],
                &[],
                "DeleteRole, after its inline and attached policies were removed",
            )
        }
        "cluster" => {
            delete_service(b).await?;
            aws.ecs
                .delete_cluster()
                .cluster(b.id(node, "cluster_name"))
                .send()
                .await
                .map_err(sdk("DeleteCluster"))?;
            fault(
                &[node, "service"],
                &[],
                "DeleteCluster, after its service was deleted (force): AWS refuses while it has services",
            )
        }
        "task-definition" => {
            let family = b.id(node, "family");
            let arns = aws
                .ecs
                .list_task_definitions()
                .family_prefix(&family)
                .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
                .send()
                .await
                .map_err(sdk("ListTaskDefinitions"))?;
            for arn in arns.task_definition_arns() {
                aws.ecs
                    .deregister_task_definition()
                    .task_definition(arn)
                    .send()
                    .await
                    .map_err(sdk("DeregisterTaskDefinition"))?;
            }
            fault(
                &[node],
                &[],
                "DeregisterTaskDefinition of every ACTIVE revision of the family (the service keeps running the \
                 INACTIVE one)",
            )
        }
        "service" => {
            delete_service(b).await?;
            fault(&[node], &[], "DeleteService (force)")
        }
        "user-pool" => {
            delete_user_pool_domain(b).await?;
            aws.idp
                .delete_user_pool()
                .user_pool_id(b.id(node, "user_pool_id"))
                .send()
                .await
                .map_err(sdk("DeleteUserPool"))?;
            fault(
                &[node, "user-pool-domain", "resource-server", "app-client"],
                &[],
                "DeleteUserPool, after its domain was deleted (Cognito refuses otherwise); its resource server and \
                 app client go with it",
            )
        }
        "user-pool-domain" => {
            delete_user_pool_domain(b).await?;
            fault(&[node], &[], "DeleteUserPoolDomain")
        }
        "resource-server" => {
            aws.idp
                .delete_resource_server()
                .user_pool_id(b.id("user-pool", "user_pool_id"))
                .identifier(b.id(node, "identifier"))
                .send()
                .await
                .map_err(sdk("DeleteResourceServer"))?;
            fault(&[node], &[], "DeleteResourceServer")
        }
        "app-client" => {
            aws.idp
                .delete_user_pool_client()
                .user_pool_id(b.id("user-pool", "user_pool_id"))
                .client_id(b.id(node, "client_id"))
                .send()
                .await
                .map_err(sdk("DeleteUserPoolClient"))?;
            fault(&[node], &[], "DeleteUserPoolClient")
        }
        "interceptor-function" => {
            aws.lambda
                .delete_function()
                .function_name(b.id(node, "name"))
                .send()
                .await
                .map_err(sdk("DeleteFunction"))?;
            fault(&[node], &[], "DeleteFunction")
        }
        "gateway" => {
            delete_gateway_target(b).await?;
            aws.ac
                .delete_gateway()
                .gateway_identifier(b.id(node, "gateway_id"))
                .send()
                .await
                .map_err(sdk("DeleteGateway"))?;
            fault(
                &[node, "gateway-target"],
                &[],
                "DeleteGateway, after its target was deleted (AgentCore refuses otherwise)",
            )
        }
        "gateway-target" => {
            delete_gateway_target(b).await?;
            fault(&[node], &[], "DeleteGatewayTarget")
        }
        "policy-read" | "policy-write" => {
            delete_policy(b, node).await?;
            fault(&[node], &[], "DeletePolicy")
        }
        "policy-engine" => {
            delete_policy(b, "policy-read").await?;
            delete_policy(b, "policy-write").await?;
            delete_gateway_target(b).await?;
            let gateway = b.id("gateway", "gateway_id");
            aws.ac
                .delete_gateway()
                .gateway_identifier(&gateway)
                .send()
                .await
                .map_err(sdk("DeleteGateway"))?;
            // A gateway still DELETING names the engine yet: wait until it is gone.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while aws
                .ac
                .get_gateway()
                .gateway_identifier(&gateway)
                .send()
                .await
                .is_ok()
            {
                if std::time::Instant::now() > deadline {
                    return Err("the gateway was not gone 60 s after DeleteGateway".into());
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            aws.ac
                .delete_policy_engine()
                .policy_engine_id(b.id(node, "policy_engine_id"))
                .send()
                .await
                .map_err(sdk("DeletePolicyEngine"))?;
            fault(
                &[
                    node,
                    "policy-read",
                    "policy-write",
                    "gateway",
                    "gateway-target",
                ],
                &[],
                "DeletePolicyEngine, after its policies were deleted (AgentCore refuses otherwise) and the gateway \
                 naming it, with its target (the emulator refuses while a gateway names it, and moto's UpdateGateway \
                 cannot drop the association)",
            )
        }
        "gateway-log-delivery" => {
            let name = b.id(node, "delivery_source");
            aws.logs
                .delete_delivery()
                .id(b.id(node, "delivery_id"))
                .send()
                .await
                .map_err(sdk("DeleteDelivery"))?;
            aws.logs
                .delete_delivery_source()
                .name(&name)
                .send()
                .await
                .map_err(sdk("DeleteDeliverySource"))?;
            aws.logs
                .delete_delivery_destination()
                .name(&name)
                .send()
                .await
                .map_err(sdk("DeleteDeliveryDestination"))?;
            fault(
                &[node],
                &[],
                "DeleteDelivery, then DeleteDeliverySource and DeleteDeliveryDestination",
            )
        }
        other => return Err(format!("no out-of-band delete for node {other}")),
    })
}

/// One case's result, for the report and the summary table.
struct Outcome {
    case: String,
    fault: String,
    expected: String,
    seen: String,
    problems: Vec<String>,
    notes: Vec<String>,
}

/// status → up → converged after a fault; `expect_missing` must be reported missing and be exactly what `up`
/// creates; other nodes may be non-present in `status` and changed by `up` only if they are in `allowed`.
/// With `expect_changed` (the property matrix), `up` must update exactly those nodes with exactly `expect_ops`.
struct Expect<'x> {
    missing: &'x Set,
    allowed: &'x Set,
    /// (node, attribute substring) that status must report as drift.
    drift: &'x [(&'x str, &'x str)],
    /// Exactly these nodes updated in place (property matrix); None = any subset of `allowed`.
    changed: Option<&'x Set>,
    /// Exactly these mutating operations, sorted (property matrix).
    ops: Option<&'x [&'x str]>,
}

/// `plan --json` against the expectation of a case: the verbs `up` will then act out.
fn plan_problems(b: &Bench<'_>, x: &Expect<'_>, o: &mut Outcome) {
    let plan = b.st.run(&["plan", "--json"]);
    if plan.code != 3 {
        o.problems.push(format!(
            "plan exited {}, not 3: {}",
            plan.code,
            checks::tail(&plan.stderr, 3)
        ));
    }
    if !plan.mutating().is_empty() {
        o.problems
            .push(format!("plan made mutating calls {:?}", plan.mutating()));
    }
    let doc: Value = match serde_json::from_str(&plan.stdout) {
        Ok(v) => v,
        Err(e) => {
            o.problems.push(format!("plan --json is not JSON: {e}"));
            return;
        }
    };
    let actions: BTreeMap<String, (String, String)> = doc["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let attrs: Vec<&str> = r["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["attribute"].as_str())
                .collect();
            (
                r["resource"].as_str().unwrap_or("?").to_owned(),
                (
                    r["action"].as_str().unwrap_or("?").to_owned(),
                    attrs.join(", "),
                ),
            )
        })
        .collect();
    for (node, (action, attrs)) in &actions {
        let want = if x.missing.contains(node) {
            Some("create")
        } else if x.drift.iter().any(|(n, _)| n == node) {
            Some("update")
        } else {
            None
        };
        match want {
            Some(w) if action != w => o.problems.push(format!(
                "plan: {node} would {action} ({attrs}), expected {w}"
            )),
            None if action != "none" && !x.allowed.contains(node) => o.problems.push(format!(
                "plan: {node} would {action} ({attrs}) but depends on nothing that was touched"
            )),
            _ => {}
        }
    }
    for (node, attr) in x.drift {
        if !actions.get(*node).is_some_and(|(_, a)| a.contains(attr)) {
            o.problems
                .push(format!("plan: {node} does not name the attribute {attr}"));
        }
    }
}

async fn check_repair(b: &Bench<'_>, x: &Expect<'_>, o: &mut Outcome) {
    // b. status
    let (code, status) = b.st.status_json();
    if code != 3 {
        o.problems.push(format!("status exited {code}, not 3"));
    }
    let lines = status_lines(&status);
    let mut reported = Vec::new();
    for (node, (state, why)) in &lines {
        reported.push(format!("{node} {state} ({why})"));
        if x.missing.contains(node) {
            if state != "missing" {
                o.problems
                    .push(format!("status: {node} is {state} ({why}), not missing"));
            }
        } else if state == "missing" || state == "error" || state == "foreign" {
            o.problems.push(format!(
                "status: {node} is {state} ({why}) but was not deleted"
            ));
        } else if !x.allowed.contains(node) && !x.drift.iter().any(|(n, _)| n == node) {
            o.problems.push(format!(
                "status: {node} is {state} ({why}) but depends on nothing that was touched"
            ));
        }
    }
    for node in x.missing {
        if !lines.contains_key(node) {
            o.problems.push(format!(
                "status: {node} was deleted but is reported present"
            ));
        }
    }
    for (node, attr) in x.drift {
        match lines.get(*node) {
            Some((state, why)) if state == "drifted" && why.contains(attr) => {}
            Some((state, why)) => o.problems.push(format!(
                "status: {node} is {state} ({why}), expected drifted naming {attr}"
            )),
            None => o.problems.push(format!(
                "status: {node} is present, expected drifted naming {attr}"
            )),
        }
    }
    let others: Vec<&String> = reported
        .iter()
        .filter(|r| !x.missing.iter().any(|m| r.starts_with(&format!("{m} "))))
        .collect();
    if !others.is_empty() {
        o.notes.push(format!(
            "status also: {}",
            others
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }

    // b2. plan: from the same observe as `up`, `create` for a deleted node and `update` naming the
    // attribute for a changed one, anything else only where it depends on what was touched; exit 3; not a single
    // mutating request.
    plan_problems(b, x, o);

    // c. up
    let up = b.up();
    if up.code != 0 {
        o.problems.push(format!(
            "up exited {}: {}",
            up.code,
            checks::tail(&up.stderr, 8).replace('\n', " ⏎ ")
        ));
    }
    let outcomes = Outcomes::parse(&up.stderr, &b.graph.owned);
    o.seen = outcomes.changes();
    let not_reported: Set = b
        .graph
        .owned
        .difference(&outcomes.reported())
        .cloned()
        .collect();
    if !not_reported.is_empty() {
        o.problems
            .push(format!("up printed no outcome for {}", list(&not_reported)));
    }
    for (node, why) in &outcomes.failed {
        o.problems.push(format!("up: {node} failed: {why}"));
    }
    if &outcomes.created != x.missing {
        o.problems.push(format!(
            "up created {}, expected exactly {}",
            list(&outcomes.created),
            list(x.missing)
        ));
    }
    if !outcomes.adopted.is_empty() {
        o.problems
            .push(format!("up adopted {}", list(&outcomes.adopted)));
    }
    let mut changed: Set = outcomes.updated.keys().cloned().collect();
    changed.extend(outcomes.replaced.keys().cloned());
    match x.changed {
        Some(want) => {
            if &changed != want {
                o.problems.push(format!(
                    "up changed {}, expected exactly {}",
                    list(&changed),
                    list(want)
                ));
            }
        }
        None => {
            let unrelated: Set = changed.difference(x.allowed).cloned().collect();
            if !unrelated.is_empty() {
                o.problems.push(format!(
                    "up changed {}, which depend on nothing that was deleted or touched",
                    list(&unrelated)
                ));
            }
        }
    }
    let mutating = up.mutating();
    o.problems.extend(
        ledger_problems(&up.calls, &outcomes)
            .into_iter()
            .map(|p| format!("ledger: {p}")),
    );
    if let Some(want) = x.ops {
        let mut ops: Vec<&str> = mutating
            .iter()
            .map(|m| m.rsplit(':').next().unwrap_or(m))
            .collect();
        ops.sort_unstable();
        if ops != want {
            o.problems.push(format!(
                "up made the mutating calls {ops:?}, expected {want:?}"
            ));
        }
    }

    // d. converged
    let (problems, note) = b.converged().await;
    o.problems
        .extend(problems.into_iter().map(|p| format!("not converged: {p}")));
    if !note.is_empty() {
        o.notes.push(note);
    }
}

fn summary(title: &str, results: &[Outcome]) {
    let cell = |t: &str| t.replace('\n', " ").replace('|', "\\|");
    let mut s = format!("\n{title}\n| case | expected | up did | result |\n|---|---|---|---|\n");
    for r in results {
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            cell(&r.case),
            cell(&r.expected),
            cell(&r.seen),
            if r.problems.is_empty() {
                "passed".to_owned()
            } else {
                cell(&format!("FAILED: {}", r.problems.join(" / ")))
            }
        ));
    }
    eprint!("{s}");
    let _ = std::io::stderr().flush();
}

async fn finish(b: &mut Bench<'_>, scenario: &str, class: &str, results: Vec<Outcome>) {
    // After the last case: down must leave nothing.
    let down = b.st.run(&["down", "--yes"]);
    let mut left = checks::leftovers(b.emu, &b.st, &b.scope).await;
    if down.code != 0 {
        left = format!(
            "down exited {}: {}{}",
            down.code,
            checks::tail(&down.stderr, 4),
            if left.is_empty() {
                String::new()
            } else {
                format!("; {left}")
            }
        );
    }
    summary(scenario, &results);
    let mut failures = Vec::new();
    for r in &results {
        let passed = r.problems.is_empty() && left.is_empty();
        let mut detail = r.problems.clone();
        detail.push(format!("expected {}; up: {}", r.expected, r.seen));
        detail.extend(r.notes.iter().cloned());
        report::record(&Case {
            scenario,
            case: r.case.clone(),
            fault: r.fault.clone(),
            class,
            passed,
            left_behind: left.clone(),
            detail: detail.join(" | "),
        });
        if !r.problems.is_empty() {
            failures.push(format!("{}: {}", r.case, r.problems.join(" | ")));
        }
    }
    assert!(
        left.is_empty(),
        "down after the {scenario} matrix left: {left}"
    );
    assert!(
        failures.is_empty(),
        "{} of {} {scenario} cases failed:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deleted_out_of_band_matrix() {
    let emu = Emulator::start();
    let mut b = Bench::start(&emu, "drift-del").await;
    let mut nodes: Vec<String> = b
        .graph
        .order
        .iter()
        .filter(|n| b.graph.owned.contains(*n))
        .cloned()
        .collect();
    // Plan order, except that `service` comes right after `cluster`: the cluster case creates the service, so the
    // service case then deletes a service that still runs the task definition revision it was created with — the
    // case in which a create token derived only from the stack and that revision would repeat the first one.
    if let (Some(c), Some(s)) = (
        nodes.iter().position(|n| n == "cluster"),
        nodes.iter().position(|n| n == "service"),
    ) && s > c + 1
    {
        let service = nodes.remove(s);
        nodes.insert(c + 1, service);
    }
    assert!(
        nodes.len() >= 28,
        "the plan has {} owned nodes: {nodes:?}",
        nodes.len()
    );
    let mut results = Vec::new();
    for node in &nodes {
        let mut o = Outcome {
            case: node.clone(),
            fault: String::new(),
            expected: String::new(),
            seen: "-".into(),
            problems: Vec::new(),
            notes: Vec::new(),
        };
        match delete_out_of_band(&b, node).await {
            Err(e) => {
                o.fault = format!("out-of-band delete of {node}");
                o.problems
                    .push(format!("the out-of-band delete failed: {e}"));
            }
            Ok(f) => {
                o.fault = f.words.clone();
                let mut roots = f.deleted.clone();
                roots.extend(f.modified.iter().cloned());
                let mut allowed = b.graph.dependents(&roots);
                allowed.extend(f.modified.iter().cloned());
                allowed.retain(|n| !f.deleted.contains(n));
                o.expected = format!(
                    "create {}{}",
                    list(&f.deleted),
                    if allowed.is_empty() {
                        String::new()
                    } else {
                        format!("; may change {}", list(&allowed))
                    }
                );
                check_repair(
                    &b,
                    &Expect {
                        missing: &f.deleted,
                        allowed: &allowed,
                        drift: &[],
                        changed: None,
                        ops: None,
                    },
                    &mut o,
                )
                .await;
            }
        }
        if !o.problems.is_empty() {
            let how = b.recover().await;
            o.notes.push(how);
        }
        eprintln!(
            "drift delete {node}: {} — up: {}",
            if o.problems.is_empty() {
                "passed".to_owned()
            } else {
                format!("FAILED: {}", o.problems.join(" / "))
            },
            o.seen
        );
        results.push(o);
    }
    finish(
        &mut b,
        "drift: deleted out of band",
        "one owned resource (and what AWS requires first) deleted with the SDK",
        results,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------------------------
// The property matrix.
// ---------------------------------------------------------------------------------------------------------------

struct Change {
    case: &'static str,
    /// (node, attribute substring) status must report.
    drift: Vec<(&'static str, &'static str)>,
    /// Nodes the change itself touched besides the drifted one (e.g. the service pointed at a new revision).
    touched: Vec<&'static str>,
    /// The nodes `up` must update.
    updated: Vec<&'static str>,
    /// The mutating calls `up` must make, sorted.
    ops: Vec<&'static str>,
}

fn ingress(port: i32, cidr: Option<&str>, group: Option<&str>) -> aws_sdk_ec2::types::IpPermission {
    let mut p = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port);
    if let Some(c) = cidr {
        p = p.ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip(c).build());
    }
    if let Some(g) = group {
        p = p.user_id_group_pairs(
            aws_sdk_ec2::types::UserIdGroupPair::builder()
                .group_id(g)
                .build(),
        );
    }
    p.build()
}

/// Registers a new revision of the stack's task definition with `edit` applied to its container, and points the
/// service at it — what deploying another image or setting from the ECS console does.
async fn register_edited_revision(
    b: &Bench<'_>,
    edit: impl FnOnce(
        aws_sdk_ecs::types::builders::ContainerDefinitionBuilder,
    ) -> aws_sdk_ecs::types::builders::ContainerDefinitionBuilder,
) -> Result<String, String> {
    let ecs = &b.aws.ecs;
    let current = ecs
        .describe_task_definition()
        .task_definition(b.id("task-definition", "arn"))
        .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
        .send()
        .await
        .map_err(sdk("DescribeTaskDefinition"))?;
    let td = current.task_definition().ok_or("no task definition")?;
    let c = td
        .container_definitions()
        .first()
        .ok_or("no container")?
        .clone();
    let container = edit(
        aws_sdk_ecs::types::ContainerDefinition::builder()
            .set_name(c.name().map(str::to_owned))
            .set_image(c.image().map(str::to_owned))
            .set_essential(c.essential())
            .set_port_mappings(Some(c.port_mappings().to_vec()))
            .set_environment(Some(c.environment().to_vec()))
            .set_secrets(Some(c.secrets().to_vec()))
            .set_log_configuration(c.log_configuration().cloned()),
    )
    .build();
    // The other containers (the credentials proxy) as they are.
    let mut containers = vec![container];
    containers.extend(td.container_definitions().iter().skip(1).cloned());
    let out = ecs
        .register_task_definition()
        .family(td.family().unwrap_or_default())
        .set_requires_compatibilities(Some(td.requires_compatibilities().to_vec()))
        .set_network_mode(td.network_mode().cloned())
        .set_cpu(td.cpu().map(str::to_owned))
        .set_memory(td.memory().map(str::to_owned))
        .set_runtime_platform(td.runtime_platform().cloned())
        .set_execution_role_arn(td.execution_role_arn().map(str::to_owned))
        .set_task_role_arn(td.task_role_arn().map(str::to_owned))
        .set_container_definitions(Some(containers))
        .set_tags(Some(current.tags().to_vec()))
        .send()
        .await
        .map_err(sdk("RegisterTaskDefinition"))?;
    let arn = out
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .ok_or("no ARN")?
        .to_owned();
    ecs.update_service()
        .cluster(b.id("service", "cluster_name"))
        .service(b.id("service", "service_name"))
        .task_definition(&arn)
        .send()
        .await
        .map_err(sdk("UpdateService"))?;
    Ok(arn)
}

/// Updates the gateway out of band with its current configuration passed through `edit`.
async fn update_gateway(
    b: &Bench<'_>,
    edit: impl FnOnce(
        aws_sdk_bedrockagentcorecontrol::operation::update_gateway::builders::UpdateGatewayFluentBuilder,
        &aws_sdk_bedrockagentcorecontrol::operation::get_gateway::GetGatewayOutput,
    ) -> aws_sdk_bedrockagentcorecontrol::operation::update_gateway::builders::UpdateGatewayFluentBuilder,
) -> Result<(), String> {
    let id = b.id("gateway", "gateway_id");
    let g = b
        .aws
        .ac
        .get_gateway()
        .gateway_identifier(&id)
        .send()
        .await
        .map_err(sdk("GetGateway"))?;
    let req = b
        .aws
        .ac
        .update_gateway()
        .gateway_identifier(&id)
        .name(g.name())
        .set_role_arn(g.role_arn().map(str::to_owned))
        .protocol_type(g.protocol_type().clone())
        .set_protocol_configuration(g.protocol_configuration().cloned())
        .authorizer_type(g.authorizer_type().clone())
        .set_authorizer_configuration(g.authorizer_configuration().cloned())
        .set_interceptor_configurations(Some(g.interceptor_configurations().to_vec()))
        .set_policy_engine_configuration(g.policy_engine_configuration().cloned());
    edit(req, &g).send().await.map_err(sdk("UpdateGateway"))?;
    Ok(())
}

/// Makes one out-of-band change; returns it in words.
async fn change_out_of_band(b: &Bench<'_>, case: &str) -> Result<String, String> {
    let aws = &b.aws;
    Ok(match case {
        "alb-sg: ingress rules" => {
            let sg = b.id("alb-sg", "group_id");
            aws.ec2
                .revoke_security_group_ingress()
                .group_id(&sg)
                .ip_permissions(ingress(443, Some("0.0.0.0/0"), None))
                .send()
                .await
                .map_err(sdk("RevokeSecurityGroupIngress"))?;
            aws.ec2
                .authorize_security_group_ingress()
                .group_id(&sg)
                .ip_permissions(ingress(80, Some("0.0.0.0/0"), None))
                .send()
                .await
                .map_err(sdk("AuthorizeSecurityGroupIngress"))?;
            "alb-sg: ingress tcp/443 from 0.0.0.0/0 revoked, tcp/80 from 0.0.0.0/0 authorized"
                .into()
        }
        "task-sg: ingress rules" => {
            let sg = b.id("task-sg", "group_id");
            let alb = b.id("alb-sg", "group_id");
            aws.ec2
                .revoke_security_group_ingress()
                .group_id(&sg)
                .ip_permissions(ingress(8080, None, Some(&alb)))
                .send()
                .await
                .map_err(sdk("RevokeSecurityGroupIngress"))?;
            aws.ec2
                .authorize_security_group_ingress()
                .group_id(&sg)
                .ip_permissions(ingress(22, Some("10.0.0.0/16"), None))
                .send()
                .await
                .map_err(sdk("AuthorizeSecurityGroupIngress"))?;
            "task-sg: ingress tcp/8080 from the ALB's group revoked, tcp/22 from 10.0.0.0/16 authorized".into()
        }
        "task-definition: image" => {
            let arn = register_edited_revision(b, |c| c.image("mcp/neo4j:tampered")).await?;
            format!(
                "a new revision with image mcp/neo4j:tampered registered and the service pointed at it ({arn})"
            )
        }
        "task-definition: environment" => {
            let arn = register_edited_revision(b, |c| {
                let env: Vec<aws_sdk_ecs::types::KeyValuePair> = c
                    .get_environment()
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|kv| {
                        if kv.name() == Some("NEO4J_READ_ONLY") {
                            aws_sdk_ecs::types::KeyValuePair::builder()
                                .name("NEO4J_READ_ONLY")
                                .value("false")
                                .build()
                        } else {
                            kv
                        }
                    })
                    .collect();
                c.set_environment(Some(env))
            })
            .await?;
            format!(
                "a new revision with NEO4J_READ_ONLY=false registered and the service pointed at it ({arn})"
            )
        }
        "listener: certificate" => {
            let other = certificate(&aws.sdk, &[&format!("*.{DOMAIN}")]).await;
            aws.elb
                .modify_listener()
                .listener_arn(b.id("listener", "arn"))
                .certificates(
                    aws_sdk_elasticloadbalancingv2::types::Certificate::builder()
                        .certificate_arn(&other)
                        .build(),
                )
                .send()
                .await
                .map_err(sdk("ModifyListener"))?;
            format!("the listener's certificate set to another imported one ({other})")
        }
        "dns-record: target" => {
            let zone = b.id("dns-record", "hosted_zone_id");
            let set = aws_sdk_route53::types::ResourceRecordSet::builder()
                .name(fqdn())
                .r#type(aws_sdk_route53::types::RrType::A)
                .alias_target(
                    aws_sdk_route53::types::AliasTarget::builder()
                        .dns_name("elsewhere-1234567890.us-east-1.elb.amazonaws.com")
                        .hosted_zone_id(b.id("load-balancer", "canonical_hosted_zone_id"))
                        .evaluate_target_health(true)
                        .build()
                        .map_err(|e| e.to_string())?,
                )
                .build()
                .map_err(|e| e.to_string())?;
            change_record(b, &zone, aws_sdk_route53::types::ChangeAction::Upsert, set).await?;
            "the alias record UPSERTed to point at another load balancer".into()
        }
        "gateway: authorizer" => {
            update_gateway(b, |req, g| {
                let jwt = aws_sdk_bedrockagentcorecontrol::types::CustomJwtAuthorizerConfiguration::builder()
                    .discovery_url(
                        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_elsewhere/.well-known/openid-configuration",
                    )
                    .allowed_clients("someone-else")
                    .set_allowed_scopes(
                        g.authorizer_configuration()
                            .and_then(|a| a.as_custom_jwt_authorizer().ok())
                            .map(|j| j.allowed_scopes().to_vec()),
                    )
                    .build()
                    .expect("jwt");
                req.authorizer_configuration(
                    aws_sdk_bedrockagentcorecontrol::types::AuthorizerConfiguration::CustomJwtAuthorizer(jwt),
                )
            })
            .await?;
            "UpdateGateway with another discovery URL and allowed client".into()
        }
        "gateway: interceptor" => {
            update_gateway(b, |req, _| req.set_interceptor_configurations(Some(vec![]))).await?;
            "UpdateGateway without the interceptor".into()
        }
        "gateway: policy engine" => {
            update_gateway(b, |req, g| {
                let engine = g.policy_engine_configuration().expect("the gateway's policy engine");
                req.policy_engine_configuration(
                    aws_sdk_bedrockagentcorecontrol::types::GatewayPolicyEngineConfiguration::builder()
                        .arn(engine.arn())
                        .mode(aws_sdk_bedrockagentcorecontrol::types::GatewayPolicyEngineMode::LogOnly)
                        .build()
                        .expect("policy engine configuration"),
                )
            })
            .await?;
            "UpdateGateway with the policy engine in LOG_ONLY mode (decisions logged, not enforced)"
                .into()
        }
        "policy-read: statement" => {
            let statement = format!(
                "permit(principal, action, resource == AgentCore::Gateway::\"{}\");",
                b.id("gateway", "arn")
            );
            aws.ac
                .update_policy()
                .policy_engine_id(b.id("policy-read", "policy_engine_id"))
                .policy_id(b.id("policy-read", "policy_id"))
                .definition(
                    aws_sdk_bedrockagentcorecontrol::types::PolicyDefinition::Cedar(
                        aws_sdk_bedrockagentcorecontrol::types::CedarPolicy::builder()
                            .statement(statement)
                            .build()
                            .map_err(|e| e.to_string())?,
                    ),
                )
                .validation_mode(
                    aws_sdk_bedrockagentcorecontrol::types::PolicyValidationMode::IgnoreAllFindings,
                )
                .send()
                .await
                .map_err(sdk("UpdatePolicy"))?;
            "UpdatePolicy of read_access to permit every tool to every caller".into()
        }
        "gateway-target: endpoint" => {
            let t = aws
                .ac
                .get_gateway_target()
                .gateway_identifier(b.id("gateway-target", "gateway_id"))
                .target_id(b.id("gateway-target", "target_id"))
                .send()
                .await
                .map_err(sdk("GetGatewayTarget"))?;
            let server =
                aws_sdk_bedrockagentcorecontrol::types::McpServerTargetConfiguration::builder()
                    .endpoint("https://elsewhere.example.com/mcp")
                    .build()
                    .map_err(|e| e.to_string())?;
            aws.ac
                .update_gateway_target()
                .gateway_identifier(b.id("gateway-target", "gateway_id"))
                .target_id(b.id("gateway-target", "target_id"))
                .name(t.name())
                .target_configuration(
                    aws_sdk_bedrockagentcorecontrol::types::TargetConfiguration::Mcp(
                        aws_sdk_bedrockagentcorecontrol::types::McpTargetConfiguration::McpServer(
                            server,
                        ),
                    ),
                )
                .send()
                .await
                .map_err(sdk("UpdateGatewayTarget"))?;
            "UpdateGatewayTarget with the endpoint https://elsewhere.example.com/mcp".into()
        }
        "origin-key: key source" => {
            // The provider made to hold a key of its own instead of reading the origin secret.
            aws.ac
                .update_api_key_credential_provider()
                .name(b.id("origin-key", "name"))
                .api_key("not-the-origin-value")
                .api_key_secret_source(
                    aws_sdk_bedrockagentcorecontrol::types::SecretSourceType::Managed,
                )
                .send()
                .await
                .map_err(sdk("UpdateApiKeyCredentialProvider"))?;
            "UpdateApiKeyCredentialProvider with a MANAGED key of its own".into()
        }
        "interceptor-function: code" => {
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            zip.start_file("interceptor.py", zip::write::SimpleFileOptions::default())
                .map_err(|e| e.to_string())?;
            zip.write_all(b"def handler(event, context):\n    return {}\n")
                .map_err(|e| e.to_string())?;
            let bytes = zip.finish().map_err(|e| e.to_string())?.into_inner();
            aws.lambda
                .update_function_code()
                .function_name(b.id("interceptor-function", "name"))
                .zip_file(aws_sdk_lambda::primitives::Blob::new(bytes))
                .send()
                .await
                .map_err(sdk("UpdateFunctionCode"))?;
            "UpdateFunctionCode with other bytes".into()
        }
        other => return Err(format!("no out-of-band change {other}")),
    })
}

fn changes() -> Vec<Change> {
    vec![
        Change {
            case: "alb-sg: ingress rules",
            drift: vec![
                ("alb-sg", "ingress:tcp/443 from 0.0.0.0/0"),
                ("alb-sg", "ingress:tcp/80 from 0.0.0.0/0"),
            ],
            touched: vec![],
            updated: vec!["alb-sg"],
            ops: vec![
                "AuthorizeSecurityGroupIngress",
                "RevokeSecurityGroupIngress",
            ],
        },
        Change {
            case: "task-sg: ingress rules",
            drift: vec![
                ("task-sg", "ingress:tcp/8080 from sg-"),
                ("task-sg", "ingress:tcp/22 from 10.0.0.0/16"),
            ],
            touched: vec![],
            updated: vec!["task-sg"],
            ops: vec![
                "AuthorizeSecurityGroupIngress",
                "RevokeSecurityGroupIngress",
            ],
        },
        Change {
            case: "task-definition: image",
            drift: vec![("task-definition", "image")],
            touched: vec!["service"],
            updated: vec!["task-definition", "service"],
            ops: vec!["RegisterTaskDefinition", "UpdateService"],
        },
        Change {
            case: "task-definition: environment",
            drift: vec![("task-definition", "environment")],
            touched: vec!["service"],
            updated: vec!["task-definition", "service"],
            ops: vec!["RegisterTaskDefinition", "UpdateService"],
        },
        Change {
            case: "listener: certificate",
            drift: vec![("listener", "certificate")],
            touched: vec![],
            updated: vec!["listener"],
            ops: vec!["ModifyListener"],
        },
        Change {
            case: "dns-record: target",
            drift: vec![("dns-record", "alias_target")],
            touched: vec![],
            updated: vec!["dns-record"],
            ops: vec!["ChangeResourceRecordSets"],
        },
        Change {
            case: "gateway: authorizer",
            drift: vec![
                ("gateway", "authorizer.discovery_url"),
                ("gateway", "authorizer.allowed_clients"),
            ],
            touched: vec![],
            updated: vec!["gateway"],
            ops: vec!["UpdateGateway"],
        },
        Change {
            case: "gateway: interceptor",
            drift: vec![("gateway", "interceptor")],
            touched: vec![],
            updated: vec!["gateway"],
            ops: vec!["UpdateGateway"],
        },
        Change {
            case: "gateway: policy engine",
            drift: vec![("gateway", "policy_engine")],
            touched: vec![],
            updated: vec!["gateway"],
            ops: vec!["UpdateGateway"],
        },
        Change {
            case: "policy-read: statement",
            drift: vec![("policy-read", "statement")],
            touched: vec![],
            updated: vec!["policy-read"],
            ops: vec!["UpdatePolicy"],
        },
        Change {
            case: "gateway-target: endpoint",
            drift: vec![("gateway-target", "endpoint")],
            touched: vec![],
            updated: vec!["gateway-target"],
            ops: vec!["UpdateGatewayTarget"],
        },
        Change {
            case: "origin-key: key source",
            drift: vec![("origin-key", "key_source"), ("origin-key", "key_secret")],
            touched: vec![],
            updated: vec!["origin-key"],
            ops: vec!["UpdateApiKeyCredentialProvider"],
        },
        Change {
            case: "interceptor-function: code",
            drift: vec![("interceptor-function", "code_sha256")],
            touched: vec![],
            updated: vec!["interceptor-function"],
            ops: vec!["UpdateFunctionCode"],
        },
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_out_of_band_matrix() {
    let emu = Emulator::start();
    let mut b = Bench::start(&emu, "drift-chg").await;
    let mut results = Vec::new();
    for c in changes() {
        let mut o = Outcome {
            case: c.case.to_owned(),
            fault: String::new(),
            expected: String::new(),
            seen: "-".into(),
            problems: Vec::new(),
            notes: Vec::new(),
        };
        match change_out_of_band(&b, c.case).await {
            Err(e) => {
                o.fault = c.case.to_owned();
                o.problems
                    .push(format!("the out-of-band change failed: {e}"));
            }
            Ok(words) => {
                o.fault = words;
                let drifted: Set = c.drift.iter().map(|(n, _)| (*n).to_owned()).collect();
                let mut touched = drifted.clone();
                touched.extend(c.touched.iter().map(|n| (*n).to_owned()));
                let mut allowed = b.graph.dependents(&touched);
                allowed.extend(touched.iter().cloned());
                let updated = set(c.updated.iter().copied());
                o.expected = format!(
                    "drifted {}; update {}; calls {}",
                    c.drift
                        .iter()
                        .map(|(n, a)| format!("{n}.{a}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    list(&updated),
                    c.ops.join(", ")
                );
                check_repair(
                    &b,
                    &Expect {
                        missing: &Set::new(),
                        allowed: &allowed,
                        drift: &c.drift,
                        changed: Some(&updated),
                        ops: Some(&c.ops),
                    },
                    &mut o,
                )
                .await;
            }
        }
        if !o.problems.is_empty() {
            let how = b.recover().await;
            o.notes.push(how);
        }
        eprintln!(
            "drift change {}: {} — up: {}",
            c.case,
            if o.problems.is_empty() {
                "passed".to_owned()
            } else {
                format!("FAILED: {}", o.problems.join(" / "))
            },
            o.seen
        );
        results.push(o);
    }
    finish(
        &mut b,
        "drift: changed out of band",
        "one property changed with the SDK",
        results,
    )
    .await;
}
