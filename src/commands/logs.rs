//! `neo4j-gw logs`: the CloudWatch Logs of the MCP server's ECS tasks (`/neo4j-gw/<stack>/mcp`) and of the
//! interceptor Lambda (`/aws/lambda/<stack>-interceptor`), merged by time, the source on each line. `--follow`
//! keeps polling until Ctrl-C (which ends it with exit 0).
//!
//! `FilterLogEvents` (aws-sdk-cloudwatchlogs `filter_log_events`) is paginated: "If the results include a
//! `nextToken`, there might be more log events available … If the results don't include a `nextToken`, then
//! pagination is finished"; events come "sorted by event timestamp" in ascending order by default. Events that
//! arrive late carry an earlier timestamp, so `--follow` asks again from a minute back and drops the events it has
//! shown (by log stream and event ID).
//!
//! The log group names are derived from the stack, so `logs` works without a state file.
//!
//! `logs --audit` reads the gateway's audit log group instead (one JSON line per tool call, [`audit`]); it needs the
//! state file, for the gateway's id (the group's name) and the agents' client ids (their names).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

pub mod audit;

use super::{Env, connect, prepare};
use crate::cli::{LogSource, LogsArgs};
use crate::config::{PasswordSource, Purpose};
use crate::error::{self, Error, Result, exit};
use crate::resources::{Cx, gateway, interceptor_function, log_group};
use crate::state::State;

/// What `--audit` needs from the state, read before any AWS call: the audit log group (from the recorded gateway)
/// and the view of the lines (the agents' client ids; `--agent` checked against them).
fn audit_setup(
    state: Option<&State>,
    stack: &str,
    args: &LogsArgs,
    width: Option<usize>,
) -> Result<(String, audit::View)> {
    // The group is named from the stack (the `gateway-log-group` node); a stack without a gateway has no audit.
    state
        .and_then(|s| gateway::GATEWAY_ID.recorded(s))
        .ok_or_else(|| {
            Error::other(format!(
                "logs --audit: stack `{stack}` has no gateway recorded in its state file, so there is no audit log \
                 group to read: deploy the stack with `neo4j-gw up` (or pass the --stack and --region it was \
                 deployed with, and the --state-dir that holds its state file)"
            ))
        })?;
    let agents = state.map(audit::agents).unwrap_or_default();
    if let Some(name) = &args.agent {
        audit::check_agent(&agents, name).map_err(|m| Error::usage("--agent", m))?;
    }
    Ok((
        log_group::audit_log_group(stack),
        audit::View::new(agents, args.agent.clone(), args.json, width),
    ))
}

/// How far back `--follow` asks again for events that arrived late.
const LATE: Duration = Duration::from_secs(60);

/// What tells events apart: time, source, log stream, event ID.
type Key = (i64, &'static str, String, String);

/// One log event, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Event {
    pub timestamp_ms: i64,
    pub source: &'static str,
    pub log_stream: String,
    pub event_id: String,
    pub message: String,
}

impl Event {
    fn key(&self) -> Key {
        (
            self.timestamp_ms,
            self.source,
            self.log_stream.clone(),
            self.event_id.clone(),
        )
    }

    fn timestamp(&self) -> String {
        let t = UNIX_EPOCH + Duration::from_millis(self.timestamp_ms.max(0) as u64);
        humantime::format_rfc3339_millis(t).to_string()
    }

    /// `<timestamp> <source> <message>`.
    pub fn line(&self) -> String {
        format!(
            "{} {:<11} {}",
            self.timestamp(),
            self.source,
            self.message.trim_end_matches(['\r', '\n'])
        )
    }

    /// One JSON object per line (documented in the README).
    pub fn json(&self, log_group: &str) -> serde_json::Value {
        json!({
            "timestamp": self.timestamp(),
            "timestamp_ms": self.timestamp_ms,
            "source": self.source,
            "log_group": log_group,
            "log_stream": self.log_stream,
            "message": self.message.trim_end_matches(['\r', '\n']),
        })
    }
}

