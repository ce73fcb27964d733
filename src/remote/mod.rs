//! `remote_write:`: pushing scheduled probe results and the series rules write (`ALERTS`,
//! `ALERTS_FOR_STATE`, recording rules) to remote TSDBs with Prometheus' remote-write
//! protocol v1, as Prometheus 2.42's queue manager does, through a queue on disk that
//! survives restarts.
//!
//! Per configured endpoint, one *queue*: the [`RemoteWrite`] sink (called on the probe's
//! task and on the rule group's, never blocking) hands samples to the queue's channel; its
//! writer task adds nothing but `write_relabel_configs`, batches up to
//! `max_samples_per_send` or `batch_send_deadline`, and appends each batch to the on-disk
//! queue (`queue.rs`, synced); its sender task sends the oldest batch, retries it with
//! backoff (`send.rs`) and removes it when sent or refused for good. Batches go one at a
//! time, in order, so each series' samples arrive in timestamp order (Prometheus shards by
//! series for the same reason); `min_shards`/`max_shards` are accepted and not used.
//!
//! What a sample is: a probe result's series labelled exactly as `/metrics` and the rule
//! engine see them (the metric's own labels, then `job`, `instance`, `module` and the
//! job's and target's labels; the metric's own win on a clash), plus `global.external_labels`
//! where absent, as Prometheus adds its external labels; timestamped with the probe's start
//! (`RunResult::timestamp_ms`, the time rules see it at). Rule output carries the
//! evaluation's timestamp; stale markers are sent as Prometheus sends them.
//!
//! Not here: the wire format (`proto.rs`), validation (`config::validate::remote_write`).

pub mod config;
pub mod metrics;
pub mod proto;
pub mod queue;
pub mod send;
pub mod sigv4;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{QueueConfig, RemoteWriteConfig};
use metrics::{QueueLabels, RemoteMetrics};
use proto::{TimeSeries, WriteRequest};
use queue::DiskQueue;
use send::Outcome;

use crate::rules::expr::Labels;
use crate::schedule::{ResultSink, RunResult, Scheduled};

/// Default bound of each on-disk queue (`--remote-write.max-queue-bytes`).
pub const DEFAULT_MAX_QUEUE_BYTES: u64 = 256 << 20;

/// One sample on its way: full label set sorted by name (`__name__` included).
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub labels: Vec<(String, String)>,
    pub timestamp_ms: i64,
    pub value: f64,
}

type Message = Arc<Vec<Point>>;

/// Each queue's channel and labels, as the sinks see them.
type Targets = Arc<Vec<(mpsc::Sender<Message>, QueueLabels)>>;

struct Running {
    /// The entry as written: a changed one restarts the queue.
    yaml: String,
    tx: mpsc::Sender<Message>,
    labels: QueueLabels,
    token: CancellationToken,
    /// The writer task; a replacement waits for it before opening the directory.
    task: Option<JoinHandle<()>>,
}

/// The remote-write side of a daemon: the running queues, the sink that feeds them.
pub struct RemoteWrite {
    dir: PathBuf,
    max_queue_bytes: u64,
    metrics: RemoteMetrics,
    tracker: TaskTracker,
    token: CancellationToken,
    queues: Mutex<BTreeMap<String, Running>>,
    /// What the sinks send to: (sender, labels) per queue, swapped whole on apply.
    targets: RwLock<Targets>,
    external_labels: RwLock<Arc<Vec<(String, String)>>>,
}

