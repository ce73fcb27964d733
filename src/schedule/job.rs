//! Scheduled jobs as validated from `probes:`: what to probe, how often, with which labels.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Prometheus' default scrape timeout, used when neither the job nor its module sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// Default `file_sd` re-read interval (files are also watched for changes).
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub target: String,
    /// The target's own labels (job labels are in `Job::labels`).
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileSd {
    /// Absolute (or working-directory-relative) paths; the file name may hold `*`/`?`.
    pub files: Vec<PathBuf>,
    pub refresh_interval: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Job {
    pub name: String,
    pub module: String,
    pub interval: Duration,
    /// Already capped at the interval.
    pub timeout: Duration,
    /// Per-job limit on probes running at once.
    pub concurrency: Option<usize>,
    pub labels: BTreeMap<String, String>,
    pub targets: Vec<Target>,
    pub file_sd: Vec<FileSd>,
}

/// Labels blackwatch sets itself on every result.
pub const RESERVED_LABELS: &[&str] = &["job", "instance", "module"];

/// Why a label set is not acceptable, if it is not.
pub fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), String> {
    for name in labels.keys() {
        if !crate::base::names::is_user_label_name(name) {
            return Err(format!("invalid label name {name:?}"));
        }
        if RESERVED_LABELS.contains(&name.as_str()) {
            return Err(format!(
                "label {name:?} is set by blackwatch and cannot be configured"
            ));
        }
    }
    Ok(())
}
