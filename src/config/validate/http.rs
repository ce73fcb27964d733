//! The `http:` prober block: status codes, versions, method, headers and their matchers,
//! body and compression, and prometheus/common's client settings (credentials,
//! `http_headers`; TLS is `tls.rs`). Texts follow blackbox_exporter and prometheus/common.

use super::*;

/// Request headers prometheus/common refuses in `http_headers`.
const RESERVED_HEADERS: &[&str] = &[
    "Authorization",
    "Host",
    "Content-Encoding",
    "Content-Length",
    "Content-Type",
    "User-Agent",
    "Connection",
    "Keep-Alive",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Www-Authenticate",
    "Accept-Encoding",
    "X-Prometheus-Remote-Write-Version",
    "X-Prometheus-Remote-Read-Version",
    "X-Prometheus-Scrape-Timeout-Seconds",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "X-Amz-Content-Sha256",
];

/// The `http:` block of module `path`, every problem pushed into `cx`.
pub(super) fn http(cx: &mut Cx, path: &str, block: &Spanned<RawHttpProbe>) -> Option<HttpModule> {
    let h = &block.value;
    let valid_status_codes = status_codes(cx, path, h);
    refuse_unsupported(cx, path, h);
    let body = request_body(cx, path, h);
    let compression = compression(cx, path, h);
    check_headers(cx, path, h);
    let method = match ::http::Method::from_bytes(h.method.value.as_bytes()) {
        Ok(m) => m,
        Err(_) => {
            cx.err(
                &h.method.referenced,
                format!("{path}.method"),
                format!("invalid HTTP method {:?}", h.method.value),
            );
            ::http::Method::GET
        }
    };

    let fail_if_body_matches = regexes(
        cx,
        &format!("{path}.fail_if_body_matches_regexp"),
        &h.fail_if_body_matches_regexp,
    );
    let fail_if_body_not_matches = regexes(
        cx,
        &format!("{path}.fail_if_body_not_matches_regexp"),
        &h.fail_if_body_not_matches_regexp,
    );
    let fail_if_header_matches = header_matchers(
        cx,
        &format!("{path}.fail_if_header_matches"),
        &h.fail_if_header_matches,
    );
    let fail_if_header_not_matches = header_matchers(
        cx,
        &format!("{path}.fail_if_header_not_matches"),
        &h.fail_if_header_not_matches,
    );

    let fail_if_body_json_matches_cel = cel(
        cx,
        &format!("{path}.fail_if_body_json_matches_cel"),
        &h.fail_if_body_json_matches_cel,
    );
    let fail_if_body_json_not_matches_cel = cel(
        cx,
        &format!("{path}.fail_if_body_json_not_matches_cel"),
        &h.fail_if_body_json_not_matches_cel,
    );

    // The token request carries the probe's User-Agent, as upstream's does.
    let user_agent = h
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
        .map(|(_, v)| v.value.clone())
        .unwrap_or_else(crate::probe::http::user_agent);
    let auth = http_auth(cx, path, h.auth_fields(), user_agent);
    let tls = tls_settings(cx, &format!("{path}.tls_config"), &h.tls_config);
    let proxy = http_client::proxy_settings(cx, path, &block.referenced, h.proxy_fields());

    let extra_headers = http_headers(cx, path, &h.http_headers);
    Some(HttpModule {
        valid_status_codes,
        valid_http_versions: h
            .valid_http_versions
            .iter()
            .map(|v| v.value.clone())
            .collect(),
        ip: IpPreference::from_config(&h.preferred_ip_protocol, h.ip_protocol_fallback),
        fail_if_ssl: h.fail_if_ssl,
        fail_if_not_ssl: h.fail_if_not_ssl,
        method,
        headers: h
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect(),
        fail_if_body_matches,
        fail_if_body_not_matches,
        fail_if_header_matches,
        fail_if_header_not_matches,
        fail_if_body_json_matches_cel,
        fail_if_body_json_not_matches_cel,
        body,
        compression,
        body_size_limit: u64::try_from(h.body_size_limit).unwrap_or(0),
        client: HttpClientSettings {
            headers: RequestHeaders {
                auth,
                headers: extra_headers,
            },
            tls: Some(tls?),
            follow_redirects: match h.no_follow_redirects {
                Some(no) => !no,
                None => h.follow_redirects,
            },
            enable_http2: h.enable_http2,
            proxy,
        },
        skip_resolve_phase_with_proxy: h.skip_resolve_phase_with_proxy,
    })
}

