//! Sending with retries inside one flush (`notify/retry_stage.go`): the first attempt at
//! once, then exponential backoff 0.5 s × 1.5ⁿ with ±50 % jitter, capped at 60 s, until the
//! flush deadline (`max(group_interval, 10 s)`). Retryable failures (5xx, network) are
//! retried; any other failure ends the loop. The jitter source is injectable so tests are
//! deterministic.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::alert::metrics::{AlertMetrics, FailedLabels};
use crate::alert::notify::{Batch, FailReason, Integration, NotifyContext, NotifyError};
use crate::alert::store::Alert;

pub const INITIAL_INTERVAL: Duration = Duration::from_millis(500);
pub const MULTIPLIER: f64 = 1.5;
pub const RANDOMIZATION: f64 = 0.5;
pub const MAX_INTERVAL: Duration = Duration::from_secs(60);

/// A source of uniform values in `[0, 1)`.
pub type Jitter = Arc<dyn Fn() -> f64 + Send + Sync>;

/// Random jitter from the standard library's per-instance random hash keys.
pub fn random_jitter() -> Jitter {
    Arc::new(|| {
        let v = RandomState::new().hash_one(0u8);
        (v >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// No jitter: every wait is exactly the backoff interval.
pub fn no_jitter() -> Jitter {
    Arc::new(|| 0.5)
}

/// cenkalti/backoff's exponential backoff with Alertmanager's settings.
#[derive(Clone, Debug)]
pub struct Backoff {
    current: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            current: INITIAL_INTERVAL,
        }
    }
}

impl Backoff {
    /// The wait before the next attempt; `unit` ∈ [0, 1) picks the point in ±50 %.
    pub fn next(&mut self, unit: f64) -> Duration {
        let cur = self.current.as_secs_f64();
        let delta = RANDOMIZATION * cur;
        let wait = cur - delta + unit * (2.0 * delta);
        self.current = Duration::from_secs_f64((cur * MULTIPLIER).min(MAX_INTERVAL.as_secs_f64()));
        Duration::from_secs_f64(wait.max(0.0))
    }
}

/// Why the retry loop gave up.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RetryError {
    #[error("notify retry canceled due to unrecoverable error after {attempts} attempts: {last}")]
    Unrecoverable { attempts: usize, last: NotifyError },
    #[error("notify retry canceled after {attempts} attempts: {last}")]
    Deadline { attempts: usize, last: NotifyError },
}

impl RetryError {
    pub fn reason(&self) -> FailReason {
        match self {
            RetryError::Unrecoverable { last, .. } | RetryError::Deadline { last, .. } => {
                last.reason
            }
        }
    }
}

/// Sends `alerts` through `integration` until success, a final error or `deadline`.
/// Returns the number of attempts on success. Counts requests, failures and latency per
/// attempt, and the notification (plus its failure, with reason) once.
pub async fn notify_with_retry(
    integration: &Integration,
    ctx: &NotifyContext,
    alerts: &[Alert],
    deadline: Instant,
    jitter: &Jitter,
    metrics: &AlertMetrics,
) -> Result<usize, RetryError> {
    let batch = Batch::Owned(alerts.to_vec());
    notify_batch_with_retry(integration, ctx, &batch, deadline, jitter, metrics).await
}

/// [`notify_with_retry`] for a flush's [`Batch`] of shared stored alerts.
pub async fn notify_batch_with_retry(
    integration: &Integration,
    ctx: &NotifyContext,
    alerts: &Batch,
    deadline: Instant,
    jitter: &Jitter,
    metrics: &AlertMetrics,
) -> Result<usize, RetryError> {
    let name = integration.notifier.name();
    let label = AlertMetrics::integration(name);
    metrics.notifications.get_or_create(&label).inc();
    let result = attempts(integration, ctx, alerts, deadline, jitter, metrics).await;
    if let Err(e) = &result {
        metrics
            .notifications_failed
            .get_or_create(&FailedLabels {
                integration: name.to_string(),
                reason: e.reason().as_str(),
            })
            .inc();
    }
    result
}

async fn attempts(
    integration: &Integration,
    ctx: &NotifyContext,
    alerts: &Batch,
    deadline: Instant,
    jitter: &Jitter,
    metrics: &AlertMetrics,
) -> Result<usize, RetryError> {
    let label = AlertMetrics::integration(integration.notifier.name());
    let mut backoff = Backoff::default();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let started = Instant::now();
        let outcome =
            tokio::time::timeout_at(deadline, integration.notifier.notify_batch(ctx, alerts)).await;
        metrics
            .notification_latency
            .get_or_create(&label)
            .observe(started.elapsed().as_secs_f64());
        metrics.notification_requests.get_or_create(&label).inc();
        let err = match outcome {
            Ok(Ok(())) => return Ok(attempt),
            Ok(Err(e)) => e,
            Err(_) => NotifyError::new(
                true,
                FailReason::ContextDeadlineExceeded,
                "context deadline exceeded",
            ),
        };
        metrics
            .notification_requests_failed
            .get_or_create(&label)
            .inc();
        if !err.retryable {
            return Err(RetryError::Unrecoverable {
                attempts: attempt,
                last: err,
            });
        }
        let mut wait = backoff.next(jitter());
        if let Some(after) = err.retry_after {
            wait = wait.max(after);
        }
        let next = Instant::now() + wait;
        if next >= deadline {
            tracing::warn!(
                message = "Notify attempt failed, giving up at the flush deadline",
                receiver = %ctx.receiver,
                integration = integration.notifier.name(),
                attempts = attempt,
                error = %err
            );
            return Err(RetryError::Deadline {
                attempts: attempt,
                last: err,
            });
        }
        tracing::debug!(
            message = "Notify attempt failed, will retry later",
            receiver = %ctx.receiver,
            integration = integration.notifier.name(),
            attempts = attempt,
            error = %err
        );
        tokio::time::sleep_until(next).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::dedup::Reason;
    use crate::alert::notify::{Notifier, NotifyFuture};
    use std::sync::Mutex;
    use std::time::UNIX_EPOCH;

    #[test]
    fn backoff_intervals() {
        let mut b = Backoff::default();
        let waits: Vec<f64> = (0..4).map(|_| b.next(0.5).as_secs_f64()).collect();
        assert_eq!(waits, vec![0.5, 0.75, 1.125, 1.6875]);
        let mut b = Backoff::default();
        assert_eq!(b.next(0.0), Duration::from_millis(250));
        assert!((b.next(0.999_999).as_secs_f64() - 1.125).abs() < 1e-3);
        let mut b = Backoff::default();
        let last = (0..40).map(|_| b.next(0.5)).last().unwrap();
        assert_eq!(last, MAX_INTERVAL);
    }

    #[test]
    fn random_jitter_is_in_range() {
        let j = random_jitter();
        for _ in 0..100 {
            let v = j();
            assert!((0.0..1.0).contains(&v));
        }
    }

    /// Fails with the scripted errors, then succeeds; records attempt times.
    struct Scripted {
        errors: Mutex<Vec<NotifyError>>,
        times: Mutex<Vec<Instant>>,
    }

    impl Notifier for Scripted {
        fn name(&self) -> &'static str {
            "webhook"
        }
        fn notify_batch<'a>(&'a self, _: &'a NotifyContext, _: &'a Batch) -> NotifyFuture<'a> {
            Box::pin(async move {
                self.times.lock().unwrap().push(Instant::now());
                match self.errors.lock().unwrap().pop() {
                    Some(e) => Err(e),
                    None => Ok(()),
                }
            })
        }
    }

    fn setup(errors: Vec<NotifyError>) -> (Integration, Arc<Scripted>) {
        let s = Arc::new(Scripted {
            errors: Mutex::new(errors),
            times: Mutex::new(vec![]),
        });
        (
            Integration {
                notifier: s.clone(),
                index: 0,
                send_resolved: true,
            },
            s,
        )
    }

    fn ctx() -> NotifyContext {
        NotifyContext {
            receiver: "r".into(),
            group_key: "{}:{}".into(),
            group_labels: Default::default(),
            external_url: String::new(),
            reason: Reason::FirstNotification,
            now: UNIX_EPOCH,
        }
    }

    fn metrics() -> AlertMetrics {
        AlertMetrics::register(&mut prometheus_client::registry::Registry::default())
    }

    #[tokio::test(start_paused = true)]
    async fn retries_server_errors_with_backoff() {
        let e = NotifyError::from_status(500, "");
        let (i, s) = setup(vec![e.clone(), e]);
        let start = Instant::now();
        let deadline = start + Duration::from_secs(10);
        let m = metrics();
        let n = notify_with_retry(&i, &ctx(), &[], deadline, &no_jitter(), &m)
            .await
            .unwrap();
        assert_eq!(n, 3);
        let t: Vec<Duration> = s.times.lock().unwrap().iter().map(|t| *t - start).collect();
        assert_eq!(
            t,
            vec![
                Duration::ZERO,
                Duration::from_millis(500),
                Duration::from_millis(1250)
            ]
        );
        assert_eq!(
            m.notification_requests_failed
                .get_or_create(&AlertMetrics::integration("webhook"))
                .get(),
            2
        );
    }

    #[tokio::test(start_paused = true)]
    async fn client_errors_are_final() {
        let (i, s) = setup(vec![NotifyError::from_status(429, "slow down")]);
        let deadline = Instant::now() + Duration::from_secs(10);
        let m = metrics();
        let err = notify_with_retry(&i, &ctx(), &[], deadline, &no_jitter(), &m)
            .await
            .unwrap_err();
        assert_eq!(s.times.lock().unwrap().len(), 1);
        assert_eq!(
            err.to_string(),
            "notify retry canceled due to unrecoverable error after 1 attempts: unexpected status code 429: slow down"
        );
        let failed = m
            .notifications_failed
            .get_or_create(&FailedLabels {
                integration: "webhook".into(),
                reason: "rateLimited",
            })
            .get();
        assert_eq!(failed, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_the_deadline() {
        let e = NotifyError::from_status(502, "");
        let (i, s) = setup(vec![e; 100]);
        let start = Instant::now();
        let deadline = start + Duration::from_secs(10);
        let err = notify_with_retry(&i, &ctx(), &[], deadline, &no_jitter(), &metrics())
            .await
            .unwrap_err();
        assert!(matches!(err, RetryError::Deadline { .. }));
        // 0, 0.5, 1.25, 2.375, 4.0625, 6.59375; the next would be 10.39 > 10.
        assert_eq!(s.times.lock().unwrap().len(), 6);
        assert!(Instant::now() <= deadline);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured() {
        let mut e = NotifyError::new(true, FailReason::RateLimited, "429");
        e.retry_after = Some(Duration::from_secs(3));
        let (i, s) = setup(vec![e]);
        let start = Instant::now();
        notify_with_retry(
            &i,
            &ctx(),
            &[],
            start + Duration::from_secs(10),
            &no_jitter(),
            &metrics(),
        )
        .await
        .unwrap();
        let t = s.times.lock().unwrap()[1] - start;
        assert_eq!(t, Duration::from_secs(3));
    }
}
