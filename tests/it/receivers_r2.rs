//! PagerDuty (Events API v1 and v2), VictorOps and Opsgenie against the real Alertmanager 0.25
//! through the differential harness of `support/recorder.rs` (PagerDuty v1, whose URL
//! upstream hard-codes, through `support/mitm.rs` on both sides), and their error paths
//! against scripted loopback answers: 4xx final, 5xx and each API's rate-limit code retried
//! (429 after `Retry-After`), timeouts, no secret in errors, logs or `/api/v2/status`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use blackwatch::alert::config::load_str;
use blackwatch::alert::dedup::Reason;
use blackwatch::alert::metrics::AlertMetrics;
use blackwatch::alert::notify::{Integration, NotifyContext};
use blackwatch::alert::retry::{no_jitter, notify_with_retry, RetryError};
use blackwatch::alert::store::Alert;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::support::am::{free_port, start_am, EXTERNAL_URL};
use crate::support::mitm::MitmProxy;
use crate::support::recorder::{
    alert, compare, differential, test_data, BodyKind, Compare, Recorder, ROUTE,
};
use crate::support::{poll, Daemon, HttpServer, TestRequest, TestResponse};

/// The group key both sides use for the alerts below (root route, `group_by: [alertname]`).
const GROUP_KEY: &str = "{}:{alertname=\"ProbeDown\"}";

/// What PagerDuty, Opsgenie and VictorOps answer on success.
fn accepted(_: &TestRequest) -> TestResponse {
    TestResponse::new(202)
        .with_header("content-type", "application/json")
        .with_body(r#"{"status":"success","message":"Event processed"}"#)
}

/// Nothing is volatile in these bodies (the group-key hash is the same on both sides):
/// byte-identical JSON, and the `Authorization` header (Opsgenie's `GenieKey`).
const EXACT: Compare<'static> = Compare {
    headers: &["content-type", "authorization"],
    body: BodyKind::Json,
    volatile: &[],
    exact_bytes: true,
    answer: accepted,
};

/// Two alerts of one group firing, then the second resolved, then both resolved.
fn three_steps(extra: &[(&str, &str)]) -> Vec<Vec<Alert>> {
    let ann = |summary: &'static str| -> Vec<(&str, &str)> {
        let mut v = vec![
            ("summary", summary),
            ("runbook", "https://wiki.test/a b?x=<1>&y='2'"),
        ];
        v.extend_from_slice(extra);
        v
    };
    let labels = |inst: &'static str| {
        [
            ("alertname", "ProbeDown"),
            ("instance", inst),
            ("job", "blackbox"),
            ("severity", "critical"),
            ("team", "sre"),
        ]
    };
    let a = |resolved| {
        alert(
            &labels("https://a.test"),
            &ann("Probe <b>failed</b> & \"quoted\" 'x' + é"),
            resolved,
        )
    };
    let b = |resolved| {
        alert(
            &labels("http://b.test"),
            &ann("Probe failed for b"),
            resolved,
        )
    };
    vec![
        vec![a(false), b(false)],
        vec![a(false), b(true)],
        vec![a(true), b(true)],
    ]
}

fn config(global: &str, templates: &str, receiver: &str) -> String {
    format!("global:\n{global}\n{templates}\n{ROUTE}receivers:\n- name: team.x\n{receiver}")
        .replace("receiver: r\n", "receiver: team.x\n")
}

/// A key file shared by both sides, with whitespace around the key (trimmed or not, as
/// each integration does).
fn key_file(dir: &tempfile::TempDir, name: &str, key: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, format!(" {key}\n")).unwrap();
    p.display().to_string()
}

// ---------------------------------------------------------------------------------------
// PagerDuty Events API v2 against Alertmanager 0.25

#[tokio::test]
async fn pagerduty_v2_default_templates_match_alertmanager_0_25() {
    let dir = tempfile::tempdir().unwrap();
    let file = key_file(&dir, "rk", "rk-from-file");
    let cfg = config(
        "  pagerduty_url: RECORDER/v2/enqueue",
        "",
        &format!(
            r#"  pagerduty_configs:
  - routing_key: 0123456789abcdef0123456789abcdef
  - routing_key_file: {file}
    url: RECORDER/file
    send_resolved: false
  - routing_key: '{{{{ .GroupLabels.alertname }}}}-rk'
    url: RECORDER/templated
"#
        ),
    );
    let seen = differential(&cfg, &three_steps(&[]), &EXACT).await;
    let paths: Vec<(usize, &str)> = seen.iter().map(|e| (e.step, e.am.path())).collect();
    assert_eq!(
        paths,
        [
            (0, "/file"),
            (0, "/templated"),
            (0, "/v2/enqueue"),
            (1, "/templated"),
            (1, "/v2/enqueue"),
            (2, "/templated"),
            (2, "/v2/enqueue"),
        ]
    );
    let first = seen[2].json();
    assert_eq!(first["routing_key"], "0123456789abcdef0123456789abcdef");
    assert_eq!(
        first["dedup_key"],
        blackwatch::alert::notify::http_api::group_key_hash(GROUP_KEY)
    );
    assert_eq!(first["event_action"], "trigger");
    assert_eq!(
        first["payload"]["summary"],
        "[FIRING:2] ProbeDown (blackbox critical sre)"
    );
    assert_eq!(first["payload"]["severity"], "error");
    assert_eq!(first["payload"]["source"], "Alertmanager");
    assert_eq!(
        first["client_url"],
        "http://am.test:9093/#/alerts?receiver=team%5C.x"
    );
    assert_eq!(seen[0].json()["routing_key"], "rk-from-file", "trimmed");
    assert_eq!(seen[1].json()["routing_key"], "ProbeDown-rk");
    let resolved = seen[6].json();
    assert_eq!(resolved["event_action"], "resolve");
    assert_eq!(resolved["payload"]["custom_details"]["num_resolved"], "2");
    assert!(seen[0].am.body_str().ends_with("}\n"));
}

