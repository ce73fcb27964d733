//! Alertmanager's API v2 (`api/v2/openapi.yaml`) over the alert pipeline: alerts, alert
//! groups, silences, status and receivers, with upstream's JSON shapes and query
//! parameters, so Prometheus and amtool work unchanged. Malformed requests get 400 with the
//! reason as a JSON string, as go-swagger answers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};

use crate::alert::pipeline::Alerting;
use crate::alert::silence::{
    validate_postable, MatcherObject, Silence, SilenceError, SilenceState,
};
use crate::alert::store::{Alert, StoredAlert};
use crate::alert::PostableAlert;
use crate::clock::rfc3339;
use crate::labels::{parse_matcher, LabelSet, Matcher, Matchers};
use crate::state::Shared;

mod silences;
use silences::*;

/// The routes under `/api/v2`.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v2/alerts", get(get_alerts).post(post_alerts))
        .route("/api/v2/alerts/groups", get(get_groups))
        .route("/api/v2/silences", get(get_silences).post(post_silence))
        .route(
            "/api/v2/silence/{id}",
            get(get_silence).delete(delete_silence),
        )
        .route("/api/v2/status", get(get_status))
        .route("/api/v2/receivers", get(get_receivers))
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut r = (status, bytes).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn bad_request(msg: impl Into<String>) -> Response {
    json(StatusCode::BAD_REQUEST, &msg.into())
}

fn not_configured() -> Response {
    json(
        StatusCode::SERVICE_UNAVAILABLE,
        &"alerting is not configured (no alerting: section in the config)",
    )
}

/// Parses RFC 3339 (`2026-11-21T10:00:00.123+01:00`). Go's zero time and anything before
/// the Unix epoch count as "not set".
pub fn parse_rfc3339(s: &str) -> Option<Option<SystemTime>> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos: u64 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        // Digits are ASCII, so the count is also the byte length; no allocation per time.
        let len = frac.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        for (i, c) in frac
            .bytes()
            .take(9)
            .take_while(u8::is_ascii_digit)
            .enumerate()
        {
            nanos += u64::from(c - b'0') * 10u64.pow(8 - i as u32);
        }
        rest = &frac[len..];
    }
    let offset: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[4..6].parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    // Days from civil (Howard Hinnant).
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    if secs < 0 || (secs == 0 && nanos == 0) {
        return Some(None);
    }
    Some(Some(
        UNIX_EPOCH + Duration::from_secs(secs as u64) + Duration::from_nanos(nanos),
    ))
}

/// `strfmt.DateTime` output: RFC 3339 with milliseconds, UTC; the zero time as Go prints it.
fn api_time(t: SystemTime) -> String {
    if t == UNIX_EPOCH {
        return "0001-01-01T00:00:00.000Z".to_string();
    }
    rfc3339(t)
}

/// `field` names the field in the error; it is only formatted when the time is bad.
fn time_field(
    v: Option<&str>,
    field: impl FnOnce() -> String,
) -> Result<Option<SystemTime>, String> {
    match v {
        None | Some("") => Ok(None),
        Some(s) => parse_rfc3339(s)
            .ok_or_else(|| format!("{} in body must be of type date-time: {s:?}", field())),
    }
}

/// Query parameters, with repeated `filter`.
#[derive(Default)]
struct Params {
    values: BTreeMap<String, Vec<String>>,
}

impl Params {
    fn parse(q: Option<String>) -> Self {
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Some(q) = q {
            for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
                values
                    .entry(k.into_owned())
                    .or_default()
                    .push(v.into_owned());
            }
        }
        Self { values }
    }

    fn flag(&self, name: &str) -> Result<bool, String> {
        match self.values.get(name).and_then(|v| v.first()) {
            None => Ok(true),
            Some(v) => match v.as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                other => Err(format!(
                    "{name} in query must be of type boolean: {other:?}"
                )),
            },
        }
    }

    fn opt_flag(&self, name: &str) -> Result<Option<bool>, String> {
        if self.values.contains_key(name) {
            self.flag(name).map(Some)
        } else {
            Ok(None)
        }
    }

    fn filters(&self) -> Result<Vec<Matcher>, String> {
        self.values
            .get("filter")
            .into_iter()
            .flatten()
            .map(|f| parse_matcher(f).map_err(|e| format!("bad matcher format: {e}")))
            .collect()
    }

    fn receiver(&self) -> Result<Option<regex::Regex>, String> {
        match self.values.get("receiver").and_then(|v| v.first()) {
            None => Ok(None),
            Some(r) => regex::Regex::new(&format!("^(?:{})$", crate::base::goregex::to_rust(r)))
                .map(Some)
                .map_err(|e| format!("failed to parse receiver param: {e}")),
        }
    }
}

