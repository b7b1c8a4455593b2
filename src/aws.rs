//! The AWS side of a run: one SDK config, one client per service, all sharing the call ledger.
//!
//! Credentials and region are resolved without touching the network beyond the configured endpoint: the
//! region comes from settings, the environment or the profile file — never from the instance metadata service.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

use crate::config::Settings;
use crate::error::{self, Error, Result};
use crate::ledger::Ledger;

/// Every client this tool uses.
#[derive(Clone, Debug)]
pub struct Aws {
    pub region: String,
    pub emulated: bool,
    pub ec2: aws_sdk_ec2::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub route53: aws_sdk_route53::Client,
    pub acm: aws_sdk_acm::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
    pub agentcore: aws_sdk_bedrockagentcorecontrol::Client,
    /// Read only, by `doctor`.
    pub quotas: aws_sdk_servicequotas::Client,
}

/// The region of the stack: settings, then `AWS_REGION`/`AWS_DEFAULT_REGION`, then the profile file.
pub async fn resolve_region(settings: &Settings, recorded: Option<&str>) -> Result<String> {
    if let Some(r) = &settings.region {
        return Ok(r.clone());
    }
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Ok(r) = std::env::var(var)
            && !r.is_empty()
        {
            return Ok(r);
        }
    }
    let mut provider = aws_config::profile::ProfileFileRegionProvider::builder();
    if let Some(p) = &settings.profile {
        provider = provider.profile_name(p);
    }
    if let Some(r) = aws_config::meta::region::ProvideRegion::region(&provider.build()).await {
        return Ok(r.to_string());
    }
    if let Some(r) = recorded {
        return Ok(r.to_owned());
    }
    Err(Error::usage(
        "--region",
        "is not set (also not in AWS_REGION, AWS_DEFAULT_REGION or the AWS profile)",
    ))
}

impl Aws {
    pub async fn new(settings: &Settings, region: &str, ledger: &Ledger) -> Aws {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            // Standard mode, not adaptive: adaptive adds a client-side rate limiter meant for clients of a
            // single resource; after one throttling error it held this multi-resource client to ~0.5
            // requests/s for the rest of the run (found by the fault-injection tests, tests/it/fault_tolerance.rs).
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(8)
                    .with_initial_backoff(Duration::from_millis(200)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(p) = &settings.profile {
            loader = loader.profile_name(p);
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        let emulated = sdk.endpoint_url().is_some();
        macro_rules! client {
            ($krate:ident) => {
                $krate::Client::from_conf(
                    $krate::config::Builder::from(&sdk)
                        .interceptor(ledger.clone())
                        .build(),
                )
            };
        }
        Aws {
            region: region.to_owned(),
            emulated,
            ec2: client!(aws_sdk_ec2),
            elb: client!(aws_sdk_elasticloadbalancingv2),
            ecs: client!(aws_sdk_ecs),
            route53: client!(aws_sdk_route53),
            acm: client!(aws_sdk_acm),
            secrets: client!(aws_sdk_secretsmanager),
            logs: client!(aws_sdk_cloudwatchlogs),
            iam: client!(aws_sdk_iam),
            sts: client!(aws_sdk_sts),
            lambda: client!(aws_sdk_lambda),
            cognito: client!(aws_sdk_cognitoidentityprovider),
            agentcore: client!(aws_sdk_bedrockagentcorecontrol),
            quotas: client!(aws_sdk_servicequotas),
        }
    }

    /// The account the credentials belong to.
    pub async fn account(&self) -> Result<String> {
        Ok(self.identity().await?.0)
    }

    /// The account and the ARN of the caller. No credentials at all (or credentials that cannot be loaded) are a
    /// setup problem, reported as such (exit 2) with the sources tried and what to run.
    pub async fn identity(&self) -> Result<(String, String)> {
        let out =
            self.sts.get_caller_identity().send().await.map_err(|e| {
                match credentials_problem(&e) {
                    Some(message) => Error::usage("credentials", message),
                    None => error::aws("credentials", "GetCallerIdentity", e),
                }
            })?;
        let account = out
            .account
            .ok_or_else(|| Error::other("STS GetCallerIdentity returned no account"))?;
        Ok((account, out.arn.unwrap_or_default()))
    }
}

/// What the default credentials chain of the AWS SDK tries, in its order (`aws-config`'s
/// `DefaultCredentialsChain::build`: Environment, Profile, WebIdentityToken, EcsContainer, Ec2InstanceMetadata).
pub const CREDENTIAL_SOURCES: &str = "the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), the profile in \
     the shared config and credentials files (static keys, SSO, assume-role, credential_process), a web identity token \
     (AWS_WEB_IDENTITY_TOKEN_FILE), the ECS container endpoint and the EC2 instance metadata service (IMDS)";

/// When an SDK error comes from loading credentials (not from AWS), the message for the operator: which sources
/// were tried and what to run. `None` for every other error.
pub fn credentials_problem(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    use aws_credential_types::provider::error::CredentialsError;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            let todo = "run `aws configure` (access keys) or `aws sso login --profile NAME` and pass --profile NAME \
                        (or set AWS_PROFILE), or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
            return Some(match c {
                CredentialsError::CredentialsNotLoaded(_) => format!(
                    "no AWS credentials were found. Tried {CREDENTIAL_SOURCES}. To fix: {todo}"
                ),
                other => format!(
                    "the AWS credentials could not be loaded: {}. Tried {CREDENTIAL_SOURCES}. To fix: {todo}",
                    error::describe_chain(other)
                ),
            });
        }
        source = e.source();
    }
    None
}

/// A per-call config override that turns the SDK's own retries off, for the creates AWS does not make
/// idempotent (no client token, no unique name: `CreateVpc`, `CreateSubnet`, `CreateUserPool`, …). If the
/// answer to such a call is lost after AWS carried it out (a timeout, a dropped connection, a 5xx), a blind
/// retry makes a second copy. Without SDK retries the error reaches the engine, which observes again — finding
/// the first copy by its tags or name and adopting it — before it ever repeats the create (`engine/change.rs`,
/// `Engine::again_after_uncertain`). Usage: `.customize().config_override(crate::aws::no_retry!(aws_sdk_ec2))`.
macro_rules! no_retry {
    ($krate:ident) => {
        $krate::config::Builder::default().retry_config(aws_config::retry::RetryConfig::disabled())
    };
}
pub(crate) use no_retry;
