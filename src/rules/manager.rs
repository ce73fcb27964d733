//! The rule manager of the daemon: one evaluation loop per group on the `TaskTracker`
//! (slots aligned by a hash of the group, `now` read once per slot and passed down), the
//! reload diff (unchanged groups keep running; changed ones take over their rules' state),
//! alerts handed to the `AlertSink`, rule state persisted on change, every minute while
//! alerts are active and on shutdown, and the `/metrics` text for `ALERTS`,
//! `ALERTS_FOR_STATE` and the rule-group self-metrics.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::alerting::{alert_series, RestoreOpts, SavedAlert};
use super::file::{format_duration, GroupDef};
use super::group::{next_slot, EvalSettings, Group};
use super::persist::{self, RuleKey, Snapshot};
use super::recording::Overlay;
use super::rollups::{Rollups, StoreWithHistory};
use crate::alert::{AlertSink, PostableAlert};
use crate::clock::Now;
use crate::labels::LabelSet;
use crate::store::Store;

/// The validated `rule_files:` and `global:` part of the config.
#[derive(Debug, Default)]
pub struct RulesConfig {
    pub groups: Vec<Arc<GroupDef>>,
    /// `global.evaluation_interval` (default 15s... set by the config loader).
    pub evaluation_interval: Duration,
    /// `global.external_labels`.
    pub external_labels: LabelSet,
}

/// The sink used until the alert pipeline is connected: logs each alert at debug level.
pub struct LogSink;

impl AlertSink for LogSink {
    fn put(&self, alerts: Vec<PostableAlert>, _now: SystemTime) {
        for a in alerts {
            tracing::debug!(message = "Alert", labels = ?a.labels, ends_at = ?a.ends_at);
        }
    }
}

struct Running {
    group: Arc<Mutex<Group>>,
    stop: CancellationToken,
}

/// Runs the rule groups of the running config.
pub struct Manager {
    store: Arc<Store>,
    overlay: Arc<Overlay>,
    sink: Mutex<Arc<dyn AlertSink>>,
    settings: Mutex<EvalSettings>,
    storage_path: PathBuf,
    tracker: TaskTracker,
    token: CancellationToken,
    groups: Mutex<BTreeMap<String, Running>>,
    /// Saved state from the last run, consumed by the first `apply`.
    restore: Mutex<Option<BTreeMap<RuleKey, Vec<SavedAlert>>>>,
    restore_opts: RestoreOpts,
    save_lock: Mutex<()>,
    /// The metric names the running rules read (`None`: some selector may read any).
    referenced: std::sync::RwLock<Option<Arc<std::collections::BTreeSet<String>>>>,
    /// The uptime history, for ranges longer than the store keeps (see `rollups`).
    rollups: std::sync::RwLock<Option<Arc<Rollups>>>,
}

use crate::base::sync::lock;

use crate::clock::unix_ms as wall_ms;

impl Manager {
    /// A manager with no groups yet; loads saved state from `storage_path`.
    pub fn new(
        store: Arc<Store>,
        storage_path: PathBuf,
        external_url: String,
        tracker: TaskTracker,
        token: CancellationToken,
    ) -> Arc<Self> {
        let restore = match persist::load(&storage_path) {
            Ok(s) => s.into_map(),
            Err(e) => {
                tracing::warn!(message = "Could not read saved rule state", error = %e);
                BTreeMap::new()
            }
        };
        Arc::new(Self {
            store,
            overlay: Arc::new(Overlay::bounded()),
            sink: Mutex::new(Arc::new(LogSink)),
            settings: Mutex::new(EvalSettings {
                external_url,
                ..EvalSettings::default()
            }),
            storage_path,
            tracker,
            token,
            groups: Mutex::new(BTreeMap::new()),
            restore: Mutex::new(Some(restore)),
            restore_opts: RestoreOpts::default(),
            save_lock: Mutex::new(()),
            referenced: std::sync::RwLock::new(Some(Arc::default())),
            rollups: std::sync::RwLock::new(None),
        })
    }

    /// Connects the alert pipeline.
    pub fn set_sink(&self, sink: Arc<dyn AlertSink>) {
        *lock(&self.sink) = sink;
    }

