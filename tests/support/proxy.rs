//! A fault-injection HTTP/1.1 proxy on 127.0.0.1 between `neo4j-gw` (`--endpoint-url <proxy>`) and the moto
//! server.
//!
//! It recognises every AWS request — the service from the SigV4 credential scope of `Authorization`, the
//! operation from the query protocol's `Action=`, the JSON protocol's `X-Amz-Target` or, for the REST services
//! (Route53, Lambda, AgentCore), from the method and path — and counts them. It classifies an operation as
//! mutating exactly as `src/ledger.rs` `is_mutating` does (a test checks the two agree on a real run).
//!
//! Faults, armed per run with [`Proxy::arm`]:
//! - a [`Trigger`] on the k-th mutating request: SIGKILL the process *before* forwarding the request (AWS never
//!   saw it) or *after* moto answered but before the answer reaches the process (AWS did it, the process never
//!   knows); once a SIGKILL fired, the proxy behaves as if the process were dead: nothing more is forwarded or
//!   answered. Or send SIGINT/SIGTERM and let the request through;
//! - a fraction of requests answered, instead of being forwarded, with throttling (the protocol's own error
//!   shape: HTTP 400 `Throttling`/`ThrottlingException`, EC2's 503 `RequestLimitExceeded`, REST-JSON's 429),
//!   HTTP 429 `TooManyRequestsException`, or HTTP 503. The decision for the n-th request of an operation is a
//!   pure function of (seed, service, operation, n), so a seed replays the same faults whatever the
//!   interleaving of concurrent calls;
//! - latency added to every request;
//! - creates that land late ([`Faults::land_late`]): the named operations are not forwarded but held, the process
//!   is SIGKILLed once so many were held (each was in flight when it died), and the held requests reach the
//!   emulator only when the test says so ([`Proxy::release_late`]) — after the next run looked for them. That is
//!   what AWS does with a create a killed process sent: it carries it out, and its reads show it eventually.
//!
//! Plain HTTP/1.1 with Content-Length or chunked bodies (the SDK sends Content-Length for every call we make;
//! chunked is decoded anyway). One upstream connection per request (`Connection: close`), keep-alive towards
//! the client. The proxy runs on its own thread and runtime, so tests may block on child processes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Whether an operation changes anything: the same rule as `src/ledger.rs` `is_mutating`.
pub fn is_mutating(operation: &str) -> bool {
    ![
        "Describe", "Get", "List", "Head", "Lookup", "Search", "BatchGet", "Filter",
    ]
    .iter()
    .any(|p| operation.starts_with(p))
}

/// When a trigger fires relative to the triggering request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before the request is forwarded: AWS never sees it.
    Before,
    /// After moto answered, before the answer is passed on: AWS did it, the caller does not know.
    After,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Kill,
    Int,
    Term,
    /// No signal: hold the request until [`Proxy::release`] (a synchronisation point for tests).
    Hold,
    /// No signal: forward the request, then answer HTTP 503 instead of moto's answer — AWS did it, the caller
    /// sees a passing error and (the SDK's retry, the engine's second look) may repeat it in the same run.
    LoseAnswer,
    /// No signal: forward the request, then close the connection without an answer (a reset after AWS did it).
    DropConnection,
}

impl Sig {
    fn number(self) -> i32 {
        match self {
            Sig::Kill => libc::SIGKILL,
            Sig::Int => libc::SIGINT,
            Sig::Term => libc::SIGTERM,
            Sig::Hold | Sig::LoseAnswer | Sig::DropConnection => 0,
        }
    }
}

/// Fire a signal at the k-th (1-based) mutating request.
#[derive(Debug, Clone, Copy)]
pub struct Trigger {
    pub k: usize,
    pub phase: Phase,
    pub signal: Sig,
    /// Instead of the k-th: the first mutating request of this operation (e.g. `DeleteUserPool`).
    pub operation: Option<&'static str>,
}

/// The transient error answered instead of forwarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The protocol's throttling error (code `Throttling`, `ThrottlingException`, `RequestLimitExceeded` …).
    Throttle,
    /// HTTP 429 with `TooManyRequestsException`.
    TooMany,
    /// HTTP 503 `ServiceUnavailable`.
    Unavailable,
}

/// What the proxy does during one run.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub trigger: Option<Trigger>,
    /// Fraction (0..=1) of requests answered with a transient error instead of being forwarded.
    pub error_rate: f64,
    /// The errors to choose from (uniformly); empty = all three.
    pub error_kinds: Vec<FaultKind>,
    pub seed: u64,
    /// Added before every request is handled.
    pub latency: Duration,
    /// Mutating operations held and delivered late (see [`Faults::land_late`]).
    pub land_late: Vec<&'static str>,
    /// SIGKILL the process once this many requests were held for late delivery in this run (0: never).
    pub kill_after_held: usize,
    /// When the n-th request of this operation arrives in this run: let every held request land, then forward it
    /// (so that very request is the first to see them).
    pub release_late_at: Option<(&'static str, usize)>,
}

