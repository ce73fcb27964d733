//! High availability under network partitions (issue 17): three blackwatch replicas, each
//! in a network namespace of its own made by the test (`ip netns`, one veth per namespace on
//! a bridge in the root namespace, private addresses 10.231.X.0/24), the webhook sink in
//! the root namespace on the bridge's address, reachable from all. A partition is an
//! nftables table in each namespace dropping what arrives from the replicas on the other
//! sides (gossip vanishes as on a broken network; the test and the sink still reach every
//! replica, as Prometheus and a receiver would). Scenarios: a 1|2 split and a full split,
//! held well beyond `--cluster.peer-timeout` while alerts fire and resolve, then healed:
//! nothing lost, silences and the notification log converge, duplicates only during the
//! split (counted and printed).
//!
//! Needs root (network namespaces) and nftables: without root or `ip netns`, each test
//! prints why it skipped on the real stderr (not captured) and passes; a missing `nft` is a
//! failure (CI installs nftables). Everything made is removed on drop, panics included;
//! leftovers of a killed test process are removed by the next run.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use crate::cluster::{config, replica_args, spawn_replica, wait_ready, Replica, BIN, PEER_TIMEOUT};
use crate::support::http::{HttpServer, TestResponse};
use crate::support::killtest::{self, alert, deliveries, post, wait_delivered};
use crate::support::poll;

/// Names are `bwp<pid>x<k>n<i>` (namespaces) and `bwb<pid>x<k>` (bridges): the pid tells
/// a leftover of a dead test process from one in use.
const NS_PREFIX: &str = "bwp";
const BRIDGE_PREFIX: &str = "bwb";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Runs a command; its stderr when it fails.
fn sh(args: &[&str]) -> Result<String, String> {
    sh_in(args, None)
}

fn sh_in(args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{args:?}: {e}"))?;
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        pipe.write_all(text.as_bytes())
            .map_err(|e| format!("{args:?}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{args:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ))
    }
}

/// The pid in a name made by [`Netns`], if it is one.
fn owner_pid(name: &str, prefix: &str) -> Option<u32> {
    name.strip_prefix(prefix)?.split('x').next()?.parse().ok()
}

/// Removes namespaces and bridges left by test processes that no longer run.
fn remove_leftovers() {
    let alive = |pid: u32| std::path::Path::new(&format!("/proc/{pid}")).exists();
    if let Ok(list) = sh(&["ip", "netns", "list"]) {
        for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
            if owner_pid(name, NS_PREFIX).is_some_and(|p| !alive(p)) {
                let _ = sh(&["ip", "netns", "del", name]);
            }
        }
    }
    if let Ok(list) = sh(&["ip", "-o", "link", "show", "type", "bridge"]) {
        for name in list
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(str::trim)
        {
            if owner_pid(name, BRIDGE_PREFIX).is_some_and(|p| !alive(p)) {
                let _ = sh(&["ip", "link", "del", name]);
            }
        }
    }
}

/// Why these tests cannot run here, if they cannot.
fn skip_reason() -> Option<String> {
    match sh(&["id", "-u"]) {
        Ok(uid) if uid.trim() == "0" => {}
        Ok(uid) => return Some(format!("not root (uid {})", uid.trim())),
        Err(e) => return Some(e),
    }
    let probe = format!(
        "{NS_PREFIX}{}xprobe{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    if let Err(e) = sh(&["ip", "netns", "add", &probe]) {
        return Some(format!("`ip netns` is unavailable: {e}"));
    }
    let _ = sh(&["ip", "netns", "del", &probe]);
    None
}

/// `n` namespaces on a bridge; removed on drop.
struct Netns {
    subnet: u8,
    bridge: Option<String>,
    namespaces: Vec<String>,
    /// Which namespaces hold a partition table now.
    partitioned: Vec<bool>,
}

