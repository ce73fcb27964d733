//! Series for the pages: per-UTC-day availability of many targets (the 90 cells of the
//! uptime bars), one target's probes split into equal buckets over a window (the
//! response-time chart: mean and p95 latency, failures), and the latest incident of each
//! target (the failure reason in words). Reads only; blocking like the rest of the store, so
//! callers run it off the async workers. Rendering is the server's business.

use std::collections::HashMap;

use super::db::DbError;
use super::period::{floor_to, Level, Window, DAY_MS, MINUTE_MS};
use super::query::Incident;
use super::rollup::Rollup;
use super::Uptime;
use crate::store::GroupKey;

/// One UTC day of one target: probes and successes (both 0 without data).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DayCell {
    pub probes: u64,
    pub successes: u64,
}

impl DayCell {
    /// successes / probes; `None` without probes.
    pub fn ratio(&self) -> Option<f64> {
        (self.probes > 0).then(|| self.successes as f64 / self.probes as f64)
    }
}

/// The start (ms) of the first of the `days` UTC days ending with the one holding `now_ms`.
pub fn day_range(now_ms: i64, days: u32) -> i64 {
    floor_to(now_ms, DAY_MS) - (i64::from(days) - 1) * DAY_MS
}

/// One bucket of a series: `(from_ms, to_ms]` and what its probes added up to.
#[derive(Clone, Debug, PartialEq)]
pub struct Bucket {
    pub from_ms: i64,
    pub to_ms: i64,
    pub probes: u64,
    pub successes: u64,
    /// Mean latency, seconds (`None` without probes).
    pub latency_avg: Option<f64>,
    /// 95th percentile latency, seconds, from the rollup histograms (within 9.1 %).
    pub latency_p95: Option<f64>,
}

/// Fewer keys than this are read row by row; more by scanning each day.
const POINT_READ_KEYS: usize = 1_000;

impl Uptime {
    /// The key of `job`/`instance` (any module; the first by name), if it has history.
    pub fn find(&self, job: &str, instance: &str) -> Option<GroupKey> {
        let t = crate::base::sync::read(&self.targets);
        t.ids
            .keys()
            .filter(|k| &*k.job == job && &*k.instance == instance)
            .min_by(|a, b| a.module.cmp(&b.module))
            .cloned()
    }

    /// Per-UTC-day cells of each key for the `days` days ending today (oldest first, `days`
    /// long). Keys without history get empty cells.
    pub fn daily(
        &self,
        keys: &[GroupKey],
        days: u32,
        now_ms: i64,
    ) -> Result<HashMap<GroupKey, Vec<DayCell>>, DbError> {
        let first_ms = day_range(now_ms, days);
        let first = Level::Day.period_of(first_ms + 1);
        let end = first + days;
        let ids: HashMap<u32, usize> = {
            let t = crate::base::sync::read(&self.targets);
            keys.iter()
                .enumerate()
                .filter_map(|(i, k)| t.ids.get(k).map(|id| (*id, i)))
                .collect()
        };
        let mut cells = vec![vec![DayCell::default(); days as usize]; keys.len()];
        let reader = self.db.read()?;
        if ids.len() <= POINT_READ_KEYS {
            for (id, i) in &ids {
                for p in first..end {
                    if let Some(r) = reader.get(Level::Day, p, *id)? {
                        cells[*i][(p - first) as usize] = DayCell {
                            probes: r.probes,
                            successes: r.successes,
                        };
                    }
                }
            }
        } else {
            for p in first..end {
                reader.scan(Level::Day, p, p + 1, |id, r| {
                    if let Some(i) = ids.get(&id) {
                        cells[*i][(p - first) as usize] = DayCell {
                            probes: r.probes,
                            successes: r.successes,
                        };
                    }
                })?;
            }
        }
        Ok(keys.iter().cloned().zip(cells).collect())
    }

