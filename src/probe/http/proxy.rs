//! One hop through a proxy, as Go's `http.Transport.dialConn` makes it: the proxy's address
//! resolved and dialled, TLS to the proxy for an `https://` proxy, then per proxy and target
//! scheme:
//!
//! - `socks5://` (and `socks5h://`): a SOCKS5 CONNECT to the target's `host:port` (a name
//!   is sent to the proxy unresolved; credentials from the proxy URL's userinfo), by
//!   hyper-util's SOCKS5 client, the one reqwest uses for the receivers' SOCKS proxies;
//! - an `http://` target through an HTTP(S) proxy: the request in absolute form,
//!   `http://<Host header><path>` (Go writes the `Host` header's value there, not the
//!   URL's host), with `Proxy-Authorization` from the proxy URL's userinfo
//!   ([`absolute_form`]);
//! - an `https://` target through an HTTP(S) proxy: `CONNECT host:port` with
//!   `proxy_connect_header` and `Proxy-Authorization` (on the CONNECT only), a 200 required;
//!
//! and for an `https://` target, the TLS handshake with the target inside the tunnel. An
//! `http://` target's response through an `https://` proxy reports the proxy's TLS (as Go's
//! `Response.TLS` does): `probe_http_ssl 1` and the proxy's certificate in the TLS metrics.
//!
//! The target address is the hop URL's host and port: the chosen IP for the first hop
//! (upstream puts it into the URL), the name itself with `skip_resolve_phase_with_proxy`
//! and for redirect hops. Phases follow Go's trace: `resolve` is the proxy name's lookup
//! (redirect hops only: the first hop's is `chooseProtocol`'s); for an https target
//! `connect` is the TCP connection to the proxy and `tls` the target's handshake (the
//! proxy's TLS, CONNECT and SOCKS exchanges count in no phase); for an http target
//! `connect` lasts until the connection is usable, proxy TLS and SOCKS included. Nothing is
//! counted for a hop that did not get a connection.
//!
//! TLS to an `https://` proxy uses the module's `tls_config` (CA, client certificate,
//! `insecure_skip_verify`) and verifies the proxy's certificate for the proxy's own host
//! name. (Go would verify it for the target's server name, because blackbox sets
//! `tls_config.server_name` to the target for the whole transport: with that an https
//! proxy only works for targets named like the proxy, so blackwatch does not copy it.)

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http::{HeaderValue, Request};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use url::Url;

use super::add_phase;
use super::request::{url_host, Hop};
use super::transport::{handshake, tls_handshake, Conn};
use crate::client::tls::ChainRecord;
use crate::probe::module::HttpModule;
use crate::probe::tls::TlsState;
use crate::probe::{resolve, ProbeCx};

/// The most bytes of a CONNECT response head read.
const MAX_CONNECT_HEAD: usize = 64 * 1024;

/// A byte stream a hop runs over: TCP, TLS to the proxy, a tunnel.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Connects to `hop`'s target (`port` its port) through `proxy`.
pub(super) async fn connect(
    hop: &Hop,
    port: u16,
    proxy: &Url,
    m: &HttpModule,
    cx: &mut ProbeCx,
) -> Result<Conn, String> {
    let target_host = url_host(&hop.url);
    let target_addr = join_host_port(&target_host, port);
    check_target(hop, &target_host, port, cx)?;

    // The proxy's address: its lookup is the hop's DNS time.
    let start = Instant::now();
    let proxy_host = url_host(proxy);
    let proxy_port = proxy_port(proxy);
    let ips = resolve::lookup_all(&proxy_host).await;
    if !hop.first {
        add_phase(cx, "resolve", start.elapsed());
    }
    let ips = ips.map_err(|e| format!("proxyconnect tcp: dial tcp: {e}"))?;
    let dns_done = Instant::now();
    let tcp = dial(&ips, proxy_port)
        .await
        .map_err(|e| format!("proxyconnect tcp: {e}"))?;
    let connect_done = Instant::now();
    let proxy_addr = tcp.peer_addr().map_or_else(
        |_| join_host_port(&proxy_host, proxy_port),
        |a| a.to_string(),
    );

    let mut stream: Box<dyn Io> = Box::new(tcp);
    // Go reports the proxy's TLS as the response's when the request itself is not TLS.
    let mut proxy_tls_state = None;
    if proxy.scheme() == "https" {
        let (tls, chain) = proxy_tls(stream, &proxy_host, m)
            .await
            .map_err(|e| format!("proxyconnect tcp: {e}"))?;
        proxy_tls_state = Some((TlsState::from_connection(tls.get_ref().1), chain));
        stream = Box::new(tls);
    }
    let https = hop.url.scheme() == "https";
    match proxy.scheme() {
        "socks5" | "socks5h" => {
            stream = socks5(stream, proxy, &proxy_addr, &target_host, port).await?;
        }
        _ if https => {
            stream = tunnel(stream, proxy, &target_addr, m).await?;
        }
        // An http target: the proxy gets the request itself.
        _ => {}
    }

    if https {
        let tls = tls_handshake(hop, stream, m).await?;
        let (sender, driver) = handshake(TokioIo::new(tls.stream), tls.h2).await?;
        add_phase(cx, "connect", connect_done - dns_done);
        add_phase(cx, "tls", tls.time);
        Ok(Conn {
            sender,
            driver,
            tls: Some(tls.state),
            chain: tls.chain,
        })
    } else {
        let (sender, driver) = handshake(TokioIo::new(stream), false).await?;
        add_phase(cx, "connect", dns_done.elapsed());
        let (tls, chain) = match proxy_tls_state {
            Some((state, chain)) => (Some(state), chain),
            None => (None, ChainRecord::default()),
        };
        Ok(Conn {
            sender,
            driver,
            tls,
            chain,
        })
    }
}

