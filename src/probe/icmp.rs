//! The ICMP prober: exactly one echo request per probe, as blackbox_exporter's
//! `prober/icmp.go` sends it, built on surge-ping.
//!
//! * Address: the shared `choose_protocol` step (IPv4 and IPv6).
//! * Socket: an unprivileged datagram ICMP socket first (Linux needs the gid inside
//!   `net.ipv4.ping_group_range`), a raw socket (CAP_NET_RAW) when that is refused —
//!   surge-ping's own fallback order. `ttl` (when > 0) is set on the socket and
//!   `source_ip_address` binds it.
//! * `dont_fragment` (IPv4 only) forces a raw socket with a hand-built IP header carrying
//!   DF, TTL (`ttl`, or 64 when 0) and the source address, as upstream does. surge-ping
//!   cannot send such a packet, so that path has its own small raw-socket sender and
//!   receiver here ([`probe_dont_fragment`]).
//! * Echo: a random identifier per probe, the sequence from a process-wide counter that
//!   starts at a random value; the payload is `"Prometheus Blackbox Exporter"` or
//!   `payload_size` bytes starting with it.
//! * Reply: the first echo reply from the target with the same identifier and sequence
//!   (datagram sockets: the kernel owns the identifier) before the probe deadline. ICMP
//!   errors about the request do not count as replies: like upstream, which ignores them,
//!   the probe then fails when the deadline passes.
//!
//! Metrics: `probe_icmp_duration_seconds{phase}` (`resolve`, `setup`, `rtt`; all three
//! always present), and `probe_icmp_reply_hop_limit` on success when the reply's TTL was
//! readable. surge-ping exposes the TTL only from the IPv4 header a raw socket receives;
//! datagram sockets and IPv6 (where the hop limit arrives only as an `IPV6_HOPLIMIT`
//! control message that surge-ping does not request) leave the metric out, which
//! upstream also does when the control message is missing.
//!
//! Sockets are shared: probes with the same address family, TTL and source address on the
//! same tokio runtime use one surge-ping `Client` (one socket, one receive task), held
//! only while some probe uses it. A raw ICMP socket receives a copy of every ICMP packet
//! the host gets, so one socket per concurrent probe would make each reply fan out to all
//! of them; one shared socket dispatches each reply once, by (peer, identifier, sequence).
//! The `dont_fragment` path keeps upstream's socket per probe.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use surge_ping::{Client, Config, IcmpPacket, PingIdentifier, PingSequence, SurgeError, ICMP};
use tokio::time::Instant;

use super::module::IcmpModule;
use super::{resolve, Desc, ProbeCx};

/// `probe_icmp_duration_seconds{phase}`: resolve, setup, rtt.
pub const DURATION_SECONDS: Desc = Desc::new(
    "probe_icmp_duration_seconds",
    "Duration of icmp request by phase",
);
/// The reply's TTL, when it was readable.
pub const REPLY_HOP_LIMIT: Desc = Desc::new(
    "probe_icmp_reply_hop_limit",
    "Replied packet hop limit (TTL for ipv4)",
);

/// The payload upstream sends (and the start of a longer one).
pub const PAYLOAD: &[u8] = b"Prometheus Blackbox Exporter";

/// The TTL upstream writes into a hand-built IPv4 header when `ttl` is 0.
const DEFAULT_TTL: u8 = 64;

const ICMP_ECHO_REPLY_V4: u8 = 0;
const ICMP_ECHO_REQUEST_V4: u8 = 8;
const ICMP_ECHO_REPLY_V6: u8 = 129;

/// The echo payload for `payload_size`: 0 means the 28-byte upstream string; N > 0 means N
/// bytes, zero-filled, starting with that string (truncated when N < 28).
pub fn payload(payload_size: usize) -> Vec<u8> {
    if payload_size == 0 {
        return PAYLOAD.to_vec();
    }
    let mut data = vec![0; payload_size];
    let n = payload_size.min(PAYLOAD.len());
    data[..n].copy_from_slice(&PAYLOAD[..n]);
    data
}

/// A random `u64` from std's randomly keyed hasher (no RNG crate needed for an echo ID).
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// A random echo identifier (upstream master: random per probe, #1537).
fn random_identifier() -> u16 {
    (random_u64() >> 16) as u16
}

