//! Prometheus' template functions (`template/template.go` of Prometheus 2.42, plus
//! `toDuration` and `urlQueryEscape` from later releases): the humanize family, string and
//! regexp helpers, links, time conversion, and `query` with its result helpers.
//! `query`, `externalURL` and `pathPrefix` depend on the caller: the table here has
//! placeholders (so parsing accepts them), and executions overlay the real ones: `query`
//! through [`query`] with the caller's [`QueryFn`] (`rules::RuleData`), the other two from
//! [`external_funcs`]. Running queries is not this module's business: the rule engine, above
//! the template engine, passes that capability in.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use regex::Regex;

use super::funcs::{arg_str, query_escape, type_err, want, FuncError, FuncMap};
use super::printf::sprintf;
use super::time::{GoDuration, GoTime};
use super::value::{Map, Object, Value};
use crate::labels::LabelSet;

fn call_err(msg: impl Into<String>) -> FuncError {
    FuncError::Call(msg.into())
}

/// Go's `strconv.ParseFloat(s, 64)` with its error texts.
pub fn parse_go_float(s: &str) -> Result<f64, String> {
    let syntax = || {
        format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            crate::base::go::quote(s)
        )
    };
    let body = s.trim_start_matches(['+', '-']);
    if s.is_empty() || s.len() - body.len() > 1 {
        return Err(syntax());
    }
    // Go allows `_` between digits (`1_000`).
    let cleaned;
    let s = if s.contains('_') {
        let b = s.as_bytes();
        let ok = b.iter().enumerate().all(|(i, c)| {
            *c != b'_'
                || (i > 0
                    && b[i - 1].is_ascii_digit()
                    && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        });
        if !ok {
            return Err(syntax());
        }
        cleaned = s.replace('_', "");
        cleaned.as_str()
    } else {
        s
    };
    let body = s.trim_start_matches(['+', '-']);
    let lower = body.to_ascii_lowercase();
    if lower == "nan" && s.len() != body.len() {
        return Err(syntax());
    }
    let v: f64 = match parse_hex_float(s) {
        Some(r) => r.map_err(|_| syntax())?,
        None => s.parse().map_err(|_| syntax())?,
    };
    if v.is_infinite() && !lower.starts_with("inf") {
        return Err(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            crate::base::go::quote(s)
        ));
    }
    Ok(v)
}

/// Go's hexadecimal floating-point syntax (`0x1.8p3`): `None` if `s` is not hex at all.
fn parse_hex_float(s: &str) -> Option<Result<f64, ()>> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let hex = body
        .strip_prefix("0x")
        .or_else(|| body.strip_prefix("0X"))?;
    let parse = || -> Result<f64, ()> {
        let (mant, exp) = hex.split_once(['p', 'P']).ok_or(())?;
        let exp: i32 = exp.parse().map_err(|_| ())?;
        let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
        if int.is_empty() && frac.is_empty() {
            return Err(());
        }
        let mut v = 0f64;
        for c in int.chars() {
            v = v * 16.0 + f64::from(c.to_digit(16).ok_or(())?);
        }
        let mut scale = 1.0 / 16.0;
        for c in frac.chars() {
            v += f64::from(c.to_digit(16).ok_or(())?) * scale;
            scale /= 16.0;
        }
        let v = v * 2f64.powi(exp);
        Ok(if neg { -v } else { v })
    };
    Some(parse())
}

/// Prometheus' `convertToFloat`: float64, numeric strings and ints.
pub fn to_float(v: &Value) -> Result<f64, FuncError> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::String(s) => parse_go_float(s).map_err(FuncError::Call),
        other => Err(call_err(format!(
            "can't convert {} to float",
            other.type_name()
        ))),
    }
}

fn g4(v: f64) -> String {
    sprintf("%.4g", &[Value::Float(v)])
}

const SMALL: [&str; 8] = ["m", "u", "n", "p", "f", "a", "z", "y"];