/// A directory name for a queue name: itself when it is a plain file name, else its hash.
fn dir_name(queue: &str) -> String {
    let plain = !queue.is_empty()
        && queue != "."
        && queue != ".."
        && queue
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if plain {
        return queue.to_string();
    }
    use sha2::Digest;
    let d = sha2::Sha256::digest(queue.as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

impl RemoteWrite {
    /// Queues live under `<storage_path>/remote_write/`.
    pub fn new(
        storage_path: &Path,
        max_queue_bytes: u64,
        metrics: RemoteMetrics,
        tracker: TaskTracker,
        token: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            dir: storage_path.join("remote_write"),
            max_queue_bytes,
            metrics,
            tracker,
            token,
            queues: Mutex::new(BTreeMap::new()),
            targets: RwLock::new(Arc::new(Vec::new())),
            external_labels: RwLock::new(Arc::new(Vec::new())),
        })
    }

    /// Makes the running queues match `configs`: unchanged entries keep running; a changed
    /// entry's queue restarts on the same directory (its pending batches are kept and sent
    /// first); a removed entry's queue stops, its directory left as it is.
    pub fn apply(&self, configs: &[RemoteWriteConfig], external_labels: &BTreeMap<String, String>) {
        *crate::base::sync::write(&self.external_labels) = Arc::new(
            external_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        let mut queues = crate::base::sync::lock(&self.queues);
        let mut next = BTreeMap::new();
        for cfg in configs {
            let name = cfg.queue_name();
            let dir = dir_name(&name);
            match queues.remove(&dir) {
                Some(o) if o.yaml == cfg.yaml => {
                    next.insert(dir, o);
                }
                old => {
                    let prev = old.and_then(|mut o| {
                        o.token.cancel();
                        o.task.take()
                    });
                    next.insert(dir.clone(), self.start(cfg.clone(), name, &dir, prev));
                }
            }
        }
        for (_, o) in std::mem::take(&mut *queues) {
            o.token.cancel();
        }
        *queues = next;
        *crate::base::sync::write(&self.targets) = Arc::new(
            queues
                .values()
                .map(|r| (r.tx.clone(), r.labels.clone()))
                .collect(),
        );
    }

    fn start(
        &self,
        cfg: RemoteWriteConfig,
        name: String,
        dir: &str,
        prev: Option<JoinHandle<()>>,
    ) -> Running {
        let labels = QueueLabels {
            remote_name: name,
            url: crate::client::raw::redact_url(cfg.url.as_str()),
        };
        let (tx, rx) = mpsc::channel(cfg.queue.capacity.max(1));
        let token = self.token.child_token();
        let yaml = cfg.yaml.clone();
        let queue = Queue {
            cfg,
            dir: self.dir.join(dir),
            max_bytes: self.max_queue_bytes,
            metrics: self.metrics.clone(),
            labels: labels.clone(),
            tracker: self.tracker.clone(),
        };
        let task = self
            .tracker
            .spawn(crate::base::task::boxed(queue.run(rx, token.clone(), prev)));
        Running {
            yaml,
            tx,
            labels,
            token,
            task: Some(task),
        }
    }

    /// Hands samples to every queue; never waits (a full channel drops them, counted).
    pub fn push(&self, points: Vec<Point>) {
        if points.is_empty() {
            return;
        }
        let targets = crate::base::sync::read(&self.targets).clone();
        if targets.is_empty() {
            return;
        }
        let highest = points.iter().map(|p| p.timestamp_ms).max().unwrap_or(0);
        let hi = self.metrics.highest_in.get();
        if highest as f64 / 1000.0 > hi {
            self.metrics.highest_in.set(highest as f64 / 1000.0);
        }
        let n = points.len() as u64;
        let msg: Message = Arc::new(points);
        for (tx, labels) in targets.iter() {
            if tx.try_send(msg.clone()).is_err() {
                self.metrics.dropped.get_or_create(labels).inc_by(n);
                tracing::warn!(
                    message = "Remote-write queue is full; dropping samples",
                    remote_name = %labels.remote_name,
                    samples = n
                );
            }
        }
    }

    fn external(&self) -> Arc<Vec<(String, String)>> {
        crate::base::sync::read(&self.external_labels).clone()
    }

    fn active(&self) -> bool {
        !crate::base::sync::read(&self.targets).is_empty()
    }
}

/// Adds `extra` labels absent from `labels` (sorted), as Prometheus adds external labels.
fn add_external(labels: &mut Vec<(String, String)>, extra: &[(String, String)]) {
    for (k, v) in extra {
        if let Err(i) = labels.binary_search_by(|(n, _)| n.as_str().cmp(k)) {
            labels.insert(i, (k.clone(), v.clone()));
        }
    }
}

/// The series of one probe result, labelled as the store labels them.
pub fn result_points(
    scheduled: &Scheduled,
    result: &RunResult,
    external: &[(String, String)],
) -> Vec<Point> {
    let mut target: BTreeMap<&str, &str> = scheduled
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    target.insert("job", &scheduled.key.job);
    target.insert("instance", &scheduled.key.instance);
    target.insert("module", &scheduled.key.module);
    let mut out = Vec::new();
    for (name, family) in result.registry.families() {
        for (own, value) in &family.samples {
            let mut labels: BTreeMap<&str, &str> = target.clone();
            for (k, v) in own {
                labels.insert(k, v);
            }
            labels.insert("__name__", name);
            let mut labels: Vec<(String, String)> = labels
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            add_external(&mut labels, external);
            out.push(Point {
                labels,
                timestamp_ms: result.timestamp_ms,
                value: *value,
            });
        }
    }
    out
}

impl ResultSink for RemoteWrite {
    fn scheduled_result(&self, scheduled: &Scheduled, result: &RunResult) {
        if !self.active() {
            return;
        }
        let points = result_points(scheduled, result, &self.external());
        self.push(points);
    }
}

impl crate::rules::recording::RuleSeriesTap for RemoteWrite {
    fn rule_samples(&self, ts: i64, samples: &[(&Labels, f64)]) {
        if !self.active() {
            return;
        }
        let external = self.external();
        let points = samples
            .iter()
            .map(|(l, v)| {
                let mut labels: Vec<(String, String)> = l
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                add_external(&mut labels, &external);
                Point {
                    labels,
                    timestamp_ms: ts,
                    value: *v,
                }
            })
            .collect();
        self.push(points);
    }
}

/// One endpoint's queue: what its writer and sender tasks share.
struct Queue {
    cfg: RemoteWriteConfig,
    dir: PathBuf,
    max_bytes: u64,
    metrics: RemoteMetrics,
    labels: QueueLabels,
    tracker: TaskTracker,
}

type Shared = Arc<Mutex<DiskQueue>>;

/// Runs `f` on the queue off the async threads.
async fn on_disk<T: Send + 'static>(
    q: &Shared,
    f: impl FnOnce(&mut DiskQueue) -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let q = q.clone();
    tokio::task::spawn_blocking(move || f(&mut crate::base::sync::lock(&q)))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
}

