use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::*;

fn key(job: &str, instance: &str) -> GroupKey {
    GroupKey {
        job: Arc::from(job),
        instance: Arc::from(instance),
        module: Arc::from("http_2xx"),
    }
}

fn registry(success: f64, with_tls: bool) -> Registry {
    let mut r = Registry::new();
    r.set(
        "probe_success",
        "Displays whether or not the probe was a success",
        success,
    );
    r.set_labeled(
        "probe_http_duration_seconds",
        "Duration of http request by phase, summed over all redirects",
        &[("phase", "connect")],
        0.5,
    );
    if with_tls {
        r.set(
            "probe_ssl_earliest_cert_expiry",
            "Returns last SSL chain expiry in unixtime",
            1.9e9,
        );
    }
    r
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn encodes_families_with_target_labels() {
    let store = Store::new(Duration::from_secs(3600));
    store.record(
        &key("web", "https://b"),
        &labels(&[("team", "x")]),
        1000,
        &registry(1.0, true),
    );
    store.record(
        &key("web", "https://a"),
        &labels(&[]),
        1000,
        &registry(0.0, false),
    );
    let mut out = String::new();
    let n = store.encode_text(&mut out);
    assert_eq!(n, 5);
    assert_eq!(
        out,
        "# HELP probe_http_duration_seconds Duration of http request by phase, summed over all redirects\n\
         # TYPE probe_http_duration_seconds gauge\n\
         probe_http_duration_seconds{phase=\"connect\",instance=\"https://a\",job=\"web\",module=\"http_2xx\"} 0.5\n\
         probe_http_duration_seconds{phase=\"connect\",instance=\"https://b\",job=\"web\",module=\"http_2xx\",team=\"x\"} 0.5\n\
         # HELP probe_ssl_earliest_cert_expiry Returns last SSL chain expiry in unixtime\n\
         # TYPE probe_ssl_earliest_cert_expiry gauge\n\
         probe_ssl_earliest_cert_expiry{instance=\"https://b\",job=\"web\",module=\"http_2xx\",team=\"x\"} 1.9e+09\n\
         # HELP probe_success Displays whether or not the probe was a success\n\
         # TYPE probe_success gauge\n\
         probe_success{instance=\"https://a\",job=\"web\",module=\"http_2xx\"} 0\n\
         probe_success{instance=\"https://b\",job=\"web\",module=\"http_2xx\",team=\"x\"} 1\n"
    );
}

#[test]
fn a_series_missing_from_the_latest_run_disappears() {
    let store = Store::new(Duration::from_secs(3600));
    let k = key("web", "https://a");
    store.record(&k, &labels(&[]), 1000, &registry(1.0, true));
    assert_eq!(store.instant("probe_ssl_earliest_cert_expiry").len(), 1);
    store.record(&k, &labels(&[]), 2000, &registry(0.0, false));
    assert!(store.instant("probe_ssl_earliest_cert_expiry").is_empty());
    let success = store.instant("probe_success");
    assert_eq!(success.len(), 1);
    assert_eq!(success[0].value, 0.0);
    assert_eq!(success[0].timestamp_ms, 2000);
}

#[test]
fn history_is_kept_only_for_declared_ranges_and_trimmed() {
    let store = Store::new(Duration::from_secs(600));
    let mut ranges = HashMap::new();
    ranges.insert("probe_success".to_string(), Duration::from_secs(60));
    store.set_ranges(&ranges);
    let k = key("web", "https://a");
    for i in 0..10 {
        store.record(
            &k,
            &labels(&[]),
            i * 15_000,
            &registry(f64::from(i as u8 % 2), false),
        );
    }
    let r = store.range("probe_success", 75_000, 135_000);
    assert_eq!(r.len(), 1);
    let ts: Vec<i64> = r[0].points.iter().map(|p| p.0).collect();
    assert_eq!(ts, vec![75_000, 90_000, 105_000, 120_000, 135_000]);
    // Older than the 60 s range at the last write: gone.
    assert!(store.range("probe_success", 0, 60_000).is_empty());
    // A metric without a declared range has no history, only its latest point.
    let d = store.range("probe_http_duration_seconds", 0, 135_000);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].points, vec![(135_000, 0.5)]);
    let stats = store.stats();
    assert_eq!(stats.history_series, 1);
    assert_eq!(stats.history_samples, 5);
    store.trim(1_000_000);
    assert_eq!(store.stats().history_samples, 0);
}

#[test]
fn removing_a_group_forgets_it() {
    let store = Store::new(Duration::from_secs(60));
    store.record(&key("a", "x"), &labels(&[]), 1, &registry(1.0, false));
    store.record(&key("b", "y"), &labels(&[]), 1, &registry(1.0, false));
    store.remove(&key("a", "x"));
    assert!(!store.contains(&key("a", "x")));
    store.retain(|k| &*k.job != "b");
    assert_eq!(store.stats().groups, 0);
}

#[test]
fn record_if_writes_nothing_when_no_longer_live() {
    let store = Store::new(Duration::from_secs(60));
    let k = key("a", "x");
    assert!(!store.record_if(|| false, &k, &labels(&[]), 1, &registry(1.0, false)));
    assert!(!store.contains(&k));
    assert!(store.record_if(|| true, &k, &labels(&[]), 1, &registry(1.0, false)));
    assert!(store.contains(&k));
}

#[test]
fn metric_labels_win_over_target_labels_of_the_same_name() {
    let store = Store::new(Duration::from_secs(60));
    store.record(
        &key("a", "x"),
        &labels(&[("phase", "target")]),
        1,
        &registry(1.0, false),
    );
    let d = store.instant("probe_http_duration_seconds");
    assert!(d[0]
        .labels
        .iter()
        .any(|(k, v)| &**k == "phase" && &**v == "connect"));
    assert_eq!(
        d[0].labels.iter().filter(|(k, _)| &**k == "phase").count(),
        1
    );
}

#[test]
fn a_series_costs_sixteen_bytes() {
    assert_eq!(BYTES_PER_SERIES, 16);
    assert_eq!(BYTES_PER_SAMPLE, 16);
}

#[test]
fn a_metric_label_clashing_with_a_target_label_is_written_once() {
    let store = Store::new(Duration::from_secs(60));
    store.record(
        &key("a", "x"),
        &labels(&[("phase", "target")]),
        1,
        &registry(1.0, false),
    );
    let mut out = String::new();
    store.encode_text(&mut out);
    let line = out
        .lines()
        .find(|l| l.starts_with("probe_http_duration_seconds{"))
        .unwrap_or_default();
    assert_eq!(
        line,
        "probe_http_duration_seconds{phase=\"connect\",instance=\"x\",job=\"a\",module=\"http_2xx\"} 0.5"
    );
}

#[test]
fn a_metric_declared_for_history_first_still_gets_its_help_text() {
    let store = Store::new(Duration::from_secs(600));
    let ranges: HashMap<String, Duration> =
        [("probe_success".to_string(), Duration::from_secs(60))].into();
    store.set_ranges(&ranges);
    store.record(&key("a", "x"), &labels(&[]), 1, &registry(1.0, false));
    let mut out = String::new();
    store.encode_text(&mut out);
    assert!(
        out.contains("# HELP probe_success Displays whether or not the probe was a success\n"),
        "{out}"
    );
}
