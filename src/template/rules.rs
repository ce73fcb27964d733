//! Rule-facing templating: expands alert label and annotation templates as Prometheus'
//! `rules/alerting.go` does (the `$labels`/`$externalLabels`/`$externalURL`/`$value` prefix,
//! `missingkey=zero`, `<error expanding template: …>` on failure), and checks them at load.
//! Parsed templates are cached by (name, text), so each distinct template parses once.
//! `query` runs whatever [`RuleData::query`] the caller passes (the rule engine's instant
//! query at the evaluation time); this module runs no queries of its own.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::exec::{MissingKey, Templates};
use super::funcs::{FuncError, FuncMap, Funcs};
use super::prom::{self, QueryFn};
use super::value::{Object, Value};
use crate::labels::LabelSet;

/// Prepended to every rule template, as Prometheus does.
pub const PREFIX: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// What a rule template sees as dot.
pub struct RuleData<'a> {
    pub labels: &'a LabelSet,
    pub external_labels: &'a LabelSet,
    pub external_url: &'a str,
    pub value: f64,
    /// What the template function `query` runs (Prometheus' `QueryFunc` at the evaluation
    /// time). `None` where no query engine is at hand: `query` then fails with an error.
    pub query: Option<&'a QueryFn<'a>>,
}

/// The `query` function of one execution, over the caller's [`QueryFn`].
struct QueryFuncs<'a>(&'a QueryFn<'a>);

impl Funcs for QueryFuncs<'_> {
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, FuncError>> {
        (name == "query").then(|| prom::query(args, self.0))
    }
    fn contains(&self, name: &str) -> bool {
        name == "query"
    }
}

/// Prometheus' `AlertTemplateData` struct.
#[derive(Debug)]
struct AlertData {
    labels: Value,
    external_labels: Value,
    external_url: Value,
    value: f64,
}

impl Object for AlertData {
    fn type_name(&self) -> String {
        "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }".to_string()
    }
    fn method(&self, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        let v = match name {
            "Labels" => self.labels.clone(),
            "ExternalLabels" => self.external_labels.clone(),
            "ExternalURL" => self.external_url.clone(),
            "Value" => Value::Float(self.value),
            _ => return None,
        };
        Some(Ok(v))
    }
    /// Go prints a struct as `{field field …}`.
    fn string(&self) -> Option<String> {
        Some(format!(
            "{{{} {} {} {}}}",
            self.labels,
            self.external_labels,
            self.external_url,
            Value::Float(self.value)
        ))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A rule template parsed once (with the prefix), executed per alert.
#[derive(Debug)]
pub struct RuleTemplate {
    name: String,
    set: Result<Templates, String>,
}

impl RuleTemplate {
    /// Parses `text` (a label or annotation value) as template `name`.
    pub fn new(name: &str, text: &str) -> Self {
        let mut set = Templates::new(MissingKey::Zero);
        let full = format!("{PREFIX}{text}");
        let set = match set.parse(name, &full, &[prom::funcs()]) {
            Ok(()) => Ok(set),
            Err(e) => Err(format!("error parsing template {name}: {e}")),
        };
        RuleTemplate {
            name: name.to_string(),
            set,
        }
    }

    /// Expands the template; on error, Prometheus' `<error expanding template: …>` text.
    pub fn expand(&self, data: &RuleData) -> String {
        let set = match &self.set {
            Ok(s) => s,
            Err(e) => return format!("<error expanding template: {e}>"),
        };
        let dot = Value::Object(Arc::new(AlertData {
            labels: Value::labels(data.labels),
            external_labels: Value::labels(data.external_labels),
            external_url: Value::from(data.external_url),
            value: data.value,
        }));
        let ext = external(data.external_url);
        let result = match data.query {
            Some(q) => set.execute_with(&self.name, &dot, &[&QueryFuncs(q), &*ext, prom::funcs()]),
            None => set.execute(&self.name, &dot, &[&ext, prom::funcs()]),
        };
        match result {
            // Labels and annotations are UTF-8 text from here on (JSON, the exposition
            // format): a raw byte a template made (`"\xff"`) becomes U+FFFD, as Go's JSON
            // encoding of the alert makes it.
            Ok(s) if crate::base::gostr::has_raw(&s) => {
                crate::base::gostr::to_utf8_lossy(&s).into_owned()
            }
            Ok(s) => s,
            Err(e) => format!(
                "<error expanding template: error executing template {}: {e}>",
                self.name
            ),
        }
    }
}

/// Parsed rule templates by name, then text (looked up without allocating).
type Cache = Mutex<HashMap<String, HashMap<String, Arc<RuleTemplate>>>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

fn cached(name: &str, text: &str) -> Arc<RuleTemplate> {
    if let Ok(c) = cache().lock() {
        if let Some(t) = c.get(name).and_then(|m| m.get(text)) {
            return t.clone();
        }
    }
    let t = Arc::new(RuleTemplate::new(name, text));
    if let Ok(mut c) = cache().lock() {
        // Bounded: rule reloads with changed texts must not grow it forever.
        if c.len() >= 10_000 {
            c.clear();
        }
        c.entry(name.to_string())
            .or_default()
            .insert(text.to_string(), t.clone());
    }
    t
}

/// `externalURL`/`pathPrefix` for the URL of the last expansion (it rarely changes).
fn external(url: &str) -> Arc<FuncMap> {
    static LAST: Mutex<Option<(String, Arc<FuncMap>)>> = Mutex::new(None);
    if let Ok(mut last) = LAST.lock() {
        if let Some((u, f)) = &*last {
            if u == url {
                return f.clone();
            }
        }
        let f = Arc::new(prom::external_funcs(url));
        *last = Some((url.to_string(), f.clone()));
        return f;
    }
    Arc::new(prom::external_funcs(url))
}

/// Expands a label or annotation template as Prometheus does (prefix `{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}`, missingkey=zero). On error returns Prometheus' text: `<error expanding template: …>` with the Go error message inside.
pub fn expand(name: &str, text: &str, data: &RuleData) -> String {
    if !text.contains("{{") {
        return text.to_string();
    }
    cached(name, text).expand(data)
}

/// Load-time check: Ok if the template parses; Err(message) with Prometheus' parse error text otherwise.
pub fn check(name: &str, text: &str) -> Result<(), String> {
    let mut set = Templates::new(MissingKey::Zero);
    set.parse(name, &format!("{PREFIX}{text}"), &[prom::funcs()])
        .map_err(|e| e.to_string())
}
