//! Alertmanager's template building blocks (`template/template.go`): the `KV` label map with
//! `SortedPairs`/`Names`/`Values`/`Remove`, `Pairs`/`Pair`, and the function map. Not wired to
//! notification data yet; the notifier builds its `Data`/`Alert` objects on top of these.
//!
//! Alertmanager 0.25 (Debian) defines `toUpper toLower title trimSpace join match safeHtml
//! reReplaceAll stringSlice`; later releases add `safeUrl urlUnescape date tz since
//! humanizeDuration toJson`, which are provided too.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::funcs::{arg_str, type_err, want, FuncError, FuncMap};
use super::prom::{humanize_duration, regex, to_float, to_lower, to_upper};
use super::time::{GoDuration, GoTime};
use super::value::{Map, Object, Value};
use crate::labels::LabelSet;

/// Alertmanager's `template.KV` (`map[string]string` with methods).
#[derive(Debug, Clone)]
pub struct Kv {
    map: Value,
}

impl Kv {
    pub fn new(labels: &LabelSet) -> Self {
        Kv {
            map: Value::labels(labels),
        }
    }

    pub fn value(labels: &LabelSet) -> Value {
        Value::Object(Arc::new(Kv::new(labels)))
    }

    fn entries(&self) -> &BTreeMap<String, Value> {
        static EMPTY: BTreeMap<String, Value> = BTreeMap::new();
        match &self.map {
            Value::Map(m) => &m.entries,
            _ => &EMPTY,
        }
    }

    /// Pairs sorted by name, `alertname` first.
    pub fn sorted_pairs(&self) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = Vec::with_capacity(self.entries().len());
        if let Some(v) = self.entries().get("alertname") {
            pairs.push(("alertname".to_string(), v.to_go_string()));
        }
        for (k, v) in self.entries() {
            if k != "alertname" {
                pairs.push((k.clone(), v.to_go_string()));
            }
        }
        pairs
    }
}

fn strings(v: impl IntoIterator<Item = String>) -> Value {
    Value::from(v.into_iter().map(Value::from).collect::<Vec<_>>())
}

fn pairs_value(pairs: Vec<(String, String)>) -> Value {
    Value::Object(Arc::new(Pairs {
        list: Value::from(
            pairs
                .iter()
                .map(|(n, v)| {
                    Value::Object(Arc::new(Pair {
                        name: n.clone(),
                        value: v.clone(),
                    }))
                })
                .collect::<Vec<_>>(),
        ),
        pairs,
    }))
}

