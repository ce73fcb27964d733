//! The tcp prober, after blackbox_exporter's `prober/tcp.go` and `prober/query_response.go`:
//! `host:port` → `resolve::choose_protocol` → connect (optionally from `source_ip_address`,
//! optionally TLS from the first byte) → the `query_response` dialogue, each entry in the
//! order expect → expect_bytes → send → starttls.
//!
//! What it reports besides the resolution metrics: `probe_failed_due_to_regex` and
//! `probe_failed_due_to_bytes` (registered once connected), `probe_expect_info{…}` for
//! entries with `labels`, and the TLS certificate metrics (without the cipher) after a TLS
//! dial or a STARTTLS upgrade. The whole exchange is bounded by `cx.deadline`, as upstream
//! sets the probe deadline on the connection. The dialogue (`query_responses`, `handshake`)
//! runs over any stream: the unix prober uses it as upstream's `probeQueryResponses` is
//! shared.
//!
//! Deliberately not copied from upstream: a second `probe_expect_info` in one probe panics
//! there (double registration); here later samples join the family when their label names
//! are the same, and are logged and skipped otherwise.
//!
//! `send` and `expect_bytes` are strings, so a YAML `!!binary` value works when its decoded
//! bytes are UTF-8 (serde-saphyr decodes the base64); other payloads are rejected at load
//! with the file position, where Go would accept any bytes.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};

use regex::bytes::{Captures, Regex};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::module::{QueryStep, TcpModule, TlsSettings};
use super::resolve;
use super::tls::{self, TlsState};
use super::{Desc, ProbeCx, FAILED_DUE_TO_REGEX};
use crate::base::go::split_host_port;

/// Whether an `expect_bytes` entry failed the probe.
pub const FAILED_DUE_TO_BYTES: Desc = Desc::new(
    "probe_failed_due_to_bytes",
    "Indicates if probe failed due to bytes",
);
/// `probe_expect_info{<labels>} 1` for `expect` entries with `labels`.
pub const EXPECT_INFO: Desc = Desc::new("probe_expect_info", "Explicit content matched");

/// Go's `bufio.MaxScanTokenSize`: the longest line `expect` can read.
const MAX_LINE: usize = 64 * 1024;
/// Go's `bufio.Scanner` starts with a 4 KiB buffer.
const INITIAL_READ: usize = 4096;

/// Any byte stream the dialogue can run over: TCP or a unix socket, TLS over either, TLS
/// over that.
pub(super) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The connection a dialogue runs over, whatever the stream.
pub(super) type Conn = Box<dyn Io>;

/// What a `query_response` dialogue needs besides the connection (upstream's
/// `probeQueryResponses` reads the same from the tcp or the unix block).
pub(super) struct Dialogue<'a> {
    pub steps: &'a [QueryStep],
    pub tls_config: &'a TlsSettings,
    /// The server name a `starttls` step verifies: the tcp prober's default, none for unix.
    pub starttls_name: Option<String>,
}

pub async fn probe(target: &str, m: &TcpModule, cx: &mut ProbeCx) -> bool {
    let (host, port) = match split_host_port(target) {
        Ok((h, p)) => (h.to_string(), p.to_string()),
        Err(e) => {
            cx.log.error(
                "Error splitting target address and port",
                &[("err", &e.to_string())],
            );
            return false;
        }
    };
    let Some(conn) = dial(&host, &port, m, cx).await else {
        return false;
    };
    cx.log.info("Successfully dialed", &[]);
    cx.registry.set_gauge(&FAILED_DUE_TO_REGEX, 0.0);
    cx.registry.set_gauge(&FAILED_DUE_TO_BYTES, 0.0);
    let dialogue = Dialogue {
        steps: &m.query_response,
        tls_config: &m.tls_config,
        starttls_name: Some(server_name(&host, m, cx)),
    };
    // The connection is closed when the dialogue drops it.
    query_responses(conn, &dialogue, cx).await
}

