//! Upstream's checks of the final response, in its order: status code, header regexes, the
//! body (read through `body`, then its regexes, then its CEL programs), Last-Modified, HTTP version, TLS and
//! `fail_if_ssl`/`fail_if_not_ssl`; then the response metrics. A failed check logs why.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{StatusCode, Version};

use super::body::{self, DEFAULT_BODY_LIMIT};
use super::cel;
use super::transport::Final;
use super::{
    CONTENT_LENGTH, FAILED_DUE_TO_CEL, LAST_MODIFIED_TIMESTAMP_SECONDS, SSL, STATUS_CODE,
    UNCOMPRESSED_BODY_LENGTH, VERSION,
};
use crate::probe::module::{HeaderMatch, HttpModule};
use crate::probe::tls;
use crate::probe::{ProbeCx, FAILED_DUE_TO_REGEX};

/// Runs every check on the final response (reading its body unless a redirect was refused)
/// and writes the response metrics; true when all passed.
pub(super) async fn evaluate(m: &HttpModule, resp: &mut Final, cx: &mut ProbeCx) -> bool {
    let status = resp.status;
    cx.log.info(
        "Received HTTP response",
        &[("status_code", status.as_str())],
    );
    let mut success = status_ok(m, status);
    if !success {
        cx.log.info(
            "Invalid HTTP response status code",
            &[
                ("status_code", status.as_str()),
                ("valid_status_codes", &format!("{:?}", m.valid_status_codes)),
            ],
        );
    }
    let mut regex_checked = None;
    if success && (!m.fail_if_header_matches.is_empty() || !m.fail_if_header_not_matches.is_empty())
    {
        let ok = headers_match(&m.fail_if_header_matches, &resp.headers, true, cx)
            && headers_match(&m.fail_if_header_not_matches, &resp.headers, false, cx);
        regex_checked = Some(ok);
        success = ok;
    }

    let content_length = resp
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(-1);

    let mut body_len = 0u64;
    let mut cel_checked = None;
    if !resp.request_errored {
        let want_regex = success
            && (!m.fail_if_body_matches.is_empty() || !m.fail_if_body_not_matches.is_empty());
        let want_cel = success && m.has_cel();
        let limit = if m.body_size_limit > 0 {
            m.body_size_limit
        } else {
            DEFAULT_BODY_LIMIT
        };
        let keep = want_regex || want_cel;
        let body = body::read(resp.body.take(), m.compression, limit, keep);
        let read = resp.driver.drive(body).await;
        body_len = read.count;
        if let Some(e) = read.error {
            cx.log
                .error("Failed to read HTTP response body", &[("err", &e)]);
            // Upstream's CEL check reads the body itself and fails on the read error.
            if want_cel && !want_regex {
                cel_checked = Some(false);
            }
            success = false;
        } else {
            if want_regex {
                let ok = body_matches(m, &read.kept, cx);
                regex_checked = Some(ok);
                success = ok;
            }
            // Upstream hands the CEL check what the regex check left of the body stream,
            // i.e. nothing, so with both configured every CEL check fails there; here both
            // see the whole body.
            if success && want_cel {
                let ok = cel_matches(m, &read.kept, cx).await;
                cel_checked = Some(ok);
                success = ok;
            }
        }
    }
    if let Some(ok) = regex_checked {
        cx.registry
            .set_gauge(&FAILED_DUE_TO_REGEX, if ok { 0.0 } else { 1.0 });
    }
    if let Some(ok) = cel_checked {
        cx.registry
            .set_gauge(&FAILED_DUE_TO_CEL, if ok { 0.0 } else { 1.0 });
    }
    record_last_modified(&resp.headers, cx);
    success &= version_ok(m, resp.version, cx);
    success = tls_ok(m, resp, success, cx);

    cx.registry
        .set_gauge(&STATUS_CODE, f64::from(status.as_u16()));
    cx.registry
        .set_gauge(&CONTENT_LENGTH, content_length as f64);
    cx.registry
        .set_gauge(&UNCOMPRESSED_BODY_LENGTH, body_len as f64);
    success
}

fn status_ok(m: &HttpModule, status: StatusCode) -> bool {
    if m.valid_status_codes.is_empty() {
        status.is_success()
    } else {
        m.valid_status_codes.contains(&status.as_u16())
    }
}

fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "unknown",
    }
}

fn header_values<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Vec<&'a [u8]> {
    headers
        .get_all(name)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect()
}

