//! The Secrets Manager secret `neo4j-gw/<stack>/neo4j`: JSON with `NEO4J_URI`, `NEO4J_USERNAME`,
//! `NEO4J_PASSWORD` and `NEO4J_DATABASE`. The ECS task reads `NEO4J_URI` and `NEO4J_DATABASE` from it (ECS
//! secrets); the interceptor Lambda reads the username and password.
//!
//! Life cycle decisions:
//! - `down` deletes the secret with `ForceDeleteWithoutRecovery`, so that a later `up` of the same stack can
//!   create the same name again (a secret scheduled for deletion blocks a create of its name). The delete waits
//!   until Secrets Manager reports the secret gone (the purge is asynchronous on AWS).
//! - `up` that finds the secret *scheduled for deletion* (deleted out of band with a recovery window, or by an
//!   older version) restores it (`RestoreSecret`) and writes the current value, instead of failing on create.
//!   `status` reports such a secret as drifted (`scheduled_for_deletion`).
//!
//! The password never leaves this module except towards Secrets Manager: it is not in the IDs (only `arn` and
//! `name`), and a password difference is reported as the attribute `password` with `(hidden)` on both sides.
//! It is compared only when this run was given it (`NEO4J_PASSWORD` or `--neo4j-password-stdin`). An absent
//! password means "keep what is there": an update of the other keys keeps the password the secret holds. The demo
//! database's public password is written only when the secret is made for the demo URI (or the URI is changed to
//! it), never over an operator's password.
//!
//! The secret's version (`VersionId` of `AWSCURRENT`, recorded as the ID `version`) reaches the consumers that read
//! the secret only now and then — the ECS task at start, the interceptor through its cache — as the environment
//! variable [`VERSION_VARIABLE`] ([`carry_version`]): a new value of the secret is a new version, which changes their
//! configuration, so `up` rolls the service onto a new task definition revision and replaces the interceptor's warm
//! instances (and their cached credentials) in the same run, and `plan` shows both (each consumer's `NEW_SECRET_VERSION`). The
//! version is an identifier Secrets Manager makes up for each value, never derived from the value.

use async_trait::async_trait;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::types::Tag;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::{DEMO_PASSWORD, DEMO_URI, Secret, Settings};
use crate::error::{self, Error, Result};
use crate::resources::Output;
use crate::resources::{AwsResult, Cx, Drift, Live, Observation, Resource, ids};
use crate::state::Ids;
use crate::wait::{self, Poll};

pub const ARN: Output = Output::new(NODE, "arn");
pub const VERSION: Output = Output::new(NODE, "version");

pub struct SecretResource;

pub const NODE: &str = "secret";

pub const KEY_URI: &str = "NEO4J_URI";
pub const KEY_USERNAME: &str = "NEO4J_USERNAME";
pub const KEY_PASSWORD: &str = "NEO4J_PASSWORD";
pub const KEY_DATABASE: &str = "NEO4J_DATABASE";
/// `Basic base64(utf8(user:password))`, derived from the two keys above whenever the secret is written: the ECS
/// task's credentials proxy sends it (`task_definition`), as ECS can hand a container one JSON key but not encode.
pub const KEY_AUTHORIZATION: &str = "NEO4J_AUTHORIZATION";

/// The value of [`KEY_AUTHORIZATION`] for these credentials (RFC 7617 with UTF-8, as the interceptor builds it).
pub fn basic_authorization(username: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    )
}

/// The environment variable that carries the secret's version to its consumers.
pub const VERSION_VARIABLE: &str = "NEO4J_GW_SECRET_VERSION";

/// Puts the secret's `version` into a consumer's environment `env`. When it is not known (a stack recorded before
/// versions were), the one the live consumer carries (`live`) is kept, so that it is not reported as drift.
pub fn carry_version(
    version: Option<String>,
    env: &mut std::collections::BTreeMap<String, String>,
    live: Option<&std::collections::BTreeMap<String, String>>,
) {
    let version = version.or_else(|| live.and_then(|l| l.get(VERSION_VARIABLE)).cloned());
    if let Some(v) = version {
        env.insert(VERSION_VARIABLE.to_owned(), v);
    }
}

