//! The notification log: per (group key, receiver, integration) the last successful send
//! time and the label hashes of the firing and resolved alerts it carried
//! (`nflog/nflog.go`). Entries expire at `min(retention, 2 × repeat_interval)` after the
//! send. Pure: callers pass `now`. Persistence is `persist.rs`'s job (`snapshot`/`restore`).

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// One integration of a receiver: `discord[0]`, `webhook[1]`, …
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IntegrationId {
    pub receiver: String,
    /// `webhook`, `discord`, `email`.
    pub integration: String,
    pub index: usize,
}

impl IntegrationId {
    /// The nflog key: `groupKey:receiver/integration/index`, as upstream.
    pub fn state_key(&self, group_key: &str) -> String {
        format!(
            "{group_key}:{}/{}/{}",
            self.receiver, self.integration, self.index
        )
    }
}

/// What was last sent to one integration for one group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub timestamp: SystemTime,
    pub firing: BTreeSet<u64>,
    pub resolved: BTreeSet<u64>,
    pub expires_at: SystemTime,
}

#[derive(Debug, Default)]
pub struct NotificationLog {
    entries: HashMap<String, Entry>,
    retention: Duration,
    /// Bumped on every change, so the persister knows when to write.
    version: u64,
}

impl NotificationLog {
    pub fn new(retention: Duration) -> Self {
        Self {
            entries: HashMap::new(),
            retention,
            version: 0,
        }
    }

    /// The entry for `key` if it has not expired at `now`.
    pub fn query(&self, key: &str, now: SystemTime) -> Option<&Entry> {
        self.entries.get(key).filter(|e| e.expires_at > now)
    }

    /// Records a successful notification at `now`.
    pub fn log(
        &mut self,
        key: String,
        firing: BTreeSet<u64>,
        resolved: BTreeSet<u64>,
        repeat_interval: Duration,
        now: SystemTime,
    ) {
        let ttl = self.retention.min(repeat_interval.saturating_mul(2));
        let ttl = if ttl.is_zero() { self.retention } else { ttl };
        self.entries.insert(
            key,
            Entry {
                timestamp: now,
                firing,
                resolved,
                expires_at: now + ttl,
            },
        );
        self.version += 1;
    }

    /// Takes an entry another replica gossiped (upstream's `nflog.Log.Merge`): kept when
    /// this replica has none for `key` or an older one, and it has not expired at `now`.
    /// `true` if anything changed.
    pub fn merge(&mut self, key: String, entry: Entry, now: SystemTime) -> bool {
        if entry.expires_at <= now {
            return false;
        }
        if let Some(known) = self.entries.get(&key) {
            if known.timestamp >= entry.timestamp {
                return false;
            }
        }
        self.entries.insert(key, entry);
        self.version += 1;
        true
    }

    /// Drops expired entries; returns how many.
    pub fn gc(&mut self, now: SystemTime) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, e| e.expires_at > now);
        let removed = before - self.entries.len();
        if removed > 0 {
            self.version += 1;
        }
        removed
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn snapshot(&self) -> Vec<(String, Entry)> {
        let mut v: Vec<_> = self
            .entries
            .iter()
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
        crate::base::sort::sort_by(&mut v, |a, b| a.0.cmp(&b.0));
        v
    }

    /// Loads entries from a snapshot, skipping those expired at `now`.
    pub fn restore(&mut self, entries: Vec<(String, Entry)>, now: SystemTime) {
        for (k, e) in entries {
            if e.expires_at > now {
                self.entries.insert(k, e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn t(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_000 + s)
    }

    #[test]
    fn key_format_matches_upstream() {
        let id = IntegrationId {
            receiver: "team".into(),
            integration: "webhook".into(),
            index: 1,
        };
        assert_eq!(
            id.state_key("{}/{a=\"b\"}:{alertname=\"X\"}"),
            "{}/{a=\"b\"}:{alertname=\"X\"}:team/webhook/1"
        );
    }

    #[test]
    fn entries_expire_at_twice_repeat_or_retention() {
        let mut log = NotificationLog::new(Duration::from_secs(100));
        log.log(
            "a".into(),
            [1].into(),
            [].into(),
            Duration::from_secs(30),
            t(0),
        );
        log.log(
            "b".into(),
            [1].into(),
            [].into(),
            Duration::from_secs(3600),
            t(0),
        );
        assert!(log.query("a", t(59)).is_some());
        assert!(log.query("a", t(60)).is_none());
        assert!(log.query("b", t(99)).is_some());
        assert_eq!(log.gc(t(70)), 1);
        assert_eq!(log.gc(t(100)), 1);
        assert!(log.is_empty());
    }

    #[test]
    fn merge_keeps_the_latest_send_and_skips_expired_entries() {
        let mut a = NotificationLog::new(Duration::from_secs(100));
        a.log(
            "k".into(),
            [1].into(),
            [].into(),
            Duration::from_secs(30),
            t(5),
        );
        let (key, first) = a.snapshot().remove(0);
        let mut b = NotificationLog::new(Duration::from_secs(100));
        assert!(b.merge(key.clone(), first.clone(), t(6)));
        assert!(
            !b.merge(key.clone(), first.clone(), t(6)),
            "the same entry twice"
        );
        a.log(
            "k".into(),
            [1, 2].into(),
            [].into(),
            Duration::from_secs(30),
            t(10),
        );
        let (_, second) = a.snapshot().remove(0);
        assert!(b.merge(key.clone(), second.clone(), t(11)));
        assert!(
            !b.merge(key.clone(), first, t(12)),
            "an older send never wins"
        );
        assert_eq!(b.query("k", t(12)), Some(&second));
        assert!(
            !b.merge("gone".into(), second, t(70)),
            "expired at merge time"
        );
    }

    #[test]
    fn restore_skips_expired() {
        let mut log = NotificationLog::new(Duration::from_secs(100));
        log.log(
            "a".into(),
            [1].into(),
            [2].into(),
            Duration::from_secs(30),
            t(0),
        );
        log.log(
            "b".into(),
            [1].into(),
            [].into(),
            Duration::from_secs(10),
            t(0),
        );
        let snap = log.snapshot();
        let mut other = NotificationLog::new(Duration::from_secs(100));
        other.restore(snap, t(30));
        assert_eq!(other.len(), 1);
        assert_eq!(other.query("a", t(30)).unwrap().resolved, [2].into());
    }
}
