//! One rule group at run time: its rules' state (alerts, health, last error, last
//! evaluation and its duration) and `Group::eval`, which runs the rules in order at one
//! timestamp as Prometheus' `Group.Eval` does: query, label, update alert state, write
//! `ALERTS`/`ALERTS_FOR_STATE` and recorded series into the overlay (with stale markers),
//! and collect the alerts to send. Templates' `query` runs at the same timestamp over the
//! same series. Also the slot arithmetic of the evaluation schedule.
//! Reads no clock except the monotonic one for evaluation durations.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::alerting::{
    alert_series, ActiveAlerts, Alert, AlertSpec, AlertState, EvalError, RestoreOpts, SavedAlert,
    TemplateInput,
};
use super::expr::{Labels, Queryable, Sample};
use super::file::{GroupDef, RuleDef, RuleKind};
use super::recording::{record_output, Layered, Overlay, TickView};
use crate::alert::PostableAlert;
use crate::labels::{fingerprint, LabelSet};
use crate::template::prom::QueryFn;

/// Rule health as the API reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Ok,
    Err,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// Settings every evaluation needs.
#[derive(Clone, Debug)]
pub struct EvalSettings {
    pub external_labels: LabelSet,
    /// `--web.external-url`, as given (a trailing `/` is ignored when building links).
    pub external_url: String,
    /// Prometheus' `--rules.alert.resend-delay` (1m).
    pub resend_delay: Duration,
    /// The step of a subquery written without one (`x[1h:]`), in rules and in a template's
    /// `query`: Prometheus uses `global.evaluation_interval`, promtool's unit tests 1m.
    pub subquery_step: Duration,
}

impl Default for EvalSettings {
    fn default() -> Self {
        Self {
            external_labels: LabelSet::new(),
            external_url: String::new(),
            resend_delay: Duration::from_secs(60),
            subquery_step: Duration::from_secs(60),
        }
    }
}

/// One rule's run-time state.
#[derive(Debug)]
pub struct RuleState {
    pub def: Arc<RuleDef>,
    pub spec: Option<AlertSpec>,
    pub alerts: ActiveAlerts,
    pub health: Health,
    pub last_error: Option<String>,
    pub last_eval_ms: Option<i64>,
    pub eval_seconds: f64,
    /// Series this rule wrote at its last evaluation (for stale markers).
    written: HashSet<Labels>,
}

impl RuleState {
    fn new(def: Arc<RuleDef>) -> Self {
        let spec = match &def.kind {
            RuleKind::Alert {
                name,
                hold,
                keep_firing_for,
                annotations,
            } => Some(AlertSpec {
                name: name.clone(),
                hold: *hold,
                keep_firing_for: *keep_firing_for,
                labels: def.labels.clone(),
                annotations: annotations.clone(),
            }),
            RuleKind::Record { .. } => None,
        };
        Self {
            def,
            spec,
            alerts: ActiveAlerts::default(),
            health: Health::Unknown,
            last_error: None,
            last_eval_ms: None,
            eval_seconds: 0.0,
            written: HashSet::new(),
        }
    }

    /// Whether two definitions are the same rule for carrying state over a reload.
    fn same_rule(a: &RuleDef, b: &RuleDef) -> bool {
        a.name() == b.name()
            && a.expr.text() == b.expr.text()
            && a.labels == b.labels
            && std::mem::discriminant(&a.kind) == std::mem::discriminant(&b.kind)
    }
}

/// A rule group at run time.
#[derive(Debug)]
pub struct Group {
    pub def: Arc<GroupDef>,
    pub interval: Duration,
    pub rules: Vec<RuleState>,
    pub last_eval_ms: Option<i64>,
    pub eval_seconds: f64,
    /// Rule evaluations and failed ones, over the group's life (carried over reloads).
    pub evaluations: u64,
    pub failures: u64,
}

/// `file;name`: how Prometheus names a group in metrics and maps.
pub fn group_key(file: &std::path::Path, name: &str) -> String {
    format!("{};{}", file.display(), name)
}

impl Group {
    pub fn new(def: Arc<GroupDef>, default_interval: Duration) -> Self {
        let interval = def.interval.unwrap_or(default_interval);
        let rules = def.rules.iter().cloned().map(RuleState::new).collect();
        Self {
            def,
            interval,
            rules,
            last_eval_ms: None,
            eval_seconds: 0.0,
            evaluations: 0,
            failures: 0,
        }
    }

    pub fn key(&self) -> String {
        group_key(&self.def.file, &self.def.name)
    }

