//! Outbound connection settings shared by every client blackwatch runs, probers and
//! notifiers alike: prometheus/common's HTTP client configuration as serde structs (`raw`),
//! its validated form (the types below), the proxy settings and Go's `NO_PROXY` matching
//! (`proxy`), the OAuth2 client-credentials token source (`oauth2`), the rustls client
//! configuration (`tls`) and the reqwest client the notifiers send with (`reqwest_client`).
//! Validation texts of the older fields stay with each section (`config::validate` for
//! blackbox modules, `alert::config` for alertmanager.yml), because upstream's two tools
//! word them differently; `proxy` and `oauth2` validate their own blocks with
//! prometheus/common's texts ([`FieldError`]), for both. What they produce is one type.

pub mod oauth2;
pub mod proxy;
pub mod raw;
pub mod reqwest_client;
pub mod tls;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::header::HeaderName;

use crate::base::{Secret, SecretSource};

/// Credentials sent in the `Authorization` header; secrets read at every use.
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
    /// `oauth2`: a token from the client-credentials grant, cached by the source.
    OAuth2(Arc<oauth2::TokenSource>),
}

/// A problem with one field of a block `client` validates itself (`oauth2`, the proxy
/// fields), in prometheus/common's words; the section's validator adds the position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field's key within its block, e.g. `proxy_url`.
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Credentials that could not be produced for a request.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A credential or header file could not be read.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// The OAuth2 token endpoint did not give a token.
    #[error(transparent)]
    OAuth2(#[from] oauth2::OAuth2Error),
}

impl AuthError {
    /// Whether trying again later may succeed: a token request failed (upstream's
    /// round-tripper error, retried by Alertmanager), not a missing file.
    pub fn retryable(&self) -> bool {
        matches!(self, AuthError::OAuth2(_))
    }
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

impl Auth {
    /// The credentials of prometheus/common's HTTP client config, from its raw fields, in
    /// upstream's order: `basic_auth`, then `authorization`, then `bearer_token` /
    /// `bearer_token_file` (validation, which is each section's, allows only one). Relative
    /// file names are taken from `base_dir`.
    pub fn from_raw(
        basic_auth: Option<&raw::RawBasicAuth>,
        authorization: Option<&raw::RawAuthorization>,
        bearer_token: Option<&Secret>,
        bearer_token_file: Option<&str>,
        base_dir: &Path,
    ) -> Option<Auth> {
        let file = |f: &str| {
            if f.is_empty() {
                PathBuf::new()
            } else {
                base_dir.join(f)
            }
        };
        let source = |inline: &Secret, f: &str| SecretSource::from_parts(inline, file(f));
        if let Some(b) = basic_auth {
            // A username is always sent, empty when neither form is set.
            let username = source(&Secret::new(b.username.clone()), &b.username_file)
                .unwrap_or_else(|| SecretSource::Inline(Secret::default()));
            return Some(Auth::Basic {
                username,
                password: source(&b.password, &b.password_file),
            });
        }
        if let Some(a) = authorization {
            let kind = if a.kind.is_empty() {
                "Bearer".to_string()
            } else {
                a.kind.clone()
            };
            return Some(Auth::Authorization {
                kind,
                credentials: source(&a.credentials, &a.credentials_file),
            });
        }
        let token = bearer_token.cloned().unwrap_or_default();
        let credentials = source(&token, bearer_token_file.unwrap_or_default())?;
        Some(Auth::Authorization {
            kind: "Bearer".to_string(),
            credentials: Some(credentials),
        })
    }

    /// The `Authorization` header value: `Basic base64(user:password)`, `<kind>
    /// <credentials>` or the OAuth2 token, with every `*_file` read now (so a rotated secret
    /// is used at once).
    pub async fn header_value(&self) -> Result<Secret, AuthError> {
        match self {
            Auth::OAuth2(source) => Ok(source.header_value().await?),
            _ => Ok(self.static_header_value()?),
        }
    }

