//! Long range selectors answered from the uptime history: when a rule reads `probe_success`
//! or `probe_duration_seconds` over a range longer than the raw history the store keeps
//! (`--storage.retention`), e.g. `avg_over_time(probe_success[30d])`, the `*_over_time`
//! functions a summary suffices for (avg, sum, count, min, max, present, quantile, stddev,
//! stdvar) read the per-minute/hour/day rollups instead of points the store never kept.
//!
//! - `probe_success` is exact: a rollup counts probes and successes, i.e. how many points
//!   were 0 and how many 1.
//! - `probe_duration_seconds`: sum, count and avg are exact; min, max, quantiles and the
//!   variance come from the rollup's latency histogram (within 9.1 %, see `uptime::rollup`).
//! - The window is the rollups' resolution of `(end − range, end]` (`Uptime::window`: whole
//!   minutes, whole hours beyond the minute retention), and results still in the writer's
//!   queue (`--uptime.flush-interval`) are not counted yet.
//! - Only targets the store has a series for are answered (their labels come from it): a
//!   target removed from the config drops out at once, as its raw series would; in a
//!   cluster, a target another replica probes has no history here and is not answered.
//! - Every other function, metric or a range within the retention reads points as before.
//!
//! The figures of all targets for a window are read once and kept until the history is
//! written again ([`Rollups`]), so a group of rules over one window reads the store once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::expr::{Aggregate, Labels, MatchOp, Matcher, Queryable, Sample, Series, NAME};
use crate::store::{GroupKey, Store};
use crate::uptime::rollup::{bucket_value, Rollup};
use crate::uptime::{Query, Uptime, Window};

/// The metrics the rollups hold.
const SUCCESS: &str = "probe_success";
const DURATION: &str = "probe_duration_seconds";

/// Windows whose figures are kept at once (rules rarely use more than a few ranges).
const CACHED_WINDOWS: usize = 8;

type Sums = Arc<HashMap<GroupKey, Rollup>>;

/// The uptime history as the rule engine reads it, with the figures read last.
pub struct Rollups {
    uptime: Arc<Uptime>,
    /// (window, `Uptime::writes` when read, figures), newest last.
    cache: Mutex<Vec<(Window, u64, Sums)>>,
}

impl Rollups {
    pub fn new(uptime: Arc<Uptime>) -> Self {
        Rollups {
            uptime,
            cache: Mutex::new(Vec::new()),
        }
    }

    /// Every target's rollup over `window`; `None` when the store cannot be read (logged).
    fn sums(&self, window: Window) -> Option<Sums> {
        let writes = self.uptime.writes();
        {
            let cache = crate::base::sync::lock(&self.cache);
            if let Some((_, _, s)) = cache.iter().find(|(w, n, _)| *w == window && *n == writes) {
                return Some(s.clone());
            }
        }
        let figures = match self.uptime.figures(&Query::all(window)) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(
                    message = "Reading the uptime history for a rule failed; the selector reads raw samples",
                    error = %e
                );
                return None;
            }
        };
        let sums: Sums = Arc::new(
            figures
                .targets
                .into_iter()
                .map(|(k, f)| (k, f.rollup))
                .collect(),
        );
        let mut cache = crate::base::sync::lock(&self.cache);
        cache.retain(|(w, _, _)| *w != window);
        if cache.len() >= CACHED_WINDOWS {
            cache.remove(0);
        }
        cache.push((window, writes, sums.clone()));
        Some(sums)
    }
}

/// The probe store, with long ranges of the rollup metrics answered from the history.
pub struct StoreWithHistory<'a> {
    pub store: &'a Store,
    pub rollups: Option<&'a Rollups>,
}

/// A rollup as the points it stands for: (sum, values ascending with their counts).
fn summary(metric: &str, r: &Rollup) -> (f64, Vec<(f64, u64)>) {
    if metric == SUCCESS {
        let failures = r.probes.saturating_sub(r.successes);
        let values = [(0.0, failures), (1.0, r.successes)]
            .into_iter()
            .filter(|v| v.1 > 0)
            .collect();
        (r.successes as f64, values)
    } else {
        let values = r
            .histogram
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(b, c)| (bucket_value(b), u64::from(*c)))
            .collect();
        (r.latency_sum, values)
    }
}