/// The secret's version as this run knows it (recorded, or learned from its observe, create or update): what a
/// consumer is created or updated with.
pub fn known_version(cx: &Cx) -> Option<String> {
    cx.dep_opt(VERSION)
}

/// The secret's version as Secrets Manager reports it now, for a consumer's observe: a secret written out of band
/// since the last `up` is then rolled out in this run, not the next. While every node is observed, the one
/// DescribeSecret the secret node makes answers the consumers too (no request of their own); otherwise (a look after
/// the secret changed in this run) the version the run learned.
pub async fn live_version(cx: &Cx) -> Option<String> {
    let Some(arn) = cx.dep_opt(ARN) else {
        return known_version(cx);
    };
    shared_describe(cx, &arn)
        .await
        .and_then(|d| {
            d.0.as_ref()
                .filter(|s| s.deleted_date().is_none())
                .and_then(current_version)
        })
        .or_else(|| known_version(cx))
}

/// The batch of the Neo4j secret's DescribeSecret, shared by the secret node and the consumers of its version.
const DESCRIBE_BATCH: &str = "secretsmanager:DescribeSecret(neo4j)";

/// One DescribeSecret answer (or "not found"), as shared by [`DESCRIBE_BATCH`].
struct Described(Option<DescribeSecretOutput>);

/// The shared DescribeSecret of the Neo4j secret at `arn`, or None when batching is closed or the call failed.
async fn shared_describe(cx: &Cx, arn: &str) -> Option<std::sync::Arc<Described>> {
    let arn = arn.to_owned();
    cx.batched(DESCRIBE_BATCH, || async move {
        Ok(Described(describe(cx, &arn).await?))
    })
    .await
}

/// DescribeSecret of the Neo4j secret at `arn`: while every node is observed, the answer is shared with the consumers
/// of its version ([`live_version`]).
async fn describe_shared(cx: &Cx, arn: &str) -> Result<Option<DescribeSecretOutput>> {
    match shared_describe(cx, arn).await {
        Some(d) => Ok(d.0.clone()),
        None => describe(cx, arn).await,
    }
}

