//! `receivers:` and their integrations (Discord, e-mail, webhook, Slack; PagerDuty, Opsgenie
//! and VictorOps in `incident.rs`; WeChat, Telegram, Webex, Pushover, SNS and the 0.26+
//! integrations in their own files), with `global:` defaults merged into each.

use super::*;

const DISCORD_TITLE: &str = r#"{{ template "discord.default.title" . }}"#;

const DISCORD_MESSAGE: &str = r#"{{ template "discord.default.message" . }}"#;

const EMAIL_HTML: &str = r#"{{ template "email.default.html" . }}"#;

/// Alertmanager's `DefaultSlackConfig` (0.25 and 0.28 alike).
const SLACK_COLOR: &str = r#"{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}"#;
const SLACK_USERNAME: &str = r#"{{ template "slack.default.username" . }}"#;
const SLACK_TITLE: &str = r#"{{ template "slack.default.title" . }}"#;
const SLACK_TITLE_LINK: &str = r#"{{ template "slack.default.titlelink" . }}"#;
const SLACK_ICON_EMOJI: &str = r#"{{ template "slack.default.iconemoji" . }}"#;
const SLACK_ICON_URL: &str = r#"{{ template "slack.default.iconurl" . }}"#;
const SLACK_PRETEXT: &str = r#"{{ template "slack.default.pretext" . }}"#;
const SLACK_TEXT: &str = r#"{{ template "slack.default.text" . }}"#;
const SLACK_FALLBACK: &str = r#"{{ template "slack.default.fallback" . }}"#;
const SLACK_CALLBACK_ID: &str = r#"{{ template "slack.default.callbackid" . }}"#;
const SLACK_FOOTER: &str = r#"{{ template "slack.default.footer" . }}"#;

