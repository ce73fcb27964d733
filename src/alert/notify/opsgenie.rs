//! The Opsgenie integration as Alertmanager 0.25 to 0.28 send it
//! (`notify/opsgenie/opsgenie.go`): a resolved group closes the alert
//! (`POST {api_url}v2/alerts/{alias}/close?identifierType=alias`); a firing one creates it
//! (`POST {api_url}v2/alerts`) and, with `update_alerts`, updates its message and
//! description (two `PUT`s). The alias is the group-key hash; the message is cut at 130
//! runes; `details` are the common labels overridden by the configured ones; responders of
//! type `teams` are split into one `team` per name; `tags` and `actions` are split on `,`.
//! Every request carries `Authorization: GenieKey <api_key>` (the key is a template, read
//! from its file untrimmed as 0.25 to 0.28.0 do).
//!
//! Answers, as upstream: 2xx success; 5xx and 429 retried (429 after `Retry-After`, a
//! blackwatch addition), every other status final with the answer in the error. The
//! requests go one after the other and stop at the first failure; a retry starts again
//! with the create.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::http_api::{
    go_json, group_key_hash, log_truncated, truncate_in_runes, JsonClient, Limit, RetryRule,
    TmplText,
};
use super::render::TemplateSet;
use super::{Batch, FailReason, GroupSummary, Notifier, NotifyContext, NotifyError, NotifyFuture};
use crate::alert::config::OpsgenieConfig;
use crate::alert::store::Alert;

/// `maxMessageLenRunes`.
pub const MAX_MESSAGE_RUNES: usize = 130;

/// 429 is Opsgenie's rate limit answer, retried after `Retry-After`.
const RETRY: RetryRule = RetryRule {
    retry_codes: &[429],
    honour_retry_after: true,
};

/// `opsGenieCreateMessage`: `details` is always sent (`{}` when empty).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CreateMessage {
    pub alias: String,
    pub message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub details: BTreeMap<String, String>,
    pub source: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub responders: Vec<Responder>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub priority: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub entity: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
}

/// `opsGenieCreateMessageResponder`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Responder {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Serialize)]
struct CloseMessage<'a> {
    source: &'a str,
}

#[derive(Serialize)]
struct UpdateMessage<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    message: &'a str,
}

#[derive(Serialize)]
struct UpdateDescription<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
}

/// One request of a notification.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub method: http::Method,
    pub url: String,
    pub body: String,
}

