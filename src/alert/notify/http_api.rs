//! The shared layer of the integrations that POST JSON to an HTTP API (Slack now; Telegram,
//! PagerDuty, Opsgenie, … next): what upstream's `notify/util.go` gives every integration.
//!
//! - [`TmplText`]: render a set of templated fields with upstream's `tmplText` policy — the
//!   first template error is kept, every later field renders empty, and [`TmplText::finish`]
//!   turns the error into a non-retryable [`NotifyError`].
//! - [`truncate_in_runes`] / [`truncate_in_bytes`]: `notify.TruncateInRunes` /
//!   `TruncateInBytes` (with the `…` marker), and [`log_truncated`], upstream's warning.
//! - [`go_json`]: a body as Go's `json.Encoder` writes it (HTML-escaped, newline at the end).
//! - [`JsonClient`]: the integration's HTTP client built from its `http_config` (shared client
//!   unless TLS or redirects differ, credentials and headers read per request), `post_json`
//!   with upstream's headers, a bounded read of the answer ([`HttpResponse`]).
//! - [`RetryRule`]: upstream's `Retrier.Check` (2xx ok, 5xx and `retry_codes` retryable,
//!   everything else final, `unexpected status code N: body`), plus whether a 429 carries
//!   the `Retry-After` wait to the retry loop.
//!
//! Nothing here knows an integration's payload. No URL or credential ever enters an error
//! or a log line: callers pass the URL only to [`JsonClient::post_json`], and transport
//! errors are stripped of it ([`NotifyError::from_request`]).

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::render::{data_value, RenderError, TemplateSet};
use super::{FailReason, NotifyContext, NotifyError};
use crate::alert::config::raw::RawHttpConfig;
use crate::alert::store::Alert;
use crate::base::{gostr, SecretSource};
use crate::client::{CredentialError, RequestHeaders};
use crate::template::Value;

/// Upstream's truncation marker (U+2026).
pub const TRUNCATION_MARKER: &str = "…";

/// At most this much of an error answer is read (and at most [`ERROR_EXCERPT_CHARS`] of it
/// quoted in the error), so a receiver answering with megabytes cannot hold a flush.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
pub const ERROR_EXCERPT_CHARS: usize = 256;

/// The longest `Retry-After` wait taken from a server.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Upstream's `TmplText`: renders fields against one notification's template data; after
/// the first error every field renders empty and the error is kept for [`Self::finish`].
pub struct TmplText<'a> {
    templates: &'a TemplateSet,
    data: Value,
    now: SystemTime,
    error: Option<RenderError>,
}

impl<'a> TmplText<'a> {
    /// The template data of `alerts` at `ctx.now` (upstream's `GetTemplateData`).
    pub fn new(templates: &'a TemplateSet, ctx: &NotifyContext, alerts: &[Alert]) -> Self {
        Self {
            templates,
            data: data_value(ctx, alerts),
            now: ctx.now,
            error: None,
        }
    }

    /// One templated field; empty once an earlier field failed.
    pub fn text(&mut self, template: &str) -> String {
        if self.error.is_some() {
            return String::new();
        }
        match self.templates.render_text(template, &self.data, self.now) {
            Ok(s) => s,
            Err(e) => {
                self.error = Some(e);
                String::new()
            }
        }
    }

    /// One field through `html/template` (upstream's `TmplHTML`, which shares the error
    /// with `TmplText`); empty once an earlier field failed.
    pub fn html(&mut self, template: &str) -> String {
        if self.error.is_some() {
            return String::new();
        }
        match self.templates.render_html(template, &self.data, self.now) {
            Ok(s) => s,
            Err(e) => {
                self.error = Some(e);
                String::new()
            }
        }
    }

    /// The first template error, if any, without consuming the renderer (for upstream's
    /// checks between fields, as SNS does).
    pub fn failed(&self) -> Option<&RenderError> {
        self.error.as_ref()
    }

    /// The first template error, as a final (non-retryable) failure.
    pub fn finish(self) -> Result<(), NotifyError> {
        match self.error {
            None => Ok(()),
            Some(e) => Err(template_error(e)),
        }
    }
}

