//! The tcp prober against real loopback peers: the scenarios of upstream
//! `prober/tcp_test.go`, plus target parsing, the line reader's edges, `expect_bytes`,
//! `source_ip_address`, IPv6, the `hostname` parameter through the in-process server, and
//! every module shipped in `modules/tcp.yml` against a peer speaking its dialogue.
//!
//! Every peer checks what it receives and only answers a correct client, so a prober that
//! sends the wrong thing fails the probe instead of passing by accident.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use blackwatch::probe::log::Level;
use blackwatch::probe::module::{PemSource, TcpModule};
use blackwatch::probe::{self, ProbeCx, Prober};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::support::tls::server_config;
use crate::support::{self, module_config, probe_with, run_probe, Daemon, Metrics, Outcome};
use crate::support::{poll, OlderRootChain, ServerCert, TcpServer, TestCa, TlsOptions};

const TLS_METRICS: [&str; 5] = [
    "probe_ssl_earliest_cert_expiry",
    "probe_ssl_last_chain_expiry_timestamp_seconds",
    "probe_ssl_last_chain_info",
    "probe_tls_version_info",
    "probe_tls_cipher_info",
];

/// A tcp module with a 10 s timeout and the given `tcp:` block (YAML at column 0).
fn tcp_yaml(block: &str) -> String {
    let block = support::dedent(block);
    if block.trim().is_empty() {
        "prober: tcp\ntimeout: 10s\n".to_string()
    } else {
        format!(
            "prober: tcp\ntimeout: 10s\ntcp:\n{}",
            support::indent(&block, 2)
        )
    }
}

async fn probe_tcp(block: &str, target: &str) -> Outcome {
    probe_with(&tcp_yaml(block), target).await
}

fn yaml_path(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

/// A loopback port nothing listens on.
pub(crate) fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[track_caller]
fn assert_metric(o: &Outcome, name: &str, want: f64) {
    assert_eq!(o.metrics.get(name), Some(want), "{name}\n{}", o.dump());
}

#[track_caller]
fn assert_absent(o: &Outcome, names: &[&str]) {
    for name in names {
        assert!(!o.metrics.has(name), "{name} must be absent\n{}", o.dump());
    }
}

#[track_caller]
fn assert_no_tls_metrics(o: &Outcome) {
    assert_absent(o, &TLS_METRICS);
}

/// What a peer received, line by line.
#[derive(Clone, Default)]
pub(crate) struct Received(Arc<Mutex<Vec<String>>>);

impl Received {
    pub(crate) fn push(&self, line: &str) {
        self.0.lock().unwrap().push(line.to_string());
    }
    pub(crate) fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// One line without its `\n` (and `\r`); `None` at EOF or on error.
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R) -> Option<String> {
    let mut line = String::new();
    match r.read_line(&mut line).await {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(
            line.trim_end_matches('\n')
                .trim_end_matches('\r')
                .to_string(),
        ),
    }
}

pub(crate) async fn write<W: AsyncWrite + Unpin>(w: &mut W, text: &str) {
    let _ = w.write_all(text.as_bytes()).await;
    let _ = w.flush().await;
}

/// One line without its `\n` but with any `\r` kept; `None` at EOF or on error.
async fn read_raw_line<R: AsyncBufRead + Unpin>(r: &mut R) -> Option<String> {
    let mut line = String::new();
    match r.read_line(&mut line).await {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches('\n').to_string()),
    }
}

/// A peer that sends `banner`, then records every line it receives until EOF, exactly
/// (a `\r` the prober should not send would show).
pub(crate) fn banner_server(banner: &'static str, received: Received) -> TcpServer {
    TcpServer::spawn(move |stream| {
        let received = received.clone();
        async move {
            let mut s = BufReader::new(stream);
            write(&mut s, banner).await;
            while let Some(line) = read_raw_line(&mut s).await {
                received.push(&line);
            }
        }
    })
}

/// A TLS peer (no ALPN) that writes `greeting` after the handshake and holds the
/// connection until the client closes it.
pub(crate) fn tls_server(identity: &ServerCert, greeting: &'static str) -> TcpServer {
    let config = server_config(identity, &TlsOptions::default().no_alpn());
    TcpServer::spawn_tls(config, move |stream| async move {
        let mut s = BufReader::new(stream);
        write(&mut s, greeting).await;
        while read_line(&mut s).await.is_some() {}
    })
}

/// A TLS peer (no ALPN) that writes `greeting` after the handshake and closes, with a
/// close_notify or without one.
pub(crate) fn tls_server_closing(
    identity: &ServerCert,
    greeting: &'static str,
    notify: bool,
) -> TcpServer {
    let config = server_config(identity, &TlsOptions::default().no_alpn());
    TcpServer::spawn_tls(config, move |mut stream| async move {
        write(&mut stream, greeting).await;
        if notify {
            let _ = stream.shutdown().await;
        }
    })
}

/// A listener on `[::1]:0` running `handler` per connection; aborted on drop.
pub(crate) struct V6Server {
    pub(crate) addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for V6Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) async fn v6_server() -> V6Server {
    let listener = TcpListener::bind("[::1]:0").await.expect("bind [::1]:0");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut s = BufReader::new(stream);
                write(&mut s, "SSH-2.0-v6\r\n").await;
                while read_line(&mut s).await.is_some() {}
            });
        }
    });
    V6Server { addr, task }
}

