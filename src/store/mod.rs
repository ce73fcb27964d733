//! The result store: the latest result of every scheduled probe, as Prometheus would hold it
//! after scraping `/probe` — one *group* per (job, instance, module), replaced as a whole by
//! each finished probe, so a series missing from the latest run disappears (staleness: a
//! certificate-expiry series vanishes when TLS fails). A short history is kept only for the
//! metrics some rule reads with a range selector, for as long as the longest such range
//! (bounded by the retention).
//!
//! It owns no timers and reads no clock: every write carries the probe's timestamp, and
//! every range query says which window it wants.
//!
//! Memory: metric names and per-metric label sets (`{phase="connect"}`) are interned once
//! for the whole store, so a stored series is 16 bytes (two `u32` ids and an `f64`); a group
//! adds its key and target label set; a history sample is 16 bytes (`i64` ms + `f64`).

mod encode;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::probe::Registry;

/// A label set, sorted by label name.
pub type LabelPairs = Arc<[(Arc<str>, Arc<str>)]>;
/// One label: (name, value).
pub type Pair = (Arc<str>, Arc<str>);

/// Identifies one scheduled probe's results.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    pub job: Arc<str>,
    pub instance: Arc<str>,
    pub module: Arc<str>,
}

/// One stored series: which metric, which of the metric's own label sets, its value.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Series {
    metric: u32,
    labels: u32,
    value: f64,
}

/// The latest result of one (job, instance, module).
#[derive(Debug)]
struct Group {
    timestamp_ms: i64,
    /// Probed by another replica of a cluster (known through gossip): rules see it,
    /// `/metrics` shows it only when asked for the whole cluster.
    remote: bool,
    /// `job`, `instance`, `module` and the job's and target's labels, sorted by name.
    target_labels: LabelPairs,
    /// `target_labels` rendered once for the exposition (`instance="…",job="…",…`).
    rendered: Box<str>,
    series: Box<[Series]>,
}

#[derive(Clone, Debug)]
struct MetricInfo {
    name: Arc<str>,
    help: &'static str,
}

/// Interned metric names and metric-own label sets.
#[derive(Debug, Default)]
struct Interner {
    metrics: Vec<MetricInfo>,
    metric_ids: HashMap<Arc<str>, u32>,
    label_sets: Vec<LabelPairs>,
    /// `label_sets` rendered for the exposition, same index.
    rendered_sets: Vec<Arc<str>>,
    label_set_ids: HashMap<LabelPairs, u32>,
    strings: HashMap<Arc<str>, ()>,
}

impl Interner {
    fn string(&mut self, s: &str) -> Arc<str> {
        if let Some((k, _)) = self.strings.get_key_value(s) {
            return k.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.strings.insert(a.clone(), ());
        a
    }

    fn metric(&mut self, name: &str, help: &'static str) -> u32 {
        if let Some(&id) = self.metric_ids.get(name) {
            // A metric first named by `set_ranges` has no help text until a probe writes it.
            if self.metrics[id as usize].help.is_empty() {
                self.metrics[id as usize].help = help;
            }
            return id;
        }
        let name = self.string(name);
        let id = self.metrics.len() as u32;
        self.metrics.push(MetricInfo {
            name: name.clone(),
            help,
        });
        self.metric_ids.insert(name, id);
        id
    }

    fn label_set(&mut self, pairs: &[(String, String)]) -> u32 {
        let mut sorted: Vec<(Arc<str>, Arc<str>)> = pairs
            .iter()
            .map(|(k, v)| (self.string(k), self.string(v)))
            .collect();
        sorted.sort();
        let set: LabelPairs = sorted.into();
        if let Some(id) = self.label_set_ids.get(&set) {
            return *id;
        }
        let id = self.label_sets.len() as u32;
        self.rendered_sets
            .push(Arc::from(encode::render_labels(&set).as_str()));
        self.label_sets.push(set.clone());
        self.label_set_ids.insert(set, id);
        id
    }

    fn pairs(&mut self, pairs: &BTreeMap<String, String>) -> LabelPairs {
        let v: Vec<(Arc<str>, Arc<str>)> = pairs
            .iter()
            .map(|(k, v)| (self.string(k), self.string(v)))
            .collect();
        v.into()
    }
}

/// Key of one series' history: the group, the metric and its own labels.
type HistoryKey = (GroupKey, u32, u32);

#[derive(Debug, Default)]
struct Inner {
    interner: Interner,
    groups: HashMap<GroupKey, Arc<Group>>,
    /// Metric id → how much history rules need.
    ranges: HashMap<u32, Duration>,
    history: HashMap<HistoryKey, VecDeque<(i64, f64)>>,
}

/// A sample returned by a query: the full label set (without `__name__`) and the value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: Vec<(Arc<str>, Arc<str>)>,
    pub timestamp_ms: i64,
    pub value: f64,
}

