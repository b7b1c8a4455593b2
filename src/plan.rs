//! The plan: every resource of the stack with its dependencies. The engine derives the order from the
//! dependencies; this list only fixes the order of display.

use std::sync::Arc;

use crate::resources::{
    Resource, certificate::CertificateResource, cluster::ClusterResource,
    dns_record::DnsRecordResource, hosted_zone::HostedZoneResource,
    internet_gateway::InternetGatewayResource, listener::ListenerResource,
    load_balancer::LoadBalancerResource, log_group, origin_key::OriginKeyResource,
    origin_rule::OriginRuleResource, origin_secret::OriginSecretResource,
    route_table::RouteTableResource, secret::SecretResource, security_group,
    service::ServiceResource, subnet, target_group::TargetGroupResource,
    task_definition::TaskDefinitionResource, task_roles, vpc::VpcResource,
};
use crate::resources::{
    app_client::AppClientResource, gateway, gateway::GatewayResource,
    gateway_target::GatewayTargetResource, interceptor_function,
    interceptor_function::InterceptorFunctionResource, resource_server::ResourceServerResource,
    user_pool::UserPoolResource, user_pool_domain::UserPoolDomainResource,
};

pub fn resources() -> Vec<Arc<dyn Resource>> {
    let [subnet_a, subnet_b] = subnet::SUBNETS;
    vec![
        Arc::new(VpcResource),
        Arc::new(subnet_a),
        Arc::new(subnet_b),
        Arc::new(InternetGatewayResource),
        Arc::new(RouteTableResource),
        Arc::new(security_group::ALB_SG),
        Arc::new(security_group::TASK_SG),
        // What the stack uses but does not own: checked in pre-flight, never created or deleted.
        Arc::new(HostedZoneResource),
        Arc::new(CertificateResource),
        // The edge: HTTPS in front of the tasks, and the name.
        Arc::new(TargetGroupResource),
        Arc::new(LoadBalancerResource),
        Arc::new(ListenerResource),
        // The origin lock: only requests that came through the gateway reach the server.
        Arc::new(OriginSecretResource),
        Arc::new(OriginRuleResource),
        // …and the gateway sends it on every request to the server, its own handshake included.
        Arc::new(OriginKeyResource),
        Arc::new(DnsRecordResource),
        // The compute: the secret, container logs, task roles, cluster, task definition, service.
        Arc::new(SecretResource),
        Arc::new(log_group::CONTAINER_LOGS),
        Arc::new(task_roles::TASK_EXECUTION_ROLE),
        Arc::new(task_roles::TASK_ROLE),
        Arc::new(ClusterResource),
        Arc::new(TaskDefinitionResource),
        Arc::new(ServiceResource),
        // identity and the gateway
        Arc::new(UserPoolResource),
        Arc::new(UserPoolDomainResource),
        Arc::new(ResourceServerResource),
        Arc::new(AppClientResource),
        Arc::new(interceptor_function::LOG_GROUP),
        Arc::new(interceptor_function::ROLE),
        Arc::new(InterceptorFunctionResource),
        Arc::new(gateway::ROLE),
        Arc::new(GatewayResource),
        Arc::new(GatewayTargetResource),
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::resources;

    #[test]
    fn ids_are_unique_and_dependencies_exist_and_form_no_cycle() {
        let plan = resources();
        let ids: BTreeSet<&str> = plan.iter().map(|r| r.id()).collect();
        assert_eq!(ids.len(), plan.len(), "duplicate node ids");
        // Kahn's algorithm: every node must become ready.
        let mut done: BTreeSet<&str> = BTreeSet::new();
        while done.len() < plan.len() {
            let before = done.len();
            for r in &plan {
                for d in r.depends_on() {
                    assert!(ids.contains(d), "{} depends on unknown {d}", r.id());
                }
                if r.depends_on().iter().all(|d| done.contains(d)) {
                    done.insert(r.id());
                }
            }
            assert!(
                done.len() > before,
                "dependency cycle among {:?}",
                ids.difference(&done).collect::<Vec<_>>()
            );
        }
    }
}
