//! Snapshots of the alert state under `--storage.path`: the notification log
//! (`nflog.json`), silences (`silences.json`) and — unlike Alertmanager (#2370) — the alert
//! store (`alerts.json`). Each file is written atomically (temporary file, fsync, rename,
//! fsync of the directory): the notification log right after every successful send, the
//! others shortly after a change (debounced) and once more at shutdown. A missing file is an
//! empty state; a corrupt one is a start-up error, as upstream.
//!
//! This module owns the files, their format and the debounce. It does not own the state
//! and takes no lock on it: the owner of the state hands it [`Snapshot`]s (plain data taken
//! under the owner's locks) and gets a `Result` back, and the debounced loop
//! ([`Persister::run`]) asks the owner for its changes through a closure. A file only moves
//! forward: a snapshot no newer than the version on disk is not written.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::alert::nflog::Entry;
use crate::alert::silence::Silence;
use crate::alert::store::{Alert, StoredAlert};

pub const NFLOG_FILE: &str = "nflog.json";
pub const SILENCES_FILE: &str = "silences.json";
pub const ALERTS_FILE: &str = "alerts.json";

/// Changes within this window are written together.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// After a write that took `t`, the next one waits `t × WRITE_PAUSE_RATIO` (at most
/// `MAX_PAUSE`; see `Persister::run`).
const WRITE_PAUSE_RATIO: u32 = 9;
const MAX_PAUSE: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is corrupt: {source}")]
    Corrupt {
        path: String,
        source: serde_json::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// Everything loaded at start.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub alerts: Vec<Alert>,
    pub silences: Vec<Silence>,
    pub nflog: Vec<(String, Entry)>,
}

/// One file's content as the owner of the state took it, with the version of the state it
/// shows (the alert store's, the silences' or the notification log's change counter).
#[derive(Debug)]
pub struct Snapshot<T> {
    pub version: u64,
    pub content: T,
}

/// The state versions on disk, per file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Versions {
    pub alerts: u64,
    pub silences: u64,
    pub nflog: u64,
}

/// Versions last written, per file.
#[derive(Debug, Default)]
struct Written {
    alerts: AtomicU64,
    silences: AtomicU64,
    nflog: AtomicU64,
}

#[derive(Clone)]
pub struct Persister {
    dir: PathBuf,
    dirty: Arc<tokio::sync::Notify>,
    /// Counts `mark_dirty` calls, so the debounce sees whether changes keep coming.
    changes: Arc<AtomicU64>,
    written: Arc<Written>,
    /// Serialises writers of the same file.
    write_lock: Arc<tokio::sync::Mutex<()>>,
}

fn read_json<T: DeserializeOwned + Default>(path: &Path) -> Result<T, PersistError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| PersistError::Corrupt {
            path: path.display().to_string(),
            source: e,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(PersistError::Read {
            path: path.display().to_string(),
            source: e,
        }),
    }
}

/// `base::fs::write_atomic`, with the path in the error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PersistError> {
    crate::base::fs::write_atomic(path, bytes).map_err(|source| PersistError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// `base::fs::write_atomic_with`, with the path in the error.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&std::fs::File>) -> std::io::Result<()>,
) -> Result<(), PersistError> {
    crate::base::fs::write_atomic_with(path, write).map_err(|source| PersistError::Write {
        path: path.display().to_string(),
        source,
    })
}

impl Persister {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            dirty: Arc::new(tokio::sync::Notify::new()),
            changes: Arc::new(AtomicU64::new(0)),
            written: Arc::new(Written::default()),
            write_lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    pub fn load(&self) -> Result<State, PersistError> {
        Ok(State {
            alerts: read_json(&self.dir.join(ALERTS_FILE))?,
            silences: read_json(&self.dir.join(SILENCES_FILE))?,
            nflog: read_json(&self.dir.join(NFLOG_FILE))?,
        })
    }

    /// Asks for a (debounced) write of whatever changed.
    pub fn mark_dirty(&self) {
        self.changes.fetch_add(1, Ordering::Relaxed);
        self.dirty.notify_one();
    }

    /// The state versions on disk: a snapshot is only worth taking for a newer version.
    pub fn written(&self) -> Versions {
        Versions {
            alerts: self.written.alerts.load(Ordering::Relaxed),
            silences: self.written.silences.load(Ordering::Relaxed),
            nflog: self.written.nflog.load(Ordering::Relaxed),
        }
    }