/// The `AWSCURRENT` version of a described secret.
fn current_version(secret: &DescribeSecretOutput) -> Option<String> {
    secret
        .version_ids_to_stages()?
        .iter()
        .find(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT"))
        .map(|(id, _)| id.clone())
}

const HIDDEN: &str = "(hidden)";
const SCHEDULED: &str = "scheduled_for_deletion";

/// The secret's name for a stack.
pub fn secret_name(stack: &str) -> String {
    format!("neo4j-gw/{stack}/neo4j")
}

fn not_found(code: Option<&str>) -> bool {
    code == Some("ResourceNotFoundException")
}

/// The password to write: the one given; else the demo database's public one when the secret is made for the demo
/// URI (`live` is `None`) or moves to it; else the one the live secret holds (`live`: its current value).
fn password_to_write(s: &Settings, live: Option<&str>) -> Option<Secret> {
    if let Some(p) = &s.neo4j_password {
        return Some(p.clone());
    }
    let live: Option<serde_json::Map<String, Value>> = match live.map(serde_json::from_str) {
        None => None,
        Some(Ok(Value::Object(m))) => Some(m),
        Some(_) => return None,
    };
    let live_uri = live
        .as_ref()
        .and_then(|m| m.get(KEY_URI).and_then(Value::as_str));
    if s.neo4j_uri == DEMO_URI && live_uri != Some(DEMO_URI) {
        return Some(Secret::new(DEMO_PASSWORD.to_owned()));
    }
    live?
        .get(KEY_PASSWORD)?
        .as_str()
        .map(|p| Secret::new(p.to_owned()))
}

/// The desired SecretString: the settings, with the password from [`password_to_write`].
fn desired_value(s: &Settings, node: &str, live: Option<&str>) -> Result<String> {
    let password = password_to_write(s, live).ok_or_else(|| {
        Error::usage(
            "NEO4J_PASSWORD",
            format!(
                "{node}: the Neo4j password is needed to write the secret (the secret holds none to keep): set \
                 NEO4J_PASSWORD or use --neo4j-password-stdin"
            ),
        )
    })?;
    Ok(json!({
        KEY_URI: s.neo4j_uri,
        KEY_USERNAME: s.neo4j_username,
        KEY_PASSWORD: password.expose(),
        KEY_DATABASE: s.neo4j_database,
        KEY_AUTHORIZATION: basic_authorization(&s.neo4j_username, password.expose()),
    })
    .to_string())
}

/// Compares the live SecretString with the settings. Values of the non-secret keys appear in the drift; the
/// password never does.
fn value_drift(s: &Settings, live: &str) -> Vec<Drift> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(live) else {
        return vec![Drift::new(
            "value",
            "a JSON object with the NEO4J_* keys",
            "not a JSON object",
        )];
    };
    let get = |k: &str| map.get(k).and_then(Value::as_str);
    let mut drift = Vec::new();
    for (key, want) in [
        (KEY_URI, s.neo4j_uri.as_str()),
        (KEY_USERNAME, s.neo4j_username.as_str()),
        (KEY_DATABASE, s.neo4j_database.as_str()),
    ] {
        match get(key) {
            Some(have) if have == want => {}
            Some(have) => drift.push(Drift::new(key, want, have)),
            None => drift.push(Drift::new(key, want, "(missing)")),
        }
    }
    if let Some(password) = &s.neo4j_password
        && get(KEY_PASSWORD) != Some(password.expose())
    {
        drift.push(Drift::new("password", HIDDEN, HIDDEN));
    }
    // The derived key must match the keys it is derived from (an older secret has none).
    if let (Some(user), Some(password)) = (get(KEY_USERNAME), get(KEY_PASSWORD))
        && get(KEY_AUTHORIZATION) != Some(basic_authorization(user, password).as_str())
    {
        drift.push(Drift::new(KEY_AUTHORIZATION, HIDDEN, HIDDEN));
    }
    drift
}

/// A client request token (32–64 characters for Secrets Manager) from this resource lifetime's create token
/// ([`Cx::create_token`]): repeats of one create send the same, a secret created again after a delete another.
pub(in crate::resources) fn create_token(cx: &Cx) -> String {
    let digest = Sha256::digest(format!(
        "neo4j-gw:{}:{}:create:{}",
        cx.stack(),
        cx.node,
        cx.create_token()
    ));
    hex::encode(digest)
}

/// The stack's tags ([`Cx::tags`]) in Secrets Manager's shape.
pub(in crate::resources) fn tags(cx: &Cx, name: &str) -> Vec<Tag> {
    cx.tags(name)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The secret `id` (ARN or name), if Secrets Manager knows it (also when scheduled for deletion).
pub(in crate::resources) async fn describe(
    cx: &Cx,
    id: &str,
) -> Result<Option<DescribeSecretOutput>> {
    cx.aws()
        .secrets
        .describe_secret()
        .secret_id(id)
        .send()
        .await
        .or_gone(cx, "DescribeSecret", |e| {
            e.is_resource_not_found_exception()
        })
}

/// Deletes a secret without a recovery window and waits until Secrets Manager no longer lists it, so that a later
/// `up` can create the same name again (the purge is asynchronous on AWS).
pub(in crate::resources) async fn force_delete(cx: &Cx, arn: &str) -> Result<()> {
    match cx
        .aws()
        .secrets
        .delete_secret()
        .secret_id(arn)
        .force_delete_without_recovery(true)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if not_found(error::code_of(&e)) => return Ok(()),
        Err(e) => return Err(error::aws(cx.node, "DeleteSecret", e)),
    }
    wait::until(
        cx,
        "the secret to be purged",
        cx.settings().wait_timeout,
        || async move {
            Ok(match describe(cx, arn).await? {
                None => Poll::Ready(()),
                Some(_) => Poll::Pending("still listed by Secrets Manager".into()),
            })
        },
    )
    .await
}

