//! Uptime history: every scheduled probe rolled up per target (job, instance, module) per
//! minute (kept `--uptime.minute-retention`, 48 h by default) and per hour and UTC day
//! (`--uptime.hour-retention`, 400 d), plus incidents (a failure run from the first failed
//! probe to the next success, with that first failure's reason), in an embedded redb file
//! under `--storage.path`. From them: the figures of [`query`] (uptime ratio, latency
//! quantiles, incidents, MTTR, per target and per job, over a window) for the JSON API and
//! the `/metrics` gauges of [`gauges`], recomputed once a minute.
//!
//! Results arrive through [`UptimeSink`] (a `schedule::ResultSink`: a non-blocking
//! `try_send` on the probe's task) and are written in batches by [`writer::run`], the one
//! loop that reads the clock here; `rollup`, `period` and `writer::Pending` are pure.
//! This module knows nothing of HTTP (the server calls [`Uptime::figures`] and
//! [`Uptime::incidents`]) or of the rule engine.

pub mod db;
pub mod gauges;
pub mod period;
pub mod query;
pub mod rollup;
pub mod series;
pub mod writer;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::schedule::{ResultSink, RunResult, Scheduled};
use crate::store::GroupKey;

pub use db::DbError;
pub use period::Window;
pub use query::{Figures, Incident, Query};

/// `--uptime.*` settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// `--uptime.enabled`: keep history at all.
    pub enabled: bool,
    /// `--uptime.minute-retention`.
    pub minute_retention: Duration,
    /// `--uptime.hour-retention` (also the incidents' and the daily rollups').
    pub hour_retention: Duration,
    /// `--uptime.flush-interval`: how often results are written.
    pub flush_interval: Duration,
    /// Results that make the writer flush before the interval is up.
    pub batch_size: usize,
    /// How long after a minute ends the `/metrics` figures wait before counting it.
    pub settle: Duration,
    /// Results waiting for the writer before new ones are dropped (and counted).
    pub queue: usize,
    /// redb's page cache, bytes (shared by all targets).
    pub cache_bytes: usize,
    /// `--uptime.metrics`: which per-target figures `/metrics` shows.
    pub metrics: gauges::Detail,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            enabled: true,
            minute_retention: Duration::from_secs(48 * 3600),
            hour_retention: Duration::from_secs(400 * 86_400),
            flush_interval: Duration::from_secs(5),
            batch_size: 20_000,
            settle: Duration::from_secs(10),
            queue: 100_000,
            cache_bytes: db::CACHE_BYTES,
            metrics: gauges::Detail::default(),
        }
    }
}

impl Options {
    /// History is kept only when enabled with a non-zero retention.
    pub fn active(&self) -> bool {
        self.enabled && !(self.minute_retention.is_zero() && self.hour_retention.is_zero())
    }
}

/// Target ids: assigned on a target's first result, persisted with the next batch.
#[derive(Default)]
struct Targets {
    ids: HashMap<GroupKey, u32>,
    keys: Vec<Option<GroupKey>>,
}

/// The uptime history of one daemon: the store, the writer's queue, the figures cache.
pub struct Uptime {
    db: db::Db,
    options: Options,
    targets: RwLock<Targets>,
    tx: mpsc::Sender<writer::Msg>,
    dropped: AtomicU64,
    /// The `/metrics` figures, recomputed once a minute by the writer.
    gauges: RwLock<Arc<gauges::Cache>>,
    gauges_end_ms: AtomicI64,
    /// Batches written so far: what was read before is out of date once this moves.
    writes: AtomicU64,
}

impl Uptime {
    /// Opens the store in `dir` (moving a corrupted one aside) and starts the writer on
    /// `tasks`; it stops, after a last flush, when `shutdown` is cancelled.
    pub fn start(
        dir: &Path,
        options: Options,
        tasks: &TaskTracker,
        shutdown: &CancellationToken,
    ) -> Result<Arc<Uptime>, DbError> {
        let (uptime, rx) = Self::open(dir, options)?;
        tasks.spawn(crate::base::task::boxed(writer::run(
            uptime.clone(),
            rx,
            shutdown.clone(),
        )));
        Ok(uptime)
    }

    /// Opens the store without starting the writer (which `rx` feeds).
    pub(crate) fn open(
        dir: &Path,
        options: Options,
    ) -> Result<(Arc<Uptime>, mpsc::Receiver<writer::Msg>), DbError> {
        let now_s = crate::clock::Now::read().unix_ms() / 1000;
        let db = db::Db::open(dir, now_s, options.cache_bytes)?;
        let mut targets = Targets::default();
        for (id, key) in db.targets()? {
            let i = id as usize;
            if targets.keys.len() <= i {
                targets.keys.resize(i + 1, None);
            }
            targets.keys[i] = Some(key.clone());
            targets.ids.insert(key, id);
        }
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let uptime = Arc::new(Uptime {
            db,
            options,
            targets: RwLock::new(targets),
            tx,
            dropped: AtomicU64::new(0),
            gauges: RwLock::new(Arc::new(gauges::Cache::default())),
            gauges_end_ms: AtomicI64::new(i64::MIN),
            writes: AtomicU64::new(0),
        });
        Ok((uptime, rx))
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        self.db.path()
    }

