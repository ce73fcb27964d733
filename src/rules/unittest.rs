//! `blackwatch test rules`: runs Prometheus rule unit-test files (the `promtool test rules`
//! format of Prometheus 2.42) against the rule engine, with promtool's output: `Unit
//! Testing:  FILE` then `  SUCCESS`, or `  FAILED:` and one block per failure (on stderr) with
//! promtool's `exp:`/`got:` layout.
//!
//! Deliberate difference: promtool 2.42 ignores a missing `interval:` in a test group (all
//! input samples land at time 0 — a bug fixed upstream later); here it defaults to
//! `evaluation_interval` as documented.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde::Deserialize;

use super::alerting::AlertState;
use super::expr::{Expr, Labels, Matcher, MemStorage, Queryable, Series, NAME};
use super::file::{self, parse_duration};
use super::group::{EvalSettings, Group};
use super::recording::{Layered, Overlay};
use crate::base::units::format_go_duration;
use crate::clock::duration_ms as ms;
use crate::labels::LabelSet;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<String>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    tests: Vec<TestGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<PromqlTest>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: String,
    #[serde(default, rename = "name")]
    test_group_name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    #[serde(default)]
    values: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    #[serde(default)]
    eval_time: Option<String>,
    #[serde(default)]
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PromqlTest {
    expr: String,
    #[serde(default)]
    eval_time: Option<String>,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    #[serde(default)]
    labels: String,
    value: f64,
}

