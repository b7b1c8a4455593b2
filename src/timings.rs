//! Where a run's time goes: the engine records one span per phase of each resource (observe, create, update,
//! delete, wait, gone — the look that proves a delete took) and the commands add their own steps (the account check, the verification through the
//! gateway). `--timings FILE` writes them as a timeline — `.html` or `.svg` to look at, like cargo's `--timings`,
//! `.json` to compare runs — with the run's critical path.
//!
//! The critical path is computed from the same run's spans: for each walk of the engine (the walks run one after
//! another), the longest chain through the walk's ordering of the sum of each node's span durations, plus the
//! steps outside walks. `wall / critical path` says how much the scheduling added: 1.0 would mean every resource
//! started the moment the last thing it waits for finished.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize)]
pub struct Span {
    pub node: String,
    pub phase: &'static str,
    /// The index of the walk the span belongs to (see [`WalkRecord`]); none for a step outside walks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub walk: Option<usize>,
    pub start_ms: f64,
    pub end_ms: f64,
}

/// One walk of the engine: which nodes each node waited for.
#[derive(Debug, Clone, Serialize)]
pub struct WalkRecord {
    pub name: &'static str,
    pub start_ms: f64,
    pub end_ms: f64,
    #[serde(skip)]
    pub prereqs: BTreeMap<&'static str, Vec<&'static str>>,
}

#[derive(Default)]
struct Inner {
    spans: Vec<Span>,
    walks: Vec<WalkRecord>,
    current: Option<usize>,
}

