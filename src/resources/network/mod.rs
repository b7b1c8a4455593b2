//! The network layer, first in the plan: the VPC, its two public subnets, the internet gateway and the route table
//! that sends the subnets' default route through it, and the two security groups (the load balancer's, the
//! tasks'). Everything after it lives in this network. `ec2` holds what these EC2 kinds share (tags, filters,
//! look-ups, the `DependencyViolation` retry).

pub(in crate::resources) mod ec2;
pub mod internet_gateway;
pub mod route_table;
pub mod security_group;
pub mod subnet;
pub mod vpc;

/// The network layer's nodes, in the order of display. A new kind of this layer is added here and in the `mod` list above.
pub(super) fn nodes() -> Vec<std::sync::Arc<dyn crate::resources::Resource>> {
    use std::sync::Arc;
    let [subnet_a, subnet_b] = subnet::SUBNETS;
    vec![
        Arc::new(vpc::VpcResource),
        Arc::new(subnet_a),
        Arc::new(subnet_b),
        Arc::new(internet_gateway::InternetGatewayResource),
        Arc::new(route_table::RouteTableResource),
        Arc::new(security_group::ALB_SG),
        Arc::new(security_group::TASK_SG),
    ]
}
