//! The reconciler engine: walks the plan's resources in dependency order (independent ones concurrently,
//! bounded), for `up` (observe → create / update / replace → wait), `down` (reverse order: observe →
//! delete → prove it is gone) and `status` (observe only, read-only calls).
//!
//! State discipline: an intent record is written before every create call and the state file is flushed
//! after every step, so a run killed at any instant leaves a state the next run can complete; resources are
//! found by tag or deterministic name when the state has no IDs for them, and adopted instead of duplicated.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::resources::{
    CREATE_TOKEN, Cx, DUPLICATE, Drift, Duplicate, Health, Live, Observation, Resource, Shared,
    new_create_token,
};
use crate::state::{Ids, Record, State, StateFile, Status, now};
use crate::timings::Timings;

/// How often one node's step is tried when it fails with an uncertain or passing error (on top of the SDK's
/// own retries of each call), and the pause before the second try (doubling after).
pub const STEP_ATTEMPTS: u32 = 4;
pub const STEP_BACKOFF: Duration = Duration::from_secs(1);

/// How many times `down` deletes what its proof of absence still finds (a copy that landed late: a create an
/// earlier run sent without an idempotency token) before it gives up and says so.
pub const GONE_ROUNDS: u32 = 3;

/// Signals a run to stop after the calls in flight.
#[derive(Clone)]
pub struct Cancel {
    rx: watch::Receiver<Option<&'static str>>,
}

pub struct CancelHandle {
    tx: watch::Sender<Option<&'static str>>,
}

impl CancelHandle {
    pub fn cancel(&self, signal: &'static str) {
        let _ = self.tx.send(Some(signal));
    }
}

impl Cancel {
    pub fn new() -> (CancelHandle, Cancel) {
        let (tx, rx) = watch::channel(None);
        (CancelHandle { tx }, Cancel { rx })
    }

    pub fn check(&self) -> Result<()> {
        match *self.rx.borrow() {
            Some(signal) => Err(Error::Interrupted(signal)),
            None => Ok(()),
        }
    }

    /// Sleeps, or returns `Interrupted` as soon as a signal arrives.
    pub async fn sleep(&self, d: Duration) -> Result<()> {
        self.check()?;
        let mut rx = self.rx.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            _ = rx.changed() => self.check(),
        }
    }
}

/// The state file and its in-memory copy; every change is flushed at once.
pub struct Store {
    file: StateFile,
    state: Mutex<State>,
}

impl Store {
    pub fn new(file: StateFile, state: State) -> Self {
        Store {
            file,
            state: Mutex::new(state),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> Result<T> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let out = f(&mut state);
        self.file.save(&state)?;
        Ok(out)
    }

    pub fn get(&self, id: &str) -> Option<Record> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .resources
            .get(id)
            .cloned()
    }

    /// A copy of the state as it is now.
    pub fn snapshot(&self) -> State {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn flush(&self) -> Result<()> {
        self.with(|_| ())
    }

    fn put(&self, id: &str, kind: &str, owned: bool, status: Status, ids: &Ids) -> Result<()> {
        let unchanged = self.get(id).is_some_and(|r| {
            r.status == status && &r.ids == ids && r.owned == owned && r.kind == kind
        });
        if unchanged {
            return Ok(());
        }
        self.with(|s| {
            s.resources.insert(
                id.to_owned(),
                Record {
                    kind: kind.to_owned(),
                    owned,
                    status,
                    ids: ids.clone(),
                    updated_at: now(),
                },
            );
        })
    }

    fn remove(&self, id: &str) -> Result<()> {
        if self.get(id).is_none() {
            return Ok(());
        }
        self.with(|s| {
            s.resources.remove(id);
        })
    }

    pub fn set_settings(&self, settings: BTreeMap<String, String>) -> Result<()> {
        self.with(|s| s.settings = settings)
    }

    pub fn remove_file(&self) -> Result<()> {
        self.file.remove()
    }
}

/// What happened to one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated(Vec<String>),
    Replaced(Vec<String>),
    Adopted,
    /// Created by this run, whose answer was lost: found again by tag or name.
    Recovered,
    Unchanged,
    Deleted,
    Absent,
    /// Left in place (not the stack's), with the reason.
    Kept(String),
    /// Not used with these settings, and not there.
    Unused,
}

impl Outcome {
    /// One word for summaries and JSON: created, updated, replaced, adopted, unchanged, deleted, absent, kept, unused.
    pub fn key(&self) -> &'static str {
        match self {
            Outcome::Created | Outcome::Recovered => "created",
            Outcome::Updated(_) => "updated",
            Outcome::Replaced(_) => "replaced",
            Outcome::Adopted => "adopted",
            Outcome::Unchanged => "unchanged",
            Outcome::Deleted => "deleted",
            Outcome::Absent => "absent",
            Outcome::Kept(_) => "kept",
            Outcome::Unused => "unused",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Outcome::Created => "created".into(),
            Outcome::Updated(a) => format!("updated ({})", a.join(", ")),
            Outcome::Replaced(a) => format!("replaced ({})", a.join(", ")),
            Outcome::Adopted => "adopted (found by tag/name)".into(),
            Outcome::Recovered => "created (answer lost, found again)".into(),
            Outcome::Unchanged => "up to date".into(),
            Outcome::Deleted => "deleted (verified gone)".into(),
            Outcome::Absent => "already gone".into(),
            Outcome::Kept(why) => format!("kept: {why}"),
            Outcome::Unused => "not used with these settings".into(),
        }
    }
}

