//! The crash matrices. `up` (and `down`) is SIGKILLed at its k-th mutating AWS request — before the
//! request reaches the emulator, or after the emulator answered but before the answer reaches neo4j-gw — and
//! then run again to completion. The promise: exactly one of every resource, a state file that matches the
//! emulator, and after `down` nothing of the stack, not even the state file.
//!
//! N (the mutating requests of a fresh `up` / `down`) is learnt from a clean run through the proxy, so the
//! matrix covers whatever the plan holds. Every k in 1..=N with both variants is the full matrix
//! (`scripts/reliability`, `NEO4J_GW_CRASH_STRIDE=1`); the test suite runs a deterministic subset: k = 1,
//! 1+s, 1+2s, … and N, with the stride s from `NEO4J_GW_CRASH_STRIDE`, by default ⌈N/12⌉ (about 13 values of k, 26
//! cases per matrix).

use std::time::Duration;

use crate::support::checks::{self, as_strs, fqdn, up_args};
use crate::support::inventory::Scope;
use crate::support::matrix::{Scenario, selected};
use crate::support::proxy::{Faults, Phase, Proxy};
use crate::support::{Emulator, Stack};

/// Upper bound of one run of the binary.
const LIMIT: Duration = Duration::from_secs(600);

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Before => "before the request",
        Phase::After => "after the response",
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_matrix_up() {
    let emu = Emulator::start();
    let proxy = Proxy::start(&emu.endpoint);
    let name = "crash-up";
    let scope = Scope::new(name, &fqdn());

    // A clean run through the proxy: N, and the proxy agrees with the ledger on every mutating call.
    let cert = checks::fresh(&emu).await;
    let st = Stack::new(&emu, name);
    let up = up_args(&cert);
    let clean = proxy.run(&st, &as_strs(&up), Faults::none(), LIMIT);
    clean.run.ok();
    let mut from_ledger = clean.run.mutating_all();
    let mut from_proxy = proxy.mutating();
    from_ledger.sort();
    from_proxy.sort();
    let lower = |v: &[String]| v.iter().map(|s| s.to_lowercase()).collect::<Vec<_>>();
    assert_eq!(
        from_proxy.len(),
        from_ledger.len(),
        "the proxy and the ledger disagree on the mutating calls:\nproxy {from_proxy:?}\nledger {from_ledger:?}"
    );
    let ops = |v: &[String]| {
        v.iter()
            .map(|s| s.rsplit(':').next().unwrap_or("").to_owned())
            .collect::<Vec<_>>()
    };
    let (mut a, mut b) = (ops(&lower(&from_proxy)), ops(&lower(&from_ledger)));
    a.sort();
    b.sort();
    assert_eq!(a, b, "operation names differ between proxy and ledger");
    let n = from_proxy.len();
    assert!(n > 0, "a fresh up made no mutating call");
    st.run(&["down", "--yes"]).ok();

    let (stride, ks) = selected(n);
    eprintln!("crash matrix up: N = {n}, stride {stride}, k = {ks:?}");
    let mut scenario = Scenario::new(
        "crash matrix: up",
        "SIGKILL at mutating request k, before the request or after the response",
    );
    for &k in &ks {
        for phase in [Phase::Before, Phase::After] {
            let cert = checks::fresh(&emu).await;
            let st = Stack::new(&emu, name);
            let up = up_args(&cert);
            let mut problems = Vec::new();
            let killed = proxy.run(&st, &as_strs(&up), Faults::kill_at(k, phase), LIMIT);
            let at = killed
                .fired
                .as_ref()
                .map(|f| format!("{}:{}", f.service, f.operation))
                .unwrap_or_else(|| "?".into());
            if killed.signal != Some(libc::SIGKILL) {
                problems.push(format!(
                    "the run was not killed at k={k} (exit {}, fired {:?})",
                    killed.run.code, killed.fired
                ));
            }
            if let Err(e) = checks::state_is_valid(&st) {
                problems.push(e);
            }
            let again = st.run(&as_strs(&up));
            if again.code != 0 {
                problems.push(format!(
                    "second up exited {}: {}",
                    again.code,
                    checks::tail(&again.stderr, 6)
                ));
            }
            problems.extend(checks::converged(&emu, &st, &scope).await);
            let left = checks::down_leaves_nothing(&emu, &st, &scope, &mut problems).await;
            scenario.case(
                format!("k={k}/{n} {at}, {}", phase_name(phase)),
                format!(
                    "SIGKILL at mutating request {k} ({at}) {}",
                    phase_name(phase)
                ),
                problems,
                left,
            );
        }
    }
    scenario.assert_all_passed();
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_matrix_down() {
    let emu = Emulator::start();
    let proxy = Proxy::start(&emu.endpoint);
    let name = "crash-down";
    let scope = Scope::new(name, &fqdn());

    let cert = checks::fresh(&emu).await;
    let st = Stack::new(&emu, name);
    st.run(&as_strs(&up_args(&cert))).ok();
    let clean = proxy.run(&st, &["down", "--yes"], Faults::none(), LIMIT);
    clean.run.ok();
    let n = proxy.mutating().len();
    assert_eq!(
        n,
        clean.run.mutating_all().len(),
        "the proxy and the ledger disagree on the mutating calls of down"
    );
    assert!(n > 0, "down made no mutating call");

    let (stride, ks) = selected(n);
    eprintln!("crash matrix down: N = {n}, stride {stride}, k = {ks:?}");
    let mut scenario = Scenario::new(
        "crash matrix: down",
        "SIGKILL at mutating request k, before the request or after the response",
    );
    for &k in &ks {
        for phase in [Phase::Before, Phase::After] {
            let cert = checks::fresh(&emu).await;
            let st = Stack::new(&emu, name);
            let mut problems = Vec::new();
            let up = st.run(&as_strs(&up_args(&cert)));
            if up.code != 0 {
                problems.push(format!("setup up exited {}", up.code));
            }
            let killed = proxy.run(&st, &["down", "--yes"], Faults::kill_at(k, phase), LIMIT);
            let at = killed
                .fired
                .as_ref()
                .map(|f| format!("{}:{}", f.service, f.operation))
                .unwrap_or_else(|| "?".into());
            if killed.signal != Some(libc::SIGKILL) {
                problems.push(format!(
                    "the run was not killed at k={k} (exit {}, fired {:?})",
                    killed.run.code, killed.fired
                ));
            }
            if let Err(e) = checks::state_is_valid(&st) {
                problems.push(e);
            }
            let again = st.run(&["down", "--yes"]);
            if again.code != 0 {
                problems.push(format!(
                    "second down exited {}: {}",
                    again.code,
                    checks::tail(&again.stderr, 6)
                ));
            }
            let left = checks::leftovers(&emu, &st, &scope).await;
            if !left.is_empty() {
                problems.push(format!("left behind: {left}"));
            }
            scenario.case(
                format!("k={k}/{n} {at}, {}", phase_name(phase)),
                format!(
                    "SIGKILL at mutating request {k} ({at}) {}",
                    phase_name(phase)
                ),
                problems,
                left,
            );
        }
    }
    scenario.assert_all_passed();
}
