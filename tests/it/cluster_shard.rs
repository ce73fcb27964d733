//! Scale-out probing in a cluster (issue 17): three real replicas share 60 scheduled
//! targets on a loopback HTTP server, each target probed by exactly `--cluster.probe-replicas`
//! members; every replica's rules see every target (results are gossiped), so a `for`
//! alert on a failing target fires once and stays firing when the replica probing it is
//! killed and another takes the target over.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::cluster::{free_udp_port, start_replica_with, wait_ready, Replica};
use crate::support::http::{HttpServer, TestResponse};
use crate::support::{poll, Metrics};

const TARGETS: usize = 60;
const FAILING: usize = 7;

fn config(server: &HttpServer, sink: &str) -> String {
    config_for(server, sink, TARGETS, "1s")
}

/// `n` targets probed every `interval`.
fn config_for(server: &HttpServer, sink: &str, n: usize, interval: &str) -> String {
    let targets: Vec<String> = (0..n)
        .map(|i| format!("\"{}\"", server.url(&format!("/t/{i}"))))
        .collect();
    format!(
        r#"
global:
  evaluation_interval: 1s
rule_files: [alerts.yml]
modules:
  http_2xx:
    prober: http
    timeout: 2s
    http:
      preferred_ip_protocol: ip4
probes:
  - job: web
    module: http_2xx
    interval: {interval}
    targets: [{}]
alerting:
  route:
    receiver: sink
    group_by: [instance]
    group_wait: 1s
    group_interval: 2s
    repeat_interval: 1h
  receivers:
    - name: sink
      webhook_configs:
        - url: {sink}
          send_resolved: true
"#,
        targets.join(", ")
    )
}

const RULES: &str = r#"
groups:
  - name: targets
    rules:
      - alert: TargetDown
        expr: probe_success == 0
        for: 4s
      - alert: ManyDown
        expr: count(probe_success == 0) >= 1
        for: 2s
"#;

async fn start(
    n: usize,
    config_text: &str,
    probe_replicas: usize,
) -> (Vec<Replica>, Vec<SocketAddr>) {
    crate::support::install_crypto();
    let gossip: Vec<SocketAddr> = (0..n)
        .map(|_| SocketAddr::from(([127, 0, 0, 1], free_udp_port())))
        .collect();
    let mut out = Vec::new();
    for (i, g) in gossip.iter().enumerate() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("alerts.yml"), RULES).expect("rules");
        let extra = [format!("--cluster.probe-replicas={probe_replicas}")];
        out.push(start_replica_with(*g, &gossip, config_text, i, dir, &extra).await);
    }
    (out, gossip)
}

async fn metrics(r: &Replica, query: &str) -> Result<Metrics, String> {
    let text = reqwest::get(r.url(&format!("/metrics{query}")))
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    Ok(Metrics::parse(&text))
}

/// The instances whose `probe_success` a replica's `/metrics` shows.
async fn probed(r: &Replica, query: &str) -> Result<BTreeSet<String>, String> {
    Ok(metrics(r, query)
        .await?
        .family("probe_success")
        .iter()
        .filter_map(|s| s.labels.get("instance").cloned())
        .collect())
}

