//! Receivers beyond Discord, e-mail and webhook, through the differential harness of
//! `support/recorder.rs` (the same config and alerts through the real Alertmanager 0.25 and
//! through blackwatch's integration, requests compared) and against scripted loopback
//! answers for their error paths. Slack: default templates with `global.slack_api_url`
//! inheritance, every field, the 1024-rune title cut, a user template file; 4xx final, 5xx
//! retried, 429 after `Retry-After`, `ok: false`, timeouts; no secret in errors, logs or
//! `/api/v2/status`, and `amtool config routes` reads the status blackwatch serves.

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

use crate::support::am::free_port;
use crate::support::recorder::{alert, differential, test_data, BodyKind, Compare, ROUTE};
use crate::support::{Daemon, HttpServer, TestRequest, TestResponse};

// ---------------------------------------------------------------------------------------
// Slack against Alertmanager 0.25

/// Slack's incoming webhooks answer `200 ok` in text.
fn slack_ok(_: &TestRequest) -> TestResponse {
    TestResponse::text(200, "ok")
}

/// Slack bodies have no volatile field: byte-identical JSON is required.
const SLACK: Compare<'static> = Compare {
    headers: &["content-type", "authorization"],
    body: BodyKind::Json,
    volatile: &[],
    exact_bytes: true,
    answer: slack_ok,
};

/// Two alerts of one group firing, then the second resolved (`support::recorder::two_steps`).
fn two_steps(extra: &[(&str, &str)]) -> Vec<Vec<Alert>> {
    crate::support::recorder::two_steps(
        "Probe <b>failed</b> & \"quoted\" 'x' + é @here",
        "https://wiki.test/a b?x=<1>&y='2'",
        extra,
    )
}

fn slack_config(global: &str, templates: &str, configs: &str) -> String {
    format!(
        "global:\n{global}\n{templates}\n{ROUTE}receivers:\n- name: team.x\n  slack_configs:\n{configs}"
    )
    .replace("receiver: r\n", "receiver: team.x\n")
}

#[tokio::test]
async fn slack_default_templates_match_alertmanager_0_25() {
    let config = slack_config(
        "  slack_api_url: RECORDER/services/T0/B0/global",
        "",
        r#"  - api_url: RECORDER/services/T0/B0/default
  - send_resolved: true
    channel: '#alerts'
  - api_url_file: RECORDER_URL_FILE
    send_resolved: true
"#,
    );
    let seen = differential(&config, &two_steps(&[]), &SLACK).await;
    // default (send_resolved false): step 0 only; global and file: both steps.
    let steps: Vec<(usize, String)> = seen
        .iter()
        .map(|e| (e.step, e.am.path().to_string()))
        .collect();
    assert_eq!(
        steps,
        [
            (0, "/from-file".to_string()),
            (0, "/services/T0/B0/default".to_string()),
            (0, "/services/T0/B0/global".to_string()),
            (1, "/from-file".to_string()),
            (1, "/services/T0/B0/global".to_string()),
        ]
    );
    let v = seen[2].json();
    let att = &v["attachments"][0];
    assert_eq!(v["channel"], "#alerts");
    assert_eq!(v["username"], "Alertmanager");
    assert_eq!(att["title"], "[FIRING:2] ProbeDown (blackbox critical)");
    assert_eq!(
        att["title_link"],
        "http://am.test:9093/#/alerts?receiver=team%5C.x"
    );
    assert_eq!(att["color"], "danger");
    assert_eq!(att["mrkdwn_in"], json!(["fallback", "pretext", "text"]));
    let resolved = seen[4].json();
    assert_eq!(
        resolved["attachments"][0]["title"],
        "[FIRING:1] ProbeDown (blackbox critical)"
    );
    assert_eq!(
        resolved["attachments"][0]["color"], "danger",
        "one still fires"
    );
    assert!(seen[0].am.body_str().ends_with("}\n"));
}

