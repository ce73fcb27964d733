//! What happens to scheduled results between the probe and the disk. [`Pending`] is the pure
//! part: it adds each result to its target's accumulator for that minute (the delta since the
//! last flush), opens an incident at a target's first failure and closes it at the next
//! success, and hands everything over as one [`Batch`] when asked. [`run`] is the loop that
//! owns the timers: it receives results from the sink's channel, flushes every
//! `flush_interval` (or sooner when `batch_size` results are waiting) on a blocking thread,
//! enforces retention with each flush, refreshes the `/metrics` figures once a minute, and
//! flushes what is left when the daemon stops.
//!
//! **Memory**: between flushes a target holds one [`Rollup`] (≈ 350 bytes) per minute it
//! probed in; after a flush only its open incident (start and a reason of at most
//! [`MAX_REASON_BYTES`]) and its id stay.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::db::{Batch, StoredIncident};
use super::period::{duration_ms, Level, MINUTE_MS};
use super::rollup::Rollup;
use super::Uptime;
use crate::clock::Now;
use crate::store::GroupKey;

/// The longest failure reason kept with an incident.
pub const MAX_REASON_BYTES: usize = 256;

/// One scheduled result, as the sink hands it over.
#[derive(Debug)]
pub struct Sample {
    pub key: GroupKey,
    pub timestamp_ms: i64,
    pub success: bool,
    pub duration_seconds: f64,
    /// Why it failed (`RunResult::failure`).
    pub failure: Option<String>,
}