// ---------------------------------------------------------------------------
// Connecting
// ---------------------------------------------------------------------------

#[tokio::test]
async fn plain_connect_succeeds() {
    let server = TcpServer::accept_and_close();
    let o = probe_tcp("", &server.target()).await;
    o.assert_success(true);
    assert_metric(&o, "probe_ip_protocol", 4.0);
    assert_metric(&o, "probe_ip_addr_hash", 3_668_918_509.0);
    assert!(o.metrics.has("probe_dns_lookup_time_seconds"));
    assert_metric(&o, "probe_failed_due_to_regex", 0.0);
    assert_metric(&o, "probe_failed_due_to_bytes", 0.0);
    assert_no_tls_metrics(&o);
    assert_eq!(
        o.metrics.help.get("probe_failed_due_to_regex").unwrap(),
        "Indicates if probe failed due to regex"
    );
    assert_eq!(
        o.metrics.help.get("probe_failed_due_to_bytes").unwrap(),
        "Indicates if probe failed due to bytes"
    );
    poll::until(
        "the connection to be counted",
        Duration::from_secs(10),
        async || {
            if server.connection_count() > 0 {
                Ok(())
            } else {
                Err(format!("{} connections", server.connection_count()))
            }
        },
    )
    .await;
    assert_eq!(server.connection_count(), 1);
}

#[tokio::test]
async fn refused_connection_fails_without_the_flags() {
    // (Upstream also tries ":0"; an empty host would reach resolve.rs's system resolver,
    // which tests must not use.)
    for target in [
        format!("127.0.0.1:{}", closed_port()),
        "127.0.0.1:0".to_string(),
    ] {
        let o = probe_tcp("", &target).await;
        o.assert_success(false);
        assert_absent(
            &o,
            &["probe_failed_due_to_regex", "probe_failed_due_to_bytes"],
        );
        assert!(o.log.contains("Error dialing TCP"), "{}", o.dump());
    }
    let o = probe_tcp("", &format!("127.0.0.1:{}", closed_port())).await;
    assert_metric(&o, "probe_ip_protocol", 4.0);
}

#[tokio::test]
async fn target_without_port_fails_before_resolution() {
    for target in ["127.0.0.1", "localhost", "[::1]", "::1"] {
        let o = probe_tcp("", target).await;
        o.assert_success(false);
        assert_absent(
            &o,
            &[
                "probe_ip_protocol",
                "probe_ip_addr_hash",
                "probe_dns_lookup_time_seconds",
                "probe_failed_due_to_regex",
            ],
        );
        assert!(
            o.log.contains("missing port in address") || o.log.contains("too many colons"),
            "{}",
            o.dump()
        );
    }
}

#[tokio::test]
async fn bad_ports_fail_after_resolution() {
    for target in ["127.0.0.1:99999", "127.0.0.1:ssh"] {
        let o = probe_tcp("", target).await;
        o.assert_success(false);
        assert_metric(&o, "probe_ip_protocol", 4.0);
    }
}

#[tokio::test]
async fn ip_protocol_selection_for_localhost_and_v6_literals() {
    let server = TcpServer::accept_and_close();
    let port = server.port();
    // localhost is 127.0.0.1 only in this machine's hosts file, so IPv6 preferred falls
    // back to IPv4 — as Go's resolver, which also reads /etc/hosts, would.
    for (block, want) in [
        ("preferred_ip_protocol: ip4", 4.0),
        ("preferred_ip_protocol: ip6", 4.0),
        ("", 4.0),
    ] {
        let o = probe_tcp(block, &format!("localhost:{port}")).await;
        o.assert_success(true);
        assert_metric(&o, "probe_ip_protocol", want);
    }
    let o = probe_tcp(
        "preferred_ip_protocol: ip6\nip_protocol_fallback: false",
        &format!("localhost:{port}"),
    )
    .await;
    o.assert_success(false);
    assert_metric(&o, "probe_ip_protocol", 0.0);
    assert_metric(&o, "probe_ip_addr_hash", 0.0);

    let v6 = v6_server().await;
    let target = format!("[::1]:{}", v6.addr.port());
    for block in [
        "preferred_ip_protocol: ip4",
        "preferred_ip_protocol: ip6",
        "",
    ] {
        let o = probe_tcp(
            &format!("{block}\nquery_response:\n  - expect: \"^SSH-2.0-v6$\""),
            &target,
        )
        .await;
        o.assert_success(true);
        assert_metric(&o, "probe_ip_protocol", 6.0);
    }
    let o = probe_tcp(
        "preferred_ip_protocol: ip4\nip_protocol_fallback: false",
        &target,
    )
    .await;
    o.assert_success(false);
}