/// The recorder, shared by the engine and the command.
pub struct Timings {
    t0: Instant,
    inner: Mutex<Inner>,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

impl Timings {
    /// `t0`: the start of the process (wall time is measured from there).
    pub fn new(t0: Instant) -> Self {
        Timings {
            t0,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn since(&self, at: Instant) -> f64 {
        ms(at.saturating_duration_since(self.t0))
    }

    /// Marks the start of a walk; spans recorded until [`Timings::end_walk`] belong to it.
    pub fn begin_walk(
        &self,
        name: &'static str,
        prereqs: BTreeMap<&'static str, Vec<&'static str>>,
    ) -> usize {
        let now = self.since(Instant::now());
        let mut inner = self.lock();
        inner.walks.push(WalkRecord {
            name,
            start_ms: now,
            end_ms: now,
            prereqs,
        });
        let index = inner.walks.len() - 1;
        inner.current = Some(index);
        index
    }

    pub fn end_walk(&self, index: usize) {
        let now = self.since(Instant::now());
        let mut inner = self.lock();
        if let Some(w) = inner.walks.get_mut(index) {
            w.end_ms = now;
        }
        inner.current = None;
    }

    /// Records a span that started at `start` and ends now.
    pub fn record(&self, node: &str, phase: &'static str, start: Instant) {
        self.push(node, phase, true, start);
    }

    /// A step that runs beside the walks (the account check of a deployed stack): shown on the timeline, not added
    /// to the critical path.
    pub fn record_beside(&self, node: &str, start: Instant) {
        self.push(node, "beside", false, start);
    }

    /// A step of the command outside the engine's walks (on the critical path by construction: nothing runs
    /// beside it).
    pub fn step(&self, name: &str, start: Instant) {
        self.push(name, "step", false, start);
    }

    /// A span from `start` to now, in the current walk when `in_walk`.
    fn push(&self, node: &str, phase: &'static str, in_walk: bool, start: Instant) {
        let (start_ms, end_ms) = (self.since(start), self.since(Instant::now()));
        let mut inner = self.lock();
        let walk = if in_walk { inner.current } else { None };
        inner.spans.push(Span {
            node: node.to_owned(),
            phase,
            walk,
            start_ms,
            end_ms,
        });
    }

    /// The run so far, with its critical path.
    pub fn report(&self, command: &str) -> Report {
        let wall_ms = self.since(Instant::now());
        let inner = self.lock();
        let mut path: Vec<PathEntry> = Vec::new();
        let mut critical = 0.0;
        let mut walks = Vec::new();
        // Walks and steps in the order they ran.
        let mut items: Vec<(f64, Option<usize>, Option<&Span>)> = inner
            .walks
            .iter()
            .enumerate()
            .map(|(i, w)| (w.start_ms, Some(i), None))
            .collect();
        items.extend(
            inner
                .spans
                .iter()
                .filter(|s| s.walk.is_none() && s.phase == "step")
                .map(|s| (s.start_ms, None, Some(s))),
        );
        items.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, walk, step) in items {
            if let Some(i) = walk {
                let w = &inner.walks[i];
                let (length, chain) = walk_critical_path(w, &inner.spans, i);
                critical += length;
                walks.push(WalkSummary {
                    name: w.name,
                    start_ms: w.start_ms,
                    end_ms: w.end_ms,
                    critical_path_ms: round(length),
                });
                // A walk that made no call (everything it needed was observed already) adds nothing to the path.
                if length > 0.0 {
                    path.extend(chain.into_iter().map(|(node, ms)| PathEntry {
                        walk: w.name.to_owned(),
                        node,
                        ms: round(ms),
                    }));
                }
            } else if let Some(s) = step {
                let d = s.end_ms - s.start_ms;
                critical += d;
                path.push(PathEntry {
                    walk: "step".into(),
                    node: s.node.clone(),
                    ms: round(d),
                });
            }
        }
        Report {
            command: command.to_owned(),
            wall_ms: round(wall_ms),
            critical_path_ms: round(critical),
            wall_over_critical_path: if critical > 0.0 {
                (wall_ms / critical * 100.0).round() / 100.0
            } else {
                0.0
            },
            critical_path: path,
            walks,
            spans: inner.spans.clone(),
        }
    }
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The longest chain of one walk: each node weighs the sum of its spans in the walk.
fn walk_critical_path(w: &WalkRecord, spans: &[Span], index: usize) -> (f64, Vec<(String, f64)>) {
    let mut weight: BTreeMap<&str, f64> = BTreeMap::new();
    for s in spans.iter().filter(|s| s.walk == Some(index)) {
        *weight.entry(s.node.as_str()).or_default() += s.end_ms - s.start_ms;
    }
    // Longest path by memoised recursion over the (acyclic) prerequisites.
    fn finish<'a>(
        n: &'a str,
        w: &'a WalkRecord,
        weight: &BTreeMap<&str, f64>,
        memo: &mut BTreeMap<&'a str, (f64, Option<&'a str>)>,
    ) -> f64 {
        if let Some((f, _)) = memo.get(n) {
            return *f;
        }
        let mut best: (f64, Option<&'a str>) = (0.0, None);
        for p in w.prereqs.get(n).into_iter().flatten() {
            let f = finish(p, w, weight, memo);
            if f > best.0 {
                best = (f, Some(p));
            }
        }
        let f = best.0 + weight.get(n).copied().unwrap_or(0.0);
        memo.insert(n, (f, best.1));
        f
    }
    let mut memo = BTreeMap::new();
    let mut end: Option<(&str, f64)> = None;
    for n in w.prereqs.keys() {
        let f = finish(n, w, &weight, &mut memo);
        if end.is_none_or(|(_, best)| f > best) {
            end = Some((n, f));
        }
    }
    let Some((last, length)) = end else {
        return (0.0, Vec::new());
    };
    let mut chain = Vec::new();
    let mut at = Some(last);
    while let Some(n) = at {
        chain.push((n.to_owned(), weight.get(n).copied().unwrap_or(0.0)));
        at = memo.get(n).and_then(|(_, prev)| *prev);
    }
    chain.reverse();
    (length, chain)
}

#[derive(Debug, Clone, Serialize)]
pub struct PathEntry {
    /// The walk (`observe`, `up`, `down`, …) or `step`.
    pub walk: String,
    pub node: String,
    pub ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct WalkSummary {
    pub name: &'static str,
    pub start_ms: f64,
    pub end_ms: f64,
    pub critical_path_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub command: String,
    /// From the start of the process to the report.
    pub wall_ms: f64,
    pub critical_path_ms: f64,
    pub wall_over_critical_path: f64,
    pub critical_path: Vec<PathEntry>,
    pub walks: Vec<WalkSummary>,
    pub spans: Vec<Span>,
}

/// The format `--timings FILE` asks for, by the file's extension: checked before the run, not after it — with the
/// directory the file goes in, which must exist (it is never created: a typo would otherwise make directories).
pub fn format_of(path: &Path) -> Result<&'static str> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(Error::usage(
            "--timings",
            format!(
                "{}: the directory {} does not exist (it is not created); create it or name another file",
                path.display(),
                dir.display()
            ),
        ));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "json" => Ok("json"),
        "svg" => Ok("svg"),
        "html" | "htm" => Ok("html"),
        _ => Err(Error::usage(
            "--timings",
            format!(
                "{}: the file name must end in .html, .svg or .json",
                path.display()
            ),
        )),
    }
}

