//! The running alert pipeline: the state shared by producers, the API and the dispatcher
//! ([`Alerting`]: the alert store, inhibition cache and aggregation groups behind one lock,
//! the silences, the notification log, the integrations built from the config), its
//! construction with restored state, and config reloads.
//!
//! Flush, per group: inhibit → active time intervals → mute time intervals → silences →
//! per integration (in parallel): dedup against the notification log → send with retry →
//! record in the log (only on success). Muting never touches the log.
//!
//! blackwatch extension (alertmanager #226, #2754): with `resolved_after_mute` (the
//! default), an alert that was notified as firing to an integration and resolves while it is
//! inhibited or silenced still reaches that integration as resolved, so the receiver is not
//! left with a firing alert that never ends. Turning it off restores upstream's behaviour.
//!
//! The parts, each an `impl Alerting` of its own concern: `ingest.rs` (posted alerts in,
//! `AlertSink`), `flush.rs` (one group's flush through the stages of `alert::stages`),
//! `driver.rs` (the loop that owns the timers, maintenance, gauges), `snapshots.rs` (what
//! `persist.rs` writes). The decisions are not made here: the dispatcher (`dispatch.rs`)
//! and the stages are pure and take the time as an argument.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

use crate::alert::config::AlertingConfig;
use crate::alert::dispatch::Dispatcher;
use crate::alert::inhibit::Inhibitor;
use crate::alert::metrics::AlertMetrics;
use crate::alert::nflog::{IntegrationId, NotificationLog};
use crate::alert::notify::build::build_integrations;
use crate::alert::notify::Integration;
use crate::alert::persist::{PersistError, Persister};
use crate::alert::retry::{random_jitter, Jitter};
use crate::alert::silence::Silences;
use crate::alert::store::{AlertStore, StoredAlert};
use crate::clock::Now;

// The names `tests.rs` takes from here with `use super::*`, besides those above.
#[cfg(test)]
use {
    crate::alert::metrics::ReasonLabel, crate::alert::notify::NotifyContext,
    crate::alert::store::InvalidAlert, crate::alert::PostableAlert, std::time::UNIX_EPOCH,
    tokio::time::Instant, tokio_util::sync::CancellationToken,
};

/// Reads the time; tests inject one derived from paused tokio time.
pub type Clock = Arc<dyn Fn() -> Now + Send + Sync>;

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
    /// The cluster this replica belongs to (`None` for a single instance).
    peer: RwLock<Option<Arc<dyn crate::alert::peer::Peer>>>,
}

use crate::base::sync::lock;

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
            peer: RwLock::new(None),
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
        crate::base::sort::sort_by_key(&mut alerts, |a| a.updated_at);
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

mod driver;
mod flush;
mod ingest;
mod peer;
mod snapshots;

pub use flush::FlushError;

#[cfg(test)]
mod tests;
