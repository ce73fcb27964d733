//! `probes:`: scheduled jobs (module reference, targets and file_sd, interval, timeout,
//! labels) into `schedule::Job`s.

use std::time::Duration;

use super::*;

/// Validates `probes:` against the validated modules. Relative file_sd paths are resolved
/// against `base_dir` (the config file's directory), as Prometheus does.
pub(crate) fn jobs(
    cx: &mut Cx,
    raw: &RawConfig,
    modules: &BTreeMap<String, Arc<crate::probe::Module>>,
    base_dir: &Path,
) -> Vec<Arc<crate::schedule::Job>> {
    use crate::schedule::job::{self as j, Job};
    let mut out = Vec::new();
    let mut seen_jobs = std::collections::HashSet::new();
    for (i, spanned) in raw.probes.iter().enumerate() {
        let p = &spanned.value;
        let path = format!("probes[{i}]");
        let before = cx.errors.len();
        let name = p.job.value.clone();
        if name.is_empty() {
            cx.err(
                &p.job.referenced,
                format!("{path}.job"),
                "job name must not be empty",
            );
        } else if !seen_jobs.insert(name.clone()) {
            cx.err(
                &p.job.referenced,
                format!("{path}.job"),
                format!("duplicate job name {name:?}"),
            );
        }
        let module = modules.get(&p.module.value);
        if module.is_none() && !raw.modules.contains_key(&p.module.value) {
            cx.err(
                &p.module.referenced,
                format!("{path}.module"),
                format!("undefined module {:?} used in job {name:?}", p.module.value),
            );
        }
        let interval = p.interval.unwrap_or(j::DEFAULT_INTERVAL);
        if interval.is_zero() {
            cx.err(
                &spanned.referenced,
                format!("{path}.interval"),
                "interval must be greater than 0",
            );
        }
        let module_timeout = module.map(|m| m.timeout).unwrap_or_default();
        let timeout = job_timeout(cx, spanned, &path, interval, module_timeout);
        let concurrency = match &p.concurrency {
            Some(c) if c.value < 1 => {
                cx.err(
                    &c.referenced,
                    format!("{path}.concurrency"),
                    "concurrency must be at least 1",
                );
                None
            }
            Some(c) => usize::try_from(c.value).ok(),
            None => None,
        };
        if let Err(e) = j::check_labels(&p.labels) {
            cx.err(&spanned.referenced, format!("{path}.labels"), e);
        }
        let targets = targets(cx, &path, &name, &p.targets);
        let file_sd = file_sds(cx, &path, &p.file_sd, base_dir);
        if targets.is_empty() && file_sd.is_empty() {
            cx.err(
                &spanned.referenced,
                &path,
                format!("job {name:?} has neither targets nor file_sd"),
            );
        }
        if cx.errors.len() == before {
            out.push(Arc::new(Job {
                name,
                module: p.module.value.clone(),
                interval,
                timeout,
                concurrency,
                labels: p.labels.clone(),
                targets,
                file_sd,
            }));
        }
    }
    out
}

/// A job's `timeout`: at most its interval and above zero; by default the module's timeout,
/// else 10 s, capped at the interval.
fn job_timeout(
    cx: &mut Cx,
    spanned: &Spanned<RawProbeJob>,
    path: &str,
    interval: Duration,
    module_timeout: Duration,
) -> Duration {
    use crate::schedule::job as j;
    let p = &spanned.value;
    match p.timeout {
        Some(t) if t > interval => {
            cx.err(
                &spanned.referenced,
                format!("{path}.timeout"),
                format!(
                    "timeout {} must not be greater than the interval {}",
                    crate::base::units::format_go_duration(t),
                    crate::base::units::format_go_duration(interval)
                ),
            );
            t
        }
        Some(t) if t.is_zero() => {
            cx.err(
                &spanned.referenced,
                format!("{path}.timeout"),
                "timeout must be greater than 0",
            );
            t
        }
        Some(t) => t,
        None if !module_timeout.is_zero() => module_timeout.min(interval),
        None => j::DEFAULT_TIMEOUT.min(interval),
    }
}

/// A job's static `targets`: not empty, not repeated, with valid labels.
fn targets(
    cx: &mut Cx,
    path: &str,
    name: &str,
    raw: &[Spanned<RawTarget>],
) -> Vec<crate::schedule::job::Target> {
    use crate::schedule::job::{self as j, Target};
    let mut targets = Vec::new();
    let mut seen_targets = std::collections::HashSet::new();
    for (ti, t) in raw.iter().enumerate() {
        let tp = format!("{path}.targets[{ti}]");
        let (target, labels) = match &t.value {
            RawTarget::Plain(s) => (s.clone(), BTreeMap::new()),
            RawTarget::WithLabels(w) => (w.target.clone(), w.labels.clone()),
        };
        if target.trim().is_empty() {
            cx.err(&t.referenced, &tp, "target must not be empty");
            continue;
        }
        if let Err(e) = j::check_labels(&labels) {
            cx.err(&t.referenced, format!("{tp}.labels"), e);
        }
        if !seen_targets.insert(target.clone()) {
            cx.err(
                &t.referenced,
                &tp,
                format!("duplicate target {target:?} in job {name:?}"),
            );
        }
        targets.push(Target { target, labels });
    }
    targets
}

/// A job's `file_sd` entries: at least one file each, `.json`/`.yml`/`.yaml` with wildcards
/// only in the file name (as Prometheus), relative paths from `base_dir`.
fn file_sds(
    cx: &mut Cx,
    path: &str,
    raw: &[Spanned<RawFileSd>],
    base_dir: &Path,
) -> Vec<crate::schedule::job::FileSd> {
    use crate::schedule::job::{self as j, FileSd};
    let mut file_sd = Vec::new();
    for (fi, f) in raw.iter().enumerate() {
        if f.value.files.is_empty() {
            cx.err(
                &f.referenced,
                format!("{path}.file_sd[{fi}].files"),
                "at least one file must be listed",
            );
        }
        for (k, file) in f.value.files.iter().enumerate() {
            let name = Path::new(file)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let dir_has_glob = Path::new(file)
                .parent()
                .and_then(|d| d.to_str())
                .is_some_and(|d| d.contains(['*', '?', '[']));
            let ext_ok = [".json", ".yml", ".yaml"].iter().any(|e| name.ends_with(e));
            if dir_has_glob || !ext_ok {
                cx.err(
                    &f.referenced,
                    format!("{path}.file_sd[{fi}].files[{k}]"),
                    format!("path {file:?} must end in .json, .yml or .yaml, with wildcards only in the file name"),
                );
            }
        }
        file_sd.push(FileSd {
            files: f.value.files.iter().map(|x| base_dir.join(x)).collect(),
            refresh_interval: f.value.refresh_interval.unwrap_or(j::DEFAULT_REFRESH),
        });
    }
    file_sd
}
