//! prometheus/common's `oauth2` block: the client-credentials grant of
//! golang.org/x/oauth2/clientcredentials, validated ([`OAuth2Settings`]) and run
//! ([`TokenSource`]): a form POST to `token_url` with `grant_type=client_credentials`, the
//! `scopes` joined by spaces and the `endpoint_params`; the client credentials in a Basic
//! `Authorization` header first and, when the endpoint refuses that, in the form (x/oauth2's
//! `AuthStyleAutoDetect`, which prometheus/common leaves in place; the style that worked is
//! remembered). The token is cached until ten seconds before `expires_in` runs out (x/oauth2's
//! `expiryDelta`; without `expires_in` it never expires) and refetched then, or when
//! `client_secret_file` changes. As upstream, a 401 from the target does not refetch.
//!
//! The token endpoint is reached with the block's own `tls_config` and proxy settings, never
//! with the target's. Neither the secret nor the token is ever logged or put into an error.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use super::proxy::{ProxyEnv, ProxySettings};
use super::raw::RawOAuth2;
use super::{FieldError, HttpClientSettings, RequestHeaders, TlsSettings};
use crate::base::{Secret, SecretSource};

/// x/oauth2's `expiryDelta`: a token is treated as expired this long before its expiry.
pub const EXPIRY_DELTA: Duration = Duration::from_secs(10);

/// The JWT-bearer grant type (RFC 7523), which blackwatch does not implement yet.
const GRANT_JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The `oauth2` block, validated.
#[derive(Clone, Debug)]
pub struct OAuth2Settings {
    pub client_id: String,
    /// `client_secret` or `client_secret_file` (read at every token request); none means an
    /// empty secret, as upstream sends.
    pub client_secret: Option<SecretSource>,
    pub scopes: Vec<String>,
    pub token_url: String,
    pub endpoint_params: BTreeMap<String, String>,
    /// The token endpoint's TLS settings (`oauth2.tls_config`).
    pub tls: TlsSettings,
    /// The token endpoint's proxy (`oauth2.proxy_url` and the other proxy fields).
    pub proxy: ProxySettings,
}

