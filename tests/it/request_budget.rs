//! Performance, as far as it can be asserted without timing anything (the figures are `scripts/bench`'s): a no-op `up` and
//! `status` observe every resource exactly once and change nothing, within a request budget; `--timings` writes a
//! timeline with a critical path no longer than the run; `--concurrency 1` really works on one resource at a time
//! and sees the same stack as the default.

use std::collections::BTreeMap;

use crate::support::{self, Emulator, Stack, fixtures, plan_size, verified};
use serde_json::Value;

/// The most AWS requests `status` of a deployed stack may make: 44 for reading every resource once, plus
/// `ListUserPools` and `ListUserPoolClients` (every copy of the user pool and the app client is looked for), plus 2
/// for the origin key (GetApiKeyCredentialProvider; ListTagsForResource, as AgentCore answers no tags with it), plus
/// 8 for issue 20's five nodes (the policy engine: GetPolicyEngine and ListTagsForResource; both policies: one
/// ListPolicies; the audit log group: DescribeLogGroups and ListTagsLogGroup; the log delivery: GetDelivery,
/// GetDeliverySource, GetDeliveryDestination), plus the client secret of the agent whose token lists the tools its
/// access level sees (the tool surface, issue 20: one per configured level, here `read`), so that a change that adds
/// requests to every run is noticed: 57 for 38 nodes, 1.5 per resource.
/// docs/performance.md says what each is for.
const STATUS_BUDGET: usize = 57;
/// A no-op `up` after a fresh one: `status`'s reads (the client secret among them, here for the verification's
/// token, whose listing is the tool surface's), and one look at the DNS change the fresh `up` recorded (once INSYNC
/// it is no longer recorded).
const NOOP_UP_BUDGET: usize = STATUS_BUDGET + 1;
/// On top of that, every run that may change the stack takes and lets go of its lease (src/lease.rs):
/// DescribeSecret and GetSecretValue (at once, beside the account check), PutSecretValue and
/// UpdateSecretVersionStage to take it, the same two to let go of it.
const LEASE_CALLS: [&str; 6] = [
    "DescribeSecret",
    "GetSecretValue",
    "PutSecretValue",
    "UpdateSecretVersionStage",
    "PutSecretValue",
    "UpdateSecretVersionStage",
];

fn timings(st: &Stack, file: &str) -> Value {
    let path = st.dir.path().join(file);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("timings file"))
        .expect("timings JSON")
}

/// Spans per (node, phase) in one walk.
fn spans(t: &Value, walk: Option<usize>) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for s in t["spans"].as_array().unwrap() {
        if walk.is_some() && s["walk"].as_u64().map(|w| w as usize) != walk {
            continue;
        }
        *out.entry((
            s["node"].as_str().unwrap().to_owned(),
            s["phase"].as_str().unwrap().to_owned(),
        ))
        .or_default() += 1;
    }
    out
}

