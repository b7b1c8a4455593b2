//! The Amazon Bedrock AgentCore Gateway `<stack>-gw` (MCP protocol) and its execution role.
//!
//! Callers authenticate with a Cognito access token (`CUSTOM_JWT`: the pool's discovery URL, the app client as
//! the only allowed client — Cognito access tokens carry no `aud` — and the stack's scope). Every request goes
//! through one REQUEST interceptor, the Lambda, without the request headers ([`PASS_REQUEST_HEADERS`]). The role is
//! trusted by `bedrock-agentcore.amazonaws.com` only for this account's gateways (confused-deputy conditions), may
//! invoke that one function and, with the origin lock, read the origin key (`origin_key`).
//!
//! AgentCore has no waiters: the gateway is polled until `READY`; `FAILED` reports AWS's `statusReasons`. The
//! create call carries a client token derived from stack, account, region and the resource lifetime's create
//! token (new for a gateway created again after a delete), and the gateway is looked up by name before creating.

use async_trait::async_trait;
use aws_sdk_bedrockagentcorecontrol::operation::get_gateway::GetGatewayOutput;
use aws_sdk_bedrockagentcorecontrol::types::{
    AuthorizerConfiguration, AuthorizerType, CustomJwtAuthorizerConfiguration, ExceptionLevel,
    GatewayInterceptionPoint, GatewayInterceptorConfiguration, GatewayPolicyEngineConfiguration,
    GatewayPolicyEngineMode, GatewayProtocolConfiguration, GatewayProtocolType, GatewayStatus,
    InterceptorConfiguration, InterceptorInputConfiguration, LambdaInterceptorConfiguration,
    McpGatewayConfiguration,
};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{delete_and_wait, tags};
use crate::error::{Error, Result};
use crate::resources::iam_role::{RoleResource, service_trust};
use crate::resources::{
    AwsResult, Cx, Drift, Health, Live, Observation, Resource, app_client, ids,
    interceptor_function, origin_key, policy_engine, resource_server, user_pool,
};
use crate::resources::{Output, origin_secret};
use crate::state::Ids;
use crate::wait::{self, Poll};

pub const GATEWAY_ID: Output = Output::new(NODE, "gateway_id");
pub const ARN: Output = Output::new(NODE, "arn");
pub const URL: Output = Output::new(NODE, "url");
pub const ROLE_ARN: Output = Output::new(ROLE_NODE, "arn");

pub const NODE: &str = "gateway";
pub const ROLE_NODE: &str = "gateway-role";

/// The gateway's execution role.
pub const ROLE: RoleResource = RoleResource {
    node: ROLE_NODE,
    suffix: "gateway",
    description: "neo4j-gw: the AgentCore Gateway; invokes the interceptor Lambda, sends the origin value, evaluates its policy engine",
    deps: &[interceptor_function::NODE, origin_key::NODE],
    trust: |cx| {
        let (account, region) = (&cx.shared.account, &cx.shared.region);
        Ok(service_trust(
            "bedrock-agentcore.amazonaws.com",
            Some(json!({
                "StringEquals": {"aws:SourceAccount": account},
                "ArnLike": {"aws:SourceArn": format!("arn:{}:bedrock-agentcore:{region}:{account}:gateway/*", crate::resources::partition(region))},
            })),
        ))
    },
    policy: |cx| {
        let function = cx.dep(interceptor_function::ARN)?;
        let mut statements = vec![
            json!({
                "Sid": "InvokeInterceptor",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": [function],
            }),
            policy_statement(cx),
        ];
        if cx.settings().origin_lock {
            statements.extend(origin_key_statements(cx)?);
        }
        Ok(Some(
            json!({"Version": "2012-10-17", "Statement": statements}),
        ))
    },
};

/// What the gateway needs to evaluate its policy engine (issue 20): `AuthorizeAction`, `PartiallyAuthorizeActions`
/// (the listing) and `GetPolicyEngine`; without them AgentCore answers "Policy evaluation failed for list tools"
/// (docs/aws-behaviour.md, "Agents' rights at the gateway"). Which resource each is checked on is not documented,
/// so they are granted on both the engine and the gateway. The role exists before either of them (the gateway
/// names it; the engine would be named by ID), so both are named by the IDs AgentCore will give them: the name
/// plus a generated suffix ([`policy_engine::arn_pattern`], [`arn_pattern`]) — this stack's only, as names are
/// unique in the account and region, and they hold across a replacement of either.
pub fn policy_statement(cx: &Cx) -> serde_json::Value {
    json!({
        "Sid": "PolicyEngine",
        "Effect": "Allow",
        "Action": POLICY_ACTIONS,
        "Resource": [policy_engine::arn_pattern(cx), arn_pattern(cx)],
    })
}

