//! Setting up a client: `connect` prints each client's configuration (parsed here
//! in the client's format, and the token commands it names are run); shell completions; no AWS credentials at all
//! is a setup error (exit 2) that names the sources tried and what to run, without SDK log noise or colour codes.

use std::process::Command;

use crate::support::oauth::OAuthStandIn;
use crate::support::{Emulator, Stack, fixtures, state_id};
use serde_json::Value;

/// Runs a shell command line the way a client would: with credentials for the emulator, nothing else of ours.
fn shell(st: &Stack, line: &str) -> std::process::Output {
    Command::new("/bin/sh")
        .args(["-c", line])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", st.dir.path())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_CONFIG_FILE", st.dir.path().join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            st.dir.path().join("no-aws-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // Somewhere else than the stack's directory: the command must carry absolute paths.
        .current_dir("/")
        .output()
        .unwrap()
}

#[track_caller]
fn config(st: &Stack, client: &str, extra: &[&str]) -> Value {
    let mut args = vec!["connect", "--client", client];
    args.extend_from_slice(extra);
    let r = st.run(&args);
    assert_eq!(r.code, 0, "{client}: {}", r.stderr);
    assert!(r.mutating().is_empty());
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{client}: not JSON ({e}):\n{}", r.stdout))
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_prints_each_clients_configuration() {
    let emu = Emulator::start();
    let (_, cert) = fixtures(&emu).await;
    let oauth = OAuthStandIn::start(&emu);
    let st = Stack::new(&emu, "conn");

    // Not deployed yet.
    let r = st.run(&["connect", "--client", "cursor"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("run `neo4j-gw up` first"), "{}", r.stderr);

    st.up(&cert, &[]).ok();
    let url = state_id(&st.state(), "gateway", "url");
    let endpoint = ["--token-endpoint", oauth.url.as_str()];

    // Claude Code: .mcp.json, type http, the gateway URL, a headers helper that prints the Authorization header.
    let cc = config(&st, "claude-code", &endpoint);
    let server = &cc["mcpServers"]["conn"];
    assert_eq!(server["type"], "http");
    assert_eq!(server["url"], url.as_str());
    let helper = server["headersHelper"].as_str().unwrap();
    let out = shell(&st, helper);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let headers: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        headers["Authorization"]
            .as_str()
            .unwrap()
            .starts_with("Bearer ey"),
        "{headers}"
    );
    assert_eq!(headers.as_object().unwrap().len(), 1);

    // Claude Desktop: a stdio server (claude_desktop_config.json has no remote servers) running mcp-remote with
    // the header, the token fetched by the same command first.
    let cd = config(
        &st,
        "claude-desktop",
        &["--name", "neo4j", "--token-endpoint", &oauth.url],
    );
    let server = &cd["mcpServers"]["neo4j"];
    assert_eq!(server["command"], "/bin/sh");
    let start = server["args"][1].as_str().unwrap();
    assert!(
        start.contains("mcp-remote")
            && start.contains(&url)
            && start.contains("--header 'Authorization:${AUTH_HEADER}'"),
        "{start}"
    );
    let token_part = start
        .split_once("$(")
        .and_then(|(_, rest)| rest.split_once(")\""))
        .map(|(cmd, _)| cmd)
        .unwrap();
    let out = shell(&st, token_part);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ey"));

    // VS Code: "servers" with type http and the header from a password input.
    let vs = config(&st, "vscode", &[]);
    let server = &vs["servers"]["conn"];
    assert_eq!(server["type"], "http");
    assert_eq!(server["url"], url.as_str());
    let header = server["headers"]["Authorization"].as_str().unwrap();
    let input = header
        .strip_prefix("Bearer ${input:")
        .and_then(|h| h.strip_suffix('}'))
        .unwrap();
    let declared = vs["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == input)
        .unwrap();
    assert_eq!(declared["type"], "promptString");
    assert_eq!(declared["password"], true);

    // Cursor: "mcpServers" with url and the header from an environment variable.
    let cu = config(&st, "cursor", &[]);
    let server = &cu["mcpServers"]["conn"];
    assert_eq!(server["url"], url.as_str());
    assert_eq!(
        server["headers"]["Authorization"],
        "Bearer ${env:NEO4J_GW_TOKEN}"
    );

    // JSON: the URL, the transport, the lifetime, and token commands that work.
    let js = config(&st, "json", &endpoint);
    assert_eq!(js["url"], url.as_str());
    assert_eq!(js["transport"], "streamable-http");
    assert_eq!(js["token"]["lifetime_seconds"], 3600);
    assert_eq!(
        js["token"]["scope"],
        "neo4j-mcp-gateway/invoke neo4j-mcp-gateway/read"
    );
    let argv: Vec<&str> = js["token"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    let line = argv
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let out = shell(&st, &line);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ey"));
    // No client secret anywhere in what connect prints.
    let pool = state_id(&st.state(), "user-pool", "user_pool_id");
    let client = state_id(&st.state(), "app-client", "client_id");
    let secret = aws_sdk_cognitoidentityprovider::Client::new(&emu.sdk().await)
        .describe_user_pool_client()
        .user_pool_id(pool)
        .client_id(client)
        .send()
        .await
        .unwrap()
        .user_pool_client()
        .unwrap()
        .client_secret()
        .unwrap()
        .to_owned();
    for doc in [&cc, &cd, &vs, &cu, &js] {
        assert!(!doc.to_string().contains(&secret));
    }
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    let emu = Emulator::start();
    let st = Stack::new(&emu, "compl");
    for shell in ["bash", "zsh", "fish"] {
        let r = st.run(&["completions", shell]);
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        for word in ["plan", "doctor", "logs", "connect", "claude-code"] {
            assert!(r.stdout.contains(word), "{shell}: no {word}");
        }
        assert!(r.calls.is_empty());
    }
    // The bash script is valid bash.
    let script = st.dir.path().join("neo4j-gw.bash");
    std::fs::write(&script, st.run(&["completions", "bash"]).stdout).unwrap();
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let r = st.run(&["completions", "tcsh"]);
    assert_eq!(r.code, 2);
}

#[test]
fn no_credentials_is_a_setup_error_that_says_what_to_do() {
    let emu = Emulator::start();
    let st = Stack::new(&emu, "nocred");
    for command in [vec!["status"], vec!["status", "-v"]] {
        let mut cmd = st.command(&command);
        cmd.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY");
        let r = st.run_cmd(cmd);
        assert_eq!(r.code, 2, "{}", r.stderr);
        let err = &r.stderr;
        for what in [
            "no AWS credentials were found",
            "environment",
            "profile",
            "SSO",
            "instance metadata service (IMDS)",
            "aws configure",
            "aws sso login",
            "--profile",
        ] {
            assert!(err.contains(what), "does not name {what}: {err}");
        }
        assert!(!err.contains("resumes where it stopped"), "{err}");
        assert!(
            !err.contains('\u{1b}'),
            "colour codes off a terminal: {err:?}"
        );
        if command.len() == 1 {
            // Below -v: only the error line, no SDK log.
            assert_eq!(err.trim().lines().count(), 1, "{err}");
            assert!(!err.contains("WARN"), "{err}");
        }
    }
}
