//! A stack touches only its own resources, a plan with a conflict changes nothing, one run per stack
//! whatever the state directory (the lease in AWS), and the read-only commands write nothing.
//!
//! Every run is the real binary against moto; the other stack is counted with `support::inventory`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::checks::{self, as_strs, fqdn, up_args};
use crate::support::inventory::{self, LEASE_KIND, Scope};
use crate::support::proxy::{Faults, Phase, Proxy, Sig, Trigger};
use crate::support::{self, Emulator, REGION, Run, Stack, fixtures, verified};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(600);

/// The nodes whose resources carry no tags of their own (`Resource::owned_through`: a DNS record, a Cognito domain,
/// resource server and app client, a gateway target): what a copied state file could have had deleted.
fn tagless() -> Vec<&'static str> {
    let nodes: Vec<&'static str> = neo4j_gw::plan::resources()
        .iter()
        .filter(|r| r.owned_through().is_some())
        .map(|r| r.id())
        .collect();
    assert!(!nodes.is_empty(), "the plan has no node without tags");
    nodes
}

/// Every resource of the stack but its lease (whose value each run changes).
async fn resources_of(emu: &Emulator, scope: &Scope) -> Vec<inventory::Item> {
    inventory::inventory(&emu.sdk().await, scope)
        .await
        .into_iter()
        .filter(|i| i.kind != LEASE_KIND)
        .collect()
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", run.stdout, run.stderr))
}

fn deletes(run: &Run) -> Vec<String> {
    run.mutating()
        .into_iter()
        .filter(|m| m.contains(":Delete") || m.contains(":Deregister"))
        .collect()
}