fn path_of(instance: &str) -> String {
    instance.rsplit('/').next().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_are_sharded_and_a_killed_replicas_targets_move_without_a_flap() {
    let down: Arc<Mutex<HashSet<String>>> =
        Arc::new(Mutex::new(HashSet::from([FAILING.to_string()])));
    let failing = down.clone();
    let server = HttpServer::plain(move |req| {
        let id = path_of(req.path());
        if failing.lock().map(|d| d.contains(&id)).unwrap_or(false) {
            TestResponse::new(503)
        } else {
            TestResponse::ok()
        }
    });
    let sink = HttpServer::plain(|_| TestResponse::ok());
    let text = config(&server, &sink.url("/hook"));
    let (mut replicas, _gossip) = start(3, &text, 1).await;
    wait_ready(&replicas, 3).await;
    let all: BTreeSet<String> = (0..TARGETS)
        .map(|i| server.url(&format!("/t/{i}")))
        .collect();

    // Each target probed by exactly one member; together they probe all.
    let shares = poll::until(
        "the targets to be shared out",
        Duration::from_secs(30),
        async || {
            let mut shares = Vec::new();
            for r in &replicas {
                shares.push(probed(r, "").await?);
            }
            let total: usize = shares.iter().map(|s| s.len()).sum();
            let union: BTreeSet<String> = shares.iter().flatten().cloned().collect();
            if total == TARGETS && union == all {
                Ok(shares)
            } else {
                Err(format!(
                    "sizes {:?}, union {}",
                    shares.iter().map(|s| s.len()).collect::<Vec<_>>(),
                    union.len()
                ))
            }
        },
    )
    .await;
    for s in &shares {
        assert!(
            s.len() >= 5,
            "uneven shares: {:?}",
            shares.iter().map(|s| s.len()).collect::<Vec<_>>()
        );
    }
    // The status page lists the members and what each probes, as the replicas do.
    let page = reqwest::get(replicas[0].url("/"))
        .await
        .expect("status page")
        .text()
        .await
        .expect("page");
    assert_eq!(page.matches("<tr class=\"member\">").count(), 3, "{page}");
    assert!(page.contains("(this replica)"));
    for s in &shares {
        assert!(
            page.contains(&format!("<td class=\"num\">{}</td></tr>", s.len())),
            "share {} not on the page",
            s.len()
        );
    }
    // Every replica sees the whole cluster's results (rules do), `?cluster=1` shows them:
    // the series rules read and probe_success/probe_duration_seconds; the others only
    // for the targets the replica probes itself (--cluster.share-results=rules).
    for (r, share) in replicas.iter().zip(&shares) {
        let seen = probed(r, "?cluster=1").await.expect("cluster metrics");
        assert_eq!(seen, all);
        let m = metrics(r, "?cluster=1").await.expect("cluster metrics");
        assert_eq!(m.family("probe_duration_seconds").len(), TARGETS);
        assert_eq!(m.family("probe_http_status_code").len(), share.len());
    }

    // The failing target's alert fires once.
    let failing_instance = server.url(&format!("/t/{FAILING}"));
    poll::until(
        "TargetDown to be notified",
        Duration::from_secs(30),
        async || {
            let d = deliveries_by_instance(&sink);
            if d.get(&(failing_instance.clone(), "firing".into()))
                .copied()
                .unwrap_or(0)
                >= 1
            {
                Ok(())
            } else {
                Err(format!("{d:?}"))
            }
        },
    )
    .await;

    // Kill the replica probing it; another takes it over.
    let owner = shares
        .iter()
        .position(|s| s.contains(&failing_instance))
        .expect("an owner");
    let _ = replicas[owner].proc.child.kill();
    let _ = replicas[owner].proc.child.wait();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != owner).collect();
    poll::until(
        "the killed replica's targets to be taken over",
        Duration::from_secs(40),
        async || {
            let mut union = BTreeSet::new();
            let mut total = 0;
            for &i in &survivors {
                let s = probed(&replicas[i], "").await?;
                total += s.len();
                union.extend(s);
            }
            if union == all && total == TARGETS {
                Ok(())
            } else {
                Err(format!(
                    "{} of {TARGETS} probed, {total} loops",
                    union.len()
                ))
            }
        },
    )
    .await;
    // Let a flapping alert show itself: more than `for` and a group interval.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let d = deliveries_by_instance(&sink);
    assert_eq!(
        d.get(&(failing_instance.clone(), "resolved".into())),
        None,
        "TargetDown resolved during the move: {d:?}"
    );
    let firing = d
        .get(&(failing_instance.clone(), "firing".into()))
        .copied()
        .unwrap_or(0);
    assert!(firing >= 1, "{d:?}");
    // Still firing on every survivor.
    for &i in &survivors {
        let alerts: Value = reqwest::get(replicas[i].url("/api/v2/alerts"))
            .await
            .expect("alerts")
            .json()
            .await
            .expect("json");
        let active = alerts.as_array().into_iter().flatten().any(|a| {
            a["labels"]["alertname"] == "TargetDown"
                && a["labels"]["instance"] == failing_instance.as_str()
        });
        assert!(active, "replica {i} lost TargetDown: {alerts}");
    }
    // Ownership moves are counted where the targets arrived.
    let mut moves = 0.0;
    for &i in &survivors {
        moves += metrics(&replicas[i], "")
            .await
            .expect("metrics")
            .value("blackwatch_schedule_ownership_moves_total");
    }
    assert!(moves >= 1.0, "no ownership move counted");
    replicas.clear();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_replicas_2_probes_each_target_on_two_members() {
    let server = HttpServer::plain(|_| TestResponse::ok());
    let sink = HttpServer::plain(|_| TestResponse::ok());
    let text = config(&server, &sink.url("/hook"));
    let (replicas, _gossip) = start(3, &text, 2).await;
    wait_ready(&replicas, 3).await;
    poll::until(
        "each target on exactly two members",
        Duration::from_secs(30),
        async || {
            let mut count: BTreeMap<String, usize> = BTreeMap::new();
            for r in &replicas {
                for i in probed(r, "").await? {
                    *count.entry(i).or_default() += 1;
                }
            }
            if count.len() == TARGETS && count.values().all(|n| *n == 2) {
                Ok(())
            } else {
                Err(format!(
                    "{} targets, counts {:?}",
                    count.len(),
                    count.values().collect::<BTreeSet<_>>()
                ))
            }
        },
    )
    .await;
}

/// Deliveries per (instance, status) for groups by instance.
fn deliveries_by_instance(sink: &HttpServer) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for req in sink.requests() {
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            continue;
        };
        let instance = body["groupLabels"]["instance"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if instance.is_empty() {
            continue;
        }
        let status = body["status"].as_str().unwrap_or("").to_string();
        *out.entry((instance, status)).or_default() += 1;
    }
    out
}

