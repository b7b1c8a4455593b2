//! `logs --audit`: the gateway's audit lines, one per `tools/call`, as a table (or JSON lines).
//!
//! Each CloudWatch Logs event of the gateway's audit log group is one JSON object (docs/aws-behaviour.md, "Audit
//! lines: the gateway's log delivery"): `{time, gateway_id, client_id, tool: "<target>___<tool>", outcome:
//! "allowed"|"denied"|"error", duration_ms, arguments_sha256, policy?: {mode, decision, reason}, detail?}`. What
//! AgentCore itself writes there is not documented, so the parser needs only `tool` and `outcome` and takes the
//! event's own timestamp when `time` is missing; anything else (not JSON, not an object, no tool or outcome) is
//! skipped and counted, never an error.
//!
//! The gateway knows the agent only by its OAuth client id: the agent's name comes from the state file, which
//! records one node per agent ([`agents`]). `detail` and any field not listed above are never printed: a line holds
//! no argument value, token or secret, and this command adds none.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::resources::app_client;
use crate::state::State;

/// The agent of the node [`app_client::NODE`] when the node records no `agent` (state files older than issue 20).
pub const DEFAULT_AGENT: &str = "default";

/// The separator AgentCore puts between a gateway target's name and the tool's: `<target>___<tool>`.
const TARGET_SEPARATOR: &str = "___";

/// The agents the state records: client id → agent name. The node `app-client` is the agent `default` (its `agent`
/// id may be missing in older state files), every node `app-client-<name>` is the agent its `agent` id names (the
/// node's suffix when that id is missing). A node without a `client_id` maps nothing.
pub fn agents(state: &State) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (node, record) in &state.resources {
        let fallback = if node == app_client::NODE {
            DEFAULT_AGENT
        } else if let Some(name) = node
            .strip_prefix(app_client::NODE)
            .and_then(|rest| rest.strip_prefix('-'))
            .filter(|name| !name.is_empty())
        {
            name
        } else {
            continue;
        };
        let Some(client_id) = record.ids.get("client_id").filter(|c| !c.is_empty()) else {
            continue;
        };
        let agent = record
            .ids
            .get("agent")
            .map(String::as_str)
            .filter(|a| !a.is_empty())
            .unwrap_or(fallback);
        out.insert(client_id.clone(), agent.to_owned());
    }
    out
}

/// The agent a line's client id belongs to: its name, or `unknown (<client id>)` for a client the state does not
/// record (another stack's, one removed since, or one made out of band).
pub fn agent_of(agents: &BTreeMap<String, String>, client_id: Option<&str>) -> String {
    match client_id {
        Some(id) => agents
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("unknown ({id})")),
        None => "unknown (no client id)".to_owned(),
    }
}

/// `--agent NAME` checked against the agents the state records; the error lists them.
pub fn check_agent(agents: &BTreeMap<String, String>, name: &str) -> Result<(), String> {
    let known: BTreeSet<&str> = agents.values().map(String::as_str).collect();
    if known.contains(name) {
        return Ok(());
    }
    Err(format!(
        "the state records no agent `{name}`; known agents: {}",
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.into_iter().collect::<Vec<_>>().join(", ")
        }
    ))
}

/// One audit line as the gateway writes it (the fields this command reads).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AuditLine {
    #[serde(default)]
    pub time: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    /// `<target>___<tool>`.
    pub tool: String,
    pub outcome: String,
    #[serde(default)]
    pub duration_ms: Option<serde_json::Number>,
    #[serde(default)]
    pub arguments_sha256: Option<String>,
    #[serde(default)]
    pub policy: Option<Value>,
}

impl AuditLine {
    /// The line in an event's message; `None` when it is not an audit line.
    pub fn parse(message: &str) -> Option<AuditLine> {
        let value: Value = serde_json::from_str(message.trim()).ok()?;
        if !value.is_object() {
            return None;
        }
        serde_json::from_value(value).ok()
    }

    /// The tool's own name, without the `<target>___` prefix.
    pub fn tool_name(&self) -> &str {
        self.tool
            .split_once(TARGET_SEPARATOR)
            .map(|(_, t)| t)
            .filter(|t| !t.is_empty())
            .unwrap_or(&self.tool)
    }

