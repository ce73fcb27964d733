//! Page render times at issue 18's size: 10,000 scheduled targets with 90 days of day
//! rollups, 30 days of hour rollups and the last 24 hours of minute rollups written
//! straight into the uptime store (not by waiting), 1 % of them failing with an incident,
//! and every target's latest result in the result store. Then, on the daemon built over
//! that store (`daemon::Daemon`, as the binary does):
//!
//! * `/` (the operator page: 100 healthy and 100 failing rows with their bars and failure
//!   reasons, the recent incidents);
//! * one target's detail view (`/target`) with the 24 h chart, and with the 30-day chart;
//! * the 30-day response-time chart alone (read + SVG);
//! * a public status page of 20 targets;
//! * an uptime badge (30 d).
//!
//! Run with `cargo bench --bench pages` (`PAGES_BENCH_TARGETS`, `PAGES_BENCH_RUNS` change
//! the size and the repetitions). Times are the median and the worst of the runs.

use std::collections::BTreeMap;
use std::time::Duration;

use blackwatch::store::GroupKey;
use blackwatch::uptime::db::{Batch, Db, StoredIncident};
use blackwatch::uptime::period::{floor_to, Level, Window, DAY_MS, MINUTE_MS};
use blackwatch::uptime::rollup::{bucket_of, Rollup};
use tokio::time::Instant;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn key(i: u64) -> GroupKey {
    GroupKey {
        job: "web".into(),
        instance: format!("https://service-{i}.example.com/health").into(),
        module: "http_2xx".into(),
    }
}

/// `probes` probes, `failed` of them failed, all at `latency` seconds.
fn rollup(probes: u64, failed: u64, latency: f64) -> Rollup {
    let mut r = Rollup {
        probes,
        successes: probes - failed.min(probes),
        latency_sum: latency * probes as f64,
        ..Rollup::default()
    };
    r.histogram[bucket_of(latency)] = probes as u32;
    r
}

/// A deterministic pseudo-random number for (target, period).
fn hash(i: u64, p: u32) -> u64 {
    let mut h =
        (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(p)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

fn write_store(dir: &std::path::Path, targets: u64, now: i64) {
    let db = Db::open(dir, now / 1000, 16 << 20).expect("open");
    let mut batch = Batch::default();
    for i in 0..targets {
        batch.new_targets.push((i as u32, key(i)));
    }
    // 1 % of the targets failing now, with an ongoing incident; 5 % with an old one.
    for i in 0..targets {
        if i % 100 == 7 {
            batch.incidents.push(StoredIncident {
                target: i as u32,
                start_ms: now - 20 * MINUTE_MS,
                end_ms: None,
                reason: "Invalid HTTP response status code (status_code=503 valid_status_codes=[])"
                    .into(),
            });
        }
        if i % 20 == 3 {
            batch.incidents.push(StoredIncident {
                target: i as u32,
                start_ms: now - 3 * DAY_MS,
                end_ms: Some(now - 3 * DAY_MS + 7 * MINUTE_MS),
                reason: "connection refused".into(),
            });
        }
    }
    db.write(&batch).expect("targets");
    let lat = |i: u64, p: u32| 0.02 + (hash(i, p) % 280) as f64 / 1000.0;
    let failed = |i: u64, p: u32, n: u64| u64::from(hash(i, p) % 1000 < 3) * (n / 40).max(1);
    let t = Instant::now();
    let today = Level::Day.period_of(now);
    let mut rows = Vec::new();
    for p in today - 89..=today {
        for i in 0..targets {
            rows.push((p, i as u32, rollup(2880, failed(i, p, 2880), lat(i, p))));
        }
    }
    db.write_rollups(Level::Day, &rows).expect("days");
    let hour = Level::Hour.period_of(now);
    for chunk_start in (hour - 30 * 24..=hour).step_by(24) {
        let mut rows = Vec::new();
        for p in chunk_start..(chunk_start + 24).min(hour + 1) {
            for i in 0..targets {
                rows.push((p, i as u32, rollup(120, failed(i, p, 120), lat(i, p))));
            }
        }
        db.write_rollups(Level::Hour, &rows).expect("hours");
    }
    let minute = Level::Minute.period_of(now);
    for chunk_start in (minute - 24 * 60..=minute).step_by(60) {
        let mut rows = Vec::new();
        for p in chunk_start..(chunk_start + 60).min(minute + 1) {
            for i in 0..targets {
                rows.push((p, i as u32, rollup(2, failed(i, p, 2), lat(i, p))));
            }
        }
        db.write_rollups(Level::Minute, &rows).expect("minutes");
    }
    drop(db);
    let bytes = std::fs::metadata(dir.join("uptime.redb"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "store: {targets} targets, 90 days of days, 30 days of hours, 24 h of minutes written in {:.1} s; {:.0} MiB",
        t.elapsed().as_secs_f64(),
        bytes as f64 / 1048576.0
    );
}

/// The size of `text` gzip-compressed as the server sends it to browsers.
fn gzipped(text: &str) -> usize {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = enc.write_all(text.as_bytes());
    enc.finish().map(|z| z.len()).unwrap_or(0)
}

/// Runs `f` `runs` times; prints the median and the worst.
async fn time<T, F: AsyncFnMut() -> T>(what: &str, runs: u64, mut f: F) -> T {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        last = Some(f().await);
        times.push(t.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what:<52} median {:>8.2} ms   worst {:>8.2} ms   ({} runs)",
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1]),
        times.len()
    );
    match last {
        Some(v) => v,
        None => unreachable!("runs ≥ 1"),
    }
}

