//! `--web.config.file` end to end on loopback: TLS with rcgen certificates, client-certificate
//! policies, basic auth (accepted, wrong password, unknown user, no header), the security
//! headers on every route, reload of the file and of the certificate without a restart, a
//! bad file stopping the binary with file:line:col, and the real Prometheus 2.42 scraping
//! `/metrics` through TLS and basic auth.
//!
//! prometheus comes from the Debian package `prometheus`; that test fails (does not skip)
//! when the binary is missing. Nothing leaves loopback.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::support::certs::{LeafSpec, ServerCert, TestCa};
use crate::support::prometheus::Prometheus;
use crate::support::{install_crypto, poll};

const BIN: &str = env!("CARGO_BIN_EXE_blackwatch");

const MODULES: &str = "modules:\n  http_2xx:\n    prober: http\n    timeout: 2s\n";

/// bcrypt at the lowest cost keeps the tests fast; the cost is part of the hash.
fn hash(password: &str) -> String {
    bcrypt::hash(password, 4).expect("bcrypt hash")
}

/// An in-process blackwatch served through `run_with_web`, with its web config, certificate
/// and key in a temp dir the test may rewrite.
struct WebDaemon {
    addr: SocketAddr,
    dir: tempfile::TempDir,
    token: CancellationToken,
}

impl WebDaemon {
    async fn start(web_yaml: &str, files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (daemon, web) =
            crate::support::daemon::state_with_web(dir.path(), MODULES, Some((web_yaml, files)));
        let web = web.expect("a web config was given");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let token = daemon.shutdown_token().clone();
        let server = daemon.serve(
            listener,
            blackwatch::server::ServerOptions {
                web: Some(web),
                ..Default::default()
            },
        );
        tokio::spawn(async move {
            if let Ok(Err(e)) = server.await {
                eprintln!("test server stopped: {e}");
            }
        });
        Self { addr, dir, token }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, content: &str) {
        std::fs::write(self.path(name), content).expect("rewrite file");
    }

    fn https(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }
}

impl Drop for WebDaemon {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// A fresh client (no pooled connection) trusting `ca`, presenting `identity` if given.
fn client(ca: &TestCa, identity: Option<&ServerCert>, addr: SocketAddr) -> reqwest::Client {
    install_crypto();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert().der().clone()).expect("add CA");
    let b = rustls::ClientConfig::builder().with_root_certificates(roots);
    let cfg = match identity {
        Some(id) => b
            .with_client_auth_cert(id.chain_der(), id.key_der())
            .expect("client cert"),
        None => b.with_no_client_auth(),
    };
    reqwest::Client::builder()
        .use_preconfigured_tls(cfg)
        .resolve("localhost", addr)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn get(
    c: &reqwest::Client,
    url: &str,
    auth: Option<(&str, &str)>,
) -> Result<Resp, reqwest::Error> {
    let mut rb = c.get(url);
    if let Some((u, p)) = auth {
        rb = rb.basic_auth(u, Some(p));
    }
    let r = rb.send().await?;
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.text().await?;
    Ok(Resp {
        status,
        headers,
        body,
    })
}

fn tls_files(leaf: &ServerCert) -> Vec<(&'static str, String)> {
    vec![("cert.pem", leaf.chain_pem()), ("key.pem", leaf.key_pem())]
}

fn as_refs<'a>(files: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    files.iter().map(|(n, c)| (*n, c.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_basic_auth_and_security_headers_on_every_route() {
    let ca = TestCa::new("websec CA");
    let leaf = ca.localhost();
    let files = tls_files(&leaf);
    let web = format!(
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n\
         http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n    \
         Strict-Transport-Security: max-age=31536000\n    Content-Security-Policy: default-src 'self'\n\
         basic_auth_users:\n  alice: '{}'\n  bob: '{}'\n",
        hash("wonderland"),
        hash("builder")
    );
    let d = WebDaemon::start(&web, &as_refs(&files)).await;
    let c = client(&ca, None, d.addr);

