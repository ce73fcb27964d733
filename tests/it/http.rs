//! The HTTP prober against real loopback servers: the scenarios of upstream
//! `prober/http_test.go` (minus CEL, HTTP/3, proxies and the network test), plus HTTP/2,
//! certificate metrics, cross-host redirects, timeouts, large bodies and phase sums.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::support::certs::{write_temp_file, Cert};
use crate::support::{
    handlers, self_signed_localhost, Encoding, HttpServer, LeafSpec, OlderRootChain, TestCa,
    TestRequest, TestResponse, TlsOptions, Validity,
};
use crate::support::{probe_http, Outcome};

const PHASES: [&str; 5] = ["resolve", "connect", "tls", "processing", "transfer"];

/// A path as a double-quoted YAML scalar.
fn yaml_path(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn assert_metric(o: &Outcome, name: &str, want: f64) {
    assert_eq!(o.value(name), want, "{name}\n{}", o.dump());
}

fn ssl_metric_names(o: &Outcome) -> Vec<String> {
    let mut names = o.metrics.names_with_prefix("probe_ssl_");
    names.extend(o.metrics.names_with_prefix("probe_tls_"));
    names
}

// ---------------------------------------------------------------------------
// Status codes and versions
// ---------------------------------------------------------------------------

#[tokio::test]
async fn status_codes_default_to_2xx_and_explicit_lists_are_exact() {
    let cases: &[(u16, &str, bool)] = &[
        (200, "", true),
        (201, "", true),
        (299, "", true),
        (300, "", false),
        (404, "", false),
        (500, "", false),
        (404, "valid_status_codes: [200, 404]", true),
        (200, "valid_status_codes: [200, 404]", true),
        (404, "valid_status_codes: [404]", true),
        (200, "valid_status_codes: [404]", false),
        (201, "valid_status_codes: [200]", false),
    ];
    for &(status, yaml, want) in cases {
        let server = HttpServer::plain(handlers::fixed(status, "body"));
        let o = probe_http(yaml, &server.url("/")).await;
        assert_eq!(
            o.success,
            want,
            "status {status} with {yaml:?}\n{}",
            o.dump()
        );
        assert_metric(&o, "probe_http_status_code", f64::from(status));
        assert_metric(&o, "probe_success", if want { 1.0 } else { 0.0 });
    }
}

#[tokio::test]
async fn every_probe_reports_ip_metrics_and_the_always_registered_http_metrics() {
    let server = HttpServer::plain(handlers::fixed(200, "hello"));
    let o = probe_http("", &server.url("/")).await;
    o.assert_success(true);
    assert_metric(&o, "probe_ip_protocol", 4.0);
    assert_metric(&o, "probe_ip_addr_hash", 3_668_918_509.0);
    assert!(o.value("probe_dns_lookup_time_seconds") >= 0.0);
    assert!(o.value("probe_duration_seconds") > 0.0);
    assert_metric(&o, "probe_timeout_seconds", 10.0);
    for name in [
        "probe_http_content_length",
        "probe_http_uncompressed_body_length",
        "probe_http_redirects",
        "probe_http_ssl",
        "probe_http_status_code",
        "probe_http_version",
        "probe_failed_due_to_regex",
    ] {
        assert!(o.metrics.has(name), "{name} missing\n{}", o.dump());
    }
    assert_metric(&o, "probe_http_version", 1.1);
    assert_metric(&o, "probe_http_ssl", 0.0);
    assert_metric(&o, "probe_http_redirects", 0.0);
    assert_metric(&o, "probe_failed_due_to_regex", 0.0);
    assert_eq!(
        o.metrics.help.get("probe_ssl_earliest_cert_expiry"),
        None,
        "no TLS metrics for plain HTTP"
    );
    assert_eq!(
        o.metrics
            .help
            .get("probe_http_duration_seconds")
            .map(String::as_str),
        Some("Duration of http request by phase, summed over all redirects")
    );
    assert!(!o.metrics.has("probe_http_last_modified_timestamp_seconds"));
}

#[tokio::test]
async fn valid_http_versions_are_compared_with_the_response_protocol() {
    let server = HttpServer::plain(handlers::ok());
    let cases: &[(&str, bool)] = &[
        ("", true),
        ("valid_http_versions: [HTTP/1.1]", true),
        ("valid_http_versions: [HTTP/1.1, HTTP/2.0]", true),
        ("valid_http_versions: [HTTP/2.0]", false),
        ("valid_http_versions: [HTTP/1.0]", false),
    ];
    for &(yaml, want) in cases {
        let o = probe_http(yaml, &server.url("/")).await;
        assert_eq!(o.success, want, "{yaml}\n{}", o.dump());
        assert_metric(&o, "probe_http_version", 1.1);
    }
}

// ---------------------------------------------------------------------------
// Content length and compression
// ---------------------------------------------------------------------------

const TEXT: &str = "Hello, blackwatch! Hello, blackwatch! Hello, blackwatch! Hello, blackwatch!";

#[tokio::test]
async fn content_length_is_the_raw_size_when_nothing_is_decoded() {
    let plain = TestResponse::ok().with_body(TEXT);
    let cases: Vec<(&str, TestResponse, bool)> = vec![
        (
            "identity",
            plain.clone().with_header("content-encoding", "identity"),
            true,
        ),
        ("none", plain.clone(), true),
        (
            "unknown encoding",
            plain.clone().with_header("content-encoding", "xxx"),
            true,
        ),
        ("404 body", TestResponse::text(404, TEXT), false),
        ("gzip", plain.clone().encoded(Encoding::Gzip), true),
        ("br", plain.clone().encoded(Encoding::Brotli), true),
        ("deflate", plain.clone().encoded(Encoding::DeflateRaw), true),
    ];
    for (name, resp, want) in cases {
        let raw_len = resp.body.len() as f64;
        let server = HttpServer::plain(handlers::always(resp));
        let o = probe_http("", &server.url("/")).await;
        assert_eq!(o.success, want, "{name}\n{}", o.dump());
        assert_metric(&o, "probe_http_content_length", raw_len);
        assert_metric(&o, "probe_http_uncompressed_body_length", raw_len);
        if name != "none" && name != "404 body" && name != "identity" && name != "unknown encoding"
        {
            assert!(raw_len != TEXT.len() as f64, "{name} should be compressed");
        }
        let req = server.last_request().expect("request");
        assert_eq!(
            req.header("accept-encoding"),
            None,
            "no Accept-Encoding by default"
        );
    }
}

#[tokio::test]
async fn chunked_responses_report_content_length_minus_one() {
    let server = HttpServer::plain(handlers::always(
        TestResponse::ok().with_body(TEXT).chunked_with(7, None),
    ));
    let o = probe_http("", &server.url("/")).await;
    o.assert_success(true);
    assert_metric(&o, "probe_http_content_length", -1.0);
    assert_metric(&o, "probe_http_uncompressed_body_length", TEXT.len() as f64);
}

#[tokio::test]
async fn compression_setting_decodes_the_body() {
    let identity = TestResponse::ok()
        .with_body(TEXT)
        .with_header("content-encoding", "identity");
    let cases: Vec<(&str, TestResponse, &str)> = vec![
        (
            "gzip",
            TestResponse::ok().with_body(TEXT).encoded(Encoding::Gzip),
            "compression: gzip",
        ),
        (
            "br",
            TestResponse::ok().with_body(TEXT).encoded(Encoding::Brotli),
            "compression: br",
        ),
        (
            "deflate (raw, as Go)",
            TestResponse::ok()
                .with_body(TEXT)
                .encoded(Encoding::DeflateRaw),
            "compression: deflate",
        ),
        ("identity", identity, "compression: identity"),
        (
            "upper-case setting",
            TestResponse::ok().with_body(TEXT).encoded(Encoding::Gzip),
            "compression: GZIP",
        ),
    ];
    for (name, resp, yaml) in cases {
        let raw_len = resp.body.len() as f64;
        let server = HttpServer::plain(handlers::always(resp));
        let o = probe_http(yaml, &server.url("/")).await;
        assert!(o.success, "{name}\n{}", o.dump());
        assert_metric(&o, "probe_http_content_length", raw_len);
        assert_metric(&o, "probe_http_uncompressed_body_length", TEXT.len() as f64);
        let req = server.last_request().expect("request");
        assert_eq!(
            req.header("accept-encoding"),
            None,
            "{name}: compression decodes, it does not negotiate (as upstream)"
        );
    }
}

#[tokio::test]
async fn wrong_compression_fails_with_nothing_decoded() {
    let server = HttpServer::plain(handlers::encoded(Encoding::Gzip, TEXT));
    let o = probe_http("compression: deflate", &server.url("/")).await;
    o.assert_success(false);
    assert_metric(&o, "probe_http_uncompressed_body_length", 0.0);
    assert_metric(&o, "probe_http_status_code", 200.0);

    // A body that claims gzip but is not gzip fails too.
    let server = HttpServer::plain(handlers::always(
        TestResponse::ok()
            .with_body(TEXT)
            .with_header("content-encoding", "gzip"),
    ));
    let o = probe_http("compression: gzip", &server.url("/")).await;
    o.assert_success(false);
}

#[tokio::test]
async fn configured_accept_encoding_is_sent_as_written() {
    for accept in ["gzip", "br, gzip", "*", "gzip;q=1.0, identity; q=0.5"] {
        let server = HttpServer::plain(handlers::encoded(Encoding::Gzip, TEXT));
        let yaml = format!("compression: gzip\nheaders:\n  Accept-Encoding: {accept:?}");
        let o = probe_http(&yaml, &server.url("/")).await;
        assert!(o.success, "{accept}\n{}", o.dump());
        assert_metric(&o, "probe_http_uncompressed_body_length", TEXT.len() as f64);
        let req = server.last_request().expect("request");
        assert_eq!(req.header_all("accept-encoding"), vec![accept]);
    }
}

#[tokio::test]
async fn body_size_limit_applies_after_decompression() {
    let short = "x".repeat(100);
    let long = crate::support::http::large_body(1000);
    let cases: Vec<(&str, TestResponse, &str, bool, f64)> = vec![
        (
            "short",
            TestResponse::ok().with_body(short.clone()),
            "",
            true,
            100.0,
        ),
        (
            "long",
            TestResponse::ok().with_body(long.clone()),
            "",
            false,
            128.0,
        ),
        (
            "short compressed",
            TestResponse::ok()
                .with_body(short.clone())
                .encoded(Encoding::Gzip),
            "compression: gzip",
            true,
            100.0,
        ),
        (
            "long compressed",
            TestResponse::ok()
                .with_body(long.clone())
                .encoded(Encoding::Gzip),
            "compression: gzip",
            false,
            128.0,
        ),
    ];
    for (name, resp, extra, want, want_len) in cases {
        let compressed_len = resp.body.len();
        let server = HttpServer::plain(handlers::always(resp));
        let yaml = format!("body_size_limit: 128B\n{extra}");
        let o = probe_http(&yaml, &server.url("/")).await;
        assert_eq!(o.success, want, "{name}\n{}", o.dump());
        assert_metric(&o, "probe_http_uncompressed_body_length", want_len);
        if name == "long compressed" {
            assert!(
                compressed_len < 128,
                "the compressed body ({compressed_len} bytes) must itself fit the limit"
            );
        }
    }

    // Without a limit the long body passes in full.
    let server = HttpServer::plain(handlers::always(TestResponse::ok().with_body(long)));
    let o = probe_http("", &server.url("/")).await;
    o.assert_success(true);
    assert_metric(&o, "probe_http_uncompressed_body_length", 1000.0);
}

// ---------------------------------------------------------------------------
// Redirects
// ---------------------------------------------------------------------------

#[tokio::test]
async fn redirects_are_followed_and_counted() {
    let server = HttpServer::plain(handlers::redirects());
    let o = probe_http("", &server.url("/redirect/1")).await;
    o.assert_success(true);
    assert_metric(&o, "probe_http_redirects", 1.0);
    assert_metric(&o, "probe_http_status_code", 200.0);
    assert_metric(
        &o,
        "probe_http_uncompressed_body_length",
        "redirect chain done".len() as f64,
    );
    assert_eq!(server.requested_paths(), ["/redirect/1", "/redirect/0"]);
    // Go's client sends the previous URL as Referer on a redirect hop.
    let reqs = server.requests();
    assert_eq!(reqs[0].header("referer"), None);
    assert_eq!(
        reqs[1].header("referer"),
        Some(server.url("/redirect/1").as_str())
    );

    server.clear_requests();
    let o = probe_http("", &server.url("/redirect/3")).await;
    o.assert_success(true);
    assert_metric(&o, "probe_http_redirects", 3.0);
    assert_eq!(server.request_count(), 4);
}

#[tokio::test]
async fn redirect_not_followed_is_the_final_response() {
    let server = HttpServer::plain(handlers::redirects());
    let o = probe_http(
        "follow_redirects: false\nvalid_status_codes: [302]",
        &server.url("/redirect/1"),
    )
    .await;
    o.assert_success(true);
    assert_metric(&o, "probe_http_redirects", 1.0);
    assert_metric(&o, "probe_http_status_code", 302.0);
    assert_metric(&o, "probe_http_uncompressed_body_length", 0.0);
    assert_eq!(server.requested_paths(), ["/redirect/1"]);
    // The refused response still ends the trace: upstream counts its transfer phase.
    assert!(
        o.value_with("probe_http_duration_seconds", &[("phase", "transfer")]) > 0.0,
        "{}",
        o.dump()
    );

    server.clear_requests();
    let o = probe_http("follow_redirects: false", &server.url("/redirect/1")).await;
    o.assert_success(false);
    assert_metric(&o, "probe_http_status_code", 302.0);
    assert_eq!(server.requested_paths(), ["/redirect/1"]);
}

#[tokio::test]
async fn redirect_limit_stops_after_ten_and_never_requests_the_twelfth_url() {
    let server = HttpServer::plain(handlers::redirects());
    let o = probe_http("", &server.url("/loop/0")).await;
    o.assert_success(false);
    assert_metric(&o, "probe_http_redirects", 11.0);
    assert_metric(&o, "probe_http_status_code", 302.0);
    let want: Vec<String> = (0..=10).map(|i| format!("/loop/{i}")).collect();
    assert_eq!(server.requested_paths(), want);
    assert!(!server.requested_paths().contains(&"/loop/11".to_string()));
}

#[tokio::test]
async fn cookies_set_on_a_redirect_are_sent_on_the_next_hop() {
    let server = HttpServer::plain(|req: &TestRequest| match req.path() {
        "/" => TestResponse::redirect(302, "/next").with_header("set-cookie", "session=abc123"),
        "/next" if req.header("cookie") == Some("session=abc123") => TestResponse::ok(),
        _ => TestResponse::text(400, "no cookie"),
    });
    let o = probe_http("", &server.url("/")).await;
    o.assert_success(true);
    assert_metric(&o, "probe_http_redirects", 1.0);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("cookie"), None);
    assert_eq!(reqs[1].header("cookie"), Some("session=abc123"));

    // The jar is per probe: a second probe starts without the cookie.
    server.clear_requests();
    let _ = probe_http("", &server.url("/")).await;
    assert_eq!(server.requests()[0].header("cookie"), None);
}

