//! The uptime store on disk: one redb file (`<storage.path>/uptime.redb`) with
//!
//! - `targets`: target id (`u32`) → (job, instance, module);
//! - `minute`, `hour`, `day`: `period << 32 | target id` → an encoded [`Rollup`]. Keys are
//!   time-major, so a flush appends at the right edge of each tree (few pages rewritten per
//!   commit), retention deletes a key prefix, and a window over all targets is one range
//!   scan per segment;
//! - `incidents`: (target id, start ms) → (end ms, 0 while open; the failure reason).
//!
//! Every write is one transaction committed with redb's default durability (the commit is on
//! disk when it returns; a crash leaves the previous commit). Opening verifies every page's
//! checksum; a file that fails that (or is not a redb file) is moved aside as
//! `uptime.redb.corrupt-<unix seconds>` and a fresh one is created, with an error log line.
//! Blocking I/O: callers run it off the async workers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{ReadableDatabase as _, ReadableTable as _, TableDefinition};

use super::period::Level;
use super::rollup::Rollup;
use crate::store::GroupKey;

const TARGETS: TableDefinition<u32, (&str, &str, &str)> = TableDefinition::new("targets");
const MINUTE: TableDefinition<u64, &[u8]> = TableDefinition::new("minute");
const HOUR: TableDefinition<u64, &[u8]> = TableDefinition::new("hour");
const DAY: TableDefinition<u64, &[u8]> = TableDefinition::new("day");
const INCIDENTS: TableDefinition<(u32, i64), (i64, &str)> = TableDefinition::new("incidents");

/// The file name under `--storage.path`.
pub const FILE_NAME: &str = "uptime.redb";

/// The page cache redb may keep by default. Reads of old rollups come from the OS page
/// cache anyway.
pub const CACHE_BYTES: usize = 16 << 20;

fn table(level: Level) -> TableDefinition<'static, u64, &'static [u8]> {
    match level {
        Level::Minute => MINUTE,
        Level::Hour => HOUR,
        Level::Day => DAY,
    }
}

pub fn key(period: u32, target: u32) -> u64 {
    (u64::from(period) << 32) | u64::from(target)
}

fn split_key(k: u64) -> (u32, u32) {
    ((k >> 32) as u32, k as u32)
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("opening {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: Box<redb::Error>,
    },
    #[error("uptime store: {0}")]
    Redb(#[from] Box<redb::Error>),
    #[error("uptime store: {0}")]
    Io(#[from] std::io::Error),
}

fn boxed<E: Into<redb::Error>>(e: E) -> DbError {
    DbError::Redb(Box::new(e.into()))
}

/// An incident as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredIncident {
    pub target: u32,
    pub start_ms: i64,
    /// `None` while the target is still failing.
    pub end_ms: Option<i64>,
    pub reason: String,
}

/// One flush's worth of writes.
#[derive(Default)]
pub struct Batch {
    pub new_targets: Vec<(u32, GroupKey)>,
    /// (target, minute period, what the minute gained since the last flush).
    pub deltas: Vec<(u32, u32, Rollup)>,
    /// Incidents opened or closed (written whole, keyed by target and start).
    pub incidents: Vec<StoredIncident>,
    /// Delete rollups of periods before these (minute, hour, day).
    pub prune: Option<[u32; 3]>,
    /// Delete incidents that ended before this (ms).
    pub prune_incidents_before_ms: Option<i64>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.new_targets.is_empty()
            && self.deltas.is_empty()
            && self.incidents.is_empty()
            && self.prune.is_none()
    }
}

/// The open store. Cheap to share: redb serialises writers and lets readers run beside them.
#[derive(Clone)]
pub struct Db {
    db: Arc<redb::Database>,
    path: PathBuf,
}

/// Whether an open error means the file's contents are bad (rather than the file being
/// unreachable or in use).
fn is_corruption(e: &redb::DatabaseError) -> bool {
    match e {
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(_)) => true,
        redb::DatabaseError::Storage(redb::StorageError::Io(io)) => matches!(
            io.kind(),
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
        ),
        redb::DatabaseError::UpgradeRequired(_) | redb::DatabaseError::RepairAborted => true,
        _ => false,
    }
}

enum OpenOutcome {
    Ok(redb::Database),
    Corrupt(String),
    Failed(redb::Error),
}

