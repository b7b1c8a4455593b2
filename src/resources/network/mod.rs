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
