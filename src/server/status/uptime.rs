//! The operator page's uptime parts: for the target rows `/` shows, 90-day uptime bars and
//! the latest failure reason; the recent incidents of every target; and the detail view of
//! one target (`/target?job=&instance=&module=`): availability figures per window, the bars,
//! the response-time chart over 24 h, 7 d or 30 d, and its incident list. The history is
//! read on a blocking thread and only for the rows shown, so `/` stays cheap with 10,000
//! targets (see `benches/pages.rs`).

use super::*;
use crate::server::charts;
use crate::store::GroupKey;
use crate::uptime::series::{day_range, DayCell};
use crate::uptime::{Incident, Uptime, Window};

/// Days of bars.
pub const BAR_DAYS: u32 = 90;
/// Incidents in `/`'s list at most.
const MAX_RECENT_INCIDENTS: usize = 20;
/// Incidents in a detail view at most.
const MAX_TARGET_INCIDENTS: usize = 100;

/// What `/` shows of the history for the rows it lists.
#[derive(Default)]
pub struct UptimeInfo {
    pub days: HashMap<GroupKey, Vec<DayCell>>,
    pub latest: HashMap<GroupKey, Incident>,
    /// Incidents of every target over the last 7 days, newest first (capped).
    pub recent: Vec<Incident>,
    pub recent_total: usize,
    pub first_day_ms: i64,
    pub enabled: bool,
}

pub(super) fn row_key(r: &TargetRow) -> GroupKey {
    GroupKey {
        job: Arc::from(r.job.as_str()),
        instance: Arc::from(r.instance.as_str()),
        module: Arc::from(r.module.as_str()),
    }
}

/// Reads what `/` shows for `keys` (blocking).
pub fn gather(uptime: Option<&Uptime>, keys: &[GroupKey], now_ms: i64) -> UptimeInfo {
    let Some(u) = uptime else {
        return UptimeInfo::default();
    };
    let mut recent = u
        .incidents(&crate::uptime::Query::all(Window {
            from_ms: now_ms - 7 * crate::uptime::period::DAY_MS,
            to_ms: now_ms,
        }))
        .unwrap_or_default();
    let recent_total = recent.len();
    recent.truncate(MAX_RECENT_INCIDENTS);
    UptimeInfo {
        days: u.daily(keys, BAR_DAYS, now_ms).unwrap_or_default(),
        latest: u.latest_incidents(keys).unwrap_or_default(),
        recent,
        recent_total,
        first_day_ms: day_range(now_ms, BAR_DAYS),
        enabled: true,
    }
}

/// A link to a target's detail view.
pub(super) fn detail_href(job: &str, instance: &str, module: &str) -> String {
    format!(
        "target?job={}&amp;instance={}&amp;module={}",
        query_value(job),
        query_value(instance),
        query_value(module)
    )
}

/// The two cells `/`'s target table gains: the bars (with the 90-day percentage) and the
/// latest failure reason.
pub(super) fn row_cells(info: &UptimeInfo, r: &TargetRow) -> String {
    if !info.enabled {
        return "<td class=\"wide\"></td><td class=\"wide\"></td>".into();
    }
    let key = row_key(r);
    let empty;
    let days = match info.days.get(&key) {
        Some(d) => d,
        None => {
            empty = vec![DayCell::default(); BAR_DAYS as usize];
            &empty
        }
    };
    let total = days.iter().fold(DayCell::default(), |a, c| DayCell {
        probes: a.probes + c.probes,
        successes: a.successes + c.successes,
    });
    let reason = match info.latest.get(&key) {
        Some(i) if i.end_ms.is_none() => format!(
            "<span class=\"bad\">{}</span> <span class=\"muted\">(since {})</span>",
            escape(&i.reason),
            charts::when_utc(i.start_ms)
        ),
        Some(i) => format!(
            "{} <span class=\"muted\">({}, lasted {})</span>",
            escape(&i.reason),
            charts::when_utc(i.start_ms),
            charts::span_ms(i.end_ms.unwrap_or(i.start_ms) - i.start_ms)
        ),
        None => String::new(),
    };
    format!(
        "<td class=\"wide bars-cell\">{}<span class=\"note\">{}</span></td><td class=\"wide reason\">{reason}</td>",
        charts::uptime_bars_compact(days, info.first_day_ms, 3, 16),
        total
            .ratio()
            .map(charts::percent)
            .unwrap_or_else(|| "no data".into()),
    )
}

