//! The stack benchmark (`scripts/bench`): the release binary against moto behind the test suite's latency proxy,
//! which adds a fixed delay to every AWS request, with AgentCore's gateway and target transitions taking seconds
//! (the emulator's `--agentcore-delay-seconds`).
//!
//! Per command (fresh `up`, no-op `up`, `status`, `down`) it prints wall time, AWS requests (read / mutating,
//! counted by the proxy), the most requests in flight at once, the critical path computed from the run's own
//! per-resource timings (`--timings`), wall / critical path and peak RSS; once with the default concurrency and
//! once with `--concurrency 1` (the sequential baseline), side by side. Then `--help`'s start-up time and the
//! binary's size, and the goals with met / NOT MET. `--json` prints the same as one JSON document.
//!
//! Figures depend on the machine; the request counts do not. Nothing here talks to anything but 127.0.0.1.
//!
//!   cargo bench --profile dev --bench stack -- [--latency-ms 100] [--agentcore-delay 2] [--json] [--out FILE]
//!   (NEO4J_GW_BIN names the binary to measure; scripts/bench builds the release one and sets it)

// The integration tests' support (tests/it/main.rs compiles it whole); the benchmark uses a part of it, and its unit
// tests are not run here (no test harness): their imports look unused.
#[allow(dead_code, unused_imports)]
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::proxy::{Faults, Proxy};
use support::{DOMAIN, Emulator, Stack};

struct Options {
    latency_ms: u64,
    agentcore_delay: f64,
    json: bool,
    out: Option<PathBuf>,
    /// Keep each run's `--timings` files (JSON and HTML) here.
    timings_dir: Option<PathBuf>,
}

fn options() -> Options {
    let mut o = Options {
        latency_ms: 100,
        agentcore_delay: 2.0,
        json: false,
        out: None,
        timings_dir: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--latency-ms" => {
                o.latency_ms = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--latency-ms N")
            }
            "--agentcore-delay" => {
                o.agentcore_delay = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--agentcore-delay S")
            }
            "--json" => o.json = true,
            "--out" => o.out = Some(PathBuf::from(args.next().expect("--out FILE"))),
            "--timings-dir" => {
                o.timings_dir = Some(PathBuf::from(args.next().expect("--timings-dir DIR")))
            }
            // cargo bench passes --bench to harness-less targets.
            "--bench" => {}
            other => {
                panic!("unknown argument {other}; see the comment at the top of benches/stack.rs")
            }
        }
    }
    o
}

/// One measured run.
struct Measured {
    wall: Duration,
    code: i32,
    reads: usize,
    mutating: usize,
    max_in_flight: usize,
    peak_rss_kb: i64,
    timings: Value,
    stderr: String,
    /// The call ledger's entries (service, operation, node, phase) of the run.
    calls: Vec<Value>,
}

