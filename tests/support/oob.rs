//! Changes made out of band (with the SDK, as an operator in the console would), shared by the tests that break
//! one thing and check that neo4j-gw notices and repairs it.

use aws_sdk_bedrockagentcorecontrol::types::MetadataConfiguration;

/// Sets the request headers a gateway target lets through, keeping the rest of its configuration.
pub async fn set_target_allowed_headers(
    sdk: &aws_config::SdkConfig,
    gateway_id: &str,
    target_id: &str,
    headers: &[&str],
) {
    let agentcore = aws_sdk_bedrockagentcorecontrol::Client::new(sdk);
    let t = agentcore
        .get_gateway_target()
        .gateway_identifier(gateway_id)
        .target_id(target_id)
        .send()
        .await
        .expect("GetGatewayTarget");
    agentcore
        .update_gateway_target()
        .gateway_identifier(gateway_id)
        .target_id(target_id)
        .name(t.name())
        .set_target_configuration(t.target_configuration().cloned())
        .metadata_configuration(
            MetadataConfiguration::builder()
                .set_allowed_request_headers(Some(
                    headers.iter().map(|h| (*h).to_owned()).collect(),
                ))
                .build(),
        )
        .send()
        .await
        .expect("UpdateGatewayTarget");
}

/// The tags neo4j-gw puts on the resource of `node` in `stack` (as `Cx::tags` does).
fn stack_tags(stack: &str, node: &str, name: &str) -> Vec<(String, String)> {
    vec![
        (neo4j_gw::resources::TAG_STACK.to_owned(), stack.to_owned()),
        (
            neo4j_gw::resources::TAG_RESOURCE.to_owned(),
            node.to_owned(),
        ),
        ("Name".to_owned(), name.to_owned()),
    ]
}

fn ec2_tag_spec(
    stack: &str,
    node: &str,
    kind: aws_sdk_ec2::types::ResourceType,
) -> aws_sdk_ec2::types::TagSpecification {
    aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(
            stack_tags(stack, node, &format!("{stack}-copy"))
                .into_iter()
                .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .build()
}

/// Second copies of every kind AWS can duplicate (docs/reliability.md, "Idempotency of every create"), carrying
/// the stack's tags (an app client: the stack's client name in the stack's pool), as a create whose answer was
/// lost would leave them: a VPC with its own two subnets, an internet gateway attached to it and a route table
/// associated with its subnets; a route table in the stack's VPC; a user pool; an app client; a newer revision of
/// the task definition. Returns (node, ID) of each copy.
pub async fn second_copies(
    sdk: &aws_config::SdkConfig,
    stack: &str,
    state: &serde_json::Value,
) -> Vec<(&'static str, String)> {
    use aws_sdk_ec2::types::ResourceType;
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let mut out = Vec::new();
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .tag_specifications(ec2_tag_spec(stack, "vpc", ResourceType::Vpc))
        .send()
        .await
        .expect("CreateVpc")
        .vpc
        .and_then(|v| v.vpc_id)
        .expect("vpc id");
    out.push(("vpc", vpc.clone()));
    let mut subnets = Vec::new();
    for (node, cidr) in [("subnet-a", "10.0.0.0/24"), ("subnet-b", "10.0.1.0/24")] {
        let id = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(cidr)
            .tag_specifications(ec2_tag_spec(stack, node, ResourceType::Subnet))
            .send()
            .await
            .expect("CreateSubnet")
            .subnet
            .and_then(|s| s.subnet_id)
            .expect("subnet id");
        out.push((node, id.clone()));
        subnets.push(id);
    }
    let igw = ec2
        .create_internet_gateway()
        .tag_specifications(ec2_tag_spec(
            stack,
            "internet-gateway",
            ResourceType::InternetGateway,
        ))
        .send()
        .await
        .expect("CreateInternetGateway")
        .internet_gateway
        .and_then(|g| g.internet_gateway_id)
        .expect("igw id");
    ec2.attach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&vpc)
        .send()
        .await
        .expect("AttachInternetGateway");
    out.push(("internet-gateway", igw.clone()));
    let stack_vpc = super::state_id(state, "vpc", "vpc_id");
    for in_vpc in [&vpc, &stack_vpc] {
        let rt = ec2
            .create_route_table()
            .vpc_id(in_vpc)
            .tag_specifications(ec2_tag_spec(stack, "route-table", ResourceType::RouteTable))
            .send()
            .await
            .expect("CreateRouteTable")
            .route_table
            .and_then(|t| t.route_table_id)
            .expect("route table id");
        if in_vpc == &vpc {
            ec2.create_route()
                .route_table_id(&rt)
                .destination_cidr_block("0.0.0.0/0")
                .gateway_id(&igw)
                .send()
                .await
                .expect("CreateRoute");
            for s in &subnets {
                ec2.associate_route_table()
                    .route_table_id(&rt)
                    .subnet_id(s)
                    .send()
                    .await
                    .expect("AssociateRouteTable");
            }
        }
        out.push(("route-table", rt));
    }
    out.push(("user-pool", user_pool_copy(sdk, stack).await));
    let stack_pool = super::state_id(state, "user-pool", "user_pool_id");
    out.push(("app-client", app_client_copy(sdk, stack, &stack_pool).await));
    out.push(("task-definition", second_revision(sdk, state).await));
    out
}

