//! Table tests over `MemStorage`: cases ported from Prometheus' `promql/promqltest/testdata`
//! (`operators`, `aggregators`, `functions`, `selectors`, `literals`, `staleness`) for the
//! subset, with the expected samples as upstream writes them; plus the load-time checks.
//! (`tests/it/promql.rs` compares many more expressions live against promtool.)

use std::time::Duration;

use super::mem::parse_series;
use super::*;

fn load(interval_s: i64, series: &[(&str, &str)]) -> MemStorage {
    let mut m = MemStorage::new();
    for (s, v) in series {
        m.add(s, v, interval_s * 1000)
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    m
}

fn labels(text: &str) -> Labels {
    if text == "{}" {
        Labels::default()
    } else {
        parse_series(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || ((a - b) / b).abs() < 1e-12
}

/// Evaluates `expr` at `at_s` and compares with `want` (label text, value), in any order.
#[track_caller]
fn eval_eq(src: &MemStorage, expr: &str, at_s: i64, want: &[(&str, f64)]) {
    let e = Expr::parse(expr).unwrap_or_else(|err| panic!("{expr}: {err}"));
    let got = match e.eval(at_s * 1000, src) {
        Ok(Value::Scalar(v)) => vec![Sample {
            labels: Labels::default(),
            value: v,
        }],
        Ok(Value::Vector(v)) => v,
        Ok(other) => panic!("{expr}: unexpected {other:?}"),
        Err(err) => panic!("{expr} at {at_s}s: {err}"),
    };
    let mut want: Vec<Sample> = want
        .iter()
        .map(|(l, v)| Sample {
            labels: labels(l),
            value: *v,
        })
        .collect();
    want.sort_by(|a, b| a.labels.cmp(&b.labels));
    let ok = got.len() == want.len()
        && got
            .iter()
            .zip(&want)
            .all(|(g, w)| g.labels == w.labels && same(g.value, w.value));
    assert!(ok, "{expr} at {at_s}s:\n got  {got:?}\n want {want:?}");
}

#[track_caller]
fn eval_err(src: &MemStorage, expr: &str, at_s: i64, want: &str) {
    let e = Expr::parse(expr).unwrap_or_else(|err| panic!("{expr}: {err}"));
    match e.eval(at_s * 1000, src) {
        Err(err) => assert!(
            err.message.contains(want),
            "{expr}: error {err:?} does not contain {want:?}"
        ),
        Ok(v) => panic!("{expr}: expected an error, got {v:?}"),
    }
}

/// `load 5m` of operators.test / aggregators.test.
fn http_requests() -> MemStorage {
    load(
        300,
        &[
            (
                r#"http_requests{job="api-server", instance="0", group="production"}"#,
                "0+10x10",
            ),
            (
                r#"http_requests{job="api-server", instance="1", group="production"}"#,
                "0+20x10",
            ),
            (
                r#"http_requests{job="api-server", instance="0", group="canary"}"#,
                "0+30x10",
            ),
            (
                r#"http_requests{job="api-server", instance="1", group="canary"}"#,
                "0+40x10",
            ),
            (
                r#"http_requests{job="app-server", instance="0", group="production"}"#,
                "0+50x10",
            ),
            (
                r#"http_requests{job="app-server", instance="1", group="production"}"#,
                "0+60x10",
            ),
            (
                r#"http_requests{job="app-server", instance="0", group="canary"}"#,
                "0+70x10",
            ),
            (
                r#"http_requests{job="app-server", instance="1", group="canary"}"#,
                "0+80x10",
            ),
        ],
    )
}

const AT: i64 = 50 * 60;

#[test]
fn operators_arithmetic() {
    let m = http_requests();
    eval_eq(
        &m,
        "SUM(http_requests) BY (job) - COUNT(http_requests) BY (job)",
        AT,
        &[
            (r#"{job="api-server"}"#, 996.0),
            (r#"{job="app-server"}"#, 2596.0),
        ],
    );
    eval_eq(
        &m,
        "2 - SUM(http_requests) BY (job)",
        AT,
        &[
            (r#"{job="api-server"}"#, -998.0),
            (r#"{job="app-server"}"#, -2598.0),
        ],
    );
    eval_eq(
        &m,
        r#"-http_requests{job="api-server",instance="0",group="production"}"#,
        AT,
        &[(
            r#"{job="api-server",instance="0",group="production"}"#,
            -100.0,
        )],
    );
    eval_eq(
        &m,
        r#"+http_requests{job="api-server",instance="0",group="production"}"#,
        AT,
        &[(
            r#"http_requests{job="api-server",instance="0",group="production"}"#,
            100.0,
        )],
    );
    eval_eq(
        &m,
        "- - - SUM(http_requests) BY (job)",
        AT,
        &[
            (r#"{job="api-server"}"#, -1000.0),
            (r#"{job="app-server"}"#, -2600.0),
        ],
    );
    eval_eq(&m, "- - - 1", AT, &[("{}", -1.0)]);
    eval_eq(
        &m,
        "1000 / SUM(http_requests) BY (job)",
        AT,
        &[
            (r#"{job="api-server"}"#, 1.0),
            (r#"{job="app-server"}"#, 0.38461538461538464),
        ],
    );
    eval_eq(
        &m,
        "SUM(http_requests) BY (job) % 3",
        AT,
        &[
            (r#"{job="api-server"}"#, 1.0),
            (r#"{job="app-server"}"#, 2.0),
        ],
    );
    eval_eq(
        &m,
        "SUM(http_requests) BY (job) % 0.3",
        AT,
        &[
            (r#"{job="api-server"}"#, 0.1),
            (r#"{job="app-server"}"#, 0.2),
        ],
    );
    eval_eq(
        &m,
        "SUM(http_requests) BY (job) ^ 2",
        AT,
        &[
            (r#"{job="api-server"}"#, 1e6),
            (r#"{job="app-server"}"#, 6760000.0),
        ],
    );
    eval_eq(
        &m,
        "SUM(http_requests) BY (job) % 3 ^ 2 % 3",
        AT,
        &[
            (r#"{job="api-server"}"#, 1.0),
            (r#"{job="app-server"}"#, 2.0),
        ],
    );
    eval_eq(
        &m,
        "SUM(http_requests) BY (job) % 2 ^ (3 ^ 2)",
        AT,
        &[
            (r#"{job="api-server"}"#, 488.0),
            (r#"{job="app-server"}"#, 40.0),
        ],
    );
    eval_eq(
        &m,
        "SUM(http_requests) BY (job) % 2 ^ 3 ^ 2 ^ 2",
        AT,
        &[
            (r#"{job="api-server"}"#, 1000.0),
            (r#"{job="app-server"}"#, 2600.0),
        ],
    );
    eval_eq(
        &m,
        "COUNT(http_requests) BY (job) ^ COUNT(http_requests) BY (job)",
        AT,
        &[
            (r#"{job="api-server"}"#, 256.0),
            (r#"{job="app-server"}"#, 256.0),
        ],
    );
    eval_eq(
        &m,
        "SUM(http_requests) BY (job) / 0",
        AT,
        &[
            (r#"{job="api-server"}"#, f64::INFINITY),
            (r#"{job="app-server"}"#, f64::INFINITY),
        ],
    );
    let one = r#"{group="canary", instance="0", job="api-server"}"#;
    eval_eq(
        &m,
        r#"-1 * http_requests{group="canary", instance="0", job="api-server"} / 0"#,
        AT,
        &[(one, f64::NEG_INFINITY)],
    );
    eval_eq(
        &m,
        r#"0 * http_requests{group="canary", instance="0", job="api-server"} / 0"#,
        AT,
        &[(one, f64::NAN)],
    );
    eval_eq(
        &m,
        r#"0 * http_requests{group="canary", instance="0", job="api-server"} % 0"#,
        AT,
        &[(one, f64::NAN)],
    );
    eval_eq(
        &m,
        "(SUM((http_requests)) BY (job)) + SUM(http_requests) BY (job)",
        AT,
        &[
            (r#"{job="api-server"}"#, 2000.0),
            (r#"{job="app-server"}"#, 5200.0),
        ],
    );
}

#[test]
fn operators_set_and_matching() {
    let m = http_requests();
    eval_eq(
        &m,
        r#"http_requests{group="canary"} and http_requests{instance="0"}"#,
        AT,
        &[
            (
                r#"http_requests{group="canary", instance="0", job="api-server"}"#,
                300.0,
            ),
            (
                r#"http_requests{group="canary", instance="0", job="app-server"}"#,
                700.0,
            ),
        ],
    );
    let canary0 = [
        (r#"{group="canary", instance="0", job="api-server"}"#, 301.0),
        (r#"{group="canary", instance="0", job="app-server"}"#, 701.0),
    ];
    for e in [
        r#"(http_requests{group="canary"} + 1) and http_requests{instance="0"}"#,
        r#"(http_requests{group="canary"} + 1) and on(instance, job) http_requests{instance="0", group="production"}"#,
        r#"(http_requests{group="canary"} + 1) and on(instance) http_requests{instance="0", group="production"}"#,
        r#"(http_requests{group="canary"} + 1) and ignoring(group) http_requests{instance="0", group="production"}"#,
        r#"(http_requests{group="canary"} + 1) and ignoring(group, job) http_requests{instance="0", group="production"}"#,
    ] {
        eval_eq(&m, e, AT, &canary0);
    }
    eval_eq(
        &m,
        r#"(http_requests{group="canary"} + 1) or http_requests{instance="1"}"#,
        AT,
        &[
            (r#"{group="canary", instance="0", job="api-server"}"#, 301.0),
            (r#"{group="canary", instance="0", job="app-server"}"#, 701.0),
            (r#"{group="canary", instance="1", job="api-server"}"#, 401.0),
            (r#"{group="canary", instance="1", job="app-server"}"#, 801.0),
            (
                r#"http_requests{group="production", instance="1", job="api-server"}"#,
                200.0,
            ),
            (
                r#"http_requests{group="production", instance="1", job="app-server"}"#,
                600.0,
            ),
        ],
    );
    let canary1 = [
        (
            r#"http_requests{group="canary", instance="1", job="api-server"}"#,
            400.0,
        ),
        (
            r#"http_requests{group="canary", instance="1", job="app-server"}"#,
            800.0,
        ),
    ];
    eval_eq(
        &m,
        r#"http_requests{group="canary"} unless http_requests{instance="0"}"#,
        AT,
        &canary1,
    );
    eval_eq(
        &m,
        r#"http_requests{group="canary"} unless on(job) http_requests{instance="0"}"#,
        AT,
        &[],
    );
    eval_eq(
        &m,
        r#"http_requests{group="canary"} unless on(job, instance) http_requests{instance="0"}"#,
        AT,
        &canary1,
    );
    eval_eq(
        &m,
        r#"http_requests{group="canary"} unless ignoring(group, instance) http_requests{instance="0"}"#,
        AT,
        &[],
    );
    eval_eq(
        &m,
        r#"http_requests{group="canary"} unless ignoring(group) http_requests{instance="0"}"#,
        AT,
        &canary1,
    );
    let ratio = [
        (r#"{instance="0", job="api-server"}"#, 3.0),
        (r#"{instance="0", job="app-server"}"#, 1.4),
        (r#"{instance="1", job="api-server"}"#, 2.0),
        (r#"{instance="1", job="app-server"}"#, 1.3333333333333333),
    ];
    eval_eq(
        &m,
        r#"http_requests{group="canary"} / on(instance,job) http_requests{group="production"}"#,
        AT,
        &ratio,
    );
    eval_eq(
        &m,
        r#"http_requests{group="canary"} / ignoring(group) http_requests{group="production"}"#,
        AT,
        &ratio,
    );
    eval_eq(
        &m,
        r#"http_requests{group="canary"} or http_requests{group="production"}"#,
        AT,
        &[
            (
                r#"http_requests{group="canary", instance="0", job="api-server"}"#,
                300.0,
            ),
            (
                r#"http_requests{group="canary", instance="0", job="app-server"}"#,
                700.0,
            ),
            (
                r#"http_requests{group="canary", instance="1", job="api-server"}"#,
                400.0,
            ),
            (
                r#"http_requests{group="canary", instance="1", job="app-server"}"#,
                800.0,
            ),
            (
                r#"http_requests{group="production", instance="0", job="api-server"}"#,
                100.0,
            ),
            (
                r#"http_requests{group="production", instance="0", job="app-server"}"#,
                500.0,
            ),
            (
                r#"http_requests{group="production", instance="1", job="api-server"}"#,
                200.0,
            ),
            (
                r#"http_requests{group="production", instance="1", job="app-server"}"#,
                600.0,
            ),
        ],
    );
}

#[test]
fn operators_comparisons() {
    let m = http_requests();
    let app = [(r#"{job="app-server"}"#, 2600.0)];
    eval_eq(&m, "SUM(http_requests) BY (job) > 1000", AT, &app);
    eval_eq(&m, "1000 < SUM(http_requests) BY (job)", AT, &app);
    eval_eq(&m, "SUM(http_requests) BY (job) != 1000", AT, &app);
    let api = [(r#"{job="api-server"}"#, 1000.0)];
    eval_eq(&m, "SUM(http_requests) BY (job) <= 1000", AT, &api);
    eval_eq(&m, "SUM(http_requests) BY (job) == 1000", AT, &api);
    eval_eq(
        &m,
        "SUM(http_requests) BY (job) == bool 1000",
        AT,
        &[
            (r#"{job="api-server"}"#, 1.0),
            (r#"{job="app-server"}"#, 0.0),
        ],
    );
    eval_eq(
        &m,
        "SUM(http_requests) BY (job) == bool SUM(http_requests) BY (job)",
        AT,
        &[
            (r#"{job="api-server"}"#, 1.0),
            (r#"{job="app-server"}"#, 1.0),
        ],
    );
    eval_eq(
        &m,
        "SUM(http_requests) BY (job) != bool SUM(http_requests) BY (job)",
        AT,
        &[
            (r#"{job="api-server"}"#, 0.0),
            (r#"{job="app-server"}"#, 0.0),
        ],
    );
    eval_eq(&m, "0 == bool 1", AT, &[("{}", 0.0)]);
    eval_eq(&m, "1 == bool 1", AT, &[("{}", 1.0)]);
    eval_eq(
        &m,
        r#"http_requests{job="api-server", instance="0", group="production"} == bool 100"#,
        AT,
        &[(
            r#"{job="api-server", instance="0", group="production"}"#,
            1.0,
        )],
    );
    // Comparisons keep __name__; filter semantics keep the vector's value on either side.
    eval_eq(
        &m,
        r#"300 <= http_requests{job="api-server"} < 400"#,
        AT,
        &[(
            r#"http_requests{group="canary", instance="0", job="api-server"}"#,
            300.0,
        )],
    );
}

#[test]
fn vector_matching_errors() {
    let m = load(
        60,
        &[
            (r#"a{x="1",y="1"}"#, "1"),
            (r#"a{x="1",y="2"}"#, "2"),
            (r#"b{x="1"}"#, "3"),
            (r#"c{x="1"}"#, "4"),
        ],
    );
    eval_err(
        &m,
        "b + ignoring(y) a",
        0,
        r#"found duplicate series for the match group {x="1"} on the right hand-side of the operation"#,
    );
    eval_err(
        &m,
        "a + on(x) b",
        0,
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
    );
    eval_err(
        &m,
        r#"{__name__=~"b|c"} * 2"#,
        0,
        "vector cannot contain metrics with the same labelset",
    );
    // Filtering first, so only one left-hand element matches: no error.
    eval_eq(&m, "a > on(x) b", 0, &[]);
    eval_eq(&m, "(a > 1) + on(x) b", 0, &[(r#"{x="1"}"#, 5.0)]);
}

#[test]
fn aggregators() {
    let m = http_requests();
    eval_eq(
        &m,
        r#"sum by (group) (http_requests{job="api-server"})"#,
        AT,
        &[
            (r#"{group="canary"}"#, 700.0),
            (r#"{group="production"}"#, 300.0),
        ],
    );
    eval_eq(
        &m,
        r#"sum(http_requests{job="api-server"}) by (group)"#,
        AT,
        &[
            (r#"{group="canary"}"#, 700.0),
            (r#"{group="production"}"#, 300.0),
        ],
    );
    eval_eq(&m, "sum(http_requests)", AT, &[("{}", 3600.0)]);
    eval_eq(
        &m,
        r#"sum without (instance) (http_requests{job="api-server"})"#,
        AT,
        &[
            (r#"{group="canary", job="api-server"}"#, 700.0),
            (r#"{group="production", job="api-server"}"#, 300.0),
        ],
    );
    eval_eq(
        &m,
        r#"sum(http_requests) by (job)"#,
        AT,
        &[
            (r#"{job="api-server"}"#, 1000.0),
            (r#"{job="app-server"}"#, 2600.0),
        ],
    );
    eval_eq(
        &m,
        r#"COUNT(http_requests) BY (job)"#,
        AT,
        &[
            (r#"{job="api-server"}"#, 4.0),
            (r#"{job="app-server"}"#, 4.0),
        ],
    );
    eval_eq(
        &m,
        r#"avg(http_requests) by (job)"#,
        AT,
        &[
            (r#"{job="api-server"}"#, 250.0),
            (r#"{job="app-server"}"#, 650.0),
        ],
    );
    eval_eq(
        &m,
        r#"min(http_requests) by (job)"#,
        AT,
        &[
            (r#"{job="api-server"}"#, 100.0),
            (r#"{job="app-server"}"#, 500.0),
        ],
    );
    eval_eq(
        &m,
        r#"max(http_requests) by (job)"#,
        AT,
        &[
            (r#"{job="api-server"}"#, 400.0),
            (r#"{job="app-server"}"#, 800.0),
        ],
    );
    eval_eq(
        &m,
        r#"group(http_requests) by (job)"#,
        AT,
        &[
            (r#"{job="api-server"}"#, 1.0),
            (r#"{job="app-server"}"#, 1.0),
        ],
    );
    eval_eq(
        &m,
        r#"sum by (__name__) (http_requests)"#,
        AT,
        &[(r#"http_requests"#, 3600.0)],
    );
    eval_eq(&m, r#"sum(nonexistent)"#, AT, &[]);
    // stddev / stdvar (aggregators.test "Tests for stddev, stdvar")
    let m = load(
        300,
        &[
            (
                r#"http_requests{job="api-server", instance="0", group="production"}"#,
                "0+10x10",
            ),
            (
                r#"http_requests{job="api-server", instance="1", group="production"}"#,
                "0+20x10",
            ),
            (
                r#"http_requests{job="api-server", instance="0", group="canary"}"#,
                "0+30x10",
            ),
            (
                r#"http_requests{job="api-server", instance="1", group="canary"}"#,
                "0+40x10",
            ),
        ],
    );
    eval_eq(
        &m,
        r#"stddev(http_requests)"#,
        AT,
        &[("{}", 111.80339887498948)],
    );
    eval_eq(&m, r#"stdvar(http_requests)"#, AT, &[("{}", 12500.0)]);
    // min/max with NaN: NaN is only kept when all are NaN.
    let m = load(
        60,
        &[
            (r#"x{a="1"}"#, "NaN"),
            (r#"x{a="2"}"#, "3"),
            (r#"x{a="3"}"#, "-1"),
            (r#"y{a="1"}"#, "NaN"),
        ],
    );
    eval_eq(&m, "max(x)", 0, &[("{}", 3.0)]);
    eval_eq(&m, "min(x)", 0, &[("{}", -1.0)]);
    eval_eq(&m, "max(y)", 0, &[("{}", f64::NAN)]);
}

#[test]
fn selectors_lookback_and_staleness() {
    // selectors.test / staleness.test
    let m = load(
        10,
        &[
            (
                r#"http_requests{job="api-server", instance="0", group="production"}"#,
                "0+10x1000 100+30x1000",
            ),
            (
                r#"http_requests{job="api-server", instance="1", group="production"}"#,
                "0+20x1000 200+30x1000",
            ),
        ],
    );
    eval_eq(
        &m,
        r#"http_requests{instance="0"}"#,
        8000,
        &[(
            r#"http_requests{job="api-server", instance="0", group="production"}"#,
            8000.0,
        )],
    );
    eval_eq(
        &m,
        r#"http_requests{instance!="0"}"#,
        8000,
        &[(
            r#"http_requests{job="api-server", instance="1", group="production"}"#,
            16000.0,
        )],
    );
    eval_eq(
        &m,
        r#"http_requests{instance=~"0|1", instance!~"1"}"#,
        8000,
        &[(
            r#"http_requests{job="api-server", instance="0", group="production"}"#,
            8000.0,
        )],
    );
    // Regexes are anchored.
    eval_eq(&m, r#"http_requests{job=~"api"}"#, 8000, &[]);
    eval_eq(
        &m,
        r#"{job=~"api-.*", instance="1"}"#,
        8000,
        &[(
            r#"http_requests{job="api-server", instance="1", group="production"}"#,
            16000.0,
        )],
    );

    let m = load(10, &[("metric", "0 1 2 stale 4 _x40")]);
    eval_eq(&m, "metric", 0, &[("metric", 0.0)]);
    eval_eq(&m, "metric", 20, &[("metric", 2.0)]);
    eval_eq(&m, "metric", 30, &[]);
    eval_eq(&m, "metric", 35, &[]);
    eval_eq(&m, "metric", 40, &[("metric", 4.0)]);
    // The 5m lookback is closed in 2.x: a sample exactly 5m old is still seen.
    eval_eq(&m, "metric", 340, &[("metric", 4.0)]);
    eval_eq(&m, "metric", 341, &[]);
    eval_eq(&m, "count_over_time(metric[1m])", 50, &[("{}", 4.0)]);
    eval_eq(&m, "count_over_time(metric[10s])", 40, &[("{}", 1.0)]);
    eval_eq(&m, "count_over_time(metric[20s])", 20, &[("{}", 3.0)]);
    eval_eq(&m, "changes(metric[1m])", 60, &[("{}", 3.0)]);
    eval_eq(&m, "absent_over_time(metric[5s])", 35, &[("{}", 1.0)]);
    eval_eq(&m, "last_over_time(metric[30s])", 35, &[("metric", 2.0)]);
}

#[test]
fn literals_and_scalars() {
    let m = MemStorage::new();
    eval_eq(&m, "12.34e6", 0, &[("{}", 12340000.0)]);
    eval_eq(&m, "12.34e+6", 0, &[("{}", 12340000.0)]);
    eval_eq(&m, "12.34e-6", 0, &[("{}", 0.00001234)]);
    eval_eq(&m, "1+1", 0, &[("{}", 2.0)]);
    eval_eq(&m, "1-1", 0, &[("{}", 0.0)]);
    eval_eq(&m, "1 - -1", 0, &[("{}", 2.0)]);
    eval_eq(&m, ".2", 0, &[("{}", 0.2)]);
    eval_eq(&m, "+0.2", 0, &[("{}", 0.2)]);
    eval_eq(&m, "-0.2e-6", 0, &[("{}", -0.0000002)]);
    eval_eq(&m, "+Inf", 0, &[("{}", f64::INFINITY)]);
    eval_eq(&m, "inF", 0, &[("{}", f64::INFINITY)]);
    eval_eq(&m, "-inf", 0, &[("{}", f64::NEG_INFINITY)]);
    eval_eq(&m, "NaN", 0, &[("{}", f64::NAN)]);
    eval_eq(&m, "nan", 0, &[("{}", f64::NAN)]);
    eval_eq(&m, "2.", 0, &[("{}", 2.0)]);
    eval_eq(&m, "1 / 0", 0, &[("{}", f64::INFINITY)]);
    eval_eq(&m, "-1 / 0", 0, &[("{}", f64::NEG_INFINITY)]);
    eval_eq(&m, "0 / 0", 0, &[("{}", f64::NAN)]);
    eval_eq(&m, "1 % 0", 0, &[("{}", f64::NAN)]);
    eval_eq(&m, "time()", 3723, &[("{}", 3723.0)]);
    eval_eq(&m, "vector(1)", 0, &[("{}", 1.0)]);
    eval_eq(&m, "scalar(nothing)", 0, &[("{}", f64::NAN)]);
    eval_eq(&m, "86400 * 30", 0, &[("{}", 2592000.0)]);
}

#[test]
fn functions() {
    // functions.test: round, clamp, abs/ceil/floor, absent, label_replace, *_over_time
    let m = load(
        300,
        &[
            (
                r#"http_requests{job="api-server", instance="0", group="production"}"#,
                "0+10x10",
            ),
            (
                r#"http_requests{job="api-server", instance="1", group="production"}"#,
                "0+20x10",
            ),
        ],
    );
    // round(x, 1/to) is computed as floor(x*(1/to)+0.5)/(1/to)
    let m2 = load(
        300,
        &[
            (r#"x{a="1"}"#, "1.55"),
            (r#"x{a="2"}"#, "-2.45"),
            (r#"x{a="3"}"#, "0.15"),
        ],
    );
    eval_eq(
        &m2,
        "round(x, 0.1)",
        0,
        &[
            (r#"{a="1"}"#, 1.6),
            (r#"{a="2"}"#, -2.4),
            (r#"{a="3"}"#, 0.2),
        ],
    );
    eval_eq(
        &m2,
        "round(x)",
        0,
        &[
            (r#"{a="1"}"#, 2.0),
            (r#"{a="2"}"#, -2.0),
            (r#"{a="3"}"#, 0.0),
        ],
    );
    eval_eq(
        &m,
        "round(http_requests / 3, 5)",
        AT,
        &[
            (
                r#"{job="api-server", instance="0", group="production"}"#,
                35.0,
            ),
            (
                r#"{job="api-server", instance="1", group="production"}"#,
                65.0,
            ),
        ],
    );
    let m3 = load(
        60,
        &[
            (r#"test_clamp{src="clamp-a"}"#, "-50"),
            (r#"test_clamp{src="clamp-b"}"#, "0"),
            (r#"test_clamp{src="clamp-c"}"#, "100"),
        ],
    );
    eval_eq(
        &m3,
        "clamp_max(test_clamp, 75)",
        0,
        &[
            (r#"{src="clamp-a"}"#, -50.0),
            (r#"{src="clamp-b"}"#, 0.0),
            (r#"{src="clamp-c"}"#, 75.0),
        ],
    );
    eval_eq(
        &m3,
        "clamp_min(test_clamp, -25)",
        0,
        &[
            (r#"{src="clamp-a"}"#, -25.0),
            (r#"{src="clamp-b"}"#, 0.0),
            (r#"{src="clamp-c"}"#, 100.0),
        ],
    );
    eval_eq(
        &m3,
        "clamp(test_clamp, -25, 75)",
        0,
        &[
            (r#"{src="clamp-a"}"#, -25.0),
            (r#"{src="clamp-b"}"#, 0.0),
            (r#"{src="clamp-c"}"#, 75.0),
        ],
    );
    eval_eq(&m3, "clamp(test_clamp, 5, -5)", 0, &[]);
    eval_eq(
        &m3,
        "clamp(test_clamp, NaN, 0)",
        0,
        &[
            (r#"{src="clamp-a"}"#, f64::NAN),
            (r#"{src="clamp-b"}"#, f64::NAN),
            (r#"{src="clamp-c"}"#, f64::NAN),
        ],
    );
    eval_eq(
        &m3,
        "abs(test_clamp)",
        0,
        &[
            (r#"{src="clamp-a"}"#, 50.0),
            (r#"{src="clamp-b"}"#, 0.0),
            (r#"{src="clamp-c"}"#, 100.0),
        ],
    );
    let m4 = load(
        60,
        &[(
            r#"testcounter_reset_middle{src="source-value-10"}"#,
            "0 1 2 3 4 5 6 7 8 9",
        )],
    );
    eval_eq(
        &m4,
        r#"label_replace(testcounter_reset_middle, "dst", "destination-value-$1", "src", "source-value-(.*)")"#,
        0,
        &[(
            r#"testcounter_reset_middle{src="source-value-10",dst="destination-value-10"}"#,
            0.0,
        )],
    );
    eval_eq(
        &m4,
        r#"label_replace(testcounter_reset_middle, "dst", "destination-value-$1", "src", "value-(.*)")"#,
        0,
        &[(r#"testcounter_reset_middle{src="source-value-10"}"#, 0.0)],
    );
    eval_eq(
        &m4,
        r#"label_replace(testcounter_reset_middle, "src", "", "", "")"#,
        0,
        &[(r#"testcounter_reset_middle"#, 0.0)],
    );
    eval_eq(
        &m4,
        "changes(testcounter_reset_middle[10m])",
        540,
        &[(r#"{src="source-value-10"}"#, 9.0)],
    );
    // absent (functions.test)
    let m5 = load(
        60,
        &[(
            r#"http_requests{job="api-server", instance="0", group="production"}"#,
            "0+10x10",
        )],
    );
    eval_eq(&m5, "absent(nonexistent)", 0, &[("{}", 1.0)]);
    eval_eq(
        &m5,
        r#"absent(nonexistent{job="testjob", instance="testinstance", method=~".x"})"#,
        0,
        &[(r#"{instance="testinstance", job="testjob"}"#, 1.0)],
    );
    eval_eq(
        &m5,
        r#"absent(nonexistent{job="testjob",job="testjob2",foo="bar"})"#,
        0,
        &[(r#"{foo="bar"}"#, 1.0)],
    );
    eval_eq(
        &m5,
        r#"absent(nonexistent{job="testjob",job="testjob2",job="three",foo="bar"})"#,
        0,
        &[(r#"{foo="bar"}"#, 1.0)],
    );
    eval_eq(
        &m5,
        r#"absent(nonexistent{job="testjob",job=~"testjob2",foo="bar"})"#,
        0,
        &[(r#"{foo="bar"}"#, 1.0)],
    );
    eval_eq(&m5, "absent(http_requests)", 0, &[]);
    eval_eq(
        &m5,
        "absent(sum(nonexistent{job=\"testjob\"}))",
        0,
        &[("{}", 1.0)],
    );
    eval_eq(&m5, "absent(sum(http_requests))", 0, &[]);
    eval_eq(
        &m5,
        r#"absent_over_time(nonexistent{job="testjob"}[1h])"#,
        0,
        &[(r#"{job="testjob"}"#, 1.0)],
    );
    // *_over_time (functions.test "Tests for *_over_time")
    let m6 = load(
        10,
        &[
            (r#"data{type="numbers"}"#, "2 0 3"),
            (r#"data{type="some_nan"}"#, "2 0 NaN"),
            (r#"data{type="some_nan2"}"#, "2 NaN 1"),
            (r#"data{type="some_nan3"}"#, "NaN 0 1"),
            (r#"data{type="only_nan"}"#, "NaN NaN NaN"),
        ],
    );
    eval_eq(
        &m6,
        "min_over_time(data[1m])",
        60,
        &[
            (r#"{type="numbers"}"#, 0.0),
            (r#"{type="some_nan"}"#, 0.0),
            (r#"{type="some_nan2"}"#, 1.0),
            (r#"{type="some_nan3"}"#, 0.0),
            (r#"{type="only_nan"}"#, f64::NAN),
        ],
    );
    eval_eq(
        &m6,
        "max_over_time(data[1m])",
        60,
        &[
            (r#"{type="numbers"}"#, 3.0),
            (r#"{type="some_nan"}"#, 2.0),
            (r#"{type="some_nan2"}"#, 2.0),
            (r#"{type="some_nan3"}"#, 1.0),
            (r#"{type="only_nan"}"#, f64::NAN),
        ],
    );
    eval_eq(
        &m6,
        "last_over_time(data[1m])",
        60,
        &[
            (r#"data{type="numbers"}"#, 3.0),
            (r#"data{type="some_nan"}"#, f64::NAN),
            (r#"data{type="some_nan2"}"#, 1.0),
            (r#"data{type="some_nan3"}"#, 1.0),
            (r#"data{type="only_nan"}"#, f64::NAN),
        ],
    );
    let m7 = load(
        10,
        &[
            ("metric", "1 2 3 4 5"),
            ("metric2", "1 2 3 4 Inf"),
            ("metric3", "1 2 3 4 -Inf"),
            ("metric4", "1 2 3 Inf -Inf"),
            ("metric5", "Inf 0 Inf"),
            ("metric6", "1 2 3 4 5 6 7 8 9 10"),
        ],
    );
    eval_eq(&m7, "avg_over_time(metric[1m])", 60, &[("{}", 3.0)]);
    eval_eq(&m7, "sum_over_time(metric[1m])", 60, &[("{}", 15.0)]);
    eval_eq(
        &m7,
        "avg_over_time(metric2[1m])",
        60,
        &[("{}", f64::INFINITY)],
    );
    eval_eq(
        &m7,
        "avg_over_time(metric3[1m])",
        60,
        &[("{}", f64::NEG_INFINITY)],
    );
    eval_eq(&m7, "avg_over_time(metric4[1m])", 60, &[("{}", f64::NAN)]);
    eval_eq(
        &m7,
        "avg_over_time(metric5[1m])",
        60,
        &[("{}", f64::INFINITY)],
    );
    eval_eq(&m7, "stdvar_over_time(metric[1m])", 60, &[("{}", 2.0)]);
    eval_eq(
        &m7,
        "stddev_over_time(metric[1m])",
        60,
        &[("{}", std::f64::consts::SQRT_2)],
    );
    eval_eq(
        &m7,
        "quantile_over_time(0.5, metric6[2m])",
        100,
        &[("{}", 5.5)],
    );
    eval_eq(
        &m7,
        "quantile_over_time(0.25, metric6[2m])",
        100,
        &[("{}", 3.25)],
    );
    eval_eq(
        &m7,
        "quantile_over_time(-1, metric6[2m])",
        100,
        &[("{}", f64::NEG_INFINITY)],
    );
    eval_eq(
        &m7,
        "quantile_over_time(2, metric6[2m])",
        100,
        &[("{}", f64::INFINITY)],
    );
    eval_eq(&m7, "present_over_time(metric[1m])", 60, &[("{}", 1.0)]);
    eval_eq(&m7, "count_over_time(metric[1m])", 60, &[("{}", 5.0)]);
    eval_eq(&m7, "present_over_time(nothing[1m])", 60, &[]);
}

#[test]
fn parse_rejects_what_is_outside_the_subset() {
    let cases = [
        (
            "histogram_count(x)",
            r#"function "histogram_count" works on native histograms"#,
        ),
        ("x[5m:1m]", "not a range vector"),
        (
            "x[5m]",
            "must return an instant vector or a scalar, not a range vector",
        ),
        (
            "\"str\"",
            "must return an instant vector or a scalar, not a string",
        ),
        (
            r#"x{a="1" or b="2"}"#,
            "\"or\" inside label matchers is not supported",
        ),
        ("a + fill(0) b", "fill modifiers are not supported"),
        (
            r#"foo{"a.b"="c"}"#,
            "label name \"a.b\" is not valid in Prometheus 2.42",
        ),
        (
            r#"label_replace(x, "dst", "", "src", "(")"#,
            "invalid regular expression in label_replace(): (",
        ),
        (
            r#"label_replace(x, "1dst", "", "src", ".*")"#,
            "invalid destination label name in label_replace(): 1dst",
        ),
    ];
    for (text, want) in cases {
        match Expr::parse(text) {
            Ok(_) => panic!("{text}: accepted"),
            Err(e) => assert!(e.to_string().contains(want), "{text}: {e} (want {want})"),
        }
    }
    // Syntax errors carry promql-parser's message.
    for text in ["x ==", "sum(", "1 > 2", "x{a=~\"(\"}"] {
        assert!(
            matches!(Expr::parse(text), Err(ExprError::Parse(_))),
            "{text}: {:?}",
            Expr::parse(text)
        );
    }
}

#[test]
fn parse_keeps_text_and_lists_ranges() {
    let e = Expr::parse(
        "avg_over_time(probe_success[30d]) < 1 or changes(probe_success[2m]) > 2 or \
         last_over_time(probe_ssl_earliest_cert_expiry{job=\"x\"}[10m]) - time() < 86400 \
         or count_over_time({__name__=~\"probe_.*\"}[1h]) > 0 or up == 0",
    )
    .unwrap();
    assert!(e.text().starts_with("avg_over_time(probe_success[30d])"));
    assert_eq!(
        e.ranges(),
        vec![
            (
                "probe_ssl_earliest_cert_expiry".to_string(),
                Duration::from_secs(600)
            ),
            ("probe_success".to_string(), Duration::from_secs(30 * 86400)),
        ]
    );
    assert!(Expr::parse("up == 0").unwrap().ranges().is_empty());
    // Case-insensitive keywords, as the parser reads them.
    assert!(Expr::parse("a OR b AND c UNLESS d").is_ok());
    assert!(Expr::parse("SUM BY (job) (a)").is_ok());
}

/// The history an expression reads: range + offset + enclosing subqueries' range and
/// offset, and the 5m lookback for instant selectors that read before the evaluation time.
#[test]
fn ranges_cover_offsets_subqueries_and_lookback() {
    let min = |m: u64| Duration::from_secs(60 * m);
    let cases: &[(&str, &[(&str, Duration)])] = &[
        ("rate(a[5m] offset 1h)", &[("a", min(65))]),
        ("a offset 10m", &[("a", min(15))]),
        ("a offset -10m", &[]),
        ("a @ end()", &[]),
        ("max_over_time(a[30m:1m])", &[("a", min(35))]),
        (
            "max_over_time(rate(a[5m])[30m:1m] offset 1h)",
            &[("a", min(95))],
        ),
        ("max_over_time(a[30m:1m] @ start())", &[("a", min(35))]),
        ("a @ 100", &[]),
        ("a - a offset 1d", &[("a", min(1445))]),
    ];
    for (text, want) in cases {
        let got = Expr::parse(text).unwrap().ranges();
        let want: Vec<(String, Duration)> = want.iter().map(|(n, d)| (n.to_string(), *d)).collect();
        assert_eq!(got, want, "{text}");
    }
}

#[test]
fn labels_convert_to_label_sets() {
    let l = labels(r#"up{job="x",instance="i"}"#);
    let set = l.to_label_set();
    assert_eq!(set.get("__name__").map(String::as_str), Some("up"));
    assert_eq!(Labels::from(&set), l);
    assert_eq!(l.to_string(), r#"{__name__="up", instance="i", job="x"}"#);
    let mut m = l.without_name();
    m.set("job", "");
    assert_eq!(m.to_string(), r#"{instance="i"}"#);
}

#[test]
fn the_probe_store_answers_selectors() {
    use crate::probe::Registry;
    use crate::store::{GroupKey, Store};
    use std::collections::{BTreeMap, HashMap};

    let store = Store::new(Duration::from_secs(3600));
    let mut ranges = HashMap::new();
    ranges.insert("probe_success".to_string(), Duration::from_secs(600));
    store.set_ranges(&ranges);
    let key = |i: &str| GroupKey {
        job: "blackbox".into(),
        instance: i.into(),
        module: "http_2xx".into(),
    };
    let record = |i: &str, t: i64, ok: f64| {
        let mut reg = Registry::default();
        reg.set("probe_success", "Whether the probe succeeded", ok);
        reg.set("probe_duration_seconds", "How long the probe took", 0.5);
        store.record(&key(i), &BTreeMap::new(), t, &reg);
    };
    record("a", 0, 1.0);
    record("a", 60_000, 0.0);
    record("b", 60_000, 1.0);
    let e = Expr::parse("probe_success == 0").unwrap();
    // Hours later: the store's latest result still counts (no 5m lookback).
    let v = e.eval(10 * 3_600_000, &store).unwrap().into_vector();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].labels.get("instance"), Some("a"));
    assert_eq!(v[0].labels.get(NAME), Some("probe_success"));
    assert_eq!(v[0].labels.get("module"), Some("http_2xx"));
    let e = Expr::parse("changes(probe_success[5m])").unwrap();
    let v = e.eval(120_000, &store).unwrap().into_vector();
    assert_eq!(
        v.iter().map(|s| s.value).collect::<Vec<_>>(),
        vec![1.0, 0.0]
    );
    let e = Expr::parse(r#"count({__name__=~"probe_.*", instance="a"})"#).unwrap();
    assert_eq!(e.eval(120_000, &store).unwrap().into_vector()[0].value, 2.0);
    store.remove(&key("a"));
    let e = Expr::parse("probe_success").unwrap();
    assert_eq!(e.eval(120_000, &store).unwrap().into_vector().len(), 1);
}

#[test]
fn extreme_ranges_and_times_do_not_overflow() {
    let m = load(60, &[("x", "1 2 3")]);
    for (expr, at) in [
        ("count_over_time(x[200000000y])", 0),
        ("count_over_time(x[200000000y])", i64::MIN / 2),
        ("x", i64::MIN),
        ("time()", i64::MAX),
    ] {
        let e = Expr::parse(expr).unwrap();
        assert!(e.eval(at, &m).is_ok(), "{expr} at {at}");
    }
}

/// Among equal values, `topk`/`bottomk` keep what 2.42's heap keeps for the same input
/// order (label order here; Prometheus' storage order is not defined): for 1, 1, 2 and
/// k = 2 the first 1 is on top of the heap and is popped for the 2.
#[test]
fn topk_ties_follow_the_go_heap() {
    let m = load(
        60,
        &[
            ("x{i=\"a\"}", "1"),
            ("x{i=\"b\"}", "1"),
            ("x{i=\"c\"}", "2"),
        ],
    );
    eval_eq(
        &m,
        "topk(2, x)",
        0,
        &[("x{i=\"b\"}", 1.0), ("x{i=\"c\"}", 2.0)],
    );
    eval_eq(&m, "topk(1, x)", 0, &[("x{i=\"c\"}", 2.0)]);
    eval_eq(
        &m,
        "topk(3, x)",
        0,
        &[
            ("x{i=\"a\"}", 1.0),
            ("x{i=\"b\"}", 1.0),
            ("x{i=\"c\"}", 2.0),
        ],
    );
    let m = load(
        60,
        &[
            ("x{i=\"a\"}", "2"),
            ("x{i=\"b\"}", "2"),
            ("x{i=\"c\"}", "1"),
        ],
    );
    eval_eq(
        &m,
        "bottomk(2, x)",
        0,
        &[("x{i=\"b\"}", 2.0), ("x{i=\"c\"}", 1.0)],
    );
    // NaN is the worst value for both, and is replaced by any other.
    let m = load(
        60,
        &[
            ("x{i=\"a\"}", "NaN"),
            ("x{i=\"b\"}", "3"),
            ("x{i=\"c\"}", "NaN"),
            ("x{i=\"d\"}", "-1"),
        ],
    );
    eval_eq(
        &m,
        "topk(2, x)",
        0,
        &[("x{i=\"b\"}", 3.0), ("x{i=\"d\"}", -1.0)],
    );
    eval_eq(
        &m,
        "bottomk(2, x)",
        0,
        &[("x{i=\"b\"}", 3.0), ("x{i=\"d\"}", -1.0)],
    );
    eval_eq(&m, "topk(1, x)", 0, &[("x{i=\"b\"}", 3.0)]);
}

/// A subquery without a step steps by the interval it is given (Prometheus' global
/// `evaluation_interval`), 1m by default as in promtool's unit tests; an explicit step wins.
#[test]
fn stepless_subquery_steps_by_the_evaluation_interval() {
    // One sample per 15s: 0, 1, 2, …, 40 over 10 minutes.
    let m = load(15, &[("x", "0+1x40")]);
    let expr = Expr::parse("count_over_time(x[5m:])").expect("parses");
    let at = 600_000;
    let count = |step: i64| match expr.eval_with_step(at, &m, step).expect("evaluates") {
        Value::Vector(v) => v.first().map(|s| s.value),
        _ => None,
    };
    // (5m, 10m] stepped by 1m: 6m … 10m = 5 points, plus the aligned start 5m = 6.
    assert_eq!(
        expr.eval(at, &m).ok().map(|v| v.into_vector().len()),
        Some(1)
    );
    assert_eq!(count(DEFAULT_SUBQUERY_STEP_MS), Some(6.0));
    assert_eq!(count(15_000), Some(21.0));
    assert_eq!(count(30_000), Some(11.0));
    // Zero or negative (no interval known) is the 1m default.
    assert_eq!(count(0), Some(6.0));
    let explicit = Expr::parse("count_over_time(x[5m:30s])").expect("parses");
    match explicit.eval_with_step(at, &m, 15_000).expect("evaluates") {
        Value::Vector(v) => assert_eq!(v.first().map(|s| s.value), Some(11.0)),
        other => panic!("not a vector: {other:?}"),
    }
}

/// `instant_query`, what a template's `query` runs (Prometheus' `EngineQueryFunc`): a vector
/// as is, a scalar as one sample without labels, range vectors and strings an error with
/// Prometheus' text; parse errors and constructs outside the subset are errors too.
#[test]
fn instant_query_is_engine_query_func() {
    let m = load(
        60,
        &[("up{instance=\"a\"}", "1 0"), ("up{instance=\"b\"}", "1 1")],
    );
    let q = |text: &str, at_s: i64| instant_query(text, at_s * 1000, DEFAULT_SUBQUERY_STEP_MS, &m);
    let got = q("up", 60).expect("vector");
    assert_eq!(
        got.iter()
            .map(|s| (s.labels.to_string(), s.value))
            .collect::<Vec<_>>(),
        vec![
            (r#"{__name__="up", instance="a"}"#.to_string(), 0.0),
            (r#"{__name__="up", instance="b"}"#.to_string(), 1.0),
        ]
    );
    // Evaluated at the given time: at 0s both were up.
    assert_eq!(q("sum(up)", 0).expect("sum")[0].value, 2.0);
    assert_eq!(q("sum(up)", 60).expect("sum")[0].value, 1.0);
    assert_eq!(
        q("scalar(sum(up))", 60),
        Ok(vec![Sample {
            labels: Labels::default(),
            value: 1.0
        }])
    );
    assert_eq!(
        q("time()", 90).map(|v| v[0].clone()),
        Ok(Sample {
            labels: Labels::default(),
            value: 90.0
        })
    );
    assert_eq!(q("up{instance=\"c\"}", 60), Ok(Vec::new()));
    let not_vector = Err("rule result is not a vector or scalar".to_string());
    assert_eq!(q("up[5m]", 60), not_vector);
    assert_eq!(q("\"text\"", 60), not_vector);
    assert_eq!(
        q("sum(", 60),
        Err("parse error: unclosed left parenthesis".to_string())
    );
    assert!(
        q("histogram_sum(up)", 60).is_err_and(|e| e.contains("histogram_sum")),
        "outside the subset"
    );
    // Evaluation errors keep Prometheus' text.
    let m = load(
        60,
        &[("x{a=\"1\", b=\"1\"}", "1"), ("x{a=\"1\", b=\"2\"}", "1")],
    );
    assert!(
        instant_query("sum by (a) (x) + on(a) x", 0, DEFAULT_SUBQUERY_STEP_MS, &m)
            .is_err_and(|e| e.contains("many-to-many matching not allowed"))
    );
}

#[test]
fn metric_names_lists_what_selectors_read_or_none_for_any() {
    let names = |e: &str| Expr::parse(e).unwrap().metric_names();
    assert_eq!(
        names(
            "count(probe_success == 0) > 5 and on() avg_over_time(probe_duration_seconds[5m]) > 1"
        ),
        Some(
            [
                "probe_duration_seconds".to_string(),
                "probe_success".to_string()
            ]
            .into()
        )
    );
    assert_eq!(
        names("max_over_time(probe_success[10m:1m]) - 1"),
        Some(["probe_success".to_string()].into())
    );
    assert_eq!(names("vector(1)"), Some(Default::default()));
    assert_eq!(names("{__name__=~\"probe_.*\"} == 0"), None);
    assert_eq!(names("{__name__!=\"x\", job=\"a\"} == 0"), None);
}
