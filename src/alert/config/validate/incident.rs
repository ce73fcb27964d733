//! `pagerduty_configs`, `opsgenie_configs` and `victorops_configs`: upstream's
//! `UnmarshalYAML` checks with its messages, its defaults, then the `global:` inheritance of
//! `Config.UnmarshalYAML` (URLs, Opsgenie and VictorOps API keys, `http_config`).

use super::*;

/// `DefaultGlobalConfig`'s URLs (0.25 and 0.28 alike).
pub const DEFAULT_PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";
pub const DEFAULT_OPSGENIE_API_URL: &str = "https://api.opsgenie.com/";
pub const DEFAULT_VICTOROPS_API_URL: &str =
    "https://alert.victorops.com/integrations/generic/20131114/alert/";

/// `DefaultPagerdutyConfig` (note upstream's missing space before `}}` in the description).
const PD_DESCRIPTION: &str = r#"{{ template "pagerduty.default.description" .}}"#;
const PD_CLIENT: &str = r#"{{ template "pagerduty.default.client" . }}"#;
const PD_CLIENT_URL: &str = r#"{{ template "pagerduty.default.clientURL" . }}"#;
/// `DefaultPagerdutyDetails`: added to `details` unless the key is configured.
const PD_DETAILS: [(&str, &str); 4] = [
    (
        "firing",
        r#"{{ template "pagerduty.default.instances" .Alerts.Firing }}"#,
    ),
    (
        "resolved",
        r#"{{ template "pagerduty.default.instances" .Alerts.Resolved }}"#,
    ),
    ("num_firing", r#"{{ .Alerts.Firing | len }}"#),
    ("num_resolved", r#"{{ .Alerts.Resolved | len }}"#),
];

/// `DefaultOpsGenieConfig`.
const OG_MESSAGE: &str = r#"{{ template "opsgenie.default.message" . }}"#;
const OG_DESCRIPTION: &str = r#"{{ template "opsgenie.default.description" . }}"#;
const OG_SOURCE: &str = r#"{{ template "opsgenie.default.source" . }}"#;
/// `opsgenieValidTypesRe`, quoted in the error.
const OG_VALID_TYPES: &str = "^(team|teams|user|escalation|schedule)$";

/// `DefaultVictorOpsConfig`.
const VO_MESSAGE_TYPE: &str = "CRITICAL";
const VO_STATE_MESSAGE: &str = r#"{{ template "victorops.default.state_message" . }}"#;
const VO_ENTITY_DISPLAY_NAME: &str = r#"{{ template "victorops.default.entity_display_name" . }}"#;
const VO_MONITORING_TOOL: &str = r#"{{ template "victorops.default.monitoring_tool" . }}"#;
/// Keys a VictorOps `custom_fields` entry cannot use, in upstream's check order.
const VO_RESERVED: [&str; 7] = [
    "routing_key",
    "message_type",
    "state_message",
    "entity_display_name",
    "monitoring_tool",
    "entity_id",
    "entity_state",
];

fn own_http(h: &Option<Spanned<RawHttpConfig>>, global: Option<&RawHttpConfig>) -> RawHttpConfig {
    h.as_ref()
        .map(|h| h.value.clone())
        .or_else(|| global.cloned())
        .unwrap_or_default()
}

/// An integration's own URL (checked with `parseURL`'s rules) or the global one (checked
/// under `global:`) or upstream's default.
fn api_url(
    cx: &mut Cx,
    p: &str,
    key: &str,
    own: &Option<Spanned<String>>,
    global: &Option<Spanned<String>>,
    default: &str,
) -> Option<String> {
    match own {
        Some(u) => match check_url(&u.value) {
            Ok(()) => Some(u.value.clone()),
            Err(m) => {
                cx.err(&u.referenced, &format!("{p}.{key}"), m);
                None
            }
        },
        None => Some(global.as_ref().map_or(default, |g| &g.value).to_string()),
    }
}

/// Upstream's `if !strings.HasSuffix(u.Path, "/") { u.Path += "/" }`.
pub fn with_trailing_slash(u: &str) -> String {
    match url::Url::parse(u) {
        Ok(mut url) => {
            if !url.path().ends_with('/') {
                let path = format!("{}/", url.path());
                url.set_path(&path);
            }
            url.to_string()
        }
        Err(_) => u.to_string(),
    }
}

/// A secret set inline or in a file (the file relative to the config's directory).
fn secret(cx: &Cx, inline: &Secret, file: &str) -> Option<SecretSource> {
    SecretSource::from_parts(
        inline,
        if file.is_empty() {
            PathBuf::new()
        } else {
            cx.file_path(file)
        },
    )
}

/// One `pagerduty_configs` entry.
pub(super) fn pagerduty_config(
    cx: &mut Cx,
    p: &str,
    s: &Spanned<RawPagerdutyConfig>,
    g: &RawGlobal,
    global_http: Option<&RawHttpConfig>,
) -> Option<PagerdutyConfig> {
    let v = &s.value;
    let before = cx.errors.len();
    if let Some(h) = &v.http_config {
        http_config(cx, &format!("{p}.http_config"), h);
    }
    if v.routing_key.is_empty()
        && v.service_key.is_empty()
        && v.routing_key_file.is_empty()
        && v.service_key_file.is_empty()
    {
        cx.err(
            &s.referenced,
            p,
            "missing service or routing key in PagerDuty config",
        );
    }
    if !v.routing_key.is_empty() && !v.routing_key_file.is_empty() {
        cx.err(
            &s.referenced,
            p,
            "at most one of routing_key & routing_key_file must be configured",
        );
    }
    if !v.service_key.is_empty() && !v.service_key_file.is_empty() {
        cx.err(
            &s.referenced,
            p,
            "at most one of service_key & service_key_file must be configured",
        );
    }
    let url = api_url(
        cx,
        p,
        "url",
        &v.url,
        &g.pagerduty_url,
        DEFAULT_PAGERDUTY_URL,
    );
    if cx.errors.len() > before {
        return None;
    }
    let key = match secret(cx, &v.service_key, &v.service_key_file) {
        Some(k) => PagerdutyKey::Service(k),
        None => PagerdutyKey::Routing(secret(cx, &v.routing_key, &v.routing_key_file)?),
    };
    let text = |t: &Option<String>, default: &str| t.clone().unwrap_or_else(|| default.into());
    let client = text(&v.client, PD_CLIENT);
    let mut details = v.details.clone();
    for (k, d) in PD_DETAILS {
        details
            .entry(k.to_string())
            .or_insert_with(|| d.to_string());
    }
    Some(PagerdutyConfig {
        send_resolved: v.send_resolved.unwrap_or(true),
        http_config: own_http(&v.http_config, global_http),
        key,
        url: url?,
        source: if v.source.is_empty() {
            client.clone()
        } else {
            v.source.clone()
        },
        client,
        client_url: text(&v.client_url, PD_CLIENT_URL),
        description: text(&v.description, PD_DESCRIPTION),
        details,
        images: v
            .images
            .iter()
            .map(|i| PagerdutyImage {
                src: i.src.clone(),
                alt: i.alt.clone(),
                href: i.href.clone(),
            })
            .collect(),
        links: v
            .links
            .iter()
            .map(|l| PagerdutyLink {
                href: l.href.clone(),
                text: l.text.clone(),
            })
            .collect(),
        severity: v.severity.clone(),
        class: v.class.clone(),
        component: v.component.clone(),
        group: v.group.clone(),
    })
}

/// Go's `%v` of an `OpsGenieConfigResponder`: `{id name username type}`.
fn responder_v(r: &RawOpsgenieResponder, kind: &str) -> String {
    format!("{{{} {} {} {}}}", r.id, r.name, r.username, kind)
}

/// One `opsgenie_configs` entry.
pub(super) fn opsgenie_config(
    cx: &mut Cx,
    p: &str,
    s: &Spanned<RawOpsgenieConfig>,
    g: &RawGlobal,
    global_http: Option<&RawHttpConfig>,
) -> Option<OpsgenieConfig> {
    let v = &s.value;
    let before = cx.errors.len();
    if let Some(h) = &v.http_config {
        http_config(cx, &format!("{p}.http_config"), h);
    }
    if !v.api_key.is_empty() && !v.api_key_file.is_empty() {
        cx.err(
            &s.referenced,
            p,
            "at most one of api_key & api_key_file must be configured",
        );
    }
    for (k, r) in v.responders.iter().enumerate() {
        let rp = format!("{p}.responders[{k}]");
        let rv = &r.value;
        if rv.id.is_empty() && rv.username.is_empty() && rv.name.is_empty() {
            cx.err(
                &r.referenced,
                &rp,
                format!(
                    "opsGenieConfig responder {} has to have at least one of id, username or name specified",
                    responder_v(rv, &rv.kind)
                ),
            );
        } else if rv.kind.contains("{{") {
            let mut t = crate::template::Templates::new(crate::template::MissingKey::Zero);
            if let Err(e) = t.parse("", &rv.kind, &[]) {
                cx.err(
                    &r.referenced,
                    &rp,
                    format!(
                        "opsGenieConfig responder {} type is not a valid template: {e}",
                        responder_v(rv, &rv.kind)
                    ),
                );
            }
        } else {
            let lower = rv.kind.to_lowercase();
            if !matches!(
                lower.as_str(),
                "team" | "teams" | "user" | "escalation" | "schedule"
            ) {
                cx.err(
                    &r.referenced,
                    &rp,
                    format!(
                        "opsGenieConfig responder {} type does not match valid options {OG_VALID_TYPES}",
                        responder_v(rv, &lower)
                    ),
                );
            }
        }
    }
    let url = api_url(
        cx,
        p,
        "api_url",
        &v.api_url,
        &g.opsgenie_api_url,
        DEFAULT_OPSGENIE_API_URL,
    );
    let key = match secret(cx, &v.api_key, &v.api_key_file) {
        Some(k) => Some(k),
        None => match secret(cx, &g.opsgenie_api_key, &g.opsgenie_api_key_file) {
            Some(k) => Some(k),
            None => {
                cx.err(
                    &s.referenced,
                    p,
                    "no global OpsGenie API Key set either inline or in a file",
                );
                None
            }
        },
    };
    if cx.errors.len() > before {
        return None;
    }
    let text = |t: &Option<String>, default: &str| t.clone().unwrap_or_else(|| default.into());
    Some(OpsgenieConfig {
        send_resolved: v.send_resolved.unwrap_or(true),
        http_config: own_http(&v.http_config, global_http),
        api_key: key?,
        api_url: with_trailing_slash(&url?),
        message: text(&v.message, OG_MESSAGE),
        description: text(&v.description, OG_DESCRIPTION),
        source: text(&v.source, OG_SOURCE),
        details: v.details.clone(),
        entity: v.entity.clone(),
        responders: v
            .responders
            .iter()
            .map(|r| OpsgenieResponder {
                id: r.value.id.clone(),
                name: r.value.name.clone(),
                username: r.value.username.clone(),
                kind: r.value.kind.clone(),
            })
            .collect(),
        actions: v.actions.clone(),
        tags: v.tags.clone(),
        note: v.note.clone(),
        priority: v.priority.clone(),
        update_alerts: v.update_alerts,
    })
}

/// One `victorops_configs` entry.
pub(super) fn victorops_config(
    cx: &mut Cx,
    p: &str,
    s: &Spanned<RawVictorOpsConfig>,
    g: &RawGlobal,
    global_http: Option<&RawHttpConfig>,
) -> Option<VictorOpsConfig> {
    let v = &s.value;
    let before = cx.errors.len();
    if let Some(h) = &v.http_config {
        http_config(cx, &format!("{p}.http_config"), h);
    }
    if v.routing_key.is_empty() {
        cx.err(&s.referenced, p, "missing Routing key in VictorOps config");
    } else if !v.api_key.is_empty() && !v.api_key_file.is_empty() {
        cx.err(
            &s.referenced,
            p,
            "at most one of api_key & api_key_file must be configured",
        );
    } else if let Some(f) = VO_RESERVED
        .iter()
        .find(|f| v.custom_fields.contains_key(**f))
    {
        cx.err(
            &s.referenced,
            &format!("{p}.custom_fields"),
            format!("victorOps config contains custom field {f} which cannot be used as it conflicts with the fixed/static fields"),
        );
    }
    let url = api_url(
        cx,
        p,
        "api_url",
        &v.api_url,
        &g.victorops_api_url,
        DEFAULT_VICTOROPS_API_URL,
    );
    let key = match secret(cx, &v.api_key, &v.api_key_file) {
        Some(k) => Some(k),
        None => match secret(cx, &g.victorops_api_key, &g.victorops_api_key_file) {
            Some(k) => Some(k),
            None => {
                cx.err(&s.referenced, p, "no global VictorOps API Key set");
                None
            }
        },
    };
    if cx.errors.len() > before {
        return None;
    }
    let text = |t: &Option<String>, default: &str| t.clone().unwrap_or_else(|| default.into());
    Some(VictorOpsConfig {
        send_resolved: v.send_resolved.unwrap_or(true),
        http_config: own_http(&v.http_config, global_http),
        api_key: key?,
        api_url: with_trailing_slash(&url?),
        routing_key: v.routing_key.clone(),
        message_type: text(&v.message_type, VO_MESSAGE_TYPE),
        state_message: text(&v.state_message, VO_STATE_MESSAGE),
        entity_display_name: text(&v.entity_display_name, VO_ENTITY_DISPLAY_NAME),
        monitoring_tool: text(&v.monitoring_tool, VO_MONITORING_TOOL),
        custom_fields: v.custom_fields.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_slash_appended_to_the_path() {
        assert_eq!(
            with_trailing_slash("https://api.opsgenie.com"),
            "https://api.opsgenie.com/"
        );
        assert_eq!(with_trailing_slash("http://h:1/og"), "http://h:1/og/");
        assert_eq!(with_trailing_slash("http://h/og/"), "http://h/og/");
        assert_eq!(with_trailing_slash("http://h/og?x=1"), "http://h/og/?x=1");
    }
}
