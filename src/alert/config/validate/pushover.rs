//! `pushover_configs`: upstream's `PushoverConfig.UnmarshalYAML` checks (a user key and a
//! token, each inline or from a file, not both) and `DefaultPushoverConfig`.

use super::*;

/// Alertmanager's `DefaultPushoverConfig` (0.25 to 0.28).
const TITLE: &str = r#"{{ template "pushover.default.title" . }}"#;
const MESSAGE: &str = r#"{{ template "pushover.default.message" . }}"#;
const URL: &str = r#"{{ template "pushover.default.url" . }}"#;
const PRIORITY: &str = r#"{{ if eq .Status "firing" }}2{{ else }}0{{ end }}"#;
const RETRY: Duration = Duration::from_secs(60);
const EXPIRE: Duration = Duration::from_secs(3600);

/// One `pushover_configs` entry. Upstream stops at its first error; so does this. The
/// "missing" texts carry 0.25's wording and 0.28's (which added the `*_file` variants).
pub(super) fn pushover_config(
    cx: &mut Cx,
    p: &str,
    c: &Spanned<RawPushoverConfig>,
    global_http: Option<&RawHttpConfig>,
) -> Option<PushoverConfig> {
    let v = &c.value;
    let before = cx.errors.len();
    cx.unsupported(&v.monospace, &format!("{p}.monospace"), "`monospace`");
    if let Some(h) = &v.http_config {
        http_config(cx, &format!("{p}.http_config"), h);
    }
    let pair = |inline: &Secret, file: &str, missing: &str, both: &str| match (
        inline.is_empty(),
        file.is_empty(),
    ) {
        (true, true) => Err(missing.to_string()),
        (false, false) => Err(both.to_string()),
        _ => Ok(SecretSource::from_parts(inline, cx.file_path(file))),
    };
    let user_key = pair(
        &v.user_key,
        &v.user_key_file,
        "missing user key in Pushover config: one of user_key or user_key_file must be configured",
        "at most one of user_key & user_key_file must be configured",
    );
    let token = pair(
        &v.token,
        &v.token_file,
        "missing token in Pushover config: one of token or token_file must be configured",
        "at most one of token & token_file must be configured",
    );
    let (user_key, token) = match (user_key, token) {
        (Ok(Some(u)), Ok(Some(t))) => (u, t),
        (Err(m), _) | (_, Err(m)) => {
            cx.err(&c.referenced, p, m);
            return None;
        }
        _ => return None,
    };
    if cx.errors.len() > before {
        return None;
    }
    let text = |t: &Option<String>, default: &str| t.clone().unwrap_or_else(|| default.into());
    Some(PushoverConfig {
        send_resolved: v.send_resolved.unwrap_or(true),
        http_config: v
            .http_config
            .as_ref()
            .map(|h| h.value.clone())
            .or_else(|| global_http.cloned())
            .unwrap_or_default(),
        user_key,
        token,
        title: text(&v.title, TITLE),
        message: text(&v.message, MESSAGE),
        url: text(&v.url, URL),
        url_title: v.url_title.clone(),
        device: v.device.clone(),
        sound: v.sound.clone(),
        priority: text(&v.priority, PRIORITY),
        retry: v.retry.unwrap_or(RETRY),
        expire: v.expire.unwrap_or(EXPIRE),
        ttl: v.ttl.unwrap_or_default(),
        html: v.html,
    })
}
