//! One hop on the wire: the address (the first hop's comes from `choose_protocol`, later
//! hops resolve their own), a TCP connection, the rustls handshake for https (ALPN h2 when
//! `enable_http2`), hyper's HTTP/1.1 or h2 client connection, and the request sent. Each
//! phase is added to `probe_http_duration_seconds` as it is measured. It returns the
//! response head with its unread body ([`Final`]); checking it is `checks`. A hop that goes
//! through a proxy (the module's proxy settings decide per URL) connects in `proxy.rs`.

use std::future::{poll_fn, Future};
use std::net::{IpAddr, SocketAddr};
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::header::HeaderMap;
use http::{Response, StatusCode, Version};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::add_phase;
use super::request::{build_request, url_host, Hop, RequestState};
use crate::client::tls::ChainRecord;
use crate::probe::module::HttpModule;
use crate::probe::tls::TlsState;
use crate::probe::{resolve, ProbeCx};

/// The most response-head bytes read (HTTP/1 read buffer; HTTP/2 header list), hyper's HTTP/1
/// default made explicit: endless headers fail the probe instead of growing memory.
pub const MAX_RESPONSE_HEAD: usize = 8192 + 4096 * 100;

/// hyper's HTTP/1 or h2 client connection future, over whichever stream the hop has.
type ConnFuture = Pin<Box<dyn Future<Output = Result<(), hyper::Error>> + Send>>;

/// hyper's client connection for one hop, driven by the probe's own task: whatever the
/// probe awaits on the connection (the response head, the body) is awaited through
/// [`Driver::drive`], which polls the connection alongside it. No task is spawned per
/// probe, and dropping the driver closes the connection.
pub(super) struct Driver {
    conn: Option<ConnFuture>,
    /// Why the connection ended, when it ended with an error: it explains a request that
    /// failed as "canceled".
    error: Option<String>,
}

impl Driver {
    fn new(conn: impl Future<Output = Result<(), hyper::Error>> + Send + 'static) -> Driver {
        Driver {
            conn: Some(Box::pin(conn)),
            error: None,
        }
    }

    /// Awaits `f`, polling the connection first on every wake-up so that what `f` waits
    /// for (written requests, parsed responses, body frames) makes progress.
    pub(super) async fn drive<F: Future>(&mut self, f: F) -> F::Output {
        let mut f = pin!(f);
        poll_fn(|cx| {
            if let Some(conn) = self.conn.as_mut() {
                if let Poll::Ready(done) = conn.as_mut().poll(cx) {
                    if let Err(e) = done {
                        self.error = Some(e.to_string());
                    }
                    self.conn = None;
                }
            }
            f.as_mut().poll(cx)
        })
        .await
    }
}

/// The request half of a client connection.
pub(super) enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

/// Everything learned about the response that ends the probe.
pub(super) struct Final {
    pub(super) status: StatusCode,
    pub(super) version: Version,
    pub(super) headers: HeaderMap,
    pub(super) tls: Option<TlsState>,
    pub(super) chain: ChainRecord,
    pub(super) body: Option<Incoming>,
    pub(super) driver: Driver,
    /// A redirect was refused (not followed, or over the limit): upstream's `requestErrored`.
    pub(super) request_errored: bool,
    pub(super) first_byte: Instant,
}

/// One hop's connection, ready for its request.
pub(super) struct Conn {
    pub(super) sender: Sender,
    pub(super) driver: Driver,
    pub(super) tls: Option<TlsState>,
    pub(super) chain: ChainRecord,
}

/// Connects to `hop` (directly, or through the proxy `m.client.proxy` picks for its URL)
/// and sends its request; the error is the message upstream logs.
pub(super) async fn round_trip(
    hop: &Hop,
    state: &RequestState,
    m: &HttpModule,
    cx: &mut ProbeCx,
) -> Result<Final, String> {
    let https = hop.url.scheme() == "https";
    let port = hop
        .url
        .port_or_known_default()
        .unwrap_or(if https { 443 } else { 80 });
    let proxy = m.client.proxy.proxy_for(&hop.url);
    let conn = match &proxy {
        None => connect_direct(hop, port, m, cx).await?,
        Some(p) => super::proxy::connect(hop, port, p, m, cx).await?,
    };
    let got_conn = Instant::now();
    let Conn {
        sender,
        mut driver,
        tls: tls_state,
        chain,
    } = conn;

    let mut request = build_request(hop, state, m, matches!(sender, Sender::H2(_)))?;
    if let (Some(p), false) = (&proxy, https) {
        super::proxy::absolute_form(&mut request, hop, p)?;
    }
    let sent = match sender {
        Sender::H1(mut s) => driver.drive(s.send_request(request)).await,
        Sender::H2(mut s) => driver.drive(s.send_request(request)).await,
    };
    let response: Response<Incoming> = match sent {
        Ok(r) => r,
        // The request is "canceled" when the connection failed (e.g. a response head over
        // the size bound): report the connection's own error instead.
        Err(e) if e.is_canceled() => {
            return Err(driver.error.take().unwrap_or_else(|| e.to_string()))
        }
        Err(e) => return Err(e.to_string()),
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
        driver,
        request_errored: false,
        first_byte,
    })
}