impl Measured {
    fn json(&self) -> Value {
        json!({
            "wall_s": secs(self.wall),
            "exit": self.code,
            "requests": self.reads + self.mutating,
            "read": self.reads,
            "mutating": self.mutating,
            "max_in_flight": self.max_in_flight,
            "critical_path_s": self.critical_path_s(),
            "wall_over_critical_path": self.ratio(),
            "peak_rss_mb": self.rss_mb(),
            "critical_path": self.timings["critical_path"],
            "requests_by_phase": self.by_phase(),
        })
    }
    /// Requests per engine phase (`observe`, `create`, `wait`, `delete`, `gone`, …; `command` for the command's own).
    fn by_phase(&self) -> std::collections::BTreeMap<String, usize> {
        let mut out = std::collections::BTreeMap::new();
        for c in &self.calls {
            *out.entry(c["phase"].as_str().unwrap_or("command").to_owned())
                .or_default() += 1;
        }
        out
    }
    fn critical_path_s(&self) -> f64 {
        self.timings["critical_path_ms"].as_f64().unwrap_or(0.0) / 1e3
    }
    fn ratio(&self) -> f64 {
        let cp = self.critical_path_s();
        if cp > 0.0 {
            self.wall.as_secs_f64() / cp
        } else {
            0.0
        }
    }
    fn rss_mb(&self) -> f64 {
        self.peak_rss_kb as f64 / 1024.0
    }
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Runs the binary through the proxy and waits for it with wait4, which reports the child's peak RSS (and reaps it:
/// clippy cannot see that).
#[allow(clippy::zombie_processes)]
fn measure(proxy: &Proxy, stack: &Stack, dir: &Path, label: &str, args: &[&str]) -> Measured {
    let timings = dir.join(format!("{}-{label}.json", stack.name));
    let ledger = stack.dir.path().join("calls.jsonl");
    let _ = std::fs::remove_file(&ledger);
    let mut full: Vec<&str> = vec!["--endpoint-url", &proxy.endpoint];
    let t = timings.to_string_lossy().into_owned();
    full.extend_from_slice(&["--timings", &t]);
    full.extend_from_slice(args);
    let mut cmd = stack.command(&full);
    let out_path = dir.join(format!("{}-{label}.out", stack.name));
    let err_path = dir.join(format!("{}-{label}.err", stack.name));
    cmd.stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    proxy.arm(Faults {
        latency: Duration::from_millis(proxy_latency()),
        ..Faults::none()
    });
    let start = Instant::now();
    let child = cmd.spawn().expect("spawn neo4j-gw");
    let (code, peak_rss_kb) = wait4(child.id() as i32);
    let wall = start.elapsed();
    proxy.quiesce(Duration::from_secs(60));
    let requests = proxy.requests();
    let mutating = requests.iter().filter(|r| r.mutating).count();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let timings = std::fs::read_to_string(&timings)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);
    let calls = std::fs::read_to_string(&ledger)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    Measured {
        calls,
        wall,
        code,
        reads: requests.len() - mutating,
        mutating,
        max_in_flight: proxy.max_in_flight(),
        peak_rss_kb,
        timings,
        stderr,
    }
}

static LATENCY_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(100);
fn proxy_latency() -> u64 {
    LATENCY_MS.load(std::sync::atomic::Ordering::SeqCst)
}

/// Exit code and peak RSS (KiB) of a child.
fn wait4(pid: i32) -> (i32, i64) {
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    (code, usage.ru_maxrss)
}

/// The median of `n` runs of `neo4j-gw --help`, and the peak RSS of the last (each reaped by wait4).
#[allow(clippy::zombie_processes)]
fn help_time(bin: &Path, n: usize) -> (Duration, i64) {
    let mut times = Vec::new();
    let mut rss = 0;
    for _ in 0..n {
        let start = Instant::now();
        let child = Command::new(bin)
            .arg("--help")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn --help");
        let (code, r) = wait4(child.id() as i32);
        times.push(start.elapsed());
        assert_eq!(code, 0, "--help failed");
        rss = r;
    }
    times.sort();
    (times[n / 2], rss)
}

const COMMANDS: [&str; 5] = [
    "up (fresh)",
    "up (no-op)",
    "up --no-verify",
    "status",
    "down",
];

fn run_mode(
    proxy: &Proxy,
    emu: &Emulator,
    cert: &str,
    dir: &Path,
    name: &str,
    concurrency: &str,
) -> Vec<Measured> {
    let stack = Stack::new(emu, name);
    let c = ["--concurrency", concurrency];
    let fresh = [
        &c[..],
        &[
            "up",
            "--domain-name",
            DOMAIN,
            "--certificate-arn",
            cert,
            "--yes",
        ],
    ]
    .concat();
    let runs = vec![
        measure(proxy, &stack, dir, "up-fresh", &fresh),
        measure(proxy, &stack, dir, "up-noop", &[&c[..], &["up"]].concat()),
        // The same without the final listing of the tools through the gateway: what the engine takes, without
        // the local data plane's MCP round trips.
        measure(
            proxy,
            &stack,
            dir,
            "up-noop-noverify",
            &[&c[..], &["up", "--no-verify"]].concat(),
        ),
        measure(
            proxy,
            &stack,
            dir,
            "status",
            &[&c[..], &["status"]].concat(),
        ),
        measure(
            proxy,
            &stack,
            dir,
            "down",
            &[&c[..], &["down", "--yes"]].concat(),
        ),
    ];
    for (label, m) in COMMANDS.iter().zip(&runs) {
        // `status` exits 3 when something is unhealthy; every other command must succeed.
        if m.code != 0 {
            eprintln!(
                "bench: {label} (--concurrency {concurrency}) exited {}:\n{}",
                m.code, m.stderr
            );
            std::process::exit(1);
        }
    }
    runs
}

