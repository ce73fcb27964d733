//! Upstream blackbox_exporter's own `example.yml` (a copy in `tests/data/blackbox/example.yml`,
//! its commit in the header): it loads unchanged, and every one of its 27 modules probes a
//! loopback peer through the real binary's `/probe`.
//!
//! For the probes, a derived config replaces only the environment-specific values of the
//! file, textually and each one asserted present (so a changed upstream file fails here):
//! the proxy address (a real tinyproxy), the OAuth2 `token_url` (a loopback token endpoint)
//! and the file paths (`ca_file`, `body_file`, `http_headers.files`). DNS names stay; the
//! DNS target is a loopback server answering them. The modules without a `tls_config`
//! (tls_connect, the STARTTLS dialogues, postgresql, and https through the proxy) verify
//! against the system roots: the daemon runs with `SSL_CERT_FILE` naming the test CA, which
//! rustls-native-certs (src/client/tls.rs `system_roots`) honours.
//!
//! Two modules cannot succeed by construction; each is probed and asserted to fail for
//! exactly its reason: `dns_udp_example` (its regexps exclude each other, see
//! [`dns_udp_example_cannot_pass`]) and `postgresql` (a `\n` follows the SSLRequest, see
//! [`postgresql_cannot_pass`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use blackwatch::config;
use futures_util::{SinkExt, StreamExt};
use hickory_resolver::proto::op::Message;
use hickory_resolver::proto::rr::RecordType;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UnixListener};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::conformance::daemons::Daemon;
use crate::dns::{encode, reply_to, rr, DnsServer};
use crate::support::certs::write_temp_file;
use crate::support::tinyproxy::Tinyproxy;
use crate::support::tls::server_config;
use crate::support::{Encoding, HttpServer, TcpServer, TestCa, TestRequest, TestResponse};
use crate::tcp::{imap_server, irc_server, read_line, smtp_server, tls_server, write, Received};

const EXAMPLE: &str = "tests/data/blackbox/example.yml";

/// Every module of upstream's example.yml with its prober, in file order.
const MODULES: [(&str, &str); 27] = [
    ("http_2xx_example", "http"),
    ("http_with_proxy", "http"),
    ("http_with_proxy_and_headers", "http"),
    ("http_post_2xx", "http"),
    ("http_post_body_file", "http"),
    ("http_basic_auth_example", "http"),
    ("http_json_cel_match", "http"),
    ("http_2xx_oauth_client_credentials", "http"),
    ("http_custom_ca_example", "http"),
    ("http_gzip", "http"),
    ("http_gzip_with_accept_encoding", "http"),
    ("tls_connect", "tcp"),
    ("tcp_connect_example", "tcp"),
    ("imap_starttls", "tcp"),
    ("smtp_starttls", "tcp"),
    ("irc_banner_example", "tcp"),
    ("rabbitmq", "tcp"),
    ("rabbitmq_insecure", "tcp"),
    ("icmp_example", "icmp"),
    ("dns_udp_example", "dns"),
    ("dns_soa", "dns"),
    ("dns_tcp_example", "dns"),
    ("unix_socket_ping", "unix"),
    ("postgresql", "tcp"),
    ("http_with_header_from_files", "http"),
    ("websocket_example_basic_auth", "websocket"),
    ("websocket_example_bearer_token", "websocket"),
];

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(EXAMPLE)
}

#[test]
fn upstream_example_yml_loads_unchanged() {
    let cfg = match config::load(&example_path()) {
        Ok(c) => c,
        Err(e) => panic!("{EXAMPLE} does not load:\n{e}"),
    };
    let mut loaded: Vec<(&str, &str)> = cfg
        .modules
        .iter()
        .map(|(name, m)| (name.as_str(), m.prober.name()))
        .collect();
    let mut expected = MODULES.to_vec();
    loaded.sort_unstable();
    expected.sort_unstable();
    assert_eq!(loaded, expected);
}

// ---------------------------------------------------------------------------------------------
// The derived config