/// `--since`: a duration back from now (`10m`, `2h`, `1d`) or an RFC 3339 time; milliseconds since the epoch.
pub fn parse_since(v: &str, now: SystemTime) -> std::result::Result<i64, String> {
    let at = match humantime::parse_duration(v) {
        Ok(d) => now.checked_sub(d).unwrap_or(UNIX_EPOCH),
        Err(_) => humantime::parse_rfc3339_weak(v).map_err(|_| {
            format!("`{v}` is neither a duration (e.g. 10m, 2h, 1d) nor a time (e.g. 2026-01-31T12:00:00Z)")
        })?,
    };
    Ok(at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0))
}

/// Merges the events of several sources by time (then source, stream and ID, so the order is stable).
pub fn merge(mut events: Vec<Event>) -> Vec<Event> {
    events.sort();
    events
}

/// How the events are printed: as they are (`<time> <source> <message>` or JSON), or read as audit lines.
enum Printer {
    Plain {
        json: bool,
        names: BTreeMap<&'static str, String>,
    },
    Audit(audit::View),
}

impl Printer {
    fn print(&mut self, e: &Event) {
        match self {
            Printer::Plain { json: true, names } => println!("{}", e.json(&names[e.source])),
            Printer::Plain { json: false, .. } => println!("{}", e.line()),
            Printer::Audit(view) => {
                for l in view.lines(e.timestamp_ms, &e.message) {
                    println!("{l}");
                }
            }
        }
    }

    /// The end of the output: what `--audit` skipped, on stderr.
    fn finish(&self, env: &Env) {
        if let Printer::Audit(view) = self
            && let Some(note) = view.note()
        {
            env.progress.note(&note);
        }
    }
}

/// The source `--audit` labels its events with (internal: the audit view prints no source).
const AUDIT_SOURCE: &str = "audit";