impl Object for Kv {
    fn type_name(&self) -> String {
        "template.KV".to_string()
    }
    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let r = match name {
            "SortedPairs" => Ok(pairs_value(self.sorted_pairs())),
            "Names" => Ok(strings(self.sorted_pairs().into_iter().map(|p| p.0))),
            "Values" => Ok(strings(self.sorted_pairs().into_iter().map(|p| p.1))),
            "Remove" => match args {
                [keys] => match keys.base() {
                    Value::List(l) => {
                        let drop: Vec<&str> = l.iter().filter_map(Value::as_str).collect();
                        let kept: BTreeMap<String, Value> = self
                            .entries()
                            .iter()
                            .filter(|(k, _)| !drop.contains(&k.as_str()))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        Ok(Value::Object(Arc::new(Kv {
                            map: Value::from(Map {
                                entries: kept,
                                zero: Value::from(""),
                            }),
                        })))
                    }
                    other => Err(format!(
                        "wrong type for value; expected []string; got {}",
                        other.type_name()
                    )),
                },
                _ => Err(format!(
                    "wrong number of args for Remove: want 1 got {}",
                    args.len()
                )),
            },
            _ => return None,
        };
        Some(r)
    }
    fn underlying(&self) -> Option<&Value> {
        Some(&self.map)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Alertmanager's `template.Pairs`.
#[derive(Debug)]
pub struct Pairs {
    pairs: Vec<(String, String)>,
    list: Value,
}

impl Object for Pairs {
    fn type_name(&self) -> String {
        "template.Pairs".to_string()
    }
    fn method(&self, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        match name {
            "Names" => Some(Ok(strings(self.pairs.iter().map(|p| p.0.clone())))),
            "Values" => Some(Ok(strings(self.pairs.iter().map(|p| p.1.clone())))),
            _ => None,
        }
    }
    fn underlying(&self) -> Option<&Value> {
        Some(&self.list)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Alertmanager's `template.Pair`: `.Name`, `.Value`; prints as `{name value}`.
#[derive(Debug)]
pub struct Pair {
    name: String,
    value: String,
}

impl Object for Pair {
    fn type_name(&self) -> String {
        "template.Pair".to_string()
    }
    fn method(&self, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        match name {
            "Name" => Some(Ok(Value::from(self.name.as_str()))),
            "Value" => Some(Ok(Value::from(self.value.as_str()))),
            _ => None,
        }
    }
    fn string(&self) -> Option<String> {
        Some(format!("{{{} {}}}", self.name, self.value))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// `golang.org/x/text/cases.Title`: first letter of each word upper, the rest lower.
pub fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    let mut prev = ' ';
    for c in s.chars() {
        let word_char = c.is_alphanumeric() || c == '_' || (c == '\'' && prev.is_alphanumeric());
        if word_char && !in_word {
            out.extend(c.to_uppercase());
        } else if word_char {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
        in_word = word_char;
        prev = c;
    }
    out
}

fn arg_time(args: &[Value], i: usize) -> Result<GoTime, FuncError> {
    match args.get(i) {
        Some(Value::Object(o)) => o
            .as_any()
            .downcast_ref::<GoTime>()
            .cloned()
            .ok_or_else(|| type_err(i, "time.Time", &args[i])),
        Some(v) => Err(type_err(i, "time.Time", v)),
        None => Err(FuncError::Args("missing argument".into())),
    }
}

fn arg_strings(args: &[Value], i: usize) -> Result<Vec<String>, FuncError> {
    match args.get(i).map(Value::base) {
        Some(Value::List(l)) => l
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| type_err(i, "[]string", &args[i]))
            })
            .collect(),
        Some(v) => Err(type_err(i, "[]string", v)),
        None => Err(FuncError::Args("missing argument".into())),
    }
}

/// Go's `url.QueryUnescape`.
fn query_unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()));
                let Some(h) = hex else {
                    let bad: String = s[i..].chars().take(3).collect();
                    return Err(format!(
                        "invalid URL escape {}",
                        crate::base::go::quote(&bad)
                    ));
                };
                out.push(u8::from_str_radix(h, 16).map_err(|e| e.to_string())?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn to_json(v: &Value) -> serde_json::Value {
    match v.base() {
        Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::String(s) => serde_json::Value::String(s.to_string()),
        Value::List(l) => serde_json::Value::Array(l.iter().map(to_json).collect()),
        Value::Map(m) => serde_json::Value::Object(
            m.entries
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect(),
        ),
        other @ Value::Object(o) => match o.string() {
            Some(s) => serde_json::Value::String(s),
            None => serde_json::Value::String(other.to_go_string()),
        },
    }
}

/// Alertmanager's function map. `now` is the notification time (`since` measures from it), so
/// that rendering stays a pure function of its inputs.
pub fn funcs(now: GoTime) -> FuncMap {
    let mut m = FuncMap::new();
    m.insert("toUpper", |a| {
        want("toUpper", a, 1)?;
        Ok(Value::from(to_upper(arg_str(a, 0)?)))
    });
    m.insert("toLower", |a| {
        want("toLower", a, 1)?;
        Ok(Value::from(to_lower(arg_str(a, 0)?)))
    });
    m.insert("title", |a| {
        want("title", a, 1)?;
        Ok(Value::from(title(arg_str(a, 0)?)))
    });
    m.insert("trimSpace", |a| {
        want("trimSpace", a, 1)?;
        Ok(Value::from(arg_str(a, 0)?.trim()))
    });
    m.insert("join", |a| {
        want("join", a, 2)?;
        let sep = arg_str(a, 0)?;
        Ok(Value::from(arg_strings(a, 1)?.join(sep)))
    });
    m.insert("match", |a| {
        want("match", a, 2)?;
        let re = regex(arg_str(a, 0)?).map_err(FuncError::Call)?;
        Ok(Value::Bool(re.is_match(arg_str(a, 1)?)))
    });
    m.insert("safeHtml", |a| {
        want("safeHtml", a, 1)?;
        Ok(Value::from(arg_str(a, 0)?))
    });
    m.insert("safeUrl", |a| {
        want("safeUrl", a, 1)?;
        Ok(Value::from(arg_str(a, 0)?))
    });
    m.insert("urlUnescape", |a| {
        want("urlUnescape", a, 1)?;
        query_unescape(arg_str(a, 0)?)
            .map(Value::from)
            .map_err(FuncError::Call)
    });
    m.insert("reReplaceAll", |a| {
        want("reReplaceAll", a, 3)?;
        let re = regex(arg_str(a, 0)?).map_err(FuncError::Call)?;
        Ok(Value::from(
            re.replace_all(arg_str(a, 2)?, arg_str(a, 1)?).into_owned(),
        ))
    });
    m.insert("stringSlice", |a| {
        for i in 0..a.len() {
            arg_str(a, i)?;
        }
        Ok(Value::from(a.to_vec()))
    });
    m.insert("date", |a| {
        want("date", a, 2)?;
        let layout = arg_str(a, 0)?;
        Ok(Value::from(arg_time(a, 1)?.format(layout)))
    });
    m.insert("tz", |a| {
        want("tz", a, 2)?;
        let name = arg_str(a, 0)?;
        let t = arg_time(a, 1)?;
        t.in_zone(name)
            .map(|t| Value::Object(Arc::new(t)))
            .map_err(FuncError::Call)
    });
    let since_now = now.clone();
    m.insert("since", move |a| {
        want("since", a, 1)?;
        let t = arg_time(a, 0)?;
        let d = since_now.unix_nanos() - t.unix_nanos();
        Ok(Value::Object(Arc::new(GoDuration {
            nanos: d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
            pointer: false,
        })))
    });
    m.insert("humanizeDuration", |a| {
        want("humanizeDuration", a, 1)?;
        let secs = match &a[0] {
            Value::Object(o) => match o.as_any().downcast_ref::<GoDuration>() {
                Some(d) => d.nanos as f64 / 1e9,
                None => to_float(&a[0])?,
            },
            v => to_float(v)?,
        };
        Ok(Value::from(humanize_duration(secs)))
    });
    m.insert("toJson", |a| {
        want("toJson", a, 1)?;
        serde_json::to_string(&to_json(&a[0]))
            .map(Value::from)
            .map_err(|e| FuncError::Call(e.to_string()))
    });
    m
}
