//! The dedup decision of Alertmanager's `notify/dedup_stage.go` `needsUpdate`: given the
//! notification-log entry for one (group, integration) and the label hashes of the alerts
//! that reached this stage, decide whether to notify and why. Pure: `now` is an argument.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use crate::alert::nflog::Entry;

/// Why a notification is sent (`notification_reason` in newer Alertmanager payloads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    FirstNotification,
    NewAlertsAdded,
    AllAlertsResolved,
    SomeAlertsResolved,
    RepeatIntervalElapsed,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::FirstNotification => "first notification",
            Reason::NewAlertsAdded => "new alerts added",
            Reason::AllAlertsResolved => "all alerts resolved",
            Reason::SomeAlertsResolved => "some alerts resolved",
            Reason::RepeatIntervalElapsed => "repeat interval elapsed",
        }
    }
}

/// `Some(reason)` when the integration must be notified (§2.6, first matching row wins).
pub fn needs_update(
    entry: Option<&Entry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    send_resolved: bool,
    repeat_interval: Duration,
    now: SystemTime,
) -> Option<Reason> {
    let Some(entry) = entry else {
        // No entry: only notify if something fires; a receiver that never saw an alert
        // firing is not told it resolved.
        return (!firing.is_empty()).then_some(Reason::FirstNotification);
    };
    if !firing.is_subset(&entry.firing) {
        return Some(if entry.firing.is_empty() {
            Reason::FirstNotification
        } else {
            Reason::NewAlertsAdded
        });
    }
    // Notify about all alerts being resolved. Without send_resolved the retry stage then
    // sends nothing, but the log is still updated so a re-fire counts as new.
    if firing.is_empty() {
        return (!entry.firing.is_empty()).then_some(Reason::AllAlertsResolved);
    }
    if send_resolved && !resolved.is_subset(&entry.resolved) {
        return Some(Reason::SomeAlertsResolved);
    }
    // Nothing changed: only notify once the repeat interval has passed.
    match now.checked_sub(repeat_interval) {
        Some(threshold) if entry.timestamp < threshold => Some(Reason::RepeatIntervalElapsed),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn set(h: &[u64]) -> BTreeSet<u64> {
        h.iter().copied().collect()
    }

    fn entry(firing: &[u64], resolved: &[u64], timestamp: SystemTime) -> Entry {
        Entry {
            timestamp,
            firing: set(firing),
            resolved: set(resolved),
            expires_at: timestamp + Duration::from_secs(86_400),
        }
    }

    /// Upstream's `TestDedupStageNeedsUpdate`, row for row.
    #[test]
    fn dedup_stage_needs_update_table() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let min = |m: u64| Duration::from_secs(60 * m);
        let ago = |m: u64| now - min(m);
        #[allow(clippy::type_complexity)]
        let cases: Vec<(Option<Entry>, &[u64], &[u64], Duration, bool, bool)> = vec![
            // No matching nflog entry should update.
            (None, &[2, 3, 4], &[], Duration::ZERO, false, true),
            // No matching nflog entry shouldn't update if no alert fires.
            (None, &[], &[2, 3, 4], Duration::ZERO, false, false),
            // Different sets of firing alerts should update.
            (
                Some(entry(&[1, 2, 3], &[], ago(0))),
                &[2, 3, 4],
                &[],
                Duration::ZERO,
                false,
                true,
            ),
            // Zero timestamp in the nflog entry should always update.
            (
                Some(entry(&[1, 2, 3], &[], UNIX_EPOCH)),
                &[1, 2, 3],
                &[],
                Duration::ZERO,
                false,
                true,
            ),
            // Identical sets of alerts shouldn't update before repeat_interval.
            (
                Some(entry(&[1, 2, 3], &[], ago(9))),
                &[1, 2, 3],
                &[],
                min(10),
                false,
                false,
            ),
            // Identical sets of alerts should update after repeat_interval.
            (
                Some(entry(&[1, 2, 3], &[], ago(11))),
                &[1, 2, 3],
                &[],
                min(10),
                false,
                true,
            ),
            // Different sets of resolved alerts without firing alerts shouldn't update after repeat_interval.
            (
                Some(entry(&[], &[1, 2, 3], ago(11))),
                &[],
                &[3, 4, 5],
                min(10),
                true,
                false,
            ),
            // Different sets of resolved alerts shouldn't update when resolve is false.
            (
                Some(entry(&[1, 2], &[3], ago(9))),
                &[1],
                &[2, 3],
                min(10),
                false,
                false,
            ),
            // Different sets of resolved alerts should update when resolve is true.
            (
                Some(entry(&[1, 2], &[3], ago(9))),
                &[1],
                &[2, 3],
                min(10),
                true,
                true,
            ),
            // Empty set of firing alerts should update when resolve is false.
            (
                Some(entry(&[1, 2], &[3], ago(9))),
                &[],
                &[1, 2, 3],
                min(10),
                false,
                true,
            ),
            // Empty set of firing alerts should update when resolve is true.
            (
                Some(entry(&[1, 2], &[3], ago(9))),
                &[],
                &[1, 2, 3],
                min(10),
                true,
                true,
            ),
        ];
        for (i, (e, firing, resolved, repeat, send_resolved, want)) in cases.iter().enumerate() {
            let got = needs_update(
                e.as_ref(),
                &set(firing),
                &set(resolved),
                *send_resolved,
                *repeat,
                now,
            );
            assert_eq!(got.is_some(), *want, "case {i}: {got:?}");
        }
    }

    #[test]
    fn reasons() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let r = |e: Option<Entry>, f: &[u64], res: &[u64]| {
            needs_update(
                e.as_ref(),
                &set(f),
                &set(res),
                true,
                Duration::from_secs(60),
                now,
            )
        };
        assert_eq!(r(None, &[1], &[]), Some(Reason::FirstNotification));
        assert_eq!(
            r(Some(entry(&[], &[1], now)), &[1], &[]),
            Some(Reason::FirstNotification)
        );
        assert_eq!(
            r(Some(entry(&[1], &[], now)), &[1, 2], &[]),
            Some(Reason::NewAlertsAdded)
        );
        assert_eq!(
            r(Some(entry(&[1], &[], now)), &[], &[1]),
            Some(Reason::AllAlertsResolved)
        );
        assert_eq!(
            r(Some(entry(&[1, 2], &[], now)), &[1], &[2]),
            Some(Reason::SomeAlertsResolved)
        );
        // A subset of the notified firing set alone never notifies.
        assert_eq!(r(Some(entry(&[1, 2], &[], now)), &[1], &[]), None);
        // Repeat is strict: exactly repeat_interval ago is not enough.
        let at = now - Duration::from_secs(60);
        assert_eq!(r(Some(entry(&[1], &[], at)), &[1], &[]), None);
        let at = now - Duration::from_secs(61);
        assert_eq!(
            r(Some(entry(&[1], &[], at)), &[1], &[]),
            Some(Reason::RepeatIntervalElapsed)
        );
    }
}