impl Faults {
    pub fn none() -> Faults {
        Faults::default()
    }
    pub fn kill_at(k: usize, phase: Phase) -> Faults {
        Faults {
            trigger: Some(Trigger {
                k,
                phase,
                signal: Sig::Kill,
                operation: None,
            }),
            ..Faults::default()
        }
    }
    pub fn signal_at(k: usize, signal: Sig) -> Faults {
        Faults {
            trigger: Some(Trigger {
                k,
                phase: Phase::Before,
                signal,
                operation: None,
            }),
            ..Faults::default()
        }
    }
    /// SIGKILL at the first mutating request of `operation`.
    /// The answer to the k-th mutating request is lost after moto carried it out: a 503 (`LoseAnswer`) or a
    /// closed connection (`DropConnection`) reaches the process instead.
    pub fn lose_answer_at(k: usize, how: Sig) -> Faults {
        Faults {
            trigger: Some(Trigger {
                k,
                phase: Phase::After,
                signal: how,
                operation: None,
            }),
            ..Faults::default()
        }
    }
    pub fn kill_at_operation(operation: &'static str, phase: Phase) -> Faults {
        Faults {
            trigger: Some(Trigger {
                k: 0,
                phase,
                signal: Sig::Kill,
                operation: Some(operation),
            }),
            ..Faults::default()
        }
    }
    /// Holds every request of `operations` (no answer reaches the process) and SIGKILLs the process as soon as
    /// `kill_after` of them are held; they reach the emulator only at [`Proxy::release_late`].
    pub fn land_late(operations: &[&'static str], kill_after: usize) -> Faults {
        Faults {
            land_late: operations.to_vec(),
            kill_after_held: kill_after,
            ..Faults::default()
        }
    }
    pub fn transient(rate: f64, seed: u64) -> Faults {
        Faults {
            error_rate: rate,
            seed,
            ..Faults::default()
        }
    }
}

/// What happened to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Forwarded; moto's HTTP status.
    Forwarded(u16),
    /// Answered by the proxy with this transient error.
    Faulted(FaultKind),
    /// The trigger fired on it (the fault is `Proxy::fired`); for SIGINT/SIGTERM it was then forwarded.
    Triggered(Option<u16>),
    /// Arrived after the process was killed: neither forwarded nor answered.
    Dropped,
    /// Held for late delivery ([`Faults::land_late`]): never answered; forwarded at [`Proxy::release_late`].
    HeldLate,
    /// The upstream connection failed.
    UpstreamError(String),
}

#[derive(Debug, Clone)]
pub struct Request {
    pub service: String,
    pub operation: String,
    pub mutating: bool,
    pub fate: Fate,
}

/// The request the trigger fired on.
#[derive(Debug, Clone)]
pub struct Fired {
    pub k: usize,
    pub service: String,
    pub operation: String,
}

struct Inner {
    upstream: String,
    faults: Mutex<Faults>,
    log: Mutex<Vec<Request>>,
    occurrences: Mutex<BTreeMap<(String, String), u64>>,
    mutating: AtomicUsize,
    fired: Mutex<Option<Fired>>,
    fired_cv: std::sync::Condvar,
    released: watch::Sender<bool>,
    dead: AtomicBool,
    pid: watch::Sender<Option<i32>>,
    in_flight: Mutex<usize>,
    /// The most requests in flight at once since the last `arm`.
    max_in_flight: AtomicUsize,
    idle: std::sync::Condvar,
    generation: AtomicUsize,
    /// Requests held for late delivery in this run.
    held: AtomicUsize,
    /// Releases every request held for late delivery (not reset by `arm`: they outlive their run).
    late_release: watch::Sender<bool>,
    /// `service:Operation` and moto's status of each late delivery, in landing order.
    landed: Mutex<Vec<(String, Option<u16>)>>,
    landed_cv: std::sync::Condvar,
    /// Held requests that have not landed yet.
    pending_late: watch::Sender<usize>,
    /// Requests per operation in this run (for `release_late_at`).
    seen: Mutex<BTreeMap<String, usize>>,
}