/// One line of `status`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub resource: String,
    pub kind: String,
    pub owned: bool,
    /// present | missing | drifted | unhealthy | pending | foreign | error | unused (not used with these settings)
    pub state: &'static str,
    pub ids: Ids,
    pub drift: Vec<Drift>,
    /// The nodes this one depends on (created before it, deleted after it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Other copies carrying the node's tags (also in `drift`): `up` and `down` delete them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub duplicates: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.state == "present" || self.state == "unused"
    }
}

/// The results of a walk, per node.
pub struct Results<T> {
    pub by_node: Vec<(&'static str, Result<T>)>,
}

impl<T> Results<T> {
    pub fn errors(self) -> Vec<Error> {
        self.by_node
            .into_iter()
            .filter_map(|(_, r)| r.err())
            .collect()
    }
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = (&'static str, Result<T>)> + Send + 'a>>;

/// In which order a walk takes the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// Dependencies first (`up`).
    Forward,
    /// Dependents first (`down`).
    Reverse,
    /// Observing: a node waits only for the dependencies whose IDs are not known yet (from the state or this run),
    /// because its observe may need them to find itself or to judge drift. With a state file every node is observed
    /// at once: dependencies matter for what to change, not for what to read.
    Observe,
}

pub struct Engine {
    pub plan: Vec<Arc<dyn Resource>>,
    pub shared: Arc<Shared>,
    pub progress: Progress,
    /// How many nodes are worked on at once; 0: every node that is ready. Throttling is handled per call by the
    /// SDK's adaptive retry, not by a cap here (`--concurrency 1` gives the sequential baseline of the benchmark).
    pub concurrency: usize,
    pub timings: Arc<Timings>,
    /// Nodes whose create call this run made: when one is then found present (its answer was lost), it was created
    /// by this run, not adopted from an earlier one.
    created_here: Mutex<BTreeSet<&'static str>>,
    /// Observations this run made and has not acted on yet: `up` and `down` act on the observation the plan was
    /// made from instead of observing again (see [`Engine::take_observation`] for when one is stale).
    observed: Mutex<BTreeMap<&'static str, Observation>>,
    /// Nodes this run created, changed or deleted.
    changed: Mutex<BTreeSet<&'static str>>,
    /// What the last observe of each node found, for the nodes owned through it ([`Engine::judged`]).
    seen: Mutex<BTreeMap<&'static str, Seen>>,
}

/// What the last observe of a node found, as far as the nodes owned through it care.
#[derive(Debug, Clone)]
enum Seen {
    Read,
    Foreign,
    Unreadable(String),
}

impl Engine {
    pub fn new(plan: Vec<Arc<dyn Resource>>, shared: Arc<Shared>, progress: Progress) -> Self {
        Engine {
            plan,
            shared,
            progress,
            concurrency: 0,
            timings: Arc::new(Timings::new(Instant::now())),
            created_here: Mutex::new(BTreeSet::new()),
            observed: Mutex::new(BTreeMap::new()),
            changed: Mutex::new(BTreeSet::new()),
            seen: Mutex::new(BTreeMap::new()),
        }
    }

    /// Runs one phase of a node and records its span in the timings.
    async fn timed<T>(
        &self,
        node: &'static str,
        phase: &'static str,
        f: impl Future<Output = T>,
    ) -> T {
        let start = Instant::now();
        let out = crate::ledger::SCOPE.scope((node, phase), f).await;
        self.timings.record(node, phase, start);
        out
    }

    /// Observes a node now (read-only calls), recording the span.
    async fn observe(
        &self,
        node: &Arc<dyn Resource>,
        cx: &Cx,
        recorded: Option<&Ids>,
    ) -> Result<Observation> {
        let obs = self
            .timed(node.id(), "observe", node.observe(cx, recorded))
            .await;
        self.judged(node, obs)
    }

