//! The alerting-rule state machine, as pure code: every step takes the evaluation timestamp
//! (`ts`, Unix milliseconds) and the expression's output samples as arguments, so the
//! transitions of Prometheus' `rules/alerting.go` (`Eval`, `sendAlerts`, `RestoreForState`)
//! can be tested with explicit times. It does not evaluate expressions, expand templates by
//! itself (the caller passes an expander), read clocks or send anything.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::duration_ms as ms;
use crate::labels::{fingerprint, LabelSet};

/// How long a resolved alert is kept (and re-sent as resolved): Prometheus' `resolvedRetention`.
pub const RESOLVED_RETENTION: Duration = Duration::from_secs(15 * 60);

/// The state of one alert instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert instance of a rule, keyed by its label set. Times are Unix milliseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub value: f64,
    pub state: AlertState,
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub last_sent_at: Option<i64>,
    pub valid_until: i64,
    pub keep_firing_since: Option<i64>,
    /// The last evaluation at which the alert was pending or firing (the `downAt` of a
    /// restore: Prometheus reads it from the last `ALERTS_FOR_STATE` sample).
    pub last_active_eval: i64,
}

/// What templates see for one output sample.
pub struct TemplateInput<'a> {
    /// The sample's labels, `__name__` included when the expression kept it.
    pub labels: &'a LabelSet,
    pub value: f64,
}

/// Expands one label or annotation template (`name` is the label or annotation name, for
/// error messages). Errors must already be rendered as `<error expanding template: …>`.
pub type Expander<'a> = dyn Fn(&str, &str, &TemplateInput<'_>) -> String + 'a;

/// A persisted alert, as `persist.rs` saves it and `restore` reads it back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedAlert {
    pub labels: LabelSet,
    pub state: AlertState,
    pub active_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired_at: Option<i64>,
    /// The last evaluation at which the alert was active: the restore's `downAt`.
    pub last_active_eval: i64,
}

/// Restore settings: Prometheus' `--rules.alert.for-outage-tolerance` and
/// `--rules.alert.for-grace-period`.
#[derive(Clone, Copy, Debug)]
pub struct RestoreOpts {
    pub outage_tolerance: Duration,
    pub grace_period: Duration,
}

impl Default for RestoreOpts {
    fn default() -> Self {
        Self {
            outage_tolerance: Duration::from_secs(3600),
            grace_period: Duration::from_secs(600),
        }
    }
}

/// The error of one evaluation (the rule's `lastError`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("vector contains metrics with the same labelset after applying alert labels")]
    DuplicateAlertLabels,
    #[error("vector contains metrics with the same labelset after applying rule labels")]
    DuplicateRuleLabels,
    #[error("exceeded limit of {limit} with {count} alerts")]
    AlertLimit { limit: usize, count: usize },
    #[error("exceeded limit of {limit} with {count} series")]
    SeriesLimit { limit: usize, count: usize },
    #[error("{0}")]
    Query(String),
}

/// Definition parts of an alerting rule the state machine needs.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertSpec {
    pub name: String,
    pub hold: Duration,
    pub keep_firing_for: Duration,
    /// Label templates, applied over the sample's labels.
    pub labels: LabelSet,
    /// Annotation templates.
    pub annotations: LabelSet,
}

/// The alerts of one rule plus restore bookkeeping.
#[derive(Clone, Debug, Default)]
pub struct ActiveAlerts {
    pub active: HashMap<u64, Alert>,
    /// Saved state waiting for its alert to appear, keyed by label fingerprint.
    pending_restore: HashMap<u64, SavedAlert>,
    restore_opts: Option<RestoreOpts>,
    /// Evaluations left in which saved state may still be applied.
    restore_evals_left: u8,
}

impl ActiveAlerts {
    /// Hands saved alerts to this rule. Alerts that appear in the first two evaluations
    /// get their saved state (§5.4); like Prometheus, which restores after the second
    /// evaluation, this leaves the first probe results time to arrive.
    pub fn set_restore(&mut self, saved: Vec<SavedAlert>, opts: RestoreOpts) {
        self.restore_evals_left = 2;
        self.pending_restore = saved
            .into_iter()
            .map(|s| (fingerprint(&s.labels), s))
            .collect();
        self.restore_opts = Some(opts);
    }

    /// How many saved alerts still wait for their alert to appear.
    pub fn waiting_restore(&self) -> usize {
        self.pending_restore.len()
    }

