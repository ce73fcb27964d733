//! The http prober through proxies and with OAuth2, against real peers on loopback.
//!
//! [`proxied_probes_match_blackbox_exporter`] is differential, like `conformance.rs`: every
//! scenario's module goes into one config file read by the real blackbox_exporter 0.23 and
//! by blackwatch, the same target is probed through both, and the `/probe` outputs (series,
//! values, HELP/TYPE, order; timings for plausibility) and the requests the target
//! received are compared. The peers are Debian's tinyproxy (a real forward proxy requiring
//! basic auth: plain http forwarded, https through CONNECT), microsocks (a real SOCKS5
//! proxy with username/password), a TLS front that makes tinyproxy an `https://` proxy,
//! and an in-test OAuth2 token endpoint. 0.23 (prometheus/common 0.37) has `proxy_url`,
//! `skip_resolve_phase_with_proxy` and `oauth2` (with its own `tls_config` and
//! `proxy_url`), so those are compared.
//!
//! 0.23 lacks `no_proxy`, `proxy_from_environment` and `proxy_connect_header` (newer
//! prometheus/common). The other tests check blackwatch alone against upstream's behaviour
//! as its sources have it: httpproxy's rules (a `no_proxy` list, loopback and `localhost`
//! never proxied once it is set, the decision made on the URL the request goes to — the
//! chosen IP unless `skip_resolve_phase_with_proxy`), Go's `ProxyConnectHeader` (on the
//! CONNECT only; the proxy URL's credentials win), blackbox master's
//! `shouldResolveDNSWithProxy` (`TestSkipResolvePhase`: skipping also with
//! `proxy_from_environment`), and the token cache (blackwatch keeps a module's token until
//! it expires; upstream builds a client per probe and so fetches one per probe — the one
//! deliberate difference, checked on both sides below).

use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tempfile::TempPath;
use tokio::net::TcpStream;

use crate::conformance::compare::{Deliberate, Difference, Outcome, Suite};
use crate::conformance::daemons::Daemon;
use crate::conformance::expo::Exposition;
use crate::conformance::report::{module_context, Outputs, Report};
use crate::conformance::yaml::{config_yaml, module_yaml, yaml_path};
use crate::support::certs::write_temp_file;
use crate::support::mitm::MitmProxy;
use crate::support::tcp::TcpServer;
use crate::support::tinyproxy::{Tinyproxy, PROXY_PASSWORD, PROXY_USER};
use crate::support::tls::{server_config, TlsOptions};
use crate::support::yaml::module_config;
use crate::support::{poll, run_probe, HttpServer, TestCa, TestRequest, TestResponse};

// ---------------------------------------------------------------------------
// Peers
// ---------------------------------------------------------------------------

const SOCKS_USER: &str = "sam";
const SOCKS_PASSWORD: &str = "s0cks-pw";
const CLIENT_ID: &str = "probe-client";
const CLIENT_SECRET: &str = "cl1ent-s3cret";
/// What the token endpoint hands out in the differential scenarios (one value, so the
/// target sees the same request from both exporters).
const TOKEN: &str = "probe-t0ken";

/// microsocks on 127.0.0.1, username/password required.
struct Microsocks {
    child: Child,
    port: u16,
}

impl Microsocks {
    async fn start() -> Self {
        let bin = ["/usr/bin/microsocks", "/usr/sbin/microsocks"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or_else(|| {
                panic!("the SOCKS5 tests need microsocks: apt-get install -y microsocks (.ci/run installs it)")
            });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-u", SOCKS_USER, "-P", SOCKS_PASSWORD])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        poll::until(
            "microsocks to listen",
            Duration::from_secs(10),
            async || {
                TcpStream::connect(("127.0.0.1", port))
                    .await
                    .map_err(|e| e.to_string())
            },
        )
        .await;
        Microsocks { child, port }
    }

    fn url(&self) -> String {
        format!(
            "socks5://{SOCKS_USER}:{SOCKS_PASSWORD}@127.0.0.1:{}",
            self.port
        )
    }
}