/// The values of the stack's secrets as one BatchGetSecretValue returned them, by ARN. No `Debug`: they are secret.
struct Values(std::collections::BTreeMap<String, Secret>);

/// The current value of the secret at `arn`. While every node is observed, one BatchGetSecretValue reads every
/// secret of the stack the run knows (the Neo4j credentials and the origin value, each read by two nodes); a secret
/// it could not read is read on its own, so its error is reported as GetSecretValue's.
pub(in crate::resources) async fn value_of(cx: &Cx, arn: &str) -> Result<Secret> {
    if let Some(all) = cx
        .batched("secretsmanager:BatchGetSecretValue", || async {
            // BatchGetSecretValue takes up to 20 secret IDs (Secrets Manager API reference).
            let arns = cx.known_values(
                |v| v.starts_with("arn:") && v.contains(":secretsmanager:"),
                20,
            );
            let out = cx
                .aws()
                .secrets
                .batch_get_secret_value()
                .set_secret_id_list(Some(arns))
                .send()
                .await
                .aws(cx, "BatchGetSecretValue")?;
            Ok(Values(
                out.secret_values()
                    .iter()
                    .filter_map(|v| {
                        Some((
                            v.arn()?.to_owned(),
                            Secret::new(v.secret_string()?.to_owned()),
                        ))
                    })
                    .collect(),
            ))
        })
        .await
        && let Some(v) = all.0.get(arn)
    {
        return Ok(v.clone());
    }
    let out = cx
        .aws()
        .secrets
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .aws(cx, "GetSecretValue")?;
    Ok(Secret::new(
        out.secret_string().unwrap_or_default().to_owned(),
    ))
}

/// What a secret node found under its name.
pub(in crate::resources) enum Found {
    Ours(Box<DescribeSecretOutput>),
    Missing,
    Foreign(String),
}

/// The node's secret: by its recorded ARN, else by its name (exactly: a describe by name may match a secret whose
/// name merely starts like ours), and whether the stack's tags are on it.
pub(in crate::resources) async fn find_ours(
    cx: &Cx,
    recorded: Option<&Ids>,
    name: &str,
) -> Result<Found> {
    find(cx, recorded, name, false).await
}

/// [`find_ours`]; `shared`: the describe by the recorded ARN is [`describe_shared`] (the Neo4j secret's).
async fn find(cx: &Cx, recorded: Option<&Ids>, name: &str, shared: bool) -> Result<Found> {
    let mut found = None;
    if let Some(arn) = recorded.and_then(|r| r.get("arn")) {
        found = if shared {
            describe_shared(cx, arn).await?
        } else {
            describe(cx, arn).await?
        };
    }
    if found.is_none() {
        found = describe(cx, name).await?;
    }
    let Some(secret) = found.filter(|s| s.name() == Some(name)) else {
        return Ok(Found::Missing);
    };
    if !cx.is_ours(
        secret
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
    ) {
        return Ok(Found::Foreign(format!(
            "secret {name} is not tagged as this stack's"
        )));
    }
    Ok(Found::Ours(Box::new(secret)))
}

impl SecretResource {
    /// Writes the desired value; the password the secret holds is kept when none was given. Returns the new version.
    async fn put_value(&self, cx: &Cx, arn: &str) -> Result<Option<String>> {
        let live = if cx.settings().neo4j_password.is_some() {
            None
        } else {
            Some(value_of(cx, arn).await?)
        };
        let out = cx
            .aws()
            .secrets
            .put_secret_value()
            .secret_id(arn)
            .secret_string(desired_value(
                cx.settings(),
                cx.node,
                Some(live.as_ref().map(Secret::expose).unwrap_or_default()),
            )?)
            .send()
            .await
            .aws(cx, "PutSecretValue")?;
        Ok(out.version_id().map(str::to_owned))
    }
}

