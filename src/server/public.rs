//! The public surface: the read-only status pages of `status_pages:` (each at its own
//! path, showing only its groups: current state, 90-day uptime bars, the response-time
//! chart and incidents, minus what its `hide:` leaves out) and the SVG badges
//! `/badge/<job>/<instance>/{uptime,response-time,status}`. Nothing here links to the
//! operator UI. [`public_router`] serves only this, for `--web.public-listen-address`;
//! there a badge is served only for a target some status page shows.
//!
//! Pages are found per request in the running config, so a reload adds, moves or drops
//! them. The history reads are blocking and run on a blocking thread.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::charts;
use super::status::escape;
use crate::clock::Now;
use crate::config::validate::{StatusPage, StatusTarget};
use crate::state::Shared;
use crate::store::GroupKey;
use crate::uptime::period::DAY_MS;
use crate::uptime::series::{day_range, Bucket, DayCell};
use crate::uptime::{Incident, Query as UptimeQuery, Uptime, Window};

/// Days of uptime bars.
pub const BAR_DAYS: u32 = 90;
/// Incidents listed at most on a page.
const MAX_INCIDENTS: usize = 20;
/// Buckets of the 24-hour response-time chart (10 minutes each).
pub const CHART_BUCKETS: usize = 144;

/// The badge route, for the main router.
pub(super) fn badge_routes() -> Router<Arc<Shared>> {
    Router::new().route("/badge/{job}/{instance}/{kind}", get(badge_any))
}

/// Only the status pages and the badges of the targets they show: what
/// `--web.public-listen-address` serves.
pub fn public_router(state: Arc<Shared>) -> Router {
    Router::new()
        .route("/badge/{job}/{instance}/{kind}", get(badge_public))
        .fallback(page)
        .with_state(state)
}

