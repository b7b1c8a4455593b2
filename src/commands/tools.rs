//! `neo4j-gw tools`: the gateway's tools as an agent sees them — token → `initialize` →
//! `notifications/initialized` → `tools/list` (every page) through the gateway, each tool with the first line of
//! its description.

use serde_json::json;

use super::agent::{Walk, summary};
use super::token::deployed;
use super::{Env, connect, engine, prepare};
use crate::cli::ToolsArgs;
use crate::config::{PasswordSource, Purpose};
use crate::error::Result;

pub async fn run(env: &Env, args: &ToolsArgs) -> Result<()> {
    let prepared = prepare(env, None, Purpose::Inspect, PasswordSource::Env(None)).await?;
    let state = deployed(&prepared)?;
    let agent = super::token::choose_agent(&prepared.settings, args.agent.as_deref())?;
    let (aws, account) = connect(env, &prepared).await?;
    let engine = engine(env, &prepared, aws, &account);
    let mut walk = Walk::new(&engine, &prepared, &state, false)?.as_agent(agent);
    walk.require_reachable()?;
    let tools = walk.list_tools(env).await?;
    if args.json {
        let doc: Vec<_> = tools
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "description": t.description,
                    "inputSchema": t.input_schema.as_ref(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        let width = tools.iter().map(|t| t.name.len()).max().unwrap_or(0);
        for t in &tools {
            println!("{:<width$}  {}", t.name, summary(t.description.as_deref()));
        }
    }
    Ok(())
}