#[tokio::test]
async fn source_ip_address_is_used() {
    let peers: Received = Received::default();
    let server = {
        let peers = peers.clone();
        TcpServer::spawn(move |stream| {
            let peers = peers.clone();
            async move {
                if let Ok(peer) = stream.peer_addr() {
                    peers.push(&peer.ip().to_string());
                }
            }
        })
    };
    for source in ["127.0.0.1", "127.0.0.2"] {
        let o = probe_tcp(
            &format!("preferred_ip_protocol: ip4\nsource_ip_address: {source}"),
            &server.target(),
        )
        .await;
        o.assert_success(true);
        assert!(o.log.contains("Using local address"), "{}", o.dump());
    }
    // The server task records the peer after accept; poll until both arrived.
    poll::until(
        "both peers to be recorded",
        Duration::from_secs(10),
        async || {
            if peers.lines().len() >= 2 {
                Ok(())
            } else {
                Err(format!("{:?}", peers.lines()))
            }
        },
    )
    .await;
    assert_eq!(peers.lines(), vec!["127.0.0.1", "127.0.0.2"]);

    let o = probe_tcp("source_ip_address: not-an-ip", &server.target()).await;
    o.assert_success(false);
    assert!(
        o.log.contains("Error parsing source ip address"),
        "{}",
        o.dump()
    );
    assert_metric(&o, "probe_ip_protocol", 4.0);
    assert_absent(&o, &["probe_failed_due_to_regex"]);

    // An IPv6 source cannot reach an IPv4 target.
    let o = probe_tcp(
        "preferred_ip_protocol: ip4\nsource_ip_address: \"::1\"",
        &server.target(),
    )
    .await;
    o.assert_success(false);
}

// ---------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------

#[tokio::test]
async fn tls_verifies_the_target_host_name() {
    let ca = TestCa::new("Test CA");
    let leaf = ca.localhost_without_ip();
    let ca_file = ca.write_ca_file();
    let server = tls_server(&leaf, "");
    let block = format!("tls: true\ntls_config:\n  ca_file: {}", yaml_path(&ca_file));

    // An IP target verifies against IP SANs, and this certificate has none.
    let o = probe_tcp(&block, &server.target()).await;
    o.assert_success(false);
    assert_no_tls_metrics(&o);
    assert_absent(
        &o,
        &["probe_failed_due_to_regex", "probe_failed_due_to_bytes"],
    );
    assert_metric(&o, "probe_ip_protocol", 4.0);

    let o = probe_tcp(&block, &server.localhost_target()).await;
    o.assert_success(true);
    assert_metric(&o, "probe_failed_due_to_regex", 0.0);

    let o = probe_tcp(
        &format!("{block}\n  server_name: localhost"),
        &server.target(),
    )
    .await;
    o.assert_success(true);

    // The `hostname` parameter names the server when tls_config does not.
    let cfg = module_config(&tcp_yaml(&block));
    let o = run_probe(&cfg, support::MODULE, &server.target(), Some("localhost")).await;
    o.assert_success(true);
    // tls_config.server_name wins over it.
    let cfg = module_config(&tcp_yaml(&format!("{block}\n  server_name: localhost")));
    let o = run_probe(
        &cfg,
        support::MODULE,
        &server.target(),
        Some("wrong.example"),
    )
    .await;
    o.assert_success(true);
    let cfg = module_config(&tcp_yaml(&block));
    let o = run_probe(
        &cfg,
        support::MODULE,
        &server.localhost_target(),
        Some("wrong.example"),
    )
    .await;
    o.assert_success(false);
}

#[tokio::test]
async fn tls_metrics_after_a_tls_dial() {
    let ca = TestCa::new("Test CA");
    let leaf = ca.localhost();
    let ca_file = ca.write_ca_file();
    let config = server_config(&leaf, &TlsOptions::default().no_alpn().tls12_only());
    let server = TcpServer::spawn_tls(config, |stream| async move {
        let mut s = BufReader::new(stream);
        while read_line(&mut s).await.is_some() {}
    });
    let o = probe_tcp(
        &format!("tls: true\ntls_config:\n  ca_file: {}", yaml_path(&ca_file)),
        &server.localhost_target(),
    )
    .await;
    o.assert_success(true);
    assert_eq!(
        o.value_with("probe_tls_version_info", &[("version", "TLS 1.2")]),
        1.0
    );
    assert_metric(
        &o,
        "probe_ssl_earliest_cert_expiry",
        leaf.leaf().not_after() as f64,
    );
    assert_metric(
        &o,
        "probe_ssl_last_chain_expiry_timestamp_seconds",
        leaf.leaf().not_after() as f64,
    );
    let info = o.metrics.family("probe_ssl_last_chain_info");
    assert_eq!(info.len(), 1, "{}", o.dump());
    assert_eq!(info[0].labels["subjectalternative"], "localhost");
    assert_eq!(info[0].labels["subject"], "CN=localhost,O=blackwatch tests");
    assert_absent(&o, &["probe_tls_cipher_info"]);
    assert_eq!(
        o.metrics
            .help
            .get("probe_ssl_earliest_cert_expiry")
            .unwrap(),
        "Returns last SSL chain expiry in unixtime"
    );
}

