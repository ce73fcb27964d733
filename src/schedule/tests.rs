//! Scheduler timing under paused tokio time, with a fake runner: no sockets, no sleeping.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::*;
use crate::config;

fn modules() -> BTreeMap<String, Arc<Module>> {
    config::embedded().map(|c| c.modules).unwrap_or_default()
}

fn job(name: &str, interval: u64, targets: &[&str]) -> Arc<Job> {
    Arc::new(Job {
        name: name.to_string(),
        module: "http_2xx".to_string(),
        interval: Duration::from_secs(interval),
        timeout: Duration::from_secs(1),
        concurrency: None,
        labels: BTreeMap::new(),
        targets: targets
            .iter()
            .map(|t| Target {
                target: t.to_string(),
                labels: BTreeMap::new(),
            })
            .collect(),
        file_sd: Vec::new(),
    })
}

type Calls = Arc<Mutex<Vec<(String, Instant)>>>;

/// A runner that records (target, start) and takes `slow[target]` (default 0) to finish.
fn fake_runner(calls: Calls, slow: BTreeMap<String, Duration>) -> Runner {
    Arc::new(move |s: Arc<Scheduled>| {
        let calls = calls.clone();
        let delay = slow.get(&s.target.target).copied().unwrap_or_default();
        Box::pin(async move {
            if let Ok(mut c) = calls.lock() {
                c.push((s.target.target.clone(), Instant::now()));
            }
            tokio::time::sleep(delay).await;
            let mut registry = Registry::new();
            registry.set(
                "probe_success",
                "Displays whether or not the probe was a success",
                1.0,
            );
            RunResult {
                registry,
                timestamp_ms: 0,
                failure: None,
            }
        })
    })
}

fn now_at(wall_secs: u64) -> Now {
    Now {
        mono: Instant::now(),
        wall: UNIX_EPOCH + Duration::from_secs(wall_secs),
    }
}

fn scheduler(
    runner: Runner,
    concurrency: usize,
) -> (Scheduler, Arc<Store>, ScheduleMetrics, CancellationToken) {
    let store = Arc::new(Store::new(Duration::from_secs(3600)));
    let metrics = ScheduleMetrics::register(&mut PromRegistry::default());
    let token = CancellationToken::new();
    let s = Scheduler::new(
        runner,
        store.clone(),
        concurrency,
        metrics.clone(),
        TaskTracker::new(),
        token.clone(),
    );
    (s, store, metrics, token)
}

fn encoded(metrics: &ScheduleMetrics) -> String {
    let mut r = PromRegistry::default();
    r.register("lag", "lag", metrics.lag.clone());
    let mut out = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut out, &r);
    out
}

