//! The rule-expression evaluator against the real thing: for tables of input series and
//! expressions, blackwatch evaluates each expression and writes its results as the expected
//! samples of a `promtool test rules` file; promtool 2.42 (the Debian package `prometheus`)
//! then evaluates the same expressions over the same series and must agree exactly (promtool
//! compares labels and float values with `reflect.DeepEqual`, so every bit counts). The
//! series go through blackwatch's `MemStorage` expansion and promtool's own, so the
//! expanding notation is compared too. Expressions blackwatch fails must fail in promtool
//! with the same message.
//!
//! The tables (input series, expressions, evaluation times) are data files under
//! `tests/data/promql/`, one per group; the generated expressions are built here.
//!
//! Fails (does not skip) when promtool is missing; `PROMTOOL_BIN` overrides the binary.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use blackwatch::rules::expr::{Expr, ExprError, MemStorage};
use serde::Deserialize;

/// One `tests:` entry: input series at `interval_s`, expressions each evaluated at times.
struct Group {
    name: String,
    interval_s: i64,
    series: Vec<(String, String)>,
    cases: Vec<(String, Vec<i64>)>,
}

/// A `tests/data/promql/<group>.yml` file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    interval_seconds: i64,
    /// Named lists of evaluation times (seconds) the cases refer to.
    #[serde(default)]
    times: BTreeMap<String, Vec<i64>>,
    series: Vec<SeriesRow>,
    #[serde(default)]
    cases: Vec<CaseRow>,
}

/// An input series in promtool's expanding notation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeriesRow {
    series: String,
    values: String,
}

/// An expression and the times (seconds) it is evaluated at.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseRow {
    expr: String,
    at: At,
}

/// Evaluation times: a name from the file's `times:` or a list of seconds.
#[derive(Deserialize)]
#[serde(untagged)]
enum At {
    Named(String),
    List(Vec<i64>),
}

fn data_file(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/promql")
        .join(file)
}

/// Reads `tests/data/promql/<name>.yml` as a group named `name`.
fn load(name: &str) -> Group {
    let path = data_file(&format!("{name}.yml"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let table: Table =
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases = table
        .cases
        .into_iter()
        .map(|c| {
            let times = match c.at {
                At::List(times) => times,
                At::Named(n) => table.times.get(&n).cloned().unwrap_or_else(|| {
                    panic!("{}: {}: no times named {n:?}", path.display(), c.expr)
                }),
            };
            (c.expr, times)
        })
        .collect();
    Group {
        name: name.to_string(),
        interval_s: table.interval_seconds,
        series: table
            .series
            .into_iter()
            .map(|s| (s.series, s.values))
            .collect(),
        cases,
    }
}

fn yaml_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn yaml_float(v: f64) -> String {
    if v == f64::INFINITY {
        ".inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-.inf".to_string()
    } else {
        format!("{v:?}")
    }
}

fn promtool(file: &std::path::Path) -> (bool, String) {
    let binary = std::env::var("PROMTOOL_BIN").unwrap_or_else(|_| "promtool".to_owned());
    let out = Command::new(&binary)
        .args(["test", "rules"])
        .arg(file)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool `{binary}` ({e}); install the Debian package prometheus \
                 (or set PROMTOOL_BIN). This test fails instead of skipping."
            )
        });
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn header(g: &Group) -> (MemStorage, String) {
    let mut mem = MemStorage::new();
    let mut yaml = format!(
        "rule_files: []\nevaluation_interval: 1m\ntests:\n  - interval: {}s\n    input_series:\n",
        g.interval_s
    );
    for (s, v) in &g.series {
        mem.add(s, v, g.interval_s * 1000)
            .unwrap_or_else(|e| panic!("{}: {e}", g.name));
        let _ = writeln!(
            yaml,
            "      - series: {}\n        values: {}",
            yaml_quote(s),
            yaml_quote(v)
        );
    }
    yaml.push_str("    promql_expr_test:\n");
    (mem, yaml)
}

