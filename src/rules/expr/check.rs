//! From promql-parser's AST to our own `Node` tree, refusing what 2.42 over floats lacks
//! with a message that names the construct. Whatever can be decided at load is decided here
//! (label_replace's regex and destination, absent()'s labels), so evaluation only computes.

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_DIV, T_EQLC, T_GROUP, T_GTE,
    T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MAX, T_MIN, T_MOD, T_MUL, T_NEQ, T_POW,
    T_QUANTILE, T_STDDEV, T_STDVAR, T_SUB, T_SUM, T_TOPK,
};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{self, LabelModifier, VectorMatchCardinality, VectorSelector};
use promql_parser::parser::{AtModifier, Offset};
use regex::Regex;

use crate::base::goregex;

use super::{ExprError, Labels, MatchOp, Matcher, NAME};

/// The functions of Prometheus 2.42 that work on float samples (everything else, the native
/// histogram functions and later versions' additions, is refused by name).
pub const FUNCTIONS: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "deg",
    "delta",
    "deriv",
    "exp",
    "floor",
    "histogram_quantile",
    "holt_winters",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_join",
    "label_replace",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "max_over_time",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_desc",
    "sqrt",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "vector",
    "year",
];

/// Which time a selector or subquery is anchored to: the evaluation time, or `@`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// No `@`: the time the node is evaluated at (a subquery step inside a subquery).
    None,
    /// `@ <timestamp>`, in ms.
    Time(i64),
    /// `@ start()` / `@ end()`: for a rule (an instant query) both are the evaluation time.
    Eval,
}

/// An instant or range selector's matchers and time modifiers.
#[derive(Debug, Clone)]
pub struct Selector {
    pub matchers: Vec<Matcher>,
    /// `offset` in ms (negative for `offset -5m`).
    pub offset: i64,
    pub at: At,
}

/// A checked expression.
#[derive(Debug, Clone)]
pub enum Node {
    Number(f64),
    String(String),
    /// Instant selector.
    Vector(Selector),
    /// Range selector with its range in ms.
    Matrix(Selector, i64),
    /// `expr[range:step] offset … @ …`; `step` None is the default subquery step.
    Subquery {
        expr: Box<Node>,
        range: i64,
        step: Option<i64>,
        offset: i64,
        at: At,
    },
    Neg(Box<Node>),
    Binary {
        op: BinOp,
        lhs: Box<Node>,
        rhs: Box<Node>,
        return_bool: bool,
        matching: Matching,
    },
    Aggregate {
        op: AggOp,
        expr: Box<Node>,
        /// `topk`'s k, `quantile`'s φ, `count_values`' label.
        param: Option<Box<Node>>,
        grouping: Grouping,
    },
    Call {
        func: Func,
        args: Vec<Node>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Unless,
}

impl BinOp {
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
        )
    }

    /// Prometheus' `shouldDropMetricName`: arithmetic drops `__name__` (atan2 does not).
    pub fn drops_name(self) -> bool {
        matches!(
            self,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Pow
        )
    }
}

/// Which labels two vector elements are matched on: `on` lists them, otherwise every label
/// but `__name__` and the `ignoring` list; and which side may have many elements per match.
#[derive(Debug, Clone, Default)]
pub struct Matching {
    pub on: bool,
    pub labels: Vec<String>,
    pub card: Card,
}

/// The cardinality of a vector match, with `group_left`/`group_right`'s extra labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Card {
    #[default]
    OneToOne,
    ManyToOne(Vec<String>),
    OneToMany(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggOp {
    Sum,
    Min,
    Max,
    Avg,
    Count,
    Group,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Quantile,
    CountValues,
}

/// `by (…)` (also no clause: `by ()`) or `without (…)`.
#[derive(Debug, Clone)]
pub enum Grouping {
    By(Vec<String>),
    Without(Vec<String>),
}

/// A function over the points of one series of a range vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFn {
    Rate,
    Irate,
    Increase,
    Delta,
    Idelta,
    Deriv,
    PredictLinear,
    HoltWinters,
    Resets,
    Changes,
    Avg,
    Min,
    Max,
    Sum,
    Count,
    Last,
    Present,
    Stddev,
    Stdvar,
    Quantile,
}

