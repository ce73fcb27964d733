//! High availability: replicas of blackwatch form a cluster with Alertmanager's flags
//! (`--cluster.*`). Membership, failure detection and state dissemination are chitchat's
//! (scuttlebutt anti-entropy over UDP, phi-accrual failure detection): every replica
//! publishes, under its own keys, every silence and notification-log entry it knows, and
//! merges what the others publish, newest wins — so state converges after any partition
//! and survives any replica. Aggregation groups are owned by rendezvous hashing over the
//! live members (`rank.rs`): the owner notifies first, the others wait rank ×
//! `--cluster.peer-timeout` and then find the owner's send in the gossiped notification log.
//! A single instance (no `--cluster.*` flags) starts none of this.

pub mod metrics;
pub mod rank;
pub mod results;
mod sync;
mod tls;
mod transport;

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chitchat::{spawn_chitchat, ChitchatConfig, ChitchatHandle, ChitchatId, FailureDetectorConfig};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alert::peer::Peer;
use crate::alert::pipeline::Alerting;
use crate::base::sync::{read, write};
use metrics::{ClusterMetrics, PeerLabel};

/// Alertmanager's default cluster port.
pub const DEFAULT_PORT: u16 = 9094;

/// The cluster flags, validated.
#[derive(Clone, Debug)]
pub struct ClusterSettings {
    /// `--cluster.listen-address`: where gossip is received (UDP).
    pub listen: SocketAddr,
    /// `--cluster.advertise-address`: what the others send to; derived when not given.
    pub advertise: Option<SocketAddr>,
    /// `--cluster.peer`: `host:port` of initial peers; a name resolving to several
    /// addresses (a headless Service) counts as all of them, re-resolved while running.
    pub peers: Vec<String>,
    /// `--cluster.peer-timeout`: how long each rank waits before it notifies.
    pub peer_timeout: Duration,
    /// `--cluster.gossip-interval`.
    pub gossip_interval: Duration,
    /// `--cluster.settle-timeout`: the longest notifications wait for gossip to settle.
    pub settle_timeout: Duration,
    /// `--cluster.reconnect-timeout`: how long a failed peer is remembered (and its state
    /// kept) before it is forgotten.
    pub reconnect_timeout: Duration,
    /// `--cluster.tls-config`, loaded: gossip over mutual TLS (TCP) instead of UDP.
    pub tls: Option<ClusterTls>,
    /// `--cluster.probe-replicas`: how many members probe each scheduled target.
    pub probe_replicas: usize,
    /// `--cluster.share-results=all`: gossip every series of every result, not only those
    /// rules read.
    pub share_all_results: bool,
}

/// Gossip over TLS: the server side (with its client-certificate policy) and the client
/// side every replica uses towards the others.
#[derive(Clone)]
pub struct ClusterTls {
    pub server: Arc<rustls::ServerConfig>,
    pub client: Arc<rustls::ClientConfig>,
    /// `tls_client_config.server_name`; else the peer's IP address is verified.
    pub server_name: Option<String>,
}

impl std::fmt::Debug for ClusterTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("couldn't deduce an advertise address: set --cluster.advertise-address ({0})")]
    Advertise(String),
    #[error("starting gossip on {addr}: {reason}")]
    Start { addr: SocketAddr, reason: String },
}

/// One live member, as `/api/v2/status` lists it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    pub name: String,
    pub address: SocketAddr,
}

