//! The `/metrics` lines of the uptime figures, rendered once a minute by the writer (never by
//! a scrape): per target `blackwatch_uptime_ratio`, `blackwatch_uptime_latency_seconds`
//! (p50/p95/p99) and `blackwatch_uptime_incidents`, per job `blackwatch_uptime_job_ratio`,
//! each for the windows 24h, 7d, 30d and 90d ending at the same minute boundary, which
//! `blackwatch_uptime_window_end_timestamp_seconds` gives.

use std::fmt::Write as _;
use std::time::Duration;

use super::db::DbError;
use super::query::Query;
use super::Uptime;
use crate::base::expo::escape_label;
use crate::base::go::format_go_float;

/// The windows on `/metrics`, with their label values.
pub const WINDOWS: [(&str, Duration); 4] = [
    ("24h", Duration::from_secs(86_400)),
    ("7d", Duration::from_secs(7 * 86_400)),
    ("30d", Duration::from_secs(30 * 86_400)),
    ("90d", Duration::from_secs(90 * 86_400)),
];

const QUANTILES: [(&str, f64); 3] = [("0.5", 0.5), ("0.95", 0.95), ("0.99", 0.99)];

fn header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

/// Renders the figures of every target for the windows ending at `end_ms` (blocking).
pub fn render(uptime: &Uptime, end_ms: i64) -> Result<String, DbError> {
    let mut ratio = String::new();
    let mut latency = String::new();
    let mut incidents = String::new();
    let mut job_ratio = String::new();
    for (label, w) in WINDOWS {
        let window = uptime.window(end_ms - super::period::duration_ms(w), end_ms, end_ms);
        let figures = uptime.figures(&Query::all(window))?;
        for (key, f) in &figures.targets {
            let labels = format!(
                "job=\"{}\",instance=\"{}\",module=\"{}\",window=\"{label}\"",
                escape_label(&key.job),
                escape_label(&key.instance),
                escape_label(&key.module)
            );
            if let Some(r) = f.rollup.ratio() {
                let _ = writeln!(
                    ratio,
                    "blackwatch_uptime_ratio{{{labels}}} {}",
                    format_go_float(r)
                );
            }
            for (q, qv) in QUANTILES {
                if let Some(v) = f.rollup.latency_quantile(qv) {
                    let _ = writeln!(
                        latency,
                        "blackwatch_uptime_latency_seconds{{{labels},quantile=\"{q}\"}} {}",
                        format_go_float(v)
                    );
                }
            }
            let _ = writeln!(
                incidents,
                "blackwatch_uptime_incidents{{{labels}}} {}",
                f.incidents.count
            );
        }
        for (job, f) in &figures.jobs {
            if let Some(r) = f.rollup.ratio() {
                let _ = writeln!(
                    job_ratio,
                    "blackwatch_uptime_job_ratio{{job=\"{}\",window=\"{label}\"}} {}",
                    escape_label(job),
                    format_go_float(r)
                );
            }
        }
    }
    let mut out = String::new();
    header(
        &mut out,
        "blackwatch_uptime_ratio",
        "Successful scheduled probes over all scheduled probes of a target in the window.",
    );
    out.push_str(&ratio);
    header(
        &mut out,
        "blackwatch_uptime_latency_seconds",
        "Quantiles of probe_duration_seconds of a target's scheduled probes in the window (within 9.1%).",
    );
    out.push_str(&latency);
    header(
        &mut out,
        "blackwatch_uptime_incidents",
        "Failure runs of a target overlapping the window.",
    );
    out.push_str(&incidents);
    header(
        &mut out,
        "blackwatch_uptime_job_ratio",
        "Successful scheduled probes over all scheduled probes of a job's targets in the window.",
    );
    out.push_str(&job_ratio);
    header(
        &mut out,
        "blackwatch_uptime_window_end_timestamp_seconds",
        "End of the windows the uptime figures cover (a minute boundary).",
    );
    let _ = writeln!(
        out,
        "blackwatch_uptime_window_end_timestamp_seconds {}",
        end_ms / 1000
    );
    Ok(out)
}

impl Uptime {
    /// Appends the figures and the dropped-results counter to a `/metrics` body.
    pub fn encode_metrics(&self, out: &mut String, openmetrics: bool) {
        out.push_str(&self.gauges_text());
        let family = if openmetrics {
            "blackwatch_uptime_dropped_results"
        } else {
            "blackwatch_uptime_dropped_results_total"
        };
        let _ = writeln!(
            out,
            "# HELP {family} Scheduled results not written to the uptime history because its writer was behind.\n\
             # TYPE {family} counter\nblackwatch_uptime_dropped_results_total {}",
            self.dropped()
        );
    }
}
