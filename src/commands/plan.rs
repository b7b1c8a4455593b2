//! `neo4j-gw plan` (and `up --dry-run`): what `up` (or, with `--down`, `down`) would do to each resource, from the
//! same observe calls `up` makes — read-only: not a single mutating AWS request, no lock, no state written.
//!
//! Per node: `create`, `update` (each attribute, old → new), `replace` (why), `delete`, `none` (no change),
//! `conflict` (our name, not our tag: `up` would stop there) or `unknown` (the observe failed). Exit 0 when nothing
//! would change, 3 when something would, so CI can gate on it. `up` prints the same summary before it acts.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::{Env, connect_beside, engine, password_source, prepare};
use crate::cli::{PlanArgs, SettingArgs};
use crate::config::Purpose;
use crate::engine::Report;
use crate::error::{Error, Result, exit};

/// What would happen to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
    Conflict,
    Unknown,
    None,
}

impl Action {
    /// The word shown to the operator.
    pub fn word(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
            Action::Conflict => "conflict",
            Action::Unknown => "unknown",
            Action::None => "no change",
        }
    }

    /// The action's name in JSON (as serialized).
    pub fn key(self) -> &'static str {
        match self {
            Action::None => "none",
            other => other.word(),
        }
    }

    fn mark(self) -> char {
        match self {
            Action::Create => '+',
            Action::Update => '~',
            Action::Replace => '!',
            Action::Delete => '-',
            Action::Conflict | Action::Unknown => '?',
            Action::None => '=',
        }
    }

    /// Whether the run would change something (or could not tell).
    pub fn changes(self) -> bool {
        self != Action::None
    }
}

/// One attribute an update or replacement changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attribute {
    pub attribute: String,
    pub old: String,
    pub new: String,
}

/// One line of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub resource: String,
    pub kind: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    /// Why a replacement, a conflict or an unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Anything else worth knowing (a wait, a dependency that changes first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// For the deletion of a second copy of the resource (a duplicate): its ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<String>,
}

impl Change {
    fn new(r: &Report, action: Action) -> Change {
        Change {
            resource: r.resource.clone(),
            kind: r.kind.clone(),
            action,
            attributes: Vec::new(),
            reason: None,
            note: None,
            duplicate: None,
        }
    }

    /// The deletion of one duplicate of `r` (a second copy carrying its tags, or its name in the stack's pool).
    fn duplicate(r: &Report, id: &str) -> Change {
        Change {
            reason: Some(format!(
                "duplicate {id}: another copy carrying the stack's tags; only one is kept"
            )),
            duplicate: Some(id.to_owned()),
            ..Change::new(r, Action::Delete)
        }
    }

    /// `attribute: old → new, …`, or the reason.
    pub fn detail(&self) -> String {
        let mut parts: Vec<String> = self
            .attributes
            .iter()
            .map(|a| format!("{}: {} → {}", a.attribute, a.old, a.new))
            .collect();
        if let Some(r) = &self.reason {
            parts.push(r.clone());
        }
        if let Some(n) = &self.note {
            parts.push(n.clone());
        }
        parts.join("; ")
    }
}

/// Dependents that change in the same run when a dependency is created, updated or replaced, although nothing of
/// their own differs yet: (dependency, dependent, what happens and why). A new value of the secret reaches its
/// consumers as a new version; a new task definition revision is rolled out by the service.
fn follow_ons() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    use crate::resources::{interceptor_function, secret, service, task_definition};
    [
        (
            secret::NODE,
            task_definition::NODE,
            task_definition::NEW_SECRET_VERSION,
        ),
        (
            secret::NODE,
            interceptor_function::NODE,
            interceptor_function::NEW_SECRET_VERSION,
        ),
        (task_definition::NODE, service::NODE, service::ROLLOUT),
    ]
    .into_iter()
}

