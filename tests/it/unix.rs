//! The unix prober against real unix-socket listeners in a temporary directory: upstream's
//! `prober/unix_test.go` (`TestUnixConnection`, `TestUnixConnectionFails`), example.yml's
//! `unix_socket_ping` dialogue, and the tcp dialogue's features over a unix stream (regex and
//! byte flags, labels, TLS from the first byte, STARTTLS with upstream's server-name rules),
//! an abstract socket, and the absence of resolution metrics. blackbox_exporter 0.23 has no
//! unix prober, so nothing here is differential.

use std::future::Future;
use std::path::PathBuf;

use tokio::io::{AsyncReadExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_rustls::TlsAcceptor;

use crate::support::tls::server_config;
use crate::support::{self, probe_with, Outcome, ServerCert, TestCa, TlsOptions};
use crate::tcp::{read_line, write};

const TLS_METRICS: [&str; 4] = [
    "probe_ssl_earliest_cert_expiry",
    "probe_ssl_last_chain_expiry_timestamp_seconds",
    "probe_ssl_last_chain_info",
    "probe_tls_version_info",
];

/// A unix-socket listener running `handler` per connection; removed with its directory.
struct UnixServer {
    path: PathBuf,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for UnixServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl UnixServer {
    fn spawn<F, Fut>(handler: F) -> Self
    where
        F: Fn(UnixStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("probe.sock");
        let listener = UnixListener::bind(&path).expect("bind unix socket");
        Self {
            path,
            _dir: dir,
            task: serve(listener, handler),
        }
    }

    fn target(&self) -> String {
        self.path.display().to_string()
    }
}

fn serve<F, Fut>(listener: UnixListener, handler: F) -> tokio::task::JoinHandle<()>
where
    F: Fn(UnixStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handler(stream));
        }
    })
}

/// A unix module with a 5 s timeout and the given `unix:` block (YAML at column 0).
fn unix_yaml(block: &str) -> String {
    let block = support::dedent(block);
    if block.trim().is_empty() {
        "prober: unix\ntimeout: 5s\n".to_string()
    } else {
        format!(
            "prober: unix\ntimeout: 5s\nunix:\n{}",
            support::indent(&block, 2)
        )
    }
}

