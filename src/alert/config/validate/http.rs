//! An integration's `http_config` and its `tls_config`, with Alertmanager 0.25's texts
//! (prometheus/common of that release).

use super::*;

/// An HTTP integration's `tls_config`: the field rules, then what upstream checks when it
/// builds the integration at start-up and reload (`amtool check-config` does not): the
/// version order and that the CA, certificate and key files load.
fn http_tls_config(cx: &mut Cx, path: &str, t: &Spanned<RawTlsConfig>) {
    let before = cx.errors.len();
    tls_config(cx, path, t);
    let v = &t.value;
    let rank = |s: &str| {
        ["TLS10", "TLS11", "TLS12", "TLS13"]
            .iter()
            .position(|x| *x == s)
    };
    if let (Some(min), Some(max)) = (rank(&v.min_version.value), rank(&v.max_version.value)) {
        if min > max {
            cx.err(
                &v.max_version.referenced,
                &format!("{path}.max_version"),
                "tls_config.max_version must be greater than or equal to tls_config.min_version if both are specified",
            );
        }
    }
    if matches!(v.max_version.value.as_str(), "TLS10" | "TLS11") {
        cx.err(
            &v.max_version.referenced,
            &format!("{path}.max_version"),
            format!(
                "{} is not supported by blackwatch: TLS 1.0 and 1.1 are out of scope (rustls implements TLS 1.2 and 1.3)",
                v.max_version.value
            ),
        );
    }
    if cx.errors.len() > before {
        return;
    }
    let settings = tls_settings(v, cx.base_dir);
    if let Err(e) = crate::client::tls::client_config(&settings, &[]) {
        cx.err(&t.referenced, path, e.to_string());
    }
}

pub(super) fn tls_config(cx: &mut Cx, path: &str, t: &Spanned<RawTlsConfig>) {
    let v = &t.value;
    for (what, set) in [
        ("ca_ref", v.ca_ref.is_some()),
        ("cert_ref", v.cert_ref.is_some()),
        ("key_ref", v.key_ref.is_some()),
    ] {
        if set {
            cx.err(
                &t.referenced,
                &format!("{path}.{what}"),
                format!("`{what}` is not supported yet by blackwatch"),
            );
        }
    }
    if !v.ca.is_empty() && !v.ca_file.is_empty() {
        cx.err(
            &t.referenced,
            path,
            "at most one of ca and ca_file must be configured",
        );
    }
    if !v.cert.is_empty() && !v.cert_file.is_empty() {
        cx.err(
            &t.referenced,
            path,
            "at most one of cert and cert_file must be configured",
        );
    }
    if !v.key.is_empty() && !v.key_file.is_empty() {
        cx.err(
            &t.referenced,
            path,
            "at most one of key and key_file must be configured",
        );
    }
    for ver in [&v.min_version, &v.max_version] {
        if !ver.value.is_empty()
            && !matches!(ver.value.as_str(), "TLS10" | "TLS11" | "TLS12" | "TLS13")
        {
            cx.err(
                &ver.referenced,
                path,
                format!("unknown TLS version: {}", ver.value),
            );
        }
    }
}

pub(super) fn http_config(cx: &mut Cx, path: &str, h: &Spanned<RawHttpConfig>) {
    let v = &h.value;
    if let Some(t) = &v.tls_config {
        http_tls_config(cx, &format!("{path}.tls_config"), t);
    }
    proxy_fields(cx, path, &h.referenced, v.proxy_fields());
    if let Some(o) = &v.oauth2 {
        oauth2(cx, &format!("{path}.oauth2"), o);
    }
    let bearer = v.bearer_token.is_some() || v.bearer_token_file.is_some();
    if v.bearer_token.is_some() && v.bearer_token_file.is_some() {
        cx.err(
            &h.referenced,
            path,
            "at most one of bearer_token & bearer_token_file must be configured",
        );
    }
    if (v.basic_auth.is_some() || v.oauth2.is_some()) && bearer {
        cx.err(
            &h.referenced,
            path,
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        );
    }
    if let (Some(_), Some(o)) = (&v.basic_auth, &v.oauth2) {
        cx.err(
            &o.referenced,
            path,
            "at most one of basic_auth, oauth2 & authorization must be configured",
        );
    }
    if let Some(b) = &v.basic_auth {
        if !b.value.password.is_empty() && !b.value.password_file.is_empty() {
            cx.err(
                &b.referenced,
                &format!("{path}.basic_auth"),
                "at most one of basic_auth password & password_file must be configured",
            );
        }
        if b.value.username_ref.is_some() || b.value.password_ref.is_some() {
            cx.err(
                &b.referenced,
                &format!("{path}.basic_auth"),
                "`username_ref` and `password_ref` are not supported yet by blackwatch",
            );
        }
    }
    if let Some(a) = &v.authorization {
        if bearer {
            cx.err(
                &a.referenced,
                path,
                "authorization is not compatible with bearer_token & bearer_token_file",
            );
        }
        if v.basic_auth.is_some() || v.oauth2.is_some() {
            cx.err(
                &a.referenced,
                path,
                "at most one of basic_auth, oauth2 & authorization must be configured",
            );
        }
        if !a.value.credentials.is_empty() && !a.value.credentials_file.is_empty() {
            cx.err(
                &a.referenced,
                &format!("{path}.authorization"),
                "at most one of authorization credentials & credentials_file must be configured",
            );
        }
        if a.value.kind.eq_ignore_ascii_case("basic") {
            cx.err(
                &a.referenced,
                &format!("{path}.authorization"),
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
            );
        }
        if a.value.credentials_ref.is_some() {
            cx.err(
                &a.referenced,
                &format!("{path}.authorization"),
                "`credentials_ref` is not supported yet by blackwatch",
            );
        }
    }
    if let Some(t) = &v.tls_config {
        tls_config(cx, &format!("{path}.tls_config"), t);
    }
}

/// prometheus/common's `ProxyConfig` rules (`client::proxy`), for the block at `path`
/// (positioned at the field concerned when it is set, else at the block).
fn proxy_fields(
    cx: &mut Cx,
    path: &str,
    block: &Location,
    fields: crate::client::raw::RawProxyFields<'_>,
) {
    let Err(errors) = crate::client::proxy::ProxySettings::from_raw(fields, Default::default)
    else {
        return;
    };
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
            &format!("{path}.{}", e.field),
            e.message,
        );
    }
}

/// An `oauth2` block: prometheus/common's client-credentials rules (`client::oauth2`), its
/// proxy fields and its `tls_config`.
fn oauth2(cx: &mut Cx, path: &str, o: &Spanned<crate::client::raw::RawOAuth2>) {
    if let Some(t) = &o.value.tls_config {
        http_tls_config(cx, &format!("{path}.tls_config"), t);
    }
    proxy_fields(cx, path, &o.referenced, o.value.proxy_fields());
    let result = crate::client::oauth2::OAuth2Settings::from_raw(
        &o.value,
        Default::default(),
        cx.base_dir,
        Default::default,
    );
    for e in result.err().unwrap_or_default() {
        // The proxy fields were reported above.
        if e.field.starts_with("proxy") || e.field == "no_proxy" {
            continue;
        }
        cx.err(&o.referenced, &format!("{path}.{}", e.field), e.message);
    }
}