impl Netns {
    /// Builds the namespaces, or says why it cannot (printed on the real stderr, which the
    /// test harness does not capture, so a skip is never silent).
    fn create_or_skip(test: &str, n: usize) -> Option<Self> {
        if let Some(why) = skip_reason() {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: needs root and network namespaces: {why}"
            );
            return None;
        }
        assert!(
            sh(&["nft", "--version"]).is_ok(),
            "{test} needs nftables: apt-get install -y nftables"
        );
        remove_leftovers();
        Some(Self::create(n))
    }

    fn create(n: usize) -> Self {
        let pid = std::process::id();
        let k = NEXT.fetch_add(1, Ordering::Relaxed);
        let used = sh(&["ip", "-4", "-o", "addr", "show"]).unwrap_or_default();
        let mut subnet = ((pid.wrapping_mul(7).wrapping_add(k)) % 250 + 1) as u8;
        while used.contains(&format!("10.231.{subnet}.")) {
            subnet = subnet % 250 + 1;
        }
        let mut net = Self {
            subnet,
            bridge: None,
            namespaces: Vec::new(),
            partitioned: vec![false; n],
        };
        let bridge = format!("{BRIDGE_PREFIX}{pid}x{k}");
        let host = format!("{}/24", net.host());
        sh(&["ip", "link", "add", &bridge, "type", "bridge"]).expect("bridge");
        net.bridge = Some(bridge.clone());
        sh(&["ip", "addr", "add", &host, "dev", &bridge]).expect("bridge address");
        sh(&["ip", "link", "set", &bridge, "up"]).expect("bridge up");
        for i in 0..n {
            let ns = format!("{NS_PREFIX}{pid}x{k}n{i}");
            sh(&["ip", "netns", "add", &ns]).expect("netns");
            net.namespaces.push(ns.clone());
            let veth = format!("bv{pid}x{k}{i}");
            sh(&[
                "ip", "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])
            .expect("veth pair");
            sh(&["ip", "link", "set", &veth, "master", &bridge, "up"]).expect("veth on bridge");
            let addr = format!("{}/24", net.addr(i));
            sh(&["ip", "-n", &ns, "addr", "add", &addr, "dev", "eth0"]).expect("address");
            sh(&["ip", "-n", &ns, "link", "set", "eth0", "up"]).expect("eth0 up");
            sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]).expect("lo up");
        }
        net
    }

    /// The root namespace's address on the bridge (the sink's).
    fn host(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 231, self.subnet, 1)
    }

    /// Namespace `i`'s address.
    fn addr(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 231, self.subnet, i as u8 + 2)
    }

    /// Drops, in every namespace, what arrives from the namespaces on other sides.
    fn partition(&mut self, sides: &[Vec<usize>]) {
        for side in sides {
            let others: Vec<String> = (0..self.namespaces.len())
                .filter(|j| !side.contains(j))
                .map(|j| self.addr(j).to_string())
                .collect();
            if others.is_empty() {
                continue;
            }
            let rules = format!(
                "table inet bwpart {{\n  chain input {{\n    type filter hook input priority 0; policy accept;\n    ip saddr {{ {} }} drop\n  }}\n}}\n",
                others.join(", ")
            );
            for &i in side {
                sh_in(
                    &["ip", "netns", "exec", &self.namespaces[i], "nft", "-f", "-"],
                    Some(&rules),
                )
                .expect("nft partition rules");
                self.partitioned[i] = true;
            }
        }
    }

    fn heal(&mut self) {
        for (i, ns) in self.namespaces.iter().enumerate() {
            if std::mem::take(&mut self.partitioned[i]) {
                sh(&[
                    "ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "bwpart",
                ])
                .expect("nft heal");
            }
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair, and with it the other end.
        for ns in &self.namespaces {
            let _ = sh(&["ip", "netns", "del", ns]);
        }
        if let Some(b) = &self.bridge {
            let _ = sh(&["ip", "link", "del", b]);
        }
    }
}

/// Deliveries in `after` beyond the first ever: duplicates made since `before`.
fn duplicates_since(
    before: &BTreeMap<(String, String), usize>,
    after: &BTreeMap<(String, String), usize>,
) -> BTreeMap<(String, String), usize> {
    after
        .iter()
        .filter_map(|(k, n)| {
            let was = before.get(k).copied().unwrap_or(0);
            let extra = n.saturating_sub(was.max(1));
            (extra > 0).then(|| (k.clone(), extra))
        })
        .collect()
}

/// Who sent each (group, status), by the replica's address.
fn senders(sink: &HttpServer) -> BTreeMap<(String, String), Vec<IpAddr>> {
    let mut out: BTreeMap<_, Vec<IpAddr>> = BTreeMap::new();
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
        out.entry(key).or_default().push(req.remote_addr.ip());
    }
    out
}

