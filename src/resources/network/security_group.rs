//! The two security groups: the ALB's (HTTPS 443 from the allowed CIDRs) and the tasks' (8080 from the ALB's
//! security group only). Rules are reconciled both ways: missing ones are added, foreign ones removed.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, SecurityGroup, UserIdGroupPair};

use crate::error::{self, Result};
use crate::resources::network::ec2::{self, filter, our_filters, single, tag_pairs, tag_spec};
use crate::resources::{AwsResult, Cx, Drift, Live, Observation, Resource, ids};
use crate::resources::{Output, vpc};
use crate::state::Ids;

pub const ALB_NODE: &str = "alb-sg";
pub const TASK_NODE: &str = "task-sg";
pub const ALB_GROUP_ID: Output = Output::new(ALB_NODE, "group_id");
pub const TASK_GROUP_ID: Output = Output::new(TASK_NODE, "group_id");

/// One ingress rule: TCP on a port from a CIDR or from a security group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Cidr(String),
    Group(String),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    pub port: i32,
    pub source: Source,
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::Cidr(c) => write!(f, "tcp/{} from {c}", self.port),
            Source::Group(g) => write!(f, "tcp/{} from {g}", self.port),
        }
    }
}

pub struct SecurityGroupResource {
    pub node: &'static str,
    pub suffix: &'static str,
    pub description: &'static str,
    pub deps: &'static [&'static str],
    pub rules: fn(&Cx) -> Result<Vec<Rule>>,
}

pub const ALB_SG: SecurityGroupResource = SecurityGroupResource {
    node: ALB_NODE,
    suffix: "alb",
    description: "neo4j-gw ALB: HTTPS from the allowed CIDRs",
    deps: &[vpc::NODE],
    rules: |cx| {
        Ok(cx
            .settings()
            .allowed_cidrs
            .iter()
            .map(|c| Rule {
                port: 443,
                source: Source::Cidr(c.clone()),
            })
            .collect())
    },
};

pub const TASK_SG: SecurityGroupResource = SecurityGroupResource {
    node: TASK_NODE,
    suffix: "task",
    description: "neo4j-gw MCP tasks: 8080 from the ALB only",
    deps: &[vpc::NODE, ALB_NODE],
    rules: |cx| {
        Ok(vec![Rule {
            port: 8080,
            source: Source::Group(cx.dep(ALB_GROUP_ID)?),
        }])
    },
};

fn rules_of(sg: &SecurityGroup) -> BTreeSet<Rule> {
    let mut out = BTreeSet::new();
    for p in sg.ip_permissions() {
        let port = p.from_port().unwrap_or(-1);
        // Only single-port TCP rules are ours; anything else is listed with port -1 so it is removed.
        let port = if p.ip_protocol() == Some("tcp") && p.to_port() == p.from_port() {
            port
        } else {
            -1
        };
        for r in p.ip_ranges() {
            out.insert(Rule {
                port,
                source: Source::Cidr(r.cidr_ip().unwrap_or_default().to_owned()),
            });
        }
        for g in p.user_id_group_pairs() {
            out.insert(Rule {
                port,
                source: Source::Group(g.group_id().unwrap_or_default().to_owned()),
            });
        }
    }
    out
}

fn permission(rule: &Rule) -> IpPermission {
    let b = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(rule.port)
        .to_port(rule.port);
    match &rule.source {
        Source::Cidr(c) => b.ip_ranges(IpRange::builder().cidr_ip(c).build()).build(),
        Source::Group(g) => b
            .user_id_group_pairs(UserIdGroupPair::builder().group_id(g).build())
            .build(),
    }
}

fn foreign_permission(rule: &Rule, sg: &SecurityGroup) -> Option<IpPermission> {
    // Rebuild a rule we do not recognise exactly as AWS reports it, so that revoke matches it.
    sg.ip_permissions()
        .iter()
        .find(|p| {
            p.ip_ranges()
                .iter()
                .any(|r| matches!(&rule.source, Source::Cidr(c) if r.cidr_ip() == Some(c)))
                || p.user_id_group_pairs()
                    .iter()
                    .any(|g| matches!(&rule.source, Source::Group(id) if g.group_id() == Some(id)))
        })
        .map(|p| {
            let b = IpPermission::builder()
                .set_ip_protocol(p.ip_protocol().map(str::to_owned))
                .set_from_port(p.from_port())
                .set_to_port(p.to_port());
            match &rule.source {
                Source::Cidr(c) => b.ip_ranges(IpRange::builder().cidr_ip(c).build()).build(),
                Source::Group(g) => b
                    .user_id_group_pairs(UserIdGroupPair::builder().group_id(g).build())
                    .build(),
            }
        })
}

