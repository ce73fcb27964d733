//! Prometheus 2.42's relabelling (`model/relabel`): the `relabel_config` block as written
//! (`RawRelabelConfig`), its validation with upstream's texts (`Rule::from_raw`), and
//! `process`, which applies a list of rules to one label set in order. Used by
//! `remote_write`'s `write_relabel_configs`; it knows nothing of where label sets come from.
//!
//! Regexes are anchored (`^(?:…)$`) and compiled with Go's RE2 meaning (`base::goregex`);
//! replacements expand as Go's `Regexp.Expand`. A label set is a `Vec` of pairs sorted by
//! name; a label set to an empty value is removed, as Prometheus' `labels.Builder` does.

use std::fmt::Write as _;

use regex::bytes::Regex;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::base::goregex;
use crate::base::names::is_label_name;

/// One `relabel_config` as written; absent fields take upstream's defaults at validation.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRelabelConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_labels: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modulus: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Spanned<String>>,
}

/// The relabel actions of Prometheus 2.42.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl Action {
    fn parse(s: &str) -> Option<Self> {
        Some(match s.to_lowercase().as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            "hashmod" => Action::HashMod,
            "labelmap" => Action::LabelMap,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }
}

/// One validated rule.
#[derive(Clone, Debug)]
pub struct Rule {
    pub source_labels: Vec<String>,
    pub separator: String,
    /// Anchored.
    pub regex: Regex,
    pub modulus: u64,
    pub target_label: String,
    pub replacement: String,
    pub action: Action,
}

const DEFAULT_SEPARATOR: &str = ";";
const DEFAULT_REPLACEMENT: &str = "$1";
const DEFAULT_REGEX: &str = "(.*)";

/// Compiles `re` anchored, as Prometheus' `NewRegexp`.
fn anchored(re: &str) -> Result<Regex, String> {
    regex::bytes::RegexBuilder::new(&format!("^(?:{})$", goregex::to_rust(re)))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            let detail = e.to_string();
            let last = detail.lines().last().unwrap_or_default().trim();
            let last = last.strip_prefix("error: ").unwrap_or(last).to_string();
            format!("error parsing regexp: {last}: `{re}`")
        })
}

/// Prometheus' `relabelTarget`: a label name in which `$1`/`${name}` references may appear.
fn is_relabel_target(s: &str) -> bool {
    static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$").ok())
        .as_ref()
        .is_some_and(|re| re.is_match(s))
}

