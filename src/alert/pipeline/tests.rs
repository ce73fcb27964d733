//! The pipeline under paused tokio time with a channel-backed notifier: timers, dedup,
//! repeat, silences, inhibition, failures and the resolved-after-mute extension.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

use super::*;
use crate::alert::notify::{Batch, FailReason, Notifier, NotifyError, NotifyFuture};
use crate::alert::retry::no_jitter;
use crate::alert::silence::Silence;
use crate::labels::{LabelSet, MatchOp, Matcher, Matchers};

/// One captured notification.
#[derive(Debug, Clone, PartialEq)]
struct Sent {
    group_key: String,
    /// `alertname:status` per alert, in payload order.
    alerts: Vec<String>,
    at: Duration,
}

struct Capture {
    tx: mpsc::UnboundedSender<Sent>,
    /// Fail this many attempts first.
    fail: AtomicUsize,
    retryable: bool,
}

thread_local! {
    /// Per test thread: the paused clock's start and the wall time it stands for.
    static BASE: std::cell::Cell<Option<(Instant, SystemTime)>> = const { std::cell::Cell::new(None) };
}

fn reset_base() {
    BASE.with(|b| {
        b.set(Some((
            Instant::now(),
            UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        )))
    });
}

fn base() -> (Instant, SystemTime) {
    BASE.with(|b| {
        if b.get().is_none() {
            reset_base();
        }
        b.get().unwrap_or((Instant::now(), UNIX_EPOCH))
    })
}

fn elapsed() -> Duration {
    Instant::now() - base().0
}

impl Notifier for Capture {
    fn name(&self) -> &'static str {
        "webhook"
    }
    fn notify_batch<'a>(&'a self, ctx: &'a NotifyContext, alerts: &'a Batch) -> NotifyFuture<'a> {
        Box::pin(async move {
            if self
                .fail
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(NotifyError::new(
                    self.retryable,
                    FailReason::ServerError,
                    "scripted failure",
                ));
            }
            let _ = self.tx.send(Sent {
                group_key: ctx.group_key.clone(),
                alerts: alerts
                    .to_alerts()
                    .iter()
                    .map(|a| {
                        let status = if a.ends_at == UNIX_EPOCH {
                            "firing"
                        } else {
                            "resolved"
                        };
                        format!("{}:{status}", a.labels["alertname"])
                    })
                    .collect(),
                at: elapsed(),
            });
            Ok(())
        })
    }
}

const CONFIG: &str = r#"
route:
  receiver: team
  group_by: [alertname]
  group_wait: 10s
  group_interval: 60s
  repeat_interval: 300s
  routes:
    - matchers: ['severity="page"']
      receiver: team
      group_by: ['...']
      flush_on_resolve: true
receivers:
  - name: team
    webhook_configs:
      - url: http://127.0.0.1:9/unused
inhibit_rules:
  - source_matchers: [alertname="Source"]
    target_matchers: [alertname="Target"]
    equal: [zone]
"#;

struct Harness {
    alerting: Arc<Alerting>,
    rx: mpsc::UnboundedReceiver<Sent>,
    capture: Arc<Capture>,
    token: CancellationToken,
}

