//! PromQL as rules use it: parsed with promql-parser, checked at load (native histograms
//! and later versions' syntax are refused), evaluated over anything that implements
//! `Queryable` (the probe store, or the in-memory series of a rule unit test).
//!
//! Semantics are those of Prometheus 2.42 (the `promtool` CI compares against): range
//! selectors are closed `[t−d, t]`, instant selectors take the latest sample within the 5m
//! lookback, a stale marker ends a series, arithmetic drops `__name__`, comparisons filter
//! unless `bool` is given.
//!
//! The language: Prometheus 2.42's PromQL over float samples. Number and string literals;
//! instant and range selectors with `=`, `!=`, `=~`, `!~` (regexes fully anchored),
//! `offset` (negative too) and `@` (`start()`/`end()` are the evaluation time; inside
//! subqueries with 2.42's offset bookkeeping, step-invariant evaluation and query time range);
//! subqueries with 2.42's step alignment; unary minus; `+ - * / % ^ atan2`; comparisons with and
//! without `bool`; `and`/`or`/`unless`; vector matching with `on`/`ignoring` and
//! `group_left`/`group_right`; every aggregation with `by`/`without` and its parameter; the
//! functions listed in `FUNCTIONS`. Refused at load, naming the construct: the native
//! histogram functions, functions and syntax of later versions (`fill`, `or` inside
//! matchers, quoted UTF-8 names).
//!
//! Float results are bit-identical to 2.42's: same operation order, Kahan sums where 2.42
//! uses them (`sum_over_time`, `avg_over_time`, `std*_over_time`), Go's `Pow`/`Max`/`Min`.
//! Across series, 2.42 adds in storage order, which is not defined (promtool loads series
//! in Go map order), so `sum`/`avg` of inexact values may differ from one Prometheus run to
//! the next in the last bit; we add in label order. `tests/it/promql.rs` compares with
//! promtool live.
//!
//! - `check`: promql-parser's AST → our own `Node` tree, rejecting what 2.42 over floats lacks.
//! - `eval`: evaluates a `Node` at one instant (selectors, subqueries, operators,
//!   aggregations, the function dispatch).
//! - `functions`: the arithmetic of the functions (`rate`'s extrapolation, regression,
//!   quantiles, `histogram_quantile`'s buckets, the calendar).
//! - `gomath`: Go's `math` functions (`Exp`, `Log`, `Sin`, `Pow`, `Max`…), ported bit for bit
//!   (Rust's and the C library's differ in the last bit, `Max`/`Min` on NaN).
//! - `mem`: `MemStorage`, the series of a rule unit test (promtool's expanding notation).
//! - `store`: `Queryable` for the probe result store (latest result regardless of age).
//!
//! `instant_query` is what a rule template's `query` runs (Prometheus' `EngineQueryFunc`).

mod check;
mod eval;
mod functions;
mod gomath;
pub mod mem;
mod store;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use check::FUNCTIONS;
pub use eval::DEFAULT_SUBQUERY_STEP_MS;
pub use mem::{MemStorage, NotationError};

/// How far back an instant selector looks for a sample (Prometheus' default lookback delta).
pub const LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// The bit pattern Prometheus writes as a stale marker.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// A stale-marker value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether `v` is the stale marker (not any NaN: only its exact bit pattern).
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// A label set, sorted by name, without empty values.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Vec<(Arc<str>, Arc<str>)>);

impl Labels {
    /// Builds a label set from pairs in any order; empty values are dropped and a repeated
    /// name keeps its last value.
    pub fn new<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<Arc<str>>,
        V: Into<Arc<str>>,
    {
        let mut v: Vec<(Arc<str>, Arc<str>)> = Vec::new();
        for (k, val) in pairs {
            let (k, val) = (k.into(), val.into());
            match v.iter_mut().find(|(n, _)| *n == k) {
                Some(slot) => slot.1 = val,
                None => v.push((k, val)),
            }
        }
        v.retain(|(_, val)| !val.is_empty());
        v.sort();
        Labels(v)
    }

