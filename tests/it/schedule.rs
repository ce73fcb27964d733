//! Scheduled probing end to end, in real time against loopback targets: an in-process
//! blackwatch with `probes:` ([`Daemon::start`], which schedules them) is scraped on `/metrics` until the
//! expected results show up (polling with a deadline, never a fixed sleep). Covers the
//! result labels and exposition formats, staleness when TLS starts failing, file_sd files
//! (JSON and YAML, rewrites and bad edits), reload, `promtool check metrics`, and a real
//! Prometheus 2.42 scraping `/metrics` with `honor_labels: true`.
//!
//! promtool and prometheus come from the Debian package `prometheus`; the tests that use
//! them fail (they do not skip) when the binaries are missing. Nothing leaves loopback.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::Deserialize;

use crate::support::http::Handler;
use crate::support::prometheus::Prometheus;
use crate::support::{handlers, poll, self_signed_localhost, HttpServer, ServerCert, TestResponse};
use crate::support::{Daemon, Metrics, Sample};

/// How long any one wait for the scheduler may take (intervals are 1s).
const DEADLINE: Duration = Duration::from_secs(15);

/// An http module with a generous timeout (jobs cap it at their 1s interval).
const MODULES: &str = "
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
  https_any:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      fail_if_not_ssl: true
      tls_config:
        insecure_skip_verify: true
";

/// A config: [`MODULES`] plus the given `probes:` section (already indented by zero).
fn with_probes(probes: &str) -> String {
    format!("{}probes:\n{}", crate::support::dedent(MODULES), probes)
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn label<'a>(s: &'a Sample, name: &str) -> &'a str {
    s.labels.get(name).map(String::as_str).unwrap_or_default()
}

/// The scheduled `probe_success` samples as (job, instance) → value.
fn successes(m: &Metrics) -> BTreeMap<(String, String), f64> {
    m.family("probe_success")
        .into_iter()
        .map(|s| {
            (
                (
                    label(s, "job").to_string(),
                    label(s, "instance").to_string(),
                ),
                s.value,
            )
        })
        .collect()
}

fn key(job: &str, instance: &str) -> (String, String) {
    (job.to_string(), instance.to_string())
}

/// Scrapes `/metrics` until `done` holds; panics with the last exposition after
/// [`DEADLINE`].
async fn wait_until(daemon: &Daemon, what: &str, done: impl Fn(&Metrics) -> bool) -> Metrics {
    poll::until(what, DEADLINE, async || {
        let m = daemon.self_metrics().await;
        if done(&m) {
            Ok(m)
        } else {
            Err(format!("/metrics:\n{}", m.text()))
        }
    })
    .await
}

fn http_500() -> impl Fn(&crate::support::TestRequest) -> TestResponse + Send + Sync + 'static {
    handlers::fixed(500, "broken")
}

/// Writes `text` to `path` through a temp file and a rename, as config tools do, so the
/// watcher never reads a half-written file.
fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write temp file_sd file");
    std::fs::rename(&tmp, path).expect("rename file_sd file into place");
}

