//! Evaluates a checked expression at one instant, as Prometheus 2.42's engine does for an
//! instant query: the same float operations in the same order (Kahan sums where 2.42 uses
//! them, Go's `math.Pow`/`Max`/`Min`), the same label handling and the same errors.

use std::collections::{HashMap, HashSet};

use super::check::{AggOp, BinOp, Func, Grouping, Matching, Node};
use super::{gomath, is_stale, EvalError, Labels, Matcher, Queryable, Sample, Series, Value, NAME};

/// An intermediate value; `Matrix` only ever feeds a function.
enum Val {
    Scalar(f64),
    Vector(Vec<Sample>),
    Matrix(Vec<Series>),
    String(String),
}

pub fn eval(node: &Node, at_ms: i64, src: &dyn Queryable) -> Result<Value, EvalError> {
    let cx = Cx { at: at_ms, src };
    match cx.eval(node)? {
        Val::Scalar(v) => Ok(Value::Scalar(v)),
        Val::Vector(mut v) => {
            v.sort_by(|a, b| a.labels.cmp(&b.labels));
            Ok(Value::Vector(v))
        }
        Val::String(s) => Ok(Value::String(s)),
        Val::Matrix(_) => Err(EvalError::new("rule result is not a vector or scalar")),
    }
}

struct Cx<'a> {
    at: i64,
    src: &'a dyn Queryable,
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

