//! Discord and e-mail notifiers against real servers on loopback: a fake Discord webhook
//! (payload shape, limits, 429/500 then delivery exactly once through the retry loop), a real
//! SMTP server (Python aiosmtpd: plain, STARTTLS, implicit TLS, AUTH PLAIN/LOGIN), the output
//! of the default templates compared live with the real Alertmanager 0.25
//! (`/usr/bin/prometheus-alertmanager`), a GBK-encoded template file sent byte for byte as
//! Alertmanager 0.25 sends it, and every error path checked for leaked secrets.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use blackwatch::alert::config::{load_str, AlertingConfig};
use blackwatch::alert::dedup::Reason;
use blackwatch::alert::metrics::AlertMetrics;
use blackwatch::alert::notify::render::{build_discord_email, TemplateSet};
use blackwatch::alert::notify::{Integration, NotifyContext};
use blackwatch::alert::retry::{no_jitter, notify_with_retry};
use blackwatch::alert::store::Alert;
use blackwatch::labels::LabelSet;
use tokio::time::Instant;

use crate::support::am::{free_port, start_am};
use crate::support::{poll, HttpServer, TestCa, TestRequest, TestResponse};

use blackwatch::labels::label_set as ls;

fn alert(labels: &[(&str, &str)], annotations: &[(&str, &str)], ends_at: SystemTime) -> Alert {
    Alert {
        labels: ls(labels),
        annotations: ls(annotations),
        starts_at: UNIX_EPOCH + Duration::from_secs(1_795_000_000),
        ends_at,
        generator_url: "http://prom.test/graph?g0.expr=probe_success+%3D%3D+0&g0.tab=1".into(),
        updated_at: UNIX_EPOCH,
        timeout: false,
    }
}

fn ctx(receiver: &str, group: &[(&str, &str)], now: SystemTime) -> NotifyContext {
    NotifyContext {
        receiver: receiver.into(),
        group_key: "{}:{alertname=\"ProbeDown\"}".into(),
        group_labels: ls(group),
        external_url: "http://am.test:9093".into(),
        reason: Reason::FirstNotification,
        now,
    }
}

fn config(yaml: &str) -> (tempfile::TempDir, AlertingConfig) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alertmanager.yml");
    std::fs::write(&path, yaml).unwrap();
    let cfg = load_str(yaml, &path).unwrap_or_else(|e| panic!("config: {e}"));
    (dir, cfg)
}

/// The integrations of the first receiver of `yaml`.
fn integrations(yaml: &str) -> (tempfile::TempDir, Vec<Integration>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (dir, cfg) = config(yaml);
    let templates = Arc::new(TemplateSet::load(&cfg.template_files()).unwrap());
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        )
        .build()
        .unwrap();
    let (built, errors) = build_discord_email(&cfg.receivers[0], &client, dir.path(), &templates);
    assert!(errors.is_empty(), "{errors:?}");
    (dir, built.into_iter().map(|(_, i)| i).collect())
}

/// A fake Discord webhook: records every request, answers from a script (then 204).
struct FakeDiscord {
    server: HttpServer,
    requests: Arc<Mutex<Vec<(Instant, TestRequest)>>>,
}

impl FakeDiscord {
    fn start(script: Vec<TestResponse>) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let rec = requests.clone();
        let server = HttpServer::plain(move |req: &TestRequest| {
            rec.lock().unwrap().push((Instant::now(), req.clone()));
            script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| TestResponse::new(204))
        });
        FakeDiscord { server, requests }
    }

    fn url(&self) -> String {
        format!("http://{}/api/webhooks/123/tok", self.server.addr())
    }

    fn bodies(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|(_, r)| r.body_str().into_owned())
            .collect()
    }
}

fn metrics() -> AlertMetrics {
    AlertMetrics::register(&mut prometheus_client::registry::Registry::default())
}

#[tokio::test]
async fn discord_payload_shape_limits_and_defaults() {
    let fake = FakeDiscord::start(vec![]);
    let yaml = format!(
        r#"
route: {{receiver: d, group_by: [alertname]}}
receivers:
- name: d
  discord_configs:
  - webhook_url: {url}
  - webhook_url: {url}
    username: bw
    avatar_url: https://img.test/a.png
    content: '{{{{ range .Alerts }}}}{{{{ .Labels.long }}}}{{{{ end }}}}'
"#,
        url = fake.url()
    );
    let (_d, ints) = integrations(&yaml);
    let long = "é".repeat(3000);
    let alerts = [
        alert(
            &[
                ("alertname", "ProbeDown"),
                ("instance", "https://a.test"),
                ("long", &long),
            ],
            &[("summary", "Probe <failed> & \"a\"")],
            UNIX_EPOCH,
        ),
        alert(
            &[
                ("alertname", "ProbeDown"),
                ("instance", "https://b.test"),
                ("long", &long),
            ],
            &[],
            UNIX_EPOCH,
        ),
    ];
    let now = SystemTime::now();
    let c = ctx("team-x", &[("alertname", "ProbeDown")], now);
    for i in &ints {
        i.notifier.notify(&c, &alerts).await.unwrap();
    }
    let bodies = fake.bodies();
    assert_eq!(bodies.len(), 2);
    {
        let reqs = fake.requests.lock().unwrap();
        assert_eq!(reqs[0].1.header("content-type"), Some("application/json"));
        assert_eq!(reqs[0].1.path(), "/api/webhooks/123/tok");
    }
    // Exact key order and omission of empty username/avatar_url.
    let v: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    assert!(bodies[0].starts_with("{\"content\":\"\",\"embeds\":[{\"title\":"));
    assert!(
        bodies[0].ends_with("}]}\n"),
        "{}",
        &bodies[0][bodies[0].len() - 20..]
    );
    let embed = &v["embeds"][0];
    assert_eq!(v["embeds"].as_array().unwrap().len(), 1);
    assert_eq!(embed.as_object().unwrap().len(), 3);
    assert_eq!(embed["color"], 0x992D22);
    let title = embed["title"].as_str().unwrap();
    assert_eq!(title.chars().count(), 256);
    assert!(title.starts_with("[FIRING:2] ProbeDown ("));
    assert!(title.ends_with('…'));
    let desc = embed["description"].as_str().unwrap();
    assert_eq!(desc.chars().count(), 4096);
    assert!(desc.starts_with(
        "\n\nAlerts Firing:\nLabels:\n - alertname = ProbeDown\n - instance = https://a.test\n"
    ));
    assert!(desc.ends_with('…'));
    // Go's encoder escapes <, > and & in strings.
    assert!(bodies[0].contains("Probe \\u003cfailed\\u003e \\u0026 \\\"a\\\""));
    let v2: serde_json::Value = serde_json::from_str(&bodies[1]).unwrap();
    assert_eq!(v2["username"], "bw");
    assert_eq!(v2["avatar_url"], "https://img.test/a.png");
    let content = v2["content"].as_str().unwrap();
    assert_eq!(content.chars().count(), 2000);
    assert!(content.ends_with('…'));
    let keys: Vec<&String> = v2.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4);

    // All resolved: green.
    let resolved = [alert(
        &[("alertname", "ProbeDown"), ("instance", "https://a.test")],
        &[],
        now - Duration::from_secs(5),
    )];
    ints[0].notifier.notify(&c, &resolved).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&fake.bodies()[2]).unwrap();
    assert_eq!(v["embeds"][0]["color"], 0x2ECC71);
    assert_eq!(
        v["embeds"][0]["title"],
        "[RESOLVED] ProbeDown (https://a.test)"
    );
}

