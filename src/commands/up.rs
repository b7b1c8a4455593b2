//! `neo4j-gw up`: pre-flight, the plan (what will change, from the same observe), a confirmation when something
//! would be replaced, then create or repair every resource, wait until it works, print the outputs.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::time::Instant;

use serde_json::json;

use super::agent::{self, Walk};
use super::{Env, combine, connect_beside, engine, known, password_source, plan, prepare};
use crate::cli::UpArgs;
use crate::config::Purpose;
use crate::engine::Store;
use crate::error::{Error, Result, exit};
use crate::lease;
use crate::outputs;
use crate::state::State;

pub async fn run(env: &Env, args: &UpArgs) -> Result<i32> {
    if args.dry_run {
        return plan::show(
            env,
            &args.settings,
            args.neo4j_password_stdin,
            false,
            args.json,
        )
        .await;
    }
    let started = Instant::now();
    let password = password_source(args.neo4j_password_stdin)?;
    let prepared = prepare(env, Some(&args.settings), Purpose::Up, password).await?;
    let (_lock, prepared) = prepared.locked("up")?;
    let mut connected = connect_beside(env, &prepared).await?;
    // One run per stack per account and region, whatever the state directory: the lease is taken (once the
    // credentials are known to be the stack's account's) before anything is read for the plan or changed.
    let aws = connected.aws.clone();
    let start = Instant::now();
    let lease = lease::take(
        &aws,
        &prepared.settings.stack,
        "up",
        connected.verified(&prepared),
        &env.progress,
    )
    .await?;
    env.timings.step("(lease)", start);
    let result = leased(env, args, &prepared, connected, started).await;
    lease.release(&env.progress).await;
    result
}

