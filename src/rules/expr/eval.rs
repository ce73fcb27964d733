//! Evaluates a checked expression at one instant, as Prometheus 2.42's engine does for an
//! instant query: the same float operations in the same order (Kahan sums where 2.42 uses
//! them, Go's `math.Pow`/`Max`/`Min`), the same label handling and the same errors.
//!
//! Every node is evaluated at a time `t`: the query's time, or a step of an enclosing
//! subquery. A selector reads at `t` (or its `@` time) minus its offset; a subquery
//! evaluates its expression at the multiples of its step within its range, as 2.42 aligns
//! them. The arithmetic of the functions is in `functions.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::check::{
    AggOp, At, BinOp, Card, Func, Grouping, Matching, Node, Selector, SubqueryTimes,
};
use super::functions::{self, Civil, Window};
use super::{
    gomath, is_stale, Aggregate, EvalError, Labels, Matcher, Queryable, Sample, Series, Value,
    LOOKBACK_MS, NAME,
};

/// The step of a subquery without one (`x[1h:]`) in promtool's unit tests (its engine's
/// fixed 1m) and where no evaluation interval is given; rules in the daemon step by
/// `global.evaluation_interval`, as Prometheus does.
pub const DEFAULT_SUBQUERY_STEP_MS: i64 = 60_000;

/// An intermediate value; `Matrix` only ever feeds a function.
enum Val {
    Scalar(f64),
    Vector(Vec<Sample>),
    /// A range vector where a rule needs a vector or scalar (a template's `query`).
    Matrix,
    String(String),
}

pub fn eval(
    node: &Node,
    at_ms: i64,
    src: &dyn Queryable,
    subquery_step_ms: i64,
) -> Result<Value, EvalError> {
    let default_step = if subquery_step_ms > 0 {
        subquery_step_ms
    } else {
        DEFAULT_SUBQUERY_STEP_MS
    };
    let cx = Cx {
        now: at_ms,
        src,
        default_step,
        range_start: at_ms,
        at_base: AtBase {
            eval_time: at_ms,
            path: SubqueryTimes::default(),
        },
        bounds: if node.has_at() {
            node.query_bounds(at_ms)
        } else {
            None
        },
    };
    match cx.eval(node, at_ms)? {
        Val::Scalar(v) => Ok(Value::Scalar(v)),
        Val::Vector(mut v) => {
            // sort() and sort_desc() keep their order, as Prometheus' instant queries do.
            let sorted = matches!(
                node,
                Node::Call {
                    func: Func::Sort | Func::SortDesc,
                    ..
                }
            );
            if !sorted {
                crate::base::sort::sort_by(&mut v, |a, b| a.labels.cmp(&b.labels));
            }
            Ok(Value::Vector(v))
        }
        Val::String(s) => Ok(Value::String(s)),
        Val::Matrix => Err(EvalError::new("rule result is not a vector or scalar")),
    }
}

#[derive(Clone, Copy)]
struct Cx<'a> {
    /// The query's evaluation time (`@ start()`/`@ end()`).
    now: i64,
    src: &'a dyn Queryable,
    /// The step of a subquery written without one.
    default_step: i64,
    /// The first step of the range being evaluated (2.42's `ev.startTimestamp`): `now` at the
    /// top, a subquery's first step inside it. Step-invariant subtrees are evaluated there.
    range_start: i64,
    /// How 2.42 last turned `@` into offsets for the nodes below (`setOffsetForAtModifier`).
    at_base: AtBase,
    /// With `@` anywhere, 2.42's `findMinMaxTime` range: the querier's data ends there, which
    /// shows when an `@` window has moved outside its own range (see `AtBase`).
    bounds: Option<(i64, i64)>,
}

/// Prometheus 2.42 evaluates `@` as an offset from an evaluation time: the query's, and again
/// each subquery's first step when that differs from its parent's, minus what the
/// subqueries in between shift (`setOffsetForAtModifier`). A window read at another step than
/// the one the offset was set for moves with it: `predict_linear(x[5m] @ 600, 60)` in a
/// subquery reads a window that slides with the steps, `idelta(x[5m] @ start())[2m:1m]
/// offset -2m` one shifted by the offset. blackwatch reproduces this bookkeeping, so such
/// expressions give promtool's results.
#[derive(Clone, Copy)]
struct AtBase {
    /// The evaluation time the offsets were set for.
    eval_time: i64,
    /// The subqueries between that point and the node (2.42's `subqueryTimes(path)`).
    path: SubqueryTimes,
}

fn type_error(want: &str) -> EvalError {
    // The checker and promql-parser's type checks make this unreachable for parsed input.
    EvalError::new(format!("internal error: expected a {want}"))
}