    /// Takes over the state of the same rules from the running group (Prometheus'
    /// `CopyState`): alerts, health and series written, matched by name, expression and
    /// labels, in order.
    pub fn copy_state(&mut self, old: &mut Group) {
        self.last_eval_ms = old.last_eval_ms;
        self.evaluations = old.evaluations;
        self.failures = old.failures;
        let mut taken = vec![false; old.rules.len()];
        for new in &mut self.rules {
            let found = old
                .rules
                .iter()
                .enumerate()
                .position(|(i, o)| !taken[i] && RuleState::same_rule(&o.def, &new.def));
            if let Some(i) = found {
                taken[i] = true;
                let o = &mut old.rules[i];
                new.alerts = std::mem::take(&mut o.alerts);
                new.health = o.health;
                new.last_error = o.last_error.take();
                new.last_eval_ms = o.last_eval_ms;
                new.eval_seconds = o.eval_seconds;
                new.written = std::mem::take(&mut o.written);
            }
        }
    }

    /// Series written by rules of this group that the new definition does not carry over.
    pub fn written(&self) -> HashSet<Labels> {
        self.rules
            .iter()
            .flat_map(|r| r.written.iter().cloned())
            .collect()
    }

    /// Hands saved alerts to the alerting rules (applied at their first evaluation).
    pub fn restore(&mut self, saved: &BTreeMap<String, Vec<SavedAlert>>, opts: RestoreOpts) {
        for r in &mut self.rules {
            if r.spec.is_some() {
                if let Some(alerts) = saved.get(r.def.name()) {
                    r.alerts.set_restore(alerts.clone(), opts);
                }
            }
        }
    }

    /// Pending and firing alerts by rule name, for persistence.
    pub fn saved(&self) -> BTreeMap<String, Vec<SavedAlert>> {
        let mut out: BTreeMap<String, Vec<SavedAlert>> = BTreeMap::new();
        for r in &self.rules {
            if r.spec.is_some() {
                out.entry(r.def.name().to_string())
                    .or_default()
                    .extend(r.alerts.saved());
            }
        }
        out
    }

    /// A fingerprint of the persisted state minus the evaluation time, to save on change.
    pub fn state_signature(&self) -> u64 {
        let mut h: u64 = 0;
        for r in &self.rules {
            h = h.wrapping_add(r.alerts.waiting_restore() as u64);
            for a in r.alerts.active.values() {
                if a.state == AlertState::Inactive {
                    continue;
                }
                let mut l = a.labels.clone();
                l.insert("\u{0}state".into(), a.state.as_str().into());
                l.insert("\u{0}active".into(), a.active_at.to_string());
                h = h.wrapping_add(fingerprint(&l));
            }
        }
        h
    }

    /// Evaluates every rule in order at `ts` (Unix ms) against `base` plus the overlay, and
    /// returns the alerts to send.
    pub fn eval(
        &mut self,
        ts: i64,
        base: &dyn Queryable,
        overlay: &Overlay,
        settings: &EvalSettings,
    ) -> Vec<PostableAlert> {
        let started = tokio::time::Instant::now();
        let mut out = Vec::new();
        let limit = self.def.limit;
        let interval = self.interval;
        let step_ms = crate::clock::duration_ms(settings.subquery_step);
        // One view for the whole evaluation: selectors of the same metric read the store once.
        let view = TickView::new(base);
        let base: &dyn Queryable = &view;
        for rule in &mut self.rules {
            let rule_started = tokio::time::Instant::now();
            let src = Layered { base, overlay };
            let result = rule
                .def
                .expr
                .eval_with_step(ts, &src, step_ms)
                .map(super::expr::Value::into_vector)
                .map_err(|e| EvalError::Query(e.to_string()));
            let written = match (&rule.def.kind, &rule.spec, result) {
                (_, _, Err(e)) => Err(e),
                (RuleKind::Record { name }, _, Ok(samples)) => {
                    record_output(name, &rule.def.labels, samples, limit)
                }
                (RuleKind::Alert { .. }, Some(spec), Ok(samples)) => {
                    eval_alerting(rule, spec.clone(), ts, samples, &src, settings, limit)
                }
                (RuleKind::Alert { .. }, None, Ok(_)) => Ok(Vec::new()),
            };
            self.evaluations += 1;
            match written {
                Ok(samples) => {
                    rule.health = Health::Ok;
                    rule.last_error = None;
                    rule.written = overlay.write_output(ts, &samples, &rule.written);
                    // As Prometheus: alerts are sent only after a successful evaluation.
                    if rule.spec.is_some() {
                        let expr = rule.def.expr.text();
                        for a in rule.alerts.to_send(ts, settings.resend_delay, interval) {
                            out.push(postable(&a, expr, settings));
                        }
                    }
                }
                Err(e) => {
                    self.failures += 1;
                    rule.health = Health::Err;
                    rule.last_error = Some(e.to_string());
                    tracing::warn!(
                        message = "Evaluating rule failed",
                        rule = rule.def.name(),
                        group = %self.def.name,
                        error = %e
                    );
                }
            }
            rule.last_eval_ms = Some(ts);
            rule.eval_seconds = rule_started.elapsed().as_secs_f64();
        }
        self.last_eval_ms = Some(ts);
        self.eval_seconds = started.elapsed().as_secs_f64();
        out
    }
}

