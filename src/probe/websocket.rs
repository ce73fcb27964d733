//! The websocket prober, after blackbox_exporter master's `prober/websocket.go` (gorilla
//! websocket): a `ws://` or `wss://` target → `resolve::choose_protocol` on its host → TCP
//! connect to the chosen address → TLS for `wss` (server name: `tls_config.server_name`, else
//! the URL's host) → the HTTP upgrade, with `Authorization` from `http_config`
//! (`basic_auth`, `authorization`) and the `headers` → `query_response`: each `expect` reads
//! one data message and matches it, each `send` writes one text message (`${1}` expanded
//! from the matched message).
//!
//! Metrics as upstream: `probe_websocket_status_code` (101, the refusing status, or 0),
//! `probe_websocket_connection_upgraded`, `probe_websocket_failed_due_to_regex` (1 when any
//! `query_response` step failed, read errors included) and
//! `probe_websocket_duration_seconds{phase}`: `resolve`, `connect` (the TCP connect, when it
//! succeeded), `processing` (the whole dial minus `connect`: TLS and the upgrade), `transfer`
//! (the `query_response` steps, when there are any). No TLS metrics, as upstream.
//!
//! The handshake is tokio-tungstenite's over our own TCP and rustls streams (the same client
//! configuration as every prober); the messages are bounded by tungstenite's limits (64 MiB a
//! message, 16 MiB a frame) where gorilla has none, and every read and write by the probe
//! deadline (gorilla's reads after the upgrade have no deadline).

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use url::Url;

use super::module::{Auth, QueryStep, WebsocketModule};
use super::tcp::{by_deadline, expand, Io};
use super::{resolve, Desc, ProbeCx};
use crate::base::SecretSource;

pub const STATUS_CODE: Desc = Desc::new("probe_websocket_status_code", "Response HTTP status code");
pub const CONNECTION_UPGRADED: Desc = Desc::new(
    "probe_websocket_connection_upgraded",
    "Indicates if the websocket connection was successfully upgraded",
);
pub const FAILED_DUE_TO_REGEX: Desc = Desc::new(
    "probe_websocket_failed_due_to_regex",
    "Indicates if probe failed due to regex",
);
pub const DURATION_SECONDS: Desc = Desc::new(
    "probe_websocket_duration_seconds",
    "Duration of websocket request by phase",
);

/// Request headers gorilla's dialer refuses to take from the caller.
const DIALER_HEADERS: [&str; 5] = [
    "Upgrade",
    "Connection",
    "Sec-Websocket-Key",
    "Sec-Websocket-Version",
    "Sec-Websocket-Extensions",
];

type Ws = WebSocketStream<Box<dyn Io>>;

fn add_phase(cx: &mut ProbeCx, phase: &str, seconds: f64) {
    cx.registry
        .add_gauge_labeled(&DURATION_SECONDS, &[("phase", phase)], seconds);
}

pub async fn probe(target: &str, m: &WebsocketModule, cx: &mut ProbeCx) -> bool {
    for desc in [&CONNECTION_UPGRADED, &STATUS_CODE, &FAILED_DUE_TO_REGEX] {
        cx.registry.set_gauge(desc, 0.0);
    }
    let url = match Url::parse(target) {
        Ok(u) => u,
        Err(e) => {
            cx.log
                .error("Could not parse target URL", &[("err", &e.to_string())]);
            return false;
        }
    };
    cx.log
        .debug("probing websocket", &[("target", url.as_str())]);
    let tls = match crate::client::tls::client_config(&m.tls_config, &[]) {
        Ok((config, _)) => config,
        Err(e) => {
            cx.log
                .error("Error creating TLS config", &[("err", &e.to_string())]);
            return false;
        }
    };
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let resolved = resolve::choose_protocol(&host, m.ip, cx).await;
    let ip = match resolved.ip {
        Ok(ip) => ip,
        Err(e) => {
            cx.log
                .error("Error resolving address", &[("err", &e.to_string())]);
            return false;
        }
    };
    add_phase(cx, "resolve", resolved.lookup_time.as_secs_f64());

    let dial_start = Instant::now();
    let mut connect_seconds = 0.0;
    let dialed = dial(&url, &host, ip, tls, m, cx, &mut connect_seconds).await;
    let processing = (dial_start.elapsed().as_secs_f64() - connect_seconds).max(0.0);
    add_phase(cx, "processing", processing);
    let (status, result) = dialed;
    if let Some(code) = status {
        cx.registry.set_gauge(&STATUS_CODE, f64::from(code));
    }
    let mut ws = match result {
        Ok(ws) => ws,
        Err(e) => {
            cx.log.error("Error dialing websocket", &[("err", &e)]);
            return false;
        }
    };
    cx.registry.set_gauge(&CONNECTION_UPGRADED, 1.0);

    if m.query_response.is_empty() {
        return true;
    }
    let transfer_start = Instant::now();
    let mut ok = true;
    for step in &m.query_response {
        if !query_response(step, &mut ws, cx).await {
            ok = false;
            break;
        }
    }
    cx.registry
        .set_gauge(&FAILED_DUE_TO_REGEX, if ok { 0.0 } else { 1.0 });
    add_phase(cx, "transfer", transfer_start.elapsed().as_secs_f64());
    ok
}

