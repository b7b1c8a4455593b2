//! Settings: every key is a command-line flag, a key in the TOML config file and an environment variable
//! `NEO4J_GW_<KEY>`. Precedence: flag > environment > file > the value recorded by the last `up` > default.
//!
//! Everything here is pure: resolving and validating settings never talks to AWS, so a bad value is
//! reported (exit 2) before a single request is made.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

/// Where a setting's value came from; used to name it in error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Flag,
    Env,
    File(PathBuf),
    Recorded,
    Default,
}

/// The keys this tool knows, with their defaults. A key without a default is unset unless given.
pub const KEYS: &[(&str, Option<&str>)] = &[
    // global
    ("stack", Some("neo4j-gw")),
    ("state_dir", Some("state")),
    ("region", None),
    ("profile", None),
    ("endpoint_url", None),
    ("data_plane_endpoint", None),
    // domain and network
    ("domain_name", None),
    ("certificate_arn", None),
    ("subdomain", Some("mcp")),
    ("allowed_cidrs", Some("0.0.0.0/0")),
    ("origin_lock", Some("true")),
    // Neo4j and the container
    ("neo4j_uri", Some(DEMO_URI)),
    ("neo4j_database", Some("companies")),
    ("neo4j_username", Some("companies")),
    ("image", Some(DEFAULT_IMAGE)),
    ("read_only", Some("true")),
    ("cpu", Some("256")),
    ("memory", Some("1024")),
    ("architecture", Some("arm64")),
    ("desired_count", Some("1")),
    ("health_check_path", Some("/healthz")),
    ("log_retention_days", Some("30")),
    ("wait_timeout", Some("900")),
    // identity and gateway
    ("cognito_domain_prefix", None),
    ("resource_server_id", Some("neo4j-mcp-gateway")),
    ("scope", Some("invoke")),
    ("token_validity_minutes", Some("60")),
    ("auth_header", Some(DEFAULT_AUTH_HEADER)),
    ("secret_cache_ttl", Some("300")),
    ("protocol_versions", Some("2025-03-26,2025-06-18")),
    ("target_name", Some("neo4j-mcp")),
    ("token_endpoint", None),
    ("gateway_debug", Some("false")),
    // agents: `name:access,…`; in the config file an `[agents.<name>]` table with `access`
    ("agents", Some("default:read")),
];

/// Keys that describe the deployment (recorded in the state file by `up`, used by `status` and `down`).
pub const RECORDED_KEYS: &[&str] = &[
    "domain_name",
    "certificate_arn",
    "subdomain",
    "allowed_cidrs",
    "origin_lock",
    "neo4j_uri",
    "neo4j_database",
    "neo4j_username",
    "image",
    "read_only",
    "cpu",
    "memory",
    "architecture",
    "desired_count",
    "health_check_path",
    "log_retention_days",
    "wait_timeout",
    "cognito_domain_prefix",
    "resource_server_id",
    "scope",
    "token_validity_minutes",
    "auth_header",
    "secret_cache_ttl",
    "gateway_debug",
    "protocol_versions",
    "target_name",
    "token_endpoint",
    "agents",
];

pub const DEMO_URI: &str = "neo4j+s://demo.neo4jlabs.com:7687";
/// The Neo4j MCP server as Neo4j publishes it (github neo4j/mcp `.github/workflows/docker-release.yml` pushes
/// `neo4j/mcp:<changie version>`, i.e. `v1.5.3`); `mcp/neo4j` is Docker's catalog build of neo4j/mcp's main
/// branch, not a release (docs/aws-behaviour.md, "The image").
pub const DEFAULT_IMAGE: &str = "neo4j/mcp:v1.5.3";
/// The header the interceptor puts the Neo4j credentials in. The AgentCore guide ("Header propagation with
/// Gateway") says an `Authorization` header set by an interceptor *is* forwarded to the target; a custom header
/// works under that reading and under any other (it only has to be allow-listed on the target), and neo4j-mcp ≥
/// 1.4.0 reads the credentials from the header named by `NEO4J_HTTP_AUTH_HEADER_NAME` (docs/aws-behaviour.md,
/// point 2).
pub const DEFAULT_AUTH_HEADER: &str = "X-Neo4j-Authorization";
pub const DEMO_PASSWORD: &str = "companies";
pub const DEFAULT_CONFIG_FILE: &str = "neo4j-gw.toml";

/// A warning when `allowed_cidrs` shuts the gateway out: AgentCore publishes no address ranges for the gateway's
/// requests to its targets (no AgentCore entry in AWS's ip-ranges.json; docs/aws-behaviour.md, point 6), so only a
/// rule open to the whole internet lets them reach the load balancer.
pub fn allowed_cidrs_warning(s: &Settings) -> Option<String> {
    let open = s.allowed_cidrs.iter().any(|c| c == "0.0.0.0/0");
    (!open).then(|| {
        format!(
            "allowed_cidrs is {}: the load balancer admits only these addresses on 443, but AgentCore publishes no address ranges for the gateway's requests to the MCP server, so the gateway will not reach it (its requests time out). Keep 0.0.0.0/0 unless the server is meant for other clients only",
            s.allowed_cidrs.join(",")
        )
    })
}

/// The environment variable of a key.
pub fn env_var(key: &str) -> String {
    format!("NEO4J_GW_{}", key.to_ascii_uppercase())
}

/// The `NEO4J_GW_*` environment variables that are not settings: read by the binary (`--concurrency`, the call
/// ledger, doctor's DNS resolver, `connect`'s token for clients that read one) or by the repository's scripts and
/// test suites (the binary under test, the virtualenv, the reliability runs).
pub const OTHER_ENV_VARS: &[&str] = &[
    "NEO4J_GW_CONCURRENCY",
    "NEO4J_GW_CALL_LOG",
    "NEO4J_GW_DNS_RESOLVER",
    "NEO4J_GW_TOKEN",
    "NEO4J_GW_BIN",
    "NEO4J_GW_VENV",
    "NEO4J_GW_CRASH_STRIDE",
    "NEO4J_GW_CRASH_KS",
    "NEO4J_GW_FAULT_SEEDS",
    "NEO4J_GW_RELIABILITY_SUITE",
    "NEO4J_GW_RELIABILITY_LOG",
    "NEO4J_GW_RELIABILITY_REPORT",
];

