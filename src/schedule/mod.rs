//! Scheduled probing: one loop per (job, target), each at a stable, hash-derived phase inside
//! its interval (as Prometheus spreads scrapes, and computed from wall time so a restart keeps
//! the phase), bounded by a global and an optional per-job concurrency limit. A probe never
//! overlaps itself: a run that outlasts its interval makes the missed runs skip (counted).
//! Results go to the store; `apply` restarts only the loops whose definition changed.
//!
//! The loops are the only code here that reads time; `first_run` and `next_after` are pure.

pub mod file_sd;
pub mod job;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry as PromRegistry;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use job::{Job, Target};

use crate::clock::Now;
use crate::probe::{Module, Registry};
use crate::store::{GroupKey, Store};

/// One scheduled (job, target): everything a run needs.
#[derive(Debug)]
pub struct Scheduled {
    pub job: Arc<Job>,
    pub target: Target,
    pub module: Arc<Module>,
    /// Job labels overlaid with the target's own.
    pub labels: BTreeMap<String, String>,
    pub key: GroupKey,
}

/// What one run produced.
pub struct RunResult {
    pub registry: Registry,
    /// Wall-clock start of the probe, milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// Why the probe failed, in words (the first error it logged); `None` when it succeeded.
    pub failure: Option<String>,
}

impl RunResult {
    /// `probe_success` of this run.
    pub fn success(&self) -> bool {
        self.registry.get("probe_success") == Some(1.0)
    }

    /// `probe_duration_seconds` of this run (0 when the runner did not set it).
    pub fn duration_seconds(&self) -> f64 {
        self.registry.get("probe_duration_seconds").unwrap_or(0.0)
    }
}

/// Something that wants every scheduled result after it is stored (uptime history,
/// remote write). Called on the probe's task: it must not block; hand the work to a
/// channel or a batch.
pub trait ResultSink: Send + Sync {
    fn scheduled_result(&self, scheduled: &Scheduled, result: &RunResult);
}

/// Which scheduled targets this process probes: a cluster shards them among its replicas;
/// without one, every target is probed here.
pub trait Ownership: Send + Sync {
    fn owns(&self, job: &str, target: &str) -> bool;
}

/// The sinks a scheduler hands results to; shared by its loops, so sinks added later
/// (or on reload) see the next results of running loops too.
#[derive(Clone, Default)]
pub struct ResultSinks(Arc<std::sync::RwLock<Vec<Arc<dyn ResultSink>>>>);

impl ResultSinks {
    pub fn add(&self, sink: Arc<dyn ResultSink>) {
        crate::base::sync::write(&self.0).push(sink);
    }

    fn publish(&self, scheduled: &Scheduled, result: &RunResult) {
        for sink in crate::base::sync::read(&self.0).iter() {
            sink.scheduled_result(scheduled, result);
        }
    }
}

pub type RunFuture = Pin<Box<dyn Future<Output = RunResult> + Send>>;
/// Runs one probe. The daemon's runner calls `probe::run`; tests pass a fake.
pub type Runner = Arc<dyn Fn(Arc<Scheduled>) -> RunFuture + Send + Sync>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct JobLabel {
    pub job: String,
}

/// The scheduler's self-metrics.
#[derive(Clone)]
pub struct ScheduleMetrics {
    pub lag: Histogram,
    pub skipped: Family<JobLabel, Counter>,
    pub in_flight: Gauge,
    pub targets: Family<JobLabel, Gauge>,
    /// Targets this replica probes (all of them without a cluster).
    pub owned: Family<JobLabel, Gauge>,
    /// Target loops started or stopped because the cluster's membership changed.
    pub ownership_moves: Counter,
}

