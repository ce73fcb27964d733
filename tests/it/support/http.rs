//! A loopback HTTP test server on hyper 1 + hyper-util.
//!
//! [`HttpServer`] serves HTTP/1.1 and HTTP/2 (`hyper_util::server::conn::auto`), in
//! plain text or over TLS (tokio-rustls). Over TLS the negotiated ALPN protocol
//! picks the HTTP version (`h2` → HTTP/2 only, `http/1.1` → HTTP/1 only, none →
//! auto-detect); by default ALPN offers `h2`, `http/1.1` (see [`TlsOptions`]).
//!
//! Each request is read in full, recorded as a [`TestRequest`] (inspect with
//! [`HttpServer::requests`]), and handed to the test's handler, which returns a
//! [`TestResponse`]: status, multi-valued headers, body, optional delay before the
//! response is sent, and content-length vs chunked (streamed) body framing.
//!
//! Ready-made handlers live in [`handlers`]: fixed responses, redirect chains
//! (`/redirect/N`), endless redirects (`/loop/N`), compressed bodies, large and
//! slow responses.
//!
//! About `deflate`: blackbox_exporter (Go) decodes `Content-Encoding: deflate` with
//! `compress/flate`, i.e. **raw DEFLATE (RFC 1951) without a zlib header**; that is
//! [`Encoding::DeflateRaw`]. [`Encoding::DeflateZlib`] is the RFC 1950 zlib-wrapped
//! variant that the HTTP RFCs actually specify for `deflate`. Both are labelled
//! `Content-Encoding: deflate`.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, Version,
};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::certs::ServerCert;
use super::tls::{server_config, TlsOptions};
use super::{bind_loopback, spawn_cancellable, CancellableExecutor, ShutdownOnDrop};

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// TLS details of the connection a request arrived on.
#[derive(Clone, Debug, Default)]
pub struct TlsInfo {
    /// SNI server name sent by the client, if any.
    pub sni: Option<String>,
    /// Negotiated ALPN protocol, if any (e.g. `b"h2"`).
    pub alpn: Option<Vec<u8>>,
    /// Negotiated protocol version.
    pub version: Option<rustls::ProtocolVersion>,
    /// Client certificate chain, when client auth was requested and provided.
    pub client_certs: Vec<CertificateDer<'static>>,
}

/// A request as received by the server (body read in full).
#[derive(Clone, Debug)]
pub struct TestRequest {
    /// Request method.
    pub method: Method,
    /// Request target as received: origin-form (`/path?q`) for HTTP/1, absolute
    /// (`https://host:port/path`) for HTTP/2 or proxy-style requests.
    pub uri: Uri,
    /// HTTP version.
    pub version: Version,
    /// All request headers (multi-valued).
    pub headers: HeaderMap,
    /// The full request body.
    pub body: Bytes,
    /// `Some` when the request came over TLS.
    pub tls: Option<TlsInfo>,
    /// Server address the connection was accepted on.
    pub local_addr: SocketAddr,
    /// Client address.
    pub remote_addr: SocketAddr,
}

impl TestRequest {
    /// Whether the request came over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Path component (`/a/b`).
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// Query string without `?`, if any.
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    /// Path plus `?query` (what an HTTP/1 request line carries).
    pub fn path_and_query(&self) -> &str {
        self.uri.path_and_query().map_or("/", |pq| pq.as_str())
    }

    /// First value of header `name` (case-insensitive), if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// All values of header `name`, in order (non-UTF-8 values are skipped).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    /// The `Host` header, or for HTTP/2 the `:authority` (carried in the URI).
    pub fn host(&self) -> Option<String> {
        self.header("host")
            .map(str::to_owned)
            .or_else(|| self.uri.authority().map(|a| a.as_str().to_owned()))
    }

