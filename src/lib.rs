//! neo4j-gw: the Neo4j MCP server on AWS behind an Amazon Bedrock AgentCore Gateway, in one command.
//!
//! The library holds everything; `main.rs` only calls [`main`]. Tests and benchmarks import what the library knows
//! (node names, tag keys, the plan, the state format) instead of restating it. The layers, top to bottom (a module
//! only uses the ones below it): `commands` → `plan`/`engine` → `resources` → `aws` → `config`/`state`/`error`;
//! see docs/architecture.md.

pub mod aws;
pub mod cancel;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dns;
pub mod engine;
pub mod error;
pub mod lease;
pub mod ledger;
pub mod mcp;
pub mod outputs;
pub mod plan;
pub mod progress;
pub mod reach;
pub mod resources;
pub mod state;
pub mod term;
pub mod timings;
pub mod wait;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};
use crate::error::exit;

/// The whole program: parses the command line, sets up logging, the call ledger, progress display and signal
/// handling, hands over to one module per command, and returns the exit code.
pub fn main() -> i32 {
    let started = std::time::Instant::now();
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    init_logging(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::FAILED;
        }
    };
    runtime.block_on(run(cli, started))
}

async fn run(cli: Cli, started: std::time::Instant) -> i32 {
    let (handle, cancel) = cancel::Cancel::new();
    // `logs --follow` ends with Ctrl-C: nothing to announce then.
    let announce = !matches!(cli.command, Command::Logs(_));
    let progress = progress::Progress::new(cli.global.quiet);
    let shown = progress.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        let name = tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        };
        if announce {
            // Through the live view, which would otherwise draw over the line and erase it.
            shown.signal(&format!(
                "{name} received: stopping after the calls in flight and saving the state…"
            ));
        }
        handle.cancel(name);
        // A second signal ends the process at once.
        tokio::select! {
            _ = int.recv() => {},
            _ = term.recv() => {},
        }
        shown.close();
        std::process::exit(if name == "SIGTERM" {
            exit::SIGTERM
        } else {
            exit::SIGINT
        });
    });
    if let Some(path) = &cli.global.timings
        && let Err(e) = timings::format_of(path)
    {
        eprintln!("error: {e}");
        return e.exit_code();
    }
    for warning in config::unknown_env_vars(std::env::vars_os().map(|(k, _)| k)) {
        eprintln!("warning: {warning}");
    }
    let call_log = std::env::var_os("NEO4J_GW_CALL_LOG").map(std::path::PathBuf::from);
    let env = commands::Env {
        ledger: ledger::Ledger::new(call_log, cli.global.verbose >= 2),
        progress,
        timings: std::sync::Arc::new(timings::Timings::new(started)),
        cancel,
        global: cli.global,
    };
    let result = match &cli.command {
        Command::Up(a) => commands::up::run(&env, a).await,
        Command::Status(a) => commands::status::run(&env, a).await,
        Command::Down(a) => commands::down::run(&env, a).await.map(|_| exit::OK),
        Command::Token(a) => commands::token::run(&env, a).await.map(|_| exit::OK),
        Command::Tools(a) => commands::tools::run(&env, a).await.map(|_| exit::OK),
        Command::Call(a) => commands::call::run(&env, a).await.map(|_| exit::OK),
        Command::RotateOrigin(a) => commands::rotate_origin::run(&env, a)
            .await
            .map(|_| exit::OK),
        Command::Plan(a) => commands::plan::run(&env, a).await,
        Command::Doctor(a) => commands::doctor::run(&env, a).await,
        Command::Logs(a) => commands::logs::run(&env, a).await,
        Command::Connect(a) => commands::connect::run(&env, a).await,
        Command::Completions(a) => Ok(commands::completions::run(a)),
    };
    // The live view ends before the result: nothing stays frozen on the screen above it.
    env.progress.close();
    match result {
        Ok(code) => code,
        Err(e) => {
            for line in e.to_string().lines() {
                eprintln!("error: {line}");
            }
            e.exit_code()
        }
    }
}

/// A closed standard output (`neo4j-gw status | head -1`) ends the process quietly with exit 141 — what a shell
/// reports for a process ended by SIGPIPE — instead of the panic `println!` raises (Rust ignores SIGPIPE, so a
/// write to a closed pipe fails with EPIPE). The signal itself stays ignored: a write to a closed socket must stay
/// an error, never kill the run. Results are printed last, after the state is saved, so nothing is lost.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        let broken_pipe = std::io::Error::from_raw_os_error(libc::EPIPE).to_string();
        if message.starts_with("failed printing to stdout") && message.contains(&broken_pipe) {
            progress::restore_terminal();
            std::process::exit(exit::BROKEN_PIPE);
        }
        default(info);
    }));
}

/// Logging goes to stderr, without colour codes unless stderr is a terminal. Other crates' logs (the AWS SDK's:
/// e.g. the credentials chain's warning for every source it tried) are shown only from `-v` on, and capped at
/// `warn` at every verbosity: their debug and trace output can include request and response bodies, which may
/// carry secrets. What they would say reaches the operator through neo4j-gw's own error messages.
fn init_logging(verbose: u8) {
    use std::io::IsTerminal;
    let (others, ours) = match verbose {
        0 => ("off", "warn"),
        1 => ("warn", "info"),
        2 => ("warn", "debug"),
        _ => ("warn", "trace"),
    };
    let filter = EnvFilter::new(format!("{others},neo4j_gw={ours}"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
