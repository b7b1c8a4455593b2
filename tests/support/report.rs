//! Reliability results: every fault-injection case appends one JSON line to the file named by
//! `NEO4J_GW_RELIABILITY_LOG` (when set); `scripts/reliability-report` renders them into docs/reliability.md.

use std::io::Write;

use serde_json::json;

/// The suite a line belongs to: `NEO4J_GW_RELIABILITY_SUITE` (`full` from scripts/reliability), default `ci`.
pub fn suite() -> String {
    std::env::var("NEO4J_GW_RELIABILITY_SUITE").unwrap_or_else(|_| "ci".to_owned())
}

/// One case of a scenario.
pub struct Case<'a> {
    pub scenario: &'a str,
    pub case: String,
    /// The injected fault, in words.
    pub fault: String,
    /// The fault summarised for the scenario's line of the report (cases of one class share it).
    pub class: &'a str,
    pub passed: bool,
    /// What was left in the emulator / on disk after the final `down` ("" = nothing).
    pub left_behind: String,
    /// Failure details or notes.
    pub detail: String,
}

pub fn record(c: &Case) {
    let Some(path) = std::env::var_os("NEO4J_GW_RELIABILITY_LOG") else {
        return;
    };
    let line = json!({
        "suite": suite(),
        "scenario": c.scenario,
        "case": c.case,
        "fault": c.fault,
        "class": c.class,
        "passed": c.passed,
        "left_behind": c.left_behind,
        "detail": c.detail,
    });
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}