impl ScheduleMetrics {
    pub fn register(registry: &mut PromRegistry) -> Self {
        let m = Self {
            lag: Histogram::new([
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            skipped: Family::default(),
            in_flight: Gauge::default(),
            targets: Family::default(),
            owned: Family::default(),
            ownership_moves: Counter::default(),
        };
        registry.register(
            "blackwatch_schedule_lag_seconds",
            "Start time of scheduled probes minus their planned time",
            m.lag.clone(),
        );
        registry.register(
            "blackwatch_schedule_skipped_runs",
            "Scheduled runs skipped because the previous run of the same target was still going",
            m.skipped.clone(),
        );
        registry.register(
            "blackwatch_probes_in_flight",
            "Scheduled probes running now",
            m.in_flight.clone(),
        );
        registry.register(
            "blackwatch_scheduled_targets",
            "Targets scheduled, by job",
            m.targets.clone(),
        );
        registry.register(
            "blackwatch_scheduled_targets_owned",
            "Targets this replica probes, by job (in a cluster, its share; otherwise all)",
            m.owned.clone(),
        );
        registry.register(
            "blackwatch_schedule_ownership_moves",
            "Target loops started or stopped here because the cluster's membership changed",
            m.ownership_moves.clone(),
        );
        m
    }
}

/// A stable 64-bit FNV-1a hash (std's hasher is randomly keyed per process).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        if self.0 == 0 {
            self.0 = 0xcbf2_9ce4_8422_2325;
        }
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

fn stable_hash(v: &impl Hash) -> u64 {
    let mut h = Fnv::default();
    v.hash(&mut h);
    h.finish()
}

/// When a loop with this seed should first run: at `seed mod interval` past each multiple of
/// the interval in wall time, so the phase survives restarts and targets spread evenly.
pub fn first_run(now: Now, interval: Duration, seed: u64) -> Instant {
    let iv = interval.as_nanos().max(1);
    let wall = now
        .wall
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let phase = u128::from(seed) % iv;
    let wait = (phase + iv - wall % iv) % iv;
    now.mono + Duration::from_nanos(u64::try_from(wait).unwrap_or(0))
}

/// Where in each interval the loop of (job, target) runs, as an offset from the multiples of
/// `interval` in wall time (the phase `first_run` gives it). Tests that line up another
/// sampler with the probes use it.
pub fn loop_phase(job: &str, target: &str, interval: Duration) -> Duration {
    let iv = interval.as_nanos().max(1);
    let phase = u128::from(stable_hash(&(job, target))) % iv;
    Duration::from_nanos(u64::try_from(phase).unwrap_or(0))
}

/// The next planned time after a run that ended at `ended`: one interval after `planned`,
/// skipping every slot that has already passed. Returns the slot and how many were skipped.
pub fn next_after(planned: Instant, interval: Duration, ended: Instant) -> (Instant, u64) {
    let mut next = planned + interval;
    let mut skipped = 0;
    if ended > next {
        let behind = ended - next;
        let n = (behind.as_nanos() / interval.as_nanos().max(1)) as u64 + 1;
        skipped = n;
        next += interval * u32::try_from(n).unwrap_or(u32::MAX);
    }
    (next, skipped)
}

struct Running {
    definition: u64,
    token: CancellationToken,
}

struct Watcher {
    definition: u64,
    token: CancellationToken,
}

#[derive(Default)]
struct State {
    jobs: HashMap<String, (Arc<Job>, Arc<Module>)>,
    loops: HashMap<(String, String), Running>,
    job_limits: HashMap<String, (usize, Arc<Semaphore>)>,
    file_targets: HashMap<String, Vec<Target>>,
    watchers: HashMap<String, Watcher>,
    /// Every target of the config, probed here or not.
    scheduled: HashSet<GroupKey>,
}

/// Owns the probe loops. Cheap to clone.
#[derive(Clone)]
pub struct Scheduler {
    state: Arc<Mutex<State>>,
    store: Arc<Store>,
    runner: Runner,
    global: Arc<Semaphore>,
    metrics: ScheduleMetrics,
    sinks: ResultSinks,
    ownership: Arc<std::sync::RwLock<Option<Arc<dyn Ownership>>>>,
    tracker: TaskTracker,
    token: CancellationToken,
}

impl Scheduler {
    pub fn new(
        runner: Runner,
        store: Arc<Store>,
        concurrency: usize,
        metrics: ScheduleMetrics,
        tracker: TaskTracker,
        token: CancellationToken,
    ) -> Self {
        Self {
            state: Arc::new(Mutex::new(State::default())),
            store,
            runner,
            global: Arc::new(Semaphore::new(concurrency.max(1))),
            metrics,
            sinks: ResultSinks::default(),
            ownership: Arc::default(),
            tracker,
            token,
        }
    }

