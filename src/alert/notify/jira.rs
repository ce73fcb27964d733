//! The Jira integration (`jira_configs`, Alertmanager 0.28) as 0.28.0's
//! `notify/jira/jira.go` runs it: one issue per aggregation group, found by the label
//! `ALERT{<sha256 of the group key>}`.
//!
//! 1. `POST {api_url}/search` with upstream's JQL (`wont_fix_resolution`, `statusCategory
//!    != Done` for firing groups without `reopen_transition`, the `reopen_duration` window
//!    for resolved ones; the project as written, not templated, as 0.28.0).
//! 2. No issue and the group resolved: nothing more. Otherwise `POST {api_url}/issue`
//!    (create) or `PUT {api_url}/issue/KEY` (update) with the fields: summary (255 runes),
//!    description (32767 runes; parsed as Atlassian Document Format JSON when `api_url`'s
//!    path ends in `/3`), issue type, project, labels plus the group label (sorted),
//!    priority (left out when it renders empty), then `fields` merged over them.
//! 3. An existing issue whose status category disagrees with the group (done while firing,
//!    not done when resolved): `GET …/issue/KEY/transitions`, the transition named
//!    `reopen_transition` / `resolve_transition`, `POST` it.
//!
//! Every request carries `Content-Type: application/json` (GET too) and
//! `Accept-Language: en`, as upstream's `doAPIRequest`. Answers: 5xx and 429 are retried
//! (429 after `Retry-After`, a blackwatch addition), other non-2xx final; as upstream, a
//! request that gets no answer at all is final too (its `client.Do` error returns
//! `false`). Errors carry upstream's texts (`failed to look up existing issues: …`,
//! `failed to PUT request to "issue/OPS-1": …`, `can't find transition … for issue …`).

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};

use super::http_api::{
    go_json, join_path, log_truncated, truncate_in_runes, HttpResponse, JsonClient, Limit,
    RetryRule,
};
use super::msteams::group_status;
use super::render::{data_value, TemplateSet};
use super::{Batch, FailReason, Notifier, NotifyContext, NotifyError, NotifyFuture};
use crate::alert::config::JiraConfig;
use crate::alert::store::Alert;
use crate::base::go::quote;

/// Upstream's `maxSummaryLenRunes` and `maxDescriptionLenRunes`.
pub const MAX_SUMMARY_RUNES: usize = 255;
pub const MAX_DESCRIPTION_RUNES: usize = 32767;

/// 5xx and 429 (upstream's `RetryCodes: []int{429}`).
const RETRY: RetryRule = RetryRule {
    retry_codes: &[429],
    honour_retry_after: true,
};

/// Upstream's `issueSearch`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct IssueSearch {
    pub expand: Vec<String>,
    pub fields: Vec<String>,
    pub jql: String,
    #[serde(rename = "maxResults")]
    pub max_results: u32,
    #[serde(rename = "startAt")]
    pub start_at: u32,
}

#[derive(Debug, Default, Deserialize)]
struct SearchResult {
    #[serde(default)]
    total: i64,
    #[serde(default)]
    issues: Vec<FoundIssue>,
}

/// An issue as the search returns it (only what the flow reads).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct FoundIssue {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub fields: Option<FoundFields>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct FoundFields {
    #[serde(default)]
    pub status: Option<FoundStatus>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct FoundStatus {
    #[serde(default, rename = "statusCategory")]
    pub status_category: StatusCategory,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct StatusCategory {
    #[serde(default)]
    pub key: String,
}

#[derive(Debug, Default, Deserialize)]
struct Transitions {
    #[serde(default)]
    transitions: Vec<IdName>,
}

#[derive(Debug, Default, Deserialize)]
struct IdName {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
}

/// Upstream's `idNameValue` as a transition request sends it.
#[derive(Serialize)]
struct TransitionRequest<'a> {
    transition: TransitionId<'a>,
}

#[derive(Serialize)]
struct TransitionId<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    id: &'a str,
}

