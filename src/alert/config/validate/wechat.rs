//! `wechat_configs` entries: upstream's `WechatConfig.UnmarshalYAML` (`message_type`), then
//! the `global.wechat_*` inheritance in upstream's order (`api_url`, `api_secret`,
//! `corp_id`, each with its "no global …" text) and the `/` upstream appends to the URL's
//! path. The same in 0.25 and 0.28; there is no `_file` variant.

use super::*;

const WECHAT_MESSAGE: &str = r#"{{ template "wechat.default.message" . }}"#;
const WECHAT_TO_USER: &str = r#"{{ template "wechat.default.to_user" . }}"#;
const WECHAT_TO_PARTY: &str = r#"{{ template "wechat.default.to_party" . }}"#;
const WECHAT_TO_TAG: &str = r#"{{ template "wechat.default.to_tag" . }}"#;
const WECHAT_AGENT_ID: &str = r#"{{ template "wechat.default.agent_id" . }}"#;

/// `global.wechat_api_url` when the file has none.
const DEFAULT_API_URL: &str = "https://qyapi.weixin.qq.com/cgi-bin/";

/// One `wechat_configs` entry, or `None` after reporting its errors.
pub(super) fn wechat_config(
    cx: &mut Cx,
    p: &str,
    w: &Spanned<RawWechatConfig>,
    g: &RawGlobal,
    global_http: Option<&RawHttpConfig>,
) -> Option<WechatConfig> {
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
    let message_type = if v.message_type.is_empty() {
        "text".to_string()
    } else {
        v.message_type.clone()
    };
    if message_type != "text" && message_type != "markdown" {
        cx.err(
            &w.referenced,
            p,
            format!(
                "weChat message type {} does not match valid options ^(text|markdown)$",
                crate::base::go::quote(&message_type)
            ),
        );
    }
    if cx.errors.len() > before {
        return None;
    }
    let api_url = match (&v.api_url, &g.wechat_api_url) {
        (Some(u), _) | (None, Some(u)) => u.value.clone(),
        (None, None) => DEFAULT_API_URL.to_string(),
    };
    let api_secret = if v.api_secret.is_empty() {
        match &g.wechat_api_secret {
            Some(s) if !s.value.is_empty() => s.value.clone(),
            _ => {
                cx.err(&w.referenced, p, "no global Wechat ApiSecret set");
                return None;
            }
        }
    } else {
        v.api_secret.clone()
    };
    let corp_id = if v.corp_id.is_empty() {
        match &g.wechat_api_corp_id {
            Some(c) if !c.is_empty() => c.clone(),
            _ => {
                cx.err(&w.referenced, p, "no global Wechat CorpID set");
                return None;
            }
        }
    } else {
        v.corp_id.clone()
    };
    let text = |t: &Option<String>, default: &str| t.clone().unwrap_or_else(|| default.into());
    Some(WechatConfig {
        send_resolved: v.send_resolved.unwrap_or(false),
        http_config: v
            .http_config
            .as_ref()
            .map(|h| h.value.clone())
            .or_else(|| global_http.cloned())
            .unwrap_or_default(),
        api_url: with_trailing_slash(&api_url),
        api_secret,
        corp_id,
        message: text(&v.message, WECHAT_MESSAGE),
        to_user: text(&v.to_user, WECHAT_TO_USER),
        to_party: text(&v.to_party, WECHAT_TO_PARTY),
        to_tag: text(&v.to_tag, WECHAT_TO_TAG),
        agent_id: text(&v.agent_id, WECHAT_AGENT_ID),
        message_type,
    })
}

/// Upstream's `if !strings.HasSuffix(u.Path, "/") { u.Path += "/" }`: the slash goes at
/// the end of the path, before any query.
fn with_trailing_slash(url: &str) -> String {
    let split = url.find(['?', '#']).unwrap_or(url.len());
    let (head, tail) = url.split_at(split);
    let path_start = head.split_once("://").map_or(0, |(scheme, rest)| {
        scheme.len() + 3 + rest.find('/').unwrap_or(rest.len())
    });
    if head[path_start..].ends_with('/') {
        url.to_string()
    } else {
        format!("{head}/{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::with_trailing_slash;

    #[test]
    fn slash_goes_at_the_end_of_the_path() {
        assert_eq!(with_trailing_slash("http://x"), "http://x/");
        assert_eq!(with_trailing_slash("http://x/"), "http://x/");
        assert_eq!(with_trailing_slash("http://x/cgi-bin"), "http://x/cgi-bin/");
        assert_eq!(with_trailing_slash("http://x/a/?k=v"), "http://x/a/?k=v");
        assert_eq!(with_trailing_slash("http://x/a?k=v/"), "http://x/a/?k=v/");
    }
}