/// The next echo sequence number: a process-wide counter starting at a random value.
fn next_sequence() -> u16 {
    static SEQUENCE: OnceLock<AtomicU16> = OnceLock::new();
    SEQUENCE
        .get_or_init(|| AtomicU16::new(random_u64() as u16))
        .fetch_add(1, Ordering::Relaxed)
}

fn set_phase(cx: &mut ProbeCx, phase: &str, seconds: f64) {
    cx.registry
        .set_gauge_labeled(&DURATION_SECONDS, &[("phase", phase)], seconds);
}

/// Runs one ICMP echo probe against `target`.
pub async fn probe(target: &str, module: &IcmpModule, cx: &mut ProbeCx) -> bool {
    for phase in ["resolve", "setup", "rtt"] {
        set_phase(cx, phase, 0.0);
    }

    let resolved = resolve::choose_protocol(target, module.ip, cx).await;
    let dst = match resolved.ip {
        Ok(ip) => ip,
        Err(e) => {
            cx.log
                .error("Error resolving address", &[("err", &e.to_string())]);
            return false;
        }
    };
    set_phase(cx, "resolve", resolved.lookup_time.as_secs_f64());

    let source = match module.source_ip_address.as_deref() {
        None => None,
        Some(text) => match text.parse::<IpAddr>() {
            Ok(ip) => {
                cx.log
                    .info("Using source address", &[("srcIP", &ip.to_string())]);
                Some(ip)
            }
            Err(_) => {
                cx.log
                    .error("Error parsing source ip address", &[("srcIP", text)]);
                return false;
            }
        },
    };

    let setup_start = Instant::now();
    cx.log.info("Creating socket", &[]);
    let data = payload(module.payload_size);
    let id = random_identifier();
    let seq = next_sequence();

    let echo = Echo { id, seq, data };
    if let (IpAddr::V4(dst4), true) = (dst, module.dont_fragment) {
        return probe_dont_fragment(dst4, source, module.ttl, &echo, setup_start, cx).await;
    }
    probe_shared(dst, source, module.ttl, &echo, setup_start, cx).await
}

/// One echo over the shared surge-ping client for the family, TTL and source address.
async fn probe_shared(
    dst: IpAddr,
    source: Option<IpAddr>,
    ttl: u8,
    echo: &Echo,
    setup_start: Instant,
    cx: &mut ProbeCx,
) -> bool {
    let Echo { id, seq, data } = echo;
    if let Some(src) = source.filter(|src| src.is_ipv4() != dst.is_ipv4()) {
        // Go cannot listen on an address of the other family; Linux would quietly bind a
        // raw IPv4 socket to 0.0.0.0 instead, so refuse here.
        cx.log.error(
            "Error listening to socket",
            &[(
                "err",
                &format!("source address {src} is not of the target's address family"),
            )],
        );
        return false;
    }
    let key = ClientKey {
        runtime: tokio::runtime::Handle::current().id(),
        v6: dst.is_ipv6(),
        ttl,
        source,
    };
    let client = match shared_client(key) {
        Ok(client) => client,
        Err(e) => {
            cx.log
                .error("Error listening to socket", &[("err", &e.to_string())]);
            return false;
        }
    };
    let unprivileged = client.get_socket().get_type() == Type::DGRAM;
    cx.log.debug(
        "Using socket",
        &[(
            "type",
            if unprivileged {
                "unprivileged datagram"
            } else {
                "raw"
            },
        )],
    );
    cx.log.info(
        "Creating ICMP packet",
        &[("seq", &seq.to_string()), ("id", &id.to_string())],
    );
    let mut pinger = client.pinger(dst, PingIdentifier(*id)).await;
    pinger.timeout(cx.deadline.saturating_duration_since(Instant::now()));
    set_phase(cx, "setup", setup_start.elapsed().as_secs_f64());

    cx.log.info("Writing out packet", &[]);
    cx.log.info("Waiting for reply packets", &[]);
    // Timed here rather than taken from surge-ping, whose own RTT can read 0 on loopback.
    let rtt_start = Instant::now();
    let result = pinger.ping(PingSequence(*seq), data).await;
    let rtt = rtt_start.elapsed();
    reply_outcome(result, rtt, cx).await
}

