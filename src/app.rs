//! Wiring only: turn flags into `Settings`, bind the listener, build the `Daemon`, serve, run
//! the SIGHUP loop among its tasks, and shut down in one place: SIGTERM/SIGINT cancels the token,
//! the server stops accepting, in-flight probes get the grace period, then the process exits.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cli::{self, Cli};
use crate::config::Config;
use crate::daemon::Daemon;
use crate::server::ServerOptions;
use crate::state::Settings;
use crate::{server, signal};

/// `--web.external-url`, or `http://<hostname>:<port>/` as Prometheus and Alertmanager
/// default it.
fn external_url(flag: Option<&str>, port: u16) -> String {
    match flag {
        Some(url) => url.to_string(),
        None => {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default();
            let host = if host.is_empty() {
                "localhost".to_string()
            } else {
                host
            };
            format!("http://{host}:{port}/")
        }
    }
}

/// How long after the listeners are bound the binary's start-up pages are released: the
/// first scheduled probes, rule evaluations and uptime flush (5 s) have run by then.
const RELEASE_AFTER_START: Duration = Duration::from_secs(10);

/// Runs the daemon until a shutdown signal (or `token` is cancelled by the caller).
pub async fn run(cli: Cli, config: Config, token: CancellationToken) -> anyhow::Result<()> {
    // Bad cluster flags stop the start before anything listens.
    let mut cluster = cli.cluster.settings().map_err(|e| anyhow::anyhow!("{e}"))?;
    if let (Some(c), Some(path)) = (cluster.as_mut(), &cli.cluster.tls_config) {
        c.tls =
            Some(server::webconfig::load_cluster_tls(path).map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    // A bad web config stops the start (exit 1) with file:line:col; later changes are
    // re-read by the server, which keeps the old one if the new one is bad.
    let web = match &cli.web_config_file {
        Some(path) => Some(Arc::new(
            server::webconfig::Web::load(path).map_err(|e| anyhow::anyhow!("{e}"))?,
        )),
        None => None,
    };
    // Before "listening on": a client that sees it may signal us at once.
    let mut signals = signal::Signals::install();
    let addr = cli::normalize_listen_address(&cli.listen_address);
    let listener = TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding the web listener to {addr}"))?;
    let local = listener.local_addr().context("reading the bound address")?;
    // The line tests and scripts look for (`msg="listening on" address=…`).
    tracing::info!(message = "listening on", address = %local);
    // `--web.public-listen-address`: the status pages and badges only.
    let public_listener = if cli.public_listen_address.is_empty() {
        None
    } else {
        let addr = cli::normalize_listen_address(&cli.public_listen_address);
        let l = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("binding the public listener to {addr}"))?;
        let public = l.local_addr().context("reading the bound address")?;
        tracing::info!(message = "public status pages listening on", address = %public);
        Some(l)
    };

    let settings = Settings {
        config_file: cli.config_file.clone(),
        timeout_offset: cli.timeout_offset,
        log_prober: cli.log_prober,
        shutdown_grace: Duration::from_secs_f64(cli.shutdown_grace.max(0.0)),
        probe_concurrency: cli.probe_concurrency.max(1),
        retention: cli.retention,
        data_retention: cli.data_retention,
        storage_path: cli.storage_path.clone(),
        remote_write_max_queue_bytes: cli.remote_write_max_queue_bytes,
        external_url: external_url(cli.external_url.as_deref(), local.port()),
        alerts_limit: cli.alerts_limit,
        max_silences: cli.max_silences,
        max_silence_size_bytes: cli.max_silence_size_bytes,
        history_limit: cli.history_limit,
        uptime: crate::uptime::Options {
            enabled: cli.uptime_enabled,
            minute_retention: cli.uptime_minute_retention,
            hour_retention: cli.uptime_hour_retention,
            flush_interval: cli.uptime_flush_interval,
            metrics: cli.uptime_metrics,
            ..crate::uptime::Options::default()
        },
    };
    let grace = settings.shutdown_grace;
    let daemon = match cluster {
        Some(c) => Daemon::build_clustered(config, settings, c, token.clone()).await?,
        None => Daemon::build(config, settings, token.clone())
            .context("loading the alerting state from --storage.path")?,
    };
    let jobs = daemon.state().config().jobs.len();
    if jobs > 0 {
        tracing::info!(message = "Scheduled probing started", jobs);
    }
    let server_task = daemon.serve(
        listener,
        ServerOptions {
            web,
            ..ServerOptions::default()
        },
    );

    if let Some(l) = public_listener {
        // Its task ends with the daemon's; an error there is logged, not fatal.
        let public = daemon.serve_public(l, ServerOptions::default());
        daemon.spawn(crate::base::task::boxed(async move {
            if let Ok(Err(e)) = public.await {
                tracing::error!(message = "The public listener failed", error = %e);
            }
        }));
    }

    // Start-up has run its one-off code (flags, config, clients, first schedule) by now:
    // its pages of the binary need not stay mapped in an idle daemon (`heap` explains).
    let release_token = token.clone();
    daemon.spawn(crate::base::task::boxed(async move {
        tokio::select! {
            _ = release_token.cancelled() => {}
            _ = tokio::time::sleep(RELEASE_AFTER_START) => crate::heap::release_after_start("start-up"),
        }
    }));

    let hup_state = Arc::clone(daemon.state());
    let hup_token = token.clone();
    let hangups = signals.hangups.take();
    daemon.spawn(crate::base::task::boxed(async move {
        let Some(mut hups) = hangups else {
            tracing::warn!(message = "SIGHUP handler unavailable; reload with POST /-/reload");
            return;
        };
        loop {
            tokio::select! {
                _ = hup_token.cancelled() => return,
                got = hups.recv() => {
                    if got.is_none() { return; }
                    tracing::info!(message = "Reloading config (SIGHUP)");
                    let _ = hup_state.reload().await;
                }
            }
        }
    }));

    tokio::select! {
        sig = signals.shutdown() => tracing::info!(message = "Received signal, exiting gracefully", signal = sig),
        _ = token.cancelled() => {}
    }
    if daemon.shutdown(grace).await {
        tracing::info!(message = "Shutdown complete");
    } else {
        tracing::warn!(
            message = "Shutdown grace period elapsed, exiting",
            grace_seconds = grace.as_secs_f64()
        );
    }
    if server_task.is_finished() {
        if let Ok(Err(e)) = server_task.await {
            return Err(e.into());
        }
    }
    Ok(())
}
