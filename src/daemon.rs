//! The daemon as one value: `Daemon::build` makes every component for a config (alert
//! pipeline, rule groups, scheduled probing, in that order) on one `TaskTracker` under one
//! shutdown token, `serve` puts the HTTP surface on an already bound listener, and
//! `shutdown` stops it all within a grace period. `app` (the binary) and the integration
//! tests start daemons the same way; signals and flags stay in `app`.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alert::persist::PersistError;
use crate::cluster::{Cluster, ClusterError, ClusterSettings};
use crate::config::Config;
use crate::server::{self, ServerError, ServerOptions};
use crate::state::{Settings, Shared};

/// Why a daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("loading the alerting state from --storage.path: {0}")]
    Persist(#[from] PersistError),
    #[error("joining the cluster: {0}")]
    Cluster(#[from] ClusterError),
}

/// A running daemon: its shared state and the tasks working for it.
pub struct Daemon {
    state: Arc<Shared>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl Daemon {
    /// Builds the daemon for `config` and starts its background work (restoring state from
    /// `settings.storage_path`). Everything it starts stops when `shutdown` is cancelled.
    pub fn build(
        config: Config,
        settings: Settings,
        shutdown: CancellationToken,
    ) -> Result<Self, PersistError> {
        let tasks = TaskTracker::new();
        let state = Shared::start(config, settings, None, tasks.clone(), shutdown.clone())?;
        Ok(Self {
            state,
            tasks,
            shutdown,
        })
    }

    /// As [`Daemon::build`], as one replica of a cluster: joins it first (binding the
    /// gossip socket), so the alert pipeline waits for gossip to settle before notifying.
    pub async fn build_clustered(
        config: Config,
        settings: Settings,
        cluster: ClusterSettings,
        shutdown: CancellationToken,
    ) -> Result<Self, BuildError> {
        let tasks = TaskTracker::new();
        let cluster = Cluster::start(cluster, &tasks, shutdown.clone()).await?;
        let state = Shared::start(
            config,
            settings,
            Some(cluster),
            tasks.clone(),
            shutdown.clone(),
        )?;
        Ok(Self {
            state,
            tasks,
            shutdown,
        })
    }

    /// The state the HTTP surface and reloads work on.
    pub fn state(&self) -> &Arc<Shared> {
        &self.state
    }

    /// The token that stops the daemon.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Serves the HTTP surface on `listener` until shutdown, as one of the daemon's tasks.
    pub fn serve(
        &self,
        listener: TcpListener,
        options: ServerOptions,
    ) -> JoinHandle<Result<(), ServerError>> {
        let state = Arc::clone(&self.state);
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(crate::base::task::boxed(async move {
            server::run(listener, state, shutdown, options).await
        }))
    }

    /// Serves only the public status pages and badges on `listener` (plain HTTP, no basic
    /// auth: see `server::public`) until shutdown, as one of the daemon's tasks.
    pub fn serve_public(
        &self,
        listener: TcpListener,
        options: ServerOptions,
    ) -> JoinHandle<Result<(), ServerError>> {
        let state = Arc::clone(&self.state);
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(crate::base::task::boxed(async move {
            server::run_public(listener, state, shutdown, options).await
        }))
    }

    /// Spawns `fut` as one of the daemon's tasks (it must end when the shutdown token is
    /// cancelled).
    pub fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tasks.spawn(crate::base::task::boxed(fut))
    }

    /// Cancels the shutdown token and waits for every task, at most `grace`. Returns whether
    /// all tasks ended in time.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.shutdown.cancel();
        self.tasks.close();
        tokio::time::timeout(grace, self.tasks.wait()).await.is_ok()
    }
}
