//! The scheduler: in which order the nodes of a walk run, how many at once, what a failure or a signal does to the
//! rest. Pure — it knows nothing of AWS, the state file or the progress display: it is given node IDs with their
//! dependencies and runs a job the caller supplies for each. Every walk of the engine (observing, deleting
//! duplicates, `up`, `down`) is one [`Schedule`] with the engine's work as its job.
//!
//! The rules:
//! - A node starts once each of its prerequisites has finished: its dependencies ([`Direction::Up`]) or its
//!   dependants ([`Direction::Down`]). Dependencies on nodes outside the walk are not waited for.
//! - At most `limit` jobs run at once (none: every node that is ready). Ready nodes start in the order given.
//! - With [`OnFailure::Block`], a node whose prerequisite failed (or was itself blocked) does not run: it is
//!   [`Finished::Skipped`], naming the prerequisites that did not complete. Independent branches go on. With
//!   [`OnFailure::Continue`] a finished prerequisite is a finished prerequisite, failed or not.
//! - Once the cancellation signal is set no job starts: the jobs in flight finish (they see the signal themselves)
//!   and every node not started is [`Finished::Cancelled`] with the signal's name.
//! - A node whose prerequisites never finish (a dependency cycle; the plan has none, a unit test of the plan
//!   proves it) is [`Finished::NotReached`] once nothing else can run. Nothing is refused up front.
//!
//! The results come in the order things happened: each job's as it finished, each blocked node's as it was found
//! blocked, the nodes never started last.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::num::NonZeroUsize;

use futures::stream::{FuturesUnordered, StreamExt};

use crate::cancel::Cancel;

/// Which of a node's neighbours must finish before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Dependencies first: creating, observing.
    Up,
    /// Dependants first: deleting.
    Down,
}

/// What a failed job does to the nodes waiting for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// They do not run: they are skipped, and so are the nodes waiting for them in turn.
    Block,
    /// They run all the same.
    Continue,
}

/// A node as the scheduler sees it: its ID and the IDs of the nodes it depends on.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: &'static str,
    pub depends_on: Vec<&'static str>,
}

