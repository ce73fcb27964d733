//! Differential test against the real Alertmanager 0.25 (`prometheus-alertmanager`): each
//! scenario starts both with the same alertmanager.yml (blackwatch gets it under
//! `alerting:`), webhook receivers pointing at one loopback sink per daemon, then sends
//! both the same scripted stream (alerts posted, re-posted and resolved, silences added and
//! expired) at the same moments. The notifications each sink receives are compared per
//! (receiver path, group key): same count, same order, same status, same alerts with their
//! status and annotations, same `truncatedAlerts`, and arrival times within [`TOLERANCE`].
//!
//! Deliberate differences are listed per scenario in `bw_only` (notifications only
//! blackwatch sends, with the reason in the scenario's comment).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{client, Daemon};
use crate::support::{dedent, indent};
use crate::support::{HttpServer, TestRequest, TestResponse};

/// Allowed difference between the arrival times of matching notifications.
const TOLERANCE: Duration = Duration::from_millis(750);

/// One request the sink received.
#[derive(Clone, Debug)]
struct Received {
    at: Duration,
    path: String,
    code: u16,
    body: Value,
}

/// A webhook sink that records arrival times and fails the first `n` requests of a path.
struct Sink {
    server: HttpServer,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Sink {
    fn new(t0: Arc<Mutex<Option<Instant>>>, failing: &[(&'static str, u16, usize)]) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let plan: Arc<Mutex<HashMap<String, (u16, usize)>>> = Arc::new(Mutex::new(
            failing
                .iter()
                .map(|(p, code, n)| (p.to_string(), (*code, *n)))
                .collect(),
        ));
        let rec = received.clone();
        let server = HttpServer::plain(move |req: &TestRequest| {
            let path = req.path().to_string();
            let code = {
                let mut plan = plan.lock().expect("plan");
                match plan.get_mut(&path) {
                    Some((code, n)) if *n > 0 => {
                        *n -= 1;
                        *code
                    }
                    _ => 200,
                }
            };
            let start = t0.lock().expect("t0").unwrap_or_else(Instant::now);
            rec.lock().expect("received").push(Received {
                at: Instant::now().saturating_duration_since(start),
                path,
                code,
                body: serde_json::from_str(&req.body_str()).unwrap_or(Value::Null),
            });
            TestResponse::text(code, "")
        });
        Self { server, received }
    }
}

/// The real Alertmanager 0.25 on a loopback port; killed on drop.
struct Alertmanager {
    child: Child,
    addr: std::net::SocketAddr,
}

impl Alertmanager {
    async fn start(dir: &Path, config: &str) -> Self {
        let path = dir.join("alertmanager.yml");
        std::fs::write(&path, config).expect("write alertmanager.yml");
        let mut child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", path.display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg("--web.listen-address=127.0.0.1:0")
            .arg("--cluster.listen-address=")
            .arg("--log.level=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect(
                "prometheus-alertmanager is installed (apt-get install prometheus-alertmanager)",
            );
        let stderr = child.stderr.take().expect("piped stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let all = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                all.lock().expect("lines").push(line.clone());
                let _ = tx.send(line);
            }
        });
        let addr = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = rx.recv().await {
                if line.contains("msg=\"Listening on\"") {
                    let addr = line.split("address=").nth(1)?;
                    return addr.split_whitespace().next()?.parse().ok();
                }
            }
            None
        })
        .await;
        let addr = match addr {
            Ok(Some(a)) => a,
            _ => panic!(
                "Alertmanager did not start:\n{}",
                lines.lock().expect("lines").join("\n")
            ),
        };
        Self { child, addr }
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An alert in a scenario; times are seconds from the scenario start.
#[derive(Clone)]
struct A {
    labels: Vec<(&'static str, &'static str)>,
    annotations: Vec<(&'static str, &'static str)>,
    starts: Option<f64>,
    ends: Option<f64>,
}

