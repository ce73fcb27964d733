//! Pushover and Amazon SNS, through the differential harness of `support/recorder.rs` (the
//! same config and alerts through the real Alertmanager 0.25 and through blackwatch's
//! integration, requests compared) and against scripted loopback answers for their error
//! paths.
//!
//! Pushover posts to a fixed `https://api.pushover.net`: both sides talk through their own
//! `support::mitm::MitmProxy` (`MITM_PROXY` / `MITM_CA` in the configs). Every parameter is
//! in the query string; the harness compares it as form pairs (`BodyKind::Query`) and the
//! tests below also compare the raw query bytes. Fields newer than 0.25 (`device`, `ttl`,
//! `user_key_file`, `token_file`) are checked against upstream's 0.28 source, field by field.
//!
//! SNS posts to `api_url` (the recorder): the AWS Query form bodies must be byte-identical;
//! the SigV4 `Authorization` of both sides is recomputed with botocore
//! (`tests/data/notify/sns/verify_sigv4.py`, an implementation independent of the
//! `aws-sigv4` crate that signs blackwatch's requests), also for STS `AssumeRole`.

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use blackwatch::alert::config::load_str;
use blackwatch::alert::dedup::Reason;
use blackwatch::alert::metrics::AlertMetrics;
use blackwatch::alert::notify::{Integration, NotifyContext};
use blackwatch::alert::retry::{no_jitter, notify_with_retry, RetryError};
use blackwatch::alert::store::Alert;
use tokio::time::Instant;

use crate::support::mitm::MitmProxy;
use crate::support::recorder::{alert, differential, test_data, BodyKind, Compare, ROUTE};
use crate::support::{Daemon, HttpServer, TestRequest, TestResponse};

// ---------------------------------------------------------------------------------------
// Shared helpers

/// Two alerts of one group firing, then the second resolved (`support::recorder::two_steps`).
fn two_steps(extra: &[(&str, &str)]) -> Vec<Vec<Alert>> {
    crate::support::recorder::two_steps(
        "Probe <b>failed</b> & \"quoted\" 'x' + é",
        "https://wiki.test/a b?x=<1>&y='2'*~",
        extra,
    )
}

use crate::support::recorder::integrations;

