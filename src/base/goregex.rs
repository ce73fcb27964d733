//! Go's RE2 regular expressions on Rust's `regex` crate: the one translation every place that
//! compiles a user's pattern uses (blackbox regexes, Alertmanager and PromQL matchers,
//! `label_replace`, template functions), so a pattern matches here what it matches in the Go
//! tools. The differences handled, all from Go's `regexp/syntax`:
//!
//! - Perl classes are ASCII: `\d` is `[0-9]`, `\w` is `[0-9A-Za-z_]`, `\s` is
//!   `[\t\n\f\r ]` (no `\v`), in and out of bracket classes, and their negations.
//! - `\b` and `\B` are ASCII word boundaries.
//! - Inside a bracket class Go takes `[` (unless it opens `[:name:]`), `&&` and `~~` literally,
//!   where Rust nests classes or applies set operations.
//!
//! Unicode classes (`\pL`), `(?i)` and everything else mean the same in both.

/// Rewrites the places where Go's RE2 syntax means something else in Rust's `regex`: Perl
/// classes and word boundaries are ASCII-only in Go (`\d` is `[0-9]`), and inside a bracket
/// class Go takes `[` (unless it opens `[:name:]`), `&&` and `~~` literally where Rust nests
/// classes or applies set operations.
pub fn to_rust(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 8);
    let mut in_class = false;
    let mut class_start = false;
    let mut it = p.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\\' => {
                let Some(e) = it.next() else {
                    out.push('\\');
                    break;
                };
                let rep = match (e, in_class) {
                    ('d', false) => Some("[0-9]"),
                    ('D', _) => Some("[^0-9]"),
                    ('w', false) => Some("[0-9A-Za-z_]"),
                    ('W', _) => Some("[^0-9A-Za-z_]"),
                    ('s', false) => Some("[\\t\\n\\f\\r ]"),
                    ('S', _) => Some("[^\\t\\n\\f\\r ]"),
                    ('d', true) => Some("0-9"),
                    ('w', true) => Some("0-9A-Za-z_"),
                    ('s', true) => Some("\\t\\n\\f\\r "),
                    ('b', false) => Some("(?-u:\\b)"),
                    ('B', false) => Some("(?-u:\\B)"),
                    _ => None,
                };
                match rep {
                    Some(r) => out.push_str(r),
                    None => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                class_start = true;
                out.push('[');
                if it.peek() == Some(&'^') {
                    it.next();
                    out.push('^');
                }
                continue;
            }
            '[' if in_class => {
                if it.peek() == Some(&':') {
                    // [:alpha:] — copy through the closing ":]".
                    out.push('[');
                    for d in it.by_ref() {
                        out.push(d);
                        if d == ']' {
                            break;
                        }
                    }
                } else {
                    out.push_str("\\[");
                }
            }
            ']' if in_class && !class_start => {
                in_class = false;
                out.push(']');
            }
            '&' | '~' if in_class && it.peek() == Some(&c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
        class_start = false;
    }
    out
}

/// Go's `Regexp.Expand`: `$1`, `${1}`, `$name`, `${name}` replaced by the submatch (empty
/// when out of range, unmatched or unknown), `$$` as `$`, a malformed `$` kept as is. As in
/// Go, `$1x` names the group `1x`, not group 1 followed by `x`.
pub fn expand(
    re: &regex::bytes::Regex,
    template: &[u8],
    caps: &regex::bytes::Captures<'_>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(template.len());
    let mut rest = template;
    while let Some(pos) = rest.iter().position(|b| *b == b'$') {
        out.extend_from_slice(&rest[..pos]);
        rest = &rest[pos + 1..];
        if rest.first() == Some(&b'$') {
            out.push(b'$');
            rest = &rest[1..];
            continue;
        }
        let Some((name, after)) = extract(rest) else {
            out.push(b'$');
            continue;
        };
        rest = after;
        let group = match group_number(name) {
            Some(n) => caps.get(n),
            None => re
                .capture_names()
                .position(|n| n == Some(name))
                .and_then(|i| caps.get(i)),
        };
        if let Some(g) = group {
            out.extend_from_slice(g.as_bytes());
        }
    }
    out.extend_from_slice(rest);
    out
}

/// Go's `extract`: the name after a `$` (letters, digits, `_`; braces optional) and the
/// remaining template.
fn extract(s: &[u8]) -> Option<(&str, &[u8])> {
    let (brace, body) = match s.first() {
        Some(b'{') => (true, &s[1..]),
        Some(_) => (false, s),
        None => return None,
    };
    // Names are matched on whole characters; stop at the first invalid byte sequence.
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&body[..e.valid_up_to()]).unwrap_or(""),
    };
    let len: usize = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .map(char::len_utf8)
        .sum();
    if len == 0 {
        return None;
    }
    let name = &text[..len];
    let mut rest = &body[len..];
    if brace {
        if rest.first() != Some(&b'}') {
            return None;
        }
        rest = &rest[1..];
    }
    Some((name, rest))
}

/// A group number as Go reads one: ASCII digits, no leading zero, below 1e8.
fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    let n: usize = name.parse().ok()?;
    (n < 100_000_000).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::to_rust;

    fn matches(pattern: &str, text: &str) -> bool {
        regex::Regex::new(&to_rust(pattern))
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
            .is_match(text)
    }

    /// Results of Go's `regexp.MatchString(pattern, text)` (RE2 semantics).
    #[test]
    fn perl_classes_and_boundaries_are_ascii_as_in_go() {
        let table: &[(&str, &str, bool)] = &[
            (r"^\d+$", "123", true),
            (r"^\d+$", "١٢٣", false), // Arabic-Indic digits are not \d in Go
            (r"^\D+$", "١٢٣", true),
            (r"^\w+$", "abc_09", true),
            (r"^\w+$", "café", false), // é is not \w in Go
            (r"^\W$", "é", true),
            (r"^\s$", "\u{a0}", false), // no-break space is not \s in Go
            (r"^\s$", "\u{b}", false),  // nor is \v
            (r"^\s$", "\t", true),
            (r"^\S$", "\u{a0}", true),
            (r"^[\d.]+$", "1.5", true),
            (r"^[\d.]+$", "١.٥", false),
            (r"^[\w-]+$", "naïve-x", false),
            (r"^[^\s]+$", "a\u{a0}b", true),
            (r"\bx", "éx", true), // é is a non-word character, so a boundary precedes x
            (r"\Bx", "éx", false),
            (r"^[[:alpha:]]+$", "abc", true),
            (r"^[a[]+$", "a[a", true), // `[` inside a class is literal in Go
            (r"^[a&&b]+$", "a&b", true),
            (r"^\pL+$", "café", true), // Unicode classes stay Unicode
            (r"(?i)^CAFÉ$", "café", true),
        ];
        for (pattern, text, want) in table {
            assert_eq!(matches(pattern, text), *want, "{pattern} on {text:?}");
        }
    }
}