fn headers_match(
    matchers: &[HeaderMatch],
    headers: &HeaderMap,
    fail_if_match: bool,
    cx: &mut ProbeCx,
) -> bool {
    for hm in matchers {
        let values = header_values(headers, &hm.header);
        if values.is_empty() {
            if hm.allow_missing {
                continue;
            }
            cx.log
                .error("Missing required header", &[("header", hm.header.as_str())]);
            return false;
        }
        let any = values.iter().any(|v| hm.regexp.is_match(v));
        if fail_if_match && any {
            cx.log.error(
                "Header matched regular expression",
                &[
                    ("header", hm.header.as_str()),
                    ("regexp", hm.regexp.as_str()),
                ],
            );
            return false;
        }
        if !fail_if_match && !any {
            cx.log.error(
                "Header did not match regular expression",
                &[
                    ("header", hm.header.as_str()),
                    ("regexp", hm.regexp.as_str()),
                ],
            );
            return false;
        }
    }
    true
}

/// `fail_if_body_matches_regexp`, then `fail_if_body_not_matches_regexp`; the first failing
/// regex is logged.
fn body_matches(m: &HttpModule, body: &[u8], cx: &mut ProbeCx) -> bool {
    for re in &m.fail_if_body_matches {
        if re.is_match(body) {
            cx.log.error(
                "Body matched regular expression",
                &[("regexp", re.as_str())],
            );
            return false;
        }
    }
    for re in &m.fail_if_body_not_matches {
        if !re.is_match(body) {
            cx.log.error(
                "Body did not match regular expression",
                &[("regexp", re.as_str())],
            );
            return false;
        }
    }
    true
}

/// `fail_if_body_json_matches_cel`, then `fail_if_body_json_not_matches_cel`, over the body
/// parsed as JSON; a body that is not JSON, an evaluation error or a result that is not a
/// bool fails the probe whichever option is set (upstream's `matchCELExpressions`).
async fn cel_matches(m: &HttpModule, body: &[u8], cx: &mut ProbeCx) -> bool {
    let value = match cel::parse_json(body) {
        Ok(v) => std::sync::Arc::new(v),
        Err(e) => {
            cx.log
                .error("Error unmarshalling HTTP body to JSON", &[("err", &e)]);
            return false;
        }
    };
    for (program, fail_on) in [
        (&m.fail_if_body_json_matches_cel, true),
        (&m.fail_if_body_json_not_matches_cel, false),
    ] {
        let Some(program) = program else { continue };
        match program.eval(value.clone()).await {
            Err(e) => {
                cx.log
                    .error("Error evaluating CEL expression", &[("err", &e)]);
                return false;
            }
            Ok(::cel::Value::Bool(b)) if b == fail_on => {
                let msg = if fail_on {
                    "Body matched CEL expression"
                } else {
                    "Body did not match CEL expression"
                };
                cx.log.error(msg, &[("expression", program.expression())]);
                return false;
            }
            Ok(::cel::Value::Bool(_)) => {}
            Ok(other) => {
                cx.log.error(
                    "CEL evaluation result is not a boolean",
                    &[("details", &format!("{other:?}"))],
                );
                return false;
            }
        }
    }
    true
}

/// `probe_http_last_modified_timestamp_seconds`, when the header parses as an HTTP date.
fn record_last_modified(headers: &HeaderMap, cx: &mut ProbeCx) {
    if let Some(lm) = headers
        .get(header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    {
        let secs = match lm.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        };
        cx.registry
            .set_gauge(&LAST_MODIFIED_TIMESTAMP_SECONDS, secs);
    }
}

/// Writes `probe_http_version`; false when `valid_http_versions` does not list it.
fn version_ok(m: &HttpModule, version: Version, cx: &mut ProbeCx) -> bool {
    let name = version_str(version);
    let value = match version {
        Version::HTTP_09 => 0.9,
        Version::HTTP_10 => 1.0,
        Version::HTTP_11 => 1.1,
        Version::HTTP_2 => 2.0,
        Version::HTTP_3 => 3.0,
        _ => 0.0,
    };
    cx.registry.set_gauge(&VERSION, value);
    if !m.valid_http_versions.is_empty() && !m.valid_http_versions.iter().any(|v| v == name) {
        cx.log
            .error("Invalid HTTP version number", &[("version", name)]);
        return false;
    }
    true
}

/// Writes the TLS metrics of a final response over TLS and applies `fail_if_ssl`, or
/// `fail_if_not_ssl` to one without TLS (only while the probe is still `success`, as
/// upstream); returns the probe's success after that.
fn tls_ok(m: &HttpModule, resp: &Final, success: bool, cx: &mut ProbeCx) -> bool {
    if let Some(state) = &resp.tls {
        cx.registry.set_gauge(&SSL, 1.0);
        tls::record_metrics(&mut cx.registry, state, &resp.chain, true);
        if m.fail_if_ssl {
            cx.log.error("Final request was over SSL", &[]);
            return false;
        }
    } else if m.fail_if_not_ssl && success {
        cx.log.error("Final request was not over SSL", &[]);
        return false;
    }
    success
}
