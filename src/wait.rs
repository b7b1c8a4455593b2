//! Waits that tell the truth: each says what it waits for, shows the elapsed time, is bounded, and on
//! failure reports the last observed state and AWS's reason. Polling backs off from 0.5 s to 10 s
//! (1 s against an emulator). A signal ends a wait at once.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::resources::Cx;

/// One observation of the thing waited for.
pub enum Poll<T> {
    Ready(T),
    /// Not there yet; the text is the state observed (shown on the progress line and in a timeout error).
    Pending(String),
    /// A terminal failure, with AWS's reason.
    Failed(String),
}

/// Polls until ready, failed, timed out or interrupted.
pub async fn until<T, F, Fut>(cx: &Cx, what: &str, timeout: Duration, mut poll: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    let start = Instant::now();
    let max_interval = if cx.emulated() {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(10)
    };
    let mut interval = Duration::from_millis(500);
    loop {
        let last = match poll().await? {
            Poll::Ready(v) => return Ok(v),
            Poll::Failed(reason) => {
                return Err(Error::Wait(format!(
                    "{}: {what} failed after {}s: {reason}",
                    cx.node,
                    start.elapsed().as_secs()
                )));
            }
            Poll::Pending(state) => state,
        };
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return Err(Error::Wait(format!(
                "{}: timed out after {}s waiting for {what}; last observed: {last}. Raise --wait-timeout or look at the resource in the AWS console, then re-run",
                cx.node,
                elapsed.as_secs()
            )));
        }
        cx.say(format!(
            "waiting for {what}: {last} ({}s)",
            elapsed.as_secs()
        ));
        let nap = interval
            .min(timeout.saturating_sub(elapsed))
            .max(Duration::from_millis(50));
        cx.shared.cancel.sleep(nap).await?;
        interval = (interval * 3 / 2).min(max_interval);
    }
}