/// One alerting rule's evaluation: template, update state, and the `ALERTS` series to write.
/// Templates' `query` runs at `ts` over `src`, what the rule's own expression saw.
fn eval_alerting(
    rule: &mut RuleState,
    spec: AlertSpec,
    ts: i64,
    samples: Vec<Sample>,
    src: &dyn Queryable,
    settings: &EvalSettings,
    limit: usize,
) -> Result<Vec<Sample>, EvalError> {
    let input: Vec<(LabelSet, f64)> = samples
        .iter()
        .map(|s| (s.labels.to_label_set(), s.value))
        .collect();
    let template_name = format!("__alert_{}", spec.name);
    let step_ms = crate::clock::duration_ms(settings.subquery_step);
    let query = |q: &str| template_query(q, ts, step_ms, src);
    let expand = |_field: &str, text: &str, t: &TemplateInput<'_>| -> String {
        expand_template(&template_name, text, t, settings, &query)
    };
    rule.alerts.eval(&spec, ts, &input, &expand, limit)?;
    Ok(alert_series(&rule.alerts)
        .into_iter()
        .map(|(l, v)| Sample {
            labels: Labels::from(&l),
            value: v,
        })
        .collect())
}

/// Expands one rule template with Prometheus' data (`$labels`, `$value`, `$externalLabels`,
/// `$externalURL`) and its `query` function.
pub fn expand_template(
    name: &str,
    text: &str,
    t: &TemplateInput<'_>,
    settings: &EvalSettings,
    query: &QueryFn<'_>,
) -> String {
    if !text.contains("{{") {
        return text.to_string();
    }
    let data = crate::template::rules::RuleData {
        labels: t.labels,
        external_labels: &settings.external_labels,
        external_url: &settings.external_url,
        value: t.value,
        query: Some(query),
    };
    crate::template::rules::expand(name, text, &data)
}

/// The template function `query` of a rule evaluated at `ts` (Prometheus' `EngineQueryFunc`
/// at the evaluation time), its result as the template's samples.
fn template_query(
    text: &str,
    ts: i64,
    subquery_step_ms: i64,
    src: &dyn Queryable,
) -> Result<Vec<crate::template::prom::Sample>, String> {
    Ok(super::expr::instant_query(text, ts, subquery_step_ms, src)?
        .into_iter()
        .map(|s| crate::template::prom::Sample {
            labels: s.labels.to_label_set(),
            value: s.value,
        })
        .collect())
}

fn system_time(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

/// Prometheus' `strutil.TableLinkForExpression`, under the external URL.
pub fn generator_url(external_url: &str, expr: &str) -> String {
    let q: String = url::form_urlencoded::byte_serialize(expr.as_bytes()).collect();
    format!(
        "{}/graph?g0.expr={q}&g0.tab=1",
        external_url.trim_end_matches('/')
    )
}

/// The alert as sent to the alert pipeline (`rules/manager.go` `SendAlerts`): startsAt =
/// FiredAt, endsAt = ResolvedAt or ValidUntil, external labels added where absent.
pub fn postable(a: &Alert, expr: &str, settings: &EvalSettings) -> PostableAlert {
    let mut labels = a.labels.clone();
    for (k, v) in &settings.external_labels {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    PostableAlert {
        labels,
        annotations: a.annotations.clone(),
        starts_at: a.fired_at.map(system_time),
        ends_at: Some(system_time(a.resolved_at.unwrap_or(a.valid_until))),
        generator_url: generator_url(&settings.external_url, expr),
    }
}

/// The first evaluation slot at or after `now_ms` for a group (Prometheus'
/// `EvalTimestamp`, then the next slot): slots are `interval` apart, offset by a hash of
/// the group's file and name so groups spread over the interval.
pub fn next_slot(now_ms: i64, interval: Duration, file: &str, name: &str) -> i64 {
    let iv = (interval.as_millis() as i64).max(1);
    let mut l = LabelSet::new();
    l.insert("file".into(), file.into());
    l.insert("name".into(), name.into());
    let offset = (fingerprint(&l) % iv as u64) as i64;
    let adj = now_ms - offset;
    let base = adj - adj.rem_euclid(iv);
    let slot = base + offset;
    if slot < now_ms {
        slot + iv
    } else {
        slot
    }
}