#[tokio::test]
async fn tls_chain_with_an_older_root() {
    let chain = OlderRootChain::generate();
    let ca_file = chain.write_ca_file();
    let server = tls_server(&chain.server, "");
    let o = probe_tcp(
        &format!("tls: true\ntls_config:\n  ca_file: {}", yaml_path(&ca_file)),
        &server.localhost_target(),
    )
    .await;
    o.assert_success(true);
    assert_metric(
        &o,
        "probe_ssl_earliest_cert_expiry",
        chain.expected_earliest_expiry() as f64,
    );
    assert_metric(
        &o,
        "probe_ssl_last_chain_expiry_timestamp_seconds",
        chain.expected_last_chain_expiry() as f64,
    );
}

#[tokio::test]
async fn tls_self_signed_and_insecure_skip_verify() {
    let leaf = crate::support::self_signed_localhost();
    let server = tls_server(&leaf, "+OK hello\r\n");
    let o = probe_tcp("tls: true", &server.localhost_target()).await;
    o.assert_success(false);
    assert_no_tls_metrics(&o);
    let o = probe_tcp(
        "tls: true\ntls_config:\n  insecure_skip_verify: true\nquery_response:\n  - expect: \"^\\\\+OK\"",
        &server.target(),
    )
    .await;
    o.assert_success(true);
    assert_metric(
        &o,
        "probe_ssl_last_chain_expiry_timestamp_seconds",
        -62_135_596_800.0,
    );
    assert_metric(
        &o,
        "probe_ssl_earliest_cert_expiry",
        leaf.leaf().not_after() as f64,
    );
}

#[tokio::test]
async fn tls_peer_closing_is_an_eof_with_or_without_close_notify() {
    let leaf = crate::support::self_signed_localhost();
    for notify in [true, false] {
        let server = tls_server_closing(&leaf, "220 wrong greeting\r\n", notify);
        let o = probe_tcp(
            "tls: true\ntls_config:\n  insecure_skip_verify: true\nquery_response:\n  - expect: \"^\\\\+OK\"",
            &server.target(),
        )
        .await;
        o.assert_success(false);
        assert_metric(&o, "probe_failed_due_to_regex", 1.0);
        assert!(o.elapsed < Duration::from_secs(5), "{:?}", o.elapsed);
    }
}

#[tokio::test]
async fn tls_against_a_plain_server_fails_without_metrics() {
    let server = banner_server("220 plain\r\n", Received::default());
    let o = probe_tcp(
        "tls: true\ntls_config:\n  insecure_skip_verify: true",
        &server.target(),
    )
    .await;
    o.assert_success(false);
    assert_no_tls_metrics(&o);
    assert_absent(&o, &["probe_failed_due_to_regex"]);
}

// ---------------------------------------------------------------------------
// query_response
// ---------------------------------------------------------------------------

/// An SMTP-like peer with STARTTLS; it only upgrades and answers a client that sends the
/// right commands, and records the lines it got after the upgrade.
pub(crate) fn smtp_server(identity: &ServerCert, after_tls: Received) -> TcpServer {
    let acceptor = TlsAcceptor::from(server_config(identity, &TlsOptions::default().no_alpn()));
    TcpServer::spawn(move |stream| {
        let acceptor = acceptor.clone();
        let after_tls = after_tls.clone();
        async move {
            let mut s = BufReader::new(stream);
            write(&mut s, "220 mail.test ESMTP blackwatch-test\r\n").await;
            if read_line(&mut s).await.as_deref() != Some("EHLO prober") {
                return;
            }
            write(&mut s, "250-mail.test\r\n250-STARTTLS\r\n250 SIZE 1000\r\n").await;
            if read_line(&mut s).await.as_deref() != Some("STARTTLS") {
                return;
            }
            write(&mut s, "220 2.0.0 Ready to start TLS\r\n").await;
            let Ok(tls) = acceptor.accept(s.into_inner()).await else {
                return;
            };
            let mut t = BufReader::new(tls);
            if read_line(&mut t).await.as_deref() != Some("EHLO prober") {
                return;
            }
            after_tls.push("EHLO prober");
            write(&mut t, "250-mail.test\r\n250-AUTH PLAIN\r\n250 OK\r\n").await;
            if let Some(line) = read_line(&mut t).await {
                after_tls.push(&line);
                write(&mut t, "221 bye\r\n").await;
            }
        }
    })
}

pub(crate) const SMTP_STEPS: &str = r#"
query_response:
  - expect: "^220 ([^ ]+) ESMTP (.+)$"
  - send: "EHLO prober\r"
  - expect: "^250-STARTTLS"
  - send: "STARTTLS\r"
  - expect: "^220"
  - starttls: true
  - send: "EHLO prober\r"
  - expect: "^250-AUTH"
  - send: "QUIT\r"
"#;

