//! `neo4j-gw rotate-origin`: a new origin value, without a failed request. The listener rule first accepts the
//! old and the new value; then the secret gets the new one (the interceptor's cache may still send the old one for
//! up to `secret_cache_ttl` seconds); after that time and a margin, the rule accepts only the new value and the
//! secret forgets the old one. Interrupted in between, the next `up` (or `rotate-origin`) finishes the job: the
//! secret records when the rotation began (`origin_secret::Origin::accepted`).

use std::time::Duration;

use super::token::{deployed, recorded};
use super::{Env, connect, engine, prepare};
use crate::cli::RotateOriginArgs;
use crate::config::{PasswordSource, Purpose};
use crate::error::{Error, Result};
use crate::lease;
use crate::resources::origin_secret::{self, Origin, ROTATION_MARGIN_S};
use crate::resources::{Cx, Observation, origin_rule};

pub async fn run(env: &Env, args: &RotateOriginArgs) -> Result<()> {
    let prepared = prepare(
        env,
        Some(&args.settings),
        Purpose::Inspect,
        PasswordSource::Env(None),
    )
    .await?;
    let (_lock, prepared) = prepared.locked("rotate-origin")?;
    let state = deployed(&prepared)?;
    if !prepared.settings.origin_lock {
        return Err(Error::usage(
            "origin_lock",
            "is false for this stack: there is no origin value to rotate (run `neo4j-gw up --origin-lock true`)",
        ));
    }
    let secret_arn = recorded(&state, origin_secret::NODE, "arn")?;
    let rule_arn = recorded(&state, origin_rule::NODE, "arn")?;
    let (aws, account) = connect(env, &prepared).await?;
    let lease = lease::take(
        &aws,
        &prepared.settings.stack,
        "rotate-origin",
        async { Ok(()) },
        &env.progress,
    )
    .await?;
    let result = leased(env, &prepared, aws, &account, &secret_arn, &rule_arn).await;
    lease.release(&env.progress).await;
    result
}

/// The rotation while holding the stack's lease.
async fn leased(
    env: &Env,
    prepared: &super::Prepared,
    aws: crate::aws::Aws,
    account: &str,
    secret_arn: &str,
    rule_arn: &str,
) -> Result<()> {
    prepared.keep_last_good()?;
    let engine = engine(env, prepared, aws, account);
    // The recorded secret and rule are changed only once they are known to be this stack's (by their tags).
    for node in [origin_secret::NODE, origin_rule::NODE] {
        let recorded = prepared
            .state
            .as_ref()
            .and_then(|s| s.resources.get(node))
            .map(|r| r.ids.clone());
        match engine.observe_node(node, recorded.as_ref()).await? {
            Observation::Present(_) => {}
            Observation::Foreign(why) => {
                return Err(Error::Preflight(format!(
                    "{node}: {why}; neo4j-gw never changes what it did not create: nothing was changed"
                )));
            }
            Observation::Missing => {
                return Err(Error::other(format!(
                    "{node}: not found; run `neo4j-gw up`, which makes it again"
                )));
            }
        }
    }
    let cx = Cx::new(
        engine.shared.clone(),
        origin_rule::NODE,
        env.progress.line("rotate-origin"),
    );
    let ttl = u64::from(prepared.settings.secret_cache_ttl);
    let old = origin_secret::read(&cx, secret_arn).await?.ok_or_else(|| {
        Error::other(format!(
            "{}: the origin secret holds no valid value: run `neo4j-gw up`, which makes a new one",
            origin_secret::NODE
        ))
    })?;
    let now = origin_secret::now();
    if old.in_rotation(ttl, now) {
        let left = old.rotated_at.map(|t| t + ttl + ROTATION_MARGIN_S - now);
        return Err(Error::usage(
            "rotate-origin",
            format!(
                "a rotation is still in progress{}; run it again then (or `neo4j-gw up`, which finishes it)",
                left.map(|s| format!(" for {s} s")).unwrap_or_default()
            ),
        ));
    }
    let new = origin_secret::random_value()?;
    // 1. The door accepts both keys.
    cx.say("the listener rule accepts the old and the new value");
    origin_rule::set_values(&cx, rule_arn, &[new.clone(), old.current.clone()]).await?;
    // 2. The interceptors get the new key (each as its cache expires).
    cx.say("the secret holds the new value");
    origin_secret::write(
        &cx,
        secret_arn,
        &Origin {
            current: new.clone(),
            previous: Some(old.current.clone()),
            rotated_at: Some(origin_secret::now()),
        },
    )
    .await?;
    // 3. Until every interceptor's cache has expired, both keys stay valid.
    let wait = ttl + ROTATION_MARGIN_S;
    // One line for the wait (off a terminal, one line per real event); the live view shows the time passing.
    cx.say(format!(
        "waiting {wait} s until every interceptor has read the new value (cache {ttl} s + {ROTATION_MARGIN_S} s)"
    ));
    cx.shared.cancel.sleep(Duration::from_secs(wait)).await?;
    // 4. Only the new key.
    cx.say("the listener rule accepts only the new value");
    origin_rule::set_values(&cx, rule_arn, std::slice::from_ref(&new)).await?;
    origin_secret::write(
        &cx,
        secret_arn,
        &Origin {
            current: new,
            previous: None,
            rotated_at: None,
        },
    )
    .await?;
    cx.line.finish("rotated".into(), true);
    println!("The origin value was rotated; the load balancer now accepts only the new one.");
    Ok(())
}
