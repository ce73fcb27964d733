//! Inhibition (Alertmanager's `inhibit/inhibit.go`): rules from the config, a cache of the
//! alerts that match some rule's source side, and [`Inhibitor::mutes`] asked at flush time.
//!
//! The cache sees every alert (silenced ones too). A target is muted iff a cached source of
//! the same rule, with equal values for the rule's `equal` labels (a missing label counts as
//! empty), is not resolved at `now`. An alert that matches both sides of a rule cannot be
//! inhibited by sources that also match both sides (no self-inhibition). Pure: `now` is an
//! argument, nothing reads a clock.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use crate::labels::{fingerprint, LabelSet, Matchers};

/// One validated `inhibit_rules` entry.
#[derive(Clone, Debug)]
pub struct InhibitRule {
    pub name: Option<String>,
    /// `source_match` + `source_match_re` + `source_matchers`, ANDed.
    pub source: Matchers,
    pub target: Matchers,
    /// Label names whose values must be equal on source and target.
    pub equal: Vec<String>,
}

/// The fingerprint of the alert's `equal` label values (missing = empty), the key of the
/// source cache: FNV-1a over the sorted, de-duplicated names as `fingerprint` does, without
/// building a label set.
fn equal_key(sorted_equal: &[String], labels: &LabelSet) -> u64 {
    crate::labels::fingerprint_pairs(
        sorted_equal
            .iter()
            .map(|name| (name.as_str(), labels.get(name).map_or("", String::as_str))),
    )
}

impl InhibitRule {
    /// Upstream's `hasEqual` comparison: every `equal` label has the same value on both
    /// (a missing label is the empty value).
    pub fn equal_values_match(&self, a: &LabelSet, b: &LabelSet) -> bool {
        self.equal
            .iter()
            .all(|n| a.get(n).map_or("", String::as_str) == b.get(n).map_or("", String::as_str))
    }
}

/// What the inhibitor keeps of a source alert.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceAlert {
    pub labels: LabelSet,
    pub fingerprint: u64,
    pub ends_at: SystemTime,
}

impl SourceAlert {
    fn resolved(&self, now: SystemTime) -> bool {
        self.ends_at <= now
    }
}

/// The inhibition rules with their source caches.
#[derive(Debug, Default)]
pub struct Inhibitor {
    rules: Vec<(InhibitRule, RuleCache)>,
}

#[derive(Debug, Default)]
struct RuleCache {
    /// The rule's `equal` names, sorted and de-duplicated.
    equal: Vec<String>,
    /// Source alerts by fingerprint.
    sources: HashMap<u64, SourceAlert>,
    /// `equal` key → fingerprints of the cached sources with those values.
    index: HashMap<u64, HashSet<u64>>,
}

impl Inhibitor {
    pub fn new(rules: Vec<InhibitRule>) -> Self {
        Self {
            rules: rules
                .into_iter()
                .map(|r| {
                    let mut equal = r.equal.clone();
                    equal.sort();
                    equal.dedup();
                    let cache = RuleCache {
                        equal,
                        ..RuleCache::default()
                    };
                    (r, cache)
                })
                .collect(),
        }
    }

    pub fn rules(&self) -> impl Iterator<Item = &InhibitRule> {
        self.rules.iter().map(|(r, _)| r)
    }

    /// Feeds one alert (new or updated, firing or resolved) to the source caches.
    pub fn observe(&mut self, labels: &LabelSet, ends_at: SystemTime) {
        if self.rules.is_empty() {
            return;
        }
        let fp = fingerprint(labels);
        for (rule, cache) in &mut self.rules {
            if !rule.source.matches(labels) {
                continue;
            }
            let key = equal_key(&cache.equal, labels);
            cache.sources.insert(
                fp,
                SourceAlert {
                    labels: labels.clone(),
                    fingerprint: fp,
                    ends_at,
                },
            );
            cache.index.entry(key).or_default().insert(fp);
        }
    }

    /// Forgets source alerts resolved at or before `before` (the alert store's GC).
    pub fn gc(&mut self, before: SystemTime) {
        for (_, cache) in &mut self.rules {
            cache.sources.retain(|_, a| a.ends_at > before);
            let sources = &cache.sources;
            cache.index.retain(|_, fps| {
                fps.retain(|fp| sources.contains_key(fp));
                !fps.is_empty()
            });
        }
    }

    /// Number of cached source alerts over all rules.
    pub fn cached_sources(&self) -> usize {
        self.rules.iter().map(|(_, c)| c.sources.len()).sum()
    }

