//! The validated routing tree (Alertmanager's `dispatch/route.go`): options inherited from
//! the parent, route keys, and the depth-first match with `continue`.
//!
//! Built by `alert::config` at load time; the dispatcher only calls [`Route::match_routes`]
//! and reads [`RouteOpts`]. Nothing here reads a clock or does I/O.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::labels::{LabelSet, Matchers};

/// Options a route passes to its aggregation groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteOpts {
    /// Receiver name (exists in the config; checked at load).
    pub receiver: String,
    /// Label names to group by (ignored when `group_by_all`).
    pub group_by: BTreeSet<String>,
    /// `group_by: ['...']`: group by every label of the alert.
    pub group_by_all: bool,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    /// Names of `time_intervals` during which notifications are muted. Not inherited.
    pub mute_time_intervals: Vec<String>,
    /// Names of `time_intervals` outside which notifications are muted. Not inherited.
    pub active_time_intervals: Vec<String>,
    /// blackwatch extension (alertmanager #1510): flush as soon as every alert of a group is
    /// resolved instead of waiting for the next `group_interval` tick. Inherited.
    pub flush_on_resolve: bool,
}

impl Default for RouteOpts {
    /// Upstream's `DefaultRouteOpts`.
    fn default() -> Self {
        Self {
            receiver: String::new(),
            group_by: BTreeSet::new(),
            group_by_all: false,
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
            flush_on_resolve: false,
        }
    }
}

impl RouteOpts {
    /// The alert's group labels for this route: the `group_by` labels present on the
    /// alert, or all of them for `'...'`.
    pub fn group_labels(&self, labels: &LabelSet) -> LabelSet {
        if self.group_by_all {
            return labels.clone();
        }
        labels
            .iter()
            .filter(|(k, _)| self.group_by.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// One node of the validated routing tree.
#[derive(Clone, Debug)]
pub struct Route {
    /// Sorted (name, value, operator), as upstream sorts them for the key.
    pub matchers: Matchers,
    pub continue_: bool,
    pub opts: RouteOpts,
    pub routes: Vec<Route>,
    /// `parentKey/{matchers}`; the root's is `{}`.
    pub key: String,
    /// Upstream's route ID (0.27+): the key plus the index among equal-keyed siblings,
    /// unique in the tree; used by the API's `receiver` display and nothing else.
    pub id: String,
    /// Depth-first position in the tree (root 0), a stable small identifier.
    pub index: usize,
}

impl Route {
    /// All routes an alert with these labels lands in, in tree order: depth-first,
    /// the first matching child wins unless it has `continue`, a node no child of which
    /// matched is itself the result. Empty only if the root's matchers do not match
    /// (the root has none, so never for the root).
    pub fn match_routes(&self, labels: &LabelSet) -> Vec<&Route> {
        let mut out = Vec::new();
        self.match_into(labels, &mut out);
        out
    }

    fn match_into<'a>(&'a self, labels: &LabelSet, out: &mut Vec<&'a Route>) {
        if !self.matchers.matches(labels) {
            return;
        }
        let before = out.len();
        for child in &self.routes {
            let n = out.len();
            child.match_into(labels, out);
            if out.len() > n && !child.continue_ {
                break;
            }
        }
        if out.len() == before {
            out.push(self);
        }
    }

    /// Every route of the tree, depth-first (root first).
    pub fn walk(&self) -> Vec<&Route> {
        let mut out = vec![self];
        for c in &self.routes {
            out.extend(c.walk());
        }
        out
    }

    /// The group key of an alert with these labels in this route: `key:{group labels}`.
    pub fn group_key(&self, labels: &LabelSet) -> String {
        crate::labels::group_key(&self.key, &self.opts.group_labels(labels))
    }
}
