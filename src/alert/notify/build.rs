//! Integrations built from a receiver's configuration: one [`Integration`] per
//! `webhook_configs`, `discord_configs`, `email_configs`, `slack_configs`, `pagerduty_configs`,
//! `opsgenie_configs`, `victorops_configs`, `wechat_configs`, `telegram_configs`,
//! `webex_configs`, `pushover_configs`, `sns_configs`, `msteams_configs`,
//! `msteamsv2_configs`, `jira_configs` and `rocketchat_configs` entry, with its
//! notification-log identity, HTTP client settings and credential sources (inline or
//! `*_file`).

use std::path::Path;
use std::sync::Arc;

use crate::alert::config::raw::RawHttpConfig;
use crate::alert::config::{tls_settings, Receiver};
use crate::alert::nflog::IntegrationId;
use crate::alert::notify::jira::Jira;
use crate::alert::notify::msteams::MSTeams;
use crate::alert::notify::msteamsv2::MSTeamsV2;
use crate::alert::notify::pushover::Pushover;
use crate::alert::notify::rocketchat::Rocketchat;
use crate::alert::notify::slack::Slack;
use crate::alert::notify::sns::Sns;
use crate::alert::notify::telegram::Telegram;
use crate::alert::notify::webex::Webex;
use crate::alert::notify::webhook::{Webhook, WebhookSettings};
use crate::alert::notify::wechat::Wechat;
use crate::alert::notify::{FailReason, Integration, NotifyError};
use crate::client::oauth2::{OAuth2Settings, TokenSource};
use crate::client::proxy::{ProxyEnv, ProxySettings};
use crate::client::{Auth, Header, HttpClientSettings, RequestHeaders};

/// Builds the integrations of one receiver; one that cannot be built (its TLS files, its
/// header names) is reported in the returned error list and left out.
pub fn build_integrations(
    r: &Receiver,
    client: &reqwest::Client,
    base_dir: &std::path::Path,
    templates: &Arc<crate::alert::notify::render::TemplateSet>,
) -> (Vec<(IntegrationId, Integration)>, Vec<String>) {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for (index, w) in r.webhook.iter().enumerate() {
        let url = w.url.clone();
        let id = IntegrationId {
            receiver: r.name.clone(),
            integration: "webhook".into(),
            index,
        };
        let built = client_settings(&w.http_config, base_dir).and_then(|s| {
            let c = http_client(&s, client).map_err(|e| e.to_string())?;
            Ok((c, s.headers))
        });
        let (client, headers) = match built {
            Ok(b) => b,
            Err(e) => {
                missing.push(format!(
                    "receiver {:?}: webhook_configs[{index}]: {e}",
                    r.name
                ));
                continue;
            }
        };
        let settings = WebhookSettings {
            url,
            max_alerts: usize::try_from(w.max_alerts).unwrap_or(usize::MAX),
            timeout: (!w.timeout.is_zero()).then_some(w.timeout),
            headers,
        };
        out.push((
            id,
            Integration {
                notifier: Arc::new(Webhook::new(settings, client.clone())),
                index,
                send_resolved: w.send_resolved,
            },
        ));
    }
    let (more, errors) =
        crate::alert::notify::render::build_discord_email(r, client, base_dir, templates);
    out.extend(more);
    missing.extend(errors);
    // The HTTP-API integrations: each built from its config, the shared client and templates.
    macro_rules! build_each {
        ($($list:ident => $kind:literal, $new:path;)*) => {$(
            for (index, c) in r.$list.iter().enumerate() {
                let built = $new(c.clone(), templates.clone(), client, base_dir);
                push_built(&mut out, &mut missing, r, $kind, index, c.send_resolved, built);
            }
        )*};
    }
    build_each! {
        slack => "slack", Slack::new;
        pagerduty => "pagerduty", crate::alert::notify::pagerduty::Pagerduty::new;
        opsgenie => "opsgenie", crate::alert::notify::opsgenie::Opsgenie::new;
        victorops => "victorops", crate::alert::notify::victorops::VictorOps::new;
        wechat => "wechat", Wechat::new;
        telegram => "telegram", Telegram::new;
        webex => "webex", Webex::new;
        pushover => "pushover", Pushover::new;
        sns => "sns", Sns::new;
        msteams => "msteams", MSTeams::new;
        msteamsv2 => "msteamsv2", MSTeamsV2::new;
        jira => "jira", Jira::new;
        rocketchat => "rocketchat", Rocketchat::new;
    }
    (out, missing)
}

