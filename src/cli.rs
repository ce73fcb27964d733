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

    /// A second address serving ONLY the public status pages (`status_pages:`) and the
    /// badges of the targets they show, over plain HTTP without basic auth; empty = off.
    #[arg(
        long = "web.public-listen-address",
        value_name = "ADDR",
        default_value = ""
    )]
    pub public_listen_address: String,

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

    /// Keep the uptime history of scheduled probes (`--uptime.enabled=false` turns it off).
    #[arg(long = "uptime.enabled", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub uptime_enabled: bool,

    /// How long per-minute uptime rollups are kept (Prometheus duration; 0 = none).
    #[arg(long = "uptime.minute-retention", default_value = "48h", value_parser = crate::base::units::parse_prom_duration)]
    pub uptime_minute_retention: std::time::Duration,

    /// How long per-hour and per-day uptime rollups and incidents are kept (Prometheus
    /// duration; 0 = none).
    #[arg(long = "uptime.hour-retention", default_value = "400d", value_parser = crate::base::units::parse_prom_duration)]
    pub uptime_hour_retention: std::time::Duration,

    /// Which per-target uptime figures `/metrics` shows: `ratio` (blackwatch_uptime_ratio
    /// for 24h, 7d, 30d and 90d: 4 series a target), `all` (also latency p50/p95/p99 and
    /// incident counts: 20 series a target) or `none` (per-job ratios only).
    #[arg(long = "uptime.metrics", default_value = "ratio", value_parser = crate::uptime::gauges::Detail::parse)]
    pub uptime_metrics: crate::uptime::gauges::Detail,

    /// How often scheduled results are written to the uptime history (Go duration).
    #[arg(long = "uptime.flush-interval", default_value = "5s", value_parser = crate::base::units::parse_go_duration)]
    pub uptime_flush_interval: std::time::Duration,

    /// Seconds in-flight probes get to finish after SIGTERM.
    #[arg(long = "shutdown.grace-period", default_value_t = 30.0)]
    pub shutdown_grace: f64,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Alertmanager's `--cluster.*` flags. Clustering is on when `--cluster.peer` or
