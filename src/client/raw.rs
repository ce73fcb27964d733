//! prometheus/common's HTTP client configuration as serde structs, shared by blackbox
//! modules (`http:` inlines it: `config::raw::RawHttpProbe`) and Alertmanager integrations
//! (`http_config:`: `alert::config::raw::RawHttpConfig`): `HTTPClientConfig`'s field set
//! ([`http_client_config!`]), `TLSConfig`, `BasicAuth`, `Authorization` and `Header`.
//!
//! The field set has one definition: [`http_client_config!`] declares a struct with its own
//! fields followed by `HTTPClientConfig`'s. (serde's `flatten` would lose the source
//! positions `Spanned` records and cannot be combined with `deny_unknown_fields`.) The one
//! difference between the two users is `tls_config`'s type, a macro argument: blackbox always
//! has one (default `{}`), an integration may have none, which means "the shared client".
//!
//! Validation stays with each user: blackbox's texts follow the current prometheus/common
//! (with the `*_ref` fields), Alertmanager's follow the prometheus/common of Alertmanager
//! 0.25, as `amtool check-config` prints them (`tests/it/amconfig.rs` compares).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::base::yaml::{is_empty_spanned, unspanned, Unsupported};
use crate::base::Secret;

/// Declares `struct $name` with the given fields followed by prometheus/common's
/// `HTTPClientConfig` fields, in upstream's order: `basic_auth`, `authorization`, `oauth2`
/// ([`RawOAuth2`]), `bearer_token`, `bearer_token_file`, `tls_config` (type and attributes
/// given after the struct), `follow_redirects` and `enable_http2` (default true),
/// `ProxyConfig`'s fields (`proxy_url`, `no_proxy`, `proxy_from_environment`,
/// `proxy_connect_header`) and `http_headers`. It also declares `proxy_fields()`, the proxy
/// fields as one [`RawProxyFields`].
macro_rules! http_client_config {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty, )*
        }
        tls_config: $(#[$tmeta:meta])* $tty:ty;
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field: $ty, )*
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub basic_auth: Option<serde_saphyr::Spanned<$crate::client::raw::RawBasicAuth>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub authorization:
                Option<serde_saphyr::Spanned<$crate::client::raw::RawAuthorization>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub oauth2: Option<serde_saphyr::Spanned<$crate::client::raw::RawOAuth2>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub bearer_token: Option<serde_saphyr::Spanned<$crate::base::Secret>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub bearer_token_file: Option<serde_saphyr::Spanned<String>>,
            $(#[$tmeta])*
            pub tls_config: $tty,
            #[serde(
                default = "crate::base::yaml::yes",
                deserialize_with = "crate::base::yaml::yes_on_null"
            )]
            pub follow_redirects: bool,
            #[serde(
                default = "crate::base::yaml::yes",
                deserialize_with = "crate::base::yaml::yes_on_null"
            )]
            pub enable_http2: bool,
            #[serde(
                default,
                skip_serializing_if = "Option::is_none",
                serialize_with = "crate::client::raw::redacted_url"
            )]
            pub proxy_url: Option<serde_saphyr::Spanned<String>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub no_proxy: Option<serde_saphyr::Spanned<String>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub proxy_from_environment: Option<serde_saphyr::Spanned<bool>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub proxy_connect_header:
                Option<serde_saphyr::Spanned<$crate::client::raw::RawProxyHeader>>,
            #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
            pub http_headers: std::collections::BTreeMap<
                String,
                serde_saphyr::Spanned<$crate::client::raw::RawHttpHeader>,
            >,
        }

        impl $name {
            /// The credential fields, as `config::validate` checks them.
            #[allow(dead_code)]
            pub fn auth_fields(&self) -> $crate::client::raw::RawAuthFields<'_> {
                $crate::client::raw::RawAuthFields {
                    basic_auth: self.basic_auth.as_ref(),
                    authorization: self.authorization.as_ref(),
                    oauth2: self.oauth2.as_ref(),
                    bearer_token: self.bearer_token.as_ref(),
                    bearer_token_file: self.bearer_token_file.as_ref(),
                }
            }

            /// The proxy fields, as `client::proxy::ProxySettings::from_raw` reads them.
            #[allow(dead_code)]
            pub fn proxy_fields(&self) -> $crate::client::raw::RawProxyFields<'_> {
                $crate::client::raw::RawProxyFields {
                    proxy_url: self.proxy_url.as_ref(),
                    no_proxy: self.no_proxy.as_ref(),
                    proxy_from_environment: self.proxy_from_environment.as_ref(),
                    proxy_connect_header: self.proxy_connect_header.as_ref(),
                }
            }
        }
    };
}
pub(crate) use http_client_config;

/// The credential fields of an HTTP client config, borrowed from the struct that inlines
/// them.
#[derive(Clone, Copy, Debug)]
pub struct RawAuthFields<'a> {
    pub basic_auth: Option<&'a Spanned<RawBasicAuth>>,
    pub authorization: Option<&'a Spanned<RawAuthorization>>,
    pub oauth2: Option<&'a Spanned<RawOAuth2>>,
    pub bearer_token: Option<&'a Spanned<Secret>>,
    pub bearer_token_file: Option<&'a Spanned<String>>,
}

/// prometheus/common `ProxyHeader`: header values sent on CONNECT, every one a secret.
pub type RawProxyHeader = BTreeMap<String, Vec<Secret>>;

