//! The HTTP prober, built on hyper's client connection API over our own resolve, TCP connect
//! and rustls handshake, so each of blackbox_exporter's five phases (resolve, connect, tls,
//! processing, transfer) is timed and summed over redirects, and the peer certificates and
//! verified chains are available for the TLS metrics.
//!
//! Behaviour follows upstream `prober/http.go`: a new connection per hop with keep-alive off,
//! at most 10 redirects (the 11th is refused and evaluated as the final response), a fresh
//! cookie jar per probe, no `Accept-Encoding` unless `headers` sets one, no decoding unless
//! `compression` is set, and the same check order (status → headers → decode → size limit →
//! body regexes → drain → version → TLS and `fail_if_*`). Phase timings are written to the
//! registry as they are measured, so a probe cut short by its timeout keeps them.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use url::Url;

use super::module::{Compression, HeaderMatch, HttpModule, RequestBody};
use super::tls::{self, TlsState};
use super::{resolve, Desc, ProbeCx, FAILED_DUE_TO_REGEX};
use crate::base::Secret;
use crate::client::tls::ChainRecord;

const MAX_REDIRECTS: usize = 10;

/// `probe_http_duration_seconds{phase}`: resolve, connect, tls, processing, transfer.
pub const DURATION_SECONDS: Desc = Desc::new(
    "probe_http_duration_seconds",
    "Duration of http request by phase, summed over all redirects",
);
pub const CONTENT_LENGTH: Desc = Desc::new(
    "probe_http_content_length",
    "Length of http content response",
);
pub const UNCOMPRESSED_BODY_LENGTH: Desc = Desc::new(
    "probe_http_uncompressed_body_length",
    "Length of uncompressed response body",
);
pub const REDIRECTS: Desc = Desc::new("probe_http_redirects", "The number of redirects");
pub const SSL: Desc = Desc::new(
    "probe_http_ssl",
    "Indicates if SSL was used for the final redirect",
);
pub const STATUS_CODE: Desc = Desc::new("probe_http_status_code", "Response HTTP status code");
pub const VERSION: Desc = Desc::new(
    "probe_http_version",
    "Returns the version of HTTP of the probe response",
);
pub const LAST_MODIFIED_TIMESTAMP_SECONDS: Desc = Desc::new(
    "probe_http_last_modified_timestamp_seconds",
    "Returns the Last-Modified HTTP response header in unixtime",
);

/// The User-Agent sent unless the module sets one.
pub fn user_agent() -> String {
    format!("Blackbox-Exporter/blackwatch-{}", env!("CARGO_PKG_VERSION"))
}

/// Adds `d` to one phase of `probe_http_duration_seconds`. Phases are written as soon as
/// they are measured, so a probe cut short by its timeout still reports what it spent, as
/// upstream's httptrace hooks do.
fn add_phase(cx: &mut ProbeCx, phase: &str, d: Duration) {
    cx.registry
        .add_gauge_labeled(&DURATION_SECONDS, &[("phase", phase)], d.as_secs_f64());
}

