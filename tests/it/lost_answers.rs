//! Lost answers. AWS carries out the k-th mutating request of `up` (or `down`), but its answer never
//! reaches neo4j-gw: the proxy answers HTTP 503 instead, or closes the connection. The SDK's retry and the
//! engine's second look (`Engine::again_after_uncertain`) may then repeat the call within the same run. The
//! promise: the same run completes, with exactly one of every resource — a repeated create must not make a
//! second copy (EC2's `CreateVpc`, Cognito's `CreateUserPool` and the like have no client token) — and a
//! repeated delete must not fail on "not found"; `down` then leaves nothing.
//!
//! The k values are those of the crash matrices (`support::matrix`: all with
//! `NEO4J_GW_CRASH_STRIDE=1`, a deterministic subset by default).

use std::time::Duration;

use crate::support::checks::{self, as_strs, fqdn, up_args};
use crate::support::inventory::Scope;
use crate::support::matrix::{Scenario, learn_n, selected};
use crate::support::proxy::{Faults, Fired, Proxy, ProxyRun, Sig};
use crate::support::{Emulator, Stack};

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

/// The matrix for `up` or `down`: for each selected k and both variants, lose the answer to the k-th mutating
/// request on a fresh stack; the same run must complete and converge (`up`) or leave nothing (`down`).
async fn matrix(command: &'static str, scenario: &'static str) {
    let emu = Emulator::start();
    let proxy = Proxy::start(&emu.endpoint);
    let name = format!("lost-{command}");
    let scope = Scope::new(&name, &fqdn());
    let (n_up, n_down) = learn_n(&emu, &proxy, &name, LIMIT).await;
    let n = if command == "up" { n_up } else { n_down };
    let (stride, ks) = selected(n);
    eprintln!("{scenario}: N = {n}, stride {stride}, k = {ks:?}");
    let mut cases = Scenario::new(
        scenario,
        "the answer to mutating request k lost after AWS did it (503 or connection closed)",
    );
    for &k in &ks {
        for variant in VARIANTS {
            let cert = checks::fresh(&emu).await;
            let st = Stack::new(&emu, &name);
            let up = up_args(&cert);
            let mut problems = Vec::new();
            let args = if command == "up" {
                as_strs(&up)
            } else {
                let setup = st.run(&as_strs(&up));
                if setup.code != 0 {
                    problems.push(format!("setup up exited {}", setup.code));
                }
                vec!["down", "--yes"]
            };
            let run = proxy.run(&st, &args, Faults::lose_answer_at(k, variant), LIMIT);
            if run.fired.is_none() {
                problems.push(format!("no mutating request {k} to lose the answer of"));
            }
            if run.run.code != 0 {
                problems.push(format!(
                    "{command} did not recover in the same run (exit {}): {}",
                    run.run.code,
                    checks::tail(&run.run.stderr, 6)
                ));
            }
            let left = if command == "up" {
                problems.extend(checks::converged(&emu, &st, &scope).await);
                checks::down_leaves_nothing(&emu, &st, &scope, &mut problems).await
            } else {
                let left = checks::leftovers(&emu, &st, &scope).await;
                if !left.is_empty() {
                    problems.push(format!("left behind: {left}"));
                }
                left
            };
            let at = at(&run.fired);
            cases.case(
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
    cases.assert_all_passed();
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_answers_in_up_are_recovered_in_the_same_run() {
    matrix("up", "lost answers: up").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_answers_in_down_are_recovered_in_the_same_run() {
    matrix("down", "lost answers: down").await;
}
