//! The command-line surface (clap derive). Every setting flag is also a config-file key and a
//! `NEO4J_GW_<KEY>` environment variable; `crate::config` applies the precedence and validates.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Put the official Neo4j MCP server on AWS behind an Amazon Bedrock AgentCore Gateway with Cognito OAuth —
/// and take it down again — in one command.
#[derive(Debug, Parser)]
#[command(name = "neo4j-gw", version, propagate_version = true, args_override_self = true, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

pub const EXIT_CODES: &str = "\
Exit codes, and the commands that return each:
  0        ok (every command)
  1        failed: an AWS error, a wait that ran out, the agent path or the Neo4j connection broken, an unusable
           state file (every command but completions)
  2        usage, configuration or pre-flight error, no AWS credentials, a refused replacement: nothing was changed
           (every command)
  3        something is missing, drifted or unhealthy (status), would change (plan, up --dry-run), a check failed
           (doctor)
  4        another run holds the stack's lock (up, down, rotate-origin)
  130/143  interrupted by SIGINT/SIGTERM; the state is saved (up, down, rotate-origin; the others just stop; logs
           --follow ends with 0 on Ctrl-C)
  141      standard output was closed by its reader, e.g. `| head`: ended quietly (every command that prints)";

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Stack name: 1–24 lowercase letters, digits and single hyphens, starting with a letter [default: neo4j-gw]
    #[arg(long, global = true, value_name = "NAME")]
    pub stack: Option<String>,
    /// TOML config file [default: neo4j-gw.toml in the working directory, when it exists]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory of the state files [default: state]
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<String>,
    /// AWS region [default: AWS_REGION, AWS_DEFAULT_REGION or the profile's region]
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// AWS profile
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// AWS endpoint URL, for emulators (AWS_ENDPOINT_URL is honoured too)
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// For emulators: the loopback stand-in of AWS's public endpoints (Cognito's token endpoint, the gateway URL),
    /// e.g. http://127.0.0.1:PORT as scripts/emulator/moto_server.py prints it. Public names are then never resolved.
    #[arg(long, global = true, value_name = "URL")]
    pub data_plane_endpoint: Option<String>,
    /// More output: -v progress details, -vv every AWS call (the call ledger), -vvv debug
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors and results
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// How many resources are worked on at once [default: 0, every resource whose dependencies are done]. Throttling
    /// is handled by the SDK's standard retry mode (backoff with jitter); 1 runs one resource at a time (the
    /// benchmark's sequential baseline)
    #[arg(
        long,
        global = true,
        value_name = "N",
        env = "NEO4J_GW_CONCURRENCY",
        default_value_t = 0
    )]
    pub concurrency: usize,
    /// Write a timeline of the run per resource (observe, create, update, delete, wait) with its critical path to
    /// FILE: .html or .svg to look at, .json to compare runs (up, down, status, plan)
    #[arg(long, global = true, value_name = "FILE")]
    pub timings: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or repair the whole stack, wait until it works, print the outputs
    Up(UpArgs),
    /// Show what exists, what is healthy, what drifted, and the outputs
    Status(StatusArgs),
    /// Remove everything the stack owns, in reverse order, and prove it is gone
    Down(DownArgs),
    /// Print an OAuth access token for the gateway (client-credentials grant against Cognito)
    Token(TokenArgs),
    /// List the gateway's tools as an agent sees them (token, initialize, tools/list through the gateway)
    Tools(ToolsArgs),
    /// Call one tool through the gateway, e.g. `call read-cypher --args '{"query":"RETURN 1 AS n"}'`
    Call(CallArgs),
    /// Replace the origin value (the origin lock's key) without a failed request
    RotateOrigin(RotateOriginArgs),
    /// Show what `up` (or `down`) would change, without changing anything; exit 3 when something would change
    Plan(PlanArgs),
    /// Check the setup and the deployed stack: PASS/WARN/FAIL per check, each with what to do; exit 3 on a FAIL
    Doctor(DoctorArgs),
    /// Show the logs of the MCP server tasks and the interceptor Lambda, merged by time, or the gateway's audit lines
    Logs(LogsArgs),
    /// Print an MCP client configuration for the gateway (Claude Code, Claude Desktop, VS Code, Cursor, JSON)
    Connect(ConnectArgs),
    /// Print a shell completion script (e.g. `neo4j-gw completions bash > /etc/bash_completion.d/neo4j-gw`)
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct ToolsArgs {
    /// Print each tool's name, description and input schema as JSON
    #[arg(long)]
    pub json: bool,
    /// The agent whose token to use (optional when the stack has one agent)
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub settings: SettingArgs,
    /// Print machine-readable JSON
    #[arg(long)]
    pub json: bool,
    /// OAuth token endpoint to use instead of the Cognito domain's (for emulators)
    #[arg(long, value_name = "URL")]
    pub token_endpoint: Option<String>,
    /// Once after the first `up` on an account: walk the agent's path method by method and answer, from the
    /// stack's own evidence (target status, the interceptor's and the server's logs, the gateway's answers), the
    /// questions docs/aws-behaviour.md leaves open. Creates and changes nothing
    #[arg(long)]
    pub agent_path: bool,
}

