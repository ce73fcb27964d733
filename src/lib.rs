//! blackwatch: one binary that probes http (and soon tcp, icmp, dns) targets as a drop-in for
//! Prometheus blackbox_exporter, and will grow into scheduling, rules and alert routing.
//!
//! # Layout
//!
//! - `config`: load + validate blackbox-format YAML into domain types (every error, with position).
//! - `probe`: `probe::run` and one file per protocol; the per-probe metric registry.
//! - `server`: the HTTP surface (`/probe`, `/metrics`, reload, pages). Takes a bound listener.
//! - `state`: what the server and signal loop share: running config, metrics, history, reload.
//! - `history`: recent probes and their debug logs.
//! - `metrics`: self-metrics and exposition format negotiation.
//! - `app`, `cli`, `signal`, `clock`: wiring, flags, signals, the one place that reads clocks.

pub mod alert;
pub mod app;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod history;
pub mod labels;
pub mod metrics;
pub mod probe;
pub mod rules;
pub mod schedule;
pub mod server;
pub mod signal;
pub mod state;
pub mod store;
pub mod template;
