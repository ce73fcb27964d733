//! `rocketchat_configs` (Alertmanager 0.28): upstream's `UnmarshalYAML` checks, then the
//! `global.rocketchat_*` inheritance in upstream's order (`api_url`, then `token_id`, then
//! `token`, each pair inline or file copied together), and the global pairs' own checks.

use super::*;

const COLOR: &str = r#"{{ if eq .Status "firing" }}red{{ else }}green{{ end }}"#;
const EMOJI: &str = r#"{{ template "rocketchat.default.emoji" . }}"#;
const ICON_URL: &str = r#"{{ template "rocketchat.default.iconurl" . }}"#;
const TEXT: &str = r#"{{ template "rocketchat.default.text" . }}"#;
const TITLE: &str = r#"{{ template "rocketchat.default.title" . }}"#;
const TITLE_LINK: &str = r#"{{ template "rocketchat.default.titlelink" . }}"#;

/// Upstream's `DefaultGlobalConfig().RocketchatAPIURL`.
pub const DEFAULT_API_URL: &str = "https://open.rocket.chat/";

fn nonempty(f: &Option<Spanned<String>>) -> Option<&Spanned<String>> {
    f.as_ref().filter(|f| !f.value.is_empty())
}

/// `global:`'s pairs: at most one of each.
pub(super) fn global_checks(cx: &mut Cx, loc: &Location, g: &RawGlobal) {
    if g.rocketchat_token.is_some() && nonempty(&g.rocketchat_token_file).is_some() {
        cx.err(
            loc,
            "global",
            "at most one of rocketchat_token & rocketchat_token_file must be configured",
        );
    }
    if g.rocketchat_token_id.is_some() && nonempty(&g.rocketchat_token_id_file).is_some() {
        cx.err(
            loc,
            "global",
            "at most one of rocketchat_token_id & rocketchat_token_id_file must be configured",
        );
    }
}

/// The secret of an inline / file pair (inline wins, as upstream reads the file only when
/// its name is set and the pair's check forbids both).
fn source(
    cx: &Cx,
    inline: &Option<Spanned<Secret>>,
    file: &Option<Spanned<String>>,
) -> Option<SecretSource> {
    match (nonempty(file), inline) {
        (Some(f), _) => Some(SecretSource::File(cx.file_path(&f.value))),
        (None, Some(s)) => Some(SecretSource::Inline(s.value.clone())),
        (None, None) => None,
    }
}

/// One `rocketchat_configs` entry.
pub(super) fn rocketchat_config(
    cx: &mut Cx,
    p: &str,
    c: &Spanned<RawRocketchatConfig>,
    g: &RawGlobal,
    global_http: Option<&RawHttpConfig>,
) -> Option<RocketchatConfig> {
    let v = &c.value;
    let before = cx.errors.len();
    if let Some(h) = &v.http_config {
        http_config(cx, &format!("{p}.http_config"), h);
    }
    let api_url = match &v.api_url {
        Some(u) => {
            if let Err(m) = check_url(&u.value) {
                cx.err(&u.referenced, &format!("{p}.api_url"), m);
            }
            u.value.clone()
        }
        None => g
            .rocketchat_api_url
            .as_ref()
            .map_or_else(|| DEFAULT_API_URL.to_string(), |u| u.value.clone()),
    };
    if v.token.is_some() && nonempty(&v.token_file).is_some() {
        cx.err(
            &c.referenced,
            p,
            "at most one of token & token_file must be configured",
        );
    }
    if v.token_id.is_some() && nonempty(&v.token_id_file).is_some() {
        cx.err(
            &c.referenced,
            p,
            "at most one of token_id & token_id_file must be configured",
        );
    }
    let token_id = source(cx, &v.token_id, &v.token_id_file)
        .or_else(|| source(cx, &g.rocketchat_token_id, &g.rocketchat_token_id_file));
    if token_id.is_none() {
        cx.err(
            &c.referenced,
            p,
            "no global Rocketchat TokenID set either inline or in a file",
        );
    }
    let token = source(cx, &v.token, &v.token_file)
        .or_else(|| source(cx, &g.rocketchat_token, &g.rocketchat_token_file));
    if token.is_none() {
        cx.err(
            &c.referenced,
            p,
            "no global Rocketchat Token set either inline or in a file",
        );
    }
    if cx.errors.len() > before {
        return None;
    }
    let text = |t: &Option<String>, default: &str| t.clone().unwrap_or_else(|| default.into());
    Some(RocketchatConfig {
        send_resolved: v.send_resolved.unwrap_or(false),
        http_config: v
            .http_config
            .as_ref()
            .map(|h| h.value.clone())
            .or_else(|| global_http.cloned())
            .unwrap_or_default(),
        api_url,
        token_id: token_id?,
        token: token?,
        channel: v.channel.clone(),
        color: text(&v.color, COLOR),
        title: text(&v.title, TITLE),
        title_link: text(&v.title_link, TITLE_LINK),
        text: text(&v.text, TEXT),
        fields: v
            .fields
            .iter()
            .map(|f| RocketchatField {
                short: f.short,
                title: f.title.clone(),
                value: f.value.clone(),
            })
            .collect(),
        short_fields: v.short_fields,
        emoji: text(&v.emoji, EMOJI),
        icon_url: text(&v.icon_url, ICON_URL),
        image_url: v.image_url.clone(),
        thumb_url: v.thumb_url.clone(),
        link_names: v.link_names,
        actions: v
            .actions
            .iter()
            .map(|a| RocketchatAction {
                text: a.text.clone(),
                url: a.url.clone(),
                msg: a.msg.clone(),
            })
            .collect(),
    })
}
