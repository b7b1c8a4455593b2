//! `doctor`. Every check passes on a good setup and fails when its condition is broken —
//! credentials, region, hosted zone, delegation (through a loopback DNS stand-in), certificate status, names,
//! region, expiry and issuer, Cognito prefix, quotas (VPCs, internet gateways, ALBs) before the first `up`; every
//! resource, the DNS record, the gateway target and the token for a deployed stack. Not a single mutating request.

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::sync::{Arc, Mutex};

use crate::support::oauth::OAuthStandIn;
use crate::support::{DOMAIN, Emulator, Run, Stack, certificate, hosted_zone, plan_size, state_id};
use serde_json::Value;

/// A DNS stand-in on 127.0.0.1: answers NS questions from a map (NXDOMAIN for names it does not know).
struct DnsStandIn {
    addr: String,
    zones: Arc<Mutex<BTreeMap<String, Vec<String>>>>,
}

impl DnsStandIn {
    fn start() -> DnsStandIn {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap().to_string();
        let zones: Arc<Mutex<BTreeMap<String, Vec<String>>>> = Arc::default();
        let map = zones.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let answer = answer(&buf[..n], &map.lock().unwrap());
                let _ = socket.send_to(&answer, from);
            }
        });
        DnsStandIn { addr, zones }
    }

    fn set(&self, name: &str, servers: &[String]) {
        self.zones
            .lock()
            .unwrap()
            .insert(name.to_owned(), servers.to_vec());
    }
}

/// The answer to one query: the question copied, NS records from the map, or NXDOMAIN.
fn answer(query: &[u8], zones: &BTreeMap<String, Vec<String>>) -> Vec<u8> {
    let mut at = 12;
    let mut labels = Vec::new();
    while query[at] != 0 {
        let len = query[at] as usize;
        labels.push(String::from_utf8_lossy(&query[at + 1..at + 1 + len]).to_lowercase());
        at += 1 + len;
    }
    let question_end = at + 5;
    let name = labels.join(".");
    let mut out = query[..question_end].to_vec();
    out[2] = 0x81; // response, recursion desired
    out[3] = 0x80; // recursion available, no error
    match zones.get(&name) {
        None => out[3] |= 3,
        Some(servers) => {
            out[7] = servers.len() as u8;
            for s in servers {
                out.extend_from_slice(&[0xc0, 12, 0, 2, 0, 1, 0, 0, 0, 60]);
                let mut data = Vec::new();
                for l in s.split('.') {
                    data.push(l.len() as u8);
                    data.extend_from_slice(l.as_bytes());
                }
                data.push(0);
                out.extend_from_slice(&(data.len() as u16).to_be_bytes());
                out.extend_from_slice(&data);
            }
        }
    }
    out
}

/// A certificate for `names` signed by a test CA (so not self-signed), valid for `days`; returns its ARN.
async fn ca_signed(sdk: &aws_config::SdkConfig, names: &[&str], days: u64) -> String {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "neo4j-gw test CA");
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, names[0]);
    let end = std::time::SystemTime::now() + std::time::Duration::from_secs(days * 86_400);
    let date = humantime::format_rfc3339_seconds(end).to_string();
    let (y, m, d) = (&date[0..4], &date[5..7], &date[8..10]);
    leaf.not_after =
        rcgen::date_time_ymd(y.parse().unwrap(), m.parse().unwrap(), d.parse().unwrap());
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    let acm = aws_sdk_acm::Client::new(sdk);
    acm.import_certificate()
        .certificate(aws_sdk_acm::primitives::Blob::new(cert.pem().into_bytes()))
        .private_key(aws_sdk_acm::primitives::Blob::new(
            key.serialize_pem().into_bytes(),
        ))
        .certificate_chain(aws_sdk_acm::primitives::Blob::new(ca_pem.into_bytes()))
        .send()
        .await
        .expect("import certificate")
        .certificate_arn()
        .unwrap()
        .to_owned()
}

/// The name servers Route53 gave a hosted zone.
async fn name_servers(sdk: &aws_config::SdkConfig, zone: &str) -> Vec<String> {
    aws_sdk_route53::Client::new(sdk)
        .get_hosted_zone()
        .id(zone)
        .send()
        .await
        .unwrap()
        .delegation_set()
        .unwrap()
        .name_servers()
        .to_vec()
}

