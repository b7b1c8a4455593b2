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
            // requests/s for the rest of the run (found by the fault-injection tests, tests/faults.rs).
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
        }
    }

    /// The account the credentials belong to.
    pub async fn account(&self) -> Result<String> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| error::aws("credentials", "GetCallerIdentity", e))?;
        out.account
            .ok_or_else(|| Error::other("STS GetCallerIdentity returned no account"))
    }
}

/// A per-call config override that turns the SDK's own retries off, for the creates AWS does not make
/// idempotent (no client token, no unique name: `CreateVpc`, `CreateSubnet`, `CreateUserPool`, …). If the
/// answer to such a call is lost after AWS carried it out (a timeout, a dropped connection, a 5xx), a blind
/// retry makes a second copy. Without SDK retries the error reaches the engine, which observes again — finding
/// the first copy by its tags or name and adopting it — before it ever repeats the create (`engine.rs`,
/// `Engine::again_after_uncertain`). Usage: `.customize().config_override(crate::aws::no_retry!(aws_sdk_ec2))`.
macro_rules! no_retry {
    ($krate:ident) => {
        $krate::config::Builder::default().retry_config(aws_config::retry::RetryConfig::disabled())
    };
}
pub(crate) use no_retry;
