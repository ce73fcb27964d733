//! Rules end to end. Conformance: every rule unit-test file in `tests/data/rules/` passes
//! under both `promtool test rules` (Prometheus 2.42, Debian package `prometheus`) and
//! `blackwatch test rules`, and every file in `tests/data/rules/fail/` fails under both.
//! Then the daemon: scheduled probes of a loopback target that goes down and comes back,
//! with the alert going pending, firing and resolving as seen on `/metrics` (`ALERTS`),
//! `/api/v1/alerts` and `/api/v1/rules`, and its state saved under `--storage.path`.
//!
//! The promtool tests fail (they do not skip) when promtool is missing. Nothing leaves
//! loopback.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use blackwatch::state::{Settings, Shared};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::support::{dedent, http_request, install_crypto, Metrics};
use crate::support::{poll, HttpServer, TestResponse};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rules")
}

/// The unit-test files (`*.test.yml`) directly in `dir`, sorted.
fn test_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("tests/data/rules exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".test.yml"))
        })
        .collect();
    v.sort();
    v
}

struct Run {
    ok: bool,
    output: String,
}

fn run(program: &str, args: &[&str], file: &Path) -> Run {
    let out = Command::new(program)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e} (is it installed?)"));
    Run {
        ok: out.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn promtool(file: &Path) -> Run {
    let binary = std::env::var("PROMTOOL_BIN").unwrap_or_else(|_| "promtool".to_owned());
    run(&binary, &["test", "rules"], file)
}

fn blackwatch(file: &Path) -> Run {
    run(env!("CARGO_BIN_EXE_blackwatch"), &["test", "rules"], file)
}

#[test]
fn every_rule_test_file_passes_under_promtool_and_blackwatch() {
    let files = test_files(&data_dir());
    assert!(
        files.len() >= 25,
        "expected at least 25 files, got {}",
        files.len()
    );
    let mut problems = Vec::new();
    for f in &files {
        let p = promtool(f);
        let b = blackwatch(f);
        if !p.ok {
            problems.push(format!("promtool fails {}:\n{}", f.display(), p.output));
        }
        if !b.ok {
            problems.push(format!("blackwatch fails {}:\n{}", f.display(), b.output));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn deliberately_failing_files_fail_under_both_tools() {
    let files = test_files(&data_dir().join("fail"));
    assert!(
        files.len() >= 3,
        "expected failing files, got {}",
        files.len()
    );
    for f in &files {
        let p = promtool(f);
        let b = blackwatch(f);
        assert!(!p.ok, "promtool passes {}:\n{}", f.display(), p.output);
        assert!(!b.ok, "blackwatch passes {}:\n{}", f.display(), b.output);
        assert!(
            b.output.contains("  FAILED:"),
            "blackwatch output for {}:\n{}",
            f.display(),
            b.output
        );
    }
}

/// The failure block of a tool's output (from `  FAILED:` on), without blank lines.
fn failure_block(output: &str) -> Vec<String> {
    output
        .lines()
        .skip_while(|l| !l.starts_with("  FAILED:"))
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn failure_output_has_promtools_layout() {
    let f = data_dir().join("fail/wrong_labels.test.yml");
    let b = blackwatch(&f);
    let p = promtool(&f);
    assert!(!b.ok && !p.ok);
    // The same failure block, line for line.
    assert_eq!(
        failure_block(&b.output),
        failure_block(&p.output),
        "blackwatch:\n{}\npromtool:\n{}",
        b.output,
        p.output
    );
}

/// The template function `query` (issue 20): annotations and labels that query at the
/// evaluation time, scalar and empty results, the result helpers, and the error texts of
/// range-vector and string results. The passing file's expected annotations are promtool's
/// rendering; the failing file's `got:` block, which prints every rendered annotation, is
/// the same line for line.
#[test]
fn template_query_renders_as_promtool_does() {
    let f = data_dir().join("template_query.test.yml");
    let p = promtool(&f);
    let b = blackwatch(&f);
    assert!(p.ok, "promtool fails {}:\n{}", f.display(), p.output);
    assert!(b.ok, "blackwatch fails {}:\n{}", f.display(), b.output);

    let f = data_dir().join("fail/template_query.test.yml");
    let p = promtool(&f);
    let b = blackwatch(&f);
    assert!(
        !p.ok && !b.ok,
        "promtool:\n{}\nblackwatch:\n{}",
        p.output,
        b.output
    );
    let block = failure_block(&b.output);
    assert!(
        block.iter().any(|l| l.contains(r#"up_total="1""#)),
        "query ran at the evaluation time:\n{}",
        b.output
    );
    assert_eq!(
        block,
        failure_block(&p.output),
        "blackwatch:\n{}\npromtool:\n{}",
        b.output,
        p.output
    );
}

/// A daemon with scheduled probes and rules, its own storage directory, on loopback.
struct RulesDaemon {
    addr: std::net::SocketAddr,
    state: Arc<Shared>,
    daemon: blackwatch::daemon::Daemon,
}

impl RulesDaemon {
    async fn start(dir: &Path, config: &str) -> Self {
        install_crypto();
        let config_path = dir.join("blackwatch.yml");
        std::fs::write(&config_path, dedent(config)).expect("write config");
        let cfg = match blackwatch::config::load(&config_path) {
            Ok(c) => c,
            Err(e) => panic!("config does not load:\n{e}"),
        };
        let settings = Settings {
            config_file: Some(config_path),
            shutdown_grace: Duration::from_secs(1),
            storage_path: dir.join("data"),
            external_url: "http://blackwatch.test:9115/".to_string(),
            ..Settings::default()
        };
        let daemon = blackwatch::daemon::Daemon::build(cfg, settings, CancellationToken::new())
            .expect("daemon builds");
        let state = Arc::clone(daemon.state());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let _server = daemon.serve(listener, blackwatch::server::ServerOptions::default());
        Self {
            addr,
            state,
            daemon,
        }
    }

    async fn get(&self, path: &str) -> String {
        http_request(self.addr, http::Method::GET, path, &[], bytes::Bytes::new())
            .await
            .text()
    }

    async fn metrics(&self) -> Metrics {
        Metrics::parse(&self.get("/metrics").await)
    }

    async fn stop(self) {
        self.daemon.shutdown(Duration::from_secs(5)).await;
    }
}

/// Polls `/metrics` until `check` is true, panicking with the last body after `deadline`.
async fn wait_metrics(
    d: &RulesDaemon,
    what: &str,
    deadline: Duration,
    check: impl Fn(&Metrics) -> bool,
) -> Instant {
    poll::until(what, deadline, async || {
        let m = d.metrics().await;
        if check(&m) {
            Ok(Instant::now())
        } else {
            Err(format!("/metrics:\n{}", m.text()))
        }
    })
    .await
}

fn probe_success(m: &Metrics) -> Option<f64> {
    m.family("probe_success").first().map(|s| s.value)
}

fn alert_state(m: &Metrics) -> Option<String> {
    m.family("ALERTS")
        .into_iter()
        .find(|s| s.labels.get("alertname").map(String::as_str) == Some("TargetDown"))
        .and_then(|s| s.labels.get("alertstate").cloned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_goes_pending_fires_and_resolves_as_the_target_goes_down_and_up() {
    let up = Arc::new(AtomicBool::new(true));
    let flag = up.clone();
    let target = HttpServer::plain(move |_req: &crate::support::http::TestRequest| {
        TestResponse::new(if flag.load(Ordering::SeqCst) {
            200
        } else {
            500
        })
    });
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("alerts.yml"),
        dedent(
            r#"
            groups:
              - name: availability
                rules:
                  - record: job:probe_success:min
                    expr: min by (job) (probe_success)
                  - alert: TargetDown
                    expr: job:probe_success:min == 0
                    for: 3s
                    labels:
                      severity: page
                    annotations:
                      summary: "{{ $labels.job }} is down"
                      failing: '{{ with query "count(probe_success == 0)" }}{{ . | first | value }}{{ end }} of {{ query "count(probe_success)" | first | value }}'
                      status: '{{ with printf "probe_http_status_code{job=%q}" $labels.job | query }}{{ . | first | value }}{{ end }}'
            "#,
        ),
    )
    .expect("write rules");
    let config = format!(
        r#"
        global:
          evaluation_interval: 1s
        rule_files: [alerts.yml]
        modules:
          http_2xx:
            prober: http
            timeout: 5s
            http:
              preferred_ip_protocol: ip4
        probes:
          - job: web
            module: http_2xx
            interval: 1s
            targets: ["{}"]
        "#,
        target.url("/")
    );
    let d = RulesDaemon::start(dir.path(), &config).await;

    wait_metrics(&d, "a successful probe", Duration::from_secs(15), |m| {
        probe_success(m) == Some(1.0)
    })
    .await;
    assert_eq!(alert_state(&d.metrics().await), None);

    up.store(false, Ordering::SeqCst);
    let pending_at = wait_metrics(&d, "the alert pending", Duration::from_secs(15), |m| {
        alert_state(m).as_deref() == Some("pending")
    })
    .await;
    let m = d.metrics().await;
    let for_state = m
        .family("ALERTS_FOR_STATE")
        .into_iter()
        .find(|s| s.labels.get("alertname").map(String::as_str) == Some("TargetDown"))
        .map(|s| s.value)
        .expect("ALERTS_FOR_STATE while pending");
    assert!(
        for_state > 1.0e9,
        "ActiveAt in Unix seconds, got {for_state}"
    );
    let body = d.get("/api/v1/alerts").await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["alerts"][0]["labels"]["alertname"], "TargetDown");
    assert_eq!(v["data"]["alerts"][0]["labels"]["severity"], "page");

    let firing_at = wait_metrics(&d, "the alert firing", Duration::from_secs(15), |m| {
        alert_state(m).as_deref() == Some("firing")
    })
    .await;
    let waited = firing_at - pending_at;
    assert!(
        waited >= Duration::from_millis(1500),
        "fired {waited:?} after going pending; `for` is 3s"
    );
    let body = d.get("/api/v1/rules").await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let rules = &v["data"]["groups"][0]["rules"];
    assert_eq!(rules[0]["type"], "recording");
    assert_eq!(rules[0]["health"], "ok");
    assert_eq!(rules[1]["type"], "alerting");
    assert_eq!(rules[1]["state"], "firing");
    assert_eq!(rules[1]["duration"], 3.0);
    assert_eq!(
        rules[1]["alerts"][0]["annotations"]["summary"],
        "web is down"
    );
    // `query` in templates reads the probe results the rules see.
    assert_eq!(rules[1]["alerts"][0]["annotations"]["failing"], "1 of 1");
    assert_eq!(rules[1]["alerts"][0]["annotations"]["status"], "500");
    let saved = std::fs::read_to_string(dir.path().join("data/rules.json")).expect("state saved");
    assert!(saved.contains("\"firing\""), "{saved}");
    let body = d.get("/metrics").await;
    let (ok, out) = crate::conformance::promtool_check(&body).await;
    assert!(ok, "promtool check metrics:\n{out}\n{body}");
    let m = Metrics::parse(&body);
    assert_eq!(
        m.family("prometheus_rule_group_rules")
            .first()
            .map(|s| s.value),
        Some(2.0)
    );

    // A reload with a broken rule file fails and keeps the running rules and their state;
    // a good one that changes nothing keeps them too.
    let rules_path = dir.path().join("alerts.yml");
    let good = std::fs::read_to_string(&rules_path).expect("read rules");
    std::fs::write(
        &rules_path,
        "groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: sum(\n",
    )
    .expect("write broken rules");
    let err = d
        .state
        .reload()
        .await
        .expect_err("a broken rule file fails the reload");
    assert!(err.to_string().contains("alerts.yml"), "{err}");
    assert_eq!(alert_state(&d.metrics().await).as_deref(), Some("firing"));
    std::fs::write(&rules_path, &good).expect("restore rules");
    d.state.reload().await.expect("reload");
    assert_eq!(alert_state(&d.metrics().await).as_deref(), Some("firing"));

    // A restart restores the firing alert from --storage.path: it never goes pending again.
    d.stop().await;
    let d = RulesDaemon::start(dir.path(), &config).await;
    let state = poll::until(
        "the alert to come back after a restart",
        Duration::from_secs(15),
        async || {
            let m = d.metrics().await;
            alert_state(&m).ok_or_else(|| format!("/metrics:\n{}", m.text()))
        },
    )
    .await;
    assert_eq!(state, "firing", "restored alert state");

    up.store(true, Ordering::SeqCst);
    wait_metrics(&d, "the alert resolved", Duration::from_secs(15), |m| {
        alert_state(m).is_none() && probe_success(m) == Some(1.0)
    })
    .await;
    d.stop().await;
}