// ---------------------------------------------------------------------------
// 1. Labels and formats
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_carry_job_instance_module_and_configured_labels() {
    let ok = HttpServer::plain(handlers::ok());
    let bad = HttpServer::plain(http_500());
    let (ok_url, bad_url) = (ok.url("/"), bad.url("/health"));
    let daemon = Daemon::start(&with_probes(&format!(
        "
  - job: web
    module: http_2xx
    interval: 1s
    labels:
      team: web
      tier: front
    targets:
      - {ok_url}
      - target: {bad_url}
        labels:
          severity: critical
          tier: back
  - job: api
    module: http_2xx
    interval: 1s
    targets:
      - {ok_url}
"
    )))
    .await;

    let m = wait_until(&daemon, "three scheduled results", |m| {
        successes(m).len() == 3
    })
    .await;
    let want: BTreeMap<(String, String), f64> = [
        (key("web", &ok_url), 1.0),
        (key("web", &bad_url), 0.0),
        (key("api", &ok_url), 1.0),
    ]
    .into();
    assert_eq!(successes(&m), want, "{}", m.text());

    // Exact label sets: job labels on every target of the job, target labels on top (a
    // target label wins over a job label of the same name).
    let web_ok = labels(&[
        ("job", "web"),
        ("instance", &ok_url),
        ("module", "http_2xx"),
        ("team", "web"),
        ("tier", "front"),
    ]);
    let web_bad = labels(&[
        ("job", "web"),
        ("instance", &bad_url),
        ("module", "http_2xx"),
        ("team", "web"),
        ("tier", "back"),
        ("severity", "critical"),
    ]);
    let api_ok = labels(&[
        ("job", "api"),
        ("instance", &ok_url),
        ("module", "http_2xx"),
    ]);
    let as_pairs = |l: &BTreeMap<String, String>| -> Vec<(String, String)> {
        l.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    for (set, status, success) in [
        (&web_ok, 200.0, 1.0),
        (&web_bad, 500.0, 0.0),
        (&api_ok, 200.0, 1.0),
    ] {
        let pairs = as_pairs(set);
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            m.get_with("probe_success", &refs),
            Some(success),
            "probe_success{set:?}\n{}",
            m.text()
        );
        assert_eq!(
            m.get_with("probe_http_status_code", &refs),
            Some(status),
            "probe_http_status_code{set:?}\n{}",
            m.text()
        );
        assert!(
            m.get_with("probe_duration_seconds", &refs).is_some(),
            "probe_duration_seconds{set:?}\n{}",
            m.text()
        );
    }
    // Every scheduled series carries job, instance and module; per-probe labels survive.
    for s in m.samples.iter().filter(|s| s.name.starts_with("probe_")) {
        for l in ["job", "instance", "module"] {
            assert!(s.labels.contains_key(l), "{} lacks {l}: {s:?}", s.name);
        }
    }
    assert!(
        m.family("probe_http_duration_seconds")
            .iter()
            .any(|s| label(s, "phase") == "connect" && label(s, "job") == "api"),
        "{}",
        m.text()
    );
    // Self-metrics are still there, one TYPE line per family.
    assert!(m.has("blackbox_exporter_config_last_reload_successful"));
    for name in m.types.keys() {
        let n = m
            .text()
            .lines()
            .filter(|l| l.starts_with(&format!("# TYPE {name} ")))
            .count();
        assert_eq!(n, 1, "# TYPE {name} appears {n} times\n{}", m.text());
    }

    // Text format 0.0.4 by default.
    let text = daemon.get("/metrics").await;
    assert_eq!(text.status, 200);
    assert_eq!(
        text.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(!text.text().contains("# EOF"), "{}", text.text());
    assert!(text.header("content-encoding").is_none());

    // OpenMetrics when asked: the same results, one `# EOF`, at the very end.
    let om = daemon
        .get_with(
            "/metrics",
            &[(
                "accept",
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
            )],
        )
        .await;
    assert_eq!(om.status, 200);
    let ct = om.header("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("application/openmetrics-text; version=1.0.0"),
        "{ct}"
    );
    let om_text = om.text();
    assert_eq!(om_text.matches("# EOF").count(), 1, "{om_text}");
    assert!(om_text.ends_with("\n# EOF\n"), "{om_text}");
    let om_metrics = om.metrics();
    assert_eq!(
        successes(&om_metrics).keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{om_text}"
    );
    let self_at = om_text.find("blackbox_exporter_config_last_reload_successful");
    let results_at = om_text.find("probe_success{");
    assert!(
        self_at.is_some() && self_at < results_at,
        "self-metrics come first, then the results\n{om_text}"
    );

    // gzip when asked, in either format.
    for accept in ["text/plain", "application/openmetrics-text"] {
        let z = daemon
            .get_with(
                "/metrics",
                &[
                    ("accept", accept),
                    ("accept-encoding", "deflate, gzip;q=0.8"),
                ],
            )
            .await;
        assert_eq!(z.status, 200);
        assert_eq!(z.header("content-encoding"), Some("gzip"), "{accept}");
        let mut plain = String::new();
        flate2::read::GzDecoder::new(&z.body[..])
            .read_to_string(&mut plain)
            .expect("valid gzip body");
        let unzipped = Metrics::parse(&plain);
        assert_eq!(
            successes(&unzipped).keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{plain}"
        );
        assert_eq!(
            plain.contains("# EOF"),
            accept.contains("openmetrics"),
            "{plain}"
        );
    }
}

// ---------------------------------------------------------------------------
// 2. Staleness
// ---------------------------------------------------------------------------

/// Presents its certificate only while `on` is set; otherwise the handshake fails.
#[derive(Debug)]
struct SwitchableCert {
    key: Arc<CertifiedKey>,
    on: Arc<AtomicBool>,
}

impl ResolvesServerCert for SwitchableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.on.load(Ordering::SeqCst).then(|| self.key.clone())
    }
}

