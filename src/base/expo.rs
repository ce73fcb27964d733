//! The Prometheus exposition formats: label-value and HELP escaping for the text format, content
//! negotiation (OpenMetrics when the scraper asks for it, otherwise text format 0.0.4), and
//! the rewrite of prometheus-client's OpenMetrics-style output into a text format
//! `promtool check metrics` accepts. Numbers are formatted by `go::format_go_float`.

use prometheus_client::registry::Registry;

/// Escapes a label value for the text format.
pub fn escape_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_escaped_label(&mut out, s);
    out
}

/// [`escape_label`] appended to `out`; a value with nothing to escape is copied as is.
pub fn push_escaped_label(out: &mut String, s: &str) {
    if !s.contains(['\\', '"', '\n']) {
        return out.push_str(s);
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `name="value"`, the value escaped, appended to `out`.
pub fn push_label(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    push_escaped_label(out, value);
    out.push('"');
}

/// A HELP text escaped as client_golang writes it (backslash and line feed), appended to
/// `out`; a text with nothing to escape is copied as is.
pub fn push_escaped_help(out: &mut String, s: &str) {
    if !s.bytes().any(|b| b == b'\\' || b == b'\n') {
        return out.push_str(s);
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether an `Accept` header asks for OpenMetrics.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

/// Encodes a prometheus-client registry by content negotiation.
pub fn encode_registry(registry: &Registry, accept: Option<&str>) -> (String, &'static str) {
    let mut out = String::new();
    if wants_openmetrics(accept) {
        if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
            out.clear();
        }
        return (out, OPENMETRICS_CONTENT_TYPE);
    }
    if prometheus_client::encoding::text::encode_registry(&mut out, registry).is_err() {
        out.clear();
    }
    (openmetrics_to_text(&out), TEXT_CONTENT_TYPE)
}

/// Turns prometheus-client's OpenMetrics-style output into the classic text format: counter
/// HELP/TYPE lines carry the `_total` sample name, `# UNIT` and `# EOF` are dropped.
pub fn openmetrics_to_text(om: &str) -> String {
    let lines: Vec<&str> = om.lines().collect();
    let counters: std::collections::HashSet<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(om.len());
    for line in lines {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let rewritten = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match rewritten {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format_names_counters_with_total() {
        let om = "# HELP x Things.\n# TYPE x counter\n# UNIT x seconds\nx_total 1\n# HELP g G.\n# TYPE g gauge\ng 2\n# EOF\n";
        assert_eq!(
            openmetrics_to_text(om),
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total 1\n# HELP g G.\n# TYPE g gauge\ng 2\n"
        );
    }
}