impl Queue {
    /// The writer: waits for the queue it replaces, opens the disk queue, starts the
    /// sender, then batches until stopped; on stop it writes what it holds.
    async fn run(
        self,
        mut rx: mpsc::Receiver<Message>,
        token: CancellationToken,
        prev: Option<JoinHandle<()>>,
    ) {
        if let Some(prev) = prev {
            let _ = prev.await;
        }
        let dir = self.dir.clone();
        let max = self.max_bytes;
        let opened = tokio::task::spawn_blocking(move || DiskQueue::open(&dir, max))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
        let (disk, recovery) = match opened {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(message = "Cannot open the remote-write queue; its samples are dropped", remote_name = %self.labels.remote_name, dir = %self.dir.display(), error = %e);
                while let Some(m) =
                    tokio::select! { _ = token.cancelled() => None, m = rx.recv() => m }
                {
                    self.metrics
                        .dropped
                        .get_or_create(&self.labels)
                        .inc_by(m.len() as u64);
                }
                return;
            }
        };
        if recovery.records > 0 || recovery.truncated_bytes > 0 {
            tracing::info!(message = "Remote-write queue has pending batches from before; sending them first", remote_name = %self.labels.remote_name, batches = recovery.records, samples = recovery.samples, truncated_bytes = recovery.truncated_bytes);
        }
        self.set_gauges(&disk);
        let disk: Shared = Arc::new(Mutex::new(disk));
        let wake = Arc::new(Notify::new());
        wake.notify_one();
        let sender = self.tracker.spawn(crate::base::task::boxed(sender(
            disk.clone(),
            wake.clone(),
            self.cfg.clone(),
            self.metrics.clone(),
            self.labels.clone(),
            token.clone(),
        )));

