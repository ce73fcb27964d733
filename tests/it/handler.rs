//! The HTTP surface over real HTTP against an in-process server: `/probe` semantics
//! (upstream `prober/handler_test.go` and §3.1 of the reference), `/logs`, `/`,
//! `/-/healthy`, `/-/ready`, `/-/reload`, `/config` and `/metrics`.

use std::io::Read as _;
use std::time::Duration;

use crate::support::{handlers, HttpServer, TestRequest, TestResponse};
use crate::support::{Daemon, HttpResponse, Metrics};

const SECRET_TOKEN: &str = "s3cr3t-token-value";
const SECRET_PASSWORD: &str = "hunter2-password";

fn config_yaml() -> String {
    format!(
        r#"
        modules:
          http_2xx:
            prober: http
            timeout: 5s
            http:
              headers:
                X-Module: http_2xx
          other:
            prober: http
            timeout: 5s
            http:
              headers:
                X-Module: other
          secret:
            prober: http
            timeout: 5s
            http:
              bearer_token: {SECRET_TOKEN}
          basic:
            prober: http
            timeout: 5s
            http:
              basic_auth:
                username: user
                password: {SECRET_PASSWORD}
          with_host:
            prober: http
            timeout: 5s
            http:
              headers:
                Host: configured.example
          no_timeout:
            prober: http
            http: {{}}
        "#
    )
}

async fn daemon() -> Daemon {
    Daemon::start(&config_yaml()).await
}

/// Percent-encodes a query parameter value.
fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn probe_path(target: &str, extra: &str) -> String {
    format!("/probe?target={}{extra}", enc(target))
}