    /// Body as (lossy) UTF-8.
    pub fn body_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT` of the serving server,
    /// handy for building absolute `Location` headers.
    pub fn base_url(&self) -> String {
        let scheme = if self.is_tls() { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr)
    }
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

/// How the response body is framed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BodyMode {
    /// Known length: `Content-Length` (HTTP/1) / `content-length` (HTTP/2).
    #[default]
    ContentLength,
    /// Unknown length: `Transfer-Encoding: chunked` on HTTP/1 (plain DATA frames
    /// without `content-length` on HTTP/2), sent in `chunk_size` pieces with an
    /// optional pause between pieces.
    Chunked {
        /// Bytes per chunk (at least 1).
        chunk_size: usize,
        /// Pause before every chunk after the first.
        interval: Option<Duration>,
    },
}

/// Content codings the server can apply to a response body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// gzip (RFC 1952), `Content-Encoding: gzip`.
    Gzip,
    /// **Raw** DEFLATE (RFC 1951, no zlib header), `Content-Encoding: deflate`.
    /// This is what Go's `compress/flate` (and so blackbox_exporter) decodes.
    DeflateRaw,
    /// zlib-wrapped DEFLATE (RFC 1950), `Content-Encoding: deflate`.
    DeflateZlib,
    /// Brotli, `Content-Encoding: br`.
    Brotli,
}

impl Encoding {
    /// The `Content-Encoding` header value.
    pub fn content_encoding(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::DeflateRaw | Encoding::DeflateZlib => "deflate",
            Encoding::Brotli => "br",
        }
    }

    /// Compresses `data` with this coding.
    pub fn encode(self, data: &[u8]) -> Vec<u8> {
        use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
        use flate2::Compression;
        match self {
            Encoding::Gzip => {
                let mut enc = GzEncoder::new(Vec::new(), Compression::default());
                enc.write_all(data).expect("gzip into memory");
                enc.finish().expect("gzip into memory")
            }
            Encoding::DeflateRaw => {
                let mut enc = DeflateEncoder::new(Vec::new(), Compression::default());
                enc.write_all(data).expect("deflate into memory");
                enc.finish().expect("deflate into memory")
            }
            Encoding::DeflateZlib => {
                let mut enc = ZlibEncoder::new(Vec::new(), Compression::default());
                enc.write_all(data).expect("zlib into memory");
                enc.finish().expect("zlib into memory")
            }
            Encoding::Brotli => {
                let mut out = Vec::new();
                {
                    let mut enc = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                    enc.write_all(data).expect("brotli into memory");
                    enc.flush().expect("brotli into memory");
                }
                out
            }
        }
    }
}

/// gzip-compress `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    Encoding::Gzip.encode(data)
}

/// Raw DEFLATE (no zlib header; Go `compress/flate`) compress `data`.
pub fn deflate_raw(data: &[u8]) -> Vec<u8> {
    Encoding::DeflateRaw.encode(data)
}

/// zlib (RFC 1950) compress `data`.
pub fn zlib(data: &[u8]) -> Vec<u8> {
    Encoding::DeflateZlib.encode(data)
}

/// Brotli-compress `data`.
pub fn brotli_compress(data: &[u8]) -> Vec<u8> {
    Encoding::Brotli.encode(data)
}

/// `len` bytes of a repeating printable pattern (deterministic, compressible).
pub fn large_body(len: usize) -> Bytes {
    const PATTERN: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz\n";
    PATTERN
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect::<Vec<u8>>()
        .into()
}

/// What the handler wants sent back.
#[derive(Clone, Debug)]
pub struct TestResponse {
    /// Status code.
    pub status: StatusCode,
    /// Response headers; use [`TestResponse::with_header`] to append repeated ones.
    pub headers: HeaderMap,
    /// Body bytes (already content-encoded, if a coding applies).
    pub body: Bytes,
    /// Sleep this long before sending the response head.
    pub delay: Option<Duration>,
    /// Body framing.
    pub body_mode: BodyMode,
}

impl Default for TestResponse {
    fn default() -> Self {
        Self::ok()
    }
}

impl TestResponse {
    /// Empty response with `status` (panics on an invalid code).
    pub fn new(status: u16) -> Self {
        Self {
            status: StatusCode::from_u16(status).expect("valid HTTP status code"),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            delay: None,
            body_mode: BodyMode::ContentLength,
        }
    }

    /// Empty `200 OK`.
    pub fn ok() -> Self {
        Self::new(200)
    }