pub fn humanize(v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
        return format!("{}{prefix}", g4(v));
    }
    for p in SMALL {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}", g4(v))
}

pub fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

/// Go's `int64(f)` on amd64: out-of-range values and NaN become `math.MinInt64`.
pub fn go_f64_to_i64(v: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if v.is_nan() || !(-LIMIT..LIMIT).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

/// Prometheus' (and Alertmanager's) `humanizeDuration` of seconds.
pub fn humanize_duration(v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    let mut v = v;
    if v.abs() >= 1.0 {
        let mut sign = "";
        if v < 0.0 {
            sign = "-";
            v = -v;
        }
        let duration = go_f64_to_i64(v);
        let seconds = duration % 60;
        let minutes = (duration / 60) % 60;
        let hours = (duration / 60 / 60) % 24;
        let days = duration / 60 / 60 / 24;
        if days != 0 {
            return format!("{sign}{days}d {hours}h {minutes}m {seconds}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {minutes}m {seconds}s");
        }
        if minutes != 0 {
            return format!("{sign}{minutes}m {seconds}s");
        }
        return format!("{sign}{}s", g4(v));
    }
    let mut prefix = "";
    for p in SMALL {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

/// Prometheus' `floatToTime`: millisecond precision, UTC.
fn float_to_time(v: f64) -> Result<Option<GoTime>, FuncError> {
    if v.is_nan() || v.is_infinite() {
        return Ok(None);
    }
    let ts = v * 1e9;
    if ts > i64::MAX as f64 || ts < i64::MIN as f64 {
        return Err(call_err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            Value::Float(v)
        )));
    }
    let ms = (ts as i64) / 1_000_000;
    let secs = ms.div_euclid(1000);
    let nanos = (ms.rem_euclid(1000) * 1_000_000) as u32;
    let mut t = GoTime::utc(secs, nanos);
    t.pointer = true;
    Ok(Some(t))
}

/// Go's `strings.Title`.
pub fn title(s: &str) -> String {
    let mut prev = ' ';
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_separator(prev) {
            push_upper(&mut out, c);
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

fn is_separator(r: char) -> bool {
    if r.is_ascii() {
        return !(r.is_ascii_alphanumeric() || r == '_');
    }
    if r.is_alphabetic() || r.is_numeric() {
        return false;
    }
    r.is_whitespace()
}

fn push_upper(out: &mut String, c: char) {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => out.push(u),
        _ => out.push(c),
    }
}

/// Go's `strings.ToUpper` (single-rune mappings only, as Go's `unicode.ToUpper`).
pub fn to_upper(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_upper(&mut out, c);
    }
    out
}

/// Go's `strings.ToLower`.
pub fn to_lower(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let mut low = c.to_lowercase();
        match (low.next(), low.next()) {
            (Some(l), None) => out.push(l),
            _ => out.push(c),
        }
    }
    out
}

/// Compiled regexps by pattern, shared by every execution (bounded).
pub fn regex(pattern: &str) -> Result<Arc<Regex>, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(r) = crate::base::sync::lock(cache).get(pattern) {
        return Ok(r.clone());
    }
    let re = Regex::new(&go_regex_to_rust(pattern)).map_err(|e| go_regex_error(pattern, &e))?;
    let re = Arc::new(re);
    let mut c = crate::base::sync::lock(cache);
    if c.len() > 1024 {
        c.clear();
    }
    c.insert(pattern.to_string(), re.clone());
    Ok(re)
}

pub use crate::base::goregex::to_rust as go_regex_to_rust;

/// Go's `regexp/syntax` error text for a pattern Rust's regex rejected (the common codes).
fn go_regex_error(pattern: &str, e: &regex::Error) -> String {
    let detail = e.to_string();
    let code = [
        ("unclosed group", "missing closing )"),
        ("unopened group", "unexpected )"),
        ("unclosed character class", "missing closing ]"),
        (
            "repetition operator missing expression",
            "missing argument to repetition operator",
        ),
        (
            "invalid character class range",
            "invalid character class range",
        ),
        ("escape", "invalid escape sequence"),
        ("repetition quantifier", "invalid repeat count"),
        ("flag", "invalid or unsupported Perl syntax"),
        ("look-around", "invalid or unsupported Perl syntax"),
    ]
    .iter()
    .find(|(k, _)| detail.contains(k))
    .map_or("invalid regular expression", |(_, go)| go);
    format!("error parsing regexp: {code}: `{pattern}`")
}

