//! The compute layer, in the network and behind the edge: the Neo4j connection secret, the task's two roles, the
//! ECS cluster, the task definition (the Neo4j MCP server and, with the origin lock, its credentials proxy) and the
//! service that runs it behind the target group. `ecs` holds what the ECS kinds share (tags).

pub mod cluster;
pub(in crate::resources) mod ecs;
pub mod secret;
pub mod service;
pub mod task_definition;
pub mod task_roles;