/// The actions of [`policy_statement`].
pub const POLICY_ACTIONS: [&str; 3] = [
    "bedrock-agentcore:AuthorizeAction",
    "bedrock-agentcore:PartiallyAuthorizeActions",
    "bedrock-agentcore:GetPolicyEngine",
];

/// The ARNs the stack's gateway can have before it exists: AgentCore's gateway IDs are the name in lowercase plus
/// a generated suffix (`<name>-<10 characters>`).
pub fn arn_pattern(cx: &Cx) -> String {
    let (account, region) = (&cx.shared.account, &cx.shared.region);
    format!(
        "arn:{}:bedrock-agentcore:{region}:{account}:gateway/{}-*",
        crate::resources::partition(region),
        gateway_name(cx).to_ascii_lowercase()
    )
}

/// What the gateway needs to send the origin key provider's value (aws/bedrock-agentcore-starter-toolkit's gateway
/// role: `GetWorkloadAccessToken` on the default workload identity directory, `GetResourceApiKey` on the token vault
/// and the provider, and the key's secret).
fn origin_key_statements(cx: &Cx) -> Result<Vec<serde_json::Value>> {
    let (account, region) = (&cx.shared.account, &cx.shared.region);
    let arn = |rest: &str| {
        format!(
            "arn:{}:bedrock-agentcore:{region}:{account}:{rest}",
            crate::resources::partition(region)
        )
    };
    let directory = [
        arn("workload-identity-directory/default"),
        arn("workload-identity-directory/default/workload-identity/*"),
    ];
    Ok(vec![
        json!({
            "Sid": "WorkloadAccessToken",
            "Effect": "Allow",
            "Action": ["bedrock-agentcore:GetWorkloadAccessToken"],
            "Resource": directory,
        }),
        json!({
            "Sid": "OriginKey",
            "Effect": "Allow",
            "Action": ["bedrock-agentcore:GetResourceApiKey"],
            "Resource": [
                arn("token-vault/default"),
                cx.dep(origin_key::ARN)?,
                directory[0].clone(),
                directory[1].clone(),
            ],
        }),
        json!({
            "Sid": "OriginKeySecret",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [cx.dep(origin_secret::ARN)?],
        }),
    ])
}

/// `passRequestHeaders`: off. The interceptor reads no request header (it only adds its own), and the guide warns
/// that the passed headers carry the caller's token (docs/aws-behaviour.md, "Strict and lenient readings").
pub const PASS_REQUEST_HEADERS: bool = false;

/// `<stack>-gw`: valid for `([0-9a-zA-Z][-]?){1,48}` because stack names are.
pub fn gateway_name(cx: &Cx) -> String {
    cx.name("gw")
}

/// A client token (64 hex digits) for one create of `purpose` in this stack, account and region, from the
/// resource lifetime's create token ([`Cx::create_token`]): every repeat of that create sends the same token;
/// a gateway or target created again after the last one was deleted (out of band, or by `down`) sends another.
/// AgentCore follows AWS's client-token rules: a token it remembers is answered with the first request's
/// result — a deleted gateway — or refused when the parameters differ.
pub fn client_token(
    stack: &str,
    account: &str,
    region: &str,
    purpose: &str,
    lifetime: &str,
) -> String {
    hex::encode(Sha256::digest(format!(
        "neo4j-gw:{stack}:{account}:{region}:{purpose}:{lifetime}"
    )))
}

pub fn discovery_url(region: &str, pool_id: &str) -> String {
    format!("https://cognito-idp.{region}.amazonaws.com/{pool_id}/.well-known/openid-configuration")
}

/// Everything the gateway's configuration is derived from.
struct Desired {
    role_arn: String,
    discovery_url: String,
    /// Every configured agent's client ID, sorted: a removed agent's tokens are refused at once.
    client_ids: Vec<String>,
    scope: String,
    interceptor_arn: String,
    versions: Vec<String>,
    /// `exceptionLevel` DEBUG (`--gateway-debug`): see [`exception_level`].
    debug: bool,
    /// The policy engine the gateway enforces (issue 20).
    policy_engine_arn: String,
}

/// The gateway's `exceptionLevel` for the `gateway_debug` setting. SDK model (`CreateGatewayInput`,
/// `UpdateGatewayInput`, `GetGatewayOutput`): the only value is `DEBUG` — "granular exception messages are
/// returned to help a user debug the gateway"; "If the value is omitted, a generic error message is returned to
/// the end user." Off is therefore the value omitted; UpdateGateway takes the whole configuration, so an update
/// without it turns DEBUG off (an assumption the emulator follows: docs/emulator.md).
pub fn exception_level(debug: bool) -> Option<ExceptionLevel> {
    debug.then_some(ExceptionLevel::Debug)
}