/// One receiver and its integrations, each with `global:` defaults merged, in upstream's
/// check order.
pub(super) fn receiver(
    cx: &mut Cx,
    i: usize,
    r: &Spanned<RawReceiver>,
    g: &RawGlobal,
) -> Option<Receiver> {
    let path = format!("receivers[{i}]");
    let v = &r.value;
    let name = match &v.name {
        Some(n) if !n.value.is_empty() => n.value.clone(),
        _ => {
            cx.err(&r.referenced, &path, "missing name in receiver");
            return None;
        }
    };
    for (key, field) in v.unsupported() {
        cx.unsupported(
            field,
            &format!("{path}.{key}"),
            &format!("receiver {name:?}: `{key}`"),
        );
    }
    let global_http = g.http_config.as_ref().map(|h| h.value.clone());

    let mut discord = Vec::new();
    for (j, d) in v.discord_configs.iter().enumerate() {
        let p = format!("{path}.discord_configs[{j}]");
        let dv = &d.value;
        if let Some(h) = &dv.http_config {
            http_config(cx, &format!("{p}.http_config"), h);
        }
        let url = url_or_file(
            cx,
            &d.referenced,
            &p,
            &dv.webhook_url,
            &dv.webhook_url_file,
            "webhook_url",
            "no discord webhook URL provided: one of webhook_url or webhook_url_file must be configured",
        );
        if let Some(url) = url {
            discord.push(DiscordConfig {
                send_resolved: dv.send_resolved.unwrap_or(true),
                webhook_url: url,
                title: dv
                    .title
                    .clone()
                    .unwrap_or_else(|| DISCORD_TITLE.to_string()),
                message: dv
                    .message
                    .clone()
                    .unwrap_or_else(|| DISCORD_MESSAGE.to_string()),
                content: dv.content.clone().unwrap_or_default(),
                username: dv.username.clone(),
                avatar_url: dv.avatar_url.clone(),
                digest: dv.digest.unwrap_or(false),
                http_config: dv
                    .http_config
                    .as_ref()
                    .map(|h| h.value.clone())
                    .or_else(|| global_http.clone())
                    .unwrap_or_default(),
            });
        }
    }

    let mut webhook = Vec::new();
    for (j, w) in v.webhook_configs.iter().enumerate() {
        let p = format!("{path}.webhook_configs[{j}]");
        let wv = &w.value;
        if let Some(h) = &wv.http_config {
            http_config(cx, &format!("{p}.http_config"), h);
        }
        cx.unsupported(&wv.payload, &format!("{p}.payload"), "`payload`");
        let url = url_or_file(
            cx,
            &w.referenced,
            &p,
            &wv.url,
            &wv.url_file,
            "url",
            "missing URL in webhook config: one of url or url_file must be configured",
        );
        if let Some(url) = url {
            webhook.push(WebhookConfig {
                send_resolved: wv.send_resolved.unwrap_or(true),
                url,
                max_alerts: wv.max_alerts,
                timeout: wv.timeout.map_or(Duration::ZERO, |t| t.0),
                http_config: wv
                    .http_config
                    .as_ref()
                    .map(|h| h.value.clone())
                    .or_else(|| global_http.clone())
                    .unwrap_or_default(),
            });
        }
    }

    let mut email = Vec::new();
    for (j, e) in v.email_configs.iter().enumerate() {
        let p = format!("{path}.email_configs[{j}]");
        if let Some(ec) = email_config(cx, &p, e, g) {
            email.push(ec);
        }
    }

    let mut slack = Vec::new();
    for (j, s) in v.slack_configs.iter().enumerate() {
        let p = format!("{path}.slack_configs[{j}]");
        if let Some(sc) = slack_config(cx, &p, s, g, global_http.as_ref()) {
            slack.push(sc);
        }
    }

    // Alertmanager 0.26+ integrations (validate/msteams.rs, rocketchat.rs, jira.rs).
    let mut msteams = Vec::new();
    for (j, c) in v.msteams_configs.iter().enumerate() {
        let p = format!("{path}.msteams_configs[{j}]");
        msteams.extend(super::msteams::msteams_config(
            cx,
            &p,
            c,
            global_http.as_ref(),
        ));
    }
    let mut msteamsv2 = Vec::new();
    for (j, c) in v.msteamsv2_configs.iter().enumerate() {
        let p = format!("{path}.msteamsv2_configs[{j}]");
        msteamsv2.extend(super::msteams::msteamsv2_config(
            cx,
            &p,
            c,
            global_http.as_ref(),
        ));
    }
    let mut jira = Vec::new();
    for (j, c) in v.jira_configs.iter().enumerate() {
        let p = format!("{path}.jira_configs[{j}]");
        jira.extend(super::jira::jira_config(cx, &p, c, g, global_http.as_ref()));
    }
    let mut rocketchat = Vec::new();
    for (j, c) in v.rocketchat_configs.iter().enumerate() {
        let p = format!("{path}.rocketchat_configs[{j}]");
        rocketchat.extend(super::rocketchat::rocketchat_config(
            cx,
            &p,
            c,
            g,
            global_http.as_ref(),
        ));
    }
    let (mut pagerduty, mut opsgenie, mut victorops) = (Vec::new(), Vec::new(), Vec::new());
    for (j, c) in v.pagerduty_configs.iter().enumerate() {
        let p = format!("{path}.pagerduty_configs[{j}]");
        pagerduty.extend(incident::pagerduty_config(
            cx,
            &p,
            c,
            g,
            global_http.as_ref(),
        ));
    }
    for (j, c) in v.opsgenie_configs.iter().enumerate() {
        let p = format!("{path}.opsgenie_configs[{j}]");
        opsgenie.extend(incident::opsgenie_config(
            cx,
            &p,
            c,
            g,
            global_http.as_ref(),
        ));
    }
    for (j, c) in v.victorops_configs.iter().enumerate() {
        let p = format!("{path}.victorops_configs[{j}]");
        victorops.extend(incident::victorops_config(
            cx,
            &p,
            c,
            g,
            global_http.as_ref(),
        ));
    }

    let mut wechat = Vec::new();
    for (j, w) in v.wechat_configs.iter().enumerate() {
        let p = format!("{path}.wechat_configs[{j}]");
        wechat.extend(super::wechat::wechat_config(
            cx,
            &p,
            w,
            g,
            global_http.as_ref(),
        ));
    }
    let mut telegram = Vec::new();
    for (j, t) in v.telegram_configs.iter().enumerate() {
        let p = format!("{path}.telegram_configs[{j}]");
        telegram.extend(super::telegram::telegram_config(
            cx,
            &p,
            t,
            g,
            global_http.as_ref(),
        ));
    }
    let mut webex = Vec::new();
    for (j, w) in v.webex_configs.iter().enumerate() {
        let p = format!("{path}.webex_configs[{j}]");
        webex.extend(super::webex::webex_config(cx, &p, w, g));
    }

    // Upstream's order: webhook, email, slack, pushover, …, sns.
    let mut pushover = Vec::new();
    for (j, c) in v.pushover_configs.iter().enumerate() {
        let p = format!("{path}.pushover_configs[{j}]");
        if let Some(pc) = super::pushover::pushover_config(cx, &p, c, global_http.as_ref()) {
            pushover.push(pc);
        }
    }

    let mut sns = Vec::new();
    for (j, c) in v.sns_configs.iter().enumerate() {
        let p = format!("{path}.sns_configs[{j}]");
        if let Some(sc) = super::sns::sns_config(cx, &p, c, global_http.as_ref()) {
            sns.push(sc);
        }
    }

    Some(Receiver {
        name,
        labels: v.labels.clone(),
        discord,
        email,
        webhook,
        slack,
        msteams,
        msteamsv2,
        rocketchat,
        jira,
        pagerduty,
        opsgenie,
        victorops,
        wechat,
        telegram,
        webex,
        pushover,
        sns,
    })
}

