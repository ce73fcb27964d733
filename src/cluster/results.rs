//! Scale-out probing: scheduled targets are sharded over the live members by rendezvous
//! hashing of (job, target), each probed by `--cluster.probe-replicas` of them
//! (`impl schedule::Ownership`), and every result is gossiped (`r/<job>␟<instance>␟<module>`
//! in the prober's key space) so that every replica's store holds the whole cluster's
//! latest results — rules keep their meaning over all targets (`count(probe_success == 0)`),
//! and a target that moves keeps its alert's `for` progress on every replica. `/metrics`
//! shows a replica's own results; `/metrics?cluster=1` shows everyone's.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use super::{rank, Cluster, RESULT_PREFIX};
use crate::base::sync::read;
use crate::probe::Registry;
use crate::schedule::{Ownership, ResultSink, RunResult, Scheduled, Scheduler};
use crate::store::{GroupKey, Store};

/// Field separator in result keys (not part of job names, targets or module names).
const SEP: char = '\u{1f}';

/// How often keys of targets no longer probed here are withdrawn.
const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

/// One gossiped sample: metric name, labels, value as text (NaN and ±Inf survive).
type GossipedSample = (String, Vec<(String, String)>, String);

/// One result as gossiped.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Gossiped {
    /// Probe start, ms since the epoch.
    t: i64,
    /// The target's labels (job labels overlaid with its own).
    l: BTreeMap<String, String>,
    s: Vec<GossipedSample>,
}

/// Which series of a result are gossiped: `None` shares every series.
pub type SeriesFilter = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Always gossiped, whatever the rules read: what the status page and `?cluster=1` show.
const ALWAYS_SHARED: [&str; 2] = ["probe_success", "probe_duration_seconds"];

impl Gossiped {
    pub(super) fn new(
        labels: &BTreeMap<String, String>,
        result: &RunResult,
        filter: Option<&SeriesFilter>,
    ) -> Self {
        let mut s = Vec::new();
        for (name, family) in result.registry.families() {
            if let Some(keep) = filter {
                if !ALWAYS_SHARED.contains(&name.as_str()) && !keep(name) {
                    continue;
                }
            }
            for (labels, value) in &family.samples {
                s.push((name.clone(), labels.clone(), value.to_string()));
            }
        }
        Self {
            t: result.timestamp_ms,
            l: labels.clone(),
            s,
        }
    }

    fn registry(&self) -> Option<Registry> {
        let mut r = Registry::new();
        for (name, labels, value) in &self.s {
            let v: f64 = value.parse().ok()?;
            let labels: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            r.set_labeled(name, "", &labels, v);
        }
        Some(r)
    }
}

/// The key suffix of a result (after [`RESULT_PREFIX`]).
pub(super) fn result_key(key: &GroupKey) -> String {
    format!("{}{SEP}{}{SEP}{}", key.job, key.instance, key.module)
}

fn parse_result_key(s: &str) -> Option<GroupKey> {
    let mut parts = s.split(SEP);
    let (job, instance, module) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some(GroupKey {
        job: Arc::from(job),
        instance: Arc::from(instance),
        module: Arc::from(module),
    })
}

/// The key a target is sharded by.
fn shard_key(job: &str, target: &str) -> String {
    format!("{job}{SEP}{target}")
}

impl Ownership for Cluster {
    fn owns(&self, job: &str, target: &str) -> bool {
        let members = self.member_names();
        rank::position(&members, &self.name, &shard_key(job, target)) < self.probe_replicas
    }
}

impl Cluster {
    /// How many scheduled targets each live member probes (every member listed, this one
    /// included), computed as every replica computes it.
    pub fn shares(&self, targets: &[GroupKey]) -> std::collections::BTreeMap<String, usize> {
        let members = self.member_names();
        let mut out: std::collections::BTreeMap<String, usize> =
            members.iter().map(|m| (m.clone(), 0)).collect();
        for k in targets {
            for m in rank::owners(
                &members,
                &shard_key(&k.job, &k.instance),
                self.probe_replicas,
            ) {
                *out.entry(m.to_string()).or_default() += 1;
            }
        }
        out
    }
}

/// Hands this replica's results to the publisher (never blocks the probe).
pub(super) struct Outbox {
    tx: tokio::sync::mpsc::UnboundedSender<(GroupKey, String)>,
    filter: Option<SeriesFilter>,
}

impl ResultSink for Outbox {
    fn scheduled_result(&self, scheduled: &Scheduled, result: &RunResult) {
        let g = Gossiped::new(&scheduled.labels, result, self.filter.as_ref());
        if let Ok(json) = serde_json::to_string(&g) {
            let _ = self.tx.send((scheduled.key.clone(), json));
        }
    }
}

