//! The engine, state file and CLI, proven on the network layer against a real moto server.

use std::os::unix::io::AsRawFd;

use crate::support::{Emulator, Stack, ec2_tagged, fixtures, report, state_id};

const NETWORK: &[&str] = &[
    "vpc",
    "subnet-a",
    "subnet-b",
    "internet-gateway",
    "route-table",
    "alb-sg",
    "task-sg",
];

#[tokio::test(flavor = "multi_thread")]
async fn up_status_noop_down_status() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "net-life");
    let up = st.up(&cert, &[]);
    up.ok();
    assert!(
        up.count("CreateVpc") == 1 && up.count("CreateSubnet") == 2,
        "{:?}",
        up.mutating()
    );

    let (code, status) = st.status_json();
    assert_eq!(code, 0, "{status:#}");
    for node in NETWORK {
        assert_eq!(
            report(&status, node)["state"],
            "present",
            "{node}: {status:#}"
        );
    }
    // The state file: schema, stack, account, per-resource kind/ids/owned/status, mode 0600.
    let state = st.state();
    assert_eq!(state["schema_version"], 1);
    assert_eq!(state["stack"], "net-life");
    assert_eq!(state["account"].as_str().map(str::len), Some(12));
    assert_eq!(state["resources"]["vpc"]["owned"], true);
    assert_eq!(state["resources"]["vpc"]["status"], "ready");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(st.state_path())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    // -vv prints the call ledger: every AWS operation with its outcome.
    let vv = st.run(&["-vv", "status"]);
    assert!(
        vv.stderr.contains("aws EC2:DescribeVpcs ok"),
        "{}",
        vv.stderr
    );
    assert_eq!(
        vv.stderr.matches("aws ").count(),
        vv.calls.len(),
        "one ledger line per call"
    );

    // A second up changes nothing.
    let again = st.up(&cert, &[]);
    again.ok();
    assert_eq!(
        again.mutating(),
        Vec::<String>::new(),
        "no-op up made mutating calls"
    );
    assert!(
        !again.calls.is_empty(),
        "the ledger must record the read calls"
    );

    let sdk = emu.sdk().await;
    assert!(!ec2_tagged(&sdk, "net-life").await.is_empty());
    st.run(&["down", "--yes"]).ok();
    assert_eq!(
        ec2_tagged(&sdk, "net-life").await,
        Vec::<(String, String)>::new(),
        "tagged resources left after down"
    );
    assert!(!st.state_path().exists(), "down removes the state file");

    let (code, status) = st.status_json();
    assert_eq!(code, 3);
    for node in NETWORK {
        assert_eq!(report(&status, node)["state"], "missing", "{node}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_state_is_adopted_without_duplicates() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "net-adopt");
    st.up(&cert, &[]).ok();
    let vpc_before = state_id(&st.state(), "vpc", "vpc_id");
    std::fs::remove_file(st.state_path()).unwrap();

    let up = st.up(&cert, &[]);
    up.ok();
    let creates: Vec<String> = up
        .mutating()
        .into_iter()
        .filter(|c| c.contains(":Create"))
        .collect();
    assert_eq!(
        creates,
        Vec::<String>::new(),
        "adoption must not create anything"
    );
    assert_eq!(state_id(&st.state(), "vpc", "vpc_id"), vpc_before);
    let vpcs: Vec<_> = ec2_tagged(&emu.sdk().await, "net-adopt")
        .await
        .into_iter()
        .filter(|(t, _)| t == "vpc")
        .collect();
    assert_eq!(vpcs.len(), 1, "{vpcs:?}");

    // down without a state file finds everything by tag.
    std::fs::remove_file(st.state_path()).unwrap();
    st.run(&["down", "--yes"]).ok();
    assert_eq!(
        ec2_tagged(&emu.sdk().await, "net-adopt").await,
        Vec::<(String, String)>::new()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn route_table_deleted_out_of_band_is_recreated_alone() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "net-rt");
    st.up(&cert, &[]).ok();
    let ec2 = aws_sdk_ec2::Client::new(&emu.sdk().await);
    let rt = state_id(&st.state(), "route-table", "route_table_id");
    let table = ec2
        .describe_route_tables()
        .route_table_ids(&rt)
        .send()
        .await
        .unwrap();
    for a in table.route_tables()[0].associations() {
        ec2.disassociate_route_table()
            .association_id(a.route_table_association_id().unwrap())
            .send()
            .await
            .unwrap();
    }
    ec2.delete_route_table()
        .route_table_id(&rt)
        .send()
        .await
        .unwrap();

    let status = st.run(&["status"]);
    assert_eq!(status.code, 3, "{}", status.stdout);
    let line = status
        .stdout
        .lines()
        .find(|l| l.starts_with("route-table"))
        .unwrap();
    assert!(line.contains("missing"), "{line}");

    let up = st.up(&cert, &[]);
    up.ok();
    let mut mutating = up.mutating();
    mutating.sort();
    assert_eq!(
        mutating,
        vec![
            "EC2:AssociateRouteTable",
            "EC2:AssociateRouteTable",
            "EC2:CreateRoute",
            "EC2:CreateRouteTable"
        ],
        "only the route table is recreated"
    );
    assert_ne!(state_id(&st.state(), "route-table", "route_table_id"), rt);
    st.run(&["status"]).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn security_group_rule_removed_is_reported_and_restored() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "net-sg");
    st.up(&cert, &[]).ok();
    let ec2 = aws_sdk_ec2::Client::new(&emu.sdk().await);
    let task_sg = state_id(&st.state(), "task-sg", "group_id");
    let alb_sg = state_id(&st.state(), "alb-sg", "group_id");
    ec2.revoke_security_group_ingress()
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
        .unwrap();

    let (code, status) = st.status_json();
    assert_eq!(code, 3);
    let r = report(&status, "task-sg");
    assert_eq!(r["state"], "drifted");
    assert!(
        r["drift"][0]["attribute"]
            .as_str()
            .unwrap()
            .contains("tcp/8080"),
        "{r:#}"
    );

    let up = st.up(&cert, &[]);
    up.ok();
    assert_eq!(up.mutating(), vec!["EC2:AuthorizeSecurityGroupIngress"]);
    let (code, _) = st.status_json();
    assert_eq!(code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_contention_fails_fast_naming_the_holder() {
    let emu = Emulator::start();
    let st = Stack::new(&emu, "net-lock");
    let dir = st.dir.path().join("state");
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::File::create(dir.join("net-lock.lock")).unwrap();
    assert_eq!(
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    std::fs::write(
        dir.join("net-lock.lock"),
        "pid 4242 running `neo4j-gw up` since test",
    )
    .unwrap();
    let cert =
        "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000";
    let r = st.up(cert, &[]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("pid 4242"), "{}", r.stderr);
    assert!(r.calls.is_empty(), "a locked run must not call AWS");
    let r = st.run(&["down", "--yes"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_state_is_refused_and_left_untouched() {
    let emu = Emulator::start();
    let st = Stack::new(&emu, "net-corrupt");
    let path = st.state_path();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "{\"schema_version\": 1, \"stack\": \"net-co").unwrap();
    let cert =
        "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000";
    for args in [vec!["status"], vec!["down", "--yes"]] {
        let r = st.run(&args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("corrupt") && r.stderr.contains("net-corrupt.json"),
            "{}",
            r.stderr
        );
        assert!(r.calls.is_empty());
    }
    let r = st.up(cert, &[]);
    assert_eq!(r.code, 1);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"schema_version\": 1, \"stack\": \"net-co"
    );
    std::fs::write(&path, "{\"schema_version\": 7, \"stack\": \"net-corrupt\"}").unwrap();
    let r = st.run(&["status"]);
    assert!(
        r.stderr.contains("schema version 7") && r.code == 1,
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn down_twice_is_safe() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "net-down2");
    st.up(&cert, &[]).ok();
    st.run(&["down", "--yes"]).ok();
    let second = st.run(&["down", "--yes"]);
    second.ok();
    let deletes: Vec<String> = second.mutating();
    assert_eq!(
        deletes,
        Vec::<String>::new(),
        "second down must find nothing to delete"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn resources_not_tagged_as_ours_are_never_touched() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "net-foreign");
    st.up(&cert, &[]).ok();
    // Strip our tag from the task security group: it is no longer the stack's.
    let ec2 = aws_sdk_ec2::Client::new(&emu.sdk().await);
    let task_sg = state_id(&st.state(), "task-sg", "group_id");
    ec2.delete_tags()
        .resources(&task_sg)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key(neo4j_gw::resources::TAG_STACK)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (code, status) = st.status_json();
    assert_eq!(code, 3);
    assert_eq!(report(&status, "task-sg")["state"], "foreign");
    // The VPC cannot go while the foreign group is in it: down reports that instead of deleting the group.
    let down = st.run(&["down", "--yes", "--wait-timeout", "2"]);
    assert!(
        down.stderr.contains("task-sg") && down.stderr.contains("not the stack's"),
        "{}",
        down.stderr
    );
    let still = ec2
        .describe_security_groups()
        .group_ids(&task_sg)
        .send()
        .await
        .unwrap();
    assert_eq!(
        still.security_groups().len(),
        1,
        "a group without our tag must survive down"
    );
}