/// Upstream's `safeSplit`: the whole string trimmed, split on `sep`, empty parts dropped
/// (parts are not trimmed).
pub fn safe_split(s: &str, sep: char) -> Vec<String> {
    s.trim()
        .split(sep)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// `base` (a URL whose path ends with `/`) with `tail` appended to its path and, with
/// `alias_query`, `identifierType=alias` set in its query (Go's `Values.Encode`: keys
/// sorted).
fn endpoint(base: &str, tail: &str, alias_query: bool) -> String {
    let cut = base.find(['?', '#']).unwrap_or(base.len());
    let (head, rest) = base.split_at(cut);
    let (query, fragment) = match rest.split_once('#') {
        Some((q, f)) => (q, format!("#{f}")),
        None => (rest, String::new()),
    };
    let query = query.trim_start_matches('?');
    let mut url = format!("{head}{tail}");
    if alias_query {
        let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .filter(|(k, _)| k != "identifierType")
            .collect();
        pairs.push(("identifierType".into(), "alias".into()));
        crate::base::sort::sort_by(&mut pairs, |a, b| a.0.cmp(&b.0));
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        url = format!("{url}?{encoded}");
    } else if !query.is_empty() {
        url = format!("{url}?{query}");
    }
    format!("{url}{fragment}")
}

/// A validated `opsgenie_configs` entry, ready to send.
pub struct Opsgenie {
    conf: OpsgenieConfig,
    templates: Arc<TemplateSet>,
    http: JsonClient,
}

impl Opsgenie {
    pub fn new(
        conf: OpsgenieConfig,
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

    /// Upstream's `createRequests`: the requests in order and the API key (templated).
    pub fn requests(
        &self,
        ctx: &NotifyContext,
        alerts: &[Alert],
    ) -> Result<(Vec<Request>, String), NotifyError> {
        let c = &self.conf;
        let group = GroupSummary::of(alerts, ctx.now);
        let mut t = TmplText::new(&self.templates, ctx, alerts);
        let mut details: BTreeMap<String, String> = group
            .common_labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in &c.details {
            details.insert(k.clone(), t.text(v));
        }
        let alias = group_key_hash(&ctx.group_key);
        let mut requests = Vec::new();
        if !group.firing {
            let source = t.text(&c.source);
            requests.push(Request {
                method: http::Method::POST,
                url: endpoint(&c.api_url, &format!("v2/alerts/{alias}/close"), true),
                body: go_json(&CloseMessage { source: &source })?,
            });
        } else {
            let (message, truncated) = truncate_in_runes(&t.text(&c.message), MAX_MESSAGE_RUNES);
            if truncated {
                log_truncated("opsgenie", "message", ctx, Limit::Runes(MAX_MESSAGE_RUNES));
            }
            let mut responders = Vec::new();
            for r in &c.responders {
                let responder = Responder {
                    id: t.text(&r.id),
                    name: t.text(&r.name),
                    username: t.text(&r.username),
                    kind: t.text(&r.kind),
                };
                if responder == Responder::default() {
                    continue;
                }
                if responder.kind == "teams" {
                    for team in safe_split(&responder.name, ',') {
                        responders.push(Responder {
                            name: t.text(&team),
                            kind: t.text("team"),
                            ..Responder::default()
                        });
                    }
                    continue;
                }
                responders.push(responder);
            }
            let msg = CreateMessage {
                alias: alias.clone(),
                message,
                description: t.text(&c.description),
                details,
                source: t.text(&c.source),
                responders,
                tags: safe_split(&t.text(&c.tags), ','),
                note: t.text(&c.note),
                priority: t.text(&c.priority),
                entity: t.text(&c.entity),
                actions: safe_split(&t.text(&c.actions), ','),
            };
            requests.push(Request {
                method: http::Method::POST,
                url: endpoint(&c.api_url, "v2/alerts", false),
                body: go_json(&msg)?,
            });
            if c.update_alerts {
                requests.push(Request {
                    method: http::Method::PUT,
                    url: endpoint(&c.api_url, &format!("v2/alerts/{alias}/message"), true),
                    body: go_json(&UpdateMessage {
                        message: &msg.message,
                    })?,
                });
                requests.push(Request {
                    method: http::Method::PUT,
                    url: endpoint(&c.api_url, &format!("v2/alerts/{alias}/description"), true),
                    body: go_json(&UpdateDescription {
                        description: &msg.description,
                    })?,
                });
            }
        }
        let key = c.api_key.read_untrimmed().map_err(|e| {
            NotifyError::new(
                false,
                FailReason::Other,
                format!("read key_file error: {e}"),
            )
        })?;
        let key = t.text(key.expose());
        t.finish().map_err(|e| {
            NotifyError::new(
                false,
                FailReason::Other,
                format!(
                    "templating error: {}",
                    e.message.trim_start_matches("template error: ")
                ),
            )
        })?;
        Ok((requests, key))
    }

    async fn send(&self, ctx: &NotifyContext, alerts: &Batch) -> Result<(), NotifyError> {
        let (requests, key) = self.requests(ctx, &alerts.to_alerts())?;
        let auth = [(http::header::AUTHORIZATION, format!("GenieKey {key}"))];
        for r in requests {
            let resp = self
                .http
                .send_json(r.method, &r.url, r.body, &auth, None, ctx.now)
                .await?;
            RETRY.check(&resp)?;
        }
        Ok(())
    }
}

impl Notifier for Opsgenie {
    fn name(&self) -> &'static str {
        "opsgenie"
    }

    fn notify_batch<'a>(&'a self, ctx: &'a NotifyContext, alerts: &'a Batch) -> NotifyFuture<'a> {
        Box::pin(self.send(ctx, alerts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_split_as_upstream() {
        assert_eq!(safe_split(" a, b,,c ", ','), ["a", " b", "c"]);
        assert!(safe_split("  ", ',').is_empty());
    }

    #[test]
    fn endpoints_as_upstream() {
        assert_eq!(
            endpoint("https://api.opsgenie.com/", "v2/alerts/h/close", true),
            "https://api.opsgenie.com/v2/alerts/h/close?identifierType=alias"
        );
        assert_eq!(
            endpoint("http://h/og/?z=1&a=2", "v2/alerts/h/message", true),
            "http://h/og/v2/alerts/h/message?a=2&identifierType=alias&z=1"
        );
        assert_eq!(
            endpoint("http://h/og/", "v2/alerts", false),
            "http://h/og/v2/alerts"
        );
    }

    #[test]
    fn create_message_key_order_and_omitempty() {
        let m = CreateMessage {
            alias: "a".into(),
            message: "m".into(),
            description: String::new(),
            details: BTreeMap::new(),
            source: "s".into(),
            responders: vec![Responder {
                name: "X".into(),
                kind: "Team".into(),
                ..Responder::default()
            }],
            tags: vec![],
            note: String::new(),
            priority: "P1".into(),
            entity: String::new(),
            actions: vec!["x".into()],
        };
        assert_eq!(
            go_json(&m).unwrap(),
            "{\"alias\":\"a\",\"message\":\"m\",\"details\":{},\"source\":\"s\",\"responders\":[{\"name\":\"X\",\"type\":\"Team\"}],\"priority\":\"P1\",\"actions\":[\"x\"]}\n"
        );
    }
}
