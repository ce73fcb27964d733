//! Recent probe results with their debug text, for `/` and `/logs` (blackbox's history):
//! the last `limit` probes, plus up to `limit` older failures kept aside so a flapping
//! target's last error stays visible. Ids increase from 0.
//!
//! Bounded: at most `2 × limit` entries (`--history.limit`), each with its debug text cut at
//! [`MAX_DEBUG_OUTPUT_BYTES`] and its module and target at [`MAX_VALUE_BYTES`] (a visible
//! marker says how much was cut), so the history holds at most about
//! `2 × limit × 72 KiB` (14 MiB at the default limit of 100).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use crate::probe::log::truncate;
pub use crate::probe::log::MAX_VALUE_BYTES;
use crate::probe::module::Module;

/// The most bytes of one entry's debug text kept (the probe log itself is bounded by
/// `probe::log`; this also covers its metrics and module configuration).
pub const MAX_DEBUG_OUTPUT_BYTES: usize = 64 << 10;

#[derive(Clone, Debug)]
pub struct Entry {
    pub id: u64,
    pub module: String,
    pub target: String,
    pub success: bool,
    debug: DebugOutput,
}

impl Entry {
    /// The debug text, as `/probe?debug=true` returned it.
    pub fn debug_output(&self) -> String {
        self.debug.render()
    }
}

/// A probe's debug text (blackbox_exporter's `debug=true` output): kept as its parts, which
/// the probe has anyway (its log, the metrics it returned as they were sent, the module),
/// and written out only when someone reads it. Every `/probe` adds one; few are read.
#[derive(Clone, Debug)]
pub enum DebugOutput {
    Parts {
        log: String,
        metrics: Bytes,
        module: Arc<Module>,
    },
    /// Already written (and, when over [`MAX_DEBUG_OUTPUT_BYTES`], cut).
    Text(String),
}

impl DebugOutput {
    /// The parts of a probe's debug text.
    pub fn new(log: String, metrics: Bytes, module: Arc<Module>) -> Self {
        DebugOutput::Parts {
            log,
            metrics,
            module,
        }
    }

