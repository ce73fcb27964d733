//! Function maps and Go's builtin template functions (`and or not len index slice print
//! printf println eq ne lt le gt ge html js urlquery`), with Go's argument and comparison
//! error texts. Argument helpers here are shared by the Prometheus and Alertmanager sets.

use std::collections::HashMap;
use std::sync::Arc;

use super::printf;
use super::value::{AnySlice, Value};
use crate::base::gostr;

/// Why a function call failed; the executor adds Go's prefix and position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FuncError {
    /// The function returned an error: printed as `error calling NAME: msg`.
    Call(String),
    /// Wrong number of arguments: printed as is.
    Args(String),
    /// Argument `arg` (0-based) is not of Go type `want`: printed at that argument, worded
    /// as Go words it for a literal (`expected string; found 5`) or a computed value.
    Type {
        arg: usize,
        want: String,
        got: String,
        nil: bool,
    },
}

/// A template function: arguments in, value or error out.
pub type Func = Arc<dyn Fn(&[Value]) -> Result<Value, FuncError> + Send + Sync>;

/// Named functions available to a template (Go's `template.FuncMap`).
#[derive(Clone, Default)]
pub struct FuncMap {
    map: HashMap<String, Func>,
}

impl std::fmt::Debug for FuncMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.map.keys().collect();
        names.sort();
        f.debug_struct("FuncMap").field("names", &names).finish()
    }
}

impl FuncMap {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn insert(
        &mut self,
        name: &str,
        f: impl Fn(&[Value]) -> Result<Value, FuncError> + Send + Sync + 'static,
    ) {
        self.map.insert(name.to_string(), Arc::new(f));
    }
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }
    pub fn get(&self, name: &str) -> Option<&Func> {
        self.map.get(name)
    }
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }
}

/// Where an execution looks up functions beyond Go's builtins. A [`FuncMap`] is one (shared,
/// `'static`); a caller can add its own set whose functions borrow from the caller for one
/// execution (Prometheus' `query`, which runs against the data of one rule evaluation).
pub trait Funcs {
    /// Calls function `name`; `None` if this set does not have it.
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, FuncError>>;
    /// Whether this set has function `name`.
    fn contains(&self, name: &str) -> bool;
}

impl Funcs for FuncMap {
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, FuncError>> {
        self.map.get(name).map(|f| f(args))
    }
    fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }
}

const BUILTINS: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt",
    "le", "gt", "ge", "html", "js", "urlquery",
];

pub fn is_builtin(name: &str) -> bool {
    BUILTINS.contains(&name)
}

/// Checks the argument count as Go's reflection-based call does.
pub fn want(name: &str, args: &[Value], n: usize) -> Result<(), FuncError> {
    if args.len() != n {
        return Err(FuncError::Args(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )));
    }
    Ok(())
}

pub fn want_at_least(name: &str, args: &[Value], n: usize) -> Result<(), FuncError> {
    if args.len() < n {
        return Err(FuncError::Args(format!(
            "wrong number of args for {name}: want at least {n} got {}",
            args.len()
        )));
    }
    Ok(())
}

/// A `string` parameter: Go rejects other types before the call.
pub fn arg_str(args: &[Value], i: usize) -> Result<&str, FuncError> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s),
        Some(Value::Object(o)) if o.string().is_some() && o.underlying().is_none() => {
            Err(type_err(i, "string", &args[i]))
        }
        Some(v) => Err(type_err(i, "string", v)),
        None => Err(FuncError::Args("missing argument".into())),
    }
}

pub fn type_err(i: usize, want: &str, got: &Value) -> FuncError {
    FuncError::Type {
        arg: i,
        want: want.to_string(),
        got: got.type_name(),
        nil: matches!(got, Value::Nil),
    }
}

fn call_err(msg: impl Into<String>) -> FuncError {
    FuncError::Call(msg.into())
}

