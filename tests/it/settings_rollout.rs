//! Settings roll out, and "Verified" means Neo4j answered: every Neo4j setting that reaches the ECS task only
//! when it starts (the URI and the database, as ECS secrets) or the interceptor through its cache (the username and
//! the password) takes effect in the same `up` — `plan` shows the task definition's new revision, the service's
//! rollout and the interceptor's configuration update, and `call read-cypher` answers from the new database or with
//! the new credentials right after `up` returns, without waiting out `secret_cache_ttl` (300 s here, the default).
//! `up` says "Verified" only after Neo4j answered a query through the gateway, and `doctor` checks the same: a
//! password changed out of band in Neo4j is named as a broken database connection, with Neo4j's error.
//!
//! All on the local data plane: the Neo4j stand-in's DBMSs, users and passwords are set through its control API;
//! the MCP server stand-in of each ECS task reads the secret when the task starts, as ECS does.

use crate::support::dataplane;
use crate::support::{self, DOMAIN, Emulator, Run, Stack, fixtures, verified};
use serde_json::Value;

const DEMO_URI: &str = "neo4j+s://demo.neo4jlabs.com:7687";
const OTHER_URI: &str = "neo4j+s://graph-two.example.com:7687";

/// `up` with the sample domain, the certificate, `flags` and, when given, NEO4J_PASSWORD.
fn up(st: &Stack, cert: &str, flags: &[&str], password: Option<&str>) -> Run {
    let mut args = vec!["up", "--domain-name", DOMAIN, "--certificate-arn", cert];
    args.extend_from_slice(flags);
    with_password(st, &args, password)
}

fn with_password(st: &Stack, args: &[&str], password: Option<&str>) -> Run {
    let mut cmd = st.command(args);
    if let Some(p) = password {
        cmd.env("NEO4J_PASSWORD", p);
    }
    st.run_cmd(cmd)
}

/// One `call read-cypher`, as an agent would make it right after `up` returned.
fn read(st: &Stack) -> Run {
    st.run(&[
        "call",
        "read-cypher",
        "--args",
        r#"{"query":"RETURN 7 AS n"}"#,
    ])
}

