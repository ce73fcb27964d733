//! YAML text to serde structs with a position and a field path on every error, as the user
//! wrote them (serde-saphyr for line and column, [`GoRules`](go::GoRules) for the path), plus
//! the small serde helpers the raw config structs of every section share.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_saphyr::{MessageFormatter as _, Spanned, UserMessageFormatter};

use super::error::{ConfigError, ConfigErrors};

mod erase;
mod go;
mod path;
#[cfg(test)]
mod tests;

pub(crate) use go::keep_default_on_null;
pub use go::GoBytes;

/// Any YAML value, accepted only so that validation can reject it with a message that names
/// the field, instead of serde's generic "unknown field".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unsupported;

impl<'de> Deserialize<'de> for Unsupported {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(Unsupported)
    }
}

impl Serialize for Unsupported {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_none()
    }
}

/// A default value with no source position.
pub fn unspanned<T: Default>() -> Spanned<T> {
    Spanned::new(
        T::default(),
        serde_saphyr::Location::UNKNOWN,
        serde_saphyr::Location::UNKNOWN,
    )
}

/// A string with no source position (a default written in code).
pub fn spanned_str(s: &str) -> Spanned<String> {
    Spanned::new(
        s.to_string(),
        serde_saphyr::Location::UNKNOWN,
        serde_saphyr::Location::UNKNOWN,
    )
}

/// For `skip_serializing_if`.
pub fn is_empty_spanned(s: &Spanned<String>) -> bool {
    s.value.is_empty()
}

/// For `skip_serializing_if`.
pub fn is_false_spanned(b: &Spanned<bool>) -> bool {
    !b.value
}

/// For `#[serde(default = …)]`.
pub fn yes() -> bool {
    true
}

keep_default_on_null!(yes_on_null_inner, bool, yes);

/// For `#[serde(default = "yes", deserialize_with = …)]`: a boolean that defaults to true
/// keeps it when the value is null, as yaml.v3 leaves the field untouched.
pub fn yes_on_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    yes_on_null_inner(d)
}

/// YAML text → raw structs, with position and field path on any error. Generic so that
/// `alert::config` parses a standalone alertmanager.yml the same way.
pub fn parse<T: serde::de::DeserializeOwned>(text: &str, file: &Path) -> Result<T, ConfigErrors> {
    let has_content = text.lines().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#') && t != "---"
    });
    let text = first_document(text);
    if !has_content {
        return Err(ConfigErrors::single(ConfigError::file_level(
            file,
            "EOF: the file is empty".to_string(),
        )));
    }
    let (result, field_path) = path::recording(|| {
        serde_saphyr::with_deserializer_from_str_with_options(text, options(), |de| {
            go::deserialize::<T, _>(de)
        })
    });
    result.map_err(|e| {
        let e = e.without_snippet();
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        let mut path = field_path.as_deref().map(user_path).unwrap_or_default();
        if let serde_saphyr::Error::DuplicateMappingKey { key: Some(k), .. } = &e {
            // The key that failed is the path's unknown last segment.
            if let Some(parent) = path.strip_suffix('?') {
                path = format!("{parent}{k}");
            }
        } else if let Some(p) = path.strip_suffix('?') {
            // A syntax error leaves an unnamed last segment; it names nothing.
            path = p.trim_end_matches('.').to_string();
        }
        let message = describe(e);
        ConfigErrors::single(ConfigError {
            file: file.to_path_buf(),
            line,
            column,
            path,
            message,
        })
    })
}

/// `value` as YAML (`/config`, module dumps). Through erased-serde, so serde-saphyr's
/// serializer is compiled once rather than once per config type.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, serde_saphyr::SerializeError> {
    let erased: &dyn erased_serde::Serialize = value;
    serde_saphyr::to_string(&erased)
}

/// A YAML file's bytes as text. YAML files are UTF-8 (a byte order mark is fine): the error
/// for any other encoding names the line and column of the first byte that is not UTF-8.
pub fn utf8_text(bytes: Vec<u8>, file: &Path) -> Result<String, ConfigError> {
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
        let byte = e.as_bytes()[good.len()];
        ConfigError {
            file: file.to_path_buf(),
            line: line as u64,
            column: column as u64,
            path: String::new(),
            message: format!("the file is not valid UTF-8 (byte 0x{byte:02x}); save it as UTF-8"),
        }
    })
}

