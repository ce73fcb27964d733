//! Outbound connection settings shared by every client blackwatch runs, probers and
//! notifiers alike: prometheus/common's HTTP client configuration as serde structs (`raw`),
//! its validated form (the types below), and the rustls client configuration built from it
//! (`tls`). Validation texts stay with each section (`config::validate` for blackbox
//! modules, `alert::config` for alertmanager.yml), because upstream's two tools word them
//! differently; what they produce is one type.

pub mod raw;
pub mod tls;

use std::path::PathBuf;

use crate::base::{Secret, SecretSource};

#[derive(Clone, Debug)]
pub enum Auth {
    Basic {
        username: SecretSource,
        password: Option<SecretSource>,
    },
    /// `Authorization: <kind> <credentials>`; `bearer_token` becomes kind `Bearer`.
    Authorization {
        kind: String,
        credentials: Option<SecretSource>,
    },
}

/// A PEM given inline or as a file.
#[derive(Clone, Debug)]
pub enum PemSource {
    Inline(String),
    File(PathBuf),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// prometheus/common TLSConfig, validated.
#[derive(Clone, Debug, Default)]
pub struct TlsSettings {
    pub ca: Option<PemSource>,
    pub cert: Option<PemSource>,
    pub key: Option<SecretSource>,
    pub key_inline_pem: Option<Secret>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: bool,
    pub min_version: Option<TlsVersion>,
    pub max_version: Option<TlsVersion>,
}