/// `valid_status_codes`: each between 100 and 999 (empty means 2xx).
fn status_codes(cx: &mut Cx, path: &str, h: &RawHttpProbe) -> Vec<u16> {
    let mut valid_status_codes = Vec::new();
    for (i, c) in h.valid_status_codes.iter().enumerate() {
        match u16::try_from(c.value) {
            Ok(code) if (100..=999).contains(&code) => valid_status_codes.push(code),
            _ => cx.err(
                &c.referenced,
                format!("{path}.valid_status_codes[{i}]"),
                format!(
                    "invalid HTTP status code {}: must be between 100 and 999",
                    c.value
                ),
            ),
        }
    }

    valid_status_codes
}

/// Fields blackwatch refuses by name (HTTP/3) rather than ignore.
fn refuse_unsupported(cx: &mut Cx, path: &str, h: &RawHttpProbe) {
    if h.enable_http3.value {
        cx.err(
            &h.enable_http3.referenced,
            format!("{path}.enable_http3"),
            "HTTP/3 is not supported yet by blackwatch",
        );
    }
    for (i, v) in h.valid_http_versions.iter().enumerate() {
        if v.value == "HTTP/3.0" && !h.enable_http3.value {
            cx.err(
                &v.referenced,
                format!("{path}.valid_http_versions[{i}]"),
                "HTTP/3 cannot be used as a valid HTTP version when enable_http3 is false",
            );
        }
    }
}

/// A CEL option, compiled as upstream's `NewCELProgram` (its message, plus the reason).
fn cel(cx: &mut Cx, path: &str, field: &Option<Spanned<String>>) -> Option<CelProgram> {
    let f = field.as_ref()?;
    match CelProgram::compile(&f.value) {
        Ok(p) => Some(p),
        Err(e) => {
            cx.err(
                &f.referenced,
                path,
                format!(
                    "\"Could not compile CEL program\" expression=\"{}\": {e}",
                    f.value
                ),
            );
            None
        }
    }
}

/// `body` or `body_file` (not both).
fn request_body(cx: &mut Cx, path: &str, h: &RawHttpProbe) -> Option<RequestBody> {
    match (&h.body, &h.body_file) {
        (Some(_), Some(f)) => {
            cx.err(
                &f.referenced,
                format!("{path}.body_file"),
                "setting body and body_file both are not allowed",
            );
            None
        }
        (Some(b), None) => Some(RequestBody::Inline(bytes::Bytes::from(b.clone()))),
        (None, Some(f)) => Some(RequestBody::File(PathBuf::from(&f.value))),
        (None, None) => None,
    }
}

/// `compression`, which a configured `Accept-Encoding` header must accept.
fn compression(cx: &mut Cx, path: &str, h: &RawHttpProbe) -> Option<Compression> {
    let compression = match h.compression.value.to_ascii_lowercase().as_str() {
        "" => None,
        "gzip" => Some(Compression::Gzip),
        "br" => Some(Compression::Brotli),
        "deflate" => Some(Compression::Deflate),
        "identity" => Some(Compression::Identity),
        other => {
            cx.err(
                &h.compression.referenced,
                format!("{path}.compression"),
                format!(
                    "unknown compression \"{other}\": must be one of gzip, br, deflate, identity"
                ),
            );
            None
        }
    };
    if let Some(c) = compression {
        for (k, v) in &h.headers {
            if k.eq_ignore_ascii_case("accept-encoding")
                && !is_encoding_acceptable(c.token(), &v.value)
            {
                cx.err(
                    &h.compression.referenced,
                    format!("{path}.compression"),
                    format!(
                        "invalid configuration \"{k}: {}\", \"compression: {}\"",
                        v.value, h.compression.value
                    ),
                );
            }
        }
    }
    compression
}