/// What `up` would do, from `status` reports of the whole plan (in plan order).
pub fn for_up(reports: &[Report]) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::new();
    // Nodes that will be (re)made in this run, for their dependents.
    let mut made: BTreeMap<String, Action> = BTreeMap::new();
    // Nodes that will be created, updated or replaced, for the follow-ons of their dependents.
    let mut changing: std::collections::BTreeSet<String> = Default::default();
    for full in reports {
        // Duplicates are deletions of their own (below); the rest of the report is judged without them.
        let without_duplicates;
        let r = if full.duplicates.is_empty() {
            full
        } else {
            let drift: Vec<_> = full
                .drift
                .iter()
                .filter(|d| d.attribute != crate::resources::DUPLICATE)
                .cloned()
                .collect();
            without_duplicates = Report {
                state: if full.state == "drifted" && drift.is_empty() {
                    "present"
                } else {
                    full.state
                },
                drift,
                ..full.clone()
            };
            &without_duplicates
        };
        let replaced_deps: Vec<&str> = r
            .depends_on
            .iter()
            .copied()
            .filter(|d| made.contains_key(*d))
            .collect();
        let mut c = if !r.owned {
            // Checked in pre-flight (which stops the run when it is not usable), never changed.
            let mut c = Change::new(r, Action::None);
            c.note = Some("used, never changed by neo4j-gw".into());
            c
        } else {
            match r.state {
                "missing" => Change::new(r, Action::Create),
                "unused" => {
                    let mut c = Change::new(r, Action::None);
                    c.note = Some("not used with these settings".into());
                    c
                }
                "drifted" if r.drift.iter().any(|d| d.attribute == "wanted") => {
                    let mut c = Change::new(r, Action::Delete);
                    let why = r
                        .drift
                        .iter()
                        .find(|d| d.attribute == "wanted")
                        .and_then(|d| d.expected.strip_prefix("no ("))
                        .and_then(|d| d.strip_suffix(')'))
                        .unwrap_or("not used with these settings");
                    c.reason = Some(if why == "not used with these settings" {
                        "not used with these settings (e.g. origin_lock = false)".into()
                    } else {
                        why.to_owned()
                    });
                    c
                }
                "drifted" => {
                    let replace: Vec<&str> = r
                        .drift
                        .iter()
                        .filter(|d| d.replace)
                        .map(|d| d.attribute.as_str())
                        .collect();
                    let mut c = Change::new(
                        r,
                        if replace.is_empty() {
                            Action::Update
                        } else {
                            Action::Replace
                        },
                    );
                    c.attributes = r
                        .drift
                        .iter()
                        .map(|d| Attribute {
                            attribute: d.attribute.clone(),
                            old: d.actual.clone(),
                            new: d.expected.clone(),
                        })
                        .collect();
                    if !replace.is_empty() {
                        c.reason = Some(format!(
                            "{} cannot be changed in place: deleted, then created again",
                            replace.join(", ")
                        ));
                    }
                    c
                }
                "foreign" => {
                    let mut c = Change::new(r, Action::Conflict);
                    c.reason = r.message.clone();
                    c
                }
                "error" if !replaced_deps.is_empty() => {
                    // Its observe needs what a dependency that is made first will have.
                    let mut c = Change::new(r, Action::Create);
                    c.note = Some(format!(
                        "after {} (it could not be looked up before)",
                        replaced_deps.join(", ")
                    ));
                    c
                }
                "error" => {
                    let mut c = Change::new(r, Action::Unknown);
                    c.reason = r.message.clone();
                    c
                }
                // present, pending, unhealthy: nothing to change; up waits for what is not ready.
                _ => {
                    let mut c = Change::new(r, Action::None);
                    if let Some(m) = &r.message {
                        c.note = Some(format!("{}: {m}; up waits until it is ready", r.state));
                    }
                    c
                }
            }
        };
        if r.owned && matches!(c.action, Action::None | Action::Update) && r.state != "unused" {
            for (_, _, why) in follow_ons().filter(|(dep, node, _)| {
                *node == r.resource && r.depends_on.contains(dep) && changing.contains(*dep)
            }) {
                c.action = Action::Update;
                c.reason = Some(match c.reason.take() {
                    Some(r) => format!("{r}; {why}"),
                    None => why.to_owned(),
                });
            }
        }
        if matches!(c.action, Action::Create | Action::Update | Action::Replace) {
            changing.insert(r.resource.clone());
        }
        if matches!(c.action, Action::Create | Action::Replace) {
            made.insert(r.resource.clone(), c.action);
        } else if c.action == Action::None && !replaced_deps.is_empty() && r.owned {
            c.note = Some(format!(
                "refers to {}, which {} made first: it may be updated then",
                replaced_deps.join(", "),
                if replaced_deps.len() == 1 {
                    "is"
                } else {
                    "are"
                }
            ));
        }
        out.push(c);
        if r.owned {
            out.extend(r.duplicates.iter().map(|id| Change::duplicate(r, id)));
        }
    }
    out
}