fn a(labels: &[(&'static str, &'static str)]) -> A {
    A {
        labels: labels.to_vec(),
        annotations: vec![],
        starts: None,
        ends: Some(3600.0),
    }
}

impl A {
    fn starts(mut self, t: f64) -> Self {
        self.starts = Some(t);
        self
    }
    fn ends(mut self, t: f64) -> Self {
        self.ends = Some(t);
        self
    }
    fn no_end(mut self) -> Self {
        self.ends = None;
        self
    }
    fn annotate(mut self, k: &'static str, v: &'static str) -> Self {
        self.annotations.push((k, v));
        self
    }
}

#[derive(Clone)]
enum Step {
    Post(Vec<A>),
    /// A silence named `key` on `name="value"` matchers, active from now for an hour.
    Silence(&'static str, Vec<(&'static str, &'static str)>),
    Expire(&'static str),
}

struct Scenario {
    name: &'static str,
    /// alertmanager.yml; `SINK` is replaced by the sink's base URL.
    config: &'static str,
    /// Extra `global:` keys for blackwatch only (its extensions).
    bw_global: &'static str,
    steps: Vec<(f64, Step)>,
    duration: f64,
    /// (path, status, count): the sink fails the first `count` requests to `path`.
    failing: Vec<(&'static str, u16, usize)>,
    /// Notifications only blackwatch sends (deliberate differences): (path, status).
    bw_only: Vec<(&'static str, &'static str)>,
}

fn wall(base: SystemTime, t: f64) -> String {
    let d = Duration::from_secs_f64(t.abs());
    let at = if t >= 0.0 { base + d } else { base - d };
    blackwatch::clock::rfc3339(at)
}

fn alerts_json(alerts: &[A], base: SystemTime) -> Value {
    Value::Array(
        alerts
            .iter()
            .map(|x| {
                let mut o = json!({
                    "labels": x.labels.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                    "annotations": x.annotations.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                });
                if let Some(s) = x.starts {
                    o["startsAt"] = json!(wall(base, s));
                }
                if let Some(e) = x.ends {
                    o["endsAt"] = json!(wall(base, e));
                }
                o
            })
            .collect(),
    )
}

/// One side of the comparison: base URL plus silence ids by scenario key.
struct Side {
    url: String,
    silences: HashMap<&'static str, String>,
}

async fn apply(
    c: &reqwest::Client,
    side: &mut Side,
    step: &Step,
    base: SystemTime,
) -> Result<(), String> {
    match step {
        Step::Post(alerts) => {
            let r = c
                .post(format!("{}/api/v2/alerts", side.url))
                .json(&alerts_json(alerts, base))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !r.status().is_success() {
                return Err(format!("POST alerts: {}", r.status()));
            }
        }
        Step::Silence(key, matchers) => {
            let now = SystemTime::now();
            let body = json!({
                "matchers": matchers.iter().map(|(n, v)| json!({"name": n, "value": v, "isRegex": false, "isEqual": true})).collect::<Vec<_>>(),
                "startsAt": blackwatch::clock::rfc3339(now),
                "endsAt": blackwatch::clock::rfc3339(now + Duration::from_secs(3600)),
                "createdBy": "diff", "comment": "diff",
            });
            let r = c
                .post(format!("{}/api/v2/silences", side.url))
                .json(&body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let v: Value = r.json().await.map_err(|e| e.to_string())?;
            let id = v["silenceID"]
                .as_str()
                .ok_or(format!("no silenceID: {v}"))?;
            side.silences.insert(key, id.to_string());
        }
        Step::Expire(key) => {
            let id = side.silences.get(key).ok_or("unknown silence key")?;
            let r = c
                .delete(format!("{}/api/v2/silence/{id}", side.url))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !r.status().is_success() {
                return Err(format!("DELETE silence: {}", r.status()));
            }
        }
    }
    Ok(())
}

/// A notification reduced to what must match.
#[derive(Clone, Debug, PartialEq)]
struct Note {
    status: String,
    code: u16,
    alerts: Vec<String>,
    truncated: i64,
    group_labels: Value,
    common_labels: Value,
    receiver: String,
}

fn notes(received: &[Received]) -> BTreeMap<(String, String), Vec<(Duration, Note)>> {
    let mut out: BTreeMap<(String, String), Vec<(Duration, Note)>> = BTreeMap::new();
    for r in received {
        let b = &r.body;
        let alerts = b["alerts"]
            .as_array()
            .map(|v| {
                v.iter()
                    .map(|a| format!("{} {} {}", a["labels"], a["status"], a["annotations"]))
                    .collect()
            })
            .unwrap_or_default();
        out.entry((
            r.path.clone(),
            b["groupKey"].as_str().unwrap_or("").to_string(),
        ))
        .or_default()
        .push((
            r.at,
            Note {
                status: b["status"].as_str().unwrap_or("").to_string(),
                code: r.code,
                alerts,
                truncated: b["truncatedAlerts"].as_i64().unwrap_or(-1),
                group_labels: b["groupLabels"].clone(),
                common_labels: b["commonLabels"].clone(),
                receiver: b["receiver"].as_str().unwrap_or("").to_string(),
            },
        ));
    }
    out
}

fn render(n: &BTreeMap<(String, String), Vec<(Duration, Note)>>) -> String {
    let mut s = String::new();
    for ((path, key), v) in n {
        for (at, note) in v {
            s.push_str(&format!(
                "  {path} {key} @{:.2}s {} {} {:?} truncated={}\n",
                at.as_secs_f64(),
                note.code,
                note.status,
                note.alerts,
                note.truncated
            ));
        }
    }
    s
}

async fn run(s: &Scenario) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let t0: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let am_sink = Sink::new(t0.clone(), &s.failing);
    let bw_sink = Sink::new(t0.clone(), &s.failing);
    let am_cfg = dedent(s.config).replace("SINK", &am_sink.server.base_url());
    let bw_cfg = {
        let am = dedent(s.config).replace("SINK", &bw_sink.server.base_url());
        let am = if s.bw_global.is_empty() {
            am
        } else if am.contains("global:\n") {
            am.replacen("global:\n", &format!("global:\n  {}\n", s.bw_global), 1)
        } else {
            format!("global:\n  {}\n{am}", s.bw_global)
        };
        format!("alerting:\n{}", indent(&am, 2))
    };
    std::fs::create_dir_all(dir.path().join("bw")).map_err(|e| e.to_string())?;
    let am = Alertmanager::start(dir.path(), &am_cfg).await;
    let bw = Daemon::start(&dir.path().join("bw"), &bw_cfg).await;
    let mut sides = [
        Side {
            url: format!("http://{}", am.addr),
            silences: HashMap::new(),
        },
        Side {
            url: bw.url(""),
            silences: HashMap::new(),
        },
    ];
    // Both answer before the clock starts, so the first step is not slowed by start-up.
    let c = client();
    for side in &sides {
        let r = c
            .get(format!("{}/api/v2/status", side.url))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("{} not ready: {}", side.url, r.status()));
        }
    }
    let start = Instant::now();
    let base = SystemTime::now();
    *t0.lock().expect("t0") = Some(start);
    for (at, step) in &s.steps {
        tokio::time::sleep_until(start + Duration::from_secs_f64(*at)).await;
        let [am_side, bw_side] = &mut sides;
        let (r1, r2) = tokio::join!(
            apply(&c, am_side, step, base),
            apply(&c, bw_side, step, base)
        );
        r1.map_err(|e| format!("alertmanager: {e}"))?;
        r2.map_err(|e| format!("blackwatch: {e}"))?;
    }
    tokio::time::sleep_until(start + Duration::from_secs_f64(s.duration)).await;
    let am_notes = notes(&am_sink.received.lock().expect("received"));
    let mut bw_notes = notes(&bw_sink.received.lock().expect("received"));
    let original = format!(
        "alertmanager:\n{}blackwatch:\n{}",
        render(&am_notes),
        render(&bw_notes)
    );
    let report = || original.clone();
    for (path, status) in &s.bw_only {
        let found = bw_notes
            .iter_mut()
            .filter(|((p, _), _)| p == path)
            .find_map(|(_, v)| {
                let i = v.iter().rposition(|(_, n)| n.status == *status)?;
                v.remove(i);
                Some(())
            });
        if found.is_none() {
            return Err(format!(
                "expected blackwatch-only {status} notification on {path}\n{}",
                report()
            ));
        }
    }
    bw_notes.retain(|_, v| !v.is_empty());
    let am_keys: Vec<_> = am_notes.keys().collect();
    let bw_keys: Vec<_> = bw_notes.keys().collect();
    if am_keys != bw_keys {
        return Err(format!("different (path, group key) sets\n{}", report()));
    }
    for (k, am_v) in &am_notes {
        let bw_v = &bw_notes[k];
        if am_v.len() != bw_v.len() {
            return Err(format!("different counts for {k:?}\n{}", report()));
        }
        for ((am_at, am_n), (bw_at, bw_n)) in am_v.iter().zip(bw_v) {
            if am_n != bw_n {
                return Err(format!("different notification for {k:?}\n{}", report()));
            }
            let dt = am_at.abs_diff(*bw_at);
            if dt > TOLERANCE {
                return Err(format!("timing differs by {dt:?} for {k:?}\n{}", report()));
            }
        }
    }
    if am_notes.is_empty() && s.bw_only.is_empty() && s.name.ends_with("_sends") {
        return Err(format!("nothing was sent\n{}", report()));
    }
    drop(am);
    drop(bw);
    Ok(())
}

const BASIC: &str = r#"
route:
  receiver: r1
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: r1
    webhook_configs:
      - url: SINK/r1
"#;

fn scenarios() -> Vec<Scenario> {
    use Step::*;
    let sc = |name, config, steps: Vec<(f64, Step)>, duration| Scenario {
        name,
        config,
        bw_global: "",
        steps,
        duration,
        failing: vec![],
        bw_only: vec![],
    };
    vec![
        sc(
            "single_alert_sends",
            BASIC,
            vec![(0.0, Post(vec![a(&[("alertname", "A")]).starts(0.0)]))],
            4.0,
        ),
        sc(
            "two_groups_sends",
            BASIC,
            vec![(
                0.0,
                Post(vec![
                    a(&[("alertname", "A")]).starts(0.0),
                    a(&[("alertname", "B")]).starts(0.0),
                ]),
            )],
            4.0,
        ),
        sc(
            "second_alert_joins_at_next_tick_sends",
            BASIC,
            vec![
                (
                    0.0,
                    Post(vec![a(&[("alertname", "A"), ("i", "1")]).starts(0.0)]),
                ),
                (
                    1.5,
                    Post(vec![a(&[("alertname", "A"), ("i", "2")]).starts(1.5)]),
                ),
            ],
            6.0,
        ),
        sc(
            "some_resolved_sends",
            BASIC,
            vec![
                (
                    0.0,
                    Post(vec![
                        a(&[("alertname", "A"), ("i", "1")]).starts(0.0),
                        a(&[("alertname", "A"), ("i", "2")]).starts(0.0),
                    ]),
                ),
                (
                    1.5,
                    Post(vec![a(&[("alertname", "A"), ("i", "2")])
                        .starts(0.0)
                        .ends(1.5)]),
                ),
            ],
            8.0,
        ),
        sc(
            "all_resolved_sends",
            BASIC,
            vec![
                (0.0, Post(vec![a(&[("alertname", "A")]).starts(0.0)])),
                (
                    1.5,
                    Post(vec![a(&[("alertname", "A")]).starts(0.0).ends(1.5)]),
                ),
            ],
            7.0,
        ),
        sc(
            "send_resolved_false_integration_sends",
            r#"
            route:
              receiver: r1
              group_wait: 1s
              group_interval: 2s
            receivers:
              - name: r1
                webhook_configs:
                  - url: SINK/quiet
                    send_resolved: false
                  - url: SINK/loud
            "#,
            vec![
                (0.0, Post(vec![a(&[("alertname", "A")]).starts(0.0)])),
                (
                    1.5,
                    Post(vec![a(&[("alertname", "A")]).starts(0.0).ends(1.5)]),
                ),
            ],
            6.0,
        ),
        sc(
            "repeat_interval_sends",
            r#"
            route:
              receiver: r1
              group_wait: 1s
              group_interval: 2s
              repeat_interval: 3s
            receivers:
              - name: r1
                webhook_configs:
                  - url: SINK/r1
            "#,
            vec![(0.0, Post(vec![a(&[("alertname", "A")]).starts(0.0)]))],
            12.0,
        ),
        sc(
            "repost_and_annotation_change_do_not_notify_sends",
            BASIC,
            vec![
                (
                    0.0,
                    Post(vec![a(&[("alertname", "A")])
                        .starts(0.0)
                        .annotate("v", "1")]),
                ),
                (
                    1.5,
                    Post(vec![a(&[("alertname", "A")])
                        .starts(0.0)
                        .annotate("v", "2")]),
                ),
                (
                    3.5,
                    Post(vec![a(&[("alertname", "A")])
                        .starts(0.0)
                        .annotate("v", "3")]),
                ),
            ],
            7.0,
        ),
        sc(
            "continue_reaches_both_routes_sends",
            r#"
            route:
              receiver: r1
              group_wait: 1s
              group_interval: 2s
              routes:
                - matchers: [team="a"]
                  receiver: r1
                  continue: true
                - matchers: [severity="page"]
                  receiver: r2
            receivers:
              - name: r1
                webhook_configs: [{url: SINK/r1}]
              - name: r2
                webhook_configs: [{url: SINK/r2}]
            "#,
            vec![(
                0.0,
                Post(vec![a(&[
                    ("alertname", "A"),
                    ("team", "a"),
                    ("severity", "page"),
                ])
                .starts(0.0)]),
            )],
            4.0,
        ),
        sc(
            "first_matching_route_wins_sends",
            r#"
            route:
              receiver: r1
              group_wait: 1s
              group_interval: 2s
              routes:
                - match: {team: a}
                  receiver: r2
                - matchers: [severity="page"]
                  receiver: r3
            receivers:
              - name: r1
                webhook_configs: [{url: SINK/r1}]
              - name: r2
                webhook_configs: [{url: SINK/r2}]
              - name: r3
                webhook_configs: [{url: SINK/r3}]
            "#,
            vec![(
                0.0,
                Post(vec![
                    a(&[("alertname", "A"), ("team", "a"), ("severity", "page")]).starts(0.0),
                    a(&[("alertname", "B"), ("team", "b")]).starts(0.0),
                ]),
            )],
            4.0,
        ),
        sc(
            "nested_routes_and_regex_sends",
            r#"
            route:
              receiver: r1
              group_wait: 1s
              group_interval: 2s
              routes:
                - matchers: ['instance=~"web.*"']
                  receiver: r2
                  group_by: [instance]
                  routes:
                    - match_re: {severity: "page|critical"}
                      receiver: r3
            receivers:
              - name: r1
                webhook_configs: [{url: SINK/r1}]
              - name: r2
                webhook_configs: [{url: SINK/r2}]
              - name: r3
                webhook_configs: [{url: SINK/r3}]
            "#,
            vec![(
                0.0,
                Post(vec![
                    a(&[
                        ("alertname", "A"),
                        ("instance", "web1"),
                        ("severity", "warn"),
                    ])
                    .starts(0.0),
                    a(&[
                        ("alertname", "B"),
                        ("instance", "web2"),
                        ("severity", "critical"),
                    ])
                    .starts(0.0),
                    a(&[("alertname", "C"), ("instance", "db1")]).starts(0.0),
                ]),
            )],
            4.0,
        ),
        sc(
            "group_by_all_labels_sends",
            r#"
            route:
              receiver: r1
              group_by: ['...']
              group_wait: 1s
              group_interval: 2s
            receivers:
              - name: r1
                webhook_configs: [{url: SINK/r1}]
            "#,
            vec![(
                0.0,
                Post(vec![
                    a(&[("alertname", "A"), ("i", "1")]).starts(0.0),
                    a(&[("alertname", "A"), ("i", "2")]).starts(0.0),
                ]),
            )],
            4.0,
        ),
        sc(
            "no_group_by_one_group_sends",
            r#"
            route:
              receiver: r1
              group_wait: 1s
              group_interval: 2s
            receivers:
              - name: r1
                webhook_configs: [{url: SINK/r1}]
            "#,
            vec![(
                0.0,
                Post(vec![
                    a(&[("alertname", "A"), ("job", "b")]).starts(0.0),
                    a(&[("alertname", "B"), ("job", "a"), ("instance", "x")]).starts(0.0),
                    a(&[("alertname", "C")]).starts(0.0),
                ]),
            )],
            4.0,
        ),
        sc(
            "group_by_two_labels_sends",
            r#"
            route:
              receiver: r1
              group_by: [alertname, zone]
              group_wait: 1s
              group_interval: 2s
            receivers:
              - name: r1
                webhook_configs: [{url: SINK/r1}]
            "#,
            vec![(
                0.0,
                Post(vec![
                    a(&[("alertname", "A"), ("zone", "a")]).starts(0.0),
                    a(&[("alertname", "A"), ("zone", "b")]).starts(0.0),
                    a(&[("alertname", "A")]).starts(0.0),
                ]),
            )],
            4.0,
        ),
        sc(
            "silence_then_expire_sends",
            BASIC,
            vec![
                (0.0, Silence("s", vec![("alertname", "A")])),
                (0.2, Post(vec![a(&[("alertname", "A")]).starts(0.2)])),
                (2.5, Expire("s")),
            ],
            6.0,
        ),
        Scenario {
            // Upstream's behaviour, asked for with `resolved_after_mute: false`: an alert
            // resolved while silenced gets no resolved notification (alertmanager #226).
            bw_global: "resolved_after_mute: false",
            ..sc(
                "silenced_then_resolved_upstream_mode_sends",
                BASIC,
                vec![
                    (0.0, Post(vec![a(&[("alertname", "A")]).starts(0.0)])),
                    (1.5, Silence("s", vec![("alertname", "A")])),
                    (
                        2.5,
                        Post(vec![a(&[("alertname", "A")]).starts(0.0).ends(2.5)]),
                    ),
                ],
                7.0,
            )
        },
        Scenario {
            // Deliberate difference (the default): the receiver that saw the alert firing
            // is told it resolved although the alert was silenced when it resolved.
            bw_only: vec![("/r1", "resolved")],
            ..sc(
                "silenced_then_resolved_default_sends",
                BASIC,
                vec![
                    (0.0, Post(vec![a(&[("alertname", "A")]).starts(0.0)])),
                    (1.5, Silence("s", vec![("alertname", "A")])),
                    (
                        2.5,
                        Post(vec![a(&[("alertname", "A")]).starts(0.0).ends(2.5)]),
                    ),
                ],
                7.0,
            )
        },
        sc(
            "inhibition_then_source_resolves_sends",
            r#"
            route:
              receiver: r1
              group_by: [alertname]
              group_wait: 1s
              group_interval: 2s
            receivers:
              - name: r1
                webhook_configs: [{url: SINK/r1}]
            inhibit_rules:
              - source_matchers: [alertname="Source"]
                target_matchers: [alertname="Target"]
                equal: [zone]
            "#,
            vec![
                (
                    0.0,
                    Post(vec![
                        a(&[("alertname", "Source"), ("zone", "a")]).starts(0.0),
                        a(&[("alertname", "Target"), ("zone", "a")]).starts(0.0),
                        a(&[("alertname", "Target"), ("zone", "b")]).starts(0.0),
                    ]),
                ),
                (
                    1.5,
                    Post(vec![a(&[("alertname", "Source"), ("zone", "a")])
                        .starts(0.0)
                        .ends(1.5)]),
                ),
            ],
            6.0,
        ),
        sc(
            "inhibition_legacy_match_and_missing_equal_label_sends",
            r#"
            route:
              receiver: r1
              group_by: [alertname]
              group_wait: 1s
              group_interval: 2s
            receivers:
              - name: r1
                webhook_configs: [{url: SINK/r1}]
            inhibit_rules:
              - source_match: {severity: critical}
                target_match_re: {severity: "warn.*"}
                equal: [cluster]
            "#,
            vec![(
                0.0,
                Post(vec![
                    a(&[("alertname", "Down"), ("severity", "critical")]).starts(0.0),
                    a(&[("alertname", "Slow"), ("severity", "warning")]).starts(0.0),
                    a(&[
                        ("alertname", "Slow2"),
                        ("severity", "warning"),
                        ("cluster", "x"),
                    ])
                    .starts(0.0),
                ]),
            )],
            4.0,
        ),
        sc(
            "old_alert_flushes_immediately_sends",
            r#"
            route:
              receiver: r1
              group_wait: 3s
              group_interval: 4s
            receivers:
              - name: r1
                webhook_configs: [{url: SINK/r1}]
            "#,
            vec![(0.0, Post(vec![a(&[("alertname", "Old")]).starts(-60.0)]))],
            3.0,
        ),
        sc(
            "resolve_timeout_resolves_sends",
            r#"
            global:
              resolve_timeout: 2s
            route:
              receiver: r1
              group_wait: 1s
              group_interval: 2s
            receivers:
              - name: r1
                webhook_configs: [{url: SINK/r1}]
            "#,
            vec![(
                0.0,
                Post(vec![a(&[("alertname", "A")]).starts(0.0).no_end()]),
            )],
            6.0,
        ),
        sc(
            "flapping_with_send_resolved_false_sends",
            r#"
            route:
              receiver: r1
              group_wait: 1s
              group_interval: 2s
            receivers:
              - name: r1
                webhook_configs:
                  - url: SINK/r1
                    send_resolved: false
            "#,
            vec![
                (
                    0.0,
                    Post(vec![
                        a(&[("alertname", "A"), ("i", "1")]).starts(0.0),
                        a(&[("alertname", "A"), ("i", "2")]).starts(0.0),
                    ]),
                ),
                (
                    1.5,
                    Post(vec![a(&[("alertname", "A"), ("i", "2")])
                        .starts(0.0)
                        .ends(1.5)]),
                ),
                (
                    3.5,
                    Post(vec![a(&[("alertname", "A"), ("i", "2")]).starts(3.5)]),
                ),
            ],
            8.0,
        ),
        sc(
            "max_alerts_truncates_sends",
            r#"
            route:
              receiver: r1
              group_wait: 1s
              group_interval: 2s
            receivers:
              - name: r1
                webhook_configs:
                  - url: SINK/r1
                    max_alerts: 2
            "#,
            vec![(
                0.0,
                Post(vec![
                    a(&[("alertname", "A"), ("i", "1")]).starts(0.0),
                    a(&[("alertname", "A"), ("i", "2")]).starts(0.0),
                    a(&[("alertname", "A"), ("i", "3")]).starts(0.0),
                ]),
            )],
            4.0,
        ),
        Scenario {
            // A 400 is final for this flush; the next tick tries again. The healthy
            // integration of the same receiver is not sent twice.
            failing: vec![("/bad", 400, 1)],
            ..sc(
                "client_error_retried_next_tick_sends",
                r#"
                route:
                  receiver: r1
                  group_wait: 1s
                  group_interval: 2s
                receivers:
                  - name: r1
                    webhook_configs:
                      - url: SINK/bad
                      - url: SINK/good
                "#,
                vec![(0.0, Post(vec![a(&[("alertname", "A")]).starts(0.0)]))],
                6.0,
            )
        },
        Scenario {
            // A 500 is retried within the flush after a backoff of 0.25–0.75 s.
            failing: vec![("/flaky", 500, 1)],
            ..sc(
                "server_error_retried_with_backoff_sends",
                r#"
                route:
                  receiver: r1
                  group_wait: 1s
                  group_interval: 3s
                receivers:
                  - name: r1
                    webhook_configs:
                      - url: SINK/flaky
                "#,
                vec![(0.0, Post(vec![a(&[("alertname", "A")]).starts(0.0)]))],
                4.0,
            )
        },
        sc(
            "mute_time_interval_mutes",
            r#"
            route:
              receiver: r1
              group_wait: 1s
              group_interval: 2s
              routes:
                - matchers: [team="a"]
                  receiver: r2
                  mute_time_intervals: [always]
            time_intervals:
              - name: always
                time_intervals:
                  - weekdays: ['sunday:saturday']
            receivers:
              - name: r1
                webhook_configs: [{url: SINK/r1}]
              - name: r2
                webhook_configs: [{url: SINK/r2}]
            "#,
            vec![(
                0.0,
                Post(vec![
                    a(&[("alertname", "A"), ("team", "a")]).starts(0.0),
                    a(&[("alertname", "B")]).starts(0.0),
                ]),
            )],
            4.0,
        ),
        sc(
            "active_time_interval_outside_mutes",
            r#"
            route:
              receiver: r1
              group_wait: 1s
              group_interval: 2s
              routes:
                - matchers: [team="a"]
                  receiver: r2
                  active_time_intervals: [long_ago]
            time_intervals:
              - name: long_ago
                time_intervals:
                  - years: ['2000']
            receivers:
              - name: r1
                webhook_configs: [{url: SINK/r1}]
              - name: r2
                webhook_configs: [{url: SINK/r2}]
            "#,
            vec![(
                0.0,
                Post(vec![
                    a(&[("alertname", "A"), ("team", "a")]).starts(0.0),
                    a(&[("alertname", "B")]).starts(0.0),
                ]),
            )],
            4.0,
        ),
        sc(
            "job_instance_sort_order_sends",
            r#"
            route:
              receiver: r1
              group_wait: 1s
              group_interval: 2s
            receivers:
              - name: r1
                webhook_configs: [{url: SINK/r1}]
            "#,
            vec![(
                0.0,
                Post(vec![
                    a(&[("alertname", "Z")]).starts(0.0),
                    a(&[("alertname", "A"), ("job", "b"), ("instance", "2")]).starts(0.0),
                    a(&[("alertname", "A"), ("job", "b"), ("instance", "1")]).starts(0.0),
                    a(&[("alertname", "B"), ("job", "a")]).starts(0.0),
                    a(&[("alertname", "C"), ("instance", "1")]).starts(0.0),
                ]),
            )],
            4.0,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn differential_against_alertmanager_0_25() {
    let all = scenarios();
    assert!(all.len() >= 20, "{} scenarios", all.len());
    let mut failures = Vec::new();
    // A few at a time: each runs two daemons for a few seconds.
    for chunk in all.chunks(5) {
        let mut set = tokio::task::JoinSet::new();
        for s in chunk {
            let s = Scenario {
                name: s.name,
                config: s.config,
                bw_global: s.bw_global,
                steps: s.steps.clone(),
                duration: s.duration,
                failing: s.failing.clone(),
                bw_only: s.bw_only.clone(),
            };
            set.spawn(async move { (s.name, run(&s).await) });
        }
        while let Some(r) = set.join_next().await {
            let (name, result) = r.expect("scenario task");
            if let Err(e) = result {
                failures.push(format!("--- {name}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
