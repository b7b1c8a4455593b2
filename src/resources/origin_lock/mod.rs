//! The origin lock, after the edge: only requests that came through the stack's gateway reach the server. The
//! origin secret holds the value, the origin rule on the listener forwards only requests carrying it, and the
//! origin key (an AgentCore API-key credential provider) makes the gateway send it. Unused with
//! `origin_lock = false`.

pub mod origin_key;
pub mod origin_rule;
pub mod origin_secret;
