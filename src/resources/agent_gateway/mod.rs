//! The AgentCore gateway layer, last: the REQUEST interceptor function (with its log group and role), the gateway
//! (with its role; it trusts the identity layer's tokens) and its target, the MCP server behind the edge (reached
//! with the origin lock's key). Named `agent_gateway` because its `gateway` kind is `crate::resources::gateway`.

pub mod gateway;
pub mod gateway_target;
pub mod interceptor_function;