/// `DEBUG` or `off`, as `status` shows the level.
pub fn exception_level_word(level: Option<&ExceptionLevel>) -> String {
    level.map_or_else(|| "off".to_owned(), |l| l.as_str().to_owned())
}

impl Desired {
    fn of(cx: &Cx) -> Result<Desired> {
        Ok(Desired {
            role_arn: cx.dep(ROLE_ARN)?,
            discovery_url: discovery_url(&cx.shared.region, &cx.dep(user_pool::USER_POOL_ID)?),
            client_ids: {
                let mut ids = cx
                    .settings()
                    .agents
                    .keys()
                    .map(|agent| {
                        let node = app_client::AppClientResource::of(agent).node;
                        cx.dep(app_client::client_id_output(node))
                    })
                    .collect::<Result<Vec<_>>>()?;
                ids.sort();
                ids
            },
            scope: resource_server::full_scope(cx),
            interceptor_arn: cx.dep(interceptor_function::ARN)?,
            versions: cx.settings().protocol_versions.clone(),
            debug: cx.settings().gateway_debug,
            policy_engine_arn: cx.dep(policy_engine::ARN)?,
        })
    }

    /// `ENFORCE`: the engine's decisions are applied, not only logged (`LOG_ONLY`).
    fn policy_engine(&self) -> Result<GatewayPolicyEngineConfiguration> {
        GatewayPolicyEngineConfiguration::builder()
            .arn(&self.policy_engine_arn)
            .mode(GatewayPolicyEngineMode::Enforce)
            .build()
            .map_err(|e| Error::other(format!("{NODE}: {e}")))
    }

    fn protocol(&self) -> GatewayProtocolConfiguration {
        GatewayProtocolConfiguration::Mcp(
            McpGatewayConfiguration::builder()
                .set_supported_versions(Some(self.versions.clone()))
                .build(),
        )
    }

    fn authorizer(&self) -> Result<AuthorizerConfiguration> {
        let jwt = CustomJwtAuthorizerConfiguration::builder()
            .discovery_url(&self.discovery_url)
            .set_allowed_clients(Some(self.client_ids.clone()))
            .allowed_scopes(&self.scope)
            .build()
            .map_err(|e| Error::other(format!("{NODE}: {e}")))?;
        Ok(AuthorizerConfiguration::CustomJwtAuthorizer(jwt))
    }