    /// `404 Not Found` with a short text body.
    pub fn not_found() -> Self {
        Self::text(404, "not found")
    }

    /// `status` with a `text/plain` body.
    pub fn text(status: u16, body: impl Into<Bytes>) -> Self {
        Self::new(status)
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(body)
    }

    /// A redirect (`status` should be 301/302/303/307/308) to `location`.
    pub fn redirect(status: u16, location: &str) -> Self {
        Self::new(status).with_header("location", location)
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Appends a header (repeat for multi-valued headers such as `Set-Cookie`).
    /// Panics on an invalid name or value.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("valid header name");
        let value = HeaderValue::from_str(value).expect("valid header value");
        self.headers.append(name, value);
        self
    }

    /// Waits `delay` before sending the response (for timeout tests).
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Sends the body with chunked framing, 8 KiB per chunk, no pauses.
    pub fn chunked(self) -> Self {
        self.chunked_with(8192, None)
    }

    /// Sends the body with chunked framing, `chunk_size` bytes per chunk and an
    /// optional pause between chunks (a slow body).
    pub fn chunked_with(mut self, chunk_size: usize, interval: Option<Duration>) -> Self {
        self.body_mode = BodyMode::Chunked {
            chunk_size: chunk_size.max(1),
            interval,
        };
        self
    }

    /// Compresses the current body with `encoding` and sets `Content-Encoding`.
    pub fn encoded(mut self, encoding: Encoding) -> Self {
        self.body = encoding.encode(&self.body).into();
        self.with_header("content-encoding", encoding.content_encoding())
    }

    fn into_hyper(self) -> Response<OutBody> {
        let body = match self.body_mode {
            BodyMode::ContentLength => OutBody::Full(Some(self.body)),
            BodyMode::Chunked {
                chunk_size,
                interval,
            } => {
                let mut chunks = VecDeque::new();
                let mut rest = self.body;
                while !rest.is_empty() {
                    let n = chunk_size.min(rest.len());
                    chunks.push_back(rest.split_to(n));
                }
                OutBody::Chunked {
                    chunks,
                    interval,
                    started: false,
                    sleep: None,
                }
            }
        };
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }
}

/// Response body: either one exact-length frame or a stream of chunks.
enum OutBody {
    Full(Option<Bytes>),
    Chunked {
        chunks: VecDeque<Bytes>,
        interval: Option<Duration>,
        started: bool,
        sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    },
}

impl Body for OutBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            OutBody::Full(body) => Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
            OutBody::Chunked {
                chunks,
                interval,
                started,
                sleep,
            } => {
                if chunks.is_empty() {
                    return Poll::Ready(None);
                }
                if let (true, Some(interval)) = (*started, *interval) {
                    let timer = sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(interval)));
                    if timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *sleep = None;
                }
                *started = true;
                Poll::Ready(chunks.pop_front().map(|c| Ok(Frame::data(c))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            OutBody::Full(body) => body.is_none(),
            OutBody::Chunked { chunks, .. } => chunks.is_empty(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            OutBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            OutBody::Full(None) => SizeHint::with_exact(0),
            OutBody::Chunked { .. } => SizeHint::default(),
        }
    }
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

type ResponseFuture = Pin<Box<dyn Future<Output = TestResponse> + Send>>;

/// A request handler (sync or async closure), shared by all connections.
#[derive(Clone)]
pub struct Handler(Arc<dyn Fn(TestRequest) -> ResponseFuture + Send + Sync>);

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handler")
    }
}

impl Handler {
    /// Wraps a synchronous closure.
    pub fn sync<F>(handler: F) -> Self
    where
        F: Fn(&TestRequest) -> TestResponse + Send + Sync + 'static,
    {
        Self(Arc::new(move |req: TestRequest| {
            let response = handler(&req);
            Box::pin(std::future::ready(response)) as ResponseFuture
        }))
    }

