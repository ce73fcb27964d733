//! The icmp prober against the machine's own loopback addresses (127.0.0.1, 127.0.0.2, ::1).
//!
//! ICMP needs a raw socket (CAP_NET_RAW) or the kernel's unprivileged ping sockets
//! (`net.ipv4.ping_group_range`). CI runs as root, where raw sockets must work: a refused
//! socket then fails the test. A developer running as another user gets a visible
//! "skipping" line with the errno instead.
//!
//! What went on the wire is checked with a raw-socket sniffer: it sees every ICMP packet
//! delivered on loopback, and picks the probe's own echo request by the identifier and
//! sequence the probe log names.
//!
//! Two behaviours need a network namespace (`unshare -n`, root only), where the test binary
//! re-runs itself ([`netns_inner`]): unprivileged datagram sockets (the main namespace has
//! `ping_group_range` = `1 0`) and a target that never answers (`icmp_echo_ignore_all`),
//! without sending anything off the machine.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use blackwatch::config;
use blackwatch::probe::Prober;
use socket2::{Domain, Protocol, Socket, Type};

use crate::support::{probe_with, run_probe, Daemon, Outcome};

const PHASE: &str = "probe_icmp_duration_seconds";
const HOP_LIMIT: &str = "probe_icmp_reply_hop_limit";
/// `probe_ip_addr_hash` of 127.0.0.1 and ::1 (FNV-1a 32, as blackbox_exporter reports).
const HASH_127_0_0_1: f64 = 3_668_918_509.0;
const HASH_V6_LOOPBACK: f64 = 1_751_717_746.0;
const UPSTREAM_PAYLOAD: &[u8] = b"Prometheus Blackbox Exporter";

/// Set by [`unprivileged_sockets_and_unanswered_echoes_in_a_network_namespace`] for the
/// copy of this binary it runs inside the namespace.
const NETNS_ENV: &str = "BLACKWATCH_ICMP_IN_NETNS";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The effective uid, from /proc (no libc in the test crate).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Whether raw ICMP sockets work here. As root they must (CI): a refusal panics. As any
/// other user the reason is printed and the caller skips.
fn raw_icmp_available(test: &str) -> bool {
    match Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)) {
        Ok(_) => true,
        Err(e) if effective_uid() == Some(0) => {
            panic!("{test}: running as root, yet the raw ICMP socket was refused: {e}")
        }
        Err(e) => {
            eprintln!(
                "{test}: SKIPPED: raw ICMP sockets are refused for uid {:?} ({e}, errno {:?}); \
                 run as root or grant CAP_NET_RAW",
                effective_uid(),
                e.raw_os_error()
            );
            false
        }
    }
}

macro_rules! require_icmp {
    ($name:expr) => {
        if !raw_icmp_available($name) {
            return;
        }
    };
}

/// A module `prober: icmp` with a 5 s timeout and this `icmp:` block (YAML lines).
fn icmp_module(block: &[&str]) -> String {
    let mut yaml = String::from("prober: icmp\ntimeout: 5s\n");
    if block.is_empty() {
        return yaml;
    }
    yaml.push_str("icmp:\n");
    for line in block {
        yaml.push_str("  ");
        yaml.push_str(line);
        yaml.push('\n');
    }
    yaml
}

async fn ping(block: &[&str], target: &str) -> Outcome {
    probe_with(&icmp_module(block), target).await
}

/// Asserts the three phases are present; returns (resolve, setup, rtt).
#[track_caller]
fn phases(o: &Outcome) -> (f64, f64, f64) {
    let phase = |p: &str| {
        o.metrics
            .get_with(PHASE, &[("phase", p)])
            .unwrap_or_else(|| panic!("phase {p} missing\n{}", o.dump()))
    };
    assert_eq!(o.metrics.family(PHASE).len(), 3, "{}", o.dump());
    (phase("resolve"), phase("setup"), phase("rtt"))
}