/// A parser or type error in the user's terms, without a position (`ConfigError` prints
/// its own): serde-saphyr's own wording names its API and Rust types.
pub fn describe(e: &serde_saphyr::Error) -> String {
    match e {
        serde_saphyr::Error::DuplicateMappingKey { key: Some(k), .. } => {
            format!("duplicate key `{k}`: each key may appear only once in a mapping")
        }
        serde_saphyr::Error::DuplicateMappingKey { key: None, .. } => {
            "duplicate key: each key may appear only once in a mapping".to_string()
        }
        other => clean_message(&UserMessageFormatter.format_message(other)),
    }
}

/// The text of the first YAML document: the Go tools decode one document and ignore the
/// rest of the file (a `---` line ends it once content has been seen).
pub fn first_document(text: &str) -> &str {
    let mut offset = 0;
    let mut seen_content = false;
    for line in text.split_inclusive('\n') {
        let t = line.trim_end();
        if t == "---" || t.starts_with("--- ") {
            if seen_content {
                return &text[..offset];
            }
        } else if !t.trim().is_empty() && !t.trim_start().starts_with('#') {
            seen_content = true;
        }
        offset += line.len();
    }
    text
}

/// serde-saphyr's options for config files: no snippets (`ConfigError` prints its own
/// position), and `!!binary` scalars reach [`GoRules`](go::GoRules) as written, which
/// decodes them.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        with_snippet: false,
        ignore_binary_tag_for_string: true,
    }
}

/// YAML text → `T` with Go's decoding rules ([`GoRules`](go::GoRules)), for files that
/// report errors their own way (rule files, promtool tests, file_sd): the error carries its
/// location.
pub fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::with_deserializer_from_str_with_options(text, options(), |de| {
        go::deserialize::<T, _>(de)
    })
}

/// Mapping fields whose keys are user data (module and header names), not field names.
const FREE_FORM_MAPS: &[&str] = &[
    "modules",
    "headers",
    "http_headers",
    "match",
    "match_re",
    "source_match",
    "source_match_re",
    "target_match",
    "target_match_re",
];

/// The field path as the user wrote it. The recorded path also has the `value` field of
/// serde-saphyr's `Spanned` wrapper, which is not in the file, so those segments are
/// dropped; a real `value` key (a module or header named `value`, or `labels[i].value`) stays.
fn user_path(path: &[path::Segment]) -> String {
    use path::Segment;
    #[derive(PartialEq)]
    enum Prev {
        Start,
        FreeFormField,
        LabelsField,
        LabelsIndex,
        Other,
    }
    let mut out = String::new();
    let mut prev = Prev::Start;
    for seg in path.iter() {
        match seg {
            Segment::Index(index) => {
                out.push_str(&format!("[{index}]"));
                prev = if prev == Prev::LabelsField {
                    Prev::LabelsIndex
                } else {
                    Prev::Other
                };
            }
            Segment::Key(key) => {
                let user_key = prev == Prev::FreeFormField;
                if !user_key && key == "value" && prev != Prev::LabelsIndex {
                    continue;
                }
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
                prev = if user_key {
                    Prev::Other
                } else if FREE_FORM_MAPS.contains(&key.as_str()) {
                    Prev::FreeFormField
                } else if key == "labels" {
                    Prev::LabelsField
                } else {
                    Prev::Other
                };
            }
            Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
                prev = Prev::Other;
            }
        }
    }
    out
}

/// The first line of a parser message, without a position (`ConfigError` prints its own).
fn clean_message(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or(msg).trim();
    let first = first
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
        .map_or(first, |(_, m)| m);
    let first = match first.rfind(" at line ") {
        Some(i) if first[i..].contains(", column ") => &first[..i],
        _ => first,
    };
    // serde-saphyr's type errors name parser events and Rust types; say what the file needs.
    let integer = first.strip_prefix("invalid ").is_some_and(|t| {
        matches!(
            t,
            "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64"
        )
    });
    // `GoRules` refusals: "invalid type: !!str `64`, expected Go int".
    if let Some((got, want)) = first
        .strip_prefix("invalid type: ")
        .filter(|r| r.starts_with(go::GO_TAG))
        .and_then(|r| r.split_once(", expected Go "))
    {
        return format!("cannot unmarshal {got} into {want}");
    }
    match first {
        _ if integer => "expected an integer".to_string(),
        "invalid boolean" => "expected a boolean (true or false)".to_string(),
        "expected mapping start" => "expected a mapping".to_string(),
        "expected sequence start" => "expected a list".to_string(),
        "expected string scalar" => "expected a string".to_string(),
        other => other.to_string(),
    }
}
