//! The uptime history at issue 18's size: 10,000 targets probed every 30 s for a simulated
//! 30 days, written straight into the store (not by waiting), then the figures read back.
//!
//! Run with `cargo bench --bench uptime` (`UPTIME_BENCH_TARGETS`, `UPTIME_BENCH_DAYS` and
//! `UPTIME_BENCH_DIR` change the size and where the file goes). It prints:
//!
//! * the write path: the last 48 h go through the daemon's own path (`writer::Pending` →
//!   `Db::write`, one batch per minute of all targets: 10,000 results merged into minute,
//!   hour and day rows in one commit), timed per batch; the older days are written as whole
//!   hour and day rollups (`Db::write_rollups`);
//! * disk bytes (the file, and per target per day), the time to open it (every page's
//!   checksum is verified);
//! * RSS of the process, and what the history adds per target once open with a pending
//!   result for every target and the `/metrics` figures cached;
//! * query times: one target and all targets over 24h, 7d, 30d, and the once-a-minute
//!   refresh of the `/metrics` figures (4 windows, all targets).

use std::time::Duration;

use blackwatch::store::GroupKey;
use blackwatch::uptime::db::{Batch, Db};
use blackwatch::uptime::period::{floor_to, Level, DAY_MS, HOUR_MS, MINUTE_MS};
use blackwatch::uptime::rollup::Rollup;
use blackwatch::uptime::writer::{cutoffs, Pending, Sample};
use blackwatch::uptime::{Options, Query, Uptime};
use tokio::time::Instant;

/// The system allocator, counting live heap bytes, so the history's own memory per target
/// is measured exactly (RSS also moves with freed pages the allocator keeps).
struct Counting;