    for path in [
        "/metrics",
        "/probe?target=127.0.0.1:1&module=http_2xx",
        "/api/v2/status",
        "/-/healthy",
        "/",
        "/config",
    ] {
        // Accepted.
        let ok = get(&c, &d.https(path), Some(("alice", "wonderland")))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        // /api/v2 answers 503 without an `alerting:` section: the handler ran, auth passed.
        let want = if path.starts_with("/api/v2") {
            503
        } else {
            200
        };
        assert_eq!(ok.status, want, "{path}: {}", ok.body);
        assert_eq!(
            ok.headers
                .get("x-frame-options")
                .and_then(|v| v.to_str().ok()),
            Some("deny"),
            "{path}"
        );
        assert_eq!(
            ok.headers
                .get("x-content-type-options")
                .and_then(|v| v.to_str().ok()),
            Some("nosniff")
        );
        assert_eq!(
            ok.headers
                .get("strict-transport-security")
                .and_then(|v| v.to_str().ok()),
            Some("max-age=31536000")
        );
        assert_eq!(
            ok.headers
                .get("content-security-policy")
                .and_then(|v| v.to_str().ok()),
            Some("default-src 'self'")
        );
        // Refused: wrong password, unknown user, another user's password, no header.
        for auth in [
            Some(("alice", "wrong")),
            Some(("mallory", "wonderland")),
            Some(("alice", "builder")),
            None,
        ] {
            let r = get(&c, &d.https(path), auth).await.expect("request");
            assert_eq!(r.status, 401, "{path} {auth:?}");
            assert_eq!(
                r.headers
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok()),
                Some("Basic"),
                "{path} {auth:?}"
            );
            assert_eq!(
                r.headers
                    .get("x-frame-options")
                    .and_then(|v| v.to_str().ok()),
                Some("deny"),
                "headers are set on the 401 too"
            );
            assert!(!r.body.contains("probe_success"), "{}", r.body);
        }
    }
    let bob = get(&c, &d.https("/metrics"), Some(("bob", "builder")))
        .await
        .expect("bob");
    assert_eq!(bob.status, 200);
    assert!(bob.body.contains("blackwatch_"), "{}", bob.body);

    // Plain HTTP on the TLS port gets no page.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/metrics", d.addr.port()))
        .basic_auth("alice", Some("wonderland"))
        .timeout(Duration::from_secs(15))
        .send()
        .await;
    assert!(
        plain.as_ref().map_or(true, |r| r.status().as_u16() != 200),
        "{plain:?}"
    );
    // A client that does not trust the CA fails the handshake.
    let other = TestCa::new("other CA");
    assert!(
        get(&client(&other, None, d.addr), &d.https("/metrics"), None)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_without_tls_and_reload_keeps_old_on_error() {
    let web = format!("basic_auth_users:\n  alice: '{}'\n", hash("one"));
    let d = WebDaemon::start(&web, &[]).await;
    let url = format!("http://127.0.0.1:{}/metrics", d.addr.port());
    let fresh = || reqwest::Client::builder().pool_max_idle_per_host(0).build();
    let status = |auth: Option<(&'static str, &'static str)>| {
        let url = url.clone();
        let c = fresh().expect("client");
        async move {
            let mut rb = c.get(&url);
            if let Some((u, p)) = auth {
                rb = rb.basic_auth(u, Some(p));
            }
            rb.send().await.expect("request").status().as_u16()
        }
    };
    assert_eq!(status(Some(("alice", "one"))).await, 200);
    assert_eq!(status(None).await, 401);

    // A new password is picked up on the next connection, without a restart.
    d.write(
        "web.yml",
        &format!("basic_auth_users:\n  alice: '{}'\n", hash("two")),
    );
    assert_eq!(status(Some(("alice", "two"))).await, 200);
    assert_eq!(status(Some(("alice", "one"))).await, 401);

    // A broken file keeps the previous config.
    d.write("web.yml", "basic_auth_users:\n  alice: not-a-hash\n");
    assert_eq!(status(Some(("alice", "two"))).await, 200);
    assert_eq!(status(Some(("alice", "one"))).await, 401);
    d.write("web.yml", "bogus_field: 1\n");
    assert_eq!(status(Some(("alice", "two"))).await, 200);

    // Removing every user opens the server again.
    d.write("web.yml", "http_server_config:\n  http2: false\n");
    assert_eq!(status(None).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_rotation_without_restart() {
    let ca1 = TestCa::new("first CA");
    let ca2 = TestCa::new("second CA");
    let leaf1 = ca1.localhost();
    let files = tls_files(&leaf1);
    let d = WebDaemon::start(
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n",
        &as_refs(&files),
    )
    .await;
    let s = get(&client(&ca1, None, d.addr), &d.https("/-/healthy"), None)
        .await
        .expect("first cert");
    assert_eq!(s.status, 200);

    let leaf2 = ca2.localhost();
    // A key that does not match the certificate is refused; the old pair stays.
    d.write("cert.pem", &leaf2.chain_pem());
    assert!(
        get(&client(&ca1, None, d.addr), &d.https("/-/healthy"), None)
            .await
            .is_ok()
    );
    d.write("key.pem", &leaf2.key_pem());
    let s = get(&client(&ca2, None, d.addr), &d.https("/-/healthy"), None)
        .await
        .expect("rotated cert");
    assert_eq!(s.status, 200);
    assert!(
        get(&client(&ca1, None, d.addr), &d.https("/-/healthy"), None)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_policies() {
    let ca = TestCa::new("server CA");
    let client_ca = TestCa::new("client CA");
    let stranger_ca = TestCa::new("stranger CA");
    let leaf = ca.localhost();
    let good = client_ca.issue(&LeafSpec::dns(&["prometheus"]));
    let stranger = stranger_ca.issue(&LeafSpec::dns(&["mallory"]));
    let mut files = tls_files(&leaf);
    files.push(("client_ca.pem", client_ca.ca_pem()));

    let cases: &[(&str, [bool; 3])] = &[
        // policy → accepted for (no cert, cert from the client CA, cert from another CA)
        ("RequireAndVerifyClientCert", [false, true, false]),
        ("VerifyClientCertIfGiven", [true, true, false]),
        ("RequireAnyClientCert", [false, true, true]),
        ("RequestClientCert", [true, true, true]),
        ("NoClientCert", [true, true, true]),
    ];
    for (policy, want) in cases {
        let ca_line = if matches!(*policy, "NoClientCert") {
            String::new()
        } else {
            "  client_ca_file: client_ca.pem\n".to_string()
        };
        let web = format!(
            "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  client_auth_type: {policy}\n{ca_line}"
        );
        let d = WebDaemon::start(&web, &as_refs(&files)).await;
        let identities: [Option<&ServerCert>; 3] = [None, Some(&good), Some(&stranger)];
        for (identity, want) in identities.iter().zip(want) {
            let r = get(&client(&ca, *identity, d.addr), &d.https("/metrics"), None).await;
            let ok = matches!(&r, Ok(r) if r.status == 200);
            assert_eq!(
                ok,
                *want,
                "{policy} with {:?}: {:?}",
                identity.map(|i| i.leaf().common_name().to_string()),
                r.map(|r| r.status)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_allowed_sans_and_http2_switch() {
    let ca = TestCa::new("server CA");
    let client_ca = TestCa::new("client CA");
    let leaf = ca.localhost();
    let allowed = client_ca.issue(&LeafSpec::dns(&["prometheus.monitoring"]));
    let other = client_ca.issue(&LeafSpec::dns(&["grafana.monitoring"]));
    let mut files = tls_files(&leaf);
    files.push(("client_ca.pem", client_ca.ca_pem()));
    let web = "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client_ca.pem\n  client_allowed_sans: [prometheus.monitoring, 10.0.0.1]\n";
    let d = WebDaemon::start(web, &as_refs(&files)).await;
    let ok = get(
        &client(&ca, Some(&allowed), d.addr),
        &d.https("/metrics"),
        None,
    )
    .await;
    assert!(
        matches!(&ok, Ok(r) if r.status == 200),
        "{:?}",
        ok.map(|r| r.status)
    );
    let refused = get(
        &client(&ca, Some(&other), d.addr),
        &d.https("/metrics"),
        None,
    )
    .await;
    assert!(refused.is_err(), "a client without an allowed SAN got in");

    // http2 (the default) is offered by ALPN; `http2: false` serves HTTP/1.1 only.
    for (http2, want) in [
        (true, reqwest::Version::HTTP_2),
        (false, reqwest::Version::HTTP_11),
    ] {
        let files = tls_files(&leaf);
        let web = format!(
            "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nhttp_server_config:\n  http2: {http2}\n"
        );
        let d = WebDaemon::start(&web, &as_refs(&files)).await;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.cert().der().clone()).expect("add CA");
        let mut cfg = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let c = reqwest::Client::builder()
            .use_preconfigured_tls(cfg)
            .resolve("localhost", d.addr)
            .build()
            .expect("client");
        let r = c.get(d.https("/-/healthy")).send().await.expect("request");
        assert_eq!(r.version(), want, "http2: {http2}");
    }
}

#[test]
fn bad_web_config_stops_the_binary_with_a_position() {
    let dir = tempfile::tempdir().expect("temp dir");
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: missing.pem\n  key_file: missing.key\n  min_version: TLS11\n",
    )
    .expect("write");
    let out = std::process::Command::new(BIN)
        .arg(format!("--web.config.file={}", web.display()))
        .arg("--web.listen-address=127.0.0.1:0")
        .output()
        .expect("run blackwatch");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let file = web.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{file}:2:14: tls_server_config.cert_file: failed to read cert_file"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{file}:4:16: tls_server_config.min_version: TLS11 is not supported"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("listening on"), "{stderr}");
}

// ---------------------------------------------------------------------------
// The real Prometheus scraping through TLS and basic auth
// ---------------------------------------------------------------------------

/// Starts Prometheus with the given `scrape_configs:` entries, scraping every second.
fn start_prometheus(scrape_config: &str) -> Prometheus {
    Prometheus::start(
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{scrape_config}"
        ),
        &[],
        &[],
    )
}

/// `up` per job, once every job in `jobs` has a sample.
async fn wait_up(prom: &mut Prometheus, jobs: &[&str]) -> BTreeMap<String, String> {
    let c = reqwest::Client::new();
    let mut last = String::new();
    let what = format!("`up` for {jobs:?}");
    poll::until(&what, Duration::from_secs(30), async || {
        prom.assert_running();
        let url = format!("http://{}/api/v1/query?query=up", prom.addr);
        if let Ok(r) = c.get(&url).timeout(Duration::from_secs(5)).send().await {
            if let Ok(body) = r.text().await {
                if let Ok(q) = serde_json::from_str::<QueryResponse>(&body) {
                    let got: BTreeMap<String, String> = q
                        .data
                        .map(|d| d.result)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|s| (s.metric.get("job").cloned().unwrap_or_default(), s.value.1))
                        .collect();
                    if jobs.iter().all(|j| got.contains_key(*j)) {
                        return Ok(got);
                    }
                }
                last = body;
            }
        }
        Err(format!("last: {last}\n--- log ---\n{}", prom.log()))
    })
    .await
}

#[derive(Debug, Deserialize)]
struct QueryResponse {
    #[serde(default)]
    data: Option<QueryData>,
}

#[derive(Debug, Deserialize)]
struct QueryData {
    result: Vec<QuerySample>,
}

#[derive(Debug, Deserialize)]
struct QuerySample {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

fn scrape_job(name: &str, addr: SocketAddr, ca_file: &Path, password: &str) -> String {
    format!(
        "  - job_name: {name}\n    scheme: https\n    tls_config:\n      ca_file: {}\n      server_name: localhost\n    \
         basic_auth:\n      username: prometheus\n      password: {password}\n    \
         static_configs:\n      - targets: ['{addr}']\n",
        ca_file.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_through_tls_and_basic_auth() {
    let ca = TestCa::new("prometheus-facing CA");
    let leaf = ca.localhost();
    let mut files = tls_files(&leaf);
    files.push(("ca.pem", ca.ca_pem()));
    let web = format!(
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  min_version: TLS12\n\
         basic_auth_users:\n  prometheus: '{}'\n",
        hash("scrape-secret")
    );
    let d = WebDaemon::start(&web, &as_refs(&files)).await;
    let ca_file = d.path("ca.pem");
    let jobs = format!(
        "{}{}",
        scrape_job("blackwatch", d.addr, &ca_file, "scrape-secret"),
        scrape_job("wrong-password", d.addr, &ca_file, "guess")
    );
    let mut prom = start_prometheus(&jobs);
    wait_up(&mut prom, &["blackwatch", "wrong-password"]).await;
    // The right credentials scrape; the wrong ones are refused (up 0 on a 401).
    let what = "up{job=\"blackwatch\"} to become 1";
    let up = poll::until(what, Duration::from_secs(20), async || {
        let up = wait_up(&mut prom, &["blackwatch", "wrong-password"]).await;
        if up.get("blackwatch").map(String::as_str) == Some("1") {
            Ok(up)
        } else {
            Err(format!("{up:?}\n{}", prom.log()))
        }
    })
    .await;
    assert_eq!(
        up.get("wrong-password").map(String::as_str),
        Some("0"),
        "{up:?}"
    );
}

// ---------------------------------------------------------------------------
// probe_policy through /probe
// ---------------------------------------------------------------------------

mod policy {
    use crate::support::Daemon;
    use crate::support::{handlers, poll, HttpServer, TestResponse};

    const MODULES: &str = "modules:\n  http_2xx:\n    prober: http\n    timeout: 3s\n    http:\n      preferred_ip_protocol: ip4\n  nofollow:\n    prober: http\n    timeout: 3s\n    http:\n      preferred_ip_protocol: ip4\n      follow_redirects: false\n  tcp_connect:\n    prober: tcp\n    timeout: 3s\n    tcp:\n      preferred_ip_protocol: ip4\n  icmp:\n    prober: icmp\n    timeout: 3s\n";

    fn enc(s: &str) -> String {
        url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
    }

    /// (module, target, want status, want probe_success, refusal reason)
    type Case = (&'static str, String, u16, Option<f64>, Option<&'static str>);

    async fn refused_total(d: &Daemon, reason: &str) -> f64 {
        d.self_metrics()
            .await
            .get_with("blackwatch_probe_refused_total", &[("reason", reason)])
            .unwrap_or(0.0)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn allow_list_table() {
        let a = HttpServer::plain(handlers::ok());
        let b = HttpServer::plain(handlers::ok());
        let (pa, pb) = (a.port(), b.port());
        // Redirects from A to B (a port no rule allows).
        let redirect =
            HttpServer::plain(handlers::always(TestResponse::redirect(302, &b.url("/"))));
        let pr = redirect.port();
        let d = Daemon::start(&format!(
            "{MODULES}probe_policy:\n  allow_targets:\n    - hosts: [localhost]\n      ports: [{pa}, {pr}]\n    \
             - cidrs: ['127.0.0.0/8']\n      ports: [{pa}]\n    \
             - hosts: ['*.example.invalid']\n      cidrs: ['10.0.0.0/8']\n    \
             - hosts: [localhost]\n      cidrs: ['10.0.0.0/8']\n      ports: [{pb}]\n"
        ))
        .await;

        // (module, target, want status, want probe_success, refusal reason)
        let cases: Vec<Case> = vec![
            (
                "http_2xx",
                format!("http://localhost:{pa}/"),
                200,
                Some(1.0),
                None,
            ),
            ("http_2xx", format!("localhost:{pa}"), 200, Some(1.0), None),
            (
                "http_2xx",
                format!("http://127.0.0.1:{pa}/"),
                200,
                Some(1.0),
                None,
            ),
            (
                "http_2xx",
                format!("http://127.0.0.1:{pb}/"),
                403,
                None,
                Some("target"),
            ),
            (
                "http_2xx",
                format!("http://other.test:{pb}/"),
                403,
                None,
                Some("target"),
            ),
            (
                "http_2xx",
                format!("http://[::1]:{pa}/"),
                403,
                None,
                Some("target"),
            ),
            (
                "tcp_connect",
                format!("127.0.0.1:{pa}"),
                200,
                Some(1.0),
                None,
            ),
            (
                "tcp_connect",
                format!("127.0.0.1:{pb}"),
                403,
                None,
                Some("target"),
            ),
            (
                "tcp_connect",
                format!("localhost:{pb}"),
                403,
                None,
                Some("address"),
            ),
            ("icmp", "127.0.0.1".to_string(), 403, None, Some("target")),
            (
                "http_2xx",
                format!("http://localhost:{pb}/"),
                403,
                None,
                Some("address"),
            ),
            // http follows redirects by default: the hop to B is refused.
            (
                "http_2xx",
                format!("http://localhost:{pr}/"),
                403,
                None,
                Some("address"),
            ),
            // Not following, the 302 itself is the (failed) result.
            (
                "nofollow",
                format!("http://localhost:{pr}/"),
                200,
                Some(0.0),
                None,
            ),
        ];
        for (module, target, status, success, reason) in &cases {
            let before = match reason {
                Some(r) => refused_total(&d, r).await,
                None => 0.0,
            };
            let r = d
                .get(&format!("/probe?module={module}&target={}", enc(target)))
                .await;
            assert_eq!(r.status, *status, "{module} {target}: {}", r.text());
            if let Some(s) = success {
                assert_eq!(r.metrics().value("probe_success"), *s, "{module} {target}");
            }
            if let Some(reason) = reason {
                assert!(r.text().contains("probe_policy"), "{}", r.text());
                assert_eq!(
                    refused_total(&d, reason).await,
                    before + 1.0,
                    "{module} {target}: counter for {reason}"
                );
            }
        }
        // B was never connected to: not directly (address refused after resolution) and
        // not through the redirect.
        assert_eq!(b.request_count(), 0);
        assert!(a.request_count() >= 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn adhoc_switch_off_refuses_everything_but_scheduled_probes_run() {
        let a = HttpServer::plain(handlers::ok());
        let url = a.url("/");
        let d = Daemon::start(&format!(
            "{MODULES}probe_policy:\n  allow_adhoc: false\nprobes:\n  - job: web\n    module: http_2xx\n    interval: 1s\n    targets: ['{url}']\n"
        ))
        .await;
        let r = d
            .get(&format!("/probe?module=http_2xx&target={}", enc(&url)))
            .await;
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(
            r.text().contains("ad-hoc probes are disabled"),
            "{}",
            r.text()
        );
        assert_eq!(refused_total(&d, "adhoc_disabled").await, 1.0);
        // The scheduled job is trusted: it probes A and reports success.
        let wait = std::time::Duration::from_secs(15);
        poll::until("a scheduled result", wait, async || {
            let m = d.self_metrics().await;
            let ok = m
                .family("probe_success")
                .iter()
                .any(|s| s.labels.get("job").map(String::as_str) == Some("web") && s.value == 1.0);
            if ok {
                Ok(())
            } else {
                Err(format!("/metrics:\n{}", m.text()))
            }
        })
        .await;
    }
}