#[tokio::test]
async fn starttls_dialogue_records_tls_metrics_after_the_upgrade() {
    let ca = TestCa::new("Test CA");
    let leaf = ca.localhost();
    let ca_file = ca.write_ca_file();
    let after_tls = Received::default();
    let server = smtp_server(&leaf, after_tls.clone());
    let block = format!(
        "{SMTP_STEPS}tls_config:\n  ca_file: {}",
        yaml_path(&ca_file)
    );
    let o = probe_tcp(&block, &server.localhost_target()).await;
    o.assert_success(true);
    assert_metric(
        &o,
        "probe_ssl_earliest_cert_expiry",
        leaf.leaf().not_after() as f64,
    );
    assert!(o.metrics.has("probe_tls_version_info"), "{}", o.dump());
    assert!(o.metrics.has("probe_ssl_last_chain_info"), "{}", o.dump());
    assert_absent(&o, &["probe_tls_cipher_info"]);
    assert_metric(&o, "probe_failed_due_to_regex", 0.0);
    // The QUIT went over TLS too; the peer records it after answering the EHLO.
    poll::until("the QUIT over TLS", Duration::from_secs(10), async || {
        if after_tls.lines().len() >= 2 {
            Ok(())
        } else {
            Err(format!("{:?}", after_tls.lines()))
        }
    })
    .await;
    assert_eq!(after_tls.lines(), vec!["EHLO prober", "QUIT"]);

    // The hostname parameter names the server for STARTTLS too.
    let server = smtp_server(&leaf, Received::default());
    let cfg = module_config(&tcp_yaml(&format!(
        "{SMTP_STEPS}tls_config:\n  ca_file: {}",
        yaml_path(&ca_file)
    )));
    let o = run_probe(
        &cfg,
        support::MODULE,
        &server.target(),
        Some("wrong.example"),
    )
    .await;
    o.assert_success(false);
    let o = run_probe(&cfg, support::MODULE, &server.target(), Some("localhost")).await;
    o.assert_success(true);

    // STARTTLS verifies against the target host: an IP target without IP SANs fails,
    // with no TLS metrics.
    let ca2 = TestCa::new("Test CA 2");
    let no_ip = ca2.localhost_without_ip();
    let ca2_file = ca2.write_ca_file();
    let server = smtp_server(&no_ip, Received::default());
    let block = format!(
        "{SMTP_STEPS}tls_config:\n  ca_file: {}",
        yaml_path(&ca2_file)
    );
    let o = probe_tcp(&block, &server.target()).await;
    o.assert_success(false);
    assert_no_tls_metrics(&o);
    assert_metric(&o, "probe_failed_due_to_regex", 0.0);
    assert!(
        o.log.contains("TLS Handshake (client) failed"),
        "{}",
        o.dump()
    );
}

/// An IRC-like peer: waits for NICK and USER, sends PING, and welcomes a client whose
/// PONG carries the token; `nick_in_use` answers 433 and closes instead.
pub(crate) fn irc_server(nick_in_use: bool) -> TcpServer {
    TcpServer::spawn(move |stream| async move {
        let mut s = BufReader::new(stream);
        if read_line(&mut s).await.as_deref() != Some("NICK prober") {
            return;
        }
        if read_line(&mut s).await.as_deref() != Some("USER prober prober prober :prober") {
            return;
        }
        if nick_in_use {
            write(
                &mut s,
                ":irc.test 433 * prober :Nickname is already in use\r\n",
            )
            .await;
            return;
        }
        write(&mut s, "NOTICE AUTH :hello\r\nPING :7f3a91\r\n").await;
        if read_line(&mut s).await.as_deref() != Some("PONG 7f3a91") {
            return;
        }
        write(&mut s, ":irc.test 001 prober :Welcome\r\n").await;
        while read_line(&mut s).await.is_some() {}
    })
}

pub(crate) const IRC_STEPS: &str = r#"
query_response:
  - send: "NICK prober"
  - send: "USER prober prober prober :prober"
  - expect: "PING :([^ ]+)"
    send: "PONG ${1}"
  - expect: "^:[^ ]+ 001"
"#;

#[tokio::test]
async fn irc_send_before_expect_and_regex_failure() {
    let server = irc_server(false);
    let o = probe_tcp(IRC_STEPS, &server.target()).await;
    o.assert_success(true);
    assert_metric(&o, "probe_failed_due_to_regex", 0.0);

    let server = irc_server(true);
    let o = probe_tcp(IRC_STEPS, &server.target()).await;
    o.assert_success(false);
    assert_metric(&o, "probe_failed_due_to_regex", 1.0);
    assert_metric(&o, "probe_failed_due_to_bytes", 0.0);
    assert!(o.log.contains("Regexp did not match"), "{}", o.dump());
}

#[tokio::test]
async fn expansion_in_send_and_probe_expect_info() {
    let received = Received::default();
    let server = banner_server("SSH-2.0-OpenSSH_6.9p1 Debian-2\r\n", received.clone());
    let o = probe_tcp(
        r#"
        query_response:
          - expect: "^SSH-2.0-([^ -]+)(?: (.*))?$"
            send: "CONFIRM ${1}"
            labels:
              - name: ssh_version
                value: "${1}"
              - name: ssh_comments
                value: "${2}"
          - send: "BYE"
        "#,
        &server.target(),
    )
    .await;
    o.assert_success(true);
    assert_eq!(
        o.value_with(
            "probe_expect_info",
            &[
                ("ssh_version", "OpenSSH_6.9p1"),
                ("ssh_comments", "Debian-2")
            ]
        ),
        1.0
    );
    assert_eq!(
        o.metrics.help.get("probe_expect_info").unwrap(),
        "Explicit content matched"
    );
    poll::until(
        "both lines from the prober",
        Duration::from_secs(10),
        async || {
            if received.lines().len() >= 2 {
                Ok(())
            } else {
                Err(format!("{:?}", received.lines()))
            }
        },
    )
    .await;
    assert_eq!(received.lines(), vec!["CONFIRM OpenSSH_6.9p1", "BYE"]);
}