/// A warning per `NEO4J_GW_*` variable among `names` that neo4j-gw does not read (a misspelt setting would otherwise
/// be ignored without a word), naming the closest known one. Never the value: it may be a secret put in the wrong
/// place.
pub fn unknown_env_vars(names: impl Iterator<Item = std::ffi::OsString>) -> Vec<String> {
    let known: Vec<String> = KEYS
        .iter()
        .map(|(k, _)| env_var(k))
        .chain(OTHER_ENV_VARS.iter().map(|v| (*v).to_owned()))
        .collect();
    let mut out = Vec::new();
    for name in names {
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with("NEO4J_GW_") || known.iter().any(|k| k == name) {
            continue;
        }
        let closest = known
            .iter()
            .map(|k| (edit_distance(k, name), k))
            .min()
            .filter(|(d, _)| *d <= 3)
            .map(|(_, k)| format!(" (did you mean {k}?)"))
            .unwrap_or_default();
        out.push(format!(
            "the environment variable {name} is not one neo4j-gw reads{closest}; it is ignored (the \
             settings and their variables are listed in the README)"
        ));
    }
    out.sort();
    out
}

/// Levenshtein distance (for suggestions only).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Line and column (1-based, in characters) of a byte offset in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    (line, column)
}

/// How to name a key to the operator, given where its value came from.
fn describe(key: &str, origin: &Origin) -> String {
    match origin {
        Origin::Flag | Origin::Default => format!("--{}", key.replace('_', "-")),
        Origin::Env => env_var(key),
        Origin::File(path) => format!("{key} (in {})", path.display()),
        Origin::Recorded => format!("{key} (recorded in the state file by the last `up`)"),
    }
}

/// The raw, unvalidated values of every layer.
#[derive(Debug, Default, Clone)]
pub struct Layers {
    pub flags: BTreeMap<String, String>,
    pub env: BTreeMap<String, String>,
    pub file: BTreeMap<String, String>,
    pub file_path: Option<PathBuf>,
    pub recorded: BTreeMap<String, String>,
}

impl Layers {
    /// Reads `NEO4J_GW_<KEY>` for every key from the given environment.
    pub fn read_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        for (key, _) in KEYS {
            if let Some(v) = env(&env_var(key)) {
                self.env.insert((*key).to_owned(), v);
            }
        }
    }

    /// Loads the TOML config file. `explicit` is true when the operator named it (then it must exist).
    pub fn read_file(&mut self, path: &Path, explicit: bool) -> Result<()> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(Error::usage(
                    "--config",
                    format!("cannot read {}: {e}", path.display()),
                ));
            }
        };
        self.file = parse_toml(&text)
            .map_err(|m| Error::usage("--config", format!("{}: {m}", path.display())))?;
        self.file_path = Some(path.to_owned());
        Ok(())
    }

    /// The value of a key and where it came from.
    pub fn get(&self, key: &str) -> Option<(String, Origin)> {
        if let Some(v) = self.flags.get(key) {
            return Some((v.clone(), Origin::Flag));
        }
        if let Some(v) = self.env.get(key) {
            return Some((v.clone(), Origin::Env));
        }
        if let Some(v) = self.file.get(key) {
            return Some((
                v.clone(),
                Origin::File(self.file_path.clone().unwrap_or_default()),
            ));
        }
        if let Some(v) = self.recorded.get(key) {
            return Some((v.clone(), Origin::Recorded));
        }
        KEYS.iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, d)| d.map(|d| (d.to_owned(), Origin::Default)))
    }
}

/// Parses the config file into key → string value. Unknown keys, secrets and nested tables are errors.
fn parse_toml(text: &str) -> std::result::Result<BTreeMap<String, String>, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let m = e.message().trim().to_owned();
        match e.span() {
            Some(span) => {
                let (line, column) = line_column(text, span.start);
                format!("not valid TOML at line {line}, column {column}: {m}")
            }
            None => format!("not valid TOML: {m}"),
        }
    })?;
    let mut out = BTreeMap::new();
    for (key, value) in table {
        if key.contains("password") || key.ends_with("secret") {
            return Err(format!(
                "key `{key}`: secrets are not read from the config file; set NEO4J_PASSWORD or use --neo4j-password-stdin"
            ));
        }
        if !KEYS.iter().any(|(k, _)| *k == key) {
            return Err(format!(
                "unknown key `{key}` (known keys are listed in the README)"
            ));
        }
        let text = match value {
            toml::Value::Table(agents) if key == "agents" => agents_from_toml(agents)?,
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s),
                    other => Err(format!(
                        "key `{key}`: list items must be strings, found {other}"
                    )),
                })
                .collect::<std::result::Result<Vec<_>, _>>()?
                .join(","),
            other => {
                return Err(format!(
                    "key `{key}`: expected a string, number, boolean or list, found {other}"
                ));
            }
        };
        out.insert(key, text);
    }
    Ok(out)
}

/// The `[agents.<name>]` tables of the config file as the key's one-line form `name:access,…`. Each table takes
/// `access` ("read" or "write"); names and values are checked with the other settings (`parse_agents`).
fn agents_from_toml(agents: toml::Table) -> std::result::Result<String, String> {
    let mut out = Vec::new();
    for (name, table) in agents {
        let toml::Value::Table(table) = table else {
            return Err(format!(
                "key `agents.{name}`: expected a table such as [agents.{name}] with access = \"read\""
            ));
        };
        let mut access = None;
        for (k, v) in table {
            if k.contains("password") || k.ends_with("secret") {
                return Err(format!(
                    "key `agents.{name}.{k}`: secrets are not read from the config file"
                ));
            }
            match (k.as_str(), v) {
                ("access", toml::Value::String(a)) => access = Some(a),
                ("access", other) => {
                    return Err(format!(
                        "key `agents.{name}.access`: expected \"read\" or \"write\", found {other}"
                    ));
                }
                _ => {
                    return Err(format!(
                        "unknown key `agents.{name}.{k}` (an agent takes `access`)"
                    ));
                }
            }
        }
        let access = access.ok_or_else(|| {
            format!("key `agents.{name}`: `access` is required (\"read\" or \"write\")")
        })?;
        out.push(format!("{name}:{access}"));
    }
    if out.is_empty() {
        return Err(
            "key `agents`: the table lists no agent (omit it for the one agent `default`)".into(),
        );
    }
    Ok(out.join(","))
}