#[tokio::test]
async fn cross_host_redirect_drops_credentials() {
    let other = HttpServer::plain(handlers::ok());
    let location = format!("http://localhost:{}/final", other.port());
    let first = HttpServer::plain(move |req: &TestRequest| match req.path() {
        "/same" => TestResponse::redirect(302, "/cross"),
        _ => TestResponse::redirect(302, &location),
    });
    let yaml = "basic_auth:\n  username: user\n  password: pass";
    let o = probe_http(yaml, &first.url("/same")).await;
    o.assert_success(true);
    assert_metric(&o, "probe_http_redirects", 2.0);

    let first_reqs = first.requests();
    assert_eq!(first_reqs.len(), 2);
    for r in &first_reqs {
        assert_eq!(
            r.header("authorization"),
            Some("Basic dXNlcjpwYXNz"),
            "same-host hop {} keeps credentials",
            r.path()
        );
    }
    let cross = other.last_request().expect("the other host was reached");
    assert_eq!(cross.path(), "/final");
    assert_eq!(cross.header("authorization"), None);
    assert_eq!(
        cross.host().as_deref(),
        Some(format!("localhost:{}", other.port()).as_str())
    );
}

// ---------------------------------------------------------------------------
// Request: method, body, auth, headers
// ---------------------------------------------------------------------------

