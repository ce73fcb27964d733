//! The TLS metrics probes share (http, tcp, dns-over-tls): certificate expiry, chain
//! expiry, version, cipher and the leaf's identity, as blackbox_exporter names them. The
//! client configuration itself is `client::tls`.

use std::fmt::Write as _;

use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use x509_parser::prelude::*;

use super::registry::{Desc, Registry};
use crate::client::tls::{cert_not_after, ChainRecord};

/// The earliest `notAfter` of the peer's certificates, in Unix time.
pub const SSL_EARLIEST_CERT_EXPIRY: Desc = Desc::new(
    "probe_ssl_earliest_cert_expiry",
    "Returns last SSL chain expiry in unixtime",
);
/// The verified chain's expiry as upstream reports it (`ChainRecord::last_chain_expiry`).
pub const SSL_LAST_CHAIN_EXPIRY_TIMESTAMP_SECONDS: Desc = Desc::new(
    "probe_ssl_last_chain_expiry_timestamp_seconds",
    "Returns last SSL chain expiry in timestamp",
);
/// The leaf certificate's identity as labels, value 1.
pub const SSL_LAST_CHAIN_INFO: Desc = Desc::new(
    "probe_ssl_last_chain_info",
    "Contains SSL leaf certificate information",
);
/// The negotiated TLS version as a label, value 1.
pub const TLS_VERSION_INFO: Desc = Desc::new(
    "probe_tls_version_info",
    "Returns the TLS version used or NaN when unknown",
);
/// The negotiated cipher suite as a label, value 1 (http only, as upstream).
pub const TLS_CIPHER_INFO: Desc = Desc::new(
    "probe_tls_cipher_info",
    "Returns the TLS cipher negotiated during handshake",
);

/// `TLS 1.2` / `TLS 1.3`, as Go's `tls.VersionName`.
pub fn version_name(v: Option<rustls::ProtocolVersion>) -> &'static str {
    match v {
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2",
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3",
        Some(rustls::ProtocolVersion::TLSv1_1) => "TLS 1.1",
        Some(rustls::ProtocolVersion::TLSv1_0) => "TLS 1.0",
        _ => "unknown",
    }
}

/// Go's `tls.CipherSuiteName` for a rustls suite.
pub fn cipher_name(suite: rustls::CipherSuite) -> String {
    let name = format!("{suite:?}");
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name,
    }
}

/// What the TLS metrics need from a finished handshake.
pub struct TlsState {
    pub peer_certificates: Vec<CertificateDer<'static>>,
    pub version: Option<rustls::ProtocolVersion>,
    pub cipher: Option<rustls::CipherSuite>,
}

impl TlsState {
    pub fn from_connection(conn: &rustls::ClientConnection) -> Self {
        Self {
            peer_certificates: conn
                .peer_certificates()
                .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
                .unwrap_or_default(),
            version: conn.protocol_version(),
            cipher: conn.negotiated_cipher_suite().map(|s| s.suite()),
        }
    }
}

/// Writes the `probe_ssl_*` and `probe_tls_*` metrics of a completed handshake.
pub fn record_metrics(
    registry: &mut Registry,
    state: &TlsState,
    chain: &ChainRecord,
    with_cipher: bool,
) {
    let earliest = state
        .peer_certificates
        .iter()
        .filter_map(|c| cert_not_after(c))
        .min();
    if let Some(t) = earliest {
        registry.set_gauge(&SSL_EARLIEST_CERT_EXPIRY, t as f64);
    }
    registry.set_gauge(
        &SSL_LAST_CHAIN_EXPIRY_TIMESTAMP_SECONDS,
        chain.last_chain_expiry(),
    );
    if let Some(leaf) = state.peer_certificates.first() {
        if let Some(info) = leaf_info(leaf) {
            registry.set_gauge_labeled(
                &SSL_LAST_CHAIN_INFO,
                &[
                    ("fingerprint_sha256", info.fingerprint.as_str()),
                    ("subject", info.subject.as_str()),
                    ("issuer", info.issuer.as_str()),
                    ("subjectalternative", info.sans.as_str()),
                    ("serialnumber", info.serial.as_str()),
                ],
                1.0,
            );
        }
    }
    registry.set_gauge_labeled(
        &TLS_VERSION_INFO,
        &[("version", version_name(state.version))],
        1.0,
    );
    if with_cipher {
        if let Some(c) = state.cipher {
            registry.set_gauge_labeled(
                &TLS_CIPHER_INFO,
                &[("cipher", cipher_name(c).as_str())],
                1.0,
            );
        }
    }
}

