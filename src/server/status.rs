//! The status page at `/`: scheduled targets with their last result, recent failures, firing
//! and pending alerts, silences (with plain-HTML forms to create and expire one) and the
//! config reload state, plus blackbox_exporter's "Recent Probes" table of `/probe` requests.
//!
//! Server-rendered HTML with inline CSS and no JavaScript; everything interpolated is
//! HTML-escaped. Silence forms `POST /` and are redirected back (303). They use the same
//! silence store operations as `POST /api/v2/silences` and `DELETE /api/v2/silence/{id}`
//! (`validate_postable`, `Silences::set` / `expire`, `silences_changed`), so the semantics
//! are identical. With 10k targets the page stays small: failing targets come first and
//! both lists are capped with a count of what was left out.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::alert::silence::{validate_postable, Silence, SilenceError, SilenceState};
use crate::clock::{rfc3339, Now};
use crate::labels::{LabelSet, Matchers};
use crate::rules::alerting::AlertState;
use crate::rules::group::Health;
use crate::state::Shared;

/// Failing targets shown at most.
pub const MAX_FAILING_ROWS: usize = 500;
/// Healthy targets shown at most.
pub const MAX_HEALTHY_ROWS: usize = 100;
/// `/probe` history rows shown at most (the history itself is bounded by `--history.limit`).
const MAX_HISTORY_ROWS: usize = 100;
/// Alerts shown at most per state.
const MAX_ALERT_ROWS: usize = 500;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query-string value.
fn query_value(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `3s`, `4m12s`, `2h5m`, `3d4h`: coarse, for "how long ago".
fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A `<time>` element: relative to `now`, the RFC 3339 instant in `datetime` and `title`.
fn when(t: SystemTime, now: SystemTime) -> String {
    let stamp = rfc3339(t);
    let rel = match now.duration_since(t) {
        Ok(d) => format!("{} ago", short_duration(d)),
        Err(e) => format!("in {}", short_duration(e.duration())),
    };
    format!(
        "<time datetime=\"{stamp}\" title=\"{stamp}\">{}</time>",
        escape(&rel)
    )
}

fn from_ms(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

/// `{a="b", c="d"}` as label chips.
fn label_chips(labels: &LabelSet, skip: &[&str]) -> String {
    let mut out = String::new();
    for (k, v) in labels {
        if skip.contains(&k.as_str()) {
            continue;
        }
        let _ = write!(
            out,
            "<span class=\"label\">{}=&quot;{}&quot;</span> ",
            escape(k),
            escape(v)
        );
    }
    out
}

/// The matcher string that selects exactly `labels` (for the "Silence" links).
fn matchers_for(labels: &LabelSet) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::base::go::quote(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// One scheduled target's latest result.
struct TargetRow {
    job: String,
    instance: String,
    module: String,
    success: bool,
    duration: Option<f64>,
    at: SystemTime,
}

/// Scheduled targets from the store: failing first, each list sorted by job and instance.
/// Returns the rows to show and the counts of failing and healthy targets.
fn target_rows(state: &Shared) -> (Vec<TargetRow>, Vec<TargetRow>, usize, usize) {
    fn key(labels: &[(Arc<str>, Arc<str>)]) -> (String, String, String) {
        let get = |name: &str| {
            labels
                .iter()
                .find(|(k, _)| &**k == name)
                .map(|(_, v)| v.to_string())
                .unwrap_or_default()
        };
        (get("job"), get("instance"), get("module"))
    }
    let durations: HashMap<(String, String, String), f64> = state
        .store
        .instant("probe_duration_seconds")
        .into_iter()
        .map(|s| (key(&s.labels), s.value))
        .collect();
    let mut failing = Vec::new();
    let mut healthy = Vec::new();
    for s in state.store.instant("probe_success") {
        let k = key(&s.labels);
        let row = TargetRow {
            duration: durations.get(&k).copied(),
            job: k.0,
            instance: k.1,
            module: k.2,
            success: s.value == 1.0,
            at: from_ms(s.timestamp_ms),
        };
        if row.success {
            healthy.push(row);
        } else {
            failing.push(row);
        }
    }
    let (nf, nh) = (failing.len(), healthy.len());
    let order = |a: &TargetRow, b: &TargetRow| {
        (&a.job, &a.instance, &a.module).cmp(&(&b.job, &b.instance, &b.module))
    };
    if failing.len() > MAX_FAILING_ROWS {
        failing.select_nth_unstable_by(MAX_FAILING_ROWS, order);
        failing.truncate(MAX_FAILING_ROWS);
    }
    if healthy.len() > MAX_HEALTHY_ROWS {
        healthy.select_nth_unstable_by(MAX_HEALTHY_ROWS, order);
        healthy.truncate(MAX_HEALTHY_ROWS);
    }
    failing.sort_by(order);
    healthy.sort_by(order);
    (failing, healthy, nf, nh)
}

/// One pending or firing alert of the rule engine.
struct AlertRow {
    state: AlertState,
    labels: LabelSet,
    annotations: LabelSet,
    active_at: i64,
    value: f64,
}

/// Rule engine state: active alerts (firing first) and rules whose last evaluation failed.
fn alert_rows(manager: &crate::rules::Manager) -> (Vec<AlertRow>, Vec<(String, String)>) {
    let mut alerts = Vec::new();
    let mut errors = Vec::new();
    for g in manager.groups() {
        let g = crate::base::sync::lock(&g);
        for r in &g.rules {
            if r.health == Health::Err {
                let name = match &r.def.kind {
                    crate::rules::file::RuleKind::Alert { name, .. }
                    | crate::rules::file::RuleKind::Record { name } => name.clone(),
                };
                errors.push((
                    format!("{} / {name}", g.def.name),
                    r.last_error.clone().unwrap_or_default(),
                ));
            }
            for a in r.alerts.sorted() {
                if a.state != AlertState::Inactive {
                    alerts.push(AlertRow {
                        state: a.state,
                        labels: a.labels.clone(),
                        annotations: a.annotations.clone(),
                        active_at: a.active_at,
                        value: a.value,
                    });
                }
            }
        }
    }
    alerts.sort_by(|a, b| {
        let rank = |s: AlertState| if s == AlertState::Firing { 0 } else { 1 };
        rank(a.state)
            .cmp(&rank(b.state))
            .then_with(|| a.labels.cmp(&b.labels))
    });
    (alerts, errors)
}

/// What the silence form shows: the values to prefill and an error from the last submit.
#[derive(Default)]
pub struct Form {
    pub matchers: String,
    pub duration: String,
    pub created_by: String,
    pub comment: String,
    pub error: Option<String>,
}

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:0 .8rem 2rem;line-height:1.4;color:#1d1d1f;background:#fff}
h1{font-size:1.5rem;margin:.8rem 0 .2rem}h2{font-size:1.15rem;margin:1.6rem 0 .4rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
nav a{margin-right:.8rem}.muted{color:#666}.note{color:#555;font-size:.9rem}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e5e5e5;vertical-align:top}
th{background:#f5f5f7}td.num{text-align:right;white-space:nowrap}
.ok{color:#1a7f37;font-weight:600}.bad{color:#c62828;font-weight:600}.pending{color:#9a6700;font-weight:600}
.label{display:inline-block;background:#eef1f5;border-radius:3px;padding:0 .3rem;margin:.1rem 0;font-family:ui-monospace,monospace;font-size:.82rem;word-break:break-all}
.flash{padding:.5rem .8rem;border-radius:4px;margin:.6rem 0}.flash.error{background:#fdecea;color:#8a1c1c}.flash.info{background:#e8f5e9;color:#1b5e20}
form.silence{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:.5rem;align-items:end;margin:.5rem 0}
form.silence label{display:flex;flex-direction:column;font-size:.85rem;color:#444}
input[type=text]{font:inherit;padding:.35rem;border:1px solid #bbb;border-radius:4px}
button{font:inherit;padding:.35rem .8rem;border:1px solid #888;border-radius:4px;background:#f5f5f7;cursor:pointer}
form.inline{display:inline;margin:0}
pre{white-space:pre-wrap;word-break:break-all;background:#f7f7f9;padding:.5rem;font-size:.8rem;max-height:20rem;overflow:auto}
@media (max-width:600px){th,td{padding:.25rem .3rem}table{font-size:.85rem}.wide{display:none}
table.stack tr{display:block;border-bottom:1px solid #e5e5e5;padding:.25rem 0}table.stack tr:first-child{display:none}table.stack td{display:inline-block;border:0;padding:.1rem .3rem;word-break:break-word}}
"#;

/// Renders the page. `info` is a notice shown on top (after a successful form submit).
pub async fn render(state: &Arc<Shared>, form: &Form, info: Option<&str>) -> String {
    let now = Now::read().wall;
    let mut body = String::with_capacity(16 * 1024);
    body.push_str("<h1>blackwatch</h1>\n<p class=\"muted\">Probes, rules and alert routing in one binary; a drop-in for Prometheus blackbox_exporter.</p>\n");
    body.push_str("<nav><a href=\"metrics\">Metrics</a><a href=\"config\">Configuration</a><a href=\"api/v1/rules\">Rules API</a><a href=\"api/v2/silences\">Silences API</a></nav>\n");
    if let Some(msg) = info {
        let _ = writeln!(
            body,
            "<p class=\"flash info\" id=\"notice\">{}</p>",
            escape(msg)
        );
    }
    if let Some(err) = &form.error {
        let _ = writeln!(
            body,
            "<p class=\"flash error\" id=\"error\">{}</p>",
            escape(err)
        );
    }

    reload_section(state, now, &mut body).await;
    alerts_section(state, now, &mut body);
    silences_section(state, form, &mut body);
    let failing = targets_section(state, now, &mut body);
    failures_section(state, &failing, &mut body);
    history_section(state, &mut body);

    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>blackwatch</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
}

async fn reload_section(state: &Arc<Shared>, now: SystemTime, out: &mut String) {
    out.push_str("<h2 id=\"reload\">Configuration</h2>\n");
    let ok = state.metrics.config_last_reload_successful.get() == 1;
    let last_ok = state
        .metrics
        .config_last_reload_success_timestamp_seconds
        .get();
    let file = match &state.settings.config_file {
        Some(p) => escape(&p.display().to_string()),
        None => "the embedded modules".to_string(),
    };
    let last_ok_at = UNIX_EPOCH + Duration::from_secs_f64(last_ok.max(0.0));
    let _ = writeln!(
        out,
        "<table id=\"reload-state\"><tr><th>Config file</th><td>{file}</td></tr>\n\
         <tr><th>Last reload</th><td class=\"{}\">{}</td></tr>\n\
         <tr><th>Last successful load</th><td>{}</td></tr>\n\
         <tr><th>Running config checksum</th><td><code>{}</code></td></tr></table>",
        if ok { "ok" } else { "bad" },
        if ok { "successful" } else { "failed" },
        when(last_ok_at, now),
        state
            .config()
            .checksum
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    );
    if !ok {
        // The failed reload's errors are not kept; loading the file again shows what is
        // wrong with it now (the daemon keeps running the last good config).
        if let Some(path) = state.settings.config_file.clone() {
            let result = tokio::task::spawn_blocking(move || crate::config::load(&path)).await;
            let text = match result {
                Ok(Ok(_)) => {
                    "The file loads now; reload to apply it (POST /-/reload or SIGHUP).".to_string()
                }
                Ok(Err(e)) => e.to_string(),
                Err(e) => format!("checking the config file failed: {e}"),
            };
            let _ = writeln!(
                out,
                "<p>The daemon keeps running the last good config. The config file as it is now:</p>\n<pre id=\"reload-errors\">{}</pre>",
                escape(&text)
            );
        }
    }
}

/// How many unresolved alerts the alert pipeline holds (from the rules and from senders of
/// `POST /api/v2/alerts`).
fn pipeline_line(state: &Shared, out: &mut String) {
    if let Some(a) = state.alerting() {
        let now = a.now().wall;
        let n = a
            .core()
            .alerts
            .iter()
            .filter(|x| !x.resolved_at(now))
            .count();
        let _ = writeln!(
            out,
            "<p class=\"note\" id=\"pipeline-alerts\">The alert pipeline holds {n} active alerts (from the rules and from senders of <code>POST /api/v2/alerts</code>; see <a href=\"api/v2/alerts\">/api/v2/alerts</a>).</p>"
        );
    }
}

fn alerts_section(state: &Shared, now: SystemTime, out: &mut String) {
    out.push_str("<h2 id=\"alerts\">Alerts</h2>\n");
    pipeline_line(state, out);
    let manager = state.rules();
    if state.config().rules.groups.is_empty() {
        out.push_str("<p class=\"muted\" id=\"alerts-not-configured\">No rules configured (<code>rule_files</code>).</p>\n");
        return;
    }
    let (alerts, errors) = alert_rows(manager);
    let alerting = state.alerting();
    let firing = alerts
        .iter()
        .filter(|a| a.state == AlertState::Firing)
        .count();
    let _ = writeln!(
        out,
        "<p>{firing} firing, {} pending.</p>",
        alerts.len() - firing
    );
    if !errors.is_empty() {
        out.push_str(
            "<table id=\"rule-errors\"><tr><th>Rule</th><th>Last evaluation error</th></tr>\n",
        );
        for (rule, err) in &errors {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"bad\">{}</td></tr>",
                escape(rule),
                escape(err)
            );
        }
        out.push_str("</table>\n");
    }
    if alerts.is_empty() {
        return;
    }
    let silences = alerting.as_ref().map(|a| (a.now().wall, a.silences()));
    out.push_str("<div class=\"scroll\"><table class=\"stack\" id=\"alerts-table\"><tr><th>State</th><th>Alert</th><th>Labels</th><th class=\"wide\">Summary</th><th>Since</th><th class=\"wide\">Value</th><th></th></tr>\n");
    let mut shown = (0, 0);
    for a in &alerts {
        let count = if a.state == AlertState::Firing {
            &mut shown.0
        } else {
            &mut shown.1
        };
        *count += 1;
        if *count > MAX_ALERT_ROWS {
            continue;
        }
        let name = a.labels.get("alertname").map(String::as_str).unwrap_or("");
        let summary = a
            .annotations
            .get("summary")
            .or_else(|| a.annotations.get("description"))
            .map(String::as_str)
            .unwrap_or("");
        let muted = silences
            .as_ref()
            .map(|(t, s)| s.mutes(&a.labels, *t))
            .unwrap_or_default();
        let action = if !muted.is_empty() {
            format!("silenced by {}", escape(&muted.join(", ")))
        } else if alerting.is_some() {
            format!(
                "<a href=\"?matchers={}#new-silence\">Silence</a>",
                query_value(&matchers_for(&a.labels))
            )
        } else {
            String::new()
        };
        let (class, state) = match a.state {
            AlertState::Firing => ("bad", "firing"),
            _ => ("pending", "pending"),
        };
        let _ = writeln!(
            out,
            "<tr class=\"alert\"><td class=\"{class}\">{state}</td><td>{}</td><td>{}</td><td class=\"wide\">{}</td><td>{}</td><td class=\"num wide\">{}</td><td>{action}</td></tr>",
            escape(name),
            label_chips(&a.labels, &["alertname"]),
            escape(summary),
            when(from_ms(a.active_at), now),
            escape(&crate::rules::api::go_float_e(a.value)),
        );
    }
    out.push_str("</table></div>\n");
    for (n, what) in [(shown.0, "firing"), (shown.1, "pending")] {
        if n > MAX_ALERT_ROWS {
            let _ = writeln!(
                out,
                "<p class=\"note\">… and {} more {what} alerts (see <a href=\"api/v1/alerts\">/api/v1/alerts</a>).</p>",
                n - MAX_ALERT_ROWS
            );
        }
    }
}

fn silences_section(state: &Shared, form: &Form, out: &mut String) {
    out.push_str("<h2 id=\"silences\">Silences</h2>\n");
    let Some(alerting) = state.alerting() else {
        out.push_str("<p class=\"muted\" id=\"silences-not-configured\">Alerting is not configured (no <code>alerting:</code> section), so there are no silences.</p>\n");
        return;
    };
    let now = alerting.now().wall;
    {
        let silences = alerting.silences();
        let mut list: Vec<&Silence> = silences
            .list()
            .filter(|s| s.state(now) != SilenceState::Expired)
            .collect();
        list.sort_by(|a, b| {
            (a.state(now), a.ends_at, &a.id).cmp(&(b.state(now), b.ends_at, &b.id))
        });
        if list.is_empty() {
            out.push_str("<p class=\"muted\">No active or pending silences.</p>\n");
        } else {
            out.push_str("<div class=\"scroll\"><table class=\"stack\" id=\"silences-table\"><tr><th>State</th><th>Matchers</th><th>Ends</th><th class=\"wide\">Created by</th><th class=\"wide\">Comment</th><th></th></tr>\n");
            for s in list {
                let st = s.state(now);
                let _ = writeln!(
                    out,
                    "<tr class=\"silence\" data-id=\"{id}\"><td class=\"{}\">{}</td><td><code>{}</code></td><td>{}</td><td class=\"wide\">{}</td><td class=\"wide\">{}</td>\
                     <td><form class=\"inline\" method=\"post\" action=\"./\"><input type=\"hidden\" name=\"op\" value=\"expire\"><input type=\"hidden\" name=\"id\" value=\"{id}\"><button type=\"submit\">Expire</button></form></td></tr>",
                    if st == SilenceState::Active { "ok" } else { "pending" },
                    st.as_str(),
                    escape(&s.matchers.to_string()),
                    when(s.ends_at, now),
                    escape(&s.created_by),
                    escape(&s.comment),
                    id = escape(&s.id),
                );
            }
            out.push_str("</table></div>\n");
        }
    }
    let duration = if form.duration.is_empty() {
        "2h"
    } else {
        form.duration.as_str()
    };
    let _ = writeln!(
        out,
        "<h3 id=\"new-silence\">New silence</h3>\n\
         <form class=\"silence\" id=\"silence-form\" method=\"post\" action=\"./\">\n\
         <input type=\"hidden\" name=\"op\" value=\"create\">\n\
         <label>Matchers <input type=\"text\" name=\"matchers\" value=\"{}\" placeholder='alertname=\"BlackboxProbeFailed\", instance=~\".*example.*\"' required></label>\n\
         <label>Duration <input type=\"text\" name=\"duration\" value=\"{}\" placeholder=\"2h\" required></label>\n\
         <label>Created by <input type=\"text\" name=\"created_by\" value=\"{}\" required></label>\n\
         <label>Comment <input type=\"text\" name=\"comment\" value=\"{}\"></label>\n\
         <button type=\"submit\">Create silence</button>\n</form>\n\
         <p class=\"note\">Matchers use Alertmanager's syntax (<code>=</code>, <code>!=</code>, <code>=~</code>, <code>!~</code>); the duration is a Prometheus duration (<code>30m</code>, <code>2h</code>, <code>1d</code>). The silence starts now.</p>",
        escape(&form.matchers),
        escape(duration),
        escape(&form.created_by),
        escape(&form.comment),
    );
}

/// Writes the scheduled-targets table; returns the failing rows shown (for "Recent failures").
fn targets_section(state: &Shared, now: SystemTime, out: &mut String) -> Vec<TargetRow> {
    out.push_str("<h2 id=\"targets\">Scheduled targets</h2>\n");
    if state.config().jobs.is_empty() {
        out.push_str("<p class=\"muted\" id=\"targets-not-configured\">No scheduled probes configured (<code>probes:</code>).</p>\n");
        return Vec::new();
    }
    let (failing, healthy, nf, nh) = target_rows(state);
    let _ = writeln!(
        out,
        "<p id=\"targets-summary\">{nf} failing, {nh} succeeding (targets with a result so far).</p>"
    );
    if nf + nh > 0 {
        out.push_str("<div class=\"scroll\"><table class=\"stack\" id=\"targets-table\"><tr><th>Result</th><th>Job</th><th>Target</th><th class=\"wide\">Module</th><th>Duration</th><th>Last probe</th></tr>\n");
        for r in failing.iter().chain(healthy.iter()) {
            let _ = writeln!(
                out,
                "<tr class=\"target {}\"><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td class=\"wide\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                if r.success { "up" } else { "down" },
                if r.success { "ok" } else { "bad" },
                if r.success { "success" } else { "failure" },
                escape(&r.job),
                escape(&r.instance),
                escape(&r.module),
                r.duration.map(|d| format!("{:.3}s", d)).unwrap_or_default(),
                when(r.at, now),
            );
        }
        out.push_str("</table></div>\n");
    }
    if nf > failing.len() {
        let _ = writeln!(
            out,
            "<p class=\"note\">… and {} more failing targets (all results are on <a href=\"metrics\">/metrics</a>).</p>",
            nf - failing.len()
        );
    }
    if nh > healthy.len() {
        let _ = writeln!(
            out,
            "<p class=\"note\" id=\"healthy-more\">… and {} more succeeding targets (all results are on <a href=\"metrics\">/metrics</a>).</p>",
            nh - healthy.len()
        );
    }
    failing
}

fn failures_section(state: &Shared, failing: &[TargetRow], out: &mut String) {
    out.push_str("<h2 id=\"failures\">Recent failures</h2>\n");
    if !failing.is_empty() {
        out.push_str("<p class=\"note\">Debug logs of scheduled probes are not kept. A debug probe runs the same module against the target now and shows its log.</p>\n<ul id=\"failing-debug\">\n");
        for r in failing.iter().take(50) {
            let _ = writeln!(
                out,
                "<li>{} {} — <a href=\"probe?target={}&amp;module={}&amp;debug=true\">debug probe now</a></li>",
                escape(&r.job),
                escape(&r.instance),
                query_value(&r.instance),
                query_value(&r.module),
            );
        }
        out.push_str("</ul>\n");
    }
    let history = crate::base::sync::lock(&state.history);
    let failed: Vec<_> = history
        .list()
        .into_iter()
        .filter(|e| !e.success)
        .take(10)
        .collect();
    if failed.is_empty() && failing.is_empty() {
        out.push_str("<p class=\"muted\">No failures.</p>\n");
        return;
    }
    if failed.is_empty() {
        return;
    }
    out.push_str("<p>Failed <code>/probe</code> requests:</p>\n");
    for e in failed {
        let _ = writeln!(
            out,
            "<details class=\"failure\"><summary>{} {} — <a href=\"logs?id={}\">Logs</a></summary><pre>{}</pre></details>",
            escape(&e.module),
            escape(&e.target),
            e.id,
            escape(&e.debug_output),
        );
    }
}

/// blackbox_exporter's table of recent `/probe` requests, newest first.
fn history_section(state: &Shared, out: &mut String) {
    out.push_str("<h2 id=\"recent\">Recent Probes</h2>\n<p class=\"note\">Requests to <code>/probe</code>, as blackbox_exporter lists them. Try <a href=\"probe?target=prometheus.io&amp;module=http_2xx\">Probe prometheus.io for http_2xx</a> or <a href=\"probe?target=prometheus.io&amp;module=http_2xx&amp;debug=true\">Debug probe prometheus.io for http_2xx</a>.</p>\n");
    out.push_str("<div class=\"scroll\"><table id=\"history-table\">\n<tr><th>Module</th><th>Target</th><th>Result</th><th>Debug</th></tr>\n");
    {
        let h = crate::base::sync::lock(&state.history);
        for e in h.list().into_iter().take(MAX_HISTORY_ROWS) {
            let result = if e.success {
                "Success"
            } else {
                "<strong>Failure</strong>"
            };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{result}</td><td><a href=\"logs?id={}\">Logs</a></td></tr>",
                escape(&e.module),
                escape(&e.target),
                e.id
            );
        }
    }
    out.push_str("</table></div>\n");
}

fn html(status: StatusCode, page: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        page,
    )
        .into_response()
}

/// `GET /`. `?matchers=` prefills the silence form; `?notice=` shows a notice (set by the
/// redirect after a form submit).
pub(super) async fn index(
    State(state): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let form = Form {
        matchers: q.get("matchers").cloned().unwrap_or_default(),
        ..Form::default()
    };
    let page = render(&state, &form, q.get("notice").map(String::as_str)).await;
    html(StatusCode::OK, page)
}

/// Why a form submit failed.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error("alerting is not configured")]
    NotConfigured,
    #[error("unknown form action {0:?}")]
    UnknownOp(String),
    #[error("bad matchers: {0}")]
    Matchers(String),
    #[error("bad duration: {0}")]
    Duration(String),
    #[error("{0}")]
    Silence(#[from] SilenceError),
    #[error("cross-site form submissions are refused")]
    CrossSite,
}

/// Parses and applies a create form. Returns the new silence's ID.
fn create(state: &Shared, fields: &BTreeMap<String, String>) -> Result<String, FormError> {
    let alerting = state.alerting().ok_or(FormError::NotConfigured)?;
    let field = |k: &str| fields.get(k).map(|s| s.trim()).unwrap_or("");
    let matchers = Matchers::parse(field("matchers")).map_err(|e| FormError::Matchers(e.0))?;
    let duration = crate::base::units::parse_prom_duration(field("duration"))
        .map_err(|e| FormError::Duration(e.to_string()))?;
    let now = alerting.now().wall;
    // The same steps as POST /api/v2/silences with startsAt = now.
    let sil = Silence {
        id: String::new(),
        matchers,
        starts_at: now,
        ends_at: now + duration,
        updated_at: UNIX_EPOCH,
        created_by: field("created_by").to_string(),
        comment: field("comment").to_string(),
    };
    validate_postable(&sil, now)?;
    let id = alerting.silences().set(sil, now)?;
    alerting.silences_changed();
    Ok(id)
}

/// Applies an expire form (the same steps as DELETE /api/v2/silence/{id}).
fn expire(state: &Shared, id: &str) -> Result<(), FormError> {
    let alerting = state.alerting().ok_or(FormError::NotConfigured)?;
    let now = alerting.now().wall;
    alerting.silences().expire(id, now)?;
    alerting.silences_changed();
    Ok(())
}

/// `POST /`: the silence forms (`op=create` or `op=expire`). Success redirects (303) back
/// to the page with a notice; a bad form re-renders the page with the error and the values
/// entered (400). Browsers' cross-site submissions (`Sec-Fetch-Site: cross-site`) are
/// refused.
pub(super) async fn submit(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields: BTreeMap<String, String> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    let cross_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"));
    let op = fields.get("op").map(String::as_str).unwrap_or("");
    let result = if cross_site {
        Err(FormError::CrossSite)
    } else {
        match op {
            "create" => create(&state, &fields).map(|id| format!("Created silence {id}.")),
            "expire" => {
                let id = fields.get("id").map(String::as_str).unwrap_or("");
                expire(&state, id).map(|()| format!("Expired silence {id}."))
            }
            other => Err(FormError::UnknownOp(other.to_string())),
        }
    };
    match result {
        Ok(notice) => {
            let location = format!("./?notice={}#silences", query_value(&notice));
            (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, location)],
                String::new(),
            )
                .into_response()
        }
        Err(e) => {
            let status = match e {
                FormError::CrossSite => StatusCode::FORBIDDEN,
                FormError::Silence(SilenceError::NotFound) => StatusCode::NOT_FOUND,
                FormError::NotConfigured => StatusCode::NOT_FOUND,
                _ => StatusCode::BAD_REQUEST,
            };
            let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
            let form = if op == "create" {
                Form {
                    matchers: get("matchers"),
                    duration: get("duration"),
                    created_by: get("created_by"),
                    comment: get("comment"),
                    error: Some(e.to_string()),
                }
            } else {
                Form {
                    error: Some(e.to_string()),
                    ..Form::default()
                }
            };
            html(status, render(&state, &form, None).await)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn short_durations() {
        assert_eq!(short_duration(Duration::from_secs(5)), "5s");
        assert_eq!(short_duration(Duration::from_secs(252)), "4m12s");
        assert_eq!(short_duration(Duration::from_secs(7500)), "2h5m");
        assert_eq!(
            short_duration(Duration::from_secs(3 * 86_400 + 4 * 3600)),
            "3d4h"
        );
    }

    /// 10,000 scheduled targets, 37 failing: the failing ones are all listed first, the
    /// succeeding ones are capped, hostile target names are escaped, and the page is small.
    #[tokio::test]
    async fn ten_thousand_targets_stay_small_and_failing_first() {
        let config = crate::config::load_str(
            // A job whose file_sd glob matches nothing: no probe runs, and the page lists the
            // store's results, which the test writes itself.
            "modules:\n  http_2xx:\n    prober: http\nprobes:\n  - job: web\n    module: http_2xx\n    file_sd:\n      - files: [\"/nonexistent/*.json\"]\n",
            std::path::Path::new("t.yml"),
        )
        .expect("config");
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = crate::state::Settings {
            storage_path: dir.path().to_path_buf(),
            ..Default::default()
        };
        let daemon = crate::daemon::Daemon::build(
            config,
            settings,
            tokio_util::sync::CancellationToken::new(),
        )
        .expect("daemon");
        let state = daemon.state();
        for i in 0..10_000 {
            let failing = i % 271 == 5;
            let mut reg = crate::probe::Registry::new();
            reg.set("probe_success", "", if failing { 0.0 } else { 1.0 });
            reg.set("probe_duration_seconds", "", 0.25);
            let key = crate::store::GroupKey {
                job: Arc::from("web"),
                instance: Arc::from(format!("http://t{i:05}.example/<b>").as_str()),
                module: Arc::from("http_2xx"),
            };
            state
                .store
                .record(&key, &BTreeMap::new(), 1_700_000_000_000 + i, &reg);
        }
        let start = tokio::time::Instant::now();
        let page = render(state, &Form::default(), None).await;
        let took = start.elapsed();
        assert!(took < Duration::from_secs(2), "rendering took {took:?}");
        assert!(page.len() < 300_000, "page is {} bytes", page.len());
        assert!(page.contains("37 failing, 9963 succeeding"), "{page}");
        assert!(page.contains("… and 9863 more succeeding targets"));
        assert_eq!(page.matches("<tr class=\"target down\">").count(), 37);
        assert_eq!(
            page.matches("<tr class=\"target up\">").count(),
            MAX_HEALTHY_ROWS
        );
        let last_down = page.rfind("target down").expect("down rows");
        let first_up = page.find("target up").expect("up rows");
        assert!(last_down < first_up, "failing first");
        assert!(!page.contains("<b>"), "target names are escaped");
        assert!(page.contains("http://t00005.example/&lt;b&gt;"));
        // The healthy rows shown are the first by (job, instance).
        assert!(page.contains("http://t00000.example/"));
        assert!(!page.contains("http://t09999.example/"));
        assert!(page.contains("silences-not-configured"));
        assert!(page.contains("alerts-not-configured"));
    }

    #[test]
    fn silence_link_matchers_parse_back_to_the_labels() {
        let mut labels = LabelSet::new();
        labels.insert("alertname".into(), "Down".into());
        labels.insert("instance".into(), "http://a/\"b\"".into());
        let m = Matchers::parse(&matchers_for(&labels)).expect("parses");
        assert!(m.matches(&labels));
        assert_eq!(m.len(), 2);
    }
}
