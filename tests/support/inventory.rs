//! Counts every resource of a stack in the emulator, per kind, by tag AND by name — the one place that knows
//! how to find each kind of the stack (each service's list and describe calls, as the SDK models them).
//!
//! A resource belongs to stack S when it carries the tag `neo4j-gw:stack = S`, or when its name is derived
//! from S (`S-…`, a path segment `S`, or the DNS record of the stack's FQDN) — so an untagged duplicate is
//! counted too. Kinds not deployed (yet) simply find nothing. Kind names are the `Resource::kind()` strings,
//! so the inventory can be compared with the state file: [`check_state`]; every kind the plan owns must be in
//! [`KINDS`] (checked by this module's unit test against `neo4j_gw::plan`, without an emulator).
//!
//! Caveat: name matching is by prefix `S-`; tests that share one emulator use stack names that are not
//! prefixes of each other.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

pub use neo4j_gw::resources::{TAG_RESOURCE, TAG_STACK};

/// One live resource of the stack.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Item {
    pub kind: &'static str,
    /// The value the state file records under the kind's [`primary_key`].
    pub id: String,
    pub name: String,
    /// Carries `neo4j-gw:stack = <stack>` (false for kinds AWS cannot tag, and for untagged duplicates).
    pub tagged: bool,
    /// The `neo4j-gw:resource` tag (the plan node), when tagged.
    pub node: Option<String>,
}

/// Every kind the inventory knows (a `Resource::kind()` of the plan), with the ID key the state file records for it.
/// A new kind of the plan gets one entry here and its look-up in the function of its service below.
pub const KINDS: &[(&str, &str)] = &[
    ("ec2:vpc", "vpc_id"),
    ("ec2:subnet", "subnet_id"),
    ("ec2:internet-gateway", "internet_gateway_id"),
    ("ec2:route-table", "route_table_id"),
    ("ec2:security-group", "group_id"),
    ("logs:log-group", "name"),
    ("iam:role", "role_name"),
    ("secretsmanager:secret", "arn"),
    ("ecs:cluster", "arn"),
    ("ecs:task-definition", "arn"),
    ("ecs:service", "arn"),
    ("elbv2:target-group", "arn"),
    ("elbv2:load-balancer", "arn"),
    ("elbv2:listener", "arn"),
    ("elbv2:listener-rule", "arn"),
    ("route53:record", "fqdn"),
    ("cognito:user-pool", "user_pool_id"),
    ("cognito:user-pool-domain", "domain"),
    ("cognito:resource-server", "identifier"),
    ("cognito:app-client", "client_id"),
    ("lambda:function", "name"),
    ("agentcore:gateway", "gateway_id"),
    ("agentcore:gateway-target", "target_id"),
    ("agentcore:api-key-credential-provider", "arn"),
    ("agentcore:policy-engine", "policy_engine_id"),
    ("agentcore:policy", "policy_id"),
    ("logs:delivery", "delivery_id"),
];

/// The stack's lease (src/lease.rs): a Secrets Manager secret that is not a plan node and not in the state file. It
/// lives from the first `up` to the end of the last `down`; [`check_state`] allows at most one.
pub const LEASE_KIND: &str = "neo4j-gw:lease";

pub use neo4j_gw::lease::name as lease_name;

pub fn primary_key(kind: &str) -> Option<&'static str> {
    KINDS.iter().find(|(k, _)| *k == kind).map(|(_, key)| *key)
}

/// What identifies one stack in a shared emulator.
#[derive(Debug, Clone)]
pub struct Scope {
    pub stack: String,
    /// `<subdomain>.<domain>` of the stack's DNS record.
    pub fqdn: String,
    pub account: String,
    pub region: String,
}

impl Scope {
    pub fn new(stack: &str, fqdn: &str) -> Scope {
        Scope {
            stack: stack.to_owned(),
            fqdn: fqdn.trim_end_matches('.').to_owned(),
            account: "123456789012".to_owned(),
            region: super::REGION.to_owned(),
        }
    }

    fn named(&self, name: &str) -> bool {
        let prefix = format!("{}-", self.stack);
        name.starts_with(&prefix)
            || name
                .split('/')
                .any(|seg| seg == self.stack || seg.starts_with(&prefix))
    }

