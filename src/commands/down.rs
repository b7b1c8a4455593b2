//! `neo4j-gw down`: delete everything the stack owns in reverse dependency order, verify each is gone,
//! then remove the state file. Works from the state file, or — without one — from tags and names.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Instant;

use super::{Env, combine, connect_beside, engine, prepare};
use crate::cli::DownArgs;
use crate::config::{PasswordSource, Purpose};
use crate::engine::{Outcome, Store};
use crate::error::{Error, Result};
use crate::lease;
use crate::state::State;

pub async fn run(env: &Env, args: &DownArgs) -> Result<()> {
    let started = Instant::now();
    let prepared = prepare(
        env,
        Some(&args.settings),
        Purpose::Inspect,
        PasswordSource::Env(None),
    )
    .await?;
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(Error::usage(
                "--yes",
                "is required to run `down` when standard input is not a terminal",
            ));
        }
        eprint!(
            "This deletes every resource of stack `{}` in {}. Type the stack name to confirm: ",
            prepared.settings.stack, prepared.region
        );
        std::io::stderr().flush().ok();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).ok();
        if answer.trim() != prepared.settings.stack {
            return Err(Error::usage(
                "confirmation",
                "the answer did not match the stack name; nothing was deleted",
            ));
        }
    }
    let (_lock, prepared) = prepared.locked("down")?;
    let mut connected = connect_beside(env, &prepared).await?;
    let aws = connected.aws.clone();
    let start = Instant::now();
    let lease = lease::take(
        &aws,
        &prepared.settings.stack,
        "down",
        connected.verified(&prepared),
        &env.progress,
    )
    .await?;
    env.timings.step("(lease)", start);
    let result = leased(env, args, &prepared, connected, started).await;
    // Everything else is gone: the lease goes last. Otherwise it is let go of, for the next `down`.
    match result {
        Ok(true) => lease.remove(&env.progress).await,
        _ => lease.release(&env.progress).await,
    }
    result.map(|_| ())
}

/// `down` while holding the stack's lease: Ok(true) when everything is gone and the state file was removed.
async fn leased(
    env: &Env,
    args: &DownArgs,
    prepared: &super::Prepared,
    mut connected: super::Connected,
    started: Instant,
) -> Result<bool> {
    prepared.keep_last_good()?;
    let (aws, account) = (connected.aws.clone(), connected.account.clone());
    let had_state = prepared.state.is_some();
    let state = prepared
        .state
        .clone()
        .unwrap_or_else(|| State::new(&prepared.settings.stack, &prepared.region, &account));
    let store = Store::new(prepared.file.clone(), state);
    let engine = engine(env, prepared, aws, &account);
    env.progress.note(&format!(
        "down: stack {} in {} (account {account}){}",
        prepared.settings.stack,
        prepared.region,
        if had_state {
            ""
        } else {
            " — no state file: finding resources by tag and name"
        }
    ));
    // Everything is read first (the delete walk acts on these observations), beside the account check; nothing is
    // deleted before the credentials are known to be the stack's account's.
    engine.status(prepared.state.as_ref()).await;
    connected.verified(prepared).await?;
    env.progress.begin("down", engine.owned_count());
    let results = engine.down(&store).await;
    env.progress.end();
    env.write_timings("down");
    let mut deleted = 0;
    let mut kept = Vec::new();
    let mut outcomes = Vec::new();
    for (id, r) in &results.by_node {
        match r {
            Ok(Outcome::Deleted) => deleted += 1,
            Ok(Outcome::Kept(why)) => kept.push(format!("{id} ({why})")),
            _ => {}
        }
        let (key, detail) = match r {
            Ok(o) => (o.key(), o.describe()),
            Err(e @ Error::Skipped(_)) => ("skipped", e.to_string()),
            Err(e) => ("failed", e.to_string()),
        };
        outcomes.push(serde_json::json!({"resource": id, "outcome": key, "detail": detail}));
    }
    let errors = results.errors();
    let ok = errors.is_empty();
    if ok {
        store.remove_file()?;
    }
    env.progress.note(&format!(
        "down: {deleted} deleted in {:.1}s{}",
        started.elapsed().as_secs_f32(),
        if ok {
            "; state file removed"
        } else {
            "; the state file keeps what is left — re-run `neo4j-gw down`"
        }
    ));
    for k in &kept {
        env.progress.note(&format!("kept: {k}"));
    }
    if args.json {
        let doc = serde_json::json!({
            "stack": prepared.settings.stack,
            "region": prepared.region,
            "account": account,
            "ok": ok,
            "state_file_removed": ok,
            "resources": outcomes,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
    combine(errors).map(|()| ok)
}