/// The fallback of both routers: a status page at the request's path, else 404.
pub(super) async fn page(
    State(state): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let config = state.config();
    let Some(idx) = config
        .status_pages
        .iter()
        .position(|p| p.path == uri.path())
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if method != Method::GET && method != Method::HEAD {
        return super::plain(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed\n");
    }
    let st = Arc::clone(&state);
    let body = tokio::task::spawn_blocking(move || {
        let config = st.config();
        match config.status_pages.get(idx) {
            Some(p) => render_page(&st, p, Now::read().unix_ms()),
            None => String::new(),
        }
    })
    .await
    .unwrap_or_default();
    let mut resp = super::text_response(StatusCode::OK, "text/html; charset=utf-8", body, &headers);
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, max-age=30"),
    );
    resp
}

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:960px;padding:0 1rem 2rem;line-height:1.45;color:#1d1d1f;background:#fff}
h1{font-size:1.6rem;margin:1.2rem 0 .2rem}h2{font-size:1.15rem;margin:1.6rem 0 .5rem}.muted{color:#666}
.banner{padding:.7rem 1rem;border-radius:6px;font-weight:600;margin:1rem 0}.banner.ok{background:#dafbe1;color:#116329}.banner.bad{background:#ffebe9;color:#a40e26}
.group{border:1px solid #e5e5e5;border-radius:6px;margin:1rem 0;padding:.2rem 1rem .8rem}
.target{border-top:1px solid #eee;padding:.7rem 0}.target:first-of-type{border-top:0}
.head{display:flex;justify-content:space-between;gap:1rem;flex-wrap:wrap}.name{font-weight:600}
.up{color:#1a7f37;font-weight:600}.down{color:#cf222e;font-weight:600}.unknown{color:#666}
.addr{font-family:ui-monospace,monospace;font-size:.82rem;color:#555;word-break:break-all}
.reason{color:#a40e26;font-size:.9rem}svg{display:block;max-width:100%;height:auto;margin:.3rem 0}
.legend{display:flex;justify-content:space-between;font-size:.78rem;color:#666}
table{border-collapse:collapse;width:100%;font-size:.92rem}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e5e5e5;vertical-align:top}
"#;

/// What a page shows of one target.
struct View<'a> {
    target: &'a StatusTarget,
    up: Option<bool>,
    days: Vec<DayCell>,
    latest: Option<Incident>,
    series: Option<Vec<Bucket>>,
}

/// The key a configured target's history is under.
fn key_of(t: &StatusTarget) -> GroupKey {
    GroupKey {
        job: Arc::from(t.job.as_str()),
        instance: Arc::from(t.instance.as_str()),
        module: Arc::from(t.module.as_str()),
    }
}

/// The latest `probe_success` of each (job, instance) asked for.
fn current_state(state: &Shared, wanted: &[GroupKey]) -> HashMap<GroupKey, bool> {
    let mut out = HashMap::new();
    for s in state.store.instant("probe_success") {
        let get = |name: &str| {
            s.labels
                .iter()
                .find(|(k, _)| &**k == name)
                .map(|(_, v)| v.clone())
        };
        let (Some(job), Some(instance), Some(module)) =
            (get("job"), get("instance"), get("module"))
        else {
            continue;
        };
        let key = GroupKey {
            job,
            instance,
            module,
        };
        if wanted.contains(&key) {
            out.insert(key, s.value == 1.0);
        }
    }
    out
}

/// The page's HTML at `now_ms` (blocking: reads the uptime history).
pub fn render_page(state: &Shared, page: &StatusPage, now_ms: i64) -> String {
    let targets: Vec<&StatusTarget> = page.groups.iter().flat_map(|g| &g.targets).collect();
    let keys: Vec<GroupKey> = targets.iter().map(|t| key_of(t)).collect();
    let current = current_state(state, &keys);
    let uptime = state.uptime.as_deref();
    let mut days = uptime
        .and_then(|u| u.daily(&keys, BAR_DAYS, now_ms).ok())
        .unwrap_or_default();
    let mut latest = uptime
        .and_then(|u| u.latest_incidents(&keys).ok())
        .unwrap_or_default();
    let day_w = Window {
        from_ms: crate::uptime::period::ceil_to(now_ms, 60_000) - DAY_MS,
        to_ms: crate::uptime::period::ceil_to(now_ms, 60_000),
    };
    let mut views: HashMap<GroupKey, View> = HashMap::new();
    for (t, k) in targets.iter().zip(&keys) {
        let series = match uptime {
            Some(u) if !page.hide.response_time => u.series(k, day_w, CHART_BUCKETS, now_ms).ok(),
            _ => None,
        };
        views.insert(
            k.clone(),
            View {
                target: t,
                up: current.get(k).copied(),
                days: days
                    .remove(k)
                    .unwrap_or_else(|| vec![DayCell::default(); BAR_DAYS as usize]),
                latest: latest.remove(k),
                series,
            },
        );
    }
    let incidents = uptime
        .map(|u| page_incidents(u, page, now_ms))
        .unwrap_or_default();
    let mut body = String::with_capacity(32 * 1024);
    let _ = writeln!(body, "<h1 id=\"title\">{}</h1>", escape(&page.title));
    if let Some(d) = &page.description {
        let _ = writeln!(
            body,
            "<p class=\"muted\" id=\"description\">{}</p>",
            escape(d)
        );
    }
    let down = views.values().filter(|v| v.up == Some(false)).count();
    if down == 0 {
        body.push_str("<p class=\"banner ok\" id=\"overall\">All systems operational</p>\n");
    } else {
        let _ = writeln!(
            body,
            "<p class=\"banner bad\" id=\"overall\">{down} of {} services are down</p>",
            views.len()
        );
    }
    let first_day = day_range(now_ms, BAR_DAYS);
    for group in &page.groups {
        let _ = writeln!(
            body,
            "<section class=\"group\"><h2>{}</h2>",
            escape(&group.name)
        );
        for t in &group.targets {
            if let Some(v) = views.get(&key_of(t)) {
                target_html(&mut body, v, page, first_day);
            }
        }
        body.push_str("</section>\n");
    }
    body.push_str("<h2 id=\"incidents\">Incidents (last 90 days)</h2>\n");
    if incidents.is_empty() {
        body.push_str("<p class=\"muted\">No incidents.</p>\n");
    } else {
        let names: HashMap<GroupKey, &str> = targets
            .iter()
            .map(|t| (key_of(t), t.name.as_str()))
            .collect();
        body.push_str(
            "<table id=\"incident-list\"><tr><th>Service</th><th>Started</th><th>Duration</th>",
        );
        if !page.hide.incident_reasons {
            body.push_str("<th>Reason</th>");
        }
        body.push_str("</tr>\n");
        for i in incidents.iter().take(MAX_INCIDENTS) {
            let dur = i.end_ms.unwrap_or(now_ms) - i.start_ms;
            let _ = write!(
                body,
                "<tr class=\"incident\"><td>{}</td><td>{}</td><td>{}{}</td>",
                escape(names.get(&i.key).copied().unwrap_or("")),
                charts::when_utc(i.start_ms),
                charts::span_ms(dur),
                if i.end_ms.is_none() { " (ongoing)" } else { "" },
            );
            if !page.hide.incident_reasons {
                let _ = write!(body, "<td>{}</td>", escape(&i.reason));
            }
            body.push_str("</tr>\n");
        }
        body.push_str("</table>\n");
    }
    let _ = writeln!(
        body,
        "<p class=\"muted\">Updated {}. Times are UTC.</p>",
        charts::when_utc(now_ms)
    );
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(&page.title)
    )
}

fn target_html(out: &mut String, v: &View, page: &StatusPage, first_day: i64) {
    let t = v.target;
    let (class, word) = match v.up {
        Some(true) => ("up", "Operational"),
        Some(false) => ("down", "Down"),
        None => ("unknown", "No data yet"),
    };
    let total = v.days.iter().fold(DayCell::default(), |a, c| DayCell {
        probes: a.probes + c.probes,
        successes: a.successes + c.successes,
    });
    let _ = write!(
        out,
        "<div class=\"target\"><div class=\"head\"><span><span class=\"name\">{}</span>",
        escape(&t.name)
    );
    if !page.hide.addresses {
        let _ = write!(out, " <span class=\"addr\">{}</span>", escape(&t.instance));
    }
    let _ = write!(
        out,
        "</span><span><span class=\"{class}\">{word}</span> · <span class=\"uptime\">{} uptime (90 days)</span></span></div>",
        total
            .ratio()
            .map(charts::percent)
            .unwrap_or_else(|| "no data".into()),
    );
    if v.up == Some(false) && !page.hide.failure_reasons {
        if let Some(i) = v.latest.as_ref().filter(|i| i.end_ms.is_none()) {
            let _ = write!(
                out,
                "<p class=\"reason\">Failing since {}: {}</p>",
                charts::when_utc(i.start_ms),
                escape(&i.reason)
            );
        }
    }
    out.push_str(&charts::uptime_bars(&v.days, first_day, 10, 28));
    out.push_str("<div class=\"legend\"><span>90 days ago</span><span>Today</span></div>");
    if let Some(series) = &v.series {
        out.push_str(&charts::response_chart(series, 900, 150));
        let avg = series
            .iter()
            .fold((0.0, 0u64), |(s, n), b| match b.latency_avg {
                Some(a) => (s + a * b.probes as f64, n + b.probes),
                None => (s, n),
            });
        if avg.1 > 0 {
            let _ = write!(
                out,
                "<p class=\"muted\">Response time, last 24 hours: mean {}.</p>",
                charts::seconds(avg.0 / avg.1 as f64)
            );
        }
    }
    out.push_str("</div>\n");
}

/// Incidents of the page's targets over the bars' 90 days, newest first.
fn page_incidents(uptime: &Uptime, page: &StatusPage, now_ms: i64) -> Vec<Incident> {
    let w = Window {
        from_ms: day_range(now_ms, BAR_DAYS),
        to_ms: now_ms,
    };
    uptime
        .incidents(&UptimeQuery::all(w))
        .map(|list| {
            list.into_iter()
                .filter(|i| page.shows(&i.key.job, &i.key.instance))
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Badges
// ---------------------------------------------------------------------------

#[derive(serde::Deserialize)]
pub(super) struct BadgeParams {
    window: Option<String>,
}

async fn badge_any(
    State(state): State<Arc<Shared>>,
    Path((job, instance, kind)): Path<(String, String, String)>,
    Query(p): Query<BadgeParams>,
) -> Response {
    badge(state, job, instance, kind, p, false).await
}

async fn badge_public(
    State(state): State<Arc<Shared>>,
    Path((job, instance, kind)): Path<(String, String, String)>,
    Query(p): Query<BadgeParams>,
) -> Response {
    badge(state, job, instance, kind, p, true).await
}

fn svg_response(status: StatusCode, svg: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        svg,
    )
        .into_response()
}

/// What a badge says: (status, label, message, colour).
pub fn badge_text(
    state: &Shared,
    job: &str,
    instance: &str,
    kind: &str,
    window: Option<&str>,
    only_public: bool,
    now_ms: i64,
) -> (StatusCode, String, String, &'static str) {
    let not_found = |label: &str| {
        (
            StatusCode::NOT_FOUND,
            label.to_string(),
            "not found".to_string(),
            charts::BADGE_GREY,
        )
    };
    let (default_window, label) = match kind {
        "uptime" => ("30d", "uptime"),
        "response-time" => ("24h", "response time"),
        "status" => ("", "status"),
        _ => return not_found("badge"),
    };
    if only_public
        && !state
            .config()
            .status_pages
            .iter()
            .any(|p| p.shows(job, instance))
    {
        return not_found(label);
    }
    let Some(uptime) = state.uptime.as_deref() else {
        return (
            StatusCode::OK,
            label.to_string(),
            "no data".into(),
            charts::BADGE_GREY,
        );
    };
    let Some(key) = uptime.find(job, instance) else {
        return not_found(label);
    };
    if kind == "status" {
        let up = current_state(state, std::slice::from_ref(&key))
            .get(&key)
            .copied();
        return match up {
            Some(true) => (StatusCode::OK, label.into(), "up".into(), "#4c1"),
            Some(false) => (StatusCode::OK, label.into(), "down".into(), "#e05d44"),
            None => (
                StatusCode::OK,
                label.into(),
                "no data".into(),
                charts::BADGE_GREY,
            ),
        };
    }
    let window_text = window.filter(|w| !w.is_empty()).unwrap_or(default_window);
    let w = match crate::base::units::parse_prom_duration(window_text) {
        Ok(d) if !d.is_zero() && d <= Duration::from_secs(400 * 86_400) => d,
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                label.into(),
                "bad window".into(),
                charts::BADGE_GREY,
            )
        }
    };
    let label = format!("{label} {window_text}");
    let q = UptimeQuery {
        job: Some(key.job.to_string()),
        instance: Some(key.instance.to_string()),
        module: Some(key.module.to_string()),
        window: uptime.last(w, now_ms),
    };
    let rollup = uptime
        .figures(&q)
        .ok()
        .and_then(|f| f.targets.into_iter().next())
        .map(|(_, f)| f.rollup);
    let no_data = (
        StatusCode::OK,
        label.clone(),
        "no data".into(),
        charts::BADGE_GREY,
    );
    let Some(r) = rollup else { return no_data };
    match kind {
        "uptime" => match r.ratio() {
            Some(x) => (
                StatusCode::OK,
                label,
                charts::percent(x),
                charts::uptime_badge_colour(x),
            ),
            None => no_data,
        },
        _ => match r.latency_avg() {
            Some(s) => (
                StatusCode::OK,
                label,
                charts::seconds(s),
                charts::latency_badge_colour(s),
            ),
            None => no_data,
        },
    }
}

async fn badge(
    state: Arc<Shared>,
    job: String,
    instance: String,
    kind: String,
    p: BadgeParams,
    only_public: bool,
) -> Response {
    let result = tokio::task::spawn_blocking(move || {
        badge_text(
            &state,
            &job,
            &instance,
            &kind,
            p.window.as_deref(),
            only_public,
            Now::read().unix_ms(),
        )
    })
    .await;
    match result {
        Ok((status, label, message, colour)) => {
            svg_response(status, charts::badge(&label, &message, colour))
        }
        Err(_) => svg_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            charts::badge("badge", "error", charts::BADGE_GREY),
        ),
    }
}