    /// Answers long ranges of `probe_success` and `probe_duration_seconds` from the uptime
    /// history.
    pub fn set_uptime(&self, uptime: Arc<crate::uptime::Uptime>) {
        *crate::base::sync::write(&self.rollups) = Some(Arc::new(Rollups::new(uptime)));
    }

    /// The series rules recorded (and `ALERTS`), for tests and the API.
    pub fn overlay(&self) -> &Arc<Overlay> {
        &self.overlay
    }

    /// The running groups, in key order.
    pub fn groups(&self) -> Vec<Arc<Mutex<Group>>> {
        lock(&self.groups)
            .values()
            .map(|r| r.group.clone())
            .collect()
    }

    /// The metric names the running rules read; `None` when some selector may read any
    /// metric.
    pub fn referenced_metrics(&self) -> Option<Arc<std::collections::BTreeSet<String>>> {
        crate::base::sync::read(&self.referenced).clone()
    }

    /// Applies a (re)loaded config: unchanged groups keep running, changed groups are
    /// replaced and take over their rules' state, removed groups stop and their series go
    /// stale. The store is told which ranges rules read.
    pub fn apply(self: &Arc<Self>, cfg: &RulesConfig) {
        {
            let mut s = lock(&self.settings);
            s.external_labels = cfg.external_labels.clone();
            s.subquery_step = cfg.evaluation_interval;
        }
        let mut ranges: HashMap<String, Duration> = HashMap::new();
        for g in &cfg.groups {
            for r in &g.rules {
                for (name, d) in r.expr.ranges() {
                    let e = ranges.entry(name).or_default();
                    *e = (*e).max(d);
                }
            }
        }
        self.store.set_ranges(&ranges);
        self.overlay.set_ranges(&ranges);
        let mut names = Some(std::collections::BTreeSet::new());
        for r in cfg.groups.iter().flat_map(|g| g.rules.iter()) {
            match (r.expr.metric_names(), names.as_mut()) {
                (Some(n), Some(all)) => all.extend(n),
                (None, _) => names = None,
                (Some(_), None) => {}
            }
        }
        *crate::base::sync::write(&self.referenced) = names.map(Arc::new);

        let restore = lock(&self.restore).take();
        let mut running = lock(&self.groups);
        let mut old = std::mem::take(&mut *running);
        let now_ms = wall_ms(Now::read().wall);
        for def in &cfg.groups {
            let key = super::group::group_key(&def.file, &def.name);
            if running.contains_key(&key) {
                // A duplicate group key across files cannot happen (the key includes the
                // file); within a file the loader rejects it.
                continue;
            }
            let mut group = Group::new(def.clone(), cfg.evaluation_interval);
            if let Some(prev) = old.remove(&key) {
                let same = {
                    let g = lock(&prev.group);
                    same_group(&g, &group)
                };
                if same {
                    running.insert(key, prev);
                    continue;
                }
                prev.stop.cancel();
                let mut g = lock(&prev.group);
                group.copy_state(&mut g);
                let carried = group.written();
                let stale: std::collections::HashSet<_> =
                    g.written().difference(&carried).cloned().collect();
                self.overlay.mark_stale(now_ms, &stale);
            } else if let Some(saved) = &restore {
                let file = def.file.display().to_string();
                let mut by_rule = BTreeMap::new();
                for (k, v) in saved {
                    if k.file == file && k.group == def.name {
                        by_rule.insert(k.rule.clone(), v.clone());
                    }
                }
                group.restore(&by_rule, self.restore_opts);
            }
            let group = Arc::new(Mutex::new(group));
            let stop = self.token.child_token();
            self.spawn(group.clone(), stop.clone());
            running.insert(key, Running { group, stop });
        }
        for (_, gone) in old {
            gone.stop.cancel();
            let g = lock(&gone.group);
            self.overlay.mark_stale(now_ms, &g.written());
        }
        drop(running);
        self.save();
    }

    fn spawn(self: &Arc<Self>, group: Arc<Mutex<Group>>, stop: CancellationToken) {
        let weak = Arc::downgrade(self);
        self.tracker
            .spawn(crate::base::task::boxed(group_loop(weak, group, stop)));
    }

