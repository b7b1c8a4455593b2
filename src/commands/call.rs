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

/// How the gateway's policy engine starts a refusal (docs/aws-behaviour.md, "Agents' rights at the gateway":
/// AgentCore's text, reported from an account; the one part of it neo4j-gw relies on).
pub const DENIED: &str = "Tool Execution Denied";

/// The refusal of a tool call by the gateway's policy, naming the right the agent lacks — from the configuration,
/// not from AWS's text.
pub fn denied(
    settings: &crate::config::Settings,
    agent: &str,
    tool: &str,
    message: &str,
) -> String {
    let tool = tool.rsplit("___").next().unwrap_or(tool);
    let has = settings
        .access_of(agent)
        .map_or("none", crate::config::Access::as_str);
    match crate::config::Access::needed_for(tool) {
        Some(needed) => format!(
            "call {tool}: denied by the gateway's policy: agent {agent} has access \"{has}\"; {tool} needs \"{}\" (give {agent} access = \"{}\" in [agents.{agent}] and run `neo4j-gw up`, or use an agent that has it)",
            needed.as_str(),
            needed.as_str()
        ),
        None => format!(
            "call {tool}: denied by the gateway's policy: no access level grants {tool} (a tool the server added since the last `up`? run `neo4j-gw up` to record the tools) — the gateway said: {message}"
        ),
    }
}

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
    let agent = super::token::choose_agent(&prepared.settings, args.agent.as_deref())?;
    let name = qualified(&prepared.settings.target_name, &args.tool);
    let (aws, account) = connect(env, &prepared).await?;
    let engine = engine(env, &prepared, aws, &account);
    let mut walk = Walk::new(&engine, &prepared, &state, false)?.as_agent(agent);
    walk.require_reachable()?;
    let session = walk.open(env).await?;
    let result = session.call(&name, args_json).await;
    session.close().await;
    let result = match result {
        Ok(r) => r,
        Err(Failure::JsonRpc { message, .. }) if message.starts_with(DENIED) => {
            return Err(Error::other(denied(
                &prepared.settings,
                &walk.agent,
                &args.tool,
                &message,
            )));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denial_names_the_agent_its_access_and_the_level_the_tool_needs() {
        let mut layers = crate::config::Layers::default();
        layers
            .flags
            .insert("agents".into(), "reader:read,writer:write".into());
        let settings =
            crate::config::resolve(&layers, Purpose::Inspect, PasswordSource::Env(None)).unwrap();
        let m = denied(
            &settings,
            "reader",
            "neo4j-mcp___write-cypher",
            "Tool Execution Denied: …",
        );
        assert!(
            m.contains("agent reader has access \"read\"; write-cypher needs \"write\""),
            "{m}"
        );
        let m = denied(&settings, "reader", "new-tool", "Tool Execution Denied: …");
        assert!(m.contains("no access level grants new-tool"), "{m}");
    }
}