/// A successful probe: success, the three phases non-zero, plausible.
#[track_caller]
fn assert_replied(o: &Outcome) {
    o.assert_success(true);
    let (resolve, setup, rtt) = phases(o);
    for (name, v) in [("resolve", resolve), ("setup", setup), ("rtt", rtt)] {
        assert!(v > 0.0 && v < 5.0, "{name} = {v}\n{}", o.dump());
    }
    assert!(
        o.log.contains("Found matching reply packet"),
        "{}",
        o.dump()
    );
}

/// The echo identifier and sequence the probe log reports.
#[track_caller]
fn logged_id_seq(o: &Outcome) -> (u16, u16) {
    let line = o
        .log
        .lines()
        .find(|l| l.contains("msg=\"Creating ICMP packet\""))
        .unwrap_or_else(|| panic!("no packet line in the log\n{}", o.dump()));
    let field = |name: &str| -> u16 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
    };
    (field("id"), field("seq"))
}

/// An IPv4 echo request as captured on loopback.
#[derive(Debug)]
struct WireRequest {
    src: Ipv4Addr,
    ttl: u8,
    dont_fragment: bool,
    payload: Vec<u8>,
}

/// A raw ICMPv4 socket collecting what loopback delivers.
struct Sniffer {
    socket: tokio::net::UdpSocket,
}

impl Sniffer {
    fn start() -> Self {
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
            .expect("raw sniffer socket");
        socket.set_nonblocking(true).expect("non-blocking");
        let socket = tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(socket))
            .expect("register the sniffer with tokio");
        Self { socket }
    }

    /// The echo request with this identifier and sequence; panics after 5 s.
    async fn request(&self, id: u16, seq: u16) -> WireRequest {
        let mut buf = vec![0u8; 65_536];
        let find = async {
            loop {
                let (n, _) = self.socket.recv_from(&mut buf).await.expect("sniff");
                let packet = &buf[..n];
                let header = usize::from(packet[0] & 0x0f) * 4;
                if n < header + 8 {
                    continue;
                }
                let icmp = &packet[header..];
                if icmp[0] == 8
                    && u16::from_be_bytes([icmp[4], icmp[5]]) == id
                    && u16::from_be_bytes([icmp[6], icmp[7]]) == seq
                {
                    return WireRequest {
                        src: Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]),
                        ttl: packet[8],
                        dont_fragment: packet[6] & 0x40 != 0,
                        payload: icmp[8..].to_vec(),
                    };
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), find)
            .await
            .unwrap_or_else(|_| panic!("no echo request id={id} seq={seq} seen on loopback"))
    }
}

/// Pings 127.0.0.1 with `block` and returns the outcome plus the request as sent.
async fn ping_and_sniff(block: &[&str]) -> (Outcome, WireRequest) {
    ping_and_sniff_target(block, "127.0.0.1").await
}

async fn ping_and_sniff_target(block: &[&str], target: &str) -> (Outcome, WireRequest) {
    let sniffer = Sniffer::start();
    let o = ping(block, target).await;
    let (id, seq) = logged_id_seq(&o);
    let wire = sniffer.request(id, seq).await;
    (o, wire)
}

fn expected_payload(size: usize) -> Vec<u8> {
    let mut data = vec![0u8; size];
    let n = size.min(UPSTREAM_PAYLOAD.len());
    data[..n].copy_from_slice(&UPSTREAM_PAYLOAD[..n]);
    data
}

