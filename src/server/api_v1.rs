//! Prometheus' `GET /api/v1/rules` (with `?type=alert|record`) and `GET /api/v1/alerts`, in
//! Prometheus' JSON shapes; the JSON itself is built by `rules::api`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use crate::rules::api::{self, RuleType};
use crate::state::Shared;

#[derive(Deserialize)]
pub(crate) struct RulesQuery {
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

fn json(body: &serde_json::Value, status: StatusCode, headers: &HeaderMap) -> Response {
    super::text_response(status, "application/json", body.to_string(), headers)
}

pub(crate) async fn rules(
    State(state): State<Arc<Shared>>,
    Query(q): Query<RulesQuery>,
    headers: HeaderMap,
) -> Response {
    let filter = match q.kind.as_deref() {
        None | Some("") => RuleType::All,
        Some("alert") => RuleType::Alert,
        Some("record") => RuleType::Record,
        Some(other) => {
            let body = serde_json::json!({
                "status": "error",
                "errorType": "bad_data",
                "error": format!("invalid rule type {other:?}"),
            });
            return json(&body, StatusCode::BAD_REQUEST, &headers);
        }
    };
    let groups = state.rules().groups();
    json(
        &api::success(api::rules(&groups, filter)),
        StatusCode::OK,
        &headers,
    )
}

pub(crate) async fn alerts(State(state): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let groups = state.rules().groups();
    json(
        &api::success(api::alerts(&groups)),
        StatusCode::OK,
        &headers,
    )
}