/// `headers`: valid HTTP header names and values.
fn check_headers(cx: &mut Cx, path: &str, h: &RawHttpProbe) {
    for (k, v) in &h.headers {
        if HeaderName::from_bytes(k.as_bytes()).is_err() {
            cx.err(
                &v.referenced,
                format!("{path}.headers.{k}"),
                format!("invalid HTTP header name {k:?}"),
            );
        } else if ::http::HeaderValue::from_str(&v.value).is_err() {
            cx.err(
                &v.referenced,
                format!("{path}.headers.{k}"),
                format!("invalid HTTP header value {:?}", v.value),
            );
        }
    }
}

/// `http_headers` (prometheus/common): valid names, none of the reserved ones.
pub(super) fn http_headers(
    cx: &mut Cx,
    path: &str,
    http_headers: &BTreeMap<String, Spanned<RawHttpHeader>>,
) -> Vec<crate::client::Header> {
    let mut extra_headers = Vec::new();
    for (name, hdr) in http_headers {
        let canonical = canonical_header(name);
        if RESERVED_HEADERS.contains(&canonical.as_str()) {
            cx.err(
                &hdr.referenced,
                format!("{path}.http_headers.{name}"),
                format!("setting header \"{canonical}\" is not allowed"),
            );
            continue;
        }
        match HeaderName::from_bytes(name.as_bytes()) {
            Ok(n) => extra_headers.push(crate::client::Header::from_raw(
                n,
                &hdr.value,
                Path::new(""),
            )),
            Err(_) => cx.err(
                &hdr.referenced,
                format!("{path}.http_headers.{name}"),
                "invalid HTTP header name",
            ),
        }
    }
    extra_headers
}

