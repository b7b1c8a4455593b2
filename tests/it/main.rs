//! The integration tests of neo4j-gw: one test binary (`cargo test --test it`), one module per thing proven. Every
//! test runs the real `neo4j-gw` binary against a real moto server that it starts on a free loopback port (with the
//! emulator's data plane: gateway, Cognito token endpoint, load balancer and MCP server stand-ins), so tests run in
//! parallel threads without sharing anything but the compiled support code. Select by module:
//! `cargo test --test it -- crash_matrix::`.
//!
//! What the library knows — the plan, its size and each node's kind, the nodes without tags of their own, tag keys,
//! the lease's name and ledger node, the node and phase of every AWS call (the call ledger) — is imported from
//! `neo4j_gw` or read from the binary's own output, never restated here.
//!
//! A new resource kind in the plan reaches the tests through two entries:
//! - `support/inventory.rs`: its `KINDS` entry (the ID key its state records) and its look-up in its service's
//!   function — how to find every copy of it in the emulator, by tag and by name. The emulator-free test
//!   `support::inventory::tests` fails until the entry is there; the crash, lost-answer, fault and ownership tests
//!   then count the kind with everything else.
//! - `drift_matrix.rs`: its arm in `delete_out_of_band` (how an operator deletes it on AWS, with what AWS makes go
//!   first) — the deleted-out-of-band matrix runs a case for every owned node of the plan and fails naming a node
//!   without one — and, for a property that matters, a case in `changes`.
//!
//! Everything else (plan size, request counts per phase, the nodes a call belongs to) follows from the library.

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
mod agents;
mod agents_rights;

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