/// Judges what surge-ping returned: only an echo reply succeeds (recording the rtt and,
/// when readable, the reply's TTL).
async fn reply_outcome(
    result: Result<(IcmpPacket, Duration), SurgeError>,
    rtt: Duration,
    cx: &mut ProbeCx,
) -> bool {
    match result {
        Ok((packet, _)) if is_echo_reply(&packet) => {
            set_phase(cx, "rtt", rtt.as_secs_f64());
            if let IcmpPacket::V4(reply) = &packet {
                if let Some(ttl) = reply.get_ttl() {
                    cx.registry.set_gauge(&REPLY_HOP_LIMIT, f64::from(ttl));
                }
            }
            cx.log.info("Found matching reply packet", &[]);
            true
        }
        Ok((packet, _)) => {
            // An ICMP error about the request (unreachable, time exceeded). Upstream only
            // accepts the exact echo reply and keeps reading until the deadline.
            let (kind, code) = icmp_type_code(&packet);
            cx.log.debug(
                "Ignoring ICMP message that is not the echo reply",
                &[("type", &kind.to_string()), ("code", &code.to_string())],
            );
            tokio::time::sleep_until(cx.deadline).await;
            cx.log.warn("Timeout reading from socket", &[]);
            false
        }
        Err(SurgeError::Timeout { .. }) => {
            cx.log.warn("Timeout reading from socket", &[]);
            false
        }
        Err(SurgeError::IOError(e)) => {
            cx.log
                .warn("Error writing to socket", &[("err", &e.to_string())]);
            false
        }
        Err(e) => {
            cx.log
                .error("Error sending ICMP echo", &[("err", &e.to_string())]);
            false
        }
    }
}

fn is_echo_reply(packet: &IcmpPacket) -> bool {
    match packet {
        IcmpPacket::V4(p) => p.get_icmp_type().0 == ICMP_ECHO_REPLY_V4 && p.get_icmp_code().0 == 0,
        IcmpPacket::V6(p) => {
            p.get_icmpv6_type().0 == ICMP_ECHO_REPLY_V6 && p.get_icmpv6_code().0 == 0
        }
    }
}

fn icmp_type_code(packet: &IcmpPacket) -> (u8, u8) {
    match packet {
        IcmpPacket::V4(p) => (p.get_icmp_type().0, p.get_icmp_code().0),
        IcmpPacket::V6(p) => (p.get_icmpv6_type().0, p.get_icmpv6_code().0),
    }
}

// ---------------------------------------------------------------------------
// Shared surge-ping clients
// ---------------------------------------------------------------------------

/// What makes two probes' sockets interchangeable. The runtime is part of it because a
/// client's socket and receive task belong to the runtime that created them.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct ClientKey {
    runtime: tokio::runtime::Id,
    v6: bool,
    ttl: u8,
    source: Option<IpAddr>,
}

/// Live clients, weakly held: a client lives while some probe holds it, and the next
/// probe after an idle moment opens a fresh socket.
fn clients() -> &'static Mutex<HashMap<ClientKey, Weak<Client>>> {
    static CLIENTS: OnceLock<Mutex<HashMap<ClientKey, Weak<Client>>>> = OnceLock::new();
    CLIENTS.get_or_init(|| Mutex::new(HashMap::new()))
}

fn shared_client(key: ClientKey) -> io::Result<Arc<Client>> {
    let mut map = crate::base::sync::lock(clients());
    if let Some(client) = map.get(&key).and_then(Weak::upgrade) {
        return Ok(client);
    }
    map.retain(|_, client| client.strong_count() > 0);
    let mut builder = Config::builder()
        .kind(if key.v6 { ICMP::V6 } else { ICMP::V4 })
        .sock_type_hint(Type::DGRAM);
    if key.ttl > 0 {
        builder = builder.ttl(u32::from(key.ttl));
    }
    if let Some(source) = key.source {
        builder = builder.bind(SocketAddr::new(source, 0));
    }
    let client = Arc::new(Client::new(&builder.build())?);
    map.insert(key, Arc::downgrade(&client));
    Ok(client)
}

// ---------------------------------------------------------------------------
// dont_fragment: raw IPv4 with a hand-built header
// ---------------------------------------------------------------------------

