//! The rule-expression evaluator against the real thing: for tables of input series and
//! expressions, blackwatch evaluates each expression and writes its results as the expected
//! samples of a `promtool test rules` file; promtool 2.42 (the Debian package `prometheus`)
//! then evaluates the same expressions over the same series and must agree exactly (promtool
//! compares labels and float values with `reflect.DeepEqual`, so every bit counts). The
//! series go through blackwatch's `MemStorage` expansion and promtool's own, so the
//! expanding notation is compared too. Expressions blackwatch fails must fail in promtool
//! with the same message.
//!
//! Fails (does not skip) when promtool is missing; `PROMTOOL_BIN` overrides the binary.

use std::fmt::Write as _;
use std::process::Command;

use blackwatch::rules::expr::{Expr, ExprError, MemStorage};

/// One `tests:` entry: input series at `interval_s`, expressions each evaluated at times.
struct Group<'a> {
    name: &'a str,
    interval_s: i64,
    series: Vec<(String, String)>,
    cases: Vec<(&'a str, Vec<i64>)>,
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

fn s(series: &str, values: &str) -> (String, String) {
    (series.to_string(), values.to_string())
}

/// Deterministic awkward floats (6 significant digits, mixed magnitudes) so that sums and
/// means exercise rounding order.
fn awkward(seed: u64, n: usize) -> String {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let mant = (x >> 33) % 1_000_000;
            let exp = ((x >> 20) % 7) as i32 - 3;
            format!("{}e{}", mant, exp - 5)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Deterministic quarter-integers: sums and power-of-two means of these are exact in any
/// order. Cross-series aggregations need them because promtool loads its input series in Go
/// map order, so the order in which `sum`/`avg` add up series changes from run to run.
fn dyadic(seed: u64, n: usize) -> String {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = ((x >> 33) % 801) as i64 - 400;
            format!("{}", k as f64 / 4.0)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn minutes(list: &[i64]) -> Vec<i64> {
    list.iter().map(|m| m * 60).collect()
}

#[test]
fn blackbox_rule_expressions_agree_with_promtool() {
    let t = minutes(&[0, 1, 2, 3, 5, 8, 10, 15, 19, 25]);
    agree(Group {
        name: "blackbox",
        interval_s: 60,
        series: vec![
            s(r#"probe_success{instance="a",job="blackbox"}"#, "1 1 0 0 0 1 1 1 0 1x10"),
            s(r#"probe_success{instance="b",job="blackbox"}"#, "1x19"),
            s(r#"probe_success{instance="c",job="blackbox-exporter"}"#, "0 0 stale _x3 1x5 0x3"),
            s(r#"probe_success{instance="https://k8s/healthz",job="shoot"}"#, "1 1 _x10 1"),
            s(r#"probe_success{instance="d",job="dns-resolvers"}"#, "1 0 1 0 0 0"),
            s(r#"probe_success{instance="s",job="ssh",service="blackbox_ssh"}"#, "1 1 0 1 1 1 1 0 0 0 0 0 0 0 1"),
            s(r#"probe_duration_seconds{instance="a",job="blackbox"}"#, "0.2 0.4 1.5 2.5 0.1+0.05x15"),
            s(r#"probe_duration_seconds{instance="b",job="blackbox"}"#, "11 12 9 15 10.5x15"),
            s(r#"probe_http_status_code{instance="a",job="blackbox"}"#, "200 200 500 404 199 302 400 399 200x11"),
            s(r#"probe_http_duration_seconds{instance="a",phase="connect"}"#, "0.1 1.2 0.3x17"),
            s(r#"probe_http_duration_seconds{instance="a",phase="tls"}"#, "0.9 1.0 1.1 1.2x16"),
            s(r#"probe_icmp_duration_seconds{instance="a",phase="rtt"}"#, "0.01 2 0.02x17"),
            s(r#"probe_ssl_earliest_cert_expiry{instance="a",job="blackbox"}"#, "1728000x19"),
            s(r#"probe_ssl_earliest_cert_expiry{instance="b",job="blackbox"}"#, "259200-3600x19"),
            s(r#"probe_ssl_earliest_cert_expiry{instance="c",job="blackbox-exporter"}"#, "-7200x5 _x5 86400x8"),
            s(r#"probe_ssl_earliest_cert_expiry{instance="e",job="blackbox"}"#, "1814400 1900800 2419200 2678400x16"),
            s(r#"blackbox_exporter_config_last_reload_successful{instance="x"}"#, "1 1 0 0 1"),
            s(r#"up{job="dns-resolvers",instance="r"}"#, "1 0 1 0 0 1"),
            s(r#"node_network_up{device="eth0",instance="n"}"#, "1 0 1 0 1 1 1 0 1 0 1 1x8"),
        ],
        cases: vec![
            ("probe_success == 0", t.clone()),
            ("blackbox_exporter_config_last_reload_successful != 1", t.clone()),
            ("probe_duration_seconds > 1", t.clone()),
            ("probe_http_status_code <= 199 OR probe_http_status_code >= 400", t.clone()),
            ("3 <= round((last_over_time(probe_ssl_earliest_cert_expiry[10m]) - time()) / 86400, 0.1) < 20", t.clone()),
            ("0 <= round((last_over_time(probe_ssl_earliest_cert_expiry[10m]) - time()) / 86400, 0.1) < 3", t.clone()),
            ("round((last_over_time(probe_ssl_earliest_cert_expiry[10m]) - time()) / 86400, 0.1) < 0", t.clone()),
            ("round((last_over_time(probe_ssl_earliest_cert_expiry[10m]) - time()) / 86400, 0.1)", t.clone()),
            ("probe_http_duration_seconds > 1", t.clone()),
            ("probe_icmp_duration_seconds > 1", t.clone()),
            ("probe_ssl_earliest_cert_expiry - time() < 86400 * 30", t.clone()),
            ("probe_success{job=\"blackbox-exporter\"} == 0", t.clone()),
            ("avg_over_time(probe_success{job=\"blackbox-exporter\"}[30d]) * 100 < 99.9", t.clone()),
            ("avg_over_time(probe_success[30d]) * 100", t.clone()),
            ("probe_ssl_earliest_cert_expiry{job=\"blackbox-exporter\"} - time() < 21 * 24 * 3600", t.clone()),
            ("min(probe_success{instance=\"a\"}) == 0", t.clone()),
            ("min(probe_success) == 0", t.clone()),
            ("probe_success{job='blackbox'} == 0", t.clone()),
            ("probe_ssl_earliest_cert_expiry{job='blackbox'} - time() < 86400 * 6", t.clone()),
            ("avg_over_time(probe_duration_seconds[1m]) > 10", t.clone()),
            ("avg_over_time(probe_duration_seconds[5m])", t.clone()),
            ("last_over_time(probe_success{service=\"blackbox_ssh\"}[5m]) != 1", t.clone()),
            ("probe_success{job=\"shoot\"} == 0 or absent(probe_success{job=\"shoot\", instance=\"https://k8s/healthz\"})", t.clone()),
            ("probe_success{job=\"shoot\"} == bool 1", t.clone()),
            ("probe_success == bool 1", t.clone()),
            ("up{job=\"dns-resolvers\"} == 0", t.clone()),
            ("probe_success{job=\"dns-resolvers\"} == 0", t.clone()),
            ("changes(node_network_up{device=\"eth0\"}[2m]) > 2", t.clone()),
            ("changes(node_network_up[5m])", t.clone()),
            ("changes(probe_success[10m])", t.clone()),
        ],
    });
}

#[test]
fn selectors_and_staleness_agree_with_promtool() {
    let every_30s: Vec<i64> = (0..=44).map(|i| i * 30).collect();
    agree(Group {
        name: "selectors",
        interval_s: 60,
        series: vec![
            s(r#"m{a="1",b="x"}"#, "1 2 stale 4 _x6 10"),
            s(r#"m{a="2",b="y"}"#, "0+1.5x4 stale _ 3"),
            s(r#"m{a="3"}"#, "_x3 1e3 -2.5E2 0x1"),
            s(r#"n{a="1"}"#, "NaN 1 Inf -Inf 010"),
            s(r#"{__name__="o",a="1"}"#, "5"),
        ],
        cases: vec![
            ("m", every_30s.clone()),
            ("{__name__=~\"m|o\"}", every_30s.clone()),
            ("m{a=\"1\"}", every_30s.clone()),
            ("m{a!=\"1\"}", every_30s.clone()),
            ("m{a=~\"1|2\"}", every_30s.clone()),
            ("m{a=~\"1|\"}", every_30s.clone()),
            ("m{a!~\"[12]\"}", every_30s.clone()),
            ("m{b=\"\"}", every_30s.clone()),
            ("m{b=~\"x.*\"}", every_30s.clone()),
            ("m{b=~\".\"}", every_30s.clone()),
            ("count_over_time(m[1m])", every_30s.clone()),
            ("count_over_time(m[90s])", every_30s.clone()),
            (
                "count_over_time({__name__=~\"m|o\"}[1h])",
                vec![0, 60, 600, 1200],
            ),
            ("last_over_time(m[2m])", every_30s.clone()),
            ("present_over_time(m[2m])", every_30s.clone()),
            ("absent_over_time(m{a=\"1\"}[2m])", every_30s.clone()),
            ("absent(m{a=\"1\"})", every_30s.clone()),
            ("absent(nope{a=\"1\", b=~\"x\", c=\"2\", c=\"3\"})", vec![0]),
            ("absent(nope{a=\"1\", job=\"\"})", vec![0]),
            ("absent(nope)", vec![0]),
            ("absent((nope{a=\"1\"}))", vec![0]),
            ("absent(sum(nope))", vec![0]),
            ("n > -Inf", vec![0, 60, 120, 180, 240]),
            ("n == Inf", vec![120]),
            ("o", vec![0, 299, 300, 301]),
            ("time()", vec![0, 1, 90, 12345]),
            ("vector(time())", vec![0, 90]),
            ("scalar(m{a=\"1\"})", vec![0, 60]),
            ("vector(scalar(m{a=\"1\"}))", vec![0, 60]),
        ],
    });
}

#[test]
fn operators_agree_with_promtool() {
    let t = minutes(&[0, 1, 2, 3, 4, 5]);
    agree(Group {
        name: "operators",
        interval_s: 60,
        series: vec![
            s(
                r#"http_requests{job="api",instance="0",group="production"}"#,
                "0+10x10",
            ),
            s(
                r#"http_requests{job="api",instance="1",group="production"}"#,
                "0+20x10",
            ),
            s(
                r#"http_requests{job="api",instance="0",group="canary"}"#,
                "0+30x10",
            ),
            s(
                r#"http_requests{job="app",instance="0",group="production"}"#,
                "0+50x10",
            ),
            s(
                r#"http_requests{job="app",instance="1",group="canary"}"#,
                "0+80x10",
            ),
            s(
                r#"errors{job="api",instance="0",group="production"}"#,
                "1+0.3x10",
            ),
            s(
                r#"errors{job="api",instance="1",group="production"}"#,
                "7 3 -2 0 5x6",
            ),
            s(
                r#"errors{job="app",instance="0",group="production"}"#,
                "0.1+0.7x10",
            ),
            s(r#"vector_matching_a{l="x"}"#, "0+1x10"),
            s(r#"vector_matching_a{l="y"}"#, "0+2x10"),
            s(r#"vector_matching_b{l="x"}"#, "0+4x10"),
        ],
        cases: vec![
            ("1 + 2 * 3 - 4 / 8 % 3 ^ 2", vec![0]),
            ("2 ^ 3 ^ 2", vec![0]),
            ("-2 ^ 2", vec![0]),
            (
                "(1 > bool 2) + (2 >= bool 2) * 10 + (3 != bool 3) * 100",
                vec![0],
            ),
            ("-http_requests", t.clone()),
            ("- - errors", t.clone()),
            ("http_requests + 1", t.clone()),
            ("1 - http_requests", t.clone()),
            ("http_requests * 0.1", t.clone()),
            ("http_requests / 3", t.clone()),
            ("http_requests % 7", t.clone()),
            ("http_requests % -7.5", t.clone()),
            ("errors ^ 2", t.clone()),
            ("errors ^ 0.5", vec![60, 240]),
            ("errors ^ -1.5", vec![60]),
            ("1.01 ^ http_requests", t.clone()),
            ("2 ^ errors", t.clone()),
            ("http_requests > 40", t.clone()),
            ("40 < http_requests", t.clone()),
            ("40 >= http_requests", t.clone()),
            ("http_requests > bool 40", t.clone()),
            ("40 < bool http_requests", t.clone()),
            ("http_requests == 0", t.clone()),
            ("http_requests != 0", t.clone()),
            ("http_requests{group=\"production\"} / errors", t.clone()),
            ("errors - http_requests{group=\"production\"}", t.clone()),
            ("http_requests > errors", t.clone()),
            ("http_requests > bool errors", t.clone()),
            ("errors < http_requests", t.clone()),
            ("errors >= bool http_requests", t.clone()),
            (
                "http_requests{group=\"production\"} + on(job, instance) errors",
                t.clone(),
            ),
            (
                "http_requests{group=\"canary\"} + ignoring(group) errors",
                t.clone(),
            ),
            ("http_requests > on(job, instance, group) errors", t.clone()),
            ("vector_matching_a - on(l) vector_matching_b", t.clone()),
            (
                "vector_matching_a > ignoring(l) vector_matching_b",
                t.clone(),
            ),
            ("http_requests and errors", t.clone()),
            ("http_requests and on(instance) errors", t.clone()),
            ("http_requests and ignoring(group) errors", t.clone()),
            ("http_requests{group=\"canary\"} or errors", t.clone()),
            ("errors or http_requests", t.clone()),
            ("errors or on(job) http_requests", t.clone()),
            ("http_requests or nothing", t.clone()),
            ("nothing or errors", t.clone()),
            ("http_requests unless errors", t.clone()),
            ("http_requests unless on(job) errors", t.clone()),
            (
                "http_requests unless ignoring(group, instance) errors{job=\"app\"}",
                t.clone(),
            ),
            ("http_requests unless nothing", t.clone()),
            (
                "(http_requests > 20) and (http_requests < 70) or errors unless errors > 3",
                t.clone(),
            ),
            ("http_requests > 10 < 70", t.clone()),
            ("3 <= errors < 5", t.clone()),
            ("errors > bool 2 > 0", t.clone()),
            (
                "http_requests AND errors OR vector_matching_a UNLESS vector_matching_b",
                t.clone(),
            ),
            ("http_requests - http_requests", t.clone()),
            ("http_requests == http_requests", t.clone()),
            (
                "http_requests == bool ignoring(nope) http_requests",
                t.clone(),
            ),
            ("scalar(errors{instance=\"1\"}) * http_requests", t.clone()),
            ("vector(1) + vector(2)", vec![0]),
            ("vector(1) == vector(1)", vec![0]),
        ],
    });
}

#[test]
fn aggregations_agree_with_promtool() {
    let mut series = Vec::new();
    for (i, (job, instance, group)) in [
        ("api", "0", "production"),
        ("api", "1", "production"),
        ("api", "0", "canary"),
        ("api", "1", "canary"),
        ("app", "0", "production"),
        ("app", "1", "production"),
        ("app", "0", "canary"),
        ("app", "1", "canary"),
    ]
    .iter()
    .enumerate()
    {
        series.push(s(
            &format!(r#"req{{job="{job}",instance="{instance}",group="{group}"}}"#),
            &dyadic(i as u64 + 1, 12),
        ));
    }
    series.push(s(r#"big{x="1"}"#, "1e100 1 -1e100 Inf"));
    series.push(s(r#"big{x="2"}"#, "1 1e100 1 Inf"));
    series.push(s(r#"big{x="3"}"#, "-1e100 1 1e100 -Inf"));
    series.push(s(r#"big{x="4"}"#, "3 3 3 3"));
    let t = minutes(&[0, 1, 2, 5, 11]);
    let mut cases = Vec::new();
    for op in [
        "sum", "min", "max", "avg", "count", "group", "stddev", "stdvar",
    ] {
        // avg, stddev and stdvar divide by the running count, so their rounding depends on
        // the order of the series, which promtool randomises: only groups of two for them.
        let clauses: &[&str] = if matches!(op, "avg" | "stddev" | "stdvar") {
            &[
                " by (job, group)",
                " without (instance)",
                " by (job, group, instance)",
            ]
        } else {
            &[
                "",
                " by (job)",
                " by (job, group)",
                " without (instance)",
                " by (nope)",
                " without ()",
                " by (__name__)",
            ]
        };
        for clause in clauses {
            let e: &'static str = Box::leak(format!("{op}{clause} (req)").into_boxed_str());
            cases.push((e, t.clone()));
        }
        if matches!(op, "min" | "max" | "count" | "group") {
            let e: &'static str = Box::leak(format!("{op}(big)").into_boxed_str());
            cases.push((e, minutes(&[0, 1, 2, 3])));
        }
    }
    cases.push(("sum(req) by (job)", t.clone()));
    cases.push(("sum by (group) (req{job=\"api\"}) * 2", t.clone()));
    cases.push(("sum(req > 0.5)", t.clone()));
    cases.push(("max(req) - min(req)", t.clone()));
    cases.push(("count(nothing)", t.clone()));
    cases.push(("sum(req) / count(req)", t.clone()));
    agree(Group {
        name: "aggregations",
        interval_s: 60,
        series,
        cases,
    });
}

#[test]
fn functions_agree_with_promtool() {
    let mut series = vec![
        s(
            r#"g{i="1"}"#,
            "1.5 -0.5 2.49 -2.5 0.05 0.15 0.25 1e-3 -7.77 3.3333",
        ),
        s(r#"g{i="2"}"#, "10 20 30 40 50 60 70 80 90 100"),
        s(r#"g{i="3"}"#, "-1e100 1 1e100 1 2 3 Inf 4 -Inf 5"),
        s(r#"h{i="1",src="abc-123"}"#, "1x9"),
        s(r#"h{i="2",src="x"}"#, "2x9"),
        s(r#"flap{i="1"}"#, "1 1 0 1 0 0 stale 1 1 NaN"),
    ];
    for i in 0..5 {
        series.push(s(&format!(r#"w{{i="{i}"}}"#), &awkward(100 + i, 30)));
    }
    let t = minutes(&[0, 1, 3, 7, 9]);
    let late = minutes(&[5, 12, 20, 29, 35]);
    let mut cases = vec![
        ("abs(g)", t.clone()),
        ("ceil(g)", t.clone()),
        ("floor(g)", t.clone()),
        ("round(g)", t.clone()),
        ("round(g, 0.1)", t.clone()),
        ("round(g, 5)", t.clone()),
        ("round(g, 0.3)", t.clone()),
        ("round(g, -2)", t.clone()),
        ("round(w, 0.01)", late.clone()),
        ("round(w / 7, 1/3)", late.clone()),
        ("clamp_min(g, 0)", t.clone()),
        ("clamp_max(g, 0.2)", t.clone()),
        ("clamp(g, -1, 25)", t.clone()),
        ("clamp(g, 5, -1)", t.clone()),
        (
            "label_replace(h, \"dst\", \"$1-x\", \"src\", \"([a-z]+)-(.*)\")",
            t.clone(),
        ),
        (
            "label_replace(h, \"dst\", \"${2}y$1\", \"src\", \"([a-z]+)-(.*)\")",
            t.clone(),
        ),
        ("label_replace(h, \"src\", \"\", \"src\", \"x\")", t.clone()),
        (
            "label_replace(h, \"i\", \"$0\", \"src\", \".*\")",
            t.clone(),
        ),
        (
            "label_replace(h, \"__name__\", \"renamed\", \"i\", \"1\")",
            t.clone(),
        ),
        (
            "label_replace(h, \"new\", \"$name\", \"src\", \"(?P<name>[a-z]+).*\")",
            t.clone(),
        ),
        ("changes(flap[10m])", t.clone()),
        ("changes(flap[3m])", t.clone()),
        ("changes(w[10m])", late.clone()),
    ];
    for f in [
        "sum_over_time",
        "avg_over_time",
        "min_over_time",
        "max_over_time",
        "count_over_time",
        "last_over_time",
        "present_over_time",
        "stddev_over_time",
        "stdvar_over_time",
    ] {
        for range in ["1m", "5m", "15m", "1h"] {
            let e: &'static str = Box::leak(format!("{f}(w[{range}])").into_boxed_str());
            cases.push((e, late.clone()));
        }
        let e: &'static str = Box::leak(format!("{f}(g{{i!=\"3\"}}[10m])").into_boxed_str());
        cases.push((e, t.clone()));
    }
    for q in ["0", "0.25", "0.5", "0.9", "1", "-1", "2"] {
        let e: &'static str =
            Box::leak(format!("quantile_over_time({q}, w[10m])").into_boxed_str());
        cases.push((e, late.clone()));
    }
    cases.push(("sum_over_time(g{i=\"3\"}[3m])", minutes(&[2, 3])));
    cases.push(("avg_over_time(g{i=\"3\"}[3m])", minutes(&[2, 3, 4])));
    cases.push(("max_over_time(g{i=\"3\"}[10m])", t.clone()));
    agree(Group {
        name: "functions",
        interval_s: 60,
        series,
        cases,
    });
}

#[test]
fn evaluation_errors_match_promtool() {
    both_fail(Group {
        name: "errors",
        interval_s: 60,
        series: vec![
            s(r#"a{x="1",y="1"}"#, "1x5"),
            s(r#"a{x="1",y="2"}"#, "2x5"),
            s(r#"b{x="1"}"#, "3x5"),
            s(r#"c{x="1"}"#, "4x5"),
        ],
        cases: vec![
            ("b + ignoring(y) a", vec![0]),
            ("a + on(x) b", vec![0]),
            ("{__name__=~\"b|c\"} + 1", vec![0]),
            ("-{__name__=~\"b|c\"}", vec![0]),
            ("abs({__name__=~\"b|c\"})", vec![0]),
            ("sum_over_time({__name__=~\"b|c\"}[5m])", vec![0]),
            ("label_replace(a, \"y\", \"1\", \"x\", \".*\")", vec![0]),
            ("a + on() group(b)", vec![0]),
            ("count_over_time({__name__=~\".+\"}[1h])", vec![0]),
        ],
    });
}

/// Expressions promtool refuses when it loads a rule file are refused by `Expr::parse` too,
/// as syntax or type errors (not as "unsupported").
#[test]
fn syntax_errors_match_promtool() {
    let invalid = [
        r#"{job=~".*"}"#,
        "{}",
        "foo[5m] + 1",
        "1 > 2",
        "foo and 1",
        "1 and 2",
        "abs(foo[5m])",
        "round(foo, foo)",
        r#"label_replace(foo, "a", "b")"#,
        "time(1)",
        r#"foo{__name__="bar"}"#,
        r#"-"str""#,
        "foo ==",
        "1 == bool foo[5m]",
        "changes(foo)",
        r#"vector("a")"#,
        "absent(foo, foo)",
        "x[0s]",
        "sum(foo) by (a) without (b)",
        r#"foo{a=~"("}"#,
        "count_values(1, foo)",
        "sum by (a) (foo) by (b)",
        "foo unless bool bar",
        "clamp(foo, 1)",
        "quantile_over_time(foo, foo[5m])",
        "foo[5m][5m]",
        r#""a" + 1"#,
        "foo bar",
        "topk(foo, bar)",
    ];
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
        match self.next() % 14 {
            0 | 1 => self.selector(),
            2 => {
                let op = self.pick(&["+", "-", "*", "/", "%"]);
                if self.next() % 2 == 0 {
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
                if self.next() % 2 == 0 {
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
                let arg = if self.next() % 2 == 0 {
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
    // Quarter-integers only: `sum` adds series in promtool's random order (see `dyadic`).
    let series = vec![
        s(r#"m{a="1",b="x"}"#, "1 2 3 -4 5 0 7 stale _ 3 1"),
        s(r#"m{a="2",b="x"}"#, "10 -10 0 20 _ 30 30 30 2 2 8"),
        s(r#"m{a="2",b="y"}"#, "0.5 1.5 -2.5 3.25 4 4 4 stale _x3"),
        s(r#"m{a="3"}"#, "_x2 6 6 7 -1 0 0 1 1 9"),
        s(r#"n{a="1",b="x"}"#, "2 2 2 -2 -2 0 3 3 3 3 3"),
        s(r#"n{a="2",b="y"}"#, "100 50 25 12.5 6.25 3 1 0 -1 -2 -3"),
        s(
            r#"n{a="4",b="z"}"#,
            "0.25 0.75 1.5 2.75 3.25 7.5 0.125 9.875 5.5 4.5 1",
        ),
    ];
    let mut g = Gen(20251121);
    let mut ok_cases = Vec::new();
    let mut err_cases = Vec::new();
    let probe = {
        let mut m = MemStorage::new();
        for (a, b) in &series {
            m.add(a, b, 60_000).expect("series");
        }
        m
    };
    let times = [0i64, 120, 300, 540, 600];
    let mut seen = std::collections::HashSet::new();
    while ok_cases.len() < 400 {
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
                let e: &'static str = Box::leak(e.into_boxed_str());
                err_cases.push((e, vec![0]));
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
            let e: &'static str = Box::leak(e.into_boxed_str());
            ok_cases.push((e, usable));
        }
    }
    agree(Group {
        name: "generated",
        interval_s: 60,
        series: series.clone(),
        cases: ok_cases,
    });
    if !err_cases.is_empty() {
        both_fail(Group {
            name: "generated_errors",
            interval_s: 60,
            series,
            cases: err_cases,
        });
    }
}
