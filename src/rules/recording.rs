//! Recording rules and the series rules write: `Overlay` holds what recording rules record
//! and the `ALERTS`/`ALERTS_FOR_STATE` series, with stale markers for series that stop being
//! produced, so later rules (and unit tests) can read them with Prometheus' lookback
//! semantics. `Layered` reads the probe store (or a unit test's series) and the overlay as
//! one source. Recording-rule output labelling (`record`, rule labels, duplicate and limit
//! checks) is `record_output`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};

use super::alerting::EvalError;
use super::expr::{
    is_stale, matches_all, stale_nan, Labels, MatchOp, Matcher, Queryable, Sample, Series,
    LOOKBACK_MS, NAME,
};
use crate::labels::LabelSet;

/// Labels a recording rule's output: `__name__` = the rule name, rule labels override.
/// Errors as Prometheus' `RecordingRule.Eval`.
pub fn record_output(
    name: &str,
    rule_labels: &LabelSet,
    samples: Vec<Sample>,
    limit: usize,
) -> Result<Vec<Sample>, EvalError> {
    let mut out = Vec::with_capacity(samples.len());
    let mut seen = std::collections::HashSet::with_capacity(samples.len());
    for mut s in samples {
        s.labels.set(NAME, name);
        for (k, v) in rule_labels {
            s.labels.set(k, v);
        }
        if !seen.insert(s.labels.clone()) {
            return Err(EvalError::DuplicateRuleLabels);
        }
        out.push(s);
    }
    if limit > 0 && out.len() > limit {
        return Err(EvalError::SeriesLimit {
            limit,
            count: out.len(),
        });
    }
    Ok(out)
}

type SeriesMap = HashMap<Labels, VecDeque<(i64, f64)>>;

/// Series written by rules, by metric name.
#[derive(Debug, Default)]
pub struct Overlay {
    inner: RwLock<OverlayInner>,
}

#[derive(Debug, Default)]
struct OverlayInner {
    by_name: HashMap<Arc<str>, SeriesMap>,
    /// How much history to keep per metric name (ms); `None` keeps everything (unit tests).
    keep: Option<HashMap<String, i64>>,
}

impl Overlay {
    /// An overlay that keeps every sample (for unit tests, which query any past time).
    pub fn unbounded() -> Self {
        Self::default()
    }

    /// An overlay that keeps, per metric, the given range plus the 5m lookback.
    pub fn bounded() -> Self {
        let o = Self::default();
        o.write().keep = Some(HashMap::new());
        o
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, OverlayInner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, OverlayInner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Declares the ranges rules read (for a bounded overlay).
    pub fn set_ranges(&self, ranges: &HashMap<String, std::time::Duration>) {
        let mut w = self.write();
        if w.keep.is_some() {
            w.keep = Some(
                ranges
                    .iter()
                    .map(|(k, d)| (k.clone(), d.as_millis() as i64))
                    .collect(),
            );
        }
    }

    /// Writes one rule's output at `ts` and a stale marker at `ts` for every series in
    /// `previous` that is not in it. Returns the label sets written (the next `previous`).
    pub fn write_output(
        &self,
        ts: i64,
        samples: &[Sample],
        previous: &std::collections::HashSet<Labels>,
    ) -> std::collections::HashSet<Labels> {
        let now: std::collections::HashSet<Labels> =
            samples.iter().map(|s| s.labels.clone()).collect();
        let mut w = self.write();
        w.append_all(
            ts,
            samples
                .iter()
                .map(|s| (&s.labels, s.value))
                .chain(previous.difference(&now).map(|l| (l, stale_nan()))),
        );
        now
    }

    /// Stale markers at `ts` for every series in `labels` (a rule removed by a reload).
    pub fn mark_stale(&self, ts: i64, labels: &std::collections::HashSet<Labels>) {
        self.write()
            .append_all(ts, labels.iter().map(|l| (l, stale_nan())));
    }

    /// Number of series held.
    pub fn series_count(&self) -> usize {
        self.read().by_name.values().map(HashMap::len).sum()
    }
}

impl OverlayInner {
    /// Appends one sample; returns the metric name for a later `trim`.
    fn append(&mut self, labels: &Labels, ts: i64, v: f64) -> Arc<str> {
        let name: Arc<str> = Arc::from(labels.get(NAME).unwrap_or(""));
        let series = self.by_name.entry(name.clone()).or_default();
        let points = series.entry(labels.clone()).or_default();
        // A repeated evaluation at the same timestamp replaces the sample.
        while points.back().is_some_and(|(t, _)| *t >= ts) {
            points.pop_back();
        }
        points.push_back((ts, v));
        name
    }

    /// Drops samples of `name` older than its range plus the lookback (bounded overlays
    /// only), and series left with nothing but a stale marker.
    fn trim(&mut self, name: &str, ts: i64) {
        let Some(keep) = self.keep.as_ref() else {
            return;
        };
        let oldest = ts - (keep.get(name).copied().unwrap_or(0) + LOOKBACK_MS);
        let Some(series) = self.by_name.get_mut(name) else {
            return;
        };
        series.retain(|_, p| {
            while p.front().is_some_and(|(t, _)| *t < oldest) {
                p.pop_front();
            }
            !(p.is_empty() || (p.len() == 1 && p.front().is_some_and(|(_, v)| is_stale(*v))))
        });
        if series.is_empty() {
            self.by_name.remove(name);
        }
    }

    /// Appends samples, then trims each metric touched once.
    fn append_all<'a>(&mut self, ts: i64, items: impl Iterator<Item = (&'a Labels, f64)>) {
        let mut names: Vec<Arc<str>> = Vec::new();
        for (l, v) in items {
            let n = self.append(l, ts, v);
            if !names.contains(&n) {
                names.push(n);
            }
        }
        for n in names {
            self.trim(&n, ts);
        }
    }
}

impl Queryable for Overlay {
    fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Vec<Series> {
        let r = self.read();
        let mut out = Vec::new();
        let exact = matchers.iter().find_map(|m| match (&m.op, m.name == NAME) {
            (MatchOp::Equal(v), true) => Some(v.as_str()),
            _ => None,
        });
        let mut visit = |series: &SeriesMap| {
            for (labels, points) in series {
                if !matches_all(matchers, labels) {
                    continue;
                }
                let pts: Vec<(i64, f64)> = points
                    .iter()
                    .copied()
                    .filter(|(t, _)| *t >= start_ms && *t <= end_ms)
                    .collect();
                if pts.is_empty() {
                    continue;
                }
                out.push(Series {
                    labels: labels.clone(),
                    points: pts,
                });
            }
        };
        match exact {
            Some(name) => {
                if let Some(s) = r.by_name.get(name) {
                    visit(s);
                }
            }
            None => r.by_name.values().for_each(&mut visit),
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }
}

/// A base source (the probe store, a unit test's series) with the overlay on top.
pub struct Layered<'a> {
    pub base: &'a dyn Queryable,
    pub overlay: &'a Overlay,
}

impl Queryable for Layered<'_> {
    fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Vec<Series> {
        let mut v = self.base.select(matchers, start_ms, end_ms);
        v.extend(self.overlay.select(matchers, start_ms, end_ms));
        v
    }

    fn latest(&self, matchers: &[Matcher], at_ms: i64) -> Vec<Sample> {
        let mut v = self.base.latest(matchers, at_ms);
        v.extend(self.overlay.latest(matchers, at_ms));
        v
    }
}
