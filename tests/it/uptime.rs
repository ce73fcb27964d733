//! The uptime history end to end. Through the real binary (`support/process.rs`): a SIGTERM
//! restart and a `kill -9` restart keep every result the API had shown, and the incident
//! still open stays one incident; a corrupted store file is moved aside with an error line
//! and a fresh store starts. In process: the figures of `/api/v1/uptime` and the
//! `blackwatch_uptime_ratio` gauge equal `count_over_time`, `sum_over_time` and
//! `avg_over_time(probe_success[w])` computed by a real Prometheus 2.42 scraping the same
//! `/metrics`, for a flapping loopback target probed every second.
//!
//! Lining up the samples: Prometheus stamps a sample with its scrape time, blackwatch rolls
//! a probe up by its start time. With both at 1 s and the probe's phase chosen (by the job
//! name, `schedule::loop_phase`) about half a second before the scrape's, every scrape sees
//! exactly the probe `δ` ms before it, so `(E − w, E]` in probe time is `(E + δ − w, E + δ]`
//! in scrape time. Nothing leaves loopback; prometheus comes from the Debian package and the
//! test fails (not skips) without it.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use serde_json::Value;

use crate::support::process::spawn_listening;
use crate::support::prometheus::Prometheus;
use crate::support::{handlers, poll, Daemon, HttpServer, TestResponse};

const BIN: &str = env!("CARGO_BIN_EXE_blackwatch");

const MODULES: &str = "modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
";

async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let resp = crate::support::try_http_request(
        addr,
        Method::GET,
        path,
        &[],
        Bytes::new(),
        Duration::from_secs(30),
    )
    .await
    .ok()?;
    Some((resp.status, resp.text()))
}

