//! Microsoft Teams (`msteams_configs`, `msteamsv2_configs`), Rocket.Chat and Jira: the
//! integrations newer than Alertmanager 0.25, so there is no live differential. Their
//! requests are checked field by field (and byte for byte where upstream fixes the bytes)
//! against upstream's own test data at v0.28.0 — the alerts, group key `"1"`, group labels
//! and expected fields of `notify/jira/jira_test.go` (`TestJiraNotify`; `msteams.default.text`
//! and `msteamsv2.default.text` are the same template as `jira.default.description`, so its
//! expected descriptions are theirs too), the structs of `notify/<x>/<x>.go` and the
//! retry tables of `notify/<x>/<x>_test.go` — and sent to loopback servers
//! (`support::HttpServer`) to check method, path, headers and body bytes. Error paths run
//! against scripted answers; secrets must not leak.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use blackwatch::alert::config::load_str;
use blackwatch::alert::dedup::Reason;
use blackwatch::alert::metrics::AlertMetrics;
use blackwatch::alert::notify::{Integration, NotifyContext};
use blackwatch::alert::retry::{no_jitter, notify_with_retry, RetryError};
use blackwatch::alert::store::Alert;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::support::am::free_port;
use crate::support::{HttpServer, TestRequest, TestResponse};

// ---------------------------------------------------------------------------------------
// Shared helpers

use crate::support::recorder::integrations;

/// Upstream's test context: group key `"1"`, group labels `{alertname="test"}`, external
/// URL `http://am` (`notify/test.CreateTmpl`).
fn ctx() -> NotifyContext {
    NotifyContext {
        receiver: "r".into(),
        group_key: "1".into(),
        group_labels: blackwatch::labels::label_set(&[("alertname", "test")]),
        external_url: "http://am".into(),
        reason: Reason::FirstNotification,
        now: SystemTime::now(),
    }
}

/// An alert as upstream's tests make them: no annotations, no generator URL; firing, or
/// resolved an hour ago.
fn alert(labels: &[(&str, &str)], resolved: bool) -> Alert {
    let now = SystemTime::now();
    Alert {
        labels: blackwatch::labels::label_set(labels),
        annotations: Default::default(),
        starts_at: now - Duration::from_secs(3600),
        ends_at: if resolved {
            now - Duration::from_secs(3600)
        } else {
            UNIX_EPOCH
        },
        generator_url: String::new(),
        updated_at: UNIX_EPOCH,
        timeout: false,
    }
}

const VM1_CRITICAL: &[(&str, &str)] = &[
    ("alertname", "test"),
    ("instance", "vm1"),
    ("severity", "critical"),
];
const VM1: &[(&str, &str)] = &[("alertname", "test"), ("instance", "vm1")];

/// `TestJiraNotify` "create new issue": the default text of one firing alert.
const FIRING_TEXT: &str = "\n\n# Alerts Firing:\n\nLabels:\n  - alertname = test\n  - instance = vm1\n  - severity = critical\n\nAnnotations:\n\nSource: \n\n\n\n\n";
/// `TestJiraNotify` "error resolve transition not found": one resolved alert.
const RESOLVED_TEXT: &str = "\n\n\n# Alerts Resolved:\n\nLabels:\n  - alertname = test\n  - instance = vm1\n\nAnnotations:\n\nSource: \n\n\n\n";

fn metrics() -> AlertMetrics {
    AlertMetrics::register(&mut prometheus_client::registry::Registry::default())
}

/// A loopback server answering from `script`, then with `rest`.
fn scripted(script: Vec<TestResponse>, rest: fn() -> TestResponse) -> HttpServer {
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    HttpServer::plain(move |_r: &TestRequest| {
        script.lock().unwrap().pop_front().unwrap_or_else(rest)
    })
}

async fn send_with_retry(
    i: &Integration,
    alerts: &[Alert],
    within: Duration,
) -> Result<usize, RetryError> {
    let deadline = Instant::now() + within;
    notify_with_retry(i, &ctx(), alerts, deadline, &no_jitter(), &metrics()).await
}

fn body_json(r: &TestRequest) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body_str()))
}

/// Every error text and the config's dump and debug output, checked for `secret`.
fn assert_no_secret(secret: &str, texts: &[String]) {
    for t in texts {
        assert!(!t.contains(secret), "secret in: {t}");
    }
}

// ---------------------------------------------------------------------------------------
// msteams_configs

fn teams_ok() -> TestResponse {
    TestResponse::text(200, "1")
}

