//! The dns prober against real loopback peers: an in-process DNS server (UDP + TCP on one
//! port, optionally DNS-over-TLS) answering from handlers written like upstream
//! `prober/dns_test.go`'s, every scenario of that file over UDP and TCP, DoT, the protocol
//! and phase metrics, and a few cases against Debian's real `dnsmasq`. The shipped modules
//! of `modules/dns.yml` are probed against the in-process server.
//!
//! The server records every query it receives, so the tests can check what the prober
//! sent (one question, RD bit, no EDNS record).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hickory_resolver::proto::op::{Message, OpCode, ResponseCode};
use hickory_resolver::proto::rr::rdata::NULL;
use hickory_resolver::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::support::tls::server_config;
use crate::support::{self, probe_with, run_probe, Outcome};
use crate::support::{poll, TestCa, TlsOptions};

// ---------------------------------------------------------------------------------------------
// The in-process DNS server

/// Answers one query: the messages to send back, in order (none = stay silent).
pub(crate) type Handler = Arc<dyn Fn(&Message) -> Vec<Vec<u8>> + Send + Sync>;

/// One query the server received.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub transport: &'static str,
    pub raw: Vec<u8>,
}

/// A loopback DNS server; dropping it stops it.
pub(crate) struct DnsServer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    _guard: DropGuard,
}

/// Which listeners to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Listen {
    UdpAndTcp,
    TcpOnly,
}

impl DnsServer {
    /// UDP and TCP on the same port of 127.0.0.1.
    pub(crate) async fn start(handler: Handler) -> Self {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), Listen::UdpAndTcp, handler).await
    }

    pub(crate) async fn start_on(ip: IpAddr, listen: Listen, handler: Handler) -> Self {
        Self::spawn(ip, listen, None, handler).await
    }

    /// DNS-over-TLS on 127.0.0.1 (TCP only).
    pub(crate) async fn start_tls(config: Arc<rustls::ServerConfig>, handler: Handler) -> Self {
        Self::spawn(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            Listen::TcpOnly,
            Some(TlsAcceptor::from(config)),
            handler,
        )
        .await
    }

    async fn spawn(ip: IpAddr, listen: Listen, tls: Option<TlsAcceptor>, handler: Handler) -> Self {
        // UDP and TCP must share the port; retry when another process holds the TCP side.
        let mut bound = None;
        for _ in 0..20 {
            let udp = std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).expect("bind UDP");
            let addr = udp.local_addr().expect("UDP address");
            if let Ok(tcp) = std::net::TcpListener::bind(addr) {
                bound = Some((udp, tcp, addr));
                break;
            }
        }
        let (udp, tcp, addr) = bound.expect("no free port for UDP and TCP together");
        udp.set_nonblocking(true).expect("nonblocking");
        tcp.set_nonblocking(true).expect("nonblocking");
        let token = CancellationToken::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        if listen == Listen::UdpAndTcp {
            let udp = UdpSocket::from_std(udp).expect("tokio UDP socket");
            let (handler, seen, token) = (handler.clone(), seen.clone(), token.clone());
            tokio::spawn(async move {
                tokio::select! {
                    () = token.cancelled() => {}
                    () = serve_udp(udp, handler, seen) => {}
                }
            });
        } else {
            drop(udp);
        }
        let tcp = TcpListener::from_std(tcp).expect("tokio TCP listener");
        {
            let (seen, token) = (seen.clone(), token.clone());
            tokio::spawn(async move {
                loop {
                    let accepted = tokio::select! {
                        () = token.cancelled() => return,
                        a = tcp.accept() => a,
                    };
                    let Ok((stream, _)) = accepted else { continue };
                    let (handler, seen, tls, token) =
                        (handler.clone(), seen.clone(), tls.clone(), token.clone());
                    tokio::spawn(async move {
                        let serve = async {
                            match tls {
                                None => serve_stream(stream, "tcp", handler, seen).await,
                                Some(acceptor) => {
                                    if let Ok(s) = acceptor.accept(stream).await {
                                        serve_stream(s, "tls", handler, seen).await;
                                    }
                                }
                            }
                        };
                        tokio::select! {
                            () = token.cancelled() => {}
                            () = serve => {}
                        }
                    });
                }
            });
        }
        Self {
            addr,
            seen,
            _guard: token.drop_guard(),
        }
    }

    /// `ip:port` (IPv6 bracketed).
    pub(crate) fn target(&self) -> String {
        self.addr.to_string()
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn serve_udp(socket: UdpSocket, handler: Handler, seen: Arc<Mutex<Vec<Seen>>>) {
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let raw = buf[..n].to_vec();
        seen.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Seen {
                transport: "udp",
                raw: raw.clone(),
            });
        let Ok(query) = Message::from_vec(&raw) else {
            continue;
        };
        for reply in handler(&query) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

async fn serve_stream<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    transport: &'static str,
    handler: Handler,
    seen: Arc<Mutex<Vec<Seen>>>,
) {
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut raw = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut raw).await.is_err() {
            return;
        }
        seen.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Seen {
                transport,
                raw: raw.clone(),
            });
        let Ok(query) = Message::from_vec(&raw) else {
            return;
        };
        for reply in handler(&query) {
            let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&reply);
            if stream.write_all(&framed).await.is_err() {
                return;
            }
        }
        let _ = stream.flush().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Building answers

/// A reply skeleton: same id, the question echoed, RD copied, RA set.
pub(crate) fn reply_to(q: &Message) -> Message {
    let mut m = Message::response(q.metadata.id, OpCode::Query);
    m.metadata.recursion_desired = q.metadata.recursion_desired;
    m.metadata.recursion_available = true;
    m.add_queries(q.queries.clone());
    m
}

pub(crate) fn encode(m: &Message) -> Vec<Vec<u8>> {
    vec![m.to_vec().expect("encoding a test answer")]
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("test record name")
}

fn class(s: &str) -> DNSClass {
    DNSClass::from_str(s).expect("test record class")
}