impl Drop for Microsocks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TLS front for `localhost` that forwards the decrypted bytes to `upstream`: with
/// tinyproxy behind it, an `https://` proxy. HTTP/1.1 only, as a forward proxy speaks.
fn tls_front(ca: &TestCa, upstream: std::net::SocketAddr) -> TcpServer {
    let config = server_config(&ca.localhost(), &TlsOptions::default().http11_only());
    TcpServer::spawn_tls(config, move |mut tls| async move {
        if let Ok(mut up) = TcpStream::connect(upstream).await {
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
        }
    })
}

/// A client-credentials token endpoint: credentials in the Basic header (x/oauth2's first
/// try), the grant type and scopes checked; hands out [`TOKEN`] (or `tok-<n>` when
/// `numbered`) valid for `expires_in` seconds, else 401.
struct TokenEndpoint {
    server: HttpServer,
    requests: Arc<Mutex<Vec<TestRequest>>>,
}

impl TokenEndpoint {
    fn start(expires_in: u64, numbered: bool) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let rec = requests.clone();
        let issued = Arc::new(AtomicUsize::new(0));
        let server = HttpServer::plain(move |req: &TestRequest| {
            rec.lock().unwrap().push(req.clone());
            let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
                .into_owned()
                .collect();
            let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            let basic = format!(
                "Basic {}",
                base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    format!("{CLIENT_ID}:{CLIENT_SECRET}")
                )
            );
            let ok = req.method == http::Method::POST
                && req.path() == "/token"
                && req.header("authorization") == Some(basic.as_str())
                && get("grant_type") == Some("client_credentials")
                && get("scope") == Some("probe read");
            if !ok {
                return TestResponse::text(401, r#"{"error":"invalid_client"}"#);
            }
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            let token = if numbered {
                format!("tok-{n}")
            } else {
                TOKEN.to_string()
            };
            TestResponse::new(200)
                .with_header("content-type", "application/json")
                .with_body(format!(
                    r#"{{"access_token":"{token}","token_type":"bearer","expires_in":{expires_in}}}"#
                ))
        });
        TokenEndpoint { server, requests }
    }

    fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// The `oauth2:` block (at column 0) for this endpoint, with `secret` and `extra` lines.
    fn block(&self, secret: &str, extra: &str) -> String {
        format!(
            "oauth2:\n  client_id: {CLIENT_ID}\n  client_secret: {secret}\n  token_url: http://{}/token\n  scopes: [probe, read]\n{extra}",
            self.server.addr()
        )
    }
}

/// A target that answers 200 to `Authorization: Bearer <token>` and 401 otherwise.
fn bearer_target() -> HttpServer {
    HttpServer::plain(|req: &TestRequest| match req.header("authorization") {
        Some(a) if a.starts_with("Bearer ") => TestResponse::ok(),
        _ => TestResponse::text(401, "no token"),
    })
}

// ---------------------------------------------------------------------------
// The differential suite
// ---------------------------------------------------------------------------

const DELIBERATE_DIFFERENCES: &[Deliberate] = &[
    Deliberate {
        what: Difference::OnlyInBlackwatch("probe_timeout_seconds"),
        since: "master (#1571, after 0.28.0)",
        reason: "blackwatch follows upstream master, which reports the effective probe timeout \
                 on every probe; 0.23 has no such metric.",
    },
    Deliberate {
        what: Difference::OnlyInBlackwatch("probe_tls_cipher_info"),
        since: "0.26",
        reason: "the negotiated cipher suite is reported by HTTP probes over TLS since 0.26; the \
                 tunnelled https targets here are such probes.",
    },
    Deliberate {
        what: Difference::ExtraLabel {
            metric: "probe_ssl_last_chain_info",
            label: "serialnumber",
        },
        since: "0.26",
        reason: "the leaf certificate's serial number label was added in 0.26; 0.23 only has \
                 fingerprint_sha256, issuer, subject and subjectalternative.",
    },
    Deliberate {
        what: Difference::RequestHeader("user-agent"),
        since: "0.28 (name); blackwatch's own version",
        reason: "the default User-Agent names the exporter and its version (see conformance.rs); \
                 tinyproxy forwards it unchanged.",
    },
];