/// The port part of a dial address: a number (empty means 0, as in Go). Service names
/// (`host:ssh`) are not looked up.
fn parse_port(port: &str) -> Result<u16, String> {
    if port.is_empty() {
        return Ok(0);
    }
    if port.bytes().all(|b| b.is_ascii_digit()) {
        return port
            .parse::<u16>()
            .map_err(|_| format!("address {port}: invalid port"));
    }
    Err(format!("lookup tcp/{port}: unknown port"))
}

/// Runs `fut` until the probe deadline; an elapsed deadline is an `i/o timeout` error.
/// Once the deadline has passed every call fails at once, as a Go connection with a past
/// deadline does: `timeout_at` alone polls `fut` first, so a peer that always has data
/// ready (endless lines) would keep a line-reading loop going long past the deadline.
pub(super) async fn by_deadline<T>(
    deadline: Instant,
    fut: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    if Instant::now() >= deadline {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "i/o timeout"));
    }
    match tokio::time::timeout_at(deadline, fut).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "i/o timeout")),
    }
}

/// Resolution, connection and (with `tls: true`) the TLS handshake — upstream's `dialTCP`.
async fn dial(host: &str, port: &str, m: &TcpModule, cx: &mut ProbeCx) -> Option<Conn> {
    let ip = match resolve::choose_protocol(host, m.ip, cx).await.ip {
        Ok(ip) => ip,
        Err(e) => {
            cx.log
                .error("Error resolving address", &[("err", &e.to_string())]);
            return None;
        }
    };
    let network = if ip.is_ipv4() { "tcp4" } else { "tcp6" };
    let source = match &m.source_ip_address {
        None => None,
        Some(s) => match s.parse::<IpAddr>() {
            Ok(src) => {
                cx.log.info("Using local address", &[("srcIP", s)]);
                Some(match (ip, src) {
                    // Go treats an IPv4-mapped address as IPv4.
                    (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(src, IpAddr::V4),
                    _ => src,
                })
            }
            Err(_) => {
                cx.log
                    .error("Error parsing source ip address", &[("srcIP", s)]);
                cx.log.error(
                    "Error dialing TCP",
                    &[("err", &format!("error parsing source ip address: {s}"))],
                );
                return None;
            }
        },
    };
    let port_num = match parse_port(port) {
        Ok(p) => p,
        Err(e) => {
            cx.log.error(
                "Error dialing TCP",
                &[("err", &format!("dial {network}: {e}"))],
            );
            return None;
        }
    };
    let addr = SocketAddr::new(ip, port_num);
    if m.tls {
        cx.log.info("Dialing TCP with TLS", &[]);
    } else {
        cx.log.info("Dialing TCP without TLS", &[]);
    }
    let tcp = match by_deadline(cx.deadline, connect(addr, source)).await {
        Ok(s) => s,
        Err(e) => {
            cx.log.error(
                "Error dialing TCP",
                &[("err", &format!("dial {network} {addr}: {e}"))],
            );
            return None;
        }
    };
    if !m.tls {
        return Some(Box::new(tcp));
    }
    let name = server_name(host, m, cx);
    match handshake(Box::new(tcp), &m.tls_config, Some(&name), cx).await {
        Ok(conn) => Some(conn),
        Err(e) => {
            cx.log.error("Error dialing TCP", &[("err", &e)]);
            None
        }
    }
}

/// The TLS server name for a TLS dial or STARTTLS: `tls_config.server_name`, else the
/// `hostname` URL parameter (upstream's handler copies it into an empty server_name), else
/// the target host — so an IP target verifies against IP SANs.
fn server_name(host: &str, m: &TcpModule, cx: &ProbeCx) -> String {
    m.tls_config
        .server_name
        .clone()
        .or_else(|| cx.hostname.clone())
        .unwrap_or_else(|| host.to_string())
}

async fn connect(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(src) = source {
        socket.bind(SocketAddr::new(src, 0))?;
    }
    let stream = socket.connect(addr).await?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// A TLS client handshake over `conn`; on success records the TLS metrics (no cipher, as
/// upstream's tcp and unix probers) and returns the encrypted stream. Without a usable
/// `name` (none for a unix STARTTLS, a socket path for a unix TLS dial) only
/// `insecure_skip_verify` lets the handshake go ahead, without SNI, as Go's does.
pub(super) async fn handshake(
    conn: Conn,
    settings: &TlsSettings,
    name: Option<&str>,
    cx: &mut ProbeCx,
) -> Result<Conn, String> {
    let (config, chain) =
        crate::client::tls::client_config(settings, &[]).map_err(|e| e.to_string())?;
    let (config, server_name) =
        match name.map(|n| ServerName::try_from(n.to_string())) {
            Some(Ok(server_name)) => (config, server_name),
            _ if settings.insecure_skip_verify => {
                let mut unnamed = (*config).clone();
                unnamed.enable_sni = false;
                // Neither sent (SNI off) nor verified (insecure): any name will do.
                let placeholder = ServerName::IpAddress(IpAddr::from([127, 0, 0, 1]).into());
                (std::sync::Arc::new(unnamed), placeholder)
            }
            None => return Err(
                "tls: either ServerName or InsecureSkipVerify must be specified in the tls.Config"
                    .to_string(),
            ),
            Some(Err(e)) => {
                return Err(format!(
                    "invalid TLS server name {:?}: {e} (set tls_config.server_name)",
                    name.unwrap_or_default()
                ))
            }
        };
    let stream = by_deadline(
        cx.deadline,
        TlsConnector::from(config).connect(server_name, conn),
    )
    .await
    .map_err(|e| format!("tls: {}", crate::client::tls::handshake_error(&e)))?;
    let state = TlsState::from_connection(stream.get_ref().1);
    tls::record_metrics(&mut cx.registry, &state, &chain, false);
    Ok(Box::new(stream))
}

/// Go's `bufio.Scanner` with `ScanLines` over the connection: the lines `expect` reads.
/// Bytes it has buffered past the current line are invisible to `expect_bytes` (which
/// reads the socket directly) and are dropped at `starttls`, as upstream.
#[derive(Default)]
struct Lines {
    buf: Vec<u8>,
    /// Set once EOF or an error was seen: no more lines, as a finished Go scanner.
    done: bool,
}

enum Line {
    Text(Vec<u8>),
    Eof,
}

impl Lines {
    async fn next(&mut self, conn: &mut Conn, deadline: Instant) -> io::Result<Line> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Line::Text(line));
            }
            if self.done {
                if self.buf.is_empty() {
                    return Ok(Line::Eof);
                }
                let mut line = std::mem::take(&mut self.buf);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Line::Text(line));
            }
            if self.buf.len() >= MAX_LINE {
                self.done = true;
                return Err(io::Error::other("bufio.Scanner: token too long"));
            }
            let want = (MAX_LINE - self.buf.len()).min(INITIAL_READ.max(self.buf.len()));
            let mut chunk = vec![0u8; want];
            match by_deadline(deadline, conn.read(&mut chunk)).await {
                Ok(0) => self.done = true,
                // A TLS peer closing without close_notify: Go's TLS reader reports a
                // plain EOF at a record boundary, so the line reader does too.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => self.done = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => {
                    self.done = true;
                    return Err(e);
                }
            }
        }
    }
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `query_response` dialogue, entry by entry; false at the first entry that fails.
pub(super) async fn query_responses(mut conn: Conn, d: &Dialogue<'_>, cx: &mut ProbeCx) -> bool {
    let mut lines = Lines::default();
    for (i, step) in d.steps.iter().enumerate() {
        cx.log.debug(
            "Processing query response entry",
            &[("entry_number", &i.to_string())],
        );
        let mut send: Vec<u8> = step.send.clone().unwrap_or_default();
        if let Some(re) = &step.expect {
            let Some(matched) = expect_line(re, &mut lines, &mut conn, cx).await else {
                return false;
            };
            let Some(caps) = re.captures(&matched) else {
                return false;
            };
            send = expand(re, &send, &caps);
            if !step.labels.is_empty() {
                expect_info(step, re, &caps, cx);
            }
        }
        if let Some(want) = step.expect_bytes.as_deref().filter(|b| !b.is_empty()) {
            if !expect_bytes(want, &mut conn, cx).await {
                return false;
            }
        }
        if !send.is_empty() {
            cx.log.debug("Sending line", &[("line", &show(&send))]);
            send.push(b'\n');
            let write = async {
                conn.write_all(&send).await?;
                conn.flush().await
            };
            if let Err(e) = by_deadline(cx.deadline, write).await {
                cx.log.error("Failed to send", &[("err", &e.to_string())]);
                return false;
            }
        }
        if step.starttls {
            match handshake(conn, d.tls_config, d.starttls_name.as_deref(), cx).await {
                Ok(upgraded) => {
                    cx.log.debug("TLS Handshake (client) succeeded.", &[]);
                    conn = upgraded;
                    lines = Lines::default();
                }
                Err(e) => {
                    cx.log
                        .error("TLS Handshake (client) failed", &[("err", &e)]);
                    return false;
                }
            }
        }
    }
    true
}

