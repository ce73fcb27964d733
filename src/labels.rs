//! Label sets and their fingerprints, shared by the rule engine and the alert pipeline.
//! Also Alertmanager's label matchers (`Matcher`, `Matchers`, both parser grammars) and the
//! Go-style printing of label sets used in group keys.

use std::collections::BTreeMap;
use std::fmt;

/// A label set: names to values, sorted by name. Empty values are not stored by convention.
pub type LabelSet = BTreeMap<String, String>;

/// The Prometheus/Alertmanager fingerprint of a label set: FNV-1a 64 over the sorted
/// `name 0xFF value 0xFF` bytes. Alertmanager prints it as `%016x`.
/// A label set from `(name, value)` pairs (later duplicates win).
pub fn label_set(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn fingerprint(labels: &LabelSet) -> u64 {
    fingerprint_pairs(labels.iter().map(|(n, v)| (n.as_str(), v.as_str())))
}

/// `fingerprint` over `(name, value)` pairs the caller yields sorted by name, so callers
/// can hash a selection of labels without building a `LabelSet`.
pub fn fingerprint_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for (name, value) in pairs {
        add(name.as_bytes());
        add(&[0xff]);
        add(value.as_bytes());
        add(&[0xff]);
    }
    h
}

/// A label set as Alertmanager 0.25 prints it (`model.LabelSet.String()`): the `name="value"`
/// strings (values Go-quoted) sorted as strings, joined by `", "`, in braces. Sorting the
/// formatted pairs puts `a0="y"` before `a="x"` (`0` < `=`), as a live 0.25 group key shows.
/// This is the second half of a group key (`routeKey:{labels}`).
pub fn label_set_string(labels: &LabelSet) -> String {
    let mut pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::base::go::quote(v)))
        .collect();
    pairs.sort();
    format!("{{{}}}", pairs.join(", "))
}

/// A group key as Alertmanager builds it: `routeKey + ":" + groupLabels.String()`.
pub fn group_key(route_key: &str, group_labels: &LabelSet) -> String {
    format!("{route_key}:{}", label_set_string(group_labels))
}

/// The four matcher operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
    /// `isRegex`/`isEqual` of the API's matcher objects.
    pub fn from_flags(is_regex: bool, is_equal: bool) -> Self {
        match (is_regex, is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (true, false) => MatchOp::NotRegex,
        }
    }
    pub fn is_regex(self) -> bool {
        matches!(self, MatchOp::Regex | MatchOp::NotRegex)
    }
    pub fn is_equal(self) -> bool {
        matches!(self, MatchOp::Equal | MatchOp::Regex)
    }
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A matcher could not be parsed or built. The message is upstream's wording.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MatcherError(pub String);

/// One label matcher: `name op value`. A missing label matches as `""`; regexes are fully
/// anchored (`^(?:re)$`). Equality, order and hashing use (name, op, value) only.
#[derive(Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    re: Option<regex::Regex>,
}

