//! cargo-fuzz target `http_body`: see `targets::http_body` in fuzz/targets.rs.
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::http_body(data));