impl Cx<'_> {
    fn eval(&self, node: &Node) -> Result<Val, EvalError> {
        match node {
            Node::Number(v) => Ok(Val::Scalar(*v)),
            Node::String(s) => Ok(Val::String(s.clone())),
            Node::Vector(m) => Ok(Val::Vector(self.instant(m))),
            Node::Matrix(m, range) => Ok(Val::Matrix(self.range(m, *range))),
            Node::Neg(e) => match self.eval(e)? {
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
            } => self.binary(*op, lhs, rhs, *return_bool, matching),
            Node::Aggregate { op, expr, grouping } => {
                let v = self.vector(expr)?;
                unique(aggregate(*op, v, grouping))
            }
            Node::Call { func, args } => self.call(func, args),
        }
    }

    fn vector(&self, node: &Node) -> Result<Vec<Sample>, EvalError> {
        match self.eval(node)? {
            Val::Vector(v) => Ok(v),
            _ => Err(type_error("instant vector")),
        }
    }

    fn scalar(&self, node: &Node) -> Result<f64, EvalError> {
        match self.eval(node)? {
            Val::Scalar(v) => Ok(v),
            _ => Err(type_error("scalar")),
        }
    }

    fn matrix(&self, node: &Node) -> Result<Vec<Series>, EvalError> {
        match self.eval(node)? {
            Val::Matrix(m) => Ok(m),
            _ => Err(type_error("range vector")),
        }
    }

    /// What the source says is current (see `Queryable::latest`), sorted by labels.
    fn instant(&self, matchers: &[Matcher]) -> Vec<Sample> {
        let mut out = self.src.latest(matchers, self.at);
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// The points of each series in `[at − range, at]` (closed, as in 2.x), stale markers
    /// left out; series without points are dropped.
    fn range(&self, matchers: &[Matcher], range: i64) -> Vec<Series> {
        let start = self.at.saturating_sub(range);
        let mut out: Vec<Series> = self
            .src
            .select(matchers, start, self.at)
            .into_iter()
            .filter_map(|mut s| {
                s.points
                    .retain(|&(t, v)| t >= start && t <= self.at && !is_stale(v));
                (!s.points.is_empty()).then_some(s)
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    fn binary(
        &self,
        op: BinOp,
        lhs: &Node,
        rhs: &Node,
        return_bool: bool,
        matching: &Matching,
    ) -> Result<Val, EvalError> {
        let l = self.eval(lhs)?;
        let r = self.eval(rhs)?;
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

    /// Calls a function: one `match` arm per PromQL function (the dispatch table of
    /// Prometheus' `functions.go`, kept in one place so every function is visible).
    fn call(&self, func: &Func, args: &[Node]) -> Result<Val, EvalError> {
        let arg = |i: usize| args.get(i).ok_or_else(|| type_error("function argument"));
        Ok(match func {
            Func::Time => Val::Scalar(self.at as f64 / 1000.0),
            Func::Vector => Val::Vector(vec![Sample {
                labels: Labels::default(),
                value: self.scalar(arg(0)?)?,
            }]),
            Func::Scalar => {
                let v = self.vector(arg(0)?)?;
                Val::Scalar(if v.len() == 1 { v[0].value } else { f64::NAN })
            }
            Func::Absent(labels) => {
                let v = self.vector(arg(0)?)?;
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
                let m = self.matrix(arg(0)?)?;
                Val::Vector(if m.is_empty() {
                    vec![Sample {
                        labels: labels.clone(),
                        value: 1.0,
                    }]
                } else {
                    Vec::new()
                })
            }
            Func::Abs | Func::Ceil | Func::Floor => {
                let f: fn(f64) -> f64 = match func {
                    Func::Abs => f64::abs,
                    Func::Ceil => f64::ceil,
                    _ => f64::floor,
                };
                let v = self.vector(arg(0)?)?;
                unique(map_drop_name(v, f))?
            }
            Func::Round => {
                let v = self.vector(arg(0)?)?;
                let to_nearest = match args.get(1) {
                    Some(a) => self.scalar(a)?,
                    None => 1.0,
                };
                // Prometheus: the inverse first, so round(x, 0.1) divides by 10 exactly.
                let inverse = 1.0 / to_nearest;
                unique(map_drop_name(v, |x| (x * inverse + 0.5).floor() / inverse))?
            }
            Func::ClampMin => {
                let v = self.vector(arg(0)?)?;
                let min = self.scalar(arg(1)?)?;
                unique(map_drop_name(v, |x| gomath::max(min, x)))?
            }
            Func::ClampMax => {
                let v = self.vector(arg(0)?)?;
                let max = self.scalar(arg(1)?)?;
                unique(map_drop_name(v, |x| gomath::min(max, x)))?
            }
            Func::Clamp => {
                let v = self.vector(arg(0)?)?;
                let min = self.scalar(arg(1)?)?;
                let max = self.scalar(arg(2)?)?;
                if max < min {
                    Val::Vector(Vec::new())
                } else {
                    unique(map_drop_name(v, |x| gomath::max(min, gomath::min(max, x))))?
                }
            }
            Func::LabelReplace {
                dst,
                replacement,
                src,
                regex,
            } => {
                let v = self.vector(arg(0)?)?;
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
            Func::QuantileOverTime => {
                let q = self.scalar(arg(0)?)?;
                let m = self.matrix(arg(1)?)?;
                over_time(m, true, |points| {
                    let mut values: Vec<f64> = points.iter().map(|p| p.1).collect();
                    quantile(q, &mut values)
                })?
            }
            Func::Changes
            | Func::AvgOverTime
            | Func::MinOverTime
            | Func::MaxOverTime
            | Func::SumOverTime
            | Func::CountOverTime
            | Func::LastOverTime
            | Func::PresentOverTime
            | Func::StddevOverTime
            | Func::StdvarOverTime => {
                let m = self.matrix(arg(0)?)?;
                let f: fn(&[(i64, f64)]) -> f64 = match func {
                    Func::Changes => changes,
                    Func::AvgOverTime => avg_over_time,
                    Func::MinOverTime => min_over_time,
                    Func::MaxOverTime => max_over_time,
                    Func::SumOverTime => sum_over_time,
                    Func::CountOverTime => |p| p.len() as f64,
                    Func::LastOverTime => |p| p.last().map_or(f64::NAN, |x| x.1),
                    Func::PresentOverTime => |_| 1.0,
                    Func::StddevOverTime => |p| stdvar_over_time(p).sqrt(),
                    _ => stdvar_over_time,
                };
                over_time(m, !matches!(func, Func::LastOverTime), f)?
            }
        })
    }
}

/// One value per series of a range vector; `drop_name` for every function but
/// `last_over_time`.
fn over_time(
    m: Vec<Series>,
    drop_name: bool,
    f: impl Fn(&[(i64, f64)]) -> f64,
) -> Result<Val, EvalError> {
    let out = m
        .into_iter()
        .map(|s| Sample {
            value: f(&s.points),
            labels: if drop_name {
                s.labels.without_name()
            } else {
                s.labels
            },
        })
        .collect();
    unique(out)
}

fn map_drop_name(v: Vec<Sample>, f: impl Fn(f64) -> f64) -> Vec<Sample> {
    v.into_iter()
        .map(|s| Sample {
            labels: s.labels.without_name(),
            value: f(s.value),
        })
        .collect()
}

/// Kahan–Neumaier summation step, as Prometheus' `kahanSumInc`.
fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

fn sum_over_time(points: &[(i64, f64)]) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for &(_, v) in points {
        (sum, c) = kahan_inc(v, sum, c);
    }
    if sum.is_infinite() {
        sum
    } else {
        sum + c
    }
}

fn avg_over_time(points: &[(i64, f64)]) -> f64 {
    let (mut mean, mut count, mut c) = (0.0f64, 0.0f64, 0.0f64);
    for &(_, v) in points {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_inc(v / count - mean / count, mean, c);
    }
    if mean.is_infinite() {
        mean
    } else {
        mean + c
    }
}

fn min_over_time(points: &[(i64, f64)]) -> f64 {
    let mut min = points.first().map_or(f64::NAN, |p| p.1);
    for &(_, v) in points {
        if v < min || min.is_nan() {
            min = v;
        }
    }
    min
}

fn max_over_time(points: &[(i64, f64)]) -> f64 {
    let mut max = points.first().map_or(f64::NAN, |p| p.1);
    for &(_, v) in points {
        if v > max || max.is_nan() {
            max = v;
        }
    }
    max
}

/// The population variance with Kahan-compensated mean and sum of squares, as 2.42.
fn stdvar_over_time(points: &[(i64, f64)]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
    for &(_, v) in points {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

fn changes(points: &[(i64, f64)]) -> f64 {
    let mut n = 0u64;
    let Some(&(_, mut prev)) = points.first() else {
        return 0.0;
    };
    for &(_, cur) in &points[1..] {
        if cur != prev && !(cur.is_nan() && prev.is_nan()) {
            n += 1;
        }
        prev = cur;
    }
    n as f64
}

/// Prometheus' `quantile`: linear interpolation between the closest ranks; NaN sorts first.
fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = gomath::max(0.0, rank.floor());
    let upper = gomath::min(n - 1.0, lower + 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
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
/// vector's value and name; arithmetic and `bool` drop the name.
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
            if !op.is_comparison() || return_bool {
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
    let mut right: HashMap<Labels, &Sample> = HashMap::with_capacity(rhs.len());
    for rs in &rhs {
        let sig = signature(&rs.labels, m);
        if let Some(dup) = right.get(&sig) {
            return Err(EvalError::new(format!(
                "found duplicate series for the match group {sig} on the right hand-side of the \
                 operation: [{}, {}];many-to-many matching not allowed: matching labels must be \
                 unique on one side",
                rs.labels, dup.labels
            )));
        }
        right.insert(sig, rs);
    }
    let mut matched: HashSet<Labels> = HashSet::new();
    let mut out = Vec::new();
    for ls in lhs {
        let sig = signature(&ls.labels, m);
        let Some(rs) = right.get(&sig) else {
            continue;
        };
        let (mut value, keep) = elem(op, ls.value, rs.value);
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        let mut labels = ls.labels;
        if !op.is_comparison() || return_bool {
            labels.remove(NAME);
        }
        if m.on {
            labels.retain(|n| m.labels.iter().any(|x| x == n));
        } else {
            labels.retain(|n| !m.labels.iter().any(|x| x == n));
        }
        if !matched.insert(sig) {
            return Err(EvalError::new(
                "multiple matches for labels: many-to-one matching must be explicit \
                 (group_left/group_right)",
            ));
        }
        out.push(Sample { labels, value });
    }
    Ok(out)
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

/// One group of an aggregation, updated as Prometheus 2.42's `groupedAggregation`.
struct Group {
    labels: Labels,
    value: f64,
    mean: f64,
    count: f64,
}

fn aggregate(op: AggOp, v: Vec<Sample>, grouping: &Grouping) -> Vec<Sample> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for s in v {
        let mut key = s.labels;
        match grouping {
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
            AggOp::Count => g.count += 1.0,
            AggOp::Stddev | AggOp::Stdvar => {
                g.count += 1.0;
                let delta = x - g.mean;
                g.mean += delta / g.count;
                g.value += delta * (x - g.mean);
            }
        }
    }
    groups
        .into_iter()
        .map(|g| Sample {
            value: match op {
                AggOp::Avg => g.mean,
                AggOp::Count => g.count,
                AggOp::Stdvar => g.value / g.count,
                AggOp::Stddev => (g.value / g.count).sqrt(),
                _ => g.value,
            },
            labels: g.labels,
        })
        .collect()
}