    /// The policy engine's decision, when the line has one: only its `mode`, `decision` and `reason` (strings).
    fn policy_decision(&self) -> Option<Value> {
        let p = self.policy.as_ref()?.as_object()?;
        let kept: serde_json::Map<String, Value> = ["mode", "decision", "reason"]
            .into_iter()
            .filter_map(|k| {
                p.get(k)
                    .filter(|v| v.is_string())
                    .map(|v| (k.to_owned(), v.clone()))
            })
            .collect();
        (!kept.is_empty()).then_some(Value::Object(kept))
    }
}

/// One line to show: the event's time, the agent, the line.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub timestamp_ms: i64,
    pub agent: String,
    pub line: AuditLine,
}

/// Column widths of the table: 20 + 12 + 14 + 7 + 8 + 12 and five spaces = 78, inside 80 columns for the names
/// this stack uses (agents `default`/`read`/`write`, the Neo4j tools); a longer value widens its line, which the
/// terminal's width then wraps (crate::term), as `status` does.
const HEADER: [&str; 6] = ["TIME", "AGENT", "TOOL", "OUTCOME", "DURATION", "ARGS"];

/// How many hex digits of the arguments' hash the table shows.
const ARGS_SHOWN: usize = 12;

impl Row {
    /// The time to show: the line's own (`time`), else the event's.
    fn time_rfc3339(&self) -> String {
        self.line.time.clone().unwrap_or_else(|| {
            let t = UNIX_EPOCH + Duration::from_millis(self.timestamp_ms.max(0) as u64);
            humantime::format_rfc3339_millis(t).to_string()
        })
    }

    /// The table's time: to the second, UTC (`2026-12-07T05:50:00Z`); a `time` that is not RFC 3339 as it is.
    fn time_short(&self) -> String {
        let full = self.time_rfc3339();
        match humantime::parse_rfc3339_weak(&full) {
            Ok(t) => humantime::format_rfc3339_seconds(t).to_string(),
            Err(_) => full,
        }
    }

    pub fn table_line(&self) -> String {
        let duration = self
            .line
            .duration_ms
            .as_ref()
            .map(|d| format!("{d}ms"))
            .unwrap_or_else(|| "-".into());
        let args: String = match &self.line.arguments_sha256 {
            Some(h) if !h.is_empty() => h.chars().take(ARGS_SHOWN).collect(),
            _ => "-".into(),
        };
        columns([
            &self.time_short(),
            &self.agent,
            self.line.tool_name(),
            &self.line.outcome,
            &duration,
            &args,
        ])
    }

    /// One JSON object per line (documented in the README).
    pub fn json(&self) -> Value {
        let mut doc = json!({
            "time": self.time_rfc3339(),
            "agent": self.agent,
            "client_id": self.line.client_id,
            "tool": self.line.tool_name(),
            "gateway_tool": self.line.tool,
            "outcome": self.line.outcome,
            "duration_ms": self.line.duration_ms,
            "arguments_sha256": self.line.arguments_sha256,
        });
        if let Some(p) = self.line.policy_decision() {
            doc["policy"] = p;
        }
        doc
    }
}

fn columns(c: [&str; 6]) -> String {
    format!(
        "{:<20} {:<12} {:<14} {:<7} {:>8} {}",
        c[0], c[1], c[2], c[3], c[4], c[5]
    )
}

pub fn header() -> String {
    columns(HEADER)
}

/// What `logs --audit` prints as the events come: the rows of the wanted agent, the lines it could not read
/// counted.
#[derive(Debug)]
pub struct View {
    agents: BTreeMap<String, String>,
    only: Option<String>,
    json: bool,
    width: Option<usize>,
    header_shown: bool,
    pub skipped: usize,
}

impl View {
    pub fn new(
        agents: BTreeMap<String, String>,
        only: Option<String>,
        json: bool,
        width: Option<usize>,
    ) -> View {
        View {
            agents,
            only,
            json,
            width,
            header_shown: false,
            skipped: 0,
        }
    }

    /// The row of one event, if it is an audit line of the wanted agent (a line that is not one is counted).
    pub fn row(&mut self, timestamp_ms: i64, message: &str) -> Option<Row> {
        let Some(line) = AuditLine::parse(message) else {
            self.skipped += 1;
            return None;
        };
        let agent = agent_of(&self.agents, line.client_id.as_deref());
        if self.only.as_ref().is_some_and(|a| *a != agent) {
            return None;
        }
        Some(Row {
            timestamp_ms,
            agent,
            line,
        })
    }