/// Evaluates every case with blackwatch, then has promtool check the results.
fn agree(g: Group) {
    let (mem, mut yaml) = header(&g);
    let mut checked = 0;
    for (expr, times) in &g.cases {
        let parsed = Expr::parse(expr).unwrap_or_else(|e| panic!("{}: {expr}: {e}", g.name));
        for &t in times {
            let samples = parsed
                .eval(t * 1000, &mem)
                .unwrap_or_else(|e| panic!("{}: {expr} at {t}s: {e}", g.name))
                .into_vector();
            let _ = writeln!(
                yaml,
                "      - expr: {}\n        eval_time: {t}s\n        exp_samples:",
                yaml_quote(expr)
            );
            if samples.is_empty() {
                yaml.truncate(yaml.len() - 1);
                yaml.push_str(" []\n");
            }
            for s in samples {
                assert!(
                    !s.value.is_nan(),
                    "{}: {expr} at {t}s gives NaN, which promtool cannot compare; change the \
                     input",
                    g.name
                );
                let _ = writeln!(
                    yaml,
                    "          - labels: {}\n            value: {}",
                    yaml_quote(&s.labels.to_string()),
                    yaml_float(s.value)
                );
                checked += 1;
            }
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(format!("{}.yml", g.name));
    std::fs::write(&file, &yaml).expect("write test file");
    let (ok, out) = promtool(&file);
    assert!(
        ok,
        "promtool disagrees with blackwatch in group {}:\n{out}\n--- file ---\n{yaml}",
        g.name
    );
    assert!(checked > 0, "{}: no samples compared", g.name);
    eprintln!("{}: promtool agrees on {checked} samples", g.name);
}

/// Every case fails in blackwatch, and promtool fails it with the same message.
fn both_fail(g: Group) {
    let (mem, mut yaml) = header(&g);
    let mut messages = Vec::new();
    for (expr, times) in &g.cases {
        let parsed = Expr::parse(expr).unwrap_or_else(|e| panic!("{}: {expr}: {e}", g.name));
        for &t in times {
            let err = parsed
                .eval(t * 1000, &mem)
                .expect_err(&format!("{}: {expr} at {t}s should fail", g.name));
            messages.push((expr, t, err.message));
            let _ = writeln!(
                yaml,
                "      - expr: {}\n        eval_time: {t}s\n        exp_samples: []",
                yaml_quote(expr)
            );
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(format!("{}.yml", g.name));
    std::fs::write(&file, &yaml).expect("write test file");
    let (ok, out) = promtool(&file);
    assert!(!ok, "promtool accepted {}:\n{out}", g.name);
    eprintln!(
        "{}: promtool fails the same {} cases",
        g.name,
        messages.len()
    );
    for (expr, t, msg) in messages {
        let line = out
            .lines()
            .find(|l| l.contains(&format!("expr: {expr:?}, time: ")) && l.contains("err:"))
            .unwrap_or_else(|| panic!("promtool did not fail {expr} at {t}s:\n{out}"));
        assert!(
            same_error(line, &msg),
            "{expr} at {t}s: blackwatch says {msg:?}, promtool says {line}"
        );
    }
}

/// Whether promtool's error line says `msg`. The two series a "duplicate series" message
/// names depend on storage order, which promtool randomises (with three or more candidates
/// it may even name another pair): there only the text around the pair is compared.
fn same_error(line: &str, msg: &str) -> bool {
    if line.contains(msg) {
        return true;
    }
    let (Some(open), Some(close)) = (msg.find(": ["), msg.find("];")) else {
        return false;
    };
    let (head, tail) = (&msg[..open + 3], &msg[close..]);
    line.find(head)
        .is_some_and(|start| line[start + head.len()..].contains(tail))
}

#[test]
fn blackbox_rule_expressions_agree_with_promtool() {
    agree(load("blackbox"));
}

#[test]
fn selectors_and_staleness_agree_with_promtool() {
    agree(load("selectors"));
}

#[test]
fn operators_agree_with_promtool() {
    agree(load("operators"));
}

#[test]
fn aggregations_agree_with_promtool() {
    agree(load("aggregations"));
}

#[test]
fn functions_agree_with_promtool() {
    agree(load("functions"));
}

#[test]
fn range_functions_agree_with_promtool() {
    agree(load("range_functions"));
}

#[test]
fn offset_at_and_subqueries_agree_with_promtool() {
    agree(load("offset_at_subquery"));
}

#[test]
fn topk_quantile_count_values_sort_label_join_agree_with_promtool() {
    agree(load("aggregations_more"));
}

#[test]
fn group_left_group_right_agree_with_promtool() {
    agree(load("matching"));
}

#[test]
fn histogram_quantile_agrees_with_promtool() {
    agree(load("histograms"));
}

#[test]
fn dates_and_math_agree_with_promtool() {
    agree(load("dates_math"));
}

#[test]
fn evaluation_errors_match_promtool() {
    both_fail(load("errors"));
}

/// Expressions promtool refuses when it loads a rule file are refused by `Expr::parse` too,
/// as syntax or type errors (not as "unsupported").
#[test]
fn syntax_errors_match_promtool() {
    let path = data_file("syntax_errors.yml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let invalid: Vec<String> =
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(!invalid.is_empty(), "{}: no expressions", path.display());
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, expr) in invalid.iter().enumerate() {
        match Expr::parse(expr) {
            Err(ExprError::Parse(_)) => {}
            other => panic!("{expr}: expected a parse error, got {other:?}"),
        }
        let file = dir.path().join(format!("rules{i}.yml"));
        std::fs::write(
            &file,
            format!(
                "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: {}\n",
                yaml_quote(expr)
            ),
        )
        .expect("write rule file");
        let binary = std::env::var("PROMTOOL_BIN").unwrap_or_else(|_| "promtool".to_owned());
        let out = Command::new(&binary)
            .args(["check", "rules"])
            .arg(&file)
            .output()
            .unwrap_or_else(|e| panic!("cannot run promtool `{binary}` ({e})"));
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && text.contains("could not parse expression"),
            "promtool accepted {expr}:\n{text}"
        );
    }
}

/// A small deterministic generator of well-typed expressions of the subset.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    fn selector(&mut self) -> String {
        let name = self.pick(&["m", "n", "m", "n", "nothing"]);
        let matcher = self.pick(&[
            "",
            "",
            r#"{a="1"}"#,
            r#"{a!="1"}"#,
            r#"{a=~"1|2"}"#,
            r#"{b!~"x"}"#,
            r#"{b=""}"#,
        ]);
        format!("{name}{matcher}")
    }

    /// `sel` with an offset (negative too) or an `@`, or as it is.
    fn shifted(&mut self, sel: String) -> String {
        let shift = self.pick(&[
            "",
            "",
            " offset 1m",
            " offset 3m",
            " offset -1m",
            " offset 30s",
            " @ 300",
            " @ 61.5",
            " @ start()",
            " @ end()",
            " offset 1m @ 600",
        ]);
        format!("{sel}{shift}")
    }

    fn matching(&mut self) -> &'static str {
        self.pick(&[
            "",
            "",
            "",
            " on(a, b)",
            " on(a)",
            " ignoring(b)",
            " on()",
            " ignoring(c)",
        ])
    }

    fn scalar(&mut self, depth: u32) -> String {
        match if depth == 0 {
            self.next() % 2
        } else {
            self.next() % 5
        } {
            0 => self
                .pick(&["0", "1", "2", "3", "0.5", "-1", "10", "2.5", "-0.25"])
                .to_string(),
            1 => self.pick(&["time()", "7", "4"]).to_string(),
            2 => format!("scalar({})", self.vector(depth - 1)),
            3 => {
                let op = self.pick(&["+", "-", "*", "/", "%"]);
                format!(
                    "({} {op} {})",
                    self.scalar(depth - 1),
                    self.scalar(depth - 1)
                )
            }
            _ => {
                let op = self.pick(&["==", "!=", "<", ">", "<=", ">="]);
                format!(
                    "({} {op} bool {})",
                    self.scalar(depth - 1),
                    self.scalar(depth - 1)
                )
            }
        }
    }

    fn vector(&mut self, depth: u32) -> String {
        if depth == 0 {
            return self.selector();
        }
        let d = depth - 1;
        match self.next() % 22 {
            0 | 1 => self.selector(),
            2 => {
                let op = self.pick(&["+", "-", "*", "/", "%"]);
                if self.next().is_multiple_of(2) {
                    format!("({} {op} {})", self.vector(d), self.scalar(d))
                } else {
                    format!("({} {op} {})", self.scalar(d), self.vector(d))
                }
            }
            3 => {
                let op = self.pick(&["+", "-", "*", "/", "%"]);
                let m = self.matching();
                format!("({} {op}{m} {})", self.vector(d), self.vector(d))
            }
            4 => {
                let op = self.pick(&["==", "!=", "<", ">", "<=", ">="]);
                let b = self.pick(&["", " bool"]);
                if self.next().is_multiple_of(2) {
                    format!("({} {op}{b} {})", self.vector(d), self.scalar(d))
                } else {
                    format!("({} {op}{b} {})", self.scalar(d), self.vector(d))
                }
            }
            5 => {
                let op = self.pick(&["==", "!=", "<", ">", "<=", ">="]);
                let b = self.pick(&["", " bool"]);
                let m = self.matching();
                format!("({} {op}{b}{m} {})", self.vector(d), self.vector(d))
            }
            6 => {
                let op = self.pick(&["and", "or", "unless"]);
                let m = self.matching();
                format!("({} {op}{m} {})", self.vector(d), self.vector(d))
            }
            7 => {
                // Exact values only under sum (promtool adds series in random order).
                let op = self.pick(&["sum", "min", "max", "count", "group"]);
                let g = self.pick(&["", " by (a)", " by (b)", " without (a)", " by (a, b)"]);
                let arg = if self.next().is_multiple_of(2) {
                    self.selector()
                } else {
                    let k = self.pick(&["+ 1", "* 2", "- 3"]);
                    format!("{} {k}", self.selector())
                };
                format!("{op}{g} ({arg})")
            }
            8 => {
                let f = self.pick(&["abs", "ceil", "floor", "-"]);
                format!("{f}({})", self.vector(d))
            }
            9 => {
                let f = self.pick(&["round", "clamp_min", "clamp_max"]);
                format!("{f}({}, {})", self.vector(d), self.scalar(d))
            }
            10 => format!(
                "clamp({}, {}, {})",
                self.vector(d),
                self.scalar(d),
                self.scalar(d)
            ),
            11 => {
                let f = self.pick(&[
                    "sum_over_time",
                    "avg_over_time",
                    "min_over_time",
                    "max_over_time",
                    "count_over_time",
                    "last_over_time",
                    "present_over_time",
                    "stddev_over_time",
                    "stdvar_over_time",
                    "changes",
                    "absent_over_time",
                ]);
                let r = self.pick(&["1m", "2m", "5m", "10m", "90s"]);
                let sel = self.selector();
                format!("{f}({sel}[{r}])")
            }
            12 => {
                let f = self.pick(&["absent", "vector"]);
                if f == "vector" {
                    format!("vector({})", self.scalar(d))
                } else {
                    format!("absent({})", self.vector(d))
                }
            }
            14 => {
                // Counter and gauge functions over a range, optionally shifted.
                let f = self.pick(&[
                    "rate", "irate", "increase", "delta", "idelta", "deriv", "resets",
                ]);
                let r = self.pick(&["1m", "2m", "5m", "3m30s"]);
                let sel = self.selector();
                let range = self.shifted(format!("{sel}[{r}]"));
                if self.next().is_multiple_of(6) {
                    let t = self.pick(&["60", "300", "-120"]);
                    format!("predict_linear({range}, {t})")
                } else {
                    format!("{f}({range})")
                }
            }
            15 => {
                let sel = self.selector();
                self.shifted(sel)
            }
            16 => {
                // Subqueries, with and without a step, optionally shifted.
                let f = self.pick(&[
                    "max_over_time",
                    "min_over_time",
                    "count_over_time",
                    "last_over_time",
                    "sum_over_time",
                    "rate",
                    "changes",
                ]);
                let r = self.pick(&["5m", "3m", "10m", "2m"]);
                let step = self.pick(&["", "1m", "30s", "2m", "90s"]);
                let mut inner = self.vector(d);
                if inner.starts_with('-') {
                    // `-(x)[5m:]` would negate the subquery.
                    inner = format!("({inner})");
                }
                let shift = self.pick(&["", "", " offset 1m", " offset -2m", " @ 420"]);
                format!("{f}({inner}[{r}:{step}]{shift})")
            }
            17 => {
                let q = self.pick(&["0", "0.5", "0.9", "1", "-1", "2", "0.25"]);
                let g = self.pick(&["", " by (a)", " without (b)"]);
                // Not stddev/stdvar: their running mean depends on promtool's random
                // series order in the last bit (the aggregation tables cover them).
                format!("quantile{g} ({q}, {})", self.selector())
            }
            18 => {
                let f = self.pick(&[
                    "minute",
                    "hour",
                    "day_of_month",
                    "day_of_week",
                    "day_of_year",
                    "days_in_month",
                    "month",
                    "year",
                ]);
                if self.next().is_multiple_of(3) {
                    format!("{f}()")
                } else {
                    format!("{f}({})", self.vector(d))
                }
            }
            19 => {
                let m = self.pick(&[
                    " on(a) group_left()",
                    " on(a) group_left(b)",
                    " on(a, b) group_left()",
                    " ignoring(b) group_left()",
                    " on(a) group_right()",
                    " ignoring(b) group_right(b)",
                ]);
                let op = self.pick(&["+", "*", ">", "== bool", "-"]);
                let (op, b) = match op.split_once(' ') {
                    Some((op, b)) => (op, format!(" {b}")),
                    None => (op, String::new()),
                };
                format!("({} {op}{b}{m} {})", self.vector(d), self.vector(d))
            }
            20 => {
                let f = self.pick(&["timestamp", "sort", "sort_desc", "sgn", "sqrt"]);
                if f == "timestamp" {
                    let sel = self.selector();
                    format!("timestamp({})", self.shifted(sel))
                } else {
                    format!("{f}({})", self.vector(d))
                }
            }
            21 => {
                let dst = self.pick(&["d", "a", "__name__"]);
                let sep = self.pick(&["-", "", ","]);
                let src = self.pick(&["\"a\", \"b\"", "\"b\"", "", "\"a\", \"a\""]);
                let src = if src.is_empty() {
                    String::new()
                } else {
                    format!(", {src}")
                };
                format!("label_join({}, \"{dst}\", \"{sep}\"{src})", self.vector(d))
            }
            _ => {
                let dst = self.pick(&["a", "c", "b"]);
                let repl = self.pick(&["$1", "z$1", ""]);
                format!(
                    "label_replace({}, \"{dst}\", \"{repl}\", \"b\", \"(.*)\")",
                    self.vector(d)
                )
            }
        }
    }
}