#[track_caller]
fn assert_status(resp: &HttpResponse, status: u16, body: &str) {
    assert_eq!(
        (resp.status, resp.text().as_str()),
        (status, body),
        "unexpected response"
    );
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

// ---------------------------------------------------------------------------
// /probe
// ---------------------------------------------------------------------------

#[tokio::test]
async fn probe_uses_http_2xx_by_default_and_the_named_module_otherwise() {
    let d = daemon().await;
    let target = HttpServer::plain(handlers::ok());
    let url = target.url("/");

    for (extra, module) in [
        ("", "http_2xx"),
        ("&module=", "http_2xx"),
        ("&module=other", "other"),
    ] {
        let resp = d.get(&probe_path(&url, extra)).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(
            resp.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let m = resp.metrics();
        assert_eq!(m.value("probe_success"), 1.0, "{}", resp.text());
        assert_eq!(m.value("probe_http_status_code"), 200.0);
        assert!(m.has("probe_duration_seconds"));
        assert_eq!(m.value("probe_timeout_seconds"), 5.0);
        let req = target.last_request().expect("the target was probed");
        assert_eq!(req.header("x-module"), Some(module), "{extra}");
    }
}

#[tokio::test]
async fn failed_probe_is_still_200() {
    let d = daemon().await;
    let resp = d
        .get(&probe_path(
            &format!("http://127.0.0.1:{}/", closed_port()),
            "",
        ))
        .await;
    assert_eq!(resp.status, 200);
    let m = resp.metrics();
    assert_eq!(m.value("probe_success"), 0.0);
    assert_eq!(m.value("probe_http_status_code"), 0.0);
}

#[tokio::test]
async fn unknown_module_is_400_counted_and_checked_before_the_target() {
    let d = daemon().await;
    assert_eq!(
        d.self_metrics()
            .await
            .value("blackbox_module_unknown_total"),
        0.0
    );

    let resp = d.get("/probe?module=nope&target=127.0.0.1:1").await;
    assert_status(&resp, 400, "Unknown module \"nope\"\n");
    assert_eq!(
        d.self_metrics()
            .await
            .value("blackbox_module_unknown_total"),
        1.0
    );

    let resp = d.get("/probe?module=nope").await;
    assert_status(&resp, 400, "Unknown module \"nope\"\n");
    assert_eq!(
        d.self_metrics()
            .await
            .value("blackbox_module_unknown_total"),
        2.0
    );

    // Rejected requests are not probes: nothing enters the history.
    let resp = d.get("/logs?target=127.0.0.1:1").await;
    assert_eq!(resp.status, 404);
}

#[tokio::test]
async fn missing_target_is_400() {
    let d = daemon().await;
    for path in ["/probe", "/probe?target=", "/probe?module=other"] {
        let resp = d.get(path).await;
        assert_status(&resp, 400, "Target parameter is missing\n");
    }
    assert_eq!(
        d.self_metrics()
            .await
            .value("blackbox_module_unknown_total"),
        0.0
    );
}

#[tokio::test]
async fn bad_scrape_timeout_header_is_500() {
    let d = daemon().await;
    let resp = d
        .get_with(
            "/probe?target=127.0.0.1:1",
            &[("X-Prometheus-Scrape-Timeout-Seconds", "abc")],
        )
        .await;
    assert_status(
        &resp,
        500,
        "Failed to parse timeout from Prometheus header: strconv.ParseFloat: parsing \"abc\": invalid syntax\n",
    );
}

#[tokio::test]
async fn scrape_timeout_header_bounds_the_probe() {
    // Upstream TestPrometheusTimeoutHTTP: header 1 s, offset 0.5 s, the target sleeps 2 s.
    let d = daemon().await;
    let slow = HttpServer::plain(handlers::slow(Duration::from_secs(2), 200));
    let start = tokio::time::Instant::now();
    let resp = d
        .get_with(
            &probe_path(&slow.url("/"), "&module=no_timeout"),
            &[("X-Prometheus-Scrape-Timeout-Seconds", "1")],
        )
        .await;
    let took = start.elapsed();
    assert_eq!(resp.status, 200, "{}", resp.text());
    let m = resp.metrics();
    assert_eq!(m.value("probe_success"), 0.0);
    assert_eq!(m.value("probe_timeout_seconds"), 0.5);
    assert!(took < Duration::from_millis(1900), "took {took:?}");

    // The module timeout wins when smaller; without a header the default is 120 - 0.5.
    let fast = HttpServer::plain(handlers::ok());
    let resp = d
        .get_with(
            &probe_path(&fast.url("/"), ""),
            &[("X-Prometheus-Scrape-Timeout-Seconds", "15")],
        )
        .await;
    assert_eq!(resp.metrics().value("probe_timeout_seconds"), 5.0);
    let resp = d
        .get(&probe_path(&fast.url("/"), "&module=no_timeout"))
        .await;
    assert_eq!(resp.metrics().value("probe_timeout_seconds"), 119.5);
    let resp = d
        .get_with(
            &probe_path(&fast.url("/"), "&module=no_timeout"),
            &[("X-Prometheus-Scrape-Timeout-Seconds", "10")],
        )
        .await;
    assert_eq!(resp.metrics().value("probe_timeout_seconds"), 9.5);
}

#[tokio::test]
async fn debug_output_layout_and_hidden_secrets() {
    let d = daemon().await;
    let target = HttpServer::plain(handlers::ok());
    let url = target.url("/");
    let resp = d.get(&probe_path(&url, "&module=secret&debug=true")).await;
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain") && !c.contains("version=0.0.4")),
        "{:?}",
        resp.header("content-type")
    );
    let body = resp.text();

    // The token was really used...
    let req = target.last_request().expect("probed");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {SECRET_TOKEN}").as_str())
    );
    // ...and is never shown.
    assert!(!body.contains(SECRET_TOKEN), "{body}");

    let logs_header = "Logs for the probe:\n";
    let metrics_header = "\n\n\nMetrics that would have been returned:\n";
    let module_header = "\n\n\nModule configuration:\n";
    assert!(body.starts_with(logs_header), "{body}");
    let m_at = body.find(metrics_header).expect("metrics section");
    let c_at = body.find(module_header).expect("module section");
    assert!(m_at < c_at, "{body}");
    assert_eq!(body.matches(metrics_header).count(), 1);
    assert_eq!(body.matches(module_header).count(), 1);

    let logs = &body[logs_header.len()..m_at];
    assert!(!logs.trim().is_empty(), "{body}");
    for line in logs.lines().filter(|l| !l.is_empty()) {
        assert!(line.contains("module=secret"), "{line}");
        assert!(line.contains(&format!("target={url}")), "{line}");
    }
    let metrics = Metrics::parse(&body[m_at + metrics_header.len()..c_at]);
    assert_eq!(metrics.value("probe_success"), 1.0);
    assert_eq!(metrics.value("probe_http_status_code"), 200.0);
    let module = &body[c_at + module_header.len()..];
    assert!(module.contains("prober: http"), "{module}");
    assert!(module.contains("<secret>"), "{module}");
    assert!(module.contains("bearer_token"), "{module}");
}

