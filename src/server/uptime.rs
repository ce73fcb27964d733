//! `GET /api/v1/uptime` (figures per target and per job over a window) and
//! `GET /api/v1/uptime/incidents`, in Prometheus' API envelope (`status`, `data`, or
//! `errorType`/`error` with 400 on bad parameters). Parameters: `job`, `instance`, `module`
//! (exact matches), and either `window` (a Prometheus duration ending now, default 24h) or
//! `from` (and optionally `to`, default now), each RFC 3339 or unix seconds. The figures
//! themselves come from `uptime::Uptime`; this file only parses and shapes JSON.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::clock::{from_unix_ms, rfc3339, Now};
use crate::state::Shared;
use crate::uptime::query::Figure;
use crate::uptime::{Uptime, Window};

#[derive(Deserialize)]
pub(crate) struct Params {
    job: Option<String>,
    instance: Option<String>,
    module: Option<String>,
    window: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

fn json_response(body: &Value, status: StatusCode, headers: &HeaderMap) -> Response {
    super::text_response(status, "application/json", body.to_string(), headers)
}

fn bad(msg: String, headers: &HeaderMap) -> Response {
    let body = json!({"status": "error", "errorType": "bad_data", "error": msg});
    json_response(&body, StatusCode::BAD_REQUEST, headers)
}

fn unavailable(msg: &str, headers: &HeaderMap) -> Response {
    let body = json!({"status": "error", "errorType": "unavailable", "error": msg});
    json_response(&body, StatusCode::SERVICE_UNAVAILABLE, headers)
}

/// RFC 3339 or unix seconds (with a fraction), as Prometheus' API accepts times.
fn parse_time(name: &str, s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs.abs() < 1e13 {
            return Ok((secs * 1000.0).round() as i64);
        }
    }
    match s.parse::<jiff::Timestamp>() {
        Ok(t) => Ok(t.as_millisecond()),
        Err(e) => Err(format!(
            "invalid parameter {name:?}: cannot parse {s:?} as RFC 3339 or unix seconds: {e}"
        )),
    }
}

/// The window the parameters ask for, resolved to what the rollups answer.
fn window(p: &Params, uptime: &Uptime, now_ms: i64) -> Result<Window, String> {
    match (&p.window, &p.from, &p.to) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            Err("give either window or from/to, not both".into())
        }
        (_, None, Some(_)) => Err("to needs from".into()),
        (_, Some(from), to) => {
            let from = parse_time("from", from)?;
            let to = match to {
                Some(t) => parse_time("to", t)?,
                None => now_ms,
            };
            if from >= to {
                return Err(format!("from ({from} ms) must be before to ({to} ms)"));
            }
            Ok(uptime.window(from, to, now_ms))
        }
        (w, None, None) => {
            let w = match w.as_deref() {
                None | Some("") => Duration::from_secs(86_400),
                Some(s) => crate::base::units::parse_prom_duration(s)
                    .map_err(|e| format!("invalid parameter \"window\": {e}"))?,
            };
            if w.is_zero() {
                return Err("invalid parameter \"window\": must be positive".into());
            }
            Ok(uptime.last(w, now_ms))
        }
    }
}

fn query_of(p: &Params, window: Window) -> crate::uptime::Query {
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    crate::uptime::Query {
        job: nonempty(&p.job),
        instance: nonempty(&p.instance),
        module: nonempty(&p.module),
        window,
    }
}

fn window_json(w: &Window) -> Value {
    json!({
        "from": rfc3339(from_unix_ms(w.from_ms)),
        "to": rfc3339(from_unix_ms(w.to_ms)),
    })
}

fn figure_json(f: &Figure, into: &mut serde_json::Map<String, Value>) {
    let r = &f.rollup;
    into.insert("probes".into(), json!(r.probes));
    into.insert("successes".into(), json!(r.successes));
    into.insert("uptime_ratio".into(), json!(r.ratio()));
    into.insert(
        "latency_seconds".into(),
        json!({
            "avg": r.latency_avg(),
            "p50": r.latency_quantile(0.5),
            "p95": r.latency_quantile(0.95),
            "p99": r.latency_quantile(0.99),
        }),
    );
    into.insert("incidents".into(), json!(f.incidents.count));
    into.insert("mttr_seconds".into(), json!(f.incidents.mttr_seconds()));
}