/// The MessageCard of upstream's `teamsMessage`, bytes compared: firing (red) with the
/// default templates, then resolved (green); `webhook_url_file` trimmed; `http_config`
/// credentials sent; custom templates; an explicit `''` stays empty.
#[tokio::test]
async fn msteams_message_card_as_upstream_0_28() {
    let server = HttpServer::plain(|_r: &TestRequest| teams_ok());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("teams_url");
    std::fs::write(&file, format!("  {}\n", server.url("/webhookb2/from-file"))).unwrap();
    let yaml = format!(
        r#"
route: {{receiver: r}}
receivers:
- name: r
  msteams_configs:
  - webhook_url: {default}
  - webhook_url_file: {file}
    send_resolved: false
    title: 'T {{{{ .CommonLabels.instance }}}} <&>'
    summary: ''
    text: '{{{{ range .Alerts }}}}{{{{ .Labels.severity }}}}{{{{ end }}}}'
    http_config:
      authorization: {{credentials: teams-cred}}
"#,
        default = server.url("/webhookb2/default"),
        file = file.display()
    );
    let (_d, ints) = integrations(&yaml);
    assert_eq!(ints.len(), 2);
    assert!(
        ints[0].send_resolved,
        "msteams send_resolved defaults to true"
    );
    assert!(!ints[1].send_resolved);
    let firing = [alert(VM1_CRITICAL, false)];
    for i in &ints {
        i.notifier.notify(&ctx(), &firing).await.unwrap();
    }
    ints[0]
        .notifier
        .notify(&ctx(), &[alert(VM1, true)])
        .await
        .unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    assert_eq!(reqs[0].path(), "/webhookb2/default");
    // Upstream's key order: @context, type, title, summary, text, themeColor.
    let card = |title: &str, summary: &str, text: &str, color: &str| {
        format!(
            "{{\"@context\":\"http://schema.org/extensions\",\"type\":\"MessageCard\",\"title\":{},\"summary\":{},\"text\":{},\"themeColor\":\"{color}\"}}\n",
            go_str(title),
            go_str(summary),
            go_str(text)
        )
    };
    let subject = "[FIRING:1] test (vm1 critical)";
    assert_eq!(
        reqs[0].body_str(),
        card(subject, subject, FIRING_TEXT, "8C1A1A")
    );
    assert_eq!(reqs[1].path(), "/webhookb2/from-file");
    assert_eq!(reqs[1].header("authorization"), Some("Bearer teams-cred"));
    assert_eq!(
        reqs[1].body_str(),
        card("T vm1 <&>", "", "critical", "8C1A1A")
    );
    assert!(
        reqs[1].body_str().contains("T vm1 \\u003c\\u0026\\u003e"),
        "HTML-escaped as Go"
    );
    assert_eq!(
        reqs[2].body_str(),
        card(
            "[RESOLVED] test (vm1)",
            "[RESOLVED] test (vm1)",
            RESOLVED_TEXT,
            "2DC72D"
        )
    );
}

