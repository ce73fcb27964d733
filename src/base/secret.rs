//! Secrets: values that never appear in logs, errors, `/config` or debug output, and the one
//! rule for reading a secret given as a file (`*_file`): read at every use, so a rotated
//! Kubernetes Secret takes effect without a reload, and trimmed of surrounding whitespace as
//! prometheus/common's `FileSecret` and Alertmanager's `*_file` fields do.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A secret string: webhook URL, password, bearer token, private key. Its `Debug`, `Display`
/// and `Serialize` never show the value.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<secret>")
    }
}

/// A secret given inline or as a file read at every use (`password` / `password_file`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    Inline(Secret),
    /// Read on every use; relative paths are resolved by whoever built the source.
    File(PathBuf),
}

impl SecretSource {
    /// `inline` when it is set, else `file` when it is set, else nothing.
    pub fn from_parts(inline: &Secret, file: impl Into<PathBuf>) -> Option<Self> {
        let file = file.into();
        if !inline.is_empty() {
            Some(Self::Inline(inline.clone()))
        } else if !file.as_os_str().is_empty() {
            Some(Self::File(file))
        } else {
            None
        }
    }

    /// The secret; file contents are trimmed of surrounding whitespace.
    pub fn read(&self) -> std::io::Result<Secret> {
        match self {
            Self::Inline(s) => Ok(s.clone()),
            Self::File(p) => Ok(Secret::new(std::fs::read_to_string(p)?.trim())),
        }
    }

    /// The secret as stored, without trimming: a PEM key, or Alertmanager's CRAM-MD5
    /// `auth_secret_file`, which upstream reads verbatim.
    pub fn read_untrimmed(&self) -> std::io::Result<Secret> {
        match self {
            Self::Inline(s) => Ok(s.clone()),
            Self::File(p) => Ok(Secret::new(std::fs::read_to_string(p)?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "<secret> <secret>");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"<secret>\"");
        let src = SecretSource::Inline(s);
        assert!(!format!("{src:?}").contains("hunter2"));
    }

    #[test]
    fn files_are_read_per_use_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, "  abc\n").unwrap();
        let src = SecretSource::from_parts(&Secret::default(), &p).unwrap();
        assert_eq!(src.read().unwrap().expose(), "abc");
        assert_eq!(src.read_untrimmed().unwrap().expose(), "  abc\n");
        std::fs::write(&p, "def").unwrap();
        assert_eq!(src.read().unwrap().expose(), "def");
        let inline = SecretSource::from_parts(&Secret::new("x"), &p).unwrap();
        assert_eq!(inline, SecretSource::Inline(Secret::new("x")));
        assert!(SecretSource::from_parts(&Secret::default(), "").is_none());
    }
}
