//! The human-facing pages: `/` (links and recent probes), `/logs` (one probe's debug text)
//! and `/config` (the running config with secrets hidden).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::plain;
use crate::state::Shared;

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub(super) async fn index(State(state): State<Arc<Shared>>) -> Response {
    let mut rows = String::new();
    if let Ok(h) = state.history.lock() {
        for e in h.list() {
            let result = if e.success {
                "Success".to_string()
            } else {
                "<strong>Failure</strong>".to_string()
            };
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><a href=\"logs?id={}\">Logs</a></td></tr>\n",
                html_escape(&e.module),
                html_escape(&e.target),
                result,
                e.id
            ));
        }
    }
    let page = format!(
        r#"<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>blackwatch</title></head>
<body>
<h1>blackwatch</h1>
<p>A drop-in for Prometheus blackbox_exporter.</p>
<p><a href="probe?target=prometheus.io&module=http_2xx">Probe prometheus.io for http_2xx</a></p>
<p><a href="probe?target=prometheus.io&module=http_2xx&debug=true">Debug probe prometheus.io for http_2xx</a></p>
<p><a href="metrics">Metrics</a></p>
<p><a href="config">Configuration</a></p>
<h2>Recent Probes</h2>
<table border="1" cellpadding="3">
<tr><th>Module</th><th>Target</th><th>Result</th><th>Debug</th></tr>
{rows}</table>
</body>
</html>
"#
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

pub(super) async fn config(State(state): State<Arc<Shared>>) -> Response {
    plain(StatusCode::OK, state.config().to_yaml())
}

pub(super) async fn logs(
    State(state): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let id = q.get("id").filter(|s| !s.is_empty());
    let target = q.get("target").filter(|s| !s.is_empty());
    let module = q.get("module").filter(|s| !s.is_empty());
    if id.is_some() && target.is_some() {
        return plain(
            StatusCode::BAD_REQUEST,
            "Probe id and target can't be defined at the same time\n",
        );
    }
    if module.is_some() && target.is_none() {
        return plain(
            StatusCode::BAD_REQUEST,
            "Probe module filter only works in conjunction with target parameter\n",
        );
    }
    let Ok(history) = state.history.lock() else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "history unavailable\n");
    };
    if let Some(target) = target {
        return match history.get_by_target(target, module.map(String::as_str)) {
            Some(e) => plain(StatusCode::OK, e.debug_output.clone()),
            None => plain(StatusCode::NOT_FOUND, "Probe target not found\n"),
        };
    }
    match id.and_then(|i| i.parse::<u64>().ok()) {
        Some(id) => match history.get_by_id(id) {
            Some(e) => plain(StatusCode::OK, e.debug_output.clone()),
            None => plain(StatusCode::NOT_FOUND, "Probe id not found\n"),
        },
        None => plain(
            StatusCode::BAD_REQUEST,
            "Probe id or target must be defined as http query parameters\n",
        ),
    }
}
