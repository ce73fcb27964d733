//! Template engine tests. The table in `tests/data/templates/prometheus.json` holds Go's own
//! output: every `expected` there was produced by promtool 2.42 (`gen.py` beside it runs
//! `promtool test rules` / `promtool check rules` over `cases.json`). The hand-written tests
//! below cover what promtool cannot show (Alertmanager-style objects, missingkey modes).

use std::collections::BTreeMap;

use super::rules::{self, RuleData};
use crate::labels::LabelSet;

#[derive(serde::Deserialize)]
struct Case {
    t: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    parse: bool,
    expected: Option<String>,
}

fn go_float(s: &str) -> f64 {
    super::prom::parse_go_float(s).unwrap_or(f64::NAN)
}

/// Every case promtool expanded (or failed to parse) gives the same text here.
#[test]
fn matches_promtool_table() {
    let cases: Vec<Case> =
        serde_json::from_str(include_str!("../../tests/data/templates/prometheus.json"))
            .expect("fixture parses");
    let default_labels: LabelSet = [("instance", "h.example.com:9100"), ("job", "node")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let ext = LabelSet::new();
    let mut failures = Vec::new();
    let mut exec_index = 0;
    for c in &cases {
        if c.parse {
            let got = rules::check("__alert_P", &c.t).err();
            if got != c.expected {
                failures.push(format!(
                    "check {:?}\n   got: {got:?}\n  want: {:?}",
                    c.t, c.expected
                ));
            }
            continue;
        }
        let name = format!("__alert_T{exec_index}");
        exec_index += 1;
        let labels = c.labels.clone().unwrap_or_else(|| default_labels.clone());
        let data = RuleData {
            labels: &labels,
            external_labels: &ext,
            external_url: "",
            value: go_float(c.value.as_deref().unwrap_or("5")),
            query: None,
        };
        let got = rules::expand(&name, &c.t, &data);
        if Some(&got) != c.expected.as_ref() {
            failures.push(format!(
                "expand {:?}\n   got: {got:?}\n  want: {:?}",
                c.t, c.expected
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from promtool:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// ---- Hand-written cases: what promtool cannot show. ----

use std::sync::Arc;

use super::am::{self, Kv};
use super::exec::{MissingKey, Templates};
use super::funcs::FuncMap;
use super::printf::{sprintf, strconv_float};
use super::time::{duration_string, GoTime};
use super::value::{Map, Object, Value};

use crate::labels::label_set as labels;

fn run(
    text: &str,
    data: &Value,
    missing: MissingKey,
    funcs: &[&FuncMap],
) -> Result<String, String> {
    let mut t = Templates::new(missing);
    t.parse("t", text, funcs).map_err(|e| e.to_string())?;
    t.execute("t", data, funcs).map_err(|e| e.to_string())
}

#[test]
fn external_url_and_path_prefix_come_from_the_caller() {
    let l = labels(&[("job", "x")]);
    let ext = labels(&[("region", "eu")]);
    let data = RuleData {
        labels: &l,
        external_labels: &ext,
        external_url: "http://prom.example.com:9090/prom",
        value: 1.0,
        query: None,
    };
    assert_eq!(
        rules::expand(
            "__alert_A",
            "{{ externalURL }}|{{ pathPrefix }}|{{ $externalURL }}|{{ $externalLabels.region }}",
            &data
        ),
        "http://prom.example.com:9090/prom|/prom|http://prom.example.com:9090/prom|eu"
    );
    let data = RuleData {
        external_url: "http://h:9090",
        ..data
    };
    assert_eq!(
        rules::expand("__alert_A", "[{{ pathPrefix }}]", &data),
        "[]"
    );
}

#[test]
fn rule_templates_give_utf8_text() {
    // Go's "\xff" is a raw byte; the alert's JSON (and so Alertmanager) sees U+FFFD.
    let l = labels(&[("job", "x")]);
    let data = RuleData {
        labels: &l,
        external_labels: &l,
        external_url: "http://prom:9090",
        value: 1.0,
        query: None,
    };
    assert_eq!(
        rules::expand("__alert_A", r#"{{ "a\xffb" }}|{{ len "\xff" }}"#, &data),
        "a\u{FFFD}b|1"
    );
}

#[test]
fn plain_text_and_check() {
    let l = LabelSet::new();
    let data = RuleData {
        labels: &l,
        external_labels: &l,
        external_url: "",
        value: 0.0,
        query: None,
    };
    assert_eq!(rules::expand("__alert_A", "no braces", &data), "no braces");
    assert_eq!(
        rules::check("__alert_A", "{{ $labels.job | toUpper }}"),
        Ok(())
    );
    // Parse errors at expansion carry the "error parsing template" prefix of Prometheus'
    // `Expander.Expand` (promtool cannot show it: such rules fail to load).
    assert_eq!(
        rules::expand("__alert_A", "{{ nope }}", &data),
        "<error expanding template: error parsing template __alert_A: template: __alert_A:1: function \"nope\" not defined>"
    );
}

#[test]
fn missing_key_modes() {
    let data = Value::from(Map::strings(&labels(&[("a", "1")])));
    assert_eq!(
        run("[{{ .b }}]", &data, MissingKey::Invalid, &[]).unwrap(),
        "[<no value>]"
    );
    assert_eq!(
        run("[{{ .b }}]", &data, MissingKey::Zero, &[]).unwrap(),
        "[]"
    );
    assert_eq!(
        run("{{ .b }}", &data, MissingKey::Error, &[]).unwrap_err(),
        "template: t:1:3: executing \"t\" at <.b>: map has no entry for key \"b\""
    );
    // map[string]interface{}: the zero value is nil, printed as <no value>.
    let any = Value::from(Map::any(Default::default()));
    assert_eq!(
        run("[{{ .b }}]", &any, MissingKey::Zero, &[]).unwrap(),
        "[<no value>]"
    );
    // index ignores missingkey and gives the element zero value.
    assert_eq!(
        run("[{{ index . \"b\" }}]", &data, MissingKey::Invalid, &[]).unwrap(),
        "[]"
    );
}

#[test]
fn parse_once_execute_many() {
    let mut t = Templates::new(MissingKey::Zero);
    t.parse(
        "t",
        "{{ range $i, $e := . }}{{ if $i }}, {{ end }}{{ $e }}{{ end }}",
        &[],
    )
    .unwrap();
    for n in 0..3i64 {
        let list = Value::from((0..n).map(Value::Int).collect::<Vec<_>>());
        let want = (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
        assert_eq!(t.execute("t", &list, &[]).unwrap(), want);
    }
}

#[test]
fn templates_redefine_and_call_each_other() {
    let mut t = Templates::new(MissingKey::Zero);
    t.parse(
        "base",
        r#"{{ define "x" }}base-x{{ end }}{{ define "y" }}[{{ template "x" . }}]{{ end }}"#,
        &[],
    )
    .unwrap();
    // A later non-empty definition replaces; an empty one does not.
    t.parse("user", r#"{{ define "x" }}user-x{{ . }}{{ end }}"#, &[])
        .unwrap();
    t.parse("user2", r#"{{ define "x" }}{{ end }}"#, &[])
        .unwrap();
    assert_eq!(t.execute("y", &Value::Int(1), &[]).unwrap(), "[user-x1]");
    let err = t.execute("nope", &Value::Nil, &[]).unwrap_err().to_string();
    assert_eq!(
        err,
        "template: no template \"nope\" associated with template \"nope\""
    );
}

#[test]
fn recursion_is_bounded() {
    let mut t = Templates::new(MissingKey::Zero);
    t.parse(
        "t",
        r#"{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}"#,
        &[],
    )
    .unwrap();
    let err = t.execute("t", &Value::Nil, &[]).unwrap_err().to_string();
    assert!(err.contains("exceeded maximum template depth"), "{err}");
}

#[test]
fn sprintf_edge_cases() {
    let f = |v: f64| Value::Float(v);
    // Precisions beyond what Rust's formatter accepts (found by fuzzing: it used to panic).
    assert_eq!(
        sprintf("%.99999999f", &[f(1.0)]),
        "%!(NOVERB)%!(EXTRA float64=1)"
    );
    assert_eq!(
        sprintf("%99999999d", &[Value::Int(1)]),
        "%!(NOVERB)%!(EXTRA int=1)"
    );
    let e = sprintf("%.70000e|%.70000g", &[f(0.1), f(0.1)]);
    assert!(
        e.starts_with("1.000000000000000055511151231257827"),
        "{}",
        &e[..40]
    );
    assert!(e.contains("e-01|0.1000000000000000055511151231257827"));
    let third = sprintf("%.70000f", &[f(1.0 / 3.0)]);
    assert_eq!(third.len(), 70_002);
    assert!(third.starts_with("0.333333333333333314829616256247"));
    assert!(third.ends_with("000"));
    assert_eq!(
        sprintf("%v|%v|%v", &[f(1e6), f(123456.0), f(1e-5)]),
        "1e+06|123456|1e-05"
    );
    assert_eq!(
        sprintf("%6.2f|%-8.3e|%+g", &[f(1.23456), f(1234.5), f(2.0)]),
        "  1.23|1.234e+03|+2"
    );
    assert_eq!(
        sprintf(
            "%05d|%x|%X|%o",
            &[
                Value::Int(-42),
                Value::Int(255),
                Value::Int(255),
                Value::Int(8)
            ]
        ),
        "-0042|ff|FF|10"
    );
    assert_eq!(sprintf("%d %d", &[Value::Int(1)]), "1 %!d(MISSING)");
    assert_eq!(
        sprintf("%d", &[Value::Int(1), Value::from("x")]),
        "1%!(EXTRA string=x)"
    );
    assert_eq!(
        sprintf(
            "%s",
            &[Value::from(vec![Value::from("a"), Value::from("b")])]
        ),
        "[a b]"
    );
    assert_eq!(
        sprintf("%d", &[Value::from(vec![Value::from("a")])]),
        "[%!d(string=a)]"
    );
    assert_eq!(
        sprintf(
            "%8.3f|%-6s|%6s",
            &[f(f64::INFINITY), Value::from("ab"), Value::from("é")]
        ),
        "    +Inf|ab    |     é"
    );
    assert_eq!(strconv_float(0.000012345, 'g', Some(3)), "1.23e-05");
    assert_eq!(strconv_float(123456789.0, 'g', Some(4)), "1.235e+08");
    assert_eq!(strconv_float(100.0, 'g', Some(3)), "100");
    assert_eq!(strconv_float(1000.0, 'g', Some(3)), "1e+03");
    assert_eq!(strconv_float(-0.0, 'g', None), "-0");
}

#[test]
fn go_time_and_duration() {
    let t = GoTime::utc(1_600_000_000, 500_000_000);
    assert_eq!(t.to_string(), "2020-09-13 12:26:40.5 +0000 UTC");
    assert_eq!(
        t.format("2006-01-02T15:04:05Z07:00"),
        "2020-09-13T12:26:40Z"
    );
    assert_eq!(
        t.format("Jan _2 06 3:04:05.000 PM -0700 Monday"),
        "Sep 13 20 12:26:40.500 PM +0000 Sunday"
    );
    let cet = GoTime {
        offset: 3600,
        zone: "CET".into(),
        ..GoTime::utc(0, 0)
    };
    assert_eq!(cet.to_string(), "1970-01-01 01:00:00 +0100 CET");
    assert_eq!(
        GoTime::utc(-1, 0).to_string(),
        "1969-12-31 23:59:59 +0000 UTC"
    );
    assert_eq!(
        GoTime::utc(951_782_400, 0).format("2006-01-02 002"),
        "2000-02-29 060"
    );
    assert_eq!(duration_string(0), "0s");
    assert_eq!(duration_string(1_500_000), "1.5ms");
    assert_eq!(duration_string(3_723_000_000_000), "1h2m3s");
    assert_eq!(duration_string(-90_500_000_000), "-1m30.5s");
    assert_eq!(duration_string(999), "999ns");
    let l = LabelSet::new();
    let data = RuleData {
        labels: &l,
        external_labels: &l,
        external_url: "",
        value: 5400.0,
        query: None,
    };
    assert_eq!(
        rules::expand(
            "__alert_A",
            "{{ toDuration $value }} {{ urlQueryEscape \"a b\" }}",
            &data
        ),
        "1h30m0s a+b"
    );
}

// An Alertmanager-shaped data model, as amtool 0.25's `template render` example data (its
// outputs below were captured from `amtool template render`).

#[derive(Debug)]
struct Alert {
    status: &'static str,
    labels: Value,
    annotations: Value,
    fingerprint: &'static str,
}

impl Object for Alert {
    fn type_name(&self) -> String {
        "template.Alert".into()
    }
    fn method(&self, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        Some(Ok(match name {
            "Status" => Value::from(self.status),
            "Labels" => self.labels.clone(),
            "Annotations" => self.annotations.clone(),
            "GeneratorURL" => Value::from("https://generatorurl.com"),
            "Fingerprint" => Value::from(self.fingerprint),
            _ => return None,
        }))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[derive(Debug)]
struct Alerts(Value);

impl Object for Alerts {
    fn type_name(&self) -> String {
        "template.Alerts".into()
    }
    fn method(&self, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        let want = match name {
            "Firing" => "firing",
            "Resolved" => "resolved",
            _ => return None,
        };
        let Value::List(l) = &self.0 else {
            return None;
        };
        let keep = l
            .iter()
            .filter(|a| match a {
                Value::Object(o) => o
                    .method("Status", &[])
                    .and_then(Result::ok)
                    .and_then(|s| s.as_str().map(|s| s == want))
                    .unwrap_or(false),
                _ => false,
            })
            .cloned()
            .collect::<Vec<_>>();
        Some(Ok(Value::Object(Arc::new(Alerts(Value::from(keep))))))
    }
    fn underlying(&self) -> Option<&Value> {
        Some(&self.0)
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn amtool_example_data() -> Value {
    let a1 = Alert {
        status: "alertstatus",
        labels: Kv::value(&labels(&[
            ("commonlabelkey1", "commonlabelvalue1"),
            ("commonlabelkey2", "commonlabelvalue2"),
            ("instance", "foo.bar:1234"),
            ("label1", "value1"),
            ("label2", "value2"),
        ])),
        annotations: Kv::value(&labels(&[
            ("annotation1", "value1"),
            ("annotation2", "value2"),
            ("commonannotationkey1", "commonannotationvalue1"),
            ("commonannotationkey2", "commonannotationvalue2"),
        ])),
        fingerprint: "fingerprint1",
    };
    let a2 = Alert {
        status: "alertstatus",
        labels: Kv::value(&labels(&[
            ("baz", "qux"),
            ("commonlabelkey1", "commonlabelvalue1"),
            ("commonlabelkey2", "commonlabelvalue2"),
            ("foo", "bar"),
        ])),
        annotations: Kv::value(&labels(&[
            ("aaa", "bbb"),
            ("ccc", "ddd"),
            ("commonannotationkey1", "commonannotationvalue1"),
            ("commonannotationkey2", "commonannotationvalue2"),
        ])),
        fingerprint: "fingerprint2",
    };
    let mut m = std::collections::BTreeMap::new();
    m.insert("Receiver".to_string(), Value::from("receiver"));
    m.insert("Status".to_string(), Value::from("alertstatus"));
    m.insert(
        "Alerts".to_string(),
        Value::Object(Arc::new(Alerts(Value::from(vec![
            Value::Object(Arc::new(a1)),
            Value::Object(Arc::new(a2)),
        ])))),
    );
    m.insert(
        "GroupLabels".to_string(),
        Kv::value(&labels(&[
            ("grouplabelkey1", "grouplabelvalue1"),
            ("grouplabelkey2", "grouplabelvalue2"),
        ])),
    );
    m.insert(
        "CommonLabels".to_string(),
        Kv::value(&labels(&[
            ("commonlabelkey1", "commonlabelvalue1"),
            ("commonlabelkey2", "commonlabelvalue2"),
        ])),
    );
    m.insert(
        "CommonAnnotations".to_string(),
        Kv::value(&labels(&[
            ("commonannotationkey1", "commonannotationvalue1"),
            ("commonannotationkey2", "commonannotationvalue2"),
        ])),
    );
    m.insert(
        "ExternalURL".to_string(),
        Value::from("https://example.com"),
    );
    Value::from(Map::any(m))
}

const AM_DEFS: &str = r#"{{ define "__subject" }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .GroupLabels.SortedPairs.Values | join " " }} {{ if gt (len .CommonLabels) (len .GroupLabels) }}({{ with .CommonLabels.Remove .GroupLabels.Names }}{{ .Values | join " " }}{{ end }}){{ end }}{{ end }}
{{ define "__text_alert_list" }}{{ range . }}Labels:
{{ range .Labels.SortedPairs }} - {{ .Name }} = {{ .Value }}
{{ end }}Annotations:
{{ range .Annotations.SortedPairs }} - {{ .Name }} = {{ .Value }}
{{ end }}Source: {{ .GeneratorURL }}
{{ end }}{{ end }}"#;

#[test]
fn alertmanager_shaped_data_matches_amtool() {
    let funcs = am::funcs(GoTime::utc(1_600_000_000, 0));
    let fm = [&funcs];
    let data = amtool_example_data();
    let render = |text: &str| {
        let mut t = Templates::new(MissingKey::Zero);
        t.parse("defs", AM_DEFS, &fm).unwrap();
        t.parse("", text, &fm).unwrap();
        t.execute("", &data, &fm).unwrap()
    };
    assert_eq!(
        render(r#"{{ template "__subject" . }}"#),
        "[ALERTSTATUS] grouplabelvalue1 grouplabelvalue2 "
    );
    assert_eq!(
        render(r#"{{ template "__text_alert_list" .Alerts }}"#),
        "Labels:\n - commonlabelkey1 = commonlabelvalue1\n - commonlabelkey2 = commonlabelvalue2\n - instance = foo.bar:1234\n - label1 = value1\n - label2 = value2\nAnnotations:\n - annotation1 = value1\n - annotation2 = value2\n - commonannotationkey1 = commonannotationvalue1\n - commonannotationkey2 = commonannotationvalue2\nSource: https://generatorurl.com\nLabels:\n - baz = qux\n - commonlabelkey1 = commonlabelvalue1\n - commonlabelkey2 = commonlabelvalue2\n - foo = bar\nAnnotations:\n - aaa = bbb\n - ccc = ddd\n - commonannotationkey1 = commonannotationvalue1\n - commonannotationkey2 = commonannotationvalue2\nSource: https://generatorurl.com\n"
    );
    assert_eq!(
        render(
            r#"{{ range .Alerts }}{{ .Fingerprint }} {{ .Status }};{{ end }}{{ len .Alerts.Resolved }}"#
        ),
        "fingerprint1 alertstatus;fingerprint2 alertstatus;0"
    );
    assert_eq!(
        render(
            r#"{{ .CommonLabels.SortedPairs.Names }}|{{ .Alerts.Firing }}|{{ printf "%v" .GroupLabels.Values }}"#
        ),
        "[commonlabelkey1 commonlabelkey2]|[]|[grouplabelvalue1 grouplabelvalue2]"
    );
    assert_eq!(
        render(r#"{{ (index .Alerts 1).Labels.SortedPairs }}"#),
        "[{baz qux} {commonlabelkey1 commonlabelvalue1} {commonlabelkey2 commonlabelvalue2} {foo bar}]"
    );
    assert_eq!(
        render(r#"{{ .CommonLabels }}|{{ .CommonLabels.Remove (stringSlice "commonlabelkey1") }}|{{ stringSlice "a" "b" }}|{{ .CommonLabels.missing }}|"#),
        "map[commonlabelkey1:commonlabelvalue1 commonlabelkey2:commonlabelvalue2]|map[commonlabelkey2:commonlabelvalue2]|[a b]||"
    );
    assert_eq!(
        render(r#"{{ title "hELLO wORLD-foo_bar" }}"#),
        "Hello World-Foo_bar"
    );
    assert_eq!(
        render(r#"{{ .Receiver }}|{{ .ExternalURL }}|{{ .Status }}"#),
        "receiver|https://example.com|alertstatus"
    );
}

#[test]
fn alertmanager_later_functions() {
    let funcs = am::funcs(GoTime::utc(1_600_000_090, 0));
    let fm = [&funcs];
    let mut m = std::collections::BTreeMap::new();
    m.insert(
        "T".to_string(),
        Value::Object(Arc::new(GoTime::utc(1_600_000_000, 0))),
    );
    m.insert(
        "L".to_string(),
        Kv::value(&labels(&[("b", "2"), ("alertname", "X"), ("a", "1")])),
    );
    let data = Value::from(Map::any(m));
    let r = |text: &str| run(text, &data, MissingKey::Zero, &fm);
    assert_eq!(
        r(r#"{{ date "2006-01-02 15:04" .T }}"#).unwrap(),
        "2020-09-13 12:26"
    );
    assert_eq!(
        r(r#"{{ (tz "UTC" .T).Format "15:04 MST" }}"#).unwrap(),
        "12:26 UTC"
    );
    assert_eq!(
        r(r#"{{ since .T }}|{{ since .T | humanizeDuration }}|{{ humanizeDuration 90061 }}"#)
            .unwrap(),
        "1m30s|1m 30s|1d 1h 1m 1s"
    );
    assert_eq!(
        r(r#"{{ .L.SortedPairs.Names | join "," }}"#).unwrap(),
        "alertname,a,b"
    );
    assert_eq!(
        r(r#"{{ toJson .L }}"#).unwrap(),
        r#"{"a":"1","alertname":"X","b":"2"}"#
    );
    assert_eq!(
        r(r#"{{ urlUnescape "a%20b+c" }}|{{ trimSpace "  x  " }}|{{ safeUrl "u" }}"#).unwrap(),
        "a b c|x|u"
    );
    assert_eq!(
        r(r#"{{ .L.Remove "a" }}"#).unwrap_err(),
        "template: t:1:5: executing \"t\" at <.L.Remove>: error calling Remove: wrong type for value; expected []string; got string"
    );
    assert_eq!(
        r(r#"{{ tz "Europe/Berlin" .T }}|{{ (tz "America/New_York" .T).Format "15:04 MST -07:00" }}"#).unwrap(),
        "2020-09-13 14:26:40 +0200 CEST|08:26 EDT -04:00"
    );
    assert_eq!(
        r(r#"{{ tz "Mars/Base" .T }}"#).unwrap_err(),
        "template: t:1:3: executing \"t\" at <tz \"Mars/Base\" .T>: error calling tz: unknown time zone Mars/Base"
    );
}

#[test]
fn hostile_nesting_is_an_error_not_a_stack_overflow() {
    let parens = format!("{{{{{}1{}}}}}", "(".repeat(1000), ")".repeat(1000));
    assert_eq!(
        rules::check("x", &parens).unwrap_err(),
        "template: x:1: max expression depth exceeded"
    );
    let ifs = format!("{}x{}", "{{ if 1 }}".repeat(1000), "{{ end }}".repeat(1000));
    assert_eq!(
        rules::check("x", &ifs).unwrap_err(),
        "template: x:1: max nesting depth exceeded"
    );
    // Recursion through templates, each level nesting 99 ifs: bounded at execution.
    let body = format!(
        "{}{{{{ template \"r\" . }}}}{}",
        "{{ if 1 }}".repeat(99),
        "{{ end }}".repeat(99)
    );
    let mut t = Templates::new(MissingKey::Zero);
    t.parse(
        "t",
        &format!("{{{{ define \"r\" }}}}{body}{{{{ end }}}}{{{{ template \"r\" . }}}}"),
        &[],
    )
    .unwrap();
    let err = t.execute("t", &Value::Nil, &[]).unwrap_err().to_string();
    assert!(
        err.ends_with("exceeded maximum template depth (300)"),
        "{err}"
    );
    // Absurd printf widths are refused as Go refuses them.
    assert_eq!(
        sprintf("%*d", &[Value::Int(10_000_000_000), Value::Int(1)]),
        "%!(BADWIDTH)1"
    );
}

/// Alertmanager 0.25's own default templates, rendered with amtool's example data; the
/// expected texts come from `amtool template render` (tests/data/templates/alertmanager/gen.py).
#[test]
fn alertmanager_default_templates_match_amtool() {
    let funcs = am::funcs(GoTime::utc(1_600_000_000, 0));
    let fm = [&funcs];
    let mut t = Templates::new(MissingKey::Zero);
    t.parse(
        "default.tmpl",
        include_str!("../../tests/data/templates/alertmanager/default.tmpl"),
        &fm,
    )
    .unwrap();
    // The HTML e-mail template parses too (it is executed by html/template upstream).
    t.parse(
        "email.tmpl",
        include_str!("../../tests/data/templates/alertmanager/email.tmpl"),
        &fm,
    )
    .unwrap();
    assert!(t.has("email.default.html"));
    let expected: BTreeMap<String, String> = serde_json::from_str(include_str!(
        "../../tests/data/templates/alertmanager/expected.json"
    ))
    .unwrap();
    assert!(expected.len() > 30);
    let data = amtool_example_data();
    for (name, want) in &expected {
        let got = t.execute(name, &data, &fm).unwrap();
        assert_eq!(&got, want, "template {name}");
    }
}

#[test]
fn query_result_helpers_and_query_itself() {
    use super::prom::{self, Sample};
    let s = |job: &str, v: f64| {
        Value::Object(Arc::new(Sample {
            labels: labels(&[("job", job), ("__value__", "raw")]),
            value: v,
        }))
    };
    let data = Value::from(vec![s("b", 2.0), s("a", 1.5)]);
    let fm = [prom::funcs()];
    let r = |text: &str, d: &Value| run(text, d, MissingKey::Zero, &fm);
    assert_eq!(
        r("{{ with first . }}{{ label \"job\" . }} {{ value . }} {{ strvalue . }} {{ .Value }}{{ end }}", &data).unwrap(),
        "b 2 raw 2"
    );
    assert_eq!(
        r(
            "{{ range sortByLabel \"job\" . }}{{ .Labels.job }}={{ .Value }};{{ end }}",
            &data
        )
        .unwrap(),
        "a=1.5;b=2;"
    );
    assert_eq!(
        r("{{ first . }}", &Value::from(Vec::<Value>::new())).unwrap_err(),
        "template: t:1:3: executing \"t\" at <first .>: error calling first: first() called on vector with no elements"
    );
    assert_eq!(
        r("{{ query \"up\" | first | value }}", &Value::Nil).unwrap_err(),
        "template: t:1:3: executing \"t\" at <query \"up\">: error calling query: no query engine here: query runs only in rule evaluations"
    );
    assert_eq!(
        r("{{ value 1.5 }}", &Value::Nil).unwrap_err(),
        "template: t:1:9: executing \"t\" at <1.5>: can't handle 1.5 for arg of type *template.sample"
    );
}

/// `query` runs the caller's query function: its samples feed the result helpers, a scalar
/// answer (one sample without labels) works with `first`/`value`, and its error becomes
/// Prometheus' `error calling query: …` inside `<error expanding template: …>`.
#[test]
fn query_runs_the_callers_query_function() {
    use super::prom::Sample;
    let asked = std::sync::Mutex::new(Vec::new());
    let query = |q: &str| -> Result<Vec<Sample>, String> {
        asked.lock().map_err(|e| e.to_string())?.push(q.to_string());
        match q {
            "up" => Ok(vec![
                Sample {
                    labels: labels(&[("__name__", "up"), ("instance", "b")]),
                    value: 0.0,
                },
                Sample {
                    labels: labels(&[("__name__", "up"), ("instance", "a")]),
                    value: 1.0,
                },
            ]),
            "scalar(up)" => Ok(vec![Sample {
                labels: LabelSet::new(),
                value: 1.5,
            }]),
            "none" => Ok(Vec::new()),
            _ => Err("rule result is not a vector or scalar".to_string()),
        }
    };
    let l = labels(&[("instance", "a")]);
    let data = RuleData {
        labels: &l,
        external_labels: &l,
        external_url: "",
        value: 0.0,
        query: Some(&query),
    };
    let x = |text: &str| rules::expand("__alert_Q", text, &data);
    assert_eq!(
        x("{{ range query \"up\" | sortByLabel \"instance\" }}{{ label \"instance\" . }}={{ value . }} {{ end }}"),
        "a=1 b=0 "
    );
    assert_eq!(
        x("{{ with query \"scalar(up)\" }}{{ . | first | value }} {{ (first .).Labels }}{{ end }}"),
        "1.5 map[]"
    );
    assert_eq!(
        x("{{ with printf \"%s\" \"up\" | query }}{{ len . }} {{ printf \"%T\" . }}{{ end }}"),
        "2 template.queryResult"
    );
    assert_eq!(
        x("{{ with query \"none\" }}some{{ else }}none{{ end }}"),
        "none"
    );
    assert_eq!(
        x("{{ query \"up[5m]\" }}"),
        "<error expanding template: error executing template __alert_Q: template: __alert_Q:1:115: executing \"__alert_Q\" at <query \"up[5m]\">: error calling query: rule result is not a vector or scalar>"
    );
    assert_eq!(
        x("{{ query \"up\" | value }}"),
        "<error expanding template: error executing template __alert_Q: template: __alert_Q:1:128: executing \"__alert_Q\" at <value>: wrong type for value; expected *template.sample; got template.queryResult>"
    );
    assert_eq!(
        x("{{ query \"none\" | first }}"),
        "<error expanding template: error executing template __alert_Q: template: __alert_Q:1:130: executing \"__alert_Q\" at <first>: error calling first: first() called on vector with no elements>"
    );
    // Other functions are unaffected, and a template without `query` never calls it.
    assert_eq!(x("{{ $labels.instance | toUpper }}"), "A");
    assert_eq!(
        asked.lock().map(|a| a.len()).unwrap_or(0),
        7,
        "one call per query"
    );
    // Without a query function (no rule evaluation), `query` fails with an error.
    let data = RuleData {
        query: None,
        ..data
    };
    assert_eq!(
        rules::expand("__alert_Q", "{{ query \"up\" }}", &data),
        "<error expanding template: error executing template __alert_Q: template: __alert_Q:1:115: executing \"__alert_Q\" at <query \"up\">: error calling query: no query engine here: query runs only in rule evaluations>"
    );
}

#[test]
fn shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Templates>();
    assert_send_sync::<FuncMap>();
    assert_send_sync::<Value>();
    assert_send_sync::<rules::RuleTemplate>();
}

#[test]
fn range_variables_hold_the_whole_value_in_else() {
    let data = Value::from(Vec::<Value>::new());
    // Go binds $e to the ranged value itself until an iteration sets it.
    assert_eq!(
        run(
            "{{ range $e := . }}x{{ else }}[{{ $e }}]{{ end }}",
            &data,
            MissingKey::Zero,
            &[]
        )
        .unwrap(),
        "[[]]"
    );
    let data = Value::from(vec![Value::from("a"), Value::from("b")]);
    assert_eq!(
        run(
            "{{ $i := 9 }}{{ range $i, $e := . }}{{ $i }}{{ $e }}{{ end }}{{ $i }}",
            &data,
            MissingKey::Zero,
            &[]
        )
        .unwrap(),
        "0a1b9"
    );
}

/// Random token soup must give a result or an error, never a panic.
#[test]
fn random_templates_never_panic() {
    let toks = [
        "{{",
        "}}",
        "{{-",
        "-}}",
        " ",
        "$labels",
        ".Labels",
        "$value",
        "|",
        "(",
        ")",
        "if",
        "else",
        "end",
        "range",
        "with",
        "define",
        "template",
        "block",
        "break",
        "continue",
        "\"x\"",
        "`r`",
        "'a'",
        "1",
        "-1.5e3",
        "0x1F",
        "printf",
        "\"%d %s %v %q %x %e %5.2f %-3s %! %*d %.*f\"",
        "humanize",
        "index",
        "slice",
        "len",
        "eq",
        "lt",
        "and",
        "or",
        "not",
        "$x",
        ":=",
        "=",
        ",",
        "$",
        ".",
        "nil",
        "true",
        "/*",
        "*/",
        "\n",
        "toTime",
        "reReplaceAll",
        "\"(\"",
        "title",
        ".a.b",
        "$labels.job",
        "args",
        "first",
        "query",
        "label",
        "@",
        "\\",
        "é",
        "{",
        "}",
    ];
    let l = labels(&[("instance", "h:9100"), ("job", "node")]);
    let d = RuleData {
        labels: &l,
        external_labels: &l,
        external_url: "http://x:9090/p",
        value: 0.5,
        query: None,
    };
    let mut seed: u64 = 0x1234_5678;
    for _ in 0..20_000 {
        let mut s = String::new();
        for _ in 0..(seed % 14) + 1 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            s.push_str(toks[(seed % toks.len() as u64) as usize]);
        }
        let _ = rules::check("__alert_F", &s);
        let _ = rules::RuleTemplate::new("__alert_F", &s).expand(&d);
        let _ = sprintf(&s, &[Value::Int(1), Value::Float(2.5), Value::from("s")]);
    }
}
