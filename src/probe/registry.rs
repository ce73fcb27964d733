//! The result of one probe as data: metric families of gauges, written by the probers and
//! encoded in Prometheus text format exactly as blackbox_exporter's per-probe registry is
//! (sorted by name, then by label values; Go `%g` number formatting; upstream help strings).
//!
//! It is plain data rather than a prometheus-client registry so the scheduler's store and
//! the rule engine can read results without parsing text.

use crate::base::expo::escape_label;
use crate::base::go::format_go_float;
use std::collections::BTreeMap;
use std::fmt::Write as _;

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
        let fam = self
            .families
            .entry(name.to_string())
            .or_insert_with(|| Family {
                help,
                samples: Vec::new(),
            });
        let labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match fam.samples.iter_mut().find(|(l, _)| *l == labels) {
            Some((_, v)) => *v = value,
            None => fam.samples.push((labels, value)),
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
            .find(|(l, _)| {
                l.len() == labels.len()
                    && l.iter()
                        .zip(labels)
                        .all(|((k, v), (k2, v2))| k == k2 && v == v2)
            })
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
            let _ = writeln!(out, "# HELP {name} {}", escape_help(fam.help));
            let _ = writeln!(out, "# TYPE {name} gauge");
            let mut samples: Vec<&(Vec<(String, String)>, f64)> = fam.samples.iter().collect();
            samples.sort_by(|a, b| {
                let ka: Vec<&str> = a.0.iter().map(|(_, v)| v.as_str()).collect();
                let kb: Vec<&str> = b.0.iter().map(|(_, v)| v.as_str()).collect();
                ka.cmp(&kb)
            });
            for (labels, value) in samples {
                out.push_str(name);
                if !labels.is_empty() {
                    // client_golang sorts label pairs by name.
                    let mut sorted: Vec<&(String, String)> = labels.iter().collect();
                    sorted.sort_by(|a, b| a.0.cmp(&b.0));
                    out.push('{');
                    for (i, (k, v)) in sorted.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                    }
                    out.push('}');
                }
                out.push(' ');
                out.push_str(&format_go_float(*value));
                out.push('\n');
            }
        }
        out
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

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