#[tokio::test]
async fn discord_url_file_is_read_on_every_send() {
    let fake = FakeDiscord::start(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("url");
    std::fs::write(&url_file, format!("  {}/first\n", fake.url())).unwrap();
    let yaml = format!(
        "route: {{receiver: d}}\nreceivers:\n- name: d\n  discord_configs:\n  - webhook_url_file: {}\n",
        url_file.display()
    );
    let (_d, ints) = integrations(&yaml);
    let c = ctx("d", &[], SystemTime::now());
    let a = [alert(&[("alertname", "X")], &[], UNIX_EPOCH)];
    ints[0].notifier.notify(&c, &a).await.unwrap();
    std::fs::write(&url_file, format!("{}/second", fake.url())).unwrap();
    ints[0].notifier.notify(&c, &a).await.unwrap();
    let paths: Vec<String> = fake
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|(_, r)| r.path().to_string())
        .collect();
    assert_eq!(
        paths,
        [
            "/api/webhooks/123/tok/first",
            "/api/webhooks/123/tok/second"
        ]
    );
}

#[tokio::test]
async fn discord_digest_stays_within_limits() {
    let fake = FakeDiscord::start(vec![]);
    let yaml = format!(
        "route: {{receiver: d}}\nreceivers:\n- name: d\n  discord_configs:\n  - webhook_url: {}\n    digest: true\n",
        fake.url()
    );
    let (_d, ints) = integrations(&yaml);
    let c = ctx("d", &[("alertname", "ProbeDown")], SystemTime::now());
    let big = "x".repeat(900);
    let alerts: Vec<Alert> = (0..14)
        .map(|i| {
            alert(
                &[
                    ("alertname", "ProbeDown"),
                    ("instance", &format!("i{i:02}")),
                ],
                &[("description", &big)],
                UNIX_EPOCH,
            )
        })
        .collect();
    ints[0].notifier.notify(&c, &alerts).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&fake.bodies()[0]).unwrap();
    let embeds = v["embeds"].as_array().unwrap();
    assert!(embeds.len() <= 10);
    let total: usize = embeds
        .iter()
        .map(|e| {
            e["title"].as_str().unwrap().chars().count()
                + e["description"].as_str().unwrap().chars().count()
        })
        .sum();
    assert!(total <= 6000, "{total}");
    let shown = embeds.len() - 1;
    assert_eq!(embeds[0]["title"], "[FIRING:1] ProbeDown (i00)");
    assert_eq!(
        embeds[shown]["title"],
        format!("… and {} more alerts not shown", 14 - shown)
    );
    assert!(shown >= 5, "{shown}");

    // Few alerts: one embed each, no note.
    ints[0].notifier.notify(&c, &alerts[..3]).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&fake.bodies()[1]).unwrap();
    assert_eq!(v["embeds"].as_array().unwrap().len(), 3);
}

async fn retry_case(first: TestResponse) -> (FakeDiscord, Result<usize, String>, AlertMetrics) {
    let fake = FakeDiscord::start(vec![first]);
    let yaml = format!(
        "route: {{receiver: d}}\nreceivers:\n- name: d\n  discord_configs:\n  - webhook_url: {}\n",
        fake.url()
    );
    let (_d, ints) = integrations(&yaml);
    let c = ctx("d", &[], SystemTime::now());
    let a = [alert(&[("alertname", "X")], &[], UNIX_EPOCH)];
    let m = metrics();
    let r = notify_with_retry(
        &ints[0],
        &c,
        &a,
        Instant::now() + Duration::from_secs(10),
        &no_jitter(),
        &m,
    )
    .await
    .map_err(|e| e.to_string());
    (fake, r, m)
}

#[tokio::test]
async fn discord_429_retry_after_is_honoured_then_delivered_once() {
    let limited = TestResponse::new(429)
        .with_header("content-type", "application/json")
        .with_body(
            r#"{"message": "You are being rate limited.", "retry_after": 0.8, "global": false}"#,
        );
    let (fake, r, m) = retry_case(limited).await;
    assert_eq!(r, Ok(2));
    let reqs = fake.requests.lock().unwrap();
    assert_eq!(reqs.len(), 2, "exactly one retry, no duplicate delivery");
    let gap = reqs[1].0 - reqs[0].0;
    // The backoff alone would be 0.5 s; Discord asked for 0.8 s.
    assert!(gap >= Duration::from_millis(800), "{gap:?}");
    assert_eq!(reqs[0].1.body, reqs[1].1.body);
    let label = AlertMetrics::integration("discord");
    assert_eq!(
        m.notification_requests_failed.get_or_create(&label).get(),
        1
    );
    assert_eq!(m.notification_requests.get_or_create(&label).get(), 2);
}

#[tokio::test]
async fn discord_429_retry_after_header_and_500_are_retried() {
    let (fake, r, _) = retry_case(TestResponse::new(429).with_header("Retry-After", "1")).await;
    assert_eq!(r, Ok(2));
    {
        let reqs = fake.requests.lock().unwrap();
        assert!(reqs[1].0 - reqs[0].0 >= Duration::from_secs(1));
    }
    let (fake, r, _) = retry_case(TestResponse::text(500, "oops")).await;
    assert_eq!(r, Ok(2));
    assert_eq!(fake.bodies().len(), 2);
    // 4xx other than 429 is final, as upstream.
    let (fake, r, m) = retry_case(TestResponse::text(400, "bad embed")).await;
    assert_eq!(fake.bodies().len(), 1);
    let e = r.unwrap_err();
    assert!(
        e.contains("unrecoverable") && e.contains("400: bad embed"),
        "{e}"
    );
    let failed = m
        .notifications_failed
        .get_or_create(&blackwatch::alert::metrics::FailedLabels {
            integration: "discord".into(),
            reason: "clientError",
        })
        .get();
    assert_eq!(failed, 1);
}

// ---------------------------------------------------------------------------------------
// SMTP

/// A real SMTP server (aiosmtpd) in a Python child process.
struct SmtpSink {
    child: Child,
    port: u16,
    lines: std::sync::mpsc::Receiver<String>,
}

fn require_aiosmtpd() {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "the e-mail tests need Python's aiosmtpd: pip install --break-system-packages aiosmtpd (.ci/run installs it)"
    );
}

