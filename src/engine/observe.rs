//! Observing: every node at once (as far as the IDs they need are known), one node on its own, and the pre-flight
//! of what the stack uses but does not own. Each observation is judged (a node owned through another is the stack's
//! only when that one is) and kept for `up` and `down` to act on.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::schedule::OnFailure;
use super::{Engine, Order, Store, first_line};
use crate::error::{Error, Result};
use crate::resources::{Cx, Health, Observation, Resource};
use crate::state::{Ids, Status};

/// What the last observe of a node found, as far as the nodes owned through it care.
#[derive(Debug, Clone)]
pub(super) enum Seen {
    Read,
    Foreign,
    Unreadable(String),
}

impl Engine {
    /// Observes a node now (read-only calls), recording the span.
    pub(super) async fn observe(
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
    pub(super) fn take_observation(&self, node: &Arc<dyn Resource>) -> Option<Observation> {
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

    /// Observes every node of `nodes` that this run has not observed yet, all at once where the IDs they need are
    /// known ([`Order::Observe`]); keeps each observation for `up`/`down` to act on and returns them all.
    pub(super) async fn observe_all<R>(
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
            .walk(
                "observe",
                nodes,
                Order::Observe,
                OnFailure::Continue,
                |node| {
                    let cx = self.quiet_cx(&node);
                    async move {
                        let id = node.id();
                        if let Some(o) = self.observed.lock().ok().and_then(|m| m.get(id).cloned())
                        {
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
                    }
                },
            )
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
}