    /// Hands one result to the writer without waiting; counted as dropped when the queue is
    /// full.
    pub fn submit(&self, sample: writer::Sample) {
        if self.tx.try_send(writer::Msg::Sample(sample)).is_err()
            && self.dropped.fetch_add(1, Ordering::Relaxed) == 0
        {
            tracing::warn!(message = "The uptime writer is behind; dropping results (counted in blackwatch_uptime_dropped_results_total)");
        }
    }

    /// Results dropped because the writer's queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes everything submitted so far; returns once it is on disk.
    pub async fn flush(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.tx.send(writer::Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// The id of `key`, and whether it was just assigned.
    fn target_id(&self, key: &GroupKey) -> (u32, bool) {
        if let Some(id) = crate::base::sync::read(&self.targets).ids.get(key) {
            return (*id, false);
        }
        let mut t = crate::base::sync::write(&self.targets);
        if let Some(id) = t.ids.get(key) {
            return (*id, false);
        }
        let id = u32::try_from(t.keys.len()).unwrap_or(u32::MAX);
        t.keys.push(Some(key.clone()));
        t.ids.insert(key.clone(), id);
        (id, true)
    }

    /// Known targets matching a filter, with their ids.
    fn matching(&self, q: &Query) -> Vec<(u32, GroupKey)> {
        let t = crate::base::sync::read(&self.targets);
        t.ids
            .iter()
            .filter(|(k, _)| q.matches(k))
            .map(|(k, id)| (*id, k.clone()))
            .collect()
    }

    fn key_of(&self, id: u32) -> Option<GroupKey> {
        crate::base::sync::read(&self.targets)
            .keys
            .get(id as usize)
            .cloned()
            .flatten()
    }

    /// The start of what minute rollups still hold at `now_ms` (see `Window::resolve`).
    pub fn minute_cutoff_ms(&self, now_ms: i64) -> i64 {
        let [m, _, _] = writer::cutoffs(
            now_ms,
            self.options.minute_retention,
            self.options.hour_retention,
        );
        i64::from(m) * period::MINUTE_MS
    }

    /// The window of length `w` ending now (at the next minute boundary).
    pub fn last(&self, w: Duration, now_ms: i64) -> Window {
        Window::last(w, now_ms, self.minute_cutoff_ms(now_ms))
    }

    /// The window the rollups answer for `(from_ms, to_ms]`.
    pub fn window(&self, from_ms: i64, to_ms: i64, now_ms: i64) -> Window {
        Window::resolve(from_ms, to_ms, self.minute_cutoff_ms(now_ms))
    }

    /// Batches written since the store was opened (a figure read before the count moved
    /// may be out of date).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// The `/metrics` figures (empty until the first minute has been computed).
    pub fn gauges(&self) -> Arc<gauges::Cache> {
        crate::base::sync::read(&self.gauges).clone()
    }

    fn figures_end_ms(&self) -> i64 {
        self.gauges_end_ms.load(Ordering::Relaxed)
    }

    /// Whether any target has a result in the history (or waiting to be written).
    pub fn has_targets(&self) -> bool {
        !crate::base::sync::read(&self.targets).ids.is_empty()
    }

    /// Recomputes the `/metrics` figures for windows ending at `end_ms` (blocking, unless
    /// no target has a result yet).
    pub fn refresh_gauges(&self, end_ms: i64) -> Result<(), DbError> {
        // No target has ever had a result: every figure is empty, no need to read the store.
        if !self.has_targets() {
            self.gauges_end_ms.store(end_ms, Ordering::Relaxed);
            return Ok(());
        }
        let cache = gauges::compute(self, end_ms)?;
        *crate::base::sync::write(&self.gauges) = Arc::new(cache);
        self.gauges_end_ms.store(end_ms, Ordering::Relaxed);
        Ok(())
    }
}

/// The scheduler's sink feeding an [`Uptime`].
pub struct UptimeSink(pub Arc<Uptime>);

impl ResultSink for UptimeSink {
    fn scheduled_result(&self, scheduled: &Scheduled, result: &RunResult) {
        self.0.submit(writer::Sample {
            key: scheduled.key.clone(),
            timestamp_ms: result.timestamp_ms,
            success: result.success(),
            duration_seconds: result.duration_seconds(),
            failure: result.failure.clone(),
        });
    }
}

#[cfg(test)]
mod tests;