impl Rule {
    /// Validates one rule with the texts of Prometheus 2.42's `Config.UnmarshalYAML`.
    pub fn from_raw(raw: &RawRelabelConfig) -> Result<Rule, String> {
        let action = match &raw.action {
            None => Action::Replace,
            Some(a) if a.value.is_empty() => {
                return Err("relabel action cannot be empty".to_string())
            }
            Some(a) => Action::parse(&a.value)
                .ok_or_else(|| format!("unknown relabel action {:?}", a.value))?,
        };
        if let Some(labels) = &raw.source_labels {
            for l in labels {
                if !is_label_name(l) {
                    return Err(format!("{l:?} is not a valid label name"));
                }
            }
        }
        let regex = match &raw.regex {
            Some(r) => anchored(&r.value)?,
            None => anchored(DEFAULT_REGEX)?,
        };
        let modulus = raw.modulus.unwrap_or(0);
        let target = raw.target_label.clone().unwrap_or_default();
        let separator = raw
            .separator
            .clone()
            .unwrap_or_else(|| DEFAULT_SEPARATOR.to_string());
        let replacement = raw
            .replacement
            .clone()
            .unwrap_or_else(|| DEFAULT_REPLACEMENT.to_string());
        use Action::*;
        let name = action.name();
        if modulus == 0 && action == HashMod {
            return Err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        if matches!(
            action,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        ) && target.is_empty()
        {
            return Err(format!(
                "relabel configuration for {name} action requires 'target_label' value"
            ));
        }
        if matches!(
            action,
            Replace | Lowercase | Uppercase | KeepEqual | DropEqual
        ) && !is_relabel_target(&target)
        {
            return Err(format!(
                "{target:?} is invalid 'target_label' for {name} action"
            ));
        }
        if matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual)
            && replacement != DEFAULT_REPLACEMENT
        {
            return Err(format!("'replacement' can not be set for {name} action"));
        }
        if action == LabelMap && !is_relabel_target(&replacement) {
            return Err(format!(
                "{replacement:?} is invalid 'replacement' for {name} action"
            ));
        }
        if action == HashMod && !is_label_name(&target) {
            return Err(format!(
                "{target:?} is invalid 'target_label' for {name} action"
            ));
        }
        if matches!(action, DropEqual | KeepEqual)
            && (raw.regex.is_some()
                || modulus != 0
                || separator != DEFAULT_SEPARATOR
                || replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!(
                "{name} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
        }
        if matches!(action, LabelDrop | LabelKeep)
            && (raw.source_labels.is_some()
                || !target.is_empty()
                || modulus != 0
                || separator != DEFAULT_SEPARATOR
                || replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!(
                "{name} action requires only 'regex', and no other fields"
            ));
        }
        Ok(Rule {
            source_labels: raw.source_labels.clone().unwrap_or_default(),
            separator,
            regex,
            modulus,
            target_label: target,
            replacement,
            action,
        })
    }
}

/// A label set sorted by name.
pub type LabelVec = Vec<(String, String)>;

fn get<'a>(labels: &'a LabelVec, name: &str) -> &'a str {
    match labels.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
        Ok(i) => &labels[i].1,
        Err(_) => "",
    }
}

/// `labels.Builder.Set`: an empty value deletes.
fn set(labels: &mut LabelVec, name: &str, value: String) {
    match labels.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            labels.remove(i);
        }
        Ok(i) => labels[i].1 = value,
        Err(_) if value.is_empty() => {}
        Err(i) => labels.insert(i, (name.to_string(), value)),
    }
}

fn del(labels: &mut LabelVec, name: &str) {
    if let Ok(i) = labels.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
        labels.remove(i);
    }
}

/// Applies `rules` in order to `labels` (sorted by name, kept sorted). Returns false when a
/// rule drops the set (the labels are then unspecified).
pub fn process(labels: &mut LabelVec, rules: &[Rule]) -> bool {
    rules.iter().all(|r| relabel(labels, r))
}

fn relabel(labels: &mut LabelVec, r: &Rule) -> bool {
    let mut val = String::new();
    for (i, name) in r.source_labels.iter().enumerate() {
        if i > 0 {
            val.push_str(&r.separator);
        }
        val.push_str(get(labels, name));
    }
    let matches = |s: &str| r.regex.is_match(s.as_bytes());
    match r.action {
        Action::Drop => return !matches(&val),
        Action::Keep => return matches(&val),
        Action::DropEqual => return get(labels, &r.target_label) != val,
        Action::KeepEqual => return get(labels, &r.target_label) == val,
        Action::Replace => {
            let Some(caps) = r.regex.captures(val.as_bytes()) else {
                return true;
            };
            let target = goregex::expand(&r.regex, r.target_label.as_bytes(), &caps);
            let target = String::from_utf8_lossy(&target).into_owned();
            if !is_label_name(&target) {
                del(labels, &r.target_label);
                return true;
            }
            let res = goregex::expand(&r.regex, r.replacement.as_bytes(), &caps);
            if res.is_empty() {
                del(labels, &r.target_label);
                return true;
            }
            set(labels, &target, String::from_utf8_lossy(&res).into_owned());
        }
        Action::Lowercase => set(labels, &r.target_label, val.to_lowercase()),
        Action::Uppercase => set(labels, &r.target_label, val.to_uppercase()),
        Action::HashMod => {
            let sum = md5_sum64(val.as_bytes());
            let mut s = String::new();
            let _ = write!(s, "{}", sum % r.modulus);
            set(labels, &r.target_label, s);
        }
        Action::LabelMap => {
            let original = labels.clone();
            for (name, value) in &original {
                if matches(name) {
                    let res =
                        r.regex
                            .replace_all(name.as_bytes(), |c: &regex::bytes::Captures<'_>| {
                                goregex::expand(&r.regex, r.replacement.as_bytes(), c)
                            });
                    let res = String::from_utf8_lossy(&res).into_owned();
                    set(labels, &res, value.clone());
                }
            }
        }
        Action::LabelDrop => labels.retain(|(name, _)| !matches(name)),
        Action::LabelKeep => labels.retain(|(name, _)| matches(name)),
    }
    true
}