async fn probe_unix(block: &str, target: &str) -> Outcome {
    probe_with(&unix_yaml(block), target).await
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

/// A PING/PONG peer (example.yml's `unix_socket_ping`): answers `PONG` to `PING`, else `ERR`.
fn ping_server() -> UnixServer {
    UnixServer::spawn(|stream| async move {
        let mut s = BufReader::new(stream);
        while let Some(line) = read_line(&mut s).await {
            let answer = if line == "PING" { "PONG\n" } else { "ERR\n" };
            write(&mut s, answer).await;
        }
    })
}

#[tokio::test]
async fn connection_succeeds_without_resolution_metrics() {
    // Upstream's TestUnixConnection: the peer accepts and closes.
    let server = UnixServer::spawn(|stream| async move { drop(stream) });
    let o = probe_unix("", &server.target()).await;
    o.assert_success(true);
    assert_metric(&o, "probe_failed_due_to_regex", 0.0);
    assert_metric(&o, "probe_failed_due_to_bytes", 0.0);
    assert_absent(
        &o,
        &[
            "probe_ip_protocol",
            "probe_ip_addr_hash",
            "probe_dns_lookup_time_seconds",
        ],
    );
    assert_absent(&o, &TLS_METRICS);
}

#[tokio::test]
async fn missing_socket_fails_with_gos_message() {
    // Upstream's TestUnixConnectionFails.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("absent.sock").display().to_string();
    let o = probe_unix("", &path).await;
    o.assert_success(false);
    assert!(
        o.log.contains(&format!(
            "dial unix {path}: connect: no such file or directory"
        )),
        "{}",
        o.dump()
    );
    assert!(o.log.contains("Error dialing unix"), "{}", o.dump());
    // The flags are registered only once connected.
    assert_absent(
        &o,
        &["probe_failed_due_to_regex", "probe_failed_due_to_bytes"],
    );

    // A path that is not a socket.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").expect("write");
    let o = probe_unix("", &file.display().to_string()).await;
    o.assert_success(false);
    assert!(
        o.log.contains("connect: connection refused"),
        "{}",
        o.dump()
    );
}

#[tokio::test]
async fn ping_pong_dialogue_and_regex_failure() {
    let server = ping_server();
    let ok = r#"
query_response:
  - send: "PING"
  - expect: "PONG"
"#;
    let o = probe_unix(ok, &server.target()).await;
    o.assert_success(true);
    assert_metric(&o, "probe_failed_due_to_regex", 0.0);

    let bad = r#"
query_response:
  - send: "HELLO"
  - expect: "PONG"
"#;
    // The peer answers ERR and keeps the connection open: the expect reads until the
    // deadline, a read error, so the regex flag stays 0 (upstream's scanner error path).
    let o = probe_unix(bad, &server.target()).await;
    o.assert_success(false);
    assert_metric(&o, "probe_failed_due_to_regex", 0.0);

    // A peer that closes after a non-matching line: EOF without a match sets the flag.
    let closing = UnixServer::spawn(|stream| async move {
        let mut s = BufReader::new(stream);
        let _ = read_line(&mut s).await;
        write(&mut s, "ERR\n").await;
    });
    let o = probe_unix(bad, &closing.target()).await;
    o.assert_success(false);
    assert_metric(&o, "probe_failed_due_to_regex", 1.0);
    assert!(o.log.contains("Regexp did not match"), "{}", o.dump());
}

#[tokio::test]
async fn expansion_labels_and_expect_bytes() {
    let server = UnixServer::spawn(|stream| async move {
        let mut s = BufReader::new(stream);
        write(&mut s, "VERSION 7.2 ready\n").await;
        if read_line(&mut s).await.as_deref() == Some("USE 7.2") {
            write(&mut s, "OK").await;
        }
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest).await;
    });
    let block = r#"
query_response:
  - expect: "^VERSION ([0-9.]+)"
    send: "USE ${1}"
    labels:
      - name: version
        value: "${1}"
  - expect_bytes: "OK"
"#;
    let o = probe_unix(block, &server.target()).await;
    o.assert_success(true);
    assert_eq!(
        o.value_with("probe_expect_info", &[("version", "7.2")]),
        1.0,
        "{}",
        o.dump()
    );
    assert_metric(&o, "probe_failed_due_to_bytes", 0.0);

    let o = probe_unix(&block.replace("\"OK\"", "\"NO\""), &server.target()).await;
    o.assert_success(false);
    assert_metric(&o, "probe_failed_due_to_bytes", 1.0);
}

/// A TLS peer on a unix socket: greets with `HELLO` after the handshake.
fn tls_unix_server(identity: &ServerCert) -> UnixServer {
    let acceptor = TlsAcceptor::from(server_config(identity, &TlsOptions::default().no_alpn()));
    UnixServer::spawn(move |stream| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let mut s = BufReader::new(tls);
            write(&mut s, "HELLO\n").await;
            while read_line(&mut s).await.is_some() {}
        }
    })
}