static SUITE: Suite = Suite {
    name: "http via proxies and OAuth2",
    table: DELIBERATE_DIFFERENCES,
    timing_metrics: &[
        "probe_duration_seconds",
        "probe_dns_lookup_time_seconds",
        "probe_http_duration_seconds",
    ],
    timeout_slack: 0.25,
    every_entry_used: false,
};

const TIMEOUT: f64 = 5.0;

struct Scenario {
    name: &'static str,
    target: String,
    /// The `http:` block at column 0 (`preferred_ip_protocol: ip4` is added).
    http: String,
    expect_success: bool,
    /// Servers whose received requests are compared.
    servers: Vec<Arc<HttpServer>>,
}

impl Scenario {
    fn new(name: &'static str, target: String, http: String, expect_success: bool) -> Self {
        Self {
            name,
            target,
            http: format!("preferred_ip_protocol: ip4\n{http}"),
            expect_success,
            servers: Vec::new(),
        }
    }

    fn server(mut self, s: &Arc<HttpServer>) -> Self {
        self.servers.push(Arc::clone(s));
        self
    }

    fn module_yaml(&self) -> String {
        module_yaml("http", TIMEOUT, &self.http)
    }

    fn take_requests(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.servers {
            for r in s.requests() {
                let mut names: Vec<&str> = r
                    .headers
                    .keys()
                    .map(http::HeaderName::as_str)
                    .filter(|n| *n != "user-agent")
                    .collect();
                names.sort_unstable();
                names.dedup();
                let headers: Vec<String> = names
                    .iter()
                    .map(|n| format!("{n}: {}", r.header_all(n).join(" | ")))
                    .collect();
                out.push(format!(
                    "{} {} {:?} tls={} [{}]",
                    r.method,
                    r.path_and_query(),
                    r.version,
                    r.is_tls(),
                    headers.join("; ")
                ));
            }
            s.clear_requests();
        }
        out
    }
}

fn compare_outputs(s: &Scenario, bbe: &Exposition, bw_full: &Exposition) -> Outcome {
    let mut out = Outcome::default();
    out.expect_reference_success(bbe, s.expect_success);
    out.expect_timeout_metric(bw_full, TIMEOUT);
    let mut bw = bw_full.clone();
    SUITE.normalise(&mut bw, &mut out);
    SUITE.compare_series(bbe, &bw, TIMEOUT, &mut out);
    out
}