/// One echo request's contents.
struct Echo {
    id: u16,
    seq: u16,
    data: Vec<u8>,
}

/// The Internet checksum (RFC 1071).
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMPv4 echo message of `kind` (request or reply) with its checksum.
fn icmp_v4_echo(kind: u8, echo: &Echo) -> Vec<u8> {
    let mut msg = Vec::with_capacity(8 + echo.data.len());
    msg.extend_from_slice(&[kind, 0, 0, 0]);
    msg.extend_from_slice(&echo.id.to_be_bytes());
    msg.extend_from_slice(&echo.seq.to_be_bytes());
    msg.extend_from_slice(&echo.data);
    let sum = checksum(&msg);
    msg[2..4].copy_from_slice(&sum.to_be_bytes());
    msg
}

/// A 20-byte IPv4 header with DF set, protocol ICMP, and `src` (0.0.0.0: the kernel
/// picks it), followed by `payload`.
fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, payload: &[u8]) -> io::Result<Vec<u8>> {
    let total = u16::try_from(20 + payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "packet too large"))?;
    let mut packet = Vec::with_capacity(usize::from(total));
    packet.extend_from_slice(&[0x45, 0]);
    packet.extend_from_slice(&total.to_be_bytes());
    // Identification 0 (the kernel fills it in), flags DF, fragment offset 0.
    packet.extend_from_slice(&[0, 0, 0x40, 0]);
    packet.extend_from_slice(&[ttl, 1, 0, 0]);
    packet.extend_from_slice(&src.octets());
    packet.extend_from_slice(&dst.octets());
    let sum = checksum(&packet);
    packet[10..12].copy_from_slice(&sum.to_be_bytes());
    packet.extend_from_slice(payload);
    Ok(packet)
}

/// A raw ICMPv4 socket with `IP_HDRINCL`, bound to `src`, registered with tokio.
fn raw_hdrincl_socket(src: Ipv4Addr) -> io::Result<tokio::net::UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))?;
    socket.set_header_included_v4(true)?;
    if !src.is_unspecified() {
        socket.bind(&SocketAddr::new(IpAddr::V4(src), 0).into())?;
    }
    socket.set_nonblocking(true)?;
    tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(socket))
}

/// The IPv4 TTL and ICMP message of a raw-socket read, if it is a whole ICMP packet.
fn split_ipv4(packet: &[u8]) -> Option<(u8, &[u8])> {
    let first = *packet.first()?;
    let header_len = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header_len < 20 || packet.len() < header_len + 8 || packet[9] != 1 {
        return None;
    }
    Some((packet[8], &packet[header_len..]))
}

