//! The `websocket:` prober block (blackbox_exporter master): `http_config` validated as the
//! full prometheus/common HTTPClientConfig (by the http block's validator, so with the same
//! texts), `headers`, `query_response` (`expect` and `send` only), IP preference.
//!
//! Upstream validates `http_config` whole but uses only `tls_config`, `basic_auth` and
//! `authorization` (which `bearer_token*` turn into); blackwatch refuses, by name, the fields
//! it would otherwise ignore silently: `oauth2`, the proxy fields, `http_headers`, and
//! `expect_bytes` / `labels` / `starttls` in `query_response`.

use super::http::http;
use super::tcp::query_response;
use super::*;

pub(super) fn websocket(
    cx: &mut Cx,
    path: &str,
    block: &Spanned<RawWebsocketProbe>,
) -> Option<WebsocketModule> {
    let w = &block.value;
    let hc_path = format!("{path}.http_config");
    let hc = &w.http_config.value;
    let ignored = "is not used by the websocket prober (blackbox_exporter ignores it)";
    let mut refuse = |loc: Option<&Location>, field: &str| {
        if let Some(loc) = loc {
            cx.err(
                loc,
                format!("{hc_path}.{field}"),
                format!("{field} {ignored}"),
            );
        }
    };
    refuse(hc.oauth2.as_ref().map(|f| &f.referenced), "oauth2");
    refuse(hc.proxy_url.as_ref().map(|f| &f.referenced), "proxy_url");
    refuse(hc.no_proxy.as_ref().map(|f| &f.referenced), "no_proxy");
    refuse(
        hc.proxy_from_environment.as_ref().map(|f| &f.referenced),
        "proxy_from_environment",
    );
    refuse(
        hc.proxy_connect_header.as_ref().map(|f| &f.referenced),
        "proxy_connect_header",
    );
    refuse(
        hc.http_headers.values().next().map(|f| &f.referenced),
        "http_headers",
    );

    // The credential and TLS fields, checked by the http block's validator.
    let client_fields = RawHttpProbe {
        basic_auth: hc.basic_auth.clone(),
        authorization: hc.authorization.clone(),
        bearer_token: hc.bearer_token.clone(),
        bearer_token_file: hc.bearer_token_file.clone(),
        tls_config: hc.tls_config.clone(),
        ..RawHttpProbe::default()
    };
    let client = http(
        cx,
        &hc_path,
        &Spanned::new(
            client_fields,
            w.http_config.referenced,
            w.http_config.defined,
        ),
    )
    .map(|m| m.client);

    let mut headers = Vec::new();
    for (name, h) in &w.headers {
        match ::http::header::HeaderName::from_bytes(name.as_bytes()) {
            Ok(n) => headers.push(crate::client::Header::from_raw(
                n,
                &h.value.0,
                Path::new(""),
            )),
            Err(_) => cx.err(
                &h.referenced,
                format!("{path}.headers.{name}"),
                format!("invalid HTTP header name {name:?}"),
            ),
        }
    }

    for (i, q) in w.query_response.iter().enumerate() {
        let v = &q.value;
        for (set, field) in [
            (v.expect_bytes.is_some(), "expect_bytes"),
            (!v.labels.is_empty(), "labels"),
            (v.starttls, "starttls"),
        ] {
            if set {
                cx.err(
                    &q.referenced,
                    format!("{path}.query_response[{i}].{field}"),
                    format!("{field} {ignored}"),
                );
            }
        }
    }
    let steps = query_response(cx, path, &w.query_response);

    let client = client?;
    Some(WebsocketModule {
        ip: IpPreference::from_config(&w.preferred_ip_protocol, w.ip_protocol_fallback),
        auth: client.headers.auth,
        tls_config: client.tls.unwrap_or_default(),
        headers,
        query_response: steps,
    })
}