/// A string as Go's encoder writes it (HTML characters escaped).
fn go_str(s: &str) -> String {
    serde_json::to_string(s)
        .unwrap()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// `TestMSTeamsRetry` (the default `Retrier`): 5xx retried, 4xx and 429 final; template
/// errors final (`TestMSTeamsTemplating`); a missing `webhook_url_file` final; no URL in
/// any error (`TestMSTeamsRedactedURL`, `TestMSTeamsReadingURLFromFile`).
#[tokio::test]
async fn msteams_retry_rules_template_errors_and_no_secret() {
    for (kind, key) in [
        ("msteams_configs", "msteams"),
        ("msteamsv2_configs", "msteamsv2"),
    ] {
        let server = scripted(
            vec![
                TestResponse::text(400, "Bad payload"),
                TestResponse::text(429, "throttled").with_header("retry-after", "1"),
                TestResponse::text(503, "down"),
            ],
            teams_ok,
        );
        const TOKEN: &str = "IncomingWebhook-SECRETxyzzy";
        let url = server.url(&format!("/webhookb2/{TOKEN}"));
        let refused = format!("http://127.0.0.1:{}/webhookb2/{TOKEN}", free_port());
        let yaml = format!(
            "route: {{receiver: r}}\nreceivers:\n- name: r\n  {kind}:\n  - webhook_url: {url}\n  - webhook_url: {url}\n    title: '{{{{ '\n  - webhook_url: {refused}\n  - webhook_url_file: /nonexistent/teams-url\n"
        );
        let (_d, ints) = integrations(&yaml);
        let firing = [alert(VM1_CRITICAL, false)];
        let mut errors = Vec::new();
        // 400: one attempt.
        match send_with_retry(&ints[0], &firing, Duration::from_secs(5)).await {
            Err(RetryError::Unrecoverable { attempts: 1, last }) => {
                assert_eq!(
                    last.message, "unexpected status code 400: Bad payload",
                    "{key}"
                );
                errors.push(last.message);
            }
            other => panic!("{key}: {other:?}"),
        }
        // 429: final too (upstream's default Retrier).
        match send_with_retry(&ints[0], &firing, Duration::from_secs(5)).await {
            Err(RetryError::Unrecoverable { attempts: 1, last }) => {
                assert_eq!(
                    last.message, "unexpected status code 429: throttled",
                    "{key}"
                )
            }
            other => panic!("{key}: {other:?}"),
        }
        // 503 then 200: two attempts.
        assert_eq!(
            send_with_retry(&ints[0], &firing, Duration::from_secs(10))
                .await
                .unwrap(),
            2,
            "{key}"
        );
        let e = send_with_retry(&ints[1], &firing, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            matches!(e, RetryError::Unrecoverable { attempts: 1, .. }),
            "{key}: {e}"
        );
        assert!(e.to_string().contains("template"), "{e}");
        let e = send_with_retry(&ints[2], &firing, Duration::from_millis(1500))
            .await
            .unwrap_err();
        assert!(
            matches!(e, RetryError::Deadline { .. }),
            "transport errors retried: {e}"
        );
        errors.push(e.to_string());
        let e = send_with_retry(&ints[3], &firing, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("webhook_url_file"), "{e}");
        assert!(matches!(e, RetryError::Unrecoverable { .. }), "{e}");
        errors.push(e.to_string());
        let path = std::path::Path::new("am.yml");
        let cfg = load_str(&yaml, path).unwrap();
        errors.push(format!("{:?}", cfg.receivers));
        let dump = cfg.to_yaml();
        assert!(dump.contains("webhook_url: <secret>"), "{dump}");
        assert!(
            dump.contains("webhook_url_file: /nonexistent/teams-url"),
            "{dump}"
        );
        errors.push(dump);
        assert_no_secret(TOKEN, &errors);
        // Only the 400, the 429 and the 503 + 200 reached the server: 4 requests.
        assert_eq!(server.requests().len(), 4, "{key}");
    }
}

// ---------------------------------------------------------------------------------------
// msteamsv2_configs

/// The Adaptive Card of 0.28.0's `msteamsv2.go`, bytes compared: `"weigth"` (upstream's
/// spelling in 0.28.0), `"contentUrl":null`, `"msteams":{"width":"full"}` always, colours
/// `Attention` (firing) and `Good` (resolved).
#[tokio::test]
async fn msteamsv2_adaptive_card_as_upstream_0_28() {
    let server = HttpServer::plain(|_r: &TestRequest| TestResponse::new(202));
    let yaml = format!(
        "route: {{receiver: r}}\nreceivers:\n- name: r\n  msteamsv2_configs:\n  - webhook_url: {}\n  - webhook_url: {}\n    title: 'custom {{{{ .Status }}}}'\n    text: ''\n",
        server.url("/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=s"),
        server.url("/custom")
    );
    let (_d, ints) = integrations(&yaml);
    assert!(ints.iter().all(|i| i.send_resolved));
    for i in &ints {
        i.notifier
            .notify(&ctx(), &[alert(VM1_CRITICAL, false)])
            .await
            .unwrap();
    }
    ints[0]
        .notifier
        .notify(&ctx(), &[alert(VM1, true)])
        .await
        .unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(
        reqs[0].path_and_query(),
        "/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=s"
    );
    let card = |title: &str, text: &str, color: &str| {
        format!(
            concat!(
                r#"{{"type":"message","attachments":[{{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"#,
                r#""content":{{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.2","#,
                r#""body":[{{"type":"TextBlock","text":{},"weigth":"Bolder","size":"Medium","wrap":true,"style":"heading","color":"{}"}},"#,
                r#"{{"type":"TextBlock","text":{}}}],"msteams":{{"width":"full"}}}}}}]}}"#,
                "\n"
            ),
            go_str(title),
            color,
            go_str(text)
        )
    };
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    assert_eq!(
        reqs[0].body_str(),
        card("[FIRING:1] test (vm1 critical)", FIRING_TEXT, "Attention")
    );
    assert_eq!(reqs[1].body_str(), card("custom firing", "", "Attention"));
    assert_eq!(
        reqs[2].body_str(),
        card("[RESOLVED] test (vm1)", RESOLVED_TEXT, "Good")
    );
    // Field by field, as the spec names them.
    let v = body_json(&reqs[0]);
    let block = &v["attachments"][0]["content"]["body"][0];
    assert_eq!(block["weigth"], "Bolder");
    assert_eq!(block.get("weight"), None);
    assert_eq!(v["attachments"][0]["contentUrl"], Value::Null);
    assert_eq!(
        v["attachments"][0]["content"]["body"][1].get("wrap"),
        None,
        "0.28.0 sets wrap only on the title block"
    );
}

// ---------------------------------------------------------------------------------------
// rocketchat_configs

fn rc_ok() -> TestResponse {
    TestResponse::new(200)
        .with_header("content-type", "application/json")
        .with_body(r#"{"success":true}"#)
}

/// `chat.postMessage` as 0.28.0's `rocketchat.go` sends it: `api_url` joined with
/// `api/v1/chat.postMessage`, `X-Auth-Token` / `X-User-Id` (files trimmed, globals
/// inherited), the channel as written (not a template in 0.28.0), every attachment field,
/// `short` from the field or `short_fields`, actions as buttons with the two booleans
/// always present, the title cut at 1024 runes; the defaults (red/green colour, title,
/// title link; empty emoji, avatar, text) when nothing is set.
#[tokio::test]
async fn rocketchat_post_message_as_upstream_0_28() {
    let server = HttpServer::plain(|_r: &TestRequest| rc_ok());
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, " file-token\n").unwrap();
    let long = "ab⌘".repeat(342); // 1026 runes
    let yaml = format!(
        r##"
global:
  rocketchat_api_url: {base}
  rocketchat_token_id: global-id
  rocketchat_token: global-token
route: {{receiver: r}}
receivers:
- name: r
  rocketchat_configs:
  - send_resolved: true
  - api_url: {every}
    token_file: {token_file}
    token_id: own-id
    channel: '#ops-{{{{ .Status }}}}'
    color: '{{{{ if eq .Status "firing" }}}}#d00000{{{{ else }}}}#2eb886{{{{ end }}}}'
    emoji: ':fire:'
    icon_url: 'https://example.test/{{{{ .GroupLabels.alertname }}}}.png'
    text: '{{{{ range .Alerts }}}}{{{{ .Labels.instance }}}} <b>{{{{ end }}}}'
    title: '{long}'
    title_link: '{{{{ .ExternalURL }}}}/x?a=1&b=2'
    fields:
    - {{title: Severity, value: '{{{{ .CommonLabels.severity }}}}', short: false}}
    - {{title: 'Count', value: '{{{{ len .Alerts }}}}'}}
    short_fields: true
    image_url: 'https://example.test/img.png'
    thumb_url: 'https://example.test/thumb.png'
    link_names: true
    actions:
    - {{type: ignored, text: 'Runbook {{{{ .GroupLabels.alertname }}}}', url: 'https://wiki.test/x', msg: 'm {{{{ .Status }}}}', imageurl: i, iswebview: true, msginchatwindow: true}}
"##,
        base = server.url("/base/"),
        every = server.url("/every"),
        token_file = token_file.display()
    );
    let (_d, ints) = integrations(&yaml);
    assert!(ints[0].send_resolved);
    assert!(
        !ints[1].send_resolved,
        "rocketchat send_resolved defaults to false"
    );
    let firing = [alert(VM1_CRITICAL, false)];
    for i in &ints {
        i.notifier.notify(&ctx(), &firing).await.unwrap();
    }
    ints[0]
        .notifier
        .notify(&ctx(), &[alert(VM1, true)])
        .await
        .unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    // Defaults and globals.
    assert_eq!(reqs[0].path(), "/base/api/v1/chat.postMessage");
    assert_eq!(reqs[0].header("x-auth-token"), Some("global-token"));
    assert_eq!(reqs[0].header("x-user-id"), Some("global-id"));
    assert_eq!(
        reqs[0].body_str(),
        concat!(
            r#"{"attachments":[{"title":"[FIRING:1] test (vm1 critical)","title_link":"http://am/#/alerts?receiver=r","color":"red"}]}"#,
            "\n"
        )
    );
    assert_eq!(
        reqs[2].body_str(),
        concat!(
            r#"{"attachments":[{"title":"[RESOLVED] test (vm1)","title_link":"http://am/#/alerts?receiver=r","color":"green"}]}"#,
            "\n"
        )
    );
    // Every field.
    let r = &reqs[1];
    assert_eq!(r.path(), "/every/api/v1/chat.postMessage");
    assert_eq!(r.header("x-auth-token"), Some("file-token"));
    assert_eq!(r.header("x-user-id"), Some("own-id"));
    let title: String = long.chars().take(1023).collect::<String>() + "…";
    let want = format!(
        concat!(
            r##"{{"channel":"#ops-{{{{ .Status }}}}","emoji":":fire:","avatar":"https://example.test/test.png","##,
            r##""attachments":[{{"title":{},"title_link":"http://am/x?a=1\u0026b=2","text":"vm1 \u003cb\u003e","##,
            r##""image_url":"https://example.test/img.png","thumb_url":"https://example.test/thumb.png","color":"#d00000","##,
            r##""fields":[{{"short":false,"title":"Severity","value":"critical"}},{{"short":true,"title":"Count","value":"1"}}],"##,
            r##""actions":[{{"type":"button","text":"Runbook test","url":"https://wiki.test/x","is_webview":false,"msg":"m firing","msg_in_chat_window":false}}]}}]}}"##,
            "\n"
        ),
        go_str(&title)
    );
    assert_eq!(r.body_str(), want);
    let v = body_json(r);
    assert_eq!(
        v["attachments"][0]["title"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        1024
    );
}

/// Upstream's `Retrier` (5xx retried, other codes final, `channel "…": ` in front) and
/// `checkJSONResponseError` (2xx: `success:false` final, a body that is not JSON
/// retried); tokens never in errors or the dump; an unreadable `token_file` fails the
/// build, as upstream's `New`.
#[tokio::test]
async fn rocketchat_answers_retry_rules_and_no_secret() {
    const TOKEN: &str = "RCtokenXYZZY";
    let server = scripted(
        vec![
            TestResponse::text(400, r#"{"success":false,"error":"bad"}"#),
            TestResponse::new(200)
                .with_header("content-type", "application/json")
                .with_body(r#"{"success":false,"error":"error-not-allowed"}"#),
            TestResponse::text(502, "bad gateway"),
            TestResponse::text(200, "not json"),
        ],
        rc_ok,
    );
    let yaml = format!(
        "route: {{receiver: r}}\nreceivers:\n- name: r\n  rocketchat_configs:\n  - api_url: {}\n    channel: '#ops'\n    token: {TOKEN}\n    token_id: {TOKEN}-id\n",
        server.url("/")
    );
    let (_d, ints) = integrations(&yaml);
    let firing = [alert(VM1_CRITICAL, false)];
    let mut errors = Vec::new();
    match send_with_retry(&ints[0], &firing, Duration::from_secs(5)).await {
        Err(RetryError::Unrecoverable { attempts: 1, last }) => {
            assert_eq!(
                last.message,
                r##"channel "#ops": unexpected status code 400: {"success":false,"error":"bad"}"##
            );
            errors.push(last.message);
        }
        other => panic!("{other:?}"),
    }
    match send_with_retry(&ints[0], &firing, Duration::from_secs(5)).await {
        Err(RetryError::Unrecoverable { attempts: 1, last }) => {
            assert_eq!(
                last.message,
                r##"channel "#ops": error response from Rocketchat: error-not-allowed"##
            );
            errors.push(last.message);
        }
        other => panic!("{other:?}"),
    }
    // 502, then a 200 that is not JSON, then success: three attempts.
    assert_eq!(
        send_with_retry(&ints[0], &firing, Duration::from_secs(10))
            .await
            .unwrap(),
        3
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 5);
    assert!(reqs.iter().all(|r| r.header("x-auth-token") == Some(TOKEN)));
    let cfg = load_str(&yaml, std::path::Path::new("am.yml")).unwrap();
    let dump = cfg.to_yaml();
    assert!(dump.contains("token: <secret>"), "{dump}");
    assert!(dump.contains("token_id: <secret>"), "{dump}");
    errors.push(dump);
    errors.push(format!("{:?}", cfg.receivers));
    assert_no_secret(TOKEN, &errors);

    // token_file missing: the integration is not built, the error names the file.
    let yaml = "route: {receiver: r}\nreceivers:\n- name: r\n  rocketchat_configs:\n  - token_file: /nonexistent/rc-token\n    token_id: x\n";
    let cfg = load_str(yaml, std::path::Path::new("am.yml")).unwrap();
    let shared = blackwatch::alert::notify::webhook::http_client().unwrap();
    let (built, errors) = blackwatch::alert::notify::build::build_integrations(
        &cfg.receivers[0],
        &shared,
        std::path::Path::new("."),
        &cfg.template_set,
    );
    assert!(built.is_empty());
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with(
            "receiver \"r\": rocketchat_configs[0]: could not read /nonexistent/rc-token: "
        ),
        "{errors:?}"
    );
    // Upstream's default API URL.
    assert_eq!(
        cfg.receivers[0].rocketchat[0].api_url,
        "https://open.rocket.chat/"
    );
}

// ---------------------------------------------------------------------------------------
// jira_configs

/// A scripted Jira: `/search` answers `search`, `GET …/transitions` lists `transitions`,
/// everything else `201 {}`; every request recorded.
fn jira_server(search: Value, transitions: Value) -> HttpServer {
    HttpServer::plain(move |r: &TestRequest| {
        let json = |v: &Value| {
            TestResponse::new(200)
                .with_header("content-type", "application/json")
                .with_body(v.to_string())
        };
        match (r.method.as_str(), r.path()) {
            ("POST", p) if p.ends_with("/search") => json(&search),
            ("GET", p) if p.ends_with("/transitions") => json(&transitions),
            ("POST", p) if p.ends_with("/transitions") => TestResponse::new(204),
            ("PUT", _) => TestResponse::new(204),
            _ => TestResponse::new(201).with_body("{}"),
        }
    })
}

/// `TestJiraNotify`'s config (labels, priority template, transitions, `WONTFIX`,
/// `reopen_duration: 1h`) with `api_url`.
fn jira_yaml(api_url: &str, extra: &str) -> String {
    format!(
        r#"
route: {{receiver: r}}
receivers:
- name: r
  jira_configs:
  - api_url: {api_url}
    project: OPS
    issue_type: Incident
    labels: [alertmanager, '{{{{ .GroupLabels.alertname }}}}']
    reopen_duration: 1h
    reopen_transition: REOPEN
    resolve_transition: CLOSE
    wont_fix_resolution: WONTFIX
    http_config:
      basic_auth: {{username: me@example.test, password: jira-api-token}}
{extra}"#
    )
}

const ALERT_LABEL: &str = "ALERT{6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b}";

fn jira_search_body(jql: &str) -> String {
    format!(
        "{{\"expand\":[],\"fields\":[\"status\"],\"jql\":{},\"maxResults\":2,\"startAt\":0}}\n",
        go_str(jql)
    )
}

/// `TestJiraNotify` "create new issue": the search (upstream's JQL for a firing group with
/// a reopen transition), then `POST /issue` with upstream's expected fields, byte for
/// byte (sorted keys), Jira's headers on every request.
#[tokio::test]
async fn jira_create_issue_as_upstream_0_28() {
    let server = jira_server(json!({"total": 0, "issues": []}), json!({}));
    let (_d, ints) = integrations(&jira_yaml(&server.url("/rest/api/2"), ""));
    assert!(ints[0].send_resolved, "jira send_resolved defaults to true");
    ints[0]
        .notifier
        .notify(&ctx(), &[alert(VM1_CRITICAL, false)])
        .await
        .unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    for r in &reqs {
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("accept-language"), Some("en"));
        assert_eq!(
            r.header("authorization"),
            Some("Basic bWVAZXhhbXBsZS50ZXN0OmppcmEtYXBpLXRva2Vu")
        );
    }
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path()),
        ("POST", "/rest/api/2/search")
    );
    assert_eq!(
        reqs[0].body_str(),
        jira_search_body(&format!(
            "resolution != \"WONTFIX\" and project=\"OPS\" and labels=\"{ALERT_LABEL}\" order by status ASC,resolutiondate DESC"
        ))
    );
    assert_eq!(
        (reqs[1].method.as_str(), reqs[1].path()),
        ("POST", "/rest/api/2/issue")
    );
    assert_eq!(
        reqs[1].body_str(),
        format!(
            "{{\"fields\":{{\"description\":{},\"issuetype\":{{\"name\":\"Incident\"}},\"labels\":[\"{ALERT_LABEL}\",\"alertmanager\",\"test\"],\"priority\":{{\"name\":\"High\"}},\"project\":{{\"key\":\"OPS\"}},\"summary\":\"[FIRING:1] test (vm1 critical)\"}}}}\n",
            go_str(FIRING_TEXT)
        )
    );
}

