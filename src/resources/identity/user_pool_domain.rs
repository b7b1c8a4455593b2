//! The user pool's Cognito hosted domain `<prefix>.auth.<region>.amazoncognito.com`, which serves the OAuth
//! token endpoint. The prefix is `--cognito-domain-prefix`, by default `<stack>-<account>-<region>` (the CDK
//! sample's fixed `neo4j-mcp-<account>-<region>` allowed one deployment per account and region). Prefixes are
//! unique per region across all AWS accounts, so one can be taken by someone else: that is reported as such,
//! naming the setting that chooses another. A new domain takes up to a minute to become `ACTIVE`.

use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::types::{DomainDescriptionType, DomainStatusType};

use crate::config;
use crate::error::{self, Error, Result};
use crate::resources::Output;
use crate::resources::{AwsResult, Cx, Drift, Health, Live, Observation, Resource, ids, user_pool};
use crate::state::Ids;
use crate::wait::{self, Poll};

pub const DOMAIN: Output = Output::new(NODE, "domain");

pub const NODE: &str = "user-pool-domain";

pub struct UserPoolDomainResource;

/// `<stack>-<account>-<region>`, if that is a valid prefix.
pub fn default_prefix(
    stack: &str,
    account: &str,
    region: &str,
) -> std::result::Result<String, String> {
    let p = format!("{stack}-{account}-{region}");
    config::validate_domain_prefix(&p).map(|_| p)
}

/// The prefix this stack's domain should have.
pub fn prefix(cx: &Cx) -> Result<String> {
    if let Some(p) = &cx.settings().cognito_domain_prefix {
        return Ok(p.clone());
    }
    default_prefix(cx.stack(), &cx.shared.account, &cx.shared.region).map_err(|why| {
        Error::usage(
            "--cognito-domain-prefix",
            format!("the default prefix derived from the stack, account and region is not usable ({why}); choose a prefix"),
        )
    })
}

/// The domain's description; `None` when no pool has it (Cognito answers with an empty description).
async fn describe(cx: &Cx, domain: &str) -> Result<Option<DomainDescriptionType>> {
    let out = cx
        .aws()
        .cognito
        .describe_user_pool_domain()
        .domain(domain)
        .send()
        .await
        .aws(cx, "DescribeUserPoolDomain")?;
    Ok(out
        .domain_description
        .filter(|d| d.user_pool_id().is_some_and(|p| !p.is_empty())))
}

/// Who holds a domain: `Ok(())` when it is this stack's pool, else why it is someone else's.
async fn owner(cx: &Cx, d: &DomainDescriptionType) -> Result<std::result::Result<(), String>> {
    let pool_id = d.user_pool_id().unwrap_or_default();
    let account = d.aws_account_id().unwrap_or_default();
    // Only a real account ID can be compared (an emulator may put anything there).
    if account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && account != cx.shared.account
    {
        return Ok(Err(format!("another AWS account ({account})")));
    }
    if cx.dep_opt(user_pool::USER_POOL_ID).as_deref() == Some(pool_id) {
        return Ok(Ok(()));
    }
    match user_pool::describe(cx, pool_id).await? {
        Some(pool) if user_pool::is_stacks(cx, &pool) => Ok(Ok(())),
        Some(_) => Ok(Err(format!(
            "user pool {pool_id}, which is not this stack's"
        ))),
        None => Ok(Err(format!("user pool {pool_id} of another account"))),
    }
}

fn taken(domain: &str, by: &str) -> String {
    format!(
        "the Cognito domain prefix `{domain}` is taken by {by}. Prefixes are unique per region across all AWS accounts: \
         choose another one with --cognito-domain-prefix (or the cognito_domain_prefix config key)"
    )
}

fn health(d: &DomainDescriptionType) -> Health {
    match d.status() {
        Some(DomainStatusType::Active) | None => Health::Ready,
        Some(DomainStatusType::Failed) => Health::Unhealthy("the domain's status is FAILED".into()),
        Some(s) => Health::Pending(format!("status {}", s.as_str())),
    }
}