    fn tagged<'a>(
        &self,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> (bool, Option<String>) {
        let mut stack = false;
        let mut node = None;
        for (k, v) in tags {
            if k == TAG_STACK && v == self.stack {
                stack = true;
            }
            if k == TAG_RESOURCE {
                node = Some(v.to_owned());
            }
        }
        (stack, if stack { node } else { None })
    }
}

fn item(
    kind: &'static str,
    id: impl Into<String>,
    name: impl Into<String>,
    tagged: (bool, Option<String>),
) -> Item {
    Item {
        kind,
        id: id.into(),
        name: name.into(),
        tagged: tagged.0,
        node: tagged.1,
    }
}

/// Every resource of the stack in the emulator, sorted.
pub async fn inventory(sdk: &aws_config::SdkConfig, scope: &Scope) -> Vec<Item> {
    let mut out = Vec::new();
    out.extend(ec2(sdk, scope).await);
    out.extend(logs(sdk, scope).await);
    out.extend(iam(sdk, scope).await);
    out.extend(secrets(sdk, scope).await);
    out.extend(ecs(sdk, scope).await);
    out.extend(elb(sdk, scope).await);
    out.extend(route53(sdk, scope).await);
    out.extend(cognito(sdk, scope).await);
    out.extend(lambda(sdk, scope).await);
    out.extend(agentcore(sdk, scope).await);
    out.sort();
    out
}

/// Items per kind.
pub fn count_by_kind(items: &[Item]) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for i in items {
        *m.entry(i.kind).or_default() += 1;
    }
    m
}

