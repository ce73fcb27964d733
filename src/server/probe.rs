//! `/probe`: blackbox_exporter's handler semantics — module lookup (default `http_2xx`), the
//! scrape-timeout header, the target and `hostname` parameters, `debug=true` — around the
//! shared `probe::run`. A failed probe is still a 200 with `probe_success 0`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;

use super::{plain, text_response};
use crate::history::DebugOutput;
use crate::metrics::TEXT_CONTENT_TYPE;
use crate::probe::policy as allow;
use crate::probe::{self, ProbeCx, Prober};
use crate::state::Shared;

/// `GET /probe`, in blackbox_exporter's handler order (module, target, policy, timeout,
/// probe, history, response), which decides which error a bad request gets.
pub(super) async fn handle(
    State(state): State<Arc<Shared>>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    // Upstream takes the first value of each parameter.
    let mut first: HashMap<&str, &str> = HashMap::new();
    for (k, v) in &params {
        first.entry(k.as_str()).or_insert(v.as_str());
    }
    let config = state.config();
    let module_name = match first.get("module") {
        Some(m) if !m.is_empty() => *m,
        _ => "http_2xx",
    };
    let Some(module) = config.modules.get(module_name).cloned() else {
        state.metrics.module_unknown.inc();
        return plain(
            StatusCode::BAD_REQUEST,
            format!("Unknown module {module_name:?}\n"),
        );
    };
    let scrape_timeout = match headers.get("X-Prometheus-Scrape-Timeout-Seconds") {
        Some(v) => {
            let s = v.to_str().unwrap_or_default();
            match s.trim().parse::<f64>() {
                Ok(t) if t.is_finite() => Some(t),
                _ => {
                    return plain(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("Failed to parse timeout from Prometheus header: strconv.ParseFloat: parsing {s:?}: invalid syntax\n"),
                    )
                }
            }
        }
        None => None,
    };
    let target = match first.get("target") {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => return plain(StatusCode::BAD_REQUEST, "Target parameter is missing\n"),
    };
    // Upstream (master, #1525) unescapes the target once more, so a target encoded twice by
    // a relabelling rule still works; a target that does not unescape is kept as given.
    let target = query_unescape(&target).unwrap_or(target);
    let hostname = first
        .get("hostname")
        .filter(|h| !h.is_empty())
        .map(|h| h.to_string());
    if let (Some(h), Prober::Http(http)) = (&hostname, &module.prober) {
        if let Some(configured) = http.host_header() {
            if configured != h {
                return plain(
                    StatusCode::BAD_REQUEST,
                    format!("host header defined both in module configuration ({configured}) and with URL-parameter 'hostname' ({h})\n"),
                );
            }
        }
    }

    // probe_policy: the switch and the host/port allow-list before the probe; the address
    // actually connected to is checked by the guard during it (see `allow`).
    let policy = Arc::clone(&config.probe_policy);
    if let Err(r) = policy.check_target(&module.prober, &target) {
        return refused(&state, r.reason, &r.message);
    }
    let guard_port = allow::target_parts(&module.prober, &target).and_then(|p| p.port);

    let timeout = probe::effective_timeout(
        module.timeout,
        scrape_timeout,
        state.settings.timeout_offset,
    );
    let mut cx = ProbeCx::new(module_name, &target, timeout, state.settings.log_prober);
    cx.hostname = hostname;
    cx.guard = policy.guard(guard_port);
    let success = probe::run(&target, &module, &mut cx).await;
    if let Some(m) = cx.refused.take() {
        return refused(&state, "address", &m);
    }

    state.count_probe(module_name, module.prober.name(), success, &cx);

    // The metrics go out as the response and stay in the history as its debug text's
    // metrics (one buffer, shared); the debug text is written only when read.
    let metrics = Bytes::from(cx.registry.encode_text());
    let debug_output = DebugOutput::new(cx.log.take_text(), metrics.clone(), Arc::clone(&module));
    let debug = first.get("debug").is_some_and(|d| *d == "true");
    if debug {
        let text = debug_output.render();
        crate::base::sync::lock(&state.history).add(module_name, &target, success, debug_output);
        return text_response(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            text,
            &HeaderMap::new(),
        );
    }
    crate::base::sync::lock(&state.history).add(module_name, &target, success, debug_output);
    let mut resp = text_response(StatusCode::OK, TEXT_CONTENT_TYPE, metrics, &headers);
    resp.headers_mut().remove(header::CACHE_CONTROL);
    resp
}

/// A 403 for a target `probe_policy` does not allow, counted by reason.
fn refused(state: &Shared, reason: &'static str, message: &str) -> Response {
    state
        .metrics
        .probe_refused
        .get_or_create(&crate::metrics::RefusedLabels { reason })
        .inc();
    // Debug, not warn: a flood of refused requests must not flood the log (the counter shows it).
    tracing::debug!(
        message = "Probe refused by probe_policy",
        reason,
        detail = message
    );
    plain(StatusCode::FORBIDDEN, format!("{message}\n"))
}

/// Go's `url.QueryUnescape`: `%XX` escapes and `+` as a space; `None` on a malformed escape
/// (or, unlike Go, on bytes that are not UTF-8, which a target cannot use anyway).
fn query_unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::query_unescape;

    #[test]
    fn unescapes_like_go_query_unescape() {
        assert_eq!(
            query_unescape("http%3A%2F%2Fh%3A1%2Fp").as_deref(),
            Some("http://h:1/p")
        );
        assert_eq!(query_unescape("h%3A80").as_deref(), Some("h:80"));
        assert_eq!(query_unescape("a+b").as_deref(), Some("a b"));
        assert_eq!(query_unescape("plain").as_deref(), Some("plain"));
        assert_eq!(query_unescape("100%"), None);
        assert_eq!(query_unescape("%zz"), None);
        assert_eq!(query_unescape("%+1"), None);
    }
}
