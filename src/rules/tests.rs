//! Unit tests of the rule engine: the state machine with explicit timestamps, rule-file
//! validation and the unit-test file format.

use std::time::Duration;

use super::alerting::*;
use crate::labels::LabelSet;

const M: i64 = 60_000;

fn ls(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn spec(hold_s: u64, keep_s: u64) -> AlertSpec {
    AlertSpec {
        name: "Down".to_string(),
        hold: Duration::from_secs(hold_s),
        keep_firing_for: Duration::from_secs(keep_s),
        labels: ls(&[("severity", "page")]),
        annotations: ls(&[("summary", "{{ $value }}")]),
    }
}

/// Substitutes `{{ $value }}` only: enough to see annotations refreshed each evaluation.
fn expand(_name: &str, text: &str, input: &TemplateInput<'_>) -> String {
    text.replace("{{ $value }}", &input.value.to_string())
}

fn up(v: f64) -> Vec<(LabelSet, f64)> {
    vec![(ls(&[("__name__", "probe_success"), ("instance", "a")]), v)]
}

fn only(a: &ActiveAlerts) -> &Alert {
    assert_eq!(a.active.len(), 1, "{:?}", a.active);
    a.active.values().next().expect("one alert")
}

fn step(a: &mut ActiveAlerts, s: &AlertSpec, ts: i64, samples: &[(LabelSet, f64)]) {
    a.eval(s, ts, samples, &expand, 0).expect("eval");
}

#[test]
fn for_zero_fires_on_the_first_evaluation() {
    let s = spec(0, 0);
    let mut a = ActiveAlerts::default();
    step(&mut a, &s, 0, &up(0.0));
    let al = only(&a);
    assert_eq!(al.state, AlertState::Firing);
    assert_eq!((al.active_at, al.fired_at), (0, Some(0)));
}

#[test]
fn alert_labels_drop_name_and_add_rule_labels_and_alertname() {
    let mut s = spec(0, 0);
    s.labels = ls(&[("instance", "override"), ("empty", ""), ("severity", "x")]);
    let mut a = ActiveAlerts::default();
    let sample = vec![(
        ls(&[
            ("__name__", "m"),
            ("alertname", "fromsample"),
            ("instance", "a"),
            ("job", "j"),
        ]),
        1.0,
    )];
    step(&mut a, &s, 0, &sample);
    assert_eq!(
        only(&a).labels,
        ls(&[
            ("alertname", "Down"),
            ("instance", "override"),
            ("job", "j"),
            ("severity", "x")
        ])
    );
}

#[test]
fn pending_becomes_firing_when_active_for_at_least_for() {
    // for: 2m at a 1m interval fires on the third evaluation, as promtool shows.
    let s = spec(120, 0);
    let mut a = ActiveAlerts::default();
    step(&mut a, &s, 0, &up(0.0));
    assert_eq!(only(&a).state, AlertState::Pending);
    step(&mut a, &s, M, &up(0.0));
    assert_eq!(only(&a).state, AlertState::Pending);
    step(&mut a, &s, 2 * M, &up(0.5));
    let al = only(&a);
    assert_eq!(al.state, AlertState::Firing);
    assert_eq!((al.active_at, al.fired_at), (0, Some(2 * M)));
    assert_eq!(al.value, 0.5);
    assert_eq!(al.annotations, ls(&[("summary", "0.5")]));
}

#[test]
fn flapping_pending_alert_restarts_its_for() {
    let s = spec(120, 0);
    let mut a = ActiveAlerts::default();
    step(&mut a, &s, 0, &up(0.0));
    step(&mut a, &s, M, &up(0.0));
    step(&mut a, &s, 2 * M, &[]);
    assert!(
        a.active.is_empty(),
        "a pending alert that vanishes is deleted"
    );
    step(&mut a, &s, 3 * M, &up(0.0));
    assert_eq!(only(&a).active_at, 3 * M);
    step(&mut a, &s, 4 * M, &up(0.0));
    assert_eq!(only(&a).state, AlertState::Pending);
    step(&mut a, &s, 5 * M, &up(0.0));
    assert_eq!(only(&a).state, AlertState::Firing);
}

#[test]
fn resolved_alert_is_kept_fifteen_minutes_then_deleted() {
    let s = spec(0, 0);
    let mut a = ActiveAlerts::default();
    step(&mut a, &s, 0, &up(0.0));
    step(&mut a, &s, M, &[]);
    let al = only(&a);
    assert_eq!(al.state, AlertState::Inactive);
    assert_eq!(al.resolved_at, Some(M));
    // ts − ResolvedAt > 15m is strict: still there at exactly 15m.
    step(&mut a, &s, 16 * M, &[]);
    assert_eq!(only(&a).resolved_at, Some(M), "resolved time does not move");
    step(&mut a, &s, 16 * M + 1, &[]);
    assert!(a.active.is_empty());
}

#[test]
fn resolved_alert_that_returns_starts_pending_again() {
    let s = spec(60, 0);
    let mut a = ActiveAlerts::default();
    step(&mut a, &s, 0, &up(0.0));
    step(&mut a, &s, M, &up(0.0));
    assert_eq!(only(&a).state, AlertState::Firing);
    step(&mut a, &s, 2 * M, &[]);
    assert_eq!(only(&a).state, AlertState::Inactive);
    step(&mut a, &s, 3 * M, &up(0.0));
    let al = only(&a);
    assert_eq!(al.state, AlertState::Pending);
    assert_eq!(
        (al.active_at, al.resolved_at, al.fired_at),
        (3 * M, None, None)
    );
}

#[test]
fn keep_firing_for_holds_one_extra_evaluation() {
    let s = spec(0, 60);
    let mut a = ActiveAlerts::default();
    step(&mut a, &s, 0, &up(0.0));
    step(&mut a, &s, M, &[]);
    let al = only(&a);
    assert_eq!(al.state, AlertState::Firing);
    assert_eq!(al.keep_firing_since, Some(M));
    step(&mut a, &s, 2 * M, &[]);
    let al = only(&a);
    assert_eq!(al.state, AlertState::Inactive);
    assert_eq!(al.resolved_at, Some(2 * M));
}

#[test]
fn keep_firing_since_resets_when_the_series_returns() {
    let s = spec(0, 90);
    let mut a = ActiveAlerts::default();
    step(&mut a, &s, 0, &up(0.0));
    step(&mut a, &s, M, &[]);
    step(&mut a, &s, 2 * M, &up(0.0));
    assert_eq!(only(&a).keep_firing_since, None);
    step(&mut a, &s, 3 * M, &[]);
    step(&mut a, &s, 4 * M, &[]);
    assert_eq!(only(&a).state, AlertState::Firing, "90s not yet elapsed");
    step(&mut a, &s, 5 * M, &[]);
    assert_eq!(only(&a).state, AlertState::Inactive);
}

#[test]
fn keep_firing_for_does_not_hold_pending_alerts() {
    let s = spec(120, 600);
    let mut a = ActiveAlerts::default();
    step(&mut a, &s, 0, &up(0.0));
    step(&mut a, &s, M, &[]);
    assert!(a.active.is_empty());
}

#[test]
fn duplicate_label_sets_are_an_error() {
    let s = spec(0, 0);
    let mut a = ActiveAlerts::default();
    let samples = vec![
        (ls(&[("__name__", "a"), ("x", "1")]), 1.0),
        (ls(&[("__name__", "b"), ("x", "1")]), 1.0),
    ];
    assert_eq!(
        a.eval(&s, 0, &samples, &expand, 0),
        Err(EvalError::DuplicateAlertLabels)
    );
    assert_eq!(
        EvalError::DuplicateAlertLabels.to_string(),
        "vector contains metrics with the same labelset after applying alert labels"
    );
}

#[test]
fn exceeding_the_limit_drops_every_alert() {
    let s = spec(0, 0);
    let mut a = ActiveAlerts::default();
    let samples: Vec<_> = (0..3)
        .map(|i| (ls(&[("x", &i.to_string())]), 1.0))
        .collect();
    a.eval(&s, 0, &samples, &expand, 3).expect("at the limit");
    assert_eq!(a.active.len(), 3);
    let e = a.eval(&s, M, &samples, &expand, 2).unwrap_err();
    assert_eq!(e.to_string(), "exceeded limit of 2 with 3 alerts");
    assert!(a.active.is_empty());
}

#[test]
fn raising_for_puts_a_firing_alert_back_to_pending() {
    let mut a = ActiveAlerts::default();
    step(&mut a, &spec(60, 0), 0, &up(0.0));
    step(&mut a, &spec(60, 0), M, &up(0.0));
    assert_eq!(only(&a).state, AlertState::Firing);
    step(&mut a, &spec(600, 0), 2 * M, &up(0.0));
    let al = only(&a);
    assert_eq!((al.state, al.fired_at), (AlertState::Pending, None));
    step(&mut a, &spec(600, 0), 10 * M, &up(0.0));
    assert_eq!(only(&a).state, AlertState::Firing);
}

#[test]
fn pending_alerts_are_never_sent_and_firing_ones_resend_after_the_delay_strictly() {
    let s = spec(60, 0);
    let mut a = ActiveAlerts::default();
    let (delay, interval) = (Duration::from_secs(60), Duration::from_secs(60));
    step(&mut a, &s, 0, &up(0.0));
    assert!(a.to_send(0, delay, interval).is_empty());
    let mut sent_at = Vec::new();
    for i in 1..=5 {
        step(&mut a, &s, i * M, &up(0.0));
        let out = a.to_send(i * M, delay, interval);
        if let Some(al) = out.first() {
            assert_eq!(al.fired_at, Some(M));
            assert_eq!(al.valid_until, i * M + 4 * M);
            sent_at.push(i);
        }
    }
    // lastSent + 1m < ts is strict, so with 1m evaluations a firing alert goes every 2m.
    assert_eq!(sent_at, vec![1, 3, 5]);
    // Resolution is sent at once, then re-sent every 2m with the same ResolvedAt.
    step(&mut a, &s, 6 * M, &[]);
    let out = a.to_send(6 * M, delay, interval);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].resolved_at, Some(6 * M));
    step(&mut a, &s, 7 * M, &[]);
    assert!(a.to_send(7 * M, delay, interval).is_empty());
    step(&mut a, &s, 8 * M, &[]);
    assert_eq!(
        a.to_send(8 * M, delay, interval)[0].resolved_at,
        Some(6 * M)
    );
}