/// An agent's access level: which of the server's tools its tokens may list and call (enforced by the gateway's
/// policy engine, docs/aws-behaviour.md "Agents' rights at the gateway").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    Read,
    Write,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }

    /// The tools this level adds to the ones below it (`write` also has every `read` tool).
    pub fn tools(self) -> &'static [&'static str] {
        match self {
            Access::Read => &["get-schema", "read-cypher"],
            Access::Write => &["write-cypher"],
        }
    }

    /// The resource server's scope that grants this level (`<resource server>/<scope>`).
    pub fn scope(self) -> &'static str {
        self.as_str()
    }

    /// Every level this one includes, lowest first.
    pub fn levels(self) -> &'static [Access] {
        match self {
            Access::Read => &[Access::Read],
            Access::Write => &[Access::Read, Access::Write],
        }
    }

    /// The level that grants `tool` (a tool name without the target prefix), if any does.
    pub fn needed_for(tool: &str) -> Option<Access> {
        [Access::Read, Access::Write]
            .into_iter()
            .find(|a| a.tools().contains(&tool))
    }

    fn parse(v: &str) -> V<Access> {
        match v {
            "read" => Ok(Access::Read),
            "write" => Ok(Access::Write),
            _ => Err(format!("`{v}` is not an access level: use read or write")),
        }
    }
}

/// The agent that stacks deployed before agents existed have (their app client is adopted as its client).
pub const DEFAULT_AGENT: &str = "default";

/// Parses `name:access,…`: names by the stack-name rule, each once, at least one.
pub fn parse_agents(v: &str) -> V<BTreeMap<String, Access>> {
    let mut out = BTreeMap::new();
    for item in split_list(v) {
        let (name, access) = item.split_once(':').ok_or_else(|| {
            format!("`{item}` is not name:access (e.g. reader:read,writer:write)")
        })?;
        let name = name.trim();
        validate_stack(name).map_err(|m| format!("agent name {m}"))?;
        let access = Access::parse(access.trim()).map_err(|m| format!("agent {name}: {m}"))?;
        if out.insert(name.to_owned(), access).is_some() {
            return Err(format!("agent `{name}` is listed twice"));
        }
    }
    if out.is_empty() {
        return Err("must list at least one agent (e.g. default:read)".into());
    }
    Ok(out)
}

/// A secret value: never printed, never serialized.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What the command needs of the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `up`: the domain and certificate are required; the password is resolved.
    Up,
    /// `status`, `down`, `token`: everything is optional; recorded values fill in.
    Inspect,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub stack: String,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    /// For emulators: the loopback stand-in of AWS's public endpoints (see `crate::reach`).
    pub data_plane_endpoint: Option<String>,
    pub domain_name: Option<String>,
    pub certificate_arn: Option<String>,
    pub subdomain: String,
    pub allowed_cidrs: Vec<String>,
    /// Only requests that went through the gateway (carrying the origin header) reach the server.
    pub origin_lock: bool,
    pub neo4j_uri: String,
    pub neo4j_database: String,
    pub neo4j_username: String,
    /// Known only when given (environment or stdin) or implied by the demo URI.
    pub neo4j_password: Option<Secret>,
    pub image: String,
    pub read_only: bool,
    pub cpu: u32,
    pub memory: u32,
    pub architecture: Architecture,
    pub desired_count: u32,
    pub health_check_path: String,
    pub log_retention_days: i32,
    pub wait_timeout: Duration,
    pub cognito_domain_prefix: Option<String>,
    pub resource_server_id: String,
    pub scope: String,
    pub token_validity_minutes: i32,
    pub auth_header: String,
    pub secret_cache_ttl: u32,
    /// The gateway's `exceptionLevel` = `DEBUG`: AgentCore returns granular error messages instead of a generic
    /// one (for bring-up; off by default). docs/aws-behaviour.md, "The gateway's exception level".
    pub gateway_debug: bool,
    pub protocol_versions: Vec<String>,
    pub target_name: String,
    pub token_endpoint: Option<String>,
    /// The agents and their access levels (at least one; `default:read` unless configured).
    pub agents: BTreeMap<String, Access>,
    /// The raw non-secret values of the recorded keys, for the state file.
    pub recorded: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Arm64,
    X86_64,
}

impl Settings {
    /// `NEO4J_READ_ONLY` of the server: true unless some agent has write access (or `read_only = false`).
    pub fn server_read_only(&self) -> bool {
        self.read_only && !self.agents.values().any(|a| *a == Access::Write)
    }

    /// The access level of an agent the configuration names.
    pub fn access_of(&self, agent: &str) -> Option<Access> {
        self.agents.get(agent).copied()
    }
}

impl Architecture {
    pub fn ecs_name(self) -> &'static str {
        match self {
            Architecture::Arm64 => "ARM64",
            Architecture::X86_64 => "X86_64",
        }
    }
}

/// Where the password comes from.
pub enum PasswordSource {
    /// `NEO4J_PASSWORD`, if set.
    Env(Option<String>),
    /// `--neo4j-password-stdin`: the first line of standard input.
    Stdin(String),
}