impl Queryable for StoreWithHistory<'_> {
    fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Vec<Series> {
        self.store.select(matchers, start_ms, end_ms)
    }

    fn latest(&self, matchers: &[Matcher], at_ms: i64) -> Vec<Sample> {
        self.store.latest(matchers, at_ms)
    }

    fn aggregate(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Option<Vec<Aggregate>> {
        let rollups = self.rollups?;
        let metric = matchers.iter().find_map(|m| match &m.op {
            MatchOp::Equal(v) if m.name == NAME && (v == SUCCESS || v == DURATION) => {
                Some(v.as_str())
            }
            _ => None,
        })?;
        let retention = i64::try_from(self.store.retention().as_millis()).unwrap_or(i64::MAX);
        if end_ms.saturating_sub(start_ms) <= retention {
            return None;
        }
        let window = rollups.uptime.window(start_ms, end_ms, end_ms);
        let sums = rollups.sums(window)?;
        let name: Arc<str> = Arc::from(metric);
        let mut out = Vec::new();
        for (key, pairs) in self.store.series_by_group(metric) {
            let Some(r) = sums.get(&key) else {
                continue;
            };
            let mut labels = Labels::from_sorted(pairs);
            labels.set(NAME, &name);
            if !super::expr::matches_all(matchers, &labels) {
                continue;
            }
            let (sum, values) = summary(metric, r);
            out.push(Aggregate {
                labels,
                sum,
                values,
            });
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;
    use tokio_util::task::TaskTracker;

    use super::*;
    use crate::clock::Now;
    use crate::probe::Registry;
    use crate::rules::expr::{Expr, MemStorage};
    use crate::uptime::writer;

    const MINUTE: i64 = 60_000;

    fn key(instance: &str) -> GroupKey {
        GroupKey {
            job: Arc::from("web"),
            instance: Arc::from(instance),
            module: Arc::from("http_2xx"),
        }
    }

    fn values(v: crate::rules::expr::Value) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = v
            .into_vector()
            .into_iter()
            .map(|s| (format!("{:?}", s.labels), s.value))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Three days of one probe a minute (at :30) for two targets, one failing in runs, in
    /// the uptime history and, point by point, in an in-memory storage: every `*_over_time`
    /// a summary answers over ranges the store does not keep gives what the points give
    /// (exactly for `probe_success`; within the histogram's 9.1 % for latency quantiles).
    #[tokio::test]
    async fn long_ranges_of_probe_success_equal_the_raw_points() {
        let dir = tempfile::tempdir().expect("temp dir");
        let tasks = TaskTracker::new();
        let token = CancellationToken::new();
        let uptime = Uptime::start(
            dir.path(),
            crate::uptime::Options::default(),
            &tasks,
            &token,
        )
        .expect("start");
        let now = Now::read().unix_ms();
        let end = now - now.rem_euclid(MINUTE);
        let store = Store::new(Duration::from_secs(3600));
        let mut mem = MemStorage::new();
        for (instance, fails) in [("a", false), ("b", true)] {
            let k = key(instance);
            let mut success = Vec::new();
            let mut duration = Vec::new();
            for i in 0..(3 * 24 * 60) {
                let ts = end - (3 * 24 * 60 - i) * MINUTE + 30_000;
                let ok = !(fails && (i % 97 < 7 || i % 1000 == 5));
                let latency = 0.01 + (i % 13) as f64 * 0.02;
                uptime.submit(writer::Sample {
                    key: k.clone(),
                    timestamp_ms: ts,
                    success: ok,
                    duration_seconds: latency,
                    failure: (!ok).then(|| "refused".to_string()),
                });
                success.push((ts, if ok { 1.0 } else { 0.0 }));
                duration.push((ts, latency));
            }
            let mut reg = Registry::new();
            reg.set(
                "probe_success",
                "success",
                success.last().map_or(0.0, |p| p.1),
            );
            reg.set("probe_duration_seconds", "duration", 0.01);
            let target = BTreeMap::from([("team".to_string(), "x".to_string())]);
            store.record(&k, &target, end - 30_000, &reg);
            for (name, points) in [
                ("probe_success", success),
                ("probe_duration_seconds", duration),
            ] {
                let labels = Labels::from_sorted(vec![
                    (Arc::from(NAME), Arc::from(name)),
                    (Arc::from("instance"), Arc::from(instance)),
                    (Arc::from("job"), Arc::from("web")),
                    (Arc::from("module"), Arc::from("http_2xx")),
                    (Arc::from("team"), Arc::from("x")),
                ]);
                mem.add_points(labels, points);
            }
        }
        uptime.flush().await;
        let rollups = Rollups::new(uptime.clone());
        let src = StoreWithHistory {
            store: &store,
            rollups: Some(&rollups),
        };
        for q in [
            "avg_over_time(probe_success[2d])",
            "avg_over_time(probe_success{instance=\"b\"}[1d] offset 1h)",
            "sum_over_time(probe_success[47h])",
            "count_over_time(probe_success[2d])",
            "min_over_time(probe_success[2d])",
            "max_over_time(probe_success[2d])",
            "present_over_time(probe_success[2d])",
            "stddev_over_time(probe_success[2d])",
            "stdvar_over_time(probe_success[2d])",
            "quantile_over_time(0.05, probe_success[2d])",
            "avg_over_time(probe_duration_seconds[2d])",
            "sum_over_time(probe_duration_seconds[2d])",
            "count_over_time(probe_duration_seconds[2d])",
            "1 - avg_over_time(probe_success{job=\"web\"}[40h]) > 0",
        ] {
            let e = Expr::parse(q).expect(q);
            let got = values(e.eval(end, &src).expect(q));
            let want = values(e.eval(end, &mem).expect(q));
            assert_eq!(got.len(), want.len(), "{q}: {got:?} vs {want:?}");
            assert!(!got.is_empty(), "{q}");
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g.0, w.0, "{q}");
                assert!(
                    (g.1 - w.1).abs() <= 1e-9 * w.1.abs().max(1.0),
                    "{q}: {g:?} vs {w:?}"
                );
            }
        }
        for q in [
            "quantile_over_time(0.99, probe_duration_seconds[2d])",
            "max_over_time(probe_duration_seconds[2d])",
            "min_over_time(probe_duration_seconds[2d])",
        ] {
            let e = Expr::parse(q).expect(q);
            let got = values(e.eval(end, &src).expect(q));
            let want = values(e.eval(end, &mem).expect(q));
            assert_eq!(got.len(), 2, "{q}");
            for (g, w) in got.iter().zip(&want) {
                assert!((g.1 / w.1 - 1.0).abs() <= 0.091, "{q}: {g:?} vs {w:?}");
            }
        }
        // Beyond the minute rollups' 48 h, the window starts at the hour before.
        let e = Expr::parse("count_over_time(probe_success[50h])").expect("parse");
        for (_, n) in values(e.eval(end, &src).expect("eval")) {
            assert!((3000.0..3060.0).contains(&n), "{n}");
        }
        // Within the store's retention, and functions that need the points, read the store
        // (which holds only the latest result here), not the rollups.
        let e = Expr::parse("count_over_time(probe_success[30m])").expect("parse");
        let got = values(e.eval(end, &src).expect("eval"));
        assert_eq!(got.iter().map(|g| g.1).collect::<Vec<_>>(), [1.0, 1.0]);
        let e = Expr::parse("changes(probe_success[2d])").expect("parse");
        assert_eq!(values(e.eval(end, &src).expect("eval")).len(), 2);
        let e = Expr::parse("resets(probe_success[2d])").expect("parse");
        let got = values(e.eval(end, &src).expect("eval"));
        assert!(got.iter().all(|g| g.1 == 0.0), "{got:?}");

        // A target the store no longer has is not answered.
        store.remove(&key("a"));
        let e = Expr::parse("avg_over_time(probe_success[2d])").expect("parse");
        assert_eq!(values(e.eval(end, &src).expect("eval")).len(), 1);
        token.cancel();
        tasks.close();
        tasks.wait().await;
    }
}