    /// Writes `alerts.json` (sorted by fingerprint, serialised off the runtime) unless the
    /// file already holds this version or a newer one. `true` if it was written.
    pub async fn write_alerts(
        &self,
        snapshot: Snapshot<Vec<Arc<StoredAlert>>>,
    ) -> Result<bool, PersistError> {
        let _guard = self.write_lock.lock().await;
        if snapshot.version <= self.written.alerts.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let mut list = snapshot.content;
        self.blocking(ALERTS_FILE, move |path| {
            crate::base::sort::sort_by_key(&mut list, |a| a.fingerprint);
            let refs: Vec<&StoredAlert> = list.iter().map(|a| &**a).collect();
            write_atomic_with(path, |w| {
                serde_json::to_writer(w, &refs).map_err(std::io::Error::other)
            })
        })
        .await?;
        self.written
            .alerts
            .store(snapshot.version, Ordering::Relaxed);
        Ok(true)
    }

    /// Writes `silences.json` unless the file already holds this version or a newer one.
    /// The size written, if it was.
    pub async fn write_silences(
        &self,
        snapshot: Snapshot<Vec<Silence>>,
    ) -> Result<Option<usize>, PersistError> {
        self.write_json(SILENCES_FILE, &self.written.silences, snapshot)
            .await
    }

    /// Writes `nflog.json` unless the file already holds this version or a newer one. The
    /// size written, if it was.
    pub async fn write_nflog(
        &self,
        snapshot: Snapshot<Vec<(String, Entry)>>,
    ) -> Result<Option<usize>, PersistError> {
        self.write_json(NFLOG_FILE, &self.written.nflog, snapshot)
            .await
    }

    async fn write_json<T: Serialize + Send + 'static>(
        &self,
        name: &'static str,
        written: &AtomicU64,
        snapshot: Snapshot<T>,
    ) -> Result<Option<usize>, PersistError> {
        let _guard = self.write_lock.lock().await;
        if snapshot.version <= written.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let content = snapshot.content;
        let size = self
            .blocking(name, move |path| {
                let bytes = serde_json::to_vec(&content).map_err(|e| PersistError::Write {
                    path: path.display().to_string(),
                    source: std::io::Error::other(e),
                })?;
                write_atomic(path, &bytes)?;
                Ok(bytes.len())
            })
            .await?;
        written.store(snapshot.version, Ordering::Relaxed);
        Ok(Some(size))
    }

    /// Runs `write` on the file `name` in the blocking pool.
    async fn blocking<R: Send + 'static>(
        &self,
        name: &str,
        write: impl FnOnce(&Path) -> Result<R, PersistError> + Send + 'static,
    ) -> Result<R, PersistError> {
        let path = self.dir.join(name);
        let p = path.clone();
        tokio::task::spawn_blocking(move || write(&p))
            .await
            .unwrap_or_else(|e| {
                Err(PersistError::Write {
                    path: path.display().to_string(),
                    source: std::io::Error::other(e.to_string()),
                })
            })
    }

    /// Calls `write_changed` on change until `token` is cancelled, then once more. The
    /// owner of the state passes a closure that takes a snapshot of what changed since
    /// [`Persister::written`] and writes it with the `write_*` methods.
    ///
    /// Writes are debounced: a change is written once changes have paused for `DEBOUNCE`
    /// (so a burst of posts is written once, after it, instead of competing with it), and
    /// never later than `MAX_PAUSE` after it. After a write that took `t`, the next waits at
    /// least `t × WRITE_PAUSE_RATIO` (large stores: ~0.2 s for 100k alerts) unless that
    /// would pass `MAX_PAUSE`.
    pub async fn run<F, Fut>(&self, token: CancellationToken, mut write_changed: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), PersistError>>,
    {
        use tokio::time::Instant;
        let mut next_allowed = Instant::now();
        'run: loop {
            tokio::select! {
                _ = token.cancelled() => break,
                _ = self.dirty.notified() => {}
            }
            let deadline = Instant::now() + MAX_PAUSE;
            let mut seen = self.changes.load(Ordering::Relaxed);
            loop {
                let wake = debounce_wake(Instant::now(), next_allowed, deadline);
                tokio::select! {
                    _ = token.cancelled() => break 'run,
                    _ = tokio::time::sleep_until(wake) => {}
                }
                let changes = self.changes.load(Ordering::Relaxed);
                if debounce_done(Instant::now(), changes != seen, next_allowed, deadline) {
                    break;
                }
                seen = changes;
            }
            let started = Instant::now();
            if let Err(e) = write_changed().await {
                tracing::error!(message = "Writing alerting state failed", error = %e);
            }
            next_allowed = Instant::now() + (started.elapsed() * WRITE_PAUSE_RATIO).min(MAX_PAUSE);
        }
        if let Err(e) = write_changed().await {
            tracing::error!(message = "Writing alerting state at shutdown failed", error = %e);
        }
    }
}

/// When the debounce looks again: `DEBOUNCE` from `now`, not before `next_allowed`, not
/// after `deadline`.
fn debounce_wake(
    now: tokio::time::Instant,
    next_allowed: tokio::time::Instant,
    deadline: tokio::time::Instant,
) -> tokio::time::Instant {
    (now + DEBOUNCE).max(next_allowed).min(deadline)
}

