//! The HTTP surface: `/probe`, `/metrics`, `/-/healthy`, `/-/ready`, `/-/reload`, `/config`,
//! `/` and `/logs`. The only module that knows HTTP routing. It takes an already bound
//! listener and a cancellation token, so tests bind port 0 and the caller owns shutdown.

mod api_v1;
mod api_v2;
pub mod charts;
mod pages;
mod probe;
pub mod public;
mod serve;
pub mod status;
mod tls;
mod uptime;
pub mod webconfig;

use bytes::Bytes;
use std::io::Write as _;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::state::Shared;

pub use serve::ServerOptions;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("HTTP server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Builds the router; exposed so tests can drive it without a socket.
pub fn router(state: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(status::index).post(status::submit))
        .route("/probe", any(probe::handle))
        .route("/metrics", get(metrics))
        .route("/-/healthy", any(|| async { "Healthy" }))
        .route("/-/ready", any(|| async { "Ready" }))
        .route("/-/reload", any(reload))
        .route("/config", get(pages::config))
        .route("/logs", get(pages::logs))
        .route("/api/v1/rules", get(api_v1::rules))
        .route("/api/v1/alerts", get(api_v1::alerts))
        .route("/api/v1/uptime", get(uptime::figures))
        .route("/api/v1/uptime/incidents", get(uptime::incidents))
        .merge(api_v2::routes())
        .route("/target", get(status::target))
        .merge(public::badge_routes())
        // Anything else may be a status page of `status_pages:`.
        .fallback(public::page)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BODY))
        .with_state(state)
}

/// The largest request body any endpoint reads (API v2 alert and silence posts).
pub const MAX_REQUEST_BODY: usize = 4 << 20;

/// Serves until `shutdown` is cancelled, then lets in-flight requests finish. With
/// `options.web` (`--web.config.file`): TLS, basic auth and security headers on every route,
/// re-read on change (see `tls`).
pub async fn run(
    listener: TcpListener,
    state: Arc<Shared>,
    shutdown: CancellationToken,
    opts: ServerOptions,
) -> Result<(), ServerError> {
    let web = opts.web.clone();
    let body_timeout = opts.request_body_timeout;
    let app = router(state).layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            read_body_by(body_timeout, req, next)
        },
    ));
    let app = match &web {
        None => app,
        Some(web) => app.layer(axum::middleware::from_fn_with_state(
            Arc::clone(web),
            tls::web_layer,
        )),
    };
    serve::serve(listener, app, web, shutdown, opts).await?;
    Ok(())
}

/// Serves only the public status pages and badges (`--web.public-listen-address`) until
/// `shutdown`. Plain HTTP whatever `options.web` says: `--web.config.file`'s TLS and basic
/// auth guard the operator listener; the public one is meant to be exposed (put a TLS proxy
/// in front of it).
pub async fn run_public(
    listener: TcpListener,
    state: Arc<Shared>,
    shutdown: CancellationToken,
    opts: ServerOptions,
) -> Result<(), ServerError> {
    let body_timeout = opts.request_body_timeout;
    let app = public::public_router(state).layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            read_body_by(body_timeout, req, next)
        },
    ));
    let opts = ServerOptions { web: None, ..opts };
    serve::serve(listener, app, None, shutdown, opts).await?;
    Ok(())
}

/// Reads a request's body completely within `timeout` (and within `MAX_REQUEST_BODY`)
/// before the handler runs, so a client trickling or stalling its body cannot hold a
/// connection and its buffer for longer: 408 when it is late, 413 when it is too large.
async fn read_body_by(
    timeout: std::time::Duration,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::body::HttpBody as _;
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let too_large = || {
        plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {MAX_REQUEST_BODY} bytes"),
        )
    };
    // A Content-Length over the cap is refused before anything is read.
    if req.body().size_hint().lower() > MAX_REQUEST_BODY as u64 {
        return too_large();
    }
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_REQUEST_BODY)).await {
        Err(_) => plain(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "request body not received within {}",
                crate::base::units::format_go_duration(timeout)
            ),
        ),
        Ok(Err(e)) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(err) = source {
                if err.is::<http_body_util::LengthLimitError>() {
                    return too_large();
                }
                source = err.source();
            }
            plain(
                StatusCode::BAD_REQUEST,
                format!("reading request body: {e}"),
            )
        }
        Ok(Ok(bytes)) => {
            next.run(axum::extract::Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    }
}

/// A text response, gzip-compressed when the client accepts it.
pub(crate) fn text_response(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
    req_headers: &HeaderMap,
) -> Response {
    let body: Bytes = body.into();
    let gzip = req_headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|e| e.split(';').next().is_some_and(|t| t.trim() == "gzip"))
        });
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type);
    let body = if gzip && body.len() > 256 {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        match enc.write_all(&body).and_then(|_| enc.finish()) {
            Ok(z) => {
                builder = builder.header(header::CONTENT_ENCODING, "gzip");
                Body::from(z)
            }
            Err(_) => Body::from(body),
        }
    } else {
        Body::from(body)
    };
    builder
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

pub(crate) fn plain(status: StatusCode, body: impl Into<String>) -> Response {
    let mut r = (status, body.into()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

async fn metrics(
    axum::extract::State(state): axum::extract::State<Arc<Shared>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    // `?cluster=1`: also the results other replicas of a cluster probed.
    let cluster = uri.query().is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .any(|(k, v)| k == "cluster" && matches!(&*v, "1" | "true"))
    });
    // With thousands of scheduled targets the body is tens of MB: build (and gzip) it on a
    // blocking thread so the runtime's workers keep running probes.
    tokio::task::spawn_blocking(move || metrics_response(&state, &headers, cluster))
        .await
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n"))
}

fn metrics_response(state: &Shared, headers: &HeaderMap, cluster: bool) -> Response {
    if let Some(alerting) = state.alerting() {
        alerting.refresh_gauges(alerting.now());
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (mut body, content_type) = state.metrics.encode(accept);
    // Scheduled results follow the self-metrics; OpenMetrics ends with a single `# EOF`.
    let openmetrics = crate::metrics::wants_openmetrics(accept);
    if openmetrics {
        if let Some(stripped) = body.strip_suffix("# EOF\n") {
            body.truncate(stripped.len());
        }
    }
    state.rules().encode_metrics(&mut body, openmetrics);
    if let Some(uptime) = &state.uptime {
        uptime.encode_metrics(&mut body, openmetrics);
    }
    state.store.encode_text_with(&mut body, cluster);
    if openmetrics {
        body.push_str("# EOF\n");
    }
    text_response(StatusCode::OK, content_type, body, headers)
}

async fn reload(
    axum::extract::State(state): axum::extract::State<Arc<Shared>>,
    method: Method,
) -> Response {
    if method != Method::POST {
        return plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "This endpoint requires a POST request.\n",
        );
    }
    match state.reload().await {
        Ok(()) => plain(StatusCode::OK, ""),
        Err(e) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        ),
    }
}