/// A template that failed to render: final, retrying renders the same text.
pub fn template_error(e: impl std::fmt::Display) -> NotifyError {
    NotifyError::new(false, FailReason::Other, format!("template error: {e}"))
}

/// Upstream's `TruncateInRunes`: over `n` runes ⇒ the first `n-1` runes and `…` (`n ≤ 3`:
/// the first `n` runes, no marker). The flag says whether anything was cut. Runes are Go's
/// (`[]rune(s)`): a raw byte that is not UTF-8 (`base::gostr`) counts as one and, in a
/// truncated result, becomes U+FFFD, as the conversion makes it in Go; an untouched `s`
/// keeps its raw bytes (the JSON encoder writes them as `\ufffd`).
pub fn truncate_in_runes(s: &str, n: usize) -> (String, bool) {
    if s.chars().nth(n).is_none() {
        return (s.to_string(), false);
    }
    let runes = gostr::to_utf8_lossy(s);
    let s = runes.as_ref();
    if n <= 3 {
        return (s.chars().take(n).collect(), true);
    }
    let mut out: String = s.chars().take(n - 1).collect();
    out.push_str(TRUNCATION_MARKER);
    (out, true)
}

/// Upstream's `TruncateInBytes`: over `n` bytes ⇒ the longest prefix of whole runes within
/// `n-3` bytes and `…` (3 bytes); `n == 3` ⇒ `…` alone, `n < 3` ⇒ `n` dots. Bytes are Go's:
/// a raw byte (`base::gostr`) counts as one.
pub fn truncate_in_bytes(s: &str, n: usize) -> (String, bool) {
    let bytes = gostr::to_bytes(s);
    if bytes.len() <= n {
        return (s.to_string(), false);
    }
    if n < 3 {
        return (".".repeat(n), true);
    }
    if n == 3 {
        return (TRUNCATION_MARKER.to_string(), true);
    }
    // Whole runes (a raw byte is one byte) while they fit in `n - 3` bytes.
    let mut used = 0;
    let mut end = 0;
    for (i, c) in s.char_indices() {
        let len = if gostr::raw_byte(c).is_some() {
            1
        } else {
            c.len_utf8()
        };
        if used + len > n - 3 {
            break;
        }
        used += len;
        end = i + c.len_utf8();
    }
    (format!("{}{TRUNCATION_MARKER}", &s[..end]), true)
}

/// The unit of a truncation limit, for the log line.
#[derive(Clone, Copy, Debug)]
pub enum Limit {
    Runes(usize),
    Bytes(usize),
}

/// Upstream's warning when a field was cut: the integration, the field and its limit, and
/// the group key (labels, never a secret).
pub fn log_truncated(
    integration: &'static str,
    field: &'static str,
    ctx: &NotifyContext,
    limit: Limit,
) {
    match limit {
        Limit::Runes(max_runes) => tracing::warn!(
            message = "Truncated field",
            integration,
            field,
            key = %ctx.group_key,
            max_runes
        ),
        Limit::Bytes(max_bytes) => tracing::warn!(
            message = "Truncated field",
            integration,
            field,
            key = %ctx.group_key,
            max_bytes
        ),
    }
}

/// `value` as Go's `json.NewEncoder(w).Encode(value)` writes it: `<`, `>`, `&`, U+2028 and
/// U+2029 escaped, a raw byte that is not UTF-8 (`base::gostr`) as `\ufffd`, a newline at
/// the end. Field order and omission are the struct's.
pub fn go_json<T: Serialize>(value: &T) -> Result<String, NotifyError> {
    let s = serde_json::to_string(value)
        .map_err(|e| NotifyError::new(false, FailReason::Other, format!("encoding JSON: {e}")))?;
    let mut out = crate::base::go::json_html_escape(&s);
    out.push('\n');
    Ok(out)
}

