//! The local state file `state/<stack>.json` and the stack's advisory lock.
//!
//! The file records, per resource, its IDs, whether the stack created it and its status. It is written
//! atomically (temp file, fsync, rename, fsync of the directory) with mode 0600 after every step; an intent
//! record is written before every create call. A corrupt file, or one written by a newer version, is refused
//! and left untouched. A copy of the last good file is kept as `<stack>.json.bak` — written only by the commands
//! that change the state (`up`, `down`, `rotate-origin`), and only of a file that was checked to be this stack's
//! ([`StateFile::keep_last_good`]); reading the state writes nothing, so the read-only commands work on a read-only
//! state directory.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const SCHEMA_VERSION: u32 = 1;

/// The IDs and non-secret attributes of one resource.
pub type Ids = BTreeMap<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A create call is about to be made or was made; the resource may or may not exist.
    Creating,
    /// The resource exists and was reconciled.
    Ready,
    /// A delete was started.
    Deleting,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub kind: String,
    /// True when the stack created (or adopted as its own, by tag) this resource; false for resources it only
    /// uses, which are never deleted.
    pub owned: bool,
    pub status: Status,
    #[serde(default)]
    pub ids: Ids,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub schema_version: u32,
    pub stack: String,
    pub region: String,
    pub account: String,
    /// The non-secret settings of the last `up`.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    #[serde(default)]
    pub resources: BTreeMap<String, Record>,
    /// The tools each access level saw through the gateway at the last verified `up` (`read`, `write` → tool names
    /// as the gateway lists them): `status` reports what changed since. Not secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tool_surface: BTreeMap<String, Vec<String>>,
}

impl State {
    pub fn new(stack: &str, region: &str, account: &str) -> Self {
        State {
            schema_version: SCHEMA_VERSION,
            stack: stack.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            settings: BTreeMap::new(),
            resources: BTreeMap::new(),
            tool_surface: BTreeMap::new(),
        }
    }
}

pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Paths of one stack's files.
#[derive(Debug, Clone)]
pub struct StateFile {
    pub path: PathBuf,
}

impl StateFile {
    pub fn new(dir: &Path, stack: &str) -> Self {
        StateFile {
            path: dir.join(format!("{stack}.json")),
        }
    }

    pub fn backup_path(&self) -> PathBuf {
        self.path.with_extension("json.bak")
    }

    fn lock_path(&self) -> PathBuf {
        self.path.with_extension("lock")
    }

    /// Loads the state; `Ok(None)` when there is none. Writes nothing.
    pub fn load(&self) -> Result<Option<State>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::State(format!(
                    "cannot read the state file {}: {e}",
                    self.path.display()
                )));
            }
        };
        Ok(Some(self.parse(&text)?))
    }

    /// Keeps the state file as it is now as the last good copy (`<stack>.json.bak`), so that a file damaged later
    /// can be recovered by hand. Called by the commands that change the state, once the file was checked to be
    /// this stack's (stack, region, account) and while they hold the stack's lock; nothing to do without a file.
    pub fn keep_last_good(&self) -> Result<()> {
        match fs::read(&self.path) {
            Ok(bytes) => {
                self.parse(&String::from_utf8_lossy(&bytes))?;
                write_atomic(&self.backup_path(), &bytes)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::State(format!(
                "cannot read the state file {}: {e}",
                self.path.display()
            ))),
        }
    }

    fn parse(&self, text: &str) -> Result<State> {
        let backup = self.backup_path();
        let recover = if backup.exists() {
            format!(
                "the last good copy is {}; inspect it and copy it over the damaged file",
                backup.display()
            )
        } else {
            "move it aside and run `neo4j-gw up` (it adopts the stack's resources by tag) or `neo4j-gw down`, giving \
             again every setting the last `up` was given — the state recorded them, and without it they fall back to \
             their defaults: at least --domain-name and --certificate-arn, and each of --subdomain, --neo4j-uri, \
             --neo4j-database, --neo4j-username, --cognito-domain-prefix, --resource-server-id, --scope, \
             --origin-lock, --image, --read-only (and the other settings) that was not the default; a config file \
             (--config) keeps them"
                .to_owned()
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            Error::State(format!(
                "the state file {} is corrupt ({e}); it was left untouched: {recover}",
                self.path.display()
            ))
        })?;
        let version = value
            .get("schema_version")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        if version > SCHEMA_VERSION as u64 {
            return Err(Error::State(format!(
                "the state file {} has schema version {version}, newer than this neo4j-gw understands ({SCHEMA_VERSION}); upgrade neo4j-gw. The file was left untouched",
                self.path.display()
            )));
        }
        serde_json::from_value(value).map_err(|e| {
            Error::State(format!(
                "the state file {} is not a neo4j-gw state ({e}); it was left untouched: {recover}",
                self.path.display()
            ))
        })
    }

    pub fn save(&self, state: &State) -> Result<()> {
        let mut text =
            serde_json::to_string_pretty(state).map_err(|e| Error::other(e.to_string()))?;
        text.push('\n');
        write_atomic(&self.path, text.as_bytes())
    }

    /// Removes the state and its backup (after a complete `down`).
    pub fn remove(&self) -> Result<()> {
        for p in [&self.path, &self.backup_path()] {
            match fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::State(format!("cannot remove {}: {e}", p.display()))),
            }
        }
        Ok(())
    }

    /// Takes the stack's advisory lock, or fails at once naming the holder.
    pub fn lock(&self, command: &str) -> Result<Lock> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir).map_err(|e| {
                Error::State(format!(
                    "cannot create the state directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let path = self.lock_path();
        let mut file = loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
                .map_err(|e| {
                    Error::State(format!("cannot open the lock file {}: {e}", path.display()))
                })?;
            // flock is released by the kernel when the process dies, so a killed run never leaves a stale lock.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc != 0 {
                let holder = lock_holder(&file);
                if holder.is_empty() && !same_file(&file, &path) {
                    // The holder let go and removed the file just now: try the one at the path.
                    continue;
                }
                let holder = holder.trim();
                return Err(Error::Locked(format!(
                    "stack is locked by another run ({}); wait for it to finish. The lock is {} and is released when that process exits",
                    if holder.is_empty() {
                        "holder unknown"
                    } else {
                        holder
                    },
                    path.display()
                )));
            }
            // A run removes the lock file when it lets go (no file is left behind): one opened just before that is
            // no longer the lock, so open the one now at the path.
            if same_file(&file, &path) {
                break file;
            }
        };
        // A lock file that names a process which is gone means an earlier run was killed: say so.
        let mut previous = String::new();
        let _ = file.read_to_string(&mut previous);
        if let Some(pid) = previous
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<i32>().ok())
            && pid != std::process::id() as i32
            && unsafe { libc::kill(pid, 0) } != 0
        {
            tracing::warn!(
                "taking over the lock of an earlier run that did not finish ({}); resuming where it stopped",
                previous.trim()
            );
            eprintln!(
                "warning: an earlier run did not finish ({}); resuming where it stopped",
                previous.trim()
            );
        }
        let info = format!(
            "pid {} running `neo4j-gw {command}` since {}",
            std::process::id(),
            now()
        );
        // Overwritten in place, then cut to length: the file is never empty while held, so a run that finds it
        // locked can always name the holder.
        file.write_all_at(info.as_bytes(), 0).ok();
        file.set_len(info.len() as u64).ok();
        file.sync_all().ok();
        Ok(Lock { file, path })
    }
}