/// One `slack_configs` entry: upstream's `UnmarshalYAML` checks (fields, actions and their
/// confirmation, `api_url` as a URL, at most one of `api_url` & `api_url_file`), then
/// `global.slack_api_url(_file)` inheritance with its "no global Slack API URL" error.
fn slack_config(
    cx: &mut Cx,
    p: &str,
    s: &Spanned<RawSlackConfig>,
    g: &RawGlobal,
    global_http: Option<&RawHttpConfig>,
) -> Option<SlackConfig> {
    let v = &s.value;
    let before = cx.errors.len();
    for (key, field) in v.unsupported() {
        cx.unsupported(field, &format!("{p}.{key}"), &format!("`{key}`"));
    }
    if let Some(h) = &v.http_config {
        http_config(cx, &format!("{p}.http_config"), h);
    }
    let mut fields = Vec::new();
    for (k, f) in v.fields.iter().enumerate() {
        let fp = format!("{p}.fields[{k}]");
        if f.value.title.is_empty() {
            cx.err(
                &f.referenced,
                &fp,
                "missing title in Slack field configuration",
            );
        } else if f.value.value.is_empty() {
            cx.err(
                &f.referenced,
                &fp,
                "missing value in Slack field configuration",
            );
        }
        fields.push(SlackField {
            title: f.value.title.clone(),
            value: f.value.value.clone(),
            short: f.value.short,
        });
    }
    let mut actions = Vec::new();
    for (k, a) in v.actions.iter().enumerate() {
        if let Some(action) = slack_action(cx, &format!("{p}.actions[{k}]"), a) {
            actions.push(action);
        }
    }
    let own_url = match (&v.api_url, &v.api_url_file) {
        (Some(_), Some(_)) => {
            cx.err(
                &s.referenced,
                p,
                "at most one of api_url & api_url_file must be configured",
            );
            None
        }
        (Some(u), None) => match check_url(u.value.expose()) {
            Ok(()) => Some(SecretSource::Inline(u.value.clone())),
            Err(m) => {
                cx.err(&u.referenced, &format!("{p}.api_url"), m);
                None
            }
        },
        (None, Some(f)) => Some(SecretSource::File(cx.file_path(&f.value))),
        (None, None) => match (&g.slack_api_url, &g.slack_api_url_file) {
            // Both set is reported once, under `global`.
            (Some(_), Some(_)) => None,
            (Some(u), None) => Some(SecretSource::Inline(u.value.clone())),
            (None, Some(f)) => Some(SecretSource::File(cx.file_path(&f.value))),
            (None, None) => {
                cx.err(
                    &s.referenced,
                    p,
                    "no global Slack API URL set either inline or in a file",
                );
                None
            }
        },
    };
    if cx.errors.len() > before {
        return None;
    }
    let text = |t: &Option<String>, default: &str| t.clone().unwrap_or_else(|| default.into());
    Some(SlackConfig {
        send_resolved: v.send_resolved.unwrap_or(false),
        api_url: own_url?,
        http_config: v
            .http_config
            .as_ref()
            .map(|h| h.value.clone())
            .or_else(|| global_http.cloned())
            .unwrap_or_default(),
        channel: v.channel.clone().unwrap_or_default(),
        username: text(&v.username, SLACK_USERNAME),
        color: text(&v.color, SLACK_COLOR),
        title: text(&v.title, SLACK_TITLE),
        title_link: text(&v.title_link, SLACK_TITLE_LINK),
        pretext: text(&v.pretext, SLACK_PRETEXT),
        text: text(&v.text, SLACK_TEXT),
        fields,
        short_fields: v.short_fields,
        footer: text(&v.footer, SLACK_FOOTER),
        fallback: text(&v.fallback, SLACK_FALLBACK),
        callback_id: text(&v.callback_id, SLACK_CALLBACK_ID),
        icon_emoji: text(&v.icon_emoji, SLACK_ICON_EMOJI),
        icon_url: text(&v.icon_url, SLACK_ICON_URL),
        image_url: v.image_url.clone().unwrap_or_default(),
        thumb_url: v.thumb_url.clone().unwrap_or_default(),
        link_names: v.link_names,
        mrkdwn_in: v.mrkdwn_in.clone(),
        actions,
    })
}

