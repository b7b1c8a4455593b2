//! `neo4j-gw up`: pre-flight, then create or repair every resource, wait until it works, print the outputs.

use std::io::BufRead;
use std::time::Instant;

use super::agent::Walk;
use super::{Env, combine, connect, engine, known, prepare};
use crate::cli::UpArgs;
use crate::config::{PasswordSource, Purpose};
use crate::engine::{Outcome, Store};
use crate::error::{Error, Result};
use crate::outputs;
use crate::state::State;

pub async fn run(env: &Env, args: &UpArgs) -> Result<()> {
    let started = Instant::now();
    let password = if args.neo4j_password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| {
            Error::usage(
                "--neo4j-password-stdin",
                format!("cannot read standard input: {e}"),
            )
        })?;
        PasswordSource::Stdin(line.trim_end_matches(['\r', '\n']).to_owned())
    } else {
        PasswordSource::Env(std::env::var("NEO4J_PASSWORD").ok())
    };
    let prepared = prepare(env, Some(&args.settings), Purpose::Up, password).await?;
    let _lock = prepared.file.lock("up")?;
    // Re-read under the lock: another run may have finished meanwhile.
    let prepared = super::Prepared {
        state: prepared.file.load()?,
        ..prepared
    };
    let (aws, account) = connect(env, &prepared).await?;
    let state = prepared
        .state
        .clone()
        .unwrap_or_else(|| State::new(&prepared.settings.stack, &prepared.region, &account));
    let store = Store::new(prepared.file.clone(), state);
    let engine = engine(env, &prepared, aws, &account);
    env.progress.note(&format!(
        "up: stack {} in {} (account {account})",
        prepared.settings.stack, prepared.region
    ));
    engine.preflight(Some(&store)).await?;
    if let Some(w) = crate::config::allowed_cidrs_warning(&prepared.settings) {
        env.progress.note(&format!("warning: {w}"));
    }
    store.set_settings(prepared.settings.recorded.clone())?;
    let results = engine.up(&store).await;
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for (_, r) in &results.by_node {
        let key = match r {
            Ok(Outcome::Created) => "created",
            Ok(Outcome::Updated(_)) => "updated",
            Ok(Outcome::Replaced(_)) => "replaced",
            Ok(Outcome::Adopted) => "adopted",
            Ok(_) => "unchanged",
            Err(_) => "failed",
        };
        *counts.entry(key).or_default() += 1;
    }
    store.flush()?;
    let summary = counts
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    env.progress.note(&format!(
        "up: {summary} in {:.1}s",
        started.elapsed().as_secs_f32()
    ));
    combine(results.errors())?;
    let outs = outputs::compute(&prepared.settings, &prepared.region, &known(&engine));
    if !outs.is_empty() {
        println!("Outputs:\n{}", outputs::render(&outs));
    }
    if args.no_verify {
        env.progress
            .note("up: --no-verify: the tools were not listed through the gateway");
        return Ok(());
    }
    verify(env, &prepared, &engine, &store).await
}

/// "Done" means an agent can use it: list the tools through the gateway with a fresh token, as an agent would.
async fn verify(
    env: &Env,
    prepared: &super::Prepared,
    engine: &crate::engine::Engine,
    store: &Store,
) -> Result<()> {
    let state = store.snapshot();
    let mut walk = Walk::new(engine, prepared, &state, true)?;
    if !walk.reachable() {
        env.progress.note(&format!(
            "up: the tools were not listed through the gateway: {}",
            walk.unreachable_reason()
        ));
        return Ok(());
    }
    let session = walk.open(env).await?;
    let tools = match session.tools().await {
        Ok(t) => t,
        Err(f) => {
            let d = walk.diagnose(env, "tools/list", &f).await;
            session.close().await;
            return Err(d.into_error("tools/list"));
        }
    };
    session.close().await;
    if tools.is_empty() {
        return Err(walk
            .diagnose(
                env,
                "tools/list",
                &crate::mcp::Failure::Other("the gateway listed no tools".into()),
            )
            .await
            .into_error("tools/list"));
    }
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    println!(
        "Verified: an agent with a token lists {} tools through the gateway: {}",
        names.len(),
        names.join(", ")
    );
    Ok(())
}
