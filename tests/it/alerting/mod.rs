//! The alert pipeline end to end, through the real binary on loopback: alerts posted on
//! `POST /api/v2/alerts` reach a loopback webhook sink with Alertmanager's group keys and
//! version-4 payloads; silences made through the API mute them; amtool 0.25 (Debian
//! package `prometheus-alertmanager`) queries alerts and adds, queries and expires
//! silences; a `kill -9` restart sends every notification exactly once.
//!
//! `diff` runs scripted scenarios against blackwatch and the real Alertmanager 0.25 side by
//! side and compares what their webhook sinks receive.
//!
//! The amtool and Alertmanager tests fail (they do not skip) when the Debian package
//! `prometheus-alertmanager` is missing. Nothing leaves loopback.

mod diff;

use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::poll;
use crate::support::process::spawn_listening;
use crate::support::prometheus::Prometheus;
use crate::support::{dedent, install_crypto};
use crate::support::{HttpServer, TestResponse};

const BIN: &str = env!("CARGO_BIN_EXE_blackwatch");
const WAIT: Duration = Duration::from_secs(20);

/// A running `blackwatch`; killed on drop.
pub(crate) struct Daemon {
    child: Child,
    addr: std::net::SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    /// Writes `config` as blackwatch.yml in `dir` and starts the binary with its storage in
    /// `dir/data`.
    pub(crate) async fn start(dir: &Path, config: &str) -> Daemon {
        Self::start_with(dir, config, &[]).await
    }

