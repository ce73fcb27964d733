//! The Pushover integration as Alertmanager 0.28 sends it (`notify/pushover/pushover.go`;
//! 0.25 is the same without `device` and `ttl`): one `POST` to the fixed
//! `https://api.pushover.net/1/messages.json` with an empty `text/plain` body and every
//! parameter — the token and user key included — in the query string, keys sorted and
//! escaped as Go's `url.Values.Encode` does. Title, message and URL are cut at Pushover's
//! limits (250, 1024 and 512 runes, upstream's `TruncateInRunes`); the message is then
//! trimmed and, when empty, sent as `(no details)`. With `html: true` the message (only it)
//! renders through `html/template` and `html=1` is sent.
//!
//! `user_key_file` and `token_file` are read on every send, untrimmed (as upstream: a
//! trailing newline in the file is sent), and their content is rendered as a template.
//!
//! Answers: upstream's default `Retrier` — 2xx success, 5xx retryable, every other status
//! final with the body in the error (Pushover answers 429 only when an application's
//! monthly quota is spent, which waiting does not fix). The URL is never in an error or a
//! log line: it carries the secrets.

use std::path::Path;
use std::sync::Arc;

use super::http_api::{log_truncated, truncate_in_runes, JsonClient, Limit, RetryRule, TmplText};
use super::render::TemplateSet;
use super::{Batch, FailReason, Notifier, NotifyContext, NotifyError, NotifyFuture};
use crate::alert::config::PushoverConfig;
use crate::alert::store::Alert;
use crate::base::{gostr, SecretSource};

/// Upstream's hard-coded endpoint.
pub const API_URL: &str = "https://api.pushover.net/1/messages.json";

/// Upstream's `maxTitleLenRunes`, `maxMessageLenRunes`, `maxURLLenRunes`
/// (<https://pushover.net/api#limits>).
pub const MAX_TITLE_RUNES: usize = 250;
pub const MAX_MESSAGE_RUNES: usize = 1024;
pub const MAX_URL_RUNES: usize = 512;

/// A validated `pushover_configs` entry, ready to send.
pub struct Pushover {
    conf: PushoverConfig,
    templates: Arc<TemplateSet>,
    http: JsonClient,
}

impl Pushover {
    pub fn new(
        conf: PushoverConfig,
        templates: Arc<TemplateSet>,
        shared: &reqwest::Client,
        base_dir: &Path,
    ) -> Result<Self, NotifyError> {
        let http = JsonClient::new(&conf.http_config, shared, base_dir)?;
        Ok(Self {
            conf,
            templates,
            http,
        })
    }

