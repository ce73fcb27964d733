//! Prometheus file_sd files: JSON or YAML lists of `{targets: [...], labels: {...}}`. Each
//! job's files are polled for changes (size, mtime) every few seconds and re-read at least
//! every `refresh_interval`; a file that fails to parse keeps its last good targets and the
//! error is logged, so one bad edit never empties a job.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::job::{check_labels, FileSd, Target};
use super::Scheduler;
use crate::clock::Now;

/// How often files are checked for changes.
pub const POLL: Duration = Duration::from_secs(2);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Group {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FileSdError {
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

/// Parses one file_sd file's text. `.json` and `.yml`/`.yaml` are both read with the YAML
/// parser (JSON is valid YAML).
pub fn parse(path: &Path, text: &str) -> Result<Vec<Target>, FileSdError> {
    let err = |message: String| FileSdError::Parse {
        path: path.display().to_string(),
        message,
    };
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let groups: Vec<Group> = crate::base::yaml::from_str(text).map_err(|e| {
        let loc = e
            .location()
            .map(|l| format!("{}:{}: ", l.line(), l.column()))
            .unwrap_or_default();
        err(format!(
            "{loc}{}",
            e.without_snippet()
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
        ))
    })?;
    let mut out = Vec::new();
    for (i, g) in groups.into_iter().enumerate() {
        check_labels(&g.labels).map_err(|m| err(format!("group {i}: {m}")))?;
        for t in g.targets {
            if t.trim().is_empty() {
                return Err(err(format!("group {i}: empty target")));
            }
            out.push(Target {
                target: t,
                labels: g.labels.clone(),
            });
        }
    }
    Ok(out)
}

type Signature = Vec<(PathBuf, Option<(u64, SystemTime)>)>;

fn signature(sds: &[FileSd]) -> Signature {
    let mut sig = Vec::new();
    for sd in sds {
        for pattern in &sd.files {
            for f in crate::base::fs::expand(pattern) {
                let meta = std::fs::metadata(&f)
                    .ok()
                    .map(|m| (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
                sig.push((f, meta));
            }
        }
    }
    sig
}

/// Reads every file of a job; files that fail keep their previous targets (from `last`).
fn read_all(sig: &Signature, last: &mut HashMap<PathBuf, Vec<Target>>) -> Vec<Target> {
    let mut current = HashMap::new();
    for (path, meta) in sig {
        if meta.is_none() {
            tracing::warn!(message = "file_sd file is missing", path = %path.display());
            continue;
        }
        let parsed = std::fs::read_to_string(path)
            .map_err(|e| FileSdError::Read {
                path: path.display().to_string(),
                source: e,
            })
            .and_then(|text| parse(path, &text));
        match parsed {
            Ok(targets) => {
                current.insert(path.clone(), targets);
            }
            Err(e) => {
                tracing::error!(message = "Error reading file_sd file; keeping its previous targets", error = %e);
                if let Some(prev) = last.get(path) {
                    current.insert(path.clone(), prev.clone());
                }
            }
        }
    }
    *last = current;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (path, _) in sig {
        for t in last.get(path).into_iter().flatten() {
            if seen.insert(t.target.clone()) {
                out.push(t.clone());
            }
        }
    }
    out
}

/// Watches one job's files until cancelled, pushing target lists into the scheduler.
pub async fn watch(scheduler: Scheduler, job: String, sds: Vec<FileSd>, token: CancellationToken) {
    let refresh = sds
        .iter()
        .map(|s| s.refresh_interval)
        .min()
        .unwrap_or(super::job::DEFAULT_REFRESH);
    let poll = POLL.min(refresh);
    let mut last_sig: Option<Signature> = None;
    let mut last_read = Instant::now();
    let mut per_file = HashMap::new();
    loop {
        let sig = tokio::task::spawn_blocking({
            let sds = sds.clone();
            move || signature(&sds)
        })
        .await
        .unwrap_or_default();
        if last_sig.as_ref() != Some(&sig) || last_read.elapsed() >= refresh {
            let targets = read_all(&sig, &mut per_file);
            tracing::debug!(message = "file_sd targets read", job = %job, targets = targets.len());
            scheduler.set_watched_targets(&token, &job, targets, Now::read());
            last_sig = Some(sig);
            last_read = Instant::now();
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_json_and_yaml() {
        let json =
            r#"[{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}}, {"targets": ["c:3"]}]"#;
        let t = parse(Path::new("x.json"), json).unwrap_or_default();
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].labels.get("env").map(String::as_str), Some("prod"));
        assert!(t[2].labels.is_empty());
        let yaml = "- targets: [\"https://x\"]\n  labels:\n    team: a\n";
        let t = parse(Path::new("x.yml"), yaml).unwrap_or_default();
        assert_eq!(
            t,
            vec![Target {
                target: "https://x".into(),
                labels: [("team".to_string(), "a".to_string())].into()
            }]
        );
    }

    #[test]
    fn rejects_bad_files() {
        assert!(parse(Path::new("x.yml"), "- targets: [a]\n  lables: {}\n").is_err());
        assert!(parse(Path::new("x.yml"), "- targets: [a]\n  labels: {job: x}\n").is_err());
        assert!(parse(Path::new("x.json"), "{not json").is_err());
    }
}