static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, std::sync::atomic::Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { std::alloc::System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> i64 {
    LIVE.load(std::sync::atomic::Ordering::Relaxed) as i64
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn key(i: u64) -> GroupKey {
    GroupKey {
        job: format!("job{}", i % 10).into(),
        instance: format!("https://service-{i}.example.com/health").into(),
        module: "http_2xx".into(),
    }
}

/// A deterministic probe outcome: 99.8 % success, latency 20–300 ms.
fn probe(target: u64, ts: i64) -> (bool, f64) {
    let mut h = (target.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ ts as u64)
        .wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    (h % 1000 >= 2, 0.020 + (h % 280) as f64 / 1000.0)
}

fn main() {
    let targets = env("UPTIME_BENCH_TARGETS", 10_000);
    let days = env("UPTIME_BENCH_DAYS", 30) as i64;
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = std::env::var("UPTIME_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| tmp.path().to_path_buf());
    let _ = std::fs::remove_file(dir.join("uptime.redb"));
    let now = floor_to(blackwatch::clock::Now::read().unix_ms(), MINUTE_MS);
    let opts = Options::default();
    let recent_ms = opts.minute_retention.as_millis() as i64;
    let start = floor_to(now - days * DAY_MS, HOUR_MS);
    let recent_start = floor_to(now - recent_ms, HOUR_MS);
    println!(
        "uptime bench: {targets} targets, 30 s interval, {days} days ({} to now)",
        start
    );

    let db = Db::open(&dir, now / 1000, opts.cache_bytes).expect("open");
    let t = Instant::now();
    let mut batch = Batch::default();
    for i in 0..targets {
        batch.new_targets.push((i as u32, key(i)));
    }
    db.write(&batch).expect("targets");
    // Old history: whole hour and day rollups, a day at a time.
    let mut hour = start;
    while hour < recent_start {
        let day_end = (floor_to(hour, DAY_MS) + DAY_MS).min(recent_start);
        let mut hours = Vec::new();
        let mut day_rows: std::collections::HashMap<(u32, u32), Rollup> = Default::default();
        while hour < day_end {
            for i in 0..targets {
                let mut r = Rollup::default();
                for k in 1..=120 {
                    let ts = hour + k * 30_000;
                    let (ok, lat) = probe(i, ts);
                    r.observe(ok, lat);
                }
                let h = Level::Hour.period_of(hour + 1);
                day_rows
                    .entry((Level::Day.period_of(hour + 1), i as u32))
                    .or_default()
                    .merge(&r);
                hours.push((h, i as u32, r));
            }
            hour += HOUR_MS;
        }
        hours.sort_by_key(|(p, id, _)| (*p, *id));
        db.write_rollups(Level::Hour, &hours).expect("hours");
        let mut days_v: Vec<(u32, u32, Rollup)> = day_rows
            .into_iter()
            .map(|((p, id), r)| (p, id, r))
            .collect();
        days_v.sort_by_key(|(p, id, _)| (*p, *id));
        db.write_rollups(Level::Day, &days_v).expect("days");
    }
    let old_secs = t.elapsed().as_secs_f64();
    // The last 48 h through the daemon's write path: one batch per minute of all targets.
    let t = Instant::now();
    let mut pending = Pending::default();
    let mut batches = 0u64;
    let mut minute = recent_start;
    while minute < now {
        for k in [30_000, 60_000] {
            let ts = minute + k;
            for i in 0..targets {
                let (ok, lat) = probe(i, ts);
                pending.record(i as u32, ts, ok, lat, (!ok).then_some("Probe failed"));
            }
        }
        let mut b = pending.take();
        b.prune = Some(cutoffs(
            minute + MINUTE_MS,
            opts.minute_retention,
            opts.hour_retention,
        ));
        db.write(&b).expect("batch");
        batches += 1;
        minute += MINUTE_MS;
    }
    let recent_secs = t.elapsed().as_secs_f64();
    drop(db);
    let bytes = std::fs::metadata(dir.join("uptime.redb"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "write: {days} days in {:.1} s ({:.1} s for the hour/day rollups older than 48 h; {:.1} s for the last 48 h \
         through Pending → Db::write, {batches} batches of {} results: {:.1} ms a batch, {:.0} results/s)",
        old_secs + recent_secs,
        old_secs,
        recent_secs,
        2 * targets,
        recent_secs * 1000.0 / batches as f64,
        (2 * targets * batches) as f64 / recent_secs
    );
    println!(
        "disk: {bytes} bytes ({:.1} MiB); {:.0} bytes per target per day over {days} days; \
         steady state (48 h of minutes + hours/days): see README",
        bytes as f64 / 1048576.0,
        bytes as f64 / targets as f64 / days as f64
    );
    println!("rss after writing: {} MiB", rss_kib() / 1024);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let tracker = tokio_util::task::TaskTracker::new();
        let token = tokio_util::sync::CancellationToken::new();
        let rss0 = rss_kib();
        let live0 = live();
        let t = Instant::now();
        let uptime = Uptime::start(
            &dir,
            Options {
                flush_interval: Duration::from_secs(3600),
                // A small page cache, so the live heap below is the history's own.
                cache_bytes: 1 << 20,
                ..Options::default()
            },
            &tracker,
            &token,
        )
        .expect("open uptime");
        println!("open (integrity check of every page, targets loaded): {:.2} s", t.elapsed().as_secs_f64());
        let live_open = live();
        // A pending result for every target (the writer holds them until its next flush).
        for i in 0..targets {
            uptime.submit(Sample {
                key: key(i),
                timestamp_ms: now + 1_000,
                success: true,
                duration_seconds: 0.05,
                failure: None,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let live_pending = live();
        let t = Instant::now();
        let u = uptime.clone();
        tokio::task::spawn_blocking(move || u.refresh_gauges(now))
            .await
            .expect("join")
            .expect("gauges");
        let refresh = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut text = String::new();
        uptime.encode_metrics(&mut text, false);
        println!(
            "refresh of the /metrics figures (24h, 7d, 30d, 90d; all targets): {refresh:.2} s; \
             formatting them for a scrape: {:.0} ms, {} KiB of text",
            t.elapsed().as_secs_f64() * 1000.0,
            text.len() / 1024
        );
        drop(text);
        let rss1 = rss_kib();
        let live1 = live();
        let per = |a: i64, b: i64| (b - a) as f64 / targets as f64;
        println!(
            "live heap per target: {:.0} bytes open (ids and keys, and redb's page cache, here at most 1 MiB in all), \
             +{:.0} with a pending result each, +{:.0} with the /metrics figures cached: {:.0} bytes in all",
            per(live0, live_open),
            per(live_open, live_pending),
            per(live_pending, live1),
            per(live0, live1)
        );
        println!(
            "rss: {} MiB before opening, {} MiB open with {targets} pending results and the figures cached: \
             {:.0} bytes per target",
            rss0 / 1024,
            rss1 / 1024,
            (rss1.saturating_sub(rss0) * 1024) as f64 / targets as f64,
        );
        for (label, w) in [("24h", 1), ("7d", 7), ("30d", 30)] {
            let window = uptime.last(Duration::from_secs(86_400 * w), now);
            let probe_key = key(targets / 2 + 7);
            let one = Query {
                job: Some(probe_key.job.to_string()),
                instance: Some(probe_key.instance.to_string()),
                module: None,
                window,
            };
            let t = Instant::now();
            let runs = 20;
            let mut f = None;
            for _ in 0..runs {
                f = Some(uptime.figures(&one).expect("figures"));
            }
            let per = t.elapsed().as_secs_f64() * 1000.0 / runs as f64;
            let ratio = f.and_then(|f| f.targets.first().and_then(|t| t.1.rollup.ratio()));
            let t = Instant::now();
            let all = uptime.figures(&Query::all(window)).expect("figures");
            let all_ms = t.elapsed().as_secs_f64() * 1000.0;
            println!(
                "query {label}: 1 target {per:.2} ms (ratio {:?}); all {} targets {all_ms:.0} ms",
                ratio,
                all.targets.len()
            );
        }
        token.cancel();
        tracker.close();
        tracker.wait().await;
    });
}
