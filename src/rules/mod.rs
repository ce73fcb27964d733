//! Alerting and recording rules over probe results: Prometheus rule files, a PromQL subset
//! (`expr`), the pending/firing state machine, and `blackwatch test rules`.

pub mod alerting;
pub mod expr;
pub mod unittest;

#[cfg(test)]
mod tests;
