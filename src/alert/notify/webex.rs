//! The Webex integration (`notify/webex/webex.go`, Alertmanager 0.28): `POST api_url` with
//! `{"markdown":…,"roomId":…}` as Go encodes it, the token from the receiver's own
//! `http_config.authorization` (`Authorization: Bearer …`), the message cut at 7439 bytes
//! with upstream's `TruncateInBytes`, `room_id` templated as in 0.28 (0.25 sends it as
//! written; a room id without template actions is the same in both).
//!
//! Answers: upstream's default `Retrier` (2xx ok, 5xx retried, other codes final), except
//! that a 429 is retried after the wait its `Retry-After` asks for (Webex's rate-limit
//! answer; upstream gives up after one attempt), as blackwatch does for Slack. A template
//! error in `room_id` is a final error here; upstream 0.28 ignores it and sends no `roomId`,
//! which Webex refuses.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::http_api::{
    go_json, log_truncated, truncate_in_bytes, JsonClient, Limit, RetryRule, TmplText,
};
use super::render::TemplateSet;
use super::{Batch, Notifier, NotifyContext, NotifyError, NotifyFuture};
use crate::alert::config::WebexConfig;
use crate::alert::store::Alert;

/// Upstream's `maxMessageSize` (bytes).
pub const MAX_MESSAGE_BYTES: usize = 7439;

/// 5xx, and 429 after `Retry-After`.
const RETRY: RetryRule = RetryRule {
    retry_codes: &[429],
    honour_retry_after: true,
};

/// Upstream's `webhook` payload.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Message {
    pub markdown: String,
    #[serde(rename = "roomId", skip_serializing_if = "String::is_empty")]
    pub room_id: String,
}

/// A validated `webex_configs` entry, ready to send.
pub struct Webex {
    conf: WebexConfig,
    templates: Arc<TemplateSet>,
    http: JsonClient,
}

impl Webex {
    pub fn new(
        conf: WebexConfig,
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

    /// The payload for `alerts`: the message first (its error is upstream's), then the room.
    pub fn message(&self, ctx: &NotifyContext, alerts: &[Alert]) -> Result<Message, NotifyError> {
        let mut t = TmplText::new(&self.templates, ctx, alerts);
        let rendered = t.text(&self.conf.message);
        let (markdown, truncated) = truncate_in_bytes(&rendered, MAX_MESSAGE_BYTES);
        if truncated {
            log_truncated("webex", "markdown", ctx, Limit::Bytes(MAX_MESSAGE_BYTES));
        }
        let room_id = t.text(&self.conf.room_id);
        t.finish()?;
        Ok(Message { markdown, room_id })
    }

    async fn send(&self, ctx: &NotifyContext, alerts: &Batch) -> Result<(), NotifyError> {
        let msg = self.message(ctx, &alerts.to_alerts())?;
        let body = go_json(&msg)?;
        let resp = self
            .http
            .post_json(&self.conf.api_url, body, None, ctx.now)
            .await?;
        RETRY.check(&resp)
    }
}

impl Notifier for Webex {
    fn name(&self) -> &'static str {
        "webex"
    }

    fn notify_batch<'a>(&'a self, ctx: &'a NotifyContext, alerts: &'a Batch) -> NotifyFuture<'a> {
        Box::pin(self.send(ctx, alerts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_id_is_omitted_when_empty_markdown_never() {
        let m = Message {
            markdown: String::new(),
            room_id: String::new(),
        };
        assert_eq!(go_json(&m).unwrap(), "{\"markdown\":\"\"}\n");
        let m = Message {
            markdown: "x < y & z".into(),
            room_id: "room".into(),
        };
        // VERIFIED-0.25 capture (receivers-spec.md §9.2).
        assert_eq!(
            go_json(&m).unwrap(),
            "{\"markdown\":\"x \\u003c y \\u0026 z\",\"roomId\":\"room\"}\n"
        );
    }
}