fn ctx() -> NotifyContext {
    NotifyContext {
        receiver: "r".into(),
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

/// A loopback server answering from `script`, then with `ok`; returns it and its request
/// times.
fn scripted(
    script: Vec<TestResponse>,
    ok: fn() -> TestResponse,
) -> (HttpServer, Arc<Mutex<Vec<Instant>>>) {
    let times = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(std::collections::VecDeque::from(script)));
    let t = times.clone();
    let server = HttpServer::plain(move |_r: &TestRequest| {
        t.lock().unwrap().push(Instant::now());
        script.lock().unwrap().pop_front().unwrap_or_else(ok)
    });
    (server, times)
}

async fn send(i: &Integration, within: Duration) -> Result<usize, RetryError> {
    let a = [alert(&[("alertname", "X")], &[], false)];
    let deadline = Instant::now() + within;
    notify_with_retry(i, &ctx(), &a, deadline, &no_jitter(), &metrics()).await
}

/// The query parameters of a recorded request, in order.
fn query(r: &TestRequest) -> Vec<(String, String)> {
    url::form_urlencoded::parse(r.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn param<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

// ---------------------------------------------------------------------------------------
// Pushover against Alertmanager 0.25

/// Pushover's answer to a good message.
fn pushover_ok(_: &TestRequest) -> TestResponse {
    TestResponse::new(200)
        .with_header("content-type", "application/json; charset=utf-8")
        .with_body(r#"{"status":1,"request":"647d2300-702c-4b38-8b2f-d56326ae460b"}"#)
}

/// `device` is sent by 0.26+ (always, even empty) and not by 0.25: left out of the
/// comparison and checked on its own.
const PUSHOVER: Compare<'static> = Compare {
    headers: &["content-type", "content-length", "host"],
    body: BodyKind::Query,
    volatile: &["device"],
    exact_bytes: false,
    answer: pushover_ok,
};

const MITM: &str = "    http_config: {proxy_url: MITM_PROXY, tls_config: {ca_file: MITM_CA}}\n";

fn pushover_config(templates: &str, configs: &str) -> String {
    format!("{templates}\n{ROUTE}receivers:\n- name: r\n  pushover_configs:\n{configs}")
}

/// Both sides' raw query strings are equal once 0.26+'s `device=` is taken out of ours:
/// Go's `url.Values.Encode` (sorted keys, `QueryEscape`) byte for byte.
fn assert_same_raw_query(am: &TestRequest, bw: &TestRequest) {
    let bw_query = bw.query().unwrap_or("");
    assert!(bw_query.starts_with("device="), "{bw_query}");
    let (_, rest) = bw_query.split_once('&').unwrap();
    assert_eq!(rest, am.query().unwrap_or(""));
}

#[tokio::test]
async fn pushover_default_templates_match_alertmanager_0_25() {
    let config = pushover_config(
        "",
        &format!("  - user_key: ukey-not-real\n    token: token-not-real\n{MITM}  - user_key: ukey2\n    token: token2\n    send_resolved: false\n{MITM}"),
    );
    let seen = differential(&config, &two_steps(&[]), &PUSHOVER).await;
    // First config: both steps; second (send_resolved false): step 0 only, as the second
    // step's firing alert was already notified.
    assert_eq!(seen.len(), 3, "{seen:#?}");
    for e in &seen {
        assert_eq!(e.am.path(), "/1/messages.json");
        assert_eq!(e.am.header("host"), Some("api.pushover.net"));
        assert_eq!(e.am.header("content-type"), Some("text/plain"));
        assert!(e.am.body.is_empty());
        assert_same_raw_query(&e.am, &e.bw);
        assert_eq!(param(&query(&e.bw), "device"), Some(""));
    }
    let first = seen
        .iter()
        .find(|e| e.step == 0 && param(&query(&e.am), "user") == Some("ukey-not-real"))
        .unwrap();
    let q = query(&first.am);
    assert_eq!(
        param(&q, "title"),
        Some("[FIRING:2] ProbeDown (blackbox critical)")
    );
    assert_eq!(param(&q, "priority"), Some("2"));
    assert_eq!(param(&q, "retry"), Some("60"));
    assert_eq!(param(&q, "expire"), Some("3600"));
    assert_eq!(
        param(&q, "url"),
        Some("http://am.test:9093/#/alerts?receiver=r")
    );
    assert_eq!(param(&q, "html"), None);
    assert!(param(&q, "message")
        .unwrap()
        .starts_with("https://wiki.test/a b?x=<1>&y='2'*~\n"));
    let resolved = seen
        .iter()
        .find(|e| e.step == 1)
        .map(|e| query(&e.am))
        .unwrap();
    assert!(
        param(&resolved, "message")
            .unwrap()
            .contains("Alerts Resolved:"),
        "{resolved:?}"
    );
}

#[tokio::test]
async fn pushover_every_field_limits_and_user_templates_match_alertmanager_0_25() {
    let over_title: String = "ab⌘".repeat(84); // 252 runes
    let over_url: String = format!("https://u.test/{}", "é".repeat(600));
    let config = pushover_config(
        &format!("templates: ['{}/*.tmpl']", test_data("notify/pushover")),
        &format!(
            r#"  - user_key: '{{{{ .CommonLabels.job }}}}-ukey'
    token: tok
    title: '{over_title} {{{{ .Status }}}}'
    message: "{{{{ range .Alerts }}}}{{{{ .Annotations.summary }}}} {{{{ .Labels.instance }}}}\n{{{{ end }}}}{{{{ .CommonAnnotations.huge }}}}   "
    url: '{over_url}'
    url_title: 'Graph {{{{ .GroupLabels.alertname }}}} <&>'
    sound: '{{{{ if eq .Status "firing" }}}}siren{{{{ else }}}}magic{{{{ end }}}}'
    priority: '{{{{ if eq .Status "firing" }}}}1{{{{ else }}}}-1{{{{ end }}}}'
    retry: 30s
    expire: 2h30m
{MITM}  - user_key: u2
    token: t2
    html: true
    message: '{{{{ template "pushover.custom.message" . }}}}'
{MITM}  - user_key: u3
    token: t3
    title: ''
    message: '  {{{{ "" }}}}  '
    url: ''
    priority: ''
    retry: 0s
{MITM}"#
        ),
    );
    let huge = "x".repeat(3000);
    let seen = differential(&config, &two_steps(&[("huge", &huge)]), &PUSHOVER).await;
    assert_eq!(seen.len(), 6, "three configs, two steps");
    for e in &seen {
        assert_same_raw_query(&e.am, &e.bw);
    }
    let by_user = |u: &str, step: usize| {
        query(
            &seen
                .iter()
                .find(|e| e.step == step && param(&query(&e.am), "user") == Some(u))
                .unwrap()
                .am,
        )
    };
    let every = by_user("blackbox-ukey", 0);
    let title = param(&every, "title").unwrap();
    assert_eq!(title.chars().count(), 250, "cut to 250 runes");
    assert!(title.ends_with('…'));
    let message = param(&every, "message").unwrap();
    assert_eq!(message.chars().count(), 1024, "cut to 1024 runes");
    let url = param(&every, "url").unwrap();
    assert_eq!(url.chars().count(), 512, "cut to 512 runes");
    assert_eq!(param(&every, "url_title"), Some("Graph ProbeDown <&>"));
    assert_eq!(param(&every, "sound"), Some("siren"));
    assert_eq!(param(&every, "retry"), Some("30"));
    assert_eq!(param(&every, "expire"), Some("9000"));
    assert_eq!(param(&by_user("blackbox-ukey", 1), "priority"), Some("1"));
    let html = by_user("u2", 0);
    assert_eq!(param(&html, "html"), Some("1"));
    let m = param(&html, "message").unwrap();
    assert!(
        m.contains("<b>https://a.test</b> Probe &lt;b&gt;failed&lt;/b&gt; &amp;"),
        "{m}"
    );
    assert_eq!(
        param(&html, "title"),
        Some("custom FIRING ProbeDown (2/2)"),
        "user template overrides pushover.default.title"
    );
    let html_resolved = by_user("u2", 1);
    assert!(param(&html_resolved, "message")
        .unwrap()
        .contains("<i>http://b.test</i> ok"));
    let empty = by_user("u3", 0);
    assert_eq!(param(&empty, "message"), Some("(no details)"));
    assert_eq!(param(&empty, "title"), Some(""));
    assert_eq!(param(&empty, "retry"), Some("0"));
}

// ---------------------------------------------------------------------------------------
// Pushover: fields newer than 0.25, errors, secrets

/// blackwatch alone through a MITM proxy to `upstream`: the integrations of `configs`
/// (each gets the proxy's `http_config`).
fn pushover_via_mitm(
    upstream: std::net::SocketAddr,
    configs: &str,
) -> (MitmProxy, tempfile::TempDir, Vec<Integration>) {
    let proxy = MitmProxy::start(upstream);
    let yaml = format!(
        "route: {{receiver: r}}\nreceivers:\n- name: r\n  pushover_configs:\n{}",
        configs
            .replace("MITM_PROXY", &proxy.url())
            .replace("MITM_CA", &proxy.ca_file().display().to_string())
    );
    let (dir, ints) = integrations(&yaml);
    (proxy, dir, ints)
}

/// 0.26+'s `device`, `user_key_file`, `token_file` and 0.27+'s `ttl`, as upstream 0.28's
/// `pushover.go` sends them: the files read whole (untrimmed) and rendered as templates,
/// `device` templated, `ttl` in seconds only when positive.
#[tokio::test]
async fn pushover_fields_newer_than_0_25_as_upstream_0_28() {
    let (server, _) = scripted(vec![], pushover_ok_response);
    let files = tempfile::tempdir().unwrap();
    let user_file = files.path().join("user");
    let token_file = files.path().join("token");
    std::fs::write(&user_file, "ukey-{{ .GroupLabels.alertname }}\n").unwrap();
    std::fs::write(&token_file, "tok file").unwrap();
    let (_p, _d, ints) = pushover_via_mitm(
        server.addr(),
        &format!(
            "  - user_key_file: {}\n    token_file: {}\n    device: 'phone-{{{{ .Status }}}}'\n    ttl: 1h30m\n{MITM}  - user_key: u\n    token: t\n    ttl: 0s\n{MITM}",
            user_file.display(),
            token_file.display()
        ),
    );
    for i in &ints {
        send(i, Duration::from_secs(5)).await.unwrap();
    }
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let q = query(&reqs[0]);
    assert_eq!(
        param(&q, "user"),
        Some("ukey-X\n"),
        "read untrimmed, templated"
    );
    assert_eq!(param(&q, "token"), Some("tok file"));
    assert_eq!(param(&q, "device"), Some("phone-firing"));
    assert_eq!(param(&q, "ttl"), Some("5400"));
    let keys: Vec<&str> = q.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "device",
            "expire",
            "message",
            "priority",
            "retry",
            "sound",
            "title",
            "token",
            "ttl",
            "url",
            "url_title",
            "user"
        ],
        "sorted as url.Values.Encode"
    );
    let q2 = query(&reqs[1]);
    assert_eq!(param(&q2, "ttl"), None, "no ttl when zero");
    assert_eq!(param(&q2, "device"), Some(""));
}

fn pushover_ok_response() -> TestResponse {
    pushover_ok(&dummy_request())
}

fn dummy_request() -> TestRequest {
    TestRequest {
        method: http::Method::POST,
        uri: "/".parse().unwrap(),
        version: http::Version::HTTP_11,
        headers: http::HeaderMap::new(),
        body: bytes::Bytes::new(),
        tls: None,
        local_addr: "127.0.0.1:1".parse().unwrap(),
        remote_addr: "127.0.0.1:2".parse().unwrap(),
    }
}

/// Upstream's default `Retrier`: 4xx (429 included) final with the body, 5xx retried; a
/// request that gets no answer in time ends at the flush deadline.
#[tokio::test]
async fn pushover_4xx_is_final_5xx_is_retried_timeouts_end_at_the_deadline() {
    let (server, _) = scripted(
        vec![TestResponse::text(
            400,
            r#"{"user":"invalid","errors":["user identifier is invalid"],"status":0}"#,
        )],
        pushover_ok_response,
    );
    let (_p, _d, ints) = pushover_via_mitm(
        server.addr(),
        &format!("  - user_key: u\n    token: t\n{MITM}"),
    );
    match send(&ints[0], Duration::from_secs(5)).await {
        Err(RetryError::Unrecoverable { attempts: 1, last }) => assert_eq!(
            last.message,
            r#"unexpected status code 400: {"user":"invalid","errors":["user identifier is invalid"],"status":0}"#
        ),
        other => panic!("{other:?}"),
    }
    let (server, _) = scripted(vec![TestResponse::text(429, "quota")], pushover_ok_response);
    let (_p, _d, ints) = pushover_via_mitm(
        server.addr(),
        &format!("  - user_key: u\n    token: t\n{MITM}"),
    );
    assert!(matches!(
        send(&ints[0], Duration::from_secs(5)).await,
        Err(RetryError::Unrecoverable { attempts: 1, .. })
    ));
    let (server, _) = scripted(
        vec![TestResponse::text(500, "a"), TestResponse::text(503, "b")],
        pushover_ok_response,
    );
    let (_p, _d, ints) = pushover_via_mitm(
        server.addr(),
        &format!("  - user_key: u\n    token: t\n{MITM}"),
    );
    assert_eq!(send(&ints[0], Duration::from_secs(10)).await.unwrap(), 3);
    let qs: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.path_and_query().to_string())
        .collect();
    assert!(
        qs.windows(2).all(|w| w[0] == w[1]),
        "same request each attempt"
    );

    let slow = HttpServer::plain(|_r: &TestRequest| {
        pushover_ok_response().with_delay(Duration::from_secs(10))
    });
    let (_p, _d, ints) = pushover_via_mitm(
        slow.addr(),
        &format!("  - user_key: u\n    token: t\n{MITM}"),
    );
    let started = Instant::now();
    let e = send(&ints[0], Duration::from_millis(800))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(e.to_string().contains("context deadline exceeded"), "{e}");
}

