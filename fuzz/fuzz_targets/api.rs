//! cargo-fuzz target `api`: API v2 bodies posted to one in-process server on loopback
//! (see `targets::Api` in fuzz/targets.rs).
#![no_main]

#[path = "../targets.rs"]
mod targets;

use std::sync::OnceLock;

fn harness() -> &'static (tokio::runtime::Runtime, targets::Api) {
    static H: OnceLock<(tokio::runtime::Runtime, targets::Api)> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        let api = rt.block_on(targets::Api::start());
        (rt, api)
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (rt, api) = harness();
    rt.block_on(api.run(data));
});