/// Resolves and validates every setting.
pub fn resolve(layers: &Layers, purpose: Purpose, password: PasswordSource) -> Result<Settings> {
    let r = Resolver { layers };
    let stack = r.required("stack", |v| validate_stack(v).map(|_| v.to_owned()))?;
    let region = r.optional("region", |v| validate_region(v).map(|_| v.to_owned()))?;
    let domain_name = r.optional("domain_name", validate_domain)?;
    let subdomain = r.required("subdomain", validate_subdomain)?;
    let certificate_arn = r.optional("certificate_arn", |v| {
        validate_certificate_arn(v, region.as_deref())
    })?;
    if purpose == Purpose::Up {
        if domain_name.is_none() {
            return Err(Error::usage(
                "--domain-name",
                "is required (the apex of an existing public Route53 hosted zone, e.g. example.com)",
            ));
        }
        if certificate_arn.is_none() {
            return Err(Error::usage(
                "--certificate-arn",
                "is required (an ISSUED ACM certificate in the stack's region covering the FQDN)",
            ));
        }
    }
    if let (Some(d), Some(_)) = (&domain_name, &certificate_arn) {
        let fqdn = format!("{subdomain}.{d}");
        if fqdn.len() > 253 {
            return Err(Error::usage(
                "--subdomain",
                format!("{fqdn} is longer than 253 characters"),
            ));
        }
    }
    let neo4j_uri = r.required("neo4j_uri", |v| validate_neo4j_uri(v).map(|_| v.to_owned()))?;
    let neo4j_password = match password {
        PasswordSource::Stdin(p) if p.is_empty() => {
            return Err(Error::usage(
                "--neo4j-password-stdin",
                "standard input held no password",
            ));
        }
        PasswordSource::Stdin(p) => Some(Secret::new(p)),
        PasswordSource::Env(Some(p)) if !p.is_empty() => Some(Secret::new(p)),
        // Not given: the secret keeps the password it has (see `password_needed` for when one is required, and
        // `resources::secret` for the demo database's password, which is written only when the secret is made).
        PasswordSource::Env(_) => None,
    };
    let cpu = r.required("cpu", |v| {
        let cpu = parse_num::<u32>(v)?;
        validate_fargate_size(cpu, 0)
            .or_else(|m| if m.contains("memory") { Ok(()) } else { Err(m) })?;
        Ok(cpu)
    })?;
    let memory = r.required("memory", parse_num::<u32>)?;
    validate_fargate_size(cpu, memory).map_err(|m| r.error("memory", m))?;
    let allowed_cidrs = r.required("allowed_cidrs", |v| {
        let list = split_list(v);
        if list.is_empty() {
            return Err("needs at least one CIDR".into());
        }
        for c in &list {
            validate_cidr(c)?;
        }
        Ok(list)
    })?;
    r.required("state_dir", non_empty)?;
    r.required("scope", |v| {
        if [Access::Read, Access::Write].iter().any(|a| a.scope() == v) {
            Err(format!(
                "`{v}` is the scope of the agents' `{v}` access level: choose another name for the gateway's scope (default invoke)"
            ))
        } else {
            Ok(())
        }
    })?;
    let settings = Settings {
        stack,
        region,
        profile: r.optional("profile", non_empty)?,
        endpoint_url: r.optional("endpoint_url", validate_url)?,
        data_plane_endpoint: r.optional("data_plane_endpoint", |v| {
            crate::reach::loopback_addr(v).map(|_| v.to_owned())
        })?,
        domain_name,
        certificate_arn,
        subdomain,
        allowed_cidrs,
        neo4j_uri,
        neo4j_database: r.required("neo4j_database", |v| validate_simple_name(v, 63))?,
        neo4j_username: r.required("neo4j_username", non_empty)?,
        neo4j_password,
        image: r.required("image", validate_image)?,
        read_only: r.required("read_only", parse_bool)?,
        origin_lock: r.required("origin_lock", parse_bool)?,
        cpu,
        memory,
        architecture: r.required("architecture", |v| match v.to_ascii_lowercase().as_str() {
            "arm64" => Ok(Architecture::Arm64),
            "x86_64" | "amd64" => Ok(Architecture::X86_64),
            _ => Err("must be arm64 or x86_64".into()),
        })?,
        desired_count: r.required("desired_count", |v| parse_range::<u32>(v, 0, 100))?,
        health_check_path: r.required("health_check_path", |v| {
            if v.starts_with('/') && v.len() <= 1024 && !v.contains(char::is_whitespace) {
                Ok(v.to_owned())
            } else {
                Err("must be a path starting with / (e.g. /healthz)".into())
            }
        })?,
        log_retention_days: r.required("log_retention_days", |v| {
            let d = parse_num::<i32>(v)?;
            const ALLOWED: &[i32] = &[
                1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                2557, 2922, 3288, 3653,
            ];
            if ALLOWED.contains(&d) {
                Ok(d)
            } else {
                Err(format!("must be one of CloudWatch's values {ALLOWED:?}"))
            }
        })?,
        wait_timeout: r.required("wait_timeout", |v| {
            parse_range::<u64>(v, 1, 24 * 3600).map(Duration::from_secs)
        })?,
        cognito_domain_prefix: r.optional("cognito_domain_prefix", |v| {
            validate_domain_prefix(v).map(|_| v.to_owned())
        })?,
        resource_server_id: r.required("resource_server_id", |v| validate_simple_name(v, 256))?,
        scope: r.required("scope", |v| validate_simple_name(v, 256))?,
        token_validity_minutes: r
            .required("token_validity_minutes", |v| parse_range::<i32>(v, 5, 1440))?,
        auth_header: r.required("auth_header", validate_auth_header)?,
        secret_cache_ttl: r.required("secret_cache_ttl", |v| parse_range::<u32>(v, 0, 3600))?,
        gateway_debug: r.required("gateway_debug", parse_bool)?,
        protocol_versions: r.required("protocol_versions", |v| {
            let list = split_list(v);
            match list
                .iter()
                .find(|p| !PROTOCOL_VERSIONS.contains(&p.as_str()))
            {
                _ if list.is_empty() => Err(format!(
                    "must list MCP protocol versions, from {}",
                    PROTOCOL_VERSIONS.join(", ")
                )),
                Some(bad) => Err(format!(
                    "`{bad}` is not an MCP protocol version the gateway supports; use {}",
                    PROTOCOL_VERSIONS.join(", ")
                )),
                None => Ok(list),
            }
        })?,
        target_name: r.required("target_name", |v| {
            validate_agentcore_name(v, 100).map(|_| v.to_owned())
        })?,
        token_endpoint: r.optional("token_endpoint", validate_url)?,
        agents: r.required("agents", parse_agents)?,
        recorded: RECORDED_KEYS
            .iter()
            .filter_map(|k| {
                layers
                    .get(k)
                    .filter(|(_, o)| *o != Origin::Default)
                    .map(|(v, _)| ((*k).to_owned(), v))
            })
            .collect(),
    };
    // The server's one global switch follows the agents: write tools are registered only when some agent may call
    // them. An explicit `read_only = true` with such an agent is a contradiction, not a silent override.
    if let Some((writer, _)) = settings.agents.iter().find(|(_, a)| **a == Access::Write)
        && settings.read_only
        && layers
            .get("read_only")
            .is_some_and(|(_, o)| o != Origin::Default)
    {
        return Err(r.error(
            "read_only",
            format!(
                "is true, but agent `{writer}` has write access, which needs the server's write tools: drop read_only (it follows the agents) or give {writer} read access"
            ),
        ));
    }
    Ok(settings)
}

struct Resolver<'a> {
    layers: &'a Layers,
}

