//! The differential harness for receivers: the same alertmanager.yml, the same alerts, sent
//! once through the real Alertmanager 0.25 and once through blackwatch's integrations, each
//! side's API URL pointed at its own loopback [`Recorder`]; the recorded requests must be
//! equal (method, path and query, the headers that matter, the body as JSON or form) apart
//! from the volatile fields a test names.
//!
//! Any integration that talks HTTP can use it: write the config with `RECORDER` where its
//! API URL goes (give each integration its own path, e.g. `RECORDER/slack/0`) and
//! `RECORDER_URL_FILE` where a `*_url_file` goes (a file per side holding
//! `  RECORDER/from-file` and a newline, so trimming is exercised), say what to compare in
//! a [`Compare`], and pass the alerts of each step to [`differential`]. An integration with
//! a fixed `https://` URL gets `http_config: {proxy_url: MITM_PROXY, tls_config: {ca_file:
//! MITM_CA}}`: each side then talks through its own `support::mitm::MitmProxy` to its
//! recorder.
//!
//! How a step runs: the step's alerts (the whole group: firing ones with a zero `ends_at`,
//! resolved ones with an `ends_at` in the past) are posted to Alertmanager; blackwatch's
//! integrations get the same group through `alert::dedup::needs_update` (with each
//! integration's `send_resolved`), as the pipeline would hand it to them; then the harness
//! waits for Alertmanager to send as many requests as blackwatch did (an integration may
//! make several per notification, e.g. WeChat's token fetch). What is compared is
//! the requests, not the timing. At the end it waits one more `group_interval` and checks
//! Alertmanager sent nothing more.
//!
//! The config's root route must send to the first receiver with `group_by: [alertname]`
//! and a short `group_wait` / `group_interval` ([`ROUTE`] is one).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use blackwatch::alert::config::load_str;
use blackwatch::alert::dedup::needs_update;
use blackwatch::alert::nflog::Entry;
use blackwatch::alert::notify::{Integration, NotifyContext};
use blackwatch::alert::store::Alert;
use blackwatch::labels::LabelSet;

use super::am::{start_am, EXTERNAL_URL};
use super::mitm::MitmProxy;
use super::{poll, HttpServer, TestRequest, TestResponse};

/// A root route for [`differential`] configs. `group_wait` 2s: the alerts of a step, posted
/// at once, must all be in the group when it first flushes, even on a loaded machine.
pub const ROUTE: &str = "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 2s\n  group_interval: 2s\n  repeat_interval: 1h\n";

/// How long Alertmanager may take to flush a step (group_wait, group_interval, retries).
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// A loopback HTTP server that records every request and answers with `answer`.
pub struct Recorder {
    server: HttpServer,
}

impl Recorder {
    pub fn start(answer: fn(&TestRequest) -> TestResponse) -> Self {
        Self {
            server: HttpServer::plain(answer),
        }
    }

    /// `http://127.0.0.1:PORT`, what `RECORDER` stands for.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    pub fn requests(&self) -> Vec<TestRequest> {
        self.server.requests()
    }
}

/// How request bodies are compared.
#[derive(Clone, Copy, Debug)]
pub enum BodyKind {
    /// Parsed as JSON; `volatile` are JSON pointers removed from both sides first.
    Json,
    /// `application/x-www-form-urlencoded` pairs, in order; `volatile` are keys removed.
    Form,
    /// Parameters in the query string (Pushover's empty POST): the path is compared without
    /// the query, the query as form pairs in order with the `volatile` keys removed, and
    /// the bodies byte for byte.
    Query,
}

/// What one integration's comparison checks.
#[derive(Clone, Copy, Debug)]
pub struct Compare<'a> {
    /// Header names compared (e.g. `content-type`, `authorization`). `User-Agent` differs on
    /// purpose (`Alertmanager/0.25.0` vs `blackwatch/…`).
    pub headers: &'a [&'a str],
    pub body: BodyKind,
    /// Fields that differ between runs (timestamps, random ids): JSON pointers or form keys.
    pub volatile: &'a [&'a str],
    /// Also require byte-identical bodies (only when nothing is volatile).
    pub exact_bytes: bool,
    /// The recorders' answer.
    pub answer: fn(&TestRequest) -> TestResponse,
}