/// `TestJiraNotify` "create new issue with custom field and too long summary": the
/// summary cut at 255 runes, no priority without a severity, custom fields with their YAML
/// types merged over the standard ones.
#[tokio::test]
async fn jira_custom_fields_and_long_summary_as_upstream_0_28() {
    let server = jira_server(json!({"total": 0, "issues": []}), json!({}));
    let extra = format!(
        r#"    summary: '{}'
    fields:
      components: {{name: Monitoring}}
      customfield_10001: value
      customfield_10002: 0
      customfield_10003: [0]
      customfield_10004: {{value: red}}
      customfield_10005: {{value: 0}}
      customfield_10006: [{{value: red}}, {{value: blue}}, {{value: green}}]
      customfield_10007: [{{value: red}}, {{value: blue}}, {{value: 0}}]
      customfield_10008: [{{value: 0}}, {{value: 1}}, {{value: 2}}]
      customfield_10009: 1.5
"#,
        "A".repeat(265)
    );
    let (_d, ints) = integrations(&jira_yaml(&server.url("/rest/api/2"), &extra));
    ints[0]
        .notifier
        .notify(&ctx(), &[alert(VM1, false)])
        .await
        .unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let v = body_json(&reqs[1]);
    let f = &v["fields"];
    assert_eq!(f["summary"], "A".repeat(254) + "…");
    assert_eq!(f.get("priority"), None, "no severity: no priority");
    assert_eq!(f["customfield_10001"], "value");
    assert_eq!(f["customfield_10002"], 0);
    assert_eq!(f["customfield_10003"], json!([0]));
    assert_eq!(f["customfield_10004"], json!({"value": "red"}));
    assert_eq!(f["customfield_10005"], json!({"value": 0}));
    assert_eq!(
        f["customfield_10006"],
        json!([{"value": "red"}, {"value": "blue"}, {"value": "green"}])
    );
    assert_eq!(
        f["customfield_10007"],
        json!([{"value": "red"}, {"value": "blue"}, {"value": 0}])
    );
    assert_eq!(
        f["customfield_10008"],
        json!([{"value": 0}, {"value": 1}, {"value": 2}])
    );
    assert_eq!(f["components"], json!({"name": "Monitoring"}));
    assert!(reqs[1].body_str().contains("\"customfield_10009\":1.5"));
    // Keys sorted as Go's map encoding sorts them.
    let keys: Vec<&String> = f.as_object().unwrap().keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert!(reqs[1]
        .body_str()
        .starts_with("{\"fields\":{\"components\":"));
}

