//! The compute layer, in the network and behind the edge: the Neo4j connection secret, the task's two roles, the
//! ECS cluster, the task definition (the Neo4j MCP server and, with the origin lock, its credentials proxy) and the
//! service that runs it behind the target group. `ecs` holds what the ECS kinds share (tags).

pub mod cluster;
pub(in crate::resources) mod ecs;
pub mod secret;
pub mod service;
pub mod task_definition;
pub mod task_roles;

/// The compute layer's nodes, in the order of display. A new kind of this layer is added here and in the `mod` list above.
pub(super) fn nodes() -> Vec<std::sync::Arc<dyn crate::resources::Resource>> {
    use std::sync::Arc;
    vec![
        Arc::new(secret::SecretResource),
        Arc::new(crate::resources::log_group::CONTAINER_LOGS),
        Arc::new(task_roles::TASK_EXECUTION_ROLE),
        Arc::new(task_roles::TASK_ROLE),
        Arc::new(cluster::ClusterResource),
        Arc::new(task_definition::TaskDefinitionResource),
        Arc::new(service::ServiceResource),
    ]
}
