//! The daemon's self-metrics on `/metrics`, kept in a prometheus-client registry, and the
//! exposition helpers: OpenMetrics when the scraper asks for it, otherwise a correct text
//! format 0.0.4 (counter HELP/TYPE lines named `_total`, no `# UNIT`/`# EOF`), so
//! `promtool check metrics` passes. Names follow blackbox_exporter where one exists.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub use crate::base::expo::{
    encode_registry, wants_openmetrics, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
    pub revision: String,
    pub rustversion: String,
    pub os: String,
    pub arch: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeLabels {
    pub module: String,
    pub prober: String,
    /// `success` or `failure`.
    pub result: &'static str,
}

/// `reason` of `blackwatch_probe_refused_total`: `adhoc_disabled`, `target`, `address`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModuleLabel {
    pub module: String,
}

/// Process metrics read from `/proc/self` at scrape time.
#[derive(Default)]
struct Process {
    cpu_seconds: Gauge<f64, AtomicU64>,
    resident_memory_bytes: Gauge,
    virtual_memory_bytes: Gauge,
    open_fds: Gauge,
    max_fds: Gauge,
    start_time_seconds: Gauge<f64, AtomicU64>,
}

pub struct Metrics {
    registry: Registry,
    pub config_last_reload_successful: Gauge,
    pub config_last_reload_success_timestamp_seconds: Gauge<f64, AtomicU64>,
    pub module_unknown: Counter,
    /// Ad-hoc `/probe` requests refused by `probe_policy`.
    pub probe_refused: Family<RefusedLabels, Counter>,
    pub probes: Family<ProbeLabels, Counter>,
    pub probe_duration: Family<ModuleLabel, Histogram>,
    pub schedule: crate::schedule::ScheduleMetrics,
    /// The alert pipeline's Alertmanager-named metrics.
    pub alert: crate::alert::metrics::AlertMetrics,
    /// `remote_write:` queues, with Prometheus' names.
    pub remote: crate::remote::metrics::RemoteMetrics,
    process: Process,
}

fn duration_histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ])
}

impl Metrics {
    /// Registers every self-metric, one statement each (a flat list of names and help texts).
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let build: Family<BuildLabels, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
                revision: option_env!("BLACKWATCH_REVISION")
                    .unwrap_or("unknown")
                    .to_string(),
                rustversion: option_env!("BLACKWATCH_RUSTC")
                    .unwrap_or("unknown")
                    .to_string(),
                os: std::env::consts::OS.to_string(),
                arch: std::env::consts::ARCH.to_string(),
            })
            .set(1);
        registry.register(
            "blackwatch_build_info",
            "A metric with a constant '1' value labeled by version, revision, rustversion, os and arch from which blackwatch was built",
            build,
        );
        let config_last_reload_successful = Gauge::default();
        registry.register(
            "blackbox_exporter_config_last_reload_successful",
            "Blackbox exporter config loaded successfully",
            config_last_reload_successful.clone(),
        );
        let config_last_reload_success_timestamp_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "blackbox_exporter_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload",
            config_last_reload_success_timestamp_seconds.clone(),
        );
        let module_unknown = Counter::default();
        registry.register(
            "blackbox_module_unknown",
            "Count of unknown modules requested by probes",
            module_unknown.clone(),
        );
        let probe_refused = Family::<RefusedLabels, Counter>::default();
        registry.register(
            "blackwatch_probe_refused",
            "Ad-hoc /probe requests refused by probe_policy, by reason",
            probe_refused.clone(),
        );
        let probes = Family::<ProbeLabels, Counter>::default();
        registry.register(
            "blackwatch_probes",
            "Probes run, by module, prober and result",
            probes.clone(),
        );
        let probe_duration = Family::<ModuleLabel, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        registry.register(
            "blackwatch_probe_duration_seconds",
            "Duration of probes by module",
            probe_duration.clone(),
        );
        let process = Process::default();
        registry.register(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            process.cpu_seconds.clone(),
        );
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            process.resident_memory_bytes.clone(),
        );
        registry.register(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            process.virtual_memory_bytes.clone(),
        );
        registry.register(
            "process_open_fds",
            "Number of open file descriptors",
            process.open_fds.clone(),
        );
        registry.register(
            "process_max_fds",
            "Maximum number of open file descriptors",
            process.max_fds.clone(),
        );
        registry.register(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            process.start_time_seconds.clone(),
        );
        let schedule = crate::schedule::ScheduleMetrics::register(&mut registry);
        let alert = crate::alert::metrics::AlertMetrics::register(&mut registry);
        let remote = crate::remote::metrics::RemoteMetrics::register(&mut registry);
        let m = Self {
            registry,
            schedule,
            alert,
            remote,
            config_last_reload_successful,
            config_last_reload_success_timestamp_seconds,
            module_unknown,
            probe_refused,
            probes,
            probe_duration,
            process,
        };
        m.read_process_start();
        m
    }

    /// Adds the cluster's metrics (when clustering is on).
    pub fn register_cluster(&mut self, cluster: &crate::cluster::metrics::ClusterMetrics) {
        cluster.register(&mut self.registry);
    }

    fn read_process_start(&self) {
        if let Some(start) = proc_stat_field(21).and_then(|ticks| {
            let btime = std::fs::read_to_string("/proc/stat")
                .ok()?
                .lines()
                .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<f64>().ok())?;
            Some(btime + ticks / clock_ticks())
        }) {
            self.process.start_time_seconds.set(start);
        }
    }

    fn refresh_process(&self) {
        if let (Some(utime), Some(stime)) = (proc_stat_field(13), proc_stat_field(14)) {
            self.process
                .cpu_seconds
                .set((utime + stime) / clock_ticks());
        }
        if let Some(vsize) = proc_stat_field(22) {
            self.process.virtual_memory_bytes.set(vsize as i64);
        }
        if let Some(rss) = proc_stat_field(23) {
            self.process
                .resident_memory_bytes
                .set((rss * 4096.0) as i64);
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            self.process.open_fds.set(dir.count() as i64);
        }
        if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
            if let Some(max) = limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<i64>().ok())
            {
                self.process.max_fds.set(max);
            }
        }
    }

    /// Encodes the registry for a scraper whose `Accept` header is `accept`; returns the body
    /// and its content type.
    pub fn encode(&self, accept: Option<&str>) -> (String, &'static str) {
        self.refresh_process();
        encode_registry(&self.registry, accept)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn clock_ticks() -> f64 {
    100.0
}

/// A numeric field of `/proc/self/stat` (1-based field numbers as in proc(5), minus one).
fn proc_stat_field(index_after_comm: usize) -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    // Fields after the command start at field 3 (state); index 13 here is utime (field 14).
    after
        .split_whitespace()
        .nth(index_after_comm - 2)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_metrics_are_read() {
        let m = Metrics::new();
        let (text, ct) = m.encode(None);
        assert_eq!(ct, TEXT_CONTENT_TYPE);
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert!(
            text.contains("# TYPE blackbox_module_unknown_total counter"),
            "{text}"
        );
    }
}
