//! Bad input is reported before any AWS call — one line naming the setting, exit code 2, empty ledger.

use crate::support::{Emulator, Stack};

const CERT: &str =
    "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-1111-2222-3333-444455556666";

struct Case {
    name: &'static str,
    args: Vec<&'static str>,
    env: Vec<(&'static str, &'static str)>,
    config: Option<&'static str>,
    stack: &'static str,
    expect: &'static str,
}

fn up(extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = vec![
        "up",
        "--domain-name",
        "example.com",
        "--certificate-arn",
        CERT,
    ];
    v.extend_from_slice(extra);
    v
}

fn case(name: &'static str, args: Vec<&'static str>, expect: &'static str) -> Case {
    Case {
        name,
        args,
        env: vec![],
        config: None,
        stack: "bad-input",
        expect,
    }
}

#[test]
fn bad_input_matrix() {
    // The emulator is started so that a wrongly made call would be recorded, not refused by the network.
    let emu = Emulator::start();
    let cases = vec![
        Case {
            stack: "Bad_Name",
            ..case("uppercase stack", vec!["status"], "--stack")
        },
        Case {
            stack: "abcdefghijklmnopqrstuvwxy",
            ..case("stack too long", vec!["status"], "--stack")
        },
        Case {
            stack: "a--b",
            ..case("stack with double hyphen", up(&[]), "--stack")
        },
        case(
            "malformed domain",
            up(&["--domain-name", "not a domain"]),
            "--domain-name",
        ),
        case(
            "single-label domain",
            up(&["--domain-name", "localhost"]),
            "--domain-name",
        ),
        case("bad subdomain", up(&["--subdomain=-mcp"]), "--subdomain"),
        case(
            "malformed certificate ARN",
            up(&["--certificate-arn", "arn:aws:s3:::bucket"]),
            "--certificate-arn",
        ),
        case(
            "certificate from another region",
            up(&[
                "--certificate-arn",
                "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-1111",
            ]),
            "--certificate-arn",
        ),
        case(
            "missing domain",
            vec!["up", "--certificate-arn", CERT],
            "--domain-name",
        ),
        case(
            "missing certificate",
            vec!["up", "--domain-name", "example.com"],
            "--certificate-arn",
        ),
        Case {
            config: Some("domian_name = \"example.com\"\n"),
            ..case("unknown config key", up(&[]), "domian_name")
        },
        Case {
            config: Some("neo4j_password = \"hunter2\"\n"),
            ..case("password in the config file", up(&[]), "NEO4J_PASSWORD")
        },
        Case {
            config: Some("stack = \"a\"\nregion = us-east-1\n"),
            ..case("TOML syntax error", vec!["status"], "line 2, column")
        },
        Case {
            config: Some("password = \"hunter2\"\n"),
            ..case(
                "a password key in the config file",
                up(&[]),
                "NEO4J_PASSWORD or use --neo4j-password-stdin",
            )
        },
        Case {
            env: vec![("NEO4J_GW_CPU", "300")],
            ..case("bad cpu from the environment", up(&[]), "NEO4J_GW_CPU")
        },
        case(
            "memory not valid for the cpu",
            up(&["--memory", "4096"]),
            "--memory",
        ),
        case(
            "CIDR with host bits",
            up(&["--allowed-cidrs", "10.0.0.1/8"]),
            "--allowed-cidrs",
        ),
        case(
            "unsupported URI scheme",
            up(&["--neo4j-uri", "http://db:7474"]),
            "--neo4j-uri",
        ),
        case(
            "custom URI without password",
            up(&["--neo4j-uri", "neo4j+s://db.internal:7687"]),
            "NEO4J_PASSWORD",
        ),
        case(
            "retention CloudWatch does not offer",
            up(&["--log-retention-days", "31"]),
            "--log-retention-days",
        ),
        case("malformed region", up(&["--region", "moon"]), "--region"),
        case(
            "negative desired count",
            up(&["--desired-count=-1"]),
            "--desired-count",
        ),
        case(
            "not a boolean",
            up(&["--read-only", "maybe"]),
            "--read-only",
        ),
        case(
            "bad architecture",
            up(&["--architecture", "sparc"]),
            "--architecture",
        ),
        case("down without --yes off a terminal", vec!["down"], "--yes"),
    ];
    assert!(cases.len() >= 15);
    for c in cases {
        let st = Stack::new(&emu, c.stack);
        if let Some(text) = c.config {
            std::fs::write(st.dir.path().join("neo4j-gw.toml"), text).unwrap();
        }
        let mut cmd = st.command(&c.args);
        for (k, v) in &c.env {
            cmd.env(k, v);
        }
        let r = st.run_cmd(cmd);
        assert_eq!(r.code, 2, "{}: exit {}\n{}", c.name, r.code, r.stderr);
        assert!(
            r.stderr.contains(c.expect),
            "{}: stderr does not name {}:\n{}",
            c.name,
            c.expect,
            r.stderr
        );
        assert_eq!(
            r.stderr.trim().lines().count(),
            1,
            "{}: expected one line:\n{}",
            c.name,
            r.stderr
        );
        assert!(
            r.calls.is_empty(),
            "{}: made AWS calls {:?}",
            c.name,
            r.calls
        );
        assert!(
            !r.stderr.contains("hunter2"),
            "{}: a secret leaked into the error",
            c.name
        );
    }
}