/// What `down` would do, from `status` reports.
pub fn for_down(reports: &[Report]) -> Vec<Change> {
    reports
        .iter()
        .flat_map(|r| {
            let (action, note) = match (r.owned, r.state) {
                (false, _) => (Action::None, Some("used, never deleted by neo4j-gw")),
                (true, "missing") => (Action::None, Some("already gone")),
                (true, "foreign") => (Action::None, Some("not the stack's: kept")),
                (true, "error") => (Action::Unknown, None),
                (true, _) => (Action::Delete, None),
            };
            let mut c = Change::new(r, action);
            c.note = note.map(str::to_owned);
            if action == Action::Unknown {
                c.reason = r.message.clone();
            }
            let duplicates = r
                .duplicates
                .iter()
                .filter(|_| r.owned)
                .map(|id| Change::duplicate(r, id));
            std::iter::once(c).chain(duplicates).collect::<Vec<_>>()
        })
        .collect()
}

/// `3 to create, 1 to update, …` (only the actions that occur), or `no changes`.
pub fn summary(changes: &[Change]) -> String {
    let mut counts: BTreeMap<Action, usize> = BTreeMap::new();
    for c in changes {
        *counts.entry(c.action).or_default() += 1;
    }
    let parts: Vec<String> = counts
        .iter()
        .filter(|(a, _)| a.changes())
        .map(|(a, n)| match a {
            Action::Conflict | Action::Unknown => format!("{n} {}", a.word()),
            _ => format!("{n} to {}", a.word()),
        })
        .collect();
    if parts.is_empty() {
        "no changes".into()
    } else {
        let same = counts.get(&Action::None).copied().unwrap_or(0);
        format!("{}, {same} unchanged", parts.join(", "))
    }
}

/// One line per change (changes only; `all` adds the unchanged), `<mark> <action> <resource> <kind> <detail>`.
pub fn lines(changes: &[Change], all: bool) -> Vec<String> {
    changes
        .iter()
        .filter(|c| all || c.action.changes())
        .map(|c| {
            format!(
                "{} {:<9} {:<22} {:<26} {}",
                c.action.mark(),
                c.action.word(),
                c.resource,
                c.kind,
                c.detail()
            )
            .trim_end()
            .to_owned()
        })
        .collect()
}

/// The replacements among the changes, as `resource (why)`, for `up`'s confirmation.
pub fn replacements(changes: &[Change]) -> Vec<String> {
    // A duplicate's deletion needs no yes: it is a second copy of the stack's own resource, which nothing uses.
    changes
        .iter()
        .filter(|c| matches!(c.action, Action::Replace | Action::Delete) && c.duplicate.is_none())
        .map(|c| format!("{} ({})", c.resource, c.detail()))
        .collect()
}

/// The plan's JSON document (documented in the README).
pub fn document(
    stack: &str,
    region: &str,
    account: &str,
    deployed: bool,
    down: bool,
    changes: &[Change],
) -> serde_json::Value {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for c in changes {
        *counts.entry(c.action.key()).or_default() += 1;
    }
    json!({
        "stack": stack,
        "region": region,
        "account": account,
        "deployed": deployed,
        "command": if down { "down" } else { "up" },
        "changes": changes.iter().any(|c| c.action.changes()),
        "summary": counts,
        "resources": changes,
    })
}

/// `neo4j-gw plan`: prints the plan, returns 0 (nothing would change) or 3.
pub async fn run(env: &Env, args: &PlanArgs) -> Result<i32> {
    show(
        env,
        &args.settings,
        args.neo4j_password_stdin,
        args.down,
        args.json,
    )
    .await
}

