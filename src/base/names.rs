//! Prometheus' name rules: label names `[a-zA-Z_][a-zA-Z0-9_]*`, metric names
//! `[a-zA-Z_:][a-zA-Z0-9_:]*`, and the `__`-prefixed names reserved for internal use.

/// Whether `name` is a classic Prometheus label name.
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A label name a user may set: valid and not reserved (`__` prefix).
pub fn is_user_label_name(name: &str) -> bool {
    is_label_name(name) && !name.starts_with("__")
}

/// Whether `name` is a Prometheus metric name.
pub fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "_", "job", "A_1", "__name__"] {
            assert!(is_label_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a:b", "é", "a b"] {
            assert!(!is_label_name(bad), "{bad}");
        }
        assert!(is_user_label_name("team") && !is_user_label_name("__address__"));
        assert!(is_metric_name("probe:success_ratio") && is_metric_name(":x"));
        assert!(!is_metric_name("1x") && !is_metric_name("a-b") && !is_metric_name(""));
    }
}
