//! The decision stages of one flush, in Alertmanager's order (`notify/notify.go`): the mute
//! stage for inhibition (`MuteStage` with the `Inhibitor`), the time-interval stages
//! (`TimeActiveStage`, `TimeMuteStage`), the mute stage for silences, and per integration
//! the dedup stage (`DedupStage`, deciding through [`needs_update`]) with the retry stage's
//! `send_resolved` filter.
//!
//! Pure: every function takes `now` and the data it reads (an inhibitor, the silences, the
//! time intervals, a notification-log entry) and returns its decision. This module takes no
//! locks, reads no clock, sends nothing and writes nothing to the notification log; the
//! flush in `pipeline/flush.rs` calls the stages as a straight line and acts on them.
//!
//! blackwatch extension (alertmanager #226, #2754): with `resolved_after_mute`, an alert that
//! was notified as firing to an integration and resolves while it is inhibited or silenced
//! still reaches that integration as resolved (see [`select`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use crate::alert::dedup::{needs_update, Reason};
use crate::alert::dispatch::FlushAlert;
use crate::alert::inhibit::Inhibitor;
use crate::alert::nflog::Entry;
use crate::alert::route::RouteOpts;
use crate::alert::silence::Silences;
use crate::alert::timeinterval::TimeInterval;
use crate::labels::LabelSet;

/// What muted an alert; [`MutedBy::reason`] is the `reason` label of
/// `alertmanager_notifications_suppressed_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MutedBy {
    Inhibition,
    ActiveTimeInterval,
    MuteTimeInterval,
    Silence,
}

impl MutedBy {
    pub fn reason(self) -> &'static str {
        match self {
            MutedBy::Inhibition => "inhibition",
            MutedBy::ActiveTimeInterval => "active_time_interval",
            MutedBy::MuteTimeInterval => "mute_time_interval",
            MutedBy::Silence => "silence",
        }
    }
}

/// What the mute stages made of one alert of a flush.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Kept,
    Muted(MutedBy),
}

/// The two muters of Alertmanager's `MuteStage`. A closed set, dispatched with `match`.
#[derive(Clone, Copy)]
pub enum Muter<'a> {
    Inhibitor(&'a Inhibitor),
    Silences(&'a Silences),
}

impl Muter<'_> {
    fn by(self) -> MutedBy {
        match self {
            Muter::Inhibitor(_) => MutedBy::Inhibition,
            Muter::Silences(_) => MutedBy::Silence,
        }
    }

    /// Whether it can mute anything at all. When it cannot, no label set is built: a flush
    /// may carry many alerts.
    fn may_mute(self) -> bool {
        match self {
            Muter::Inhibitor(i) => i.rules().next().is_some(),
            Muter::Silences(s) => !s.is_empty(),
        }
    }

    /// Whether an alert with these labels is muted at `now`: inhibited by a source alert
    /// that has not ended, or matched by an active silence.
    pub fn mutes(self, labels: &LabelSet, now: SystemTime) -> bool {
        match self {
            Muter::Inhibitor(i) => i.mutes(labels, now).is_some(),
            Muter::Silences(s) => !s.mutes(labels, now).is_empty(),
        }
    }
}

/// The mute stage: marks each still kept alert of `alerts` that `muter` mutes at `now` as
/// muted by it, and returns how many it muted. `fates` runs parallel to `alerts`; alerts
/// already muted by an earlier stage are not asked about again, so every muted alert is
/// counted once, by the first stage that muted it.
pub fn mute(alerts: &[FlushAlert], fates: &mut [Fate], muter: Muter<'_>, now: SystemTime) -> usize {
    if !muter.may_mute() {
        return 0;
    }
    let mut muted = 0;
    for (alert, fate) in alerts.iter().zip(fates.iter_mut()) {
        if *fate == Fate::Kept && muter.mutes(&alert.alert.labels(), now) {
            *fate = Fate::Muted(muter.by());
            muted += 1;
        }
    }
    muted
}

