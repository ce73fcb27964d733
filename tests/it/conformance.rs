//! Conformance against the real blackbox_exporter.
//!
//! [`http_probes_match_blackbox_exporter`] runs every HTTP scenario of
//! [`scenarios`] through both the installed blackbox_exporter (Debian
//! `prometheus-blackbox-exporter` 0.23.0) and blackwatch: same loopback targets,
//! same config file (one module per scenario, written in blackbox's format to a
//! temporary file and read by both daemons). For every scenario it compares:
//!
//! * the `/probe` outputs, parsed into (metric name, sorted label set) → value:
//!   the same series must be present, with the same values written the same way
//!   (Go `%g` formatting), the same `# HELP`/`# TYPE` lines, in the same order.
//!   Timing metrics ([`TIMING_METRICS`]) only have to be present in both and
//!   plausible (finite, ≥ 0, below the module timeout) and zero in both or in
//!   neither;
//! * the requests the target server received from each (method, path, HTTP
//!   version, headers, body).
//!
//! Everything not listed in [`DELIBERATE_DIFFERENCES`] must match. That table only
//! holds version differences: blackwatch implements blackbox_exporter master
//! (0.28+), while the reference binary is 0.23. Any other difference fails the
//! test; it is a blackwatch bug (or a scenario bug) to be fixed, never to be
//! added to the table.
//!
//! The suite **fails** (it does not skip) when blackbox_exporter or promtool is not
//! installed. `BLACKBOX_EXPORTER_BIN` and `PROMTOOL_BIN` override the binaries.
//!
//! Run with `cargo test --test it conformance -- --nocapture` to see the per-scenario
//! report.
//!
//! The comparison ([`compare`]: table types, series-by-series check), the report
//! ([`report`]), the config file ([`yaml`]) and the daemons ([`daemons`]) are shared
//! with the tcp, icmp and dns suites (`conformance_tcp.rs`, ...).

pub(crate) mod compare;
pub(crate) mod daemons;
pub(crate) mod expo;
pub(crate) mod report;
pub(crate) mod yaml;

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tempfile::TempPath;
use tokio::io::AsyncWriteExt;

use crate::support::certs::write_temp_file;
use crate::support::http::large_body;
use crate::support::{
    handlers, self_signed_localhost, Encoding, HttpServer, LeafSpec, OlderRootChain, TestCa,
    TestRequest, TestResponse, TlsOptions, Validity,
};
use compare::{Deliberate, Difference, Outcome, Suite};
use daemons::Daemon;
use expo::Exposition;
use report::{module_context, Outputs, Report};
use yaml::{config_yaml, module_yaml, yaml_path};

// ---------------------------------------------------------------------------
// The deliberate-difference table
// ---------------------------------------------------------------------------

/// Every difference the comparison tolerates, each with its reason. Only version
/// differences (behaviour of blackbox_exporter master/0.28 that 0.23 does not
/// have, per the reference's [master]/[0.26+]/[0.28+] marks) belong here.
pub const DELIBERATE_DIFFERENCES: &[Deliberate] = &[
    Deliberate {
        what: Difference::OnlyInBlackwatch("probe_timeout_seconds"),
        since: "master (#1571, after 0.28.0)",
        reason: "blackwatch follows upstream master, which reports the effective probe timeout \
                 on every probe; 0.23 has no such metric. The suite checks its value equals \
                 the module timeout.",
    },
    Deliberate {
        what: Difference::OnlyInBlackwatch("probe_tls_cipher_info"),
        since: "0.26",
        reason: "the negotiated cipher suite is reported by HTTP probes over TLS since 0.26. The \
                 suite checks it is present exactly when the response came over TLS.",
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
        reason: "the default User-Agent names the exporter and its version: 0.23 sends \
                 `Blackbox Exporter/0.23.0`, 0.28+ `Blackbox-Exporter/<version>`, blackwatch \
                 `Blackbox-Exporter/blackwatch-<version>`. A configured User-Agent is sent \
                 as-is by both (checked by the custom_headers scenario).",
    },
    Deliberate {
        what: Difference::Scenario("scheme_uppercase"),
        since: "master (#1137)",
        reason: "master accepts the URL scheme in any letter case (`HTTP://host/`); 0.23 checks \
                 the prefix case-sensitively, prepends `http://` and probes the nonsense URL \
                 `http://HTTP://...`, which fails.",
    },
    Deliberate {
        what: Difference::NotExercised("tls_config.min_version: TLS10/TLS11"),
        since: "n/a (rustls)",
        reason: "blackwatch is built on rustls, which has no TLS 1.0/1.1; Go still offers them \
                 with min_version TLS10. The loopback test servers are rustls too, so no \
                 scenario can show the difference.",
    },
];