/// `plan` and `up --dry-run`.
pub async fn show(
    env: &Env,
    settings: &SettingArgs,
    password_stdin: bool,
    down: bool,
    json: bool,
) -> Result<i32> {
    let purpose = if down { Purpose::Inspect } else { Purpose::Up };
    let prepared = prepare(
        env,
        Some(settings),
        purpose,
        password_source(password_stdin)?,
    )
    .await?;
    let mut connected = connect_beside(env, &prepared).await?;
    let account = connected.account.clone();
    let engine = engine(env, &prepared, connected.aws.clone(), &account);
    let reports = engine.status(prepared.state.as_ref()).await;
    connected.verified(&prepared).await?;
    let changes = if down {
        for_down(&reports)
    } else {
        engine.preflight(None).await?;
        for_up(&reports)
    };
    // The tools each access level sees, against the last `up`'s record (`up` would record the new ones).
    let surface = if down {
        serde_json::Value::Null
    } else {
        super::agent::surface_report(env, &engine, &prepared).await
    };
    let surface_changed = surface["changes"].as_array().is_some_and(|c| !c.is_empty());
    env.write_timings("plan");
    let stack = &prepared.settings.stack;
    if json {
        let mut doc = document(
            stack,
            &prepared.region,
            &account,
            prepared.state.is_some(),
            down,
            &changes,
        );
        doc["tool_surface"] = surface.clone();
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        println!(
            "{} plan for stack {stack} in {} (account {account}): {}",
            if down { "down" } else { "up" },
            prepared.region,
            summary(&changes)
        );
        for line in lines(&changes, true) {
            println!("  {line}");
        }
        if surface_changed {
            println!(
                "  tools: {}",
                surface["summary"].as_str().unwrap_or_default()
            );
        }
    }
    let unknown: Vec<String> = changes
        .iter()
        .filter(|c| c.action == Action::Unknown)
        .map(|c| format!("{}: {}", c.resource, c.reason.clone().unwrap_or_default()))
        .collect();
    if !unknown.is_empty() {
        return Err(Error::other(format!(
            "plan: could not look at every resource, so the plan is incomplete:\n{}",
            unknown.join("\n")
        )));
    }
    Ok(
        if changes.iter().any(|c| c.action.changes()) || surface_changed {
            exit::NOT_HEALTHY
        } else {
            exit::OK
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{
        Drift, certificate, cluster, gateway, hosted_zone, interceptor_function, log_group,
        route_table, secret, service, subnet, task_definition, user_pool, user_pool_domain, vpc,
    };

    fn report(node: &str, state: &'static str, deps: &[&'static str]) -> Report {
        Report {
            resource: node.into(),
            kind: "k".into(),
            owned: true,
            state,
            ids: Default::default(),
            drift: Vec::new(),
            depends_on: deps.to_vec(),
            details: Vec::new(),
            message: None,
            duplicates: Vec::new(),
        }
    }

    #[test]
    fn each_duplicate_is_a_deletion_of_its_own_that_needs_no_confirmation() {
        let mut vpc = report(vpc::NODE, "drifted", &[]);
        vpc.drift = vec![Drift::new(
            crate::resources::DUPLICATE,
            "no other copy",
            "vpc-2",
        )];
        vpc.duplicates = vec!["vpc-2".into()];
        let mut pool = report(user_pool::NODE, "drifted", &[]);
        pool.drift = vec![
            Drift::new("allow_admin_create_user_only", true, false),
            Drift::new(crate::resources::DUPLICATE, "no other copy", "eu-west-1_b"),
        ];
        pool.duplicates = vec!["eu-west-1_b".into()];
        let up = for_up(&[vpc.clone(), pool.clone()]);
        let actions: Vec<(Action, Option<&str>)> = up
            .iter()
            .map(|c| (c.action, c.duplicate.as_deref()))
            .collect();
        assert_eq!(
            actions,
            vec![
                (Action::None, None),
                (Action::Delete, Some("vpc-2")),
                (Action::Update, None),
                (Action::Delete, Some("eu-west-1_b")),
            ]
        );
        assert_eq!(
            up[2].attributes.len(),
            1,
            "the duplicate is not an attribute"
        );
        assert!(
            up[1].detail().contains("duplicate vpc-2"),
            "{}",
            up[1].detail()
        );
        assert!(replacements(&up).is_empty());
        let down = for_down(&[vpc, pool]);
        assert_eq!(
            down.iter().filter(|c| c.action == Action::Delete).count(),
            4
        );
    }

    #[test]
    fn verbs_follow_the_observation() {
        let mut drifted = report(task_definition::NODE, "drifted", &[]);
        drifted.drift = vec![Drift::new("cpu", "512", "256")];
        let mut replaced = report(user_pool_domain::NODE, "drifted", &[]);
        replaced.drift = vec![Drift::new("domain", "new", "old").replace()];
        let mut foreign = report(cluster::NODE, "foreign", &[]);
        foreign.message = Some("not tagged".into());
        let mut pending = report(service::NODE, "pending", &[]);
        pending.message = Some("1 of 2 running".into());
        let mut external = report(certificate::NODE, "present", &[]);
        external.owned = false;
        let changes = for_up(&[
            report(vpc::NODE, "missing", &[]),
            drifted,
            replaced,
            foreign,
            pending,
            external,
            report(log_group::CONTAINER_LOGS_NODE, "present", &[]),
        ]);
        let actions: Vec<Action> = changes.iter().map(|c| c.action).collect();
        assert_eq!(
            actions,
            vec![
                Action::Create,
                Action::Update,
                Action::Replace,
                Action::Conflict,
                Action::None,
                Action::None,
                Action::None
            ]
        );
        assert_eq!(
            changes[1].attributes,
            vec![Attribute {
                attribute: "cpu".into(),
                old: "256".into(),
                new: "512".into()
            }]
        );
        assert!(
            changes[2].detail().contains("domain: old → new"),
            "{}",
            changes[2].detail()
        );
        assert!(changes[2].detail().contains("cannot be changed in place"));
        assert!(changes[4].detail().contains("1 of 2 running"));
        assert_eq!(
            summary(&changes),
            "1 to create, 1 to update, 1 to replace, 1 conflict, 3 unchanged"
        );
        assert_eq!(replacements(&changes).len(), 1);
        assert_eq!(lines(&changes, false).len(), 4);
        assert_eq!(lines(&changes, true).len(), 7);
    }

    #[test]
    fn dependents_of_new_resources_are_created_or_flagged() {
        let mut lookup_failed = report(subnet::NODE_A, "error", &[vpc::NODE]);
        lookup_failed.message = Some("needs vpc_id of vpc".into());
        let mut unknown = report(cluster::NODE, "error", &[]);
        unknown.message = Some("AccessDenied".into());
        let changes = for_up(&[
            report(vpc::NODE, "missing", &[]),
            lookup_failed,
            report(route_table::NODE, "present", &[vpc::NODE]),
            unknown,
        ]);
        assert_eq!(changes[1].action, Action::Create);
        assert!(changes[2].note.as_deref().unwrap().contains("vpc"));
        assert_eq!(changes[2].action, Action::None);
        assert_eq!(changes[3].action, Action::Unknown);
        assert_eq!(summary(&[]), "no changes");
    }

    #[test]
    fn a_new_secret_value_rolls_the_service_and_refreshes_the_interceptor() {
        let mut secret = report(secret::NODE, "drifted", &[]);
        secret.drift = vec![Drift::new("NEO4J_URI", "neo4j+s://b", "neo4j+s://a")];
        let changes = for_up(&[
            secret,
            report(task_definition::NODE, "present", &[secret::NODE]),
            report(interceptor_function::NODE, "present", &[secret::NODE]),
            report(service::NODE, "present", &[task_definition::NODE]),
            report(gateway::NODE, "present", &[interceptor_function::NODE]),
        ]);
        let actions: Vec<Action> = changes.iter().map(|c| c.action).collect();
        assert_eq!(
            actions,
            vec![
                Action::Update,
                Action::Update,
                Action::Update,
                Action::Update,
                Action::None
            ]
        );
        assert!(
            changes[1].detail().contains("only when it starts"),
            "{}",
            changes[1].detail()
        );
        assert!(
            changes[2].detail().contains("cached credentials"),
            "{}",
            changes[2].detail()
        );
        assert!(
            changes[3].detail().contains("rollout"),
            "{}",
            changes[3].detail()
        );
        // Nothing changes: nothing follows.
        let quiet = for_up(&[
            report(secret::NODE, "present", &[]),
            report(task_definition::NODE, "present", &[secret::NODE]),
            report(service::NODE, "present", &[task_definition::NODE]),
        ]);
        assert!(quiet.iter().all(|c| c.action == Action::None));
    }

    #[test]
    fn down_deletes_what_is_there_and_keeps_what_is_not_ours() {
        let mut external = report(hosted_zone::NODE, "present", &[]);
        external.owned = false;
        let changes = for_down(&[
            report(vpc::NODE, "present", &[]),
            report(subnet::NODE_A, "drifted", &[]),
            report(cluster::NODE, "missing", &[]),
            report(gateway::NODE, "foreign", &[]),
            external,
        ]);
        let actions: Vec<Action> = changes.iter().map(|c| c.action).collect();
        assert_eq!(
            actions,
            vec![
                Action::Delete,
                Action::Delete,
                Action::None,
                Action::None,
                Action::None
            ]
        );
        let doc = document("s", "r", "a", true, true, &changes);
        assert_eq!(doc["summary"]["delete"], 2);
        assert_eq!(doc["resources"][0]["action"], "delete");
        assert_eq!(doc["changes"], true);
    }
}