    /// Whether the alert is inhibited at `now`: the fingerprint of an inhibiting source.
    pub fn mutes(&self, labels: &LabelSet, now: SystemTime) -> Option<u64> {
        let fp = fingerprint(labels);
        for (rule, cache) in &self.rules {
            if !rule.target.matches(labels) {
                continue;
            }
            // Two-sided: the target also matches the source side, so sources that also
            // match the target side cannot inhibit it.
            let exclude_two_sided = rule.source.matches(labels);
            let Some(fps) = cache.index.get(&equal_key(&cache.equal, labels)) else {
                continue;
            };
            let mut candidates: Vec<&SourceAlert> = fps
                .iter()
                .filter_map(|f| cache.sources.get(f))
                .filter(|src| {
                    !src.resolved(now)
                        && src.fingerprint != fp
                        && rule.equal_values_match(&src.labels, labels)
                        && !(exclude_two_sided && rule.target.matches(&src.labels))
                })
                .collect();
            // Deterministic answer for `inhibitedBy`: the lowest fingerprint.
            crate::base::sort::sort_by_key(&mut candidates, |s| s.fingerprint);
            if let Some(src) = candidates.first() {
                return Some(src.fingerprint);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    use crate::labels::label_set as ls;

    fn rule(source: &str, target: &str, equal: &[&str]) -> InhibitRule {
        InhibitRule {
            name: None,
            source: Matchers::parse(source).unwrap(),
            target: Matchers::parse(target).unwrap(),
            equal: equal.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000 + secs)
    }

    /// Upstream's `TestInhibitRuleHasEqual`, as (cached sources, equal, target, muted).
    #[test]
    fn has_equal_table() {
        let now = at(0);
        let firing = at(100);
        let resolved = at(0);
        type Case<'a> = (Vec<(LabelSet, SystemTime)>, &'a [&'a str], LabelSet, bool);
        let cases: Vec<Case> = vec![
            // No sources.
            (vec![], &["a"], ls(&[("t", "1"), ("a", "b")]), false),
            // Empty equal: any firing source mutes.
            (
                vec![(ls(&[("s", "1"), ("a", "b")]), firing)],
                &[],
                ls(&[("t", "1"), ("a", "c")]),
                true,
            ),
            // Equal values.
            (
                vec![(ls(&[("s", "1"), ("a", "b"), ("c", "d")]), firing)],
                &["a"],
                ls(&[("t", "1"), ("a", "b")]),
                true,
            ),
            // Different values.
            (
                vec![(ls(&[("s", "1"), ("a", "b")]), firing)],
                &["a"],
                ls(&[("t", "1"), ("a", "c")]),
                false,
            ),
            // Missing on both sides counts as equal.
            (
                vec![(ls(&[("s", "1")]), firing)],
                &["a"],
                ls(&[("t", "1")]),
                true,
            ),
            // Missing on one side only is empty versus a value.
            (
                vec![(ls(&[("s", "1")]), firing)],
                &["a"],
                ls(&[("t", "1"), ("a", "x")]),
                false,
            ),
            // Resolved source does not mute.
            (
                vec![(ls(&[("s", "1"), ("a", "b")]), resolved)],
                &["a"],
                ls(&[("t", "1"), ("a", "b")]),
                false,
            ),
            // One of several sources firing is enough.
            (
                vec![
                    (ls(&[("s", "1"), ("a", "b"), ("n", "1")]), resolved),
                    (ls(&[("s", "1"), ("a", "b"), ("n", "2")]), firing),
                ],
                &["a"],
                ls(&[("t", "1"), ("a", "b")]),
                true,
            ),
        ];
        for (i, (sources, equal, target, want)) in cases.into_iter().enumerate() {
            let mut inh = Inhibitor::new(vec![rule("s=1", "t=1", equal)]);
            for (l, ends) in &sources {
                inh.observe(l, *ends);
            }
            assert_eq!(inh.mutes(&target, now).is_some(), want, "case {i}");
        }
    }

    /// Upstream's `TestInhibit` idea: two rules, two-sided matches cannot inhibit each other.
    #[test]
    fn two_sided_rules_do_not_self_inhibit() {
        let now = at(0);
        let firing = at(100);
        let mut inh = Inhibitor::new(vec![rule(
            r#"alertname="JobDown""#,
            r#"alertname=~"JobDown|InstanceDown""#,
            &["job"],
        )]);
        let a = ls(&[("alertname", "JobDown"), ("job", "x"), ("zone", "a")]);
        let b = ls(&[("alertname", "JobDown"), ("job", "x"), ("zone", "b")]);
        let target = ls(&[("alertname", "InstanceDown"), ("job", "x")]);
        inh.observe(&a, firing);
        inh.observe(&b, firing);
        inh.observe(&target, firing);
        assert_eq!(inh.mutes(&a, now), None, "both sides: not inhibited by b");
        assert_eq!(inh.mutes(&b, now), None);
        assert_eq!(
            inh.mutes(&target, now),
            Some(fingerprint(&a).min(fingerprint(&b)))
        );
        // A source that matches only the source side still inhibits a two-sided alert.
        let mut inh = Inhibitor::new(vec![rule("s=1", "t=1", &["e"])]);
        let both = ls(&[("s", "1"), ("t", "1"), ("e", "x")]);
        let src = ls(&[("s", "1"), ("e", "x")]);
        inh.observe(&both, firing);
        assert_eq!(inh.mutes(&both, now), None, "never by itself");
        inh.observe(&src, firing);
        assert_eq!(inh.mutes(&both, now), Some(fingerprint(&src)));
    }

    #[test]
    fn equal_key_is_the_fingerprint_of_the_equal_labels() {
        let names = vec!["a".to_string(), "b".to_string()];
        let labels = ls(&[("a", "1"), ("c", "3")]);
        assert_eq!(
            equal_key(&names, &labels),
            fingerprint(&ls(&[("a", "1"), ("b", "")]))
        );
    }

    #[test]
    fn source_updates_resolution_and_gc() {
        let mut inh = Inhibitor::new(vec![rule("s=1", "t=1", &[])]);
        let src = ls(&[("s", "1")]);
        let target = ls(&[("t", "1")]);
        inh.observe(&src, at(100));
        assert!(inh.mutes(&target, at(50)).is_some());
        assert!(inh.mutes(&target, at(100)).is_none(), "resolved at EndsAt");
        // A re-post extends it.
        inh.observe(&src, at(200));
        assert!(inh.mutes(&target, at(150)).is_some());
        // Targets that don't match the target side are never muted.
        assert!(inh.mutes(&ls(&[("x", "1")]), at(150)).is_none());
        assert_eq!(inh.cached_sources(), 1);
        inh.gc(at(199));
        assert_eq!(inh.cached_sources(), 1);
        inh.gc(at(200));
        assert_eq!(inh.cached_sources(), 0);
        assert!(inh.mutes(&target, at(150)).is_none());
    }
}