/// Stack A deployed; its state file copied to stack B's name — as is, and with its `stack` field edited to B (so
/// that only the ownership of each resource can tell). Neither way does any command of B change or delete A's
/// resources, and A stays whole and healthy.
#[tokio::test(flavor = "multi_thread")]
async fn a_state_file_of_another_stack_touches_nothing_of_it() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let a = Stack::new(&emu, "own-a");
    verified(&a.up(&cert, &[]));
    let scope_a = Scope::new("own-a", &fqdn());
    let before = resources_of(&emu, &scope_a).await;
    assert!(!before.is_empty());
    let copied = std::fs::read_to_string(a.state_path()).unwrap();

    // 1. As copied: the file says stack own-a; every command of own-b refuses it before any AWS request.
    let b = Stack::new(&emu, "own-b");
    std::fs::create_dir_all(b.state_path().parent().unwrap()).unwrap();
    std::fs::write(b.state_path(), &copied).unwrap();
    for args in [
        vec!["status"],
        vec!["plan"],
        vec!["plan", "--down"],
        vec!["up"],
        vec!["down", "--yes"],
        vec!["token"],
    ] {
        let r = b.run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("`own-a`") && r.stderr.contains("`own-b`"),
            "{args:?} names both stacks: {}",
            r.stderr
        );
        assert!(r.calls.is_empty(), "{args:?} called AWS: {:?}", r.calls);
    }
    assert_eq!(
        std::fs::read_to_string(b.state_path()).unwrap(),
        copied,
        "the refused file is left as it was"
    );

    // The stack's own file, recording another region than the run's: refused the same way, naming both regions.
    let moved = Stack::new(&emu, "own-a");
    std::fs::create_dir_all(moved.state_path().parent().unwrap()).unwrap();
    let elsewhere = copied.replace(
        &format!("\"region\": \"{REGION}\""),
        "\"region\": \"eu-west-1\"",
    );
    assert_ne!(elsewhere, copied);
    std::fs::write(moved.state_path(), &elsewhere).unwrap();
    for args in [
        vec!["status"],
        vec!["plan"],
        vec!["up"],
        vec!["down", "--yes"],
    ] {
        let r = moved.run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("eu-west-1") && r.stderr.contains(REGION),
            "{args:?} names both regions: {}",
            r.stderr
        );
        assert!(r.calls.is_empty(), "{args:?} called AWS: {:?}", r.calls);
    }

    // 2. With `stack` edited to own-b: the recorded IDs are own-a's, and only their tags (or, for the kinds
    // without tags, the resource they live in) say so.
    let edited = copied.replace("\"stack\": \"own-a\"", "\"stack\": \"own-b\"");
    assert_ne!(edited, copied);
    std::fs::write(b.state_path(), &edited).unwrap();

    let (code, status) = b.status_json();
    assert_eq!(code, 3);
    let state_of = |doc: &Value, node: &str| -> String {
        support::report(doc, node)["state"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    for r in status["resources"].as_array().unwrap() {
        if r["owned"] == true {
            assert_ne!(r["state"], "present", "own-b claims {r}");
        }
    }
    for node in tagless() {
        assert_eq!(state_of(&status, node), "foreign", "{node}: {status}");
    }

    let plan = b.run(&["plan", "--json"]);
    assert_eq!(plan.code, 3, "{}", plan.stderr);
    assert!(plan.mutating().is_empty());
    let doc = json(&plan);
    for r in doc["resources"].as_array().unwrap() {
        assert!(
            !["update", "replace", "delete"].contains(&r["action"].as_str().unwrap()),
            "plan would change own-a's {r}"
        );
    }
    for node in tagless() {
        let action = doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == node)
            .map(|r| r["action"].as_str().unwrap().to_owned());
        assert_eq!(action.as_deref(), Some("conflict"), "{node}: {doc}");
    }

    let plan_down = b.run(&["plan", "--down", "--json"]);
    assert!(
        plan_down.code == 0 || plan_down.code == 3,
        "{}",
        plan_down.stderr
    );
    for r in json(&plan_down)["resources"].as_array().unwrap() {
        assert_ne!(
            r["action"], "delete",
            "plan --down would delete own-a's {r}"
        );
    }

    let up = b.run(&["up"]);
    assert_eq!(up.code, 2, "{}", up.stderr);
    assert!(up.stderr.contains("conflict"), "{}", up.stderr);
    assert_eq!(up.mutating(), Vec::<String>::new());

    let down = b.run(&["down", "--yes", "--json"]);
    assert_eq!(deletes(&down), Vec::<String>::new(), "{}", down.stderr);
    let kept: Vec<String> = json(&down)["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "kept")
        .map(|r| r["resource"].as_str().unwrap().to_owned())
        .collect();
    for node in tagless() {
        assert!(kept.contains(&node.to_owned()), "{node} not kept: {kept:?}");
    }

    // own-a is whole and healthy.
    assert_eq!(resources_of(&emu, &scope_a).await, before);
    assert_eq!(a.status_json().0, 0);
    a.run(&["down", "--yes"]).ok();
    assert_eq!(checks::leftovers(&emu, &a, &scope_a).await, "");
}

/// A DNS name that another stack's record holds is a conflict in the plan, and `up` stops before its first change,
/// naming it — instead of creating half a stack that then fails.
#[tokio::test(flavor = "multi_thread")]
async fn up_with_a_conflict_in_its_plan_changes_nothing() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let owner = Stack::new(&emu, "dns-owner");
    verified(&owner.up(&cert, &[]));
    let other = Stack::new(&emu, "dns-other");
    let up = other.up(&cert, &[]);
    assert_eq!(up.code, 2, "{}", up.stderr);
    assert!(
        up.stderr.contains("conflict") && up.stderr.contains("dns-record"),
        "{}",
        up.stderr
    );
    assert!(
        up.stderr.contains(&fqdn()),
        "names the record: {}",
        up.stderr
    );
    assert_eq!(up.mutating(), Vec::<String>::new());
    let scope_other = Scope::new("dns-other", "elsewhere.invalid");
    assert_eq!(resources_of(&emu, &scope_other).await, Vec::new());
    assert_eq!(owner.status_json().0, 0);
    other.run(&["down", "--yes"]).ok();
    owner.run(&["down", "--yes"]).ok();
}

