//! The HTTP prober, built on hyper's client connection API over our own resolve, TCP connect
//! and rustls handshake, so each of blackbox_exporter's five phases (resolve, connect, tls,
//! processing, transfer) is timed and summed over redirects, and the peer certificates and
//! verified chains are available for the TLS metrics.
//!
//! Behaviour follows upstream `prober/http.go`: a new connection per hop with keep-alive off,
//! at most 10 redirects (the 11th is refused and evaluated as the final response), a fresh
//! cookie jar per probe, no `Accept-Encoding` unless `headers` sets one, no decoding unless
//! `compression` is set, and the same check order (status → headers → decode → size limit →
//! body regexes → CEL → drain → version → TLS and `fail_if_*`). Phase timings are written to the
//! registry as they are measured, so a probe cut short by its timeout keeps them.
//!
//! Layout: `request.rs` (the target URL, each hop's request and the inputs read once per
//! probe), `body.rs` (reading and decoding the body within its limit), `cel.rs` (CEL
//! programs over the JSON body), `transport.rs` (one
//! hop: resolve, connect, TLS, hyper's connection, the request sent), `checks.rs` (the
//! checks of the final response and the response metrics), and this file: the metrics'
//! declarations, the target's Host header and server name, and the redirect loop.

mod body;
pub mod cel;
mod checks;
mod proxy;
mod request;
mod transport;

use std::time::Duration;

use bytes::Bytes;
use http::header;
use url::Url;

use super::module::HttpModule;
use super::{resolve, Desc, ProbeCx, FAILED_DUE_TO_REGEX};
use request::{authority, foreign_scheme, referer_for, strip_port, url_host, Hop, RequestState};
use transport::{round_trip, Final};

pub use body::{decode_body, DEFAULT_BODY_LIMIT};
pub use request::{target_url, user_agent};
pub use transport::MAX_RESPONSE_HEAD;

const MAX_REDIRECTS: usize = 10;

/// `probe_http_duration_seconds{phase}`: resolve, connect, tls, processing, transfer.
pub const DURATION_SECONDS: Desc = Desc::new(
    "probe_http_duration_seconds",
    "Duration of http request by phase, summed over all redirects",
);
pub const CONTENT_LENGTH: Desc = Desc::new(
    "probe_http_content_length",
    "Length of http content response",
);
pub const UNCOMPRESSED_BODY_LENGTH: Desc = Desc::new(
    "probe_http_uncompressed_body_length",
    "Length of uncompressed response body",
);
pub const REDIRECTS: Desc = Desc::new("probe_http_redirects", "The number of redirects");
pub const SSL: Desc = Desc::new(
    "probe_http_ssl",
    "Indicates if SSL was used for the final redirect",
);
pub const STATUS_CODE: Desc = Desc::new("probe_http_status_code", "Response HTTP status code");
pub const VERSION: Desc = Desc::new(
    "probe_http_version",
    "Returns the version of HTTP of the probe response",
);
/// Registered only when the module has a CEL option, as upstream.
pub const FAILED_DUE_TO_CEL: Desc = Desc::new(
    "probe_failed_due_to_cel",
    "Indicates if probe failed due to CEL expression not matching",
);
pub const LAST_MODIFIED_TIMESTAMP_SECONDS: Desc = Desc::new(
    "probe_http_last_modified_timestamp_seconds",
    "Returns the Last-Modified HTTP response header in unixtime",
);

/// Adds `d` to one phase of `probe_http_duration_seconds`. Phases are written as soon as
/// they are measured, so a probe cut short by its timeout still reports what it spent, as
/// upstream's httptrace hooks do.
fn add_phase(cx: &mut ProbeCx, phase: &str, d: Duration) {
    cx.registry
        .add_gauge_labeled(&DURATION_SECONDS, &[("phase", phase)], d.as_secs_f64());
}

fn set_defaults(cx: &mut ProbeCx) {
    for desc in [
        &CONTENT_LENGTH,
        &UNCOMPRESSED_BODY_LENGTH,
        &REDIRECTS,
        &SSL,
        &STATUS_CODE,
        &VERSION,
        &FAILED_DUE_TO_REGEX,
    ] {
        cx.registry.set_gauge(desc, 0.0);
    }
}

/// Runs one HTTP probe of `target`, following redirects as Go's client does.
pub async fn probe(target: &str, m: &HttpModule, cx: &mut ProbeCx) -> bool {
    set_defaults(cx);
    if m.has_cel() {
        cx.registry.set_gauge(&FAILED_DUE_TO_CEL, 0.0);
    }
    let Some(url) = parse_target(target, cx) else {
        return false;
    };
    let target_host = url_host(&url);

    // Host header and TLS server name: module Host header, else the `hostname` parameter,
    // else the target's own authority.
    let configured_host = m
        .host_header()
        .map(str::to_string)
        .or_else(|| cx.hostname.clone());
    let host_header = configured_host.clone().unwrap_or_else(|| authority(&url));
    let server_name = m
        .client
        .tls
        .as_ref()
        .and_then(|t| t.server_name.clone())
        .or_else(|| configured_host.as_ref().map(|h| strip_port(h)))
        .unwrap_or_else(|| target_host.clone());

    // With a proxy and `skip_resolve_phase_with_proxy`, the name is left to the proxy:
    // no chooseProtocol, no resolve phase, the URL keeps its host.
    let ip = if resolve_locally(m) {
        let resolved = resolve::choose_protocol(&target_host, m.ip, cx).await;
        let lookup_time = resolved.lookup_time;
        let Ok(ip) = resolved.ip else {
            add_phase(cx, "resolve", lookup_time);
            return false;
        };
        cx.registry
            .set_gauge_labeled(&DURATION_SECONDS, &[("phase", "resolve")], 0.0);
        // The first hop's resolve phase is the chooseProtocol lookup.
        add_phase(cx, "resolve", lookup_time);
        Some(ip)
    } else {
        None
    };
    for phase in ["connect", "tls", "processing", "transfer"] {
        cx.registry
            .set_gauge_labeled(&DURATION_SECONDS, &[("phase", phase)], 0.0);
    }

    let mut first_url = url.clone();
    if let Some(ip) = ip {
        let _ = first_url.set_ip_host(ip);
    }
    let Some(state) = RequestState::load(m, cx).await else {
        return false;
    };
    let first = Hop {
        url: first_url,
        host_header,
        server_name: Some(server_name),
        ip,
        referer: None,
        first: true,
    };
    let Some(mut resp) = follow_redirects(first, state, m, cx).await else {
        return false;
    };
    let success = checks::evaluate(m, &mut resp, cx).await;
    // Upstream stamps the end of the final response whether or not its body was read (a
    // refused redirect is not read), so `transfer` is always counted for it.
    add_phase(cx, "transfer", resp.first_byte.elapsed());
    success
}

