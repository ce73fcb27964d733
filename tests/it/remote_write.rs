//! `remote_write:` into a real Prometheus 2.42 started with `--web.enable-remote-write-receiver`:
//! probe results with their labels, values and timestamps; `ALERTS`; a receiver that is
//! down for a while (a loopback gate answering 503 in front of Prometheus) and a restart of
//! blackwatch with pending data, after which nothing is missing; and against a loopback
//! recorder: the protocol's headers, credentials, `headers`, `write_relabel_configs`, and a
//! 4xx answer dropped and counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use blackwatch::remote::proto;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::support::http::{handlers, HttpServer, TestRequest, TestResponse};
use crate::support::poll;
use crate::support::prometheus::Prometheus;

fn receiver() -> Prometheus {
    Prometheus::start(
        "global:\n  scrape_interval: 1h\n",
        &[],
        &["--web.enable-remote-write-receiver"],
    )
}

/// A daemon built in-process from `yaml` (written with `files` into `dir`), its state
/// under `dir/data`, so a second one on the same `dir` finds the first one's queue.
fn daemon(dir: &Path, yaml: &str, files: &[(&str, &str)]) -> blackwatch::daemon::Daemon {
    crate::support::install_crypto();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let path = dir.join("blackwatch.yml");
    std::fs::write(&path, yaml).unwrap();
    let cfg = match blackwatch::config::load(&path) {
        Ok(c) => c,
        Err(e) => panic!("config does not load:\n{e}"),
    };
    let settings = blackwatch::state::Settings {
        config_file: Some(path),
        storage_path: dir.join("data"),
        shutdown_grace: Duration::from_secs(5),
        ..Default::default()
    };
    blackwatch::daemon::Daemon::build(cfg, settings, CancellationToken::new()).unwrap()
}

#[derive(Debug, Deserialize)]
struct Answer {
    data: Data,
}

#[derive(Debug, Deserialize)]
struct Data {
    result: Vec<Series>,
}

#[derive(Debug, Deserialize)]
struct Series {
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
    #[serde(default)]
    value: Option<(f64, String)>,
}

async fn query(prom: &Prometheus, q: &str) -> Vec<Series> {
    let mut url = url::Url::parse(&format!("http://{}/api/v1/query", prom.addr)).unwrap();
    url.query_pairs_mut().append_pair("query", q);
    let Ok(resp) = reqwest::Client::new().get(url).send().await else {
        return Vec::new();
    };
    match resp.json::<Answer>().await {
        Ok(a) => a.data.result,
        Err(_) => Vec::new(),
    }
}

/// Raw sample timestamps (ms) of `selector` over the last 10 minutes.
async fn sample_times(prom: &Prometheus, selector: &str) -> BTreeSet<i64> {
    query(prom, &format!("{selector}[10m]"))
        .await
        .iter()
        .flat_map(|s| s.values.iter().map(|(t, _)| (t * 1000.0).round() as i64))
        .collect()
}

fn target() -> HttpServer {
    HttpServer::plain(handlers::ok())
}