/// The proxy; stops when dropped.
pub struct Proxy {
    pub endpoint: String,
    inner: Arc<Inner>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Starts a proxy in front of `upstream` (`http://127.0.0.1:PORT`), with no faults armed.
    pub fn start(upstream: &str) -> Proxy {
        let upstream = upstream
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("upstream must be http://127.0.0.1:PORT, got {upstream}"))
            .trim_end_matches('/')
            .to_owned();
        assert!(
            upstream.starts_with("127.0.0.1:"),
            "the proxy only talks to 127.0.0.1, not {upstream}"
        );
        let (pid, _) = watch::channel(None);
        let inner = Arc::new(Inner {
            upstream,
            faults: Mutex::new(Faults::none()),
            log: Mutex::new(Vec::new()),
            occurrences: Mutex::new(BTreeMap::new()),
            mutating: AtomicUsize::new(0),
            fired: Mutex::new(None),
            fired_cv: std::sync::Condvar::new(),
            released: watch::channel(false).0,
            dead: AtomicBool::new(false),
            pid,
            in_flight: Mutex::new(0),
            max_in_flight: AtomicUsize::new(0),
            idle: std::sync::Condvar::new(),
            generation: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
            late_release: watch::channel(false).0,
            landed: Mutex::new(Vec::new()),
            landed_cv: std::sync::Condvar::new(),
            pending_late: watch::channel(0).0,
            seen: Mutex::new(BTreeMap::new()),
        });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let inner2 = inner.clone();
        let thread = std::thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                rt.block_on(async move {
                    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
                    ready_tx
                        .send(listener.local_addr().expect("proxy address").port())
                        .ok();
                    let accept = async {
                        loop {
                            let Ok((sock, _)) = listener.accept().await else {
                                continue;
                            };
                            let inner = inner2.clone();
                            tokio::spawn(async move {
                                let _ = serve(inner, sock).await;
                            });
                        }
                    };
                    tokio::select! {
                        _ = accept => {},
                        _ = stop_rx => {},
                    }
                });
            })
            .expect("spawn proxy thread");
        let port = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("proxy did not start");
        Proxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            inner,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Arms the faults of the next run and resets the counters, the log and the target process.
    pub fn arm(&self, faults: Faults) {
        if faults.error_rate > 0.0 || faults.trigger.is_some() {
            eprintln!(
                "fault proxy: {faults:?} (replay with the same seed: {})",
                faults.seed
            );
        }
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        *self.inner.faults.lock().unwrap() = faults;
        self.inner.log.lock().unwrap().clear();
        self.inner.occurrences.lock().unwrap().clear();
        self.inner.mutating.store(0, Ordering::SeqCst);
        self.inner.max_in_flight.store(0, Ordering::SeqCst);
        *self.inner.fired.lock().unwrap() = None;
        self.inner.released.send_replace(false);
        self.inner.dead.store(false, Ordering::SeqCst);
        self.inner.pid.send_replace(None);
        self.inner.held.store(0, Ordering::SeqCst);
        self.inner.seen.lock().unwrap().clear();
    }

    /// How many requests this run had held for late delivery.
    pub fn held(&self) -> usize {
        self.inner.held.load(Ordering::SeqCst)
    }

    /// Lets every request held for late delivery through to the emulator (and any held later, until
    /// [`Proxy::take_landed`]).
    pub fn release_late(&self) {
        self.inner.late_release.send_replace(true);
    }

    /// Waits until `n` held requests have landed (bounded by `limit`: panics after it), returns what landed
    /// (`service:Operation`, moto's status) and holds the next ones again.
    pub fn take_landed(&self, n: usize, limit: Duration) -> Vec<(String, Option<u16>)> {
        let guard = self.inner.landed.lock().unwrap();
        let (mut guard, timeout) = self
            .inner
            .landed_cv
            .wait_timeout_while(guard, limit, |l| l.len() < n)
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "only {} of {n} held requests landed within {limit:?}",
            guard.len()
        );
        self.inner.late_release.send_replace(false);
        std::mem::take(&mut *guard)
    }

    /// The process the trigger signals (set right after spawning it).
    pub fn set_pid(&self, pid: u32) {
        self.inner.pid.send_replace(Some(pid as i32));
    }

    /// Every request of the run, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.inner.log.lock().unwrap().clone()
    }

    /// `service:Operation` of every mutating request, in arrival order (retries included).
    pub fn mutating(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.mutating)
            .map(|r| format!("{}:{}", r.service, r.operation))
            .collect()
    }

    /// Requests per `service:Operation`.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for r in self.requests() {
            *out.entry(format!("{}:{}", r.service, r.operation))
                .or_default() += 1;
        }
        out
    }

    pub fn fired(&self) -> Option<Fired> {
        self.inner.fired.lock().unwrap().clone()
    }

    /// Blocks until the armed trigger fired (bounded by `limit`; `None` when it did not).
    pub fn wait_fired(&self, limit: Duration) -> Option<Fired> {
        let guard = self.inner.fired.lock().unwrap();
        let (guard, _) = self
            .inner
            .fired_cv
            .wait_timeout_while(guard, limit, |f| f.is_none())
            .unwrap();
        guard.clone()
    }

    /// Lets a request held by a [`Sig::Hold`] trigger through.
    pub fn release(&self) {
        self.inner.released.send_replace(true);
    }

    /// The most requests that were in flight at once since the last [`Proxy::arm`].
    #[allow(
        dead_code,
        reason = "the benchmark's figure (benches/stack.rs); no test asserts it"
    )]
    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight.load(Ordering::SeqCst)
    }

    /// How many transient errors were injected.
    pub fn faults_injected(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| matches!(r.fate, Fate::Faulted(_)))
            .count()
    }

    /// Waits until no request is being forwarded to moto (so a killed run's last calls have landed before the
    /// next run starts). Bounded: panics after `limit`.
    pub fn quiesce(&self, limit: Duration) {
        let guard = self.inner.in_flight.lock().unwrap();
        let (guard, timeout) = self
            .inner
            .idle
            .wait_timeout_while(guard, limit, |n| *n > 0)
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "{} request(s) still in flight at moto after {limit:?}",
            *guard
        );
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// splitmix64: a tiny, good-enough deterministic PRNG step.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A uniform number in [0, 1) for the n-th occurrence of an operation under a seed.
fn draw(seed: u64, key: &str, n: u64, salt: u64) -> f64 {
    let r = splitmix(splitmix(seed ^ fnv(key)) ^ n.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ salt);
    (r >> 11) as f64 / (1u64 << 53) as f64
}

#[derive(Clone)]
struct Head {
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn read_head<R: AsyncBufReadExt + Unpin>(r: &mut R) -> std::io::Result<Option<Head>> {
    let mut first = String::new();
    loop {
        first.clear();
        if r.read_line(&mut first).await? == 0 {
            return Ok(None);
        }
        if !first.trim().is_empty() {
            break;
        }
    }
    let mut parts = first.trim_end().splitn(3, ' ');
    let (method, target, version) = (
        parts.next().unwrap_or("").to_owned(),
        parts.next().unwrap_or("").to_owned(),
        parts.next().unwrap_or("HTTP/1.1").to_owned(),
    );
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "eof in headers",
            ));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    Ok(Some(Head {
        method,
        target,
        version,
        headers,
    }))
}