/// Whose logs `logs` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogSource {
    /// The MCP server's ECS tasks
    Server,
    /// The gateway's interceptor Lambda
    Interceptor,
    /// Both, merged by time
    All,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Which logs [default: all]
    #[arg(long, value_enum)]
    pub source: Option<LogSource>,
    /// The gateway's audit lines instead: one per tool call (time, agent, tool, outcome, duration, the arguments'
    /// hash), as a table; needs the state file
    #[arg(long, conflicts_with = "source")]
    pub audit: bool,
    /// With --audit: only the calls of this agent (a name the state file records, e.g. `default`)
    #[arg(long, value_name = "NAME", requires = "audit")]
    pub agent: Option<String>,
    /// From how long ago (10m, 2h, 1d) or from when (an RFC 3339 time)
    #[arg(long, default_value = "10m", value_name = "DURATION|TIME")]
    pub since: String,
    /// Keep printing new events until Ctrl-C
    #[arg(short, long)]
    pub follow: bool,
    /// One JSON object per event and line
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RotateOriginArgs {
    #[command(flatten)]
    pub settings: SettingArgs,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// The tool: `read-cypher` or `neo4j-mcp___read-cypher` (the target prefix is added when missing)
    pub tool: String,
    /// The tool's arguments as a JSON object
    #[arg(long, value_name = "JSON", conflicts_with = "args_file")]
    pub args: Option<String>,
    /// Read the arguments (a JSON object) from a file
    #[arg(long, value_name = "FILE")]
    pub args_file: Option<PathBuf>,
    /// Print the whole tool result as JSON
    #[arg(long)]
    pub json: bool,
    /// The agent whose token to use (optional when the stack has one agent)
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
}

/// The MCP clients `connect` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    /// Claude Code: `.mcp.json` with a headers helper that runs `neo4j-gw token`
    ClaudeCode,
    /// Claude Desktop: `claude_desktop_config.json` through the mcp-remote stdio bridge
    ClaudeDesktop,
    /// VS Code: `.vscode/mcp.json`, the token asked for as an input
    Vscode,
    /// Cursor: `.cursor/mcp.json`, the token from an environment variable
    Cursor,
    /// A client-neutral description: URL, transport, header, how to get and refresh the token
    Json,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The client to configure
    #[arg(long, value_enum, default_value = "json")]
    pub client: Client,
    /// The server's name in the client's configuration [default: the stack name]
    #[arg(long)]
    pub name: Option<String>,
    /// OAuth token endpoint the token helper should use instead of the Cognito domain's (for emulators)
    #[arg(long, value_name = "URL")]
    pub token_endpoint: Option<String>,
    /// The agent whose token the client uses (optional when the stack has one agent)
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub settings: SettingArgs,
    /// Read the Neo4j password from the first line of standard input (instead of NEO4J_PASSWORD)
    #[arg(long)]
    pub neo4j_password_stdin: bool,
    /// Skip the final check that lists the tools through the gateway as an agent would
    #[arg(long)]
    pub no_verify: bool,
    /// Only show what would change (the same as `neo4j-gw plan`); exit 3 when something would
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask before replacing resources (required for replacements when standard input is not a terminal)
    #[arg(short, long)]
    pub yes: bool,
    /// Print the outcome per resource and the outputs as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub settings: SettingArgs,
    /// Read the Neo4j password from the first line of standard input (instead of NEO4J_PASSWORD)
    #[arg(long)]
    pub neo4j_password_stdin: bool,
    /// Show what `down` would delete instead
    #[arg(long)]
    pub down: bool,
    /// Print machine-readable JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub settings: SettingArgs,
    /// Print machine-readable JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub settings: SettingArgs,
    /// Do not ask for confirmation (required when standard input is not a terminal)
    #[arg(short, long)]
    pub yes: bool,
    /// Print the outcome per resource as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Print access_token, token_type, expires_in, expires_at and scope as JSON
    #[arg(long)]
    pub json: bool,
    /// Print {"Authorization": "Bearer <token>"}: the output a client's headers helper expects
    #[arg(long, conflicts_with = "json")]
    pub headers: bool,
    /// OAuth token endpoint to use instead of the Cognito domain's (for emulators)
    #[arg(long, value_name = "URL")]
    pub token_endpoint: Option<String>,
    /// The agent whose token to use (optional when the stack has one agent)
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
}