impl Report {
    /// Writes the report to `path`: `.json`, `.svg` or `.html` by its extension.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = match format_of(path)? {
            "json" => serde_json::to_string_pretty(self).unwrap_or_default(),
            "svg" => self.svg(),
            _ => format!(
                "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>neo4j-gw {} timings</title>\
                 <style>body{{font-family:sans-serif;margin:1em}}</style></head><body>\n<h1>neo4j-gw {}</h1>\n<p>{}</p>\n{}\n\
                 <h2>Critical path</h2>\n<ol>{}</ol>\n</body></html>\n",
                esc(&self.command),
                esc(&self.command),
                esc(&self.headline()),
                self.svg(),
                self.critical_path
                    .iter()
                    .map(|e| format!(
                        "<li>{} {} — {:.0} ms</li>",
                        esc(&e.walk),
                        esc(&e.node),
                        e.ms
                    ))
                    .collect::<String>()
            ),
        };
        crate::state::write_atomic(path, text.as_bytes())
            .map_err(|e| Error::other(format!("--timings: {e}")))
    }

    fn headline(&self) -> String {
        format!(
            "wall {:.2} s, critical path {:.2} s, wall / critical path {:.2}",
            self.wall_ms / 1e3,
            self.critical_path_ms / 1e3,
            self.wall_over_critical_path
        )
    }

    /// One row per resource (and step), one bar per span, coloured by phase.
    pub fn svg(&self) -> String {
        let mut rows: Vec<&str> = Vec::new();
        for s in &self.spans {
            if !rows.contains(&s.node.as_str()) {
                rows.push(&s.node);
            }
        }
        let (label_w, chart_w, row_h, top) = (190.0, 900.0, 16.0, 40.0);
        let span_ms = self.wall_ms.max(1.0);
        let x = |t: f64| label_w + t / span_ms * chart_w;
        let height = top + row_h * rows.len() as f64 + 30.0;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">",
            label_w + chart_w + 20.0
        );
        let _ = writeln!(
            out,
            "<text x=\"4\" y=\"14\" font-size=\"13\">neo4j-gw {}: {}</text>",
            esc(&self.command),
            esc(&self.headline())
        );
        // Legend and a grid line per second.
        let mut lx = 4.0;
        for phase in PHASES {
            let _ = writeln!(
                out,
                "<rect x=\"{lx}\" y=\"22\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"31\">{phase}</text>",
                colour(phase),
                lx + 13.0
            );
            lx += 13.0 + 7.0 * phase.len() as f64 + 12.0;
        }
        let mut t = 0.0;
        while t <= span_ms {
            let _ = writeln!(
                out,
                "<line x1=\"{0}\" x2=\"{0}\" y1=\"{top}\" y2=\"{1}\" stroke=\"#ddd\"/><text x=\"{0}\" y=\"{2}\" fill=\"#888\">{3}s</text>",
                x(t),
                height - 18.0,
                height - 6.0,
                t / 1e3
            );
            t += tick(span_ms);
        }
        for (i, node) in rows.iter().enumerate() {
            let y = top + row_h * i as f64;
            let _ = writeln!(out, "<text x=\"4\" y=\"{}\">{}</text>", y + 11.0, esc(node));
            for s in self.spans.iter().filter(|s| s.node == *node) {
                let w = (x(s.end_ms) - x(s.start_ms)).max(1.0);
                let _ = writeln!(
                    out,
                    "<rect x=\"{:.1}\" y=\"{}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\"><title>{} {}: {:.0}–{:.0} ms</title></rect>",
                    x(s.start_ms),
                    y + 2.0,
                    row_h - 4.0,
                    colour(s.phase),
                    esc(node),
                    s.phase,
                    s.start_ms,
                    s.end_ms
                );
            }
        }
        out.push_str("</svg>");
        out
    }
}