    fn interceptor(&self) -> Result<GatewayInterceptorConfiguration> {
        let lambda = LambdaInterceptorConfiguration::builder()
            .arn(&self.interceptor_arn)
            .build()
            .map_err(|e| Error::other(format!("{NODE}: {e}")))?;
        GatewayInterceptorConfiguration::builder()
            .interceptor(InterceptorConfiguration::Lambda(lambda))
            .interception_points(GatewayInterceptionPoint::Request)
            .input_configuration(
                InterceptorInputConfiguration::builder()
                    .pass_request_headers(PASS_REQUEST_HEADERS)
                    .build()
                    .map_err(|e| Error::other(format!("{NODE}: {e}")))?,
            )
            .build()
            .map_err(|e| Error::other(format!("{NODE}: {e}")))
    }
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

fn drift(g: &GetGatewayOutput, want: &Desired) -> Vec<Drift> {
    let mut d = Vec::new();
    if g.role_arn() != Some(want.role_arn.as_str()) {
        d.push(Drift::new(
            "role_arn",
            &want.role_arn,
            g.role_arn().unwrap_or("none"),
        ));
    }
    let versions = match g.protocol_configuration() {
        Some(GatewayProtocolConfiguration::Mcp(m)) => sorted(m.supported_versions()),
        _ => Vec::new(),
    };
    if versions != sorted(&want.versions) {
        // AgentCore developer guide ("MCP servers targets"): only accounts "enabled for MCP version updates" may
        // change them with UpdateGateway; "Otherwise, the supported versions are fixed when you create the
        // gateway." A replacement works in every account (docs/aws-behaviour.md, point 6).
        d.push(
            Drift::new(
                "protocol_versions",
                sorted(&want.versions).join(","),
                versions.join(","),
            )
            .replace(),
        );
    }
    match (g.authorizer_type(), g.authorizer_configuration()) {
        (AuthorizerType::CustomJwt, Some(AuthorizerConfiguration::CustomJwtAuthorizer(jwt))) => {
            if jwt.discovery_url() != want.discovery_url {
                d.push(Drift::new(
                    "authorizer.discovery_url",
                    &want.discovery_url,
                    jwt.discovery_url(),
                ));
            }
            if sorted(jwt.allowed_clients()) != want.client_ids {
                d.push(Drift::new(
                    "authorizer.allowed_clients",
                    want.client_ids.join(","),
                    jwt.allowed_clients().join(","),
                ));
            }
            if sorted(jwt.allowed_scopes()) != [want.scope.clone()] {
                d.push(Drift::new(
                    "authorizer.allowed_scopes",
                    &want.scope,
                    jwt.allowed_scopes().join(","),
                ));
            }
            if !jwt.allowed_audience().is_empty() {
                d.push(Drift::new(
                    "authorizer.allowed_audience",
                    "none",
                    jwt.allowed_audience().join(","),
                ));
            }
        }
        (t, _) => d.push(Drift::new(
            "authorizer",
            "CUSTOM_JWT with the stack's user pool",
            t.as_str(),
        )),
    }
    let engine = g
        .policy_engine_configuration()
        .map(|p| format!("{} {}", p.arn(), p.mode().as_str()));
    let want_engine = format!(
        "{} {}",
        want.policy_engine_arn,
        GatewayPolicyEngineMode::Enforce.as_str()
    );
    if engine.as_deref() != Some(want_engine.as_str()) {
        d.push(Drift::new(
            "policy_engine",
            want_engine,
            engine.unwrap_or_else(|| "none".into()),
        ));
    }
    if g.exception_level() != exception_level(want.debug).as_ref() {
        d.push(Drift::new(
            "exception_level",
            exception_level_word(exception_level(want.debug).as_ref()),
            exception_level_word(g.exception_level()),
        ));
    }
    let interceptors = g.interceptor_configurations();
    let ok = match interceptors {
        [one] => {
            let arn = match one.interceptor() {
                Some(InterceptorConfiguration::Lambda(l)) => Some(l.arn()),
                _ => None,
            };
            arn == Some(want.interceptor_arn.as_str())
                && one.interception_points() == [GatewayInterceptionPoint::Request]
                && one
                    .input_configuration()
                    .is_some_and(|i| i.pass_request_headers())
                    == PASS_REQUEST_HEADERS
        }
        _ => false,
    };
    if !ok {
        let have = interceptors
            .iter()
            .map(|i| {
                let arn = match i.interceptor() {
                    Some(InterceptorConfiguration::Lambda(l)) => l.arn().to_owned(),
                    _ => "?".into(),
                };
                let points: Vec<&str> =
                    i.interception_points().iter().map(|p| p.as_str()).collect();
                let headers = i
                    .input_configuration()
                    .is_some_and(|c| c.pass_request_headers());
                format!("{arn} at {} (pass headers {headers})", points.join("+"))
            })
            .collect::<Vec<_>>();
        d.push(Drift::new(
            "interceptor",
            format!(
                "{} at REQUEST (pass headers {PASS_REQUEST_HEADERS})",
                want.interceptor_arn
            ),
            if have.is_empty() {
                "none".into()
            } else {
                have.join("; ")
            },
        ));
    }
    d
}

fn reasons(g: &GetGatewayOutput) -> String {
    if g.status_reasons().is_empty() {
        "no reason given".into()
    } else {
        g.status_reasons().join("; ")
    }
}

/// The statuses `up` repairs (AgentCore developer guide: a gateway whose update failed keeps serving its last
/// configuration and may be updated again; a FAILED gateway never becomes READY — docs/aws-behaviour.md, point 3):
/// UPDATE_UNSUCCESSFUL by updating again, FAILED by replacing it.
fn status_drift(g: &GetGatewayOutput) -> Option<Drift> {
    let actual = format!("{}: {}", g.status().as_str(), reasons(g));
    match g.status() {
        GatewayStatus::Failed => Some(Drift::new("status", "READY", actual).replace()),
        GatewayStatus::UpdateUnsuccessful => Some(Drift::new("status", "READY", actual)),
        _ => None,
    }
}

fn health(g: &GetGatewayOutput) -> Health {
    match g.status() {
        GatewayStatus::Ready => Health::Ready,
        GatewayStatus::Failed => Health::Unhealthy(format!("status FAILED: {}", reasons(g))),
        GatewayStatus::UpdateUnsuccessful => {
            Health::Unhealthy(format!("status UPDATE_UNSUCCESSFUL: {}", reasons(g)))
        }
        s => Health::Pending(format!("status {}", s.as_str())),
    }
}

async fn get(cx: &Cx, id: &str) -> Result<Option<GetGatewayOutput>> {
    cx.aws()
        .agentcore
        .get_gateway()
        .gateway_identifier(id)
        .send()
        .await
        .or_gone(cx, "GetGateway", |e| e.is_resource_not_found_exception())
}

/// The IDs of the gateway named `name`, if one exists (any status).
async fn find_by_name(cx: &Cx, name: &str) -> Result<Option<String>> {
    let mut next: Option<String> = None;
    loop {
        let out = cx
            .aws()
            .agentcore
            .list_gateways()
            .max_results(100)
            .set_next_token(next.take())
            .send()
            .await
            .aws(cx, "ListGateways")?;
        if let Some(g) = out.items().iter().find(|g| g.name() == name) {
            return Ok(Some(g.gateway_id().to_owned()));
        }
        match out.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_owned()),
            _ => return Ok(None),
        }
    }
}

