//! Resource kinds. Each module holds one kind's whole life cycle — observe, create, update, delete, wait —
//! behind the [`Resource`] trait; `crate::plan` lists them with their dependencies and `crate::engine`
//! walks them.
//!
//! Conventions every resource follows:
//! - `observe` makes read-only calls only. It finds the resource by its recorded IDs first, then by the
//!   stack's tags or its deterministic name (so a run can adopt what an interrupted run created), and
//!   compares it with the desired settings.
//! - A resource found by name that does not carry the stack's tag is reported as [`Observation::Foreign`]:
//!   it is never adopted, changed or deleted.
//! - Every create is tagged (`neo4j-gw:stack`, `neo4j-gw:resource`, `Name`) in the create call itself where the
//!   API allows it, so there is no window in which an untagged resource exists.

use std::any::Any;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;

use crate::aws::Aws;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::progress::Line;
use crate::state::Ids;

// The layers, in the order of the plan (the README's "What it deploys"); each kind stays reachable as
// `crate::resources::<kind>`.
pub mod agent_gateway;
pub mod compute;
pub mod edge;
pub mod identity;
pub mod network;
pub mod origin_lock;

// Kinds and helpers several layers use.
mod aws_result;
pub mod iam_role;
pub mod log_group;

pub use agent_gateway::*;
pub use aws_result::AwsResult;
pub use compute::*;
pub use edge::*;
pub use identity::*;
pub use network::*;
pub use origin_lock::*;

/// Every node of a stack whose only agent is `default` (see [`nodes_for`]).
pub fn nodes() -> Vec<Arc<dyn Resource>> {
    nodes_for(&[crate::config::DEFAULT_AGENT], &[])
}

/// Every node of the stack, layer by layer in the order of the README's table (the order of display; the engine
/// derives the order of work from the dependencies). Each layer lists its own kinds, so a new kind touches its
/// file and its layer's `mod.rs`, not this list.
///
/// One app-client node per agent: `configured` are the settings' agents; `recorded` those the state file knows
/// (an agent removed from the configuration is still a node — not wanted, so `up` deletes its client). The
/// `default` agent's node is always there, wanted only when configured.
pub fn nodes_for(configured: &[&str], recorded: &[&str]) -> Vec<Arc<dyn Resource>> {
    let mut agents: Vec<&str> = vec![crate::config::DEFAULT_AGENT];
    for a in configured.iter().chain(recorded) {
        if !agents.contains(a) {
            agents.push(a);
        }
    }
    [
        network::nodes(),
        edge::nodes(),
        origin_lock::nodes(),
        compute::nodes(),
        identity::nodes(&agents),
        agent_gateway::nodes(configured),
    ]
    .concat()
}

/// A name that lives as long as the process (node names of agents, which come from the configuration). Each
/// distinct name is kept once.
pub fn intern(name: String) -> &'static str {
    static NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.iter().find(|n| **n == name) {
        return n;
    }
    let n: &'static str = String::leak(name);
    names.push(n);
    n
}

/// One ID a node records: its key among the node's [`Ids`] in the state file, e.g. the target group's `arn`. Each
/// resource module exports its node name as `NODE` and the IDs others read as constants of this type
/// (`target_group::ARN`), so a dependency on a node or an ID that does not exist is a compile error, not a run-time
/// "not known yet". The names and keys are those of the state file: changing one changes the file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Output {
    pub node: &'static str,
    pub key: &'static str,
}

impl Output {
    pub const fn new(node: &'static str, key: &'static str) -> Self {
        Output { node, key }
    }

    /// Its value among the IDs known of every node (a walk's, or a state file's as `known`).
    pub fn in_known(self, known: &BTreeMap<String, Ids>) -> Option<&String> {
        known.get(self.node)?.get(self.key)
    }

    /// Its value as the state file records it.
    pub fn recorded(self, state: &crate::state::State) -> Option<&String> {
        state.resources.get(self.node)?.ids.get(self.key)
    }
}

pub const TAG_STACK: &str = "neo4j-gw:stack";
pub const TAG_RESOURCE: &str = "neo4j-gw:resource";

/// The key of a [`Live::details`] entry that pre-flight and `status` show as a warning: nothing is wrong yet,
/// but something will probably not work, and the text says why.
pub const WARNING: &str = "warning";

/// The key of a resource's create token in its intent record (see [`Cx::create_token`]).
pub const CREATE_TOKEN: &str = "create_token";