    /// Wraps pairs already sorted by name with unique names (as the store returns them).
    pub fn from_sorted(pairs: Vec<(Arc<str>, Arc<str>)>) -> Self {
        let mut l = Labels(pairs);
        l.0.retain(|(_, v)| !v.is_empty());
        debug_assert!(l.0.windows(2).all(|w| w[0].0 < w[1].0));
        l
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| (**n).cmp(name))
            .ok()
            .map(|i| &*self.0[i].1)
    }

    /// The pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets (or, with an empty value, removes) one label.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.0.binary_search_by(|(n, _)| (**n).cmp(name)) {
            Ok(i) if value.is_empty() => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].1 = Arc::from(value),
            Err(_) if value.is_empty() => {}
            Err(i) => self.0.insert(i, (Arc::from(name), Arc::from(value))),
        }
    }

    /// Removes one label.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| &**n != name);
    }

    /// The set without `__name__`.
    pub fn without_name(&self) -> Labels {
        let mut l = self.clone();
        l.remove(NAME);
        l
    }

    /// Keeps only the labels `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.0.retain(|(n, _)| keep(n));
    }

    /// The shared label-set type of the rule engine and alert pipeline.
    pub fn to_label_set(&self) -> crate::labels::LabelSet {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

impl From<&crate::labels::LabelSet> for Labels {
    fn from(set: &crate::labels::LabelSet) -> Self {
        Labels::from_sorted(
            set.iter()
                .map(|(k, v)| (Arc::from(k.as_str()), Arc::from(v.as_str())))
                .collect(),
        )
    }
}

impl From<&Labels> for crate::labels::LabelSet {
    fn from(l: &Labels) -> Self {
        l.to_label_set()
    }
}

/// Prints as Prometheus does in error messages: `{__name__="up", job="x"}`.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={v:?}")?;
        }
        f.write_str("}")
    }
}

/// The metric-name label.
pub const NAME: &str = "__name__";

/// One label matcher of a selector. A missing label matches as the empty string.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
}

/// How a matcher compares; regexes are fully anchored.
#[derive(Clone, Debug)]
pub enum MatchOp {
    Equal(String),
    NotEqual(String),
    Re(regex::Regex),
    NotRe(regex::Regex),
}

impl Matcher {
    /// `name="value"`.
    pub fn equal(name: &str, value: &str) -> Self {
        Matcher {
            name: name.to_string(),
            op: MatchOp::Equal(value.to_string()),
        }
    }

    /// Whether a label value (empty when the label is missing) matches.
    pub fn matches(&self, value: &str) -> bool {
        match &self.op {
            MatchOp::Equal(v) => v == value,
            MatchOp::NotEqual(v) => v != value,
            MatchOp::Re(r) => r.is_match(value),
            MatchOp::NotRe(r) => !r.is_match(value),
        }
    }

    /// Whether the label set matches this matcher.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }
}

/// Whether `labels` matches every matcher.
pub fn matches_all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches_labels(labels))
}

/// A source of series for selectors.
pub trait Queryable {
    /// Every series matching all matchers (the `__name__` matcher included), with its points
    /// in [start_ms, end_ms], oldest first. Stale markers are points whose value is the
    /// Prometheus StaleNaN bit pattern.
    fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Vec<Series>;

    /// The series matching all matchers summed up over `(start_ms, end_ms]` without their
    /// points, for the `*_over_time` functions a summary answers (see
    /// `functions::aggregate_fn`). `None`: this source keeps no summary for that range; read
    /// the points with `select`.
    fn aggregate(
        &self,
        _matchers: &[Matcher],
        _start_ms: i64,
        _end_ms: i64,
    ) -> Option<Vec<Aggregate>> {
        None
    }

    /// What an instant selector sees at `at_ms`: the latest sample of each matching series
    /// within the 5m lookback `[at − 5m, at]`, unless that sample is a stale marker. Labels
    /// include `__name__`. The probe store overrides this (see `store.rs`).
    fn latest(&self, matchers: &[Matcher], at_ms: i64) -> Vec<Sample> {
        let start = at_ms.saturating_sub(LOOKBACK_MS);
        self.select(matchers, start, at_ms)
            .into_iter()
            .filter_map(|s| {
                let &(_, v) = s
                    .points
                    .iter()
                    .rev()
                    .find(|(t, _)| *t <= at_ms && *t >= start)?;
                (!is_stale(v)).then_some(Sample {
                    labels: s.labels,
                    value: v,
                })
            })
            .collect()
    }
}

/// The points of one series in a range, summed up by a source that keeps summaries instead
/// of points (the uptime history's rollups answer long windows this way): their sum and how
/// many points had each value, ascending by value. `labels` include `__name__`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Aggregate {
    pub labels: Labels,
    pub sum: f64,
    pub values: Vec<(f64, u64)>,
}

/// One series as a source returns it; `labels` include `__name__`.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Includes `__name__` when the expression keeps it.
    pub labels: Labels,
    pub value: f64,
}

/// The result of an expression. Rule expressions return a vector or a scalar; `String` is
/// never produced by an `Expr` that passed `parse` (kept for completeness of the type).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar(f64),
    Vector(Vec<Sample>),
    String(String),
}

impl Value {
    /// The value as promtool and the rule engine see it: a scalar becomes one sample with no
    /// labels.
    pub fn into_vector(self) -> Vec<Sample> {
        match self {
            Value::Scalar(v) => vec![Sample {
                labels: Labels::default(),
                value: v,
            }],
            Value::Vector(v) => v,
            Value::String(_) => Vec::new(),
        }
    }
}