/// A second user pool of the stack's name and tags, as a `CreateUserPool` whose answer was lost leaves one.
/// Returns its ID.
pub async fn user_pool_copy(sdk: &aws_config::SdkConfig, stack: &str) -> String {
    let pool_name = format!("{stack}-pool");
    aws_sdk_cognitoidentityprovider::Client::new(sdk)
        .create_user_pool()
        .pool_name(&pool_name)
        .set_user_pool_tags(Some(
            stack_tags(stack, "user-pool", &pool_name)
                .into_iter()
                .collect(),
        ))
        .send()
        .await
        .expect("CreateUserPool")
        .user_pool
        .and_then(|p| p.id)
        .expect("pool id")
}

/// A second app client of the stack's client name in `pool_id`, as a `CreateUserPoolClient` whose answer was lost
/// leaves one. Returns its ID.
pub async fn app_client_copy(sdk: &aws_config::SdkConfig, stack: &str, pool_id: &str) -> String {
    aws_sdk_cognitoidentityprovider::Client::new(sdk)
        .create_user_pool_client()
        .user_pool_id(pool_id)
        .client_name(format!("{stack}-client"))
        .send()
        .await
        .expect("CreateUserPoolClient")
        .user_pool_client
        .and_then(|c| c.client_id)
        .expect("client id")
}

/// Registers the stack's task definition again, as it is (tags included): a newer revision of the family.
pub async fn second_revision(sdk: &aws_config::SdkConfig, state: &serde_json::Value) -> String {
    use aws_sdk_ecs::types::TaskDefinitionField;
    let ecs = aws_sdk_ecs::Client::new(sdk);
    let d = ecs
        .describe_task_definition()
        .task_definition(super::state_id(state, "task-definition", "arn"))
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .expect("DescribeTaskDefinition");
    let td = d.task_definition().expect("task definition");
    ecs.register_task_definition()
        .family(td.family().unwrap_or_default())
        .set_container_definitions(Some(td.container_definitions().to_vec()))
        .set_requires_compatibilities(Some(td.requires_compatibilities().to_vec()))
        .set_network_mode(td.network_mode().cloned())
        .set_cpu(td.cpu().map(str::to_owned))
        .set_memory(td.memory().map(str::to_owned))
        .set_execution_role_arn(td.execution_role_arn().map(str::to_owned))
        .set_task_role_arn(td.task_role_arn().map(str::to_owned))
        .set_runtime_platform(td.runtime_platform().cloned())
        .set_tags(Some(d.tags().to_vec()))
        .send()
        .await
        .expect("RegisterTaskDefinition")
        .task_definition
        .and_then(|t| t.task_definition_arn)
        .expect("task definition arn")
}

/// Removes the target's credential providers out of band (the origin key), keeping its configuration.
pub async fn clear_target_credential_providers(
    sdk: &aws_config::SdkConfig,
    gateway_id: &str,
    target_id: &str,
) {
    let agentcore = aws_sdk_bedrockagentcorecontrol::Client::new(sdk);
    let t = agentcore
        .get_gateway_target()
        .gateway_identifier(gateway_id)
        .target_id(target_id)
        .send()
        .await
        .expect("GetGatewayTarget");
    agentcore
        .update_gateway_target()
        .gateway_identifier(gateway_id)
        .target_id(target_id)
        .name(t.name())
        .set_target_configuration(t.target_configuration().cloned())
        .set_credential_provider_configurations(Some(vec![]))
        .send()
        .await
        .expect("UpdateGatewayTarget");
}
