//! `tls_server_config` into a rustls `ServerConfig`: certificate and key, versions, cipher
//! suites and curves, and the client-certificate policy (`client_auth_type`, client CA,
//! `client_allowed_sans`), with the exporter-toolkit's error texts.

use super::*;

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

/// `tls_server_config` as a rustls `ServerConfig` (`None` when TLS is off or after an error
/// in `cx`), and the client-auth policy. It follows the toolkit's `ConfigToTLSConfig` step by
/// step (inputs, policy, CA, versions, suites, key pair, verifier), which is why it is one
/// longer function: each step's checks and texts can be compared with upstream in order.
pub(super) fn tls_config(
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

    let (client_auth, allowed_sans) = client_auth_policy(cx, t, auth_type);

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

    let versions = protocol_versions(cx, t);

    let provider = crypto_provider(cx, t);

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

    let ca_at = ca_file
        .map(|f| ("client_ca_file", f.referenced))
        .or(ca_inline.map(|c| ("client_ca", c.referenced)));
    let Some(verifier) = client_verifier(cx, client_auth, &provider, ca_pem.as_deref(), ca_at)
    else {
        return (None, client_auth);
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

/// `client_auth_type` and `client_allowed_sans` (which needs a policy that requires a
/// certificate).
fn client_auth_policy(
    cx: &mut Cx,
    t: &RawTlsServerConfig,
    auth_type: Option<&Spanned<String>>,
) -> (ClientAuth, Option<Vec<String>>) {
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
    (client_auth, allowed_sans)
}

/// `min_version`..`max_version` as rustls protocol versions (TLS 1.2 and 1.3 only).
fn protocol_versions(
    cx: &mut Cx,
    t: &RawTlsServerConfig,
) -> Vec<&'static rustls::SupportedProtocolVersion> {
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
    versions
}

/// ring's provider restricted to `cipher_suites` (TLS 1.2, in the listed order; TLS 1.3
/// suites stay) and `curve_preferences`.
fn crypto_provider(cx: &mut Cx, t: &RawTlsServerConfig) -> rustls::crypto::CryptoProvider {
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
    provider
}

/// The client-certificate verifier for `client_auth`: none, any certificate, or verified
/// against the client CA (`ca_pem`, reported at `ca_at`). `None` after an error in `cx`.
fn client_verifier(
    cx: &mut Cx,
    client_auth: ClientAuth,
    provider: &Arc<rustls::crypto::CryptoProvider>,
    ca_pem: Option<&[u8]>,
    at: Option<(&'static str, serde_saphyr::Location)>,
) -> Option<Arc<dyn ClientCertVerifier>> {
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
            for c in CertificateDer::pem_slice_iter(ca_pem.unwrap_or_default()).flatten() {
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                push_at(cx, at, "no valid certificate found in the client CA");
                return None;
            }
            let mut b =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
            if client_auth == ClientAuth::VerifyClientCertIfGiven {
                b = b.allow_unauthenticated();
            }
            match b.build() {
                Ok(v) => v,
                Err(e) => {
                    push_at(cx, at, format!("client CA: {e}"));
                    return None;
                }
            }
        }
    };
    Some(verifier)
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
