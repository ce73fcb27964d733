//! `jira_configs` (Alertmanager 0.28): upstream's `UnmarshalYAML` checks (`project`,
//! `issue_type`), `api_url` as a URL, and the `global.jira_api_url` inheritance (no default).

use super::*;

const SUMMARY: &str = r#"{{ template "jira.default.summary" . }}"#;
const DESCRIPTION: &str = r#"{{ template "jira.default.description" . }}"#;
const PRIORITY: &str = r#"{{ template "jira.default.priority" . }}"#;

/// One `jira_configs` entry.
pub(super) fn jira_config(
    cx: &mut Cx,
    p: &str,
    c: &Spanned<RawJiraConfig>,
    g: &RawGlobal,
    global_http: Option<&RawHttpConfig>,
) -> Option<JiraConfig> {
    let v = &c.value;
    let before = cx.errors.len();
    if let Some(h) = &v.http_config {
        http_config(cx, &format!("{p}.http_config"), h);
    }
    if v.project.is_empty() {
        cx.err(&c.referenced, p, "missing project in jira_config");
    } else if v.issue_type.is_empty() {
        cx.err(&c.referenced, p, "missing issue_type in jira_config");
    }
    let api_url = match (&v.api_url, &g.jira_api_url) {
        (Some(u), _) => {
            if let Err(m) = check_url(&u.value) {
                cx.err(&u.referenced, &format!("{p}.api_url"), m);
            }
            Some(u.value.clone())
        }
        (None, Some(u)) => Some(u.value.clone()),
        (None, None) => {
            cx.err(&c.referenced, p, "no global Jira Cloud URL set");
            None
        }
    };
    if cx.errors.len() > before {
        return None;
    }
    let text = |t: &Option<String>, default: &str| t.clone().unwrap_or_else(|| default.into());
    Some(JiraConfig {
        send_resolved: v.send_resolved.unwrap_or(true),
        http_config: v
            .http_config
            .as_ref()
            .map(|h| h.value.clone())
            .or_else(|| global_http.cloned())
            .unwrap_or_default(),
        api_url: api_url?,
        project: v.project.clone(),
        summary: text(&v.summary, SUMMARY),
        description: text(&v.description, DESCRIPTION),
        labels: v.labels.clone(),
        priority: text(&v.priority, PRIORITY),
        issue_type: v.issue_type.clone(),
        reopen_transition: v.reopen_transition.clone(),
        resolve_transition: v.resolve_transition.clone(),
        wont_fix_resolution: v.wont_fix_resolution.clone(),
        reopen_duration: v.reopen_duration.map_or(Duration::ZERO, |d| d.0),
        fields: v.fields.clone(),
    })
}