/// `--timings` into a directory that does not exist: refused before any AWS call, and no directory is made.
#[test]
fn timings_never_creates_directories() {
    let emu = Emulator::start();
    let st = Stack::new(&emu, "timings");
    let dir = st.dir.path().join("no-such-dir").join("deeper");
    let file = dir.join("t.html");
    let r = st.run(&["--timings", file.to_str().unwrap(), "status"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--timings") && r.stderr.contains("does not exist"),
        "{}",
        r.stderr
    );
    assert!(r.calls.is_empty(), "{:?}", r.calls);
    assert!(!st.dir.path().join("no-such-dir").exists());
}

/// A misspelt `NEO4J_GW_*` variable is named (with the closest real one), never its value, and the run goes on.
#[test]
fn a_misspelt_environment_variable_is_named_without_its_value() {
    let emu = Emulator::start();
    let st = Stack::new(&emu, "envtypo");
    let mut cmd = st.command(&[
        "plan",
        "--domain-name",
        "example.com",
        "--certificate-arn",
        CERT,
    ]);
    cmd.env("NEO4J_GW_DOMIAN_NAME", "hunter2.example.com");
    let r = st.run_cmd(cmd);
    assert!(
        r.stderr.contains(
            "warning: the environment variable NEO4J_GW_DOMIAN_NAME is not one neo4j-gw reads (did you mean \
             NEO4J_GW_DOMAIN_NAME?)"
        ),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("hunter2") && !r.stdout.contains("hunter2"));
}

#[test]
fn config_file_and_environment_precedence() {
    let emu = Emulator::start();
    let st = Stack::new(&emu, "prec");
    // The file says one thing, the environment another, the flag a third: the flag wins, and its bad value is
    // reported under the flag's name.
    std::fs::write(
        st.dir.path().join("neo4j-gw.toml"),
        "subdomain = \"-file\"\n",
    )
    .unwrap();
    let mut cmd = st.command(&up(&[]));
    cmd.env("NEO4J_GW_SUBDOMAIN", "-env");
    let r = st.run_cmd(cmd);
    assert!(
        r.stderr.contains("NEO4J_GW_SUBDOMAIN"),
        "env beats file: {}",
        r.stderr
    );
    let mut cmd = st.command(&up(&["--subdomain=-flag"]));
    cmd.env("NEO4J_GW_SUBDOMAIN", "-env");
    let r = st.run_cmd(cmd);
    assert!(
        r.stderr.contains("--subdomain") && r.stderr.contains("-flag"),
        "flag beats env: {}",
        r.stderr
    );
    let r = st.run(&up(&[]));
    assert!(
        r.stderr.contains("neo4j-gw.toml"),
        "file names itself: {}",
        r.stderr
    );
}

/// Every header of the AgentCore guide's restricted list (the one data file the CLI embeds and the
/// gateway stand-in loads) is refused as `auth_header` before any AWS call — `Authorization` excepted, which the
/// gateway forwards when the interceptor sets it.
#[test]
fn every_restricted_header_is_refused_as_the_credentials_header() {
    let list: serde_json::Value =
        serde_json::from_str(include_str!("../../data/agentcore-restricted-headers.json")).unwrap();
    let mut names: Vec<String> = list["guide_table"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .filter(|n| n != "Authorization")
        .collect();
    names.extend(["X-Amzn-Trace-Id".to_owned(), "Mcp-Session-Id".to_owned()]);
    // The names an earlier copy of the list lacked are among them.
    for added in [
        "X-XSS-Protection",
        "Referrer-Policy",
        "Permissions-Policy",
        "Cross-Origin-Opener-Policy",
        "Access-Control-Allow-Origin",
        "Accept-CH",
        "Accept-CH-Lifetime",
        "DPR",
        "Width",
        "Viewport-Width",
        "Downlink",
        "ECT",
        "RTT",
        "Save-Data",
        "Clear-Site-Data",
        "Feature-Policy",
        "Expect-CT",
        "Public-Key-Pins",
        "Public-Key-Pins-Report-Only",
    ] {
        assert!(
            names.iter().any(|n| n == added),
            "{added} is not in the list"
        );
    }
    let emu = Emulator::start();
    let st = Stack::new(&emu, "headers");
    for name in &names {
        let flag = format!("--auth-header={name}");
        let r = st.run(&up(&[Box::leak(flag.into_boxed_str())]));
        assert_eq!(r.code, 2, "{name}: exit {}\n{}", r.code, r.stderr);
        assert!(r.stderr.contains("--auth-header"), "{name}: {}", r.stderr);
        assert!(r.calls.is_empty(), "{name}: made AWS calls {:?}", r.calls);
    }
}