/// Reads a body framed by Content-Length or chunked encoding; `until_eof` for responses without either.
async fn read_body<R: AsyncBufReadExt + Unpin>(
    r: &mut R,
    head: &Head,
    until_eof: bool,
) -> std::io::Result<Vec<u8>> {
    let chunked = head
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        let mut body = Vec::new();
        loop {
            let mut size = String::new();
            r.read_line(&mut size).await?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await? == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                return Ok(body);
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..]).await?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf).await?;
        }
    }
    if let Some(len) = head.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).await?;
        return Ok(body);
    }
    let mut body = Vec::new();
    if until_eof {
        r.read_to_end(&mut body).await?;
    }
    Ok(body)
}

/// The AWS service from the SigV4 credential scope (`Credential=AKID/DATE/REGION/SERVICE/aws4_request`).
fn service_of(head: &Head) -> String {
    head.header("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split([',', ' ']).next())
        .and_then(|c| c.split('/').nth(3))
        .map(str::to_owned)
        .unwrap_or_else(|| "unsigned".to_owned())
}

fn form_value(body: &str, key: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// REST operations of the services that use REST protocols (from the SDK's request serializers):
/// (service, method, path template with `*` for one segment, operation).
const REST: &[(&str, &str, &str, &str)] = &[
    // Route53 (restXml)
    (
        "route53",
        "POST",
        "/2013-04-01/hostedzone",
        "CreateHostedZone",
    ),
    (
        "route53",
        "GET",
        "/2013-04-01/hostedzone",
        "ListHostedZones",
    ),
    (
        "route53",
        "GET",
        "/2013-04-01/hostedzone/*",
        "GetHostedZone",
    ),
    (
        "route53",
        "POST",
        "/2013-04-01/hostedzone/*",
        "UpdateHostedZoneComment",
    ),
    (
        "route53",
        "DELETE",
        "/2013-04-01/hostedzone/*",
        "DeleteHostedZone",
    ),
    (
        "route53",
        "POST",
        "/2013-04-01/hostedzone/*/rrset",
        "ChangeResourceRecordSets",
    ),
    (
        "route53",
        "GET",
        "/2013-04-01/hostedzone/*/rrset",
        "ListResourceRecordSets",
    ),
    (
        "route53",
        "POST",
        "/2013-04-01/hostedzone/*/associatevpc",
        "AssociateVPCWithHostedZone",
    ),
    (
        "route53",
        "GET",
        "/2013-04-01/hostedzonesbyname",
        "ListHostedZonesByName",
    ),
    (
        "route53",
        "GET",
        "/2013-04-01/hostedzonesbyvpc",
        "ListHostedZonesByVPC",
    ),
    (
        "route53",
        "GET",
        "/2013-04-01/hostedzonecount",
        "GetHostedZoneCount",
    ),
    ("route53", "GET", "/2013-04-01/change/*", "GetChange"),
    (
        "route53",
        "GET",
        "/2013-04-01/tags/*/*",
        "ListTagsForResource",
    ),
    (
        "route53",
        "POST",
        "/2013-04-01/tags/*/*",
        "ChangeTagsForResource",
    ),
    (
        "route53",
        "POST",
        "/2013-04-01/tags/*",
        "ListTagsForResources",
    ),
    // Lambda (restJson)
    ("lambda", "POST", "/2015-03-31/functions", "CreateFunction"),
    ("lambda", "GET", "/2015-03-31/functions", "ListFunctions"),
    ("lambda", "GET", "/2015-03-31/functions/*", "GetFunction"),
    (
        "lambda",
        "DELETE",
        "/2015-03-31/functions/*",
        "DeleteFunction",
    ),
    (
        "lambda",
        "GET",
        "/2015-03-31/functions/*/configuration",
        "GetFunctionConfiguration",
    ),
    (
        "lambda",
        "PUT",
        "/2015-03-31/functions/*/configuration",
        "UpdateFunctionConfiguration",
    ),
    (
        "lambda",
        "PUT",
        "/2015-03-31/functions/*/code",
        "UpdateFunctionCode",
    ),
    (
        "lambda",
        "POST",
        "/2015-03-31/functions/*/policy",
        "AddPermission",
    ),
    (
        "lambda",
        "GET",
        "/2015-03-31/functions/*/policy",
        "GetPolicy",
    ),
    (
        "lambda",
        "DELETE",
        "/2015-03-31/functions/*/policy/*",
        "RemovePermission",
    ),
    (
        "lambda",
        "GET",
        "/2015-03-31/functions/*/versions",
        "ListVersionsByFunction",
    ),
    (
        "lambda",
        "POST",
        "/2015-03-31/functions/*/versions",
        "PublishVersion",
    ),
    (
        "lambda",
        "POST",
        "/2015-03-31/functions/*/invocations",
        "Invoke",
    ),
    ("lambda", "GET", "/2017-03-31/tags/*", "ListTags"),
    ("lambda", "POST", "/2017-03-31/tags/*", "TagResource"),
    ("lambda", "DELETE", "/2017-03-31/tags/*", "UntagResource"),
    (
        "lambda",
        "GET",
        "/2019-09-30/functions/*/concurrency",
        "GetFunctionConcurrency",
    ),
    (
        "lambda",
        "PUT",
        "/2017-10-31/functions/*/concurrency",
        "PutFunctionConcurrency",
    ),
    // Bedrock AgentCore control plane (restJson)
    ("bedrock-agentcore", "POST", "/gateways", "CreateGateway"),
    ("bedrock-agentcore", "GET", "/gateways", "ListGateways"),
    ("bedrock-agentcore", "GET", "/gateways/*", "GetGateway"),
    ("bedrock-agentcore", "PUT", "/gateways/*", "UpdateGateway"),
    (
        "bedrock-agentcore",
        "DELETE",
        "/gateways/*",
        "DeleteGateway",
    ),
    (
        "bedrock-agentcore",
        "POST",
        "/gateways/*/targets",
        "CreateGatewayTarget",
    ),
    (
        "bedrock-agentcore",
        "GET",
        "/gateways/*/targets",
        "ListGatewayTargets",
    ),
    (
        "bedrock-agentcore",
        "GET",
        "/gateways/*/targets/*",
        "GetGatewayTarget",
    ),
    (
        "bedrock-agentcore",
        "PUT",
        "/gateways/*/targets/*",
        "UpdateGatewayTarget",
    ),
    (
        "bedrock-agentcore",
        "DELETE",
        "/gateways/*/targets/*",
        "DeleteGatewayTarget",
    ),
    (
        "bedrock-agentcore",
        "PUT",
        "/gateways/*/synchronizeTargets",
        "SynchronizeGatewayTargets",
    ),
    // AgentCore Policy: policy engines and their policies (issue 20)
    (
        "bedrock-agentcore",
        "POST",
        "/policy-engines",
        "CreatePolicyEngine",
    ),
    (
        "bedrock-agentcore",
        "GET",
        "/policy-engines",
        "ListPolicyEngines",
    ),
    (
        "bedrock-agentcore",
        "GET",
        "/policy-engines/*",
        "GetPolicyEngine",
    ),
    (
        "bedrock-agentcore",
        "DELETE",
        "/policy-engines/*",
        "DeletePolicyEngine",
    ),
    (
        "bedrock-agentcore",
        "POST",
        "/policy-engines/*/policies",
        "CreatePolicy",
    ),
    (
        "bedrock-agentcore",
        "GET",
        "/policy-engines/*/policies",
        "ListPolicies",
    ),
    (
        "bedrock-agentcore",
        "GET",
        "/policy-engines/*/policies/*",
        "GetPolicy",
    ),
    (
        "bedrock-agentcore",
        "PATCH",
        "/policy-engines/*/policies/*",
        "UpdatePolicy",
    ),
    (
        "bedrock-agentcore",
        "DELETE",
        "/policy-engines/*/policies/*",
        "DeletePolicy",
    ),
    // AgentCore Identity's API key credential providers (POST for every operation)
    (
        "bedrock-agentcore",
        "POST",
        "/identities/CreateApiKeyCredentialProvider",
        "CreateApiKeyCredentialProvider",
    ),
    (
        "bedrock-agentcore",
        "POST",
        "/identities/GetApiKeyCredentialProvider",
        "GetApiKeyCredentialProvider",
    ),
    (
        "bedrock-agentcore",
        "POST",
        "/identities/UpdateApiKeyCredentialProvider",
        "UpdateApiKeyCredentialProvider",
    ),
    (
        "bedrock-agentcore",
        "POST",
        "/identities/DeleteApiKeyCredentialProvider",
        "DeleteApiKeyCredentialProvider",
    ),
    (
        "bedrock-agentcore",
        "POST",
        "/identities/ListApiKeyCredentialProviders",
        "ListApiKeyCredentialProviders",
    ),
    ("bedrock-agentcore", "GET", "/tags/*", "ListTagsForResource"),
    ("bedrock-agentcore", "POST", "/tags/*", "TagResource"),
    ("bedrock-agentcore", "DELETE", "/tags/*", "UntagResource"),
];

fn rest_operation(service: &str, method: &str, path: &str) -> Option<&'static str> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    REST.iter()
        .find(|(s, m, template, _)| {
            let t: Vec<&str> = template.trim_matches('/').split('/').collect();
            *s == service
                && *m == method
                && t.len() == segs.len()
                && t.iter().zip(&segs).all(|(a, b)| *a == "*" || a == b)
        })
        .map(|(_, _, _, op)| *op)
}

/// The operation of a request: `X-Amz-Target`, `Action=` (form body or query string), or REST method + path.
fn operation_of(head: &Head, service: &str, body: &[u8]) -> String {
    if let Some(target) = head.header("x-amz-target") {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let (path, query) = head
        .target
        .split_once('?')
        .unwrap_or((head.target.as_str(), ""));
    let form = head
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if form && let Some(a) = form_value(&String::from_utf8_lossy(body), "Action") {
        return a;
    }
    if let Some(a) = form_value(query, "Action") {
        return a;
    }
    match rest_operation(service, &head.method, path) {
        Some(op) => op.to_owned(),
        None => format!("{} {}", head.method, path),
    }
}

/// Mutating by name, except for unknown REST requests (named `METHOD /path`), judged by method.
fn mutating_of(method: &str, operation: &str) -> bool {
    if operation.contains(' ') {
        !matches!(method, "GET" | "HEAD")
    } else {
        is_mutating(operation)
    }
}

enum Protocol {
    Ec2,
    Query,
    RestXml,
    Json,
    RestJson,
}

fn protocol(service: &str, head: &Head) -> Protocol {
    match service {
        "ec2" => Protocol::Ec2,
        "iam" | "sts" | "elasticloadbalancing" => Protocol::Query,
        "route53" => Protocol::RestXml,
        "lambda" | "bedrock-agentcore" => Protocol::RestJson,
        _ if head.header("x-amz-target").is_some() => Protocol::Json,
        _ => Protocol::RestJson,
    }
}

/// A transient error in the shape of the service's protocol: (status, extra headers, body).
fn fault_response(
    kind: FaultKind,
    service: &str,
    head: &Head,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let proto = protocol(service, head);
    let (status, code, message) = match (kind, &proto) {
        (FaultKind::Throttle, Protocol::Ec2) => {
            (503, "RequestLimitExceeded", "Request limit exceeded.")
        }
        (FaultKind::Throttle, Protocol::RestJson) => (429, "ThrottlingException", "Rate exceeded"),
        (FaultKind::Throttle, _) => (
            400,
            if matches!(proto, Protocol::Json) {
                "ThrottlingException"
            } else {
                "Throttling"
            },
            "Rate exceeded",
        ),
        (FaultKind::TooMany, _) => (429, "TooManyRequestsException", "Too many requests"),
        (FaultKind::Unavailable, _) => (503, "ServiceUnavailable", "Service unavailable"),
    };
    match proto {
        Protocol::Ec2 => (
            status,
            vec![("Content-Type".into(), "text/xml".into())],
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"
            )
            .into_bytes(),
        ),
        Protocol::Query | Protocol::RestXml => (
            status,
            vec![("Content-Type".into(), "text/xml".into())],
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
            )
            .into_bytes(),
        ),
        Protocol::Json => (
            status,
            vec![
                ("Content-Type".into(), "application/x-amz-json-1.1".into()),
                ("x-amzn-ErrorType".into(), code.into()),
            ],
            format!("{{\"__type\":\"{code}\",\"message\":\"{message}\"}}").into_bytes(),
        ),
        Protocol::RestJson => (
            status,
            vec![
                ("Content-Type".into(), "application/json".into()),
                ("x-amzn-ErrorType".into(), code.into()),
            ],
            format!("{{\"message\":\"{message}\"}}").into_bytes(),
        ),
    }
}

