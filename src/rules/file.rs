//! Prometheus rule files (`model/rulefmt`): strict YAML decoding (unknown keys are errors),
//! then the validation `promtool check rules` does, with its messages, each error naming the
//! file, line, group and rule. The result is the rule definitions the manager runs; this file
//! holds no runtime state.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::expr::Expr;
use crate::base::ConfigError;
use crate::labels::LabelSet;

/// A validated rule group.
#[derive(Debug)]
pub struct GroupDef {
    pub file: PathBuf,
    pub name: String,
    /// `interval:`; `None` means `global.evaluation_interval`.
    pub interval: Option<Duration>,
    pub limit: usize,
    pub rules: Vec<Arc<RuleDef>>,
}

/// A validated rule.
#[derive(Debug)]
pub struct RuleDef {
    pub kind: RuleKind,
    pub expr: Expr,
    /// Rule labels (group labels merged in, the rule's own win). Templates for alerts.
    pub labels: LabelSet,
    /// Line of the `alert:`/`record:` key, for messages.
    pub line: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    Alert {
        name: String,
        hold: Duration,
        keep_firing_for: Duration,
        annotations: LabelSet,
    },
    Record {
        name: String,
    },
}

impl RuleDef {
    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Alert { name, .. } | RuleKind::Record { name } => name,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Vec<Spanned<RawGroup>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    name: Option<Spanned<String>>,
    #[serde(default)]
    interval: Option<Spanned<String>>,
    #[serde(default)]
    query_offset: Option<Spanned<String>>,
    #[serde(default)]
    limit: Option<Spanned<i64>>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    record: Option<Spanned<String>>,
    #[serde(default)]
    alert: Option<Spanned<String>>,
    #[serde(default)]
    expr: Option<Spanned<ExprText>>,
    #[serde(default, rename = "for")]
    hold: Option<Spanned<String>>,
    #[serde(default)]
    keep_firing_for: Option<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// `expr:` may be a string or a bare number (`expr: 1`), as Go's yaml.Node accepts.
#[derive(Deserialize)]
#[serde(untagged)]
enum ExprText {
    S(String),
    I(i64),
    F(f64),
}

impl ExprText {
    fn text(&self) -> String {
        match self {
            ExprText::S(s) => s.clone(),
            ExprText::I(i) => i.to_string(),
            ExprText::F(f) => f.to_string(),
        }
    }
}

/// Parses a Prometheus duration (`model.ParseDuration`) with prometheus/common's error text.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::base::units::parse_prom_duration(s).map_err(|e| e.to_string())
}

/// Formats a duration as Prometheus does (`1m`, `1h30m`, `0s`).
pub fn format_duration(d: Duration) -> String {
    promql_parser::util::display_duration(&d)
}

/// Expands rule-file globs (relative to `base_dir`) and loads every file, in order.
pub fn load_globs(base_dir: &Path, globs: &[String]) -> Result<Vec<GroupDef>, Vec<ConfigError>> {
    let mut groups = Vec::new();
    let mut errors = Vec::new();
    for pattern in globs {
        let full = base_dir.join(pattern);
        for path in crate::base::fs::expand(&full) {
            match load_file(&path) {
                Ok(g) => groups.extend(g),
                Err(e) => errors.extend(e),
            }
        }
    }
    if errors.is_empty() {
        Ok(groups)
    } else {
        Err(errors)
    }
}

/// Reads and validates one rule file.
pub fn load_file(path: &Path) -> Result<Vec<GroupDef>, Vec<ConfigError>> {
    let bytes = std::fs::read(path).map_err(|e| {
        vec![ConfigError::file_level(
            path,
            format!("error reading rule file: {e}"),
        )]
    })?;
    let text = crate::base::yaml::utf8_text(bytes, path).map_err(|e| vec![e])?;
    parse_str(&text, path)
}

struct Errs<'a> {
    file: &'a Path,
    out: Vec<ConfigError>,
}