#[derive(Debug, Clone)]
pub enum Func {
    Time,
    Pi,
    Vector,
    Scalar,
    /// The labels of the result when the argument is empty.
    Absent(Labels),
    AbsentOverTime(Labels),
    /// A float function applied to every element, dropping `__name__` (abs, exp, sin, …).
    Math(fn(f64) -> f64),
    Round,
    Clamp,
    ClampMin,
    ClampMax,
    /// `day_of_week` & co: of the argument's values, or of the evaluation time without one.
    Date(fn(&super::functions::Civil) -> f64),
    Timestamp,
    Sort,
    SortDesc,
    HistogramQuantile,
    LabelReplace {
        dst: String,
        replacement: String,
        src: String,
        regex: Regex,
    },
    LabelJoin {
        dst: String,
        sep: String,
        srcs: Vec<String>,
    },
    /// A range-vector function; its range-vector argument is `args[matrix_arg]`.
    Range(RangeFn),
}

impl Func {
    /// Which argument is the range vector, for range functions.
    pub fn matrix_arg(&self) -> usize {
        match self {
            Func::Range(RangeFn::Quantile) => 1,
            _ => 0,
        }
    }
}

/// `Node::step_invariant` of a call: a function outside 2.42's `AtModifierUnsafeFunctions`
/// (the date functions, `time`, `timestamp`, `predict_linear`) with step-invariant arguments.
pub fn call_step_invariant(func: &Func, args: &[Node]) -> bool {
    let unsafe_at = matches!(
        func,
        Func::Date(_) | Func::Time | Func::Timestamp | Func::Range(RangeFn::PredictLinear)
    );
    !unsafe_at && args.iter().all(Node::step_invariant)
}

/// What 2.42's `subqueryTimes` sums over the subqueries enclosing a node (outermost first):
/// their offsets and ranges, restarting at the innermost one with `@`, and that `@`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubqueryTimes {
    pub offset: i64,
    pub range: i64,
    pub at: Option<i64>,
}

impl SubqueryTimes {
    /// The sums one subquery deeper, `at` being its `@` time.
    pub fn enter(self, offset: i64, range: i64, at: Option<i64>) -> SubqueryTimes {
        match at {
            Some(_) => SubqueryTimes { offset, range, at },
            None => SubqueryTimes {
                offset: self.offset.saturating_add(offset),
                range: self.range.saturating_add(range),
                at: self.at,
            },
        }
    }
}

impl Node {
    /// Prometheus 2.42's `preprocessExprHelper` verdict: the node's value does not depend on
    /// the evaluation time (only `@` selectors and subqueries, literals, and functions other
    /// than `AtModifierUnsafeFunctions`; an aggregation looks at its expression only). Inside
    /// a subquery 2.42 evaluates such a subtree once, at the subquery's first step.
    pub fn step_invariant(&self) -> bool {
        match self {
            Node::Number(_) | Node::String(_) => true,
            Node::Vector(sel) | Node::Matrix(sel, _) => sel.at != At::None,
            Node::Subquery { at, .. } => *at != At::None,
            Node::Neg(e) => e.step_invariant(),
            Node::Binary { lhs, rhs, .. } => lhs.step_invariant() && rhs.step_invariant(),
            Node::Aggregate { expr, .. } => expr.step_invariant(),
            Node::Call { func, args } => call_step_invariant(func, args),
        }
    }

    /// Whether any selector or subquery has `@`.
    pub fn has_at(&self) -> bool {
        match self {
            Node::Number(_) | Node::String(_) => false,
            Node::Vector(sel) | Node::Matrix(sel, _) => sel.at != At::None,
            Node::Subquery { expr, at, .. } => *at != At::None || expr.has_at(),
            Node::Neg(e) => e.has_at(),
            Node::Binary { lhs, rhs, .. } => lhs.has_at() || rhs.has_at(),
            Node::Aggregate { expr, param, .. } => {
                expr.has_at() || param.as_ref().is_some_and(|p| p.has_at())
            }
            Node::Call { args, .. } => args.iter().any(Node::has_at),
        }
    }

