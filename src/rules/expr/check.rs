//! From promql-parser's AST to our own `Node` tree, refusing everything outside the subset
//! with a message that names the construct. Whatever can be decided at load is decided here
//! (label_replace's regex and destination, absent()'s labels), so evaluation only computes.

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_AVG, T_COUNT, T_DIV, T_EQLC, T_GROUP, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS,
    T_LTE, T_LUNLESS, T_MAX, T_MIN, T_MOD, T_MUL, T_NEQ, T_POW, T_STDDEV, T_STDVAR, T_SUB, T_SUM,
};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{self, LabelModifier, VectorMatchCardinality, VectorSelector};
use regex::Regex;

use super::{ExprError, Labels, MatchOp, Matcher, NAME};

/// The functions of the subset (everything else is refused by name).
pub const FUNCTIONS: &[&str] = &[
    "time",
    "vector",
    "scalar",
    "absent",
    "absent_over_time",
    "changes",
    "round",
    "abs",
    "ceil",
    "floor",
    "clamp",
    "clamp_min",
    "clamp_max",
    "label_replace",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "last_over_time",
    "present_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "quantile_over_time",
];

/// A checked expression.
#[derive(Debug, Clone)]
pub enum Node {
    Number(f64),
    String(String),
    /// Instant selector.
    Vector(Vec<Matcher>),
    /// Range selector with its range in ms.
    Matrix(Vec<Matcher>, i64),
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
}

/// Which labels two vector elements are matched on: `on` lists them, otherwise every label
/// but `__name__` and the `ignoring` list.
#[derive(Debug, Clone, Default)]
pub struct Matching {
    pub on: bool,
    pub labels: Vec<String>,
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
}

/// `by (…)` (also no clause: `by ()`) or `without (…)`.
#[derive(Debug, Clone)]
pub enum Grouping {
    By(Vec<String>),
    Without(Vec<String>),
}

#[derive(Debug, Clone)]
pub enum Func {
    Time,
    Vector,
    Scalar,
    /// The labels of the result when the argument is empty.
    Absent(Labels),
    AbsentOverTime(Labels),
    Changes,
    Round,
    Abs,
    Ceil,
    Floor,
    Clamp,
    ClampMin,
    ClampMax,
    LabelReplace {
        dst: String,
        replacement: String,
        src: String,
        regex: Regex,
    },
    AvgOverTime,
    MinOverTime,
    MaxOverTime,
    SumOverTime,
    CountOverTime,
    LastOverTime,
    PresentOverTime,
    StddevOverTime,
    StdvarOverTime,
    QuantileOverTime,
}

impl Node {
    /// Calls `f(metric, range_ms)` for every range selector with a `__name__="…"` matcher.
    pub fn visit_ranges(&self, f: &mut dyn FnMut(&str, i64)) {
        match self {
            Node::Number(_) | Node::String(_) | Node::Vector(_) => {}
            Node::Matrix(matchers, range) => {
                for m in matchers {
                    if let (true, MatchOp::Equal(v)) = (m.name == NAME, &m.op) {
                        f(v, *range);
                    }
                }
            }
            Node::Neg(e) => e.visit_ranges(f),
            Node::Binary { lhs, rhs, .. } => {
                lhs.visit_ranges(f);
                rhs.visit_ranges(f);
            }
            Node::Aggregate { expr, .. } => expr.visit_ranges(f),
            Node::Call { args, .. } => args.iter().for_each(|a| a.visit_ranges(f)),
        }
    }
}

/// Parses and checks an expression of any result type (a template's `query`, whose range
/// vector or string result fails at evaluation as in Prometheus).
pub fn parse_any(text: &str) -> Result<Node, ExprError> {
    let ast = parser::parse(text).map_err(ExprError::Parse)?;
    convert(&ast)
}