#[test]
fn deliberate_differences_are_documented() {
    SUITE.assert_documented();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxied_probes_match_blackbox_exporter() {
    let tiny = Tinyproxy::start().await;
    let socks = Microsocks::start().await;
    let ca = TestCa::new("proxy probe CA");
    let ca_file: TempPath = ca.write_ca_file();
    let ca_yaml = yaml_path(&ca_file);
    let front = tls_front(&ca, ([127, 0, 0, 1], tiny.port()).into());
    let https_proxy = format!(
        "https://{PROXY_USER}:{PROXY_PASSWORD}@localhost:{}",
        front.port()
    );
    let plain = Arc::new(HttpServer::plain(|_: &TestRequest| {
        TestResponse::ok().with_body("through")
    }));
    let tls = Arc::new(HttpServer::tls(&ca.localhost(), |_: &TestRequest| {
        TestResponse::ok().with_body("tunnelled")
    }));
    let token = TokenEndpoint::start(3600, false);
    let bearer = Arc::new(bearer_target());

    let with_auth = tiny.url(true);
    let no_auth = tiny.url(false);
    let tls_cfg = format!("tls_config:\n  ca_file: {ca_yaml}\n");
    let scenarios = vec![
        Scenario::new(
            "http_via_proxy",
            plain.url("/p?q=1"),
            format!("proxy_url: {with_auth}\n"),
            true,
        )
        .server(&plain),
        Scenario::new(
            "https_via_connect",
            tls.localhost_url("/t"),
            format!("proxy_url: {with_auth}\n{tls_cfg}"),
            true,
        )
        .server(&tls),
        Scenario::new(
            "http_proxy_auth_missing",
            plain.url("/"),
            format!("proxy_url: {no_auth}\n"),
            false,
        )
        .server(&plain),
        Scenario::new(
            "https_proxy_auth_missing",
            tls.localhost_url("/"),
            format!("proxy_url: {no_auth}\n{tls_cfg}"),
            false,
        )
        .server(&tls),
        Scenario::new(
            "http_host_header_via_proxy",
            plain.url("/h"),
            format!(
                "proxy_url: {with_auth}\nheaders:\n  Host: localhost:{}\n",
                plain.port()
            ),
            true,
        )
        .server(&plain),
        Scenario::new(
            "skip_resolve_http",
            plain.localhost_url("/s"),
            format!("proxy_url: {with_auth}\nskip_resolve_phase_with_proxy: true\n"),
            true,
        )
        .server(&plain),
        Scenario::new(
            "skip_resolve_https",
            tls.localhost_url("/s"),
            format!("proxy_url: {with_auth}\nskip_resolve_phase_with_proxy: true\n{tls_cfg}"),
            true,
        )
        .server(&tls),
        Scenario::new(
            "socks5_http",
            plain.url("/socks"),
            format!("proxy_url: {}\n", socks.url()),
            true,
        )
        .server(&plain),
        Scenario::new(
            "socks5_https",
            tls.localhost_url("/socks"),
            format!("proxy_url: {}\n{tls_cfg}", socks.url()),
            true,
        )
        .server(&tls),
        Scenario::new(
            "socks5_skip_resolve",
            plain.localhost_url("/socks"),
            format!(
                "proxy_url: {}\nskip_resolve_phase_with_proxy: true\n",
                socks.url()
            ),
            true,
        )
        .server(&plain),
        Scenario::new(
            "socks5_bad_password",
            plain.url("/"),
            format!(
                "proxy_url: socks5://{SOCKS_USER}:nope@127.0.0.1:{}\n",
                socks.port
            ),
            false,
        )
        .server(&plain),
        Scenario::new(
            "https_proxy_http_target",
            plain.localhost_url("/hp"),
            format!("proxy_url: {https_proxy}\n{tls_cfg}"),
            true,
        )
        .server(&plain),
        Scenario::new(
            "https_proxy_https_target",
            tls.localhost_url("/hp"),
            format!("proxy_url: {https_proxy}\n{tls_cfg}"),
            true,
        )
        .server(&tls),
        Scenario::new(
            "oauth2_bearer",
            bearer.url("/api"),
            token.block(CLIENT_SECRET, ""),
            true,
        )
        .server(&bearer),
        Scenario::new(
            "oauth2_token_refused",
            bearer.url("/api"),
            token.block("wr0ng-s3cret", ""),
            false,
        )
        .server(&bearer),
        Scenario::new(
            "oauth2_token_via_proxy",
            bearer.url("/api"),
            token.block(CLIENT_SECRET, &format!("  proxy_url: {with_auth}\n")),
            true,
        )
        .server(&bearer),
        Scenario::new(
            "oauth2_and_target_via_proxy",
            bearer.url("/api"),
            format!(
                "proxy_url: {with_auth}\n{}",
                token.block(CLIENT_SECRET, &format!("  proxy_url: {with_auth}\n"))
            ),
            true,
        )
        .server(&bearer),
    ];
    SUITE.assert_scenario_names(scenarios.iter().map(|s| s.name));

    let config = write_temp_file(
        config_yaml(scenarios.iter().map(|s| (s.name, s.module_yaml()))).as_bytes(),
        ".yml",
    );
    let blackbox = Daemon::blackbox(&config).await;
    let blackwatch = Daemon::blackwatch(&config).await;

    let mut report = Report::new(&SUITE);
    let mut token_requests = Vec::new();
    for s in &scenarios {
        s.take_requests();
        let tiny_before = tiny.requests().len();
        let tokens_before = token.count();
        let bbe = blackbox.probe(s.name, &s.target, &[]).await;
        let tokens_between = token.count();
        let bbe_requests = s.take_requests();
        let bbe_proxy: Vec<String> = tiny.requests().split_off(tiny_before);
        let tiny_between = tiny.requests().len();
        let bw = blackwatch.probe(s.name, &s.target, &[]).await;
        let bw_requests = s.take_requests();
        let bw_proxy: Vec<String> = tiny.requests().split_off(tiny_between);
        token_requests.push((
            s.name,
            tokens_between - tokens_before,
            token.count() - tokens_between,
        ));
        let outputs = Outputs { bbe, bw };
        let mut outcome = outputs.compare(|bbe, bw| compare_outputs(s, bbe, bw));
        if bbe_requests != bw_requests {
            outcome.failures.push(format!(
                "requests received by the target differ:\n  blackbox_exporter:\n    {}\n  blackwatch:\n    {}",
                bbe_requests.join("\n    "),
                bw_requests.join("\n    ")
            ));
        }
        // The same request lines reached tinyproxy (`GET http://host/…`, `CONNECT a:p`).
        if bbe_proxy != bw_proxy {
            outcome.failures.push(format!(
                "requests tinyproxy handled differ:\n  blackbox_exporter: {bbe_proxy:?}\n  blackwatch:        {bw_proxy:?}"
            ));
        }
        let context = module_context(&s.module_yaml(), &s.target);
        report.add(s.name, "", outcome, &context, &outputs);
    }
    report.finish("", &blackbox, &blackwatch);
    // Token requests per scenario (0.23, blackwatch): the first probe of a module fetches
    // on both sides. A refused token request is tried with the credentials in the header,
    // then in the form (x/oauth2's auto-detection) — by blackwatch and by current upstream,
    // whose x/oauth2 keeps the style that worked per token source; 0.23's x/oauth2 kept it
    // process-wide per token URL, and `oauth2_bearer` had already found the header style
    // to work for this URL, so 0.23 asks once.
    token_requests.retain(|(_, a, b)| a + b > 0);
    assert_eq!(
        token_requests,
        [
            ("oauth2_bearer", 1, 1),
            ("oauth2_token_refused", 1, 2),
            ("oauth2_token_via_proxy", 1, 1),
            ("oauth2_and_target_via_proxy", 1, 1),
        ]
    );
}

// ---------------------------------------------------------------------------
// blackwatch alone: what 0.23 does not have
// ---------------------------------------------------------------------------

/// Runs `http_block` (at column 0, `preferred_ip_protocol: ip4` added) on `target`
/// in-process.
async fn probe(http_block: &str, target: &str) -> crate::support::Outcome {
    let module = format!(
        "prober: http\ntimeout: 5s\nhttp:\n{}",
        crate::support::yaml::indent(&format!("preferred_ip_protocol: ip4\n{http_block}"), 2)
    );
    crate::support::probe_with(&module, target).await
}

/// `no_proxy` as httpproxy decides it: on the URL's host (the chosen IP, or the name with
/// `skip_resolve_phase_with_proxy`), `localhost` and loopback never proxied once a
/// `no_proxy` is set, while `proxy_url` alone proxies everything.
#[tokio::test]
async fn no_proxy_bypasses_the_proxy_as_httpproxy_decides() {
    let server = HttpServer::plain(|_: &TestRequest| TestResponse::ok());
    let proxy = MitmProxy::start(server.addr());
    let port = server.port();
    let name_target = format!("http://probe.localhost:{port}/n");

    // A name not in the list goes to the proxy, unresolved.
    let out = probe(
        &format!(
            "proxy_url: {}\nno_proxy: other.test,10.0.0.0/8\nskip_resolve_phase_with_proxy: true\n",
            proxy.url()
        ),
        &name_target,
    )
    .await;
    out.assert_success(true);
    assert_eq!(proxy.targets(), std::slice::from_ref(&name_target));
    assert!(!out.metrics.has("probe_ip_protocol"), "{}", out.dump());
    assert!(!out.metrics.has("probe_dns_lookup_time_seconds"));
    assert!(
        out.metrics
            .get_with("probe_http_duration_seconds", &[("phase", "resolve")])
            .is_none(),
        "{}",
        out.dump()
    );

    // A listed domain goes direct (the name is resolved by the dialer then, trying each
    // address: probe.localhost is ::1 and 127.0.0.1, the server listens on the latter).
    let out = probe(
        &format!(
            "proxy_url: {}\nno_proxy: localhost\nskip_resolve_phase_with_proxy: true\n",
            proxy.url()
        ),
        &name_target,
    )
    .await;
    out.assert_success(true);
    assert_eq!(proxy.targets().len(), 1, "{:?}", proxy.targets());

    // Without the skip the decision is on the chosen IP: loopback, never proxied once
    // no_proxy is set...
    let out = probe(
        &format!("proxy_url: {}\nno_proxy: other.test\n", proxy.url()),
        &name_target,
    )
    .await;
    out.assert_success(true);
    assert_eq!(proxy.targets().len(), 1);
    assert_eq!(out.value("probe_ip_protocol"), 4.0);
    // ...while proxy_url alone (Go's http.ProxyURL) proxies it, the IP in the URL and the
    // Host header's name in the absolute-form request line.
    let out = probe(&format!("proxy_url: {}\n", proxy.url()), &name_target).await;
    out.assert_success(true);
    assert_eq!(proxy.targets()[1], name_target);
    assert_eq!(server.requests().len(), 4);
}

/// `proxy_connect_header` reaches the proxy on the CONNECT only, and the proxy URL's
/// credentials replace a configured `Proxy-Authorization` (Go's `Header.Set`); neither
/// reaches the target.
#[tokio::test]
async fn proxy_connect_header_goes_on_the_connect_only() {
    let upstream = HttpServer::plain(|_: &TestRequest| TestResponse::ok());
    let proxy = MitmProxy::start(upstream.addr());
    let ca = yaml_path(proxy.ca_file());
    let target = "https://api.localhost/x";
    let with_creds = proxy.url().replace("http://", "http://u:p%40ss@");
    let out = probe(
        &format!(
            "proxy_url: {with_creds}\nskip_resolve_phase_with_proxy: true\nproxy_connect_header:\n  X-Tenant: [blue, green]\n  Proxy-Authorization: [Basic configured]\ntls_config:\n  ca_file: {ca}\n"
        ),
        target,
    )
    .await;
    out.assert_success(true);
    let heads = proxy.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    let head = &heads[0];
    assert!(
        head.starts_with("CONNECT api.localhost:443 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.contains("\r\nx-tenant: blue\r\nx-tenant: green\r\n"),
        "{head}"
    );
    // base64("u:p@ss")
    assert!(
        head.contains("Proxy-Authorization: Basic dTpwQHNz\r\n"),
        "{head}"
    );
    assert!(!head.contains("configured"), "{head}");
    let seen = upstream.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("x-tenant"), None);
    assert_eq!(seen[0].header("proxy-authorization"), None);
    assert_eq!(seen[0].host().as_deref(), Some("api.localhost"));
    assert!(
        !out.log.contains("p%40ss") && !out.log.contains("dTpwQHNz"),
        "{}",
        out.log
    );

    // With a real proxy: tinyproxy accepts the CONNECT only with the header's credentials.
    let tiny = Tinyproxy::start().await;
    let test_ca = TestCa::new("connect header CA");
    let ca_file = test_ca.write_ca_file();
    let tls = HttpServer::tls(&test_ca.localhost(), |_: &TestRequest| TestResponse::ok());
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{PROXY_USER}:{PROXY_PASSWORD}"),
    );
    let block = |header: &str| {
        format!(
            "proxy_url: {}\n{header}tls_config:\n  ca_file: {}\n",
            tiny.url(false),
            yaml_path(&ca_file)
        )
    };
    let with = block(&format!(
        "proxy_connect_header:\n  Proxy-Authorization: ['Basic {basic}']\n"
    ));
    probe(&with, &tls.localhost_url("/"))
        .await
        .assert_success(true);
    let out = probe(&block(""), &tls.localhost_url("/")).await;
    out.assert_success(false);
    assert!(
        out.log.contains("Proxy Authentication Required"),
        "{}",
        out.log
    );
    assert_eq!(tls.requests().len(), 1);
}

