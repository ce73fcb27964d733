//! State dissemination over chitchat's key space. Publishing: when the pipeline says its
//! silences or notification log changed, every entry this replica knows (its own and the
//! ones it merged) is written under its own keys (`s/<id>`, `n/<nflog key>`, JSON), changed
//! values only, and entries gone locally (expired, collected) are deleted. Merging:
//! key-change events of other replicas arrive on a channel and are merged into the
//! pipeline in batches, newest wins. Because each replica republishes what it merged, the
//! state outlives the replica that created it and a new replica learns all of it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use super::metrics::KindLabel;
use super::{Cluster, NFLOG_PREFIX, RESULT_PREFIX, SILENCE_PREFIX};
use crate::alert::nflog::Entry;
use crate::alert::silence::Silence;

/// One key another replica set.
pub(super) struct Remote {
    pub prefix: &'static str,
    pub key: String,
    pub value: String,
}

/// The most remote changes merged under one lock of the pipeline.
const MERGE_BATCH: usize = 512;

impl Cluster {
    pub(super) async fn publish_loop(
        self: Arc<Self>,
        interval: Duration,
        token: CancellationToken,
    ) {
        let mut published: HashMap<String, String> = HashMap::new();
        let mut versions = (u64::MAX, u64::MAX);
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = self.changed.notified() => {}
                // A backstop: collected entries change no version the pipeline announces.
                _ = tokio::time::sleep(interval * 25) => {}
            }
            let Some(alerting) = self.alerting() else {
                continue;
            };
            let current = (alerting.silences().version(), alerting.nflog().version());
            if current == versions {
                continue;
            }
            versions = current;
            let mut wanted: HashMap<String, String> = HashMap::new();
            for s in alerting.silences().snapshot() {
                if let Ok(json) = serde_json::to_string(&s) {
                    wanted.insert(format!("{SILENCE_PREFIX}{}", s.id), json);
                }
            }
            for (k, e) in alerting.nflog().snapshot() {
                if let Ok(json) = serde_json::to_string(&e) {
                    wanted.insert(format!("{NFLOG_PREFIX}{k}"), json);
                }
            }
            let mut guard = self.chitchat.lock().await;
            let node = guard.self_node_state();
            for (k, v) in &wanted {
                if published.get(k) != Some(v) {
                    node.set(k.clone(), v.clone());
                }
            }
            for k in published.keys() {
                if !wanted.contains_key(k) {
                    node.delete(k);
                }
            }
            drop(guard);
            published = wanted;
        }
    }

    pub(super) async fn merge_loop(
        self: Arc<Self>,
        mut rx: UnboundedReceiver<Remote>,
        token: CancellationToken,
    ) {
        let mut batch = Vec::with_capacity(MERGE_BATCH);
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                n = rx.recv_many(&mut batch, MERGE_BATCH) => if n == 0 { return },
            }
            self.merge(batch.drain(..));
        }
    }

    /// Merges everything the other replicas currently publish (when the pipeline attaches).
    pub(super) async fn merge_everything_known(&self) {
        let remote: Vec<Remote> = {
            let guard = self.chitchat.lock().await;
            let me = guard.self_chitchat_id().clone();
            let mut out = Vec::new();
            for (id, state) in guard.node_states() {
                if *id == me {
                    continue;
                }
                for prefix in [SILENCE_PREFIX, NFLOG_PREFIX, RESULT_PREFIX] {
                    for (k, v) in state.iter_prefix(prefix) {
                        if v.is_deleted() {
                            continue;
                        }
                        out.push(Remote {
                            prefix,
                            key: k[prefix.len()..].to_string(),
                            value: v.value.clone(),
                        });
                    }
                }
            }
            out
        };
        self.merge(remote.into_iter());
    }

    fn merge(&self, changes: impl Iterator<Item = Remote>) {
        let alerting = self.alerting();
        let (mut silences, mut entries) = (Vec::new(), Vec::new());
        let mut results = 0u64;
        for r in changes {
            if r.prefix == RESULT_PREFIX {
                results += u64::from(self.merge_result(&r.key, &r.value));
                continue;
            }
            if alerting.is_none() {
                continue;
            }
            let decoded = match r.prefix {
                SILENCE_PREFIX => serde_json::from_str::<Silence>(&r.value)
                    .map(|s| silences.push(s))
                    .is_ok(),
                _ => serde_json::from_str::<Entry>(&r.value)
                    .map(|e| entries.push((r.key, e)))
                    .is_ok(),
            };
            if !decoded {
                let kind = kind(r.prefix);
                self.metrics
                    .merge_errors
                    .get_or_create(&KindLabel { kind: kind.into() })
                    .inc();
                tracing::warn!(message = "Undecodable gossiped state", kind);
            }
        }
        if results > 0 {
            self.metrics
                .merged
                .get_or_create(&KindLabel {
                    kind: "result".into(),
                })
                .inc_by(results);
        }
        let Some(alerting) = alerting else { return };
        let now = alerting.now().wall;
        let (n_sil, n_log) = (silences.len() as u64, entries.len() as u64);
        if n_sil > 0 && alerting.merge_silences(silences, now) {
            self.metrics
                .merged
                .get_or_create(&KindLabel {
                    kind: "silence".into(),
                })
                .inc_by(n_sil);
        }
        if n_log > 0 && alerting.merge_nflog(entries, now) {
            self.metrics
                .merged
                .get_or_create(&KindLabel {
                    kind: "nflog".into(),
                })
                .inc_by(n_log);
        }
    }
}

fn kind(prefix: &str) -> &'static str {
    match prefix {
        SILENCE_PREFIX => "silence",
        RESULT_PREFIX => "result",
        _ => "nflog",
    }
}
