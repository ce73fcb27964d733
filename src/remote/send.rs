//! Sending one batch, as Prometheus 2.42's `remote.Client.Store` and
//! `sendWriteRequestWithBackoff` do: a POST of the snappy body with the protocol's headers;
//! network errors and 5xx answers are recoverable (and 429 with `retry_on_http_429`, after
//! its `Retry-After`), everything else non-recoverable. Recoverable errors are retried
//! with exponential backoff from `min_backoff`, doubling up to `max_backoff`, until the
//! send succeeds, fails for good, or the queue stops. The backoff loop takes the attempt
//! as a closure, so it is tested under paused time without a network.

use std::future::Future;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use tokio_util::sync::CancellationToken;

use super::config::{QueueConfig, RemoteWriteConfig};
use crate::client::RequestHeaders;

/// Longest part of an error answer kept in the message (Prometheus' `maxErrMsgLen`).
const MAX_ERR_MSG_LEN: usize = 1024;

/// `User-Agent` of remote-write requests.
pub fn user_agent() -> String {
    format!("blackwatch/{}", env!("CARGO_PKG_VERSION"))
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying; `retry_after` from a 429's `Retry-After`.
    #[error("{message}")]
    Recoverable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Dropped: retrying cannot help (4xx, a bad request).
    #[error("{0}")]
    Fatal(String),
}

/// The end of a send with retries.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Sent,
    Failed(String),
    /// The queue stopped first; the batch stays queued.
    Cancelled,
}

/// Retries `attempt` on recoverable errors with Prometheus' backoff. `on_retry` runs before
/// each retry (after the wait).
pub async fn with_backoff<F, Fut>(
    q: &QueueConfig,
    token: &CancellationToken,
    mut attempt: F,
    mut on_retry: impl FnMut(&SendError),
) -> Outcome
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), SendError>>,
{
    let mut backoff = q.min_backoff;
    loop {
        if token.is_cancelled() {
            return Outcome::Cancelled;
        }
        let err = tokio::select! {
            _ = token.cancelled() => return Outcome::Cancelled,
            r = attempt() => match r {
                Ok(()) => return Outcome::Sent,
                Err(SendError::Fatal(m)) => return Outcome::Failed(m),
                Err(e) => e,
            },
        };
        let sleep = match &err {
            SendError::Recoverable {
                retry_after: Some(d),
                ..
            } if !d.is_zero() => *d,
            _ => backoff,
        };
        tokio::select! {
            _ = token.cancelled() => return Outcome::Cancelled,
            _ = tokio::time::sleep(sleep) => {}
        }
        on_retry(&err);
        tracing::warn!(message = "Failed to send batch, retrying", error = %err);
        backoff = (sleep * 2).min(q.max_backoff);
    }
}

/// `retryAfterDuration`: seconds, or an HTTP date relative to `now`; otherwise none (the
/// default backoff).
pub fn retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    if let Ok(t) = httpdate::parse_http_date(value) {
        return Some(t.duration_since(now).unwrap_or_default());
    }
    value.parse::<u64>().ok().map(Duration::from_secs)
}

/// An endpoint's HTTP side: the reqwest client of its `http_client_config` fields, the URL,
/// `remote_timeout`, `headers` and credentials.
pub struct Client {
    http: reqwest::Client,
    url: url::Url,
    timeout: Duration,
    headers: Vec<(HeaderName, String)>,
    auth: RequestHeaders,
    sigv4: Option<super::sigv4::Signer>,
    retry_on_429: bool,
}

impl Client {
    pub fn new(cfg: &RemoteWriteConfig) -> Result<Self, String> {
        Ok(Self {
            http: crate::client::reqwest_client::build(&cfg.client, None)?,
            url: cfg.url.clone(),
            timeout: cfg.remote_timeout,
            headers: cfg.headers.clone(),
            auth: cfg.client.headers.clone(),
            sigv4: cfg.sigv4.clone().map(super::sigv4::Signer::new),
            retry_on_429: cfg.queue.retry_on_http_429,
        })
    }

