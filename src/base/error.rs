//! Config errors: every error names the file, line, column and field path it is about, and
//! `ConfigErrors` carries all of them, so one `--config.check` run lists every problem.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a config file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the position is unknown (for example a missing file).
    pub line: u64,
    pub column: u64,
    /// Dotted field path, e.g. `modules.http_2xx.http.method`; empty for file-level errors.
    pub path: String,
    pub message: String,
}

impl ConfigError {
    /// An error about the file as a whole (unreadable, empty, not UTF-8): no position.
    pub fn file_level(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            path: String::new(),
            message: message.into(),
        }
    }

    /// An error at a parsed position (`Spanned::referenced`) about the field `path`.
    pub fn at(
        file: &Path,
        location: serde_saphyr::Location,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_path_buf(),
            line: location.line(),
            column: location.column(),
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every error found in one load, in file order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn single(e: ConfigError) -> Self {
        Self(vec![e])
    }
    /// Errors in file order (file, line, column); errors without a position come first.
    pub fn sorted(mut errors: Vec<ConfigError>) -> Self {
        crate::base::sort::sort_by(&mut errors, |a, b| {
            (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column))
        });
        Self(errors)
    }
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.len() {
            0 => f.write_str("no errors"),
            1 => write!(f, "error parsing config file: {}", self.0[0]),
            n => {
                write!(f, "error parsing config file: {n} errors:")?;
                for e in &self.0 {
                    write!(f, "\n  {e}")?;
                }
                Ok(())
            }
        }
    }
}
