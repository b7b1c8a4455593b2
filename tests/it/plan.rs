//! `plan` (and `up --dry-run`) shows per node what `up` would do — from the same
//! observe, with zero mutating requests, exit 0/3 — `up` prints it before it acts and needs `--yes` for a
//! replacement off a terminal; a create whose answer was lost reads "created (answer lost, found again)"; an absent
//! `NEO4J_PASSWORD` keeps the secret's password (both directions); `up --json` and `down --json`.
//! The drift matrix (`drift_matrix`) checks plan's verbs for every deleted and changed resource.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::proxy::{Faults, Phase, Proxy, Sig, Trigger};
use crate::support::{self, DOMAIN, Emulator, Run, Stack, fixtures, plan_size, state_id};
use serde_json::Value;

/// One attribute a change names: (attribute, old, new).
type Attr = (String, String, String);

/// `plan --json` (or `up --dry-run --json`) as resource → (action, attributes, detail).
fn actions(run: &Run) -> BTreeMap<String, (String, Vec<Attr>, String)> {
    let doc: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("plan --json: {e}\n{}\n{}", run.stdout, run.stderr));
    doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let attrs = r["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    (
                        a["attribute"].as_str().unwrap().to_owned(),
                        a["old"].as_str().unwrap().to_owned(),
                        a["new"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            (
                r["resource"].as_str().unwrap().to_owned(),
                (
                    r["action"].as_str().unwrap().to_owned(),
                    attrs,
                    format!("{} {}", r["reason"], r["note"]),
                ),
            )
        })
        .collect()
}

/// The resources with an action other than `none`, as `resource action`.
fn changes(run: &Run) -> Vec<String> {
    actions(run)
        .into_iter()
        .filter(|(_, (a, _, _))| a != "none")
        .map(|(r, (a, _, _))| format!("{r} {a}"))
        .collect()
}

#[track_caller]
fn read_only(run: &Run, what: &str) {
    assert!(
        run.mutating().is_empty(),
        "{what} made mutating calls: {:?}",
        run.mutating()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_shows_what_up_would_do_and_changes_nothing() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "plan");
    let sdk = emu.sdk().await;

    // Before the first up: every owned node to create, the two used ones unchanged; exit 3; no state written.
    let first = st.run(&[
        "plan",
        "--json",
        "--domain-name",
        DOMAIN,
        "--certificate-arn",
        &cert,
    ]);
    assert_eq!(first.code, 3, "{}", first.stderr);
    read_only(&first, "plan");
    let a = actions(&first);
    // Every node of the plan; all but the ones the stack only uses are created.
    let size = plan_size();
    assert_eq!(a.len(), size.nodes);
    assert_eq!(
        a.values().filter(|(x, _, _)| x == "create").count(),
        size.owned
    );
    assert_eq!(a["hosted-zone"].0, "none");
    assert_eq!(a["certificate"].0, "none");
    assert!(!st.state_path().exists(), "plan wrote a state file");
    // up --dry-run is the same, in text.
    let dry = st.up(&cert, &["--dry-run"]);
    assert_eq!(dry.code, 3, "{}", dry.stderr);
    read_only(&dry, "up --dry-run");
    assert!(
        dry.stdout.contains(&format!(
            "{} to create, {} unchanged",
            size.owned, size.used
        )) && dry.stdout.contains("+ create    vpc"),
        "{}",
        dry.stdout
    );
    assert!(!st.state_path().exists(), "up --dry-run wrote a state file");

    // up prints the plan before it acts; --json reports every node and the outputs.
    let up = st.up(&cert, &["--json"]);
    up.ok();
    assert!(
        up.stderr.contains(&format!(
            "plan: {} to create, {} unchanged",
            size.owned, size.used
        )),
        "{}",
        up.stderr
    );
    let doc: Value = serde_json::from_str(&up.stdout).unwrap();
    assert_eq!(doc["ok"], true);
    // The owned nodes (the hosted zone and the certificate are only checked in pre-flight).
    assert_eq!(doc["resources"].as_array().unwrap().len(), size.owned);
    assert!(
        doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"] == "created"),
        "{doc:#}"
    );
    assert!(doc["outputs"]["GatewayUrl"].as_str().is_some());

    // Nothing changed: exit 0, no changes, read-only.
    let none = st.run(&["plan", "--json"]);
    assert_eq!(none.code, 0, "{}", none.stderr);
    read_only(&none, "plan");
    assert_eq!(changes(&none), Vec::<String>::new());
    let text = st.run(&["plan"]);
    assert_eq!(text.code, 0);
    assert!(text.stdout.contains("no changes"), "{}", text.stdout);

    // Deleted out of band → create; changed out of band → update with old → new; a setting → update; a setting
    // AWS cannot change in place → replace, with why; the dependents of the replaced one → update.
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    logs.delete_log_group()
        .log_group_name(format!("/aws/lambda/{}-interceptor", st.name))
        .send()
        .await
        .unwrap();
    logs.put_retention_policy()
        .log_group_name(format!("/neo4j-gw/{}/mcp", st.name))
        .retention_in_days(7)
        .send()
        .await
        .unwrap();
    let drifted = st.run(&[
        "plan",
        "--json",
        "--cpu",
        "512",
        "--resource-server-id",
        "other-rs",
    ]);
    assert_eq!(drifted.code, 3, "{}", drifted.stderr);
    read_only(&drifted, "plan");
    let a = actions(&drifted);
    assert_eq!(a["interceptor-log-group"].0, "create");
    assert_eq!(a["log-group"].0, "update");
    assert_eq!(
        a["log-group"].1,
        vec![("retention_in_days".into(), "7".into(), "30".into())]
    );
    assert_eq!(a["task-definition"].0, "update");
    assert!(
        a["task-definition"]
            .1
            .contains(&("cpu".into(), "256".into(), "512".into())),
        "{:?}",
        a["task-definition"]
    );
    assert_eq!(a["resource-server"].0, "replace");
    assert!(
        a["resource-server"]
            .2
            .contains("cannot be changed in place"),
        "{:?}",
        a["resource-server"]
    );
    assert_eq!(a["app-client"].0, "update");
    assert_eq!(a["gateway"].0, "update");
    assert_eq!(a["vpc"].0, "none");

    // Off a terminal, a replacement needs --yes: nothing is changed without it.
    let refused = st.up(&cert, &["--resource-server-id", "other-rs"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("--yes") && refused.stderr.contains("resource-server"),
        "{}",
        refused.stderr
    );
    read_only(&refused, "up without --yes");
    assert!(
        refused.stderr.contains("plan: ! replace   resource-server"),
        "the plan is printed before the question: {}",
        refused.stderr
    );
    // With --yes: replaced, and the repairs of the out-of-band changes made.
    let yes = st.up(&cert, &["--resource-server-id", "other-rs", "--yes"]);
    yes.ok();
    assert!(
        yes.stderr
            .contains("resource-server: replaced (identifier)"),
        "{}",
        yes.stderr
    );
    assert!(yes.stderr.contains("interceptor-log-group: created"));
    assert_eq!(yes.count("DeleteResourceServer"), 1);
    let after = st.run(&["plan", "--json"]);
    assert_eq!(after.code, 0, "{:?}", changes(&after));

    // plan --down: every owned node to delete, the used ones kept; read-only.
    let down = st.run(&["plan", "--down", "--json"]);
    assert_eq!(down.code, 3);
    read_only(&down, "plan --down");
    let a = actions(&down);
    assert_eq!(
        a.values().filter(|(x, _, _)| x == "delete").count(),
        plan_size().owned
    );
    assert_eq!(a["certificate"].0, "none");
    // down --json: the outcome of every node.
    let gone = st.run(&["down", "--yes", "--json"]);
    gone.ok();
    let doc: Value = serde_json::from_str(&gone.stdout).unwrap();
    assert_eq!(doc["state_file_removed"], true);
    let deleted = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "deleted")
        .count();
    assert_eq!(deleted, plan_size().owned, "{doc:#}");
}