/// The deployment settings, shared by `up`, `status` and `down`.
#[derive(Debug, Args, Default)]
pub struct SettingArgs {
    /// Apex domain of an existing public Route53 hosted zone (required by `up`)
    #[arg(long, help_heading = "Deployment")]
    pub domain_name: Option<String>,
    /// ARN of an ISSUED ACM certificate in the stack's region covering the FQDN (required by `up`)
    #[arg(long, help_heading = "Deployment")]
    pub certificate_arn: Option<String>,
    /// Subdomain of the MCP server: <subdomain>.<domain-name> [default: mcp]
    #[arg(long, help_heading = "Deployment")]
    pub subdomain: Option<String>,
    /// Comma-separated CIDRs allowed to reach the ALB on 443 [default: 0.0.0.0/0]
    #[arg(long, help_heading = "Deployment")]
    pub allowed_cidrs: Option<String>,
    /// Only requests that came through the gateway reach the MCP server: the load balancer answers 403 unless a
    /// request carries the stack's origin secret, which the gateway adds (its origin key) [default: true]
    #[arg(long, help_heading = "Deployment", value_name = "BOOL")]
    pub origin_lock: Option<String>,
    /// Neo4j URI (neo4j, neo4j+s, neo4j+ssc, bolt, bolt+s, bolt+ssc) [default: the public demo database]
    #[arg(long, help_heading = "Neo4j")]
    pub neo4j_uri: Option<String>,
    /// Neo4j database [default: companies]
    #[arg(long, help_heading = "Neo4j")]
    pub neo4j_database: Option<String>,
    /// Neo4j user name [default: companies]
    #[arg(long, help_heading = "Neo4j")]
    pub neo4j_username: Option<String>,
    /// Container image [default: neo4j/mcp:v1.5.3, the Neo4j-published release]
    #[arg(long, help_heading = "Container")]
    pub image: Option<String>,
    /// Expose only read tools [default: true]
    #[arg(long, help_heading = "Container", value_name = "BOOL")]
    pub read_only: Option<String>,
    /// Fargate CPU units [default: 256]
    #[arg(long, help_heading = "Container")]
    pub cpu: Option<String>,
    /// Fargate memory in MiB [default: 1024]
    #[arg(long, help_heading = "Container")]
    pub memory: Option<String>,
    /// arm64 or x86_64 [default: arm64]
    #[arg(long, help_heading = "Container")]
    pub architecture: Option<String>,
    /// Number of tasks [default: 1]
    #[arg(long, help_heading = "Container")]
    pub desired_count: Option<String>,
    /// Target-group health-check path [default: /healthz]
    #[arg(long, help_heading = "Container")]
    pub health_check_path: Option<String>,
    /// Retention of the log groups in days [default: 30]
    #[arg(long, help_heading = "Container")]
    pub log_retention_days: Option<String>,
    /// Upper bound of every wait, in seconds [default: 900]
    #[arg(long, help_heading = "Deployment", value_name = "SECONDS")]
    pub wait_timeout: Option<String>,
    /// Cognito hosted-domain prefix [default: <stack>-<account>-<region>]
    #[arg(long, help_heading = "Identity")]
    pub cognito_domain_prefix: Option<String>,
    /// Cognito resource-server identifier [default: neo4j-mcp-gateway]
    #[arg(long, help_heading = "Identity")]
    pub resource_server_id: Option<String>,
    /// OAuth scope name [default: invoke]
    #[arg(long, help_heading = "Identity")]
    pub scope: Option<String>,
    /// Access-token validity in minutes [default: 60]
    #[arg(long, help_heading = "Identity")]
    pub token_validity_minutes: Option<String>,
    /// Header the interceptor puts the Neo4j Basic credentials in [default: X-Neo4j-Authorization]
    #[arg(long, help_heading = "Gateway")]
    pub auth_header: Option<String>,
    /// Seconds the interceptor caches the Neo4j credentials [default: 300]
    #[arg(long, help_heading = "Gateway", value_name = "SECONDS")]
    pub secret_cache_ttl: Option<String>,
    /// Comma-separated MCP protocol versions of the gateway [default: 2025-03-26,2025-06-18]
    #[arg(long, help_heading = "Gateway")]
    pub protocol_versions: Option<String>,
    /// Name of the gateway target [default: neo4j-mcp]
    #[arg(long, help_heading = "Gateway")]
    pub target_name: Option<String>,
    /// The gateway returns granular error messages (exceptionLevel DEBUG) instead of a generic one — for bring-up;
    /// `--gateway-debug false` turns it off again [default: false]
    #[arg(long, help_heading = "Gateway", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub gateway_debug: Option<String>,
    /// The agents, each with its own app client and access level, as name:access pairs (read: get-schema and
    /// read-cypher; write: also write-cypher), e.g. reader:read,writer:write; in the config file `[agents.<name>]`
    /// tables with `access` [default: default:read]
    #[arg(long, help_heading = "Identity", value_name = "NAME:ACCESS,...")]
    pub agents: Option<String>,
}

