//! `--web.config.file`: the Prometheus exporter-toolkit web configuration
//! (`tls_server_config`, `http_server_config`, `basic_auth_users`), parsed with positions like
//! `crate::config`, validated, and turned into a rustls `ServerConfig`. Owns the basic-auth
//! check (bcrypt, with the toolkit's result cache and decoy hash for unknown users) and the
//! reload-on-change of the file and the certificate, key and CA files it names.
//!
//! Differences from the toolkit, all refused at load with a clear error rather than ignored:
//! TLS 1.0 and 1.1, the CBC and RSA-key-exchange cipher suites, `CurveP521` (rustls does not
//! implement them), `rate_limit` (not supported yet), and a
//! `client_auth_type` that verifies certificates without a `client_ca_file`/`client_ca`
//! (the toolkit falls back to the system roots; a client CA must be named explicitly here).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use axum::http::{HeaderName, HeaderValue};
use rustls::crypto::ring as ring_provider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use serde::Deserialize;
use serde_saphyr::Spanned;
use sha2::{Digest, Sha256};

use crate::base::yaml::Unsupported;
use crate::base::Secret;
use crate::base::{ConfigError, ConfigErrors};

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

/// The headers the toolkit lets an operator set, with their allowed values (empty: any).
const EXTRA_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// Go's `tls.CipherSuites()` names that rustls does not implement.
const GO_ONLY_CIPHERS: &[&str] = &[
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
];

/// Go cipher-suite name → the rustls suite (TLS 1.2 only; Go ignores TLS 1.3 names).
fn tls12_suite(name: &str) -> Option<Option<rustls::SupportedCipherSuite>> {
    use ring_provider::cipher_suite as cs;
    Some(Some(match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => {
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => {
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_AES_128_GCM_SHA256" | "TLS_AES_256_GCM_SHA384" | "TLS_CHACHA20_POLY1305_SHA256" => {
            return Some(None)
        }
        _ => return None,
    }))
}

/// A validated web config with its TLS material loaded.
#[derive(Debug)]
pub struct WebConfig {
    /// `None`: plain HTTP (no TLS field set), as in the toolkit.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub client_auth: ClientAuth,
    pub http2: bool,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// User → bcrypt hash.
    pub users: BTreeMap<String, Secret>,
    /// Every file read, with its bytes, so a reload can tell whether anything changed.
    inputs: Vec<(PathBuf, Vec<u8>)>,
}

struct Cx<'a> {
    file: &'a Path,
    errors: Vec<ConfigError>,
}

impl Cx<'_> {
    fn err<T>(&mut self, at: &Spanned<T>, path: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line: at.referenced.line(),
            column: at.referenced.column(),
            path: path.to_string(),
            message: message.into(),
        });
    }
    fn err_nopos(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line: 0,
            column: 0,
            path: path.to_string(),
            message: message.into(),
        });
    }
}

fn file_error(file: &Path, message: String) -> ConfigErrors {
    ConfigErrors::single(ConfigError {
        file: file.to_path_buf(),
        line: 0,
        column: 0,
        path: String::new(),
        message,
    })
}

/// Reads and validates a web config file, loading the files it names.
pub fn load(path: &Path) -> Result<WebConfig, ConfigErrors> {
    let bytes = std::fs::read(path)
        .map_err(|e| file_error(path, format!("error reading web config file: {e}")))?;
    let text = String::from_utf8(bytes.clone())
        .map_err(|_| file_error(path, "the file is not valid UTF-8".to_string()))?;
    let mut cfg = load_str(&text, path)?;
    cfg.inputs.insert(0, (path.to_path_buf(), bytes));
    Ok(cfg)
}

