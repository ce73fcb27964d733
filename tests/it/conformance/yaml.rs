//! The shared config file: one module per scenario, in blackbox's format, read by both
//! exporters.

use std::fmt::Write as _;
use std::path::Path;

/// A module at column 0: `prober`, `timeout` and, unless `block` is empty, the prober's
/// block (named like the prober, `block` at column 0).
pub fn module_yaml(prober: &str, timeout: f64, block: &str) -> String {
    let mut yaml = format!("prober: {prober}\ntimeout: {timeout}s\n");
    if !block.trim().is_empty() {
        let _ = writeln!(yaml, "{prober}:");
        for line in block.lines() {
            let _ = writeln!(yaml, "  {line}");
        }
    }
    yaml
}

/// The config file of (module name, module YAML at column 0) pairs.
pub fn config_yaml<'a>(modules: impl IntoIterator<Item = (&'a str, String)>) -> String {
    let mut yaml = String::from("modules:\n");
    for (name, module) in modules {
        let _ = writeln!(yaml, "  {name}:");
        for line in module.lines() {
            let _ = writeln!(yaml, "    {line}");
        }
    }
    yaml
}

/// A path as a quoted YAML scalar.
pub fn yaml_path(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}