    /// Shards the targets: from now on only those `ownership` owns are probed here.
    pub fn set_ownership(&self, ownership: Arc<dyn Ownership>, now: Now) {
        *crate::base::sync::write(&self.ownership) = Some(ownership);
        self.rebalance(now);
    }

    /// Re-decides which targets are probed here (the cluster's membership changed).
    /// Loops of targets that stay keep their phase; a target that moved away keeps its
    /// last result for rules (`Store::demote`) until the new owner's arrives.
    pub fn rebalance(&self, now: Now) {
        let mut state = self.lock();
        self.reconcile(&mut state, now);
    }

    /// Whether this process runs the loop of `key`'s target now.
    pub fn is_running(&self, key: &GroupKey) -> bool {
        self.lock()
            .loops
            .contains_key(&(key.job.to_string(), key.instance.to_string()))
    }

    /// Every target of the running config (probed here or elsewhere), sorted.
    pub fn scheduled_keys(&self) -> Vec<GroupKey> {
        let mut v: Vec<GroupKey> = self.lock().scheduled.iter().cloned().collect();
        v.sort();
        v
    }

    /// Whether `key` is a target of the running config (probed here or elsewhere).
    pub fn is_scheduled(&self, key: &GroupKey) -> bool {
        self.lock().scheduled.contains(key)
    }

    /// Where every stored result is also handed (see [`ResultSink`]).
    pub fn sinks(&self) -> &ResultSinks {
        &self.sinks
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        crate::base::sync::lock(&self.state)
    }

    /// Makes the running loops match `jobs`: starts new ones, restarts changed ones, stops
    /// removed ones (and forgets their results). Unchanged loops keep their phase and results.
    pub fn apply(&self, jobs: &[Arc<Job>], modules: &BTreeMap<String, Arc<Module>>, now: Now) {
        let mut state = self.lock();
        state.jobs.clear();
        for job in jobs {
            if let Some(module) = modules.get(&job.module) {
                state
                    .jobs
                    .insert(job.name.clone(), (job.clone(), module.clone()));
            }
        }
        // file_sd watchers.
        let mut wanted_watchers = HashSet::new();
        for job in jobs.iter().filter(|j| !j.file_sd.is_empty()) {
            wanted_watchers.insert(job.name.clone());
            let definition = stable_hash(&job.file_sd);
            let keep = state
                .watchers
                .get(&job.name)
                .is_some_and(|w| w.definition == definition);
            if !keep {
                if let Some(old) = state.watchers.remove(&job.name) {
                    old.token.cancel();
                }
                let token = self.token.child_token();
                state.watchers.insert(
                    job.name.clone(),
                    Watcher {
                        definition,
                        token: token.clone(),
                    },
                );
                let this = self.clone();
                let name = job.name.clone();
                let sds = job.file_sd.clone();
                self.tracker.spawn(crate::base::task::boxed(async move {
                    file_sd::watch(this, name, sds, token).await
                }));
            }
        }
        let stale: Vec<String> = state
            .watchers
            .keys()
            .filter(|k| !wanted_watchers.contains(*k))
            .cloned()
            .collect();
        for k in stale {
            if let Some(w) = state.watchers.remove(&k) {
                w.token.cancel();
            }
            state.file_targets.remove(&k);
        }
        self.reconcile(&mut state, now);
    }