impl Errs<'_> {
    fn push(&mut self, loc: Option<&Location>, path: String, message: impl Into<String>) {
        let (line, column) = loc.map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        self.out.push(ConfigError {
            file: self.file.to_path_buf(),
            line,
            column,
            path,
            message: message.into(),
        });
    }
}

/// Validates rule-file text; `file` names it in errors.
/// Follows promtool's `rulefmt.Parse` order (YAML, groups, then rules), which decides the
/// order of its messages.
pub fn parse_str(text: &str, file: &Path) -> Result<Vec<GroupDef>, Vec<ConfigError>> {
    let mut errs = Errs {
        file,
        out: Vec::new(),
    };
    let doc = crate::base::yaml::first_document(text);
    if doc.trim().is_empty()
        || doc
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---")
    {
        return Ok(Vec::new());
    }
    let raw: RawFile = match crate::base::yaml::from_str(doc) {
        Ok(r) => r,
        Err(e) => {
            let e = e.without_snippet();
            let loc = e.location();
            errs.push(loc.as_ref(), String::new(), crate::base::yaml::describe(e));
            return Err(errs.out);
        }
    };
    let mut names = HashSet::new();
    let mut groups = Vec::new();
    for g in &raw.groups {
        let loc = g.referenced;
        let g = &g.value;
        let gname = g.name.as_ref().map(|n| n.value.clone()).unwrap_or_default();
        if gname.is_empty() {
            errs.push(Some(&loc), String::new(), "Groupname must not be empty");
        } else if !names.insert(gname.clone()) {
            errs.push(
                Some(&loc),
                String::new(),
                format!("groupname: {gname:?} is repeated in the same file"),
            );
        }
        let interval = match &g.interval {
            Some(s) => match parse_duration(&s.value) {
                Ok(d) if d.is_zero() => None,
                Ok(d) => Some(d),
                Err(m) => {
                    errs.push(Some(&s.referenced), format!("group {gname:?}"), m);
                    None
                }
            },
            None => None,
        };
        if let Some(q) = &g.query_offset {
            match parse_duration(&q.value) {
                Ok(d) if d.is_zero() => {}
                Ok(_) => errs.push(
                    Some(&q.referenced),
                    format!("group {gname:?}"),
                    "query_offset is not supported yet by blackwatch",
                ),
                Err(m) => errs.push(Some(&q.referenced), format!("group {gname:?}"), m),
            }
        }
        let limit = match &g.limit {
            Some(l) if l.value < 0 => {
                errs.push(
                    Some(&l.referenced),
                    format!("group {gname:?}"),
                    "limit must not be negative",
                );
                0
            }
            Some(l) => usize::try_from(l.value).unwrap_or(0),
            None => 0,
        };
        for (k, v) in &g.labels {
            if !crate::base::names::is_label_name(k) || k == "__name__" {
                errs.push(
                    Some(&loc),
                    format!("group {gname:?}"),
                    format!("invalid label name: {k}"),
                );
            }
            let _ = v;
        }
        let mut rules = Vec::new();
        for (i, r) in g.rules.iter().enumerate() {
            if let Some(rule) = rule(&mut errs, &gname, i + 1, r, &g.labels) {
                rules.push(Arc::new(rule));
            }
        }
        groups.push(GroupDef {
            file: file.to_path_buf(),
            name: gname,
            interval,
            limit,
            rules,
        });
    }
    if errs.out.is_empty() {
        Ok(groups)
    } else {
        Err(errs.out)
    }
}