fn harness(extra_global: &str) -> Harness {
    reset_base();
    let yaml = format!("{extra_global}{CONFIG}");
    let cfg = crate::alert::config::load_str(&yaml, Path::new("alertmanager.yml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut options = Options::new("http://bw.test".into(), Duration::from_secs(3600 * 120));
    options.clock = Arc::new(|| Now {
        mono: Instant::now(),
        wall: base().1 + elapsed(),
    });
    options.jitter = no_jitter();
    let metrics = AlertMetrics::register(&mut prometheus_client::registry::Registry::default());
    let alerting = Alerting::new(Arc::new(cfg), options, metrics).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let capture = Arc::new(Capture {
        tx,
        fail: AtomicUsize::new(0),
        retryable: true,
    });
    alerting.replace_integrations(
        "team",
        vec![(
            IntegrationId {
                receiver: "team".into(),
                integration: "webhook".into(),
                index: 0,
            },
            Integration {
                notifier: capture.clone(),
                index: 0,
                send_resolved: true,
            },
        )],
    );
    let token = CancellationToken::new();
    tokio::spawn(alerting.clone().run(token.clone()));
    Harness {
        alerting,
        rx,
        capture,
        token,
    }
}

use crate::labels::label_set as labels;

impl Harness {
    /// Posts an alert ending `ends_in` from now (negative = already resolved).
    fn post(&self, l: &[(&str, &str)], ends_in: f64) {
        let now = self.alerting.now().wall;
        let ends_at = if ends_in >= 0.0 {
            now + Duration::from_secs_f64(ends_in)
        } else {
            now - Duration::from_secs_f64(-ends_in)
        };
        let invalid = self.alerting.ingest(
            vec![PostableAlert {
                labels: labels(l),
                annotations: LabelSet::new(),
                starts_at: None,
                ends_at: Some(ends_at),
                generator_url: String::new(),
            }],
            now,
        );
        assert!(invalid.is_empty(), "{invalid:?}");
    }

    /// Lets paused time run to `t` seconds after the base and returns what was sent.
    async fn until(&mut self, t: f64) -> Vec<Sent> {
        let target = base().0 + Duration::from_secs_f64(t);
        tokio::time::sleep_until(target).await;
        // Let spawned flushes finish at this instant.
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        let mut out = Vec::new();
        while let Ok(s) = self.rx.try_recv() {
            out.push(s);
        }
        out
    }

    fn silence(&self, name: &str) -> String {
        let now = self.alerting.now().wall;
        let id = self
            .alerting
            .silences()
            .set(
                Silence {
                    id: String::new(),
                    matchers: Matchers(vec![
                        Matcher::new("alertname", MatchOp::Equal, name).unwrap()
                    ]),
                    starts_at: now,
                    ends_at: now + Duration::from_secs(3600),
                    updated_at: now,
                    created_by: "test".into(),
                    comment: "test".into(),
                },
                now,
            )
            .unwrap();
        id
    }
}

fn secs(s: &[Sent]) -> Vec<(String, Vec<String>, u64)> {
    s.iter()
        .map(|x| (x.group_key.clone(), x.alerts.clone(), x.at.as_secs()))
        .collect()
}

fn sent(key: &str, alerts: &[&str], at: u64) -> (String, Vec<String>, u64) {
    (
        key.to_string(),
        alerts.iter().map(|s| s.to_string()).collect(),
        at,
    )
}

#[tokio::test(start_paused = true)]
async fn group_wait_interval_repeat_and_resolve() {
    let mut h = harness("");
    h.post(&[("alertname", "A"), ("i", "1")], 1000.0);
    assert!(h.until(9.0).await.is_empty());
    assert_eq!(
        secs(&h.until(10.5).await),
        vec![sent("{}:{alertname=\"A\"}", &["A:firing"], 10)]
    );
    // A second alert joins: sent at the next group_interval tick (70 s).
    h.post(&[("alertname", "A"), ("i", "2")], 1000.0);
    assert!(h.until(69.0).await.is_empty());
    assert_eq!(
        secs(&h.until(70.5).await),
        vec![sent("{}:{alertname=\"A\"}", &["A:firing", "A:firing"], 70)]
    );
    // Nothing new: the repeat interval (300 s) is only checked on ticks and is strict, so
    // the tick at 70 + 5 × 60 is not enough; 70 + 6 × 60 is.
    assert!(h.until(429.0).await.is_empty());
    assert_eq!(h.until(430.5).await.len(), 1);
    // Both resolve at 430.5; the tick at 490 sends them as resolved; the group is gone.
    h.post(&[("alertname", "A"), ("i", "1")], 0.0);
    h.post(&[("alertname", "A"), ("i", "2")], 0.0);
    assert_eq!(
        secs(&h.until(490.5).await),
        vec![sent(
            "{}:{alertname=\"A\"}",
            &["A:resolved", "A:resolved"],
            490
        )]
    );
    assert!(h.until(700.0).await.is_empty());
    assert!(h.alerting.core().dispatcher.is_empty());
    h.token.cancel();
}

#[tokio::test(start_paused = true)]
async fn flush_on_resolve_sends_at_once() {
    let mut h = harness("");
    h.post(&[("alertname", "P"), ("severity", "page")], 1000.0);
    let key = "{}/{severity=\"page\"}:{alertname=\"P\", severity=\"page\"}";
    assert_eq!(
        secs(&h.until(10.5).await),
        vec![sent(key, &["P:firing"], 10)]
    );
    tokio::time::sleep(Duration::from_secs(20)).await;
    // Resolved at 30.5: sent right away instead of at the 70 s tick.
    h.post(&[("alertname", "P"), ("severity", "page")], 0.0);
    assert_eq!(
        secs(&h.until(31.0).await),
        vec![sent(key, &["P:resolved"], 30)]
    );
    h.token.cancel();
}

#[tokio::test(start_paused = true)]
async fn silenced_then_resolved_gets_its_notice() {
    for (option, want) in [
        ("", true),
        ("global:\n  resolved_after_mute: false\n", false),
    ] {
        let mut h = harness(option);
        h.post(&[("alertname", "S")], 1000.0);
        assert_eq!(h.until(10.5).await.len(), 1);
        h.silence("S");
        // Silenced: the tick at 70 sends nothing.
        assert!(h.until(70.5).await.is_empty());
        h.post(&[("alertname", "S")], 0.0);
        let got = h.until(130.5).await;
        if want {
            assert_eq!(
                secs(&got),
                vec![sent("{}:{alertname=\"S\"}", &["S:resolved"], 130)]
            );
        } else {
            assert!(got.is_empty(), "upstream behaviour: {got:?}");
        }
        h.token.cancel();
    }
}

#[tokio::test(start_paused = true)]
async fn silence_mutes_and_its_end_notifies_again() {
    let mut h = harness("");
    h.post(&[("alertname", "S")], 10_000.0);
    assert_eq!(h.until(10.5).await.len(), 1);
    let id = h.silence("S");
    h.post(&[("alertname", "S"), ("x", "new")], 10_000.0);
    // The new alert is silenced too (same alertname): nothing at 70.
    assert!(h.until(70.5).await.is_empty());
    let now = h.alerting.now().wall;
    h.alerting.silences().expire(&id, now).unwrap();
    // Unsilenced: the new alert is new for dedup, both are sent at the next tick.
    assert_eq!(
        secs(&h.until(130.5).await),
        vec![sent("{}:{alertname=\"S\"}", &["S:firing", "S:firing"], 130)]
    );
    h.token.cancel();
}

#[tokio::test(start_paused = true)]
async fn inhibition_by_equal_labels() {
    let mut h = harness("");
    h.post(&[("alertname", "Source"), ("zone", "a")], 1000.0);
    h.post(&[("alertname", "Target"), ("zone", "a")], 1000.0);
    h.post(&[("alertname", "Target"), ("zone", "b")], 1000.0);
    let got = h.until(10.5).await;
    let mut got: Vec<_> = secs(&got);
    got.sort();
    assert_eq!(
        got,
        vec![
            sent("{}:{alertname=\"Source\"}", &["Source:firing"], 10),
            sent("{}:{alertname=\"Target\"}", &["Target:firing"], 10),
        ]
    );
    // The source resolves: the inhibited target appears at the next tick as new.
    h.post(&[("alertname", "Source"), ("zone", "a")], 0.0);
    let mut got = secs(&h.until(70.5).await);
    got.sort();
    assert_eq!(
        got,
        vec![
            sent("{}:{alertname=\"Source\"}", &["Source:resolved"], 70),
            sent(
                "{}:{alertname=\"Target\"}",
                &["Target:firing", "Target:firing"],
                70
            ),
        ]
    );
    h.token.cancel();
}

#[tokio::test(start_paused = true)]
async fn failed_send_is_retried_then_logged_once() {
    let mut h = harness("");
    // Two retryable failures: retried within the flush with backoff (0.5 s, 0.75 s).
    h.capture.fail.store(2, Ordering::SeqCst);
    h.post(&[("alertname", "F")], 1000.0);
    let got = h.until(12.0).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].at, Duration::from_millis(11_250));
    assert!(
        h.until(200.0).await.is_empty(),
        "no duplicate after success"
    );
    h.token.cancel();
}

