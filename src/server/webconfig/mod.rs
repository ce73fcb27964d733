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

mod auth;
mod cluster;
mod raw;
mod tls;

pub use auth::AuthOutcome;
pub use cluster::load_cluster_tls;
pub use raw::{ClientAuth, RawHttpServerConfig, RawTlsServerConfig, RawWebConfig};
use tls::tls_config;

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

/// The headers the toolkit lets an operator set, with their allowed values (empty: any).
const EXTRA_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

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
        self.errors.push(ConfigError::at(
            self.file,
            at.referenced,
            path.to_string(),
            message.into(),
        ));
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

/// The web config in force, re-read when the file or a file it names changes.
pub struct Web {
    path: PathBuf,
    pub(super) current: RwLock<Arc<WebConfig>>,
    pub(super) auth_cache: Mutex<HashMap<[u8; 32], bool>>,
    /// Serialises bcrypt comparisons, as the toolkit does, so a flood of bad passwords costs
    /// one core at most.
    pub(super) bcrypt_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web").field("path", &self.path).finish()
    }
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