#[tokio::test]
async fn label_templates() {
    let server = banner_server(
        "noise\r\nversion 1.2.3 build linux\r\n",
        Received::default(),
    );
    let o = probe_tcp(
        r#"
        query_response:
          - expect: "^version ([^ ]+) build (.+)$"
            labels:
              - name: label1
                value: "got ${1} here"
              - name: label2
                value: "${1} on ${2}"
              - name: label3
                value: "$$literal $9"
        "#,
        &server.target(),
    )
    .await;
    o.assert_success(true);
    assert_eq!(
        o.value_with(
            "probe_expect_info",
            &[
                ("label1", "got 1.2.3 here"),
                ("label2", "1.2.3 on linux"),
                ("label3", "$literal ")
            ]
        ),
        1.0
    );
}

#[tokio::test]
async fn second_labels_entry_adds_a_sample_or_is_skipped() {
    let server = banner_server("a=1\r\nb=2\r\nc=3\r\n", Received::default());
    let o = probe_tcp(
        r#"
        query_response:
          - expect: "^a=(.)"
            labels: [{name: key, value: "a${1}"}]
          - expect: "^b=(.)"
            labels: [{name: key, value: "b${1}"}]
          - expect: "^c=(.)"
            labels: [{name: other, value: "c${1}"}]
        "#,
        &server.target(),
    )
    .await;
    o.assert_success(true);
    let family = o.metrics.family("probe_expect_info");
    assert_eq!(family.len(), 2, "{}", o.dump());
    assert_eq!(o.value_with("probe_expect_info", &[("key", "a1")]), 1.0);
    assert_eq!(o.value_with("probe_expect_info", &[("key", "b2")]), 1.0);
    assert!(
        o.log.contains("already has other label names"),
        "{}",
        o.dump()
    );
}

#[tokio::test]
async fn expect_skips_lines_and_strips_carriage_returns() {
    // The last line has no newline: the scanner still returns it at EOF.
    let server = TcpServer::spawn(|mut stream| async move {
        write(&mut stream, "one\r\ntwo\r\n\r\nready\r").await;
    });
    let o = probe_tcp(
        "query_response:\n  - expect: \"^two$\"\n  - expect: \"^$\"\n  - expect: \"^ready$\"",
        &server.target(),
    )
    .await;
    o.assert_success(true);
}

#[tokio::test]
async fn server_closing_without_banner_fails_on_regex() {
    let server = TcpServer::accept_and_close();
    let o = probe_tcp(
        "query_response:\n  - expect: \"^SSH-2.0-\"",
        &server.target(),
    )
    .await;
    o.assert_success(false);
    assert_metric(&o, "probe_failed_due_to_regex", 1.0);
}

#[tokio::test]
async fn silent_server_times_out_without_the_flag() {
    let server = TcpServer::spawn(|stream| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(stream);
    });
    let o = probe_with(
        "prober: tcp\ntimeout: 1s\ntcp:\n  query_response:\n    - expect: \"^SSH-2.0-\"\n",
        &server.target(),
    )
    .await;
    o.assert_success(false);
    assert_metric(&o, "probe_failed_due_to_regex", 0.0);
    assert!(o.elapsed >= Duration::from_millis(900), "{:?}", o.elapsed);
    assert!(o.elapsed < Duration::from_secs(5), "{:?}", o.elapsed);
}