/// gorilla's `Dialer.DialContext`: the status of any HTTP response, and the upgraded stream
/// or the error as Go words it.
async fn dial(
    url: &Url,
    host: &str,
    ip: std::net::IpAddr,
    tls: std::sync::Arc<rustls::ClientConfig>,
    m: &WebsocketModule,
    cx: &mut ProbeCx,
    connect_seconds: &mut f64,
) -> (Option<u16>, Result<Ws, String>) {
    let secure = match url.scheme() {
        "ws" => false,
        "wss" => true,
        _ => return (None, Err("malformed ws or wss URL".to_string())),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return (None, Err("malformed ws or wss URL".to_string()));
    }
    let mut request = match url.as_str().into_client_request() {
        Ok(r) => r,
        Err(e) => return (None, Err(format!("malformed ws or wss URL: {e}"))),
    };
    for (name, value) in request_headers(m, cx).await {
        let canonical = crate::base::go::canonical_header(name.as_str());
        if DIALER_HEADERS.contains(&canonical.as_str()) {
            return (
                None,
                Err(format!(
                    "websocket: duplicate header not allowed: {canonical}"
                )),
            );
        }
        if name == tokio_tungstenite::tungstenite::http::header::HOST {
            request.headers_mut().insert(name, value);
        } else {
            request.headers_mut().append(name, value);
        }
    }

    let port = url
        .port_or_known_default()
        .unwrap_or(if secure { 443 } else { 80 });
    let addr = SocketAddr::new(ip, port);
    let network = if ip.is_ipv4() { "tcp4" } else { "tcp6" };
    let connect_start = Instant::now();
    let tcp = match by_deadline(cx.deadline, TcpStream::connect(addr)).await {
        Ok(s) => s,
        Err(e) => return (None, Err(format!("dial {network} {addr}: {e}"))),
    };
    *connect_seconds = connect_start.elapsed().as_secs_f64();
    add_phase(cx, "connect", *connect_seconds);
    let _ = tcp.set_nodelay(true);

    let stream: Box<dyn Io> = if secure {
        let name = m
            .tls_config
            .server_name
            .clone()
            .unwrap_or_else(|| host.to_string());
        let server_name = match ServerName::try_from(name.clone()) {
            Ok(n) => n,
            Err(e) => return (None, Err(format!("invalid TLS server name {name:?}: {e}"))),
        };
        match by_deadline(
            cx.deadline,
            TlsConnector::from(tls).connect(server_name, tcp),
        )
        .await
        {
            Ok(s) => Box::new(s),
            Err(e) => {
                return (
                    None,
                    Err(crate::client::tls::handshake_error(&e).to_string()),
                )
            }
        }
    } else {
        Box::new(tcp)
    };
    upgrade(request, stream, cx.deadline).await
}

/// The HTTP upgrade over `stream`, by the deadline.
async fn upgrade(
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
    stream: Box<dyn Io>,
    deadline: Instant,
) -> (Option<u16>, Result<Ws, String>) {
    match tokio::time::timeout_at(deadline, tokio_tungstenite::client_async(request, stream)).await
    {
        Err(_) => (None, Err("i/o timeout".to_string())),
        Ok(Ok((ws, resp))) => (Some(resp.status().as_u16()), Ok(ws)),
        Ok(Err(WsError::Http(resp))) => (
            Some(resp.status().as_u16()),
            Err("websocket: bad handshake".to_string()),
        ),
        Ok(Err(e)) => (None, Err(e.to_string())),
    }
}