/// Whether to write now: the deadline passed, or nothing changed during the last look and
/// the pause after the previous write is over.
fn debounce_done(
    now: tokio::time::Instant,
    changed: bool,
    next_allowed: tokio::time::Instant,
    deadline: tokio::time::Instant,
) -> bool {
    now >= deadline || (!changed && now >= next_allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Simulates the debounce against a change stream: returns the write times (ms).
    fn writes(change_until_ms: u64, write_ms: u64, run_ms: u64) -> Vec<u64> {
        let t0 = tokio::time::Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let changes_between = |a: u64, b: u64| a < change_until_ms && b > 0 && a < b;
        let mut out = Vec::new();
        let mut next_allowed = at(0);
        let mut now = 0;
        while now < run_ms && now < change_until_ms {
            let deadline = at(now) + MAX_PAUSE;
            loop {
                let wake = debounce_wake(at(now), next_allowed, deadline);
                let then = (wake - t0).as_millis() as u64;
                let changed = changes_between(now, then);
                now = then;
                if debounce_done(at(now), changed, next_allowed, deadline) {
                    break;
                }
            }
            out.push(now);
            now += write_ms;
            next_allowed =
                at(now) + (Duration::from_millis(write_ms) * WRITE_PAUSE_RATIO).min(MAX_PAUSE);
            now += 1;
        }
        out
    }

    #[test]
    fn a_burst_is_written_once_after_it_and_continuous_change_every_max_pause() {
        // Changes for 800 ms (a burst of posts): one write, 100 ms after the burst.
        assert_eq!(writes(800, 10, 10_000), vec![900]);
        // Changes without end: written every MAX_PAUSE (plus the write time).
        let w = writes(u64::MAX, 10, 7_000);
        assert_eq!(w, vec![2000, 4011, 6022, 8033]);
        // Slow writes (300 ms) under constant change: still at most MAX_PAUSE apart.
        let w = writes(u64::MAX, 300, 5_000);
        assert!(w.windows(2).all(|p| p[1] - p[0] <= 2000 + 301), "{w:?}");
    }

    #[tokio::test]
    async fn snapshots_are_written_once_per_version_and_never_backwards() {
        use std::time::UNIX_EPOCH;
        let dir = tempfile::tempdir().unwrap();
        let p = Persister::new(dir.path().to_path_buf());
        let at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let entry = |key: &str| {
            let e = Entry {
                timestamp: at,
                firing: [1].into_iter().collect(),
                resolved: Default::default(),
                expires_at: at + Duration::from_secs(3600),
            };
            (key.to_string(), e)
        };
        let nflog = |version, keys: &[&str]| Snapshot {
            version,
            content: keys.iter().map(|k| entry(k)).collect(),
        };
        let size = p.write_nflog(nflog(2, &["a", "b"])).await.unwrap();
        assert!(size.is_some_and(|n| n > 0), "{size:?}");
        // The same version again, or an older one taken before it: not written.
        assert_eq!(p.write_nflog(nflog(2, &[])).await.unwrap(), None);
        assert_eq!(p.write_nflog(nflog(1, &["a"])).await.unwrap(), None);
        let silences = Snapshot {
            version: 1,
            content: Vec::new(),
        };
        assert_eq!(p.write_silences(silences).await.unwrap(), Some(2));
        let alert = crate::alert::store::Alert {
            labels: crate::labels::label_set(&[("alertname", "A")]),
            annotations: Default::default(),
            starts_at: at,
            ends_at: at + Duration::from_secs(60),
            generator_url: String::new(),
            updated_at: at,
            timeout: false,
        };
        let stored = crate::alert::store::AlertStore::new().put(&alert, at);
        let alerts = |version| Snapshot {
            version,
            content: vec![stored.clone()],
        };
        assert!(p.write_alerts(alerts(3)).await.unwrap());
        assert!(!p.write_alerts(alerts(3)).await.unwrap());
        assert_eq!(
            p.written(),
            Versions {
                alerts: 3,
                silences: 1,
                nflog: 2
            }
        );
        let state = p.load().unwrap();
        let keys: Vec<&str> = state.nflog.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert!(state.silences.is_empty());
        assert_eq!(state.alerts.len(), 1);
        assert_eq!(state.alerts[0].labels, alert.labels);
    }

    #[test]
    fn missing_files_are_empty_and_corrupt_ones_fail() {
        let dir = tempfile::tempdir().unwrap();
        let p = Persister::new(dir.path().to_path_buf());
        let s = p.load().unwrap();
        assert!(s.alerts.is_empty() && s.silences.is_empty() && s.nflog.is_empty());
        std::fs::write(dir.path().join(NFLOG_FILE), b"{not json").unwrap();
        let e = p.load().unwrap_err();
        assert!(e.to_string().contains("nflog.json is corrupt"), "{e}");
    }
}