/// Prometheus' check after every operator, function and aggregation.
fn unique(v: Vec<Sample>) -> Result<Val, EvalError> {
    let mut seen = HashSet::with_capacity(v.len());
    for s in &v {
        if !seen.insert(&s.labels) {
            return Err(EvalError::new(
                "vector cannot contain metrics with the same labelset",
            ));
        }
    }
    Ok(Val::Vector(v))
}

/// A range vector with the window it was read from.
struct Ranged {
    series: Vec<Series>,
    end: i64,
    range: i64,
}

impl Cx<'_> {
    fn eval(&self, node: &Node, t: i64) -> Result<Val, EvalError> {
        match node {
            Node::Number(v) => Ok(Val::Scalar(*v)),
            Node::String(s) => Ok(Val::String(s.clone())),
            Node::Vector(sel) => Ok(Val::Vector(self.instant(sel, t))),
            Node::Matrix(..) | Node::Subquery { .. } => {
                self.ranged(node, t)?;
                Ok(Val::Matrix)
            }
            Node::Neg(e) => match self.eval(e, t)? {
                Val::Scalar(v) => Ok(Val::Scalar(-v)),
                Val::Vector(v) => unique(
                    v.into_iter()
                        .map(|s| Sample {
                            labels: s.labels.without_name(),
                            value: -s.value,
                        })
                        .collect(),
                ),
                _ => Err(type_error("scalar or vector")),
            },
            Node::Binary {
                op,
                lhs,
                rhs,
                return_bool,
                matching,
            } => self.binary(*op, lhs, rhs, *return_bool, matching, t),
            Node::Aggregate {
                op,
                expr,
                param,
                grouping,
            } => {
                let v = self.vector(expr, t)?;
                let param = match param {
                    None => Param::None,
                    Some(p) => match self.eval(p, t)? {
                        Val::Scalar(x) => Param::Scalar(x),
                        Val::String(s) => Param::String(s),
                        _ => return Err(type_error("aggregation parameter")),
                    },
                };
                unique(aggregate(*op, v, &param, grouping)?)
            }
            Node::Call { func, args } => self.call(func, args, t),
        }
    }

    fn vector(&self, node: &Node, t: i64) -> Result<Vec<Sample>, EvalError> {
        match self.eval(node, t)? {
            Val::Vector(v) => Ok(v),
            _ => Err(type_error("instant vector")),
        }
    }

    fn scalar(&self, node: &Node, t: i64) -> Result<f64, EvalError> {
        match self.eval(node, t)? {
            Val::Scalar(v) => Ok(v),
            _ => Err(type_error("scalar")),
        }
    }

    /// The time a selector or subquery reads at, before its offset.
    fn anchor(&self, at: At, t: i64) -> i64 {
        match at {
            At::None => t,
            At::Time(ms) => ms,
            At::Eval => self.now,
        }
    }

    /// When a child 2.42 wraps as step-invariant (`wrap`) is evaluated: once, at the first
    /// step of the range; otherwise at the step itself.
    fn wrapped(&self, wrap: bool, t: i64) -> i64 {
        if wrap {
            self.range_start
        } else {
            t
        }
    }

    /// The effective offset 2.42 reads a selector or subquery with (`getOffset`): its own,
    /// and with `@` the distance from the evaluation time the offsets were set for to the
    /// `@` time, less what the subqueries in between shift.
    fn offset(&self, at: At, offset: i64) -> i64 {
        let at = match at {
            At::None => return offset,
            At::Time(ms) => ms,
            At::Eval => self.now,
        };
        let AtBase { eval_time, path } = self.at_base;
        let mut shift = path.offset;
        if let Some(ts) = path.at {
            shift = shift.saturating_add(eval_time.saturating_sub(ts));
        }
        offset
            .saturating_add(eval_time.saturating_sub(at))
            .saturating_sub(shift)
    }

    /// `[start, end]` limited to what the querier holds (with `@` in the query).
    fn clip(&self, start: i64, end: i64) -> (i64, i64) {
        match self.bounds {
            Some((lo, hi)) => (start.max(lo), end.min(hi)),
            None => (start, end),
        }
    }

    /// An instant selector at `t`. At the query's own time the source says what is current
    /// (see `Queryable::latest`); at any other time (offset, `@`, subquery steps) the latest
    /// sample within the 5m lookback, unless it is a stale marker.
    fn instant(&self, sel: &Selector, t: i64) -> Vec<Sample> {
        let at = t.saturating_sub(self.offset(sel.at, sel.offset));
        let mut out = if at == self.now {
            self.src.latest(&sel.matchers, at)
        } else {
            self.lookback(&sel.matchers, at)
                .into_iter()
                .map(|(s, _)| s)
                .collect()
        };
        crate::base::sort::sort_by(&mut out, |a, b| a.labels.cmp(&b.labels));
        out
    }

    /// The latest non-stale sample of each series within `[at − 5m, at]`, with its time.
    fn lookback(&self, matchers: &[Matcher], at: i64) -> Vec<(Sample, i64)> {
        let start = at.saturating_sub(LOOKBACK_MS);
        let (lo, hi) = self.clip(start, at);
        let mut out: Vec<(Sample, i64)> = self
            .src
            .select(matchers, lo, hi)
            .into_iter()
            .filter_map(|s| {
                let &(ts, v) = s
                    .points
                    .iter()
                    .rev()
                    .find(|(ts, _)| *ts <= at && *ts >= start)?;
                (!is_stale(v)).then_some((
                    Sample {
                        labels: s.labels,
                        value: v,
                    },
                    ts,
                ))
            })
            .collect();
        crate::base::sort::sort_by(&mut out, |a, b| a.0.labels.cmp(&b.0.labels));
        out
    }

    /// A range selector or subquery at `t`.
    /// A plain range selector's series summed up by the source, when it keeps summaries for
    /// that range and `f` needs no more (see `Queryable::aggregate`).
    fn aggregated(&self, f: super::check::RangeFn, node: &Node, t: i64) -> Option<Vec<Aggregate>> {
        let Node::Matrix(sel, range) = node else {
            return None;
        };
        if !functions::summarizable(f) {
            return None;
        }
        let end = t.saturating_sub(self.offset(sel.at, sel.offset));
        let mut out = self
            .src
            .aggregate(&sel.matchers, end.saturating_sub(*range), end)?;
        crate::base::sort::sort_by(&mut out, |a, b| a.labels.cmp(&b.labels));
        Some(out)
    }

    fn ranged(&self, node: &Node, t: i64) -> Result<Ranged, EvalError> {
        match node {
            Node::Matrix(sel, range) => {
                let end = t.saturating_sub(self.offset(sel.at, sel.offset));
                Ok(Ranged {
                    series: self.range(&sel.matchers, end, *range),
                    end,
                    range: *range,
                })
            }
            Node::Subquery {
                expr,
                range,
                step,
                offset,
                at,
            } => {
                let effective = self.offset(*at, *offset);
                let end = t.saturating_sub(effective);
                let step = match step {
                    Some(s) if *s > 0 => *s,
                    _ => self.default_step,
                };
                // 2.42: the first multiple of the step at or after end − range.
                let align = |from: i64| {
                    let ts = step.saturating_mul(from / step);
                    if ts < from {
                        ts.saturating_add(step)
                    } else {
                        ts
                    }
                };
                // 2.42 evaluates the subquery once over its parent's whole range: from the
                // step aligned after the parent's first step, less offset and range. Its `@`
                // offsets are set again from there when that differs from the parent's.
                let first = align(
                    self.range_start
                        .saturating_sub(effective)
                        .saturating_sub(*range),
                );
                let at_time = match at {
                    At::None => None,
                    At::Time(ms) => Some(*ms),
                    At::Eval => Some(self.now),
                };
                let at_base = if first != self.range_start {
                    AtBase {
                        eval_time: first,
                        path: SubqueryTimes::default(),
                    }
                } else {
                    AtBase {
                        path: self.at_base.path.enter(*offset, *range, at_time),
                        ..self.at_base
                    }
                };
                let inner = Cx {
                    range_start: first,
                    at_base,
                    ..*self
                };
                let invariant = expr.step_invariant();
                let mut ts = align(end.saturating_sub(*range));
                let mut by_labels: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
                while ts <= end {
                    for s in inner.vector(expr, inner.wrapped(invariant, ts))? {
                        by_labels.entry(s.labels).or_default().push((ts, s.value));
                    }
                    match ts.checked_add(step) {
                        Some(next) => ts = next,
                        None => break,
                    }
                }
                Ok(Ranged {
                    series: by_labels
                        .into_iter()
                        .map(|(labels, points)| Series { labels, points })
                        .collect(),
                    end,
                    range: *range,
                })
            }
            _ => Err(type_error("range vector")),
        }
    }

    /// The points of each series in `[end − range, end]` (closed, as in 2.x), stale markers
    /// left out; series without points are dropped.
    fn range(&self, matchers: &[Matcher], end: i64, range: i64) -> Vec<Series> {
        let start = end.saturating_sub(range);
        let (lo, hi) = self.clip(start, end);
        let mut out: Vec<Series> = self
            .src
            .select(matchers, lo, hi)
            .into_iter()
            .filter_map(|mut s| {
                s.points
                    .retain(|&(ts, v)| ts >= start && ts <= end && !is_stale(v));
                (!s.points.is_empty()).then_some(s)
            })
            .collect();
        crate::base::sort::sort_by(&mut out, |a, b| a.labels.cmp(&b.labels));
        out
    }

    fn binary(
        &self,
        op: BinOp,
        lhs: &Node,
        rhs: &Node,
        return_bool: bool,
        matching: &Matching,
        t: i64,
    ) -> Result<Val, EvalError> {
        let (lt, rt) = if t == self.range_start {
            (t, t)
        } else {
            let (li, ri) = (lhs.step_invariant(), rhs.step_invariant());
            (self.wrapped(li && !ri, t), self.wrapped(ri && !li, t))
        };
        let l = self.eval(lhs, lt)?;
        let r = self.eval(rhs, rt)?;
        match (l, r) {
            (Val::Scalar(a), Val::Scalar(b)) => {
                let (v, keep) = elem(op, a, b);
                Ok(Val::Scalar(if op.is_comparison() {
                    if keep {
                        1.0
                    } else {
                        0.0
                    }
                } else {
                    v
                }))
            }
            (Val::Vector(v), Val::Scalar(s)) => unique(vector_scalar(op, v, s, false, return_bool)),
            (Val::Scalar(s), Val::Vector(v)) => unique(vector_scalar(op, v, s, true, return_bool)),
            (Val::Vector(a), Val::Vector(b)) => {
                let out = match op {
                    BinOp::And => set_and(a, b, matching),
                    BinOp::Or => set_or(a, b, matching),
                    BinOp::Unless => set_unless(a, b, matching),
                    _ => vector_vector(op, a, b, return_bool, matching)?,
                };
                unique(out)
            }
            _ => Err(type_error("scalar or instant vector operand")),
        }
    }

    /// Calls a function: one `match` arm per kind of PromQL function (the dispatch table of
    /// Prometheus' `functions.go`, kept in one place so every function is visible).
    fn call(&self, func: &Func, args: &[Node], t: i64) -> Result<Val, EvalError> {
        let arg = |i: usize| args.get(i).ok_or_else(|| type_error("function argument"));
        // When argument `i` is evaluated: 2.42 wraps a step-invariant argument of a call that
        // is not step-invariant, and evaluates it at the range's first step.
        let at = |i: usize| {
            if t == self.range_start {
                return t;
            }
            let wrap = args.get(i).is_some_and(Node::step_invariant)
                && !super::check::call_step_invariant(func, args);
            self.wrapped(wrap, t)
        };
        Ok(match func {
            Func::Time => Val::Scalar(t as f64 / 1000.0),
            Func::Pi => Val::Scalar(std::f64::consts::PI),
            Func::Vector => Val::Vector(vec![Sample {
                labels: Labels::default(),
                value: self.scalar(arg(0)?, at(0))?,
            }]),
            Func::Scalar => {
                let v = self.vector(arg(0)?, at(0))?;
                Val::Scalar(if v.len() == 1 { v[0].value } else { f64::NAN })
            }
            Func::Absent(labels) => {
                let v = self.vector(arg(0)?, at(0))?;
                Val::Vector(if v.is_empty() {
                    vec![Sample {
                        labels: labels.clone(),
                        value: 1.0,
                    }]
                } else {
                    Vec::new()
                })
            }
            Func::AbsentOverTime(labels) => {
                let m = self.ranged(arg(0)?, t)?;
                Val::Vector(if m.series.is_empty() {
                    vec![Sample {
                        labels: labels.clone(),
                        value: 1.0,
                    }]
                } else {
                    Vec::new()
                })
            }
            Func::Math(f) => unique(map_drop_name(self.vector(arg(0)?, at(0))?, f))?,
            Func::Round => {
                let v = self.vector(arg(0)?, at(0))?;
                let to_nearest = match args.get(1) {
                    Some(a) => self.scalar(a, at(1))?,
                    None => 1.0,
                };
                // Prometheus: the inverse first, so round(x, 0.1) divides by 10 exactly.
                let inverse = 1.0 / to_nearest;
                unique(map_drop_name(v, |x| (x * inverse + 0.5).floor() / inverse))?
            }
            Func::ClampMin => {
                let v = self.vector(arg(0)?, at(0))?;
                let min = self.scalar(arg(1)?, at(1))?;
                unique(map_drop_name(v, |x| gomath::max(min, x)))?
            }
            Func::ClampMax => {
                let v = self.vector(arg(0)?, at(0))?;
                let max = self.scalar(arg(1)?, at(1))?;
                unique(map_drop_name(v, |x| gomath::min(max, x)))?
            }
            Func::Clamp => {
                let v = self.vector(arg(0)?, at(0))?;
                let min = self.scalar(arg(1)?, at(1))?;
                let max = self.scalar(arg(2)?, at(2))?;
                if max < min {
                    Val::Vector(Vec::new())
                } else {
                    unique(map_drop_name(v, |x| gomath::max(min, gomath::min(max, x))))?
                }
            }
            Func::Date(f) => match args.first() {
                // Go's time.Unix(enh.Ts/1000, 0): integer division.
                None => Val::Vector(vec![Sample {
                    labels: Labels::default(),
                    value: f(&Civil::from_unix(t / 1000)),
                }]),
                Some(a) => {
                    let v = self.vector(a, at(0))?;
                    unique(map_drop_name(v, |x| {
                        f(&Civil::from_unix(gomath::float_to_int64(x)))
                    }))?
                }
            },
            Func::Timestamp => {
                let a = arg(0)?;
                let out = match a {
                    // The sample's own time (a selector is not evaluated at the step).
                    Node::Vector(sel) => {
                        let at = self.anchor(sel.at, t).saturating_sub(sel.offset);
                        self.lookback(&sel.matchers, at)
                            .into_iter()
                            .map(|(s, ts)| Sample {
                                labels: s.labels.without_name(),
                                value: ts as f64 / 1000.0,
                            })
                            .collect()
                    }
                    _ => map_drop_name(self.vector(a, at(0))?, |_| t as f64 / 1000.0),
                };
                unique(out)?
            }
            Func::Sort | Func::SortDesc => {
                let mut v = self.vector(arg(0)?, at(0))?;
                let desc = matches!(func, Func::SortDesc);
                crate::base::sort::sort_by(&mut v, |a, b| a.labels.cmp(&b.labels));
                crate::base::sort::sort_by(&mut v, |a, b| sort_order(a.value, b.value, desc));
                Val::Vector(v)
            }
            Func::HistogramQuantile => {
                let q = self.scalar(arg(0)?, at(0))?;
                let v = self.vector(arg(1)?, at(1))?;
                unique(histogram_quantile(q, v))?
            }
            Func::LabelReplace {
                dst,
                replacement,
                src,
                regex,
            } => {
                let v = self.vector(arg(0)?, at(0))?;
                let out = v
                    .into_iter()
                    .map(|mut s| {
                        let value = s.labels.get(src).unwrap_or("").to_string();
                        if let Some(caps) = regex.captures(&value) {
                            let mut res = String::new();
                            caps.expand(replacement, &mut res);
                            s.labels.set(dst, &res);
                        }
                        s
                    })
                    .collect();
                unique(out)?
            }
            Func::LabelJoin { dst, sep, srcs } => {
                let v = self.vector(arg(0)?, at(0))?;
                let out = v
                    .into_iter()
                    .map(|mut s| {
                        let joined = srcs
                            .iter()
                            .map(|n| s.labels.get(n).unwrap_or(""))
                            .collect::<Vec<_>>()
                            .join(sep);
                        s.labels.set(dst, &joined);
                        s
                    })
                    .collect();
                unique(out)?
            }
            Func::Range(f) => {
                let mi = func.matrix_arg();
                let mut scalars = Vec::new();
                for (i, a) in args.iter().enumerate() {
                    if i != mi {
                        scalars.push(self.scalar(a, at(i))?);
                    }
                }
                let keep_name = *f == super::check::RangeFn::Last;
                if let Some(summed) = self.aggregated(*f, arg(mi)?, t) {
                    let mut out = Vec::with_capacity(summed.len());
                    for a in &summed {
                        if let Some(Some(value)) = functions::aggregate_fn(*f, a, &scalars) {
                            out.push(Sample {
                                labels: a.labels.without_name(),
                                value,
                            });
                        }
                    }
                    return unique(out);
                }
                let m = self.ranged(arg(mi)?, t)?;
                let mut out = Vec::with_capacity(m.series.len());
                for s in m.series {
                    let w = Window {
                        points: &s.points,
                        end: m.end,
                        range: m.range,
                        eval_at: t,
                    };
                    if let Some(value) =
                        functions::range_fn(*f, &w, &scalars).map_err(EvalError::new)?
                    {
                        out.push(Sample {
                            labels: if keep_name {
                                s.labels
                            } else {
                                s.labels.without_name()
                            },
                            value,
                        });
                    }
                }
                unique(out)?
            }
        })
    }
}

