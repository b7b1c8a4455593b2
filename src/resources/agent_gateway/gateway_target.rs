//! The gateway's target (`--target-name`, default `neo4j-mcp`): the Neo4j MCP server at `https://<fqdn>/mcp`,
//! as an `mcpServer` target. With the origin lock (the default) its credential provider is the origin key
//! (`origin_key`: an API key provider whose value the gateway sends in `X-Neo4j-Gw-Origin` on every request to the
//! server, its own handshake included) and the ECS task's proxy adds the Neo4j credentials; no header needs to be
//! allow-listed. Without the lock there is no credential provider, and the interceptor supplies Neo4j's Basic auth
//! per request in the allow-listed `auth_header` (docs/aws-behaviour.md, "Strict and lenient readings").
//!
//! The AgentCore guide ("MCP servers targets") describes an implicit synchronisation — the gateway calls the
//! endpoint (a protocol handshake, `tools/list`) at CreateGatewayTarget and UpdateGatewayTarget — for targets in
//! DEFAULT listing mode; this target is DYNAMIC ([`LISTING_MODE`]), for which the guide describes listing at
//! request time and says nothing about a contact at creation (docs/aws-behaviour.md, point 1: the stand-in takes
//! the stricter reading). Either way the target depends on the ECS service (whose `wait_ready` guarantees a
//! healthy target in the target group) and the DNS record (whose `wait_ready` guarantees `INSYNC`), so that the
//! server answers whenever the gateway first calls it. A target whose synchronisation failed is
//! reported as drift and re-synchronised by the next `up`; a target that failed to be created is replaced.
//!
//! Targets carry no tags: a target of the stack's name on the stack's own gateway is the stack's.

use async_trait::async_trait;
use aws_sdk_bedrockagentcorecontrol::operation::get_gateway_target::GetGatewayTargetOutput;
use aws_sdk_bedrockagentcorecontrol::types::{
    ApiKeyCredentialLocation, CredentialProvider, CredentialProviderConfiguration,
    CredentialProviderType, GatewayApiKeyCredentialProvider, ListingMode,
    McpServerTargetConfiguration, McpTargetConfiguration, MetadataConfiguration,
    TargetConfiguration, TargetStatus,
};

use super::{delete_target, get_target as get};
use crate::error::{Error, Result};
use crate::resources::{
    AwsResult, Cx, Drift, Health, Live, Observation, Resource, gateway, ids, origin_key,
};
use crate::resources::{dns_record, service};
use crate::state::Ids;
use crate::wait::{self, Poll};

pub const NODE: &str = "gateway-target";

pub struct GatewayTargetResource;

fn endpoint(cx: &Cx) -> Result<String> {
    Ok(format!("https://{}/mcp", cx.dep(dns_record::FQDN)?))
}

/// `DYNAMIC`: the gateway lists the server's tools when a client asks, through the REQUEST interceptor (which adds
/// the Neo4j credentials), instead of caching them at creation with an unauthenticated connection that the
/// Neo4j MCP server refuses (it lets no `initialize` through without credentials). docs/aws-behaviour.md, point 1.
pub const LISTING_MODE: ListingMode = ListingMode::Dynamic;

fn configuration(endpoint: &str) -> Result<TargetConfiguration> {
    let server = McpServerTargetConfiguration::builder()
        .endpoint(endpoint)
        .listing_mode(LISTING_MODE)
        .build()
        .map_err(|e| Error::other(format!("{NODE}: {e}")))?;
    Ok(TargetConfiguration::Mcp(McpTargetConfiguration::McpServer(
        server,
    )))
}

/// The request headers the gateway may pass on to the server: without the origin lock, the one the interceptor
/// puts the Neo4j credentials in (AgentCore forwards a header set by an interceptor only when the target allows
/// it). With the lock none: the credential provider sends the origin header (and "headers provided in API keys …
/// cannot be configured for header propagation", "Header propagation with Gateway"), the task adds the credentials.
pub fn allowed_headers(cx: &Cx) -> Vec<String> {
    let mut h = Vec::new();
    // `Authorization` cannot be allow-listed; the gateway forwards it anyway when the interceptor sets it (AgentCore
    // developer guide, "Header propagation with Gateway").
    if !cx.settings().origin_lock
        && !cx
            .settings()
            .auth_header
            .eq_ignore_ascii_case("Authorization")
    {
        h.push(cx.settings().auth_header.clone());
    }
    h
}