/// The issue's size: 3,000 targets over 3 replicas, each probed by exactly one; a killed
/// replica's targets are all taken over by the two others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_thousand_targets_are_each_probed_once_and_taken_over_after_a_kill() {
    const N: usize = 3000;
    let server = HttpServer::plain(|_| TestResponse::ok());
    let sink = HttpServer::plain(|_| TestResponse::ok());
    let text = config_for(&server, &sink.url("/hook"), N, "5s");
    let (mut replicas, _gossip) = start(3, &text, 1).await;
    wait_ready(&replicas, 3).await;
    let all: BTreeSet<String> = (0..N).map(|i| server.url(&format!("/t/{i}"))).collect();
    let covered = async |replicas: &[&Replica]| -> Result<Vec<usize>, String> {
        let mut union = BTreeSet::new();
        let mut sizes = Vec::new();
        for r in replicas {
            let s = probed(r, "").await?;
            sizes.push(s.len());
            union.extend(s);
        }
        if union == all && sizes.iter().sum::<usize>() == N {
            Ok(sizes)
        } else {
            Err(format!("{} of {N} probed, shares {sizes:?}", union.len()))
        }
    };
    let everyone: Vec<&Replica> = replicas.iter().collect();
    let sizes = poll::until(
        "3,000 targets shared out",
        Duration::from_secs(60),
        async || covered(&everyone).await,
    )
    .await;
    for n in &sizes {
        assert!((800..=1200).contains(n), "uneven shares: {sizes:?}");
    }
    let _ = replicas[0].proc.child.kill();
    let _ = replicas[0].proc.child.wait();
    let survivors: Vec<&Replica> = replicas[1..].iter().collect();
    let sizes = poll::until(
        "the killed replica's 1,000 targets taken over",
        Duration::from_secs(60),
        async || covered(&survivors).await,
    )
    .await;
    assert_eq!(sizes.iter().sum::<usize>(), N);
    replicas.clear();
}