/// Makes `req` (an http target's request through an HTTP(S) proxy) absolute-form, as Go
/// writes it: `http://` + the Host header's value + the path and query; and adds
/// `Proxy-Authorization` when the proxy URL has credentials.
pub(super) fn absolute_form(
    req: &mut Request<Full<Bytes>>,
    hop: &Hop,
    proxy: &Url,
) -> Result<(), String> {
    if matches!(proxy.scheme(), "socks5" | "socks5h") {
        return Ok(());
    }
    let path = match hop.url.query() {
        Some(q) => format!("{}?{q}", hop.url.path()),
        None => hop.url.path().to_string(),
    };
    let uri = format!("{}://{}{path}", hop.url.scheme(), hop.host_header);
    *req.uri_mut() = uri
        .parse()
        .map_err(|e| format!("invalid request URI {uri:?}: {e}"))?;
    if let Some(auth) = proxy_authorization(proxy) {
        req.headers_mut()
            .insert(http::header::PROXY_AUTHORIZATION, auth);
    }
    Ok(())
}

/// The `/probe` allow-list's check of a target reached through the proxy: a hop with an
/// address chosen here was checked when it was chosen; an IP literal is checked now; a
/// name the proxy resolves cannot be checked, so it is refused.
fn check_target(hop: &Hop, host: &str, port: u16, cx: &mut ProbeCx) -> Result<(), String> {
    if cx.guard.is_none() || hop.ip.is_some() {
        return Ok(());
    }
    match host.parse::<IpAddr>() {
        Ok(ip) => cx.check_address(host, ip, Some(port)),
        Err(_) => {
            let m = format!(
                "connecting to {host:?} through a proxy that resolves it cannot be checked against probe_policy.allow_targets"
            );
            cx.log.error("Refused by probe_policy", &[("err", &m)]);
            cx.refused = Some(m.clone());
            Err(m)
        }
    }
}

/// Go's `canonicalAddr` port: the URL's, else 80, 443 or 1080 by scheme.
fn proxy_port(proxy: &Url) -> u16 {
    proxy.port().unwrap_or(match proxy.scheme() {
        "https" => 443,
        "socks5" | "socks5h" => 1080,
        _ => 80,
    })
}

/// `host:port`, an IPv6 host in brackets (Go's `net.JoinHostPort`).
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// TCP to the first of `ips` that accepts, in order (Go's serial dial); the error names the
/// last address tried.
async fn dial(ips: &[IpAddr], port: u16) -> Result<TcpStream, String> {
    let mut last = String::from("dial tcp: no address");
    for ip in ips {
        let addr = SocketAddr::new(*ip, port);
        match TcpStream::connect(addr).await {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                return Ok(tcp);
            }
            Err(e) => last = format!("dial tcp {addr}: {e}"),
        }
    }
    Err(last)
}

/// TLS to an `https://` proxy (HTTP/1.1 only), verified for the proxy's host name.
async fn proxy_tls(
    stream: Box<dyn Io>,
    proxy_host: &str,
    m: &HttpModule,
) -> Result<(tokio_rustls::client::TlsStream<Box<dyn Io>>, ChainRecord), String> {
    let mut settings = m.client.tls_or_default().into_owned();
    settings.server_name = None;
    let (config, chain) =
        crate::client::tls::client_config(&settings, &[b"http/1.1"]).map_err(|e| e.to_string())?;
    let name = ServerName::try_from(proxy_host.to_string())
        .map_err(|e| format!("invalid TLS server name {proxy_host:?}: {e}"))?;
    let tls = TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|e| format!("tls: {}", crate::client::tls::handshake_error(&e)))?;
    Ok((tls, chain))
}