/// The secret's password: an absent NEO4J_PASSWORD keeps it (no drift, no write), a given one is compared and
/// written; the demo password is written only when the secret is made.
#[tokio::test(flavor = "multi_thread")]
async fn an_absent_password_keeps_the_secrets_and_a_given_one_is_written() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&emu.sdk().await);
    let password = |st: &Stack| {
        let secrets = secrets.clone();
        let arn = state_id(&st.state(), "secret", "arn");
        async move {
            let v = secrets
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .unwrap();
            let doc: Value = serde_json::from_str(v.secret_string().unwrap()).unwrap();
            doc["NEO4J_PASSWORD"].as_str().unwrap().to_owned()
        }
    };

    // Deployed with the demo URI and the operator's own password. The Neo4j stand-in's demo user does not have
    // these passwords, so `up` is not asked to verify through Neo4j here: this test is about the secret.
    let mut st = Stack::new(&emu, "pw");
    st.extra_env
        .push(("NEO4J_PASSWORD".into(), "operators-pw-1".into()));
    st.up(&cert, &["--no-verify"]).ok();
    assert_eq!(password(&st).await, "operators-pw-1");
    st.extra_env.clear();
    // status without the password: exit 0, no drift.
    let (code, status) = st.status_json();
    assert_eq!(code, 0, "{status:#}");
    assert_eq!(
        support::drift_attributes(&status, "secret"),
        Vec::<String>::new()
    );
    // up without the password, to change something else: the secret is neither compared nor written.
    let up = st.up(&cert, &["--cpu", "512", "--memory", "1024", "--no-verify"]);
    up.ok();
    assert_eq!(up.count("PutSecretValue"), 0, "{:?}", up.mutating());
    assert!(
        up.stderr.contains("task-definition: updated"),
        "{}",
        up.stderr
    );
    assert_eq!(password(&st).await, "operators-pw-1");

    // The other direction: a given password that differs is drift (hidden), and up writes it.
    st.extra_env
        .push(("NEO4J_PASSWORD".into(), "operators-pw-2".into()));
    let (code, status) = st.status_json();
    assert_eq!(code, 3);
    assert_eq!(
        support::drift_attributes(&status, "secret"),
        vec!["password"]
    );
    assert!(!status.to_string().contains("operators-pw"));
    let up = st.up(&cert, &["--no-verify"]);
    up.ok();
    assert_eq!(up.count("PutSecretValue"), 1);
    assert!(!up.stderr.contains("operators-pw") && !up.stdout.contains("operators-pw"));
    assert_eq!(password(&st).await, "operators-pw-2");

    // A new stack on the demo URI without a password: the demo password is written when the secret is made.
    let demo = Stack::new(&emu, "pw-demo");
    demo.up(&cert, &["--subdomain", "demo"]).ok();
    assert_eq!(password(&demo).await, "companies");
    // A move to another database needs its password; nothing is changed without it.
    let r = demo.up(&cert, &["--neo4j-uri", "neo4j+s://db.internal:7687"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("NEO4J_PASSWORD"), "{}", r.stderr);
    assert!(r.calls.is_empty(), "{:?}", r.calls);
}