fn try_open(path: &Path, cache_bytes: usize) -> OpenOutcome {
    let attempt = std::panic::catch_unwind(|| {
        redb::Builder::new()
            .set_cache_size(cache_bytes)
            .set_check_integrity_on_open(true)
            .create(path)
    });
    let db = match attempt {
        Err(_) => return OpenOutcome::Corrupt("the store panicked while reading it".into()),
        Ok(Err(e)) if is_corruption(&e) => return OpenOutcome::Corrupt(e.to_string()),
        Ok(Err(e)) => return OpenOutcome::Failed(e.into()),
        Ok(Ok(db)) => db,
    };
    // The tables must exist with our types (a redb file of something else fails here).
    match create_tables(&db) {
        Ok(()) => OpenOutcome::Ok(db),
        Err(e @ redb::Error::TableTypeMismatch(_)) => OpenOutcome::Corrupt(e.to_string()),
        Err(e @ redb::Error::Corrupted(_)) => OpenOutcome::Corrupt(e.to_string()),
        Err(e) => OpenOutcome::Failed(e),
    }
}

fn create_tables(db: &redb::Database) -> Result<(), redb::Error> {
    let tx = db.begin_write()?;
    tx.open_table(TARGETS)?;
    for level in Level::ALL {
        tx.open_table(table(level))?;
    }
    tx.open_table(INCIDENTS)?;
    tx.commit()?;
    Ok(())
}

