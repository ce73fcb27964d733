//! The human-facing pages: `/logs` (one probe's debug text) and `/config` (the running
//! config with secrets hidden). The status page at `/` is `status.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::plain;
use crate::state::Shared;

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
    let history = crate::base::sync::lock(&state.history);
    if let Some(target) = target {
        return match history.get_by_target(target, module.map(String::as_str)) {
            Some(e) => plain(StatusCode::OK, e.debug_output()),
            None => plain(StatusCode::NOT_FOUND, "Probe target not found\n"),
        };
    }
    match id.and_then(|i| i.parse::<u64>().ok()) {
        Some(id) => match history.get_by_id(id) {
            Some(e) => plain(StatusCode::OK, e.debug_output()),
            None => plain(StatusCode::NOT_FOUND, "Probe id not found\n"),
        },
        None => plain(
            StatusCode::BAD_REQUEST,
            "Probe id or target must be defined as http query parameters\n",
        ),
    }
}