/// The time-interval stages: whether the route's time intervals mute the whole flush at
/// `now`, and which of them. Outside every one of the route's `active_time_intervals`
/// (when it has any) mutes first; inside any of its `mute_time_intervals` mutes second. A
/// name missing from `intervals` (the config loader refuses those) is never in effect.
pub fn time_muted(
    opts: &RouteOpts,
    intervals: &BTreeMap<String, TimeInterval>,
    now: SystemTime,
) -> Option<MutedBy> {
    let in_effect = |name: &String| intervals.get(name).is_some_and(|ti| ti.contains(now));
    if !opts.active_time_intervals.is_empty() && !opts.active_time_intervals.iter().any(in_effect) {
        return Some(MutedBy::ActiveTimeInterval);
    }
    if opts.mute_time_intervals.iter().any(in_effect) {
        return Some(MutedBy::MuteTimeInterval);
    }
    None
}

/// How many alerts no stage muted.
pub fn kept(fates: &[Fate]) -> usize {
    fates.iter().filter(|f| **f == Fate::Kept).count()
}

/// Whether the integrations have to look at this flush at all: some alert is kept, or (with
/// `resolved_after_mute`) a muted one is resolved and may still be owed its resolved notice.
pub fn any_to_send(alerts: &[FlushAlert], fates: &[Fate], resolved_after_mute: bool) -> bool {
    alerts.iter().zip(fates).any(|(alert, fate)| match fate {
        Fate::Kept => true,
        Fate::Muted(_) => resolved_after_mute && !alert.firing,
    })
}

/// What one integration gets from a flush.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// Why it is notified.
    pub reason: Reason,
    /// Indices into the flush's alerts, in the flush's order: what the notifier sends.
    /// Resolved alerts are in it only with `send_resolved`, so it may be empty (all resolved
    /// without `send_resolved`): nothing is sent, but the log is still updated.
    pub send: Vec<usize>,
    /// The fingerprints the notification log records once the send succeeded.
    pub firing: BTreeSet<u64>,
    pub resolved: BTreeSet<u64>,
}