    /// Wraps an async closure.
    pub fn from_async<F, Fut>(handler: F) -> Self
    where
        F: Fn(TestRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = TestResponse> + Send + 'static,
    {
        Self(Arc::new(move |req: TestRequest| {
            Box::pin(handler(req)) as ResponseFuture
        }))
    }
}

/// Ready-made handlers for common scenarios.
pub mod handlers {
    use std::collections::HashMap;
    use std::time::Duration;

    use bytes::Bytes;

    use super::{large_body, Encoding, TestRequest, TestResponse};

    /// Always `status` with `body`.
    pub fn fixed(
        status: u16,
        body: impl Into<Bytes>,
    ) -> impl Fn(&TestRequest) -> TestResponse + Send + Sync + Clone + 'static {
        let response = TestResponse::new(status).with_body(body);
        move |_| response.clone()
    }

    /// Always an empty `200 OK`.
    pub fn ok() -> impl Fn(&TestRequest) -> TestResponse + Send + Sync + Clone + 'static {
        fixed(200, Bytes::new())
    }

    /// Always the given response.
    pub fn always(
        response: TestResponse,
    ) -> impl Fn(&TestRequest) -> TestResponse + Send + Sync + Clone + 'static {
        move |_| response.clone()
    }

    /// Exact-path routing (path without query); unknown paths get 404.
    pub fn routes(
        routes: Vec<(&'static str, TestResponse)>,
    ) -> impl Fn(&TestRequest) -> TestResponse + Send + Sync + Clone + 'static {
        let routes: HashMap<&'static str, TestResponse> = routes.into_iter().collect();
        move |req| {
            routes
                .get(req.path())
                .cloned()
                .unwrap_or_else(TestResponse::not_found)
        }
    }

    /// Redirects:
    ///
    /// * `/redirect/N` (N > 0) → `302`, `Location: /redirect/N-1`; `/redirect/0` →
    ///   `200` with body `redirect chain done`.
    /// * `/loop/N` → `302`, `Location: /loop/N+1`, forever.
    /// * anything else → 404.
    ///
    /// `Location` values are relative paths.
    pub fn redirects() -> impl Fn(&TestRequest) -> TestResponse + Send + Sync + Clone + 'static {
        |req| {
            let path = req.path();
            if let Some(n) = path
                .strip_prefix("/redirect/")
                .and_then(|n| n.parse::<u64>().ok())
            {
                return match n {
                    0 => TestResponse::text(200, "redirect chain done"),
                    n => TestResponse::redirect(302, &format!("/redirect/{}", n - 1)),
                };
            }
            if let Some(n) = path
                .strip_prefix("/loop/")
                .and_then(|n| n.parse::<u64>().ok())
            {
                return TestResponse::redirect(302, &format!("/loop/{}", n + 1));
            }
            TestResponse::not_found()
        }
    }

    /// `200` whose body is `body` compressed with `encoding` (and the matching
    /// `Content-Encoding` header).
    pub fn encoded(
        encoding: Encoding,
        body: impl Into<Bytes>,
    ) -> impl Fn(&TestRequest) -> TestResponse + Send + Sync + Clone + 'static {
        always(TestResponse::ok().with_body(body).encoded(encoding))
    }

    /// `200` with a `len`-byte body ([`large_body`]), content-length framed.
    pub fn large(
        len: usize,
    ) -> impl Fn(&TestRequest) -> TestResponse + Send + Sync + Clone + 'static {
        always(TestResponse::ok().with_body(large_body(len)))
    }

    /// `status` after sleeping `delay`.
    pub fn slow(
        delay: Duration,
        status: u16,
    ) -> impl Fn(&TestRequest) -> TestResponse + Send + Sync + Clone + 'static {
        always(TestResponse::new(status).with_delay(delay))
    }

    /// `200` echoing the request body back.
    pub fn echo() -> impl Fn(&TestRequest) -> TestResponse + Send + Sync + Clone + 'static {
        |req| TestResponse::ok().with_body(req.body.clone())
    }
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

#[derive(Debug, Default)]
struct State {
    requests: Mutex<Vec<TestRequest>>,
    connections: AtomicUsize,
    handshake_failures: AtomicUsize,
}