/// Replaces every occurrence of `from` (which must occur exactly `times` times) by `to`.
fn substitute(text: &mut String, from: &str, times: usize, to: &str) {
    let found = text.matches(from).count();
    assert_eq!(
        found, times,
        "{EXAMPLE}: expected {times} occurrence(s) of {from}, found {found}: upstream's file changed"
    );
    *text = text.replace(from, to);
}

/// YAML double-quoted scalar of a path.
fn quoted(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

// ---------------------------------------------------------------------------------------------
// The peers

const PAGE: &str = "<html>Download the latest version here</html>";
const CEL_JSON: &str = r#"{"foo":"bar","baz":"qux"}"#;
const ACCESS_TOKEN: &str = "example-access-token";
const BODY_FILE: &str = "body from the body_file\n";
const API_KEY: &str = "example-api-key";

fn basic(user: &str, password: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {b64}")
}

/// What each http module implies about its request, by path (the target names the module);
/// a request that does not fit gets a 400 naming what is wrong.
fn http_answer(req: &TestRequest) -> TestResponse {
    let module = req.path().trim_start_matches('/');
    let mut wrong = Vec::new();
    let mut want = |what: &str, ok: bool| {
        if !ok {
            wrong.push(what.to_string());
        }
    };
    let body = req.body_str();
    let resp = match module {
        "http_2xx_example" => {
            want("GET", req.method == http::Method::GET);
            want("Host", req.header("host") == Some("vhost.example.com"));
            want("Origin", req.header("origin") == Some("example.com"));
            want(
                "Accept-Language",
                req.header("accept-language") == Some("en-US"),
            );
            TestResponse::ok()
                .with_header("access-control-allow-origin", "example.com")
                .with_body(PAGE)
        }
        "http_with_proxy" | "http_with_proxy_and_headers" => {
            // tinyproxy forwards plain http with a Via header; over CONNECT the request is
            // the client's own (checked on tinyproxy's log instead).
            if !req.is_tls() {
                want(
                    "Via: tinyproxy",
                    req.header("via").is_some_and(|v| v.contains("tinyproxy")),
                );
            }
            TestResponse::ok()
        }
        "http_post_2xx" => {
            want("POST", req.method == http::Method::POST);
            want(
                "Content-Type",
                req.header("content-type") == Some("application/json"),
            );
            want("body {}", body == "{}");
            TestResponse::ok()
        }
        "http_post_body_file" => {
            want("POST", req.method == http::Method::POST);
            want("the body_file's body", body == BODY_FILE);
            TestResponse::ok()
        }
        "http_basic_auth_example" => {
            want("POST", req.method == http::Method::POST);
            want("Host", req.header("host") == Some("login.example.com"));
            want(
                "basic auth",
                req.header("authorization") == Some(basic("username", "mysecret").as_str()),
            );
            TestResponse::ok()
        }
        "http_json_cel_match" => TestResponse::ok()
            .with_header("content-type", "application/json")
            .with_body(CEL_JSON),
        "http_2xx_oauth_client_credentials" => {
            want(
                "the Bearer token from the token endpoint",
                req.header("authorization") == Some(format!("Bearer {ACCESS_TOKEN}").as_str()),
            );
            TestResponse::new(201)
        }
        "http_custom_ca_example" => {
            want("TLS", req.is_tls());
            TestResponse::ok()
        }
        // The module sends no Accept-Encoding (upstream's client disables Go's transparent
        // compression) and decodes the body as gzip regardless.
        "http_gzip" => TestResponse::ok().with_body(PAGE).encoded(Encoding::Gzip),
        "http_gzip_with_accept_encoding" => {
            want(
                "Accept-Encoding: gzip",
                req.header("accept-encoding") == Some("gzip"),
            );
            TestResponse::ok().with_body(PAGE).encoded(Encoding::Gzip)
        }
        "http_with_header_from_files" => {
            want("X-API-Key", req.header("x-api-key") == Some(API_KEY));
            TestResponse::ok()
        }
        _ => return TestResponse::not_found(),
    };
    if wrong.is_empty() {
        resp
    } else {
        TestResponse::text(400, format!("{module}: wrong {}", wrong.join(", ")))
    }
}

/// The OAuth2 client-credentials token endpoint.
fn token_answer(req: &TestRequest) -> TestResponse {
    let body = req.body_str();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let client_ok = req.header("authorization")
        == Some(basic("client_id", "client_secret").as_str())
        || (field("client_id") == Some("client_id")
            && field("client_secret") == Some("client_secret"));
    if req.method != http::Method::POST
        || req.path() != "/token"
        || field("grant_type") != Some("client_credentials")
        || !client_ok
    {
        return TestResponse::text(401, r#"{"error":"invalid_client"}"#);
    }
    TestResponse::ok()
        .with_header("content-type", "application/json")
        .with_body(format!(
            r#"{{"access_token":"{ACCESS_TOKEN}","token_type":"bearer","expires_in":3600}}"#
        ))
}

/// Answers `www.prometheus.io` (any type) with its A record at 127.0.0.1, `prometheus.io
/// SOA` with a SOA; anything else NXDOMAIN.
fn dns_handler() -> crate::dns::Handler {
    Arc::new(|q: &Message| {
        let mut m = reply_to(q);
        m.metadata.authoritative = true;
        let query = &q.queries[0];
        let name = query.name().to_ascii().to_ascii_lowercase();
        match (name.as_str(), query.query_type()) {
            ("www.prometheus.io.", _) => {
                m.answers
                    .push(rr("www.prometheus.io.", 300, "IN", "A", "127.0.0.1"))
            }
            ("prometheus.io.", RecordType::SOA) => m.answers.push(rr(
                "prometheus.io.",
                3600,
                "IN",
                "SOA",
                "ns1.prometheus.io. hostmaster.prometheus.io. 1 7200 3600 1209600 3600",
            )),
            _ => m.metadata.response_code = hickory_resolver::proto::op::ResponseCode::NXDomain,
        }
        encode(&m)
    })
}

/// RabbitMQ over TLS: after the four lines the module sends, the AMQP protocol header.
fn rabbitmq_server(ca: &TestCa) -> TcpServer {
    let config = server_config(
        &ca.localhost(),
        &crate::support::TlsOptions::default().no_alpn(),
    );
    TcpServer::spawn_tls(config, |stream| async move {
        let mut s = BufReader::new(stream);
        for want in ["HELO", "", "", ""] {
            if read_line(&mut s).await.as_deref() != Some(want) {
                return;
            }
        }
        write(&mut s, "AMQP\0\0\x09\x01").await;
        let _ = s.into_inner().shutdown().await;
    })
}

/// PostgreSQL: the 8-byte SSLRequest, `S`, then TLS. Records the first byte that follows
/// the SSLRequest (peeked, not consumed). A `lenient` peer discards one stray `\n` there
/// before the handshake; a faithful one (as PostgreSQL, which since 14 even rejects any data
/// buffered after the SSLRequest) hands it to TLS.
fn postgresql_server(ca: &TestCa, lenient: bool, after_request: Arc<Mutex<Vec<u8>>>) -> TcpServer {
    let acceptor = TlsAcceptor::from(server_config(
        &ca.localhost(),
        &crate::support::TlsOptions::default().no_alpn(),
    ));
    TcpServer::spawn(move |mut stream: TcpStream| {
        let acceptor = acceptor.clone();
        let after_request = after_request.clone();
        async move {
            let mut request = [0u8; 8];
            if stream.read_exact(&mut request).await.is_err()
                || request != [0x00, 0x00, 0x00, 0x08, 0x04, 0xD2, 0x16, 0x2F]
            {
                return;
            }
            if stream.write_all(b"S").await.is_err() {
                return;
            }
            let mut next = [0u8; 1];
            if stream.peek(&mut next).await.is_err() {
                return;
            }
            after_request.lock().expect("lock").push(next[0]);
            if lenient && next[0] == b'\n' {
                let _ = stream.read_exact(&mut next).await;
            }
            if let Ok(mut tls) = acceptor.accept(stream).await {
                let mut rest = Vec::new();
                let _ = tls.read_to_end(&mut rest).await;
            }
        }
    })
}

/// Websocket peer: wants `X-Some-Header: my_header` and one of the two modules'
/// credentials on the upgrade, sends `Hello, prober"`, wants the module's reply, then
/// sends `Welcome`.
fn websocket_server() -> TcpServer {
    TcpServer::spawn(|stream| async move {
        #[allow(clippy::result_large_err)] // tungstenite's callback signature
        let check = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
            let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
            let auth = header("authorization");
            let ok = header("x-some-header") == Some("my_header")
                && (auth == Some(basic("user", "password").as_str())
                    || auth == Some("Bearer secret_token"));
            if ok {
                Ok(resp)
            } else {
                let mut refused = ErrorResponse::new(Some("wrong headers".into()));
                *refused.status_mut() = http::StatusCode::UNAUTHORIZED;
                Err(refused)
            }
        };
        let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
            return;
        };
        let _ = ws.send(WsMessage::text("Hello, prober\"")).await;
        if let Some(Ok(WsMessage::Text(t))) = ws.next().await {
            if t.as_str() == "Hello server, i'am prober" {
                let _ = ws.send(WsMessage::text("Welcome")).await;
            }
        }
        while let Some(Ok(_)) = ws.next().await {}
    })
}