#[derive(Serialize)]
struct ReceiverName {
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertStatus {
    state: &'static str,
    silenced_by: Vec<String>,
    inhibited_by: Vec<String>,
    muted_by: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GettableAlert {
    annotations: LabelSet,
    ends_at: String,
    fingerprint: String,
    receivers: Vec<ReceiverName>,
    starts_at: String,
    status: AlertStatus,
    updated_at: String,
    #[serde(rename = "generatorURL", skip_serializing_if = "String::is_empty")]
    generator_url: String,
    labels: LabelSet,
}

/// Which alerts a list or group query wants.
struct AlertFilter {
    matchers: Vec<Matcher>,
    active: bool,
    silenced: bool,
    inhibited: bool,
    receiver: Option<regex::Regex>,
}

impl AlertFilter {
    fn from_params(p: &Params) -> Result<Self, String> {
        Ok(Self {
            matchers: p.filters()?,
            active: p.flag("active")?,
            silenced: p.flag("silenced")?,
            inhibited: p.flag("inhibited")?,
            receiver: p.receiver()?,
        })
    }
}

/// The alert as the API shows it, or `None` if the filter drops it.
fn gettable(
    a: &Alert,
    receivers: Vec<String>,
    silenced_by: Vec<String>,
    inhibited_by: Option<u64>,
    filter: &AlertFilter,
    now: SystemTime,
) -> Option<GettableAlert> {
    if a.resolved_at(now) || !filter.matchers.iter().all(|m| m.matches_labels(&a.labels)) {
        return None;
    }
    if let Some(re) = &filter.receiver {
        if !receivers.iter().any(|r| re.is_match(r)) {
            return None;
        }
    }
    let inhibited_by: Vec<String> = inhibited_by
        .map(|f| format!("{f:016x}"))
        .into_iter()
        .collect();
    let suppressed = !silenced_by.is_empty() || !inhibited_by.is_empty();
    if (!filter.active && !suppressed)
        || (!filter.silenced && !silenced_by.is_empty())
        || (!filter.inhibited && !inhibited_by.is_empty())
    {
        return None;
    }
    Some(GettableAlert {
        annotations: a.annotations.clone(),
        ends_at: api_time(a.ends_at),
        fingerprint: format!("{:016x}", a.fingerprint()),
        receivers: receivers
            .into_iter()
            .map(|name| ReceiverName { name })
            .collect(),
        starts_at: api_time(a.starts_at),
        status: AlertStatus {
            state: if suppressed { "suppressed" } else { "active" },
            silenced_by,
            inhibited_by,
            muted_by: vec![],
        },
        updated_at: api_time(a.updated_at),
        generator_url: a.generator_url.clone(),
        labels: a.labels.clone(),
    })
}

async fn get_alerts(State(state): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let Some(alerting) = state.alerting() else {
        return not_configured();
    };
    let filter = match AlertFilter::from_params(&Params::parse(q)) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let now = alerting.now().wall;
    // Built and encoded off the runtime's workers: 100k alerts take a while.
    let body = tokio::task::spawn_blocking(move || list_alerts_json(&alerting, &filter, now))
        .await
        .unwrap_or_default();
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The JSON array of the alerts `filter` selects, by fingerprint. Each alert is encoded as
/// soon as its view is built, so only the output is held, not a copy of every alert too
/// (100k alerts: the peak during the request was about four times the store).
fn list_alerts_json(alerting: &Alerting, filter: &AlertFilter, now: SystemTime) -> Vec<u8> {
    let core = alerting.core();
    let silences = alerting.silences();
    let route = core.dispatcher.route().clone();
    let mut alerts: Vec<&Arc<StoredAlert>> = core.alerts.iter().collect();
    crate::base::sort::sort_by_key(&mut alerts, |a| a.fingerprint);
    // Unfiltered lists are sized up front (an alert is a few hundred bytes of JSON), so the
    // buffer is not copied while it grows.
    let estimate = if filter.matchers.is_empty() {
        alerts.len() * 512
    } else {
        0
    };
    let mut out = Vec::with_capacity(estimate + 2);
    out.push(b'[');
    for a in alerts {
        if let Some(v) = view(a, &route, &silences, &core.inhibitor, filter, now) {
            if out.len() > 1 {
                out.push(b',');
            }
            // Writing into a Vec fails only if serialisation itself does, which these
            // string-only structures cannot.
            let _ = serde_json::to_writer(&mut out, &v);
        }
    }
    out.push(b']');
    out
}

/// The API view of a stored alert, or `None` if the filter drops it. Resolved alerts and
/// label mismatches are dropped before anything is copied.
fn view(
    a: &StoredAlert,
    route: &crate::alert::route::Route,
    silences: &crate::alert::silence::Silences,
    inhibitor: &crate::alert::inhibit::Inhibitor,
    filter: &AlertFilter,
    now: SystemTime,
) -> Option<GettableAlert> {
    if a.resolved_at(now)
        || !filter
            .matchers
            .iter()
            .all(|m| m.matches(a.label(&m.name).unwrap_or("")))
    {
        return None;
    }
    let labels = a.labels();
    let receivers = route
        .match_routes(&labels)
        .into_iter()
        .map(|r| r.opts.receiver.clone())
        .collect();
    gettable(
        &a.to_alert(),
        receivers,
        silences.mutes(&labels, now),
        inhibitor.mutes(&labels, now),
        filter,
        now,
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPostableAlert {
    labels: Option<LabelSet>,
    #[serde(default)]
    annotations: Option<LabelSet>,
    #[serde(default)]
    starts_at: Option<String>,
    #[serde(default)]
    ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: Option<String>,
}

async fn post_alerts(State(state): State<Arc<Shared>>, body: Bytes) -> Response {
    let Some(alerting) = state.alerting() else {
        return not_configured();
    };
    let raw: Vec<RawPostableAlert> = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("parsing alerts body: {e}")),
    };
    let mut posted = Vec::with_capacity(raw.len());
    let mut errors = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let Some(labels) = r.labels else {
            errors.push(format!("{i}.labels in body is required"));
            continue;
        };
        let times = time_field(r.starts_at.as_deref(), || format!("{i}.startsAt")).and_then(|s| {
            time_field(r.ends_at.as_deref(), || format!("{i}.endsAt")).map(|e| (s, e))
        });
        let (starts_at, ends_at) = match times {
            Ok(t) => t,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        posted.push(PostableAlert {
            labels,
            annotations: r.annotations.unwrap_or_default(),
            starts_at,
            ends_at,
            generator_url: r.generator_url.unwrap_or_default(),
        });
    }
    let now = alerting.now().wall;
    for e in alerting.ingest(posted, now) {
        errors.push(e.to_string());
    }
    if errors.is_empty() {
        json(StatusCode::OK, &())
    } else {
        bad_request(errors.join("; "))
    }
}

#[derive(Serialize)]
struct AlertGroup {
    labels: LabelSet,
    receiver: ReceiverName,
    alerts: Vec<GettableAlert>,
}

async fn get_groups(State(state): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let Some(alerting) = state.alerting() else {
        return not_configured();
    };
    let filter = match AlertFilter::from_params(&Params::parse(q)) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let now = alerting.now().wall;
    let core = alerting.core();
    let silences = alerting.silences();
    let route = core.dispatcher.route().clone();
    // The receiver filter applies to groups, not to their alerts' other routes.
    let alert_filter = AlertFilter {
        matchers: filter.matchers.clone(),
        receiver: None,
        ..filter
    };
    let mut groups = Vec::new();
    for g in core.dispatcher.groups() {
        if let Some(re) = &filter.receiver {
            if !re.is_match(&g.opts.receiver) {
                continue;
            }
        }
        let mut alerts: Vec<&Arc<StoredAlert>> = g.alerts().collect();
        crate::base::sort::sort_by_key(&mut alerts, |a| a.fingerprint);
        let alerts: Vec<GettableAlert> = alerts
            .into_iter()
            .filter_map(|a| view(a, &route, &silences, &core.inhibitor, &alert_filter, now))
            .collect();
        if alerts.is_empty() {
            continue;
        }
        groups.push(AlertGroup {
            labels: g.labels.clone(),
            receiver: ReceiverName {
                name: g.opts.receiver.clone(),
            },
            alerts,
        });
    }
    crate::base::sort::sort_by(&mut groups, |a, b| {
        crate::labels::label_set_string(&a.labels)
            .cmp(&crate::labels::label_set_string(&b.labels))
            .then_with(|| a.receiver.name.cmp(&b.receiver.name))
    });
    json(StatusCode::OK, &groups)
}

/// The Alertmanager version reported to clients (amtool warns on a major.minor mismatch).
pub const COMPAT_VERSION: &str = "0.25.0";

async fn get_status(State(state): State<Arc<Shared>>) -> Response {
    let Some(alerting) = state.alerting() else {
        return not_configured();
    };
    let rt = alerting.runtime();
    let cluster = match state.cluster() {
        Some(c) => serde_json::json!({
            "name": c.name(),
            "status": if c.is_settled() { "ready" } else { "settling" },
            "peers": c.members().iter().map(|m| serde_json::json!({
                "name": m.name,
                "address": m.address.to_string(),
            })).collect::<Vec<_>>(),
        }),
        None => serde_json::json!({"status": "disabled", "peers": []}),
    };
    let body = serde_json::json!({
        "cluster": cluster,
        "versionInfo": {
            "version": COMPAT_VERSION,
            "revision": option_env!("BLACKWATCH_REVISION").unwrap_or("unknown"),
            "branch": "blackwatch",
            "buildUser": "blackwatch",
            "buildDate": "",
            "goVersion": format!("blackwatch {}", env!("CARGO_PKG_VERSION")),
        },
        "config": {"original": rt.config.to_yaml()},
        "uptime": api_time(alerting.started),
    });
    json(StatusCode::OK, &body)
}

async fn get_receivers(State(state): State<Arc<Shared>>) -> Response {
    let Some(alerting) = state.alerting() else {
        return not_configured();
    };
    let rt = alerting.runtime();
    let out: Vec<ReceiverName> = rt
        .config
        .receivers
        .iter()
        .map(|r| ReceiverName {
            name: r.name.clone(),
        })
        .collect();
    json(StatusCode::OK, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339() {
        let t = |s| parse_rfc3339(s).unwrap().unwrap();
        assert_eq!(
            t("2025-11-21T10:00:00.123Z"),
            UNIX_EPOCH + Duration::from_millis(1_763_719_200_123)
        );
        assert_eq!(
            t("2025-11-21T11:00:00+01:00"),
            UNIX_EPOCH + Duration::from_secs(1_763_719_200)
        );
        assert_eq!(
            t("2025-11-21T10:00:00.123456789Z"),
            UNIX_EPOCH + Duration::from_nanos(1_763_719_200_123_456_789)
        );
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00.000Z"), Some(None));
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z"), Some(None));
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2025-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2025-11-21T10:00:00"), None);
    }

    #[test]
    fn repeated_filters() {
        let p = Params::parse(Some(
            "filter=alertname%3D%22X%22&filter=job%3D~%22a.*%22&active=false".into(),
        ));
        assert_eq!(p.filters().unwrap().len(), 2);
        assert!(!p.flag("active").unwrap());
        assert!(p.flag("silenced").unwrap());
        assert!(Params::parse(Some("active=maybe".into()))
            .flag("active")
            .is_err());
        assert!(Params::parse(Some("filter=%7B".into())).filters().is_err());
    }
}
