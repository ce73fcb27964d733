//! Text exposition of the store for `/metrics`: one family per metric name (sorted), every
//! group's series inside it (groups sorted by job, instance, module), labels sorted by name.
//! The same lines are valid in text format 0.0.4 and OpenMetrics (all results are gauges);
//! the caller adds OpenMetrics' `# EOF`.

use std::fmt::Write as _;

use super::{LabelPairs, Store};
use crate::probe::registry::{escape_label, format_go_float};

/// Writes target and metric labels merged in name order (the metric's win on a clash),
/// without building the merged set.
fn write_merged_labels(out: &mut String, target: &LabelPairs, own: &LabelPairs) {
    let (mut i, mut j) = (0, 0);
    let mut first = true;
    loop {
        let pair = match (target.get(i), own.get(j)) {
            (Some(a), Some(b)) => match a.0.cmp(&b.0) {
                std::cmp::Ordering::Less => {
                    i += 1;
                    a
                }
                std::cmp::Ordering::Greater => {
                    j += 1;
                    b
                }
                std::cmp::Ordering::Equal => {
                    i += 1;
                    j += 1;
                    b
                }
            },
            (Some(a), None) => {
                i += 1;
                a
            }
            (None, Some(b)) => {
                j += 1;
                b
            }
            (None, None) => break,
        };
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&pair.0);
        out.push_str("=\"");
        if pair.1.contains(['\\', '"', '\n']) {
            out.push_str(&escape_label(&pair.1));
        } else {
            out.push_str(&pair.1);
        }
        out.push('"');
    }
}

/// Writes a value as Go would, without allocating for the common small integers.
fn write_value(out: &mut String, v: f64) {
    if v.fract() == 0.0 && v.abs() < 1e6 && !(v == 0.0 && v.is_sign_negative()) {
        let _ = write!(out, "{}", v as i64);
    } else {
        out.push_str(&format_go_float(v));
    }
}

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
                write_merged_labels(out, &g.target_labels, own);
                out.push_str("} ");
                write_value(out, s.value);
                out.push('\n');
                written += 1;
            }
        }
        written
    }
}
