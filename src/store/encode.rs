//! Text exposition of the store for `/metrics`: one family per metric name (sorted), every
//! group's series inside it (groups sorted by job, instance, module). The same lines are valid
//! in text format 0.0.4 and OpenMetrics (all results are gauges); the caller adds `# EOF`.
//!
//! The store's lock is held only to copy a snapshot (`Arc`s of the groups and the interned
//! tables); the text is written after it is released, so probes finishing meanwhile never
//! wait for an exposition. Label strings are rendered once — a group's target labels when the
//! group is recorded, a metric's own label set when it is interned — so a line is a few
//! copies. Within a line the metric's own labels come first, then the target labels.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Group, GroupKey, LabelPairs, MetricInfo, Store};
use crate::base::expo::{push_escaped_help, push_label};
use crate::base::go::push_go_float;

/// `k="v",…` for a sorted label set.
pub(super) fn render_labels(set: &LabelPairs) -> String {
    let mut out = String::new();
    for (i, (k, v)) in set.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_label(&mut out, k, v);
    }
    out
}

/// `k="v",…` for a label map (sorted by name).
pub(super) fn render_map(map: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_label(&mut out, k, v);
    }
    out
}

/// Labels of a line whose own labels share a name with the target labels: merged, the
/// metric's value wins.
fn write_merged(out: &mut String, own: &LabelPairs, target: &LabelPairs) {
    let mut first = true;
    for (k, v) in own.iter() {
        if !first {
            out.push(',');
        }
        first = false;
        push_label(out, k, v);
    }
    for (k, v) in target.iter() {
        if own.iter().any(|(ok, _)| ok == k) {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        push_label(out, k, v);
    }
}

struct Snapshot {
    groups: Vec<(GroupKey, Arc<Group>)>,
    metrics: Vec<MetricInfo>,
    label_sets: Vec<LabelPairs>,
    rendered_sets: Vec<Arc<str>>,
}

impl Store {
    fn snapshot(&self) -> Snapshot {
        let inner = self.read();
        Snapshot {
            groups: inner
                .groups
                .iter()
                .map(|(k, g)| (k.clone(), g.clone()))
                .collect(),
            metrics: inner.interner.metrics.clone(),
            label_sets: inner.interner.label_sets.clone(),
            rendered_sets: inner.interner.rendered_sets.clone(),
        }
    }

    /// Appends every result this replica probed to `out`; returns the number of series
    /// written.
    pub fn encode_text(&self, out: &mut String) -> usize {
        self.encode_text_with(out, false)
    }

    /// As [`Store::encode_text`]; with `cluster`, also the results other replicas probed
    /// (`/metrics?cluster=1`).
    pub fn encode_text_with(&self, out: &mut String, cluster: bool) -> usize {
        let mut snap = self.snapshot();
        if !cluster {
            snap.groups.retain(|(_, g)| !g.remote);
        }
        snap.groups.sort_by(|a, b| a.0.cmp(&b.0));
        out.reserve(self.last_encoded_len.load(Ordering::Relaxed));
        let start_len = out.len();

        // Bucket (group, series) by metric id in one pass.
        let mut buckets: Vec<Vec<(u32, u32)>> = vec![Vec::new(); snap.metrics.len()];
        for (gi, (_, g)) in snap.groups.iter().enumerate() {
            for (si, s) in g.series.iter().enumerate() {
                buckets[s.metric as usize].push((gi as u32, si as u32));
            }
        }
        let mut order: Vec<usize> = (0..snap.metrics.len())
            .filter(|id| !buckets[*id].is_empty())
            .collect();
        order.sort_by(|a, b| snap.metrics[*a].name.cmp(&snap.metrics[*b].name));

        let mut written = 0;
        for id in order {
            let info = &snap.metrics[id];
            out.push_str("# HELP ");
            out.push_str(&info.name);
            out.push(' ');
            push_escaped_help(out, info.help);
            out.push('\n');
            let _ = writeln!(out, "# TYPE {} gauge", info.name);
            for &(gi, si) in &buckets[id] {
                let g = &snap.groups[gi as usize].1;
                let s = &g.series[si as usize];
                let own = &snap.label_sets[s.labels as usize];
                out.push_str(&info.name);
                out.push('{');
                let clash = own.iter().any(|(k, _)| {
                    g.target_labels
                        .binary_search_by(|(tk, _)| tk.as_ref().cmp(k.as_ref()))
                        .is_ok()
                });
                if clash {
                    write_merged(out, own, &g.target_labels);
                } else if own.is_empty() {
                    out.push_str(&g.rendered);
                } else {
                    out.push_str(&snap.rendered_sets[s.labels as usize]);
                    if !g.rendered.is_empty() {
                        out.push(',');
                        out.push_str(&g.rendered);
                    }
                }
                out.push_str("} ");
                push_go_float(out, s.value);
                out.push('\n');
                written += 1;
            }
        }
        self.last_encoded_len
            .store(out.len() - start_len, Ordering::Relaxed);
        written
    }
}
