//! Test support: a real moto server on a free loopback port, the real `neo4j-gw` binary run against it with a
//! temporary working directory (state dir, call ledger), SDK clients for assertions, and fixtures (a public
//! hosted zone and an imported self-signed certificate, so ACM reports it `ISSUED`).
//!
//! Nothing here talks to anything but 127.0.0.1.

pub mod checks;
pub mod dataplane;
pub mod inventory;
pub mod matrix;
pub mod oauth;
pub mod oob;
pub mod proxy;
pub mod report;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::OnceLock;

use aws_config::BehaviorVersion;
use serde_json::Value;

pub const REGION: &str = "us-east-1";
pub const DOMAIN: &str = "example.com";

/// The scripts the tests run, relative to the repository's root: the one place that names them.
pub const VENV_SCRIPT: &str = "scripts/venv";
/// The emulator: moto with the project's patches and the loopback data plane; prints one JSON ready line.
pub const EMULATOR_SCRIPT: &str = "scripts/emulator/moto_server.py";

/// A path inside the repository.
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The plan's size as the binary builds it (`neo4j_gw::plan`, default settings: every node wanted): its nodes, those
/// the stack owns (creates, changes and deletes) and those it only uses (the hosted zone and the certificate, checked
/// in pre-flight).
#[derive(Debug, Clone, Copy)]
pub struct PlanSize {
    pub nodes: usize,
    pub owned: usize,
    pub used: usize,
}

pub fn plan_size() -> PlanSize {
    let plan = neo4j_gw::plan::resources();
    let used = plan.iter().filter(|r| r.external()).count();
    PlanSize {
        nodes: plan.len(),
        owned: plan.len() - used,
        used,
    }
}

/// The project's Python virtualenv (created once per test binary by `scripts/venv`).
pub fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let out = Command::new(repo_path(VENV_SCRIPT))
            .output()
            .unwrap_or_else(|e| panic!("run {VENV_SCRIPT}: {e}"));
        assert!(
            out.status.success(),
            "{VENV_SCRIPT} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// A moto server, stopped when dropped (its stdin closes, and it is killed to be sure).
pub struct Emulator {
    child: Child,
    stdin: Option<ChildStdin>,
    pub endpoint: String,
    /// The loopback data plane (gateway, Cognito token endpoint, load balancer and MCP server stand-ins).
    pub data_plane: String,
}

impl Emulator {
    pub fn start() -> Emulator {
        Emulator::start_with(&[])
    }

    pub fn start_with(args: &[&str]) -> Emulator {
        let mut child = Command::new(python())
            .arg(repo_path(EMULATOR_SCRIPT))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {EMULATOR_SCRIPT}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("read {EMULATOR_SCRIPT}'s ready line: {e}"));
        let ready: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad ready line {line:?}: {e}"));
        let endpoint = ready["endpoint"].as_str().expect("endpoint").to_owned();
        assert!(
            endpoint.starts_with("http://127.0.0.1:"),
            "emulator must be on loopback: {endpoint}"
        );
        let data_plane = ready["data_plane"].as_str().unwrap_or_default().to_owned();
        assert!(
            data_plane.is_empty() || data_plane.starts_with("http://127.0.0.1:"),
            "the data plane must be on loopback: {data_plane}"
        );
        Emulator {
            stdin: child.stdin.take(),
            child,
            endpoint,
            data_plane,
        }
    }

    pub async fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_sts::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .load()
            .await
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One stack under test: a temp working directory, a unique stack name, the emulator.
pub struct Stack<'a> {
    pub emu: &'a Emulator,
    pub name: String,
    pub dir: tempfile::TempDir,
    pub extra_env: Vec<(String, String)>,
}

/// The result of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub calls: Vec<Value>,
}

/// The node the stack's lease records its calls under (src/lease.rs): every run that may change the stack takes and
/// lets go of the lease, which is not a change of the stack — [`Run::mutating`] and [`Run::count`] leave those calls
/// out; [`Run::lease_calls`] has them.
pub const LEASE_NODE: &str = neo4j_gw::lease::NODE;

fn is_lease(call: &Value) -> bool {
    call["node"].as_str() == Some(LEASE_NODE)
}

impl Run {
    /// The mutating calls of the run, but for the lease's.
    pub fn mutating(&self) -> Vec<String> {
        self.mutating_where(|c| !is_lease(c))
    }

    /// Every mutating call of the run, the lease's included (what a proxy in front of AWS sees).
    pub fn mutating_all(&self) -> Vec<String> {
        self.mutating_where(|_| true)
    }

    fn mutating_where(&self, keep: impl Fn(&Value) -> bool) -> Vec<String> {
        self.calls
            .iter()
            .filter(|c| keep(c))
            .filter(|c| c["mutating"].as_bool() == Some(true))
            .map(|c| {
                format!(
                    "{}:{}",
                    c["service"].as_str().unwrap_or(""),
                    c["operation"].as_str().unwrap_or("")
                )
            })
            .collect()
    }

    /// How often the run called `operation`, but for the lease's calls.
    pub fn count(&self, operation: &str) -> usize {
        self.calls
            .iter()
            .filter(|c| !is_lease(c))
            .filter(|c| c["operation"].as_str() == Some(operation))
            .count()
    }

