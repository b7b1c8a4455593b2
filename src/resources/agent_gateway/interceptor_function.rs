//! The gateway's REQUEST interceptor: the Lambda function `<stack>-interceptor` (python3.13, arm64, not in a
//! VPC) whose source, `lambda/interceptor/interceptor.py`, is embedded in this binary at build time. Also its
//! log group `/aws/lambda/<stack>-interceptor` (with the retention setting) and its role, which may write that
//! log group and read the one Neo4j secret — nothing more.
//!
//! The deployment package is a zip built in memory with fixed timestamps and permissions, so the same source
//! always gives the same bytes and the same `CodeSha256` (base64 of the SHA-256 of the zip, as Lambda reports
//! it): `status` detects code changed out of band by comparing the two, and `up` puts the code back.
//!
//! No `AddPermission` (resource-based policy) is made: the AgentCore Gateway invokes the interceptor with its
//! own execution role (`gateway-role`), whose identity policy allows `lambda:InvokeFunction` on this one
//! function. Within one account an identity-based allow is sufficient; a resource policy is only needed when a
//! service principal invokes a function without a role of the account (S3 notifications, API Gateway, …), and
//! granting `bedrock-agentcore.amazonaws.com` one would let any gateway in the account call the function.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, FunctionConfiguration, LastUpdateStatus, Runtime,
    State, VpcConfig,
};
use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{self, Error, Result};
use crate::resources::iam_role::{RoleResource, service_trust};
use crate::resources::log_group::LogGroupResource;
use crate::resources::{AwsResult, Cx, Drift, Health, Live, Observation, Resource, ids};
use crate::resources::{Output, secret};
use crate::state::Ids;
use crate::wait::{self, Poll};

pub const NODE: &str = "interceptor-function";
pub const LOG_GROUP_NODE: &str = "interceptor-log-group";
pub const ROLE_NODE: &str = "interceptor-role";
pub const ARN: Output = Output::new(NODE, "arn");
pub const LOG_GROUP_ARN: Output = Output::new(LOG_GROUP_NODE, "arn");
pub const ROLE_ARN: Output = Output::new(ROLE_NODE, "arn");

/// What a new version of the secret does to the function (for `plan`): its configuration carries the version
/// ([`secret::carry_version`](crate::resources::secret::carry_version)), so the new value takes effect in the same `up`.
pub const NEW_SECRET_VERSION: &str = "the secret changes: the configuration carries its new version, so Lambda replaces the warm instances \
     and their cached credentials";
pub const HANDLER: &str = "interceptor.handler";
pub const MEMORY_MB: i32 = 128;
pub const TIMEOUT_S: i32 = 30;
const RUNTIME: Runtime = Runtime::Python313;
const ARCHITECTURE: Architecture = Architecture::Arm64;

/// The function's source, embedded at build time.
const SOURCE: &[u8] = include_bytes!("../../../lambda/interceptor/interceptor.py");
/// Its name inside the package (the handler's module).
const SOURCE_NAME: &str = "interceptor.py";

pub fn function_name(cx: &Cx) -> String {
    cx.name("interceptor")
}

/// The name of the interceptor's most recently written log stream, if any: where to look after a failed request.
pub async fn newest_log_stream(cx: &Cx) -> Option<String> {
    let group = format!("/aws/lambda/{}", function_name(cx));
    let out = cx
        .aws()
        .logs
        .describe_log_streams()
        .log_group_name(&group)
        .order_by(aws_sdk_cloudwatchlogs::types::OrderBy::LastEventTime)
        .descending(true)
        .limit(1)
        .send()
        .await
        .ok()?;
    let name = out.log_streams().first()?.log_stream_name()?;
    Some(format!("{group} {name}"))
}

/// `/aws/lambda/<function>`: the log group Lambda writes to by default.
pub const LOG_GROUP: LogGroupResource = LogGroupResource {
    node: LOG_GROUP_NODE,
    deps: &[],
    name: |cx| format!("/aws/lambda/{}", function_name(cx)),
};