    /// Writes the state of every group to the storage directory.
    pub fn save(&self) {
        let _guard = lock(&self.save_lock);
        let mut map: BTreeMap<RuleKey, Vec<SavedAlert>> = BTreeMap::new();
        for g in self.groups() {
            let g = lock(&g);
            for (rule, alerts) in g.saved() {
                map.insert(
                    RuleKey {
                        file: g.def.file.display().to_string(),
                        group: g.def.name.clone(),
                        rule,
                    },
                    alerts,
                );
            }
        }
        let snapshot = Snapshot::from_map(map);
        if snapshot.rules.is_empty() && !self.storage_path.join(persist::FILE_NAME).exists() {
            // Nothing to keep: do not create the storage directory for nothing.
            return;
        }
        if let Err(e) = persist::save(&self.storage_path, &snapshot) {
            tracing::warn!(message = "Could not save rule state", error = %e);
        }
    }

    /// Evaluates one group at `ts` and hands its alerts to the sink.
    pub fn eval_group(&self, group: &Mutex<Group>, ts: i64, now: SystemTime) {
        let settings = lock(&self.settings).clone();
        let rollups = crate::base::sync::read(&self.rollups).clone();
        let base = StoreWithHistory {
            store: &self.store,
            rollups: rollups.as_deref(),
        };
        let alerts = {
            let mut g = lock(group);
            g.eval(ts, &base, &self.overlay, &settings)
        };
        if !alerts.is_empty() {
            let sink = lock(&self.sink).clone();
            sink.put(alerts, now);
        }
    }

    /// Appends `ALERTS`, `ALERTS_FOR_STATE` and the rule-group self-metrics in the text
    /// exposition format (OpenMetrics when `openmetrics`).
    pub fn encode_metrics(&self, out: &mut String, openmetrics: bool) {
        let groups = self.groups();
        if groups.is_empty() {
            return;
        }
        let mut alerts = String::new();
        let mut for_state = String::new();
        let mut stats: Vec<GroupStats> = Vec::new();
        for g in &groups {
            let g = lock(g);
            for r in &g.rules {
                for (labels, v) in alert_series(&r.alerts) {
                    let target = if labels.get("__name__").map(String::as_str) == Some("ALERTS") {
                        &mut alerts
                    } else {
                        &mut for_state
                    };
                    write_sample(target, &labels, v);
                }
            }
            stats.push(GroupStats {
                key: crate::base::expo::escape_label(&g.key()),
                interval: g.interval.as_secs_f64(),
                rules: g.rules.len() as f64,
                last_eval: g.last_eval_ms.map(|t| t as f64 / 1000.0).unwrap_or(0.0),
                duration: g.eval_seconds,
                evaluations: g.evaluations,
                failures: g.failures,
            });
        }
        header(out, "ALERTS", "gauge", "Alerts in pending or firing state.");
        out.push_str(&alerts);
        header(
            out,
            "ALERTS_FOR_STATE",
            "gauge",
            "When each pending or firing alert became active (Unix seconds).",
        );
        out.push_str(&for_state);
        let gauges: [Family<f64>; 4] = [
            (
                "prometheus_rule_group_interval_seconds",
                "The interval of a rule group.",
                |g| g.interval,
            ),
            ("prometheus_rule_group_rules", "The number of rules.", |g| {
                g.rules
            }),
            (
                "prometheus_rule_group_last_evaluation_timestamp_seconds",
                "The timestamp of the last rule group evaluation in seconds.",
                |g| g.last_eval,
            ),
            (
                "prometheus_rule_group_last_duration_seconds",
                "The duration of the last rule group evaluation.",
                |g| g.duration,
            ),
        ];
        for (name, help, f) in gauges {
            header(out, name, "gauge", help);
            for g in &stats {
                let _ = writeln!(out, "{name}{{rule_group=\"{}\"}} {}", g.key, fmt_f64(f(g)));
            }
        }
        let counters: [Family<u64>; 2] = [
            (
                "prometheus_rule_evaluations",
                "The total number of rule evaluations.",
                |g| g.evaluations,
            ),
            (
                "prometheus_rule_evaluation_failures",
                "The total number of rule evaluation failures.",
                |g| g.failures,
            ),
        ];
        for (base, help, f) in counters {
            let type_name = if openmetrics {
                base.to_string()
            } else {
                format!("{base}_total")
            };
            header(out, &type_name, "counter", help);
            for g in &stats {
                let _ = writeln!(out, "{base}_total{{rule_group=\"{}\"}} {}", g.key, f(g));
            }
        }
    }
}