#[tokio::test]
async fn pushover_leaks_no_secret_in_errors_logs_or_status() {
    const TOKEN: &str = "TOKENpushoverxyzzy";
    const USER: &str = "USERpushoverplugh";
    let (logs, _guard) = crate::support::logs::capture();
    let (server, _) = scripted(
        vec![
            TestResponse::text(400, "bad"),
            TestResponse::text(500, "down"),
        ],
        pushover_ok_response,
    );
    let long = "t".repeat(300);
    let refused = format!("127.0.0.1:{}", crate::support::am::free_port());
    let (_p, _d, mut ints) = pushover_via_mitm(
        server.addr(),
        &format!(
            "  - user_key: {USER}\n    token: {TOKEN}\n    title: '{long}'\n{MITM}  - user_key: {USER}\n    token: {TOKEN}\n{MITM}  - user_key: {USER}\n    token: {TOKEN}\n    message: '{{{{ .Nope.Nope }}}}'\n{MITM}  - user_key: {USER}\n    token_file: /nonexistent/file-name-is-not-secret\n{MITM}"
        ),
    );
    // And one whose proxy refuses connections.
    let (_p2, _d2, refused_ints) = pushover_via_mitm(
        refused.parse().unwrap(),
        &format!("  - user_key: {USER}\n    token: {TOKEN}\n{MITM}"),
    );
    ints.extend(refused_ints);
    let mut errors = Vec::new();
    for i in &ints {
        if let Err(e) = send(i, Duration::from_millis(1500)).await {
            errors.push(e.to_string());
        }
    }
    assert!(errors.len() >= 4, "{errors:#?}");
    let yaml = format!("route: {{receiver: r}}\nreceivers:\n- name: r\n  pushover_configs:\n  - user_key: {USER}\n    token: {TOKEN}\n");
    let cfg = load_str(&yaml, std::path::Path::new("a.yml")).unwrap();
    errors.push(format!("{:?}", cfg.receivers));
    let dump = cfg.to_yaml();
    assert!(
        dump.contains("user_key: <secret>") && dump.contains("token: <secret>"),
        "{dump}"
    );
    errors.push(dump);
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    for text in errors.iter().map(String::as_str).chain(logs.lines()) {
        assert!(
            !text.contains(TOKEN) && !text.contains(USER),
            "secret in: {text}"
        );
    }
    assert!(logs.contains("Truncated field"), "{logs}");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("read token_file: open /nonexistent/file-name-is-not-secret")),
        "{errors:#?}"
    );
}

