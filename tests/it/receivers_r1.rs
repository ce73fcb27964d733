//! Telegram, Webex and WeChat through the differential harness of `support/recorder.rs`
//! (the same config and alerts through the real Alertmanager 0.25 and through blackwatch,
//! requests compared byte for byte), and against scripted loopback answers for their error
//! paths: for each, default templates with `global:` inheritance, every 0.25 field, the
//! truncation limits, a user template file; 4xx final, 5xx retried, 429 after the wait the
//! server asks for, timeouts; WeChat's token fetch, cache and 42001 refresh (0.28's
//! handling); Telegram's 0.28 fields (`bot_token_file`, `message_thread_id`) checked against
//! upstream's `telegram_test.go`; no secret in errors, logs or `/api/v2/status`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use blackwatch::alert::config::load_str;
use blackwatch::alert::dedup::Reason;
use blackwatch::alert::metrics::AlertMetrics;
use blackwatch::alert::notify::{FailReason, Integration, NotifyContext};
use blackwatch::alert::retry::{no_jitter, notify_with_retry, RetryError};
use blackwatch::alert::store::Alert;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::support::am::free_port;
use crate::support::recorder::{alert, differential, test_data, BodyKind, Compare, ROUTE};
use crate::support::{Daemon, HttpServer, TestRequest, TestResponse};

// ---------------------------------------------------------------------------------------
// Shared

/// Two alerts of one group firing, then the second resolved (`support::recorder::two_steps`).
fn two_steps(extra: &[(&str, &str)]) -> Vec<Vec<Alert>> {
    crate::support::recorder::two_steps(
        "Probe <b>failed</b> & \"quoted\" 'x' + é 告警",
        "https://wiki.test/a b?x=<1>&y='2'",
        extra,
    )
}

/// An alertmanager.yml with `global`, `templates` and one receiver `team.x` of `configs`.
fn config(global: &str, templates: &str, kind: &str, configs: &str) -> String {
    format!(
        "global:\n{global}\n{templates}\n{ROUTE}receivers:\n- name: team.x\n  {kind}:\n{configs}"
    )
    .replace("receiver: r\n", "receiver: team.x\n")
}

fn json_answer(status: u16, body: &str) -> TestResponse {
    TestResponse::new(status)
        .with_header("content-type", "application/json")
        .with_body(body.to_string())
}

use crate::support::recorder::integrations;

fn one(kind: &str, entry: &str) -> (tempfile::TempDir, Integration) {
    let yaml = format!("route: {{receiver: s}}\nreceivers:\n- name: s\n  {kind}:\n  - {entry}\n");
    let (dir, mut v) = integrations(&yaml);
    (dir, v.remove(0))
}

fn ctx_at(now: SystemTime) -> NotifyContext {
    NotifyContext {
        receiver: "s".into(),
        group_key: "{}:{alertname=\"X\"}".into(),
        group_labels: blackwatch::labels::label_set(&[("alertname", "X")]),
        external_url: "http://bw.test".into(),
        reason: Reason::FirstNotification,
        now,
    }
}

fn metrics() -> AlertMetrics {
    AlertMetrics::register(&mut prometheus_client::registry::Registry::default())
}

/// A server answering from `script`, then with `fallback`; returns it and its request times.
fn scripted(
    fallback: fn(&TestRequest) -> TestResponse,
    script: Vec<TestResponse>,
) -> (HttpServer, Arc<Mutex<Vec<Instant>>>) {
    let times = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(std::collections::VecDeque::from(script)));
    let t = times.clone();
    let server = HttpServer::plain(move |r: &TestRequest| {
        t.lock().unwrap().push(Instant::now());
        script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| fallback(r))
    });
    (server, times)
}

async fn send(i: &Integration, within: Duration) -> Result<usize, RetryError> {
    let a = [alert(&[("alertname", "X")], &[], false)];
    let deadline = Instant::now() + within;
    notify_with_retry(
        i,
        &ctx_at(SystemTime::now()),
        &a,
        deadline,
        &no_jitter(),
        &metrics(),
    )
    .await
}