#[tokio::test]
async fn overlong_line_is_a_read_error() {
    let server = TcpServer::spawn(|mut stream| async move {
        let line = "x".repeat(70 * 1024);
        write(&mut stream, &line).await;
        write(&mut stream, "\nOK\n").await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let o = probe_tcp("query_response:\n  - expect: \"^OK\"", &server.target()).await;
    o.assert_success(false);
    assert_metric(&o, "probe_failed_due_to_regex", 0.0);
    assert!(o.log.contains("token too long"), "{}", o.dump());
}

/// Sends a text line, waits for `GO`, then sends `payload` raw.
fn bytes_server(payload: &'static [u8]) -> TcpServer {
    TcpServer::spawn(move |stream| async move {
        let mut s = BufReader::new(stream);
        write(&mut s, "HELLO\n").await;
        if read_line(&mut s).await.as_deref() != Some("GO") {
            return;
        }
        let _ = s.get_mut().write_all(payload).await;
        while read_line(&mut s).await.is_some() {}
    })
}

#[tokio::test]
async fn expect_bytes_match_mismatch_and_short_read() {
    let steps = |bytes: &str| {
        format!("query_response:\n  - expect: \"^HELLO$\"\n    send: GO\n  - expect_bytes: {bytes}")
    };
    let server = bytes_server(b"\x01\x02ok");
    let o = probe_tcp(&steps("\"\\x01\\x02ok\""), &server.target()).await;
    o.assert_success(true);
    assert_metric(&o, "probe_failed_due_to_bytes", 0.0);
    assert_metric(&o, "probe_failed_due_to_regex", 0.0);

    // The same bytes written as YAML !!binary (base64 of "\x01\x02ok").
    let o = probe_tcp(&steps("!!binary AQJvaw=="), &server.target()).await;
    o.assert_success(true);

    let o = probe_tcp(&steps("\"\\x01\\x02no\""), &server.target()).await;
    o.assert_success(false);
    assert_metric(&o, "probe_failed_due_to_bytes", 1.0);
    assert_metric(&o, "probe_failed_due_to_regex", 0.0);

    // Two bytes then close: a short read fails without the flag.
    let short = bytes_server(b"\x01\x02");
    let o = probe_tcp(&steps("\"\\x01\\x02ok\""), &short.target()).await;
    o.assert_success(false);
    assert_metric(&o, "probe_failed_due_to_bytes", 0.0);
}

#[test]
fn binary_that_is_not_utf8_is_sent_as_bytes() {
    // A dialogue step is bytes, as Go's `string` holds them: upstream's example.yml sends
    // PostgreSQL's SSLRequest this way. conformance_tcp probes a peer with it.
    let text = "modules:\n  m:\n    prober: tcp\n    tcp:\n      query_response:\n        - send: !!binary AAAACATSFi8=\n        - expect_bytes: !!binary /w==\n";
    let cfg = blackwatch::config::load_str(text, Path::new("t.yml")).expect("loads");
    let Prober::Tcp(m) = &cfg.modules["m"].prober else {
        panic!("not tcp")
    };
    assert_eq!(
        m.query_response[0].send.as_deref(),
        Some(&[0u8, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f][..])
    );
    assert_eq!(
        m.query_response[1].expect_bytes.as_deref(),
        Some(&[0xffu8][..])
    );
}

#[test]
fn binary_send_is_decoded() {
    let text = "modules:\n  m:\n    prober: tcp\n    tcp:\n      query_response:\n        - send: !!binary SEVMTw==\n";
    let cfg = blackwatch::config::load_str(text, Path::new("t.yml")).expect("loads");
    let Prober::Tcp(m) = &cfg.modules["m"].prober else {
        panic!("not tcp")
    };
    assert_eq!(m.query_response[0].send.as_deref(), Some(&b"HELO"[..]));
}

// ---------------------------------------------------------------------------
// /probe with the hostname parameter
// ---------------------------------------------------------------------------

#[tokio::test]
async fn hostname_parameter_sets_the_server_name_through_probe() {
    let ca = TestCa::new("Test CA");
    let leaf = ca.localhost_without_ip();
    let ca_file = ca.write_ca_file();
    let server = tls_server(&leaf, "");
    let d = Daemon::start(&format!(
        "modules:\n  tls:\n    prober: tcp\n    timeout: 10s\n    tcp:\n      tls: true\n      tls_config:\n        ca_file: {}\n",
        yaml_path(&ca_file)
    ))
    .await;
    let target = server.target();
    let resp = d
        .get(&format!(
            "/probe?module=tls&target={target}&hostname=localhost"
        ))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.metrics().get("probe_success"),
        Some(1.0),
        "{}",
        resp.text()
    );
    let resp = d.get(&format!("/probe?module=tls&target={target}")).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.metrics().get("probe_success"),
        Some(0.0),
        "{}",
        resp.text()
    );
}

// ---------------------------------------------------------------------------
// The shipped modules
// ---------------------------------------------------------------------------

const SHIPPED: &str = include_str!("../../modules/tcp.yml");

/// The shipped module `name`, with `ca` added to its tls_config so our test peers verify.
fn shipped_module(name: &str, ca: Option<&TestCa>) -> TcpModule {
    let cfg = blackwatch::config::load_str(SHIPPED, Path::new("modules/tcp.yml"))
        .expect("modules/tcp.yml loads");
    let module = cfg
        .modules
        .get(name)
        .unwrap_or_else(|| panic!("modules/tcp.yml has no module {name}"));
    let Prober::Tcp(m) = &module.prober else {
        panic!("{name} is not a tcp module");
    };
    let mut tls_config = m.tls_config.clone();
    if let Some(ca) = ca {
        tls_config.ca = Some(PemSource::Inline(ca.ca_pem()));
    }
    TcpModule {
        ip: m.ip,
        source_ip_address: m.source_ip_address.clone(),
        query_response: m.query_response.clone(),
        tls: m.tls,
        tls_config,
    }
}

/// Runs the tcp prober alone (no `probe_success`) with `module`.
async fn probe_module(module: &TcpModule, target: &str) -> (bool, Metrics, String) {
    support::install_crypto();
    let mut cx = ProbeCx::new("shipped", target, Duration::from_secs(10), Level::Debug);
    let ok = tokio::time::timeout(
        Duration::from_secs(20),
        probe::tcp::probe(target, module, &mut cx),
    )
    .await
    .expect("the prober honours its deadline");
    let text = cx.registry.encode_text();
    (ok, Metrics::parse(&text), cx.log.text().to_string())
}

#[tokio::test]
async fn shipped_modules_are_exactly_the_tested_ones() {
    let cfg = blackwatch::config::load_str(SHIPPED, Path::new("modules/tcp.yml"))
        .expect("modules/tcp.yml loads");
    let names: Vec<&str> = cfg.modules.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        vec![
            "imap_starttls",
            "irc_banner",
            "pop3s_banner",
            "smtp_starttls",
            "ssh_banner",
            "ssh_banner_extract",
            "tcp_connect",
            "tls_connect",
        ],
        "a new shipped tcp module needs a peer in shipped_modules_probe_their_peers"
    );
}

