//! Alerting and recording rules over probe results: Prometheus rule files, PromQL 2.42
//! over floats (`expr`), the pending/firing state machine, and `blackwatch test rules`.
//!
//! - `file`: rule files → validated `GroupDef`s (what `promtool check rules` checks).
//! - `alerting`: the alert state machine, pure, timestamps passed in.
//! - `recording`: recording-rule output and the `Overlay` of series rules write.
//! - `rollups`: long ranges of `probe_success`/`probe_duration_seconds` from the uptime
//!   history.
//! - `group`: a group at run time and its evaluation at one timestamp.
//! - `manager`: the daemon's evaluation loops, reload, sending, persistence, `/metrics` text.
//! - `persist`: the saved alert state.
//! - `api`: JSON of `/api/v1/rules` and `/api/v1/alerts`.
//! - `unittest`: `blackwatch test rules`.
//!
//! It does no network I/O and reads the wall clock only in `manager`'s loops.

pub mod alerting;
pub mod api;
pub mod expr;
pub mod file;
pub mod group;
pub mod manager;
pub mod persist;
pub mod recording;
pub mod rollups;
pub mod unittest;

#[cfg(test)]
mod tests;

pub use manager::{Manager, RulesConfig};
