//! The identity layer, independent of the network: the Cognito user pool that issues the gateway's access tokens,
//! its hosted domain (the token endpoint), the resource server with its scopes, and one app client per agent.

pub mod app_client;
pub mod resource_server;
pub mod user_pool;
pub mod user_pool_domain;

/// The identity layer's nodes, in the order of display, with one app client per agent. A new kind of this layer is
/// added here and in the `mod` list above.
pub(super) fn nodes(agents: &[&str]) -> Vec<std::sync::Arc<dyn crate::resources::Resource>> {
    use std::sync::Arc;
    let mut nodes: Vec<Arc<dyn crate::resources::Resource>> = vec![
        Arc::new(user_pool::UserPoolResource),
        Arc::new(user_pool_domain::UserPoolDomainResource),
        Arc::new(resource_server::ResourceServerResource),
    ];
    for agent in agents {
        nodes.push(Arc::new(app_client::AppClientResource::of(agent)));
    }
    nodes
}
