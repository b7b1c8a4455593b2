//! Pipes, terminals and the data plane as an operator meets them.
//! - A closed standard output ends every printer quietly with exit 141 (no panic, nothing on stderr).
//! - A refused connection to the data plane or a token endpoint is reported at once, naming what to check (bounded
//!   by a generous process timeout, never by a timing assertion).
//! - `connect` writes `--data-plane-endpoint` into the token command when one is in use, and that command works.
//! - `status` fits `COLUMNS`; `token` prints nothing on stderr when it works.
//! - Ctrl-C on a terminal: the signal's message goes through the live view, and the view is cleared before the
//!   summary (a small terminal model reads what `script` recorded).

use std::io::{BufRead, Read, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::support::{DOMAIN, Emulator, Stack, fixtures, verified};
use serde_json::Value;

/// The binary's command line `inner`, run under `timeout 60` (exit 124 if it hangs) with the same environment.
fn bounded(st: &Stack, inner: Command) -> (i32, String, String, f32) {
    let mut cmd = Command::new("timeout");
    cmd.arg("60")
        .arg(inner.get_program())
        .args(inner.get_args())
        .env_clear()
        .current_dir(st.dir.path())
        .stdin(Stdio::null());
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let start = Instant::now();
    let out = cmd.output().expect("timeout (coreutils)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        start.elapsed().as_secs_f32(),
    )
}

/// Runs a command whose standard output is a pipe whose reader is gone before the command starts (so that even a
/// command that prints at once cannot fill the pipe's buffer first): (exit code, stderr).
fn into_closed_pipe(mut cmd: Command) -> (i32, String) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = cmd
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run neo4j-gw");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A loopback port nobody listens on (bound, then released).
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread")]
async fn pipes_refused_connections_and_narrow_terminals() {
    let emu = Emulator::start();
    let (_zone, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "pipes");
    verified(&st.up(&cert, &[]));

    // A closed stdout: quiet, exit 141, for every printer.
    let printers: Vec<Vec<&str>> = vec![
        vec!["status"],
        vec!["status", "--json"],
        vec!["plan", "--down"],
        vec!["logs"],
        vec!["tools"],
        vec!["token"],
        vec!["connect", "--client", "claude-code"],
        vec!["completions", "bash"],
        vec!["--help"],
    ];
    for args in &printers {
        let (code, stderr) = into_closed_pipe(st.command(args));
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        if args[0] == "--help" {
            // clap's own help: no panic is what matters.
            continue;
        }
        assert_eq!(code, 141, "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }

    // A refused connection: reported at once, naming it and what to check.
    let dead = format!("http://127.0.0.1:{}", dead_port());
    for args in [
        vec!["token"],
        vec!["tools"],
        vec!["call", "read-cypher", "--args", r#"{"query":"RETURN 1"}"#],
    ] {
        let mut all = vec!["--data-plane-endpoint", dead.as_str()];
        all.extend_from_slice(&args);
        let (code, _, stderr, secs) = bounded(&st, st.command_without_data_plane(&all));
        eprintln!("refused connection, {args:?}: exit {code} after {secs:.2} s");
        assert_ne!(code, 124, "{args:?} hung");
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains("was refused") && stderr.contains("--data-plane-endpoint"),
            "{args:?}: {stderr}"
        );
        assert!(
            !stderr.contains("resolve"),
            "{args:?}: blames DNS: {stderr}"
        );
    }
    let endpoint = format!("{dead}/oauth2/token");
    let (code, _, stderr, secs) =
        bounded(&st, st.command(&["token", "--token-endpoint", &endpoint]));
    eprintln!("refused connection, token --token-endpoint: exit {code} after {secs:.2} s");
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("was refused") && stderr.contains("--token-endpoint"),
        "{stderr}"
    );

    // `token` that works prints the token and nothing on stderr.
    let token = st.run(&["token"]);
    token.ok();
    assert!(token.stdout.starts_with("ey"), "{}", token.stdout);
    assert_eq!(token.stderr, "", "token wrote on stderr");

    // connect: the token command carries the data plane, and works where a client runs it.
    let r = st.run(&["connect", "--client", "claude-code"]);
    r.ok();
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    let helper = doc["mcpServers"]["pipes"]["headersHelper"]
        .as_str()
        .unwrap();
    assert!(
        helper.contains(&format!("--data-plane-endpoint {}", emu.data_plane)),
        "{helper}"
    );
    let out = Command::new("/bin/sh")
        .args(["-c", helper])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .current_dir("/")
        .output()
        .unwrap();
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

    // status fits COLUMNS; off a terminal without it, lines are whole.
    let mut narrow = st.command(&["status"]);
    narrow.env("COLUMNS", "80");
    let r = st.run_cmd(narrow);
    r.ok();
    let wide: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.chars().count() > 80)
        .collect();
    assert!(wide.is_empty(), "lines wider than 80:\n{}", wide.join("\n"));
    let whole = st.run(&["status"]);
    assert!(
        whole.stdout.lines().any(|l| l.chars().count() > 80),
        "off a terminal, lines are printed whole"
    );
    assert!(r.stdout.contains("gateway_url") || r.stdout.contains("Outputs"));
}

/// The width of the pseudo-terminal `script` makes when its own input is not a terminal.
const WIDTH: usize = 80;

/// What a terminal `WIDTH` columns wide shows after `bytes` were written to it: the few sequences the live view uses
/// (carriage return, line feed, cursor up and down, erase line, erase below; colours and cursor visibility ignored),
/// and the automatic wrap after the last column (a character written there leaves the cursor on the same line until
/// the next character, as xterm does).
fn screen(bytes: &str) -> Vec<String> {
    let mut lines: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = bytes.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => col = 0,
            '\n' => {
                row += 1;
                col = 0;
                if lines.len() <= row {
                    lines.push(Vec::new());
                }
            }
            '\u{1b}' if chars.peek() == Some(&'[') => {
                chars.next();
                let mut arg = String::new();
                let mut cmd = ' ';
                for d in chars.by_ref() {
                    if d.is_ascii_digit() || d == ';' || d == '?' {
                        arg.push(d);
                    } else {
                        cmd = d;
                        break;
                    }
                }
                let n: usize = arg.parse().unwrap_or(1).max(1);
                match cmd {
                    'A' => {
                        row = row.saturating_sub(n);
                        col = col.min(WIDTH - 1);
                    }
                    'B' => {
                        col = col.min(WIDTH - 1);
                        row += n;
                        while lines.len() <= row {
                            lines.push(Vec::new());
                        }
                    }
                    'G' => col = n - 1,
                    'K' => {
                        let l = &mut lines[row];
                        if arg == "2" {
                            l.clear();
                        } else {
                            l.truncate(col);
                        }
                    }
                    'J' => {
                        lines[row].truncate(col);
                        lines.truncate(row + 1);
                    }
                    _ => {}
                }
            }
            // Other control characters (e.g. the ETX a terminal echoes for Ctrl-C without ECHOCTL) show nothing.
            c if c.is_control() => {}
            c => {
                if col >= WIDTH {
                    row += 1;
                    col = 0;
                    if lines.len() <= row {
                        lines.push(Vec::new());
                    }
                }
                let l = &mut lines[row];
                while l.len() < col {
                    l.push(' ');
                }
                if col < l.len() {
                    l[col] = c;
                } else {
                    l.push(c);
                }
                col += 1;
            }
        }
    }
    lines
        .into_iter()
        .map(|l| l.into_iter().collect::<String>().trim_end().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn the_terminal_model_follows_the_live_views_sequences() {
    assert_eq!(
        screen("a\nspinner 1\r\u{1b}[2Kspinner 2\r\u{1b}[1A\u{1b}[Jdone\n"),
        vec!["done"]
    );
    // A full line leaves the cursor on it until the next character.
    let full = "x".repeat(WIDTH);
    assert_eq!(screen(&format!("{full}y")), vec![full.clone(), "y".into()]);
    assert_eq!(screen(&format!("{full}\r\n\u{1b}[1A\u{1b}[2Kz")), vec!["z"]);
}

/// Ctrl-C typed on a terminal while `up` waits for the service (the emulator runs no tasks): the message is printed
/// through the live view, and at the end the view is gone, the summary and the error stand alone.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_on_a_terminal_clears_the_live_view() {
    let emu = Emulator::start_with(&["--no-ecs-agent"]);
    let (_zone, cert) = fixtures(&emu).await;
    let st = Stack::new(&emu, "ctrlc");
    let inner = st.command(&[
        "up",
        "--domain-name",
        DOMAIN,
        "--certificate-arn",
        &cert,
        "--no-verify",
    ]);
    let quote = |w: &std::ffi::OsStr| format!("'{}'", w.to_str().unwrap().replace('\'', r"'\''"));
    let line = std::iter::once(inner.get_program())
        .chain(inner.get_args())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new("timeout");
    cmd.args(["120", "script", "-qefc", &line, "/dev/null"])
        .env_clear()
        .current_dir(st.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.env("TERM", "xterm")
        .env("COLUMNS", "200")
        .env("LINES", "60");
    let mut child = cmd.spawn().expect("script (util-linux)");
    let mut stdin = child.stdin.take().unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    // Read what the terminal shows until `up` waits for the service, then type Ctrl-C.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = out.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "up ended before it waited: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
        if String::from_utf8_lossy(&seen).contains("waiting for the service") {
            break;
        }
    }
    stdin.write_all(b"\x03").unwrap();
    stdin.flush().unwrap();
    let mut rest = Vec::new();
    out.read_to_end(&mut rest).unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    seen.extend_from_slice(&rest);
    let raw = String::from_utf8_lossy(&seen).into_owned();
    if let Ok(dump) = std::env::var("NEO4J_GW_TEST_DUMP") {
        std::fs::write(dump, &raw).unwrap();
    }
    assert_ne!(status.code(), Some(124), "up did not stop: {raw}");
    assert_eq!(status.code(), Some(130), "{raw}");
    let shown = screen(&raw);
    let text = shown.join("\n");
    assert!(
        shown
            .iter()
            .any(|l| l.starts_with("SIGINT received: stopping after the calls in flight")),
        "the signal's message was erased:\n{text}"
    );
    // The end: the service's outcome, the summary and the error — no frame of the live view anywhere.
    let error = shown
        .iter()
        .rposition(|l| l.starts_with("error: interrupted by SIGINT"))
        .unwrap_or_else(|| panic!("no error line:\n{text}"));
    assert!(
        shown[..error]
            .iter()
            .any(|l| l.starts_with("up: ") && l.contains(" created")),
        "no summary before the error:\n{text}"
    );
    assert!(
        !shown
            .iter()
            .any(|l| l.contains(" done · ") || l.contains("waiting for the service")),
        "a frame of the live view stayed on the screen:\n{text}"
    );
    let _ = out.fill_buf();
}