/// A metric family of the rule-group metrics: name, help, the value for one group.
type Family<T> = (&'static str, &'static str, fn(&GroupStats) -> T);

/// One group's numbers for `/metrics`.
struct GroupStats {
    key: String,
    interval: f64,
    rules: f64,
    last_eval: f64,
    duration: f64,
    evaluations: u64,
    failures: u64,
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

fn write_sample(out: &mut String, labels: &LabelSet, v: f64) {
    let name = labels.get("__name__").map(String::as_str).unwrap_or("");
    out.push_str(name);
    out.push('{');
    let mut first = true;
    for (k, val) in labels {
        if k == "__name__" {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(out, "{k}=\"{}\"", crate::base::expo::escape_label(val));
    }
    out.push('}');
    let _ = writeln!(out, " {}", fmt_f64(v));
}

/// Whether a reload left a group unchanged (then it keeps running untouched).
fn same_group(a: &Group, b: &Group) -> bool {
    a.interval == b.interval
        && a.def.limit == b.def.limit
        && a.def.rules.len() == b.def.rules.len()
        && a.def.rules.iter().zip(&b.def.rules).all(|(x, y)| {
            x.kind == y.kind && x.expr.text() == y.expr.text() && x.labels == y.labels
        })
}

/// One group's loop: wait for each slot, evaluate at the slot's time (skipping missed
/// slots), send, persist on change; save once more when stopped.
async fn group_loop(mgr: Weak<Manager>, group: Arc<Mutex<Group>>, stop: CancellationToken) {
    let (interval, file, name) = {
        let g = lock(&group);
        (
            g.interval,
            g.def.file.display().to_string(),
            g.def.name.clone(),
        )
    };
    let iv = (interval.as_millis() as i64).max(1);
    let mut slot = next_slot(wall_ms(Now::read().wall), interval, &file, &name);
    let mut last_signature = None;
    let mut last_save = tokio::time::Instant::now();
    tracing::debug!(message = "Rule group started", group = %name, file = %file, interval = %format_duration(interval));
    loop {
        let wait = slot - wall_ms(Now::read().wall);
        if wait > 0 {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
            }
        }
        if stop.is_cancelled() {
            break;
        }
        let now = Now::read();
        let now_ms = wall_ms(now.wall);
        if now_ms >= slot + iv {
            // Missed slots are skipped, as Prometheus does.
            slot += ((now_ms - slot) / iv) * iv;
        }
        let Some(m) = mgr.upgrade() else { break };
        let g2 = group.clone();
        let m2 = m.clone();
        let ts = slot;
        let stop2 = stop.clone();
        let signature = tokio::task::spawn_blocking(move || {
            // A reload may have replaced this group while the task waited for a thread.
            if !stop2.is_cancelled() {
                m2.eval_group(&g2, ts, now.wall);
            }
            lock(&g2).state_signature()
        })
        .await
        .ok();
        let active = lock(&group)
            .rules
            .iter()
            .any(|r| !r.alerts.active.is_empty());
        if signature != last_signature || (active && last_save.elapsed() >= Duration::from_secs(60))
        {
            last_signature = signature;
            last_save = tokio::time::Instant::now();
            let m3 = m.clone();
            let _ = tokio::task::spawn_blocking(move || m3.save()).await;
        }
        drop(m);
        slot += iv;
    }
    // Only a shutdown saves here; a group replaced by a reload hands its state over.
    if let Some(m) = mgr.upgrade() {
        if m.token.is_cancelled() {
            let _ = tokio::task::spawn_blocking(move || m.save()).await;
        }
    }
}