/// `TestJiraNotify` "reopen issue": a done issue found for a firing group is updated
/// (`PUT /issue/OPS-1`) and reopened with the transition named `reopen_transition`
/// (`{"transition":{"id":"12345"}}`); "error reopen transition not found" and "error
/// resolve transition not found" give upstream's error texts.
#[tokio::test]
async fn jira_update_and_transitions_as_upstream_0_28() {
    let found = |key: &str, category: &str| json!({"total": 1, "issues": [{"key": key, "fields": {"status": {"name": "x", "statusCategory": {"key": category}}}}]});
    // Reopen.
    let server = jira_server(
        found("OPS-1", "done"),
        json!({"transitions": [{"id": "12345", "name": "REOPEN"}]}),
    );
    let (_d, ints) = integrations(&jira_yaml(&server.url("/"), ""));
    ints[0]
        .notifier
        .notify(&ctx(), &[alert(VM1, false)])
        .await
        .unwrap();
    let reqs = server.requests();
    let calls: Vec<(String, String)> = reqs
        .iter()
        .map(|r| (r.method.to_string(), r.path().to_string()))
        .collect();
    assert_eq!(
        calls,
        [
            ("POST".into(), "/search".into()),
            ("PUT".into(), "/issue/OPS-1".into()),
            ("GET".into(), "/issue/OPS-1/transitions".into()),
            ("POST".into(), "/issue/OPS-1/transitions".into()),
        ]
    );
    assert!(reqs[2].body.is_empty(), "GET has no body");
    assert_eq!(reqs[2].header("content-type"), Some("application/json"));
    assert_eq!(reqs[3].body_str(), "{\"transition\":{\"id\":\"12345\"}}\n");
    let put = body_json(&reqs[1]);
    assert_eq!(put["fields"]["summary"], "[FIRING:1] test (vm1)");
    assert_eq!(
        put["fields"]["description"],
        "\n\n# Alerts Firing:\n\nLabels:\n  - alertname = test\n  - instance = vm1\n\nAnnotations:\n\nSource: \n\n\n\n\n"
    );

    // Reopen transition missing.
    let server = jira_server(found("OPS-3", "done"), json!({"transitions": []}));
    let (_d, ints) = integrations(&jira_yaml(&server.url("/"), ""));
    let e = ints[0]
        .notifier
        .notify(&ctx(), &[alert(VM1, false)])
        .await
        .unwrap_err();
    assert_eq!(e.message, "can't find transition REOPEN for issue OPS-3");
    assert!(!e.retryable);

    // Resolved group, open issue, resolve transition missing; the JQL has the reopen window.
    let server = jira_server(found("OPS-3", "open"), json!({"transitions": []}));
    let (_d, ints) = integrations(&jira_yaml(&server.url("/"), ""));
    let e = ints[0]
        .notifier
        .notify(&ctx(), &[alert(VM1, true)])
        .await
        .unwrap_err();
    assert_eq!(e.message, "can't find transition CLOSE for issue OPS-3");
    let reqs = server.requests();
    assert_eq!(
        reqs[0].body_str(),
        jira_search_body(&format!(
            "resolution != \"WONTFIX\" and (resolutiondate is EMPTY OR resolutiondate >= -60m) and project=\"OPS\" and labels=\"{ALERT_LABEL}\" order by status ASC,resolutiondate DESC"
        ))
    );
    let put = body_json(&reqs[1]);
    assert_eq!(put["fields"]["description"], RESOLVED_TEXT);
    assert_eq!(put["fields"]["summary"], "[RESOLVED] test (vm1)");

    // Resolved group, no issue: only the search.
    let server = jira_server(json!({"total": 0, "issues": []}), json!({}));
    let (_d, ints) = integrations(&jira_yaml(&server.url("/"), ""));
    ints[0]
        .notifier
        .notify(&ctx(), &[alert(VM1, true)])
        .await
        .unwrap();
    assert_eq!(server.requests().len(), 1);

    // Firing without a reopen transition: closed issues are not searched.
    let server = jira_server(json!({"total": 0, "issues": []}), json!({}));
    let yaml = jira_yaml(&server.url("/"), "").replace("    reopen_transition: REOPEN\n", "");
    let (_d, ints) = integrations(&yaml);
    ints[0]
        .notifier
        .notify(&ctx(), &[alert(VM1, false)])
        .await
        .unwrap();
    assert!(server.requests()[0].body_str().contains(
        "\"jql\":\"resolution != \\\"WONTFIX\\\" and statusCategory != Done and project="
    ));
}