/// The function's execution role.
pub const ROLE: RoleResource = RoleResource {
    node: ROLE_NODE,
    suffix: "interceptor",
    description: "neo4j-gw: the gateway interceptor Lambda; writes its own log group, reads the Neo4j secret without the origin lock",
    deps: &[LOG_GROUP_NODE, secret::NODE],
    trust: |_| Ok(service_trust("lambda.amazonaws.com", None)),
    policy: |cx| {
        let log_group = cx.dep(LOG_GROUP_ARN)?;
        let mut statements = vec![json!({
            "Sid": "OwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [format!("{log_group}:*")],
        })];
        // With the origin lock the task adds the credentials: the function reads no secret.
        if !credentials_in_task(cx) {
            statements.push(json!({
                "Sid": "Neo4jSecret",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                "Resource": [cx.dep(secret::ARN)?],
            }));
        }
        Ok(Some(
            json!({"Version": "2012-10-17", "Statement": statements}),
        ))
    },
};

/// The deployment package: a zip of the embedded source with a fixed timestamp (1980-01-01, the zip epoch)
/// and fixed permissions (0644), stored uncompressed so that it does not depend on a compressor's version.
pub fn package() -> Result<Vec<u8>> {
    let build = || -> zip::result::ZipResult<Vec<u8>> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(0o644);
        zip.start_file(SOURCE_NAME, options)?;
        zip.write_all(SOURCE)?;
        Ok(zip.finish()?.into_inner())
    };
    build().map_err(|e| Error::other(format!("{NODE}: cannot build the deployment package: {e}")))
}

/// `CodeSha256` as Lambda computes it: base64 of the SHA-256 of the zip.
pub fn code_sha256(zip: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(zip))
}

pub struct InterceptorFunctionResource;

/// The environment the function needs.
/// With the origin lock the ECS task's proxy adds the Neo4j credentials (`task_definition`), and the function sets
/// no header (its `NEO4J_CREDENTIALS=task`); without it the function adds them.
pub fn credentials_in_task(cx: &Cx) -> bool {
    cx.settings().origin_lock
}

fn environment(cx: &Cx) -> Result<BTreeMap<String, String>> {
    let s = cx.settings();
    if credentials_in_task(cx) {
        return Ok(BTreeMap::from([(
            "NEO4J_CREDENTIALS".to_owned(),
            "task".to_owned(),
        )]));
    }
    let env = BTreeMap::from([
        ("SECRET_ARN".to_owned(), cx.dep(secret::ARN)?),
        ("AUTH_HEADER".to_owned(), s.auth_header.clone()),
        (
            "SECRET_TTL_SECONDS".to_owned(),
            s.secret_cache_ttl.to_string(),
        ),
    ]);
    Ok(env)
}

/// [`environment`] with the secret's version (`secret::carry_version`): a new value of the secret is a configuration
/// update, after which Lambda serves from new execution environments, without the old cached credentials.
fn environment_with_version(
    cx: &Cx,
    version: Option<String>,
    live: Option<&BTreeMap<String, String>>,
) -> Result<BTreeMap<String, String>> {
    let mut env = environment(cx)?;
    crate::resources::secret::carry_version(version, &mut env, live);
    Ok(env)
}

fn lambda_env(vars: &BTreeMap<String, String>) -> Environment {
    Environment::builder()
        .set_variables(Some(
            vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        ))
        .build()
}

