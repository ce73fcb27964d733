//! `telegram_configs` entries: Alertmanager 0.28's `TelegramConfig.UnmarshalYAML` rules and
//! texts, then `global.telegram_api_url` inheritance (upstream's default
//! `https://api.telegram.org`; no error is possible there).

use super::*;

/// Alertmanager's `DefaultTelegramConfig` message.
const TELEGRAM_MESSAGE: &str = r#"{{ template "telegram.default.message" . }}"#;

/// `global.telegram_api_url` when the file has none.
const DEFAULT_API_URL: &str = "https://api.telegram.org";

/// One `telegram_configs` entry, or `None` after reporting its errors.
pub(super) fn telegram_config(
    cx: &mut Cx,
    p: &str,
    t: &Spanned<RawTelegramConfig>,
    g: &RawGlobal,
    global_http: Option<&RawHttpConfig>,
) -> Option<TelegramConfig> {
    let v = &t.value;
    let before = cx.errors.len();
    if let Some(h) = &v.http_config {
        http_config(cx, &format!("{p}.http_config"), h);
    }
    if let Some(u) = &v.api_url {
        if let Err(m) = check_url(&u.value) {
            cx.err(&u.referenced, &format!("{p}.api_url"), m);
        }
    }
    // 0.28's texts: 0.25 (no `bot_token_file`) said "missing bot_token on telegram_config".
    let token = match (v.bot_token.is_empty(), v.bot_token_file.is_empty()) {
        (true, true) => {
            cx.err(
                &t.referenced,
                p,
                "missing bot_token or bot_token_file on telegram_config",
            );
            None
        }
        (false, false) => {
            cx.err(
                &t.referenced,
                p,
                "at most one of bot_token & bot_token_file must be configured",
            );
            None
        }
        (false, true) => Some(SecretSource::Inline(v.bot_token.clone())),
        (true, false) => Some(SecretSource::File(cx.file_path(&v.bot_token_file))),
    };
    // Upstream stops at the first of these.
    let token = token?;
    if v.chat_id == 0 {
        cx.err(&t.referenced, p, "missing chat_id on telegram_config");
        return None;
    }
    let parse_mode = v.parse_mode.clone().unwrap_or_else(|| "HTML".to_string());
    if !matches!(parse_mode.as_str(), "" | "Markdown" | "MarkdownV2" | "HTML") {
        cx.err(
            &t.referenced,
            p,
            "unknown parse_mode on telegram_config, must be Markdown, MarkdownV2, HTML or empty string",
        );
    }
    if cx.errors.len() > before {
        return None;
    }
    let api_url = match (&v.api_url, &g.telegram_api_url) {
        (Some(u), _) | (None, Some(u)) => u.value.clone(),
        (None, None) => DEFAULT_API_URL.to_string(),
    };
    Some(TelegramConfig {
        send_resolved: v.send_resolved.unwrap_or(true),
        http_config: v
            .http_config
            .as_ref()
            .map(|h| h.value.clone())
            .or_else(|| global_http.cloned())
            .unwrap_or_default(),
        api_url,
        bot_token: token,
        chat_id: v.chat_id,
        message_thread_id: v.message_thread_id,
        message: v
            .message
            .clone()
            .unwrap_or_else(|| TELEGRAM_MESSAGE.to_string()),
        disable_notifications: v.disable_notifications,
        parse_mode,
    })
}