#[tokio::test]
async fn pagerduty_v2_every_field_and_the_size_limits_match_alertmanager_0_25() {
    let exact: String = "é".repeat(1024);
    let over: String = "ab⌘".repeat(342); // 1026 runes
    let huge = "x".repeat(520_000);
    let cfg = config(
        "  resolve_timeout: 5m",
        "",
        r#"  pagerduty_configs:
  - routing_key: '{{ .CommonLabels.job }}-key'
    url: RECORDER/every
    client: 'bw {{ .Status }}'
    client_url: '{{ .ExternalURL }}/x?y=<1>&z'
    description: '{{ .CommonAnnotations.over }}'
    details:
      firing: '{{ len .Alerts.Firing }} firing'
      resolved: '{{ len .Alerts.Resolved }} resolved'
      extra: '{{ .GroupLabels.alertname }} <&>'
      empty: ''
    images:
      - {src: 'https://img.test/{{ .GroupLabels.alertname }}.png', alt: '<b>', href: 'https://x.test'}
      - {src: '{{ .CommonLabels.nope }}', alt: dropped}
      - {src: 'https://img.test/2.png'}
    links:
      - {href: 'https://wiki.test/{{ .GroupLabels.alertname }}', text: 'Runbook {{ .Status }}'}
      - {href: '', text: dropped}
    source: 'src {{ .CommonLabels.instance }}'
    severity: '{{ if eq .Status "firing" }}critical{{ else }}info{{ end }}'
    class: probe
    component: '{{ .CommonLabels.job }}'
    group: grp
  - routing_key: rk
    url: RECORDER/exact
    description: '{{ .CommonAnnotations.exact }}'
    details: {firing: '', resolved: ''}
    client: ''
    client_url: ''
  - routing_key: rk
    url: RECORDER/huge
    description: huge
"#,
    );
    let seen = differential(
        &cfg,
        &three_steps(&[("exact", &exact), ("over", &over), ("huge", &huge)]),
        &EXACT,
    )
    .await;
    assert_eq!(seen.len(), 9);
    let at = |step: usize, p: &str| {
        seen.iter()
            .find(|e| e.step == step && e.am.path() == p)
            .unwrap()
            .json()
    };
    let every = at(0, "/every");
    let summary = every["payload"]["summary"].as_str().unwrap();
    assert_eq!(summary.chars().count(), 1024, "cut to 1024 runes");
    assert!(summary.ends_with("ab⌘…"));
    assert_eq!(every["images"].as_array().unwrap().len(), 2);
    assert_eq!(every["links"].as_array().unwrap().len(), 1);
    assert_eq!(every["payload"]["severity"], "critical");
    assert_eq!(every["payload"]["custom_details"]["firing"], "2 firing");
    assert_eq!(every["payload"]["custom_details"]["empty"], "");
    assert_eq!(at(2, "/every")["payload"]["severity"], "info");
    let e = at(0, "/exact");
    assert_eq!(e["payload"]["summary"].as_str().unwrap(), exact, "kept");
    assert_eq!(e.get("client"), None, "explicit '' stays empty");
    assert_eq!(
        at(0, "/huge")["payload"]["custom_details"],
        json!({"error": "Custom details have been removed because the original event exceeds the maximum size of 512KB"})
    );
}

// ---------------------------------------------------------------------------------------
// PagerDuty Events API v1 (fixed https URL) through an intercepting proxy on both sides

