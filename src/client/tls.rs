//! rustls client configuration for every outbound TLS connection: probes (http, tcp,
//! dns-over-tls) and notifiers alike. Files are read per build, so a rotated CA or client
//! certificate takes effect without a reload. The certificate verifier delegates the verdict
//! to rustls' webpki verifier and also enumerates every verified chain, so probes can report
//! `probe_ssl_last_chain_expiry_timestamp_seconds` with Go's meaning: the maximum over
//! verified chains of each chain's earliest expiry.
//!
//! Where Go's `crypto/x509` accepts what webpki refuses, the verifier follows Go: a server
//! certificate that is itself one of the trusted roots (a self-signed `CA:TRUE` certificate
//! pinned through `ca_file`, as `openssl req -x509` makes by default) verifies as the chain
//! `[leaf]` — Go's `Verify` takes that chain whenever `opts.Roots` contains the leaf — subject
//! to Go's remaining checks on it: the validity period, the host name, and an extended key
//! usage allowing server authentication when the certificate lists any. Handshake failures
//! read as Go's sentences ([`handshake_error`]).

use std::cell::RefCell;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, TrustAnchor, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use x509_parser::prelude::*;

use super::{PemSource, TlsSettings, TlsVersion};
use crate::base::SecretSource;

/// Go's zero `time.Time` as a Unix timestamp: what upstream reports as the last chain expiry
/// when no chain was verified (for example with `insecure_skip_verify`).
pub const GO_ZERO_TIME: f64 = -62135596800.0;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("unable to read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("unable to use specified CA cert {0}: no certificate found")]
    NoCa(String),
    #[error("unable to load client certificate and key: {0}")]
    ClientCert(String),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Trust anchors plus each anchor's own `notAfter`, which webpki does not keep, and the
/// digests of the root certificates themselves (Go's `CertPool.contains`).
#[derive(Debug)]
pub struct TrustRoots {
    anchors: Vec<TrustAnchor<'static>>,
    not_after: Vec<i64>,
    digests: std::collections::HashSet<[u8; 32]>,
}

impl TrustRoots {
    fn from_ders<'a>(ders: impl Iterator<Item = CertificateDer<'a>>) -> Self {
        let mut anchors = Vec::new();
        let mut not_after = Vec::new();
        let mut digests = std::collections::HashSet::new();
        for der in ders {
            if let Ok(anchor) = webpki::anchor_from_trusted_cert(&der) {
                anchors.push(anchor.to_owned());
                not_after.push(cert_not_after(&der).unwrap_or(i64::MAX));
                digests.insert(digest(&der));
            }
        }
        Self {
            anchors,
            not_after,
            digests,
        }
    }

    fn contains(&self, der: &[u8]) -> bool {
        self.digests.contains(&digest(der))
    }
}

fn digest(der: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(der).into()
}

/// Go's checks on the chain `[leaf]` when the leaf is itself a trusted root: validity period,
/// host name, and an extended key usage allowing server authentication if any is listed.
fn verify_trusted_leaf(
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    use rustls::CertificateError as CE;
    let bad = |e: CE| rustls::Error::InvalidCertificate(e);
    let (_, cert) = X509Certificate::from_der(end_entity).map_err(|_| bad(CE::BadEncoding))?;
    let now_secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = cert.validity();
    if now_secs < validity.not_before.timestamp() {
        return Err(bad(CE::NotValidYet));
    }
    if now_secs > validity.not_after.timestamp() {
        return Err(bad(CE::Expired));
    }
    if let Ok(Some(eku)) = cert.extended_key_usage() {
        if !(eku.value.any || eku.value.server_auth) {
            return Err(bad(CE::InvalidPurpose));
        }
    }
    let ee = webpki::EndEntityCert::try_from(end_entity).map_err(|_| bad(CE::BadEncoding))?;
    ee.verify_is_valid_for_subject_name(server_name)
        .map_err(|_| bad(CE::NotValidForName))
}

/// A TLS handshake failure as Go's `crypto/tls` and `crypto/x509` word it
/// (`x509: certificate signed by unknown authority`, `x509: certificate has expired or is
/// not yet valid`, `x509: certificate is valid for a, b, not c`), for probe logs, debug
/// output and the status page; other failures keep their own text.
pub fn handshake_error(e: &std::io::Error) -> String {
    let Some(err) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return e.to_string();
    };
    describe(err)
}