/// What the function's code and configuration should be but are not. `code` drift is repaired with
/// UpdateFunctionCode, the rest with UpdateFunctionConfiguration.
/// `version`: the secret's version as Secrets Manager reports it now (`secret::live_version`).
fn drift(
    cx: &Cx,
    c: &FunctionConfiguration,
    want_sha: &str,
    version: Option<String>,
) -> Vec<Drift> {
    let mut d = Vec::new();
    let have_sha = c.code_sha256().unwrap_or_default();
    if have_sha != want_sha {
        d.push(Drift::new("code_sha256", want_sha, have_sha));
    }
    if c.architectures() != [ARCHITECTURE] {
        let have: Vec<&str> = c.architectures().iter().map(|a| a.as_str()).collect();
        d.push(Drift::new(
            "architectures",
            ARCHITECTURE.as_str(),
            have.join(","),
        ));
    }
    if c.runtime() != Some(&RUNTIME) {
        d.push(Drift::new(
            "runtime",
            RUNTIME.as_str(),
            c.runtime().map(|r| r.as_str()).unwrap_or("none"),
        ));
    }
    if c.handler() != Some(HANDLER) {
        d.push(Drift::new(
            "handler",
            HANDLER,
            c.handler().unwrap_or("none"),
        ));
    }
    if c.memory_size() != Some(MEMORY_MB) {
        d.push(Drift::new(
            "memory_size",
            MEMORY_MB,
            c.memory_size().map(|m| m.to_string()).unwrap_or_default(),
        ));
    }
    if c.timeout() != Some(TIMEOUT_S) {
        d.push(Drift::new(
            "timeout",
            TIMEOUT_S,
            c.timeout().map(|t| t.to_string()).unwrap_or_default(),
        ));
    }
    if let Some(role) = cx.dep_opt(ROLE_ARN)
        && c.role() != Some(role.as_str())
    {
        d.push(Drift::new("role", role, c.role().unwrap_or("none")));
    }
    let have: BTreeMap<String, String> = c
        .environment()
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    if let Ok(want) = environment_with_version(cx, version, Some(&have))
        && have != want
    {
        // Names only: values are not secret here, but keep drift lines short.
        let keys = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<Vec<_>>().join(",");
        let changed: Vec<String> = want
            .keys()
            .chain(have.keys())
            .filter(|k| want.get(*k) != have.get(*k))
            .cloned()
            .collect();
        d.push(Drift::new(
            "environment",
            keys(&want),
            format!("differs in {}", changed.join(",")),
        ));
    }
    if c.vpc_config()
        .is_some_and(|v| !v.subnet_ids().is_empty() || v.vpc_id().is_some_and(|id| !id.is_empty()))
    {
        d.push(Drift::new(
            "vpc_config",
            "none",
            c.vpc_config().and_then(|v| v.vpc_id()).unwrap_or("a VPC"),
        ));
    }
    d
}

/// The states `up` repairs (Lambda developer guide, "Lambda function states"; how to leave them is not documented —
/// docs/aws-behaviour.md, point 3): a failed last update by sending code and configuration again; a function in
/// state Failed by replacing it (delete, then create), the one way that works whatever the cause.
fn status_drift(c: &FunctionConfiguration) -> Option<Drift> {
    match (c.state(), c.last_update_status()) {
        (Some(State::Failed), _) => Some(
            Drift::new(
                "state",
                "Active",
                format!("Failed: {}", c.state_reason().unwrap_or("no reason given")),
            )
            .replace(),
        ),
        (_, Some(LastUpdateStatus::Failed)) => Some(Drift::new(
            "last_update",
            "Successful",
            format!(
                "Failed: {}",
                c.last_update_status_reason().unwrap_or("no reason given")
            ),
        )),
        _ => None,
    }
}

fn health(c: &FunctionConfiguration) -> Health {
    match (c.state(), c.last_update_status()) {
        (Some(State::Failed), _) => Health::Unhealthy(format!(
            "state Failed: {}",
            c.state_reason().unwrap_or("no reason given")
        )),
        (Some(State::Pending), _) => Health::Pending("state Pending".into()),
        (_, Some(LastUpdateStatus::InProgress)) => {
            Health::Pending("an update is in progress".into())
        }
        (_, Some(LastUpdateStatus::Failed)) => Health::Unhealthy(format!(
            "the last update failed: {}",
            c.last_update_status_reason().unwrap_or("no reason given")
        )),
        (Some(State::Inactive), _) => {
            Health::Pending("state Inactive (it becomes Active when invoked)".into())
        }
        _ => Health::Ready,
    }
}

async fn get(
    cx: &Cx,
    name: &str,
) -> Result<Option<aws_sdk_lambda::operation::get_function::GetFunctionOutput>> {
    cx.aws()
        .lambda
        .get_function()
        .function_name(name)
        .send()
        .await
        .or_gone(cx, "GetFunction", |e| e.is_resource_not_found_exception())
}

fn function_ids(c: &FunctionConfiguration) -> Ids {
    ids([
        ("arn", c.function_arn().unwrap_or_default().to_owned()),
        ("name", c.function_name().unwrap_or_default().to_owned()),
        (
            "code_sha256",
            c.code_sha256().unwrap_or_default().to_owned(),
        ),
    ])
}

/// Waits until the function is Active and no update is in progress (Lambda refuses a second update meanwhile).
async fn wait_settled(cx: &Cx, name: &str, what: &str) -> Result<FunctionConfiguration> {
    wait_for(cx, name, what, false).await
}

