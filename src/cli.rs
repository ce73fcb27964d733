//! Command-line flags and subcommands. The daemon's flags are named as blackbox_exporter's
//! (and Prometheus') so existing unit files and manifests keep working: `blackwatch` with no
//! subcommand runs the daemon. The subcommands (`probe`, `check config`, `test rules`) are
//! one-shot tools; their implementations live in `cmd/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    /// A one-shot tool instead of the daemon.
    #[command(subcommand)]
    pub command: Option<Command>,

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
    #[arg(long = "storage.retention", default_value = "1h", value_parser = crate::base::units::parse_go_duration)]
    pub retention: std::time::Duration,

    /// How long expired silences and notification-log entries are kept (Go duration;
    /// Alertmanager's flag and default).
    #[arg(long = "data.retention", default_value = "120h", value_parser = crate::base::units::parse_go_duration)]
    pub data_retention: std::time::Duration,

    /// Directory for state that survives restarts: rule state, silences, the notification
    /// log and the alert store.
    #[arg(long = "storage.path", value_name = "DIR", default_value = "data/")]
    pub storage_path: PathBuf,

    /// The most bytes each remote_write queue keeps on disk under
    /// <storage.path>/remote_write/ while its endpoint cannot take them; past it the oldest
    /// batches are dropped (counted in prometheus_remote_storage_samples_dropped_total).
    #[arg(long = "remote-write.max-queue-bytes", value_name = "BYTES", default_value = "256MB", value_parser = parse_bytes)]
    pub remote_write_max_queue_bytes: u64,

    /// The URL under which blackwatch is reachable from outside (alert generator URLs and
    /// links in notifications). Defaults to http://<hostname>:<port>/.
    #[arg(long = "web.external-url", value_name = "URL")]
    pub external_url: Option<String>,

    /// The most active (unresolved) alerts the alert store holds; new alerts beyond it are
    /// refused (updates to stored ones are always accepted). 0 = unlimited.
    #[arg(long = "alerts.limit", default_value_t = crate::state::DEFAULT_ALERTS_LIMIT)]
    pub alerts_limit: usize,

    /// The most active and pending silences. 0 = unlimited.
    #[arg(long = "silences.max-silences", default_value_t = 0)]
    pub max_silences: usize,

    /// The largest silence accepted, in bytes (its JSON encoding). 0 = unlimited.
    #[arg(long = "silences.max-silence-size-bytes", default_value_t = 0)]
    pub max_silence_size_bytes: usize,

    /// Seconds in-flight probes get to finish after SIGTERM.
    #[arg(long = "shutdown.grace-period", default_value_t = 30.0)]
    pub shutdown_grace: f64,
}

/// The subcommands. Without one, `blackwatch` runs the daemon.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one probe now and print a summary (or the metrics). Exit code: 0 when the probe
    /// succeeded, 1 when it failed, 2 on bad usage (unknown module, bad config).
    Probe(ProbeArgs),
    /// Check files without starting the daemon.
    #[command(subcommand)]
    Check(CheckCommand),
    /// Run tests.
    #[command(subcommand)]
    Test(TestCommand),
}

/// `blackwatch check ...`
#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Check a configuration file, as `--config.file FILE --config.check`: 0 when valid,
    /// 1 with every error otherwise.
    Config {
        /// The configuration file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// `blackwatch test ...`
#[derive(Debug, Subcommand)]
pub enum TestCommand {
    /// Run rule unit-test files (the `promtool test rules` format).
    Rules {
        /// Unit-test files.
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
    },
}

/// What `blackwatch probe` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProbeOutput {
    /// A short human summary: result, phase durations, HTTP status, certificate expiry; the
    /// probe log when the probe failed.
    Summary,
    /// The probe's metrics in Prometheus text format, as `/probe` returns them.
    Metrics,
}

/// `blackwatch probe [--module M] [--config.file F] TARGET`
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// What to probe: a URL for http modules, host:port for tcp, dns and grpc, a host for icmp.
    #[arg(value_name = "TARGET")]
    pub target: String,

    /// The module to probe with. Default: `http_2xx` when TARGET starts with http:// or
    /// https://, `tcp_connect` otherwise.
    #[arg(long, short = 'm', value_name = "MODULE")]
    pub module: Option<String>,

    /// Configuration file with the module. Without it, the built-in modules are used.
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    /// Probe timeout (Go duration, e.g. 5s). Default: the module's `timeout`, else 10s.
    #[arg(long, value_name = "DURATION", value_parser = crate::base::units::parse_go_duration)]
    pub timeout: Option<std::time::Duration>,

    /// Host header and TLS server name for http, server name for tcp (as `/probe`'s
    /// `hostname` parameter).
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,

    /// What to print.
    #[arg(long, value_enum, default_value = "summary")]
    pub output: ProbeOutput,

    /// Print the probe log (debug level) even when the probe succeeded.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

/// Turns `:9115` (Go's "all interfaces") into a bindable address.
/// A base-2 size (`256MB` = 256 MiB, as alecthomas/units) or a plain number of bytes.
fn parse_bytes(s: &str) -> Result<u64, String> {
    let n = match s.parse::<u64>() {
        Ok(n) => n,
        Err(_) => u64::try_from(crate::base::units::parse_base2_bytes(s)?)
            .map_err(|_| format!("invalid size {s:?}"))?,
    };
    if n == 0 {
        return Err("must be greater than 0".to_string());
    }
    Ok(n)
}

pub fn normalize_listen_address(addr: &str) -> String {
    if let Some(port) = addr.strip_prefix(':') {
        format!("[::]:{port}")
    } else {
        addr.to_string()
    }
}
