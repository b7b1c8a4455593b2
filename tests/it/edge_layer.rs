//! The edge of the serving stack against a real moto server: the pre-flight of the hosted zone and the
//! certificate, the target group, the load balancer, the HTTPS listener and the DNS alias record — their drift,
//! the move of the record on a subdomain change, and `down` (which never touches the zone or the certificate).

use crate::support::{
    self, DOMAIN, Emulator, Stack, certificate, drift_attributes, fixtures, hosted_zone, report,
    state_id,
};
use aws_sdk_elasticloadbalancingv2::types::{ActionTypeEnum, Certificate};
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};

const EDGE: &[&str] = &["target-group", "load-balancer", "listener", "dns-record"];

/// The simple A record named `fqdn` in the zone, if any.
async fn record(
    r53: &aws_sdk_route53::Client,
    zone: &str,
    fqdn: &str,
) -> Option<ResourceRecordSet> {
    let out = r53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .start_record_name(fqdn)
        .start_record_type(RrType::A)
        .send()
        .await
        .unwrap();
    out.resource_record_sets()
        .iter()
        .find(|r| r.name().trim_end_matches('.') == fqdn && r.r#type() == &RrType::A)
        .cloned()
}

fn alias_dns(set: &ResourceRecordSet) -> String {
    set.alias_target()
        .map(|a| a.dns_name().trim_end_matches('.').to_owned())
        .unwrap_or_else(|| "not an alias".into())
}

async fn upsert(r53: &aws_sdk_route53::Client, zone: &str, set: ResourceRecordSet) {
    r53.change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Upsert)
                        .resource_record_set(set)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

fn position(run: &support::Run, operation: &str) -> usize {
    run.calls
        .iter()
        .position(|c| c["operation"] == operation)
        .unwrap_or_else(|| panic!("no {operation} call"))
}

/// Every pre-flight failure: one clear message, exit 2, not a single mutating call, no state file.
#[tokio::test(flavor = "multi_thread")]
async fn preflight_failures_exit_2_and_create_nothing() {
    let emu = Emulator::start();
    let sdk = emu.sdk().await;
    fixtures(&emu).await;
    // A domain whose only zone is private (attached to a VPC).
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.9.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_owned();
    let private_zone = hosted_zone(&sdk, "private.example.net", Some(&vpc)).await;
    let private_cert = certificate(&sdk, &["*.private.example.net"]).await;
    let nozone_cert = certificate(&sdk, &["*.nozone.example.net"]).await;
    let other_names = certificate(&sdk, &["mcp.example.org", "*.mcp.example.com"]).await;
    // ACM's request_certificate stays PENDING_VALIDATION in moto, as an unvalidated certificate does in AWS.
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
    let missing =
        "arn:aws:acm:us-east-1:123456789012:certificate/00000000-1111-2222-3333-444444444444";
    let elsewhere =
        "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-1111-2222-3333-444444444444";

    let cases: Vec<(&str, &str, &str, Vec<&str>)> = vec![
        (
            "pf-nozone",
            "nozone.example.net",
            &nozone_cert,
            vec![
                "hosted-zone: no public hosted zone for nozone.example.net",
                "Create one",
            ],
        ),
        (
            "pf-private",
            "private.example.net",
            &private_cert,
            vec![
                "hosted-zone:",
                "private",
                &private_zone,
                "create a public hosted zone",
            ],
        ),
        (
            "pf-cert-missing",
            DOMAIN,
            missing,
            vec!["certificate:", missing, "does not exist", "us-east-1"],
        ),
        (
            "pf-cert-region",
            DOMAIN,
            elsewhere,
            vec!["--certificate-arn", "eu-west-1", "us-east-1"],
        ),
        (
            "pf-cert-cover",
            DOMAIN,
            &other_names,
            vec![
                "certificate:",
                "but not mcp.example.com",
                "*.example.com",
                "--subdomain",
            ],
        ),
        (
            "pf-cert-pending",
            DOMAIN,
            &pending,
            vec![
                "certificate:",
                "PENDING_VALIDATION, not ISSUED",
                "validation",
            ],
        ),
    ];
    for (stack, domain, cert, needles) in cases {
        let st = Stack::new(&emu, stack);
        let r = st.run(&["up", "--domain-name", domain, "--certificate-arn", cert]);
        assert_eq!(r.code, 2, "{stack}: exit {}\nstderr:\n{}", r.code, r.stderr);
        for n in needles {
            assert!(
                r.stderr.contains(n),
                "{stack}: stderr lacks {n:?}:\n{}",
                r.stderr
            );
        }
        assert_eq!(
            r.mutating(),
            Vec::<String>::new(),
            "{stack}: mutating calls"
        );
        assert!(
            !st.state_path().exists(),
            "{stack}: a failed pre-flight wrote a state file"
        );
        if stack == "pf-cert-region" {
            // Caught by the settings' validation, before a single AWS call.
            assert!(r.calls.is_empty(), "{stack}: {:?}", r.calls);
        } else {
            assert!(r.count("ListHostedZonesByName") + r.count("DescribeCertificate") >= 2);
        }
    }
    // Nothing of any of those stacks exists.
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let lbs = elb.describe_load_balancers().send().await.unwrap();
    assert!(
        lbs.load_balancers().is_empty(),
        "{:?}",
        lbs.load_balancers()
    );
    let tgs = elb.describe_target_groups().send().await.unwrap();
    assert!(tgs.target_groups().is_empty());
    let vpcs = ec2.describe_vpcs().send().await.unwrap();
    assert!(
        vpcs.vpcs()
            .iter()
            .all(|v| v.vpc_id() == Some(vpc.as_str()) || v.is_default() == Some(true))
    );
    // The private zone got no record.
    let r53 = aws_sdk_route53::Client::new(&sdk);
    assert!(
        record(&r53, &private_zone, "mcp.private.example.net")
            .await
            .is_none()
    );
}

/// The edge comes up as specified; out-of-band changes to the listener and the record are reported as drift
/// and repaired in place; a subdomain change moves the record; `down` removes the edge and keeps zone and cert.
#[tokio::test(flavor = "multi_thread")]
async fn edge_up_drift_move_and_down() {
    let emu = Emulator::start();
    let sdk = emu.sdk().await;
    let (zone, cert) = fixtures(&emu).await;
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let r53 = aws_sdk_route53::Client::new(&sdk);
    let st = Stack::new(&emu, "edge-life");

    let up = st.up(&cert, &[]);
    up.ok();
    for op in [
        "CreateTargetGroup",
        "CreateLoadBalancer",
        "CreateListener",
        "ChangeResourceRecordSets",
    ] {
        assert_eq!(up.count(op), 1, "{op}: {:?}", up.mutating());
    }
    assert!(
        up.count("GetChange") >= 1,
        "the record's change is waited for"
    );
    let state = st.state();
    assert_eq!(state["resources"]["hosted-zone"]["owned"], false);
    assert_eq!(state["resources"]["certificate"]["owned"], false);
    assert_eq!(state_id(&state, "hosted-zone", "hosted_zone_id"), zone);
    assert_eq!(state_id(&state, "certificate", "certificate_arn"), cert);
    let alb_arn = state_id(&state, "load-balancer", "arn");
    let tg_arn = state_id(&state, "target-group", "arn");
    let listener_arn = state_id(&state, "listener", "arn");
    assert_eq!(state_id(&state, "target-group", "name"), "edge-life-tg");
    assert_eq!(state_id(&state, "dns-record", "fqdn"), "mcp.example.com");
    assert_eq!(state_id(&state, "dns-record", "hosted_zone_id"), zone);

    // The load balancer: internet-facing ALB in both subnets behind the ALB security group, active.
    let lbs = elb
        .describe_load_balancers()
        .load_balancer_arns(&alb_arn)
        .send()
        .await
        .unwrap();
    let lb = &lbs.load_balancers()[0];
    assert_eq!(lb.load_balancer_name(), Some("edge-life-alb"));
    assert_eq!(lb.scheme().map(|s| s.as_str()), Some("internet-facing"));
    assert_eq!(lb.r#type().map(|s| s.as_str()), Some("application"));
    assert_eq!(
        lb.state().and_then(|s| s.code()).map(|c| c.as_str()),
        Some("active")
    );
    let mut subnets: Vec<&str> = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id())
        .collect();
    subnets.sort();
    let mut want = vec![
        state_id(&state, "subnet-a", "subnet_id"),
        state_id(&state, "subnet-b", "subnet_id"),
    ];
    want.sort();
    assert_eq!(subnets, want);
    assert_eq!(
        lb.security_groups(),
        [state_id(&state, "alb-sg", "group_id")]
    );
    assert_eq!(
        state_id(&state, "load-balancer", "dns_name"),
        lb.dns_name().unwrap()
    );
    assert_eq!(
        state_id(&state, "load-balancer", "canonical_hosted_zone_id"),
        lb.canonical_hosted_zone_id().unwrap()
    );

    // The target group: IP targets on HTTP 8080 in the VPC, /healthz → 200, explicit timing, 30 s delay, tags.
    let tgs = elb
        .describe_target_groups()
        .target_group_arns(&tg_arn)
        .send()
        .await
        .unwrap();
    let tg = &tgs.target_groups()[0];
    assert_eq!(tg.protocol().map(|p| p.as_str()), Some("HTTP"));
    assert_eq!(tg.port(), Some(8080));
    assert_eq!(tg.target_type().map(|t| t.as_str()), Some("ip"));
    assert_eq!(tg.vpc_id().unwrap(), state_id(&state, "vpc", "vpc_id"));
    assert_eq!(tg.health_check_path(), Some("/healthz"));
    assert_eq!(tg.matcher().and_then(|m| m.http_code()), Some("200"));
    assert_eq!(tg.health_check_interval_seconds(), Some(15));
    assert_eq!(tg.healthy_threshold_count(), Some(2));
    assert_eq!(tg.unhealthy_threshold_count(), Some(3));
    let attrs = elb
        .describe_target_group_attributes()
        .target_group_arn(&tg_arn)
        .send()
        .await
        .unwrap();
    let delay = attrs
        .attributes()
        .iter()
        .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
        .and_then(|a| a.value());
    assert_eq!(delay, Some("30"));

    // The listener: HTTPS 443, the certificate, TLS 1.3 policy, forward to the target group, tagged.
    let ls = elb
        .describe_listeners()
        .listener_arns(&listener_arn)
        .send()
        .await
        .unwrap();
    let l = &ls.listeners()[0];
    assert_eq!(l.port(), Some(443));
    assert_eq!(l.protocol().map(|p| p.as_str()), Some("HTTPS"));
    assert_eq!(l.ssl_policy(), Some("ELBSecurityPolicy-TLS13-1-2-2021-06"));
    assert_eq!(l.certificates()[0].certificate_arn(), Some(cert.as_str()));
    // With the origin lock (the default) the listener answers 403 and its one rule forwards to the target group.
    assert_eq!(
        l.default_actions()[0].r#type(),
        Some(&ActionTypeEnum::FixedResponse)
    );
    assert_eq!(
        l.default_actions()[0]
            .fixed_response_config()
            .and_then(|f| f.status_code()),
        Some("403")
    );
    let rules = elb
        .describe_rules()
        .listener_arn(&listener_arn)
        .send()
        .await
        .unwrap();
    let forwarding: Vec<_> = rules
        .rules()
        .iter()
        .filter(|r| r.is_default() != Some(true))
        .collect();
    assert_eq!(forwarding.len(), 1);
    assert_eq!(
        forwarding[0].actions()[0].target_group_arn(),
        Some(tg_arn.as_str())
    );
    for arn in [&alb_arn, &tg_arn, &listener_arn] {
        let tags = elb.describe_tags().resource_arns(arn).send().await.unwrap();
        let tags = tags.tag_descriptions()[0].tags();
        assert!(
            tags.iter()
                .any(|t| t.key() == Some(neo4j_gw::resources::TAG_STACK)
                    && t.value() == Some("edge-life")),
            "{arn}: {tags:?}"
        );
    }

    // The record: alias A → the ALB, evaluating target health.
    let rec = record(&r53, &zone, "mcp.example.com")
        .await
        .expect("record");
    assert_eq!(alias_dns(&rec), lb.dns_name().unwrap());
    let alias = rec.alias_target().unwrap();
    assert_eq!(
        alias.hosted_zone_id(),
        lb.canonical_hosted_zone_id().unwrap()
    );
    assert!(alias.evaluate_target_health());

    let (_, status) = st.status_json();
    for node in EDGE.iter().chain(&["hosted-zone", "certificate"]) {
        assert_eq!(
            report(&status, node)["state"],
            "present",
            "{node}: {status:#}"
        );
    }
    assert_eq!(report(&status, "certificate")["owned"], false);
    assert_eq!(status["outputs"]["McpFqdn"], "mcp.example.com");
    assert_eq!(
        status["outputs"]["McpServiceUrl"],
        "https://mcp.example.com/mcp"
    );

    // Nothing changed: nothing is changed.
    let again = st.up(&cert, &[]);
    again.ok();
    assert_eq!(
        again.mutating(),
        Vec::<String>::new(),
        "no-op up made mutating calls"
    );

    // The listener's certificate changed out of band → drift → restored in place.
    let other = certificate(&sdk, &[&format!("*.{DOMAIN}")]).await;
    elb.modify_listener()
        .listener_arn(&listener_arn)
        .certificates(Certificate::builder().certificate_arn(&other).build())
        .send()
        .await
        .unwrap();
    let (code, status) = st.status_json();
    assert_eq!(code, 3);
    assert_eq!(
        report(&status, "listener")["state"],
        "drifted",
        "{status:#}"
    );
    assert_eq!(drift_attributes(&status, "listener"), ["certificate"]);
    assert_eq!(
        report(&status, "listener")["drift"][0]["actual"],
        other.as_str()
    );
    let fix = st.up(&cert, &[]);
    fix.ok();
    assert_eq!(fix.count("ModifyListener"), 1, "{:?}", fix.mutating());
    assert_eq!(fix.mutating().len(), 1, "{:?}", fix.mutating());
    let ls = elb
        .describe_listeners()
        .listener_arns(&listener_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ls.listeners()[0].certificates()[0].certificate_arn(),
        Some(cert.as_str())
    );
    assert_eq!(state_id(&st.state(), "listener", "arn"), listener_arn);

    // The target group's health check and delay, and the ALB's security groups, changed out of band → drift →
    // repaired in place (same ARNs).
    elb.modify_target_group()
        .target_group_arn(&tg_arn)
        .health_check_path("/mcp")
        .matcher(
            aws_sdk_elasticloadbalancingv2::types::Matcher::builder()
                .http_code("200-499")
                .build(),
        )
        .send()
        .await
        .unwrap();
    elb.modify_target_group_attributes()
        .target_group_arn(&tg_arn)
        .attributes(
            aws_sdk_elasticloadbalancingv2::types::TargetGroupAttribute::builder()
                .key("deregistration_delay.timeout_seconds")
                .value("300")
                .build(),
        )
        .send()
        .await
        .unwrap();
    elb.set_security_groups()
        .load_balancer_arn(&alb_arn)
        .security_groups(state_id(&state, "task-sg", "group_id"))
        .send()
        .await
        .unwrap();
    let (code, status) = st.status_json();
    assert_eq!(code, 3);
    assert_eq!(
        drift_attributes(&status, "target-group"),
        [
            "health_check_path",
            "health_check_matcher",
            "deregistration_delay.timeout_seconds"
        ],
        "{status:#}"
    );
    assert_eq!(
        drift_attributes(&status, "load-balancer"),
        ["security_groups"]
    );
    let fix = st.up(&cert, &[]);
    fix.ok();
    let mut ops: Vec<String> = fix
        .mutating()
        .into_iter()
        .map(|m| m.rsplit(':').next().unwrap().to_owned())
        .collect();
    ops.sort();
    assert_eq!(
        ops,
        [
            "ModifyTargetGroup",
            "ModifyTargetGroupAttributes",
            "SetSecurityGroups"
        ],
        "{:?}",
        fix.mutating()
    );
    let tgs = elb
        .describe_target_groups()
        .target_group_arns(&tg_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(tgs.target_groups()[0].health_check_path(), Some("/healthz"));
    assert_eq!(
        tgs.target_groups()[0].matcher().and_then(|m| m.http_code()),
        Some("200")
    );
    let lbs = elb
        .describe_load_balancers()
        .load_balancer_arns(&alb_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        lbs.load_balancers()[0].security_groups(),
        [state_id(&state, "alb-sg", "group_id")]
    );
    let (_, status) = st.status_json();
    for node in EDGE {
        assert_eq!(
            report(&status, node)["state"],
            "present",
            "{node}: {status:#}"
        );
    }

    // The record re-pointed out of band → drift → restored.
    upsert(
        &r53,
        &zone,
        ResourceRecordSet::builder()
            .name("mcp.example.com")
            .r#type(RrType::A)
            .alias_target(
                AliasTarget::builder()
                    .dns_name("elsewhere-1.us-east-1.elb.amazonaws.com")
                    .hosted_zone_id(lb.canonical_hosted_zone_id().unwrap())
                    .evaluate_target_health(false)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
    )
    .await;
    let (code, status) = st.status_json();
    assert_eq!(code, 3);
    assert_eq!(
        report(&status, "dns-record")["state"],
        "drifted",
        "{status:#}"
    );
    assert_eq!(drift_attributes(&status, "dns-record"), ["alias_target"]);
    let fix = st.up(&cert, &[]);
    fix.ok();
    assert_eq!(
        fix.count("ChangeResourceRecordSets"),
        1,
        "{:?}",
        fix.mutating()
    );
    assert_eq!(fix.mutating().len(), 1, "{:?}", fix.mutating());
    let rec = record(&r53, &zone, "mcp.example.com")
        .await
        .expect("record");
    assert_eq!(alias_dns(&rec), lb.dns_name().unwrap());
    assert!(rec.alias_target().unwrap().evaluate_target_health());

    // A subdomain change moves the record: the new name first, then the old one goes; the ALB stays.
    let mv = st.up(&cert, &["--subdomain", "mcp2"]);
    mv.ok();
    assert!(
        mv.stderr.contains("dns-record") && mv.stderr.contains("fqdn"),
        "the move is reported:\n{}",
        mv.stderr
    );
    assert_eq!(
        mv.count("ChangeResourceRecordSets"),
        2,
        "{:?}",
        mv.mutating()
    );
    for op in [
        "CreateLoadBalancer",
        "DeleteLoadBalancer",
        "CreateListener",
        "ModifyListener",
    ] {
        assert_eq!(mv.count(op), 0, "{op}");
    }
    let new = record(&r53, &zone, "mcp2.example.com")
        .await
        .expect("new record");
    assert_eq!(alias_dns(&new), lb.dns_name().unwrap());
    assert!(
        record(&r53, &zone, "mcp.example.com").await.is_none(),
        "old record left"
    );
    let state = st.state();
    assert_eq!(state_id(&state, "dns-record", "fqdn"), "mcp2.example.com");
    assert_eq!(state_id(&state, "load-balancer", "arn"), alb_arn);
    assert!(
        state["resources"]["dns-record"]["ids"]
            .get("previous_fqdn")
            .is_none()
    );
    let (code, status) = st.status_json();
    assert_eq!(
        report(&status, "dns-record")["state"],
        "present",
        "{status:#}"
    );
    assert_eq!(status["outputs"]["McpFqdn"], "mcp2.example.com");
    let _ = code;
    // The recorded subdomain is now mcp2: a plain `up` is a no-op.
    let again = st.up(&cert, &[]);
    again.ok();
    assert_eq!(again.mutating(), Vec::<String>::new());

    // down: listener, ALB (waited), target group and record go; the zone and the certificate stay.
    let down = st.run(&["down", "--yes"]);
    down.ok();
    let ops: Vec<&str> = down
        .calls
        .iter()
        .filter_map(|c| c["operation"].as_str())
        .collect();
    assert!(position(&down, "DeleteListener") < position(&down, "DeleteLoadBalancer"));
    assert!(position(&down, "DeleteListener") < position(&down, "DeleteTargetGroup"));
    assert!(position(&down, "ChangeResourceRecordSets") < position(&down, "DeleteLoadBalancer"));
    let after_lb_delete = &ops[position(&down, "DeleteLoadBalancer") + 1..];
    assert!(
        after_lb_delete.contains(&"DescribeLoadBalancers"),
        "the ALB deletion is waited for"
    );
    for m in down.mutating() {
        assert!(
            !m.starts_with("acm:")
                && (!m.starts_with("route53:") || m == "route53:ChangeResourceRecordSets"),
            "down touched the zone or the certificate: {m}"
        );
    }
    let lbs = elb
        .describe_load_balancers()
        .load_balancer_arns(&alb_arn)
        .send()
        .await;
    assert!(lbs.is_err(), "ALB still there");
    let tgs = elb
        .describe_target_groups()
        .target_group_arns(&tg_arn)
        .send()
        .await;
    assert!(tgs.is_err(), "target group still there");
    assert!(
        record(&r53, &zone, "mcp2.example.com").await.is_none(),
        "record left"
    );
    r53.get_hosted_zone()
        .id(&zone)
        .send()
        .await
        .expect("the hosted zone is kept");
    let acm = aws_sdk_acm::Client::new(&sdk);
    let c = acm
        .describe_certificate()
        .certificate_arn(&cert)
        .send()
        .await
        .expect("the certificate is kept");
    assert_eq!(
        c.certificate().and_then(|c| c.status()).map(|s| s.as_str()),
        Some("ISSUED")
    );
}

/// A record of the FQDN that the stack did not create and that points elsewhere is never overwritten or deleted.
#[tokio::test(flavor = "multi_thread")]
async fn foreign_record_is_never_overwritten_or_deleted() {
    let emu = Emulator::start();
    let sdk = emu.sdk().await;
    let (zone, cert) = fixtures(&emu).await;
    let r53 = aws_sdk_route53::Client::new(&sdk);
    upsert(
        &r53,
        &zone,
        ResourceRecordSet::builder()
            .name("mcp.example.com")
            .r#type(RrType::A)
            .ttl(300)
            .resource_records(
                ResourceRecord::builder()
                    .value("192.0.2.10")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
    )
    .await;
    let st = Stack::new(&emu, "edge-foreign");
    let up = st.up(&cert, &[]);
    // A conflict in the plan: `up` stops before its first change.
    assert_eq!(up.code, 2, "{}", up.stderr);
    assert_eq!(up.mutating(), Vec::<String>::new());
    assert!(
        up.stderr.contains("dns-record")
            && up.stderr.contains("192.0.2.10")
            && up.stderr.contains("never adopts"),
        "{}",
        up.stderr
    );
    assert_eq!(
        up.count("ChangeResourceRecordSets"),
        0,
        "{:?}",
        up.mutating()
    );
    // `up` recorded no settings (it changed nothing), so the domain is given again.
    let status = st.run(&["status", "--json", "--domain-name", "example.com"]);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(
        report(&status, "dns-record")["state"],
        "foreign",
        "{status:#}"
    );

    let down = st.run(&["down", "--yes", "--domain-name", "example.com"]);
    down.ok();
    assert_eq!(down.count("ChangeResourceRecordSets"), 0);
    let rec = record(&r53, &zone, "mcp.example.com")
        .await
        .expect("the foreign record is kept");
    assert_eq!(rec.resource_records()[0].value(), "192.0.2.10");
}

/// A move interrupted after the new record was written (both names exist) is finished by the next `up`: the new
/// record, which aliases this stack's ALB, is adopted and the recorded old one removed. Without a state file,
/// `down --domain-name` still finds the record through the stack's load balancer.
#[tokio::test(flavor = "multi_thread")]
async fn interrupted_move_is_finished_and_down_without_state_finds_the_record() {
    let emu = Emulator::start();
    let sdk = emu.sdk().await;
    let (zone, cert) = fixtures(&emu).await;
    let r53 = aws_sdk_route53::Client::new(&sdk);
    let st = Stack::new(&emu, "edge-move");
    st.up(&cert, &[]).ok();
    let state = st.state();
    let dns = state_id(&state, "load-balancer", "dns_name");
    let lb_zone = state_id(&state, "load-balancer", "canonical_hosted_zone_id");
    // What an `up --subdomain next` killed between its UPSERT and its DELETE leaves behind.
    upsert(
        &r53,
        &zone,
        ResourceRecordSet::builder()
            .name("next.example.com")
            .r#type(RrType::A)
            .alias_target(
                AliasTarget::builder()
                    .dns_name(&dns)
                    .hosted_zone_id(&lb_zone)
                    .evaluate_target_health(true)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
    )
    .await;
    let mv = st.up(&cert, &["--subdomain", "next"]);
    mv.ok();
    assert!(
        record(&r53, &zone, "mcp.example.com").await.is_none(),
        "old record left"
    );
    assert_eq!(
        alias_dns(
            &record(&r53, &zone, "next.example.com")
                .await
                .expect("new record")
        ),
        dns
    );
    let state = st.state();
    assert_eq!(state_id(&state, "dns-record", "fqdn"), "next.example.com");
    assert!(
        state["resources"]["dns-record"]["ids"]
            .get("previous_fqdn")
            .is_none()
    );

    std::fs::remove_file(st.state_path()).unwrap();
    let down = st.run(&[
        "down",
        "--yes",
        "--domain-name",
        DOMAIN,
        "--subdomain",
        "next",
    ]);
    down.ok();
    assert!(
        record(&r53, &zone, "next.example.com").await.is_none(),
        "record left after down without state"
    );
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    assert!(
        elb.describe_load_balancers()
            .send()
            .await
            .unwrap()
            .load_balancers()
            .is_empty()
    );
}

/// Route53 records carry no tags: a name the stack moves away from, which someone pointed elsewhere meanwhile, is
/// theirs. The move creates the new record and keeps theirs; `status` then shows no leftover; `down` deletes only
/// the stack's record.
#[tokio::test(flavor = "multi_thread")]
async fn a_name_the_stack_leaves_that_someone_else_took_is_kept() {
    let emu = Emulator::start();
    let sdk = emu.sdk().await;
    let (zone, cert) = fixtures(&emu).await;
    let r53 = aws_sdk_route53::Client::new(&sdk);
    let st = Stack::new(&emu, "edge-left");
    st.up(&cert, &[]).ok();
    // Someone points the stack's name at their own server.
    upsert(
        &r53,
        &zone,
        ResourceRecordSet::builder()
            .name("mcp.example.com")
            .r#type(RrType::A)
            .ttl(300)
            .resource_records(
                ResourceRecord::builder()
                    .value("192.0.2.20")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
    )
    .await;
    let mv = st.up(&cert, &["--subdomain", "next"]);
    mv.ok();
    assert!(
        mv.stderr.contains("kept mcp.example.com") && mv.stderr.contains("192.0.2.20"),
        "the kept record is named:\n{}",
        mv.stderr
    );
    let theirs = record(&r53, &zone, "mcp.example.com")
        .await
        .expect("the record someone else pointed elsewhere is kept");
    assert_eq!(theirs.resource_records()[0].value(), "192.0.2.20");
    let state = st.state();
    let lb_dns = state_id(&state, "load-balancer", "dns_name");
    let ours = record(&r53, &zone, "next.example.com")
        .await
        .expect("the new record");
    assert_eq!(alias_dns(&ours), lb_dns);
    assert!(
        state["resources"]["dns-record"]["ids"]
            .get("previous_fqdn")
            .is_none(),
        "{state:#}"
    );

    let status = st.run(&["status", "--json"]);
    assert_eq!(status.code, 0, "no drift left:\n{}", status.stdout);

    st.run(&["down", "--yes"]).ok();
    assert!(record(&r53, &zone, "next.example.com").await.is_none());
    assert_eq!(
        record(&r53, &zone, "mcp.example.com")
            .await
            .expect("still kept after down")
            .resource_records()[0]
            .value(),
        "192.0.2.20"
    );
}