    /// [`Auth::header_value`] for the credentials that need no request: every kind but
    /// OAuth2, for which it fails.
    pub fn static_header_value(&self) -> Result<Secret, CredentialError> {
        let read = |s: &SecretSource, what: &'static str| {
            s.read()
                .map_err(|source| CredentialError::new(what, s, source))
        };
        match self {
            Auth::Basic { username, password } => {
                let user = read(username, "basic_auth username")?;
                let pass = match password {
                    Some(p) => read(p, "basic_auth password")?,
                    None => Secret::default(),
                };
                let pair = format!("{}:{}", user.expose(), pass.expose());
                Ok(Secret::new(format!(
                    "Basic {}",
                    base64::Engine::encode(&crate::base::go::BASE64_STD, pair)
                )))
            }
            Auth::Authorization { kind, credentials } => {
                let cred = match credentials {
                    Some(c) => read(c, "authorization credentials")?,
                    None => Secret::default(),
                };
                Ok(Secret::new(format!("{kind} {}", cred.expose())))
            }
            Auth::OAuth2(_) => Err(CredentialError {
                what: "oauth2 token",
                file: String::new(),
                source: std::io::Error::other("an OAuth2 token needs a request"),
            }),
        }
    }
}

/// One `http_headers` entry: its `values`, then its `secrets`, then the content of each of
/// its `files` (read at every request and trimmed), each sent as one header line.
#[derive(Clone, Debug)]
pub struct Header {
    pub name: HeaderName,
    pub values: Vec<String>,
    pub secrets: Vec<Secret>,
    pub files: Vec<PathBuf>,
}

impl Header {
    /// From the raw entry; relative file names are taken from `base_dir`.
    pub fn from_raw(name: HeaderName, raw: &raw::RawHttpHeader, base_dir: &Path) -> Self {
        Self {
            name,
            values: raw.values.clone(),
            secrets: raw.secrets.clone(),
            files: raw.files.iter().map(|f| base_dir.join(f)).collect(),
        }
    }
}

/// prometheus/common's `HTTPClientConfig`, validated: what the http prober and every
/// notifier connect with. Each section's validator builds it (`config::validate` for a
/// module's `http:` block, `alert::notify::build` for an integration's `http_config`).
#[derive(Clone, Debug, Default)]
pub struct HttpClientSettings {
    /// Credentials and `http_headers`.
    pub headers: RequestHeaders,
    /// `tls_config`; `None` when the file has none (the defaults apply, and a notifier may
    /// share the process-wide client).
    pub tls: Option<TlsSettings>,
    pub follow_redirects: bool,
    pub enable_http2: bool,
    /// `proxy_url`, `no_proxy`, `proxy_from_environment`, `proxy_connect_header`.
    pub proxy: proxy::ProxySettings,
}

impl HttpClientSettings {
    /// The TLS settings in force: `tls_config`, or the defaults (system roots, no client
    /// certificate, TLS 1.2 and 1.3).
    pub fn tls_or_default(&self) -> std::borrow::Cow<'_, TlsSettings> {
        match &self.tls {
            Some(t) => std::borrow::Cow::Borrowed(t),
            None => std::borrow::Cow::Owned(TlsSettings::default()),
        }
    }
}

/// What prometheus/common's HTTP client config adds to every request: credentials and
/// `http_headers`. The one place where `http_config` becomes request headers, for the
/// http prober and every notifier.
#[derive(Clone, Debug, Default)]
pub struct RequestHeaders {
    pub auth: Option<Auth>,
    pub headers: Vec<Header>,
}

impl RequestHeaders {
    /// The header lines to send now, in order: `Authorization` first (an OAuth2 token is
    /// fetched when the cached one has expired), then `http_headers` (files are read now).
    /// Values are secrets: they must not be logged.
    pub async fn resolve(&self) -> Result<Vec<(HeaderName, Secret)>, AuthError> {
        let mut out = Vec::new();
        if let Some(a) = &self.auth {
            out.push((http::header::AUTHORIZATION, a.header_value().await?));
        }
        out.extend(self.extra()?);
        Ok(out)
    }

