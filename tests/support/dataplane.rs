//! Talking to the emulator's data plane (scripts/emulator/dataplane) from tests: its control API (the Neo4j stand-in's
//! users, AWS failure states, tokens with a chosen lifetime) and raw requests to the gateway stand-in as an agent
//! would send them. Every request goes to the loopback data plane with the public host name pinned to it.

use std::net::SocketAddr;

use serde_json::{Value, json};

use super::{Emulator, REGION};

fn addr(emu: &Emulator) -> SocketAddr {
    emu.data_plane
        .trim_start_matches("http://")
        .parse()
        .expect("data plane address")
}

async fn control(emu: &Emulator, method: reqwest::Method, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .request(method, format!("{}{path}", emu.data_plane))
        .json(&body)
        .send()
        .await
        .expect("data plane control request");
    assert!(r.status().is_success(), "{path}: HTTP {}", r.status());
    r.json().await.expect("control answer")
}

/// Registers a Neo4j DBMS in the stand-in (its address from the URI), with users and databases.
pub async fn neo4j(emu: &Emulator, uri: &str, users: &[(&str, &str)], databases: &[&str]) {
    let users: serde_json::Map<String, Value> = users
        .iter()
        .map(|(u, p)| ((*u).to_owned(), json!(p)))
        .collect();
    control(
        emu,
        reqwest::Method::PUT,
        "/_dataplane/neo4j",
        json!({"uri": uri, "users": users, "databases": databases}),
    )
    .await;
}

/// Changes a user's password in the Neo4j stand-in (as an operator rotating it in Neo4j).
pub async fn neo4j_password(emu: &Emulator, uri: &str, user: &str, password: &str) {
    control(
        emu,
        reqwest::Method::POST,
        "/_dataplane/neo4j/password",
        json!({"uri": uri, "user": user, "password": password}),
    )
    .await;
}

/// Installs or removes the APOC plugin of one database of the Neo4j stand-in.
pub async fn neo4j_apoc(emu: &Emulator, uri: &str, database: &str, installed: bool) {
    control(
        emu,
        reqwest::Method::POST,
        "/_dataplane/neo4j/apoc",
        json!({"uri": uri, "database": database, "installed": installed}),
    )
    .await;
}

/// Puts a resource in one of AWS's failure or transition states (see scripts/emulator/dataplane/states.py).
pub async fn force_state(emu: &Emulator, doc: Value) {
    control(emu, reqwest::Method::POST, "/_dataplane/force-state", doc).await;
}

/// A token as the Cognito stand-in signs it, for any client of the pool; `lifetime` ≤ 0 gives an expired one.
pub async fn mint(
    emu: &Emulator,
    pool_id: &str,
    client_id: &str,
    scope: &str,
    lifetime: i64,
) -> String {
    let v = control(
        emu,
        reqwest::Method::POST,
        "/_dataplane/cognito/mint",
        json!({"region": REGION, "pool_id": pool_id, "client_id": client_id, "scopes": [scope], "lifetime": lifetime}),
    )
    .await;
    v["access_token"].as_str().unwrap().to_owned()
}

/// One HTTP request to a public https URL (Cognito domain, gateway), sent to the data plane with the real host.
pub async fn public(
    emu: &Emulator,
    url: &str,
    build: impl FnOnce(&reqwest::Client, String) -> reqwest::RequestBuilder,
) -> (u16, reqwest::header::HeaderMap, String) {
    let parsed = url::Url::parse(url).unwrap();
    let host = parsed.host_str().unwrap().to_owned();
    let a = addr(emu);
    let client = reqwest::Client::builder()
        .resolve(&host, a)
        .build()
        .unwrap();
    let local = format!("http://{host}:{}{}", a.port(), parsed.path());
    let r = build(&client, local)
        .send()
        .await
        .expect("request to the data plane");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap_or_default())
}

/// An MCP `initialize` to the gateway with the given bearer token: (HTTP status, WWW-Authenticate, body).
pub async fn initialize(
    emu: &Emulator,
    gateway_url: &str,
    token: &str,
) -> (u16, Option<String>, String) {
    let (status, headers, body) = public(emu, gateway_url, |c, u| {
        c.post(u)
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .json(&json!({
                "jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "tests", "version": "0"}},
            }))
    })
    .await;
    let www = headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, www, body)
}

/// A client-credentials token from the Cognito stand-in at the domain's public URL.
pub async fn client_credentials(
    emu: &Emulator,
    domain: &str,
    client_id: &str,
    secret: &str,
    scope: &str,
) -> (u16, Value) {
    let url = format!("https://{domain}.auth.{REGION}.amazoncognito.com/oauth2/token");
    let (status, _, body) = public(emu, &url, |c, u| {
        c.post(u)
            .basic_auth(client_id, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
    })
    .await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The write queries the Neo4j stand-in has run in one database (every CREATE, MERGE, SET, … it received).
pub async fn neo4j_writes(emu: &Emulator, uri: &str, database: &str) -> Vec<String> {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let r = reqwest::Client::new()
        .get(format!(
            "{}/_dataplane/neo4j/writes?uri={}&database={}",
            emu.data_plane,
            utf8_percent_encode(uri, NON_ALPHANUMERIC),
            utf8_percent_encode(database, NON_ALPHANUMERIC)
        ))
        .send()
        .await
        .expect("data plane control request");
    assert!(r.status().is_success(), "neo4j/writes: HTTP {}", r.status());
    let doc: Value = r.json().await.expect("control answer");
    doc["writes"]
        .as_array()
        .expect("writes")
        .iter()
        .map(|w| w.as_str().unwrap_or_default().to_owned())
        .collect()
}