#[tokio::test]
async fn post_with_body_and_body_file() {
    let server = HttpServer::plain(handlers::echo());
    let o = probe_http("method: POST\nbody: '{\"a\": 1}'", &server.url("/")).await;
    o.assert_success(true);
    let req = server.last_request().expect("request");
    assert_eq!(req.method, http::Method::POST);
    assert_eq!(req.body_str(), "{\"a\": 1}");
    assert_metric(&o, "probe_http_uncompressed_body_length", 8.0);

    let file = write_temp_file(b"from a file\nsecond line\n", ".txt");
    let yaml = format!("method: PUT\nbody_file: {}", yaml_path(&file));
    let o = probe_http(&yaml, &server.url("/")).await;
    o.assert_success(true);
    let req = server.last_request().expect("request");
    assert_eq!(req.method, http::Method::PUT);
    assert_eq!(req.body_str(), "from a file\nsecond line\n");

    // A body file that cannot be read fails the probe before any request.
    server.clear_requests();
    let o = probe_http(
        "method: POST\nbody_file: /nonexistent/blackwatch/body.txt",
        &server.url("/"),
    )
    .await;
    o.assert_success(false);
    assert_eq!(server.request_count(), 0);
}

/// A server answering 200 only when `Authorization` equals `want`, else 401.
fn auth_server(want: &'static str) -> HttpServer {
    HttpServer::plain(move |req: &TestRequest| {
        if req.header("authorization") == Some(want) {
            TestResponse::ok()
        } else {
            TestResponse::new(401)
        }
    })
}

#[tokio::test]
async fn basic_auth_inline_and_from_files() {
    let server = auth_server("Basic dXNlcjpwYXNz"); // user:pass
    let o = probe_http(
        "basic_auth:\n  username: user\n  password: pass",
        &server.url("/"),
    )
    .await;
    o.assert_success(true);

    let pw = write_temp_file(b"pass\n", ".txt");
    let user = write_temp_file(b"user\n", ".txt");
    let yaml = format!(
        "basic_auth:\n  username_file: {}\n  password_file: {}",
        yaml_path(&user),
        yaml_path(&pw)
    );
    let o = probe_http(&yaml, &server.url("/")).await;
    o.assert_success(true);

    let o = probe_http(
        "basic_auth:\n  username: user\n  password: wrong",
        &server.url("/"),
    )
    .await;
    o.assert_success(false);
    assert_metric(&o, "probe_http_status_code", 401.0);
    assert!(
        !o.log.contains("pass"),
        "credentials in the log:\n{}",
        o.log
    );
}