/// Upstream's `Key.Hash()`: the hex SHA-256 of the group key.
pub fn group_hash(group_key: &str) -> String {
    Sha256::digest(group_key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A validated `jira_configs` entry, ready to send.
pub struct Jira {
    conf: JiraConfig,
    templates: Arc<TemplateSet>,
    http: JsonClient,
}

/// A failed step, with the retry flag upstream gives it.
fn fail(retryable: bool, message: String) -> NotifyError {
    NotifyError::new(retryable, FailReason::Other, message)
}

fn prefix(e: NotifyError, p: &str) -> NotifyError {
    NotifyError {
        message: format!("{p}{}", e.message),
        ..e
    }
}

impl Jira {
    pub fn new(
        conf: JiraConfig,
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

    /// Upstream's search JQL for the group label `ALERT{hash}`.
    pub fn jql(&self, hash: &str, firing: bool) -> String {
        let c = &self.conf;
        let mut jql = String::new();
        if !c.wont_fix_resolution.is_empty() {
            jql.push_str(&format!(
                "resolution != {} and ",
                quote(&c.wont_fix_resolution)
            ));
        }
        if firing {
            if c.reopen_transition.is_empty() {
                jql.push_str("statusCategory != Done and ");
            }
        } else {
            let minutes = c.reopen_duration.as_secs() / 60;
            if minutes != 0 {
                jql.push_str(&format!(
                    "(resolutiondate is EMPTY OR resolutiondate >= -{minutes}m) and "
                ));
            }
        }
        jql.push_str(&format!(
            "project={} and labels={} order by status ASC,resolutiondate DESC",
            quote(&c.project),
            quote(&format!("ALERT{{{hash}}}"))
        ));
        jql
    }

    /// The issue fields for `alerts` (upstream's `prepareIssueRequestBody`): the body of
    /// both the create and the update request, `{"fields":{…}}` with sorted keys.
    pub fn issue_body(
        &self,
        ctx: &NotifyContext,
        alerts: &[Alert],
        hash: &str,
    ) -> Result<Json, NotifyError> {
        let c = &self.conf;
        let data = data_value(ctx, alerts);
        let tmpl = |text: &str, what: &str| {
            self.templates
                .render_text(text, &data, ctx.now)
                .map_err(|e| fail(false, format!("{what} template: {e}")))
        };
        let summary = tmpl(&c.summary, "summary")?;
        let project = tmpl(&c.project, "project")?;
        let issue_type = tmpl(&c.issue_type, "issue_type")?;
        let (summary, truncated) = truncate_in_runes(&summary, MAX_SUMMARY_RUNES);
        if truncated {
            log_truncated("jira", "summary", ctx, Limit::Runes(MAX_SUMMARY_RUNES));
        }
        let description = tmpl(&c.description, "description")?;
        let (description, truncated) = truncate_in_runes(&description, MAX_DESCRIPTION_RUNES);
        if truncated {
            log_truncated(
                "jira",
                "description",
                ctx,
                Limit::Runes(MAX_DESCRIPTION_RUNES),
            );
        }
        let description = if api_v3(&c.api_url) {
            serde_json::from_str::<Json>(&description)
                .map(go_numbers)
                .map_err(|e| fail(false, format!("description unmarshaling: {e}")))?
        } else {
            Json::String(description)
        };
        let mut labels = Vec::with_capacity(c.labels.len() + 1);
        for (i, l) in c.labels.iter().enumerate() {
            labels.push(tmpl(l, &format!("labels[{i}]"))?);
        }
        labels.push(format!("ALERT{{{hash}}}"));
        labels.sort();
        let priority = tmpl(&c.priority, "priority")?;

        let mut fields = Map::new();
        fields.insert("description".into(), description);
        fields.insert("summary".into(), Json::String(summary));
        fields.insert(
            "issuetype".into(),
            serde_json::json!({ "name": issue_type }),
        );
        fields.insert("labels".into(), serde_json::json!(labels));
        if !priority.is_empty() {
            fields.insert("priority".into(), serde_json::json!({ "name": priority }));
        }
        fields.insert("project".into(), serde_json::json!({ "key": project }));
        for (k, v) in &c.fields {
            fields.insert(k.clone(), go_numbers(v.clone()));
        }
        let mut body = Map::new();
        body.insert("fields".into(), Json::Object(fields));
        Ok(Json::Object(body))
    }

    /// One API request (upstream's `doAPIRequest`): the answer's body on 2xx.
    async fn api(
        &self,
        method: http::Method,
        path: &str,
        body: Option<String>,
        ctx: &NotifyContext,
    ) -> Result<String, NotifyError> {
        let url = join_path(&self.conf.api_url, path)
            .ok_or_else(|| fail(false, "invalid api_url".to_string()))?;
        let resp: HttpResponse = self
            .http
            .request(
                method,
                &url,
                &[("Accept-Language", "en")],
                body,
                None,
                ctx.now,
            )
            .await
            .map_err(|e| NotifyError {
                // Upstream: a request without an answer is not retried.
                retryable: false,
                ..e
            })?;
        RETRY.check(&resp)?;
        Ok(resp.body)
    }

    async fn search(
        &self,
        ctx: &NotifyContext,
        hash: &str,
        firing: bool,
    ) -> Result<Option<FoundIssue>, NotifyError> {
        let search = IssueSearch {
            expand: Vec::new(),
            fields: vec!["status".into()],
            jql: self.jql(hash, firing),
            max_results: 2,
            start_at: 0,
        };
        tracing::debug!(message = "Searching for recent Jira issues", jql = %search.jql);
        let body = self
            .api(http::Method::POST, "search", Some(go_json(&search)?), ctx)
            .await
            .map_err(|e| prefix(e, "HTTP request to JIRA API: "))?;
        let result: SearchResult =
            serde_json::from_str(&body).map_err(|e| fail(false, e.to_string()))?;
        if result.total == 0 {
            return Ok(None);
        }
        // Upstream indexes `issues[0]` whatever `total` says (and panics on an empty list).
        let Some(first) = result.issues.into_iter().next() else {
            return Err(fail(
                false,
                format!("search reported {} issues but listed none", result.total),
            ));
        };
        if result.total > 1 {
            tracing::warn!(
                message = "More than one Jira issue matched, selecting the most recently resolved",
                selected_issue = %first.key
            );
        }
        Ok(Some(first))
    }

    async fn transition(
        &self,
        ctx: &NotifyContext,
        issue: &FoundIssue,
        firing: bool,
    ) -> Result<(), NotifyError> {
        let Some(status) = issue.fields.as_ref().and_then(|f| f.status.as_ref()) else {
            return Ok(());
        };
        if issue.key.is_empty() {
            return Ok(());
        }
        let done = status.status_category.key == "done";
        let name = match (firing, done) {
            (true, true) => &self.conf.reopen_transition,
            (false, false) => &self.conf.resolve_transition,
            _ => return Ok(()),
        };
        let path = format!("issue/{}/transitions", issue.key);
        let body = self.api(http::Method::GET, &path, None, ctx).await?;
        let list: Transitions =
            serde_json::from_str(&body).map_err(|e| fail(false, e.to_string()))?;
        let Some(t) = list.transitions.iter().find(|t| &t.name == name) else {
            return Err(fail(
                false,
                format!("can't find transition {name} for issue {}", issue.key),
            ));
        };
        let req = TransitionRequest {
            transition: TransitionId { id: &t.id },
        };
        self.api(http::Method::POST, &path, Some(go_json(&req)?), ctx)
            .await
            .map(|_| ())
    }

    async fn send(&self, ctx: &NotifyContext, alerts: &Batch) -> Result<(), NotifyError> {
        let hash = group_hash(&ctx.group_key);
        let (firing, resolved) = {
            let a = alerts.to_alerts();
            let status = group_status(&a, ctx.now);
            (status == Some("firing"), status == Some("resolved"))
        };
        let existing = self
            .search(ctx, &hash, firing)
            .await
            .map_err(|e| prefix(e, "failed to look up existing issues: "))?;
        let (method, path) = match &existing {
            None if resolved => return Ok(()),
            None => (http::Method::POST, "issue".to_string()),
            Some(i) => (http::Method::PUT, format!("issue/{}", i.key)),
        };
        let body = {
            let a = alerts.to_alerts();
            go_json(&self.issue_body(ctx, &a, &hash)?)?
        };
        self.api(method.clone(), &path, Some(body), ctx)
            .await
            .map_err(|e| {
                prefix(
                    e,
                    &format!("failed to {method} request to {}: ", quote(&path)),
                )
            })?;
        match &existing {
            Some(i) => self.transition(ctx, i, firing).await,
            None => Ok(()),
        }
    }
}

/// Whether `api_url`'s path ends in `/3` (upstream's test for REST API v3, whose
/// description is Atlassian Document Format JSON).
pub fn api_v3(api_url: &str) -> bool {
    url::Url::parse(api_url).is_ok_and(|u| u.path().ends_with("/3"))
}

/// Numbers as Go's `any` holds them after `json.Unmarshal` or a YAML decode and writes them
/// back: a float with an integral value prints without a fraction (`1`, not `1.0`).
fn go_numbers(v: Json) -> Json {
    match v {
        Json::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
                // The cast is exact below 2^53.
                #[allow(clippy::cast_possible_truncation)]
                Json::from(f as i64)
            }
            _ => Json::Number(n),
        },
        Json::Array(a) => Json::Array(a.into_iter().map(go_numbers).collect()),
        Json::Object(m) => Json::Object(m.into_iter().map(|(k, v)| (k, go_numbers(v))).collect()),
        other => other,
    }
}

impl Notifier for Jira {
    fn name(&self) -> &'static str {
        "jira"
    }

    fn notify_batch<'a>(&'a self, ctx: &'a NotifyContext, alerts: &'a Batch) -> NotifyFuture<'a> {
        Box::pin(self.send(ctx, alerts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// notify/util_test.go's group key "1" hashes as upstream's jira_test.go expects.
    #[test]
    fn group_hash_as_upstream() {
        assert_eq!(
            group_hash("1"),
            "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"
        );
    }

    #[test]
    fn api_v3_only_without_trailing_slash() {
        assert!(api_v3("https://x.atlassian.net/rest/api/3"));
        assert!(!api_v3("https://x.atlassian.net/rest/api/3/"));
        assert!(!api_v3("https://x.atlassian.net/rest/api/2"));
    }

    #[test]
    fn search_body_key_order_as_upstream_struct() {
        let s = IssueSearch {
            expand: Vec::new(),
            fields: vec!["status".into()],
            jql: "project=\"OPS\"".into(),
            max_results: 2,
            start_at: 0,
        };
        assert_eq!(
            go_json(&s).unwrap(),
            "{\"expand\":[],\"fields\":[\"status\"],\"jql\":\"project=\\\"OPS\\\"\",\"maxResults\":2,\"startAt\":0}\n"
        );
    }

    #[test]
    fn integral_floats_print_as_go_does() {
        assert_eq!(
            go_numbers(serde_json::json!({"a": 1.0, "b": [2.5, 3.0], "c": "1.0"})).to_string(),
            r#"{"a":1,"b":[2.5,3],"c":"1.0"}"#
        );
    }
}