#[tokio::test(start_paused = true)]
async fn unrecoverable_failure_retries_at_next_tick() {
    let mut h = harness("");
    let capture = Arc::new(Capture {
        tx: h.capture.tx.clone(),
        fail: AtomicUsize::new(1),
        retryable: false,
    });
    h.alerting.replace_integrations(
        "team",
        vec![(
            IntegrationId {
                receiver: "team".into(),
                integration: "webhook".into(),
                index: 0,
            },
            Integration {
                notifier: capture,
                index: 0,
                send_resolved: true,
            },
        )],
    );
    h.post(&[("alertname", "U")], 1000.0);
    assert!(h.until(10.5).await.is_empty());
    assert_eq!(
        secs(&h.until(70.5).await),
        vec![sent("{}:{alertname=\"U\"}", &["U:firing"], 70)]
    );
    h.token.cancel();
}

#[tokio::test(start_paused = true)]
async fn persisted_state_survives_a_restart_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    reset_base();
    let make = |dir: &Path| {
        let cfg = crate::alert::config::load_str(CONFIG, Path::new("alertmanager.yml")).unwrap();
        let mut options = Options::new("http://bw.test".into(), Duration::from_secs(3600 * 120));
        options.clock = Arc::new(|| Now {
            mono: Instant::now(),
            wall: base().1 + elapsed(),
        });
        options.storage_path = Some(dir.to_path_buf());
        let metrics = AlertMetrics::register(&mut prometheus_client::registry::Registry::default());
        Alerting::new(Arc::new(cfg), options, metrics).unwrap()
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let attach = |a: &Arc<Alerting>| {
        a.replace_integrations(
            "team",
            vec![(
                IntegrationId {
                    receiver: "team".into(),
                    integration: "webhook".into(),
                    index: 0,
                },
                Integration {
                    notifier: Arc::new(Capture {
                        tx: tx.clone(),
                        fail: AtomicUsize::new(0),
                        retryable: true,
                    }),
                    index: 0,
                    send_resolved: true,
                },
            )],
        );
    };
    let first = make(dir.path());
    attach(&first);
    let token = CancellationToken::new();
    let task = tokio::spawn(first.clone().run(token.clone()));
    let now = first.now().wall;
    first.ingest(
        vec![PostableAlert {
            labels: labels(&[("alertname", "R")]),
            annotations: LabelSet::new(),
            starts_at: None,
            ends_at: Some(now + Duration::from_secs(1000)),
            generator_url: String::new(),
        }],
        now,
    );
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(rx.try_recv().unwrap().alerts, vec!["R:firing"]);
    token.cancel();
    task.await.unwrap();
    drop(first);
    // Restart: the alert comes back from disk, its group flushes at once (old alert), and
    // the notification log says it was already sent.
    let second = make(dir.path());
    attach(&second);
    assert_eq!(second.core().alerts.len(), 1);
    let token = CancellationToken::new();
    tokio::spawn(second.clone().run(token.clone()));
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(rx.try_recv().is_err(), "no duplicate after restart");
    token.cancel();
}

