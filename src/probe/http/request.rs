//! Building each hop's request as Go's client does: the target URL (`http://` prepended),
//! the Host header and authority, the `Referer` of a redirect hop, the configured headers,
//! credentials (only to the first authority) and cookies. The inputs read from files (body,
//! credentials, header files) are read once per probe, in [`RequestState::load`]. Sending
//! the request is `transport`; following redirects is the driver in `mod.rs`.

use std::net::IpAddr;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Version};
use http_body_util::Full;
use url::Url;

use crate::base::Secret;
use crate::probe::module::{HttpModule, RequestBody};
use crate::probe::ProbeCx;

/// The User-Agent sent unless the module sets one.
pub fn user_agent() -> String {
    format!("Blackbox-Exporter/blackwatch-{}", env!("CARGO_PKG_VERSION"))
}

/// One hop's destination.
pub(super) struct Hop {
    /// The URL the request goes to; for the first hop its host is the chosen IP.
    pub(super) url: Url,
    /// The Host header value.
    pub(super) host_header: String,
    /// Explicit TLS server name; `None` means the URL host.
    pub(super) server_name: Option<String>,
    /// Already-resolved address (first hop); later hops resolve the URL host themselves.
    pub(super) ip: Option<IpAddr>,
    /// `Referer` for a redirect hop: the previous URL, as Go's client sends it.
    pub(super) referer: Option<String>,
    /// The probe's first request: its resolve phase is `chooseProtocol`'s, not the dial's.
    pub(super) first: bool,
}

/// What every hop's request is built from besides its destination.
pub(super) struct RequestState {
    /// The method and body: a 301, 302 or 303 redirect turns them into a body-less GET.
    pub(super) method: http::Method,
    pub(super) body: Bytes,
    /// The `Authorization` value, dropped once a redirect leaves the first authority.
    pub(super) auth: Option<Secret>,
    /// Headers from `http_client_config` header files and secrets.
    pub(super) extra_headers: Vec<(HeaderName, Secret)>,
    /// A fresh cookie jar per probe, fed by every hop's `Set-Cookie`.
    pub(super) jar: cookie_store::CookieStore,
}

impl RequestState {
    /// Reads the body file, the credentials and the header files; logs and returns `None`
    /// when one cannot be read.
    pub(super) async fn load(m: &HttpModule, cx: &mut ProbeCx) -> Option<Self> {
        let body = match &m.body {
            None => Bytes::new(),
            Some(RequestBody::Inline(b)) => b.clone(),
            Some(RequestBody::File(p)) => match tokio::fs::read(p).await {
                Ok(b) => Bytes::from(b),
                Err(e) => {
                    cx.log.error(
                        "Error reading body file",
                        &[("file", &p.display().to_string()), ("err", &e.to_string())],
                    );
                    return None;
                }
            },
        };
        let auth = match &m.client.headers.auth {
            // An OAuth2 token comes from the module's token source: cached until it
            // expires, else fetched now. Failing to get one fails the request, as upstream's
            // round-tripper fails it.
            Some(a) => match a.header_value().await {
                Ok(v) => Some(v),
                Err(e @ crate::client::AuthError::OAuth2(_)) => {
                    cx.log
                        .error("Error for HTTP request", &[("err", &e.to_string())]);
                    return None;
                }
                Err(e) => {
                    cx.log
                        .error("Error reading credentials file", &[("err", &e.to_string())]);
                    return None;
                }
            },
            None => None,
        };
        let extra_headers = match m.client.headers.extra() {
            Ok(h) => h,
            Err(e) => {
                cx.log
                    .error("Error reading header file", &[("err", &e.to_string())]);
                return None;
            }
        };
        Some(Self {
            method: m.method.clone(),
            body,
            auth,
            extra_headers,
            jar: cookie_store::CookieStore::default(),
        })
    }
}

/// Parses the target the way upstream does: `http://` is prepended when no scheme is given.
pub fn target_url(target: &str) -> Result<Url, url::ParseError> {
    let lower = target.to_ascii_lowercase();
    let with_scheme = if lower.starts_with("http://") || lower.starts_with("https://") {
        target.to_string()
    } else {
        format!("http://{target}")
    };
    Url::parse(&with_scheme)
}

