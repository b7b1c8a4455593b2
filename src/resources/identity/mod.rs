//! The identity layer, independent of the network: the Cognito user pool that issues the gateway's access tokens,
//! its hosted domain (the token endpoint), the resource server with the one scope, and the app client agents use.

pub mod app_client;
pub mod resource_server;
pub mod user_pool;
pub mod user_pool_domain;
