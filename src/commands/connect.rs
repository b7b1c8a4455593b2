//! `neo4j-gw connect --client …`: an MCP client configuration for the stack's gateway (streamable HTTP, with an
//! `Authorization: Bearer` header), on stdout as the client's own JSON format, and on stderr where to put it and how
//! the token is refreshed. The formats and their sources are in the README ("Connecting MCP clients").
//!
//! No token is written into a configuration: where the client can run a command for its headers (Claude Code's
//! `headersHelper`), that command is `neo4j-gw token --headers`; Claude Desktop runs a local stdio bridge started
//! through a shell that fetches a token first; VS Code asks for the token (a password input); Cursor reads it from an
//! environment variable. Tokens live `token_validity_minutes` (default 60).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{Env, prepare};
use crate::cli::{Client, ConnectArgs};
use crate::config::{PasswordSource, Purpose};
use crate::error::{Error, Result, exit};
use crate::resources::gateway;

/// The environment variable the Cursor and JSON configurations read the token from.
pub const TOKEN_VAR: &str = "NEO4J_GW_TOKEN";
/// The VS Code input that holds the token.
const VSCODE_INPUT: &str = "neo4j-gw-token";

/// What every client configuration is made from.
pub struct Target {
    pub name: String,
    pub url: String,
    /// The `neo4j-gw … token` command line (absolute paths), without the output flag.
    pub token_command: Vec<String>,
    pub token_minutes: i32,
    pub scope: String,
}

impl Target {
    /// The token command as one shell line, with an output flag if any.
    fn helper(&self, flag: Option<&str>) -> String {
        let mut words: Vec<String> = self.token_command.iter().map(|w| shell_quote(w)).collect();
        words.extend(flag.map(str::to_owned));
        words.join(" ")
    }

    fn lifetime(&self) -> String {
        format!(
            "a token lasts {} minutes (token_validity_minutes)",
            self.token_minutes
        )
    }
}

/// Quotes a word for a POSIX shell when it needs it.
pub fn shell_quote(w: &str) -> String {
    if !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        w.to_owned()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

/// The configuration document (stdout) and the notes for the operator (stderr).
pub fn render(client: Client, t: &Target) -> (Value, Vec<String>) {
    let bearer = |token: &str| format!("Bearer {token}");
    match client {
        Client::ClaudeCode => (
            json!({"mcpServers": {&t.name: {
                "type": "http",
                "url": t.url,
                "headersHelper": t.helper(Some("--headers")),
            }}}),
            vec![
                "Claude Code: save this as .mcp.json in your project (project scope), or add it with \
                 `claude mcp add-json <name> '<the server object>'`."
                    .into(),
                format!(
                    "The headers helper runs `neo4j-gw token --headers` on every connection (session start and \
                     reconnect), so the token never goes stale; {}.",
                    t.lifetime()
                ),
            ],
        ),
        Client::ClaudeDesktop => {
            let start = format!(
                "AUTH_HEADER=\"Bearer $({})\" exec npx -y mcp-remote {} --header 'Authorization:${{AUTH_HEADER}}'",
                t.helper(None),
                shell_quote(&t.url)
            );
            (
                json!({"mcpServers": {&t.name: {
                    "command": "/bin/sh",
                    "args": ["-c", start],
                }}}),
                vec![
                    "Claude Desktop: merge this into claude_desktop_config.json (Settings > Developer > Edit Config). \
                     Claude Desktop does not connect to remote servers configured in that file, and its custom \
                     connectors accept only authless or OAuth servers, so this runs the community stdio bridge \
                     mcp-remote (needs Node.js/npx) with the bearer header."
                        .into(),
                    format!(
                        "The token is fetched when Claude Desktop starts the server; {}: restart Claude Desktop (or the \
                         server) after that. macOS/Linux (/bin/sh).",
                        t.lifetime()
                    ),
                ],
            )
        }
        Client::Vscode => (
            json!({
                "inputs": [{
                    "type": "promptString",
                    "id": VSCODE_INPUT,
                    "description": format!("Access token for {} (run: neo4j-gw token)", t.name),
                    "password": true,
                }],
                "servers": {&t.name: {
                    "type": "http",
                    "url": t.url,
                    "headers": {"Authorization": bearer(&format!("${{input:{VSCODE_INPUT}}}"))},
                }},
            }),
            vec![
                "VS Code: save this as .vscode/mcp.json (or add the server to your user mcp.json).".into(),
                format!(
                    "VS Code asks for the token when it starts the server and stores it; paste the output of \
                     `{}`. It has no headers helper: {}, then enter a new one.",
                    t.helper(None),
                    t.lifetime()
                ),
            ],
        ),
        Client::Cursor => (
            json!({"mcpServers": {&t.name: {
                "url": t.url,
                "headers": {"Authorization": bearer(&format!("${{env:{TOKEN_VAR}}}"))},
            }}}),
            vec![
                "Cursor: save this as .cursor/mcp.json (project) or ~/.cursor/mcp.json (global).".into(),
                format!(
                    "Start Cursor with the token in its environment: `{TOKEN_VAR}=$({}) cursor`. It has no headers \
                     helper: {}, then restart it that way.",
                    t.helper(None),
                    t.lifetime()
                ),
            ],
        ),
        Client::Json => (
            json!({
                "name": t.name,
                "url": t.url,
                "transport": "streamable-http",
                "headers": {"Authorization": bearer(&format!("${{{TOKEN_VAR}}}"))},
                "token": {
                    "command": t.token_command,
                    "headers_command": t.token_command.iter().cloned().chain(["--headers".to_owned()]).collect::<Vec<_>>(),
                    "lifetime_seconds": i64::from(t.token_minutes) * 60,
                    "scope": t.scope,
                    "grant": "client_credentials",
                },
            }),
            vec![format!(
                "Send the header `Authorization: Bearer <token>` with every request to the URL; get a token with `{}` \
                 ({}).",
                t.helper(None),
                t.lifetime()
            )],
        ),
    }
}

/// An absolute path (relative ones are taken from the working directory, where the client will not run).
fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_owned()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_owned())
    }
}

