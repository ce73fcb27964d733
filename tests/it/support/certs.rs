//! Throw-away X.509 material for TLS tests, generated with `rcgen`.
//!
//! Everything here is generated fresh (ECDSA P-256) in memory on each call; nothing
//! touches the network. Validity periods are expressed in **unix seconds** (whole
//! seconds, exactly what ends up encoded in the certificate), so tests can compare
//! them directly with `probe_ssl_earliest_cert_expiry` and friends.
//!
//! Scenarios covered:
//!
//! * [`TestCa`]: a root CA (or, via [`TestCa::intermediate`], an intermediate CA)
//!   that issues end-entity certificates ([`TestCa::localhost`],
//!   [`TestCa::localhost_without_ip`], [`TestCa::expired_localhost`],
//!   [`TestCa::issue`]).
//! * [`self_signed_localhost`]: a self-signed **end-entity** certificate (not a CA:
//!   rustls refuses CA certificates used as server certificates).
//! * [`OlderRootChain`]: the "chain with an older root" scenario modelled on upstream
//!   blackbox_exporter's `TestTCPConnectionWithTLSAndVerifiedCertificateChain`.
//!
//! Server identities ([`ServerCert`]) carry the chain to present (leaf first) and
//! the private key, and convert directly into what rustls wants.
//! CA bundles can be written to temporary files with [`write_pem_bundle`] /
//! [`TestCa::write_ca_file`]; the returned [`TempPath`] deletes the file when
//! dropped, so keep it alive for as long as the path is in use.

use std::hash::{BuildHasher, RandomState};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tempfile::TempPath;

/// One day in seconds.
pub const DAY: i64 = 86_400;

/// Current time as unix seconds.
pub fn now_unix() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("system clock is before 1970");
    i64::try_from(since_epoch.as_secs()).expect("unix time does not fit in i64")
}

/// A validity window, in unix seconds (inclusive bounds, as in X.509).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// `notBefore`, unix seconds.
    pub not_before: i64,
    /// `notAfter`, unix seconds.
    pub not_after: i64,
}

impl Validity {
    /// From `now + before_days` days to `now + after_days` days (negative values
    /// are in the past).
    pub fn days_from_now(before_days: i64, after_days: i64) -> Self {
        let now = now_unix();
        Self {
            not_before: now + before_days * DAY,
            not_after: now + after_days * DAY,
        }
    }

    /// Currently valid: from yesterday until `days` days from now.
    pub fn valid_for_days(days: i64) -> Self {
        Self::days_from_now(-1, days)
    }

    /// Valid from yesterday until the given unix time.
    pub fn until(not_after: i64) -> Self {
        Self {
            not_before: now_unix() - DAY,
            not_after,
        }
    }

    /// Expired: valid from 30 days ago until yesterday.
    pub fn expired() -> Self {
        Self::days_from_now(-30, -1)
    }

    /// Not yet valid: from tomorrow until 30 days from now.
    pub fn not_yet_valid() -> Self {
        Self::days_from_now(1, 30)
    }

    fn apply(self, params: &mut CertificateParams) {
        // Build rcgen's date type from the epoch without naming the `time` crate
        // (not a direct dependency of this package).
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        let at = |unix: i64| {
            let magnitude = Duration::from_secs(unix.unsigned_abs());
            if unix >= 0 {
                epoch + magnitude
            } else {
                epoch - magnitude
            }
        };
        params.not_before = at(self.not_before);
        params.not_after = at(self.not_after);
    }
}

impl Default for Validity {
    /// Valid from yesterday for a year.
    fn default() -> Self {
        Self::valid_for_days(365)
    }
}

