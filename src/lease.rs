//! One run per stack per account and region, whatever the state directory: a lease held in AWS itself.
//!
//! The lease is the Secrets Manager secret `neo4j-gw/<stack>/lease`, tagged as the stack's (`neo4j-gw:stack`,
//! `neo4j-gw:resource = lease`). The value of its `AWSCURRENT` version names the holder (host, pid, command, since)
//! and when the lease expires. Every command that changes the stack (`up`, `down`, `rotate-origin`) takes it before
//! its first change — after the credentials' account was checked — and lets go of it at the end; `down` removes the
//! secret last, once everything else is gone. A run renews it every [`RENEW_EVERY`] while it lasts.
//!
//! Why it is safe (sources: the doc comments of aws-sdk-secretsmanager, i.e. the Secrets Manager API reference;
//! docs/aws-behaviour.md, "The stack's lease"):
//! - Taking a free name: `CreateSecret` of a name that exists fails with `ResourceExistsException` ("A resource
//!   with the ID you requested already exists"), so of two runs that create it at once exactly one wins.
//! - Taking a released or expired lease is a compare-and-swap: the new value is written as a version that is not
//!   current (`PutSecretValue` with `VersionStages = [NEO4J_GW_NEXT]`: "If you don't include VersionStages, then
//!   Secrets Manager automatically moves the staging label AWSCURRENT to this version" — with them, it does not),
//!   then `UpdateSecretVersionStage` moves `AWSCURRENT` to it with `RemoveFromVersionId` = the version that was read:
//!   "If the label is attached and you either do not specify this parameter, or the version ID does not match, then
//!   the operation fails." Of two runs that swap from the same version, one fails. Releasing and renewing swap the
//!   same way, from the version this run holds, so a run never overwrites a lease another run took over.
//! - The secret is never deleted and created again while the stack lives (a deleted name may not be reusable at
//!   once: "there might be a short delay before the secret is permanently deleted"); released means a value that
//!   says so.
//!
//! Expiry: a lease not renewed for [`TTL`] (its holder was killed, or lost its connection to AWS) is taken over by
//! the next run, with a warning naming the holder. A lease whose holder ran on this host as a process that is gone
//! is taken over at once (a killed run here). Expiry is judged on the clock of the run that finds it, against the
//! time the holder wrote: hosts whose clocks differ by more than a few minutes see it expire early or late.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::aws::Aws;
use crate::error::{self, Error, Result};
use crate::progress::Progress;
use crate::resources::{TAG_RESOURCE, TAG_STACK, new_create_token};

/// The name the lease's AWS calls are recorded under (call ledger, `--timings`).
pub const NODE: &str = "(lease)";
/// How long a lease holds without being renewed.
pub const TTL: Duration = Duration::from_secs(600);
/// How often a run renews its lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(180);
/// The `neo4j-gw:resource` tag of the lease secret.
pub const RESOURCE: &str = "lease";
const CURRENT: &str = "AWSCURRENT";
/// The label of a version written to be swapped in (never current by itself).
const NEXT: &str = "NEO4J_GW_NEXT";
/// How often taking the lease looks again after losing a race, or while the secret of an earlier `down` is purged.
const ATTEMPTS: u32 = 10;
const PAUSE: Duration = Duration::from_secs(2);

/// The lease secret's name for a stack.
pub fn name(stack: &str) -> String {
    format!("neo4j-gw/{stack}/lease")
}

/// The lease's value: who holds it, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    pub command: String,
    /// RFC 3339, when the holder took the lease.
    pub since: String,
    /// RFC 3339, when the lease expires unless renewed.
    pub expires: String,
    /// True once the holder let go of it.
    #[serde(default)]
    pub released: bool,
}

impl Holder {
    fn new(command: &str) -> Holder {
        let now = SystemTime::now();
        Holder {
            host: hostname(),
            pid: std::process::id(),
            command: command.to_owned(),
            since: rfc3339(now),
            expires: rfc3339(now + TTL),
            released: false,
        }
    }

    /// `host H, pid P, running `neo4j-gw up` since T`.
    pub fn describe(&self) -> String {
        format!(
            "host {}, pid {}, running `neo4j-gw {}` since {}",
            self.host, self.pid, self.command, self.since
        )
    }

    /// True once the expiry has passed (an unreadable expiry counts as passed).
    pub fn expired(&self, now: SystemTime) -> bool {
        humantime::parse_rfc3339(&self.expires).map_or(true, |e| e <= now)
    }

    /// True when the holder ran on this host as a process that no longer exists (a killed run).
    fn gone_here(&self) -> bool {
        self.host == hostname() && self.pid != std::process::id() && !process_exists(self.pid)
    }