impl OAuth2Settings {
    /// Validates the block with prometheus/common's texts (the client-credentials rules of
    /// `HTTPClientConfig.Validate` and `ProxyConfig.Validate`) and builds the settings.
    /// `tls` is the block's `tls_config` as the caller's section validated it; relative file
    /// names are taken from `base_dir`; `env` is read only with `proxy_from_environment`.
    pub fn from_raw(
        raw: &RawOAuth2,
        tls: TlsSettings,
        base_dir: &Path,
        env: impl FnOnce() -> ProxyEnv,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let unsupported = [
            ("client_secret_ref", raw.client_secret_ref.is_some()),
            (
                "client_certificate_key_id",
                raw.client_certificate_key_id.is_some(),
            ),
            (
                "client_certificate_key",
                raw.client_certificate_key.is_some(),
            ),
            (
                "client_certificate_key_file",
                raw.client_certificate_key_file.is_some(),
            ),
            (
                "client_certificate_key_ref",
                raw.client_certificate_key_ref.is_some(),
            ),
            ("signature_algorithm", raw.signature_algorithm.is_some()),
            ("iss", raw.iss.is_some()),
            ("audience", raw.audience.is_some()),
            ("claims", raw.claims.is_some()),
        ];
        for (field, set) in unsupported {
            if set {
                errors.push(FieldError::new(
                    field,
                    format!("oauth2 {field} is not supported yet by blackwatch"),
                ));
            }
        }
        if let Some(g) = &raw.grant_type {
            if g.value == GRANT_JWT_BEARER {
                errors.push(FieldError::new(
                    "grant_type",
                    format!(
                        "oauth2 grant_type {} is not supported yet by blackwatch",
                        crate::base::go::quote(&g.value)
                    ),
                ));
            }
        }
        if raw.client_id.is_empty() {
            errors.push(FieldError::new(
                "client_id",
                "oauth2 client_id must be configured",
            ));
        }
        if raw.token_url.is_empty() {
            errors.push(FieldError::new(
                "token_url",
                "oauth2 token_url must be configured",
            ));
        }
        let secrets = [
            !raw.client_secret.is_empty(),
            !raw.client_secret_file.is_empty(),
            raw.client_secret_ref.is_some(),
        ];
        if secrets.iter().filter(|s| **s).count() > 1 {
            errors.push(FieldError::new(
                "client_secret",
                "at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured",
            ));
        }
        let proxy = match ProxySettings::from_raw(raw.proxy_fields(), env) {
            Ok(p) => p,
            Err(e) => {
                errors.extend(e);
                ProxySettings::default()
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let file = if raw.client_secret_file.is_empty() {
            std::path::PathBuf::new()
        } else {
            base_dir.join(&raw.client_secret_file)
        };
        Ok(Self {
            client_id: raw.client_id.clone(),
            client_secret: SecretSource::from_parts(&raw.client_secret, file),
            scopes: raw.scopes.clone(),
            token_url: raw.token_url.clone(),
            endpoint_params: raw.endpoint_params.clone(),
            tls,
            proxy,
        })
    }
}

/// Where the client credentials go in a token request (x/oauth2's `AuthStyle`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthStyle {
    /// `Authorization: Basic base64(QueryEscape(id):QueryEscape(secret))`.
    InHeader,
    /// `client_id` and (when not empty) `client_secret` in the form.
    InParams,
}

/// A token as cached: the `Authorization` value it becomes and when it stops being used.
#[derive(Clone)]
pub struct CachedToken {
    header: Secret,
    /// `None`: the response had no `expires_in`, the token never expires.
    expiry: Option<Instant>,
}

impl CachedToken {
    /// x/oauth2's `Token.Valid` at `now`: not within [`EXPIRY_DELTA`] of its expiry.
    pub fn valid_at(&self, now: Instant) -> bool {
        match self.expiry {
            None => true,
            Some(e) => now + EXPIRY_DELTA <= e,
        }
    }
}

#[derive(Default)]
struct TokenState {
    /// The client secret the cached token was fetched with.
    secret: Option<Secret>,
    token: Option<CachedToken>,
    /// The credential style the endpoint accepted, once one has.
    style: Option<AuthStyle>,
}

/// A failed token request. Never contains the client secret or a token.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OAuth2Error(String);

/// Fetches and caches the access token of one `oauth2` block; shared by every request of
/// the client it belongs to. Concurrent callers wait for one fetch.
pub struct TokenSource {
    settings: OAuth2Settings,
    client: reqwest::Client,
    user_agent: String,
    state: tokio::sync::Mutex<TokenState>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("client_id", &self.settings.client_id)
            .field("token_url", &self.settings.token_url)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// The token source for `settings`, with its own HTTP client for the token endpoint
    /// (TLS files are read now). `user_agent` is sent on token requests, as upstream sends
    /// the target request's.
    pub fn new(settings: OAuth2Settings, user_agent: impl Into<String>) -> Result<Self, String> {
        let client_settings = HttpClientSettings {
            headers: RequestHeaders::default(),
            tls: Some(settings.tls.clone()),
            follow_redirects: true,
            enable_http2: true,
            proxy: settings.proxy.clone(),
        };
        let client = super::reqwest_client::build(&client_settings, None)
            .map_err(|e| format!("oauth2: {e}"))?;
        Ok(Self {
            settings,
            client,
            user_agent: user_agent.into(),
            state: tokio::sync::Mutex::new(TokenState::default()),
        })
    }

    /// The `Authorization` value for the next request: `<type> <access token>`, from the
    /// cache while the token is valid, else freshly fetched.
    pub async fn header_value(&self) -> Result<Secret, OAuth2Error> {
        let secret = match &self.settings.client_secret {
            None => Secret::default(),
            Some(s) => s.read().map_err(|e| {
                let file = match s {
                    SecretSource::File(p) => format!(" {}", p.display()),
                    SecretSource::Inline(_) => String::new(),
                };
                OAuth2Error(format!("unable to read oauth2 client secret{file}: {e}"))
            })?,
        };
        let mut state = self.state.lock().await;
        if state.secret.as_ref() != Some(&secret) {
            state.token = None;
            state.secret = Some(secret.clone());
        }
        if let Some(t) = &state.token {
            if t.valid_at(Instant::now()) {
                return Ok(t.header.clone());
            }
        }
        let token = match state.style {
            Some(style) => self.request(&secret, style).await?,
            None => match self.request(&secret, AuthStyle::InHeader).await {
                Ok(t) => {
                    state.style = Some(AuthStyle::InHeader);
                    t
                }
                Err(_) => {
                    let t = self.request(&secret, AuthStyle::InParams).await?;
                    state.style = Some(AuthStyle::InParams);
                    t
                }
            },
        };
        let header = token.header.clone();
        state.token = Some(token);
        Ok(header)
    }

