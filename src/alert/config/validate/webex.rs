//! `webex_configs` entries: upstream's `WebexConfig.UnmarshalYAML` rules and texts (the
//! same in 0.25 and 0.28), then `global.webex_api_url` inheritance.

use super::*;

/// Alertmanager's `DefaultWebexConfig` message.
const WEBEX_MESSAGE: &str = r#"{{ template "webex.default.message" . }}"#;

/// `global.webex_api_url` when the file has none.
const DEFAULT_API_URL: &str = "https://webexapis.com/v1/messages";

/// One `webex_configs` entry, or `None` after reporting its errors. The token must be the
/// entry's own `http_config.authorization` (or `bearer_token(_file)`, which
/// prometheus/common turns into one): upstream checks it while decoding the entry, before
/// `global.http_config` is merged, so a global one does not count.
pub(super) fn webex_config(
    cx: &mut Cx,
    p: &str,
    w: &Spanned<RawWebexConfig>,
    g: &RawGlobal,
) -> Option<WebexConfig> {
    let v = &w.value;
    let before = cx.errors.len();
    if let Some(h) = &v.http_config {
        http_config(cx, &format!("{p}.http_config"), h);
    }
    if let Some(u) = &v.api_url {
        if let Err(m) = check_url(&u.value) {
            cx.err(&u.referenced, &format!("{p}.api_url"), m);
        }
    }
    if v.room_id.is_empty() {
        cx.err(&w.referenced, p, "missing room_id on webex_config");
    } else {
        let authorized = v.http_config.as_ref().is_some_and(|h| {
            let h = &h.value;
            h.authorization.is_some() || h.bearer_token.is_some() || h.bearer_token_file.is_some()
        });
        if !authorized {
            cx.err(
                &w.referenced,
                p,
                "missing webex_configs.http_config.authorization",
            );
        }
    }
    if cx.errors.len() > before {
        return None;
    }
    let api_url = match (&v.api_url, &g.webex_api_url) {
        (Some(u), _) | (None, Some(u)) => u.value.clone(),
        (None, None) => DEFAULT_API_URL.to_string(),
    };
    Some(WebexConfig {
        send_resolved: v.send_resolved.unwrap_or(true),
        // Checked above: the entry has its own http_config.
        http_config: v
            .http_config
            .as_ref()
            .map(|h| h.value.clone())
            .unwrap_or_default(),
        api_url,
        message: v
            .message
            .clone()
            .unwrap_or_else(|| WEBEX_MESSAGE.to_string()),
        room_id: v.room_id.clone(),
    })
}
