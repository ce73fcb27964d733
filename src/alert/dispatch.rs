//! Aggregation groups and their timers (Alertmanager's `dispatch/dispatch.go`), as a pure
//! state machine: every call takes a [`Now`]; the driver loop in `pipeline/driver.rs` owns the
//! sleeping and runs the flushes this module hands out.
//!
//! One group per (route, group-label values), keyed `routeKey:{labels}`. A new group waits
//! `group_wait` (or flushes at once if the alert that created it started more than
//! `group_wait` ago — Alertmanager 0.25 also does this for an old alert joining a group that
//! has not flushed yet). When a group's timer fires it is first re-armed for
//! `group_interval`, then flushed with all its alerts. Resolved alerts leave a group only
//! after a successful flush and only if they were not updated meanwhile; an empty group is
//! destroyed, so a later alert starts a fresh `group_wait`.
//!
//! blackwatch extension (alertmanager #1510): a route with `flush_on_resolve` flushes a group
//! that already notified as soon as all of its alerts are resolved.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::alert::route::{Route, RouteOpts};
use crate::alert::store::{Alert, StoredAlert};
use crate::clock::Now;
use crate::labels::{group_key, LabelSet};

/// Process-unique group identity, so a flush result for a group of a replaced dispatcher
/// (after a reload) is recognised and ignored.
pub type GroupId = u64;

fn next_group_id() -> GroupId {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, AtomicOrdering::Relaxed)
}

/// One aggregation group.
#[derive(Debug)]
pub struct AggrGroup {
    pub id: GroupId,
    /// `routeKey:{groupLabels}`.
    pub key: String,
    pub labels: LabelSet,
    /// The route's depth-first index in the tree.
    pub route_index: usize,
    pub route_id: String,
    pub opts: RouteOpts,
    alerts: BTreeMap<u64, Arc<StoredAlert>>,
    /// When the timer fires next.
    next_flush: Instant,
    has_flushed: bool,
    flushing: bool,
    /// Wall time of the last flush start.
    last_flush: Option<SystemTime>,
}

impl AggrGroup {
    pub fn alerts(&self) -> impl Iterator<Item = &Arc<StoredAlert>> {
        self.alerts.values()
    }

    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }

    pub fn next_flush(&self) -> Instant {
        self.next_flush
    }

    pub fn contains(&self, fp: u64) -> bool {
        self.alerts.contains_key(&fp)
    }

    /// `flush_on_resolve`: move the timer forward to the moment every alert is resolved, if
    /// that happens after the last flush and before the next tick.
    fn schedule_resolve_flush(&mut self, now: Now) {
        if !self.opts.flush_on_resolve || !self.has_flushed || self.alerts.is_empty() {
            return;
        }
        let Some(all_resolved) = self.alerts.values().map(|a| a.ends_at).max() else {
            return;
        };
        if self.last_flush.is_some_and(|l| all_resolved <= l) {
            return;
        }
        // A few milliseconds of slack so the flush sees the alerts as resolved.
        let wait = all_resolved
            .duration_since(now.wall)
            .unwrap_or(Duration::ZERO)
            + Duration::from_millis(5);
        let at = now.mono + wait;
        if at < self.next_flush {
            self.next_flush = at;
        }
    }
}

/// What one flush has to send: the group's alerts at tick time, sorted as upstream sorts
/// them, shared with the store (notifiers present firing ones with a zero `ends_at`, see
/// [`FlushAlert::to_alert`]).
#[derive(Clone, Debug)]
pub struct FlushJob {
    pub group: GroupId,
    pub group_key: String,
    pub group_labels: LabelSet,
    pub route_index: usize,
    pub opts: RouteOpts,
    pub alerts: Vec<FlushAlert>,
    /// Fingerprint and `updated_at` of the alerts that were resolved at tick time.
    pub resolved: Vec<(u64, SystemTime)>,
    pub now: Now,
}

/// One alert of a flush: the stored alert and whether it was firing at the tick.
#[derive(Clone, Debug)]
pub struct FlushAlert {
    pub alert: Arc<StoredAlert>,
    pub firing: bool,
}

