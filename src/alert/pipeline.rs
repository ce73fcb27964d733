//! The running alert pipeline: the state shared by producers, the API and the dispatcher
//! ([`Alerting`]), the flush pipeline in Alertmanager's stage order, and the driver loop
//! that owns the group timers.
//!
//! Flush, per group: inhibit → active time intervals → mute time intervals → silences →
//! per integration (in parallel): dedup against the notification log → send with retry →
//! record in the log (only on success). Muting never touches the log.
//!
//! blackwatch extension (alertmanager #226, #2754): with `resolved_after_mute` (the
//! default), an alert that was notified as firing to an integration and resolves while it is
//! inhibited or silenced still reaches that integration as resolved, so the receiver is not
//! left with a firing alert that never ends. Turning it off restores upstream's behaviour.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::alert::config::AlertingConfig;
use crate::alert::dispatch::{Dispatcher, FlushJob};
use crate::alert::inhibit::Inhibitor;
use crate::alert::metrics::{AlertMetrics, ReasonLabel, ReceivedLabels, StateLabel, VersionLabel};
use crate::alert::nflog::{IntegrationId, NotificationLog};
use crate::alert::notify::build::build_integrations;
use crate::alert::notify::{Batch, Integration, NotifyContext};
use crate::alert::persist::{PersistError, Persister, Snapshot};
use crate::alert::retry::{notify_batch_with_retry, random_jitter, Jitter, RetryError};
use crate::alert::silence::{SilenceState, Silences};
use crate::alert::stages::{self, Fate, MutedBy, Muter};
use crate::alert::store::{ingest, Alert, AlertStore, InvalidAlert, StoredAlert};
use crate::alert::{AlertSink, PostableAlert};
use crate::clock::Now;

/// Reads the time; tests inject one derived from paused tokio time.
pub type Clock = Arc<dyn Fn() -> Now + Send + Sync>;

/// How long resolved alerts stay in the store after they resolved (Prometheus re-sends a
/// resolved alert for 15 minutes; merging needs the old copy that long).
const RESOLVED_RETENTION: Duration = Duration::from_secs(15 * 60);
/// How often the driver collects garbage and refreshes gauges.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(30);
/// How long in-flight flushes may finish after shutdown was requested.
const SHUTDOWN_FLUSH_GRACE: Duration = Duration::from_secs(5);

/// Pipeline settings that do not come from alertmanager.yml.
#[derive(Clone)]
pub struct Options {
    /// `--web.external-url`.
    pub external_url: String,
    /// `--data.retention`: how long expired silences and nflog entries are kept.
    pub retention: Duration,
    /// Where snapshots are written; `None` keeps everything in memory.
    pub storage_path: Option<std::path::PathBuf>,
    pub clock: Clock,
    pub jitter: Jitter,
    /// `--alerts.limit`: the most active alerts the store holds; new ones beyond it are
    /// refused (0 = unlimited).
    pub max_alerts: usize,
    /// `--silences.max-silences`: the most active and pending silences (0 = unlimited).
    pub max_silences: usize,
    /// `--silences.max-silence-size-bytes`: the largest silence accepted (0 = unlimited).
    pub max_silence_size_bytes: usize,
}

impl Options {
    pub fn new(external_url: String, retention: Duration) -> Self {
        Self {
            external_url,
            retention,
            storage_path: None,
            clock: Arc::new(Now::read),
            jitter: random_jitter(),
            max_alerts: 0,
            max_silences: 0,
            max_silence_size_bytes: 0,
        }
    }
}

/// What the config builds: the tree, receivers with their integrations, intervals.
pub struct Runtime {
    pub config: Arc<AlertingConfig>,
    /// Receiver name → integrations with their nflog identity.
    pub receivers: HashMap<String, Vec<(IntegrationId, Integration)>>,
    /// See the module doc.
    pub resolved_after_mute: bool,
}

impl Runtime {
    pub fn build(config: Arc<AlertingConfig>, client: &reqwest::Client) -> Self {
        let mut receivers = HashMap::new();
        // Parsed (and checked) when the config was loaded.
        let templates = config.template_set.clone();
        for r in &config.receivers {
            let base_dir = config
                .source
                .parent()
                .unwrap_or_else(|| std::path::Path::new("."));
            let (integrations, missing) = build_integrations(r, client, base_dir, &templates);
            for m in missing {
                tracing::error!(message = "Integration not built", detail = %m);
            }
            receivers.insert(r.name.clone(), integrations);
        }
        Self {
            resolved_after_mute: config.global.resolved_after_mute,
            config,
            receivers,
        }
    }
}

