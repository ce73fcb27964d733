//! The kill -9 schedule of issue 17, shared by the blackwatch cluster (`cluster.rs`) and the
//! Alertmanager 0.25 cluster (`cluster_am.rs`) so their duplicate counts compare like for
//! like: the same alerts posted to every instance, each instance killed in turn at a random
//! moment within the first 3.5 s of a round (before `group_wait` ends, during the owner's
//! flush, right after its send, while a silence is being made), restarted on its address
//! and storage, and every notification counted at a webhook sink per (group, status).
//!
//! [`run`] drives the schedule and counts; what an instance is (a blackwatch replica or an
//! Alertmanager) is behind [`Instances`]. It never fails on a lost notification: the
//! caller decides (blackwatch asserts none, Alertmanager's losses are reported).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use super::http::HttpServer;
use super::poll;

/// The config both implementations run (blackwatch's `alerting:` section and an
/// `alertmanager.yml` share the route and receiver): one webhook receiver, grouped by
/// `group`, `group_wait` 1 s, `group_interval` 2 s, `repeat_interval` 1 h, resolved sent.
pub fn route_and_receiver(sink: &str) -> String {
    format!(
        r#"route:
  receiver: sink
  group_by: [group]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: sink
    webhook_configs:
      - url: {sink}
        send_resolved: true
"#
    )
}

/// A cluster of instances that speak Alertmanager's API v2.
pub trait Instances {
    /// How many instances there are.
    fn len(&self) -> usize;
    /// `http://host:port` of instance `i` (a killed one keeps its address).
    fn base(&self, i: usize) -> String;
    /// kill -9 instance `i` and reap it.
    fn kill(&mut self, i: usize);
    /// Starts instance `i` again on its address and storage; returns once it serves.
    fn restart(&mut self, i: usize) -> impl std::future::Future<Output = ()>;
    /// Waits until every instance sees all the others and is ready to notify.
    fn wait_ready(&self) -> impl std::future::Future<Output = ()>;
}

/// A small deterministic generator for kill moments (the seed is printed).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next_ms(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below.max(1)
    }
}

/// `BLACKWATCH_KILL_ROUNDS` (default 30) and `BLACKWATCH_KILL_SEED` (default: the clock).
pub fn rounds_and_seed() -> (usize, u64) {
    let rounds = std::env::var("BLACKWATCH_KILL_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let seed = std::env::var("BLACKWATCH_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(7)
        });
    (rounds, seed)
}

/// What a run counted.
#[derive(Debug)]
pub struct Outcome {
    pub seed: u64,
    pub rounds: usize,
    /// One firing and one resolved notification per group.
    pub expected: usize,
    pub sent: usize,
    /// (group, status) never delivered.
    pub lost: Vec<(String, String)>,
    /// Deliveries beyond the first per (group, status).
    pub duplicates: usize,
    /// Groups that got a firing notification after their resolved one (a stale flush:
    /// the receiver is left believing, or is told again, that a resolved group fires).
    pub firing_after_resolved: Vec<String>,
    pub deliveries: BTreeMap<(String, String), usize>,
}

impl Outcome {
    /// The line the closing note quotes.
    pub fn summary(&self, who: &str) -> String {
        format!(
            "kill test, {who} (seed {}): {} kill points, {} notifications expected, {} sent, lost {}, duplicates {}, firing after resolved {}",
            self.seed,
            self.rounds,
            self.expected,
            self.sent,
            self.lost.len(),
            self.duplicates,
            self.firing_after_resolved.len()
        )
    }
}

/// Webhook deliveries per (group label, status), from the sink's recorded requests.
pub fn deliveries(sink: &HttpServer) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for req in sink.requests() {
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            continue;
        };
        let group = body["groupLabels"]["group"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let status = body["status"].as_str().unwrap_or("").to_string();
        *out.entry((group, status)).or_default() += 1;
    }
    out
}

/// The groups whose deliveries, in the order the sink received them, have a firing
/// notification after a resolved one.
pub fn firing_after_resolved(sink: &HttpServer) -> Vec<String> {
    let mut resolved = std::collections::BTreeSet::new();
    let mut out = std::collections::BTreeSet::new();
    for req in sink.requests() {
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            continue;
        };
        let group = body["groupLabels"]["group"]
            .as_str()
            .unwrap_or("")
            .to_string();
        match body["status"].as_str() {
            Some("resolved") => {
                resolved.insert(group);
            }
            Some("firing") if resolved.contains(&group) => {
                out.insert(group);
            }
            _ => {}
        }
    }
    out.into_iter().collect()
}

/// An alert of group `group`; `ends_in` seconds from now (negative: resolved).
pub fn alert(group: &str, ends_in: Option<i64>) -> Value {
    let mut a = json!({
        "labels": {"alertname": "Down", "group": group},
        "annotations": {"summary": format!("{group} is down")},
    });
    if let Some(secs) = ends_in {
        let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(secs);
        a["endsAt"] = json!(at.to_string());
    }
    a
}

