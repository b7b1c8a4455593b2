//! The stack's outputs (the CDK sample's keys), computed from the known resource IDs and the settings.

use std::collections::BTreeMap;

use crate::config::Settings;
use crate::resources::{
    Output, app_client, dns_record, gateway, interceptor_function, resource_server, secret,
    user_pool, user_pool_domain,
};
use crate::state::Ids;

/// Every output key, in display order.
pub const KEYS: &[&str] = &[
    "McpFqdn",
    "McpServiceUrl",
    "Neo4jSecretArn",
    "InterceptorLambdaArn",
    "GatewayArn",
    "GatewayUrl",
    "CognitoUserPoolId",
    "CognitoAppClientId",
    "CognitoDiscoveryUrl",
    "CognitoTokenEndpoint",
    "CognitoScope",
];

/// The outputs known so far.
pub fn compute(
    settings: &Settings,
    region: &str,
    known: &BTreeMap<String, Ids>,
) -> BTreeMap<String, String> {
    let get = |output: Output| output.in_known(known).cloned();
    let mut out = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            out.insert(k.to_owned(), v);
        }
    };
    let fqdn = get(dns_record::FQDN);
    put("McpFqdn", fqdn.clone());
    put("McpServiceUrl", fqdn.map(|f| format!("https://{f}/mcp")));
    put("Neo4jSecretArn", get(secret::ARN));
    put("InterceptorLambdaArn", get(interceptor_function::ARN));
    put("GatewayArn", get(gateway::ARN));
    put("GatewayUrl", get(gateway::URL));
    let pool = get(user_pool::USER_POOL_ID);
    put("CognitoUserPoolId", pool.clone());
    put("CognitoAppClientId", get(app_client::CLIENT_ID));
    put(
        "CognitoDiscoveryUrl",
        pool.map(|p| {
            format!(
                "https://cognito-idp.{region}.amazonaws.com/{p}/.well-known/openid-configuration"
            )
        }),
    );
    put(
        "CognitoTokenEndpoint",
        get(user_pool_domain::DOMAIN)
            .map(|d| format!("https://{d}.auth.{region}.amazoncognito.com/oauth2/token")),
    );
    if known.contains_key(resource_server::NODE) {
        put(
            "CognitoScope",
            Some(format!(
                "{}/{}",
                settings.resource_server_id, settings.scope
            )),
        );
    }
    out
}

/// Human-readable lines, in display order.
pub fn render(outputs: &BTreeMap<String, String>) -> String {
    let mut s = String::new();
    for k in KEYS {
        if let Some(v) = outputs.get(*k) {
            s.push_str(&format!("  {k:<22} {v}\n"));
        }
    }
    s
}
