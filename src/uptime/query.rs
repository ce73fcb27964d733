//! Availability figures from the rollups: per target and per job over a [`Window`] — uptime
//! ratio (successes / probes, what `avg_over_time(probe_success[w])` gives when every probe
//! is one sample), latency mean and p50/p95/p99, incidents overlapping the window and their
//! MTTR — and the incident list. The window is covered by whole days, hours and minutes
//! (`Window::segments`), so a figure reads a few hundred rows per target whatever its length.
//!
//! Definitions: an incident counts in a window when it overlaps it (started at or before its
//! end, and ongoing or ended after its start); MTTR is the mean duration (first failure to
//! recovery) of those that have ended.

use std::collections::{BTreeMap, HashMap};

use super::db::{DbError, StoredIncident};
use super::period::Window;
use super::rollup::Rollup;
use super::Uptime;
use crate::store::GroupKey;

/// Which targets and which window. `None` filters match everything.
#[derive(Clone, Debug)]
pub struct Query {
    pub job: Option<String>,
    pub instance: Option<String>,
    pub module: Option<String>,
    pub window: Window,
}

impl Query {
    pub fn all(window: Window) -> Self {
        Query {
            job: None,
            instance: None,
            module: None,
            window,
        }
    }

    pub fn matches(&self, k: &GroupKey) -> bool {
        self.job.as_deref().is_none_or(|j| j == &*k.job)
            && self.instance.as_deref().is_none_or(|i| i == &*k.instance)
            && self.module.as_deref().is_none_or(|m| m == &*k.module)
    }
}

/// Incidents overlapping a window, summed up.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IncidentStats {
    pub count: u64,
    /// Ended ones, and the sum of their durations (ms).
    pub resolved: u64,
    pub resolved_ms: i64,
}

impl IncidentStats {
    fn add(&mut self, inc: &StoredIncident) {
        self.count += 1;
        if let Some(end) = inc.end_ms {
            self.resolved += 1;
            self.resolved_ms += end - inc.start_ms;
        }
    }

    fn merge(&mut self, o: &IncidentStats) {
        self.count += o.count;
        self.resolved += o.resolved;
        self.resolved_ms += o.resolved_ms;
    }

    /// Mean time to recovery, seconds; `None` when no incident has ended.
    pub fn mttr_seconds(&self) -> Option<f64> {
        (self.resolved > 0).then(|| self.resolved_ms as f64 / 1000.0 / self.resolved as f64)
    }
}

/// The figures of one target, or of one job (its targets added up).
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub rollup: Rollup,
    pub incidents: IncidentStats,
}

/// What [`Uptime::figures`] returns: targets sorted by (job, instance, module), jobs by name.
#[derive(Clone, Debug)]
pub struct Figures {
    pub window: Window,
    pub targets: Vec<(GroupKey, Figure)>,
    pub jobs: Vec<(String, Figure)>,
}

/// One incident with its target.
#[derive(Clone, Debug, PartialEq)]
pub struct Incident {
    pub key: GroupKey,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub reason: String,
}

/// Fewer targets than this are read row by row; more by scanning each segment.
const POINT_READ_LIMIT: usize = 32;

fn overlaps(inc: &StoredIncident, w: &Window) -> bool {
    inc.start_ms <= w.to_ms && inc.end_ms.is_none_or(|e| e > w.from_ms)
}

impl Uptime {
    /// Figures for the targets `q` selects (those with any probe or incident in the window).
    /// Blocking: run it off the async workers.
    pub fn figures(&self, q: &Query) -> Result<Figures, DbError> {
        let targets = self.matching(q);
        let wanted: HashMap<u32, GroupKey> = targets.into_iter().collect();
        let mut sums: HashMap<u32, Rollup> = HashMap::new();
        let segments = q.window.segments();
        let reader = self.db.read()?;
        if wanted.len() < POINT_READ_LIMIT {
            for id in wanted.keys() {
                let mut sum = Rollup::default();
                for s in &segments {
                    for p in s.first..s.end {
                        if let Some(r) = reader.get(s.level, p, *id)? {
                            sum.merge(&r);
                        }
                    }
                }
                if sum.probes > 0 {
                    sums.insert(*id, sum);
                }
            }
        } else {
            for s in &segments {
                reader.scan(s.level, s.first, s.end, |id, r| {
                    if wanted.contains_key(&id) {
                        sums.entry(id).or_default().merge(&r);
                    }
                })?;
            }
        }
        let mut incidents: HashMap<u32, IncidentStats> = HashMap::new();
        let single = (wanted.len() == 1)
            .then(|| wanted.keys().next().copied())
            .flatten();
        for inc in self.db.incidents(single, |i| {
            wanted.contains_key(&i.target) && overlaps(i, &q.window)
        })? {
            incidents.entry(inc.target).or_default().add(&inc);
        }
        let mut targets: Vec<(GroupKey, Figure)> = wanted
            .into_iter()
            .filter_map(|(id, key)| {
                let rollup = sums.remove(&id);
                let stats = incidents.remove(&id);
                if rollup.is_none() && stats.is_none() {
                    return None;
                }
                let figure = Figure {
                    rollup: rollup.unwrap_or_default(),
                    incidents: stats.unwrap_or_default(),
                };
                Some((key, figure))
            })
            .collect();
        crate::base::sort::sort_by(&mut targets, |a, b| {
            (&a.0.job, &a.0.instance, &a.0.module).cmp(&(&b.0.job, &b.0.instance, &b.0.module))
        });
        let mut jobs: BTreeMap<String, Figure> = BTreeMap::new();
        for (key, f) in &targets {
            let j = jobs.entry(key.job.to_string()).or_insert_with(|| Figure {
                rollup: Rollup::default(),
                incidents: IncidentStats::default(),
            });
            j.rollup.merge(&f.rollup);
            j.incidents.merge(&f.incidents);
        }
        Ok(Figures {
            window: q.window,
            targets,
            jobs: jobs.into_iter().collect(),
        })
    }

    /// Incidents of the selected targets overlapping the window, newest first.
    pub fn incidents(&self, q: &Query) -> Result<Vec<Incident>, DbError> {
        let wanted: HashMap<u32, GroupKey> = self.matching(q).into_iter().collect();
        let single = (wanted.len() == 1)
            .then(|| wanted.keys().next().copied())
            .flatten();
        let mut out: Vec<Incident> = self
            .db
            .incidents(single, |i| {
                wanted.contains_key(&i.target) && overlaps(i, &q.window)
            })?
            .into_iter()
            .filter_map(|i| {
                Some(Incident {
                    key: self.key_of(i.target)?,
                    start_ms: i.start_ms,
                    end_ms: i.end_ms,
                    reason: i.reason,
                })
            })
            .collect();
        crate::base::sort::sort_by_key(&mut out, |i| std::cmp::Reverse(i.start_ms));
        Ok(out)
    }
}