/// Parses and checks a rule expression.
pub fn parse(text: &str) -> Result<Node, ExprError> {
    let ast = parser::parse(text).map_err(ExprError::Parse)?;
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
        E::Subquery(_) => return Err(unsupported("subqueries are not supported")),
        E::Extension(_) => return Err(unsupported("extension expressions are not supported")),
        E::VectorSelector(vs) => Node::Vector(selector(vs)?),
        E::MatrixSelector(ms) => {
            let range = i64::try_from(ms.range.as_millis())
                .map_err(|_| ExprError::Invalid("range is too long".to_string()))?;
            Node::Matrix(selector(&ms.vs)?, range)
        }
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
                T_ATAN2 => return Err(unsupported("the atan2 operator is not supported")),
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
                match m.card {
                    VectorMatchCardinality::OneToOne | VectorMatchCardinality::ManyToMany => {}
                    VectorMatchCardinality::ManyToOne(_) | VectorMatchCardinality::OneToMany(_) => {
                        return Err(unsupported("group_left/group_right are not supported"))
                    }
                }
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
                        }
                    }
                    Some(LabelModifier::Exclude(l)) => {
                        matching = Matching {
                            on: false,
                            labels: l.labels.clone(),
                        }
                    }
                }
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
                _ => {
                    return Err(unsupported(format!(
                        "aggregation \"{}\" is not supported by blackwatch",
                        a.op
                    )))
                }
            };
            if a.param.is_some() {
                return Err(unsupported(format!(
                    "aggregation \"{}\" takes no parameter",
                    a.op
                )));
            }
            let grouping = match &a.modifier {
                None => Grouping::By(Vec::new()),
                Some(LabelModifier::Include(l)) => Grouping::By(l.labels.clone()),
                Some(LabelModifier::Exclude(l)) => Grouping::Without(l.labels.clone()),
            };
            Node::Aggregate {
                op,
                expr: Box::new(convert(&a.expr)?),
                grouping,
            }
        }
        E::Call(c) => call(c)?,
    })
}

fn selector(vs: &VectorSelector) -> Result<Vec<Matcher>, ExprError> {
    if vs.offset.is_some() {
        return Err(unsupported("the offset modifier is not supported"));
    }
    if vs.at.is_some() {
        return Err(unsupported("the @ modifier is not supported"));
    }
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
            PMatchOp::Re(r) => MatchOp::Re(r.clone()),
            PMatchOp::NotRe(r) => MatchOp::NotRe(r.clone()),
        };
        out.push(Matcher {
            name: m.name.clone(),
            op,
        });
    }
    Ok(out)
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

fn string_arg(e: &parser::Expr) -> Result<String, ExprError> {
    match e {
        parser::Expr::StringLiteral(s) => Ok(s.val.clone()),
        parser::Expr::Paren(p) => string_arg(&p.expr),
        _ => Err(unsupported(
            "label_replace() needs string literals for its label arguments",
        )),
    }
}

fn call(c: &parser::Call) -> Result<Node, ExprError> {
    let name = c.func.name;
    let args = &c.args.args;
    let func = match name {
        "time" => Func::Time,
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
        "changes" => Func::Changes,
        "round" => Func::Round,
        "abs" => Func::Abs,
        "ceil" => Func::Ceil,
        "floor" => Func::Floor,
        "clamp" => Func::Clamp,
        "clamp_min" => Func::ClampMin,
        "clamp_max" => Func::ClampMax,
        "label_replace" => {
            if args.len() != 5 {
                return Err(ExprError::Parse(format!(
                    "expected 5 arguments for label_replace(), got {}",
                    args.len()
                )));
            }
            let dst = string_arg(&args[1])?;
            let replacement = string_arg(&args[2])?;
            let src = string_arg(&args[3])?;
            let re = string_arg(&args[4])?;
            let regex = Regex::new(&format!("^(?:{re})$")).map_err(|_| {
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
        "avg_over_time" => Func::AvgOverTime,
        "min_over_time" => Func::MinOverTime,
        "max_over_time" => Func::MaxOverTime,
        "sum_over_time" => Func::SumOverTime,
        "count_over_time" => Func::CountOverTime,
        "last_over_time" => Func::LastOverTime,
        "present_over_time" => Func::PresentOverTime,
        "stddev_over_time" => Func::StddevOverTime,
        "stdvar_over_time" => Func::StdvarOverTime,
        "quantile_over_time" => Func::QuantileOverTime,
        other => {
            return Err(unsupported(format!(
                "function \"{other}\" is not supported by blackwatch"
            )))
        }
    };
    let args = args
        .iter()
        .map(|a| convert(a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Node::Call { func, args })
}
