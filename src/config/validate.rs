//! Raw config → domain types. The only place that interprets config values; it keeps going
//! after the first problem and returns every error with its file, line, column and field path.
//! Messages reuse blackbox_exporter's wording where one exists, so users can search for them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::header::HeaderName;
use regex::bytes::{Regex, RegexBuilder};
use serde_saphyr::{Location, Spanned};

use super::raw::*;
use crate::base::go::canonical_header;
use crate::base::yaml::Unsupported;
use crate::base::{ConfigError, SecretSource};
use crate::probe::module::*;

/// Collects errors for one file.
pub(crate) struct Cx {
    file: PathBuf,
    pub(crate) errors: Vec<ConfigError>,
}

impl Cx {
    pub(crate) fn new(file: &Path) -> Self {
        Self {
            file: file.to_path_buf(),
            errors: Vec::new(),
        }
    }

    fn err(&mut self, loc: &Location, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.clone(),
            line: loc.line(),
            column: loc.column(),
            path: path.into(),
            message: message.into(),
        });
    }
}

/// Compiles a regex with RE2-compatible settings: unanchored, size-limited.
pub fn compile_regex(re: &str) -> Result<Regex, String> {
    RegexBuilder::new(re)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            let detail = e.to_string();
            let last = detail.lines().last().unwrap_or_default().trim();
            let last = last.strip_prefix("error: ").unwrap_or(last);
            format!("could not compile regular expression {re:?}: {last}")
        })
}

fn regexes(cx: &mut Cx, path: &str, list: &[Spanned<String>]) -> Vec<Regex> {
    let mut out = Vec::new();
    for (i, re) in list.iter().enumerate() {
        match compile_regex(&re.value) {
            Ok(r) => out.push(r),
            Err(m) => cx.err(&re.referenced, format!("{path}[{i}]"), m),
        }
    }
    out
}

fn unsupported(cx: &mut Cx, field: &Option<Spanned<Unsupported>>, path: &str, what: &str) {
    if let Some(f) = field {
        cx.err(
            &f.referenced,
            path,
            format!("{what} is not supported yet by blackwatch"),
        );
    }
}

/// Validates every module; returns the domain modules, or pushes errors into `cx`.
pub(crate) fn modules(
    cx: &mut Cx,
    raw: &mut RawConfig,
) -> BTreeMap<String, Arc<crate::probe::Module>> {
    let mut out = BTreeMap::new();
    for (name, m) in raw.modules.iter_mut() {
        let path = format!("modules.{name}");
        if let Some(module) = module(cx, &path, name, m) {
            out.insert(name.clone(), Arc::new(module));
        }
    }
    out
}

fn module(
    cx: &mut Cx,
    path: &str,
    name: &str,
    m: &mut Spanned<RawModule>,
) -> Option<crate::probe::Module> {
    let before = cx.errors.len();
    let raw = &mut m.value;
    for (field, block) in [
        ("grpc", &raw.grpc),
        ("unix", &raw.unix),
        ("websocket", &raw.websocket),
    ] {
        unsupported(
            cx,
            block,
            &format!("{path}.{field}"),
            &format!("the {field} prober"),
        );
    }
    let prober_loc = raw.prober.referenced;
    let prober = match raw.prober.value.as_str() {
        "http" => http(cx, &format!("{path}.http"), &raw.http).map(Prober::Http),
        "tcp" => tcp(cx, &format!("{path}.tcp"), &raw.tcp).map(Prober::Tcp),
        "icmp" => icmp(cx, &format!("{path}.icmp"), &raw.icmp).map(Prober::Icmp),
        "dns" => {
            let d = raw.dns.get_or_insert_with(|| {
                // Upstream quirk: with no `dns:` block at all the probe asks for `.`.
                let d = RawDnsProbe {
                    query_name: ".".to_string(),
                    ..RawDnsProbe::default()
                };
                Spanned::new(d, Location::UNKNOWN, Location::UNKNOWN)
            });
            dns(cx, &format!("{path}.dns"), d).map(Prober::Dns)
        }
        p @ ("grpc" | "unix" | "websocket") => {
            cx.err(
                &prober_loc,
                format!("{path}.prober"),
                format!("prober '{p}' is not supported yet by blackwatch"),
            );
            None
        }
        other => {
            cx.err(
                &prober_loc,
                format!("{path}.prober"),
                format!("prober '{other}' is not valid"),
            );
            None
        }
    };
    if cx.errors.len() > before {
        return None;
    }
    Some(crate::probe::Module {
        name: name.to_string(),
        timeout: raw.timeout,
        prober: prober?,
        yaml: serde_saphyr::to_string(&*raw)
            .unwrap_or_else(|e| format!("# could not render the module: {e}\n")),
    })
}

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