    /// 2.42's `findMinMaxTime` for an instant query at `now` (ms): the time range every
    /// selector's data is read from, which the querier's data is limited to. `None` without
    /// selectors.
    pub fn query_bounds(&self, now: i64) -> Option<(i64, i64)> {
        let mut bounds: Option<(i64, i64)> = None;
        self.visit_bounds(now, SubqueryTimes::default(), &mut bounds);
        bounds
    }

    fn visit_bounds(&self, now: i64, path: SubqueryTimes, out: &mut Option<(i64, i64)>) {
        let at_time = |at: At| match at {
            At::None => None,
            At::Time(ms) => Some(ms),
            At::Eval => Some(now),
        };
        let mut selector = |sel: &Selector, range: i64| {
            // getTimeRangesForSelector.
            let (mut start, mut end) = match (at_time(sel.at), path.at) {
                (Some(a), _) => (a, a),
                (None, Some(ts)) => (
                    ts.saturating_sub(path.offset).saturating_sub(path.range),
                    ts.saturating_sub(path.offset),
                ),
                (None, None) => (
                    now.saturating_sub(path.offset).saturating_sub(path.range),
                    now.saturating_sub(path.offset),
                ),
            };
            start = start.saturating_sub(if range == 0 {
                super::LOOKBACK_MS
            } else {
                range
            });
            start = start.saturating_sub(sel.offset);
            end = end.saturating_sub(sel.offset);
            *out = Some(match *out {
                None => (start, end),
                Some((lo, hi)) => (lo.min(start), hi.max(end)),
            });
        };
        match self {
            Node::Number(_) | Node::String(_) => {}
            Node::Vector(sel) => selector(sel, 0),
            Node::Matrix(sel, range) => selector(sel, *range),
            Node::Subquery {
                expr,
                range,
                offset,
                at,
                ..
            } => expr.visit_bounds(now, path.enter(*offset, *range, at_time(*at)), out),
            Node::Neg(e) => e.visit_bounds(now, path, out),
            Node::Binary { lhs, rhs, .. } => {
                lhs.visit_bounds(now, path, out);
                rhs.visit_bounds(now, path, out);
            }
            Node::Aggregate { expr, param, .. } => {
                if let Some(p) = param {
                    p.visit_bounds(now, path, out);
                }
                expr.visit_bounds(now, path, out);
            }
            Node::Call { args, .. } => {
                for a in args {
                    a.visit_bounds(now, path, out);
                }
            }
        }
    }

    /// Calls `f(metric, ms)` for every selector with a `__name__="…"` matcher that reads
    /// before the evaluation time, with how far back it reads: its range (or the 5m lookback
    /// of an instant selector) plus its offset plus the span of every subquery around it.
    /// An instant selector read at the evaluation time needs no history; one with a fixed
    /// `@ <timestamp>` is not listed (what it reads is kept only while the retention covers it).
    /// Calls `f` for every selector with its metric name (`None` when it matches the name
    /// by anything but `__name__="…"`, i.e. may read any metric).
    pub fn visit_selectors(&self, f: &mut dyn FnMut(Option<&str>)) {
        let mut selector = |sel: &Selector| {
            let name = sel
                .matchers
                .iter()
                .find_map(|m| match (&m.op, m.name == NAME) {
                    (MatchOp::Equal(v), true) => Some(v.as_str()),
                    _ => None,
                });
            f(name);
        };
        match self {
            Node::Number(_) | Node::String(_) => {}
            Node::Vector(sel) | Node::Matrix(sel, _) => selector(sel),
            Node::Subquery { expr, .. } | Node::Neg(expr) => expr.visit_selectors(f),
            Node::Binary { lhs, rhs, .. } => {
                lhs.visit_selectors(f);
                rhs.visit_selectors(f);
            }
            Node::Aggregate { expr, param, .. } => {
                expr.visit_selectors(f);
                if let Some(p) = param {
                    p.visit_selectors(f);
                }
            }
            Node::Call { args, .. } => args.iter().for_each(|a| a.visit_selectors(f)),
        }
    }

