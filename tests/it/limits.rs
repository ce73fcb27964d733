//! Resource limits through the real binary: `--alerts.limit` refuses new alerts (updates
//! still pass) with a 400 naming how many were refused and counts them in
//! `blackwatch_alerts_refused_total`; `--silences.max-silences` and
//! `--silences.max-silence-size-bytes` refuse silences with Alertmanager's messages.

use serde_json::{json, Value};

use crate::alerting::{client, Daemon};

const CONFIG: &str = r#"
    alerting:
      route:
        receiver: devnull
      receivers:
        - name: devnull
"#;

fn rfc3339(offset_secs: u64) -> String {
    blackwatch::clock::rfc3339(
        std::time::SystemTime::now() + std::time::Duration::from_secs(offset_secs),
    )
}

fn alerts(names: &[&str]) -> Value {
    Value::Array(
        names
            .iter()
            .map(|n| json!({"labels": {"alertname": n}, "endsAt": rfc3339(3600)}))
            .collect(),
    )
}

fn silence(name: &str, comment: &str) -> Value {
    json!({
        "matchers": [{"name": "alertname", "value": name, "isRegex": false, "isEqual": true}],
        "startsAt": rfc3339(0), "endsAt": rfc3339(3600),
        "createdBy": "test", "comment": comment
    })
}

#[tokio::test]
async fn alert_and_silence_limits_answer_400_and_count() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_with(
        dir.path(),
        CONFIG,
        &[
            "--alerts.limit=2",
            "--silences.max-silences=1",
            "--silences.max-silence-size-bytes=1000",
        ],
    )
    .await;
    let c = client();
    let post = |body: Value| {
        let c = c.clone();
        let url = d.url("/api/v2/alerts");
        async move { c.post(url).json(&body).send().await.unwrap() }
    };

    let r = post(alerts(&["A", "B", "C", "D", "E"])).await;
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("3 new alert(s) refused") && text.contains("--alerts.limit=2"),
        "{text}"
    );
    // Updates to stored alerts are accepted at the limit.
    let r = post(alerts(&["A", "B"])).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let stored: Value = d.get_json("/api/v2/alerts").await;
    let mut names: Vec<&str> = stored
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["A", "B"]);
    let metrics = d.metrics().await;
    assert!(
        metrics.contains("blackwatch_alerts_refused_total{reason=\"limit\"} 3"),
        "{metrics}"
    );

    let post_silence = |body: Value| {
        let c = c.clone();
        let url = d.url("/api/v2/silences");
        async move { c.post(url).json(&body).send().await.unwrap() }
    };
    let r = post_silence(silence("A", "maintenance")).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = post_silence(silence("B", "maintenance")).await;
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("exceeded maximum number of silences: 1 (limit: 1)"),
        "{text}"
    );
    let r = post_silence(silence("A", &"x".repeat(2000))).await;
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("silence exceeded maximum size") && text.contains("(limit: 1000 bytes)"),
        "{text}"
    );
}