/// Alertmanager and blackwatch, each through its own [`MitmProxy`] to its own recorder:
/// the same alerts in `steps` (every step a notification for both integrations), the
/// requests compared.
async fn pagerduty_v1_through_mitm(
    receiver: &str,
    steps: &[Vec<Alert>],
) -> Vec<(TestRequest, TestRequest)> {
    crate::support::install_crypto();
    let am_rec = Recorder::start(accepted);
    let bw_rec = Recorder::start(accepted);
    let addr = |r: &Recorder| r.url().trim_start_matches("http://").parse().unwrap();
    let am_proxy = MitmProxy::start(addr(&am_rec));
    let bw_proxy = MitmProxy::start(addr(&bw_rec));
    let side = |p: &MitmProxy| {
        config("  resolve_timeout: 5m", "", receiver)
            .replace("PROXY_URL", &p.url())
            .replace("PROXY_CA", &p.ca_file().display().to_string())
    };
    let am = start_am(&side(&am_proxy)).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alertmanager.yml");
    let bw_yaml = side(&bw_proxy);
    std::fs::write(&path, &bw_yaml).unwrap();
    let cfg = load_str(&bw_yaml, &path).unwrap_or_else(|e| panic!("{e}"));
    let shared = blackwatch::alert::notify::webhook::http_client().unwrap();
    let (built, errors) = blackwatch::alert::notify::build::build_integrations(
        &cfg.receivers[0],
        &shared,
        dir.path(),
        &cfg.template_set,
    );
    assert!(errors.is_empty(), "{errors:?}");
    let mut out = Vec::new();
    for (step, alerts) in steps.iter().enumerate() {
        am.post(alerts).await;
        let mut alerts = alerts.clone();
        alerts.sort_by(|a, b| blackwatch::alert::dispatch::alert_order(&a.labels, &b.labels));
        let ctx = NotifyContext {
            receiver: "team.x".into(),
            group_key: GROUP_KEY.into(),
            group_labels: blackwatch::labels::label_set(&[("alertname", "ProbeDown")]),
            external_url: EXTERNAL_URL.into(),
            reason: Reason::FirstNotification,
            now: SystemTime::now(),
        };
        for (_, i) in &built {
            i.notifier.notify(&ctx, &alerts).await.unwrap();
        }
        let want = built.len() * (step + 1);
        poll::until(
            &format!("Alertmanager's {want} requests"),
            Duration::from_secs(30),
            async || match am_rec.requests().len() {
                n if n >= want => Ok(()),
                n => Err(format!("{n} requests")),
            },
        )
        .await;
        let key = |r: &TestRequest| r.body.clone();
        let mut a = am_rec.requests()[want - built.len()..].to_vec();
        let mut b = bw_rec.requests()[want - built.len()..].to_vec();
        a.sort_by_key(key);
        b.sort_by_key(key);
        for (a, b) in a.into_iter().zip(b) {
            compare(step, &a, &b, &EXACT);
            out.push((a, b));
        }
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(am_rec.requests().len(), built.len() * steps.len());
    for p in [&am_proxy, &bw_proxy] {
        let targets = p.targets();
        assert!(!targets.is_empty());
        assert!(
            targets.iter().all(|t| t == "events.pagerduty.com:443"),
            "{targets:?}"
        );
    }
    out
}

#[tokio::test]
async fn pagerduty_v1_service_key_matches_alertmanager_0_25_through_mitm() {
    let dir = tempfile::tempdir().unwrap();
    let file = key_file(&dir, "sk", "svc-from-file");
    let over: String = "ü".repeat(1030);
    let http = "    http_config: {proxy_url: PROXY_URL, tls_config: {ca_file: PROXY_CA}}\n";
    let receiver = format!(
        r#"  pagerduty_configs:
  - service_key: '{{{{ .CommonLabels.job }}}}-svc'
    routing_key: ignored-when-a-service-key-is-set
    url: http://127.0.0.1:9/never
    description: '{{{{ .CommonAnnotations.over }}}}'
    details: {{extra: '{{{{ .GroupLabels.alertname }}}}'}}
    client: 'bw {{{{ .Status }}}}'
    severity: ignored-in-v1
    images: [{{src: 'https://img.test/x.png'}}]
{http}  - service_key_file: {file}
{http}"#
    );
    let steps = three_steps(&[("over", &over)]);
    let steps = [steps[0].clone(), steps[2].clone()];
    let seen = pagerduty_v1_through_mitm(&receiver, &steps).await;
    assert_eq!(seen.len(), 4);
    for (am, _) in &seen {
        assert_eq!(am.path(), "/generic/2010-04-15/create_event.json");
        assert_eq!(am.header("host"), Some("events.pagerduty.com"));
    }
    let bodies: Vec<Value> = seen
        .iter()
        .map(|(a, _)| serde_json::from_slice(&a.body).unwrap())
        .collect();
    let trigger = bodies
        .iter()
        .find(|b| b["service_key"] == "blackbox-svc" && b["event_type"] == "trigger")
        .unwrap();
    assert_eq!(trigger["event_action"], "");
    assert_eq!(trigger["payload"], Value::Null);
    assert_eq!(
        trigger["description"].as_str().unwrap().chars().count(),
        1024
    );
    assert_eq!(trigger["client"], "bw firing");
    assert_eq!(trigger["details"]["extra"], "ProbeDown");
    let resolve = bodies
        .iter()
        .find(|b| b["service_key"] == "svc-from-file" && b["event_type"] == "resolve")
        .unwrap();
    assert_eq!(
        resolve.get("client"),
        None,
        "v1 sends client only on trigger"
    );
}

// ---------------------------------------------------------------------------------------
// VictorOps against Alertmanager 0.25

#[tokio::test]
async fn victorops_every_field_and_globals_match_alertmanager_0_25() {
    let dir = tempfile::tempdir().unwrap();
    let file = key_file(&dir, "vo", "key-from-file");
    let long = "ß".repeat(20_500);
    let cfg = config(
        "  victorops_api_key: global-key\n  victorops_api_url: RECORDER/vo",
        "",
        &format!(
            r#"  victorops_configs:
  - routing_key: rk
  - routing_key: 'ops team/{{{{ .CommonLabels.job }}}}?#'
    api_key_file: {file}
    api_url: RECORDER/vo2/
    message_type: warning
  - routing_key: rk3
    message_type: WARNING
    entity_display_name: '{{{{ .CommonLabels.alertname }}}} <{{{{ .Status }}}}>'
    state_message: '{{{{ .CommonAnnotations.long }}}}'
    monitoring_tool: 'blackwatch {{{{ len .Alerts }}}}'
    custom_fields: {{zfield: '{{{{ .Status }}}}', note: '&'}}
  - routing_key: rk4
    message_type: '{{{{ if eq .Status "firing" }}}}INFO{{{{ end }}}}'
    send_resolved: false
"#
        ),
    );
    let seen = differential(&cfg, &three_steps(&[("long", &long)]), &EXACT).await;
    let paths: Vec<(usize, String)> = seen
        .iter()
        .map(|e| (e.step, e.am.path_and_query().to_string()))
        .collect();
    assert!(
        paths.contains(&(0, "/vo/global-key/rk".to_string())),
        "{paths:?}"
    );
    assert!(
        paths.contains(&(
            0,
            "/vo2/key-from-file/ops%20team/blackbox%3F%23".to_string()
        )),
        "{paths:?}"
    );
    let at = |step: usize, p: &str| {
        seen.iter()
            .find(|e| e.step == step && e.am.path().ends_with(p))
            .unwrap_or_else(|| panic!("{step} {p}: {paths:?}"))
            .json()
    };
    assert_eq!(at(0, "/rk")["message_type"], "CRITICAL");
    assert_eq!(
        at(0, "/rk")["entity_id"],
        blackwatch::alert::notify::http_api::group_key_hash(GROUP_KEY)
    );
    assert_eq!(
        at(0, "%23")["message_type"],
        "CRITICAL",
        "lowercase is not allowed"
    );
    assert_eq!(at(0, "/rk3")["message_type"], "WARNING");
    assert_eq!(
        at(0, "/rk3")["state_message"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        20_480
    );
    assert_eq!(at(0, "/rk3")["zfield"], "firing");
    assert_eq!(at(0, "/rk4")["message_type"], "INFO");
    assert_eq!(at(2, "/rk3")["message_type"], "RECOVERY");
    assert_eq!(at(2, "/rk3")["zfield"], "resolved");
}

// ---------------------------------------------------------------------------------------
// Opsgenie against Alertmanager 0.25

#[tokio::test]
async fn opsgenie_every_field_updates_and_close_match_alertmanager_0_25() {
    let dir = tempfile::tempdir().unwrap();
    // Not trimmed (0.25 to 0.28.0): a newline would make the header invalid on both sides.
    let file = dir.path().join("og");
    std::fs::write(&file, " key-from-file").unwrap();
    let file = file.display().to_string();
    let long = "✓".repeat(140);
    let cfg = config(
        "  opsgenie_api_key: global-key\n  opsgenie_api_url: RECORDER/og",
        "",
        &format!(
            r#"  opsgenie_configs:
  - {{}}
  - api_key: 'k-{{{{ .CommonLabels.team }}}}'
    api_url: RECORDER/every/
    message: '{{{{ .CommonAnnotations.long }}}}'
    description: '{{{{ .CommonAnnotations.summary }}}}'
    source: 'src {{{{ .Status }}}}'
    details: {{job: overridden, extra: '<{{{{ len .Alerts }}}}>'}}
    entity: '{{{{ .CommonLabels.instance }}}}'
    responders:
      - {{name: 'TeamA,TeamB, {{{{ .CommonLabels.team }}}}', type: teams}}
      - {{id: 4513b7ea, type: Team}}
      - {{username: 'a@example.org', type: user}}
      - {{name: '{{{{ .CommonLabels.nope }}}}', type: '{{{{ .CommonLabels.nope }}}}'}}
      - {{name: '{{{{ .CommonLabels.team }}}}', type: '{{{{ if true }}}}schedule{{{{ end }}}}'}}
    actions: ' restart, page,,x '
    tags: 'a, b,,c'
    note: 'n {{{{ .Status }}}}'
    priority: P2
    update_alerts: true
  - api_key_file: {file}
    api_url: RECORDER/file
    send_resolved: false
"#
        ),
    );
    let seen = differential(&cfg, &three_steps(&[("long", &long)]), &EXACT).await;
    let mut calls: Vec<(usize, String, String)> = seen
        .iter()
        .map(|e| (e.step, e.am.method.to_string(), e.am.path().to_string()))
        .collect();
    calls.sort();
    let alias = blackwatch::alert::notify::http_api::group_key_hash(GROUP_KEY);
    assert!(calls.contains(&(0, "PUT".into(), format!("/every/v2/alerts/{alias}/message"))));
    assert!(calls.contains(&(2, "POST".into(), format!("/og/v2/alerts/{alias}/close"))));
    let at = |step: usize, p: &str| {
        seen.iter()
            .find(|e| e.step == step && e.am.path() == p)
            .unwrap()
    };
    let create = at(0, "/every/v2/alerts");
    assert_eq!(create.am.header("authorization"), Some("GenieKey k-sre"));
    let v = create.json();
    assert_eq!(v["message"].as_str().unwrap().chars().count(), 130);
    assert_eq!(v["tags"], json!(["a", " b", "c"]));
    assert_eq!(v["actions"], json!(["restart", " page", "x"]));
    assert_eq!(v["details"]["job"], "overridden");
    assert_eq!(v["details"]["severity"], "critical", "common labels");
    assert_eq!(
        v["responders"],
        json!([
            {"name": "TeamA", "type": "team"}, {"name": "TeamB", "type": "team"},
            {"name": " sre", "type": "team"}, {"id": "4513b7ea", "type": "Team"},
            {"username": "a@example.org", "type": "user"}, {"name": "sre", "type": "schedule"}
        ])
    );
    assert_eq!(
        at(0, "/og/v2/alerts").am.header("authorization"),
        Some("GenieKey global-key")
    );
    assert_eq!(
        at(0, "/file/v2/alerts").am.header("authorization"),
        Some("GenieKey  key-from-file"),
        "the key file is not trimmed (0.25 to 0.28.0)"
    );
    assert_eq!(
        at(2, &format!("/og/v2/alerts/{alias}/close"))
            .am
            .path_and_query(),
        format!("/og/v2/alerts/{alias}/close?identifierType=alias")
    );
}

// ---------------------------------------------------------------------------------------
// User templates for all three

#[tokio::test]
async fn user_templates_for_pagerduty_opsgenie_victorops_match_alertmanager_0_25() {
    let cfg = config(
        "  opsgenie_api_key: og\n  victorops_api_key: vo",
        &format!("templates: ['{}/*.tmpl']", test_data("notify/r2")),
        r#"  pagerduty_configs:
  - routing_key: rk
    url: RECORDER/pd
    details: {labels: '{{ template "r2.details" . }}'}
  opsgenie_configs:
  - api_url: RECORDER/og/
    description: '{{ template "r2.details" . }}'
  victorops_configs:
  - routing_key: rk
    api_url: RECORDER/vo/
"#,
    );
    let seen = differential(&cfg, &three_steps(&[]), &EXACT).await;
    let text: String = seen.iter().map(|e| e.am.body_str().into_owned()).collect();
    assert!(text.contains("custom PD FIRING ProbeDown (2/2)"), "{text}");
    assert!(text.contains("custom PD FIRING ProbeDown (1/2)"), "{text}");
    assert!(
        text.contains("custom OG firing http://b.test https://a.test "),
        "{text}"
    );
    assert!(text.contains("custom VO 🔥"), "{text}");
    assert!(text.contains("✅ http://b.test"), "{text}");
    assert!(text.contains("alertname=ProbeDown;job=blackbox;"), "{text}");
}

// ---------------------------------------------------------------------------------------
// Error paths

use crate::support::recorder::integrations;

fn one(configs: &str) -> (tempfile::TempDir, Integration) {
    let yaml = format!("route: {{receiver: s}}\nreceivers:\n- name: s\n{configs}");
    let (dir, mut v) = integrations(&yaml);
    assert_eq!(v.len(), 1);
    (dir, v.remove(0))
}

fn ctx() -> NotifyContext {
    NotifyContext {
        receiver: "s".into(),
        group_key: "{}:{alertname=\"X\"}".into(),
        group_labels: blackwatch::labels::label_set(&[("alertname", "X")]),
        external_url: "http://bw.test".into(),
        reason: Reason::FirstNotification,
        now: SystemTime::now(),
    }
}

fn metrics() -> AlertMetrics {
    AlertMetrics::register(&mut prometheus_client::registry::Registry::default())
}

/// A server answering from `script`, then `202`; returns it and its request times.
fn scripted(script: Vec<TestResponse>) -> (HttpServer, Arc<Mutex<Vec<Instant>>>) {
    let times = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let t = times.clone();
    let server = HttpServer::plain(move |r: &TestRequest| {
        t.lock().unwrap().push(Instant::now());
        script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| accepted(r))
    });
    (server, times)
}

async fn send(i: &Integration, within: Duration) -> Result<usize, RetryError> {
    let a = [alert(&[("alertname", "X")], &[], false)];
    let deadline = Instant::now() + within;
    notify_with_retry(i, &ctx(), &a, deadline, &no_jitter(), &metrics()).await
}

fn unrecoverable(r: Result<usize, RetryError>) -> (usize, String) {
    match r {
        Err(RetryError::Unrecoverable { attempts, last }) => (attempts, last.message),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn pagerduty_v2_400_is_final_5xx_retried_429_waits_for_retry_after() {
    let (server, _) = scripted(vec![TestResponse::text(
        400,
        r#"{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect"]}"#,
    )]);
    let (_d, i) = one(&format!(
        "  pagerduty_configs:\n  - routing_key: rk\n    url: {}\n",
        server.url("/v2/enqueue")
    ));
    assert_eq!(
        unrecoverable(send(&i, Duration::from_secs(5)).await),
        (
            1,
            "unexpected status code 400: Event object is invalid: Length of 'routing_key' is incorrect".into()
        )
    );
    let (server, times) = scripted(vec![
        TestResponse::text(503, "down"),
        TestResponse::text(429, "{}").with_header("retry-after", "1"),
    ]);
    let (_d, i) = one(&format!(
        "  pagerduty_configs:\n  - routing_key: rk\n    url: {}\n",
        server.url("/v2/enqueue")
    ));
    assert_eq!(send(&i, Duration::from_secs(10)).await.unwrap(), 3);
    let t = times.lock().unwrap().clone();
    assert!(t[2] - t[1] >= Duration::from_secs(1), "{:?}", t[2] - t[1]);
    let bodies: Vec<_> = server.requests().iter().map(|r| r.body.clone()).collect();
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    // 404: final, named without its body (upstream's errDetails).
    let (server, _) = scripted(vec![TestResponse::text(404, "nope")]);
    let (_d, i) = one(&format!(
        "  pagerduty_configs:\n  - routing_key: rk\n    url: {}\n",
        server.url("/v2/enqueue")
    ));
    assert_eq!(
        unrecoverable(send(&i, Duration::from_secs(5)).await),
        (1, "unexpected status code 404".into())
    );
}

#[tokio::test]
async fn pagerduty_v1_403_is_retried_400_final_through_mitm() {
    crate::support::install_crypto();
    let (server, _) = scripted(vec![
        TestResponse::text(403, "rate limited"),
        TestResponse::text(500, "oops"),
        TestResponse::text(202, "{}"),
        TestResponse::text(400, r#"{"status":"x","message":"bad","errors":["a","b"]}"#),
    ]);
    let proxy = MitmProxy::start(server.addr());
    let (_d, i) = one(&format!(
        "  pagerduty_configs:\n  - service_key: sk\n    http_config: {{proxy_url: '{}', tls_config: {{ca_file: '{}'}}}}\n",
        proxy.url(),
        proxy.ca_file().display()
    ));
    assert_eq!(send(&i, Duration::from_secs(10)).await.unwrap(), 3);
    assert_eq!(
        unrecoverable(send(&i, Duration::from_secs(5)).await),
        (1, "unexpected status code 400: bad: a,b".into())
    );
    assert!(server
        .requests()
        .iter()
        .all(|r| r.path() == "/generic/2010-04-15/create_event.json"));
}

#[tokio::test]
async fn victorops_4xx_and_429_are_final_5xx_retried() {
    let (server, _) = scripted(vec![
        TestResponse::text(400, r#"{"ok":false,"error_code":4}"#),
        TestResponse::text(429, "slow down").with_header("retry-after", "1"),
        TestResponse::text(502, "bad gateway"),
    ]);
    let (_d, i) = one(&format!(
        "  victorops_configs:\n  - routing_key: rk\n    api_key: k\n    api_url: {}\n",
        server.url("/alert/")
    ));
    assert_eq!(
        unrecoverable(send(&i, Duration::from_secs(5)).await),
        (
            1,
            r#"unexpected status code 400: {"ok":false,"error_code":4}"#.into()
        )
    );
    assert_eq!(
        unrecoverable(send(&i, Duration::from_secs(5)).await),
        (1, "unexpected status code 429: slow down".into())
    );
    assert_eq!(send(&i, Duration::from_secs(10)).await.unwrap(), 2);
    assert!(server.requests().iter().all(|r| r.path() == "/alert/k/rk"));
}

#[tokio::test]
async fn opsgenie_a_failed_update_retries_the_whole_chain_4xx_is_final() {
    let (server, times) = scripted(vec![
        TestResponse::text(202, "{}"),
        TestResponse::text(500, "oops"),
        TestResponse::text(429, "{}").with_header("retry-after", "1"),
        TestResponse::text(202, "{}"),
        TestResponse::text(202, "{}"),
        TestResponse::text(202, "{}"),
        TestResponse::text(422, r#"{"message":"Request body is not processable"}"#),
    ]);
    let (_d, i) = one(&format!(
        "  opsgenie_configs:\n  - api_key: k\n    api_url: {}\n    update_alerts: true\n",
        server.url("/og")
    ));
    assert_eq!(send(&i, Duration::from_secs(10)).await.unwrap(), 3);
    let reqs: Vec<(String, String)> = server
        .requests()
        .iter()
        .map(|r| {
            (
                r.method.to_string(),
                r.path().rsplit('/').next().unwrap().to_string(),
            )
        })
        .collect();
    let c = |m: &str, p: &str| (m.to_string(), p.to_string());
    assert_eq!(
        reqs,
        [
            c("POST", "alerts"),
            c("PUT", "message"),
            c("POST", "alerts"),
            c("POST", "alerts"),
            c("PUT", "message"),
            c("PUT", "description"),
        ]
    );
    let t = times.lock().unwrap().clone();
    assert!(t[3] - t[2] >= Duration::from_secs(1), "Retry-After");
    assert_eq!(
        unrecoverable(send(&i, Duration::from_secs(5)).await),
        (
            1,
            r#"unexpected status code 422: {"message":"Request body is not processable"}"#.into()
        )
    );
}

#[tokio::test]
async fn timeouts_end_at_the_flush_deadline() {
    let server = HttpServer::plain(|_r: &TestRequest| {
        TestResponse::text(202, "{}").with_delay(Duration::from_secs(10))
    });
    let url = server.url("/slow/");
    for configs in [
        format!("  pagerduty_configs:\n  - routing_key: rk\n    url: {url}\n"),
        format!("  opsgenie_configs:\n  - api_key: k\n    api_url: {url}\n"),
        format!("  victorops_configs:\n  - routing_key: rk\n    api_key: k\n    api_url: {url}\n"),
    ] {
        let (_d, i) = one(&configs);
        let started = Instant::now();
        let e = send(&i, Duration::from_millis(800)).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3), "{configs}");
        assert!(e.to_string().contains("context deadline exceeded"), "{e}");
        assert_eq!(
            e.reason(),
            blackwatch::alert::notify::FailReason::ContextDeadlineExceeded
        );
    }
}

#[tokio::test]
async fn empty_keys_and_template_errors_are_final_as_upstream() {
    let (server, _) = scripted(vec![]);
    let url = server.url("/x/");
    let cases = [
        (
            format!("  pagerduty_configs:\n  - routing_key: '{{{{ .CommonLabels.nope }}}}'\n    url: {url}\n"),
            "routing key cannot be empty",
        ),
        (
            format!("  pagerduty_configs:\n  - routing_key: rk\n    url: {url}\n    class: '{{{{ .Nope.Nope }}}}'\n"),
            "failed to template PagerDuty v2 message: ",
        ),
        (
            format!("  pagerduty_configs:\n  - routing_key: rk\n    url: {url}\n    details: {{d: '{{{{ .Nope.Nope }}}}'}}\n"),
            "\"d\": failed to template \"{{ .Nope.Nope }}\": ",
        ),
        (
            format!("  opsgenie_configs:\n  - api_key: k\n    api_url: {url}\n    note: '{{{{ .Nope.Nope }}}}'\n"),
            "templating error: ",
        ),
        (
            format!("  opsgenie_configs:\n  - api_key_file: /nonexistent/og\n    api_url: {url}\n"),
            "read key_file error: ",
        ),
        (
            format!("  victorops_configs:\n  - routing_key: '{{{{ .Nope.Nope }}}}'\n    api_key: k\n    api_url: {url}\n"),
            "templating error: ",
        ),
        (
            format!("  victorops_configs:\n  - routing_key: rk\n    api_key_file: /nonexistent/vo\n    api_url: {url}\n"),
            "failed to read API key from file: ",
        ),
    ];
    for (configs, want) in cases {
        let (_d, i) = one(&configs);
        let (attempts, message) = unrecoverable(send(&i, Duration::from_secs(5)).await);
        assert_eq!(attempts, 1, "{configs}");
        assert!(message.starts_with(want), "{message}\nwanted: {want}");
    }
    // A VictorOps body template error is retried (upstream returns it with retry=true).
    let (_d, i) = one(&format!(
        "  victorops_configs:\n  - routing_key: rk\n    api_key: k\n    api_url: {url}\n    monitoring_tool: '{{{{ .Nope.Nope }}}}'\n"
    ));
    match send(&i, Duration::from_millis(1200)).await {
        Err(RetryError::Deadline { attempts, last }) => {
            assert!(attempts > 1);
            assert!(
                last.message.starts_with("templating error: "),
                "{}",
                last.message
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn no_secret_in_errors_logs_or_config_dumps() {
    const TOKEN: &str = "TOKENfrobozz";
    let (logs, _guard) = crate::support::logs::capture();
    let (server, _) = scripted(vec![
        TestResponse::text(400, "bad"),
        TestResponse::text(500, "down"),
        TestResponse::text(403, "forbidden"),
        TestResponse::text(401, "unauthorized"),
    ]);
    let refused = format!("http://127.0.0.1:{}/", free_port());
    let ok = server.url("/api/");
    let long = "t".repeat(1100);
    let yaml = format!(
        r#"
global:
  opsgenie_api_key: {TOKEN}og
  victorops_api_key: {TOKEN}vo
route: {{receiver: s}}
receivers:
- name: s
  pagerduty_configs:
  - routing_key: {TOKEN}pd
    url: {refused}
  - routing_key: {TOKEN}pd
    url: {ok}
    description: '{long}'
  - routing_key_file: /nonexistent/{TOKEN}-file-name-is-not-secret
    url: {ok}
  opsgenie_configs:
  - api_url: {refused}
  - api_url: {ok}
    message: '{long}'
  victorops_configs:
  - routing_key: rk
    api_url: {refused}
  - routing_key: rk
    api_url: {ok}
    state_message: '{long}'
"#
    );
    let (_d, ints) = integrations(&yaml);
    assert_eq!(ints.len(), 7);
    let mut errors = Vec::new();
    for i in &ints {
        if let Err(e) = send(i, Duration::from_millis(1500)).await {
            errors.push(e.to_string());
        }
    }
    let cfg = load_str(&yaml, std::path::Path::new("a.yml")).unwrap();
    errors.push(format!("{:?}", cfg.receivers));
    errors.push(cfg.to_yaml());
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(errors.len() >= 6, "{errors:#?}");
    for e in &errors {
        assert!(
            !e.contains(TOKEN) || e.contains("file-name-is-not-secret"),
            "secret in error: {e}"
        );
    }
    for line in logs.lines() {
        assert!(
            !line.contains(TOKEN) || line.contains("file-name-is-not-secret"),
            "secret in log: {line}"
        );
    }
    assert!(logs.contains("Truncated field"), "{logs}");
    assert!(cfg.to_yaml().contains("opsgenie_api_key: <secret>"));
    assert!(cfg.to_yaml().contains("routing_key: <secret>"));
}

/// `/api/v2/status` shows the three receivers with their keys as `<secret>`,
/// `/api/v2/receivers` lists them, and `amtool config routes` parses the status.
#[tokio::test]
async fn receivers_in_status_and_amtool_routes() {
    const TOKEN: &str = "TOKENxyzzy";
    let d = Daemon::start(&format!(
        r#"
        alerting:
          global:
            opsgenie_api_key: {TOKEN}1
            victorops_api_key: {TOKEN}2
            pagerduty_url: https://events.pagerduty.test/v2/enqueue
          route:
            receiver: pd
            routes:
              - receiver: og
                matchers: ['team="ops"']
              - receiver: vo
                matchers: ['team="noc"']
          receivers:
            - name: pd
              pagerduty_configs:
                - routing_key: {TOKEN}3
                - service_key: {TOKEN}4
                  details: {{a: b}}
            - name: og
              opsgenie_configs:
                - responders: [{{name: x, type: team}}]
            - name: vo
              victorops_configs:
                - routing_key: rk
                  api_key: {TOKEN}5
        "#
    ))
    .await;
    let status: Value = serde_json::from_str(&d.get("/api/v2/status").await.text()).unwrap();
    let original = status["config"]["original"].as_str().unwrap();
    assert!(!original.contains(TOKEN), "secret in status:\n{original}");
    for key in [
        "opsgenie_api_key: <secret>",
        "victorops_api_key: <secret>",
        "routing_key: <secret>",
        "service_key: <secret>",
        "api_key: <secret>",
    ] {
        assert!(original.contains(key), "{key}:\n{original}");
    }
    let receivers: Value = serde_json::from_str(&d.get("/api/v2/receivers").await.text()).unwrap();
    assert_eq!(
        receivers,
        json!([{"name": "pd"}, {"name": "og"}, {"name": "vo"}])
    );
    let stdout = crate::support::am::amtool_routes(d.addr).await;
    assert!(stdout.contains("{team=\"ops\"}  receiver: og"), "{stdout}");
    assert!(stdout.contains("{team=\"noc\"}  receiver: vo"), "{stdout}");
}