/// Two `up` of one stack from two state directories, started together: the one that does not get the lease exits 4
/// naming the holder; the stack ends with exactly one of each resource; a following `up` converges, and `down` from
/// the other directory leaves nothing, the lease included.
#[tokio::test(flavor = "multi_thread")]
async fn two_ups_of_one_stack_from_two_state_directories() {
    let emu = Emulator::start();
    let proxy = Proxy::start(&emu.endpoint);
    let cert = checks::fresh(&emu).await;
    let name = "twodirs";
    let scope = Scope::new(name, &fqdn());
    let one = Stack::new(&emu, name);
    let two = Stack::new(&emu, name);
    let up = up_args(&cert);
    // The lease holder is held at its first create of the stack until the other run has ended.
    proxy.arm(Faults {
        trigger: Some(Trigger {
            k: 1,
            phase: Phase::Before,
            signal: Sig::Hold,
            operation: Some("CreateVpc"),
        }),
        ..Faults::default()
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let winner_dir = std::thread::scope(|s| {
        for (label, st) in [("one", &one), ("two", &two)] {
            let running = proxy.spawn(st, &as_strs(&up));
            let pid = running.pid();
            let tx = tx.clone();
            let proxy = &proxy;
            s.spawn(move || {
                let r = proxy.finish(running, LIMIT);
                tx.send((label, pid, r)).unwrap();
            });
        }
        let (loser_label, _, loser) = rx
            .recv_timeout(Duration::from_secs(180))
            .expect("the run without the lease must end by itself");
        assert!(
            proxy.wait_fired(Duration::from_secs(180)).is_some(),
            "the holder reaches its first create (and is held there)"
        );
        proxy.release();
        let (winner_label, winner_pid, winner) = rx.recv_timeout(LIMIT).expect("the winner ends");
        assert_eq!(
            loser.run.code, 4,
            "the second run must be refused: {}",
            loser.run.stderr
        );
        assert!(
            loser.run.stderr.contains(&format!("pid {winner_pid}"))
                && loser.run.stderr.contains("neo4j-gw up")
                && loser.run.stderr.contains(&inventory::lease_name(name)),
            "the refusal names the holder (pid {winner_pid}) and the lease: {}",
            loser.run.stderr
        );
        assert!(
            loser.run.mutating().is_empty(),
            "{:?}",
            loser.run.mutating()
        );
        winner.run.ok();
        assert_ne!(loser_label, winner_label);
        winner_label
    });
    proxy.quiesce(Duration::from_secs(60));
    proxy.arm(Faults::none());
    let (winner, loser) = if winner_dir == "one" {
        (&one, &two)
    } else {
        (&two, &one)
    };
    assert_eq!(
        checks::converged(&emu, winner, &scope).await,
        Vec::<String>::new()
    );
    let again = winner.run(&as_strs(&up));
    again.ok();
    assert_eq!(again.mutating(), Vec::<String>::new());
    assert!(
        !loser.state_path().exists(),
        "the refused run wrote no state"
    );
    // From the other directory, without a state file: everything found by tag and name, the lease last.
    let down = loser.run(&["down", "--yes"]);
    down.ok();
    assert_eq!(
        down.lease_calls().last().map(String::as_str),
        Some("DeleteSecret")
    );
    let left = inventory::inventory(&emu.sdk().await, &scope).await;
    assert!(left.is_empty(), "{}", inventory::describe(&left));
}

/// A lease whose holder stopped renewing it (written out of band, expired) is taken over with a warning naming it;
/// one that is still valid refuses the run (exit 4) naming its holder on another host. The emulator enforces the
/// compare-and-swap the lease relies on.
#[tokio::test(flavor = "multi_thread")]
async fn a_stale_lease_is_taken_over_and_a_live_one_refuses() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "leased");
    verified(&st.up(&cert, &[]));
    let sm = aws_sdk_secretsmanager::Client::new(&emu.sdk().await);
    let lease = inventory::lease_name("leased");
    let current = sm
        .get_secret_value()
        .secret_id(&lease)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap();
    let released: Value = serde_json::from_str(current.secret_string().unwrap()).unwrap();
    assert_eq!(released["released"], true, "{released}");

    // The compare-and-swap: moving AWSCURRENT from a version it is not on fails.
    sm.put_secret_value()
        .secret_id(&lease)
        .secret_string("{}")
        .client_request_token("a".repeat(32))
        .version_stages("NEO4J_GW_NEXT")
        .send()
        .await
        .unwrap();
    let cas = sm
        .update_secret_version_stage()
        .secret_id(&lease)
        .version_stage("AWSCURRENT")
        .remove_from_version_id("b".repeat(32))
        .move_to_version_id("a".repeat(32))
        .send()
        .await;
    assert!(cas.is_err(), "a swap from a stale version must fail");

    let holder = |expires: &str| {
        serde_json::json!({
            "host": "elsewhere.invalid",
            "pid": 4242,
            "command": "up",
            "since": "2026-01-01T00:00:00Z",
            "expires": expires,
            "released": false,
        })
        .to_string()
    };
    let write = |value: String| {
        let sm = sm.clone();
        let lease = lease.clone();
        async move {
            sm.put_secret_value()
                .secret_id(lease)
                .secret_string(value)
                .send()
                .await
                .unwrap();
        }
    };

    write(holder("2999-01-01T00:00:00Z")).await;
    let refused = st.run(&["up"]);
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("host elsewhere.invalid, pid 4242")
            && refused.stderr.contains("2999-01-01T00:00:00Z"),
        "{}",
        refused.stderr
    );
    assert!(refused.mutating().is_empty());
    let refused_down = st.run(&["down", "--yes"]);
    assert_eq!(refused_down.code, 4, "{}", refused_down.stderr);

    write(holder("2020-01-01T00:00:00Z")).await;
    let taken = st.run(&["up"]);
    taken.ok();
    assert!(
        taken
            .stderr
            .contains("warning: taking over the expired lease")
            && taken.stderr.contains("host elsewhere.invalid, pid 4242"),
        "{}",
        taken.stderr
    );
    assert!(taken.mutating().is_empty(), "{:?}", taken.mutating());
    st.run(&["down", "--yes"]).ok();
    let left = inventory::inventory(&emu.sdk().await, &Scope::new("leased", &fqdn())).await;
    assert!(left.is_empty(), "{}", inventory::describe(&left));
}

