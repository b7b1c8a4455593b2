//! Progress display. On a terminal: a live view with one line per resource in flight (its state and elapsed time),
//! a summary line below them (done, in flight, failed, elapsed), and each finished resource printed once above,
//! with its outcome. Otherwise (CI, pipes, a dumb terminal): plain timestamped lines on stderr, one per real event,
//! no colour codes.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone)]
pub struct Progress {
    mode: Mode,
    summary: Arc<Mutex<Option<Summary>>>,
}

#[derive(Clone)]
enum Mode {
    Quiet,
    Plain,
    Bars(MultiProgress),
}

/// The counts behind the summary line of a walk.
struct Summary {
    bar: ProgressBar,
    label: String,
    total: usize,
    running: usize,
    done: usize,
    failed: usize,
}

impl Summary {
    fn text(&self) -> String {
        summary_text(
            &self.label,
            self.total,
            self.done,
            self.running,
            self.failed,
        )
    }
}

/// `up: 12/30 done · 3 in flight · 1 failed`.
fn summary_text(label: &str, total: usize, done: usize, running: usize, failed: usize) -> String {
    let mut s = format!("{label}: {done}/{total} done · {running} in flight");
    if failed > 0 {
        s.push_str(&format!(" · {failed} failed"));
    }
    s
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        // indicatif draws nothing on a dumb terminal (TERM unset or `dumb`): plain lines there.
        let dumb = std::env::var("TERM").map_or(true, |t| t.is_empty() || t == "dumb");
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() && !dumb {
            quiet_control_echo();
            Mode::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        } else {
            Mode::Plain
        };
        Progress {
            mode,
            summary: Arc::default(),
        }
    }

    /// Starts the summary line of a walk over `total` resources (on a terminal only).
    pub fn begin(&self, label: &str, total: usize) {
        let Mode::Bars(multi) = &self.mode else {
            return;
        };
        let bar = multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner:.cyan} {msg:.bold} {elapsed:.dim}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        let s = Summary {
            bar,
            label: label.to_owned(),
            total,
            running: 0,
            done: 0,
            failed: 0,
        };
        s.bar.set_message(s.text());
        if let Ok(mut slot) = self.summary.lock() {
            *slot = Some(s);
        }
    }

    /// Ends the summary line (the caller prints the final summary as a note).
    pub fn end(&self) {
        if let Ok(mut slot) = self.summary.lock()
            && let Some(s) = slot.take()
        {
            s.bar.finish_and_clear();
        }
    }

    /// A line for one resource.
    pub fn line(&self, name: &str) -> Line {
        let bar = match &self.mode {
            Mode::Bars(multi) => {
                let bar = ProgressBar::new_spinner();
                // In flight above the summary line, when there is one.
                let bar = match self.summary.lock().ok().as_deref().and_then(Option::as_ref) {
                    Some(s) => multi.insert_before(&s.bar, bar),
                    None => multi.add(bar),
                };
                // `wide_msg`: the message is cut to the terminal's width. A longer line would wrap onto a second row
                // the live view does not count, and its next redraw would leave a stale row behind.
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner:.cyan} {prefix:<22.bold} {wide_msg} {elapsed:.dim}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(name.to_owned());
                bar.enable_steady_tick(Duration::from_millis(120));
                self.count(|s| s.running += 1);
                Some(bar)
            }
            _ => None,
        };
        Line {
            inner: Arc::new(LineInner {
                name: name.to_owned(),
                plain: matches!(self.mode, Mode::Plain),
                bar,
                multi: match &self.mode {
                    Mode::Bars(m) => Some(m.clone()),
                    _ => None,
                },
                summary: self.summary.clone(),
                started: Instant::now(),
                last: Mutex::new(String::new()),
            }),
        }
    }

    fn count(&self, f: impl FnOnce(&mut Summary)) {
        update(&self.summary, f);
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

    /// The message of a signal: on a terminal printed above the live view (which it would otherwise be drawn over and
    /// then erased by), else a plain line. Shown even with `--quiet`.
    pub fn signal(&self, message: &str) {
        match &self.mode {
            Mode::Bars(multi) => {
                let _ = multi.println(message);
            }
            Mode::Plain => eprintln!("{} {message}", crate::state::now()),
            Mode::Quiet => eprintln!("{message}"),
        }
    }

    /// Ends the live view for good: what is still drawn (lines in flight, the summary line) is cleared, and nothing is
    /// drawn after, so the final summary or error stands alone instead of below a frozen frame.
    pub fn close(&self) {
        if let Ok(mut slot) = self.summary.lock()
            && let Some(s) = slot.take()
        {
            s.bar.finish_and_clear();
        }
        if let Mode::Bars(multi) = &self.mode {
            let _ = multi.clear();
            multi.set_draw_target(ProgressDrawTarget::hidden());
        }
        restore_terminal();
    }

    /// A line that does nothing (for walks that display nothing).
    pub fn hidden() -> Line {
        Progress {
            mode: Mode::Quiet,
            summary: Arc::default(),
        }
        .line("")
    }
}