/// Why a flush did not deliver everything; the dispatcher flushes the group again at its
/// next tick.
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    #[error("unknown receiver {0:?}")]
    UnknownReceiver(String),
    #[error("{failed} integration(s) failed")]
    Notify { failed: usize },
}

/// Alerts, their groups and the inhibition cache, behind one lock.
pub struct Core {
    pub alerts: AlertStore,
    pub inhibitor: Inhibitor,
    pub dispatcher: Dispatcher,
    /// Bumped whenever the alert store changes (for the persister).
    pub version: u64,
}

/// The alert pipeline of one daemon.
pub struct Alerting {
    runtime: RwLock<Arc<Runtime>>,
    core: Mutex<Core>,
    silences: Mutex<Silences>,
    nflog: Mutex<NotificationLog>,
    pub metrics: AlertMetrics,
    pub options: Options,
    client: reqwest::Client,
    wake: tokio::sync::Notify,
    persister: Option<Persister>,
    /// Taken by a flush that writes the notification log after a send. Flushes finishing
    /// together share one write (group commit): those waiting behind the writer find their
    /// entry already on disk instead of each writing the whole log again.
    nflog_commit: tokio::sync::Mutex<()>,
    /// Process start, for `/api/v2/status`.
    pub started: SystemTime,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Alerting {
    /// Builds the pipeline for `config`, restoring persisted state from
    /// `options.storage_path` if there is any.
    pub fn new(
        config: Arc<AlertingConfig>,
        options: Options,
        metrics: AlertMetrics,
    ) -> Result<Arc<Self>, PersistError> {
        let client = crate::alert::notify::webhook::http_client().unwrap_or_else(|e| {
            tracing::error!(message = "Building the notifier HTTP client failed", error = %e);
            reqwest::Client::new()
        });
        let runtime = Arc::new(Runtime::build(config.clone(), &client));
        let now = (options.clock)();
        let persister = options.storage_path.clone().map(Persister::new);
        let (mut alerts, mut silences, mut nflog) = (
            AlertStore::new(),
            Silences::new(options.retention),
            NotificationLog::new(options.retention),
        );
        if let Some(p) = &persister {
            let state = p.load()?;
            for a in state.alerts {
                alerts.restore(&a);
            }
            silences = Silences::from_snapshot(options.retention, state.silences, now.wall);
            nflog.restore(state.nflog, now.wall);
        }
        let silences = silences
            .with_limit(options.max_silences)
            .with_max_size(options.max_silence_size_bytes);
        let core = Core {
            inhibitor: Inhibitor::new(config.inhibit_rules.clone()),
            dispatcher: Dispatcher::new(Arc::new(config.route.clone())),
            alerts,
            version: 0,
        };
        let me = Arc::new(Self {
            runtime: RwLock::new(runtime),
            core: Mutex::new(core),
            silences: Mutex::new(silences),
            nflog: Mutex::new(nflog),
            metrics,
            options,
            client,
            wake: tokio::sync::Notify::new(),
            persister,
            nflog_commit: tokio::sync::Mutex::new(()),
            started: now.wall,
        });
        me.rebuild_groups(now);
        me.refresh_config_metrics();
        Ok(me)
    }

    pub fn now(&self) -> Now {
        (self.options.clock)()
    }

    pub fn runtime(&self) -> Arc<Runtime> {
        match self.runtime.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub fn core(&self) -> MutexGuard<'_, Core> {
        lock(&self.core)
    }

    pub fn silences(&self) -> MutexGuard<'_, Silences> {
        lock(&self.silences)
    }