/// The handshake's extra headers, as upstream's `constructHeadersFromConfig`: the
/// credentials, then each `headers` entry's values, secrets and files. A file that cannot be
/// read is logged and left out, as upstream does; so is `authorization` without credentials.
async fn request_headers(m: &WebsocketModule, cx: &mut ProbeCx) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    let mut push =
        |name: HeaderName, value: &str, cx: &mut ProbeCx| match HeaderValue::from_str(value) {
            Ok(v) => out.push((name, v)),
            Err(_) => cx.log.error(
                "Invalid header value, not sent",
                &[("header", name.as_str())],
            ),
        };
    if let Some(auth) = &m.auth {
        let empty_credentials = matches!(
            auth,
            Auth::Authorization {
                credentials: None,
                ..
            }
        );
        match auth.header_value().await {
            Ok(v) if empty_credentials || v.expose().ends_with(' ') => {}
            Ok(v) => push(
                tokio_tungstenite::tungstenite::http::header::AUTHORIZATION,
                v.expose(),
                cx,
            ),
            Err(e) => cx.log.error(
                "Unable to read credentials, no Authorization header sent",
                &[("err", &e.to_string())],
            ),
        }
    }
    for h in &m.headers {
        let Ok(name) = HeaderName::from_bytes(h.name.as_str().as_bytes()) else {
            continue;
        };
        for v in &h.values {
            push(name.clone(), v, cx);
        }
        for s in &h.secrets {
            push(name.clone(), s.expose(), cx);
        }
        for f in &h.files {
            match SecretSource::File(f.clone()).read() {
                Ok(v) => push(name.clone(), v.expose(), cx),
                Err(e) => cx.log.error(
                    "Unable to read header file",
                    &[("file", &f.display().to_string()), ("err", &e.to_string())],
                ),
            }
        }
    }
    out
}

/// One `query_response` step: read a data message and match `expect` (when set), then send
/// the expanded `send` (when not empty) as a text message.
async fn query_response(step: &QueryStep, ws: &mut Ws, cx: &mut ProbeCx) -> bool {
    let mut send = step.send.clone().unwrap_or_default();
    if let Some(re) = &step.expect {
        let message = match read_message(ws, cx.deadline).await {
            Ok(m) => m,
            Err(e) => {
                cx.log.error("Error reading message", &[("err", &e)]);
                return false;
            }
        };
        let line = String::from_utf8_lossy(&message).into_owned();
        let Some(caps) = re.captures(&message) else {
            cx.log.error(
                "Regexp did not match",
                &[("regexp", re.as_str()), ("line", &line)],
            );
            return false;
        };
        cx.log.debug(
            "regexp matched",
            &[("regexp", re.as_str()), ("line", &line)],
        );
        send = expand(re, &send, &caps);
    }
    if !send.is_empty() {
        let text = String::from_utf8_lossy(&send).into_owned();
        let write = ws.send(Message::text(text));
        match tokio::time::timeout_at(cx.deadline, write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                cx.log
                    .error("Error sending message", &[("err", &e.to_string())]);
                return false;
            }
            Err(_) => {
                cx.log
                    .error("Error sending message", &[("err", "i/o timeout")]);
                return false;
            }
        }
    }
    true
}

/// The next data message (text or binary); control frames are handled by tungstenite (a
/// ping is answered) and skipped, a close is an error worded as gorilla's `CloseError`.
async fn read_message(ws: &mut Ws, deadline: Instant) -> Result<Vec<u8>, String> {
    loop {
        let next = match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(n) => n,
            Err(_) => return Err("i/o timeout".to_string()),
        };
        match next {
            Some(Ok(Message::Text(t))) => return Ok(t.as_bytes().to_vec()),
            Some(Ok(Message::Binary(b))) => return Ok(b.to_vec()),
            Some(Ok(Message::Close(frame))) => return Err(close_error(frame.as_ref())),
            Some(Ok(_)) => continue,
            Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) | None => {
                return Err(close_error(None))
            }
            Some(Err(WsError::Protocol(p)))
                if p.to_string().contains("without closing handshake") =>
            {
                return Err("websocket: close 1006 (abnormal closure): unexpected EOF".into())
            }
            Some(Err(e)) => return Err(e.to_string()),
        }
    }
}

/// gorilla's `CloseError` text: `websocket: close <code> (<name>)[: <reason>]`.
fn close_error(frame: Option<&CloseFrame>) -> String {
    let Some(frame) = frame else {
        return "websocket: close 1005 (no status)".to_string();
    };
    let code = u16::from(frame.code);
    let name = match code {
        1000 => " (normal)",
        1001 => " (going away)",
        1002 => " (protocol error)",
        1003 => " (unsupported data)",
        1005 => " (no status)",
        1006 => " (abnormal closure)",
        1007 => " (invalid payload data)",
        1008 => " (policy violation)",
        1009 => " (message too big)",
        1010 => " (mandatory extension missing)",
        1011 => " (internal server error)",
        1015 => " (TLS handshake error)",
        _ => "",
    };
    let reason = frame.reason.as_str();
    if reason.is_empty() {
        format!("websocket: close {code}{name}")
    } else {
        format!("websocket: close {code}{name}: {reason}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    #[test]
    fn close_errors_read_as_gorillas() {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        };
        assert_eq!(
            close_error(Some(&frame)),
            "websocket: close 1000 (normal): bye"
        );
        let frame = CloseFrame {
            code: CloseCode::from(4000),
            reason: "".into(),
        };
        assert_eq!(close_error(Some(&frame)), "websocket: close 4000");
        assert_eq!(close_error(None), "websocket: close 1005 (no status)");
    }
}
