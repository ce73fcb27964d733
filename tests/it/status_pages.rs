//! The uptime views end to end: an in-process daemon whose history was written straight
//! into its store (89 past days, 24 hours of latencies, an old incident) probes a loopback
//! target that answers 503, recovers, then fails again, beside a healthy one and one of
//! another job. Then:
//!
//! - `/` lists the failing target with its uptime bars, its failure reason and the
//!   incidents; its detail view (`/target`) has the bars, a response-time chart and the
//!   incident list; values are formatted for people;
//! - the public status pages, on `--web.public-listen-address`'s listener: only the
//!   configured groups, display names, and with `hide:` no failure or incident reasons and
//!   no addresses (a second page without `hide:` shows them, so the check means something);
//!   nothing of the operator UI is served or linked there;
//! - badges parse as SVG (roxmltree) with the right text, `image/svg+xml` and
//!   Cache-Control; an unknown target gets a 404 badge; the public listener serves badges
//!   only for targets on a page;
//! - headless Chromium (Debian package `chromium`; the test fails without it) renders `/`,
//!   the detail view and the public page with their SVG; screenshots are kept under
//!   `target/tmp/status_pages/` and their paths printed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use blackwatch::store::GroupKey;
use blackwatch::uptime::db::{Batch, Db, StoredIncident};
use blackwatch::uptime::period::{floor_to, Level, DAY_MS, HOUR_MS};
use blackwatch::uptime::rollup::Rollup;
use blackwatch::uptime::writer::Pending;
use bytes::Bytes;
use http::Method;
use serde_json::Value;

use crate::support::{dedent, poll, HttpResponse, HttpServer, TestResponse};

const WAIT: Duration = Duration::from_secs(30);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn key(job: &str, instance: &str) -> GroupKey {
    GroupKey {
        job: Arc::from(job),
        instance: Arc::from(instance),
        module: Arc::from("http_2xx"),
    }
}

/// HTML-escapes as the pages do.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Percent-encodes a path segment or query value.
fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// 89 past days of day rollups (one day 97 % up, one without data), the last 24 hours
/// probed every 5 minutes with latencies between 80 and 320 ms, and an incident ten days
/// ago, for the targets in `keys` (ids 0, 1, …).
fn write_history(dir: &Path, keys: &[GroupKey]) {
    let now = now_ms();
    let db = Db::open(dir, now / 1000, 1 << 20).expect("open the store");
    let today = floor_to(now, DAY_MS);
    let mut days = Vec::new();
    for (id, _) in keys.iter().enumerate() {
        for d in 1..=89i64 {
            if d == 20 {
                continue; // no data that day
            }
            let mut r = Rollup::default();
            let ok = if d == 10 && id == 0 { 2795 } else { 2880 };
            for i in 0..2880 {
                r.observe(i < ok, 0.12);
            }
            let period = Level::Day.period_of(today - d * DAY_MS + 1);
            days.push((period, id as u32, r));
        }
    }
    db.write_rollups(Level::Day, &days).expect("day rollups");
    let mut pending = Pending::default();
    for (id, k) in keys.iter().enumerate() {
        pending.add_target(id as u32, k.clone());
        let mut t = now - DAY_MS + 60_000;
        let mut i = 0u32;
        while t < now - 10 * 60_000 {
            let latency = 0.08 + f64::from(i % 13) * 0.02;
            pending.record(id as u32, t, true, latency, None);
            t += 5 * 60_000;
            i += 1;
        }
    }
    let mut batch: Batch = pending.take();
    batch.incidents.push(StoredIncident {
        target: 0,
        start_ms: today - 10 * DAY_MS + 3 * HOUR_MS,
        end_ms: Some(today - 10 * DAY_MS + 3 * HOUR_MS + 42 * 60_000),
        reason: "connection refused (ten days ago)".into(),
    });
    db.write(&batch).expect("write history");
}

