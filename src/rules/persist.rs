//! Rule state that survives a restart: the pending and firing alerts of every alerting rule
//! (labels, state, ActiveAt, FiredAt and the last evaluation they were active at), written
//! to `<storage.path>/rules.json` atomically (temp file, fsync, rename, fsync of the
//! directory). Prometheus keeps this in the `ALERTS_FOR_STATE` series of its TSDB; the
//! arithmetic applied on restore is `alerting::restore_one`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::alerting::SavedAlert;

/// The file name under the storage directory.
pub const FILE_NAME: &str = "rules.json";

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid rule state: {source}")]
    Decode {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Identifies a rule across restarts: its group's file and name, and the rule's name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RuleKey {
    pub file: String,
    pub group: String,
    pub rule: String,
}

/// Everything saved: alerts by rule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    pub rules: Vec<SavedRule>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedRule {
    #[serde(flatten)]
    pub key: RuleKey,
    pub alerts: Vec<SavedAlert>,
}

impl Snapshot {
    /// Builds a snapshot from per-rule alerts, dropping rules with none.
    pub fn from_map(map: BTreeMap<RuleKey, Vec<SavedAlert>>) -> Self {
        Self {
            version: 1,
            rules: map
                .into_iter()
                .filter(|(_, a)| !a.is_empty())
                .map(|(key, alerts)| SavedRule { key, alerts })
                .collect(),
        }
    }

    /// The saved alerts by rule (alerts of rules sharing a key are merged).
    pub fn into_map(self) -> BTreeMap<RuleKey, Vec<SavedAlert>> {
        let mut out: BTreeMap<RuleKey, Vec<SavedAlert>> = BTreeMap::new();
        for r in self.rules {
            out.entry(r.key).or_default().extend(r.alerts);
        }
        out
    }
}

/// Reads the saved state; a missing file is an empty snapshot.
pub fn load(dir: &Path) -> Result<Snapshot, PersistError> {
    let path = dir.join(FILE_NAME);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Snapshot::default()),
        Err(source) => return Err(PersistError::Io { path, source }),
    };
    serde_json::from_slice(&bytes).map_err(|source| PersistError::Decode { path, source })
}

/// Writes the snapshot atomically: a temp file in the same directory, fsync, rename over
/// the old file, fsync of the directory.
pub fn save(dir: &Path, snapshot: &Snapshot) -> Result<(), PersistError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PersistError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(FILE_NAME);
    let body = serde_json::to_vec(snapshot).map_err(|source| PersistError::Decode {
        path: path.clone(),
        source,
    })?;
    crate::base::fs::write_atomic(&path, &body).map_err(io(&path))?;
    Ok(())
}
