//! State shared by the HTTP surface and the signal loop: the running config, self-metrics,
//! probe history, and the one reload path that SIGHUP, `POST /-/reload` and start-up use.
//! A failed reload keeps the running config.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::clock::Now;
use crate::config::{self, Config, ConfigErrors};
use crate::history::History;
use crate::metrics::Metrics;
use crate::probe::log::Level;

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
}

pub struct Shared {
    config: RwLock<Arc<Config>>,
    pub metrics: Metrics,
    pub history: Mutex<History>,
    pub settings: Settings,
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
            settings,
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
                Err(ConfigErrors::single(config::ConfigError {
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
                match self.config.write() {
                    Ok(mut g) => *g = Arc::new(new),
                    Err(poisoned) => *poisoned.into_inner() = Arc::new(new),
                }
                self.mark_reload(true);
                tracing::info!(message = "Loaded config file", modules);
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