/// Every file under `dir` with its bytes (and the listing, directories included).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.insert(p.clone(), None);
                todo.push(p);
            } else {
                out.insert(p.clone(), Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

/// The read-only commands, as an operator runs them on a deployed stack.
const READ_ONLY: &[&[&str]] = &[
    &["status"],
    &["status", "--json"],
    &["plan"],
    &["plan", "--down"],
    &["token"],
    &["tools"],
    &[
        "call",
        "read-cypher",
        "--args",
        r#"{"query":"RETURN 1 AS n"}"#,
    ],
    &["connect", "--client", "json"],
    &["connect", "--client", "claude-code"],
    &["logs"],
    &["doctor"],
];

/// The read-only commands write nothing into the state directory — no last good copy, no lock file — and work when
/// it cannot be written: run as an unprivileged user (the tests run as root, whom permissions do not stop) on a
/// directory only root may write.
#[tokio::test(flavor = "multi_thread")]
async fn read_only_commands_write_nothing_and_work_on_a_read_only_state_directory() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "readonly");
    verified(&st.up(&cert, &[]));
    let state_dir = st.state_path().parent().unwrap().to_path_buf();
    let before = snapshot(&state_dir);
    let mut codes = Vec::new();
    for args in READ_ONLY {
        let r = st.run(args);
        assert!(
            [0, 3].contains(&r.code),
            "{args:?} exited {}: {}",
            r.code,
            r.stderr
        );
        assert!(r.mutating().is_empty(), "{args:?}: {:?}", r.mutating());
        assert!(r.lease_calls().is_empty(), "{args:?} took the lease");
        assert_eq!(
            snapshot(&state_dir),
            before,
            "{args:?} changed the state directory"
        );
        codes.push(r.code);
    }

    // The same commands as the user nobody, on a copy of the state directory that only root may write.
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("setpriv (util-linux) is needed to run as an unprivileged user");
    let (uid, gid) = (65534u32, 65534u32);
    let root = tempfile::tempdir().unwrap();
    let chmod = |p: &Path, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    chmod(root.path(), 0o755);
    let bin = root.path().join("neo4j-gw");
    std::fs::copy(env!("CARGO_BIN_EXE_neo4j-gw"), &bin).unwrap();
    chmod(&bin, 0o755);
    let work = root.path().join("work");
    let ro_state = work.join("state");
    std::fs::create_dir_all(&ro_state).unwrap();
    for (path, bytes) in &before {
        if let Some(bytes) = bytes {
            let to = ro_state.join(path.file_name().unwrap());
            std::fs::write(&to, bytes).unwrap();
            chmod(&to, 0o600);
            std::os::unix::fs::chown(&to, Some(uid), Some(gid)).unwrap();
        }
    }
    chmod(&ro_state, 0o755);
    chmod(&work, 0o755);
    let probe = Command::new(setpriv)
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/bin/sh",
            "-c",
        ])
        .arg(format!("touch {}/probe 2>/dev/null", ro_state.display()))
        .status()
        .unwrap();
    assert!(
        !probe.success(),
        "the copy of the state directory must not be writable by the unprivileged user"
    );
    let ro_before = snapshot(&ro_state);
    for args in READ_ONLY {
        let base = st.command(args);
        let mut cmd = Command::new(setpriv);
        cmd.args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--clear-groups",
        ])
        .arg(&bin)
        .args(base.get_args())
        .env_clear()
        .current_dir(&work)
        .stdin(std::process::Stdio::null());
        for (k, v) in base.get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        cmd.env("HOME", &work)
            .env("AWS_CONFIG_FILE", work.join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                work.join("no-aws-credentials"),
            )
            .env_remove("NEO4J_GW_CALL_LOG");
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            [0, 3].contains(&out.status.code().unwrap_or(-1)),
            "{args:?} on a read-only state directory exited {:?}: {stderr}",
            out.status.code()
        );
        assert!(!stderr.contains("cannot write"), "{args:?}: {stderr}");
        assert_eq!(snapshot(&ro_state), ro_before, "{args:?}");
    }
    assert!(codes.iter().all(|c| *c == 0 || *c == 3));
    st.run(&["down", "--yes"]).ok();
    assert!(
        !st.state_path().with_extension("lock").exists(),
        "down leaves no lock file behind"
    );
    let left = snapshot(&state_dir);
    assert!(
        left.is_empty(),
        "down left {:?}",
        left.keys().collect::<Vec<_>>()
    );
}