/// Runs every file and prints results as promtool does; the exit code is 0 when all pass.
pub fn main(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for f in files {
        println!("Unit Testing:  {}", f.display());
        match run_file(f) {
            Ok(()) => println!("  SUCCESS"),
            Err(errors) => {
                eprintln!("  FAILED:");
                for e in errors {
                    eprintln!("{e}");
                    println!();
                }
                failed = true;
            }
        }
        println!();
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs one unit-test file; the errors are promtool's failure blocks.
pub fn run_file(path: &Path) -> Result<(), Vec<String>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| vec![format!("{}: {e}", path.display())])?;
    let tf: TestFile = crate::base::yaml::from_str(&text)
        .map_err(|e| vec![format!("{}: {}", path.display(), e.without_snippet())])?;
    let eval_interval = match &tf.evaluation_interval {
        Some(s) => parse_duration(s).map_err(|e| vec![e])?,
        None => Duration::ZERO,
    };
    let eval_interval = if eval_interval.is_zero() {
        Duration::from_secs(60)
    } else {
        eval_interval
    };
    let mut order = HashMap::new();
    for (i, g) in tf.group_eval_order.iter().enumerate() {
        if order.insert(g.clone(), i).is_some() {
            return Err(vec![format!(
                "group name repeated in evaluation order: {g}"
            )]);
        }
    }
    let base_dir = path.parent().unwrap_or(Path::new("."));
    let mut errors = Vec::new();
    for tg in &tf.tests {
        errors.extend(run_group(
            tg,
            base_dir,
            &tf.rule_files,
            eval_interval,
            &order,
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn dur(s: &Option<String>) -> Result<Duration, String> {
    match s {
        Some(s) => parse_duration(s),
        None => Ok(Duration::ZERO),
    }
}

/// Prometheus' `labels.Labels.String()`.
fn labels_string(l: &LabelSet) -> String {
    Labels::from(l).to_string()
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`.
fn go_float_upper_e(v: f64) -> String {
    super::api::go_float_e(v).replace('e', "E")
}

/// promtool's `indentLines`.
fn indent_lines(lines: &str, indent: &str) -> String {
    lines
        .split('\n')
        .collect::<Vec<_>>()
        .join(&format!("\n{indent}"))
}

type LabelsAndAnnotations = Vec<(LabelSet, LabelSet)>;

fn la_string(la: &LabelsAndAnnotations) -> String {
    if la.is_empty() {
        return "[]".into();
    }
    let one = |(l, a): &(LabelSet, LabelSet)| {
        format!(
            "Labels:{}\nAnnotations:{}",
            labels_string(l),
            labels_string(a)
        )
    };
    let mut s = format!("[\n0:{}", indent_lines(&format!("\n{}", one(&la[0])), "  "));
    for (i, x) in la[1..].iter().enumerate() {
        s.push_str(&format!(
            ",\n{}:{}",
            i + 1,
            indent_lines(&format!("\n{}", one(x)), "  ")
        ));
    }
    s.push_str("\n]");
    s
}

/// Parses an `exp_samples` label string (`name{a="b"}`, `{a="b"}` or `{}`).
fn parse_metric(text: &str) -> Result<LabelSet, String> {
    let t = text.trim();
    if t == "{}" || t.is_empty() {
        return Ok(LabelSet::new());
    }
    let ast = promql_parser::parser::parse(t)?;
    let promql_parser::parser::Expr::VectorSelector(vs) = ast else {
        return Err(format!("{text:?} is not a metric"));
    };
    let mut out = LabelSet::new();
    if let Some(name) = vs.name {
        out.insert(NAME.to_string(), name);
    }
    for m in vs.matchers.matchers {
        if !matches!(m.op, promql_parser::label::MatchOp::Equal) {
            return Err(format!("label {} must use =", m.name));
        }
        if !m.value.is_empty() {
            out.insert(m.name, m.value);
        }
    }
    Ok(out)
}

fn run_group(
    tg: &TestGroup,
    base_dir: &Path,
    rule_files: &[String],
    eval_interval: Duration,
    order: &HashMap<String, usize>,
) -> Vec<String> {
    let interval = match dur(&tg.interval) {
        Ok(d) if d.is_zero() => eval_interval,
        Ok(d) => d,
        Err(e) => return vec![e],
    };
    let mut storage = MemStorage::new();
    for s in &tg.input_series {
        if let Err(e) = storage.add(&s.series, &s.values, ms(interval)) {
            return vec![e.to_string()];
        }
    }
    let defs = match file::load_globs(base_dir, rule_files) {
        Ok(d) => d,
        Err(errs) => return errs.iter().map(ToString::to_string).collect(),
    };
    let mut groups: Vec<Group> = defs
        .into_iter()
        .map(|d| Group::new(std::sync::Arc::new(d), interval))
        .collect();
    crate::base::sort::sort_by_key(&mut groups, |g| {
        order.get(&g.def.name).copied().unwrap_or(0)
    });
    let settings = EvalSettings {
        external_labels: tg.external_labels.clone(),
        external_url: tg.external_url.clone(),
        ..EvalSettings::default()
    };
    let overlay = Overlay::unbounded();
    let name_prefix = if tg.test_group_name.is_empty() {
        String::new()
    } else {
        format!("    name: {},\n", tg.test_group_name)
    };

    let mut alert_tests: BTreeMap<i64, Vec<&AlertTest>> = BTreeMap::new();
    let mut max_eval = 0i64;
    for t in &tg.alert_rule_test {
        let at = match dur(&t.eval_time) {
            Ok(d) => ms(d),
            Err(e) => return vec![e],
        };
        max_eval = max_eval.max(at);
        alert_tests.entry(at).or_default().push(t);
    }
    let mut promql_times = Vec::new();
    for t in &tg.promql_expr_test {
        let at = match dur(&t.eval_time) {
            Ok(d) => ms(d),
            Err(e) => return vec![e],
        };
        max_eval = max_eval.max(at);
        promql_times.push(at);
    }
    let times: Vec<i64> = alert_tests.keys().copied().collect();
    let mut curr = 0;
    let step = ms(eval_interval).max(1);
    let mut errors = Vec::new();
    let mut ts = 0i64;
    // promtool's LazyLoader: the input samples up to each evaluation time are loaded before
    // it; the expression tests run after the last one, over what was loaded by then.
    let mut loaded_till = 0i64;
    while ts <= max_eval {
        let mut eval_errors = Vec::new();
        loaded_till = ts;
        let loaded = Loaded {
            base: &storage,
            till: loaded_till,
        };
        for g in &mut groups {
            g.eval(ts, &loaded, &overlay, &settings);
            for r in &g.rules {
                if let Some(e) = &r.last_error {
                    eval_errors.push(format!(
                        "    rule: {}, time: {}, err: {e}",
                        r.def.name(),
                        format_go_duration(Duration::from_millis(ts as u64))
                    ));
                }
            }
        }
        if !eval_errors.is_empty() {
            errors.extend(eval_errors);
            return errors;
        }
        while curr < times.len() && ts <= times[curr] && times[curr] < ts + step {
            let t = times[curr];
            for test in &alert_tests[&t] {
                errors.extend(check_alert_test(test, &groups, &name_prefix));
            }
            curr += 1;
        }
        ts += step;
    }

    let loaded = Loaded {
        base: &storage,
        till: loaded_till,
    };
    errors.extend(check_promql_tests(tg, &loaded, &overlay, promql_times));
    errors
}

/// The input series as promtool's LazyLoader has them at some point: only the samples at or
/// before `till` (ms). A rule reading ahead (`offset -5m`, `@` in the future) sees nothing
/// beyond the evaluation time, as in promtool.
struct Loaded<'a> {
    base: &'a MemStorage,
    till: i64,
}

impl Queryable for Loaded<'_> {
    fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Vec<Series> {
        self.base.select(matchers, start_ms, end_ms.min(self.till))
    }
}

/// One `alert_rule_test` entry against the groups' firing alerts; the failure text as
/// promtool prints it, if they differ.
fn check_alert_test(test: &AlertTest, groups: &[Group], name_prefix: &str) -> Option<String> {
    let mut got: LabelsAndAnnotations = Vec::new();
    for g in groups {
        for r in &g.rules {
            if r.spec.as_ref().is_some_and(|s| s.name == test.alertname) {
                for a in r.alerts.active.values() {
                    if a.state == AlertState::Firing {
                        got.push((a.labels.clone(), a.annotations.clone()));
                    }
                }
            }
        }
    }
    let mut exp: LabelsAndAnnotations = test
        .exp_alerts
        .iter()
        .map(|e| {
            let mut l = e.exp_labels.clone();
            l.insert("alertname".to_string(), test.alertname.clone());
            (l, e.exp_annotations.clone())
        })
        .collect();
    got.sort();
    exp.sort();
    if got != exp {
        let eval_time = test.eval_time.as_deref().map_or_else(
            || "0s".to_string(),
            |s| file::format_duration(parse_duration(s).unwrap_or_default()),
        );
        return Some(format!(
            "{name_prefix}    alertname: {}, time: {eval_time}, \n        exp:{}, \n        got:{}",
            test.alertname,
            indent_lines(&la_string(&exp), "            "),
            indent_lines(&la_string(&got), "            "),
        ));
    }
    None
}

/// The `promql_expr_test` entries, each evaluated over the input series and what the rules
/// wrote; promtool's failure texts.
fn check_promql_tests(
    tg: &TestGroup,
    storage: &dyn Queryable,
    overlay: &Overlay,
    promql_times: Vec<i64>,
) -> Vec<String> {
    let mut errors = Vec::new();
    let src = Layered {
        base: storage,
        overlay,
    };
    'tests: for (t, at) in tg.promql_expr_test.iter().zip(promql_times) {
        let time = file::format_duration(Duration::from_millis(at as u64));
        let got = Expr::parse(&t.expr)
            .map_err(|e| e.to_string())
            .and_then(|e| {
                e.eval(at, &src as &dyn Queryable)
                    .map_err(|e| e.to_string())
            });
        let got = match got {
            Ok(v) => v.into_vector(),
            Err(e) => {
                errors.push(format!("    expr: {:?}, time: {time}, err: {e}", t.expr));
                continue;
            }
        };
        let mut got: Vec<(LabelSet, f64)> = got
            .into_iter()
            .map(|s| (s.labels.to_label_set(), s.value))
            .collect();
        let mut exp = Vec::new();
        for s in &t.exp_samples {
            match parse_metric(&s.labels) {
                Ok(l) => exp.push((l, s.value)),
                Err(e) => {
                    errors.push(format!(
                        "    expr: {:?}, time: {time}, err: labels {:?}: {e}",
                        t.expr, s.labels
                    ));
                    continue 'tests;
                }
            }
        }
        crate::base::sort::sort_by(&mut got, |a, b| a.0.cmp(&b.0));
        crate::base::sort::sort_by(&mut exp, |a, b| a.0.cmp(&b.0));
        let equal =
            got.len() == exp.len() && got.iter().zip(&exp).all(|(g, e)| g.0 == e.0 && g.1 == e.1);
        if !equal {
            let show = |v: &[(LabelSet, f64)]| {
                if v.is_empty() {
                    "nil".to_string()
                } else {
                    v.iter()
                        .map(|(l, x)| format!("{} {}", labels_string(l), go_float_upper_e(*x)))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            };
            errors.push(format!(
                "    expr: {:?}, time: {time},\n        exp: {}\n        got: {}",
                t.expr,
                show(&exp),
                show(&got)
            ));
        }
    }
    errors
}
