//! `neo4j-gw doctor`: flyctl-style checks of the setup and of the deployed stack, each PASS, WARN, FAIL or SKIP with
//! what to do. Read-only: not a single mutating AWS request. Works before the first `up` (the pre-flight checks
//! only). Exit 0 when no check failed, 3 when one did.
//!
//! Pre-flight: credentials and account (STS), the region offers AgentCore, the hosted zone is public and the domain
//! is delegated to it, the certificate (ISSUED, covers the FQDN, same region, not expiring within 30 days, not an
//! imported self-signed one), the Cognito domain prefix is free or the stack's, and the service quotas `up` needs.
//! Deployed: every resource healthy, the DNS record INSYNC, the gateway target READY, a token obtainable, the tools
//! listable through the gateway, the database's APOC (get-schema through the gateway) and the origin lock.
//! `--agent-path`: the first-real-account check of `agent_probe.rs` instead.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::json;

use super::agent::Walk;
use super::{Env, Prepared, prepare, token};
use crate::aws::Aws;
use crate::cli::DoctorArgs;
use crate::config::{PasswordSource, Purpose};
use crate::dns;
use crate::engine::{Engine, Report};
use crate::error::{self, Error, Result, exit};
use crate::resources::certificate::{self, CertificateResource, covers};
use crate::resources::hosted_zone::{self, HostedZoneResource, bare_zone_id};
use crate::resources::user_pool_domain::{self, UserPoolDomainResource};
use crate::resources::{
    Cx, Observation, Resource, TAG_STACK, dns_record, gateway_target, listener, load_balancer,
    origin_rule,
};

/// Regions where the AgentCore documentation lists AgentCore Gateway ("Supported AWS Regions",
/// https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/agentcore-regions.html, the Gateway row, 20 regions;
/// plus US West (N. California) from the newer copy at docs.amazonaws.cn). The list grows: against AWS the
/// control-plane endpoint is asked too, and its answer wins; against an emulator the list decides.
pub const AGENTCORE_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-5",
    "ap-southeast-7",
    "ap-northeast-1",
    "ap-northeast-2",
    "us-gov-west-1",
];

/// A certificate expiring sooner than this is reported.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Skip,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub status: Status,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
}

#[derive(Default)]
struct Checks {
    checks: Vec<Check>,
}

impl Checks {
    fn add(
        &mut self,
        check: &'static str,
        status: Status,
        message: impl Into<String>,
        remedy: Option<String>,
    ) {
        self.checks.push(Check {
            check,
            status,
            message: message.into(),
            remedy,
        });
    }
    fn pass(&mut self, check: &'static str, message: impl Into<String>) {
        self.add(check, Status::Pass, message, None);
    }
    fn warn(&mut self, check: &'static str, message: impl Into<String>, remedy: impl Into<String>) {
        self.add(check, Status::Warn, message, Some(remedy.into()));
    }
    fn fail(&mut self, check: &'static str, message: impl Into<String>, remedy: impl Into<String>) {
        self.add(check, Status::Fail, message, Some(remedy.into()));
    }
    fn skip(&mut self, check: &'static str, message: impl Into<String>) {
        self.add(check, Status::Skip, message, None);
    }
}