/// Reads a secret URL (inline, or a `*_file` re-read and trimmed on every send). The error
/// names the key and the file, never the URL.
pub fn read_url(src: &SecretSource, key: &'static str) -> Result<String, NotifyError> {
    src.read().map(|s| s.expose().to_string()).map_err(|e| {
        NotifyError::new(
            false,
            FailReason::Other,
            CredentialError::new(key, src, e).to_string(),
        )
    })
}

/// An answer, read up to [`MAX_RESPONSE_BYTES`].
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// The `Content-Type` header, empty when absent.
    pub content_type: String,
    /// The `Retry-After` header, as the wait it asks for at `now`.
    pub retry_after: Option<Duration>,
    pub body: String,
}

impl HttpResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Which failed answers an integration retries (upstream's `notify.Retrier`).
#[derive(Clone, Copy, Debug)]
pub struct RetryRule {
    /// Codes retried besides every 5xx (upstream's `RetryCodes`).
    pub retry_codes: &'static [u16],
    /// Whether a 429's `Retry-After` becomes the least wait before the next attempt.
    pub honour_retry_after: bool,
}

impl RetryRule {
    /// Upstream's default `Retrier{}`: only 5xx is retried.
    pub const SERVER_ERRORS: RetryRule = RetryRule {
        retry_codes: &[],
        honour_retry_after: false,
    };

    /// `Retrier.Check`: `Ok` for 2xx, else the error with `retryable` per this rule and
    /// upstream's text (`unexpected status code 503: <body excerpt>`).
    pub fn check(&self, resp: &HttpResponse) -> Result<(), NotifyError> {
        if resp.is_success() {
            return Ok(());
        }
        let excerpt: String = resp.body.chars().take(ERROR_EXCERPT_CHARS).collect();
        let mut err = NotifyError::from_status(resp.status, &excerpt);
        err.retryable = resp.status / 100 == 5 || self.retry_codes.contains(&resp.status);
        if resp.status == 429 && self.honour_retry_after {
            err.retry_after = resp.retry_after;
        }
        Err(err)
    }
}

/// `Retry-After` as a wait from `now`: delay-seconds or an HTTP date, capped at an hour.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(now)
            .unwrap_or_default(),
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// An integration's HTTP client: built once from its `http_config` (start-up, reload), used
/// for every attempt.
pub struct JsonClient {
    client: reqwest::Client,
    /// Credentials and `http_headers`, read per request.
    headers: RequestHeaders,
    user_agent: String,
}

impl JsonClient {
    /// The client for `http_config` (relative files from `base_dir`): `shared` unless its
    /// TLS or redirect settings differ (see [`super::build::http_client`]).
    pub fn new(
        http_config: &RawHttpConfig,
        shared: &reqwest::Client,
        base_dir: &Path,
    ) -> Result<Self, NotifyError> {
        let settings = super::build::client_settings(http_config, base_dir)
            .map_err(|e| NotifyError::new(false, FailReason::Other, e))?;
        let client = super::build::http_client(&settings, shared)?;
        Ok(Self {
            client,
            headers: settings.headers,
            user_agent: format!("blackwatch/{}", env!("CARGO_PKG_VERSION")),
        })
    }

    /// Upstream's `notify.PostJSON`: `POST url` with `Content-Type: application/json`, the
    /// `User-Agent`, the `http_config` credentials and headers; `now` dates `Retry-After`.
    /// A request that gets no answer is retryable, and its error carries no URL.
    pub async fn post_json(
        &self,
        url: &str,
        body: String,
        timeout: Option<Duration>,
        now: SystemTime,
    ) -> Result<HttpResponse, NotifyError> {
        self.send_json(http::Method::POST, url, body, &[], timeout, now)
            .await
    }

    /// As [`Self::post_json`] with another method and the integration's own headers
    /// (`extra`, e.g. Opsgenie's `Authorization: GenieKey …`). A header in `extra` wins over
    /// the same header from `http_config`, as prometheus/common's round trippers leave a
    /// request's own `Authorization` alone.
    pub async fn send_json(
        &self,
        method: http::Method,
        url: &str,
        body: String,
        extra: &[(http::HeaderName, String)],
        timeout: Option<Duration>,
        now: SystemTime,
    ) -> Result<HttpResponse, NotifyError> {
        let headers = [(http::header::CONTENT_TYPE, "application/json".to_string())];
        self.send(method, url, &headers, body.into(), extra, timeout, now)
            .await
    }

    /// `POST url` with `headers` (a `Content-Type` among them) and `body`, plus the
    /// `User-Agent` and the `http_config` credentials and headers: [`Self::post_json`] for
    /// any content (Pushover's empty `text/plain`, SNS's signed form).
    pub async fn post(
        &self,
        url: &str,
        headers: &[(http::HeaderName, String)],
        body: impl Into<reqwest::Body>,
        timeout: Option<Duration>,
        now: SystemTime,
    ) -> Result<HttpResponse, NotifyError> {
        self.send(
            http::Method::POST,
            url,
            headers,
            body.into(),
            &[],
            timeout,
            now,
        )
        .await
    }

    /// The one request path: `headers` and the body, the `User-Agent`, the `http_config`
    /// credentials and headers unless `extra` overrides them, then `extra`.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(http::HeaderName, String)],
        body: reqwest::Body,
        extra: &[(http::HeaderName, String)],
        timeout: Option<Duration>,
        now: SystemTime,
    ) -> Result<HttpResponse, NotifyError> {
        let mut req = self
            .client
            .request(method, url)
            .header("User-Agent", &self.user_agent);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let mut req = req.body(body);
        let headers = self
            .headers
            .resolve()
            .await
            .map_err(|e| NotifyError::new(e.retryable(), FailReason::Other, e.to_string()))?;
        for (k, v) in headers {
            if !extra.iter().any(|(name, _)| *name == k) {
                req = req.header(k, v.expose());
            }
        }
        for (k, v) in extra {
            req = req.header(k, v);
        }
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        let resp = req.send().await.map_err(NotifyError::from_request)?;
        Ok(read_answer(resp, now).await)
    }

    /// Upstream's `notify.Get`: `GET url` with only the `User-Agent` and the `http_config`
    /// credentials and headers. Errors as [`Self::post_json`]'s.
    pub async fn get(
        &self,
        url: &str,
        timeout: Option<Duration>,
        now: SystemTime,
    ) -> Result<HttpResponse, NotifyError> {
        let mut req = self.client.get(url).header("User-Agent", &self.user_agent);
        let headers = self
            .headers
            .resolve()
            .await
            .map_err(|e| NotifyError::new(e.retryable(), FailReason::Other, e.to_string()))?;
        for (k, v) in headers {
            req = req.header(k, v.expose());
        }
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        let resp = req.send().await.map_err(NotifyError::from_request)?;
        Ok(read_answer(resp, now).await)
    }
}