    /// An observation as the run takes it: a node owned through another ([`Resource::owned_through`]) is foreign when
    /// that node was found foreign, and cannot be judged (an error: nothing is done to it) when that node could not
    /// be read. Remembers what was seen of every node for the nodes owned through it.
    fn judged(&self, node: &Arc<dyn Resource>, obs: Result<Observation>) -> Result<Observation> {
        let obs = match (obs, node.owned_through()) {
            (Ok(Observation::Present(live)), Some(owner)) => match self.seen(owner) {
                Some(Seen::Foreign) => Ok(Observation::Foreign(format!(
                    "{} {} belongs to {owner} {}, which is not this stack's ({} has no tags of its own: it is the \
                     stack's only when its {owner} is)",
                    node.kind(),
                    live.ids.values().next().map(String::as_str).unwrap_or("?"),
                    self.shared
                        .known
                        .read()
                        .ok()
                        .and_then(|k| k.get(owner).and_then(|ids| ids.values().next().cloned()))
                        .unwrap_or_default(),
                    node.kind()
                ))),
                Some(Seen::Unreadable(why)) => Err(Error::other(format!(
                    "{}: cannot tell whether it is this stack's: {owner} could not be read ({why})",
                    node.id()
                ))),
                _ => Ok(Observation::Present(live)),
            },
            (obs, _) => obs,
        };
        let seen = match &obs {
            Ok(Observation::Foreign(_)) => Seen::Foreign,
            Ok(_) => Seen::Read,
            Err(e) => Seen::Unreadable(first_line(&e.to_string()).to_owned()),
        };
        if let Ok(mut m) = self.seen.lock() {
            m.insert(node.id(), seen);
        }
        obs
    }

    fn seen(&self, id: &str) -> Option<Seen> {
        self.seen.lock().ok()?.get(id).cloned()
    }

    /// Observes the plan node `id` on its own (read-only calls), judged as every observation is.
    pub async fn observe_node(&self, id: &str, recorded: Option<&Ids>) -> Result<Observation> {
        let node = self
            .plan
            .iter()
            .find(|n| n.id() == id)
            .cloned()
            .ok_or_else(|| Error::other(format!("internal: no node {id} in the plan")))?;
        let cx = self.quiet_cx(&node);
        self.observe(&node, &cx, recorded).await
    }

    /// Every node this one depends on, directly or not.
    fn upstream(&self, id: &str) -> BTreeSet<&'static str> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![id];
        while let Some(n) = todo.pop() {
            if let Some(node) = self.plan.iter().find(|p| p.id() == n) {
                for d in node.depends_on() {
                    if seen.insert(*d) {
                        todo.push(d);
                    }
                }
            }
        }
        seen
    }

    /// The observation of `node` this run made earlier and has not acted on, when it still holds: taken, so a
    /// second look (after an uncertain error) observes afresh. A resource found missing stays missing while this
    /// run holds the stack's lock; one found present is observed again when something it depends on was created,
    /// changed or deleted since (its drift was judged against the old IDs).
    fn take_observation(&self, node: &Arc<dyn Resource>) -> Option<Observation> {
        let obs = self.observed.lock().ok()?.remove(node.id())?;
        if matches!(obs, Observation::Missing) {
            return Some(obs);
        }
        let changed = self.changed.lock().ok()?;
        if self.upstream(node.id()).iter().any(|d| changed.contains(d)) {
            return None;
        }
        Some(obs)
    }

    /// Whether this run created, changed or deleted any of `ids`.
    pub fn changed_any(&self, ids: &[&str]) -> bool {
        self.changed
            .lock()
            .map(|c| ids.iter().any(|id| c.contains(id)))
            .unwrap_or(true)
    }

    fn mark_changed(&self, id: &'static str, outcome: &Outcome) {
        let change = matches!(
            outcome,
            Outcome::Created
                | Outcome::Recovered
                | Outcome::Updated(_)
                | Outcome::Replaced(_)
                | Outcome::Deleted
        );
        if change && let Ok(mut c) = self.changed.lock() {
            c.insert(id);
        }
    }

    /// Observes every node of `nodes` that this run has not observed yet, all at once where the IDs they need are
    /// known ([`Order::Observe`]); keeps each observation for `up`/`down` to act on and returns them all.
    async fn observe_all<R>(
        &self,
        nodes: &[Arc<dyn Resource>],
        recorded: R,
    ) -> BTreeMap<&'static str, Result<Observation>>
    where
        R: Fn(&str) -> Option<Ids> + Sync,
    {
        let recorded = &recorded;
        self.shared.batches.set_open(true);
        let results = self
            .walk("observe", nodes, Order::Observe, false, |node| {
                let cx = self.quiet_cx(&node);
                Box::pin(async move {
                    let id = node.id();
                    if let Some(o) = self.observed.lock().ok().and_then(|m| m.get(id).cloned()) {
                        return Ok(o);
                    }
                    let obs = self.observe(&node, &cx, recorded(id).as_ref()).await?;
                    if let Observation::Present(live) = &obs {
                        self.learn(id, &live.ids);
                    }
                    if let Ok(mut m) = self.observed.lock() {
                        m.insert(id, obs.clone());
                    }
                    Ok(obs)
                })
            })
            .await;
        self.shared.batches.set_open(false);
        let mut results: BTreeMap<&'static str, Result<Observation>> =
            results.by_node.into_iter().collect();
        // Nodes observed at once with the node they are owned through are judged again by what it turned out to be.
        for node in nodes {
            if node.owned_through().is_none()
                || !matches!(results.get(node.id()), Some(Ok(Observation::Present(_))))
            {
                continue;
            }
            let Some(obs) = results.remove(node.id()) else {
                continue;
            };
            let judged = self.judged(node, obs);
            if let Ok(mut m) = self.observed.lock() {
                match &judged {
                    Ok(o) => {
                        m.insert(node.id(), o.clone());
                    }
                    Err(_) => {
                        m.remove(node.id());
                    }
                }
            }
            results.insert(node.id(), judged);
        }
        results
    }

