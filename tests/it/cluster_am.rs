//! Issue 17's comparison: the high-availability tests of `cluster.rs` run against three real
//! Alertmanager 0.25 processes (Debian's `/usr/bin/prometheus-alertmanager`) in a gossip
//! cluster on loopback, with blackwatch's test values for `--cluster.gossip-interval` and
//! `--cluster.peer-timeout`, the same route and webhook sink, the same alerts and (for the
//! kill test) the same schedule (`support/killtest.rs`). Lost and duplicate notifications
//! are printed, not asserted: these tests measure Alertmanager; a missing binary fails them.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::cluster::PEER_TIMEOUT;
use crate::support::am::{free_port, AM_BIN};
use crate::support::http::{HttpServer, TestResponse};
use crate::support::killtest::{self, alert, deliveries, post, wait_delivered, Instances};
use crate::support::poll;

/// One Alertmanager of the cluster; its storage outlives its restarts.
struct AmNode {
    child: Option<Child>,
    web: u16,
    gossip: SocketAddr,
    dir: tempfile::TempDir,
}

impl AmNode {
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for AmNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three (or `n`) Alertmanagers gossiping with each other on loopback.
pub struct AmCluster {
    nodes: Vec<AmNode>,
    config: PathBuf,
    _config_dir: tempfile::TempDir,
}

/// A loopback port free for both TCP and UDP (memberlist uses both on the cluster port).
fn free_tcp_udp_port() -> u16 {
    loop {
        let port = free_port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl AmCluster {
    /// Starts `n` Alertmanagers on `yaml`, each listing all the others as `--cluster.peer`;
    /// returns once each answers `/-/ready` (not yet settled: see [`Instances::wait_ready`]).
    pub async fn start(n: usize, yaml: &str) -> Self {
        crate::support::install_crypto();
        assert!(
            Path::new(AM_BIN).exists(),
            "the comparison needs Alertmanager 0.25: apt-get install -y prometheus-alertmanager"
        );
        let config_dir = tempfile::tempdir().expect("tempdir");
        let config = config_dir.path().join("alertmanager.yml");
        std::fs::write(&config, yaml).expect("config");
        let nodes = (0..n)
            .map(|_| AmNode {
                child: None,
                web: free_port(),
                gossip: SocketAddr::from(([127, 0, 0, 1], free_tcp_udp_port())),
                dir: tempfile::tempdir().expect("tempdir"),
            })
            .collect();
        let mut c = Self {
            nodes,
            config,
            _config_dir: config_dir,
        };
        for i in 0..n {
            c.spawn(i).await;
        }
        c
    }

    async fn spawn(&mut self, i: usize) {
        let node = &self.nodes[i];
        // Every start appends to the instance's log, kept for failure messages.
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.path().join("am.log"))
            .expect("am.log");
        let mut cmd = Command::new(AM_BIN);
        cmd.arg(format!("--config.file={}", self.config.display()))
            .arg(format!(
                "--storage.path={}",
                node.dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{}", node.web))
            .arg(format!("--cluster.listen-address={}", node.gossip))
            .arg(format!("--cluster.advertise-address={}", node.gossip))
            .arg("--cluster.gossip-interval=100ms")
            .arg(format!(
                "--cluster.peer-timeout={}s",
                PEER_TIMEOUT.as_secs()
            ))
            .arg("--cluster.pushpull-interval=1s")
            .arg("--cluster.settle-timeout=5s")
            .arg("--log.level=debug");
        for p in self.nodes.iter().filter(|p| p.gossip != node.gossip) {
            cmd.arg(format!("--cluster.peer={}", p.gossip));
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting prometheus-alertmanager");
        self.nodes[i].child = Some(child);
        let client = client();
        let base = self.base(i);
        let dir = self.nodes[i].dir.path().to_path_buf();
        poll::until(
            "alertmanager to become ready",
            Duration::from_secs(20),
            async || match client.get(format!("{base}/-/ready")).send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(format!(
                    "/-/ready answered {}\n{}",
                    r.status(),
                    log_of(&dir)
                )),
                Err(e) => Err(format!("/-/ready: {e}\n{}", log_of(&dir))),
            },
        )
        .await;
    }

    /// Instance `i`'s log (every start).
    pub fn log(&self, i: usize) -> String {
        log_of(self.nodes[i].dir.path())
    }
}

/// Who sent each (group, status): the sender's `externalURL` (Alertmanager's defaults to
/// its web port, so it names the instance).
fn senders(sink: &HttpServer) -> BTreeMap<(String, String), Vec<String>> {
    let mut out: BTreeMap<_, Vec<String>> = BTreeMap::new();
    for req in sink.requests() {
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            continue;
        };
        let key = (
            body["groupLabels"]["group"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            body["status"].as_str().unwrap_or("").to_string(),
        );
        let from = body["externalURL"].as_str().unwrap_or("").to_string();
        out.entry(key).or_default().push(from);
    }
    out
}

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("am.log")).unwrap_or_default()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

impl Instances for AmCluster {
    fn len(&self) -> usize {
        self.nodes.len()
    }

    fn base(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.nodes[i].web)
    }

    fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    async fn restart(&mut self, i: usize) {
        self.spawn(i).await;
    }

    /// Alertmanager's `/api/v2/status` has the same `cluster` object as blackwatch's:
    /// `status` `ready` once settled, `peers` the live members.
    async fn wait_ready(&self) {
        let client = client();
        let n = self.nodes.len();
        for i in 0..n {
            let base = self.base(i);
            poll::until(
                "the Alertmanager cluster to form and settle",
                Duration::from_secs(60),
                async || {
                    let status: Value =
                        killtest::get_json(&client, format!("{base}/api/v2/status")).await?;
                    let c = &status["cluster"];
                    let peers = c["peers"].as_array().map(|p| p.len()).unwrap_or(0);
                    if c["status"] == "ready" && peers == n {
                        Ok(())
                    } else {
                        Err(format!("{c}\n{}", self.log(i)))
                    }
                },
            )
            .await;
        }
    }
}

/// The `alertmanager.yml` of both tests: `support/killtest.rs`' route and receiver, as
/// blackwatch's replicas run them.
fn am_config(sink: &HttpServer) -> String {
    killtest::route_and_receiver(&sink.url("/hook"))
}

/// 30 groups notified and resolved, a silence made on one instance: the steady state of
/// `cluster.rs`' first test, on Alertmanager. Prints lost and duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_three_instances_steady_state_duplicates() {
    let sink = HttpServer::plain(|_| TestResponse::ok());
    let cluster = AmCluster::start(3, &am_config(&sink)).await;
    cluster.wait_ready().await;
    let all: Vec<String> = (0..3).map(|i| cluster.base(i)).collect();
    let client = client();

    let now = jiff::Timestamp::now();
    let silence = json!({
        "matchers": [{"name": "group", "value": "muted", "isRegex": false, "isEqual": true}],
        "startsAt": now.to_string(),
        "endsAt": (now + jiff::SignedDuration::from_secs(3600)).to_string(),
        "createdBy": "test",
        "comment": "HA",
    });
    let resp = client
        .post(format!("{}/api/v2/silences", all[0]))
        .json(&silence)
        .send()
        .await
        .expect("post silence");
    assert_eq!(resp.status(), 200);
    for base in &all[1..] {
        poll::until(
            "the silence to reach every instance",
            Duration::from_secs(10),
            async || {
                let list: Value =
                    killtest::get_json(&client, format!("{base}/api/v2/silences")).await?;
                if list.as_array().map(|a| a.len()) == Some(1) {
                    Ok(())
                } else {
                    Err(list.to_string())
                }
            },
        )
        .await;
    }

    let groups: Vec<String> = (0..30).map(|i| format!("g{i}")).collect();
    let mut firing: Vec<Value> = groups.iter().map(|g| alert(g, None)).collect();
    firing.push(alert("muted", None));
    post(&client, &all, &Value::Array(firing)).await;
    let mut lost = wait_delivered(&sink, &groups, "firing", Duration::from_secs(30)).await;
    tokio::time::sleep(PEER_TIMEOUT * 3).await;
    let resolved: Vec<Value> = groups.iter().map(|g| alert(g, Some(-1))).collect();
    post(&client, &all, &Value::Array(resolved)).await;
    lost.extend(wait_delivered(&sink, &groups, "resolved", Duration::from_secs(30)).await);
    tokio::time::sleep(PEER_TIMEOUT * 3).await;

    let d = deliveries(&sink);
    let muted = d.keys().filter(|(g, _)| g == "muted").count();
    let duplicates: usize = d
        .iter()
        .filter(|((g, _), _)| g != "muted")
        .map(|(_, n)| n - 1)
        .sum();
    let stale = killtest::firing_after_resolved(&sink);
    println!(
        "steady state, alertmanager 0.25: {} groups, {} notifications expected, {} sent, lost {}, duplicates {duplicates}, firing after resolved {}, muted group delivered {muted} times",
        groups.len(),
        2 * groups.len(),
        d.values().sum::<usize>(),
        lost.len(),
        stale.len(),
    );
    if !lost.is_empty() {
        println!("alertmanager lost: {lost:?}");
    }
    // The harness itself worked: Alertmanager notified through the sink.
    assert!(!d.is_empty(), "no notification at all:\n{}", cluster.log(0));
}

/// `cluster.rs`' kill test against Alertmanager 0.25: the same schedule, printed side by
/// side (`BLACKWATCH_KILL_SEED` replays a schedule in both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_kill_9_of_any_instance_at_any_moment() {
    let (rounds, seed) = killtest::rounds_and_seed();
    let sink = HttpServer::plain(|_| TestResponse::ok());
    let mut cluster = AmCluster::start(3, &am_config(&sink)).await;
    cluster.wait_ready().await;
    let out = killtest::run(&mut cluster, &sink, rounds, seed, PEER_TIMEOUT * 3).await;
    println!("{}", out.summary("alertmanager 0.25"));
    if !out.lost.is_empty() {
        println!("alertmanager lost: {:?}", out.lost);
    }
    let who = senders(&sink);
    let dups: Vec<_> = out
        .deliveries
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, n)| (k, n, who.get(k)))
        .collect();
    if !dups.is_empty() {
        println!("alertmanager duplicated (key, count, senders' externalURL): {dups:?}");
    }
    if !out.firing_after_resolved.is_empty() {
        println!(
            "alertmanager sent firing after resolved for: {:?}",
            out.firing_after_resolved
        );
    }
    if std::env::var("BLACKWATCH_KILL_LOGS").is_ok() {
        for i in 0..cluster.len() {
            println!("=== am {i}\n{}", cluster.log(i));
        }
    }
    assert!(out.sent > 0, "no notification at all:\n{}", cluster.log(0));
}