pub async fn run(env: &Env, args: &DoctorArgs) -> Result<i32> {
    let prepared = prepare(
        env,
        Some(&args.settings),
        Purpose::Inspect,
        PasswordSource::Env(None),
    )
    .await?;
    let s = prepared.settings.clone();
    let mut r = Checks::default();
    let aws = Aws::new(&s, &prepared.region, &env.ledger).await;

    let account = credentials(&mut r, &aws, &prepared).await;
    if args.agent_path {
        let Some(account) = &account else {
            return Err(Error::other(
                "doctor --agent-path: no working AWS credentials (see `neo4j-gw doctor`)",
            ));
        };
        let engine = super::engine(env, &prepared, aws.clone(), account);
        return super::agent_probe::run(env, &engine, &prepared, args.json).await;
    }
    if let Some(account) = &account {
        let engine = super::engine(env, &prepared, aws.clone(), account);
        let cx = |node: &'static str| {
            Cx::new(
                engine.shared.clone(),
                node,
                crate::progress::Progress::hidden(),
            )
        };
        region(&mut r, &cx("region")).await;
        hosted_zone(&mut r, &cx(hosted_zone::NODE), &prepared).await;
        certificate(&mut r, &cx(certificate::NODE), &prepared.region).await;
        cognito_domain(&mut r, &cx(user_pool_domain::NODE), &prepared).await;
        quotas(&mut r, &cx("quotas"), &prepared).await;
        if prepared.state.is_some() {
            deployed(&mut r, env, &engine, &prepared, args).await;
        } else {
            r.skip(
                "deployed stack",
                format!(
                    "stack `{}` is not deployed (no state file at {}): the checks of a deployed stack run after `neo4j-gw up`",
                    s.stack,
                    prepared.file.path.display()
                ),
            );
        }
    } else {
        r.skip(
            "everything else",
            "needs working credentials: every other check calls AWS",
        );
    }

    let failed = r.checks.iter().any(|c| c.status == Status::Fail);
    if args.json {
        let mut counts = std::collections::BTreeMap::<&str, usize>::new();
        for c in &r.checks {
            *counts
                .entry(match c.status {
                    Status::Pass => "pass",
                    Status::Warn => "warn",
                    Status::Fail => "fail",
                    Status::Skip => "skip",
                })
                .or_default() += 1;
        }
        let doc = json!({
            "stack": s.stack,
            "region": prepared.region,
            "account": account,
            "deployed": prepared.state.is_some(),
            "ok": !failed,
            "summary": counts,
            "checks": r.checks,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        println!(
            "doctor: stack {} in {}{}",
            s.stack,
            prepared.region,
            account
                .as_ref()
                .map(|a| format!(" (account {a})"))
                .unwrap_or_default()
        );
        for c in &r.checks {
            println!("{}  {:<22} {}", c.status.word(), c.check, c.message);
            if let Some(remedy) = &c.remedy {
                println!("      {:<22} → {remedy}", "");
            }
        }
        let n = |st: Status| r.checks.iter().filter(|c| c.status == st).count();
        println!(
            "doctor: {} passed, {} warnings, {} failed, {} skipped",
            n(Status::Pass),
            n(Status::Warn),
            n(Status::Fail),
            n(Status::Skip)
        );
    }
    Ok(if failed { exit::NOT_HEALTHY } else { exit::OK })
}

/// STS: whose credentials, and the same account as the deployed stack's.
async fn credentials(r: &mut Checks, aws: &Aws, p: &Prepared) -> Option<String> {
    match aws.identity().await {
        Ok((account, arn)) => {
            match &p.state {
                Some(st) if st.account != account => r.fail(
                    "credentials",
                    format!(
                        "the credentials belong to account {account} ({arn}), but stack {} lives in account {}",
                        st.stack, st.account
                    ),
                    "switch --profile (or the credentials) to the stack's account",
                ),
                _ => r.pass("credentials", format!("account {account} ({arn})")),
            }
            Some(account)
        }
        Err(e) => {
            let remedy = if matches!(e, Error::Usage { .. }) {
                "set up credentials as the message says, then run `neo4j-gw doctor` again"
            } else {
                "check the network path to AWS (or the --endpoint-url), then run `neo4j-gw doctor` again"
            };
            r.fail("credentials", e.to_string(), remedy);
            None
        }
    }
}

/// AgentCore's control plane in the region: the documented list, and against AWS a read-only call.
async fn region(r: &mut Checks, cx: &Cx) {
    let region = &cx.shared.region;
    let listed = AGENTCORE_REGIONS.contains(&region.as_str());
    let remedy = format!(
        "deploy to a region that offers AgentCore Gateway (--region), e.g. one of {}",
        AGENTCORE_REGIONS[..4].join(", ")
    );
    if cx.emulated() {
        if listed {
            r.pass(
                "region",
                format!("{region} offers AgentCore Gateway (documented list; emulator)"),
            );
        } else {
            r.fail(
                "region",
                format!("{region} is not among the regions where AgentCore Gateway is documented"),
                remedy,
            );
        }
        return;
    }
    match cx
        .aws()
        .agentcore
        .list_gateways()
        .max_results(1)
        .send()
        .await
    {
        Ok(_) => r.pass(
            "region",
            format!("{region} offers AgentCore Gateway (its control plane answers)"),
        ),
        Err(e) => match error::code_of(&e) {
            // No AWS answer at all: the endpoint does not exist in this region (or the network is down).
            None => r.fail(
                "region",
                format!(
                    "AgentCore's control plane in {region} did not answer ({}){}",
                    error::describe_chain(&e),
                    if listed {
                        ""
                    } else {
                        "; the region is not in the documented list either"
                    }
                ),
                remedy,
            ),
            Some(code) if listed => r.pass(
                "region",
                format!(
                    "{region} offers AgentCore Gateway (documented; ListGateways answered {code})"
                ),
            ),
            Some(code) => r.warn(
                "region",
                format!("{region} is not in the documented list, and ListGateways answered {code}"),
                "check the AgentCore region list, or deploy to a documented region (--region)",
            ),
        },
    }
}

/// The public hosted zone, and that the world's name servers for the domain are the zone's.
async fn hosted_zone(r: &mut Checks, cx: &Cx, p: &Prepared) {
    let Some(domain) = p.settings.domain_name.clone() else {
        r.skip(
            "hosted zone",
            "no --domain-name given (and none recorded by `up`)",
        );
        r.skip("delegation", "no --domain-name given");
        return;
    };
    let recorded = p
        .state
        .as_ref()
        .and_then(|s| s.resources.get(hosted_zone::NODE))
        .map(|rec| rec.ids.clone());
    let zone_id = match HostedZoneResource.observe(cx, recorded.as_ref()).await {
        Ok(Observation::Present(live)) => {
            let id = live.ids.get("hosted_zone_id").cloned().unwrap_or_default();
            r.pass(
                "hosted zone",
                format!("public hosted zone {id} for {domain}"),
            );
            if let Ok(mut known) = cx.shared.known.write() {
                known.insert(hosted_zone::NODE.into(), live.ids);
            }
            id
        }
        Ok(Observation::Missing) => {
            r.fail(
                "hosted zone",
                format!("no public hosted zone for {domain} in account {}", cx.shared.account),
                format!(
                    "create a public hosted zone for {domain} in Route53 and delegate the domain to its name servers, \
                     or pass the apex of a zone you have with --domain-name"
                ),
            );
            r.skip("delegation", "needs the hosted zone");
            return;
        }
        Ok(Observation::Foreign(why)) => {
            r.fail(
                "hosted zone",
                why,
                format!("create a public hosted zone for {domain}"),
            );
            r.skip("delegation", "needs a public hosted zone");
            return;
        }
        Err(e) => {
            r.fail("hosted zone", e.to_string(), "see the message");
            r.skip("delegation", "needs the hosted zone");
            return;
        }
    };
    let resolver_env = std::env::var(dns::RESOLVER_VAR).ok();
    if cx.emulated() && resolver_env.is_none() {
        r.skip(
            "delegation",
            format!(
                "against an emulator public DNS is not queried (set {} to a resolver to check it)",
                dns::RESOLVER_VAR
            ),
        );
        return;
    }
    let Some(server) = dns::resolver(resolver_env) else {
        r.warn(
            "delegation",
            "no DNS resolver found (no nameserver in /etc/resolv.conf)",
            format!("set {} to a resolver's address", dns::RESOLVER_VAR),
        );
        return;
    };
    let zone_servers = match cx
        .aws()
        .route53
        .get_hosted_zone()
        .id(bare_zone_id(&zone_id))
        .send()
        .await
    {
        Ok(out) => {
            let mut v: Vec<String> = out
                .delegation_set()
                .map(|d| d.name_servers().iter().map(|n| normalize(n)).collect())
                .unwrap_or_default();
            v.sort();
            v
        }
        Err(e) => {
            r.fail(
                "delegation",
                error::aws(hosted_zone::NODE, "GetHostedZone", e).to_string(),
                "see the message",
            );
            return;
        }
    };
    match dns::ns(server, &domain).await {
        Ok(mut seen) => {
            seen = seen.iter().map(|n| normalize(n)).collect();
            seen.sort();
            seen.dedup();
            if !seen.is_empty() && seen == zone_servers {
                r.pass(
                    "delegation",
                    format!(
                        "{domain} is delegated to the zone's name servers ({})",
                        seen.join(", ")
                    ),
                );
            } else {
                r.fail(
                    "delegation",
                    format!(
                        "the world sees {} as the name servers of {domain}, but the hosted zone's are {}",
                        if seen.is_empty() { "none".to_owned() } else { seen.join(", ") },
                        zone_servers.join(", ")
                    ),
                    format!(
                        "set the NS records of {domain} at its registrar (or parent zone) to the hosted zone's name \
                         servers; certificate validation and the MCP endpoint's name depend on it"
                    ),
                );
            }
        }
        Err(dns::Failure::NoSuchName) => r.fail(
            "delegation",
            format!("{domain} does not exist in public DNS (NXDOMAIN from {server})"),
            format!(
                "register {domain}, or delegate it to the hosted zone's name servers ({})",
                zone_servers.join(", ")
            ),
        ),
        Err(e) => r.warn(
            "delegation",
            format!("could not ask {server} for the name servers of {domain}: {e}"),
            format!(
                "check the network, or set {} to a resolver you can reach",
                dns::RESOLVER_VAR
            ),
        ),
    }
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// True when an imported certificate's issuer is its own subject (ACM shows the issuer's name and the subject as
/// a distinguished name: `CN=…, O=…`).
pub fn looks_self_signed(issuer: &str, subject: &str) -> bool {
    let issuer = issuer.trim();
    if issuer.is_empty() {
        return false;
    }
    issuer.eq_ignore_ascii_case(subject.trim())
        || subject
            .split(',')
            .filter_map(|part| part.split_once('='))
            .any(|(_, v)| v.trim().eq_ignore_ascii_case(issuer))
}

/// The certificate, from the same observe as pre-flight: ISSUED, covers the FQDN, same region, not expiring soon,
/// not imported self-signed.
async fn certificate(r: &mut Checks, cx: &Cx, region: &str) {
    let Some(arn) = cx.settings().certificate_arn.clone() else {
        r.skip(
            "certificate",
            "no --certificate-arn given (and none recorded by `up`)",
        );
        return;
    };
    let live = match CertificateResource.observe(cx, None).await {
        Ok(Observation::Present(live)) => live,
        Ok(_) => {
            r.fail(
                "certificate",
                CertificateResource.missing_message(cx),
                "check the ARN, or request or import the certificate in ACM in the stack's region",
            );
            return;
        }
        Err(e) => {
            r.fail("certificate", e.to_string(), "see the message");
            return;
        }
    };
    let detail = |key: &str| {
        live.details
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let status = detail("status");
    if status == "ISSUED" {
        r.pass("certificate", format!("{arn} is ISSUED"));
    } else {
        r.fail(
            "certificate",
            format!("{arn} is {status}, not ISSUED"),
            "finish its validation in ACM (DNS validation: the CNAME record ACM shows), or pass an issued certificate",
        );
    }
    let names = detail("names");
    match cx.settings().fqdn() {
        None => r.skip("certificate names", "no --domain-name given: the FQDN is not known"),
        Some(fqdn) if names.split(',').any(|n| covers(n, &fqdn)) => {
            r.pass("certificate names", format!("covers {fqdn}"))
        }
        Some(fqdn) => r.fail(
            "certificate names",
            format!("covers {} but not {fqdn}", if names.is_empty() { "no names" } else { &names }),
            format!("pass a certificate for {fqdn} or its parent's wildcard, or choose a --subdomain it covers"),
        ),
    }
    let cert_region = arn.split(':').nth(3).unwrap_or_default();
    if cert_region == region {
        r.pass(
            "certificate region",
            format!("in {region}, the stack's region"),
        );
    } else {
        r.fail(
            "certificate region",
            format!("in {cert_region}, but the stack deploys to {region}"),
            "an ALB uses only certificates of its own region: import or request one there",
        );
    }
    let kind = detail("type");
    match humantime::parse_rfc3339(&detail("not_after")) {
        Err(_) => r.warn(
            "certificate expiry",
            "ACM reports no expiry date",
            "check the certificate in ACM",
        ),
        Ok(end) => {
            let date = humantime::format_rfc3339_seconds(end).to_string();
            match end.duration_since(SystemTime::now()) {
                Err(_) => r.fail(
                    "certificate expiry",
                    format!("expired on {date}"),
                    "renew or re-import it, or pass another certificate",
                ),
                Ok(left) if left < EXPIRY_MARGIN => {
                    let days = left.as_secs() / 86_400;
                    // "ACM does not provide managed renewal for imported certificates" (CertificateDetail.Type).
                    if kind == "AMAZON_ISSUED" {
                        r.warn(
                            "certificate expiry",
                            format!("expires on {date} (in {days} days); ACM renews certificates it issued while they are in use and validated"),
                            "check its renewal status in ACM",
                        );
                    } else {
                        r.fail(
                            "certificate expiry",
                            format!("expires on {date} (in {days} days) and is {kind}: ACM does not renew it"),
                            "import a renewed certificate (re-import it under the same ARN) before it expires",
                        );
                    }
                }
                Ok(left) => r.pass(
                    "certificate expiry",
                    format!("valid until {date} ({} days)", left.as_secs() / 86_400),
                ),
            }
        }
    }
    let (issuer, subject) = (detail("issuer"), detail("subject"));
    if kind == "IMPORTED" && looks_self_signed(&issuer, &subject) {
        r.fail(
            "certificate issuer",
            format!("imported and self-signed (issuer `{issuer}`, subject `{subject}`): AgentCore Gateway and MCP clients will not trust it"),
            "import a certificate signed by a public CA, or request one from ACM (DNS validation)",
        );
    } else {
        r.pass(
            "certificate issuer",
            format!(
                "{} by `{issuer}`",
                if kind.is_empty() {
                    "issued".to_owned()
                } else {
                    kind.to_lowercase().replace('_', " ")
                }
            ),
        );
    }
}

/// The Cognito domain prefix: free, or already this stack's.
async fn cognito_domain(r: &mut Checks, cx: &Cx, p: &Prepared) {
    let prefix = match user_pool_domain::prefix(cx) {
        Ok(v) => v,
        Err(e) => {
            r.fail(
                "cognito domain",
                e.to_string(),
                "choose a prefix with --cognito-domain-prefix",
            );
            return;
        }
    };
    let recorded = p
        .state
        .as_ref()
        .and_then(|s| s.resources.get(user_pool_domain::NODE))
        .map(|rec| rec.ids.clone());
    if let Some(pool) = p
        .state
        .as_ref()
        .and_then(|s| s.resources.get(crate::resources::user_pool::NODE))
        && let Ok(mut known) = cx.shared.known.write()
    {
        known.insert(crate::resources::user_pool::NODE.into(), pool.ids.clone());
    }
    match UserPoolDomainResource.observe(cx, recorded.as_ref()).await {
        Ok(Observation::Missing) => {
            r.pass("cognito domain", format!("the prefix `{prefix}` is free"))
        }
        Ok(Observation::Present(_)) => r.pass(
            "cognito domain",
            format!("the prefix `{prefix}` is this stack's"),
        ),
        Ok(Observation::Foreign(why)) => r.fail(
            "cognito domain",
            why,
            "choose another prefix with --cognito-domain-prefix",
        ),
        Err(e) => r.fail("cognito domain", e.to_string(), "see the message"),
    }
}

/// A quota's value: as read, else the default (and why it could not be read).
struct Limit {
    value: Option<f64>,
    default: f64,
    how: String,
}

impl Limit {
    fn read(value: std::result::Result<Option<f64>, String>, default: f64) -> Limit {
        match value {
            Ok(v) => Limit {
                value: v,
                default,
                how: "the quota could not be read".into(),
            },
            Err(why) => Limit {
                value: None,
                default,
                how: why,
            },
        }
    }
}

/// How many there are, and whether the stack's own is among them (then `up` needs none more).
type Count = std::result::Result<(usize, bool), String>;

/// One quota: `used` of the limit, one more for `up` unless the stack's is there already.
fn quota(r: &mut Checks, check: &'static str, what: &str, count: Count, limit: Limit) {
    let (used, ours) = match count {
        Ok(c) => c,
        Err(e) => {
            r.warn(
                check,
                e,
                "grant the read permission named, or check the quota in the Service Quotas console",
            );
            return;
        }
    };
    let need = usize::from(!ours);
    let (limit, source) = match limit.value {
        Some(l) => (l, "quota".to_owned()),
        None => (limit.default, format!("default quota; {}", limit.how)),
    };
    let text = format!("{used} of {limit} {what} in use ({source}); up needs {need} more");
    if (used + need) as f64 > limit {
        r.fail(
            check,
            text,
            format!("delete unused {what} or request a quota increase (Service Quotas console), then re-run"),
        );
    } else {
        r.pass(check, text);
    }
}

/// A Service Quotas value of the `vpc` service.
async fn vpc_quota(cx: &Cx, code: &str) -> std::result::Result<Option<f64>, String> {
    cx.aws()
        .quotas
        .get_service_quota()
        .service_code("vpc")
        .quota_code(code)
        .send()
        .await
        .map(|o| o.quota().and_then(|q| q.value()))
        .map_err(|e| {
            format!(
                "Service Quotas did not answer ({})",
                error::code_of(&e).unwrap_or("no answer")
            )
        })
}

fn is_ours(cx: &Cx, tags: &[aws_sdk_ec2::types::Tag]) -> bool {
    tags.iter()
        .any(|t| t.key() == Some(TAG_STACK) && t.value() == Some(cx.stack()))
}

async fn count_vpcs(cx: &Cx) -> Count {
    let mut pages = cx.aws().ec2.describe_vpcs().into_paginator().items().send();
    let (mut n, mut ours) = (0, false);
    while let Some(v) = pages.next().await {
        let v = v.map_err(|e| error::aws("quotas", "DescribeVpcs", e).to_string())?;
        n += 1;
        ours |= is_ours(cx, v.tags());
    }
    Ok((n, ours))
}

async fn count_internet_gateways(cx: &Cx) -> Count {
    let mut pages = cx
        .aws()
        .ec2
        .describe_internet_gateways()
        .into_paginator()
        .items()
        .send();
    let (mut n, mut ours) = (0, false);
    while let Some(g) = pages.next().await {
        let g = g.map_err(|e| error::aws("quotas", "DescribeInternetGateways", e).to_string())?;
        n += 1;
        ours |= is_ours(cx, g.tags());
    }
    Ok((n, ours))
}

async fn count_albs(cx: &Cx, recorded: Option<&str>) -> Count {
    let mut pages = cx
        .aws()
        .elb
        .describe_load_balancers()
        .into_paginator()
        .items()
        .send();
    let (mut n, mut ours) = (0, false);
    while let Some(lb) = pages.next().await {
        let lb = lb.map_err(|e| error::aws("quotas", "DescribeLoadBalancers", e).to_string())?;
        if lb.r#type().map(|t| t.as_str()) == Some("application") {
            n += 1;
            ours |= recorded.is_some() && lb.load_balancer_arn() == recorded;
        }
    }
    Ok((n, ours))
}

/// ELB's own account limit of Application Load Balancers (DescribeAccountLimits).
async fn alb_limit(cx: &Cx) -> std::result::Result<Option<f64>, String> {
    let out = cx
        .aws()
        .elb
        .describe_account_limits()
        .send()
        .await
        .map_err(|e| {
            format!(
                "DescribeAccountLimits did not answer ({})",
                error::code_of(&e).unwrap_or("no answer")
            )
        })?;
    Ok(out
        .limits()
        .iter()
        .find(|l| l.name() == Some("application-load-balancers"))
        .and_then(|l| l.max())
        .and_then(|m| m.parse::<f64>().ok()))
}

/// VPCs and internet gateways per region (Service Quotas L-F678F1CE and L-A4707A72, default 5 each:
/// https://docs.aws.amazon.com/general/latest/gr/vpc-service.html), Application Load Balancers per region (ELB's
/// account limits, default 50); Elastic IPs are not used.
async fn quotas(r: &mut Checks, cx: &Cx, p: &Prepared) {
    let vpcs = count_vpcs(cx).await;
    let limit = Limit::read(vpc_quota(cx, "L-F678F1CE").await, 5.0);
    quota(r, "quota: VPCs", "VPCs", vpcs, limit);
    let igws = count_internet_gateways(cx).await;
    let limit = Limit::read(vpc_quota(cx, "L-A4707A72").await, 5.0);
    quota(r, "quota: internet gws", "internet gateways", igws, limit);
    let recorded = p
        .state
        .as_ref()
        .and_then(|s| load_balancer::ARN.recorded(s).cloned());
    let albs = count_albs(cx, recorded.as_deref()).await;
    let limit = Limit::read(alb_limit(cx).await, 50.0);
    quota(
        r,
        "quota: load balancers",
        "Application Load Balancers",
        albs,
        limit,
    );
    r.pass(
        "quota: elastic IPs",
        "not used: the tasks run in public subnets with public IPs, and there is no NAT gateway",
    );
}

/// The checks of a deployed stack.
async fn deployed(r: &mut Checks, env: &Env, engine: &Engine, p: &Prepared, args: &DoctorArgs) {
    let reports = engine.status(p.state.as_ref()).await;
    let bad: Vec<String> = reports
        .iter()
        .filter(|x| !x.ok())
        .map(describe_report)
        .collect();
    if bad.is_empty() {
        r.pass(
            "resources",
            format!("all {} present and healthy", reports.len()),
        );
    } else {
        r.fail(
            "resources",
            format!("{} of {}: {}", bad.len(), reports.len(), bad.join("; ")),
            "run `neo4j-gw plan` to see what `up` would change, then `neo4j-gw up` to repair",
        );
    }
    let find = |node: &str| reports.iter().find(|x| x.resource == node);
    match find(dns_record::NODE) {
        Some(x) if x.ok() => {
            let recorded_change = p
                .state
                .as_ref()
                .and_then(|s| s.resources.get(dns_record::NODE))
                .and_then(|rec| rec.ids.get("change_id").cloned());
            let cx = Cx::new(
                engine.shared.clone(),
                dns_record::NODE,
                crate::progress::Progress::hidden(),
            );
            let fqdn = x.ids.get("fqdn").cloned().unwrap_or_default();
            match recorded_change {
                None => r.pass("dns record", format!("{fqdn} is in the zone (no change pending)")),
                Some(id) => match dns_record::change_in_sync(&cx, &id).await {
                    Ok(Some(false)) => r.warn(
                        "dns record",
                        format!("{fqdn}: change {id} is PENDING"),
                        "wait a minute: Route53 propagates changes to its name servers within about 60 seconds",
                    ),
                    Ok(_) => r.pass("dns record", format!("{fqdn} is INSYNC")),
                    Err(e) => r.fail("dns record", e.to_string(), "see the message"),
                },
            }
        }
        Some(x) => r.fail(
            "dns record",
            describe_report(x),
            "run `neo4j-gw up` to create or repair the record",
        ),
        None => r.skip("dns record", "not in the plan"),
    }
    match find(gateway_target::NODE) {
        Some(x) if x.ok() => r.pass("gateway target", "READY"),
        Some(x) if x.state == "pending" => r.warn(
            "gateway target",
            describe_report(x),
            "wait for the synchronisation to finish, then run doctor again",
        ),
        Some(x) => r.fail(
            "gateway target",
            describe_report(x),
            "run `neo4j-gw up`: it re-synchronises or replaces the target",
        ),
        None => r.skip("gateway target", "not in the plan"),
    }
    match token::obtain_for(
        env,
        p,
        &super::agent::verifying_agent(&p.settings),
        args.token_endpoint.as_deref(),
    ).await {
        Ok(t) => r.pass(
            "token",
            format!(
                "obtained ({} for {} s, scope {})",
                t.token_type, t.expires_in, t.scope
            ),
        ),
        Err(Error::Usage { setting, message })
            if setting == "--token-endpoint" || setting == "--data-plane-endpoint" =>
        {
            r.skip("token", format!("{setting} {message}"))
        }
        Err(e) => r.fail(
            "token",
            e.to_string(),
            "see the message; `neo4j-gw up` restores the app client, the resource server and the domain",
        ),
    }
    tools_listable(r, env, engine, p).await;
    database_has_apoc(r, env, engine, p).await;
    origin_lock(r, p, &reports);
}

/// What neo4j/mcp v1.5.3's get-schema answers when the database lacks APOC: it runs `CALL apoc.meta.schema(…)` and
/// returns Neo4j's error as the tool's text (`get_schema_handler.go`), `Neo.ClientError.Procedure.ProcedureNotFound`.
const APOC_MISSING: &[&str] = &["ProcedureNotFound", "apoc.meta.schema"];

/// Whether the database has APOC, which the server's `get-schema` needs (v1.5.3 also checks it at its first
/// `initialize`, but only logs the result): one `get-schema` call through the gateway, as an agent makes it. A
/// read-only tool; nothing is changed in AWS or in Neo4j.
async fn database_has_apoc(r: &mut Checks, env: &Env, engine: &Engine, p: &Prepared) {
    const CHECK: &str = "database: APOC";
    let Some(state) = p.state.as_ref() else {
        return r.skip(CHECK, "the stack is not deployed");
    };
    let mut walk = match Walk::new(engine, p, state, false) {
        Ok(w) => w,
        Err(e) => return r.skip(CHECK, e.to_string()),
    };
    if !walk.reachable() {
        return r.skip(CHECK, walk.unreachable_reason());
    }
    let session = match walk.open(env).await {
        Ok(s) => s,
        Err(_) => return r.skip(CHECK, "the gateway cannot be reached (see `tools` above)"),
    };
    let tool = super::agent::qualified(&p.settings.target_name, "get-schema");
    let result = session.call(&tool, serde_json::Map::new()).await;
    session.close().await;
    match result {
        Ok(res) if res.is_error != Some(true) => r.pass(
            CHECK,
            format!(
                "{tool} answered: the database {} has APOC (apoc.meta.schema)",
                p.settings.neo4j_database
            ),
        ),
        Ok(res) => {
            let text = crate::mcp::shorten(&crate::mcp::result_text(&res), 300);
            if APOC_MISSING.iter().all(|m| text.contains(m)) {
                r.fail(
                    CHECK,
                    format!(
                        "the database {} lacks APOC: {tool} failed with {text}",
                        p.settings.neo4j_database
                    ),
                    "install the APOC plugin (with its `meta` component: apoc.meta.schema) in the Neo4j database; \
                     the Neo4j MCP server needs it for get-schema and checks it at start-up",
                )
            } else {
                r.warn(
                    CHECK,
                    format!("{tool} failed, so whether the database has APOC is not known: {text}"),
                    "see the message (credentials, database name); `neo4j-gw call get-schema` repeats the call",
                )
            }
        }
        Err(f) => r.warn(
            CHECK,
            format!(
                "{tool} could not be called, so whether the database has APOC is not known: {f}"
            ),
            "see the `tools` check above",
        ),
    }
}

/// `tools/list` through the gateway with a token, as an agent does (the walk of `neo4j-gw tools`), then a read-only
/// query answered by Neo4j through `read-cypher` (check `database`), as `up`'s verification.
async fn tools_listable(r: &mut Checks, env: &Env, engine: &Engine, p: &Prepared) {
    const DATABASE: &str = "database";
    let skip_both = |r: &mut Checks, why: String| {
        r.skip("tools", why.clone());
        r.skip(DATABASE, why);
    };
    let Some(state) = p.state.as_ref() else {
        return skip_both(r, "the stack is not deployed".into());
    };
    let mut walk = match Walk::new(engine, p, state, false) {
        Ok(w) => w,
        Err(e) => return skip_both(r, e.to_string()),
    };
    if !walk.reachable() {
        return skip_both(r, walk.unreachable_reason().into());
    }
    match walk.verify(env).await {
        Ok((tools, query)) => {
            let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
            r.pass(
                "tools",
                format!("{} through the gateway: {}", names.len(), names.join(", ")),
            );
            match query {
                Ok(()) => r.pass(
                    DATABASE,
                    format!(
                        "Neo4j answered `{}` through {}",
                        super::agent::PROBE_QUERY,
                        super::agent::READ_TOOL
                    ),
                ),
                Err(e) => r.fail(
                    DATABASE,
                    e.to_string(),
                    "the message says what Neo4j refused and which setting to fix",
                ),
            }
        }
        Err(e) => {
            r.fail(
                "tools",
                e.to_string(),
                "the message names the hop that failed; `neo4j-gw up` repairs what it reports as drifted",
            );
            r.skip(DATABASE, "the tools could not be listed");
        }
    }
}

/// Whether only the gateway can reach the server (issue 10): the listener's default answer and the origin rule.
fn origin_lock(r: &mut Checks, p: &Prepared, reports: &[Report]) {
    if !p.settings.origin_lock {
        return r.warn(
            "origin lock",
            "off: anyone who finds the server's URL reaches it directly, without Cognito or the gateway",
            "run `neo4j-gw up --origin-lock true` (the default)",
        );
    }
    let find = |node: &str| reports.iter().find(|x| x.resource == node);
    let listener = find(listener::NODE);
    let rule = find(origin_rule::NODE);
    let default_drift =
        listener.is_some_and(|l| l.drift.iter().any(|d| d.attribute == "default_action"));
    match (rule, default_drift) {
        (Some(rule), false) if rule.ok() => r.pass(
            "origin lock",
            "on: the load balancer answers 403 unless a request carries the origin value the gateway's origin key adds",
        ),
        (rule, _) => r.fail(
            "origin lock",
            format!(
                "not in force: listener default {}, origin rule {}",
                if default_drift { "drifted" } else { "as wanted" },
                rule.map(|x| x.state).unwrap_or("missing")
            ),
            "run `neo4j-gw up` to restore the listener's 403 and the origin rule",
        ),
    }
}

/// `node state (drift attributes or message)`.
fn describe_report(x: &Report) -> String {
    let why = if x.drift.is_empty() {
        x.message.clone().unwrap_or_default()
    } else {
        x.drift
            .iter()
            .map(|d| d.attribute.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if why.is_empty() {
        format!("{} {}", x.resource, x.state)
    } else {
        format!("{} {} ({why})", x.resource, x.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_means_issued_by_its_own_subject() {
        assert!(looks_self_signed("example.com", "CN=example.com"));
        assert!(looks_self_signed("Acme", "CN=mcp.acme.io, O=Acme"));
        assert!(!looks_self_signed("Amazon", "CN=mcp.example.com"));
        assert!(!looks_self_signed("Let's Encrypt", "CN=mcp.example.com"));
        assert!(!looks_self_signed("", "CN=x"));
    }

    #[test]
    fn quotas_fail_when_up_would_exceed_them() {
        let mut r = Checks::default();
        let five = || Limit::read(Ok(Some(5.0)), 5.0);
        quota(&mut r, "q", "VPCs", Ok((4, false)), five());
        quota(&mut r, "q", "VPCs", Ok((5, false)), five());
        quota(
            &mut r,
            "q",
            "VPCs",
            Ok((5, true)),
            Limit::read(
                Err("Service Quotas did not answer (AccessDenied)".into()),
                5.0,
            ),
        );
        quota(
            &mut r,
            "q",
            "VPCs",
            Err("DescribeVpcs failed".into()),
            five(),
        );
        let st: Vec<Status> = r.checks.iter().map(|c| c.status).collect();
        assert_eq!(
            st,
            vec![Status::Pass, Status::Fail, Status::Pass, Status::Warn]
        );
        assert!(
            r.checks[1].message.contains("5 of 5 VPCs"),
            "{}",
            r.checks[1].message
        );
        assert!(
            r.checks[2]
                .message
                .contains("default quota; Service Quotas did not answer")
        );
        assert!(r.checks[2].message.contains("needs 0 more"));
    }

    #[test]
    fn the_documented_regions_include_the_usual_ones() {
        for r in ["us-east-1", "us-west-2", "eu-central-1", "ap-southeast-2"] {
            assert!(AGENTCORE_REGIONS.contains(&r), "{r}");
        }
        assert!(!AGENTCORE_REGIONS.contains(&"ap-east-1"));
    }
}
