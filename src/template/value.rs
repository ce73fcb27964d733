//! The dynamic value model templates execute over: Go's `reflect.Value` reduced to what
//! templates can observe (kinds, map element zero values for `missingkey=zero`, methods with
//! arguments on named types), plus Go's `%v` printing of those values.

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
    /// This object as `Any`, so functions written for a known type (e.g. `time.Time`) can
    /// downcast it.
    fn as_any(&self) -> &dyn std::any::Any;
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
