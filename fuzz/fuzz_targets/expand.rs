//! cargo-fuzz target `expand`: see `targets::expand` in fuzz/targets.rs.
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::expand(data));