/// The URL's `host[:port]`, IPv6 hosts in brackets, as Go's `URL.Host`.
pub(super) fn authority(url: &Url) -> String {
    let host = match url.host() {
        Some(url::Host::Ipv6(v6)) => format!("[{v6}]"),
        Some(h) => h.to_string(),
        None => String::new(),
    };
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}

/// The URL's host without brackets, as Go's `URL.Hostname()`.
pub(super) fn url_host(url: &Url) -> String {
    match url.host() {
        Some(url::Host::Ipv6(v6)) => v6.to_string(),
        Some(h) => h.to_string(),
        None => String::new(),
    }
}

/// The scheme of a target written as `<scheme>://…` when it is neither http nor https.
/// Upstream would prepend `http://` and then fail to resolve the scheme as a host name;
/// rejecting it up front gives the same verdict without a pointless DNS query.
pub(super) fn foreign_scheme(target: &str) -> Option<&str> {
    let (scheme, _) = target.split_once("://")?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (valid && !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https"))
        .then_some(scheme)
}

/// Go's `refererForURL`: the previous URL without credentials or fragment, and nothing when
/// going from https to http.
pub(super) fn referer_for(last: &Url, next: &Url) -> Option<String> {
    if last.scheme() == "https" && next.scheme() == "http" {
        return None;
    }
    let mut r = last.clone();
    let _ = r.set_username("");
    let _ = r.set_password(None);
    r.set_fragment(None);
    Some(r.to_string())
}

/// A `host[:port]` without its port, brackets removed from an IPv6 host.
pub(super) fn strip_port(host: &str) -> String {
    if host.starts_with('[') {
        return host
            .split(']')
            .next()
            .unwrap_or(host)
            .trim_start_matches('[')
            .to_string();
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !h.contains(':') => h.to_string(),
        _ => host.to_string(),
    }
}

/// The request of one hop: over HTTP/1.1 with `Host` and `Connection: close`, over h2 with
/// the authority in the URI.
pub(super) fn build_request(
    hop: &Hop,
    state: &RequestState,
    m: &HttpModule,
    h2: bool,
) -> Result<Request<Full<Bytes>>, String> {
    let (method, body) = (&state.method, &state.body);
    let path = match hop.url.query() {
        Some(q) => format!("{}?{q}", hop.url.path()),
        None => hop.url.path().to_string(),
    };
    let uri = if h2 {
        format!("{}://{}{}", hop.url.scheme(), hop.host_header, path)
    } else {
        path
    };
    let mut builder = Request::builder().method(method.clone()).uri(uri);
    if !h2 {
        builder = builder.version(Version::HTTP_11);
    }
    let mut req = builder
        .body(Full::new(body.clone()))
        .map_err(|e| format!("building request: {e}"))?;
    let headers = req.headers_mut();
    if !h2 {
        headers.insert(
            header::HOST,
            HeaderValue::from_str(&hop.host_header).map_err(|e| e.to_string())?,
        );
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    headers.insert(
        header::USER_AGENT,
        HeaderValue::from_str(&user_agent()).map_err(|e| e.to_string())?,
    );
    if !body.is_empty() {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    // Before the configured headers, so a configured Referer wins (Go's explicit referer).
    if let Some(r) = hop
        .referer
        .as_deref()
        .and_then(|r| HeaderValue::from_str(r).ok())
    {
        headers.insert(header::REFERER, r);
    }
    for (k, v) in &m.headers {
        if k.eq_ignore_ascii_case("host") {
            continue;
        }
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?;
        headers.insert(name, HeaderValue::from_str(v).map_err(|e| e.to_string())?);
    }
    if let Some(a) = &state.auth {
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(a.expose()).map_err(|_| "invalid credentials".to_string())?,
        );
    }
    for (name, v) in &state.extra_headers {
        if let Ok(v) = HeaderValue::from_str(v.expose()) {
            headers.append(name.clone(), v);
        }
    }
    let cookies: Vec<String> = state
        .jar
        .get_request_values(&hop.url)
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    if !cookies.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&cookies.join("; ")) {
            headers.insert(header::COOKIE, v);
        }
    }
    Ok(req)
}
