//! State shared by the HTTP surface and the signal loop: the running config, self-metrics,
//! probe history, the components built for the config (scheduler, rule manager, alert
//! pipeline), and the one reload path that SIGHUP and `POST /-/reload` use. A failed reload
//! keeps the running config. `daemon::Daemon` builds it and owns its tasks.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alert::persist::PersistError;
use crate::alert::pipeline::Alerting;
use crate::base::{ConfigError, ConfigErrors};
use crate::clock::Now;
use crate::cluster::Cluster;
use crate::config::{self, Config};
use crate::history::History;
use crate::metrics::{Metrics, ModuleLabel, ProbeLabels};
use crate::probe::log::Level;
use crate::probe::{self, ProbeCx};
use crate::schedule::{RunResult, Runner, Scheduled, Scheduler};
use crate::store::Store;

/// Settings from the command line that the HTTP surface needs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `--config.file`; `None` means the embedded modules.
    pub config_file: Option<PathBuf>,
    /// `--timeout-offset`, seconds.
    pub timeout_offset: f64,
    /// `--log.prober`: the lowest level kept in probe logs.
    pub log_prober: Level,
    /// Grace period for in-flight probes on shutdown.
    pub shutdown_grace: Duration,
    /// `--probe.concurrency`: scheduled probes running at once, over all jobs.
    pub probe_concurrency: usize,
    /// `--storage.retention`: the most history any rule may ask for.
    pub retention: Duration,
    /// `--data.retention`: how long expired silences and notification-log entries are kept
    /// (Alertmanager's flag and default, 120h).
    pub data_retention: Duration,
    /// `--storage.path`: where state that survives restarts is written.
    pub storage_path: PathBuf,
    /// `--web.external-url`, or the default derived from the host name and port.
    pub external_url: String,
    /// `--alerts.limit`: the most active alerts stored (0 = unlimited).
    pub alerts_limit: usize,
    /// `--silences.max-silences` (0 = unlimited).
    pub max_silences: usize,
    /// `--silences.max-silence-size-bytes` (0 = unlimited).
    pub max_silence_size_bytes: usize,
    /// `--history.limit`: recent `/probe` requests kept for the status page.
    pub history_limit: usize,
    /// `--uptime.*`: the persisted uptime history.
    pub uptime: crate::uptime::Options,
    /// `--remote-write.max-queue-bytes`: the bound of each remote-write queue on disk.
    pub remote_write_max_queue_bytes: u64,
}

/// Default `--alerts.limit`. Far above what probing rules produce (rules × targets, a few
/// thousand even in big setups), yet it bounds the store (roughly 1 KiB per alert with its
/// group entry, so ~100 MiB) when a client floods POST /api/v2/alerts with new label sets.
pub const DEFAULT_ALERTS_LIMIT: usize = 100_000;

/// Default `--data.retention`, Alertmanager's.
pub const DEFAULT_DATA_RETENTION: Duration = Duration::from_secs(120 * 3600);

impl Default for Settings {
    fn default() -> Self {
        Self {
            config_file: None,
            timeout_offset: 0.5,
            log_prober: Level::Info,
            shutdown_grace: Duration::from_secs(30),
            probe_concurrency: 256,
            retention: Duration::from_secs(3600),
            data_retention: DEFAULT_DATA_RETENTION,
            storage_path: PathBuf::from("data/"),
            external_url: String::from("http://localhost:9115/"),
            alerts_limit: DEFAULT_ALERTS_LIMIT,
            max_silences: 0,
            max_silence_size_bytes: 0,
            history_limit: 100,
            uptime: crate::uptime::Options::default(),
            remote_write_max_queue_bytes: crate::remote::DEFAULT_MAX_QUEUE_BYTES,
        }
    }
}