/// The members `topk` (`desc`) or `bottomk` keeps, picked exactly as Prometheus 2.42's
/// aggregation does with Go's `container/heap`: the worst kept member sits on top and is
/// popped for a better one, so which of several equal values survive depends on the heap's
/// moves, not only on input order.
fn go_heap_select(members: Vec<Sample>, k: usize, desc: bool) -> Vec<Sample> {
    // vectorByValueHeap.Less (topk) / vectorByReverseValueHeap.Less (bottomk).
    let less = |h: &[Sample], i: usize, j: usize| {
        let (a, b) = (h[i].value, h[j].value);
        a.is_nan() || if desc { a < b } else { a > b }
    };
    let up = |h: &mut [Sample], mut j: usize| {
        while j > 0 {
            let i = (j - 1) / 2;
            if !less(h, j, i) {
                break;
            }
            h.swap(i, j);
            j = i;
        }
    };
    let down = |h: &mut [Sample], n: usize| {
        let mut i = 0;
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            if j1 + 1 < n && less(h, j1 + 1, j1) {
                j = j1 + 1;
            }
            if !less(h, j, i) {
                break;
            }
            h.swap(i, j);
            i = j;
        }
    };
    let mut heap: Vec<Sample> = Vec::with_capacity(k.min(members.len()));
    for s in members {
        if heap.is_empty() {
            // The group's first sample starts the heap.
            heap.push(s);
            continue;
        }
        let top = heap[0].value;
        let better = if desc { top < s.value } else { top > s.value };
        if heap.len() >= k && !better && !top.is_nan() {
            continue;
        }
        if heap.len() >= k {
            if k == 1 {
                heap[0] = s;
                continue;
            }
            // heap.Pop: the top swapped to the end, sifted down, removed.
            let n = heap.len() - 1;
            heap.swap(0, n);
            down(&mut heap, n);
            heap.pop();
        }
        heap.push(s);
        let j = heap.len() - 1;
        up(&mut heap, j);
    }
    heap
}

