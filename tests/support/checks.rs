//! Checks shared by the fault-injection suites: a fresh emulator state, "the stack converged" and "nothing of
//! the stack is left".

use super::inventory::{self, Scope};
use super::{DOMAIN, Emulator, Stack};

pub const SUBDOMAIN: &str = "mcp";

/// The default FQDN of a stack deployed with [`up_args`].
pub fn fqdn() -> String {
    format!("{SUBDOMAIN}.{DOMAIN}")
}

/// `up` with the sample domain and the certificate (the default subdomain).
pub fn up_args(cert: &str) -> Vec<String> {
    vec![
        "up".into(),
        "--domain-name".into(),
        DOMAIN.into(),
        "--certificate-arn".into(),
        cert.into(),
    ]
}

pub fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Clears every resource of the emulator (`POST /moto-api/reset`) and re-creates the hosted zone and the
/// certificate; returns the certificate ARN.
pub async fn fresh(emu: &Emulator) -> String {
    let resp = reqwest::Client::new()
        .post(format!("{}/moto-api/reset", emu.endpoint))
        .send()
        .await
        .expect("POST /moto-api/reset");
    assert!(resp.status().is_success(), "moto reset: {}", resp.status());
    let (_, cert) = super::fixtures(emu).await;
    cert
}

/// Problems that keep the stack from being converged: `status` must exit 0 with every resource present, the
/// emulator must hold exactly one resource per owned node (by tag and by name) and every ID in the state file
/// must be live. Empty = converged.
pub async fn converged(emu: &Emulator, st: &Stack<'_>, scope: &Scope) -> Vec<String> {
    let mut problems = Vec::new();
    let (code, status) = st.status_json();
    if code != 0 {
        let bad: Vec<String> = status["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["state"] != "present")
            .map(|r| format!("{} {}", r["resource"], r["state"]))
            .collect();
        problems.push(format!("status exited {code}: {}", bad.join(", ")));
    }
    let state = match std::fs::read_to_string(st.state_path()) {
        Ok(text) => match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("state file is not JSON: {e}"));
                return problems;
            }
        },
        Err(e) => {
            problems.push(format!("no state file: {e}"));
            return problems;
        }
    };
    let items = inventory::inventory(&emu.sdk().await, scope).await;
    problems.extend(inventory::check_state(&items, &state));
    problems
}

/// What is left of the stack: live resources (by tag and by name) and the state file. Empty = nothing.
pub async fn leftovers(emu: &Emulator, st: &Stack<'_>, scope: &Scope) -> String {
    let items = inventory::inventory(&emu.sdk().await, scope).await;
    let mut left = Vec::new();
    if !items.is_empty() {
        left.push(inventory::describe(&items));
    }
    if st.state_path().exists() {
        left.push(format!("state file {}", st.state_path().display()));
    }
    left.join("; ")
}

/// Runs `down` and returns what is left of the stack ("" = nothing); a failed `down` and any leftover are added
/// to `problems`.
pub async fn down_leaves_nothing(
    emu: &Emulator,
    st: &Stack<'_>,
    scope: &Scope,
    problems: &mut Vec<String>,
) -> String {
    let down = st.run(&["down", "--yes"]);
    if down.code != 0 {
        problems.push(format!(
            "down exited {}: {}",
            down.code,
            tail(&down.stderr, 6)
        ));
    }
    let left = leftovers(emu, st, scope).await;
    if !left.is_empty() {
        problems.push(format!("left behind after down: {left}"));
    }
    left
}

/// Whether a state file, if any, is whole JSON (it is written atomically, so a kill can never tear it).
pub fn state_is_valid(st: &Stack<'_>) -> Result<(), String> {
    match std::fs::read_to_string(st.state_path()) {
        Err(_) => Ok(()),
        Ok(text) => serde_json::from_str::<serde_json::Value>(&text)
            .map(|_| ())
            .map_err(|e| format!("state file torn: {e}")),
    }
}

/// The first lines of a run's stderr, for failure details.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
