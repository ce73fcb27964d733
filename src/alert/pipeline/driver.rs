//! The driver loop that owns the pipeline's timers: it sleeps until the next group timer,
//! new alerts, maintenance or a finished flush, hands due flushes out as tasks and reports
//! their outcome to the dispatcher; maintenance (garbage collection, gauges, heap trimming);
//! the persister's task, started and awaited here.
//!
//! It owns the sleeping, not the decisions: the dispatcher (`dispatch.rs`) says which
//! groups are due at the time this loop read, the flush (`flush.rs`) runs them.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Alerting;
use crate::alert::dispatch::FlushJob;
use crate::alert::metrics::StateLabel;
use crate::alert::silence::SilenceState;
use crate::alert::stages::Muter;
use crate::clock::Now;

/// How long resolved alerts stay in the store after they resolved (Prometheus re-sends a
/// resolved alert for 15 minutes; merging needs the old copy that long).
const RESOLVED_RETENTION: Duration = Duration::from_secs(15 * 60);
/// How often the driver collects garbage and refreshes gauges.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(30);
/// How long in-flight flushes may finish after shutdown was requested.
const SHUTDOWN_FLUSH_GRACE: Duration = Duration::from_secs(5);

impl Alerting {
    /// Garbage collection and gauges.
    pub fn maintain(&self, now: Now) {
        {
            let mut core = self.core();
            let core = &mut *core;
            let cutoff = now
                .wall
                .checked_sub(RESOLVED_RETENTION)
                .unwrap_or(UNIX_EPOCH);
            let dispatcher = &core.dispatcher;
            let removed = core.alerts.gc(cutoff, |fp| dispatcher.holds(fp));
            if removed > 0 {
                core.version += 1;
            }
            core.inhibitor.gc(cutoff);
        }
        if self.silences().gc(now.wall) > 0 {
            self.silences_changed();
        }
        if self.nflog().gc(now.wall) > 0 {
            if let Some(p) = &self.persister {
                p.mark_dirty();
            }
        }
        self.refresh_gauges(now);
    }

    /// Sets the state gauges (alerts active/suppressed, aggregation groups, silences by
    /// state) from the current state at `now`. Called at maintenance and before every
    /// `/metrics` scrape, so a scrape sees the state as of the scrape, as upstream's
    /// collectors compute it.
    pub fn refresh_gauges(&self, now: Now) {
        let (active, suppressed, groups) = {
            let core = self.core();
            let silences = self.silences();
            let (mut active, mut suppressed) = (0, 0);
            // Without inhibit rules and active silences nothing is suppressed: count only
            // (a scrape holds the store's lock; 100k label sets cost tens of milliseconds).
            let may_mute = core.inhibitor.rules().next().is_some()
                || !silences
                    .in_states(now.wall, &[SilenceState::Active])
                    .is_empty();
            for a in core.alerts.iter().filter(|a| !a.resolved_at(now.wall)) {
                if !may_mute {
                    active += 1;
                    continue;
                }
                let labels = a.labels();
                if Muter::Inhibitor(&core.inhibitor).mutes(&labels, now.wall)
                    || Muter::Silences(&silences).mutes(&labels, now.wall)
                {
                    suppressed += 1;
                } else {
                    active += 1;
                }
            }
            (active, suppressed, core.dispatcher.len())
        };
        self.metrics
            .alerts
            .get_or_create(&StateLabel { state: "active" })
            .set(active);
        self.metrics
            .alerts
            .get_or_create(&StateLabel {
                state: "suppressed",
            })
            .set(suppressed);
        self.metrics.aggregation_groups.set(groups as i64);
        let counts = self.silences().count_by_state(now.wall);
        for (state, n) in counts {
            let state = match state {
                SilenceState::Active => "active",
                SilenceState::Pending => "pending",
                SilenceState::Expired => "expired",
            };
            self.metrics
                .silences
                .get_or_create(&StateLabel { state })
                .set(n as i64);
        }
    }

    /// The driver loop: sleeps until the next group timer (or new alerts), hands out due
    /// flushes as tasks, records their outcome, runs maintenance, and writes snapshots.
    /// Returns after `token` is cancelled, once in-flight flushes finished (or after a short
    /// grace) and the final snapshot is written.
    pub async fn run(self: Arc<Self>, token: CancellationToken) {
        let mut flushes: JoinSet<(Arc<FlushJob>, bool)> = JoinSet::new();
        let mut next_maintenance = Instant::now();
        let persist_task = self.persister.clone().map(|p| {
            let me = Arc::clone(&self);
            let token = token.clone();
            tokio::spawn(crate::base::task::boxed(async move {
                p.run(token, || me.write_changed(&p)).await
            }))
        });
        // Alerts ingested or flushed since the heap was last trimmed (see `release_free_heap`).
        let mut trimmed_at_version = 0u64;
        let mut flushed_since_trim = 0usize;
        loop {
            let deadline = self.core().dispatcher.next_deadline();
            let wake_at = deadline.map_or(next_maintenance, |d| d.min(next_maintenance));
            tokio::select! {
                _ = token.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep_until(wake_at) => {}
                Some(done) = flushes.join_next(), if !flushes.is_empty() => {
                    if let Ok((job, ok)) = done {
                        let now = self.now();
                        self.core().dispatcher.flush_done(&job, ok, now);
                    }
                }
            }
            let now = self.now();
            if now.mono >= next_maintenance {
                self.maintain(now);
                next_maintenance = now.mono + MAINTENANCE_INTERVAL;
            }
            let (jobs, version) = {
                let mut core = self.core();
                (core.dispatcher.due(now), core.version)
            };
            if flushes.is_empty()
                && jobs.is_empty()
                && flushed_since_trim as u64 + version.saturating_sub(trimmed_at_version)
                    >= TRIM_AFTER_ALERTS
            {
                // Quiet moment after a burst: hand the freed heap back (off the loop).
                trimmed_at_version = version;
                flushed_since_trim = 0;
                tokio::task::spawn_blocking(release_free_heap);
            }
            for job in jobs {
                flushed_since_trim += job.alerts.len();
                let me = Arc::clone(&self);
                let job = Arc::new(job);
                flushes.spawn(crate::base::task::boxed(async move {
                    let ok = me.flush(&job).await.is_ok();
                    (job, ok)
                }));
            }
        }
        let _ = tokio::time::timeout(SHUTDOWN_FLUSH_GRACE, async {
            while flushes.join_next().await.is_some() {}
        })
        .await;
        flushes.abort_all();
        if let Some(t) = persist_task {
            let _ = t.await;
        }
    }
}

/// Alerts ingested or flushed after which the next quiet moment trims the heap.
const TRIM_AFTER_ALERTS: u64 = 10_000;

/// Returns free heap pages to the OS after a burst (the posted bodies, the notification
/// payloads of a flush of many groups). The binary's allocator is mimalloc (see `main.rs`);
/// in other hosts of the library (tests) this asks glibc to trim instead.
fn release_free_heap() {
    crate::heap::release_free();
}
