//! The result of one probe as data: metric families of gauges, written by the probers and
//! encoded in Prometheus text format exactly as blackbox_exporter's per-probe registry is
//! (sorted by name, then by label values; Go `%g` number formatting; upstream help strings).
//!
//! It is plain data rather than a prometheus-client registry so the scheduler's store and
//! the rule engine can read results without parsing text.

use crate::base::expo::{push_escaped_help, push_label};
use crate::base::go::push_go_float;
use std::collections::BTreeMap;

/// A gauge family's name and help text, declared once as a `const` by the prober that writes
/// it, so every write of the family goes through the same pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Desc {
    pub name: &'static str,
    pub help: &'static str,
}

impl Desc {
    pub const fn new(name: &'static str, help: &'static str) -> Self {
        Self { name, help }
    }
}

/// One gauge family.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    pub help: &'static str,
    /// Label set (name, value pairs in declaration order) → value.
    pub samples: Vec<(Vec<(String, String)>, f64)>,
}

/// A per-probe registry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Registry {
    families: BTreeMap<String, Family>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the unlabelled gauge `desc`, registering it if needed.
    pub fn set_gauge(&mut self, desc: &Desc, value: f64) {
        self.set_labeled(desc.name, desc.help, &[], value);
    }

    /// Sets one labelled sample of `desc`, registering the family if needed.
    pub fn set_gauge_labeled(&mut self, desc: &Desc, labels: &[(&str, &str)], value: f64) {
        self.set_labeled(desc.name, desc.help, labels, value);
    }

    /// Adds to one labelled sample of `desc` (phase durations summed over redirects).
    pub fn add_gauge_labeled(&mut self, desc: &Desc, labels: &[(&str, &str)], delta: f64) {
        self.add_labeled(desc.name, desc.help, labels, delta);
    }

    /// Sets an unlabelled gauge, registering it if needed.
    pub fn set(&mut self, name: &str, help: &'static str, value: f64) {
        self.set_labeled(name, help, &[], value);
    }

    /// Sets one labelled sample, registering the family if needed.
    pub fn set_labeled(
        &mut self,
        name: &str,
        help: &'static str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        if !self.families.contains_key(name) {
            self.families.insert(
                name.to_string(),
                Family {
                    help,
                    samples: Vec::new(),
                },
            );
        }
        let Some(fam) = self.families.get_mut(name) else {
            return;
        };
        match fam.samples.iter_mut().find(|(l, _)| same_labels(l, labels)) {
            Some((_, v)) => *v = value,
            None => {
                let labels = labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                fam.samples.push((labels, value));
            }
        }
    }

    /// Adds to a labelled sample (used for phase durations summed over redirects).
    pub fn add_labeled(
        &mut self,
        name: &str,
        help: &'static str,
        labels: &[(&str, &str)],
        delta: f64,
    ) {
        let current = self.get_labeled(name, labels).unwrap_or(0.0);
        self.set_labeled(name, help, labels, current + delta);
    }

    pub fn get(&self, name: &str) -> Option<f64> {
        self.get_labeled(name, &[])
    }

    pub fn get_labeled(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let fam = self.families.get(name)?;
        fam.samples
            .iter()
            .find(|(l, _)| same_labels(l, labels))
            .map(|(_, v)| *v)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.families.contains_key(name)
    }

    pub fn remove(&mut self, name: &str) {
        self.families.remove(name);
    }

    pub fn families(&self) -> impl Iterator<Item = (&String, &Family)> {
        self.families.iter()
    }

    /// Prometheus text format 0.0.4, as client_golang writes it.
    pub fn encode_text(&self) -> String {
        let mut out = String::with_capacity(64 * self.families.len() + 64);
        for (name, fam) in &self.families {
            out.push_str("# HELP ");
            out.push_str(name);
            out.push(' ');
            push_escaped_help(&mut out, fam.help);
            out.push_str("\n# TYPE ");
            out.push_str(name);
            out.push_str(" gauge\n");
            let mut samples: Vec<&(Vec<(String, String)>, f64)> = fam.samples.iter().collect();
            if samples.len() > 1 {
                samples.sort_by(|a, b| {
                    a.0.iter()
                        .map(|(_, v)| v.as_str())
                        .cmp(b.0.iter().map(|(_, v)| v.as_str()))
                });
            }
            for (labels, value) in samples {
                out.push_str(name);
                if !labels.is_empty() {
                    out.push('{');
                    // client_golang sorts label pairs by name; probers mostly write them so.
                    if labels.windows(2).all(|w| w[0].0 <= w[1].0) {
                        push_label_pairs(&mut out, labels.iter());
                    } else {
                        let mut sorted: Vec<&(String, String)> = labels.iter().collect();
                        sorted.sort_by(|a, b| a.0.cmp(&b.0));
                        push_label_pairs(&mut out, sorted.into_iter());
                    }
                    out.push('}');
                }
                out.push(' ');
                push_go_float(&mut out, *value);
                out.push('\n');
            }
        }
        out
    }
}

/// Whether a stored label set is `labels`, pair by pair.
fn same_labels(stored: &[(String, String)], labels: &[(&str, &str)]) -> bool {
    stored.len() == labels.len()
        && stored
            .iter()
            .zip(labels)
            .all(|((k, v), (k2, v2))| k == k2 && v == v2)
}

fn push_label_pairs<'a>(out: &mut String, pairs: impl Iterator<Item = &'a (String, String)>) {
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_label(out, k, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::go::format_go_float;

    #[test]
    fn floats_print_like_go() {
        for (v, want) in [
            (1.0, "1"),
            (0.0, "0"),
            (1.44541248e9, "1.44541248e+09"),
            (3668918509.0, "3.668918509e+09"),
            (-62135596800.0, "-6.21355968e+10"),
            (0.004515552, "0.004515552"),
            (2.137e-05, "2.137e-05"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1.1, "1.1"),
            (-1.0, "-1"),
            (0.0001, "0.0001"),
            (200.0, "200"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(format_go_float(v), want, "{v}");
        }
    }

    #[test]
    fn text_is_sorted_by_name_and_label_values() {
        let mut r = Registry::new();
        r.set(
            "probe_success",
            "Displays whether or not the probe was a success",
            1.0,
        );
        r.set_labeled(
            "probe_http_duration_seconds",
            "Duration of http request by phase, summed over all redirects",
            &[("phase", "tls")],
            0.5,
        );
        r.set_labeled(
            "probe_http_duration_seconds",
            "Duration of http request by phase, summed over all redirects",
            &[("phase", "connect")],
            0.25,
        );
        let text = r.encode_text();
        assert_eq!(
            text,
            "# HELP probe_http_duration_seconds Duration of http request by phase, summed over all redirects\n\
             # TYPE probe_http_duration_seconds gauge\n\
             probe_http_duration_seconds{phase=\"connect\"} 0.25\n\
             probe_http_duration_seconds{phase=\"tls\"} 0.5\n\
             # HELP probe_success Displays whether or not the probe was a success\n\
             # TYPE probe_success gauge\n\
             probe_success 1\n"
        );
    }
}