fn main() {
    let targets = env("PAGES_BENCH_TARGETS", 10_000);
    let runs = env("PAGES_BENCH_RUNS", 20);
    let tmp = tempfile::tempdir().expect("temp dir");
    let now = floor_to(blackwatch::clock::Now::read().unix_ms(), MINUTE_MS) + 30_000;
    write_store(tmp.path(), targets, now);
    let page_targets: String = (0..20)
        .map(|i| {
            let n = i * (targets / 20).max(1);
            format!(
                "          - {{job: web, instance: \"https://service-{n}.example.com/health\", name: \"Service {n}\"}}\n"
            )
        })
        .collect();
    let yaml = format!(
        "modules:\n  http_2xx:\n    prober: http\nprobes:\n  - job: web\n    module: http_2xx\n    file_sd:\n      - files: [\"/nonexistent/*.json\"]\n\
         status_pages:\n  - path: /status\n    title: Bench\n    groups:\n      - name: All\n        targets:\n{page_targets}"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let config =
            blackwatch::config::load_str(&yaml, std::path::Path::new("bench.yml")).expect("config");
        let settings = blackwatch::state::Settings {
            storage_path: tmp.path().to_path_buf(),
            ..Default::default()
        };
        let token = tokio_util::sync::CancellationToken::new();
        let daemon =
            blackwatch::daemon::Daemon::build(config, settings, token.clone()).expect("daemon");
        let state = daemon.state().clone();
        for i in 0..targets {
            let mut reg = blackwatch::probe::Registry::new();
            reg.set("probe_success", "", if i % 100 == 7 { 0.0 } else { 1.0 });
            reg.set("probe_duration_seconds", "", 0.1 + (i % 50) as f64 / 1000.0);
            state.store.record(&key(i), &BTreeMap::new(), now, &reg);
        }
        let uptime = state.uptime.clone().expect("uptime history");
        let form = blackwatch::server::status::Form::default();
        let page = time("/ (operator page)", runs, async || {
            blackwatch::server::status::render(&state, &form, None).await
        })
        .await;
        println!("  /: {} bytes ({} gzipped)", page.len(), gzipped(&page));
        let k = key(7);
        let body = time(
            "/target, 24 h chart (one failing target)",
            runs,
            async || blackwatch::server::status::detail_body(&uptime, &k, "24h", now, Some(false)),
        )
        .await;
        let body = body.unwrap_or_default();
        println!(
            "  /target: {} bytes ({} gzipped)",
            body.len(),
            gzipped(&body)
        );
        time("/target, 30 d chart", runs, async || {
            blackwatch::server::status::detail_body(&uptime, &k, "30d", now, Some(false))
        })
        .await;
        let w = Window {
            from_ms: floor_to(now, MINUTE_MS) + MINUTE_MS - 30 * DAY_MS,
            to_ms: floor_to(now, MINUTE_MS) + MINUTE_MS,
        };
        let svg = time(
            "30-day response-time chart (read + SVG)",
            runs,
            async || {
                let s = uptime.series(&k, w, 180, now).expect("series");
                blackwatch::server::charts::response_chart(&s, 1000, 220)
            },
        )
        .await;
        println!("  chart: {} bytes", svg.len());
        let cfg = state.config();
        let public = time("public status page (20 targets)", runs, async || {
            blackwatch::server::public::render_page(&state, &cfg.status_pages[0], now)
        })
        .await;
        println!(
            "  public page: {} bytes ({} gzipped)",
            public.len(),
            gzipped(&public)
        );
        time("uptime badge, 30 d", runs, async || {
            blackwatch::server::public::badge_text(
                &state,
                "web",
                "https://service-7.example.com/health",
                "uptime",
                Some("30d"),
                false,
                now,
            )
        })
        .await;
        daemon.shutdown(Duration::from_secs(5)).await;
    });
}