#[track_caller]
fn answers(st: &Stack, after: &str) {
    let r = read(st);
    assert_eq!(
        r.code, 0,
        "{after}: call read-cypher failed right after up:\n{}",
        r.stderr
    );
    assert_eq!(r.stdout.trim(), r#"[{"n": 7}]"#, "{after}");
}

/// `up` changed the setting, Neo4j answered its verification, and the changes the plan named were made.
#[track_caller]
fn rolled(run: &Run, what: &str) {
    verified(run);
    assert!(
        run.stdout
            .contains("Neo4j answered `RETURN 1 AS ok` through read-cypher"),
        "{what}: {}",
        run.stdout
    );
    for changed in [
        "task-definition: updated",
        "service: updated",
        "interceptor-function: updated",
    ] {
        assert!(
            run.stderr.contains(changed),
            "{what}: no `{changed}`:\n{}",
            run.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_neo4j_setting_takes_effect_in_the_same_up() {
    let emu = Emulator::start();
    let (_zone, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "roll");
    let first = up(&st, &cert, &[], None);
    verified(&first);
    answers(&st, "the first up");

    // neo4j_uri: another DBMS with the same user and database; the old one stops accepting the stack's password, so
    // a call that still went there would fail.
    dataplane::neo4j(
        &emu,
        OTHER_URI,
        &[("companies", "companies")],
        &["companies"],
    )
    .await;
    dataplane::neo4j_password(&emu, DEMO_URI, "companies", "moved-away").await;
    let uri = ["--neo4j-uri", OTHER_URI];
    let mut plan_args = vec!["plan", "--domain-name", DOMAIN, "--certificate-arn", &cert];
    plan_args.extend_from_slice(&uri);
    let plan = with_password(&st, &plan_args, Some("companies"));
    assert_eq!(plan.code, 3, "{}\n{}", plan.stdout, plan.stderr);
    let line = |node: &str| {
        plan.stdout
            .lines()
            .find(|l| l.split_whitespace().nth(2) == Some(node))
            .unwrap_or_else(|| panic!("no plan line for {node}:\n{}", plan.stdout))
            .to_owned()
    };
    assert!(line("secret").contains("NEO4J_URI"), "{}", plan.stdout);
    assert!(
        line("task-definition").contains("update")
            && line("task-definition").contains("only when it starts"),
        "{}",
        plan.stdout
    );
    assert!(
        line("service").contains("update") && line("service").contains("rollout"),
        "{}",
        plan.stdout
    );
    assert!(
        line("interceptor-function").contains("update")
            && line("interceptor-function").contains("cached credentials"),
        "{}",
        plan.stdout
    );
    assert!(plan.mutating().is_empty(), "{:?}", plan.mutating());
    rolled(&up(&st, &cert, &uri, Some("companies")), "neo4j_uri");
    answers(&st, "--neo4j-uri");

    // neo4j_database: the DBMS now has only the database `second`.
    dataplane::neo4j(&emu, OTHER_URI, &[("companies", "companies")], &["second"]).await;
    let database = [&uri[..], &["--neo4j-database", "second"]].concat();
    rolled(&up(&st, &cert, &database, None), "neo4j_database");
    answers(&st, "--neo4j-database");

    // neo4j_username: the DBMS now knows only the user `reader` (the password stays).
    dataplane::neo4j(&emu, OTHER_URI, &[("reader", "companies")], &["second"]).await;
    let username = [&database[..], &["--neo4j-username", "reader"]].concat();
    rolled(&up(&st, &cert, &username, None), "neo4j_username");
    answers(&st, "--neo4j-username");

    // The password: changed in Neo4j, then given to `up`; the interceptor's cache (300 s) does not hold the old one.
    dataplane::neo4j_password(&emu, OTHER_URI, "reader", "pw-Four-4d2a").await;
    let changed = up(&st, &cert, &username, Some("pw-Four-4d2a"));
    rolled(&changed, "the password");
    for out in [&changed.stdout, &changed.stderr] {
        assert!(
            !out.contains("pw-Four-4d2a"),
            "the password reached the output"
        );
    }
    answers(&st, "NEO4J_PASSWORD");

    // Nothing changed: nothing rolls.
    let again = up(&st, &cert, &username, None);
    verified(&again);
    assert!(again.mutating().is_empty(), "{:?}", again.mutating());

    // The secret written out of band (a new version, e.g. from the console): the same `up` rolls it out.
    let sm = aws_sdk_secretsmanager::Client::new(&emu.sdk().await);
    let arn = support::state_id(&st.state(), "secret", "arn");
    let value = sm
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .unwrap()
        .secret_string()
        .unwrap()
        .to_owned();
    sm.put_secret_value()
        .secret_id(&arn)
        .secret_string(value)
        .send()
        .await
        .unwrap();
    let rolled_out = up(&st, &cert, &username, None);
    verified(&rolled_out);
    let mut ops = rolled_out.mutating();
    ops.sort();
    assert_eq!(
        ops,
        [
            "ECS:RegisterTaskDefinition",
            "ECS:UpdateService",
            "Lambda:UpdateFunctionConfiguration"
        ],
        "{}",
        rolled_out.stderr
    );

    // "Verified" means Neo4j answered: the password changed out of band in Neo4j breaks the database connection,
    // which `up` names (with Neo4j's error and what to do) instead of saying "Verified", and `doctor` fails it.
    dataplane::neo4j_password(&emu, OTHER_URI, "reader", "changed-by-the-dba").await;
    let broken = up(&st, &cert, &username, None);
    assert_eq!(broken.code, 1, "{}\n{}", broken.stdout, broken.stderr);
    assert!(!broken.stdout.contains("Verified"), "{}", broken.stdout);
    for what in [
        "the database connection is broken",
        "Neo4j refused the username or password",
        "Neo.ClientError.Security.Unauthorized",
        "NEO4J_PASSWORD",
    ] {
        assert!(
            broken.stderr.contains(what),
            "no `{what}`:\n{}",
            broken.stderr
        );
    }
    let doctor = st.run(&["doctor", "--json"]);
    assert_eq!(doctor.code, 3, "{}\n{}", doctor.stdout, doctor.stderr);
    let doc: Value = serde_json::from_str(&doctor.stdout).unwrap();
    let check = |name: &str| {
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} check: {doc:#}"))
    };
    assert_eq!(check("tools")["status"], "pass", "{doc:#}");
    assert_eq!(check("database")["status"], "fail", "{doc:#}");
    assert!(
        check("database")["message"]
            .as_str()
            .is_some_and(|m| m.contains("Neo.ClientError.Security.Unauthorized")),
        "{doc:#}"
    );
    // A database that does not exist is named as such.
    dataplane::neo4j(
        &emu,
        OTHER_URI,
        &[("reader", "changed-by-the-dba")],
        &["third"],
    )
    .await;
    let missing = up(&st, &cert, &username, Some("changed-by-the-dba"));
    assert_eq!(missing.code, 1, "{}\n{}", missing.stdout, missing.stderr);
    assert!(
        missing.stderr.contains("the database does not exist")
            && missing.stderr.contains("--neo4j-database"),
        "{}",
        missing.stderr
    );
    // Repaired: the database given, Neo4j answers again.
    let fixed = [
        &uri[..],
        &["--neo4j-database", "third", "--neo4j-username", "reader"],
    ]
    .concat();
    rolled(&up(&st, &cert, &fixed, None), "the repair");
    answers(&st, "the repair");
}