/// The holder a locked lock file names. It is empty only in the moment between another run's `flock` and its
/// writing its name (or its letting go): that is waited out, for at most a second.
fn lock_holder(file: &File) -> String {
    let read = || {
        let mut buf = vec![0u8; 4096];
        let n = file.read_at(&mut buf, 0).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    for _ in 0..50 {
        let holder = read();
        if !holder.trim().is_empty() {
            return holder;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    read()
}

/// True when the open `file` is the one at `path` now.
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Held for the duration of a run that changes the stack; dropping it releases the lock.
pub struct Lock {
    file: File,
    path: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // A clean exit removes the lock file (while still holding it, so no other run can be holding this one);
        // a killed run leaves its pid in it, which the next run reports.
        let _ = self.file.set_len(0);
        let _ = fs::remove_file(&self.path);
    }
}

/// Writes a file atomically with mode 0600: temp file in the same directory, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let err = |e: std::io::Error| Error::State(format!("cannot write {}: {e}", path.display()));
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(err)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
        std::process::id()
    ));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(err)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(err)?;
        f.write_all(bytes).map_err(err)?;
        f.sync_all().map_err(err)?;
    }
    fs::rename(&tmp, path).map_err(err)?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_roundtrip_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let sf = StateFile::new(dir.path(), "s1");
        assert!(sf.load().unwrap().is_none());
        let mut st = State::new("s1", "us-east-1", "123456789012");
        st.resources.insert(
            "vpc".into(),
            Record {
                kind: "ec2:vpc".into(),
                owned: true,
                status: Status::Ready,
                ids: Ids::from([("vpc_id".into(), "vpc-1".into())]),
                updated_at: now(),
            },
        );
        sf.save(&st).unwrap();
        let mode = fs::metadata(&sf.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = sf.load().unwrap().unwrap();
        assert_eq!(back.resources["vpc"].ids["vpc_id"], "vpc-1");
    }

    #[test]
    fn corrupt_and_newer_files_are_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let sf = StateFile::new(dir.path(), "s2");
        fs::write(&sf.path, "{\"schema_version\": 1, \"stack\": ").unwrap();
        let e = sf.load().unwrap_err().to_string();
        assert!(e.contains("corrupt") && e.contains("s2.json"), "{e}");
        // Without a last good copy, the advice names the settings that must be given again.
        assert!(
            e.contains("--domain-name")
                && e.contains("--certificate-arn")
                && e.contains("--neo4j-uri"),
            "{e}"
        );
        assert_eq!(
            fs::read_to_string(&sf.path).unwrap(),
            "{\"schema_version\": 1, \"stack\": "
        );
        fs::write(&sf.path, "{\"schema_version\": 99}").unwrap();
        let e = sf.load().unwrap_err().to_string();
        assert!(e.contains("schema version 99"), "{e}");
    }

    #[test]
    fn second_lock_fails_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let sf = StateFile::new(dir.path(), "s3");
        let held = sf.lock("up").unwrap();
        let e = sf.lock("down").err().unwrap().to_string();
        assert!(
            e.contains(&format!("pid {}", std::process::id())) && e.contains("neo4j-gw up"),
            "{e}"
        );
        drop(held);
        let again = sf.lock("down").unwrap();
        drop(again);
        assert!(
            !sf.lock_path().exists(),
            "a released lock leaves no file behind"
        );
    }

    #[test]
    fn reading_writes_nothing_and_the_last_good_copy_is_kept_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let sf = StateFile::new(dir.path(), "s4");
        sf.save(&State::new("s4", "us-east-1", "123456789012"))
            .unwrap();
        sf.load().unwrap().unwrap();
        assert!(!sf.backup_path().exists(), "load wrote a backup");
        sf.keep_last_good().unwrap();
        assert_eq!(
            fs::read(sf.backup_path()).unwrap(),
            fs::read(&sf.path).unwrap()
        );
    }
}
