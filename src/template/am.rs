//! Alertmanager's template building blocks (`template/template.go`): the `KV` label map with
//! `SortedPairs`/`Names`/`Values`/`Remove`, `Pairs`/`Pair`, and the function map
//! ([`funcs`]); the notifier builds its `Data`/`Alert` objects on top of these.
//!
//! The function set is Alertmanager 0.34's `DefaultFuncs` (listed in this file's tests), a superset of
//! every earlier release's, so a template written for any release from 0.25 to 0.34 works.
//! Alertmanager 0.25 as Debian ships it (and its `amtool check-config`) knows only `toUpper
//! toLower title join match safeHtml reReplaceAll stringSlice`: it rejects files that use any
//! of `trimSpace safeUrl urlUnescape routeLabels date tz now since humanizeDuration toDate
//! mustToDate toJson base64encode base64decode list append dict` with `function "…" not
//! defined`.
//!
//! Semantics and error texts are upstream's, with two deliberate differences: `now` (and
//! `since`) read the notification time passed to [`funcs`], not the wall clock, so rendering
//! stays a pure function of its inputs (Go's `time.Now()` also carries a monotonic reading
//! that `{{ now }}` prints as `m=+…`; ours does not); and `routeLabels` always renders `""`,
//! which is what 0.34 returns for a name that is not a route label: blackwatch refuses route
//! `labels:`, so there are none.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::funcs::{arg_str, type_err, want, want_at_least, FuncError, FuncMap};
use super::prom::{humanize_duration, regex, to_float, to_lower, to_upper};
use super::time::{parse_in_utc, GoDuration, GoTime};
use super::value::{AnySlice, JsonRepr, Map, Object, Value};
use crate::base::gostr;
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
                    Value::List(l) if AnySlice::items(keys).is_none() => {
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
                    _ => Err(format!(
                        "wrong type for value; expected []string; got {}",
                        keys.type_name()
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
    /// A struct without JSON tags: its Go field names.
    fn json(&self) -> Option<JsonRepr> {
        Some(JsonRepr::Fields(vec![
            ("Name", Value::from(self.name.as_str())),
            ("Value", Value::from(self.value.as_str())),
        ]))
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

/// A `[]string` parameter: a list of strings (a `[]interface {}` is not one in Go).
fn arg_strings(args: &[Value], i: usize) -> Result<Vec<String>, FuncError> {
    if let Some(v) = args.get(i).filter(|v| AnySlice::items(v).is_some()) {
        return Err(type_err(i, "[]string", v));
    }
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

/// Go's `url.QueryUnescape`, on the bytes `s` stands for (see `base::gostr`).
fn query_unescape(s: &str) -> Result<String, String> {
    let b = gostr::to_bytes(s);
    let hex = |c: u8| char::from(c).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let pair = b
                    .get(i + 1)
                    .and_then(|&h| hex(h))
                    .zip(b.get(i + 2).and_then(|&l| hex(l)));
                let Some((h, l)) = pair else {
                    let bad = gostr::from_bytes(&b[i..b.len().min(i + 3)]);
                    return Err(format!(
                        "invalid URL escape {}",
                        crate::base::go::quote(&bad)
                    ));
                };
                out.push((h * 16 + l) as u8);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    // Go returns the bytes, valid UTF-8 or not.
    Ok(gostr::from_bytes(&out).into_owned())
}

/// How deeply `list`, `dict` and `append` may nest values. Go has no such limit; the bound
/// keeps a template that nests in a loop (`{{ $l = list $l }}`) from making values whose
/// printing or dropping would exhaust the stack.
pub const MAX_NESTING: usize = 100;

fn nested(v: Value) -> Result<Value, FuncError> {
    if super::value::nesting(&v) > MAX_NESTING {
        return Err(FuncError::Call(format!(
            "values nest more than {MAX_NESTING} levels deep"
        )));
    }
    Ok(v)
}

/// The time Go's zero `time.Time` stands for (`0001-01-01 00:00:00 UTC`).
fn zero_time() -> Value {
    Value::Object(Arc::new(GoTime::utc(-62_135_596_800, 0)))
}

/// Go's `strings.ToUpper`/`ToLower` map rune by rune and write U+FFFD for a byte that is not
/// UTF-8 (checked against Alertmanager 0.25's `amtool template render`).
fn case_map(s: &str, f: fn(&str) -> String) -> String {
    f(&gostr::to_utf8_lossy(s))
}

/// Alertmanager's function map (0.34's `DefaultFuncs`). `now` is the
/// notification time: `now` returns it (in the local zone, as Go's `time.Now()`) and `since`
/// measures from it, so that rendering stays a pure function of its inputs.
pub fn funcs(now: GoTime) -> FuncMap {
    let mut m = FuncMap::new();
    m.insert("toUpper", |a| {
        want("toUpper", a, 1)?;
        Ok(Value::from(case_map(arg_str(a, 0)?, to_upper)))
    });
    m.insert("toLower", |a| {
        want("toLower", a, 1)?;
        Ok(Value::from(case_map(arg_str(a, 0)?, to_lower)))
    });
    m.insert("title", |a| {
        want("title", a, 1)?;
        // x/text's Title keeps a raw byte and treats it as a word break, as this does.
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
    // Upstream's resolver renders a name that is not a route label as "", and blackwatch
    // has no route labels (route `labels:` is refused at load).
    m.insert("routeLabels", |a| {
        want("routeLabels", a, 1)?;
        arg_str(a, 0)?;
        Ok(Value::from(""))
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
    let local_now = now.in_zone("Local").unwrap_or_else(|_| now.clone());
    m.insert("now", move |a| {
        want("now", a, 0)?;
        Ok(Value::Object(Arc::new(local_now.clone())))
    });
    let since_now = now;
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
    m.insert("toDate", |a| {
        want("toDate", a, 2)?;
        let (layout, s) = (arg_str(a, 0)?, arg_str(a, 1)?);
        Ok(parse_in_utc(layout, s).map_or_else(|_| zero_time(), |t| Value::Object(Arc::new(t))))
    });
    m.insert("mustToDate", |a| {
        want("mustToDate", a, 2)?;
        let (layout, s) = (arg_str(a, 0)?, arg_str(a, 1)?);
        parse_in_utc(layout, s)
            .map(|t| Value::Object(Arc::new(t)))
            .map_err(FuncError::Call)
    });
    m.insert("toJson", |a| {
        want("toJson", a, 1)?;
        super::json::marshal(&a[0])
            .map(Value::from)
            .map_err(FuncError::Call)
    });
    m.insert("base64encode", |a| {
        want("base64encode", a, 1)?;
        let s = arg_str(a, 0)?;
        Ok(Value::from(crate::base::go::base64_url_encode(
            &gostr::to_bytes(s),
        )))
    });
    m.insert("base64decode", |a| {
        want("base64decode", a, 1)?;
        let s = arg_str(a, 0)?;
        crate::base::go::base64_url_decode(&gostr::to_bytes(s))
            .map(|b| Value::from(gostr::from_bytes(&b).into_owned()))
            .map_err(FuncError::Call)
    });
    m.insert("list", |a| nested(AnySlice::value(a.to_vec())));
    m.insert("append", |a| {
        want_at_least("append", a, 1)?;
        // `slice []any`: a nil (literal or missing value) is an empty slice, as in Go.
        let mut items = match &a[0] {
            Value::Nil => Vec::new(),
            v => match AnySlice::items(v) {
                Some(items) => items.to_vec(),
                None => return Err(type_err(0, "[]interface {}", v)),
            },
        };
        items.extend_from_slice(&a[1..]);
        nested(AnySlice::value(items))
    });
    m.insert("dict", |a| {
        if a.len() % 2 != 0 {
            return Err(FuncError::Call(
                "dict requires an even number of arguments".into(),
            ));
        }
        let mut entries = BTreeMap::new();
        for kv in a.chunks(2) {
            let Value::String(k) = &kv[0] else {
                return Err(FuncError::Call("dict keys must be strings".into()));
            };
            entries.insert(k.to_string(), kv[1].clone());
        }
        nested(Value::from(Map::any(entries)))
    });
    m
}

#[cfg(test)]
mod tests {
    //! Expected values marked "upstream" are copied from Alertmanager v0.34.0's
    //! `template/template_test.go` (`TestTemplateExpansion`, `TestTemplateFuncs`,
    //! `TestTemplateNow`); the rest check Go semantics those tests do not reach.

    use super::*;
    use crate::template::{MissingKey, Templates};

    /// 2024-01-01T08:15:30Z, upstream's `time.Date(2024, 1, 1, 8, 15, 30, 0, time.UTC)`.
    const T2024: i64 = 1_704_096_930;

    fn time(secs: i64) -> Value {
        Value::Object(Arc::new(GoTime::utc(secs, 0)))
    }

    /// Upstream's `ExecuteTextString(text, data)`: an anonymous template, `missingkey=zero`,
    /// the notification time `now`.
    fn exec_at(now: i64, text: &str, data: &Value) -> Result<String, String> {
        let f = funcs(GoTime::utc(now, 0));
        let mut t = Templates::new(MissingKey::Zero);
        t.parse("", text, &[&f]).map_err(|e| e.to_string())?;
        t.execute("", data, &[&f]).map_err(|e| e.to_string())
    }

    fn exec(text: &str, data: &Value) -> Result<String, String> {
        exec_at(T2024, text, data)
    }

    fn ok(text: &str) -> String {
        exec(text, &Value::Nil).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn strings(v: &[&str]) -> Value {
        Value::from(v.iter().map(|s| Value::from(*s)).collect::<Vec<_>>())
    }

    #[test]
    fn function_names_are_alertmanager_0_34s_default_funcs() {
        // `git show v0.34.0:template/template.go`, `var DefaultFuncs = FuncMap{…}`, in order.
        let upstream = [
            "toUpper",
            "toLower",
            "title",
            "trimSpace",
            "join",
            "match",
            "safeHtml",
            "safeUrl",
            "urlUnescape",
            "reReplaceAll",
            "stringSlice",
            "routeLabels",
            "date",
            "tz",
            "now",
            "since",
            "humanizeDuration",
            "toDate",
            "mustToDate",
            "toJson",
            "base64encode",
            "base64decode",
            "list",
            "append",
            "dict",
        ];
        let map = funcs(GoTime::utc(0, 0));
        let mut defined: Vec<&str> = map.names().collect();
        defined.sort_unstable();
        let mut want = upstream.to_vec();
        want.sort_unstable();
        assert_eq!(defined, want);
    }

    #[test]
    fn upstream_expansion_cases() {
        // upstream: TestTemplateExpansion / TestTemplateFuncs, the data-free cases.
        for (text, want) in [
            (r#"{{ "abc" | toUpper }}"#, "ABC"),
            (r#"{{ "ABC" | toLower }}"#, "abc"),
            (r#"{{ "abc" | title }}"#, "Abc"),
            (r#"{{ " a b c " | trimSpace }}"#, "a b c"),
            (r#"{{ if match "^a" "abc"}}abc{{ end }}"#, "abc"),
            (r#"{{ if match "abcd" "abc" }}abc{{ end }}"#, ""),
            (r#"{{ match "[a-z]+" "abc" }}"#, "true"),
            (r#"{{ reReplaceAll "ab" "AB" "abcdabcda"}}"#, "ABcdABcda"),
            (
                r#"{{ "search?q=test%20foo" | urlUnescape }}"#,
                "search?q=test foo",
            ),
            (r#"{{ "test" | toJson }}"#, r#""test""#),
            (r#"{{ 42 | toJson }}"#, "42"),
            (r#"{{ true | toJson }}"#, "true"),
            (r#"{{ "hello" | toJson }}"#, r#""hello""#),
            (r#"{{ "test" | base64encode }}"#, "dGVzdA=="),
            (r#"{{ "flush>>" | base64encode }}"#, "Zmx1c2g-Pg=="),
            (r#"{{ "dGVzdA==" | base64decode }}"#, "test"),
            (r#"{{- $test := dict -}}{{ $test }}"#, "map[]"),
            (
                r#"{{- $test := dict "a" 1 "b" 2 "c" 3 -}}{{ $test }}"#,
                "map[a:1 b:2 c:3]",
            ),
            (r#"{{- $test := list -}}{{ $test }}"#, "[]"),
            (r#"{{- $test := list "a" "b" "c" -}}{{ $test }}"#, "[a b c]"),
            (
                r#"{{- $test := list "a" "b" -}}{{ $test = append $test "c" "d" -}}{{ $test }}"#,
                "[a b c d]",
            ),
            (r#"[{{ routeLabels "nope" }}]"#, "[]"),
            (
                r#"{{ toDate "2006-01-02" "2024-03-15" | date "02 Jan 2006" }}"#,
                "15 Mar 2024",
            ),
            (
                r#"{{ toDate "2006-01-02" "not-a-date" | date "2006" }}"#,
                "0001",
            ),
            (
                r#"{{ mustToDate "2006-01-02" "2024-03-15" | date "02 Jan 2006" }}"#,
                "15 Mar 2024",
            ),
        ] {
            assert_eq!(ok(text), want, "{text}");
        }
        // upstream: `fail: true` cases.
        for text in [
            r#"{{ "not-valid-base64!" | base64decode }}"#,
            r#"{{ dict "a" }}"#,
            r#"{{ dict 1 "value" }}"#,
        ] {
            assert!(exec(text, &Value::Nil).is_err(), "{text}");
        }
    }

    #[test]
    fn upstream_error_texts() {
        // upstream: TestTemplateFuncs `expErr`.
        assert_eq!(
            exec(r#"{{ . | tz "Invalid/Timezone" }}"#, &time(T2024)).unwrap_err(),
            "template: :1:7: executing \"\" at <tz \"Invalid/Timezone\">: error calling tz: unknown time zone Invalid/Timezone"
        );
        assert_eq!(
            exec(r#"{{ humanizeDuration "one" }}"#, &Value::Nil).unwrap_err(),
            "template: :1:3: executing \"\" at <humanizeDuration \"one\">: error calling humanizeDuration: strconv.ParseFloat: parsing \"one\": invalid syntax"
        );
        assert_eq!(
            exec(r#"{{ mustToDate "2006-01-02" "not-a-date" }}"#, &Value::Nil).unwrap_err(),
            r#"template: :1:3: executing "" at <mustToDate "2006-01-02" "not-a-date">: error calling mustToDate: parsing time "not-a-date" as "2006-01-02": cannot parse "not-a-date" as "2006""#
        );
        // Texts from the functions themselves (template.go) and Go's encoding/base64.
        assert_eq!(
            exec(r#"{{ "not-valid-base64!" | base64decode }}"#, &Value::Nil).unwrap_err(),
            "template: :1:25: executing \"\" at <base64decode>: error calling base64decode: illegal base64 data at input byte 16"
        );
        assert_eq!(
            exec(r#"{{ dict "a" }}"#, &Value::Nil).unwrap_err(),
            "template: :1:3: executing \"\" at <dict \"a\">: error calling dict: dict requires an even number of arguments"
        );
        assert_eq!(
            exec(r#"{{ dict 1 "value" }}"#, &Value::Nil).unwrap_err(),
            "template: :1:3: executing \"\" at <dict 1 \"value\">: error calling dict: dict keys must be strings"
        );
    }

    #[test]
    fn upstream_time_cases() {
        // upstream: TestTemplateFuncs "date", "tz", "since".
        let t = time(T2024);
        assert_eq!(
            exec(r#"{{ . | date "2006-01-02" }}"#, &t).unwrap(),
            "2024-01-01"
        );
        assert_eq!(
            exec(r#"{{ . | tz "Europe/Paris" }}"#, &t).unwrap(),
            "2024-01-01 09:15:30 +0100 CET"
        );
        // `time.Now().Add(-1 * time.Hour)` against the notification time.
        assert_eq!(
            exec_at(T2024 + 3600, "{{ . | since | humanizeDuration }}", &t).unwrap(),
            "1h 0m 0s"
        );
        // upstream: TestTemplateNow renders `now` with this layout and parses it back; here
        // `now` is the notification time, so the round trip is exact.
        let s = exec(
            r#"{{ now | date "2006-01-02T15:04:05-0700" }}"#,
            &Value::Nil,
        )
        .unwrap();
        let back = exec(
            &format!(r#"{{{{ (mustToDate "2006-01-02T15:04:05-0700" "{s}").Unix }}}}"#),
            &Value::Nil,
        )
        .unwrap();
        assert_eq!(back, T2024.to_string());
        assert_eq!(
            ok("{{ now.Unix }}|{{ (now | tz \"UTC\").Format \"15:04\" }}"),
            format!("{T2024}|08:15")
        );
        assert_eq!(
            exec(r#"{{ now 1 }}"#, &Value::Nil).unwrap_err(),
            "template: :1:3: executing \"\" at <now>: wrong number of args for now: want 0 got 1"
        );
    }

    #[test]
    fn upstream_humanize_duration_cases() {
        // upstream: TestTemplateFuncs "HumanizeDuration - …".
        let floats = Value::from(
            [
                0.0,
                1.0,
                60.0,
                3600.0,
                86400.0,
                86400.0 + 3600.0,
                -(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0),
                899.99,
            ]
            .into_iter()
            .map(Value::Float)
            .collect::<Vec<_>>(),
        );
        let each = "{{ range . }}{{ humanizeDuration . }}:{{ end }}";
        assert_eq!(
            exec(each, &floats).unwrap(),
            "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:"
        );
        assert_eq!(
            exec(each, &strings(&["0", "1", "60", "3600", "86400"])).unwrap(),
            "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:"
        );
        assert_eq!(
            exec(
                each,
                &strings(&[".1", ".0001", ".12345", "60.1", "60.5", "1.2345", "12.345"])
            )
            .unwrap(),
            "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:"
        );
        let ints = Value::from(
            [0, -1, 1, 1_234_567]
                .into_iter()
                .map(Value::Int)
                .collect::<Vec<_>>(),
        );
        assert_eq!(exec(each, &ints).unwrap(), "0s:-1s:1s:14d 6h 56m 7s:");
    }

    #[test]
    fn upstream_data_cases() {
        // upstream: "Template using join", "toJson with map", "toJson with slice",
        // "toJson with KV", "stringSlice".
        assert_eq!(
            exec(r#"{{ . | join "," }}"#, &strings(&["a", "b", "c"])).unwrap(),
            "a,b,c"
        );
        let mut m = BTreeMap::new();
        m.insert("key".to_string(), Value::from("value"));
        m.insert("number".to_string(), Value::Int(123));
        assert_eq!(
            exec("{{ . | toJson }}", &Value::from(Map::any(m))).unwrap(),
            r#"{"key":"value","number":123}"#
        );
        assert_eq!(
            exec("{{ . | toJson }}", &strings(&["a", "b", "c"])).unwrap(),
            r#"["a","b","c"]"#
        );
        let kv = Kv::value(&crate::labels::label_set(&[
            ("severity", "critical"),
            ("job", "foo"),
        ]));
        let mut d = BTreeMap::new();
        d.insert("CommonLabels".to_string(), kv);
        let labels = crate::labels::label_set(&[
            ("key1", "key1"),
            ("key2", "key2"),
            ("key3", "key3"),
            ("key4", "key4"),
        ]);
        d.insert("GroupLabels".to_string(), Kv::value(&labels));
        let data = Value::from(Map::any(d));
        assert_eq!(
            exec("{{ .CommonLabels | toJson }}", &data).unwrap(),
            r#"{"job":"foo","severity":"critical"}"#
        );
        assert_eq!(
            exec(
                r#"{{ with .GroupLabels }}{{ with .Remove (stringSlice "key1" "key3") }}{{ .SortedPairs.Values }}{{ end }}{{ end }}"#,
                &data
            )
            .unwrap(),
            "[key2 key4]"
        );
    }

    #[test]
    fn list_and_dict_are_go_slices_and_maps() {
        for (text, want) in [
            (r#"{{ index (list "a" "b") 1 }}"#, "b"),
            (r#"{{ len (list "a" "b") }}|{{ len (dict "a" 1) }}"#, "2|1"),
            (
                r#"{{ range $i, $e := list "a" "b" }}{{ $i }}={{ $e }};{{ end }}"#,
                "0=a;1=b;",
            ),
            (
                r#"{{ range $k, $v := dict "b" 2 "a" 1 }}{{ $k }}={{ $v }};{{ end }}"#,
                "a=1;b=2;",
            ),
            (
                r#"{{ (dict "a" 1).a }}|{{ index (dict "a" 1) "a" }}"#,
                "1|1",
            ),
            (r#"{{ index (dict "a" 1) "b" }}"#, "<no value>"),
            (
                r#"{{ printf "%#v" (list "a" 1) }}"#,
                r#"[]interface {}{"a", 1}"#,
            ),
            (
                r#"{{ printf "%T" (slice (list "a" "b" "c") 1) }}"#,
                "[]interface {}",
            ),
            (r#"{{ slice (list "a" "b" "c") 1 }}"#, "[b c]"),
            (
                r#"{{ printf "%T|%T" (list) (dict) }}"#,
                "[]interface {}|map[string]interface {}",
            ),
            (
                r#"{{ list nil 1.5 true (list "x") (dict "k" "v") }}"#,
                "[<nil> 1.5 true [x] map[k:v]]",
            ),
            (r#"{{ append nil "a" }}"#, "[a]"),
            (
                r#"{{ if list }}t{{ else }}f{{ end }}{{ if dict "a" 1 }}t{{ end }}"#,
                "ft",
            ),
            (
                r#"{{ toJson (dict "s" "<x>" "l" (list 1 2.5 nil) "m" (dict)) }}"#,
                r#"{"l":[1,2.5,null],"m":{},"s":"\u003cx\u003e"}"#,
            ),
        ] {
            assert_eq!(ok(text), want, "{text}");
        }
        // Go checks the parameter types: a []interface {} is not a []string and back.
        assert_eq!(
            exec(r#"{{ list "a" | join "," }}"#, &Value::Nil).unwrap_err(),
            "template: :1:14: executing \"\" at <join \",\">: wrong type for value; expected []string; got []interface {}"
        );
        assert_eq!(
            exec(r#"{{ append (stringSlice "a") "b" }}"#, &Value::Nil).unwrap_err(),
            "template: :1:11: executing \"\" at <stringSlice \"a\">: wrong type for value; expected []interface {}; got []string"
        );
        assert_eq!(
            exec(r#"{{ append }}"#, &Value::Nil).unwrap_err(),
            "template: :1:3: executing \"\" at <append>: wrong number of args for append: want at least 1 got 0"
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let mut text = String::from("{{ $l := list }}");
        for _ in 0..MAX_NESTING - 1 {
            text.push_str("{{ $l = list $l }}");
        }
        assert_eq!(ok(&format!("{text}{{{{ len $l }}}}")), "1");
        let err = exec(&format!("{text}{{{{ $l = list $l }}}}"), &Value::Nil).unwrap_err();
        assert!(
            err.ends_with("error calling list: values nest more than 100 levels deep"),
            "{err}"
        );
        let mut text = String::from("{{ $d := dict }}");
        for _ in 0..MAX_NESTING {
            text.push_str("{{ $d = dict \"k\" $d }}");
        }
        assert!(exec(&text, &Value::Nil)
            .unwrap_err()
            .contains("error calling dict"));
    }

    #[test]
    fn route_labels_take_one_string() {
        assert_eq!(ok(r#"[{{ routeLabels "severity" }}]"#), "[]");
        assert!(exec(r#"{{ routeLabels 1 }}"#, &Value::Nil).is_err());
        assert!(exec(r#"{{ routeLabels }}"#, &Value::Nil).is_err());
    }

    #[test]
    fn to_date_parses_as_go_time_parse() {
        for (text, want) in [
            (
                r#"{{ toDate "2006-01-02T15:04:05Z07:00" "2024-03-15T10:20:30+02:00" }}"#,
                "2024-03-15 10:20:30 +0200 +0200",
            ),
            (
                r#"{{ toDate "2006-01-02T15:04:05Z07:00" "2024-03-15T10:20:30Z" }}"#,
                "2024-03-15 10:20:30 +0000 UTC",
            ),
            (
                r#"{{ toDate "Jan _2 15:04:05.000 2006" "Mar  5 01:02:03.456 2024" }}"#,
                "2024-03-05 01:02:03.456 +0000 UTC",
            ),
            (
                r#"{{ toDate "2006-01-02 15:04:05" "2024-03-15 10:20:30.5" }}"#,
                "2024-03-15 10:20:30.5 +0000 UTC",
            ),
            (
                r#"{{ toDate "02 Jan 06 15:04 MST" "15 Mar 24 10:20 CET" }}"#,
                "2024-03-15 10:20:00 +0000 CET",
            ),
            (
                r#"{{ toDate "3:04PM" "12:30AM" }}"#,
                "0000-01-01 00:30:00 +0000 UTC",
            ),
            (
                r#"{{ toDate "2006 002" "2024 060" }}"#,
                "2024-02-29 00:00:00 +0000 UTC",
            ),
        ] {
            assert_eq!(ok(text), want, "{text}");
        }
        for (text, err) in [
            (
                r#"{{ mustToDate "2006-01-02" "2024-13-01" }}"#,
                r#"parsing time "2024-13-01": month out of range"#,
            ),
            (
                r#"{{ mustToDate "2006-01-02" "2023-02-29" }}"#,
                r#"parsing time "2023-02-29": day out of range"#,
            ),
            (
                r#"{{ mustToDate "2006-01-02" "2024-03-15x" }}"#,
                r#"parsing time "2024-03-15x": extra text: "x""#,
            ),
            (
                r#"{{ mustToDate "2006-01-02" "2024/03/15" }}"#,
                r#"parsing time "2024/03/15" as "2006-01-02": cannot parse "/03/15" as "-""#,
            ),
        ] {
            let e = exec(text, &Value::Nil).unwrap_err();
            assert!(
                e.ends_with(&format!("error calling mustToDate: {err}")),
                "{e}"
            );
        }
    }

    #[test]
    fn raw_bytes_behave_as_in_go() {
        // Checked against Alertmanager 0.25's `amtool template render` on a GBK file.
        let data = Value::from(gostr::from_bytes(b"a\xB8\xE6b").into_owned());
        let bytes = |text: &str| gostr::to_bytes(&exec(text, &data).unwrap()).into_owned();
        assert_eq!(bytes("{{ . }}"), b"a\xB8\xE6b");
        assert_eq!(bytes("{{ toUpper . }}"), "A\u{FFFD}\u{FFFD}B".as_bytes());
        assert_eq!(bytes("{{ title . }}"), b"A\xB8\xE6B");
        assert_eq!(bytes("{{ len . }}|{{ slice . 1 2 }}"), b"4|\xB8");
        assert_eq!(
            bytes(r#"{{ printf "%q %x" . . }}"#),
            br#""a\xb8\xe6b" 61b8e662"#
        );
        assert_eq!(bytes("{{ urlquery . }}"), b"a%B8%E6b");
        assert_eq!(bytes(r#"{{ "\xb8" }}{{ len "\xb8" }}"#), b"\xB81");
        assert_eq!(
            bytes(r#"{{ base64encode . | base64decode }}"#),
            b"a\xB8\xE6b"
        );
        assert_eq!(bytes(r#"{{ urlUnescape "%B8%E6" }}"#), b"\xB8\xE6");
        assert_eq!(bytes("{{ toJson . }}"), br#""a\ufffd\ufffdb""#);
        // A raw byte written inside a "…" literal is decoded rune by rune (U+FFFD, 3 bytes);
        // inside a `…` literal it stays a byte.
        let src = gostr::from_bytes(b"{{ \"\xB8\" | len }}|{{ `\xB8` | len }}");
        assert_eq!(exec(&src, &Value::Nil).unwrap(), "3|1");
    }
}
