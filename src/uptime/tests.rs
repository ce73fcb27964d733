//! The store, the figures and the writer together, on a real redb file in a temp dir, with
//! every timestamp passed in (results are written at chosen instants; only the writer-loop
//! tests run the loop, which reads the clock for retention).

use std::sync::Arc;
use std::time::Duration;

use super::db::{Batch, FILE_NAME};
use super::period::{floor_to, Level, Window, DAY_MS, HOUR_MS, MINUTE_MS};
use super::writer::{cutoffs, Pending};
use super::*;
use crate::clock::Now;

fn key(job: &str, instance: &str) -> GroupKey {
    GroupKey {
        job: Arc::from(job),
        instance: Arc::from(instance),
        module: Arc::from("http_2xx"),
    }
}

/// A recent UTC midnight, so every period is within the default retentions.
fn t0() -> i64 {
    floor_to(Now::read().unix_ms(), DAY_MS)
}

struct Fixture {
    uptime: Arc<Uptime>,
    pending: Pending,
    _rx: tokio::sync::mpsc::Receiver<writer::Msg>,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (uptime, rx) = Uptime::open(dir.path(), Options::default()).expect("open");
        Fixture {
            uptime,
            pending: Pending::default(),
            _rx: rx,
            dir,
        }
    }

    fn record(&mut self, k: &GroupKey, ts: i64, ok: bool, latency: f64, why: Option<&str>) {
        let (id, new) = self.uptime.target_id(k);
        if new {
            self.pending.add_target(id, k.clone());
        }
        self.pending.record(id, ts, ok, latency, why);
    }

    fn write(&mut self, prune: Option<[u32; 3]>) {
        let mut b = self.pending.take();
        b.prune = prune;
        self.uptime.db.write(&b).expect("write");
    }

    fn figure(&self, k: &GroupKey, w: Window) -> query::Figure {
        let q = Query {
            job: Some(k.job.to_string()),
            instance: Some(k.instance.to_string()),
            module: None,
            window: w,
        };
        let f = self.uptime.figures(&q).expect("figures");
        f.targets
            .into_iter()
            .find(|(key, _)| key == k)
            .map(|(_, f)| f)
            .unwrap_or(query::Figure {
                rollup: rollup::Rollup::default(),
                incidents: query::IncidentStats::default(),
            })
    }
}

/// Probes every 30 s for two hours up to `t` (the last one exactly at `t`), failing when
/// `fails(k)`; returns (timestamp, success, latency) of each.
fn two_hours(t: i64, fails: impl Fn(i64) -> bool) -> Vec<(i64, bool, f64)> {
    (1..=240)
        .map(|k| {
            let ts = t - 2 * HOUR_MS + k * 30_000;
            (ts, !fails(k), 0.010 + (k % 7) as f64 * 0.01)
        })
        .collect()
}

/// What Prometheus' avg_over_time over `(from, to]` counts: (probes, successes).
fn brute(samples: &[(i64, bool, f64)], w: Window) -> (u64, u64) {
    let inside = samples
        .iter()
        .filter(|(ts, _, _)| *ts > w.from_ms && *ts <= w.to_ms);
    inside.fold((0, 0), |(n, s), (_, ok, _)| (n + 1, s + u64::from(*ok)))
}