    pub fn visit_ranges(&self, f: &mut dyn FnMut(&str, i64)) {
        self.visit_history(0, false, f);
    }

    fn visit_history(&self, extra: i64, in_subquery: bool, f: &mut dyn FnMut(&str, i64)) {
        let mut selector = |sel: &Selector, range: Option<i64>| {
            let extra = match sel.at {
                At::None => extra,
                At::Eval => 0,
                At::Time(_) => return,
            };
            let shifted = in_subquery && sel.at == At::None || sel.offset > 0;
            let need = match range {
                Some(r) => r,
                None if shifted => super::LOOKBACK_MS,
                None => return,
            };
            let need = need.saturating_add(extra).saturating_add(sel.offset.max(0));
            for m in &sel.matchers {
                if let (true, MatchOp::Equal(v)) = (m.name == NAME, &m.op) {
                    f(v, need);
                }
            }
        };
        match self {
            Node::Number(_) | Node::String(_) => {}
            Node::Vector(sel) => selector(sel, None),
            Node::Matrix(sel, range) => selector(sel, Some(*range)),
            Node::Subquery {
                expr,
                range,
                offset,
                at,
                ..
            } => {
                let base = match at {
                    At::None => extra,
                    At::Eval => 0,
                    At::Time(_) => return,
                };
                let extra = base.saturating_add(*range).saturating_add((*offset).max(0));
                expr.visit_history(extra, true, f);
            }
            Node::Neg(e) => e.visit_history(extra, in_subquery, f),
            Node::Binary { lhs, rhs, .. } => {
                lhs.visit_history(extra, in_subquery, f);
                rhs.visit_history(extra, in_subquery, f);
            }
            Node::Aggregate { expr, param, .. } => {
                expr.visit_history(extra, in_subquery, f);
                if let Some(p) = param {
                    p.visit_history(extra, in_subquery, f);
                }
            }
            Node::Call { args, .. } => args
                .iter()
                .for_each(|a| a.visit_history(extra, in_subquery, f)),
        }
    }
}

/// Parses and checks an expression of any result type (a template's `query`, whose range
/// vector or string result fails at evaluation as in Prometheus).
pub fn parse_any(text: &str) -> Result<Node, ExprError> {
    let ast = parse_promql(text)?;
    convert(&ast)
}

/// Parses and checks a rule expression.
pub fn parse(text: &str) -> Result<Node, ExprError> {
    let ast = parse_promql(text)?;
    let node = convert(&ast)?;
    match ast.value_type() {
        ValueType::Vector | ValueType::Scalar => {}
        t => {
            let t = if t == ValueType::Matrix {
                "range vector".to_string()
            } else {
                t.to_string()
            };
            return Err(ExprError::Invalid(format!(
                "a rule expression must return an instant vector or a scalar, not a {t} \
                 (Prometheus fails it at every evaluation: rule result is not a vector or scalar)"
            )));
        }
    }
    Ok(node)
}

/// 2.x's `holt_winters` is 3.0's `double_exponential_smoothing`, the only name
/// promql-parser knows: calls of `holt_winters` are renamed before parsing (outside string
/// literals and comments), and the 3.0 name written as such is refused.
const HOLT_WINTERS: &str = "holt_winters";
const DES: &str = "double_exponential_smoothing";