fn lag_count(metrics: &ScheduleMetrics) -> u64 {
    encoded(metrics)
        .lines()
        .find_map(|l| l.strip_prefix("lag_count "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn lag_sum(metrics: &ScheduleMetrics) -> f64 {
    encoded(metrics)
        .lines()
        .find_map(|l| l.strip_prefix("lag_sum "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn starts(calls: &Calls, target: &str) -> Vec<Instant> {
    calls
        .lock()
        .map(|c| {
            c.iter()
                .filter(|(t, _)| t == target)
                .map(|(_, i)| *i)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn first_runs_spread_evenly_over_the_interval() {
    let interval = Duration::from_secs(10);
    let base = Now {
        mono: Instant::now(),
        wall: UNIX_EPOCH + Duration::from_secs(1_000_000),
    };
    let mut buckets = [0u32; 10];
    for i in 0..2000 {
        let t = first_run(
            base,
            interval,
            stable_hash(&("job", format!("https://host-{i}.example/"))),
        );
        let wait = t - base.mono;
        assert!(wait < interval);
        buckets[(wait.as_secs_f64()) as usize] += 1;
    }
    for b in buckets {
        assert!((140..=260).contains(&b), "uneven spread: {buckets:?}");
    }
}

#[test]
fn the_phase_survives_a_restart() {
    let interval = Duration::from_secs(15);
    let seed = stable_hash(&("job", "target"));
    let mono = Instant::now();
    let a = Now {
        mono,
        wall: UNIX_EPOCH + Duration::from_millis(1_000_000_123),
    };
    // A restart 7 minutes and 3.2 seconds later.
    let b = Now {
        mono,
        wall: UNIX_EPOCH + Duration::from_millis(1_000_000_123 + 423_200),
    };
    let phase = |n: Now, t: Instant| {
        let wall = n.wall.duration_since(UNIX_EPOCH).unwrap_or_default() + (t - n.mono);
        wall.as_millis() % interval.as_millis()
    };
    assert_eq!(
        phase(a, first_run(a, interval, seed)),
        phase(b, first_run(b, interval, seed))
    );
}

#[test]
fn next_after_skips_only_missed_slots() {
    let p = Instant::now();
    let iv = Duration::from_secs(10);
    assert_eq!(next_after(p, iv, p + Duration::from_secs(3)), (p + iv, 0));
    assert_eq!(next_after(p, iv, p + Duration::from_secs(10)), (p + iv, 0));
    assert_eq!(
        next_after(p, iv, p + Duration::from_secs(11)),
        (p + Duration::from_secs(20), 1)
    );
    assert_eq!(
        next_after(p, iv, p + Duration::from_secs(25)),
        (p + Duration::from_secs(30), 2)
    );
}

#[tokio::test(start_paused = true)]
async fn targets_run_once_per_interval_at_their_phase() {
    let calls: Calls = Arc::default();
    let (s, store, metrics, _token) = scheduler(fake_runner(calls.clone(), BTreeMap::new()), 100);
    let start = Instant::now();
    s.apply(
        &[job("web", 10, &["a", "b", "c"])],
        &modules(),
        now_at(1_000_000),
    );
    tokio::time::sleep(Duration::from_secs(35)).await;
    for t in ["a", "b", "c"] {
        let runs = starts(&calls, t);
        assert!(
            runs.len() >= 3 && runs.len() <= 4,
            "{t}: {} runs",
            runs.len()
        );
        assert!(runs[0] - start < Duration::from_secs(10));
        for w in runs.windows(2) {
            assert_eq!(w[1] - w[0], Duration::from_secs(10), "{t} drifted");
        }
    }
    assert_eq!(store.stats().groups, 3);
    let total = calls.lock().map(|c| c.len()).unwrap_or(0);
    assert_eq!(
        lag_count(&metrics),
        total as u64,
        "one lag observation per run"
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_probe_never_overlaps_itself_and_skips_are_counted() {
    let calls: Calls = Arc::default();
    let slow: BTreeMap<String, Duration> = [("slow".to_string(), Duration::from_secs(25))].into();
    let (s, _store, metrics, _token) = scheduler(fake_runner(calls.clone(), slow), 100);
    s.apply(&[job("web", 10, &["slow"])], &modules(), now_at(1_000_000));
    tokio::time::sleep(Duration::from_secs(100)).await;
    let runs = starts(&calls, "slow");
    // Each run takes 25 s: runs are 30 s apart (two slots skipped after each).
    for w in runs.windows(2) {
        assert_eq!(w[1] - w[0], Duration::from_secs(30));
    }
    let skipped = metrics
        .skipped
        .get_or_create(&JobLabel { job: "web".into() })
        .get();
    // Every completed run (all but the one still going) skipped two slots.
    assert!(runs.len() >= 3);
    assert_eq!(skipped, 2 * (runs.len() as u64 - 1), "runs: {}", runs.len());
}

#[tokio::test(start_paused = true)]
async fn the_global_limit_bounds_concurrent_probes() {
    let calls: Calls = Arc::default();
    let slow: BTreeMap<String, Duration> = (0..10)
        .map(|i| (format!("t{i}"), Duration::from_secs(4)))
        .collect();
    let (s, _store, metrics, _token) = scheduler(fake_runner(calls.clone(), slow), 2);
    let targets: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
    let refs: Vec<&str> = targets.iter().map(String::as_str).collect();
    s.apply(&[job("web", 60, &refs)], &modules(), now_at(0));
    let mut max_in_flight = 0;
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        max_in_flight = max_in_flight.max(metrics.in_flight.get());
    }
    assert_eq!(max_in_flight, 2);
    // Waiting for a permit shows up as schedule lag.
    assert!(lag_sum(&metrics) > 0.0);
}

#[tokio::test(start_paused = true)]
async fn reload_keeps_unchanged_jobs_and_restarts_changed_ones() {
    let calls: Calls = Arc::default();
    let (s, store, _metrics, _token) = scheduler(fake_runner(calls.clone(), BTreeMap::new()), 100);
    let mods = modules();
    s.apply(
        &[
            job("keep", 10, &["k"]),
            job("change", 10, &["c"]),
            job("drop", 10, &["d"]),
        ],
        &mods,
        now_at(1_000_000),
    );
    tokio::time::sleep(Duration::from_secs(25)).await;
    let keep_before = starts(&calls, "k");
    // Reload 25 s in: "keep" unchanged, "change" gets a new interval, "drop" goes away.
    s.apply(
        &[job("keep", 10, &["k"]), job("change", 20, &["c"])],
        &mods,
        now_at(1_000_025),
    );
    assert_eq!(s.loop_count(), 2);
    assert_eq!(
        store.stats().groups,
        2,
        "the dropped job's results are forgotten"
    );
    tokio::time::sleep(Duration::from_secs(40)).await;
    let keep_after = starts(&calls, "k");
    assert!(keep_after.len() > keep_before.len());
    for w in keep_after.windows(2) {
        assert_eq!(
            w[1] - w[0],
            Duration::from_secs(10),
            "the unchanged job kept its phase"
        );
    }
    let change = starts(&calls, "c");
    let after_reload: Vec<&Instant> = change
        .iter()
        .filter(|t| **t > keep_before[0] + Duration::from_secs(25))
        .collect();
    for w in after_reload.windows(2) {
        assert_eq!(
            *w[1] - *w[0],
            Duration::from_secs(20),
            "the changed job runs at its new interval"
        );
    }
    assert!(starts(&calls, "d").len() <= 3);
}

#[tokio::test(start_paused = true)]
async fn file_targets_are_merged_with_static_ones() {
    let calls: Calls = Arc::default();
    let (s, store, _metrics, _token) = scheduler(fake_runner(calls.clone(), BTreeMap::new()), 100);
    s.apply(&[job("web", 10, &["static"])], &modules(), now_at(0));
    s.set_file_targets(
        "web",
        vec![
            Target {
                target: "from-file".into(),
                labels: [("env".to_string(), "prod".to_string())].into(),
            },
            Target {
                target: "static".into(),
                labels: BTreeMap::new(),
            },
        ],
        now_at(0),
    );
    assert_eq!(s.loop_count(), 2);
    tokio::time::sleep(Duration::from_secs(11)).await;
    let success = store.instant("probe_success");
    assert_eq!(success.len(), 2);
    assert!(success.iter().any(|s| s
        .labels
        .iter()
        .any(|(k, v)| &**k == "env" && &**v == "prod")));
    s.set_file_targets("web", Vec::new(), now_at(11));
    assert_eq!(s.loop_count(), 1);
    assert_eq!(store.stats().groups, 1);
}

struct Collect(Mutex<Vec<(String, bool, Option<String>)>>);

impl ResultSink for Collect {
    fn scheduled_result(&self, scheduled: &Scheduled, result: &RunResult) {
        if let Ok(mut v) = self.0.lock() {
            v.push((
                scheduled.target.target.clone(),
                result.success(),
                result.failure.clone(),
            ));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn every_stored_result_reaches_the_sinks() {
    let calls: Calls = Arc::default();
    let (s, store, _metrics, _token) = scheduler(fake_runner(calls.clone(), BTreeMap::new()), 10);
    let sink = Arc::new(Collect(Mutex::new(Vec::new())));
    s.sinks().add(sink.clone());
    s.apply(
        &[job("web", 10, &["a", "b"])],
        &modules(),
        now_at(1_000_000),
    );
    tokio::time::sleep(Duration::from_secs(25)).await;
    let seen = sink.0.lock().map(|v| v.clone()).unwrap_or_default();
    let total = calls.lock().map(|c| c.len()).unwrap_or(0);
    assert_eq!(seen.len(), total, "one sink call per stored run");
    assert!(seen.iter().all(|(_, ok, why)| *ok && why.is_none()));
    assert_eq!(seen.iter().filter(|(t, ..)| t == "a").count() * 2, total);
    assert_eq!(store.stats().groups, 2);
}

#[test]
fn loop_phase_is_the_offset_the_loop_runs_at() {
    let interval = Duration::from_secs(7);
    let now = now_at(1_700_000_001); // a multiple of 7 s in wall time
    let (job, target) = ("web".to_string(), "http://a/".to_string());
    let first = first_run(now, interval, stable_hash(&(&job, &target)));
    assert_eq!(first - now.mono, loop_phase(&job, &target, interval));
}
