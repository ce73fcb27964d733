//! Text exposition of the store for `/metrics`: one family per metric name (sorted), every
//! group's series inside it (groups sorted by job, instance, module), labels sorted by name.
//! The same lines are valid in text format 0.0.4 and OpenMetrics (all results are gauges);
//! the caller adds OpenMetrics' `# EOF`.

use std::fmt::Write as _;

use super::{merge_labels, Store};
use crate::probe::registry::{escape_label, format_go_float};

impl Store {
    /// Appends every stored result to `out`; returns the number of series written.
    pub fn encode_text(&self, out: &mut String) -> usize {
        let inner = self.read();
        let mut keys: Vec<_> = inner.groups.keys().collect();
        keys.sort();
        // Bucket (group, series) by metric id in one pass.
        let mut buckets: Vec<Vec<(usize, usize)>> = vec![Vec::new(); inner.interner.metrics.len()];
        let groups: Vec<_> = keys.iter().map(|k| &inner.groups[*k]).collect();
        for (gi, g) in groups.iter().enumerate() {
            for (si, s) in g.series.iter().enumerate() {
                buckets[s.metric as usize].push((gi, si));
            }
        }
        let mut order: Vec<u32> = (0..inner.interner.metrics.len() as u32)
            .filter(|id| !buckets[*id as usize].is_empty())
            .collect();
        order.sort_by(|a, b| {
            inner.interner.metrics[*a as usize]
                .name
                .cmp(&inner.interner.metrics[*b as usize].name)
        });
        let mut written = 0;
        for id in order {
            let info = &inner.interner.metrics[id as usize];
            let _ = writeln!(
                out,
                "# HELP {} {}",
                info.name,
                info.help.replace('\\', "\\\\").replace('\n', "\\n")
            );
            let _ = writeln!(out, "# TYPE {} gauge", info.name);
            for &(gi, si) in &buckets[id as usize] {
                let g = groups[gi];
                let s = &g.series[si];
                let own = &inner.interner.label_sets[s.labels as usize];
                out.push_str(&info.name);
                out.push('{');
                for (i, (k, v)) in merge_labels(&g.target_labels, own).iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(k);
                    out.push_str("=\"");
                    out.push_str(&escape_label(v));
                    out.push('"');
                }
                out.push_str("} ");
                out.push_str(&format_go_float(s.value));
                out.push('\n');
                written += 1;
            }
        }
        written
    }
}
