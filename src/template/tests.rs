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