/// Hundreds of generated expressions: blackwatch's result (or error) must be promtool's.
#[test]
fn generated_expressions_agree_with_promtool() {
    // The input series (quarter-integers: `sum` adds series in promtool's random order).
    let Group {
        interval_s, series, ..
    } = load("generated");
    let mut g = Gen(20251121);
    let mut ok_cases = Vec::new();
    let mut err_cases = Vec::new();
    let probe = {
        let mut m = MemStorage::new();
        for (a, b) in &series {
            m.add(a, b, interval_s * 1000).expect("series");
        }
        m
    };
    let times = [0i64, 120, 300, 540, 600];
    let mut seen = std::collections::HashSet::new();
    while ok_cases.len() < 500 {
        let depth = 1 + (g.next() % 3) as u32;
        let e = g.vector(depth);
        if !seen.insert(e.clone()) {
            continue;
        }
        let parsed = Expr::parse(&e).unwrap_or_else(|err| panic!("generated {e}: {err}"));
        let results: Vec<_> = times
            .iter()
            .map(|t| parsed.eval(t * 1000, &probe))
            .collect();
        if results.iter().all(|r| r.is_err()) {
            if err_cases.len() < 60 {
                err_cases.push((e, vec![600]));
            }
            continue;
        }
        // promtool cannot compare NaN (DeepEqual); such results are left out.
        let usable: Vec<i64> = times
            .iter()
            .zip(&results)
            .filter(|(_, r)| {
                r.as_ref()
                    .is_ok_and(|v| v.clone().into_vector().iter().all(|s| !s.value.is_nan()))
            })
            .map(|(t, _)| *t)
            .collect();
        if !usable.is_empty() {
            ok_cases.push((e, usable));
        }
    }
    agree(Group {
        name: "generated".to_string(),
        interval_s,
        series: series.clone(),
        cases: ok_cases,
    });
    if !err_cases.is_empty() {
        both_fail(Group {
            name: "generated_errors".to_string(),
            interval_s,
            series,
            cases: err_cases,
        });
    }
}
