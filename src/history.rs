//! Recent probe results with their debug text, for `/` and `/logs` (blackbox's history):
//! the last `limit` probes, plus up to `limit` older failures kept aside so a flapping
//! target's last error stays visible. Ids increase from 0.

use std::collections::VecDeque;

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

    pub fn add(&mut self, module: &str, target: &str, success: bool, debug_output: String) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if self.limit == 0 {
            return id;
        }
        self.recent.push_back(Entry {
            id,
            module: module.to_string(),
            target: target.to_string(),
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
        all.sort_by_key(|e| std::cmp::Reverse(e.id));
        all
    }

    pub fn get_by_id(&self, id: u64) -> Option<&Entry> {
        self.preserved_failures
            .iter()
            .chain(self.recent.iter())
            .find(|e| e.id == id)
    }

    /// The oldest entry for a target (and module, when given), as upstream returns.
    pub fn get_by_target(&self, target: &str, module: Option<&str>) -> Option<&Entry> {
        let mut all: Vec<&Entry> = self
            .preserved_failures
            .iter()
            .chain(self.recent.iter())
            .collect();
        all.sort_by_key(|e| e.id);
        all.into_iter()
            .find(|e| e.target == target && module.is_none_or(|m| e.module == m))
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
}
