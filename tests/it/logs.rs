//! `logs` reads the CloudWatch Logs of the server tasks and the interceptor, merged by time with
//! the source on each line, `--source`, `--since`, `--json`, and `--follow` until Ctrl-C — against the emulator's
//! CloudWatch Logs with events put by the test. Read-only.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::{Emulator, Stack};
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use serde_json::Value;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn put(logs: &aws_sdk_cloudwatchlogs::Client, group: &str, events: &[(i64, &str)]) {
    let batch: Vec<InputLogEvent> = events
        .iter()
        .map(|(ts, m)| {
            InputLogEvent::builder()
                .timestamp(*ts)
                .message(*m)
                .build()
                .unwrap()
        })
        .collect();
    logs.put_log_events()
        .log_group_name(group)
        .log_stream_name("stream-1")
        .set_log_events(Some(batch))
        .send()
        .await
        .unwrap();
}

/// The messages of `logs` text output, in order, with their source column.
fn lines(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let _ts = parts.next().unwrap();
            let source = parts.next().unwrap().to_owned();
            let message = parts.next().unwrap_or("").trim().to_owned();
            (source, message)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_merges_both_sources_by_time_and_follows_until_ctrl_c() {
    let emu = Emulator::start();
    let st = Stack::new(&emu, "logs");
    let server = format!("/neo4j-gw/{}/mcp", st.name);
    let interceptor = format!("/aws/lambda/{}-interceptor", st.name);

    // Nothing deployed: both log groups are named in the error.
    let r = st.run(&["logs"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&server) && r.stderr.contains(&interceptor),
        "{}",
        r.stderr
    );

    let logs = aws_sdk_cloudwatchlogs::Client::new(&emu.sdk().await);
    for g in [&server, &interceptor] {
        logs.create_log_group()
            .log_group_name(g)
            .send()
            .await
            .unwrap();
        logs.create_log_stream()
            .log_group_name(g)
            .log_stream_name("stream-1")
            .send()
            .await
            .unwrap();
    }
    let now = now_ms();
    put(
        &logs,
        &server,
        &[
            (now - 2 * 3600 * 1000, "server old"),
            (now - 5 * 60 * 1000, "server one"),
            (now - 60 * 1000, "server three"),
        ],
    )
    .await;
    put(
        &logs,
        &interceptor,
        &[(now - 3 * 60 * 1000, "interceptor two")],
    )
    .await;

    // The default window (10 minutes), merged by time, the source on each line; read-only.
    let r = st.run(&["logs"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        lines(&r.stdout),
        vec![
            ("server".into(), "server one".into()),
            ("interceptor".into(), "interceptor two".into()),
            ("server".into(), "server three".into()),
        ]
    );
    assert!(r.mutating().is_empty(), "{:?}", r.mutating());
    // One source; a longer window.
    let r = st.run(&["logs", "--source", "interceptor"]);
    assert_eq!(
        lines(&r.stdout),
        vec![("interceptor".into(), "interceptor two".into())]
    );
    let r = st.run(&["logs", "--since", "3h", "--source", "server"]);
    assert_eq!(lines(&r.stdout).len(), 3);
    assert_eq!(lines(&r.stdout)[0].1, "server old");
    let r = st.run(&["logs", "--since", "soon"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--since"), "{}", r.stderr);
    // JSON lines.
    let r = st.run(&["logs", "--json"]);
    let docs: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[1]["source"], "interceptor");
    assert_eq!(docs[1]["log_group"], interceptor.as_str());
    assert_eq!(docs[1]["log_stream"], "stream-1");
    assert_eq!(docs[1]["timestamp_ms"], now - 3 * 60 * 1000);
    assert!(docs[1]["timestamp"].as_str().unwrap().ends_with('Z'));

    // --follow: what is there, then what arrives, until SIGINT (exit 0).
    let mut cmd = st.command(&["logs", "--follow", "--json"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                break;
            }
        }
    });
    // An upper bound only: the events come as soon as the command has read them.
    let bound = Duration::from_secs(60);
    let first: Vec<String> = (0..3)
        .map(|_| {
            rx.recv_timeout(bound).expect("the existing events")["message"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(first, vec!["server one", "interceptor two", "server three"]);
    put(&logs, &interceptor, &[(now_ms(), "interceptor four")]).await;
    let next = rx.recv_timeout(bound).expect("the new event");
    assert_eq!(next["message"], "interceptor four");
    assert_eq!(next["source"], "interceptor");
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "Ctrl-C ends --follow normally");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!err.contains("saving the state"), "{err}");
    // Nothing seen twice.
    assert!(rx.try_iter().all(|v| v["message"] != "interceptor four"));
}