    /// The debug text in full (not cut).
    pub fn render(&self) -> String {
        match self {
            DebugOutput::Text(t) => t.clone(),
            DebugOutput::Parts {
                log,
                metrics,
                module,
            } => {
                let metrics = String::from_utf8_lossy(metrics);
                let mut out = String::with_capacity(
                    log.len() + metrics.len() + module.yaml.len() + DEBUG_HEADINGS_BYTES,
                );
                out.push_str(LOGS_HEADING);
                out.push_str(log);
                out.push_str(METRICS_HEADING);
                out.push_str(&metrics);
                out.push_str(MODULE_HEADING);
                out.push_str(&module.yaml);
                out
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            DebugOutput::Text(t) => t.len(),
            DebugOutput::Parts {
                log,
                metrics,
                module,
            } => log.len() + metrics.len() + module.yaml.len() + DEBUG_HEADINGS_BYTES,
        }
    }
}

const LOGS_HEADING: &str = "Logs for the probe:\n";
const METRICS_HEADING: &str = "\n\n\nMetrics that would have been returned:\n";
const MODULE_HEADING: &str = "\n\n\nModule configuration:\n";
/// The bytes [`DebugOutput::render`] adds around the parts.
const DEBUG_HEADINGS_BYTES: usize =
    LOGS_HEADING.len() + METRICS_HEADING.len() + MODULE_HEADING.len();

impl From<String> for DebugOutput {
    fn from(text: String) -> Self {
        DebugOutput::Text(text)
    }
}

#[derive(Debug)]
pub struct History {
    limit: usize,
    next_id: u64,
    recent: VecDeque<Entry>,
    preserved_failures: VecDeque<Entry>,
}

impl History {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            next_id: 0,
            recent: VecDeque::new(),
            preserved_failures: VecDeque::new(),
        }
    }

    pub fn add(&mut self, module: &str, target: &str, success: bool, debug: DebugOutput) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if self.limit == 0 {
            return id;
        }
        // Kept as parts while small; a large one is written out and cut, which bounds the
        // entry (the module's YAML is shared with the config, but counts here all the same).
        let debug = if debug.len() > MAX_DEBUG_OUTPUT_BYTES {
            let mut text = debug.render();
            let mut end = MAX_DEBUG_OUTPUT_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let cut = text.len() - end;
            text.truncate(end);
            text.push_str(&format!("\n[debug output truncated: {cut} more bytes]\n"));
            text.shrink_to_fit();
            DebugOutput::Text(text)
        } else {
            debug
        };
        self.recent.push_back(Entry {
            id,
            module: truncate(module, MAX_VALUE_BYTES).into_owned(),
            target: truncate(target, MAX_VALUE_BYTES).into_owned(),
            success,
            debug,
        });
        while self.recent.len() > self.limit {
            if let Some(old) = self.recent.pop_front() {
                if !old.success {
                    self.preserved_failures.push_back(old);
                    while self.preserved_failures.len() > self.limit {
                        self.preserved_failures.pop_front();
                    }
                }
            }
        }
        id
    }

    /// Every entry, newest first.
    pub fn list(&self) -> Vec<&Entry> {
        let mut all: Vec<&Entry> = self
            .preserved_failures
            .iter()
            .chain(self.recent.iter())
            .collect();
        crate::base::sort::sort_by_key(&mut all, |e| std::cmp::Reverse(e.id));
        all
    }

    pub fn get_by_id(&self, id: u64) -> Option<&Entry> {
        self.preserved_failures
            .iter()
            .chain(self.recent.iter())
            .find(|e| e.id == id)
    }

    /// The oldest entry for a target (and module, when given), as upstream returns. Targets
    /// and modules are compared as stored, i.e. cut at [`MAX_VALUE_BYTES`].
    pub fn get_by_target(&self, target: &str, module: Option<&str>) -> Option<&Entry> {
        let target = truncate(target, MAX_VALUE_BYTES);
        let module = module.map(|m| truncate(m, MAX_VALUE_BYTES));
        let mut all: Vec<&Entry> = self
            .preserved_failures
            .iter()
            .chain(self.recent.iter())
            .collect();
        crate::base::sort::sort_by_key(&mut all, |e| e.id);
        all.into_iter()
            .find(|e| e.target == target && module.as_ref().is_none_or(|m| e.module == *m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_latest_and_preserves_expired_failures() {
        let mut h = History::new(2);
        h.add("m", "a", false, DebugOutput::from("fail a".to_string()));
        h.add("m", "b", true, DebugOutput::from("ok b".to_string()));
        h.add("m", "c", true, DebugOutput::from("ok c".to_string()));
        h.add("m", "d", true, DebugOutput::from("ok d".to_string()));
        let ids: Vec<u64> = h.list().iter().map(|e| e.id).collect();
        assert_eq!(
            ids,
            vec![3, 2, 0],
            "failure 0 is preserved, success 1 expired"
        );
        assert!(h.get_by_id(1).is_none());
        assert_eq!(h.get_by_id(0).map(|e| e.target.as_str()), Some("a"));
    }

    #[test]
    fn by_target_returns_first_inserted() {
        let mut h = History::new(10);
        h.add("m1", "t", true, DebugOutput::from("first".to_string()));
        h.add("m2", "t", true, DebugOutput::from("second".to_string()));
        assert_eq!(h.get_by_target("t", None).map(|e| e.id), Some(0));
        assert_eq!(h.get_by_target("t", Some("m2")).map(|e| e.id), Some(1));
        assert!(h.get_by_target("x", None).is_none());
    }

    #[test]
    fn count_is_bounded_by_twice_the_limit() {
        let mut h = History::new(3);
        for i in 0..1000 {
            h.add("m", &format!("t{i}"), i % 2 == 0, String::new().into());
        }
        let list = h.list();
        assert_eq!(list.len(), 6, "3 recent + 3 preserved failures");
        assert_eq!(list[0].id, 999);
        assert_eq!(
            list.iter().filter(|e| !e.success).count(),
            5,
            "997, 999 + 3 preserved"
        );
    }

    #[test]
    fn debug_output_module_and_target_are_cut_with_a_marker() {
        let mut h = History::new(2);
        let huge = "é".repeat(MAX_DEBUG_OUTPUT_BYTES); // twice the bound in bytes
        let target = format!("http://{}/", "a".repeat(10_000));
        let id = h.add(&"m".repeat(5000), &target, false, huge.clone().into());
        let e = h.get_by_id(id).expect("entry");
        let debug_output = e.debug_output();
        assert!(
            debug_output.len() <= MAX_DEBUG_OUTPUT_BYTES + 64,
            "{} bytes",
            debug_output.len()
        );
        assert!(debug_output.starts_with(&huge[..1000]));
        assert!(
            debug_output.ends_with(&format!(
                "\n[debug output truncated: {} more bytes]\n",
                huge.len() - MAX_DEBUG_OUTPUT_BYTES
            )),
            "{}",
            &debug_output[debug_output.len() - 80..]
        );
        assert!(e.target.len() < MAX_VALUE_BYTES + 32);
        assert!(e
            .target
            .ends_with(&format!("…[{} more bytes]", target.len() - MAX_VALUE_BYTES)));
        assert!(e.module.len() < MAX_VALUE_BYTES + 32);
        // /logs?target= finds it by the full target, as stored.
        assert_eq!(h.get_by_target(&target, None).map(|e| e.id), Some(id));
        assert_eq!(
            h.get_by_target(&target, Some(&"m".repeat(5000)))
                .map(|e| e.id),
            Some(id)
        );

        let small = "ok".to_string();
        let id = h.add("m", "t", true, small.clone().into());
        assert_eq!(
            h.get_by_id(id).map(|e| e.debug_output()),
            Some("ok".to_string())
        );
    }

    /// The parts are written out as blackbox_exporter's `debug=true` text when read, and a
    /// large set of parts is written out and cut when added.
    #[test]
    fn debug_output_parts_are_written_when_read() {
        let config = crate::config::load_str(
            "modules:\n  m:\n    prober: tcp\n",
            std::path::Path::new("t.yml"),
        )
        .expect("config");
        let module = std::sync::Arc::clone(&config.modules["m"]);
        let mut h = History::new(4);
        let metrics = Bytes::from_static(b"probe_success 1\n");
        let log = "ts=x level=info msg=\"Probe succeeded\"\n".to_string();
        let id = h.add(
            "m",
            "t",
            true,
            DebugOutput::new(log.clone(), metrics.clone(), Arc::clone(&module)),
        );
        let text = h.get_by_id(id).expect("entry").debug_output();
        assert_eq!(
            text,
            format!(
                "Logs for the probe:\n{log}\n\n\nMetrics that would have been returned:\nprobe_success 1\n\n\n\nModule configuration:\n{}",
                module.yaml
            )
        );
        assert_eq!(
            DebugOutput::new(log, metrics, Arc::clone(&module)).len(),
            text.len()
        );

        let huge_log = "x".repeat(MAX_DEBUG_OUTPUT_BYTES);
        let id = h.add(
            "m",
            "t",
            false,
            DebugOutput::new(huge_log, Bytes::from_static(b"probe_success 0\n"), module),
        );
        let text = h.get_by_id(id).expect("entry").debug_output();
        assert!(text.len() <= MAX_DEBUG_OUTPUT_BYTES + 64, "{}", text.len());
        assert!(
            text.ends_with(" more bytes]\n"),
            "{}",
            &text[text.len() - 80..]
        );
    }
}
