//! The grpc prober, after blackbox_exporter's `prober/grpc.go`: one
//! `grpc.health.v1.Health/Check` call, successful when the answer is `SERVING`.
//!
//! Target `host[:port]` or `http(s)://host[:port]` (the scheme is ignored; TLS is the
//! module's `tls:`), the port defaulting to 80, or 443 with TLS →
//! `resolve::choose_protocol` (the `resolve` phase and the address metrics) → TCP to the
//! chosen address → with `tls: true` a rustls handshake (`client::tls`, ALPN h2, server name
//! `tls_config.server_name` or the target host) → hyper's HTTP/2 client connection → the
//! call through tonic-health's generated client, with the module's metadata. Connecting and
//! calling together are the `check` phase.
//!
//! What it reports: `probe_grpc_duration_seconds{phase}`, `probe_grpc_ssl`,
//! `probe_grpc_status_code` (grpc-go's numbering: a transport failure is 14 UNAVAILABLE, an
//! unknown service 5, no health service 12), all four
//! `probe_grpc_healthcheck_response{serving_status}` series, and — only after a call that
//! returned over TLS, as upstream since 0.24 — `probe_ssl_earliest_cert_expiry`,
//! `probe_tls_version_info` and `probe_ssl_last_chain_info` (not the chain-expiry or cipher
//! metrics, which upstream's grpc prober does not have).
//!
//! Deliberate differences from upstream: the call is bounded by the probe deadline (upstream
//! 0.23–0.28 call on `context.Background()`; master's #1557 uses the probe context): an
//! expired deadline is status 4 DEADLINE_EXCEEDED, and the deadline is sent as
//! `grpc-timeout`. The connection goes to the address `choose_protocol` chose (and the
//! `/probe` allow-list vetted), where grpc-go resolves the name again and tries each address.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tonic::metadata::{AsciiMetadataValue, BinaryMetadataValue, MetadataKey};
use tonic::{Code, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use super::module::GrpcModule;
use super::tls::{self, TlsState};
use super::{resolve, Desc, ProbeCx};
use crate::base::go::split_host_port;
use crate::client::tls::ChainRecord;

/// Phase durations: `resolve` and `check`.
pub const DURATION_SECONDS: Desc = Desc::new(
    "probe_grpc_duration_seconds",
    "Duration of gRPC request by phase",
);
/// 1 when the call returned over TLS.
pub const SSL: Desc = Desc::new(
    "probe_grpc_ssl",
    "Indicates if SSL was used for the connection",
);
/// The call's gRPC status code.
pub const STATUS_CODE: Desc = Desc::new("probe_grpc_status_code", "Response gRPC status code");
/// One series per serving status, 1 for the one returned.
pub const HEALTHCHECK_RESPONSE: Desc = Desc::new(
    "probe_grpc_healthcheck_response",
    "Response HealthCheck response",
);

/// The serving statuses of `grpc.health.v1`, each always reported.
const SERVING_STATUSES: [&str; 4] = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

/// The most response-head bytes accepted (HTTP/2 header list), as the http prober bounds it.
const MAX_HEADER_LIST: u32 = 8192 + 4096 * 100;

/// Keys grpc-go leaves out of the outgoing headers (`isReservedHeader`).
const RESERVED_KEYS: &[&str] = &[
    "content-type",
    "user-agent",
    "grpc-message-type",
    "grpc-encoding",
    "grpc-message",
    "grpc-status",
    "grpc-timeout",
    "grpc-status-details-bin",
    "te",
];

pub async fn probe(target: &str, m: &GrpcModule, cx: &mut ProbeCx) -> bool {
    cx.registry
        .set_gauge_labeled(&DURATION_SECONDS, &[("phase", "resolve")], 0.0);
    cx.registry.set_gauge(&SSL, 0.0);
    cx.registry.set_gauge(&STATUS_CODE, 0.0);

    let (host, port) = match parse_target(target) {
        Ok(hp) => hp,
        Err(e) => {
            cx.log.error("Could not parse target URL", &[("err", &e)]);
            return false;
        }
    };
    // Upstream builds the TLS configuration (reading its files) before resolving, with or
    // without `tls`; here only when it is used or names files that could fail to load.
    let settings = &m.tls_config;
    let tls_config = if m.tls || settings.ca.is_some() || settings.cert.is_some() {
        match crate::client::tls::client_config(settings, &[b"h2"]) {
            Ok(c) => Some(c),
            Err(e) => {
                cx.log.error(
                    "Error creating TLS configuration",
                    &[("err", &e.to_string())],
                );
                return false;
            }
        }
    } else {
        None
    };
    let resolved = resolve::choose_protocol(&host, m.ip, cx).await;
    // The lookup time becomes the `resolve` phase only when an address was found: upstream
    // returns before adding it otherwise.
    let ip = match resolved.ip {
        Ok(ip) => ip,
        Err(e) => {
            cx.log
                .error("Error resolving address", &[("err", &e.to_string())]);
            return false;
        }
    };
    cx.registry.set_gauge_labeled(
        &DURATION_SECONDS,
        &[("phase", "resolve")],
        resolved.lookup_time.as_secs_f64(),
    );

    let check_start = Instant::now();
    let port = if port.is_empty() {
        if m.tls {
            "443".to_string()
        } else {
            "80".to_string()
        }
    } else {
        port
    };
    let tls = match (m.tls, tls_config) {
        (true, Some((config, chain))) => {
            let name = settings.server_name.clone().unwrap_or_else(|| host.clone());
            Some((config, chain, name))
        }
        _ => {
            cx.log.info("Dialing GRPC without TLS", &[]);
            None
        }
    };
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let call = check(ip, &port, &authority, tls, m, cx.deadline);
    let result = match tokio::time::timeout_at(cx.deadline, call).await {
        Ok(r) => r,
        Err(_) => Err(Status::deadline_exceeded("context deadline exceeded")),
    };
    cx.registry.add_gauge_labeled(
        &DURATION_SECONDS,
        &[("phase", "check")],
        check_start.elapsed().as_secs_f64(),
    );

    for s in SERVING_STATUSES {
        cx.registry
            .set_gauge_labeled(&HEALTHCHECK_RESPONSE, &[("serving_status", s)], 0.0);
    }
    let (code, serving) = match &result {
        Ok(answer) => {
            let name = serving_status_name(answer.status);
            cx.registry.set_gauge_labeled(
                &HEALTHCHECK_RESPONSE,
                &[("serving_status", name.as_str())],
                1.0,
            );
            if let Some((state, chain)) = &answer.tls {
                cx.registry.set_gauge(&SSL, 1.0);
                record_tls(cx, state, chain);
            }
            (Code::Ok, answer.status == ServingStatus::Serving as i32)
        }
        Err(status) => (status.code(), false),
    };
    cx.registry.set_gauge(&STATUS_CODE, f64::from(code as i32));
    match result {
        Ok(_) if serving => {
            cx.log.info("connect the grpc server successfully", &[]);
            true
        }
        Ok(answer) => {
            cx.log.error(
                "can't connect grpc server:",
                &[(
                    "err",
                    &format!(
                        "serving status {}",
                        serving_status_name(answer.status).as_str()
                    ),
                )],
            );
            false
        }
        Err(status) => {
            cx.log
                .error("can't connect grpc server:", &[("err", &go_error(&status))]);
            false
        }
    }
}

/// The TLS metrics upstream's grpc prober has: the registry's full set without the chain
/// expiry (and without the cipher).
fn record_tls(cx: &mut ProbeCx, state: &TlsState, chain: &ChainRecord) {
    tls::record_metrics(&mut cx.registry, state, chain, false);
    cx.registry
        .remove(tls::SSL_LAST_CHAIN_EXPIRY_TIMESTAMP_SECONDS.name);
}

/// `host` and `port` (maybe empty) of a target as upstream reads it: `http://` is prepended
/// unless the target starts with `http://` or `https://`, the URL's host part is split with
/// `net.SplitHostPort`, and a host part without a port is the host as a whole.
pub fn parse_target(target: &str) -> Result<(String, String), String> {
    let rest = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
        .unwrap_or(target);
    let url = if rest.len() == target.len() {
        format!("http://{target}")
    } else {
        target.to_string()
    };
    let quoted = crate::base::go::quote(&url);
    if url.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(format!(
            "parse {quoted}: net/url: invalid control character in URL"
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    // url.Parse's port check: what follows the last ':' outside brackets must be digits.
    let after_brackets = match hostport.rfind(']') {
        Some(i) if hostport.starts_with('[') => &hostport[i + 1..],
        _ => hostport,
    };
    if let Some(i) = after_brackets.rfind(':') {
        let port = &after_brackets[i..];
        let bracketed_ok = !hostport.starts_with('[') || after_brackets.starts_with(':');
        if !port[1..].bytes().all(|b| b.is_ascii_digit()) || !bracketed_ok {
            return Err(format!(
                "parse {quoted}: invalid port {} after host",
                crate::base::go::quote(port)
            ));
        }
    }
    match split_host_port(hostport) {
        Ok((h, p)) => Ok((h.to_string(), p.to_string())),
        Err(_) => Ok((hostport.to_string(), String::new())),
    }
}

/// Host and port the prober will connect to, for the `/probe` allow-list.
pub fn target_host_port(target: &str, tls: bool) -> Option<(String, u16)> {
    let (host, port) = parse_target(target).ok()?;
    let port = if port.is_empty() {
        if tls {
            443
        } else {
            80
        }
    } else {
        port.parse().ok()?
    };
    Some((host, port))
}

/// What a successful call returned.
struct Answer {
    status: i32,
    /// The handshake's state when the call went over TLS.
    tls: Option<(TlsState, ChainRecord)>,
}

type TlsParts = (std::sync::Arc<rustls::ClientConfig>, ChainRecord, String);

/// Connects and calls `Health/Check`; every failure is a gRPC status as grpc-go reports it.
async fn check(
    ip: std::net::IpAddr,
    port: &str,
    authority: &str,
    tls: Option<TlsParts>,
    m: &GrpcModule,
    deadline: Instant,
) -> Result<Answer, Status> {
    // grpc-go checks the metadata before it picks a connection.
    let mut request = request(m)?;
    // Sent as `grpc-timeout`, as grpc-go does for a call with a deadline.
    request.set_timeout(deadline.saturating_duration_since(Instant::now()));
    let dial_error = |e: String| {
        Status::unavailable(format!(
            "connection error: desc = \"transport: Error while dialing: {e}\""
        ))
    };
    let network = if ip.is_ipv4() { "tcp4" } else { "tcp6" };
    let port_num: u16 = port
        .parse()
        .map_err(|_| dial_error(format!("dial {network}: address {port}: invalid port")))?;
    let addr = SocketAddr::new(ip, port_num);
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| dial_error(format!("dial tcp {addr}: connect: {}", go_errno_text(&e))))?;
    let _ = tcp.set_nodelay(true);
    let scheme = if tls.is_some() { "https" } else { "http" };
    let origin: Uri = format!("{scheme}://{authority}")
        .parse()
        .map_err(|e| Status::unavailable(format!("invalid target {authority:?}: {e}")))?;
    let (sender, _driver, tls_state) = match tls {
        None => {
            let (sender, driver) = h2_handshake(TokioIo::new(tcp)).await?;
            (sender, driver, None)
        }
        Some((config, chain, name)) => {
            let handshake_error = |e: String| {
                Status::unavailable(format!(
                    "connection error: desc = \"transport: authentication handshake failed: {e}\""
                ))
            };
            let server_name = ServerName::try_from(name.clone())
                .map_err(|e| handshake_error(format!("invalid TLS server name {name:?}: {e}")))?;
            let stream = TlsConnector::from(config)
                .connect(server_name, tcp)
                .await
                .map_err(|e| {
                    handshake_error(format!("tls: {}", crate::client::tls::handshake_error(&e)))
                })?;
            let state = TlsState::from_connection(stream.get_ref().1);
            let (sender, driver) = h2_handshake(TokioIo::new(stream)).await?;
            (sender, driver, Some((state, chain)))
        }
    };
    let mut client = HealthClient::with_origin(H2(sender), origin);
    let response = client.check(request).await?;
    Ok(Answer {
        status: response.get_ref().status,
        tls: tls_state,
    })
}

/// The request: the service, the metadata as grpc-go sends it (checked by its rules), and
/// nothing else — the deadline is the caller's.
fn request(m: &GrpcModule) -> Result<tonic::Request<HealthCheckRequest>, Status> {
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: m.service.clone(),
    });
    for (key, values) in &m.metadata {
        validate_pair(key, values).map_err(Status::internal)?;
        if key.starts_with(':') || RESERVED_KEYS.contains(&key.as_str()) {
            continue;
        }
        let invalid = |e: &dyn std::fmt::Display| Status::internal(format!("header {key:?}: {e}"));
        if key.ends_with("-bin") {
            let k = MetadataKey::from_bytes(key.as_bytes()).map_err(|e| invalid(&e))?;
            for v in values {
                request
                    .metadata_mut()
                    .append_bin(k.clone(), BinaryMetadataValue::from_bytes(v.as_bytes()));
            }
        } else {
            let k = MetadataKey::from_bytes(key.as_bytes()).map_err(|e| invalid(&e))?;
            for v in values {
                let v = AsciiMetadataValue::try_from(v.as_str()).map_err(|e| invalid(&e))?;
                request.metadata_mut().append(k.clone(), v);
            }
        }
    }
    Ok(request)
}

