//! `blackwatch check config FILE` and `blackwatch --config.check`: load the configuration
//! through the same `config::load` the daemon uses and report every error.

use std::path::Path;
use std::process::ExitCode;

use crate::base::ConfigErrors;
use crate::config::{self, Config};

/// Loads `file`, or the embedded modules when there is none.
pub fn load(file: Option<&Path>) -> Result<Config, ConfigErrors> {
    match file {
        Some(path) => config::load(path),
        None => config::embedded(),
    }
}

/// Checks a configuration: 0 and a one-line summary on stderr when it loads, 1 with every
/// error on stderr otherwise.
pub fn config(file: Option<&Path>) -> ExitCode {
    match load(file) {
        Ok(config) => {
            eprintln!("{}", ok_message(&config));
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::from(super::EXIT_FAILURE)
        }
    }
}

/// `Config file is ok: 3 module(s), 2 probe job(s)`.
pub fn ok_message(config: &Config) -> String {
    format!(
        "Config file is ok: {} module(s), {} probe job(s)",
        config.modules.len(),
        config.jobs.len()
    )
}
