//! Smoke tests proving the loopback test servers in `support` work.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::support::{
    handlers, poll, self_signed_localhost, Encoding, HttpServer, OlderRootChain, TcpServer, TestCa,
    TestResponse, TlsOptions,
};

/// TLS-connects to `addr`, verifying against `roots` for `server_name`.
async fn tls_connect(
    addr: std::net::SocketAddr,
    server_name: &str,
    roots: &[&CertificateDer<'static>],
    alpn: &[&[u8]],
) -> std::io::Result<TlsStream<TcpStream>> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add((*root).clone()).expect("valid root");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(crate::support::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("default versions")
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = ServerName::try_from(server_name.to_owned()).expect("valid server name");
    let tcp = TcpStream::connect(addr).await?;
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

/// Sends a raw HTTP/1.1 request with `Connection: close` and reads to EOF.
async fn http1_close<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, path: &str) -> String {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: example.test\r\nUser-Agent: selftest/1\r\n\
         Cookie: a=1\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    // A TLS peer may close without close_notify; keep whatever arrived.
    let _ = stream.read_to_end(&mut raw).await;
    String::from_utf8_lossy(&raw).into_owned()
}

#[tokio::test]
async fn plain_http1_connection_close_and_recording() {
    let server = HttpServer::plain(|req| {
        TestResponse::text(201, format!("hi {}", req.path()))
            .with_header("set-cookie", "a=1")
            .with_header("set-cookie", "b=2")
    });
    assert!(server.url("x").starts_with("http://127.0.0.1:"));
    let mut tcp = TcpStream::connect(server.addr()).await.expect("connect");
    let response = http1_close(&mut tcp, "/hello?q=1").await;
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert!(response.ends_with("hi /hello"), "{response}");
    assert_eq!(response.matches("set-cookie:").count(), 2, "{response}");

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path_and_query(), "/hello?q=1");
    assert_eq!(requests[0].header("user-agent"), Some("selftest/1"));
    assert_eq!(requests[0].host().as_deref(), Some("example.test"));
    assert!(!requests[0].is_tls());

    // Chunked + slow + compressed responses are framed as asked.
    let server = HttpServer::plain(handlers::always(
        TestResponse::ok()
            .with_body("hello hello hello")
            .encoded(Encoding::Gzip)
            .chunked_with(4, Some(Duration::from_millis(1))),
    ));
    let mut tcp = TcpStream::connect(server.addr()).await.expect("connect");
    let response = http1_close(&mut tcp, "/").await;
    assert!(
        response.contains("transfer-encoding: chunked"),
        "{response}"
    );
    assert!(response.contains("content-encoding: gzip"), "{response}");
}

#[tokio::test]
async fn tls_offers_h2_and_serves_http2() {
    let ca = TestCa::new("selftest CA");
    let server = HttpServer::tls(&ca.localhost(), handlers::redirects());
    assert!(server.localhost_url("/a").starts_with("https://localhost:"));

    let tls = tls_connect(
        server.addr(),
        "localhost",
        &[ca.cert().der()],
        &[b"h2", b"http/1.1"],
    )
    .await
    .expect("TLS handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));

    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .expect("h2 handshake");
    tokio::spawn(conn);
    let request = http::Request::get(server.localhost_url("/redirect/1"))
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("h2 response");
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], "/redirect/0");

    let request = http::Request::get(server.localhost_url("/redirect/0"))
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("h2 response");
    assert_eq!(response.status(), 200);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(body, "redirect chain done");

    let recorded = server.last_request().expect("recorded");
    assert_eq!(recorded.version, http::Version::HTTP_2);
    assert_eq!(server.requested_paths(), ["/redirect/1", "/redirect/0"]);
    let tls_info = recorded.tls.expect("came over TLS");
    assert_eq!(tls_info.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(tls_info.sni.as_deref(), Some("localhost"));
}

