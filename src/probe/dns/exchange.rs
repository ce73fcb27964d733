//! Sending the query and reading the answer: the query message built as miekg's
//! `SetQuestion` does (one question, no EDNS), then one exchange over UDP (one datagram,
//! 512-byte answers), TCP (2-byte length prefix) or DNS-over-TLS, bounded by the probe
//! deadline. It measures miekg's `rtt`; it writes no metrics and no log (the probe does).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hickory_resolver::proto::op::{Message, Query};
use hickory_resolver::proto::rr::{DNSClass, Name, RecordType};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::message::{parse_response, Response};

/// miekg's `MinMsgSize`: the UDP read buffer when the query carries no EDNS record.
const UDP_BUFFER: usize = 512;

/// Where and how the query goes.
pub(super) struct Dial {
    pub(super) server: SocketAddr,
    /// `source_ip_address`, when set.
    pub(super) source: Option<IpAddr>,
    /// TCP (with a length prefix) rather than UDP.
    pub(super) tcp: bool,
    /// DNS-over-TLS: the connector and the server name to verify (TCP only).
    pub(super) tls: Option<(TlsConnector, ServerName<'static>)>,
    /// Go's network name, for messages: `udp4`, `tcp6-tls`, ….
    pub(super) protocol: String,
}

/// One exchange's outcome and phases, in seconds: `request` is miekg's `rtt` (from writing
/// the query to the answer), `connect` the rest (dial and TLS).
pub(super) struct Exchanged {
    pub(super) result: Result<Response, String>,
    pub(super) connect: f64,
    pub(super) request: f64,
}

/// Sends `query` as `dial` says and reads the answer with the same id, until `deadline`.
pub(super) async fn exchange(dial: Dial, query: &[u8], deadline: Instant) -> Exchanged {
    let Dial {
        server,
        source,
        tcp,
        tls,
        protocol,
    } = dial;
    let start = Instant::now();
    let mut timing = Timing::default();
    let exchange = async {
        if tcp {
            exchange_tcp(server, source, tls, query, &mut timing).await
        } else {
            exchange_udp(server, source, query, &mut timing).await
        }
    };
    let result = match tokio::time::timeout_at(deadline, exchange).await {
        Ok(r) => r,
        Err(_) => Err(format!("read {protocol} {server}: i/o timeout")),
    };
    let end = Instant::now();
    let rtt = timing
        .rtt_start
        .map(|t| end.saturating_duration_since(t).as_secs_f64())
        .unwrap_or(0.0);
    let total = end.saturating_duration_since(start).as_secs_f64();
    Exchanged {
        result,
        connect: (total - rtt).max(0.0),
        request: rtt,
    }
}

/// The query message: one question, random id, RD as configured, no EDNS.
pub(super) fn build_query(
    name: &str,
    qtype: u16,
    qclass: u16,
    rd: bool,
) -> Result<Vec<u8>, String> {
    let labels = presentation_labels(name)?;
    let name = Name::from_labels(labels).map_err(|e| format!("dns: bad query name: {e}"))?;
    let mut query = Query::query(name, RecordType::from(qtype));
    query.set_query_class(DNSClass::from(qclass));
    let mut msg = Message::query();
    msg.metadata.recursion_desired = rd;
    msg.add_query(query);
    msg.to_vec()
        .map_err(|e| format!("dns: packing the query: {e}"))
}

/// Splits a presentation-format name (`dns.Fqdn` of it, really) into raw labels, decoding
/// `\X` and `\DDD` escapes as miekg's packer does. `""` and `"."` are the root.
fn presentation_labels(name: &str) -> Result<Vec<Vec<u8>>, String> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes == b"." {
        return Ok(Vec::new());
    }
    let mut labels = Vec::new();
    let mut label = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                let digits = bytes.get(i + 1..i + 4);
                match digits {
                    Some(d) if d.iter().all(u8::is_ascii_digit) => {
                        let v = d.iter().fold(0u32, |acc, c| acc * 10 + u32::from(c - b'0'));
                        let v = u8::try_from(v)
                            .map_err(|_| format!("dns: bad escape in query name {name:?}"))?;
                        label.push(v);
                        i += 4;
                    }
                    _ => {
                        let c = *bytes
                            .get(i + 1)
                            .ok_or_else(|| format!("dns: bad escape in query name {name:?}"))?;
                        label.push(c);
                        i += 2;
                    }
                }
            }
            b'.' => {
                if label.is_empty() {
                    return Err(format!("dns: bad rdata: empty label in {name:?}"));
                }
                labels.push(std::mem::take(&mut label));
                i += 1;
            }
            c => {
                label.push(c);
                i += 1;
            }
        }
    }
    if !label.is_empty() {
        labels.push(label);
    }
    Ok(labels)
}

