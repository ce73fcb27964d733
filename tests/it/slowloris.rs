//! The HTTP server's request-head timeout (slowloris) on a real loopback socket, with and
//! without `--web.config.file` TLS: a connection that sends nothing or half a request head is
//! closed by the server once `ServerOptions::header_read_timeout` passes, while other
//! connections are served meanwhile; HTTP/1.1 keep-alive, h2c and graceful shutdown are
//! unchanged for normal clients. A request body that stalls gets a 408 once
//! `ServerOptions::request_body_timeout` passes; one larger than the cap a 413 at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use blackwatch::server::ServerOptions;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::support::certs::TestCa;
use crate::support::{handlers, poll, HttpServer};

/// The timeouts the servers here run with: short, so the tests take seconds.
const TIMEOUT: Duration = Duration::from_secs(1);
/// Scheduling slack on a loaded 2-core CI machine.
const MARGIN: Duration = Duration::from_millis(1500);

const MODULES: &str = "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n";

struct Server {
    addr: SocketAddr,
    token: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// An in-process server with `TIMEOUT` for heads and TLS handshakes; `web` is a
    /// `--web.config.file` body written next to `files`.
    async fn start(web: Option<(&str, &[(&str, String)])>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let files: Vec<(&str, &str)> = web
            .map(|(_, f)| f.iter().map(|(n, c)| (*n, c.as_str())).collect())
            .unwrap_or_default();
        let (daemon, web) = crate::support::daemon::state_with_web(
            dir.path(),
            MODULES,
            web.map(|(yaml, _)| (yaml, files.as_slice())),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let token = daemon.shutdown_token().clone();
        let opts = ServerOptions {
            header_read_timeout: TIMEOUT,
            tls_handshake_timeout: TIMEOUT,
            request_body_timeout: TIMEOUT,
            web,
        };
        let server = daemon.serve(listener, opts);
        let task = tokio::spawn(async move {
            if let Ok(Err(e)) = server.await {
                eprintln!("test server stopped: {e}");
            }
        });
        Self {
            addr,
            token,
            task,
            _dir: dir,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// Reads until the server closes the connection (EOF or reset); panics past `limit`.
/// Returns what was read and when the close was seen.
async fn wait_closed<S: AsyncRead + Unpin>(s: &mut S, limit: Duration) -> (Vec<u8>, Instant) {
    let mut got = Vec::new();
    let read_all = async {
        let mut buf = [0u8; 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    match tokio::time::timeout(limit, read_all).await {
        Ok(at) => (got, at),
        Err(_) => panic!("the server kept the connection open for {limit:?}"),
    }
}

/// A complete HTTP/1.1 GET on a fresh connection; the raw response.
async fn plain_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let (got, _) = wait_closed(&mut s, Duration::from_secs(10)).await;
    String::from_utf8_lossy(&got).into_owned()
}

/// Asserts the close came from the timeout: not before it, and within it plus `MARGIN`.
fn assert_closed_by_timeout(what: &str, since: Instant, closed: Instant) {
    let took = closed.duration_since(since);
    assert!(
        took >= TIMEOUT - Duration::from_millis(100),
        "{what}: closed after {took:?}, before the {TIMEOUT:?} timeout"
    );
    assert!(
        took <= TIMEOUT + MARGIN,
        "{what}: closed after {took:?}, timeout {TIMEOUT:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_partial_or_missing_head_is_closed_while_others_are_served() {
    let server = Server::start(None).await;

    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let silent_since = Instant::now();
    let mut partial = TcpStream::connect(server.addr).await.expect("connect");
    partial
        .write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("write half a head");
    let partial_since = Instant::now();

    // Meanwhile another connection is served at once.
    let started = Instant::now();
    let resp = plain_get(server.addr, "/-/healthy").await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.ends_with("Healthy"), "{resp}");
    assert!(
        started.elapsed() < TIMEOUT,
        "served in {:?}",
        started.elapsed()
    );

    // A trickle of header bytes does not extend the deadline.
    for _ in 0..3 {
        tokio::time::sleep(TIMEOUT / 5).await;
        let _ = partial.write_all(b"a").await;
    }

    let limit = TIMEOUT + MARGIN + Duration::from_secs(1);
    let (got, closed) = wait_closed(&mut partial, limit).await;
    assert_closed_by_timeout("half a request head", partial_since, closed);
    assert!(
        !String::from_utf8_lossy(&got).contains("200 OK"),
        "the half request was answered: {}",
        String::from_utf8_lossy(&got)
    );
    let (_, closed) = wait_closed(&mut silent, limit).await;
    assert_closed_by_timeout("no bytes at all", silent_since, closed);

    // A trickled h2c preface is closed too (the HTTP/1-vs-h2 detection is bounded).
    let mut preface = TcpStream::connect(server.addr).await.expect("connect");
    preface
        .write_all(b"PRI * HTTP/2.0\r\n")
        .await
        .expect("write");
    let since = Instant::now();
    let (_, closed) = wait_closed(&mut preface, limit).await;
    assert_closed_by_timeout("half the h2 preface", since, closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_keep_alive_and_h2c_are_unchanged() {
    let server = Server::start(None).await;

    // HTTP/1.1 keep-alive: two requests on one connection, the second after a pause shorter
    // than the timeout.
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let (mut h1, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("h1 handshake");
    tokio::spawn(conn);
    for i in 0..2 {
        if i == 1 {
            tokio::time::sleep(TIMEOUT / 2).await;
        }
        let req = http::Request::get("/-/healthy")
            .header("host", "x")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .expect("request");
        let resp = h1.send_request(req).await.expect("h1 request");
        assert_eq!(resp.status(), 200, "request {i}");
    }

    // h2c with prior knowledge; the connection stays usable past the head timeout.
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let (mut h2, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2c handshake");
    tokio::spawn(conn);
    for i in 0..2 {
        if i == 1 {
            tokio::time::sleep(TIMEOUT + TIMEOUT / 2).await;
        }
        let req = http::Request::get(format!("http://{}/-/ready", server.addr))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .expect("request");
        let resp = h2.send_request(req).await.expect("h2c request");
        assert_eq!(resp.status(), 200, "request {i}");
        assert_eq!(resp.version(), http::Version::HTTP_2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish() {
    let server = Server::start(None).await;
    let slow = HttpServer::plain(handlers::slow(Duration::from_millis(1500), 200));
    let path = format!("/probe?module=http_2xx&target={}", slow.url("/"));
    let addr = server.addr;
    let in_flight = tokio::spawn(async move { plain_get(addr, &path).await });
    // Let the probe start, then shut down.
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.token.cancel();
    let resp = in_flight.await.expect("request task");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\nprobe_success 1\n"), "{resp}");
    poll::until(
        "the server to stop after the in-flight request",
        Duration::from_secs(5),
        async || {
            if server.task.is_finished() {
                Ok(())
            } else {
                Err("the server task is still running")
            }
        },
    )
    .await;
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "the listener is closed after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_silent_handshake_and_partial_head_are_closed() {
    let ca = TestCa::new("slowloris CA");
    let leaf = ca.localhost();
    let files = [("cert.pem", leaf.chain_pem()), ("key.pem", leaf.key_pem())];
    let server = Server::start(Some((
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n",
        &files,
    )))
    .await;
    let limit = TIMEOUT + MARGIN + Duration::from_secs(1);

    // No ClientHello: the handshake timeout.
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let since = Instant::now();
    let (_, closed) = wait_closed(&mut silent, limit).await;
    assert_closed_by_timeout("TLS without a ClientHello", since, closed);

    // A finished handshake, then half a request head: the head timeout.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert().der().clone()).expect("add CA");
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("server name");
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let mut tls = connector
        .connect(name.clone(), tcp)
        .await
        .expect("TLS handshake");
    tls.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write half a head");
    tls.flush().await.expect("flush");
    let since = Instant::now();

    // Meanwhile a full request over TLS is answered.
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let mut ok = connector.connect(name, tcp).await.expect("TLS handshake");
    ok.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let (got, _) = wait_closed(&mut ok, Duration::from_secs(10)).await;
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");

    let (_, closed) = wait_closed(&mut tls, limit).await;
    assert_closed_by_timeout("TLS with half a request head", since, closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_body_gets_408_and_oversized_body_413() {
    let server = Server::start(None).await;
    // Ten of the hundred announced bytes, then nothing.
    let mut s = TcpStream::connect(server.addr).await.expect("connect");
    let since = Instant::now();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ntarget=abc")
        .await
        .expect("write");
    let (got, closed) = wait_closed(&mut s, TIMEOUT + MARGIN + MARGIN).await;
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains("request body not received within 1s"), "{got}");
    let took = closed.duration_since(since);
    assert!(
        took >= TIMEOUT - Duration::from_millis(100),
        "answered after {took:?}"
    );
    assert!(took <= TIMEOUT + MARGIN, "answered after {took:?}");
    // A body announced larger than the cap is refused without reading it.
    let mut s = TcpStream::connect(server.addr).await.expect("connect");
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        blackwatch::server::MAX_REQUEST_BODY + 1
    );
    s.write_all(head.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(MARGIN, s.read(&mut buf))
        .await
        .expect("answered before the body was sent")
        .expect("read");
    let got = String::from_utf8_lossy(&buf[..n]);
    assert!(got.starts_with("HTTP/1.1 413"), "{got}");
    assert!(
        got.contains("request body larger than 4194304 bytes"),
        "{got}"
    );
    // A complete body still reaches the handler.
    let got = plain_get(server.addr, "/-/healthy").await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
}
