//! The `/metrics` figures: per target `blackwatch_uptime_ratio` and, with
//! `--uptime.metrics=all`, `blackwatch_uptime_latency_seconds` (p50/p95/p99) and
//! `blackwatch_uptime_incidents` (4 series a target by default, 20 with `all`, none with
//! `none`); per job `blackwatch_uptime_job_ratio`; each for the windows 24h, 7d, 30d and 90d
//! ending at the same minute boundary, which `blackwatch_uptime_window_end_timestamp_seconds`
//! gives. The
//! numbers are computed once a minute by the writer ([`compute`], which reads the store) and
//! kept as a [`Cache`] of plain numbers (about 200 bytes a target); a scrape only formats
//! them ([`Uptime::encode_metrics`]), it never reads the store.

use std::fmt::Write as _;
use std::time::Duration;

use super::db::DbError;
use super::query::Query;
use super::Uptime;
use crate::base::expo::escape_label;
use crate::base::go::format_go_float;
use crate::store::GroupKey;

/// Which per-target series `/metrics` shows (`--uptime.metrics`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Detail {
    /// None: only the per-job ratios.
    None,
    /// `blackwatch_uptime_ratio` per target and window.
    #[default]
    Ratio,
    /// The ratio, the latency quantiles and the incident count per target and window.
    All,
}

impl Detail {
    /// The flag's value: `none`, `ratio` or `all`.
    pub fn parse(s: &str) -> Result<Detail, String> {
        match s {
            "none" => Ok(Detail::None),
            "ratio" => Ok(Detail::Ratio),
            "all" => Ok(Detail::All),
            _ => Err(format!("{s:?}: expected none, ratio or all")),
        }
    }
}

/// The windows on `/metrics`, with their label values.
pub const WINDOWS: [(&str, Duration); 4] = [
    ("24h", Duration::from_secs(86_400)),
    ("7d", Duration::from_secs(7 * 86_400)),
    ("30d", Duration::from_secs(30 * 86_400)),
    ("90d", Duration::from_secs(90 * 86_400)),
];

const QUANTILES: [(&str, f64); 3] = [("0.5", 0.5), ("0.95", 0.95), ("0.99", 0.99)];

/// One window's figures of a target: ratio, p50, p95, p99 (NaN when there were no probes), and
/// incidents; `None` when the target had neither probes nor incidents in it.
pub type Values = Option<([f64; 4], u32)>;

/// Writes one target's lines of one window: (out, target labels, window, values).
type Line<'a> = &'a dyn Fn(&mut String, &str, &str, &([f64; 4], u32));

/// The figures of the last computation.
#[derive(Default)]
pub struct Cache {
    pub end_ms: Option<i64>,
    /// Sorted by (job, instance, module).
    pub targets: Vec<(GroupKey, [Values; 4])>,
    /// Per job, the ratio per window (NaN without probes).
    pub jobs: Vec<(String, [f64; 4])>,
}

fn or_nan(v: Option<f64>) -> f64 {
    v.unwrap_or(f64::NAN)
}