/// API v3 (`api_url` ending in `/3`): the rendered description is parsed as Atlassian
/// Document Format JSON and sent as an object; the default (Markdown) description is not
/// JSON there and fails as upstream (`description unmarshaling: …`).
#[tokio::test]
async fn jira_api_v3_description_is_adf() {
    let server = jira_server(json!({"total": 0, "issues": []}), json!({}));
    let extra = r#"    description: '{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"{{ .Status }} <x>"}]}]}'
"#;
    let (_d, ints) = integrations(&jira_yaml(&server.url("/rest/api/3"), extra));
    ints[0]
        .notifier
        .notify(&ctx(), &[alert(VM1, false)])
        .await
        .unwrap();
    let reqs = server.requests();
    let body = reqs[1].body_str();
    assert!(
        body.starts_with("{\"fields\":{\"description\":{\"content\":[{\"content\":[{\"text\":\"firing \\u003cx\\u003e\",\"type\":\"text\"}],\"type\":\"paragraph\"}],\"type\":\"doc\",\"version\":1},"),
        "{body}"
    );

    let server = jira_server(json!({"total": 0, "issues": []}), json!({}));
    let (_d, ints) = integrations(&jira_yaml(&server.url("/rest/api/3"), ""));
    let e = ints[0]
        .notifier
        .notify(&ctx(), &[alert(VM1, false)])
        .await
        .unwrap_err();
    assert!(e.message.starts_with("description unmarshaling: "), "{e}");
    assert!(!e.retryable);
    assert_eq!(server.requests().len(), 1, "the search ran first");
}