/// `Basic base64(user:password)` from the proxy URL's userinfo (percent-decoded, as Go's
/// `Userinfo`), if it has any.
fn proxy_authorization(proxy: &Url) -> Option<HeaderValue> {
    let (user, password) = userinfo(proxy)?;
    let pair = format!("{user}:{password}");
    let mut v = HeaderValue::from_str(&format!(
        "Basic {}",
        base64::Engine::encode(&crate::base::go::BASE64_STD, pair)
    ))
    .ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// The proxy URL's decoded user name and password, when it has a user name (Go's
/// `URL.User != nil`; an empty `@` counts as none here).
fn userinfo(proxy: &Url) -> Option<(String, String)> {
    if proxy.username().is_empty() && proxy.password().is_none() {
        return None;
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    Some((
        decode(proxy.username()),
        decode(proxy.password().unwrap_or_default()),
    ))
}

/// `CONNECT target_addr` over `stream`: `proxy_connect_header`, then `Proxy-Authorization`
/// from the proxy URL (it replaces a configured one, as Go's `Header.Set`); anything but
/// 200 fails with the status text, as Go reports it.
async fn tunnel(
    mut stream: Box<dyn Io>,
    proxy: &Url,
    target_addr: &str,
    m: &HttpModule,
) -> Result<Box<dyn Io>, String> {
    let auth = proxy_authorization(proxy);
    let mut head = format!("CONNECT {target_addr} HTTP/1.1\r\nHost: {target_addr}\r\n");
    for (name, value) in m.client.proxy.connect_headers() {
        if auth.is_some() && name == http::header::PROXY_AUTHORIZATION {
            continue;
        }
        head.push_str(&format!("{name}: {}\r\n", value.expose()));
    }
    if let Some(a) = &auth {
        head.push_str("Proxy-Authorization: ");
        head.push_str(a.to_str().unwrap_or_default());
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    stream.flush().await.map_err(|e| e.to_string())?;
    let status_line = read_connect_head(&mut stream).await?;
    // `HTTP/1.1 200 Connection established`: the code, then the text Go reports.
    let mut parts = status_line.splitn(3, ' ');
    let _version = parts.next();
    let code = parts.next().unwrap_or_default();
    let text = parts.next().unwrap_or_default().trim();
    match code.parse::<u16>() {
        Ok(200) => Ok(stream),
        Ok(_) if !text.is_empty() => Err(text.to_string()),
        Ok(c) => Err(format!("{c}")),
        Err(_) => Err(format!("malformed HTTP response {status_line:?}")),
    }
}

/// Reads the CONNECT response head up to its blank line, no further (the TLS server speaks
/// only when spoken to); returns its status line.
async fn read_connect_head(stream: &mut Box<dyn Io>) -> Result<String, String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && !head.ends_with(b"\n\n") {
        if head.len() >= MAX_CONNECT_HEAD {
            return Err("proxy CONNECT response head too long".to_string());
        }
        let n = stream.read(&mut byte).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("unexpected EOF".to_string());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    Ok(text.lines().next().unwrap_or_default().to_string())
}

/// SOCKS5 CONNECT to `host:port` over `stream`, with username/password authentication when
/// the proxy URL has userinfo. The error reads as Go's SOCKS dialer's,
/// `socks connect tcp <proxy>-><target>: <reason>`.
async fn socks5(
    stream: Box<dyn Io>,
    proxy: &Url,
    proxy_addr: &str,
    host: &str,
    port: u16,
) -> Result<Box<dyn Io>, String> {
    use tower_service::Service as _;
    let fail = |e: &dyn std::fmt::Display| {
        let reason = e.to_string();
        let reason = reason.strip_prefix("SOCKS error: ").unwrap_or(&reason);
        format!(
            "socks connect tcp {proxy_addr}->{}: {reason}",
            join_host_port(host, port)
        )
    };
    let proxy_uri: http::Uri = format!("socks5://{proxy_addr}")
        .parse()
        .map_err(|e: http::uri::InvalidUri| fail(&e))?;
    let target: http::Uri = format!("http://{}", join_host_port(host, port))
        .parse()
        .map_err(|e: http::uri::InvalidUri| fail(&e))?;
    let mut socks = hyper_util::client::legacy::connect::proxy::SocksV5::new(
        proxy_uri,
        Connected(Some(TokioIo::new(stream))),
    );
    if let Some((user, password)) = userinfo(proxy) {
        socks = socks.with_auth(user, password);
    }
    let io = socks.call(target).await.map_err(|e| fail(&e))?;
    Ok(io.into_inner())
}

/// The "connector" hyper-util's SOCKS client wraps: hands out the connection already made
/// (once), so the TCP connect is timed and dialled here like every other.
struct Connected(Option<TokioIo<Box<dyn Io>>>);

impl tower_service::Service<http::Uri> for Connected {
    type Response = TokioIo<Box<dyn Io>>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        std::future::ready(
            self.0
                .take()
                .ok_or_else(|| std::io::Error::other("the SOCKS connection was already used")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(url: &str, host_header: &str) -> Hop {
        Hop {
            url: Url::parse(url).unwrap(),
            host_header: host_header.to_string(),
            server_name: None,
            ip: None,
            referer: None,
            first: true,
        }
    }

    #[test]
    fn addresses_and_credentials_as_go_reads_them() {
        assert_eq!(join_host_port("::1", 443), "[::1]:443");
        assert_eq!(join_host_port("10.0.0.5", 80), "10.0.0.5:80");
        let port = |u: &str| proxy_port(&Url::parse(u).unwrap());
        assert_eq!(
            [
                port("http://p"),
                port("https://p"),
                port("socks5://p"),
                port("http://p:3128")
            ],
            [80, 443, 1080, 3128]
        );
        let u = Url::parse("http://al%40ce:p%3Aw@p:1").unwrap();
        assert_eq!(userinfo(&u), Some(("al@ce".to_string(), "p:w".to_string())));
        assert_eq!(userinfo(&Url::parse("http://p:1").unwrap()), None);
        // base64("al@ce:p:w")
        assert_eq!(
            proxy_authorization(&u).unwrap().to_str().unwrap(),
            "Basic YWxAY2U6cDp3"
        );
    }

    #[test]
    fn absolute_form_names_the_host_header_and_adds_proxy_credentials() {
        let h = hop("http://10.0.0.5:8080/a/b?c=d", "svc.example:8080");
        let mut req = Request::builder()
            .uri("/a/b?c=d")
            .body(Full::new(Bytes::new()))
            .unwrap();
        absolute_form(&mut req, &h, &Url::parse("http://u:p@proxy:3128").unwrap()).unwrap();
        assert_eq!(req.uri(), "http://svc.example:8080/a/b?c=d");
        assert_eq!(
            req.headers()[http::header::PROXY_AUTHORIZATION],
            "Basic dTpw"
        );
        // Through SOCKS5 the request stays origin-form.
        let mut req = Request::builder()
            .uri("/")
            .body(Full::new(Bytes::new()))
            .unwrap();
        absolute_form(&mut req, &h, &Url::parse("socks5://proxy").unwrap()).unwrap();
        assert_eq!(req.uri(), "/");
    }

    #[tokio::test]
    async fn a_refused_connect_fails_with_the_status_text() {
        for (answer, want) in [
            (
                "HTTP/1.1 407 Proxy Authentication Required\r\nX: y\r\n\r\n",
                Err("Proxy Authentication Required".to_string()),
            ),
            ("HTTP/1.1 200 OK\r\n\r\n", Ok(())),
            (
                "garbage\r\n\r\n",
                Err("malformed HTTP response \"garbage\"".into()),
            ),
        ] {
            let (client, mut server) = tokio::io::duplex(4096);
            let answer = answer.to_string();
            let peer = tokio::spawn(async move {
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    server.read_exact(&mut b).await.unwrap();
                    head.push(b[0]);
                }
                server.write_all(answer.as_bytes()).await.unwrap();
                String::from_utf8(head).unwrap()
            });
            let m = crate::probe::module::HttpModule {
                valid_status_codes: Vec::new(),
                valid_http_versions: Vec::new(),
                ip: crate::probe::module::IpPreference::from_config("ip4", true),
                fail_if_ssl: false,
                fail_if_not_ssl: false,
                method: http::Method::GET,
                headers: Vec::new(),
                fail_if_body_matches: Vec::new(),
                fail_if_body_not_matches: Vec::new(),
                fail_if_header_matches: Vec::new(),
                fail_if_header_not_matches: Vec::new(),
                fail_if_body_json_matches_cel: None,
                fail_if_body_json_not_matches_cel: None,
                body: None,
                compression: None,
                body_size_limit: 0,
                client: Default::default(),
                skip_resolve_phase_with_proxy: false,
            };
            let got = tunnel(
                Box::new(client),
                &Url::parse("http://u:p@proxy:3128").unwrap(),
                "10.0.0.5:443",
                &m,
            )
            .await
            .map(|_| ());
            assert_eq!(got, want);
            let head = peer.await.unwrap();
            assert_eq!(
                head,
                "CONNECT 10.0.0.5:443 HTTP/1.1\r\nHost: 10.0.0.5:443\r\nProxy-Authorization: Basic dTpw\r\n\r\n"
            );
        }
    }
}