impl Db {
    /// Opens (or creates) `dir/uptime.redb`. A corrupted file is moved aside and logged, and a
    /// fresh store starts; any other failure (permissions, another process holding the file)
    /// is returned. `now_s` names the moved file; redb keeps at most `cache_bytes` of pages.
    pub fn open(dir: &Path, now_s: i64, cache_bytes: usize) -> Result<Db, DbError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        let db = match try_open(&path, cache_bytes) {
            OpenOutcome::Ok(db) => db,
            OpenOutcome::Failed(e) => {
                return Err(DbError::Open {
                    path,
                    source: Box::new(e),
                })
            }
            OpenOutcome::Corrupt(why) => {
                let aside = dir.join(format!("{FILE_NAME}.corrupt-{now_s}"));
                std::fs::rename(&path, &aside)?;
                tracing::error!(
                    message = "The uptime store is corrupted; moved it aside and started a fresh one",
                    error = %why,
                    path = %path.display(),
                    moved_to = %aside.display(),
                );
                match try_open(&path, cache_bytes) {
                    OpenOutcome::Ok(db) => db,
                    OpenOutcome::Corrupt(why) => {
                        return Err(DbError::Open {
                            path,
                            source: Box::new(redb::Error::Corrupted(why)),
                        })
                    }
                    OpenOutcome::Failed(e) => {
                        return Err(DbError::Open {
                            path,
                            source: Box::new(e),
                        })
                    }
                }
            }
        };
        Ok(Db {
            db: Arc::new(db),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every known target with its id.
    pub fn targets(&self) -> Result<Vec<(u32, GroupKey)>, DbError> {
        let tx = self.db.begin_read().map_err(boxed)?;
        let t = tx.open_table(TARGETS).map_err(boxed)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(boxed)? {
            let (k, v) = row.map_err(boxed)?;
            let (job, instance, module) = v.value();
            out.push((
                k.value(),
                GroupKey {
                    job: Arc::from(job),
                    instance: Arc::from(instance),
                    module: Arc::from(module),
                },
            ));
        }
        Ok(out)
    }

    /// Incidents still open (written at their first failure, not yet closed).
    pub fn open_incidents(&self) -> Result<Vec<StoredIncident>, DbError> {
        self.incidents(None, |inc| inc.end_ms.is_none())
    }

    /// Incidents of `target` (all targets when `None`) that `keep` accepts.
    pub fn incidents(
        &self,
        target: Option<u32>,
        mut keep: impl FnMut(&StoredIncident) -> bool,
    ) -> Result<Vec<StoredIncident>, DbError> {
        let tx = self.db.begin_read().map_err(boxed)?;
        let t = tx.open_table(INCIDENTS).map_err(boxed)?;
        let rows = match target {
            Some(id) => t.range((id, i64::MIN)..=(id, i64::MAX)).map_err(boxed)?,
            None => t.iter().map_err(boxed)?,
        };
        let mut out = Vec::new();
        for row in rows {
            let (k, v) = row.map_err(boxed)?;
            let (target, start_ms) = k.value();
            let (end, reason) = v.value();
            let inc = StoredIncident {
                target,
                start_ms,
                end_ms: (end != 0).then_some(end),
                reason: reason.to_string(),
            };
            if keep(&inc) {
                out.push(inc);
            }
        }
        Ok(out)
    }

    /// The latest incident of `target` (by start), ongoing or not.
    pub fn last_incident(&self, target: u32) -> Result<Option<StoredIncident>, DbError> {
        let tx = self.db.begin_read().map_err(boxed)?;
        let t = tx.open_table(INCIDENTS).map_err(boxed)?;
        let mut rows = t
            .range((target, i64::MIN)..=(target, i64::MAX))
            .map_err(boxed)?;
        let Some(row) = rows.next_back() else {
            return Ok(None);
        };
        let (k, v) = row.map_err(boxed)?;
        let (_, start_ms) = k.value();
        let (end, reason) = v.value();
        Ok(Some(StoredIncident {
            target,
            start_ms,
            end_ms: (end != 0).then_some(end),
            reason: reason.to_string(),
        }))
    }

    /// Writes one batch in one transaction: new targets, rollup deltas merged into their
    /// minute, hour and day rows, incidents, retention.
    pub fn write(&self, batch: &Batch) -> Result<(), DbError> {
        let tx = self.db.begin_write().map_err(boxed)?;
        {
            let mut targets = tx.open_table(TARGETS).map_err(boxed)?;
            for (id, k) in &batch.new_targets {
                targets
                    .insert(id, (&*k.job, &*k.instance, &*k.module))
                    .map_err(boxed)?;
            }
        }
        let mut buf = Vec::with_capacity(64);
        for level in Level::ALL {
            let mut t = tx.open_table(table(level)).map_err(boxed)?;
            for (id, minute, delta) in &batch.deltas {
                let period = match level {
                    Level::Minute => *minute,
                    Level::Hour => minute / 60,
                    Level::Day => minute / 1440,
                };
                let k = key(period, *id);
                let mut row = match t.get(k).map_err(boxed)? {
                    Some(v) => Rollup::decode(v.value()).unwrap_or_default(),
                    None => Rollup::default(),
                };
                row.merge(delta);
                row.encode(&mut buf);
                t.insert(k, buf.as_slice()).map_err(boxed)?;
            }
            if let Some(cut) = batch.prune {
                let before = match level {
                    Level::Minute => cut[0],
                    Level::Hour => cut[1],
                    Level::Day => cut[2],
                };
                t.retain_in(..key(before, 0), |_, _| false).map_err(boxed)?;
            }
        }
        {
            let mut t = tx.open_table(INCIDENTS).map_err(boxed)?;
            for inc in &batch.incidents {
                t.insert(
                    (inc.target, inc.start_ms),
                    (inc.end_ms.unwrap_or(0), inc.reason.as_str()),
                )
                .map_err(boxed)?;
            }
            if let Some(before) = batch.prune_incidents_before_ms {
                t.retain(|_, (end, _)| end == 0 || end >= before)
                    .map_err(boxed)?;
            }
        }
        tx.commit().map_err(boxed)?;
        Ok(())
    }

    /// Writes whole rollups of one level, replacing any there: for importing history (and
    /// for the benchmark, which writes 30 days without waiting for them).
    pub fn write_rollups(&self, level: Level, rows: &[(u32, u32, Rollup)]) -> Result<(), DbError> {
        let tx = self.db.begin_write().map_err(boxed)?;
        {
            let mut t = tx.open_table(table(level)).map_err(boxed)?;
            let mut buf = Vec::with_capacity(64);
            for (period, id, r) in rows {
                r.encode(&mut buf);
                t.insert(key(*period, *id), buf.as_slice()).map_err(boxed)?;
            }
        }
        tx.commit().map_err(boxed)?;
        Ok(())
    }

    /// A consistent read view for one query.
    pub fn read(&self) -> Result<Reader, DbError> {
        let tx = self.db.begin_read().map_err(boxed)?;
        let open = |level| tx.open_table(table(level)).map_err(boxed);
        Ok(Reader {
            tables: [open(Level::Minute)?, open(Level::Hour)?, open(Level::Day)?],
        })
    }
}

/// The rollup tables of one read transaction: everything read is from one commit.
pub struct Reader {
    tables: [redb::ReadOnlyTable<u64, &'static [u8]>; 3],
}

impl Reader {
    fn table(&self, level: Level) -> &redb::ReadOnlyTable<u64, &'static [u8]> {
        match level {
            Level::Minute => &self.tables[0],
            Level::Hour => &self.tables[1],
            Level::Day => &self.tables[2],
        }
    }

    /// The rollup of one target for one period.
    pub fn get(&self, level: Level, period: u32, target: u32) -> Result<Option<Rollup>, DbError> {
        let row = self.table(level).get(key(period, target)).map_err(boxed)?;
        Ok(row.and_then(|v| Rollup::decode(v.value())))
    }

    /// Every row of periods `first..end` of a level, all targets: `f(target, rollup)`.
    pub fn scan(
        &self,
        level: Level,
        first: u32,
        end: u32,
        mut f: impl FnMut(u32, Rollup),
    ) -> Result<(), DbError> {
        let rows = self
            .table(level)
            .range(key(first, 0)..key(end, 0))
            .map_err(boxed)?;
        for row in rows {
            let (k, v) = row.map_err(boxed)?;
            let (_, target) = split_key(k.value());
            if let Some(r) = Rollup::decode(v.value()) {
                f(target, r);
            }
        }
        Ok(())
    }
}