fn final_after_one(r: Result<usize, RetryError>) -> String {
    match r {
        Err(RetryError::Unrecoverable { attempts: 1, last }) => last.message,
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Telegram against Alertmanager 0.25

/// The Bot API's success; Alertmanager dereferences `result.chat`, so it must be there.
fn telegram_ok(_: &TestRequest) -> TestResponse {
    json_answer(
        200,
        r#"{"ok":true,"result":{"message_id":1,"chat":{"id":1}}}"#,
    )
}

const TELEGRAM: Compare<'static> = Compare {
    headers: &["content-type", "authorization"],
    body: BodyKind::Json,
    volatile: &[],
    exact_bytes: true,
    answer: telegram_ok,
};

#[tokio::test]
async fn telegram_default_template_and_every_field_match_alertmanager_0_25() {
    let config = config(
        "  telegram_api_url: RECORDER/global",
        "",
        "telegram_configs",
        r#"  - bot_token: '123456:ABC-DEF'
    chat_id: -1001234567890
  - api_url: RECORDER/plain
    bot_token: plain
    chat_id: 42
    parse_mode: ''
    disable_notifications: true
    send_resolved: false
  - api_url: RECORDER/md
    bot_token: md
    chat_id: 7
    parse_mode: MarkdownV2
    message: '*{{ .Status | toUpper }}* {{ .CommonAnnotations.runbook }} {{ .Receiver }}'
    http_config:
      authorization: {credentials: proxy-token}
"#,
    );
    let seen = differential(&config, &two_steps(&[]), &TELEGRAM).await;
    let paths: Vec<(usize, String)> = seen
        .iter()
        .map(|e| (e.step, e.am.path().to_string()))
        .collect();
    assert_eq!(
        paths,
        [
            (0, "/global/bot123456:ABC-DEF/sendMessage".to_string()),
            (0, "/md/botmd/sendMessage".to_string()),
            (0, "/plain/botplain/sendMessage".to_string()),
            (1, "/global/bot123456:ABC-DEF/sendMessage".to_string()),
            (1, "/md/botmd/sendMessage".to_string()),
        ]
    );
    let html = seen[0].json();
    assert_eq!(
        html["chat_id"], "-1001234567890",
        "a string, as telebot sends"
    );
    assert_eq!(html["parse_mode"], "HTML");
    assert_eq!(html["disable_web_page_preview"], "true");
    let text = html["text"].as_str().unwrap();
    assert!(
        text.contains("Probe &lt;b&gt;failed&lt;/b&gt; &amp; &#34;quoted&#34; &#39;x&#39;"),
        "{text}"
    );
    let plain = seen[2].json();
    assert_eq!(plain["disable_notification"], "true");
    assert_eq!(plain.get("parse_mode"), None);
    assert!(plain["text"].as_str().unwrap().contains("<b>failed</b>"));
    assert_eq!(
        seen[1].am.header("authorization"),
        Some("Bearer proxy-token")
    );
    assert!(seen[0].am.body_str().ends_with("}\n"));
}

#[tokio::test]
async fn telegram_message_limit_and_user_templates_match_alertmanager_0_25() {
    let exact: String = "é".repeat(4096);
    let over: String = "a&é".repeat(1400); // 4200 runes, more once & is escaped
    let config = config(
        "  telegram_api_url: RECORDER/tg",
        &format!("templates: ['{}/*.tmpl']", test_data("notify/r1")),
        "telegram_configs",
        r#"  - bot_token: user
    chat_id: 1
  - bot_token: over
    chat_id: 2
    message: '{{ .CommonAnnotations.over }}'
  - bot_token: exact
    chat_id: 3
    parse_mode: ''
    message: '{{ .CommonAnnotations.exact }}'
  - bot_token: overplain
    chat_id: 4
    parse_mode: Markdown
    message: '{{ .CommonAnnotations.over }}'
"#,
    );
    let seen = differential(
        &config,
        &two_steps(&[("exact", &exact), ("over", &over)]),
        &TELEGRAM,
    )
    .await;
    assert_eq!(seen.len(), 8);
    let by = |p: &str| {
        seen.iter()
            .find(|e| e.step == 0 && e.am.path().starts_with(p))
            .unwrap()
            .json()
    };
    let user = by("/tg/botuser/");
    assert!(
        user["text"]
            .as_str()
            .unwrap()
            .starts_with("<b>FIRING</b> <a href=\"http://prom.test/graph?g0.expr=probe_success&#43;%3D%3D&#43;0&amp;g0.tab=1\">http://b.test</a> Probe failed for b\n"),
        "{user}"
    );
    for p in ["/tg/botover/", "/tg/botoverplain/"] {
        let text = by(p)["text"].as_str().unwrap().to_string();
        assert_eq!(text.chars().count(), 4096, "{p}: cut to 4096 runes");
        assert!(text.ends_with('…'), "{p}");
    }
    assert_eq!(by("/tg/botexact/")["text"].as_str().unwrap(), exact);
}

// ---------------------------------------------------------------------------------------
// Telegram: 0.28 fields and answers

/// `bot_token_file` (0.26+) and `message_thread_id` (0.28), checked as upstream's
/// `TestTelegramNotify` / `TestTelegramUnmarshal` (notify/telegram/telegram_test.go at
/// v0.28.0): the token from the file, trimmed, in the path; `<code>x < y</code>` escaped
/// to `<code>x &lt; y</code>` in HTML mode and unchanged otherwise; the thread id sent as
/// the string telebot makes of it. The file is re-read on every send.
#[tokio::test]
async fn telegram_bot_token_file_and_thread_id_as_upstream_0_28_tests() {
    let (server, _) = scripted(telegram_ok, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "secret\n").unwrap();
    let yaml = format!(
        r#"route: {{receiver: s}}
receivers:
- name: s
  telegram_configs:
  - api_url: {url}
    bot_token_file: {file}
    chat_id: 1234
    message_thread_id: 1357
    message: '<code>x < y</code>'
  - api_url: {url}
    bot_token: secret
    chat_id: 1234
    parse_mode: ''
    message: '<code>x < y</code>'
"#,
        url = server.url("").trim_end_matches('/'),
        file = token_file.display()
    );
    let (_d, ints) = integrations(&yaml);
    for i in &ints {
        assert_eq!(send(i, Duration::from_secs(5)).await.unwrap(), 1);
    }
    let reqs = server.requests();
    assert_eq!(reqs[0].path(), "/botsecret/sendMessage");
    assert_eq!(
        reqs[0].body_str(),
        "{\"chat_id\":\"1234\",\"disable_web_page_preview\":\"true\",\"message_thread_id\":\"1357\",\"parse_mode\":\"HTML\",\"text\":\"\\u003ccode\\u003ex \\u0026lt; y\\u003c/code\\u003e\"}\n"
    );
    let plain: Value = serde_json::from_slice(&reqs[1].body).unwrap();
    assert_eq!(plain["text"], "<code>x < y</code>");
    assert_eq!(plain.get("message_thread_id"), None);
    std::fs::write(&token_file, "  rotated  ").unwrap();
    send(&ints[0], Duration::from_secs(5)).await.unwrap();
    assert_eq!(server.requests()[2].path(), "/botrotated/sendMessage");
    std::fs::remove_file(&token_file).unwrap();
    // Upstream retries an unreadable token file (it may come back).
    match send(&ints[0], Duration::from_millis(700)).await {
        Err(RetryError::Deadline { last, .. }) => {
            assert!(last.message.contains("bot_token_file"), "{}", last.message);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn telegram_4xx_is_final_5xx_is_retried_429_waits_for_retry_after() {
    let (server, _) = scripted(
        telegram_ok,
        vec![json_answer(
            400,
            r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#,
        )],
    );
    let (_d, i) = one(
        "telegram_configs",
        &format!(
            "{{api_url: '{}', bot_token: t, chat_id: 1}}",
            server.url("")
        ),
    );
    assert_eq!(
        final_after_one(send(&i, Duration::from_secs(5)).await),
        "telegram: Bad Request: chat not found (400)"
    );

    // A gateway's HTML 502, then the Bot API's flood answer asking for 1 s, then ok.
    let (server, times) = scripted(
        telegram_ok,
        vec![
            TestResponse::text(502, "<html>bad gateway</html>"),
            json_answer(
                429,
                r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}"#,
            ),
        ],
    );
    let (_d, i) = one(
        "telegram_configs",
        &format!(
            "{{api_url: '{}', bot_token: t, chat_id: 1}}",
            server.url("")
        ),
    );
    assert_eq!(send(&i, Duration::from_secs(10)).await.unwrap(), 3);
    let t = times.lock().unwrap().clone();
    assert!(t[2] - t[1] >= Duration::from_secs(1), "{:?}", t[2] - t[1]);

    // A wrong api_url (a 404 page): final.
    let (server, _) = scripted(
        telegram_ok,
        vec![TestResponse::text(404, "404 page not found")],
    );
    let (_d, i) = one(
        "telegram_configs",
        &format!(
            "{{api_url: '{}', bot_token: t, chat_id: 1}}",
            server.url("/nope")
        ),
    );
    let e = final_after_one(send(&i, Duration::from_secs(5)).await);
    assert!(e.contains("status code 404"), "{e}");
}

// ---------------------------------------------------------------------------------------
// Webex against Alertmanager 0.25

fn webex_ok(_: &TestRequest) -> TestResponse {
    json_answer(200, r#"{"id":"m1"}"#)
}

const WEBEX: Compare<'static> = Compare {
    headers: &["content-type", "authorization"],
    body: BodyKind::Json,
    volatile: &[],
    exact_bytes: true,
    answer: webex_ok,
};

#[tokio::test]
async fn webex_default_template_byte_limit_and_user_template_match_alertmanager_0_25() {
    let exact: String = "x".repeat(7439);
    // 7500 runes, 8500 bytes. Upstream's TruncateInBytes slices the runes at n-3 = 7436
    // before measuring bytes, so a text over 7439 bytes with fewer than 7436 runes makes
    // Alertmanager (0.25 to main) panic and exit; blackwatch cuts it (http_api's tests).
    let over: String = format!("{}{}", "x".repeat(7000), "€".repeat(500));
    let config = config(
        "  webex_api_url: RECORDER/v1/messages",
        &format!("templates: ['{}/*.tmpl']", test_data("notify/r1")),
        "webex_configs",
        r#"  - room_id: Y2lzY29zcGFyazovL3VzL1JPT00v
    http_config:
      authorization: {credentials: webexsecret}
  - api_url: RECORDER/over
    room_id: over
    send_resolved: false
    message: '{{ .CommonAnnotations.over }}'
    http_config:
      authorization: {type: Token, credentials: other}
  - api_url: RECORDER/exact
    room_id: exact
    send_resolved: false
    message: '{{ .CommonAnnotations.exact }}'
    http_config:
      bearer_token: bt
  - api_url: RECORDER/user
    room_id: user
    message: '{{ template "webex.custom" . }}'
    http_config:
      authorization: {credentials: u}
"#,
    );
    let seen = differential(
        &config,
        &two_steps(&[("exact", &exact), ("over", &over)]),
        &WEBEX,
    )
    .await;
    assert_eq!(seen.len(), 6, "default and user: both steps");
    let by = |p: &str, step: usize| {
        seen.iter()
            .find(|e| e.step == step && e.am.path() == p)
            .unwrap()
    };
    let default = by("/v1/messages", 0);
    assert_eq!(
        default.am.header("authorization"),
        Some("Bearer webexsecret")
    );
    let v = default.json();
    assert_eq!(v["roomId"], "Y2lzY29zcGFyazovL3VzL1JPT00v");
    // The default template starts with the common annotations: cut too.
    assert!(v["markdown"].as_str().unwrap().ends_with("xx…"));
    let over_md = by("/over", 0).json()["markdown"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        over_md.len(),
        7000 + 145 * 3 + 3,
        "whole runes within 7436 bytes, then …"
    );
    assert!(over_md.ends_with("€€…"));
    assert_eq!(
        by("/over", 0).am.header("authorization"),
        Some("Token other")
    );
    assert_eq!(by("/exact", 0).json()["markdown"].as_str().unwrap(), exact);
    let user = by("/user", 1).json();
    assert!(
        user["markdown"]
            .as_str()
            .unwrap()
            .contains("- ~~http://b.test~~"),
        "{user}"
    );
}

#[tokio::test]
async fn webex_4xx_is_final_5xx_is_retried_429_waits_for_retry_after() {
    let entry = |url: String| {
        format!(
            "{{api_url: '{url}', room_id: r, http_config: {{authorization: {{credentials: c}}}}}}"
        )
    };
    let (server, _) = scripted(webex_ok, vec![TestResponse::text(400, "bad roomId")]);
    let (_d, i) = one("webex_configs", &entry(server.url("/v1/messages")));
    assert_eq!(
        final_after_one(send(&i, Duration::from_secs(5)).await),
        "unexpected status code 400: bad roomId"
    );
    let (server, times) = scripted(
        webex_ok,
        vec![
            TestResponse::text(503, "down"),
            TestResponse::text(429, "slow down").with_header("retry-after", "1"),
        ],
    );
    let (_d, i) = one("webex_configs", &entry(server.url("/v1/messages")));
    assert_eq!(send(&i, Duration::from_secs(10)).await.unwrap(), 3);
    let t = times.lock().unwrap().clone();
    assert!(t[2] - t[1] >= Duration::from_secs(1), "{:?}", t[2] - t[1]);
    let bodies: Vec<_> = server.requests().iter().map(|r| r.body.clone()).collect();
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
}

// ---------------------------------------------------------------------------------------
// WeChat against Alertmanager 0.25

/// WeChat's answers: a token from `gettoken`, `errcode` 0 from `message/send`.
fn wechat_ok(r: &TestRequest) -> TestResponse {
    if r.path().ends_with("/gettoken") {
        json_answer(
            200,
            r#"{"errcode":0,"errmsg":"ok","access_token":"wxtok","expires_in":7200}"#,
        )
    } else {
        json_answer(200, r#"{"errcode":0,"errmsg":"ok"}"#)
    }
}

const WECHAT: Compare<'static> = Compare {
    headers: &["content-type", "authorization"],
    body: BodyKind::Json,
    volatile: &[],
    exact_bytes: true,
    answer: wechat_ok,
};

#[tokio::test]
async fn wechat_text_markdown_and_token_fetch_match_alertmanager_0_25() {
    let config = config(
        "  wechat_api_url: RECORDER/cgi-bin\n  wechat_api_secret: wxsecret\n  wechat_api_corp_id: corp1",
        &format!("templates: ['{}/*.tmpl']", test_data("notify/r1")),
        "wechat_configs",
        r#"  - agent_id: '1000002'
  - api_url: RECORDER/own/?keep=1
    api_secret: 'sec ret+~*/{{ .GroupLabels.alertname }}'
    corp_id: 'corp 2&x'
    send_resolved: true
    message_type: markdown
    message: '{{ template "wechat.custom" . }}'
    to_party: '{{ .CommonLabels.severity }}'
    to_tag: 'tag<1>'
    agent_id: '{{ len .Alerts }}'
"#,
    );
    let seen = differential(&config, &two_steps(&[]), &WECHAT).await;
    let urls: Vec<(usize, String)> = seen
        .iter()
        .map(|e| (e.step, e.am.path_and_query().to_string()))
        .collect();
    assert_eq!(
        urls,
        [
            (
                0,
                "/cgi-bin/gettoken?corpid=corp1&corpsecret=wxsecret".to_string()
            ),
            (0, "/cgi-bin/message/send?access_token=wxtok".to_string()),
            (
                0,
                "/own/gettoken?corpid=corp+2%26x&corpsecret=sec+ret%2B~%2A%2FProbeDown".to_string()
            ),
            (0, "/own/message/send?access_token=wxtok&keep=1".to_string()),
            // The token is cached: no second gettoken.
            (1, "/own/message/send?access_token=wxtok&keep=1".to_string()),
        ]
    );
    assert_eq!(seen[0].am.method, "GET");
    let text = seen[1].json();
    assert_eq!(text["msgtype"], "text");
    assert_eq!(text["markdown"], json!({"content": ""}));
    assert_eq!(text["touser"], "blackbox|ops", "user template");
    assert!(text["text"]["content"]
        .as_str()
        .unwrap()
        .starts_with("[FIRING:2] ProbeDown (blackbox critical)\n"));
    let md = seen[4].json();
    assert_eq!(md["text"], json!({"content": ""}));
    assert_eq!(md["agentid"], "2");
    assert!(md["markdown"]["content"]
        .as_str()
        .unwrap()
        .contains("> http://b.test resolved"));
}

// ---------------------------------------------------------------------------------------
// WeChat: 0.28's answer handling and the token cache

#[tokio::test]
async fn wechat_refetches_on_42001_and_classifies_answers_as_0_28() {
    let entry = |url: String| format!("{{api_url: '{url}', api_secret: s, corp_id: corp}}");
    // 42001: the token is dropped and the retry fetches a new one.
    let (server, _) = scripted(
        wechat_ok,
        vec![
            json_answer(200, r#"{"access_token":"t1"}"#),
            json_answer(200, r#"{"errcode":42001,"errmsg":"access_token expired"}"#),
            json_answer(200, r#"{"access_token":"t2"}"#),
        ],
    );
    let (_d, i) = one("wechat_configs", &entry(server.url("/cgi-bin/")));
    assert_eq!(send(&i, Duration::from_secs(10)).await.unwrap(), 2);
    let urls: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.path_and_query().to_string())
        .collect();
    assert_eq!(
        urls,
        [
            "/cgi-bin/gettoken?corpid=corp&corpsecret=s",
            "/cgi-bin/message/send?access_token=t1",
            "/cgi-bin/gettoken?corpid=corp&corpsecret=s",
            "/cgi-bin/message/send?access_token=t2",
        ]
    );

    // Other errcodes are final (0.25 took them for success); non-200 is retried.
    let (server, _) = scripted(
        wechat_ok,
        vec![
            json_answer(200, r#"{"access_token":"t"}"#),
            json_answer(200, r#"{"errcode":40014,"errmsg":"invalid access_token"}"#),
            json_answer(500, "{}"),
            TestResponse::text(200, "not json"),
        ],
    );
    let (_d, i) = one("wechat_configs", &entry(server.url("/cgi-bin/")));
    assert_eq!(
        final_after_one(send(&i, Duration::from_secs(5)).await),
        "invalid access_token (errcode 40014)"
    );
    assert_eq!(send(&i, Duration::from_secs(10)).await.unwrap(), 3);

    // gettoken without a token: final, naming the corp id.
    let (server, _) = scripted(
        wechat_ok,
        vec![json_answer(
            200,
            r#"{"errcode":40001,"errmsg":"invalid credential"}"#,
        )],
    );
    let (_d, i) = one("wechat_configs", &entry(server.url("/cgi-bin/")));
    assert_eq!(
        final_after_one(send(&i, Duration::from_secs(5)).await),
        "invalid APISecret for CorpID: corp"
    );
}

#[tokio::test]
async fn wechat_token_is_kept_two_hours_from_the_flush_time() {
    let (server, _) = scripted(wechat_ok, vec![]);
    let (_d, i) = one(
        "wechat_configs",
        &format!(
            "{{api_url: '{}', api_secret: s, corp_id: c}}",
            server.url("/")
        ),
    );
    let a = [alert(&[("alertname", "X")], &[], false)];
    let t0 = SystemTime::now();
    let gettokens = || {
        server
            .requests()
            .iter()
            .filter(|r| r.path() == "/gettoken")
            .count()
    };
    for (at, want) in [
        (Duration::ZERO, 1),
        (Duration::from_secs(3600), 1),
        (Duration::from_secs(7200), 1),
        (Duration::from_secs(7201), 2),
    ] {
        i.notifier.notify(&ctx_at(t0 + at), &a).await.unwrap();
        assert_eq!(gettokens(), want, "at {at:?}");
    }
}

// ---------------------------------------------------------------------------------------
// All three: timeouts, secrets, status

#[tokio::test]
async fn telegram_webex_wechat_timeouts_end_at_the_flush_deadline() {
    let server = HttpServer::plain(|_r: &TestRequest| {
        TestResponse::text(200, "{}").with_delay(Duration::from_secs(10))
    });
    let url = server.url("/slow/");
    let yaml = format!(
        r#"route: {{receiver: s}}
receivers:
- name: s
  telegram_configs:
  - {{api_url: '{url}', bot_token: t, chat_id: 1}}
  webex_configs:
  - {{api_url: '{url}', room_id: r, http_config: {{bearer_token: b}}}}
  wechat_configs:
  - {{api_url: '{url}', api_secret: s, corp_id: c}}
"#
    );
    let (_d, ints) = integrations(&yaml);
    assert_eq!(ints.len(), 3);
    for i in &ints {
        let started = Instant::now();
        let e = send(i, Duration::from_millis(800)).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3), "{i:?}");
        assert!(
            e.to_string().contains("context deadline exceeded"),
            "{i:?}: {e}"
        );
        assert_eq!(e.reason(), FailReason::ContextDeadlineExceeded, "{i:?}");
    }
}

/// Bot tokens (in the URL path), Webex credentials, WeChat secrets (in the gettoken query)
/// and access tokens (in the send query) appear in no error, log line or config dump.
#[tokio::test]
async fn telegram_webex_wechat_leak_no_secret() {
    const TOKEN: &str = "TOKENxyzzy";
    const ACCESS: &str = "ACCESSplugh";
    let (logs, _guard) = crate::support::logs::capture();
    let answer = |r: &TestRequest| {
        if r.path().ends_with("/gettoken") {
            json_answer(200, &format!(r#"{{"access_token":"{ACCESS}"}}"#))
        } else if r.path().contains("/bot") {
            json_answer(
                403,
                r#"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#,
            )
        } else if r.path().contains("message/send") {
            json_answer(500, "{}")
        } else {
            TestResponse::text(401, "unauthorized")
        }
    };
    let server = HttpServer::plain(answer);
    let ok = server.url("/api/");
    let refused = format!("http://127.0.0.1:{}/x/", free_port());
    let long = "t".repeat(5000);
    let yaml = format!(
        r#"
global:
  wechat_api_secret: {TOKEN}
  wechat_api_corp_id: corp
route: {{receiver: s}}
receivers:
- name: s
  telegram_configs:
  - {{api_url: '{refused}', bot_token: {TOKEN}, chat_id: 1}}
  - {{api_url: '{ok}', bot_token: {TOKEN}, chat_id: 1, message: '{long}'}}
  - {{api_url: '{ok}', bot_token_file: /nonexistent/{TOKEN}-file-name-is-not-secret, chat_id: 1}}
  webex_configs:
  - {{api_url: '{refused}', room_id: r, http_config: {{authorization: {{credentials: {TOKEN}}}}}}}
  - {{api_url: '{ok}', room_id: r, message: '{long}{long}', http_config: {{authorization: {{credentials: {TOKEN}}}}}}}
  wechat_configs:
  - {{api_url: '{refused}'}}
  - {{api_url: '{ok}'}}
  - {{api_url: '{ok}', api_secret: '{{{{ .Nope.{TOKEN} }}}}'}}
"#
    );
    let (_d, ints) = integrations(&yaml);
    assert_eq!(ints.len(), 8);
    let mut errors = Vec::new();
    for i in &ints {
        if let Err(e) = send(i, Duration::from_millis(1200)).await {
            errors.push(e.to_string());
        }
    }
    assert_eq!(errors.len(), 8, "{errors:#?}");
    let dir = tempfile::tempdir().unwrap();
    let cfg = load_str(&yaml, &dir.path().join("a.yml")).unwrap();
    errors.push(format!("{:?}", cfg.receivers));
    errors.push(cfg.to_yaml());
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    for e in &errors {
        assert!(
            !e.contains(ACCESS) && (!e.contains(TOKEN) || e.contains("file-name-is-not-secret")),
            "secret in error: {e}"
        );
    }
    for line in logs.lines() {
        assert!(
            !line.contains(ACCESS)
                && (!line.contains(TOKEN) || line.contains("file-name-is-not-secret")),
            "secret in log: {line}"
        );
    }
    assert!(logs.contains("Truncated field"), "{logs}");
    assert!(logs.contains("Notify attempt failed"), "{logs}");
}

/// `/api/v2/status` shows the three receivers with their secrets as `<secret>`,
/// `/api/v2/receivers` lists them, and `amtool config routes` (which parses the status'
/// config as Alertmanager 0.25's own) prints the tree.
#[tokio::test]
async fn telegram_webex_wechat_in_status_receivers_and_amtool_routes() {
    const TOKEN: &str = "TOKENfrobozz";
    let d = Daemon::start(&format!(
        r#"
        alerting:
          global:
            telegram_api_url: https://tg.test
            wechat_api_secret: {TOKEN}1
            wechat_api_corp_id: corp1
          route:
            receiver: tg
            group_by: [alertname]
            routes:
              - receiver: webex
                matchers: ['team="ops"']
              - receiver: wechat
                matchers: ['team="cn"']
          receivers:
            - name: tg
              telegram_configs:
                - bot_token: {TOKEN}2
                  chat_id: -100123
            - name: webex
              webex_configs:
                - room_id: room
                  http_config:
                    authorization: {{credentials: {TOKEN}3}}
            - name: wechat
              wechat_configs:
                - api_secret: {TOKEN}4
                  message_type: markdown
        "#
    ))
    .await;
    let status: Value = serde_json::from_str(&d.get("/api/v2/status").await.text()).unwrap();
    let original = status["config"]["original"].as_str().unwrap();
    assert!(!original.contains(TOKEN), "secret in status:\n{original}");
    for want in [
        "wechat_api_secret: <secret>",
        "bot_token: <secret>",
        "credentials: <secret>",
        "api_secret: <secret>",
        "chat_id: -100123",
        "room_id: room",
        "message_type: markdown",
    ] {
        assert!(original.contains(want), "{want}:\n{original}");
    }
    let receivers: Value = serde_json::from_str(&d.get("/api/v2/receivers").await.text()).unwrap();
    assert_eq!(
        receivers,
        json!([{"name": "tg"}, {"name": "webex"}, {"name": "wechat"}])
    );
    let stdout = crate::support::am::amtool_routes(d.addr).await;
    assert!(
        stdout.contains("{team=\"ops\"}  receiver: webex"),
        "{stdout}"
    );
    assert!(
        stdout.contains("{team=\"cn\"}  receiver: wechat"),
        "{stdout}"
    );
}
