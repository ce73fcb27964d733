//! The parser for the Prometheus text format (and the sample lines of OpenMetrics), so
//! assertions read `name{labels}` → value ([`Metrics`], [`Sample`], [`series_key`]).
//! [`parse_sample`] is the one sample-line parser: the conformance suites' `Exposition`
//! (exact values as written, duplicates refused) is built on it too.

use std::collections::BTreeMap;

/// Label name → value, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Labels,
    /// The value exactly as written (`3.668918509e+09`).
    pub raw: String,
    /// The value parsed (`NaN`, `+Inf` and `-Inf` included).
    pub value: f64,
}

/// Parsed exposition (text 0.0.4 or OpenMetrics sample lines; comments are skipped).
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    pub samples: Vec<Sample>,
    /// `# HELP name text` lines.
    pub help: BTreeMap<String, String>,
    /// `# TYPE name type` lines.
    pub types: BTreeMap<String, String>,
    text: String,
}

/// `name{a="1",b="2"}` with labels sorted by name.
pub fn series_key(name: &str, labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return name.to_string();
    }
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

impl Metrics {
    /// Parses exposition text; panics on a malformed sample line.
    pub fn parse(text: &str) -> Self {
        let mut m = Metrics {
            text: text.to_string(),
            ..Metrics::default()
        };
        for line in text.lines() {
            let line = line.trim_end();
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                m.help.insert(name.to_string(), help.to_string());
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, ty) = rest.split_once(' ').unwrap_or((rest, ""));
                m.types.insert(name.to_string(), ty.to_string());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            m.samples.push(
                parse_sample(line)
                    .unwrap_or_else(|e| panic!("bad sample line {line:?}: {e}\n{text}")),
            );
        }
        m
    }

    /// The text this was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every series as `name{labels}` → value.
    pub fn map(&self) -> BTreeMap<String, f64> {
        self.samples
            .iter()
            .map(|s| (series_key(&s.name, &s.labels), s.value))
            .collect()
    }

    /// The value of the series with exactly these labels (any order).
    pub fn get_with(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .map(|s| s.value)
    }

    /// The value of an unlabelled series.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.get_with(name, &[])
    }

    #[track_caller]
    pub fn value(&self, name: &str) -> f64 {
        self.get(name)
            .unwrap_or_else(|| panic!("metric {name} not found in\n{}", self.text))
    }

    #[track_caller]
    pub fn value_with(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get_with(name, labels)
            .unwrap_or_else(|| panic!("series {name}{labels:?} not found in\n{}", self.text))
    }

    /// All samples named `name`.
    pub fn family(&self, name: &str) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.name == name).collect()
    }

    /// Whether any sample is named `name`.
    pub fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }

    /// Names of all samples starting with `prefix`.
    pub fn names_with_prefix(&self, prefix: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .samples
            .iter()
            .filter(|s| s.name.starts_with(prefix))
            .map(|s| s.name.clone())
            .collect();
        v.dedup();
        v
    }
}

/// Parses one sample line, `name{labels} value [timestamp]`. The one sample-line parser of
/// the tests: [`Metrics::parse`] and the conformance suites' exact comparison both use it.
pub fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or_else(|| "no value".to_owned())?;
    let name = &line[..name_end];
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut labels = Labels::new();
    let mut rest = &line[name_end..];
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, remainder) = parse_labels(after)?;
        labels = parsed;
        rest = remainder;
    }
    let rest = rest
        .strip_prefix(' ')
        .ok_or_else(|| "no space before the value".to_owned())?;
    // An optional timestamp may follow the value.
    let raw = rest.split(' ').next().unwrap_or_default().to_owned();
    let value = parse_value(&raw)?;
    Ok(Sample {
        name: name.to_owned(),
        labels,
        raw,
        value,
    })
}

/// Parses `name="value",...}` and returns the labels plus what follows the `}`.
fn parse_labels(mut s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Labels::new();
    loop {
        s = s.trim_start();
        if let Some(after) = s.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = s.find('=').ok_or_else(|| "label without '='".to_owned())?;
        let name = s[..eq].trim().to_owned();
        s = s[eq + 1..]
            .strip_prefix('"')
            .ok_or_else(|| format!("label {name} value not quoted"))?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("unterminated value of label {name}")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    other => return Err(format!("bad escape in label {name}: {other:?}")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        s = &s[end + 1..];
        if labels.insert(name.clone(), value).is_some() {
            return Err(format!("label {name} given twice"));
        }
        s = s.trim_start();
        if let Some(after) = s.strip_prefix(',') {
            s = after;
        } else if !s.starts_with('}') {
            return Err("expected ',' or '}' after a label".to_owned());
        }
    }
}

fn parse_value(raw: &str) -> Result<f64, String> {
    match raw {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ if raw
            .chars()
            .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E') =>
        {
            Err(format!("bad value {raw:?}"))
        }
        _ => raw
            .parse::<f64>()
            .map_err(|e| format!("bad value {raw:?}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_escapes_and_go_floats() {
        let m = Metrics::parse(
            "# HELP a Help.\n# TYPE a gauge\na 1\nb{x=\"1\",y=\"q\\\"uo\\\\te,}\"} -6.21355968e+10\nc{} NaN\nd_total 3 1700000000\n# EOF\n",
        );
        assert_eq!(m.get("a"), Some(1.0));
        assert_eq!(
            m.get_with("b", &[("y", "q\"uo\\te,}"), ("x", "1")]),
            Some(-62135596800.0)
        );
        assert!(m.get("c").is_some_and(f64::is_nan));
        assert_eq!(m.get("d_total"), Some(3.0));
        assert_eq!(m.types.get("a").map(String::as_str), Some("gauge"));
        assert_eq!(m.help.get("a").map(String::as_str), Some("Help."));
        assert_eq!(m.get("b"), None, "labels must match exactly");
        assert_eq!(
            m.map().keys().cloned().collect::<Vec<_>>(),
            vec![
                "a".to_string(),
                "b{x=\"1\",y=\"q\\\"uo\\\\te,}\"}".to_string(),
                "c".to_string(),
                "d_total".to_string()
            ]
        );
    }
}