fn parse_promql(text: &str) -> Result<parser::Expr, ExprError> {
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' | '\'' | '`' => {
                out.push(c);
                while let Some((_, d)) = chars.next() {
                    out.push(d);
                    if d == '\\' && c != '`' {
                        if let Some((_, e)) = chars.next() {
                            out.push(e);
                        }
                    } else if d == c {
                        break;
                    }
                }
            }
            '#' => {
                out.push_str(&text[i..]);
                break;
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_ascii_alphanumeric() || d == '_' || d == ':' {
                        end = j + d.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let ident = &text[i..end];
                let is_call = text[end..].trim_start().starts_with('(');
                if ident == DES && is_call {
                    return Err(unsupported(format!(
                        "function \"{DES}\" is not in Prometheus 2.42 (it is 3.0's name for \
                         holt_winters)"
                    )));
                }
                out.push_str(if ident == HOLT_WINTERS && is_call {
                    DES
                } else {
                    ident
                });
            }
            c => out.push(c),
        }
    }
    parser::parse(&out).map_err(ExprError::Parse)
}

fn unsupported(what: impl Into<String>) -> ExprError {
    ExprError::Unsupported(what.into())
}

/// The parser's AST into the evaluator's: one `match` arm per expression kind.
fn convert(e: &parser::Expr) -> Result<Node, ExprError> {
    use parser::Expr as E;
    Ok(match e {
        E::NumberLiteral(n) => Node::Number(n.val),
        E::StringLiteral(s) => Node::String(s.val.clone()),
        E::Paren(p) => convert(&p.expr)?,
        E::Unary(u) => Node::Neg(Box::new(convert(&u.expr)?)),
        E::Subquery(sq) => Node::Subquery {
            expr: Box::new(convert(&sq.expr)?),
            range: millis(&sq.range)?,
            step: sq.step.as_ref().map(millis).transpose()?,
            offset: offset(&sq.offset)?,
            at: at(&sq.at)?,
        },
        E::Extension(_) => return Err(unsupported("extension expressions are not supported")),
        E::VectorSelector(vs) => Node::Vector(selector(vs)?),
        E::MatrixSelector(ms) => Node::Matrix(selector(&ms.vs)?, millis(&ms.range)?),
        E::Binary(b) => {
            let op = match b.op.id() {
                T_ADD => BinOp::Add,
                T_SUB => BinOp::Sub,
                T_MUL => BinOp::Mul,
                T_DIV => BinOp::Div,
                T_MOD => BinOp::Mod,
                T_POW => BinOp::Pow,
                T_EQLC => BinOp::Eq,
                T_NEQ => BinOp::Ne,
                T_LSS => BinOp::Lt,
                T_LTE => BinOp::Le,
                T_GTR => BinOp::Gt,
                T_GTE => BinOp::Ge,
                T_LAND => BinOp::And,
                T_LOR => BinOp::Or,
                T_LUNLESS => BinOp::Unless,
                T_ATAN2 => BinOp::Atan2,
                _ => {
                    return Err(unsupported(format!(
                        "operator \"{}\" is not supported",
                        b.op
                    )))
                }
            };
            let mut return_bool = false;
            let mut matching = Matching::default();
            if let Some(m) = &b.modifier {
                let card = match &m.card {
                    VectorMatchCardinality::OneToOne | VectorMatchCardinality::ManyToMany => {
                        Card::OneToOne
                    }
                    VectorMatchCardinality::ManyToOne(l) => Card::ManyToOne(l.labels.clone()),
                    VectorMatchCardinality::OneToMany(l) => Card::OneToMany(l.labels.clone()),
                };
                if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                    return Err(unsupported("fill modifiers are not supported"));
                }
                return_bool = m.return_bool;
                match &m.matching {
                    None => {}
                    Some(LabelModifier::Include(l)) => {
                        matching = Matching {
                            on: true,
                            labels: l.labels.clone(),
                            card: Card::OneToOne,
                        }
                    }
                    Some(LabelModifier::Exclude(l)) => {
                        matching = Matching {
                            on: false,
                            labels: l.labels.clone(),
                            card: Card::OneToOne,
                        }
                    }
                }
                matching.card = card;
            }
            Node::Binary {
                op,
                lhs: Box::new(convert(&b.lhs)?),
                rhs: Box::new(convert(&b.rhs)?),
                return_bool,
                matching,
            }
        }
        E::Aggregate(a) => {
            let op = match a.op.id() {
                T_SUM => AggOp::Sum,
                T_MIN => AggOp::Min,
                T_MAX => AggOp::Max,
                T_AVG => AggOp::Avg,
                T_COUNT => AggOp::Count,
                T_GROUP => AggOp::Group,
                T_STDDEV => AggOp::Stddev,
                T_STDVAR => AggOp::Stdvar,
                T_TOPK => AggOp::Topk,
                T_BOTTOMK => AggOp::Bottomk,
                T_QUANTILE => AggOp::Quantile,
                T_COUNT_VALUES => AggOp::CountValues,
                _ => {
                    return Err(unsupported(format!(
                        "aggregation \"{}\" is not supported by blackwatch",
                        a.op
                    )))
                }
            };
            let param = match (&a.param, op) {
                (Some(p), AggOp::Topk | AggOp::Bottomk | AggOp::Quantile | AggOp::CountValues) => {
                    Some(Box::new(convert(p)?))
                }
                (None, _) => None,
                (Some(_), _) => {
                    return Err(unsupported(format!(
                        "aggregation \"{}\" takes no parameter",
                        a.op
                    )))
                }
            };
            let grouping = match &a.modifier {
                None => Grouping::By(Vec::new()),
                Some(LabelModifier::Include(l)) => Grouping::By(l.labels.clone()),
                Some(LabelModifier::Exclude(l)) => Grouping::Without(l.labels.clone()),
            };
            Node::Aggregate {
                op,
                expr: Box::new(convert(&a.expr)?),
                param,
                grouping,
            }
        }
        E::Call(c) => call(c)?,
    })
}