    /// Replaces the targets a job's file_sd files list; called by the file watcher.
    pub fn set_file_targets(&self, job: &str, targets: Vec<Target>, now: Now) {
        self.set_watched_targets(&CancellationToken::new(), job, targets, now);
    }

    /// As `set_file_targets`, from the watcher owning `watcher`: ignored once that watcher
    /// is cancelled (checked under the lock `apply` cancels it under), so a watcher that was
    /// mid-read when its job was removed or its files changed cannot leave stale targets.
    fn set_watched_targets(
        &self,
        watcher: &CancellationToken,
        job: &str,
        targets: Vec<Target>,
        now: Now,
    ) {
        let mut state = self.lock();
        if watcher.is_cancelled() || state.file_targets.get(job) == Some(&targets) {
            return;
        }
        state.file_targets.insert(job.to_string(), targets);
        self.reconcile(&mut state, now);
    }

    /// Diffs the wanted (job, target) loops against the running ones: stop, keep or start
    /// each, in one pass so the three cases stay side by side.
    fn reconcile(&self, state: &mut State, now: Now) {
        let mut wanted: HashMap<(String, String), (u64, Arc<Scheduled>)> = HashMap::new();
        let mut per_job: HashMap<String, i64> = HashMap::new();
        for (name, (job, module)) in &state.jobs {
            let mut targets: Vec<Target> = job.targets.clone();
            let static_names: HashSet<&str> =
                job.targets.iter().map(|t| t.target.as_str()).collect();
            if let Some(extra) = state.file_targets.get(name) {
                targets.extend(
                    extra
                        .iter()
                        .filter(|t| !static_names.contains(t.target.as_str()))
                        .cloned(),
                );
            }
            for target in targets {
                let mut labels = job.labels.clone();
                labels.extend(target.labels.clone());
                let definition = stable_hash(&(
                    job.interval,
                    job.timeout,
                    job.concurrency,
                    &labels,
                    &job.module,
                    &module.yaml,
                ));
                let key = GroupKey {
                    job: Arc::from(name.as_str()),
                    instance: Arc::from(target.target.as_str()),
                    module: Arc::from(job.module.as_str()),
                };
                *per_job.entry(name.clone()).or_default() += 1;
                let scheduled = Arc::new(Scheduled {
                    job: job.clone(),
                    target: target.clone(),
                    module: module.clone(),
                    labels,
                    key,
                });
                wanted.insert(
                    (name.clone(), target.target.clone()),
                    (definition, scheduled),
                );
            }
        }
        // Per-job limits.
        let mut limits = HashMap::new();
        for (name, (job, _)) in &state.jobs {
            if let Some(n) = job.concurrency {
                let sem = match state.job_limits.get(name) {
                    Some((m, s)) if *m == n => s.clone(),
                    _ => Arc::new(Semaphore::new(n)),
                };
                limits.insert(name.clone(), (n, sem));
            }
        }
        state.job_limits = limits;

        let keys: HashSet<GroupKey> = wanted.values().map(|(_, s)| s.key.clone()).collect();
        // In a cluster, the targets this replica does not own are not probed here.
        let ownership = crate::base::sync::read(&self.ownership).clone();
        let mut owned_per_job: HashMap<String, i64> = HashMap::new();
        let mut not_owned: HashMap<(String, String), GroupKey> = HashMap::new();
        if let Some(o) = &ownership {
            wanted.retain(|(job, target), (_, s)| {
                let mine = o.owns(job, target);
                if !mine {
                    not_owned.insert((job.clone(), target.clone()), s.key.clone());
                }
                mine
            });
        }
        for (job, _) in wanted.keys() {
            *owned_per_job.entry(job.clone()).or_default() += 1;
        }
        let gone: Vec<(String, String)> = state
            .loops
            .iter()
            .filter(|(k, r)| wanted.get(*k).is_none_or(|(d, _)| *d != r.definition))
            .map(|(k, _)| k.clone())
            .collect();
        let mut moves = 0u64;
        for k in gone {
            if let Some(r) = state.loops.remove(&k) {
                r.token.cancel();
                if not_owned.contains_key(&k) {
                    moves += 1;
                }
            }
        }
        for key in not_owned.values() {
            self.store.demote(key);
        }
        for (k, (definition, scheduled)) in wanted.iter() {
            if state.loops.contains_key(k) {
                continue;
            }
            if ownership.is_some() && self.store.is_remote(&scheduled.key) {
                moves += 1;
            }
            let token = self.token.child_token();
            state.loops.insert(
                k.clone(),
                Running {
                    definition: *definition,
                    token: token.clone(),
                },
            );
            let first = first_run(now, scheduled.job.interval, stable_hash(&(&k.0, &k.1)));
            let job_limit = state.job_limits.get(&k.0).map(|(_, s)| s.clone());
            self.tracker.spawn(crate::base::task::boxed(target_loop(
                scheduled.clone(),
                first,
                self.runner.clone(),
                self.store.clone(),
                self.sinks.clone(),
                self.global.clone(),
                job_limit,
                self.metrics.clone(),
                token,
            )));
        }
        self.store.retain(|k| keys.contains(k));
        state.scheduled = keys;
        self.metrics.ownership_moves.inc_by(moves);
        self.metrics.targets.clear();
        for (job, n) in per_job {
            self.metrics.targets.get_or_create(&JobLabel { job }).set(n);
        }
        self.metrics.owned.clear();
        for (job, n) in owned_per_job {
            self.metrics.owned.get_or_create(&JobLabel { job }).set(n);
        }
    }