async fn get_json(addr: SocketAddr, path: &str) -> Result<Value, String> {
    match get(addr, path).await {
        Some((200, body)) => serde_json::from_str(&body).map_err(|e| format!("{e}: {body}")),
        Some((status, body)) => Err(format!("{status}: {body}")),
        None => Err(format!("GET {path} failed")),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// The binary: restarts and a corrupted file
// ---------------------------------------------------------------------------

struct Proc {
    child: std::process::Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    async fn start(dir: &Path) -> Proc {
        Proc::start_with(dir, &[]).await
    }

    async fn start_with(dir: &Path, args: &[&str]) -> Proc {
        let mut cmd = Command::new(BIN);
        cmd.args(args);
        cmd.arg("--web.listen-address=127.0.0.1:0")
            .arg(format!(
                "--config.file={}",
                dir.join("blackwatch.yml").display()
            ))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg("--uptime.flush-interval=300ms");
        let spawned = spawn_listening(cmd, Duration::from_secs(20)).await;
        let stderr = spawned.stderr.clone();
        match spawned.addr {
            Some(addr) => Proc {
                child: spawned.child,
                addr,
                stderr,
            },
            None => panic!(
                "blackwatch did not start; stderr:\n{}",
                stderr.lock().map(|l| l.join("\n")).unwrap_or_default()
            ),
        }
    }

    fn stderr_text(&self) -> String {
        self.stderr.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    fn term(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// (probes, successes, incidents) per instance of job `web` over the last hour.
async fn counts(addr: SocketAddr) -> Result<Vec<(String, u64, u64, u64)>, String> {
    let v = get_json(addr, "/api/v1/uptime?job=web&window=1h").await?;
    let targets = v["data"]["targets"].as_array().cloned().unwrap_or_default();
    Ok(targets
        .iter()
        .map(|t| {
            (
                t["instance"].as_str().unwrap_or_default().to_string(),
                t["probes"].as_u64().unwrap_or_default(),
                t["successes"].as_u64().unwrap_or_default(),
                t["incidents"].as_u64().unwrap_or_default(),
            )
        })
        .collect())
}

/// A loopback URL nothing listens on (its failure reason names the refused connection).
fn refused_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    format!("http://127.0.0.1:{port}/down")
}

/// Starts the binary probing an up and a down target every second, waits until the API
/// shows at least three probes of each, and returns the daemon with what it showed.
async fn probing(dir: &Path, ok: &HttpServer, bad: &str) -> (Proc, Vec<(String, u64, u64, u64)>) {
    std::fs::write(
        dir.join("blackwatch.yml"),
        format!(
            "{MODULES}probes:\n  - job: web\n    module: http_2xx\n    interval: 1s\n    targets: ['{}', '{}']\n",
            ok.url("/"),
            bad
        ),
    )
    .expect("write config");
    let proc = Proc::start(dir).await;
    let seen = poll::until(
        "three probes of each target in the API",
        Duration::from_secs(30),
        async || {
            let c = counts(proc.addr).await?;
            if c.len() == 2 && c.iter().all(|t| t.1 >= 3) {
                Ok(c)
            } else {
                Err(format!("{c:?}"))
            }
        },
    )
    .await;
    (proc, seen)
}

/// After a restart, every count is at least what was shown before, and the down target
/// still has exactly one (open) incident with its first failure's reason.
async fn assert_kept(proc: &Proc, before: &[(String, u64, u64, u64)], bad_url: &str) {
    let after = counts(proc.addr).await.expect("counts after restart");
    assert_eq!(after.len(), 2, "{after:?}\n{}", proc.stderr_text());
    for (b, a) in before.iter().zip(after.iter()) {
        assert_eq!(a.0, b.0);
        assert!(
            a.1 >= b.1 && a.2 >= b.2,
            "before {before:?}, after {after:?}"
        );
    }
    let inc = get_json(proc.addr, "/api/v1/uptime/incidents?window=1h")
        .await
        .expect("incidents");
    let list = inc["data"]["incidents"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(list.len(), 1, "{inc}");
    assert_eq!(list[0]["instance"], bad_url);
    assert_eq!(list[0]["ongoing"], true);
    assert!(
        list[0]["reason"]
            .as_str()
            .is_some_and(|r| r.to_lowercase().contains("connection refused")),
        "{inc}"
    );
    assert!(
        !proc.stderr_text().contains("corrupt"),
        "{}",
        proc.stderr_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_survives_a_sigterm_restart() {
    let ok = HttpServer::plain(handlers::ok());
    let bad = refused_url();
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut proc, _) = probing(dir.path(), &ok, &bad).await;
    let before = counts(proc.addr).await.expect("counts");
    proc.term();
    let proc = Proc::start(dir.path()).await;
    assert_kept(&proc, &before, &bad).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_survives_kill_9() {
    let ok = HttpServer::plain(handlers::ok());
    let bad = refused_url();
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut proc, before) = probing(dir.path(), &ok, &bad).await;
    // Everything the API showed was committed; kill -9 right after must keep it.
    proc.kill9();
    let proc = Proc::start(dir.path()).await;
    assert_kept(&proc, &before, &bad).await;
    // And the store keeps taking results.
    poll::until(
        "new results after the restart",
        Duration::from_secs(20),
        async || {
            let c = counts(proc.addr).await?;
            if c.iter().zip(before.iter()).all(|(a, b)| a.1 > b.1) {
                Ok(())
            } else {
                Err(format!("{c:?} vs {before:?}"))
            }
        },
    )
    .await;
}

/// A rule over a range longer than `--storage.retention` reads the rollups: after a
/// restart (the store's raw points are gone) and with 2 s of raw retention,
/// `count_over_time(probe_success[1h])` counts the probes made before the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_read_long_ranges_from_the_history_across_a_restart() {
    let ok = HttpServer::plain(handlers::ok());
    let bad = refused_url();
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut proc, before) = probing(dir.path(), &ok, &bad).await;
    proc.term();
    let config = std::fs::read_to_string(dir.path().join("blackwatch.yml")).expect("config");
    std::fs::write(
        dir.path().join("blackwatch.yml"),
        format!("{config}global:\n  evaluation_interval: 1s\nrule_files: [rules.yml]\n"),
    )
    .expect("write config");
    // Raw points alone (2 s at one probe a second) never count more than three.
    let threshold = before.iter().map(|t| t.1).min().unwrap_or_default() + 1;
    std::fs::write(
        dir.path().join("rules.yml"),
        format!(
            "groups:\n  - name: long\n    rules:\n      - alert: ManyProbes\n        expr: count_over_time(probe_success{{job=\"web\"}}[1h]) >= {threshold}\n      - alert: LowUptime\n        expr: avg_over_time(probe_success{{job=\"web\"}}[1h]) < 0.5\n"
        ),
    )
    .expect("write rules");
    assert!(threshold > 3, "{before:?}");
    let proc = Proc::start_with(dir.path(), &["--storage.retention=2s"]).await;
    poll::until(
        "ManyProbes firing for both targets, LowUptime for the down one",
        Duration::from_secs(30),
        async || {
            let v = get_json(proc.addr, "/api/v1/alerts").await?;
            let alerts = v["data"]["alerts"].as_array().cloned().unwrap_or_default();
            let of = |name: &str| -> Vec<String> {
                let mut v: Vec<String> = alerts
                    .iter()
                    .filter(|a| a["labels"]["alertname"] == name && a["state"] == "firing")
                    .map(|a| {
                        a["labels"]["instance"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string()
                    })
                    .collect();
                v.sort();
                v
            };
            let mut both = vec![ok.url("/"), bad.clone()];
            both.sort();
            if of("ManyProbes") == both && of("LowUptime") == [bad.clone()] {
                Ok(())
            } else {
                Err(format!("{v}\n{}", proc.stderr_text()))
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_store_is_moved_aside_with_an_error_and_a_fresh_one_starts() {
    let ok = HttpServer::plain(handlers::ok());
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let garbage = b"this is not a redb file\n".repeat(1000);
    std::fs::write(data.join("uptime.redb"), &garbage).expect("write garbage");
    std::fs::write(
        dir.path().join("blackwatch.yml"),
        format!(
            "{MODULES}probes:\n  - job: web\n    module: http_2xx\n    interval: 1s\n    targets: ['{}']\n",
            ok.url("/")
        ),
    )
    .expect("write config");
    let proc = Proc::start(dir.path()).await;
    // The store is opened right after the listener is announced.
    let line = poll::until(
        "an error line about the corrupted store",
        Duration::from_secs(10),
        async || {
            let stderr = proc.stderr_text();
            match stderr
                .lines()
                .find(|l| l.contains("uptime store is corrupted"))
            {
                Some(l) => Ok(l.to_string()),
                None => Err(stderr),
            }
        },
    )
    .await;
    assert!(
        line.contains("ERROR") || line.contains("level=error"),
        "{line}"
    );
    assert!(line.contains("uptime.redb.corrupt-"), "{line}");
    let aside: Vec<_> = std::fs::read_dir(&data)
        .expect("read data dir")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("uptime.redb.corrupt-")
        })
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(
        std::fs::read(aside[0].path()).expect("read moved file"),
        garbage,
        "the corrupted file is kept as it was"
    );
    // The fresh store works.
    poll::until(
        "results in the fresh store",
        Duration::from_secs(20),
        async || {
            let c = counts(proc.addr).await?;
            if c.first().is_some_and(|t| t.1 >= 1) {
                Ok(())
            } else {
                Err(format!("{c:?}"))
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_api_parameters_are_400_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("blackwatch.yml"), MODULES).expect("write config");
    let proc = Proc::start(dir.path()).await;
    for (query, reason) in [
        ("window=banana", "invalid parameter \\\"window\\\""),
        ("window=0", "must be positive"),
        ("from=yesterday", "invalid parameter \\\"from\\\""),
        ("to=1700000000", "to needs from"),
        ("window=1h&from=1700000000", "either window or from/to"),
        ("from=1700000100&to=1700000000", "must be before"),
    ] {
        for path in ["/api/v1/uptime", "/api/v1/uptime/incidents"] {
            let (status, body) = get(proc.addr, &format!("{path}?{query}"))
                .await
                .expect("response");
            assert_eq!(status, 400, "{path}?{query}: {body}");
            assert!(body.contains("\"errorType\":\"bad_data\""), "{body}");
            assert!(body.contains(reason), "{path}?{query}: {body}");
        }
    }
    let ok = get_json(
        proc.addr,
        "/api/v1/uptime?from=2023-11-14T22:13:20Z&to=1700003600",
    )
    .await
    .expect("a good range");
    assert_eq!(ok["status"], "success");
    // Older than the minute rollups: widened to whole hours, and said so.
    assert_eq!(ok["data"]["window"]["from"], "2023-11-14T22:00:00.000Z");
    assert_eq!(ok["data"]["window"]["to"], "2023-11-15T00:00:00.000Z");
}

// ---------------------------------------------------------------------------
// Against a real Prometheus
// ---------------------------------------------------------------------------

/// `(timestamp ms, value)` of the newest sample of `selector[10s]`.
async fn newest_sample(prom: SocketAddr, selector: &str) -> Option<i64> {
    let path = format!(
        "/api/v1/query?query={}",
        urlencode(&format!("{selector}[10s]"))
    );
    let v = get_json(prom, &path).await.ok()?;
    let values = v["data"]["result"][0]["values"].as_array()?.clone();
    let ts = values.last()?[0].as_f64()?;
    Some((ts * 1000.0).round() as i64)
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A scalar PromQL result at `t_ms`.
async fn prom_value(prom: SocketAddr, expr: &str, t_ms: i64) -> f64 {
    let path = format!(
        "/api/v1/query?query={}&time={}.{:03}",
        urlencode(expr),
        t_ms / 1000,
        t_ms % 1000
    );
    let v = get_json(prom, &path).await.expect("prometheus query");
    v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{expr} at {t_ms}: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_equal_prometheus_avg_over_time_of_probe_success() {
    let up = Arc::new(AtomicBool::new(true));
    let state = up.clone();
    let target = HttpServer::plain(move |_req: &crate::support::TestRequest| {
        if state.load(Ordering::SeqCst) {
            TestResponse::ok()
        } else {
            TestResponse::new(503)
        }
    });
    let url = target.url("/");
    // No probes yet: Prometheus scrapes from before the first one.
    let daemon = Daemon::start(MODULES).await;
    let mut prometheus = Prometheus::start(
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n\
             scrape_configs:\n  - job_name: blackwatch-scrape\n    honor_labels: true\n    \
             static_configs:\n      - targets: ['{}']\n",
            daemon.addr
        ),
        &[],
        &[],
    );
    let scrape_ms = poll::until(
        "Prometheus' first scrapes",
        Duration::from_secs(30),
        async || {
            prometheus.assert_running();
            newest_sample(prometheus.addr, "up")
                .await
                .ok_or(prometheus.log())
        },
    )
    .await;
    // A job name whose probes run ~500 ms before each scrape.
    let (job, delta) = (0..10_000)
        .map(|n| format!("flap{n}"))
        .find_map(|job| {
            let phase = blackwatch::schedule::loop_phase(&job, &url, Duration::from_secs(1));
            let delta = (scrape_ms - phase.as_millis() as i64).rem_euclid(1000);
            (450..=550).contains(&delta).then_some((job, delta))
        })
        .expect("a job name with a usable phase");
    daemon.write_config(&format!(
        "{MODULES}probes:\n  - job: {job}\n    module: http_2xx\n    interval: 1s\n    targets: ['{url}']\n"
    ));
    let reload =
        crate::support::http_request(daemon.addr, Method::POST, "/-/reload", &[], Bytes::new())
            .await;
    assert_eq!(reload.status, 200, "{}", reload.text());
    // Flap: a pattern of runs of different lengths, independent of the probes' timing.
    let flapper = tokio::spawn({
        let up = up.clone();
        async move {
            for n in 0u64.. {
                up.store(!matches!(n % 9, 2 | 3 | 6), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(1700)).await;
            }
        }
    });
    let first = poll::until(
        "the job's first probe",
        Duration::from_secs(20),
        async || {
            let v = get_json(daemon.addr, &format!("/api/v1/uptime?job={job}&window=5m")).await?;
            match v["data"]["targets"][0]["probes"].as_u64() {
                Some(n) if n > 0 => Ok(now_ms()),
                _ => Err(v.to_string()),
            }
        },
    )
    .await;
    let e1 = (first / 60_000 + 1) * 60_000;
    let e2 = e1 + 60_000;
    // Both sides have everything up to e2 once the scrape after it and our flush are done.
    while now_ms() < e2 + delta + 7_000 {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let sel = format!("probe_success{{job=\"{job}\"}}");
    for (from, to) in [(e1 - 60_000, e1), (e1, e2), (e1 - 60_000, e2)] {
        let path = format!(
            "/api/v1/uptime?job={job}&from={}&to={}",
            from / 1000,
            to / 1000
        );
        let v = get_json(daemon.addr, &path).await.expect("uptime");
        let t = &v["data"]["targets"][0];
        let (probes, successes) = (
            t["probes"].as_u64().unwrap_or_default(),
            t["successes"].as_u64().unwrap_or_default(),
        );
        let ratio = t["uptime_ratio"].as_f64().unwrap_or(f64::NAN);
        let w = format!("{}s", (to - from) / 1000);
        let at = to + delta;
        let count = prom_value(prometheus.addr, &format!("count_over_time({sel}[{w}])"), at).await;
        let sum = prom_value(prometheus.addr, &format!("sum_over_time({sel}[{w}])"), at).await;
        let avg = prom_value(prometheus.addr, &format!("avg_over_time({sel}[{w}])"), at).await;
        let what = format!(
            "({from}, {to}] δ={delta}ms: ours {v}\nprometheus count {count} sum {sum} avg {avg}"
        );
        assert_eq!(probes as f64, count, "{what}");
        assert_eq!(successes as f64, sum, "{what}");
        assert!((ratio - avg).abs() < 1e-12, "{what}");
        if (from, to) == (e1, e2) {
            assert_eq!(probes, 60, "{what}");
            assert!(successes > 0 && successes < 60, "a flapping minute: {what}");
        }
    }
    // The 24h gauge of the first minute boundary it is computed for, against Prometheus'
    // avg_over_time over everything since the start.
    let (end, gauge) = poll::until("the uptime gauges at or after e2", Duration::from_secs(60), async || {
        let text = get(daemon.addr, "/metrics").await.map(|r| r.1).unwrap_or_default();
        let end = text
            .lines()
            .find_map(|l| l.strip_prefix("blackwatch_uptime_window_end_timestamp_seconds "))
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(0)
            * 1000;
        let prefix = format!("blackwatch_uptime_ratio{{job=\"{job}\",instance=\"{url}\",module=\"http_2xx\",window=\"24h\"}} ");
        let gauge = text.lines().find_map(|l| l.strip_prefix(prefix.as_str())).and_then(|v| v.parse::<f64>().ok());
        match gauge {
            Some(g) if end >= e2 => Ok((end, g)),
            _ => Err(text.lines().filter(|l| l.starts_with("blackwatch_uptime")).collect::<Vec<_>>().join("\n")),
        }
    })
    .await;
    while now_ms() < end + delta + 1_500 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let avg = prom_value(
        prometheus.addr,
        &format!("avg_over_time({sel}[24h])"),
        end + delta,
    )
    .await;
    assert!(
        (gauge - avg).abs() < 1e-12,
        "gauge {gauge} vs prometheus {avg} at {end}+{delta}"
    );
    flapper.abort();
}