/// Ascending with NaN last (`sort`), or descending with NaN last (`sort_desc`).
fn sort_order(a: f64, b: f64, desc: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if desc => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// `histogram_quantile` over classic buckets: series grouped by their labels without
/// `__name__` and `le`; a series whose `le` is missing or not a float is skipped.
fn histogram_quantile(q: f64, v: Vec<Sample>) -> Vec<Sample> {
    let mut groups: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
    for s in v {
        let Some(le) = s.labels.get("le").and_then(parse_go_float) else {
            continue;
        };
        let mut key = s.labels.without_name();
        key.remove("le");
        groups.entry(key).or_default().push((le, s.value));
    }
    groups
        .into_iter()
        .map(|(labels, mut buckets)| Sample {
            labels,
            value: functions::bucket_quantile(q, &mut buckets),
        })
        .collect()
}

/// Go's `strconv.ParseFloat(s, 64)` for the forms bucket bounds take (`+Inf`, `0.5`, `1e3`).
fn parse_go_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        return Some(if s.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if body.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    if !body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    s.parse().ok()
}

fn map_drop_name(v: Vec<Sample>, f: impl Fn(f64) -> f64) -> Vec<Sample> {
    v.into_iter()
        .map(|s| Sample {
            labels: s.labels.without_name(),
            value: f(s.value),
        })
        .collect()
}

/// The value and whether to keep it (comparisons keep the left value when true).
fn elem(op: BinOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinOp::Add => (l + r, true),
        BinOp::Sub => (l - r, true),
        BinOp::Mul => (l * r, true),
        BinOp::Div => (l / r, true),
        BinOp::Mod => (l % r, true),
        BinOp::Pow => (gomath::pow(l, r), true),
        BinOp::Atan2 => (gomath::atan2(l, r), true),
        BinOp::Eq => (l, l == r),
        BinOp::Ne => (l, l != r),
        BinOp::Lt => (l, l < r),
        BinOp::Le => (l, l <= r),
        BinOp::Gt => (l, l > r),
        BinOp::Ge => (l, l >= r),
        BinOp::And | BinOp::Or | BinOp::Unless => (l, true),
    }
}

