//! Recent probe results with their debug text, for `/` and `/logs` (blackbox's history):
//! the last `limit` probes, plus up to `limit` older failures kept aside so a flapping
//! target's last error stays visible. Ids increase from 0.
//!
//! Bounded: at most `2 × limit` entries (`--history.limit`), each with its debug text cut at
//! [`MAX_DEBUG_OUTPUT_BYTES`] and its module and target at [`MAX_VALUE_BYTES`] (a visible
//! marker says how much was cut), so the history holds at most about
//! `2 × limit × 72 KiB` (14 MiB at the default limit of 100).

use std::collections::VecDeque;

use crate::probe::log::truncate;
pub use crate::probe::log::MAX_VALUE_BYTES;

/// The most bytes of one entry's debug text kept (the probe log itself is bounded by
/// `probe::log`; this also covers its metrics and module configuration).
pub const MAX_DEBUG_OUTPUT_BYTES: usize = 64 << 10;

#[derive(Clone, Debug)]
pub struct Entry {
    pub id: u64,
    pub module: String,
    pub target: String,
    pub success: bool,
    pub debug_output: String,
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

    pub fn add(
        &mut self,
        module: &str,
        target: &str,
        success: bool,
        mut debug_output: String,
    ) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if self.limit == 0 {
            return id;
        }
        if debug_output.len() > MAX_DEBUG_OUTPUT_BYTES {
            let mut end = MAX_DEBUG_OUTPUT_BYTES;
            while !debug_output.is_char_boundary(end) {
                end -= 1;
            }
            let cut = debug_output.len() - end;
            debug_output.truncate(end);
            debug_output.push_str(&format!("\n[debug output truncated: {cut} more bytes]\n"));
            debug_output.shrink_to_fit();
        }
        self.recent.push_back(Entry {
            id,
            module: truncate(module, MAX_VALUE_BYTES).into_owned(),
            target: truncate(target, MAX_VALUE_BYTES).into_owned(),
            success,
            debug_output,
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
        h.add("m", "a", false, "fail a".into());
        h.add("m", "b", true, "ok b".into());
        h.add("m", "c", true, "ok c".into());
        h.add("m", "d", true, "ok d".into());
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
        h.add("m1", "t", true, "first".into());
        h.add("m2", "t", true, "second".into());
        assert_eq!(h.get_by_target("t", None).map(|e| e.id), Some(0));
        assert_eq!(h.get_by_target("t", Some("m2")).map(|e| e.id), Some(1));
        assert!(h.get_by_target("x", None).is_none());
    }

    #[test]
    fn count_is_bounded_by_twice_the_limit() {
        let mut h = History::new(3);
        for i in 0..1000 {
            h.add("m", &format!("t{i}"), i % 2 == 0, String::new());
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
        let id = h.add(&"m".repeat(5000), &target, false, huge.clone());
        let e = h.get_by_id(id).expect("entry");
        assert!(
            e.debug_output.len() <= MAX_DEBUG_OUTPUT_BYTES + 64,
            "{} bytes",
            e.debug_output.len()
        );
        assert!(e.debug_output.starts_with(&huge[..1000]));
        assert!(
            e.debug_output.ends_with(&format!(
                "\n[debug output truncated: {} more bytes]\n",
                huge.len() - MAX_DEBUG_OUTPUT_BYTES
            )),
            "{}",
            &e.debug_output[e.debug_output.len() - 80..]
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
        let id = h.add("m", "t", true, small.clone());
        assert_eq!(h.get_by_id(id).map(|e| e.debug_output.as_str()), Some("ok"));
    }
}