/// `/api/v2/status` shows the Pushover receiver with its keys as `<secret>`, and
/// `amtool config routes` parses it.
#[tokio::test]
async fn pushover_and_sns_receivers_in_status_and_amtool_routes() {
    const TOKEN: &str = "TOKENstatusxyzzy";
    let d = Daemon::start(&format!(
        r#"
        alerting:
          route:
            receiver: push
            routes:
              - receiver: sns
                matchers: ['team="aws"']
          receivers:
            - name: push
              pushover_configs:
                - user_key: {TOKEN}u
                  token: {TOKEN}t
                  priority: '1'
                  retry: 5m
            - name: sns
              sns_configs:
                - topic_arn: arn:aws:sns:us-east-1:123456789012:alerts
                  sigv4:
                    region: us-east-1
                    access_key: AKIDEXAMPLE
                    secret_key: {TOKEN}s
                  attributes: {{severity: '{{{{ .CommonLabels.severity }}}}'}}
        "#
    ))
    .await;
    let status: serde_json::Value =
        serde_json::from_str(&d.get("/api/v2/status").await.text()).unwrap();
    let original = status["config"]["original"].as_str().unwrap();
    assert!(!original.contains(TOKEN), "secret in status:\n{original}");
    assert!(original.contains("user_key: <secret>"), "{original}");
    assert!(original.contains("secret_key: <secret>"), "{original}");
    assert!(original.contains("access_key: AKIDEXAMPLE"), "{original}");
    let stdout = crate::support::am::amtool_routes(d.addr).await;
    assert!(stdout.contains("{team=\"aws\"}  receiver: sns"), "{stdout}");
}

