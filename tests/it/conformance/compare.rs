//! What the four conformance suites (http, tcp, icmp, dns) share when they compare
//! a blackbox_exporter 0.23 `/probe` output with blackwatch's:
//!
//! * the deliberate-difference table types ([`Difference`], [`Deliberate`]) and the
//!   checks on a table (documented, names only known scenarios, every entry needed);
//! * a [`Suite`]: its table, its timing metrics and their slack;
//! * the [`Outcome`] of one scenario and the checks every suite makes: `probe_success`
//!   on either side, blackwatch's `probe_timeout_seconds`, the normalisation by the
//!   metric-level table entries ([`Suite::normalise`]) and the series-by-series
//!   comparison ([`Suite::compare_series`]): names, label sets, values as written,
//!   timing plausibility, HELP and TYPE lines, order.
//!
//! Protocol-specific checks and table entries (request capture, connection- or
//! family-dependent metrics) stay in each suite.

use std::collections::BTreeSet;
use std::fmt;
use std::fmt::Write as _;

use super::expo::{Exposition, SeriesKey};

// ---------------------------------------------------------------------------
// The deliberate-difference table
// ---------------------------------------------------------------------------

/// What kind of difference a [`Deliberate`] entry allows.
#[derive(Clone, Copy, Debug)]
pub enum Difference {
    /// Series of this metric appear only in blackwatch's output; they are left out of
    /// the comparison.
    OnlyInBlackwatch(&'static str),
    /// Blackwatch's series of `metric` carry the extra label `label` (and must); the
    /// series are compared with it removed.
    ExtraLabel {
        metric: &'static str,
        label: &'static str,
    },
    /// In this scenario blackbox_exporter 0.23 and blackwatch legitimately take
    /// different paths; only blackwatch's own expectations are checked.
    Scenario(&'static str),
    /// A difference that no loopback scenario can exercise; listed for completeness.
    NotExercised(&'static str),
    /// http: the target server sees a different value of this request header.
    RequestHeader(&'static str),
    /// tcp: 0.23 has this metric where blackwatch does not, in scenarios whose
    /// connection failed (blackwatch registers it only once connected).
    OnlyInBlackboxWhenNotConnected(&'static str),
    /// tcp: the scenario's configuration does not load in 0.23; it runs through
    /// blackwatch only.
    BlackwatchOnly(&'static str),
    /// icmp: series of this metric appear only in blackbox_exporter's output, for IPv6
    /// targets.
    OnlyInBlackboxForIpv6(&'static str),
    /// grpc: 0.23 registers this TLS metric on every probe (0 unless a call returned over
    /// TLS); blackwatch, as master, only after such a call.
    OnlyInBlackboxWithoutTls(&'static str),
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::OnlyInBlackwatch(m) => write!(f, "metric {m} only in blackwatch"),
            Difference::ExtraLabel { metric, label } => {
                write!(f, "label {label} of {metric} only in blackwatch")
            }
            Difference::Scenario(s) => write!(f, "scenario {s}"),
            Difference::NotExercised(what) => write!(f, "{what} (not exercised)"),
            Difference::RequestHeader(h) => write!(f, "request header {h}"),
            Difference::OnlyInBlackboxWhenNotConnected(m) => {
                write!(f, "metric {m} only in 0.23 when the connection failed")
            }
            Difference::BlackwatchOnly(s) => write!(f, "scenario {s} (blackwatch only)"),
            Difference::OnlyInBlackboxForIpv6(m) => {
                write!(f, "metric {m} only in blackbox_exporter, for IPv6 targets")
            }
            Difference::OnlyInBlackboxWithoutTls(m) => {
                write!(f, "metric {m} only in 0.23 when no call returned over TLS")
            }
        }
    }
}

/// One documented, deliberate difference between blackwatch and blackbox_exporter 0.23.
#[derive(Clone, Copy, Debug)]
pub struct Deliberate {
    pub what: Difference,
    /// The upstream version (or the library) the behaviour blackwatch follows comes from.
    pub since: &'static str,
    pub reason: &'static str,
}

/// One conformance suite's comparison rules.
#[derive(Debug)]
pub struct Suite {
    /// `http`, `tcp`, ...: used in the report.
    pub name: &'static str,
    /// Every difference the comparison tolerates, each with its reason.
    pub table: &'static [Deliberate],
    /// Metrics whose values depend on timing: compared for presence and plausibility
    /// only.
    pub timing_metrics: &'static [&'static str],
    /// Scheduling slack allowed above the module timeout for timing values.
    pub timeout_slack: f64,
    /// Whether every table entry (but [`Difference::NotExercised`] ones) must be needed
    /// by some scenario.
    pub every_entry_used: bool,
}

impl Suite {
    /// Asserts every table entry has a real reason and a version (or cause).
    pub fn assert_documented(&self) {
        assert!(!self.table.is_empty(), "{} table is empty", self.name);
        for d in self.table {
            assert!(d.reason.len() > 40, "{d:?} needs a real reason");
            assert!(!d.since.is_empty(), "{d:?} needs a version or a cause");
        }
    }

    /// Asserts the scenario names are unique and every whole-scenario table entry names
    /// one of them.
    pub fn assert_scenario_names<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let names: Vec<&str> = names.into_iter().collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "scenario names must be unique");
        for d in self.table {
            if let Difference::Scenario(s) | Difference::BlackwatchOnly(s) = d.what {
                assert!(
                    unique.contains(s),
                    "the table names an unknown scenario {s}"
                );
            }
        }
    }

    /// The whole-scenario entry ([`Difference::Scenario`] or
    /// [`Difference::BlackwatchOnly`]) for scenario `name`, if any.
    pub fn scenario_rule(&self, name: &str) -> Option<&'static Deliberate> {
        self.table.iter().find(|d| match d.what {
            Difference::Scenario(s) | Difference::BlackwatchOnly(s) => s == name,
            _ => false,
        })
    }

    /// Whether scenario `name` runs through blackwatch only.
    pub fn blackwatch_only(&self, name: &str) -> bool {
        self.scenario_rule(name)
            .is_some_and(|d| matches!(d.what, Difference::BlackwatchOnly(_)))
    }

    /// Table entries no scenario needed (as displayed), [`Difference::NotExercised`]
    /// ones aside.
    pub fn unused(&self, used: &BTreeSet<String>) -> Vec<String> {
        self.table
            .iter()
            .filter(|d| !matches!(d.what, Difference::NotExercised(_)))
            .map(|d| d.what.to_string())
            .filter(|w| !used.contains(w))
            .collect()
    }

    /// The table as the report shows it.
    pub fn table_text(&self) -> String {
        let mut text = format!(
            "Deliberate {} differences (blackwatch follows blackbox_exporter master; \
             reference is 0.23):\n",
            self.name
        );
        for d in self.table {
            let _ = writeln!(text, "  - {} [since {}]: {}", d.what, d.since, d.reason);
        }
        text
    }

    /// Applies the metric-level entries every suite shares to copies of the outputs:
    /// [`Difference::OnlyInBlackwatch`] metrics leave blackwatch's output,
    /// [`Difference::ExtraLabel`] labels leave blackwatch's series (which must have
    /// them). The other kinds are the suite's business.
    pub fn normalise(&self, bw: &mut Exposition, out: &mut Outcome) {
        for d in self.table {
            match d.what {
                Difference::OnlyInBlackwatch(metric) => {
                    let had_series = bw.remove_metric(metric);
                    if had_series {
                        out.note(
                            d,
                            format!("{metric} only in blackwatch (since {})", d.since),
                        );
                    }
                }
                Difference::ExtraLabel { metric, label } => {
                    for sample in bw.samples.iter_mut().filter(|s| s.key.name == metric) {
                        match sample.key.labels.remove(label) {
                            Some(value) => out.note(
                                d,
                                format!(
                                    "{metric} has {label}={value:?} in blackwatch (since {})",
                                    d.since
                                ),
                            ),
                            None => out
                                .failures
                                .push(format!("blackwatch's {metric} lacks the {label} label")),
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Compares two (normalised) outputs series by series: the same series with the
    /// same values written the same way, timing metrics plausible (finite, ≥ 0, below
    /// `timeout` plus slack) and zero in both or in neither, the same HELP and TYPE
    /// lines, the same order of the series both have.
    pub fn compare_series(
        &self,
        bbe: &Exposition,
        bw: &Exposition,
        timeout: f64,
        out: &mut Outcome,
    ) {
        let a = bbe.by_key();
        let b = bw.by_key();
        for (key, sa) in &a {
            let Some(sb) = b.get(key) else {
                out.failures
                    .push(format!("only in blackbox_exporter: {key} {}", sa.raw));
                continue;
            };
            if self.timing_metrics.contains(&key.name.as_str()) {
                self.check_timing(out, "blackbox_exporter", key, sa.value, timeout);
                self.check_timing(out, "blackwatch", key, sb.value, timeout);
                if (sa.value == 0.0) != (sb.value == 0.0) {
                    out.failures.push(format!(
                        "{key}: zero in one output only: blackbox_exporter {}, blackwatch {}",
                        sa.raw, sb.raw
                    ));
                }
                continue;
            }
            let same_value = sa.value == sb.value || (sa.value.is_nan() && sb.value.is_nan());
            if !same_value {
                out.failures.push(format!(
                    "{key}: blackbox_exporter {}, blackwatch {}",
                    sa.raw, sb.raw
                ));
            } else if sa.raw != sb.raw {
                out.failures.push(format!(
                    "{key}: same value, formatted differently: blackbox_exporter {}, \
                     blackwatch {}",
                    sa.raw, sb.raw
                ));
            }
        }
        for (key, sb) in &b {
            if !a.contains_key(key) {
                out.failures
                    .push(format!("only in blackwatch: {key} {}", sb.raw));
            }
        }

        for (name, help) in &bbe.help {
            if let Some(other) = bw.help.get(name) {
                if help != other {
                    out.failures.push(format!(
                        "HELP of {name}: blackbox_exporter {help:?}, blackwatch {other:?}"
                    ));
                }
            }
        }
        for (name, kind) in &bbe.types {
            if let Some(other) = bw.types.get(name) {
                if kind != other {
                    out.failures.push(format!(
                        "TYPE of {name}: blackbox_exporter {kind}, blackwatch {other}"
                    ));
                }
            }
        }

        let common: BTreeSet<&SeriesKey> = a.keys().filter(|k| b.contains_key(*k)).collect();
        let order = |e: &Exposition| -> Vec<String> {
            e.samples
                .iter()
                .filter(|s| common.contains(&s.key))
                .map(|s| s.key.to_string())
                .collect()
        };
        let (order_a, order_b) = (order(bbe), order(bw));
        if order_a != order_b {
            out.failures.push(format!(
                "series order differs:\n  blackbox_exporter: {order_a:?}\n  blackwatch:        \
                 {order_b:?}"
            ));
        }
    }

    fn check_timing(
        &self,
        out: &mut Outcome,
        who: &str,
        key: &SeriesKey,
        value: f64,
        timeout: f64,
    ) {
        if !(value.is_finite() && value >= 0.0 && value < timeout + self.timeout_slack) {
            out.failures.push(format!(
                "{who}: implausible timing {key} = {value} (module timeout {timeout}s)"
            ));
        }
    }
}

// ---------------------------------------------------------------------------
// One scenario's outcome
// ---------------------------------------------------------------------------

/// What the comparison of one scenario found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Undocumented differences: each fails the test.
    pub failures: Vec<String>,
    /// Deliberate differences that were observed (for the report).
    pub deliberate: Vec<String>,
    /// Table entries (as displayed) this scenario needed.
    pub used: BTreeSet<String>,
}

impl Outcome {
    /// An outcome with one failure.
    pub fn failure(text: String) -> Self {
        Outcome {
            failures: vec![text],
            ..Outcome::default()
        }
    }

    /// Records that table entry `d` was needed, with what was observed.
    pub fn note(&mut self, d: &Deliberate, text: String) {
        self.used.insert(d.what.to_string());
        self.deliberate.push(text);
    }

    /// Records a whole-scenario entry: both verdicts go into the report.
    pub fn whole_scenario(&mut self, d: &Deliberate, bbe: &Exposition, bw: &Exposition) {
        self.note(
            d,
            format!(
                "whole scenario (since {}): blackbox_exporter probe_success {:?}, \
                 blackwatch {:?}",
                d.since,
                bbe.value("probe_success"),
                bw.value("probe_success")
            ),
        );
    }

    /// blackbox_exporter's `probe_success` must be what the scenario expects (checks
    /// the scenario itself is set up right).
    pub fn expect_reference_success(&mut self, bbe: &Exposition, expect_success: bool) {
        let want = f64::from(u8::from(expect_success));
        let got = bbe.value("probe_success");
        if got != Some(want) {
            self.failures.push(format!(
                "scenario set-up: blackbox_exporter gave probe_success {got:?}, the scenario \
                 expects {want}"
            ));
        }
    }

    /// blackwatch's `probe_success` must be what the scenario expects.
    pub fn expect_blackwatch_success(&mut self, bw: &Exposition, expect_success: bool) {
        let want = f64::from(u8::from(expect_success));
        let got = bw.value("probe_success");
        if got != Some(want) {
            self.failures
                .push(format!("blackwatch probe_success {got:?}, expected {want}"));
        }
    }

    /// blackwatch's `probe_timeout_seconds` (only in blackwatch) must be the module
    /// timeout.
    pub fn expect_timeout_metric(&mut self, bw: &Exposition, timeout: f64) {
        match bw.value("probe_timeout_seconds") {
            Some(t) if t == timeout => {}
            other => self.failures.push(format!(
                "blackwatch probe_timeout_seconds {other:?}, expected {timeout}"
            )),
        }
    }
}
