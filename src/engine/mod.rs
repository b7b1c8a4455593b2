//! The reconciler engine: walks the plan's resources in dependency order (independent ones concurrently,
//! bounded), for `up` (observe → create / update / replace → wait), `down` (reverse order: observe →
//! delete → prove it is gone) and `status` (observe only, read-only calls).
//!
//! State discipline: an intent record is written before every create call and the state file is flushed
//! after every step, so a run killed at any instant leaves a state the next run can complete; resources are
//! found by tag or deterministic name when the state has no IDs for them, and adopted instead of duplicated.
//!
//! The parts:
//! - [`schedule`]: the pure scheduler every walk runs on (order, the concurrency limit, blocked dependants,
//!   cancellation, leftovers), with its unit tests on fake nodes;
//! - this file: the [`Engine`], its walk (the scheduler with the engine's bookkeeping around it) and its results;
//! - `observe`: observing nodes (every node at once, one on its own, the pre-flight of what the stack uses);
//! - `change`: the one walk of `up` and `down` and each node's step in it (reconcile, create, remove);
//! - `duplicates`: deleting the extra copies observations found;
//! - `status`: one [`Report`] per node;
//! - `store`: the state file and its in-memory copy ([`Store`]).

mod change;
mod duplicates;
mod observe;
pub mod schedule;
mod status;
mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::resources::{CREATE_TOKEN, Cx, Observation, Resource, Shared};
use crate::state::Ids;
use crate::timings::Timings;

use observe::Seen;
use schedule::{Direction, Finished, Node, OnFailure, Schedule};
pub use status::Report;
pub use store::Store;

/// How often one node's step is tried when it fails with an uncertain or passing error (on top of the SDK's
/// own retries of each call), and the pause before the second try (doubling after).
pub const STEP_ATTEMPTS: u32 = 4;
pub const STEP_BACKOFF: Duration = Duration::from_secs(1);

/// How many times `down` deletes what its proof of absence still finds (a copy that landed late: a create an
/// earlier run sent without an idempotency token) before it gives up and says so.
pub const GONE_ROUNDS: u32 = 3;

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

    /// Runs `f` on every node of `nodes` by the [`schedule`]'s rules, in `order`: each once its prerequisites are
    /// done; with `on_failure` [`OnFailure::Block`] a node whose prerequisite failed is not run; no new node starts
    /// once a signal has arrived. Records the walk in the timings; a node that did not run gets the error that says
    /// why (skipped, interrupted, not reached).
    async fn walk<T, F, Fut>(
        &self,
        name: &'static str,
        nodes: &[Arc<dyn Resource>],
        order: Order,
        on_failure: OnFailure,
        f: F,
    ) -> Results<T>
    where
        F: Fn(Arc<dyn Resource>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let known: BTreeSet<String> = match order {
            Order::Observe => self
                .shared
                .known
                .read()
                .map(|k| {
                    k.iter()
                        .filter(|(_, ids)| ids.keys().any(|key| key != CREATE_TOKEN))
                        .map(|(node, _)| node.clone())
                        .collect()
                })
                .unwrap_or_default(),
            Order::Forward | Order::Reverse => BTreeSet::new(),
        };
        let scheduled = scheduled(nodes, &known);
        let direction = match order {
            Order::Forward | Order::Observe => Direction::Up,
            Order::Reverse => Direction::Down,
        };
        let schedule = Schedule::new(
            &scheduled,
            direction,
            NonZeroUsize::new(self.concurrency),
            on_failure,
        );
        let walk_index = self
            .timings
            .begin_walk(name, schedule.prerequisites().clone());
        let finished = schedule
            .run(&self.shared.cancel, |id| {
                let node = nodes.iter().find(|n| n.id() == id).cloned();
                let job = node.map(&f);
                async move {
                    match job {
                        Some(job) => job.await,
                        None => Err(Error::other(format!("internal: no node {id} in the walk"))),
                    }
                }
            })
            .await;
        let by_node = finished
            .into_iter()
            .map(|(id, end)| {
                let result = match end {
                    Finished::Ran(result) => result,
                    Finished::Skipped(because) => Err(Error::Skipped(format!(
                        "{id}: skipped because {} did not complete",
                        because.join(", ")
                    ))),
                    Finished::Cancelled(signal) => Err(Error::Interrupted(signal)),
                    Finished::NotReached => Err(Error::other(format!("{id}: not reached"))),
                };
                (id, result)
            })
            .collect();
        self.timings.end_walk(walk_index);
        Results { by_node }
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
}