/// grpc-go's `metadata.ValidatePair`: keys in `[0-9a-z-_.]` (pseudo-headers aside), values of
/// non-binary keys printable ASCII.
fn validate_pair(key: &str, values: &[String]) -> Result<(), String> {
    if key.is_empty() {
        return Err("there is an empty key in the header".to_string());
    }
    if key.starts_with(':') {
        return Ok(());
    }
    let key_ok = key
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_'));
    if !key_ok {
        return Err(format!(
            "header key {} contains illegal characters not in [0-9a-z-_.]",
            crate::base::go::quote(key)
        ));
    }
    if key.ends_with("-bin") {
        return Ok(());
    }
    if values
        .iter()
        .any(|v| v.bytes().any(|b| !(0x20..=0x7e).contains(&b)))
    {
        return Err(format!(
            "header key {} contains value with non-printable ASCII characters",
            crate::base::go::quote(key)
        ));
    }
    Ok(())
}

/// Aborts the HTTP/2 connection driver when the probe is done with it.
struct AbortOnDrop(JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type Sender = hyper::client::conn::http2::SendRequest<tonic::body::Body>;

async fn h2_handshake<I>(io: I) -> Result<(Sender, AbortOnDrop), Status>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .max_header_list_size(MAX_HEADER_LIST)
        .handshake(io)
        .await
        .map_err(|e| {
            Status::unavailable(format!(
                "connection error: desc = \"transport: http2 handshake: {e}\""
            ))
        })?;
    let driver = tokio::spawn(crate::base::task::boxed(async move {
        let _ = conn.await;
    }));
    Ok((sender, AbortOnDrop(driver)))
}