/// Go's `regexp.quote`: backquoted when possible, else `strconv.Quote`.
fn go_regex_quote(s: &str) -> String {
    if super::printf::can_backquote(s) {
        format!("`{s}`")
    } else {
        crate::base::go::quote(s)
    }
}

fn strip_domain(hp: &str) -> String {
    let (host, port) = crate::base::go::split_host_port(hp).unwrap_or((hp, ""));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return hp.to_string();
    }
    let host = host.split('.').next().unwrap_or("");
    if !port.is_empty() {
        if host.contains(':') {
            return format!("[{host}]:{port}");
        }
        return format!("{host}:{port}");
    }
    host.to_string()
}

/// Prometheus' `model.ParseDuration`, in seconds.
pub fn parse_duration(s: &str) -> Result<f64, String> {
    crate::base::units::parse_prom_duration(s)
        .map(|d| d.as_millis() as f64 / 1000.0)
        .map_err(|e| e.to_string())
}

/// A query result sample (`*template.sample`): `.Labels` and `.Value`.
#[derive(Debug, Clone)]
pub struct Sample {
    pub labels: LabelSet,
    pub value: f64,
}

impl Object for Sample {
    fn type_name(&self) -> String {
        "*template.sample".to_string()
    }
    fn method(&self, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        match name {
            "Labels" => Some(Ok(Value::labels(&self.labels))),
            "Value" => Some(Ok(Value::Float(self.value))),
            _ => None,
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn arg_sample(args: &[Value], i: usize) -> Result<&Sample, FuncError> {
    match args.get(i) {
        Some(Value::Object(o)) => o
            .as_any()
            .downcast_ref::<Sample>()
            .ok_or_else(|| type_err(i, "*template.sample", &args[i])),
        Some(v) => Err(type_err(i, "*template.sample", v)),
        None => Err(FuncError::Args("missing argument".into())),
    }
}

/// A query result (`template.queryResult`, Go's `[]*sample`): what `query` and `sortByLabel`
/// return; `range`, `len` and `index` see its list of [`Sample`]s.
#[derive(Debug)]
struct QueryResult(Value);

impl Object for QueryResult {
    fn type_name(&self) -> String {
        "template.queryResult".to_string()
    }
    fn method(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }
    fn underlying(&self) -> Option<&Value> {
        Some(&self.0)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn arg_query_result(args: &[Value], i: usize) -> Result<Vec<Sample>, FuncError> {
    let bad = |v: &Value| type_err(i, "template.queryResult", v);
    let arg = match args.get(i) {
        Some(Value::Object(o)) => match o.as_any().downcast_ref::<QueryResult>() {
            Some(r) => Some(&r.0),
            None => args.get(i),
        },
        other => other,
    };
    match arg {
        Some(Value::List(l)) => l
            .iter()
            .map(|v| match v {
                Value::Object(o) => o
                    .as_any()
                    .downcast_ref::<Sample>()
                    .cloned()
                    .ok_or_else(|| bad(v)),
                _ => Err(bad(&args[i])),
            })
            .collect(),
        Some(Value::Nil) => Ok(Vec::new()),
        Some(v) => Err(bad(v)),
        None => Err(FuncError::Args("missing argument".into())),
    }
}

/// Prometheus' `QueryFunc` as a template sees it: runs a PromQL expression (at the time of the
/// rule evaluation, which the caller knows) and returns the result as samples, or the error
/// text the template prints after `error calling query: `.
pub type QueryFn<'a> = dyn Fn(&str) -> Result<Vec<Sample>, String> + 'a;

/// The template function `query` over `run` (Prometheus' `query` in `template.go`): one
/// string argument, the result a `queryResult` for `first`, `range`, `sortByLabel` and the like.
pub fn query(args: &[Value], run: &QueryFn<'_>) -> Result<Value, FuncError> {
    want("query", args, 1)?;
    let q = arg_str(args, 0)?;
    run(q).map(samples).map_err(call_err)
}

fn samples(v: Vec<Sample>) -> Value {
    let list = Value::from(
        v.into_iter()
            .map(|s| Value::Object(Arc::new(s)))
            .collect::<Vec<_>>(),
    );
    Value::Object(Arc::new(QueryResult(list)))
}

fn str1(
    name: &'static str,
    f: fn(&str) -> String,
) -> impl Fn(&[Value]) -> Result<Value, FuncError> {
    move |a| {
        want(name, a, 1)?;
        Ok(Value::from(f(arg_str(a, 0)?)))
    }
}

fn num1(
    name: &'static str,
    f: fn(f64) -> Result<Value, FuncError>,
) -> impl Fn(&[Value]) -> Result<Value, FuncError> {
    move |a| {
        want(name, a, 1)?;
        f(to_float(&a[0])?)
    }
}

/// Prometheus' function map, without `externalURL`/`pathPrefix` (see [`external_funcs`]).
pub fn funcs() -> &'static FuncMap {
    static FUNCS: OnceLock<FuncMap> = OnceLock::new();
    FUNCS.get_or_init(build)
}

/// Prometheus' template function table, one entry per upstream function (a flat list, as
/// in `template.go`, so it can be checked against upstream by eye).
fn build() -> FuncMap {
    let mut m = FuncMap::new();
    // A placeholder for executions without a query engine; rule evaluations overlay it.
    m.insert("query", |a| {
        query(a, &|_| {
            Err("no query engine here: query runs only in rule evaluations".to_string())
        })
    });
    m.insert("first", |a| {
        want("first", a, 1)?;
        let v = arg_query_result(a, 0)?;
        match v.into_iter().next() {
            Some(s) => Ok(Value::Object(Arc::new(s))),
            None => Err(call_err("first() called on vector with no elements")),
        }
    });
    m.insert("label", |a| {
        want("label", a, 2)?;
        let l = arg_str(a, 0)?;
        let s = arg_sample(a, 1)?;
        Ok(Value::from(s.labels.get(l).map_or("", String::as_str)))
    });
    m.insert("value", |a| {
        want("value", a, 1)?;
        Ok(Value::Float(arg_sample(a, 0)?.value))
    });
    m.insert("strvalue", |a| {
        want("strvalue", a, 1)?;
        let s = arg_sample(a, 0)?;
        Ok(Value::from(
            s.labels.get("__value__").map_or("", String::as_str),
        ))
    });
    m.insert("args", |a| {
        let entries: BTreeMap<String, Value> = a
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("arg{i}"), v.clone()))
            .collect();
        Ok(Value::from(Map::any(entries)))
    });
    m.insert("reReplaceAll", |a| {
        want("reReplaceAll", a, 3)?;
        let (pat, repl, text) = (arg_str(a, 0)?, arg_str(a, 1)?, arg_str(a, 2)?);
        let re = regex(pat)
            .map_err(|e| call_err(format!("regexp: Compile({}): {e}", go_regex_quote(pat))))?;
        Ok(Value::from(re.replace_all(text, repl).into_owned()))
    });
    m.insert("safeHtml", |a| {
        want("safeHtml", a, 1)?;
        Ok(Value::from(arg_str(a, 0)?))
    });
    m.insert("match", |a| {
        want("match", a, 2)?;
        let (pat, s) = (arg_str(a, 0)?, arg_str(a, 1)?);
        let re = regex(pat).map_err(call_err)?;
        Ok(Value::Bool(re.is_match(s)))
    });
    m.insert("title", str1("title", title));
    m.insert("toUpper", str1("toUpper", to_upper));
    m.insert("toLower", str1("toLower", to_lower));
    m.insert(
        "graphLink",
        str1("graphLink", |e| {
            format!("/graph?g0.expr={}&g0.tab=0", query_escape(e))
        }),
    );
    m.insert(
        "tableLink",
        str1("tableLink", |e| {
            format!("/graph?g0.expr={}&g0.tab=1", query_escape(e))
        }),
    );
    m.insert("sortByLabel", |a| {
        want("sortByLabel", a, 2)?;
        let l = arg_str(a, 0)?.to_string();
        let mut v = arg_query_result(a, 1)?;
        crate::base::sort::sort_by(&mut v, |x, y| x.labels.get(&l).cmp(&y.labels.get(&l)));
        Ok(samples(v))
    });
    m.insert(
        "stripPort",
        str1("stripPort", |hp| {
            crate::base::go::split_host_port(hp)
                .map_or(hp, |(h, _)| h)
                .to_string()
        }),
    );
    m.insert("stripDomain", str1("stripDomain", strip_domain));
    m.insert(
        "humanize",
        num1("humanize", |v| Ok(Value::from(humanize(v)))),
    );
    m.insert(
        "humanize1024",
        num1("humanize1024", |v| Ok(Value::from(humanize1024(v)))),
    );
    m.insert(
        "humanizeDuration",
        num1("humanizeDuration", |v| {
            Ok(Value::from(humanize_duration(v)))
        }),
    );
    m.insert(
        "humanizePercentage",
        num1("humanizePercentage", |v| {
            Ok(Value::from(sprintf("%.4g%%", &[Value::Float(v * 100.0)])))
        }),
    );
    m.insert(
        "humanizeTimestamp",
        num1("humanizeTimestamp", |v| match float_to_time(v)? {
            None => Ok(Value::from(g4(v))),
            Some(t) => Ok(Value::from(t.to_string())),
        }),
    );
    m.insert(
        "toTime",
        num1("toTime", |v| match float_to_time(v)? {
            None => Err(call_err("value is NaN or Inf")),
            Some(t) => Ok(Value::Object(Arc::new(t))),
        }),
    );
    m.insert(
        "toDuration",
        num1("toDuration", |v| {
            if v.is_nan() || v.is_infinite() {
                return Err(call_err("value is NaN or Inf"));
            }
            let nanos = go_f64_to_i64(v * 1e9);
            Ok(Value::Object(Arc::new(GoDuration {
                nanos,
                pointer: true,
            })))
        }),
    );
    m.insert("parseDuration", |a| {
        want("parseDuration", a, 1)?;
        parse_duration(arg_str(a, 0)?)
            .map(Value::Float)
            .map_err(call_err)
    });
    m.insert("urlQueryEscape", str1("urlQueryEscape", query_escape));
    // Placeholders so that parsing accepts them; executions overlay the real ones.
    m.insert("externalURL", |a| {
        want("externalURL", a, 0)?;
        Ok(Value::from(""))
    });
    m.insert("pathPrefix", |a| {
        want("pathPrefix", a, 0)?;
        Ok(Value::from(""))
    });
    m
}

/// `externalURL` and `pathPrefix` for one external URL (Go's `url.URL.String()` / `.Path`).
pub fn external_funcs(external_url: &str) -> FuncMap {
    let mut m = FuncMap::new();
    let full = external_url.to_string();
    let path = url::Url::parse(external_url)
        .map(|u| u.path().to_string())
        .unwrap_or_default();
    let path = if path == "/" && !external_url.ends_with('/') {
        String::new()
    } else {
        path
    };
    m.insert("externalURL", move |a| {
        want("externalURL", a, 0)?;
        Ok(Value::from(full.as_str()))
    });
    m.insert("pathPrefix", move |a| {
        want("pathPrefix", a, 0)?;
        Ok(Value::from(path.as_str()))
    });
    m
}