    /// The operations of the lease's calls, in order (`take`, `renew`, `release`, `remove`).
    pub fn lease_calls(&self) -> Vec<String> {
        self.calls
            .iter()
            .filter(|c| is_lease(c))
            .map(|c| c["operation"].as_str().unwrap_or("").to_owned())
            .collect()
    }

    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

impl<'a> Stack<'a> {
    pub fn new(emu: &'a Emulator, name: &str) -> Stack<'a> {
        Stack {
            emu,
            name: name.to_owned(),
            dir: tempfile::tempdir().unwrap(),
            extra_env: Vec::new(),
        }
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir
            .path()
            .join("state")
            .join(format!("{}.json", self.name))
    }

    pub fn state(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.state_path()).expect("state file"))
            .expect("state json")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        self.command_with(args, true)
    }

    /// The binary against the emulator's control plane only: public names (the gateway, the Cognito domain) are
    /// then unreachable, as they are for an emulator without a data plane.
    pub fn command_without_data_plane(&self, args: &[&str]) -> Command {
        self.command_with(args, false)
    }

    fn command_with(&self, args: &[&str], data_plane: bool) -> Command {
        // The benchmark measures the release binary (scripts/bench sets NEO4J_GW_BIN); tests run cargo's.
        let bin = std::env::var_os("NEO4J_GW_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_neo4j-gw")));
        let mut cmd = Command::new(bin);
        cmd.current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", REGION)
            .env("AWS_CONFIG_FILE", self.dir.path().join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.path().join("no-aws-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NEO4J_GW_CALL_LOG", self.dir.path().join("calls.jsonl"))
            .arg("--stack")
            .arg(&self.name)
            .arg("--endpoint-url")
            .arg(&self.emu.endpoint);
        if data_plane && !self.emu.data_plane.is_empty() {
            cmd.arg("--data-plane-endpoint").arg(&self.emu.data_plane);
        }
        cmd.args(args).stdin(Stdio::null());
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs the binary and collects its output and the AWS calls it made.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_cmd(self.command(args))
    }

    pub fn run_cmd(&self, mut cmd: Command) -> Run {
        let log = self.dir.path().join("calls.jsonl");
        let _ = std::fs::remove_file(&log);
        let Output {
            status,
            stdout,
            stderr,
        } = cmd.output().expect("run neo4j-gw");
        let calls = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("ledger line is JSON"))
            .collect();
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            calls,
        }
    }

    /// `up` with the sample domain and the given certificate.
    pub fn up(&self, cert: &str, extra: &[&str]) -> Run {
        let mut args = vec!["up", "--domain-name", DOMAIN, "--certificate-arn", cert];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    pub fn status_json(&self) -> (i32, Value) {
        let r = self.run(&["status", "--json"]);
        let v = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("status --json: {e}\n{}\n{}", r.stdout, r.stderr));
        (r.code, v)
    }
}

/// A public hosted zone for `domain`; returns its ID.
pub async fn hosted_zone(
    sdk: &aws_config::SdkConfig,
    domain: &str,
    private_vpc: Option<&str>,
) -> String {
    let r53 = aws_sdk_route53::Client::new(sdk);
    let mut req = r53
        .create_hosted_zone()
        .name(domain)
        .caller_reference(format!("tests-{domain}-{}", private_vpc.is_some()));
    if let Some(vpc) = private_vpc {
        req = req
            .vpc(
                aws_sdk_route53::types::Vpc::builder()
                    .vpc_id(vpc)
                    .vpc_region(aws_sdk_route53::types::VpcRegion::UsEast1)
                    .build(),
            )
            .hosted_zone_config(
                aws_sdk_route53::types::HostedZoneConfig::builder()
                    .private_zone(true)
                    .build(),
            );
    }
    let out = req.send().await.expect("create hosted zone");
    out.hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_owned()
}

/// Imports a self-signed certificate for the names into ACM (`ISSUED`, `IMPORTED`; the gateway would not trust
/// it); returns its ARN.
pub async fn certificate(sdk: &aws_config::SdkConfig, names: &[&str]) -> String {
    let key =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    let acm = aws_sdk_acm::Client::new(sdk);
    let out = acm
        .import_certificate()
        .certificate(aws_sdk_acm::primitives::Blob::new(
            key.cert.pem().into_bytes(),
        ))
        .private_key(aws_sdk_acm::primitives::Blob::new(
            key.signing_key.serialize_pem().into_bytes(),
        ))
        .send()
        .await
        .expect("import certificate");
    out.certificate_arn().unwrap().to_owned()
}