/// Answers with the transient error `kind` in the protocol's shape.
async fn write_fault(
    w: &mut (impl AsyncWriteExt + Unpin),
    kind: FaultKind,
    service: &str,
    head: &Head,
) -> std::io::Result<()> {
    let (status, headers, body) = fault_response(kind, service, head);
    write_response(
        w,
        status,
        reason(status),
        &headers,
        &body,
        head.method == "HEAD",
    )
    .await
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

async fn write_response(
    w: &mut (impl AsyncWriteExt + Unpin),
    status: u16,
    reason_text: &str,
    headers: &[(String, String)],
    body: &[u8],
    head_request: bool,
) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {status} {reason_text}\r\n");
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("content-length")
            || k.eq_ignore_ascii_case("transfer-encoding")
            || k.eq_ignore_ascii_case("connection")
        {
            continue;
        }
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !(head_request || status == 204 || status == 304) {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    w.write_all(out.as_bytes()).await?;
    if !head_request {
        w.write_all(body).await?;
    }
    w.flush().await
}

struct Upstream {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

async fn forward(inner: &Inner, head: &Head, body: &[u8]) -> std::io::Result<Upstream> {
    let mut up = TcpStream::connect(&inner.upstream).await?;
    let mut out = format!("{} {} HTTP/1.1\r\n", head.method, head.target);
    for (k, v) in &head.headers {
        if k.eq_ignore_ascii_case("content-length")
            || k.eq_ignore_ascii_case("transfer-encoding")
            || k.eq_ignore_ascii_case("connection")
            || k.eq_ignore_ascii_case("expect")
        {
            continue;
        }
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    up.write_all(out.as_bytes()).await?;
    up.write_all(body).await?;
    up.flush().await?;
    let mut r = BufReader::new(up);
    let resp = read_head(&mut r).await?.ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no response from moto")
    })?;
    // For a status line, `method` holds the version, `target` the code and `version` the reason.
    let status: u16 = resp.target.parse().unwrap_or(502);
    let body = if head.method == "HEAD" || status == 204 || status == 304 {
        Vec::new()
    } else {
        read_body(&mut r, &resp, true).await?
    };
    Ok(Upstream {
        status,
        reason: resp.version.clone(),
        headers: resp.headers,
        body,
    })
}

/// Counts in-flight upstream requests (for `Proxy::quiesce`).
struct InFlight<'a>(&'a Inner);