/// A duration in ms.
fn millis(d: &std::time::Duration) -> Result<i64, ExprError> {
    i64::try_from(d.as_millis()).map_err(|_| ExprError::Invalid("duration is too long".to_string()))
}

fn offset(o: &Option<Offset>) -> Result<i64, ExprError> {
    Ok(match o {
        None => 0,
        Some(Offset::Pos(d)) => millis(d)?,
        Some(Offset::Neg(d)) => -millis(d)?,
    })
}

fn at(a: &Option<AtModifier>) -> Result<At, ExprError> {
    Ok(match a {
        None => At::None,
        Some(AtModifier::Start | AtModifier::End) => At::Eval,
        Some(AtModifier::At(t)) => At::Time(match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => millis(&d)?,
            Err(e) => -millis(&e.duration())?,
        }),
    })
}

fn selector(vs: &VectorSelector) -> Result<Selector, ExprError> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err(unsupported(
            "\"or\" inside label matchers is not supported (Prometheus 2.42 has no such syntax)",
        ));
    }
    let mut out = Vec::new();
    if let Some(name) = &vs.name {
        if !crate::base::names::is_metric_name(name) {
            return Err(unsupported(format!(
                "metric name {name:?} is not valid in Prometheus 2.42 (quoted UTF-8 names \
                 came with 3.0)"
            )));
        }
        out.push(Matcher::equal(NAME, name));
    }
    for m in &vs.matchers.matchers {
        if !crate::base::names::is_label_name(&m.name) {
            return Err(unsupported(format!(
                "label name {:?} is not valid in Prometheus 2.42 (quoted UTF-8 names came \
                 with 3.0)",
                m.name
            )));
        }
        let op = match &m.op {
            PMatchOp::Equal => MatchOp::Equal(m.value.clone()),
            PMatchOp::NotEqual => MatchOp::NotEqual(m.value.clone()),
            // Recompiled with Go's ASCII classes; the parser already checked the pattern.
            PMatchOp::Re(r) => MatchOp::Re(go_anchored(&m.value).unwrap_or_else(|| r.clone())),
            PMatchOp::NotRe(r) => {
                MatchOp::NotRe(go_anchored(&m.value).unwrap_or_else(|| r.clone()))
            }
        };
        out.push(Matcher {
            name: m.name.clone(),
            op,
        });
    }
    Ok(Selector {
        matchers: out,
        offset: offset(&vs.offset)?,
        at: at(&vs.at)?,
    })
}