/// Prometheus' `sum64(md5.Sum(…))`: the last 8 bytes of the digest, big-endian.
fn md5_sum64(data: &[u8]) -> u64 {
    use md5::Digest;
    let d = md5::Md5::digest(data);
    let mut s = 0u64;
    for (i, b) in d.iter().enumerate() {
        let shift = (15 - i) * 8;
        if shift < 64 {
            s |= u64::from(*b) << shift;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml: &str) -> Result<Rule, String> {
        let raw: RawRelabelConfig = serde_saphyr::from_str(yaml).unwrap();
        Rule::from_raw(&raw)
    }

    fn labels(pairs: &[(&str, &str)]) -> LabelVec {
        let mut v: LabelVec = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        v.sort();
        v
    }

    fn run(yaml: &[&str], input: &[(&str, &str)]) -> Option<LabelVec> {
        let rules: Vec<Rule> = yaml.iter().map(|y| rule(y).unwrap()).collect();
        let mut l = labels(input);
        process(&mut l, &rules).then_some(l)
    }

    // Cases from Prometheus 2.42's model/relabel/relabel_test.go.
    #[test]
    fn upstream_cases() {
        assert_eq!(
            run(
                &["{source_labels: [a], regex: 'f(.*)', target_label: d, separator: ';', replacement: 'ch${1}-ch${1}', action: replace}"],
                &[("a", "foo"), ("b", "bar"), ("c", "baz")]
            ),
            Some(labels(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")]))
        );
        assert_eq!(
            run(
                &["{source_labels: [a, b], regex: 'f(.*);(.*)r', target_label: a, separator: ';', replacement: 'b${1}${2}m'}",
                  "{source_labels: [c, a], regex: '(b).*b(.*)ba(.*)', target_label: d, separator: ';', replacement: '$1$2$2$3'}"],
                &[("a", "foo"), ("b", "bar"), ("c", "baz")]
            ),
            Some(labels(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")]))
        );
        assert_eq!(
            run(
                &["{source_labels: [a], regex: '.*o.*', action: drop}"],
                &[("a", "foo")]
            ),
            None
        );
        assert_eq!(
            run(
                &["{source_labels: [a], regex: 'no-match', action: keep}"],
                &[("a", "foo")]
            ),
            None
        );
        assert_eq!(
            run(
                &["{source_labels: [a], regex: 'f.*', action: keep}"],
                &[("a", "foo")]
            ),
            Some(labels(&[("a", "foo")]))
        );
        // No match: nothing replaced.
        assert_eq!(
            run(
                &["{source_labels: [a], regex: 'f', target_label: b, replacement: bar}"],
                &[("a", "boo")]
            ),
            Some(labels(&[("a", "boo")]))
        );
        // hashmod: md5 of "foo" mod 1000 is 976 upstream.
        assert_eq!(
            run(
                &["{source_labels: [c], target_label: d, action: hashmod, modulus: 1000}"],
                &[("a", "foo"), ("b", "bar"), ("c", "baz")]
            ),
            Some(labels(&[
                ("a", "foo"),
                ("b", "bar"),
                ("c", "baz"),
                ("d", "976")
            ]))
        );
        assert_eq!(
            run(
                &["{regex: 'meta_(.+)', action: labelmap, replacement: '${1}'}"],
                &[("a", "foo"), ("meta_x", "1")]
            ),
            Some(labels(&[("a", "foo"), ("meta_x", "1"), ("x", "1")]))
        );
        assert_eq!(
            run(
                &["{regex: '(b.*)', action: labeldrop}"],
                &[("a", "foo"), ("b1", "bar"), ("b2", "baz")]
            ),
            Some(labels(&[("a", "foo")]))
        );
        assert_eq!(
            run(
                &["{regex: '(b.*)', action: labelkeep}"],
                &[("a", "foo"), ("b1", "bar"), ("b2", "baz")]
            ),
            Some(labels(&[("b1", "bar"), ("b2", "baz")]))
        );
        assert_eq!(
            run(
                &[
                    "{source_labels: [foo], target_label: foo_uppercase, action: uppercase}",
                    "{source_labels: [foo], target_label: foo_lowercase, action: lowercase}"
                ],
                &[("foo", "bAr123Foo")]
            ),
            Some(labels(&[
                ("foo", "bAr123Foo"),
                ("foo_lowercase", "bar123foo"),
                ("foo_uppercase", "BAR123FOO")
            ]))
        );
        assert_eq!(
            run(
                &["{source_labels: [__tmp_port], target_label: __port1, action: keepequal}"],
                &[("__tmp_port", "1234"), ("__port1", "1234")]
            ),
            Some(labels(&[("__tmp_port", "1234"), ("__port1", "1234")]))
        );
        assert_eq!(
            run(
                &["{source_labels: [__tmp_port], target_label: __port1, action: dropequal}"],
                &[("__tmp_port", "1234"), ("__port1", "1234")]
            ),
            None
        );
        // Invalid target after expansion deletes the configured target label.
        assert_eq!(
            run(&["{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', target_label: '${1}', replacement: '${2}'}"], &[("a", "some-name-value")]),
            Some(labels(&[("a", "some-name-value"), ("name", "value")]))
        );
        assert_eq!(
            run(&["{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', target_label: '${3}', replacement: '${2}'}"], &[("a", "some-name-value")]),
            Some(labels(&[("a", "some-name-value")]))
        );
    }

    #[test]
    fn validation_texts_are_upstreams() {
        let err = |y: &str| rule(y).unwrap_err();
        assert_eq!(err("{action: ''}"), "relabel action cannot be empty");
        assert_eq!(err("{action: nope}"), "unknown relabel action \"nope\"");
        assert_eq!(
            err("{action: hashmod, target_label: x}"),
            "relabel configuration for hashmod requires non-zero modulus"
        );
        assert_eq!(
            err("{action: replace}"),
            "relabel configuration for replace action requires 'target_label' value"
        );
        assert_eq!(
            err("{action: replace, target_label: '0x'}"),
            "\"0x\" is invalid 'target_label' for replace action"
        );
        assert_eq!(
            err("{action: lowercase, target_label: x, replacement: y}"),
            "'replacement' can not be set for lowercase action"
        );
        assert_eq!(
            err("{action: labeldrop, regex: x, source_labels: [a]}"),
            "labeldrop action requires only 'regex', and no other fields"
        );
        assert_eq!(
            err("{action: keepequal, target_label: x, regex: a}"),
            "keepequal action requires only 'source_labels' and `target_label`, and no other fields"
        );
        assert_eq!(
            err("{source_labels: ['a-b'], target_label: x}"),
            "\"a-b\" is not a valid label name"
        );
        assert!(err("{regex: '(', target_label: x}").starts_with("error parsing regexp"));
        // Case-insensitive actions, as upstream lowercases them.
        assert!(rule("{action: Drop, regex: x}").is_ok());
    }
}