impl Resolver<'_> {
    fn error(&self, key: &str, message: String) -> Error {
        let origin = self
            .layers
            .get(key)
            .map(|(_, o)| o)
            .unwrap_or(Origin::Default);
        Error::usage(describe(key, &origin), message)
    }

    fn required<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> std::result::Result<T, String>,
    ) -> Result<T> {
        match self.layers.get(key) {
            Some((v, origin)) => {
                parse(v.trim()).map_err(|m| Error::usage(describe(key, &origin), m))
            }
            None => Err(Error::usage(describe(key, &Origin::Flag), "is required")),
        }
    }

    fn optional<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> std::result::Result<T, String>,
    ) -> Result<Option<T>> {
        match self.layers.get(key) {
            Some((v, _)) if v.trim().is_empty() => Ok(None),
            Some((v, origin)) => parse(v.trim())
                .map(Some)
                .map_err(|m| Error::usage(describe(key, &origin), m)),
            None => Ok(None),
        }
    }
}

type V<T> = std::result::Result<T, String>;

fn non_empty(v: &str) -> V<String> {
    if v.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(v.to_owned())
    }
}

fn parse_num<T: std::str::FromStr>(v: &str) -> V<T> {
    v.parse::<T>()
        .map_err(|_| format!("`{v}` is not a valid number"))
}

fn parse_range<T: std::str::FromStr + PartialOrd + fmt::Display + Copy>(
    v: &str,
    min: T,
    max: T,
) -> V<T> {
    let n = parse_num::<T>(v)?;
    if n < min || n > max {
        Err(format!("{n} is out of range ({min}–{max})"))
    } else {
        Ok(n)
    }
}

fn parse_bool(v: &str) -> V<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Ok(true),
        "false" | "no" | "0" | "off" => Ok(false),
        _ => Err(format!("`{v}` is not true or false")),
    }
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The MCP protocol versions the gateway can be configured with (docs/aws-behaviour.md, point 6).
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"];

/// The restricted headers of the AgentCore developer guide's "Header propagation with Gateway" (its table, the
/// `X-Amzn-` rule), with neo4j-gw's stricter prefixes and MCP's transport headers: the ONE copy, shared with the
/// gateway stand-in (`scripts/emulator/dataplane/gateway.py`), with its source inside (docs/aws-behaviour.md, point 2).
pub const RESTRICTED_HEADERS_JSON: &str = include_str!("../data/agentcore-restricted-headers.json");

/// The restricted-header list, read from [`RESTRICTED_HEADERS_JSON`].
pub struct RestrictedHeaders {
    /// Lower-case exact names: the guide's table and MCP's transport headers.
    pub names: Vec<String>,
    /// Lower-case prefixes: the guide's `X-Amzn-` and neo4j-gw's stricter families.
    pub prefixes: Vec<String>,
    /// Lower-case prefix excepted from the guide's `X-Amzn-` rule.
    pub except: String,
}

pub fn restricted_headers() -> &'static RestrictedHeaders {
    static LIST: std::sync::LazyLock<RestrictedHeaders> = std::sync::LazyLock::new(|| {
        let doc: serde_json::Value = serde_json::from_str(RESTRICTED_HEADERS_JSON)
            .expect("the embedded header list is JSON");
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str())
                        .map(str::to_ascii_lowercase)
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut names = strings(&doc["guide_table"]);
        names.extend(strings(&doc["project_names"]["names"]));
        let mut prefixes = strings(&doc["project_prefixes"]["prefixes"]);
        prefixes.extend(
            doc["guide_prefix"]["prefix"]
                .as_str()
                .map(str::to_ascii_lowercase),
        );
        let except = doc["guide_prefix"]["except"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        RestrictedHeaders {
            names,
            prefixes,
            except,
        }
    });
    &LIST
}

/// True for a header name the gateway will not pass from the interceptor to the target. `Authorization` is not
/// one here: it cannot be allow-listed, but the guide says it *is* forwarded when the interceptor sets it
/// (docs/aws-behaviour.md, point 2).
pub fn reserved_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    if n == "authorization" {
        return false;
    }
    let list = restricted_headers();
    let excepted = !list.except.is_empty() && n.starts_with(list.except.as_str());
    list.names.contains(&n)
        || (!excepted && list.prefixes.iter().any(|p| n.starts_with(p.as_str())))
}

fn validate_auth_header(v: &str) -> std::result::Result<String, String> {
    // The guide: header names only of alphanumerics, hyphens and underscores; at most 100 characters.
    if v.is_empty()
        || v.len() > 100
        || !v.starts_with(|c: char| c.is_ascii_alphabetic())
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(
            "must be an HTTP header name (letters, digits, hyphens, underscores), e.g. X-Neo4j-Authorization".into(),
        );
    }
    if reserved_header(v) {
        return Err(format!(
            "`{v}` is a header the AgentCore gateway does not pass on to the target: the Neo4j credentials would \
             never reach the server. Use a custom header such as {DEFAULT_AUTH_HEADER} (the default)"
        ));
    }
    Ok(v.to_owned())
}

/// Stack names: 1–24 of lowercase letters, digits and single hyphens, starting with a letter and not ending
/// with a hyphen — so that every name derived from it is valid for every service (ALB names, AgentCore
/// gateway names, Cognito domain prefixes).
pub fn validate_stack(v: &str) -> V<()> {
    if v.is_empty() || v.len() > 24 {
        return Err(format!("`{v}` must be 1–24 characters long"));
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!(
            "`{v}` may contain only lowercase letters, digits and hyphens"
        ));
    }
    if !v.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!("`{v}` must start with a lowercase letter"));
    }
    if v.ends_with('-') || v.contains("--") {
        return Err(format!(
            "`{v}` must not end with a hyphen or contain two hyphens in a row"
        ));
    }
    Ok(())
}

fn validate_region(v: &str) -> V<()> {
    let parts: Vec<&str> = v.split('-').collect();
    let ok = parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(format!("`{v}` is not an AWS region name such as us-east-1"))
    }
}

fn valid_label(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && l.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !l.starts_with('-')
        && !l.ends_with('-')
}