/// `TestJiraRetry` (5xx and 429 retried, other codes final; 429 after `Retry-After`), the
/// error prefixes of each step, a transport error final as upstream, template errors, and
/// the basic-auth password never in errors or the dump.
#[tokio::test]
async fn jira_retry_rules_errors_and_no_secret() {
    let server = scripted(
        vec![
            TestResponse::text(429, "slow down").with_header("retry-after", "1"),
            TestResponse::new(200).with_body(r#"{"total":0,"issues":[]}"#),
            TestResponse::text(400, r#"{"errorMessages":["bad"]}"#),
        ],
        || TestResponse::new(200).with_body(r#"{"total":0,"issues":[]}"#),
    );
    let (_d, ints) = integrations(&jira_yaml(&server.url("/"), ""));
    let started = Instant::now();
    let mut errors = Vec::new();
    match send_with_retry(&ints[0], &[alert(VM1, false)], Duration::from_secs(10)).await {
        Err(RetryError::Unrecoverable { attempts: 2, last }) => {
            assert_eq!(
                last.message,
                r#"failed to POST request to "issue": unexpected status code 400: {"errorMessages":["bad"]}"#
            );
            errors.push(last.message);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );

    // A 500 on the search: retried, upstream's prefixes.
    let server = scripted(vec![], || TestResponse::text(500, "oops"));
    let (_d, ints) = integrations(&jira_yaml(&server.url("/"), ""));
    let e = send_with_retry(&ints[0], &[alert(VM1, false)], Duration::from_millis(1500))
        .await
        .unwrap_err();
    assert!(matches!(e, RetryError::Deadline { .. }), "{e}");
    assert!(
        e.to_string().ends_with(
            "failed to look up existing issues: HTTP request to JIRA API: unexpected status code 500: oops"
        ),
        "{e}"
    );
    errors.push(e.to_string());

    // No answer at all: final, as upstream.
    let refused = format!("http://127.0.0.1:{}/", free_port());
    let (_d, ints) = integrations(&jira_yaml(&refused, ""));
    let e = send_with_retry(&ints[0], &[alert(VM1, false)], Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(e, RetryError::Unrecoverable { attempts: 1, .. }),
        "{e}"
    );
    errors.push(e.to_string());

    // A template error, after the search.
    let server = jira_server(json!({"total": 0, "issues": []}), json!({}));
    let (_d, ints) = integrations(&jira_yaml(&server.url("/"), "    priority: '{{ '\n"));
    let e = ints[0]
        .notifier
        .notify(&ctx(), &[alert(VM1, false)])
        .await
        .unwrap_err();
    assert!(e.message.starts_with("priority template: "), "{e}");
    assert!(!e.retryable);

    let cfg = load_str(
        &jira_yaml("http://jira.test/", ""),
        std::path::Path::new("am.yml"),
    )
    .unwrap();
    let dump = cfg.to_yaml();
    assert!(dump.contains("password: <secret>"), "{dump}");
    errors.push(dump);
    errors.push(format!("{:?}", cfg.receivers));
    assert_no_secret("jira-api-token", &errors);
}