/// A range-vector element: the full label set and the points in the window, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeSeries {
    pub labels: Vec<(Arc<str>, Arc<str>)>,
    pub points: Vec<(i64, f64)>,
}

/// Sizes for capacity planning, as reported by `Store::stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub groups: usize,
    pub series: usize,
    pub history_series: usize,
    pub history_samples: usize,
}

/// The store. Cheap to share: wrap it in an `Arc`.
#[derive(Debug)]
pub struct Store {
    inner: RwLock<Inner>,
    retention: Duration,
    /// Size of the last exposition, to reserve the next one's buffer at once.
    last_encoded_len: std::sync::atomic::AtomicUsize,
}

/// Bytes one stored series costs in a group.
pub const BYTES_PER_SERIES: usize = std::mem::size_of::<Series>();
/// Bytes one history sample costs.
pub const BYTES_PER_SAMPLE: usize = std::mem::size_of::<(i64, f64)>();

impl Store {
    /// `retention` bounds how much history any rule can ask for.
    pub fn new(retention: Duration) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            retention,
            last_encoded_len: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        crate::base::sync::write(&self.inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        crate::base::sync::read(&self.inner)
    }

    /// Declares which metrics rules read with range selectors, and how far back. Replaces
    /// the previous declaration; history of metrics no longer needed is dropped.
    pub fn set_ranges(&self, ranges: &HashMap<String, Duration>) {
        let mut inner = self.write();
        let mut ids = HashMap::new();
        for (name, range) in ranges {
            let id = inner.interner.metric(name, "");
            ids.insert(id, (*range).min(self.retention));
        }
        inner.history.retain(|(_, m, _), _| ids.contains_key(m));
        inner.ranges = ids;
    }

    /// Replaces the results of `key` with the metrics of one finished probe.
    pub fn record(
        &self,
        key: &GroupKey,
        target_labels: &BTreeMap<String, String>,
        timestamp_ms: i64,
        registry: &Registry,
    ) {
        self.record_if(|| true, key, target_labels, timestamp_ms, registry);
    }

    /// As `record`, but only when `live()` still holds once the store is locked; returns
    /// whether it recorded. The scheduler passes "my loop was not cancelled": `apply`
    /// cancels a removed target's loop before it drops the target's group, so a probe that
    /// finishes during a reload can never bring the group back after `retain`.
    pub fn record_if(
        &self,
        live: impl FnOnce() -> bool,
        key: &GroupKey,
        target_labels: &BTreeMap<String, String>,
        timestamp_ms: i64,
        registry: &Registry,
    ) -> bool {
        self.put(
            |_| live(),
            key,
            target_labels,
            timestamp_ms,
            registry,
            false,
        )
    }

    /// Records a result another replica probed (gossiped): kept only when it is newer than
    /// what the store holds for `key`, so replicas probing the same target (or a target
    /// that just moved) never take the store back in time. Returns whether it recorded.
    pub fn record_remote(
        &self,
        key: &GroupKey,
        target_labels: &BTreeMap<String, String>,
        timestamp_ms: i64,
        registry: &Registry,
    ) -> bool {
        let newer = |inner: &Inner| {
            inner
                .groups
                .get(key)
                .is_none_or(|g| g.timestamp_ms < timestamp_ms)
        };
        if !newer(&self.read()) {
            return false;
        }
        self.put(newer, key, target_labels, timestamp_ms, registry, true)
    }

