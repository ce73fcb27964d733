//! Integrations built from a receiver's configuration: one [`Integration`] per
//! `webhook_configs`, `discord_configs`, `email_configs` and `slack_configs` entry, with its
//! notification-log identity, HTTP client settings and credential sources (inline or
//! `*_file`).

use std::path::Path;
use std::sync::Arc;

use crate::alert::config::raw::RawHttpConfig;
use crate::alert::config::{tls_settings, Receiver};
use crate::alert::nflog::IntegrationId;
use crate::alert::notify::slack::Slack;
use crate::alert::notify::webhook::{Webhook, WebhookSettings, MAX_IDLE_PER_HOST};
use crate::alert::notify::{FailReason, Integration, NotifyError};
use crate::client::{Auth, Header, HttpClientSettings, RequestHeaders};

/// Builds the integrations of one receiver; one that cannot be built (its TLS files, its
/// header names) is reported in the returned error list and left out.
pub fn build_integrations(
    r: &Receiver,
    client: &reqwest::Client,
    base_dir: &std::path::Path,
    templates: &Arc<crate::alert::notify::render::TemplateSet>,
) -> (Vec<(IntegrationId, Integration)>, Vec<String>) {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for (index, w) in r.webhook.iter().enumerate() {
        let url = w.url.clone();
        let id = IntegrationId {
            receiver: r.name.clone(),
            integration: "webhook".into(),
            index,
        };
        let built = client_settings(&w.http_config, base_dir).and_then(|s| {
            let c = http_client(&s, client).map_err(|e| e.to_string())?;
            Ok((c, s.headers))
        });
        let (client, headers) = match built {
            Ok(b) => b,
            Err(e) => {
                missing.push(format!(
                    "receiver {:?}: webhook_configs[{index}]: {e}",
                    r.name
                ));
                continue;
            }
        };
        let settings = WebhookSettings {
            url,
            max_alerts: usize::try_from(w.max_alerts).unwrap_or(usize::MAX),
            timeout: (!w.timeout.is_zero()).then_some(w.timeout),
            headers,
        };
        out.push((
            id,
            Integration {
                notifier: Arc::new(Webhook::new(settings, client.clone())),
                index,
                send_resolved: w.send_resolved,
            },
        ));
    }
    let (more, errors) =
        crate::alert::notify::render::build_discord_email(r, client, base_dir, templates);
    out.extend(more);
    missing.extend(errors);
    for (index, c) in r.slack.iter().enumerate() {
        let id = IntegrationId {
            receiver: r.name.clone(),
            integration: "slack".into(),
            index,
        };
        match Slack::new(c.clone(), templates.clone(), client, base_dir) {
            Ok(n) => out.push((
                id,
                Integration {
                    notifier: Arc::new(n),
                    index,
                    send_resolved: c.send_resolved,
                },
            )),
            Err(e) => missing.push(format!(
                "receiver {:?}: slack_configs[{index}]: {e}",
                r.name
            )),
        }
    }
    (out, missing)
}

/// The client for an integration's `http_config`: the shared one unless its TLS or redirect
/// settings differ from the defaults (rustls with the system roots, redirects followed),
/// then one of its own. TLS files are read here, when the integration is built (start-up
/// and reload).
pub fn http_client(
    h: &HttpClientSettings,
    shared: &reqwest::Client,
) -> Result<reqwest::Client, NotifyError> {
    if h.tls.is_none() && h.follow_redirects {
        return Ok(shared.clone());
    }
    let settings = h.tls_or_default();
    let tls_err = |e: String| NotifyError::new(false, FailReason::Other, format!("TLS setup: {e}"));
    let tls = crate::client::tls::client_config(&settings, &[b"h2", b"http/1.1"])
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
    b.build()
        .map_err(|e| NotifyError::new(false, FailReason::Other, format!("HTTP client: {e}")))
}

/// An integration's `http_config` as the client settings the http prober uses too
/// (`client::HttpClientSettings`); relative file names are taken from `base_dir`.
/// Credential and header files are read at every send.
pub(crate) fn client_settings(
    h: &RawHttpConfig,
    base_dir: &Path,
) -> Result<HttpClientSettings, String> {
    let auth = Auth::from_raw(
        h.basic_auth.as_ref().map(|b| &b.value),
        h.authorization.as_ref().map(|a| &a.value),
        h.bearer_token.as_ref().map(|t| &t.value),
        h.bearer_token_file.as_ref().map(|f| f.value.as_str()),
        base_dir,
    );
    let mut headers = Vec::new();
    for (name, v) in &h.http_headers {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("http_headers: invalid header name {name:?}"))?;
        headers.push(Header::from_raw(name, &v.value, base_dir));
    }
    Ok(HttpClientSettings {
        headers: RequestHeaders { auth, headers },
        tls: h
            .tls_config
            .as_ref()
            .map(|t| tls_settings(&t.value, base_dir)),
        follow_redirects: h.follow_redirects,
        enable_http2: h.enable_http2,
    })
}

/// Verifies the server certificate against `tls_config.server_name` instead of the URL's
/// host, as Go does with `tls.Config.ServerName` (reqwest passes the URL's host to rustls).
#[derive(Debug)]
struct ServerNameVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    name: rustls::pki_types::ServerName<'static>,
}

impl ServerNameVerifier {
    fn new(settings: &crate::client::TlsSettings, name: &str) -> Result<Self, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        let name = rustls::pki_types::ServerName::try_from(name.to_string())
            .map_err(|e| format!("invalid server_name {name:?}: {e}"))?;
        let mut roots = rustls::RootCertStore::empty();
        let ders: Vec<CertificateDer<'static>> = match &settings.ca {
            Some(crate::client::PemSource::Inline(pem)) => {
                CertificateDer::pem_slice_iter(pem.as_bytes())
                    .filter_map(Result::ok)
                    .collect()
            }
            Some(crate::client::PemSource::File(p)) => {
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