/// One Slack action as upstream's `SlackAction.UnmarshalYAML` checks and normalises it.
fn slack_action(cx: &mut Cx, p: &str, a: &Spanned<RawSlackAction>) -> Option<SlackAction> {
    let v = &a.value;
    // The confirmation is checked when it is decoded, before the action's own rules (upstream decodes it first).
    if let Some(c) = &v.confirm {
        if c.value.text.is_empty() {
            cx.err(
                &c.referenced,
                &format!("{p}.confirm"),
                "missing text in Slack confirmation configuration",
            );
            return None;
        }
    }
    if v.kind.is_empty() {
        cx.err(
            &a.referenced,
            p,
            "missing type in Slack action configuration",
        );
        return None;
    }
    if v.text.is_empty() {
        cx.err(
            &a.referenced,
            p,
            "missing text in Slack action configuration",
        );
        return None;
    }
    if v.url.is_empty() && v.name.is_empty() {
        cx.err(
            &a.referenced,
            p,
            "missing name or url in Slack action configuration",
        );
        return None;
    }
    let with_url = !v.url.is_empty();
    let keep = |s: &String| if with_url { String::new() } else { s.clone() };
    Some(SlackAction {
        kind: v.kind.clone(),
        text: v.text.clone(),
        url: v.url.clone(),
        style: v.style.clone(),
        name: keep(&v.name),
        value: keep(&v.value),
        confirm: v
            .confirm
            .as_ref()
            .filter(|_| !with_url)
            .map(|c| SlackConfirm {
                text: c.value.text.clone(),
                title: c.value.title.clone(),
                ok_text: c.value.ok_text.clone(),
                dismiss_text: c.value.dismiss_text.clone(),
            }),
    })
}