/// A DNS name of at least two labels; returned lower-case without a trailing dot.
pub fn validate_domain(v: &str) -> V<String> {
    let d = v.trim_end_matches('.').to_ascii_lowercase();
    if d.len() > 253 {
        return Err(format!("`{v}` is longer than 253 characters"));
    }
    let labels: Vec<&str> = d.split('.').collect();
    if labels.len() < 2 || !labels.iter().all(|l| valid_label(l)) {
        return Err(format!(
            "`{v}` is not a valid domain name (labels of letters, digits and inner hyphens, e.g. example.com)"
        ));
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(format!("`{v}` looks like an IP address, not a domain name"));
    }
    Ok(d)
}

/// One or more DNS labels (e.g. `mcp` or `mcp.eu`), lower-cased.
pub fn validate_subdomain(v: &str) -> V<String> {
    let s = v.to_ascii_lowercase();
    if s.split('.').all(valid_label) {
        Ok(s)
    } else {
        Err(format!(
            "`{v}` is not a valid subdomain (DNS labels of letters, digits and inner hyphens, e.g. mcp)"
        ))
    }
}

/// `arn:<partition>:acm:<region>:<account>:certificate/<id>`, in the stack's region when that is known.
pub fn validate_certificate_arn(v: &str, region: Option<&str>) -> V<String> {
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    let shape_ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "acm"
        && validate_region(parts[3]).is_ok()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5].strip_prefix("certificate/").is_some_and(|id| {
            !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !shape_ok {
        return Err(format!(
            "`{v}` is not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)"
        ));
    }
    if let Some(region) = region
        && parts[3] != region
    {
        return Err(format!(
            "the certificate is in {} but the stack deploys to {region}: an ALB can only use a certificate from its own region",
            parts[3]
        ));
    }
    Ok(v.to_owned())
}

pub fn validate_cidr(v: &str) -> V<()> {
    let err = || format!("`{v}` is not an IPv4 CIDR such as 203.0.113.0/24");
    let (addr, len) = v.split_once('/').ok_or_else(err)?;
    let addr: std::net::Ipv4Addr = addr.parse().map_err(|_| err())?;
    let len: u32 = len.parse().map_err(|_| err())?;
    if len > 32 {
        return Err(err());
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    if u32::from(addr) & !mask != 0 {
        return Err(format!(
            "`{v}` has host bits set (did you mean {}/{len}?)",
            std::net::Ipv4Addr::from(u32::from(addr) & mask)
        ));
    }
    Ok(())
}

fn validate_neo4j_uri(v: &str) -> V<()> {
    const SCHEMES: &[&str] = &[
        "neo4j",
        "neo4j+s",
        "neo4j+ssc",
        "bolt",
        "bolt+s",
        "bolt+ssc",
    ];
    let (scheme, rest) = v
        .split_once("://")
        .ok_or_else(|| format!("`{v}` is not a URI such as neo4j+s://host:7687"))?;
    if !SCHEMES.contains(&scheme) {
        return Err(format!(
            "scheme `{scheme}` is not supported (use one of {})",
            SCHEMES.join(", ")
        ));
    }
    let host = rest.split(['/', '?']).next().unwrap_or("");
    if host.is_empty() || host.contains('@') {
        return Err(format!("`{v}` needs a host and must not carry credentials"));
    }
    Ok(())
}

fn validate_url(v: &str) -> V<String> {
    let u = url::Url::parse(v).map_err(|e| format!("`{v}` is not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(format!("`{v}` must be an http(s) URL"));
    }
    Ok(v.trim_end_matches('/').to_owned())
}

fn validate_simple_name(v: &str, max: usize) -> V<String> {
    if !v.is_empty()
        && v.len() <= max
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        Ok(v.to_owned())
    } else {
        Err(format!(
            "`{v}` must be 1–{max} letters, digits, '-', '_' or '.'"
        ))
    }
}

fn validate_image(v: &str) -> V<String> {
    if !v.is_empty() && v.len() <= 255 && !v.contains(char::is_whitespace) {
        Ok(v.to_owned())
    } else {
        Err(format!("`{v}` is not a container image reference"))
    }
}

/// AgentCore names: `([0-9a-zA-Z][-]?){1,max}`.
pub fn validate_agentcore_name(v: &str, max: usize) -> V<()> {
    let ok = !v.is_empty()
        && v.starts_with(|c: char| c.is_ascii_alphanumeric())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !v.contains("--")
        && v.chars().filter(|c| c.is_ascii_alphanumeric()).count() <= max;
    if ok {
        Ok(())
    } else {
        Err(format!("`{v}` must match ([0-9a-zA-Z][-]?){{1,{max}}}"))
    }
}

/// Cognito hosted-domain prefixes: `^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`, and AWS reserves `aws`,
/// `amazon` and `cognito` inside them.
pub fn validate_domain_prefix(v: &str) -> V<()> {
    if !valid_label(v) {
        return Err(format!(
            "`{v}` must be 1–63 lowercase letters, digits and inner hyphens"
        ));
    }
    for reserved in ["aws", "amazon", "cognito"] {
        if v.contains(reserved) {
            return Err(format!(
                "`{v}` must not contain the reserved word `{reserved}`"
            ));
        }
    }
    Ok(())
}

/// The CPU/memory combinations Fargate accepts.
pub fn validate_fargate_size(cpu: u32, memory: u32) -> V<()> {
    let ok = match cpu {
        256 => matches!(memory, 512 | 1024 | 2048),
        512 => (1024..=4096).contains(&memory) && memory.is_multiple_of(1024),
        1024 => (2048..=8192).contains(&memory) && memory.is_multiple_of(1024),
        2048 => (4096..=16384).contains(&memory) && memory.is_multiple_of(1024),
        4096 => (8192..=30720).contains(&memory) && memory.is_multiple_of(1024),
        8192 => (16384..=61440).contains(&memory) && memory.is_multiple_of(4096),
        16384 => (32768..=122880).contains(&memory) && memory.is_multiple_of(8192),
        _ => {
            return Err(format!(
                "cpu {cpu} is not a Fargate size (256, 512, 1024, 2048, 4096, 8192, 16384)"
            ));
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{memory} MiB is not a valid Fargate memory size for cpu {cpu}"
        ))
    }
}

/// Whether `up` needs the Neo4j password although none was given. An absent password means "keep the one the
/// secret holds": it is needed only when there is no secret yet (`secret_recorded` is false), or when the URI moves
/// to another database than the deployed one (`deployed_uri`: the URI of the last `up`; `None` before the first).
/// The demo database needs none: its public password is written when the secret is made for it.
pub fn password_needed(
    settings: &Settings,
    deployed_uri: Option<&str>,
    secret_recorded: bool,
) -> Result<()> {
    if settings.neo4j_password.is_some() || settings.neo4j_uri == DEMO_URI {
        return Ok(());
    }
    let why = if !secret_recorded {
        "is required to create the secret for a Neo4j URI other than the demo database"
    } else if deployed_uri != Some(settings.neo4j_uri.as_str()) {
        "is required when --neo4j-uri changes to another database (the deployed secret's password is for the old one)"
    } else {
        return Ok(());
    };
    Err(Error::usage(
        "NEO4J_PASSWORD",
        format!("{why}: set NEO4J_PASSWORD or pipe it to --neo4j-password-stdin"),
    ))
}

impl Settings {
    /// `<subdomain>.<domain_name>`, when the domain is known.
    pub fn fqdn(&self) -> Option<String> {
        self.domain_name
            .as_ref()
            .map(|d| format!("{}.{d}", self.subdomain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(flags: &[(&str, &str)]) -> Layers {
        Layers {
            flags: flags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        }
    }

    const CERT: &str =
        "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-1111-2222-3333-444455556666";

    fn up(flags: &[(&str, &str)]) -> Result<Settings> {
        let mut all = vec![
            ("region", "us-east-1"),
            ("domain_name", "example.com"),
            ("certificate_arn", CERT),
        ];
        all.extend_from_slice(flags);
        resolve(&layers(&all), Purpose::Up, PasswordSource::Env(None))
    }

    #[test]
    fn defaults_apply() {
        let s = up(&[]).unwrap();
        assert_eq!(s.stack, "neo4j-gw");
        assert_eq!(s.fqdn().as_deref(), Some("mcp.example.com"));
        assert_eq!(s.allowed_cidrs, vec!["0.0.0.0/0"]);
        // The demo password is not a default of the setting: it is written only when the secret is made.
        assert!(s.neo4j_password.is_none());
        assert_eq!((s.cpu, s.memory), (256, 1024));
    }

    #[test]
    fn the_credentials_header_must_be_one_the_gateway_passes_on() {
        assert_eq!(up(&[]).unwrap().auth_header, "X-Neo4j-Authorization");
        for reserved in [
            "Host",
            "Mcp-Session-Id",
            "X-Forwarded-For",
            "X-Amzn-Trace-Id",
            "Origin",
        ] {
            let e = up(&[("auth_header", reserved)]).unwrap_err().to_string();
            assert!(
                e.starts_with("--auth-header") && e.contains("does not pass on"),
                "{e}"
            );
        }
        assert!(up(&[("auth_header", "X-Db-Auth")]).is_ok());
        // Issue 17: the whole table of the guide, from the one shared list; and the guide's X-Amzn- exception.
        for added in [
            "X-XSS-Protection",
            "Viewport-Width",
            "Access-Control-Max-Age",
            "CF-Ray",
            "Save-Data",
        ] {
            assert!(up(&[("auth_header", added)]).is_err(), "{added}");
        }
        assert!(restricted_headers().names.len() >= 100);
        assert!(up(&[("auth_header", "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Db")]).is_ok());
        // Authorization cannot be allow-listed, but the gateway forwards it when the interceptor sets it.
        assert!(up(&[("auth_header", "Authorization")]).is_ok());
        assert!(up(&[("auth_header", "1-bad")]).is_err());
        assert!(allowed_cidrs_warning(&up(&[]).unwrap()).is_none());
        let w = allowed_cidrs_warning(&up(&[("allowed_cidrs", "10.0.0.0/8")]).unwrap()).unwrap();
        assert!(
            w.contains("10.0.0.0/8") && w.contains("no address ranges"),
            "{w}"
        );
    }

    #[test]
    fn protocol_versions_are_the_gateways() {
        assert_eq!(
            up(&[("protocol_versions", "2025-11-25,2025-06-18")])
                .unwrap()
                .protocol_versions,
            ["2025-11-25", "2025-06-18"]
        );
        let e = up(&[("protocol_versions", "2025-03-26,2024-01-01")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`2024-01-01`") && e.contains("2025-11-25"),
            "{e}"
        );
    }

    #[test]
    fn precedence_flag_env_file_recorded_default() {
        let mut l = layers(&[]);
        l.recorded.insert("subdomain".into(), "rec".into());
        assert_eq!(l.get("subdomain").unwrap().0, "rec");
        l.file.insert("subdomain".into(), "file".into());
        assert_eq!(l.get("subdomain").unwrap().0, "file");
        l.env.insert("subdomain".into(), "env".into());
        assert_eq!(l.get("subdomain").unwrap().0, "env");
        l.flags.insert("subdomain".into(), "flag".into());
        assert_eq!(l.get("subdomain").unwrap(), ("flag".into(), Origin::Flag));
        assert_eq!(
            layers(&[]).get("subdomain").unwrap(),
            ("mcp".into(), Origin::Default)
        );
    }

    #[test]
    fn errors_name_the_setting_and_its_origin() {
        let mut l = layers(&[("region", "us-east-1"), ("certificate_arn", CERT)]);
        l.env.insert("domain_name".into(), "not a domain".into());
        let e = resolve(&l, Purpose::Up, PasswordSource::Env(None))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("NEO4J_GW_DOMAIN_NAME: "), "{e}");
    }

    #[test]
    fn certificate_from_another_region_is_refused() {
        let e = up(&[("region", "eu-west-1")]).unwrap_err().to_string();
        assert!(
            e.contains("--certificate-arn") && e.contains("us-east-1"),
            "{e}"
        );
    }

    #[test]
    fn a_password_is_needed_only_for_a_new_secret_or_a_new_database() {
        const DB: &str = "neo4j+s://db.internal:7687";
        let custom = up(&[("neo4j_uri", DB)]).unwrap();
        // No secret yet: the password is needed.
        let e = password_needed(&custom, None, false)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("NEO4J_PASSWORD"), "{e}");
        // The deployed secret is for this URI: an absent password keeps the one it holds.
        assert!(password_needed(&custom, Some(DB), true).is_ok());
        // The URI moves to another database: its password is needed.
        let e = password_needed(&custom, Some(DEMO_URI), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--neo4j-uri changes"), "{e}");
        // The demo database never needs one; a given password always satisfies.
        assert!(password_needed(&up(&[]).unwrap(), None, false).is_ok());
        let given = resolve(
            &layers(&[
                ("region", "us-east-1"),
                ("domain_name", "example.com"),
                ("certificate_arn", CERT),
                ("neo4j_uri", DB),
            ]),
            Purpose::Up,
            PasswordSource::Env(Some("pw".into())),
        )
        .unwrap();
        assert!(password_needed(&given, None, false).is_ok());
    }

    #[test]
    fn fargate_sizes() {
        assert!(validate_fargate_size(256, 1024).is_ok());
        assert!(validate_fargate_size(256, 4096).is_err());
        assert!(validate_fargate_size(1024, 3072).is_ok());
        assert!(validate_fargate_size(300, 1024).is_err());
    }

    #[test]
    fn names_and_cidrs() {
        assert!(validate_stack("neo4j-gw").is_ok());
        for bad in [
            "",
            "Upper",
            "1abc",
            "a--b",
            "abc-",
            "a_b",
            "aaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(validate_stack(bad).is_err(), "{bad}");
        }
        assert!(validate_cidr("10.0.0.0/16").is_ok());
        assert!(validate_cidr("10.0.0.1/16").is_err());
        assert!(validate_cidr("10.0.0.0/33").is_err());
        assert!(validate_domain("Example.COM.").is_ok());
        assert!(validate_domain("localhost").is_err());
        assert!(validate_agentcore_name("neo4j-mcp", 100).is_ok());
        assert!(validate_agentcore_name("neo4j_mcp", 100).is_err());
        assert!(validate_domain_prefix("neo4j-gw-123456789012-us-east-1").is_ok());
        assert!(validate_domain_prefix("my-aws-pool").is_err());
    }

    #[test]
    fn config_file_rejects_unknown_keys_and_secrets() {
        assert!(
            parse_toml("domain_name = \"example.com\"\nallowed_cidrs = [\"10.0.0.0/8\"]").is_ok()
        );
        assert!(
            parse_toml("domian_name = \"x\"")
                .unwrap_err()
                .contains("unknown key `domian_name`")
        );
        assert!(
            parse_toml("neo4j_password = \"x\"")
                .unwrap_err()
                .contains("NEO4J_PASSWORD")
        );
        for key in ["password", "db_password"] {
            let e = parse_toml(&format!("{key} = \"hunter2\"")).unwrap_err();
            assert!(
                e.contains("NEO4J_PASSWORD") && e.contains("--neo4j-password-stdin"),
                "{e}"
            );
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn a_toml_syntax_error_names_line_and_column() {
        let e = parse_toml("stack = \"a\"\nregion = us-east-1\n").unwrap_err();
        assert!(e.contains("line 2, column 10"), "{e}");
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn agents_come_from_tables_or_pairs_and_default_to_one_reader() {
        assert_eq!(
            up(&[]).unwrap().agents,
            BTreeMap::from([(DEFAULT_AGENT.to_owned(), Access::Read)])
        );
        let file =
            parse_toml("[agents.reader]\naccess = \"read\"\n[agents.writer]\naccess = \"write\"\n")
                .unwrap();
        assert_eq!(file["agents"], "reader:read,writer:write");
        let s = up(&[("agents", &file["agents"])]).unwrap();
        assert_eq!(s.access_of("writer"), Some(Access::Write));
        assert_eq!(s.access_of("reader"), Some(Access::Read));
        // Some agent writes: the server registers its write tools.
        assert!(!s.server_read_only());
        assert!(up(&[("agents", "reader:read")]).unwrap().server_read_only());
    }

    #[test]
    fn a_bad_agent_name_or_access_is_a_usage_error_naming_it() {
        for (value, says) in [
            ("Reader:read", "lowercase"),
            ("reader:admin", "not an access level"),
            ("reader", "name:access"),
            ("a:read,a:write", "twice"),
            ("an-agent-name-longer-than-24:read", "1–24"),
            ("", "at least one"),
        ] {
            let e = up(&[("agents", value)]).unwrap_err();
            assert!(matches!(e, Error::Usage { .. }), "{value}: {e}");
            assert!(e.to_string().contains(says), "{value}: {e}");
        }
        for (toml, says) in [
            ("[agents.reader]\n", "`access` is required"),
            (
                "[agents.reader]\naccess = 1\n",
                "expected \"read\" or \"write\"",
            ),
            (
                "[agents.reader]\naccess = \"read\"\nrole = \"x\"\n",
                "unknown key `agents.reader.role`",
            ),
            (
                "[agents.reader]\naccess = \"read\"\nneo4j_password = \"hunter2\"\n",
                "secrets",
            ),
        ] {
            let e = parse_toml(toml).unwrap_err();
            assert!(e.contains(says), "{toml}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn read_only_true_with_a_writing_agent_and_a_scope_named_like_a_level_are_refused() {
        let e = up(&[("agents", "writer:write"), ("read_only", "true")]).unwrap_err();
        assert!(
            e.to_string().contains("agent `writer` has write access"),
            "{e}"
        );
        // The default read_only follows the agents.
        assert!(up(&[("agents", "writer:write")]).is_ok());
        let e = up(&[("scope", "write")]).unwrap_err();
        assert!(e.to_string().contains("access level"), "{e}");
    }

    #[test]
    fn each_tool_is_granted_by_one_level_and_write_includes_read() {
        assert_eq!(Access::needed_for("read-cypher"), Some(Access::Read));
        assert_eq!(Access::needed_for("write-cypher"), Some(Access::Write));
        assert_eq!(Access::needed_for("gds-algorithms"), None);
        assert_eq!(Access::Write.levels(), &[Access::Read, Access::Write]);
    }

    #[test]
    fn misspelt_variables_are_named_with_a_suggestion_but_never_their_value() {
        let vars = [
            "NEO4J_GW_DOMIAN_NAME",
            "NEO4J_GW_DOMAIN_NAME",
            "NEO4J_GW_CONCURRENCY",
            "NEO4J_PASSWORD",
            "PATH",
        ];
        let w = unknown_env_vars(vars.iter().map(std::ffi::OsString::from));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("NEO4J_GW_DOMIAN_NAME")
                && w[0].contains("did you mean NEO4J_GW_DOMAIN_NAME?"),
            "{}",
            w[0]
        );
        assert!(
            unknown_env_vars(["NEO4J_GW_ZZZZZZZZZZZZZZ".into()].into_iter())[0].contains("not one")
        );
    }
}
