//! What the status page shows, gathered from the state: target rows (failing first) and
//! alert rows, plus the HTML escaping and formatting helpers every section uses.

use super::*;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query-string value.
pub(super) fn query_value(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `3s`, `4m12s`, `2h5m`, `3d4h`: coarse, for "how long ago".
pub(super) fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A `<time>` element: relative to `now`, the RFC 3339 instant in `datetime` and `title`.
pub(super) fn when(t: SystemTime, now: SystemTime) -> String {
    let stamp = rfc3339(t);
    let rel = match now.duration_since(t) {
        Ok(d) => format!("{} ago", short_duration(d)),
        Err(e) => format!("in {}", short_duration(e.duration())),
    };
    format!(
        "<time datetime=\"{stamp}\" title=\"{stamp}\">{}</time>",
        escape(&rel)
    )
}

pub(super) use crate::clock::from_unix_ms as from_ms;

/// `{a="b", c="d"}` as label chips.
pub(super) fn label_chips(labels: &LabelSet, skip: &[&str]) -> String {
    let mut out = String::new();
    for (k, v) in labels {
        if skip.contains(&k.as_str()) {
            continue;
        }
        let _ = write!(
            out,
            "<span class=\"label\">{}=&quot;{}&quot;</span> ",
            escape(k),
            escape(v)
        );
    }
    out
}

/// The matcher string that selects exactly `labels` (for the "Silence" links).
pub(super) fn matchers_for(labels: &LabelSet) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::base::go::quote(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// One scheduled target's latest result.
pub(super) struct TargetRow {
    pub(super) job: String,
    pub(super) instance: String,
    pub(super) module: String,
    pub(super) success: bool,
    pub(super) duration: Option<f64>,
    pub(super) at: SystemTime,
}

/// The failing and healthy rows shown, and how many of each there are.
pub(super) type TargetRows = (Vec<TargetRow>, Vec<TargetRow>, usize, usize);

/// Scheduled targets from the store: failing first, each list sorted by job and instance.
/// Returns the rows to show and the counts of failing and healthy targets.
pub(super) fn target_rows(state: &Shared) -> TargetRows {
    fn key(labels: &[(Arc<str>, Arc<str>)]) -> (String, String, String) {
        let get = |name: &str| {
            labels
                .iter()
                .find(|(k, _)| &**k == name)
                .map(|(_, v)| v.to_string())
                .unwrap_or_default()
        };
        (get("job"), get("instance"), get("module"))
    }
    let durations: HashMap<(String, String, String), f64> = state
        .store
        .instant("probe_duration_seconds")
        .into_iter()
        .map(|s| (key(&s.labels), s.value))
        .collect();
    let mut failing = Vec::new();
    let mut healthy = Vec::new();
    for s in state.store.instant("probe_success") {
        let k = key(&s.labels);
        let row = TargetRow {
            duration: durations.get(&k).copied(),
            job: k.0,
            instance: k.1,
            module: k.2,
            success: s.value == 1.0,
            at: from_ms(s.timestamp_ms),
        };
        if row.success {
            healthy.push(row);
        } else {
            failing.push(row);
        }
    }
    let (nf, nh) = (failing.len(), healthy.len());
    let order = |a: &TargetRow, b: &TargetRow| {
        (&a.job, &a.instance, &a.module).cmp(&(&b.job, &b.instance, &b.module))
    };
    if failing.len() > MAX_FAILING_ROWS {
        failing.select_nth_unstable_by(MAX_FAILING_ROWS, order);
        failing.truncate(MAX_FAILING_ROWS);
    }
    if healthy.len() > MAX_HEALTHY_ROWS {
        healthy.select_nth_unstable_by(MAX_HEALTHY_ROWS, order);
        healthy.truncate(MAX_HEALTHY_ROWS);
    }
    crate::base::sort::sort_by(&mut failing, order);
    crate::base::sort::sort_by(&mut healthy, order);
    (failing, healthy, nf, nh)
}

/// One pending or firing alert of the rule engine.
pub(super) struct AlertRow {
    pub(super) state: AlertState,
    pub(super) labels: LabelSet,
    pub(super) annotations: LabelSet,
    pub(super) active_at: i64,
    pub(super) value: f64,
}

/// Rule engine state: active alerts (firing first) and rules whose last evaluation failed.
pub(super) fn alert_rows(
    manager: &crate::rules::Manager,
) -> (Vec<AlertRow>, Vec<(String, String)>) {
    let mut alerts = Vec::new();
    let mut errors = Vec::new();
    for g in manager.groups() {
        let g = crate::base::sync::lock(&g);
        for r in &g.rules {
            if r.health == Health::Err {
                let name = match &r.def.kind {
                    crate::rules::file::RuleKind::Alert { name, .. }
                    | crate::rules::file::RuleKind::Record { name } => name.clone(),
                };
                errors.push((
                    format!("{} / {name}", g.def.name),
                    r.last_error.clone().unwrap_or_default(),
                ));
            }
            for a in r.alerts.sorted() {
                if a.state != AlertState::Inactive {
                    alerts.push(AlertRow {
                        state: a.state,
                        labels: a.labels.clone(),
                        annotations: a.annotations.clone(),
                        active_at: a.active_at,
                        value: a.value,
                    });
                }
            }
        }
    }
    crate::base::sort::sort_by(&mut alerts, |a, b| {
        let rank = |s: AlertState| if s == AlertState::Firing { 0 } else { 1 };
        rank(a.state)
            .cmp(&rank(b.state))
            .then_with(|| a.labels.cmp(&b.labels))
    });
    (alerts, errors)
}