/// A fresh, random, positive 16-byte serial number.
///
/// rcgen derives the serial from the public key by default, which would give the
/// two roots of [`OlderRootChain`] (same key) the same serial; avoid that.
fn random_serial() -> SerialNumber {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let state = RandomState::new();
    let hi = state.hash_one((n, nanos, 1u8));
    let lo = state.hash_one((n, nanos, 2u8));
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&hi.to_be_bytes());
    bytes[8..].copy_from_slice(&lo.to_be_bytes());
    bytes[0] &= 0x7f; // keep it positive
    bytes[0] |= 0x01; // and non-zero / full length
    SerialNumber::from_slice(&bytes)
}

fn common_name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "blackwatch tests");
    dn.push(DnType::CommonName, cn);
    dn
}

fn ca_params(cn: &str, validity: Validity) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.serial_number = Some(random_serial());
    params.use_authority_key_identifier_extension = true;
    validity.apply(&mut params);
    params
}

fn generate_key() -> KeyPair {
    KeyPair::generate().expect("generating an ECDSA P-256 key pair")
}

/// A generated certificate: DER, PEM and its validity in unix seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cert {
    der: CertificateDer<'static>,
    pem: String,
    common_name: String,
    validity: Validity,
}

impl Cert {
    fn new(cert: rcgen::Certificate, common_name: &str, validity: Validity) -> Self {
        Self {
            pem: cert.pem(),
            der: cert.der().clone(),
            common_name: common_name.to_owned(),
            validity,
        }
    }

    /// DER encoding, as rustls wants it.
    pub fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }

    /// DER encoding as plain bytes.
    pub fn der_bytes(&self) -> &[u8] {
        self.der.as_ref()
    }

    /// PEM encoding (a single `CERTIFICATE` block, newline terminated).
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// Subject common name.
    pub fn common_name(&self) -> &str {
        &self.common_name
    }

    /// `notBefore` as unix seconds.
    pub fn not_before(&self) -> i64 {
        self.validity.not_before
    }

    /// `notAfter` as unix seconds.
    pub fn not_after(&self) -> i64 {
        self.validity.not_after
    }

    /// Both validity bounds.
    pub fn validity(&self) -> Validity {
        self.validity
    }
}

/// What to put into an end-entity certificate.
#[derive(Clone, Debug)]
pub struct LeafSpec {
    /// Subject common name.
    pub common_name: String,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP address subject alternative names.
    pub ip_addrs: Vec<IpAddr>,
    /// Validity window.
    pub validity: Validity,
    /// `basicConstraints CA:TRUE` with `keyCertSign`, as `openssl req -x509` makes a
    /// self-signed certificate by default.
    pub ca: bool,
    /// An RSA 2048 key (from the `openssl` command) instead of ECDSA P-256.
    pub rsa: bool,
}

impl LeafSpec {
    /// CN/SAN `localhost` plus IP SAN `127.0.0.1`, valid from yesterday for a year.
    pub fn localhost() -> Self {
        Self {
            common_name: "localhost".to_owned(),
            dns_names: vec!["localhost".to_owned()],
            ip_addrs: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            validity: Validity::default(),
            ca: false,
            rsa: false,
        }
    }

    /// A leaf for arbitrary DNS names (no IP SANs); CN is the first name.
    pub fn dns(names: &[&str]) -> Self {
        Self {
            common_name: names.first().copied().unwrap_or("test").to_owned(),
            dns_names: names.iter().map(|n| (*n).to_owned()).collect(),
            ip_addrs: Vec::new(),
            validity: Validity::default(),
            ca: false,
            rsa: false,
        }
    }

    /// Marks the certificate `CA:TRUE` (see [`Self::ca`]).
    pub fn ca_true(mut self) -> Self {
        self.ca = true;
        self
    }

    /// Gives the certificate an RSA key (see [`Self::rsa`]).
    pub fn rsa(mut self) -> Self {
        self.rsa = true;
        self
    }

    /// The key pair for a certificate of this spec.
    fn key(&self) -> KeyPair {
        if !self.rsa {
            return generate_key();
        }
        // ring cannot generate RSA keys; openssl can, and rcgen signs with them.
        let out = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .output()
            .expect("running openssl genpkey (is openssl installed?)");
        assert!(out.status.success(), "openssl genpkey failed");
        let pem = String::from_utf8(out.stdout).expect("openssl writes PEM");
        KeyPair::from_pem(&pem).expect("loading the RSA key")
    }

