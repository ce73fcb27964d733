//! Integrations built from a receiver's configuration: one [`Integration`] per
//! `webhook_configs`, `discord_configs` and `email_configs` entry, with its notification-log
//! identity, HTTP client settings and credential sources (inline or `*_file`).

use std::sync::Arc;

use crate::alert::config::Receiver;
use crate::alert::nflog::IntegrationId;
use crate::alert::notify::webhook::{HeaderSource, UrlSource, Webhook, WebhookSettings};
use crate::alert::notify::Integration;
use crate::config::raw::Secret;

/// Builds the integrations of one receiver. Integrations this build does not have yet
/// (Discord, e-mail) are reported in the returned error list and left out.
pub fn build_integrations(
    r: &Receiver,
    client: &reqwest::Client,
    base_dir: &std::path::Path,
    templates: &Arc<crate::alert::notify::render::TemplateSet>,
) -> (Vec<(IntegrationId, Integration)>, Vec<String>) {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for (index, w) in r.webhook.iter().enumerate() {
        let url = match &w.url {
            crate::alert::config::SecretSource::Inline(s) => UrlSource::Inline(s.clone()),
            crate::alert::config::SecretSource::File(p) => UrlSource::File(p.clone()),
        };
        let headers = http_headers(&w.http_config, base_dir);
        let settings = WebhookSettings {
            url,
            max_alerts: usize::try_from(w.max_alerts).unwrap_or(usize::MAX),
            timeout: (!w.timeout.is_zero()).then_some(w.timeout),
            headers,
        };
        out.push((
            IntegrationId {
                receiver: r.name.clone(),
                integration: "webhook".into(),
                index,
            },
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
    (out, missing)
}

/// Request headers from a webhook's `http_config`: basic auth, authorization (or the old
/// `bearer_token`), and `http_headers`. Relative file names are taken from `base_dir`.
fn http_headers(
    h: &crate::alert::config::raw::RawHttpConfig,
    base_dir: &std::path::Path,
) -> Vec<(String, HeaderSource)> {
    let file = |f: &str| base_dir.join(f);
    let mut out = Vec::new();
    if let Some(b) = &h.basic_auth {
        let b = &b.value;
        out.push((
            "Authorization".to_string(),
            HeaderSource::Basic {
                username: if b.username.is_empty() && !b.username_file.is_empty() {
                    std::fs::read_to_string(file(&b.username_file))
                        .map(|s| s.trim().to_string())
                        .unwrap_or_default()
                } else {
                    b.username.clone()
                },
                password: (!b.password.is_empty()).then(|| b.password.clone()),
                password_file: (!b.password_file.is_empty()).then(|| file(&b.password_file)),
            },
        ));
    }
    if let Some(a) = &h.authorization {
        let a = &a.value;
        let kind = if a.kind.is_empty() {
            "Bearer"
        } else {
            a.kind.as_str()
        };
        let source = if !a.credentials_file.is_empty() {
            HeaderSource::File {
                prefix: format!("{kind} "),
                path: file(&a.credentials_file),
            }
        } else {
            HeaderSource::Inline(Secret::new(format!("{kind} {}", a.credentials.expose())))
        };
        out.push(("Authorization".to_string(), source));
    }
    if let Some(t) = &h.bearer_token {
        out.push((
            "Authorization".to_string(),
            HeaderSource::Inline(Secret::new(format!("Bearer {}", t.value.expose()))),
        ));
    }
    if let Some(f) = &h.bearer_token_file {
        out.push((
            "Authorization".to_string(),
            HeaderSource::File {
                prefix: "Bearer ".to_string(),
                path: file(&f.value),
            },
        ));
    }
    for (name, v) in &h.http_headers {
        let v = &v.value;
        for value in &v.values {
            out.push((
                name.clone(),
                HeaderSource::Inline(Secret::new(value.clone())),
            ));
        }
        for value in &v.secrets {
            out.push((name.clone(), HeaderSource::Inline(value.clone())));
        }
        for f in &v.files {
            out.push((
                name.clone(),
                HeaderSource::File {
                    prefix: String::new(),
                    path: file(f),
                },
            ));
        }
    }
    out
}