/// The origin key as the target's credential provider (with the origin lock): the gateway adds
/// `X-Neo4j-Gw-Origin: Origin<value>` to every request it sends to the server.
fn credential_providers(cx: &Cx) -> Result<Option<Vec<CredentialProviderConfiguration>>> {
    if !cx.settings().origin_lock {
        return Ok(None);
    }
    let key = GatewayApiKeyCredentialProvider::builder()
        .provider_arn(cx.dep(origin_key::ARN)?)
        .credential_parameter_name(origin_key::HEADER)
        .credential_prefix(origin_key::PREFIX)
        .credential_location(ApiKeyCredentialLocation::Header)
        .build()
        .map_err(|e| Error::other(format!("{NODE}: {e}")))?;
    let config = CredentialProviderConfiguration::builder()
        .credential_provider_type(CredentialProviderType::ApiKey)
        .credential_provider(CredentialProvider::ApiKeyCredentialProvider(key))
        .build()
        .map_err(|e| Error::other(format!("{NODE}: {e}")))?;
    Ok(Some(vec![config]))
}

/// A credential provider configuration, comparable and free of secrets.
fn describe_providers(configs: &[CredentialProviderConfiguration]) -> String {
    if configs.is_empty() {
        return "none".into();
    }
    configs
        .iter()
        .map(|c| match c.credential_provider() {
            Some(CredentialProvider::ApiKeyCredentialProvider(k)) => format!(
                "API_KEY {} in {} {} prefix {}",
                k.provider_arn(),
                k.credential_location()
                    .map(|l| l.as_str())
                    .unwrap_or("HEADER"),
                k.credential_parameter_name().unwrap_or("Authorization"),
                k.credential_prefix().unwrap_or("(default)"),
            ),
            _ => c.credential_provider_type().as_str().to_owned(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn metadata(cx: &Cx) -> Option<MetadataConfiguration> {
    let headers = allowed_headers(cx);
    // The model wants 1 to 10 names: none at all is no metadata configuration.
    (!headers.is_empty()).then(|| {
        MetadataConfiguration::builder()
            .set_allowed_request_headers(Some(headers))
            .build()
    })
}

fn live_endpoint(t: &GetGatewayTargetOutput) -> Option<&str> {
    match t.target_configuration() {
        Some(TargetConfiguration::Mcp(McpTargetConfiguration::McpServer(s))) => Some(s.endpoint()),
        _ => None,
    }
}

fn live_listing_mode(t: &GetGatewayTargetOutput) -> &str {
    match t.target_configuration() {
        Some(TargetConfiguration::Mcp(McpTargetConfiguration::McpServer(s))) => {
            s.listing_mode().map(|m| m.as_str()).unwrap_or("DEFAULT")
        }
        _ => "none",
    }
}

fn lower_sorted(v: &[String]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|h| h.to_ascii_lowercase()).collect();
    v.sort();
    v
}

fn reasons(t: &GetGatewayTargetOutput) -> String {
    if t.status_reasons().is_empty() {
        "no reason given".into()
    } else {
        t.status_reasons().join("; ")
    }
}

const RETRY: &str = "The gateway could not reach the MCP server or index its tools: check with `neo4j-gw status` that the \
service is healthy and the DNS record resolves, then re-run `neo4j-gw up` (it synchronises the target again)";

fn health(t: &GetGatewayTargetOutput) -> Health {
    match t.status() {
        TargetStatus::Ready => Health::Ready,
        TargetStatus::Creating | TargetStatus::Updating | TargetStatus::Synchronizing => {
            Health::Pending(format!("status {}", t.status().as_str()))
        }
        s => Health::Unhealthy(format!("status {}: {}", s.as_str(), reasons(t))),
    }
}

/// Statuses that `up` repairs: a failed synchronisation or update (in place), a failed create (replace).
fn status_drift(t: &GetGatewayTargetOutput) -> Option<Drift> {
    let actual = format!("{}: {}", t.status().as_str(), reasons(t));
    match t.status() {
        TargetStatus::SynchronizeUnsuccessful => {
            Some(Drift::new("synchronization", "READY", actual))
        }
        TargetStatus::UpdateUnsuccessful => Some(Drift::new("status", "READY", actual)),
        TargetStatus::Failed => Some(Drift::new("status", "READY", actual).replace()),
        _ => None,
    }
}

async fn find_by_name(cx: &Cx, gateway_id: &str, name: &str) -> Result<Option<String>> {
    let mut next: Option<String> = None;
    loop {
        let out = match cx
            .aws()
            .agentcore
            .list_gateway_targets()
            .gateway_identifier(gateway_id)
            .max_results(100)
            .set_next_token(next.take())
            .send()
            .await
            .or_gone(cx, "ListGatewayTargets", |e| {
                e.is_resource_not_found_exception()
            })? {
            Some(out) => out,
            None => return Ok(None),
        };
        if let Some(t) = out.items().iter().find(|t| t.name() == name) {
            return Ok(Some(t.target_id().to_owned()));
        }
        match out.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_owned()),
            _ => return Ok(None),
        }
    }
}

fn wait_poll(t: Option<GetGatewayTargetOutput>) -> Poll<()> {
    match t {
        None => Poll::Pending("not visible yet".into()),
        Some(t) => match health(&t) {
            Health::Ready => Poll::Ready(()),
            Health::Pending(s) => Poll::Pending(s),
            Health::Unhealthy(s) => Poll::Failed(format!("{s}. {RETRY}")),
        },
    }
}

#[async_trait]
impl Resource for GatewayTargetResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "agentcore:gateway-target"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        // The origin rule first: the first request the gateway sends must find the door it may use.
        &[
            gateway::NODE,
            service::NODE,
            dns_record::NODE,
            crate::resources::origin_rule::NODE,
            origin_key::NODE,
        ]
    }

    fn owned_through(&self) -> Option<&'static str> {
        Some(gateway::NODE)
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        let known = cx
            .dep_opt(gateway::GATEWAY_ID)
            .or_else(|| recorded.and_then(|r| r.get("gateway_id")).cloned());
        let gateway_id = match known {
            Some(id) => id,
            None => match gateway::find_stacks_gateway(cx).await? {
                Some(id) => id,
                None => return Ok(Observation::Missing),
            },
        };
        let name = &cx.settings().target_name;
        let mut found = None;
        if let Some(id) = recorded
            .filter(|r| r.get("gateway_id") == Some(&gateway_id))
            .and_then(|r| r.get("target_id"))
        {
            found = get(cx, &gateway_id, id).await?;
        }
        if found.is_none()
            && let Some(id) = find_by_name(cx, &gateway_id, name).await?
        {
            found = get(cx, &gateway_id, &id).await?;
        }
        let Some(t) = found else {
            return Ok(Observation::Missing);
        };
        if t.status() == &TargetStatus::Deleting {
            return Ok(Observation::Missing);
        }
        let mut drift = Vec::new();
        if t.name() != name {
            drift.push(Drift::new("name", name, t.name()));
        }
        if let Ok(want) = endpoint(cx) {
            let have = live_endpoint(&t).unwrap_or("none");
            if have != want {
                drift.push(Drift::new("endpoint", want, have));
            }
        }
        let mode = live_listing_mode(&t);
        if mode != LISTING_MODE.as_str() {
            drift.push(Drift::new("listing_mode", LISTING_MODE.as_str(), mode));
        }
        let want = lower_sorted(&allowed_headers(cx));
        let have = lower_sorted(
            t.metadata_configuration()
                .map(|m| m.allowed_request_headers())
                .unwrap_or_default(),
        );
        if want != have {
            let d = Drift::new(
                "allowed_request_headers",
                if want.is_empty() {
                    "none".to_owned()
                } else {
                    want.join(",")
                },
                if have.is_empty() {
                    "none".to_owned()
                } else {
                    have.join(",")
                },
            );
            // The model takes 1 to 10 names: an update cannot empty the list, a new target has none.
            drift.push(if want.is_empty() { d.replace() } else { d });
        }
        if !cx.settings().origin_lock || cx.dep_opt(origin_key::ARN).is_some() {
            let want = describe_providers(&credential_providers(cx)?.unwrap_or_default());
            let have = describe_providers(t.credential_provider_configurations());
            if want != have {
                drift.push(Drift::new("credential_provider", want, have));
            }
        }
        drift.extend(status_drift(&t));
        let live = Live {
            health: health(&t),
            ..Live::new(ids([
                ("target_id", t.target_id().to_owned()),
                ("gateway_id", gateway_id),
            ]))
        };
        Ok(Observation::Present(live.with_drift(drift)))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let gateway_id = cx.dep(gateway::GATEWAY_ID)?;
        let name = cx.settings().target_name.clone();
        let endpoint = endpoint(cx)?;
        // A target of that name still being deleted must be gone first: names are unique per gateway.
        wait::until(
            cx,
            "the previous target of that name to be deleted",
            cx.settings().wait_timeout,
            || async {
                let Some(id) = find_by_name(cx, &gateway_id, &name).await? else {
                    return Ok(Poll::Ready(()));
                };
                Ok(match get(cx, &gateway_id, &id).await? {
                    Some(t) if t.status() == &TargetStatus::Deleting => {
                        Poll::Pending("DELETING".into())
                    }
                    _ => Poll::Ready(()),
                })
            },
        )
        .await?;
        let out = cx
            .aws()
            .agentcore
            .create_gateway_target()
            .gateway_identifier(&gateway_id)
            .name(&name)
            .description(format!(
                "neo4j-gw stack {}: the Neo4j MCP server",
                cx.stack()
            ))
            .client_token(gateway::client_token(
                cx.stack(),
                &cx.shared.account,
                &cx.shared.region,
                &format!("{NODE}:{name}"),
                &cx.create_token(),
            ))
            .target_configuration(configuration(&endpoint)?)
            .set_credential_provider_configurations(credential_providers(cx)?)
            .set_metadata_configuration(metadata(cx))
            .send()
            .await
            .aws(cx, "CreateGatewayTarget")?;
        Ok(ids([
            ("target_id", out.target_id().to_owned()),
            ("gateway_id", gateway_id),
        ]))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        let gateway_id = live.id("gateway_id")?.to_owned();
        let target_id = live.id("target_id")?.to_owned();
        let only_sync = live.drift.iter().all(|d| d.attribute == "synchronization");
        wait::until(
            cx,
            "the target to settle before updating it",
            cx.settings().wait_timeout,
            || async {
                Ok(match get(cx, &gateway_id, &target_id).await? {
                    None => Poll::Failed(
                        "it disappeared; re-run `neo4j-gw up` to create it again".into(),
                    ),
                    Some(t) => match health(&t) {
                        Health::Pending(s) => Poll::Pending(s),
                        _ => Poll::Ready(()),
                    },
                })
            },
        )
        .await?;
        if only_sync {
            cx.aws()
                .agentcore
                .synchronize_gateway_targets()
                .gateway_identifier(&gateway_id)
                .target_id_list(&target_id)
                .send()
                .await
                .aws(cx, "SynchronizeGatewayTargets")?;
        } else {
            // UpdateGatewayTarget replaces the configuration (and synchronises the tools again).
            cx.aws()
                .agentcore
                .update_gateway_target()
                .gateway_identifier(&gateway_id)
                .target_id(&target_id)
                .name(&cx.settings().target_name)
                .description(format!(
                    "neo4j-gw stack {}: the Neo4j MCP server",
                    cx.stack()
                ))
                .target_configuration(configuration(&endpoint(cx)?)?)
                .set_credential_provider_configurations(Some(
                    credential_providers(cx)?.unwrap_or_default(),
                ))
                .set_metadata_configuration(metadata(cx))
                .send()
                .await
                .aws(cx, "UpdateGatewayTarget")?;
        }
        Ok(live.ids.clone())
    }

    async fn wait_ready(&self, cx: &Cx, ids: &Ids) -> Result<()> {
        let gateway_id = ids.get("gateway_id").cloned().unwrap_or_default();
        let target_id = ids.get("target_id").cloned().unwrap_or_default();
        wait::until(
            cx,
            "the target to become READY (the gateway indexes the server's tools)",
            cx.settings().wait_timeout,
            || async { Ok(wait_poll(get(cx, &gateway_id, &target_id).await?)) },
        )
        .await
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        delete_target(cx, live.id("gateway_id")?, live.id("target_id")?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(status: TargetStatus, reasons: &[&str]) -> GetGatewayTargetOutput {
        let now = aws_smithy_types::DateTime::from_secs(0);
        GetGatewayTargetOutput::builder()
            .gateway_arn("arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/g-1")
            .target_id("t1")
            .created_at(now)
            .updated_at(now)
            .status(status)
            .set_status_reasons(Some(reasons.iter().map(|r| r.to_string()).collect()))
            .name("neo4j-mcp")
            .target_configuration(configuration("https://mcp.example.com/mcp").unwrap())
            .set_credential_provider_configurations(Some(vec![]))
            .build()
            .unwrap()
    }

    #[test]
    fn failed_synchronisation_is_repaired_in_place_and_failed_create_by_replacement() {
        let t = target(
            TargetStatus::SynchronizeUnsuccessful,
            &["tools/list returned 401"],
        );
        let d = status_drift(&t).unwrap();
        assert_eq!(d.attribute, "synchronization");
        assert!(
            !d.replace && d.actual.contains("tools/list returned 401"),
            "{d:?}"
        );
        assert!(
            status_drift(&target(TargetStatus::Failed, &["unreachable"]))
                .unwrap()
                .replace
        );
        assert!(status_drift(&target(TargetStatus::Ready, &[])).is_none());
        assert_eq!(live_endpoint(&t), Some("https://mcp.example.com/mcp"));
    }

    #[test]
    fn a_failed_wait_names_the_reasons_and_how_to_retry() {
        match wait_poll(Some(target(
            TargetStatus::SynchronizeUnsuccessful,
            &["connection timed out"],
        ))) {
            Poll::Failed(m) => {
                assert!(
                    m.contains("SYNCHRONIZE_UNSUCCESSFUL") && m.contains("connection timed out"),
                    "{m}"
                );
                assert!(m.contains("re-run `neo4j-gw up`"), "{m}");
            }
            _ => panic!("expected a failure"),
        }
        assert!(matches!(
            wait_poll(Some(target(TargetStatus::Creating, &[]))),
            Poll::Pending(_)
        ));
        assert!(matches!(
            wait_poll(Some(target(TargetStatus::Ready, &[]))),
            Poll::Ready(())
        ));
    }
}
