//! The reqwest client an outbound HTTP client config becomes (what the notifiers send
//! with, and the OAuth2 token source fetches with): rustls from `tls_config` (with Go's
//! `ServerName` semantics for `tls_config.server_name`), the redirect policy, and the proxy
//! settings as reqwest proxies — plain http requests through the proxy as an absolute-form
//! request, https ones through a CONNECT tunnel that alone carries `proxy_connect_header`,
//! as Go's transport does. A `socks5://` proxy resolves names on the proxy, as Go's SOCKS5
//! dialer does (reqwest's `socks5h`).

use std::sync::Arc;

use super::proxy::ProxySettings;
use super::HttpClientSettings;

/// Idle connections kept per host between requests.
pub const MAX_IDLE_PER_HOST: usize = 16;

/// The client for `h`: `shared` (when given) unless the TLS, redirect or proxy settings
/// differ from the defaults (rustls with the system roots, redirects followed, no proxy),
/// then one of its own. TLS files are read now.
pub fn build(
    h: &HttpClientSettings,
    shared: Option<&reqwest::Client>,
) -> Result<reqwest::Client, String> {
    if let (None, true, true) = (&h.tls, h.follow_redirects, h.proxy.is_direct()) {
        if let Some(shared) = shared {
            return Ok(shared.clone());
        }
    }
    let settings = h.tls_or_default();
    let tls_err = |e: String| format!("TLS setup: {e}");
    let tls = super::tls::client_config(&settings, &[b"h2", b"http/1.1"])
        .map_err(|e| tls_err(e.to_string()))?
        .0;
    let mut tls = (*tls).clone();
    if let (Some(name), false) = (&settings.server_name, settings.insecure_skip_verify) {
        let verifier = ServerNameVerifier::new(&settings, name).map_err(tls_err)?;
        tls.dangerous().set_certificate_verifier(Arc::new(verifier));
    }
    let mut b = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .pool_max_idle_per_host(MAX_IDLE_PER_HOST);
    if !h.follow_redirects {
        b = b.redirect(reqwest::redirect::Policy::none());
    }
    for p in proxies(&h.proxy)? {
        b = b.proxy(p);
    }
    b.build().map_err(|e| format!("HTTP client: {e}"))
}

/// The proxy settings as reqwest proxies (none when direct): one for http targets, one for
/// https targets that adds `proxy_connect_header` to the CONNECT request. reqwest adds a
/// proxy's headers to plain http requests too, which would send them on to the target;
/// Go's `ProxyConnectHeader` is for CONNECT only, hence two.
pub fn proxies(settings: &ProxySettings) -> Result<Vec<reqwest::Proxy>, String> {
    if settings.is_direct() {
        return Ok(Vec::new());
    }
    let for_reqwest = |mut u: url::Url| {
        if u.scheme() == "socks5" {
            let _ = u.set_scheme("socks5h");
        }
        u
    };
    let plain = {
        let s = settings.clone();
        reqwest::Proxy::custom(move |target: &url::Url| {
            if target.scheme() == "https" {
                return None;
            }
            s.proxy_for(target).map(for_reqwest)
        })
    };
    let s = settings.clone();
    let mut tunnel = reqwest::Proxy::custom(move |target: &url::Url| {
        if target.scheme() != "https" {
            return None;
        }
        s.proxy_for(target).map(for_reqwest)
    });
    if !settings.connect_headers().is_empty() {
        let mut map = http::HeaderMap::new();
        for (name, value) in settings.connect_headers() {
            let mut v = http::HeaderValue::from_str(value.expose())
                .map_err(|_| format!("proxy_connect_header: invalid value for header {name}"))?;
            v.set_sensitive(true);
            map.append(name.clone(), v);
        }
        tunnel = tunnel.headers(map);
    }
    Ok(vec![plain, tunnel])
}

/// Verifies the server certificate against `tls_config.server_name` instead of the URL's
/// host, as Go does with `tls.Config.ServerName` (reqwest passes the URL's host to rustls).
#[derive(Debug)]
struct ServerNameVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    name: rustls::pki_types::ServerName<'static>,
}

impl ServerNameVerifier {
    fn new(settings: &super::TlsSettings, name: &str) -> Result<Self, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        let name = rustls::pki_types::ServerName::try_from(name.to_string())
            .map_err(|e| format!("invalid server_name {name:?}: {e}"))?;
        let mut roots = rustls::RootCertStore::empty();
        let ders: Vec<CertificateDer<'static>> = match &settings.ca {
            Some(super::PemSource::Inline(pem)) => CertificateDer::pem_slice_iter(pem.as_bytes())
                .filter_map(Result::ok)
                .collect(),
            Some(super::PemSource::File(p)) => {
                let pem = std::fs::read(p).map_err(|e| {
                    format!("unable to read specified CA cert {}: {e}", p.display())
                })?;
                CertificateDer::pem_slice_iter(&pem)
                    .filter_map(Result::ok)
                    .collect()
            }
            None => rustls_native_certs::load_native_certs().certs,
        };
        roots.add_parsable_certificates(ders);
        let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .map_err(|e| e.to_string())?;
        Ok(Self { inner, name })
    }
}

impl rustls::client::danger::ServerCertVerifier for ServerNameVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