#[tokio::test]
async fn bearer_tokens_and_authorization() {
    let server = auth_server("Bearer mytoken");
    let token_file = write_temp_file(b"mytoken\n", ".txt");
    let cases = [
        "bearer_token: mytoken".to_string(),
        format!("bearer_token_file: {}", yaml_path(&token_file)),
        "authorization:\n  credentials: mytoken".to_string(),
        format!(
            "authorization:\n  credentials_file: {}",
            yaml_path(&token_file)
        ),
    ];
    for yaml in &cases {
        let o = probe_http(yaml, &server.url("/")).await;
        assert!(o.success, "{yaml}\n{}", o.dump());
    }
    let o = probe_http("bearer_token: other", &server.url("/")).await;
    o.assert_success(false);

    let server = auth_server("Token abc");
    let o = probe_http(
        "authorization:\n  type: Token\n  credentials: abc",
        &server.url("/"),
    )
    .await;
    o.assert_success(true);
}

#[tokio::test]
async fn configured_headers_reach_the_server() {
    let server = HttpServer::plain(handlers::ok());
    let yaml = r#"
        headers:
          Host: example.com
          User-Agent: my-agent/1.0
          Accept-Language: en-US
          X-Custom: custom value
    "#;
    let o = probe_http(yaml, &server.url("/path?q=1")).await;
    o.assert_success(true);
    let req = server.last_request().expect("request");
    assert_eq!(req.host().as_deref(), Some("example.com"));
    assert_eq!(req.header("user-agent"), Some("my-agent/1.0"));
    assert_eq!(req.header("accept-language"), Some("en-US"));
    assert_eq!(req.header("x-custom"), Some("custom value"));
    assert_eq!(req.path_and_query(), "/path?q=1");
    assert_eq!(req.header_all("user-agent").len(), 1);

    // Defaults: the exporter's User-Agent, the target's authority as Host, no keep-alive.
    let o = probe_http("", &server.url("/")).await;
    o.assert_success(true);
    let req = server.last_request().expect("request");
    let ua = req.header("user-agent").unwrap_or_default().to_string();
    assert!(ua.starts_with("Blackbox-Exporter/"), "{ua}");
    assert_eq!(
        req.host().as_deref(),
        Some(server.addr().to_string().as_str())
    );
    assert_eq!(req.header("connection"), Some("close"));
}

// ---------------------------------------------------------------------------
// Body and header regexes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn fail_if_body_matches_regexp() {
    let body = "Hello World, could not connect to database";
    let server = HttpServer::plain(handlers::fixed(200, body));
    let cases: &[(&str, bool)] = &[
        ("[could not connect to database]", false),
        ("[Goodbye]", true),
        ("['Goodbye', 'connect to']", false),
        ("['Goodbye', 'Farewell']", true),
        ("['^World']", true),
        ("['(?i)HELLO world']", false),
    ];
    for &(list, want) in cases {
        let o = probe_http(
            &format!("fail_if_body_matches_regexp: {list}"),
            &server.url("/"),
        )
        .await;
        assert_eq!(o.success, want, "{list}\n{}", o.dump());
        assert_metric(
            &o,
            "probe_failed_due_to_regex",
            if want { 0.0 } else { 1.0 },
        );
        // Lengths are reported even when the regex fails the probe (#673).
        assert_metric(&o, "probe_http_content_length", body.len() as f64);
        assert_metric(&o, "probe_http_uncompressed_body_length", body.len() as f64);
    }
}

#[tokio::test]
async fn fail_if_body_not_matches_regexp() {
    let body = "Hello World\nstatus: ok\n";
    let server = HttpServer::plain(handlers::fixed(200, body));
    let cases: &[(&str, bool)] = &[
        ("[Hello]", true),
        ("[Goodbye]", false),
        ("['Hello', 'Goodbye']", false),
        ("['Hello', 'status: ok']", true),
        ("['World.status']", false),
        ("['(?s)World.status']", true),
        ("['(?m)^status: ok$']", true),
    ];
    for &(list, want) in cases {
        let o = probe_http(
            &format!("fail_if_body_not_matches_regexp: {list}"),
            &server.url("/"),
        )
        .await;
        assert_eq!(o.success, want, "{list}\n{}", o.dump());
        assert_metric(
            &o,
            "probe_failed_due_to_regex",
            if want { 0.0 } else { 1.0 },
        );
        assert_metric(&o, "probe_http_uncompressed_body_length", body.len() as f64);
    }
}

#[tokio::test]
async fn regex_checks_are_skipped_after_a_bad_status() {
    let server = HttpServer::plain(handlers::fixed(500, "database down"));
    let o = probe_http("fail_if_body_matches_regexp: [database]", &server.url("/")).await;
    o.assert_success(false);
    assert_metric(&o, "probe_failed_due_to_regex", 0.0);
}

/// A server answering 200 with the given headers.
fn header_server(headers: &[(&str, &str)]) -> HttpServer {
    let mut resp = TestResponse::ok();
    for (k, v) in headers {
        resp = resp.with_header(k, v);
    }
    HttpServer::plain(handlers::always(resp))
}

fn matcher_yaml(key: &str, header: &str, regexp: &str, allow_missing: bool) -> String {
    format!(
        "{key}:\n  - header: {header}\n    regexp: {regexp:?}\n    allow_missing: {allow_missing}"
    )
}

#[tokio::test]
async fn fail_if_header_matches() {
    type Case<'a> = (&'a str, &'a str, bool, &'a [(&'a str, &'a str)], bool);
    let cases: &[Case] = &[
        // (header, regexp, allow_missing, response headers, want success)
        (
            "Content-Type",
            "text/javascript",
            false,
            &[("content-type", "text/javascript")],
            false,
        ),
        (
            "content-type",
            "text/javascript",
            false,
            &[("Content-Type", "text/javascript")],
            false,
        ),
        (
            "Content-Type",
            "text/javascript",
            false,
            &[("content-type", "application/octet-stream")],
            true,
        ),
        ("X-Missing", "anything", false, &[], false),
        ("X-Missing", "anything", true, &[], true),
        (
            "Set-Cookie",
            "^session=",
            false,
            &[("set-cookie", "theme=dark"), ("set-cookie", "session=42")],
            false,
        ),
        (
            "Set-Cookie",
            "^other=",
            false,
            &[("set-cookie", "theme=dark"), ("set-cookie", "session=42")],
            true,
        ),
        ("X-Empty", "^$", false, &[("x-empty", "")], false),
    ];
    for &(header, regexp, allow_missing, headers, want) in cases {
        let server = header_server(headers);
        let yaml = matcher_yaml("fail_if_header_matches", header, regexp, allow_missing);
        let o = probe_http(&yaml, &server.url("/")).await;
        assert_eq!(
            o.success,
            want,
            "{header} =~ {regexp} against {headers:?}\n{}",
            o.dump()
        );
        assert_metric(
            &o,
            "probe_failed_due_to_regex",
            if want { 0.0 } else { 1.0 },
        );
    }
}