impl FlushAlert {
    /// The alert as upstream presents it in a notification: a firing alert has a zero
    /// (`UNIX_EPOCH`) `ends_at`.
    pub fn to_alert(&self) -> Alert {
        let mut a = self.alert.to_alert();
        if self.firing {
            a.ends_at = UNIX_EPOCH;
        }
        a
    }

    pub fn fingerprint(&self) -> u64 {
        self.alert.fingerprint
    }
}

/// Label access for [`alert_order`]: a [`LabelSet`] or a stored alert's interned pairs.
pub trait Labeled {
    fn label(&self, name: &str) -> Option<&str>;
    /// The pairs, sorted by name.
    fn pairs(&self) -> impl ExactSizeIterator<Item = (&str, &str)>;
}

impl Labeled for LabelSet {
    fn label(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
    fn pairs(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl Labeled for StoredAlert {
    fn label(&self, name: &str) -> Option<&str> {
        StoredAlert::label(self, name)
    }
    fn pairs(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.label_pairs()
    }
}

/// `types.AlertSlice` order: by `job`, then `instance` (alerts having the label first),
/// then `model.LabelSet.Before`.
pub fn alert_order<L: Labeled + ?Sized>(a: &L, b: &L) -> Ordering {
    for key in ["job", "instance"] {
        match (a.label(key), b.label(key)) {
            (None, None) => continue,
            (None, Some(_)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    label_set_before(a.pairs(), b.pairs())
}

/// `model.LabelSet.Before` as an ordering, over pairs sorted by name: fewer labels first;
/// then, walking the union of the names in order, the set lacking a name first, else the
/// smaller value.
fn label_set_before<'a>(
    a: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
    b: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
) -> Ordering {
    if a.len() != b.len() {
        return a.len().cmp(&b.len());
    }
    let (mut a, mut b) = (a.peekable(), b.peekable());
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => return Ordering::Equal,
            (Some(_), None) => return Ordering::Greater,
            (None, Some(_)) => return Ordering::Less,
            (Some((an, av)), Some((bn, bv))) => match an.cmp(bn) {
                // `b` lacks the smaller name `an`.
                Ordering::Less => return Ordering::Greater,
                // `a` lacks the smaller name `bn`.
                Ordering::Greater => return Ordering::Less,
                Ordering::Equal => match av.cmp(bv) {
                    Ordering::Equal => {
                        a.next();
                        b.next();
                    }
                    o => return o,
                },
            },
        }
    }
}

/// The groups of one routing tree.
#[derive(Debug)]
pub struct Dispatcher {
    route: Arc<Route>,
    /// Routes by depth-first index.
    routes: Vec<Route>,
    groups: HashMap<(usize, u64), AggrGroup, foldhash::fast::RandomState>,
}

impl Dispatcher {
    pub fn new(route: Arc<Route>) -> Self {
        let routes = route.walk().into_iter().cloned().collect();
        Self {
            route,
            routes,
            groups: HashMap::default(),
        }
    }

    pub fn route(&self) -> &Arc<Route> {
        &self.route
    }

    /// Puts an alert (as stored after merging; `alert_labels` are its labels) into the
    /// group of every route it matches.
    pub fn insert(&mut self, alert: &Arc<StoredAlert>, alert_labels: &LabelSet, now: Now) {
        for route in self.route.match_routes(alert_labels) {
            // The group's labels are only built when the group is new.
            let id = (route.index, route.opts.group_fingerprint(alert_labels));
            let old = alert.starts_at + route.opts.group_wait < now.wall;
            let group = self.groups.entry(id).or_insert_with(|| {
                let labels = route.opts.group_labels(alert_labels);
                AggrGroup {
                    id: next_group_id(),
                    key: group_key(&route.key, &labels),
                    labels,
                    route_index: route.index,
                    route_id: route.id.clone(),
                    opts: route.opts.clone(),
                    alerts: BTreeMap::new(),
                    next_flush: now.mono + route.opts.group_wait,
                    has_flushed: false,
                    flushing: false,
                    last_flush: None,
                }
            });
            group.alerts.insert(alert.fingerprint, alert.clone());
            if old && !group.has_flushed && now.mono < group.next_flush {
                group.next_flush = now.mono;
            }
            group.schedule_resolve_flush(now);
        }
    }

    /// The earliest timer among groups not currently flushing.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.groups
            .values()
            .filter(|g| !g.flushing)
            .map(|g| g.next_flush)
            .min()
    }

    /// Fires every due timer: re-arms it for `group_interval`, then hands out the flush.
    pub fn due(&mut self, now: Now) -> Vec<FlushJob> {
        let mut jobs = Vec::new();
        for g in self.groups.values_mut() {
            if g.flushing || g.next_flush > now.mono {
                continue;
            }
            g.next_flush = now.mono + g.opts.group_interval;
            g.has_flushed = true;
            g.flushing = true;
            g.last_flush = Some(now.wall);
            let mut resolved = Vec::new();
            let mut alerts: Vec<FlushAlert> = g
                .alerts
                .iter()
                .map(|(fp, a)| {
                    let firing = !a.resolved_at(now.wall);
                    if !firing {
                        resolved.push((*fp, a.updated_at));
                    }
                    FlushAlert {
                        alert: a.clone(),
                        firing,
                    }
                })
                .collect();
            crate::base::sort::sort_by(&mut alerts, |a, b| alert_order(&*a.alert, &*b.alert));
            jobs.push(FlushJob {
                group: g.id,
                group_key: g.key.clone(),
                group_labels: g.labels.clone(),
                route_index: g.route_index,
                opts: g.opts.clone(),
                alerts,
                resolved,
                now,
            });
        }
        crate::base::sort::sort_by(&mut jobs, |a, b| a.group_key.cmp(&b.group_key));
        jobs
    }

    /// Records the outcome of a flush. On success the resolved alerts that were not updated
    /// during the flush leave the group; an empty group is destroyed.
    pub fn flush_done(&mut self, job: &FlushJob, success: bool, now: Now) {
        let Some((key, g)) = self.groups.iter_mut().find(|(_, g)| g.id == job.group) else {
            return;
        };
        let key = *key;
        g.flushing = false;
        if success {
            for (fp, updated) in &job.resolved {
                if g.alerts.get(fp).is_some_and(|a| a.updated_at == *updated) {
                    g.alerts.remove(fp);
                }
            }
        }
        if g.alerts.is_empty() {
            self.groups.remove(&key);
            return;
        }
        g.schedule_resolve_flush(now);
    }

    pub fn groups(&self) -> impl Iterator<Item = &AggrGroup> {
        self.groups.values()
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Whether some group still holds the alert (a resolved alert waiting for its notice).
    pub fn holds(&self, fp: u64) -> bool {
        self.groups.values().any(|g| g.contains(fp))
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::{MatchOp, Matcher, Matchers};

    use crate::labels::label_set as labels;

    fn opts(group_by: &[&str]) -> RouteOpts {
        RouteOpts {
            receiver: "default".into(),
            group_by: group_by.iter().map(|s| s.to_string()).collect(),
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(3600),
            ..RouteOpts::default()
        }
    }

    fn tree(flush_on_resolve: bool) -> Arc<Route> {
        let mut child_opts = opts(&["alertname"]);
        child_opts.receiver = "team".into();
        child_opts.group_wait = Duration::from_secs(10);
        child_opts.flush_on_resolve = flush_on_resolve;
        let m = Matchers(vec![Matcher::new("team", MatchOp::Equal, "a").unwrap()]);
        let child = Route {
            key: format!("{{}}/{m}"),
            id: format!("{{}}/{m}/0"),
            matchers: m,
            continue_: false,
            opts: child_opts,
            routes: vec![],
            index: 1,
        };
        Arc::new(Route {
            matchers: Matchers(vec![]),
            continue_: false,
            opts: opts(&["alertname"]),
            routes: vec![child],
            key: "{}".into(),
            id: "{}".into(),
            index: 0,
        })
    }

    struct Clock {
        base: Now,
    }

    impl Clock {
        fn at(&self, secs: f64) -> Now {
            let d = Duration::from_secs_f64(secs);
            Now {
                mono: self.base.mono + d,
                wall: self.base.wall + d,
            }
        }
    }

    fn clock() -> Clock {
        Clock {
            base: Now {
                mono: Instant::now(),
                wall: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            },
        }
    }

    fn alert(c: &Clock, l: LabelSet, start: f64, end: f64, updated: f64) -> Alert {
        Alert {
            labels: l,
            annotations: LabelSet::new(),
            starts_at: c.at(start).wall,
            ends_at: c.at(end).wall,
            generator_url: String::new(),
            updated_at: c.at(updated).wall,
            timeout: false,
        }
    }

    /// Stores the alert and hands it to the dispatcher, as ingest does.
    fn put(d: &mut Dispatcher, a: Alert, now: Now) {
        let mut store = crate::alert::store::AlertStore::new();
        let stored = store.put(&a, now.wall);
        d.insert(&stored, &a.labels, now);
    }

    #[test]
    fn group_keys_match_upstream() {
        let c = clock();
        let mut d = Dispatcher::new(tree(false));
        put(
            &mut d,
            alert(
                &c,
                labels(&[("alertname", "X"), ("team", "a")]),
                0.0,
                100.0,
                0.0,
            ),
            c.at(0.0),
        );
        put(
            &mut d,
            alert(
                &c,
                labels(&[("alertname", "Y"), ("i", "1")]),
                0.0,
                100.0,
                0.0,
            ),
            c.at(0.0),
        );
        let mut keys: Vec<&str> = d.groups().map(|g| g.key.as_str()).collect();
        keys.sort();
        assert_eq!(
            keys,
            vec!["{}/{team=\"a\"}:{alertname=\"X\"}", "{}:{alertname=\"Y\"}"]
        );
    }

    #[test]
    fn group_wait_then_group_interval_cadence() {
        let c = clock();
        let mut d = Dispatcher::new(tree(false));
        let l = labels(&[("alertname", "Y")]);
        put(&mut d, alert(&c, l.clone(), 0.0, 1000.0, 0.0), c.at(0.0));
        assert_eq!(d.next_deadline(), Some(c.at(30.0).mono));
        assert!(d.due(c.at(29.9)).is_empty());
        let jobs = d.due(c.at(30.0));
        assert_eq!(jobs.len(), 1);
        // Re-armed before sending; no further timer while the flush runs.
        assert_eq!(d.next_deadline(), None);
        // Firing alerts are presented with a zero end time.
        assert_eq!(jobs[0].alerts[0].to_alert().ends_at, UNIX_EPOCH);
        d.flush_done(&jobs[0], true, c.at(31.0));
        assert_eq!(d.next_deadline(), Some(c.at(330.0).mono));
        // A new alert does not move the timer once the group has flushed.
        let l2 = labels(&[("alertname", "Y"), ("x", "2")]);
        put(&mut d, alert(&c, l2, 40.0, 1000.0, 40.0), c.at(40.0));
        assert_eq!(d.next_deadline(), Some(c.at(330.0).mono));
        assert_eq!(d.due(c.at(330.0))[0].alerts.len(), 2);
    }

    #[test]
    fn old_alert_flushes_immediately() {
        let c = clock();
        let mut d = Dispatcher::new(tree(false));
        let l = labels(&[("alertname", "Y")]);
        put(&mut d, alert(&c, l.clone(), 0.0, 1000.0, 0.0), c.at(100.0));
        assert_eq!(d.next_deadline(), Some(c.at(100.0).mono));
        // 0.25: an old alert joining a group still in group_wait also flushes at once.
        let mut d = Dispatcher::new(tree(false));
        put(&mut d, alert(&c, l, 95.0, 1000.0, 95.0), c.at(95.0));
        assert_eq!(d.next_deadline(), Some(c.at(125.0).mono));
        let l2 = labels(&[("alertname", "Y"), ("x", "1")]);
        put(&mut d, alert(&c, l2, 0.0, 1000.0, 100.0), c.at(100.0));
        assert_eq!(d.next_deadline(), Some(c.at(100.0).mono));
    }

    #[test]
    fn resolved_leave_only_after_success_and_empty_group_is_destroyed() {
        let c = clock();
        let mut d = Dispatcher::new(tree(false));
        let l = labels(&[("alertname", "Y")]);
        put(&mut d, alert(&c, l.clone(), 0.0, 50.0, 0.0), c.at(0.0));
        let jobs = d.due(c.at(60.0));
        assert_eq!(jobs[0].resolved.len(), 1);
        assert_ne!(jobs[0].alerts[0].to_alert().ends_at, UNIX_EPOCH);
        d.flush_done(&jobs[0], false, c.at(61.0));
        assert_eq!(d.len(), 1, "failed flush keeps the resolved alert");
        let jobs = d.due(c.at(360.0));
        // Updated during the flush: stays.
        put(&mut d, alert(&c, l.clone(), 0.0, 50.0, 361.0), c.at(361.0));
        d.flush_done(&jobs[0], true, c.at(362.0));
        assert_eq!(d.len(), 1);
        let jobs = d.due(c.at(660.0));
        d.flush_done(&jobs[0], true, c.at(661.0));
        assert!(d.is_empty());
        // A later alert starts a fresh group_wait.
        put(&mut d, alert(&c, l, 700.0, 2000.0, 700.0), c.at(700.0));
        assert_eq!(d.next_deadline(), Some(c.at(730.0).mono));
    }

    #[test]
    fn flush_on_resolve_moves_the_timer() {
        let c = clock();
        for (option, want) in [(true, 100.005), (false, 310.0)] {
            let mut d = Dispatcher::new(tree(option));
            let l = labels(&[("alertname", "X"), ("team", "a")]);
            put(&mut d, alert(&c, l.clone(), 0.0, 1000.0, 0.0), c.at(0.0));
            let jobs = d.due(c.at(10.0));
            d.flush_done(&jobs[0], true, c.at(10.0));
            // Resolved explicitly at 100.
            put(&mut d, alert(&c, l, 0.0, 100.0, 100.0), c.at(100.0));
            let got = d.next_deadline().unwrap() - c.at(0.0).mono;
            assert!(
                (got.as_secs_f64() - want).abs() < 1e-6,
                "flush_on_resolve={option}: {got:?}"
            );
        }
    }

    #[test]
    fn sort_order_job_instance_labels() {
        let a = labels(&[("alertname", "A"), ("job", "b")]);
        let b = labels(&[("alertname", "A"), ("job", "a"), ("instance", "z")]);
        let c = labels(&[("alertname", "B")]);
        let d = labels(&[("alertname", "A")]);
        let mut v = vec![c.clone(), a.clone(), d.clone(), b.clone()];
        v.sort_by(alert_order);
        assert_eq!(v, vec![b.clone(), a.clone(), d.clone(), c.clone()]);
        // The same order on stored alerts (interned pairs).
        let mut store = crate::alert::store::AlertStore::new();
        let mut stored: Vec<_> = [&c, &a, &d, &b]
            .iter()
            .map(|l| {
                let al = Alert {
                    labels: (*l).clone(),
                    annotations: LabelSet::new(),
                    starts_at: UNIX_EPOCH,
                    ends_at: UNIX_EPOCH,
                    generator_url: String::new(),
                    updated_at: UNIX_EPOCH,
                    timeout: false,
                };
                store.put(&al, UNIX_EPOCH)
            })
            .collect();
        stored.sort_by(|x, y| alert_order(&**x, &**y));
        let got: Vec<LabelSet> = stored.iter().map(|x| x.labels()).collect();
        assert_eq!(got, vec![b, a, d, c]);
    }
}
