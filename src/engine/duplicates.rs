//! Duplicates: the extra copies of a node that observations found carrying the stack's tags — deleted by `up`
//! before anything else changes, and by `down` with the node.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::schedule::OnFailure;
use super::{Engine, Order};
use crate::error::{Error, Result};
use crate::resources::{Cx, Duplicate, Observation, Resource};

impl Engine {
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
    pub(super) async fn remove_duplicates(
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
            .walk(
                "duplicates",
                &with,
                Order::Reverse,
                OnFailure::Continue,
                |node| {
                    let cx = self.quiet_cx(&node);
                    async move {
                        let duplicates = self.observed_duplicates(node.id());
                        self.delete_duplicates(&node, &cx, &duplicates).await
                    }
                },
            )
            .await;
        results
            .by_node
            .into_iter()
            .filter_map(|(id, r)| r.err().map(|e| (id, e)))
            .collect()
    }

    /// Deletes each of `duplicates`, printing `<node>: removed duplicate <id>`.
    pub(super) async fn delete_duplicates(
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
}