impl<'a> InFlight<'a> {
    fn new(inner: &'a Inner) -> Self {
        let mut n = inner.in_flight.lock().unwrap();
        *n += 1;
        inner.max_in_flight.fetch_max(*n, Ordering::SeqCst);
        drop(n);
        InFlight(inner)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut n = self.0.in_flight.lock().unwrap();
        *n -= 1;
        if *n == 0 {
            self.0.idle.notify_all();
        }
    }
}

async fn signal_target(inner: &Inner, sig: Sig) {
    if sig == Sig::Hold {
        return;
    }
    let mut rx = inner.pid.subscribe();
    let pid = tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|p| p.is_some()))
        .await
        .ok()
        .and_then(|r| r.ok().and_then(|p| *p));
    match pid {
        Some(pid) => unsafe {
            libc::kill(pid, sig.number());
        },
        None => eprintln!("fault proxy: no target pid set; {sig:?} not sent"),
    }
}

async fn serve(inner: Arc<Inner>, sock: TcpStream) -> std::io::Result<()> {
    let generation = inner.generation.load(Ordering::SeqCst);
    let (rd, mut wr) = sock.into_split();
    let mut rd = BufReader::new(rd);
    loop {
        let Some(head) = read_head(&mut rd).await? else {
            return Ok(());
        };
        if head
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        {
            wr.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
        }
        // Counted as in flight from the moment its head is read until it is answered or dropped.
        let _busy = InFlight::new(&inner);
        let body = read_body(&mut rd, &head, false).await?;
        let faults = inner.faults.lock().unwrap().clone();
        if !faults.latency.is_zero() {
            tokio::time::sleep(faults.latency).await;
        }
        let service = service_of(&head);
        let operation = operation_of(&head, &service, &body);
        let mutating = service != "unsigned" && mutating_of(&head.method, &operation);
        // 1-based index among the mutating requests of the run (0 for read-only ones).
        let mutating_index = if mutating {
            inner.mutating.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            0
        };
        let record = |fate: Fate| {
            // A connection opened before the last `arm` belongs to an earlier run: don't log it into this one.
            if inner.generation.load(Ordering::SeqCst) == generation {
                inner.log.lock().unwrap().push(Request {
                    service: service.clone(),
                    operation: operation.clone(),
                    mutating,
                    fate,
                });
            }
        };
        if inner.dead.load(Ordering::SeqCst) {
            record(Fate::Dropped);
            return Ok(());
        }
        if let Some((op, n)) = faults.release_late_at {
            let nth = {
                let mut seen = inner.seen.lock().unwrap();
                let c = seen.entry(operation.clone()).or_default();
                *c += 1;
                *c
            };
            if op == operation && nth == n {
                inner.late_release.send_replace(true);
                let mut rx = inner.pending_late.subscribe();
                if tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|p| *p == 0))
                    .await
                    .is_err()
                {
                    eprintln!("fault proxy: held requests did not land within 60 s");
                }
            }
        }
        if mutating && faults.land_late.contains(&operation.as_str()) {
            record(Fate::HeldLate);
            inner.pending_late.send_modify(|p| *p += 1);
            let late = inner.clone();
            let (late_head, late_body) = (head.clone(), body.clone());
            let what = format!("{service}:{operation}");
            tokio::spawn(async move {
                let mut rx = late.late_release.subscribe();
                let _ = tokio::time::timeout(Duration::from_secs(600), rx.wait_for(|r| *r)).await;
                let status = forward(&late, &late_head, &late_body)
                    .await
                    .ok()
                    .map(|u| u.status);
                late.landed.lock().unwrap().push((what, status));
                late.landed_cv.notify_all();
                late.pending_late.send_modify(|p| *p -= 1);
            });
            let held = inner.held.fetch_add(1, Ordering::SeqCst) + 1;
            if faults.kill_after_held > 0 && held >= faults.kill_after_held {
                inner.dead.store(true, Ordering::SeqCst);
                signal_target(&inner, Sig::Kill).await;
            }
            // No answer: the connection stays open (so the client neither sees an error nor repeats the call)
            // until the process dies and closes it. Not counted in flight: it is not at moto.
            drop(_busy);
            let mut byte = [0u8; 1];
            let _ = tokio::time::timeout(Duration::from_secs(600), rd.read(&mut byte)).await;
            return Ok(());
        }
        let trigger = faults.trigger.filter(|t| {
            mutating
                && service != "unsigned"
                && match t.operation {
                    None => mutating_index == t.k,
                    Some(op) => op == operation && inner.fired.lock().unwrap().is_none(),
                }
        });
        if let Some(t) = trigger {
            *inner.fired.lock().unwrap() = Some(Fired {
                k: mutating_index,
                service: service.clone(),
                operation: operation.clone(),
            });
            inner.fired_cv.notify_all();
            if t.signal == Sig::Hold {
                let mut rx = inner.released.subscribe();
                if tokio::time::timeout(Duration::from_secs(300), rx.wait_for(|r| *r))
                    .await
                    .is_err()
                {
                    eprintln!("fault proxy: held request never released; letting it through");
                }
            }
            if matches!(t.signal, Sig::LoseAnswer | Sig::DropConnection) {
                let result = forward(&inner, &head, &body).await;
                record(Fate::Triggered(result.as_ref().ok().map(|u| u.status)));
                if t.signal == Sig::DropConnection {
                    return Ok(());
                }
                write_fault(&mut wr, FaultKind::Unavailable, &service, &head).await?;
                continue;
            }
            if t.signal == Sig::Kill {
                if t.phase == Phase::Before {
                    inner.dead.store(true, Ordering::SeqCst);
                    signal_target(&inner, Sig::Kill).await;
                    record(Fate::Triggered(None));
                    return Ok(());
                }
                let result = forward(&inner, &head, &body).await;
                inner.dead.store(true, Ordering::SeqCst);
                signal_target(&inner, Sig::Kill).await;
                record(Fate::Triggered(result.ok().map(|u| u.status)));
                return Ok(());
            }
            if t.phase == Phase::Before {
                signal_target(&inner, t.signal).await;
            }
            let result = forward(&inner, &head, &body).await;
            if t.phase == Phase::After {
                signal_target(&inner, t.signal).await;
            }
            match result {
                Ok(up) => {
                    record(Fate::Triggered(Some(up.status)));
                    write_response(
                        &mut wr,
                        up.status,
                        &up.reason,
                        &up.headers,
                        &up.body,
                        head.method == "HEAD",
                    )
                    .await?;
                    continue;
                }
                Err(e) => {
                    record(Fate::UpstreamError(e.to_string()));
                    return Ok(());
                }
            }
        }
        // Transient faults, decided by (seed, service:operation, occurrence).
        if faults.error_rate > 0.0 && service != "unsigned" {
            let key = format!("{service}:{operation}");
            let n = {
                let mut occ = inner.occurrences.lock().unwrap();
                let e = occ.entry((service.clone(), operation.clone())).or_insert(0);
                *e += 1;
                *e
            };
            if draw(faults.seed, &key, n, 0) < faults.error_rate {
                let kinds = if faults.error_kinds.is_empty() {
                    vec![
                        FaultKind::Throttle,
                        FaultKind::TooMany,
                        FaultKind::Unavailable,
                    ]
                } else {
                    faults.error_kinds.clone()
                };
                let pick = (draw(faults.seed, &key, n, 1) * kinds.len() as f64) as usize;
                let kind = kinds[pick.min(kinds.len() - 1)];
                record(Fate::Faulted(kind));
                write_fault(&mut wr, kind, &service, &head).await?;
                continue;
            }
        }
        let result = forward(&inner, &head, &body).await;
        if inner.dead.load(Ordering::SeqCst) {
            // The process died while this was at moto: the answer goes nowhere.
            record(Fate::Dropped);
            return Ok(());
        }
        match result {
            Ok(up) => {
                record(Fate::Forwarded(up.status));
                write_response(
                    &mut wr,
                    up.status,
                    &up.reason,
                    &up.headers,
                    &up.body,
                    head.method == "HEAD",
                )
                .await?;
            }
            Err(e) => {
                record(Fate::UpstreamError(e.to_string()));
                return Ok(());
            }
        }
    }
}