/// [`handshake_error`] for a rustls error.
pub fn describe(err: &rustls::Error) -> String {
    use rustls::CertificateError as CE;
    let rfc3339 = |t: UnixTime| {
        jiff::Timestamp::from_second(i64::try_from(t.as_secs()).unwrap_or(i64::MAX))
            .map_or_else(|_| t.as_secs().to_string(), |t| t.to_string())
    };
    let cert_error = match err {
        rustls::Error::InvalidCertificate(c) => c,
        other => return other.to_string(),
    };
    match cert_error {
        CE::UnknownIssuer | CE::Other(_) => "x509: certificate signed by unknown authority".into(),
        CE::ExpiredContext { time, not_after } => format!(
            "x509: certificate has expired or is not yet valid: current time {} is after {}",
            rfc3339(*time),
            rfc3339(*not_after)
        ),
        CE::NotValidYetContext { time, not_before } => format!(
            "x509: certificate has expired or is not yet valid: current time {} is before {}",
            rfc3339(*time),
            rfc3339(*not_before)
        ),
        CE::Expired | CE::NotValidYet => "x509: certificate has expired or is not yet valid".into(),
        CE::NotValidForNameContext {
            expected,
            presented,
        } => {
            let want = expected.to_str();
            // webpki renders the names as `DnsName("a.example")` and `IpAddress(127.0.0.1)`.
            let names = |kind: &str| -> Vec<String> {
                presented
                    .iter()
                    .filter_map(|p| p.strip_prefix(kind)?.strip_suffix(')'))
                    .map(|n| n.trim_matches('"').to_string())
                    .collect()
            };
            let (dns, ips) = (names("DnsName("), names("IpAddress("));
            if want.parse::<std::net::IpAddr>().is_ok() {
                if ips.is_empty() {
                    format!(
                        "x509: cannot validate certificate for {want} because it doesn't \
                         contain any IP SANs"
                    )
                } else {
                    format!(
                        "x509: certificate is valid for {}, not {want}",
                        ips.join(", ")
                    )
                }
            } else if dns.is_empty() {
                "x509: certificate relies on legacy Common Name field, use SANs instead".into()
            } else {
                format!(
                    "x509: certificate is valid for {}, not {want}",
                    dns.join(", ")
                )
            }
        }
        CE::NotValidForName => "x509: certificate is not valid for the requested name".into(),
        CE::InvalidPurpose | CE::InvalidPurposeContext { .. } => {
            "x509: certificate specifies an incompatible key usage".into()
        }
        CE::BadSignature => "x509: certificate signature is invalid".into(),
        CE::Revoked => "x509: certificate has been revoked".into(),
        other => format!("x509: {other:?}"),
    }
}

/// The system trust store, loaded once.
fn system_roots() -> Arc<TrustRoots> {
    static ROOTS: OnceLock<Arc<TrustRoots>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let result = rustls_native_certs::load_native_certs();
            for e in &result.errors {
                tracing::warn!(message = "Could not load a system CA certificate.", error = %e);
            }
            Arc::new(TrustRoots::from_ders(result.certs.into_iter()))
        })
        .clone()
}

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

fn read_pem(src: &PemSource, what: &'static str) -> Result<Vec<u8>, TlsError> {
    match src {
        PemSource::Inline(s) => Ok(s.as_bytes().to_vec()),
        PemSource::File(p) => std::fs::read(p).map_err(|e| TlsError::Read {
            what,
            path: p.display().to_string(),
            source: e,
        }),
    }
}

/// The verified-chain expiry recorded during the handshake, shared with the prober.
#[derive(Clone, Debug, Default)]
pub struct ChainRecord(Arc<Mutex<Option<i64>>>);

impl ChainRecord {
    /// Last chain expiry as upstream reports it.
    pub fn last_chain_expiry(&self) -> f64 {
        match self.0.lock().map(|g| *g) {
            Ok(Some(t)) => t as f64,
            _ => GO_ZERO_TIME,
        }
    }
}