fn http(cx: &mut Cx, path: &str, block: &Spanned<RawHttpProbe>) -> Option<HttpModule> {
    let h = &block.value;

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

    unsupported(
        cx,
        &h.fail_if_body_json_matches_cel,
        &format!("{path}.fail_if_body_json_matches_cel"),
        "CEL body matching",
    );
    unsupported(
        cx,
        &h.fail_if_body_json_not_matches_cel,
        &format!("{path}.fail_if_body_json_not_matches_cel"),
        "CEL body matching",
    );
    unsupported(cx, &h.oauth2, &format!("{path}.oauth2"), "oauth2");
    unsupported(
        cx,
        &h.proxy_url,
        &format!("{path}.proxy_url"),
        "proxying (proxy_url)",
    );
    unsupported(
        cx,
        &h.no_proxy,
        &format!("{path}.no_proxy"),
        "proxying (no_proxy)",
    );
    unsupported(
        cx,
        &h.proxy_from_environment,
        &format!("{path}.proxy_from_environment"),
        "proxying (proxy_from_environment)",
    );
    unsupported(
        cx,
        &h.proxy_connect_header,
        &format!("{path}.proxy_connect_header"),
        "proxying (proxy_connect_header)",
    );
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

    // Request body.
    let body = match (&h.body, &h.body_file) {
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
    };

    // Compression and its agreement with a configured Accept-Encoding.
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

    // Headers must be valid HTTP header names and values.
    for (k, v) in &h.headers {
        if HeaderName::from_bytes(k.as_bytes()).is_err() {
            cx.err(
                &v.referenced,
                format!("{path}.headers.{k}"),
                format!("invalid HTTP header name {k:?}"),
            );
        } else if http::HeaderValue::from_str(&v.value).is_err() {
            cx.err(
                &v.referenced,
                format!("{path}.headers.{k}"),
                format!("invalid HTTP header value {:?}", v.value),
            );
        }
    }
    let method = match http::Method::from_bytes(h.method.value.as_bytes()) {
        Ok(m) => m,
        Err(_) => {
            cx.err(
                &h.method.referenced,
                format!("{path}.method"),
                format!("invalid HTTP method {:?}", h.method.value),
            );
            http::Method::GET
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

    let auth = http_auth(cx, path, h);
    let tls = tls_settings(cx, &format!("{path}.tls_config"), &h.tls_config);

    let mut extra_headers = Vec::new();
    for (name, hdr) in &h.http_headers {
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

    Some(HttpModule {
        valid_status_codes,
        valid_http_versions: h
            .valid_http_versions
            .iter()
            .map(|v| v.value.clone())
            .collect(),
        ip: IpPreference::from_config(&h.preferred_ip_protocol, h.ip_protocol_fallback),
        follow_redirects: match h.no_follow_redirects {
            Some(no) => !no,
            None => h.follow_redirects,
        },
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
        body,
        compression,
        body_size_limit: u64::try_from(h.body_size_limit).unwrap_or(0),
        tls: tls?,
        enable_http2: h.enable_http2,
        request_headers: RequestHeaders {
            auth,
            headers: extra_headers,
        },
    })
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
    entries.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
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

fn http_auth(cx: &mut Cx, path: &str, h: &RawHttpProbe) -> Option<Auth> {
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
    if let (Some(_), Some((loc, p))) = (&h.basic_auth, &bearer_at) {
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
    if let (Some(a), Some(_)) = (&h.authorization, &h.basic_auth) {
        cx.err(
            &a.referenced,
            format!("{path}.authorization"),
            "at most one of basic_auth, oauth2 & authorization must be configured",
        );
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

fn tls_version(cx: &mut Cx, path: &str, spanned: &Spanned<String>) -> Option<TlsVersion> {
    let loc = &spanned.referenced;
    let v = spanned.value.as_str();
    match v {
        "" => None,
        "TLS12" => Some(TlsVersion::Tls12),
        "TLS13" => Some(TlsVersion::Tls13),
        "TLS10" | "TLS11" => {
            // rustls has no TLS 1.0/1.1; as a minimum these still allow 1.2 and 1.3.
            if path.ends_with("max_version") {
                cx.err(loc, path, format!("{v} is not supported by blackwatch: TLS 1.0 and 1.1 are out of scope (rustls implements TLS 1.2 and 1.3)"));
            }
            None
        }
        other => {
            cx.err(loc, path, format!("unknown TLS version: {other}"));
            None
        }
    }
}

fn tls_settings(cx: &mut Cx, path: &str, block: &Spanned<RawTlsConfig>) -> Option<TlsSettings> {
    let t = &block.value;
    let loc = block.referenced;
    let before = cx.errors.len();
    let count = |a: bool, b: bool, c: bool| [a, b, c].iter().filter(|x| **x).count();
    if count(!t.ca.is_empty(), !t.ca_file.is_empty(), t.ca_ref.is_some()) > 1 {
        cx.err(
            &loc,
            path,
            "at most one of ca, ca_file & ca_ref must be configured",
        );
    }
    if count(
        !t.cert.is_empty(),
        !t.cert_file.is_empty(),
        t.cert_ref.is_some(),
    ) > 1
    {
        cx.err(
            &loc,
            path,
            "at most one of cert, cert_file & cert_ref must be configured",
        );
    }
    if count(
        !t.key.is_empty(),
        !t.key_file.is_empty(),
        t.key_ref.is_some(),
    ) > 1
    {
        cx.err(
            &loc,
            path,
            "at most one of key, key_file & key_ref must be configured",
        );
    }
    if t.ca_ref.is_some() || t.cert_ref.is_some() || t.key_ref.is_some() {
        cx.err(&loc, path, "ca_ref, cert_ref and key_ref need a secret manager, which blackwatch does not have; use the *_file form");
    }
    let has_cert = !t.cert.is_empty() || !t.cert_file.is_empty();
    let has_key = !t.key.is_empty() || !t.key_file.is_empty();
    if has_cert && !has_key {
        cx.err(&loc, path, "exactly one of key or key_file must be configured when a client certificate is configured");
    }
    if has_key && !has_cert {
        cx.err(
            &loc,
            path,
            "exactly one of cert or cert_file must be configured when a client key is configured",
        );
    }
    let min_version = tls_version(cx, &format!("{path}.min_version"), &t.min_version);
    let max_version = tls_version(cx, &format!("{path}.max_version"), &t.max_version);
    if let (Some(min), Some(max)) = (min_version, max_version) {
        if min > max {
            cx.err(&t.max_version.referenced, format!("{path}.max_version"), format!("max_version must be greater than or equal to min_version, got min_version: {} and max_version: {}", t.min_version.value, t.max_version.value));
        }
    }
    if cx.errors.len() > before {
        return None;
    }
    let pem = |inline: &str, file: &str| {
        if !inline.is_empty() {
            Some(PemSource::Inline(inline.to_string()))
        } else if !file.is_empty() {
            Some(PemSource::File(PathBuf::from(file)))
        } else {
            None
        }
    };
    Some(TlsSettings {
        ca: pem(&t.ca, &t.ca_file),
        cert: pem(&t.cert, &t.cert_file),
        key: if t.key_file.is_empty() {
            None
        } else {
            Some(SecretSource::File(PathBuf::from(&t.key_file)))
        },
        key_inline_pem: if t.key.is_empty() {
            None
        } else {
            Some(t.key.clone())
        },
        server_name: (!t.server_name.is_empty()).then(|| t.server_name.clone()),
        insecure_skip_verify: t.insecure_skip_verify,
        min_version,
        max_version,
    })
}

fn tcp(cx: &mut Cx, path: &str, block: &Spanned<RawTcpProbe>) -> Option<TcpModule> {
    let t = &block.value;
    let mut steps = Vec::new();
    for (i, q) in t.query_response.iter().enumerate() {
        let p = format!("{path}.query_response[{i}]");
        let v = &q.value;
        if v.expect.is_some() && v.expect_bytes.is_some() {
            cx.err(
                &q.referenced,
                &p,
                "expect and expect_bytes are mutually exclusive",
            );
        }
        let expect = match &v.expect {
            Some(re) => match compile_regex(&re.value) {
                Ok(r) => Some(r),
                Err(e) => {
                    cx.err(&re.referenced, format!("{p}.expect"), e);
                    None
                }
            },
            None => None,
        };
        steps.push(QueryStep {
            expect,
            expect_bytes: v.expect_bytes.as_ref().map(|s| s.as_bytes().to_vec()),
            labels: v
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect(),
            send: v.send.clone(),
            starttls: v.starttls,
        });
    }
    let tls_config = tls_settings(cx, &format!("{path}.tls_config"), &t.tls_config);
    Some(TcpModule {
        ip: IpPreference::from_config(&t.preferred_ip_protocol, t.ip_protocol_fallback),
        source_ip_address: (!t.source_ip_address.is_empty()).then(|| t.source_ip_address.clone()),
        query_response: steps,
        tls: t.tls,
        tls_config: tls_config?,
    })
}

fn icmp(cx: &mut Cx, path: &str, block: &Spanned<RawIcmpProbe>) -> Option<IcmpModule> {
    let i = &block.value;
    let ttl = i.ttl.value;
    if ttl < 0 {
        cx.err(
            &i.ttl.referenced,
            format!("{path}.ttl"),
            "\"ttl\" cannot be negative",
        );
    } else if ttl > 255 {
        cx.err(
            &i.ttl.referenced,
            format!("{path}.ttl"),
            "\"ttl\" cannot exceed 255",
        );
    }
    let payload_size = i.payload_size.value;
    if !(0..=65_000).contains(&payload_size) {
        cx.err(
            &i.payload_size.referenced,
            format!("{path}.payload_size"),
            "\"payload_size\" must be between 0 and 65000",
        );
    }
    Some(IcmpModule {
        ip: IpPreference::from_config(&i.preferred_ip_protocol, i.ip_protocol_fallback),
        source_ip_address: (!i.source_ip_address.is_empty()).then(|| i.source_ip_address.clone()),
        payload_size: usize::try_from(payload_size).unwrap_or(0),
        dont_fragment: i.dont_fragment,
        ttl: u8::try_from(ttl).unwrap_or(64),
    })
}

/// DNS record type names that miekg/dns knows and blackbox accepts.
fn valid_query_type(t: &str) -> bool {
    crate::probe::dns::type_code(t).is_some()
}

const DNS_CLASSES: &[&str] = &["IN", "CS", "CH", "HS", "NONE", "ANY"];
const DNS_RCODES: &[&str] = &[
    "NOERROR",
    "FORMERR",
    "SERVFAIL",
    "NXDOMAIN",
    "NOTIMP",
    "REFUSED",
    "YXDOMAIN",
    "YXRRSET",
    "NXRRSET",
    "NOTAUTH",
    "NOTZONE",
    "BADSIG",
    "BADVERS",
    "BADKEY",
    "BADTIME",
    "BADMODE",
    "BADNAME",
    "BADALG",
    "BADTRUNC",
    "BADCOOKIE",
];

fn rr_validator(cx: &mut Cx, path: &str, v: &RawRrValidator) -> RrValidator {
    RrValidator {
        fail_if_matches_regexp: regexes(
            cx,
            &format!("{path}.fail_if_matches_regexp"),
            &v.fail_if_matches_regexp,
        ),
        fail_if_all_match_regexp: regexes(
            cx,
            &format!("{path}.fail_if_all_match_regexp"),
            &v.fail_if_all_match_regexp,
        ),
        fail_if_not_matches_regexp: regexes(
            cx,
            &format!("{path}.fail_if_not_matches_regexp"),
            &v.fail_if_not_matches_regexp,
        ),
        fail_if_none_matches_regexp: regexes(
            cx,
            &format!("{path}.fail_if_none_matches_regexp"),
            &v.fail_if_none_matches_regexp,
        ),
    }
}

fn dns(cx: &mut Cx, path: &str, block: &Spanned<RawDnsProbe>) -> Option<DnsModule> {
    let d = &block.value;
    if d.query_name.is_empty() {
        cx.err(
            &block.referenced,
            format!("{path}.query_name"),
            "query name must be set for DNS module",
        );
    }
    if !valid_query_type(&d.query_type.value) {
        cx.err(
            &d.query_type.referenced,
            format!("{path}.query_type"),
            format!("query type '{}' is not valid", d.query_type.value),
        );
    }
    if !DNS_CLASSES.contains(&d.query_class.value.as_str()) {
        cx.err(
            &d.query_class.referenced,
            format!("{path}.query_class"),
            format!("query class '{}' is not valid", d.query_class.value),
        );
    }
    if !matches!(d.transport_protocol.value.as_str(), "udp" | "tcp") {
        cx.err(
            &d.transport_protocol.referenced,
            format!("{path}.transport_protocol"),
            format!(
                "transport protocol '{}' is not valid: must be udp or tcp",
                d.transport_protocol.value
            ),
        );
    }
    if d.dns_over_tls.value && d.transport_protocol.value != "tcp" {
        cx.err(
            &d.dns_over_tls.referenced,
            format!("{path}.dns_over_tls"),
            "dns_over_tls requires transport_protocol: tcp",
        );
    }
    if let Some(rcodes) = &d.valid_rcodes {
        for (i, r) in rcodes.iter().enumerate() {
            if !DNS_RCODES.contains(&r.value.as_str()) {
                cx.err(
                    &r.referenced,
                    format!("{path}.valid_rcodes[{i}]"),
                    format!("rcode '{}' is not valid", r.value),
                );
            }
        }
    }
    let tls_config = tls_settings(cx, &format!("{path}.tls_config"), &d.tls_config);
    Some(DnsModule {
        query_name: d.query_name.clone(),
        query_type: d.query_type.value.clone(),
        query_class: d.query_class.value.clone(),
        transport_protocol: d.transport_protocol.value.clone(),
        dns_over_tls: d.dns_over_tls.value,
        tls_config: tls_config?,
        source_ip_address: (!d.source_ip_address.is_empty()).then(|| d.source_ip_address.clone()),
        ip: IpPreference::from_config(&d.preferred_ip_protocol, d.ip_protocol_fallback),
        recursion_desired: d.recursion_desired,
        valid_rcodes: d
            .valid_rcodes
            .as_ref()
            .map(|v| v.iter().map(|s| s.value.clone()).collect()),
        validate_answer_rrs: rr_validator(
            cx,
            &format!("{path}.validate_answer_rrs"),
            &d.validate_answer_rrs,
        ),
        validate_authority_rrs: rr_validator(
            cx,
            &format!("{path}.validate_authority_rrs"),
            &d.validate_authority_rrs,
        ),
        validate_additional_rrs: rr_validator(
            cx,
            &format!("{path}.validate_additional_rrs"),
            &d.validate_additional_rrs,
        ),
    })
}

/// Validates `probes:` against the validated modules. Relative file_sd paths are resolved
/// against `base_dir` (the config file's directory), as Prometheus does.
pub(crate) fn jobs(
    cx: &mut Cx,
    raw: &RawConfig,
    modules: &BTreeMap<String, Arc<crate::probe::Module>>,
    base_dir: &Path,
) -> Vec<Arc<crate::schedule::Job>> {
    use crate::schedule::job::{self as j, FileSd, Job, Target};
    let mut out = Vec::new();
    let mut seen_jobs = std::collections::HashSet::new();
    for (i, spanned) in raw.probes.iter().enumerate() {
        let p = &spanned.value;
        let path = format!("probes[{i}]");
        let before = cx.errors.len();
        let name = p.job.value.clone();
        if name.is_empty() {
            cx.err(
                &p.job.referenced,
                format!("{path}.job"),
                "job name must not be empty",
            );
        } else if !seen_jobs.insert(name.clone()) {
            cx.err(
                &p.job.referenced,
                format!("{path}.job"),
                format!("duplicate job name {name:?}"),
            );
        }
        let module = modules.get(&p.module.value);
        if module.is_none() && !raw.modules.contains_key(&p.module.value) {
            cx.err(
                &p.module.referenced,
                format!("{path}.module"),
                format!("undefined module {:?} used in job {name:?}", p.module.value),
            );
        }
        let interval = p.interval.unwrap_or(j::DEFAULT_INTERVAL);
        if interval.is_zero() {
            cx.err(
                &spanned.referenced,
                format!("{path}.interval"),
                "interval must be greater than 0",
            );
        }
        let module_timeout = module.map(|m| m.timeout).unwrap_or_default();
        let timeout = match p.timeout {
            Some(t) if t > interval => {
                cx.err(
                    &spanned.referenced,
                    format!("{path}.timeout"),
                    format!(
                        "timeout {} must not be greater than the interval {}",
                        crate::base::units::format_go_duration(t),
                        crate::base::units::format_go_duration(interval)
                    ),
                );
                t
            }
            Some(t) if t.is_zero() => {
                cx.err(
                    &spanned.referenced,
                    format!("{path}.timeout"),
                    "timeout must be greater than 0",
                );
                t
            }
            Some(t) => t,
            None if !module_timeout.is_zero() => module_timeout.min(interval),
            None => j::DEFAULT_TIMEOUT.min(interval),
        };
        let concurrency = match &p.concurrency {
            Some(c) if c.value < 1 => {
                cx.err(
                    &c.referenced,
                    format!("{path}.concurrency"),
                    "concurrency must be at least 1",
                );
                None
            }
            Some(c) => usize::try_from(c.value).ok(),
            None => None,
        };
        if let Err(e) = j::check_labels(&p.labels) {
            cx.err(&spanned.referenced, format!("{path}.labels"), e);
        }
        let mut targets = Vec::new();
        let mut seen_targets = std::collections::HashSet::new();
        for (ti, t) in p.targets.iter().enumerate() {
            let tp = format!("{path}.targets[{ti}]");
            let (target, labels) = match &t.value {
                RawTarget::Plain(s) => (s.clone(), BTreeMap::new()),
                RawTarget::WithLabels(w) => (w.target.clone(), w.labels.clone()),
            };
            if target.trim().is_empty() {
                cx.err(&t.referenced, &tp, "target must not be empty");
                continue;
            }
            if let Err(e) = j::check_labels(&labels) {
                cx.err(&t.referenced, format!("{tp}.labels"), e);
            }
            if !seen_targets.insert(target.clone()) {
                cx.err(
                    &t.referenced,
                    &tp,
                    format!("duplicate target {target:?} in job {name:?}"),
                );
            }
            targets.push(Target { target, labels });
        }
        let mut file_sd = Vec::new();
        for (fi, f) in p.file_sd.iter().enumerate() {
            if f.value.files.is_empty() {
                cx.err(
                    &f.referenced,
                    format!("{path}.file_sd[{fi}].files"),
                    "at least one file must be listed",
                );
            }
            for (k, file) in f.value.files.iter().enumerate() {
                let name = Path::new(file)
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                let dir_has_glob = Path::new(file)
                    .parent()
                    .and_then(|d| d.to_str())
                    .is_some_and(|d| d.contains(['*', '?', '[']));
                let ext_ok = [".json", ".yml", ".yaml"].iter().any(|e| name.ends_with(e));
                if dir_has_glob || !ext_ok {
                    cx.err(
                        &f.referenced,
                        format!("{path}.file_sd[{fi}].files[{k}]"),
                        format!("path {file:?} must end in .json, .yml or .yaml, with wildcards only in the file name"),
                    );
                }
            }
            file_sd.push(FileSd {
                files: f.value.files.iter().map(|x| base_dir.join(x)).collect(),
                refresh_interval: f.value.refresh_interval.unwrap_or(j::DEFAULT_REFRESH),
            });
        }
        if targets.is_empty() && file_sd.is_empty() {
            cx.err(
                &spanned.referenced,
                &path,
                format!("job {name:?} has neither targets nor file_sd"),
            );
        }
        if cx.errors.len() == before {
            out.push(Arc::new(Job {
                name,
                module: p.module.value.clone(),
                interval,
                timeout,
                concurrency,
                labels: p.labels.clone(),
                targets,
                file_sd,
            }));
        }
    }
    out
}

/// `rule_files:` and `global:`: loads every rule file (globs relative to `base_dir`).
pub(crate) fn rules(cx: &mut Cx, raw: &RawConfig, base_dir: &Path) -> crate::rules::RulesConfig {
    let mut out = crate::rules::RulesConfig {
        evaluation_interval: std::time::Duration::from_secs(15),
        ..Default::default()
    };
    if let Some(g) = &raw.global {
        if let Some(iv) = &g.value.evaluation_interval {
            match crate::rules::file::parse_duration(&iv.value) {
                Ok(d) if !d.is_zero() => out.evaluation_interval = d,
                Ok(_) => cx.err(
                    &iv.referenced,
                    "global.evaluation_interval",
                    "must be greater than 0",
                ),
                Err(m) => cx.err(&iv.referenced, "global.evaluation_interval", m),
            }
        }
        for k in g.value.external_labels.keys() {
            if !crate::base::names::is_label_name(k) {
                cx.err(
                    &g.referenced,
                    format!("global.external_labels.{k}"),
                    format!("{k:?} is not a valid label name"),
                );
            }
        }
        out.external_labels = g.value.external_labels.clone();
    }
    let globs: Vec<String> = raw.rule_files.iter().map(|g| g.value.clone()).collect();
    match crate::rules::file::load_globs(base_dir, &globs) {
        Ok(groups) => out.groups = groups.into_iter().map(Arc::new).collect(),
        Err(errors) => cx.errors.extend(errors),
    }
    out
}