fn names(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

fn firing(groups: &[String]) -> Value {
    Value::Array(groups.iter().map(|g| alert(g, None)).collect())
}

fn resolved(groups: &[String]) -> Value {
    Value::Array(groups.iter().map(|g| alert(g, Some(-1))).collect())
}

/// Waits until every replica's `/api/v2/status` lists as many peers as its side has.
async fn wait_members(client: &reqwest::Client, replicas: &[Replica], sides: &[Vec<usize>]) {
    for side in sides {
        for &i in side {
            let url = replicas[i].url("/api/v2/status");
            poll::until(
                "each replica to see only its side",
                Duration::from_secs(60),
                async || {
                    let status: Value = killtest::get_json(client, &url).await?;
                    let peers = status["cluster"]["peers"]
                        .as_array()
                        .map(|p| p.len())
                        .unwrap_or(0);
                    if peers == side.len() {
                        Ok(())
                    } else {
                        Err(format!("replica {i}: {}", status["cluster"]))
                    }
                },
            )
            .await;
        }
    }
}

async fn silences(client: &reqwest::Client, r: &Replica) -> Result<Vec<Value>, String> {
    let list: Value = killtest::get_json(client, r.url("/api/v2/silences")).await?;
    Ok(list.as_array().cloned().unwrap_or_default())
}

/// The scenario both tests run, `sides` being the partition (every replica on exactly one
/// side):
/// 1. before: `pre*` groups fire, each notified once;
/// 2. split (detected by every replica, then held ~20 s, ten peer-timeouts): half the `pre*`
///    groups resolve, `split*` groups fire and half of them resolve, a silence for group
///    `silenced` is made on replica 0 (and is not seen across the split);
/// 3. heal: every replica sees all; the silence is on every replica; the groups still
///    firing are posted again and nobody notifies them again; `post*` groups fire; every
///    group resolves; `silenced` fires and is never delivered.
///
/// Asserts nothing lost, no duplicate before the split or after the heal; prints the
/// split's duplicates and who sent them.
async fn split_and_heal(test: &str, sides: Vec<Vec<usize>>) {
    let Some(mut net) = Netns::create_or_skip(test, 3) else {
        return;
    };
    crate::support::install_crypto();
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let sink = HttpServer::plain_on(IpAddr::V4(net.host()), |_| TestResponse::ok());
    let text = config(&sink.url("/hook"));
    let gossip: Vec<SocketAddr> = (0..3)
        .map(|i| SocketAddr::new(IpAddr::V4(net.addr(i)), 9094))
        .collect();
    // Declared after `net`, so the replicas are killed before their namespaces go.
    let mut replicas = Vec::new();
    for (i, g) in gossip.iter().enumerate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let web = format!("{}:9093", net.addr(i));
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &net.namespaces[i], BIN])
            .args(replica_args(&web, *g, &gossip, &text, &dir));
        replicas.push(spawn_replica(cmd, *g, i, dir).await);
    }
    wait_ready(&replicas, 3).await;
    let bases: Vec<String> = replicas.iter().map(|r| r.url("")).collect();
    let quiet = PEER_TIMEOUT * 3;
    let wait = Duration::from_secs(30);
    let mut lost = Vec::new();

    // 1. Before the split.
    let pre = names("pre", 0..6);
    let (pre_resolved_in_split, pre_resolved_after) = pre.split_at(3);
    post(&client, &bases, &firing(&pre)).await;
    lost.extend(wait_delivered(&sink, &pre, "firing", wait).await);
    tokio::time::sleep(quiet).await;
    let at_split = deliveries(&sink);

    // 2. The split.
    let started = tokio::time::Instant::now();
    net.partition(&sides);
    wait_members(&client, &replicas, &sides).await;
    let detected = started.elapsed();
    let split = names("split", 0..6);
    let (split_resolved_in_split, split_resolved_after) = split.split_at(3);
    post(&client, &bases, &resolved(pre_resolved_in_split)).await;
    post(&client, &bases, &firing(&split)).await;
    let now = jiff::Timestamp::now();
    let resp = client
        .post(replicas[0].url("/api/v2/silences"))
        .json(&json!({
            "matchers": [{"name": "group", "value": "silenced", "isRegex": false, "isEqual": true}],
            "startsAt": now.to_string(),
            "endsAt": (now + jiff::SignedDuration::from_secs(3600)).to_string(),
            "createdBy": "partition test",
            "comment": "made during the split",
        }))
        .send()
        .await
        .expect("post silence");
    assert_eq!(resp.status(), 200);
    lost.extend(wait_delivered(&sink, pre_resolved_in_split, "resolved", wait).await);
    lost.extend(wait_delivered(&sink, &split, "firing", wait).await);
    tokio::time::sleep(quiet).await;
    post(&client, &bases, &resolved(split_resolved_in_split)).await;
    lost.extend(wait_delivered(&sink, split_resolved_in_split, "resolved", wait).await);
    tokio::time::sleep(quiet).await;
    for (i, r) in replicas.iter().enumerate().skip(1) {
        if sides.iter().any(|s| s.contains(&0) && s.contains(&i)) {
            continue;
        }
        let seen = silences(&client, r).await.expect("silences");
        assert!(
            seen.is_empty(),
            "{test}: replica {i} saw the silence made on replica 0 across the split: the partition is not real: {seen:?}"
        );
    }
    let held = started.elapsed();
    let at_heal = deliveries(&sink);

    // 3. Heal.
    net.heal();
    let healed = tokio::time::Instant::now();
    wait_ready(&replicas, 3).await;
    let rejoined = healed.elapsed();
    for r in &replicas {
        poll::until(
            "the silence made during the split to reach every replica",
            Duration::from_secs(20),
            async || {
                let seen = silences(&client, r).await?;
                if seen.len() == 1 {
                    Ok(())
                } else {
                    Err(format!("{seen:?}"))
                }
            },
        )
        .await;
    }
    // Prometheus keeps sending what still fires; nobody may notify it again.
    let still_firing: Vec<String> = pre_resolved_after
        .iter()
        .chain(split_resolved_after)
        .cloned()
        .collect();
    let mut again = still_firing.clone();
    again.push("silenced".to_string());
    post(&client, &bases, &firing(&again)).await;
    let after = names("post", 0..3);
    post(&client, &bases, &firing(&after)).await;
    lost.extend(wait_delivered(&sink, &after, "firing", wait).await);
    // Two group_intervals and every rank's wait: any re-notification would be out by now.
    tokio::time::sleep(Duration::from_secs(4) + quiet).await;
    let renotified: Vec<(String, usize)> = still_firing
        .iter()
        .filter_map(|g| {
            let k = (g.clone(), "firing".to_string());
            let (was, now) = (
                at_heal.get(&k).copied().unwrap_or(0),
                deliveries(&sink).get(&k).copied().unwrap_or(0),
            );
            (now > was).then(|| (g.clone(), now - was))
        })
        .collect();
    let mut to_resolve = still_firing.clone();
    to_resolve.extend(after.iter().cloned());
    to_resolve.push("silenced".to_string());
    post(&client, &bases, &resolved(&to_resolve)).await;
    to_resolve.pop();
    lost.extend(wait_delivered(&sink, &to_resolve, "resolved", wait).await);
    tokio::time::sleep(quiet).await;
    let end = deliveries(&sink);

    let before_split = duplicates_since(&BTreeMap::new(), &at_split);
    let during_split = duplicates_since(&at_split, &at_heal);
    let after_heal = duplicates_since(&at_heal, &end);
    let who = senders(&sink);
    let split_count: usize = during_split.values().sum();
    println!(
        "{test}: sides {sides:?}; split detected in {detected:.1?}, held {held:.1?}, rejoined {rejoined:.1?} after heal; {} notifications sent, lost {}, duplicates before split {}, during split {split_count}, after heal {}; re-notified after heal {renotified:?}",
        end.values().sum::<usize>(),
        lost.len(),
        before_split.values().sum::<usize>(),
        after_heal.values().sum::<usize>(),
    );
    for k in during_split.keys() {
        println!("  split duplicate {k:?} sent by {:?}", who.get(k));
    }
    let logs = || {
        replicas
            .iter()
            .map(|r| format!("=== {}\n{}", r.gossip, r.log()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        lost.is_empty(),
        "{test}: lost {lost:?}\n{end:?}\n{}",
        logs()
    );
    assert!(
        !end.keys().any(|(g, _)| g == "silenced"),
        "{test}: the silence made during the split did not mute after the heal: {end:?}"
    );
    assert!(
        renotified.is_empty(),
        "{test}: groups notified before the heal were notified again after it (nflog did not converge): {renotified:?}\n{}",
        logs()
    );
    assert!(
        before_split.is_empty() && after_heal.is_empty(),
        "{test}: duplicates outside the split: before {before_split:?}, after heal {after_heal:?} (senders {who:?})\n{}",
        logs()
    );
}

/// Replica 0 alone against replicas 1 and 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_two_split_then_heal_loses_nothing_and_converges() {
    split_and_heal("one_two_split", vec![vec![0], vec![1, 2]]).await;
}

/// Every replica alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_split_then_heal_loses_nothing_and_converges() {
    split_and_heal("full_split", vec![vec![0], vec![1], vec![2]]).await;
}