#[async_trait]
impl Resource for SecretResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "secretsmanager:secret"
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        let name = secret_name(cx.stack());
        // With a recorded ARN, its value is read at the same time as it is described: one round trip, not two.
        let recorded_arn = recorded.and_then(|r| r.get("arn")).map(String::as_str);
        let read = |arn: String| async move { value_of(cx, &arn).await };
        let (found, early) =
            crate::resources::alongside(cx, recorded_arn, find(cx, recorded, &name, true), read)
                .await;
        let secret = match found? {
            Found::Ours(s) => s,
            Found::Missing => return Ok(Observation::Missing),
            Found::Foreign(why) => return Ok(Observation::Foreign(why)),
        };
        let arn = secret.arn().unwrap_or_default().to_owned();
        let mut ids = ids([("arn", arn.clone()), ("name", name)]);
        if let Some(v) = current_version(&secret) {
            ids.insert("version".into(), v);
        }
        if let Some(when) = secret.deleted_date() {
            let mut live = Live::new(ids).with_drift(vec![Drift::new(
                SCHEDULED,
                "no",
                format!("scheduled for deletion (DeletedDate {when})"),
            )]);
            live.details
                .push(("deletion".into(), "scheduled; `up` restores it".into()));
            return Ok(Observation::Present(live));
        }
        let value = crate::resources::reads_for(early, &arn, read).await?;
        let drift = value_drift(cx.settings(), value.expose());
        Ok(Observation::Present(Live::new(ids).with_drift(drift)))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let name = secret_name(cx.stack());
        let out = cx
            .aws()
            .secrets
            .create_secret()
            .name(&name)
            .description(format!(
                "neo4j-gw stack {}: Neo4j connection for the MCP server and the gateway interceptor",
                cx.stack()
            ))
            .secret_string(desired_value(cx.settings(), cx.node, None)?)
            .client_request_token(create_token(cx))
            .set_tags(Some(tags(cx, &name)))
            .send()
            .await
            .map_err(|e| {
                let err = error::aws(cx.node, "CreateSecret", e);
                if err.aws_code() == Some("ResourceExistsException") {
                    Error::other(format!(
                        "{err}\n{}: a secret named {name} exists but could not be described (it may still be being purged after a delete): wait a minute and re-run",
                        cx.node
                    ))
                } else {
                    err
                }
            })?;
        let mut ids = ids([
            ("arn", out.arn().unwrap_or_default().to_owned()),
            ("name", name),
        ]);
        if let Some(v) = out.version_id() {
            ids.insert("version".into(), v.to_owned());
        }
        Ok(ids)
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        let arn = live.id("arn")?;
        if live.drift.iter().any(|d| d.attribute == SCHEDULED) {
            cx.say("restoring the secret scheduled for deletion");
            cx.aws()
                .secrets
                .restore_secret()
                .secret_id(arn)
                .send()
                .await
                .aws(cx, "RestoreSecret")?;
        }
        // Restored: its value could not be read while it was scheduled for deletion; write the current one.
        let mut ids = live.ids.clone();
        match self.put_value(cx, arn).await? {
            Some(v) => ids.insert("version".into(), v),
            None => ids.remove("version"),
        };
        Ok(ids)
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        force_delete(cx, live.id("arn")?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Layers, PasswordSource, Purpose, resolve};

    fn settings(password: Option<&str>, uri: &str) -> Settings {
        let layers = Layers {
            flags: [("region", "us-east-1"), ("neo4j_uri", uri)]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        };
        resolve(
            &layers,
            Purpose::Inspect,
            PasswordSource::Env(password.map(str::to_owned)),
        )
        .unwrap()
    }

    #[test]
    fn value_round_trips_without_drift() {
        let s = settings(Some("pw-1"), "neo4j+s://db.example.com");
        let v = desired_value(&s, NODE, None).unwrap();
        assert_eq!(value_drift(&s, &v), Vec::new());
        let parsed: Value = serde_json::from_str(&v).unwrap();
        for k in [KEY_URI, KEY_USERNAME, KEY_PASSWORD, KEY_DATABASE] {
            assert!(parsed.get(k).is_some(), "{k}");
        }
    }

    #[test]
    fn password_drift_is_hidden_and_only_when_known() {
        let old = settings(Some("old-pw-xyz"), "neo4j+s://db.example.com");
        let live = desired_value(&old, NODE, None).unwrap();
        let new = settings(Some("new-pw-abc"), "neo4j+s://db.example.com");
        let drift = value_drift(&new, &live);
        assert_eq!(drift, vec![Drift::new("password", HIDDEN, HIDDEN)]);
        let text = format!("{drift:?}");
        assert!(!text.contains("old-pw-xyz") && !text.contains("new-pw-abc"));
        // Unknown password (status without NEO4J_PASSWORD): not compared; a create is refused, an update keeps the
        // password the secret holds.
        let unknown = settings(None, "neo4j+s://db.example.com");
        assert_eq!(value_drift(&unknown, &live), Vec::new());
        assert!(desired_value(&unknown, NODE, None).is_err());
        let kept = desired_value(&unknown, NODE, Some(&live)).unwrap();
        assert_eq!(kept, live);
        assert!(desired_value(&unknown, NODE, Some("not json")).is_err());
    }

    #[test]
    fn the_demo_password_is_written_only_for_a_new_secret_or_a_move_to_the_demo_database() {
        let demo = settings(None, DEMO_URI);
        let password = |v: &str| {
            serde_json::from_str::<Value>(v).unwrap()[KEY_PASSWORD]
                .as_str()
                .unwrap()
                .to_owned()
        };
        // Created for the demo URI without a password: the demo password.
        assert_eq!(
            password(&desired_value(&demo, NODE, None).unwrap()),
            DEMO_PASSWORD
        );
        // Deployed for the demo URI with the operator's password: an update without one keeps it, and it is not
        // reported as drift.
        let operators =
            desired_value(&settings(Some("operators-pw"), DEMO_URI), NODE, None).unwrap();
        assert_eq!(value_drift(&demo, &operators), Vec::new());
        assert_eq!(
            password(&desired_value(&demo, NODE, Some(&operators)).unwrap()),
            "operators-pw"
        );
        // Moved from another database to the demo one without a password: the demo password.
        let other =
            desired_value(&settings(Some("x"), "neo4j+s://db.example.com"), NODE, None).unwrap();
        assert_eq!(
            password(&desired_value(&demo, NODE, Some(&other)).unwrap()),
            DEMO_PASSWORD
        );
        // A given password always wins.
        assert_eq!(
            password(
                &desired_value(&settings(Some("given"), DEMO_URI), NODE, Some(&operators)).unwrap()
            ),
            "given"
        );
    }

    #[test]
    fn non_secret_keys_are_compared() {
        let a = settings(Some("pw"), "neo4j+s://a.example.com");
        let b = settings(Some("pw"), "neo4j+s://b.example.com");
        let drift = value_drift(&b, &desired_value(&a, NODE, None).unwrap());
        assert_eq!(drift.len(), 1);
        assert_eq!(drift[0].attribute, KEY_URI);
        assert_eq!(value_drift(&b, "not json")[0].attribute, "value");
    }

    #[test]
    fn names_and_tokens_are_derived() {
        assert_eq!(secret_name("s1"), "neo4j-gw/s1/neo4j");
        assert_eq!(hex::encode(Sha256::digest("x")).len(), 64);
    }
}