pub async fn run(env: &Env, args: &LogsArgs) -> Result<i32> {
    let start =
        parse_since(&args.since, SystemTime::now()).map_err(|m| Error::usage("--since", m))?;
    let prepared = prepare(env, None, Purpose::Inspect, PasswordSource::Env(None)).await?;
    // --audit: the state is read, and --agent checked, before any AWS call.
    let audit = if args.audit {
        Some(audit_setup(
            prepared.state.as_ref(),
            &prepared.settings.stack,
            args,
            crate::term::width(),
        )?)
    } else {
        None
    };
    let (aws, account) = connect(env, &prepared).await?;
    let engine = super::engine(env, &prepared, aws, &account);
    let cx = Cx::new(
        engine.shared.clone(),
        "logs",
        crate::progress::Progress::hidden(),
    );
    let mut groups: Vec<(&'static str, String)> = Vec::new();
    let mut printer = match audit {
        Some((group, view)) => {
            groups.push((AUDIT_SOURCE, group));
            Printer::Audit(view)
        }
        None => {
            let source = args.source.unwrap_or(LogSource::All);
            if matches!(source, LogSource::Server | LogSource::All) {
                groups.push(("server", (log_group::CONTAINER_LOGS.name)(&cx)));
            }
            if matches!(source, LogSource::Interceptor | LogSource::All) {
                groups.push(("interceptor", (interceptor_function::LOG_GROUP.name)(&cx)));
            }
            Printer::Plain {
                json: args.json,
                names: groups.iter().cloned().collect(),
            }
        }
    };

    // The first read: every source; a missing log group is reported, and is an error when none exists.
    let mut events = Vec::new();
    let mut missing = Vec::new();
    for (source, group) in &groups {
        match fetch(&cx, source, group, start).await? {
            Some(mut e) => events.append(&mut e),
            None => missing.push(group.clone()),
        }
    }
    if args.audit && !missing.is_empty() {
        return Err(Error::other(format!(
            "logs --audit: the gateway's audit log group {} does not exist in {}: `neo4j-gw up` creates it with the \
             gateway's log delivery (a stack deployed before issue 20 has none until `up` runs again)",
            missing.join(" and "),
            prepared.region
        )));
    }
    if missing.len() == groups.len() {
        return Err(Error::other(format!(
            "logs: the log group{} {} of stack `{}` {} not exist in {}: deploy the stack with `neo4j-gw up` (or pass the \
             --stack and --region it was deployed with)",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(" and "),
            prepared.settings.stack,
            if missing.len() == 1 { "does" } else { "do" },
            prepared.region
        )));
    }
    for m in &missing {
        env.progress.note(&format!(
            "logs: log group {m} does not exist (yet); skipped"
        ));
    }
    let mut seen: BTreeSet<Key> = BTreeSet::new();
    let mut newest = start;
    for e in merge(events) {
        newest = newest.max(e.timestamp_ms);
        seen.insert(e.key());
        printer.print(&e);
    }
    if !args.follow {
        printer.finish(env);
        return Ok(exit::OK);
    }
    let interval = if cx.emulated() {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(2)
    };
    loop {
        if cx.shared.cancel.sleep(interval).await.is_err() {
            // Ctrl-C is how --follow ends.
            printer.finish(env);
            return Ok(exit::OK);
        }
        let from = newest - LATE.as_millis() as i64;
        let mut fresh = Vec::new();
        for (source, group) in &groups {
            if let Some(mut e) = fetch(&cx, source, group, from.max(start)).await? {
                fresh.append(&mut e);
            }
        }
        for e in merge(fresh) {
            if seen.insert(e.key()) {
                newest = newest.max(e.timestamp_ms);
                printer.print(&e);
            }
        }
        // Forget what is too old to be asked for again.
        let horizon = newest - 2 * LATE.as_millis() as i64;
        seen.retain(|k| k.0 >= horizon);
        std::io::Write::flush(&mut std::io::stdout()).ok();
    }
}

/// Every event of one log group from `start` on (all pages); `None` when the log group does not exist.
pub(crate) async fn fetch(
    cx: &Cx,
    source: &'static str,
    group: &str,
    start: i64,
) -> Result<Option<Vec<Event>>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = cx
            .aws()
            .logs
            .filter_log_events()
            .log_group_name(group)
            .start_time(start)
            .set_next_token(token.clone())
            .send()
            .await;
        let page = match page {
            Ok(p) => p,
            Err(e) if error::code_of(&e) == Some("ResourceNotFoundException") => return Ok(None),
            Err(e) => return Err(error::aws(format!("logs ({group})"), "FilterLogEvents", e)),
        };
        out.extend(page.events().iter().map(|e| Event {
            timestamp_ms: e.timestamp().unwrap_or_default(),
            source,
            log_stream: e.log_stream_name().unwrap_or_default().to_owned(),
            event_id: e.event_id().unwrap_or_default().to_owned(),
            message: e.message().unwrap_or_default().to_owned(),
        }));
        match page.next_token() {
            Some(t) if !t.is_empty() && Some(t) != token.as_deref() => token = Some(t.to_owned()),
            _ => return Ok(Some(out)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ts: i64, source: &'static str, msg: &str) -> Event {
        Event {
            timestamp_ms: ts,
            source,
            log_stream: "s".into(),
            event_id: format!("{ts}"),
            message: msg.into(),
        }
    }

    #[test]
    fn since_is_a_duration_or_a_time() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_since("10m", now).unwrap(),
            1_700_000_000_000 - 600_000
        );
        assert_eq!(
            parse_since("2023-11-14T22:13:20Z", now).unwrap(),
            1_700_000_000_000
        );
        assert!(parse_since("yesterday", now).unwrap_err().contains("10m"));
    }

    #[test]
    fn sources_are_merged_by_time_and_labelled() {
        let merged = merge(vec![
            event(3, "server", "c"),
            event(1, "interceptor", "a\n"),
            event(2, "server", "b"),
        ]);
        let msgs: Vec<&str> = merged.iter().map(|e| e.message.trim()).collect();
        assert_eq!(msgs, vec!["a", "b", "c"]);
        assert_eq!(merged[0].line(), "1970-01-01T00:00:00.001Z interceptor a");
        let j = merged[0].json("/aws/lambda/x");
        assert_eq!(j["source"], "interceptor");
        assert_eq!(j["message"], "a");
        assert_eq!(j["log_group"], "/aws/lambda/x");
    }
}
