//! The accept loop used when `--web.config.file` is set: TLS on rustls (or plain HTTP when the
//! file configures no TLS), basic authentication and the configured security headers on every
//! route. Before each new connection the web config and the certificate, key and CA files it
//! names are compared with what was loaded, and re-loaded when any changed (a bad new version
//! is logged and the old one kept), so certificates rotate without a restart.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::webconfig::{AuthOutcome, Web};

/// A client has this long to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// And this long to send a request head, on each request of a connection.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

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

/// Serves `app` (already wrapped in [`web_layer`]) until `shutdown`, then lets in-flight
/// requests finish.
pub(super) async fn serve(
    listener: TcpListener,
    app: Router,
    web: Arc<Web>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(message = "accept failed", err = %e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let web = Arc::clone(&web);
        let svc = TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let refresh_web = Arc::clone(&web);
            let _ = tokio::task::spawn_blocking(move || refresh_web.refresh()).await;
            let cfg = web.current();
            let mut builder = auto::Builder::new(TokioExecutor::new());
            if !cfg.http2 {
                builder = builder.http1_only();
            }
            // A client that never finishes its request head (slowloris) is dropped.
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            let result = match &cfg.tls {
                Some(tls) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(tls));
                    let tls_stream = match tokio::time::timeout(
                        HANDSHAKE_TIMEOUT,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(message = "TLS handshake failed", peer = %peer, err = %e);
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(message = "TLS handshake timed out", peer = %peer);
                            return;
                        }
                    };
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(tls_stream), svc);
                    watcher.watch(conn).await
                }
                None => {
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                    watcher.watch(conn).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(message = "connection ended with an error", peer = %peer, err = %e);
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