/// `--cluster.listen-address` is given (an empty listen address turns it off).
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Listen address for cluster gossip (UDP). Default 0.0.0.0:9094 once clustering is on;
    /// an empty string disables HA mode.
    #[arg(
        long = "cluster.listen-address",
        id = "cluster_listen_address",
        value_name = "ADDR"
    )]
    pub listen_address: Option<String>,

    /// Explicit address to advertise in the cluster.
    #[arg(
        long = "cluster.advertise-address",
        id = "cluster_advertise_address",
        value_name = "ADDR"
    )]
    pub advertise_address: Option<String>,

    /// Initial peers, host:port (may be repeated; a name resolving to several addresses,
    /// such as a headless Service, counts as all of them).
    #[arg(long = "cluster.peer", id = "cluster_peer", value_name = "PEER")]
    pub peers: Vec<String>,

    /// Time to wait between peers to send notifications: a replica ranked n for a group
    /// waits n × this before notifying.
    #[arg(long = "cluster.peer-timeout", default_value = "15s", value_parser = crate::base::units::parse_go_duration)]
    pub peer_timeout: std::time::Duration,

    /// Interval between sending gossip messages.
    #[arg(long = "cluster.gossip-interval", default_value = "200ms", value_parser = crate::base::units::parse_go_duration)]
    pub gossip_interval: std::time::Duration,

    /// Interval for full state syncs in Alertmanager. Accepted for compatibility: every
    /// gossip round reconciles state here (scuttlebutt), so it sets only the default of
    /// --cluster.settle-timeout.
    #[arg(long = "cluster.pushpull-interval", default_value = "1m", value_parser = crate::base::units::parse_go_duration)]
    pub pushpull_interval: std::time::Duration,

    /// Maximum time to wait for cluster connections to settle before evaluating
    /// notifications (default: --cluster.pushpull-interval).
    #[arg(long = "cluster.settle-timeout", value_parser = crate::base::units::parse_go_duration)]
    pub settle_timeout: Option<std::time::Duration>,

    /// How long a failed peer (and the state it published) is remembered.
    #[arg(long = "cluster.reconnect-timeout", default_value = "6h", value_parser = crate::base::units::parse_go_duration)]
    pub reconnect_timeout: std::time::Duration,

    /// Accepted for compatibility with Alertmanager; failure detection here is adaptive
    /// (phi accrual over the gossip heartbeats), without probes.
    #[arg(long = "cluster.probe-timeout", default_value = "500ms", value_parser = crate::base::units::parse_go_duration)]
    pub probe_timeout: std::time::Duration,

    /// Accepted for compatibility with Alertmanager (see --cluster.probe-timeout).
    #[arg(long = "cluster.probe-interval", default_value = "1s", value_parser = crate::base::units::parse_go_duration)]
    pub probe_interval: std::time::Duration,

    /// Accepted for compatibility with Alertmanager: failed peers are gossiped with until
    /// --cluster.reconnect-timeout without a separate reconnect loop.
    #[arg(long = "cluster.reconnect-interval", default_value = "10s", value_parser = crate::base::units::parse_go_duration)]
    pub reconnect_interval: std::time::Duration,

    /// Accepted for compatibility with Alertmanager: gossip uses no stream connections.
    #[arg(long = "cluster.tcp-timeout", default_value = "10s", value_parser = crate::base::units::parse_go_duration)]
    pub tcp_timeout: std::time::Duration,

    /// Mutual TLS for gossip, Alertmanager's format.
    #[arg(long = "cluster.tls-config", value_name = "FILE")]
    pub tls_config: Option<PathBuf>,

    /// How many members probe each scheduled target (blackwatch's own flag): targets are
    /// divided among the live members by rendezvous hashing of (job, target).
    #[arg(long = "cluster.probe-replicas", default_value_t = 1)]
    pub probe_replicas: usize,

    /// Which series of each scheduled result the replicas share: `rules` (the metrics the
    /// rules read, plus probe_success and probe_duration_seconds) or `all` (everything,
    /// so /metrics?cluster=1 shows every series of every target).
    #[arg(long = "cluster.share-results", value_enum, default_value = "rules")]
    pub share_results: ShareResults,
}

/// `--cluster.share-results`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ShareResults {
    Rules,
    All,
}

impl ClusterArgs {
    /// The validated settings, or `None` when clustering is off.
    pub fn settings(&self) -> Result<Option<crate::cluster::ClusterSettings>, String> {
        let listen = match (&self.listen_address, self.peers.is_empty()) {
            (None, true) => return Ok(None),
            (Some(l), _) if l.is_empty() => return Ok(None),
            (Some(l), _) => l.clone(),
            (None, false) => format!("0.0.0.0:{}", crate::cluster::DEFAULT_PORT),
        };
        let listen = parse_addr("--cluster.listen-address", &listen)?;
        let advertise = match &self.advertise_address {
            Some(a) if !a.is_empty() => Some(parse_addr("--cluster.advertise-address", a)?),
            _ => None,
        };
        for p in &self.peers {
            if crate::base::go::split_host_port(p).is_err() {
                return Err(format!("--cluster.peer {p:?}: want host:port"));
            }
        }
        if self.probe_replicas == 0 {
            return Err("--cluster.probe-replicas must be at least 1".to_string());
        }
        if self.gossip_interval.is_zero() {
            return Err("--cluster.gossip-interval must be positive".to_string());
        }
        Ok(Some(crate::cluster::ClusterSettings {
            listen,
            advertise,
            peers: self.peers.clone(),
            peer_timeout: self.peer_timeout,
            gossip_interval: self.gossip_interval,
            settle_timeout: self.settle_timeout.unwrap_or(self.pushpull_interval),
            reconnect_timeout: self.reconnect_timeout,
            tls: None,
            probe_replicas: self.probe_replicas,
            share_all_results: self.share_results == ShareResults::All,
        }))
    }
}

/// `host:port` with an IP host (or Go's `:port` for all interfaces).
fn parse_addr(flag: &str, s: &str) -> Result<std::net::SocketAddr, String> {
    let normalized = match s.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => s.to_string(),
    };
    normalized
        .parse()
        .map_err(|_| format!("{flag} {s:?}: want ip:port"))
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