/// Whether raw ICMP sockets work here, as tests/it/icmp.rs decides: as root they must (a
/// refusal panics); any other user gets a printed reason and the icmp module is skipped.
fn raw_icmp_available() -> bool {
    match Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)) {
        Ok(_) => true,
        Err(e) => {
            let root = std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("Uid:"))
                        .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
                })
                .unwrap_or(false);
            assert!(
                !root,
                "running as root, yet the raw ICMP socket was refused: {e}"
            );
            eprintln!("icmp_example: SKIPPED: raw ICMP sockets are refused ({e})");
            false
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The probes

async fn probe(daemon: &Daemon, module: &str, target: &str, debug: bool) -> String {
    let extra = if debug {
        vec![("debug", "true".to_string())]
    } else {
        Vec::new()
    };
    match daemon.probe(module, target, &extra).await {
        Ok(body) => body,
        Err(e) => panic!("{module} {target}: {e}"),
    }
}

fn succeeded(body: &str) -> bool {
    body.lines().any(|l| l == "probe_success 1")
}

/// The dns_udp_example module cannot succeed against any server: `fail_if_not_matches_regexp`
/// requires every answer RR to match `www.prometheus.io.\t300\tIN\tA\t127.0.0.1`, and each
/// such RR also matches `fail_if_matches_regexp: .*127.0.0.1`; no answer RR at all fails
/// `fail_if_none_matches_regexp`. Probed against a server giving exactly the RR the module
/// asks for, it fails for the first of those reasons, and only that one.
async fn dns_udp_example_cannot_pass(daemon: &Daemon, target: &str) {
    let out = probe(daemon, "dns_udp_example", target, true).await;
    assert!(out.contains("probe_success 0"), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("At least one RR matched regexp"))
        .unwrap_or_else(|| panic!("dns_udp_example failed for another reason:\n{out}"));
    assert!(line.contains(".*127.0.0.1"), "{line}\n{out}");
    assert!(
        line.contains("www.prometheus.io.\t300\tIN\tA\t127.0.0.1")
            || line.contains(r"www.prometheus.io.\t300\tIN\tA\t127.0.0.1"),
        "{line}\n{out}"
    );
    let errors: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("level=error"))
        .filter_map(|l| l.split("msg=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(
        errors,
        [
            "At least one RR matched regexp",
            "Answer RRs validation failed",
            "Probe failed"
        ],
        "{out}"
    );
}