    /// The alerts sorted by labels, for stable output.
    pub fn sorted(&self) -> Vec<&Alert> {
        let mut v: Vec<&Alert> = self.active.values().collect();
        crate::base::sort::sort_by(&mut v, |a, b| a.labels.cmp(&b.labels));
        v
    }

    /// Pending and firing alerts as they would be persisted, plus saved state not applied
    /// yet (so a save right after a restart does not lose it).
    pub fn saved(&self) -> Vec<SavedAlert> {
        let mut out: Vec<SavedAlert> = self
            .sorted()
            .into_iter()
            .filter(|a| a.state != AlertState::Inactive)
            .map(|a| SavedAlert {
                labels: a.labels.clone(),
                state: a.state,
                active_at: a.active_at,
                fired_at: a.fired_at,
                last_active_eval: a.last_active_eval,
            })
            .collect();
        let mut waiting: Vec<SavedAlert> = self
            .pending_restore
            .iter()
            .filter(|(h, _)| !self.active.contains_key(h))
            .map(|(_, s)| s.clone())
            .collect();
        crate::base::sort::sort_by(&mut waiting, |a, b| a.labels.cmp(&b.labels));
        out.extend(waiting);
        out
    }

    /// One evaluation at `ts` given the expression's output `samples` (Prometheus'
    /// `AlertingRule.Eval` after the query). On error the state is left as Prometheus leaves
    /// it: a duplicate label set changes nothing; an exceeded limit drops every alert.
    /// Long on purpose: it is upstream's `Eval` step by step, so the two can be compared.
    pub fn eval(
        &mut self,
        spec: &AlertSpec,
        ts: i64,
        samples: &[(LabelSet, f64)],
        expand: &Expander<'_>,
        limit: usize,
    ) -> Result<(), EvalError> {
        let mut fresh: HashMap<u64, Alert> = HashMap::with_capacity(samples.len());
        for (sample_labels, value) in samples {
            let input = TemplateInput {
                labels: sample_labels,
                value: *value,
            };
            let mut labels = sample_labels.clone();
            labels.remove("__name__");
            for (name, text) in &spec.labels {
                labels.insert(name.clone(), expand(name, text, &input));
            }
            labels.insert("alertname".to_string(), spec.name.clone());
            labels.retain(|_, v| !v.is_empty());
            let annotations: LabelSet = spec
                .annotations
                .iter()
                .map(|(name, text)| (name.clone(), expand(name, text, &input)))
                .collect();
            let h = fingerprint(&labels);
            if fresh.contains_key(&h) {
                return Err(EvalError::DuplicateAlertLabels);
            }
            fresh.insert(
                h,
                Alert {
                    labels,
                    annotations,
                    value: *value,
                    state: AlertState::Pending,
                    active_at: ts,
                    fired_at: None,
                    resolved_at: None,
                    last_sent_at: None,
                    valid_until: 0,
                    keep_firing_since: None,
                    last_active_eval: ts,
                },
            );
        }

        let mut restoring = std::mem::take(&mut self.pending_restore);
        let restore_opts = self.restore_opts;
        let mut applied = Vec::new();
        for (h, mut a) in fresh.iter().map(|(h, a)| (*h, a.clone())) {
            if let Some(existing) = self.active.get_mut(&h) {
                if existing.state != AlertState::Inactive {
                    existing.value = a.value;
                    existing.annotations = a.annotations;
                    continue;
                }
            }
            if let (Some(saved), Some(opts)) = (restoring.remove(&h), restore_opts) {
                restore_one(&mut a, &saved, spec, ts, opts);
                applied.push((h, saved));
            }
            self.active.insert(h, a);
        }

        let mut active_count = 0usize;
        let mut delete = Vec::new();
        for (h, a) in self.active.iter_mut() {
            if !fresh.contains_key(h) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && !spec.keep_firing_for.is_zero() {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    if ts - since < ms(spec.keep_firing_for) {
                        keep_firing = true;
                    }
                }
                if a.state == AlertState::Pending
                    || a.resolved_at
                        .is_some_and(|r| ts - r > ms(RESOLVED_RETENTION))
                {
                    delete.push(*h);
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(ts);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = None;
            }
            active_count += 1;
            a.last_active_eval = ts;
            // A reload that raised `for` puts a firing alert back to pending.
            if a.state == AlertState::Firing && ts - a.active_at < ms(spec.hold) {
                a.state = AlertState::Pending;
                a.fired_at = None;
            }
            if a.state == AlertState::Pending && ts - a.active_at >= ms(spec.hold) {
                a.state = AlertState::Firing;
                a.fired_at = Some(ts);
            }
        }
        for h in delete {
            self.active.remove(&h);
        }
        // Restored firing alerts keep their original FiredAt.
        for (h, saved) in &applied {
            if let Some(a) = self.active.get_mut(h) {
                if a.state == AlertState::Firing
                    && saved.state == AlertState::Firing
                    && a.fired_at == Some(ts)
                    && a.active_at == saved.active_at
                {
                    a.fired_at = saved.fired_at.or(Some(ts));
                }
            }
        }
        self.restore_evals_left = self.restore_evals_left.saturating_sub(1);
        if self.restore_evals_left > 0 {
            self.pending_restore = restoring;
        } else {
            self.restore_opts = None;
        }
        if limit > 0 && active_count > limit {
            self.active.clear();
            return Err(EvalError::AlertLimit {
                limit,
                count: active_count,
            });
        }
        Ok(())
    }