    /// Whether `key`'s result was probed by another replica.
    pub fn is_remote(&self, key: &GroupKey) -> bool {
        self.read().groups.get(key).is_some_and(|g| g.remote)
    }

    /// Marks `key`'s result as another replica's: this one stopped probing the target (it
    /// moved in the cluster); rules keep seeing the last result until the new owner's
    /// arrives, `/metrics` no longer shows it.
    pub fn demote(&self, key: &GroupKey) {
        let mut inner = self.write();
        if let Some(g) = inner.groups.get_mut(key) {
            if !g.remote {
                *g = Arc::new(Group {
                    timestamp_ms: g.timestamp_ms,
                    remote: true,
                    target_labels: g.target_labels.clone(),
                    rendered: g.rendered.clone(),
                    series: g.series.clone(),
                });
            }
        }
    }

    fn put(
        &self,
        live: impl FnOnce(&Inner) -> bool,
        key: &GroupKey,
        target_labels: &BTreeMap<String, String>,
        timestamp_ms: i64,
        registry: &Registry,
        remote: bool,
    ) -> bool {
        let mut all = target_labels.clone();
        all.insert("job".to_string(), key.job.to_string());
        all.insert("instance".to_string(), key.instance.to_string());
        all.insert("module".to_string(), key.module.to_string());
        let rendered = encode::render_map(&all).into_boxed_str();
        let mut inner = self.write();
        if !live(&inner) {
            return false;
        }
        let inner = &mut *inner;
        let mut series = Vec::new();
        for (name, family) in registry.families() {
            let metric = inner.interner.metric(name, family.help);
            for (labels, value) in &family.samples {
                let labels = inner.interner.label_set(labels);
                series.push(Series {
                    metric,
                    labels,
                    value: *value,
                });
            }
        }
        for s in &series {
            if let Some(range) = inner.ranges.get(&s.metric) {
                let h = inner
                    .history
                    .entry((key.clone(), s.metric, s.labels))
                    .or_default();
                h.push_back((timestamp_ms, s.value));
                let oldest = timestamp_ms - range.as_millis() as i64;
                while h.front().is_some_and(|(t, _)| *t < oldest) {
                    h.pop_front();
                }
            }
        }
        let target_labels = inner.interner.pairs(&all);
        inner.groups.insert(
            key.clone(),
            Arc::new(Group {
                timestamp_ms,
                remote,
                target_labels,
                rendered,
                series: series.into_boxed_slice(),
            }),
        );
        true
    }

    /// Forgets a group and its history (its target was removed from the config).
    pub fn remove(&self, key: &GroupKey) {
        let mut inner = self.write();
        inner.groups.remove(key);
        inner.history.retain(|(g, _, _), _| g != key);
    }

    /// Keeps only the groups for which `keep` returns true.
    pub fn retain(&self, keep: impl Fn(&GroupKey) -> bool) {
        let mut inner = self.write();
        inner.groups.retain(|k, _| keep(k));
        inner.history.retain(|(g, _, _), _| keep(g));
    }

    /// Drops history older than the declared ranges as of `now_ms` (for series that stopped
    /// being written).
    pub fn trim(&self, now_ms: i64) {
        let mut inner = self.write();
        let inner = &mut *inner;
        let ranges = &inner.ranges;
        inner.history.retain(|(_, m, _), h| {
            let range = ranges.get(m).copied().unwrap_or_default();
            let oldest = now_ms - range.as_millis() as i64;
            while h.front().is_some_and(|(t, _)| *t < oldest) {
                h.pop_front();
            }
            !h.is_empty()
        });
    }

    /// Whether `key` has a result.
    pub fn contains(&self, key: &GroupKey) -> bool {
        self.read().groups.contains_key(key)
    }