/// How one run through the proxy ended.
pub struct ProxyRun {
    pub run: super::Run,
    /// The signal that ended the process, if one did (9 for SIGKILL).
    pub signal: Option<i32>,
    pub fired: Option<Fired>,
    pub requests: Vec<Request>,
}

/// A process started through the proxy.
pub struct Running {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Proxy {
    /// Runs the binary for `stack` through this proxy with `faults` armed: `--endpoint-url` points at the
    /// proxy (the last `--endpoint-url` wins), the proxy learns the pid right after the spawn, the run is
    /// bounded by `limit` (then SIGKILLed and reported), and once it ended the proxy is drained so that no
    /// request of this run is still at moto when the next one starts.
    pub fn run(
        &self,
        stack: &super::Stack,
        args: &[&str],
        faults: Faults,
        limit: Duration,
    ) -> ProxyRun {
        self.arm(faults);
        let running = self.spawn(stack, args);
        self.set_pid(running.child.id());
        let done = self.finish(running, limit);
        self.quiesce(Duration::from_secs(60));
        ProxyRun {
            requests: self.requests(),
            ..done
        }
    }

    /// Starts the binary through the proxy without arming anything (the caller armed it, and sets the pid
    /// if a trigger needs one). The ledger file of the stack is cleared first.
    pub fn spawn(&self, stack: &super::Stack, args: &[&str]) -> Running {
        use std::process::Stdio;
        let mut full = vec!["--endpoint-url", self.endpoint.as_str()];
        full.extend_from_slice(args);
        let mut cmd = stack.command(&full);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let log = stack.dir.path().join("calls.jsonl");
        let _ = std::fs::remove_file(&log);
        let child = cmd.spawn().expect("spawn neo4j-gw");
        Running { child, log }
    }

