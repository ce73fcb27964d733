//! The http prober's proxy fields (`proxy_url`, `no_proxy`, `proxy_from_environment`,
//! `proxy_connect_header`) and its `oauth2` block, validated by the code the receivers use
//! (`client::proxy`, `client::oauth2`, prometheus/common's texts) and positioned here. The
//! environment is read once, at load, as prometheus/common reads it once per client.

use super::*;
use crate::client::oauth2::{OAuth2Settings, TokenSource};
use crate::client::proxy::{ProxyEnv, ProxySettings};
use crate::client::raw::{RawOAuth2, RawProxyFields};

/// The proxy settings of the block at `path` (`block` positions errors about unset fields).
pub(super) fn proxy_settings(
    cx: &mut Cx,
    path: &str,
    block: &Location,
    fields: RawProxyFields<'_>,
) -> ProxySettings {
    match ProxySettings::from_raw(fields, ProxyEnv::from_process) {
        Ok(p) => p,
        Err(errors) => {
            for e in errors {
                let loc = match e.field {
                    "proxy_url" => fields.proxy_url.map(|f| f.referenced),
                    "no_proxy" => fields.no_proxy.map(|f| f.referenced),
                    "proxy_from_environment" => fields.proxy_from_environment.map(|f| f.referenced),
                    "proxy_connect_header" => fields.proxy_connect_header.map(|f| f.referenced),
                    _ => None,
                };
                cx.err(
                    &loc.unwrap_or(*block),
                    format!("{path}.{}", e.field),
                    e.message,
                );
            }
            ProxySettings::default()
        }
    }
}

/// The `oauth2` block at `path`: its `tls_config`, its proxy fields and the
/// client-credentials rules; the token source (one per module, so its token is cached
/// across probes) sends `user_agent` on token requests, as upstream sends the probe's.
pub(super) fn oauth2(
    cx: &mut Cx,
    path: &str,
    o: &Spanned<RawOAuth2>,
    user_agent: String,
) -> Option<Auth> {
    let before = cx.errors.len();
    let tls = match &o.value.tls_config {
        Some(t) => tls_settings(cx, &format!("{path}.tls_config"), t),
        None => Some(TlsSettings::default()),
    };
    let proxy = proxy_settings(cx, path, &o.referenced, o.value.proxy_fields());
    let settings = OAuth2Settings::from_raw(
        &o.value,
        tls.clone().unwrap_or_default(),
        Path::new(""),
        ProxyEnv::from_process,
    );
    let mut settings = match settings {
        Ok(s) => s,
        Err(errors) => {
            for e in errors {
                // The proxy fields were reported above.
                if e.field.starts_with("proxy") || e.field == "no_proxy" {
                    continue;
                }
                let loc = match e.field {
                    "grant_type" => o.value.grant_type.as_ref().map(|g| g.referenced),
                    _ => None,
                };
                cx.err(
                    &loc.unwrap_or(o.referenced),
                    format!("{path}.{}", e.field),
                    e.message,
                );
            }
            return None;
        }
    };
    if cx.errors.len() > before {
        return None;
    }
    settings.proxy = proxy;
    match TokenSource::new(settings, user_agent) {
        Ok(source) => Some(Auth::OAuth2(Arc::new(source))),
        Err(e) => {
            cx.err(&o.referenced, path, e);
            None
        }
    }
}
