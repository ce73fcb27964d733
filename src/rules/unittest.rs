//! `blackwatch test rules`: runs Prometheus rule unit-test files (the `promtool test rules`
//! format) against the rule engine.

use std::path::PathBuf;
use std::process::ExitCode;

/// Runs every file and prints results as promtool does; the exit code is 0 when all pass.
pub fn main(files: &[PathBuf]) -> ExitCode {
    eprintln!(
        "blackwatch test rules: not implemented yet ({} file(s) given)",
        files.len()
    );
    ExitCode::from(1)
}