/// A record from presentation text: `rr("example.com.", 3600, "IN", "MX", "10 mx.example.com.")`.
pub(crate) fn rr(owner: &str, ttl: u32, cls: &str, rtype: &str, rdata: &str) -> Record {
    let rt = RecordType::from_str(rtype).expect("test record type");
    let data = RData::try_from_str(rt, rdata)
        .unwrap_or_else(|e| panic!("test rdata {rtype} {rdata:?}: {e}"));
    let mut r = Record::from_rdata(name(owner), ttl, data);
    r.dns_class = class(cls);
    r
}

/// A record with raw rdata bytes, for types whose encoding the test wants to control.
pub(crate) fn raw_rr(owner: &str, ttl: u32, cls: &str, rtype: u16, rdata: &[u8]) -> Record {
    let mut r = Record::from_rdata(
        name(owner),
        ttl,
        RData::Unknown {
            code: RecordType::from(rtype),
            rdata: NULL::with(rdata.to_vec()),
        },
    );
    r.dns_class = class(cls);
    r
}

fn question(q: &Message) -> (String, RecordType, DNSClass) {
    let query = &q.queries[0];
    (
        query.name().to_ascii().to_ascii_lowercase(),
        query.query_type(),
        query.query_class(),
    )
}

/// Upstream's `recursiveDNSHandler`: REFUSED without RD, else `example.com. 3600 IN A 127.0.0.1`.
pub(crate) fn recursive_handler() -> Handler {
    Arc::new(|q: &Message| {
        let mut m = reply_to(q);
        if q.metadata.recursion_desired {
            m.answers
                .push(rr("example.com.", 3600, "IN", "A", "127.0.0.1"));
        } else {
            m.metadata.response_code = ResponseCode::Refused;
        }
        encode(&m)
    })
}

/// Upstream's `authoritativeDNSHandler`: SOA serial 1000, CH TXT "goCHAOS", else an A answer
/// with two NS in authority and A, AAAA ::1, A in additional.
pub(crate) fn authoritative_handler() -> Handler {
    Arc::new(|q: &Message| {
        let mut m = reply_to(q);
        m.metadata.authoritative = true;
        let (_, qtype, qclass) = question(q);
        if qtype == RecordType::SOA {
            m.answers.push(rr(
                "example.com.",
                3600,
                "IN",
                "SOA",
                "ns.example.com. noc.dns.example.org. 1000 7200 3600 1209600 3600",
            ));
        } else if qclass == DNSClass::CH && qtype == RecordType::TXT {
            m.answers
                .push(rr("example.com.", 3600, "CH", "TXT", "goCHAOS"));
        } else {
            m.answers
                .push(rr("example.com.", 3600, "IN", "A", "127.0.0.1"));
            m.authorities
                .push(rr("example.com.", 7200, "IN", "NS", "ns1.isp.net."));
            m.authorities
                .push(rr("example.com.", 7200, "IN", "NS", "ns2.isp.net."));
            m.additionals
                .push(rr("ns1.isp.net.", 7200, "IN", "A", "127.0.0.1"));
            m.additionals
                .push(rr("ns1.isp.net.", 7200, "IN", "AAAA", "::1"));
            m.additionals
                .push(rr("ns2.isp.net.", 7200, "IN", "A", "127.0.0.2"));
        }
        encode(&m)
    })
}

/// Upstream's `servfailDNSHandler`.
pub(crate) fn servfail_handler() -> Handler {
    Arc::new(|q: &Message| {
        let mut m = reply_to(q);
        m.metadata.response_code = ResponseCode::ServFail;
        encode(&m)
    })
}

/// A small zone with one record of every common type, for rendering checks. Unknown names
/// under `example.com` get NXDOMAIN with the SOA in authority; `noanswer.example.com` gets
/// nothing at all; `wrongid.example.com` first gets an answer with another id.
pub(crate) fn zone_handler() -> Handler {
    Arc::new(|q: &Message| {
        let mut m = reply_to(q);
        m.metadata.authoritative = true;
        let (qname, qtype, qclass) = question(q);
        let soa = || {
            rr(
                "example.com.",
                3600,
                "IN",
                "SOA",
                "ns.example.com. admin.example.com. 1000 3600 600 86400 300",
            )
        };
        let mut answers = Vec::new();
        let records: Vec<Record> = match qname.as_str() {
            "example.com." => vec![
                rr("example.com.", 3600, "IN", "A", "127.0.0.1"),
                rr("example.com.", 3600, "IN", "AAAA", "2001:db8::1"),
                rr("example.com.", 3600, "IN", "MX", "10 mx.example.com."),
                rr("example.com.", 3600, "IN", "NS", "ns1.example.com."),
                rr("example.com.", 3600, "IN", "NS", "ns2.example.com."),
                raw_rr(
                    "example.com.",
                    300,
                    "IN",
                    16,
                    b"\x0bv=spf1 -all\x09two words\x05q\"b\\s",
                ),
                soa(),
                raw_rr("example.com.", 3600, "CH", 16, b"\x07goCHAOS"),
                raw_rr(
                    "example.com.",
                    3600,
                    "IN",
                    257,
                    b"\x00\x05issueletsencrypt.org",
                ),
                raw_rr(
                    "example.com.",
                    3600,
                    "IN",
                    43,
                    &[0x30, 0x39, 8, 2, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02],
                ),
                raw_rr(
                    "example.com.",
                    3600,
                    "IN",
                    48,
                    &[0x01, 0x01, 3, 8, b'k', b'e', b'y', b'd', b'a', b't', b'a'],
                ),
                raw_rr("example.com.", 3600, "IN", 65280, &[0xca, 0xfe]),
            ],
            "www.example.com." => vec![rr("www.example.com.", 600, "IN", "CNAME", "example.com.")],
            "_sip._udp.example.com." => vec![rr(
                "_sip._udp.example.com.",
                3600,
                "IN",
                "SRV",
                "1 5 5060 sip.example.com.",
            )],
            "1.0.0.127.in-addr.arpa." => vec![rr(
                "1.0.0.127.in-addr.arpa.",
                3600,
                "IN",
                "PTR",
                "localhost.",
            )],
            "opt.example.com." => {
                let mut edns = hickory_resolver::proto::op::Edns::new();
                edns.set_max_payload(1232);
                m.edns = Some(edns);
                vec![rr("opt.example.com.", 60, "IN", "A", "127.0.0.9")]
            }
            "noanswer.example.com." => return Vec::new(),
            "types.example.com." => {
                // Every record regardless of the question: rendering checks over TCP.
                m.answers = types_records();
                return encode(&m);
            }
            "wrongid.example.com." => {
                let mut first = reply_to(q);
                first.metadata.id = q.metadata.id.wrapping_add(1);
                first
                    .answers
                    .push(rr("wrongid.example.com.", 60, "IN", "A", "10.9.9.9"));
                let mut second = reply_to(q);
                second
                    .answers
                    .push(rr("wrongid.example.com.", 60, "IN", "A", "127.0.0.1"));
                return [encode(&first), encode(&second)].concat();
            }
            _ => {
                m.metadata.response_code = ResponseCode::NXDomain;
                m.authorities.push(soa());
                return encode(&m);
            }
        };
        for r in records {
            let type_ok = qtype == RecordType::ANY || r.record_type() == qtype;
            if type_ok && r.dns_class == qclass {
                answers.push(r);
            }
        }
        if answers.is_empty() && qname != "opt.example.com." {
            m.authorities.push(soa());
        }
        m.answers = answers;
        if qname == "example.com." && qtype == RecordType::MX {
            m.additionals
                .push(rr("mx.example.com.", 3600, "IN", "A", "127.0.0.25"));
        }
        encode(&m)
    })
}