/// A daemon on two listeners: the operator one and `--web.public-listen-address`'s.
struct Running {
    addr: SocketAddr,
    public: SocketAddr,
    _dir: tempfile::TempDir,
    token: tokio_util::sync::CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

async fn start(yaml: &str, keys: &[GroupKey]) -> Running {
    crate::support::install_crypto();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    write_history(&data, keys);
    let config_path = dir.path().join("blackwatch.yml");
    std::fs::write(&config_path, dedent(yaml)).expect("write config");
    let cfg = match blackwatch::config::load(&config_path) {
        Ok(c) => c,
        Err(e) => panic!("test config does not load:\n{e}"),
    };
    let settings = blackwatch::state::Settings {
        config_file: Some(config_path),
        storage_path: data,
        uptime: blackwatch::uptime::Options {
            flush_interval: Duration::from_millis(200),
            ..Default::default()
        },
        ..Default::default()
    };
    let token = tokio_util::sync::CancellationToken::new();
    let daemon =
        blackwatch::daemon::Daemon::build(cfg, settings, token.clone()).expect("daemon builds");
    let bind = || async {
        tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0")
    };
    let (main, public) = (bind().await, bind().await);
    let addr = main.local_addr().expect("addr");
    let public_addr = public.local_addr().expect("addr");
    let _main = daemon.serve(main, blackwatch::server::ServerOptions::default());
    let _public = daemon.serve_public(public, blackwatch::server::ServerOptions::default());
    // The daemon's tasks stop with the token; keep its handle alive with them.
    let d = Arc::new(daemon);
    let t = token.clone();
    tokio::spawn(async move {
        t.cancelled().await;
        d.shutdown(Duration::from_secs(1)).await;
    });
    Running {
        addr,
        public: public_addr,
        _dir: dir,
        token,
    }
}

async fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    crate::support::http_request(addr, Method::GET, path, &[], Bytes::new()).await
}

async fn incidents(addr: SocketAddr, instance: &str) -> Vec<Value> {
    let r = get(
        addr,
        &format!(
            "/api/v1/uptime/incidents?job=web&instance={}&window=1h",
            enc(instance)
        ),
    )
    .await;
    let v: Value = serde_json::from_str(&r.text()).unwrap_or(Value::Null);
    v["data"]["incidents"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The text of every `<text>`/`<title>` node of an SVG, after checking it parses.
fn svg_texts(svg: &str) -> Vec<String> {
    let doc = match roxmltree::Document::parse(svg) {
        Ok(d) => d,
        Err(e) => panic!("not well-formed SVG ({e}):\n{svg}"),
    };
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    assert_eq!(
        doc.root_element().tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    doc.descendants()
        .filter(|n| matches!(n.tag_name().name(), "text" | "title"))
        .filter_map(|n| n.text().map(str::to_string))
        .collect()
}

fn assert_badge(r: &HttpResponse, status: u16, texts: &[&str]) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("image/svg+xml; charset=utf-8")
    );
    assert_eq!(r.header("cache-control"), Some("public, max-age=60"));
    let all = svg_texts(&r.text());
    for t in texts {
        assert!(all.iter().any(|x| x == t), "{t:?} not in {all:?}");
    }
}

/// Chromium's DOM of `url`, and a screenshot of it at `shot`.
async fn chromium(url: &str, shot: &Path) -> String {
    let run = |extra: Vec<String>| async move {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut cmd = tokio::process::Command::new("chromium");
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .args(extra)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null());
        match tokio::time::timeout(Duration::from_secs(90), cmd.output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => panic!(
                "running chromium failed ({e}); install the Debian package `chromium` (.ci/run does)"
            ),
            Err(_) => panic!("chromium {url} did not finish in 90s"),
        }
    };
    let out = run(vec!["--dump-dom".into()]).await;
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && dom.contains("</html>"),
        "chromium --dump-dom {url} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(vec![
        format!("--screenshot={}", shot.display()),
        "--window-size=1280,2400".into(),
    ])
    .await;
    let size = std::fs::metadata(shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        out.status.success() && size > 10_000,
        "chromium --screenshot {url} failed ({size} bytes): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("screenshot of {url}: {}", shot.display());
    dom
}