/// Computes the figures of every target for the windows ending at `end_ms` (blocking).
pub fn compute(uptime: &Uptime, end_ms: i64) -> Result<Cache, DbError> {
    let mut targets: std::collections::BTreeMap<(GroupKey,), [Values; 4]> = Default::default();
    let mut jobs: std::collections::BTreeMap<String, [f64; 4]> = Default::default();
    for (wi, (_, w)) in WINDOWS.into_iter().enumerate() {
        let window = uptime.window(end_ms - super::period::duration_ms(w), end_ms, end_ms);
        let figures = uptime.figures(&Query::all(window))?;
        for (key, f) in figures.targets {
            let r = &f.rollup;
            let values = [
                or_nan(r.ratio()),
                or_nan(r.latency_quantile(QUANTILES[0].1)),
                or_nan(r.latency_quantile(QUANTILES[1].1)),
                or_nan(r.latency_quantile(QUANTILES[2].1)),
            ];
            let count = u32::try_from(f.incidents.count).unwrap_or(u32::MAX);
            targets.entry((key,)).or_default()[wi] = Some((values, count));
        }
        for (job, f) in figures.jobs {
            jobs.entry(job).or_insert([f64::NAN; 4])[wi] = or_nan(f.rollup.ratio());
        }
    }
    let mut targets: Vec<(GroupKey, [Values; 4])> =
        targets.into_iter().map(|((k,), v)| (k, v)).collect();
    crate::base::sort::sort_by(&mut targets, |a, b| {
        (&a.0.job, &a.0.instance, &a.0.module).cmp(&(&b.0.job, &b.0.instance, &b.0.module))
    });
    targets.shrink_to_fit();
    Ok(Cache {
        end_ms: Some(end_ms),
        targets,
        jobs: jobs.into_iter().collect(),
    })
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

impl Uptime {
    /// Appends the cached figures and the dropped-results counter to a `/metrics` body.
    pub fn encode_metrics(&self, out: &mut String, openmetrics: bool) {
        let cache = self.gauges();
        let detail = self.options.metrics;
        let mut labels: Vec<String> = Vec::with_capacity(cache.targets.len());
        for (key, _) in cache.targets.iter().filter(|_| detail != Detail::None) {
            labels.push(format!(
                "job=\"{}\",instance=\"{}\",module=\"{}\"",
                escape_label(&key.job),
                escape_label(&key.instance),
                escape_label(&key.module)
            ));
        }
        let each = |out: &mut String, f: Line| {
            for ((_, windows), l) in cache.targets.iter().zip(labels.iter()) {
                for ((w, _), v) in WINDOWS.iter().zip(windows.iter()) {
                    if let Some(v) = v {
                        f(out, l, w, v);
                    }
                }
            }
        };
        if detail != Detail::None {
            header(
                out,
                "blackwatch_uptime_ratio",
                "Successful scheduled probes over all scheduled probes of a target in the window.",
                "gauge",
            );
            each(out, &|out, l, w, (v, _)| {
                if !v[0].is_nan() {
                    let _ = writeln!(
                        out,
                        "blackwatch_uptime_ratio{{{l},window=\"{w}\"}} {}",
                        format_go_float(v[0])
                    );
                }
            });
        }
        if detail == Detail::All {
            encode_details(out, &each);
        }
        header(
            out,
            "blackwatch_uptime_job_ratio",
            "Successful scheduled probes over all scheduled probes of a job's targets in the window.",
            "gauge",
        );
        for (job, ratios) in &cache.jobs {
            for ((w, _), r) in WINDOWS.iter().zip(ratios.iter()) {
                if !r.is_nan() {
                    let _ = writeln!(
                        out,
                        "blackwatch_uptime_job_ratio{{job=\"{}\",window=\"{w}\"}} {}",
                        escape_label(job),
                        format_go_float(*r)
                    );
                }
            }
        }
        if let Some(end) = cache.end_ms {
            header(
                out,
                "blackwatch_uptime_window_end_timestamp_seconds",
                "End of the windows the uptime figures cover (a minute boundary).",
                "gauge",
            );
            let _ = writeln!(
                out,
                "blackwatch_uptime_window_end_timestamp_seconds {}",
                end / 1000
            );
        }
        let family = if openmetrics {
            "blackwatch_uptime_dropped_results"
        } else {
            "blackwatch_uptime_dropped_results_total"
        };
        header(
            out,
            family,
            "Scheduled results not written to the uptime history because its writer was behind.",
            "counter",
        );
        let _ = writeln!(
            out,
            "blackwatch_uptime_dropped_results_total {}",
            self.dropped()
        );
    }
}

/// The latency quantiles and incident counts of every target (`--uptime.metrics=all`).
fn encode_details(out: &mut String, each: &dyn Fn(&mut String, Line)) {
    header(
            out,
            "blackwatch_uptime_latency_seconds",
            "Quantiles of probe_duration_seconds of a target's scheduled probes in the window (within 9.1%).",
            "gauge",
        );
    each(out, &|out, l, w, (v, _)| {
        for (i, (q, _)) in QUANTILES.iter().enumerate() {
            if !v[i + 1].is_nan() {
                let _ = writeln!(
                    out,
                    "blackwatch_uptime_latency_seconds{{{l},window=\"{w}\",quantile=\"{q}\"}} {}",
                    format_go_float(v[i + 1])
                );
            }
        }
    });
    header(
        out,
        "blackwatch_uptime_incidents",
        "Failure runs of a target overlapping the window.",
        "gauge",
    );
    each(out, &|out, l, w, (_, n)| {
        let _ = writeln!(out, "blackwatch_uptime_incidents{{{l},window=\"{w}\"}} {n}");
    });
}