#[tokio::test]
async fn fail_if_header_not_matches() {
    type Case<'a> = (&'a str, &'a str, bool, &'a [(&'a str, &'a str)], bool);
    let cases: &[Case] = &[
        (
            "Access-Control-Allow-Origin",
            "^\\*$",
            false,
            &[("access-control-allow-origin", "*")],
            true,
        ),
        (
            "access-control-allow-origin",
            "^\\*$",
            false,
            &[("Access-Control-Allow-Origin", "example.com")],
            false,
        ),
        ("X-Missing", "anything", false, &[], false),
        ("X-Missing", "anything", true, &[], true),
        (
            "Set-Cookie",
            "^session=",
            false,
            &[("set-cookie", "theme=dark"), ("set-cookie", "session=42")],
            true,
        ),
        (
            "Set-Cookie",
            "^other=",
            false,
            &[("set-cookie", "theme=dark"), ("set-cookie", "session=42")],
            false,
        ),
        // An empty value is present (and matches ^$); a missing header is not.
        ("X-Empty", "^$", false, &[("x-empty", "")], true),
        ("X-Empty", "^$", false, &[], false),
    ];
    for &(header, regexp, allow_missing, headers, want) in cases {
        let server = header_server(headers);
        let yaml = matcher_yaml("fail_if_header_not_matches", header, regexp, allow_missing);
        let o = probe_http(&yaml, &server.url("/")).await;
        assert_eq!(
            o.success,
            want,
            "{header} !~ {regexp} against {headers:?}\n{}",
            o.dump()
        );
        assert_metric(
            &o,
            "probe_failed_due_to_regex",
            if want { 0.0 } else { 1.0 },
        );
    }
}

// ---------------------------------------------------------------------------
// SSL requirements
// ---------------------------------------------------------------------------

#[tokio::test]
async fn fail_if_not_ssl_on_plain_http() {
    let server = HttpServer::plain(handlers::ok());
    let o = probe_http("fail_if_not_ssl: true", &server.url("/")).await;
    o.assert_success(false);
    assert_metric(&o, "probe_http_ssl", 0.0);
    assert_metric(&o, "probe_http_status_code", 200.0);
    assert!(
        o.log.contains("Final request was not over SSL"),
        "{}",
        o.log
    );

    // No response at all: the probe fails, but not "because of SSL".
    let o = probe_http(
        "fail_if_not_ssl: true",
        &format!("http://127.0.0.1:{}/", closed_port()),
    )
    .await;
    o.assert_success(false);
    assert!(
        !o.log.contains("Final request was not over SSL"),
        "{}",
        o.log
    );
}

#[tokio::test]
async fn fail_if_ssl_and_fail_if_not_ssl_over_tls() {
    let ca = TestCa::new("blackwatch test CA");
    let ca_file = ca.write_ca_file();
    let server = HttpServer::tls(&ca.localhost(), handlers::ok());
    let tls = format!("tls_config:\n  ca_file: {}", yaml_path(&ca_file));

    let o = probe_http(&format!("fail_if_ssl: true\n{tls}"), &server.url("/")).await;
    o.assert_success(false);
    assert_metric(&o, "probe_http_ssl", 1.0);

    let o = probe_http(&format!("fail_if_not_ssl: true\n{tls}"), &server.url("/")).await;
    o.assert_success(true);
    assert_metric(&o, "probe_http_ssl", 1.0);
}

// ---------------------------------------------------------------------------
// TLS verification
// ---------------------------------------------------------------------------

#[tokio::test]
async fn self_signed_certificate_fails_unless_verification_is_skipped() {
    let server = HttpServer::tls(&self_signed_localhost(), handlers::ok());
    let target = server.localhost_url("/");

    let o = probe_http("", &target).await;
    o.assert_success(false);
    assert_metric(&o, "probe_http_ssl", 0.0);
    assert_metric(&o, "probe_http_status_code", 0.0);
    assert!(
        ssl_metric_names(&o).is_empty(),
        "no TLS metrics without a handshake\n{}",
        o.dump()
    );

    // A hop without a usable connection contributes its resolve time only.
    for phase in ["connect", "tls", "processing", "transfer"] {
        assert_eq!(
            o.value_with("probe_http_duration_seconds", &[("phase", phase)]),
            0.0,
            "{phase}\n{}",
            o.dump()
        );
    }

    let o = probe_http("tls_config:\n  insecure_skip_verify: true", &target).await;
    o.assert_success(true);
    assert_metric(&o, "probe_http_ssl", 1.0);
    assert_metric(
        &o,
        "probe_ssl_last_chain_expiry_timestamp_seconds",
        -62135596800.0,
    );
}

#[tokio::test]
async fn ca_file_makes_a_private_ca_trusted() {
    let ca = TestCa::new("blackwatch test CA");
    let ca_file = ca.write_ca_file();
    let cert = ca.localhost();
    let server = HttpServer::tls(&cert, handlers::ok());
    let yaml = format!("tls_config:\n  ca_file: {}", yaml_path(&ca_file));
    for target in [server.url("/"), server.localhost_url("/")] {
        let o = probe_http(&yaml, &target).await;
        assert!(o.success, "{target}\n{}", o.dump());
        assert_metric(&o, "probe_http_ssl", 1.0);
        assert_metric(
            &o,
            "probe_ssl_earliest_cert_expiry",
            cert.leaf().not_after() as f64,
        );
        assert_metric(
            &o,
            "probe_ssl_last_chain_expiry_timestamp_seconds",
            cert.leaf().not_after().min(ca.cert().not_after()) as f64,
        );
    }

    // Another CA does not verify it.
    let other = TestCa::new("another CA");
    let other_file = other.write_ca_file();
    let o = probe_http(
        &format!("tls_config:\n  ca_file: {}", yaml_path(&other_file)),
        &server.url("/"),
    )
    .await;
    o.assert_success(false);

    // A CA file that cannot be read fails the probe, not the config.
    let o = probe_http(
        "tls_config:\n  ca_file: /nonexistent/blackwatch/ca.pem",
        &server.url("/"),
    )
    .await;
    o.assert_success(false);
}

#[tokio::test]
async fn tls_config_is_ignored_for_plain_http() {
    let yaml =
        "tls_config:\n  ca_file: /nonexistent/blackwatch/ca.pem\n  insecure_skip_verify: false";
    let plain = HttpServer::plain(handlers::ok());
    let o = probe_http(yaml, &plain.url("/")).await;
    o.assert_success(true);
    assert_metric(&o, "probe_http_ssl", 0.0);
    assert!(ssl_metric_names(&o).is_empty(), "{}", o.dump());
}