    /// Drops all IP SANs (so connecting to `127.0.0.1` fails hostname verification).
    pub fn without_ip_san(mut self) -> Self {
        self.ip_addrs.clear();
        self
    }

    /// Replaces the validity window.
    pub fn with_validity(mut self, validity: Validity) -> Self {
        self.validity = validity;
        self
    }

    fn params(&self) -> CertificateParams {
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name(&self.common_name);
        params.subject_alt_names = self
            .dns_names
            .iter()
            .map(|name| {
                SanType::DnsName(
                    name.clone()
                        .try_into()
                        .expect("DNS SAN must be an IA5 string"),
                )
            })
            .chain(self.ip_addrs.iter().copied().map(SanType::IpAddress))
            .collect();
        // End-entity: rcgen's default `IsCa::NoCa` (no basicConstraints extension).
        params.is_ca = IsCa::NoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        if self.ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages.push(KeyUsagePurpose::KeyCertSign);
        }
        // Usable both as a server and as a client certificate.
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.serial_number = Some(random_serial());
        params.use_authority_key_identifier_extension = true;
        self.validity.apply(&mut params);
        params
    }
}

impl Default for LeafSpec {
    fn default() -> Self {
        Self::localhost()
    }
}

/// A certificate chain to present plus its private key (a TLS server or client
/// identity).
#[derive(Clone, Debug)]
pub struct ServerCert {
    chain: Vec<Cert>,
    key_pkcs8: Vec<u8>,
    key_pem: String,
}

impl ServerCert {
    /// The end-entity certificate (first in the chain).
    pub fn leaf(&self) -> &Cert {
        &self.chain[0]
    }

    /// The full chain as presented on the wire, leaf first.
    pub fn chain(&self) -> &[Cert] {
        &self.chain
    }

    /// The chain as rustls `CertificateDer`s, leaf first.
    pub fn chain_der(&self) -> Vec<CertificateDer<'static>> {
        self.chain.iter().map(|c| c.der.clone()).collect()
    }

    /// The private key (PKCS#8) as rustls wants it.
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.clone()))
    }

    /// The private key as a PKCS#8 PEM block.
    pub fn key_pem(&self) -> String {
        self.key_pem.clone()
    }

    /// The whole chain as concatenated PEM blocks, leaf first.
    pub fn chain_pem(&self) -> String {
        self.chain.iter().map(Cert::pem).collect()
    }

    /// Returns a copy that additionally presents `cert` at the end of the chain
    /// (e.g. a root certificate, as some misconfigured servers do).
    pub fn with_extra_cert(mut self, cert: &Cert) -> Self {
        self.chain.push(cert.clone());
        self
    }

    /// Writes [`Self::chain_pem`] to a temporary file (e.g. for `cert_file`).
    pub fn write_chain_file(&self) -> TempPath {
        write_temp_file(self.chain_pem().as_bytes(), ".crt")
    }

    /// Writes [`Self::key_pem`] to a temporary file (e.g. for `key_file`).
    pub fn write_key_file(&self) -> TempPath {
        write_temp_file(self.key_pem().as_bytes(), ".key")
    }
}

/// A certificate authority able to issue leaves (and intermediates).
pub struct TestCa {
    cert: Cert,
    issuer: Issuer<'static, KeyPair>,
    /// Intermediates between this CA and the root, this CA first; empty for a root.
    /// Appended after the leaf in issued [`ServerCert`] chains.
    intermediates: Vec<Cert>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("cert", &self.cert)
            .field("intermediates", &self.intermediates.len())
            .finish_non_exhaustive()
    }
}

