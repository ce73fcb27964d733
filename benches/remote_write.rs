//! remote_write throughput and CPU: `N` probe-like results (20 series each, 10 labels per
//! series, as an http probe's) pushed through `remote::RemoteWrite` — relabel-free batching,
//! the synced on-disk queue, snappy, HTTP — into a loopback sink that decodes every request
//! (or into a real Prometheus 2.42 with `--web.enable-remote-write-receiver` when
//! `RW_BENCH_PROMETHEUS=host:port` is set). Prints samples/s and the process' CPU seconds per
//! million samples (user + system from getrusage, sink included for the loopback case).
//!
//! `cargo bench --bench remote_write` (RW_BENCH_RESULTS, default 50000 results = 1M samples).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use blackwatch::remote::metrics::RemoteMetrics;
use blackwatch::remote::{proto, Point, RemoteWrite};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

fn cpu_seconds() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

async fn sink(received: Arc<AtomicU64>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/write", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            let received = received.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let received = received.clone();
                    async move {
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let w = proto::decode_body(&body).unwrap();
                        let (n, _) = proto::summary(&w);
                        received.fetch_add(n as u64, Ordering::SeqCst);
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(204)
                                .body(Full::new(Bytes::new()))
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
    url
}

fn results(n: usize, base_ms: i64) -> Vec<Vec<Point>> {
    (0..n)
        .map(|i| {
            let target = i % 1000;
            let ts = base_ms + (i / 1000) as i64 * 1000;
            (0..20)
                .map(|m| Point {
                    labels: vec![
                        ("__name__".into(), format!("probe_metric_{m}")),
                        (
                            "instance".into(),
                            format!("https://target-{target}.example/"),
                        ),
                        ("job".into(), "web".into()),
                        ("module".into(), "http_2xx".into()),
                        ("team".into(), "ops".into()),
                    ],
                    timestamp_ms: ts,
                    value: m as f64,
                })
                .collect()
        })
        .collect()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let n: usize = std::env::var("RW_BENCH_RESULTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(50_000);
        let received = Arc::new(AtomicU64::new(0));
        let prom = std::env::var("RW_BENCH_PROMETHEUS").ok();
        let url = match &prom {
            Some(addr) => format!("http://{addr}/api/v1/write"),
            None => sink(received.clone()).await,
        };
        let dir = tempfile::tempdir().unwrap();
        let metrics = RemoteMetrics::register(&mut prometheus_client::registry::Registry::default());
        let tracker = TaskTracker::new();
        let token = CancellationToken::new();
        let rw = RemoteWrite::new(dir.path(), 1 << 30, metrics.clone(), tracker.clone(), token.clone());
        let yaml = format!("remote_write:\n  - url: {url}\n    name: bench\n    queue_config: {{capacity: 100000}}\n");
        let cfg = blackwatch::config::load_str(&yaml, std::path::Path::new("bench.yml")).unwrap();
        rw.apply(&cfg.remote_write, &BTreeMap::new());
        let base = blackwatch::clock::Now::read().unix_ms() - 600_000;
        let batches = results(n, base);
        let total = (n * 20) as u64;
        let labels = blackwatch::remote::metrics::QueueLabels {
            remote_name: "bench".into(),
            url: url.clone(),
        };
        let cpu0 = cpu_seconds();
        let t0 = tokio::time::Instant::now();
        for b in batches {
            rw.push(b);
            // Keep under the channel capacity, as probes arriving over time would.
            assert_eq!(
                metrics.dropped.get_or_create(&labels).get(),
                0,
                "channel overflow: raise capacity"
            );
            tokio::task::yield_now().await;
        }
        loop {
            let sent = if prom.is_some() {
                metrics.samples.get_or_create(&labels).get()
            } else {
                received.load(Ordering::SeqCst)
            };
            let pending = metrics.pending.get_or_create(&labels).get();
            if sent >= total && pending == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let secs = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        let bytes = metrics.bytes.get_or_create(&labels).get();
        println!(
            "remote_write into {}: {total} samples in {secs:.2} s = {:.0} samples/s; CPU {cpu:.2} s ({:.2} CPU-s per million samples); {:.1} bytes/sample on the wire; failed {}",
            if prom.is_some() { "Prometheus 2.42" } else { "a loopback sink" },
            total as f64 / secs,
            cpu / (total as f64 / 1e6),
            bytes as f64 / total as f64,
            metrics.failed.get_or_create(&labels).get(),
        );
        token.cancel();
        tracker.close();
        tracker.wait().await;
    });
}