    fn cx(&self, node: &Arc<dyn Resource>) -> Cx {
        Cx::new(
            self.shared.clone(),
            node.id(),
            self.progress.line(node.id()),
        )
    }

    fn quiet_cx(&self, node: &Arc<dyn Resource>) -> Cx {
        Cx::new(self.shared.clone(), node.id(), Progress::hidden())
    }

    fn learn(&self, id: &str, ids: &Ids) {
        if let Ok(mut known) = self.shared.known.write() {
            known.insert(id.to_owned(), ids.clone());
        }
    }

    fn forget(&self, id: &str) {
        if let Ok(mut known) = self.shared.known.write() {
            known.remove(id);
        }
    }

    /// Runs `f` on every node of `nodes`, each once its prerequisites are done: dependencies first when
    /// `reverse` is false, dependents first when true. A node whose prerequisite failed is not run when
    /// `stop_on_failure` is set. No new node starts once a signal has arrived.
    async fn walk<'a, T, F>(
        &'a self,
        name: &'static str,
        nodes: &[Arc<dyn Resource>],
        order: Order,
        stop_on_failure: bool,
        f: F,
    ) -> Results<T>
    where
        T: Send + 'a,
        F: Fn(Arc<dyn Resource>) -> Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>,
    {
        let in_walk: BTreeSet<&'static str> = nodes.iter().map(|n| n.id()).collect();
        let known: BTreeSet<String> = self
            .shared
            .known
            .read()
            .map(|k| {
                k.iter()
                    .filter(|(_, ids)| ids.keys().any(|key| key != CREATE_TOKEN))
                    .map(|(node, _)| node.clone())
                    .collect()
            })
            .unwrap_or_default();
        let prereqs: BTreeMap<&'static str, Vec<&'static str>> = nodes
            .iter()
            .map(|n| {
                let p: Vec<&'static str> = match order {
                    Order::Reverse => nodes
                        .iter()
                        .filter(|m| m.depends_on().contains(&n.id()))
                        .map(|m| m.id())
                        .collect(),
                    Order::Forward | Order::Observe => n
                        .depends_on()
                        .iter()
                        .copied()
                        .filter(|d| in_walk.contains(d))
                        .filter(|d| order == Order::Forward || !known.contains(*d))
                        .collect(),
                };
                (n.id(), p)
            })
            .collect();
        let walk_index = self.timings.begin_walk(name, prereqs.clone());
        let mut pending: Vec<Arc<dyn Resource>> = nodes.to_vec();
        let mut done_ok: BTreeSet<&'static str> = BTreeSet::new();
        let mut done_failed: BTreeSet<&'static str> = BTreeSet::new();
        let mut results: Vec<(&'static str, Result<T>)> = Vec::new();
        let mut running: FuturesUnordered<BoxFut<'a, T>> = FuturesUnordered::new();
        loop {
            let interrupted = self.shared.cancel.check().is_err();
            // Nodes that can no longer run because a prerequisite failed.
            if stop_on_failure {
                let (blocked, rest): (Vec<_>, Vec<_>) = pending
                    .into_iter()
                    .partition(|n| prereqs[n.id()].iter().any(|p| done_failed.contains(p)));
                pending = rest;
                for n in blocked {
                    let failed: Vec<&str> = prereqs[n.id()]
                        .iter()
                        .copied()
                        .filter(|p| done_failed.contains(p))
                        .collect();
                    done_failed.insert(n.id());
                    let err = match self.shared.cancel.check() {
                        Err(interrupted) => interrupted,
                        Ok(()) => Error::Skipped(format!(
                            "{}: skipped because {} did not complete",
                            n.id(),
                            failed.join(", ")
                        )),
                    };
                    results.push((n.id(), Err(err)));
                }
            }
            if !interrupted {
                let mut i = 0;
                while i < pending.len()
                    && (self.concurrency == 0 || running.len() < self.concurrency)
                {
                    let ready = prereqs[pending[i].id()]
                        .iter()
                        .all(|p| done_ok.contains(p) || done_failed.contains(p));
                    if ready {
                        let node = pending.remove(i);
                        let id = node.id();
                        let fut = f(node);
                        running.push(Box::pin(async move { (id, fut.await) }));
                    } else {
                        i += 1;
                    }
                }
            }
            match running.next().await {
                Some((id, result)) => {
                    if result.is_ok() {
                        done_ok.insert(id);
                    } else {
                        done_failed.insert(id);
                    }
                    results.push((id, result));
                }
                None => break,
            }
        }
        if let Err(e) = self.shared.cancel.check() {
            for n in pending {
                results.push((
                    n.id(),
                    Err(match &e {
                        Error::Interrupted(s) => Error::Interrupted(s),
                        other => Error::other(other.to_string()),
                    }),
                ));
            }
        } else {
            for n in pending {
                results.push((
                    n.id(),
                    Err(Error::other(format!("{}: not reached", n.id()))),
                ));
            }
        }
        self.timings.end_walk(walk_index);
        Results { by_node: results }
    }