/// `expect`: reads lines until one matches `re` and returns it; `None` (logged, and
/// `probe_failed_due_to_regex` set at EOF) when none did.
async fn expect_line(
    re: &Regex,
    lines: &mut Lines,
    conn: &mut Conn,
    cx: &mut ProbeCx,
) -> Option<Vec<u8>> {
    loop {
        match lines.next(conn, cx.deadline).await {
            Ok(Line::Text(line)) => {
                cx.log.debug("Read line", &[("line", &show(&line))]);
                if re.is_match(&line) {
                    cx.log.debug(
                        "Regexp matched",
                        &[("regexp", re.as_str()), ("line", &show(&line))],
                    );
                    cx.registry.set_gauge(&FAILED_DUE_TO_REGEX, 0.0);
                    return Some(line);
                }
            }
            Ok(Line::Eof) => {
                cx.registry.set_gauge(&FAILED_DUE_TO_REGEX, 1.0);
                cx.log.error(
                    "Regexp did not match",
                    &[("regexp", re.as_str()), ("line", "")],
                );
                return None;
            }
            Err(e) => {
                cx.log
                    .error("Error reading from connection", &[("err", &e.to_string())]);
                return None;
            }
        }
    }
}

/// `expect_bytes`: one read from the connection (past the line reader's buffer, as
/// upstream), which must return exactly `want`; `probe_failed_due_to_bytes` records a
/// mismatch.
async fn expect_bytes(want: &[u8], conn: &mut Conn, cx: &mut ProbeCx) -> bool {
    let mut data = vec![0u8; want.len()];
    let n = match by_deadline(cx.deadline, conn.read(&mut data)).await {
        Ok(0) => {
            cx.log
                .error("Error reading from connection", &[("err", "EOF")]);
            return false;
        }
        Ok(n) => n,
        Err(e) => {
            cx.log
                .error("Error reading from connection", &[("err", &e.to_string())]);
            return false;
        }
    };
    cx.log
        .debug("Read bytes", &[("bytes", &format!("{data:?}"))]);
    if n < want.len() {
        cx.log.error(
            "Read less data than expected",
            &[
                ("expected", &format!("{want:?}")),
                ("bytes", &format!("{:?}", &data[..n])),
            ],
        );
        return false;
    }
    if data != want {
        cx.registry.set_gauge(&FAILED_DUE_TO_BYTES, 1.0);
        cx.log.error(
            "Bytes did not match",
            &[
                ("expected", &format!("{want:?}")),
                ("bytes", &format!("{data:?}")),
            ],
        );
        return false;
    }
    cx.log.debug("Bytes matched", &[]);
    cx.registry.set_gauge(&FAILED_DUE_TO_BYTES, 0.0);
    true
}