#[test]
fn valid_until_uses_the_larger_of_interval_and_resend_delay() {
    let s = spec(0, 0);
    let mut a = ActiveAlerts::default();
    step(&mut a, &s, 0, &up(0.0));
    let out = a.to_send(0, Duration::from_secs(60), Duration::from_secs(120));
    assert_eq!(out[0].valid_until, 8 * M);
}

#[test]
fn alerts_and_for_state_series() {
    let s = spec(60, 0);
    let mut a = ActiveAlerts::default();
    step(&mut a, &s, M, &up(0.0));
    let series = alert_series(&a);
    assert_eq!(
        series,
        vec![
            (
                ls(&[
                    ("__name__", "ALERTS"),
                    ("alertname", "Down"),
                    ("alertstate", "pending"),
                    ("instance", "a"),
                    ("severity", "page"),
                ]),
                1.0
            ),
            (
                ls(&[
                    ("__name__", "ALERTS_FOR_STATE"),
                    ("alertname", "Down"),
                    ("instance", "a"),
                    ("severity", "page"),
                ]),
                60.0
            ),
        ]
    );
}

/// Runs a rule with saved state from before a restart; returns the alert after the first
/// evaluation at `now`.
fn restored(hold_s: u64, saved: SavedAlert, now: i64) -> Alert {
    let s = spec(hold_s, 0);
    let mut a = ActiveAlerts::default();
    a.set_restore(vec![saved], RestoreOpts::default());
    step(&mut a, &s, now, &up(0.0));
    only(&a).clone()
}