pub struct Shared {
    config: RwLock<Arc<Config>>,
    pub metrics: Metrics,
    pub history: Mutex<History>,
    pub settings: Settings,
    /// Results of scheduled probes.
    pub store: Arc<Store>,
    /// The uptime history of scheduled probes (`None` when disabled or its store cannot be
    /// opened; probing goes on without it).
    pub uptime: Option<Arc<crate::uptime::Uptime>>,
    scheduler: Scheduler,
    rules: Arc<crate::rules::Manager>,
    /// `remote_write:` queues, fed by the scheduler and the rules.
    remote_write: Arc<crate::remote::RemoteWrite>,
    /// The alert pipeline: `None` until a config with an `alerting:` section is loaded (a
    /// reload may add one; removing it keeps the running pipeline).
    alerting: Mutex<Option<Arc<Alerting>>>,
    /// Where background work runs (scheduled probes, rule groups, the alert pipeline) and
    /// the token that stops it.
    tasks: TaskTracker,
    shutdown: CancellationToken,
    reload_lock: tokio::sync::Mutex<()>,
    /// The cluster this replica belongs to (`None` for a single instance).
    cluster: Option<Arc<Cluster>>,
}

impl Shared {
    /// Builds every component for `config` and starts its background work on `tasks`, in
    /// the order they depend on each other: the alert pipeline (restoring its state from
    /// `--storage.path`), then the rule groups (whose alerts go to it), then scheduled
    /// probing. Everything stops when `shutdown` is cancelled.
    pub(crate) fn start(
        config: Config,
        settings: Settings,
        cluster: Option<Arc<Cluster>>,
        tasks: TaskTracker,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, PersistError> {
        let mut metrics = Metrics::new();
        if let Some(c) = &cluster {
            metrics.register_cluster(&c.metrics);
        }
        metrics.config_last_reload_successful.set(1);
        metrics
            .config_last_reload_success_timestamp_seconds
            .set(Now::read().unix_seconds());
        let store = Arc::new(Store::new(settings.retention));
        let alerting = match &config.alerting {
            Some(cfg) => Some(start_alerting(
                cfg.clone(),
                &settings,
                &metrics,
                cluster.as_ref(),
                &tasks,
                &shutdown,
            )?),
            None => None,
        };
        let rules = crate::rules::Manager::new(
            store.clone(),
            settings.storage_path.clone(),
            settings.external_url.clone(),
            tasks.clone(),
            shutdown.clone(),
        );
        let uptime = start_uptime(&settings, &tasks, &shutdown);
        let remote_write = crate::remote::RemoteWrite::new(
            &settings.storage_path,
            settings.remote_write_max_queue_bytes,
            metrics.remote.clone(),
            tasks.clone(),
            shutdown.clone(),
        );
        rules.overlay().set_tap(remote_write.clone());
        let config = Arc::new(config);
        let shared = Arc::new_cyclic(|weak: &Weak<Shared>| {
            let scheduler = Scheduler::new(
                probe_runner(weak.clone()),
                store.clone(),
                settings.probe_concurrency,
                metrics.schedule.clone(),
                tasks.clone(),
                shutdown.clone(),
            );
            scheduler.sinks().add(remote_write.clone());
            Shared {
                config: RwLock::new(config.clone()),
                history: Mutex::new(History::new(settings.history_limit)),
                metrics,
                store,
                uptime,
                scheduler,
                rules,
                remote_write,
                alerting: Mutex::new(alerting),
                settings,
                tasks,
                shutdown,
                reload_lock: tokio::sync::Mutex::new(()),
                cluster,
            }
        });
        if let Some(u) = &shared.uptime {
            shared.rules.set_uptime(u.clone());
            shared
                .scheduler
                .sinks()
                .add(Arc::new(crate::uptime::UptimeSink(u.clone())));
        }
        shared.apply_remote_write(&config);
        shared.apply_rules(&config);
        if let Some(c) = &shared.cluster {
            c.attach_schedule(
                &shared.scheduler,
                &shared.store,
                shared.series_filter(c.shares_all_results()),
                &shared.tasks,
                shared.shutdown.clone(),
            );
        }
        shared.apply_schedule(&config);
        Ok(shared)
    }

    /// The running config.
    pub fn config(&self) -> Arc<Config> {
        crate::base::sync::read(&self.config).clone()
    }

    /// Reloads the config file. Reloads are serialised; an unchanged file counts as success
    /// without re-parsing; a bad file leaves the running config in place.
    pub async fn reload(&self) -> Result<(), ConfigErrors> {
        let _guard = self.reload_lock.lock().await;
        let Some(path) = self.settings.config_file.clone() else {
            // The embedded config cannot change while running.
            self.mark_reload(true);
            return Ok(());
        };
        let bytes = tokio::fs::read(&path).await;
        if let Ok(bytes) = &bytes {
            if config::checksum(bytes) == self.config().checksum {
                self.mark_reload(true);
                return Ok(());
            }
        }
        let path_for_errors = path.clone();
        let result = tokio::task::spawn_blocking(move || config::load(&path))
            .await
            .unwrap_or_else(|e| {
                Err(ConfigErrors::single(ConfigError::file_level(
                    &path_for_errors,
                    format!("config loader failed: {e}"),
                )))
            });
        match result {
            Ok(new) => {
                let modules = new.modules.len();
                let jobs = new.jobs.len();
                let new = Arc::new(new);
                *crate::base::sync::write(&self.config) = new.clone();
                self.apply_remote_write(&new);
                self.apply_schedule(&new);
                if let Err(e) = self.apply_alerting(&new) {
                    tracing::error!(message = "Starting the alert pipeline failed", error = %e);
                }
                self.apply_rules(&new);
                self.mark_reload(true);
                tracing::info!(message = "Loaded config file", modules, jobs);
                // Decoding and validating ran code an idle daemon does not run again.
                crate::heap::release_after_start("reload");
                Ok(())
            }
            Err(errors) => {
                self.mark_reload(false);
                tracing::error!(message = "Error reloading config", error = %errors);
                Err(errors)
            }
        }
    }

    fn mark_reload(&self, ok: bool) {
        self.metrics
            .config_last_reload_successful
            .set(if ok { 1 } else { 0 });
        if ok {
            self.metrics
                .config_last_reload_success_timestamp_seconds
                .set(Now::read().unix_seconds());
        }
    }
}

impl Shared {
    /// The rule manager.
    pub fn rules(&self) -> &Arc<crate::rules::Manager> {
        &self.rules
    }