// ---------------------------------------------------------------------------
// Loopback echoes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn ipv4_loopback_replies() {
    require_icmp!("ipv4_loopback_replies");
    let (o, wire) = ping_and_sniff(&[]).await;
    assert_replied(&o);
    assert_eq!(o.value("probe_ip_protocol"), 4.0);
    assert_eq!(o.value("probe_ip_addr_hash"), HASH_127_0_0_1);
    assert!(o.value("probe_dns_lookup_time_seconds") > 0.0);
    assert_eq!(
        o.value_with(PHASE, &[("phase", "resolve")]),
        o.value("probe_dns_lookup_time_seconds"),
        "resolve is the address lookup"
    );
    // A raw IPv4 socket reads the reply's TTL from its IP header; loopback answers with 64.
    assert_eq!(o.value(HOP_LIMIT), 64.0, "{}", o.dump());
    assert_eq!(
        o.metrics.help.get(PHASE).map(String::as_str),
        Some("Duration of icmp request by phase")
    );
    assert_eq!(
        o.metrics.help.get(HOP_LIMIT).map(String::as_str),
        Some("Replied packet hop limit (TTL for ipv4)")
    );
    // Upstream's defaults on the wire: the 28-byte payload and TTL 64.
    assert_eq!(wire.payload, UPSTREAM_PAYLOAD, "{wire:?}");
    assert_eq!(wire.ttl, 64, "{wire:?}");
    assert!(o.log.contains("type=raw"), "{}", o.dump());
}

#[tokio::test]
async fn ipv6_loopback_replies() {
    require_icmp!("ipv6_loopback_replies");
    let o = ping(&[], "::1").await;
    assert_replied(&o);
    assert_eq!(o.value("probe_ip_protocol"), 6.0);
    assert_eq!(o.value("probe_ip_addr_hash"), HASH_V6_LOOPBACK);
    // The IPv6 hop limit arrives only as a control message surge-ping does not ask for,
    // so the metric is left out, as upstream does when the control message is missing.
    assert!(!o.metrics.has(HOP_LIMIT), "{}", o.dump());
}

#[tokio::test]
async fn ipv6_literal_in_brackets_replies() {
    require_icmp!("ipv6_literal_in_brackets_replies");
    let o = ping(&[], "[::1]").await;
    assert_replied(&o);
    assert_eq!(o.value("probe_ip_protocol"), 6.0);
}

#[tokio::test]
async fn ip4_preferred_pings_ipv4() {
    require_icmp!("ip4_preferred_pings_ipv4");
    let o = ping(&["preferred_ip_protocol: ip4"], "127.0.0.1").await;
    assert_replied(&o);
    assert_eq!(o.value("probe_ip_protocol"), 4.0);
}

#[tokio::test]
async fn localhost_with_ip6_preferred_falls_back_to_ipv4() {
    require_icmp!("localhost_with_ip6_preferred_falls_back_to_ipv4");
    // /etc/hosts maps localhost to 127.0.0.1 only.
    let o = ping(&[], "localhost").await;
    assert_replied(&o);
    assert_eq!(o.value("probe_ip_protocol"), 4.0);
    assert_eq!(o.value("probe_ip_addr_hash"), HASH_127_0_0_1);
}

#[tokio::test]
async fn ip6_without_fallback_fails_on_an_ipv4_target() {
    let o = ping(
        &["preferred_ip_protocol: ip6", "ip_protocol_fallback: false"],
        "127.0.0.1",
    )
    .await;
    o.assert_success(false);
    assert_eq!(o.value("probe_ip_protocol"), 0.0);
    assert_eq!(o.value("probe_ip_addr_hash"), 0.0);
    // The three phases are there from the start, all zero.
    assert_eq!(phases(&o), (0.0, 0.0, 0.0));
    assert!(!o.metrics.has(HOP_LIMIT));
    assert!(o.log.contains("Error resolving address"), "{}", o.dump());
}

#[tokio::test]
async fn payload_size_sets_the_echo_data() {
    require_icmp!("payload_size_sets_the_echo_data");
    for size in [100, 10] {
        let line = format!("payload_size: {size}");
        let (o, wire) = ping_and_sniff(&[&line]).await;
        assert_replied(&o);
        assert_eq!(wire.payload.len(), size, "{wire:?}");
        assert_eq!(wire.payload, expected_payload(size), "{wire:?}");
    }
}