#[test]
fn figures_count_exactly_the_probes_in_from_to_at_minute_edges() {
    let mut fx = Fixture::new();
    let t = t0();
    let samples = two_hours(t, |k| k % 5 == 0 || (100..110).contains(&k));
    let a = key("web", "a");
    for (ts, ok, lat) in &samples {
        fx.record(&a, *ts, *ok, *lat, Some("boom"));
    }
    fx.write(None);
    let windows = [
        Window {
            from_ms: t - HOUR_MS,
            to_ms: t,
        },
        Window {
            from_ms: t - 2 * HOUR_MS,
            to_ms: t,
        },
        Window {
            from_ms: t - 90 * MINUTE_MS,
            to_ms: t - 7 * MINUTE_MS,
        },
        Window {
            from_ms: t - 61 * MINUTE_MS,
            to_ms: t - 59 * MINUTE_MS,
        },
        Window {
            from_ms: t - MINUTE_MS,
            to_ms: t,
        },
        Window {
            from_ms: t,
            to_ms: t + MINUTE_MS,
        },
        Window {
            from_ms: t - DAY_MS,
            to_ms: t + DAY_MS,
        },
    ];
    for w in windows {
        let f = fx.figure(&a, w);
        assert_eq!(
            (f.rollup.probes, f.rollup.successes),
            brute(&samples, w),
            "{w:?}"
        );
    }
    // A probe exactly at a boundary is in the minute that ends there.
    let last = Window {
        from_ms: t - MINUTE_MS,
        to_ms: t,
    };
    assert_eq!(fx.figure(&a, last).rollup.probes, 2);
    // The mean latency is the mean of the probes'.
    let all = fx.figure(
        &a,
        Window {
            from_ms: t - 2 * HOUR_MS,
            to_ms: t,
        },
    );
    let mean = samples.iter().map(|s| s.2).sum::<f64>() / samples.len() as f64;
    assert!((all.rollup.latency_avg().unwrap_or_default() - mean).abs() < 1e-9);
    let p99 = all.rollup.latency_quantile(0.99).unwrap_or_default();
    assert!((p99 / 0.07 - 1.0).abs() < 0.091, "{p99}");
}

#[test]
fn scans_over_many_targets_agree_with_point_reads_and_jobs_add_up() {
    let mut fx = Fixture::new();
    let t = t0();
    let mut per_target = Vec::new();
    for i in 0..40 {
        let k = key(if i % 2 == 0 { "even" } else { "odd" }, &format!("t{i}"));
        let samples = two_hours(t, |n| (n + i) % (i + 3) == 0);
        for (ts, ok, lat) in &samples {
            fx.record(&k, *ts, *ok, *lat, None);
        }
        per_target.push((k, samples));
    }
    fx.write(None);
    let w = Window {
        from_ms: t - 97 * MINUTE_MS,
        to_ms: t - 3 * MINUTE_MS,
    };
    let all = fx.uptime.figures(&Query::all(w)).expect("figures");
    assert_eq!(all.targets.len(), 40);
    let mut even = (0, 0);
    for (k, samples) in &per_target {
        let scanned = &all
            .targets
            .iter()
            .find(|(key, _)| key == k)
            .expect("target")
            .1;
        let want = brute(samples, w);
        assert_eq!((scanned.rollup.probes, scanned.rollup.successes), want);
        assert_eq!(fx.figure(k, w).rollup, scanned.rollup);
        if &*k.job == "even" {
            even = (even.0 + want.0, even.1 + want.1);
        }
    }
    let (job, f) = &all.jobs[0];
    assert_eq!(job, "even");
    assert_eq!((f.rollup.probes, f.rollup.successes), even);
}

