//! The one-shot subcommands of the binary: `blackwatch probe` (one probe, a summary or the
//! metrics) and `blackwatch check config` (which `--config.check` shares). `blackwatch test
//! rules` lives with the rule engine in `rules::unittest`. The daemon is `app`.
//!
//! Each command returns its exit code; printing goes to stdout (results) and stderr
//! (errors), never through the process log, so scripts can read the output.

pub mod check;
pub mod probe;

/// Exit code of a check or probe that ran and failed.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code of bad usage: unknown flag or module, a config that does not load (clap uses
/// the same code for its own usage errors).
pub const EXIT_USAGE: u8 = 2;