/// The part both endpoints share: the store (503 when history is off), the window (400 on
/// bad parameters) and `read` run on a blocking thread with the request's query. Returns
/// the result, the window and the `now` it was taken at.
async fn read_store<T: Send + 'static>(
    state: &Shared,
    p: &Params,
    headers: &HeaderMap,
    read: fn(&Uptime, &crate::uptime::Query) -> Result<T, crate::uptime::db::DbError>,
) -> Result<(T, Window, i64), Response> {
    let Some(uptime) = state.uptime.clone() else {
        return Err(unavailable("uptime history is disabled", headers));
    };
    let now_ms = Now::read().unix_ms();
    let w = window(p, &uptime, now_ms).map_err(|e| bad(e, headers))?;
    let q = query_of(p, w);
    match tokio::task::spawn_blocking(move || read(&uptime, &q)).await {
        Ok(Ok(v)) => Ok((v, w, now_ms)),
        Ok(Err(e)) => Err(unavailable(&e.to_string(), headers)),
        Err(e) => Err(unavailable(&e.to_string(), headers)),
    }
}

pub(crate) async fn figures(
    State(state): State<Arc<Shared>>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let figures = match read_store(&state, &p, &headers, Uptime::figures).await {
        Ok((f, _, _)) => f,
        Err(r) => return r,
    };
    let targets: Vec<Value> = figures
        .targets
        .iter()
        .map(|(k, f)| {
            let mut m = serde_json::Map::new();
            m.insert("job".into(), json!(&*k.job));
            m.insert("instance".into(), json!(&*k.instance));
            m.insert("module".into(), json!(&*k.module));
            figure_json(f, &mut m);
            Value::Object(m)
        })
        .collect();
    let jobs: Vec<Value> = figures
        .jobs
        .iter()
        .map(|(job, f)| {
            let mut m = serde_json::Map::new();
            m.insert("job".into(), json!(job));
            m.insert(
                "targets".into(),
                json!(figures
                    .targets
                    .iter()
                    .filter(|(k, _)| &*k.job == job)
                    .count()),
            );
            figure_json(f, &mut m);
            Value::Object(m)
        })
        .collect();
    let body = json!({
        "status": "success",
        "data": {"window": window_json(&figures.window), "targets": targets, "jobs": jobs},
    });
    json_response(&body, StatusCode::OK, &headers)
}

pub(crate) async fn incidents(
    State(state): State<Arc<Shared>>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let (list, w, now_ms) = match read_store(&state, &p, &headers, Uptime::incidents).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let incidents: Vec<Value> = list
        .iter()
        .map(|i| {
            let end = i.end_ms.unwrap_or(now_ms);
            json!({
                "job": &*i.key.job,
                "instance": &*i.key.instance,
                "module": &*i.key.module,
                "start": rfc3339(from_unix_ms(i.start_ms)),
                "end": i.end_ms.map(|e| rfc3339(from_unix_ms(e))),
                "ongoing": i.end_ms.is_none(),
                "duration_seconds": (end - i.start_ms).max(0) as f64 / 1000.0,
                "reason": i.reason,
            })
        })
        .collect();
    let body = json!({
        "status": "success",
        "data": {"window": window_json(&w), "incidents": incidents},
    });
    json_response(&body, StatusCode::OK, &headers)
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_are_rfc3339_or_unix_seconds() {
        assert_eq!(parse_time("from", "1700000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("from", "1700000000.5"), Ok(1_700_000_000_500));
        assert_eq!(
            parse_time("to", "2023-11-14T22:13:20Z"),
            Ok(1_700_000_000_000)
        );
        assert_eq!(
            parse_time("to", "2023-11-14T23:13:20+01:00"),
            Ok(1_700_000_000_000)
        );
        let e = parse_time("from", "yesterday").unwrap_err();
        assert!(e.starts_with("invalid parameter \"from\""), "{e}");
    }
}
