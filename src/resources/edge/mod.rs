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

/// The edge layer's nodes, in the order of display. A new kind of this layer is added here and in the `mod` list above.
pub(super) fn nodes() -> Vec<std::sync::Arc<dyn crate::resources::Resource>> {
    use std::sync::Arc;
    vec![
        // What the stack uses but does not own: checked in pre-flight, never created or deleted.
        Arc::new(hosted_zone::HostedZoneResource),
        Arc::new(certificate::CertificateResource),
        // HTTPS in front of the tasks, and the name.
        Arc::new(target_group::TargetGroupResource),
        Arc::new(load_balancer::LoadBalancerResource),
        Arc::new(listener::ListenerResource),
        Arc::new(dns_record::DnsRecordResource),
    ]
}