    /// Waits for a process started by [`Proxy::spawn`], bounded by `limit` (then SIGKILLed). Does not wait
    /// for the proxy to drain (another process may be held in it): see [`Proxy::quiesce`].
    pub fn finish(&self, running: Running, limit: Duration) -> ProxyRun {
        use std::os::unix::process::ExitStatusExt;
        let Running { child, log } = running;
        let pid = child.id();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let watchdog = std::thread::spawn(move || {
            if done_rx.recv_timeout(limit).is_err() {
                eprintln!("fault proxy: run exceeded {limit:?}; killing pid {pid}");
                unsafe {
                    libc::kill(pid as i32, libc::SIGKILL);
                }
                return true;
            }
            false
        });
        let output = child.wait_with_output().expect("wait for neo4j-gw");
        let _ = done_tx.send(());
        let timed_out = watchdog.join().unwrap_or(false);
        let calls = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let mut stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if timed_out {
            stderr.push_str(&format!("\n[test harness: killed after {limit:?}]"));
        }
        ProxyRun {
            run: super::Run {
                code: output.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr,
                calls,
            },
            signal: output.status.signal(),
            fired: self.fired(),
            requests: self.requests(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_routes() {
        assert_eq!(
            rest_operation("route53", "POST", "/2013-04-01/hostedzone/Z1/rrset"),
            Some("ChangeResourceRecordSets")
        );
        assert_eq!(
            rest_operation("bedrock-agentcore", "GET", "/gateways/gw-1/targets/"),
            Some("ListGatewayTargets")
        );
        assert_eq!(
            rest_operation(
                "bedrock-agentcore",
                "PATCH",
                "/policy-engines/e_x-abcdefghij/policies/p-abcdefghij"
            ),
            Some("UpdatePolicy")
        );
        assert_eq!(
            rest_operation("bedrock-agentcore", "POST", "/policy-engines"),
            Some("CreatePolicyEngine")
        );
        assert_eq!(
            rest_operation("lambda", "PUT", "/2015-03-31/functions/f/code"),
            Some("UpdateFunctionCode")
        );
        // AgentCore Identity posts every operation: a read is known by its name.
        let get = rest_operation(
            "bedrock-agentcore",
            "POST",
            "/identities/GetApiKeyCredentialProvider",
        )
        .unwrap();
        assert!(!mutating_of("POST", get));
    }

    #[test]
    fn draws_are_deterministic_and_spread() {
        let a: Vec<f64> = (1..200).map(|n| draw(42, "ec2:CreateVpc", n, 0)).collect();
        let b: Vec<f64> = (1..200).map(|n| draw(42, "ec2:CreateVpc", n, 0)).collect();
        assert_eq!(a, b);
        let below = a.iter().filter(|x| **x < 0.2).count();
        assert!((20..=60).contains(&below), "{below}");
    }
}