/// This replica's view of the cluster.
pub struct Cluster {
    name: String,
    advertise: SocketAddr,
    peer_timeout: Duration,
    handle: tokio::sync::Mutex<Option<ChitchatHandle>>,
    chitchat: Arc<tokio::sync::Mutex<chitchat::Chitchat>>,
    /// Live members (this one included), sorted by name.
    members: RwLock<Vec<Member>>,
    settled: watch::Sender<bool>,
    /// Wakes the publisher when local state changed.
    changed: Notify,
    alerting: RwLock<Option<Weak<Alerting>>>,
    /// The scheduler whose targets are sharded, and the store remote results go to.
    schedule: RwLock<Option<results::Attached>>,
    probe_replicas: usize,
    share_all_results: bool,
    /// Bumped whenever the live members change.
    membership: watch::Sender<u64>,
    pub metrics: ClusterMetrics,
    _listeners: Vec<chitchat::ListenerHandle>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("name", &self.name)
            .field("advertise", &self.advertise)
            .finish_non_exhaustive()
    }
}

/// Key prefixes in each replica's gossiped key space.
pub(crate) const SILENCE_PREFIX: &str = "s/";
pub(crate) const NFLOG_PREFIX: &str = "n/";
pub(crate) const RESULT_PREFIX: &str = "r/";

impl Cluster {
    /// Joins (or founds) the cluster: binds the gossip socket, starts chitchat and this
    /// replica's tasks (membership, settling, publishing, merging) on `tasks`; all stop
    /// when `token` is cancelled.
    pub async fn start(
        settings: ClusterSettings,
        tasks: &TaskTracker,
        token: CancellationToken,
    ) -> Result<Arc<Self>, ClusterError> {
        let advertise = advertise_address(&settings)?;
        let host = crate::base::fs::hostname().unwrap_or_else(|| "blackwatch".to_string());
        let name = format!("{host}/{advertise}");
        let generation = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let config = ChitchatConfig {
            chitchat_id: ChitchatId::new(name.clone(), generation, advertise),
            cluster_id: "blackwatch".to_string(),
            gossip_interval: settings.gossip_interval,
            listen_addr: settings.listen,
            seed_nodes: settings.peers.clone(),
            failure_detector_config: FailureDetectorConfig {
                dead_node_grace_period: settings.reconnect_timeout,
                initial_interval: settings.gossip_interval * 5,
                max_interval: (settings.gossip_interval * 50).max(Duration::from_secs(2)),
                ..FailureDetectorConfig::default()
            },
            marked_for_deletion_grace_period: Duration::from_secs(3600),
            catchup_callback: None,
            extra_liveness_predicate: None,
            protocol_version: chitchat::ProtocolVersion::V0,
        };
        let metrics = ClusterMetrics::default();
        let handle = match &settings.tls {
            None => {
                let transport = transport::CountingUdp {
                    metrics: metrics.clone(),
                };
                spawn_chitchat(config, Vec::new(), &transport).await
            }
            Some(tls) => {
                let transport = tls::TlsTransport::new(tls.clone(), advertise, metrics.clone());
                spawn_chitchat(config, Vec::new(), &transport).await
            }
        }
        .map_err(|e| ClusterError::Start {
            addr: settings.listen,
            reason: format!("{e:#}"),
        })?;
        let chitchat = handle.chitchat();
        let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
        let listeners = {
            let guard = chitchat.lock().await;
            [SILENCE_PREFIX, NFLOG_PREFIX, RESULT_PREFIX]
                .into_iter()
                .map(|prefix| {
                    let tx = events_tx.clone();
                    let me = name.clone();
                    guard.subscribe_event(prefix, move |ev| {
                        if *ev.node.node_id != *me {
                            let _ = tx.send(sync::Remote {
                                prefix,
                                key: ev.key.to_string(),
                                value: ev.value.to_string(),
                            });
                        }
                    })
                })
                .collect()
        };
        metrics.enabled.set(1);
        let me = Arc::new(Self {
            name: name.clone(),
            advertise,
            peer_timeout: settings.peer_timeout,
            handle: tokio::sync::Mutex::new(Some(handle)),
            chitchat,
            members: RwLock::new(vec![Member {
                name,
                address: advertise,
            }]),
            settled: watch::channel(false).0,
            changed: Notify::new(),
            alerting: RwLock::new(None),
            schedule: RwLock::new(None),
            probe_replicas: settings.probe_replicas.max(1),
            share_all_results: settings.share_all_results,
            membership: watch::channel(0).0,
            metrics,
            _listeners: listeners,
        });
        me.refresh_members_metrics();
        tracing::info!(
            message = "Joining the cluster",
            name = %me.name,
            advertise = %advertise,
            listen = %settings.listen,
            peers = ?settings.peers
        );
        tasks.spawn(crate::base::task::boxed(
            me.clone().watch_members(token.clone()),
        ));
        tasks.spawn(crate::base::task::boxed(me.clone().settle(
            settings.gossip_interval * 10,
            settings.settle_timeout,
            token.clone(),
        )));
        tasks.spawn(crate::base::task::boxed(
            me.clone()
                .publish_loop(settings.gossip_interval, token.clone()),
        ));
        tasks.spawn(crate::base::task::boxed(
            me.clone().merge_loop(events_rx, token.clone()),
        ));
        let stopping = me.clone();
        tasks.spawn(crate::base::task::boxed(async move {
            token.cancelled().await;
            if let Some(h) = stopping.handle.lock().await.take() {
                let _ = h.shutdown().await;
            }
        }));
        Ok(me)
    }