/// The ARN partition of a region.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// A new create token (64 hex digits) for one lifetime of a stack's node: unique per call.
pub fn new_create_token(stack: &str, node: &str) -> String {
    use sha2::{Digest, Sha256};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    hex::encode(Sha256::digest(format!(
        "neo4j-gw:{stack}:{node}:{nanos}:{}:{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )))
}

/// One difference between the live resource and the desired settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Drift {
    pub attribute: String,
    pub expected: String,
    pub actual: String,
    /// True when AWS cannot change this attribute in place: the resource must be replaced.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replace: bool,
}

impl Drift {
    pub fn new(
        attribute: impl Into<String>,
        expected: impl ToString,
        actual: impl ToString,
    ) -> Self {
        Drift {
            attribute: attribute.into(),
            expected: expected.to_string(),
            actual: actual.to_string(),
            replace: false,
        }
    }
    pub fn replace(mut self) -> Self {
        self.replace = true;
        self
    }
}

/// Whether a present resource is doing its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ready,
    /// Not ready yet, but on its way (e.g. an ALB `provisioning`).
    Pending(String),
    /// Present but broken (e.g. no healthy target).
    Unhealthy(String),
}

/// What `observe` found.
#[derive(Debug, Clone)]
pub struct Live {
    pub ids: Ids,
    pub drift: Vec<Drift>,
    pub health: Health,
    /// Extra facts for `status` (e.g. running/desired counts).
    pub details: Vec<(String, String)>,
    /// Other copies carrying this node's tags (or, for an app client, its name in the stack's pool): left by a
    /// create whose answer was lost, or put there out of band. `up` and `down` delete them; the kept copy is
    /// the one described by `ids` (see [`Resource::settle`] and docs/reliability.md, "Duplicates").
    pub duplicates: Vec<Duplicate>,
}

/// A second copy of a node's resource: what `plan` and `status` show (`id`) and what
/// [`Resource::delete_duplicate`] needs (`ids`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub id: String,
    pub ids: Ids,
}

/// The drift attribute `status` reports for each [`Duplicate`].
pub const DUPLICATE: &str = "duplicate";

/// How long a create that an earlier run sent without an idempotency token, and whose answer it never recorded,
/// is looked for before a new one is sent: AWS documents its control-plane reads as eventually consistent, to be
/// retried "starting with a couple of seconds of wait time, and increasing gradually up to a few minutes" (EC2
/// API, "Eventual consistency"; the ECS API reference says the same) — two minutes. The emulator answers
/// consistently, so a short bound there still runs the same path.
pub fn settle_bound(cx: &Cx) -> std::time::Duration {
    std::time::Duration::from_secs(if cx.emulated() { 2 } else { 120 })
}

impl Live {
    pub fn new(ids: Ids) -> Self {
        Live {
            ids,
            drift: Vec::new(),
            health: Health::Ready,
            details: Vec::new(),
            duplicates: Vec::new(),
        }
    }
    pub fn with_duplicates(mut self, duplicates: Vec<Duplicate>) -> Self {
        self.duplicates = duplicates;
        self
    }
    pub fn with_drift(mut self, drift: Vec<Drift>) -> Self {
        self.drift = drift;
        self
    }
    pub fn id(&self, key: &str) -> Result<&str> {
        self.ids
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| Error::other(format!("internal: no `{key}` among the observed IDs")))
    }
}

#[derive(Debug, Clone)]
pub enum Observation {
    Missing,
    /// Something with our deterministic name exists but is not tagged as this stack's.
    Foreign(String),
    Present(Live),
}

/// Shared by all the nodes of one engine walk.
pub struct Shared {
    pub aws: Aws,
    pub settings: Arc<Settings>,
    pub stack: String,
    pub account: String,
    pub region: String,
    /// IDs of every resource known so far (recorded in the state, observed or created in this walk).
    pub known: RwLock<BTreeMap<String, Ids>>,
    pub cancel: crate::cancel::Cancel,
    /// Answers of read calls shared by several nodes while the engine observes them all at once.
    pub batches: Batches,
}

type BatchCell = Arc<tokio::sync::OnceCell<Option<Arc<dyn Any + Send + Sync>>>>;

/// Answers of read calls that cover several nodes at once — one `DescribeSubnets` for both subnets, one
/// `DescribeSecurityGroups` for both groups, one `DescribeTags` for every load-balancing resource — made by the
/// first node that needs one while the others wait for it (see [`Cx::batched`]).
///
/// Only while the engine observes every node (`open`): what a node sees after that (a look after its create, a
/// second look after an uncertain error, the proof that a delete took) is asked of AWS afresh. Each node takes a
/// batch's answer at most once for the same reason.
#[derive(Default)]
pub struct Batches {
    open: std::sync::atomic::AtomicBool,
    cells: Mutex<HashMap<&'static str, BatchCell>>,
    taken: Mutex<HashSet<(&'static str, &'static str)>>,
}