impl TestCa {
    /// A self-signed root CA valid from yesterday for ten years.
    pub fn new(common_name: &str) -> Self {
        Self::with_validity(common_name, Validity::valid_for_days(3650))
    }

    /// A self-signed root CA with the given validity.
    pub fn with_validity(common_name: &str, validity: Validity) -> Self {
        let key = generate_key();
        let params = ca_params(common_name, validity);
        let cert = params
            .self_signed(&key)
            .expect("self-signing a test root CA");
        Self {
            cert: Cert::new(cert, common_name, validity),
            issuer: Issuer::new(params, key),
            intermediates: Vec::new(),
        }
    }

    /// An intermediate CA signed by this CA. Leaves it issues present
    /// `[leaf, intermediate, ...this CA's intermediates]`.
    pub fn intermediate(&self, common_name: &str, validity: Validity) -> TestCa {
        let key = generate_key();
        let params = ca_params(common_name, validity);
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("signing a test intermediate CA");
        let cert = Cert::new(cert, common_name, validity);
        let mut intermediates = vec![cert.clone()];
        intermediates.extend(self.intermediates.iter().cloned());
        TestCa {
            cert,
            issuer: Issuer::new(params, key),
            intermediates,
        }
    }

    /// This CA's own certificate (put it in the prober's `ca_file`).
    pub fn cert(&self) -> &Cert {
        &self.cert
    }

