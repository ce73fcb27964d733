//! The alert store: every alert the pipeline knows, keyed by fingerprint, with Alertmanager's
//! ingest rules (defaults for `startsAt`/`endsAt`, `resolve_timeout`, empty labels dropped,
//! validation with partial acceptance) and its merge rules for re-posted alerts
//! (`provider/mem/mem.go` `Put`, `alert/alert.go` `Merge`). Pure: every function takes `now`.
//!
//! It does not group, route or notify; the dispatcher receives the merged alerts.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::alert::PostableAlert;
use crate::base::names::is_label_name as valid_label_name;
use crate::labels::{fingerprint, LabelSet};

/// An alert as the pipeline keeps it (Alertmanager's `types.Alert`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub starts_at: SystemTime,
    pub ends_at: SystemTime,
    pub generator_url: String,
    pub updated_at: SystemTime,
    /// `ends_at` was filled in from `resolve_timeout`, not sent by the producer.
    pub timeout: bool,
}

impl Alert {
    pub fn fingerprint(&self) -> u64 {
        fingerprint(&self.labels)
    }

    /// Resolved iff `ends_at ≤ now` (Alertmanager's `ResolvedAt`).
    pub fn resolved_at(&self, now: SystemTime) -> bool {
        self.ends_at <= now
    }

    /// Merges `self` (older) with `newer` as Alertmanager's `Alert.Merge` does; `now` decides
    /// which of them count as resolved.
    pub fn merge(&self, newer: &Alert, now: SystemTime) -> Alert {
        if newer.updated_at < self.updated_at {
            return newer.merge(self, now);
        }
        let mut res = newer.clone();
        (res.starts_at, res.ends_at) = merged_span(self.span(), newer.span(), now);
        res
    }

    /// Whether `new` overlaps the activity range of `self` (the condition for merging).
    pub fn overlaps(&self, new: &Alert) -> bool {
        self.span().overlaps(&new.span())
    }

    fn span(&self) -> Span {
        Span {
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            timeout: self.timeout,
        }
    }
}

/// The times `Alert.Merge` looks at, shared by [`Alert`] and [`StoredAlert`].
#[derive(Clone, Copy)]
struct Span {
    starts_at: SystemTime,
    ends_at: SystemTime,
    timeout: bool,
}

impl Span {
    fn resolved_at(&self, now: SystemTime) -> bool {
        self.ends_at <= now
    }

    fn overlaps(&self, new: &Span) -> bool {
        (new.ends_at > self.starts_at && new.ends_at < self.ends_at)
            || (new.starts_at > self.starts_at && new.starts_at < self.ends_at)
    }
}

/// `starts_at` and `ends_at` of merging `older` into `newer` (ordered by `updated_at`; every
/// other field of the result is the newer alert's): the earliest start; if the newer alert
/// is resolved, the latest explicit resolve when both are; otherwise a later non-timeout end
/// of the older alert wins.
fn merged_span(older: Span, newer: Span, now: SystemTime) -> (SystemTime, SystemTime) {
    let (a, o) = (older, newer);
    let starts_at = a.starts_at.min(o.starts_at);
    let ends_at = if o.resolved_at(now) {
        if a.resolved_at(now) && a.ends_at > o.ends_at {
            a.ends_at
        } else {
            o.ends_at
        }
    } else if a.ends_at > o.ends_at && !a.timeout {
        a.ends_at
    } else {
        o.ends_at
    };
    (starts_at, ends_at)
}

/// Why a posted alert was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidAlert {
    #[error("at least one label pair required")]
    NoLabels,
    #[error("invalid label set: invalid name {0:?}")]
    LabelName(String),
    #[error("invalid annotations: invalid name {0:?}")]
    AnnotationName(String),
    #[error("start time must be before end time")]
    EndBeforeStart,
    /// New alerts refused because the store already holds `--alerts.limit` active alerts
    /// (reported once per batch; updates to stored alerts are always accepted).
    #[error("{count} new alert(s) refused: the store holds the maximum number of active alerts ({active}, --alerts.limit={limit})")]
    Limit {
        count: usize,
        active: usize,
        limit: usize,
    },
}