impl Batches {
    /// Opens (true) or closes (false) batching; closing forgets the answers.
    pub fn set_open(&self, open: bool) {
        self.open.store(open, std::sync::atomic::Ordering::SeqCst);
        if !open && let Ok(mut c) = self.cells.lock() {
            c.clear();
        }
    }
}

/// A node's view of the run.
#[derive(Clone)]
pub struct Cx {
    pub shared: Arc<Shared>,
    pub node: &'static str,
    pub line: Line,
    /// Set for the look that proves a delete took: the resource is expected gone, so reads that only matter when it
    /// is there ([`Cx::alongside`]) are not started with the lookup.
    pub expect_gone: bool,
}

impl Cx {
    pub fn new(shared: Arc<Shared>, node: &'static str, line: Line) -> Cx {
        Cx {
            shared,
            node,
            line,
            expect_gone: false,
        }
    }
    pub fn aws(&self) -> &Aws {
        &self.shared.aws
    }
    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }
    pub fn stack(&self) -> &str {
        &self.shared.stack
    }
    pub fn emulated(&self) -> bool {
        self.shared.aws.emulated
    }

    /// `<stack>-<suffix>`: every name is derived from the stack name.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.shared.stack)
    }

    /// An ID of another resource (a dependency), known from the state or from this walk.
    pub fn dep(&self, output: Output) -> Result<String> {
        self.dep_opt(output).ok_or_else(|| {
            Error::other(format!(
                "{}: needs `{}` of `{}`, which is not known yet (run `neo4j-gw up`)",
                self.node, output.key, output.node
            ))
        })
    }

    pub fn dep_opt(&self, output: Output) -> Option<String> {
        let known = self.shared.known.read().ok()?;
        output.in_known(&known).cloned()
    }

    /// The create token of the resource this node is creating: the engine records one with the intent of every
    /// create and keeps it while that create is resumed (after a kill, or a repeat after an uncertain error), and
    /// makes a new one for each new resource. Client tokens derive from it, so a repeat of one create is recognised
    /// by AWS as such, while a resource created again after the last one was deleted (out of band, or by `down`)
    /// never reuses a token AWS still remembers — AWS would answer with the deleted resource, or refuse the
    /// token with other parameters. Outside an engine create (unit tests) it is derived from stack and node.
    pub fn create_token(&self) -> String {
        self.dep_opt(Output::new(self.node, CREATE_TOKEN))
            .unwrap_or_else(|| {
                use sha2::{Digest, Sha256};
                hex::encode(Sha256::digest(format!(
                    "neo4j-gw:{}:{}",
                    self.shared.stack, self.node
                )))
            })
    }

    /// The tags every resource of this stack carries.
    pub fn tags(&self, name: &str) -> Vec<(String, String)> {
        vec![
            (TAG_STACK.to_owned(), self.shared.stack.clone()),
            (TAG_RESOURCE.to_owned(), self.node.to_owned()),
            ("Name".to_owned(), name.to_owned()),
        ]
    }

    /// True when the given tags mark a resource as this node's resource of this stack.
    pub fn is_ours<'a>(&self, tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
        let mut stack = false;
        let mut node = true;
        for (k, v) in tags {
            if k == TAG_STACK {
                stack = v == self.shared.stack;
            }
            if k == TAG_RESOURCE {
                node = v == self.node;
            }
        }
        stack && node
    }

    /// Every distinct ID value the run knows (of any node) that `matches`, at most `limit`: the ARNs a batched read
    /// asks about.
    pub fn known_values(&self, matches: impl Fn(&str) -> bool, limit: usize) -> Vec<String> {
        self.shared
            .known
            .read()
            .map(|k| {
                k.values()
                    .flat_map(|ids| ids.values())
                    .filter(|v| matches(v))
                    .cloned()
                    .collect::<std::collections::BTreeSet<String>>()
                    .into_iter()
                    .take(limit)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The answer of the read call `batch` that covers this node and others, or None when the node should ask on its
    /// own: batching is closed, this node already took the answer once, or the call failed (the node's own call
    /// then reports the error properly). `fetch` is run by the first node to ask, with every node's IDs known then.
    pub async fn batched<T, F, Fut>(&self, batch: &'static str, fetch: F) -> Option<Arc<T>>
    where
        T: Any + Send + Sync,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let b = &self.shared.batches;
        if !b.open.load(std::sync::atomic::Ordering::SeqCst)
            || !b.taken.lock().ok()?.insert((batch, self.node))
        {
            return None;
        }
        let cell = b.cells.lock().ok()?.entry(batch).or_default().clone();
        let answer = cell
            .get_or_init(|| async {
                fetch()
                    .await
                    .ok()
                    .map(|t| Arc::new(t) as Arc<dyn Any + Send + Sync>)
            })
            .await;
        answer.clone()?.downcast::<T>().ok()
    }

    /// Shows a progress message on this node's line.
    pub fn say(&self, message: impl Into<String>) {
        self.line.set(message.into());
    }
}

/// One resource kind's life cycle.
#[async_trait]
pub trait Resource: Send + Sync + 'static {
    /// The node's key in the plan and the state file, e.g. `subnet-a`.
    fn id(&self) -> &'static str;
    /// The kind shown to the operator, e.g. `ec2:subnet`.
    fn kind(&self) -> &'static str;
    /// Nodes that must be in place before this one (and deleted after it).
    fn depends_on(&self) -> &'static [&'static str] {
        &[]
    }
    /// True for resources the stack uses but does not own (hosted zone, certificate): they are checked
    /// before anything is created and are never created, changed or deleted.
    fn external(&self) -> bool {
        false
    }
    /// For a kind that carries no tags of its own (a DNS record, a Cognito domain, resource server or app client, a
    /// gateway target): the node whose resource it lives in or serves, and whose tags therefore say whose it is. The
    /// engine reports it foreign when that node is foreign, and acts on it only once that node was read
    /// (`Engine::owned_through_check`): recorded IDs alone never prove that a resource is the stack's.
    fn owned_through(&self) -> Option<&'static str> {
        None
    }
    /// False when the settings do not use this resource (e.g. the origin lock's secret and rule with
    /// `origin_lock = false`): `up` then deletes it if the stack made it, and `status` reports it `unused`.
    fn wanted(&self, cx: &Cx) -> bool {
        let _ = cx;
        true
    }
    /// Why the settings do not use it (when not [`Resource::wanted`]): what `plan` and `status` say.
    fn unwanted_reason(&self, cx: &Cx) -> String {
        let _ = cx;
        "not used with these settings".to_owned()
    }
    /// For an external resource: what pre-flight reports when `observe` finds it missing. Say what to do.
    fn missing_message(&self, cx: &Cx) -> String {
        let _ = cx;
        format!("{}: not found", self.id())
    }
    /// Finds the live resource (read-only calls) and compares it with the desired settings.
    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation>;
    /// Creates it, returning its IDs.
    async fn create(&self, cx: &Cx) -> Result<Ids>;
    /// Repairs the drift reported by `observe` in place.
    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        let _ = cx;
        Err(Error::other(format!(
            "{}: cannot be changed in place ({})",
            self.id(),
            live.drift
                .iter()
                .map(|d| d.attribute.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
    /// Deletes it, waiting until AWS has really let go of it where that takes time.
    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()>;
    /// For a kind whose create has neither an idempotency token nor a unique name (docs/reliability.md,
    /// "Idempotency of every create"): how long to look again for a create an earlier run sent and never recorded
    /// the answer of, before sending another ([`settle_bound`]). None for the kinds AWS cannot duplicate.
    fn settle(&self, cx: &Cx) -> Option<std::time::Duration> {
        let _ = cx;
        None
    }
    /// Deletes one of the [`Live::duplicates`] `observe` found.
    async fn delete_duplicate(&self, cx: &Cx, duplicate: &Duplicate) -> Result<()> {
        self.delete(cx, &Live::new(duplicate.ids.clone())).await
    }
    /// Waits until the resource works (after a create or update, or when found pending).
    async fn wait_ready(&self, cx: &Cx, ids: &Ids) -> Result<()> {
        let _ = (cx, ids);
        Ok(())
    }
}

/// Reads that need only a resource's ID (its tags, attributes, health), started together with the lookup that finds
/// the resource: with a recorded ID — a deployed stack — they cost no round trip of their own. Pair with
/// [`reads_for`], which uses them only when the lookup found that same ID. Not when the resource is expected gone
/// ([`Cx::expect_gone`]): the reads would be wasted calls.
pub async fn alongside<L, R, RF>(
    cx: &Cx,
    recorded: Option<&str>,
    lookup: impl Future<Output = L>,
    reads: impl Fn(String) -> RF,
) -> (L, Option<(String, R)>)
where
    RF: Future<Output = R>,
{
    match recorded.filter(|_| !cx.expect_gone) {
        Some(id) => {
            let (found, early) = tokio::join!(lookup, reads(id.to_owned()));
            (found, Some((id.to_owned(), early)))
        }
        None => (lookup.await, None),
    }
}

/// The reads [`alongside`] made, when they were made for `id`; else they are made now.
pub async fn reads_for<R, RF>(
    early: Option<(String, R)>,
    id: &str,
    reads: impl Fn(String) -> RF,
) -> R
where
    RF: Future<Output = R>,
{
    match early {
        Some((made_for, r)) if made_for == id => r,
        _ => reads(id.to_owned()).await,
    }
}

/// Shorthand for building [`Ids`].
pub fn ids<const N: usize>(pairs: [(&str, String); N]) -> Ids {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}
