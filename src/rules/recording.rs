//! Recording rules and the series rules write: `Overlay` holds what recording rules record
//! and the `ALERTS`/`ALERTS_FOR_STATE` series, with stale markers for series that stop being
//! produced, so later rules (and unit tests) can read them with Prometheus' lookback
//! semantics. `Layered` reads the probe store (or a unit test's series) and the overlay as
//! one source. Recording-rule output labelling (`record`, rule labels, duplicate and limit
//! checks) is `record_output`. `TickView` answers one group evaluation's selectors of the same
//! metric from one query to the store.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::{Arc, RwLock};

use super::alerting::EvalError;
use super::expr::{
    is_stale, matches_all, stale_nan, Aggregate, Labels, MatchOp, Matcher, Queryable, Sample,
    Series, LOOKBACK_MS, NAME,
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

/// Something that wants every sample rules write (`ALERTS`, `ALERTS_FOR_STATE`, recorded
/// series and their stale markers), e.g. remote write. Called on the group's evaluation:
/// it must not block.
pub trait RuleSeriesTap: Send + Sync {
    fn rule_samples(&self, ts: i64, samples: &[(&Labels, f64)]);
}

/// Series written by rules, by metric name.
#[derive(Default)]
pub struct Overlay {
    inner: RwLock<OverlayInner>,
    tap: RwLock<Option<std::sync::Arc<dyn RuleSeriesTap>>>,
}

impl std::fmt::Debug for Overlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overlay")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
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
        crate::base::sync::write(&self.inner)
    }

    /// Hands every sample written from now on to `tap` as well.
    pub fn set_tap(&self, tap: std::sync::Arc<dyn RuleSeriesTap>) {
        *crate::base::sync::write(&self.tap) = Some(tap);
    }

    fn tap(&self, ts: i64, samples: &[(&Labels, f64)]) {
        if let Some(t) = crate::base::sync::read(&self.tap).as_ref() {
            t.rule_samples(ts, samples);
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, OverlayInner> {
        crate::base::sync::read(&self.inner)
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
        let items: Vec<(&Labels, f64)> = samples
            .iter()
            .map(|s| (&s.labels, s.value))
            .chain(previous.difference(&now).map(|l| (l, stale_nan())))
            .collect();
        self.write().append_all(ts, items.iter().copied());
        self.tap(ts, &items);
        now
    }

    /// Stale markers at `ts` for every series in `labels` (a rule removed by a reload).
    pub fn mark_stale(&self, ts: i64, labels: &std::collections::HashSet<Labels>) {
        let items: Vec<(&Labels, f64)> = labels.iter().map(|l| (l, stale_nan())).collect();
        self.write().append_all(ts, items.iter().copied());
        self.tap(ts, &items);
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
        crate::base::sort::sort_by(&mut out, |a, b| a.labels.cmp(&b.labels));
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

    /// The base's summaries, unless a recorded series matches too (then both are read as
    /// points).
    fn aggregate(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Option<Vec<Aggregate>> {
        let summed = self.base.aggregate(matchers, start_ms, end_ms)?;
        self.overlay
            .select(matchers, start_ms, end_ms)
            .is_empty()
            .then_some(summed)
    }
}

/// A per-evaluation view over a source (the probe store): selectors naming the same metric
/// (`__name__="…"`) over the same window are answered from one query to the source, filtered
/// by the selector's other matchers. Most rules of a group read the same few metrics
/// (`probe_success`, `probe_duration_seconds`, …), so a group of 1,000 rules scans the
/// store a handful of times instead of once per selector.
///
/// Same results as asking the source directly, given the source's selectors filter (every
/// series matching all matchers, in the source's order — true of `Store` and
/// `MemStorage`): the cached answer is the source's answer to the `__name__` matcher alone,
/// a superset, and the remaining matchers are applied here in order. The view answers as
/// of its first query of each metric: create one per group evaluation (one timestamp), so
/// every rule of the group sees the same store contents even if a probe finishes meanwhile.
pub struct TickView<'a> {
    base: &'a dyn Queryable,
    /// By (metric name, evaluation time).
    latest: Memo<(String, i64), Sample>,
    /// By (metric name, window start, window end).
    select: Memo<(String, i64, i64), Series>,
}

/// Cached answers by query.
type Memo<K, T> = RefCell<HashMap<K, Rc<Cached<T>>>>;

/// Label value → positions of the items with it, ascending.
type Positions = HashMap<Arc<str>, Vec<usize>>;

/// One cached answer and, per label name, the positions of the items by that label's value
/// (built on first use by an equality matcher), so a selector `{job="x"}` visits only job x.
struct Cached<T> {
    items: Vec<T>,
    index: RefCell<HashMap<String, Rc<Positions>>>,
}

trait HasLabels {
    fn labels(&self) -> &Labels;
}

impl HasLabels for Sample {
    fn labels(&self) -> &Labels {
        &self.labels
    }
}

impl HasLabels for Series {
    fn labels(&self) -> &Labels {
        &self.labels
    }
}

impl<T: HasLabels + Clone> Cached<T> {
    fn new(items: Vec<T>) -> Self {
        Self {
            items,
            index: RefCell::new(HashMap::new()),
        }
    }

    fn by(&self, label: &str) -> Rc<Positions> {
        if let Some(ix) = self.index.borrow().get(label) {
            return ix.clone();
        }
        let mut ix: HashMap<Arc<str>, Vec<usize>> = HashMap::new();
        for (i, it) in self.items.iter().enumerate() {
            if let Some(v) = it.labels().get(label) {
                ix.entry(Arc::from(v)).or_default().push(i);
            }
        }
        let ix = Rc::new(ix);
        self.index
            .borrow_mut()
            .insert(label.to_string(), ix.clone());
        ix
    }

    /// The cached items matching all `matchers`, in cached order.
    fn filter(&self, matchers: &[Matcher]) -> Vec<T> {
        // An equality matcher with a non-empty value only matches series having that
        // label with that value: start from those (positions ascending, order kept).
        let indexed = matchers.iter().find_map(|m| match &m.op {
            MatchOp::Equal(v) if m.name != NAME && !v.is_empty() => Some((&m.name, v)),
            _ => None,
        });
        match indexed {
            Some((label, value)) => {
                let ix = self.by(label);
                ix.get(value.as_str())
                    .map(|pos| {
                        pos.iter()
                            .map(|&i| &self.items[i])
                            .filter(|it| matches_all(matchers, it.labels()))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default()
            }
            None => self
                .items
                .iter()
                .filter(|it| matches_all(matchers, it.labels()))
                .cloned()
                .collect(),
        }
    }
}

impl<'a> TickView<'a> {
    pub fn new(base: &'a dyn Queryable) -> Self {
        Self {
            base,
            latest: RefCell::new(HashMap::new()),
            select: RefCell::new(HashMap::new()),
        }
    }
}

/// The `__name__="…"` value of a selector, if it has one.
fn exact_name(matchers: &[Matcher]) -> Option<&str> {
    matchers.iter().find_map(|m| match &m.op {
        MatchOp::Equal(v) if m.name == NAME => Some(v.as_str()),
        _ => None,
    })
}

impl Queryable for TickView<'_> {
    fn aggregate(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Option<Vec<Aggregate>> {
        self.base.aggregate(matchers, start_ms, end_ms)
    }

    fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Vec<Series> {
        let Some(name) = exact_name(matchers) else {
            return self.base.select(matchers, start_ms, end_ms);
        };
        let key = (name.to_string(), start_ms, end_ms);
        let cached = self.select.borrow().get(&key).cloned();
        let cached = match cached {
            Some(c) => c,
            None => {
                let all = self
                    .base
                    .select(&[Matcher::equal(NAME, name)], start_ms, end_ms);
                let c = Rc::new(Cached::new(all));
                self.select.borrow_mut().insert(key, c.clone());
                c
            }
        };
        cached.filter(matchers)
    }

    fn latest(&self, matchers: &[Matcher], at_ms: i64) -> Vec<Sample> {
        let Some(name) = exact_name(matchers) else {
            return self.base.latest(matchers, at_ms);
        };
        let key = (name.to_string(), at_ms);
        let cached = self.latest.borrow().get(&key).cloned();
        let cached = match cached {
            Some(c) => c,
            None => {
                let all = self.base.latest(&[Matcher::equal(NAME, name)], at_ms);
                let c = Rc::new(Cached::new(all));
                self.latest.borrow_mut().insert(key, c.clone());
                c
            }
        };
        cached.filter(matchers)
    }
}

#[cfg(test)]
mod tick_view_tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::probe::Registry;
    use crate::rules::expr::MemStorage;
    use crate::store::{GroupKey, Store};

    fn m(name: &str, op: MatchOp) -> Matcher {
        Matcher {
            name: name.to_string(),
            op,
        }
    }

    fn re(r: &str) -> regex::Regex {
        regex::Regex::new(&format!("^(?:{r})$")).expect("test regex")
    }

    /// Selectors the view must answer exactly as the source: equality on a label (indexed),
    /// `=""` (matches a missing label), negative and regex matchers, several `__name__`
    /// matchers, none, and a metric the source does not have.
    fn selectors() -> Vec<Vec<Matcher>> {
        let up = || Matcher::equal(NAME, "up");
        vec![
            vec![up()],
            vec![up(), Matcher::equal("job", "a")],
            vec![up(), Matcher::equal("job", "a"), Matcher::equal("env", "")],
            vec![up(), Matcher::equal("env", "")],
            vec![up(), Matcher::equal("job", "nope")],
            vec![up(), m("job", MatchOp::NotEqual("a".into()))],
            vec![up(), m("instance", MatchOp::Re(re("h[12]")))],
            vec![Matcher::equal("job", "b"), up()],
            vec![up(), m(NAME, MatchOp::NotRe(re("up")))],
            vec![Matcher::equal(NAME, "missing")],
            vec![m(NAME, MatchOp::Re(re("up|other")))],
        ]
    }

    fn assert_same(src: &dyn Queryable, at: i64) {
        let view = TickView::new(src);
        // Twice: the first call fills the cache, the second is answered from it. Compared
        // as text, as stale markers are NaN.
        for _ in 0..2 {
            for sel in selectors() {
                assert_eq!(
                    format!("{:?}", view.latest(&sel, at)),
                    format!("{:?}", src.latest(&sel, at)),
                    "{sel:?}"
                );
                assert_eq!(
                    format!("{:?}", view.select(&sel, at - 60_000, at)),
                    format!("{:?}", src.select(&sel, at - 60_000, at)),
                    "{sel:?}"
                );
            }
        }
    }

    #[test]
    fn tick_view_answers_as_mem_storage() {
        let mut s = MemStorage::new();
        for (series, values) in [
            (r#"up{job="a", instance="h1"}"#, "1 1 0 1"),
            (r#"up{job="a", instance="h2", env="prod"}"#, "0 0 0 stale"),
            (r#"up{job="b", instance="h1"}"#, "1 _ _ _"),
            (r#"up{job="b", instance="h3"}"#, "1 1 1 1"),
            (r#"other{job="a", instance="h1"}"#, "5 5 5 5"),
        ] {
            s.add(series, values, 15_000).expect("test series");
        }
        assert_same(&s, 45_000);
    }

    #[test]
    fn tick_view_answers_as_the_store() {
        let store = Store::new(Duration::from_secs(3600));
        store.set_ranges(&HashMap::from([(
            "up".to_string(),
            Duration::from_secs(300),
        )]));
        for t in 0..4i64 {
            for (job, instance, env) in [("a", "h1", ""), ("a", "h2", "prod"), ("b", "h3", "")] {
                let mut r = Registry::new();
                r.set("up", "", (t % 2) as f64);
                r.set("other", "", 5.0);
                let mut labels = BTreeMap::new();
                if !env.is_empty() {
                    labels.insert("env".to_string(), env.to_string());
                }
                let key = GroupKey {
                    job: Arc::from(job),
                    instance: Arc::from(instance),
                    module: Arc::from("m"),
                };
                store.record(&key, &labels, t * 15_000, &r);
            }
        }
        assert_same(&store, 45_000);
    }
}