/// Validates web config text; relative file names are resolved against `file`'s directory.
pub fn load_str(text: &str, file: &Path) -> Result<WebConfig, ConfigErrors> {
    let has_content = text.lines().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#') && t != "---"
    });
    // An empty file is valid for the toolkit: plain HTTP, no authentication.
    let raw: RawWebConfig = if has_content {
        crate::base::yaml::parse(text, file)?
    } else {
        RawWebConfig::default()
    };
    let base = file.parent().unwrap_or_else(|| Path::new("."));
    let mut cx = Cx {
        file,
        errors: Vec::new(),
    };
    let mut inputs = Vec::new();

    if let Some(rl) = &raw.rate_limit {
        cx.err(
            rl,
            "rate_limit",
            "rate_limit is not supported yet by blackwatch",
        );
    }

    let mut http2 = true;
    let mut headers = Vec::new();
    if let Some(h) = &raw.http_server_config {
        if let Some(v) = &h.value.http2 {
            http2 = v.value;
        }
        for (name, value) in &h.value.headers {
            let path = format!("http_server_config.headers.{name}");
            let Some((_, allowed)) = EXTRA_HEADERS.iter().find(|(n, _)| n == name) else {
                cx.err(
                    value,
                    &path,
                    format!("HTTP header {name:?} can not be configured"),
                );
                continue;
            };
            if !allowed.is_empty() && !allowed.contains(&value.value.as_str()) {
                cx.err(
                    value,
                    &path,
                    format!(
                        "invalid value for {name}. Expected one of: {allowed:?}, but got: {:?}",
                        value.value
                    ),
                );
                continue;
            }
            match (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value.value),
            ) {
                (Ok(n), Ok(v)) => headers.push((n, v)),
                _ => cx.err(value, &path, "not a valid HTTP header value"),
            }
        }
    }

    let mut users = BTreeMap::new();
    for (user, hash) in &raw.basic_auth_users {
        let path = format!("basic_auth_users.{user}");
        if hash.value.expose().parse::<bcrypt::HashParts>().is_err() {
            cx.err(
                hash,
                &path,
                "not a bcrypt hash (expected $2a$, $2b$ or $2y$ with a cost)",
            );
            continue;
        }
        if user.contains(':') {
            cx.err(hash, &path, "a user name cannot contain ':'");
            continue;
        }
        users.insert(user.clone(), hash.value.clone());
    }

    let (tls, client_auth) = match &raw.tls_server_config {
        Some(t) => tls_config(&mut cx, &t.value, base, http2, &mut inputs),
        None => (None, ClientAuth::NoClientCert),
    };

    if !cx.errors.is_empty() {
        return Err(ConfigErrors::sorted(cx.errors));
    }
    Ok(WebConfig {
        tls,
        client_auth,
        http2,
        headers,
        users,
        inputs,
    })
}

fn read_input(
    cx: &mut Cx,
    at: &Spanned<String>,
    field: &str,
    base: &Path,
    inputs: &mut Vec<(PathBuf, Vec<u8>)>,
) -> Option<Vec<u8>> {
    let p = base.join(&at.value);
    match std::fs::read(&p) {
        Ok(b) => {
            inputs.push((p, b.clone()));
            Some(b)
        }
        Err(e) => {
            cx.err(
                at,
                &format!("tls_server_config.{field}"),
                format!("failed to read {field} ({}): {e}", p.display()),
            );
            None
        }
    }
}

fn non_empty(s: &Option<Spanned<String>>) -> Option<&Spanned<String>> {
    s.as_ref().filter(|s| !s.value.is_empty())
}

fn tls_version(cx: &mut Cx, v: &Option<Spanned<String>>, field: &str, default: u8) -> Option<u8> {
    let Some(v) = v else {
        return Some(default);
    };
    match v.value.as_str() {
        "TLS12" => Some(12),
        "TLS13" => Some(13),
        "TLS10" | "TLS11" => {
            cx.err(
                v,
                &format!("tls_server_config.{field}"),
                format!(
                    "{} is not supported: rustls implements TLS 1.2 and 1.3 only",
                    v.value
                ),
            );
            None
        }
        other => {
            cx.err(
                v,
                &format!("tls_server_config.{field}"),
                format!("unknown TLS version: {other}"),
            );
            None
        }
    }
}