/// The ID of the stack's gateway found by name and tag, for nodes that must find it before the gateway node
/// has been observed (`down` without a state file walks the target first).
pub async fn find_stacks_gateway(cx: &Cx) -> Result<Option<String>> {
    let Some(id) = find_by_name(cx, &gateway_name(cx)).await? else {
        return Ok(None);
    };
    let Some(g) = get(cx, &id).await? else {
        return Ok(None);
    };
    let t = tags(cx, g.gateway_arn()).await?;
    Ok(
        (t.get(crate::resources::TAG_STACK).map(String::as_str) == Some(cx.stack()))
            .then(|| g.gateway_id().to_owned()),
    )
}

fn gateway_ids(g: &GetGatewayOutput) -> Ids {
    ids([
        ("gateway_id", g.gateway_id().to_owned()),
        ("arn", g.gateway_arn().to_owned()),
        ("url", g.gateway_url().unwrap_or_default().to_owned()),
    ])
}

pub struct GatewayResource {
    /// Its dependencies: the kinds it names, and each configured agent's app client (its authorizer lists them).
    deps: &'static [&'static str],
}

/// What the gateway needs whatever the agents.
const DEPS: &[&str] = &[
    ROLE_NODE,
    interceptor_function::NODE,
    user_pool::NODE,
    resource_server::NODE,
    policy_engine::NODE,
];

impl GatewayResource {
    /// The gateway of a stack with these agents.
    pub fn for_agents<'a>(agents: impl IntoIterator<Item = &'a str>) -> GatewayResource {
        let mut deps: Vec<&'static str> = DEPS.to_vec();
        deps.extend(
            agents
                .into_iter()
                .map(|a| app_client::AppClientResource::of(a).node),
        );
        GatewayResource {
            deps: Vec::leak(deps),
        }
    }
}

/// Polls the gateway until READY; FAILED and UPDATE_UNSUCCESSFUL end the wait with AWS's reasons.
async fn wait_status(cx: &Cx, id: &str, what: &str) -> Result<GetGatewayOutput> {
    wait::until(cx, what, cx.settings().wait_timeout, || async {
        Ok(match get(cx, id).await? {
            None => Poll::Pending("not visible yet".into()),
            Some(g) => match health(&g) {
                Health::Ready => Poll::Ready(g),
                Health::Pending(s) => Poll::Pending(s),
                Health::Unhealthy(s) => Poll::Failed(format!(
                    "{s}. The reasons above say what AgentCore refused (authorizer discovery URL, role, interceptor); \
                     fix that and re-run `neo4j-gw up`, which replaces a FAILED gateway and updates one whose update failed"
                )),
            },
        })
    })
    .await
}

impl GatewayResource {
    async fn send_create(
        &self,
        cx: &Cx,
        name: &str,
        want: &Desired,
    ) -> Result<aws_sdk_bedrockagentcorecontrol::operation::create_gateway::CreateGatewayOutput>
    {
        cx.aws()
            .agentcore
            .create_gateway()
            .name(name)
            .description(format!(
                "neo4j-gw stack {}: the Neo4j MCP server behind Cognito OAuth",
                cx.stack()
            ))
            .client_token(client_token(
                cx.stack(),
                &cx.shared.account,
                &cx.shared.region,
                NODE,
                &cx.create_token(),
            ))
            .role_arn(&want.role_arn)
            .protocol_type(GatewayProtocolType::Mcp)
            .protocol_configuration(want.protocol())
            .authorizer_type(AuthorizerType::CustomJwt)
            .authorizer_configuration(want.authorizer()?)
            .interceptor_configurations(want.interceptor()?)
            .set_exception_level(exception_level(want.debug))
            .policy_engine_configuration(want.policy_engine()?)
            .set_tags(Some(cx.tags(name).into_iter().collect()))
            .send()
            .await
            .aws(cx, "CreateGateway")
    }
}

/// CreateGateway's answer while its new role is not usable yet. AgentCore documents no code for this (open in
/// docs/aws-behaviour.md, point 4): a validation or access error that names the role and says it cannot be
/// assumed or trusted.
fn role_not_assumable_yet(e: &Error) -> bool {
    let Error::Aws(f) = e else { return false };
    let m = f.message.to_ascii_lowercase();
    matches!(
        f.code.as_deref(),
        Some("ValidationException" | "AccessDeniedException")
    ) && m.contains("role")
        && (m.contains("assum") || m.contains("trust"))
}