    /// The query parameters for `alerts`, rendered in upstream's order (which decides which
    /// template error is reported), sorted by key as `url.Values.Encode` sends them.
    pub fn parameters(
        &self,
        ctx: &NotifyContext,
        alerts: &[Alert],
    ) -> Result<Vec<(&'static str, String)>, NotifyError> {
        let c = &self.conf;
        let token = read_secret(&c.token, "token_file")?;
        let user = read_secret(&c.user_key, "user_key_file")?;
        let mut t = TmplText::new(&self.templates, ctx, alerts);
        let mut p: Vec<(&'static str, String)> = Vec::new();
        p.push(("token", t.text(&token)));
        p.push(("user", t.text(&user)));
        let (title, cut) = truncate_in_runes(&t.text(&c.title), MAX_TITLE_RUNES);
        if cut {
            log_truncated("pushover", "title", ctx, Limit::Runes(MAX_TITLE_RUNES));
        }
        p.push(("title", title));
        let message = if c.html {
            p.push(("html", "1".into()));
            t.html(&c.message)
        } else {
            t.text(&c.message)
        };
        let (message, cut) = truncate_in_runes(&message, MAX_MESSAGE_RUNES);
        if cut {
            log_truncated("pushover", "message", ctx, Limit::Runes(MAX_MESSAGE_RUNES));
        }
        let message = message.trim_matches(is_go_space);
        // Pushover rejects empty messages.
        p.push((
            "message",
            if message.is_empty() {
                "(no details)".into()
            } else {
                message.to_string()
            },
        ));
        let (url, cut) = truncate_in_runes(&t.text(&c.url), MAX_URL_RUNES);
        if cut {
            log_truncated("pushover", "url", ctx, Limit::Runes(MAX_URL_RUNES));
        }
        p.push(("url", url));
        p.push(("url_title", t.text(&c.url_title)));
        p.push(("priority", t.text(&c.priority)));
        p.push(("retry", c.retry.as_secs().to_string()));
        p.push(("expire", c.expire.as_secs().to_string()));
        p.push(("device", t.text(&c.device)));
        p.push(("sound", t.text(&c.sound)));
        if c.ttl.as_secs() > 0 {
            p.push(("ttl", c.ttl.as_secs().to_string()));
        }
        t.finish()?;
        crate::base::sort::sort_by_key(&mut p, |(k, _)| *k);
        Ok(p)
    }

    async fn send(&self, ctx: &NotifyContext, alerts: &Batch) -> Result<(), NotifyError> {
        let params = self.parameters(ctx, &alerts.to_alerts())?;
        let url = format!("{API_URL}?{}", encode(&params));
        // Go sends `Content-Length: 0` for a POST without a body; hyper would send none.
        let headers = [
            (http::header::CONTENT_TYPE, "text/plain".to_string()),
            (http::header::CONTENT_LENGTH, "0".to_string()),
        ];
        let resp = self
            .http
            .post(&url, &headers, Vec::new(), None, ctx.now)
            .await?;
        RetryRule::SERVER_ERRORS.check(&resp)
    }
}

/// `token` / `user_key` inline, or its file's whole content (upstream does not trim it).
/// The error names the key and the file, never the content.
fn read_secret(src: &SecretSource, key: &'static str) -> Result<String, NotifyError> {
    src.read_untrimmed()
        .map(|s| s.expose().to_string())
        .map_err(|e| {
            let file = match src {
                SecretSource::File(p) => p.display().to_string(),
                SecretSource::Inline(_) => String::new(),
            };
            NotifyError::new(
                false,
                FailReason::Other,
                format!("read {key}: open {file}: {e}"),
            )
        })
}

/// Go's `unicode.IsSpace`, what `strings.TrimSpace` trims.
fn is_go_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    ) || (c as u32 > 0xff && c.is_whitespace())
}

/// `url.Values.Encode` of already sorted pairs: `k=v` joined by `&`, both `QueryEscape`d
/// (a raw non-UTF-8 byte of a template value escaped as that byte, as in Go).
pub fn encode(params: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (k, v) in params {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&crate::base::go::query_escape(k));
        out.push('=');
        for &b in gostr::to_bytes(v).iter() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(char::from(b))
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    out
}

impl Notifier for Pushover {
    fn name(&self) -> &'static str {
        "pushover"
    }

    fn notify_batch<'a>(&'a self, ctx: &'a NotifyContext, alerts: &'a Batch) -> NotifyFuture<'a> {
        Box::pin(self.send(ctx, alerts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_encode_as_go() {
        let p = vec![
            ("message", "a b*c~d\n<é>&".to_string()),
            ("token", "x/y+z".to_string()),
        ];
        assert_eq!(
            encode(&p),
            "message=a+b%2Ac~d%0A%3C%C3%A9%3E%26&token=x%2Fy%2Bz"
        );
    }

    #[test]
    fn trim_space_as_go() {
        assert_eq!(
            " \u{85}x y\u{2003}\n".trim_matches(is_go_space),
            "x y",
            "NEL and em space are Go spaces"
        );
        assert_eq!("\u{200b}x".trim_matches(is_go_space), "\u{200b}x");
    }
}
