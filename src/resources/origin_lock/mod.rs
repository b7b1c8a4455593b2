//! The origin lock, after the edge: only requests that came through the stack's gateway reach the server. The
//! origin secret holds the value, the origin rule on the listener forwards only requests carrying it, and the
//! origin key (an AgentCore API-key credential provider) makes the gateway send it. Unused with
//! `origin_lock = false`.

pub mod origin_key;
pub mod origin_rule;
pub mod origin_secret;

/// The origin lock's nodes, in the order of display. A new kind of this layer is added here and in the `mod` list above.
pub(super) fn nodes() -> Vec<std::sync::Arc<dyn crate::resources::Resource>> {
    use std::sync::Arc;
    vec![
        // Only requests that came through the gateway reach the server…
        Arc::new(origin_secret::OriginSecretResource),
        Arc::new(origin_rule::OriginRuleResource),
        // …and the gateway sends it on every request to the server, its own handshake included.
        Arc::new(origin_key::OriginKeyResource),
    ]
}
