//! `Queryable` for the probe result store.
//!
//! Deliberate difference from Prometheus: the store keeps only the latest result of each
//! target (replaced whole by each probe; a removed target's series vanish at once), so an
//! instant selector returns each series' latest sample **regardless of its age** instead of
//! looking back 5 minutes. A series missing from the latest probe result is gone, which is
//! what Prometheus' staleness handling gives a scraped `/probe` too; a target whose probes
//! stopped (removed from the config) has no group left. Range selectors read the history
//! kept for metrics declared with `Store::set_ranges` (see `Expr::ranges`).

use std::sync::Arc;

use super::{matches_all, MatchOp, Matcher, Queryable, Sample, Series, NAME};
use crate::rules::expr::Labels;
use crate::store::Store;

/// The metric names a selector can read: the `__name__="…"` value, or every name the
/// store knows that passes the `__name__` matchers.
fn names(store: &Store, matchers: &[Matcher]) -> Vec<Arc<str>> {
    for m in matchers {
        if let (true, MatchOp::Equal(v)) = (m.name == NAME, &m.op) {
            return vec![Arc::from(v.as_str())];
        }
    }
    store
        .metric_names()
        .into_iter()
        .filter(|n| {
            matchers
                .iter()
                .filter(|m| m.name == NAME)
                .all(|m| m.matches(n))
        })
        .collect()
}

fn labels(name: &Arc<str>, pairs: Vec<(Arc<str>, Arc<str>)>) -> Labels {
    let mut l = Labels::from_sorted(pairs);
    l.set(NAME, name);
    l
}

impl Queryable for Store {
    fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Vec<Series> {
        let mut out = Vec::new();
        for name in names(self, matchers) {
            for s in self.range(&name, start_ms, end_ms) {
                let labels = labels(&name, s.labels);
                if matches_all(matchers, &labels) {
                    out.push(Series {
                        labels,
                        points: s.points,
                    });
                }
            }
        }
        out
    }

    fn latest(&self, matchers: &[Matcher], _at_ms: i64) -> Vec<Sample> {
        let mut out = Vec::new();
        for name in names(self, matchers) {
            for s in self.instant(&name) {
                let labels = labels(&name, s.labels);
                if matches_all(matchers, &labels) && !super::is_stale(s.value) {
                    out.push(Sample {
                        labels,
                        value: s.value,
                    });
                }
            }
        }
        out
    }
}
