//! The edge layer, after the network: what is used but never owned (the hosted zone, the certificate — checked in
//! pre-flight), then the HTTPS entry to the tasks — target group, load balancer, listener — and the DNS record that
//! names it. `elb` holds what the load-balancing kinds share (tags, not-found codes, target health).

pub mod certificate;
pub mod dns_record;
pub(in crate::resources) mod elb;
pub mod hosted_zone;
pub mod listener;
pub mod load_balancer;
pub mod target_group;