#[test]
fn incidents_run_from_first_failure_to_recovery_and_give_mttr() {
    let mut fx = Fixture::new();
    let t = t0();
    let a = key("web", "a");
    let s = 1000;
    // Up, down 30 s (3 probes), up, down 60 s, up, down and still failing.
    let script = [
        (0, true, None),
        (10, false, Some("connection refused")),
        (20, false, Some("timeout")),
        (30, false, Some("timeout")),
        (40, true, None),
        (100, false, Some("status 503")),
        (160, true, None),
        (200, false, Some("tls: expired")),
        (210, false, None),
    ];
    for (sec, ok, why) in script {
        fx.record(&a, t + sec * s, ok, 0.1, why);
    }
    fx.write(None);
    let q = |from: i64, to: i64| Query {
        job: None,
        instance: Some("a".into()),
        module: None,
        window: Window {
            from_ms: from,
            to_ms: to,
        },
    };
    let all = fx
        .uptime
        .incidents(&q(t - HOUR_MS, t + HOUR_MS))
        .expect("incidents");
    let got: Vec<(i64, Option<i64>, &str)> = all
        .iter()
        .map(|i| {
            (
                (i.start_ms - t) / s,
                i.end_ms.map(|e| (e - t) / s),
                i.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (200, None, "tls: expired"),
            (100, Some(160), "status 503"),
            (10, Some(40), "connection refused"),
        ]
    );
    let f = fx.figure(
        &a,
        Window {
            from_ms: t - HOUR_MS,
            to_ms: t + HOUR_MS,
        },
    );
    assert_eq!(f.incidents.count, 3);
    assert_eq!(f.incidents.mttr_seconds(), Some(45.0));
    // Overlap: a window inside the second incident sees it; one after the first does not.
    let inside = fx
        .uptime
        .incidents(&q(t + 120 * s, t + 130 * s))
        .expect("incidents");
    assert_eq!(inside.len(), 1);
    assert_eq!(inside[0].reason, "status 503");
    let f = fx.figure(
        &a,
        Window {
            from_ms: t + 40 * s,
            to_ms: t + 100 * s,
        },
    );
    assert_eq!(
        f.incidents.count, 1,
        "ends at 40 s: not after the window's start"
    );
}

#[test]
fn retention_drops_minutes_first_and_old_windows_round_to_hours() {
    let mut fx = Fixture::new();
    let now = t0();
    let old = now - 3 * DAY_MS; // beyond the 48 h of minute rollups
    let a = key("web", "a");
    for k in 0..120 {
        fx.record(&a, old + 1 + k * 30_000, k % 4 != 0, 0.1, None);
    }
    fx.write(None);
    let exact = Window {
        from_ms: old,
        to_ms: old + HOUR_MS,
    };
    assert_eq!(fx.figure(&a, exact).rollup.probes, 120);
    let opts = Options::default();
    fx.write(Some(cutoffs(
        now,
        opts.minute_retention,
        opts.hour_retention,
    )));
    // The minute rows are gone, the hour rows answer.
    let reader = fx.uptime.db.read().expect("read");
    let m = Level::Minute.period_of(old + 1);
    assert_eq!(reader.get(Level::Minute, m, 0).expect("get"), None);
    assert!(reader.get(Level::Hour, m / 60, 0).expect("get").is_some());
    // A request for a part of that hour is widened to the whole hour, not answered wrong.
    let w = fx
        .uptime
        .window(old + 5 * MINUTE_MS, old + 10 * MINUTE_MS, now);
    assert_eq!((w.from_ms, w.to_ms), (old, old + HOUR_MS));
    let f = fx.figure(&a, w);
    assert_eq!((f.rollup.probes, f.rollup.successes), (120, 90));
    // Past the hour retention, everything goes.
    let far = Options {
        hour_retention: Duration::from_secs(86_400),
        ..Options::default()
    };
    fx.write(Some(cutoffs(now, far.minute_retention, far.hour_retention)));
    assert_eq!(fx.figure(&a, exact).rollup.probes, 0);
}

#[test]
fn the_store_survives_a_reopen_with_its_targets_and_open_incidents() {
    let mut fx = Fixture::new();
    let t = t0();
    let (a, b) = (key("web", "a"), key("api", "b"));
    fx.record(&a, t + 1_000, true, 0.1, None);
    fx.record(&b, t + 1_000, false, 0.1, Some("refused"));
    fx.write(None);
    let dir = fx.dir;
    drop(fx.uptime);
    let (uptime, _rx) = Uptime::open(dir.path(), Options::default()).expect("reopen");
    assert_eq!(uptime.target_id(&a), (0, false));
    assert_eq!(uptime.target_id(&b), (1, false));
    let open = uptime.db.open_incidents().expect("open incidents");
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].target, open[0].reason.as_str()), (1, "refused"));
    let f = uptime
        .figures(&Query::all(Window {
            from_ms: t,
            to_ms: t + MINUTE_MS,
        }))
        .expect("figures");
    assert_eq!(f.targets.len(), 2);
}

#[test]
fn a_corrupted_file_is_moved_aside_and_a_fresh_store_starts() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Not a redb file at all.
    std::fs::write(
        dir.path().join(FILE_NAME),
        b"garbage, not a database".repeat(300),
    )
    .expect("write");
    let (uptime, _rx) = Uptime::open(dir.path(), Options::default()).expect("open");
    assert!(uptime.db.targets().expect("targets").is_empty());
    let aside: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("uptime.redb.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    drop(uptime);

    // A real store with bytes flipped in its data pages.
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let (uptime, _rx) = Uptime::open(dir.path(), Options::default()).expect("open");
        let mut p = Pending::default();
        for i in 0..2000u32 {
            let (id, _) = uptime.target_id(&key("j", &format!("t{i}")));
            p.add_target(id, key("j", &format!("t{i}")));
            p.record(id, t0() + 1, true, 0.1, None);
        }
        let b: Batch = p.take();
        uptime.db.write(&b).expect("write");
    }
    let path = dir.path().join(FILE_NAME);
    let mut bytes = std::fs::read(&path).expect("read");
    let len = bytes.len();
    for b in &mut bytes[len / 3..len / 3 + 4096] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, &bytes).expect("write");
    let (uptime, _rx) = Uptime::open(dir.path(), Options::default()).expect("open");
    assert!(uptime.db.targets().expect("targets").is_empty());
    assert_eq!(
        std::fs::read_dir(dir.path())
            .expect("dir")
            .filter(|e| e
                .as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().contains("corrupt")))
            .count(),
        1
    );
}