impl Matcher {
    /// Builds a matcher; regex operators compile `^(?:value)$`.
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let value = value.into();
        let re = if op.is_regex() {
            Some(
                regex::RegexBuilder::new(&format!(
                    "^(?:{})$",
                    crate::base::goregex::to_rust(&value)
                ))
                .size_limit(1 << 20)
                .build()
                .map_err(|e| {
                    let detail = e.to_string();
                    let last = detail.lines().last().unwrap_or_default().trim();
                    let last = last.strip_prefix("error: ").unwrap_or(last);
                    MatcherError(format!("error parsing regexp: {last}: `{value}`"))
                })?,
            )
        } else {
            None
        };
        Ok(Self {
            name: name.into(),
            op,
            value,
            re,
        })
    }

    /// Whether the value (`""` for a missing label) satisfies the matcher.
    pub fn matches(&self, v: &str) -> bool {
        match (self.op, &self.re) {
            (MatchOp::Equal, _) => v == self.value,
            (MatchOp::NotEqual, _) => v != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(v),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(v),
            // Unreachable by construction: regex operators always carry a compiled regex.
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }

    /// Matches against a label set, a missing label counting as `""`.
    pub fn matches_labels(&self, labels: &LabelSet) -> bool {
        self.matches(labels.get(&self.name).map_or("", String::as_str))
    }

    fn key(&self) -> (&str, &str, MatchOp) {
        (&self.name, &self.value, self.op)
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}
impl Eq for Matcher {}
impl std::hash::Hash for Matcher {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.op.hash(state);
        self.value.hash(state);
    }
}
/// Upstream's `Matchers.Less`: by name, then value, then operator.
impl Ord for Matcher {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}
impl PartialOrd for Matcher {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// `name op "value"` as upstream prints it: the value Go-quoted (0.25's `%q`), the name
/// bare unless it holds a character the matcher grammar reserves (newer releases' rule; 0.25
/// names never do).
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reserved = |c: char| c.is_whitespace() || "{}!=~,\\\"'`".contains(c);
        if self.name.is_empty() || self.name.contains(reserved) {
            f.write_str(&crate::base::go::quote(&self.name))?;
        } else {
            f.write_str(&self.name)?;
        }
        write!(f, "{}{}", self.op, crate::base::go::quote(&self.value))
    }
}

impl serde::Serialize for Matcher {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Matcher {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_matcher(&s).map_err(serde::de::Error::custom)
    }
}

/// A list of matchers, ANDed. `Display` is upstream's `{a="b",c=~"d"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Matchers(pub Vec<Matcher>);