impl SecurityGroupResource {
    async fn find(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Option<SecurityGroup>> {
        let ec2 = &cx.aws().ec2;
        let recorded_id = recorded.and_then(|r| r.get("group_id"));
        // Both groups in one call while every node is observed. Not finding ours there is not enough: a same-named
        // group without our tags would make the create fail, which the search below reports.
        if let Some(all) = cx
            .batched("ec2:DescribeSecurityGroups", || async {
                let out = ec2
                    .describe_security_groups()
                    .filters(ec2::stack_filter(cx))
                    .send()
                    .await
                    .aws(cx, "DescribeSecurityGroups")?;
                Ok(out.security_groups().to_vec())
            })
            .await
            && let Some(Some(found)) = ec2::pick(
                cx,
                &all,
                recorded_id.map(String::as_str),
                |g: &SecurityGroup| g.group_id(),
                |g| g.tags(),
            )
        {
            return Ok(Some(found));
        }
        if let Some(id) = recorded_id {
            match ec2.describe_security_groups().group_ids(id).send().await {
                Ok(out) => {
                    if let Some(g) = out.security_groups().first() {
                        return Ok(Some(g.clone()));
                    }
                }
                Err(e) if ec2::is_not_found(error::code_of(&e)) => {}
                Err(e) => return Err(error::aws(cx.node, "DescribeSecurityGroups", e)),
            }
        }
        let out = ec2
            .describe_security_groups()
            .set_filters(Some(our_filters(cx)))
            .send()
            .await
            .aws(cx, "DescribeSecurityGroups")?;
        if let Some(g) = single(cx, out.security_groups().to_vec(), |g| {
            g.group_id().unwrap_or("?").to_owned()
        })? {
            return Ok(Some(g));
        }
        // Group names are unique per VPC: a same-named group would make the create fail, so report it.
        if let Some(vpc_id) = cx.dep_opt(vpc::VPC_ID) {
            let out = ec2
                .describe_security_groups()
                .filters(filter("vpc-id", &vpc_id))
                .filters(filter("group-name", &cx.name(self.suffix)))
                .send()
                .await
                .aws(cx, "DescribeSecurityGroups")?;
            return Ok(out.security_groups().first().cloned());
        }
        Ok(None)
    }

    async fn apply(
        &self,
        cx: &Cx,
        group_id: &str,
        add: &[Rule],
        remove: Vec<IpPermission>,
    ) -> Result<()> {
        let ec2 = &cx.aws().ec2;
        if !remove.is_empty() {
            ec2.revoke_security_group_ingress()
                .group_id(group_id)
                .set_ip_permissions(Some(remove))
                .send()
                .await
                .aws(cx, "RevokeSecurityGroupIngress")?;
        }
        if !add.is_empty() {
            ec2.authorize_security_group_ingress()
                .group_id(group_id)
                .set_ip_permissions(Some(add.iter().map(permission).collect()))
                .send()
                .await
                .aws(cx, "AuthorizeSecurityGroupIngress")?;
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for SecurityGroupResource {
    fn id(&self) -> &'static str {
        self.node
    }
    fn kind(&self) -> &'static str {
        "ec2:security-group"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        self.deps
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        let Some(sg) = self.find(cx, recorded).await? else {
            return Ok(Observation::Missing);
        };
        let group_id = sg.group_id().unwrap_or_default().to_owned();
        if !cx.is_ours(tag_pairs(sg.tags())) {
            return Ok(Observation::Foreign(format!(
                "security group {group_id} ({}) is not tagged as this stack's",
                sg.group_name().unwrap_or_default()
            )));
        }
        let mut drift = Vec::new();
        // The desired rules may need other resources' IDs; when those are unknown, the rules cannot be judged.
        if let Ok(desired) = (self.rules)(cx) {
            let desired: BTreeSet<Rule> = desired.into_iter().collect();
            let actual = rules_of(&sg);
            for missing in desired.difference(&actual) {
                drift.push(Drift::new(
                    format!("ingress:{missing}"),
                    "present",
                    "missing",
                ));
            }
            for extra in actual.difference(&desired) {
                drift.push(Drift::new(format!("ingress:{extra}"), "absent", "present"));
            }
        }
        Ok(Observation::Present(
            Live::new(ids([("group_id", group_id)])).with_drift(drift),
        ))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let vpc_id = cx.dep(vpc::VPC_ID)?;
        let name = cx.name(self.suffix);
        let out = cx
            .aws()
            .ec2
            .create_security_group()
            .group_name(&name)
            .description(self.description)
            .vpc_id(vpc_id)
            .tag_specifications(tag_spec(cx, ResourceType::SecurityGroup, &name))
            .send()
            .await
            .aws(cx, "CreateSecurityGroup")?;
        let group_id = out.group_id().unwrap_or_default().to_owned();
        self.apply(cx, &group_id, &(self.rules)(cx)?, Vec::new())
            .await?;
        Ok(ids([("group_id", group_id)]))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        let group_id = live.id("group_id")?;
        let sg = self.find(cx, Some(&live.ids)).await?;
        let desired: BTreeSet<Rule> = (self.rules)(cx)?.into_iter().collect();
        let actual = sg.as_ref().map(rules_of).unwrap_or_default();
        let add: Vec<Rule> = desired.difference(&actual).cloned().collect();
        let remove: Vec<IpPermission> = match &sg {
            Some(sg) => actual
                .difference(&desired)
                .filter_map(|r| foreign_permission(r, sg))
                .collect(),
            None => Vec::new(),
        };
        self.apply(cx, group_id, &add, remove).await?;
        Ok(live.ids.clone())
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        let group_id = live.id("group_id")?.to_owned();
        let ec2 = cx.aws().ec2.clone();
        ec2::delete_with_dependency_retry(
            cx,
            "DeleteSecurityGroup",
            filter("group-id", &group_id),
            || {
                let (ec2, group_id) = (ec2.clone(), group_id.clone());
                async move {
                    ec2.delete_security_group()
                        .group_id(group_id)
                        .send()
                        .await
                        .map(|_| ())
                }
            },
        )
        .await
    }
}