/// The records `types.example.com` answers with, and the line miekg prints for each.
pub(crate) fn types_table() -> Vec<(Record, &'static str)> {
    let t = "types.example.com.";
    let odd_owner = {
        let mut r = raw_rr(t, 60, "IN", 1, &[10, 0, 0, 1]);
        r.name = Name::from_labels(vec![&b"a.b c;@\x01"[..], b"example", b"com"])
            .expect("odd owner name");
        r
    };
    let mut none_class = raw_rr(t, 0, "IN", 1, &[1, 2, 3, 4]);
    none_class.dns_class = DNSClass::NONE;
    let mut any_class = raw_rr(t, 0, "IN", 1, &[1, 2, 3, 5]);
    any_class.dns_class = DNSClass::ANY;
    let nsec_bits: &[u8] = &[0, 4, 0x62, 0x01, 0x80, 0x08];
    let rrsig = [
        &[0u8, 1, 8, 2][..],
        &3600u32.to_be_bytes(),
        &1_700_000_000u32.to_be_bytes(),
        &1_600_000_000u32.to_be_bytes(),
        &12345u16.to_be_bytes(),
        b"\x07example\x03com\x00",
        &[1, 2, 3, 4],
    ]
    .concat();
    vec![
        (raw_rr(t, 60, "IN", 16, b"\x05a\x01b\xffc"), "types.example.com.\t60\tIN\tTXT\t\"a\\001b\\255c\""),
        (raw_rr(t, 60, "IN", 16, b"\x00\x05a;b@c"), "types.example.com.\t60\tIN\tTXT\t\"\" \"a;b@c\""),
        (raw_rr(t, 60, "IN", 99, b"\x0bv=spf1 -all"), "types.example.com.\t60\tIN\tSPF\t\"v=spf1 -all\""),
        (rr(t, 60, "IN", "AAAA", "::ffff:1.2.3.4"), "types.example.com.\t60\tIN\tAAAA\t::ffff:1.2.3.4"),
        (rr(t, 60, "IN", "AAAA", "2001:db8:0:1:0:0:0:1"), "types.example.com.\t60\tIN\tAAAA\t2001:db8:0:1::1"),
        (raw_rr(t, 60, "IN", 13, b"\x03x86\x05linux"), "types.example.com.\t60\tIN\tHINFO\t\"x86\" \"linux\""),
        (
            raw_rr(t, 60, "IN", 35, b"\x00\x64\x00\x0a\x01S\x07SIP+D2U\x00\x04_sip\x04_udp\x07example\x03com\x00"),
            "types.example.com.\t60\tIN\tNAPTR\t100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.example.com.",
        ),
        (raw_rr(t, 60, "IN", 44, &[1, 1, 0xde, 0xad, 0xbe, 0xef]), "types.example.com.\t60\tIN\tSSHFP\t1 1 DEADBEEF"),
        (raw_rr(t, 60, "IN", 52, &[3, 1, 1, 0xde, 0xad, 0xbe, 0xef]), "types.example.com.\t60\tIN\tTLSA\t3 1 1 deadbeef"),
        (
            raw_rr(t, 60, "IN", 47, &[b"\x01b\x07example\x03com\x00", nsec_bits].concat()),
            "types.example.com.\t60\tIN\tNSEC\tb.example.com. A NS SOA MX TXT AAAA",
        ),
        (
            raw_rr(t, 60, "IN", 46, &rrsig),
            "types.example.com.\t60\tIN\tRRSIG\tA 8 2 3600 20231114221320 20200913122640 12345 example.com. AQIDBA==",
        ),
        (
            raw_rr(t, 60, "IN", 50, &[&[1u8, 0, 0, 10, 2, 0xaa, 0xbb, 5][..], &[0xff; 5], nsec_bits].concat()),
            "types.example.com.\t60\tIN\tNSEC3\t1 0 10 AABB VVVVVVVV A NS SOA MX TXT AAAA",
        ),
        (raw_rr(t, 60, "IN", 51, &[1, 0, 0, 10, 0]), "types.example.com.\t60\tIN\tNSEC3PARAM\t1 0 10 -"),
        (
            raw_rr(t, 60, "IN", 256, b"\x00\x0a\x00\x01https://example.com/"),
            "types.example.com.\t60\tIN\tURI\t10 1 \"https://example.com/\"",
        ),
        (
            raw_rr(t, 60, "IN", 257, b"\x80\x05iodefmailto:a@example.com"),
            "types.example.com.\t60\tIN\tCAA\t128 iodef \"mailto:a@example.com\"",
        ),
        (raw_rr(t, 60, "IN", 39, b"\x07example\x03net\x00"), "types.example.com.\t60\tIN\tDNAME\texample.net."),
        (
            raw_rr(t, 60, "IN", 18, b"\x00\x01\x03afs\x07example\x03com\x00"),
            "types.example.com.\t60\tIN\tAFSDB\t1 afs.example.com.",
        ),
        (raw_rr(t, 60, "IN", 61, b"key"), "types.example.com.\t60\tIN\tOPENPGPKEY\ta2V5"),
        (raw_rr(t, 60, "IN", 108, &[0, 0x11, 0x22, 0x33, 0x44, 0xab]), "types.example.com.\t60\tIN\tEUI48\t00-11-22-33-44-ab"),
        (raw_rr(t, 60, "IN", 65280, &[0xca, 0xfe]), "types.example.com.\t60\tCLASS1\tTYPE65280\t\\# 2 cafe"),
        (odd_owner, "a\\.b\\ c\\;\\@\\001.example.com.\t60\tIN\tA\t10.0.0.1"),
        (none_class, "types.example.com.\t0\tNONE\tA\t1.2.3.4"),
        (any_class, "types.example.com.\t0\tCLASS255\tA\t1.2.3.5"),
    ]
}

