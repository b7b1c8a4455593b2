//! Exactly one of each, whatever lands late. The kinds AWS can duplicate — their create takes no
//! idempotency token and their name is not unique (docs/reliability.md, "Idempotency of every create") — are
//! found in every copy, converged to one by `up`, shown by `plan` and `status`, and removed by `down`; a create a
//! killed run sent that lands after the next run looked leaves no second copy behind.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::checks::{self, as_strs, fqdn, up_args};
use crate::support::inventory::{self, Scope};
use crate::support::proxy::{Faults, Proxy};
use crate::support::{Emulator, Stack, drift_attributes, oob, state_id};
use serde_json::Value;

/// Upper bound of one run of the binary.
const LIMIT: Duration = Duration::from_secs(600);

/// The nodes whose kind AWS can duplicate (the table in docs/reliability.md).
const DUPLICABLE: [&str; 8] = [
    "vpc",
    "subnet-a",
    "subnet-b",
    "internet-gateway",
    "route-table",
    "user-pool",
    "app-client",
    "task-definition",
];

/// Every resource of the stack that is not the one recorded in the state file, as `node id` lines.
/// (The stack's lease is not a resource of the plan: it is never in the state file, and is counted on its own by
/// the inventory's checks.)
fn unrecorded(items: &[inventory::Item], state: &Value) -> Vec<String> {
    let recorded: BTreeSet<String> = state["resources"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(_, r)| r["ids"].as_object().into_iter().flatten())
        .filter_map(|(_, v)| v.as_str().map(str::to_owned))
        .collect();
    items
        .iter()
        .filter(|i| i.kind != inventory::LEASE_KIND && !recorded.contains(&i.id))
        .map(|i| format!("{} {}", i.kind, i.id))
        .collect()
}

/// Stack `name` deployed by `up` on the emulator, reset first: the stack, its `up` arguments and the scope the
/// inventory searches.
async fn deployed<'a>(emu: &'a Emulator, name: &str) -> (Stack<'a>, Vec<String>, Scope) {
    let cert = checks::fresh(emu).await;
    let st = Stack::new(emu, name);
    let up = up_args(&cert);
    st.run(&as_strs(&up)).ok();
    (st, up, Scope::new(name, &fqdn()))
}