/// Vector ∘ scalar (or scalar ∘ vector when `swap`): comparisons filter and keep the
/// vector's value and name; arithmetic (not atan2) and `bool` drop the name.
fn vector_scalar(op: BinOp, v: Vec<Sample>, s: f64, swap: bool, return_bool: bool) -> Vec<Sample> {
    let mut out = Vec::with_capacity(v.len());
    for mut smp in v {
        let (l, r) = if swap { (s, smp.value) } else { (smp.value, s) };
        let (mut value, mut keep) = elem(op, l, r);
        if op.is_comparison() && swap {
            value = r;
        }
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
            keep = true;
        }
        if keep {
            smp.value = value;
            if op.drops_name() || return_bool {
                smp.labels.remove(NAME);
            }
            out.push(smp);
        }
    }
    out
}

/// The labels two elements are matched on.
fn signature(labels: &Labels, m: &Matching) -> Labels {
    let mut l = labels.clone();
    if m.on {
        l.retain(|n| m.labels.iter().any(|x| x == n));
    } else {
        l.retain(|n| n != NAME && !m.labels.iter().any(|x| x == n));
    }
    l
}

/// Vector ∘ vector with one-to-one, many-to-one (`group_left`) or one-to-many
/// (`group_right`) matching, as 2.42's `VectorBinop`: the "one" side is hashed, a duplicate
/// there is many-to-many and fails, and the result labels come from the "many" side plus the
/// `group_x` labels taken from the "one" side.
fn vector_vector(
    op: BinOp,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    return_bool: bool,
    m: &Matching,
) -> Result<Vec<Sample>, EvalError> {
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new());
    }
    let swapped = matches!(m.card, Card::OneToMany(_));
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    let mut one_by_sig: HashMap<Labels, &Sample> = HashMap::with_capacity(one.len());
    for rs in &one {
        let sig = signature(&rs.labels, m);
        if let Some(dup) = one_by_sig.get(&sig) {
            return Err(EvalError::new(format!(
                "found duplicate series for the match group {sig} on the {} hand-side of the \
                 operation: [{}, {}];many-to-many matching not allowed: matching labels must be \
                 unique on one side",
                if swapped { "left" } else { "right" },
                rs.labels,
                dup.labels
            )));
        }
        one_by_sig.insert(sig, rs);
    }
    let mut matched: HashMap<Labels, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for ls in many {
        let sig = signature(&ls.labels, m);
        let Some(rs) = one_by_sig.get(&sig) else {
            continue;
        };
        let (vl, vr) = if swapped {
            (rs.value, ls.value)
        } else {
            (ls.value, rs.value)
        };
        let (mut value, keep) = elem(op, vl, vr);
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        let mut labels = result_labels(ls.labels, &rs.labels, op, m);
        if return_bool {
            labels.remove(NAME);
        }
        match m.card {
            Card::OneToOne => {
                if matched.insert(sig, HashSet::new()).is_some() {
                    return Err(EvalError::new(
                        "multiple matches for labels: many-to-one matching must be explicit \
                         (group_left/group_right)",
                    ));
                }
            }
            _ => {
                if !matched.entry(sig).or_default().insert(labels.clone()) {
                    return Err(EvalError::new(
                        "multiple matches for labels: grouping labels must ensure unique matches",
                    ));
                }
            }
        }
        out.push(Sample { labels, value });
    }
    Ok(out)
}

