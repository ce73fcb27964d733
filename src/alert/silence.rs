//! Silences (Alertmanager's `silence/silence.go`): the store with upstream's create /
//! update / expire semantics, states, validation, matching and garbage collection.
//!
//! Pure: every operation takes `now`. IDs are random UUIDv4. The store serializes with serde
//! (a list of [`Silence`]) so the persistence layer can snapshot and restore it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::labels::{is_valid_label_name, LabelSet, MatchOp, Matcher, Matchers};

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
        if !is_valid_label_name(&self.name) && self.name.is_empty() {
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
    #[error("exceeded maximum number of silences: {0} (limit: {0})")]
    Limit(usize),
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
        if self.max_silences > 0 {
            let live = self
                .by_id
                .values()
                .filter(|s| s.state(now) != SilenceState::Expired)
                .count();
            if live >= self.max_silences {
                return Err(SilenceError::Limit(self.max_silences));
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