/// `GET url` as JSON, any failure as text (for `poll::until`).
pub async fn get_json(
    client: &reqwest::Client,
    url: impl reqwest::IntoUrl,
) -> Result<Value, String> {
    client
        .get(url)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())
}

/// `POST /api/v2/alerts` to each base URL, as Prometheus posts to every Alertmanager.
pub async fn post(client: &reqwest::Client, bases: &[String], alerts: &Value) {
    for b in bases {
        let resp = client
            .post(format!("{b}/api/v2/alerts"))
            .json(alerts)
            .send()
            .await
            .unwrap_or_else(|e| panic!("post alerts to {b}: {e}"));
        assert_eq!(
            resp.status(),
            200,
            "{b}: {}",
            resp.text().await.unwrap_or_default()
        );
    }
}

/// The groups of `groups` with no `status` delivery yet.
pub fn missing(sink: &HttpServer, groups: &[String], status: &str) -> Vec<(String, String)> {
    let d = deliveries(sink);
    groups
        .iter()
        .filter(|g| !d.contains_key(&((*g).clone(), status.to_string())))
        .map(|g| (g.clone(), status.to_string()))
        .collect()
}

/// Waits up to `deadline` for every group's `status` notification; what is still missing
/// then.
pub async fn wait_delivered(
    sink: &HttpServer,
    groups: &[String],
    status: &str,
    deadline: Duration,
) -> Vec<(String, String)> {
    match poll::within(deadline, async || {
        let m = missing(sink, groups, status);
        if m.is_empty() {
            Ok(())
        } else {
            Err(m)
        }
    })
    .await
    {
        Ok(()) => Vec::new(),
        Err(m) => m,
    }
}

/// The schedule: `rounds` rounds of two new groups each, posted to every instance; the
/// round's victim (each instance in turn) is killed at a random moment within 3.5 s, the
/// survivors get the round's alerts again (Prometheus keeps re-sending), the victim
/// restarts on its storage. Then every group is posted firing to all, then resolved; a
/// notification not delivered within a minute counts as lost. `quiet` is how long to wait
/// at the end for late duplicates (the last rank's wait).
pub async fn run<C: Instances>(
    cluster: &mut C,
    sink: &HttpServer,
    rounds: usize,
    seed: u64,
    quiet: Duration,
) -> Outcome {
    super::install_crypto();
    let mut rng = Lcg(seed);
    let n = cluster.len();
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let mut groups = Vec::new();
    for round in 0..rounds {
        let victim = round % n;
        let batch: Vec<String> = (0..2).map(|i| format!("r{round}-{i}")).collect();
        groups.extend(batch.iter().cloned());
        let alerts = Value::Array(batch.iter().map(|g| alert(g, None)).collect());
        let all: Vec<String> = (0..n).map(|i| cluster.base(i)).collect();
        post(&client, &all, &alerts).await;
        if round % 5 == 4 {
            // A silence that mutes nothing of ours, made on the victim just before it dies.
            let now = jiff::Timestamp::now();
            let _ = client
                .post(format!("{}/api/v2/silences", all[victim]))
                .json(&json!({
                    "matchers": [{"name": "group", "value": "never", "isRegex": false, "isEqual": true}],
                    "startsAt": now.to_string(),
                    "endsAt": (now + jiff::SignedDuration::from_secs(600)).to_string(),
                    "createdBy": "kill test",
                    "comment": format!("round {round}"),
                }))
                .send()
                .await;
        }
        // group_wait is 1 s; the owner sends at ~1 s, rank 1 at ~3 s, rank 2 at ~5 s.
        tokio::time::sleep(Duration::from_millis(rng.next_ms(3500))).await;
        cluster.kill(victim);
        let survivors: Vec<String> = (0..n)
            .filter(|i| *i != victim)
            .map(|i| cluster.base(i))
            .collect();
        post(&client, &survivors, &alerts).await;
        cluster.restart(victim).await;
    }
    cluster.wait_ready().await;
    let all: Vec<String> = (0..n).map(|i| cluster.base(i)).collect();
    post(
        &client,
        &all,
        &Value::Array(groups.iter().map(|g| alert(g, None)).collect()),
    )
    .await;
    let mut lost = wait_delivered(sink, &groups, "firing", Duration::from_secs(60)).await;
    post(
        &client,
        &all,
        &Value::Array(groups.iter().map(|g| alert(g, Some(-1))).collect()),
    )
    .await;
    lost.extend(wait_delivered(sink, &groups, "resolved", Duration::from_secs(60)).await);
    tokio::time::sleep(quiet).await;
    let d = deliveries(sink);
    Outcome {
        seed,
        rounds,
        expected: 2 * groups.len(),
        sent: d.values().sum(),
        lost,
        duplicates: d.values().map(|n| n - 1).sum(),
        firing_after_resolved: firing_after_resolved(sink),
        deliveries: d,
    }
}