        let max = self.cfg.queue.max_samples_per_send.max(1);
        let mut batch: Vec<TimeSeries> = Vec::with_capacity(max);
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                biased;
                _ = token.cancelled() => break,
                m = rx.recv() => {
                    let Some(m) = m else { break };
                    self.add(&m, &mut batch, &disk, &wake, max).await;
                    if batch.is_empty() {
                        deadline = None;
                    } else if deadline.is_none() {
                        deadline = Some(tokio::time::Instant::now() + self.cfg.queue.batch_send_deadline);
                    }
                }
                _ = sleep_until(deadline) => {
                    self.flush(&mut batch, &disk, &wake).await;
                    deadline = None;
                }
            }
        }
        // Stopped: keep what was handed over.
        rx.close();
        while let Ok(m) = rx.try_recv() {
            self.add(&m, &mut batch, &disk, &wake, max).await;
        }
        self.flush(&mut batch, &disk, &wake).await;
        let _ = sender.await;
    }

    /// Relabels and batches one message, writing every full batch.
    async fn add(
        &self,
        m: &[Point],
        batch: &mut Vec<TimeSeries>,
        disk: &Shared,
        wake: &Notify,
        max: usize,
    ) {
        let rules = &self.cfg.write_relabel_configs;
        let mut dropped = 0u64;
        for p in m {
            let mut labels = p.labels.clone();
            if !rules.is_empty()
                && (!crate::relabel::process(&mut labels, rules) || labels.is_empty())
            {
                dropped += 1;
                continue;
            }
            batch.push(TimeSeries::single(labels, p.timestamp_ms, p.value));
            if batch.len() >= max {
                self.flush(batch, disk, wake).await;
            }
        }
        if dropped > 0 {
            self.metrics
                .dropped
                .get_or_create(&self.labels)
                .inc_by(dropped);
        }
    }

    /// Appends the batch to the disk queue (synced) and wakes the sender.
    async fn flush(&self, batch: &mut Vec<TimeSeries>, disk: &Shared, wake: &Notify) {
        if batch.is_empty() {
            return;
        }
        let req = WriteRequest {
            timeseries: std::mem::take(batch),
        };
        let (n, highest) = proto::summary(&req);
        let plain = proto::encode_plain(&req);
        let count = u32::try_from(n).unwrap_or(u32::MAX);
        match on_disk(disk, move |q| {
            let dropped = q.append(count, highest, &plain)?;
            Ok((dropped, q.pending_samples(), q.bytes()))
        })
        .await
        {
            Ok((dropped, pending, bytes)) => {
                if dropped > 0 {
                    self.metrics
                        .dropped
                        .get_or_create(&self.labels)
                        .inc_by(dropped);
                    tracing::warn!(message = "Remote-write queue over its bound; dropped its oldest samples", remote_name = %self.labels.remote_name, samples = dropped, max_bytes = self.max_bytes);
                }
                self.metrics
                    .pending
                    .get_or_create(&self.labels)
                    .set(pending as i64);
                self.metrics
                    .queue_bytes
                    .get_or_create(&self.labels)
                    .set(bytes as i64);
            }
            Err(e) => {
                self.metrics
                    .dropped
                    .get_or_create(&self.labels)
                    .inc_by(n as u64);
                tracing::error!(message = "Cannot write to the remote-write queue; samples dropped", remote_name = %self.labels.remote_name, samples = n, error = %e);
            }
        }
        wake.notify_one();
    }

    fn set_gauges(&self, disk: &DiskQueue) {
        self.metrics
            .pending
            .get_or_create(&self.labels)
            .set(disk.pending_samples() as i64);
        self.metrics
            .queue_bytes
            .get_or_create(&self.labels)
            .set(disk.bytes() as i64);
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The sender: the oldest batch on disk, sent with retries, then removed; sleeps until the
/// writer appends when the queue is empty.
async fn sender(
    disk: Shared,
    wake: Arc<Notify>,
    cfg: RemoteWriteConfig,
    metrics: RemoteMetrics,
    labels: QueueLabels,
    token: CancellationToken,
) {
    let client = match send::Client::new(&cfg) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(message = "Cannot build the remote-write client; batches stay queued", remote_name = %labels.remote_name, error = %e);
            return;
        }
    };
    loop {
        let rec = match on_disk(&disk, |q| q.peek()).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(message = "Cannot read the remote-write queue", remote_name = %labels.remote_name, error = %e);
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        let Some(rec) = rec else {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = wake.notified() => continue,
            }
        };
        let body = match proto::compress(&rec.payload) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(message = "Cannot compress a remote-write batch; dropped", error = %e);
                metrics
                    .failed
                    .get_or_create(&labels)
                    .inc_by(u64::from(rec.samples));
                let pos = rec.pos;
                let _ = on_disk(&disk, move |q| q.ack(pos)).await;
                continue;
            }
        };
        let size = body.len() as u64;
        let samples = u64::from(rec.samples);
        let outcome = send::with_backoff(
            &cfg.queue,
            &token,
            || {
                let body = body.clone();
                let client = &client;
                let metrics = &metrics;
                let labels = &labels;
                async move {
                    metrics.samples.get_or_create(labels).inc_by(samples);
                    let begin = tokio::time::Instant::now();
                    let r = client.store(body).await;
                    metrics
                        .sent_batch_duration
                        .get_or_create(labels)
                        .observe(begin.elapsed().as_secs_f64());
                    r
                }
            },
            |_| {
                metrics.retried.get_or_create(&labels).inc_by(samples);
            },
        )
        .await;
        match outcome {
            Outcome::Cancelled => return,
            Outcome::Sent => {
                metrics
                    .highest_sent
                    .get_or_create(&labels)
                    .set((rec.highest_ms / 1000) as f64);
            }
            Outcome::Failed(e) => {
                metrics.failed.get_or_create(&labels).inc_by(samples);
                tracing::error!(message = "non-recoverable error; remote-write batch dropped", remote_name = %labels.remote_name, count = samples, error = %e);
            }
        }
        metrics.bytes.get_or_create(&labels).inc_by(size);
        let pos = rec.pos;
        match on_disk(&disk, move |q| {
            q.ack(pos)?;
            Ok((q.pending_samples(), q.bytes()))
        })
        .await
        {
            Ok((pending, bytes)) => {
                metrics.pending.get_or_create(&labels).set(pending as i64);
                metrics.queue_bytes.get_or_create(&labels).set(bytes as i64);
            }
            Err(e) => {
                tracing::error!(message = "Cannot update the remote-write queue", remote_name = %labels.remote_name, error = %e);
            }
        }
    }
}

#[cfg(test)]
mod tests;