/// How one node of a walk ended.
#[derive(Debug)]
pub enum Finished<T, E> {
    /// Its job ran, with this result.
    Ran(Result<T, E>),
    /// Not run: these prerequisites did not complete (they failed or were skipped themselves).
    Skipped(Vec<&'static str>),
    /// Not started: this signal arrived first.
    Cancelled(&'static str),
    /// Not started: its prerequisites never finished (a cycle).
    NotReached,
}

/// One walk: its nodes, in which direction, how many at once, and what a failure does.
pub struct Schedule {
    /// The node IDs in the order given: ready nodes start in this order.
    order: Vec<&'static str>,
    prerequisites: BTreeMap<&'static str, Vec<&'static str>>,
    limit: Option<NonZeroUsize>,
    on_failure: OnFailure,
}

impl Schedule {
    /// A walk over `nodes`; `limit`: how many jobs at once (none: every node that is ready).
    pub fn new(
        nodes: &[Node],
        direction: Direction,
        limit: Option<NonZeroUsize>,
        on_failure: OnFailure,
    ) -> Self {
        let in_walk: BTreeSet<&'static str> = nodes.iter().map(|n| n.id).collect();
        let prerequisites = nodes
            .iter()
            .map(|n| {
                let before: Vec<&'static str> = match direction {
                    Direction::Up => n
                        .depends_on
                        .iter()
                        .copied()
                        .filter(|d| in_walk.contains(d))
                        .collect(),
                    Direction::Down => nodes
                        .iter()
                        .filter(|m| m.depends_on.contains(&n.id))
                        .map(|m| m.id)
                        .collect(),
                };
                (n.id, before)
            })
            .collect();
        Schedule {
            order: nodes.iter().map(|n| n.id).collect(),
            prerequisites,
            limit,
            on_failure,
        }
    }

    /// For each node, the nodes that must finish before it starts.
    pub fn prerequisites(&self) -> &BTreeMap<&'static str, Vec<&'static str>> {
        &self.prerequisites
    }

    fn before(&self, id: &str) -> &[&'static str] {
        self.prerequisites.get(id).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Takes out of `pending` each node waiting for a failed one, counting it as failed, so that the nodes waiting
    /// for it are taken out in turn — all before anything new starts: skipped, or cancelled once `signal` is set.
    fn block<T, E>(
        &self,
        pending: &mut Vec<&'static str>,
        failed: &mut BTreeSet<&'static str>,
        signal: Option<&'static str>,
        results: &mut Vec<(&'static str, Finished<T, E>)>,
    ) {
        loop {
            let (blocked, rest): (Vec<_>, Vec<_>) = std::mem::take(pending)
                .into_iter()
                .partition(|id| self.before(id).iter().any(|p| failed.contains(p)));
            *pending = rest;
            if blocked.is_empty() {
                return;
            }
            for id in blocked {
                let because: Vec<&'static str> = self
                    .before(id)
                    .iter()
                    .copied()
                    .filter(|p| failed.contains(p))
                    .collect();
                failed.insert(id);
                results.push((
                    id,
                    match signal {
                        Some(signal) => Finished::Cancelled(signal),
                        None => Finished::Skipped(because),
                    },
                ));
            }
        }
    }

    /// Runs `job` for every node by the rules above and returns how each ended, in the order they did.
    pub async fn run<T, E, F, Fut>(
        &self,
        cancel: &Cancel,
        mut job: F,
    ) -> Vec<(&'static str, Finished<T, E>)>
    where
        F: FnMut(&'static str) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut pending = self.order.clone();
        let mut succeeded: BTreeSet<&'static str> = BTreeSet::new();
        let mut failed: BTreeSet<&'static str> = BTreeSet::new();
        let mut results = Vec::new();
        let mut running = FuturesUnordered::new();
        loop {
            let signal = cancel.signal();
            if self.on_failure == OnFailure::Block {
                self.block(&mut pending, &mut failed, signal, &mut results);
            }
            if signal.is_none() {
                let mut i = 0;
                while i < pending.len() && self.limit.is_none_or(|l| running.len() < l.get()) {
                    let ready = self
                        .before(pending[i])
                        .iter()
                        .all(|p| succeeded.contains(p) || failed.contains(p));
                    if ready {
                        let id = pending.remove(i);
                        let fut = job(id);
                        running.push(async move { (id, fut.await) });
                    } else {
                        i += 1;
                    }
                }
            }
            match running.next().await {
                Some((id, result)) => {
                    if result.is_ok() {
                        succeeded.insert(id);
                    } else {
                        failed.insert(id);
                    }
                    results.push((id, Finished::Ran(result)));
                }
                None => break,
            }
        }
        let signal = cancel.signal();
        for id in pending {
            results.push((
                id,
                match signal {
                    Some(signal) => Finished::Cancelled(signal),
                    None => Finished::NotReached,
                },
            ));
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use tokio::sync::{Semaphore, mpsc};

    use super::*;

    fn node(id: &'static str, depends_on: &[&'static str]) -> Node {
        Node {
            id,
            depends_on: depends_on.to_vec(),
        }
    }

    /// a ← b, a ← c, b ← d, c ← d: d needs b and c, which both need a.
    fn diamond() -> Vec<Node> {
        vec![
            node("a", &[]),
            node("b", &["a"]),
            node("c", &["a"]),
            node("d", &["b", "c"]),
        ]
    }

    fn independent(n: usize) -> Vec<Node> {
        const IDS: [&str; 6] = ["n1", "n2", "n3", "n4", "n5", "n6"];
        IDS[..n].iter().map(|id| node(id, &[])).collect()
    }

    fn not_cancelled() -> Cancel {
        Cancel::new().1
    }

    /// What fake jobs did: "start x" / "end x", in order.
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<String>>>);

    impl Log {
        fn push(&self, line: String) {
            self.0.lock().unwrap().push(line);
        }
        fn lines(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
        fn position(&self, line: &str) -> usize {
            self.lines()
                .iter()
                .position(|l| l == line)
                .unwrap_or_else(|| panic!("{line:?} not in {:?}", self.lines()))
        }
        /// Whether `first`'s job ended before `then`'s started.
        fn ended_before_started(&self, first: &str, then: &str) -> bool {
            self.position(&format!("end {first}")) < self.position(&format!("start {then}"))
        }
        fn started(&self) -> Vec<String> {
            self.lines()
                .iter()
                .filter_map(|l| l.strip_prefix("start ").map(str::to_owned))
                .collect()
        }
    }

    /// A fake job: logs its start, gives the other jobs a turn, logs its end; fails when its ID is in `failing`.
    async fn fake(log: Log, id: &'static str, failing: &[&str]) -> Result<&'static str, String> {
        log.push(format!("start {id}"));
        tokio::task::yield_now().await;
        log.push(format!("end {id}"));
        if failing.contains(&id) {
            Err(format!("{id} failed"))
        } else {
            Ok(id)
        }
    }

    /// How each node ended, in one word or two: "ok", "failed", "skipped (a, b)", "cancelled (SIGINT)", "not reached".
    fn ends(
        results: Vec<(&'static str, Finished<&'static str, String>)>,
    ) -> BTreeMap<&'static str, String> {
        results
            .into_iter()
            .map(|(id, end)| {
                let end = match end {
                    Finished::Ran(Ok(_)) => "ok".to_owned(),
                    Finished::Ran(Err(_)) => "failed".to_owned(),
                    Finished::Skipped(because) => format!("skipped ({})", because.join(", ")),
                    Finished::Cancelled(signal) => format!("cancelled ({signal})"),
                    Finished::NotReached => "not reached".to_owned(),
                };
                (id, end)
            })
            .collect()
    }

    fn expect(pairs: &[(&'static str, &str)]) -> BTreeMap<&'static str, String> {
        pairs
            .iter()
            .map(|(id, end)| (*id, end.to_string()))
            .collect()
    }

    async fn run_fakes(
        nodes: &[Node],
        direction: Direction,
        limit: Option<usize>,
        on_failure: OnFailure,
        failing: &[&'static str],
    ) -> (BTreeMap<&'static str, String>, Log) {
        let log = Log::default();
        let schedule = Schedule::new(
            nodes,
            direction,
            limit.and_then(NonZeroUsize::new),
            on_failure,
        );
        let results = schedule
            .run(&not_cancelled(), |id| fake(log.clone(), id, failing))
            .await;
        (ends(results), log)
    }

    /// Each (node, dependency) pair of `nodes`.
    fn edges(nodes: &[Node]) -> Vec<(&'static str, &'static str)> {
        nodes
            .iter()
            .flat_map(|n| n.depends_on.iter().map(|d| (n.id, *d)))
            .collect()
    }

    /// Runs the diamond in `direction`; asserts every node's jobs ended well and none started before the nodes it
    /// waits for (its dependencies going up, its dependants going down) had ended. Returns the log.
    async fn each_node_starts_after_its_prerequisites_end(direction: Direction) -> Log {
        let (ends, log) = run_fakes(&diamond(), direction, None, OnFailure::Block, &[]).await;
        assert!(ends.values().all(|e| e == "ok"), "{ends:?}");
        for (node, dependency) in edges(&diamond()) {
            let (first, then) = match direction {
                Direction::Up => (dependency, node),
                Direction::Down => (node, dependency),
            };
            assert!(
                log.ended_before_started(first, then),
                "{then} started before {first} ended: {:?}",
                log.lines()
            );
        }
        log
    }

    #[tokio::test]
    async fn up_starts_each_node_after_its_dependencies_have_ended() {
        let log = each_node_starts_after_its_prerequisites_end(Direction::Up).await;
        // b and c, both ready once a ends, run side by side.
        assert!(!log.ended_before_started("b", "c"), "{:?}", log.lines());
    }

    #[tokio::test]
    async fn down_starts_each_node_after_its_dependants_have_ended() {
        let log = each_node_starts_after_its_prerequisites_end(Direction::Down).await;
        assert!(!log.ended_before_started("b", "c"), "{:?}", log.lines());
    }

    #[test]
    fn the_prerequisites_are_the_dependencies_going_up_and_the_dependants_going_down() {
        let up = Schedule::new(&diamond(), Direction::Up, None, OnFailure::Block);
        let down = Schedule::new(&diamond(), Direction::Down, None, OnFailure::Block);
        assert_eq!(up.prerequisites()["d"], vec!["b", "c"]);
        assert_eq!(up.prerequisites()["a"], Vec::<&str>::new());
        assert_eq!(down.prerequisites()["a"], vec!["b", "c"]);
        assert_eq!(down.prerequisites()["d"], Vec::<&str>::new());
    }

    #[tokio::test]
    async fn with_a_limit_of_one_ready_nodes_run_one_at_a_time_in_the_order_given() {
        let nodes = [
            node("z", &[]),
            node("y", &[]),
            node("x", &["z"]),
            node("w", &[]),
        ];
        let (_, log) = run_fakes(&nodes, Direction::Up, Some(1), OnFailure::Block, &[]).await;
        assert_eq!(
            log.lines(),
            [
                "start z", "end z", "start y", "end y", "start x", "end x", "start w", "end w"
            ]
        );
    }

    #[tokio::test]
    async fn dependencies_outside_the_walk_are_not_waited_for() {
        let nodes = [node("a", &["elsewhere"]), node("b", &["a", "gone"])];
        let (ends, log) = run_fakes(&nodes, Direction::Up, None, OnFailure::Block, &[]).await;
        assert_eq!(ends, expect(&[("a", "ok"), ("b", "ok")]));
        assert_eq!(log.started(), ["a", "b"]);
    }

    /// Runs `n` independent nodes whose jobs each wait at a gate; the gate lets one job through for every job that
    /// has started. Returns the most jobs ever in flight at once.
    async fn most_in_flight(n: usize, limit: Option<usize>) -> usize {
        let in_flight = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let gate = Semaphore::new(0);
        let (started, mut starts) = mpsc::unbounded_channel::<&'static str>();
        let schedule = Schedule::new(
            &independent(n),
            Direction::Up,
            limit.and_then(NonZeroUsize::new),
            OnFailure::Block,
        );
        let cancel = not_cancelled();
        let run = schedule.run(&cancel, |id| {
            let (in_flight, most, gate, started) = (&in_flight, &most, &gate, started.clone());
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                started.send(id).map_err(|e| e.to_string())?;
                gate.acquire().await.map_err(|e| e.to_string())?.forget();
                in_flight.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, String>(id)
            }
        });
        let open_gates = async {
            for _ in 0..n {
                starts.recv().await.expect("a job started");
                gate.add_permits(1);
            }
        };
        let (results, ()) = tokio::join!(run, open_gates);
        assert!(ends(results).values().all(|e| e == "ok"));
        most.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn the_concurrency_limit_is_never_exceeded_and_is_used() {
        assert_eq!(most_in_flight(6, Some(2)).await, 2);
        assert_eq!(most_in_flight(6, Some(1)).await, 1);
    }

    #[tokio::test]
    async fn without_a_limit_every_ready_node_runs_at_once() {
        assert_eq!(most_in_flight(6, None).await, 6);
    }

    #[tokio::test]
    async fn a_failed_nodes_dependants_are_skipped_and_independent_branches_still_run() {
        let nodes = [
            node("a", &[]),
            node("b", &["a"]),
            node("x", &[]),
            node("y", &["x"]),
        ];
        let (ends, log) = run_fakes(&nodes, Direction::Up, None, OnFailure::Block, &["a"]).await;
        assert_eq!(
            ends,
            expect(&[
                ("a", "failed"),
                ("b", "skipped (a)"),
                ("x", "ok"),
                ("y", "ok"),
            ])
        );
        assert_eq!(log.started(), ["a", "x", "y"]);
    }

    #[tokio::test]
    async fn the_dependants_of_a_skipped_node_are_skipped_in_turn() {
        let nodes = [
            node("a", &[]),
            node("b", &["a"]),
            node("c", &["b"]),
            node("d", &["c", "x"]),
            node("x", &[]),
        ];
        let (ends, log) = run_fakes(&nodes, Direction::Up, None, OnFailure::Block, &["a"]).await;
        assert_eq!(
            ends,
            expect(&[
                ("a", "failed"),
                ("b", "skipped (a)"),
                ("c", "skipped (b)"),
                ("d", "skipped (c)"),
                ("x", "ok"),
            ])
        );
        assert_eq!(log.started(), ["a", "x"]);
    }

    #[tokio::test]
    async fn going_down_a_failed_nodes_dependencies_are_skipped() {
        let (ends, _) =
            run_fakes(&diamond(), Direction::Down, None, OnFailure::Block, &["b"]).await;
        assert_eq!(
            ends,
            expect(&[
                ("a", "skipped (b)"),
                ("b", "failed"),
                ("c", "ok"),
                ("d", "ok")
            ])
        );
    }

    #[tokio::test]
    async fn a_node_is_skipped_as_soon_as_one_of_its_prerequisites_fails() {
        // One at a time: a, then b fails; d (waiting for b and c) is skipped at once, naming b; c still runs.
        let (ends, log) =
            run_fakes(&diamond(), Direction::Up, Some(1), OnFailure::Block, &["b"]).await;
        assert_eq!(
            ends,
            expect(&[
                ("a", "ok"),
                ("b", "failed"),
                ("c", "ok"),
                ("d", "skipped (b)")
            ])
        );
        assert_eq!(log.started(), ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn when_failures_do_not_block_the_dependants_of_a_failure_still_run() {
        let (ends, log) =
            run_fakes(&diamond(), Direction::Up, None, OnFailure::Continue, &["a"]).await;
        assert_eq!(
            ends,
            expect(&[("a", "failed"), ("b", "ok"), ("c", "ok"), ("d", "ok")])
        );
        assert!(log.ended_before_started("a", "b"));
    }

    /// Runs `nodes` where the job of `signaller` sends SIGINT while it runs (and fails when in `failing`).
    async fn run_cancelled_by(
        nodes: &[Node],
        limit: Option<usize>,
        signaller: &'static str,
        failing: &[&'static str],
    ) -> (BTreeMap<&'static str, String>, Log) {
        let log = Log::default();
        let (handle, cancel) = Cancel::new();
        let handle = &handle;
        let schedule = Schedule::new(
            nodes,
            Direction::Up,
            limit.and_then(NonZeroUsize::new),
            OnFailure::Block,
        );
        let results = schedule
            .run(&cancel, |id| {
                let log = log.clone();
                async move {
                    if id == signaller {
                        handle.cancel("SIGINT");
                    }
                    fake(log, id, failing).await
                }
            })
            .await;
        (ends(results), log)
    }

    #[tokio::test]
    async fn after_a_signal_the_jobs_in_flight_finish_and_no_other_starts() {
        let nodes = [
            node("a", &[]),
            node("b", &[]),
            node("c", &["a"]),
            node("d", &["b"]),
            node("e", &[]),
        ];
        // a and b start together; a's job receives the signal while b is in flight; e waits for a free slot.
        let (ends, log) = run_cancelled_by(&nodes, Some(2), "a", &[]).await;
        assert_eq!(log.started(), ["a", "b"]);
        assert!(log.lines().contains(&"end b".to_owned()));
        assert_eq!(
            ends,
            expect(&[
                ("a", "ok"),
                ("b", "ok"),
                ("c", "cancelled (SIGINT)"),
                ("d", "cancelled (SIGINT)"),
                ("e", "cancelled (SIGINT)"),
            ])
        );
        assert_eq!(ends.values().filter(|e| *e == "ok").count(), 2);
        assert_eq!(
            ends.values().filter(|e| e.starts_with("cancelled")).count(),
            3
        );
    }

    #[tokio::test]
    async fn after_a_signal_the_dependants_of_a_failure_are_cancelled_not_skipped() {
        let nodes = [node("a", &[]), node("b", &["a"])];
        let (ends, _) = run_cancelled_by(&nodes, None, "a", &["a"]).await;
        assert_eq!(
            ends,
            expect(&[("a", "failed"), ("b", "cancelled (SIGINT)")])
        );
    }

    #[tokio::test]
    async fn a_signal_before_the_walk_starts_nothing() {
        let (handle, cancel) = Cancel::new();
        handle.cancel("SIGTERM");
        let log = Log::default();
        let schedule = Schedule::new(&diamond(), Direction::Up, None, OnFailure::Block);
        let results = schedule.run(&cancel, |id| fake(log.clone(), id, &[])).await;
        assert!(log.lines().is_empty());
        assert_eq!(
            ends(results),
            expect(&[
                ("a", "cancelled (SIGTERM)"),
                ("b", "cancelled (SIGTERM)"),
                ("c", "cancelled (SIGTERM)"),
                ("d", "cancelled (SIGTERM)"),
            ])
        );
    }

    #[tokio::test]
    async fn nodes_in_a_cycle_are_left_over_as_not_reached_and_the_rest_runs() {
        let nodes = [
            node("a", &["b"]),
            node("b", &["a"]),
            node("c", &[]),
            node("d", &["a"]),
        ];
        let (ends, log) = run_fakes(&nodes, Direction::Up, None, OnFailure::Block, &[]).await;
        assert_eq!(
            ends,
            expect(&[
                ("a", "not reached"),
                ("b", "not reached"),
                ("c", "ok"),
                ("d", "not reached"),
            ])
        );
        assert_eq!(log.started(), ["c"]);
    }

    #[tokio::test]
    async fn results_come_in_the_order_things_happened() {
        let nodes = [
            node("a", &[]),
            node("b", &["a"]),
            node("c", &["a"]),
            node("d", &["d"]),
        ];
        let log = Log::default();
        let schedule = Schedule::new(
            &nodes,
            Direction::Up,
            Some(NonZeroUsize::MIN),
            OnFailure::Block,
        );
        let results = schedule
            .run(&not_cancelled(), |id| fake(log.clone(), id, &["a"]))
            .await;
        let order: Vec<&str> = results.iter().map(|(id, _)| *id).collect();
        // a ran; b and c were found blocked after it; d (waiting for itself) is left over.
        assert_eq!(order, ["a", "b", "c", "d"]);
    }
}
