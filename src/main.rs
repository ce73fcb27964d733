//! The `blackwatch` binary: flags → logging → config → `app::run`. Exit codes: 0 on a clean
//! shutdown or a valid `--config.check`, 1 for a bad config or a runtime failure.

use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use blackwatch::cli::{Cli, LogFormat};
use blackwatch::probe::log::Level;

fn init_logging(cli: &Cli) {
    let level = match cli.log_level {
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    };
    let filter = EnvFilter::try_from_env("BLACKWATCH_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("blackwatch={level},warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Logfmt => builder.with_ansi(false).init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    let _ = rustls::crypto::ring::default_provider().install_default();

    let config = match blackwatch::app::load_config(&cli) {
        Ok(c) => c,
        Err(errors) => {
            // The full list goes to stderr once, readable; the log line only counts them.
            eprintln!("{errors}");
            tracing::error!(message = "Error loading config", errors = errors.len());
            return ExitCode::from(1);
        }
    };
    if cli.config_check {
        tracing::info!(message = "Config file is ok exiting...");
        eprintln!("Config file is ok: {} module(s)", config.modules.len());
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("blackwatch: starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(blackwatch::app::run(cli, config, CancellationToken::new())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("blackwatch: {e:#}");
            ExitCode::from(1)
        }
    }
}
