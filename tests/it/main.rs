//! The integration tests of neo4j-gw: one test binary (`cargo test --test it`), one module per thing proven. Every
//! test runs the real `neo4j-gw` binary against a real moto server that it starts on a free loopback port (with the
//! emulator's data plane: gateway, Cognito token endpoint, load balancer and MCP server stand-ins), so tests run in
//! parallel threads without sharing anything but the compiled support code. Select by module:
//! `cargo test --test it -- crash_matrix::`.
//!
//! What the library knows — node names, kinds, tag keys, the plan and its size, the lease's ledger node — is imported
//! from `neo4j_gw`, never restated here; what only the tests know about each kind (how to find it in the emulator)
//! is in `support::inventory`, checked against the plan by `support::inventory::tests`.

#[path = "../support/mod.rs"]
mod support;

// The stack's layers, each brought up, changed and taken down through the binary.
mod compute_layer;
mod edge_layer;
mod identity_layer;
mod network_layer;
mod origin_lock;

// The agent's path through the gateway: working, diagnosed when broken, repaired.
mod agent_path;
mod agent_path_diagnosis;
mod agent_path_repairs;

// The promises under faults: kills, lost answers, transient errors, signals, concurrent runs, drift, duplicates,
// and a stack that touches only what is its own.
mod crash_matrix;
mod drift_matrix;
mod duplicates;
mod fault_tolerance;
mod lost_answers;
mod ownership;

// The commands as an operator meets them.
mod bad_input;
mod doctor;
mod logs;
mod operator_setup;
mod plan;
mod request_budget;
mod settings_rollout;
mod terminal;
