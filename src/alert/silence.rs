//! Silences (Alertmanager's `silence/silence.go`): the store with upstream's create /
//! update / expire semantics, states, validation, matching and garbage collection.
//!
//! Pure: every operation takes `now`. IDs are random UUIDv4. The store serializes with serde
//! (a list of [`Silence`]) so the persistence layer can snapshot and restore it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::labels::{LabelSet, MatchOp, Matcher, Matchers};

/// `pending` (before `starts_at`), `active` (`starts_at ≤ now ≤ ends_at`), `expired`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Expired,
    Active,
    Pending,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Expired => "expired",
            SilenceState::Active => "active",
            SilenceState::Pending => "pending",
        }
    }
}

/// One silence. `matchers` serialize as API matcher objects
/// (`{name, value, isRegex, isEqual}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    /// Empty for a silence not stored yet.
    #[serde(default)]
    pub id: String,
    #[serde(with = "matcher_objects")]
    pub matchers: Matchers,
    pub starts_at: SystemTime,
    pub ends_at: SystemTime,
    #[serde(default = "epoch")]
    pub updated_at: SystemTime,
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
}

fn epoch() -> SystemTime {
    SystemTime::UNIX_EPOCH
}

impl Silence {
    /// Upstream's `getState`.
    pub fn state(&self, now: SystemTime) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now > self.ends_at {
            SilenceState::Expired
        } else {
            SilenceState::Active
        }
    }

    /// All matchers match the labels (a missing label is `""`).
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matchers.matches(labels)
    }
}

/// The API's matcher object, also the persisted form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatcherObject {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl From<&Matcher> for MatcherObject {
    fn from(m: &Matcher) -> Self {
        Self {
            name: m.name.clone(),
            value: m.value.clone(),
            is_regex: m.op.is_regex(),
            is_equal: m.op.is_equal(),
        }
    }
}

impl MatcherObject {
    /// Builds the matcher; the error is upstream's `validateMatcher` text.
    pub fn to_matcher(&self) -> Result<Matcher, String> {
        // Names may be any UTF-8 string (0.27+), but not empty.
        if self.name.is_empty() {
            return Err(format!("invalid label name {:?}", self.name));
        }
        let op = MatchOp::from_flags(self.is_regex, self.is_equal);
        Matcher::new(&self.name, op, &self.value)
            .map_err(|e| format!("invalid regular expression {:?}: {e}", self.value))
    }
}

mod matcher_objects {
    use super::*;

    pub fn serialize<S: serde::Serializer>(m: &Matchers, s: S) -> Result<S::Ok, S::Error> {
        let objs: Vec<MatcherObject> = m.iter().map(MatcherObject::from).collect();
        objs.serialize(s)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Matchers, D::Error> {
        let objs = Vec::<MatcherObject>::deserialize(d)?;
        objs.iter()
            .map(|o| o.to_matcher().map_err(serde::de::Error::custom))
            .collect::<Result<Vec<_>, _>>()
            .map(Matchers)
    }
}

/// Why a silence operation failed. `Invalid` carries upstream's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    /// Unknown ID (the API answers 404).
    #[error("silence not found")]
    NotFound,
    /// Rejected silence (the API answers 400).
    #[error("{0}")]
    Invalid(String),
    /// `--silences.max-silences` reached.
    #[error("exceeded maximum number of silences: {count} (limit: {limit})")]
    Limit { count: usize, limit: usize },
    /// `--silences.max-silence-size-bytes` exceeded (size of the silence as JSON).
    #[error("silence exceeded maximum size: {size} bytes (limit: {limit} bytes)")]
    TooLarge { size: usize, limit: usize },
}

/// Upstream's `validateSilence` for a silence about to be stored.
pub fn validate(s: &Silence) -> Result<(), SilenceError> {
    let invalid = |m: &str| Err(SilenceError::Invalid(m.to_string()));
    if s.matchers.is_empty() {
        return invalid("at least one matcher required");
    }
    for (i, m) in s.matchers.iter().enumerate() {
        if m.name.is_empty() {
            return Err(SilenceError::Invalid(format!(
                "invalid label matcher {i}: invalid label name {:?}",
                m.name
            )));
        }
    }
    if s.matchers.iter().all(|m| m.matches("")) {
        return invalid("at least one matcher must not match the empty string");
    }
    if s.starts_at == SystemTime::UNIX_EPOCH {
        return invalid("invalid zero start timestamp");
    }
    if s.ends_at == SystemTime::UNIX_EPOCH {
        return invalid("invalid zero end timestamp");
    }
    if s.ends_at < s.starts_at {
        return invalid("end time must not be before start time");
    }
    Ok(())
}