    /// Alerts to send after an evaluation at `ts` (Prometheus' `sendAlerts`): firing and
    /// resolved ones, when resolved since the last send or last sent more than `resend_delay`
    /// ago (strictly). Marks them sent and sets `valid_until = ts + 4 × max(interval,
    /// resend_delay)`.
    pub fn to_send(&mut self, ts: i64, resend_delay: Duration, interval: Duration) -> Vec<Alert> {
        let delta = ms(resend_delay.max(interval));
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if needs_sending(a, ts, resend_delay) {
                a.last_sent_at = Some(ts);
                a.valid_until = ts + 4 * delta;
                out.push(a.clone());
            }
        }
        crate::base::sort::sort_by(&mut out, |a, b| a.labels.cmp(&b.labels));
        out
    }
}

/// Prometheus' `Alert.needsSending`.
pub fn needs_sending(a: &Alert, ts: i64, resend_delay: Duration) -> bool {
    if a.state == AlertState::Pending {
        return false;
    }
    match (a.resolved_at, a.last_sent_at) {
        (Some(r), Some(s)) if r > s => return true,
        (Some(_), None) => return true,
        _ => {}
    }
    match a.last_sent_at {
        None => true,
        Some(s) => s + ms(resend_delay) < ts,
    }
}

/// Applies saved state to an alert that appeared at the first evaluation `ts` after a
/// restart, with `RestoreForState`'s arithmetic: downtime does not count towards `for`, an
/// alert whose remaining pending time is under the grace period fires `grace` from now, one
/// that was already due fires now. Rules with `for` below the grace period, and state older
/// than the outage tolerance, are not restored.
pub fn restore_one(a: &mut Alert, saved: &SavedAlert, spec: &AlertSpec, ts: i64, o: RestoreOpts) {
    let hold = ms(spec.hold);
    let down_at = saved.last_active_eval;
    if down_at < ts - ms(o.outage_tolerance) || down_at > ts {
        return;
    }
    if saved.state == AlertState::Firing && saved.active_at + hold <= down_at {
        // It was firing when we went down: it fires again at once.
        a.active_at = saved.active_at;
        return;
    }
    if spec.hold < o.grace_period {
        return;
    }
    let pending_so_far = down_at - saved.active_at;
    let remaining = hold - pending_so_far;
    a.active_at = if remaining <= 0 {
        saved.active_at
    } else if remaining < ms(o.grace_period) {
        ts + ms(o.grace_period) - hold
    } else {
        saved.active_at + (ts - down_at)
    };
}

/// `ALERTS{…, alertstate} 1` and `ALERTS_FOR_STATE{…} ActiveAt-seconds` for every pending or
/// firing alert.
pub fn alert_series(alerts: &ActiveAlerts) -> Vec<(LabelSet, f64)> {
    let mut out = Vec::new();
    for a in alerts.sorted() {
        if a.state == AlertState::Inactive {
            continue;
        }
        let mut l = a.labels.clone();
        l.insert("__name__".to_string(), "ALERTS".to_string());
        l.insert("alertstate".to_string(), a.state.as_str().to_string());
        out.push((l, 1.0));
        let mut f = a.labels.clone();
        f.insert("__name__".to_string(), "ALERTS_FOR_STATE".to_string());
        out.push((f, (a.active_at / 1000) as f64));
    }
    out
}
