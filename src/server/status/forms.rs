//! The silence forms behind `POST /`: create and expire, through the same silence store
//! operations as the API v2 endpoints.

use super::*;

/// Why a form submit failed.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error("alerting is not configured")]
    NotConfigured,
    #[error("unknown form action {0:?}")]
    UnknownOp(String),
    #[error("bad matchers: {0}")]
    Matchers(String),
    #[error("bad duration: {0}")]
    Duration(String),
    #[error("{0}")]
    Silence(#[from] SilenceError),
    #[error("cross-site form submissions are refused")]
    CrossSite,
}

/// Parses and applies a create form. Returns the new silence's ID.
pub(super) fn create(
    state: &Shared,
    fields: &BTreeMap<String, String>,
) -> Result<String, FormError> {
    let alerting = state.alerting().ok_or(FormError::NotConfigured)?;
    let field = |k: &str| fields.get(k).map(|s| s.trim()).unwrap_or("");
    let matchers = Matchers::parse(field("matchers")).map_err(|e| FormError::Matchers(e.0))?;
    let duration = crate::base::units::parse_prom_duration(field("duration"))
        .map_err(|e| FormError::Duration(e.to_string()))?;
    let now = alerting.now().wall;
    // The same steps as POST /api/v2/silences with startsAt = now.
    let sil = Silence {
        id: String::new(),
        matchers,
        starts_at: now,
        ends_at: now + duration,
        updated_at: UNIX_EPOCH,
        created_by: field("created_by").to_string(),
        comment: field("comment").to_string(),
    };
    validate_postable(&sil, now)?;
    let id = alerting.silences().set(sil, now)?;
    alerting.silences_changed();
    Ok(id)
}

/// Applies an expire form (the same steps as DELETE /api/v2/silence/{id}).
pub(super) fn expire(state: &Shared, id: &str) -> Result<(), FormError> {
    let alerting = state.alerting().ok_or(FormError::NotConfigured)?;
    let now = alerting.now().wall;
    alerting.silences().expire(id, now)?;
    alerting.silences_changed();
    Ok(())
}