impl GlobalArgs {
    pub fn flags(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                m.insert(k.to_owned(), v.clone());
            }
        };
        put("stack", &self.stack);
        put("state_dir", &self.state_dir);
        put("region", &self.region);
        put("profile", &self.profile);
        put("endpoint_url", &self.endpoint_url);
        put("data_plane_endpoint", &self.data_plane_endpoint);
        m
    }
}

impl SettingArgs {
    pub fn flags(&self) -> BTreeMap<String, String> {
        let pairs: [(&str, &Option<String>); 27] = [
            ("domain_name", &self.domain_name),
            ("certificate_arn", &self.certificate_arn),
            ("subdomain", &self.subdomain),
            ("allowed_cidrs", &self.allowed_cidrs),
            ("origin_lock", &self.origin_lock),
            ("neo4j_uri", &self.neo4j_uri),
            ("neo4j_database", &self.neo4j_database),
            ("neo4j_username", &self.neo4j_username),
            ("image", &self.image),
            ("read_only", &self.read_only),
            ("cpu", &self.cpu),
            ("memory", &self.memory),
            ("architecture", &self.architecture),
            ("desired_count", &self.desired_count),
            ("health_check_path", &self.health_check_path),
            ("log_retention_days", &self.log_retention_days),
            ("wait_timeout", &self.wait_timeout),
            ("cognito_domain_prefix", &self.cognito_domain_prefix),
            ("resource_server_id", &self.resource_server_id),
            ("scope", &self.scope),
            ("token_validity_minutes", &self.token_validity_minutes),
            ("auth_header", &self.auth_header),
            ("secret_cache_ttl", &self.secret_cache_ttl),
            ("gateway_debug", &self.gateway_debug),
            ("protocol_versions", &self.protocol_versions),
            ("target_name", &self.target_name),
            ("agents", &self.agents),
        ];
        pairs
            .into_iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.to_owned(), v)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::config::KEYS;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn logs_audit_refuses_source_and_agent_needs_audit() {
        use clap::Parser;
        use clap::error::ErrorKind;
        let parse = |args: &[&str]| Cli::try_parse_from([&["neo4j-gw", "logs"], args].concat());
        let Command::Logs(a) = parse(&["--audit", "--agent", "read", "--follow", "--json"])
            .unwrap()
            .command
        else {
            panic!("not logs");
        };
        assert!(a.audit && a.follow && a.json && a.source.is_none());
        assert_eq!(a.agent.as_deref(), Some("read"));
        let e = parse(&["--audit", "--source", "server"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ArgumentConflict);
        assert_eq!(e.exit_code(), 2);
        let e = parse(&["--agent", "read"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument);
        assert_eq!(e.exit_code(), 2);
        assert!(parse(&["--source", "server"]).is_ok());
    }

    #[test]
    fn every_config_key_has_a_flag() {
        let cmd = Cli::command();
        let up = cmd.find_subcommand("up").unwrap();
        let token = cmd.find_subcommand("token").unwrap();
        for (key, _) in KEYS {
            let long = key.replace('_', "-");
            let has = up
                .get_arguments()
                .chain(cmd.get_arguments())
                .chain(token.get_arguments())
                .any(|a| a.get_long() == Some(long.as_str()));
            assert!(has, "config key {key} has no --{long} flag");
        }
    }
}