fn types_records() -> Vec<Record> {
    types_table().into_iter().map(|(r, _)| r).collect()
}

// ---------------------------------------------------------------------------------------------
// dnsmasq

/// Debian's dnsmasq on 127.0.0.1 with a few local records; killed when dropped.
pub(crate) struct Dnsmasq {
    pub addr: SocketAddr,
    child: Child,
}

pub(crate) const DNSMASQ: &str = "/usr/sbin/dnsmasq";

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Dnsmasq {
    /// Starts dnsmasq serving `example.test` (A 127.0.0.1, TXT, MX) and `example.com`
    /// (A 127.0.0.1, for the shipped modules), NXDOMAIN for other
    /// `.test` names and REFUSED for everything else (no upstream). Panics — the test fails,
    /// it does not skip — when dnsmasq is not installed.
    pub(crate) async fn start() -> Self {
        let binary = std::env::var("DNSMASQ_BIN").unwrap_or_else(|_| DNSMASQ.to_string());
        let mut last = String::new();
        for _ in 0..5 {
            let port = {
                let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
                udp.local_addr().expect("addr").port()
            };
            let user = std::env::var("USER").unwrap_or_else(|_| "root".to_string());
            let child = Command::new(&binary)
                .args([
                    "--no-daemon",
                    "--conf-file=/dev/null",
                    &format!("--port={port}"),
                    "--listen-address=127.0.0.1",
                    "--bind-interfaces",
                    "--no-resolv",
                    "--no-hosts",
                    "--pid-file=",
                    &format!("--user={user}"),
                    "--local-ttl=300",
                    "--local=/test/",
                    "--address=/example.test/127.0.0.1",
                    "--host-record=example.com,127.0.0.1",
                    "--txt-record=example.test,v=spf1 -all",
                    "--mx-host=example.test,mail.example.test,10",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn();
            let child = match child {
                Ok(c) => c,
                Err(e) => panic!(
                    "cannot run dnsmasq `{binary}` ({e}): the dns tests need Debian's dnsmasq \
                     package (apt-get install dnsmasq-base), or DNSMASQ_BIN set to its path. \
                     They fail instead of skipping."
                ),
            };
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let mut server = Dnsmasq { addr, child };
            match server.wait_ready().await {
                Ok(()) => return server,
                Err(e) => {
                    let _ = server.child.kill();
                    let _ = server.child.wait();
                    let mut stderr = String::new();
                    if let Some(mut s) = server.child.stderr.take() {
                        use std::io::Read as _;
                        let _ = s.read_to_string(&mut stderr);
                    }
                    last = format!("{e}\n{stderr}");
                }
            }
        }
        panic!("dnsmasq did not come up: {last}");
    }

    /// Polls with real queries until dnsmasq answers (or exits, or 15 s pass).
    async fn wait_ready(&mut self) -> Result<(), String> {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let mut query = Message::query();
        query.add_query(hickory_resolver::proto::op::Query::query(
            name("example.test."),
            RecordType::A,
        ));
        let bytes = query.to_vec().map_err(|e| e.to_string())?;
        let addr = self.addr;
        // An exit ends the wait early: the condition polled is "answers or exited".
        poll::within(Duration::from_secs(15), async || {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Ok(Err(format!("dnsmasq exited: {status}")));
            }
            let _ = socket.send_to(&bytes, addr).await;
            let mut buf = [0u8; 512];
            match tokio::time::timeout(Duration::from_millis(200), socket.recv_from(&mut buf)).await
            {
                Ok(Ok(_)) => Ok(Ok(())),
                _ => Err("dnsmasq did not answer within 15s".to_string()),
            }
        })
        .await
        .and_then(|ready| ready)
    }

    pub(crate) fn target(&self) -> String {
        self.addr.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Probing helpers

/// A dns module with a 5 s timeout, IPv4 preferred, and `block` (YAML at column 0) as the
/// rest of the `dns:` block.
pub(crate) fn dns_yaml(block: &str) -> String {
    let block = support::dedent(block);
    format!(
        "prober: dns\ntimeout: 5s\ndns:\n  preferred_ip_protocol: ip4\n{}",
        support::indent(&block, 2)
    )
}

async fn probe_dns(block: &str, target: &str) -> Outcome {
    probe_with(&dns_yaml(block), target).await
}

#[track_caller]
fn assert_counts(o: &Outcome, answer: f64, authority: f64, additional: f64) {
    assert_eq!(
        (
            o.value("probe_dns_answer_rrs"),
            o.value("probe_dns_authority_rrs"),
            o.value("probe_dns_additional_rrs")
        ),
        (answer, authority, additional),
        "{}",
        o.dump()
    );
}

const TRANSPORTS: [&str; 2] = ["udp", "tcp"];

fn with_transport(transport: &str, block: &str) -> String {
    format!(
        "transport_protocol: {transport}\n{}",
        support::dedent(block)
    )
}

// ---------------------------------------------------------------------------------------------
// Upstream dns_test.go

#[tokio::test]
async fn recursive_dns_response() {
    let server = DnsServer::start(recursive_handler()).await;
    let cases: &[(&str, bool)] = &[
        ("query_name: example.com\n", true),
        (
            "query_name: example.com\nvalid_rcodes: [SERVFAIL, NXDOMAIN]\n",
            false,
        ),
        (
            "query_name: example.com\nvalidate_answer_rrs:\n  fail_if_matches_regexp: [\".*7200.*\"]\n  fail_if_not_matches_regexp: [\".*3600.*\"]\n",
            true,
        ),
        (
            "query_name: example.com\nvalidate_authority_rrs:\n  fail_if_matches_regexp: [\".*7200.*\"]\n",
            true,
        ),
        (
            "query_name: example.com\nvalidate_additional_rrs:\n  fail_if_not_matches_regexp: [\".*3600.*\"]\n",
            false,
        ),
        ("query_name: example.com\nrecursion_desired: false\n", false),
    ];
    for transport in TRANSPORTS {
        for (block, want) in cases {
            let o = probe_dns(&with_transport(transport, block), &server.target()).await;
            assert_eq!(o.success, *want, "{transport}: {block}\n{}", o.dump());
            o.assert_success(*want);
            assert_eq!(o.value("probe_dns_query_succeeded"), 1.0, "{}", o.dump());
            if block.contains("recursion_desired: false") {
                assert_counts(&o, 0.0, 0.0, 0.0);
            } else {
                assert_counts(&o, 1.0, 0.0, 0.0);
            }
        }
    }
    // The server saw the RD bit as configured, on the right transport.
    let seen = server.seen();
    assert_eq!(seen.len(), cases.len() * 2);
    for (i, s) in seen.iter().enumerate() {
        let q = Message::from_vec(&s.raw).expect("query parses");
        let no_rd = i % cases.len() == cases.len() - 1;
        assert_eq!(q.metadata.recursion_desired, !no_rd, "query {i}");
        assert_eq!(s.transport, TRANSPORTS[i / cases.len()]);
    }
}

#[tokio::test]
async fn authoritative_dns_response() {
    let server = DnsServer::start(authoritative_handler()).await;
    let cases: &[(&str, bool)] = &[
        ("query_name: example.com\n", true),
        ("query_name: example.com\nquery_type: SOA\n", true),
        (
            "query_name: example.com\nquery_class: CH\nquery_type: TXT\nvalidate_answer_rrs:\n  fail_if_matches_regexp: [\".*IN.*\"]\n  fail_if_not_matches_regexp: [\".*CH.*\"]\n",
            true,
        ),
        (
            "query_name: example.com\nvalid_rcodes: [SERVFAIL, NXDOMAIN]\n",
            false,
        ),
        (
            "query_name: example.com\nvalidate_answer_rrs:\n  fail_if_matches_regexp: [\".*3600.*\"]\n  fail_if_not_matches_regexp: [\".*3600.*\"]\n",
            false,
        ),
        (
            "query_name: example.com\nvalidate_answer_rrs:\n  fail_if_matches_regexp: [\".*7200.*\"]\n  fail_if_not_matches_regexp: [\".*7200.*\"]\n",
            false,
        ),
        (
            "query_name: example.com\nvalidate_authority_rrs:\n  fail_if_not_matches_regexp: [\"ns.*.isp.net\"]\n",
            true,
        ),
        (
            "query_name: example.com\nvalidate_additional_rrs:\n  fail_if_not_matches_regexp: [\"^ns.*.isp\"]\n",
            true,
        ),
        (
            "query_name: example.com\nvalidate_additional_rrs:\n  fail_if_all_match_regexp: [\".*127.0.0.*\"]\n",
            false,
        ),
        (
            "query_name: example.com\nvalidate_additional_rrs:\n  fail_if_not_matches_regexp: [\".*127.0.0.*\"]\n",
            false,
        ),
        (
            "query_name: example.com\nvalidate_additional_rrs:\n  fail_if_none_matches_regexp: [\".*127.0.0.3.*\"]\n",
            false,
        ),
        (
            "query_name: example.com\nvalidate_additional_rrs:\n  fail_if_none_matches_regexp: [\".*127.0.0.1.*\"]\n",
            true,
        ),
    ];
    for transport in TRANSPORTS {
        for (block, want) in cases {
            let o = probe_dns(&with_transport(transport, block), &server.target()).await;
            assert_eq!(o.success, *want, "{transport}: {block}\n{}", o.dump());
            assert_eq!(o.value("probe_dns_query_succeeded"), 1.0);
            if block.contains("SOA") {
                assert_eq!(o.value("probe_dns_serial"), 1000.0, "{}", o.dump());
                assert_counts(&o, 1.0, 0.0, 0.0);
            } else {
                assert!(!o.metrics.has("probe_dns_serial"), "{}", o.dump());
                if block.contains("CH") {
                    assert_counts(&o, 1.0, 0.0, 0.0);
                } else {
                    assert_counts(&o, 1.0, 2.0, 3.0);
                }
            }
        }
    }
}

#[tokio::test]
async fn servfail_dns_response() {
    let server = DnsServer::start(servfail_handler()).await;
    for transport in TRANSPORTS {
        let o = probe_dns(
            &with_transport(transport, "query_name: example.com\n"),
            &server.target(),
        )
        .await;
        o.assert_success(false);
        assert_eq!(o.value("probe_dns_query_succeeded"), 1.0);
        let o = probe_dns(
            &with_transport(
                transport,
                "query_name: example.com\nvalid_rcodes: [SERVFAIL, NXDOMAIN]\n",
            ),
            &server.target(),
        )
        .await;
        o.assert_success(true);
        assert_counts(&o, 0.0, 0.0, 0.0);
        // `valid_rcodes: []` (empty, not absent) fails every probe, as upstream.
        let o = probe_dns(
            &with_transport(transport, "query_name: example.com\nvalid_rcodes: []\n"),
            &server.target(),
        )
        .await;
        o.assert_success(false);
        assert_eq!(o.value("probe_dns_query_succeeded"), 1.0);
    }
    // An invalid query type or rcode never reaches the prober: the config does not load.
    for (block, message) in [
        (
            "query_name: example.com\nquery_type: NOT_A_VALID_QUERY_TYPE\n",
            "query type 'NOT_A_VALID_QUERY_TYPE' is not valid",
        ),
        (
            "query_name: example.com\nvalid_rcodes: [NOT_A_VALID_RCODE]\n",
            "rcode 'NOT_A_VALID_RCODE' is not valid",
        ),
    ] {
        let yaml = format!("modules:\n  m:\n{}", support::indent(&dns_yaml(block), 4));
        let err = blackwatch::config::load_str(&yaml, std::path::Path::new("t.yml"))
            .expect_err("an invalid dns module must not load")
            .to_string();
        assert!(err.contains(message), "{err}");
    }
}

#[tokio::test]
async fn dns_protocol_selection() {
    let v4 = DnsServer::start(recursive_handler()).await;
    let port = v4.addr.port();
    // `localhost` resolves to 127.0.0.1 only here: ip4 picks it, and so does the ip6
    // default through the fallback.
    for (pref, want) in [("ip4", 4.0), ("ip6", 4.0)] {
        let yaml = format!(
            "prober: dns\ntimeout: 5s\ndns:\n  query_name: example.com\n  preferred_ip_protocol: {pref}\n"
        );
        let o = probe_with(&yaml, &format!("localhost:{port}")).await;
        o.assert_success(true);
        assert_eq!(o.value("probe_ip_protocol"), want, "{}", o.dump());
    }
    // ip6 without fallback cannot use 127.0.0.1.
    let yaml = "prober: dns\ntimeout: 5s\ndns:\n  query_name: example.com\n  ip_protocol_fallback: false\n";
    let o = probe_with(yaml, &format!("localhost:{port}")).await;
    o.assert_success(false);
    assert_eq!(o.value("probe_ip_protocol"), 0.0);
    assert_eq!(o.value("probe_dns_query_succeeded"), 0.0);

    // Over IPv6 loopback: the default (ip6) probes [::1].
    let v6 = DnsServer::start_on(
        "::1".parse().unwrap(),
        Listen::UdpAndTcp,
        recursive_handler(),
    )
    .await;
    for transport in TRANSPORTS {
        let yaml = format!(
            "prober: dns\ntimeout: 5s\ndns:\n  query_name: example.com\n  transport_protocol: {transport}\n"
        );
        let o = probe_with(&yaml, &v6.target()).await;
        o.assert_success(true);
        assert_eq!(o.value("probe_ip_protocol"), 6.0);
    }

    // No transport set means UDP: a TCP-only server fails it, and answers TCP.
    let tcp_only = DnsServer::start_on(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        Listen::TcpOnly,
        recursive_handler(),
    )
    .await;
    let o = probe_dns("query_name: example.com\n", &tcp_only.target()).await;
    o.assert_success(false);
    assert_eq!(o.value("probe_dns_query_succeeded"), 0.0);
    let o = probe_dns(
        "query_name: example.com\ntransport_protocol: tcp\n",
        &tcp_only.target(),
    )
    .await;
    o.assert_success(true);
}

#[tokio::test]
async fn dns_metrics_are_all_present() {
    let server = DnsServer::start(authoritative_handler()).await;
    for transport in TRANSPORTS {
        let o = probe_dns(
            &with_transport(transport, "query_name: example.com\n"),
            &server.target(),
        )
        .await;
        o.assert_success(true);
        for name in [
            "probe_dns_lookup_time_seconds",
            "probe_ip_protocol",
            "probe_ip_addr_hash",
            "probe_dns_answer_rrs",
            "probe_dns_authority_rrs",
            "probe_dns_additional_rrs",
            "probe_dns_query_succeeded",
        ] {
            assert!(o.metrics.has(name), "{name} missing\n{}", o.dump());
        }
        for phase in ["resolve", "connect", "request"] {
            let v = o.value_with("probe_dns_duration_seconds", &[("phase", phase)]);
            assert!(v > 0.0 && v < 5.0, "{phase} = {v}\n{}", o.dump());
        }
        assert_eq!(
            o.metrics
                .help
                .get("probe_dns_duration_seconds")
                .map(String::as_str),
            Some("Duration of DNS request by phase")
        );
        assert_eq!(o.value("probe_ip_addr_hash"), 3_668_918_509.0);
    }
}

// ---------------------------------------------------------------------------------------------
// What goes on the wire, and edge cases

#[tokio::test]
async fn query_has_one_question_random_id_and_no_edns() {
    let server = DnsServer::start(zone_handler()).await;
    for transport in TRANSPORTS {
        for _ in 0..3 {
            let o = probe_dns(
                &with_transport(
                    transport,
                    "query_name: example.com\nquery_type: MX\nquery_class: IN\n",
                ),
                &server.target(),
            )
            .await;
            o.assert_success(true);
        }
    }
    let seen = server.seen();
    assert_eq!(seen.len(), 6);
    let mut ids = std::collections::BTreeSet::new();
    for s in &seen {
        let q = Message::from_vec(&s.raw).expect("query parses");
        ids.insert(q.metadata.id);
        assert_eq!(q.queries.len(), 1);
        assert_eq!(q.queries[0].name().to_ascii(), "example.com.");
        assert_eq!(q.queries[0].query_type(), RecordType::MX);
        assert!(q.edns.is_none(), "no EDNS record");
        assert!(q.additionals.is_empty());
        // Header counts: 1 question, nothing else.
        assert_eq!(&s.raw[4..12], &[0, 1, 0, 0, 0, 0, 0, 0]);
    }
    assert!(ids.len() >= 5, "ids should be random: {ids:?}");
}

#[tokio::test]
async fn answer_with_another_id_is_skipped() {
    let server = DnsServer::start(zone_handler()).await;
    for transport in TRANSPORTS {
        let o = probe_dns(
            &with_transport(
                transport,
                "query_name: wrongid.example.com\nquery_type: A\nvalidate_answer_rrs:\n  fail_if_not_matches_regexp: [\"\\t127\\\\.0\\\\.0\\\\.1$\"]\n",
            ),
            &server.target(),
        )
        .await;
        o.assert_success(true);
    }
}

#[tokio::test]
async fn no_answer_times_out_with_phases_set() {
    let server = DnsServer::start(zone_handler()).await;
    let yaml = "prober: dns\ntimeout: 1s\ndns:\n  preferred_ip_protocol: ip4\n  query_name: noanswer.example.com\n";
    let o = probe_with(yaml, &server.target()).await;
    o.assert_success(false);
    assert_eq!(o.value("probe_dns_query_succeeded"), 0.0);
    let request = o.value_with("probe_dns_duration_seconds", &[("phase", "request")]);
    assert!(
        request > 0.8 && request <= 1.1,
        "request {request}\n{}",
        o.dump()
    );
    assert!(o.elapsed < Duration::from_secs(3));
}

#[tokio::test]
async fn closed_ports_fail() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    for transport in TRANSPORTS {
        let yaml = format!(
            "prober: dns\ntimeout: 1s\ndns:\n  preferred_ip_protocol: ip4\n  query_name: example.com\n  transport_protocol: {transport}\n"
        );
        let o = probe_with(&yaml, &format!("127.0.0.1:{port}")).await;
        o.assert_success(false);
        assert_eq!(o.value("probe_dns_query_succeeded"), 0.0);
        assert!(!o.metrics.has("probe_dns_serial"));
        for phase in ["resolve", "connect", "request"] {
            assert!(o
                .metrics
                .get_with("probe_dns_duration_seconds", &[("phase", phase)])
                .is_some());
        }
    }
}

#[tokio::test]
async fn nxdomain_fails_unless_listed() {
    let server = DnsServer::start(zone_handler()).await;
    let o = probe_dns("query_name: missing.example.com\n", &server.target()).await;
    o.assert_success(false);
    assert_eq!(o.value("probe_dns_query_succeeded"), 1.0);
    assert_counts(&o, 0.0, 1.0, 0.0);
    let o = probe_dns(
        "query_name: missing.example.com\nvalid_rcodes: [NXDOMAIN]\nvalidate_authority_rrs:\n  fail_if_none_matches_regexp: [\"SOA\"]\n",
        &server.target(),
    )
    .await;
    o.assert_success(true);
}

#[tokio::test]
async fn rr_text_is_miekg_format() {
    // Each line is matched by an anchored regex of the whole miekg text.
    let server = DnsServer::start(zone_handler()).await;
    let cases: &[(&str, &str, &str)] = &[
        (
            "example.com",
            "A",
            r"^example\.com\.\t3600\tIN\tA\t127\.0\.0\.1$",
        ),
        (
            "example.com",
            "AAAA",
            r"^example\.com\.\t3600\tIN\tAAAA\t2001:db8::1$",
        ),
        (
            "example.com",
            "MX",
            r"^example\.com\.\t3600\tIN\tMX\t10 mx\.example\.com\.$",
        ),
        (
            "example.com",
            "SOA",
            r"^example\.com\.\t3600\tIN\tSOA\tns\.example\.com\. admin\.example\.com\. 1000 3600 600 86400 300$",
        ),
        (
            "example.com",
            "TXT",
            r#"^example\.com\.\t300\tIN\tTXT\t"v=spf1 -all" "two words" "q\\"b\\\\s"$"#,
        ),
        (
            "example.com",
            "CAA",
            r#"^example\.com\.\t3600\tIN\tCAA\t0 issue "letsencrypt\.org"$"#,
        ),
        (
            "example.com",
            "DS",
            r"^example\.com\.\t3600\tIN\tDS\t12345 8 2 DEADBEEF0102$",
        ),
        (
            "example.com",
            "DNSKEY",
            r"^example\.com\.\t3600\tIN\tDNSKEY\t257 3 8 a2V5ZGF0YQ==$",
        ),
        (
            "www.example.com",
            "CNAME",
            r"^www\.example\.com\.\t600\tIN\tCNAME\texample\.com\.$",
        ),
        (
            "_sip._udp.example.com",
            "SRV",
            r"^_sip\._udp\.example\.com\.\t3600\tIN\tSRV\t1 5 5060 sip\.example\.com\.$",
        ),
        (
            "1.0.0.127.in-addr.arpa",
            "PTR",
            r"^1\.0\.0\.127\.in-addr\.arpa\.\t3600\tIN\tPTR\tlocalhost\.$",
        ),
    ];
    for transport in TRANSPORTS {
        for (qname, qtype, re) in cases {
            let block = format!(
                "query_name: {qname}\nquery_type: {qtype}\nvalidate_answer_rrs:\n  fail_if_not_matches_regexp: [{re:?}]\n"
            );
            let o = probe_dns(&with_transport(transport, &block), &server.target()).await;
            assert!(o.success, "{transport} {qname} {qtype}: {re}\n{}", o.dump());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// DNS over TLS

#[tokio::test]
async fn dns_over_tls() {
    support::install_crypto();
    let ca = TestCa::new("DoT CA");
    let ca_file = ca.write_ca_file();
    let config = server_config(&ca.localhost(), &TlsOptions::default().no_alpn());
    let server = DnsServer::start_tls(config, recursive_handler()).await;
    let ca_path = format!("{:?}", ca_file.display().to_string());
    let block = |extra: &str| {
        format!(
            "query_name: example.com\ntransport_protocol: tcp\ndns_over_tls: true\ntls_config:\n  ca_file: {ca_path}\n{extra}"
        )
    };
    // The server name defaults to the target host: 127.0.0.1 (an IP SAN) and localhost.
    let o = probe_dns(&block(""), &server.target()).await;
    o.assert_success(true);
    assert_counts(&o, 1.0, 0.0, 0.0);
    assert!(
        !o.metrics.has("probe_tls_version_info"),
        "no TLS metrics for DoT"
    );
    let o = probe_dns(&block(""), &format!("localhost:{}", server.addr.port())).await;
    o.assert_success(true);
    // A server name the certificate does not cover fails the handshake.
    let o = probe_dns(&block("  server_name: other.example\n"), &server.target()).await;
    o.assert_success(false);
    assert_eq!(o.value("probe_dns_query_succeeded"), 0.0);
    // An unknown CA fails too.
    let o = probe_dns(
        "query_name: example.com\ntransport_protocol: tcp\ndns_over_tls: true\n",
        &server.target(),
    )
    .await;
    o.assert_success(false);
    assert!(server.seen().iter().all(|s| s.transport == "tls"));
    assert_eq!(server.seen().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Shipped modules

#[tokio::test]
async fn shipped_modules_probe_loopback_peers() {
    support::install_crypto();
    let cfg = blackwatch::config::embedded().expect("embedded config loads");
    let dns_modules: Vec<&String> = cfg
        .modules
        .iter()
        .filter(|(_, m)| m.prober.name() == "dns")
        .map(|(n, _)| n)
        .collect();
    assert!(
        ["dns_udp", "dns_tcp", "dns_soa"]
            .iter()
            .all(|n| dns_modules.iter().any(|m| m == n)),
        "{dns_modules:?}"
    );
    let server = DnsServer::start(zone_handler()).await;
    let dnsmasq = Dnsmasq::start().await;
    for module in &dns_modules {
        if module.as_str() == "dns_dot" {
            continue;
        }
        let o = run_probe(&cfg, module, &server.target(), None).await;
        assert!(
            o.success,
            "{module} against the in-process server\n{}",
            o.dump()
        );
        if module.as_str() != "dns_soa" {
            let o = run_probe(&cfg, module, &dnsmasq.target(), None).await;
            assert!(o.success, "{module} against dnsmasq\n{}", o.dump());
        }
    }
}

/// `dns_dot` uses the system trust store, so it is probed through the real binary (built-in
/// modules, no config file) with `SSL_CERT_FILE` naming the test CA.
#[tokio::test]
async fn shipped_dns_dot_module_probes_a_loopback_dot_peer() {
    use std::io::{BufRead, BufReader};
    support::install_crypto();
    let ca = TestCa::new("DoT CA");
    let ca_file = ca.write_ca_file();
    let config = server_config(&ca.localhost(), &TlsOptions::default().no_alpn());
    let server = DnsServer::start_tls(config, zone_handler()).await;

    let mut child = Command::new(env!("CARGO_BIN_EXE_blackwatch"))
        .args(["--web.listen-address", "127.0.0.1:0"])
        .env("SSL_CERT_FILE", ca_file.as_os_str())
        .env_remove("SSL_CERT_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the blackwatch binary");
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stderr = child.stderr.take().expect("piped stderr");
    let child = Kill(child);
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = crate::support::process::listen_address(&line) {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(addr);
                }
            }
        }
    });
    let addr = tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .expect("blackwatch reports its address")
        .expect("address sent");
    for (target, want) in [
        (server.target(), "probe_success 1"),
        (
            format!("localhost:{}", server.addr.port()),
            "probe_success 1",
        ),
    ] {
        let (status, body) = crate::conformance::daemons::http_get(
            addr,
            &format!("/probe?module=dns_dot&target={target}"),
        )
        .await
        .expect("probe request");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(want), "{target}:\n{body}");
        assert!(body.contains("probe_dns_answer_rrs 1"), "{body}");
    }
    drop(child);
    assert_eq!(server.seen().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// dnsmasq

#[tokio::test]
async fn against_dnsmasq() {
    let dnsmasq = Dnsmasq::start().await;
    let target = dnsmasq.target();
    let cases: &[(&str, bool)] = &[
        (
            "query_name: example.test\nquery_type: A\nvalidate_answer_rrs:\n  fail_if_not_matches_regexp: [\"^example\\\\.test\\\\.\\t300\\tIN\\tA\\t127\\\\.0\\\\.0\\\\.1$\"]\n",
            true,
        ),
        (
            "query_name: example.test\nquery_type: TXT\nvalidate_answer_rrs:\n  fail_if_not_matches_regexp: [\"^example\\\\.test\\\\.\\t300\\tIN\\tTXT\\t\\\"v=spf1 -all\\\"$\"]\n",
            true,
        ),
        (
            "query_name: example.test\nquery_type: MX\nvalidate_answer_rrs:\n  fail_if_none_matches_regexp: [\"\\tMX\\t10 mail\\\\.example\\\\.test\\\\.$\"]\n",
            true,
        ),
        ("query_name: nope.test\nquery_type: A\n", false),
        (
            "query_name: nope.test\nquery_type: A\nvalid_rcodes: [NXDOMAIN]\n",
            true,
        ),
        // No upstream: anything outside the local names is REFUSED.
        ("query_name: example.org\nquery_type: A\n", false),
        (
            "query_name: example.org\nquery_type: A\nvalid_rcodes: [REFUSED]\n",
            true,
        ),
    ];
    for transport in TRANSPORTS {
        for (block, want) in cases {
            let o = probe_dns(&with_transport(transport, block), &target).await;
            assert_eq!(o.success, *want, "{transport}: {block}\n{}", o.dump());
            assert_eq!(o.value("probe_dns_query_succeeded"), 1.0);
        }
    }
}