    fn value(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".to_owned();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn process_exists(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // kill(pid, 0) checks without signalling; EPERM means it exists but belongs to another user.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// What a look at the lease secret found.
struct Seen {
    ours: bool,
    /// Scheduled for deletion (an earlier `down` removed it; AWS purges it in the background).
    deleting: bool,
    /// The version `AWSCURRENT` is on, and its holder (None: a value this version of neo4j-gw cannot read).
    current: Option<(String, Option<Holder>)>,
}

async fn look(aws: &Aws, name: &str, stack: &str) -> Result<Option<Seen>> {
    let sm = &aws.secrets;
    let (described, value) = tokio::join!(
        sm.describe_secret().secret_id(name).send(),
        sm.get_secret_value()
            .secret_id(name)
            .version_stage(CURRENT)
            .send()
    );
    let d = match described {
        Ok(d) => d,
        Err(e) if error::code_of(&e) == Some("ResourceNotFoundException") => return Ok(None),
        Err(e) => return Err(error::aws(NODE, "DescribeSecret", e)),
    };
    let ours = d
        .tags()
        .iter()
        .any(|t| t.key() == Some(TAG_STACK) && t.value() == Some(stack))
        && d.tags()
            .iter()
            .any(|t| t.key() == Some(TAG_RESOURCE) && t.value() == Some(RESOURCE));
    let deleting = d.deleted_date().is_some();
    let current = match value {
        Ok(v) => v.version_id().map(|id| {
            (
                id.to_owned(),
                v.secret_string()
                    .and_then(|s| serde_json::from_str::<Holder>(s).ok()),
            )
        }),
        Err(_) if deleting => None,
        Err(e) if error::code_of(&e) == Some("ResourceNotFoundException") => None,
        Err(e) => return Err(error::aws(NODE, "GetSecretValue", e)),
    };
    Ok(Some(Seen {
        ours,
        deleting,
        current,
    }))
}

/// A new version ID (a client request token: 32 to 64 characters).
fn new_version(stack: &str) -> String {
    new_create_token(stack, NODE)
}

/// Writes `holder` as a new version and makes it current if `from` is still current: the version ID, or None when
/// another run swapped first.
async fn swap(
    aws: &Aws,
    name: &str,
    stack: &str,
    from: &str,
    holder: &Holder,
) -> Result<Option<String>> {
    let version = new_version(stack);
    aws.secrets
        .put_secret_value()
        .secret_id(name)
        .secret_string(holder.value())
        .client_request_token(&version)
        .version_stages(NEXT)
        .send()
        .await
        .map_err(|e| error::aws(NODE, "PutSecretValue", e))?;
    match aws
        .secrets
        .update_secret_version_stage()
        .secret_id(name)
        .version_stage(CURRENT)
        .remove_from_version_id(from)
        .move_to_version_id(&version)
        .send()
        .await
    {
        Ok(_) => Ok(Some(version)),
        Err(e) if error::code_of(&e) == Some("InvalidParameterException") => {
            // Either another run swapped first, or this very call took effect and its answer was lost (the SDK's
            // retry then finds the label gone from `from`): the current version tells which.
            match look(aws, name, stack).await? {
                Some(Seen {
                    current: Some((v, _)),
                    ..
                }) if v == version => Ok(Some(version)),
                _ => Ok(None),
            }
        }
        Err(e) => Err(error::aws(NODE, "UpdateSecretVersionStage", e)),
    }
}

async fn create(aws: &Aws, name: &str, stack: &str, holder: &Holder) -> Result<String> {
    let version = new_version(stack);
    let tag = |k: &str, v: &str| {
        aws_sdk_secretsmanager::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
    };
    aws.secrets
        .create_secret()
        .name(name)
        .description(format!(
            "neo4j-gw stack {stack}: the lease of the run that changes the stack (one at a time); removed by `down`"
        ))
        .secret_string(holder.value())
        .client_request_token(&version)
        .tags(tag(TAG_STACK, stack))
        .tags(tag(TAG_RESOURCE, RESOURCE))
        .tags(tag("Name", name))
        .send()
        .await
        .map_err(|e| error::aws(NODE, "CreateSecret", e))?;
    Ok(version)
}

/// The lease a run holds; renewed in the background until [`Lease::release`] or [`Lease::remove`].
pub struct Lease {
    aws: Aws,
    name: String,
    stack: String,
    holder: Holder,
    /// The version this run holds; None once another run took the lease over.
    version: Arc<tokio::sync::Mutex<Option<String>>>,
    renewal: tokio::task::JoinHandle<()>,
}

/// Takes the stack's lease for `command`, or fails naming the holder ([`Error::Locked`], exit 4). The lease is read
/// beside `account_check` (the credentials' account is checked against the state's); it is written only once that
/// check passed.
pub async fn take(
    aws: &Aws,
    stack: &str,
    command: &str,
    account_check: impl Future<Output = Result<()>>,
    progress: &Progress,
) -> Result<Lease> {
    let name = name(stack);
    let (seen, account) = crate::ledger::SCOPE
        .scope((NODE, "take"), async {
            tokio::join!(look(aws, &name, stack), account_check)
        })
        .await;
    account?;
    crate::ledger::SCOPE
        .scope(
            (NODE, "take"),
            take_seen(aws, stack, &name, command, seen?, progress),
        )
        .await
}

/// Takes the lease from what the first look found.
async fn take_seen(
    aws: &Aws,
    stack: &str,
    name: &str,
    command: &str,
    mut seen: Option<Seen>,
    progress: &Progress,
) -> Result<Lease> {
    let name = name.to_owned();
    for _ in 0..ATTEMPTS {
        let me = Holder::new(command);
        let pause = match &seen {
            None => match create(aws, &name, stack, &me).await {
                Ok(version) => return Ok(Lease::start(aws, &name, stack, me, version)),
                // Another run created it first: look again (it holds it).
                Err(e) if e.aws_code() == Some("ResourceExistsException") => false,
                // The name of a lease an earlier `down` removed, still being purged.
                Err(e) if e.aws_code() == Some("InvalidRequestException") => true,
                Err(e) => return Err(e),
            },
            Some(s) if !s.ours => {
                return Err(Error::Preflight(format!(
                    "{NODE}: the secret {name} exists but is not tagged {TAG_STACK}={stack}, \
                     {TAG_RESOURCE}={RESOURCE}: it is not this stack's lease, and neo4j-gw never changes what it \
                     did not create. Remove or rename it, or use another --stack; nothing was changed"
                )));
            }
            Some(s) if s.deleting => true,
            // No current version: most often another run's `CreateSecret` landing between this look's two reads
            // (or not yet visible to `GetSecretValue`), so look again; only a secret that stays so is broken.
            Some(Seen { current: None, .. }) => true,
            Some(Seen {
                current: Some((from, holder)),
                ..
            }) => {
                if let Some(h) = holder
                    && !h.released
                    && h.host == me.host
                    && h.pid == me.pid
                {
                    // This process's own create, repeated after its answer was lost.
                    return Ok(Lease::start(aws, &name, stack, h.clone(), from.clone()));
                }
                let now = SystemTime::now();
                if let Some(h) = holder
                    && !h.released
                    && !h.expired(now)
                    && !h.gone_here()
                {
                    return Err(Error::Locked(format!(
                        "stack {stack} is locked by another run: {}. Wait for it to finish. The lock is the lease \
                         {name} in Secrets Manager ({}); it expires at {} unless that run renews it (it does every \
                         {}s while it lasts)",
                        h.describe(),
                        aws.region,
                        h.expires,
                        RENEW_EVERY.as_secs()
                    )));
                }
                if let Some(version) = swap(aws, &name, stack, from, &me).await? {
                    match holder {
                        Some(h) if !h.released && h.gone_here() => progress.note(&format!(
                            "warning: an earlier run did not finish ({}); taking over its lease and resuming where \
                             it stopped",
                            h.describe()
                        )),
                        Some(h) if !h.released => progress.note(&format!(
                            "warning: taking over the expired lease of an earlier run ({}; expired at {}): it stopped \
                             renewing it (killed, or cut off from AWS); resuming where it stopped",
                            h.describe(),
                            h.expires
                        )),
                        None => progress.note(&format!(
                            "warning: the lease {name} held a value neo4j-gw cannot read; taking it over"
                        )),
                        _ => {}
                    }
                    return Ok(Lease::start(aws, &name, stack, me, version));
                }
                // Another run swapped first: look again (it holds it).
                false
            }
        };
        if pause {
            tokio::time::sleep(PAUSE).await;
        }
        seen = look(aws, &name, stack).await?;
    }
    if let Some(Seen {
        ours: true,
        deleting: false,
        current: None,
    }) = seen
    {
        return Err(Error::other(format!(
            "{NODE}: the secret {name} has no current version; delete it (`aws secretsmanager \
             delete-secret --secret-id {name} --force-delete-without-recovery`) and re-run"
        )));
    }
    Err(Error::other(format!(
        "{NODE}: could not take the lease {name} after {ATTEMPTS} attempts (other runs kept taking it, or an earlier \
         `down`'s deletion of it is still being purged); re-run in a minute"
    )))
}

impl Lease {
    fn start(aws: &Aws, name: &str, stack: &str, holder: Holder, version: String) -> Lease {
        let version = Arc::new(tokio::sync::Mutex::new(Some(version)));
        let renewal = {
            let (aws, name, stack, holder, version) = (
                aws.clone(),
                name.to_owned(),
                stack.to_owned(),
                holder.clone(),
                version.clone(),
            );
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(RENEW_EVERY).await;
                    let mut held = version.lock().await;
                    let Some(from) = held.clone() else { return };
                    let renewed = Holder {
                        expires: rfc3339(SystemTime::now() + TTL),
                        ..holder.clone()
                    };
                    let swapped = crate::ledger::SCOPE
                        .scope((NODE, "renew"), swap(&aws, &name, &stack, &from, &renewed))
                        .await;
                    match swapped {
                        Ok(Some(v)) => *held = Some(v),
                        Ok(None) => {
                            *held = None;
                            eprintln!(
                                "warning: the lease {name} was taken over by another run while this one was still \
                                 working; this run no longer excludes others — let it finish, then run `neo4j-gw \
                                 status`"
                            );
                            return;
                        }
                        // A passing failure: the lease still holds until it expires; try again at the next round.
                        Err(e) => tracing::warn!("{NODE}: renewing the lease failed: {e}"),
                    }
                }
            })
        };
        Lease {
            aws: aws.clone(),
            name: name.to_owned(),
            stack: stack.to_owned(),
            holder,
            version,
            renewal,
        }
    }

    /// Stops the renewal — after a renewal in flight has finished, so that the version this run holds is known —
    /// and returns that version (None when another run took the lease over).
    async fn stop_renewal(&self) -> Option<String> {
        let mut held = self.version.lock().await;
        self.renewal.abort();
        held.take()
    }

    /// Lets go of the lease (a released value, swapped in from the version this run holds). A failure is reported,
    /// not fatal: the lease then expires by itself.
    pub async fn release(self, progress: &Progress) {
        let Some(from) = self.stop_renewal().await else {
            return;
        };
        let released = Holder {
            released: true,
            expires: rfc3339(SystemTime::now()),
            ..self.holder.clone()
        };
        let result = crate::ledger::SCOPE
            .scope(
                (NODE, "release"),
                swap(&self.aws, &self.name, &self.stack, &from, &released),
            )
            .await;
        match result {
            Ok(Some(_)) => {}
            Ok(None) => progress.note(&format!(
                "warning: the lease {} had been taken over by another run before this one let go of it",
                self.name
            )),
            Err(e) => progress.note(&format!(
                "warning: the lease {} could not be released ({e}); it expires by itself at the latest {}s after \
                 this run's last renewal",
                self.name,
                TTL.as_secs()
            )),
        }
    }

    /// Removes the lease secret (`down`, once everything else is gone). A failure is reported, not fatal.
    pub async fn remove(self, progress: &Progress) {
        if self.stop_renewal().await.is_none() {
            return;
        }
        let result = crate::ledger::SCOPE
            .scope(
                (NODE, "remove"),
                self.aws
                    .secrets
                    .delete_secret()
                    .secret_id(&self.name)
                    .force_delete_without_recovery(true)
                    .send(),
            )
            .await;
        if let Err(e) = result
            && error::code_of(&e) != Some("ResourceNotFoundException")
        {
            progress.note(&format!(
                "warning: {}; remove the secret {} by hand (it is the stack's lease, nothing else)",
                error::aws(NODE, "DeleteSecret", e),
                self.name
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_expires_at_its_time_and_an_unreadable_one_counts_as_expired() {
        let h = Holder::new("up");
        let now = SystemTime::now();
        assert!(!h.expired(now));
        assert!(h.expired(now + TTL + Duration::from_secs(1)));
        let broken = Holder {
            expires: "soon".into(),
            ..h.clone()
        };
        assert!(broken.expired(now));
        let back: Holder = serde_json::from_str(&h.value()).unwrap();
        assert_eq!(back, h);
        assert!(h.describe().contains("neo4j-gw up") && h.describe().contains(&h.host));
    }

    #[test]
    fn only_a_gone_process_on_this_host_is_gone() {
        let mut h = Holder::new("up");
        assert!(!h.gone_here(), "this process is alive");
        h.pid = i32::MAX as u32;
        assert!(h.gone_here());
        h.host = "elsewhere.invalid".into();
        assert!(
            !h.gone_here(),
            "a process on another host cannot be checked"
        );
    }
}