/// Upstream's `shouldResolveDNSWithProxy`: the target is resolved here unless
/// `skip_resolve_phase_with_proxy` is set and a proxy is configured (`proxy_url` or
/// `proxy_from_environment`, whether or not this target's URL ends up proxied).
fn resolve_locally(m: &HttpModule) -> bool {
    !m.skip_resolve_phase_with_proxy || m.client.proxy.is_direct()
}

/// The target as a URL with a host; logs and returns `None` as upstream refuses it.
fn parse_target(target: &str, cx: &mut ProbeCx) -> Option<Url> {
    if let Some(scheme) = foreign_scheme(target) {
        cx.log.error(
            "Could not parse target URL",
            &[("err", &format!("unsupported protocol scheme {scheme:?}"))],
        );
        return None;
    }
    match target_url(target) {
        Ok(u) if u.host().is_some() => Some(u),
        Ok(_) => {
            cx.log
                .error("Could not parse target URL", &[("err", "missing host")]);
            None
        }
        Err(e) => {
            cx.log
                .error("Could not parse target URL", &[("err", &e.to_string())]);
            None
        }
    }
}

/// Sends the request to `hop` and follows redirects (at most [`MAX_REDIRECTS`], when
/// `follow_redirects`) until a final response; `None` when a hop failed (logged).
async fn follow_redirects(
    mut hop: Hop,
    mut state: RequestState,
    m: &HttpModule,
    cx: &mut ProbeCx,
) -> Option<Final> {
    let first_authority = authority(&hop.url);
    let mut redirects = 0usize;
    cx.log.info(
        "Making HTTP request",
        &[("url", hop.url.as_str()), ("host", &hop.host_header)],
    );
    loop {
        let resp = match round_trip(&hop, &state, m, cx).await {
            Ok(r) => r,
            Err(e) => {
                cx.log.error("Error for HTTP request", &[("err", &e)]);
                return None;
            }
        };
        for v in resp.headers.get_all(header::SET_COOKIE) {
            if let Ok(s) = v.to_str() {
                let _ = state.jar.parse(s, &hop.url);
            }
        }
        let location = resp
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let is_redirect = matches!(resp.status.as_u16(), 301 | 302 | 303 | 307 | 308);
        let Some(location) = location.filter(|_| is_redirect) else {
            return Some(resp);
        };
        cx.log.info("Received redirect", &[("location", &location)]);
        redirects += 1;
        cx.registry.set_gauge(&REDIRECTS, redirects as f64);
        if redirects > MAX_REDIRECTS || !m.client.follow_redirects {
            cx.log.info("Not following redirect", &[]);
            return Some(Final {
                request_errored: true,
                ..resp
            });
        }
        match next_hop(&hop, &location, &first_authority) {
            Ok(next) => hop = next,
            Err(e) => {
                cx.log.error("Error for HTTP request", &[("err", &e)]);
                return None;
            }
        }
        // Go: 301/302/303 turn the request into a body-less GET (except HEAD); 307/308 keep it.
        if matches!(resp.status.as_u16(), 301..=303) && state.method != http::Method::HEAD {
            state.method = http::Method::GET;
            state.body = Bytes::new();
        }
        // Credentials go only to the first authority, as Go's client sends them.
        if authority(&hop.url) != first_authority {
            state.auth = None;
        }
    }
}

/// The hop a redirect to `location` leads to: a relative location keeps the Host header;
/// another authority than the first drops the server name and the resolved address.
fn next_hop(hop: &Hop, location: &str, first_authority: &str) -> Result<Hop, String> {
    let next = hop
        .url
        .join(location)
        .map_err(|e| format!("failed to parse Location header {location:?}: {e}"))?;
    if !matches!(next.scheme(), "http" | "https") {
        return Err(format!("unsupported protocol scheme {:?}", next.scheme()));
    }
    let relative = Url::parse(location).is_err();
    let same_authority = authority(&next) == first_authority;
    Ok(Hop {
        host_header: if relative {
            hop.host_header.clone()
        } else {
            authority(&next)
        },
        server_name: if same_authority {
            hop.server_name.clone()
        } else {
            None
        },
        ip: if same_authority { hop.ip } else { None },
        referer: referer_for(&hop.url, &next),
        url: next,
        first: false,
    })
}