#[tokio::test]
async fn slack_every_field_and_the_title_limit_match_alertmanager_0_25() {
    let exact: String = "é".repeat(1024);
    let over: String = "ab⌘".repeat(342); // 1026 runes
    let config = slack_config(
        "  resolve_timeout: 5m",
        "",
        r##"  - api_url: RECORDER/every
    send_resolved: true
    channel: '#{{ .CommonLabels.job }}'
    username: 'bot {{ .Status }}'
    color: '{{ if eq .Status "firing" }}#d00000{{ else }}#2eb886{{ end }}'
    title: '{{ .CommonAnnotations.over }}'
    title_link: '{{ .ExternalURL }}/x?y=<1>&z'
    pretext: '*{{ .Status | toUpper }}* <!here>'
    text: "{{ range .Alerts }}• {{ .Annotations.summary }} {{ .Labels.instance }}\n{{ end }}{{ .CommonAnnotations.huge }}"
    fields:
      - {title: Severity, value: '{{ .CommonLabels.severity }}', short: true}
      - {title: Count, value: '{{ len .Alerts }}', short: false}
      - {title: 'Job {{ .GroupLabels.alertname }}', value: '{{ .CommonLabels.job }}'}
    short_fields: true
    footer: 'foot {{ .Receiver }}'
    fallback: 'fb {{ .GroupLabels.alertname }}'
    callback_id: 'cb-{{ .GroupLabels.alertname }}'
    icon_emoji: ':rotating_light:'
    icon_url: 'https://example.test/icon.png'
    image_url: 'https://example.test/{{ .GroupLabels.alertname }}.png'
    thumb_url: 'https://example.test/thumb.png'
    link_names: true
    mrkdwn_in: [text, pretext, fields]
    actions:
      - {type: button, text: 'Runbook {{ .GroupLabels.alertname }}', url: 'https://wiki.test/{{ .GroupLabels.alertname }}', style: primary, name: ignored, value: ignored}
      - type: button
        text: Ack
        name: ack
        value: '{{ .GroupLabels.alertname }}'
        style: danger
        confirm: {title: 'Sure?', text: 'Ack {{ len .Alerts }}?', ok_text: 'Yes', dismiss_text: 'No'}
      - type: button
        text: Silence
        name: silence
    http_config:
      authorization: {credentials: xoxb-not-a-real-token}
  - api_url: RECORDER/exact
    title: '{{ .CommonAnnotations.exact }}'
    short_fields: true
    fields:
      - {title: a, value: b}
    channel: ''
    username: ''
    color: ''
    footer: ''
    fallback: ''
    title_link: ''
"##,
    );
    let huge = "x".repeat(9000);
    let seen = differential(
        &config,
        &two_steps(&[("exact", &exact), ("over", &over), ("huge", &huge)]),
        &SLACK,
    )
    .await;
    assert_eq!(seen.len(), 3, "every: both steps; exact: step 0");
    let by_path = |p: &str| seen.iter().find(|e| e.am.path() == p).unwrap().json();
    let every = by_path("/every");
    let att = &every["attachments"][0];
    let title = att["title"].as_str().unwrap();
    assert_eq!(title.chars().count(), 1024, "cut to 1024 runes");
    assert!(title.ends_with("ab⌘…"), "{}", &title[title.len() - 12..]);
    assert_eq!(att["actions"][0].get("name"), None, "url actions drop name");
    assert_eq!(att["actions"][1]["confirm"]["ok_text"], "Yes");
    assert_eq!(att["fields"][2]["short"], true, "short_fields");
    assert!(
        att["text"].as_str().unwrap().ends_with(&huge),
        "text is not cut"
    );
    assert_eq!(every["link_names"], true);
    assert_eq!(
        seen[0].am.header("authorization"),
        Some("Bearer xoxb-not-a-real-token")
    );
    let exact_att = &by_path("/exact")["attachments"][0];
    assert_eq!(
        exact_att["title"].as_str().unwrap(),
        exact,
        "1024 runes: kept"
    );
    assert_eq!(exact_att.get("color"), None, "explicit '' stays empty");
}

