//! What the alert pipeline asks of a cluster of replicas, as a trait so that the pipeline
//! does not depend on the cluster layer above it: how long to wait before notifying a
//! group (Alertmanager's WaitStage, with blackwatch's per-group rank instead of one global
//! position), whether gossip has settled (GossipSettle), and a nudge when local silences or
//! the notification log changed so the cluster publishes them. A single instance has no
//! peer and none of this runs.

use std::time::Duration;

use tokio::sync::watch;

pub trait Peer: Send + Sync {
    /// How long this replica waits before the dedup stage of a flush of `group_key`:
    /// 0 on the group's owner, rank × `--cluster.peer-timeout` on the others.
    fn wait(&self, group_key: &str) -> Duration;

    /// `true` once the cluster has settled (or the settle timeout passed); flushes wait
    /// for it.
    fn settled(&self) -> watch::Receiver<bool>;

    /// Local silences or notification-log entries changed: publish them.
    fn state_changed(&self);
}