#[derive(Debug)]
struct RecordingVerifier {
    /// `None` with `insecure_skip_verify`.
    inner: Option<Arc<WebPkiServerVerifier>>,
    roots: Arc<TrustRoots>,
    provider: Arc<CryptoProvider>,
    record: ChainRecord,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else {
            return Ok(ServerCertVerified::assertion());
        };
        if let Err(e) =
            inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            // Go: a leaf that is itself a trusted root is the chain `[leaf]`.
            if !self.roots.contains(end_entity) {
                return Err(e);
            }
            verify_trusted_leaf(end_entity, server_name, now)?;
            if let Ok(mut g) = self.record.0.lock() {
                *g = cert_not_after(end_entity);
            }
            return Ok(ServerCertVerified::assertion());
        }
        // Enumerate every valid chain: the callback records each path and rejects it, which
        // makes webpki keep searching.
        let Ok(ee) = webpki::EndEntityCert::try_from(end_entity) else {
            return Ok(ServerCertVerified::assertion());
        };
        let found: RefCell<Vec<i64>> = RefCell::new(Vec::new());
        let roots = &self.roots;
        let leaf_expiry = cert_not_after(end_entity).unwrap_or(i64::MAX);
        let callback = |path: &webpki::VerifiedPath<'_>| -> Result<(), webpki::Error> {
            let mut min = leaf_expiry;
            for cert in path.intermediate_certificates() {
                if let Some(t) = cert_not_after(&cert.der()) {
                    min = min.min(t);
                }
            }
            let anchor = path.anchor();
            if let Some(i) = roots.anchors.iter().position(|a| std::ptr::eq(a, anchor)) {
                min = min.min(roots.not_after[i]);
            }
            found.borrow_mut().push(min);
            Err(webpki::Error::UnknownIssuer)
        };
        let _ = ee.verify_for_usage(
            self.provider.signature_verification_algorithms.all,
            &roots.anchors,
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            Some(&callback),
        );
        let best = found.borrow().iter().copied().max();
        if let Ok(mut g) = self.record.0.lock() {
            *g = best;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Builds a client config for one probe. Files are read on every call, as upstream does, so
/// a rotated CA or client certificate is picked up without a reload.
pub fn client_config(
    settings: &TlsSettings,
    alpn: &[&[u8]],
) -> Result<(Arc<ClientConfig>, ChainRecord), TlsError> {
    let provider = provider();
    let roots = match &settings.ca {
        Some(src) => {
            let pem = read_pem(src, "specified CA cert")?;
            let ders: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
                .filter_map(Result::ok)
                .collect();
            let name = match src {
                PemSource::File(p) => p.display().to_string(),
                PemSource::Inline(_) => "<inline>".to_string(),
            };
            if ders.is_empty() {
                return Err(TlsError::NoCa(name));
            }
            Arc::new(TrustRoots::from_ders(ders.into_iter()))
        }
        None => system_roots(),
    };
    let record = ChainRecord::default();
    let inner = if settings.insecure_skip_verify {
        None
    } else {
        let store = RootCertStore {
            roots: roots.anchors.clone(),
        };
        Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                .build()
                .map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))?,
        )
    };
    let verifier = Arc::new(RecordingVerifier {
        inner,
        roots,
        provider: provider.clone(),
        record: record.clone(),
    });

    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    let min = settings.min_version.unwrap_or(TlsVersion::Tls12);
    let max = settings.max_version.unwrap_or(TlsVersion::Tls13);
    if min <= TlsVersion::Tls12 && max >= TlsVersion::Tls12 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= TlsVersion::Tls13 {
        versions.push(&rustls::version::TLS13);
    }
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);

    let mut config = match (
        &settings.cert,
        settings.key.as_ref(),
        &settings.key_inline_pem,
    ) {
        (Some(cert_src), key_file, key_inline) => {
            let cert_pem = read_pem(cert_src, "client certificate")?;
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
                .filter_map(Result::ok)
                .collect();
            let key_pem: Vec<u8> = match (key_file, key_inline) {
                (Some(SecretSource::File(p)), _) => {
                    std::fs::read(p).map_err(|e| TlsError::Read {
                        what: "client key",
                        path: p.display().to_string(),
                        source: e,
                    })?
                }
                (Some(SecretSource::Inline(s)), _) => s.expose().as_bytes().to_vec(),
                (None, Some(s)) => s.expose().as_bytes().to_vec(),
                (None, None) => Vec::new(),
            };
            let key = PrivateKeyDer::from_pem_slice(&key_pem)
                .map_err(|e| TlsError::ClientCert(e.to_string()))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| TlsError::ClientCert(e.to_string()))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok((Arc::new(config), record))
}

/// `notAfter` of a DER certificate as Unix seconds.
pub fn cert_not_after(der: &[u8]) -> Option<i64> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::CertificateError as CE;

    fn text(e: CE) -> String {
        describe(&rustls::Error::InvalidCertificate(e))
    }

    /// The sentences Go's crypto/x509 prints for the same failures.
    #[test]
    fn handshake_failures_read_as_go_sentences() {
        assert_eq!(
            text(CE::UnknownIssuer),
            "x509: certificate signed by unknown authority"
        );
        assert_eq!(
            text(CE::ExpiredContext {
                time: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_800_000_000)),
                not_after: UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                    1_700_000_000
                )),
            }),
            "x509: certificate has expired or is not yet valid: current time \
             2027-01-15T08:00:00Z is after 2023-11-14T22:13:20Z"
        );
        let name = |s: &str| ServerName::try_from(s.to_string()).unwrap();
        assert_eq!(
            text(CE::NotValidForNameContext {
                expected: name("b.example"),
                presented: vec![
                    "DnsName(\"a.example\")".into(),
                    "IpAddress(127.0.0.1)".into()
                ],
            }),
            "x509: certificate is valid for a.example, not b.example"
        );
        assert_eq!(
            text(CE::NotValidForNameContext {
                expected: name("127.0.0.1"),
                presented: vec!["DnsName(\"localhost\")".into()],
            }),
            "x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs"
        );
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CE::UnknownIssuer),
        );
        assert_eq!(
            handshake_error(&io),
            "x509: certificate signed by unknown authority"
        );
    }
}