/// Calls a builtin by name.
pub fn call_builtin(name: &str, args: &[Value]) -> Result<Value, FuncError> {
    match name {
        "and" => {
            want_at_least(name, args, 1)?;
            Ok(args
                .iter()
                .find(|a| !a.truth())
                .unwrap_or(&args[args.len() - 1])
                .clone())
        }
        "or" => {
            want_at_least(name, args, 1)?;
            Ok(args
                .iter()
                .find(|a| a.truth())
                .unwrap_or(&args[args.len() - 1])
                .clone())
        }
        "not" => {
            want(name, args, 1)?;
            Ok(Value::Bool(!args[0].truth()))
        }
        "len" => {
            want(name, args, 1)?;
            len(&args[0]).map(Value::Int)
        }
        "index" => {
            want_at_least(name, args, 1)?;
            index(&args[0], &args[1..])
        }
        "slice" => {
            want_at_least(name, args, 1)?;
            slice(&args[0], &args[1..])
        }
        "print" => Ok(Value::from(printf::sprint(args))),
        "println" => Ok(Value::from(printf::sprintln(args))),
        "printf" => {
            want_at_least(name, args, 1)?;
            let f = arg_str(args, 0)?;
            Ok(Value::from(printf::sprintf(f, &args[1..])))
        }
        "eq" => {
            want_at_least(name, args, 1)?;
            eq(&args[0], &args[1..]).map(Value::Bool)
        }
        "ne" => {
            want(name, args, 2)?;
            eq(&args[0], &args[1..]).map(|b| Value::Bool(!b))
        }
        "lt" | "le" | "gt" | "ge" => {
            want(name, args, 2)?;
            let (a, b) = (&args[0], &args[1]);
            let r = match name {
                "lt" => less(a, b)?,
                "le" => less(a, b)? || eq(a, std::slice::from_ref(b))?,
                "gt" => !(less(a, b)? || eq(a, std::slice::from_ref(b))?),
                _ => !less(a, b)?,
            };
            Ok(Value::Bool(r))
        }
        "html" => Ok(Value::from(html_escape(&eval_args(args)))),
        "js" => Ok(Value::from(js_escape(&eval_args(args)))),
        "urlquery" => Ok(Value::from(query_escape(&eval_args(args)))),
        _ => Err(FuncError::Args(format!(
            "{} is not a defined function",
            crate::base::go::quote(name)
        ))),
    }
}

/// Go's `evalArgs`: a lone string as is, otherwise `fmt.Sprint(args...)`.
fn eval_args(args: &[Value]) -> String {
    if let [Value::String(s)] = args {
        return s.to_string();
    }
    printf::sprint(args)
}

fn len(v: &Value) -> Result<i64, FuncError> {
    match v.base() {
        // Go's len of a string counts its bytes (raw ones included, see `base::gostr`).
        Value::String(s) => Ok(gostr::to_bytes(s).len() as i64),
        Value::List(l) => Ok(l.len() as i64),
        Value::Map(m) => Ok(m.entries.len() as i64),
        Value::Nil => Err(call_err("len of nil pointer")),
        other => Err(call_err(format!("len of type {}", other.type_name()))),
    }
}

fn int_index(i: &Value, len: usize) -> Result<usize, FuncError> {
    match i {
        Value::Int(x) => {
            if *x < 0 || *x as usize > len {
                Err(call_err(format!("index out of range: {x}")))
            } else {
                Ok(*x as usize)
            }
        }
        Value::Nil => Err(call_err("cannot index slice/array with nil")),
        other => Err(call_err(format!(
            "cannot index slice/array with type {}",
            other.type_name()
        ))),
    }
}

fn index(item: &Value, indexes: &[Value]) -> Result<Value, FuncError> {
    if matches!(item, Value::Nil) {
        return Err(call_err("index of untyped nil"));
    }
    let mut cur = item.clone();
    for ix in indexes {
        let next = match cur.base() {
            Value::List(l) => {
                let i = int_index(ix, l.len())?;
                match l.get(i) {
                    Some(v) => v.clone(),
                    None => return Err(call_err(format!("index out of range: {i}"))),
                }
            }
            Value::String(s) => {
                let bytes = gostr::to_bytes(s);
                let i = int_index(ix, bytes.len())?;
                match bytes.get(i) {
                    Some(b) => Value::Int(i64::from(*b)),
                    None => return Err(call_err(format!("index out of range: {i}"))),
                }
            }
            Value::Map(m) => match ix {
                Value::String(k) => m
                    .entries
                    .get(&**k)
                    .cloned()
                    .unwrap_or_else(|| m.zero.clone()),
                Value::Nil => return Err(call_err("value is nil; should be of type string")),
                other => {
                    return Err(call_err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    )))
                }
            },
            Value::Nil => return Err(call_err("index of nil pointer")),
            other => {
                return Err(call_err(format!(
                    "can't index item of type {}",
                    other.type_name()
                )))
            }
        };
        cur = next;
    }
    Ok(cur)
}