#[tokio::test]
async fn target_hostname_is_the_tls_server_name() {
    let ca = TestCa::new("blackwatch test CA");
    let ca_file = ca.write_ca_file();
    // No IP SAN: only the name `localhost` verifies.
    let server = HttpServer::tls(&ca.localhost_without_ip(), handlers::ok());
    let tls = format!("tls_config:\n  ca_file: {}", yaml_path(&ca_file));

    let o = probe_http(&tls, &server.localhost_url("/")).await;
    o.assert_success(true);
    let req = server.last_request().expect("request");
    let sni = req.tls.as_ref().and_then(|t| t.sni.clone());
    assert_eq!(sni.as_deref(), Some("localhost"));
    assert_eq!(req.local_addr.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));

    // By IP, the name does not verify...
    let o = probe_http(&tls, &server.url("/")).await;
    o.assert_success(false);

    // ...unless server_name or a Host header names it.
    let o = probe_http(
        &format!("{tls}\n  server_name: localhost"),
        &server.url("/"),
    )
    .await;
    o.assert_success(true);
    let o = probe_http(
        &format!("{tls}\nheaders:\n  Host: localhost"),
        &server.url("/"),
    )
    .await;
    o.assert_success(true);
    let req = server.last_request().expect("request");
    assert_eq!(
        req.tls.as_ref().and_then(|t| t.sni.clone()).as_deref(),
        Some("localhost")
    );
}

#[tokio::test]
async fn expired_certificate_fails_without_tls_metrics() {
    let ca = TestCa::new("blackwatch test CA");
    let ca_file = ca.write_ca_file();
    let server = HttpServer::tls(&ca.expired_localhost(), handlers::ok());
    let o = probe_http(
        &format!("tls_config:\n  ca_file: {}", yaml_path(&ca_file)),
        &server.url("/"),
    )
    .await;
    o.assert_success(false);
    assert_metric(&o, "probe_http_ssl", 0.0);
    assert_metric(&o, "probe_http_status_code", 0.0);
    assert!(
        ssl_metric_names(&o).is_empty(),
        "no probe_ssl_*/probe_tls_* after a failed handshake (#1119)\n{}",
        o.dump()
    );
}

