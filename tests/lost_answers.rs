//! Issue 5: lost answers. AWS carries out the k-th mutating request of `up` (or `down`), but its answer never
//! reaches neo4j-gw: the proxy answers HTTP 503 instead, or closes the connection. The SDK's retry and the
//! engine's second look (`Engine::again_after_uncertain`) may then repeat the call within the same run. The
//! promise: the same run completes, with exactly one of every resource — a repeated create must not make a
//! second copy (EC2's `CreateVpc`, Cognito's `CreateUserPool` and the like have no client token) — and a
//! repeated delete must not fail on "not found"; `down` then leaves nothing.
//!
//! The k values are those of the crash matrices (`tests/support/matrix.rs`: all with
//! `NEO4J_GW_CRASH_STRIDE=1`, a deterministic subset by default).

mod support;

use std::time::Duration;

use support::checks::{self, as_strs, fqdn, up_args};
use support::inventory::Scope;
use support::matrix::{Scenario, selected};
use support::proxy::{Faults, Fired, Proxy, ProxyRun, Sig};
use support::{Emulator, Stack};

/// Upper bound of one run of the binary.
const LIMIT: Duration = Duration::from_secs(600);

const VARIANTS: [Sig; 2] = [Sig::LoseAnswer, Sig::DropConnection];

fn how(sig: Sig) -> &'static str {
    match sig {
        Sig::LoseAnswer => "answered 503",
        Sig::DropConnection => "connection closed",
        _ => "?",
    }
}

fn at(fired: &Option<Fired>) -> String {
    fired
        .as_ref()
        .map(|f| format!("{}:{}", f.service, f.operation))
        .unwrap_or_else(|| "?".into())
}

/// How often the run sent the operation the fault hit (2 or more = it was repeated after the lost answer).
fn sent(run: &ProxyRun) -> usize {
    let Some(f) = &run.fired else { return 0 };
    run.requests
        .iter()
        .filter(|r| r.service == f.service && r.operation == f.operation)
        .count()
}

/// The mutating requests of a fresh `up` and of the `down` after it, learnt through the proxy.
async fn learn_n(emu: &Emulator, proxy: &Proxy, name: &str) -> (usize, usize) {
    let cert = checks::fresh(emu).await;
    let st = Stack::new(emu, name);
    proxy
        .run(&st, &as_strs(&up_args(&cert)), Faults::none(), LIMIT)
        .run
        .ok();
    let n_up = proxy.mutating().len();
    proxy
        .run(&st, &["down", "--yes"], Faults::none(), LIMIT)
        .run
        .ok();
    let n_down = proxy.mutating().len();
    assert!(n_up > 0 && n_down > 0, "up {n_up}, down {n_down}");
    (n_up, n_down)
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_answers_in_up_are_recovered_in_the_same_run() {
    let emu = Emulator::start();
    let proxy = Proxy::start(&emu.endpoint);
    let name = "lost-up";
    let scope = Scope::new(name, &fqdn());
    let (n, _) = learn_n(&emu, &proxy, name).await;
    let (stride, ks) = selected(n);
    eprintln!("lost answers in up: N = {n}, stride {stride}, k = {ks:?}");
    let mut scenario = Scenario::new(
        "lost answers: up",
        "the answer to mutating request k lost after AWS did it (503 or connection closed)",
    );
    for &k in &ks {
        for variant in VARIANTS {
            let cert = checks::fresh(&emu).await;
            let st = Stack::new(&emu, name);
            let mut problems = Vec::new();
            let run = proxy.run(
                &st,
                &as_strs(&up_args(&cert)),
                Faults::lose_answer_at(k, variant),
                LIMIT,
            );
            if run.fired.is_none() {
                problems.push(format!("no mutating request {k} to lose the answer of"));
            }
            if run.run.code != 0 {
                problems.push(format!(
                    "up did not recover in the same run (exit {}): {}",
                    run.run.code,
                    checks::tail(&run.run.stderr, 6)
                ));
            }
            problems.extend(checks::converged(&emu, &st, &scope).await);
            let down = st.run(&["down", "--yes"]);
            if down.code != 0 {
                problems.push(format!(
                    "down exited {}: {}",
                    down.code,
                    checks::tail(&down.stderr, 6)
                ));
            }
            let left = checks::leftovers(&emu, &st, &scope).await;
            if !left.is_empty() {
                problems.push(format!("left behind after down: {left}"));
            }
            let at = at(&run.fired);
            scenario.case(
                format!("k={k}/{n} {at}, {} (sent {}×)", how(variant), sent(&run)),
                format!(
                    "answer to mutating request {k} ({at}) lost: {}",
                    how(variant)
                ),
                problems,
                left,
            );
        }
    }
    scenario.assert_all_passed();
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_answers_in_down_are_recovered_in_the_same_run() {
    let emu = Emulator::start();
    let proxy = Proxy::start(&emu.endpoint);
    let name = "lost-down";
    let scope = Scope::new(name, &fqdn());
    let (_, n) = learn_n(&emu, &proxy, name).await;
    let (stride, ks) = selected(n);
    eprintln!("lost answers in down: N = {n}, stride {stride}, k = {ks:?}");
    let mut scenario = Scenario::new(
        "lost answers: down",
        "the answer to mutating request k lost after AWS did it (503 or connection closed)",
    );
    for &k in &ks {
        for variant in VARIANTS {
            let cert = checks::fresh(&emu).await;
            let st = Stack::new(&emu, name);
            let mut problems = Vec::new();
            let up = st.run(&as_strs(&up_args(&cert)));
            if up.code != 0 {
                problems.push(format!("setup up exited {}", up.code));
            }
            let run = proxy.run(
                &st,
                &["down", "--yes"],
                Faults::lose_answer_at(k, variant),
                LIMIT,
            );
            if run.fired.is_none() {
                problems.push(format!("no mutating request {k} to lose the answer of"));
            }
            if run.run.code != 0 {
                problems.push(format!(
                    "down did not recover in the same run (exit {}): {}",
                    run.run.code,
                    checks::tail(&run.run.stderr, 6)
                ));
            }
            let left = checks::leftovers(&emu, &st, &scope).await;
            if !left.is_empty() {
                problems.push(format!("left behind: {left}"));
            }
            let at = at(&run.fired);
            scenario.case(
                format!("k={k}/{n} {at}, {} (sent {}×)", how(variant), sent(&run)),
                format!(
                    "answer to mutating request {k} ({at}) lost: {}",
                    how(variant)
                ),
                problems,
                left,
            );
        }
    }
    scenario.assert_all_passed();
}
