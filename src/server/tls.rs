//! What `--web.config.file` adds to the accept loop (`serve`): the TLS handshake on rustls,
//! basic authentication and the configured security headers on every route. Before each new
//! connection `serve` compares the web config and the certificate, key and CA files it names
//! with what was loaded, and re-loads them when any changed (a bad new version is logged and
//! the old one kept), so certificates rotate without a restart.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::net::TcpStream;

use super::webconfig::{AuthOutcome, Web};

/// Middleware: basic auth when users are configured, then the configured headers on every
/// response (the 401 included, as the toolkit does).
pub(super) async fn web_layer(State(web): State<Arc<Web>>, req: Request, next: Next) -> Response {
    let cfg = web.current();
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    let mut resp = match web.check_basic_auth(auth.as_deref()).await {
        AuthOutcome::Allowed => next.run(req).await,
        AuthOutcome::Denied => {
            let mut r = (StatusCode::UNAUTHORIZED, Body::from("Unauthorized\n")).into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        }
    };
    for (name, value) in &cfg.headers {
        resp.headers_mut().insert(name.clone(), value.clone());
    }
    resp
}

/// The TLS handshake of one accepted connection, bounded by `timeout`; `None` (logged at
/// debug) when it fails or times out.
pub(super) async fn handshake(
    config: Arc<rustls::ServerConfig>,
    stream: TcpStream,
    timeout: Duration,
    peer: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!(message = "TLS handshake failed", peer = %peer, err = %e);
            None
        }
        Err(_) => {
            tracing::debug!(message = "TLS handshake timed out", peer = %peer);
            None
        }
    }
}
