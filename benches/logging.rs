//! The process log's cost per line (`blackwatch::logging::LogLayer`), into a sink that
//! discards the bytes, so only formatting is measured (not the `write` on stderr).
//!
//! Run with `cargo bench --bench logging` (see benches/README.md). Cases:
//!
//! * `logging/{logfmt,json}/listening_on`: the start-up line, one `Display` field.
//! * `logging/{logfmt,json}/five_fields`: a message and five fields of each kind (str, u64,
//!   f64, bool, `Display`), two of them needing quotes.
//! * `logging/{logfmt,json}/reload_error`: a failed reload's line, a 3-line error with
//!   quotes (every byte escaped or copied).
//! * `logging/disabled_debug`: a probe-log debug event at the default `info` level, the cost
//!   the probe path pays per probe log line when debug logging is off.
//!
//! Before criterion runs, the bench prints the heap allocations per line of each case after
//! warm-up (a counting global allocator), which should be zero: lines are built in reused
//! per-thread buffers.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use blackwatch::logging::{Format, LogLayer, Sink};
use criterion::{criterion_group, criterion_main, Criterion};
use tracing_subscriber::layer::SubscriberExt as _;

/// The system allocator, counting allocations.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Counts bytes and drops them.
struct Discard(AtomicU64);

impl Sink for Discard {
    fn write_line(&self, line: &[u8]) {
        self.0.fetch_add(line.len() as u64, Ordering::Relaxed);
    }
}

const RELOAD_ERROR: &str = "error parsing config file: 2 errors:\n  /etc/blackwatch/blackwatch.yml:3:13: modules.a.prober: prober 'x\"y' is not valid\n  /etc/blackwatch/blackwatch.yml:5:13: modules.b.prober: prober 'no such' is not valid";

fn listening_on(addr: SocketAddr) {
    tracing::info!(message = "listening on", address = %addr);
}

fn five_fields(addr: SocketAddr) {
    tracing::warn!(
        message = "Notify for alerts failed",
        receiver = "team pager",
        attempts = 3u64,
        duration_seconds = 0.25,
        retryable = true,
        peer = %addr,
    );
}

fn reload_error() {
    tracing::error!(message = "Error reloading config", error = %RELOAD_ERROR);
}

fn disabled_debug() {
    tracing::debug!(
        module = "http_2xx",
        target = "http://127.0.0.1/",
        probe_level = "info",
        "Resolving target address"
    );
}

type Case = (&'static str, fn(SocketAddr));

const CASES: [Case; 3] = [
    ("listening_on", listening_on),
    ("five_fields", five_fields),
    ("reload_error", |_| reload_error()),
];

/// Allocations per call of `f` after a warm-up, under the current subscriber.
fn allocations_per_call(f: impl Fn()) -> f64 {
    for _ in 0..100 {
        f();
    }
    let n = 10_000;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..n {
        f();
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / n as f64
}

fn bench(c: &mut Criterion) {
    let addr: SocketAddr = "127.0.0.1:9115".parse().expect("an address");
    let mut group = c.benchmark_group("logging");
    for (format, name) in [(Format::Logfmt, "logfmt"), (Format::Json, "json")] {
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::TRACE)
            .with(LogLayer::new(format, Discard(AtomicU64::new(0))));
        let _guard = tracing::subscriber::set_default(subscriber);
        for (case, f) in CASES {
            let allocs = allocations_per_call(|| f(addr));
            println!("logging/{name}/{case}: {allocs:.2} allocations per line");
            group.bench_function(format!("{name}/{case}"), |b| b.iter(|| f(addr)));
        }
    }
    {
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::INFO)
            .with(LogLayer::new(Format::Logfmt, Discard(AtomicU64::new(0))));
        let _guard = tracing::subscriber::set_default(subscriber);
        let allocs = allocations_per_call(disabled_debug);
        println!("logging/disabled_debug: {allocs:.2} allocations per event");
        group.bench_function("disabled_debug", |b| b.iter(disabled_debug));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
