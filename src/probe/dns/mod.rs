//! The dns prober, after blackbox_exporter's `prober/dns.go`: the target *is* the DNS server
//! (`host[:port]`, port 53 or 853 with DNS-over-TLS). The host goes through
//! `resolve::choose_protocol`; one query `{FQDN(query_name), query_type, query_class}` with a
//! random id, RD = `recursion_desired` and no EDNS record is sent over UDP (one datagram,
//! 512-byte answers, a truncated answer taken as-is), TCP (2-byte length prefix) or TLS over
//! TCP. The answer is then checked: rcode against `valid_rcodes`, then the answer, authority
//! and additional sections against their regex validators.
//!
//! The validators see each record as miekg/dns `RR.String()` prints it
//! (`name.\tTTL\tCLASS\tTYPE\tRDATA`), because users write regexes against that text. So the
//! answer is parsed here from the wire rather than through hickory's typed records, and
//! [`render`] reproduces miekg's presentation of every common type; the types it does not
//! know are printed in the RFC 3597 `\# len hex` form, as miekg does for types it lacks.
//! Known gaps (printed as RFC 3597 here, in their own syntax by miekg): LOC, CERT, SVCB,
//! HTTPS, IPSECKEY, HIP, APL, ZONEMD, CSYNC, TKEY, TSIG, GPOS, ISDN, NSAP-PTR, NID, L32, L64,
//! LP, TALINK, NINFO, RKEY, UINFO, UID, GID, AMTRELAY; a typed record with empty rdata
//! prints its header only (miekg prints the type's zero value). The conformance suite
//! checks the rendered lines against blackbox_exporter record by record.
//!
//! Metrics: `probe_dns_duration_seconds{phase}` (resolve, connect, request — always present),
//! `probe_dns_answer_rrs`, `probe_dns_authority_rrs`, `probe_dns_additional_rrs`,
//! `probe_dns_query_succeeded`, and `probe_dns_serial` for SOA queries. No TLS metrics for
//! DNS-over-TLS, as upstream.

use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hickory_resolver::proto::op::{Message, Query};
use hickory_resolver::proto::rr::{DNSClass, Name, RecordType};
use regex::bytes::Regex;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::module::{DnsModule, RrValidator};
use super::resolve;
use super::{Desc, ProbeCx};

/// `probe_dns_duration_seconds{phase}`: resolve, connect, request.
pub const DURATION_SECONDS: Desc = Desc::new(
    "probe_dns_duration_seconds",
    "Duration of DNS request by phase",
);
pub const ANSWER_RRS: Desc = Desc::new(
    "probe_dns_answer_rrs",
    "Returns number of entries in the answer resource record list",
);
pub const AUTHORITY_RRS: Desc = Desc::new(
    "probe_dns_authority_rrs",
    "Returns number of entries in the authority resource record list",
);
pub const ADDITIONAL_RRS: Desc = Desc::new(
    "probe_dns_additional_rrs",
    "Returns number of entries in the additional resource record list",
);
pub const QUERY_SUCCEEDED: Desc = Desc::new(
    "probe_dns_query_succeeded",
    "Displays whether or not the query was executed successfully",
);
/// The serial of the last SOA in the answer, for SOA queries.
pub const SERIAL: Desc = Desc::new("probe_dns_serial", "Returns the serial number of the zone");

/// miekg's `MinMsgSize`: the UDP read buffer when the query carries no EDNS record.
const UDP_BUFFER: usize = 512;

const TYPE_SOA: u16 = 6;
const TYPE_OPT: u16 = 41;

/// miekg/dns `TypeToString`: every type name `query_type` accepts, and the mnemonic printed
/// for a record of that type.
pub const TYPES: &[(&str, u16)] = &[
    ("None", 0),
    ("A", 1),
    ("NS", 2),
    ("MD", 3),
    ("MF", 4),
    ("CNAME", 5),
    ("SOA", 6),
    ("MB", 7),
    ("MG", 8),
    ("MR", 9),
    ("NULL", 10),
    ("PTR", 12),
    ("HINFO", 13),
    ("MINFO", 14),
    ("MX", 15),
    ("TXT", 16),
    ("RP", 17),
    ("AFSDB", 18),
    ("X25", 19),
    ("ISDN", 20),
    ("RT", 21),
    ("NSAP-PTR", 23),
    ("SIG", 24),
    ("KEY", 25),
    ("PX", 26),
    ("GPOS", 27),
    ("AAAA", 28),
    ("LOC", 29),
    ("NXT", 30),
    ("EID", 31),
    ("NIMLOC", 32),
    ("SRV", 33),
    ("ATMA", 34),
    ("NAPTR", 35),
    ("KX", 36),
    ("CERT", 37),
    ("DNAME", 39),
    ("OPT", 41),
    ("APL", 42),
    ("DS", 43),
    ("SSHFP", 44),
    ("IPSECKEY", 45),
    ("RRSIG", 46),
    ("NSEC", 47),
    ("DNSKEY", 48),
    ("DHCID", 49),
    ("NSEC3", 50),
    ("NSEC3PARAM", 51),
    ("TLSA", 52),
    ("SMIMEA", 53),
    ("HIP", 55),
    ("NINFO", 56),
    ("RKEY", 57),
    ("TALINK", 58),
    ("CDS", 59),
    ("CDNSKEY", 60),
    ("OPENPGPKEY", 61),
    ("CSYNC", 62),
    ("ZONEMD", 63),
    ("SVCB", 64),
    ("HTTPS", 65),
    ("SPF", 99),
    ("UINFO", 100),
    ("UID", 101),
    ("GID", 102),
    ("UNSPEC", 103),
    ("NID", 104),
    ("L32", 105),
    ("L64", 106),
    ("LP", 107),
    ("EUI48", 108),
    ("EUI64", 109),
    ("URI", 256),
    ("CAA", 257),
    ("AVC", 258),
    ("AMTRELAY", 260),
    ("TKEY", 249),
    ("TSIG", 250),
    ("IXFR", 251),
    ("AXFR", 252),
    ("MAILB", 253),
    ("MAILA", 254),
    ("ANY", 255),
    ("TA", 32768),
    ("DLV", 32769),
    ("Reserved", 65535),
];