    fn apply_rules(&self, config: &Config) {
        // Alerts go to the alert pipeline when one is configured.
        if let Some(a) = self.alerting() {
            self.rules.set_sink(a);
        }
        self.rules.apply(&config.rules);
    }

    /// The series of scheduled results a cluster shares: those the running rules read
    /// (`None`, all of them, when `all` or when a rule may read any metric).
    fn series_filter(&self, all: bool) -> Option<crate::cluster::results::SeriesFilter> {
        if all {
            return None;
        }
        let rules = self.rules.clone();
        Some(Arc::new(move |name: &str| {
            match rules.referenced_metrics() {
                Some(names) => names.contains(name),
                None => true,
            }
        }))
    }

    /// Every scheduled target of the running config (in a cluster, probed here or not).
    pub fn scheduled_keys(&self) -> Vec<crate::store::GroupKey> {
        self.scheduler.scheduled_keys()
    }

    /// The cluster this replica belongs to, if clustering is on.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
    }

    /// The alert pipeline, if alerting is configured: the [`crate::alert::AlertSink`] for
    /// the rule engine, and what `/api/v2` serves.
    pub fn alerting(&self) -> Option<Arc<Alerting>> {
        crate::base::sync::lock(&self.alerting).clone()
    }

    fn apply_alerting(&self, config: &Config) -> Result<(), PersistError> {
        let Some(cfg) = config.alerting.clone() else {
            return Ok(());
        };
        let mut slot = crate::base::sync::lock(&self.alerting);
        match slot.as_ref() {
            Some(running) => running.apply_config(cfg),
            None => {
                *slot = Some(start_alerting(
                    cfg,
                    &self.settings,
                    &self.metrics,
                    self.cluster.as_ref(),
                    &self.tasks,
                    &self.shutdown,
                )?)
            }
        }
        Ok(())
    }