#[tokio::test]
async fn hostname_parameter_sets_host_and_conflicts_with_a_module_host() {
    let d = daemon().await;
    let target = HttpServer::plain(handlers::ok());
    let url = target.url("/");

    let resp = d.get(&probe_path(&url, "&hostname=virtual.example")).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.metrics().value("probe_success"), 1.0);
    let req = target.last_request().expect("probed");
    assert_eq!(req.host().as_deref(), Some("virtual.example"));

    let resp = d
        .get(&probe_path(
            &url,
            "&module=with_host&hostname=other.example",
        ))
        .await;
    assert_status(
        &resp,
        400,
        "host header defined both in module configuration (configured.example) and with URL-parameter 'hostname' (other.example)\n",
    );

    // The same value is no conflict.
    let resp = d
        .get(&probe_path(
            &url,
            "&module=with_host&hostname=configured.example",
        ))
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        target.last_request().expect("probed").host().as_deref(),
        Some("configured.example")
    );
}

#[tokio::test]
async fn target_is_unescaped_once_more() {
    // Upstream TestURLDecoding (master): a target encoded twice by relabelling still works.
    let d = daemon().await;
    let target = HttpServer::plain(handlers::ok());
    let port = target.port();
    let cases = [
        format!("http://127.0.0.1:{port}/plain"),
        format!("http://127.0.0.1%3A{port}/double-encoded-port"),
        format!("http://127.0.0.1:{port}/a%3Ab"),
        enc(&format!("http://127.0.0.1:{port}/fully-encoded")),
    ];
    for t in &cases {
        // `enc` adds the query-string layer of encoding.
        let resp = d.get(&probe_path(t, "")).await;
        assert_eq!(resp.status, 200);
        assert_eq!(
            resp.metrics().value("probe_success"),
            1.0,
            "{t}\n{}",
            resp.text()
        );
    }
    let paths = target.requested_paths();
    assert_eq!(
        paths,
        ["/plain", "/double-encoded-port", "/a:b", "/fully-encoded"]
    );
}

// ---------------------------------------------------------------------------
// History: /logs and /
// ---------------------------------------------------------------------------

#[tokio::test]
async fn logs_by_id_and_by_target() {
    let d = daemon().await;
    let ok = HttpServer::plain(handlers::ok());
    let ok_url = ok.url("/");
    let bad_url = format!("http://127.0.0.1:{}/", closed_port());

    // id 0: ok_url with http_2xx; id 1: bad_url (debug); id 2: ok_url with `other`.
    assert_eq!(d.get(&probe_path(&ok_url, "")).await.status, 200);
    let debug = d.get(&probe_path(&bad_url, "&debug=true")).await;
    assert_eq!(debug.status, 200);
    assert_eq!(
        d.get(&probe_path(&ok_url, "&module=other")).await.status,
        200
    );

    let resp = d.get("/logs?id=1").await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), debug.text(), "the stored debug text is served");

    let first = d.get("/logs?id=0").await;
    assert_eq!(first.status, 200);
    assert!(first.text().starts_with("Logs for the probe:\n"));
    assert!(first.text().contains("module=http_2xx"));
    assert!(first.text().contains("probe_success 1"));

    // By target: the oldest matching entry, optionally filtered by module.
    let resp = d.get(&format!("/logs?target={}", enc(&ok_url))).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), first.text());
    let resp = d
        .get(&format!("/logs?target={}&module=other", enc(&ok_url)))
        .await;
    assert_eq!(resp.status, 200);
    assert!(resp.text().contains("module=other"), "{}", resp.text());
    let resp = d.get(&format!("/logs?target={}", enc(&bad_url))).await;
    assert_eq!(resp.status, 200);
    assert!(resp.text().contains("probe_success 0"), "{}", resp.text());

    // Errors.
    assert_status(
        &d.get(&format!("/logs?id=0&target={}", enc(&ok_url))).await,
        400,
        "Probe id and target can't be defined at the same time\n",
    );
    for path in ["/logs", "/logs?id=abc"] {
        assert_status(
            &d.get(path).await,
            400,
            "Probe id or target must be defined as http query parameters\n",
        );
    }
    assert_status(
        &d.get("/logs?module=other").await,
        400,
        "Probe module filter only works in conjunction with target parameter\n",
    );
    assert_status(&d.get("/logs?id=999").await, 404, "Probe id not found\n");
    assert_status(
        &d.get("/logs?target=http%3A%2F%2Fnowhere.example%2F").await,
        404,
        "Probe target not found\n",
    );
    assert_status(
        &d.get(&format!("/logs?target={}&module=secret", enc(&ok_url)))
            .await,
        404,
        "Probe target not found\n",
    );
}