/// miekg/dns `ClassToString`.
pub const CLASSES: &[(&str, u16)] = &[
    ("IN", 1),
    ("CS", 2),
    ("CH", 3),
    ("HS", 4),
    ("NONE", 254),
    ("ANY", 255),
];

/// miekg/dns `StringToRcode`.
pub const RCODES: &[(&str, u16)] = &[
    ("NOERROR", 0),
    ("FORMERR", 1),
    ("SERVFAIL", 2),
    ("NXDOMAIN", 3),
    ("NOTIMP", 4),
    ("REFUSED", 5),
    ("YXDOMAIN", 6),
    ("YXRRSET", 7),
    ("NXRRSET", 8),
    ("NOTAUTH", 9),
    ("NOTZONE", 10),
    ("BADSIG", 16),
    ("BADVERS", 16),
    ("BADKEY", 17),
    ("BADTIME", 18),
    ("BADMODE", 19),
    ("BADNAME", 20),
    ("BADALG", 21),
    ("BADTRUNC", 22),
    ("BADCOOKIE", 23),
];

/// The type code of a miekg type name (`query_type`), case-sensitive as upstream.
pub fn type_code(name: &str) -> Option<u16> {
    TYPES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// The class code of a miekg class name (`query_class`).
pub fn class_code(name: &str) -> Option<u16> {
    CLASSES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// The rcode of a miekg rcode name (`valid_rcodes`).
pub fn rcode_code(name: &str) -> Option<u16> {
    RCODES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

fn rcode_name(code: u16) -> String {
    match RCODES.iter().find(|(_, c)| *c == code) {
        Some((n, _)) => (*n).to_string(),
        None => code.to_string(),
    }
}

pub async fn probe(target: &str, m: &DnsModule, cx: &mut ProbeCx) -> bool {
    for phase in ["resolve", "connect", "request"] {
        cx.registry
            .set_gauge_labeled(&DURATION_SECONDS, &[("phase", phase)], 0.0);
    }
    for desc in [
        &ANSWER_RRS,
        &AUTHORITY_RRS,
        &ADDITIONAL_RRS,
        &QUERY_SUCCEEDED,
    ] {
        cx.registry.set_gauge(desc, 0.0);
    }

    let Some(qclass) = class_code(&m.query_class) else {
        cx.log
            .error("Invalid query class", &[("Class seen", &m.query_class)]);
        return false;
    };
    let Some(qtype) = type_code(&m.query_type) else {
        cx.log
            .error("Invalid query type", &[("Type seen", &m.query_type)]);
        return false;
    };
    let tcp = match m.transport_protocol.as_str() {
        "" | "udp" => false,
        "tcp" => true,
        other => {
            cx.log.error(
                "Configuration error: Expected transport protocol udp or tcp",
                &[("protocol", other)],
            );
            return false;
        }
    };

    let (host, port) = match split_host_port(target) {
        Some((h, p)) => (h, p),
        None => (
            target.to_string(),
            if m.dns_over_tls { "853" } else { "53" }.to_string(),
        ),
    };
    let resolved = resolve::choose_protocol(&host, m.ip, cx).await;
    let ip = match resolved.ip {
        Ok(ip) => ip,
        Err(e) => {
            cx.log
                .error("Error resolving address", &[("err", &e.to_string())]);
            return false;
        }
    };
    cx.registry.add_gauge_labeled(
        &DURATION_SECONDS,
        &[("phase", "resolve")],
        resolved.lookup_time.as_secs_f64(),
    );

    let transport = if tcp { "tcp" } else { "udp" };
    let mut dial_protocol = format!("{transport}{}", if ip.is_ipv4() { "4" } else { "6" });
    let mut tls = None;
    if m.dns_over_tls {
        if !tcp {
            cx.log.error(
                "Configuration error: Expected transport protocol tcp for DoT",
                &[("protocol", transport)],
            );
            return false;
        }
        dial_protocol.push_str("-tls");
        let config = match crate::client::tls::client_config(&m.tls_config, &[]) {
            Ok((config, _chain)) => config,
            Err(e) => {
                cx.log.error(
                    "Failed to create TLS configuration",
                    &[("err", &e.to_string())],
                );
                return false;
            }
        };
        let name = m
            .tls_config
            .server_name
            .clone()
            .unwrap_or_else(|| host.clone());
        let server_name = match ServerName::try_from(name.clone()) {
            Ok(n) => n,
            Err(e) => {
                cx.log.error(
                    "Failed to create TLS configuration",
                    &[("server_name", &name), ("err", &e.to_string())],
                );
                return false;
            }
        };
        tls = Some((TlsConnector::from(config), server_name));
    }
    let source = match &m.source_ip_address {
        None => None,
        Some(s) => match s.parse::<IpAddr>() {
            Ok(ip) => {
                cx.log.info("Using local address", &[("srcIP", s)]);
                Some(ip)
            }
            Err(_) => {
                cx.log
                    .error("Error parsing source ip address", &[("srcIP", s)]);
                return false;
            }
        },
    };

    let port: u16 = match port.as_str() {
        "" => 0,
        p => match p.parse() {
            Ok(p) => p,
            Err(_) => {
                cx.log.error(
                    "Error while sending a DNS query",
                    &[("err", &format!("dial {dial_protocol}: unknown port {p}"))],
                );
                return false;
            }
        },
    };
    let server = SocketAddr::new(ip, port);

    let query = match build_query(&m.query_name, qtype, qclass, m.recursion_desired) {
        Ok(q) => q,
        Err(e) => {
            cx.log
                .error("Error while sending a DNS query", &[("err", &e)]);
            return false;
        }
    };
    cx.log.info(
        "Making DNS query",
        &[
            ("target", &server.to_string()),
            ("dial_protocol", &dial_protocol),
            ("query", &m.query_name),
            ("type", &qtype.to_string()),
            ("class", &qclass.to_string()),
        ],
    );

    let start = Instant::now();
    let mut timing = Timing::default();
    let exchange = async {
        if tcp {
            exchange_tcp(server, source, tls, &query, &mut timing).await
        } else {
            exchange_udp(server, source, &query, &mut timing).await
        }
    };
    let result = match tokio::time::timeout_at(cx.deadline, exchange).await {
        Ok(r) => r,
        Err(_) => Err(format!("read {dial_protocol} {server}: i/o timeout")),
    };
    let end = Instant::now();
    let rtt = timing
        .rtt_start
        .map(|t| end.saturating_duration_since(t).as_secs_f64())
        .unwrap_or(0.0);
    let total = end.saturating_duration_since(start).as_secs_f64();
    cx.registry.set_gauge_labeled(
        &DURATION_SECONDS,
        &[("phase", "connect")],
        (total - rtt).max(0.0),
    );
    cx.registry
        .set_gauge_labeled(&DURATION_SECONDS, &[("phase", "request")], rtt);
    let response = match result {
        Ok(r) => r,
        Err(e) => {
            cx.log
                .error("Error while sending a DNS query", &[("err", &e)]);
            return false;
        }
    };
    cx.log
        .info("Got response", &[("response", &response.summary())]);

    cx.registry
        .set_gauge(&ANSWER_RRS, response.answer.len() as f64);
    cx.registry
        .set_gauge(&AUTHORITY_RRS, response.authority.len() as f64);
    cx.registry
        .set_gauge(&ADDITIONAL_RRS, response.additional.len() as f64);
    cx.registry.set_gauge(&QUERY_SUCCEEDED, 1.0);
    if qtype == TYPE_SOA {
        let serial = response
            .answer
            .iter()
            .filter_map(|rr| rr.soa_serial)
            .next_back()
            .unwrap_or(0);
        cx.registry.set_gauge(&SERIAL, f64::from(serial));
    }

    if !valid_rcode(response.rcode, m.valid_rcodes.as_deref(), cx) {
        return false;
    }
    cx.log.info("Validating Answer RRs", &[]);
    if !valid_rrs(&response.answer, &m.validate_answer_rrs, cx) {
        cx.log.error("Answer RRs validation failed", &[]);
        return false;
    }
    cx.log.info("Validating Authority RRs", &[]);
    if !valid_rrs(&response.authority, &m.validate_authority_rrs, cx) {
        cx.log.error("Authority RRs validation failed", &[]);
        return false;
    }
    cx.log.info("Validating Additional RRs", &[]);
    if !valid_rrs(&response.additional, &m.validate_additional_rrs, cx) {
        cx.log.error("Additional RRs validation failed", &[]);
        return false;
    }
    true
}

/// Go's `net.SplitHostPort`: `None` when the target has no port (or is malformed), in which
/// case upstream uses the whole target as the host and the default port.
fn split_host_port(target: &str) -> Option<(String, String)> {
    let (host, port) = crate::base::go::split_host_port(target).ok()?;
    Some((host.to_string(), port.to_string()))
}

/// The query message: one question, random id, RD as configured, no EDNS.
fn build_query(name: &str, qtype: u16, qclass: u16, rd: bool) -> Result<Vec<u8>, String> {
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

/// `validRcode`: `None` means `[NOERROR]`; an unknown name fails the probe.
fn valid_rcode(rcode: u16, valid: Option<&[String]>, cx: &mut ProbeCx) -> bool {
    let codes: Vec<u16> = match valid {
        None => vec![0],
        Some(names) => {
            let mut codes = Vec::new();
            for name in names {
                match rcode_code(name) {
                    Some(c) => codes.push(c),
                    None => {
                        cx.log.error("Invalid rcode", &[("rcode", name)]);
                        return false;
                    }
                }
            }
            codes
        }
    };
    let name = rcode_name(rcode);
    if codes.contains(&rcode) {
        cx.log.info(
            "Rcode is valid",
            &[("rcode", &rcode.to_string()), ("string_rcode", &name)],
        );
        true
    } else {
        let valid: Vec<String> = codes.iter().map(u16::to_string).collect();
        cx.log.error(
            "Rcode is not one of the valid rcodes",
            &[
                ("rcode", &rcode.to_string()),
                ("string_rcode", &name),
                ("valid_rcodes", &format!("[{}]", valid.join(" "))),
            ],
        );
        false
    }
}

fn matches(re: &Regex, rr: &Rr) -> bool {
    re.is_match(rr.text.as_bytes())
}

/// `validRRs`, with upstream's real semantics (see the reference, §4.5).
fn valid_rrs(rrs: &[Rr], v: &RrValidator, cx: &mut ProbeCx) -> bool {
    if rrs.is_empty() && !v.fail_if_not_matches_regexp.is_empty() {
        cx.log.error(
            "fail_if_not_matches_regexp specified but no RRs returned",
            &[],
        );
        return false;
    }
    if rrs.is_empty() && !v.fail_if_none_matches_regexp.is_empty() {
        cx.log.error(
            "fail_if_none_matches_regexp specified but no RRs returned",
            &[],
        );
        return false;
    }
    let mut any_match = false;
    let mut all_match = true;
    for rr in rrs {
        cx.log.info("Validating RR", &[("rr", &rr.text)]);
        for re in &v.fail_if_matches_regexp {
            if matches(re, rr) {
                cx.log.error(
                    "At least one RR matched regexp",
                    &[("regexp", re.as_str()), ("rr", &rr.text)],
                );
                return false;
            }
        }
        for re in &v.fail_if_all_match_regexp {
            if !matches(re, rr) {
                all_match = false;
            }
        }
        for re in &v.fail_if_not_matches_regexp {
            if !matches(re, rr) {
                cx.log.error(
                    "At least one RR did not match regexp",
                    &[("regexp", re.as_str()), ("rr", &rr.text)],
                );
                return false;
            }
        }
        for re in &v.fail_if_none_matches_regexp {
            if matches(re, rr) {
                any_match = true;
            }
        }
    }
    if !v.fail_if_all_match_regexp.is_empty() && !all_match {
        cx.log.error("Not all RRs matched regexp", &[]);
        return false;
    }
    if !v.fail_if_none_matches_regexp.is_empty() && !any_match {
        cx.log.error("None of the RRs did matched any regexp", &[]);
        return false;
    }
    true
}

// ---------------------------------------------------------------------------------------------
// The answer, parsed from the wire as miekg/dns unpacks it.

/// One resource record: its miekg `String()` text, plus the SOA serial when it is an SOA.
#[derive(Clone, Debug, PartialEq)]
pub struct Rr {
    pub text: String,
    pub soa_serial: Option<u32>,
}

/// What the prober needs from an answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    pub id: u16,
    /// The header rcode, extended by the OPT record's upper bits when present (as miekg).
    pub rcode: u16,
    pub answer: Vec<Rr>,
    pub authority: Vec<Rr>,
    pub additional: Vec<Rr>,
}

impl Response {
    fn summary(&self) -> String {
        let mut s = format!(
            "id={} rcode={} answer={} authority={} additional={}",
            self.id,
            rcode_name(self.rcode),
            self.answer.len(),
            self.authority.len(),
            self.additional.len()
        );
        for rr in self
            .answer
            .iter()
            .chain(&self.authority)
            .chain(&self.additional)
        {
            s.push('\n');
            s.push_str(&rr.text);
        }
        s
    }
}

fn be16(msg: &[u8], off: usize) -> Result<u16, String> {
    msg.get(off..off + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| "dns: overflow unpacking uint16".to_string())
}

fn be32(msg: &[u8], off: usize) -> Result<u32, String> {
    msg.get(off..off + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| "dns: overflow unpacking uint32".to_string())
}

/// Parses a whole DNS message (miekg `Msg.Unpack`): any malformed record is an error.
pub fn parse_response(msg: &[u8]) -> Result<Response, String> {
    if msg.len() < 12 {
        return Err("dns: short read".to_string());
    }
    let id = be16(msg, 0)?;
    let flags = be16(msg, 2)?;
    let counts = [be16(msg, 4)?, be16(msg, 6)?, be16(msg, 8)?, be16(msg, 10)?];
    let mut rcode = flags & 0xF;
    let mut off = 12;
    let mut sections: [Vec<Rr>; 3] = Default::default();
    // A bare header (what some servers send with REFUSED) is a valid, empty answer.
    if off < msg.len() {
        for _ in 0..counts[0] {
            let (_, next) = unpack_name(msg, off)?;
            off = next + 4;
            if off > msg.len() {
                return Err("dns: overflow unpacking question".to_string());
            }
        }
        let mut ext_rcode = None;
        for (i, (section, count)) in sections.iter_mut().zip(&counts[1..]).enumerate() {
            for _ in 0..*count {
                let (rr, next, ext) = unpack_rr(msg, off)?;
                // miekg's `IsEdns0` takes the last OPT of the additional section.
                if i == 2 && ext.is_some() {
                    ext_rcode = ext;
                }
                section.push(rr);
                off = next;
            }
        }
        rcode |= ext_rcode.unwrap_or(0);
    }
    let [answer, authority, additional] = sections;
    Ok(Response {
        id,
        rcode,
        answer,
        authority,
        additional,
    })
}

/// `isDomainNameLabelSpecial`: bytes miekg escapes with a backslash in names.
fn name_special(b: u8) -> bool {
    matches!(
        b,
        b'.' | b' ' | b'\'' | b'@' | b';' | b'(' | b')' | b'"' | b'\\'
    )
}

fn escape_byte(out: &mut String, b: u8) {
    let _ = write!(out, "\\{b:03}");
}

/// Unpacks a (possibly compressed) name at `off` into miekg's escaped presentation form;
/// returns it and the offset after the name in the original position.
fn unpack_name(msg: &[u8], mut off: usize) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut end = None;
    let mut pointers = 0;
    let mut budget: isize = 255;
    loop {
        let c = *msg
            .get(off)
            .ok_or_else(|| "dns: buffer size too small".to_string())?;
        off += 1;
        match c & 0xC0 {
            0x00 => {
                if c == 0 {
                    break;
                }
                let len = usize::from(c);
                budget -= len as isize + 1;
                if budget < 0 {
                    return Err("dns: domain name exceeded 255 wire-format octets".to_string());
                }
                let label = msg
                    .get(off..off + len)
                    .ok_or_else(|| "dns: buffer size too small".to_string())?;
                for &b in label {
                    if name_special(b) {
                        out.push('\\');
                        out.push(char::from(b));
                    } else if !(b' '..=b'~').contains(&b) {
                        escape_byte(&mut out, b);
                    } else {
                        out.push(char::from(b));
                    }
                }
                out.push('.');
                off += len;
            }
            0xC0 => {
                let low = *msg
                    .get(off)
                    .ok_or_else(|| "dns: buffer size too small".to_string())?;
                off += 1;
                if end.is_none() {
                    end = Some(off);
                }
                pointers += 1;
                if pointers > 126 {
                    return Err("dns: too many compression pointers".to_string());
                }
                off = (usize::from(c & 0x3F) << 8) | usize::from(low);
            }
            _ => return Err("dns: bad rdata".to_string()),
        }
    }
    if out.is_empty() {
        out.push('.');
    }
    Ok((out, end.unwrap_or(off)))
}

/// miekg `Type(t).String()`.
fn type_name(t: u16) -> String {
    match TYPES.iter().find(|(_, c)| *c == t) {
        Some((n, _)) => (*n).to_string(),
        None => format!("TYPE{t}"),
    }
}

/// miekg `Class(c).String()`: a mnemonic only when it is not also a type name (so 255 is
/// `CLASS255`, not `ANY`).
fn class_name(c: u16) -> String {
    match CLASSES.iter().find(|(_, code)| *code == c) {
        Some((n, _)) if type_code(n).is_none() => (*n).to_string(),
        _ => format!("CLASS{c}"),
    }
}

/// Unpacks one record; returns it, the next offset and (for OPT) the extended rcode bits.
fn unpack_rr(msg: &[u8], off: usize) -> Result<(Rr, usize, Option<u16>), String> {
    let (name, off) = unpack_name(msg, off)?;
    let rtype = be16(msg, off)?;
    let class = be16(msg, off + 2)?;
    let ttl = be32(msg, off + 4)?;
    let rdlen = usize::from(be16(msg, off + 8)?);
    let start = off + 10;
    let end = start + rdlen;
    if end > msg.len() {
        return Err("dns: bad rdlength".to_string());
    }
    let header = RrHeader {
        name,
        rtype,
        class,
        ttl,
    };
    let (text, soa_serial) = render(msg, start, end, &header)?;
    let ext = (rtype == TYPE_OPT).then_some(((ttl >> 24) as u16) << 4);
    Ok((Rr { text, soa_serial }, end, ext))
}

/// The fixed part of a record, with the owner name already in presentation form.
pub struct RrHeader {
    pub name: String,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
}

impl RrHeader {
    /// miekg `RR_Header.String()`: `name\tttl\tclass\ttype\t`.
    fn string(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t",
            self.name,
            self.ttl,
            class_name(self.class),
            type_name(self.rtype)
        )
    }

    /// miekg `rfc3597Header`: class and type always numeric.
    fn rfc3597(&self) -> String {
        format!(
            "{}\t{}\tCLASS{}\tTYPE{}\t",
            self.name, self.ttl, self.class, self.rtype
        )
    }
}

/// Reads rdata fields in order, failing like miekg when a field overruns the rdata.
struct Rdata<'a> {
    msg: &'a [u8],
    off: usize,
    end: usize,
}

