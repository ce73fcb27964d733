//! The one integration-test crate: real loopback servers, the real binary, and the real
//! blackbox_exporter and promtool where a comparison is asked for.

mod cli;
mod config;
mod conformance;
mod handler;
mod harness;
mod http;
mod support;
mod support_selftest;