#[tokio::test]
async fn index_lists_recent_probes_newest_first() {
    let d = daemon().await;
    let ok = HttpServer::plain(handlers::ok());
    let ok_url = ok.url("/ok");
    let bad_url = format!("http://127.0.0.1:{}/bad", closed_port());
    d.get(&probe_path(&ok_url, "")).await;
    d.get(&probe_path(&bad_url, "&module=other")).await;

    let resp = d.get("/").await;
    assert_eq!(resp.status, 200);
    assert!(resp
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/html")));
    let page = resp.text();
    let ok_at = page.find(&ok_url).expect("ok target listed");
    let bad_at = page.find(&bad_url).expect("failed target listed");
    assert!(bad_at < ok_at, "newest first\n{page}");
    assert!(page.contains("Success"), "{page}");
    assert!(page.contains("<strong>Failure</strong>"), "{page}");
    assert!(page.contains("logs?id=0"), "{page}");
    assert!(page.contains("logs?id=1"), "{page}");
    assert!(page.find("logs?id=1") < page.find("logs?id=0"));
    assert!(page.contains("Recent Probes"), "{page}");
}

// ---------------------------------------------------------------------------
// Health, reload, config
// ---------------------------------------------------------------------------

#[tokio::test]
async fn health_and_readiness() {
    let d = daemon().await;
    assert_status(&d.get("/-/healthy").await, 200, "Healthy");
    assert_status(&d.post("/-/healthy").await, 200, "Healthy");
    assert_eq!(d.get("/-/ready").await.status, 200);
    assert_eq!(d.get("/no/such/page").await.status, 404);
}

#[tokio::test]
async fn reload_is_post_only_and_keeps_the_old_config_on_error() {
    let d = daemon().await;
    let target = HttpServer::plain(handlers::ok());
    let url = target.url("/");

    assert_status(
        &d.get("/-/reload").await,
        405,
        "This endpoint requires a POST request.\n",
    );

    // Unchanged file: success.
    assert_status(&d.post("/-/reload").await, 200, "");

    // A good new config adds a module.
    assert_eq!(d.get(&probe_path(&url, "&module=added")).await.status, 400);
    d.write_config(&format!(
        "{}\n          added:\n            prober: http\n            timeout: 5s\n            http: {{}}\n",
        config_yaml().trim_end()
    ));
    assert_status(&d.post("/-/reload").await, 200, "");
    let resp = d.get(&probe_path(&url, "&module=added")).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.metrics().value("probe_success"), 1.0);
    let m = d.self_metrics().await;
    assert_eq!(
        m.value("blackbox_exporter_config_last_reload_successful"),
        1.0
    );
    let good_ts = m.value("blackbox_exporter_config_last_reload_success_timestamp_seconds");
    assert!(good_ts > 1.6e9, "{good_ts}");

    // A bad config: 500 with the error, old config kept, gauge at 0.
    d.write_config("modules:\n  broken:\n    prober: http\n    nonsense_key: 1\n");
    let resp = d.post("/-/reload").await;
    assert_eq!(resp.status, 500, "{}", resp.text());
    assert!(
        resp.text().starts_with("failed to reload config: "),
        "{}",
        resp.text()
    );
    assert!(resp.text().contains("nonsense_key"), "{}", resp.text());
    let resp = d.get(&probe_path(&url, "&module=added")).await;
    assert_eq!(resp.status, 200, "the old config is still running");
    assert_eq!(d.get(&probe_path(&url, "&module=broken")).await.status, 400);
    let m = d.self_metrics().await;
    assert_eq!(
        m.value("blackbox_exporter_config_last_reload_successful"),
        0.0
    );
    assert_eq!(
        m.value("blackbox_exporter_config_last_reload_success_timestamp_seconds"),
        good_ts,
        "a failed reload leaves the success timestamp alone"
    );

    // Fixing the file recovers.
    d.write_config(&config_yaml());
    assert_status(&d.post("/-/reload").await, 200, "");
    assert_eq!(
        d.self_metrics()
            .await
            .value("blackbox_exporter_config_last_reload_successful"),
        1.0
    );
    assert_eq!(d.get(&probe_path(&url, "&module=added")).await.status, 400);
}