/// hyper's HTTP/2 sender as the tower service tonic's generated client calls. A request the
/// connection could not carry is UNAVAILABLE, as grpc-go reports a broken transport.
struct H2(Sender);

impl tower_service::Service<http::Request<tonic::body::Body>> for H2 {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = Status;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Status>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        self.0.poll_ready(cx).map_err(|e| transport_error(&e))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let sent = self.0.send_request(request);
        Box::pin(async move { sent.await.map_err(|e| transport_error(&e)) })
    }
}

fn transport_error(e: &hyper::Error) -> Status {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    Status::unavailable(format!("connection error: desc = \"transport: {text}\""))
}

/// An OS error as Go's `syscall.Errno` prints it (`connection refused`), other errors as they
/// are.
fn go_errno_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    match (e.raw_os_error(), text.split_once(" (os error")) {
        (Some(_), Some((msg, _))) => {
            let mut chars = msg.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => text,
            }
        }
        _ => text,
    }
}

/// Go's `HealthCheckResponse_ServingStatus.String()`: the enum name, or the number for a
/// value the proto does not define.
fn serving_status_name(status: i32) -> String {
    ServingStatus::try_from(status)
        .map(|s| s.as_str_name().to_string())
        .unwrap_or_else(|_| status.to_string())
}

