//! State shared by the HTTP surface and the signal loop: the running config, self-metrics,
//! probe history, and the one reload path that SIGHUP, `POST /-/reload` and start-up use.
//! A failed reload keeps the running config.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::base::{ConfigError, ConfigErrors};
use crate::clock::Now;
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
    scheduler: Mutex<Option<Scheduler>>,
    /// The rule manager, once `start_rules` ran.
    rules: Mutex<Option<Arc<crate::rules::Manager>>>,
    /// The alert pipeline, once `start_alerting` ran with an `alerting:` config.
    alerting: Mutex<Option<Arc<crate::alert::pipeline::Alerting>>>,
    /// Where a pipeline first configured by a reload is started.
    alerting_tasks: Mutex<Option<(TaskTracker, CancellationToken)>>,
    reload_lock: tokio::sync::Mutex<()>,
}

impl Shared {
    pub fn new(config: Config, settings: Settings, history_limit: usize) -> Arc<Self> {
        let metrics = Metrics::new();
        metrics.config_last_reload_successful.set(1);
        metrics
            .config_last_reload_success_timestamp_seconds
            .set(Now::read().unix_seconds());
        Arc::new(Self {
            config: RwLock::new(Arc::new(config)),
            metrics,
            history: Mutex::new(History::new(history_limit)),
            store: Arc::new(Store::new(settings.retention)),
            scheduler: Mutex::new(None),
            rules: Mutex::new(None),
            settings,
            alerting: Mutex::new(None),
            alerting_tasks: Mutex::new(None),
            reload_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The running config.
    pub fn config(&self) -> Arc<Config> {
        match self.config.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
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
        let result = tokio::task::spawn_blocking(move || config::load(&path))
            .await
            .unwrap_or_else(|e| {
                Err(ConfigErrors::single(ConfigError {
                    file: PathBuf::new(),
                    line: 0,
                    column: 0,
                    path: String::new(),
                    message: format!("config loader failed: {e}"),
                }))
            });
        match result {
            Ok(new) => {
                let modules = new.modules.len();
                let jobs = new.jobs.len();
                let new = Arc::new(new);
                match self.config.write() {
                    Ok(mut g) => *g = new.clone(),
                    Err(poisoned) => *poisoned.into_inner() = new.clone(),
                }
                self.apply_schedule(&new);
                if let Err(e) = self.apply_alerting(&new) {
                    tracing::error!(message = "Starting the alert pipeline failed", error = %e);
                }
                self.apply_rules(&new);
                self.mark_reload(true);
                tracing::info!(message = "Loaded config file", modules, jobs);
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
    /// Starts scheduled probing for the running config; later reloads re-apply it. The probe
    /// loops are spawned on `tracker` and stop with `token`.
    pub fn start_scheduler(self: &Arc<Self>, tracker: &TaskTracker, token: &CancellationToken) {
        let weak = Arc::downgrade(self);
        let runner: Runner = Arc::new(move |s: Arc<Scheduled>| {
            let shared = weak.upgrade();
            Box::pin(async move {
                let now = Now::read();
                let timestamp_ms = (now.unix_seconds() * 1000.0) as i64;
                let level = shared
                    .as_ref()
                    .map(|s| s.settings.log_prober)
                    .unwrap_or(Level::Info);
                let mut cx = ProbeCx::new(&s.job.module, &s.target.target, s.job.timeout, level);
                let success = probe::run(&s.target.target, &s.module, &mut cx).await;
                if let Some(shared) = shared {
                    shared.count_probe(&s.job.module, s.module.prober.name(), success, &cx);
                }
                RunResult {
                    registry: cx.registry,
                    timestamp_ms,
                }
            })
        });
        let scheduler = Scheduler::new(
            runner,
            self.store.clone(),
            self.settings.probe_concurrency,
            self.metrics.schedule.clone(),
            tracker.clone(),
            token.clone(),
        );
        if let Ok(mut g) = self.scheduler.lock() {
            *g = Some(scheduler);
        }
        self.apply_schedule(&self.config());
    }

    /// Starts rule evaluation for the running config (restoring saved alert state); later
    /// reloads re-apply it. Group loops run on `tracker` and stop with `token`.
    pub fn start_rules(self: &Arc<Self>, tracker: &TaskTracker, token: &CancellationToken) {
        let manager = crate::rules::Manager::new(
            self.store.clone(),
            self.settings.storage_path.clone(),
            self.settings.external_url.clone(),
            tracker.clone(),
            token.clone(),
        );
        if let Ok(mut g) = self.rules.lock() {
            *g = Some(manager);
        }
        self.apply_rules(&self.config());
    }

    /// The rule manager, if rules were started.
    pub fn rules(&self) -> Option<Arc<crate::rules::Manager>> {
        self.rules.lock().ok().and_then(|g| g.clone())
    }

    fn apply_rules(&self, config: &Config) {
        if let Some(m) = self.rules() {
            // Alerts go to the alert pipeline when one is configured (it starts first).
            if let Some(a) = self.alerting() {
                m.set_sink(a);
            }
            m.apply(&config.rules);
        }
    }

    /// Starts the alert pipeline (restoring its state from `--storage.path`) if the config
    /// has an `alerting:` section; a reload that adds or changes one applies it. The
    /// dispatcher runs on `tracker` and writes its final snapshot when `token` is cancelled.
    pub fn start_alerting(
        self: &Arc<Self>,
        tracker: &TaskTracker,
        token: &CancellationToken,
    ) -> Result<(), crate::alert::persist::PersistError> {
        if let Ok(mut g) = self.alerting_tasks.lock() {
            *g = Some((tracker.clone(), token.clone()));
        }
        self.apply_alerting(&self.config())
    }

    /// The alert pipeline, if alerting is configured: the [`crate::alert::AlertSink`] for
    /// the rule engine, and what `/api/v2` serves.
    pub fn alerting(&self) -> Option<Arc<crate::alert::pipeline::Alerting>> {
        self.alerting.lock().ok().and_then(|g| g.clone())
    }

    fn apply_alerting(&self, config: &Config) -> Result<(), crate::alert::persist::PersistError> {
        let Some(cfg) = config.alerting.clone() else {
            return Ok(());
        };
        if let Some(running) = self.alerting() {
            running.apply_config(cfg);
            return Ok(());
        }
        let Some((tracker, token)) = self.alerting_tasks.lock().ok().and_then(|g| g.clone()) else {
            return Ok(());
        };
        let mut options = crate::alert::pipeline::Options::new(
            self.settings.external_url.clone(),
            self.settings.data_retention,
        );
        options.storage_path = Some(self.settings.storage_path.clone());
        options.max_alerts = self.settings.alerts_limit;
        options.max_silences = self.settings.max_silences;
        options.max_silence_size_bytes = self.settings.max_silence_size_bytes;
        let alerting =
            crate::alert::pipeline::Alerting::new(cfg, options, self.metrics.alert.clone())?;
        if let Ok(mut g) = self.alerting.lock() {
            *g = Some(alerting.clone());
        }
        tracker.spawn(alerting.run(token));
        Ok(())
    }

    fn apply_schedule(&self, config: &Config) {
        let scheduler = self.scheduler.lock().ok().and_then(|g| g.clone());
        if let Some(s) = scheduler {
            s.apply(&config.jobs, &config.modules, Now::read());
        }
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
            .observe(cx.registry.get("probe_duration_seconds").unwrap_or(0.0));
    }
}