/// `proxy_from_environment` reads `HTTP_PROXY`/`NO_PROXY` at load (the daemon's own
/// environment), and with `skip_resolve_phase_with_proxy` skips the resolve phase (blackbox
/// master's `TestSkipResolvePhase`: "With Proxy env with skipping resolve").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_from_environment_is_read_at_load() {
    let server = Arc::new(HttpServer::plain(|_: &TestRequest| TestResponse::ok()));
    let proxy = MitmProxy::start(server.addr());
    let module = |skip: bool| {
        module_yaml(
            "http",
            TIMEOUT,
            &format!(
                "preferred_ip_protocol: ip4\nproxy_from_environment: true\nskip_resolve_phase_with_proxy: {skip}\n"
            ),
        )
    };
    let config = write_temp_file(
        config_yaml([("env_skip", module(true)), ("env_resolve", module(false))]).as_bytes(),
        ".yml",
    );
    let proxy_url = proxy.url();
    let daemon = Daemon::blackwatch_with_env(
        &config,
        &[
            ("HTTP_PROXY", proxy_url.as_str()),
            ("NO_PROXY", "skip.localhost"),
        ],
    )
    .await;
    let target = format!("http://probe.localhost:{}/e", server.port());
    let text = daemon.probe("env_skip", &target, &[]).await.unwrap();
    assert!(text.contains("probe_success 1"), "{text}\n{}", daemon.log());
    assert!(!text.contains("probe_ip_protocol"), "{text}");
    assert!(!text.contains("phase=\"resolve\""), "{text}");
    assert_eq!(proxy.targets(), std::slice::from_ref(&target));

    // NO_PROXY applies; and without the skip the target resolves to loopback here,
    // which httpproxy never proxies.
    let skipped = format!("http://skip.localhost:{}/e", server.port());
    let text = daemon.probe("env_skip", &skipped, &[]).await.unwrap();
    assert!(text.contains("probe_success 1"), "{text}");
    let text = daemon.probe("env_resolve", &target, &[]).await.unwrap();
    assert!(text.contains("probe_success 1"), "{text}");
    assert!(text.contains("probe_ip_protocol 4"), "{text}");
    assert_eq!(proxy.targets().len(), 1, "{:?}", proxy.targets());
    assert_eq!(server.requests().len(), 3);
}