/// The extra checks of `POST /api/v2/silences` before the store sees the silence.
pub fn validate_postable(s: &Silence, now: SystemTime) -> Result<(), SilenceError> {
    if s.starts_at >= s.ends_at {
        return Err(SilenceError::Invalid(
            "Failed to create silence: start time must be before end time".to_string(),
        ));
    }
    if s.ends_at < now {
        return Err(SilenceError::Invalid(
            "Failed to create silence: end time can't be in the past".to_string(),
        ));
    }
    Ok(())
}

/// Upstream's `canUpdate`: whether `next` may replace `prev` in place at `now`.
pub fn can_update(prev: &Silence, next: &Silence, now: SystemTime) -> bool {
    if prev.matchers != next.matchers {
        return false;
    }
    match prev.state(now) {
        SilenceState::Active => {
            // Compared to the second: the API round-trips timestamps.
            let secs = |t: SystemTime| {
                t.duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
            };
            secs(next.starts_at) == secs(prev.starts_at) && next.ends_at >= now
        }
        SilenceState::Pending => next.starts_at >= now,
        SilenceState::Expired => false,
    }
}

/// The silence store.
#[derive(Clone, Debug, Default)]
pub struct Silences {
    by_id: BTreeMap<String, Silence>,
    /// Expired silences are kept this long after `ends_at` (`--data.retention`).
    retention: Duration,
    /// 0 = unlimited (`--silences.max-silences`), counting active and pending ones.
    max_silences: usize,
    /// 0 = unlimited (`--silences.max-silence-size-bytes`).
    max_size: usize,
    /// Bumped on every change, so the persistence layer knows when to write.
    version: u64,
}

impl Silences {
    pub fn new(retention: Duration) -> Self {
        Self {
            retention,
            ..Self::default()
        }
    }

    pub fn with_limit(mut self, max_silences: usize) -> Self {
        self.max_silences = max_silences;
        self
    }

    pub fn with_max_size(mut self, max_bytes: usize) -> Self {
        self.max_size = max_bytes;
        self
    }

    /// Refuses a silence whose JSON encoding is over `--silences.max-silence-size-bytes`.
    fn check_size(&self, sil: &Silence) -> Result<(), SilenceError> {
        if self.max_size == 0 {
            return Ok(());
        }
        let size = serde_json::to_vec(sil)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > self.max_size {
            return Err(SilenceError::TooLarge {
                size,
                limit: self.max_size,
            });
        }
        Ok(())
    }

    /// Restores a snapshot (silences already past retention at `now` are dropped).
    pub fn from_snapshot(retention: Duration, silences: Vec<Silence>, now: SystemTime) -> Self {
        let mut s = Self::new(retention);
        for sil in silences {
            if !sil.id.is_empty() {
                s.by_id.insert(sil.id.clone(), sil);
            }
        }
        s.gc(now);
        s
    }

