//! Rule evaluation benchmarks: the cost of one evaluation tick of 1,000 rules over the
//! results of 10,000 scheduled targets, and the memory the store's range history takes.
//!
//! Run with `cargo bench --bench rules`. Groups:
//!
//! * `rules/tick_1000_rules_10k_targets`: one `Group::eval` of 1,000 rules (a mix of the
//!   blackbox rules of the reference: `probe_success == 0`, slow probes, the chained
//!   certificate-expiry comparison over `last_over_time(…[10m])`, `avg_over_time(…[5m])`,
//!   `min by (job)`, and recording rules) over a store holding 10,000 targets in 10 jobs,
//!   each rule selecting one job (1,000 targets). 5 % of the targets are down, so alerts
//!   exist and their annotations are templated every tick.
//! * `rules/tick_1_rule_10k_targets`: one rule over all 10,000 targets, for the per-rule
//!   floor.
//! * `rules/tick_1000_range_rules_10k_targets`: 1,000 rules of the PromQL issue 16 added
//!   (`rate`, `increase`, `deriv`, `predict_linear`, `offset`, a subquery), each over one job,
//!   on the same store: the cost of the range functions next to the first group's.
//!
//! Before the criterion groups it prints the store's history size with range rules of
//! `[5m]` and `[1h]` over 15 s probe intervals (`Store::stats`, 16 bytes a sample), the
//! figure the issue asks for next to RSS.

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use blackwatch::probe::registry::Registry;
use blackwatch::rules::file::parse_str;
use blackwatch::rules::group::{EvalSettings, Group};
use blackwatch::rules::recording::{Layered, Overlay, TickView};
use blackwatch::store::{GroupKey, Store, BYTES_PER_SAMPLE};
use criterion::{criterion_group, criterion_main, Criterion};

const TARGETS: usize = 10_000;
const JOBS: usize = 10;
const START_MS: i64 = 1_800_000_000_000;
const STEP_MS: i64 = 15_000;

fn registry(i: usize, round: i64) -> Registry {
    let mut r = Registry::new();
    let down = i.is_multiple_of(20);
    r.set("probe_success", "", if down { 0.0 } else { 1.0 });
    r.set(
        "probe_duration_seconds",
        "",
        0.05 + (i % 100) as f64 / 50.0 + round as f64 * 1e-4,
    );
    r.set(
        "probe_http_status_code",
        "",
        if down { 503.0 } else { 200.0 },
    );
    r.set(
        "probe_ssl_earliest_cert_expiry",
        "",
        (START_MS / 1000) as f64 + 86_400.0 * (i % 400) as f64,
    );
    for phase in ["resolve", "connect", "tls", "processing", "transfer"] {
        r.set_labeled("probe_http_duration_seconds", "", &[("phase", phase)], 0.01);
    }
    r
}

/// A store with `rounds` probe rounds of every target, 15 s apart; returns the last time.
fn fill(store: &Store, rounds: i64) -> i64 {
    let module: Arc<str> = Arc::from("http_2xx");
    let jobs: Vec<Arc<str>> = (0..JOBS)
        .map(|j| Arc::from(format!("job{j}").as_str()))
        .collect();
    let mut ts = START_MS;
    for round in 0..rounds {
        ts = START_MS + round * STEP_MS;
        for i in 0..TARGETS {
            let instance = format!("https://t{i:05}.example");
            let key = GroupKey {
                job: jobs[i % JOBS].clone(),
                instance: Arc::from(instance.as_str()),
                module: module.clone(),
            };
            let labels = BTreeMap::from([
                ("job".to_string(), jobs[i % JOBS].to_string()),
                ("instance".to_string(), instance),
            ]);
            store.record(&key, &labels, ts, &registry(i, round));
        }
    }
    ts
}

