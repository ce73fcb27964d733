//! The VictorOps (Splunk On-Call) integration as Alertmanager 0.25 to 0.28 send it
//! (`notify/victorops/victorops.go`): `POST {api_url}{api_key}/{routing_key}` with a flat
//! JSON object (Go map: keys sorted, `custom_fields` mixed in), `entity_id` the group-key
//! hash, `message_type` `INFO`/`WARNING`/`CRITICAL` as rendered (anything else `CRITICAL`)
//! or `RECOVERY` when every alert is resolved, `state_message` cut at 20480 runes.
//!
//! Answers, as upstream: 2xx success, 5xx retried, every other status final (429
//! included: upstream's `Retrier{}` has no retry codes). A template error in the routing key
//! is final; in the body it is retried, as upstream returns it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::http_api::{
    go_json, group_key_hash, log_truncated, truncate_in_runes, JsonClient, Limit, RetryRule,
    TmplText,
};
use super::render::TemplateSet;
use super::{Batch, FailReason, GroupSummary, Notifier, NotifyContext, NotifyError, NotifyFuture};
use crate::alert::config::VictorOpsConfig;
use crate::alert::store::Alert;

/// `maxMessageLenRunes`.
pub const MAX_STATE_MESSAGE_RUNES: usize = 20480;

/// A validated `victorops_configs` entry, ready to send.
pub struct VictorOps {
    conf: VictorOpsConfig,
    templates: Arc<TemplateSet>,
    http: JsonClient,
}

/// Go's `url.PathEscape`-like escaping of a path (`shouldEscape(c, encodePath)`): what
/// `URL.String()` does to the key and routing key appended to `api_url`'s path.
pub fn go_escape_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'$'
            | b'&'
            | b'+'
            | b','
            | b'/'
            | b':'
            | b';'
            | b'='
            | b'@' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `base` (a URL whose path ends with `/`) with `tail` appended to its path, before any
/// query or fragment (upstream's `u.Path += tail`).
pub fn append_path(base: &str, tail: &str) -> String {
    let cut = base.find(['?', '#']).unwrap_or(base.len());
    format!("{}{}{}", &base[..cut], go_escape_path(tail), &base[cut..])
}

impl VictorOps {
    pub fn new(
        conf: VictorOpsConfig,
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

    /// The URL to post to: the API key (read now) and the templated routing key appended.
    pub fn url(&self, ctx: &NotifyContext, alerts: &[Alert]) -> Result<String, NotifyError> {
        let key = self.conf.api_key.read().map_err(|e| {
            NotifyError::new(
                false,
                FailReason::Other,
                format!("failed to read API key from file: {e}"),
            )
        })?;
        let mut t = TmplText::new(&self.templates, ctx, alerts);
        let routing = t.text(&self.conf.routing_key);
        t.finish().map_err(|e| templating(e, false))?;
        Ok(append_path(
            &self.conf.api_url,
            &format!("{}/{routing}", key.expose()),
        ))
    }

    /// Upstream's `createVictorOpsPayload`.
    pub fn payload(
        &self,
        ctx: &NotifyContext,
        alerts: &[Alert],
    ) -> Result<BTreeMap<String, String>, NotifyError> {
        let c = &self.conf;
        let mut t = TmplText::new(&self.templates, ctx, alerts);
        let mut message_type = t.text(&c.message_type);
        let state_message = t.text(&c.state_message);
        if GroupSummary::of(alerts, ctx.now).firing {
            if !matches!(message_type.as_str(), "INFO" | "WARNING" | "CRITICAL") {
                message_type = "CRITICAL".into();
            }
        } else {
            message_type = "RECOVERY".into();
        }
        let (state_message, truncated) = truncate_in_runes(&state_message, MAX_STATE_MESSAGE_RUNES);
        if truncated {
            log_truncated(
                "victorops",
                "state_message",
                ctx,
                Limit::Runes(MAX_STATE_MESSAGE_RUNES),
            );
        }
        let mut msg = BTreeMap::from([
            ("message_type".to_string(), message_type),
            ("entity_id".to_string(), group_key_hash(&ctx.group_key)),
            (
                "entity_display_name".to_string(),
                t.text(&c.entity_display_name),
            ),
            ("state_message".to_string(), state_message),
            ("monitoring_tool".to_string(), t.text(&c.monitoring_tool)),
        ]);
        for (k, v) in &c.custom_fields {
            msg.insert(k.clone(), t.text(v));
        }
        t.finish().map_err(|e| templating(e, true))?;
        Ok(msg)
    }

    async fn send(&self, ctx: &NotifyContext, alerts: &Batch) -> Result<(), NotifyError> {
        let (url, body) = {
            let alerts = alerts.to_alerts();
            let url = self.url(ctx, &alerts)?;
            (url, go_json(&self.payload(ctx, &alerts)?)?)
        };
        let resp = self.http.post_json(&url, body, None, ctx.now).await?;
        RetryRule::SERVER_ERRORS.check(&resp)
    }
}

/// Upstream's `templating error: …`, retryable or not as upstream returns it.
fn templating(e: NotifyError, retryable: bool) -> NotifyError {
    NotifyError::new(
        retryable,
        FailReason::Other,
        format!(
            "templating error: {}",
            e.message.trim_start_matches("template error: ")
        ),
    )
}

impl Notifier for VictorOps {
    fn name(&self) -> &'static str {
        "victorops"
    }

    fn notify_batch<'a>(&'a self, ctx: &'a NotifyContext, alerts: &'a Batch) -> NotifyFuture<'a> {
        Box::pin(self.send(ctx, alerts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_routing_key_escaped_as_go() {
        assert_eq!(
            append_path("http://h/alert/", "k 1/rk?#%é"),
            "http://h/alert/k%201/rk%3F%23%25%C3%A9"
        );
        assert_eq!(append_path("http://h/a/?x=1", "k/r"), "http://h/a/k/r?x=1");
    }
}