/// `doctor --json` as check → (status, message), with the run's checks that it made no mutating call.
#[track_caller]
fn doctor(st: &Stack, args: &[&str]) -> (Run, BTreeMap<String, (String, String)>) {
    let mut all = vec!["doctor", "--json"];
    all.extend_from_slice(args);
    let run = st.run(&all);
    assert!(
        run.mutating().is_empty(),
        "doctor made mutating calls: {:?}",
        run.mutating()
    );
    let doc: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("doctor --json: {e}\n{}\n{}", run.stdout, run.stderr));
    assert_eq!(doc["ok"], run.code == 0, "{doc:#}");
    let checks = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert!(
                c["status"] != "fail" || c["remedy"].as_str().is_some_and(|r| !r.is_empty()),
                "a FAIL without a remedy: {c}"
            );
            (
                c["check"].as_str().unwrap().to_owned(),
                (
                    c["status"].as_str().unwrap().to_owned(),
                    c["message"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    (run, checks)
}

#[track_caller]
fn status_of<'a>(checks: &'a BTreeMap<String, (String, String)>, check: &str) -> &'a str {
    checks
        .get(check)
        .map(|(s, _)| s.as_str())
        .unwrap_or_else(|| panic!("no check {check}: {checks:#?}"))
}

/// Asserts one check failed (and the run exited 3), naming `what` in its message.
#[track_caller]
fn fails(run: &Run, checks: &BTreeMap<String, (String, String)>, check: &str, what: &str) {
    assert_eq!(run.code, 3, "{checks:#?}\n{}", run.stderr);
    let (status, message) = &checks[check];
    assert_eq!(status, "fail", "{check}: {message}");
    assert!(
        message.contains(what),
        "{check}: `{message}` does not name {what}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn preflight_checks_pass_and_each_fails_when_its_condition_is_broken() {
    let emu = Emulator::start();
    let sdk = emu.sdk().await;
    let zone = hosted_zone(&sdk, DOMAIN, None).await;
    let good = ca_signed(&sdk, &[DOMAIN, "*.example.com"], 365).await;
    let dns = DnsStandIn::start();
    dns.set(DOMAIN, &name_servers(&sdk, &zone).await);
    let mut st = Stack::new(&emu, "doc");
    st.extra_env
        .push(("NEO4J_GW_DNS_RESOLVER".into(), dns.addr.clone()));
    let args: Vec<&str> = vec!["--domain-name", DOMAIN, "--certificate-arn", &good];

    // A good setup: every pre-flight check passes; the deployed-stack checks are skipped.
    let (run, checks) = doctor(&st, &args);
    assert_eq!(run.code, 0, "{checks:#?}");
    for check in [
        "credentials",
        "region",
        "hosted zone",
        "delegation",
        "certificate",
        "certificate names",
        "certificate region",
        "certificate expiry",
        "certificate issuer",
        "cognito domain",
        "quota: VPCs",
        "quota: internet gws",
        "quota: load balancers",
        "quota: elastic IPs",
    ] {
        assert_eq!(status_of(&checks, check), "pass", "{check}: {checks:#?}");
    }
    assert_eq!(status_of(&checks, "deployed stack"), "skip");
    // The text form: one line per check with its status word, and a summary.
    let text = st.run(&[
        "doctor",
        "--domain-name",
        DOMAIN,
        "--certificate-arn",
        &good,
    ]);
    assert_eq!(text.code, 0);
    assert!(
        text.stdout.contains("PASS  delegation")
            && text
                .stdout
                .contains("14 passed, 0 warnings, 0 failed, 1 skipped"),
        "{}",
        text.stdout
    );

    // No credentials at all: the credentials check fails naming what to do, the others are skipped, no SDK noise.
    let mut cmd = st.command(&["doctor", "--json"]);
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let run = st.run_cmd(cmd);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(run.code, 3);
    assert_eq!(doc["checks"][0]["status"], "fail");
    let m = doc["checks"][0]["message"].as_str().unwrap();
    assert!(
        m.contains("no AWS credentials") && m.contains("aws sso login"),
        "{m}"
    );
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    // Only the identity call was tried, and it never got as far as an HTTP answer.
    assert!(
        run.calls
            .iter()
            .all(|c| c["operation"] == "GetCallerIdentity" && c["http_status"].is_null()),
        "{:?}",
        run.calls
    );

    // A region without AgentCore Gateway.
    let (run, checks) = doctor(&st, &["--region", "ap-east-1"]);
    fails(&run, &checks, "region", "ap-east-1");

    // No hosted zone for the domain.
    let (run, checks) = doctor(&st, &["--domain-name", "nozone.example.org"]);
    fails(&run, &checks, "hosted zone", "nozone.example.org");

    // The domain is delegated elsewhere; then not at all.
    dns.set(DOMAIN, &["ns1.elsewhere.example.net".to_owned()]);
    let (run, checks) = doctor(&st, &args);
    fails(&run, &checks, "delegation", "ns1.elsewhere.example.net");
    dns.zones.lock().unwrap().remove(DOMAIN);
    let (run, checks) = doctor(&st, &args);
    fails(&run, &checks, "delegation", "NXDOMAIN");
    dns.set(DOMAIN, &name_servers(&sdk, &zone).await);

    // Certificates: self-signed; not covering the FQDN; expiring in 10 days; from another region; not ISSUED.
    let self_signed = certificate(&sdk, &[DOMAIN, "*.example.com"]).await;
    let (run, checks) = doctor(
        &st,
        &["--certificate-arn", &self_signed, "--domain-name", DOMAIN],
    );
    fails(&run, &checks, "certificate issuer", "self-signed");
    let other_names = ca_signed(&sdk, &["mcp.example.org"], 365).await;
    let (run, checks) = doctor(
        &st,
        &["--certificate-arn", &other_names, "--domain-name", DOMAIN],
    );
    fails(&run, &checks, "certificate names", "mcp.example.com");
    let expiring = ca_signed(&sdk, &[DOMAIN, "*.example.com"], 10).await;
    let (run, checks) = doctor(
        &st,
        &["--certificate-arn", &expiring, "--domain-name", DOMAIN],
    );
    fails(&run, &checks, "certificate expiry", "IMPORTED");
    let elsewhere = good.replace(":us-east-1:", ":eu-west-1:");
    let run = st.run(&["doctor", "--certificate-arn", &elsewhere]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--certificate-arn") && run.stderr.contains("eu-west-1"));
    let acm = aws_sdk_acm::Client::new(&sdk);
    let pending = acm
        .request_certificate()
        .domain_name("mcp.example.com")
        .send()
        .await
        .unwrap()
        .certificate_arn()
        .unwrap()
        .to_owned();
    let (run, checks) = doctor(
        &st,
        &["--certificate-arn", &pending, "--domain-name", DOMAIN],
    );
    // The emulator issues a requested certificate after a while: the check must match what ACM said then.
    let now = acm
        .describe_certificate()
        .certificate_arn(&pending)
        .send()
        .await
        .unwrap();
    if now.certificate().unwrap().status().map(|s| s.as_str()) == Some("PENDING_VALIDATION") {
        fails(&run, &checks, "certificate", "PENDING_VALIDATION");
    }

    // The Cognito domain prefix is held by someone else's pool.
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
    let pool = cognito
        .create_user_pool()
        .pool_name("someone-else")
        .send()
        .await
        .unwrap();
    cognito
        .create_user_pool_domain()
        .domain("doc-123456789012-us-east-1")
        .user_pool_id(pool.user_pool().unwrap().id().unwrap())
        .send()
        .await
        .unwrap();
    let (run, checks) = doctor(&st, &args);
    fails(
        &run,
        &checks,
        "cognito domain",
        "doc-123456789012-us-east-1",
    );
    let (_, checks) = doctor(
        &st,
        &[&args[..], &["--cognito-domain-prefix", "doc-own"]].concat(),
    );
    assert_eq!(status_of(&checks, "cognito domain"), "pass");

    // Quotas: VPCs and internet gateways at their default of 5, twenty ALBs (the emulator's limit).
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let mut vpcs = Vec::new();
    for i in 0..4 {
        let v = ec2
            .create_vpc()
            .cidr_block(format!("10.{}.0.0/16", 100 + i))
            .send()
            .await
            .unwrap();
        vpcs.push(v.vpc().unwrap().vpc_id().unwrap().to_owned());
    }
    for _ in 0..5 {
        ec2.create_internet_gateway().send().await.unwrap();
    }
    let mut subnets = Vec::new();
    for (i, az) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpcs[0])
            .cidr_block(format!("10.100.{i}.0/24"))
            .availability_zone(*az)
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_owned());
    }
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    for i in 0..20 {
        elb.create_load_balancer()
            .name(format!("other-{i}"))
            .set_subnets(Some(subnets.clone()))
            .send()
            .await
            .unwrap();
    }
    let (run, checks) = doctor(&st, &args);
    fails(&run, &checks, "quota: VPCs", "5 of 5 VPCs");
    fails(
        &run,
        &checks,
        "quota: internet gws",
        "5 of 5 internet gateways",
    );
    fails(
        &run,
        &checks,
        "quota: load balancers",
        "20 of 20 Application Load Balancers",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deployed_stack_checks_pass_and_each_fails_when_its_condition_is_broken() {
    let emu = Emulator::start();
    let sdk = emu.sdk().await;
    let zone = hosted_zone(&sdk, DOMAIN, None).await;
    let cert = ca_signed(&sdk, &[DOMAIN, "*.example.com"], 365).await;
    let dns = DnsStandIn::start();
    dns.set(DOMAIN, &name_servers(&sdk, &zone).await);
    let oauth = OAuthStandIn::start(&emu);
    let mut st = Stack::new(&emu, "doc-up");
    st.extra_env
        .push(("NEO4J_GW_DNS_RESOLVER".into(), dns.addr.clone()));
    st.up(&cert, &[]).ok();
    let token = ["--token-endpoint", oauth.url.as_str()];

    // Deployed and healthy: every check passes, the tools listed through the gateway and the origin lock included.
    let (run, checks) = doctor(&st, &token);
    assert_eq!(run.code, 0, "{checks:#?}");
    for (check, (status, message)) in &checks {
        assert_eq!(status, "pass", "{check}: {message}");
    }
    assert!(
        checks["tools"].1.contains("neo4j-mcp___read-cypher"),
        "{:?}",
        checks["tools"]
    );
    assert!(
        checks["resources"]
            .1
            .contains(&format!("all {}", plan_size().nodes)),
        "{:?}",
        checks["resources"]
    );
    assert!(
        checks["token"].1.contains("neo4j-mcp-gateway/invoke"),
        "{:?}",
        checks["token"]
    );
    // With the emulator's data plane, the Cognito domain's own endpoint answers: no --token-endpoint needed.
    let (_, checks) = doctor(&st, &[]);
    assert_eq!(status_of(&checks, "token"), "pass");
    // Without it (and without a token endpoint), the token and tools checks are skipped and say why.
    let run = st.run_cmd(st.command_without_data_plane(&["doctor", "--json"]));
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let check = |name: &str| {
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} check: {doc:#}"))
    };
    for name in ["token", "tools"] {
        assert_eq!(check(name)["status"], "skip", "{doc:#}");
        assert!(
            check(name)["message"]
                .as_str()
                .is_some_and(|m| m.contains("--data-plane-endpoint")),
            "{doc:#}"
        );
    }

    // The token endpoint refuses (a scope the app client is not granted).
    let (run, checks) = doctor(&st, &[&token[..], &["--scope", "other"]].concat());
    fails(&run, &checks, "token", "invalid_scope");

    // The DNS record deleted out of band: the resources and the record fail.
    let r53 = aws_sdk_route53::Client::new(&sdk);
    let record = r53
        .list_resource_record_sets()
        .hosted_zone_id(&zone)
        .send()
        .await
        .unwrap()
        .resource_record_sets()
        .iter()
        .find(|r| r.name().trim_end_matches('.') == "mcp.example.com")
        .cloned()
        .unwrap();
    use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch};
    r53.change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Delete)
                        .resource_record_set(record)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let (run, checks) = doctor(&st, &token);
    fails(&run, &checks, "resources", "dns-record missing");
    fails(&run, &checks, "dns record", "dns-record missing");
    st.up(&cert, &[]).ok();

    // The gateway target deleted out of band.
    let state = st.state();
    let ac = aws_sdk_bedrockagentcorecontrol::Client::new(&sdk);
    ac.delete_gateway_target()
        .gateway_identifier(state_id(&state, "gateway", "gateway_id"))
        .target_id(state_id(&state, "gateway-target", "target_id"))
        .send()
        .await
        .unwrap();
    let (run, checks) = doctor(&st, &token);
    fails(&run, &checks, "gateway target", "gateway-target");
    fails(&run, &checks, "resources", "gateway-target missing");
    st.up(&cert, &[]).ok();
    let (run, _) = doctor(&st, &token);
    assert_eq!(run.code, 0);
}
