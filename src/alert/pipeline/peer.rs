//! The pipeline's side of a cluster: the peer it asks how long to wait and whom it tells
//! about local changes, and the merge of silences and notification-log entries that other
//! replicas gossiped (kept if newer, persisted like local changes).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::Alerting;
use crate::alert::nflog::Entry;
use crate::alert::peer::Peer;
use crate::alert::silence::Silence;
use crate::base::sync::{read, write};

impl Alerting {
    /// Joins this pipeline to a cluster (once, at start-up).
    pub fn set_peer(&self, peer: Arc<dyn Peer>) {
        *write(&self.peer) = Some(peer);
    }

    pub fn peer(&self) -> Option<Arc<dyn Peer>> {
        read(&self.peer).clone()
    }

    /// How long a flush of `group_key` waits before its dedup stage (0 without a cluster).
    pub fn peer_wait(&self, group_key: &str) -> Duration {
        self.peer().map(|p| p.wait(group_key)).unwrap_or_default()
    }

    /// Waits until the cluster has settled (at once without a cluster).
    pub async fn settled(&self) {
        let Some(peer) = self.peer() else { return };
        let mut rx = peer.settled();
        // An error means the cluster went away: nothing left to wait for.
        let _ = rx.wait_for(|settled| *settled).await;
    }

    /// Tells the cluster that local state changed.
    pub(super) fn publish(&self) {
        if let Some(p) = self.peer() {
            p.state_changed();
        }
    }

    /// Merges silences another replica gossiped; `true` if any changed.
    pub fn merge_silences(&self, silences: Vec<Silence>, now: SystemTime) -> bool {
        let changed = {
            let mut local = self.silences();
            silences
                .into_iter()
                .fold(false, |changed, s| local.merge(s, now) | changed)
        };
        if changed {
            if let Some(p) = &self.persister {
                p.mark_dirty();
            }
            self.publish();
        }
        changed
    }

    /// Merges notification-log entries another replica gossiped; `true` if any changed.
    pub fn merge_nflog(&self, entries: Vec<(String, Entry)>, now: SystemTime) -> bool {
        let changed = {
            let mut log = self.nflog();
            entries
                .into_iter()
                .fold(false, |changed, (k, e)| log.merge(k, e, now) | changed)
        };
        if changed {
            if let Some(p) = &self.persister {
                p.mark_dirty();
            }
            self.publish();
        }
        changed
    }
}