fn artefacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("status_pages");
    std::fs::create_dir_all(&dir).expect("artefact dir");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_show_bars_chart_and_incidents_and_the_public_page_hides_what_it_should() {
    let failing = Arc::new(AtomicBool::new(true));
    let f = Arc::clone(&failing);
    let bad = HttpServer::plain(move |_| {
        if f.load(Ordering::SeqCst) {
            TestResponse::text(503, "maintenance")
        } else {
            TestResponse::ok()
        }
    });
    let good = HttpServer::plain(|_| TestResponse::ok());
    let other = HttpServer::plain(|_| TestResponse::ok());
    let (bad_url, good_url, other_url) = (bad.url("/shop"), good.url("/docs"), other.url("/int"));
    let yaml = format!(
        r#"
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
            targets: ["{bad_url}", "{good_url}"]
          - job: internal
            module: http_2xx
            interval: 1s
            targets: ["{other_url}"]
        status_pages:
          - path: /status/public
            title: Example Inc. status
            description: Our public services.
            hide:
              failure_reasons: true
              incident_reasons: true
              addresses: true
            groups:
              - name: Website
                targets:
                  - {{job: web, instance: "{bad_url}", name: Shop}}
                  - {{job: web, instance: "{good_url}", name: Docs}}
          - path: /status/full
            title: Everything shown
            groups:
              - name: Website
                targets:
                  - {{job: web, instance: "{bad_url}", name: Shop}}
        "#
    );
    let keys = [key("web", &bad_url), key("web", &good_url)];
    let d = start(&yaml, &keys).await;

    // Failing, recovered, failing again: one resolved incident and one ongoing.
    let reason = poll::until("an ongoing incident", WAIT, async || {
        let list = incidents(d.addr, &bad_url).await;
        match list.iter().find(|i| i["ongoing"] == true) {
            Some(i) => Ok(i["reason"].as_str().unwrap_or_default().to_string()),
            None => Err(format!("{list:?}")),
        }
    })
    .await;
    assert!(reason.contains("503"), "{reason}");
    failing.store(false, Ordering::SeqCst);
    poll::until("the incident resolved", WAIT, async || {
        let list = incidents(d.addr, &bad_url).await;
        if !list.is_empty() && list.iter().all(|i| i["ongoing"] == false) {
            Ok(())
        } else {
            Err(format!("{list:?}"))
        }
    })
    .await;
    failing.store(true, Ordering::SeqCst);
    poll::until("a second, ongoing incident", WAIT, async || {
        let list = incidents(d.addr, &bad_url).await;
        if list.len() >= 2 && list[0]["ongoing"] == true {
            Ok(())
        } else {
            Err(format!("{list:?}"))
        }
    })
    .await;
    // `/` shows the probe as failing once the store has it.
    poll::until("the target failing on /", WAIT, async || {
        let page = get(d.addr, "/").await.text();
        if page.contains("<tr class=\"target down\">") {
            Ok(())
        } else {
            Err("not yet".to_string())
        }
    })
    .await;

    // --- The operator page. ---
    let page = get(d.addr, "/").await.text();
    let row = page
        .split("<tr class=\"target down\">")
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .expect("the failing row");
    assert!(row.contains(&bad_url.replace('&', "&amp;")), "{row}");
    assert!(
        row.contains("<svg class=\"bars\""),
        "bars in the row: {row}"
    );
    assert!(
        row.contains(&esc(&reason)),
        "failure reason in the row: {row}"
    );
    assert!(row.contains("(since "), "{row}");
    let detail = format!(
        "target?job=web&amp;instance={}&amp;module=http_2xx",
        enc(&bad_url)
    );
    assert!(row.contains(&detail), "a link to the detail view: {row}");
    assert!(
        page.contains("id=\"incidents-table\""),
        "incident list on /"
    );
    assert!(page.contains("(ongoing)"));
    // Latencies are formatted for people.
    assert!(
        regex::Regex::new(r#"<td class="num">\d+(\.\d+)? (ms|µs|s)</td>"#)
            .expect("regex")
            .is_match(&page),
        "durations like `12.3 ms`"
    );

    let detail_path = format!("/{}", detail.replace("&amp;", "&"));
    let view = get(d.addr, &detail_path).await;
    assert_eq!(view.status, 200);
    let view = view.text();
    assert_eq!(
        view.matches("<rect class=\"day\"").count(),
        90,
        "90 daily cells"
    );
    assert!(
        view.contains("no data</title>"),
        "the day without data is grey"
    );
    assert!(
        view.contains("97.04 % (2,880 probes)"),
        "the bad day's tooltip"
    );
    assert!(
        view.contains("<svg class=\"chart\""),
        "the response-time chart"
    );
    assert!(view.contains("<polyline class=\"avg\""), "a latency line");
    for label in ["0 ms", "100 ms", "200 ms", "300 ms"] {
        assert!(
            view.contains(&format!(">{label}</text>")),
            "axis label {label}"
        );
    }
    assert!(view.contains("id=\"target-incidents-table\""));
    assert!(view.contains("connection refused (ten days ago)"));
    assert!(view.contains("42 min"), "the old incident's duration");
    assert!(view.contains("(ongoing)"));
    assert!(view.contains("Failing since"));
    assert!(view.contains(&esc(&reason)));
    let figures = view.split("id=\"figures-table\"").nth(1).expect("figures");
    assert!(
        regex::Regex::new(r"\d+(\.\d+)? %</td>")
            .expect("regex")
            .is_match(figures),
        "uptime as a percentage"
    );
    let week = get(d.addr, &format!("{detail_path}&chart=30d"))
        .await
        .text();
    assert!(week.contains("Response time (30d)") && week.contains("<svg class=\"chart\""));

    // --- The public pages, on the public listener. ---
    let public = get(d.public, "/status/public").await;
    assert_eq!(public.status, 200);
    assert_eq!(public.header("cache-control"), Some("public, max-age=30"));
    let public = public.text();
    for shown in [
        "Example Inc. status",
        "Our public services.",
        "Website",
        "Shop",
        "Docs",
    ] {
        assert!(public.contains(shown), "{shown} on the public page");
    }
    assert!(public.contains("1 of 2 services are down"));
    assert_eq!(public.matches("<svg class=\"bars\"").count(), 2);
    assert!(
        public.contains("<svg class=\"chart\""),
        "charts are not hidden"
    );
    assert!(public.contains("id=\"incident-list\""));
    assert!(public.contains("(ongoing)"));
    for hidden in [
        esc(&reason).as_str(),
        "connection refused",
        "127.0.0.1",
        "internal",
        &other_url,
        "href=",
    ] {
        assert!(!public.contains(hidden), "{hidden:?} on the public page");
    }
    let full = get(d.public, "/status/full").await.text();
    assert!(full.contains(&esc(&reason)) && full.contains("connection refused (ten days ago)"));
    assert!(full.contains(&bad_url.replace('&', "&amp;")));
    assert!(!full.contains("Docs"), "only the configured group");
    for path in [
        "/",
        "/metrics",
        "/api/v1/uptime",
        "/-/healthy",
        "/target",
        "/config",
    ] {
        assert_eq!(
            get(d.public, path).await.status,
            404,
            "{path} on the public listener"
        );
    }
    // The operator listener serves the pages too.
    assert_eq!(get(d.addr, "/status/public").await.status, 200);
    assert_eq!(get(d.addr, "/status/nope").await.status, 404);

    // --- Badges. ---
    let b = format!("/badge/web/{}", enc(&bad_url));
    let r = get(d.addr, &format!("{b}/uptime?window=30d")).await;
    assert_badge(&r, 200, &["uptime 30d"]);
    let percent = svg_texts(&r.text())
        .into_iter()
        .find(|t| t.ends_with(" %") && !t.contains(':'))
        .expect("a percentage");
    let value: f64 = percent.trim_end_matches(" %").parse().expect("a number");
    assert!(value > 90.0 && value < 100.0, "{percent}");
    let r = get(d.addr, &format!("{b}/response-time?window=24h")).await;
    assert_badge(&r, 200, &["response time 24h"]);
    assert!(
        svg_texts(&r.text())
            .iter()
            .any(|t| regex::Regex::new(r"^\d+(\.\d+)? (ms|s|µs)$")
                .expect("regex")
                .is_match(t)),
        "{}",
        r.text()
    );
    assert_badge(
        &get(d.addr, &format!("{b}/status")).await,
        200,
        &["status", "down"],
    );
    let g = format!("/badge/web/{}/status", enc(&good_url));
    assert_badge(&get(d.addr, &g).await, 200, &["up"]);
    assert_badge(
        &get(d.addr, "/badge/web/http%3A%2F%2Fnowhere.invalid%2F/uptime").await,
        404,
        &["not found"],
    );
    // Public listener: badges of page targets only.
    assert_badge(
        &get(d.public, &format!("{b}/uptime")).await,
        200,
        &["uptime 30d"],
    );
    let o = format!("/badge/internal/{}/uptime", enc(&other_url));
    assert_badge(&get(d.addr, &o).await, 200, &["uptime 30d"]);
    assert_badge(&get(d.public, &o).await, 404, &["not found"]);

    // --- Headless Chromium renders the pages with their SVG. ---
    let dir = artefacts();
    let dom = chromium(&format!("http://{}/", d.addr), &dir.join("operator.png")).await;
    assert!(dom.contains("<svg class=\"bars\"") && dom.contains("incidents-table"));
    let dom = chromium(
        &format!("http://{}{}", d.addr, detail_path),
        &dir.join("target.png"),
    )
    .await;
    assert!(dom.contains("<svg class=\"chart\"") && dom.contains("<polyline class=\"avg\""));
    assert_eq!(dom.matches("<rect class=\"day\"").count(), 90);
    let dom = chromium(
        &format!("http://{}/status/public", d.public),
        &dir.join("public.png"),
    )
    .await;
    assert!(dom.contains("Example Inc. status") && dom.contains("<svg class=\"bars\""));
    assert!(!dom.contains("127.0.0.1") && !dom.contains("maintenance"));
}

/// The real binary with `--web.public-listen-address`: it announces the second listener,
/// which serves the status page and nothing of the operator UI.
#[tokio::test]
async fn the_binary_serves_public_pages_alone_on_the_public_listener() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("blackwatch.yml");
    std::fs::write(
        &config,
        dedent(
            r#"
            modules:
              http_2xx:
                prober: http
            probes:
              - job: web
                module: http_2xx
                interval: 1h
                targets: ["http://127.0.0.1:9/"]
            status_pages:
              - path: /status
                title: Binary status
                groups:
                  - name: G
                    targets:
                      - {job: web, instance: "http://127.0.0.1:9/", name: Nine}
            "#,
        ),
    )
    .expect("write config");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_blackwatch"));
    cmd.arg("--web.listen-address=127.0.0.1:0")
        .arg("--web.public-listen-address=127.0.0.1:0")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ));
    let mut spawned = crate::support::process::spawn_listening(cmd, WAIT).await;
    let lines = Arc::clone(&spawned.stderr);
    let addr = spawned.addr.expect("the operator listener");
    let public: SocketAddr = poll::until("the public listener's line", WAIT, async || {
        let all = lines.lock().map(|l| l.clone()).unwrap_or_default();
        all.iter()
            .filter(|l| l.contains(" msg=\"public status pages listening on\""))
            .find_map(|l| l.split(" address=").nth(1)?.split(' ').next()?.parse().ok())
            .ok_or_else(|| all.join("\n"))
    })
    .await;
    let page = get(public, "/status").await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("Binary status") && page.text().contains("Nine"));
    assert_eq!(get(public, "/").await.status, 404);
    assert_eq!(get(public, "/metrics").await.status, 404);
    assert_eq!(get(addr, "/status").await.status, 200);
    assert_eq!(get(addr, "/").await.status, 200);
    let _ = spawned.child.kill();
    let _ = spawned.child.wait();
}

