//! Changes made out of band (with the SDK, as an operator in the console would), shared by the tests that break
//! one thing and check that neo4j-gw notices and repairs it.
#![allow(dead_code)]

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
