//! Bookkeeping shared by the fault matrices (`crash_matrix`, `lost_answers`): which k of N
//! mutating requests a run covers, and the cases of one scenario — each recorded for the reliability report,
//! failures collected so that one failing case does not hide the others.

use std::time::Duration;

use super::checks::{self, as_strs, up_args};
use super::proxy::{Faults, Proxy};
use super::report::{self, Case};
use super::{Emulator, Stack};

/// The mutating requests of a fresh `up` of the whole stack and of the `down` after it, learnt through the
/// proxy (so every matrix covers whatever the plan holds).
pub async fn learn_n(emu: &Emulator, proxy: &Proxy, name: &str, limit: Duration) -> (usize, usize) {
    let cert = checks::fresh(emu).await;
    let st = Stack::new(emu, name);
    proxy
        .run(&st, &as_strs(&up_args(&cert)), Faults::none(), limit)
        .run
        .ok();
    let n_up = proxy.mutating().len();
    proxy
        .run(&st, &["down", "--yes"], Faults::none(), limit)
        .run
        .ok();
    let n_down = proxy.mutating().len();
    assert!(
        n_up > 0 && n_down > 0,
        "mutating requests: up {n_up}, down {n_down}"
    );
    (n_up, n_down)
}

/// The k values of a matrix over N mutating requests: every k when `NEO4J_GW_CRASH_STRIDE=1` (the full run,
/// `scripts/reliability`), otherwise the deterministic subset k = 1, 1+s, 1+2s, … and N with the stride s from
/// `NEO4J_GW_CRASH_STRIDE`, by default ⌈N/12⌉ (about 13 values of k). Returns (s, the k values).
///
/// `NEO4J_GW_CRASH_KS=16,43` runs just those k (to replay failed cases; k beyond N are dropped).
pub fn selected(n: usize) -> (usize, Vec<usize>) {
    if let Ok(list) = std::env::var("NEO4J_GW_CRASH_KS") {
        let ks: Vec<usize> = list
            .split(',')
            .map(|k| {
                k.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("NEO4J_GW_CRASH_KS: bad k {k:?}"))
            })
            .filter(|k| (1..=n).contains(k))
            .collect();
        return (0, ks);
    }
    let stride = match std::env::var("NEO4J_GW_CRASH_STRIDE") {
        Ok(s) => s
            .parse::<usize>()
            .ok()
            .filter(|s| *s > 0)
            .unwrap_or_else(|| {
                panic!("NEO4J_GW_CRASH_STRIDE must be a positive integer, got {s:?}")
            }),
        Err(_) => n.div_ceil(12).max(1),
    };
    let mut ks: Vec<usize> = (1..=n).step_by(stride).collect();
    if ks.last() != Some(&n) && n > 0 {
        ks.push(n);
    }
    (stride, ks)
}

/// The cases of one scenario.
pub struct Scenario {
    scenario: &'static str,
    /// The fault summarised for the report's scenario line.
    class: &'static str,
    cases: usize,
    failures: Vec<String>,
}

impl Scenario {
    pub fn new(scenario: &'static str, class: &'static str) -> Scenario {
        Scenario {
            scenario,
            class,
            cases: 0,
            failures: Vec::new(),
        }
    }

    /// Records one case: passed when `problems` is empty; `left` is what the emulator and the state directory
    /// held at its end ("" = nothing).
    pub fn case(&mut self, case: String, fault: String, problems: Vec<String>, left: String) {
        self.cases += 1;
        report::record(&Case {
            scenario: self.scenario,
            case: case.clone(),
            fault,
            class: self.class,
            passed: problems.is_empty(),
            left_behind: left,
            detail: problems.join(" | "),
        });
        if !problems.is_empty() {
            self.failures
                .push(format!("{case}: {}", problems.join(" | ")));
        }
    }

    /// Fails the test with every failed case listed.
    #[track_caller]
    pub fn assert_all_passed(self) {
        assert!(self.cases > 0, "{}: no case ran", self.scenario);
        assert!(
            self.failures.is_empty(),
            "{}: {} of {} cases failed:\n{}",
            self.scenario,
            self.failures.len(),
            self.cases,
            self.failures.join("\n")
        );
    }
}
