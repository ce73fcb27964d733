//! The queue end to end on loopback: a sink that records requests, the writer and sender
//! tasks, relabelling, 4xx drops, restart with pending data.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// A loopback receiver answering `status()` and recording decoded requests.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<WriteRequest>>>,
    status: Arc<AtomicUsize>,
}

async fn receiver() -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let status = Arc::new(AtomicUsize::new(204));
    let (g, st) = (got.clone(), status.clone());
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            let (g, st) = (g.clone(), st.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (g, st) = (g.clone(), st.clone());
                    async move {
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let code = st.load(Ordering::SeqCst) as u16;
                        if code < 300 {
                            g.lock().unwrap().push(proto::decode_body(&body).unwrap());
                        }
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(code)
                                .body(Full::new(Bytes::from_static(b"answer\nmore")))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    Receiver { url, got, status }
}

fn cfg(url: &str, yaml_extra: &str) -> RemoteWriteConfig {
    let text = format!(
        "remote_write:\n  - url: {url}\n    queue_config: {{batch_send_deadline: 50ms, min_backoff: 10ms, max_backoff: 50ms, max_samples_per_send: 3}}\n{yaml_extra}"
    );
    let c = crate::config::load_str(&text, Path::new("t.yml")).unwrap();
    c.remote_write[0].clone()
}

fn point(name: &str, ts: i64, v: f64) -> Point {
    Point {
        labels: vec![
            ("__name__".into(), name.into()),
            ("instance".into(), "x".into()),
        ],
        timestamp_ms: ts,
        value: v,
    }
}

fn counter(
    f: &prometheus_client::metrics::family::Family<
        QueueLabels,
        prometheus_client::metrics::counter::Counter,
    >,
) -> u64 {
    let mut total = 0;
    let mut reg = prometheus_client::registry::Registry::default();
    reg.register("c", "", f.clone());
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &reg).unwrap();
    for line in text.lines().filter(|l| l.starts_with("c_total")) {
        total += line.rsplit(' ').next().unwrap().parse::<u64>().unwrap();
    }
    total
}

async fn until(mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached in 5s");
}

fn samples(got: &Mutex<Vec<WriteRequest>>) -> Vec<(String, i64, f64)> {
    got.lock()
        .unwrap()
        .iter()
        .flat_map(|r| r.timeseries.iter())
        .map(|t| {
            (
                t.labels
                    .iter()
                    .map(|l| format!("{}={}", l.name, l.value))
                    .collect::<Vec<_>>()
                    .join(","),
                t.samples[0].timestamp,
                t.samples[0].value,
            )
        })
        .collect()
}

fn start(
    dir: &Path,
    cfgs: &[RemoteWriteConfig],
) -> (
    Arc<RemoteWrite>,
    RemoteMetrics,
    TaskTracker,
    CancellationToken,
) {
    let metrics = RemoteMetrics::register(&mut prometheus_client::registry::Registry::default());
    let tracker = TaskTracker::new();
    let token = CancellationToken::new();
    let rw = RemoteWrite::new(
        dir,
        1 << 20,
        metrics.clone(),
        tracker.clone(),
        token.clone(),
    );
    rw.apply(
        cfgs,
        &BTreeMap::from([("region".to_string(), "eu".to_string())]),
    );
    (rw, metrics, tracker, token)
}

#[tokio::test]
async fn samples_arrive_in_batches_in_order() {
    let r = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let (rw, metrics, tracker, token) = start(dir.path(), &[cfg(&r.url, "")]);
    rw.push((0..7).map(|i| point("m", 1000 + i, i as f64)).collect());
    until(|| samples(&r.got).len() == 7).await;
    let got = samples(&r.got);
    assert_eq!(got[0], ("__name__=m,instance=x".to_string(), 1000, 0.0));
    assert_eq!(got[6].1, 1006);
    // max_samples_per_send: 3 → 3 + 3 + 1.
    assert_eq!(r.got.lock().unwrap().len(), 3);
    assert_eq!(counter(&metrics.samples), 7);
    token.cancel();
    tracker.close();
    tracker.wait().await;
}

#[tokio::test]
async fn relabel_drops_and_4xx_is_dropped_and_counted() {
    let r = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(&r.url, "    write_relabel_configs: [{source_labels: [__name__], regex: 'drop_.*', action: drop}]\n");
    let (rw, metrics, tracker, token) = start(dir.path(), &[c]);
    r.status.store(400, Ordering::SeqCst);
    rw.push(vec![point("a", 1, 1.0), point("drop_me", 1, 1.0)]);
    until(|| counter(&metrics.failed) == 1).await;
    assert_eq!(counter(&metrics.dropped), 1);
    r.status.store(204, Ordering::SeqCst);
    rw.push(vec![point("b", 2, 1.0)]);
    until(|| samples(&r.got).len() == 1).await;
    assert!(samples(&r.got)[0].0.starts_with("__name__=b,"));
    token.cancel();
    tracker.close();
    tracker.wait().await;
}

#[tokio::test]
async fn receiver_down_then_back_loses_nothing_and_restart_sends_pending() {
    let r = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(&r.url, "");
    r.status.store(503, Ordering::SeqCst);
    let (rw, metrics, tracker, token) = start(dir.path(), std::slice::from_ref(&c));
    rw.push((0..5).map(|i| point("m", i, 0.0)).collect());
    until(|| counter(&metrics.retried) > 0).await;
    // Stop while the receiver is down: the batches stay on disk.
    token.cancel();
    tracker.close();
    tracker.wait().await;
    drop(rw);
    r.status.store(204, Ordering::SeqCst);
    let (_rw, _m, tracker, token) = start(dir.path(), &[c]);
    until(|| samples(&r.got).len() == 5).await;
    let ts: Vec<i64> = samples(&r.got).iter().map(|s| s.1).collect();
    assert_eq!(ts, vec![0, 1, 2, 3, 4]);
    token.cancel();
    tracker.close();
    tracker.wait().await;
}

#[tokio::test]
async fn a_changed_entry_restarts_its_queue_keeping_pending_batches() {
    let r = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    r.status.store(503, Ordering::SeqCst);
    let (rw, metrics, tracker, token) = start(dir.path(), &[cfg(&r.url, "")]);
    rw.push((0..4).map(|i| point("m", i, 0.0)).collect());
    until(|| counter(&metrics.retried) > 0).await;
    let changed = cfg(&r.url, "    headers: {X-Scope-OrgID: t1}\n");
    rw.apply(&[changed], &BTreeMap::new());
    rw.push(vec![point("m", 10, 0.0)]);
    r.status.store(204, Ordering::SeqCst);
    until(|| samples(&r.got).len() == 5).await;
    let ts: Vec<i64> = samples(&r.got).iter().map(|s| s.1).collect();
    assert_eq!(ts, vec![0, 1, 2, 3, 10]);
    token.cancel();
    tracker.close();
    tracker.wait().await;
}

#[test]
fn external_labels_are_added_where_absent() {
    let mut l = vec![
        ("__name__".to_string(), "m".to_string()),
        ("region".to_string(), "us".to_string()),
    ];
    add_external(
        &mut l,
        &[("region".into(), "eu".into()), ("dc".into(), "1".into())],
    );
    assert_eq!(
        l,
        vec![
            ("__name__".to_string(), "m".to_string()),
            ("dc".to_string(), "1".to_string()),
            ("region".to_string(), "us".to_string())
        ]
    );
}