/// Waits until no change is in progress; with `failed_ok`, a function whose last update failed counts as
/// settled (an update is how it is repaired).
async fn wait_for(
    cx: &Cx,
    name: &str,
    what: &str,
    failed_ok: bool,
) -> Result<FunctionConfiguration> {
    wait::until(cx, what, cx.settings().wait_timeout, || async {
        let Some(out) = get(cx, name).await? else {
            return Ok(Poll::Pending("not visible yet".into()));
        };
        let Some(c) = out.configuration else {
            return Ok(Poll::Pending("no configuration yet".into()));
        };
        Ok(match health(&c) {
            Health::Ready => Poll::Ready(c),
            Health::Pending(s) => Poll::Pending(s),
            Health::Unhealthy(_) if failed_ok => Poll::Ready(c),
            Health::Unhealthy(s) => Poll::Failed(format!(
                "{s}. `neo4j-gw up` sends the code and configuration again after a failed update, and replaces \
                 a function in state Failed"
            )),
        })
    })
    .await
}

fn is_role_not_assumable_yet(code: Option<&str>, message: Option<&str>) -> bool {
    code == Some("InvalidParameterValueException")
        && message.is_some_and(|m| m.contains("cannot be assumed"))
}

#[async_trait]
impl Resource for InterceptorFunctionResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "lambda:function"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &[ROLE_NODE, LOG_GROUP_NODE, secret::NODE]
    }

    async fn observe(&self, cx: &Cx, _recorded: Option<&Ids>) -> Result<Observation> {
        let name = function_name(cx);
        let Some(out) = get(cx, &name).await? else {
            return Ok(Observation::Missing);
        };
        let tags: HashMap<String, String> = out.tags.clone().unwrap_or_default();
        if !cx.is_ours(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            return Ok(Observation::Foreign(format!(
                "Lambda function {name} is not tagged as this stack's"
            )));
        }
        let Some(c) = out.configuration else {
            return Ok(Observation::Missing);
        };
        let want_sha = code_sha256(&package()?);
        let live = Live {
            health: health(&c),
            ..Live::new(function_ids(&c))
        };
        let version = crate::resources::secret::live_version(cx).await;
        let mut drift = drift(cx, &c, &want_sha, version);
        drift.extend(status_drift(&c));
        Ok(Observation::Present(live.with_drift(drift)))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let name = function_name(cx);
        let role = cx.dep(ROLE_ARN)?;
        let env = environment_with_version(cx, crate::resources::secret::known_version(cx), None)?;
        let zip = package()?;
        let tags: HashMap<String, String> = cx.tags(&name).into_iter().collect();
        let lambda = cx.aws().lambda.clone();
        // A role created moments ago may not be assumable by Lambda yet (IAM is eventually consistent): Lambda
        // answers InvalidParameterValueException "…cannot be assumed by Lambda". That is retried, bounded.
        let created = wait::until_propagated(cx, "the new role to be assumable by Lambda", || {
            let request = lambda
                .create_function()
                .function_name(&name)
                .runtime(RUNTIME)
                .architectures(ARCHITECTURE)
                .handler(HANDLER)
                .role(&role)
                .memory_size(MEMORY_MB)
                .timeout(TIMEOUT_S)
                .description("neo4j-gw: AgentCore Gateway REQUEST interceptor (Neo4j Basic auth from Secrets Manager)")
                .environment(lambda_env(&env))
                .code(FunctionCode::builder().zip_file(Blob::new(zip.clone())).build())
                .set_tags(Some(tags.clone()));
            async move {
                match request.send().await {
                    Ok(out) => Ok(Poll::Ready(Some(out))),
                    Err(e) => {
                        use aws_sdk_lambda::error::ProvideErrorMetadata;
                        if is_role_not_assumable_yet(e.code(), e.message()) {
                            Ok(Poll::Pending("IAM has not propagated the role yet".into()))
                        } else if e.code() == Some("ResourceConflictException") {
                            // An earlier attempt whose answer was lost created it: adopt it below.
                            Ok(Poll::Ready(None))
                        } else {
                            Err(error::aws(NODE, "CreateFunction", e))
                        }
                    }
                }
            }
        })
        .await?;
        let config = match created {
            Some(out) => FunctionConfiguration::builder()
                .set_function_arn(out.function_arn)
                .set_function_name(out.function_name)
                .set_code_sha256(out.code_sha256)
                .build(),
            None => get(cx, &name)
                .await?
                .and_then(|o| o.configuration)
                .ok_or_else(|| {
                    Error::other(format!(
                        "{NODE}: CreateFunction reported a conflict but {name} is not there"
                    ))
                })?,
        };
        Ok(function_ids(&config))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        let name = live.id("name")?.to_owned();
        let lambda = &cx.aws().lambda;
        // After a failed update, everything is sent again.
        let again = live.drift.iter().any(|d| d.attribute == "last_update");
        let code = again
            || live
                .drift
                .iter()
                .any(|d| d.attribute == "code_sha256" || d.attribute == "architectures");
        let config = live
            .drift
            .iter()
            .any(|d| d.attribute != "code_sha256" && d.attribute != "architectures");
        wait_for(cx, &name, "the function to be ready for an update", true).await?;
        if code {
            lambda
                .update_function_code()
                .function_name(&name)
                .zip_file(Blob::new(package()?))
                .architectures(ARCHITECTURE)
                .send()
                .await
                .aws(cx, "UpdateFunctionCode")?;
            wait_settled(cx, &name, "the code update to finish").await?;
        }
        if config {
            lambda
                .update_function_configuration()
                .function_name(&name)
                .runtime(RUNTIME)
                .handler(HANDLER)
                .role(cx.dep(ROLE_ARN)?)
                .memory_size(MEMORY_MB)
                .timeout(TIMEOUT_S)
                .environment(lambda_env(&environment_with_version(
                    cx,
                    crate::resources::secret::known_version(cx),
                    None,
                )?))
                .vpc_config(
                    VpcConfig::builder()
                        .set_subnet_ids(Some(vec![]))
                        .set_security_group_ids(Some(vec![]))
                        .build(),
                )
                .send()
                .await
                .aws(cx, "UpdateFunctionConfiguration")?;
        }
        let c = wait_settled(cx, &name, "the configuration update to finish").await?;
        Ok(function_ids(&c))
    }

    async fn wait_ready(&self, cx: &Cx, ids: &Ids) -> Result<()> {
        let name = ids
            .get("name")
            .cloned()
            .unwrap_or_else(|| function_name(cx));
        wait_settled(cx, &name, "the function to become Active")
            .await
            .map(|_| ())
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        cx.aws()
            .lambda
            .delete_function()
            .function_name(live.id("name")?)
            .send()
            .await
            .or_gone(cx, "DeleteFunction", |e| {
                e.is_resource_not_found_exception()
            })
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn package_is_reproducible() {
        let a = package().unwrap();
        let b = package().unwrap();
        assert_eq!(a, b, "two builds of the package differ");
        assert_eq!(code_sha256(&a), code_sha256(&b));
        // base64 of a 32-byte digest.
        assert_eq!(code_sha256(&a).len(), 44);
    }

    #[test]
    fn package_holds_the_handler_module_with_fixed_metadata() {
        let zip = package().unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        assert_eq!(archive.len(), 1);
        let mut file = archive.by_name(SOURCE_NAME).unwrap();
        assert_eq!(file.unix_mode().map(|m| m & 0o777), Some(0o644));
        let t = file.last_modified().unwrap();
        assert_eq!(
            (
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            (1980, 1, 1, 0, 0, 0)
        );
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        assert!(
            text.contains("def handler("),
            "the handler `interceptor.handler` must exist"
        );
    }

    #[test]
    fn sha_matches_lambdas_definition() {
        // Lambda's CodeSha256 of the bytes "abc" (base64 of the SHA-256 digest, not hex).
        assert_eq!(
            code_sha256(b"abc"),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
    }

    #[test]
    fn only_the_role_propagation_error_is_retried() {
        assert!(is_role_not_assumable_yet(
            Some("InvalidParameterValueException"),
            Some("The role defined for the function cannot be assumed by Lambda.")
        ));
        assert!(!is_role_not_assumable_yet(
            Some("InvalidParameterValueException"),
            Some("Unsupported runtime")
        ));
        assert!(!is_role_not_assumable_yet(
            Some("AccessDeniedException"),
            Some("cannot be assumed")
        ));
    }
}
