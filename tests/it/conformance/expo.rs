//! The Prometheus text exposition format (0.0.4) read exactly enough to compare two `/probe`
//! outputs series by series, on `support::scrape`'s sample-line parser.
//!
//! Every sample becomes a [`SeriesKey`] (metric name plus sorted label set) with
//! its value both as written (`raw`, to compare number formatting) and as `f64`.
//! `# HELP` and `# TYPE` lines are kept per metric name; the order of the samples
//! is kept so the sort order of the exposition can be compared too.

use std::collections::BTreeMap;
use std::fmt;

use crate::support::scrape;

pub use scrape::Labels;

/// One series: metric name plus its sorted label set.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeriesKey {
    pub name: String,
    pub labels: Labels,
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.labels.is_empty() {
            f.write_str("{")?;
            for (i, (name, value)) in self.labels.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{name}={value:?}")?;
            }
            f.write_str("}")?;
        }
        Ok(())
    }
}

/// One sample line.
#[derive(Clone, Debug)]
pub struct Sample {
    pub key: SeriesKey,
    /// The value exactly as written (`3.668918509e+09`).
    pub raw: String,
    /// The value parsed (`NaN`, `+Inf` and `-Inf` included).
    pub value: f64,
}

/// A parsed exposition.
#[derive(Clone, Debug, Default)]
pub struct Exposition {
    /// Samples in the order they were written.
    pub samples: Vec<Sample>,
    /// `# HELP` text per metric name (escapes left as written).
    pub help: BTreeMap<String, String>,
    /// `# TYPE` per metric name.
    pub types: BTreeMap<String, String>,
}

impl Exposition {
    /// Parses a text exposition; any malformed line or duplicate series is an error.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut out = Exposition::default();
        let mut seen = std::collections::BTreeSet::new();
        for (number, line) in text.lines().enumerate() {
            let number = number + 1;
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                if out.help.insert(name.to_owned(), help.to_owned()).is_some() {
                    return Err(format!("line {number}: second HELP for {name}"));
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest
                    .split_once(' ')
                    .ok_or_else(|| format!("line {number}: TYPE without a type: {line:?}"))?;
                if out.types.insert(name.to_owned(), kind.to_owned()).is_some() {
                    return Err(format!("line {number}: second TYPE for {name}"));
                }
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let parsed =
                scrape::parse_sample(line).map_err(|e| format!("line {number}: {e}: {line:?}"))?;
            let sample = Sample {
                key: SeriesKey {
                    name: parsed.name,
                    labels: parsed.labels,
                },
                raw: parsed.raw,
                value: parsed.value,
            };
            if !seen.insert(sample.key.clone()) {
                return Err(format!("line {number}: duplicate series {}", sample.key));
            }
            out.samples.push(sample);
        }
        Ok(out)
    }

    /// Samples keyed by series.
    pub fn by_key(&self) -> BTreeMap<SeriesKey, Sample> {
        self.samples
            .iter()
            .map(|s| (s.key.clone(), s.clone()))
            .collect()
    }

    /// The value of the label-less series `name`, if present.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| s.key.name == name && s.key.labels.is_empty())
            .map(|s| s.value)
    }

    /// Whether any series of metric `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.key.name == name)
    }

    /// Removes metric `name` (series, HELP and TYPE); whether it had series.
    pub fn remove_metric(&mut self, name: &str) -> bool {
        let had = self.has(name);
        self.samples.retain(|s| s.key.name != name);
        self.help.remove(name);
        self.types.remove(name);
        had
    }
}

#[test]
fn parses_labels_with_commas_escapes_and_values() {
    let text = "# HELP a_b Some help\n# TYPE a_b gauge\n\
                a_b{x=\"CN=l,O=t\",y=\"q\\\"\\\\\\n\"} -6.21355968e+10\nc 1\nd NaN\n";
    let expo = Exposition::parse(text).expect("parses");
    assert_eq!(expo.samples.len(), 3);
    let first = &expo.samples[0];
    assert_eq!(first.key.name, "a_b");
    assert_eq!(first.key.labels["x"], "CN=l,O=t");
    assert_eq!(first.key.labels["y"], "q\"\\\n");
    assert_eq!(first.value, -62_135_596_800.0);
    assert_eq!(first.raw, "-6.21355968e+10");
    assert_eq!(expo.help["a_b"], "Some help");
    assert_eq!(expo.types["a_b"], "gauge");
    assert_eq!(expo.value("c"), Some(1.0));
    assert!(expo.value("d").is_some_and(f64::is_nan));
    assert!(Exposition::parse("x 1\nx 2\n").is_err());
    assert!(Exposition::parse("x{a=\"1\" 2\n").is_err());
}
