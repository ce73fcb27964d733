//! Unit tests of the rule engine: the state machine with explicit timestamps, rule-file
//! validation and the unit-test file format.

use std::time::Duration;

use super::alerting::*;
use crate::labels::LabelSet;

const M: i64 = 60_000;

use crate::labels::label_set as ls;

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
fn restore_applies_only_in_the_first_two_evaluations() {
    let s = spec(3600, 0);
    let opts = RestoreOpts::default();
    let mut a = ActiveAlerts::default();
    a.set_restore(vec![saved(AlertState::Pending, 0, 20 * M)], opts);
    step(&mut a, &s, 25 * M, &[]);
    assert!(a.active.is_empty());
    // The series shows up at the second evaluation: still restored (downtime 6m).
    step(&mut a, &s, 26 * M, &up(0.0));
    assert_eq!(only(&a).active_at, 6 * M);

    let mut a = ActiveAlerts::default();
    a.set_restore(vec![saved(AlertState::Pending, 0, 20 * M)], opts);
    step(&mut a, &s, 25 * M, &[]);
    step(&mut a, &s, 26 * M, &[]);
    step(&mut a, &s, 27 * M, &up(0.0));
    assert_eq!(only(&a).active_at, 27 * M, "too late: a new incident");
}

mod files {
    use std::path::Path;

    use crate::rules::file::{format_duration, parse_duration, parse_str};

