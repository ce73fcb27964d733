//! `msteams_configs` and `msteamsv2_configs` (Alertmanager 0.26+ / 0.28): upstream's
//! `UnmarshalYAML` checks (one of `webhook_url` & `webhook_url_file`, the URL as a URL) and
//! the `global.http_config` default. Neither has other `global:` inheritance.

use super::*;

const MSTEAMS_TITLE: &str = r#"{{ template "msteams.default.title" . }}"#;
const MSTEAMS_SUMMARY: &str = r#"{{ template "msteams.default.summary" . }}"#;
const MSTEAMS_TEXT: &str = r#"{{ template "msteams.default.text" . }}"#;
const MSTEAMSV2_TITLE: &str = r#"{{ template "msteamsv2.default.title" . }}"#;
const MSTEAMSV2_TEXT: &str = r#"{{ template "msteamsv2.default.text" . }}"#;

/// `webhook_url` / `webhook_url_file` with upstream's two messages (an empty
/// `webhook_url_file` counts as absent, as upstream's `len(...) > 0`).
fn webhook(
    cx: &mut Cx,
    loc: &Location,
    p: &str,
    url: &Option<Spanned<Secret>>,
    file: &Option<Spanned<String>>,
) -> Option<SecretSource> {
    let file = file.as_ref().filter(|f| !f.value.is_empty());
    match (url, file) {
        (None, None) => {
            cx.err(
                loc,
                p,
                "one of webhook_url or webhook_url_file must be configured",
            );
            None
        }
        (Some(u), f) => match check_url(u.value.expose()) {
            Err(m) => {
                cx.err(&u.referenced, &format!("{p}.webhook_url"), m);
                None
            }
            Ok(()) if f.is_some() => {
                cx.err(
                    loc,
                    p,
                    "at most one of webhook_url & webhook_url_file must be configured",
                );
                None
            }
            Ok(()) => Some(SecretSource::Inline(u.value.clone())),
        },
        (None, Some(f)) => Some(SecretSource::File(cx.file_path(&f.value))),
    }
}

fn http(
    cx: &mut Cx,
    p: &str,
    own: &Option<Spanned<RawHttpConfig>>,
    global_http: Option<&RawHttpConfig>,
) -> RawHttpConfig {
    if let Some(h) = own {
        http_config(cx, &format!("{p}.http_config"), h);
    }
    own.as_ref()
        .map(|h| h.value.clone())
        .or_else(|| global_http.cloned())
        .unwrap_or_default()
}

fn text(t: &Option<String>, default: &str) -> String {
    t.clone().unwrap_or_else(|| default.to_string())
}

/// One `msteams_configs` entry.
pub(super) fn msteams_config(
    cx: &mut Cx,
    p: &str,
    c: &Spanned<RawMSTeamsConfig>,
    global_http: Option<&RawHttpConfig>,
) -> Option<MSTeamsConfig> {
    let v = &c.value;
    let http_config = http(cx, p, &v.http_config, global_http);
    let webhook_url = webhook(cx, &c.referenced, p, &v.webhook_url, &v.webhook_url_file)?;
    Some(MSTeamsConfig {
        send_resolved: v.send_resolved.unwrap_or(true),
        webhook_url,
        http_config,
        title: text(&v.title, MSTEAMS_TITLE),
        summary: text(&v.summary, MSTEAMS_SUMMARY),
        text: text(&v.text, MSTEAMS_TEXT),
    })
}

/// One `msteamsv2_configs` entry.
pub(super) fn msteamsv2_config(
    cx: &mut Cx,
    p: &str,
    c: &Spanned<RawMSTeamsV2Config>,
    global_http: Option<&RawHttpConfig>,
) -> Option<MSTeamsV2Config> {
    let v = &c.value;
    let http_config = http(cx, p, &v.http_config, global_http);
    let webhook_url = webhook(cx, &c.referenced, p, &v.webhook_url, &v.webhook_url_file)?;
    Some(MSTeamsV2Config {
        send_resolved: v.send_resolved.unwrap_or(true),
        webhook_url,
        http_config,
        title: text(&v.title, MSTEAMSV2_TITLE),
        text: text(&v.text, MSTEAMSV2_TEXT),
    })
}
