//! Waiting for real processes and sockets: the one loop that asks "does the condition hold
//! yet?" until it does or a deadline passes.
//!
//! A check is an async closure returning `Ok(value)` once the condition holds and
//! `Err(observation)` while it does not; the observation (the last body, the log, what was
//! counted) is what a failure message shows. [`until`] panics with `what` and the last
//! observation when the deadline passes; [`within`] hands the last observation back for the
//! callers that retry or add context. Either way a condition that never holds fails the test
//! instead of hanging it: a single check that does not return within the whole deadline
//! panics too.
//!
//! It is meant for real time: paused-time tests move the clock themselves (STYLE.md,
//! habit 3) and have no process or socket to wait for. The unit tests below pause time only
//! because their checks touch neither.

use std::fmt::Display;
use std::time::Duration;

use tokio::time::Instant;

/// The pause after the first unsuccessful check; it doubles up to [`MAX_INTERVAL`].
const FIRST_INTERVAL: Duration = Duration::from_millis(10);

/// The longest pause between two checks.
const MAX_INTERVAL: Duration = Duration::from_millis(100);

/// Calls `check` until it returns `Ok` and returns that value; panics with `what` and the
/// last observation once `deadline` has passed.
pub async fn until<T, O: Display>(
    what: &str,
    deadline: Duration,
    check: impl AsyncFnMut() -> Result<T, O>,
) -> T {
    match within(deadline, check).await {
        Ok(value) => value,
        Err(last) => panic!("timed out after {deadline:?} waiting for {what}; last seen:\n{last}"),
    }
}

/// Calls `check` until it returns `Ok`; `Err` holds the observation of the last check once
/// `deadline` has passed. The check that runs when the deadline passes is allowed to finish,
/// so a condition that holds by then is seen.
pub async fn within<T, O>(
    deadline: Duration,
    mut check: impl AsyncFnMut() -> Result<T, O>,
) -> Result<T, O> {
    let end = Instant::now() + deadline;
    let mut interval = FIRST_INTERVAL;
    loop {
        let Ok(seen) = tokio::time::timeout(deadline, check()).await else {
            panic!("a check did not return within the whole wait of {deadline:?}");
        };
        match seen {
            Ok(value) => return Ok(value),
            Err(last) if Instant::now() >= end => return Err(last),
            Err(_) => {}
        }
        tokio::time::sleep(interval.min(end.saturating_duration_since(Instant::now()))).await;
        interval = (interval * 2).min(MAX_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Paused time: these checks touch no sockets, so the clock may jump.

    #[tokio::test(start_paused = true)]
    async fn returns_the_value_once_the_condition_holds() {
        let mut calls = 0;
        let got = until("the third call", Duration::from_secs(5), async || {
            calls += 1;
            if calls == 3 {
                Ok(calls * 10)
            } else {
                Err(format!("call {calls}"))
            }
        })
        .await;
        assert_eq!(got, 30);
    }

    #[tokio::test(start_paused = true)]
    async fn within_hands_back_the_last_observation() {
        let start = Instant::now();
        let mut calls = 0;
        let got: Result<(), String> = within(Duration::from_secs(2), async || {
            calls += 1;
            Err(format!("call {calls}"))
        })
        .await;
        assert_eq!(got, Err(format!("call {calls}")));
        assert!(calls > 2, "{calls} calls");
        assert!(start.elapsed() >= Duration::from_secs(2));
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "timed out after 1s waiting for the answer; last seen:\nstill 41")]
    async fn until_fails_with_what_and_the_last_observation() {
        until("the answer", Duration::from_secs(1), async || {
            Err::<(), _>("still 41")
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "a check did not return within the whole wait of 1s")]
    async fn a_hung_check_fails_too() {
        until("a hung check", Duration::from_secs(1), async || {
            std::future::pending::<Result<(), &str>>().await
        })
        .await;
    }
}