#[tokio::test]
async fn ttl_is_set_on_the_request() {
    require_icmp!("ttl_is_set_on_the_request");
    let (o, wire) = ping_and_sniff(&["ttl: 5"]).await;
    assert_replied(&o);
    assert_eq!(wire.ttl, 5, "{wire:?}");
    // The reply is the kernel's own, with its own TTL.
    assert_eq!(o.value(HOP_LIMIT), 64.0);

    // 0 leaves the OS default (64 on Linux).
    let (o, wire) = ping_and_sniff(&["ttl: 0"]).await;
    assert_replied(&o);
    assert_eq!(wire.ttl, 64, "{wire:?}");

    let o = ping(&["ttl: 5"], "::1").await;
    assert_replied(&o);
}

#[tokio::test]
async fn dont_fragment_sends_a_hand_built_ipv4_header() {
    require_icmp!("dont_fragment_sends_a_hand_built_ipv4_header");
    let (o, wire) = ping_and_sniff(&[
        "dont_fragment: true",
        "ttl: 9",
        "payload_size: 40",
        "source_ip_address: 127.0.0.3",
    ])
    .await;
    assert_replied(&o);
    assert!(wire.dont_fragment, "{wire:?}");
    assert_eq!(wire.ttl, 9, "{wire:?}");
    assert_eq!(wire.src, Ipv4Addr::new(127, 0, 0, 3), "{wire:?}");
    assert_eq!(wire.payload, expected_payload(40), "{wire:?}");
    assert_eq!(o.value(HOP_LIMIT), 64.0, "{}", o.dump());
    assert!(o.log.contains("type=raw"), "{}", o.dump());

    // ttl 0 means 64 in the hand-built header, as upstream.
    let (o, wire) = ping_and_sniff(&["dont_fragment: true", "ttl: 0"]).await;
    assert_replied(&o);
    assert!(wire.dont_fragment && wire.ttl == 64, "{wire:?}");
    assert_eq!(
        wire.src,
        Ipv4Addr::LOCALHOST,
        "the kernel fills in the source"
    );

    // An IPv6 source cannot go into an IPv4 header.
    let o = ping(
        &["dont_fragment: true", "source_ip_address: '::1'"],
        "127.0.0.1",
    )
    .await;
    o.assert_success(false);
    assert!(o.log.contains("Error listening to socket"), "{}", o.dump());
}

#[tokio::test]
async fn dont_fragment_is_ignored_for_ipv6() {
    require_icmp!("dont_fragment_is_ignored_for_ipv6");
    let o = ping(&["dont_fragment: true"], "::1").await;
    assert_replied(&o);
    assert_eq!(o.value("probe_ip_protocol"), 6.0);
}

#[tokio::test]
async fn source_ip_address_binds_the_socket() {
    require_icmp!("source_ip_address_binds_the_socket");
    let (o, wire) = ping_and_sniff(&["source_ip_address: 127.0.0.1"]).await;
    assert_replied(&o);
    assert_eq!(wire.src, Ipv4Addr::LOCALHOST);
    assert!(o.log.contains("Using source address"), "{}", o.dump());

    let (o, wire) = ping_and_sniff(&["source_ip_address: 127.0.0.2"]).await;
    assert_replied(&o);
    assert_eq!(wire.src, Ipv4Addr::new(127, 0, 0, 2), "{wire:?}");

    let o = ping(&["source_ip_address: '::1'"], "::1").await;
    assert_replied(&o);
}

#[tokio::test]
async fn unparsable_source_ip_address_fails_after_resolving() {
    let o = ping(&["source_ip_address: not-an-ip"], "127.0.0.1").await;
    o.assert_success(false);
    let (resolve, setup, rtt) = phases(&o);
    assert!(resolve > 0.0, "{}", o.dump());
    assert_eq!((setup, rtt), (0.0, 0.0), "{}", o.dump());
    assert_eq!(o.value("probe_ip_protocol"), 4.0);
    assert!(
        o.log.contains("Error parsing source ip address") && o.log.contains("srcIP=not-an-ip"),
        "{}",
        o.dump()
    );
}