fn saved(state: AlertState, active_at: i64, down_at: i64) -> SavedAlert {
    SavedAlert {
        labels: ls(&[
            ("alertname", "Down"),
            ("instance", "a"),
            ("severity", "page"),
        ]),
        state,
        active_at,
        fired_at: (state == AlertState::Firing).then_some(active_at + 60 * M),
        last_active_eval: down_at,
    }
}

#[test]
fn restore_does_not_count_downtime_towards_for() {
    // for 1h, pending 20m before going down for 5m: 40m remain, so ActiveAt moves by 5m.
    let a = restored(3600, saved(AlertState::Pending, 0, 20 * M), 25 * M);
    assert_eq!(a.state, AlertState::Pending);
    assert_eq!(a.active_at, 5 * M);
}

#[test]
fn restore_with_little_left_fires_after_the_grace_period() {
    // for 30m, pending 25m: 5m remain, under the 10m grace, so it fires 10m from now.
    let now = 27 * M;
    let a = restored(1800, saved(AlertState::Pending, 0, 25 * M), now);
    assert_eq!(a.active_at, now + 10 * M - 30 * M);
    assert_eq!(a.state, AlertState::Pending);
}

#[test]
fn restore_of_a_firing_alert_fires_at_once_with_its_old_fired_at() {
    let a = restored(3600, saved(AlertState::Firing, 0, 90 * M), 92 * M);
    assert_eq!(a.state, AlertState::Firing);
    assert_eq!(a.active_at, 0);
    assert_eq!(a.fired_at, Some(60 * M));
}

#[test]
fn restore_is_skipped_for_short_for_and_stale_state() {
    // for 5m < grace 10m: not restored, the alert waits its whole `for` again.
    let a = restored(300, saved(AlertState::Pending, 0, 2 * M), 3 * M);
    assert_eq!(a.active_at, 3 * M);
    // Down longer than the outage tolerance (1h): not restored.
    let a = restored(3600, saved(AlertState::Pending, 0, 20 * M), 81 * M);
    assert_eq!(a.active_at, 81 * M);
}

#[test]
fn restore_applies_only_at_the_first_evaluation() {
    let s = spec(3600, 0);
    let mut a = ActiveAlerts::default();
    a.set_restore(
        vec![saved(AlertState::Pending, 0, 20 * M)],
        RestoreOpts::default(),
    );
    step(&mut a, &s, 25 * M, &[]);
    assert!(a.active.is_empty());
    step(&mut a, &s, 26 * M, &up(0.0));
    assert_eq!(only(&a).active_at, 26 * M);
}