/// One request each side made for the same notification.
#[derive(Debug)]
pub struct Exchange {
    pub step: usize,
    pub am: TestRequest,
    pub bw: TestRequest,
}

impl Exchange {
    /// Alertmanager's body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.am.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Runs `steps` through Alertmanager 0.25 and through blackwatch's integrations of the first
/// receiver of `config` (see the module doc), compares every request and returns them.
pub async fn differential(config: &str, steps: &[Vec<Alert>], cmp: &Compare<'_>) -> Vec<Exchange> {
    super::install_crypto();
    let am_rec = Recorder::start(cmp.answer);
    let bw_rec = Recorder::start(cmp.answer);
    let dir = tempfile::tempdir().unwrap();
    // `MITM_PROXY` / `MITM_CA`: an intercepting proxy per side in front of its recorder
    // (support/mitm.rs), for integrations whose API URL is fixed (Pushover).
    let mitm = config.contains("MITM_PROXY").then(|| {
        (
            MitmProxy::start(am_rec.server.addr()),
            MitmProxy::start(bw_rec.server.addr()),
        )
    });
    let side = |who: &str, rec: &Recorder| {
        let file = dir.path().join(format!("{who}_url"));
        std::fs::write(&file, format!("  {}/from-file\n", rec.url())).unwrap();
        let mut c = config
            .replace("RECORDER_URL_FILE", &file.display().to_string())
            .replace("RECORDER", &rec.url());
        if let Some((am_proxy, bw_proxy)) = &mitm {
            let proxy = if who == "am" { am_proxy } else { bw_proxy };
            c = c
                .replace("MITM_PROXY", &proxy.url())
                .replace("MITM_CA", &proxy.ca_file().display().to_string());
        }
        c
    };
    let am = start_am(&side("am", &am_rec)).await;

    let path = dir.path().join("alertmanager.yml");
    let bw_yaml = side("bw", &bw_rec);
    std::fs::write(&path, &bw_yaml).unwrap();
    let cfg = load_str(&bw_yaml, &path).unwrap_or_else(|e| panic!("blackwatch config: {e}"));
    let receiver = &cfg.receivers[0];
    assert_eq!(
        cfg.route.opts.receiver, receiver.name,
        "route to the first receiver"
    );
    let shared = blackwatch::alert::notify::webhook::http_client().unwrap();
    let (built, errors) = blackwatch::alert::notify::build::build_integrations(
        receiver,
        &shared,
        dir.path(),
        &cfg.template_set,
    );
    assert!(errors.is_empty(), "{errors:?}");
    let integrations: Vec<Integration> = built.into_iter().map(|(_, i)| i).collect();
    let mut entries: Vec<Option<Entry>> = vec![None; integrations.len()];

    let mut out = Vec::new();
    let mut expected = 0;
    for (step, alerts) in steps.iter().enumerate() {
        am.post(alerts).await;
        let now = SystemTime::now();
        let mut alerts = alerts.clone();
        alerts.sort_by(|a, b| blackwatch::alert::dispatch::alert_order(&a.labels, &b.labels));
        let resolved = |a: &Alert| a.ends_at != UNIX_EPOCH && a.ends_at <= now;
        let set = |want: bool| -> BTreeSet<u64> {
            alerts
                .iter()
                .filter(|a| resolved(a) == want)
                .map(Alert::fingerprint)
                .collect()
        };
        let (firing, resolved_set) = (set(false), set(true));
        let alertname = alerts[0]
            .labels
            .get("alertname")
            .cloned()
            .unwrap_or_default();
        let group_labels: LabelSet = [("alertname".to_string(), alertname.clone())].into();
        let before = bw_rec.requests().len();
        let mut sends = 0;
        for (i, entry) in integrations.iter().zip(entries.iter_mut()) {
            let Some(reason) = needs_update(
                entry.as_ref(),
                &firing,
                &resolved_set,
                i.send_resolved,
                Duration::from_secs(3600),
                now,
            ) else {
                continue;
            };
            let send: Vec<Alert> = alerts
                .iter()
                .filter(|a| i.send_resolved || !resolved(a))
                .cloned()
                .collect();
            if !send.is_empty() {
                let ctx = NotifyContext {
                    receiver: receiver.name.clone(),
                    group_key: format!("{{}}:{{alertname={alertname:?}}}"),
                    group_labels: group_labels.clone(),
                    external_url: EXTERNAL_URL.into(),
                    reason,
                    now,
                };
                i.notifier
                    .notify(&ctx, &send)
                    .await
                    .unwrap_or_else(|e| panic!("blackwatch {:?}: {e}", i));
                sends += 1;
            }
            *entry = Some(Entry {
                timestamp: now,
                firing: firing.clone(),
                resolved: resolved_set.clone(),
                expires_at: now + Duration::from_secs(7200),
            });
        }
        // An integration may make several requests per notification (Opsgenie's updates,
        // WeChat's token fetch): Alertmanager must make as many as blackwatch did.
        let made = bw_rec.requests().len() - before;
        assert!(made >= sends, "{made} requests for {sends} notifications");
        expected += made;
        poll::until(
            &format!("Alertmanager's {expected} requests (step {step})"),
            STEP_TIMEOUT,
            async || {
                let got = am_rec.requests().len();
                if got >= expected {
                    Ok(())
                } else {
                    Err(format!("{got} requests"))
                }
            },
        )
        .await;
        let mut am_reqs = am_rec.requests()[expected - made..].to_vec();
        let mut bw_reqs = bw_rec.requests()[before..].to_vec();
        assert_eq!(am_reqs.len(), made, "Alertmanager sent more in step {step}");
        let key = |r: &TestRequest| (r.path_and_query().to_string(), r.body.clone());
        am_reqs.sort_by_key(key);
        bw_reqs.sort_by_key(key);
        for (a, b) in am_reqs.into_iter().zip(bw_reqs) {
            compare(step, &a, &b, cmp);
            out.push(Exchange { step, am: a, bw: b });
        }
    }
    // Nothing more from Alertmanager after one more group_interval.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(am_rec.requests().len(), expected, "Alertmanager sent more");
    out
}

/// Asserts that `bw` is `am` apart from what `cmp` ignores.
pub fn compare(step: usize, am: &TestRequest, bw: &TestRequest, cmp: &Compare<'_>) {
    let at = format!("step {step}, {}", am.path_and_query());
    assert_eq!(bw.method, am.method, "method, {at}");
    if let BodyKind::Query = cmp.body {
        assert_eq!(bw.path(), am.path(), "path, {at}");
    } else {
        assert_eq!(bw.path_and_query(), am.path_and_query(), "path, {at}");
    }
    for h in cmp.headers {
        assert_eq!(bw.header(h), am.header(h), "header {h}, {at}");
    }
    match cmp.body {
        // A GET (WeChat's token fetch) has no body on either side.
        BodyKind::Json if am.body.is_empty() => {
            assert!(bw.body.is_empty(), "body, {at}: {}", bw.body_str());
        }
        BodyKind::Json => {
            let parse = |r: &TestRequest| -> serde_json::Value {
                let mut v: serde_json::Value = serde_json::from_slice(&r.body)
                    .unwrap_or_else(|e| panic!("{at}: not JSON ({e}): {}", r.body_str()));
                for p in cmp.volatile {
                    remove_pointer(&mut v, p);
                }
                v
            };
            let (a, b) = (parse(am), parse(bw));
            if a != b {
                let dir = std::env::temp_dir();
                let name = |who: &str| {
                    dir.join(format!(
                        "{who}-step{step}-{}.json",
                        am.path().trim_start_matches('/').replace('/', "-")
                    ))
                };
                let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap();
                std::fs::write(name("am"), pretty(&a)).unwrap();
                std::fs::write(name("bw"), pretty(&b)).unwrap();
                panic!(
                    "body differs, {at} (diff {} {})",
                    name("am").display(),
                    name("bw").display()
                );
            }
        }
        BodyKind::Form => {
            let parse = |r: &TestRequest| -> Vec<(String, String)> {
                url::form_urlencoded::parse(&r.body)
                    .into_owned()
                    .filter(|(k, _)| !cmp.volatile.contains(&k.as_str()))
                    .collect()
            };
            assert_eq!(parse(bw), parse(am), "form body, {at}");
        }
        BodyKind::Query => {
            let parse = |r: &TestRequest| -> Vec<(String, String)> {
                let query = r.path_and_query().split_once('?').map_or("", |(_, q)| q);
                url::form_urlencoded::parse(query.as_bytes())
                    .into_owned()
                    .filter(|(k, _)| !cmp.volatile.contains(&k.as_str()))
                    .collect()
            };
            assert_eq!(parse(bw), parse(am), "query, {at}");
            assert_eq!(bw.body, am.body, "body, {at}");
        }
    }
    if cmp.exact_bytes {
        assert_eq!(bw.body_str(), am.body_str(), "body bytes, {at}");
    }
}

/// Removes the value at JSON pointer `p` (no-op when absent).
fn remove_pointer(v: &mut serde_json::Value, p: &str) {
    let Some((parent, last)) = p.rsplit_once('/') else {
        return;
    };
    match v.pointer_mut(parent) {
        Some(serde_json::Value::Object(m)) => {
            m.remove(last);
        }
        Some(serde_json::Value::Array(a)) => {
            if let Ok(i) = last.parse::<usize>() {
                if i < a.len() {
                    a.remove(i);
                }
            }
        }
        _ => {}
    }
}

/// The template files of the repository's test data, for `templates:` lines.
pub fn test_data(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
        .display()
        .to_string()
}

/// An alert of group `alertname` starting at a fixed time; `resolved` sets `ends_at` a
/// second in the past (so both sides see it resolved).
pub fn alert(labels: &[(&str, &str)], annotations: &[(&str, &str)], resolved: bool) -> Alert {
    Alert {
        labels: blackwatch::labels::label_set(labels),
        annotations: blackwatch::labels::label_set(annotations),
        starts_at: UNIX_EPOCH + Duration::from_secs(1_795_000_000),
        ends_at: if resolved {
            SystemTime::now() - Duration::from_secs(1)
        } else {
            UNIX_EPOCH
        },
        generator_url: "http://prom.test/graph?g0.expr=probe_success+%3D%3D+0&g0.tab=1".into(),
        updated_at: UNIX_EPOCH,
        timeout: false,
    }
}

/// Two alerts of one group firing (`summary` on the first: HTML-sensitive text and
/// non-ASCII, to exercise escaping; `runbook` on both), then the second resolved: the steps most receiver
/// comparisons send.
pub fn two_steps(
    summary: &'static str,
    runbook: &'static str,
    extra: &[(&str, &str)],
) -> Vec<Vec<Alert>> {
    let ann = |summary: &'static str| -> Vec<(&str, &str)> {
        let mut v = vec![("summary", summary), ("runbook", runbook)];
        v.extend_from_slice(extra);
        v
    };
    let labels = |inst: &'static str| {
        [
            ("alertname", "ProbeDown"),
            ("instance", inst),
            ("job", "blackbox"),
            ("severity", "critical"),
        ]
    };
    let a = alert(&labels("https://a.test"), &ann(summary), false);
    let b = alert(&labels("http://b.test"), &ann("Probe failed for b"), false);
    let b_resolved = alert(&labels("http://b.test"), &ann("Probe failed for b"), true);
    vec![vec![a.clone(), b], vec![a, b_resolved]]
}

/// The integrations of the first receiver of `yaml` (alertmanager.yml), built as the
/// pipeline builds them; the directory holds the file (relative `*_file` paths).
pub fn integrations(yaml: &str) -> (tempfile::TempDir, Vec<Integration>) {
    crate::support::install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alertmanager.yml");
    std::fs::write(&path, yaml).unwrap();
    let cfg =
        blackwatch::alert::config::load_str(yaml, &path).unwrap_or_else(|e| panic!("config: {e}"));
    let shared = blackwatch::alert::notify::webhook::http_client().unwrap();
    let (built, errors) = blackwatch::alert::notify::build::build_integrations(
        &cfg.receivers[0],
        &shared,
        dir.path(),
        &cfg.template_set,
    );
    assert!(errors.is_empty(), "{errors:?}");
    (dir, built.into_iter().map(|(_, i)| i).collect())
}