    /// How many nodes `up` and `down` work on (the owned ones).
    pub fn owned_count(&self) -> usize {
        self.plan.iter().filter(|n| !n.external()).count()
    }

    fn external(&self) -> Vec<Arc<dyn Resource>> {
        self.plan.iter().filter(|n| n.external()).cloned().collect()
    }

    fn owned(&self) -> Vec<Arc<dyn Resource>> {
        self.plan
            .iter()
            .filter(|n| !n.external())
            .cloned()
            .collect()
    }

    /// Observes what the stack uses but does not own; each problem is one line of the returned error.
    pub async fn preflight(&self, store: Option<&Store>) -> Result<()> {
        let externals = self.external();
        let observed = self
            .observe_all(&externals, |id| {
                store.and_then(|s| s.get(id)).map(|r| r.ids)
            })
            .await;
        let mut results = Vec::new();
        for (id, observation) in observed {
            let Some(node) = externals.iter().find(|n| n.id() == id) else {
                continue;
            };
            let cx = self.quiet_cx(node);
            let result: Result<(&'static str, &'static str, Ids)> = (|| match observation? {
                Observation::Present(live) => {
                    if let Health::Unhealthy(why) | Health::Pending(why) = &live.health {
                        return Err(Error::Preflight(format!("{}: {why}", node.id())));
                    }
                    if let Some(d) = live.drift.first() {
                        return Err(Error::Preflight(format!(
                            "{}: {} is {}, expected {}",
                            node.id(),
                            d.attribute,
                            d.actual,
                            d.expected
                        )));
                    }
                    self.learn(node.id(), &live.ids);
                    for (k, v) in &live.details {
                        if k == crate::resources::WARNING {
                            self.progress.note(&format!("warning: {}: {v}", node.id()));
                        }
                    }
                    Ok((node.id(), node.kind(), live.ids))
                }
                Observation::Missing => Err(Error::Preflight(node.missing_message(&cx))),
                Observation::Foreign(why) => Err(Error::Preflight(format!("{}: {why}", node.id()))),
            })();
            results.push(result);
        }
        // Recorded only when every check passed: a failed pre-flight leaves no state file behind.
        let mut checked = Vec::new();
        let mut errors = Vec::new();
        for r in results {
            match r {
                Ok(c) => checked.push(c),
                Err(e) => errors.push(e),
            }
        }
        match errors.len() {
            0 => {
                if let Some(store) = store {
                    for (id, kind, ids) in checked {
                        store.put(id, kind, false, Status::Ready, &ids)?;
                    }
                }
                Ok(())
            }
            1 => Err(errors
                .into_iter()
                .next()
                .unwrap_or_else(|| Error::other("preflight failed"))),
            _ => Err(Error::Preflight(
                errors
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            )),
        }
    }

    /// `up`: creates, repairs or adopts every owned resource, then waits until each works.
    pub async fn up(&self, store: &Store) -> Results<Outcome> {
        let owned = self.owned();
        // What `up` acts on is what the plan showed; with `up` called on its own, observed here first.
        self.observe_all(&owned, |id| store.get(id).map(|r| r.ids))
            .await;
        let mut duplicates_failed = self.remove_duplicates(&owned).await;
        let mut results = self
            .walk("up", &owned, Order::Forward, true, |node| {
                let cx = self.cx(&node);
                Box::pin(async move {
                    let result = self
                        .again_after_uncertain(&cx, || self.reconcile(&node, &cx, store))
                        .await;
                    match &result {
                        Ok(outcome) => {
                            self.mark_changed(node.id(), outcome);
                            cx.line.finish(outcome.describe(), true)
                        }
                        Err(e) => cx
                            .line
                            .finish(format!("failed: {}", first_line(&e.to_string())), false),
                    }
                    result
                })
            })
            .await;
        for (id, result) in results.by_node.iter_mut() {
            if let Some(e) = duplicates_failed.remove(*id)
                && result.is_ok()
            {
                *result = Err(e);
            }
        }
        results
    }

    /// The duplicates the observation of `id` this run made found (see [`Live::duplicates`]).
    fn observed_duplicates(&self, id: &str) -> Vec<Duplicate> {
        match self.observed.lock().ok().and_then(|m| m.get(id).cloned()) {
            Some(Observation::Present(live)) => live.duplicates,
            _ => Vec::new(),
        }
    }