/// An HTTPS server (HTTP/1.1, `200`) whose TLS handshakes fail while the returned flag is
/// false.
fn switchable_https(cert: &ServerCert) -> (HttpServer, Arc<AtomicBool>) {
    let provider = crate::support::tls::provider();
    let signing = provider
        .key_provider
        .load_private_key(cert.key_der())
        .expect("test key loads");
    let on = Arc::new(AtomicBool::new(true));
    let resolver = SwitchableCert {
        key: Arc::new(CertifiedKey::new(cert.chain_der(), signing)),
        on: on.clone(),
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("default TLS versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let server = HttpServer::start(Some(Arc::new(config)), Handler::sync(handlers::ok()));
    (server, on)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_expiry_goes_stale_when_tls_starts_failing() {
    let cert = self_signed_localhost();
    let (flaky, flaky_on) = switchable_https(&cert);
    let (steady, _steady_on) = switchable_https(&cert);
    let (flaky_url, steady_url) = (flaky.url("/"), steady.url("/"));
    let daemon = Daemon::start(&with_probes(&format!(
        "
  - job: tls
    module: https_any
    interval: 1s
    targets: [{flaky_url}, {steady_url}]
"
    )))
    .await;
    let expiry = |m: &Metrics, instance: &str| {
        m.get_with(
            "probe_ssl_earliest_cert_expiry",
            &[
                ("job", "tls"),
                ("instance", instance),
                ("module", "https_any"),
            ],
        )
    };
    let success = |m: &Metrics, instance: &str| successes(m).get(&key("tls", instance)).copied();

    let m = wait_until(&daemon, "both TLS targets up with a cert expiry", |m| {
        success(m, &flaky_url) == Some(1.0)
            && success(m, &steady_url) == Some(1.0)
            && expiry(m, &flaky_url).is_some()
            && expiry(m, &steady_url).is_some()
    })
    .await;
    assert_eq!(
        expiry(&m, &flaky_url),
        Some(cert.leaf().not_after() as f64),
        "{}",
        m.text()
    );

    // TLS starts failing: the next run replaces the whole group, so the expiry series (and
    // every other TLS series) is gone in the same scrape that shows the failure.
    flaky_on.store(false, Ordering::SeqCst);
    let m = wait_until(&daemon, "the flaky target to fail", |m| {
        success(m, &flaky_url) == Some(0.0)
    })
    .await;
    assert_eq!(
        expiry(&m, &flaky_url),
        None,
        "stale expiry kept\n{}",
        m.text()
    );
    for s in m
        .samples
        .iter()
        .filter(|s| label(s, "instance") == flaky_url)
    {
        assert!(
            !s.name.starts_with("probe_ssl_") && !s.name.starts_with("probe_tls_"),
            "stale TLS series {s:?}\n{}",
            m.text()
        );
    }
    assert_eq!(success(&m, &steady_url), Some(1.0), "{}", m.text());
    assert!(expiry(&m, &steady_url).is_some(), "{}", m.text());
    assert!(flaky.handshake_failures() > 0);

    // And it comes back with the next good run.
    flaky_on.store(true, Ordering::SeqCst);
    wait_until(&daemon, "the flaky target to recover", |m| {
        success(m, &flaky_url) == Some(1.0) && expiry(m, &flaky_url).is_some()
    })
    .await;
}

// ---------------------------------------------------------------------------
// 3. file_sd
// ---------------------------------------------------------------------------

/// Collects everything the fmt subscriber writes.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// A current-thread runtime, so the log subscriber set for this thread sees the watcher.
#[tokio::test]
async fn file_sd_targets_follow_the_files() {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _log_guard = tracing::subscriber::set_default(subscriber);

    let a = HttpServer::plain(handlers::ok());
    let b = HttpServer::plain(handlers::ok());
    let c = HttpServer::plain(http_500());
    let (a_url, b_url, c_url) = (a.url("/a"), b.url("/b"), c.url("/c"));
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("targets.json");
    let yaml_dir = dir.path().join("yaml");
    std::fs::create_dir(&yaml_dir).expect("mkdir");
    write_atomically(
        &json,
        &format!(r#"[{{"targets": ["{a_url}"], "labels": {{"env": "prod", "rack": "r1"}}}}]"#),
    );
    write_atomically(
        &yaml_dir.join("nodes-1.yml"),
        &format!("- targets:\n    - {c_url}\n  labels:\n    env: staging\n"),
    );
    let path = |p: &Path| format!("{:?}", p.display().to_string());
    let daemon = Daemon::start(&with_probes(&format!(
        "
  - job: sd_json
    module: http_2xx
    interval: 1s
    labels:
      team: ops
    file_sd:
      - files: [{}]
        refresh_interval: 1s
  - job: sd_yaml
    module: http_2xx
    interval: 1s
    file_sd:
      - files: [{}]
        refresh_interval: 1s
",
        path(&json),
        path(&yaml_dir.join("nodes-*.yml")),
    )))
    .await;

    let m = wait_until(&daemon, "targets from both file_sd files", |m| {
        successes(m).len() == 2
    })
    .await;
    assert_eq!(
        successes(&m),
        [(key("sd_json", &a_url), 1.0), (key("sd_yaml", &c_url), 0.0)].into(),
        "{}",
        m.text()
    );
    assert_eq!(
        m.get_with(
            "probe_success",
            &[
                ("job", "sd_json"),
                ("instance", &a_url),
                ("module", "http_2xx"),
                ("team", "ops"),
                ("env", "prod"),
                ("rack", "r1"),
            ]
        ),
        Some(1.0),
        "file_sd labels on top of job labels\n{}",
        m.text()
    );
    assert_eq!(
        m.get_with(
            "probe_success",
            &[
                ("job", "sd_yaml"),
                ("instance", &c_url),
                ("module", "http_2xx"),
                ("env", "staging"),
            ]
        ),
        Some(0.0),
        "{}",
        m.text()
    );

    // A rewrite replaces the job's targets: a's results go, b's come.
    write_atomically(
        &json,
        &format!(r#"[{{"targets": ["{b_url}"], "labels": {{"env": "prod"}}}}]"#),
    );
    let m = wait_until(&daemon, "the rewritten file_sd targets", |m| {
        let s = successes(m);
        s.contains_key(&key("sd_json", &b_url)) && !s.contains_key(&key("sd_json", &a_url))
    })
    .await;
    assert!(
        !m.samples.iter().any(|s| label(s, "instance") == a_url),
        "a's series must all be gone\n{}",
        m.text()
    );
    // A new file matching the YAML glob adds its targets to that job only.
    write_atomically(
        &yaml_dir.join("nodes-2.yml"),
        &format!("- targets: [\"{a_url}\"]\n"),
    );
    wait_until(&daemon, "the second YAML file's target", |m| {
        successes(m).get(&key("sd_yaml", &a_url)) == Some(&1.0)
    })
    .await;

    // A bad edit keeps the previous targets, and says why in the log.
    let b_requests = b.request_count();
    write_atomically(&json, "[{\"targets\": [\"unterminated");
    poll::until(
        "an error logged for the bad file_sd file",
        DEADLINE,
        async || {
            let text = logs.text();
            if text.contains("Error reading file_sd file") {
                Ok(())
            } else {
                Err(format!("log:\n{text}"))
            }
        },
    )
    .await;
    assert!(logs.text().contains("targets.json"), "{}", logs.text());
    // Two more runs of b after the error: the job kept probing it.
    let b_after_error = b.request_count();
    let m = wait_until(&daemon, "b still probed after the bad edit", |_| {
        b.request_count() >= b_after_error + 2
    })
    .await;
    assert!(b.request_count() > b_requests);
    assert_eq!(
        successes(&m).get(&key("sd_json", &b_url)),
        Some(&1.0),
        "{}",
        m.text()
    );
    assert!(!successes(&m).contains_key(&key("sd_json", &a_url)));
}

// ---------------------------------------------------------------------------
// 4. Reload
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_adds_and_removes_jobs_and_keeps_unchanged_ones_running() {
    let keep = HttpServer::plain(handlers::ok());
    let drop_me = HttpServer::plain(handlers::ok());
    let added = HttpServer::plain(handlers::ok());
    let (keep_url, drop_url, added_url) = (keep.url("/"), drop_me.url("/"), added.url("/"));
    let keep_job = format!(
        "
  - job: keep
    module: http_2xx
    interval: 1s
    labels: {{team: a}}
    targets: [{keep_url}]
"
    );
    let daemon = Daemon::start(&with_probes(&format!(
        "{keep_job}
  - job: removed
    module: http_2xx
    interval: 1s
    targets: [{drop_url}]
"
    )))
    .await;
    wait_until(&daemon, "both initial jobs", |m| {
        let s = successes(m);
        s.contains_key(&key("keep", &keep_url)) && s.contains_key(&key("removed", &drop_url))
    })
    .await;

    daemon.write_config(&with_probes(&format!(
        "{keep_job}
  - job: added
    module: http_2xx
    interval: 1s
    targets: [{added_url}]
"
    )));
    let keep_before = keep.request_count();
    let resp = daemon.post("/-/reload").await;
    assert_eq!(resp.status, 200, "{}", resp.text());

    // The removed job's results vanish with the reload itself; the kept job's stay.
    let m = daemon.self_metrics().await;
    let s = successes(&m);
    assert!(!s.contains_key(&key("removed", &drop_url)), "{}", m.text());
    assert!(s.contains_key(&key("keep", &keep_url)), "{}", m.text());
    assert!(
        !m.samples.iter().any(|s| label(s, "job") == "removed"),
        "{}",
        m.text()
    );
    let m = wait_until(&daemon, "the added job's result", |m| {
        successes(m).contains_key(&key("added", &added_url))
    })
    .await;
    assert_eq!(
        successes(&m),
        [
            (key("keep", &keep_url), 1.0),
            (key("added", &added_url), 1.0)
        ]
        .into(),
        "{}",
        m.text()
    );
    assert_eq!(
        m.get_with("blackwatch_scheduled_targets", &[("job", "removed")]),
        None,
        "{}",
        m.text()
    );
    // The kept job went on probing through the reload, and the removed one stopped.
    wait_until(&daemon, "the kept job to keep running", |_| {
        keep.request_count() >= keep_before + 2
    })
    .await;
    let dropped = drop_me.request_count();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        drop_me.request_count(),
        dropped,
        "the removed job still probes"
    );
    assert_eq!(
        daemon.state.config().jobs.len(),
        2,
        "the reloaded config has keep and added"
    );
}

// ---------------------------------------------------------------------------
// 5. promtool
// ---------------------------------------------------------------------------

use crate::conformance::promtool_check;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_metrics_with_scheduled_results() {
    let ok = HttpServer::plain(handlers::ok());
    let bad = HttpServer::plain(http_500());
    let cert = self_signed_localhost();
    let tls = HttpServer::tls(&cert, handlers::ok());
    let (ok_url, bad_url, tls_url) = (ok.url("/"), bad.url("/"), tls.url("/"));
    let daemon = Daemon::start(&with_probes(&format!(
        "
  - job: web
    module: http_2xx
    interval: 1s
    labels: {{team: \"a \\\"quoted\\\" team\"}}
    targets:
      - {ok_url}
      - target: {bad_url}
        labels: {{path: 'C:\\dir'}}
  - job: tls
    module: https_any
    interval: 1s
    targets: [{tls_url}]
"
    )))
    .await;
    wait_until(&daemon, "all three results, TLS included", |m| {
        successes(m).len() == 3 && m.has("probe_ssl_earliest_cert_expiry")
    })
    .await;
    let text = daemon.get("/metrics").await.text();
    assert!(text.contains(r#"team="a \"quoted\" team""#), "{text}");
    assert!(text.contains(r#"path="C:\\dir""#), "{text}");
    let (ok, lint) = promtool_check(&text).await;
    assert!(
        ok && lint.trim().is_empty(),
        "promtool check metrics on /metrics: ok={ok}\n{lint}\n--- input ---\n{text}"
    );
}

// ---------------------------------------------------------------------------
// 6. A real Prometheus scraping /metrics
// ---------------------------------------------------------------------------

/// Starts Prometheus scraping `scrape` every second with `honor_labels: true`.
fn start_prometheus(scrape: SocketAddr) -> Prometheus {
    Prometheus::start(
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: blackwatch-scrape\n    honor_labels: true\n    \
             static_configs:\n      - targets: ['{scrape}']\n"
        ),
        &[],
        &[],
    )
}

#[derive(Debug, Deserialize)]
struct QueryResponse {
    status: String,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_every_scheduled_target_with_honor_labels() {
    let ok = HttpServer::plain(handlers::ok());
    let bad = HttpServer::plain(http_500());
    // The TLS target adds the info-style TLS gauges to the exposition Prometheus parses
    // (as OpenMetrics, which it asks for first).
    let tls = HttpServer::tls(&self_signed_localhost(), handlers::ok());
    let (ok_url, bad_url, tls_url) = (ok.url("/"), bad.url("/down"), tls.url("/"));
    let daemon = Daemon::start(&with_probes(&format!(
        "
  - job: web
    module: http_2xx
    interval: 1s
    labels: {{team: web}}
    targets:
      - {ok_url}
      - target: {bad_url}
        labels: {{severity: critical}}
  - job: api
    module: http_2xx
    interval: 1s
    targets: [{ok_url}]
  - job: tls
    module: https_any
    interval: 1s
    targets: [{tls_url}]
"
    )))
    .await;
    let want: BTreeMap<(String, String), String> = [
        (key("web", &ok_url), "1".to_string()),
        (key("web", &bad_url), "0".to_string()),
        (key("api", &ok_url), "1".to_string()),
        (key("tls", &tls_url), "1".to_string()),
    ]
    .into();
    wait_until(&daemon, "every scheduled result in /metrics", |m| {
        successes(m).len() == want.len() && m.has("probe_tls_version_info")
    })
    .await;

    let mut prometheus = start_prometheus(daemon.addr);
    let mut last = String::new();
    let what = format!("Prometheus to return every scheduled target (want {want:?})");
    let got = poll::until(&what, Duration::from_secs(25), async || {
        prometheus.assert_running();
        let resp = tokio::time::timeout(
            Duration::from_secs(5),
            try_get(prometheus.addr, "/api/v1/query?query=probe_success"),
        )
        .await
        .ok()
        .flatten();
        if let Some((200, body)) = resp {
            let parsed: QueryResponse = serde_saphyr::from_str(&body)
                .unwrap_or_else(|e| panic!("bad query response ({e}): {body}"));
            assert_eq!(parsed.status, "success", "{body}");
            let got: BTreeMap<(String, String), String> = parsed
                .data
                .map(|d| d.result)
                .unwrap_or_default()
                .into_iter()
                .map(|s| {
                    let job = s.metric.get("job").cloned().unwrap_or_default();
                    let instance = s.metric.get("instance").cloned().unwrap_or_default();
                    ((job, instance), s.value.1)
                })
                .collect();
            let body_has_all = got.len() == want.len() && got.keys().eq(want.keys());
            last = body;
            if body_has_all {
                return Ok(got);
            }
        }
        Err(format!(
            "last response: {last}\n--- prometheus log ---\n{}",
            prometheus.log()
        ))
    })
    .await;
    assert_eq!(got, want, "{last}");

    // blackwatch's labels won (honor_labels): no exported_* renames, the scrape job is not
    // on the results, and the module and job/target labels came through.
    let parsed: QueryResponse = serde_saphyr::from_str(&last).expect("parsed before");
    let result = parsed.data.map(|d| d.result).unwrap_or_default();
    assert_eq!(result.len(), want.len(), "{last}");
    for s in &result {
        assert!(
            !s.metric.keys().any(|k| k.starts_with("exported_")),
            "{last}"
        );
        let module = if s.metric.get("job").map(String::as_str) == Some("tls") {
            "https_any"
        } else {
            "http_2xx"
        };
        assert_eq!(
            s.metric.get("module").map(String::as_str),
            Some(module),
            "{last}"
        );
        assert_eq!(
            s.metric.get("__name__").map(String::as_str),
            Some("probe_success")
        );
        if s.metric.get("job").map(String::as_str) == Some("web") {
            assert_eq!(
                s.metric.get("team").map(String::as_str),
                Some("web"),
                "{last}"
            );
        }
        if s.metric.get("instance") == Some(&bad_url) {
            assert_eq!(
                s.metric.get("severity").map(String::as_str),
                Some("critical"),
                "{last}"
            );
        }
    }
    // The scrape itself succeeded, under Prometheus' own job for the self-metrics.
    let (status, up) = try_get(prometheus.addr, "/api/v1/query?query=up")
        .await
        .expect("query up");
    assert_eq!(status, 200, "{up}");
    assert!(
        up.contains("\"job\":\"blackwatch-scrape\"") && up.contains("\"1\"]"),
        "{up}\n--- prometheus log ---\n{}",
        prometheus.log()
    );
    // The TLS series came through the same scrape, labelled like probe_success.
    let (status, expiry) = try_get(
        prometheus.addr,
        "/api/v1/query?query=probe_ssl_earliest_cert_expiry",
    )
    .await
    .expect("query probe_ssl_earliest_cert_expiry");
    assert_eq!(status, 200, "{expiry}");
    let parsed: QueryResponse = serde_saphyr::from_str(&expiry).expect("query response");
    let instances: Vec<(String, String)> = parsed
        .data
        .map(|d| d.result)
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            (
                s.metric.get("job").cloned().unwrap_or_default(),
                s.metric.get("instance").cloned().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(instances, vec![key("tls", &tls_url)], "{expiry}");
    drop(prometheus);
}

/// One GET; `None` while the server is not accepting yet.
async fn try_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let resp = crate::support::try_http_request(
        addr,
        Method::GET,
        path,
        &[],
        Bytes::new(),
        Duration::from_secs(60),
    )
    .await
    .ok()?;
    Some((resp.status, resp.text()))
}
