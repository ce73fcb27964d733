//! `/api/v2/silences` and `/api/v2/silence/{id}`: list (with filters), create or update,
//! get and expire, with Alertmanager's JSON shapes and error texts.

use super::*;

#[derive(Serialize)]
pub(super) struct SilenceStatus {
    state: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GettableSilence {
    id: String,
    status: SilenceStatus,
    updated_at: String,
    comment: String,
    created_by: String,
    ends_at: String,
    matchers: Vec<MatcherObject>,
    starts_at: String,
}

pub(super) fn gettable_silence(s: &Silence, now: SystemTime) -> GettableSilence {
    GettableSilence {
        id: s.id.clone(),
        status: SilenceStatus {
            state: s.state(now).as_str(),
        },
        updated_at: api_time(s.updated_at),
        comment: s.comment.clone(),
        created_by: s.created_by.clone(),
        ends_at: api_time(s.ends_at),
        matchers: s.matchers.iter().map(MatcherObject::from).collect(),
        starts_at: api_time(s.starts_at),
    }
}

pub(super) async fn get_silences(
    State(state): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
) -> Response {
    let Some(alerting) = state.alerting() else {
        return not_configured();
    };
    let params = Params::parse(q);
    let filters = match params.filters() {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let states = match (
        params.opt_flag("active"),
        params.opt_flag("pending"),
        params.opt_flag("expired"),
    ) {
        (Ok(a), Ok(p), Ok(e)) => [a, p, e],
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return bad_request(e),
    };
    let now = alerting.now().wall;
    let silences = alerting.silences();
    let mut list: Vec<&Silence> = silences
        .list()
        .filter(|s| filters.iter().all(|f| s.matchers.iter().any(|m| m == f)))
        .filter(|s| {
            let idx = match s.state(now) {
                SilenceState::Active => 0,
                SilenceState::Pending => 1,
                SilenceState::Expired => 2,
            };
            states[idx].unwrap_or(true)
        })
        .collect();
    crate::base::sort::sort_by(&mut list, |a, b| {
        let rank = |s: &Silence| match s.state(now) {
            SilenceState::Active => 0,
            SilenceState::Pending => 1,
            SilenceState::Expired => 2,
        };
        rank(a).cmp(&rank(b)).then_with(|| match a.state(now) {
            SilenceState::Active => a.ends_at.cmp(&b.ends_at),
            SilenceState::Pending => a.starts_at.cmp(&b.starts_at),
            SilenceState::Expired => b.ends_at.cmp(&a.ends_at),
        })
    });
    let out: Vec<GettableSilence> = list.iter().map(|s| gettable_silence(s, now)).collect();
    json(StatusCode::OK, &out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PostableSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Option<Vec<MatcherObject>>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
}

pub(super) fn silence_from_post(p: PostableSilence) -> Result<Silence, String> {
    let matchers = p.matchers.ok_or("matchers in body is required")?;
    let matchers = matchers
        .iter()
        .map(MatcherObject::to_matcher)
        .collect::<Result<Vec<_>, _>>()?;
    let starts_at = time_field(p.starts_at.as_deref(), || "startsAt".into())?
        .ok_or("startsAt in body is required")?;
    let ends_at = time_field(p.ends_at.as_deref(), || "endsAt".into())?
        .ok_or("endsAt in body is required")?;
    Ok(Silence {
        id: p.id.unwrap_or_default(),
        matchers: Matchers(matchers),
        starts_at,
        ends_at,
        updated_at: UNIX_EPOCH,
        created_by: p.created_by,
        comment: p.comment,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SilenceId {
    #[serde(rename = "silenceID")]
    silence_id: String,
}

pub(super) async fn post_silence(State(state): State<Arc<Shared>>, body: Bytes) -> Response {
    let Some(alerting) = state.alerting() else {
        return not_configured();
    };
    let post: PostableSilence = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("parsing silence body: {e}")),
    };
    let sil = match silence_from_post(post) {
        Ok(s) => s,
        Err(e) => return bad_request(e),
    };
    let now = alerting.now().wall;
    if let Err(e) = validate_postable(&sil, now) {
        return bad_request(e.to_string());
    }
    let result = alerting.silences().set(sil, now);
    match result {
        Ok(id) => {
            alerting.silences_changed();
            json(StatusCode::OK, &SilenceId { silence_id: id })
        }
        Err(SilenceError::NotFound) => json(StatusCode::NOT_FOUND, &"silence not found"),
        Err(e) => bad_request(e.to_string()),
    }
}

pub(super) async fn get_silence(
    State(state): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Response {
    let Some(alerting) = state.alerting() else {
        return not_configured();
    };
    let now = alerting.now().wall;
    let silences = alerting.silences();
    match silences.get(&id) {
        Some(s) => json(StatusCode::OK, &gettable_silence(s, now)),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

pub(super) async fn delete_silence(
    State(state): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Response {
    let Some(alerting) = state.alerting() else {
        return not_configured();
    };
    let now = alerting.now().wall;
    let result = alerting.silences().expire(&id, now);
    match result {
        Ok(()) => {
            alerting.silences_changed();
            StatusCode::OK.into_response()
        }
        Err(SilenceError::NotFound) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => json(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
