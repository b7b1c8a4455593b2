//! `neo4j-gw status`: what exists, what is healthy, what drifted, and the outputs. Read-only.

use serde_json::json;

use super::{Env, connect, engine, known, prepare};
use crate::cli::StatusArgs;
use crate::config::{PasswordSource, Purpose};
use crate::error::{Result, exit};
use crate::outputs;

/// Returns the exit code: 0 when everything is present and healthy, 3 otherwise.
pub async fn run(env: &Env, args: &StatusArgs) -> Result<i32> {
    let prepared = prepare(
        env,
        Some(&args.settings),
        Purpose::Inspect,
        PasswordSource::Env(std::env::var("NEO4J_PASSWORD").ok()),
    )
    .await?;
    let (aws, account) = connect(env, &prepared).await?;
    let engine = engine(env, &prepared, aws, &account);
    let reports = engine.status(prepared.state.as_ref()).await;
    let outs = outputs::compute(&prepared.settings, &prepared.region, &known(&engine));
    let healthy = prepared.state.is_some() && reports.iter().all(|r| r.ok());
    if args.json {
        let doc = json!({
            "stack": prepared.settings.stack,
            "region": prepared.region,
            "account": account,
            "deployed": prepared.state.is_some(),
            "healthy": healthy,
            "resources": reports,
            "outputs": outs,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        println!(
            "stack {} · {} · account {}{}",
            prepared.settings.stack,
            prepared.region,
            account,
            if prepared.state.is_none() {
                " · no state file (never deployed, or taken down)"
            } else {
                ""
            }
        );
        println!("{:<22} {:<24} {:<10} DETAIL", "RESOURCE", "KIND", "STATE");
        for r in &reports {
            let mut detail: Vec<String> = r.ids.values().take(2).cloned().collect();
            for d in &r.drift {
                detail.push(format!(
                    "{}: expected {}, found {}",
                    d.attribute, d.expected, d.actual
                ));
            }
            for (k, v) in &r.details {
                detail.push(format!("{k}={v}"));
            }
            if let Some(m) = &r.message {
                detail.push(m.clone());
            }
            if !r.owned {
                detail.push("(not owned)".into());
            }
            println!(
                "{:<22} {:<24} {:<10} {}",
                r.resource,
                r.kind,
                r.state,
                detail.join("; ")
            );
        }
        if !outs.is_empty() {
            println!("Outputs:\n{}", outputs::render(&outs));
        }
    }
    Ok(if healthy { exit::OK } else { exit::NOT_HEALTHY })
}