fn observes_per_node(t: &Value) -> BTreeMap<String, usize> {
    spans(t, None)
        .into_iter()
        .filter(|((_, phase), _)| phase == "observe")
        .map(|((node, _), n)| (node, n))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployed_stack_is_read_once_per_resource_within_budget_and_timed() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "perf");
    let fresh = st.up(&cert, &["--timings", "fresh.html"]);
    verified(&fresh);
    let html = std::fs::read_to_string(st.dir.path().join("fresh.html")).unwrap();
    assert!(
        html.contains("<svg") && html.contains("Critical path"),
        "{html}"
    );

    // A no-op `up`: every resource observed once (the plan's observation is the one acted on), nothing changed.
    let noop = st.run(&["up", "--timings", "noop.json"]);
    verified(&noop);
    assert!(
        noop.mutating().is_empty(),
        "{:?}\n{}",
        noop.mutating(),
        noop.stderr
    );
    assert!(
        noop.calls.len() <= NOOP_UP_BUDGET + LEASE_CALLS.len(),
        "no-op up made {} requests (budget {NOOP_UP_BUDGET} + the lease's {})",
        noop.calls.len(),
        LEASE_CALLS.len()
    );
    let mut lease = noop.lease_calls();
    lease[..2].sort();
    assert_eq!(lease, LEASE_CALLS, "the lease's calls");
    let t = timings(&st, "noop.json");
    let observed = observes_per_node(&t);
    assert_eq!(observed.len(), plan_size().nodes, "{observed:?}");
    assert!(
        observed.values().all(|n| *n == 1),
        "observed more than once: {observed:?}"
    );
    let (wall, critical) = (
        t["wall_ms"].as_f64().unwrap(),
        t["critical_path_ms"].as_f64().unwrap(),
    );
    assert!(
        critical > 0.0 && critical <= wall,
        "critical {critical} wall {wall}"
    );
    let path: Vec<&str> = t["critical_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].as_str().unwrap())
        .collect();
    assert_eq!(path.last(), Some(&"(verify)"), "{path:?}");
    // With a state file the account check runs beside the reads, off the critical path.
    assert!(!path.contains(&"(account)"), "{path:?}");
    assert!(
        t["spans"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["node"] == "(account)" && s["phase"] == "beside"),
        "{t}"
    );

    // The token for the final check was asked for beside the reads (the "(token)" span), and used: the client
    // secret was read once outside the engine's phases (the other read is the app client's observe), not twice.
    let secret_reads = noop
        .calls
        .iter()
        .filter(|c| c["operation"] == "DescribeUserPoolClient" && c["phase"].is_null())
        .count();
    assert_eq!(secret_reads, 1, "{:?}", noop.calls);
    assert!(
        t["spans"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["node"] == "(token)" && s["phase"] == "beside"),
        "{t}"
    );

    // `status`: the same, read-only.
    let status = st.run(&["status", "--json", "--timings", "status.json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(status.mutating().is_empty());
    eprintln!(
        "request budget: status {} requests, no-op up {} (lease included), {} nodes",
        status.calls.len(),
        noop.calls.len(),
        plan_size().nodes
    );
    assert!(
        status.calls.len() <= STATUS_BUDGET,
        "status made {} requests (budget {STATUS_BUDGET})",
        status.calls.len()
    );
    assert!(
        observes_per_node(&timings(&st, "status.json"))
            .values()
            .all(|n| *n == 1)
    );

    // The sequential baseline sees the same stack, one resource at a time: no two observe spans overlap.
    let one = st.run(&[
        "--concurrency",
        "1",
        "status",
        "--json",
        "--timings",
        "one.json",
    ]);
    assert_eq!(one.code, 0, "{}", one.stderr);
    let states = |r: &support::Run| -> Vec<(String, String)> {
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        v["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["resource"].as_str().unwrap().to_owned(),
                    r["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(states(&one), states(&status));
    let t = timings(&st, "one.json");
    let mut intervals: Vec<(f64, f64)> = t["spans"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["phase"] == "observe")
        .map(|s| {
            (
                s["start_ms"].as_f64().unwrap(),
                s["end_ms"].as_f64().unwrap(),
            )
        })
        .collect();
    intervals.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(intervals.len(), plan_size().nodes);
    for w in intervals.windows(2) {
        assert!(
            w[1].0 >= w[0].1,
            "overlapping observes with --concurrency 1: {w:?}"
        );
    }

    // The account check runs beside the first reads, but nothing is changed or reported before it passed: with
    // credentials of another account than the state's, `up`, `status` and `down` stop with exit 2 and change nothing.
    let saved = std::fs::read_to_string(st.state_path()).unwrap();
    let mut other: Value = serde_json::from_str(&saved).unwrap();
    other["account"] = "999999999999".into();
    std::fs::write(st.state_path(), other.to_string()).unwrap();
    for args in [&["up"][..], &["status"], &["down", "--yes"]] {
        let r = st.run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("lives in account 999999999999"),
            "{}",
            r.stderr
        );
        assert!(r.mutating().is_empty(), "{args:?}: {:?}", r.mutating());
        assert!(
            r.lease_calls()
                .iter()
                .all(|op| op == "DescribeSecret" || op == "GetSecretValue"),
            "{args:?} wrote the lease before the account check passed: {:?}",
            r.lease_calls()
        );
        assert!(r.stdout.is_empty(), "{args:?} reported: {}", r.stdout);
    }
    std::fs::write(st.state_path(), &saved).unwrap();

    // A wrong extension is a usage error before anything is done.
    let r = st.run(&["status", "--timings", "t.txt"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains(".html, .svg or .json"), "{}", r.stderr);
    assert!(r.calls.is_empty());

    // `down` after all this: its timeline has the delete walk, and nothing is left.
    let down = st.run(&["down", "--yes", "--timings", "down.json"]);
    assert_eq!(down.code, 0, "{}", down.stderr);
    let t = timings(&st, "down.json");
    let walks: Vec<&str> = t["walks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert!(walks.contains(&"down"), "{walks:?}");
    let deletes = spans(&t, None)
        .into_iter()
        .filter(|((_, p), _)| p == "delete")
        .count();
    assert_eq!(deletes, plan_size().owned, "one delete per owned resource");
}