/// The module's token is fetched once, reused by later probes, refetched once expired
/// (x/oauth2 treats it as expired 10 s early: a 5 s token is stale at once), sent as
/// `Bearer`, and neither secret nor token appears in the probe log; a refused token
/// request fails the probe with upstream's sentence.
#[tokio::test]
async fn oauth2_token_is_cached_per_module_until_it_expires() {
    let target = bearer_target();
    for (expires_in, want) in [
        (3600, ["Bearer tok-1", "Bearer tok-1"]),
        (5, ["Bearer tok-1", "Bearer tok-2"]),
    ] {
        target.clear_requests();
        let token = TokenEndpoint::start(expires_in, true);
        let cfg = module_config(&format!(
            "prober: http\nhttp:\n  preferred_ip_protocol: ip4\n{}",
            crate::support::yaml::indent(&token.block(CLIENT_SECRET, ""), 2)
        ));
        for _ in 0..2 {
            let out = run_probe(&cfg, crate::support::yaml::MODULE, &target.url("/"), None).await;
            out.assert_success(true);
            assert!(
                !out.log.contains(CLIENT_SECRET) && !out.log.contains("tok-"),
                "{}",
                out.log
            );
        }
        let auth: Vec<String> = target
            .requests()
            .iter()
            .map(|r| r.header("authorization").unwrap_or_default().to_string())
            .collect();
        assert_eq!(auth, want, "expires_in {expires_in}");
        let ua = token.requests.lock().unwrap()[0]
            .header("user-agent")
            .unwrap_or_default()
            .to_string();
        assert!(ua.starts_with("Blackbox-Exporter/blackwatch-"), "{ua}");
    }

    let token = TokenEndpoint::start(3600, true);
    let out = probe(&token.block("wr0ng-s3cret", ""), &target.url("/")).await;
    out.assert_success(false);
    assert!(
        out.log.contains("Error for HTTP request")
            && out.log.contains("oauth2: cannot fetch token: 401"),
        "{}",
        out.log
    );
    assert!(!out.log.contains("wr0ng-s3cret"), "{}", out.log);
}
