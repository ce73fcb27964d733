//! The WeChat Work (WeCom) integration (`notify/wechat/wechat.go`, Alertmanager 0.28):
//! an access token from `GET <api_url>gettoken?corpid=…&corpsecret=…` (both templated),
//! kept per integration for two hours (a reload builds a new integration, so a new cache),
//! then `POST <api_url>message/send?access_token=…` with upstream's `weChatMessage` as Go
//! encodes it: `text` and `markdown` are structs and never omitted (the unused one is
//! `{"content":""}`), `safe` is always `"0"`, the rest `omitempty`. No truncation.
//!
//! Answers, as 0.28 (0.25 decoded the answer with the wrong keys, `code`/`error`, so it
//! took every WeChat error for a success and never refreshed an expired token; blackwatch
//! follows 0.28's correct handling):
//! - token fetch: the status is not checked; an answer without `access_token` is final
//!   (`invalid APISecret for CorpID: …`), one that is not JSON final too; no answer is
//!   retried;
//! - send: any status but 200 is retried (`unexpected status code N`; a 429's
//!   `Retry-After` is honoured, which upstream does not read); an answer that is not JSON
//!   is retried; `errcode` 0 is a success; 42001 (token expired) drops the cached token and
//!   is retried, so the next attempt fetches a new one; any other `errcode` is final.
//!
//! The access token and the secret are in URLs: transport errors never carry the URL
//! ([`NotifyError::from_request`]), and a template error in `api_secret` is reported
//! without its text.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::http_api::{go_json, JsonClient, TmplText};
use super::render::TemplateSet;
use super::{Batch, FailReason, Notifier, NotifyContext, NotifyError, NotifyFuture};
use crate::alert::config::WechatConfig;
use crate::alert::store::Alert;
use crate::base::go::query_escape;
use crate::base::Secret;

/// How long a fetched access token is used (upstream: "Refresh AccessToken over 2 hours").
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(2 * 3600);

/// WeChat's "access_token expired" code.
const ERRCODE_TOKEN_EXPIRED: i64 = 42001;

/// Upstream's `weChatMessage`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Message {
    pub text: Content,
    #[serde(rename = "touser", skip_serializing_if = "String::is_empty")]
    pub to_user: String,
    #[serde(rename = "toparty", skip_serializing_if = "String::is_empty")]
    pub to_party: String,
    #[serde(rename = "totag", skip_serializing_if = "String::is_empty")]
    pub to_tag: String,
    #[serde(rename = "agentid", skip_serializing_if = "String::is_empty")]
    pub agent_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub safe: String,
    #[serde(rename = "msgtype", skip_serializing_if = "String::is_empty")]
    pub msg_type: String,
    pub markdown: Content,
}

/// Upstream's `weChatMessageContent`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Content {
    pub content: String,
}

/// A fetched access token and when it was fetched (the flush time).
struct Token {
    value: Secret,
    fetched_at: SystemTime,
}

/// A validated `wechat_configs` entry, ready to send, with its token cache.
pub struct Wechat {
    conf: WechatConfig,
    templates: Arc<TemplateSet>,
    http: JsonClient,
    token: Mutex<Option<Token>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: String,
}

#[derive(Deserialize)]
struct SendAnswer {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

impl Wechat {
    pub fn new(
        conf: WechatConfig,
        templates: Arc<TemplateSet>,
        shared: &reqwest::Client,
        base_dir: &Path,
    ) -> Result<Self, NotifyError> {
        let http = JsonClient::new(&conf.http_config, shared, base_dir)?;
        Ok(Self {
            conf,
            templates,
            http,
            token: Mutex::new(None),
        })
    }

    fn cached_token(&self, now: SystemTime) -> Option<Secret> {
        let guard = self.token.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().and_then(|t| {
            let age = now.duration_since(t.fetched_at).unwrap_or_default();
            (age <= TOKEN_LIFETIME).then(|| t.value.clone())
        })
    }

    fn store_token(&self, token: Option<Token>) {
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = token;
    }

    /// `<api_url>gettoken?corpid=…&corpsecret=…`: the query of `api_url` replaced, as
    /// upstream sets `RawQuery`.
    fn token_url(&self, corp_id: &str, secret: &str) -> String {
        format!(
            "{}gettoken?corpid={}&corpsecret={}",
            without_query(&self.conf.api_url),
            query_escape(corp_id),
            query_escape(secret)
        )
    }

    /// What `gettoken` is asked with: the rendered corp id and secret, in upstream's order
    /// (the secret first).
    fn token_params(
        &self,
        ctx: &NotifyContext,
        alerts: &[Alert],
    ) -> Result<(String, Secret), NotifyError> {
        let mut t = TmplText::new(&self.templates, ctx, alerts);
        let secret = Secret::new(t.text(self.conf.api_secret.expose()));
        if t.finish().is_err() {
            return Err(NotifyError::new(
                false,
                FailReason::Other,
                "templating error: api_secret does not render (its text is secret)",
            ));
        }
        let mut t = TmplText::new(&self.templates, ctx, alerts);
        let corp_id = t.text(&self.conf.corp_id);
        t.finish().map_err(|mut e| {
            e.message = format!("templating error: corp_id: {}", e.message);
            e
        })?;
        Ok((corp_id, secret))
    }