/// 1,000 rules (100 per job) in one group.
fn rules_yaml() -> String {
    let mut y = String::from("groups:\n  - name: bench\n    rules:\n");
    for j in 0..JOBS {
        let job = format!("job{j}");
        for k in 0..20 {
            y.push_str(&format!(
                "      - alert: Down{k}\n        expr: probe_success{{job=\"{job}\"}} == 0\n        for: 1m\n        annotations:\n          summary: 'probe of {{{{ $labels.instance }}}} failed ({{{{ $value }}}})'\n"
            ));
            y.push_str(&format!(
                "      - alert: Slow{k}\n        expr: probe_duration_seconds{{job=\"{job}\"}} > 1.9\n        for: 1m\n"
            ));
            y.push_str(&format!(
                "      - alert: Cert{k}\n        expr: 3 <= round((last_over_time(probe_ssl_earliest_cert_expiry{{job=\"{job}\"}}[10m]) - time()) / 86400, 0.1) < 20\n"
            ));
            y.push_str(&format!(
                "      - alert: Uptime{k}\n        expr: avg_over_time(probe_success{{job=\"{job}\"}}[5m]) < 0.9\n"
            ));
            y.push_str(&format!(
                "      - record: job:probe_success:min{k}\n        expr: min by (job) (probe_success{{job=\"{job}\"}})\n"
            ));
        }
    }
    y
}

/// 1,000 rules (100 per job) of range functions, `offset` and subqueries.
fn range_rules_yaml() -> String {
    let mut y = String::from("groups:\n  - name: bench_ranges\n    rules:\n");
    for j in 0..JOBS {
        let job = format!("job{j}");
        for k in 0..20 {
            y.push_str(&format!(
                "      - alert: Rate{k}\n        expr: rate(probe_duration_seconds{{job=\"{job}\"}}[5m]) > 0.5\n"
            ));
            y.push_str(&format!(
                "      - alert: Increase{k}\n        expr: increase(probe_http_status_code{{job=\"{job}\"}}[5m]) > 100\n"
            ));
            y.push_str(&format!(
                "      - alert: Predict{k}\n        expr: predict_linear(probe_ssl_earliest_cert_expiry{{job=\"{job}\"}}[10m], 86400) - time() < 86400 * 3\n"
            ));
            y.push_str(&format!(
                "      - alert: WorseThanBefore{k}\n        expr: avg_over_time(probe_success{{job=\"{job}\"}}[2m]) < avg_over_time(probe_success{{job=\"{job}\"}}[2m] offset 5m)\n"
            ));
            y.push_str(&format!(
                "      - alert: WorstMinute{k}\n        expr: max_over_time(deriv(probe_duration_seconds{{job=\"{job}\"}}[1m])[5m:1m]) > 1\n"
            ));
        }
    }
    y
}

fn ranges(groups: &[Arc<blackwatch::rules::file::RuleDef>]) -> HashMap<String, Duration> {
    let mut out: HashMap<String, Duration> = HashMap::new();
    for r in groups {
        for (name, d) in r.expr.ranges() {
            let e = out.entry(name).or_default();
            *e = (*e).max(d);
        }
    }
    out
}

fn history_report() {
    for (label, yaml) in [("first", rules_yaml()), ("range", range_rules_yaml())] {
        let defs = parse_str(&yaml, Path::new("bench.yml")).expect("bench rules load");
        let store = Store::new(Duration::from_secs(3600));
        store.set_ranges(&ranges(&defs[0].rules));
        fill(&store, 45);
        let s = store.stats();
        eprintln!(
            "store history for the {label} 1,000-rule group, {TARGETS} targets at 15s for 11 \
             minutes: {} series, {} samples, {:.1} MiB of samples",
            s.history_series,
            s.history_samples,
            (s.history_samples * BYTES_PER_SAMPLE) as f64 / (1024.0 * 1024.0)
        );
    }
    for (label, range, rounds) in [("[5m]", 300u64, 25i64), ("[1h]", 3600, 245)] {
        let store = Store::new(Duration::from_secs(3600));
        let mut r = HashMap::new();
        r.insert("probe_success".to_string(), Duration::from_secs(range));
        store.set_ranges(&r);
        fill(&store, rounds);
        let s = store.stats();
        eprintln!(
            "store history for one {label} rule over probe_success, {TARGETS} targets at 15s: \
             {} series, {} samples, {:.1} MiB of samples",
            s.history_series,
            s.history_samples,
            (s.history_samples * BYTES_PER_SAMPLE) as f64 / (1024.0 * 1024.0)
        );
    }
}

