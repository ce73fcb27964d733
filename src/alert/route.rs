//! The validated routing tree (Alertmanager's `dispatch/route.go`): options inherited from
//! the parent, route keys, and the depth-first match with `continue`.
//!
//! Built by `alert::config` at load time; the dispatcher only calls [`Route::match_routes`]
//! and reads [`RouteOpts`]. Nothing here reads a clock or does I/O.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::labels::{fingerprint_pairs, LabelSet, Matchers};

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
    /// The fingerprint of [`RouteOpts::group_labels`], without building them.
    pub fn group_fingerprint(&self, labels: &LabelSet) -> u64 {
        let all = self.group_by_all;
        fingerprint_pairs(
            labels
                .iter()
                .filter(|(k, _)| all || self.group_by.contains(*k))
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
    }

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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    use crate::labels::label_set as ls;

    fn tree(route_yaml: &str, receivers: &[&str]) -> Route {
        let mut yaml = format!("route:\n{route_yaml}\nreceivers:\n");
        for r in receivers {
            yaml.push_str(&format!("  - name: {r}\n"));
        }
        match crate::alert::config::load_str(&yaml, Path::new("am.yml")) {
            Ok(c) => c.route,
            Err(e) => panic!("{e}\n{yaml}"),
        }
    }

    /// Upstream's `TestRouteMatch` tree (`dispatch/route_test.go`).
    const UPSTREAM_TREE: &str = r#"
  receiver: 'notify-def'
  routes:
  - match:
      owner: 'team-A'
    receiver: 'notify-A'
    routes:
    - match:
        env: 'testing'
      receiver: 'notify-testing'
      group_by: ['...']
    - match:
        env: "production"
      receiver: 'notify-productionA'
      group_wait: 1m
      continue: true
    - match_re:
        env: "produ.*"
        job: ".*"
      receiver: 'notify-productionB'
      group_wait: 30s
      group_interval: 5m
      repeat_interval: 1h
      group_by: ['job']
  - match_re:
      owner: 'team-(B|C)'
    group_by: ['foo', 'bar']
    group_wait: 2m
    receiver: 'notify-BC'
  - match:
      group_by: 'role'
    group_by: ['role']
    routes:
    - match:
        env: 'testing'
      receiver: 'notify-testing'
      routes:
      - match:
          wait: 'long'
        group_wait: 2m
"#;

    const RECEIVERS: &[&str] = &[
        "notify-def",
        "notify-A",
        "notify-testing",
        "notify-productionA",
        "notify-productionB",
        "notify-BC",
    ];

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn upstream_route_match_table() {
        let root = tree(UPSTREAM_TREE, RECEIVERS);
        let secs = Duration::from_secs;
        // (labels, [(receiver, group_by, group_by_all, group_wait, group_interval, repeat, key)])
        type Want<'a> = (&'a str, &'a [&'a str], bool, u64, u64, u64, &'a str);
        let cases: Vec<(LabelSet, Vec<Want>)> = vec![
            (
                ls(&[("owner", "team-A")]),
                vec![(
                    "notify-A",
                    &[],
                    false,
                    30,
                    300,
                    14400,
                    r#"{}/{owner="team-A"}"#,
                )],
            ),
            (
                ls(&[("owner", "team-A"), ("env", "unset")]),
                vec![(
                    "notify-A",
                    &[],
                    false,
                    30,
                    300,
                    14400,
                    r#"{}/{owner="team-A"}"#,
                )],
            ),
            (
                ls(&[("owner", "team-C")]),
                vec![(
                    "notify-BC",
                    &["foo", "bar"],
                    false,
                    120,
                    300,
                    14400,
                    r#"{}/{owner=~"^(?:team-(B|C))$"}"#,
                )],
            ),
            (
                ls(&[("owner", "team-A"), ("env", "testing")]),
                vec![(
                    "notify-testing",
                    &[],
                    true,
                    30,
                    300,
                    14400,
                    r#"{}/{owner="team-A"}/{env="testing"}"#,
                )],
            ),
            (
                ls(&[("owner", "team-A"), ("env", "production")]),
                vec![
                    (
                        "notify-productionA",
                        &[],
                        false,
                        60,
                        300,
                        14400,
                        r#"{}/{owner="team-A"}/{env="production"}"#,
                    ),
                    (
                        "notify-productionB",
                        &["job"],
                        false,
                        30,
                        300,
                        3600,
                        r#"{}/{owner="team-A"}/{env=~"^(?:produ.*)$",job=~"^(?:.*)$"}"#,
                    ),
                ],
            ),
            (
                ls(&[("group_by", "role")]),
                vec![(
                    "notify-def",
                    &["role"],
                    false,
                    30,
                    300,
                    14400,
                    r#"{}/{group_by="role"}"#,
                )],
            ),
            (
                ls(&[("env", "testing"), ("group_by", "role")]),
                vec![(
                    "notify-testing",
                    &["role"],
                    false,
                    30,
                    300,
                    14400,
                    r#"{}/{group_by="role"}/{env="testing"}"#,
                )],
            ),
            (
                ls(&[("env", "testing"), ("group_by", "role"), ("wait", "long")]),
                vec![(
                    "notify-testing",
                    &["role"],
                    false,
                    120,
                    300,
                    14400,
                    r#"{}/{group_by="role"}/{env="testing"}/{wait="long"}"#,
                )],
            ),
            (
                ls(&[("nothing", "matches")]),
                vec![("notify-def", &[], false, 30, 300, 14400, "{}")],
            ),
        ];
        for (labels, want) in cases {
            let got = root.match_routes(&labels);
            assert_eq!(got.len(), want.len(), "{labels:?}");
            for (r, (rcv, gb, all, gw, gi, ri, key)) in got.iter().zip(want) {
                assert_eq!(r.opts.receiver, rcv, "{labels:?}");
                assert_eq!(r.opts.group_by, set(gb), "{labels:?}");
                assert_eq!(r.opts.group_by_all, all, "{labels:?}");
                assert_eq!(r.opts.group_wait, secs(gw), "{labels:?}");
                assert_eq!(r.opts.group_interval, secs(gi), "{labels:?}");
                assert_eq!(r.opts.repeat_interval, secs(ri), "{labels:?}");
                assert_eq!(r.key, key, "{labels:?}");
            }
        }
    }

    #[test]
    fn inheritance_and_explicit_empty_group_by() {
        let root = tree(
            r#"
  receiver: root
  group_by: [a]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 2h
  flush_on_resolve: true
  routes:
  - matchers: [x="1"]
    group_by: []
    mute_time_intervals: [night]
    routes:
    - matchers: [y="1"]
  - matchers: [x="2"]
    receiver: other
    group_by: ['...']
    routes:
    - matchers: [y="1"]
      group_by: [b]
time_intervals:
  - name: night
    time_intervals: [{times: [{start_time: "00:00", end_time: "06:00"}]}]"#,
            &["root", "other"],
        );
        let r1 = &root.routes[0];
        assert!(
            r1.opts.group_by.is_empty(),
            "explicit [] replaces the parent's list"
        );
        assert_eq!(r1.opts.receiver, "root");
        assert_eq!(r1.opts.group_wait, Duration::from_secs(10));
        assert_eq!(r1.opts.group_interval, Duration::from_secs(60));
        assert_eq!(r1.opts.repeat_interval, Duration::from_secs(7200));
        assert!(r1.opts.flush_on_resolve);
        assert_eq!(r1.opts.mute_time_intervals, vec!["night".to_string()]);
        let r11 = &r1.routes[0];
        assert!(
            r11.opts.mute_time_intervals.is_empty(),
            "time intervals are not inherited"
        );
        assert!(r11.opts.group_by.is_empty(), "an omitted group_by inherits");
        assert!(!r11.continue_);
        let r2 = &root.routes[1];
        assert!(r2.opts.group_by_all);
        assert_eq!(r2.opts.receiver, "other");
        let r21 = &r2.routes[0];
        assert!(!r21.opts.group_by_all, "an explicit list resets '...'");
        assert_eq!(r21.opts.group_by, set(&["b"]));
        assert_eq!(r21.opts.receiver, "other");
        // Depth-first indexes and unique IDs.
        let ids: Vec<_> = root
            .walk()
            .iter()
            .map(|r| (r.index, r.id.clone()))
            .collect();
        assert_eq!(
            ids,
            vec![
                (0, "{}".to_string()),
                (1, r#"{}/{x="1"}/0"#.to_string()),
                (2, r#"{}/{x="1"}/0/{y="1"}/0"#.to_string()),
                (3, r#"{}/{x="2"}/1"#.to_string()),
                (4, r#"{}/{x="2"}/1/{y="1"}/0"#.to_string()),
            ]
        );
    }

    #[test]
    fn group_labels_and_group_keys() {
        let root = tree(
            r#"
  receiver: r
  group_by: [alertname, job]
  routes:
  - matchers: [team=mail]
    group_by: ['...']"#,
            &["r"],
        );
        let alert = ls(&[("alertname", "Down"), ("instance", "a:1")]);
        // Only labels present on the alert are used.
        assert_eq!(root.group_key(&alert), r#"{}:{alertname="Down"}"#);
        for opts in [&root.opts, &root.routes[0].opts] {
            assert_eq!(
                opts.group_fingerprint(&alert),
                crate::labels::fingerprint(&opts.group_labels(&alert))
            );
        }
        let mail = ls(&[("alertname", "MailTest"), ("team", "mail")]);
        let routes = root.match_routes(&mail);
        assert_eq!(routes.len(), 1);
        assert_eq!(
            routes[0].group_key(&mail),
            r#"{}/{team="mail"}:{alertname="MailTest", team="mail"}"#
        );
    }

    #[test]
    fn continue_collects_every_matching_sibling_until_one_without_it() {
        let root = tree(
            r#"
  receiver: r
  routes:
  - {matchers: [a="1"], receiver: r1, continue: true}
  - {matchers: [a=~"1|2"], receiver: r2, continue: true}
  - {matchers: [b="1"], receiver: r3}
  - {matchers: [a="1"], receiver: r4}"#,
            &["r", "r1", "r2", "r3", "r4"],
        );
        let rcv = |l: &LabelSet| -> Vec<String> {
            root.match_routes(l)
                .iter()
                .map(|r| r.opts.receiver.clone())
                .collect()
        };
        assert_eq!(rcv(&ls(&[("a", "1")])), ["r1", "r2", "r4"]);
        assert_eq!(rcv(&ls(&[("a", "1"), ("b", "1")])), ["r1", "r2", "r3"]);
        assert_eq!(
            rcv(&ls(&[("a", "2")])),
            ["r2"],
            "continue but nothing else: no fallback to the parent"
        );
        assert_eq!(rcv(&ls(&[("a", "3")])), ["r"]);
    }
}