/// The dedup stage and the send filter of one integration, whose notification-log entry for
/// the group is `entry` (unexpired at `now`): `None` if the integration is not notified.
///
/// The candidates are the kept alerts, plus (with `resolved_after_mute`) the muted resolved
/// alerts that `entry` records as notified firing. No candidates means no notification and
/// no log update. Otherwise [`needs_update`] decides over the candidates' firing and
/// resolved fingerprints, and the retry stage's filter drops resolved alerts from what is
/// sent unless `send_resolved`.
pub fn select(
    alerts: &[FlushAlert],
    fates: &[Fate],
    entry: Option<&Entry>,
    resolved_after_mute: bool,
    send_resolved: bool,
    repeat_interval: Duration,
    now: SystemTime,
) -> Option<Selection> {
    let owed_resolved = |alert: &FlushAlert| {
        resolved_after_mute
            && !alert.firing
            && entry.is_some_and(|e| e.firing.contains(&alert.fingerprint()))
    };
    let candidates: Vec<usize> = alerts
        .iter()
        .zip(fates)
        .enumerate()
        .filter(|(_, (alert, fate))| match fate {
            Fate::Kept => true,
            Fate::Muted(_) => owed_resolved(alert),
        })
        .map(|(i, _)| i)
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let (mut firing, mut resolved) = (BTreeSet::new(), BTreeSet::new());
    for &i in &candidates {
        let alert = &alerts[i];
        if alert.firing {
            firing.insert(alert.fingerprint());
        } else {
            resolved.insert(alert.fingerprint());
        }
    }
    let reason = needs_update(
        entry,
        &firing,
        &resolved,
        send_resolved,
        repeat_interval,
        now,
    )?;
    let send = candidates
        .into_iter()
        .filter(|&i| send_resolved || alerts[i].firing)
        .collect();
    Some(Selection {
        reason,
        send,
        firing,
        resolved,
    })
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::alert::inhibit::InhibitRule;
    use crate::alert::silence::Silence;
    use crate::alert::store::{Alert, AlertStore};
    use crate::alert::timeinterval::{TimeIntervalSpec, TimeRange};
    use crate::labels::{label_set as ls, Matchers};

    /// `secs` after a midnight (UTC), so time-of-day intervals read naturally.
    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_057_600 + secs)
    }

    const HOUR: u64 = 3600;

    /// A flush alert with the given labels, as the dispatcher hands it out.
    fn alert(labels: &[(&str, &str)], firing: bool) -> FlushAlert {
        let ends_at = if firing { t(10 * HOUR) } else { t(1) };
        let a = Alert {
            labels: ls(labels),
            annotations: ls(&[]),
            starts_at: t(0),
            ends_at,
            generator_url: String::new(),
            updated_at: t(0),
            timeout: false,
        };
        FlushAlert {
            alert: AlertStore::new().put(&a, t(0)),
            firing,
        }
    }

    fn inhibitor() -> Inhibitor {
        let mut i = Inhibitor::new(vec![InhibitRule {
            name: None,
            source: Matchers::parse(r#"{alertname="Source"}"#).unwrap(),
            target: Matchers::parse(r#"{alertname="Target"}"#).unwrap(),
            equal: vec!["zone".into()],
        }]);
        // The source fires until t(100).
        i.observe(&ls(&[("alertname", "Source"), ("zone", "a")]), t(100));
        i
    }

    fn silences(matchers: &str, from: u64, to: u64) -> Silences {
        let mut s = Silences::new(Duration::from_secs(HOUR));
        s.set(
            Silence {
                id: String::new(),
                matchers: Matchers::parse(matchers).unwrap(),
                starts_at: t(from),
                ends_at: t(to),
                updated_at: t(0),
                created_by: "test".into(),
                comment: "test".into(),
            },
            t(0),
        )
        .unwrap();
        s
    }

    fn set(fps: &[u64]) -> BTreeSet<u64> {
        fps.iter().copied().collect()
    }

    #[test]
    fn inhibition_mutes_targets_while_their_source_fires() {
        let alerts = [
            alert(&[("alertname", "Target"), ("zone", "a")], true),
            alert(&[("alertname", "Target"), ("zone", "b")], true),
            alert(&[("alertname", "Source"), ("zone", "a")], true),
            alert(&[("alertname", "Target"), ("zone", "a"), ("x", "1")], false),
        ];
        let i = inhibitor();
        let mut fates = vec![Fate::Kept; alerts.len()];
        assert_eq!(mute(&alerts, &mut fates, Muter::Inhibitor(&i), t(50)), 2);
        let inhibited = Fate::Muted(MutedBy::Inhibition);
        assert_eq!(fates, [inhibited, Fate::Kept, Fate::Kept, inhibited]);
        // At t(100) the source has ended: nothing is inhibited.
        let mut fates = vec![Fate::Kept; alerts.len()];
        assert_eq!(mute(&alerts, &mut fates, Muter::Inhibitor(&i), t(100)), 0);
        assert!(fates.iter().all(|f| *f == Fate::Kept));
    }

    #[test]
    fn silences_mute_what_is_still_kept_while_active() {
        let alerts = [
            alert(&[("alertname", "Target"), ("zone", "a")], true),
            alert(&[("alertname", "Target"), ("zone", "b")], true),
            alert(&[("alertname", "Other")], true),
        ];
        let s = silences(r#"{alertname="Target"}"#, 10, 100);
        let run = |now: SystemTime| {
            let mut fates = vec![Fate::Muted(MutedBy::Inhibition), Fate::Kept, Fate::Kept];
            let n = mute(&alerts, &mut fates, Muter::Silences(&s), now);
            (n, fates)
        };
        let inhibited = Fate::Muted(MutedBy::Inhibition);
        // Active: the first alert stays muted by inhibition and is not counted again.
        assert_eq!(
            run(t(50)),
            (
                1,
                vec![inhibited, Fate::Muted(MutedBy::Silence), Fate::Kept]
            )
        );
        // Active from t(10) to t(100) inclusive (upstream's `getState`).
        assert_eq!(run(t(100)).0, 1);
        // Pending (before t(10)) and expired (after t(100)): nothing more is muted.
        for now in [t(5), t(101)] {
            assert_eq!(run(now), (0, vec![inhibited, Fate::Kept, Fate::Kept]));
        }
    }

    #[test]
    fn muters_without_rules_or_silences_mute_nothing() {
        let alerts = [alert(&[("alertname", "Target"), ("zone", "a")], true)];
        let (i, s) = (
            Inhibitor::new(vec![]),
            Silences::new(Duration::from_secs(HOUR)),
        );
        for muter in [Muter::Inhibitor(&i), Muter::Silences(&s)] {
            let mut fates = vec![Fate::Kept];
            assert_eq!(mute(&alerts, &mut fates, muter, t(50)), 0);
            assert_eq!(fates, [Fate::Kept]);
        }
    }

    /// `office` is 09:00–17:00 UTC every day, `night` 00:00–06:00.
    fn intervals() -> BTreeMap<String, TimeInterval> {
        let daily = |name: &str, from_h: u32, to_h: u32| {
            (
                name.to_string(),
                TimeInterval {
                    name: name.to_string(),
                    specs: vec![TimeIntervalSpec {
                        times: Some(vec![TimeRange {
                            start_minute: from_h * 60,
                            end_minute: to_h * 60,
                        }]),
                        ..TimeIntervalSpec::default()
                    }],
                },
            )
        };
        [daily("office", 9, 17), daily("night", 0, 6)]
            .into_iter()
            .collect()
    }

    fn opts(active: &[&str], muted: &[&str]) -> RouteOpts {
        RouteOpts {
            active_time_intervals: active.iter().map(|s| s.to_string()).collect(),
            mute_time_intervals: muted.iter().map(|s| s.to_string()).collect(),
            ..RouteOpts::default()
        }
    }

    #[test]
    fn time_intervals_mute_outside_active_and_inside_mute_intervals() {
        let iv = intervals();
        let (three, ten, twenty) = (t(3 * HOUR), t(10 * HOUR), t(20 * HOUR));
        // No intervals: never muted.
        assert_eq!(time_muted(&opts(&[], &[]), &iv, three), None);
        // Active intervals: muted outside all of them, including at the end (exclusive).
        let office = opts(&["office"], &[]);
        assert_eq!(time_muted(&office, &iv, ten), None);
        assert_eq!(time_muted(&office, &iv, t(9 * HOUR)), None);
        assert_eq!(
            time_muted(&office, &iv, t(17 * HOUR)),
            Some(MutedBy::ActiveTimeInterval)
        );
        assert_eq!(
            time_muted(&office, &iv, twenty),
            Some(MutedBy::ActiveTimeInterval)
        );
        assert_eq!(
            time_muted(&opts(&["office", "night"], &[]), &iv, three),
            None
        );
        // Mute intervals: muted inside any of them.
        let night = opts(&[], &["night"]);
        assert_eq!(
            time_muted(&night, &iv, three),
            Some(MutedBy::MuteTimeInterval)
        );
        assert_eq!(time_muted(&night, &iv, ten), None);
        // Both: outside the active ones is reported first.
        let both = opts(&["office"], &["night"]);
        assert_eq!(
            time_muted(&both, &iv, three),
            Some(MutedBy::ActiveTimeInterval)
        );
        assert_eq!(time_muted(&both, &iv, ten), None);
        // An unknown name is never in effect.
        assert_eq!(time_muted(&opts(&[], &["missing"]), &iv, three), None);
    }

    #[test]
    fn kept_and_any_to_send() {
        let alerts = [alert(&[("a", "1")], true), alert(&[("a", "2")], false)];
        let silenced = Fate::Muted(MutedBy::Silence);
        assert_eq!(kept(&[Fate::Kept, silenced]), 1);
        assert!(any_to_send(&alerts, &[Fate::Kept, silenced], false));
        // All muted: only a resolved one, with `resolved_after_mute`, keeps the flush going.
        assert!(any_to_send(&alerts, &[silenced, silenced], true));
        assert!(!any_to_send(&alerts, &[silenced, silenced], false));
        assert!(!any_to_send(&alerts[..1], &[silenced], true));
    }

    fn entry(firing: &[u64], resolved: &[u64], at: SystemTime) -> Entry {
        Entry {
            timestamp: at,
            firing: set(firing),
            resolved: set(resolved),
            expires_at: at + Duration::from_secs(10 * HOUR),
        }
    }

    const REPEAT: Duration = Duration::from_secs(300);

    #[test]
    fn select_sends_kept_alerts_in_flush_order() {
        let alerts = [
            alert(&[("a", "1")], true),
            alert(&[("a", "2")], true),
            alert(&[("a", "3")], true),
        ];
        let fps: Vec<u64> = alerts.iter().map(FlushAlert::fingerprint).collect();
        let fates = [Fate::Kept, Fate::Muted(MutedBy::Silence), Fate::Kept];
        assert_eq!(
            select(&alerts, &fates, None, true, true, REPEAT, t(0)),
            Some(Selection {
                reason: Reason::FirstNotification,
                send: vec![0, 2],
                firing: set(&[fps[0], fps[2]]),
                resolved: set(&[]),
            })
        );
        // Nothing kept: no notification and no log update, even where the log would
        // otherwise say "all alerts resolved".
        let all_muted = [Fate::Muted(MutedBy::Inhibition); 3];
        let e = entry(&fps, &[], t(0));
        assert_eq!(
            select(&alerts, &all_muted, Some(&e), true, true, REPEAT, t(10)),
            None
        );
    }

    #[test]
    fn select_repeats_only_after_the_repeat_interval() {
        let alerts = [alert(&[("a", "1")], true)];
        let e = entry(&[alerts[0].fingerprint()], &[], t(0));
        let at = |now| select(&alerts, &[Fate::Kept], Some(&e), true, true, REPEAT, now);
        assert_eq!(at(t(60)), None);
        // Strictly after: at exactly the interval nothing is sent.
        assert_eq!(at(t(300)), None);
        let repeat = at(t(301)).map(|s| (s.reason, s.send));
        assert_eq!(repeat, Some((Reason::RepeatIntervalElapsed, vec![0])));
    }

    #[test]
    fn select_drops_resolved_alerts_without_send_resolved_but_logs_them() {
        let alerts = [alert(&[("a", "1")], true), alert(&[("a", "2")], false)];
        let (fa, fb) = (alerts[0].fingerprint(), alerts[1].fingerprint());
        let e = entry(&[fa, fb], &[], t(0));
        let kept = [Fate::Kept, Fate::Kept];
        // With send_resolved the newly resolved alert is news, and is sent.
        assert_eq!(
            select(&alerts, &kept, Some(&e), true, true, REPEAT, t(10)),
            Some(Selection {
                reason: Reason::SomeAlertsResolved,
                send: vec![0, 1],
                firing: set(&[fa]),
                resolved: set(&[fb]),
            })
        );
        // Without it, some resolved alerts are no reason to notify.
        assert_eq!(
            select(&alerts, &kept, Some(&e), true, false, REPEAT, t(10)),
            None
        );
        // All resolved without send_resolved: nothing to send, but the log is updated, so
        // a re-fire counts as new.
        let e = entry(&[fb], &[], t(0));
        assert_eq!(
            select(
                &alerts[1..],
                &kept[1..],
                Some(&e),
                true,
                false,
                REPEAT,
                t(10)
            ),
            Some(Selection {
                reason: Reason::AllAlertsResolved,
                send: vec![],
                firing: set(&[]),
                resolved: set(&[fb]),
            })
        );
    }

    #[test]
    fn select_owes_a_resolved_notice_for_muted_alerts_notified_firing() {
        let alerts = [alert(&[("a", "1")], false), alert(&[("a", "2")], false)];
        let fa = alerts[0].fingerprint();
        let silenced = [Fate::Muted(MutedBy::Silence); 2];
        // Only the first was notified firing to this integration.
        let e = entry(&[fa], &[], t(0));
        assert_eq!(
            select(&alerts, &silenced, Some(&e), true, true, REPEAT, t(10)),
            Some(Selection {
                reason: Reason::AllAlertsResolved,
                send: vec![0],
                firing: set(&[]),
                resolved: set(&[fa]),
            })
        );
        // Upstream's behaviour without the extension, and integrations that never saw the
        // alert firing: nothing.
        assert_eq!(
            select(&alerts, &silenced, Some(&e), false, true, REPEAT, t(10)),
            None
        );
        assert_eq!(
            select(&alerts, &silenced, None, true, true, REPEAT, t(10)),
            None
        );
        // A muted alert that still fires is never sent.
        let firing = [alert(&[("a", "1")], true)];
        assert_eq!(
            select(&firing, &silenced[..1], Some(&e), true, true, REPEAT, t(10)),
            None
        );
    }
}