/// `probe_expect_info{<names>} 1` with values expanded from the matched line.
fn expect_info(step: &QueryStep, re: &Regex, caps: &Captures<'_>, cx: &mut ProbeCx) {
    let names: Vec<&str> = step.labels.iter().map(|(n, _)| n.as_str()).collect();
    if let Some(bad) = names
        .iter()
        .find(|n| !crate::base::names::is_user_label_name(n))
    {
        cx.log.error(
            "Invalid label name for probe_expect_info, not recorded",
            &[("label", bad)],
        );
        return;
    }
    let mut sorted = names.clone();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        cx.log.error(
            "Duplicate label name for probe_expect_info, not recorded",
            &[("labels", &names.join(","))],
        );
        return;
    }
    let existing: Option<Vec<String>> = cx
        .registry
        .families()
        .find(|(name, _)| name.as_str() == EXPECT_INFO.name)
        .and_then(|(_, fam)| fam.samples.first())
        .map(|(labels, _)| {
            let mut v: Vec<String> = labels.iter().map(|(k, _)| k.clone()).collect();
            v.sort_unstable();
            v
        });
    if let Some(existing) = existing {
        if existing
            .iter()
            .map(String::as_str)
            .ne(sorted.iter().copied())
        {
            cx.log.error(
                "probe_expect_info already has other label names, not recorded",
                &[
                    ("labels", &names.join(",")),
                    ("existing", &existing.join(",")),
                ],
            );
            return;
        }
    }
    let values: Vec<String> = step
        .labels
        .iter()
        .map(|(_, v)| show(&expand(re, v.as_bytes(), caps)))
        .collect();
    let pairs: Vec<(&str, &str)> = names
        .iter()
        .copied()
        .zip(values.iter().map(String::as_str))
        .collect();
    cx.registry.set_gauge_labeled(&EXPECT_INFO, &pairs, 1.0);
}