/// Aborts the connection driver when the probe is done with it. The driver returns the
/// connection's error, which explains a request that failed as "canceled".
struct AbortOnDrop(JoinHandle<Option<String>>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

/// One hop's destination.
struct Hop {
    /// The URL the request goes to; for the first hop its host is the chosen IP.
    url: Url,
    /// The Host header value.
    host_header: String,
    /// Explicit TLS server name; `None` means the URL host.
    server_name: Option<String>,
    /// Already-resolved address (first hop); later hops resolve the URL host themselves.
    ip: Option<IpAddr>,
    /// `Referer` for a redirect hop: the previous URL, as Go's client sends it.
    referer: Option<String>,
}

/// Everything learned about the response that ends the probe.
struct Final {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    tls: Option<TlsState>,
    chain: ChainRecord,
    body: Option<Incoming>,
    _driver: AbortOnDrop,
    /// A redirect was refused (not followed, or over the limit): upstream's `requestErrored`.
    request_errored: bool,
    first_byte: Instant,
}

fn set_defaults(cx: &mut ProbeCx) {
    for desc in [
        &CONTENT_LENGTH,
        &UNCOMPRESSED_BODY_LENGTH,
        &REDIRECTS,
        &SSL,
        &STATUS_CODE,
        &VERSION,
        &FAILED_DUE_TO_REGEX,
    ] {
        cx.registry.set_gauge(desc, 0.0);
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

fn authority(url: &Url) -> String {
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

fn url_host(url: &Url) -> String {
    match url.host() {
        Some(url::Host::Ipv6(v6)) => v6.to_string(),
        Some(h) => h.to_string(),
        None => String::new(),
    }
}

/// The scheme of a target written as `<scheme>://…` when it is neither http nor https.
/// Upstream would prepend `http://` and then fail to resolve the scheme as a host name;
/// rejecting it up front gives the same verdict without a pointless DNS query.
fn foreign_scheme(target: &str) -> Option<&str> {
    let (scheme, _) = target.split_once("://")?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (valid && !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https"))
        .then_some(scheme)
}

pub async fn probe(target: &str, m: &HttpModule, cx: &mut ProbeCx) -> bool {
    set_defaults(cx);
    if let Some(scheme) = foreign_scheme(target) {
        cx.log.error(
            "Could not parse target URL",
            &[("err", &format!("unsupported protocol scheme {scheme:?}"))],
        );
        return false;
    }
    let url = match target_url(target) {
        Ok(u) if u.host().is_some() => u,
        Ok(_) => {
            cx.log
                .error("Could not parse target URL", &[("err", "missing host")]);
            return false;
        }
        Err(e) => {
            cx.log
                .error("Could not parse target URL", &[("err", &e.to_string())]);
            return false;
        }
    };
    let target_host = url_host(&url);

    // Host header and TLS server name: module Host header, else the `hostname` parameter,
    // else the target's own authority.
    let configured_host = m
        .host_header()
        .map(str::to_string)
        .or_else(|| cx.hostname.clone());
    let host_header = configured_host.clone().unwrap_or_else(|| authority(&url));
    let server_name = m
        .tls
        .server_name
        .clone()
        .or_else(|| configured_host.as_ref().map(|h| strip_port(h)))
        .unwrap_or_else(|| target_host.clone());

    let resolved = resolve::choose_protocol(&target_host, m.ip, cx).await;
    let lookup_time = resolved.lookup_time;
    let Ok(ip) = resolved.ip else {
        add_phase(cx, "resolve", lookup_time);
        return false;
    };
    for phase in ["resolve", "connect", "tls", "processing", "transfer"] {
        cx.registry
            .set_gauge_labeled(&DURATION_SECONDS, &[("phase", phase)], 0.0);
    }
    // The first hop's resolve phase is the chooseProtocol lookup.
    add_phase(cx, "resolve", lookup_time);

    let mut ip_url = url.clone();
    let _ = ip_url.set_ip_host(ip);
    let first_authority = authority(&ip_url);

    let request_body = match &m.body {
        None => Bytes::new(),
        Some(RequestBody::Inline(b)) => b.clone(),
        Some(RequestBody::File(p)) => match tokio::fs::read(p).await {
            Ok(b) => Bytes::from(b),
            Err(e) => {
                cx.log.error(
                    "Error reading body file",
                    &[("file", &p.display().to_string()), ("err", &e.to_string())],
                );
                return false;
            }
        },
    };
    let auth_value = match m.request_headers.auth.as_ref().map(|a| a.header_value()) {
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => {
            cx.log
                .error("Error reading credentials file", &[("err", &e.to_string())]);
            return false;
        }
        None => None,
    };
    let extra_headers = match m.request_headers.extra() {
        Ok(h) => h,
        Err(e) => {
            cx.log
                .error("Error reading header file", &[("err", &e.to_string())]);
            return false;
        }
    };

    let mut jar = cookie_store::CookieStore::default();
    let mut hop = Hop {
        url: ip_url,
        host_header,
        server_name: Some(server_name),
        ip: Some(ip),
        referer: None,
    };
    let mut method = m.method.clone();
    let mut body = request_body;
    let mut send_auth = true;
    let mut redirects = 0usize;

    cx.log.info(
        "Making HTTP request",
        &[("url", hop.url.as_str()), ("host", &hop.host_header)],
    );
    let outcome = loop {
        let result = round_trip(
            &hop,
            &method,
            &body,
            m,
            &jar,
            send_auth,
            auth_value.as_ref(),
            &extra_headers,
            cx,
        )
        .await;
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                cx.log.error("Error for HTTP request", &[("err", &e)]);
                break None;
            }
        };
        for v in resp.headers.get_all(header::SET_COOKIE) {
            if let Ok(s) = v.to_str() {
                let _ = jar.parse(s, &hop.url);
            }
        }
        let location = resp
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let is_redirect = matches!(resp.status.as_u16(), 301 | 302 | 303 | 307 | 308);
        let Some(location) = location.filter(|_| is_redirect) else {
            break Some(resp);
        };
        cx.log.info("Received redirect", &[("location", &location)]);
        redirects += 1;
        cx.registry.set_gauge(&REDIRECTS, redirects as f64);
        if redirects > MAX_REDIRECTS || !m.follow_redirects {
            cx.log.info("Not following redirect", &[]);
            break Some(Final {
                request_errored: true,
                ..resp
            });
        }
        let next = match hop.url.join(&location) {
            Ok(u) => u,
            Err(e) => {
                cx.log.error(
                    "Error for HTTP request",
                    &[(
                        "err",
                        &format!("failed to parse Location header {location:?}: {e}"),
                    )],
                );
                break None;
            }
        };
        if !matches!(next.scheme(), "http" | "https") {
            cx.log.error(
                "Error for HTTP request",
                &[(
                    "err",
                    &format!("unsupported protocol scheme {:?}", next.scheme()),
                )],
            );
            break None;
        }
        let relative = Url::parse(&location).is_err();
        let same_authority = authority(&next) == first_authority;
        // Go: 301/302/303 turn the request into a body-less GET (except HEAD); 307/308 keep it.
        if matches!(resp.status.as_u16(), 301..=303) && method != http::Method::HEAD {
            method = http::Method::GET;
            body = Bytes::new();
        }
        if !same_authority {
            send_auth = false;
        }
        hop = Hop {
            host_header: if relative {
                hop.host_header.clone()
            } else {
                authority(&next)
            },
            server_name: if same_authority {
                hop.server_name.clone()
            } else {
                None
            },
            ip: if same_authority { hop.ip } else { None },
            referer: referer_for(&hop.url, &next),
            url: next,
        };
    };

    let Some(mut resp) = outcome else {
        return false;
    };
    let success = evaluate(m, &mut resp, cx).await;
    // Upstream stamps the end of the final response whether or not its body was read (a
    // refused redirect is not read), so `transfer` is always counted for it.
    add_phase(cx, "transfer", resp.first_byte.elapsed());
    success
}

/// Go's `refererForURL`: the previous URL without credentials or fragment, and nothing when
/// going from https to http.
fn referer_for(last: &Url, next: &Url) -> Option<String> {
    if last.scheme() == "https" && next.scheme() == "http" {
        return None;
    }
    let mut r = last.clone();
    let _ = r.set_username("");
    let _ = r.set_password(None);
    r.set_fragment(None);
    Some(r.to_string())
}

fn strip_port(host: &str) -> String {
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

#[allow(clippy::too_many_arguments)]
async fn round_trip(
    hop: &Hop,
    method: &http::Method,
    body: &Bytes,
    m: &HttpModule,
    jar: &cookie_store::CookieStore,
    send_auth: bool,
    auth: Option<&Secret>,
    extra_headers: &[(HeaderName, Secret)],
    cx: &mut ProbeCx,
) -> Result<Final, String> {
    let https = hop.url.scheme() == "https";
    let port = hop
        .url
        .port_or_known_default()
        .unwrap_or(if https { 443 } else { 80 });
    let start = Instant::now();
    let ip = match hop.ip {
        Some(ip) => ip,
        None => {
            // Later hops resolve on their own (Go's dialer, not chooseProtocol).
            let host = url_host(&hop.url);
            let ips = resolve::lookup_all(&host).await;
            add_phase(cx, "resolve", start.elapsed());
            let ips = ips.map_err(|e| e.to_string())?;
            let ip = *ips
                .first()
                .ok_or_else(|| format!("lookup {host}: no such host"))?;
            // A redirect hop is checked against the `/probe` allow-list like the first one.
            cx.check_address(&host, ip, Some(port))?;
            ip
        }
    };
    let connect_start = Instant::now();
    let tcp = TcpStream::connect(SocketAddr::new(ip, port))
        .await
        .map_err(|e| format!("dial tcp {}: {e}", SocketAddr::new(ip, port)))?;
    let _ = tcp.set_nodelay(true);
    let connect_time = connect_start.elapsed();

    let chain;
    let (sender, driver, tls_state) = if https {
        let alpn: &[&[u8]] = if m.enable_http2 {
            &[b"h2", b"http/1.1"]
        } else {
            &[b"http/1.1"]
        };
        let (config, record) =
            crate::client::tls::client_config(&m.tls, alpn).map_err(|e| e.to_string())?;
        chain = record;
        let name = hop
            .server_name
            .clone()
            .unwrap_or_else(|| url_host(&hop.url));
        let server_name = ServerName::try_from(name.clone())
            .map_err(|e| format!("invalid TLS server name {name:?}: {e}"))?;
        let tls_start = Instant::now();
        let stream = TlsConnector::from(config)
            .connect(server_name, tcp)
            .await
            .map_err(|e| format!("tls: {e}"))?;
        // Like Go's trace, a hop counts connect and tls only once it has a usable
        // connection: a failed handshake contributes its resolve time alone.
        add_phase(cx, "connect", connect_time);
        add_phase(cx, "tls", tls_start.elapsed());
        let state = TlsState::from_connection(stream.get_ref().1);
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        let (sender, driver) = handshake(TokioIo::new(stream), h2).await?;
        (sender, driver, Some(state))
    } else {
        chain = ChainRecord::default();
        add_phase(cx, "connect", connect_time);
        let (sender, driver) = handshake(TokioIo::new(tcp), false).await?;
        (sender, driver, None)
    };
    let got_conn = Instant::now();

    let request = build_request(
        hop,
        method,
        body,
        m,
        jar,
        send_auth,
        auth,
        extra_headers,
        matches!(sender, Sender::H2(_)),
    )?;
    let sent = match sender {
        Sender::H1(mut s) => s.send_request(request).await,
        Sender::H2(mut s) => s.send_request(request).await,
    };
    let response: Response<Incoming> = match sent {
        Ok(r) => r,
        Err(e) => {
            let mut message = e.to_string();
            // The request is "canceled" when the connection failed (e.g. a response head
            // over the size bound): report the connection's own error instead.
            if e.is_canceled() {
                let mut driver = driver;
                if let Ok(Ok(Some(conn_err))) =
                    tokio::time::timeout(Duration::from_millis(200), &mut driver.0).await
                {
                    message = conn_err;
                }
            }
            return Err(message);
        }
    };
    let first_byte = Instant::now();
    add_phase(cx, "processing", first_byte - got_conn);
    let (parts, incoming) = response.into_parts();
    Ok(Final {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        tls: tls_state,
        chain,
        body: Some(incoming),
        _driver: driver,
        request_errored: false,
        first_byte,
    })
}

async fn handshake<I>(io: I, h2: bool) -> Result<(Sender, AbortOnDrop), String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    if h2 {
        let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .max_header_list_size(MAX_RESPONSE_HEAD as u32)
            .handshake(io)
            .await
            .map_err(|e| format!("http2 handshake: {e}"))?;
        let driver = tokio::spawn(async move { conn.await.err().map(|e| e.to_string()) });
        Ok((Sender::H2(sender), AbortOnDrop(driver)))
    } else {
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .max_buf_size(MAX_RESPONSE_HEAD)
            .handshake(io)
            .await
            .map_err(|e| format!("http1 handshake: {e}"))?;
        let driver = tokio::spawn(async move { conn.await.err().map(|e| e.to_string()) });
        Ok((Sender::H1(sender), AbortOnDrop(driver)))
    }
}

#[allow(clippy::too_many_arguments)]
fn build_request(
    hop: &Hop,
    method: &http::Method,
    body: &Bytes,
    m: &HttpModule,
    jar: &cookie_store::CookieStore,
    send_auth: bool,
    auth: Option<&Secret>,
    extra_headers: &[(HeaderName, Secret)],
    h2: bool,
) -> Result<Request<Full<Bytes>>, String> {
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
    if send_auth {
        if let Some(a) = auth {
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(a.expose()).map_err(|_| "invalid credentials".to_string())?,
            );
        }
    }
    for (name, v) in extra_headers {
        if let Ok(v) = HeaderValue::from_str(v.expose()) {
            headers.append(name.clone(), v);
        }
    }
    let cookies: Vec<String> = jar
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

/// The body limit when the module sets no `body_size_limit` (upstream has none): a larger
/// (decoded) body fails the probe with `http: request body too large`, so an endless body or a
/// decompression bomb costs neither unbounded memory nor a whole timeout of CPU.
pub const DEFAULT_BODY_LIMIT: u64 = 32 << 20;

/// The most response-head bytes read (HTTP/1 read buffer; HTTP/2 header list), hyper's HTTP/1
/// default made explicit: endless headers fail the probe instead of growing memory.
pub const MAX_RESPONSE_HEAD: usize = 8192 + 4096 * 100;

/// Counts (and, when body regexes need it, keeps) the decoded body, enforcing the size limit.
struct Collector {
    keep: bool,
    buf: Vec<u8>,
    count: u64,
    limit: u64,
}

impl Write for Collector {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut take = data.len() as u64;
        let over = self.limit > 0 && self.count + take > self.limit;
        if over {
            take = self.limit - self.count;
        }
        let slice = &data[..take as usize];
        if self.keep {
            self.buf.extend_from_slice(slice);
        }
        self.count += take;
        if over {
            return Err(std::io::Error::other("http: request body too large"));
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum Decoder {
    Plain(Collector),
    Gzip(flate2::write::GzDecoder<Collector>),
    Deflate(flate2::write::DeflateDecoder<Collector>),
    Brotli(Box<brotli::DecompressorWriter<Collector>>),
}

impl Decoder {
    fn new(c: Option<Compression>, sink: Collector) -> Self {
        match c {
            None | Some(Compression::Identity) => Decoder::Plain(sink),
            Some(Compression::Gzip) => Decoder::Gzip(flate2::write::GzDecoder::new(sink)),
            Some(Compression::Deflate) => {
                Decoder::Deflate(flate2::write::DeflateDecoder::new(sink))
            }
            Some(Compression::Brotli) => {
                Decoder::Brotli(Box::new(brotli::DecompressorWriter::new(sink, 8192)))
            }
        }
    }
    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Decoder::Plain(w) => w.write_all(data),
            Decoder::Gzip(w) => w.write_all(data),
            Decoder::Deflate(w) => w.write_all(data),
            Decoder::Brotli(w) => w.write_all(data),
        }
    }
    /// Flushes the decoder, even after an error, so that output still buffered inside it
    /// is counted (a body over the limit reports `body_size_limit` bytes read, as upstream).
    /// Returns the bytes counted, the kept body, and any error from the end of the stream.
    fn finish(self) -> (u64, Vec<u8>, Option<String>) {
        fn take(c: &mut Collector) -> (u64, Vec<u8>) {
            (c.count, std::mem::take(&mut c.buf))
        }
        let (count, buf, err) = match self {
            Decoder::Plain(mut w) => {
                let (n, b) = take(&mut w);
                (n, b, None)
            }
            Decoder::Gzip(mut w) => {
                let err = w.try_finish().err();
                let (n, b) = take(w.get_mut());
                (n, b, err.map(|e| e.to_string()))
            }
            Decoder::Deflate(mut w) => {
                let err = w.try_finish().err();
                let (n, b) = take(w.get_mut());
                (n, b, err.map(|e| e.to_string()))
            }
            Decoder::Brotli(mut w) => {
                let flushed = w.flush();
                match w.into_inner() {
                    Ok(mut c) => {
                        let (n, b) = take(&mut c);
                        (n, b, flushed.err().map(|e| e.to_string()))
                    }
                    Err(mut c) => {
                        let (n, b) = take(&mut c);
                        (n, b, Some("brotli: truncated stream".to_string()))
                    }
                }
            }
        };
        (count, buf, err)
    }
}

/// Decodes a response body arriving in `chunks` exactly as the prober does: `compression`
/// undone, at most `limit` decoded bytes counted (and kept when `keep`). Returns the bytes
/// counted, the kept body and the error that fails the probe, if any. The prober reads
/// frames asynchronously; this synchronous form is the entry point of the fuzz targets.
pub fn decode_body<'a>(
    compression: Option<Compression>,
    chunks: impl IntoIterator<Item = &'a [u8]>,
    limit: u64,
    keep: bool,
) -> (u64, Vec<u8>, Option<String>) {
    let collector = Collector {
        keep,
        buf: Vec::new(),
        count: 0,
        limit,
    };
    let mut decoder = Decoder::new(compression, collector);
    let mut write_error = None;
    for chunk in chunks {
        if let Err(e) = decoder.write_all(chunk) {
            write_error = Some(e.to_string());
            break;
        }
    }
    let (count, buf, finish_error) = decoder.finish();
    (count, buf, write_error.or(finish_error))
}

fn status_ok(m: &HttpModule, status: StatusCode) -> bool {
    if m.valid_status_codes.is_empty() {
        status.is_success()
    } else {
        m.valid_status_codes.contains(&status.as_u16())
    }
}

fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "unknown",
    }
}