    /// [`Daemon::start`] with extra command-line flags.
    pub(crate) async fn start_with(dir: &Path, config: &str, flags: &[&str]) -> Daemon {
        let path = dir.join("blackwatch.yml");
        std::fs::write(&path, dedent(config)).expect("write config");
        let mut cmd = Command::new(BIN);
        cmd.args(flags)
            .arg("--web.listen-address=127.0.0.1:0")
            .arg(format!("--config.file={}", path.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg("--web.external-url=http://blackwatch.test:9115");
        let spawned = spawn_listening(cmd, WAIT).await;
        let mut d = Daemon {
            child: spawned.child,
            addr: "127.0.0.1:0".parse().expect("placeholder"),
            stderr: spawned.stderr,
        };
        match spawned.addr {
            Some(addr) => {
                d.addr = addr;
                d
            }
            None => panic!("daemon did not start; stderr:\n{}", d.stderr_text()),
        }
    }

    pub(crate) fn stderr_text(&self) -> String {
        self.stderr.lock().expect("stderr lines").join("\n")
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET `path` as JSON.
    pub(crate) async fn get_json(&self, path: &str) -> Value {
        client()
            .get(self.url(path))
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("JSON body")
    }

    /// The daemon's `/metrics` text.
    pub(crate) async fn metrics(&self) -> String {
        client()
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("/metrics body")
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn client() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// A webhook sink answering 200; every POST body as JSON.
fn sink() -> HttpServer {
    HttpServer::plain(|_req: &crate::support::TestRequest| TestResponse::ok())
}

fn notifications(sink: &HttpServer) -> Vec<Value> {
    sink.requests()
        .iter()
        .map(|r| serde_json::from_str(&r.body_str()).expect("webhook body is JSON"))
        .collect()
}

/// Polls until `f` holds or [`WAIT`] runs out; a timeout shows what `sink` received.
async fn wait_until(sink: &HttpServer, what: &str, mut f: impl FnMut() -> bool) {
    poll::until(
        what,
        WAIT,
        async || {
            if f() {
                Ok(())
            } else {
                Err(received(sink))
            }
        },
    )
    .await;
}

/// Every request `sink` received, path and body, for failure messages.
fn received(sink: &HttpServer) -> String {
    let requests: Vec<String> = sink
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.path(), r.body_str()))
        .collect();
    format!("{} requests: {requests:#?}", requests.len())
}

fn rfc3339(offset_secs: i64) -> String {
    let now = std::time::SystemTime::now();
    let t = if offset_secs >= 0 {
        now + Duration::from_secs(offset_secs as u64)
    } else {
        now - Duration::from_secs((-offset_secs) as u64)
    };
    blackwatch::clock::rfc3339(t)
}

async fn post_alerts(d: &Daemon, alerts: Value) -> reqwest::Response {
    client()
        .post(d.url("/api/v2/alerts"))
        .json(&alerts)
        .send()
        .await
        .expect("POST alerts")
}

fn config(sink: &HttpServer, group_wait: &str, group_interval: &str) -> String {
    format!(
        r#"
        alerting:
          global:
            resolve_timeout: 1h
          route:
            receiver: team
            group_by: [alertname]
            group_wait: {group_wait}
            group_interval: {group_interval}
            repeat_interval: 1h
          receivers:
            - name: team
              webhook_configs:
                - url: {}
                  http_config:
                    authorization:
                      credentials: s3cret-token
        "#,
        sink.url("/hook")
    )
}

fn alert_names(n: &Value) -> Vec<String> {
    n["alerts"]
        .as_array()
        .expect("alerts array")
        .iter()
        .map(|a| {
            format!(
                "{}/{}:{}",
                a["labels"]["alertname"].as_str().unwrap_or(""),
                a["labels"]["i"].as_str().unwrap_or(""),
                a["status"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[tokio::test]
async fn posted_alerts_are_grouped_notified_and_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let sink = sink();
    let d = Daemon::start(dir.path(), &config(&sink, "1s", "2s")).await;
    let resp = post_alerts(
        &d,
        json!([
            {"labels": {"alertname": "A", "i": "1"}, "annotations": {"summary": "one"},
             "endsAt": rfc3339(3600), "generatorURL": "http://prom/graph"},
            {"labels": {"alertname": "A", "i": "2"}, "endsAt": rfc3339(3600)},
        ]),
    )
    .await;
    assert_eq!(resp.status(), 200);
    wait_until(&sink, "the first notification", || {
        notifications(&sink).len() == 1
    })
    .await;
    let req = &sink.requests()[0];
    assert_eq!(req.header("authorization"), Some("Bearer s3cret-token"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    let n = &notifications(&sink)[0];
    assert_eq!(n["groupKey"], "{}:{alertname=\"A\"}");
    assert_eq!(n["status"], "firing");
    assert_eq!(n["receiver"], "team");
    assert_eq!(n["version"], "4");
    assert_eq!(n["externalURL"], "http://blackwatch.test:9115");
    assert_eq!(n["groupLabels"], json!({"alertname": "A"}));
    assert_eq!(n["commonLabels"], json!({"alertname": "A"}));
    assert_eq!(n["truncatedAlerts"], 0);
    assert_eq!(alert_names(n), vec!["A/1:firing", "A/2:firing"]);
    assert_eq!(n["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(n["alerts"][0]["generatorURL"], "http://prom/graph");

    // The API shows them with their receiver and state.
    let alerts: Value = d.get_json("/api/v2/alerts").await;
    assert_eq!(alerts.as_array().unwrap().len(), 2, "{alerts}");
    assert_eq!(alerts[0]["receivers"], json!([{"name": "team"}]));
    assert_eq!(alerts[0]["status"]["state"], "active");
    let groups: Value = d.get_json("/api/v2/alerts/groups").await;
    assert_eq!(groups[0]["labels"], json!({"alertname": "A"}));
    assert_eq!(groups[0]["receiver"]["name"], "team");
    let filtered: Value = d.get_json("/api/v2/alerts?filter=i%3D%222%22").await;
    assert_eq!(filtered.as_array().unwrap().len(), 1);

    // Resolve both; the next tick sends them as resolved, once.
    let resp = post_alerts(
        &d,
        json!([
            {"labels": {"alertname": "A", "i": "1"}, "endsAt": rfc3339(0)},
            {"labels": {"alertname": "A", "i": "2"}, "endsAt": rfc3339(0)},
        ]),
    )
    .await;
    assert_eq!(resp.status(), 200);
    wait_until(&sink, "the resolved notification", || {
        notifications(&sink).len() == 2
    })
    .await;
    let n = &notifications(&sink)[1];
    assert_eq!(n["status"], "resolved");
    assert_eq!(alert_names(n), vec!["A/1:resolved", "A/2:resolved"]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        notifications(&sink).len(),
        2,
        "nothing more after the resolve"
    );
    let metrics = d.metrics().await;
    assert!(
        metrics.contains("alertmanager_notifications_total{integration=\"webhook\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("alertmanager_alerts_received_total{status=\"firing\",version=\"v2\"} 2")
    );
}

#[tokio::test]
async fn api_silence_mutes_until_expired() {
    let dir = tempfile::tempdir().unwrap();
    let sink = sink();
    let d = Daemon::start(dir.path(), &config(&sink, "1s", "2s")).await;
    let c = client();
    let resp = c
        .post(d.url("/api/v2/silences"))
        .json(&json!({
            "matchers": [{"name": "alertname", "value": "B", "isRegex": false, "isEqual": true}],
            "startsAt": rfc3339(-10), "endsAt": rfc3339(3600),
            "createdBy": "test", "comment": "maintenance"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let id = resp.json::<Value>().await.unwrap()["silenceID"]
        .as_str()
        .unwrap()
        .to_string();
    post_alerts(
        &d,
        json!([{"labels": {"alertname": "B"}, "endsAt": rfc3339(3600)}]),
    )
    .await;
    let alerts: Value = d.get_json("/api/v2/alerts").await;
    assert_eq!(alerts[0]["status"]["state"], "suppressed");
    assert_eq!(alerts[0]["status"]["silencedBy"], json!([id]));
    let active_only: Value = d.get_json("/api/v2/alerts?silenced=false").await;
    assert_eq!(active_only, json!([]));
    // The state gauges are computed at the scrape, not only at the 30 s maintenance.
    let metrics = d.metrics().await;
    for want in [
        "alertmanager_alerts{state=\"suppressed\"} 1",
        "alertmanager_alerts{state=\"active\"} 0",
        "alertmanager_silences{state=\"active\"} 1",
        "alertmanager_dispatcher_aggregation_groups 1",
    ] {
        assert!(metrics.contains(want), "{want} missing:\n{metrics}");
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(notifications(&sink).is_empty(), "silenced alert was sent");

    let sil: Value = d.get_json(&format!("/api/v2/silence/{id}")).await;
    assert_eq!(sil["status"]["state"], "active");
    assert_eq!(sil["createdBy"], "test");
    let resp = c
        .delete(d.url(&format!("/api/v2/silence/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    wait_until(&sink, "the notification after the silence ended", || {
        notifications(&sink).len() == 1
    })
    .await;
    assert_eq!(alert_names(&notifications(&sink)[0]), vec!["B/:firing"]);
    let sil: Value = d.get_json(&format!("/api/v2/silence/{id}")).await;
    assert_eq!(sil["status"]["state"], "expired");
}

#[tokio::test]
async fn malformed_requests_get_400_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let sink = sink();
    let d = Daemon::start(dir.path(), &config(&sink, "1s", "2s")).await;
    let c = client();
    let resp = c
        .post(d.url("/api/v2/alerts"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // Partial acceptance: the valid alert is stored, the invalid one named.
    let resp = post_alerts(
        &d,
        json!([
            {"labels": {"alertname": "Ok"}},
            {"labels": {"alertname": "Bad"}, "startsAt": rfc3339(10), "endsAt": rfc3339(0)},
            {"labels": {"0bad": "x"}},
        ]),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let reason: String = resp.json().await.unwrap();
    assert_eq!(
        reason,
        "start time must be before end time; invalid label set: invalid name \"0bad\""
    );
    let alerts: Value = d.get_json("/api/v2/alerts").await;
    assert_eq!(alerts.as_array().unwrap().len(), 1);
    assert_eq!(alerts[0]["labels"]["alertname"], "Ok");
    let resp = c
        .get(d.url("/api/v2/alerts?filter=%7Bbad"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = c
        .post(d.url("/api/v2/silences"))
        .json(&json!({
            "matchers": [{"name": "a", "value": "b", "isRegex": false}],
            "startsAt": rfc3339(100), "endsAt": rfc3339(10),
            "createdBy": "t", "comment": "c"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = c.get(d.url("/api/v2/silence/nope")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let resp = c
        .delete(d.url("/api/v2/silence/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let status: Value = d.get_json("/api/v2/status").await;
    assert!(status["config"]["original"]
        .as_str()
        .unwrap()
        .contains("receiver: team"));
    let original = status["config"]["original"].as_str().unwrap();
    assert!(
        !original.contains("/hook"),
        "webhook URL leaked:\n{original}"
    );
    assert!(
        !original.contains("s3cret"),
        "credentials leaked:\n{original}"
    );
    assert_eq!(status["cluster"]["status"], "disabled");
    let receivers: Value = d.get_json("/api/v2/receivers").await;
    assert_eq!(receivers, json!([{"name": "team"}]));
}

fn amtool(d: &Daemon, args: &[&str]) -> String {
    let out = Command::new("amtool")
        .arg(format!("--alertmanager.url=http://{}", d.addr))
        .args(args)
        .output()
        .expect("amtool is installed (apt-get install prometheus-alertmanager)");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "amtool {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn amtool_alerts_and_silences() {
    let dir = tempfile::tempdir().unwrap();
    let sink = sink();
    let d = Daemon::start(dir.path(), &config(&sink, "30s", "1m")).await;
    let d = Arc::new(d);
    let run = |args: &'static [&'static str]| {
        let d = d.clone();
        tokio::task::spawn_blocking(move || amtool(&d, args))
    };
    run(&[
        "alert",
        "add",
        "alertname=Amtool",
        "severity=page",
        "--annotation=summary=x",
    ])
    .await
    .unwrap();
    let out = run(&["alert", "query", "-o", "json"]).await.unwrap();
    let alerts: Value = serde_json::from_str(&out).expect("amtool json");
    assert_eq!(alerts[0]["labels"]["alertname"], "Amtool", "{out}");
    let out = run(&["alert", "query", "alertname=Amtool"]).await.unwrap();
    assert!(out.contains("Amtool"), "{out}");

    let id = run(&[
        "silence",
        "add",
        "alertname=Amtool",
        "-c",
        "amtool test",
        "-a",
        "me",
    ])
    .await
    .unwrap()
    .trim()
    .to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let out = run(&["silence", "query", "-q"]).await.unwrap();
    assert_eq!(out.trim(), id);
    let out = run(&["silence", "query", "-o", "json"]).await.unwrap();
    let sil: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sil[0]["comment"], "amtool test");
    assert_eq!(sil[0]["createdBy"], "me");
    // Silenced alerts drop out of the default `alert query` (silenced=false).
    let out = run(&["alert", "query", "-o", "json"]).await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!([]),
        "{out}"
    );
    let d2 = d.clone();
    let id2 = id.clone();
    tokio::task::spawn_blocking(move || amtool(&d2, &["silence", "expire", &id2]))
        .await
        .unwrap();
    let out = run(&["silence", "query", "-q"]).await.unwrap();
    assert_eq!(out.trim(), "", "expired silences are not listed by default");
    let out = run(&["silence", "query", "-q", "--expired"]).await.unwrap();
    assert_eq!(out.trim(), id);
}

#[tokio::test]
async fn kill_9_restart_sends_every_notification_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let sink = sink();
    let cfg = config(&sink, "2s", "3s");
    let mut d = Daemon::start(dir.path(), &cfg).await;
    post_alerts(
        &d,
        json!([{"labels": {"alertname": "X"}, "endsAt": rfc3339(3600)}]),
    )
    .await;
    wait_until(&sink, "X notified", || notifications(&sink).len() == 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Y is still in group_wait when the daemon dies.
    post_alerts(
        &d,
        json!([{"labels": {"alertname": "Y"}, "endsAt": rfc3339(3600)}]),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    d.kill9();
    assert_eq!(notifications(&sink).len(), 1);

    let mut d = Daemon::start(dir.path(), &cfg).await;
    wait_until(&sink, "Y notified after the restart", || {
        notifications(&sink).len() >= 2
    })
    .await;
    // Several group intervals later nothing else arrived.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let keys: Vec<String> = notifications(&sink)
        .iter()
        .map(|n| n["groupKey"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        keys,
        vec!["{}:{alertname=\"X\"}", "{}:{alertname=\"Y\"}"],
        "stderr:\n{}",
        d.stderr_text()
    );
    // A clean stop and start does not send anything either; the alerts are still known.
    d.stop();
    let d = Daemon::start(dir.path(), &cfg).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(notifications(&sink).len(), 2);
    let alerts: Value = d.get_json("/api/v2/alerts").await;
    assert_eq!(alerts.as_array().unwrap().len(), 2, "{alerts}");
}

#[tokio::test]
async fn reload_rebuilds_groups_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let sink = sink();
    let d = Daemon::start(dir.path(), &config(&sink, "1s", "2s")).await;
    post_alerts(
        &d,
        json!([{"labels": {"alertname": "R"}, "endsAt": rfc3339(3600)}]),
    )
    .await;
    wait_until(&sink, "R notified", || notifications(&sink).len() == 1).await;
    // A new route for team=ops; the root route (and so R's group key) is unchanged.
    let changed = format!(
        r#"
        alerting:
          route:
            receiver: team
            group_by: [alertname]
            group_wait: 1s
            group_interval: 2s
            routes:
              - matchers: [team="ops"]
                receiver: ops
          receivers:
            - name: team
              webhook_configs:
                - url: {}
            - name: ops
              webhook_configs:
                - url: {}
        "#,
        sink.url("/hook"),
        sink.url("/ops")
    );
    std::fs::write(dir.path().join("blackwatch.yml"), dedent(&changed)).unwrap();
    let c = client();
    let r = c.post(d.url("/-/reload")).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let receivers: Value = d.get_json("/api/v2/receivers").await;
    assert_eq!(receivers, json!([{"name": "team"}, {"name": "ops"}]));
    post_alerts(
        &d,
        json!([{"labels": {"alertname": "O", "team": "ops"}, "endsAt": rfc3339(3600)}]),
    )
    .await;
    wait_until(&sink, "O notified on the new route", || {
        sink.requests().iter().any(|r| r.path() == "/ops")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let paths: Vec<String> = sink
        .requests()
        .iter()
        .map(|r| r.path().to_string())
        .collect();
    assert_eq!(
        paths,
        vec!["/hook", "/ops"],
        "R must not be sent again after the reload"
    );
    // A broken file is refused and the running config stays.
    std::fs::write(
        dir.path().join("blackwatch.yml"),
        "alerting:\n  route: {}\n",
    )
    .unwrap();
    let r = c.post(d.url("/-/reload")).send().await.unwrap();
    assert_eq!(r.status(), 500);
    let receivers: Value = d.get_json("/api/v2/receivers").await;
    assert_eq!(receivers.as_array().unwrap().len(), 2);
}

/// Prometheus 2.42 (Debian package `prometheus`) evaluating an always-firing rule delivers
/// its alert to blackwatch over the Alertmanager API, and the webhook receives it.
#[tokio::test]
async fn real_prometheus_delivers_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let sink = sink();
    let d = Daemon::start(dir.path(), &config(&sink, "1s", "2s")).await;
    let rules = dedent(
        r#"
            groups:
              - name: g
                interval: 1s
                rules:
                  - alert: AlwaysOn
                    expr: vector(1)
                    labels: {severity: page}
                    annotations: {summary: "always {{ $value }}"}
            "#,
    );
    let config = dedent(&format!(
        r#"
            global:
              evaluation_interval: 1s
              external_labels: {{cluster: test}}
            rule_files: [rules.yml]
            alerting:
              alertmanagers:
                - static_configs:
                    - targets: ['{}']
            "#,
        d.addr
    ));
    // Alertmanager discovery takes ~5 s; without the short resend delay the first send
    // waits a minute.
    let prom = Prometheus::start(
        &config,
        &[("rules.yml", &rules)],
        &["--rules.alert.resend-delay=1s"],
    );
    let n = poll::until("a notification", Duration::from_secs(40), async || {
        let n = notifications(&sink);
        if n.is_empty() {
            Err(format!(
                "no notification; blackwatch stderr:\n{}",
                d.stderr_text()
            ))
        } else {
            Ok(n)
        }
    })
    .await;
    drop(prom);
    assert_eq!(n[0]["groupKey"], "{}:{alertname=\"AlwaysOn\"}");
    let alert = &n[0]["alerts"][0];
    assert_eq!(
        alert["labels"],
        json!({"alertname": "AlwaysOn", "severity": "page", "cluster": "test"})
    );
    assert_eq!(alert["annotations"]["summary"], "always 1");
    assert!(alert["generatorURL"]
        .as_str()
        .unwrap()
        .contains("/graph?g0.expr=vector%281%29"));
}

/// The documented example of blackwatch's extensions loads with the documented meaning.
#[test]
fn extension_options_example_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/alerting/extensions.yml");
    let cfg = blackwatch::alert::config::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(!cfg.global.resolved_after_mute);
    assert!(!cfg.route.opts.flush_on_resolve);
    assert!(cfg.route.routes[0].opts.flush_on_resolve);
    // The default is blackwatch's behaviour.
    let default = blackwatch::alert::config::load_str(
        "route: {receiver: r}\nreceivers: [{name: r}]\n",
        Path::new("am.yml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(default.global.resolved_after_mute);
}