/// The phases, in the legend's order.
pub const PHASES: [&str; 8] = [
    "observe", "create", "update", "delete", "wait", "gone", "beside", "step",
];

fn colour(phase: &str) -> &'static str {
    match phase {
        "observe" => "#9ecae1",
        "create" => "#31a354",
        "update" => "#fdae6b",
        "delete" => "#de2d26",
        "gone" => "#fcbba1",
        "wait" => "#bcbddc",
        "beside" => "#756bb1",
        _ => "#636363",
    }
}

fn tick(span_ms: f64) -> f64 {
    [
        100.0, 250.0, 500.0, 1e3, 2e3, 5e3, 10e3, 30e3, 60e3, 120e3, 300e3,
    ]
    .into_iter()
    .find(|t| span_ms / t <= 20.0)
    .unwrap_or(600e3)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(node: &str, walk: usize, start: f64, end: f64) -> Span {
        Span {
            node: node.into(),
            phase: "create",
            walk: Some(walk),
            start_ms: start,
            end_ms: end,
        }
    }

    #[test]
    fn critical_path_is_the_heaviest_chain_not_the_longest_list() {
        // a → b → c (1 + 1 + 1) against a → d (1 + 5): the path is a, d.
        let w = WalkRecord {
            name: "up",
            start_ms: 0.0,
            end_ms: 6.0,
            prereqs: BTreeMap::from([
                ("a", vec![]),
                ("b", vec!["a"]),
                ("c", vec!["b"]),
                ("d", vec!["a"]),
            ]),
        };
        let spans = vec![
            span("a", 0, 0.0, 1.0),
            span("b", 0, 1.0, 2.0),
            span("c", 0, 2.0, 3.0),
            span("d", 0, 1.0, 6.0),
        ];
        let (length, chain) = walk_critical_path(&w, &spans, 0);
        assert_eq!(length, 6.0);
        let names: Vec<&str> = chain.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "d"]);
    }

    #[test]
    fn a_node_with_two_spans_weighs_both() {
        let w = WalkRecord {
            name: "up",
            start_ms: 0.0,
            end_ms: 9.0,
            prereqs: BTreeMap::from([("a", vec![]), ("b", vec![])]),
        };
        let spans = vec![
            span("a", 0, 0.0, 2.0),
            span("a", 0, 5.0, 9.0),
            span("b", 0, 0.0, 5.0),
        ];
        assert_eq!(walk_critical_path(&w, &spans, 0).0, 6.0);
    }

    #[test]
    fn the_report_adds_steps_and_walks_and_renders_every_format() {
        let ago = |ms| {
            Instant::now()
                .checked_sub(Duration::from_millis(ms))
                .unwrap()
        };
        let t = Timings::new(ago(20));
        let i = t.begin_walk("up", BTreeMap::from([("vpc", vec![])]));
        t.record("vpc", "create", ago(10));
        t.end_walk(i);
        // A walk that found everything observed already: not on the path.
        let j = t.begin_walk("observe", BTreeMap::from([("vpc", vec![])]));
        t.end_walk(j);
        t.step("(verify)", Instant::now());
        let r = t.report("up");
        assert_eq!(r.walks.len(), 2);
        assert_eq!(r.critical_path.len(), 2, "{:?}", r.critical_path);
        assert_eq!(r.critical_path[1].node, "(verify)");
        assert!(r.svg().contains("<rect"));
        let dir = tempfile::tempdir().unwrap();
        for ext in ["json", "svg", "html"] {
            let p = dir.path().join(format!("t.{ext}"));
            r.write(&p).unwrap();
            assert!(std::fs::metadata(&p).unwrap().len() > 100);
        }
        assert!(r.write(&dir.path().join("t.txt")).is_err());
    }
}