#[tokio::test(start_paused = true)]
async fn alert_limit_refuses_new_fingerprints_but_accepts_updates() {
    reset_base();
    let cfg = crate::alert::config::load_str(CONFIG, Path::new("alertmanager.yml")).unwrap();
    let mut options = Options::new("http://bw.test".into(), Duration::from_secs(3600 * 120));
    options.clock = Arc::new(|| Now {
        mono: Instant::now(),
        wall: base().1 + elapsed(),
    });
    options.max_alerts = 2;
    options.max_silences = 1;
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = AlertMetrics::register(&mut registry);
    let alerting = Alerting::new(Arc::new(cfg), options, metrics).unwrap();
    let now = alerting.now().wall;
    let post = |names: &[&str], ends_in: u64, resolved: bool| {
        let ends_at = if resolved {
            now - Duration::from_secs(1)
        } else {
            now + Duration::from_secs(ends_in)
        };
        alerting.ingest(
            names
                .iter()
                .map(|n| PostableAlert {
                    labels: labels(&[("alertname", n)]),
                    annotations: LabelSet::new(),
                    starts_at: None,
                    ends_at: Some(ends_at),
                    generator_url: String::new(),
                })
                .collect(),
            now,
        )
    };
    // A resolved newcomer does not count towards the active ones.
    assert!(post(&["R"], 0, true).is_empty());
    let errs = post(&["A", "B", "C", "D"], 60, false);
    assert_eq!(
        errs,
        vec![InvalidAlert::Limit {
            count: 2,
            active: 2,
            limit: 2
        }]
    );
    assert!(errs[0].to_string().starts_with("2 new alert(s) refused"));
    // Updates to stored alerts (active or resolved) are always accepted.
    assert!(post(&["A", "B", "R"], 120, false).is_empty());
    assert_eq!(alerting.core().alerts.len(), 3);
    assert_eq!(alerting.core().alerts.active(now), 3);
    assert_eq!(
        alerting
            .metrics
            .alerts_refused
            .get_or_create(&ReasonLabel { reason: "limit" })
            .get(),
        2
    );
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains("blackwatch_alerts_refused_total{reason=\"limit\"} 2"),
        "{text}"
    );
    // The silence limit comes from the options too.
    let sil = |name: &str| Silence {
        id: String::new(),
        matchers: Matchers(vec![
            Matcher::new("alertname", MatchOp::Equal, name).unwrap()
        ]),
        starts_at: now,
        ends_at: now + Duration::from_secs(3600),
        updated_at: now,
        created_by: "t".into(),
        comment: "c".into(),
    };
    alerting.silences().set(sil("A"), now).unwrap();
    assert_eq!(
        alerting
            .silences()
            .set(sil("B"), now)
            .unwrap_err()
            .to_string(),
        "exceeded maximum number of silences: 1 (limit: 1)"
    );
}