    /// One POST of a snappy-compressed `WriteRequest`.
    pub async fn store(&self, body: Vec<u8>) -> Result<(), SendError> {
        let recoverable = |message: String| SendError::Recoverable {
            message,
            retry_after: None,
        };
        let mut req = self
            .http
            .post(self.url.clone())
            .timeout(self.timeout)
            .header(CONTENT_ENCODING, "snappy")
            .header(CONTENT_TYPE, "application/x-protobuf")
            .header(USER_AGENT, user_agent())
            .header("X-Prometheus-Remote-Write-Version", "0.1.0");
        for (name, value) in &self.headers {
            req = req.header(name.clone(), value.as_str());
        }
        let creds = self.auth.resolve().await.map_err(|e| {
            if e.retryable() {
                recoverable(e.to_string())
            } else {
                SendError::Fatal(e.to_string())
            }
        })?;
        for (name, value) in creds {
            let mut v = HeaderValue::from_str(value.expose())
                .map_err(|_| SendError::Fatal(format!("invalid value for header {name}")))?;
            v.set_sensitive(true);
            req = req.header(name, v);
        }
        if let Some(signer) = &self.sigv4 {
            let signed = signer
                .headers(&self.http, self.url.as_str(), &body)
                .await
                .map_err(recoverable)?;
            for (name, value) in signed {
                let mut v = HeaderValue::from_str(&value)
                    .map_err(|_| SendError::Fatal(format!("invalid value for header {name}")))?;
                v.set_sensitive(true);
                req = req.header(name, v);
            }
        }
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| recoverable(without_url(&e)))?;
        let status = resp.status();
        if status.is_success() {
            // Drain the body so the connection is reused.
            let _ = resp.bytes().await;
            return Ok(());
        }
        let after = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, crate::clock::Now::read().wall));
        let text = resp.bytes().await.unwrap_or_default();
        let first = text[..text.len().min(MAX_ERR_MSG_LEN)]
            .split(|b| *b == b'\n')
            .next()
            .unwrap_or_default();
        let message = format!(
            "server returned HTTP status {}: {}",
            status,
            String::from_utf8_lossy(first)
        );
        if status.is_server_error() {
            return Err(recoverable(message));
        }
        if self.retry_on_429 && status == http::StatusCode::TOO_MANY_REQUESTS {
            return Err(SendError::Recoverable {
                message,
                retry_after: after,
            });
        }
        Err(SendError::Fatal(message))
    }
}

/// A reqwest error's text without the URL (which may carry credentials in its userinfo).
pub(super) fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "<url>");
    }
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::time::Instant;

    fn q() -> QueueConfig {
        QueueConfig {
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_millis(200),
            ..QueueConfig::default()
        }
    }

    /// Runs `with_backoff` over scripted answers; returns the outcome, the instants of the
    /// attempts (from the start) and the retry count.
    async fn script(answers: Vec<Result<(), SendError>>) -> (Outcome, Vec<Duration>, usize) {
        let start = Instant::now();
        let answers = Arc::new(Mutex::new(answers.into_iter()));
        let times = Arc::new(Mutex::new(Vec::new()));
        let mut retries = 0;
        let out = with_backoff(
            &q(),
            &CancellationToken::new(),
            || {
                let answers = answers.clone();
                let times = times.clone();
                async move {
                    times.lock().unwrap().push(start.elapsed());
                    answers.lock().unwrap().next().unwrap_or(Ok(()))
                }
            },
            |_| retries += 1,
        )
        .await;
        let times = times.lock().unwrap().clone();
        (out, times, retries)
    }

    fn down() -> Result<(), SendError> {
        Err(SendError::Recoverable {
            message: "503".into(),
            retry_after: None,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_doubles_from_min_to_max() {
        let (out, times, retries) =
            script(vec![down(), down(), down(), down(), down(), Ok(())]).await;
        assert_eq!(out, Outcome::Sent);
        assert_eq!(retries, 5);
        let ms: Vec<u128> = times.iter().map(Duration::as_millis).collect();
        // Waits of 30, 60, 120, 200 (capped), 200.
        assert_eq!(ms, vec![0, 30, 90, 210, 410, 610]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fatal_error_is_not_retried() {
        let (out, times, retries) = script(vec![down(), Err(SendError::Fatal("400".into()))]).await;
        assert_eq!(out, Outcome::Failed("400".into()));
        assert_eq!((times.len(), retries), (2, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_replaces_the_backoff_and_the_next_doubles_it() {
        let (out, times, _) = script(vec![
            Err(SendError::Recoverable {
                message: "429".into(),
                retry_after: Some(Duration::from_millis(100)),
            }),
            down(),
            Ok(()),
        ])
        .await;
        assert_eq!(out, Outcome::Sent);
        let ms: Vec<u128> = times.iter().map(Duration::as_millis).collect();
        // 100 from Retry-After, then 200 (= 2 × 100, at max).
        assert_eq!(ms, vec![0, 100, 300]);
    }

    #[tokio::test(start_paused = true)]
    async fn cancelling_stops_the_retries() {
        let token = CancellationToken::new();
        let t2 = token.clone();
        tokio::spawn(crate::base::task::boxed(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            t2.cancel();
        }));
        let out = with_backoff(&q(), &token, || async { down() }, |_| {}).await;
        assert_eq!(out, Outcome::Cancelled);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(retry_after(&later, now), Some(Duration::from_secs(30)));
        assert_eq!(retry_after("soon", now), None);
    }
}