fn slice(item: &Value, idx: &[Value]) -> Result<Value, FuncError> {
    if matches!(item, Value::Nil) {
        return Err(call_err("slice of untyped nil"));
    }
    if idx.len() > 3 {
        return Err(call_err(format!("too many slice indexes: {}", idx.len())));
    }
    let (len, is_str) = match item.base() {
        Value::String(s) => {
            if idx.len() == 3 {
                return Err(call_err("cannot 3-index slice a string"));
            }
            (gostr::to_bytes(s).len(), true)
        }
        Value::List(l) => (l.len(), false),
        other => {
            return Err(call_err(format!(
                "can't slice item of type {}",
                other.type_name()
            )))
        }
    };
    let mut ix = [0usize, len, len];
    for (i, v) in idx.iter().enumerate() {
        ix[i] = int_index(v, len)?;
    }
    if ix[0] > ix[1] {
        return Err(call_err(format!(
            "invalid slice index: {} > {}",
            ix[0], ix[1]
        )));
    }
    if is_str {
        let Value::String(s) = item.base() else {
            return Ok(Value::Nil);
        };
        // Go slices bytes, possibly inside a character: the pieces stay raw bytes.
        let bytes = gostr::to_bytes(s);
        return Ok(Value::from(
            gostr::from_bytes(&bytes[ix[0]..ix[1]]).into_owned(),
        ));
    }
    let Value::List(l) = item.base() else {
        return Ok(Value::Nil);
    };
    let items = l[ix[0]..ix[1]].to_vec();
    // Slicing keeps the slice's type.
    Ok(if AnySlice::items(item).is_some() {
        AnySlice::value(items)
    } else {
        Value::from(items)
    })
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Float,
    String,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::String(_) => Kind::String,
        _ => Kind::Invalid,
    }
}

/// Go 1.19 `eq`: true if `a` equals any of `others`.
fn eq(a: &Value, others: &[Value]) -> Result<bool, FuncError> {
    if others.is_empty() {
        return Err(call_err("missing argument for comparison"));
    }
    let k1 = kind(a);
    for b in others {
        let k2 = kind(b);
        let truth = if k1 != k2 {
            if !matches!(a, Value::Nil) && !matches!(b, Value::Nil) {
                return Err(call_err("incompatible types for comparison"));
            }
            false
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Int(x), Value::Int(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::String(x), Value::String(y)) => x == y,
                (Value::Nil, _) | (_, Value::Nil) => {
                    matches!(a, Value::Nil) && matches!(b, Value::Nil)
                }
                _ if a.type_name() == b.type_name() => {
                    return Err(call_err(format!(
                        "non-comparable type {b}: {}",
                        b.type_name()
                    )))
                }
                _ => {
                    return Err(call_err(format!(
                        "non-comparable types {a}: {}, {}: {b}",
                        a.type_name(),
                        b.type_name(),
                    )))
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn less(a: &Value, b: &Value) -> Result<bool, FuncError> {
    let (k1, k2) = (kind(a), kind(b));
    if k1 == Kind::Invalid || k2 == Kind::Invalid {
        return Err(call_err("invalid type for comparison"));
    }
    if k1 != k2 {
        return Err(call_err("incompatible types for comparison"));
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x < y),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::String(x), Value::String(y)) => Ok(x < y),
        _ => Err(call_err("invalid type for comparison")),
    }
}

/// Go's `template.HTMLEscapeString`.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
pub fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            // Go writes an invalid byte through (its RuneError is printable).
            c if gostr::raw_byte(c).is_some() => out.push(c),
            c if !crate::base::go::is_print(c) => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in gostr::to_bytes(s).iter() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