/// `/`'s list of recent incidents (all targets, last 7 days).
pub(super) fn incidents_section(info: &UptimeInfo, now_ms: i64, out: &mut String) {
    if !info.enabled {
        return;
    }
    out.push_str("<h2 id=\"incidents\">Incidents (last 7 days)</h2>\n");
    if info.recent.is_empty() {
        out.push_str("<p class=\"muted\">No incidents.</p>\n");
        return;
    }
    incident_table(&info.recent, now_ms, true, "incidents-table", out);
    if info.recent_total > info.recent.len() {
        let _ = writeln!(
            out,
            "<p class=\"note\">… and {} more (see <a href=\"api/v1/uptime/incidents?window=7d\">/api/v1/uptime/incidents</a>).</p>",
            info.recent_total - info.recent.len()
        );
    }
}

fn incident_table(list: &[Incident], now_ms: i64, with_target: bool, id: &str, out: &mut String) {
    let _ = writeln!(
        out,
        "<div class=\"scroll\"><table class=\"stack\" id=\"{id}\"><tr>{}<th>Started</th><th>Duration</th><th>Reason</th></tr>",
        if with_target { "<th>Target</th>" } else { "" }
    );
    for i in list {
        let dur = i.end_ms.unwrap_or(now_ms) - i.start_ms;
        let target = if with_target {
            format!(
                "<td><a href=\"{}\">{} {}</a></td>",
                detail_href(&i.key.job, &i.key.instance, &i.key.module),
                escape(&i.key.job),
                escape(&i.key.instance)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "<tr class=\"incident{}\">{target}<td>{}</td><td>{}{}</td><td>{}</td></tr>",
            if i.end_ms.is_none() { " ongoing" } else { "" },
            charts::when_utc(i.start_ms),
            charts::span_ms(dur),
            if i.end_ms.is_none() {
                " <span class=\"bad\">(ongoing)</span>"
            } else {
                ""
            },
            escape(&i.reason),
        );
    }
    out.push_str("</table></div>\n");
}

/// The chart windows the detail view offers: (parameter, length, buckets).
const CHART_WINDOWS: [(&str, i64, usize); 3] = [
    ("24h", crate::uptime::period::DAY_MS, 144),
    ("7d", 7 * crate::uptime::period::DAY_MS, 168),
    ("30d", 30 * crate::uptime::period::DAY_MS, 180),
];

/// The detail view's body for one target at `now_ms` (blocking). `None` when the target has
/// no history.
pub fn detail_body(
    uptime: &Uptime,
    key: &GroupKey,
    chart: &str,
    now_ms: i64,
    up: Option<bool>,
) -> Option<String> {
    let (chart, chart_ms, buckets) = CHART_WINDOWS
        .iter()
        .copied()
        .find(|(name, _, _)| *name == chart)
        .unwrap_or(CHART_WINDOWS[0]);
    let mut out = String::with_capacity(64 * 1024);
    let _ = writeln!(
        out,
        "<h1>{} <span class=\"muted\">{}</span></h1>\n<p><a href=\"./\">← all targets</a> · job <code>{}</code> · module <code>{}</code> · {}</p>",
        escape(&key.instance),
        escape(&key.job),
        escape(&key.job),
        escape(&key.module),
        match up {
            Some(true) => "<span class=\"ok\">up</span>",
            Some(false) => "<span class=\"bad\">down</span>",
            None => "<span class=\"muted\">no current result</span>",
        }
    );
    // Figures per window.
    out.push_str("<h2 id=\"figures\">Availability</h2>\n<div class=\"scroll\"><table id=\"figures-table\"><tr><th>Window</th><th>Uptime</th><th>Probes</th><th>Mean</th><th>p50</th><th>p95</th><th>p99</th><th>Incidents</th><th>MTTR</th></tr>\n");
    let mut any = false;
    for (name, days) in [
        ("24 hours", 1u64),
        ("7 days", 7),
        ("30 days", 30),
        ("90 days", 90),
    ] {
        let q = crate::uptime::Query {
            job: Some(key.job.to_string()),
            instance: Some(key.instance.to_string()),
            module: Some(key.module.to_string()),
            window: uptime.last(Duration::from_secs(days * 86_400), now_ms),
        };
        let Ok(f) = uptime.figures(&q) else { continue };
        let Some((_, f)) = f.targets.into_iter().next() else {
            let _ = writeln!(
                out,
                "<tr><td>{name}</td><td colspan=\"8\" class=\"muted\">no data</td></tr>"
            );
            continue;
        };
        any = true;
        let r = &f.rollup;
        let s = |v: Option<f64>| v.map(charts::seconds).unwrap_or_else(|| "–".into());
        let _ = writeln!(
            out,
            "<tr><td>{name}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            r.ratio().map(charts::percent).unwrap_or_else(|| "–".into()),
            charts::count(r.probes),
            s(r.latency_avg()),
            s(r.latency_quantile(0.5)),
            s(r.latency_quantile(0.95)),
            s(r.latency_quantile(0.99)),
            charts::count(f.incidents.count),
            f.incidents
                .mttr_seconds()
                .map(|m| charts::span_ms((m * 1000.0) as i64))
                .unwrap_or_else(|| "–".into()),
        );
    }
    out.push_str("</table></div>\n");
    if !any {
        return None;
    }
    // Bars.
    let days = uptime
        .daily(std::slice::from_ref(key), BAR_DAYS, now_ms)
        .ok()
        .and_then(|mut d| d.remove(key))
        .unwrap_or_else(|| vec![DayCell::default(); BAR_DAYS as usize]);
    out.push_str("<h2 id=\"bars\">Uptime per day (90 days, UTC)</h2>\n");
    out.push_str(&charts::uptime_bars(
        &days,
        day_range(now_ms, BAR_DAYS),
        10,
        30,
    ));
    // Chart.
    let to = crate::uptime::period::ceil_to(now_ms, 60_000);
    let w = Window {
        from_ms: to - chart_ms,
        to_ms: to,
    };
    let _ = write!(
        out,
        "<h2 id=\"chart\">Response time ({chart})</h2>\n<p class=\"note\">"
    );
    for (name, _, _) in CHART_WINDOWS {
        if name == chart {
            let _ = write!(out, "<strong>{name}</strong> ");
        } else {
            let _ = write!(
                out,
                "<a href=\"target?job={}&amp;instance={}&amp;module={}&amp;chart={name}\">{name}</a> ",
                query_value(&key.job),
                query_value(&key.instance),
                query_value(&key.module)
            );
        }
    }
    out.push_str("· mean (dark), p95 (light), failed probes in red; hover for values.</p>\n");
    if let Ok(series) = uptime.series(key, w, buckets, now_ms) {
        out.push_str(&charts::response_chart(&series, 1000, 220));
    }
    // Latest failure and incidents.
    let list = uptime
        .incidents(&crate::uptime::Query {
            job: Some(key.job.to_string()),
            instance: Some(key.instance.to_string()),
            module: Some(key.module.to_string()),
            window: Window {
                from_ms: day_range(now_ms, BAR_DAYS),
                to_ms: now_ms,
            },
        })
        .unwrap_or_default();
    out.push_str("<h2 id=\"target-incidents\">Incidents (90 days)</h2>\n");
    match list.first() {
        Some(i) if i.end_ms.is_none() => {
            let _ = writeln!(
                out,
                "<p id=\"failure-reason\">Failing since {}: <span class=\"bad\">{}</span></p>",
                charts::when_utc(i.start_ms),
                escape(&i.reason)
            );
        }
        Some(i) => {
            let _ = writeln!(
                out,
                "<p id=\"failure-reason\">Last failure {}: {}</p>",
                charts::when_utc(i.start_ms),
                escape(&i.reason)
            );
        }
        None => out.push_str("<p class=\"muted\">No incidents.</p>\n"),
    }
    if !list.is_empty() {
        let shown = &list[..list.len().min(MAX_TARGET_INCIDENTS)];
        incident_table(shown, now_ms, false, "target-incidents-table", &mut out);
    }
    Some(out)
}

/// `GET /target?job=&instance=&module=[&chart=24h|7d|30d]`.
pub(in crate::server) async fn target(
    State(state): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let (job, instance, module, chart) = (get("job"), get("instance"), get("module"), get("chart"));
    let Some(uptime) = state.uptime.clone() else {
        return html(
            StatusCode::NOT_FOUND,
            page(
                "blackwatch",
                "<p>Uptime history is disabled (<code>--uptime.enabled</code>).</p>",
            ),
        );
    };
    let key = GroupKey {
        job: Arc::from(job.as_str()),
        instance: Arc::from(instance.as_str()),
        module: Arc::from(module.as_str()),
    };
    let up = state
        .store
        .instant("probe_success")
        .into_iter()
        .find(|s| {
            let has = |n: &str, v: &str| s.labels.iter().any(|(k, x)| &**k == n && &**x == v);
            has("job", &job) && has("instance", &instance) && has("module", &module)
        })
        .map(|s| s.value == 1.0);
    let body = tokio::task::spawn_blocking(move || {
        detail_body(&uptime, &key, &chart, Now::read().unix_ms(), up)
    })
    .await
    .ok()
    .flatten();
    match body {
        Some(b) => html(StatusCode::OK, page(&format!("{instance} — blackwatch"), &b)),
        None => html(
            StatusCode::NOT_FOUND,
            page(
                "blackwatch",
                &format!(
                    "<p><a href=\"./\">← all targets</a></p><p>No history for job {:?}, instance {:?}, module {:?}.</p>",
                    escape(&job),
                    escape(&instance),
                    escape(&module)
                ),
            ),
        ),
    }
}
