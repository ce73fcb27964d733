//! Command-line flags, named as blackbox_exporter's so existing unit files and manifests
//! keep working.

use std::path::PathBuf;

use clap::Parser;

use crate::probe::log::Level;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

#[derive(Debug, Parser)]
#[command(
    name = "blackwatch",
    version,
    about = "Black-box prober: a drop-in for Prometheus blackbox_exporter"
)]
pub struct Cli {
    /// Configuration file (blackbox_exporter format). Without it, the built-in modules are used.
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    /// Check the configuration and exit: 0 when valid, 1 with every error otherwise.
    #[arg(long = "config.check")]
    pub config_check: bool,

    /// Address to listen on for the web interface and probes.
    #[arg(
        long = "web.listen-address",
        value_name = "ADDR",
        default_value = ":9115"
    )]
    pub listen_address: String,

    /// Web config file (TLS and basic auth), as the Prometheus exporter toolkit's.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,

    /// Seconds subtracted from Prometheus' scrape timeout to give the probe timeout.
    #[arg(long = "timeout-offset", default_value_t = 0.5)]
    pub timeout_offset: f64,

    /// How many recent probes `/` and `/logs` keep.
    #[arg(long = "history.limit", default_value_t = 100)]
    pub history_limit: usize,

    /// Lowest level of application log lines.
    #[arg(long = "log.level", value_enum, default_value = "info")]
    pub log_level: Level,

    /// Lowest level of probe log lines kept in debug output and `/logs`.
    #[arg(long = "log.prober", value_enum, default_value = "info")]
    pub log_prober: Level,

    /// Log line format.
    #[arg(long = "log.format", value_enum, default_value = "logfmt")]
    pub log_format: LogFormat,

    /// Scheduled probes that may run at once, over all jobs.
    #[arg(long = "probe.concurrency", default_value_t = 256)]
    pub probe_concurrency: usize,

    /// The most history rules may read with range selectors (Go duration).
    #[arg(long = "storage.retention", default_value = "1h", value_parser = parse_duration)]
    pub retention: std::time::Duration,

    /// Directory for state that survives restarts: rule state, silences, the notification
    /// log and the alert store.
    #[arg(long = "storage.path", value_name = "DIR", default_value = "data/")]
    pub storage_path: PathBuf,

    /// The URL under which blackwatch is reachable from outside (alert generator URLs and
    /// links in notifications). Defaults to http://<hostname>:<port>/.
    #[arg(long = "web.external-url", value_name = "URL")]
    pub external_url: Option<String>,

    /// Seconds in-flight probes get to finish after SIGTERM.
    #[arg(long = "shutdown.grace-period", default_value_t = 30.0)]
    pub shutdown_grace: f64,
}

/// Turns `:9115` (Go's "all interfaces") into a bindable address.
pub fn normalize_listen_address(addr: &str) -> String {
    if let Some(port) = addr.strip_prefix(':') {
        format!("[::]:{port}")
    } else {
        addr.to_string()
    }
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    crate::config::units::parse_go_duration(s)
}
