//! An MCP client session with the gateway, on the official Rust MCP SDK (`rmcp`, streamable-HTTP client):
//! `initialize` → `notifications/initialized`, then `tools/list` (every page) and `tools/call`, with the Cognito
//! access token as the bearer. The SDK carries the session; when something fails, [`probe`] repeats the
//! `initialize` as one plain HTTP request to keep what the SDK does not hand back — the HTTP status, the
//! `WWW-Authenticate` challenge and the body — as evidence of which hop failed.

use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    ProtocolVersion, Tool,
};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Map, Value, json};

use crate::config::Secret;
use crate::reach::Reach;

const TIMEOUT: Duration = Duration::from_secs(60);

/// Why a step of the session failed, as the client saw it.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The handshake failed (HTTP error, unreachable, protocol error); the text is the SDK's.
    Connect(String),
    /// The server answered a request with a JSON-RPC error.
    JsonRpc { code: i32, message: String },
    /// Anything else (transport closed, timeout).
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect(m) | Failure::Other(m) => f.write_str(m),
            Failure::JsonRpc { code, message } => write!(f, "JSON-RPC error {code}: {message}"),
        }
    }
}

fn failure(e: rmcp::ServiceError) -> Failure {
    match e {
        rmcp::ServiceError::McpError(err) => Failure::JsonRpc {
            code: err.code.0,
            message: err.message.to_string(),
        },
        other => Failure::Other(chain(&other)),
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// The newest protocol version that the gateway is configured for and the SDK can start with `initialize`.
pub fn protocol_version(gateway_versions: &[String]) -> ProtocolVersion {
    ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .rev()
        .find(|v| v.has_initialize() && gateway_versions.iter().any(|g| g == v.as_str()))
        .cloned()
        .unwrap_or(ProtocolVersion::V_2025_03_26)
}

/// An initialized session.
pub struct Session {
    service: RunningService<RoleClient, ClientConfig>,
}

impl Session {
    /// Connects to `url` (the gateway URL) with `token` and completes the `initialize` handshake.
    pub async fn open(
        url: &str,
        token: &Secret,
        reach: &Reach,
        versions: &[String],
    ) -> Result<Session, Failure> {
        let route = reach
            .route(url, TIMEOUT)
            .map_err(|e| Failure::Connect(e.to_string()))?;
        let config = StreamableHttpClientTransportConfig::with_uri(route.url)
            .auth_header(token.expose().to_owned());
        let transport = StreamableHttpClientTransport::with_client(route.client, config);
        let info = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("neo4j-gw", env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(protocol_version(versions));
        let service = tokio::time::timeout(TIMEOUT, info.serve(transport))
            .await
            .map_err(|_| Failure::Connect(format!("no answer to initialize within {TIMEOUT:?}")))?
            .map_err(|e| Failure::Connect(chain(&e)))?;
        Ok(Session { service })
    }

    /// Every tool, across all pages of `tools/list`.
    pub async fn tools(&self) -> Result<Vec<Tool>, Failure> {
        self.service.list_all_tools().await.map_err(failure)
    }

    pub async fn call(
        &self,
        name: &str,
        arguments: Map<String, Value>,
    ) -> Result<CallToolResult, Failure> {
        self.service
            .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(arguments))
            .await
            .map_err(failure)
    }

    pub async fn close(self) {
        let _ = self.service.cancel().await;
    }
}

/// What one plain `initialize` POST to the gateway got back.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Probe {
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub www_authenticate: Option<String>,
    /// The body, shortened; never the request (which carries the token).
    pub body: String,
}

/// Sends one `initialize` as a plain HTTP request, for evidence when the SDK session failed.
pub async fn probe(
    url: &str,
    token: &Secret,
    reach: &Reach,
    versions: &[String],
) -> Result<Probe, String> {
    post(url, Some(token), reach, &initialize_body(versions)).await
}

/// One JSON-RPC message POSTed to the gateway as a plain HTTP request, with `token` as the bearer (or none), for
/// evidence of how the gateway answers (`doctor --agent-path`). The request is never kept (it carries the token).
pub async fn post(
    url: &str,
    token: Option<&Secret>,
    reach: &Reach,
    body: &Value,
) -> Result<Probe, String> {
    let route = reach.route(url, TIMEOUT).map_err(|e| e.to_string())?;
    let mut request = route.client.post(&route.url).header(
        reqwest::header::ACCEPT,
        "application/json, text/event-stream",
    );
    if let Some(t) = token {
        request = request.bearer_auth(t.expose());
    }
    let response = request.json(body).send().await.map_err(|e| chain(&e))?;
    let status = response.status().as_u16();
    let www_authenticate = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.unwrap_or_default();
    Ok(Probe {
        status,
        www_authenticate,
        body: shorten(&text, 600),
    })
}

/// An `initialize` request body for the gateway's configured versions.
pub fn initialize_body(versions: &[String]) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": protocol_version(versions).as_str(),
            "capabilities": {},
            "clientInfo": {"name": "neo4j-gw", "version": env!("CARGO_PKG_VERSION")},
        },
    })
}

/// At most `max` characters of `s`, on one line.
pub fn shorten(s: &str, max: usize) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= max {
        one
    } else {
        format!("{}…", one.chars().take(max).collect::<String>())
    }
}

/// The text of a tool result: its text contents, one per line (other content kinds by their type).
pub fn result_text(result: &CallToolResult) -> String {
    let value = serde_json::to_value(result).unwrap_or(Value::Null);
    let mut lines = Vec::new();
    for item in value["content"].as_array().into_iter().flatten() {
        match item["type"].as_str() {
            Some("text") => lines.push(item["text"].as_str().unwrap_or_default().to_owned()),
            Some(other) => lines.push(format!("[{other} content]")),
            None => {}
        }
    }
    if lines.is_empty()
        && let Some(s) = result.structured_content.as_ref()
    {
        lines.push(s.to_string());
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_common_version_that_starts_with_initialize_is_chosen() {
        let v = |s: &[&str]| protocol_version(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(v(&["2025-03-26", "2025-06-18"]).as_str(), "2025-06-18");
        assert_eq!(v(&["2025-03-26"]).as_str(), "2025-03-26");
        assert_eq!(v(&["2025-11-25", "2026-07-28"]).as_str(), "2025-11-25");
        assert_eq!(v(&[]).as_str(), "2025-03-26");
    }

    #[test]
    fn shorten_keeps_one_line() {
        assert_eq!(shorten("a\n b", 10), "a b");
        assert_eq!(shorten("abcdef", 3), "abc…");
    }
}