    fn errors(text: &str) -> Vec<String> {
        match parse_str(text, Path::new("r.yml")) {
            Ok(g) => panic!("expected errors, loaded {} groups", g.len()),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn validation_matches_promtool_check_rules() {
        let text = r#"groups:
- name: g
  rules:
  - record: a:b
    expr: up
    for: 1m
    annotations: {x: y}
  - alert: X
    record: y
    expr: up
  - alert: Y
    expr: up
    labels: {__name__: x, "bad-name": y}
    annotations: {"bad-name": y, s: "{{ .Foo "}
  - alert: Z
    expr: ""
  - record: "bad name"
    expr: up
- name: g
  rules: []
- name: ""
  rules: []
"#;
        let e = errors(text);
        let want = [
            r#"r.yml:4:13: group "g", rule 1, "a:b": invalid field 'annotations' in recording rule"#,
            r#"r.yml:4:13: group "g", rule 1, "a:b": invalid field 'for' in recording rule"#,
            r#"group "g", rule 2, "X": only one of 'record' and 'alert' must be set"#,
            r#"group "g", rule 3, "Y": invalid label name: __name__"#,
            r#"group "g", rule 3, "Y": invalid label name: bad-name"#,
            r#"group "g", rule 3, "Y": invalid annotation name: bad-name"#,
            r#"group "g", rule 3, "Y": annotation "s": template: __alert_Y:1: unclosed action"#,
            r#"group "g", rule 4, "Z": field 'expr' must be set in rule"#,
            r#"r.yml:17:13: group "g", rule 5, "bad name": invalid recording rule name: bad name"#,
            r#"r.yml:19:3: groupname: "g" is repeated in the same file"#,
            r#"r.yml:21:3: Groupname must not be empty"#,
        ];
        for w in want {
            assert!(
                e.iter().any(|x| x.contains(w)),
                "missing {w:?} in\n{}",
                e.join("\n")
            );
        }
        assert_eq!(e.len(), want.len(), "{}", e.join("\n"));
    }

    #[test]
    fn unknown_keys_and_unsupported_expressions_are_errors_with_a_position() {
        let e = errors(
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    annotation: {}\n",
        );
        assert!(e[0].starts_with("r.yml:6:"), "{e:?}");
        assert!(e[0].contains("annotation"), "{e:?}");
        let e =
            errors("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: histogram_count(x)\n");
        assert!(
            e[0].starts_with(r#"r.yml:5:11: group "g", rule 1, "A": could not parse expression: "#),
            "{e:?}"
        );
    }

    #[test]
    fn group_settings_and_defaults() {
        let g = parse_str(
            "groups:\n- name: g\n  interval: 30s\n  limit: 10\n  rules:\n  - alert: A\n    expr: up == 0\n    for: 5m\n    keep_firing_for: 1m\n- name: h\n  rules: []\n",
            Path::new("r.yml"),
        )
        .expect("loads");
        assert_eq!(g[0].interval, Some(std::time::Duration::from_secs(30)));
        assert_eq!(g[0].limit, 10);
        assert_eq!(g[1].interval, None);
        assert!(parse_str("# only a comment\n", Path::new("r.yml"))
            .expect("empty file")
            .is_empty());
        // Only the first YAML document counts, as in Prometheus.
        let g = parse_str("groups: []\n---\nnot: valid\n", Path::new("r.yml")).expect("first doc");
        assert!(g.is_empty());
    }

    #[test]
    fn prometheus_durations() {
        assert_eq!(parse_duration("0").unwrap().as_secs(), 0);
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("1d").unwrap().as_secs(), 86400);
        assert_eq!(parse_duration("100ms").unwrap().as_millis(), 100);
        assert!(parse_duration("1.5m").is_err());
        assert!(parse_duration("1m1h").is_err());
        assert!(parse_duration("5").is_err());
        assert_eq!(
            format_duration(std::time::Duration::from_secs(5400)),
            "1h30m"
        );
    }
}

mod runtime {
    use std::collections::HashSet;
    use std::time::Duration;

    use crate::rules::expr::{Labels, Matcher, Queryable, Sample};
    use crate::rules::group::{generator_url, next_slot};
    use crate::rules::persist;
    use crate::rules::recording::{record_output, Overlay};

    use super::*;

    fn sample(pairs: &[(&str, &str)], v: f64) -> Sample {
        Sample {
            labels: Labels::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))),
            value: v,
        }
    }

    #[test]
    fn slots_are_aligned_to_the_interval_with_a_per_group_offset() {
        let iv = Duration::from_secs(60);
        let a = next_slot(1_000_000, iv, "f.yml", "a");
        assert!((1_000_000..1_060_000).contains(&a));
        assert_eq!(
            next_slot(a, iv, "f.yml", "a"),
            a,
            "a slot time is its own slot"
        );
        assert_eq!(next_slot(a + 1, iv, "f.yml", "a"), a + 60_000);
        assert_eq!(
            (a - next_slot(5_000_000, iv, "f.yml", "a")).rem_euclid(60_000),
            0
        );
        let others: HashSet<i64> = (0..20)
            .map(|i| next_slot(0, iv, "f.yml", &format!("g{i}")))
            .collect();
        assert!(others.len() > 10, "groups spread over the interval");
    }

    #[test]
    fn generator_url_is_prometheus_table_link() {
        assert_eq!(
            generator_url("http://h:9115/", "probe_success == 0"),
            "http://h:9115/graph?g0.expr=probe_success+%3D%3D+0&g0.tab=1"
        );
    }

    #[test]
    fn recording_output_names_labels_and_checks() {
        let mut labels = LabelSet::new();
        labels.insert("team".into(), "x".into());
        let out = record_output(
            "job:up:sum",
            &labels,
            vec![sample(&[("__name__", "up"), ("job", "a")], 1.0)],
            0,
        )
        .expect("ok");
        assert_eq!(
            out[0].labels.to_string(),
            r#"{__name__="job:up:sum", job="a", team="x"}"#
        );
        let dup = vec![
            sample(&[("__name__", "a")], 1.0),
            sample(&[("__name__", "b")], 2.0),
        ];
        assert_eq!(
            record_output("r", &LabelSet::new(), dup.clone(), 0)
                .unwrap_err()
                .to_string(),
            "vector contains metrics with the same labelset after applying rule labels"
        );
        let two = vec![sample(&[("i", "1")], 1.0), sample(&[("i", "2")], 2.0)];
        assert_eq!(
            record_output("r", &LabelSet::new(), two, 1)
                .unwrap_err()
                .to_string(),
            "exceeded limit of 1 with 2 series"
        );
    }

    #[test]
    fn overlay_stale_markers_end_series_and_bounded_history_is_trimmed() {
        let o = Overlay::bounded();
        let name = Matcher::equal("__name__", "r");
        let s = sample(&[("__name__", "r"), ("i", "1")], 1.0);
        let prev = o.write_output(0, std::slice::from_ref(&s), &HashSet::new());
        assert_eq!(o.latest(std::slice::from_ref(&name), 60_000).len(), 1);
        let prev = o.write_output(60_000, &[], &prev);
        assert!(prev.is_empty());
        assert!(
            o.latest(std::slice::from_ref(&name), 60_000).is_empty(),
            "stale"
        );
        // With no range declared only the 5m lookback is kept.
        o.write_output(10 * 60_000, std::slice::from_ref(&s), &HashSet::new());
        let pts = o.select(&[name], 0, 20 * 60_000);
        assert_eq!(pts[0].points, vec![(600_000, 1.0)]);
    }

    #[test]
    fn state_survives_a_save_and_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut map = std::collections::BTreeMap::new();
        map.insert(
            persist::RuleKey {
                file: "r.yml".into(),
                group: "g".into(),
                rule: "Down".into(),
            },
            vec![SavedAlert {
                labels: ls(&[("alertname", "Down")]),
                state: AlertState::Firing,
                active_at: 1,
                fired_at: Some(2),
                last_active_eval: 3,
            }],
        );
        let snap = persist::Snapshot::from_map(map.clone());
        persist::save(dir.path(), &snap).expect("save");
        assert!(!dir.path().join("rules.json.tmp").exists());
        assert_eq!(persist::load(dir.path()).expect("load").into_map(), map);
        assert!(persist::load(&dir.path().join("missing"))
            .expect("empty")
            .rules
            .is_empty());
        std::fs::write(dir.path().join("rules.json"), "{").expect("write");
        assert!(persist::load(dir.path()).is_err());
    }

    #[test]
    fn group_eval_sends_prometheus_alerts_and_api_json_has_prometheus_shapes() {
        use std::path::Path;
        use std::sync::{Arc, Mutex};
        use std::time::UNIX_EPOCH;

        use crate::rules::api::{self, RuleType};
        use crate::rules::expr::MemStorage;
        use crate::rules::file::parse_str;
        use crate::rules::group::{EvalSettings, Group};

        let defs = parse_str(
            "groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n  - alert: Down\n    expr: up == 0\n    for: 1m\n    labels: {severity: page}\n    annotations: {summary: '{{ $labels.instance }} down'}\n",
            Path::new("r.yml"),
        )
        .expect("rules load");
        let def = Arc::new(defs.into_iter().next().expect("group"));
        let mut g = Group::new(def, Duration::from_secs(60));
        let mut mem = MemStorage::new();
        mem.add("up{instance=\"a\"}", "0 0", 60_000)
            .expect("series");
        let overlay = Overlay::unbounded();
        let settings = EvalSettings {
            external_url: "http://bw:9115/".into(),
            external_labels: ls(&[("cluster", "c"), ("severity", "not-used")]),
            ..EvalSettings::default()
        };
        assert!(
            g.eval(0, &mem, &overlay, &settings).is_empty(),
            "pending is not sent"
        );
        let sent = g.eval(60_000, &mem, &overlay, &settings);
        assert_eq!(sent.len(), 1);
        let a = &sent[0];
        assert_eq!(
            a.labels,
            ls(&[
                ("alertname", "Down"),
                ("cluster", "c"),
                ("instance", "a"),
                ("severity", "page")
            ])
        );
        assert_eq!(a.annotations, ls(&[("summary", "a down")]));
        assert_eq!(a.starts_at, Some(UNIX_EPOCH + Duration::from_secs(60)));
        assert_eq!(a.ends_at, Some(UNIX_EPOCH + Duration::from_secs(300)));
        assert_eq!(
            a.generator_url,
            "http://bw:9115/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
        );
        // The recording rule wrote into the overlay.
        let rec = overlay.latest(&[Matcher::equal("__name__", "r")], 60_000);
        assert_eq!(rec.len(), 1);

        let groups = vec![Arc::new(Mutex::new(g))];
        let v = api::success(api::rules(&groups, RuleType::All));
        assert_eq!(v["status"], "success");
        let grp = &v["data"]["groups"][0];
        assert_eq!(grp["name"], "g");
        assert_eq!(grp["file"], "r.yml");
        assert_eq!(grp["interval"], 60.0);
        assert_eq!(grp["lastEvaluation"], "1970-01-01T00:01:00.000Z");
        assert_eq!(grp["rules"][0]["type"], "recording");
        assert_eq!(grp["rules"][0]["health"], "ok");
        let rule = &grp["rules"][1];
        assert_eq!(rule["type"], "alerting");
        assert_eq!(rule["state"], "firing");
        assert_eq!(rule["duration"], 60.0);
        assert_eq!(rule["query"], "up == 0");
        assert_eq!(rule["alerts"][0]["activeAt"], "1970-01-01T00:00:00.000Z");
        assert_eq!(rule["alerts"][0]["value"], "0e+00");
        assert!(rule.get("lastError").is_none());
        let alerting_only = api::rules(&groups, RuleType::Alert);
        assert_eq!(
            alerting_only["groups"][0]["rules"].as_array().map(Vec::len),
            Some(1)
        );
        let alerts = api::alerts(&groups);
        assert_eq!(alerts["alerts"][0]["labels"]["severity"], "page");
        assert_eq!(alerts["alerts"][0]["state"], "firing");
    }

    /// Templates' `query` runs at the evaluation's timestamp over what the rule's expression
    /// sees, earlier rules' recorded series included; a scalar is one sample without labels,
    /// and a range-vector result is Prometheus' error inside the annotation.
    #[test]
    fn group_eval_templates_query_at_the_evaluation_time() {
        use std::path::Path;
        use std::sync::Arc;

        use crate::rules::expr::MemStorage;
        use crate::rules::file::parse_str;
        use crate::rules::group::{EvalSettings, Group};

        let defs = parse_str(
            r#"groups:
- name: g
  rules:
  - record: total
    expr: sum(up)
  - alert: Down
    expr: up == 0
    labels:
      down: '{{ query "count(up == 0)" | first | value }}'
    annotations:
      total: '{{ with query "total" }}{{ . | first | value }}{{ end }}'
      now: '{{ with query "time()" }}{{ (first .).Labels }} {{ . | first | value }}{{ end }}'
      up: '{{ range query "up == 1" }}{{ .Labels.instance }}{{ end }}'
      matrix: '{{ query "up[1m]" }}'
"#,
            Path::new("r.yml"),
        )
        .expect("rules load");
        let def = Arc::new(defs.into_iter().next().expect("group"));
        let mut g = Group::new(def, Duration::from_secs(60));
        let mut mem = MemStorage::new();
        mem.add("up{instance=\"a\"}", "0 0", 60_000)
            .expect("series");
        mem.add("up{instance=\"b\"}", "1 1", 60_000)
            .expect("series");
        mem.add("up{instance=\"c\"}", "1 0", 60_000)
            .expect("series");
        let overlay = Overlay::unbounded();
        let settings = EvalSettings::default();
        let alert = |g: &Group, instance: &str| {
            g.rules[1]
                .alerts
                .active
                .values()
                .find(|a| a.labels.get("instance").map(String::as_str) == Some(instance))
                .cloned()
                .unwrap_or_else(|| panic!("alert for {instance}: {:?}", g.rules[1].alerts))
        };
        g.eval(0, &mem, &overlay, &settings);
        let a = alert(&g, "a");
        assert_eq!(a.labels.get("down").map(String::as_str), Some("1"));
        assert_eq!(
            a.annotations,
            ls(&[
                ("total", "2"),
                ("now", "map[] 0"),
                ("up", "bc"),
                (
                    "matrix",
                    "<error expanding template: error executing template __alert_Down: template: __alert_Down:1:115: executing \"__alert_Down\" at <query \"up[1m]\">: error calling query: rule result is not a vector or scalar>"
                ),
            ])
        );
        g.eval(60_000, &mem, &overlay, &settings);
        let c = alert(&g, "c");
        assert_eq!(c.labels.get("down").map(String::as_str), Some("2"));
        assert_eq!(c.annotations.get("total").map(String::as_str), Some("1"));
        assert_eq!(
            c.annotations.get("now").map(String::as_str),
            Some("map[] 60")
        );
        assert_eq!(c.annotations.get("up").map(String::as_str), Some("b"));
    }

    /// A step-less subquery in a rule and in its template's `query` steps by the settings'
    /// `subquery_step` (the manager's `global.evaluation_interval`).
    #[test]
    fn group_eval_steps_stepless_subqueries_by_the_evaluation_interval() {
        use std::path::Path;
        use std::sync::Arc;

        use crate::rules::expr::MemStorage;
        use crate::rules::file::parse_str;
        use crate::rules::group::{EvalSettings, Group};

        let defs = parse_str(
            r#"groups:
- name: g
  rules:
  - alert: Points
    expr: count_over_time(x[5m:]) > 0
    annotations:
      q: '{{ query "count_over_time(x[5m:])" | first | value }}'
"#,
            Path::new("r.yml"),
        )
        .expect("rules load");
        let def = Arc::new(defs.into_iter().next().expect("group"));
        let mut mem = MemStorage::new();
        mem.add("x", "0+1x40", 15_000).expect("series");
        let overlay = Overlay::unbounded();
        for (step_s, points) in [(60, "6"), (30, "11"), (15, "21")] {
            let mut g = Group::new(def.clone(), Duration::from_secs(15));
            let settings = EvalSettings {
                subquery_step: Duration::from_secs(step_s),
                ..EvalSettings::default()
            };
            g.eval(600_000, &mem, &overlay, &settings);
            let a = g.rules[0].alerts.active.values().next().cloned();
            let a = a.unwrap_or_else(|| panic!("no alert at step {step_s}s"));
            assert_eq!(a.value.to_string(), points, "rule value at step {step_s}s");
            assert_eq!(
                a.annotations.get("q").map(String::as_str),
                Some(points),
                "template query at step {step_s}s"
            );
        }
    }
}