pub async fn run(env: &Env, args: &ConnectArgs) -> Result<i32> {
    let prepared = prepare(env, None, Purpose::Inspect, PasswordSource::Env(None)).await?;
    let s = &prepared.settings;
    let Some(state) = &prepared.state else {
        return Err(Error::other(format!(
            "connect: stack `{}` is not deployed (no state file at {}): run `neo4j-gw up` first",
            s.stack,
            prepared.file.path.display()
        )));
    };
    let url = gateway::URL
        .recorded(state)
        .cloned()
        .ok_or_else(|| {
            Error::other(format!(
                "connect: stack `{}` has no gateway URL in its state: run `neo4j-gw up` to finish the deployment",
                s.stack
            ))
        })?;
    if let Some(u) = &args.token_endpoint {
        url::Url::parse(u)
            .map_err(|e| Error::usage("--token-endpoint", format!("`{u}` is not a URL: {e}")))?;
    }
    // The token command a client runs: this binary, the same stack, state, region and endpoints, absolute paths.
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "neo4j-gw".into());
    let state_dir = prepared
        .file
        .path
        .parent()
        .map(absolute)
        .unwrap_or_default();
    let mut cmd = vec![
        exe,
        "--stack".into(),
        s.stack.clone(),
        "--state-dir".into(),
        state_dir.display().to_string(),
        "--region".into(),
        prepared.region.clone(),
    ];
    // What this run took from the environment goes on the command line: the client has an environment of its own.
    let from_env = |var: &str| std::env::var(var).ok().filter(|v| !v.is_empty());
    if let Some(p) = s.profile.clone().or_else(|| from_env("AWS_PROFILE")) {
        cmd.extend(["--profile".into(), p]);
    }
    if let Some(c) = &env.global.config {
        cmd.extend(["--config".into(), absolute(c).display().to_string()]);
    }
    if let Some(e) = s
        .endpoint_url
        .clone()
        .or_else(|| from_env("AWS_ENDPOINT_URL"))
    {
        cmd.extend(["--endpoint-url".into(), e]);
    }
    // Against an emulator the token endpoint is reached through its data plane: without it the command would fail.
    if let Some(d) = &s.data_plane_endpoint {
        cmd.extend(["--data-plane-endpoint".into(), d.clone()]);
    }
    cmd.push("token".into());
    if let Some(t) = args.token_endpoint.as_ref().or(s.token_endpoint.as_ref()) {
        cmd.extend(["--token-endpoint".into(), t.clone()]);
    }
    let target = Target {
        name: args.name.clone().unwrap_or_else(|| s.stack.clone()),
        url,
        token_command: cmd,
        token_minutes: s.token_validity_minutes,
        // What `token` asks for (issue 20: the gateway's scope and the `read` access level).
        scope: crate::resources::resource_server::client_scopes(s).join(" "),
    };
    let (doc, notes) = render(args.client, &target);
    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    for n in notes {
        env.progress.note(&n);
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            name: "neo4j".into(),
            url: "https://gw.example/mcp".into(),
            token_command: vec![
                "/opt/neo4j gw/neo4j-gw".into(),
                "--stack".into(),
                "s".into(),
                "token".into(),
            ],
            token_minutes: 60,
            scope: "rs/invoke".into(),
        }
    }

    #[test]
    fn quoting_keeps_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("--stack"), "--stack");
        assert_eq!(shell_quote("/opt/neo4j gw/x"), "'/opt/neo4j gw/x'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn each_client_gets_its_own_shape() {
        let t = target();
        let (cc, _) = render(Client::ClaudeCode, &t);
        assert_eq!(cc["mcpServers"]["neo4j"]["type"], "http");
        assert_eq!(
            cc["mcpServers"]["neo4j"]["headersHelper"],
            "'/opt/neo4j gw/neo4j-gw' --stack s token --headers"
        );
        let (vs, _) = render(Client::Vscode, &t);
        assert_eq!(
            vs["servers"]["neo4j"]["headers"]["Authorization"],
            "Bearer ${input:neo4j-gw-token}"
        );
        assert_eq!(vs["inputs"][0]["password"], true);
        let (cu, _) = render(Client::Cursor, &t);
        assert_eq!(
            cu["mcpServers"]["neo4j"]["headers"]["Authorization"],
            "Bearer ${env:NEO4J_GW_TOKEN}"
        );
        assert!(cu["mcpServers"]["neo4j"].get("type").is_none());
        let (cd, _) = render(Client::ClaudeDesktop, &t);
        let start = cd["mcpServers"]["neo4j"]["args"][1].as_str().unwrap();
        assert!(
            start.starts_with("AUTH_HEADER=\"Bearer $('/opt/neo4j gw/neo4j-gw' --stack s token)\" exec npx -y mcp-remote https://gw.example/mcp --header 'Authorization:${AUTH_HEADER}'"),
            "{start}"
        );
        let (js, notes) = render(Client::Json, &t);
        assert_eq!(js["transport"], "streamable-http");
        assert_eq!(js["token"]["lifetime_seconds"], 3600);
        assert_eq!(js["token"]["headers_command"][4], "--headers");
        assert!(notes[0].contains("60 minutes"));
    }
}