#[tokio::test]
async fn config_page_hides_secrets() {
    let d = daemon().await;
    let resp = d.get("/config").await;
    assert_eq!(resp.status, 200);
    assert!(resp
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain")));
    let text = resp.text();
    for module in ["http_2xx", "other", "secret", "basic", "with_host"] {
        assert!(text.contains(module), "{module} missing\n{text}");
    }
    assert!(!text.contains(SECRET_TOKEN), "{text}");
    assert!(!text.contains(SECRET_PASSWORD), "{text}");
    assert!(text.matches("<secret>").count() >= 2, "{text}");
    assert!(text.contains("username: user"), "{text}");
}

// ---------------------------------------------------------------------------
// /metrics
// ---------------------------------------------------------------------------

#[tokio::test]
async fn metrics_content_negotiation_and_gzip() {
    let d = daemon().await;

    let resp = d.get("/metrics").await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(resp.header("content-encoding"), None);
    let text = resp.text();
    assert!(!text.contains("# EOF"), "{text}");
    assert!(
        text.contains("# TYPE blackbox_module_unknown_total counter"),
        "{text}"
    );
    let m = resp.metrics();
    assert_eq!(
        m.value("blackbox_exporter_config_last_reload_successful"),
        1.0
    );
    assert_eq!(m.value("blackbox_module_unknown_total"), 0.0);

    let resp = d
        .get_with(
            "/metrics",
            &[(
                "accept",
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
            )],
        )
        .await;
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("content-type")
            .is_some_and(|c| c.starts_with("application/openmetrics-text")),
        "{:?}",
        resp.header("content-type")
    );
    let text = resp.text();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(
        text.contains("# TYPE blackbox_module_unknown counter"),
        "{text}"
    );
    assert_eq!(resp.metrics().value("blackbox_module_unknown_total"), 0.0);

    let resp = d.get_with("/metrics", &[("accept-encoding", "gzip")]).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-encoding"), Some("gzip"));
    let text = gunzip(&resp.body);
    assert!(
        Metrics::parse(&text).has("blackbox_exporter_config_last_reload_successful"),
        "{text}"
    );
}

#[tokio::test]
async fn probe_response_is_gzipped_when_accepted() {
    let d = daemon().await;
    let target = HttpServer::plain(|_: &TestRequest| TestResponse::ok());
    let resp = d
        .get_with(
            &probe_path(&target.url("/"), ""),
            &[("accept-encoding", "gzip")],
        )
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-encoding"), Some("gzip"));
    let m = Metrics::parse(&gunzip(&resp.body));
    assert_eq!(m.value("probe_success"), 1.0);
}

fn gunzip(data: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(data)
        .read_to_string(&mut out)
        .expect("valid gzip");
    out
}