#[derive(Clone)]
struct ConnCtx {
    handler: Handler,
    state: Arc<State>,
    token: CancellationToken,
    local_addr: SocketAddr,
    remote_addr: SocketAddr,
}

/// A running loopback HTTP(S) server; dropped → shut down.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    tls: bool,
    state: Arc<State>,
    _shutdown: ShutdownOnDrop,
}

impl HttpServer {
    /// Plain-HTTP server (HTTP/1.1; HTTP/2 with prior knowledge) with a sync handler.
    pub fn plain<F>(handler: F) -> Self
    where
        F: Fn(&TestRequest) -> TestResponse + Send + Sync + 'static,
    {
        Self::start(None, Handler::sync(handler))
    }

    /// Plain-HTTP server with an async handler.
    pub fn plain_async<F, Fut>(handler: F) -> Self
    where
        F: Fn(TestRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = TestResponse> + Send + 'static,
    {
        Self::start(None, Handler::from_async(handler))
    }

    /// HTTPS server presenting `cert` with default [`TlsOptions`] (ALPN `h2`,
    /// `http/1.1`; TLS 1.2 and 1.3) and a sync handler.
    pub fn tls<F>(cert: &ServerCert, handler: F) -> Self
    where
        F: Fn(&TestRequest) -> TestResponse + Send + Sync + 'static,
    {
        Self::tls_with(cert, TlsOptions::default(), handler)
    }

    /// HTTPS server with explicit TLS options and a sync handler.
    pub fn tls_with<F>(cert: &ServerCert, options: TlsOptions, handler: F) -> Self
    where
        F: Fn(&TestRequest) -> TestResponse + Send + Sync + 'static,
    {
        Self::start(Some(server_config(cert, &options)), Handler::sync(handler))
    }

    /// HTTPS server with explicit TLS options and an async handler.
    pub fn tls_async<F, Fut>(cert: &ServerCert, options: TlsOptions, handler: F) -> Self
    where
        F: Fn(TestRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = TestResponse> + Send + 'static,
    {
        Self::start(
            Some(server_config(cert, &options)),
            Handler::from_async(handler),
        )
    }

    /// General constructor: TLS when `tls` is `Some` (any rustls config).
    /// Must be called inside a tokio runtime.
    pub fn start(tls: Option<Arc<rustls::ServerConfig>>, handler: Handler) -> Self {
        let (listener, addr) = bind_loopback();
        Self::serve(listener, addr, tls, handler)
    }

    /// Plain-HTTP server with a sync handler on `ip` (port 0) instead of loopback: for
    /// peers in other network namespaces (`cluster_partition.rs`).
    pub fn plain_on<F>(ip: std::net::IpAddr, handler: F) -> Self
    where
        F: Fn(&TestRequest) -> TestResponse + Send + Sync + 'static,
    {
        let std_listener = std::net::TcpListener::bind((ip, 0)).expect("binding a test server");
        std_listener
            .set_nonblocking(true)
            .expect("setting the test listener non-blocking");
        let addr = std_listener
            .local_addr()
            .expect("the test listener's address");
        let listener = tokio::net::TcpListener::from_std(std_listener)
            .expect("test servers must be started inside a tokio runtime");
        Self::serve(listener, addr, None, Handler::sync(handler))
    }

    fn serve(
        listener: tokio::net::TcpListener,
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        handler: Handler,
    ) -> Self {
        let shutdown = ShutdownOnDrop::new();
        let state = Arc::new(State::default());
        let is_tls = tls.is_some();
        let acceptor = tls.map(TlsAcceptor::from);
        shutdown.spawn(accept_loop(
            listener,
            acceptor,
            handler,
            Arc::clone(&state),
            shutdown.token.clone(),
        ));
        Self {
            addr,
            tls: is_tls,
            state,
            _shutdown: shutdown,
        }
    }

    /// Listening address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Whether this server speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// `http(s)://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme(), self.addr)
    }

    /// `http(s)://127.0.0.1:PORT/path` (a missing leading `/` is added).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url(), normalize_path(path))
    }