    /// Number of running target loops (for tests and logs).
    pub fn loop_count(&self) -> usize {
        self.lock().loops.len()
    }
}

#[allow(clippy::too_many_arguments)]
async fn target_loop(
    scheduled: Arc<Scheduled>,
    first: Instant,
    runner: Runner,
    store: Arc<Store>,
    sinks: ResultSinks,
    global: Arc<Semaphore>,
    job_limit: Option<Arc<Semaphore>>,
    metrics: ScheduleMetrics,
    token: CancellationToken,
) {
    let interval = scheduled.job.interval;
    let mut planned = first;
    let job_label = JobLabel {
        job: scheduled.job.name.clone(),
    };
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep_until(planned) => {}
        }
        let permits = async {
            let job_permit = match &job_limit {
                Some(s) => Some(s.clone().acquire_owned().await.ok()?),
                None => None,
            };
            let global_permit = global.clone().acquire_owned().await.ok()?;
            Some((job_permit, global_permit))
        };
        let permits = tokio::select! {
            _ = token.cancelled() => return,
            p = permits => p,
        };
        let Some(_permits) = permits else { return };
        let started = Instant::now();
        metrics.lag.observe((started - planned).as_secs_f64());
        metrics.in_flight.inc();
        let result = tokio::select! {
            _ = token.cancelled() => {
                metrics.in_flight.dec();
                return;
            }
            r = runner(scheduled.clone()) => r,
        };
        metrics.in_flight.dec();
        drop(_permits);
        // Checked under the store's lock: a reload that removed this target cancels the
        // loop before it drops the target's results, so they cannot come back.
        if !store.record_if(
            || !token.is_cancelled(),
            &scheduled.key,
            &scheduled.labels,
            result.timestamp_ms,
            &result.registry,
        ) {
            return;
        }
        sinks.publish(&scheduled, &result);
        let (next, skipped) = next_after(planned, interval, Instant::now());
        if skipped > 0 {
            metrics.skipped.get_or_create(&job_label).inc_by(skipped);
        }
        planned = next;
    }
}

#[cfg(test)]
mod tests;