impl Matchers {
    /// Parses one matcher-list string (`a=b, c=~"d"`, braces optional), UTF-8 grammar first,
    /// classic grammar as the fallback (as Alertmanager 0.27+ does by default).
    pub fn parse(s: &str) -> Result<Self, MatcherError> {
        parse_matchers(s).map(Matchers)
    }
    /// All matchers match (an empty list matches everything).
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.0.iter().all(|m| m.matches_labels(labels))
    }
    /// Sorted by (name, value, operator), as upstream does before printing a route key.
    pub fn sorted(mut self) -> Self {
        self.0.sort();
        self
    }
    pub fn iter(&self) -> impl Iterator<Item = &Matcher> {
        self.0.iter()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

/// Parses a matcher-list string: the UTF-8 grammar, falling back to the classic grammar
/// (unquoted values with spaces, empty values `foo=`, …). When both fail, the classic
/// parser's error is returned, as upstream's fallback parser does.
pub fn parse_matchers(s: &str) -> Result<Vec<Matcher>, MatcherError> {
    match utf8::parse_matchers(s) {
        Ok(ms) => Ok(ms),
        Err(utf8_err) => match classic::parse_matchers(s) {
            Ok(ms) => Ok(ms),
            Err(classic_err) => {
                // Regex errors are the same in both grammars; prefer the more specific one.
                if utf8_err.0.starts_with("error parsing regexp") {
                    Err(utf8_err)
                } else {
                    Err(classic_err)
                }
            }
        },
    }
}

/// Parses exactly one matcher (as `amtool silence add` arguments and the API `filter`).
pub fn parse_matcher(s: &str) -> Result<Matcher, MatcherError> {
    let mut ms = parse_matchers(s)?;
    if ms.len() != 1 {
        return Err(MatcherError(format!(
            "expected exactly one matcher, found {}: {s}",
            ms.len()
        )));
    }
    Ok(ms.remove(0))
}

/// Alertmanager's UTF-8 matcher grammar (`matcher/parse`): quoted or unquoted names and
/// values, Go string escapes in quotes, optional balanced braces, one trailing comma.
mod utf8 {
    use super::{MatchOp, Matcher, MatcherError};

    #[derive(Debug, PartialEq)]
    enum Tok {
        Open,
        Close,
        Comma,
        Op(MatchOp),
        Quoted(String),
        Unquoted(String),
    }

    fn err(input: &str, msg: impl std::fmt::Display) -> MatcherError {
        MatcherError(format!("{input}: {msg}"))
    }

    fn is_reserved(c: char) -> bool {
        c.is_whitespace() || "{}!=~,\\\"'`".contains(c)
    }

    /// Alertmanager's matcher lexer (`matcher/parse/lexer.go`) as one state loop, like upstream.
    fn lex(input: &str) -> Result<Vec<Tok>, MatcherError> {
        let mut toks = Vec::new();
        let chars: Vec<(usize, char)> = input.char_indices().collect();
        let mut i = 0;
        while i < chars.len() {
            let (pos, c) = chars[i];
            match c {
                c if c.is_whitespace() => i += 1,
                '{' => {
                    toks.push(Tok::Open);
                    i += 1;
                }
                '}' => {
                    toks.push(Tok::Close);
                    i += 1;
                }
                ',' => {
                    toks.push(Tok::Comma);
                    i += 1;
                }
                '=' | '!' => {
                    let next = chars.get(i + 1).map(|x| x.1);
                    let (op, len) = match (c, next) {
                        ('=', Some('~')) => (MatchOp::Regex, 2),
                        ('=', _) => (MatchOp::Equal, 1),
                        ('!', Some('=')) => (MatchOp::NotEqual, 2),
                        ('!', Some('~')) => (MatchOp::NotRegex, 2),
                        _ => {
                            return Err(err(
                                input,
                                format!("{pos}:{}: {c}: invalid input", pos + 1),
                            ))
                        }
                    };
                    toks.push(Tok::Op(op));
                    i += len;
                }
                '"' => {
                    let mut out = String::new();
                    i += 1;
                    let mut closed = false;
                    while i < chars.len() {
                        let (_, c) = chars[i];
                        match c {
                            '"' => {
                                closed = true;
                                i += 1;
                                break;
                            }
                            '\\' => {
                                let Some(&(_, e)) = chars.get(i + 1) else {
                                    break;
                                };
                                i += 2;
                                match e {
                                    'a' => out.push('\u{7}'),
                                    'b' => out.push('\u{8}'),
                                    'f' => out.push('\u{c}'),
                                    'n' => out.push('\n'),
                                    'r' => out.push('\r'),
                                    't' => out.push('\t'),
                                    'v' => out.push('\u{b}'),
                                    '\\' => out.push('\\'),
                                    '"' => out.push('"'),
                                    'x' | 'u' | 'U' => {
                                        let n = match e {
                                            'x' => 2,
                                            'u' => 4,
                                            _ => 8,
                                        };
                                        let hex: String =
                                            chars.iter().skip(i).take(n).map(|x| x.1).collect();
                                        let v = (hex.len() == n)
                                            .then(|| u32::from_str_radix(&hex, 16).ok())
                                            .flatten()
                                            .and_then(char::from_u32)
                                            .ok_or_else(|| {
                                                err(input, format!("{pos}: invalid escape"))
                                            })?;
                                        out.push(v);
                                        i += n;
                                    }
                                    _ => {
                                        return Err(err(
                                            input,
                                            format!("{pos}: invalid escape \\{e}"),
                                        ))
                                    }
                                }
                            }
                            c => {
                                out.push(c);
                                i += 1;
                            }
                        }
                    }
                    if !closed {
                        return Err(err(
                            input,
                            format!("{pos}:{}: {}: missing end \"", pos, &input[pos..]),
                        ));
                    }
                    toks.push(Tok::Quoted(out));
                }
                c if is_reserved(c) => {
                    return Err(err(input, format!("{pos}:{}: {c}: invalid input", pos + 1)))
                }
                _ => {
                    let mut out = String::new();
                    while i < chars.len() && !is_reserved(chars[i].1) {
                        out.push(chars[i].1);
                        i += 1;
                    }
                    toks.push(Tok::Unquoted(out));
                }
            }
        }
        Ok(toks)
    }

    pub(super) fn parse_matchers(input: &str) -> Result<Vec<Matcher>, MatcherError> {
        let toks = lex(input)?;
        let mut it = toks.into_iter().peekable();
        let braced = it.peek() == Some(&Tok::Open);
        if braced {
            it.next();
        }
        let mut out = Vec::new();
        loop {
            match it.next() {
                None if !braced => break,
                None => return Err(err(input, "missing closing '}'")),
                Some(Tok::Close) if braced => {
                    if it.next().is_some() {
                        return Err(err(input, "unexpected input after '}'"));
                    }
                    break;
                }
                Some(Tok::Quoted(name)) | Some(Tok::Unquoted(name)) => {
                    let Some(Tok::Op(op)) = it.next() else {
                        return Err(err(input, format!("expected an operator after {name:?}")));
                    };
                    let value = match it.next() {
                        Some(Tok::Quoted(v)) | Some(Tok::Unquoted(v)) => v,
                        _ => return Err(err(input, "expected a label value")),
                    };
                    out.push(Matcher::new(name, op, value)?);
                    match it.next() {
                        Some(Tok::Comma) => continue,
                        None if !braced => break,
                        None => return Err(err(input, "missing closing '}'")),
                        Some(Tok::Close) if braced => {
                            if it.next().is_some() {
                                return Err(err(input, "unexpected input after '}'"));
                            }
                            break;
                        }
                        Some(t) => return Err(err(input, format!("unexpected {t:?}"))),
                    }
                }
                Some(t) => return Err(err(input, format!("unexpected {t:?}"))),
            }
        }
        Ok(out)
    }
}

/// Alertmanager's classic matcher grammar (`pkg/labels/parse.go`, 0.26 and earlier).
mod classic {
    use std::sync::LazyLock;

    use super::{MatchOp, Matcher, MatcherError};

    static RE: LazyLock<regex::Regex> = LazyLock::new(|| {
        // A literal pattern: it always compiles.
        regex::Regex::new(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*((?s).*?)\s*$")
            .unwrap_or_else(|_| unreachable!())
    });

    pub(super) fn parse_matchers(s: &str) -> Result<Vec<Matcher>, MatcherError> {
        let s = s.strip_prefix('{').unwrap_or(s);
        let s = s.strip_suffix('}').unwrap_or(s);
        let mut tokens = Vec::new();
        let mut token = String::new();
        let (mut inside_quotes, mut escaped) = (false, false);
        for r in s.chars() {
            match r {
                ',' if !inside_quotes => {
                    tokens.push(std::mem::take(&mut token));
                    continue;
                }
                ',' => {}
                '"' => {
                    if !escaped {
                        inside_quotes = !inside_quotes;
                    } else {
                        escaped = false;
                    }
                }
                '\\' => escaped = !escaped,
                _ => escaped = false,
            }
            token.push(r);
        }
        let last = token.trim();
        if !last.is_empty() {
            tokens.push(last.to_string());
        }
        tokens
            .iter()
            .map(|t| parse_matcher(t.trim()))
            .collect::<Result<_, _>>()
    }

    fn parse_matcher(s: &str) -> Result<Matcher, MatcherError> {
        let Some(caps) = RE.captures(s) else {
            return Err(MatcherError(format!("bad matcher format: {s}")));
        };
        let raw_all = &caps[3];
        let (mut raw, mut expect_quote) = (raw_all, false);
        if let Some(r) = raw.strip_prefix('"') {
            raw = r;
            expect_quote = true;
        }
        let mut value = String::new();
        let mut escaped = false;
        let chars: Vec<char> = raw.chars().collect();
        for (i, &r) in chars.iter().enumerate() {
            if escaped {
                escaped = false;
                match r {
                    'n' => value.push('\n'),
                    '"' | '\\' => value.push(r),
                    _ => {
                        value.push('\\');
                        value.push(r);
                    }
                }
                continue;
            }
            match r {
                '\\' if i < chars.len() - 1 => escaped = true,
                '\\' => value.push('\\'),
                '"' => {
                    if !expect_quote || i < chars.len() - 1 {
                        return Err(MatcherError(format!(
                            "matcher value contains unescaped double quote: {raw_all}"
                        )));
                    }
                    expect_quote = false;
                }
                _ => value.push(r),
            }
        }
        if expect_quote {
            return Err(MatcherError(format!(
                "matcher value contains unescaped double quote: {raw_all}"
            )));
        }
        let op = match &caps[2] {
            "=" => MatchOp::Equal,
            "!=" => MatchOp::NotEqual,
            "=~" => MatchOp::Regex,
            _ => MatchOp::NotRegex,
        };
        Matcher::new(&caps[1], op, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_set_is_the_fnv_offset() {
        assert_eq!(fingerprint(&LabelSet::new()), 0xcbf2_9ce4_8422_2325);
    }

    #[test]
    fn order_of_insertion_does_not_matter() {
        let a: LabelSet = [("a", "1"), ("b", "2")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let b: LabelSet = [("b", "2"), ("a", "1")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&LabelSet::new()));
    }

    use crate::labels::label_set as ls;

    fn m(name: &str, op: MatchOp, value: &str) -> Matcher {
        Matcher::new(name, op, value).unwrap()
    }

    #[test]
    fn matcher_parsing_table() {
        use MatchOp::*;
        let cases: &[(&str, Vec<Matcher>)] = &[
            ("foo=bar", vec![m("foo", Equal, "bar")]),
            ("foo!=bar", vec![m("foo", NotEqual, "bar")]),
            ("foo=~bar.*", vec![m("foo", Regex, "bar.*")]),
            ("foo!~bar", vec![m("foo", NotRegex, "bar")]),
            (r#"foo="bar""#, vec![m("foo", Equal, "bar")]),
            (r#" foo = "bar" "#, vec![m("foo", Equal, "bar")]),
            (
                r#"{foo="bar", baz=~"qux|quux"}"#,
                vec![m("foo", Equal, "bar"), m("baz", Regex, "qux|quux")],
            ),
            (r#"{foo="bar",}"#, vec![m("foo", Equal, "bar")]),
            ("{}", vec![]),
            ("", vec![]),
            // UTF-8 grammar: Go escapes inside quotes, quoted names.
            (r#"foo="\\d+""#, vec![m("foo", Equal, r"\d+")]),
            (r#"foo="bar\"baz""#, vec![m("foo", Equal, "bar\"baz")]),
            (r#"foo="a\nb""#, vec![m("foo", Equal, "a\nb")]),
            (r#""foo.bar"="x""#, vec![m("foo.bar", Equal, "x")]),
            ("foo=ünïcödé", vec![m("foo", Equal, "ünïcödé")]),
            (r#"foo="a,b""#, vec![m("foo", Equal, "a,b")]),
            // Classic fallback: empty and unquoted values with spaces.
            ("foo=", vec![m("foo", Equal, "")]),
            ("foo=bar baz", vec![m("foo", Equal, "bar baz")]),
            (
                "{foo=bar, baz=}",
                vec![m("foo", Equal, "bar"), m("baz", Equal, "")],
            ),
            ("job=~node|prom", vec![m("job", Regex, "node|prom")]),
        ];
        for (input, want) in cases {
            let got = parse_matchers(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(&got, want, "{input:?}");
        }
    }

    #[test]
    fn matcher_parse_errors_use_upstream_wording() {
        let cases = [
            ("foo", "bad matcher format: foo"),
            (
                r#"foo="bar"#,
                "matcher value contains unescaped double quote: \"bar",
            ),
            ("=bar", "bad matcher format: =bar"),
            ("foo=~\"(\"", "error parsing regexp"),
            ("foo=~(", "error parsing regexp"),
        ];
        for (input, want) in cases {
            let err = parse_matchers(input).expect_err(input).to_string();
            assert!(err.contains(want), "{input:?}: {err:?} lacks {want:?}");
        }
        assert!(parse_matcher("a=b,c=d").is_err());
        assert_eq!(parse_matcher("a=b").unwrap(), m("a", MatchOp::Equal, "b"));
    }

    #[test]
    fn matching_treats_missing_as_empty_and_anchors_regexes() {
        let labels = ls(&[("job", "node"), ("env", "prod")]);
        let check = |s: &str| Matchers::parse(s).unwrap().matches(&labels);
        assert!(check("job=node"));
        assert!(!check("job=nod"));
        assert!(check(r#"job=~"no.*""#));
        assert!(!check(r#"job=~"no""#), "regex is anchored");
        assert!(!check(r#"job=~"ode""#), "regex is anchored at the start");
        assert!(check(r#"job!~"xyz""#));
        assert!(check(r#"missing="""#), "missing label equals empty");
        assert!(check(r#"missing=~".*""#));
        assert!(!check(r#"missing=~".+""#));
        assert!(check(r#"missing!="x""#));
        assert!(check(r#"{job="node", env=~"prod|staging"}"#));
        assert!(!check(r#"{job="node", env!="prod"}"#));
        assert!(Matchers::default().matches(&labels));
    }

    #[test]
    fn display_is_upstream_format_and_round_trips() {
        let ms = Matchers(vec![
            m("c", MatchOp::Regex, "d"),
            m("a", MatchOp::Equal, "b"),
            m("q", MatchOp::NotEqual, "x\"y\n"),
            m("foo.bar", MatchOp::NotRegex, "z"),
        ])
        .sorted();
        let s = ms.to_string();
        assert_eq!(s, r#"{a="b",c=~"d",foo.bar!~"z",q!="x\"y\n"}"#);
        assert_eq!(Matchers::parse(&s).unwrap(), ms);
        assert_eq!(Matchers::default().to_string(), "{}");
        let odd = Matchers(vec![
            m("a b", MatchOp::Equal, "x"),
            m("a:b", MatchOp::Equal, "y"),
        ]);
        assert_eq!(odd.to_string(), r#"{"a b"="x",a:b="y"}"#);
        assert_eq!(Matchers::parse(&odd.to_string()).unwrap(), odd);
    }

    #[test]
    fn sort_order_is_name_value_operator() {
        let ms = Matchers(vec![
            m("b", MatchOp::Equal, "1"),
            m("a", MatchOp::Regex, "x"),
            m("a", MatchOp::Equal, "x"),
            m("a", MatchOp::Equal, "w"),
        ])
        .sorted();
        assert_eq!(ms.to_string(), r#"{a="w",a="x",a=~"x",b="1"}"#);
    }

    #[test]
    fn go_quoting_and_group_keys() {
        assert_eq!(
            crate::base::go::quote("a\"b\\c\td\u{1}é"),
            r#""a\"b\\c\td\x01é""#
        );
        let labels = ls(&[("job", "x"), ("alertname", "Down")]);
        assert_eq!(label_set_string(&labels), r#"{alertname="Down", job="x"}"#);
        assert_eq!(
            group_key("{}/{team=\"mail\"}", &labels),
            r#"{}/{team="mail"}:{alertname="Down", job="x"}"#
        );
        assert_eq!(group_key("{}", &LabelSet::new()), "{}:{}");
        // Observed from Alertmanager 0.25 with group_by ['...'].
        let tricky = ls(&[("a", "x"), ("a0", "y"), ("job", "j"), ("job2", "k")]);
        assert_eq!(
            group_key("{}", &tricky),
            r#"{}:{a0="y", a="x", job2="k", job="j"}"#
        );
    }
}
