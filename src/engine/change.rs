//! `up` and `down`: one walk over the owned nodes — dependencies first to create, repair or adopt them
//! ([`Engine::reconcile`]), dependants first to delete them and prove them gone ([`Engine::remove`]) — each node's
//! step looked at again after an uncertain error, its line finished with what happened.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::schedule::OnFailure;
use super::{
    Engine, GONE_ROUNDS, Order, Outcome, Results, STEP_ATTEMPTS, STEP_BACKOFF, Store, first_line,
    ids_label,
};
use crate::error::{Error, Result};
use crate::resources::{CREATE_TOKEN, Cx, Health, Observation, Resource, new_create_token};
use crate::state::{Ids, Status};

/// Which way a change walk goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// `up`: dependencies first, each node reconciled.
    Up,
    /// `down`: dependants first, each node removed.
    Down,
}

impl Engine {
    /// `up`: creates, repairs or adopts every owned resource, then waits until each works.
    pub async fn up(&self, store: &Store) -> Results<Outcome> {
        let owned = self.owned();
        // What `up` acts on is what the plan showed; with `up` called on its own, observed here first.
        self.observe_all(&owned, |id| store.get(id).map(|r| r.ids))
            .await;
        let mut duplicates_failed = self.remove_duplicates(&owned).await;
        let mut results = self.change(Change::Up, &owned, store).await;
        for (id, result) in results.by_node.iter_mut() {
            if let Some(e) = duplicates_failed.remove(*id)
                && result.is_ok()
            {
                *result = Err(e);
            }
        }
        results
    }

    /// `down`: deletes every owned resource in reverse dependency order and verifies each is gone.
    pub async fn down(&self, store: &Store) -> Results<Outcome> {
        // Learn the IDs of what the stack uses (e.g. the hosted zone) so dependents can be found.
        let _ = self.preflight(None).await;
        let owned = self.owned();
        self.observe_all(&owned, |id| store.get(id).map(|r| r.ids))
            .await;
        let mut results = self.change(Change::Down, &owned, store).await;
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

    /// The walk of `up` and `down`: each node's step ([`Engine::step`]) once its prerequisites are done, a node
    /// whose prerequisite failed skipped; what happened recorded as a change and shown on the node's line.
    async fn change(
        &self,
        change: Change,
        nodes: &[Arc<dyn Resource>],
        store: &Store,
    ) -> Results<Outcome> {
        let (name, order) = match change {
            Change::Up => ("up", Order::Forward),
            Change::Down => ("down", Order::Reverse),
        };
        self.walk(name, nodes, order, OnFailure::Block, |node| {
            let cx = self.cx(&node);
            async move {
                let result = self
                    .again_after_uncertain(&cx, || self.step(change, &node, &cx, store))
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
            }
        })
        .await
    }

    /// One node's step in a change walk: reconciled by `up`, removed by `down`.
    async fn step(
        &self,
        change: Change,
        node: &Arc<dyn Resource>,
        cx: &Cx,
        store: &Store,
    ) -> Result<Outcome> {
        match change {
            Change::Up => self.reconcile(node, cx, store).await,
            Change::Down => self.remove(node, cx, store).await,
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
}