impl SmtpSink {
    fn start(mode: &str, cert: Option<(&Path, &Path)>) -> Self {
        require_aiosmtpd();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/notify/smtp_sink.py");
        let mut cmd = Command::new("python3");
        cmd.arg("-W").arg("ignore").arg(script).arg(mode);
        if let Some((c, k)) = cert {
            cmd.arg(c).arg(k);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting python3");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("smtp sink did not start");
        let port = ready
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected sink output {ready:?}"));
        SmtpSink {
            child,
            port,
            lines: rx,
        }
    }

    fn next(&self) -> serde_json::Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(20))
            .expect("no message received");
        serde_json::from_str(&line).unwrap()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed message: headers (unfolded, decoded by Python) and decoded parts.
#[derive(Debug, Default)]
struct Mail {
    headers: Vec<(String, String)>,
    parts: Vec<(String, String)>,
}

fn parse_mail(raw: &str) -> Mail {
    let script = r#"
import email, json, sys
from email.header import decode_header, make_header
m = email.message_from_string(sys.stdin.read())
hs = [(k, str(make_header(decode_header(v)))) for k, v in m.items()]
parts = [(p.get_content_type(), p.get_payload(decode=True).decode('utf-8')) for p in m.walk() if not p.is_multipart()]
print(json.dumps({"headers": hs, "parts": parts}))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(raw.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pairs = |k: &str| -> Vec<(String, String)> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_string(),
                    p[1].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    Mail {
        headers: pairs("headers"),
        parts: pairs("parts"),
    }
}

impl Mail {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Tls {
    _dir: tempfile::TempDir,
    ca: std::path::PathBuf,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

fn tls_files() -> Tls {
    let ca = TestCa::new("notify test CA");
    let leaf = ca.localhost();
    let dir = tempfile::tempdir().unwrap();
    let (c, k, a) = (
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
        dir.path().join("ca.pem"),
    );
    std::fs::write(&c, leaf.chain_pem()).unwrap();
    std::fs::write(&k, leaf.key_pem()).unwrap();
    std::fs::write(&a, ca.ca_pem()).unwrap();
    Tls {
        _dir: dir,
        ca: a,
        cert: c,
        key: k,
    }
}

fn email_yaml(port: u16, extra: &str) -> String {
    format!(
        r#"
global:
  smtp_from: 'Blackwatch <bw@example.test>'
  smtp_smarthost: 'localhost:{port}'
route: {{receiver: mail, group_by: [alertname]}}
receivers:
- name: mail
  email_configs:
  - to: 'ops@example.test, Second <b@example.test>'
    send_resolved: true
    text: |-
      {{{{ range .Alerts }}}}{{{{ .Labels.instance }}}} {{{{ .StartsAt }}}} {{{{ .Annotations.summary }}}}
      {{{{ end }}}}
{extra}
"#
    )
}

async fn send_mail(yaml: &str) -> Result<(), String> {
    let (_d, ints) = integrations(yaml);
    let c = ctx("mail", &[("alertname", "MailTest")], SystemTime::now());
    let a = [alert(
        &[
            ("alertname", "MailTest"),
            ("instance", "a"),
            ("severity", "mail"),
        ],
        &[("summary", "Über <b>&</b>")],
        UNIX_EPOCH,
    )];
    ints[0]
        .notifier
        .notify(&c, &a)
        .await
        .map_err(|e| e.to_string())
}

fn check_mail(rec: &serde_json::Value) {
    assert_eq!(rec["mail_from"], "bw@example.test");
    assert_eq!(
        rec["rcpt_tos"],
        serde_json::json!(["ops@example.test", "b@example.test"])
    );
    assert_eq!(rec["ehlo"], "localhost");
    let m = parse_mail(rec["data"].as_str().unwrap());
    assert_eq!(m.header("Subject"), Some("[FIRING:1] MailTest (a mail)"));
    assert_eq!(
        m.header("To"),
        Some("ops@example.test, Second <b@example.test>")
    );
    assert_eq!(m.header("From"), Some("Blackwatch <bw@example.test>"));
    assert_eq!(m.header("MIME-Version"), Some("1.0"));
    assert!(m
        .header("Message-Id")
        .is_some_and(|v| v.starts_with('<') && v.ends_with('>')));
    assert!(m.header("Date").is_some_and(|d| d.ends_with("+0000")));
    assert!(m
        .header("Content-Type")
        .is_some_and(|v| v.starts_with("multipart/alternative;")));
    assert_eq!(m.parts.len(), 2);
    assert_eq!(m.parts[0].0, "text/plain");
    assert_eq!(
        m.parts[0].1,
        "a 2026-11-18 11:06:40 +0000 UTC Über <b>&</b>\r\n"
    );
    assert_eq!(m.parts[1].0, "text/html");
    let html = &m.parts[1].1;
    assert!(html.contains("<title>[FIRING:1] MailTest (a mail)</title>"));
    assert!(html.contains("summary = Über &lt;b&gt;&amp;&lt;/b&gt;<br"));
    assert!(html.contains(r#"<a href="http://am.test:9093/#/alerts?receiver=mail""#));
    assert!(
        !html.contains("Mailgun"),
        "comments are removed as html/template does"
    );
}

#[tokio::test]
async fn email_plain_without_tls_when_not_required() {
    let sink = SmtpSink::start("plain", None);
    let yaml = email_yaml(sink.port, "    require_tls: false");
    send_mail(&yaml).await.unwrap();
    let rec = sink.next();
    assert_eq!(rec["tls"], false);
    check_mail(&rec);
}

#[tokio::test]
async fn email_requires_starttls_by_default() {
    let sink = SmtpSink::start("plain", None);
    let e = send_mail(&email_yaml(sink.port, "")).await.unwrap_err();
    assert_eq!(
        e,
        format!("'require_tls' is true (default) but \"localhost:{}\" does not advertise the STARTTLS extension", sink.port)
    );
}

#[tokio::test]
async fn email_starttls_with_auth_login_and_plain() {
    let tls = tls_files();
    let sink = SmtpSink::start("starttls-auth", Some((&tls.cert, &tls.key)));
    let extra = format!(
        "    auth_username: alice\n    auth_password: s3cr3t-pw\n    tls_config: {{ca_file: {}}}",
        tls.ca.display()
    );
    send_mail(&email_yaml(sink.port, &extra)).await.unwrap();
    let rec = sink.next();
    assert_eq!(rec["tls"], true);
    // aiosmtpd offers "AUTH LOGIN PLAIN": the first one usable wins, as upstream.
    assert_eq!(rec["auth_mechanism"], "LOGIN");
    assert_eq!(rec["auth_login"], "alice");
    check_mail(&rec);
    // Without the CA the certificate is refused.
    let e = send_mail(&email_yaml(
        sink.port,
        "    auth_username: alice\n    auth_password: s3cr3t-pw",
    ))
    .await
    .unwrap_err();
    assert!(e.contains("STARTTLS"), "{e}");
}

#[tokio::test]
async fn email_auth_plain_on_loopback_cleartext_with_identity() {
    let sink = SmtpSink::start("plain-auth-plain-only", None);
    let extra = "    require_tls: false\n    auth_username: alice\n    auth_password: s3cr3t-pw\n    auth_identity: alice";
    send_mail(&email_yaml(sink.port, extra)).await.unwrap();
    let rec = sink.next();
    assert_eq!(rec["auth_mechanism"], "PLAIN");
    assert_eq!(rec["auth_login"], "alice");
    assert_eq!(rec["tls"], false);
    check_mail(&rec);
    // A wrong password is an auth error that does not echo the password.
    let bad = "    require_tls: false\n    auth_username: alice\n    auth_password: wrong-pw-123";
    let e = send_mail(&email_yaml(sink.port, bad)).await.unwrap_err();
    assert!(e.contains("PLAIN auth"), "{e}");
    assert!(!e.contains("wrong-pw-123"));
}

#[tokio::test]
async fn email_implicit_tls_on_force_flag_with_auth() {
    let tls = tls_files();
    let sink = SmtpSink::start("implicit-auth", Some((&tls.cert, &tls.key)));
    let extra = format!(
        "    force_implicit_tls: true\n    auth_username: alice\n    auth_password_file: pw\n    tls_config: {{ca_file: {}, server_name: localhost}}",
        tls.ca.display()
    );
    let yaml = email_yaml(sink.port, &extra);
    let (d, cfg) = config(&yaml);
    std::fs::write(d.path().join("pw"), "s3cr3t-pw\n").unwrap();
    let templates = Arc::new(TemplateSet::load(&[]).unwrap());
    let (built, _) = build_discord_email(
        &cfg.receivers[0],
        &reqwest::Client::new(),
        d.path(),
        &templates,
    );
    let c = ctx("mail", &[("alertname", "MailTest")], SystemTime::now());
    let a = [alert(
        &[
            ("alertname", "MailTest"),
            ("instance", "a"),
            ("severity", "mail"),
        ],
        &[("summary", "Über <b>&</b>")],
        UNIX_EPOCH,
    )];
    built[0].1.notifier.notify(&c, &a).await.unwrap();
    let rec = sink.next();
    assert_eq!(rec["auth_login"], "alice");
    assert_eq!(rec["auth_password"], "s3cr3t-pw");
    check_mail(&rec);
}

#[tokio::test]
async fn email_custom_headers_override_defaults() {
    let sink = SmtpSink::start("plain", None);
    let extra = "    require_tls: false\n    headers: {subject: 'Custom {{ .Status }} é', x-team: ops, message-id: '<fixed@bw>'}\n    html: ''";
    send_mail(&email_yaml(sink.port, extra)).await.unwrap();
    let rec = sink.next();
    let m = parse_mail(rec["data"].as_str().unwrap());
    assert_eq!(m.header("Subject"), Some("Custom firing é"));
    assert_eq!(m.header("X-Team"), Some("ops"));
    assert_eq!(m.header("Message-Id"), Some("<fixed@bw>"));
    assert_eq!(m.parts.len(), 1, "no HTML part when html is empty");
    assert!(rec["data"]
        .as_str()
        .unwrap()
        .contains("Subject: =?utf-8?q?"));
}

// ---------------------------------------------------------------------------------------
// Alertmanager 0.25 comparison

/// Waits up to 30 s until the Discord fake `fake` has received `n` bodies.
async fn wait_for_bodies(fake: &FakeDiscord, n: usize) {
    poll::until(
        &format!("{n} Discord bodies"),
        Duration::from_secs(30),
        async || {
            let got = fake.bodies().len();
            if got >= n {
                Ok(())
            } else {
                Err(format!("{got} bodies"))
            }
        },
    )
    .await;
}

fn rfc3339(t: SystemTime) -> String {
    blackwatch::alert::notify::go_time(t)
}

/// Sends the same two notifications (two alerts firing; then one of them resolved) through
/// the real Alertmanager 0.25 and through blackwatch's integrations built from the same
/// `receivers` YAML (`DISCORD` stands for the fake webhook's URL, `TEMPLATES` for this
/// repository's template directory), and asserts that every Discord body is byte-identical
/// and every e-mail has the same Subject/To/From, envelope and decoded parts.
async fn compare_with_am(receivers: &str) -> Vec<String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let am_discord = FakeDiscord::start(vec![]);
    let bw_discord = FakeDiscord::start(vec![]);
    let sink = SmtpSink::start("plain", None);
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/notify/templates");
    let yaml = |discord_url: &str| {
        format!(
            r#"
global:
  smtp_from: 'Blackwatch <bw@example.test>'
  smtp_smarthost: '127.0.0.1:{port}'
  smtp_require_tls: false
templates: ['{templates}/*.tmpl']
route:
  receiver: team-x.ops
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
- name: team-x.ops
{receivers}
"#,
            port = sink.port,
            templates = templates.display(),
            receivers = receivers.replace("DISCORD", discord_url),
        )
    };
    let n_discord = receivers.matches("webhook_url:").count();
    let n_email = receivers.matches("- to:").count();
    let am = start_am(&yaml(&am_discord.url())).await;
    let (_d, ours) = integrations(&yaml(&bw_discord.url()));

    let starts = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    let gen = "http://prom.test/graph?g0.expr=probe_success%20%3D%3D%200&g0.tab=1";
    let mk = |inst: &str, summary: &str, ends: SystemTime| Alert {
        labels: ls(&[
            ("alertname", "ProbeDown"),
            ("instance", inst),
            ("job", "blackbox"),
            ("severity", "critical"),
        ]),
        annotations: ls(&[
            ("summary", summary),
            ("runbook", "https://wiki.test/a b?x=<1>&y='2'"),
        ]),
        starts_at: starts,
        ends_at: ends,
        generator_url: gen.into(),
        updated_at: UNIX_EPOCH,
        timeout: false,
    };
    let post = |alerts: &[Alert]| {
        let body: Vec<serde_json::Value> = alerts
            .iter()
            .map(|a| {
                let mut v = serde_json::json!({
                    "labels": a.labels, "annotations": a.annotations,
                    "startsAt": rfc3339(a.starts_at), "generatorURL": a.generator_url,
                });
                if a.ends_at != UNIX_EPOCH {
                    v["endsAt"] = serde_json::Value::from(rfc3339(a.ends_at));
                }
                v
            })
            .collect();
        let url = format!("{}/api/v2/alerts", am.base);
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
        }
    };

    // 1: two firing alerts; 2: b resolves.
    let firing = vec![
        mk(
            "https://a.test",
            "Probe <b>failed</b> & \"quoted\" 'x' + é",
            UNIX_EPOCH,
        ),
        mk("http://b.test", "Probe failed for b", UNIX_EPOCH),
    ];
    post(&firing).await;
    let resolved_at = SystemTime::now() - Duration::from_secs(1);
    let step2 = vec![
        firing[0].clone(),
        mk("http://b.test", "Probe failed for b", resolved_at),
    ];

    let by_path = |f: &FakeDiscord, from: usize| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = f.requests.lock().unwrap()[from..]
            .iter()
            .map(|(_, r)| (r.path().to_string(), r.body_str().into_owned()))
            .collect();
        v.sort();
        v
    };
    let mut seen = Vec::new();
    for (n, alerts) in [(1usize, &firing), (2, &step2)] {
        if n == 2 {
            post(&step2[1..]).await;
        }
        let from = (n - 1) * n_discord;
        wait_for_bodies(&am_discord, from + n_discord).await;
        let mut am_mails: Vec<serde_json::Value> = (0..n_email).map(|_| sink.next()).collect();
        let c = ctx(
            "team-x.ops",
            &[("alertname", "ProbeDown")],
            SystemTime::now(),
        );
        // Flushes carry alerts in Alertmanager's order.
        let mut alerts = alerts.to_vec();
        alerts.sort_by(|a, b| blackwatch::alert::dispatch::alert_order(&a.labels, &b.labels));
        for i in &ours {
            i.notifier.notify(&c, &alerts).await.unwrap();
        }
        let (a, b) = (by_path(&am_discord, from), by_path(&bw_discord, from));
        assert_eq!(a.len(), n_discord);
        for ((pa, ba), (pb, bb)) in a.iter().zip(&b) {
            assert_eq!(pa, pb);
            assert_eq!(bb, ba, "Discord payload #{n} to {pa}");
            seen.push(ba.clone());
        }
        let mut bw_mails: Vec<serde_json::Value> = (0..n_email).map(|_| sink.next()).collect();
        let key = |m: &serde_json::Value| m["rcpt_tos"].to_string();
        am_mails.sort_by_key(key);
        bw_mails.sort_by_key(key);
        for (am_mail, bw_mail) in am_mails.iter().zip(&bw_mails) {
            let (a, b) = (
                parse_mail(am_mail["data"].as_str().unwrap()),
                parse_mail(bw_mail["data"].as_str().unwrap()),
            );
            for h in ["Subject", "To", "From", "MIME-Version"] {
                assert_eq!(b.header(h), a.header(h), "{h} #{n}");
            }
            assert_eq!(bw_mail["rcpt_tos"], am_mail["rcpt_tos"]);
            assert_eq!(bw_mail["mail_from"], am_mail["mail_from"]);
            assert_eq!(b.parts.len(), a.parts.len());
            seen.push(format!("Subject: {}", a.header("Subject").unwrap_or("")));
            for (x, y) in b.parts.iter().zip(&a.parts) {
                assert_eq!(x.0, y.0);
                seen.push(y.1.clone());
                if x.1 != y.1 {
                    let dir = std::env::temp_dir();
                    let name = |who: &str| dir.join(format!("{who}-{n}-{}", x.0.replace('/', "-")));
                    std::fs::write(name("bw"), &x.1).unwrap();
                    std::fs::write(name("am"), &y.1).unwrap();
                    panic!("{} part #{n} differs (see {})", x.0, name("bw").display());
                }
            }
        }
    }
    seen
}

#[tokio::test]
async fn default_templates_render_as_alertmanager_0_25() {
    let seen = compare_with_am(
        r#"  discord_configs:
  - webhook_url: DISCORD/default
  email_configs:
  - to: 'ops@example.test, Ünïcode <u@example.test>'
    send_resolved: true
    text: |-
      {{ template "email.default.subject" . }} {{ .Receiver }}
      {{ range .Alerts }}{{ .Status }} {{ .StartsAt }} {{ .Labels.SortedPairs.Values | join "," }} {{ .GeneratorURL }}
      {{ end }}{{ .CommonAnnotations.Names }} {{ .GroupLabels }} {{ title "probe down" }}"#,
    )
    .await;
    let all = seen.join("\n");
    // The user file overrides `__subject`, which the defaults use.
    assert!(all.contains("[FIRING] overridden ProbeDown"), "{all}");
    assert!(all.contains("Alerts Firing:") && all.contains("Alerts Resolved:"));
    assert!(all.contains("View in Alertmanager"));
}

#[tokio::test]
async fn user_templates_render_as_alertmanager_0_25() {
    let seen = compare_with_am(
        r#"  discord_configs:
  - webhook_url: DISCORD/custom
    title: '{{ template "custom.title" . }}'
    message: '{{ template "custom.message" . }}'
  email_configs:
  - to: 'custom@example.test'
    send_resolved: true
    headers: {Subject: '{{ template "custom.title" . }} ü', X-Group: '{{ .GroupLabels.alertname }}'}
    html: '{{ template "custom.html" . }}'
    text: '{{ template "custom.message" . }}'"#,
    )
    .await;
    let all = seen.join("\n");
    assert!(all.contains("Firing: ProbeDown"), "{all}");
    // The contexts exercised (as Alertmanager rendered them).
    for want in [
        "<textarea>",
        r#"<a href="javascript:firing">js</a>"#,
        r##"<a href="#ZgotmplZ""##,
        "a%20b?x=%3c1%3e&amp;y=%272%27",
        "title=https://a.test ",
        "Probe &lt;b&gt;failed&lt;/b&gt; &amp; &#34;quoted&#34; &#39;x&#39; &#43; é / Probe <b>failed</b>",
        "receiver=team-x%5C.ops&amp;x=ProbeDown",
        "a &lt; b &amp; c",
    ] {
        assert!(all.contains(want), "{want} not in {all}");
    }
    assert!(!all.contains("this comment is removed"));
}

// ---------------------------------------------------------------------------------------
// A template file in a legacy encoding (GBK)

/// GBK bytes of the words the template uses ("告警" alert, "磁盘" disk, "恢复" resolved,
/// "【】"), and two characters whose second byte is ASCII ('\' and '}'), which a byte-blind
/// reader would misread.
const GBK_ALERT: &[u8] = b"\xB8\xE6\xBE\xAF";
const GBK_DISK: &[u8] = b"\xB4\xC5\xC5\xCC";
const GBK_RESOLVED: &[u8] = b"\xBB\xD6\xB8\xB4";
const GBK_OPEN: &[u8] = b"\xA1\xBE";
const GBK_CLOSE: &[u8] = b"\xA1\xBF";
const GBK_ASCII_TRAILS: &[u8] = b"\x81\x5C\x82\x7D";

/// `gbk.tmpl`: subject, text and HTML templates written in GBK.
fn gbk_template() -> Vec<u8> {
    [
        &b"{{ define \"gbk.subject\" }}"[..],
        GBK_OPEN,
        GBK_ALERT,
        GBK_CLOSE,
        b"{{ .CommonLabels.alertname }} ",
        GBK_DISK,
        b"{{ end }}\n{{ define \"gbk.text\" }}",
        GBK_ALERT,
        b": {{ .Status }}{{ range .Alerts }} {{ .Labels.instance }} {{ .Annotations.summary }}{{ end }} ",
        GBK_ASCII_TRAILS,
        b"{{ end }}\n{{ define \"gbk.html\" }}<html><head><meta charset=\"gbk\"><title>",
        GBK_OPEN,
        GBK_ALERT,
        GBK_CLOSE,
        b"{{ .CommonLabels.alertname }}</title></head><body><p title=\"",
        GBK_DISK,
        b"\">",
        GBK_ALERT,
        b" {{ range .Alerts }}<b>{{ .Labels.instance }}</b> {{ .Annotations.summary }}{{ end }} ",
        GBK_RESOLVED,
        b" ",
        GBK_ASCII_TRAILS,
        b"</p></body></html>{{ end }}\n",
    ]
    .concat()
}

/// A message as bytes after transfer decoding: the Subject (RFC 2047 words decoded to their
/// bytes) and each part's content type, transfer encoding, charset and payload; and the
/// parts as sent (quoted-printable text).
#[derive(Debug, PartialEq)]
struct RawMail {
    subject: Vec<u8>,
    parts: Vec<(String, String, String, Vec<u8>)>,
    encoded: Vec<String>,
}

fn decode_raw_mail(raw: &str) -> RawMail {
    let script = r#"
import email, json, sys
from email.header import decode_header
m = email.message_from_string(sys.stdin.read())
subject = b"".join(b if isinstance(b, bytes) else b.encode() for b, _ in decode_header(m["Subject"]))
leaves = [p for p in m.walk() if not p.is_multipart()]
parts = [(p.get_content_type(), p.get("Content-Transfer-Encoding", ""), p.get_content_charset() or "", p.get_payload(decode=True).hex())
         for p in leaves]
print(json.dumps({"subject": subject.hex(), "parts": parts, "encoded": [p.get_payload() for p in leaves]}))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(raw.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python could not decode {raw}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    RawMail {
        subject: hex(v["subject"].as_str().unwrap()),
        parts: v["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let s = |i: usize| p[i].as_str().unwrap().to_string();
                (s(0), s(1), s(2), hex(&s(3)))
            })
            .collect(),
        encoded: v["encoded"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .collect(),
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A GBK template file: `amtool check-config` and `blackwatch check config` accept it, and
/// the subject and both parts blackwatch sends are, after transfer decoding, the bytes the
/// real Alertmanager 0.25 sends (the GBK bytes unchanged, quoted-printable, labelled UTF-8).
#[tokio::test]
async fn gbk_template_file_reaches_the_email_byte_for_byte_as_alertmanager_sends_it() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sink = SmtpSink::start("plain", None);
    let dir = tempfile::tempdir().unwrap();
    let tmpl = gbk_template();
    assert!(
        std::str::from_utf8(&tmpl).is_err(),
        "the fixture must not be UTF-8"
    );
    std::fs::write(dir.path().join("gbk.tmpl"), &tmpl).unwrap();
    let am_yml = format!(
        r#"global:
  smtp_from: 'bw@example.test'
  smtp_smarthost: '127.0.0.1:{port}'
  smtp_require_tls: false
templates: ['{dir}/*.tmpl']
route:
  receiver: gbk
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
- name: gbk
  email_configs:
  - to: 'ops@example.test'
    headers: {{Subject: '{{{{ template "gbk.subject" . }}}}'}}
    text: '{{{{ template "gbk.text" . }}}}'
    html: '{{{{ template "gbk.html" . }}}}'
"#,
        port = sink.port,
        dir = dir.path().display(),
    );
    let am_path = dir.path().join("am.yml");
    std::fs::write(&am_path, &am_yml).unwrap();

    // Both checkers accept the file.
    let amtool = Command::new(std::env::var("AMTOOL_BIN").unwrap_or_else(|_| "amtool".into()))
        .arg("check-config")
        .arg(&am_path)
        .output()
        .expect("running amtool (Debian package prometheus-alertmanager)");
    assert!(
        amtool.status.success(),
        "amtool check-config: {}",
        String::from_utf8_lossy(&amtool.stdout)
    );
    let bw_path = dir.path().join("blackwatch.yml");
    std::fs::write(&bw_path, "alerting:\n  config_file: am.yml\n").unwrap();
    let bw = Command::new(env!("CARGO_BIN_EXE_blackwatch"))
        .args(["check", "config"])
        .arg(&bw_path)
        .env_remove("BLACKWATCH_LOG")
        .output()
        .unwrap();
    assert!(
        bw.status.success(),
        "blackwatch check config: {}",
        String::from_utf8_lossy(&bw.stderr)
    );

    // The same alert through Alertmanager 0.25 and through blackwatch.
    let a = alert(
        &[("alertname", "DiskFull"), ("instance", "host-a:9100")],
        &[("summary", "free <10% & falling")],
        UNIX_EPOCH,
    );
    let am = start_am(&am_yml).await;
    let body = serde_json::json!([{
        "labels": a.labels, "annotations": a.annotations,
        "startsAt": rfc3339(a.starts_at), "generatorURL": a.generator_url,
    }]);
    let r = reqwest::Client::new()
        .post(format!("{}/api/v2/alerts", am.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let am_mail = sink.next();
    drop(am);
    let (_d, ours) = integrations(&am_yml);
    let c = ctx("gbk", &[("alertname", "DiskFull")], SystemTime::now());
    ours[0].notifier.notify(&c, &[a]).await.unwrap();
    let bw_mail = sink.next();

    let am_raw = decode_raw_mail(am_mail["data"].as_str().unwrap());
    let bw_raw = decode_raw_mail(bw_mail["data"].as_str().unwrap());
    // Equal after transfer decoding, and even as quoted-printable text.
    assert_eq!(bw_raw, am_raw);
    // What both sent: the GBK bytes, quoted-printable, labelled UTF-8 as upstream labels it.
    assert!(contains(
        &am_raw.subject,
        &[GBK_OPEN, GBK_ALERT, GBK_CLOSE].concat()
    ));
    assert!(contains(&am_raw.subject, GBK_DISK));
    let kinds: Vec<(&str, &str, &str)> = am_raw
        .parts
        .iter()
        .map(|(t, e, c, _)| (t.as_str(), e.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("text/plain", "quoted-printable", "utf-8"),
            ("text/html", "quoted-printable", "utf-8")
        ]
    );
    let (text, html) = (&am_raw.parts[0].3, &am_raw.parts[1].3);
    assert!(contains(text, GBK_ALERT) && contains(text, GBK_ASCII_TRAILS));
    assert!(contains(
        html,
        &[b"<p title=\"", GBK_DISK, b"\">", GBK_ALERT].concat()
    ));
    assert!(contains(html, GBK_RESOLVED) && contains(html, GBK_ASCII_TRAILS));
    assert!(contains(html, b"free &lt;10% &amp; falling"));
}

// ---------------------------------------------------------------------------------------
// Secrets

#[tokio::test]
async fn no_secret_in_any_error_or_log() {
    const TOKEN: &str = "TOKENxyzzy";
    const PW: &str = "PWplugh42";
    let (logs, _guard) = crate::support::logs::capture();
    let mut errors: Vec<String> = Vec::new();
    let c = ctx("r", &[("alertname", "X")], SystemTime::now());
    let a = [alert(&[("alertname", "X")], &[], UNIX_EPOCH)];
    let m = metrics();
    let run = |ints: Vec<Integration>| {
        let (c, a, m) = (c.clone(), a.clone(), &m);
        async move {
            let mut out = Vec::new();
            for i in &ints {
                let deadline = Instant::now() + Duration::from_millis(1500);
                if let Err(e) = notify_with_retry(i, &c, &a, deadline, &no_jitter(), m).await {
                    out.push(e.to_string());
                }
            }
            out
        }
    };

    // Discord: refused connection, 400/429/500 answers, a template error, a missing file.
    let refused = format!("http://127.0.0.1:{}/api/webhooks/1/{TOKEN}", free_port());
    let fake = FakeDiscord::start(vec![
        TestResponse::text(400, "bad"),
        TestResponse::text(500, "down"),
        TestResponse::new(429).with_body(r#"{"retry_after": 5}"#),
    ]);
    let yaml = format!(
        r#"
route: {{receiver: d}}
receivers:
- name: d
  discord_configs:
  - webhook_url: {refused}
  - webhook_url: {ok}/{TOKEN}
  - webhook_url: {ok}/{TOKEN}
  - webhook_url: {ok}/{TOKEN}
  - webhook_url: {ok}/{TOKEN}
    title: '{{{{ .Nope.Nope }}}}'
  - webhook_url_file: /nonexistent/{TOKEN}-file-name-is-not-secret
    http_config:
      authorization: {{credentials: {TOKEN}}}
"#,
        ok = fake.url()
    );
    let (d1, ints) = integrations(&yaml);
    let (_, cfg) = config(&yaml);
    errors.push(format!("{:?}", cfg.receivers));
    errors.extend(run(ints).await);
    drop(d1);

    // E-mail: refused connection, no STARTTLS, failed AUTH, missing password file.
    let sink = SmtpSink::start("plain-auth", None);
    let yaml = format!(
        r#"
global: {{smtp_from: a@b.test, smtp_smarthost: 'localhost:{port}', smtp_auth_password: {PW}}}
route: {{receiver: m}}
receivers:
- name: m
  email_configs:
  - {{to: x@y.test, smarthost: 'localhost:{refused}'}}
  - {{to: x@y.test}}
  - {{to: x@y.test, require_tls: false, auth_username: alice}}
  - {{to: x@y.test, require_tls: false, auth_username: alice, auth_password_file: /nonexistent/pw}}
  - {{to: '{{{{ .Nope.Nope }}}}', require_tls: false}}
"#,
        port = sink.port,
        refused = free_port()
    );
    let (d2, ints) = integrations(&yaml);
    let (_, cfg) = config(&yaml);
    errors.push(format!("{:?}", cfg.receivers));
    errors.extend(run(ints).await);
    drop(d2);

    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(errors.len() >= 11, "{errors:#?}");
    for e in &errors {
        assert!(
            !e.contains(TOKEN) || e.contains("file-name-is-not-secret"),
            "secret in error: {e}"
        );
        assert!(!e.contains(PW), "password in error: {e}");
    }
    assert!(!logs.contains(PW), "password in logs");
    for line in logs.lines() {
        assert!(
            !line.contains(TOKEN) || line.contains("file-name-is-not-secret"),
            "secret in log: {line}"
        );
    }
    assert!(logs.contains("Notify attempt failed"), "{logs}");
}

/// Through the real pipeline (dispatcher, dedup, retry, notification log): Discord answers
/// 429 with a sub-second `retry_after` first; the notification is delivered after the wait,
/// once, and later flushes of the unchanged group send nothing.
#[tokio::test]
async fn discord_rate_limit_through_the_pipeline_delivers_once() {
    use blackwatch::alert::pipeline::{Alerting, Options};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = FakeDiscord::start(vec![TestResponse::new(429)
        .with_header("content-type", "application/json")
        .with_body(
            r#"{"message": "You are being rate limited.", "retry_after": 0.6, "global": false}"#,
        )]);
    let yaml = format!(
        "route: {{receiver: d, group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 1h}}\nreceivers:\n- name: d\n  discord_configs:\n  - webhook_url: {}\n",
        fake.url()
    );
    let (_d, cfg) = config(&yaml);
    let metrics = metrics();
    let alerting = Alerting::new(
        Arc::new(cfg),
        Options::new("http://bw.test".into(), Duration::from_secs(3600)),
        metrics,
    )
    .unwrap();
    let token = tokio_util::sync::CancellationToken::new();
    let driver = tokio::spawn(alerting.clone().run(token.clone()));
    alerting.ingest(
        vec![blackwatch::alert::PostableAlert {
            labels: ls(&[("alertname", "ProbeDown"), ("instance", "a")]),
            annotations: LabelSet::new(),
            starts_at: None,
            ends_at: None,
            generator_url: String::new(),
        }],
        SystemTime::now(),
    );
    wait_for_bodies(&fake, 2).await;
    // Three more group_interval ticks: dedup must find the notification logged.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    token.cancel();
    let _ = driver.await;
    let reqs = fake.requests.lock().unwrap();
    assert_eq!(
        reqs.len(),
        2,
        "one rate-limited attempt, one delivery, no duplicate"
    );
    assert!(reqs[1].0 - reqs[0].0 >= Duration::from_millis(600));
    let v: serde_json::Value = serde_json::from_str(&reqs[1].1.body_str()).unwrap();
    assert_eq!(v["embeds"][0]["title"], "[FIRING:1] ProbeDown (a)");
    let label = AlertMetrics::integration("discord");
    assert_eq!(
        alerting.metrics.notifications.get_or_create(&label).get(),
        1
    );
}

// ---------------------------------------------------------------------------
// http_config: tls_config and follow_redirects (webhook and Discord share the client code)
// ---------------------------------------------------------------------------

/// Builds every integration of the first receiver of `receiver_yaml` (an alertmanager.yml
/// receiver entry) with the daemon's shared client; the config sits in `dir`, so relative
/// file names resolve there.
fn http_integrations(dir: &Path, receiver_yaml: &str) -> Result<Vec<Integration>, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let yaml = format!("route: {{receiver: r}}\nreceivers:\n- name: r\n{receiver_yaml}");
    let path = dir.join("alertmanager.yml");
    std::fs::write(&path, &yaml).unwrap();
    let cfg = load_str(&yaml, &path).map_err(|e| e.to_string())?;
    let shared = blackwatch::alert::notify::webhook::http_client().unwrap();
    let (built, errors) = blackwatch::alert::notify::build::build_integrations(
        &cfg.receivers[0],
        &shared,
        dir,
        &cfg.template_set,
    );
    assert!(errors.is_empty(), "{errors:?}");
    Ok(built.into_iter().map(|(_, i)| i).collect())
}

/// One notification through the only integration of `receiver_yaml`.
async fn send_once(dir: &Path, receiver_yaml: &str) -> Result<(), String> {
    let integrations = http_integrations(dir, receiver_yaml).unwrap();
    assert_eq!(integrations.len(), 1);
    let now = UNIX_EPOCH + Duration::from_secs(1_795_000_100);
    let alerts = [alert(&[("alertname", "ProbeDown")], &[], UNIX_EPOCH)];
    integrations[0]
        .notifier
        .notify(&ctx("r", &[("alertname", "ProbeDown")], now), &alerts)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn webhook_tls_config_private_ca_server_name_and_versions() {
    let ca = TestCa::new("webhook test CA");
    let server = HttpServer::tls(&ca.localhost(), |_r: &TestRequest| TestResponse::ok());
    let tls12 = HttpServer::tls_with(
        &ca.localhost(),
        crate::support::tls::TlsOptions::default().tls12_only(),
        |_r: &TestRequest| TestResponse::ok(),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.ca_pem()).unwrap();
    let hook = |url: &str, http: &str| format!("  webhook_configs:\n  - url: {url}\n{http}");
    let url = server.url("/hook");

    // The private CA is not in the system roots: refused, nothing arrives.
    let e = send_once(dir.path(), &hook(&url, "")).await.unwrap_err();
    assert!(e.starts_with("request failed"), "{e}");
    // The cause is named (reqwest's own message is only "error sending request").
    assert!(e.contains("UnknownIssuer"), "{e}");
    assert!(!e.contains("/hook"), "the URL is a secret: {e}");
    assert!(server.requests().is_empty());

    // ca_file (relative to the config file) makes it trusted.
    let ca_file = "    http_config:\n      tls_config:\n        ca_file: ca.pem\n";
    send_once(dir.path(), &hook(&url, ca_file)).await.unwrap();
    assert_eq!(server.requests().len(), 1);
    assert!(server.requests()[0].is_tls());

    // server_name: the name the certificate is verified against. (SNI is still taken
    // from the URL's host by reqwest, unlike Go, which also sends server_name as SNI.)
    let named = |name: &str| {
        format!("    http_config:\n      tls_config:\n        ca_file: ca.pem\n        server_name: {name}\n")
    };
    send_once(dir.path(), &hook(&url, &named("localhost")))
        .await
        .unwrap();
    let e = send_once(dir.path(), &hook(&url, &named("other.example")))
        .await
        .unwrap_err();
    assert!(e.starts_with("request failed"), "{e}");
    assert!(e.contains("certificate"), "{e}");
    assert_eq!(server.requests().len(), 2);

    // insecure_skip_verify accepts the unknown issuer.
    let insecure = "    http_config:\n      tls_config:\n        insecure_skip_verify: true\n";
    send_once(dir.path(), &hook(&url, insecure)).await.unwrap();
    assert_eq!(server.requests().len(), 3);

    // min_version: TLS13 against a TLS 1.2-only server fails; max_version: TLS12 works.
    let url12 = tls12.url("/hook");
    let version = |k: &str, v: &str| {
        format!("    http_config:\n      tls_config:\n        ca_file: ca.pem\n        {k}: {v}\n")
    };
    assert!(
        send_once(dir.path(), &hook(&url12, &version("min_version", "TLS13")))
            .await
            .is_err()
    );
    assert!(tls12.requests().is_empty());
    send_once(dir.path(), &hook(&url12, &version("max_version", "TLS12")))
        .await
        .unwrap();
    assert_eq!(tls12.requests().len(), 1);
}

#[tokio::test]
async fn webhook_tls_client_certificate_is_sent_when_configured() {
    let ca = TestCa::new("webhook server CA");
    let client_ca = TestCa::new("webhook client CA");
    let client = client_ca.issue(&crate::support::certs::LeafSpec::dns(&["blackwatch"]));
    let server = HttpServer::tls_with(
        &ca.localhost(),
        crate::support::tls::TlsOptions::default()
            .require_client_cert(vec![client_ca.cert().der().clone()]),
        |_r: &TestRequest| TestResponse::ok(),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.ca_pem()).unwrap();
    std::fs::write(dir.path().join("client.pem"), client.chain_pem()).unwrap();
    std::fs::write(dir.path().join("client.key"), client.key_pem()).unwrap();
    let url = server.url("/hook");

    let e = send_once(
        dir.path(),
        &format!("  webhook_configs:\n  - url: {url}\n    http_config:\n      tls_config: {{ca_file: ca.pem}}\n"),
    )
    .await
    .unwrap_err();
    assert!(!e.is_empty());
    assert!(
        server.requests().is_empty(),
        "no client certificate, no request"
    );

    send_once(
        dir.path(),
        &format!("  webhook_configs:\n  - url: {url}\n    http_config:\n      tls_config: {{ca_file: ca.pem, cert_file: client.pem, key_file: client.key}}\n"),
    )
    .await
    .unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let tls = reqs[0].tls.clone().unwrap();
    assert_eq!(tls.client_certs.first(), Some(client.leaf().der()));
}

#[tokio::test]
async fn redirects_are_followed_unless_follow_redirects_is_false() {
    let server = HttpServer::plain(|r: &TestRequest| match r.path() {
        "/final" => TestResponse::new(204),
        _ => TestResponse::redirect(302, "/final"),
    });
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/hook");
    let paths = || -> Vec<String> {
        server
            .requests()
            .iter()
            .map(|r| r.path().to_string())
            .collect()
    };

    // Default (as Prometheus' common config): followed, and the send succeeds.
    send_once(dir.path(), &format!("  webhook_configs:\n  - url: {url}\n"))
        .await
        .unwrap();
    assert_eq!(paths(), ["/hook", "/final"]);

    // follow_redirects: false — the 302 is the answer, and it is a failed send as upstream
    // (`unexpected status code 302`, not retried).
    let e = send_once(
        dir.path(),
        &format!(
            "  webhook_configs:\n  - url: {url}\n    http_config: {{follow_redirects: false}}\n"
        ),
    )
    .await
    .unwrap_err();
    assert!(e.contains("unexpected status code 302"), "{e}");
    assert_eq!(paths(), ["/hook", "/final", "/hook"]);

    // Discord builds its client the same way.
    let e = send_once(
        dir.path(),
        &format!("  discord_configs:\n  - webhook_url: {url}\n    http_config: {{follow_redirects: false}}\n"),
    )
    .await
    .unwrap_err();
    assert!(e.contains("302"), "{e}");
    assert_eq!(paths().len(), 4);
    send_once(
        dir.path(),
        &format!("  discord_configs:\n  - webhook_url: {url}\n"),
    )
    .await
    .unwrap();
    assert_eq!(paths()[4..], ["/hook", "/final"]);
}

#[tokio::test]
async fn basic_auth_from_files_is_sent_by_webhook_and_discord() {
    let server = HttpServer::plain(|_r: &TestRequest| TestResponse::new(204));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("user"), "alice\n").unwrap();
    std::fs::write(dir.path().join("pw"), "s3cr3t\n").unwrap();
    let url = server.url("/hook");
    let http = "    http_config:\n      basic_auth: {username_file: user, password_file: pw}\n";
    send_once(
        dir.path(),
        &format!("  webhook_configs:\n  - url: {url}\n{http}"),
    )
    .await
    .unwrap();
    send_once(
        dir.path(),
        &format!("  discord_configs:\n  - webhook_url: {url}\n{http}"),
    )
    .await
    .unwrap();
    // base64("alice:s3cr3t")
    let auth: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap_or_default().to_string())
        .collect();
    assert_eq!(auth, ["Basic YWxpY2U6czNjcjN0", "Basic YWxpY2U6czNjcjN0"]);
}