impl Rdata<'_> {
    fn u8(&mut self) -> Result<u8, String> {
        if self.off + 1 > self.end {
            return Err("dns: overflow unpacking uint8".to_string());
        }
        self.off += 1;
        Ok(self.msg[self.off - 1])
    }
    fn u16(&mut self) -> Result<u16, String> {
        if self.off + 2 > self.end {
            return Err("dns: overflow unpacking uint16".to_string());
        }
        self.off += 2;
        be16(self.msg, self.off - 2)
    }
    fn u32(&mut self) -> Result<u32, String> {
        if self.off + 4 > self.end {
            return Err("dns: overflow unpacking uint32".to_string());
        }
        self.off += 4;
        be32(self.msg, self.off - 4)
    }
    fn bytes(&mut self, n: usize) -> Result<&[u8], String> {
        if self.off + n > self.end {
            return Err("dns: overflow unpacking rdata".to_string());
        }
        self.off += n;
        Ok(&self.msg[self.off - n..self.off])
    }
    fn rest(&mut self) -> &[u8] {
        let b = &self.msg[self.off..self.end];
        self.off = self.end;
        b
    }
    fn name(&mut self) -> Result<String, String> {
        let (name, next) = unpack_name(self.msg, self.off)?;
        if next > self.end {
            return Err("dns: overflow unpacking domain name".to_string());
        }
        self.off = next;
        Ok(name)
    }
    /// A `<character-string>`, rendered with miekg's TXT escaping (no quotes).
    fn string(&mut self) -> Result<String, String> {
        let len = usize::from(self.u8()?);
        let bytes = self.bytes(len)?;
        Ok(txt_escape(bytes))
    }
    fn strings(&mut self) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        while self.off < self.end {
            out.push(self.string()?);
        }
        Ok(out)
    }
    /// NSEC-style type bitmap.
    fn type_bitmap(&mut self) -> Result<Vec<u16>, String> {
        let mut types = Vec::new();
        while self.off < self.end {
            let window = u16::from(self.u8()?);
            let len = usize::from(self.u8()?);
            if len == 0 || len > 32 {
                return Err("dns: bad rdata: type bitmap".to_string());
            }
            let bits = self.bytes(len)?;
            for (i, byte) in bits.iter().enumerate() {
                for bit in 0..8 {
                    if byte & (0x80 >> bit) != 0 {
                        types.push(window * 256 + (i as u16) * 8 + bit);
                    }
                }
            }
        }
        Ok(types)
    }
}

