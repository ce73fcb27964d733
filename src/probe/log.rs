//! The per-probe log: lines in logfmt, as blackbox_exporter shows them in `debug=true` output
//! and `/logs`. Lines below the `--log.prober` level are not kept; every line is also sent
//! to the process log at debug level.

use std::fmt::Write as _;

use crate::clock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

pub struct ProbeLog {
    module: String,
    target: String,
    min: Level,
    text: String,
}

impl ProbeLog {
    pub fn new(module: &str, target: &str, min: Level) -> Self {
        Self {
            module: module.to_string(),
            target: target.to_string(),
            min,
            text: String::new(),
        }
    }

    pub fn debug(&mut self, msg: &str, kv: &[(&str, &str)]) {
        self.log(Level::Debug, msg, kv);
    }
    pub fn info(&mut self, msg: &str, kv: &[(&str, &str)]) {
        self.log(Level::Info, msg, kv);
    }
    pub fn warn(&mut self, msg: &str, kv: &[(&str, &str)]) {
        self.log(Level::Warn, msg, kv);
    }
    pub fn error(&mut self, msg: &str, kv: &[(&str, &str)]) {
        self.log(Level::Error, msg, kv);
    }

    fn log(&mut self, level: Level, msg: &str, kv: &[(&str, &str)]) {
        tracing::debug!(module = %self.module, target = %self.target, level = level.as_str(), kv = ?kv, "{msg}");
        if level < self.min {
            return;
        }
        let _ = write!(
            self.text,
            "ts={} module={} target={} level={} msg={}",
            clock::rfc3339_now(),
            logfmt_value(&self.module),
            logfmt_value(&self.target),
            level.as_str(),
            logfmt_value(msg)
        );
        for (k, v) in kv {
            let _ = write!(self.text, " {k}={}", logfmt_value(v));
        }
        self.text.push('\n');
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Quotes a logfmt value when it needs quoting.
pub fn logfmt_value(v: &str) -> String {
    if !v.is_empty()
        && !v
            .chars()
            .any(|c| c == ' ' || c == '"' || c == '=' || c.is_control())
    {
        return v.to_string();
    }
    format!("{v:?}")
}