#[tokio::test]
async fn the_writer_flushes_on_request_and_on_shutdown_and_renders_gauges() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tasks = TaskTracker::new();
    let token = CancellationToken::new();
    let opts = Options {
        flush_interval: Duration::from_secs(3600),
        metrics: gauges::Detail::All,
        ..Options::default()
    };
    let uptime = Uptime::start(dir.path(), opts.clone(), &tasks, &token).expect("start");
    let now = Now::read().unix_ms();
    let a = key("web", "a");
    let sample = |ts: i64, ok: bool| writer::Sample {
        key: a.clone(),
        timestamp_ms: ts,
        success: ok,
        duration_seconds: 0.05,
        failure: (!ok).then(|| "refused".to_string()),
    };
    uptime.submit(sample(now - 30_000, true));
    uptime.submit(sample(now - 20_000, false));
    uptime.flush().await;
    let w = uptime.last(Duration::from_secs(3600), now);
    let f = uptime.figures(&Query::all(w)).expect("figures");
    assert_eq!(f.targets[0].1.rollup.probes, 2);
    assert_eq!(f.targets[0].1.incidents.count, 1);

    uptime
        .refresh_gauges(floor_to(now, MINUTE_MS) + MINUTE_MS)
        .expect("gauges");
    let mut text = String::new();
    uptime.encode_metrics(&mut text, false);
    assert!(
        text.contains(
            "blackwatch_uptime_ratio{job=\"web\",instance=\"a\",module=\"http_2xx\",window=\"24h\"} 0.5\n"
        ),
        "{text}"
    );
    let p99 = text
        .lines()
        .find(|l| l.contains("window=\"24h\",quantile=\"0.99\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or_default();
    assert!((p99 / 0.05 - 1.0).abs() < 0.091, "{text}");
    assert!(text.contains("blackwatch_uptime_incidents{job=\"web\",instance=\"a\",module=\"http_2xx\",window=\"90d\"} 1\n"));
    assert!(text.contains("blackwatch_uptime_job_ratio{job=\"web\",window=\"7d\"} 0.5\n"));
    assert!(text.contains("blackwatch_uptime_dropped_results_total 0\n"));

    // Submitted but not flushed: written by the shutdown.
    uptime.submit(sample(now - 10_000, true));
    token.cancel();
    tasks.close();
    tasks.wait().await;
    drop(uptime);
    let (uptime, _rx) = Uptime::open(dir.path(), opts).expect("reopen");
    let f = uptime.figures(&Query::all(w)).expect("figures");
    assert_eq!(f.targets[0].1.rollup.probes, 3);
    assert_eq!(f.targets[0].1.rollup.successes, 2);
    assert_eq!(f.targets[0].1.incidents.mttr_seconds(), Some(10.0));
    drop(uptime);

    // `--uptime.metrics`: the default shows only the ratio per target, `none` no target.
    for (detail, ratio) in [(gauges::Detail::Ratio, true), (gauges::Detail::None, false)] {
        let opts = Options {
            metrics: detail,
            ..Options::default()
        };
        let (uptime, _rx) = Uptime::open(dir.path(), opts).expect("reopen");
        uptime
            .refresh_gauges(floor_to(now, MINUTE_MS) + MINUTE_MS)
            .expect("gauges");
        let mut text = String::new();
        uptime.encode_metrics(&mut text, false);
        assert_eq!(text.contains("blackwatch_uptime_ratio{"), ratio, "{text}");
        assert!(
            !text.contains("blackwatch_uptime_latency_seconds{"),
            "{text}"
        );
        assert!(!text.contains("blackwatch_uptime_incidents{"), "{text}");
        assert!(text.contains("blackwatch_uptime_job_ratio{job=\"web\",window=\"7d\"}"));
    }
}
