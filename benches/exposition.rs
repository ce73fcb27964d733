//! Exposition micro-benchmarks: the cost of turning one probe's result into Prometheus text,
//! and of rendering the daemon's own `/metrics`.
//!
//! Run with `cargo bench --bench exposition` (see benches/README.md). Groups:
//!
//! * `probe_registry/build`: filling a per-probe [`Registry`] with the ~25 series of a
//!   successful HTTPS probe (defaults first, then the real values, as the HTTP prober does).
//! * `probe_registry/encode_text`: [`Registry::encode_text`] of that registry, which is what
//!   `/probe` sends back on every request.
//! * `self_metrics/encode_text_fresh` and `self_metrics/encode_text_busy`:
//!   [`Metrics::encode`] with no `Accept` header (text format 0.0.4) on a freshly built
//!   [`Metrics`], and on one that has recorded probes for a few modules (counters and
//!   duration histograms populated). Each call also refreshes the process metrics from
//!   `/proc/self`, as a real scrape does.
//! * `self_metrics/encode_openmetrics_busy`: the same busy registry negotiated to OpenMetrics.
//! * `self_metrics/proc_reads_only`: a baseline with no encoding at all, the same `/proc/self`
//!   reads as `Metrics::encode`'s refresh (stat four times, the fd directory, limits), to
//!   tell how much of the `self_metrics` figures is the kernel rather than the encoder.
//! * `store/encode_text_10k`: [`Store::encode_text`] of a store holding the latest result of
//!   10,000 scheduled plain-HTTP probes (18 series each, as `http_2xx` against an `http://`
//!   target writes them; job, instance, module and two target labels per group): the part
//!   of `/metrics` that carries scheduled results, for the "< 100 ms for 10k targets".
//! * `store/record_10k`: the 10,000 [`Store::record`] calls that fill it (one full round of
//!   the scheduler writing its results), for scale.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use blackwatch::metrics::{Metrics, ModuleLabel, ProbeLabels};
use blackwatch::probe::registry::Registry;
use blackwatch::store::{GroupKey, Store};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const PHASE_HELP: &str = "Duration of http request by phase, summed over all redirects";

/// The registry of a successful `https://` probe with the `http_2xx` module, with the
/// series, help strings and label sets the HTTP prober writes (24 samples in 20 families).
fn https_probe_registry() -> Registry {
    let mut r = Registry::new();

    // Defaults written before the request (src/probe/http.rs `set_defaults`).
    r.set(
        "probe_http_content_length",
        "Length of http content response",
        0.0,
    );
    r.set(
        "probe_http_uncompressed_body_length",
        "Length of uncompressed response body",
        0.0,
    );
    r.set("probe_http_redirects", "The number of redirects", 0.0);
    r.set(
        "probe_http_ssl",
        "Indicates if SSL was used for the final redirect",
        0.0,
    );
    r.set("probe_http_status_code", "Response HTTP status code", 0.0);
    r.set(
        "probe_http_version",
        "Returns the version of HTTP of the probe response",
        0.0,
    );
    r.set(
        "probe_failed_due_to_regex",
        "Indicates if probe failed due to regex",
        0.0,
    );

    // Resolution (src/probe/resolve.rs).
    r.set(
        "probe_dns_lookup_time_seconds",
        "Returns the time taken for probe dns lookup in seconds",
        0.000_412_318,
    );
    r.set(
        "probe_ip_protocol",
        "Specifies whether probe ip protocol is IP4 or IP6",
        4.0,
    );
    r.set(
        "probe_ip_addr_hash",
        "Specifies the hash of IP address. It's useful to detect if the IP address changes.",
        3_668_918_509.0,
    );

    // Phase durations, summed over hops.
    for (phase, secs) in [
        ("resolve", 0.000_412_318),
        ("connect", 0.012_503_771),
        ("tls", 0.031_877_402),
        ("processing", 0.045_120_009),
    ] {
        r.add_labeled(
            "probe_http_duration_seconds",
            PHASE_HELP,
            &[("phase", phase)],
            secs,
        );
    }

    // Response evaluation.
    r.set(
        "probe_http_last_modified_timestamp_seconds",
        "Returns the Last-Modified HTTP response header in unixtime",
        1.700_000_000e9,
    );
    r.set(
        "probe_http_version",
        "Returns the version of HTTP of the probe response",
        1.1,
    );
    r.set(
        "probe_http_ssl",
        "Indicates if SSL was used for the final redirect",
        1.0,
    );

    // TLS (src/probe/tls.rs `record_metrics`).
    r.set(
        "probe_ssl_earliest_cert_expiry",
        "Returns last SSL chain expiry in unixtime",
        1.767_225_599e9,
    );
    r.set(
        "probe_ssl_last_chain_expiry_timestamp_seconds",
        "Returns last SSL chain expiry in timestamp",
        1.767_225_599e9,
    );
    r.set_labeled(
        "probe_ssl_last_chain_info",
        "Contains SSL leaf certificate information",
        &[
            (
                "fingerprint_sha256",
                "5d1bc4ec4c3f1a2b0e0e9a1f8e6c2b7d9a4f3e2d1c0b9a8f7e6d5c4b3a291817",
            ),
            ("subject", "CN=www.example.org,O=Internet Corporation for Assigned Names and Numbers,L=Los Angeles,ST=California,C=US"),
            ("issuer", "CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1,O=DigiCert Inc,C=US"),
            (
                "subjectalternative",
                "www.example.org,example.net,example.edu,example.com,example.org,www.example.com,www.example.edu,www.example.net",
            ),
            ("serialnumber", "075bcef30689c8addf13e51af4afe187"),
        ],
        1.0,
    );
    r.set_labeled(
        "probe_tls_version_info",
        "Returns the TLS version used or NaN when unknown",
        &[("version", "TLS 1.3")],
        1.0,
    );
    r.set_labeled(
        "probe_tls_cipher_info",
        "Returns the TLS cipher negotiated during handshake",
        &[("cipher", "TLS_AES_256_GCM_SHA384")],
        1.0,
    );

    r.set("probe_http_status_code", "Response HTTP status code", 200.0);
    r.set(
        "probe_http_content_length",
        "Length of http content response",
        1256.0,
    );
    r.set(
        "probe_http_uncompressed_body_length",
        "Length of uncompressed response body",
        1256.0,
    );
    r.add_labeled(
        "probe_http_duration_seconds",
        PHASE_HELP,
        &[("phase", "transfer")],
        0.000_187_554,
    );

    // Outcome (src/probe/mod.rs).
    r.set(
        "probe_success",
        "Displays whether or not the probe was a success",
        1.0,
    );
    r.set(
        "probe_duration_seconds",
        "Returns how long the probe took to complete in seconds",
        0.090_174_223,
    );
    r.set(
        "probe_timeout_seconds",
        "Returns how long the probe timeout is in seconds",
        119.5,
    );
    r
}