impl Cluster {
    /// Shards `scheduler`'s targets over the members and shares results through `store`:
    /// from now on the scheduler probes this replica's share, its results are gossiped
    /// (the series `filter` keeps, with `probe_success` and `probe_duration_seconds`;
    /// every series without a filter), and the others' results land in `store`.
    pub fn attach_schedule(
        self: &Arc<Self>,
        scheduler: &Scheduler,
        store: &Arc<Store>,
        filter: Option<SeriesFilter>,
        tasks: &tokio_util::task::TaskTracker,
        token: CancellationToken,
    ) {
        *crate::base::sync::write(&self.schedule) = Some(Attached {
            scheduler: scheduler.clone(),
            store: Arc::downgrade(store),
        });
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        scheduler.sinks().add(Arc::new(Outbox { tx, filter }));
        scheduler.set_ownership(self.clone(), crate::clock::Now::read());
        tasks.spawn(crate::base::task::boxed(
            self.clone().publish_results(rx, token.clone()),
        ));
        let me = self.clone();
        let mut membership = self.membership.subscribe();
        tasks.spawn(crate::base::task::boxed(async move {
            loop {
                tokio::select! {
                    _ = token.cancelled() => return,
                    changed = membership.changed() => if changed.is_err() { return },
                }
                if let Some(a) = read(&me.schedule).as_ref() {
                    a.scheduler.rebalance(crate::clock::Now::read());
                }
            }
        }));
    }

    async fn publish_results(
        self: Arc<Self>,
        mut rx: UnboundedReceiver<(GroupKey, String)>,
        token: CancellationToken,
    ) {
        let mut batch = Vec::with_capacity(256);
        let mut published: HashMap<GroupKey, ()> = HashMap::new();
        let mut sweep = tokio::time::interval(SWEEP_INTERVAL);
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                n = rx.recv_many(&mut batch, 256) => if n == 0 { return },
                _ = sweep.tick() => {
                    let gone: Vec<GroupKey> = match read(&self.schedule).as_ref() {
                        Some(a) => published
                            .keys()
                            .filter(|k| !a.scheduler.is_running(k))
                            .cloned()
                            .collect(),
                        None => Vec::new(),
                    };
                    if !gone.is_empty() {
                        let mut guard = self.chitchat.lock().await;
                        let node = guard.self_node_state();
                        for k in gone {
                            node.delete(&format!("{RESULT_PREFIX}{}", result_key(&k)));
                            published.remove(&k);
                        }
                    }
                    continue;
                }
            }
            let mut guard = self.chitchat.lock().await;
            let node = guard.self_node_state();
            for (key, json) in batch.drain(..) {
                node.set(format!("{RESULT_PREFIX}{}", result_key(&key)), json);
                published.insert(key, ());
            }
        }
    }

    /// Records results other replicas gossiped; `false` for what is not (or no longer) a
    /// target of the running config, what this replica probes itself, or what is older
    /// than what the store holds.
    pub(super) fn merge_result(&self, key: &str, value: &str) -> bool {
        let Some(attached) = read(&self.schedule)
            .as_ref()
            .map(|a| (a.scheduler.clone(), a.store.clone()))
        else {
            return false;
        };
        let (scheduler, store) = attached;
        let Some(store) = store.upgrade() else {
            return false;
        };
        let Some(key) = parse_result_key(key) else {
            return false;
        };
        // A target this replica probes itself keeps its own results (with
        // --cluster.probe-replicas > 1 another member probes it too).
        if !scheduler.is_scheduled(&key) || scheduler.is_running(&key) {
            return false;
        }
        let Ok(g) = serde_json::from_str::<Gossiped>(value) else {
            return false;
        };
        let Some(registry) = g.registry() else {
            return false;
        };
        store.record_remote(&key, &g.l, g.t, &registry)
    }
}

/// What the cluster shards and fills.
pub(super) struct Attached {
    pub scheduler: Scheduler,
    pub store: Weak<Store>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_round_trip_with_every_value() {
        let mut registry = Registry::new();
        registry.set("probe_success", "help", 1.0);
        registry.set_labeled(
            "probe_http_duration_seconds",
            "h",
            &[("phase", "tls")],
            0.25,
        );
        registry.set("probe_ssl_earliest_cert_expiry", "h", f64::NAN);
        registry.set("weird", "h", f64::NEG_INFINITY);
        let result = RunResult {
            registry,
            timestamp_ms: 1_700_000_000_123,
            failure: None,
        };
        let labels = BTreeMap::from([("team".to_string(), "web".to_string())]);
        let g = Gossiped::new(&labels, &result, None);
        let back: Gossiped = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
        assert_eq!(back, g);
        let r = back.registry().unwrap();
        assert_eq!(r.get("probe_success"), Some(1.0));
        assert_eq!(
            r.get_labeled("probe_http_duration_seconds", &[("phase", "tls")]),
            Some(0.25)
        );
        assert!(r.get("probe_ssl_earliest_cert_expiry").unwrap().is_nan());
        assert_eq!(r.get("weird"), Some(f64::NEG_INFINITY));
        // With a filter: what it keeps, and always probe_success.
        let only: SeriesFilter = Arc::new(|n: &str| n == "weird");
        let g = Gossiped::new(&labels, &result, Some(&only));
        let names: Vec<&str> = g.s.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(names, vec!["probe_success", "weird"]);
    }

    #[test]
    fn result_keys_round_trip() {
        let key = GroupKey {
            job: Arc::from("web"),
            instance: Arc::from("https://example.org/a?b=c"),
            module: Arc::from("http_2xx"),
        };
        assert_eq!(parse_result_key(&result_key(&key)), Some(key));
        assert_eq!(parse_result_key("only\u{1f}two"), None);
    }
}
