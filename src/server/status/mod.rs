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

mod forms;
mod rows;
mod sections;
mod uptime;

use forms::*;
pub use rows::escape;
use rows::*;
use sections::*;
pub(super) use uptime::target;
pub use uptime::{detail_body, gather, UptimeInfo};

/// Failing targets shown at most.
pub const MAX_FAILING_ROWS: usize = 500;
/// Healthy targets shown at most.
pub const MAX_HEALTHY_ROWS: usize = 100;
/// `/probe` history rows shown at most (the history itself is bounded by `--history.limit`).
const MAX_HISTORY_ROWS: usize = 100;
/// Alerts shown at most per state.
const MAX_ALERT_ROWS: usize = 500;

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
.bars-cell svg{display:block;max-width:none!important}.bars-cell .note{font-size:.8rem}td.reason{font-size:.85rem;max-width:22rem;word-break:break-word}
svg.chart,svg.bars{max-width:100%;height:auto}
@media (max-width:600px){th,td{padding:.25rem .3rem}table{font-size:.85rem}.wide{display:none}
table.stack tr{display:block;border-bottom:1px solid #e5e5e5;padding:.25rem 0}table.stack tr:first-child{display:none}table.stack td{display:inline-block;border:0;padding:.1rem .3rem;word-break:break-word}}
"#;

/// Renders the page. `info` is a notice shown on top (after a successful form submit).
pub async fn render(state: &Arc<Shared>, form: &Form, info: Option<&str>) -> String {
    let now_read = Now::read();
    let now = now_read.wall;
    let now_ms = now_read.unix_ms();
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
    cluster_section(state, &mut body);
    alerts_section(state, now, &mut body);
    silences_section(state, form, &mut body);
    // The rows shown, then their uptime history read off the async workers.
    let rows = (!state.config().jobs.is_empty()).then(|| target_rows(state));
    let keys: Vec<crate::store::GroupKey> = rows
        .iter()
        .flat_map(|(f, h, _, _)| f.iter().chain(h))
        .map(uptime::row_key)
        .collect();
    let history = state.uptime.clone();
    let uptime_info =
        tokio::task::spawn_blocking(move || gather(history.as_deref(), &keys, now_ms))
            .await
            .unwrap_or_default();
    let failing = targets_section(state, now, rows, &uptime_info, &mut body);
    uptime::incidents_section(&uptime_info, now_ms, &mut body);
    failures_section(state, &failing, &mut body);
    history_section(state, &mut body);

    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>blackwatch</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
}

/// A whole page around `body`, with the operator page's style.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
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