#[tokio::test]
async fn shipped_modules_probe_their_peers() {
    let ca = TestCa::new("Shipped CA");
    let leaf = ca.localhost();

    // tcp_connect
    let server = TcpServer::accept_and_close();
    let (ok, _, log) = probe_module(&shipped_module("tcp_connect", None), &server.target()).await;
    assert!(ok, "tcp_connect\n{log}");

    // tls_connect
    let server = tls_server(&leaf, "");
    let (ok, m, log) = probe_module(
        &shipped_module("tls_connect", Some(&ca)),
        &server.localhost_target(),
    )
    .await;
    assert!(ok, "tls_connect\n{log}");
    assert!(m.has("probe_ssl_earliest_cert_expiry"));

    // ssh_banner: the peer wants the prober's own banner back.
    let received = Received::default();
    let server = banner_server(
        "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
        received.clone(),
    );
    let (ok, _, log) = probe_module(&shipped_module("ssh_banner", None), &server.target()).await;
    assert!(ok, "ssh_banner\n{log}");
    poll::until("the prober's banner", Duration::from_secs(10), async || {
        if !received.lines().is_empty() {
            Ok(())
        } else {
            Err(format!("{:?}", received.lines()))
        }
    })
    .await;
    assert_eq!(received.lines(), vec!["SSH-2.0-blackbox-ssh-check"]);

    // ssh_banner_extract
    let (ok, m, log) = probe_module(
        &shipped_module("ssh_banner_extract", None),
        &server.target(),
    )
    .await;
    assert!(ok, "ssh_banner_extract\n{log}");
    assert_eq!(
        m.get_with(
            "probe_expect_info",
            &[
                ("ssh_version", "OpenSSH_9.2p1"),
                ("ssh_comments", "Debian-2+deb12u3")
            ]
        ),
        Some(1.0),
        "{}",
        m.text()
    );

    // smtp_starttls
    let after_tls = Received::default();
    let server = smtp_server(&leaf, after_tls.clone());
    let (ok, m, log) = probe_module(
        &shipped_module("smtp_starttls", Some(&ca)),
        &server.localhost_target(),
    )
    .await;
    assert!(ok, "smtp_starttls\n{log}");
    assert!(m.has("probe_tls_version_info"), "{}", m.text());

    // imap_starttls
    let server = imap_server(&leaf);
    let (ok, m, log) = probe_module(
        &shipped_module("imap_starttls", Some(&ca)),
        &server.localhost_target(),
    )
    .await;
    assert!(ok, "imap_starttls\n{log}");
    assert!(m.has("probe_ssl_last_chain_info"), "{}", m.text());

    // pop3s_banner
    let server = tls_server(&leaf, "+OK POP3 server ready\r\n");
    let (ok, _, log) = probe_module(
        &shipped_module("pop3s_banner", Some(&ca)),
        &server.localhost_target(),
    )
    .await;
    assert!(ok, "pop3s_banner\n{log}");
    // The greeting must really be checked: "OK" without the "+" does not pass.
    let server = tls_server_closing(&leaf, "OK POP3 server ready\r\n", true);
    let (ok, _, log) = probe_module(
        &shipped_module("pop3s_banner", Some(&ca)),
        &server.localhost_target(),
    )
    .await;
    assert!(!ok, "pop3s_banner must want +OK\n{log}");

    // irc_banner
    let server = irc_server(false);
    let (ok, _, log) = probe_module(&shipped_module("irc_banner", None), &server.target()).await;
    assert!(ok, "irc_banner\n{log}");
}

/// An IMAP peer announcing STARTTLS, upgrading on `. STARTTLS` and answering
/// `. capability` over TLS.
pub(crate) fn imap_server(identity: &ServerCert) -> TcpServer {
    let acceptor = TlsAcceptor::from(server_config(identity, &TlsOptions::default().no_alpn()));
    TcpServer::spawn(move |stream: TcpStream| {
        let acceptor = acceptor.clone();
        async move {
            let mut s = BufReader::new(stream);
            write(
                &mut s,
                "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n",
            )
            .await;
            if read_line(&mut s).await.as_deref() != Some(". STARTTLS") {
                return;
            }
            write(&mut s, ". OK Begin TLS negotiation now\r\n").await;
            let Ok(tls) = acceptor.accept(s.into_inner()).await else {
                return;
            };
            let mut t = BufReader::new(tls);
            if read_line(&mut t).await.as_deref() != Some(". capability") {
                return;
            }
            write(
                &mut t,
                "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n. OK CAPABILITY completed\r\n",
            )
            .await;
            while read_line(&mut t).await.is_some() {}
        }
    })
}

#[test]
fn upstream_pop3_regex_never_matches_a_greeting() {
    // Why modules/tcp.yml escapes the "+": upstream's "^+OK" repeats the anchor.
    let upstream = regex::bytes::Regex::new("^+OK").unwrap();
    assert!(!upstream.is_match(b"+OK POP3 server ready"));
}