#[tokio::test]
async fn slack_user_templates_match_alertmanager_0_25() {
    let config = slack_config(
        "  slack_api_url: RECORDER/hook",
        &format!("templates: ['{}/*.tmpl']", test_data("notify/slack")),
        r#"  - send_resolved: true
  - api_url: RECORDER/custom
    send_resolved: true
    text: '{{ template "slack.custom.text" . }}'
    color: '{{ template "slack.custom.color" . }}'
    fallback: '{{ template "slack.default.fallback" . }} {{ template "__subject" . }}'
"#,
    );
    let seen = differential(&config, &two_steps(&[]), &SLACK).await;
    assert_eq!(seen.len(), 4);
    let all: Vec<Value> = seen.iter().map(|e| e.json()).collect();
    let text = serde_json::to_string(&all).unwrap();
    assert!(text.contains("custom FIRING ProbeDown (2/2)"), "{text}");
    assert!(text.contains("custom FIRING ProbeDown (1/2)"), "{text}");
    assert!(
        text.contains(":white_check_mark: http://b.test P failed for b"),
        "{text}"
    );
    assert!(text.contains("\"color\":\"warning\""), "{text}");
}

// ---------------------------------------------------------------------------------------
// Slack error paths

use crate::support::recorder::integrations;

fn one_slack(extra: &str, url: &str) -> (tempfile::TempDir, Integration) {
    let yaml = format!(
        "route: {{receiver: s}}\nreceivers:\n- name: s\n  slack_configs:\n  - api_url: {url}\n    channel: '#ops'\n{extra}"
    );
    let (dir, mut v) = integrations(&yaml);
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

/// A recorder answering from `script`, then `200 ok`; returns it and its request times.
fn scripted(script: Vec<TestResponse>) -> (HttpServer, Arc<Mutex<Vec<Instant>>>) {
    let times = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(std::collections::VecDeque::from(script)));
    let t = times.clone();
    let server = HttpServer::plain(move |_r: &TestRequest| {
        t.lock().unwrap().push(Instant::now());
        script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| TestResponse::text(200, "ok"))
    });
    (server, times)
}

async fn send(i: &Integration, within: Duration) -> Result<usize, RetryError> {
    let a = [alert(&[("alertname", "X")], &[], false)];
    let deadline = Instant::now() + within;
    notify_with_retry(i, &ctx(), &a, deadline, &no_jitter(), &metrics()).await
}