/// blackbox's Accept-Encoding check: the configured header must accept the encoding (or `*`)
/// with a q-value above zero. No compression (`""`) and an empty header are always acceptable.
pub fn is_encoding_acceptable(encoding: &str, header: &str) -> bool {
    if encoding.is_empty() || header.trim().is_empty() {
        return true;
    }
    let mut entries: Vec<(String, f64)> = header
        .split(',')
        .filter_map(|part| {
            let mut it = part.split(';');
            let name = it.next()?.trim().to_ascii_lowercase();
            if name.is_empty() {
                return None;
            }
            let mut q = 1.0;
            for param in it {
                let param = param.trim();
                if let Some(v) = param.strip_prefix("q=") {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
            Some((name, q))
        })
        .collect();
    crate::base::sort::sort_by(&mut entries, |a, b| {
        b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal)
    });
    entries
        .iter()
        .any(|(name, q)| *q > 0.0 && (name == encoding || name == "*"))
}

fn header_matchers(cx: &mut Cx, path: &str, list: &[Spanned<RawHeaderMatch>]) -> Vec<HeaderMatch> {
    let mut out = Vec::new();
    for (i, m) in list.iter().enumerate() {
        let p = format!("{path}[{i}]");
        if m.value.header.is_empty() {
            cx.err(
                &m.referenced,
                &p,
                "header name must be set for HTTP header matchers",
            );
            continue;
        }
        if m.value.regexp.is_empty() {
            cx.err(
                &m.referenced,
                &p,
                "regexp must be set for HTTP header matchers",
            );
            continue;
        }
        let Ok(header) = HeaderName::from_bytes(m.value.header.as_bytes()) else {
            cx.err(
                &m.referenced,
                format!("{p}.header"),
                "invalid HTTP header name",
            );
            continue;
        };
        match compile_regex(&m.value.regexp) {
            Ok(regexp) => out.push(HeaderMatch {
                header,
                regexp,
                allow_missing: m.value.allow_missing,
            }),
            Err(e) => cx.err(&m.referenced, format!("{p}.regexp"), e),
        }
    }
    out
}

/// The credentials of the block, after prometheus/common's `HTTPClientConfig.Validate`
/// checks in upstream's order (one long sequence on purpose: each check and its text maps
/// to one upstream `if`, which keeps them comparable line by line).
pub(super) fn http_auth(
    cx: &mut Cx,
    path: &str,
    h: crate::client::raw::RawAuthFields<'_>,
    user_agent: String,
) -> Option<Auth> {
    let bearer = h.bearer_token.as_ref().filter(|s| !s.value.is_empty());
    let bearer_file = h.bearer_token_file.as_ref().filter(|s| !s.value.is_empty());
    let has_bearer = bearer.is_some();
    let has_bearer_file = bearer_file.is_some();
    // Where a bearer-token conflict is reported: the token field that is set.
    let bearer_at = match (bearer, bearer_file) {
        (_, Some(f)) => Some((f.referenced, format!("{path}.bearer_token_file"))),
        (Some(t), None) => Some((t.referenced, format!("{path}.bearer_token"))),
        (None, None) => None,
    };
    if let (true, Some((loc, p))) = (has_bearer && has_bearer_file, &bearer_at) {
        cx.err(
            loc,
            p,
            "at most one of bearer_token & bearer_token_file must be configured",
        );
    }
    if let (true, Some((loc, p))) = (h.basic_auth.is_some() || h.oauth2.is_some(), &bearer_at) {
        cx.err(
            loc,
            p,
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        );
    }
    if let (Some(a), Some(_)) = (&h.authorization, &bearer_at) {
        cx.err(
            &a.referenced,
            format!("{path}.authorization"),
            "authorization is not compatible with bearer_token & bearer_token_file",
        );
    }
    if let (Some(a), true) = (
        &h.authorization,
        h.basic_auth.is_some() || h.oauth2.is_some(),
    ) {
        cx.err(
            &a.referenced,
            format!("{path}.authorization"),
            "at most one of basic_auth, oauth2 & authorization must be configured",
        );
    }
    if let (Some(o), Some(_)) = (&h.oauth2, &h.basic_auth) {
        cx.err(
            &o.referenced,
            format!("{path}.oauth2"),
            "at most one of basic_auth, oauth2 & authorization must be configured",
        );
    }
    if let Some(o) = &h.oauth2 {
        return http_client::oauth2(cx, &format!("{path}.oauth2"), o, user_agent);
    }
    if let Some(ba) = &h.basic_auth {
        let b = &ba.value;
        let p = format!("{path}.basic_auth");
        let users = [
            !b.username.is_empty(),
            !b.username_file.is_empty(),
            b.username_ref.is_some(),
        ];
        if users.iter().filter(|x| **x).count() > 1 {
            cx.err(
                &ba.referenced,
                &p,
                "at most one of basic_auth username, username_file & username_ref must be configured",
            );
        }
        let pws = [
            !b.password.is_empty(),
            !b.password_file.is_empty(),
            b.password_ref.is_some(),
        ];
        if pws.iter().filter(|x| **x).count() > 1 {
            cx.err(
                &ba.referenced,
                &p,
                "at most one of basic_auth password, password_file & password_ref must be configured",
            );
        }
        if b.username_ref.is_some() || b.password_ref.is_some() {
            cx.err(&ba.referenced, &p, "username_ref and password_ref need a secret manager, which blackwatch does not have; use the *_file form");
        }
    }
    // With basic_auth set, the conflict above is the one error about authorization.
    if h.basic_auth.is_none() {
        if let Some(a) = &h.authorization {
            let v = &a.value;
            let p = format!("{path}.authorization");
            if v.kind.eq_ignore_ascii_case("basic") {
                cx.err(
                    &a.referenced,
                    &p,
                    format!(
                        "authorization type cannot be set to \"{}\", use \"basic_auth\" instead",
                        v.kind.to_ascii_lowercase()
                    ),
                );
            }
            if !v.credentials.is_empty() && !v.credentials_file.is_empty() {
                cx.err(
                    &a.referenced,
                    &p,
                    "at most one of authorization credentials & credentials_file must be configured",
                );
            }
            if v.credentials_ref.is_some() {
                cx.err(&a.referenced, &p, "credentials_ref needs a secret manager, which blackwatch does not have; use credentials_file");
            }
        }
    }
    Auth::from_raw(
        h.basic_auth.as_ref().map(|b| &b.value),
        h.authorization.as_ref().map(|a| &a.value),
        bearer.map(|t| &t.value),
        bearer_file.map(|f| f.value.as_str()),
        Path::new(""),
    )
}