/// Messages to the writer.
pub enum Msg {
    Sample(Sample),
    /// Write everything received so far, then answer.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// An incident in progress.
#[derive(Clone, Debug, PartialEq)]
pub struct Open {
    pub start_ms: i64,
    pub reason: String,
}

fn truncate_reason(s: &str) -> String {
    if s.len() <= MAX_REASON_BYTES {
        return s.to_string();
    }
    let mut end = MAX_REASON_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Results not yet written, and the incidents in progress.
#[derive(Default)]
pub struct Pending {
    deltas: HashMap<(u32, u32), Rollup>,
    open: HashMap<u32, Open>,
    incidents: Vec<StoredIncident>,
    new_targets: Vec<(u32, GroupKey)>,
    results: usize,
}

impl Pending {
    /// Starts with the incidents the store still has open.
    pub fn with_open(open: impl IntoIterator<Item = (u32, Open)>) -> Self {
        Self {
            open: open.into_iter().collect(),
            ..Self::default()
        }
    }

    /// A target seen for the first time: its id is written with the next batch.
    pub fn add_target(&mut self, id: u32, key: GroupKey) {
        self.new_targets.push((id, key));
    }

    /// Counts one result of target `id`.
    pub fn record(
        &mut self,
        id: u32,
        timestamp_ms: i64,
        success: bool,
        latency: f64,
        failure: Option<&str>,
    ) {
        self.results += 1;
        let minute = Level::Minute.period_of(timestamp_ms);
        self.deltas
            .entry((id, minute))
            .or_default()
            .observe(success, latency);
        match (success, self.open.get(&id)) {
            (false, None) => {
                let reason = truncate_reason(failure.unwrap_or("Probe failed"));
                self.incidents.push(StoredIncident {
                    target: id,
                    start_ms: timestamp_ms,
                    end_ms: None,
                    reason: reason.clone(),
                });
                self.open.insert(
                    id,
                    Open {
                        start_ms: timestamp_ms,
                        reason,
                    },
                );
            }
            (true, Some(_)) => {
                if let Some(open) = self.open.remove(&id) {
                    self.incidents.push(StoredIncident {
                        target: id,
                        start_ms: open.start_ms,
                        end_ms: Some(timestamp_ms.max(open.start_ms)),
                        reason: open.reason,
                    });
                }
            }
            _ => {}
        }
    }

    /// Results recorded since the last [`Pending::take`].
    pub fn results(&self) -> usize {
        self.results
    }

    /// The incident `id` has open.
    pub fn open_incident(&self, id: u32) -> Option<&Open> {
        self.open.get(&id)
    }

    /// Open incidents held.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Everything to write, leaving only the open incidents behind.
    pub fn take(&mut self) -> Batch {
        self.results = 0;
        let mut deltas: Vec<(u32, u32, Rollup)> = self
            .deltas
            .drain()
            .map(|((id, minute), r)| (id, minute, r))
            .collect();
        // Time-major, as the keys are: each tree is written left to right.
        crate::base::sort::sort_by_key(&mut deltas, |(id, minute, _)| (*minute, *id));
        self.deltas.shrink_to(64);
        Batch {
            new_targets: std::mem::take(&mut self.new_targets),
            deltas,
            incidents: std::mem::take(&mut self.incidents),
            prune: None,
            prune_incidents_before_ms: None,
        }
    }
}

/// The periods before which rollups are deleted, at `now_ms`: minutes older than the minute
/// retention, hours and days older than the hour retention (a day is kept while any of its
/// hours is).
pub fn cutoffs(now_ms: i64, minute_retention: Duration, hour_retention: Duration) -> [u32; 3] {
    let m = Level::Minute.period_of(now_ms - duration_ms(minute_retention) + 1);
    let h = Level::Hour.period_of(now_ms - duration_ms(hour_retention) + 1);
    let d = Level::Day.period_of(now_ms - duration_ms(hour_retention) + 1);
    [m, h, d]
}

/// Pure decision: the minute boundary the `/metrics` figures should end at when the clock
/// reads `now_ms` (results of a minute are given `settle` to arrive).
pub fn figures_end(now_ms: i64, settle: Duration) -> i64 {
    super::period::floor_to(now_ms - duration_ms(settle), MINUTE_MS)
}

/// The writer loop: runs until `shutdown`, then drains the channel and writes the rest.
pub async fn run(uptime: Arc<Uptime>, mut rx: mpsc::Receiver<Msg>, shutdown: CancellationToken) {
    let opts = uptime.options.clone();
    let mut pending = match uptime.db.open_incidents() {
        Ok(open) => Pending::with_open(open.into_iter().map(|i| {
            (
                i.target,
                Open {
                    start_ms: i.start_ms,
                    reason: i.reason,
                },
            )
        })),
        Err(e) => {
            tracing::error!(message = "Reading open incidents from the uptime store failed", error = %e);
            Pending::default()
        }
    };
    let period = opts.flush_interval.max(Duration::from_millis(10));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut waiters: Vec<tokio::sync::oneshot::Sender<()>> = Vec::new();
    // When the store was last pruned: an idle daemon (nothing probed since the last flush)
    // prunes once an hour instead of writing an empty batch every `flush_interval`.
    let mut pruned_ms = i64::MIN;
    loop {
        let flush_now = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => true,
            msg = rx.recv() => match msg {
                None => break,
                Some(Msg::Sample(s)) => {
                    accept(&uptime, &mut pending, s);
                    pending.results() >= opts.batch_size
                }
                Some(Msg::Flush(done)) => {
                    waiters.push(done);
                    true
                }
            },
        };
        if flush_now {
            let forced = !waiters.is_empty();
            flush(&uptime, &mut pending, &mut pruned_ms, forced).await;
            for w in waiters.drain(..) {
                let _ = w.send(());
            }
            maybe_refresh(&uptime).await;
        }
    }
    rx.close();
    while let Ok(msg) = rx.try_recv() {
        match msg {
            Msg::Sample(s) => accept(&uptime, &mut pending, s),
            Msg::Flush(done) => waiters.push(done),
        }
    }
    flush(&uptime, &mut pending, &mut pruned_ms, true).await;
    for w in waiters.drain(..) {
        let _ = w.send(());
    }
}

/// How often an idle writer (no results since the last flush) still prunes the store. Every
/// flush with results prunes too. Retention is counted in days, so an hour is soon enough;
/// once a minute, the write transaction and its blocking thread mapped about 3 MB of the
/// binary's code back into an idle daemon's RSS (large page-cache folios).
const IDLE_PRUNE_EVERY_MS: i64 = 3_600_000;

fn accept(uptime: &Uptime, pending: &mut Pending, s: Sample) {
    let (id, new) = uptime.target_id(&s.key);
    if new {
        pending.add_target(id, s.key.clone());
    }
    pending.record(
        id,
        s.timestamp_ms,
        s.success,
        s.duration_seconds,
        s.failure.as_deref(),
    );
}

/// Writes what is pending, with the prune cutoffs of now. With nothing pending and no one
/// waiting (`forced`), it writes only when the last prune is a minute old.
async fn flush(uptime: &Arc<Uptime>, pending: &mut Pending, pruned_ms: &mut i64, forced: bool) {
    let now_ms = Now::read().unix_ms();
    let opts = &uptime.options;
    let mut batch = pending.take();
    let nothing_new =
        batch.new_targets.is_empty() && batch.deltas.is_empty() && batch.incidents.is_empty();
    if nothing_new && !forced && now_ms.saturating_sub(*pruned_ms) < IDLE_PRUNE_EVERY_MS {
        return;
    }
    *pruned_ms = now_ms;
    batch.prune = Some(cutoffs(now_ms, opts.minute_retention, opts.hour_retention));
    batch.prune_incidents_before_ms = Some(now_ms - duration_ms(opts.hour_retention));
    let results = batch.deltas.iter().map(|(_, _, r)| r.probes).sum::<u64>();
    let db = uptime.db.clone();
    let outcome = tokio::task::spawn_blocking(move || db.write(&batch)).await;
    let error = match outcome {
        Ok(Ok(())) => {
            uptime.writes.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };
    tracing::error!(
        message = "Writing uptime history failed; these results are lost",
        error = %error,
        results,
    );
}

async fn maybe_refresh(uptime: &Arc<Uptime>) {
    let end = figures_end(Now::read().unix_ms(), uptime.options.settle);
    if uptime.figures_end_ms() >= end {
        return;
    }
    if !uptime.has_targets() {
        // Nothing to compute: no store read, no blocking thread.
        let _ = uptime.refresh_gauges(end);
        return;
    }
    let u = uptime.clone();
    match tokio::task::spawn_blocking(move || u.refresh_gauges(end)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(message = "Computing uptime figures failed", error = %e),
        Err(e) => tracing::error!(message = "Computing uptime figures failed", error = %e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_006_400_000;

    #[test]
    fn a_failure_run_is_one_incident_from_first_failure_to_recovery() {
        let mut p = Pending::default();
        p.record(1, T0 + 1_000, true, 0.1, None);
        p.record(1, T0 + 2_000, false, 0.2, Some("connection refused"));
        p.record(1, T0 + 3_000, false, 0.2, Some("timeout"));
        assert_eq!(
            p.open_incident(1),
            Some(&Open {
                start_ms: T0 + 2_000,
                reason: "connection refused".into()
            })
        );
        let b = p.take();
        // Written when it opens, so a crash mid-incident keeps it.
        assert_eq!(b.incidents.len(), 1);
        assert_eq!(b.incidents[0].end_ms, None);
        p.record(1, T0 + 4_000, true, 0.1, None);
        let b = p.take();
        assert_eq!(
            b.incidents,
            vec![StoredIncident {
                target: 1,
                start_ms: T0 + 2_000,
                end_ms: Some(T0 + 4_000),
                reason: "connection refused".into()
            }]
        );
        assert_eq!(p.open_count(), 0);
    }

    #[test]
    fn deltas_are_per_target_and_minute_and_cleared_by_take() {
        let mut p = Pending::default();
        p.record(1, T0, true, 0.1, None); // the minute ending at T0
        p.record(1, T0 + 1, true, 0.1, None); // the next one
        p.record(2, T0 + 1, false, 0.3, None);
        assert_eq!(p.results(), 3);
        let b = p.take();
        let m = Level::Minute.period_of(T0);
        let got: Vec<(u32, u32, u64)> = b
            .deltas
            .iter()
            .map(|(i, m, r)| (*i, *m, r.probes))
            .collect();
        assert_eq!(got, vec![(1, m, 1), (1, m + 1, 1), (2, m + 1, 1)]);
        assert_eq!(b.incidents[0].reason, "Probe failed");
        assert!(p.take().deltas.is_empty());
        assert_eq!(p.results(), 0);
        assert_eq!(p.open_count(), 1);
    }

    #[test]
    fn reasons_are_truncated_on_a_char_boundary() {
        let long = "é".repeat(200);
        let mut p = Pending::default();
        p.record(1, T0, false, 0.0, Some(&long));
        let r = &p
            .open_incident(1)
            .map(|o| o.reason.clone())
            .unwrap_or_default();
        assert!(r.len() <= MAX_REASON_BYTES && r.len() >= MAX_REASON_BYTES - 1);
    }

    #[test]
    fn retention_cutoffs() {
        let day = Duration::from_secs(86_400);
        let [m, h, d] = cutoffs(T0, 2 * day, 400 * day);
        // Everything of the last 48 h is kept, nothing before.
        assert_eq!(Level::Minute.end_of(m), T0 - 2 * 86_400_000 + 60_000);
        assert_eq!(m, Level::Minute.period_of(T0 - 2 * 86_400_000) + 1);
        assert_eq!(h, Level::Hour.period_of(T0 - 400 * 86_400_000) + 1);
        assert_eq!(d, Level::Day.period_of(T0 - 400 * 86_400_000) + 1);
        assert_eq!(
            figures_end(T0 + 9_000, Duration::from_secs(10)),
            T0 - 60_000
        );
        assert_eq!(figures_end(T0 + 10_000, Duration::from_secs(10)), T0);
    }
}
