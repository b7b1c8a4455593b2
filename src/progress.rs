//! Progress display: on a terminal, one indicatif line per resource with its state and elapsed time;
//! otherwise (or with `--no-tty` behaviour such as CI), plain timestamped lines on stderr.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone)]
pub struct Progress {
    mode: Mode,
}

#[derive(Clone)]
enum Mode {
    Quiet,
    Plain,
    Bars(MultiProgress),
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        } else {
            Mode::Plain
        };
        Progress { mode }
    }

    /// A line for one resource.
    pub fn line(&self, name: &str) -> Line {
        let bar = match &self.mode {
            Mode::Bars(multi) => {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner:.cyan} {prefix:<22.bold} {msg} {elapsed:.dim}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(name.to_owned());
                bar.enable_steady_tick(Duration::from_millis(120));
                Some(bar)
            }
            _ => None,
        };
        Line {
            inner: Arc::new(LineInner {
                name: name.to_owned(),
                plain: matches!(self.mode, Mode::Plain),
                bar,
                started: Instant::now(),
                last: Mutex::new(String::new()),
            }),
        }
    }

    /// A message not tied to a resource.
    pub fn note(&self, message: &str) {
        match &self.mode {
            Mode::Quiet => {}
            Mode::Plain => eprintln!("{} {message}", crate::state::now()),
            Mode::Bars(multi) => {
                let _ = multi.println(message);
            }
        }
    }

    /// A line that does nothing (for walks that display nothing).
    pub fn hidden() -> Line {
        Progress { mode: Mode::Quiet }.line("")
    }
}

struct LineInner {
    name: String,
    plain: bool,
    bar: Option<ProgressBar>,
    started: Instant,
    last: Mutex<String>,
}

#[derive(Clone)]
pub struct Line {
    inner: Arc<LineInner>,
}

impl Line {
    /// Updates what the resource is doing. Plain mode prints a line only when the message changes.
    pub fn set(&self, message: String) {
        let i = &self.inner;
        if let Some(bar) = &i.bar {
            bar.set_message(message);
        } else if i.plain {
            let mut last = i.last.lock().unwrap_or_else(|e| e.into_inner());
            if *last != message {
                eprintln!("{} {}: {message}", crate::state::now(), i.name);
                *last = message;
            }
        }
    }

    /// Shows a transient message on a terminal only (plain output stays one line per real event).
    pub fn hint(&self, message: &str) {
        if let Some(bar) = &self.inner.bar {
            bar.set_message(message.to_owned());
        }
    }

    /// Ends the line with its outcome.
    pub fn finish(&self, message: String, ok: bool) {
        let i = &self.inner;
        let secs = i.started.elapsed().as_secs_f32();
        if let Some(bar) = &i.bar {
            bar.set_style(
                ProgressStyle::with_template("{prefix:<24.bold} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            let mark = if ok { "✔" } else { "✘" };
            bar.set_prefix(format!("{mark} {}", i.name));
            bar.finish_with_message(format!("{message} ({secs:.1}s)"));
        } else if i.plain {
            eprintln!("{} {}: {message} ({secs:.1}s)", crate::state::now(), i.name);
        }
    }
}