pub use crate::base::goregex::expand;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_like_go_dial() {
        assert_eq!(parse_port("22"), Ok(22));
        assert_eq!(parse_port(""), Ok(0));
        assert!(parse_port("70000").is_err());
        assert!(parse_port("ssh").is_err());
    }

    fn expand_str(re: &str, template: &str, line: &str) -> String {
        let re = Regex::new(re).unwrap();
        let caps = re.captures(line.as_bytes()).unwrap();
        String::from_utf8(expand(&re, template.as_bytes(), &caps)).unwrap()
    }

    #[test]
    fn expand_follows_go_semantics() {
        let re = r"^SSH-2.0-([^ -]+)(?: (.*))?$";
        let line = "SSH-2.0-OpenSSH_9.2 Debian";
        assert_eq!(expand_str(re, "${1}", line), "OpenSSH_9.2");
        assert_eq!(expand_str(re, "$1 and $2", line), "OpenSSH_9.2 and Debian");
        assert_eq!(
            expand_str(re, "$1x", line),
            "",
            "Go reads $1x as the group named 1x"
        );
        assert_eq!(expand_str(re, "${1}x", line), "OpenSSH_9.2x");
        assert_eq!(expand_str(re, "$$1 $", line), "$1 $");
        assert_eq!(expand_str(re, "${1", line), "${1");
        assert_eq!(expand_str(re, "$9|$01|${x}", line), "||");
        assert_eq!(
            expand_str("^SSH-2.0-([^ -]+)(?: (.*))?$", "[$2]", "SSH-2.0-x"),
            "[]"
        );
        assert_eq!(
            expand_str(r"(?P<who>\w+) (?P<n>\d+)", "${n}:$who", "bob 42"),
            "42:bob"
        );
        assert_eq!(expand_str("(a)", "no vars", "a"), "no vars");
    }

    #[test]
    fn label_names() {
        assert!(crate::base::names::is_user_label_name("ssh_version"));
        assert!(crate::base::names::is_user_label_name("_x1"));
        assert!(!crate::base::names::is_user_label_name("1x"));
        assert!(!crate::base::names::is_user_label_name("a-b"));
        assert!(!crate::base::names::is_user_label_name("__reserved"));
        assert!(!crate::base::names::is_user_label_name(""));
    }
}
