//! Running one scenario's outputs through a comparison, and the per-scenario report
//! every conformance suite prints (`--nocapture`) or fails with.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::compare::{Outcome, Suite};
use super::daemons::Daemon;
use super::expo::Exposition;

/// One exporter's answer to a `/probe` request: the body of a 200, or what went wrong.
pub type ProbeText = Result<String, String>;

/// Both exporters' answers for one scenario.
pub struct Outputs {
    pub bbe: ProbeText,
    pub bw: ProbeText,
}

impl Outputs {
    /// Parses both outputs and hands them to `compare`; a failed probe request or an
    /// unparsable output is a failure.
    pub fn compare(&self, compare: impl FnOnce(&Exposition, &Exposition) -> Outcome) -> Outcome {
        match (&self.bbe, &self.bw) {
            (Ok(a), Ok(b)) => match (Exposition::parse(a), Exposition::parse(b)) {
                (Ok(ea), Ok(eb)) => compare(&ea, &eb),
                (ea, eb) => Outcome::failure(format!(
                    "unparsable output: blackbox_exporter {:?}, blackwatch {:?}",
                    ea.err(),
                    eb.err()
                )),
            },
            (a, b) => Outcome::failure(format!(
                "probe request failed: blackbox_exporter {:?}, blackwatch {:?}",
                a.as_ref().err(),
                b.as_ref().err()
            )),
        }
    }
}

/// The module and target of a failing scenario, as [`Report::add`] shows them.
pub fn module_context(module_yaml: &str, target: &str) -> String {
    format!(
        "    module:\n      {}\n    target: {target}\n",
        module_yaml.trim_end().replace('\n', "\n      ")
    )
}

/// The per-scenario report of one suite.
pub struct Report {
    suite: &'static Suite,
    text: String,
    total: usize,
    failed: Vec<String>,
    used: BTreeSet<String>,
}

impl Report {
    pub fn new(suite: &'static Suite) -> Self {
        Report {
            suite,
            text: String::new(),
            total: 0,
            failed: Vec::new(),
            used: BTreeSet::new(),
        }
    }

    /// Adds scenario `name` (`[PASS]`/`[FAIL]`, then `note` on the same line): the
    /// deliberate differences observed and the failures; for a failing scenario also
    /// `context` (indented lines) and both outputs.
    pub fn add(
        &mut self,
        name: &str,
        note: &str,
        outcome: Outcome,
        context: &str,
        outputs: &Outputs,
    ) {
        self.total += 1;
        self.used.extend(outcome.used);
        let passed = outcome.failures.is_empty();
        let status = if passed { "PASS" } else { "FAIL" };
        let _ = writeln!(self.text, "[{status}] {name}{note}");
        for d in &outcome.deliberate {
            let _ = writeln!(self.text, "    deliberate: {d}");
        }
        for f in &outcome.failures {
            let _ = writeln!(self.text, "    DIFF: {f}");
        }
        if !passed {
            let _ = writeln!(
                self.text,
                "{context}    --- blackbox_exporter ---\n{}\n    --- blackwatch ---\n{}",
                outputs.bbe.as_deref().unwrap_or_else(|e| e),
                outputs.bw.as_deref().unwrap_or_else(|e| e),
            );
            self.failed.push(name.to_owned());
        }
    }

    /// Adds the summary (with `note`) and the table, then asserts every scenario passed
    /// and, when the suite asks for it, every table entry was needed. Prints the report
    /// when all is well; a failure message carries it and both daemons' logs.
    pub fn finish(mut self, note: &str, blackbox: &Daemon, blackwatch: &Daemon) {
        let name = self.suite.name;
        let _ = writeln!(
            self.text,
            "\n{}/{} {name} scenarios pass against blackbox_exporter 0.23{note}.\n{}",
            self.total - self.failed.len(),
            self.total,
            self.suite.table_text()
        );
        if self.suite.every_entry_used {
            let unused = self.suite.unused(&self.used);
            assert!(
                unused.is_empty(),
                "deliberate differences no scenario needed (remove them or add a scenario): \
                 {unused:?}\n\n{}",
                self.text
            );
        }
        if self.failed.is_empty() {
            println!("{}", self.text);
        }
        assert!(
            self.failed.is_empty(),
            "{} of {} {name} scenarios differ from blackbox_exporter: {:?}\n\n{}\n\
             blackbox_exporter log:\n{}\nblackwatch log:\n{}",
            self.failed.len(),
            self.total,
            self.failed,
            self.text,
            blackbox.log(),
            blackwatch.log()
        );
    }
}