/// Adds one built integration (`name` its kind, as in `<name>_configs[index]`), or the
/// reason it could not be built.
fn push_built<N: crate::alert::notify::Notifier + 'static>(
    out: &mut Vec<(IntegrationId, Integration)>,
    missing: &mut Vec<String>,
    r: &Receiver,
    name: &str,
    index: usize,
    send_resolved: bool,
    built: Result<N, NotifyError>,
) {
    match built {
        Ok(n) => out.push((
            IntegrationId {
                receiver: r.name.clone(),
                integration: name.into(),
                index,
            },
            Integration {
                notifier: Arc::new(n),
                index,
                send_resolved,
            },
        )),
        Err(e) => missing.push(format!(
            "receiver {:?}: {name}_configs[{index}]: {e}",
            r.name
        )),
    }
}

/// The client for an integration's `http_config` (`client::reqwest_client::build`): the
/// shared one unless its TLS, redirect or proxy settings differ from the defaults. TLS files
/// are read here, when the integration is built (start-up and reload).
pub fn http_client(
    h: &HttpClientSettings,
    shared: &reqwest::Client,
) -> Result<reqwest::Client, NotifyError> {
    crate::client::reqwest_client::build(h, Some(shared))
        .map_err(|e| NotifyError::new(false, FailReason::Other, e))
}

/// An integration's `http_config` as the client settings the http prober uses too
/// (`client::HttpClientSettings`); relative file names are taken from `base_dir`.
/// Credential and header files are read at every send; an `oauth2` block becomes a token
/// source of its own (a fresh token cache per build); `proxy_from_environment` reads the
/// environment now.
pub(crate) fn client_settings(
    h: &RawHttpConfig,
    base_dir: &Path,
) -> Result<HttpClientSettings, String> {
    let field_errors = |e: Vec<crate::client::FieldError>| {
        e.into_iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let auth = match &h.oauth2 {
        Some(o) => {
            let tls = o
                .value
                .tls_config
                .as_ref()
                .map(|t| tls_settings(&t.value, base_dir))
                .unwrap_or_default();
            let settings =
                OAuth2Settings::from_raw(&o.value, tls, base_dir, ProxyEnv::from_process)
                    .map_err(|e| format!("oauth2: {}", field_errors(e)))?;
            let user_agent = format!("blackwatch/{}", env!("CARGO_PKG_VERSION"));
            Some(Auth::OAuth2(Arc::new(TokenSource::new(
                settings, user_agent,
            )?)))
        }
        None => Auth::from_raw(
            h.basic_auth.as_ref().map(|b| &b.value),
            h.authorization.as_ref().map(|a| &a.value),
            h.bearer_token.as_ref().map(|t| &t.value),
            h.bearer_token_file.as_ref().map(|f| f.value.as_str()),
            base_dir,
        ),
    };
    let proxy =
        ProxySettings::from_raw(h.proxy_fields(), ProxyEnv::from_process).map_err(field_errors)?;
    let mut headers = Vec::new();
    for (name, v) in &h.http_headers {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("http_headers: invalid header name {name:?}"))?;
        headers.push(Header::from_raw(name, &v.value, base_dir));
    }
    Ok(HttpClientSettings {
        headers: RequestHeaders { auth, headers },
        tls: h
            .tls_config
            .as_ref()
            .map(|t| tls_settings(&t.value, base_dir)),
        follow_redirects: h.follow_redirects,
        enable_http2: h.enable_http2,
        proxy,
    })
}
