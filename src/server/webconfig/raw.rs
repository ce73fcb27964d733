//! The web configuration file as written (`tls_server_config`, `http_server_config`,
//! `basic_auth_users`), with positions for errors.

use super::*;

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebConfig {
    #[serde(default)]
    pub tls_server_config: Option<Spanned<RawTlsServerConfig>>,
    #[serde(default)]
    pub http_server_config: Option<Spanned<RawHttpServerConfig>>,
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, Spanned<Secret>>,
    #[serde(default)]
    pub rate_limit: Option<Spanned<Unsupported>>,
}

/// `tls_server_config:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTlsServerConfig {
    #[serde(default)]
    pub cert: Option<Spanned<String>>,
    #[serde(default)]
    pub key: Option<Spanned<Secret>>,
    #[serde(default)]
    pub client_ca: Option<Spanned<String>>,
    #[serde(default)]
    pub cert_file: Option<Spanned<String>>,
    #[serde(default)]
    pub key_file: Option<Spanned<String>>,
    #[serde(default)]
    pub client_auth_type: Option<Spanned<String>>,
    #[serde(default)]
    pub client_ca_file: Option<Spanned<String>>,
    #[serde(default)]
    pub cipher_suites: Vec<Spanned<String>>,
    #[serde(default)]
    pub curve_preferences: Vec<Spanned<String>>,
    #[serde(default)]
    pub min_version: Option<Spanned<String>>,
    #[serde(default)]
    pub max_version: Option<Spanned<String>>,
    #[serde(default)]
    pub prefer_server_cipher_suites: Option<Spanned<bool>>,
    #[serde(default)]
    pub client_allowed_sans: Option<Spanned<Vec<String>>>,
}

/// `http_server_config:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttpServerConfig {
    #[serde(default)]
    pub http2: Option<Spanned<bool>>,
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
}

/// The toolkit's `client_auth_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}
