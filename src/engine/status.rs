//! `status`: every node observed (read-only calls), one [`Report`] each.

use std::sync::Arc;

use serde::Serialize;

use super::Engine;
use crate::error::Result;
use crate::resources::{DUPLICATE, Drift, Health, Live, Observation, Resource};
use crate::state::{Ids, State};

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

impl Engine {
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
        let unwanted = || node.unwanted_reason(&self.quiet_cx(node));
        match observation {
            Ok(Observation::Missing) if !wanted => base("unused", Ids::new(), Some(unwanted())),
            Ok(Observation::Present(live)) if !wanted => Report {
                drift: vec![Drift::new(
                    "wanted",
                    format!("no ({})", unwanted()),
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