#[tokio::test]
async fn tls_dial_needs_a_server_name_or_insecure_skip_verify() {
    let ca = TestCa::new("Unix CA");
    let leaf = ca.localhost();
    let ca_file = ca.write_ca_file();
    let server = tls_unix_server(&leaf);
    let ca_yaml = format!("{:?}", ca_file.display().to_string());

    let named = format!(
        "tls: true\ntls_config:\n  ca_file: {ca_yaml}\n  server_name: localhost\nquery_response:\n  - expect: HELLO\n"
    );
    let o = probe_unix(&named, &server.target()).await;
    o.assert_success(true);
    assert_metric(
        &o,
        "probe_ssl_earliest_cert_expiry",
        leaf.leaf().not_after() as f64,
    );
    assert!(o.metrics.has("probe_tls_version_info"), "{}", o.dump());
    assert!(o.metrics.has("probe_ssl_last_chain_info"), "{}", o.dump());
    assert_absent(&o, &["probe_tls_cipher_info"]);

    // Without server_name Go verifies the socket path, which no certificate names.
    let unnamed = format!("tls: true\ntls_config:\n  ca_file: {ca_yaml}\n");
    let o = probe_unix(&unnamed, &server.target()).await;
    o.assert_success(false);
    assert_absent(&o, &TLS_METRICS);
    assert!(o.log.contains("Error dialing unix"), "{}", o.dump());

    // With insecure_skip_verify it connects (no SNI), and no chain was verified.
    let insecure = "tls: true\ntls_config:\n  insecure_skip_verify: true\nquery_response:\n  - expect: HELLO\n";
    let o = probe_unix(insecure, &server.target()).await;
    o.assert_success(true);
    assert_metric(
        &o,
        "probe_ssl_last_chain_expiry_timestamp_seconds",
        -62_135_596_800.0,
    );

    // A wrong server name fails verification.
    let wrong = named.replace("server_name: localhost", "server_name: other.example");
    let o = probe_unix(&wrong, &server.target()).await;
    o.assert_success(false);
    assert_absent(&o, &TLS_METRICS);
}

#[tokio::test]
async fn starttls_has_no_default_server_name() {
    let ca = TestCa::new("Unix CA");
    let leaf = ca.localhost();
    let ca_file = ca.write_ca_file();
    let acceptor = TlsAcceptor::from(server_config(&leaf, &TlsOptions::default().no_alpn()));
    let server = UnixServer::spawn(move |stream| {
        let acceptor = acceptor.clone();
        async move {
            let mut s = BufReader::new(stream);
            write(&mut s, "220 ready\n").await;
            if read_line(&mut s).await.as_deref() != Some("STARTTLS") {
                return;
            }
            write(&mut s, "220 go ahead\n").await;
            let Ok(tls) = acceptor.accept(s.into_inner()).await else {
                return;
            };
            let mut t = BufReader::new(tls);
            write(&mut t, "250 secure\n").await;
            while read_line(&mut t).await.is_some() {}
        }
    });
    let steps = "query_response:\n  - expect: \"^220 ready\"\n  - send: STARTTLS\n  - expect: \"^220 go\"\n  - starttls: true\n  - expect: \"^250 secure\"\n";
    let ca_yaml = format!("{:?}", ca_file.display().to_string());

    let o = probe_unix(
        &format!("{steps}tls_config:\n  ca_file: {ca_yaml}\n  server_name: localhost\n"),
        &server.target(),
    )
    .await;
    o.assert_success(true);
    assert!(o.metrics.has("probe_tls_version_info"), "{}", o.dump());

    let o = probe_unix(
        &format!("{steps}tls_config:\n  ca_file: {ca_yaml}\n"),
        &server.target(),
    )
    .await;
    o.assert_success(false);
    assert!(
        o.log
            .contains("tls: either ServerName or InsecureSkipVerify must be specified"),
        "{}",
        o.dump()
    );
    assert_absent(&o, &TLS_METRICS);
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn abstract_socket_names_start_with_at() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("blackwatch-test-{}", std::process::id());
    let addr =
        std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract name");
    let std_listener = std::os::unix::net::UnixListener::bind_addr(&addr).expect("bind");
    std_listener.set_nonblocking(true).expect("nonblocking");
    let listener = UnixListener::from_std(std_listener).expect("tokio listener");
    let task = serve(listener, |stream| async move {
        let mut s = BufReader::new(stream);
        write(&mut s, "abstract hello\n").await;
        while read_line(&mut s).await.is_some() {}
    });
    let o = probe_unix("query_response:\n  - expect: abstract", &format!("@{name}")).await;
    task.abort();
    o.assert_success(true);
}