/// The labels `absent()` gives its 1-sample result: the `=` matchers of the argument's
/// selector, except `__name__` and any label that also has another matcher.
fn absent_labels(arg: &parser::Expr) -> Labels {
    let vs = match arg {
        parser::Expr::VectorSelector(vs) => vs,
        parser::Expr::MatrixSelector(ms) => &ms.vs,
        // Prometheus unwraps parentheses first: absent((x{job="a"})) is {job="a"}.
        parser::Expr::Paren(p) => return absent_labels(&p.expr),
        _ => return Labels::default(),
    };
    let mut set: Vec<(String, String)> = Vec::new();
    let mut dropped: Vec<&str> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == NAME {
            continue;
        }
        if matches!(m.op, PMatchOp::Equal) && !set.iter().any(|(n, _)| *n == m.name) {
            set.push((m.name.clone(), m.value.clone()));
        } else {
            dropped.push(&m.name);
        }
    }
    set.retain(|(n, _)| !dropped.contains(&n.as_str()));
    Labels::new(set)
}

fn string_arg(e: &parser::Expr, func: &str) -> Result<String, ExprError> {
    match e {
        parser::Expr::StringLiteral(s) => Ok(s.val.clone()),
        parser::Expr::Paren(p) => string_arg(&p.expr, func),
        _ => Err(unsupported(format!(
            "{func}() needs string literals for its label arguments"
        ))),
    }
}