#[async_trait]
impl Resource for UserPoolDomainResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "cognito:user-pool-domain"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &[user_pool::NODE]
    }

    fn owned_through(&self) -> Option<&'static str> {
        Some(user_pool::NODE)
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        let want = prefix(cx)?;
        // The prefix setting changed since the domain was made: the old domain is replaced (a domain cannot be
        // renamed, and a pool has only one).
        if let Some(old) = recorded
            .and_then(|r| r.get("domain"))
            .filter(|d| **d != want)
            && let Some(d) = describe(cx, old).await?
            && owner(cx, &d).await?.is_ok()
        {
            let live = Live {
                health: health(&d),
                ..Live::new(ids([("domain", old.clone())]))
            };
            return Ok(Observation::Present(
                live.with_drift(vec![Drift::new("domain", &want, old).replace()]),
            ));
        }
        let Some(d) = describe(cx, &want).await? else {
            return Ok(Observation::Missing);
        };
        if d.status() == Some(&DomainStatusType::Deleting) {
            return Ok(Observation::Missing);
        }
        match owner(cx, &d).await? {
            // A FAILED domain never becomes ACTIVE; the API offers no repair but deleting it and creating it
            // again (docs/aws-behaviour.md, point 3).
            Ok(()) => Ok(Observation::Present(
                Live {
                    health: health(&d),
                    ..Live::new(ids([("domain", want)]))
                }
                .with_drift(
                    (d.status() == Some(&DomainStatusType::Failed))
                        .then(|| Drift::new("status", "ACTIVE", "FAILED").replace())
                        .into_iter()
                        .collect(),
                ),
            )),
            Err(by) => Ok(Observation::Foreign(taken(&want, &by))),
        }
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let want = prefix(cx)?;
        let pool_id = cx.dep(user_pool::USER_POOL_ID)?;
        // A domain of that name still being deleted (an earlier `down`) must be gone first.
        wait::until(
            cx,
            "the previous domain of that name to be deleted",
            cx.settings().wait_timeout,
            || async {
                Ok(match describe(cx, &want).await? {
                    Some(d) if d.status() == Some(&DomainStatusType::Deleting) => {
                        Poll::Pending("DELETING".into())
                    }
                    _ => Poll::Ready(()),
                })
            },
        )
        .await?;
        if let Err(e) = cx
            .aws()
            .cognito
            .create_user_pool_domain()
            .domain(&want)
            .user_pool_id(&pool_id)
            .send()
            .await
        {
            let message = aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata::message(&e)
                .unwrap_or_default()
                .to_owned();
            if error::code_of(&e) == Some("InvalidParameterException") {
                // A repeated call whose first answer was lost: the domain is there, on our pool.
                if describe(cx, &want)
                    .await?
                    .is_some_and(|d| d.user_pool_id() == Some(pool_id.as_str()))
                {
                    return Ok(ids([("domain", want)]));
                }
                let lower = message.to_ascii_lowercase();
                if lower.contains("user pool already has a domain") {
                    return Err(Error::Conflict(format!(
                        "{}: user pool {pool_id} already has another domain ({message}); the prefix setting may have changed \
                         since it was made: set --cognito-domain-prefix back, or delete that domain, then re-run",
                        cx.node
                    )));
                }
                if lower.contains("already") || lower.contains("exists") {
                    return Err(Error::Conflict(format!(
                        "{}: {}",
                        cx.node,
                        taken(&want, "another user pool or account")
                    )));
                }
            }
            return Err(error::aws(cx.node, "CreateUserPoolDomain", e));
        }
        Ok(ids([("domain", want)]))
    }

    async fn wait_ready(&self, cx: &Cx, ids: &Ids) -> Result<()> {
        let domain = ids.get("domain").cloned().unwrap_or_default();
        wait::until(
            cx,
            "the hosted domain to become ACTIVE",
            cx.settings().wait_timeout,
            || async {
                Ok(match describe(cx, &domain).await? {
                    None => Poll::Pending("not visible yet".into()),
                    Some(d) => match health(&d) {
                        Health::Ready => Poll::Ready(()),
                        Health::Pending(s) => Poll::Pending(s),
                        Health::Unhealthy(s) => Poll::Failed(s),
                    },
                })
            },
        )
        .await
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        let domain = live.id("domain")?.to_owned();
        let Some(d) = describe(cx, &domain).await? else {
            return Ok(());
        };
        let pool_id = d.user_pool_id().unwrap_or_default();
        match cx
            .aws()
            .cognito
            .delete_user_pool_domain()
            .domain(&domain)
            .user_pool_id(pool_id)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if error::code_of(&e) == Some("ResourceNotFoundException") => return Ok(()),
            Err(e) => return Err(error::aws(cx.node, "DeleteUserPoolDomain", e)),
        }
        wait::until(
            cx,
            "the hosted domain to be deleted",
            cx.settings().wait_timeout,
            || async {
                Ok(match describe(cx, &domain).await? {
                    None => Poll::Ready(()),
                    Some(d) => Poll::Pending(
                        d.status()
                            .map(|s| s.as_str().to_owned())
                            .unwrap_or_else(|| "present".into()),
                    ),
                })
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::default_prefix;

    #[test]
    fn default_prefix_is_stack_account_region_and_valid() {
        assert_eq!(
            default_prefix("neo4j-gw", "123456789012", "us-east-1").unwrap(),
            "neo4j-gw-123456789012-us-east-1"
        );
        // The longest stack name and region still fit in 63 characters.
        let p =
            default_prefix("abcdefghijklmnopqrstuvwx", "123456789012", "ap-southeast-2").unwrap();
        assert!(p.len() <= 63, "{p}");
        // Reserved words are refused (the operator must choose a prefix).
        assert!(default_prefix("my-aws-stack", "123456789012", "us-east-1").is_err());
    }
}
