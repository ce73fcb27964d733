//! Configs written inline in tests: YAML indented inside Rust string literals
//! ([`dedent`], [`indent`]), loaded through `config::load_str` ([`config`]), and a config
//! with one module named [`MODULE`] ([`module_config`], [`http_module_yaml`]).

use std::path::Path;

use blackwatch::config::{self, Config};

/// The name of the module built by [`module_config`].
pub const MODULE: &str = "test";

/// Removes the common leading indentation of the non-blank lines and leading blank lines,
/// so YAML can be written indented inside Rust string literals.
pub fn dedent(s: &str) -> String {
    let lines: Vec<&str> = s.lines().skip_while(|l| l.trim().is_empty()).collect();
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = String::new();
    for l in lines {
        if l.trim().is_empty() {
            out.push('\n');
        } else {
            out.push_str(&l[indent..]);
            out.push('\n');
        }
    }
    out
}

/// Indents every non-blank line by `n` spaces.
pub fn indent(s: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    s.lines()
        .map(|l| {
            if l.trim().is_empty() {
                "\n".to_string()
            } else {
                format!("{pad}{l}\n")
            }
        })
        .collect()
}

/// Loads a whole config file given inline; panics with every error when it is invalid.
pub fn config(yaml: &str) -> Config {
    let text = dedent(yaml);
    match config::load_str(&text, Path::new("test.yml")) {
        Ok(c) => c,
        Err(e) => panic!("test config does not load:\n{e}\n--- config ---\n{text}"),
    }
}

/// A config with one module named [`MODULE`] whose body is `module_yaml`
/// (`prober: http`, `timeout: …`, `http: …`).
pub fn module_config(module_yaml: &str) -> Config {
    let body = indent(&dedent(module_yaml), 4);
    config(&format!("modules:\n  {MODULE}:\n{body}"))
}

/// The module YAML for an http module whose `http:` block is `http_yaml` (may be empty).
pub fn http_module_yaml(http_yaml: &str) -> String {
    let block = dedent(http_yaml);
    if block.trim().is_empty() {
        "prober: http\ntimeout: 10s\nhttp: {}\n".to_string()
    } else {
        format!("prober: http\ntimeout: 10s\nhttp:\n{}", indent(&block, 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedent_and_indent() {
        assert_eq!(
            dedent("\n    a:\n      b: 1\n\n    c: 2\n"),
            "a:\n  b: 1\n\nc: 2\n"
        );
        assert_eq!(indent("a:\n  b\n", 2), "  a:\n    b\n");
    }
}