/// `dont_fragment` on IPv4: a raw socket, the IP header built here with DF set, and
/// replies read until the deadline; the reply must match the expected echo reply byte for
/// byte. The hop limit comes from the reply's IP header.
async fn probe_dont_fragment(
    dst: Ipv4Addr,
    source: Option<IpAddr>,
    ttl: u8,
    echo: &Echo,
    setup_start: Instant,
    cx: &mut ProbeCx,
) -> bool {
    let src = match source {
        None => Ipv4Addr::UNSPECIFIED,
        Some(IpAddr::V4(src)) => src,
        Some(IpAddr::V6(src)) => {
            cx.log.error(
                "Error listening to socket",
                &[(
                    "err",
                    &format!("source address {src} is not an IPv4 address"),
                )],
            );
            return false;
        }
    };
    let socket = match raw_hdrincl_socket(src) {
        Ok(socket) => socket,
        Err(e) => {
            cx.log
                .error("Error listening to socket", &[("err", &e.to_string())]);
            return false;
        }
    };
    cx.log.debug("Using socket", &[("type", "raw")]);
    cx.log.info(
        "Creating ICMP packet",
        &[("seq", &echo.seq.to_string()), ("id", &echo.id.to_string())],
    );
    let request = icmp_v4_echo(ICMP_ECHO_REQUEST_V4, echo);
    let expected = icmp_v4_echo(ICMP_ECHO_REPLY_V4, echo);
    let ttl = if ttl == 0 { DEFAULT_TTL } else { ttl };
    let packet = match ipv4_packet(src, dst, ttl, &request) {
        Ok(packet) => packet,
        Err(e) => {
            cx.log
                .error("Error marshalling packet", &[("err", &e.to_string())]);
            return false;
        }
    };
    set_phase(cx, "setup", setup_start.elapsed().as_secs_f64());

    cx.log.info("Writing out packet", &[]);
    let rtt_start = Instant::now();
    let peer = SocketAddr::new(IpAddr::V4(dst), 0);
    if let Err(e) = socket.send_to(&packet, peer).await {
        cx.log
            .warn("Error writing to socket", &[("err", &e.to_string())]);
        return false;
    }

    cx.log.info("Waiting for reply packets", &[]);
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = match tokio::time::timeout_at(cx.deadline, socket.recv_from(&mut buf)).await
        {
            Err(_) => {
                cx.log.warn("Timeout reading from socket", &[]);
                return false;
            }
            Ok(Err(e)) => {
                cx.log
                    .error("Error reading from socket", &[("err", &e.to_string())]);
                // Upstream keeps reading; a short pause keeps a persistent error from
                // spinning until the deadline.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            Ok(Ok(read)) => read,
        };
        if from.ip() != IpAddr::V4(dst) {
            continue;
        }
        let Some((reply_ttl, message)) = split_ipv4(&buf[..n]) else {
            continue;
        };
        if message == expected.as_slice() {
            set_phase(cx, "rtt", rtt_start.elapsed().as_secs_f64());
            cx.registry
                .set_gauge(&REPLY_HOP_LIMIT, f64::from(reply_ttl));
            cx.log.info("Found matching reply packet", &[]);
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_follows_payload_size() {
        assert_eq!(payload(0), PAYLOAD);
        assert_eq!(payload(0).len(), 28);
        let long = payload(100);
        assert_eq!(long.len(), 100);
        assert_eq!(&long[..28], PAYLOAD);
        assert!(long[28..].iter().all(|b| *b == 0));
        assert_eq!(payload(10), b"Prometheus");
        assert_eq!(payload(28), PAYLOAD);
    }

    #[test]
    fn checksum_of_a_known_echo_request() {
        // `ping` echo request: type 8, id 0x1234, seq 1, payload "hello".
        let echo = Echo {
            id: 0x1234,
            seq: 1,
            data: b"hello".to_vec(),
        };
        let msg = icmp_v4_echo(ICMP_ECHO_REQUEST_V4, &echo);
        assert_eq!(&msg[..2], &[8, 0]);
        assert_eq!(
            checksum(&msg),
            0,
            "a message with its checksum sums to zero"
        );
        let reply = icmp_v4_echo(ICMP_ECHO_REPLY_V4, &echo);
        assert_eq!(reply[0], 0);
        assert_eq!(checksum(&reply), 0);
        assert_eq!(&reply[4..], &msg[4..]);
    }

    #[test]
    fn ipv4_header_sets_df_ttl_and_addresses() {
        let packet = ipv4_packet(
            Ipv4Addr::new(127, 0, 0, 1),
            Ipv4Addr::new(127, 0, 0, 2),
            5,
            &[1, 2, 3, 4, 5, 6, 7, 8],
        )
        .unwrap();
        assert_eq!(packet.len(), 28);
        assert_eq!(packet[0], 0x45);
        assert_eq!(u16::from_be_bytes([packet[2], packet[3]]), 28);
        assert_eq!(packet[6] & 0x40, 0x40, "DF");
        assert_eq!(packet[8], 5, "TTL");
        assert_eq!(packet[9], 1, "protocol ICMP");
        assert_eq!(checksum(&packet[..20]), 0);
        assert_eq!(&packet[12..16], &[127, 0, 0, 1]);
        assert_eq!(&packet[16..20], &[127, 0, 0, 2]);
        let (ttl, message) = split_ipv4(&packet).unwrap();
        assert_eq!(ttl, 5);
        assert_eq!(message, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(split_ipv4(&packet[..20]).is_none());
    }

    #[test]
    fn sequence_counts_up_and_identifiers_vary() {
        let a = next_sequence();
        let b = next_sequence();
        assert_ne!(a, b);
        let ids: std::collections::BTreeSet<u16> = (0..64).map(|_| random_identifier()).collect();
        assert!(ids.len() > 32, "identifiers should be random: {ids:?}");
    }
}