/// 2.42's `resultMetric`: the "many" side's labels, without `__name__` for arithmetic,
/// reduced to the matching labels for one-to-one matching, plus the `group_x` labels from
/// the "one" side.
fn result_labels(mut labels: Labels, one: &Labels, op: BinOp, m: &Matching) -> Labels {
    if op.drops_name() {
        labels.remove(NAME);
    }
    let include = match &m.card {
        Card::OneToOne => {
            if m.on {
                labels.retain(|n| m.labels.iter().any(|x| x == n));
            } else {
                labels.retain(|n| !m.labels.iter().any(|x| x == n));
            }
            return labels;
        }
        Card::ManyToOne(l) | Card::OneToMany(l) => l,
    };
    for name in include {
        labels.set(name, one.get(name).unwrap_or(""));
    }
    labels
}

fn set_and(lhs: Vec<Sample>, rhs: Vec<Sample>, m: &Matching) -> Vec<Sample> {
    if lhs.is_empty() || rhs.is_empty() {
        return Vec::new();
    }
    let right: HashSet<Labels> = rhs.iter().map(|s| signature(&s.labels, m)).collect();
    lhs.into_iter()
        .filter(|s| right.contains(&signature(&s.labels, m)))
        .collect()
}

fn set_or(lhs: Vec<Sample>, rhs: Vec<Sample>, m: &Matching) -> Vec<Sample> {
    if lhs.is_empty() {
        return rhs;
    }
    if rhs.is_empty() {
        return lhs;
    }
    let left: HashSet<Labels> = lhs.iter().map(|s| signature(&s.labels, m)).collect();
    let mut out = lhs;
    out.extend(
        rhs.into_iter()
            .filter(|s| !left.contains(&signature(&s.labels, m))),
    );
    out
}