// ---------------------------------------------------------------------------------------
// Amazon SNS against Alertmanager 0.25; SigV4 checked with botocore

const AK: &str = "AKIDEXAMPLE";
const SK: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// SNS's answer to `Publish` (the SDK parses it).
fn sns_ok(_: &TestRequest) -> TestResponse {
    TestResponse::new(200)
        .with_header("content-type", "text/xml")
        .with_body(
            "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><PublishResult><MessageId>94f20ce6-13c5-43a0-9a9e-ca52d816e90b</MessageId></PublishResult><ResponseMetadata><RequestId>f187a3c1-376f-11df-8963-01868b7c937a</RequestId></ResponseMetadata></PublishResponse>",
        )
}

/// The form bodies have no volatile field (the signature is in headers): byte-identical
/// bodies are required. `Authorization` and `X-Amz-Date` differ by time and are checked
/// with botocore instead.
const SNS: Compare<'static> = Compare {
    headers: &["content-type", "content-length"],
    body: BodyKind::Form,
    volatile: &[],
    exact_bytes: true,
    answer: sns_ok,
};

/// Recomputes each request's SigV4 signature with botocore (`tests/data/notify/sns/
/// verify_sigv4.py`) and asserts it is the one sent; returns botocore's canonical requests.
pub(crate) fn verify_with_botocore(
    reqs: &[&TestRequest],
    secret_key: &str,
    token: Option<&str>,
) -> Vec<String> {
    let input: Vec<serde_json::Value> = reqs
        .iter()
        .map(|r| {
            let headers: serde_json::Map<String, serde_json::Value> = r
                .headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().into()))
                .collect();
            serde_json::json!({
                "method": r.method.as_str(),
                "url": format!("http://{}{}", r.header("host").unwrap(), r.path_and_query()),
                "headers": headers,
                "body": r.body.iter().map(|&b| char::from(b)).collect::<String>(),
                "secret_key": secret_key,
                "session_token": token,
            })
        })
        .collect();
    let mut child = std::process::Command::new("python3")
        .arg(test_data("notify/sns/verify_sigv4.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&input).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "botocore is needed (pip install --break-system-packages botocore): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(results.len(), reqs.len());
    results
        .iter()
        .zip(reqs)
        .map(|(v, r)| {
            assert_eq!(v["ok"], true, "signature of {}: {v:#}", r.path_and_query());
            let auth = r.header("authorization").unwrap();
            assert!(
                auth.contains(&format!(
                    "SignedHeaders={},",
                    v["signed_headers"].as_str().unwrap()
                )),
                "{auth}"
            );
            v["canonical_request"].as_str().unwrap().to_string()
        })
        .collect()
}

fn sns_config(configs: &str) -> String {
    format!("{ROUTE}receivers:\n- name: r\n  sns_configs:\n{configs}")
}

#[tokio::test]
async fn sns_publish_matches_alertmanager_0_25_and_botocore_verifies_both_signatures() {
    let sigv4 = format!("    sigv4: {{region: us-east-1, access_key: {AK}, secret_key: '{SK}'}}\n");
    let config = sns_config(&format!(
        r#"  - api_url: RECORDER/sns
{sigv4}    topic_arn: arn:aws:sns:us-east-1:123456789012:alerts
    attributes: {{severity: '{{{{ .CommonLabels.severity }}}}', '{{{{ .GroupLabels.alertname }}}}': '<&> x', a10: '10', a2: '2'}}
  - api_url: RECORDER/fifo
{sigv4}    topic_arn: 'arn:aws:sns:us-east-1:123456789012:{{{{ .CommonLabels.job }}}}.fifo'
    subject: '{{{{ .Status }}}}: {{{{ .GroupLabels.alertname }}}}'
    message: "{{{{ range .Alerts }}}}{{{{ .Labels.instance }}}} {{{{ .Annotations.summary }}}}\n{{{{ end }}}}"
    send_resolved: false
  - api_url: RECORDER/sms
{sigv4}    phone_number: '+15555550100'
    subject: ''
    message: 'x{{{{ .CommonAnnotations.long }}}}'
  - api_url: RECORDER/target
{sigv4}    target_arn: arn:aws:sns:us-east-1:123456789012:endpoint/GCM/app/1
    message: '{{{{ .CommonAnnotations.huge }}}}'
  - api_url: RECORDER/slash/
{sigv4}    topic_arn: arn:aws:sns:us-east-1:123456789012:alerts
    target_arn: arn:aws:sns:us-east-1:123456789012:endpoint/x
    phone_number: '+15555550101'
    message: m
"#
    ));
    let long = "é".repeat(900); // 1801 bytes with the x: cut at 1600, inside a rune
    let huge = "y".repeat(270_000);
    let seen = differential(
        &config,
        &two_steps(&[("long", &long), ("huge", &huge)]),
        &SNS,
    )
    .await;
    assert_eq!(seen.len(), 9, "fifo has send_resolved false");
    assert!(
        seen.iter().any(|e| e.am.path() == "/slash/"),
        "no second / after a path ending in one"
    );
    let form = |r: &TestRequest| -> Vec<(String, String)> {
        url::form_urlencoded::parse(&r.body).into_owned().collect()
    };
    for e in &seen {
        assert_eq!(
            e.am.header("content-type"),
            Some("application/x-www-form-urlencoded; charset=utf-8")
        );
        assert!(
            e.am.path().ends_with('/'),
            "the SDK appends / to api_url's path"
        );
        assert_eq!(
            form(&e.am)[0],
            ("Action".to_string(), "Publish".to_string())
        );
    }
    let step0 = |p: &str| {
        seen.iter()
            .find(|e| e.step == 0 && e.am.path() == p)
            .unwrap()
    };
    let topic = form(&step0("/sns/").am);
    let keys: Vec<&str> = topic.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys[..6],
        [
            "Action",
            "Message",
            "MessageAttributes.entry.1.Name",
            "MessageAttributes.entry.1.Value.DataType",
            "MessageAttributes.entry.1.Value.StringValue",
            "MessageAttributes.entry.2.Name"
        ]
    );
    let fifo = form(&step0("/fifo/").am);
    let hash = format!(
        "{:x}",
        <sha2::Sha256 as sha2::Digest>::digest(b"{}:{alertname=\"ProbeDown\"}")
    );
    assert!(
        fifo.contains(&("MessageGroupId".into(), hash.clone())),
        "{fifo:?}"
    );
    assert!(fifo.contains(&("MessageDeduplicationId".into(), hash)));
    assert!(fifo.contains(&("MessageAttributes".into(), String::new())));
    assert!(fifo.contains(&("Subject".into(), "firing: ProbeDown".into())));
    let sms = step0("/sms/");
    let raw = &sms.am.body;
    assert!(
        raw.windows(9).any(|w| w == b"%C3%A9%C3"),
        "cut inside a rune"
    );
    let sms_form = form(&sms.am);
    assert!(sms_form.contains(&("MessageAttributes.entry.1.Name".into(), "truncated".into())));
    assert!(
        !sms_form.iter().any(|(k, _)| k == "Subject"),
        "subject: '' sends none"
    );
    let target = form(&step0("/target/").am);
    let message = &target.iter().find(|(k, _)| k == "Message").unwrap().1;
    assert_eq!(message.len(), 262_144);
    assert!(target
        .iter()
        .any(|(k, v)| k == "Subject" && v == "[FIRING:2] ProbeDown (blackbox critical)"));

    let am: Vec<&TestRequest> = seen.iter().map(|e| &e.am).collect();
    let bw: Vec<&TestRequest> = seen.iter().map(|e| &e.bw).collect();
    let am_canonical = verify_with_botocore(&am, SK, None);
    let bw_canonical = verify_with_botocore(&bw, SK, None);
    for (a, b) in am_canonical.iter().zip(&bw_canonical) {
        // The same canonical request apart from the host's port and the date.
        let strip = |s: &str| {
            s.lines()
                .filter(|l| !l.starts_with("host:") && !l.starts_with("x-amz-date:"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(strip(a), strip(b));
    }
    for e in &seen {
        let auth = e.bw.header("authorization").unwrap();
        assert!(auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={AK}/")));
        assert!(auth.contains("/us-east-1/sns/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-date, Signature="), "{auth}");
    }
}

/// An SNS integration of blackwatch alone posting to `server` (`api_url`), optionally
/// through `proxy` (for STS).
fn one_sns(url: &str, extra: &str) -> (tempfile::TempDir, Integration) {
    let yaml = format!(
        "route: {{receiver: r}}\nreceivers:\n- name: r\n  sns_configs:\n  - api_url: {url}\n    topic_arn: arn:aws:sns:eu-west-1:1:t\n{extra}"
    );
    let (dir, mut v) = integrations(&yaml);
    (dir, v.remove(0))
}

fn sns_error(status: u16, code: &str, message: &str) -> TestResponse {
    TestResponse::new(status)
        .with_header("content-type", "text/xml")
        .with_body(format!("<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>1</RequestId></ErrorResponse>"))
}

fn sns_ok_response() -> TestResponse {
    sns_ok(&dummy_request())
}

#[tokio::test]
async fn sns_4xx_is_final_5xx_throttling_and_429_are_retried() {
    let sigv4 = format!("    sigv4: {{region: eu-west-1, access_key: {AK}, secret_key: '{SK}'}}\n");
    let (server, _) = scripted(
        vec![sns_error(
            400,
            "InvalidParameter",
            "Invalid parameter: TopicArn",
        )],
        sns_ok_response,
    );
    let (_d, i) = one_sns(&server.url("/"), &sigv4);
    match send(&i, Duration::from_secs(5)).await {
        Err(RetryError::Unrecoverable { attempts: 1, last }) => assert_eq!(
            last.message,
            "unexpected status code 400: Invalid parameter: TopicArn"
        ),
        other => panic!("{other:?}"),
    }
    let (server, times) = scripted(
        vec![
            sns_error(500, "InternalError", "oops"),
            sns_error(400, "Throttling", "Rate exceeded"),
            sns_error(429, "TooManyRequests", "slow down").with_header("retry-after", "1"),
        ],
        sns_ok_response,
    );
    let (_d, i) = one_sns(&server.url("/"), &sigv4);
    assert_eq!(send(&i, Duration::from_secs(15)).await.unwrap(), 4);
    let t = times.lock().unwrap().clone();
    assert!(t[3] - t[2] >= Duration::from_secs(1), "{:?}", t[3] - t[2]);
    let reqs = server.requests();
    let refs: Vec<&TestRequest> = reqs.iter().collect();
    verify_with_botocore(&refs, SK, None);

    let slow =
        HttpServer::plain(|_r: &TestRequest| sns_ok_response().with_delay(Duration::from_secs(10)));
    let (_d, i) = one_sns(&slow.url("/"), &sigv4);
    let started = Instant::now();
    let e = send(&i, Duration::from_millis(800)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(e.to_string().contains("context deadline exceeded"), "{e}");
}

/// `role_arn`: the configured keys call STS `AssumeRole` at `sts.amazonaws.com` (reached
/// through a MITM proxy here) and `Publish` is signed with the temporary credentials and
/// their session token, which are reused while valid. botocore verifies both signatures.
#[tokio::test]
async fn sns_role_arn_assumes_the_role_and_signs_with_its_session_credentials() {
    let server = HttpServer::plain(|r: &TestRequest| {
        if r.body_str().contains("Action=AssumeRole") {
            TestResponse::new(200).with_header("content-type", "text/xml").with_body(
                "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials><AccessKeyId>ASIATEMP</AccessKeyId><SecretAccessKey>tempsecret</SecretAccessKey><SessionToken>sessiontoken</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>",
            )
        } else {
            sns_ok(r)
        }
    });
    let proxy = MitmProxy::start(server.addr());
    let extra = format!(
        "    sigv4: {{region: eu-west-1, access_key: {AK}, secret_key: '{SK}', role_arn: 'arn:aws:iam::123456789012:role/alerts'}}\n    http_config: {{proxy_url: {}, tls_config: {{ca_file: {}}}}}\n",
        proxy.url(),
        proxy.ca_file().display()
    );
    let (_d, i) = one_sns(&server.url("/sns"), &extra);
    send(&i, Duration::from_secs(5)).await.unwrap();
    send(&i, Duration::from_secs(5)).await.unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3, "one AssumeRole, two Publish");
    let sts = &reqs[0];
    assert_eq!(sts.header("host"), Some("sts.amazonaws.com"));
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&sts.body)
        .into_owned()
        .collect();
    assert_eq!(form[0], ("Action".into(), "AssumeRole".into()));
    assert_eq!(
        form[1],
        (
            "RoleArn".into(),
            "arn:aws:iam::123456789012:role/alerts".into()
        )
    );
    assert!(sts
        .header("authorization")
        .unwrap()
        .contains("/us-east-1/sts/aws4_request"));
    verify_with_botocore(&[sts], SK, None);
    for publish in &reqs[1..] {
        assert_eq!(publish.path(), "/sns/");
        assert_eq!(publish.header("x-amz-security-token"), Some("sessiontoken"));
        let auth = publish.header("authorization").unwrap();
        assert!(auth.contains("Credential=ASIATEMP/"), "{auth}");
        assert!(
            auth.contains(
                "SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-security-token,"
            ),
            "{auth}"
        );
    }
    let publishes: Vec<&TestRequest> = reqs[1..].iter().collect();
    verify_with_botocore(&publishes, "tempsecret", Some("sessiontoken"));
}

#[tokio::test]
async fn sns_leaks_no_secret_in_errors_or_logs() {
    const SECRET: &str = "SECRETsnsxyzzyKEY";
    let (logs, _guard) = crate::support::logs::capture();
    let (server, _) = scripted(
        vec![
            sns_error(
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            ),
            sns_error(500, "InternalError", "down"),
        ],
        sns_ok_response,
    );
    let refused = format!("http://127.0.0.1:{}/", crate::support::am::free_port());
    let sigv4 =
        format!("    sigv4: {{region: eu-west-1, access_key: {AK}, secret_key: {SECRET}}}\n");
    let yaml = format!(
        "route: {{receiver: r}}\nreceivers:\n- name: r\n  sns_configs:\n  - api_url: {refused}\n    topic_arn: t\n{sigv4}  - api_url: {u}\n    topic_arn: t\n{sigv4}  - api_url: {u}\n    topic_arn: t\n{sigv4}    message: '{{{{ .Nope.Nope }}}}'\n  - api_url: {u}\n    phone_number: '1'\n{sigv4}    message: '{long}'\n",
        u = server.url("/"),
        long = "z".repeat(2000),
    );
    let (_d, ints) = integrations(&yaml);
    let mut errors = Vec::new();
    for i in &ints {
        if let Err(e) = send(i, Duration::from_millis(1500)).await {
            errors.push(e.to_string());
        }
    }
    assert!(errors.len() >= 3, "{errors:#?}");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("execute 'message' template")),
        "{errors:#?}"
    );
    let cfg = load_str(&yaml, std::path::Path::new("a.yml")).unwrap();
    errors.push(format!("{:?}", cfg.receivers));
    let dump = cfg.to_yaml();
    assert!(dump.contains("secret_key: <secret>"), "{dump}");
    errors.push(dump);
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    for text in errors.iter().map(String::as_str).chain(logs.lines()) {
        assert!(!text.contains(SECRET), "secret in: {text}");
    }
    assert!(logs.contains("Truncated field"), "{logs}");
}