/// One `email_configs` entry with `global:` SMTP defaults merged, in upstream's check order.
fn email_config(
    cx: &mut Cx,
    p: &str,
    e: &Spanned<RawEmailConfig>,
    g: &RawGlobal,
) -> Option<EmailConfig> {
    let v = &e.value;
    let before = cx.errors.len();
    cx.unsupported(&v.threading, &format!("{p}.threading"), "`threading`");
    if v.to.is_empty() {
        cx.err(&e.referenced, p, "missing to address in email config");
    }
    let mut headers = BTreeMap::new();
    for (k, val) in &v.headers {
        let canon = crate::base::go::canonical_header(k);
        if headers.insert(canon.clone(), val.clone()).is_some() {
            cx.err(
                &e.referenced,
                &format!("{p}.headers"),
                format!("duplicate header {canon:?} in email config"),
            );
        }
    }
    if !v.auth_password.is_empty() && !v.auth_password_file.is_empty() {
        cx.err(
            &e.referenced,
            p,
            "at most one of auth_password & auth_password_file must be configured",
        );
    }
    if !v.auth_secret.is_empty() && !v.auth_secret_file.is_empty() {
        cx.err(
            &e.referenced,
            p,
            "at most one of auth_secret & auth_secret_file must be configured",
        );
    }
    let smarthost = match &v.smarthost {
        Some(sh) if !sh.value.is_empty() => match host_port(&sh.value) {
            Ok(hp) => Some(hp),
            Err(m) => {
                cx.err(&sh.referenced, &format!("{p}.smarthost"), m);
                None
            }
        },
        _ => match &g.smtp_smarthost {
            Some(sh) if !sh.value.is_empty() => host_port(&sh.value).ok(),
            _ => {
                cx.err(&e.referenced, p, "no global SMTP smarthost set");
                None
            }
        },
    };
    let from = if v.from.is_empty() {
        if g.smtp_from.is_empty() {
            cx.err(&e.referenced, p, "no global SMTP from set");
        }
        g.smtp_from.clone()
    } else {
        v.from.clone()
    };
    if let Some(t) = &v.tls_config {
        tls_config(cx, &format!("{p}.tls_config"), t);
    }
    if cx.errors.len() > before {
        return None;
    }
    let or = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    let secret = |inline: &Secret, file: &str| -> Option<SecretSource> {
        if !inline.is_empty() {
            Some(SecretSource::Inline(inline.clone()))
        } else if !file.is_empty() {
            Some(SecretSource::File(cx.file_path(file)))
        } else {
            None
        }
    };
    let auth_password = if v.auth_password.is_empty() && v.auth_password_file.is_empty() {
        secret(&g.smtp_auth_password, &g.smtp_auth_password_file)
    } else {
        secret(&v.auth_password, &v.auth_password_file)
    };
    let auth_secret = if v.auth_secret.is_empty() && v.auth_secret_file.is_empty() {
        secret(&g.smtp_auth_secret, &g.smtp_auth_secret_file)
    } else {
        secret(&v.auth_secret, &v.auth_secret_file)
    };
    Some(EmailConfig {
        send_resolved: v.send_resolved.unwrap_or(false),
        to: v.to.clone(),
        from,
        smarthost: smarthost?,
        hello: or(&v.hello, &g.smtp_hello),
        auth_username: or(&v.auth_username, &g.smtp_auth_username),
        auth_password,
        auth_secret,
        auth_identity: or(&v.auth_identity, &g.smtp_auth_identity),
        require_tls: v.require_tls.unwrap_or(g.smtp_require_tls),
        force_implicit_tls: v.force_implicit_tls.or(g.smtp_force_implicit_tls),
        tls_config: v
            .tls_config
            .as_ref()
            .or(g.smtp_tls_config.as_ref())
            .map(|t| t.value.clone())
            .unwrap_or_default(),
        headers,
        html: v.html.clone().unwrap_or_else(|| EMAIL_HTML.to_string()),
        text: v.text.clone().unwrap_or_default(),
    })
}