fn call(c: &parser::Call) -> Result<Node, ExprError> {
    use super::gomath as gm;
    let name = c.func.name;
    let args = &c.args.args;
    let math = |g: fn(f64) -> f64| Func::Math(g);
    let func = match name {
        "time" => Func::Time,
        "pi" => Func::Pi,
        "vector" => Func::Vector,
        "scalar" => Func::Scalar,
        "absent" | "absent_over_time" => {
            let labels = args.first().map(|a| absent_labels(a)).unwrap_or_default();
            if name == "absent" {
                Func::Absent(labels)
            } else {
                Func::AbsentOverTime(labels)
            }
        }
        "abs" => math(f64::abs),
        "ceil" => math(f64::ceil),
        "floor" => math(f64::floor),
        "exp" => math(gm::exp),
        "sqrt" => math(f64::sqrt),
        "ln" => math(gm::log),
        "log2" => math(gm::log2),
        "log10" => math(gm::log10),
        "sin" => math(gm::sin),
        "cos" => math(gm::cos),
        "tan" => math(gm::tan),
        "asin" => math(gm::asin),
        "acos" => math(gm::acos),
        "atan" => math(gm::atan),
        "sinh" => math(gm::sinh),
        "cosh" => math(gm::cosh),
        "tanh" => math(gm::tanh),
        "asinh" => math(gm::asinh),
        "acosh" => math(gm::acosh),
        "atanh" => math(gm::atanh),
        "deg" => math(|v| v * 180.0 / std::f64::consts::PI),
        "rad" => math(|v| v * std::f64::consts::PI / 180.0),
        "sgn" => math(|v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        }),
        "round" => Func::Round,
        "clamp" => Func::Clamp,
        "clamp_min" => Func::ClampMin,
        "clamp_max" => Func::ClampMax,
        "day_of_month" => Func::Date(|c| c.day as f64),
        "day_of_week" => Func::Date(|c| c.weekday as f64),
        "day_of_year" => Func::Date(|c| c.yearday as f64),
        "days_in_month" => Func::Date(|c| c.days_in_month as f64),
        "hour" => Func::Date(|c| c.hour as f64),
        "minute" => Func::Date(|c| c.minute as f64),
        "month" => Func::Date(|c| c.month as f64),
        "year" => Func::Date(|c| c.year as f64),
        "timestamp" => Func::Timestamp,
        "sort" => Func::Sort,
        "sort_desc" => Func::SortDesc,
        "histogram_quantile" => Func::HistogramQuantile,
        "label_replace" => {
            if args.len() != 5 {
                return Err(ExprError::Parse(format!(
                    "expected 5 arguments for label_replace(), got {}",
                    args.len()
                )));
            }
            let dst = string_arg(&args[1], name)?;
            let replacement = string_arg(&args[2], name)?;
            let src = string_arg(&args[3], name)?;
            let re = string_arg(&args[4], name)?;
            let regex = Regex::new(&format!("^(?:{})$", goregex::to_rust(&re))).map_err(|_| {
                ExprError::Invalid(format!(
                    "invalid regular expression in label_replace(): {re}"
                ))
            })?;
            if !crate::base::names::is_label_name(&dst) {
                return Err(ExprError::Invalid(format!(
                    "invalid destination label name in label_replace(): {dst}"
                )));
            }
            return Ok(Node::Call {
                func: Func::LabelReplace {
                    dst,
                    replacement,
                    src,
                    regex,
                },
                args: vec![convert(&args[0])?],
            });
        }
        "label_join" => {
            if args.len() < 3 {
                return Err(ExprError::Parse(format!(
                    "expected at least 3 argument(s) in call to \"label_join\", got {}",
                    args.len()
                )));
            }
            let dst = string_arg(&args[1], name)?;
            let sep = string_arg(&args[2], name)?;
            let srcs = args[3..]
                .iter()
                .map(|a| string_arg(a, name))
                .collect::<Result<Vec<_>, _>>()?;
            for s in &srcs {
                if !crate::base::names::is_label_name(s) {
                    return Err(ExprError::Invalid(format!(
                        "invalid source label name in label_join(): {s}"
                    )));
                }
            }
            if !crate::base::names::is_label_name(&dst) {
                return Err(ExprError::Invalid(format!(
                    "invalid destination label name in label_join(): {dst}"
                )));
            }
            return Ok(Node::Call {
                func: Func::LabelJoin { dst, sep, srcs },
                args: vec![convert(&args[0])?],
            });
        }
        "rate" => Func::Range(RangeFn::Rate),
        "irate" => Func::Range(RangeFn::Irate),
        "increase" => Func::Range(RangeFn::Increase),
        "delta" => Func::Range(RangeFn::Delta),
        "idelta" => Func::Range(RangeFn::Idelta),
        "deriv" => Func::Range(RangeFn::Deriv),
        "predict_linear" => Func::Range(RangeFn::PredictLinear),
        DES => Func::Range(RangeFn::HoltWinters),
        "resets" => Func::Range(RangeFn::Resets),
        "changes" => Func::Range(RangeFn::Changes),
        "avg_over_time" => Func::Range(RangeFn::Avg),
        "min_over_time" => Func::Range(RangeFn::Min),
        "max_over_time" => Func::Range(RangeFn::Max),
        "sum_over_time" => Func::Range(RangeFn::Sum),
        "count_over_time" => Func::Range(RangeFn::Count),
        "last_over_time" => Func::Range(RangeFn::Last),
        "present_over_time" => Func::Range(RangeFn::Present),
        "stddev_over_time" => Func::Range(RangeFn::Stddev),
        "stdvar_over_time" => Func::Range(RangeFn::Stdvar),
        "quantile_over_time" => Func::Range(RangeFn::Quantile),
        other if other.starts_with("histogram_") => {
            return Err(unsupported(format!(
                "function \"{other}\" works on native histograms, which blackwatch does not \
                 store"
            )))
        }
        other => {
            return Err(unsupported(format!(
                "function \"{other}\" is not in Prometheus 2.42"
            )))
        }
    };
    let args = args
        .iter()
        .map(|a| convert(a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Node::Call { func, args })
}

/// A selector's regex as Prometheus (Go) compiles it: anchored, with Go's ASCII classes.
fn go_anchored(pattern: &str) -> Option<Regex> {
    Regex::new(&format!("^(?:{})$", goregex::to_rust(pattern))).ok()
}