fn tls_config(
    cx: &mut Cx,
    t: &RawTlsServerConfig,
    base: &Path,
    http2: bool,
    inputs: &mut Vec<(PathBuf, Vec<u8>)>,
) -> (Option<Arc<rustls::ServerConfig>>, ClientAuth) {
    let before = cx.errors.len();
    let cert_file = non_empty(&t.cert_file);
    let key_file = non_empty(&t.key_file);
    let ca_file = non_empty(&t.client_ca_file);
    let cert_inline = non_empty(&t.cert);
    let key_inline = t.key.as_ref().filter(|k| !k.value.is_empty());
    let ca_inline = non_empty(&t.client_ca);
    let auth_type = non_empty(&t.client_auth_type);
    let enabled = cert_file.is_some()
        || key_file.is_some()
        || ca_file.is_some()
        || cert_inline.is_some()
        || key_inline.is_some()
        || ca_inline.is_some()
        || auth_type.is_some();
    if !enabled {
        return (None, ClientAuth::NoClientCert);
    }

    let client_auth = match auth_type.map(|a| a.value.as_str()) {
        None | Some("NoClientCert") => ClientAuth::NoClientCert,
        Some("RequestClientCert") => ClientAuth::RequestClientCert,
        Some("RequireAnyClientCert") | Some("RequireClientCert") => {
            ClientAuth::RequireAnyClientCert
        }
        Some("VerifyClientCertIfGiven") => ClientAuth::VerifyClientCertIfGiven,
        Some("RequireAndVerifyClientCert") => ClientAuth::RequireAndVerifyClientCert,
        Some(other) => {
            if let Some(a) = auth_type {
                cx.err(
                    a,
                    "tls_server_config.client_auth_type",
                    format!("invalid ClientAuth: {other}"),
                );
            }
            ClientAuth::NoClientCert
        }
    };

    let allowed_sans = t.client_allowed_sans.as_ref().map(|s| s.value.clone());
    if let Some(s) = &t.client_allowed_sans {
        if !matches!(
            client_auth,
            ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
        ) {
            cx.err(
                s,
                "tls_server_config.client_allowed_sans",
                "client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert or RequireAndVerifyClientCert",
            );
        }
    }

    // Certificate and key: a file or inline PEM, one of each required.
    let cert_pem = match (cert_file, cert_inline) {
        (Some(f), _) => read_input(cx, f, "cert_file", base, inputs),
        (None, Some(c)) => Some(c.value.clone().into_bytes()),
        (None, None) => {
            cx.err_nopos("tls_server_config", "missing one of cert or cert_file");
            None
        }
    };
    let key_pem = match (key_file, key_inline) {
        (Some(f), _) => read_input(cx, f, "key_file", base, inputs),
        (None, Some(k)) => Some(k.value.expose().as_bytes().to_vec()),
        (None, None) => {
            cx.err_nopos("tls_server_config", "missing one of key or key_file");
            None
        }
    };
    let ca_pem = match (ca_file, ca_inline) {
        (Some(f), _) => read_input(cx, f, "client_ca_file", base, inputs),
        (None, Some(c)) => Some(c.value.clone().into_bytes()),
        (None, None) => None,
    };
    let ca_at = ca_file.or(ca_inline);
    if ca_pem.is_some() && client_auth == ClientAuth::NoClientCert {
        if let Some(at) = ca_at {
            cx.err(
                at,
                "tls_server_config.client_ca_file",
                "client CA's have been configured without a Client Auth Policy",
            );
        }
    }
    let verifies = matches!(
        client_auth,
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
    );
    if verifies && ca_pem.is_none() {
        if let Some(a) = auth_type {
            cx.err(
                a,
                "tls_server_config.client_auth_type",
                format!(
                    "{} needs client_ca_file or client_ca (blackwatch does not fall back to the system roots)",
                    a.value
                ),
            );
        }
    }

    // Versions.
    let min = tls_version(cx, &t.min_version, "min_version", 12);
    let max = tls_version(cx, &t.max_version, "max_version", 13);
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if let (Some(min), Some(max)) = (min, max) {
        if min <= 12 && max >= 12 {
            versions.push(&rustls::version::TLS12);
        }
        if max >= 13 {
            versions.push(&rustls::version::TLS13);
        }
        if versions.is_empty() {
            if let Some(at) = &t.min_version {
                cx.err(
                    at,
                    "tls_server_config.min_version",
                    "min_version is above max_version",
                );
            }
        }
    }

    // Cipher suites (TLS 1.2, in the listed order) and key-exchange groups.
    let mut provider = ring_provider::default_provider();
    if !t.cipher_suites.is_empty() {
        let mut tls12 = Vec::new();
        for (i, c) in t.cipher_suites.iter().enumerate() {
            let path = format!("tls_server_config.cipher_suites[{i}]");
            match tls12_suite(&c.value) {
                Some(Some(s)) => tls12.push(s),
                Some(None) => {}
                None if GO_ONLY_CIPHERS.contains(&c.value.as_str()) => cx.err(
                    c,
                    &path,
                    format!("cipher suite {} is not implemented by rustls", c.value),
                ),
                None => cx.err(c, &path, format!("unknown cipher: {}", c.value)),
            }
        }
        let tls13: Vec<_> = provider
            .cipher_suites
            .iter()
            .copied()
            .filter(|s| s.version() == &rustls::version::TLS13)
            .collect();
        provider.cipher_suites = tls13.into_iter().chain(tls12).collect();
    }
    if !t.curve_preferences.is_empty() {
        let mut groups = Vec::new();
        for (i, c) in t.curve_preferences.iter().enumerate() {
            let path = format!("tls_server_config.curve_preferences[{i}]");
            let g: &'static dyn rustls::crypto::SupportedKxGroup = match c.value.as_str() {
                "X25519" => ring_provider::kx_group::X25519,
                "CurveP256" => ring_provider::kx_group::SECP256R1,
                "CurveP384" => ring_provider::kx_group::SECP384R1,
                "CurveP521" => {
                    cx.err(c, &path, "CurveP521 is not implemented by rustls (ring)");
                    continue;
                }
                other => {
                    cx.err(c, &path, format!("unknown curve: {other}"));
                    continue;
                }
            };
            groups.push(g);
        }
        provider.kx_groups = groups;
    }

    if cx.errors.len() > before {
        return (None, client_auth);
    }
    let (Some(cert_pem), Some(key_pem)) = (cert_pem, key_pem) else {
        return (None, client_auth);
    };
    let cert_at = || {
        cert_file
            .map(|f| ("cert_file", f.referenced))
            .or(cert_inline.map(|c| ("cert", c.referenced)))
    };
    let certs: Result<Vec<CertificateDer<'static>>, _> =
        CertificateDer::pem_slice_iter(&cert_pem).collect();
    let certs = match certs {
        Ok(c) if !c.is_empty() => c,
        _ => {
            push_at(
                cx,
                cert_at(),
                "failed to load X509KeyPair: no PEM certificate found",
            );
            return (None, client_auth);
        }
    };
    let key = match PrivateKeyDer::from_pem_slice(&key_pem) {
        Ok(k) => k,
        Err(_) => {
            let at = key_file
                .map(|f| ("key_file", f.referenced))
                .or(key_inline.map(|k| ("key", k.referenced)));
            push_at(
                cx,
                at,
                "failed to load X509KeyPair: no PEM private key found",
            );
            return (None, client_auth);
        }
    };
    let provider = Arc::new(provider);

    let verifier: Arc<dyn ClientCertVerifier> = match client_auth {
        ClientAuth::NoClientCert => WebPkiClientVerifier::no_client_auth(),
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
            Arc::new(AnyClientCert {
                mandatory: client_auth == ClientAuth::RequireAnyClientCert,
                algs: provider.signature_verification_algorithms,
            })
        }
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let mut roots = rustls::RootCertStore::empty();
            let at = ca_file
                .map(|f| ("client_ca_file", f.referenced))
                .or(ca_inline.map(|c| ("client_ca", c.referenced)));
            for c in CertificateDer::pem_slice_iter(ca_pem.as_deref().unwrap_or_default()).flatten()
            {
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                push_at(cx, at, "no valid certificate found in the client CA");
                return (None, client_auth);
            }
            let mut b =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            if client_auth == ClientAuth::VerifyClientCertIfGiven {
                b = b.allow_unauthenticated();
            }
            match b.build() {
                Ok(v) => v,
                Err(e) => {
                    push_at(cx, at, format!("client CA: {e}"));
                    return (None, client_auth);
                }
            }
        }
    };

    let verifier: Arc<dyn ClientCertVerifier> = match allowed_sans {
        Some(allowed) => Arc::new(SanCheck {
            inner: verifier,
            allowed,
        }),
        None => verifier,
    };
    let built = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map(|b| b.with_client_cert_verifier(verifier))
        .and_then(|b| b.with_single_cert(certs, key));
    match built {
        Ok(mut sc) => {
            sc.ignore_client_order = t
                .prefer_server_cipher_suites
                .as_ref()
                .is_none_or(|p| p.value);
            sc.alpn_protocols = if http2 {
                vec![b"h2".to_vec(), b"http/1.1".to_vec()]
            } else {
                vec![b"http/1.1".to_vec()]
            };
            (Some(Arc::new(sc)), client_auth)
        }
        Err(e) => {
            push_at(cx, cert_at(), format!("failed to load X509KeyPair: {e}"));
            (None, client_auth)
        }
    }
}