/// Self-metrics after a while of serving probes: a few modules, both results, histograms
/// with observations.
fn busy_metrics() -> Metrics {
    let m = Metrics::new();
    for (module, prober) in [
        ("http_2xx", "http"),
        ("http_post_2xx", "http"),
        ("tcp_connect", "tcp"),
        ("icmp", "icmp"),
    ] {
        for (result, n) in [("success", 1000), ("failure", 7)] {
            m.probes
                .get_or_create(&ProbeLabels {
                    module: module.to_string(),
                    prober: prober.to_string(),
                    result,
                })
                .inc_by(n);
        }
        let hist = m.probe_duration.get_or_create(&ModuleLabel {
            module: module.to_string(),
        });
        for i in 0..100 {
            hist.observe(f64::from(i) * 0.003);
        }
    }
    m.module_unknown.inc();
    m
}

/// The file reads `Metrics::encode` does before encoding (src/metrics.rs `refresh_process`).
fn proc_reads() -> usize {
    let mut n = 0;
    for _ in 0..4 {
        n += std::fs::read_to_string("/proc/self/stat").map_or(0, |s| s.len());
    }
    n += std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    n += std::fs::read_to_string("/proc/self/limits").map_or(0, |s| s.len());
    n
}

fn probe_registry(c: &mut Criterion) {
    let registry = https_probe_registry();
    let body_len = registry.encode_text().len() as u64;

    let mut g = c.benchmark_group("probe_registry");
    g.bench_function("build", |b| b.iter(|| black_box(https_probe_registry())));
    g.throughput(Throughput::Bytes(body_len));
    g.bench_function("encode_text", |b| {
        b.iter(|| black_box(black_box(&registry).encode_text()))
    });
    g.finish();
}

fn self_metrics(c: &mut Criterion) {
    let fresh = Metrics::new();
    let busy = busy_metrics();

    let mut g = c.benchmark_group("self_metrics");
    g.bench_function("encode_text_fresh", |b| {
        b.iter(|| black_box(black_box(&fresh).encode(None)))
    });
    g.bench_function("encode_text_busy", |b| {
        b.iter(|| black_box(black_box(&busy).encode(None)))
    });
    g.bench_function("proc_reads_only", |b| b.iter(|| black_box(proc_reads())));
    g.bench_function("encode_openmetrics_busy", |b| {
        b.iter(|| {
            black_box(black_box(&busy).encode(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
            )))
        })
    });
    g.finish();
}

