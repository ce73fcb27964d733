//! High availability (issue 17): real blackwatch processes on loopback gossiping with each
//! other, a webhook sink that counts deliveries per (group, status). Alerts are posted to
//! every replica, as Prometheus posts to every Alertmanager.

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::http::{HttpServer, TestResponse};
use crate::support::killtest::{self, Instances};
use crate::support::poll;
use crate::support::process::{spawn_listening, Spawned};

pub const BIN: &str = env!("CARGO_BIN_EXE_blackwatch");
pub const PEER_TIMEOUT: Duration = Duration::from_secs(2);

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
pub fn config(sink: &str) -> String {
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
    let mut cmd = Command::new(BIN);
    cmd.args(replica_args("127.0.0.1:0", gossip, all, config_text, &dir));
    cmd.args(extra);
    spawn_replica(cmd, gossip, i, dir).await
}

/// Writes `config_text` into `dir` and returns the flags of a replica listening on `web`
/// and gossiping on `gossip` with the others of `all`, its storage in `dir`.
pub fn replica_args(
    web: &str,
    gossip: SocketAddr,
    all: &[SocketAddr],
    config_text: &str,
    dir: &tempfile::TempDir,
) -> Vec<String> {
    let cfg = dir.path().join("blackwatch.yml");
    std::fs::write(&cfg, config_text).expect("config");
    let mut args = vec![
        format!("--web.listen-address={web}"),
        format!("--config.file={}", cfg.display()),
        format!("--storage.path={}", dir.path().join("data").display()),
        format!("--cluster.listen-address={gossip}"),
        "--cluster.gossip-interval=100ms".to_string(),
        format!("--cluster.peer-timeout={}s", PEER_TIMEOUT.as_secs()),
        "--cluster.settle-timeout=5s".to_string(),
        "--log.level=debug".to_string(),
    ];
    for p in all.iter().filter(|p| **p != gossip) {
        args.push(format!("--cluster.peer={p}"));
    }
    args
}

/// Spawns `cmd` (a replica's command line) and waits for it to listen.
pub async fn spawn_replica(
    cmd: Command,
    gossip: SocketAddr,
    i: usize,
    dir: tempfile::TempDir,
) -> Replica {
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
                let status: Value = killtest::get_json(&client, r.url("/api/v2/status")).await?;
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

/// Webhook deliveries per (group label, status), and the test alert of a group (shared with
/// the kill schedule of `support/killtest.rs`).
pub use crate::support::killtest::{alert, deliveries};

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
                let list: Value = killtest::get_json(&client, r.url("/api/v2/silences")).await?;
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
    let missing = killtest::wait_delivered(&sink, &groups, "firing", Duration::from_secs(30)).await;
    assert!(
        missing.is_empty(),
        "not firing: {missing:?}\n{:?}",
        deliveries(&sink)
    );
    // Long enough for the last-ranked replica to have sent a duplicate if it were going to.
    tokio::time::sleep(PEER_TIMEOUT * 3).await;

    let resolved: Vec<Value> = groups.iter().map(|g| alert(g, Some(-1))).collect();
    post_all(&all, &Value::Array(resolved)).await;
    let missing =
        killtest::wait_delivered(&sink, &groups, "resolved", Duration::from_secs(30)).await;
    assert!(
        missing.is_empty(),
        "not resolved: {missing:?}\n{:?}",
        deliveries(&sink)
    );
    tokio::time::sleep(PEER_TIMEOUT * 3).await;

    let d = deliveries(&sink);
    let duplicates: Vec<_> = d.iter().filter(|(_, n)| **n > 1).collect();
    println!(
        "steady state, blackwatch: {} groups, {} notifications expected, {} sent, duplicates {}",
        groups.len(),
        2 * groups.len(),
        d.values().sum::<usize>(),
        d.values().map(|n| n - 1).sum::<usize>()
    );
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

/// The blackwatch side of the shared kill schedule (`support/killtest.rs`).
pub struct KillCluster {
    pub replicas: Vec<Replica>,
    gossip: Vec<SocketAddr>,
    text: String,
}

impl Instances for KillCluster {
    fn len(&self) -> usize {
        self.replicas.len()
    }

    fn base(&self, i: usize) -> String {
        format!("http://{}", self.replicas[i].addr)
    }

    fn kill(&mut self, i: usize) {
        let _ = self.replicas[i].proc.child.kill();
        let _ = self.replicas[i].proc.child.wait();
    }

    /// Starts the replica again on its gossip address with the storage it had.
    async fn restart(&mut self, i: usize) {
        let dir = std::mem::replace(
            &mut self.replicas[i]._dir,
            tempfile::tempdir().expect("tempdir"),
        );
        self.replicas[i] = start_replica_in(self.gossip[i], &self.gossip, &self.text, i, dir).await;
    }

    async fn wait_ready(&self) {
        wait_ready(&self.replicas, self.replicas.len()).await;
    }
}

/// kill -9 of each replica in turn at random moments of a group's life (before group_wait
/// ends, during the owner's flush, right after its send, while a silence is being made),
/// each restarted on the same address and storage: no firing or resolved notification is
/// lost; duplicates are counted and reported. `cluster_am.rs` runs the same schedule
/// against Alertmanager 0.25.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_any_replica_at_any_moment_loses_no_notification() {
    let (rounds, seed) = killtest::rounds_and_seed();
    let sink = HttpServer::plain(|_| TestResponse::ok());
    let text = config(&sink.url("/hook"));
    let replicas = start_cluster(3, &text).await;
    wait_ready(&replicas, 3).await;
    let gossip = replicas.iter().map(|r| r.gossip).collect();
    let mut cluster = KillCluster {
        replicas,
        gossip,
        text,
    };
    let out = killtest::run(&mut cluster, &sink, rounds, seed, PEER_TIMEOUT * 3).await;
    println!("{}", out.summary("blackwatch"));
    if std::env::var("BLACKWATCH_KILL_LOGS").is_ok() {
        for r in &cluster.replicas {
            println!("=== {}\n{}", r.gossip, r.log());
        }
    }
    assert!(out.lost.is_empty(), "seed {seed}: lost {:?}", out.lost);
    assert!(
        out.firing_after_resolved.is_empty(),
        "seed {seed}: a stale firing notification after the resolved one: {:?}",
        out.firing_after_resolved
    );
    // A kill between a send and its gossip costs at most one extra send per group
    // notified at that moment.
    assert!(
        out.duplicates <= 2 * rounds,
        "seed {seed}: {} duplicates: {:?}",
        out.duplicates,
        out.deliveries
    );
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