fn main() {
    let o = options();
    LATENCY_MS.store(o.latency_ms, std::sync::atomic::Ordering::SeqCst);
    let bin = PathBuf::from(
        std::env::var("NEO4J_GW_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_neo4j-gw").into()),
    );
    let delay = format!("{}", o.agentcore_delay);
    let emu = Emulator::start_with(&["--agentcore-delay-seconds", &delay]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_zone, cert) = rt.block_on(support::fixtures(&emu));
    let proxy = Proxy::start(&emu.endpoint);
    let temp = tempfile::tempdir().unwrap();
    let dir = match &o.timings_dir {
        Some(d) => {
            std::fs::create_dir_all(d).expect("create --timings-dir");
            d.clone()
        }
        None => temp.path().to_owned(),
    };
    eprintln!(
        "bench: {} against moto at {} behind a proxy adding {} ms per AWS request; AgentCore transitions {} s",
        bin.display(),
        emu.endpoint,
        o.latency_ms,
        o.agentcore_delay
    );
    let parallel = run_mode(&proxy, &emu, &cert, &dir, "benchpar", "0");
    let sequential = run_mode(&proxy, &emu, &cert, &dir, "benchseq", "1");
    let (help, help_rss) = help_time(&bin, 21);
    let size = std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0);

    // The goals of issue 11, at the latency measured.
    let lat = o.latency_ms as f64 / 1e3;
    let [fresh, noop, noverify, status, down] = [
        &parallel[0],
        &parallel[1],
        &parallel[2],
        &parallel[3],
        &parallel[4],
    ];
    let verify_s = noop.timings["critical_path"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["node"] == "(verify)")
        .filter_map(|e| e["ms"].as_f64())
        .sum::<f64>()
        / 1e3;
    let budget = |goal: &'static str, m: &Measured| {
        let requests = m.reads + m.mutating;
        (
            goal,
            requests <= 30 && m.mutating == 0,
            format!("{requests} requests, {} mutating", m.mutating),
        )
    };
    let peak_rss = parallel
        .iter()
        .chain(&sequential)
        .map(|m| m.rss_mb())
        .fold(help_rss as f64 / 1024.0, f64::max);
    let goals = vec![
        (
            "status wall ≤ 0.9 s at 100 ms/call (scaled: 9 × latency)",
            status.wall.as_secs_f64() <= 9.0 * lat,
            format!("{:.2} s", status.wall.as_secs_f64()),
        ),
        (
            "no-op up wall ≤ 0.9 s at 100 ms/call (scaled: 9 × latency)",
            noop.wall.as_secs_f64() <= 9.0 * lat,
            format!(
                "{:.2} s, of which {verify_s:.2} s listing the tools through the local data plane",
                noop.wall.as_secs_f64()
            ),
        ),
        (
            "no-op up --no-verify wall ≤ 0.9 s at 100 ms/call (scaled: 9 × latency)",
            noverify.wall.as_secs_f64() <= 9.0 * lat,
            format!("{:.2} s", noverify.wall.as_secs_f64()),
        ),
        budget("status ≤ 30 requests, 0 mutating", status),
        budget("no-op up ≤ 30 requests, 0 mutating", noop),
        (
            "fresh up wall ≤ 1.1 × critical path",
            fresh.ratio() <= 1.1,
            format!("{:.2}", fresh.ratio()),
        ),
        (
            "down wall ≤ 1.1 × critical path",
            down.ratio() <= 1.1,
            format!("{:.2}", down.ratio()),
        ),
        (
            "peak RSS ≤ 50 MB, every command",
            peak_rss <= 50.0,
            format!("{peak_rss:.1} MB"),
        ),
        (
            "--help ≤ 10 ms",
            help <= Duration::from_millis(10),
            format!("{:.1} ms", help.as_secs_f64() * 1e3),
        ),
    ];

    let doc = json!({
        "latency_ms": o.latency_ms,
        "agentcore_delay_s": o.agentcore_delay,
        "binary": bin.display().to_string(),
        "binary_bytes": size,
        "help_ms": (help.as_secs_f64() * 1e4).round() / 10.0,
        "help_peak_rss_mb": (help_rss as f64 / 1024.0 * 10.0).round() / 10.0,
        "commands": COMMANDS.iter().enumerate().map(|(i, c)| json!({
            "command": c,
            "parallel": parallel[i].json(),
            "sequential": sequential[i].json(),
        })).collect::<Vec<_>>(),
        "goals": goals.iter().map(|(g, ok, v)| json!({"goal": g, "met": ok, "value": v})).collect::<Vec<_>>(),
    });
    if let Some(out) = &o.out {
        std::fs::write(out, serde_json::to_string_pretty(&doc).unwrap()).expect("write --out");
    }
    if o.json {
        println!("{}", serde_json::to_string_pretty(&doc).unwrap());
        return;
    }
    println!(
        "neo4j-gw benchmark: {} ms per AWS request, AgentCore transitions {} s; default concurrency vs --concurrency 1\n",
        o.latency_ms, o.agentcore_delay
    );
    println!(
        "{:<14} {:>8} {:>9} {:>10} {:>7} {:>8} {:>6} {:>7} │ {:>8} {:>9} {:>8} {:>6}",
        "command",
        "wall s",
        "requests",
        "read/mut",
        "in-flt",
        "crit. s",
        "w/cp",
        "RSS MB",
        "seq wall",
        "seq reqs",
        "seq cp",
        "speed"
    );
    for (i, c) in COMMANDS.iter().enumerate() {
        let (p, s) = (&parallel[i], &sequential[i]);
        println!(
            "{:<14} {:>8.2} {:>9} {:>10} {:>7} {:>8.2} {:>6.2} {:>7.1} │ {:>8.2} {:>9} {:>8.2} {:>5.1}×",
            c,
            p.wall.as_secs_f64(),
            p.reads + p.mutating,
            format!("{}/{}", p.reads, p.mutating),
            p.max_in_flight,
            p.critical_path_s(),
            p.ratio(),
            p.rss_mb(),
            s.wall.as_secs_f64(),
            s.reads + s.mutating,
            s.critical_path_s(),
            s.wall.as_secs_f64() / p.wall.as_secs_f64().max(1e-9),
        );
    }
    println!(
        "\n--help: {:.1} ms (median of 21), peak RSS {:.1} MB; binary {} ({:.1} MB)",
        help.as_secs_f64() * 1e3,
        help_rss as f64 / 1024.0,
        bin.display(),
        size as f64 / 1048576.0
    );
    println!("\ncritical path of the fresh up:");
    for e in fresh.timings["critical_path"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!(
            "  {:<8} {:<28} {:>7.0} ms",
            e["walk"].as_str().unwrap_or(""),
            e["node"].as_str().unwrap_or(""),
            e["ms"].as_f64().unwrap_or(0.0)
        );
    }
    println!("\nrequests by phase (default concurrency):");
    for (i, c) in COMMANDS.iter().enumerate() {
        let phases: Vec<String> = parallel[i]
            .by_phase()
            .iter()
            .map(|(p, n)| format!("{p} {n}"))
            .collect();
        println!("  {c:<14} {}", phases.join(", "));
    }
    println!("\ngoals (issue 11):");
    for (g, ok, v) in &goals {
        println!("  {} {g}: {v}", if *ok { "met    " } else { "NOT MET" });
    }
}