/// Applies the ingest defaults of `postAlertsHandler` and validates the result.
pub fn ingest(
    posted: PostableAlert,
    now: SystemTime,
    resolve_timeout: Duration,
) -> Result<Alert, InvalidAlert> {
    let mut timeout = false;
    let ends_at = match posted.ends_at {
        Some(e) => e,
        None => {
            timeout = true;
            now + resolve_timeout
        }
    };
    let starts_at = match (posted.starts_at, posted.ends_at) {
        (Some(s), _) => s,
        (None, Some(e)) => e,
        (None, None) => now,
    };
    let mut posted = posted;
    let mut labels = std::mem::take(&mut posted.labels);
    labels.retain(|_, v| !v.is_empty());
    let check = || {
        if labels.is_empty() {
            return Err(InvalidAlert::NoLabels);
        }
        if let Some(n) = labels.keys().find(|n| !valid_label_name(n)) {
            return Err(InvalidAlert::LabelName(n.clone()));
        }
        if let Some(n) = posted.annotations.keys().find(|n| !valid_label_name(n)) {
            return Err(InvalidAlert::AnnotationName(n.clone()));
        }
        if posted.ends_at.is_some() && ends_at < starts_at {
            return Err(InvalidAlert::EndBeforeStart);
        }
        Ok(())
    };
    check()?;
    Ok(Alert {
        labels,
        annotations: posted.annotations,
        starts_at,
        ends_at,
        generator_url: posted.generator_url,
        updated_at: now,
        timeout,
    })
}

/// The hasher of the store's maps: foldhash, seeded per process (SipHash was a twentieth of
/// the ingest CPU; the keys are label strings and their fingerprints).
type FastHash = foldhash::fast::RandomState;

/// An interned string: label names, values, annotations and generator URLs repeat a lot
/// (every alert of a rule shares most of them), so each distinct string is kept once.
pub type Sym = Arc<str>;

/// The interner. Strings no stored alert uses any more are dropped by [`Interner::gc`].
#[derive(Debug, Default)]
struct Interner {
    set: HashSet<Sym, FastHash>,
}

impl Interner {
    fn get(&mut self, s: &str) -> Sym {
        if let Some(x) = self.set.get(s) {
            return x.clone();
        }
        let x: Sym = Arc::from(s);
        self.set.insert(x.clone());
        x
    }

    fn pairs(&mut self, set: &LabelSet) -> Box<[(Sym, Sym)]> {
        set.iter()
            .map(|(k, v)| (self.get(k), self.get(v)))
            .collect()
    }

    fn gc(&mut self) {
        self.set.retain(|s| Arc::strong_count(s) > 1);
    }
}

/// An alert as the store and the aggregation groups keep it: the same data as [`Alert`]
/// with interned strings and sorted pairs instead of maps (about a quarter of the memory).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredAlert {
    labels: Box<[(Sym, Sym)]>,
    annotations: Box<[(Sym, Sym)]>,
    generator_url: Sym,
    pub starts_at: SystemTime,
    pub ends_at: SystemTime,
    pub updated_at: SystemTime,
    pub timeout: bool,
    pub fingerprint: u64,
}

fn to_set(pairs: &[(Sym, Sym)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl StoredAlert {
    pub fn labels(&self) -> LabelSet {
        to_set(&self.labels)
    }

    /// The label pairs, sorted by name.
    pub fn label_pairs(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.labels.iter().map(|(k, v)| (&**k, &**v))
    }

    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| &**k == name)
            .map(|(_, v)| &**v)
    }

    pub fn resolved_at(&self, now: SystemTime) -> bool {
        self.ends_at <= now
    }

    /// The alert with ordinary maps, for notifiers and the API.
    pub fn to_alert(&self) -> Alert {
        Alert {
            labels: self.labels(),
            annotations: to_set(&self.annotations),
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            generator_url: self.generator_url.to_string(),
            updated_at: self.updated_at,
            timeout: self.timeout,
        }
    }

    /// `Alert::merge` on stored alerts (`self` older by position, order decided by
    /// `updated_at`).
    fn merge(&self, newer: &StoredAlert, now: SystemTime) -> StoredAlert {
        if newer.updated_at < self.updated_at {
            return newer.merge(self, now);
        }
        let mut res = newer.clone();
        (res.starts_at, res.ends_at) = merged_span(self.span(), newer.span(), now);
        res
    }

    fn overlaps(&self, new: &StoredAlert) -> bool {
        self.span().overlaps(&new.span())
    }

    fn span(&self) -> Span {
        Span {
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            timeout: self.timeout,
        }
    }
}

/// Pairs written as a JSON object, as a [`LabelSet`] would be.
struct PairsMap<'a>(&'a [(Sym, Sym)]);

impl Serialize for PairsMap<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (&**k, &**v)))
    }
}

