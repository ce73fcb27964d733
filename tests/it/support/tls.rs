//! rustls server configuration for the loopback test servers.
//!
//! [`TlsOptions`] chooses ALPN protocols, protocol versions and optional client
//! certificate verification; [`server_config`] turns a [`ServerCert`] plus options
//! into a `rustls::ServerConfig` using the `ring` provider explicitly (no reliance
//! on a process-wide default provider).

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};

use super::certs::ServerCert;

/// ALPN protocols the server offers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Alpn {
    /// `h2`, then `http/1.1` (what a typical HTTPS server offers).
    #[default]
    H2AndHttp11,
    /// `http/1.1` only: clients cannot negotiate HTTP/2.
    Http11Only,
    /// No ALPN extension at all (e.g. raw TLS for the tcp prober).
    None,
    /// Any explicit list, in server preference order.
    Custom(Vec<Vec<u8>>),
}

impl Alpn {
    fn protocols(&self) -> Vec<Vec<u8>> {
        match self {
            Alpn::H2AndHttp11 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            Alpn::Http11Only => vec![b"http/1.1".to_vec()],
            Alpn::None => Vec::new(),
            Alpn::Custom(list) => list.clone(),
        }
    }
}

/// TLS protocol versions the server accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsVersions {
    /// TLS 1.2 and TLS 1.3.
    #[default]
    All,
    /// TLS 1.2 only.
    Tls12Only,
    /// TLS 1.3 only.
    Tls13Only,
}

impl TlsVersions {
    fn versions(self) -> &'static [&'static SupportedProtocolVersion] {
        static ALL: [&SupportedProtocolVersion; 2] =
            [&rustls::version::TLS13, &rustls::version::TLS12];
        static TLS12: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
        static TLS13: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        match self {
            TlsVersions::All => &ALL,
            TlsVersions::Tls12Only => &TLS12,
            TlsVersions::Tls13Only => &TLS13,
        }
    }
}

/// Server-side TLS knobs.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// ALPN protocols offered (default: `h2`, `http/1.1`).
    pub alpn: Alpn,
    /// Accepted protocol versions (default: 1.2 and 1.3).
    pub versions: TlsVersions,
    /// When set, clients **must** present a certificate chaining to one of these roots.
    pub client_ca: Option<Vec<CertificateDer<'static>>>,
}

impl TlsOptions {
    /// Offer only `http/1.1` via ALPN.
    pub fn http11_only(mut self) -> Self {
        self.alpn = Alpn::Http11Only;
        self
    }

    /// Offer no ALPN at all.
    pub fn no_alpn(mut self) -> Self {
        self.alpn = Alpn::None;
        self
    }

    /// Accept TLS 1.2 only.
    pub fn tls12_only(mut self) -> Self {
        self.versions = TlsVersions::Tls12Only;
        self
    }

    /// Accept TLS 1.3 only.
    pub fn tls13_only(mut self) -> Self {
        self.versions = TlsVersions::Tls13Only;
        self
    }

    /// Require a client certificate issued by one of `roots`.
    pub fn require_client_cert(mut self, roots: Vec<CertificateDer<'static>>) -> Self {
        self.client_ca = Some(roots);
        self
    }
}

/// The `ring` crypto provider, shared by all test configs.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds a rustls server config presenting `identity` with `options`.
pub fn server_config(identity: &ServerCert, options: &TlsOptions) -> Arc<ServerConfig> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(options.versions.versions())
        .expect("ring supports the requested TLS versions");
    let builder = match &options.client_ca {
        None => builder.with_no_client_auth(),
        Some(roots) => {
            let mut store = RootCertStore::empty();
            for root in roots {
                store
                    .add(root.clone())
                    .expect("client CA certificate must be a valid trust anchor");
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider())
                .build()
                .expect("building the client certificate verifier");
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(identity.chain_der(), identity.key_der())
        .expect("server certificate chain and key must match");
    config.alpn_protocols = options.alpn.protocols();
    Arc::new(config)
}
