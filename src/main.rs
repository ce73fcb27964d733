//! The `blackwatch` binary: flags → logging → the daemon (`app::run`) or a one-shot
//! subcommand (`cmd::probe`, `cmd::check`, `rules::unittest`).
//!
//! Exit codes: daemon and `--config.check` / `check config`: 0 on a clean shutdown or a valid
//! config, 1 for a bad config or a runtime failure. `probe`: 0 success, 1 probe failure,
//! 2 bad usage. clap's own usage errors are 2.

use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::filter::{LevelFilter, Targets};

use blackwatch::cli::{CheckCommand, Cli, Command, LogFormat, TestCommand};
use blackwatch::cmd;
use blackwatch::logging;
use blackwatch::probe::log::Level;

/// mimalloc instead of glibc's allocator: alert bursts allocate and free many small
/// objects on both worker threads, which glibc served at a quarter of the ingest CPU and
/// kept resident afterwards (`benches/alerts.sh`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_logging(cli: &Cli) {
    let level = match cli.log_level {
        Level::Debug => LevelFilter::DEBUG,
        Level::Info => LevelFilter::INFO,
        Level::Warn => LevelFilter::WARN,
        Level::Error => LevelFilter::ERROR,
    };
    // `BLACKWATCH_LOG`: `target=level` directives (`blackwatch=debug,hyper=warn`); a value
    // that does not parse is ignored, as before.
    let filter = std::env::var("BLACKWATCH_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| {
            Targets::new()
                .with_target("blackwatch", level)
                .with_default(LevelFilter::WARN)
        });
    let format = match cli.log_format {
        LogFormat::Json => logging::Format::Json,
        LogFormat::Logfmt => logging::Format::Logfmt,
    };
    logging::init(format, filter);
}

/// Gives SIGPIPE back its default action, so a one-shot subcommand whose output goes away
/// (`blackwatch probe … | head -1`) ends quietly, as Unix tools and Go's tools do. Rust
/// starts with SIGPIPE ignored, which turns the failed write into a panic in `print!`. The
/// daemon keeps it ignored: a peer closing a socket must never end the process.
fn restore_default_sigpipe() {
    // SAFETY: `signal` with `SIG_DFL` only changes this process' disposition of SIGPIPE; it
    // runs before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    blackwatch::heap::configure();
    let mut cli = Cli::parse();
    if cli.command.is_some() || cli.config_check {
        restore_default_sigpipe();
    }
    init_logging(&cli);
    let _ = rustls::crypto::ring::default_provider().install_default();

    match cli.command.take() {
        Some(Command::Probe(args)) => {
            let file = args.config_file.as_deref().or(cli.config_file.as_deref());
            cmd::probe::main(&args, file)
        }
        Some(Command::Check(CheckCommand::Config { file })) => cmd::check::config(Some(&file)),
        Some(Command::Test(TestCommand::Rules { files })) => {
            blackwatch::rules::unittest::main(&files)
        }
        None if cli.config_check => {
            let code = cmd::check::config(cli.config_file.as_deref());
            if code == ExitCode::SUCCESS {
                tracing::info!(message = "Config file is ok exiting...");
            }
            code
        }
        None => daemon(cli),
    }
}

fn daemon(cli: Cli) -> ExitCode {
    tracing::info!(
        message = "Starting blackwatch",
        version = env!("CARGO_PKG_VERSION")
    );
    let config = match cmd::check::load(cli.config_file.as_deref()) {
        Ok(c) => c,
        Err(errors) => {
            // One line with every error, as blackbox_exporter logs `err=` (newlines escaped).
            tracing::error!(message = "Error loading config", error = %errors);
            return ExitCode::from(cmd::EXIT_FAILURE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(message = "Error starting the runtime", error = %e);
            return ExitCode::from(cmd::EXIT_FAILURE);
        }
    };
    match runtime.block_on(blackwatch::app::run(cli, config, CancellationToken::new())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(
                message = "Error running blackwatch",
                error = format!("{e:#}")
            );
            ExitCode::from(cmd::EXIT_FAILURE)
        }
    }
}