#[async_trait]
impl Resource for GatewayResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "agentcore:gateway"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        self.deps
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        let name = gateway_name(cx);
        let mut found = None;
        // With a recorded ID and ARN, the gateway and its tags are read at once: one round trip, not two.
        let mut early_tags = None;
        if let Some(id) = recorded.and_then(|r| r.get("gateway_id")) {
            match recorded
                .and_then(|r| r.get("arn"))
                .filter(|_| !cx.expect_gone)
            {
                Some(arn) => {
                    let (g, t) = tokio::join!(get(cx, id), tags(cx, arn));
                    found = g?;
                    early_tags = t.ok().map(|t| (arn.clone(), t));
                }
                None => found = get(cx, id).await?,
            }
        }
        if found.is_none()
            && let Some(id) = find_by_name(cx, &name).await?
        {
            found = get(cx, &id).await?;
        }
        let Some(g) = found else {
            return Ok(Observation::Missing);
        };
        if g.status() == &GatewayStatus::Deleting {
            return Ok(Observation::Missing);
        }
        let t = match early_tags {
            Some((arn, t)) if arn == g.gateway_arn() => t,
            _ => tags(cx, g.gateway_arn()).await?,
        };
        if !cx.is_ours(t.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            return Ok(Observation::Foreign(format!(
                "AgentCore gateway {} ({}) is not tagged as this stack's",
                g.name(),
                g.gateway_id()
            )));
        }
        let mut drift = match Desired::of(cx) {
            Ok(want) => drift(&g, &want),
            // What it should be cannot be known without its dependencies (e.g. `status` before they exist).
            Err(_) => Vec::new(),
        };
        drift.extend(status_drift(&g));
        let live = Live {
            health: health(&g),
            // `status` shows the exception level (`--gateway-debug`), in its text and its JSON.
            details: vec![(
                "exception_level".to_owned(),
                exception_level_word(g.exception_level()),
            )],
            ..Live::new(gateway_ids(&g))
        };
        Ok(Observation::Present(live.with_drift(drift)))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let name = gateway_name(cx);
        let want = Desired::of(cx)?;
        // A gateway of that name still being deleted (an earlier `down`) must be gone first: names are unique.
        wait::until(
            cx,
            "the previous gateway of that name to be deleted",
            cx.settings().wait_timeout,
            || async {
                let Some(id) = find_by_name(cx, &name).await? else {
                    return Ok(Poll::Ready(()));
                };
                Ok(match get(cx, &id).await? {
                    Some(g) if g.status() == &GatewayStatus::Deleting => {
                        Poll::Pending("DELETING".into())
                    }
                    _ => Poll::Ready(()),
                })
            },
        )
        .await?;
        // A role created moments ago may not be assumable by AgentCore yet (IAM is eventually consistent): the
        // create is repeated, bounded — it carries a client token, so a repeat cannot make a second gateway.
        let out =
            wait::until_propagated(cx, "the new role to be assumable by AgentCore", || async {
                match self.send_create(cx, &name, &want).await {
                    Ok(out) => Ok(Poll::Ready(out)),
                    Err(e) if role_not_assumable_yet(&e) => {
                        Ok(Poll::Pending("IAM has not propagated the role yet".into()))
                    }
                    Err(e) => Err(e),
                }
            })
            .await?;
        Ok(ids([
            ("gateway_id", out.gateway_id().to_owned()),
            ("arn", out.gateway_arn().to_owned()),
            ("url", out.gateway_url().unwrap_or_default().to_owned()),
        ]))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        let id = live.id("gateway_id")?.to_owned();
        let want = Desired::of(cx)?;
        // AgentCore refuses an update while one is in progress; a FAILED or UPDATE_UNSUCCESSFUL gateway may be
        // updated (that is the repair).
        wait::until(
            cx,
            "the gateway to settle before updating it",
            cx.settings().wait_timeout,
            || async {
                Ok(match get(cx, &id).await? {
                    None => Poll::Failed(
                        "it disappeared; re-run `neo4j-gw up` to create it again".into(),
                    ),
                    Some(g) => match health(&g) {
                        Health::Pending(s) => Poll::Pending(s),
                        _ => Poll::Ready(()),
                    },
                })
            },
        )
        .await?;
        // UpdateGateway replaces the configuration: send all of it, with the same name.
        cx.aws()
            .agentcore
            .update_gateway()
            .gateway_identifier(&id)
            .name(gateway_name(cx))
            .description(format!(
                "neo4j-gw stack {}: the Neo4j MCP server behind Cognito OAuth",
                cx.stack()
            ))
            .role_arn(&want.role_arn)
            .protocol_type(GatewayProtocolType::Mcp)
            .protocol_configuration(want.protocol())
            .authorizer_type(AuthorizerType::CustomJwt)
            .authorizer_configuration(want.authorizer()?)
            .interceptor_configurations(want.interceptor()?)
            .set_exception_level(exception_level(want.debug))
            .policy_engine_configuration(want.policy_engine()?)
            .send()
            .await
            .aws(cx, "UpdateGateway")?;
        Ok(live.ids.clone())
    }

    async fn wait_ready(&self, cx: &Cx, ids: &Ids) -> Result<()> {
        let id = ids.get("gateway_id").cloned().unwrap_or_default();
        wait_status(cx, &id, "the gateway to become READY")
            .await
            .map(|_| ())
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        let id = live.id("gateway_id")?.to_owned();
        // Replacing a gateway (the target node is deleted before it on `down`, not on a replacement).
        super::clear_gateway(cx, &id).await?;
        // DeleteGateway answers ConflictException while the gateway is in a transition (CREATING, UPDATING —
        // e.g. right after an interrupted `up`): wait for it to settle and delete then.
        delete_and_wait(
            cx,
            "the gateway",
            "DeleteGateway",
            "",
            || {
                cx.aws()
                    .agentcore
                    .delete_gateway()
                    .gateway_identifier(&id)
                    .send()
            },
            || async { Ok(get(cx, &id).await?.map(|g| g.status().as_str().to_owned())) },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_token_is_deterministic_per_lifetime_and_valid() {
        let a = client_token("neo4j-gw", "123456789012", "us-east-1", NODE, "t1");
        assert_eq!(
            a,
            client_token("neo4j-gw", "123456789012", "us-east-1", NODE, "t1")
        );
        assert_ne!(
            a,
            client_token("neo4j-gw", "123456789012", "eu-west-1", NODE, "t1")
        );
        // A gateway created again after a delete has a new lifetime token, hence a new client token.
        assert_ne!(
            a,
            client_token("neo4j-gw", "123456789012", "us-east-1", NODE, "t2")
        );
        assert!((33..=256).contains(&a.len()));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    fn gateway(status: GatewayStatus, reasons: &[&str]) -> GetGatewayOutput {
        let now = aws_smithy_types::DateTime::from_secs(0);
        GetGatewayOutput::builder()
            .gateway_arn("arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/g-1")
            .gateway_id("g-1")
            .created_at(now)
            .updated_at(now)
            .status(status)
            .set_status_reasons(Some(reasons.iter().map(|r| r.to_string()).collect()))
            .name("s-gw")
            .protocol_type(GatewayProtocolType::Mcp)
            .authorizer_type(AuthorizerType::CustomJwt)
            .build()
            .unwrap()
    }

    #[test]
    fn failed_gateways_report_aws_reasons() {
        assert_eq!(health(&gateway(GatewayStatus::Ready, &[])), Health::Ready);
        assert!(matches!(
            health(&gateway(GatewayStatus::Creating, &[])),
            Health::Pending(_)
        ));
        match health(&gateway(
            GatewayStatus::Failed,
            &["Invalid discovery URL", "role not assumable"],
        )) {
            Health::Unhealthy(m) => assert!(
                m.contains("FAILED") && m.contains("Invalid discovery URL; role not assumable"),
                "{m}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn drift_covers_authorizer_interceptor_versions_and_role() {
        let want = Desired {
            role_arn: "arn:role".into(),
            discovery_url: discovery_url("us-east-1", "pool"),
            client_ids: vec!["client".into()],
            scope: "rs/invoke".into(),
            interceptor_arn: "arn:fn".into(),
            versions: vec!["2025-06-18".into(), "2025-03-26".into()],
            debug: false,
            policy_engine_arn: "arn:engine".into(),
        };
        // A bare gateway differs in everything.
        let attrs: Vec<String> = drift(&gateway(GatewayStatus::Ready, &[]), &want)
            .into_iter()
            .map(|d| d.attribute)
            .collect();
        assert_eq!(
            attrs,
            [
                "role_arn",
                "protocol_versions",
                "authorizer",
                "policy_engine",
                "interceptor"
            ]
        );
        // The desired configuration, in another order of versions, does not drift.
        let mut g = gateway(GatewayStatus::Ready, &[]);
        g.role_arn = Some("arn:role".into());
        g.protocol_configuration = Some(GatewayProtocolConfiguration::Mcp(
            McpGatewayConfiguration::builder()
                .supported_versions("2025-03-26")
                .supported_versions("2025-06-18")
                .build(),
        ));
        g.authorizer_configuration = Some(want.authorizer().unwrap());
        g.interceptor_configurations = Some(vec![want.interceptor().unwrap()]);
        g.policy_engine_configuration = Some(want.policy_engine().unwrap());
        assert_eq!(drift(&g, &want), Vec::<Drift>::new());
        // Headers passed to the interceptor (which reads none) is drift.
        let mut headers = want.interceptor().unwrap();
        headers.input_configuration = Some(
            InterceptorInputConfiguration::builder()
                .pass_request_headers(!PASS_REQUEST_HEADERS)
                .build()
                .unwrap(),
        );
        g.interceptor_configurations = Some(vec![headers]);
        let attrs: Vec<String> = drift(&g, &want).into_iter().map(|d| d.attribute).collect();
        assert_eq!(attrs, ["interceptor"]);
        // The exception level (issue 17): DEBUG when asked, absent otherwise.
        g.interceptor_configurations = Some(vec![want.interceptor().unwrap()]);
        g.exception_level = Some(ExceptionLevel::Debug);
        let d = drift(&g, &want);
        assert_eq!(
            (
                d[0].attribute.as_str(),
                d[0].expected.as_str(),
                d[0].actual.as_str()
            ),
            ("exception_level", "off", "DEBUG")
        );
        let debug = Desired {
            debug: true,
            ..want
        };
        assert_eq!(drift(&g, &debug), Vec::<Drift>::new());
    }

    #[test]
    fn the_policy_engine_must_be_ours_and_enforced() {
        let want = Desired {
            role_arn: "arn:role".into(),
            discovery_url: discovery_url("us-east-1", "pool"),
            client_ids: vec!["client".into()],
            scope: "rs/invoke".into(),
            interceptor_arn: "arn:fn".into(),
            versions: vec!["2025-06-18".into()],
            debug: false,
            policy_engine_arn: "arn:engine-1".into(),
        };
        let mut g = gateway(GatewayStatus::Ready, &[]);
        g.role_arn = Some("arn:role".into());
        g.protocol_configuration = Some(want.protocol());
        g.authorizer_configuration = Some(want.authorizer().unwrap());
        g.interceptor_configurations = Some(vec![want.interceptor().unwrap()]);
        let engine = |arn: &str, mode: GatewayPolicyEngineMode| {
            GatewayPolicyEngineConfiguration::builder()
                .arn(arn)
                .mode(mode)
                .build()
                .unwrap()
        };
        let only = |g: &GetGatewayOutput| {
            let d = drift(g, &want);
            assert_eq!(d.len(), 1, "{d:?}");
            assert_eq!(d[0].attribute, "policy_engine");
            assert!(!d[0].replace, "UpdateGateway repairs it in place");
            (d[0].expected.clone(), d[0].actual.clone())
        };
        // Missing: no engine decides anything.
        assert_eq!(
            only(&g),
            ("arn:engine-1 ENFORCE".to_owned(), "none".to_owned())
        );
        // Another engine.
        g.policy_engine_configuration =
            Some(engine("arn:engine-2", GatewayPolicyEngineMode::Enforce));
        assert_eq!(only(&g).1, "arn:engine-2 ENFORCE");
        // Ours, but only logging its decisions.
        g.policy_engine_configuration =
            Some(engine("arn:engine-1", GatewayPolicyEngineMode::LogOnly));
        assert_eq!(only(&g).1, "arn:engine-1 LOG_ONLY");
        g.policy_engine_configuration =
            Some(engine("arn:engine-1", GatewayPolicyEngineMode::Enforce));
        assert_eq!(drift(&g, &want), Vec::<Drift>::new());
    }

    #[test]
    fn only_a_role_that_cannot_be_assumed_yet_is_retried() {
        let e = |code: &str, message: &str| {
            Error::Aws(crate::error::AwsFailure {
                resource: NODE.into(),
                action: "CreateGateway".into(),
                code: Some(code.into()),
                message: message.into(),
            })
        };
        assert!(role_not_assumable_yet(&e(
            "ValidationException",
            "The role cannot be assumed by bedrock-agentcore.amazonaws.com"
        )));
        assert!(role_not_assumable_yet(&e(
            "AccessDeniedException",
            "Unable to assume role: check its trust policy"
        )));
        assert!(!role_not_assumable_yet(&e(
            "ValidationException",
            "discoveryUrl must end in /.well-known/openid-configuration"
        )));
        assert!(!role_not_assumable_yet(&e(
            "ConflictException",
            "role assumed"
        )));
    }

    #[test]
    fn names_and_urls() {
        crate::config::validate_agentcore_name("abcdefghijklmnopqrstuvwx-gw", 48).unwrap();
        assert_eq!(
            discovery_url("us-east-1", "us-east-1_abc"),
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc/.well-known/openid-configuration"
        );
        assert_eq!(crate::resources::partition("us-gov-west-1"), "aws-us-gov");
    }
}