/// Metrics whose values depend on timing: compared for presence and plausibility only.
pub const TIMING_METRICS: &[&str] = &[
    "probe_duration_seconds",
    "probe_dns_lookup_time_seconds",
    "probe_http_duration_seconds",
];

/// Module timeout of every scenario except the explicit timeout one.
const DEFAULT_TIMEOUT: f64 = 5.0;

static SUITE: Suite = Suite {
    name: "http",
    table: DELIBERATE_DIFFERENCES,
    timing_metrics: TIMING_METRICS,
    timeout_slack: 0.25,
    every_entry_used: false,
};

fn ignored_request_headers() -> Vec<&'static str> {
    DELIBERATE_DIFFERENCES
        .iter()
        .filter_map(|d| match d.what {
            Difference::RequestHeader(h) => Some(h),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

/// One probe run through both exporters.
struct Scenario {
    /// Also the module name.
    name: &'static str,
    target: String,
    /// Extra `/probe` query parameters (e.g. `hostname`).
    params: Vec<(&'static str, String)>,
    /// The `http:` block of the module (YAML at column 0), if any.
    http: Option<String>,
    /// Module timeout in seconds.
    timeout: f64,
    /// What blackbox_exporter reports (checks the scenario itself is set up right).
    expect_success: bool,
    /// Servers whose received requests are compared.
    servers: Vec<Arc<HttpServer>>,
}

impl Scenario {
    fn new(name: &'static str, target: impl Into<String>, expect_success: bool) -> Self {
        Self {
            name,
            target: target.into(),
            params: Vec::new(),
            http: None,
            timeout: DEFAULT_TIMEOUT,
            expect_success,
            servers: Vec::new(),
        }
    }

    /// Sets the `http:` block; `preferred_ip_protocol: ip4` is added unless given.
    fn http(mut self, block: &str) -> Self {
        let mut text = String::new();
        if !block.contains("preferred_ip_protocol") {
            text.push_str("preferred_ip_protocol: ip4\n");
        }
        text.push_str(block);
        if !text.ends_with('\n') {
            text.push('\n');
        }
        self.http = Some(text);
        self
    }

    fn server(mut self, server: &Arc<HttpServer>) -> Self {
        self.servers.push(Arc::clone(server));
        self
    }

    fn param(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.params.push((name, value.into()));
        self
    }

    fn timeout(mut self, seconds: f64) -> Self {
        self.timeout = seconds;
        self
    }

    /// The module in blackbox's YAML format, at column 0.
    fn module_yaml(&self) -> String {
        module_yaml(
            "http",
            self.timeout,
            self.http.as_deref().unwrap_or_default(),
        )
    }
}

/// Things that must outlive the scenarios (temporary CA files).
struct Fixtures {
    _files: Vec<TempPath>,
}

fn plain(
    handler: impl Fn(&TestRequest) -> TestResponse + Send + Sync + 'static,
) -> Arc<HttpServer> {
    Arc::new(HttpServer::plain(handler))
}

const BODY: &str = "hello world 12345\n";
const LAST_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";

/// A 200 with a known body and headers for the regex, header and SSL scenarios.
fn body_response() -> TestResponse {
    TestResponse::text(200, BODY)
        .with_header("x-foo", "bar")
        .with_header("set-cookie", "a=1")
        .with_header("set-cookie", "b=2")
        .with_header("x-empty", "")
        .with_header("last-modified", LAST_MODIFIED)
}

/// `/redirect/N`, `/loop/N` (see `handlers::redirects`) plus a cookie round trip:
/// `/cookie/set` sets a cookie and redirects to `/cookie/check`, which answers 200
/// only when the cookie comes back.
fn redirect_handler(req: &TestRequest) -> TestResponse {
    match req.path() {
        "/cookie/set" => TestResponse::redirect(302, "/cookie/check")
            .with_header("set-cookie", "session=conformance; Path=/"),
        "/cookie/check" => {
            if req.header("cookie") == Some("session=conformance") {
                TestResponse::text(200, "cookie ok")
            } else {
                TestResponse::text(403, "no cookie")
            }
        }
        _ => handlers::redirects()(req),
    }
}

/// Auth and header checks: 200 when the request carries what the path expects.
fn checking_handler(req: &TestRequest) -> TestResponse {
    let ok = match req.path() {
        "/basic" => req.header("authorization") == Some("Basic dXNlcjpwYXNz"),
        "/bearer" => req.header("authorization") == Some("Bearer s3cret"),
        "/custom" => {
            req.header("x-custom") == Some("yes")
                && req.header("accept-language") == Some("de")
                && req.header("user-agent") == Some("conformance/1")
        }
        "/host" => req.host().as_deref() == Some("example.test"),
        "/post" => req.method == http::Method::POST,
        "/lowercase" => req.method.as_str() == "post",
        "/head" => req.method == http::Method::HEAD,
        _ => false,
    };
    match (ok, req.path()) {
        (true, "/post") => TestResponse::text(200, req.body.clone()),
        (true, _) => TestResponse::text(200, "ok"),
        (false, "/basic" | "/bearer") => TestResponse::text(401, "unauthorized"),
        (false, _) => TestResponse::text(400, "bad request"),
    }
}

fn compression_routes() -> impl Fn(&TestRequest) -> TestResponse + Send + Sync + 'static {
    let text = large_body(300);
    handlers::routes(vec![
        (
            "/gzip",
            TestResponse::ok()
                .with_body(text.clone())
                .encoded(Encoding::Gzip),
        ),
        (
            "/deflate",
            TestResponse::ok()
                .with_body(text.clone())
                .encoded(Encoding::DeflateRaw),
        ),
        (
            "/br",
            TestResponse::ok()
                .with_body(text.clone())
                .encoded(Encoding::Brotli),
        ),
        ("/large", TestResponse::ok().with_body(large_body(1000))),
        (
            "/large-gzip",
            TestResponse::ok()
                .with_body(large_body(1000))
                .encoded(Encoding::Gzip),
        ),
        (
            "/chunked",
            TestResponse::ok().with_body(large_body(20_000)).chunked(),
        ),
    ])
}

/// Builds the servers, certificates and the scenario list. Must run inside a
/// tokio runtime (the servers are tokio tasks).
fn scenarios() -> (Vec<Scenario>, Fixtures) {
    let body_handler = handlers::always(body_response());
    let s200 = plain(handlers::always(TestResponse::text(200, "status body")));
    let s201 = plain(handlers::always(TestResponse::text(201, "status body")));
    let s404 = plain(handlers::always(TestResponse::text(404, "status body")));
    let s500 = plain(handlers::always(TestResponse::text(500, "status body")));
    let body = plain(body_handler.clone());
    let checks = plain(checking_handler);
    let redirects = plain(redirect_handler);
    let compression = plain(compression_routes());
    let slow = plain(handlers::slow(Duration::from_secs(3), 200));

    let ca = TestCa::new("conformance CA");
    let ca_file = ca.write_ca_file();
    let tls = Arc::new(HttpServer::tls(&ca.localhost(), body_handler.clone()));
    let tls_h11 = Arc::new(HttpServer::tls_with(
        &ca.localhost(),
        TlsOptions::default().http11_only(),
        body_handler.clone(),
    ));
    let tls12 = Arc::new(HttpServer::tls_with(
        &ca.localhost(),
        TlsOptions::default().tls12_only(),
        body_handler.clone(),
    ));
    let self_signed = Arc::new(HttpServer::tls(
        &self_signed_localhost(),
        body_handler.clone(),
    ));
    // `openssl req -x509`'s default: self-signed with CA:TRUE, pinned through ca_file.
    let pinned_ca_cert =
        crate::support::certs::self_signed(&crate::support::LeafSpec::localhost().ca_true());
    let pinned_ca_file = write_temp_file(pinned_ca_cert.chain_pem().as_bytes(), ".crt");
    let pinned_ca = Arc::new(HttpServer::tls(&pinned_ca_cert, body_handler.clone()));
    let pinned_tls = format!("tls_config:\n  ca_file: {}\n", yaml_path(&pinned_ca_file));
    // The same certificate not pinned: signed by an unknown authority.
    let other_ca_file = TestCa::new("Unrelated CA").write_ca_file();
    let other_tls = format!("tls_config:\n  ca_file: {}\n", yaml_path(&other_ca_file));
    let expired = Arc::new(HttpServer::tls(
        &ca.expired_localhost(),
        body_handler.clone(),
    ));
    let not_yet_valid = Arc::new(HttpServer::tls(
        &ca.issue(&LeafSpec::localhost().with_validity(Validity::not_yet_valid())),
        body_handler.clone(),
    ));
    // A leaf issued by an intermediate CA, served with the intermediate; the root in ca_file.
    let intermediate = ca.intermediate("conformance intermediate", Validity::default());
    let via_intermediate = Arc::new(HttpServer::tls(
        &intermediate.localhost(),
        body_handler.clone(),
    ));
    let rsa = Arc::new(HttpServer::tls(
        &ca.issue(&LeafSpec::localhost().rsa()),
        body_handler.clone(),
    ));
    let no_ip_san = Arc::new(HttpServer::tls(
        &ca.localhost_without_ip(),
        body_handler.clone(),
    ));
    let older = OlderRootChain::generate();
    let older_ca_file = older.write_ca_file();
    let older_server = Arc::new(HttpServer::tls(&older.server, body_handler));
    let https_location = tls.url("/");
    let to_https = plain(move |_| TestResponse::redirect(302, &https_location));
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.local_addr().expect("local address").port()
    };

    let ca_tls = format!("tls_config:\n  ca_file: {}\n", yaml_path(&ca_file));
    let ca_tls_with = |extra: &str| format!("{ca_tls}{extra}");
    let insecure = "tls_config:\n  insecure_skip_verify: true\n";

    let list =
        vec![
        // --- status codes with a module that has no http block at all
        Scenario::new("status_200_defaults", s200.url("/"), true).server(&s200),
        Scenario::new("status_201_defaults", s201.url("/"), true).server(&s201),
        Scenario::new("status_404_defaults", s404.url("/"), false).server(&s404),
        Scenario::new("status_500_defaults", s500.url("/"), false).server(&s500),
        // --- valid_status_codes
        Scenario::new("valid_status_codes_404", s404.url("/"), true)
            .http("valid_status_codes: [404]")
            .server(&s404),
        Scenario::new("valid_status_codes_list_miss", s200.url("/"), false)
            .http("valid_status_codes: [404, 500]")
            .server(&s200),
        Scenario::new("valid_status_codes_list_hit", s500.url("/"), true)
            .http("valid_status_codes: [200, 500]")
            .server(&s500),
        // --- request shape
        Scenario::new("post_with_body", checks.url("/post"), true)
            .http(
                "method: POST\nbody: '{\"probe\":\"conformance\"}'\n\
                 headers:\n  Content-Type: application/json\n\
                 fail_if_body_not_matches_regexp: ['\"probe\":\"conformance\"']",
            )
            .server(&checks),
        Scenario::new("method_lowercase_verbatim", checks.url("/lowercase"), true)
            .http("method: post")
            .server(&checks),
        Scenario::new("method_head", checks.url("/head"), true)
            .http("method: HEAD")
            .server(&checks),
        Scenario::new("basic_auth", checks.url("/basic"), true)
            .http("basic_auth:\n  username: user\n  password: pass")
            .server(&checks),
        Scenario::new("basic_auth_wrong_password", checks.url("/basic"), false)
            .http("basic_auth:\n  username: user\n  password: wrong")
            .server(&checks),
        Scenario::new("bearer_token", checks.url("/bearer"), true)
            .http("bearer_token: s3cret")
            .server(&checks),
        Scenario::new("authorization_credentials", checks.url("/bearer"), true)
            .http("authorization:\n  type: Bearer\n  credentials: s3cret")
            .server(&checks),
        Scenario::new("custom_headers", checks.url("/custom"), true)
            .http(
                "headers:\n  X-Custom: \"yes\"\n  Accept-Language: de\n  User-Agent: conformance/1",
            )
            .server(&checks),
        Scenario::new("host_header", checks.url("/host"), true)
            .http("headers:\n  Host: example.test")
            .server(&checks),
        Scenario::new("hostname_param", checks.url("/host"), true)
            .http("method: GET")
            .param("hostname", "example.test")
            .server(&checks),
        // --- fail_if_ssl / fail_if_not_ssl
        Scenario::new("fail_if_ssl_on_http", body.url("/"), true)
            .http("fail_if_ssl: true")
            .server(&body),
        Scenario::new("fail_if_not_ssl_on_http", body.url("/"), false)
            .http("fail_if_not_ssl: true")
            .server(&body),
        Scenario::new("fail_if_ssl_on_https", tls.url("/"), false)
            .http(&ca_tls_with("fail_if_ssl: true"))
            .server(&tls),
        Scenario::new("fail_if_not_ssl_on_https", tls.url("/"), true)
            .http(&ca_tls_with("fail_if_not_ssl: true"))
            .server(&tls),
        // --- body regexes
        Scenario::new("body_regex_match_fails", body.url("/"), false)
            .http("fail_if_body_matches_regexp: ['wor.d']")
            .server(&body),
        Scenario::new("body_regex_not_match_fails", body.url("/"), false)
            .http("fail_if_body_not_matches_regexp: ['absent']")
            .server(&body),
        Scenario::new("body_regex_pass", body.url("/"), true)
            .http(
                "fail_if_body_matches_regexp: ['absent']\n\
                 fail_if_body_not_matches_regexp: ['\\d{5}', '(?m)^hello']",
            )
            .server(&body),
        // --- header matchers
        Scenario::new("header_matches_fails", body.url("/"), false)
            .http("fail_if_header_matches:\n  - header: x-foo\n    regexp: 'ba.'")
            .server(&body),
        Scenario::new("header_not_matches_fails", body.url("/"), false)
            .http("fail_if_header_not_matches:\n  - header: Content-Type\n    regexp: 'text/html'")
            .server(&body),
        Scenario::new("header_not_matches_multi_value", body.url("/"), true)
            .http("fail_if_header_not_matches:\n  - header: Set-Cookie\n    regexp: '^b=2$'")
            .server(&body),
        Scenario::new("header_missing_fails", body.url("/"), false)
            .http("fail_if_header_not_matches:\n  - header: X-Missing\n    regexp: '.*'")
            .server(&body),
        Scenario::new("header_missing_allowed", body.url("/"), true)
            .http(
                "fail_if_header_matches:\n  - header: X-Missing\n    regexp: 'x'\n    \
                 allow_missing: true",
            )
            .server(&body),
        Scenario::new("header_empty_value_present", body.url("/"), true)
            .http("fail_if_header_not_matches:\n  - header: X-Empty\n    regexp: '^$'")
            .server(&body),
        // --- redirects
        Scenario::new("redirect_1_hop", redirects.url("/redirect/1"), true).server(&redirects),
        Scenario::new("redirect_3_hops", redirects.url("/redirect/3"), true)
            .http("follow_redirects: true")
            .server(&redirects),
        Scenario::new("redirect_not_followed", redirects.url("/redirect/1"), false)
            .http("follow_redirects: false")
            .server(&redirects),
        Scenario::new("redirect_not_followed_302_valid", redirects.url("/redirect/1"), true)
            .http("follow_redirects: false\nvalid_status_codes: [302]")
            .server(&redirects),
        Scenario::new("redirect_limit", redirects.url("/loop/0"), false).server(&redirects),
        Scenario::new("redirect_cookie_jar", redirects.url("/cookie/set"), true)
            .server(&redirects),
        Scenario::new("redirect_http_to_https", to_https.url("/"), true)
            .http(&ca_tls_with("fail_if_not_ssl: true"))
            .server(&to_https)
            .server(&tls),
        // --- compression and sizes
        Scenario::new("compression_gzip", compression.url("/gzip"), true)
            .http("compression: gzip")
            .server(&compression),
        Scenario::new("compression_deflate", compression.url("/deflate"), true)
            .http("compression: deflate")
            .server(&compression),
        Scenario::new("compression_br", compression.url("/br"), true)
            .http("compression: br")
            .server(&compression),
        Scenario::new("compressed_body_without_setting", compression.url("/gzip"), true)
            .server(&compression),
        Scenario::new("compression_mismatch", compression.url("/gzip"), false)
            .http("compression: deflate")
            .server(&compression),
        Scenario::new("body_size_limit_exceeded", compression.url("/large"), false)
            .http("body_size_limit: 128B")
            .server(&compression),
        Scenario::new("body_size_limit_exceeded_gzip", compression.url("/large-gzip"), false)
            .http("compression: gzip\nbody_size_limit: 128B")
            .server(&compression),
        Scenario::new("body_size_limit_not_reached", compression.url("/gzip"), true)
            .http("compression: gzip\nbody_size_limit: 1KiB")
            .server(&compression),
        Scenario::new("chunked_without_content_length", compression.url("/chunked"), true)
            .server(&compression),
        // --- TLS
        Scenario::new("https_ca_file_localhost", tls.localhost_url("/"), true)
            .http(&ca_tls)
            .server(&tls),
        Scenario::new("https_ca_file_ip", tls.url("/"), true)
            .http(&ca_tls)
            .server(&tls),
        Scenario::new("https_server_name", tls.url("/"), true)
            .http(&format!("{ca_tls}  server_name: localhost\n"))
            .server(&tls),
        Scenario::new("https_wrong_server_name_fails", tls.url("/"), false)
            .http(&format!("{ca_tls}  server_name: other.test\n"))
            .server(&tls),
        Scenario::new("https_host_header_as_server_name", no_ip_san.url("/"), true)
            .http(&ca_tls_with("headers:\n  Host: localhost"))
            .server(&no_ip_san),
        Scenario::new("https_hostname_param_as_server_name", no_ip_san.url("/"), true)
            .http(&ca_tls)
            .param("hostname", "localhost")
            .server(&no_ip_san),
        Scenario::new("https_ip_target_without_ip_san_fails", no_ip_san.url("/"), false)
            .http(&ca_tls)
            .server(&no_ip_san),
        Scenario::new("https_self_signed_fails", self_signed.url("/"), false)
            .http("method: GET")
            .server(&self_signed),
        Scenario::new("https_self_signed_ca_true_pinned", pinned_ca.localhost_url("/"), true)
            .http(&pinned_tls)
            .server(&pinned_ca),
        Scenario::new("https_self_signed_ca_true_ip", pinned_ca.url("/"), true)
            .http(&pinned_tls)
            .server(&pinned_ca),
        Scenario::new("https_self_signed_ca_true_other_ca", pinned_ca.localhost_url("/"), false)
            .http(&other_tls)
            .server(&pinned_ca),
        Scenario::new("https_insecure_skip_verify", self_signed.url("/"), true)
            .http(insecure)
            .server(&self_signed),
        Scenario::new("https_expired_fails", expired.localhost_url("/"), false)
            .http(&ca_tls)
            .server(&expired),
        Scenario::new("https_expired_insecure", expired.localhost_url("/"), true)
            .http(insecure)
            .server(&expired),
        Scenario::new("https_not_yet_valid_fails", not_yet_valid.localhost_url("/"), false)
            .http(&ca_tls)
            .server(&not_yet_valid),
        Scenario::new("https_intermediate_chain", via_intermediate.localhost_url("/"), true)
            .http(&ca_tls)
            .server(&via_intermediate),
        Scenario::new("https_intermediate_wrong_host", via_intermediate.localhost_url("/"), false)
            .http(&ca_tls_with("  server_name: other.test\n"))
            .server(&via_intermediate),
        Scenario::new("https_rsa_leaf", rsa.localhost_url("/"), true)
            .http(&ca_tls)
            .server(&rsa),
        Scenario::new("https_rsa_leaf_ip_san", rsa.url("/"), true)
            .http(&ca_tls)
            .server(&rsa),
        Scenario::new("https_older_root_chain", older_server.localhost_url("/"), true)
            .http(&format!(
                "tls_config:\n  ca_file: {}\n",
                yaml_path(&older_ca_file)
            ))
            .server(&older_server),
        Scenario::new("https_tls12_only_server", tls12.url("/"), true)
            .http(&ca_tls)
            .server(&tls12),
        // --- HTTP versions
        Scenario::new("http2_over_tls", tls.url("/"), true)
            .http(&ca_tls)
            .server(&tls),
        Scenario::new("http2_disabled", tls.url("/"), true)
            .http(&ca_tls_with("enable_http2: false"))
            .server(&tls),
        Scenario::new("https_alpn_http11_only", tls_h11.url("/"), true)
            .http(&ca_tls)
            .server(&tls_h11),
        Scenario::new("valid_http_versions_11", body.url("/"), true)
            .http("valid_http_versions: [HTTP/1.1]")
            .server(&body),
        Scenario::new("valid_http_versions_20_on_11_fails", body.url("/"), false)
            .http("valid_http_versions: [HTTP/2.0]")
            .server(&body),
        Scenario::new("valid_http_versions_20_on_h2", tls.url("/"), true)
            .http(&ca_tls_with("valid_http_versions: [HTTP/1.1, HTTP/2.0]"))
            .server(&tls),
        Scenario::new("valid_http_versions_http2_literal_fails", tls.url("/"), false)
            .http(&ca_tls_with("valid_http_versions: [HTTP/2]"))
            .server(&tls),
        // --- misc
        Scenario::new("last_modified", body.url("/"), true).server(&body),
        Scenario::new(
            "connection_refused",
            format!("http://127.0.0.1:{closed_port}/"),
            false,
        )
        .http("method: GET"),
        Scenario::new(
            "target_without_scheme",
            format!("127.0.0.1:{}/path", s200.port()),
            true,
        )
        .server(&s200),
        Scenario::new("timeout_slow_server", slow.url("/"), false)
            .timeout(1.0)
            .http("method: GET")
            .server(&slow),
        Scenario::new("ip6_literal_without_fallback", s200.url("/"), false)
            .http("preferred_ip_protocol: ip6\nip_protocol_fallback: false")
            .server(&s200),
        Scenario::new(
            "scheme_uppercase",
            format!("HTTP://127.0.0.1:{}/", s200.port()),
            true,
        )
        .server(&s200),
    ];
    (
        list,
        Fixtures {
            _files: vec![ca_file, older_ca_file, pinned_ca_file, other_ca_file],
        },
    )
}

// ---------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------

/// Compares two `/probe` outputs for one scenario.
fn compare_outputs(scenario: &Scenario, bbe: &Exposition, bw_full: &Exposition) -> Outcome {
    let mut out = Outcome::default();
    if let Some(deliberate) = SUITE.scenario_rule(scenario.name) {
        out.expect_blackwatch_success(bw_full, scenario.expect_success);
        out.whole_scenario(deliberate, bbe, bw_full);
        return out;
    }
    out.expect_reference_success(bbe, scenario.expect_success);

    // Checks on blackwatch's deliberate extras themselves.
    out.expect_timeout_metric(bw_full, scenario.timeout);
    let over_tls = bbe.has("probe_tls_version_info");
    if bw_full.has("probe_tls_cipher_info") != over_tls {
        out.failures.push(format!(
            "blackwatch probe_tls_cipher_info present: {}, but the response came over TLS: \
             {over_tls}",
            bw_full.has("probe_tls_cipher_info")
        ));
    }

    let mut bw = bw_full.clone();
    SUITE.normalise(&mut bw, &mut out);
    SUITE.compare_series(bbe, &bw, scenario.timeout, &mut out);
    out
}

/// A comparable rendering of the requests a target received.
fn describe_requests(requests: &[TestRequest]) -> Vec<String> {
    let ignored = ignored_request_headers();
    requests
        .iter()
        .map(|r| {
            let mut names: Vec<&str> = r
                .headers
                .keys()
                .map(http::HeaderName::as_str)
                .filter(|n| !ignored.contains(n))
                .collect();
            names.sort_unstable();
            names.dedup();
            let headers: Vec<String> = names
                .iter()
                .map(|n| format!("{n}: {}", r.header_all(n).join(" | ")))
                .collect();
            let mut body = r.body_str().into_owned();
            body.truncate(200);
            format!(
                "{} {} {:?} tls={} host={:?} [{}] body={body:?}",
                r.method,
                r.path_and_query(),
                r.version,
                r.is_tls(),
                r.host(),
                headers.join("; ")
            )
        })
        .collect()
}

fn clear_requests(scenario: &Scenario) {
    for server in &scenario.servers {
        server.clear_requests();
    }
}

fn take_requests(scenario: &Scenario) -> Vec<String> {
    let requests: Vec<TestRequest> = scenario.servers.iter().flat_map(|s| s.requests()).collect();
    clear_requests(scenario);
    describe_requests(&requests)
}

async fn probe(daemon: &Daemon, scenario: &Scenario) -> Result<String, String> {
    daemon
        .probe(scenario.name, &scenario.target, &scenario.params)
        .await
}

#[test]
fn deliberate_differences_are_documented() {
    SUITE.assert_documented();
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_probes_match_blackbox_exporter() {
    let (scenarios, _fixtures) = scenarios();
    assert!(scenarios.len() >= 30, "{} scenarios", scenarios.len());
    SUITE.assert_scenario_names(scenarios.iter().map(|s| s.name));

    let config = write_temp_file(
        config_yaml(scenarios.iter().map(|s| (s.name, s.module_yaml()))).as_bytes(),
        ".yml",
    );
    let blackbox = Daemon::blackbox(&config).await;
    let blackwatch = Daemon::blackwatch(&config).await;

    let mut report = Report::new(&SUITE);
    for scenario in &scenarios {
        clear_requests(scenario);
        let bbe = probe(&blackbox, scenario).await;
        let bbe_requests = take_requests(scenario);
        let bw = probe(&blackwatch, scenario).await;
        let bw_requests = take_requests(scenario);
        let outputs = Outputs { bbe, bw };

        let mut outcome = outputs.compare(|bbe, bw| compare_outputs(scenario, bbe, bw));
        if SUITE.scenario_rule(scenario.name).is_none() && bbe_requests != bw_requests {
            outcome.failures.push(format!(
                "requests received by the target differ:\n  blackbox_exporter:\n    {}\n  blackwatch:\n    {}",
                bbe_requests.join("\n    "),
                bw_requests.join("\n    ")
            ));
        }
        let context = module_context(&scenario.module_yaml(), &scenario.target);
        report.add(scenario.name, "", outcome, &context, &outputs);
    }
    report.finish("", &blackbox, &blackwatch);
}

/// Runs `promtool check metrics` on `text`; returns (success, combined output). Shared with
/// `schedule.rs`.
pub(crate) async fn promtool_check(text: &str) -> (bool, String) {
    let binary = std::env::var("PROMTOOL_BIN").unwrap_or_else(|_| "promtool".to_owned());
    let mut child = tokio::process::Command::new(&binary)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool `{binary}` ({e}); install the Debian package prometheus \
                 (or set PROMTOOL_BIN). This test fails instead of skipping."
            )
        });
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(text.as_bytes())
        .await
        .expect("writing to promtool");
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("promtool finishes")
        .expect("promtool runs");
    let combined = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), combined)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_blackwatch_output() {
    let ca = TestCa::new("promtool CA");
    let ca_file = ca.write_ca_file();
    let server = HttpServer::tls(&ca.localhost(), handlers::always(body_response()));
    let config = format!(
        "modules:\n  https_ok:\n    prober: http\n    timeout: 5s\n    http:\n      \
         preferred_ip_protocol: ip4\n      fail_if_not_ssl: true\n      tls_config:\n        \
         ca_file: {}\n",
        yaml_path(&ca_file)
    );
    let config = write_temp_file(config.as_bytes(), ".yml");
    let blackwatch = Daemon::blackwatch(&config).await;

    let probe = blackwatch
        .probe("https_ok", &server.localhost_url("/"), &[])
        .await
        .expect("probe answers 200");
    let parsed = Exposition::parse(&probe).expect("parsable probe output");
    assert_eq!(parsed.value("probe_success"), Some(1.0), "{probe}");
    for name in [
        "probe_ssl_earliest_cert_expiry",
        "probe_ssl_last_chain_expiry_timestamp_seconds",
        "probe_ssl_last_chain_info",
        "probe_tls_version_info",
        "probe_tls_cipher_info",
        "probe_http_last_modified_timestamp_seconds",
    ] {
        assert!(parsed.has(name), "{name} missing from:\n{probe}");
    }
    let (ok, lint) = promtool_check(&probe).await;
    assert!(
        ok && lint.trim().is_empty(),
        "promtool check metrics on /probe: ok={ok}\n{lint}\n--- input ---\n{probe}"
    );

    let (status, metrics) = blackwatch.get("/metrics").await.expect("/metrics answers");
    assert_eq!(status, 200, "{metrics}");
    assert!(
        metrics.contains("blackbox_exporter_config_last_reload_successful"),
        "{metrics}"
    );
    let (ok, lint) = promtool_check(&metrics).await;
    assert!(
        ok && lint.trim().is_empty(),
        "promtool check metrics on /metrics: ok={ok}\n{lint}\n--- input ---\n{metrics}"
    );
}