/// The registry of a successful plain `http://` probe with `http_2xx` (ip4), exactly the 18
/// series blackwatch returns for one (checked against a real `/probe` answer); `i` varies the
/// timings so that values differ between groups, as they do in a real store.
fn http_probe_registry(i: usize) -> Registry {
    let jitter = (i % 997) as f64 * 1.3e-7;
    let mut r = Registry::new();
    for (name, help, value) in [
        (
            "probe_dns_lookup_time_seconds",
            "Returns the time taken for probe dns lookup in seconds",
            4.517e-6 + jitter,
        ),
        (
            "probe_duration_seconds",
            "Returns how long the probe took to complete in seconds",
            0.001_005_48 + jitter,
        ),
        (
            "probe_failed_due_to_regex",
            "Indicates if probe failed due to regex",
            0.0,
        ),
        (
            "probe_http_content_length",
            "Length of http content response",
            3.0,
        ),
        ("probe_http_redirects", "The number of redirects", 0.0),
        (
            "probe_http_ssl",
            "Indicates if SSL was used for the final redirect",
            0.0,
        ),
        ("probe_http_status_code", "Response HTTP status code", 200.0),
        (
            "probe_http_uncompressed_body_length",
            "Length of uncompressed response body",
            3.0,
        ),
        (
            "probe_http_version",
            "Returns the version of HTTP of the probe response",
            1.1,
        ),
        (
            "probe_ip_addr_hash",
            "Specifies the hash of IP address. It's useful to detect if the IP address changes.",
            3_668_918_509.0,
        ),
        (
            "probe_ip_protocol",
            "Specifies whether probe ip protocol is IP4 or IP6",
            4.0,
        ),
        (
            "probe_success",
            "Displays whether or not the probe was a success",
            1.0,
        ),
        (
            "probe_timeout_seconds",
            "Returns how long the probe timeout is in seconds",
            10.0,
        ),
    ] {
        r.set(name, help, value);
    }
    for (phase, secs) in [
        ("connect", 0.000_305_283 + jitter),
        ("processing", 0.000_479_781 + jitter),
        ("resolve", 4.517e-6 + jitter),
        ("tls", 0.0),
        ("transfer", 8.5907e-5 + jitter),
    ] {
        r.set_labeled(
            "probe_http_duration_seconds",
            PHASE_HELP,
            &[("phase", phase)],
            secs,
        );
    }
    r
}

const STORE_GROUPS: usize = 10_000;

/// Keys, target labels and registries of `STORE_GROUPS` scheduled targets, as
/// benches/schedule_10k.sh configures them (distinct URLs on one host) plus two target labels.
fn store_inputs() -> Vec<(GroupKey, BTreeMap<String, String>, Registry)> {
    let job: Arc<str> = Arc::from("websites");
    let module: Arc<str> = Arc::from("http_2xx");
    (0..STORE_GROUPS)
        .map(|i| {
            let key = GroupKey {
                job: job.clone(),
                instance: Arc::from(format!("http://127.0.0.1:8080/t/{i:05}").as_str()),
                module: module.clone(),
            };
            let labels = BTreeMap::from([
                (
                    "team".to_string(),
                    ["web", "payments", "search", "infra"][i % 4].to_string(),
                ),
                (
                    "severity".to_string(),
                    if i % 10 == 0 { "critical" } else { "warning" }.to_string(),
                ),
            ]);
            (key, labels, http_probe_registry(i))
        })
        .collect()
}

fn fill(store: &Store, inputs: &[(GroupKey, BTreeMap<String, String>, Registry)]) {
    let t0 = 1_763_700_000_000_i64;
    for (i, (key, labels, registry)) in inputs.iter().enumerate() {
        store.record(key, labels, t0 + i as i64, registry);
    }
}

fn store(c: &mut Criterion) {
    let inputs = store_inputs();
    let store = Store::new(Duration::from_secs(3600));
    fill(&store, &inputs);
    let mut body = String::new();
    let series = store.encode_text(&mut body);
    assert_eq!(series, STORE_GROUPS * 18);
    assert_eq!(
        body.lines()
            .filter(|l| l.starts_with("probe_success{") && l.ends_with(" 1"))
            .count(),
        STORE_GROUPS
    );
    eprintln!(
        "store/encode_text_10k: {} groups, {series} series, {} bytes of text",
        STORE_GROUPS,
        body.len()
    );

    let mut g = c.benchmark_group("store");
    // Each iteration takes tens of milliseconds: fewer samples keep the group near a minute.
    g.sample_size(20);
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("encode_text_10k", |b| {
        b.iter(|| {
            // `/metrics` starts from a fresh String (the self-metrics text) every time.
            let mut out = String::new();
            black_box(black_box(&store).encode_text(&mut out));
            out
        })
    });
    g.throughput(Throughput::Elements(STORE_GROUPS as u64));
    g.bench_function("record_10k", |b| {
        // Re-recording replaces groups: the store stays at 10k groups, as in steady state.
        b.iter(|| fill(black_box(&store), black_box(&inputs)))
    });
    g.finish();
}

criterion_group!(benches, probe_registry, self_metrics, store);
criterion_main!(benches);