#[tokio::test]
async fn slack_4xx_is_final_5xx_is_retried_429_waits_for_retry_after() {
    // 404 (Slack's `no_service`): one attempt, upstream's text with the channel.
    let (server, _) = scripted(vec![TestResponse::text(404, "no_service")]);
    let (_d, i) = one_slack("", &server.url("/services/T/B/x"));
    match send(&i, Duration::from_secs(5)).await {
        Err(RetryError::Unrecoverable { attempts: 1, last }) => {
            assert_eq!(
                last.message,
                "channel \"#ops\": unexpected status code 404: no_service"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 1);

    // 500, then 429 asking for 1 s, then ok: three attempts, the last ≥ 1 s after the 429.
    let (server, times) = scripted(vec![
        TestResponse::text(500, "oops"),
        TestResponse::text(429, "rate_limited").with_header("retry-after", "1"),
    ]);
    let (_d, i) = one_slack("", &server.url("/services/T/B/x"));
    assert_eq!(send(&i, Duration::from_secs(10)).await.unwrap(), 3);
    let t = times.lock().unwrap().clone();
    assert_eq!(t.len(), 3);
    assert!(t[2] - t[1] >= Duration::from_secs(1), "{:?}", t[2] - t[1]);
    // Every attempt carried the same body.
    let bodies: Vec<_> = server.requests().iter().map(|r| r.body.clone()).collect();
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test]
async fn slack_ok_false_is_final_and_other_2xx_answers_succeed() {
    let (server, _) = scripted(vec![
        TestResponse::new(200)
            .with_header("content-type", "application/json; charset=utf-8")
            .with_body(r#"{"ok":false,"error":"channel_not_found"}"#),
        TestResponse::new(200)
            .with_header("content-type", "application/json")
            .with_body(r#"{"success":true}"#),
        TestResponse::text(200, "accepted"),
    ]);
    let (_d, i) = one_slack("", &server.url("/api/chat.postMessage"));
    match send(&i, Duration::from_secs(5)).await {
        Err(RetryError::Unrecoverable { attempts: 1, last }) => assert_eq!(
            last.message,
            "channel \"#ops\": error response from Slack: channel_not_found"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(send(&i, Duration::from_secs(5)).await.unwrap(), 1);
    assert_eq!(send(&i, Duration::from_secs(5)).await.unwrap(), 1);
}

#[tokio::test]
async fn slack_timeout_ends_at_the_flush_deadline() {
    let server = HttpServer::plain(|_r: &TestRequest| {
        TestResponse::text(200, "ok").with_delay(Duration::from_secs(10))
    });
    let (_d, i) = one_slack("", &server.url("/slow"));
    let started = Instant::now();
    let e = send(&i, Duration::from_millis(800)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(e.to_string().contains("context deadline exceeded"), "{e}");
    assert_eq!(
        e.reason(),
        blackwatch::alert::notify::FailReason::ContextDeadlineExceeded
    );
}

#[tokio::test]
async fn slack_leaks_no_secret_in_errors_or_logs() {
    const TOKEN: &str = "TOKENxyzzy";
    let (logs, _guard) = crate::support::logs::capture();
    let (server, _) = scripted(vec![
        TestResponse::text(400, "invalid_payload"),
        TestResponse::text(500, "down"),
        TestResponse::text(403, "action_prohibited"),
    ]);
    let refused = format!("http://127.0.0.1:{}/services/T/B/{TOKEN}", free_port());
    let ok = server.url(&format!("/services/T/B/{TOKEN}"));
    let long = "t".repeat(1100);
    let yaml = format!(
        r#"
route: {{receiver: s}}
receivers:
- name: s
  slack_configs:
  - api_url: {refused}
  - api_url: {ok}
  - api_url: {ok}
    http_config: {{authorization: {{credentials: {TOKEN}}}}}
    title: '{long}'
  - api_url: {ok}
    title: '{{{{ .Nope.Nope }}}}'
  - api_url_file: /nonexistent/{TOKEN}-file-name-is-not-secret
"#
    );
    let (_d, ints) = integrations(&yaml);
    let mut errors = Vec::new();
    for i in &ints {
        if let Err(e) = send(i, Duration::from_millis(1500)).await {
            errors.push(e.to_string());
        }
    }
    let (_d2, cfg) = {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.yml");
        (dir, load_str(&yaml, &p).unwrap())
    };
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
    assert!(logs.contains("Notify attempt failed"), "{logs}");
}

/// `/api/v2/status` shows the Slack receiver with its URL and credentials as `<secret>`,
/// `/api/v2/receivers` lists it, and `amtool config routes` (which parses the status'
/// config as Alertmanager's own) prints the tree.
#[tokio::test]
async fn slack_receiver_in_status_receivers_and_amtool_routes() {
    const TOKEN: &str = "TOKENplugh";
    let d = Daemon::start(&format!(
        r#"
        alerting:
          global:
            slack_api_url: https://hooks.slack.test/services/T/B/{TOKEN}
          route:
            receiver: slack
            group_by: [alertname]
            routes:
              - receiver: slack-ops
                matchers: ['team="ops"']
          receivers:
            - name: slack
              slack_configs:
                - channel: '#alerts'
            - name: slack-ops
              slack_configs:
                - api_url: https://hooks.slack.test/services/T/B/{TOKEN}2
                  send_resolved: true
                  fields: [{{title: a, value: b, short: true}}]
                  actions: [{{type: button, text: t, url: 'https://x.test'}}]
                  http_config:
                    authorization: {{credentials: {TOKEN}3}}
        "#
    ))
    .await;
    let status: Value = serde_json::from_str(&d.get("/api/v2/status").await.text()).unwrap();
    let original = status["config"]["original"].as_str().unwrap();
    assert!(!original.contains(TOKEN), "secret in status:\n{original}");
    assert!(original.contains("slack_api_url: <secret>"), "{original}");
    assert!(original.contains("api_url: <secret>"), "{original}");
    assert!(original.contains("channel: \"#alerts\""), "{original}");
    let receivers: Value = serde_json::from_str(&d.get("/api/v2/receivers").await.text()).unwrap();
    assert_eq!(receivers, json!([{"name": "slack"}, {"name": "slack-ops"}]));
    let stdout = crate::support::am::amtool_routes(d.addr).await;
    assert!(stdout.contains("receiver: slack"), "{stdout}");
    assert!(
        stdout.contains("{team=\"ops\"}  receiver: slack-ops"),
        "{stdout}"
    );
}