    /// `http(s)://localhost:PORT/path`. The server only listens on 127.0.0.1, so
    /// the prober must resolve `localhost` to IPv4 (this machine's /etc/hosts
    /// maps it to 127.0.0.1 only; use `ip_protocol_fallback` / `preferred_ip_protocol: ip4` to be safe).
    pub fn localhost_url(&self, path: &str) -> String {
        format!(
            "{}://localhost:{}{}",
            self.scheme(),
            self.addr.port(),
            normalize_path(path)
        )
    }

    /// Snapshot of every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<TestRequest> {
        self.state
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `path_and_query` of every request received so far, in arrival order.
    pub fn requested_paths(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| r.path_and_query().to_owned())
            .collect()
    }

    /// Number of requests received so far.
    pub fn request_count(&self) -> usize {
        self.state
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The most recent request, if any.
    pub fn last_request(&self) -> Option<TestRequest> {
        self.state
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last()
            .cloned()
    }

    /// Forgets recorded requests.
    pub fn clear_requests(&self) {
        self.state
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// TCP connections accepted so far.
    pub fn connection_count(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// TLS handshakes that failed (e.g. the client rejected the certificate).
    pub fn handshake_failures(&self) -> usize {
        self.state.handshake_failures.load(Ordering::SeqCst)
    }
}

fn normalize_path(path: &str) -> Cow<'_, str> {
    if path.starts_with('/') {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(format!("/{path}"))
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: Option<TlsAcceptor>,
    handler: Handler,
    state: Arc<State>,
    token: CancellationToken,
) {
    loop {
        let (stream, remote_addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                // Transient (e.g. EMFILE); back off briefly instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        state.connections.fetch_add(1, Ordering::SeqCst);
        let local_addr = stream
            .local_addr()
            .unwrap_or_else(|_| listener.local_addr().expect("listener has a local address"));
        let ctx = ConnCtx {
            handler: handler.clone(),
            state: Arc::clone(&state),
            token: token.clone(),
            local_addr,
            remote_addr,
        };
        spawn_cancellable(token.clone(), serve_tcp(stream, acceptor.clone(), ctx));
    }
}

async fn serve_tcp(stream: TcpStream, acceptor: Option<TlsAcceptor>, ctx: ConnCtx) {
    let Some(acceptor) = acceptor else {
        serve_io(stream, None, ctx).await;
        return;
    };
    match acceptor.accept(stream).await {
        Ok(tls_stream) => {
            let conn = tls_stream.get_ref().1;
            let info = TlsInfo {
                sni: conn.server_name().map(str::to_owned),
                alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
                version: conn.protocol_version(),
                client_certs: conn
                    .peer_certificates()
                    .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
                    .unwrap_or_default(),
            };
            serve_io(tls_stream, Some(info), ctx).await;
        }
        Err(_) => {
            ctx.state.handshake_failures.fetch_add(1, Ordering::SeqCst);
        }
    }
}

async fn serve_io<I>(io: I, tls: Option<TlsInfo>, ctx: ConnCtx)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = auto::Builder::new(CancellableExecutor(ctx.token.clone()));
    match tls.as_ref().and_then(|t| t.alpn.as_deref()) {
        Some(b"h2") => builder = builder.http2_only(),
        Some(b"http/1.1") => builder = builder.http1_only(),
        _ => {}
    }
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let ctx = ctx.clone();
        let tls = tls.clone();
        async move { Ok::<_, Infallible>(handle(req, tls, ctx).await) }
    });
    // Connection errors (client went away, protocol errors) are not test failures.
    let _ = builder.serve_connection(TokioIo::new(io), service).await;
}

async fn handle(req: Request<Incoming>, tls: Option<TlsInfo>, ctx: ConnCtx) -> Response<OutBody> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let request = TestRequest {
        method: parts.method,
        uri: parts.uri,
        version: parts.version,
        headers: parts.headers,
        body,
        tls,
        local_addr: ctx.local_addr,
        remote_addr: ctx.remote_addr,
    };
    ctx.state
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(request.clone());
    let response = (ctx.handler.0)(request).await;
    if let Some(delay) = response.delay {
        tokio::time::sleep(delay).await;
    }
    response.into_hyper()
}
