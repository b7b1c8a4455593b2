//! The plan: every resource of the stack with its dependencies. The engine derives the order from the
//! dependencies; this list only fixes the order of display.

use std::sync::Arc;

use crate::resources::Resource;

/// Every resource of a stack whose one agent is `default`, in the order of display: the layers' own lists
/// (`resources::nodes`).
pub fn resources() -> Vec<Arc<dyn Resource>> {
    crate::resources::nodes()
}

/// Every resource of the stack these settings describe, with an app client for each configured agent and for each
/// agent the state file still records (removed from the configuration: `up` deletes it).
pub fn resources_for(
    settings: &crate::config::Settings,
    state: Option<&crate::state::State>,
) -> Vec<Arc<dyn Resource>> {
    let configured: Vec<&str> = settings.agents.keys().map(String::as_str).collect();
    let recorded: Vec<&str> = state
        .map(|s| {
            s.resources
                .keys()
                .filter_map(|node| crate::resources::app_client::agent_of(node))
                .collect()
        })
        .unwrap_or_default();
    crate::resources::nodes_for(&configured, &recorded)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::resources;

    #[test]
    fn ids_are_unique_and_dependencies_exist_and_form_no_cycle() {
        let plan = resources();
        let ids: BTreeSet<&str> = plan.iter().map(|r| r.id()).collect();
        assert_eq!(ids.len(), plan.len(), "duplicate node ids");
        // Kahn's algorithm: every node must become ready.
        let mut done: BTreeSet<&str> = BTreeSet::new();
        while done.len() < plan.len() {
            let before = done.len();
            for r in &plan {
                for d in r.depends_on() {
                    assert!(ids.contains(d), "{} depends on unknown {d}", r.id());
                }
                if r.depends_on().iter().all(|d| done.contains(d)) {
                    done.insert(r.id());
                }
            }
            assert!(
                done.len() > before,
                "dependency cycle among {:?}",
                ids.difference(&done).collect::<Vec<_>>()
            );
        }
    }
}