#[tokio::test]
async fn source_of_the_other_family_fails() {
    require_icmp!("source_of_the_other_family_fails");
    let o = ping(&["source_ip_address: '::1'"], "127.0.0.1").await;
    o.assert_success(false);
    assert!(o.log.contains("Error listening to socket"), "{}", o.dump());
    assert!(!o.metrics.has(HOP_LIMIT));
    assert_eq!(phases(&o).2, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_probes_all_get_their_own_reply() {
    require_icmp!("many_concurrent_probes_all_get_their_own_reply");
    let mut tasks = Vec::new();
    for i in 0..96 {
        let target = if i % 2 == 0 { "127.0.0.1" } else { "::1" };
        tasks.push(tokio::spawn(async move { ping(&[], target).await }));
    }
    let mut ids = BTreeSet::new();
    for task in tasks {
        let o = task.await.expect("probe task");
        assert_replied(&o);
        ids.insert(logged_id_seq(&o));
    }
    assert_eq!(ids.len(), 96, "every probe used its own (id, seq)");
}

// ---------------------------------------------------------------------------
// Shipped modules and the /probe endpoint
// ---------------------------------------------------------------------------

#[tokio::test]
async fn every_shipped_icmp_module_probes_loopback() {
    require_icmp!("every_shipped_icmp_module_probes_loopback");
    let cfg = config::embedded().unwrap_or_else(|e| panic!("embedded config: {e}"));
    let names: BTreeSet<&str> = cfg
        .modules
        .iter()
        .filter(|(_, m)| matches!(m.prober, Prober::Icmp(_)))
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["icmp", "icmp_ip4", "icmp_ip6", "icmp_ttl5"]),
        "a new shipped icmp module needs a case here"
    );
    for (module, target, protocol) in [
        ("icmp", "127.0.0.1", 4.0),
        ("icmp", "::1", 6.0),
        ("icmp_ip4", "127.0.0.1", 4.0),
        ("icmp_ip4", "localhost", 4.0),
        ("icmp_ip6", "::1", 6.0),
        ("icmp_ttl5", "127.0.0.1", 4.0),
    ] {
        let o = run_probe(&cfg, module, target, None).await;
        assert_replied(&o);
        assert_eq!(o.value("probe_ip_protocol"), protocol, "{module} {target}");
    }
    let o = run_probe(&cfg, "icmp_ip6", "127.0.0.1", None).await;
    o.assert_success(false);
}

#[tokio::test]
async fn probe_endpoint_serves_icmp() {
    require_icmp!("probe_endpoint_serves_icmp");
    let daemon = Daemon::start("modules:\n  ping:\n    prober: icmp\n    timeout: 5s\n").await;
    let resp = daemon.get("/probe?module=ping&target=127.0.0.1").await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let m = resp.metrics();
    assert_eq!(m.value("probe_success"), 1.0, "{}", resp.text());
    assert_eq!(m.value("probe_timeout_seconds"), 5.0);
    assert!(m.get_with(PHASE, &[("phase", "rtt")]).unwrap_or(0.0) > 0.0);
}

// ---------------------------------------------------------------------------
// Inside a network namespace: datagram sockets and unanswered echoes
// ---------------------------------------------------------------------------

