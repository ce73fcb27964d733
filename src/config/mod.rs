//! Configuration: one `load` function serves start-up, reload (SIGHUP, `POST /-/reload`) and
//! `--config.check`. A config file is blackbox_exporter's format (`modules:`), so a plain
//! `blackbox.yml` is a valid `blackwatch.yml`. With no file, the modules shipped in
//! `modules/` (embedded at build time) are used.
//!
//! `raw` holds the serde structs, `validate` turns them into domain types and collects every
//! error, `error` formats them as `file:line:col: field.path: message`.

pub mod error;
pub mod raw;
pub mod units;
pub mod validate;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

pub use error::{ConfigError, ConfigErrors};
use raw::RawConfig;

use crate::probe::Module;

/// The modules shipped in `modules/`, embedded at build time. `tests/it/config.rs` checks
/// that this list covers every file in the directory.
pub const EMBEDDED_MODULES: &[(&str, &str)] =
    &[("modules/http.yml", include_str!("../../modules/http.yml"))];

/// A loaded, validated configuration.
#[derive(Debug)]
pub struct Config {
    /// Where it came from: a file path, or `<embedded>`.
    pub source: PathBuf,
    pub modules: BTreeMap<String, Arc<Module>>,
    /// The parsed file with defaults filled in, for `/config`.
    pub raw: RawConfig,
    /// SHA-256 of the file bytes, so a reload of an unchanged file re-parses nothing.
    pub checksum: [u8; 32],
}

impl Config {
    /// The whole config as YAML with defaults expanded and secrets as `<secret>`.
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(&self.raw)
            .unwrap_or_else(|e| format!("# could not render the configuration: {e}\n"))
    }
}

/// Reads and validates a config file.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let bytes = std::fs::read(path).map_err(|e| {
        ConfigErrors::single(ConfigError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            path: String::new(),
            message: format!("error reading YAML file: {e}"),
        })
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        ConfigErrors::single(ConfigError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            path: String::new(),
            message: "the file is not valid UTF-8".to_string(),
        })
    })?;
    load_str(&text, path)
}

/// The checksum `load` would compute for these file bytes.
pub fn checksum(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Validates config text; `file` only names it in errors.
pub fn load_str(text: &str, file: &Path) -> Result<Config, ConfigErrors> {
    let mut raw = parse(text, file)?;
    let mut cx = validate::Cx::new(file);
    let modules = validate::modules(&mut cx, &mut raw);
    if !cx.errors.is_empty() {
        return Err(ConfigErrors(cx.errors));
    }
    Ok(Config {
        source: file.to_path_buf(),
        modules,
        raw,
        checksum: checksum(text.as_bytes()),
    })
}

/// The built-in configuration: every file of `modules/`, merged.
pub fn embedded() -> Result<Config, ConfigErrors> {
    let mut merged = RawConfig::default();
    let mut errors = Vec::new();
    let mut hasher = Sha256::new();
    for (name, text) in EMBEDDED_MODULES {
        hasher.update(text.as_bytes());
        let file = Path::new(name);
        match parse(text, file) {
            Ok(raw) => {
                for (module, def) in raw.modules {
                    if merged.modules.contains_key(&module) {
                        errors.push(ConfigError {
                            file: file.to_path_buf(),
                            line: def.referenced.line(),
                            column: def.referenced.column(),
                            path: format!("modules.{module}"),
                            message: "module defined in more than one embedded file".to_string(),
                        });
                    }
                    merged.modules.insert(module, def);
                }
            }
            Err(e) => errors.extend(e.0),
        }
    }
    let source = PathBuf::from("<embedded>");
    let mut cx = validate::Cx::new(&source);
    let modules = validate::modules(&mut cx, &mut merged);
    errors.extend(cx.errors);
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    Ok(Config {
        source,
        modules,
        raw: merged,
        checksum: hasher.finalize().into(),
    })
}

/// YAML text → raw structs, with position and field path on any error.
fn parse(text: &str, file: &Path) -> Result<RawConfig, ConfigErrors> {
    let has_content = text.lines().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#') && t != "---"
    });
    if !has_content {
        return Err(ConfigErrors::single(ConfigError {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            path: String::new(),
            message: "EOF: the file is empty".to_string(),
        }));
    }
    let options = serde_saphyr::options! {
        with_snippet: false,
    };
    let mut field_path = String::new();
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        match serde_path_to_error::deserialize::<_, RawConfig>(de) {
            Ok(v) => Ok(v),
            Err(e) => {
                field_path = e.path().to_string();
                Err(e.into_inner())
            }
        }
    });
    result.map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        let path = if field_path == "." {
            String::new()
        } else {
            field_path
        };
        ConfigErrors::single(ConfigError {
            file: file.to_path_buf(),
            line,
            column,
            path,
            message: clean_message(&e.without_snippet().to_string()),
        })
    })
}

/// serde-saphyr prefixes its messages with the position, which `ConfigError` prints itself.
fn clean_message(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or(msg).trim();
    let re_prefix = first
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
        .map(|(_, m)| m);
    match re_prefix {
        Some(m) => m.to_string(),
        None => first.to_string(),
    }
}