    /// One token request in `style`.
    async fn request(&self, secret: &Secret, style: AuthStyle) -> Result<CachedToken, OAuth2Error> {
        let s = &self.settings;
        let body = token_request_body(s, secret, style);
        let mut req = self
            .client
            .post(&s.token_url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("User-Agent", &self.user_agent)
            .body(body);
        if style == AuthStyle::InHeader {
            let pair = format!(
                "{}:{}",
                crate::base::go::query_escape(&s.client_id),
                crate::base::go::query_escape(secret.expose())
            );
            req = req.header(
                "Authorization",
                format!(
                    "Basic {}",
                    base64::Engine::encode(&crate::base::go::BASE64_STD, pair)
                ),
            );
        }
        let resp = req
            .send()
            .await
            .map_err(|e| OAuth2Error(format!("oauth2: cannot fetch token: {e}")))?;
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = resp
            .bytes()
            .await
            .map_err(|e| OAuth2Error(format!("oauth2: cannot fetch token: {e}")))?;
        let body = &body[..body.len().min(1 << 20)];
        if !status.is_success() {
            let text = String::from_utf8_lossy(body);
            let excerpt: String = text.chars().take(256).collect();
            return Err(OAuth2Error(format!(
                "oauth2: cannot fetch token: {status} Response: {excerpt}"
            )));
        }
        let parsed = parse_token_response(&content_type, body)?;
        let expiry = parsed
            .expires_in
            .filter(|s| *s != 0)
            .map(|secs| match u64::try_from(secs) {
                Ok(s) => Instant::now() + Duration::from_secs(s),
                // A negative lifetime: already expired.
                Err(_) => Instant::now(),
            });
        Ok(CachedToken {
            header: Secret::new(format!(
                "{} {}",
                token_type(&parsed.token_type),
                parsed.access_token.expose()
            )),
            expiry,
        })
    }
}

/// The form x/oauth2 posts: `grant_type`, `scope` (when there are scopes) and the
/// `endpoint_params` (which may override `grant_type` only), plus `client_id` and
/// `client_secret` in [`AuthStyle::InParams`]; keys sorted and values escaped as Go's
/// `url.Values.Encode`.
pub fn token_request_body(s: &OAuth2Settings, secret: &Secret, style: AuthStyle) -> String {
    let mut v: BTreeMap<&str, &str> = BTreeMap::new();
    v.insert("grant_type", "client_credentials");
    let scope = s.scopes.join(" ");
    if !s.scopes.is_empty() {
        v.insert("scope", &scope);
    }
    for (k, p) in &s.endpoint_params {
        if k == "grant_type" || !v.contains_key(k.as_str()) {
            v.insert(k, p);
        }
    }
    if style == AuthStyle::InParams {
        v.insert("client_id", &s.client_id);
        if !secret.is_empty() {
            v.insert("client_secret", secret.expose());
        }
    }
    v.iter()
        .map(|(k, p)| {
            format!(
                "{}={}",
                crate::base::go::query_escape(k),
                crate::base::go::query_escape(p)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A token endpoint's successful answer.
struct TokenResponse {
    access_token: Secret,
    token_type: String,
    expires_in: Option<i64>,
}

/// x/oauth2's `doTokenRoundTrip` parsing: a form for `application/x-www-form-urlencoded`
/// and `text/plain`, else JSON (`expires_in` a number or a numeric string).
fn parse_token_response(content_type: &str, body: &[u8]) -> Result<TokenResponse, OAuth2Error> {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let (access_token, token_type, expires_in) =
        if mime == "application/x-www-form-urlencoded" || mime == "text/plain" {
            let mut access = String::new();
            let mut kind = String::new();
            let mut expires = None;
            for (k, v) in url::form_urlencoded::parse(body) {
                match &*k {
                    "access_token" if access.is_empty() => access = v.into_owned(),
                    "token_type" if kind.is_empty() => kind = v.into_owned(),
                    "expires_in" if expires.is_none() => expires = v.parse::<i64>().ok(),
                    _ => {}
                }
            }
            (access, kind, expires)
        } else {
            let v: serde_json::Value = serde_json::from_slice(body)
                .map_err(|e| OAuth2Error(format!("oauth2: cannot parse json: {e}")))?;
            let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_default();
            let expires = match v.get("expires_in") {
                Some(serde_json::Value::Number(n)) => n.as_i64(),
                Some(serde_json::Value::String(s)) => s.parse::<i64>().ok(),
                _ => None,
            };
            (
                text("access_token").to_string(),
                text("token_type").to_string(),
                expires,
            )
        };
    if access_token.is_empty() {
        return Err(OAuth2Error(
            "oauth2: server response missing access_token".into(),
        ));
    }
    Ok(TokenResponse {
        access_token: Secret::new(access_token),
        token_type,
        expires_in: expires_in.map(|e| e.min(i64::from(i32::MAX))),
    })
}

/// x/oauth2's `Token.Type`: `Bearer`, `MAC` and `Basic` case-folded, anything else as sent,
/// `Bearer` when empty.
fn token_type(t: &str) -> &str {
    if t.eq_ignore_ascii_case("bearer") || t.is_empty() {
        "Bearer"
    } else if t.eq_ignore_ascii_case("mac") {
        "MAC"
    } else if t.eq_ignore_ascii_case("basic") {
        "Basic"
    } else {
        t
    }
}

#[cfg(test)]
mod tests;