/// `up` while holding the stack's lease.
async fn leased(
    env: &Env,
    args: &UpArgs,
    prepared: &super::Prepared,
    mut connected: super::Connected,
    started: Instant,
) -> Result<i32> {
    prepared.keep_last_good()?;
    let (aws, account) = (connected.aws.clone(), connected.account.clone());
    let state = prepared
        .state
        .clone()
        .unwrap_or_else(|| State::new(&prepared.settings.stack, &prepared.region, &account));
    let store = Store::new(prepared.file.clone(), state);
    let engine = engine(env, prepared, aws, &account);
    env.progress.note(&format!(
        "up: stack {} in {} (account {account})",
        prepared.settings.stack, prepared.region
    ));
    // Every resource observed at once (read-only); pre-flight judges the external ones from the same observations,
    // the plan is made from them, and the walk acts on them.
    // Beside the reads: the token for the final check, used only if the identity resources stay as they are.
    let early = async {
        match (&prepared.state, args.no_verify) {
            (Some(state), false) => agent::early_token(&engine, prepared, state).await,
            _ => None,
        }
    };
    let (reports, early_token) = tokio::join!(engine.status(prepared.state.as_ref()), early);
    // Nothing is changed before the credentials are known to be the stack's account's.
    connected.verified(prepared).await?;
    if let Err(e) = engine.preflight(Some(&store)).await {
        env.write_timings("up");
        return Err(e);
    }
    // What will change: shown before anything is changed.
    let changes = plan::for_up(&reports);
    env.progress
        .note(&format!("plan: {}", plan::summary(&changes)));
    for line in plan::lines(&changes, false) {
        env.progress.note(&format!("plan: {line}"));
    }
    refuse_conflicts(&changes)?;
    confirm_replacements(args, &prepared.settings.stack, &changes)?;
    if let Some(w) = crate::config::allowed_cidrs_warning(&prepared.settings) {
        env.progress.note(&format!("warning: {w}"));
    }
    if !prepared.settings.origin_lock {
        env.progress
            .note(&format!("warning: {}", super::status::OFF_WARNING));
    }
    store.set_settings(prepared.settings.recorded.clone())?;
    env.progress.begin("up", engine.owned_count());
    let results = engine.up(&store).await;
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    let mut outcomes = Vec::new();
    for (id, r) in &results.by_node {
        let (key, detail) = match r {
            Ok(o) => (o.key(), o.describe()),
            Err(e @ Error::Skipped(_)) => ("skipped", e.to_string()),
            Err(e) => ("failed", e.to_string()),
        };
        *counts.entry(key).or_default() += 1;
        outcomes.push(json!({"resource": id, "outcome": key, "detail": detail}));
    }
    // In plan order, not in the order the nodes finished.
    let order = |r: &serde_json::Value| {
        engine
            .plan
            .iter()
            .position(|n| r["resource"] == n.id())
            .unwrap_or(usize::MAX)
    };
    outcomes.sort_by_key(order);
    store.flush()?;
    if results.by_node.iter().all(|(_, r)| r.is_ok()) {
        prepared.file.keep_last_good()?;
    }
    let summary = counts
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    env.progress.end();
    env.progress.note(&format!(
        "up: {summary} in {:.1}s",
        started.elapsed().as_secs_f32()
    ));
    let outs = outputs::compute(&prepared.settings, &prepared.region, &known(&engine));
    let ok = results.by_node.iter().all(|(_, r)| r.is_ok());
    // "Done" means an agent can use it: once every resource is in place, the tools are listed through the gateway.
    let verified = if !ok {
        None
    } else if args.no_verify {
        env.progress
            .note("up: --no-verify: the tools were not listed and Neo4j was not queried through the gateway");
        None
    } else {
        let start = Instant::now();
        let result = verify(env, prepared, &engine, &store, early_token).await;
        env.timings.step("(verify)", start);
        Some(result)
    };
    env.write_timings("up");
    if args.json {
        // Printed even when a resource failed: what was done is worth as much then.
        let (tools, check) = match &verified {
            Some(Ok(Some(names))) => (json!(names), json!("ok")),
            Some(Ok(None)) => (
                json!(null),
                json!("skipped: the gateway's data plane cannot be reached"),
            ),
            Some(Err(e)) => (json!(null), json!(e.to_string())),
            None => (
                json!(null),
                json!(if args.no_verify {
                    "skipped: --no-verify"
                } else {
                    "not run"
                }),
            ),
        };
        let doc = json!({
            "stack": prepared.settings.stack,
            "region": prepared.region,
            "account": account,
            "ok": ok && !matches!(verified, Some(Err(_))),
            "resources": outcomes,
            "outputs": outs,
            "tools": tools,
            "verification": check,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
    combine(results.errors())?;
    if !args.json && !outs.is_empty() {
        println!("Outputs:\n{}", outputs::render(&outs));
    }
    if let Some(result) = verified
        && let Some(names) = result?
        && !args.json
    {
        println!(
            "Verified: an agent with a token lists {} tools through the gateway: {}; Neo4j answered `{}` through {}",
            names.len(),
            names.join(", "),
            agent::PROBE_QUERY,
            agent::READ_TOOL,
        );
    }
    Ok(exit::OK)
}

/// Lists the tools through the gateway with a fresh token, as an agent would, and has Neo4j answer a read-only query
/// through `read-cypher` ([`Walk::verify`]): the tools' names, or None when the data plane cannot be reached (an
/// emulator without one).
async fn verify(
    env: &Env,
    prepared: &super::Prepared,
    engine: &crate::engine::Engine,
    store: &Store,
    early_token: Option<crate::commands::token::Token>,
) -> Result<Option<Vec<String>>> {
    use crate::resources::{app_client, resource_server, user_pool, user_pool_domain};
    let state = store.snapshot();
    let mut walk = Walk::new(engine, prepared, &state, true)?;
    let identity = [
        user_pool::NODE,
        user_pool_domain::NODE,
        resource_server::NODE,
        app_client::NODE,
    ];
    if let Some(token) = early_token
        && !engine.changed_any(&identity)
    {
        walk = walk.with_token(token);
    }
    if !walk.reachable() {
        env.progress.note(&format!(
            "up: the tools were not listed through the gateway: {}",
            walk.unreachable_reason()
        ));
        return Ok(None);
    }
    let (tools, query) = walk.verify(env).await?;
    query?;
    let names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    // The tools each access level sees, recorded; what changed since the last `up` is said.
    let known = BTreeMap::from([(walk.agent.clone(), names.clone())]);
    if let Some(surface) = agent::tool_surface(env, engine, prepared, &state, known).await? {
        for change in agent::surface_changes(&state.tool_surface, &surface) {
            env.progress.note(&format!(
                "up: the tools changed since the last up — {change} (recorded now)"
            ));
        }
        for (level, tools) in &surface {
            if prepared.settings.agents.len() > 1 {
                env.progress
                    .note(&format!("up: access {level} sees {}", tools.join(", ")));
            }
        }
        store.set_tool_surface(surface)?;
    }
    Ok(Some(names))
}

/// A plan with a conflict (a resource of the stack's name or place that is not the stack's) changes nothing: `up`
/// would stop there half-way, so it stops before its first change instead.
fn refuse_conflicts(changes: &[plan::Change]) -> Result<()> {
    let conflicts: Vec<String> = changes
        .iter()
        .filter(|c| c.action == plan::Action::Conflict)
        .map(|c| format!("{}: {}", c.resource, c.detail()))
        .collect();
    if conflicts.is_empty() {
        return Ok(());
    }
    Err(Error::Preflight(format!(
        "up stops before changing anything: the plan has {} conflict{} — what the stack would create, change or \
         delete there is not the stack's, and neo4j-gw never adopts, changes or deletes what it did not create:\n  \
         {}\nRemove or rename it, choose other settings (e.g. --subdomain), or use another --stack; nothing was changed",
        conflicts.len(),
        if conflicts.len() == 1 { "" } else { "s" },
        conflicts.join("\n  ")
    )))
}

/// Replacing a resource deletes it first: that needs a yes — typed on a terminal, or `--yes`.
fn confirm_replacements(args: &UpArgs, stack: &str, changes: &[plan::Change]) -> Result<()> {
    let replaced = plan::replacements(changes);
    if replaced.is_empty() || args.yes {
        return Ok(());
    }
    let list = replaced.join("; ");
    if !std::io::stdin().is_terminal() {
        return Err(Error::usage(
            "--yes",
            format!(
                "up would delete, or replace (delete, then create again): {list}. Pass --yes to allow that when \
                 standard input is not a terminal; nothing was changed"
            ),
        ));
    }
    eprint!(
        "up would delete, or replace (delete, then create again), in stack `{stack}`: {list}.\nContinue? [y/N] "
    );
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).ok();
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(Error::usage(
            "confirmation",
            "the replacements were not confirmed; nothing was changed",
        ))
    }
}