    /// The `http_headers` lines alone (the http prober sends credentials only to the
    /// target's own host, but these to every redirect hop, as upstream).
    pub fn extra(&self) -> Result<Vec<(HeaderName, Secret)>, CredentialError> {
        let mut out = Vec::new();
        for h in &self.headers {
            for v in &h.values {
                out.push((h.name.clone(), Secret::new(v.clone())));
            }
            for s in &h.secrets {
                out.push((h.name.clone(), s.clone()));
            }
            for f in &h.files {
                let src = SecretSource::File(f.clone());
                let v = src
                    .read()
                    .map_err(|e| CredentialError::new("http_headers file", &src, e))?;
                out.push((h.name.clone(), v));
            }
        }
        Ok(out)
    }
}

/// A credential or header file that could not be read. Names the file, never its content.
#[derive(Debug, thiserror::Error)]
#[error("reading {what}{file}: {source}")]
pub struct CredentialError {
    pub what: &'static str,
    /// ` <path>` for a file, empty for an inline value.
    file: String,
    #[source]
    pub source: std::io::Error,
}

impl CredentialError {
    /// The error for reading `src` (named by `what`, e.g. `url_file`) that failed with `source`.
    pub fn new(what: &'static str, src: &SecretSource, source: std::io::Error) -> Self {
        let file = match src {
            SecretSource::File(p) => format!(" {}", p.display()),
            SecretSource::Inline(_) => String::new(),
        };
        Self { what, file, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_become_one_header_with_files_read_per_use() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("user"), "alice\n").unwrap();
        std::fs::write(dir.path().join("pw"), " s3cret\n").unwrap();
        let basic = raw::RawBasicAuth {
            username_file: "user".into(),
            password_file: "pw".into(),
            ..Default::default()
        };
        let auth = Auth::from_raw(Some(&basic), None, None, None, dir.path()).unwrap();
        // base64("alice:s3cret")
        assert_eq!(
            auth.static_header_value().unwrap().expose(),
            "Basic YWxpY2U6czNjcmV0"
        );
        std::fs::write(dir.path().join("user"), "bob").unwrap();
        assert_eq!(
            auth.static_header_value().unwrap().expose(),
            "Basic Ym9iOnMzY3JldA=="
        );

        let authz = raw::RawAuthorization {
            credentials: Secret::new("tok"),
            ..Default::default()
        };
        let a = Auth::from_raw(None, Some(&authz), None, None, dir.path()).unwrap();
        assert_eq!(a.static_header_value().unwrap().expose(), "Bearer tok");
        let b = Auth::from_raw(None, None, None, Some("pw"), dir.path()).unwrap();
        assert_eq!(b.static_header_value().unwrap().expose(), "Bearer s3cret");
        assert!(Auth::from_raw(None, None, None, None, dir.path()).is_none());

        let missing = Auth::from_raw(None, None, None, Some("nope"), dir.path()).unwrap();
        let e = missing.static_header_value().unwrap_err().to_string();
        assert!(e.starts_with("reading authorization credentials /"), "{e}");
        assert!(e.contains("nope"), "{e}");
    }

    #[tokio::test]
    async fn headers_resolve_in_order_with_auth_first() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("h"), "from-file\n").unwrap();
        let raw = raw::RawHttpHeader {
            values: vec!["a".into()],
            secrets: vec![Secret::new("b")],
            files: vec!["h".into()],
        };
        let rh = RequestHeaders {
            auth: Some(Auth::Authorization {
                kind: "Token".into(),
                credentials: Some(SecretSource::Inline(Secret::new("t"))),
            }),
            headers: vec![Header::from_raw(
                HeaderName::from_static("x-a"),
                &raw,
                dir.path(),
            )],
        };
        let got: Vec<(String, String)> = rh
            .resolve()
            .await
            .unwrap()
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.expose().to_string()))
            .collect();
        let want = [
            ("authorization", "Token t"),
            ("x-a", "a"),
            ("x-a", "b"),
            ("x-a", "from-file"),
        ];
        assert_eq!(
            got,
            want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec()
        );
    }
}