fn probe_config(target: &str, url: &str, extra: &str) -> String {
    format!(
        "modules:\n  http_2xx: {{prober: http, timeout: 2s}}\n\
         global:\n  evaluation_interval: 1s\n  external_labels: {{site: edge1}}\n\
         probes:\n  - job: web\n    module: http_2xx\n    interval: 500ms\n    labels: {{team: ops}}\n    targets: ['{target}']\n\
         remote_write:\n  - url: {url}\n    name: central\n    queue_config: {{batch_send_deadline: 100ms, min_backoff: 20ms, max_backoff: 200ms}}\n{extra}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_results_and_alerts_arrive_in_prometheus_as_stored() {
    let mut prom = receiver();
    let site = target();
    let dir = tempfile::tempdir().unwrap();
    let rules = "groups:\n  - name: g\n    rules:\n      - alert: TargetUp\n        expr: probe_success == 1\n        labels: {severity: info}\n";
    let yaml = format!(
        "{}rule_files: [rules.yml]\n",
        probe_config(
            &site.url("/"),
            &format!("http://{}/api/v1/write", prom.addr),
            ""
        )
    );
    let d = daemon(dir.path(), &yaml, &[("rules.yml", rules)]);
    let got = poll::until(
        "probe_success and ALERTS in Prometheus",
        Duration::from_secs(30),
        async || {
            prom.assert_running();
            let p = query(&prom, "probe_success").await;
            let a = query(&prom, "ALERTS{alertname=\"TargetUp\"}").await;
            if p.is_empty() || a.is_empty() {
                return Err(format!("probe_success: {p:?}\nALERTS: {a:?}"));
            }
            Ok((p, a))
        },
    )
    .await;
    let (p, a) = got;
    let want: BTreeMap<String, String> = [
        ("__name__", "probe_success"),
        ("job", "web"),
        ("instance", site.url("/").as_str()),
        ("module", "http_2xx"),
        ("team", "ops"),
        ("site", "edge1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(p[0].metric, want);
    assert_eq!(p[0].value.as_ref().map(|v| v.1.as_str()), Some("1"));
    let alert = &a[0].metric;
    assert_eq!(alert.get("alertstate").map(String::as_str), Some("firing"));
    assert_eq!(alert.get("severity").map(String::as_str), Some("info"));
    assert_eq!(alert.get("site").map(String::as_str), Some("edge1"));
    assert!(!query(&prom, "ALERTS_FOR_STATE").await.is_empty());

    // A probe's own labelled series keep their labels next to the target's.
    let phases = query(&prom, "probe_http_duration_seconds").await;
    let names: BTreeSet<String> = phases
        .iter()
        .filter_map(|s| s.metric.get("phase").cloned())
        .collect();
    assert!(
        names.contains("connect") && names.contains("processing"),
        "{names:?}"
    );

    // Timestamps are the probes' start times, the ones the store (and rules) have.
    let stored: Vec<i64> = d
        .state()
        .store
        .instant("probe_success")
        .iter()
        .map(|s| s.timestamp_ms)
        .collect();
    let stored = stored[0];
    poll::until(
        "the stored timestamp in Prometheus",
        Duration::from_secs(10),
        async || {
            let times = sample_times(&prom, "probe_success").await;
            if times.contains(&stored) {
                Ok(())
            } else {
                Err(format!("{stored} not in {times:?}"))
            }
        },
    )
    .await;
    d.shutdown(Duration::from_secs(5)).await;
}

/// A loopback gate in front of a receiver: 503 while closed (recording what it refused),
/// forwarding while open.
struct Gate {
    server: HttpServer,
    open: Arc<AtomicBool>,
    refused: Arc<Mutex<BTreeSet<i64>>>,
}

fn gate(upstream: String) -> Gate {
    let open = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(Mutex::new(BTreeSet::new()));
    let (o, r) = (open.clone(), refused.clone());
    let server = HttpServer::plain_async(move |req: TestRequest| {
        let (o, r, upstream) = (o.clone(), r.clone(), upstream.clone());
        async move {
            if !o.load(Ordering::SeqCst) {
                if let Ok(w) = proto::decode_body(&req.body) {
                    for ts in &w.timeseries {
                        if ts
                            .labels
                            .iter()
                            .any(|l| l.name == "__name__" && l.value == "probe_success")
                        {
                            r.lock()
                                .unwrap()
                                .extend(ts.samples.iter().map(|s| s.timestamp));
                        }
                    }
                }
                return TestResponse::text(503, "closed");
            }
            let mut fwd = reqwest::Client::new()
                .post(upstream)
                .body(req.body.to_vec());
            for name in [
                "content-encoding",
                "content-type",
                "x-prometheus-remote-write-version",
            ] {
                if let Some(v) = req.header(name) {
                    fwd = fwd.header(name, v);
                }
            }
            match fwd.send().await {
                Ok(resp) => TestResponse::new(resp.status().as_u16()),
                Err(_) => TestResponse::text(503, "upstream"),
            }
        }
    });
    Gate {
        server,
        open,
        refused,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_then_blackwatch_restarted_nothing_is_lost() {
    let mut prom = receiver();
    let site = target();
    let g = gate(format!("http://{}/api/v1/write", prom.addr));
    let dir = tempfile::tempdir().unwrap();
    let yaml = probe_config(&site.url("/"), &g.server.url("/write"), "");
    let d = daemon(dir.path(), &yaml, &[]);
    // Down for a while: the first batch is refused and retried with backoff while probes
    // go on for 3 more seconds (their batches wait on disk behind it).
    let first = poll::until("a refused batch", Duration::from_secs(20), async || {
        g.refused.lock().unwrap().first().copied().ok_or("none")
    })
    .await;
    let latest = || -> i64 {
        d.state()
            .store
            .instant("probe_success")
            .first()
            .map_or(0, |s| s.timestamp_ms)
    };
    poll::until(
        "3 s of probes while down",
        Duration::from_secs(20),
        async || {
            let l = latest();
            if l >= first + 3000 {
                Ok(())
            } else {
                Err(l)
            }
        },
    )
    .await;
    // Blackwatch stops with batches pending; they are on disk.
    assert!(d.shutdown(Duration::from_secs(5)).await, "shutdown in time");
    let last = latest();
    assert!(dir.path().join("data/remote_write/central").is_dir());

    // The receiver returns; a new blackwatch on the same storage sends what was pending
    // before anything new: every probe from the first refused one to the last before the
    // restart, one every 500 ms, with no gap.
    g.open.store(true, Ordering::SeqCst);
    let d = daemon(dir.path(), &yaml, &[]);
    poll::until(
        "the gap filled in Prometheus",
        Duration::from_secs(30),
        async || {
            prom.assert_running();
            let have: Vec<i64> = sample_times(&prom, "probe_success{job=\"web\"}")
                .await
                .into_iter()
                .filter(|t| *t >= first && *t <= last)
                .collect();
            let gaps: Vec<i64> = have
                .windows(2)
                .map(|w| w[1] - w[0])
                .filter(|g| *g > 900)
                .collect();
            if have.first() == Some(&first)
                && have.last() == Some(&last)
                && gaps.is_empty()
                && have.len() >= 6
            {
                Ok(())
            } else {
                Err(format!("first {first} last {last}: {have:?}"))
            }
        },
    )
    .await;
    // And the samples of the new run arrive too.
    let before = sample_times(&prom, "probe_success{job=\"web\"}")
        .await
        .len();
    poll::until("new samples", Duration::from_secs(10), async || {
        let n = sample_times(&prom, "probe_success{job=\"web\"}")
            .await
            .len();
        if n > before {
            Ok(())
        } else {
            Err(n)
        }
    })
    .await;
    d.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_credentials_and_relabelling_reach_the_receiver_and_4xx_is_counted() {
    let site = target();
    let recorder = HttpServer::plain(handlers::fixed(400, "bad tenant"));
    let dir = tempfile::tempdir().unwrap();
    let extra = "    headers: {X-Scope-OrgID: tenant-a}\n    basic_auth: {username: bw, password: s3cret}\n    write_relabel_configs:\n      - {source_labels: [__name__], regex: 'probe_success|probe_duration_seconds', action: keep}\n      - {regex: team, action: labeldrop}\n";
    let yaml = probe_config(&site.url("/"), &recorder.url("/push"), extra);
    let d = daemon(dir.path(), &yaml, &[]);
    let req = poll::until(
        "a remote-write request",
        Duration::from_secs(20),
        async || recorder.last_request().ok_or("none"),
    )
    .await;
    assert_eq!(req.method, http::Method::POST);
    assert_eq!(req.path(), "/push");
    assert_eq!(req.header("content-encoding"), Some("snappy"));
    assert_eq!(req.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(
        req.header("x-prometheus-remote-write-version"),
        Some("0.1.0")
    );
    assert!(req
        .header("user-agent")
        .unwrap_or("")
        .starts_with("blackwatch/"));
    assert_eq!(req.header("x-scope-orgid"), Some("tenant-a"));
    // base64("bw:s3cret")
    assert_eq!(req.header("authorization"), Some("Basic Ync6czNjcmV0"));
    let w = proto::decode_body(&req.body).unwrap();
    assert!(!w.timeseries.is_empty());
    for ts in &w.timeseries {
        let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "labels sorted by name");
        assert!(!names.contains(&"team"), "labeldrop");
        let metric = &ts
            .labels
            .iter()
            .find(|l| l.name == "__name__")
            .unwrap()
            .value;
        assert!(
            metric == "probe_success" || metric == "probe_duration_seconds",
            "{metric}"
        );
    }
    // 400: dropped, counted, not retried.
    let text = poll::until(
        "failed samples counted",
        Duration::from_secs(10),
        async || {
            let (out, _) = d.state().metrics.encode(None);
            if out
                .contains("prometheus_remote_storage_samples_failed_total{remote_name=\"central\"")
            {
                Ok(out)
            } else {
                Err(out)
            }
        },
    )
    .await;
    assert!(
        text.contains("prometheus_remote_storage_samples_dropped_total{remote_name=\"central\""),
        "relabel drops counted"
    );
    assert!(
        !text.contains("prometheus_remote_storage_samples_retried_total{remote_name=\"central\""),
        "{text}"
    );
    assert!(!text.contains("s3cret"));
    // Secrets stay hidden in /config.
    let shown = d.state().config().to_yaml();
    assert!(
        shown.contains("password: <secret>") && !shown.contains("s3cret"),
        "{shown}"
    );
    d.shutdown(Duration::from_secs(5)).await;
}

const AWS_KEY_ID: &str = "AKIDEXAMPLE";
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// `sigv4`: every write is signed for `aps` in the configured region with the configured
/// keys, and botocore (an implementation independent of the signing crate) computes the
/// same signature over the request the receiver got.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv4_signs_each_write_for_aps_as_botocore_verifies() {
    let site = target();
    let recorder = HttpServer::plain(handlers::fixed(204, ""));
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "    sigv4: {{region: eu-west-1, access_key: {AWS_KEY_ID}, secret_key: '{AWS_SECRET}'}}\n"
    );
    let yaml = probe_config(
        &site.url("/"),
        &recorder.url("/workspaces/ws-1/api/v1/remote_write"),
        &extra,
    );
    let d = daemon(dir.path(), &yaml, &[]);
    let reqs = poll::until(
        "two signed remote-write requests",
        Duration::from_secs(20),
        async || {
            let r = recorder.requests();
            if r.len() >= 2 {
                Ok(r)
            } else {
                Err(r.len())
            }
        },
    )
    .await;
    for r in &reqs {
        let auth = r.header("authorization").unwrap_or_default();
        assert!(
            auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={AWS_KEY_ID}/"))
                && auth.contains("/eu-west-1/aps/aws4_request"),
            "{auth}"
        );
        assert!(r.header("x-amz-date").is_some());
        assert!(proto::decode_body(&r.body).is_ok());
    }
    let refs: Vec<&TestRequest> = reqs.iter().collect();
    crate::receivers_r3::verify_with_botocore(&refs, AWS_SECRET, None);
    // The secret stays hidden in /config.
    let shown = d.state().config().to_yaml();
    assert!(
        shown.contains("secret_key: <secret>") && !shown.contains(AWS_SECRET),
        "{shown}"
    );
    d.shutdown(Duration::from_secs(5)).await;
}

/// `sigv4.role_arn`: the keys call STS `AssumeRole` at `sts.amazonaws.com` (reached through
/// a MITM proxy on loopback, the endpoint itself excluded by `no_proxy`) once, and the writes
/// are signed with the temporary credentials and their session token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv4_role_arn_assumes_the_role_once_and_signs_with_the_session() {
    let site = target();
    let recorder = HttpServer::plain(|r: &TestRequest| {
        if String::from_utf8_lossy(&r.body).contains("Action=AssumeRole") {
            TestResponse::new(200).with_header("content-type", "text/xml").with_body(
                "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials><AccessKeyId>ASIATEMP</AccessKeyId><SecretAccessKey>tempsecret</SecretAccessKey><SessionToken>sessiontoken</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>",
            )
        } else {
            TestResponse::new(204)
        }
    });
    let proxy = crate::support::mitm::MitmProxy::start(recorder.addr());
    let extra = format!(
        "    sigv4: {{region: eu-west-1, access_key: {AWS_KEY_ID}, secret_key: '{AWS_SECRET}', role_arn: 'arn:aws:iam::123456789012:role/writer'}}\n    proxy_url: {}\n    no_proxy: 127.0.0.1\n    tls_config: {{ca_file: {}}}\n",
        proxy.url(),
        proxy.ca_file().display()
    );
    let yaml = probe_config(&site.url("/"), &recorder.url("/push"), &extra);
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(dir.path(), &yaml, &[]);
    let reqs = poll::until(
        "AssumeRole and two writes",
        Duration::from_secs(20),
        async || {
            let r = recorder.requests();
            if r.len() >= 3 {
                Ok(r)
            } else {
                Err(r.len())
            }
        },
    )
    .await;
    let sts = &reqs[0];
    assert_eq!(sts.header("host"), Some("sts.amazonaws.com"));
    assert!(String::from_utf8_lossy(&sts.body)
        .contains("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fwriter"));
    crate::receivers_r3::verify_with_botocore(&[sts], AWS_SECRET, None);
    let writes: Vec<&TestRequest> = reqs[1..].iter().collect();
    for w in &writes {
        assert_eq!(w.path(), "/push");
        assert_eq!(w.header("x-amz-security-token"), Some("sessiontoken"));
        assert!(w
            .header("authorization")
            .unwrap_or_default()
            .contains("Credential=ASIATEMP/"));
    }
    crate::receivers_r3::verify_with_botocore(&writes, "tempsecret", Some("sessiontoken"));
    assert_eq!(
        reqs.iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains("Action=AssumeRole"))
            .count(),
        1,
        "the session is reused"
    );
    d.shutdown(Duration::from_secs(5)).await;
}
