//! Waits that tell the truth: each says what it waits for, shows the elapsed time, is bounded, and on
//! failure reports the last observed state and AWS's reason. A signal ends a wait at once.
//!
//! The schedule ([`pause`]): the first look at once, then after 0.25 s, 0.5 s, 1 s, and every 2 s from there
//! (1 s against an emulator), so a transition is noticed within 2 s of happening — a wait is on the critical path
//! of `up`, and a poll is one read-only call. Throttling of the polls is absorbed by the SDK's retry back-off.

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
    let mut polls = 0u32;
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
        // Without the elapsed time: off a terminal a line is printed only when the text changes — one line per real
        // event — and on a terminal the live view shows the time.
        cx.say(format!("waiting for {what}: {last}"));
        let nap = pause(polls, cx.emulated())
            .min(timeout.saturating_sub(elapsed))
            .max(Duration::from_millis(50));
        cx.shared.cancel.sleep(nap).await?;
        polls += 1;
    }
}

/// The pause after the `n`-th look (0-based): 0.25 s, doubling, at most 2 s (1 s against an emulator).
pub fn pause(n: u32, emulated: bool) -> Duration {
    let cap = if emulated {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(2)
    };
    (Duration::from_millis(250) * 2u32.saturating_pow(n.min(8))).min(cap)
}

/// The longest a create is repeated while AWS refuses it because a role made moments ago has not propagated yet
/// (IAM is eventually consistent; AWS documents no bound, minutes at most in practice): two minutes, or less
/// when `--wait-timeout` is shorter.
const PROPAGATION_BOUND: Duration = Duration::from_secs(120);

/// [`until`], bounded for IAM propagation: for a create that is repeated while AWS cannot use a new role yet.
/// The create must carry a client token (or adopt what a lost answer made), so a repeat cannot make a second one.
pub async fn until_propagated<T, F, Fut>(cx: &Cx, what: &str, poll: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    let bound = cx.settings().wait_timeout.min(PROPAGATION_BOUND);
    until(cx, what, bound, poll).await
}

#[cfg(test)]
mod tests {
    use super::pause;
    use std::time::Duration;

    #[test]
    fn polls_start_fast_and_never_leave_a_transition_unnoticed_for_more_than_two_seconds() {
        let ms = |n| pause(n, false).as_millis();
        assert_eq!(
            [ms(0), ms(1), ms(2), ms(3), ms(4), ms(50)],
            [250, 500, 1000, 2000, 2000, 2000]
        );
        assert!((0..1000).all(|n| pause(n, false) <= Duration::from_secs(2)));
        assert!((0..1000).all(|n| pause(n, true) <= Duration::from_secs(1)));
    }
}