/// One line per item, for assertion messages and the reliability report.
pub fn describe(items: &[Item]) -> String {
    items
        .iter()
        .map(|i| {
            format!(
                "{} {} ({}{})",
                i.kind,
                i.id,
                i.name,
                if i.tagged { "" } else { ", untagged" }
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Checks the emulator against the state file of a completed `up`: per kind, exactly as many live resources
/// as the state has owned nodes of that kind (so exactly one per node — no duplicate, tagged or not), and
/// every recorded primary ID is live. Returns the problems (empty = consistent).
pub fn check_state(items: &[Item], state: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    let resources = state["resources"].as_object().cloned().unwrap_or_default();
    for (node, rec) in &resources {
        if rec["owned"].as_bool() != Some(true) {
            continue;
        }
        let kind = rec["kind"].as_str().unwrap_or("?");
        *expected.entry(kind.to_owned()).or_default() += 1;
        if rec["status"].as_str() != Some("ready") {
            problems.push(format!(
                "{node}: status {} in the state file",
                rec["status"]
            ));
        }
        let Some(key) = primary_key(kind) else {
            problems.push(format!(
                "{node}: kind {kind} unknown to tests/support/inventory.rs — extend KINDS and the per-service functions"
            ));
            continue;
        };
        match rec["ids"][key].as_str() {
            None => problems.push(format!("{node}: no `{key}` recorded")),
            Some(id) => {
                if !items.iter().any(|i| i.kind == kind && i.id == id) {
                    problems.push(format!("{node}: recorded {key} {id} does not exist"));
                }
            }
        }
    }
    let mut actual = count_by_kind(items);
    if actual.remove(LEASE_KIND).is_some_and(|n| n > 1) {
        problems.push(format!("{LEASE_KIND}: more than one lease"));
    }
    let kinds: BTreeSet<&str> = expected
        .keys()
        .map(String::as_str)
        .chain(actual.keys().copied())
        .collect();
    for kind in kinds {
        let want = expected.get(kind).copied().unwrap_or(0);
        let have = actual.get(kind).copied().unwrap_or(0);
        if want != have {
            let these: Vec<Item> = items.iter().filter(|i| i.kind == kind).cloned().collect();
            problems.push(format!(
                "{kind}: {have} live, {want} in the state file: {}",
                describe(&these)
            ));
        }
    }
    problems
}

fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> Vec<(&str, &str)> {
    tags.iter()
        .map(|t| (t.key().unwrap_or(""), t.value().unwrap_or("")))
        .collect()
}

fn ec2_name(tags: &[aws_sdk_ec2::types::Tag]) -> String {
    tags.iter()
        .find(|t| t.key() == Some("Name"))
        .and_then(|t| t.value())
        .unwrap_or("")
        .to_owned()
}

async fn ec2(sdk: &aws_config::SdkConfig, scope: &Scope) -> Vec<Item> {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let mut out = Vec::new();
    let keep = |tags: &[aws_sdk_ec2::types::Tag], extra_name: &str| {
        let t = scope.tagged(ec2_tags(tags));
        let name = ec2_name(tags);
        (t.0 || scope.named(&name) || scope.named(extra_name)).then_some((t, name))
    };
    for v in ec2
        .describe_vpcs()
        .send()
        .await
        .expect("DescribeVpcs")
        .vpcs()
    {
        if let Some((t, name)) = keep(v.tags(), "") {
            out.push(item("ec2:vpc", v.vpc_id().unwrap_or(""), name, t));
        }
    }
    for s in ec2
        .describe_subnets()
        .send()
        .await
        .expect("DescribeSubnets")
        .subnets()
    {
        if let Some((t, name)) = keep(s.tags(), "") {
            out.push(item("ec2:subnet", s.subnet_id().unwrap_or(""), name, t));
        }
    }
    for g in ec2
        .describe_internet_gateways()
        .send()
        .await
        .expect("DescribeInternetGateways")
        .internet_gateways()
    {
        if let Some((t, name)) = keep(g.tags(), "") {
            out.push(item(
                "ec2:internet-gateway",
                g.internet_gateway_id().unwrap_or(""),
                name,
                t,
            ));
        }
    }
    for r in ec2
        .describe_route_tables()
        .send()
        .await
        .expect("DescribeRouteTables")
        .route_tables()
    {
        if let Some((t, name)) = keep(r.tags(), "") {
            out.push(item(
                "ec2:route-table",
                r.route_table_id().unwrap_or(""),
                name,
                t,
            ));
        }
    }
    for g in ec2
        .describe_security_groups()
        .send()
        .await
        .expect("DescribeSecurityGroups")
        .security_groups()
    {
        if let Some((t, _)) = keep(g.tags(), g.group_name().unwrap_or("")) {
            out.push(item(
                "ec2:security-group",
                g.group_id().unwrap_or(""),
                g.group_name().unwrap_or(""),
                t,
            ));
        }
    }
    out
}

async fn logs(sdk: &aws_config::SdkConfig, scope: &Scope) -> Vec<Item> {
    let logs = aws_sdk_cloudwatchlogs::Client::new(sdk);
    let mut out = Vec::new();
    let groups = logs
        .describe_log_groups()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("DescribeLogGroups");
    for g in groups {
        let name = g.log_group_name().unwrap_or("").to_owned();
        #[allow(deprecated)]
        let tags = logs
            .list_tags_log_group()
            .log_group_name(&name)
            .send()
            .await
            .ok()
            .and_then(|t| t.tags)
            .unwrap_or_default();
        let t = scope.tagged(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if t.0 || scope.named(&name) {
            out.push(item("logs:log-group", name.clone(), name, t));
        }
    }
    out.extend(deliveries(&logs, scope).await);
    out
}

/// CloudWatch Logs deliveries of the stack (kind `logs:delivery`, one node): each delivery whose source is the
/// stack's counts once; a delivery source or destination of the stack that no such delivery pairs (a half-made or
/// half-deleted node) counts as an item of its own, so that `down` leaving one behind is seen.
async fn deliveries(logs: &aws_sdk_cloudwatchlogs::Client, scope: &Scope) -> Vec<Item> {
    let mut out = Vec::new();
    let ours = |name: &str, tags: Option<&std::collections::HashMap<String, String>>| {
        let t = scope.tagged(
            tags.into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        (t.0 || scope.named(name)).then_some(t)
    };
    let sources = logs
        .describe_delivery_sources()
        .send()
        .await
        .expect("DescribeDeliverySources");
    let destinations = logs
        .describe_delivery_destinations()
        .send()
        .await
        .expect("DescribeDeliveryDestinations");
    let delivered = logs
        .describe_deliveries()
        .send()
        .await
        .expect("DescribeDeliveries");
    let mut paired_sources = BTreeSet::new();
    let mut paired_destinations = BTreeSet::new();
    for d in delivered.deliveries() {
        let source = d.delivery_source_name().unwrap_or_default();
        let Some(t) = ours(source, d.tags()).or_else(|| {
            sources
                .delivery_sources()
                .iter()
                .find(|s| s.name() == Some(source))
                .and_then(|s| ours(source, s.tags()))
        }) else {
            continue;
        };
        paired_sources.insert(source.to_owned());
        paired_destinations.insert(d.delivery_destination_arn().unwrap_or_default().to_owned());
        out.push(item("logs:delivery", d.id().unwrap_or_default(), source, t));
    }
    for s in sources.delivery_sources() {
        let name = s.name().unwrap_or_default();
        if let Some(t) = ours(name, s.tags())
            && !paired_sources.contains(name)
        {
            out.push(item(
                "logs:delivery",
                format!("delivery-source:{name}"),
                name,
                t,
            ));
        }
    }
    for d in destinations.delivery_destinations() {
        let name = d.name().unwrap_or_default();
        if let Some(t) = ours(name, d.tags())
            && !paired_destinations.contains(d.arn().unwrap_or_default())
        {
            out.push(item(
                "logs:delivery",
                format!("delivery-destination:{name}"),
                name,
                t,
            ));
        }
    }
    out
}

async fn iam(sdk: &aws_config::SdkConfig, scope: &Scope) -> Vec<Item> {
    let iam = aws_sdk_iam::Client::new(sdk);
    let mut out = Vec::new();
    let roles = iam
        .list_roles()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("ListRoles");
    for r in roles {
        let name = r.role_name().to_owned();
        let tags = iam
            .list_role_tags()
            .role_name(&name)
            .send()
            .await
            .map(|t| t.tags)
            .unwrap_or_default();
        let t = scope.tagged(tags.iter().map(|t| (t.key(), t.value())));
        if t.0 || scope.named(&name) {
            out.push(item("iam:role", name.clone(), name, t));
        }
    }
    out
}

async fn secrets(sdk: &aws_config::SdkConfig, scope: &Scope) -> Vec<Item> {
    let sm = aws_sdk_secretsmanager::Client::new(sdk);
    let mut out = Vec::new();
    // Secrets scheduled for deletion count too: they still hold the name.
    let list = sm
        .list_secrets()
        .include_planned_deletion(true)
        .max_results(100)
        .send()
        .await
        .expect("ListSecrets")
        .secret_list
        .unwrap_or_default();
    for s in list {
        let name = s.name().unwrap_or("").to_owned();
        let t = scope.tagged(
            s.tags()
                .iter()
                .map(|t| (t.key().unwrap_or(""), t.value().unwrap_or(""))),
        );
        if t.0 || scope.named(&name) {
            out.push(item(
                if name == lease_name(&scope.stack) {
                    LEASE_KIND
                } else {
                    "secretsmanager:secret"
                },
                s.arn().unwrap_or(""),
                name,
                t,
            ));
        }
    }
    out
}

async fn ecs(sdk: &aws_config::SdkConfig, scope: &Scope) -> Vec<Item> {
    use aws_sdk_ecs::types::{ServiceField, TaskDefinitionField, TaskDefinitionStatus};
    let ecs = aws_sdk_ecs::Client::new(sdk);
    let mut out = Vec::new();
    let tags_of = |arn: String| {
        let ecs = ecs.clone();
        async move {
            ecs.list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .map(|t| t.tags.unwrap_or_default())
                .unwrap_or_default()
        }
    };
    let cluster_arns = ecs
        .list_clusters()
        .send()
        .await
        .expect("ListClusters")
        .cluster_arns
        .unwrap_or_default();
    for arn in cluster_arns {
        let d = ecs
            .describe_clusters()
            .clusters(&arn)
            .send()
            .await
            .expect("DescribeClusters");
        let Some(c) = d.clusters().first() else {
            continue;
        };
        if c.status() != Some("ACTIVE") {
            continue;
        }
        let name = c.cluster_name().unwrap_or("").to_owned();
        let tags = tags_of(arn.clone()).await;
        let t = scope.tagged(
            tags.iter()
                .map(|t| (t.key().unwrap_or(""), t.value().unwrap_or(""))),
        );
        let ours = t.0 || scope.named(&name);
        if ours {
            out.push(item("ecs:cluster", arn.clone(), name, t));
        }
        // Services of every cluster (ours or not: a service is ours by its own tag or name).
        let services = ecs
            .list_services()
            .cluster(&arn)
            .send()
            .await
            .map(|s| s.service_arns.unwrap_or_default())
            .unwrap_or_default();
        for chunk in services.chunks(10) {
            let d = ecs
                .describe_services()
                .cluster(&arn)
                .set_services(Some(chunk.to_vec()))
                .include(ServiceField::Tags)
                .send()
                .await
                .expect("DescribeServices");
            for s in d.services() {
                if s.status() == Some("INACTIVE") {
                    continue;
                }
                let name = s.service_name().unwrap_or("").to_owned();
                let t = scope.tagged(
                    s.tags()
                        .iter()
                        .map(|t| (t.key().unwrap_or(""), t.value().unwrap_or(""))),
                );
                if t.0 || scope.named(&name) {
                    out.push(item("ecs:service", s.service_arn().unwrap_or(""), name, t));
                }
            }
        }
    }
    // Task definitions: every ACTIVE revision counts (a duplicate registration is a second revision).
    let arns = ecs
        .list_task_definitions()
        .status(TaskDefinitionStatus::Active)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("ListTaskDefinitions");
    for arn in arns {
        let family = arn
            .rsplit('/')
            .next()
            .and_then(|s| s.rsplit_once(':'))
            .map(|(f, _)| f.to_owned())
            .unwrap_or_default();
        let d = ecs
            .describe_task_definition()
            .task_definition(&arn)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .expect("DescribeTaskDefinition");
        let t = scope.tagged(
            d.tags()
                .iter()
                .map(|t| (t.key().unwrap_or(""), t.value().unwrap_or(""))),
        );
        if t.0 || scope.named(&family) {
            out.push(item("ecs:task-definition", arn.clone(), family, t));
        }
    }
    out
}

async fn elb(sdk: &aws_config::SdkConfig, scope: &Scope) -> Vec<Item> {
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(sdk);
    let mut out = Vec::new();
    let tags_of = |arn: String| {
        let elb = elb.clone();
        async move {
            elb.describe_tags()
                .resource_arns(arn)
                .send()
                .await
                .ok()
                .and_then(|d| d.tag_descriptions.unwrap_or_default().into_iter().next())
                .and_then(|d| d.tags)
                .unwrap_or_default()
        }
    };
    let kv = |tags: &Vec<aws_sdk_elasticloadbalancingv2::types::Tag>| {
        tags.iter()
            .map(|t| {
                (
                    t.key().unwrap_or("").to_owned(),
                    t.value().unwrap_or("").to_owned(),
                )
            })
            .collect::<Vec<_>>()
    };
    let lbs = elb
        .describe_load_balancers()
        .send()
        .await
        .expect("DescribeLoadBalancers")
        .load_balancers
        .unwrap_or_default();
    for lb in lbs {
        let arn = lb.load_balancer_arn().unwrap_or("").to_owned();
        let name = lb.load_balancer_name().unwrap_or("").to_owned();
        let tags = kv(&tags_of(arn.clone()).await);
        let t = scope.tagged(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let ours = t.0 || scope.named(&name);
        if ours {
            out.push(item("elbv2:load-balancer", arn.clone(), name.clone(), t));
        }
        let listeners = elb
            .describe_listeners()
            .load_balancer_arn(&arn)
            .send()
            .await
            .map(|l| l.listeners.unwrap_or_default())
            .unwrap_or_default();
        for l in listeners {
            let larn = l.listener_arn().unwrap_or("").to_owned();
            let tags = kv(&tags_of(larn.clone()).await);
            let lt = scope.tagged(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            // A listener is ours when it is tagged so or sits on our load balancer.
            if lt.0 || ours {
                out.push(item(
                    "elbv2:listener",
                    larn.clone(),
                    format!("{name}:{}", l.port().unwrap_or(0)),
                    lt,
                ));
            }
            // The listener's rules other than the default one (the origin lock's rule).
            let rules = elb
                .describe_rules()
                .listener_arn(&larn)
                .send()
                .await
                .map(|r| r.rules.unwrap_or_default())
                .unwrap_or_default();
            for r in rules.iter().filter(|r| r.is_default() != Some(true)) {
                let rarn = r.rule_arn().unwrap_or("").to_owned();
                let tags = kv(&tags_of(rarn.clone()).await);
                let rt = scope.tagged(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                if rt.0 || ours {
                    out.push(item(
                        "elbv2:listener-rule",
                        rarn,
                        format!(
                            "{name}:{}:{}",
                            l.port().unwrap_or(0),
                            r.priority().unwrap_or("?")
                        ),
                        rt,
                    ));
                }
            }
        }
    }
    let tgs = elb
        .describe_target_groups()
        .send()
        .await
        .expect("DescribeTargetGroups")
        .target_groups
        .unwrap_or_default();
    for tg in tgs {
        let arn = tg.target_group_arn().unwrap_or("").to_owned();
        let name = tg.target_group_name().unwrap_or("").to_owned();
        let tags = kv(&tags_of(arn.clone()).await);
        let t = scope.tagged(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if t.0 || scope.named(&name) {
            out.push(item("elbv2:target-group", arn, name, t));
        }
    }
    out
}

async fn route53(sdk: &aws_config::SdkConfig, scope: &Scope) -> Vec<Item> {
    let r53 = aws_sdk_route53::Client::new(sdk);
    let mut out = Vec::new();
    let zones = r53
        .list_hosted_zones()
        .send()
        .await
        .expect("ListHostedZones")
        .hosted_zones;
    let fqdn = format!("{}.", scope.fqdn);
    for z in zones {
        let records = r53
            .list_resource_record_sets()
            .hosted_zone_id(z.id())
            .send()
            .await
            .expect("ListResourceRecordSets")
            .resource_record_sets;
        for r in records {
            let name = r.name().replace("\\052", "*");
            if name.eq_ignore_ascii_case(&fqdn) && !matches!(r.r#type().as_str(), "NS" | "SOA") {
                out.push(item(
                    "route53:record",
                    scope.fqdn.clone(),
                    format!("{name} {} in {}", r.r#type().as_str(), z.id()),
                    (false, None),
                ));
            }
        }
    }
    out
}

async fn cognito(sdk: &aws_config::SdkConfig, scope: &Scope) -> Vec<Item> {
    let idp = aws_sdk_cognitoidentityprovider::Client::new(sdk);
    let mut out = Vec::new();
    let pools = idp
        .list_user_pools()
        .max_results(60)
        .send()
        .await
        .expect("ListUserPools")
        .user_pools
        .unwrap_or_default();
    let mut domains = BTreeSet::new();
    for p in pools {
        let id = p.id().unwrap_or("").to_owned();
        let Ok(d) = idp.describe_user_pool().user_pool_id(&id).send().await else {
            continue;
        };
        let Some(pool) = d.user_pool() else { continue };
        let name = pool.name().unwrap_or("").to_owned();
        let tags = pool.user_pool_tags().cloned().unwrap_or_default();
        let t = scope.tagged(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if !(t.0 || scope.named(&name)) {
            continue;
        }
        out.push(item("cognito:user-pool", id.clone(), name, t));
        if let Some(domain) = pool.domain() {
            domains.insert(domain.to_owned());
        }
        let servers = idp
            .list_resource_servers()
            .user_pool_id(&id)
            .max_results(50)
            .send()
            .await
            .map(|r| r.resource_servers)
            .unwrap_or_default();
        for s in servers {
            out.push(item(
                "cognito:resource-server",
                s.identifier().unwrap_or(""),
                s.name().unwrap_or(""),
                (false, None),
            ));
        }
        let clients = idp
            .list_user_pool_clients()
            .user_pool_id(&id)
            .max_results(60)
            .send()
            .await
            .map(|r| r.user_pool_clients.unwrap_or_default())
            .unwrap_or_default();
        for c in clients {
            out.push(item(
                "cognito:app-client",
                c.client_id().unwrap_or(""),
                c.client_name().unwrap_or(""),
                (false, None),
            ));
        }
    }
    // The default domain prefix, even when no pool of ours points at it any more.
    domains.insert(format!(
        "{}-{}-{}",
        scope.stack, scope.account, scope.region
    ));
    for domain in domains {
        let d = idp
            .describe_user_pool_domain()
            .domain(&domain)
            .send()
            .await
            .ok()
            .and_then(|d| d.domain_description);
        if let Some(d) = d
            && d.domain().is_some()
        {
            out.push(item(
                "cognito:user-pool-domain",
                domain.clone(),
                format!("{domain} (pool {})", d.user_pool_id().unwrap_or("?")),
                (false, None),
            ));
        }
    }
    out
}

async fn lambda(sdk: &aws_config::SdkConfig, scope: &Scope) -> Vec<Item> {
    let lambda = aws_sdk_lambda::Client::new(sdk);
    let mut out = Vec::new();
    let functions = lambda
        .list_functions()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("ListFunctions");
    for f in functions {
        let name = f.function_name().unwrap_or("").to_owned();
        let tags = lambda
            .list_tags()
            .resource(f.function_arn().unwrap_or(""))
            .send()
            .await
            .ok()
            .and_then(|t| t.tags)
            .unwrap_or_default();
        let t = scope.tagged(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if t.0 || scope.named(&name) {
            out.push(item("lambda:function", name.clone(), name, t));
        }
    }
    out
}

async fn agentcore(sdk: &aws_config::SdkConfig, scope: &Scope) -> Vec<Item> {
    let ac = aws_sdk_bedrockagentcorecontrol::Client::new(sdk);
    let mut out = Vec::new();
    // AgentCore Identity's API key credential providers (the origin key).
    if let Ok(list) = ac.list_api_key_credential_providers().send().await {
        for p in list.credential_providers() {
            let tags = ac
                .list_tags_for_resource()
                .resource_arn(p.credential_provider_arn())
                .send()
                .await
                .ok()
                .and_then(|t| t.tags)
                .unwrap_or_default();
            let t = scope.tagged(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            if t.0 || scope.named(p.name()) {
                out.push(item(
                    "agentcore:api-key-credential-provider",
                    p.credential_provider_arn(),
                    p.name(),
                    t,
                ));
            }
        }
    }
    out.extend(policy_engines(&ac, scope).await);
    let Ok(list) = ac.list_gateways().send().await else {
        return out;
    };
    for g in list.items() {
        let id = g.gateway_id().to_owned();
        let name = g.name().to_owned();
        let Ok(gw) = ac.get_gateway().gateway_identifier(&id).send().await else {
            continue;
        };
        if gw.status().as_str() == "DELETING" {
            // Going away (moto keeps it visible for the configured delay).
            continue;
        }
        let tags = ac
            .list_tags_for_resource()
            .resource_arn(gw.gateway_arn())
            .send()
            .await
            .ok()
            .and_then(|t| t.tags)
            .unwrap_or_default();
        let t = scope.tagged(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if !(t.0 || scope.named(&name)) {
            continue;
        }
        out.push(item("agentcore:gateway", id.clone(), name, t));
        let targets = ac
            .list_gateway_targets()
            .gateway_identifier(&id)
            .send()
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        for tg in targets {
            if tg.status().as_str() == "DELETING" {
                continue;
            }
            out.push(item(
                "agentcore:gateway-target",
                tg.target_id(),
                tg.name(),
                (false, None),
            ));
        }
    }
    out
}

/// The stack's AgentCore policy engines (by tag, or by the name `neo4j_gw::resources::policy_engine::engine_name`
/// derives from the stack) and the policies in each (which carry no tags: they are the engine's).
async fn policy_engines(ac: &aws_sdk_bedrockagentcorecontrol::Client, scope: &Scope) -> Vec<Item> {
    let mut out = Vec::new();
    let Ok(list) = ac.list_policy_engines().send().await else {
        return out;
    };
    let engine_name = neo4j_gw::resources::policy_engine::engine_name(&scope.stack);
    for e in list.policy_engines() {
        if e.status().as_str() == "DELETING" {
            continue;
        }
        let tags = ac
            .list_tags_for_resource()
            .resource_arn(e.policy_engine_arn())
            .send()
            .await
            .ok()
            .and_then(|t| t.tags)
            .unwrap_or_default();
        let t = scope.tagged(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if !(t.0 || e.name() == engine_name) {
            continue;
        }
        out.push(item(
            "agentcore:policy-engine",
            e.policy_engine_id(),
            e.name(),
            t,
        ));
        let policies = ac
            .list_policies()
            .policy_engine_id(e.policy_engine_id())
            .send()
            .await
            .map(|l| l.policies)
            .unwrap_or_default();
        for p in policies {
            if p.status().as_str() == "DELETING" {
                continue;
            }
            out.push(item(
                "agentcore:policy",
                p.policy_id(),
                p.name(),
                (false, None),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{KINDS, primary_key};

    #[test]
    fn every_kind_the_plan_owns_is_known_to_the_inventory_and_no_other() {
        let plan = neo4j_gw::plan::resources();
        let owned: std::collections::BTreeSet<&str> = plan
            .iter()
            .filter(|r| !r.external())
            .map(|r| r.kind())
            .collect();
        for kind in &owned {
            assert!(
                primary_key(kind).is_some(),
                "{kind} is in the plan but unknown to the inventory: add it to KINDS and its service's look-up"
            );
        }
        for (kind, _) in KINDS {
            assert!(
                owned.contains(kind),
                "{kind} is in KINDS but no node of the plan has that kind"
            );
        }
    }
}