fn push_at(
    cx: &mut Cx,
    at: Option<(&'static str, serde_saphyr::Location)>,
    message: impl Into<String>,
) {
    let (field, line, column) = match at {
        Some((f, l)) => (f, l.line(), l.column()),
        None => ("", 0, 0),
    };
    let path = if field.is_empty() {
        "tls_server_config".to_string()
    } else {
        format!("tls_server_config.{field}")
    };
    cx.errors.push(ConfigError {
        file: cx.file.to_path_buf(),
        line,
        column,
        path,
        message: message.into(),
    });
}

/// `RequestClientCert` / `RequireAnyClientCert`: a client certificate is asked for (and, with
/// the second, required) but not checked against any CA; its handshake signature still is.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algs: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// `client_allowed_sans`: after `inner` accepted the client certificate, one of its subject
/// alternative names (DNS, e-mail, IP, URI) must be in the list, as the toolkit checks.
#[derive(Debug)]
struct SanCheck {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<String>,
}

fn sans(der: &[u8]) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    ext.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) | GeneralName::RFC822Name(d) | GeneralName::URI(d) => {
                Some(d.to_string())
            }
            GeneralName::IPAddress(b) => match b.len() {
                4 => <[u8; 4]>::try_from(*b)
                    .ok()
                    .map(|a| std::net::IpAddr::from(a).to_string()),
                16 => <[u8; 16]>::try_from(*b)
                    .ok()
                    .map(|a| std::net::IpAddr::from(a).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

impl ClientCertVerifier for SanCheck {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        if sans(end_entity).iter().any(|s| self.allowed.contains(s)) {
            Ok(verified)
        } else {
            Err(rustls::Error::General(
                "could not find allowed SANs in client cert".to_string(),
            ))
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A bcrypt hash of "fakepassword", compared for unknown users so that response time does not
/// tell which user names exist (the toolkit's decoy).
const DECOY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

/// Cached bcrypt results; cleared when it reaches this many entries.
const AUTH_CACHE_MAX: usize = 1024;

/// The web config in force, re-read when the file or a file it names changes.
pub struct Web {
    path: PathBuf,
    current: RwLock<Arc<WebConfig>>,
    auth_cache: Mutex<HashMap<[u8; 32], bool>>,
    /// Serialises bcrypt comparisons, as the toolkit does, so a flood of bad passwords costs
    /// one core at most.
    bcrypt_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web").field("path", &self.path).finish()
    }
}

/// What a request's `Authorization` header amounts to.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// No users configured, or valid credentials.
    Allowed,
    Denied,
}

impl Web {
    /// Loads the file for start-up; an error here stops the daemon.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let cfg = load(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(cfg)),
            auth_cache: Mutex::new(HashMap::new()),
            bcrypt_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The config in force.
    pub fn current(&self) -> Arc<WebConfig> {
        Arc::clone(&crate::base::sync::read(&self.current))
    }

    /// Re-reads the file (and the files it names) if any of them changed. A bad new config is
    /// logged and the old one stays; so does a change that would switch TLS on or off, which
    /// needs a restart. Returns whether a new config was installed.
    pub fn refresh(&self) -> bool {
        let cur = self.current();
        let changed = std::fs::read(&self.path).map_or(true, |b| {
            cur.inputs.first().is_none_or(|(_, old)| *old != b)
                || cur
                    .inputs
                    .iter()
                    .skip(1)
                    .any(|(p, old)| std::fs::read(p).map_or(true, |b| b != *old))
        });
        if !changed {
            return false;
        }
        match load(&self.path) {
            Ok(new) if new.tls.is_some() != cur.tls.is_some() => {
                tracing::error!(
                    message = "Web config change ignored: switching TLS on or off needs a restart",
                    file = %self.path.display()
                );
                false
            }
            Ok(new) => {
                tracing::info!(message = "Web config reloaded", file = %self.path.display());
                *crate::base::sync::write(&self.current) = Arc::new(new);
                crate::base::sync::lock(&self.auth_cache).clear();
                true
            }
            Err(e) => {
                tracing::error!(
                    message = "Web config reload failed, keeping the previous one",
                    err = %e
                );
                false
            }
        }
    }

    /// Checks an `Authorization` header value against `basic_auth_users`.
    pub async fn check_basic_auth(&self, authorization: Option<&[u8]>) -> AuthOutcome {
        let cfg = self.current();
        if cfg.users.is_empty() {
            return AuthOutcome::Allowed;
        }
        let Some((user, pass)) = authorization.and_then(parse_basic) else {
            return AuthOutcome::Denied;
        };
        let (hash, valid_user) = match cfg.users.get(&user) {
            Some(h) => (h.expose().to_string(), true),
            None => (DECOY_HASH.to_string(), false),
        };
        let mut h = Sha256::new();
        for part in [user.as_bytes(), hash.as_bytes(), pass.as_bytes()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        let key: [u8; 32] = h.finalize().into();
        let cached = crate::base::sync::lock(&self.auth_cache).get(&key).copied();
        let ok = match cached {
            Some(ok) => ok,
            None => {
                let _guard = self.bcrypt_lock.lock().await;
                let ok = tokio::task::spawn_blocking(move || bcrypt::verify(pass, &hash))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or(false)
                    && valid_user;
                {
                    let mut c = crate::base::sync::lock(&self.auth_cache);
                    if c.len() >= AUTH_CACHE_MAX {
                        c.clear();
                    }
                    c.insert(key, ok);
                }
                ok
            }
        };
        if ok {
            AuthOutcome::Allowed
        } else {
            AuthOutcome::Denied
        }
    }
}

/// `Basic base64(user:pass)` → (user, pass), as Go's `Request.BasicAuth`.
fn parse_basic(value: &[u8]) -> Option<(String, String)> {
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case("basic ") {
        return None;
    }
    let decoded = base64::Engine::decode(&crate::base::go::BASE64_STD, rest.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (u, p) = decoded.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_basic_credentials() {
        // "alice:s3cret" and "bob:" and "u:p:q" (the password keeps later colons).
        assert_eq!(
            parse_basic(b"Basic YWxpY2U6czNjcmV0"),
            Some(("alice".into(), "s3cret".into()))
        );
        assert_eq!(
            parse_basic(b"basic Ym9iOg=="),
            Some(("bob".into(), String::new()))
        );
        assert_eq!(
            parse_basic(b"Basic dTpwOnE="),
            Some(("u".into(), "p:q".into()))
        );
        assert_eq!(parse_basic(b"Bearer YWxpY2U6czNjcmV0"), None);
        assert_eq!(parse_basic(b"Basic !!!!"), None);
        assert_eq!(parse_basic(b"Basic YWxpY2U"), None);
        assert_eq!(parse_basic(b"Basic bm9jb2xvbg=="), None);
    }

    fn errs(text: &str) -> Vec<String> {
        match load_str(text, Path::new("/nonexistent/web.yml")) {
            Ok(_) => Vec::new(),
            Err(e) => e.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn empty_file_is_plain_http() {
        let c = load_str("# nothing\n", Path::new("w.yml")).map_err(|e| e.to_string());
        let c = c
            .as_ref()
            .map(|c| (c.tls.is_none(), c.users.is_empty(), c.http2));
        assert_eq!(c, Ok((true, true, true)));
    }

    #[test]
    fn rejects_with_positions() {
        assert_eq!(
            errs("http_server_config:\n  headers:\n    X-Frame-Options: allow\n"),
            vec!["/nonexistent/web.yml:3:22: http_server_config.headers.X-Frame-Options: invalid value for X-Frame-Options. Expected one of: [\"deny\", \"sameorigin\"], but got: \"allow\""]
        );
        assert_eq!(
            errs("http_server_config:\n  headers:\n    Server: x\n"),
            vec!["/nonexistent/web.yml:3:13: http_server_config.headers.Server: HTTP header \"Server\" can not be configured"]
        );
        assert_eq!(
            errs("basic_auth_users:\n  alice: plain\n"),
            vec!["/nonexistent/web.yml:2:10: basic_auth_users.alice: not a bcrypt hash (expected $2a$, $2b$ or $2y$ with a cost)"]
        );
        let e = errs("tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  min_version: TLS10\n  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA, NOPE]\n  curve_preferences: [CurveP521]\n");
        assert!(e.iter().any(|e| e.contains(":2:14: tls_server_config.cert_file: failed to read cert_file")), "{e:?}");
        assert!(e.iter().any(|e| e.contains(":4:16: tls_server_config.min_version: TLS10 is not supported")), "{e:?}");
        assert!(e.iter().any(|e| e.contains("cipher_suites[0]: cipher suite TLS_RSA_WITH_AES_128_CBC_SHA is not implemented by rustls")), "{e:?}");
        assert!(
            e.iter()
                .any(|e| e.contains("cipher_suites[1]: unknown cipher: NOPE")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|e| e.contains("curve_preferences[0]: CurveP521 is not implemented")),
            "{e:?}"
        );
        let e = errs("tls_server_config:\n  key_file: k.pem\n");
        assert!(
            e.iter()
                .any(|e| e.contains("missing one of cert or cert_file")),
            "{e:?}"
        );
        let e = errs("tls_server_config:\n  cert_fil: x\n");
        assert!(e.iter().any(|e| e.contains("cert_fil")), "{e:?}");
        let e = errs("tls_server_config:\n  client_auth_type: Maybe\n  cert: x\n  key: y\n");
        assert!(
            e.iter().any(|e| e
                .contains(":2:21: tls_server_config.client_auth_type: invalid ClientAuth: Maybe")),
            "{e:?}"
        );
        let e = errs("tls_server_config:\n  cert: x\n  key: y\n  client_allowed_sans: [a]\n");
        assert!(e.iter().any(|e| e.contains(":4:24: tls_server_config.client_allowed_sans: client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert or RequireAndVerifyClientCert")), "{e:?}");
        let e = errs("rate_limit:\n  burst: 1\n");
        assert!(
            e.iter()
                .any(|e| e.contains("rate_limit is not supported yet")),
            "{e:?}"
        );
    }
}