    /// The latest value of every series of `metric`, with full label sets.
    pub fn instant(&self, metric: &str) -> Vec<Sample> {
        let inner = self.read();
        let Some(&id) = inner.interner.metric_ids.get(metric) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for g in inner.groups.values() {
            for s in g.series.iter().filter(|s| s.metric == id) {
                out.push(Sample {
                    labels: merge_labels(
                        &g.target_labels,
                        &inner.interner.label_sets[s.labels as usize],
                    ),
                    timestamp_ms: g.timestamp_ms,
                    value: s.value,
                });
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// The groups with a series of `metric`, each with that series' full label set (the
    /// first one when a group has several), sorted by labels; remote groups included.
    pub fn series_by_group(&self, metric: &str) -> Vec<(GroupKey, Vec<Pair>)> {
        let inner = self.read();
        let Some(&id) = inner.interner.metric_ids.get(metric) else {
            return Vec::new();
        };
        let mut out: Vec<(GroupKey, Vec<Pair>)> = inner
            .groups
            .iter()
            .filter_map(|(key, g)| {
                let s = g.series.iter().find(|s| s.metric == id)?;
                let labels = merge_labels(
                    &g.target_labels,
                    &inner.interner.label_sets[s.labels as usize],
                );
                Some((key.clone(), labels))
            })
            .collect();
        out.sort_by(|a, b| a.1.cmp(&b.1));
        out
    }

    /// The most history any rule can read (`--storage.retention`).
    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// Every metric name the store has seen (written by a probe or named by `set_ranges`),
    /// sorted; some may currently have no series. For selectors without `__name__="…"`.
    pub fn metric_names(&self) -> Vec<Arc<str>> {
        let inner = self.read();
        let mut names: Vec<Arc<str>> = inner
            .interner
            .metrics
            .iter()
            .map(|m| m.name.clone())
            .collect();
        names.sort();
        names
    }

    /// The points of every series of `metric` within `[start_ms, end_ms]`. Only metrics
    /// declared with `set_ranges` have history; others return just their latest point when
    /// it falls in the window.
    pub fn range(&self, metric: &str, start_ms: i64, end_ms: i64) -> Vec<RangeSeries> {
        let inner = self.read();
        let Some(&id) = inner.interner.metric_ids.get(metric) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if inner.ranges.contains_key(&id) {
            for ((gk, m, l), h) in &inner.history {
                if *m != id {
                    continue;
                }
                let points: Vec<(i64, f64)> = h
                    .iter()
                    .copied()
                    .filter(|(t, _)| *t >= start_ms && *t <= end_ms)
                    .collect();
                if points.is_empty() {
                    continue;
                }
                let target = match inner.groups.get(gk) {
                    Some(g) => g.target_labels.clone(),
                    None => continue,
                };
                out.push(RangeSeries {
                    labels: merge_labels(&target, &inner.interner.label_sets[*l as usize]),
                    points,
                });
            }
        } else {
            for g in inner.groups.values() {
                if g.timestamp_ms < start_ms || g.timestamp_ms > end_ms {
                    continue;
                }
                for s in g.series.iter().filter(|s| s.metric == id) {
                    out.push(RangeSeries {
                        labels: merge_labels(
                            &g.target_labels,
                            &inner.interner.label_sets[s.labels as usize],
                        ),
                        points: vec![(g.timestamp_ms, s.value)],
                    });
                }
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    pub fn stats(&self) -> Stats {
        let inner = self.read();
        Stats {
            groups: inner.groups.len(),
            series: inner.groups.values().map(|g| g.series.len()).sum(),
            history_series: inner.history.len(),
            history_samples: inner.history.values().map(VecDeque::len).sum(),
        }
    }
}

/// Target labels and metric labels merged into one sorted set; the metric's own labels win
/// over target labels of the same name (as Prometheus' `honor_labels: true` would keep them).
fn merge_labels(target: &LabelPairs, own: &LabelPairs) -> Vec<(Arc<str>, Arc<str>)> {
    let mut out: Vec<(Arc<str>, Arc<str>)> = Vec::with_capacity(target.len() + own.len());
    let (mut i, mut j) = (0, 0);
    while i < target.len() || j < own.len() {
        match (target.get(i), own.get(j)) {
            (Some(a), Some(b)) => match a.0.cmp(&b.0) {
                std::cmp::Ordering::Less => {
                    out.push(a.clone());
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    out.push(b.clone());
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    out.push(b.clone());
                    i += 1;
                    j += 1;
                }
            },
            (Some(a), None) => {
                out.push(a.clone());
                i += 1;
            }
            (None, Some(b)) => {
                out.push(b.clone());
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests;