/// The postgresql module cannot succeed against a faithful peer: its `send:` of the 8-byte
/// SSLRequest goes out, as every `send:` in upstream's query_response.go, followed by `\n`
/// (`fmt.Fprintf(conn, "%s\n", send)`). A server that reads the SSLRequest and answers `S`
/// then finds that `\n` where the TLS ClientHello record should begin (PostgreSQL 14+
/// refuses data buffered after the SSLRequest outright). Against such a peer the probe fails
/// in the TLS handshake; against a peer that discards the stray `\n` it succeeds, which shows
/// the rest (the `S`, STARTTLS, verification against the system roots) works.
async fn postgresql_cannot_pass(daemon: &Daemon, ca: &TestCa) {
    let after_request = Arc::new(Mutex::new(Vec::new()));
    let faithful = postgresql_server(ca, false, after_request.clone());
    let out = probe(daemon, "postgresql", &faithful.localhost_target(), true).await;
    assert!(out.contains("probe_success 0"), "{out}");
    assert!(
        out.contains("level=error msg=\"TLS Handshake (client) failed\""),
        "postgresql failed for another reason:\n{out}"
    );
    assert_eq!(*after_request.lock().expect("lock"), [b'\n'], "{out}");

    let lenient = postgresql_server(ca, true, after_request.clone());
    let out = probe(daemon, "postgresql", &lenient.localhost_target(), true).await;
    assert!(succeeded(&out), "{out}");
    assert!(out.contains("probe_tls_version_info"), "{out}");
    assert_eq!(
        *after_request.lock().expect("lock"),
        [b'\n', b'\n'],
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_upstream_example_module_probes_a_loopback_peer() {
    crate::support::install_crypto();
    let ca = TestCa::new("example.yml CA");
    let ca_file = ca.write_ca_file();
    let body_file = write_temp_file(BODY_FILE.as_bytes(), ".txt");
    let api_key_file = write_temp_file(API_KEY.as_bytes(), ".txt");

    // Peers.
    let tiny = Tinyproxy::start().await;
    let http = HttpServer::plain(http_answer);
    let https = HttpServer::tls(&ca.localhost(), http_answer);
    let token = HttpServer::plain(token_answer);
    let tls = tls_server(&ca.localhost(), "");
    let tcp = TcpServer::accept_and_close();
    let imap = imap_server(&ca.localhost());
    let smtp_after_tls = Received::default();
    let smtp = smtp_server(&ca.localhost(), smtp_after_tls.clone());
    let irc = irc_server(false);
    let rabbitmq = rabbitmq_server(&ca);
    let dns = DnsServer::start(dns_handler()).await;
    let websocket = websocket_server();
    let unix_dir = tempfile::tempdir().expect("temp dir");
    let unix_path = unix_dir.path().join("ping.sock");
    let unix_listener = UnixListener::bind(&unix_path).expect("bind unix socket");
    let unix_task = tokio::spawn(async move {
        while let Ok((stream, _)) = unix_listener.accept().await {
            tokio::spawn(async move {
                let mut s = BufReader::new(stream);
                while let Some(line) = read_line(&mut s).await {
                    if line == "PING" {
                        write(&mut s, "PONG\n").await;
                    }
                }
            });
        }
    });

    // The derived config: only the environment-specific values replaced.
    let mut yaml = std::fs::read_to_string(example_path()).expect("read example.yml");
    // tinyproxy wants basic auth: the credentials go in the proxy URL.
    substitute(&mut yaml, "\"http://127.0.0.1:3128\"", 2, &tiny.url(true));
    substitute(
        &mut yaml,
        "\"https://api.example.com/token\"",
        1,
        &format!("\"{}\"", token.url("/token")),
    );
    substitute(&mut yaml, "\"/certs/my_cert.crt\"", 1, &quoted(&ca_file));
    substitute(
        &mut yaml,
        "\"/etc/blackbox_exporter/CA_cert.crt\"",
        2,
        &quoted(&ca_file),
    );
    substitute(&mut yaml, "\"/files/body.txt\"", 1, &quoted(&body_file));
    substitute(
        &mut yaml,
        "- /path/to/api-key.txt",
        1,
        &format!("- {}", quoted(&api_key_file)),
    );
    let config_dir = tempfile::tempdir().expect("temp dir");
    let config_path = config_dir.path().join("example.yml");
    std::fs::write(&config_path, &yaml).expect("write the derived config");

    let ca_path = ca_file.to_str().expect("UTF-8 temp path").to_string();
    let daemon = Daemon::blackwatch_with_env(&config_path, &[("SSL_CERT_FILE", &ca_path)]).await;

    let http_url = |m: &str| http.url(&format!("/{m}"));
    let websocket_url = format!("ws://{}/", websocket.addr());
    let mut targets: Vec<(&str, String)> = vec![
        ("http_2xx_example", http_url("http_2xx_example")),
        ("http_with_proxy", http_url("http_with_proxy")),
        // https through the proxy: a CONNECT, verified against the system roots.
        (
            "http_with_proxy_and_headers",
            https.url("/http_with_proxy_and_headers"),
        ),
        ("http_post_2xx", http_url("http_post_2xx")),
        ("http_post_body_file", http_url("http_post_body_file")),
        (
            "http_basic_auth_example",
            http_url("http_basic_auth_example"),
        ),
        ("http_json_cel_match", http_url("http_json_cel_match")),
        (
            "http_2xx_oauth_client_credentials",
            http_url("http_2xx_oauth_client_credentials"),
        ),
        (
            "http_custom_ca_example",
            https.url("/http_custom_ca_example"),
        ),
        ("http_gzip", http_url("http_gzip")),
        (
            "http_gzip_with_accept_encoding",
            http_url("http_gzip_with_accept_encoding"),
        ),
        ("tls_connect", tls.localhost_target()),
        ("tcp_connect_example", tcp.target()),
        ("imap_starttls", imap.localhost_target()),
        ("smtp_starttls", smtp.localhost_target()),
        ("irc_banner_example", irc.target()),
        ("rabbitmq", rabbitmq.localhost_target()),
        ("rabbitmq_insecure", rabbitmq.localhost_target()),
        ("dns_soa", dns.target()),
        ("dns_tcp_example", dns.target()),
        ("unix_socket_ping", unix_path.display().to_string()),
        (
            "http_with_header_from_files",
            http_url("http_with_header_from_files"),
        ),
        ("websocket_example_basic_auth", websocket_url.clone()),
        ("websocket_example_bearer_token", websocket_url),
    ];
    if raw_icmp_available() {
        targets.push(("icmp_example", "127.0.0.1".to_string()));
    }

    let mut failed = Vec::new();
    for (module, target) in &targets {
        let body = probe(&daemon, module, target, false).await;
        if !succeeded(&body) {
            let debug = probe(&daemon, module, target, true).await;
            eprintln!("---- {module} {target} failed:\n{debug}");
            failed.push(*module);
        }
    }
    dns_udp_example_cannot_pass(&daemon, &dns.target()).await;
    postgresql_cannot_pass(&daemon, &ca).await;
    assert!(
        failed.is_empty(),
        "modules that did not probe successfully: {failed:?}\ndaemon log:\n{}",
        daemon.log()
    );

    // Every module is accounted for (icmp_example only when ICMP is allowed).
    let mut probed: Vec<&str> = targets.iter().map(|(m, _)| *m).collect();
    probed.extend(["dns_udp_example", "postgresql"]);
    if !probed.contains(&"icmp_example") {
        probed.push("icmp_example");
    }
    probed.sort_unstable();
    let mut all: Vec<&str> = MODULES.iter().map(|(m, _)| *m).collect();
    all.sort_unstable();
    assert_eq!(probed, all);

    // What the peers saw: the proxy handled a forward GET and a CONNECT; SMTP went on over TLS.
    let proxied = tiny.requests();
    assert!(
        proxied
            .iter()
            .any(|r| r.starts_with("GET http://") && r.contains("/http_with_proxy")),
        "{proxied:?}"
    );
    assert!(
        proxied.iter().any(|r| r.starts_with("CONNECT ")),
        "{proxied:?}"
    );
    crate::support::poll::until(
        "the SMTP peer to read QUIT over TLS",
        std::time::Duration::from_secs(10),
        async || match smtp_after_tls.lines() {
            l if l == ["EHLO prober", "QUIT"] => Ok(()),
            l => Err(format!("{l:?}")),
        },
    )
    .await;
    unix_task.abort();
}