    /// A new token from `gettoken`, cached from `ctx.now`.
    async fn fetch_token(
        &self,
        ctx: &NotifyContext,
        corp_id: &str,
        secret: &Secret,
    ) -> Result<Secret, NotifyError> {
        let url = self.token_url(corp_id, secret.expose());
        let resp = self.http.get(&url, None, ctx.now).await?;
        let answer: TokenAnswer = serde_json::from_str(&resp.body).map_err(|e| {
            NotifyError::new(
                false,
                FailReason::Other,
                format!("decoding the gettoken answer: {e}"),
            )
        })?;
        if answer.access_token.is_empty() {
            return Err(NotifyError::new(
                false,
                FailReason::Other,
                format!("invalid APISecret for CorpID: {}", self.conf.corp_id),
            ));
        }
        let value = Secret::new(answer.access_token);
        self.store_token(Some(Token {
            value: value.clone(),
            fetched_at: ctx.now,
        }));
        Ok(value)
    }

    /// The message for `alerts`, fields rendered in upstream's order.
    pub fn message(&self, ctx: &NotifyContext, alerts: &[Alert]) -> Result<Message, NotifyError> {
        let c = &self.conf;
        let mut t = TmplText::new(&self.templates, ctx, alerts);
        let mut msg = Message {
            text: Content::default(),
            to_user: t.text(&c.to_user),
            to_party: t.text(&c.to_party),
            to_tag: t.text(&c.to_tag),
            agent_id: t.text(&c.agent_id),
            safe: "0".into(),
            msg_type: c.message_type.clone(),
            markdown: Content::default(),
        };
        let content = Content {
            content: t.text(&c.message),
        };
        if c.message_type == "markdown" {
            msg.markdown = content;
        } else {
            msg.text = content;
        }
        t.finish()?;
        Ok(msg)
    }

    /// `<api_url>message/send?…&access_token=…`: `api_url`'s own query kept, the token set,
    /// keys sorted as Go's `url.Values.Encode` writes them.
    fn send_url(&self, token: &str) -> String {
        let (base, query) = self
            .conf
            .api_url
            .split_once('?')
            .unwrap_or((&self.conf.api_url, ""));
        let query = query.split('#').next().unwrap_or_default();
        let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .filter(|(k, _)| k != "access_token")
            .collect();
        pairs.push(("access_token".into(), token.into()));
        crate::base::sort::sort_by(&mut pairs, |a, b| a.0.cmp(&b.0));
        let encoded: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
            .collect();
        format!("{base}message/send?{}", encoded.join("&"))
    }

    async fn send(&self, ctx: &NotifyContext, alerts: &Batch) -> Result<(), NotifyError> {
        // Everything templated is rendered before the first await (see `Batch`); a cached
        // token skips the corp id and secret, as upstream does.
        let (cached, msg) = {
            let alerts = alerts.to_alerts();
            let cached = match self.cached_token(ctx.now) {
                Some(t) => Ok(t),
                None => Err(self.token_params(ctx, &alerts)?),
            };
            (cached, self.message(ctx, &alerts)?)
        };
        let token = match cached {
            Ok(t) => t,
            Err((corp_id, secret)) => self.fetch_token(ctx, &corp_id, &secret).await?,
        };
        let body = go_json(&msg)?;
        let resp = self
            .http
            .post_json(&self.send_url(token.expose()), body, None, ctx.now)
            .await?;
        if resp.status != 200 {
            let mut e = NotifyError::new(
                true,
                FailReason::from_status(resp.status),
                format!("unexpected status code {}", resp.status),
            );
            if resp.status == 429 {
                e.retry_after = resp.retry_after;
            }
            return Err(e);
        }
        let answer: SendAnswer = serde_json::from_str(&resp.body).map_err(|e| {
            NotifyError::new(
                true,
                FailReason::Other,
                format!("decoding the message/send answer: {e}"),
            )
        })?;
        match answer.errcode {
            0 => Ok(()),
            ERRCODE_TOKEN_EXPIRED => {
                self.store_token(None);
                Err(NotifyError::new(
                    true,
                    FailReason::Other,
                    format!("{} (errcode {ERRCODE_TOKEN_EXPIRED})", answer.errmsg),
                ))
            }
            code => Err(NotifyError::new(
                false,
                FailReason::Other,
                format!("{} (errcode {code})", answer.errmsg),
            )),
        }
    }
}

/// `url` without its query and fragment.
fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

impl Notifier for Wechat {
    fn name(&self) -> &'static str {
        "wechat"
    }

    fn notify_batch<'a>(&'a self, ctx: &'a NotifyContext, alerts: &'a Batch) -> NotifyFuture<'a> {
        Box::pin(self.send(ctx, alerts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_markdown_are_never_omitted() {
        let m = Message {
            text: Content {
                content: "x < y & z".into(),
            },
            to_user: "@all".into(),
            to_party: String::new(),
            to_tag: String::new(),
            agent_id: String::new(),
            safe: "0".into(),
            msg_type: "text".into(),
            markdown: Content::default(),
        };
        // VERIFIED-0.25 capture (receivers-spec.md §7.2), shortened.
        assert_eq!(
            go_json(&m).unwrap(),
            "{\"text\":{\"content\":\"x \\u003c y \\u0026 z\"},\"touser\":\"@all\",\"safe\":\"0\",\"msgtype\":\"text\",\"markdown\":{\"content\":\"\"}}\n"
        );
    }

    #[test]
    fn without_query_keeps_the_path() {
        assert_eq!(without_query("http://x/cgi-bin/?a=b"), "http://x/cgi-bin/");
        assert_eq!(without_query("http://x/cgi-bin/"), "http://x/cgi-bin/");
    }
}