    /// The printed lines of one event (the table's header before its first row).
    pub fn lines(&mut self, timestamp_ms: i64, message: &str) -> Vec<String> {
        let Some(row) = self.row(timestamp_ms, message) else {
            return Vec::new();
        };
        if self.json {
            return vec![row.json().to_string()];
        }
        let mut out = Vec::new();
        if !self.header_shown {
            self.header_shown = true;
            out.extend(crate::term::wrap(&header(), self.width, 4));
        }
        out.extend(crate::term::wrap(&row.table_line(), self.width, 4));
        out
    }

    /// The closing note on stderr, if any line was skipped.
    pub fn note(&self) -> Option<String> {
        (self.skipped > 0).then(|| {
            format!(
                "logs --audit: {} line{} of the audit log group {} not an audit line (not a JSON object with a tool \
                 and an outcome); skipped",
                self.skipped,
                if self.skipped == 1 { "" } else { "s" },
                if self.skipped == 1 { "was" } else { "were" }
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Ids, Record, Status};

    fn node(ids: &[(&str, &str)]) -> Record {
        Record {
            kind: "cognito:app-client".into(),
            owned: true,
            status: Status::Ready,
            ids: ids
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Ids>(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    fn state() -> State {
        let mut s = State::new("s", "us-east-1", "123456789012");
        // An old state file: the default agent's node without an `agent` id.
        s.resources
            .insert("app-client".into(), node(&[("client_id", "c-default")]));
        s.resources.insert(
            "app-client-read".into(),
            node(&[("client_id", "c-read"), ("agent", "read")]),
        );
        s.resources
            .insert("app-client-write".into(), node(&[("client_id", "c-write")]));
        // Not agents: other nodes, and an agent node without a client id.
        s.resources
            .insert("gateway".into(), node(&[("client_id", "c-gateway")]));
        s.resources
            .insert("app-clientele".into(), node(&[("client_id", "c-x")]));
        s.resources
            .insert("app-client-none".into(), node(&[("agent", "none")]));
        s
    }

    const LINE: &str = r#"{"arguments_sha256":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","client_id":"c-read","detail":"JSON-RPC error -32602","duration_ms":42,"gateway_id":"gw-1","outcome":"denied","policy":{"decision":"deny","mode":"ENFORCE","reason":"no permit","extra":"x"},"time":"2026-12-07T05:50:00.123Z","tool":"neo4j-mcp___write-cypher"}"#;

    #[test]
    fn client_ids_map_to_the_agents_the_state_records() {
        let a = agents(&state());
        assert_eq!(
            a,
            BTreeMap::from([
                ("c-default".to_owned(), "default".to_owned()),
                ("c-read".to_owned(), "read".to_owned()),
                ("c-write".to_owned(), "write".to_owned()),
            ])
        );
        assert_eq!(agent_of(&a, Some("c-read")), "read");
        assert_eq!(agent_of(&a, Some("c-other")), "unknown (c-other)");
        assert_eq!(agent_of(&a, None), "unknown (no client id)");
        // A recorded `agent` id wins over the node's name, the default agent's included.
        let mut s = state();
        s.resources.insert(
            "app-client".into(),
            node(&[("client_id", "c-default"), ("agent", "default")]),
        );
        assert_eq!(agents(&s)["c-default"], "default");
    }

    #[test]
    fn an_unknown_agent_is_refused_listing_the_known_ones() {
        let a = agents(&state());
        assert!(check_agent(&a, "read").is_ok());
        let e = check_agent(&a, "admin").unwrap_err();
        assert!(
            e.contains("`admin`") && e.contains("default, read, write"),
            "{e}"
        );
        let e = check_agent(&BTreeMap::new(), "default").unwrap_err();
        assert!(e.contains("known agents: none"), "{e}");
    }

    #[test]
    fn audit_lines_parse_and_other_messages_do_not() {
        let l = AuditLine::parse(LINE).unwrap();
        assert_eq!(l.tool, "neo4j-mcp___write-cypher");
        assert_eq!(l.tool_name(), "write-cypher");
        assert_eq!(l.outcome, "denied");
        assert_eq!(l.client_id.as_deref(), Some("c-read"));
        assert_eq!(
            l.duration_ms.as_ref().map(|d| d.to_string()),
            Some("42".into())
        );
        // A line without a client id (no claims) still parses; a tool without a target prefix is kept whole.
        let l = AuditLine::parse(r#"{"tool":"ping","outcome":"error","client_id":null}"#).unwrap();
        assert_eq!((l.client_id.as_deref(), l.tool_name()), (None, "ping"));
        for bad in [
            "",
            "not json",
            "START RequestId: 1",
            "[\"t\",\"o\"]",
            "\"neo4j-mcp___read-cypher\"",
            r#"{"tool":"neo4j-mcp___read-cypher"}"#,
            r#"{"outcome":"allowed"}"#,
            r#"{"tool":1,"outcome":"allowed"}"#,
        ] {
            assert_eq!(AuditLine::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_table_fits_80_columns_and_shows_no_argument_or_detail() {
        let mut v = View::new(agents(&state()), None, false, Some(80));
        let lines = v.lines(0, LINE);
        assert_eq!(
            lines,
            vec![
                "TIME                 AGENT        TOOL           OUTCOME DURATION ARGS",
                "2026-12-07T05:50:00Z read         write-cypher   denied      42ms 0123456789ab",
            ]
        );
        assert!(lines.iter().all(|l| l.chars().count() <= 80));
        // The header once; an unknown client's line wraps within the width.
        let other = LINE.replace("c-read", "4v0k0l9hm2s1rj3sf0b8q0vts1");
        let more = v.lines(0, &other);
        assert!(
            more[0].starts_with("2026-12-07T05:50:00Z unknown (4v0k"),
            "{more:?}"
        );
        assert!(more.iter().all(|l| l.chars().count() <= 80), "{more:?}");
        assert!(!more.iter().any(|l| l.contains("TIME")));
        // Missing fields: the event's time, dashes.
        let bare = v.lines(
            1_000,
            r#"{"tool":"neo4j-mcp___get-schema","outcome":"allowed","client_id":"c-default"}"#,
        );
        assert_eq!(
            bare,
            vec!["1970-01-01T00:00:01Z default      get-schema     allowed        - -"]
        );
        for l in lines.iter().chain(&more).chain(&bare) {
            assert!(!l.contains("JSON-RPC") && !l.contains("no permit"), "{l}");
        }
    }

    #[test]
    fn json_lines_carry_the_agent_both_tool_names_and_the_policy_decision() {
        let mut v = View::new(agents(&state()), None, true, Some(80));
        let lines = v.lines(0, LINE);
        assert_eq!(lines.len(), 1, "no header in JSON");
        let doc: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(
            doc,
            json!({
                "time": "2026-12-07T05:50:00.123Z",
                "agent": "read",
                "client_id": "c-read",
                "tool": "write-cypher",
                "gateway_tool": "neo4j-mcp___write-cypher",
                "outcome": "denied",
                "duration_ms": 42,
                "arguments_sha256": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "policy": {"mode": "ENFORCE", "decision": "deny", "reason": "no permit"},
            })
        );
        // Without a policy engine there is no `policy` key.
        let plain = LINE.replace(
            r#""policy":{"decision":"deny","mode":"ENFORCE","reason":"no permit","extra":"x"},"#,
            "",
        );
        let doc: Value = serde_json::from_str(&v.lines(0, &plain)[0]).unwrap();
        assert!(doc.get("policy").is_none(), "{doc}");
    }

    #[test]
    fn agent_filter_and_skipped_lines() {
        let mut v = View::new(agents(&state()), Some("default".into()), false, None);
        assert!(v.lines(0, LINE).is_empty(), "the read agent's line");
        assert!(v.lines(0, "garbage").is_empty());
        assert!(v.lines(0, "{}").is_empty());
        let own = LINE.replace("c-read", "c-default");
        assert_eq!(v.lines(0, &own).len(), 2, "header and row");
        assert_eq!(v.skipped, 2);
        let note = v.note().unwrap();
        assert!(
            note.contains("2 lines") && note.contains("skipped"),
            "{note}"
        );
        let v = View::new(BTreeMap::new(), None, false, None);
        assert_eq!(v.note(), None);
    }
}