/// `"` and `\` escaped, unprintable bytes as `\DDD` (miekg `writeTXTStringByte`).
fn txt_escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            b' '..=b'~' => out.push(char::from(b)),
            _ => escape_byte(&mut out, b),
        }
    }
    out
}

/// miekg `sprintTxt`: each string quoted, separated by spaces.
fn quoted(strings: &[String]) -> String {
    let quoted: Vec<String> = strings.iter().map(|s| format!("\"{s}\"")).collect();
    quoted.join(" ")
}

fn hex_lower(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn base64(bytes: &[u8]) -> String {
    base64::Engine::encode(&crate::base::go::BASE64_STD, bytes)
}

/// Go's `base32.HexEncoding` (upper case, padded), as miekg prints NSEC3 hashes.
fn base32hex(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHIJKLMNOPQRSTUV";
    let mut out = String::new();
    for chunk in bytes.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = buf.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let chars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for i in 0..8 {
            if i < chars {
                out.push(char::from(ALPHABET[((n >> (35 - 5 * i)) & 31) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// miekg `TimeToString` for times near now: `YYYYMMDDHHMMSS` in UTC.
fn rrsig_time(t: u32) -> String {
    let secs = i64::from(t);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// miekg `sprintTxtOctet`: one quoted string, `\.` kept, other bytes TXT-escaped.
fn txt_octet(bytes: &[u8]) -> String {
    format!("\"{}\"", txt_escape(bytes))
}

/// The OPT pseudo-record as miekg prints it (`OPT.String()`), header omitted.
fn render_opt(h: &RrHeader, rd: &mut Rdata<'_>) -> Result<String, String> {
    let version = (h.ttl >> 16) & 0xFF;
    let mut s = format!("\n;; OPT PSEUDOSECTION:\n; EDNS: version {version}; ");
    if h.ttl & 0x8000 != 0 {
        s.push_str("flags: do; ");
    } else {
        s.push_str("flags: ; ");
    }
    if h.ttl & 0x7FFF != 0 {
        let _ = write!(s, "MBZ: 0x{:04x}, ", h.ttl & 0x7FFF);
    }
    let _ = write!(s, "udp: {}", h.class);
    while rd.off < rd.end {
        let code = rd.u16()?;
        let len = usize::from(rd.u16()?);
        let data = rd.bytes(len)?;
        match code {
            3 => {
                let _ = write!(s, "\n; NSID: {}", hex_lower(data));
                let chars: String = data
                    .iter()
                    .map(|b| format!("({})", char::from(*b)))
                    .collect();
                let _ = write!(s, "  {chars}");
            }
            10 => {
                let _ = write!(s, "\n; COOKIE: {}", hex_lower(data));
            }
            12 => {
                let _ = write!(s, "\n; PADDING: {}", hex_lower(data));
            }
            9 if data.len() == 4 => {
                let _ = write!(s, "\n; EXPIRE: {}", be32(data, 0)?);
            }
            _ => {
                let _ = write!(s, "\n; LOCAL OPT: {code}:0x{}", hex_lower(data));
            }
        }
    }
    Ok(s)
}

/// miekg's `String()` of one record whose rdata is `msg[start..end]`, and the serial of an SOA.
///
/// Every type miekg knows and this function renders is listed in the match; any other type
/// is printed as miekg prints types it has no struct for (RFC 3597).
pub fn render(
    msg: &[u8],
    start: usize,
    end: usize,
    h: &RrHeader,
) -> Result<(String, Option<u32>), String> {
    let mut rd = Rdata {
        msg,
        off: start,
        end,
    };
    let hdr = h.string();
    if h.rtype == TYPE_OPT {
        return Ok((render_opt(h, &mut rd)?, None));
    }
    if start == end && known_type(h.rtype) {
        // miekg leaves a typed record with empty rdata at its zero value; A and AAAA then
        // print the header alone (the commonest case: dynamic-update style empty records).
        return Ok((hdr, None));
    }
    let mut serial = None;
    let body = match h.rtype {
        1 => {
            let b = rd.bytes(4)?;
            Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()
        }
        28 => {
            let b: [u8; 16] = rd.bytes(16)?.try_into().map_err(|_| "dns: bad AAAA")?;
            let ip = Ipv6Addr::from(b);
            match ip.to_ipv4_mapped() {
                Some(v4) => format!("::ffff:{v4}"),
                None => ip.to_string(),
            }
        }
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => rd.name()?,
        6 => {
            let ns = rd.name()?;
            let mbox = rd.name()?;
            let (s, refresh, retry, expire, min) =
                (rd.u32()?, rd.u32()?, rd.u32()?, rd.u32()?, rd.u32()?);
            serial = Some(s);
            format!("{ns} {mbox} {s} {refresh} {retry} {expire} {min}")
        }
        10 => {
            // NULL: no presentation format; miekg comments the line out.
            let data = rd.rest();
            return Ok((format!(";{hdr}{}", String::from_utf8_lossy(data)), None));
        }
        13 => {
            let cpu = rd.string()?;
            let os = rd.string()?;
            quoted(&[cpu, os])
        }
        14 | 17 => {
            let a = rd.name()?;
            let b = rd.name()?;
            format!("{a} {b}")
        }
        15 | 18 | 21 | 36 => {
            let pref = rd.u16()?;
            format!("{pref} {}", rd.name()?)
        }
        16 | 99 | 258 => quoted(&rd.strings()?),
        19 => rd.string()?,
        26 => {
            let pref = rd.u16()?;
            let a = rd.name()?;
            let b = rd.name()?;
            format!("{pref} {a} {b}")
        }
        33 => {
            let (prio, weight, port) = (rd.u16()?, rd.u16()?, rd.u16()?);
            format!("{prio} {weight} {port} {}", rd.name()?)
        }
        35 => {
            let (order, pref) = (rd.u16()?, rd.u16()?);
            let flags = rd.string()?;
            let service = rd.string()?;
            let regexp = rd.string()?;
            let replacement = rd.name()?;
            format!("{order} {pref} \"{flags}\" \"{service}\" \"{regexp}\" {replacement}")
        }
        43 | 59 | 32768 | 32769 => {
            let (tag, alg, dt) = (rd.u16()?, rd.u8()?, rd.u8()?);
            format!("{tag} {alg} {dt} {}", hex_lower(rd.rest()).to_uppercase())
        }
        44 => {
            let (alg, t) = (rd.u8()?, rd.u8()?);
            format!("{alg} {t} {}", hex_lower(rd.rest()).to_uppercase())
        }
        24 | 46 => {
            let covered = rd.u16()?;
            let (alg, labels) = (rd.u8()?, rd.u8()?);
            let orig_ttl = rd.u32()?;
            let (expiration, inception) = (rd.u32()?, rd.u32()?);
            let tag = rd.u16()?;
            let signer = rd.name()?;
            let sig = base64(rd.rest());
            format!(
                "{} {alg} {labels} {orig_ttl} {} {} {tag} {signer} {sig}",
                type_name(covered),
                rrsig_time(expiration),
                rrsig_time(inception)
            )
        }
        47 => {
            let next = rd.name()?;
            let mut s = next;
            for t in rd.type_bitmap()? {
                s.push(' ');
                s.push_str(&type_name(t));
            }
            s
        }
        25 | 48 | 60 => {
            let (flags, proto, alg) = (rd.u16()?, rd.u8()?, rd.u8()?);
            format!("{flags} {proto} {alg} {}", base64(rd.rest()))
        }
        50 | 51 => {
            let (hash, flags, iterations) = (rd.u8()?, rd.u8()?, rd.u16()?);
            let salt_len = usize::from(rd.u8()?);
            let salt = rd.bytes(salt_len)?;
            let salt = if salt.is_empty() {
                "-".to_string()
            } else {
                hex_lower(salt).to_uppercase()
            };
            let mut s = format!("{hash} {flags} {iterations} {salt}");
            if h.rtype == 50 {
                let hash_len = usize::from(rd.u8()?);
                let next = base32hex(rd.bytes(hash_len)?);
                let _ = write!(s, " {next}");
                for t in rd.type_bitmap()? {
                    s.push(' ');
                    s.push_str(&type_name(t));
                }
            }
            s
        }
        52 | 53 => {
            let (usage, selector, mtype) = (rd.u8()?, rd.u8()?, rd.u8()?);
            format!("{usage} {selector} {mtype} {}", hex_lower(rd.rest()))
        }
        49 | 61 => base64(rd.rest()),
        108 | 109 => {
            let n = if h.rtype == 108 { 6 } else { 8 };
            let b = rd.bytes(n)?;
            let parts: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
            parts.join("-")
        }
        256 => {
            let (prio, weight) = (rd.u16()?, rd.u16()?);
            format!("{prio} {weight} {}", txt_octet(rd.rest()))
        }
        257 => {
            let flag = rd.u8()?;
            let tag = rd.string()?;
            format!("{flag} {tag} {}", txt_octet(rd.rest()))
        }
        255 => {
            // ANY: miekg comments it out.
            return Ok((format!(";{hdr}"), None));
        }
        _ => {
            let data = rd.rest();
            return Ok((
                format!("{}\\# {} {}", h.rfc3597(), data.len(), hex_lower(data)),
                None,
            ));
        }
    };
    if rd.off != rd.end {
        return Err("dns: bad rdlength".to_string());
    }
    Ok((format!("{hdr}{body}"), serial))
}

/// Types [`render`] prints in miekg's typed form.
fn known_type(t: u16) -> bool {
    const TYPED: &[u16] = &[
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17, 18, 19, 21, 24, 25, 26, 28, 33, 35,
        36, 39, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 59, 60, 61, 99, 108, 109, 255, 256, 257,
        258, 32768, 32769,
    ];
    TYPED.contains(&t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a message with one answer record of `rtype` whose rdata is `rdata`, owner
    /// `example.com.`, TTL 3600, class `class`; names in rdata may point at offset 12.
    fn one_record(rtype: u16, class: u16, rdata: &[u8]) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(b"\x07example\x03com\x00");
        m.extend_from_slice(&rtype.to_be_bytes());
        m.extend_from_slice(&class.to_be_bytes());
        m.extend_from_slice(&3600u32.to_be_bytes());
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(rdata);
        m
    }

    fn name(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for label in s.split('.').filter(|l| !l.is_empty()) {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn text(rtype: u16, class: u16, rdata: &[u8]) -> String {
        let r = parse_response(&one_record(rtype, class, rdata)).expect("parses");
        assert_eq!(r.answer.len(), 1);
        r.answer[0].text.clone()
    }

    #[test]
    fn renders_records_as_miekg_prints_them() {
        let p = "example.com.\t3600\tIN\t";
        let soa = cat(&[
            &name("ns.example.com"),
            &name("admin.example.com"),
            &1000u32.to_be_bytes(),
            &3600u32.to_be_bytes(),
            &600u32.to_be_bytes(),
            &86400u32.to_be_bytes(),
            &300u32.to_be_bytes(),
        ]);
        let rrsig = cat(&[
            &1u16.to_be_bytes(),
            &[8, 2],
            &3600u32.to_be_bytes(),
            &1_700_000_000u32.to_be_bytes(),
            &1_600_000_000u32.to_be_bytes(),
            &12345u16.to_be_bytes(),
            &name("example.com"),
            &[1, 2, 3, 4],
        ]);
        let cases: Vec<(u16, u16, Vec<u8>, String)> = vec![
            (1, 1, vec![127, 0, 0, 1], format!("{p}A\t127.0.0.1")),
            (28, 1, Ipv6Addr::LOCALHOST.octets().to_vec(), format!("{p}AAAA\t::1")),
            (
                28,
                1,
                "2001:db8:0:1:0:0:0:1".parse::<Ipv6Addr>().unwrap().octets().to_vec(),
                format!("{p}AAAA\t2001:db8:0:1::1"),
            ),
            (
                28,
                1,
                "::ffff:1.2.3.4".parse::<Ipv6Addr>().unwrap().octets().to_vec(),
                format!("{p}AAAA\t::ffff:1.2.3.4"),
            ),
            (2, 1, name("ns1.example.com"), format!("{p}NS\tns1.example.com.")),
            (5, 1, vec![0xC0, 12], format!("{p}CNAME\texample.com.")),
            (12, 1, name("host.example.com"), format!("{p}PTR\thost.example.com.")),
            (
                15,
                1,
                cat(&[&10u16.to_be_bytes(), &name("mx.example.com")]),
                format!("{p}MX\t10 mx.example.com."),
            ),
            (
                16,
                1,
                b"\x0bv=spf1 -all".to_vec(),
                format!("{p}TXT\t\"v=spf1 -all\""),
            ),
            (
                16,
                1,
                b"\x03a\"b\x02c\\\x02\x01\xff\x00".to_vec(),
                format!("{p}TXT\t\"a\\\"b\" \"c\\\\\" \"\\001\\255\" \"\""),
            ),
            (
                6,
                1,
                soa,
                format!("{p}SOA\tns.example.com. admin.example.com. 1000 3600 600 86400 300"),
            ),
            (
                33,
                1,
                cat(&[
                    &1u16.to_be_bytes(),
                    &5u16.to_be_bytes(),
                    &5060u16.to_be_bytes(),
                    &name("sip.example.com"),
                ]),
                format!("{p}SRV\t1 5 5060 sip.example.com."),
            ),
            (
                257,
                1,
                b"\x00\x05issueletsencrypt.org".to_vec(),
                format!("{p}CAA\t0 issue \"letsencrypt.org\""),
            ),
            (
                43,
                1,
                cat(&[&12345u16.to_be_bytes(), &[8, 2], &[0xab, 0xcd, 0xef]]),
                format!("{p}DS\t12345 8 2 ABCDEF"),
            ),
            (
                48,
                1,
                cat(&[&257u16.to_be_bytes(), &[3, 8], b"hello"]),
                format!("{p}DNSKEY\t257 3 8 aGVsbG8="),
            ),
            (
                46,
                1,
                rrsig,
                format!("{p}RRSIG\tA 8 2 3600 20231114221320 20200913122640 12345 example.com. AQIDBA=="),
            ),
            (
                47,
                1,
                cat(&[&name("b.example.com"), &[0, 4, 0x62, 0x01, 0x80, 0x08]]),
                format!("{p}NSEC\tb.example.com. A NS SOA MX TXT AAAA"),
            ),
            (
                13,
                1,
                b"\x03x86\x05linux".to_vec(),
                format!("{p}HINFO\t\"x86\" \"linux\""),
            ),
            (
                44,
                1,
                vec![1, 1, 0xde, 0xad],
                format!("{p}SSHFP\t1 1 DEAD"),
            ),
            (
                52,
                1,
                vec![3, 1, 1, 0xde, 0xad],
                format!("{p}TLSA\t3 1 1 dead"),
            ),
            (
                35,
                1,
                cat(&[
                    &100u16.to_be_bytes(),
                    &10u16.to_be_bytes(),
                    b"\x01S\x07SIP+D2U\x00",
                    &name("_sip._udp.example.com"),
                ]),
                format!("{p}NAPTR\t100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.example.com."),
            ),
            (
                256,
                1,
                cat(&[&10u16.to_be_bytes(), &1u16.to_be_bytes(), b"https://example.com/"]),
                format!("{p}URI\t10 1 \"https://example.com/\""),
            ),
            (
                39,
                1,
                name("example.net"),
                format!("{p}DNAME\texample.net."),
            ),
            // TXT in class CH (the version.bind style query).
            (
                16,
                3,
                b"\x051.2.3".to_vec(),
                "example.com.\t3600\tCH\tTXT\t\"1.2.3\"".to_string(),
            ),
            // Class 255 is also a type name, so miekg prints it numerically.
            (1, 255, vec![1, 2, 3, 4], "example.com.\t3600\tCLASS255\tA\t1.2.3.4".to_string()),
            (1, 254, vec![1, 2, 3, 4], "example.com.\t3600\tNONE\tA\t1.2.3.4".to_string()),
            // Types miekg has no struct for: RFC 3597, class and type numeric.
            (
                65280,
                1,
                vec![0xde, 0xad, 0xbe, 0xef],
                "example.com.\t3600\tCLASS1\tTYPE65280\t\\# 4 deadbeef".to_string(),
            ),
            (
                65280,
                1,
                vec![],
                "example.com.\t3600\tCLASS1\tTYPE65280\t\\# 0 ".to_string(),
            ),
            (1, 1, vec![], format!("{p}A\t")),
        ];
        for (rtype, class, rdata, want) in cases {
            assert_eq!(
                text(rtype, class, &rdata),
                want,
                "type {rtype} class {class}"
            );
        }
    }

    #[test]
    fn renders_opt_and_escaped_names() {
        // OPT, udp 1232, DO set, with a cookie and an unknown option.
        let mut m = vec![0, 1, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 0];
        m.extend_from_slice(&41u16.to_be_bytes());
        m.extend_from_slice(&1232u16.to_be_bytes());
        m.extend_from_slice(&0x0000_8000u32.to_be_bytes());
        let opts = cat(&[
            &10u16.to_be_bytes(),
            &2u16.to_be_bytes(),
            &[0xab, 0xcd],
            &65001u16.to_be_bytes(),
            &1u16.to_be_bytes(),
            &[0x01],
        ]);
        m.extend_from_slice(&(opts.len() as u16).to_be_bytes());
        m.extend_from_slice(&opts);
        let r = parse_response(&m).expect("parses");
        assert_eq!(
            r.additional[0].text,
            "\n;; OPT PSEUDOSECTION:\n; EDNS: version 0; flags: do; udp: 1232\n; COOKIE: abcd\n; LOCAL OPT: 65001:0x01"
        );

        // Owner `a.b\ c\001.example.com.` with a dot and a space inside the first label.
        let mut m = vec![0, 1, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(b"\x07a.b c\x01@\x07example\x03com\x00");
        m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, 1]);
        let r = parse_response(&m).expect("parses");
        assert_eq!(
            r.answer[0].text,
            "a\\.b\\ c\\001\\@.example.com.\t5\tIN\tA\t10.0.0.1"
        );
    }

    #[test]
    fn message_parsing_follows_miekg() {
        // A header-only answer is an empty, valid message.
        let r = parse_response(&[0, 7, 0x81, 0x85, 0, 1, 0, 0, 0, 0, 0, 0]).expect("parses");
        assert_eq!((r.id, r.rcode, r.answer.len()), (7, 5, 0));
        // An rdlength running past the end, a short A record and a pointer loop fail.
        let mut long = one_record(1, 1, &[1, 2, 3, 4]);
        long.truncate(long.len() - 1);
        assert!(parse_response(&long).is_err());
        assert!(parse_response(&one_record(1, 1, &[1, 2, 3, 4, 5])).is_err());
        assert!(
            parse_response(&one_record(5, 1, &[0xC0, 35])).is_err(),
            "pointer loop"
        );
        assert!(parse_response(&[0, 1, 0x81]).is_err());
        // The OPT record's upper rcode bits extend the header rcode (BADVERS = 16).
        let mut m = vec![0, 1, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 41, 2, 0];
        m.extend_from_slice(&0x0100_0000u32.to_be_bytes());
        m.extend_from_slice(&[0, 0]);
        assert_eq!(parse_response(&m).expect("parses").rcode, 16);
    }

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

    #[test]
    fn host_port_split_is_go_like() {
        let s = |t: &str| split_host_port(t);
        assert_eq!(s("127.0.0.1:53"), Some(("127.0.0.1".into(), "53".into())));
        assert_eq!(s("[::1]:5353"), Some(("::1".into(), "5353".into())));
        assert_eq!(s("localhost"), None);
        assert_eq!(s("::1"), None);
        assert_eq!(s("[::1]"), None);
    }

    #[test]
    fn names_and_codes_follow_miekg() {
        assert_eq!(type_code("A"), Some(1));
        assert_eq!(type_code("SPF"), Some(99));
        assert_eq!(type_code("a"), None);
        assert_eq!(type_code("*"), None);
        assert_eq!(class_code("CH"), Some(3));
        assert_eq!(rcode_code("BADVERS"), Some(16));
        assert_eq!(class_name(1), "IN");
        assert_eq!(class_name(255), "CLASS255");
        assert_eq!(type_name(65280), "TYPE65280");
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(base64(b"hi"), "aGk=");
        assert_eq!(base32hex(&[0xff; 5]), "VVVVVVVV");
        assert_eq!(base32hex(&[0x00]), "00======");
        assert_eq!(rrsig_time(0), "19700101000000");
    }
}
