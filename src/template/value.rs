//! The dynamic value model templates execute over: Go's `reflect.Value` reduced to what
//! templates can observe (kinds, map element zero values for `missingkey=zero`, methods with
//! arguments on named types), plus Go's `%v` printing of those values.
//!
//! Slices and maps: [`Value::List`] is a slice whose Go type follows from its elements
//! (`[]string` when all are strings), [`Map`] a `map[string]T` with `T` from its zero value;
//! [`AnySlice`] is a `[]interface {}` whatever it holds (what Alertmanager's `list` and
//! `append` return), so `join` refuses it and `append` takes it, as in Go.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::printf;

/// A named Go type with methods and, optionally, an underlying list or map (Go's
/// `type KV map[string]string` with `SortedPairs()`, `type Alerts []Alert` with `Firing()`).
/// Struct-like types expose their fields through [`Object::method`] with no arguments.
pub trait Object: Send + Sync + fmt::Debug {
    /// Go type name used in error messages, e.g. `template.KV` or `*time.Time`.
    fn type_name(&self) -> String;
    /// A field or method by name. `None` when there is no such field or method (then the
    /// underlying value, if any, is consulted). `Some(Err(msg))` is a failed call.
    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>>;
    /// The underlying map or list, for `range`, `len`, `index`, key access and printing.
    fn underlying(&self) -> Option<&Value> {
        None
    }
    /// Go's `String()` (fmt.Stringer); used by `%v`/`%s` and printing when present. A struct
    /// without `String()` prints in Go as `{field1 field2 …}`: return that here to match.
    fn string(&self) -> Option<String> {
        None
    }
    /// Truthiness when there is no underlying value (Go: non-nil pointers and structs are true).
    fn truth(&self) -> bool {
        true
    }
    /// What Go's `encoding/json` marshals for this type when that is not its underlying
    /// map or list: a struct's tagged fields, or a `MarshalJSON` result. `None` without an
    /// underlying value marshals `String()` as a JSON string.
    fn json(&self) -> Option<JsonRepr> {
        None
    }
    /// This object as `Any`, so functions written for a known type (e.g. `time.Time`) can
    /// downcast it.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// How an [`Object`] marshals to JSON (see [`Object::json`]).
#[derive(Clone, Debug)]
pub enum JsonRepr {
    /// Marshalled as this value (`time.Time` as its RFC 3339 string).
    Value(Value),
    /// A struct: these JSON names and values, in declaration order.
    Fields(Vec<(&'static str, Value)>),
    /// `MarshalJSON` failed with this message.
    Error(String),
}

/// A Go map with string keys. `zero` is the zero value of its element type, returned for a
/// missing key under `missingkey=zero` and by `index` (`""` for `map[string]string`,
/// [`Value::Nil`] for `map[string]interface{}`).
#[derive(Clone, Debug, PartialEq)]
pub struct Map {
    pub entries: BTreeMap<String, Value>,
    pub zero: Value,
}

impl Map {
    /// A `map[string]string`.
    pub fn strings<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> Self {
        Map {
            entries: pairs
                .into_iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect(),
            zero: Value::from(""),
        }
    }
    /// A `map[string]interface{}`.
    pub fn any(entries: BTreeMap<String, Value>) -> Self {
        Map {
            entries,
            zero: Value::Nil,
        }
    }
    /// Go type name of this map, from its element zero value.
    pub fn type_name(&self) -> String {
        format!("map[string]{}", elem_type(&self.zero))
    }
}

/// Go's `[]interface {}`: a [`Value::List`] whose type does not follow from its elements.
/// `range`, `len`, `index`, `slice`, printing and `toJson` see the list (as
/// [`Object::underlying`]).
#[derive(Debug)]
pub struct AnySlice {
    list: Value,
    /// [`nesting`] of the list, kept so nesting grows in O(1) per level.
    depth: usize,
}

/// How deeply `v` nests slices and maps (0 for a scalar, 1 for a flat list or map). Values a
/// template builds (`list`, `dict`, `append`) are the only deep ones; the functions that
/// build them bound this (printing, `toJson` and dropping recurse on it).
pub fn nesting(v: &Value) -> usize {
    match v {
        Value::List(l) => 1 + l.iter().map(nesting).max().unwrap_or(0),
        Value::Map(m) => 1 + m.entries.values().map(nesting).max().unwrap_or(0),
        Value::Object(o) => match o.as_any().downcast_ref::<AnySlice>() {
            Some(s) => s.depth,
            None => o.underlying().map_or(0, |_| 1),
        },
        _ => 0,
    }
}

impl AnySlice {
    /// A `[]interface {}` holding `items`.
    pub fn value(items: Vec<Value>) -> Value {
        let depth = 1 + items.iter().map(nesting).max().unwrap_or(0);
        Value::Object(Arc::new(AnySlice {
            list: Value::from(items),
            depth,
        }))
    }

    /// The elements of `v` when it is a `[]interface {}`.
    pub fn items(v: &Value) -> Option<&[Value]> {
        match v {
            Value::Object(o) => match o.as_any().downcast_ref::<AnySlice>()?.list {
                Value::List(ref l) => Some(l.as_slice()),
                _ => None,
            },
            _ => None,
        }
    }
}

impl Object for AnySlice {
    fn type_name(&self) -> String {
        "[]interface {}".to_string()
    }
    fn method(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }
    fn underlying(&self) -> Option<&Value> {
        Some(&self.list)
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A template value.
#[derive(Clone, Debug)]
pub enum Value {
    /// Go's nil / invalid value.
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(Arc<str>),
    List(Arc<Vec<Value>>),
    Map(Arc<Map>),
    Object(Arc<dyn Object>),
}

fn elem_type(zero: &Value) -> String {
    match zero {
        Value::Nil => "interface {}".to_string(),
        other => other.type_name(),
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Map(a), Value::Map(b)) => a == b,
            (Value::Object(a), Value::Object(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(Arc::from(s))
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(Arc::from(s))
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Map(Arc::new(m))
    }
}
impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::List(Arc::new(v))
    }
}

impl Value {
    /// A `map[string]string` from a label set.
    pub fn labels(labels: &crate::labels::LabelSet) -> Value {
        Value::from(Map::strings(labels))
    }

    /// Go type name, for error messages and `%!verb(type=value)`.
    pub fn type_name(&self) -> String {
        match self {
            Value::Nil => "<nil>".to_string(),
            Value::Bool(_) => "bool".to_string(),
            Value::Int(_) => "int".to_string(),
            Value::Float(_) => "float64".to_string(),
            Value::String(_) => "string".to_string(),
            Value::List(l) => match l.first() {
                Some(Value::String(_)) if l.iter().all(|v| matches!(v, Value::String(_))) => {
                    "[]string".to_string()
                }
                _ => "[]interface {}".to_string(),
            },
            Value::Map(m) => m.type_name(),
            Value::Object(o) => o.type_name(),
        }
    }

    /// Go's template truthiness: false for zero numbers, empty strings, empty lists/maps, nil.
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.entries.is_empty(),
            Value::Object(o) => match o.underlying() {
                Some(u) => u.truth(),
                None => o.truth(),
            },
        }
    }

    /// The value with named types unwrapped to their underlying list or map.
    pub fn base(&self) -> &Value {
        match self {
            Value::Object(o) => o.underlying().unwrap_or(self),
            other => other,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Appends Go's `fmt.Sprint(v)` (`%v`) of this value.
    pub fn write_go(&self, out: &mut String) {
        printf::format_value(out, self, 'v', &printf::Spec::default());
    }

    /// Go's `fmt.Sprint(v)`.
    pub fn to_go_string(&self) -> String {
        let mut s = String::new();
        self.write_go(&mut s);
        s
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_go_string())
    }
}