/// Serialises exactly like [`Alert`], so snapshots load back as `Vec<Alert>`.
impl Serialize for StoredAlert {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = s.serialize_struct("Alert", 7)?;
        st.serialize_field("labels", &PairsMap(&self.labels))?;
        st.serialize_field("annotations", &PairsMap(&self.annotations))?;
        st.serialize_field("starts_at", &self.starts_at)?;
        st.serialize_field("ends_at", &self.ends_at)?;
        st.serialize_field("generator_url", &*self.generator_url)?;
        st.serialize_field("updated_at", &self.updated_at)?;
        st.serialize_field("timeout", &self.timeout)?;
        st.end()
    }
}

/// The alerts by fingerprint, shared (`Arc`) with the aggregation groups.
#[derive(Debug, Default)]
pub struct AlertStore {
    alerts: HashMap<u64, Arc<StoredAlert>, FastHash>,
    interner: Interner,
}

impl AlertStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn intern(&mut self, alert: &Alert) -> StoredAlert {
        StoredAlert {
            labels: self.interner.pairs(&alert.labels),
            annotations: self.interner.pairs(&alert.annotations),
            generator_url: self.interner.get(&alert.generator_url),
            starts_at: alert.starts_at,
            ends_at: alert.ends_at,
            updated_at: alert.updated_at,
            timeout: alert.timeout,
            fingerprint: alert.fingerprint(),
        }
    }

    /// Stores `alert`, merging it with an existing one when their activity ranges overlap;
    /// returns the alert as stored.
    pub fn put(&mut self, alert: &Alert, now: SystemTime) -> Arc<StoredAlert> {
        let new = self.intern(alert);
        let fp = new.fingerprint;
        let stored = Arc::new(match self.alerts.get(&fp) {
            Some(old) if old.overlaps(&new) => old.merge(&new, now),
            _ => new,
        });
        self.alerts.insert(fp, stored.clone());
        stored
    }

    /// Puts an alert back exactly as it was (used when loading a snapshot).
    pub fn restore(&mut self, alert: &Alert) {
        let stored = self.intern(alert);
        self.alerts.insert(stored.fingerprint, Arc::new(stored));
    }

    pub fn get(&self, fp: u64) -> Option<&Arc<StoredAlert>> {
        self.alerts.get(&fp)
    }

    /// How many stored alerts are active (not resolved) at `now`; what `--alerts.limit` bounds.
    pub fn active(&self, now: SystemTime) -> usize {
        self.alerts.values().filter(|a| !a.resolved_at(now)).count()
    }

    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<StoredAlert>> {
        self.alerts.values()
    }

    /// Drops alerts resolved at `now` whose fingerprints `keep` does not claim (groups still
    /// holding an unsent resolved alert keep it alive), and strings nothing uses any more;
    /// returns how many alerts were removed.
    pub fn gc(&mut self, now: SystemTime, keep: impl Fn(u64) -> bool) -> usize {
        let before = self.alerts.len();
        self.alerts.retain(|fp, a| !a.resolved_at(now) || keep(*fp));
        self.interner.gc();
        before - self.alerts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn t(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_000_000 + s)
    }

    use crate::labels::label_set as labels;

    fn posted(starts: Option<u64>, ends: Option<u64>) -> PostableAlert {
        PostableAlert {
            labels: labels(&[("alertname", "A"), ("empty", "")]),
            annotations: LabelSet::new(),
            starts_at: starts.map(t),
            ends_at: ends.map(t),
            generator_url: String::new(),
        }
    }

    fn alert(start: u64, end: u64, updated: u64, timeout: bool) -> Alert {
        Alert {
            labels: labels(&[("alertname", "A")]),
            annotations: LabelSet::new(),
            starts_at: t(start),
            ends_at: t(end),
            generator_url: String::new(),
            updated_at: t(updated),
            timeout,
        }
    }

    #[test]
    fn ingest_defaults() {
        let rt = Duration::from_secs(300);
        let a = ingest(posted(None, None), t(10), rt).unwrap();
        assert_eq!((a.starts_at, a.ends_at, a.timeout), (t(10), t(310), true));
        assert!(!a.labels.contains_key("empty"), "empty labels are dropped");
        let a = ingest(posted(None, Some(20)), t(10), rt).unwrap();
        assert_eq!((a.starts_at, a.ends_at, a.timeout), (t(20), t(20), false));
        let a = ingest(posted(Some(5), None), t(10), rt).unwrap();
        assert_eq!((a.starts_at, a.ends_at), (t(5), t(310)));
        assert_eq!(a.updated_at, t(10));
    }

    #[test]
    fn ingest_validation() {
        let rt = Duration::from_secs(300);
        assert_eq!(
            ingest(posted(Some(20), Some(10)), t(0), rt).unwrap_err(),
            InvalidAlert::EndBeforeStart
        );
        let mut p = posted(None, None);
        p.labels = labels(&[("only", "")]);
        assert_eq!(ingest(p, t(0), rt).unwrap_err(), InvalidAlert::NoLabels);
        let mut p = posted(None, None);
        p.labels.insert("1bad".into(), "x".into());
        assert_eq!(
            ingest(p, t(0), rt).unwrap_err(),
            InvalidAlert::LabelName("1bad".into())
        );
        let mut p = posted(None, None);
        p.annotations.insert("bad-name".into(), "x".into());
        assert!(matches!(
            ingest(p, t(0), rt).unwrap_err(),
            InvalidAlert::AnnotationName(_)
        ));
    }

    #[test]
    fn merge_keeps_earliest_start_and_newest_annotations() {
        let mut old = alert(0, 100, 1, false);
        old.annotations.insert("v".into(), "old".into());
        let mut new = alert(10, 110, 2, false);
        new.annotations.insert("v".into(), "new".into());
        let m = old.merge(&new, t(50));
        assert_eq!(m.starts_at, t(0));
        assert_eq!(m.ends_at, t(110));
        assert_eq!(m.annotations["v"], "new");
        // Order of arguments does not matter: the later UpdatedAt is the newer.
        assert_eq!(new.merge(&old, t(50)), m);
    }

    #[test]
    fn merge_end_time_rules() {
        // Newer firing with earlier end: the older explicit end wins ...
        let m = alert(0, 200, 1, false).merge(&alert(0, 100, 2, false), t(50));
        assert_eq!(m.ends_at, t(200));
        // ... but not when the older end came from resolve_timeout.
        let m = alert(0, 200, 1, true).merge(&alert(0, 100, 2, false), t(50));
        assert_eq!(m.ends_at, t(100));
        // Newer resolved: its end wins unless the older is resolved later.
        let m = alert(0, 200, 1, false).merge(&alert(0, 40, 2, false), t(50));
        assert_eq!(m.ends_at, t(40));
        let m = alert(0, 45, 1, false).merge(&alert(0, 40, 2, false), t(50));
        assert_eq!(m.ends_at, t(45));
    }

    #[test]
    fn put_merges_only_overlapping() {
        let mut s = AlertStore::new();
        s.put(&alert(0, 100, 1, false), t(1));
        // Overlapping re-post: merged, start kept.
        let got = s.put(&alert(50, 150, 60, false), t(60));
        assert_eq!((got.starts_at, got.ends_at), (t(0), t(150)));
        // A re-fire after the old range ended replaces it with a new start.
        let got = s.put(&alert(200, 300, 200, false), t(200));
        assert_eq!((got.starts_at, got.ends_at), (t(200), t(300)));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn stored_alert_round_trips_and_serialises_like_alert() {
        let mut a = alert(0, 100, 1, true);
        a.labels.insert("job".into(), "x".into());
        a.annotations.insert("summary".into(), "s".into());
        a.generator_url = "http://g".into();
        let mut s = AlertStore::new();
        let stored = s.put(&a, t(1));
        assert_eq!(stored.to_alert(), a);
        assert_eq!(stored.label("job"), Some("x"));
        assert_eq!(
            serde_json::to_string(&*stored).unwrap(),
            serde_json::to_string(&a).unwrap()
        );
        // Strings are shared between alerts and dropped when no alert uses them.
        let mut b = a.clone();
        b.labels.insert("i".into(), "2".into());
        s.put(&b, t(1));
        assert!(s.interner.set.len() < 2 * 8);
        s.gc(t(200), |_| false);
        assert!(s.is_empty());
        drop(stored);
        s.gc(t(200), |_| false);
        assert!(s.interner.set.is_empty(), "{:?}", s.interner.set);
    }

    #[test]
    fn gc_removes_resolved_unless_kept() {
        let mut s = AlertStore::new();
        let a = alert(0, 100, 1, false);
        let fp = a.fingerprint();
        s.put(&a, t(1));
        assert_eq!(s.gc(t(50), |_| false), 0);
        assert_eq!(s.gc(t(100), |f| f == fp), 0);
        assert_eq!(s.gc(t(100), |_| false), 1);
        assert!(s.is_empty());
    }

    #[test]
    fn active_counts_unresolved_alerts() {
        let mut s = AlertStore::new();
        s.put(&alert(0, 100, 1, false), t(1));
        let mut b = alert(0, 50, 1, false);
        b.labels.insert("x".into(), "y".into());
        s.put(&b, t(1));
        assert_eq!(s.active(t(10)), 2);
        assert_eq!(s.active(t(50)), 1, "ends_at == now is resolved");
        assert_eq!(s.active(t(100)), 0);
        assert_eq!(s.len(), 2);
    }
}