/// Sets up a fresh network namespace (loopback up, unprivileged ping sockets allowed for
/// every gid) and runs [`netns_inner`] there.
#[test]
fn unprivileged_sockets_and_unanswered_echoes_in_a_network_namespace() {
    if effective_uid() != Some(0) {
        eprintln!(
            "unprivileged_sockets_and_unanswered_echoes_in_a_network_namespace: SKIPPED: \
             `unshare -n` needs root (uid {:?})",
            effective_uid()
        );
        return;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let script = "ip link set lo up && \
                  echo '0 2147483647' > /proc/sys/net/ipv4/ping_group_range && \
                  exec \"$1\" --exact icmp::netns_inner --ignored --nocapture --test-threads=1";
    let output = Command::new("unshare")
        .args(["-n", "sh", "-c", script, "sh"])
        .arg(&exe)
        .env(NETNS_ENV, "1")
        .output()
        .expect("running unshare (util-linux)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("NETNS CHECKS DONE"),
        "the in-namespace checks failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
}

/// Runs only inside the namespace set up by the test above.
#[tokio::test]
#[ignore = "run inside a network namespace by unprivileged_sockets_and_unanswered_echoes_in_a_network_namespace"]
async fn netns_inner() {
    if std::env::var_os(NETNS_ENV).is_none() {
        eprintln!("netns_inner: only meaningful inside the namespace its outer test makes");
        return;
    }
    // Unprivileged ping sockets are allowed here, so they are what the prober picks.
    Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4))
        .expect("ping_group_range allows datagram ICMP sockets in the namespace");
    for target in ["127.0.0.1", "::1"] {
        let o = ping(&[], target).await;
        assert_replied(&o);
        assert!(
            o.log.contains("type=\"unprivileged datagram\""),
            "{target}: {}",
            o.dump()
        );
        // A datagram socket hands over the ICMP message only; the TTL is not readable.
        assert!(!o.metrics.has(HOP_LIMIT), "{}", o.dump());
    }
    let o = ping(&["ttl: 3", "payload_size: 64"], "127.0.0.1").await;
    assert_replied(&o);

    // dont_fragment still forces a raw socket.
    let o = ping(&["dont_fragment: true"], "127.0.0.1").await;
    assert_replied(&o);
    assert!(o.log.contains("type=raw"), "{}", o.dump());
    assert_eq!(o.value(HOP_LIMIT), 64.0);

    // Nobody answers echoes any more: the probe waits for its deadline and fails.
    std::fs::write("/proc/sys/net/ipv4/icmp_echo_ignore_all", "1").expect("ignore v4 echoes");
    std::fs::write("/proc/sys/net/ipv6/icmp/echo_ignore_all", "1").expect("ignore v6 echoes");
    for (block, target) in [
        (&[][..], "127.0.0.1"),
        (&[][..], "::1"),
        (&["dont_fragment: true"][..], "127.0.0.1"),
    ] {
        let mut yaml = icmp_module(block);
        yaml = yaml.replace("timeout: 5s", "timeout: 1s");
        let o = probe_with(&yaml, target).await;
        o.assert_success(false);
        assert!(
            o.elapsed >= Duration::from_millis(900) && o.elapsed < Duration::from_secs(4),
            "{target} {block:?}: took {:?}\n{}",
            o.elapsed,
            o.dump()
        );
        let (_, setup, rtt) = phases(&o);
        assert!(setup > 0.0 && rtt == 0.0, "{}", o.dump());
        assert!(!o.metrics.has(HOP_LIMIT));
        assert!(
            o.log.contains("Timeout reading from socket") || o.log.contains("Probe timed out"),
            "{}",
            o.dump()
        );
    }
    // No route at all in this namespace: the send fails at once.
    for target in ["10.255.0.1", "2001:db8::1"] {
        let o = ping(&[], target).await;
        o.assert_success(false);
        assert!(o.elapsed < Duration::from_secs(1), "{}", o.dump());
        assert!(o.log.contains("Error writing to socket"), "{}", o.dump());
        assert_eq!(phases(&o).2, 0.0);
    }
    // A source address that is not on any interface cannot be bound.
    let o = ping(&["source_ip_address: 192.0.2.77"], "127.0.0.1").await;
    o.assert_success(false);
    assert!(o.log.contains("Error listening to socket"), "{}", o.dump());

    println!("NETNS CHECKS DONE");
}