#[tokio::test]
async fn older_root_chain_verifies_and_http11_only_alpn() {
    let chain = OlderRootChain::generate();
    assert!(chain.expected_earliest_expiry() < chain.expected_last_chain_expiry());
    let server = HttpServer::tls_with(
        &chain.server,
        TlsOptions::default().http11_only().tls12_only(),
        handlers::fixed(200, "ok"),
    );
    // Trusting only the newer root still verifies the presented chain.
    let mut tls = tls_connect(
        server.addr(),
        "127.0.0.1",
        &[chain.root_new.der()],
        &[b"h2", b"http/1.1"],
    )
    .await
    .expect("TLS handshake");
    let conn = tls.get_ref().1;
    assert_eq!(conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(
        conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert_eq!(conn.peer_certificates().map(<[_]>::len), Some(3));
    let response = http1_close(&mut tls, "/").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("ok"), "{response}");
}

#[tokio::test]
async fn untrusted_and_expired_certificates_are_rejected() {
    let ca = TestCa::new("selftest CA");
    for cert in [ca.expired_localhost(), self_signed_localhost()] {
        let server = HttpServer::tls(&cert, handlers::ok());
        let result = tls_connect(server.addr(), "localhost", &[ca.cert().der()], &[]).await;
        assert!(result.is_err(), "handshake should fail");
        // The server only notices after the client aborts.
        poll::until(
            "the handshake failure",
            Duration::from_secs(1),
            async || match server.handshake_failures() {
                0 => Err("no handshake failure yet"),
                _ => Ok(()),
            },
        )
        .await;
        assert_eq!(server.handshake_failures(), 1);
    }
}

#[tokio::test]
async fn tcp_accept_and_close() {
    let server = TcpServer::accept_and_close();
    let mut tcp = TcpStream::connect(server.addr()).await.expect("connect");
    let mut buf = [0u8; 1];
    let n = tcp.read(&mut buf).await.unwrap_or(0);
    assert_eq!(n, 0);
    assert_eq!(server.connection_count(), 1);
}

#[test]
fn fixture_metadata_matches_encoded_certificates() {
    use std::io::Read;

    let chain = OlderRootChain::generate();
    let certs = [
        &chain.root_old,
        &chain.root_new,
        &chain.intermediate,
        chain.leaf(),
    ];
    for cert in certs {
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.der_bytes()).expect("parse");
        assert_eq!(parsed.validity().not_after.timestamp(), cert.not_after());
        assert_eq!(parsed.validity().not_before.timestamp(), cert.not_before());
    }
    let (_, leaf) = x509_parser::parse_x509_certificate(chain.leaf().der_bytes()).expect("parse");
    assert!(!leaf.is_ca());
    assert_ne!(chain.root_old.der_bytes(), chain.root_new.der_bytes());
    let ca_file = chain.write_ca_file();
    let pem = std::fs::read_to_string(&ca_file).expect("read CA file");
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2);

    let data = b"deflate me deflate me deflate me";
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(&Encoding::DeflateRaw.encode(data)[..])
        .read_to_end(&mut out)
        .expect("raw deflate decodes");
    assert_eq!(out, data);
    out.clear();
    brotli::Decompressor::new(&Encoding::Brotli.encode(data)[..], 4096)
        .read_to_end(&mut out)
        .expect("brotli decodes");
    assert_eq!(out, data);
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let server = HttpServer::plain(handlers::ok());
    let addr = server.addr();
    drop(server);
    poll::until(
        "the server to stop accepting after drop",
        Duration::from_secs(1),
        async || match TcpStream::connect(addr).await {
            Err(_) => Ok(()),
            Ok(_) => Err("server still accepting after drop"),
        },
    )
    .await;
}

#[tokio::test]
async fn mitm_proxy_terminates_connect_and_forwards_to_the_recorder() {
    use crate::support::mitm::MitmProxy;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let recorder = HttpServer::plain(|req| TestResponse::text(200, format!("saw {}", req.path())));
    let proxy = MitmProxy::start(recorder.addr());
    let ca = reqwest::Certificate::from_pem(&std::fs::read(proxy.ca_file()).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(proxy.url()).unwrap())
        .tls_certs_only([ca])
        .build()
        .unwrap();
    let r = client
        .post("https://api.pushover.net/1/messages.json?token=t")
        .body("x=1")
        .send()
        .await
        .expect("through the proxy");
    assert_eq!(r.text().await.unwrap(), "saw /1/messages.json");
    // Plain http is forwarded as it came (absolute-form).
    let r = client
        .get("http://events.example.test/v1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "saw /v1");
    let reqs = recorder.requests();
    assert_eq!(reqs[0].host().as_deref(), Some("api.pushover.net"));
    assert_eq!(reqs[0].path_and_query(), "/1/messages.json?token=t");
    assert_eq!(reqs[0].body_str(), "x=1");
    assert_eq!(
        proxy.targets(),
        ["api.pushover.net:443", "http://events.example.test/v1"]
    );
}