/// One tick split in two, printed: the 1,000 expressions alone (store queries and PromQL),
/// then the whole `Group::eval` (plus alert state, templates, ALERTS and recorded series).
fn breakdown(
    def: &Arc<blackwatch::rules::file::GroupDef>,
    store: &Store,
    overlay: &Overlay,
    settings: &EvalSettings,
    ts: i64,
) {
    // As `Group::eval` does: one view per tick, so selectors of one metric read the store once.
    let view = TickView::new(store);
    let src = Layered {
        base: &view,
        overlay,
    };
    let t = tokio::time::Instant::now();
    let mut samples = 0;
    for r in &def.rules {
        if let Ok(v) = r.expr.eval(ts, &src) {
            samples += v.into_vector().len();
        }
    }
    let exprs = t.elapsed();
    let mut group = Group::new(def.clone(), Duration::from_secs(15));
    let t = tokio::time::Instant::now();
    let sent = group.eval(ts, store, overlay, settings);
    let tick = t.elapsed();
    let alerts: usize = group.rules.iter().map(|r| r.alerts.active.len()).sum();
    eprintln!(
        "one tick: expressions alone {exprs:?} ({samples} output samples); whole group eval \
         {tick:?} ({alerts} alerts, {} sent)",
        sent.len()
    );
}

fn bench(c: &mut Criterion) {
    history_report();
    let defs = parse_str(&rules_yaml(), Path::new("bench.yml")).expect("bench rules load");
    let def = Arc::new(defs.into_iter().next().expect("one group"));
    assert_eq!(def.rules.len(), 1000);
    let store = Store::new(Duration::from_secs(3600));
    store.set_ranges(&ranges(&def.rules));
    // 11 minutes of history, so the [10m] and [5m] windows are full.
    let last = fill(&store, 45);
    let overlay = Overlay::bounded();
    let settings = EvalSettings::default();

    breakdown(&def, &store, &overlay, &settings, last);

    let mut g = c.benchmark_group("rules");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    let mut group = Group::new(def.clone(), Duration::from_secs(15));
    let mut ts = last;
    g.bench_function("tick_1000_rules_10k_targets", |b| {
        b.iter(|| {
            ts += 1;
            black_box(group.eval(ts, &store, &overlay, &settings));
        })
    });
    let one = parse_str(
        "groups:\n  - name: one\n    rules:\n      - alert: Down\n        expr: probe_success == 0\n",
        Path::new("one.yml"),
    )
    .expect("one rule");
    let mut single = Group::new(
        Arc::new(one.into_iter().next().expect("group")),
        Duration::from_secs(15),
    );
    g.bench_function("tick_1_rule_10k_targets", |b| {
        b.iter(|| {
            ts += 1;
            black_box(single.eval(ts, &store, &overlay, &settings));
        })
    });
    let ranged = parse_str(&range_rules_yaml(), Path::new("ranges.yml")).expect("range rules");
    let ranged = Arc::new(ranged.into_iter().next().expect("one group"));
    assert_eq!(ranged.rules.len(), 1000);
    let range_store = Store::new(Duration::from_secs(3600));
    range_store.set_ranges(&ranges(&ranged.rules));
    let range_last = fill(&range_store, 45);
    breakdown(&ranged, &range_store, &overlay, &settings, range_last);
    let mut range_group = Group::new(ranged, Duration::from_secs(15));
    let mut ts = range_last;
    g.bench_function("tick_1000_range_rules_10k_targets", |b| {
        b.iter(|| {
            ts += 1;
            black_box(range_group.eval(ts, &range_store, &overlay, &settings));
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