/// The status, the headers that matter and at most [`MAX_RESPONSE_BYTES`] of the body.
async fn read_answer(mut resp: reqwest::Response, now: SystemTime) -> HttpResponse {
    let header = |name: http::HeaderName| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header(http::header::CONTENT_TYPE).unwrap_or_default();
    let retry_after = header(http::header::RETRY_AFTER).and_then(|v| parse_retry_after(&v, now));
    let status = resp.status().as_u16();
    let mut bytes = Vec::new();
    while bytes.len() < MAX_RESPONSE_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            // The status is what matters; a body cut short is read as far as it came.
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(MAX_RESPONSE_BYTES);
    HttpResponse {
        status,
        content_type,
        retry_after,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

impl JsonClient {
    /// A JSON request of any method, for APIs beyond one POST (Jira's search / create /
    /// transition flow): `Content-Type: application/json` on every request (upstream's Jira
    /// client sets it on its GETs too), the `User-Agent`, `extra` headers (Rocket.Chat's
    /// `X-Auth-Token` / `X-User-Id`, Jira's `Accept-Language`), the `http_config`
    /// credentials and headers, the body when given. Errors as [`Self::post_json`]'s.
    #[allow(clippy::too_many_arguments)]
    pub async fn request(
        &self,
        method: http::Method,
        url: &str,
        extra: &[(&str, &str)],
        body: Option<String>,
        timeout: Option<Duration>,
        now: SystemTime,
    ) -> Result<HttpResponse, NotifyError> {
        let mut req = self
            .client
            .request(method, url)
            .header("Content-Type", "application/json")
            .header("User-Agent", &self.user_agent);
        for (k, v) in extra {
            let mut value = http::HeaderValue::from_str(v).map_err(|_| {
                NotifyError::new(
                    false,
                    FailReason::Other,
                    format!("invalid value for header {k}"),
                )
            })?;
            value.set_sensitive(true);
            req = req.header(*k, value);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let headers = self
            .headers
            .resolve()
            .await
            .map_err(|e| NotifyError::new(e.retryable(), FailReason::Other, e.to_string()))?;
        for (k, v) in headers {
            req = req.header(k, v.expose());
        }
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        let resp = req.send().await.map_err(NotifyError::from_request)?;
        Ok(read_answer(resp, now).await)
    }
}

/// Go's `(*url.URL).JoinPath(elem)` on an `http(s)` URL: the path and `elem` joined and
/// cleaned (`path.Join`: no `//`, `.` or `..`), a trailing `/` of `elem` kept; query and
/// fragment stay. `None` when `base` does not parse.
pub fn join_path(base: &str, elem: &str) -> Option<String> {
    let mut u = url::Url::parse(base).ok()?;
    let joined = format!("{}/{elem}", u.path());
    let mut parts: Vec<&str> = Vec::new();
    for seg in joined.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut path = format!("/{}", parts.join("/"));
    if elem.ends_with('/') && !path.ends_with('/') {
        path.push('/');
    }
    u.set_path(&path);
    Some(u.to_string())
}

/// Upstream's `notify.Key.Hash()`: the lowercase hex SHA-256 of the whole group key
/// (`routeKey:{groupLabels}`), PagerDuty's `dedup_key`/`incident_key`, Opsgenie's `alias`,
/// VictorOps' `entity_id`.
pub fn group_key_hash(group_key: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(group_key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_key_hash_as_upstream() {
        // notify/util_test.go and a key hashed by Alertmanager 0.25 (receivers-spec 1.3).
        assert_eq!(
            group_key_hash("1"),
            "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"
        );
        assert_eq!(
            group_key_hash("{}:{alertname=\"Test\"}"),
            "e9431e3956d0c42acc81f7e5efa9f884c86bb68f834cbecb73e7cb9a0c1271d5"
        );
    }

    #[test]
    fn truncation_as_upstream_table() {
        // notify/util_test.go TestTruncate (0.25): input, limit, runes result, bytes result.
        type Case = (
            &'static str,
            usize,
            (&'static str, bool),
            (&'static str, bool),
        );
        let cases: &[Case] = &[
            ("", 5, ("", false), ("", false)),
            ("abcde", 2, ("ab", true), ("..", true)),
            ("abcde", 4, ("abc…", true), ("a…", true)),
            ("abcde", 5, ("abcde", false), ("abcde", false)),
            ("abcdefgh", 5, ("abcd…", true), ("ab…", true)),
            ("a⌘cde", 5, ("a⌘cde", false), ("a…", true)),
            ("a⌘cdef", 5, ("a⌘cd…", true), ("a…", true)),
            ("世界cdef", 3, ("世界c", true), ("…", true)),
            (
                "❤️✅🚀🔥❌❤️✅🚀🔥❌❤️✅🚀🔥❌❤️✅🚀🔥❌",
                19,
                ("❤️✅🚀🔥❌❤️✅🚀🔥❌❤️✅🚀🔥❌…", true),
                ("❤️✅🚀…", true),
            ),
        ];
        for (s, n, runes, bytes) in cases {
            let r = truncate_in_runes(s, *n);
            assert_eq!((r.0.as_str(), r.1), *runes, "runes {s:?} {n}");
            let b = truncate_in_bytes(s, *n);
            assert_eq!((b.0.as_str(), b.1), *bytes, "bytes {s:?} {n}");
        }
        // Where upstream's rune slicing would panic (fewer runes than n-3).
        assert_eq!(
            truncate_in_bytes("世界世界", 10),
            ("世界…".to_string(), true)
        );
    }

    #[test]
    fn retry_rule_as_upstream_retrier() {
        let resp = |status: u16, retry_after: Option<Duration>| HttpResponse {
            status,
            content_type: String::new(),
            retry_after,
            body: "x".repeat(1000),
        };
        let plain = RetryRule::SERVER_ERRORS;
        assert!(plain.check(&resp(200, None)).is_ok());
        assert!(plain.check(&resp(204, None)).is_ok());
        let e = plain.check(&resp(503, None)).unwrap_err();
        assert!(e.retryable);
        assert_eq!(e.reason, FailReason::ServerError);
        assert!(e.message.starts_with("unexpected status code 503: xxx"));
        assert_eq!(e.message.len(), "unexpected status code 503: ".len() + 256);
        let e = plain
            .check(&resp(429, Some(Duration::from_secs(3))))
            .unwrap_err();
        assert!(!e.retryable);
        assert_eq!(e.retry_after, None);
        assert!(!plain.check(&resp(404, None)).unwrap_err().retryable);
        let rl = RetryRule {
            retry_codes: &[429],
            honour_retry_after: true,
        };
        let e = rl
            .check(&resp(429, Some(Duration::from_secs(3))))
            .unwrap_err();
        assert!(e.retryable);
        assert_eq!(e.reason, FailReason::RateLimited);
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
    }

    #[test]
    fn retry_after_seconds_or_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("999999", now), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn tmpl_text_keeps_the_first_error_and_renders_empty_after_it() {
        use crate::alert::dedup::Reason;
        let set = TemplateSet::defaults();
        let ctx = NotifyContext {
            receiver: "r".into(),
            group_key: "{}:{}".into(),
            group_labels: crate::labels::label_set(&[("alertname", "A")]),
            external_url: "http://bw".into(),
            reason: Reason::FirstNotification,
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        };
        let mut t = TmplText::new(&set, &ctx, &[]);
        assert_eq!(t.text("{{ .Receiver }}"), "r");
        assert_eq!(t.text("{{ template \"nope\" . }}"), "");
        assert_eq!(t.text("{{ .Receiver }}"), "", "empty after the first error");
        let e = t.finish().unwrap_err();
        assert!(!e.retryable);
        assert!(e.message.starts_with("template error: "), "{}", e.message);
        assert!(e.message.contains("nope"), "{}", e.message);
        let mut ok = TmplText::new(&set, &ctx, &[]);
        assert_eq!(ok.text(""), "");
        assert!(ok.finish().is_ok());
    }

    #[test]
    fn join_path_as_go_url_join_path() {
        let j = |b: &str, e: &str| join_path(b, e).unwrap();
        assert_eq!(
            j("https://open.rocket.chat/", "api/v1/chat.postMessage"),
            "https://open.rocket.chat/api/v1/chat.postMessage"
        );
        assert_eq!(
            j("http://h:1", "api/v1/chat.postMessage"),
            "http://h:1/api/v1/chat.postMessage"
        );
        assert_eq!(
            j("http://h/base//x/", "issue/OPS-1/transitions"),
            "http://h/base/x/issue/OPS-1/transitions"
        );
        assert_eq!(j("http://h/a/b?q=1", "../c"), "http://h/a/c?q=1");
        assert_eq!(
            j("http://h/rest/api/2", "search"),
            "http://h/rest/api/2/search"
        );
    }

    #[test]
    fn go_json_escapes_html_and_ends_with_newline() {
        #[derive(Serialize)]
        struct P {
            a: &'static str,
        }
        assert_eq!(
            go_json(&P {
                a: "<@U1> & \u{2028}"
            })
            .unwrap(),
            "{\"a\":\"\\u003c@U1\\u003e \\u0026 \\u2028\"}\n"
        );
    }
}
