//! `neo4j-gw call TOOL`: one `tools/call` through the gateway, as an agent makes it. The `<target>___` prefix
//! is added when missing. Prints the result's text (or the whole result with `--json`); a tool that reports an
//! error (`isError`) or a JSON-RPC error ends with exit 1 and the error.

use super::agent::{Walk, arguments, qualified};
use super::token::deployed;
use super::{Env, connect, engine, prepare};
use crate::cli::CallArgs;
use crate::config::{PasswordSource, Purpose};
use crate::error::{Error, Result};
use crate::mcp::{Failure, result_text};

pub async fn run(env: &Env, args: &CallArgs) -> Result<()> {
    let args_json = match (&args.args, &args.args_file) {
        (Some(a), None) => arguments(a, "--args")?,
        (None, Some(f)) => {
            let text = std::fs::read_to_string(f).map_err(|e| {
                Error::usage("--args-file", format!("cannot read {}: {e}", f.display()))
            })?;
            arguments(&text, "--args-file")?
        }
        (None, None) => serde_json::Map::new(),
        (Some(_), Some(_)) => unreachable!("clap keeps --args and --args-file apart"),
    };
    let prepared = prepare(env, None, Purpose::Inspect, PasswordSource::Env(None)).await?;
    let state = deployed(&prepared)?;
    let name = qualified(&prepared.settings.target_name, &args.tool);
    let (aws, account) = connect(env, &prepared).await?;
    let engine = engine(env, &prepared, aws, &account);
    let mut walk = Walk::new(&engine, &prepared, &state, false)?;
    walk.require_reachable()?;
    let session = walk.open(env).await?;
    let result = session.call(&name, args_json).await;
    session.close().await;
    let result = match result {
        Ok(r) => r,
        Err(Failure::JsonRpc { code, message }) => {
            return Err(Error::other(format!(
                "call {name}: the gateway answered with JSON-RPC error {code}: {message}{}",
                if code == -32602 {
                    ". Run `neo4j-gw tools` to see the tools (write-cypher exists only with --read-only false)"
                } else {
                    ""
                }
            )));
        }
        Err(f) => {
            return Err(walk
                .diagnose(env, "tools/call", &f)
                .await
                .into_error("tools/call"));
        }
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&result).unwrap_or_default()
        );
    }
    if result.is_error == Some(true) {
        return Err(Error::other(format!(
            "call {name}: the tool reported an error: {}",
            result_text(&result)
        )));
    }
    if !args.json {
        println!("{}", result_text(&result));
    }
    Ok(())
}
