//! The origin lock's API-key credential provider `<stack>-origin-key` (AgentCore Identity): the gateway target names
//! it, and the gateway then adds the origin value to every request it sends to the MCP server — its own
//! `initialize`, the synchronisation, and each forwarded call — as the header [`HEADER`]. The interceptor does not
//! carry it any more: nothing in the AgentCore guide says an interceptor's headers go on the gateway's own handshake
//! with a target, and under that (strict) reading the load balancer would refuse the handshake
//! (docs/aws-behaviour.md, "Strict and lenient readings").
//!
//! The provider holds no copy of the value: its key source is `EXTERNAL`, the origin secret
//! `neo4j-gw/<stack>/origin` with the JSON key `current` (SDK model: `CreateApiKeyCredentialProvider`
//! `apiKeySecretSource` / `apiKeySecretConfig {secretId, jsonKey}`). `rotate-origin` therefore rotates it by
//! writing the secret, as before; the listener accepts the old and the new value meanwhile. The value never passes
//! through this module.
//!
//! Its IDs are `arn` and `name`; it is tagged with the stack's tags and adopted by name when its create's answer
//! was lost (the API has no client token).

use async_trait::async_trait;
use aws_sdk_bedrockagentcorecontrol::operation::get_api_key_credential_provider::GetApiKeyCredentialProviderOutput;
use aws_sdk_bedrockagentcorecontrol::types::{SecretReference, SecretSourceType};

use crate::error::{self, Error, Result};
use crate::resources::Output;
use crate::resources::{
    AwsResult, Cx, Drift, Live, Observation, Resource, agent_gateway, ids, origin_secret,
};
use crate::state::Ids;

pub const ARN: Output = Output::new(NODE, "arn");

pub const NODE: &str = "origin-key";
/// The header the gateway puts the origin value in: the one the listener rule checks.
pub const HEADER: &str = origin_secret::HEADER;
/// The JSON key of the origin secret that holds the value the gateway sends.
pub const JSON_KEY: &str = "current";
/// `credentialPrefix` (1 to 64 characters; AWS CDK documents `Bearer ` as the default). Whether AgentCore puts a
/// space between the prefix and the key is not documented: the listener rule matches `*<value>`, so either works.
pub const PREFIX: &str = "Origin";

pub struct OriginKeyResource;

pub fn provider_name(cx: &Cx) -> String {
    cx.name(NODE)
}

async fn get(cx: &Cx, name: &str) -> Result<Option<GetApiKeyCredentialProviderOutput>> {
    cx.aws()
        .agentcore
        .get_api_key_credential_provider()
        .name(name)
        .send()
        .await
        .or_gone(cx, "GetApiKeyCredentialProvider", |e| {
            e.is_resource_not_found_exception()
        })
}

fn reference(cx: &Cx) -> Result<SecretReference> {
    SecretReference::builder()
        .secret_id(cx.dep(origin_secret::ARN)?)
        .json_key(JSON_KEY)
        .build()
        .map_err(|e| Error::other(format!("{NODE}: {e}")))
}

/// What differs from "the origin secret's `current`, managed by us" (the secret's ARN only once it is known).
fn drift(cx: &Cx, p: &GetApiKeyCredentialProviderOutput) -> Vec<Drift> {
    let mut d = Vec::new();
    let source = p
        .api_key_secret_source()
        .map(|s| s.as_str())
        .unwrap_or("MANAGED");
    if source != SecretSourceType::External.as_str() {
        d.push(Drift::new("key_source", "EXTERNAL", source));
    }
    if let Some(want) = cx.dep_opt(origin_secret::ARN) {
        let have = p
            .api_key_secret_arn()
            .map(|s| s.secret_arn())
            .unwrap_or("none");
        if have != want {
            d.push(Drift::new("key_secret", want, have));
        }
    }
    let key = p.api_key_secret_json_key().unwrap_or("none");
    if key != JSON_KEY {
        d.push(Drift::new("key_json_key", JSON_KEY, key));
    }
    d
}

#[async_trait]
impl Resource for OriginKeyResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "agentcore:api-key-credential-provider"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &[origin_secret::NODE]
    }
    fn wanted(&self, cx: &Cx) -> bool {
        cx.settings().origin_lock
    }

    async fn observe(&self, cx: &Cx, _recorded: Option<&Ids>) -> Result<Observation> {
        let name = provider_name(cx);
        let Some(p) = get(cx, &name).await? else {
            return Ok(Observation::Missing);
        };
        let arn = p.credential_provider_arn().to_owned();
        let tags = agent_gateway::tags(cx, &arn).await?;
        if !cx.is_ours(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            return Ok(Observation::Foreign(format!(
                "API key credential provider {name} is not tagged as this stack's"
            )));
        }
        Ok(Observation::Present(
            Live::new(ids([("arn", arn), ("name", name)])).with_drift(drift(cx, &p)),
        ))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let name = provider_name(cx);
        let created = cx
            .aws()
            .agentcore
            .create_api_key_credential_provider()
            .name(&name)
            .api_key_secret_source(SecretSourceType::External)
            .api_key_secret_config(reference(cx)?)
            .set_tags(Some(cx.tags(&name).into_iter().collect()))
            .send()
            .await;
        let arn = match created {
            Ok(out) => out.credential_provider_arn().to_owned(),
            // A create whose answer was lost: the provider exists; it is ours only with our tags.
            Err(e) if error::code_of(&e) == Some("ConflictException") => {
                let Some(p) = get(cx, &name).await? else {
                    return Err(error::aws(cx.node, "CreateApiKeyCredentialProvider", e));
                };
                let arn = p.credential_provider_arn().to_owned();
                let tags = agent_gateway::tags(cx, &arn).await?;
                if !cx.is_ours(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
                    return Err(Error::Conflict(format!(
                        "{NODE}: an API key credential provider named {name} exists and is not this stack's: \
                         delete it or choose another stack name"
                    )));
                }
                arn
            }
            Err(e) => return Err(error::aws(cx.node, "CreateApiKeyCredentialProvider", e)),
        };
        Ok(ids([("arn", arn), ("name", name)]))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        cx.aws()
            .agentcore
            .update_api_key_credential_provider()
            .name(live.id("name")?)
            .api_key_secret_source(SecretSourceType::External)
            .api_key_secret_config(reference(cx)?)
            .send()
            .await
            .aws(cx, "UpdateApiKeyCredentialProvider")?;
        Ok(live.ids.clone())
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        cx.aws()
            .agentcore
            .delete_api_key_credential_provider()
            .name(live.id("name")?)
            .send()
            .await
            .or_gone(cx, "DeleteApiKeyCredentialProvider", |e| {
                e.is_resource_not_found_exception()
            })
            .map(|_| ())
    }
}
