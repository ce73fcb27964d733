//! The websocket prober against a real loopback websocket server (tokio-tungstenite, plain
//! and over rustls): the four cases of upstream's `TestProbeWebsocket` and the three of
//! `TestCostructHeadersFromConfig` (`prober/websocket_test.go`, blackbox_exporter master),
//! checked on what the server received, plus the duration phases, example.yml's header
//! form, certificate verification by the URL's host, and the failure paths (refused
//! connection, a server that does not upgrade, a non-ws scheme, a close frame). The
//! websocket prober is newer than blackbox_exporter 0.23, so nothing here is differential.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::support::certs::write_temp_file;
use crate::support::tls::server_config;
use crate::support::{
    self, handlers, probe_with, HttpServer, Outcome, ServerCert, TestCa, TlsOptions,
};

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type Ws = WebSocketStream<Box<dyn Io>>;
type Script = Arc<dyn Fn(Ws) -> BoxFuture<'static, ()> + Send + Sync>;
/// The headers of each upgrade request, in arrival order.
type Seen = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// A websocket server on 127.0.0.1 running `script` per connection; records each upgrade
/// request's headers (lower-case names).
struct WsServer {
    addr: SocketAddr,
    tls: bool,
    requests: Seen,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WsServer {
    async fn start(cert: Option<&ServerCert>, script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let acceptor =
            cert.map(|c| TlsAcceptor::from(server_config(c, &TlsOptions::default().http11_only())));
        let requests: Seen = Arc::default();
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let script = script.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let stream: Box<dyn Io> = match acceptor {
                        Some(a) => match a.accept(tcp).await {
                            Ok(s) => Box::new(s),
                            Err(_) => return,
                        },
                        None => Box::new(tcp),
                    };
                    #[allow(clippy::result_large_err)] // tungstenite's callback signature
                    let record = |req: &Request, resp: Response| {
                        let headers = req
                            .headers()
                            .iter()
                            .map(|(k, v)| {
                                (
                                    k.as_str().to_string(),
                                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                                )
                            })
                            .collect();
                        seen.lock().expect("lock").push(headers);
                        Ok(resp)
                    };
                    if let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, record).await {
                        script(ws).await;
                    }
                });
            }
        });
        Self {
            addr,
            tls: cert.is_some(),
            requests,
            task,
        }
    }

    fn url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}/socket", self.addr)
    }

    fn localhost_url(&self) -> String {
        self.url().replace("127.0.0.1", "localhost")
    }

    /// The headers of the last upgrade request named `name`.
    fn header(&self, name: &str) -> Vec<String> {
        let requests = self.requests.lock().expect("lock");
        requests
            .last()
            .map(|h| {
                h.iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Upstream's test server: sends `incoming_test`, expects `outgoing_test`, sends `passed`.
fn upstream_script() -> Script {
    Arc::new(|mut ws: Ws| {
        Box::pin(async move {
            let _ = ws.send(Message::text("incoming_test")).await;
            if let Some(Ok(Message::Text(t))) = ws.next().await {
                if t.as_str() == "outgoing_test" {
                    let _ = ws.send(Message::text("passed")).await;
                }
            }
            // Hold the connection until the client goes.
            while let Some(Ok(_)) = ws.next().await {}
        })
    })
}

/// Upgrades and holds the connection until the client goes.
fn idle_script() -> Script {
    Arc::new(|mut ws: Ws| Box::pin(async move { while let Some(Ok(_)) = ws.next().await {} }))
}

fn ws_yaml(block: &str) -> String {
    let block = support::dedent(block);
    if block.trim().is_empty() {
        "prober: websocket\ntimeout: 5s\n".to_string()
    } else {
        format!(
            "prober: websocket\ntimeout: 5s\nwebsocket:\n{}",
            support::indent(&block, 2)
        )
    }
}

async fn probe_ws(block: &str, target: &str) -> Outcome {
    probe_with(&ws_yaml(block), target).await
}

#[track_caller]
fn assert_metrics(o: &Outcome, want: &[(&str, f64)]) {
    for (name, value) in want {
        assert_eq!(o.metrics.get(name), Some(*value), "{name}\n{}", o.dump());
    }
}

const DIALOGUE: &str = r#"
query_response:
  - expect: "incoming_(.+)"
    send: "outgoing_${1}"
  - expect: "^passed"
"#;

#[tokio::test]
async fn upstream_probe_websocket_cases() {
    let server = WsServer::start(None, upstream_script()).await;

    // 1: expect / send with ${1} / expect.
    let o = probe_ws(DIALOGUE, &server.url()).await;
    o.assert_success(true);
    assert_metrics(
        &o,
        &[
            ("probe_websocket_status_code", 101.0),
            ("probe_websocket_connection_upgraded", 1.0),
            ("probe_websocket_failed_due_to_regex", 0.0),
        ],
    );

    // 2: the second expect does not match.
    let o = probe_ws(
        &DIALOGUE.replace("^passed", "^someotherstring"),
        &server.url(),
    )
    .await;
    o.assert_success(false);
    assert_metrics(
        &o,
        &[
            ("probe_websocket_status_code", 101.0),
            ("probe_websocket_connection_upgraded", 1.0),
            ("probe_websocket_failed_due_to_regex", 1.0),
        ],
    );
    assert!(o.log.contains("Regexp did not match"), "{}", o.dump());

    // 3: wss with a bearer token, insecure_skip_verify and a custom header.
    let cert = TestCa::new("WS CA").localhost();
    let tls_server = WsServer::start(Some(&cert), idle_script()).await;
    let block = r#"
http_config:
  authorization:
    credentials: test_token
  tls_config:
    insecure_skip_verify: true
headers:
  X-Should-Be-Sent:
    values: ["true"]
"#;
    let o = probe_ws(block, &tls_server.url()).await;
    o.assert_success(true);
    assert_metrics(
        &o,
        &[
            ("probe_websocket_status_code", 101.0),
            ("probe_websocket_connection_upgraded", 1.0),
        ],
    );
    assert_eq!(tls_server.header("authorization"), ["Bearer test_token"]);
    assert_eq!(tls_server.header("x-should-be-sent"), ["true"]);

    // 4: preferred_ip_protocol ip4.
    let o = probe_ws(
        &format!("preferred_ip_protocol: ip4\n{}", support::dedent(DIALOGUE)),
        &server.url(),
    )
    .await;
    o.assert_success(true);
    assert_eq!(o.value("probe_ip_protocol"), 4.0);
    assert_metrics(&o, &[("probe_websocket_failed_due_to_regex", 0.0)]);
}

/// Upstream's TestCostructHeadersFromConfig, on the wire: basic_auth inline and from files,
/// a header from a file; plus example.yml's plain-string header and `authorization`
/// without credentials (no header, as upstream).
#[tokio::test]
async fn headers_from_config() {
    let server = WsServer::start(None, idle_script()).await;
    let basic = |user: &str, pass: &str| {
        format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("{user}:{pass}")
            )
        )
    };

    let o = probe_ws(
        "http_config:\n  basic_auth: {username: user, password: password}\nheaders:\n  X-Custom-Header: {values: [custom_value]}\n",
        &server.url(),
    )
    .await;
    o.assert_success(true);
    assert_eq!(server.header("authorization"), [basic("user", "password")]);
    assert_eq!(server.header("x-custom-header"), ["custom_value"]);

    let user_file = write_temp_file(b"user_from_file", ".txt");
    let pass_file = write_temp_file(b"password_from_file", ".txt");
    let header_file = write_temp_file(b"header_value_from_file\n", ".txt");
    let o = probe_ws(
        &format!(
            "http_config:\n  basic_auth:\n    username_file: {:?}\n    password_file: {:?}\nheaders:\n  X-Header-From-File: {{files: [{:?}]}}\n",
            user_file.display().to_string(),
            pass_file.display().to_string(),
            header_file.display().to_string(),
        ),
        &server.url(),
    )
    .await;
    o.assert_success(true);
    assert_eq!(
        server.header("authorization"),
        [basic("user_from_file", "password_from_file")]
    );
    assert_eq!(
        server.header("x-header-from-file"),
        ["header_value_from_file"]
    );

    // example.yml's form; several values of one header; an unreadable file is skipped.
    let o = probe_ws(
        "headers:\n  X-Some-Header: \"my_header\"\n  X-Multi: {values: [a, b], files: [/nonexistent/blackwatch-header]}\nhttp_config:\n  authorization: {type: Token}\n",
        &server.url(),
    )
    .await;
    o.assert_success(true);
    assert_eq!(server.header("x-some-header"), ["my_header"]);
    assert_eq!(server.header("x-multi"), ["a", "b"]);
    assert!(server.header("authorization").is_empty());
    assert!(o.log.contains("Unable to read header file"), "{}", o.dump());

    // Headers the dialer sets itself are refused, as gorilla does.
    let o = probe_ws("headers:\n  upgrade: \"h2c\"\n", &server.url()).await;
    o.assert_success(false);
    assert!(
        o.log
            .contains("websocket: duplicate header not allowed: Upgrade"),
        "{}",
        o.dump()
    );
}

#[tokio::test]
async fn duration_phases() {
    let server = WsServer::start(None, upstream_script()).await;
    let o = probe_ws("", &server.url()).await;
    o.assert_success(true);
    for phase in ["resolve", "connect", "processing"] {
        let v = o.value_with("probe_websocket_duration_seconds", &[("phase", phase)]);
        assert!(v >= 0.0, "{phase}: {v}");
    }
    assert!(
        !o.registry.encode_text().contains("phase=\"transfer\""),
        "{}",
        o.dump()
    );
    let o = probe_ws(DIALOGUE, &server.url()).await;
    o.assert_success(true);
    let v = o.value_with("probe_websocket_duration_seconds", &[("phase", "transfer")]);
    assert!(v > 0.0, "{}", o.dump());
    assert!(
        o.metrics.has("probe_dns_lookup_time_seconds"),
        "{}",
        o.dump()
    );
}

#[tokio::test]
async fn certificate_verified_against_the_url_host() {
    let ca = TestCa::new("WS CA");
    let cert = ca.localhost();
    let ca_file = ca.write_ca_file();
    let server = WsServer::start(Some(&cert), upstream_script()).await;
    let block = format!(
        "preferred_ip_protocol: ip4\nhttp_config:\n  tls_config:\n    ca_file: {:?}\n{}",
        ca_file.display().to_string(),
        support::dedent(DIALOGUE)
    );
    let o = probe_ws(&block, &server.localhost_url()).await;
    o.assert_success(true);
    assert_metrics(&o, &[("probe_websocket_status_code", 101.0)]);
    // No TLS metrics, as upstream.
    assert!(
        o.metrics.names_with_prefix("probe_ssl_").is_empty(),
        "{}",
        o.dump()
    );

    // Another CA: the handshake fails before any HTTP response.
    let other = TestCa::new("Other CA").write_ca_file();
    let block = format!(
        "preferred_ip_protocol: ip4\nhttp_config:\n  tls_config:\n    ca_file: {:?}\n",
        other.display().to_string()
    );
    let o = probe_ws(&block, &server.localhost_url()).await;
    o.assert_success(false);
    assert_metrics(
        &o,
        &[
            ("probe_websocket_status_code", 0.0),
            ("probe_websocket_connection_upgraded", 0.0),
        ],
    );
    assert!(
        o.log.contains("certificate signed by unknown authority"),
        "{}",
        o.dump()
    );
}

#[tokio::test]
async fn failures() {
    // Nothing listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let o = probe_ws("", &format!("ws://127.0.0.1:{port}/")).await;
    o.assert_success(false);
    assert_metrics(
        &o,
        &[
            ("probe_websocket_status_code", 0.0),
            ("probe_websocket_connection_upgraded", 0.0),
            ("probe_websocket_failed_due_to_regex", 0.0),
        ],
    );
    assert!(o.log.contains("Error dialing websocket"), "{}", o.dump());

    // An HTTP server that does not upgrade: its status is reported.
    let http = HttpServer::plain(handlers::fixed(200, "not a websocket"));
    let target = http.url("/").replace("http://", "ws://");
    let o = probe_ws("", &target).await;
    o.assert_success(false);
    assert_metrics(&o, &[("probe_websocket_status_code", 200.0)]);
    assert!(o.log.contains("websocket: bad handshake"), "{}", o.dump());

    // Not a ws or wss URL.
    let o = probe_ws("", &http.url("/")).await;
    o.assert_success(false);
    assert!(o.log.contains("malformed ws or wss URL"), "{}", o.dump());

    // The server closes instead of answering: a read error fails the step (flag set).
    let closing: Script = Arc::new(|mut ws: Ws| {
        Box::pin(async move {
            let _ = ws
                .send(Message::Close(Some(CloseFrame {
                    code: CloseCode::Normal,
                    reason: "bye".into(),
                })))
                .await;
            while let Some(Ok(_)) = ws.next().await {}
        })
    });
    let server = WsServer::start(None, closing).await;
    let o = probe_ws(DIALOGUE, &server.url()).await;
    o.assert_success(false);
    assert_metrics(&o, &[("probe_websocket_failed_due_to_regex", 1.0)]);
    assert!(
        o.log.contains("websocket: close 1000 (normal): bye"),
        "{}",
        o.dump()
    );
}
