//! The shared vocabulary every other module speaks: secrets and how they are read, config
//! errors with their positions, YAML parsing, Go and Prometheus primitives (durations, byte
//! sizes, label and metric names, `net.SplitHostPort`, `strconv.Quote`, Go's float format,
//! Go's byte strings carried losslessly in Rust strings), stable sorting for cold paths,
//! the Prometheus exposition helpers, atomic file writes and globbing.
//!
//! This module is the bottom layer: it imports nothing from the crate (`tests/it/layers.rs`
//! checks it), so any module may use it without creating a cycle. It holds no domain types:
//! a probe module, an alert or a rule belongs to its own module.

pub mod error;
pub mod expo;
pub mod fs;
pub mod go;
pub mod goregex;
pub mod gostr;
pub mod names;
pub mod secret;
pub mod sort;
pub mod sync;
pub mod task;
pub mod units;
pub mod yaml;

pub use error::{ConfigError, ConfigErrors};
pub use secret::{Secret, SecretSource};
