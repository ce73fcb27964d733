//! `tls_config:` (prometheus/common `TLSConfig`) of the http, tcp and dns blocks: CA,
//! client certificate and key, server name, versions.

use super::*;

fn tls_version(cx: &mut Cx, path: &str, spanned: &Spanned<String>) -> Option<TlsVersion> {
    let loc = &spanned.referenced;
    let v = spanned.value.as_str();
    match v {
        "" => None,
        "TLS12" => Some(TlsVersion::Tls12),
        "TLS13" => Some(TlsVersion::Tls13),
        "TLS10" | "TLS11" => {
            // rustls has no TLS 1.0/1.1; as a minimum these still allow 1.2 and 1.3.
            if path.ends_with("max_version") {
                cx.err(loc, path, format!("{v} is not supported by blackwatch: TLS 1.0 and 1.1 are out of scope (rustls implements TLS 1.2 and 1.3)"));
            }
            None
        }
        other => {
            cx.err(loc, path, format!("unknown TLS version: {other}"));
            None
        }
    }
}

/// A prometheus/common `tls_config` block read from another file than blackwatch.yml (the
/// cluster's `tls_client_config`): errors carry positions in `file`.
pub fn client_tls_settings(
    file: &std::path::Path,
    path: &str,
    block: &Spanned<RawTlsConfig>,
) -> Result<Option<TlsSettings>, crate::base::ConfigErrors> {
    let mut cx = Cx::new(file);
    let settings = tls_settings(&mut cx, path, block);
    if cx.errors.is_empty() {
        Ok(settings)
    } else {
        Err(crate::base::ConfigErrors::sorted(cx.errors))
    }
}

pub(super) fn tls_settings(
    cx: &mut Cx,
    path: &str,
    block: &Spanned<RawTlsConfig>,
) -> Option<TlsSettings> {
    let t = &block.value;
    let loc = block.referenced;
    let before = cx.errors.len();
    let count = |a: bool, b: bool, c: bool| [a, b, c].iter().filter(|x| **x).count();
    if count(!t.ca.is_empty(), !t.ca_file.is_empty(), t.ca_ref.is_some()) > 1 {
        cx.err(
            &loc,
            path,
            "at most one of ca, ca_file & ca_ref must be configured",
        );
    }
    if count(
        !t.cert.is_empty(),
        !t.cert_file.is_empty(),
        t.cert_ref.is_some(),
    ) > 1
    {
        cx.err(
            &loc,
            path,
            "at most one of cert, cert_file & cert_ref must be configured",
        );
    }
    if count(
        !t.key.is_empty(),
        !t.key_file.is_empty(),
        t.key_ref.is_some(),
    ) > 1
    {
        cx.err(
            &loc,
            path,
            "at most one of key, key_file & key_ref must be configured",
        );
    }
    if t.ca_ref.is_some() || t.cert_ref.is_some() || t.key_ref.is_some() {
        cx.err(&loc, path, "ca_ref, cert_ref and key_ref need a secret manager, which blackwatch does not have; use the *_file form");
    }
    let has_cert = !t.cert.is_empty() || !t.cert_file.is_empty();
    let has_key = !t.key.is_empty() || !t.key_file.is_empty();
    if has_cert && !has_key {
        cx.err(&loc, path, "exactly one of key or key_file must be configured when a client certificate is configured");
    }
    if has_key && !has_cert {
        cx.err(
            &loc,
            path,
            "exactly one of cert or cert_file must be configured when a client key is configured",
        );
    }
    let min_version = tls_version(cx, &format!("{path}.min_version"), &t.min_version);
    let max_version = tls_version(cx, &format!("{path}.max_version"), &t.max_version);
    if let (Some(min), Some(max)) = (min_version, max_version) {
        if min > max {
            cx.err(&t.max_version.referenced, format!("{path}.max_version"), format!("max_version must be greater than or equal to min_version, got min_version: {} and max_version: {}", t.min_version.value, t.max_version.value));
        }
    }
    if cx.errors.len() > before {
        return None;
    }
    let pem = |inline: &str, file: &str| {
        if !inline.is_empty() {
            Some(PemSource::Inline(inline.to_string()))
        } else if !file.is_empty() {
            Some(PemSource::File(PathBuf::from(file)))
        } else {
            None
        }
    };
    Some(TlsSettings {
        ca: pem(&t.ca, &t.ca_file),
        cert: pem(&t.cert, &t.cert_file),
        key: if t.key_file.is_empty() {
            None
        } else {
            Some(SecretSource::File(PathBuf::from(&t.key_file)))
        },
        key_inline_pem: if t.key.is_empty() {
            None
        } else {
            Some(t.key.clone())
        },
        server_name: (!t.server_name.is_empty()).then(|| t.server_name.clone()),
        insecure_skip_verify: t.insecure_skip_verify,
        min_version,
        max_version,
    })
}