/// The terminal's settings from before the live view turned off the echo of control characters: Ctrl-C's `^C`
/// would be printed at the cursor, past the view's last (full-width) line, moving the view down a line, so that its
/// next redraw left a stale frame behind. Restored by [`restore_terminal`].
static SAVED_TERMIOS: Mutex<Option<libc::termios>> = Mutex::new(None);

/// Turns off ECHOCTL on the terminal of standard input, if it is one (Ctrl-C still interrupts; it is just not
/// echoed as `^C`).
fn quiet_control_echo() {
    if !std::io::stdin().is_terminal() {
        return;
    }
    // SAFETY: tcgetattr fills the struct it is given; it is used only when the call succeeded.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut t) } != 0 {
        return;
    }
    let saved = t;
    t.c_lflag &= !libc::ECHOCTL;
    // SAFETY: a termios read from this terminal, with one flag cleared.
    if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t) } == 0
        && let Ok(mut slot) = SAVED_TERMIOS.lock()
    {
        *slot = Some(saved);
    }
}

/// Gives the terminal its settings back (at the end of every run, and before any early exit).
pub fn restore_terminal() {
    if let Ok(mut slot) = SAVED_TERMIOS.lock()
        && let Some(t) = slot.take()
    {
        // SAFETY: the settings tcgetattr returned for this terminal.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t) };
    }
}

fn update(summary: &Mutex<Option<Summary>>, f: impl FnOnce(&mut Summary)) {
    if let Ok(mut slot) = summary.lock()
        && let Some(s) = slot.as_mut()
    {
        f(s);
        s.bar.set_message(s.text());
    }
}

struct LineInner {
    name: String,
    plain: bool,
    bar: Option<ProgressBar>,
    multi: Option<MultiProgress>,
    summary: Arc<Mutex<Option<Summary>>>,
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

    /// True when the line is shown (a terminal's live view, or plain lines).
    pub fn visible(&self) -> bool {
        self.inner.bar.is_some() || self.inner.plain
    }

    /// Ends the line without a trace: on a terminal it leaves the live view, off one nothing is printed.
    pub fn dismiss(&self) {
        let i = &self.inner;
        if let (Some(bar), Some(multi)) = (&i.bar, &i.multi) {
            bar.finish_and_clear();
            multi.remove(bar);
            update(&i.summary, |s| s.running = s.running.saturating_sub(1));
        }
    }

    /// Ends the line with its outcome: on a terminal it leaves the live view and is printed once above it.
    pub fn finish(&self, message: String, ok: bool) {
        let i = &self.inner;
        let secs = i.started.elapsed().as_secs_f32();
        if let (Some(bar), Some(multi)) = (&i.bar, &i.multi) {
            bar.finish_and_clear();
            multi.remove(bar);
            let mark = if ok { "✔" } else { "✘" };
            let _ = multi.println(format!("{mark} {:<22} {message} ({secs:.1}s)", i.name));
            update(&i.summary, |s| {
                s.running = s.running.saturating_sub(1);
                s.done += 1;
                if !ok {
                    s.failed += 1;
                }
            });
        } else if i.plain {
            eprintln!("{} {}: {message} ({secs:.1}s)", crate::state::now(), i.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::summary_text;

    #[test]
    fn summary_counts_done_in_flight_and_failed() {
        assert_eq!(
            summary_text("up", 30, 12, 3, 0),
            "up: 12/30 done · 3 in flight"
        );
        assert_eq!(
            summary_text("down", 30, 30, 0, 2),
            "down: 30/30 done · 0 in flight · 2 failed"
        );
    }
}