    /// This replica's name in the cluster (`host/advertise-address`).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn advertise(&self) -> SocketAddr {
        self.advertise
    }

    /// Live members, this one included, sorted by name.
    pub fn members(&self) -> Vec<Member> {
        read(&self.members).clone()
    }

    /// `--cluster.share-results=all`.
    pub fn shares_all_results(&self) -> bool {
        self.share_all_results
    }

    pub fn is_settled(&self) -> bool {
        *self.settled.borrow()
    }

    /// Connects the alert pipeline (before its driver runs): it waits on this cluster
    /// before notifying, and this cluster publishes and merges its silences and
    /// notification log, starting with what the others already published.
    pub fn attach(self: &Arc<Self>, alerting: &Arc<Alerting>, tasks: &TaskTracker) {
        alerting.set_peer(self.clone());
        *write(&self.alerting) = Some(Arc::downgrade(alerting));
        let me = self.clone();
        tasks.spawn(crate::base::task::boxed(async move {
            me.merge_everything_known().await;
            me.changed.notify_one();
        }));
    }

    fn alerting(&self) -> Option<Arc<Alerting>> {
        read(&self.alerting).as_ref().and_then(Weak::upgrade)
    }

    /// The names of the live members, sorted.
    fn member_names(&self) -> Vec<String> {
        read(&self.members).iter().map(|m| m.name.clone()).collect()
    }

    async fn watch_members(self: Arc<Self>, token: CancellationToken) {
        let mut rx = self.chitchat.lock().await.live_nodes_watcher();
        loop {
            let live: Vec<Member> = {
                let nodes = rx.borrow_and_update();
                nodes
                    .keys()
                    .map(|id| Member {
                        name: id.node_id.to_string(),
                        address: id.gossip_advertise_addr,
                    })
                    .collect()
            };
            self.set_members(live);
            let dead = self.chitchat.lock().await.dead_nodes().count();
            self.metrics.failed_peers.set(dead as i64);
            // Alertmanager's score is memberlist's awareness (0 = healthy, rising with
            // failed probes); here: the peers currently failed.
            self.metrics.health_score.set(dead as i64);
            tokio::select! {
                _ = token.cancelled() => return,
                changed = rx.changed() => if changed.is_err() { return },
            }
        }
    }

    fn set_members(&self, mut live: Vec<Member>) {
        if !live.iter().any(|m| m.name == self.name) {
            live.push(Member {
                name: self.name.clone(),
                address: self.advertise,
            });
        }
        live.sort();
        live.dedup_by(|a, b| a.name == b.name);
        let before = self.member_names();
        let after: Vec<String> = live.iter().map(|m| m.name.clone()).collect();
        if before == after {
            return;
        }
        for joined in after.iter().filter(|n| !before.contains(n)) {
            self.metrics.peers_joined.inc();
            tracing::info!(message = "Peer joined", peer = %joined);
        }
        for left in before.iter().filter(|n| !after.contains(n)) {
            self.metrics.peers_left.inc();
            self.metrics
                .peer_info
                .remove(&PeerLabel { peer: left.clone() });
            tracing::info!(message = "Peer left", peer = %left);
        }
        *write(&self.members) = live;
        self.refresh_members_metrics();
        self.membership.send_modify(|n| *n += 1);
    }

    fn refresh_members_metrics(&self) {
        let names = self.member_names();
        self.metrics.members.set(names.len() as i64);
        for n in &names {
            self.metrics
                .peer_info
                .get_or_create(&PeerLabel { peer: n.clone() })
                .set(1);
        }
        let position = names.iter().position(|n| *n == self.name).unwrap_or(0);
        self.metrics.peer_position.set(position as i64);
    }

    /// Alertmanager's `Settle`: done once the member count stayed the same for three polls
    /// `interval` apart, or when `timeout` passes.
    async fn settle(
        self: Arc<Self>,
        interval: Duration,
        timeout: Duration,
        token: CancellationToken,
    ) {
        let start = tokio::time::Instant::now();
        let deadline = start + timeout;
        let (mut last, mut okay) = (0usize, 0u32);
        tracing::info!(message = "Waiting for gossip to settle...", interval = ?interval);
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::info!(message = "gossip not settled but continuing anyway", elapsed = ?start.elapsed());
                    break;
                }
                _ = tokio::time::sleep(interval) => {}
            }
            if okay >= 3 {
                tracing::info!(message = "gossip settled; proceeding", elapsed = ?start.elapsed());
                break;
            }
            let n = read(&self.members).len();
            if n == last {
                okay += 1;
            } else {
                okay = 0;
            }
            last = n;
        }
        self.metrics.settled.set(1);
        self.settled.send_replace(true);
    }
}