#[tokio::test(flavor = "multi_thread")]
async fn second_copies_are_planned_removed_reported_and_never_left_behind() {
    let emu = Emulator::start();
    let sdk = emu.sdk().await;
    let name = "dupes";
    let (st, up, scope) = deployed(&emu, name).await;
    // What is not the stack's: a VPC of another stack, tagged alike but for the stack name. Never touched.
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let other = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Vpc)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key(neo4j_gw::resources::TAG_STACK)
                        .value("someone-else")
                        .build(),
                )
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key(neo4j_gw::resources::TAG_RESOURCE)
                        .value("vpc")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("CreateVpc")
        .vpc
        .and_then(|v| v.vpc_id)
        .unwrap();
    let still_there = |ec2: aws_sdk_ec2::Client, id: String| async move {
        ec2.describe_vpcs()
            .vpc_ids(id)
            .send()
            .await
            .is_ok_and(|o| o.vpcs().len() == 1)
    };

    let copies = oob::second_copies(&sdk, name, &st.state()).await;
    let copied: BTreeSet<&str> = copies.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        copied,
        DUPLICABLE.into_iter().collect(),
        "a kind without copies"
    );

    // plan: each copy a deletion of its own; exit 3.
    let mut plan_args = vec!["plan", "--json"];
    plan_args.extend(as_strs(&up)[1..].iter().copied());
    let plan = st.run(&plan_args);
    assert_eq!(plan.code, 3, "{}", plan.stderr);
    assert!(plan.mutating().is_empty(), "{:?}", plan.mutating());
    let doc: Value = serde_json::from_str(&plan.stdout).expect("plan --json");
    let planned: BTreeSet<(String, String)> = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "delete")
        .map(|c| {
            (
                c["resource"].as_str().unwrap().to_owned(),
                c["duplicate"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = copies
        .iter()
        .map(|(n, id)| ((*n).to_owned(), id.clone()))
        .collect();
    assert_eq!(planned, expected, "plan: {}", plan.stdout);

    // status: each copy is drift of its node.
    let (code, status) = st.status_json();
    assert_ne!(code, 0, "status with duplicates exited 0");
    for (node, _) in &copies {
        assert!(
            drift_attributes(&status, node).contains(&"duplicate".to_owned()),
            "{node}: {:?}",
            drift_attributes(&status, node)
        );
    }

    // up: every copy removed (and said so), only the recorded ones left; the other stack's VPC untouched.
    let fixed = st.run(&as_strs(&up));
    fixed.ok();
    for (node, id) in &copies {
        assert!(
            fixed
                .stderr
                .contains(&format!("{node}: removed duplicate {id}")),
            "{node} {id} not reported removed:\n{}",
            fixed.stderr
        );
    }
    assert_eq!(
        checks::converged(&emu, &st, &scope).await,
        Vec::<String>::new()
    );
    let items = inventory::inventory(&sdk, &scope).await;
    assert_eq!(unrecorded(&items, &st.state()), Vec::<String>::new());
    assert!(still_there(ec2.clone(), other.clone()).await);
    let again = st.run(&plan_args);
    assert_eq!(again.code, 0, "plan after up: {}", again.stdout);

    // down with copies in place: nothing of the stack left, exit 0; the other stack's VPC untouched.
    oob::second_copies(&sdk, name, &st.state()).await;
    let mut problems = Vec::new();
    checks::down_leaves_nothing(&emu, &st, &scope, &mut problems).await;
    assert_eq!(problems, Vec::<String>::new());
    assert!(still_there(ec2, other).await);
}

/// The creates of one round: held by the proxy, the process SIGKILLed once `kill_after` of them are held.
struct Round {
    holds: &'static [&'static str],
    kill_after: usize,
    /// The nodes whose intent the round leaves unanswered: the next run looks again for each before creating.
    unanswered: &'static [&'static str],
}

/// Each create without an idempotency token is in flight when `up` is SIGKILLed, and reaches the emulator only
/// after the next run looked for it (and, finding nothing within its bound, created its own). Three rounds, because
/// the creates depend on each other (a subnet needs the VPC): the VPC, the user pool and the task definition; then
/// both subnets, the internet gateway and the app client; then the route table. Then every held create lands, and
/// one more `up` must leave exactly one of each; `down` nothing.
#[tokio::test(flavor = "multi_thread")]
async fn creates_that_land_after_the_next_run_looked_leave_one_of_each() {
    let emu = Emulator::start();
    let proxy = Proxy::start(&emu.endpoint);
    let cert = checks::fresh(&emu).await;
    let name = "race";
    let scope = Scope::new(name, &fqdn());
    let st = Stack::new(&emu, name);
    let up = up_args(&cert);
    let rounds = [
        Round {
            holds: &["CreateVpc", "CreateUserPool", "RegisterTaskDefinition"],
            kill_after: 3,
            unanswered: &["vpc", "user-pool", "task-definition"],
        },
        Round {
            holds: &[
                "CreateSubnet",
                "CreateInternetGateway",
                "CreateUserPoolClient",
            ],
            kill_after: 4,
            unanswered: &["subnet-a", "subnet-b", "internet-gateway", "app-client"],
        },
        Round {
            holds: &["CreateRouteTable"],
            kill_after: 1,
            unanswered: &["route-table"],
        },
    ];
    let mut looked_for = BTreeSet::new();
    let mut held = 0;
    for (i, round) in rounds.iter().enumerate() {
        proxy.arm(Faults::land_late(round.holds, round.kill_after));
        let running = proxy.spawn(&st, &as_strs(&up));
        proxy.set_pid(running.pid());
        let run = proxy.finish(running, LIMIT);
        // What the killed run had at the emulator lands before the next run starts (the held creates are not there).
        proxy.quiesce(Duration::from_secs(60));
        assert_eq!(
            run.signal,
            Some(libc::SIGKILL),
            "round {i}: not killed (exit {}, {} held):\n{}",
            run.run.code,
            proxy.held(),
            checks::tail(&run.run.stderr, 12)
        );
        assert_eq!(proxy.held(), round.kill_after, "round {i}");
        held += round.kill_after;
        // The run before left these creates unanswered: this one looked again for each, and said so.
        for node in rounds[..i].iter().flat_map(|r| r.unanswered) {
            if run
                .run
                .stderr
                .contains(&format!("{node}: an earlier run sent its create"))
            {
                looked_for.insert(*node);
            }
        }
        for node in round.unanswered {
            let rec = &st.state()["resources"][*node];
            assert_eq!(rec["status"], "creating", "round {i}: {node}: {rec}");
        }
    }
    let expected: BTreeSet<&str> = rounds[..2]
        .iter()
        .flat_map(|r| r.unanswered)
        .copied()
        .collect();
    assert_eq!(
        looked_for, expected,
        "the runs did not look again for every unanswered create"
    );

    // Every held create lands now, after the runs that looked for it.
    proxy.release_late();
    let landed = proxy.take_landed(held, Duration::from_secs(60));
    eprintln!("landed late: {landed:?}");

    // The next `up` (still not knowing those creates' answers) converges: one of each, every copy removed.
    let fixed = proxy.run(&st, &as_strs(&up), Faults::none(), LIMIT);
    fixed.run.ok();
    let mut problems = checks::converged(&emu, &st, &scope).await;
    let items = inventory::inventory(&emu.sdk().await, &scope).await;
    problems.extend(unrecorded(&items, &st.state()));
    // One more `up` changes nothing.
    let again = st.run(&as_strs(&up));
    again.ok();
    assert!(
        !again.stderr.contains("removed duplicate"),
        "{}",
        again.stderr
    );
    problems.extend(checks::converged(&emu, &st, &scope).await);
    checks::down_leaves_nothing(&emu, &st, &scope, &mut problems).await;
    assert_eq!(
        problems,
        Vec::<String>::new(),
        "after the late creates landed:\n{}",
        checks::tail(&fixed.run.stderr, 40)
    );
    // A late create the emulator carried out is a copy the next run removes when a later round had made that
    // node's resource again: always the VPC, the user pool and the internet gateway (a later round held creates
    // that need them). The task definition and the app client are made again only if their round got to them
    // before its kill; else the late one is adopted, like the route table (the last round's own create). The
    // subnets' late creates are refused: their CIDRs are taken in the VPC by then (`InvalidSubnet.Conflict`, as on
    // AWS). Either way exactly one of each is left (above).
    let removed: BTreeSet<&str> = DUPLICABLE
        .into_iter()
        .filter(|n| {
            fixed
                .run
                .stderr
                .contains(&format!("{n}: removed duplicate"))
        })
        .collect();
    let always = BTreeSet::from(["vpc", "user-pool", "internet-gateway"]);
    let at_most = BTreeSet::from([
        "vpc",
        "user-pool",
        "internet-gateway",
        "task-definition",
        "app-client",
    ]);
    assert!(
        always.is_subset(&removed) && removed.is_subset(&at_most),
        "removed duplicates of {removed:?}; late creates: {landed:?}\n{}",
        fixed.run.stderr
    );
}

/// The other half of the race: the killed run's `CreateVpc` lands while the next run is looking again for it (the
/// proxy lets it through just before that run's second `DescribeVpcs`, its first look again). That run adopts it:
/// no `CreateVpc` of its own, no duplicate.
#[tokio::test(flavor = "multi_thread")]
async fn a_create_that_lands_while_the_next_run_looks_again_is_adopted() {
    let emu = Emulator::start();
    let proxy = Proxy::start(&emu.endpoint);
    let cert = checks::fresh(&emu).await;
    let name = "adopt";
    let scope = Scope::new(name, &fqdn());
    let st = Stack::new(&emu, name);
    let up = up_args(&cert);
    proxy.arm(Faults::land_late(&["CreateVpc"], 1));
    let running = proxy.spawn(&st, &as_strs(&up));
    proxy.set_pid(running.pid());
    let killed = proxy.finish(running, LIMIT);
    proxy.quiesce(Duration::from_secs(60));
    assert_eq!(killed.signal, Some(libc::SIGKILL), "{}", killed.run.stderr);
    assert_eq!(st.state()["resources"]["vpc"]["status"], "creating");

    let rerun = proxy.run(
        &st,
        &as_strs(&up),
        Faults {
            release_late_at: Some(("DescribeVpcs", 2)),
            ..Faults::none()
        },
        LIMIT,
    );
    rerun.run.ok();
    let landed = proxy.take_landed(1, Duration::from_secs(60));
    assert_eq!(landed, vec![("ec2:CreateVpc".to_owned(), Some(200))]);
    assert!(
        rerun
            .run
            .stderr
            .contains("vpc: an earlier run sent its create and never recorded the answer"),
        "{}",
        rerun.run.stderr
    );
    assert_eq!(
        rerun
            .requests
            .iter()
            .filter(|r| r.operation == "CreateVpc")
            .count(),
        0,
        "the rerun created a VPC of its own"
    );
    assert!(
        !rerun.run.stderr.contains("removed duplicate"),
        "{}",
        rerun.run.stderr
    );
    let mut problems = checks::converged(&emu, &st, &scope).await;
    checks::down_leaves_nothing(&emu, &st, &scope, &mut problems).await;
    assert_eq!(problems, Vec::<String>::new());
}

/// `down` deletes what lands while it runs: a killed run's `CreateVpc` reaches the emulator just before `down`'s
/// own `DeleteVpc` (after `down` observed the stack). Its proof that the VPC is gone finds the late copy by its
/// tags and deletes it too: exit 0, nothing of the stack left.
#[tokio::test(flavor = "multi_thread")]
async fn down_deletes_a_copy_that_lands_while_it_runs() {
    let emu = Emulator::start();
    let proxy = Proxy::start(&emu.endpoint);
    let cert = checks::fresh(&emu).await;
    let name = "late-down";
    let scope = Scope::new(name, &fqdn());
    let st = Stack::new(&emu, name);
    let up = up_args(&cert);
    proxy.arm(Faults::land_late(&["CreateVpc"], 1));
    let running = proxy.spawn(&st, &as_strs(&up));
    proxy.set_pid(running.pid());
    let killed = proxy.finish(running, LIMIT);
    proxy.quiesce(Duration::from_secs(60));
    assert_eq!(killed.signal, Some(libc::SIGKILL), "{}", killed.run.stderr);
    // The next run does not see it within its bound, and makes the stack with a VPC of its own.
    proxy
        .run(&st, &as_strs(&up), Faults::none(), LIMIT)
        .run
        .ok();

    let down = proxy.run(
        &st,
        &["down", "--yes"],
        Faults {
            release_late_at: Some(("DeleteVpc", 1)),
            ..Faults::none()
        },
        LIMIT,
    );
    let landed = proxy.take_landed(1, Duration::from_secs(60));
    assert_eq!(landed, vec![("ec2:CreateVpc".to_owned(), Some(200))]);
    down.run.ok();
    assert!(
        down.run
            .stderr
            .contains("vpc: another copy carrying the stack's tags showed up after the delete"),
        "{}",
        down.run.stderr
    );
    assert_eq!(checks::leftovers(&emu, &st, &scope).await, "");
}

/// A copy's creation date as the code under test reads it: (seconds, nanoseconds), from the SDK.
type Created = (i64, u32);

fn created(date: Option<&aws_smithy_types::DateTime>, what: &str) -> Created {
    let d = date
        .unwrap_or_else(|| panic!("{what} has no CreationDate (app clients: emulator patch #30)"));
    (d.secs(), d.subsec_nanos())
}

/// Of the original and its copy, (the one kept, the one removed) by the rule: the earliest by (creation date, ID).
/// The copy is made after `up` returned, so its date is later than the original's unless the emulator's clock
/// resolution (a millisecond) makes them equal: then the smaller ID is kept.
fn by_the_rule(original: (Created, &str), copy: (Created, &str)) -> (String, String) {
    let (kept, removed) = if original <= copy {
        (original, copy)
    } else {
        (copy, original)
    };
    if original.0 != copy.0 {
        assert_eq!(
            kept.1, original.1,
            "the original {original:?} is not older than its copy {copy:?}"
        );
    }
    (kept.1.to_owned(), removed.1.to_owned())
}

/// The state file without the records of `nodes`, written back in place (its mode, 0600, is kept).
fn forget(st: &Stack<'_>, nodes: &[&str]) {
    let mut state = st.state();
    let resources = state["resources"].as_object_mut().expect("resources");
    for node in nodes {
        assert!(resources.remove(*node).is_some(), "{node} not recorded");
    }
    std::fs::write(
        st.state_path(),
        serde_json::to_string_pretty(&state).unwrap(),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(st.state_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "state file mode {mode:o}");
}

/// Without a record, `up` keeps the oldest copy of a user pool and of an app client and removes the newer one: the
/// stack's own pool and client, made by the first `up`, win over copies made afterwards (as a create whose answer
/// was lost, landing late, would leave them), and the state records them again.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_record_the_oldest_copy_of_a_pool_and_a_client_is_kept() {
    let emu = Emulator::start();
    let sdk = emu.sdk().await;
    let name = "oldest";
    let (st, up, scope) = deployed(&emu, name).await;
    let state = st.state();
    let pool = state_id(&state, "user-pool", "user_pool_id");
    let client = state_id(&state, "app-client", "client_id");
    let pool_copy = oob::user_pool_copy(&sdk, name).await;
    let client_copy = oob::app_client_copy(&sdk, name, &pool).await;

    // The dates the rule compares, as the code under test reads them (ListUserPools, DescribeUserPoolClient).
    let idp = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
    let pools = idp
        .list_user_pools()
        .max_results(60)
        .send()
        .await
        .expect("ListUserPools");
    let pool_created = |id: &str| {
        created(
            pools
                .user_pools()
                .iter()
                .find(|p| p.id() == Some(id))
                .unwrap_or_else(|| panic!("pool {id} not listed"))
                .creation_date(),
            id,
        )
    };
    let (kept_pool, removed_pool) = by_the_rule(
        (pool_created(&pool), &pool),
        (pool_created(&pool_copy), &pool_copy),
    );
    let mut client_dates = Vec::new();
    for id in [&client, &client_copy] {
        let c = idp
            .describe_user_pool_client()
            .user_pool_id(&pool)
            .client_id(id)
            .send()
            .await
            .expect("DescribeUserPoolClient");
        client_dates.push(created(
            c.user_pool_client().and_then(|c| c.creation_date()),
            id,
        ));
    }
    let (kept_client, removed_client) =
        by_the_rule((client_dates[0], &client), (client_dates[1], &client_copy));

    forget(&st, &["user-pool", "app-client"]);
    let fixed = st.run(&as_strs(&up));
    fixed.ok();
    for (node, id) in [
        ("user-pool", &removed_pool),
        ("app-client", &removed_client),
    ] {
        assert!(
            fixed
                .stderr
                .contains(&format!("{node}: removed duplicate {id}")),
            "{node} {id} not reported removed:\n{}",
            fixed.stderr
        );
    }
    let state = st.state();
    assert_eq!(
        (
            state_id(&state, "user-pool", "user_pool_id"),
            state_id(&state, "app-client", "client_id"),
        ),
        (kept_pool, kept_client)
    );
    assert_eq!(
        checks::converged(&emu, &st, &scope).await,
        Vec::<String>::new()
    );
}