    fn apply_remote_write(&self, config: &Config) {
        self.remote_write
            .apply(&config.remote_write, &config.rules.external_labels);
    }

    fn apply_schedule(&self, config: &Config) {
        self.scheduler
            .apply(&config.jobs, &config.modules, Now::read());
    }

    /// Counts one finished probe (from `/probe` or the scheduler) in the self-metrics.
    pub fn count_probe(&self, module: &str, prober: &str, success: bool, cx: &ProbeCx) {
        self.metrics
            .probes
            .get_or_create(&ProbeLabels {
                module: module.to_string(),
                prober: prober.to_string(),
                result: if success { "success" } else { "failure" },
            })
            .inc();
        self.metrics
            .probe_duration
            .get_or_create(&ModuleLabel {
                module: module.to_string(),
            })
            .observe(cx.registry.get(probe::DURATION_SECONDS.name).unwrap_or(0.0));
    }
}

/// Builds the alert pipeline for `cfg` (restoring its state from `--storage.path`) and runs
/// its dispatcher on `tasks`; it writes its final snapshot when `shutdown` is cancelled.
fn start_alerting(
    cfg: Arc<crate::alert::config::AlertingConfig>,
    settings: &Settings,
    metrics: &Metrics,
    cluster: Option<&Arc<Cluster>>,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> Result<Arc<Alerting>, PersistError> {
    let mut options = crate::alert::pipeline::Options::new(
        settings.external_url.clone(),
        settings.data_retention,
    );
    options.storage_path = Some(settings.storage_path.clone());
    options.max_alerts = settings.alerts_limit;
    options.max_silences = settings.max_silences;
    options.max_silence_size_bytes = settings.max_silence_size_bytes;
    let alerting = Alerting::new(cfg, options, metrics.alert.clone())?;
    // Joined before the driver runs, so no flush goes out before gossip settles.
    if let Some(c) = cluster {
        c.attach(&alerting, tasks);
    }
    tasks.spawn(crate::base::task::boxed(
        alerting.clone().run(shutdown.clone()),
    ));
    Ok(alerting)
}

/// Opens the uptime history under `--storage.path` and starts its writer, unless disabled. A
/// store that cannot be opened (a corrupted one is moved aside and replaced, see
/// `uptime::db`) is logged and the daemon runs without history.
fn start_uptime(
    settings: &Settings,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> Option<Arc<crate::uptime::Uptime>> {
    if !settings.uptime.active() {
        return None;
    }
    match crate::uptime::Uptime::start(
        &settings.storage_path,
        settings.uptime.clone(),
        tasks,
        shutdown,
    ) {
        Ok(u) => Some(u),
        Err(e) => {
            tracing::error!(message = "Uptime history disabled: its store cannot be opened", error = %e);
            None
        }
    }
}

/// What the scheduler runs for each due target: `probe::run` with the target's module and
/// the daemon's probe-log level, counted in the self-metrics. It holds the state weakly, so
/// a scheduler outliving its daemon probes without counting.
fn probe_runner(state: Weak<Shared>) -> Runner {
    Arc::new(move |s: Arc<Scheduled>| {
        let shared = state.upgrade();
        Box::pin(async move {
            let now = Now::read();
            let timestamp_ms = now.unix_ms();
            let level = shared
                .as_ref()
                .map(|s| s.settings.log_prober)
                .unwrap_or(Level::Info);
            let mut cx = ProbeCx::new(&s.job.module, &s.target.target, s.job.timeout, level);
            let success = probe::run(&s.target.target, &s.module, &mut cx).await;
            if let Some(shared) = shared {
                shared.count_probe(&s.job.module, s.module.prober.name(), success, &cx);
            }
            let failure =
                (!success).then(|| cx.log.first_error().unwrap_or("Probe failed").to_string());
            RunResult {
                registry: cx.registry,
                timestamp_ms,
                failure,
            }
        })
    })
}