/// A certificate requested from ACM with DNS validation for `domain` and `*.domain`, its validation record
/// written in the public zone `zone`, hence ISSUED (AMAZON_ISSUED: the gateway trusts it); returns its ARN.
pub async fn issued_certificate(sdk: &aws_config::SdkConfig, zone: &str, domain: &str) -> String {
    let acm = aws_sdk_acm::Client::new(sdk);
    let arn = acm
        .request_certificate()
        .domain_name(domain)
        .subject_alternative_names(format!("*.{domain}"))
        .validation_method(aws_sdk_acm::types::ValidationMethod::Dns)
        .send()
        .await
        .expect("request certificate")
        .certificate_arn()
        .unwrap()
        .to_owned();
    let described = acm
        .describe_certificate()
        .certificate_arn(&arn)
        .send()
        .await
        .unwrap();
    let mut changes = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for o in described.certificate().unwrap().domain_validation_options() {
        let r = o.resource_record().unwrap();
        if seen.insert(r.name().to_owned()) {
            changes.push(
                aws_sdk_route53::types::Change::builder()
                    .action(aws_sdk_route53::types::ChangeAction::Upsert)
                    .resource_record_set(
                        aws_sdk_route53::types::ResourceRecordSet::builder()
                            .name(r.name())
                            .r#type(aws_sdk_route53::types::RrType::Cname)
                            .ttl(300)
                            .resource_records(
                                aws_sdk_route53::types::ResourceRecord::builder()
                                    .value(r.value())
                                    .build()
                                    .unwrap(),
                            )
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            );
        }
    }
    aws_sdk_route53::Client::new(sdk)
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(
            aws_sdk_route53::types::ChangeBatch::builder()
                .set_changes(Some(changes))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("validation record");
    let status = acm
        .describe_certificate()
        .certificate_arn(&arn)
        .send()
        .await
        .unwrap()
        .certificate()
        .and_then(|c| c.status().cloned());
    assert_eq!(
        status,
        Some(aws_sdk_acm::types::CertificateStatus::Issued),
        "the emulator validates a requested certificate once its CNAME is in the zone"
    );
    arn
}

/// The tool names of a `tools --json` answer.
pub fn tool_names(stdout: &str) -> std::collections::BTreeSet<String> {
    let doc: Value =
        serde_json::from_str(stdout).unwrap_or_else(|e| panic!("tools --json: {e}\n{stdout}"));
    doc.as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// `up` succeeded and its last step listed the tools through the gateway, as an agent would.
#[track_caller]
pub fn verified(run: &Run) {
    run.ok();
    assert!(
        run.stdout.contains("Verified: an agent with a token lists"),
        "{}",
        run.stdout
    );
}

/// The standard fixtures: the sample public zone and a wildcard certificate covering it, requested from ACM.
pub async fn fixtures(emu: &Emulator) -> (String, String) {
    let sdk = emu.sdk().await;
    let zone = hosted_zone(&sdk, DOMAIN, None).await;
    let cert = issued_certificate(&sdk, &zone, DOMAIN).await;
    (zone, cert)
}

/// Every EC2 resource carrying the stack's tag, as (type, id). (moto keeps tags of deleted resources in
/// DescribeTags, so each kind is described instead.)
pub async fn ec2_tagged(sdk: &aws_config::SdkConfig, stack: &str) -> Vec<(String, String)> {
    use aws_sdk_ec2::types::Filter;
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let f = || {
        Filter::builder()
            .name(format!("tag:{}", neo4j_gw::resources::TAG_STACK))
            .values(stack)
            .build()
    };
    let mut out = Vec::new();
    for v in ec2
        .describe_vpcs()
        .filters(f())
        .send()
        .await
        .unwrap()
        .vpcs()
    {
        out.push(("vpc".to_owned(), v.vpc_id().unwrap_or_default().to_owned()));
    }
    for s in ec2
        .describe_subnets()
        .filters(f())
        .send()
        .await
        .unwrap()
        .subnets()
    {
        out.push((
            "subnet".to_owned(),
            s.subnet_id().unwrap_or_default().to_owned(),
        ));
    }
    for g in ec2
        .describe_internet_gateways()
        .filters(f())
        .send()
        .await
        .unwrap()
        .internet_gateways()
    {
        out.push((
            "internet-gateway".to_owned(),
            g.internet_gateway_id().unwrap_or_default().to_owned(),
        ));
    }
    for t in ec2
        .describe_route_tables()
        .filters(f())
        .send()
        .await
        .unwrap()
        .route_tables()
    {
        out.push((
            "route-table".to_owned(),
            t.route_table_id().unwrap_or_default().to_owned(),
        ));
    }
    for g in ec2
        .describe_security_groups()
        .filters(f())
        .send()
        .await
        .unwrap()
        .security_groups()
    {
        out.push((
            "security-group".to_owned(),
            g.group_id().unwrap_or_default().to_owned(),
        ));
    }
    out
}

/// A recorded resource ID from the state file.
pub fn state_id(state: &Value, node: &str, key: &str) -> String {
    state["resources"][node]["ids"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no {node}.{key} in state"))
        .to_owned()
}

/// One resource's entry in `status --json`.
pub fn report<'v>(status: &'v Value, node: &str) -> &'v Value {
    status["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == node)
        .unwrap_or_else(|| panic!("{node} not in status: {status:#}"))
}

/// The drifted attributes `status --json` reports for a resource.
pub fn drift_attributes(status: &Value, node: &str) -> Vec<String> {
    report(status, node)["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["attribute"].as_str().unwrap().to_owned())
        .collect()
}