/// A create whose answer was lost and that the next look finds is "created (answer lost, found again)", not
/// "adopted".
#[tokio::test(flavor = "multi_thread")]
async fn a_create_whose_answer_was_lost_reads_created() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let proxy = Proxy::start(&emu.endpoint);
    let st = Stack::new(&emu, "lost-word");
    // CreateVpc goes without SDK retries (no client token): the engine's second look finds the VPC.
    let faults = Faults {
        trigger: Some(Trigger {
            k: 0,
            phase: Phase::After,
            signal: Sig::LoseAnswer,
            operation: Some("CreateVpc"),
        }),
        ..Faults::default()
    };
    let args = ["up", "--domain-name", DOMAIN, "--certificate-arn", &cert];
    let run = proxy.run(&st, &args, faults, Duration::from_secs(300));
    assert!(run.fired.is_some(), "CreateVpc was not sent");
    assert_eq!(run.run.code, 0, "{}", run.run.stderr);
    assert!(
        run.run
            .stderr
            .contains("vpc: created (answer lost, found again)"),
        "{}",
        run.run.stderr
    );
    assert!(!run.run.stderr.contains("vpc: adopted"));
}

/// Runs the binary on a pseudo-terminal (`script`) of type `term`, typing `input`; returns the exit code, what the
/// terminal showed and the AWS calls.
fn on_terminal(st: &Stack, term: &str, args: &[&str], input: &str) -> (i32, String, Vec<Value>) {
    use std::io::Write;
    let inner = st.command(args);
    let quote = |w: &std::ffi::OsStr| format!("'{}'", w.to_str().unwrap().replace('\'', r"'\''"));
    let line = std::iter::once(inner.get_program())
        .chain(inner.get_args())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .env_clear()
        .current_dir(st.dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.env("TERM", term);
    let log = st.dir.path().join("calls.jsonl");
    let _ = std::fs::remove_file(&log);
    let mut child = cmd.spawn().expect("script (util-linux)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let calls = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        calls,
    )
}

/// On a terminal: the live progress view (a summary line, each finished node printed once with a mark), and `up`
/// asks before a replacement — no means nothing is changed, yes means it is done.
#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_up_shows_progress_and_asks_before_replacing() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "tty");
    let up = ["up", "--domain-name", DOMAIN, "--certificate-arn", &cert];
    let (code, screen, _) = on_terminal(&st, "xterm", &up, "");
    assert_eq!(code, 0, "{screen}");
    let owned = plan_size().owned;
    assert!(
        screen.contains(&format!("up: 0/{owned} done")),
        "no summary line: {screen}"
    );
    assert!(
        screen.contains(&format!("up: {owned} created in")),
        "{screen}"
    );
    assert!(screen.contains("✔ vpc"), "no finished line: {screen}");
    assert!(screen.contains('\u{1b}'), "a terminal gets the live view");
    // A dumb terminal (on which indicatif draws nothing) gets the plain lines.
    let (code, screen, _) = on_terminal(&st, "dumb", &up, "");
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("vpc: up to date ("), "{screen}");
    assert!(!screen.contains('\u{1b}'), "{screen}");

    let replace = ["up", "--resource-server-id", "tty-rs"];
    let (code, screen, calls) = on_terminal(&st, "xterm", &replace, "n\n");
    assert_eq!(code, 2, "{screen}");
    assert!(
        screen.contains("Continue? [y/N]") && screen.contains("not confirmed"),
        "{screen}"
    );
    // Nothing of the stack changed (the lease, taken and let go of by every `up`, is not the stack's).
    let mutating: Vec<&Value> = calls
        .iter()
        .filter(|c| c["mutating"] == true && c["node"] != support::LEASE_NODE)
        .collect();
    assert!(mutating.is_empty(), "{mutating:?}");
    let (code, screen, calls) = on_terminal(&st, "xterm", &replace, "y\n");
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("✔ resource-server"), "{screen}");
    assert_eq!(
        calls
            .iter()
            .filter(|c| c["operation"] == "DeleteResourceServer")
            .count(),
        1
    );
}