    /// Every stored silence, for persistence.
    pub fn snapshot(&self) -> Vec<Silence> {
        self.by_id.values().cloned().collect()
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn get(&self, id: &str) -> Option<&Silence> {
        self.by_id.get(id)
    }

    /// All silences, in ID order.
    pub fn list(&self) -> impl Iterator<Item = &Silence> {
        self.by_id.values()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Silences in any of `states` at `now` (upstream's `QState`), in ID order.
    pub fn in_states(&self, now: SystemTime, states: &[SilenceState]) -> Vec<&Silence> {
        self.by_id
            .values()
            .filter(|s| states.contains(&s.state(now)))
            .collect()
    }

    /// Counts by state at `now` (for `alertmanager_silences{state}`).
    pub fn count_by_state(&self, now: SystemTime) -> BTreeMap<SilenceState, usize> {
        let mut out: BTreeMap<SilenceState, usize> = [
            (SilenceState::Active, 0),
            (SilenceState::Pending, 0),
            (SilenceState::Expired, 0),
        ]
        .into();
        for s in self.by_id.values() {
            *out.entry(s.state(now)).or_default() += 1;
        }
        out
    }

    /// Creates or updates a silence (upstream's `Silences.Set`): an unknown non-empty ID is
    /// `NotFound`; an update that `can_update` allows keeps the ID; otherwise the previous
    /// silence (unless already expired) is expired and the new one gets a fresh ID. A new
    /// silence starting in the past starts at `now`. Returns the ID.
    pub fn set(&mut self, mut sil: Silence, now: SystemTime) -> Result<String, SilenceError> {
        let prev = if sil.id.is_empty() {
            None
        } else {
            Some(
                self.by_id
                    .get(&sil.id)
                    .cloned()
                    .ok_or(SilenceError::NotFound)?,
            )
        };
        if let Some(prev) = &prev {
            if can_update(prev, &sil, now) {
                sil.updated_at = now;
                validate(&sil)?;
                self.check_size(&sil)?;
                self.by_id.insert(sil.id.clone(), sil.clone());
                self.version += 1;
                return Ok(sil.id);
            }
        }
        // A new silence, or one replacing `prev`.
        if sil.starts_at < now {
            sil.starts_at = now;
        }
        sil.updated_at = now;
        sil.id = uuid::Uuid::new_v4().to_string();
        validate(&sil)?;
        self.check_size(&sil)?;
        if self.max_silences > 0 {
            let live = self
                .by_id
                .values()
                .filter(|s| s.state(now) != SilenceState::Expired)
                .count();
            if live >= self.max_silences {
                return Err(SilenceError::Limit {
                    count: live,
                    limit: self.max_silences,
                });
            }
        }
        if let Some(prev) = prev {
            if prev.state(now) != SilenceState::Expired {
                self.expire(&prev.id, now)?;
            }
        }
        self.by_id.insert(sil.id.clone(), sil.clone());
        self.version += 1;
        Ok(sil.id)
    }

    /// Expires a silence (`DELETE /api/v2/silence/{id}`): active ⇒ ends now; pending ⇒
    /// starts and ends now; already expired ⇒ nothing changes.
    pub fn expire(&mut self, id: &str, now: SystemTime) -> Result<(), SilenceError> {
        let sil = self.by_id.get_mut(id).ok_or(SilenceError::NotFound)?;
        match sil.state(now) {
            SilenceState::Expired => return Ok(()),
            SilenceState::Active => sil.ends_at = now,
            SilenceState::Pending => {
                sil.starts_at = now;
                sil.ends_at = now;
            }
        }
        sil.updated_at = now;
        self.version += 1;
        Ok(())
    }

    /// IDs of the active silences that match the labels, sorted; empty if not silenced.
    pub fn mutes(&self, labels: &LabelSet, now: SystemTime) -> Vec<String> {
        self.by_id
            .values()
            .filter(|s| s.state(now) == SilenceState::Active && s.matches(labels))
            .map(|s| s.id.clone())
            .collect()
    }

    /// Takes a silence another replica gossiped (upstream's `Silences.Merge`): kept if this
    /// replica does not know its ID or holds an older `updated_at`, unless it has been
    /// expired for longer than the retention. Limits do not apply: every replica must end
    /// with the same set. `true` if anything changed.
    pub fn merge(&mut self, sil: Silence, now: SystemTime) -> bool {
        if sil.id.is_empty()
            || sil
                .ends_at
                .checked_add(self.retention)
                .is_some_and(|exp| exp < now)
        {
            return false;
        }
        if let Some(known) = self.by_id.get(&sil.id) {
            if known.updated_at >= sil.updated_at {
                return false;
            }
        }
        self.by_id.insert(sil.id.clone(), sil);
        self.version += 1;
        true
    }

    /// Drops silences whose `ends_at + retention` is before `now`; returns how many.
    pub fn gc(&mut self, now: SystemTime) -> usize {
        let before = self.by_id.len();
        let retention = self.retention;
        self.by_id.retain(|_, s| {
            s.ends_at
                .checked_add(retention)
                .is_none_or(|exp| exp >= now)
        });
        let removed = before - self.by_id.len();
        if removed > 0 {
            self.version += 1;
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000 + secs)
    }

    fn sil(matchers: &str, start: u64, end: u64) -> Silence {
        Silence {
            id: String::new(),
            matchers: Matchers::parse(matchers).unwrap(),
            starts_at: at(start),
            ends_at: at(end),
            updated_at: SystemTime::UNIX_EPOCH,
            created_by: "me".into(),
            comment: "c".into(),
        }
    }

    use crate::labels::label_set as ls;

    #[test]
    fn merge_keeps_the_latest_update_of_each_silence() {
        let mut a = Silences::new(Duration::from_secs(3600));
        let id = a.set(sil(r#"{job="x"}"#, 0, 600), at(0)).unwrap();
        let mut b = Silences::new(Duration::from_secs(3600));
        let theirs = a.get(&id).unwrap().clone();
        assert!(b.merge(theirs.clone(), at(1)));
        assert!(!b.merge(theirs.clone(), at(1)), "the same version twice");
        assert_eq!(b.mutes(&ls(&[("job", "x")]), at(10)), vec![id.clone()]);
        // Expired on a: b takes the newer version; b's older copy never goes back to a.
        a.expire(&id, at(20)).unwrap();
        assert!(b.merge(a.get(&id).unwrap().clone(), at(21)));
        assert!(b.mutes(&ls(&[("job", "x")]), at(30)).is_empty());
        assert!(!a.merge(theirs, at(22)));
        assert_eq!(a.get(&id).unwrap().ends_at, at(20));
        // Long expired: not taken.
        let mut old = a.get(&id).unwrap().clone();
        old.id = "other".into();
        assert!(!b.merge(old, at(20 + 3601)));
    }

    #[test]
    fn states_at_boundaries() {
        let s = sil("a=b", 10, 20);
        assert_eq!(s.state(at(9)), SilenceState::Pending);
        assert_eq!(s.state(at(10)), SilenceState::Active);
        assert_eq!(s.state(at(20)), SilenceState::Active);
        assert_eq!(s.state(at(21)), SilenceState::Expired);
    }

    /// Upstream's `TestSilenceSet`: new IDs, start moved to now, unknown IDs.
    #[test]
    fn set_creates_and_moves_start_to_now() {
        let mut st = Silences::new(Duration::from_secs(3600));
        let now = at(100);
        let id = st.set(sil("a=b", 50, 200), now).unwrap();
        assert!(!id.is_empty());
        let s = st.get(&id).unwrap();
        assert_eq!(s.starts_at, now, "a start in the past becomes now");
        assert_eq!(s.updated_at, now);
        let id2 = st.set(sil("a=b", 150, 200), now).unwrap();
        assert_ne!(id, id2);
        assert_eq!(st.get(&id2).unwrap().starts_at, at(150));
        let mut unknown = sil("a=b", 150, 200);
        unknown.id = "nope".into();
        assert_eq!(st.set(unknown, now), Err(SilenceError::NotFound));
        assert_eq!(st.len(), 2);
    }

    /// Upstream's `TestSilenceCanUpdate` table.
    #[test]
    fn can_update_table() {
        let now = at(100);
        let active = sil("a=b", 50, 200);
        let pending = sil("a=b", 150, 200);
        let expired = sil("a=b", 10, 20);
        let cases = [
            // Active: same start, end not before now.
            (&active, sil("a=b", 50, 300), true),
            (&active, sil("a=b", 50, 100), true),
            (&active, sil("a=b", 50, 99), false),
            (&active, sil("a=b", 60, 300), false),
            (&active, sil("a=c", 50, 300), false),
            // Pending: start not before now.
            (&pending, sil("a=b", 100, 300), true),
            (&pending, sil("a=b", 120, 130), true),
            (&pending, sil("a=b", 99, 300), false),
            // Expired: never.
            (&expired, sil("a=b", 10, 300), false),
        ];
        for (i, (prev, next, want)) in cases.into_iter().enumerate() {
            assert_eq!(can_update(prev, &next, now), want, "case {i}");
        }
    }

    #[test]
    fn update_in_place_keeps_id_otherwise_expires_and_replaces() {
        let mut st = Silences::new(Duration::from_secs(3600));
        let id = st.set(sil("a=b", 100, 200), at(100)).unwrap();
        // Extend the end: same ID.
        let mut upd = st.get(&id).unwrap().clone();
        upd.ends_at = at(400);
        upd.comment = "longer".into();
        assert_eq!(st.set(upd, at(150)).unwrap(), id);
        assert_eq!(st.get(&id).unwrap().ends_at, at(400));
        assert_eq!(st.get(&id).unwrap().comment, "longer");
        // Change the matchers: the old one is expired, a new ID returned.
        let mut changed = st.get(&id).unwrap().clone();
        changed.matchers = Matchers::parse("a=c").unwrap();
        let new_id = st.set(changed, at(160)).unwrap();
        assert_ne!(new_id, id);
        assert_eq!(st.get(&id).unwrap().ends_at, at(160));
        assert_eq!(st.get(&id).unwrap().state(at(161)), SilenceState::Expired);
        assert_eq!(st.get(&new_id).unwrap().starts_at, at(160));
        // Updating an expired silence creates a new one, the old stays as it was.
        let mut again = st.get(&id).unwrap().clone();
        again.ends_at = at(900);
        let third = st.set(again, at(170)).unwrap();
        assert_ne!(third, id);
        assert_eq!(st.get(&id).unwrap().ends_at, at(160));
    }

    /// Upstream's `TestSilenceExpire`.
    #[test]
    fn expire_by_state() {
        let mut st = Silences::new(Duration::from_secs(3600));
        let active = st.set(sil("a=b", 100, 200), at(100)).unwrap();
        let pending = st.set(sil("a=b", 300, 400), at(100)).unwrap();
        let expired = st.set(sil("a=b", 100, 120), at(100)).unwrap();
        let now = at(150);
        st.expire(&active, now).unwrap();
        assert_eq!(st.get(&active).unwrap().ends_at, now);
        assert_eq!(st.get(&active).unwrap().starts_at, at(100));
        st.expire(&pending, now).unwrap();
        let p = st.get(&pending).unwrap();
        assert_eq!((p.starts_at, p.ends_at), (now, now));
        let v = st.version();
        st.expire(&expired, now).unwrap();
        assert_eq!(st.get(&expired).unwrap().ends_at, at(120), "no-op");
        assert_eq!(st.version(), v);
        assert_eq!(st.expire("nope", now), Err(SilenceError::NotFound));
        assert_eq!(st.count_by_state(at(151))[&SilenceState::Expired], 3);
    }

    /// Upstream's `TestValidateSilence`.
    #[test]
    fn validation_errors() {
        let ok = sil("a=b", 10, 20);
        assert_eq!(validate(&ok), Ok(()));
        let cases = [
            (
                Silence {
                    matchers: Matchers::default(),
                    ..ok.clone()
                },
                "at least one matcher required",
            ),
            (
                sil(r#"a="", b=~".*""#, 10, 20),
                "at least one matcher must not match the empty string",
            ),
            (
                Silence {
                    starts_at: SystemTime::UNIX_EPOCH,
                    ..ok.clone()
                },
                "invalid zero start timestamp",
            ),
            (
                Silence {
                    ends_at: SystemTime::UNIX_EPOCH,
                    ..ok.clone()
                },
                "invalid zero end timestamp",
            ),
            (sil("a=b", 20, 10), "end time must not be before start time"),
        ];
        for (s, want) in cases {
            assert_eq!(validate(&s), Err(SilenceError::Invalid(want.into())));
        }
        assert!(validate(&sil(r#"a!="""#, 10, 20)).is_ok());
        let now = at(100);
        assert!(validate_postable(&sil("a=b", 200, 200), now)
            .unwrap_err()
            .to_string()
            .contains("start time must be before end time"));
        assert!(validate_postable(&sil("a=b", 10, 50), now)
            .unwrap_err()
            .to_string()
            .contains("end time can't be in the past"));
        let mut st = Silences::new(Duration::ZERO);
        assert!(st.set(sil(r#"a=~".*""#, 100, 200), now).is_err());
        assert!(st.is_empty());
    }

    /// Upstream's `TestQState`.
    #[test]
    fn query_by_state() {
        let mut st = Silences::new(Duration::from_secs(3600));
        let now = at(100);
        let active = st.set(sil("a=b", 100, 200), now).unwrap();
        let pending = st.set(sil("a=b", 300, 400), now).unwrap();
        let expired = st.set(sil("a=b", 100, 120), now).unwrap();
        let at150 = at(150);
        let ids = |states: &[SilenceState]| -> Vec<String> {
            let mut v: Vec<String> = st
                .in_states(at150, states)
                .iter()
                .map(|s| s.id.clone())
                .collect();
            v.sort();
            v
        };
        assert_eq!(ids(&[SilenceState::Active]), vec![active.clone()]);
        assert_eq!(ids(&[SilenceState::Pending]), vec![pending.clone()]);
        assert_eq!(ids(&[SilenceState::Expired]), vec![expired.clone()]);
        let mut both = vec![active, pending];
        both.sort();
        assert_eq!(ids(&[SilenceState::Active, SilenceState::Pending]), both);
        assert!(ids(&[]).is_empty());
    }

    #[test]
    fn mutes_only_while_active() {
        let mut st = Silences::new(Duration::from_secs(3600));
        let id = st
            .set(
                sil(r#"alertname="Down", env=~"prod|stg""#, 100, 200),
                at(100),
            )
            .unwrap();
        let alert = ls(&[("alertname", "Down"), ("env", "prod")]);
        assert_eq!(st.mutes(&alert, at(99)), Vec::<String>::new());
        assert_eq!(st.mutes(&alert, at(150)), vec![id.clone()]);
        assert!(st.mutes(&ls(&[("alertname", "Down")]), at(150)).is_empty());
        assert!(st
            .mutes(
                &ls(&[("alertname", "Down"), ("env", "production")]),
                at(150)
            )
            .is_empty());
        assert!(st.mutes(&alert, at(201)).is_empty());
    }

    #[test]
    fn gc_by_retention_and_snapshot_round_trip() {
        let mut st = Silences::new(Duration::from_secs(100));
        let a = st.set(sil(r#"a="b\"c""#, 100, 200), at(100)).unwrap();
        let b = st.set(sil("x=~y.*", 100, 500), at(100)).unwrap();
        let json = serde_json::to_string(&st.snapshot()).unwrap();
        assert!(json.contains(r#""isRegex":true"#), "{json}");
        let restored: Vec<Silence> = serde_json::from_str(&json).unwrap();
        let st2 = Silences::from_snapshot(Duration::from_secs(100), restored, at(100));
        assert_eq!(st2.snapshot(), st.snapshot());
        assert_eq!(st.gc(at(300)), 0, "ends_at + retention == now is kept");
        assert_eq!(st.gc(at(301)), 1);
        assert!(st.get(&a).is_none());
        assert!(st.get(&b).is_some());
    }

    #[test]
    fn limit_counts_live_silences() {
        let mut st = Silences::new(Duration::from_secs(100)).with_limit(1);
        let a = st.set(sil("a=b", 100, 200), at(100)).unwrap();
        assert_eq!(
            st.set(sil("a=c", 100, 200), at(100)),
            Err(SilenceError::Limit { count: 1, limit: 1 })
        );
        st.expire(&a, at(110)).unwrap();
        assert!(st.set(sil("a=c", 100, 200), at(111)).is_ok());
    }

    #[test]
    fn size_limit_refuses_big_silences_on_create_and_update() {
        let small = sil("a=b", 100, 200);
        let size = serde_json::to_vec(&small).unwrap().len();
        // Room for the ID and timestamps `set` fills in.
        let limit = size + 100;
        let mut st = Silences::new(Duration::from_secs(100)).with_max_size(limit);
        let id = st.set(small, at(100)).unwrap();
        let mut big = sil("a=b", 100, 200);
        big.comment = "x".repeat(200);
        let err = st.set(big.clone(), at(100)).unwrap_err();
        assert!(matches!(err, SilenceError::TooLarge { limit: l, .. } if l == limit));
        assert!(err
            .to_string()
            .starts_with("silence exceeded maximum size: "));
        // An in-place update that grows past the limit is refused too.
        big.id = id;
        assert!(matches!(
            st.set(big, at(101)),
            Err(SilenceError::TooLarge { .. })
        ));
        assert_eq!(st.snapshot().len(), 1);
        // 0 = unlimited.
        let mut st = Silences::new(Duration::from_secs(100));
        let mut big = sil("a=b", 100, 200);
        big.comment = "x".repeat(10_000);
        assert!(st.set(big, at(100)).is_ok());
    }
}
