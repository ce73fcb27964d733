//! The cluster's self-metrics: Alertmanager's `alertmanager_cluster_*` names and help texts
//! (so its dashboards and alerts carry over), plus blackwatch's own (gossip bytes, state
//! merges, settled).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabel {
    pub peer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MsgTypeLabel {
    pub msg_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Default)]
pub struct ClusterMetrics {
    pub enabled: Gauge,
    pub members: Gauge,
    pub failed_peers: Gauge,
    pub health_score: Gauge,
    pub peer_position: Gauge,
    pub peers_joined: Counter,
    pub peers_left: Counter,
    pub peer_info: Family<PeerLabel, Gauge>,
    pub messages_received: Family<MsgTypeLabel, Counter>,
    pub messages_received_size: Family<MsgTypeLabel, Counter>,
    pub messages_sent: Family<MsgTypeLabel, Counter>,
    pub messages_sent_size: Family<MsgTypeLabel, Counter>,
    pub settled: Gauge,
    pub merged: Family<KindLabel, Counter>,
    pub merge_errors: Family<KindLabel, Counter>,
}

impl ClusterMetrics {
    /// Registers every metric (once per daemon, when clustering is on).
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "alertmanager_cluster_enabled",
            "Indicates whether the clustering is enabled or not.",
            self.enabled.clone(),
        );
        r.register(
            "alertmanager_cluster_members",
            "Number indicating current number of members in cluster.",
            self.members.clone(),
        );
        r.register(
            "alertmanager_cluster_failed_peers",
            "Number indicating the current number of failed peers in the cluster.",
            self.failed_peers.clone(),
        );
        r.register(
            "alertmanager_cluster_health_score",
            "Health score of the cluster. Lower values are better and zero means 'totally healthy'.",
            self.health_score.clone(),
        );
        r.register(
            "alertmanager_peer_position",
            "Position the Alertmanager instance believes it's in. The position determines a peer's behavior in the cluster.",
            self.peer_position.clone(),
        );
        r.register(
            "alertmanager_cluster_peers_joined",
            "A counter of the number of peers that have joined.",
            self.peers_joined.clone(),
        );
        r.register(
            "alertmanager_cluster_peers_left",
            "A counter of the number of peers that have left.",
            self.peers_left.clone(),
        );
        r.register(
            "alertmanager_cluster_peer_info",
            "A metric with a constant '1' value labeled by peer name.",
            self.peer_info.clone(),
        );
        r.register(
            "alertmanager_cluster_messages_received",
            "Total number of cluster messages received.",
            self.messages_received.clone(),
        );
        r.register(
            "alertmanager_cluster_messages_received_size",
            "Total size of cluster messages received.",
            self.messages_received_size.clone(),
        );
        r.register(
            "alertmanager_cluster_messages_sent",
            "Total number of cluster messages sent.",
            self.messages_sent.clone(),
        );
        r.register(
            "alertmanager_cluster_messages_sent_size",
            "Total size of cluster messages sent.",
            self.messages_sent_size.clone(),
        );
        r.register(
            "blackwatch_cluster_settled",
            "1 once gossip has settled after start-up (or the settle timeout passed); notifications wait for it.",
            self.settled.clone(),
        );
        r.register(
            "blackwatch_cluster_state_merged",
            "Silences and notification-log entries taken from other replicas' gossip, by kind.",
            self.merged.clone(),
        );
        r.register(
            "blackwatch_cluster_state_merge_errors",
            "Gossiped state that could not be decoded, by kind.",
            self.merge_errors.clone(),
        );
    }
}