/// prometheus/common `ProxyConfig`, borrowed from the struct that inlines it (an HTTP client
/// config or an `oauth2` block).
#[derive(Clone, Copy, Debug, Default)]
pub struct RawProxyFields<'a> {
    pub proxy_url: Option<&'a Spanned<String>>,
    pub no_proxy: Option<&'a Spanned<String>>,
    pub proxy_from_environment: Option<&'a Spanned<bool>>,
    pub proxy_connect_header: Option<&'a Spanned<RawProxyHeader>>,
}

/// Serializes a `proxy_url` with its password replaced by `xxxxx`, as prometheus/common's
/// `URL.Redacted` does for `/config`.
pub fn redacted_url<S: serde::Serializer>(
    v: &Option<Spanned<String>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        None => s.serialize_none(),
        Some(u) => s.serialize_str(&redact_url(&u.value)),
    }
}

/// `raw` with the password of its userinfo replaced by `xxxxx`; unparsable text is hidden
/// whole, since it may still hold a password.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("xxxxx"));
            }
            u.to_string()
        }
        Err(_) if raw.contains('@') => "<secret>".to_string(),
        Err(_) => raw.to_string(),
    }
}

/// prometheus/common `OAuth2`: the client-credentials grant, with its own TLS and proxy
/// settings for the token endpoint. The JWT-bearer grant's fields (`grant_type:
/// urn:ietf:params:oauth:grant-type:jwt-bearer`, `client_certificate_key*`,
/// `signature_algorithm`, `iss`, `audience`, `claims`) are read so that validation can refuse
/// them by name.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawOAuth2 {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub client_secret: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_secret_file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_ref: Option<Spanned<Unsupported>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_key_id: Option<Spanned<Unsupported>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_key: Option<Spanned<Unsupported>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_key_file: Option<Spanned<Unsupported>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_key_ref: Option<Spanned<Unsupported>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_algorithm: Option<Spanned<Unsupported>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<Spanned<Unsupported>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Spanned<Unsupported>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<Spanned<Unsupported>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token_url: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoint_params: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<Spanned<RawTlsConfig>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "redacted_url"
    )]
    pub proxy_url: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_from_environment: Option<Spanned<bool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_connect_header: Option<Spanned<RawProxyHeader>>,
}

impl RawOAuth2 {
    /// The token endpoint's proxy fields.
    pub fn proxy_fields(&self) -> RawProxyFields<'_> {
        RawProxyFields {
            proxy_url: self.proxy_url.as_ref(),
            no_proxy: self.no_proxy.as_ref(),
            proxy_from_environment: self.proxy_from_environment.as_ref(),
            proxy_connect_header: self.proxy_connect_header.as_ref(),
        }
    }
}

/// prometheus/common `Header`: values sent as written, secrets hidden, files read per use.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttpHeader {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Secret>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// prometheus/common `BasicAuth`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawBasicAuth {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username_file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_ref: Option<Unsupported>,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub password: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password_file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_ref: Option<Unsupported>,
}

/// prometheus/common `Authorization`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuthorization {
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub credentials: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub credentials_file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_ref: Option<Unsupported>,
}

/// prometheus/common `TLSConfig`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTlsConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca_file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_ref: Option<Unsupported>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cert: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cert_file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_ref: Option<Unsupported>,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub key: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key_file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ref: Option<Unsupported>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server_name: String,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default = "unspanned", skip_serializing_if = "is_empty_spanned")]
    pub min_version: Spanned<String>,
    #[serde(default = "unspanned", skip_serializing_if = "is_empty_spanned")]
    pub max_version: Spanned<String>,
}

impl Default for RawTlsConfig {
    fn default() -> Self {
        crate::base::yaml::from_str("{}")
            .unwrap_or_else(|_| unreachable!("`{{}}` is a valid tls_config"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    http_client_config! {
        #[derive(Debug, Deserialize, Serialize)]
        #[serde(deny_unknown_fields)]
        struct Probe {
            #[serde(default)]
            own: u32,
        }
        tls_config: #[serde(default = "unspanned")] Spanned<RawTlsConfig>;
    }

    http_client_config! {
        #[derive(Debug, Deserialize, Serialize)]
        #[serde(deny_unknown_fields)]
        struct Integration {}
        tls_config: #[serde(default, skip_serializing_if = "Option::is_none")] Option<Spanned<RawTlsConfig>>;
    }

    #[test]
    fn both_forms_share_fields_defaults_and_positions() {
        let yaml = "own: 3\nfollow_redirects: false\ntls_config:\n  server_name: x\nhttp_headers:\n  X-A: {values: [a]}\n";
        let p: Probe = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!(p.own, 3);
        assert!(!p.follow_redirects && p.enable_http2);
        assert_eq!(p.tls_config.value.server_name, "x");
        assert_eq!(p.tls_config.referenced.line(), 4);
        assert_eq!(p.http_headers["X-A"].value.values, ["a"]);

        let i: Integration = crate::base::yaml::from_str("{}").unwrap();
        assert!(i.tls_config.is_none() && i.follow_redirects && i.enable_http2);
        let e = serde_saphyr::from_str::<Integration>("own: 1\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `own`"), "{e}");
        let p: Probe = crate::base::yaml::from_str("{}").unwrap();
        assert!(p.tls_config.value.ca_file.is_empty());
        let dump = serde_saphyr::to_string(&Integration {
            bearer_token: Some(unspanned_secret()),
            ..crate::base::yaml::from_str("{}").unwrap()
        })
        .unwrap();
        assert!(
            dump.contains("<secret>") && !dump.contains("hunter2"),
            "{dump}"
        );
    }

    fn unspanned_secret() -> Spanned<Secret> {
        Spanned::new(
            Secret::new("hunter2"),
            serde_saphyr::Location::UNKNOWN,
            serde_saphyr::Location::UNKNOWN,
        )
    }
}