#[tokio::test]
async fn chain_with_an_older_root() {
    let chain = OlderRootChain::generate();
    let ca_file = chain.write_ca_file();
    let server = HttpServer::tls(&chain.server, handlers::ok());

    let o = probe_http(
        &format!("tls_config:\n  ca_file: {}", yaml_path(&ca_file)),
        &server.url("/"),
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

    // Unverified: the earliest expiry is still reported, the chain expiry is Go's zero time.
    let o = probe_http(
        "tls_config:\n  insecure_skip_verify: true",
        &server.url("/"),
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
        -62135596800.0,
    );
    assert!(
        o.registry
            .encode_text()
            .contains("probe_ssl_last_chain_expiry_timestamp_seconds -6.21355968e+10\n"),
        "{}",
        o.dump()
    );
}

fn serial_hex(cert: &Cert) -> String {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.der_bytes()).expect("parse");
    parsed
        .serial
        .to_bytes_be()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn leaf_certificate_info_and_tls_version() {
    let ca = TestCa::new("blackwatch test CA");
    let ca_file = ca.write_ca_file();
    let spec = LeafSpec {
        common_name: "localhost".to_string(),
        dns_names: vec!["localhost".to_string(), "www.example.test".to_string()],
        ip_addrs: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        validity: Validity::default(),
        ca: false,
        rsa: false,
    };
    let cert = ca.issue(&spec);
    let tls = format!("tls_config:\n  ca_file: {}", yaml_path(&ca_file));

    for (options, version) in [
        (TlsOptions::default(), "TLS 1.3"),
        (TlsOptions::default().tls12_only(), "TLS 1.2"),
    ] {
        let server = HttpServer::tls_with(&cert, options, handlers::ok());
        let o = probe_http(&tls, &server.localhost_url("/")).await;
        o.assert_success(true);

        let info = o.metrics.family("probe_ssl_last_chain_info");
        assert_eq!(info.len(), 1, "{}", o.dump());
        let labels = &info[0].labels;
        let fingerprint: String = Sha256::digest(cert.leaf().der_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let serial = serial_hex(cert.leaf());
        assert_eq!(labels["subject"], "CN=localhost,O=blackwatch tests");
        assert_eq!(labels["issuer"], "CN=blackwatch test CA,O=blackwatch tests");
        assert_eq!(labels["subjectalternative"], "localhost,www.example.test");
        assert_eq!(labels["fingerprint_sha256"], fingerprint);
        assert_eq!(labels["serialnumber"], serial);
        assert_eq!(serial, serial.to_lowercase());
        assert_eq!(serial.len() % 2, 0, "whole bytes, leading zero kept");
        assert_eq!(info[0].value, 1.0);

        assert_eq!(
            o.value_with("probe_tls_version_info", &[("version", version)]),
            1.0
        );
        assert_eq!(o.metrics.family("probe_tls_version_info").len(), 1);
        let cipher = o.metrics.family("probe_tls_cipher_info");
        assert_eq!(cipher.len(), 1, "{}", o.dump());
        assert!(cipher[0].labels["cipher"].starts_with("TLS_"), "{cipher:?}");
    }
}

#[tokio::test]
async fn https_reports_all_five_phases() {
    let ca = TestCa::new("blackwatch test CA");
    let ca_file = ca.write_ca_file();
    let server = HttpServer::tls(&ca.localhost(), handlers::ok());
    let o = probe_http(
        &format!("tls_config:\n  ca_file: {}", yaml_path(&ca_file)),
        &server.url("/"),
    )
    .await;
    o.assert_success(true);
    let phases = o.metrics.family("probe_http_duration_seconds");
    let mut names: Vec<&str> = phases.iter().map(|s| s.labels["phase"].as_str()).collect();
    names.sort_unstable();
    let mut want = PHASES.to_vec();
    want.sort_unstable();
    assert_eq!(names, want, "{}", o.dump());
    assert!(
        o.value_with("probe_http_duration_seconds", &[("phase", "tls")]) > 0.0,
        "{}",
        o.dump()
    );
    assert!(o.value_with("probe_http_duration_seconds", &[("phase", "connect")]) > 0.0);
    let sum: f64 = phases.iter().map(|s| s.value).sum();
    assert!(
        sum <= o.value("probe_duration_seconds") + 1e-3,
        "{}",
        o.dump()
    );
}

#[tokio::test]
async fn plain_http_phases_have_no_tls_time() {
    let server = HttpServer::plain(handlers::ok());
    let o = probe_http("", &server.url("/")).await;
    o.assert_success(true);
    for phase in PHASES {
        assert!(
            o.metrics
                .get_with("probe_http_duration_seconds", &[("phase", phase)])
                .is_some(),
            "{phase}\n{}",
            o.dump()
        );
    }
    assert_eq!(
        o.value_with("probe_http_duration_seconds", &[("phase", "tls")]),
        0.0
    );
}

#[tokio::test]
async fn phases_are_summed_over_redirects() {
    let delay = Duration::from_millis(300);
    let server =
        HttpServer::plain(move |req: &TestRequest| handlers::redirects()(req).with_delay(delay));
    let o = probe_http("", &server.url("/redirect/2")).await;
    o.assert_success(true);
    assert_metric(&o, "probe_http_redirects", 2.0);
    let processing = o.value_with("probe_http_duration_seconds", &[("phase", "processing")]);
    assert!(
        processing >= 0.85,
        "three delayed responses sum to ~0.9s, got {processing}\n{}",
        o.dump()
    );
    assert!(processing <= o.value("probe_duration_seconds"));
}

// ---------------------------------------------------------------------------
// HTTP/2
// ---------------------------------------------------------------------------

#[tokio::test]
async fn http2_is_negotiated_by_alpn_unless_disabled() {
    let ca = TestCa::new("blackwatch test CA");
    let ca_file = ca.write_ca_file();
    let server = HttpServer::tls(&ca.localhost(), handlers::fixed(200, "over h2"));
    let tls = format!("tls_config:\n  ca_file: {}", yaml_path(&ca_file));

    let o = probe_http(&tls, &server.localhost_url("/h2")).await;
    o.assert_success(true);
    assert_metric(&o, "probe_http_version", 2.0);
    assert_metric(&o, "probe_http_uncompressed_body_length", 7.0);
    let req = server.last_request().expect("request");
    assert_eq!(req.version, http::Version::HTTP_2);
    assert_eq!(req.path(), "/h2");
    assert_eq!(
        req.host().as_deref(),
        Some(format!("localhost:{}", server.port()).as_str())
    );

    let o = probe_http(
        &format!("{tls}\nvalid_http_versions: [HTTP/2.0]"),
        &server.localhost_url("/"),
    )
    .await;
    o.assert_success(true);
    let o = probe_http(
        &format!("{tls}\nvalid_http_versions: [HTTP/1.1]"),
        &server.localhost_url("/"),
    )
    .await;
    o.assert_success(false);

    let o = probe_http(
        &format!("{tls}\nenable_http2: false"),
        &server.localhost_url("/h1"),
    )
    .await;
    o.assert_success(true);
    assert_metric(&o, "probe_http_version", 1.1);
    assert_eq!(
        server.last_request().expect("request").version,
        http::Version::HTTP_11
    );
}

// ---------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------

#[tokio::test]
async fn target_scheme_parsing() {
    let plain = HttpServer::plain(handlers::ok());
    let tls = HttpServer::tls(&self_signed_localhost(), handlers::ok());
    let insecure = "tls_config:\n  insecure_skip_verify: true";
    let cases = [
        (format!("http://{}/", plain.addr()), true, 0.0),
        (format!("HTTP://{}/", plain.addr()), true, 0.0),
        (format!("{}/", plain.addr()), true, 0.0),
        (plain.addr().to_string(), true, 0.0),
        (format!("https://{}/", tls.addr()), true, 1.0),
        (format!("HtTpS://{}/", tls.addr()), true, 1.0),
    ];
    for (target, want, ssl) in cases {
        let o = probe_http(insecure, &target).await;
        assert_eq!(o.success, want, "{target}\n{}", o.dump());
        assert_metric(&o, "probe_http_ssl", ssl);
    }
    let before = plain.request_count();
    let o = probe_http(insecure, &format!("invalid://{}/", plain.addr())).await;
    o.assert_success(false);
    assert!(o.log.contains("unsupported protocol scheme"), "{}", o.log);
    assert!(
        !o.log.contains("Resolving target address"),
        "the scheme is not looked up as a host name\n{}",
        o.log
    );
    assert_metric(&o, "probe_http_status_code", 0.0);
    assert_eq!(plain.request_count(), before, "nothing was requested");
}

#[tokio::test]
async fn connection_refused_reports_status_zero() {
    let o = probe_http("", &format!("http://127.0.0.1:{}/", closed_port())).await;
    o.assert_success(false);
    assert_metric(&o, "probe_http_status_code", 0.0);
    assert_metric(&o, "probe_http_content_length", 0.0);
    assert_metric(&o, "probe_http_version", 0.0);
    assert_metric(&o, "probe_ip_protocol", 4.0);
    for phase in PHASES {
        assert!(
            o.metrics
                .get_with("probe_http_duration_seconds", &[("phase", phase)])
                .is_some(),
            "{phase}\n{}",
            o.dump()
        );
    }
}

#[tokio::test]
async fn resolution_failure_reports_only_the_resolve_phase() {
    // localhost is 127.0.0.1 only here, so IPv6 without fallback finds nothing (no DNS query).
    let o = probe_http(
        "preferred_ip_protocol: ip6\nip_protocol_fallback: false",
        "http://localhost:1/",
    )
    .await;
    o.assert_success(false);
    assert_metric(&o, "probe_ip_protocol", 0.0);
    assert_metric(&o, "probe_ip_addr_hash", 0.0);
    let phases: Vec<String> = o
        .metrics
        .family("probe_http_duration_seconds")
        .iter()
        .map(|s| s.labels["phase"].clone())
        .collect();
    assert_eq!(phases, ["resolve"], "{}", o.dump());

    // With IPv4 preferred the same target resolves.
    let server = HttpServer::plain(handlers::ok());
    let o = probe_http(
        "preferred_ip_protocol: ip4\nip_protocol_fallback: false",
        &server.localhost_url("/"),
    )
    .await;
    o.assert_success(true);
    assert_metric(&o, "probe_ip_protocol", 4.0);
}

// ---------------------------------------------------------------------------
// Timeouts, large bodies, Last-Modified
// ---------------------------------------------------------------------------

#[tokio::test]
async fn slow_response_hits_the_module_timeout() {
    let server = HttpServer::plain(handlers::slow(Duration::from_secs(10), 200));
    let module = "prober: http\ntimeout: 1s\nhttp: {}";
    let o = crate::support::probe_with(module, &server.url("/")).await;
    o.assert_success(false);
    assert!(
        o.elapsed < Duration::from_secs(4),
        "took {:?}\n{}",
        o.elapsed,
        o.dump()
    );
    assert_metric(&o, "probe_timeout_seconds", 1.0);
    // What was measured before the timeout is still reported.
    for phase in ["resolve", "connect"] {
        assert!(
            o.value_with("probe_http_duration_seconds", &[("phase", phase)]) > 0.0,
            "{phase}\n{}",
            o.dump()
        );
    }
    assert_eq!(
        o.value_with("probe_http_duration_seconds", &[("phase", "processing")]),
        0.0
    );
    let d = o.value("probe_duration_seconds");
    assert!((0.9..4.0).contains(&d), "probe_duration_seconds {d}");

    // A slow body counts too.
    let server = HttpServer::plain(handlers::always(
        TestResponse::ok()
            .with_body("a".repeat(20))
            .chunked_with(1, Some(Duration::from_millis(300))),
    ));
    let o = crate::support::probe_with(module, &server.url("/")).await;
    o.assert_success(false);
    assert!(o.elapsed < Duration::from_secs(4), "took {:?}", o.elapsed);
}

#[tokio::test]
async fn large_bodies_are_read_in_full() {
    const LEN: usize = 8 * 1024 * 1024;
    let server = HttpServer::plain(handlers::large(LEN));
    let o = probe_http(
        "fail_if_body_not_matches_regexp: ['(?m)^0123456789']",
        &server.url("/"),
    )
    .await;
    o.assert_success(true);
    assert_metric(&o, "probe_http_content_length", LEN as f64);
    assert_metric(&o, "probe_http_uncompressed_body_length", LEN as f64);
    assert!(o.value_with("probe_http_duration_seconds", &[("phase", "transfer")]) > 0.0);

    let server = HttpServer::plain(handlers::always(
        TestResponse::ok()
            .with_body(crate::support::http::large_body(LEN))
            .chunked(),
    ));
    let o = probe_http("", &server.url("/")).await;
    o.assert_success(true);
    assert_metric(&o, "probe_http_content_length", -1.0);
    assert_metric(&o, "probe_http_uncompressed_body_length", LEN as f64);
}

#[tokio::test]
async fn last_modified_header_becomes_a_timestamp() {
    let server = HttpServer::plain(handlers::always(
        TestResponse::ok().with_header("last-modified", "Wed, 21 Oct 2015 07:28:00 GMT"),
    ));
    let o = probe_http("", &server.url("/")).await;
    o.assert_success(true);
    assert_metric(
        &o,
        "probe_http_last_modified_timestamp_seconds",
        1_445_412_480.0,
    );

    let server = HttpServer::plain(handlers::always(
        TestResponse::ok().with_header("last-modified", "yesterday"),
    ));
    let o = probe_http("", &server.url("/")).await;
    o.assert_success(true);
    assert!(!o.metrics.has("probe_http_last_modified_timestamp_seconds"));
}

// ---------------------------------------------------------------------------
// Host, SNI and redirects of the request itself
// ---------------------------------------------------------------------------

#[tokio::test]
async fn hostname_parameter_sets_host_and_sni() {
    let ca = TestCa::new("blackwatch test CA");
    let ca_file = ca.write_ca_file();
    let server = HttpServer::tls(&ca.localhost_without_ip(), handlers::ok());
    let cfg = crate::support::module_config(&crate::support::http_module_yaml(&format!(
        "tls_config:\n  ca_file: {}",
        yaml_path(&ca_file)
    )));
    let target = server.url("/");

    let o = crate::support::run_probe(&cfg, crate::support::MODULE, &target, None).await;
    o.assert_success(false);

    let o =
        crate::support::run_probe(&cfg, crate::support::MODULE, &target, Some("localhost")).await;
    o.assert_success(true);
    let req = server.last_request().expect("request");
    assert_eq!(req.host().as_deref(), Some("localhost"));
    assert_eq!(
        req.tls.as_ref().and_then(|t| t.sni.clone()).as_deref(),
        Some("localhost")
    );
}

#[tokio::test]
async fn relative_redirects_keep_the_configured_host_and_headers() {
    let server = HttpServer::plain(handlers::redirects());
    let o = probe_http(
        "headers:\n  Host: virtual.example\n  X-Custom: kept",
        &server.url("/redirect/1"),
    )
    .await;
    o.assert_success(true);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.host().as_deref(), Some("virtual.example"), "{}", r.path());
        assert_eq!(r.header("x-custom"), Some("kept"), "{}", r.path());
    }
}