/// Status pages follow reloads: a page added by a reload is served at once, a removed one
/// is gone, and a bad page keeps the running config (with the positioned error).
#[tokio::test]
async fn status_pages_follow_reloads() {
    let base = r#"
        modules:
          http_2xx:
            prober: http
        probes:
          - job: web
            module: http_2xx
            interval: 1h
            targets: ["http://127.0.0.1:9/"]
        "#;
    let d = crate::support::Daemon::start(base).await;
    assert_eq!(d.get("/status").await.status, 404);
    let with_page = format!(
        "{base}
        status_pages:
          - path: /status
            title: Reloaded
            groups:
              - name: G
                targets:
                  - {{job: web, instance: \"http://127.0.0.1:9/\"}}
        "
    );
    d.write_config(&with_page);
    assert_eq!(d.post("/-/reload").await.status, 200);
    let page = d.get("/status").await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("Reloaded") && page.text().contains("http://127.0.0.1:9/"));
    d.write_config(&with_page.replace("path: /status", "path: /metrics"));
    let r = d.post("/-/reload").await;
    assert_eq!(r.status, 500);
    assert!(
        r.text()
            .contains("status_pages[0].path: \"/metrics\" collides with a built-in endpoint"),
        "{}",
        r.text()
    );
    assert_eq!(
        d.get("/status").await.status,
        200,
        "the running config is kept"
    );
    d.write_config(base);
    assert_eq!(d.post("/-/reload").await.status, 200);
    assert_eq!(d.get("/status").await.status, 404);
}
