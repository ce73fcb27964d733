//! The JSON of Prometheus' `GET /api/v1/rules` and `GET /api/v1/alerts`, built from the
//! running groups. No HTTP here: `server/api_v1.rs` serves it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::alerting::{Alert, AlertState};
use super::file::RuleKind;
use super::group::Group;

/// Which rules `/api/v1/rules?type=` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleType {
    All,
    Alert,
    Record,
}

fn time(ms: Option<i64>) -> String {
    match ms {
        Some(ms) if ms >= 0 => crate::clock::rfc3339(UNIX_EPOCH + Duration::from_millis(ms as u64)),
        _ => "0001-01-01T00:00:00Z".to_string(),
    }
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`, as Prometheus prints alert values.
pub fn go_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = format!("{v:e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}e{sign}{:02}", exp.abs())
}

fn alert_json(a: &Alert) -> Value {
    let mut m = Map::new();
    m.insert("labels".into(), json!(a.labels));
    m.insert("annotations".into(), json!(a.annotations));
    m.insert("state".into(), json!(a.state.as_str()));
    m.insert("activeAt".into(), json!(time(Some(a.active_at))));
    if let Some(k) = a.keep_firing_since {
        m.insert("keepFiringSince".into(), json!(time(Some(k))));
    }
    m.insert("value".into(), json!(go_float_e(a.value)));
    Value::Object(m)
}

fn active(alerts: &[&Alert]) -> Vec<Value> {
    alerts
        .iter()
        .filter(|a| a.state != AlertState::Inactive)
        .map(|a| alert_json(a))
        .collect()
}

/// `data` of `/api/v1/rules`.
pub fn rules(groups: &[Arc<Mutex<Group>>], filter: RuleType) -> Value {
    let mut out = Vec::new();
    for g in groups {
        let g = crate::base::sync::lock(g);
        let mut rules = Vec::new();
        for r in &g.rules {
            let mut m = Map::new();
            match &r.def.kind {
                RuleKind::Alert {
                    name,
                    hold,
                    keep_firing_for,
                    annotations,
                } => {
                    if filter == RuleType::Record {
                        continue;
                    }
                    let sorted = r.alerts.sorted();
                    let state =
                        sorted
                            .iter()
                            .map(|a| a.state)
                            .fold(AlertState::Inactive, |acc, s| match (acc, s) {
                                (AlertState::Firing, _) | (_, AlertState::Firing) => {
                                    AlertState::Firing
                                }
                                (AlertState::Pending, _) | (_, AlertState::Pending) => {
                                    AlertState::Pending
                                }
                                _ => AlertState::Inactive,
                            });
                    m.insert("state".into(), json!(state.as_str()));
                    m.insert("name".into(), json!(name));
                    m.insert("query".into(), json!(r.def.expr.text()));
                    m.insert("duration".into(), json!(hold.as_secs_f64()));
                    m.insert("keepFiringFor".into(), json!(keep_firing_for.as_secs_f64()));
                    m.insert("labels".into(), json!(r.def.labels));
                    m.insert("annotations".into(), json!(annotations));
                    m.insert("alerts".into(), Value::Array(active(&sorted)));
                }
                RuleKind::Record { name } => {
                    if filter == RuleType::Alert {
                        continue;
                    }
                    m.insert("name".into(), json!(name));
                    m.insert("query".into(), json!(r.def.expr.text()));
                    m.insert("labels".into(), json!(r.def.labels));
                }
            }
            m.insert("health".into(), json!(r.health.as_str()));
            if let Some(e) = &r.last_error {
                m.insert("lastError".into(), json!(e));
            }
            m.insert("evaluationTime".into(), json!(r.eval_seconds));
            m.insert("lastEvaluation".into(), json!(time(r.last_eval_ms)));
            m.insert(
                "type".into(),
                json!(if matches!(r.def.kind, RuleKind::Alert { .. }) {
                    "alerting"
                } else {
                    "recording"
                }),
            );
            rules.push(Value::Object(m));
        }
        out.push(json!({
            "name": g.def.name,
            "file": g.def.file.display().to_string(),
            "rules": rules,
            "interval": g.interval.as_secs_f64(),
            "limit": g.def.limit,
            "evaluationTime": g.eval_seconds,
            "lastEvaluation": time(g.last_eval_ms),
        }));
    }
    json!({ "groups": out })
}

/// `data` of `/api/v1/alerts`: every pending or firing alert.
pub fn alerts(groups: &[Arc<Mutex<Group>>]) -> Value {
    let mut out = Vec::new();
    for g in groups {
        let g = crate::base::sync::lock(g);
        for r in &g.rules {
            out.extend(active(&r.alerts.sorted()));
        }
    }
    json!({ "alerts": out })
}

/// Wraps `data` as Prometheus' API does.
pub fn success(data: Value) -> Value {
    json!({ "status": "success", "data": data })
}