/// One rule's checks in promtool's order (`rulefmt.RuleNode.Validate` then the template
/// and label checks), which decides the order of its messages.
fn rule(
    errs: &mut Errs<'_>,
    group: &str,
    index: usize,
    r: &Spanned<RawRule>,
    group_labels: &BTreeMap<String, String>,
) -> Option<RuleDef> {
    let raw = &r.value;
    let before = errs.out.len();
    let name_node = raw.alert.as_ref().or(raw.record.as_ref());
    let name = name_node.map(|n| n.value.clone()).unwrap_or_default();
    let name_loc = name_node.map(|n| n.referenced).unwrap_or(r.referenced);
    let path = format!("group {group:?}, rule {index}, {name:?}");
    let mut err = |loc: Option<&Location>, msg: String| errs.push(loc, path.clone(), msg);
    match (&raw.record, &raw.alert) {
        (Some(_), Some(_)) => err(
            Some(&name_loc),
            "only one of 'record' and 'alert' must be set".into(),
        ),
        (None, None) => err(
            Some(&r.referenced),
            "one of 'record' or 'alert' must be set".into(),
        ),
        _ => {}
    }
    let expr_text = raw
        .expr
        .as_ref()
        .map(|e| e.value.text())
        .unwrap_or_default();
    let expr = if expr_text.is_empty() {
        err(Some(&name_loc), "field 'expr' must be set in rule".into());
        None
    } else {
        match Expr::parse(&expr_text) {
            Ok(e) => Some(e),
            Err(e) => {
                let loc = raw.expr.as_ref().map(|e| e.referenced);
                err(loc.as_ref(), format!("could not parse expression: {e}"));
                None
            }
        }
    };
    let hold = opt_duration(&raw.hold, &mut err);
    let keep = opt_duration(&raw.keep_firing_for, &mut err);
    if raw.record.is_some() {
        if !raw.annotations.is_empty() {
            err(
                Some(&name_loc),
                "invalid field 'annotations' in recording rule".into(),
            );
        }
        if raw.hold.is_some() {
            err(
                Some(&name_loc),
                "invalid field 'for' in recording rule".into(),
            );
        }
        if raw.keep_firing_for.is_some() {
            err(
                Some(&name_loc),
                "invalid field 'keep_firing_for' in recording rule".into(),
            );
        }
        if !crate::base::names::is_metric_name(&name) {
            err(
                Some(&name_loc),
                format!("invalid recording rule name: {name}"),
            );
        }
    }
    for k in raw.labels.keys() {
        if !crate::base::names::is_label_name(k) || k == "__name__" {
            err(Some(&name_loc), format!("invalid label name: {k}"));
        }
    }
    for k in raw.annotations.keys() {
        if !crate::base::names::is_label_name(k) {
            err(Some(&name_loc), format!("invalid annotation name: {k}"));
        }
    }
    if raw.alert.is_some() {
        let tmpl_name = format!("__alert_{name}");
        for (k, v) in &raw.labels {
            if let Err(m) = check_template(&tmpl_name, v) {
                err(Some(&name_loc), format!("label {k:?}: {m}"));
            }
        }
        for (k, v) in &raw.annotations {
            if let Err(m) = check_template(&tmpl_name, v) {
                err(Some(&name_loc), format!("annotation {k:?}: {m}"));
            }
        }
    }
    if errs.out.len() > before {
        return None;
    }
    let mut labels: LabelSet = group_labels.clone();
    labels.extend(raw.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let kind = if raw.alert.is_some() {
        RuleKind::Alert {
            name,
            hold: hold.unwrap_or_default(),
            keep_firing_for: keep.unwrap_or_default(),
            annotations: raw.annotations.clone(),
        }
    } else {
        RuleKind::Record { name }
    };
    Some(RuleDef {
        kind,
        expr: expr?,
        labels,
        line: name_loc.line(),
    })
}

fn opt_duration(
    v: &Option<Spanned<String>>,
    err: &mut impl FnMut(Option<&Location>, String),
) -> Option<Duration> {
    let v = v.as_ref()?;
    match parse_duration(&v.value) {
        Ok(d) => Some(d),
        Err(m) => {
            err(Some(&v.referenced), m);
            None
        }
    }
}

/// Checks that a label or annotation template parses (Prometheus' `testTemplateParsing`).
fn check_template(name: &str, text: &str) -> Result<(), String> {
    crate::template::rules::check(name, text)
}