    /// `up`: deletes the duplicates the observations found, before anything else changes — dependents first, so a
    /// duplicate VPC's own subnets, internet gateway and route table (duplicates of theirs) go before it. What is
    /// kept is each node's recorded copy (without a record, the oldest: see each kind's `observe`). Returns the
    /// nodes whose duplicates could not all be deleted, with the error.
    async fn remove_duplicates(
        &self,
        nodes: &[Arc<dyn Resource>],
    ) -> BTreeMap<&'static str, Error> {
        let with: Vec<Arc<dyn Resource>> = nodes
            .iter()
            .filter(|n| !self.observed_duplicates(n.id()).is_empty())
            .cloned()
            .collect();
        if with.is_empty() {
            return BTreeMap::new();
        }
        let results = self
            .walk("duplicates", &with, Order::Reverse, false, |node| {
                let cx = self.quiet_cx(&node);
                Box::pin(async move {
                    let duplicates = self.observed_duplicates(node.id());
                    self.delete_duplicates(&node, &cx, &duplicates).await
                })
            })
            .await;
        results
            .by_node
            .into_iter()
            .filter_map(|(id, r)| r.err().map(|e| (id, e)))
            .collect()
    }

    /// Deletes each of `duplicates`, printing `<node>: removed duplicate <id>`.
    async fn delete_duplicates(
        &self,
        node: &Arc<dyn Resource>,
        cx: &Cx,
        duplicates: &[Duplicate],
    ) -> Result<()> {
        for d in duplicates {
            cx.shared.cancel.check()?;
            cx.say(format!("deleting duplicate {}", d.id));
            self.timed(node.id(), "delete", node.delete_duplicate(cx, d))
                .await?;
            self.progress
                .note(&format!("{}: removed duplicate {}", node.id(), d.id));
        }
        Ok(())
    }

    /// A create an earlier run sent without an idempotency token (the intent is recorded, its answer is not) may
    /// still land — AWS carries out what a killed process sent, and its reads are eventually consistent — so before
    /// creating another, look again for `bound` ([`Resource::settle`]), saying so.
    async fn look_again(
        &self,
        node: &Arc<dyn Resource>,
        cx: &Cx,
        recorded: Option<&Ids>,
        bound: Duration,
    ) -> Result<Observation> {
        self.progress.note(&format!(
            "{}: an earlier run sent its create and never recorded the answer; {} creates take no idempotency \
             token, so looking for that one for up to {}s before creating another",
            node.id(),
            node.kind(),
            bound.as_secs()
        ));
        let start = Instant::now();
        let mut pause = Duration::from_secs(if cx.emulated() { 1 } else { 2 });
        loop {
            cx.say(format!(
                "waiting for an earlier run's create to show ({}s of {}s)",
                start.elapsed().as_secs(),
                bound.as_secs()
            ));
            cx.shared
                .cancel
                .sleep(pause.min(bound.saturating_sub(start.elapsed())))
                .await?;
            let observation = self.observe(node, cx, recorded).await?;
            if !matches!(observation, Observation::Missing) || start.elapsed() >= bound {
                return Ok(observation);
            }
            pause = (pause * 2).min(Duration::from_secs(30));
        }
    }

    /// Runs one node's step (`reconcile` or `remove`, both of which start by observing) again when it failed
    /// with an error whose outcome is uncertain or passing ([`Error::worth_another_look`]): a create whose
    /// answer was lost may have been carried out, and the fresh observe then finds and adopts it by its tags or
    /// name instead of creating a second copy; a repeated delete finds it gone. Bounded: [`STEP_ATTEMPTS`].
    async fn again_after_uncertain<'f, F, Fut>(&self, cx: &Cx, step: F) -> Result<Outcome>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Outcome>> + 'f,
    {
        let mut attempt = 1;
        loop {
            match step().await {
                Err(e) if attempt < STEP_ATTEMPTS && e.worth_another_look() => {
                    self.progress.note(&format!(
                        "{}: {}; looking again (attempt {} of {STEP_ATTEMPTS})",
                        cx.node,
                        first_line(&e.to_string()),
                        attempt + 1
                    ));
                    cx.shared
                        .cancel
                        .sleep(STEP_BACKOFF * 2u32.pow(attempt - 1))
                        .await?;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn reconcile(&self, node: &Arc<dyn Resource>, cx: &Cx, store: &Store) -> Result<Outcome> {
        let (id, kind) = (node.id(), node.kind());
        if !node.wanted(cx) {
            // Not used with these settings: what the stack made is removed, like `down` would.
            return match self.remove(node, cx, store).await? {
                Outcome::Absent => Ok(Outcome::Unused),
                other => Ok(other),
            };
        }
        cx.line.hint("checking");
        let record = store.get(id);
        let recorded_ids = record.as_ref().map(|r| r.ids.clone());
        let mut observation = match self.take_observation(node) {
            Some(o) => o,
            None => self.observe(node, cx, recorded_ids.as_ref()).await?,
        };
        let unanswered = record.as_ref().is_some_and(|r| {
            r.status == Status::Creating && r.ids.keys().all(|k| k == CREATE_TOKEN)
        });
        if matches!(observation, Observation::Missing)
            && unanswered
            && let Some(bound) = node.settle(cx)
        {
            observation = self
                .look_again(node, cx, recorded_ids.as_ref(), bound)
                .await?;
        }
        match observation {
            Observation::Foreign(why) => Err(Error::Conflict(format!(
                "{id}: {why}. neo4j-gw never adopts or deletes what it did not create: remove or rename it, or use another --stack"
            ))),
            Observation::Missing => {
                self.forget(id);
                self.create(node, cx, store, recorded_ids.unwrap_or_default())
                    .await?;
                Ok(Outcome::Created)
            }
            Observation::Present(live) => {
                self.learn(id, &live.ids);
                let adopted = record.as_ref().is_none_or(|r| r.status != Status::Ready);
                // This run's own create, whose answer was lost: finishing it (an update, a wait) is still creating.
                let recovered = adopted
                    && self
                        .created_here
                        .lock()
                        .map(|c| c.contains(id))
                        .unwrap_or(false);
                store.put(
                    id,
                    kind,
                    true,
                    if adopted {
                        Status::Creating
                    } else {
                        Status::Ready
                    },
                    &live.ids,
                )?;
                let replace: Vec<String> = live
                    .drift
                    .iter()
                    .filter(|d| d.replace)
                    .map(|d| d.attribute.clone())
                    .collect();
                if !replace.is_empty() {
                    self.progress.note(&format!(
                        "{id}: {} cannot be changed in place; replacing it (delete, then create)",
                        replace.join(", ")
                    ));
                    cx.say("deleting for replacement");
                    store.put(id, kind, true, Status::Deleting, &live.ids)?;
                    self.timed(id, "delete", node.delete(cx, &live)).await?;
                    self.forget(id);
                    self.create(node, cx, store, Ids::new()).await?;
                    return Ok(Outcome::Replaced(replace));
                }
                let ids = if live.drift.is_empty() {
                    live.ids.clone()
                } else {
                    let attrs: Vec<String> =
                        live.drift.iter().map(|d| d.attribute.clone()).collect();
                    cx.say(format!("updating {}", attrs.join(", ")));
                    cx.shared.cancel.check()?;
                    let ids = self.timed(id, "update", node.update(cx, &live)).await?;
                    self.learn(id, &ids);
                    store.put(id, kind, true, Status::Ready, &ids)?;
                    self.timed(id, "wait", node.wait_ready(cx, &ids)).await?;
                    return Ok(if recovered {
                        Outcome::Recovered
                    } else {
                        Outcome::Updated(attrs)
                    });
                };
                if live.health != Health::Ready {
                    self.timed(id, "wait", node.wait_ready(cx, &ids)).await?;
                }
                store.put(id, kind, true, Status::Ready, &ids)?;
                Ok(match (adopted, recovered) {
                    (true, true) => Outcome::Recovered,
                    (true, false) => Outcome::Adopted,
                    (false, _) => Outcome::Unchanged,
                })
            }
        }
    }

    async fn create(
        &self,
        node: &Arc<dyn Resource>,
        cx: &Cx,
        store: &Store,
        previous: Ids,
    ) -> Result<()> {
        let (id, kind) = (node.id(), node.kind());
        cx.shared.cancel.check()?;
        // One create token per resource lifetime (client tokens derive from it): a create resumed after an
        // interruption keeps the token recorded with its intent, so AWS recognises the repeat; a new resource —
        // the first, or one after the last was deleted — gets a new token, never one AWS still remembers.
        let mut previous = previous;
        let token = previous
            .get(CREATE_TOKEN)
            .cloned()
            .unwrap_or_else(|| new_create_token(cx.stack(), id));
        previous.insert(CREATE_TOKEN.to_owned(), token.clone());
        // Intent first: if the process dies during the call, the next run knows to look for it.
        store.put(id, kind, true, Status::Creating, &previous)?;
        self.learn(id, &Ids::from([(CREATE_TOKEN.to_owned(), token)]));
        cx.say("creating");
        if let Ok(mut c) = self.created_here.lock() {
            c.insert(id);
        }
        let ids = self.timed(id, "create", node.create(cx)).await?;
        self.learn(id, &ids);
        store.put(id, kind, true, Status::Creating, &ids)?;
        self.timed(id, "wait", node.wait_ready(cx, &ids)).await?;
        store.put(id, kind, true, Status::Ready, &ids)?;
        Ok(())
    }

    /// `down`: deletes every owned resource in reverse dependency order and verifies each is gone.
    pub async fn down(&self, store: &Store) -> Results<Outcome> {
        // Learn the IDs of what the stack uses (e.g. the hosted zone) so dependents can be found.
        let _ = self.preflight(None).await;
        let owned = self.owned();
        self.observe_all(&owned, |id| store.get(id).map(|r| r.ids))
            .await;
        let mut results = self
            .walk("down", &owned, Order::Reverse, true, |node| {
                let cx = self.cx(&node);
                Box::pin(async move {
                    let result = self
                        .again_after_uncertain(&cx, || self.remove(&node, &cx, store))
                        .await;
                    match &result {
                        Ok(outcome) => {
                            self.mark_changed(node.id(), outcome);
                            cx.line.finish(outcome.describe(), true)
                        }
                        Err(e) => cx
                            .line
                            .finish(format!("failed: {}", first_line(&e.to_string())), false),
                    }
                    result
                })
            })
            .await;
        for node in self.external() {
            let _ = store.remove(node.id());
            results.by_node.push((
                node.id(),
                Ok(Outcome::Kept(
                    "not created by this stack; never deleted".into(),
                )),
            ));
        }
        results
    }

    async fn remove(&self, node: &Arc<dyn Resource>, cx: &Cx, store: &Store) -> Result<Outcome> {
        let (id, kind) = (node.id(), node.kind());
        cx.line.hint("checking");
        let recorded = store.get(id).map(|r| r.ids);
        let observation = match self.take_observation(node) {
            Some(o) => o,
            None => self.observe(node, cx, recorded.as_ref()).await?,
        };
        match observation {
            Observation::Missing => {
                store.remove(id)?;
                self.forget(id);
                Ok(Outcome::Absent)
            }
            Observation::Foreign(why) => {
                store.remove(id)?;
                Ok(Outcome::Kept(format!(
                    "{why}; not the stack's, so not deleted"
                )))
            }
            Observation::Present(live) => {
                cx.shared.cancel.check()?;
                store.put(id, kind, true, Status::Deleting, &live.ids)?;
                cx.say("deleting");
                self.timed(id, "delete", node.delete(cx, &live)).await?;
                self.delete_duplicates(node, cx, &live.duplicates).await?;
                // Prove it is gone. The proof looks by tag (or name) too, so a copy that landed meanwhile — a create
                // an earlier run sent without an idempotency token — is found: it is deleted in turn, a bounded
                // number of times.
                let gone_cx = Cx {
                    expect_gone: true,
                    ..cx.clone()
                };
                let mut round = 0;
                loop {
                    match self
                        .timed(id, "gone", node.observe(&gone_cx, Some(&live.ids)))
                        .await?
                    {
                        Observation::Present(more) if round < GONE_ROUNDS => {
                            round += 1;
                            cx.shared.cancel.check()?;
                            if more.ids != live.ids {
                                self.progress.note(&format!(
                                    "{id}: another copy carrying the stack's tags showed up after the delete ({}); deleting it too",
                                    ids_label(&more.ids)
                                ));
                            }
                            self.timed(id, "delete", node.delete(cx, &more)).await?;
                            self.delete_duplicates(node, cx, &more.duplicates).await?;
                        }
                        Observation::Present(_) => {
                            return Err(Error::other(format!(
                                "{id}: still exists after it was deleted; re-run `neo4j-gw down` in a minute"
                            )));
                        }
                        _ => {
                            store.remove(id)?;
                            self.forget(id);
                            return Ok(Outcome::Deleted);
                        }
                    }
                }
            }
        }
    }

    /// `status`: observes every resource with read-only calls.
    pub async fn status(&self, state: Option<&State>) -> Vec<Report> {
        let mut observed = self
            .observe_all(&self.plan, |id| {
                state
                    .and_then(|s| s.resources.get(id))
                    .map(|r| r.ids.clone())
            })
            .await;
        // In plan order.
        self.plan
            .iter()
            .filter_map(|node| Some(self.report(node, observed.remove(node.id())?)))
            .collect()
    }

    /// One line of `status` from an observation.
    fn report(&self, node: &Arc<dyn Resource>, observation: Result<Observation>) -> Report {
        let base = |state: &'static str, ids: Ids, message: Option<String>| Report {
            resource: node.id().to_owned(),
            kind: node.kind().to_owned(),
            owned: !node.external(),
            state,
            ids,
            drift: Vec::new(),
            depends_on: node.depends_on().to_vec(),
            details: Vec::new(),
            message,
            duplicates: Vec::new(),
        };
        let wanted = node.wanted(&self.quiet_cx(node));
        match observation {
            Ok(Observation::Missing) if !wanted => base(
                "unused",
                Ids::new(),
                Some("not used with these settings".into()),
            ),
            Ok(Observation::Present(live)) if !wanted => Report {
                drift: vec![Drift::new(
                    "wanted",
                    "no (not used with these settings)",
                    "present",
                )],
                ..base("drifted", live.ids, None)
            },
            Ok(Observation::Missing) => base("missing", Ids::new(), None),
            Ok(Observation::Foreign(why)) => base("foreign", Ids::new(), Some(why)),
            Ok(Observation::Present(live)) => {
                let Live {
                    ids,
                    mut drift,
                    health,
                    details,
                    duplicates,
                } = live;
                drift.extend(
                    duplicates
                        .iter()
                        .map(|d| Drift::new(DUPLICATE, "no other copy", &d.id)),
                );
                let (state, message) = match (&health, drift.is_empty()) {
                    (_, false) => ("drifted", None),
                    (Health::Ready, true) => ("present", None),
                    (Health::Pending(m), true) => ("pending", Some(m.clone())),
                    (Health::Unhealthy(m), true) => ("unhealthy", Some(m.clone())),
                };
                Report {
                    drift,
                    details,
                    duplicates: duplicates.into_iter().map(|d| d.id).collect(),
                    ..base(state, ids, message)
                }
            }
            Err(e) => base("error", Ids::new(), Some(e.to_string())),
        }
    }
}

/// A resource's IDs for a message (the create token left out).
fn ids_label(ids: &Ids) -> String {
    ids.iter()
        .filter(|(k, _)| k.as_str() != CREATE_TOKEN)
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}
