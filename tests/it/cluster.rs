//! High availability (issue 17): real blackwatch processes on loopback gossiping with each
//! other, a webhook sink that counts deliveries per (group, status). Alerts are posted to
//! every replica, as Prometheus posts to every Alertmanager.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::http::{HttpServer, TestResponse};
use crate::support::poll;
use crate::support::process::{spawn_listening, Spawned};

const BIN: &str = env!("CARGO_BIN_EXE_blackwatch");
const PEER_TIMEOUT: Duration = Duration::from_secs(2);

/// A UDP port free right now on loopback (gossip listens on UDP).
pub fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("udp bind");
    s.local_addr().expect("udp addr").port()
}

pub struct Replica {
    pub proc: Spawned,
    pub addr: SocketAddr,
    /// Its gossip address (what the others list as `--cluster.peer`).
    pub gossip: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.proc.child.kill();
        let _ = self.proc.child.wait();
    }
}

impl Replica {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn log(&self) -> String {
        self.proc
            .stderr
            .lock()
            .map(|l| l.join("\n"))
            .unwrap_or_default()
    }
}

/// The config every replica runs: one webhook receiver, grouped by `group`.
fn config(sink: &str) -> String {
    format!(
        r#"
alerting:
  route:
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

/// Starts `n` replicas, each listing all the others' gossip addresses as peers.
pub async fn start_cluster(n: usize, config_text: &str) -> Vec<Replica> {
    crate::support::install_crypto();
    let gossip: Vec<SocketAddr> = (0..n)
        .map(|_| SocketAddr::from(([127, 0, 0, 1], free_udp_port())))
        .collect();
    let mut out = Vec::new();
    for (i, g) in gossip.iter().enumerate() {
        out.push(start_replica(*g, &gossip, config_text, i).await);
    }
    out
}

pub async fn start_replica(
    gossip: SocketAddr,
    all: &[SocketAddr],
    config_text: &str,
    i: usize,
) -> Replica {
    start_replica_in(
        gossip,
        all,
        config_text,
        i,
        tempfile::tempdir().expect("tempdir"),
    )
    .await
}

/// Starts a replica whose config and storage live in `dir`.
pub async fn start_replica_in(
    gossip: SocketAddr,
    all: &[SocketAddr],
    config_text: &str,
    i: usize,
    dir: tempfile::TempDir,
) -> Replica {
    start_replica_with(gossip, all, config_text, i, dir, &[]).await
}

/// As [`start_replica_in`], with more flags.
pub async fn start_replica_with(
    gossip: SocketAddr,
    all: &[SocketAddr],
    config_text: &str,
    i: usize,
    dir: tempfile::TempDir,
    extra: &[String],
) -> Replica {
    let cfg = dir.path().join("blackwatch.yml");
    std::fs::write(&cfg, config_text).expect("config");
    let mut cmd = Command::new(BIN);
    cmd.arg("--web.listen-address=127.0.0.1:0")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--cluster.listen-address={gossip}"))
        .arg("--cluster.gossip-interval=100ms")
        .arg(format!(
            "--cluster.peer-timeout={}s",
            PEER_TIMEOUT.as_secs()
        ))
        .arg("--cluster.settle-timeout=5s")
        .arg("--log.level=debug");
    for p in all.iter().filter(|p| **p != gossip) {
        cmd.arg(format!("--cluster.peer={p}"));
    }
    cmd.args(extra);
    let proc = spawn_listening(cmd, Duration::from_secs(20)).await;
    let Some(addr) = proc.addr else {
        panic!(
            "replica {i} did not start: {}",
            proc.stderr.lock().map(|l| l.join("\n")).unwrap_or_default()
        );
    };
    Replica {
        proc,
        addr,
        gossip,
        _dir: dir,
    }
}

/// Waits until every replica sees `n` members and says it is ready.
pub async fn wait_ready(replicas: &[Replica], n: usize) {
    let client = reqwest::Client::new();
    for r in replicas {
        poll::until(
            "the cluster to form and settle",
            Duration::from_secs(30),
            async || {
                let status: Value = client
                    .get(r.url("/api/v2/status"))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                let c = &status["cluster"];
                let peers = c["peers"].as_array().map(|p| p.len()).unwrap_or(0);
                if c["status"] == "ready" && peers == n {
                    Ok(())
                } else {
                    Err(format!("{c}\n{}", r.log()))
                }
            },
        )
        .await;
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

/// Posts `alerts` to every replica, as Prometheus does.
pub async fn post_all(replicas: &[&Replica], alerts: &Value) {
    let client = reqwest::Client::new();
    for r in replicas {
        let resp = client
            .post(r.url("/api/v2/alerts"))
            .json(alerts)
            .send()
            .await
            .expect("post alerts");
        assert_eq!(
            resp.status(),
            200,
            "{}",
            resp.text().await.unwrap_or_default()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_send_each_notification_once_and_share_silences() {
    let sink = HttpServer::plain(|_| TestResponse::ok());
    let text = config(&sink.url("/hook"));
    let replicas = start_cluster(3, &text).await;
    wait_ready(&replicas, 3).await;
    let all: Vec<&Replica> = replicas.iter().collect();

    // A silence created on one replica reaches the others and mutes there too.
    let client = reqwest::Client::new();
    let now = jiff::Timestamp::now();
    let silence = json!({
        "matchers": [{"name": "group", "value": "muted", "isRegex": false, "isEqual": true}],
        "startsAt": now.to_string(),
        "endsAt": (now + jiff::SignedDuration::from_secs(3600)).to_string(),
        "createdBy": "test",
        "comment": "HA",
    });
    let resp = client
        .post(replicas[0].url("/api/v2/silences"))
        .json(&silence)
        .send()
        .await
        .expect("post silence");
    assert_eq!(resp.status(), 200);
    for r in &replicas[1..] {
        poll::until(
            "the silence to reach every replica",
            Duration::from_secs(10),
            async || {
                let list: Value = client
                    .get(r.url("/api/v2/silences"))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                let n = list.as_array().map(|a| a.len()).unwrap_or(0);
                if n == 1 {
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
    post_all(&all, &Value::Array(firing)).await;
    poll::until(
        "every group notified",
        Duration::from_secs(30),
        async || {
            let d = deliveries(&sink);
            let n = groups
                .iter()
                .filter(|g| d.contains_key(&((*g).clone(), "firing".to_string())))
                .count();
            if n == groups.len() {
                Ok(())
            } else {
                Err(format!("{n} of {}: {d:?}", groups.len()))
            }
        },
    )
    .await;
    // Long enough for the last-ranked replica to have sent a duplicate if it were going to.
    tokio::time::sleep(PEER_TIMEOUT * 3).await;

    let resolved: Vec<Value> = groups.iter().map(|g| alert(g, Some(-1))).collect();
    post_all(&all, &Value::Array(resolved)).await;
    poll::until(
        "every group resolved",
        Duration::from_secs(30),
        async || {
            let d = deliveries(&sink);
            let n = groups
                .iter()
                .filter(|g| d.contains_key(&((*g).clone(), "resolved".to_string())))
                .count();
            if n == groups.len() {
                Ok(())
            } else {
                Err(format!("{n} of {}: {d:?}", groups.len()))
            }
        },
    )
    .await;
    tokio::time::sleep(PEER_TIMEOUT * 3).await;

    let d = deliveries(&sink);
    let duplicates: Vec<_> = d.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicates.is_empty(),
        "duplicates: {duplicates:?}\nall: {d:?}"
    );
    assert!(
        !d.keys().any(|(g, _)| g == "muted"),
        "the silence created on one replica did not mute on the others: {d:?}"
    );
    assert_eq!(d.len(), 2 * groups.len(), "{d:?}");
}

/// A small deterministic generator for kill moments (the seed is printed on failure).
struct Lcg(u64);

impl Lcg {
    fn next_ms(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below.max(1)
    }
}

/// kill -9 of each replica in turn at random moments of a group's life (before group_wait
/// ends, during the owner's flush, right after its send, while a silence is being made),
/// each restarted on the same address and storage: no firing or resolved notification is
/// lost; duplicates are counted and reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_any_replica_at_any_moment_loses_no_notification() {
    let rounds: usize = std::env::var("BLACKWATCH_KILL_ROUNDS")
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
    let mut rng = Lcg(seed);
    let sink = HttpServer::plain(|_| TestResponse::ok());
    let text = config(&sink.url("/hook"));
    let mut replicas = start_cluster(3, &text).await;
    wait_ready(&replicas, 3).await;
    let gossip: Vec<SocketAddr> = replicas.iter().map(|r| r.gossip).collect();
    let client = reqwest::Client::new();
    let mut groups = Vec::new();
    for round in 0..rounds {
        let victim = round % 3;
        let batch: Vec<String> = (0..2).map(|i| format!("r{round}-{i}")).collect();
        groups.extend(batch.iter().cloned());
        let alerts = Value::Array(batch.iter().map(|g| alert(g, None)).collect());
        let all: Vec<&Replica> = replicas.iter().collect();
        post_all(&all, &alerts).await;
        if round % 5 == 4 {
            // A silence that mutes nothing of ours, made on the victim just before it dies.
            let now = jiff::Timestamp::now();
            let _ = client
                .post(replicas[victim].url("/api/v2/silences"))
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
        let _ = replicas[victim].proc.child.kill();
        let _ = replicas[victim].proc.child.wait();
        // Prometheus keeps re-sending firing alerts; the survivors get them again.
        let survivors: Vec<&Replica> = replicas
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != victim)
            .map(|(_, r)| r)
            .collect();
        post_all(&survivors, &alerts).await;
        let dir = std::mem::replace(
            &mut replicas[victim]._dir,
            tempfile::tempdir().expect("tempdir"),
        );
        replicas[victim] = restart_replica(gossip[victim], &gossip, &text, dir).await;
    }
    wait_ready(&replicas, 3).await;
    let all: Vec<&Replica> = replicas.iter().collect();
    post_all(
        &all,
        &Value::Array(groups.iter().map(|g| alert(g, None)).collect()),
    )
    .await;
    poll::until(
        "every group's firing notification",
        Duration::from_secs(60),
        async || {
            let d = deliveries(&sink);
            let lost: Vec<&String> = groups
                .iter()
                .filter(|g| !d.contains_key(&((*g).clone(), "firing".to_string())))
                .collect();
            if lost.is_empty() {
                Ok(())
            } else {
                Err(format!("seed {seed}: not notified: {lost:?}"))
            }
        },
    )
    .await;
    post_all(
        &all,
        &Value::Array(groups.iter().map(|g| alert(g, Some(-1))).collect()),
    )
    .await;
    poll::until(
        "every group's resolved notification",
        Duration::from_secs(60),
        async || {
            let d = deliveries(&sink);
            let lost: Vec<&String> = groups
                .iter()
                .filter(|g| !d.contains_key(&((*g).clone(), "resolved".to_string())))
                .collect();
            if lost.is_empty() {
                Ok(())
            } else {
                Err(format!("seed {seed}: not resolved: {lost:?}"))
            }
        },
    )
    .await;
    tokio::time::sleep(PEER_TIMEOUT * 3).await;
    let d = deliveries(&sink);
    let duplicates: usize = d.values().map(|n| n - 1).sum();
    println!(
        "kill test (seed {seed}): {rounds} kill points, {} notifications expected, {} sent, lost 0, duplicates {duplicates}",
        2 * groups.len(),
        d.values().sum::<usize>()
    );
    if std::env::var("BLACKWATCH_KILL_LOGS").is_ok() {
        for r in &replicas {
            println!("=== {}\n{}", r.gossip, r.log());
        }
    }
    // A kill between a send and its gossip costs at most one extra send per group
    // notified at that moment.
    assert!(
        duplicates <= 2 * rounds,
        "seed {seed}: {duplicates} duplicates: {d:?}"
    );
}

/// Starts a replica again on `gossip` with the storage it had (`dir`).
async fn restart_replica(
    gossip: SocketAddr,
    all: &[SocketAddr],
    config_text: &str,
    dir: tempfile::TempDir,
) -> Replica {
    let mut r = start_replica_in(gossip, all, config_text, 0, dir).await;
    r.gossip = gossip;
    r
}

/// Writes a cluster TLS file (Alertmanager's format) and the node's certificate and key,
/// issued by `ca`, into `dir`; returns the flag.
fn tls_files(dir: &std::path::Path, ca: &crate::support::TestCa) -> String {
    let node = ca.issue(&crate::support::LeafSpec::localhost());
    std::fs::write(dir.join("ca.crt"), ca.cert().pem()).expect("ca");
    std::fs::write(dir.join("node.crt"), node.chain_pem()).expect("cert");
    std::fs::write(dir.join("node.key"), node.key_pem()).expect("key");
    std::fs::write(
        dir.join("cluster-tls.yml"),
        "tls_server_config:\n  cert_file: node.crt\n  key_file: node.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\ntls_client_config:\n  ca_file: ca.crt\n  cert_file: node.crt\n  key_file: node.key\n",
    )
    .expect("tls config");
    format!(
        "--cluster.tls-config={}",
        dir.join("cluster-tls.yml").display()
    )
}

/// Gossip over mutual TLS: the replicas form a cluster, notify once and share silences; a
/// replica whose certificate another CA issued cannot join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_over_mutual_tls_forms_the_cluster_and_keeps_strangers_out() {
    crate::support::install_crypto();
    let sink = HttpServer::plain(|_| TestResponse::ok());
    let text = config(&sink.url("/hook"));
    let ca = crate::support::TestCa::new("cluster CA");
    let gossip: Vec<SocketAddr> = (0..3)
        .map(|_| SocketAddr::from(([127, 0, 0, 1], free_tcp_port())))
        .collect();
    let mut replicas = Vec::new();
    for (i, g) in gossip.iter().enumerate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let flag = tls_files(dir.path(), &ca);
        replicas.push(start_replica_with(*g, &gossip, &text, i, dir, &[flag]).await);
    }
    wait_ready(&replicas, 3).await;

    // A stranger with another CA's certificate, pointed at the three.
    let other = crate::support::TestCa::new("another CA");
    let stranger_addr = SocketAddr::from(([127, 0, 0, 1], free_tcp_port()));
    let dir = tempfile::tempdir().expect("tempdir");
    let flag = tls_files(dir.path(), &other);
    let mut all = gossip.clone();
    all.push(stranger_addr);
    let stranger = start_replica_with(stranger_addr, &all, &text, 3, dir, &[flag]).await;

    let all_replicas: Vec<&Replica> = replicas.iter().collect();
    let groups: Vec<String> = (0..5).map(|i| format!("tls{i}")).collect();
    post_all(
        &all_replicas,
        &Value::Array(groups.iter().map(|g| alert(g, None)).collect()),
    )
    .await;
    poll::until(
        "every group notified over TLS gossip",
        Duration::from_secs(30),
        async || {
            let d = deliveries(&sink);
            let n = groups
                .iter()
                .filter(|g| d.contains_key(&((*g).clone(), "firing".into())))
                .count();
            if n == groups.len() {
                Ok(())
            } else {
                Err(format!("{d:?}"))
            }
        },
    )
    .await;
    tokio::time::sleep(PEER_TIMEOUT * 3).await;
    let d = deliveries(&sink);
    assert!(
        d.values().all(|n| *n == 1),
        "duplicates over TLS gossip: {d:?}"
    );

    let client = reqwest::Client::new();
    for r in &replicas {
        let status: Value = client
            .get(r.url("/api/v2/status"))
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("json");
        let peers = status["cluster"]["peers"]
            .as_array()
            .map(|p| p.len())
            .unwrap_or(0);
        assert_eq!(
            peers,
            3,
            "the stranger joined: {status}\n{}",
            stranger.log()
        );
    }
    assert!(
        replicas[0].log().contains("Gossip TLS handshake failed"),
        "the stranger's handshake was not refused:\n{}",
        replicas[0].log()
    );
}

/// A TCP port free right now on loopback (gossip over TLS listens on TCP).
fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("tcp port")
}

/// A bad `--cluster.tls-config` stops the start with the file, position and field.
#[test]
fn a_bad_cluster_tls_file_stops_the_start_with_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tls.yml");
    std::fs::write(
        &path,
        "tls_server_config:\n  cert_file: node.crt\n  key_file: node.key\n  client_auth_type: Sometimes\ntls_client_config:\n  ca_file: ca.crt\n",
    )
    .expect("write");
    let out = Command::new(BIN)
        .arg("--web.listen-address=127.0.0.1:0")
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg("--cluster.listen-address=127.0.0.1:0")
        .arg(format!("--cluster.tls-config={}", path.display()))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:4:", path.display()))
            && err.contains("tls_server_config.client_auth_type")
            && err.contains("invalid ClientAuth: Sometimes"),
        "{err}"
    );
    assert!(!err.contains("listening on"), "{err}");
}