#[tokio::test]
async fn redirect_method_rules_follow_go() {
    let server = HttpServer::plain(|req: &TestRequest| match req.path() {
        "/302" => TestResponse::redirect(302, "/done"),
        "/307" => TestResponse::redirect(307, "/done"),
        _ => TestResponse::ok(),
    });
    let yaml = "method: POST\nbody: payload";

    let o = probe_http(yaml, &server.url("/302")).await;
    o.assert_success(true);
    let reqs = server.requests();
    assert_eq!(reqs[0].method, http::Method::POST);
    assert_eq!(reqs[1].method, http::Method::GET, "302 turns POST into GET");
    assert!(reqs[1].body.is_empty());

    server.clear_requests();
    let o = probe_http(yaml, &server.url("/307")).await;
    o.assert_success(true);
    let reqs = server.requests();
    assert_eq!(reqs[1].method, http::Method::POST, "307 keeps the method");
    assert_eq!(reqs[1].body_str(), "payload");
}

#[tokio::test]
async fn redirect_to_another_tls_host_uses_that_host_as_server_name() {
    let ca = TestCa::new("blackwatch test CA");
    let ca_file = ca.write_ca_file();
    let tls = HttpServer::tls(&ca.localhost_without_ip(), handlers::ok());
    let location = tls.localhost_url("/secure");
    let plain = HttpServer::plain(move |_: &TestRequest| TestResponse::redirect(301, &location));
    // The configured server_name applies to the first host only.
    let yaml = format!(
        "tls_config:\n  ca_file: {}\n  server_name: wrong.example",
        yaml_path(&ca_file)
    );
    let o = probe_http(&yaml, &plain.url("/")).await;
    o.assert_success(true);
    assert_metric(&o, "probe_http_ssl", 1.0);
    assert_metric(&o, "probe_http_redirects", 1.0);
    let req = tls.last_request().expect("the TLS host was reached");
    assert_eq!(req.path(), "/secure");
    assert_eq!(
        req.tls.as_ref().and_then(|t| t.sni.clone()).as_deref(),
        Some("localhost")
    );
    assert!(o.value("probe_ssl_earliest_cert_expiry") > 0.0);
}