/// Why an expression was refused at load.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// promql-parser's syntax or type error.
    #[error("parse error: {0}")]
    Parse(String),
    /// Valid PromQL that blackwatch does not evaluate (native histograms, later versions'
    /// syntax); the message names the construct.
    #[error("{0}")]
    Unsupported(String),
    /// Valid PromQL that cannot be a rule expression or always fails (bad regex, string result).
    #[error("{0}")]
    Invalid(String),
}

/// An evaluation failure, with Prometheus' wording where it has one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    pub message: String,
}

impl EvalError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        EvalError {
            message: message.into(),
        }
    }
}

/// A parsed and checked rule expression. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Expr {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    text: String,
    node: check::Node,
}

impl Expr {
    /// Parses `text` with promql-parser and checks what it can at load.
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        let node = check::parse(text)?;
        Ok(Expr {
            inner: Arc::new(Inner {
                text: text.to_string(),
                node,
            }),
        })
    }

    /// The original text.
    pub fn text(&self) -> &str {
        &self.inner.text
    }

    /// The metric names the expression reads, or `None` when a selector may read any
    /// metric (it names none, or matches the name by regex).
    pub fn metric_names(&self) -> Option<std::collections::BTreeSet<String>> {
        let mut names = std::collections::BTreeSet::new();
        let mut any = false;
        self.inner.node.visit_selectors(&mut |name| match name {
            Some(n) => {
                names.insert(n.to_string());
            }
            None => any = true,
        });
        (!any).then_some(names)
    }

    /// Metric names whose history the expression reads, each with how far back (for
    /// `Store::set_ranges`): a range selector's range, an instant selector's 5m lookback
    /// when it reads before the evaluation time, plus offsets and enclosing subqueries'
    /// ranges and offsets. A selector without an `__name__="…"` matcher names no metric and
    /// is not listed.
    pub fn ranges(&self) -> Vec<(String, Duration)> {
        let mut out: Vec<(String, Duration)> = Vec::new();
        self.inner.node.visit_ranges(&mut |name, range_ms| {
            let d = Duration::from_millis(range_ms.max(0) as u64);
            match out.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = slot.1.max(d),
                None => out.push((name.to_string(), d)),
            }
        });
        out.sort();
        out
    }

    /// Evaluates at `at_ms` (ms since the epoch), a step-less subquery stepping by promtool's
    /// 1m. A vector result is sorted by labels.
    pub fn eval(&self, at_ms: i64, src: &dyn Queryable) -> Result<Value, EvalError> {
        self.eval_with_step(at_ms, src, DEFAULT_SUBQUERY_STEP_MS)
    }

    /// Evaluates at `at_ms`, a step-less subquery (`x[1h:]`) stepping by `subquery_step_ms`
    /// (Prometheus' `global.evaluation_interval`; a non-positive value means 1m).
    pub fn eval_with_step(
        &self,
        at_ms: i64,
        src: &dyn Queryable,
        subquery_step_ms: i64,
    ) -> Result<Value, EvalError> {
        eval::eval(&self.inner.node, at_ms, src, subquery_step_ms)
    }
}

/// Prometheus' `EngineQueryFunc` (`rules/manager.go`), which the template function `query`
/// runs: `text` evaluated at `at_ms` over `src`. A scalar becomes one sample without labels; a
/// range vector or a string fails with Prometheus' `rule result is not a vector or scalar`.
/// What rules refuse fails here too, with the construct named. A step-less subquery steps by
/// `subquery_step_ms`, as in the rules.
/// Parsed queries are cached by text (bounded), since a template runs per alert per evaluation.
pub fn instant_query(
    text: &str,
    at_ms: i64,
    subquery_step_ms: i64,
    src: &dyn Queryable,
) -> Result<Vec<Sample>, String> {
    match parsed_query(text)?.eval_with_step(at_ms, src, subquery_step_ms) {
        Ok(Value::Vector(v)) => Ok(v),
        Ok(Value::Scalar(v)) => Ok(vec![Sample {
            labels: Labels::default(),
            value: v,
        }]),
        Ok(Value::String(_)) => Err("rule result is not a vector or scalar".to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// A query text parsed (any result type), or the parse error's text, cached.
fn parsed_query(text: &str) -> Result<Expr, String> {
    type Cache = std::sync::Mutex<std::collections::HashMap<String, Result<Expr, String>>>;
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(r) = crate::base::sync::lock(cache).get(text) {
        return r.clone();
    }
    let r = check::parse_any(text)
        .map(|node| Expr {
            inner: Arc::new(Inner {
                text: text.to_string(),
                node,
            }),
        })
        .map_err(|e| e.to_string());
    let mut c = crate::base::sync::lock(cache);
    if c.len() >= 1024 {
        c.clear();
    }
    c.insert(text.to_string(), r.clone());
    r
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.text)
    }
}