    pub fn nflog(&self) -> MutexGuard<'_, NotificationLog> {
        lock(&self.nflog)
    }

    /// Applies a new config: integrations, inhibition rules and the routing tree are rebuilt,
    /// groups are recreated from the stored alerts (old ones flush at once; dedup prevents
    /// duplicates). An unchanged config changes nothing.
    pub fn apply_config(&self, config: Arc<AlertingConfig>) {
        let current = self.runtime();
        if current.config.same_as(&config) {
            return;
        }
        let runtime = Arc::new(Runtime::build(config.clone(), &self.client));
        match self.runtime.write() {
            Ok(mut g) => *g = runtime,
            Err(p) => *p.into_inner() = runtime,
        }
        {
            let mut core = self.core();
            core.inhibitor = Inhibitor::new(config.inhibit_rules.clone());
            core.dispatcher = Dispatcher::new(Arc::new(config.route.clone()));
        }
        self.rebuild_groups(self.now());
        self.refresh_config_metrics();
        self.wake.notify_one();
    }

    fn rebuild_groups(&self, now: Now) {
        let mut core = self.core();
        let core = &mut *core;
        let mut alerts: Vec<Arc<StoredAlert>> = core.alerts.iter().cloned().collect();
        alerts.sort_by_key(|a| a.updated_at);
        for a in &alerts {
            let labels = a.labels();
            core.inhibitor.observe(&labels, a.ends_at);
            core.dispatcher.insert(a, &labels, now);
        }
    }

    fn refresh_config_metrics(&self) {
        let rt = self.runtime();
        self.metrics.receivers.set(rt.config.receivers.len() as i64);
        self.metrics
            .integrations
            .set(rt.receivers.values().map(|v| v.len() as i64).sum());
        self.metrics
            .inhibition_rules
            .set(rt.config.inhibit_rules.len() as i64);
    }

    /// Ingests posted alerts at wall time `now` (Alertmanager's `postAlertsHandler`): valid
    /// alerts are stored even if others are invalid; the invalid ones are returned. New
    /// fingerprints beyond `Options::max_alerts` active alerts are refused and reported as
    /// one [`InvalidAlert::Limit`]; updates to stored alerts always pass.
    pub fn ingest(&self, posted: Vec<PostableAlert>, now: SystemTime) -> Vec<InvalidAlert> {
        let resolve_timeout = self.runtime().config.global.resolve_timeout;
        let mut invalid = Vec::new();
        let clock = self.now();
        let tick = Now {
            mono: clock.mono,
            wall: now,
        };
        let limit = self.options.max_alerts;
        let mut refused = 0;
        {
            let mut core = self.core();
            let core = &mut *core;
            // Active alerts are never more than stored ones: while the store plus this batch
            // stays within the limit nothing can be refused, and the (full) count is skipped.
            let limited = limit > 0 && core.alerts.len() + posted.len() > limit;
            // Counted once per batch, then kept up to date as new alerts come in.
            let mut active = if limited { core.alerts.active(now) } else { 0 };
            for p in posted {
                match ingest(p, now, resolve_timeout) {
                    Ok(a) if limited && core.alerts.get(a.fingerprint()).is_none() => {
                        if active >= limit {
                            refused += 1;
                            continue;
                        }
                        if a.ends_at > now {
                            active += 1;
                        }
                        self.store_alert(core, &a, now, tick);
                    }
                    Ok(a) => self.store_alert(core, &a, now, tick),
                    Err(e) => {
                        self.metrics
                            .alerts_invalid
                            .get_or_create(&VersionLabel { version: "v2" })
                            .inc();
                        invalid.push(e);
                    }
                }
            }
            if refused > 0 {
                self.metrics
                    .alerts_refused
                    .get_or_create(&ReasonLabel { reason: "limit" })
                    .inc_by(refused as u64);
                invalid.push(InvalidAlert::Limit {
                    count: refused,
                    active,
                    limit,
                });
            }
        }
        self.wake.notify_one();
        if let Some(p) = &self.persister {
            p.mark_dirty();
        }
        invalid
    }

    fn store_alert(&self, core: &mut Core, a: &Alert, now: SystemTime, tick: Now) {
        let status = if a.ends_at > now {
            "firing"
        } else {
            "resolved"
        };
        self.metrics
            .alerts_received
            .get_or_create(&ReceivedLabels {
                status,
                version: "v2",
            })
            .inc();
        let stored = core.alerts.put(a, now);
        core.inhibitor.observe(&a.labels, stored.ends_at);
        core.dispatcher.insert(&stored, &a.labels, tick);
        core.version += 1;
    }

    /// Notes a silence change for the persister.
    pub fn silences_changed(&self) {
        if let Some(p) = &self.persister {
            p.mark_dirty();
        }
    }

    /// Runs one flush of one group: the stages of `alert::stages` in upstream's order, then
    /// every integration of the receiver in parallel. `Ok` if every integration succeeded
    /// or nothing had to be sent.
    pub async fn flush(self: &Arc<Self>, job: &Arc<FlushJob>) -> Result<(), FlushError> {
        let rt = self.runtime();
        let now = job.now.wall;
        // What each alert became. Indices, not copies: a flush may carry many alerts.
        let mut fates = vec![Fate::Kept; job.alerts.len()];
        let inhibited = {
            let core = self.core();
            stages::mute(
                &job.alerts,
                &mut fates,
                Muter::Inhibitor(&core.inhibitor),
                now,
            )
        };
        self.suppressed(MutedBy::Inhibition, inhibited);
        if let Some(by) = stages::time_muted(&job.opts, &rt.config.time_intervals, now) {
            self.suppressed(by, stages::kept(&fates));
            return Ok(());
        }
        let silenced = {
            let silences = self.silences();
            stages::mute(&job.alerts, &mut fates, Muter::Silences(&silences), now)
        };
        self.suppressed(MutedBy::Silence, silenced);
        if !stages::any_to_send(&job.alerts, &fates, rt.resolved_after_mute) {
            return Ok(());
        }
        let Some(integrations) = rt.receivers.get(&job.opts.receiver) else {
            tracing::error!(message = "Unknown receiver", receiver = %job.opts.receiver);
            return Err(FlushError::UnknownReceiver(job.opts.receiver.clone()));
        };
        let fates: Arc<[Fate]> = fates.into();
        let mut tasks = JoinSet::new();
        for (id, integration) in integrations {
            let (id, integration) = (id.clone(), integration.clone());
            let me = Arc::clone(self);
            let (fates, job) = (fates.clone(), job.clone());
            let resolved_after_mute = rt.resolved_after_mute;
            tasks.spawn(async move {
                me.notify_integration(&job, &id, &integration, &fates, resolved_after_mute)
                    .await
            });
        }
        let mut failed = 0;
        while let Some(r) = tasks.join_next().await {
            // A panicked task counts as a failed integration.
            if !matches!(r, Ok(Ok(()))) {
                failed += 1;
            }
        }
        match failed {
            0 => Ok(()),
            failed => Err(FlushError::Notify { failed }),
        }
    }

    /// Counts alerts a stage muted.
    fn suppressed(&self, by: MutedBy, n: usize) {
        if n > 0 {
            self.metrics
                .suppressed
                .get_or_create(&ReasonLabel {
                    reason: by.reason(),
                })
                .inc_by(n as u64);
        }
    }

    /// One integration's part of a flush: the dedup stage and the send filter
    /// ([`stages::select`]), the send with retry, and the notification log (only on success).
    async fn notify_integration(
        &self,
        job: &FlushJob,
        id: &IntegrationId,
        integration: &Integration,
        fates: &[Fate],
        resolved_after_mute: bool,
    ) -> Result<(), RetryError> {
        let now = job.now.wall;
        let key = id.state_key(&job.group_key);
        let entry = self.nflog().query(&key, now).cloned();
        let Some(selection) = stages::select(
            &job.alerts,
            fates,
            entry.as_ref(),
            resolved_after_mute,
            integration.send_resolved,
            job.opts.repeat_interval,
            now,
        ) else {
            return Ok(());
        };
        if !selection.send.is_empty() {
            // Shared stored alerts: the notifier builds its payload from them.
            let to_send = Batch::Stored(
                selection
                    .send
                    .iter()
                    .map(|&i| job.alerts[i].clone())
                    .collect(),
            );
            let ctx = NotifyContext {
                receiver: job.opts.receiver.clone(),
                group_key: job.group_key.clone(),
                group_labels: job.group_labels.clone(),
                external_url: self.options.external_url.clone(),
                reason: selection.reason,
                now,
            };
            let deadline = Instant::now() + job.opts.group_interval.max(Duration::from_secs(10));
            if let Err(e) = notify_batch_with_retry(
                integration,
                &ctx,
                &to_send,
                deadline,
                &self.options.jitter,
                &self.metrics,
            )
            .await
            {
                tracing::error!(
                    message = "Notify for alerts failed",
                    receiver = %id.receiver,
                    integration = %format!("{}[{}]", id.integration, id.index),
                    num_alerts = to_send.len(),
                    error = %e
                );
                return Err(e);
            }
            tracing::debug!(
                message = "Notify success",
                receiver = %id.receiver,
                integration = %format!("{}[{}]", id.integration, id.index),
                reason = selection.reason.as_str()
            );
        }
        // Upstream logs the time the send finished, not the tick time; at a tick exactly
        // `repeat_interval` later this decides the same way Alertmanager does.
        let logged_at = self.now().wall.max(now);
        let logged = {
            let mut log = self.nflog();
            let (firing, resolved) = (selection.firing, selection.resolved);
            log.log(key, firing, resolved, job.opts.repeat_interval, logged_at);
            log.version()
        };
        if let Some(p) = &self.persister {
            // Written before the flush returns, so a crash right after a send does not
            // send it again.
            self.commit_nflog(p, logged).await;
        }
        Ok(())
    }

    /// Writes the notification log up to version `logged` at least (after a send). Whoever
    /// holds the commit lock writes everything logged so far; the flushes waiting behind it
    /// find their entry already written. A failed write is counted and logged, and the next
    /// flush or the debounced writer tries again; the send itself succeeded.
    async fn commit_nflog(&self, p: &Persister, logged: u64) {
        let _turn = self.nflog_commit.lock().await;
        if p.written().nflog >= logged {
            return;
        }
        if let Err(e) = self.write_nflog(p).await {
            self.metrics.nflog_maintenance_errors.inc();
            tracing::error!(message = "Writing the notification log failed", error = %e);
        }
    }

    /// Writes the notification log if it changed since it was last written.
    async fn write_nflog(&self, p: &Persister) -> Result<(), PersistError> {
        let snapshot = {
            let log = self.nflog();
            (log.version() > p.written().nflog).then(|| Snapshot {
                version: log.version(),
                content: log.snapshot(),
            })
        };
        if let Some(snapshot) = snapshot {
            if let Some(size) = p.write_nflog(snapshot).await? {
                self.metrics.nflog_snapshot_size_bytes.set(size as i64);
                self.metrics.nflog_maintenance.inc();
            }
        }
        Ok(())
    }

    /// Writes every state file whose state changed since it was last written: the alerts
    /// (shared with the store, serialised off the runtime), the silences, the notification
    /// log. Stops at the first failure.
    async fn write_changed(&self, p: &Persister) -> Result<(), PersistError> {
        let alerts = {
            let core = self.core();
            (core.version > p.written().alerts).then(|| Snapshot {
                version: core.version,
                content: core.alerts.iter().cloned().collect(),
            })
        };
        if let Some(snapshot) = alerts {
            p.write_alerts(snapshot).await?;
        }
        let silences = {
            let s = self.silences();
            (s.version() > p.written().silences).then(|| Snapshot {
                version: s.version(),
                content: s.snapshot(),
            })
        };
        if let Some(snapshot) = silences {
            if let Some(size) = p.write_silences(snapshot).await? {
                self.metrics.silences_snapshot_size_bytes.set(size as i64);
            }
        }
        self.write_nflog(p).await
    }

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
                if core.inhibitor.mutes(&labels, now.wall).is_some()
                    || !silences.mutes(&labels, now.wall).is_empty()
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
            tokio::spawn(async move { p.run(token, || me.write_changed(&p)).await })
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
                flushes.spawn(async move {
                    let ok = me.flush(&job).await.is_ok();
                    (job, ok)
                });
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

impl AlertSink for Alerting {
    fn put(&self, alerts: Vec<PostableAlert>, now: SystemTime) {
        for e in self.ingest(alerts, now) {
            match e {
                InvalidAlert::Limit { .. } => {
                    tracing::warn!(message = "Rule alerts dropped: --alerts.limit reached", error = %e)
                }
                _ => tracing::warn!(message = "Invalid alert", error = %e),
            }
        }
    }
}

impl Alerting {
    /// Routes a receiver to the given integrations instead of the configured ones, until
    /// the next config change. For embedding and tests (e.g. an in-process capture).
    pub fn replace_integrations(
        &self,
        receiver: &str,
        integrations: Vec<(IntegrationId, Integration)>,
    ) {
        let rt = self.runtime();
        let mut receivers = rt.receivers.clone();
        receivers.insert(receiver.to_string(), integrations);
        let new = Arc::new(Runtime {
            config: rt.config.clone(),
            receivers,
            resolved_after_mute: rt.resolved_after_mute,
        });
        match self.runtime.write() {
            Ok(mut g) => *g = new,
            Err(p) => *p.into_inner() = new,
        }
    }
}

#[cfg(test)]
mod tests;