fn header_values<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Vec<&'a [u8]> {
    headers
        .get_all(name)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect()
}

fn headers_match(
    matchers: &[HeaderMatch],
    headers: &HeaderMap,
    fail_if_match: bool,
    cx: &mut ProbeCx,
) -> bool {
    for hm in matchers {
        let values = header_values(headers, &hm.header);
        if values.is_empty() {
            if hm.allow_missing {
                continue;
            }
            cx.log
                .error("Missing required header", &[("header", hm.header.as_str())]);
            return false;
        }
        let any = values.iter().any(|v| hm.regexp.is_match(v));
        if fail_if_match && any {
            cx.log.error(
                "Header matched regular expression",
                &[
                    ("header", hm.header.as_str()),
                    ("regexp", hm.regexp.as_str()),
                ],
            );
            return false;
        }
        if !fail_if_match && !any {
            cx.log.error(
                "Header did not match regular expression",
                &[
                    ("header", hm.header.as_str()),
                    ("regexp", hm.regexp.as_str()),
                ],
            );
            return false;
        }
    }
    true
}

async fn evaluate(m: &HttpModule, resp: &mut Final, cx: &mut ProbeCx) -> bool {
    let status = resp.status;
    cx.log.info(
        "Received HTTP response",
        &[("status_code", status.as_str())],
    );
    let mut success = status_ok(m, status);
    if !success {
        cx.log.info(
            "Invalid HTTP response status code",
            &[
                ("status_code", status.as_str()),
                ("valid_status_codes", &format!("{:?}", m.valid_status_codes)),
            ],
        );
    }
    let mut regex_checked = None;
    if success && (!m.fail_if_header_matches.is_empty() || !m.fail_if_header_not_matches.is_empty())
    {
        let ok = headers_match(&m.fail_if_header_matches, &resp.headers, true, cx)
            && headers_match(&m.fail_if_header_not_matches, &resp.headers, false, cx);
        regex_checked = Some(ok);
        success = ok;
    }

    let content_length = resp
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(-1);

    let mut body_len = 0u64;
    if !resp.request_errored {
        let want_body = success
            && (!m.fail_if_body_matches.is_empty() || !m.fail_if_body_not_matches.is_empty());
        let collector = Collector {
            keep: want_body,
            buf: Vec::new(),
            count: 0,
            limit: if m.body_size_limit > 0 {
                m.body_size_limit
            } else {
                DEFAULT_BODY_LIMIT
            },
        };
        let mut decoder = Decoder::new(m.compression, collector);
        let mut read_error: Option<String> = None;
        if let Some(mut body) = resp.body.take() {
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(f) => {
                        if let Some(data) = f.data_ref() {
                            if let Err(e) = decoder.write_all(data) {
                                read_error = Some(e.to_string());
                                break;
                            }
                        }
                    }
                    Err(e) => {
                        read_error = Some(e.to_string());
                        break;
                    }
                }
            }
        }
        let (count, buf, finish_error) = decoder.finish();
        body_len = count;
        // After a read error the decoder's own complaint adds nothing.
        if let Some(e) = read_error.or(finish_error) {
            cx.log
                .error("Failed to read HTTP response body", &[("err", &e)]);
            success = false;
        } else if success && want_body {
            let mut ok = true;
            for re in &m.fail_if_body_matches {
                if re.is_match(&buf) {
                    cx.log.error(
                        "Body matched regular expression",
                        &[("regexp", re.as_str())],
                    );
                    ok = false;
                    break;
                }
            }
            if ok {
                for re in &m.fail_if_body_not_matches {
                    if !re.is_match(&buf) {
                        cx.log.error(
                            "Body did not match regular expression",
                            &[("regexp", re.as_str())],
                        );
                        ok = false;
                        break;
                    }
                }
            }
            regex_checked = Some(ok);
            success = ok;
        }
    }
    if let Some(ok) = regex_checked {
        cx.registry
            .set_gauge(&FAILED_DUE_TO_REGEX, if ok { 0.0 } else { 1.0 });
    }

    if let Some(lm) = resp
        .headers
        .get(header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    {
        let secs = match lm.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        };
        cx.registry
            .set_gauge(&LAST_MODIFIED_TIMESTAMP_SECONDS, secs);
    }

    let version = version_str(resp.version);
    let version_value = match resp.version {
        Version::HTTP_09 => 0.9,
        Version::HTTP_10 => 1.0,
        Version::HTTP_11 => 1.1,
        Version::HTTP_2 => 2.0,
        Version::HTTP_3 => 3.0,
        _ => 0.0,
    };
    cx.registry.set_gauge(&VERSION, version_value);
    if !m.valid_http_versions.is_empty() && !m.valid_http_versions.iter().any(|v| v == version) {
        cx.log
            .error("Invalid HTTP version number", &[("version", version)]);
        success = false;
    }

    if let Some(state) = &resp.tls {
        cx.registry.set_gauge(&SSL, 1.0);
        tls::record_metrics(&mut cx.registry, state, &resp.chain, true);
        if m.fail_if_ssl {
            cx.log.error("Final request was over SSL", &[]);
            success = false;
        }
    } else if m.fail_if_not_ssl && success {
        cx.log.error("Final request was not over SSL", &[]);
        success = false;
    }

    cx.registry
        .set_gauge(&STATUS_CODE, f64::from(status.as_u16()));
    cx.registry
        .set_gauge(&CONTENT_LENGTH, content_length as f64);
    cx.registry
        .set_gauge(&UNCOMPRESSED_BODY_LENGTH, body_len as f64);
    success
}
