//! One hop on the wire: the address (the first hop's comes from `choose_protocol`, later
//! hops resolve their own), a TCP connection, the rustls handshake for https (ALPN h2 when
//! `enable_http2`), hyper's HTTP/1.1 or h2 client connection, and the request sent. Each
//! phase is added to `probe_http_duration_seconds` as it is measured. It returns the
//! response head with its unread body ([`Final`]); checking it is `checks`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http::header::HeaderMap;
use http::{Response, StatusCode, Version};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
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

/// Aborts the connection driver when the probe is done with it. The driver returns the
/// connection's error, which explains a request that failed as "canceled".
pub(super) struct AbortOnDrop(JoinHandle<Option<String>>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The request half of a client connection.
enum Sender {
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
    pub(super) _driver: AbortOnDrop,
    /// A redirect was refused (not followed, or over the limit): upstream's `requestErrored`.
    pub(super) request_errored: bool,
    pub(super) first_byte: Instant,
}

/// Connects to `hop` and sends its request; the error is the message upstream logs.
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
    let ip = match hop.ip {
        Some(ip) => ip,
        None => resolve_hop(hop, port, cx).await?,
    };
    let connect_start = Instant::now();
    let tcp = TcpStream::connect(SocketAddr::new(ip, port))
        .await
        .map_err(|e| format!("dial tcp {}: {e}", SocketAddr::new(ip, port)))?;
    let _ = tcp.set_nodelay(true);
    let connect_time = connect_start.elapsed();

    let (sender, driver, tls_state, chain) = if https {
        connect_tls(hop, tcp, connect_time, m, cx).await?
    } else {
        add_phase(cx, "connect", connect_time);
        let (sender, driver) = handshake(TokioIo::new(tcp), false).await?;
        (sender, driver, None, ChainRecord::default())
    };
    let got_conn = Instant::now();

    let request = build_request(hop, state, m, matches!(sender, Sender::H2(_)))?;
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

/// The address of a redirect hop to another authority: resolved on its own (Go's dialer,
/// not `chooseProtocol`), its time added to the `resolve` phase.
async fn resolve_hop(hop: &Hop, port: u16, cx: &mut ProbeCx) -> Result<IpAddr, String> {
    let start = Instant::now();
    let host = url_host(&hop.url);
    let ips = resolve::lookup_all(&host).await;
    add_phase(cx, "resolve", start.elapsed());
    let ips = ips.map_err(|e| e.to_string())?;
    let ip = *ips
        .first()
        .ok_or_else(|| format!("lookup {host}: no such host"))?;
    // A redirect hop is checked against the `/probe` allow-list like the first one.
    cx.check_address(&host, ip, Some(port))?;
    Ok(ip)
}

/// The TLS handshake over `tcp` and the HTTP connection on top of it (h2 when the server
/// chose it by ALPN), with the TLS state and the verified chain for the TLS metrics.
async fn connect_tls(
    hop: &Hop,
    tcp: TcpStream,
    connect_time: Duration,
    m: &HttpModule,
    cx: &mut ProbeCx,
) -> Result<(Sender, AbortOnDrop, Option<TlsState>, ChainRecord), String> {
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
        .connect(server_name, tcp)
        .await
        .map_err(|e| format!("tls: {}", crate::client::tls::handshake_error(&e)))?;
    // Like Go's trace, a hop counts connect and tls only once it has a usable
    // connection: a failed handshake contributes its resolve time alone.
    add_phase(cx, "connect", connect_time);
    add_phase(cx, "tls", tls_start.elapsed());
    let state = TlsState::from_connection(stream.get_ref().1);
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    let (sender, driver) = handshake(TokioIo::new(stream), h2).await?;
    Ok((sender, driver, Some(state), chain))
}

/// hyper's client handshake over `io`, its connection driven by a task aborted with the
/// returned guard; the head size is bounded by [`MAX_RESPONSE_HEAD`].
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
