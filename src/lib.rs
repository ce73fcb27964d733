//! blackwatch: one binary that replaces Prometheus blackbox_exporter, the alerting rules on
//! top of it, and Alertmanager: probes on demand and on a schedule, rules over the results,
//! and Alertmanager-compatible routing to Discord, e-mail and webhooks.
//!
//! # Layout
//!
//! - `config`: load + validate the YAML into domain types (every error, with position).
//! - `probe`: `probe::run` and one file per protocol; the per-probe metric registry.
//! - `schedule`, `store`: scheduled probing and the latest results (plus rule-declared history).
//! - `uptime`: persisted per-minute/hour/day rollups of scheduled probes, incidents, and the
//!   availability figures (uptime ratio, latency quantiles, MTTR) from them.
//! - `rules`: rule files, the PromQL subset (`rules::expr`), the alert state machine.
//! - `alert`: Alertmanager's pipeline: store, routing, grouping, inhibition, silences, nflog,
//!   notifiers.
//! - `cluster`: high availability: gossip (chitchat), replicated silences and notification
//!   log, which replica notifies for which group.
//! - `template`: Go text/template for rule annotations and notification templates.
//! - `labels`: label sets, fingerprints, Alertmanager matchers.
//! - `relabel`: Prometheus relabelling (`write_relabel_configs`).
//! - `remote`: `remote_write:` — Prometheus remote-write v1 through an on-disk queue.
//! - `server`: the HTTP surface (`/probe`, `/metrics`, APIs, status page). Takes a bound listener.
//! - `state`: what the server and signal loop share: running config, metrics, history, the
//!   components built for the config, reload.
//! - `daemon`: `Daemon::build` / `serve` / `shutdown`, used by the binary and the tests alike.
//! - `history`: recent probes and their debug logs.
//! - `metrics`: self-metrics and exposition format negotiation.
//! - `cmd`: the one-shot subcommands (`probe`, `check config`).
//! - `app`, `cli`, `signal`, `clock`: wiring, flags, signals, the one place that reads clocks.
//! - `logging`: the process log, Prometheus-style logfmt or JSON lines on stderr.

pub mod alert;
pub mod app;
pub mod base;
pub mod cli;
pub mod client;
pub mod clock;
pub mod cluster;
pub mod cmd;
pub mod config;
pub mod daemon;
pub mod heap;
pub mod history;
pub mod labels;
pub mod logging;
pub mod metrics;
pub mod probe;
pub mod relabel;
pub mod remote;
pub mod rules;
pub mod schedule;
pub mod server;
pub mod signal;
pub mod state;
pub mod store;
pub mod template;
pub mod uptime;
