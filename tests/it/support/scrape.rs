//! A parser for the Prometheus text format (and the sample lines of OpenMetrics), so
//! assertions read `name{labels}` → value ([`Metrics`], [`Sample`], [`series_key`]).

use std::collections::BTreeMap;

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
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

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or_else(|| "no value".to_string())?;
    let name = line[..name_end].to_string();
    if name.is_empty() {
        return Err("empty metric name".into());
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        let mut end = None;
        loop {
            // Skip separators.
            while let Some((_, c)) = chars.peek() {
                if *c == ',' || *c == ' ' {
                    chars.next();
                } else {
                    break;
                }
            }
            match chars.peek() {
                Some((i, '}')) => {
                    end = Some(*i);
                    break;
                }
                None => break,
                _ => {}
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            match chars.next() {
                Some((_, '"')) => {}
                _ => return Err(format!("label {key} has no opening quote")),
            }
            let mut value = String::new();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, other)) => value.push(other),
                        None => return Err("dangling escape".into()),
                    },
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(format!("label {key} value not closed"));
            }
            labels.insert(key.trim().to_string(), value);
        }
        let end = end.ok_or_else(|| "label set not closed".to_string())?;
        rest = &after[end + 1..];
    }
    let value_str = rest
        .split_whitespace()
        .next()
        .ok_or_else(|| "no value".to_string())?;
    let value = match value_str {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse::<f64>().map_err(|e| format!("value {v:?}: {e}"))?,
    };
    Ok(Sample {
        name,
        labels,
        value,
    })
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