/// grpc-go's error text: `rpc error: code = Unavailable desc = …`.
fn go_error(status: &Status) -> String {
    format!(
        "rpc error: code = {} desc = {}",
        go_code_name(status.code()),
        status.message()
    )
}

/// grpc-go's `codes.Code.String()`.
fn go_code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_as_upstream() {
        let ok = |t: &str, h: &str, p: &str| {
            assert_eq!(parse_target(t), Ok((h.to_string(), p.to_string())), "{t}");
        };
        ok("127.0.0.1:50051", "127.0.0.1", "50051");
        ok("localhost", "localhost", "");
        ok("http://localhost:8080", "localhost", "8080");
        ok("https://example.com/path?q", "example.com", "");
        ok("[::1]:443", "::1", "443");
        ok("user@host:1", "host", "1");
        ok("host:", "host", "");
        // No port in the host part: Go's SplitHostPort fails and the whole is the host.
        ok("[::1]", "[::1]", "");
        assert!(parse_target("host:abc")
            .unwrap_err()
            .contains("invalid port \":abc\" after host"));
        assert!(parse_target("a\nb")
            .unwrap_err()
            .contains("control character"));
        assert_eq!(target_host_port("h", true), Some(("h".into(), 443)));
        assert_eq!(target_host_port("h", false), Some(("h".into(), 80)));
    }

    /// grpc-go's `metadata.ValidatePair` cases (internal/metadata/metadata_test.go).
    #[test]
    fn metadata_rules_are_grpc_go_rules() {
        let v = |s: &[&str]| s.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert!(validate_pair("key1", &v(&["value1", "value2"])).is_ok());
        assert!(validate_pair("key2-bin", &v(&["\u{1}\u{2}"])).is_ok());
        assert!(validate_pair(":authority", &v(&["x"])).is_ok());
        assert_eq!(
            validate_pair("Authorization", &v(&["Bearer t"])),
            Err(
                "header key \"Authorization\" contains illegal characters not in [0-9a-z-_.]"
                    .into()
            )
        );
        assert_eq!(
            validate_pair("key", &v(&["a\u{1}"])),
            Err("header key \"key\" contains value with non-printable ASCII characters".into())
        );
        assert_eq!(
            validate_pair("", &v(&["a"])),
            Err("there is an empty key in the header".into())
        );
    }

    #[test]
    fn status_names_are_go_names() {
        assert_eq!(serving_status_name(1), "SERVING");
        assert_eq!(serving_status_name(3), "SERVICE_UNKNOWN");
        assert_eq!(serving_status_name(7), "7");
        assert_eq!(
            go_error(&Status::unavailable("x")),
            "rpc error: code = Unavailable desc = x"
        );
    }
}