impl Peer for Cluster {
    fn wait(&self, group_key: &str) -> Duration {
        let members = self.member_names();
        let rank = rank::position(&members, &self.name, group_key);
        self.peer_timeout.saturating_mul(rank as u32)
    }

    fn settled(&self) -> watch::Receiver<bool> {
        self.settled.subscribe()
    }

    fn state_changed(&self) {
        self.changed.notify_one();
    }
}

/// Where the others should send gossip: `--cluster.advertise-address`; else the listen
/// address when it names an IP; else the local address that routes to the first peer
/// (a UDP "connect" sends nothing); else, without peers, loopback.
fn advertise_address(s: &ClusterSettings) -> Result<SocketAddr, ClusterError> {
    if let Some(a) = s.advertise {
        return Ok(a);
    }
    if !s.listen.ip().is_unspecified() {
        return Ok(s.listen);
    }
    let port = s.listen.port();
    let Some(first) = s
        .peers
        .iter()
        .filter_map(|p| p.to_socket_addrs().ok())
        .flatten()
        .next()
    else {
        if s.peers.is_empty() {
            return Ok(SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port));
        }
        return Err(ClusterError::Advertise(format!(
            "no peer in {:?} resolves",
            s.peers
        )));
    };
    let bind: SocketAddr = if first.is_ipv4() {
        (IpAddr::from([0, 0, 0, 0]), 0).into()
    } else {
        (IpAddr::from([0u16; 8]), 0).into()
    };
    let probe =
        std::net::UdpSocket::bind(bind).map_err(|e| ClusterError::Advertise(e.to_string()))?;
    probe
        .connect(first)
        .map_err(|e| ClusterError::Advertise(e.to_string()))?;
    let local = probe
        .local_addr()
        .map_err(|e| ClusterError::Advertise(e.to_string()))?;
    Ok(SocketAddr::new(local.ip(), port))
}