    /// Issues an end-entity certificate.
    pub fn issue(&self, spec: &LeafSpec) -> ServerCert {
        let key = spec.key();
        let cert = spec
            .params()
            .signed_by(&key, &self.issuer)
            .expect("signing a test leaf certificate");
        let mut chain = vec![Cert::new(cert, &spec.common_name, spec.validity)];
        chain.extend(self.intermediates.iter().cloned());
        ServerCert {
            chain,
            key_pkcs8: key.serialize_der(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Leaf for `localhost` + IP `127.0.0.1`, valid from yesterday for a year.
    pub fn localhost(&self) -> ServerCert {
        self.issue(&LeafSpec::localhost())
    }

    /// Leaf for `localhost` only (no IP SAN).
    pub fn localhost_without_ip(&self) -> ServerCert {
        self.issue(&LeafSpec::localhost().without_ip_san())
    }

    /// Expired leaf for `localhost` + `127.0.0.1` (valid 30 days ago until yesterday).
    pub fn expired_localhost(&self) -> ServerCert {
        self.issue(&LeafSpec::localhost().with_validity(Validity::expired()))
    }

    /// PEM of this CA's certificate only.
    pub fn ca_pem(&self) -> String {
        self.cert.pem.clone()
    }

    /// Writes this CA's certificate to a temporary PEM file (for `ca_file`).
    pub fn write_ca_file(&self) -> TempPath {
        write_pem_bundle(&[&self.cert])
    }
}

/// A self-signed **end-entity** certificate for `localhost` + `127.0.0.1`.
pub fn self_signed_localhost() -> ServerCert {
    self_signed(&LeafSpec::localhost())
}

/// A self-signed end-entity certificate for an arbitrary spec.
pub fn self_signed(spec: &LeafSpec) -> ServerCert {
    let key = spec.key();
    let cert = spec
        .params()
        .self_signed(&key)
        .expect("self-signing a test leaf certificate");
    ServerCert {
        chain: vec![Cert::new(cert, &spec.common_name, spec.validity)],
        key_pkcs8: key.serialize_der(),
        key_pem: key.serialize_pem(),
    }
}

/// The "chain with an older root" scenario (cf. upstream
/// `TestTCPConnectionWithTLSAndVerifiedCertificateChain`).
///
/// Two self-signed roots share subject (`CN=Root CA`) and key; `root_old` expires
/// in 1 day, `root_new` in 3 days. An intermediate CA (4 days) is signed by that
/// shared key, so it chains to either root. The leaf (`localhost` + `127.0.0.1`,
/// 2 days) is signed by the intermediate. The server presents
/// `leaf, intermediate, root_old`; the CA file holds both roots.
///
/// Expected results: the earliest expiry among presented certificates is
/// `root_old.not_after()`; the best verified chain (via `root_new`) expires at
/// `leaf.not_after()`.
#[derive(Clone, Debug)]
pub struct OlderRootChain {
    /// Root expiring sooner than the leaf (1 day).
    pub root_old: Cert,
    /// Root with the same subject and key, expiring later (3 days).
    pub root_new: Cert,
    /// Intermediate CA signed by the shared root key (4 days).
    pub intermediate: Cert,
    /// Server identity presenting `[leaf (2 days), intermediate, root_old]`.
    pub server: ServerCert,
}

impl OlderRootChain {
    /// Generates the scenario.
    pub fn generate() -> Self {
        let root_key = generate_key();
        let root_new_validity = Validity::valid_for_days(3);
        let root_old_validity = Validity::valid_for_days(1);
        let root_new_params = ca_params("Root CA", root_new_validity);
        let root_old_params = ca_params("Root CA", root_old_validity);
        let root_new = Cert::new(
            root_new_params
                .self_signed(&root_key)
                .expect("self-signing root_new"),
            "Root CA",
            root_new_validity,
        );
        let root_old = Cert::new(
            root_old_params
                .self_signed(&root_key)
                .expect("self-signing root_old"),
            "Root CA",
            root_old_validity,
        );
        // Both roots have the same DN and key, so one issuer stands for both.
        let root = TestCa {
            cert: root_new.clone(),
            issuer: Issuer::new(root_new_params, root_key),
            intermediates: Vec::new(),
        };
        let intermediate = root.intermediate("Intermediate CA", Validity::valid_for_days(4));
        let server = intermediate
            .issue(&LeafSpec::localhost().with_validity(Validity::valid_for_days(2)))
            .with_extra_cert(&root_old);
        Self {
            root_old,
            root_new,
            intermediate: intermediate.cert,
            server,
        }
    }

    /// The leaf certificate.
    pub fn leaf(&self) -> &Cert {
        self.server.leaf()
    }

    /// PEM bundle of both roots (`root_new` then `root_old`).
    pub fn ca_bundle_pem(&self) -> String {
        pem_bundle(&[&self.root_new, &self.root_old])
    }

    /// Writes [`Self::ca_bundle_pem`] to a temporary file (for `ca_file`).
    pub fn write_ca_file(&self) -> TempPath {
        write_pem_bundle(&[&self.root_new, &self.root_old])
    }

    /// Expected `probe_ssl_earliest_cert_expiry`: `root_old`'s `notAfter`.
    pub fn expected_earliest_expiry(&self) -> i64 {
        self.root_old.not_after()
    }

    /// Expected `probe_ssl_last_chain_expiry_timestamp_seconds`: the leaf's
    /// `notAfter` (the chain through `root_new`).
    pub fn expected_last_chain_expiry(&self) -> i64 {
        self.leaf().not_after()
    }
}

/// Concatenated PEM of the given certificates.
pub fn pem_bundle(certs: &[&Cert]) -> String {
    certs.iter().map(|c| c.pem()).collect()
}

/// Writes the PEM bundle of `certs` to a temporary file and returns its path.
/// The file is deleted when the returned [`TempPath`] is dropped.
pub fn write_pem_bundle(certs: &[&Cert]) -> TempPath {
    write_temp_file(pem_bundle(certs).as_bytes(), ".pem")
}

/// Writes arbitrary bytes to a temporary file and returns its path (deleted on drop).
pub fn write_temp_file(contents: &[u8], suffix: &str) -> TempPath {
    let mut file = tempfile::Builder::new()
        .prefix("blackwatch-test-")
        .suffix(suffix)
        .tempfile()
        .expect("creating a temporary file");
    file.write_all(contents)
        .expect("writing the temporary file");
    file.flush().expect("flushing the temporary file");
    file.into_temp_path()
}