/// A direct connection to the hop's target: its address (resolved here unless the hop
/// carries one), TCP, and TLS for https.
async fn connect_direct(
    hop: &Hop,
    port: u16,
    m: &HttpModule,
    cx: &mut ProbeCx,
) -> Result<Conn, String> {
    let ips = match hop.ip {
        Some(ip) => vec![ip],
        None => resolve_hop(hop, cx).await?,
    };
    // Each address in turn until one accepts, as Go's dialer does (a name may resolve to
    // ::1 and 127.0.0.1 with only one of them listening); each is checked by the
    // `/probe` allow-list before it is dialled.
    let connect_start = Instant::now();
    let mut last_err = String::new();
    let mut connected = None;
    for (i, ip) in ips.iter().enumerate() {
        if hop.ip.is_none() {
            cx.check_address(&url_host(&hop.url), *ip, Some(port))?;
        }
        match TcpStream::connect(SocketAddr::new(*ip, port)).await {
            Ok(tcp) => {
                connected = Some(tcp);
                break;
            }
            Err(e) if i + 1 < ips.len() => last_err = e.to_string(),
            Err(e) => {
                last_err = format!("dial tcp {}: {e}", SocketAddr::new(*ip, port));
            }
        }
    }
    let tcp = connected.ok_or(last_err)?;
    let _ = tcp.set_nodelay(true);
    let connect_time = connect_start.elapsed();

    if hop.url.scheme() == "https" {
        let tls = tls_handshake(hop, tcp, m).await?;
        // Like Go's trace, a hop counts connect and tls only once it has a usable
        // connection: a failed handshake contributes its resolve time alone.
        add_phase(cx, "connect", connect_time);
        add_phase(cx, "tls", tls.time);
        let (sender, driver) = handshake(TokioIo::new(tls.stream), tls.h2).await?;
        Ok(Conn {
            sender,
            driver,
            tls: Some(tls.state),
            chain: tls.chain,
        })
    } else {
        add_phase(cx, "connect", connect_time);
        let (sender, driver) = handshake(TokioIo::new(tcp), false).await?;
        Ok(Conn {
            sender,
            driver,
            tls: None,
            chain: ChainRecord::default(),
        })
    }
}

/// The addresses of a hop without one (a redirect to another authority; the first hop when
/// the proxy settings skipped `chooseProtocol` but this URL goes direct): resolved by the
/// dialer (Go's, not `chooseProtocol`), its time added to the `resolve` phase of a redirect.
async fn resolve_hop(hop: &Hop, cx: &mut ProbeCx) -> Result<Vec<IpAddr>, String> {
    let start = Instant::now();
    let host = url_host(&hop.url);
    let ips = resolve::lookup_all(&host).await;
    // The first hop's resolve phase is `chooseProtocol`'s alone (upstream skips the trace's
    // DNS time of its first round trip), even when the proxy settings skipped that.
    if !hop.first {
        add_phase(cx, "resolve", start.elapsed());
    }
    let ips = ips.map_err(|e| e.to_string())?;
    if ips.is_empty() {
        return Err(format!("lookup {host}: no such host"));
    }
    Ok(ips)
}

/// A finished TLS handshake with the hop's target.
pub(super) struct TlsDone<I> {
    pub(super) stream: tokio_rustls::client::TlsStream<I>,
    pub(super) state: TlsState,
    pub(super) chain: ChainRecord,
    /// The server chose h2 by ALPN.
    pub(super) h2: bool,
    /// How long the handshake took.
    pub(super) time: Duration,
}

/// The TLS handshake with the hop's target over `io` (a TCP connection, or a tunnel through
/// a proxy), with the TLS state and the verified chain for the TLS metrics.
pub(super) async fn tls_handshake<I>(hop: &Hop, io: I, m: &HttpModule) -> Result<TlsDone<I>, String>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let alpn: &[&[u8]] = if m.client.enable_http2 {
        &[b"h2", b"http/1.1"]
    } else {
        &[b"http/1.1"]
    };
    let (config, chain) = crate::client::tls::client_config(&m.client.tls_or_default(), alpn)
        .map_err(|e| e.to_string())?;
    let name = hop
        .server_name
        .clone()
        .unwrap_or_else(|| url_host(&hop.url));
    let server_name = ServerName::try_from(name.clone())
        .map_err(|e| format!("invalid TLS server name {name:?}: {e}"))?;
    let tls_start = Instant::now();
    let stream = TlsConnector::from(config)
        .connect(server_name, io)
        .await
        .map_err(|e| format!("tls: {}", crate::client::tls::handshake_error(&e)))?;
    let time = tls_start.elapsed();
    let state = TlsState::from_connection(stream.get_ref().1);
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    Ok(TlsDone {
        stream,
        state,
        chain,
        h2,
        time,
    })
}

/// hyper's client handshake over `io`; the connection is driven by the probe through the
/// returned [`Driver`]. The head size is bounded by [`MAX_RESPONSE_HEAD`].
pub(super) async fn handshake<I>(io: I, h2: bool) -> Result<(Sender, Driver), String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    if h2 {
        let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .max_header_list_size(MAX_RESPONSE_HEAD as u32)
            .handshake(io)
            .await
            .map_err(|e| format!("http2 handshake: {e}"))?;
        Ok((Sender::H2(sender), Driver::new(conn)))
    } else {
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .max_buf_size(MAX_RESPONSE_HEAD)
            .handshake(io)
            .await
            .map_err(|e| format!("http1 handshake: {e}"))?;
        Ok((Sender::H1(sender), Driver::new(conn)))
    }
}