    /// `key`'s probes over `window` in `buckets` equal buckets (the last one may be shorter),
    /// from minute rollups while the window is within their retention, else hour rollups.
    pub fn series(
        &self,
        key: &GroupKey,
        window: Window,
        buckets: usize,
        now_ms: i64,
    ) -> Result<Vec<Bucket>, DbError> {
        let buckets = buckets.max(1);
        let level = if window.from_ms >= self.minute_cutoff_ms(now_ms) {
            Level::Minute
        } else {
            Level::Hour
        };
        let span = (window.to_ms - window.from_ms).max(level.ms());
        let step = {
            let raw = (span + buckets as i64 - 1) / buckets as i64;
            ((raw + level.ms() - 1) / level.ms()).max(1) * level.ms()
        };
        let n = ((span + step - 1) / step) as usize;
        let mut sums = vec![Rollup::default(); n];
        let id = crate::base::sync::read(&self.targets).ids.get(key).copied();
        if let Some(id) = id {
            let reader = self.db.read()?;
            let first = level.period_of(window.from_ms + 1);
            let end = level.period_of(window.to_ms) + 1;
            for p in first..end {
                let start = i64::from(p) * level.ms();
                let i = ((start - window.from_ms).max(0) / step) as usize;
                if i >= n {
                    break;
                }
                if let Some(r) = reader.get(level, p, id)? {
                    sums[i].merge(&r);
                }
            }
        }
        Ok(sums
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let from_ms = window.from_ms + i as i64 * step;
                Bucket {
                    from_ms,
                    to_ms: (from_ms + step).min(window.to_ms.max(from_ms + MINUTE_MS)),
                    probes: r.probes,
                    successes: r.successes,
                    latency_avg: r.latency_avg(),
                    latency_p95: r.latency_quantile(0.95),
                }
            })
            .collect())
    }

    /// The latest incident (ongoing or not) of each key that has one.
    pub fn latest_incidents(
        &self,
        keys: &[GroupKey],
    ) -> Result<HashMap<GroupKey, Incident>, DbError> {
        let ids: Vec<(u32, GroupKey)> = {
            let t = crate::base::sync::read(&self.targets);
            keys.iter()
                .filter_map(|k| t.ids.get(k).map(|id| (*id, k.clone())))
                .collect()
        };
        let mut out = HashMap::new();
        for (id, key) in ids {
            if let Some(inc) = self.db.last_incident(id)? {
                out.insert(
                    key.clone(),
                    Incident {
                        key,
                        start_ms: inc.start_ms,
                        end_ms: inc.end_ms,
                        reason: inc.reason,
                    },
                );
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::uptime::period::HOUR_MS;
    use crate::uptime::writer::Pending;
    use crate::uptime::Options;

    fn key(instance: &str) -> GroupKey {
        GroupKey {
            job: Arc::from("web"),
            instance: Arc::from(instance),
            module: Arc::from("http_2xx"),
        }
    }

    /// Days, buckets and the latest incident from a store written at chosen instants.
    #[test]
    fn days_buckets_and_latest_incident() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (uptime, _rx) = Uptime::open(dir.path(), Options::default()).expect("open");
        let now = floor_to(crate::clock::Now::read().unix_ms(), DAY_MS) + 12 * HOUR_MS;
        let a = key("a");
        let mut pending = Pending::default();
        let (id, _) = uptime.target_id(&a);
        pending.add_target(id, a.clone());
        // Yesterday: 4 probes, 3 good; today: a failure an hour ago, then recovery.
        for (ts, ok) in [
            (now - DAY_MS, true),
            (now - DAY_MS + 1000, true),
            (now - DAY_MS + 2000, false),
            (now - DAY_MS + 3000, true),
        ] {
            pending.record(id, ts, ok, 0.1, (!ok).then_some("HTTP 503"));
        }
        pending.record(
            id,
            now - HOUR_MS + 10_000,
            false,
            0.5,
            Some("connection refused"),
        );
        pending.record(id, now - HOUR_MS + 40_000, true, 0.2, None);
        uptime.db.write(&pending.take()).expect("write");

        let days = uptime
            .daily(&[a.clone(), key("none")], 3, now)
            .expect("daily");
        assert_eq!(
            days[&a],
            vec![
                DayCell::default(),
                DayCell {
                    probes: 4,
                    successes: 3
                },
                DayCell {
                    probes: 2,
                    successes: 1
                },
            ]
        );
        assert_eq!(days[&key("none")], vec![DayCell::default(); 3]);

        let w = Window {
            from_ms: now - 2 * HOUR_MS,
            to_ms: now,
        };
        let s = uptime.series(&a, w, 4, now).expect("series");
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].from_ms, now - 2 * HOUR_MS);
        assert_eq!(s[2].probes, 2, "{s:?}");
        assert_eq!(s[2].successes, 1);
        let avg = s[2].latency_avg.expect("avg");
        assert!((avg - 0.35).abs() < 1e-9, "{avg}");
        assert_eq!(s[0].probes + s[1].probes + s[3].probes, 0);

        let latest = uptime
            .latest_incidents(std::slice::from_ref(&a))
            .expect("latest");
        assert_eq!(latest[&a].reason, "connection refused");
        assert_eq!(latest[&a].end_ms, Some(now - HOUR_MS + 40_000));
        assert_eq!(uptime.find("web", "a"), Some(a));
        assert_eq!(uptime.find("web", "b"), None);
    }
}