/// The nodes of a walk as the scheduler sees them, leaving out the dependencies in `known`.
fn scheduled(nodes: &[Arc<dyn Resource>], known: &BTreeSet<String>) -> Vec<Node> {
    nodes
        .iter()
        .map(|n| Node {
            id: n.id(),
            depends_on: n
                .depends_on()
                .iter()
                .copied()
                .filter(|d| !known.contains(*d))
                .collect(),
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cancel::Cancel;

    /// Runs the scheduler over the plan's owned nodes in `direction`, the job of `failing` failing; returns how each
    /// node ended, which jobs ran, and the nodes that wait for `failing` directly or not.
    async fn plan_walk_failing(
        direction: Direction,
        failing: &'static str,
    ) -> (
        Vec<(&'static str, Finished<(), ()>)>,
        Vec<&'static str>,
        BTreeSet<&'static str>,
    ) {
        let owned: Vec<Arc<dyn Resource>> = crate::plan::resources()
            .into_iter()
            .filter(|n| !n.external())
            .collect();
        let schedule = Schedule::new(
            &scheduled(&owned, &BTreeSet::new()),
            direction,
            None,
            OnFailure::Block,
        );
        let mut waiting = BTreeSet::from([failing]);
        while let Some(more) = schedule
            .prerequisites()
            .iter()
            .find(|(id, before)| {
                !waiting.contains(*id) && before.iter().any(|b| waiting.contains(b))
            })
            .map(|(id, _)| *id)
        {
            waiting.insert(more);
        }
        waiting.remove(failing);
        let ran = Mutex::new(Vec::new());
        let (_signal, cancel) = Cancel::new();
        let results = schedule
            .run(&cancel, |id| {
                ran.lock().unwrap().push(id);
                async move { if id == failing { Err(()) } else { Ok(()) } }
            })
            .await;
        (results, ran.into_inner().unwrap(), waiting)
    }

    fn assert_only_the_waiting_are_skipped(
        results: &[(&'static str, Finished<(), ()>)],
        ran: &[&'static str],
        waiting: &BTreeSet<&'static str>,
        failing: &str,
    ) {
        assert!(!waiting.is_empty(), "nothing waits for {failing}");
        for (id, end) in results {
            match end {
                Finished::Skipped(_) => assert!(waiting.contains(id), "{id} skipped"),
                Finished::Ran(Ok(())) => assert!(!waiting.contains(id), "{id} ran"),
                Finished::Ran(Err(())) => assert_eq!(*id, failing),
                other => panic!("{id}: {other:?}"),
            }
        }
        assert!(ran.iter().all(|id| !waiting.contains(id)), "{ran:?}");
    }

    #[tokio::test]
    async fn going_up_the_plan_everything_that_needs_a_failed_root_is_skipped_and_nothing_else() {
        let root = crate::plan::resources()[0].id();
        let (results, ran, waiting) = plan_walk_failing(Direction::Up, root).await;
        assert_only_the_waiting_are_skipped(&results, &ran, &waiting, root);
    }

    #[tokio::test]
    async fn going_down_the_plan_everything_a_failed_dependant_needs_is_skipped_and_nothing_else() {
        let plan = crate::plan::resources();
        // A node that others wait for going down: the first one with dependencies of its own in the plan.
        let Some(dependant) = plan
            .iter()
            .find(|n| !n.external() && !n.depends_on().is_empty())
        else {
            panic!("no node of the plan depends on another");
        };
        let (results, ran, waiting) = plan_walk_failing(Direction::Down, dependant.id()).await;
        assert_only_the_waiting_are_skipped(&results, &ran, &waiting, dependant.id());
    }
}