fn set_unless(lhs: Vec<Sample>, rhs: Vec<Sample>, m: &Matching) -> Vec<Sample> {
    if lhs.is_empty() || rhs.is_empty() {
        return lhs;
    }
    let right: HashSet<Labels> = rhs.iter().map(|s| signature(&s.labels, m)).collect();
    lhs.into_iter()
        .filter(|s| !right.contains(&signature(&s.labels, m)))
        .collect()
}

/// An aggregation's evaluated parameter.
enum Param {
    None,
    Scalar(f64),
    String(String),
}

/// One group of an aggregation, updated as Prometheus 2.42's `groupedAggregation`.
struct Group {
    labels: Labels,
    value: f64,
    mean: f64,
    count: f64,
    /// `topk`/`bottomk`/`quantile`: the members.
    members: Vec<Sample>,
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`, `count_values`' label value.
fn format_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v}")
    }
}

fn aggregate(
    op: AggOp,
    v: Vec<Sample>,
    param: &Param,
    grouping: &Grouping,
) -> Result<Vec<Sample>, EvalError> {
    let mut k = 0usize;
    if matches!(op, AggOp::Topk | AggOp::Bottomk) {
        let f = match param {
            Param::Scalar(f) => *f,
            _ => return Err(type_error("scalar parameter")),
        };
        // Go's convertibleToInt64.
        if !(f <= i64::MAX as f64 && f >= i64::MIN as f64) {
            return Err(EvalError::new(format!(
                "Scalar value {} overflows int64",
                crate::base::go::format_go_float(f)
            )));
        }
        let ki = f as i64;
        if ki < 1 {
            return Ok(Vec::new());
        }
        k = usize::try_from(ki).unwrap_or(usize::MAX);
    }
    let mut grouping = grouping.clone();
    let mut value_label = None;
    if op == AggOp::CountValues {
        let Param::String(l) = param else {
            return Err(type_error("string parameter"));
        };
        if !crate::base::names::is_label_name(l) {
            return Err(EvalError::new(format!(
                "invalid label name {}",
                crate::base::go::quote(l)
            )));
        }
        if let Grouping::By(names) = &mut grouping {
            names.push(l.clone());
        }
        value_label = Some(l.clone());
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for mut s in v {
        if let Some(l) = &value_label {
            s.labels.set(l, &format_f(s.value));
        }
        let mut key = s.labels.clone();
        match &grouping {
            Grouping::By(names) => key.retain(|n| names.iter().any(|x| x == n)),
            Grouping::Without(names) => key.retain(|n| n != NAME && !names.iter().any(|x| x == n)),
        }
        let x = s.value;
        let Some(&i) = index.get(&key) else {
            index.insert(key.clone(), groups.len());
            groups.push(Group {
                labels: key,
                value: match op {
                    AggOp::Stddev | AggOp::Stdvar => 0.0,
                    AggOp::Group => 1.0,
                    _ => x,
                },
                mean: x,
                count: 1.0,
                members: vec![s],
            });
            continue;
        };
        let g = &mut groups[i];
        match op {
            AggOp::Sum => g.value += x,
            AggOp::Avg => {
                g.count += 1.0;
                if g.mean.is_infinite() {
                    if x.is_infinite() && (g.mean > 0.0) == (x > 0.0) {
                        continue;
                    }
                    if !x.is_infinite() && !x.is_nan() {
                        continue;
                    }
                }
                g.mean += x / g.count - g.mean / g.count;
            }
            AggOp::Group => {}
            AggOp::Max => {
                if g.value < x || g.value.is_nan() {
                    g.value = x;
                }
            }
            AggOp::Min => {
                if g.value > x || g.value.is_nan() {
                    g.value = x;
                }
            }
            AggOp::Count | AggOp::CountValues => g.count += 1.0,
            AggOp::Stddev | AggOp::Stdvar => {
                g.count += 1.0;
                let delta = x - g.mean;
                g.mean += delta / g.count;
                g.value += delta * (x - g.mean);
            }
            AggOp::Topk | AggOp::Bottomk | AggOp::Quantile => g.members.push(s),
        }
    }
    let mut out = Vec::with_capacity(groups.len());
    for g in groups {
        let value = match op {
            AggOp::Avg => g.mean,
            AggOp::Count | AggOp::CountValues => g.count,
            AggOp::Stdvar => g.value / g.count,
            AggOp::Stddev => (g.value / g.count).sqrt(),
            AggOp::Quantile => {
                let q = match param {
                    Param::Scalar(q) => *q,
                    _ => f64::NAN,
                };
                let mut values: Vec<f64> = g.members.iter().map(|s| s.value).collect();
                functions::quantile(q, &mut values)
            }
            AggOp::Topk | AggOp::Bottomk => {
                // The k largest (smallest) values, NaN counting as the worst, chosen among
                // ties as 2.42's heap chooses them; output largest (smallest) first.
                let desc = op == AggOp::Topk;
                let mut kept = go_heap_select(g.members, k, desc);
                crate::base::sort::sort_by(&mut kept, |a, b| sort_order(a.value, b.value, desc));
                out.extend(kept);
                continue;
            }
            _ => g.value,
        };
        out.push(Sample {
            labels: g.labels,
            value,
        });
    }
    Ok(out)
}