struct LeafInfo {
    fingerprint: String,
    subject: String,
    issuer: String,
    sans: String,
    serial: String,
}

fn leaf_info(der: &[u8]) -> Option<LeafInfo> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let fingerprint = hex(&Sha256::digest(der));
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            if let GeneralName::DNSName(d) = name {
                sans.push(d.to_string());
            }
        }
    }
    let raw_serial = cert.raw_serial();
    let first_nonzero = raw_serial
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(raw_serial.len());
    Some(LeafInfo {
        fingerprint,
        subject: go_dn_string(cert.subject()),
        issuer: go_dn_string(cert.issuer()),
        sans: sans.join(","),
        serial: hex(&raw_serial[first_nonzero..]),
    })
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Go's `pkix.Name.String()`: the standard attributes in Go's fixed order, reversed
/// (`CN=leaf,O=Org,C=US`), then any other attribute as `oid=#hex`.
pub fn go_dn_string(name: &X509Name<'_>) -> String {
    // (OID suffix under 2.5.4, Go's short name), in ToRDNSequence order.
    const ORDER: &[(u64, &str)] = &[
        (6, "C"),
        (8, "ST"),
        (7, "L"),
        (9, "STREET"),
        (17, "POSTALCODE"),
        (10, "O"),
        (11, "OU"),
        (3, "CN"),
        (5, "SERIALNUMBER"),
    ];
    let mut seq: Vec<String> = Vec::new();
    let mut extra: Vec<String> = Vec::new();
    let attr_suffix = |oid: &x509_parser::der_parser::oid::Oid<'_>| -> Option<u64> {
        let arcs: Vec<u64> = oid.iter()?.collect();
        (arcs.len() == 4 && arcs[0] == 2 && arcs[1] == 5 && arcs[2] == 4).then(|| arcs[3])
    };
    for (suffix, short) in ORDER {
        for attr in name.iter_attributes() {
            if attr_suffix(attr.attr_type()) == Some(*suffix) {
                if let Ok(v) = attr.as_str() {
                    seq.push(format!("{short}={}", escape_dn(v)));
                }
            }
        }
    }
    for attr in name.iter_attributes() {
        let known = attr_suffix(attr.attr_type())
            .is_some_and(|s| [3, 5, 6, 7, 8, 9, 10, 11, 17].contains(&s));
        if !known {
            let value = attr.attr_value();
            let mut der = Vec::new();
            if let Ok(header_bytes) = der_header(value) {
                der.extend(header_bytes);
            }
            der.extend_from_slice(value.data);
            extra.push(format!(
                "{}=#{}",
                attr.attr_type().to_id_string(),
                hex(&der)
            ));
        }
    }
    // Go puts non-standard attributes first in the sequence, so last in the string.
    let mut rdns: Vec<String> = extra;
    rdns.extend(seq);
    rdns.reverse();
    rdns.join(",")
}

fn der_header(value: &x509_parser::der_parser::asn1_rs::Any<'_>) -> Result<Vec<u8>, ()> {
    let tag = value.header.tag().0;
    if tag > 30 {
        return Err(());
    }
    let mut out = vec![
        tag as u8
            | if value.header.is_constructed() {
                0x20
            } else {
                0
            },
    ];
    let len = value.data.len();
    if len < 128 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    Ok(out)
}

/// RFC 2253 escaping as Go's `AttributeTypeAndValue` string form does it.
fn escape_dn(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let chars: Vec<char> = v.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (*c == ' ' || *c == '#'))
            || (i == chars.len() - 1 && *c == ' ');
        if special {
            out.push('\\');
        }
        out.push(*c);
    }
    out
}