#[derive(Default)]
struct Timing {
    /// When the query was about to be written (after the dial): miekg's rtt starts here.
    rtt_start: Option<Instant>,
}

fn io_err(op: &str, e: &io::Error) -> String {
    format!("{op}: {e}")
}

fn query_id(query: &[u8]) -> u16 {
    u16::from_be_bytes([query[0], query[1]])
}

async fn exchange_udp(
    server: SocketAddr,
    source: Option<IpAddr>,
    query: &[u8],
    timing: &mut Timing,
) -> Result<Response, String> {
    let local = match (source, server) {
        (Some(ip), _) => SocketAddr::new(ip, 0),
        (None, SocketAddr::V4(_)) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        (None, SocketAddr::V6(_)) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| io_err(&format!("dial udp {server}"), &e))?;
    socket
        .connect(server)
        .await
        .map_err(|e| io_err(&format!("dial udp {server}"), &e))?;
    timing.rtt_start = Some(Instant::now());
    if let Err(e) = socket.send(query).await {
        timing.rtt_start = None;
        return Err(io_err(&format!("write udp {server}"), &e));
    }
    let id = query_id(query);
    let mut buf = [0u8; UDP_BUFFER];
    loop {
        let n = socket
            .recv(&mut buf)
            .await
            .map_err(|e| io_err(&format!("read udp {server}"), &e))?;
        let response = parse_response(&buf[..n])?;
        // Like miekg, a reply with another id (a late answer to an earlier query) is skipped.
        if response.id == id {
            return Ok(response);
        }
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

async fn exchange_tcp(
    server: SocketAddr,
    source: Option<IpAddr>,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    query: &[u8],
    timing: &mut Timing,
) -> Result<Response, String> {
    let tcp = match source {
        None => TcpStream::connect(server).await,
        Some(ip) => {
            async {
                let socket = if server.is_ipv4() {
                    TcpSocket::new_v4()?
                } else {
                    TcpSocket::new_v6()?
                };
                socket.bind(SocketAddr::new(ip, 0))?;
                socket.connect(server).await
            }
            .await
        }
    }
    .map_err(|e| io_err(&format!("dial tcp {server}"), &e))?;
    let mut stream: Box<dyn Stream> = match tls {
        None => Box::new(tcp),
        Some((connector, name)) => Box::new(
            connector
                .connect(name, tcp)
                .await
                .map_err(|e| io_err(&format!("dial tcp-tls {server}"), &e))?,
        ),
    };
    timing.rtt_start = Some(Instant::now());
    let len = u16::try_from(query.len()).map_err(|_| "dns: message too large".to_string())?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(query);
    if let Err(e) = async {
        stream.write_all(&framed).await?;
        stream.flush().await
    }
    .await
    {
        timing.rtt_start = None;
        return Err(io_err(&format!("write tcp {server}"), &e));
    }
    let id = query_id(query);
    loop {
        let mut len = [0u8; 2];
        stream
            .read_exact(&mut len)
            .await
            .map_err(|e| io_err(&format!("read tcp {server}"), &e))?;
        let len = usize::from(u16::from_be_bytes(len));
        if len < 12 {
            return Err("dns: short read".to_string());
        }
        let mut buf = vec![0u8; len];
        stream
            .read_exact(&mut buf)
            .await
            .map_err(|e| io_err(&format!("read tcp {server}"), &e))?;
        let response = parse_response(&buf)?;
        if response.id == id {
            return Ok(response);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_one_question_without_edns() {
        let q = build_query("example.com", 16, 3, false).expect("builds");
        // id(2) flags(2) qd=1 an=0 ns=0 ar=0.
        assert_eq!(&q[2..12], &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&q[12..], b"\x07example\x03com\x00\x00\x10\x00\x03");
        let q = build_query("", 255, 1, true).expect("builds");
        assert_eq!(&q[2..4], &[0x01, 0x00], "RD set");
        assert_eq!(&q[12..], b"\x00\x00\xff\x00\x01");
        let q = build_query("a\\.b.example.", 1, 1, true).expect("builds");
        assert_eq!(&q[12..], b"\x03a.b\x07example\x00\x00\x01\x00\x01");
        assert!(build_query("a..b", 1, 1, true).is_err());
    }
}
