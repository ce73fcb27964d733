//! ICMP conformance against the real blackbox_exporter (Debian 0.23.0).
//!
//! Every scenario of [`scenarios`] is one module in one shared config file that both the
//! real exporter and the blackwatch binary load; each probes the same loopback target
//! (127.0.0.1, ::1, localhost). The `/probe` outputs are compared series by series:
//! the same metric names, label sets and values (Go `%g` formatting), the same HELP and
//! TYPE lines, in the same order. Timing metrics ([`TIMING_METRICS`]) only have to be
//! present in both, plausible, and zero in both or in neither.
//!
//! Every tolerated difference is in [`DELIBERATE_DIFFERENCES`] with its reason. Both
//! exporters need raw ICMP sockets here (the machine refuses unprivileged ping sockets),
//! i.e. root or CAP_NET_RAW; CI runs as root. The suite **fails**, it does not skip, when
//! the blackbox_exporter binary is missing (see `conformance::daemons`).
//!
//! Run with `cargo test --test it conformance_icmp -- --nocapture` for the report.

use crate::conformance::compare::{Deliberate, Difference, Outcome, Suite};
use crate::conformance::daemons::Daemon;
use crate::conformance::expo::Exposition;
use crate::conformance::report::{module_context, Outputs, Report};
use crate::conformance::yaml::{config_yaml, module_yaml};
use crate::support::certs::write_temp_file;

pub const DELIBERATE_DIFFERENCES: &[Deliberate] = &[
    Deliberate {
        what: Difference::OnlyInBlackwatch("probe_timeout_seconds"),
        since: "master (#1571, after 0.28.0)",
        reason: "blackwatch follows upstream master, which reports the effective probe timeout \
                 on every probe; 0.23 has no such metric. The suite checks its value equals \
                 the module timeout.",
    },
    Deliberate {
        what: Difference::OnlyInBlackboxForIpv6("probe_icmp_reply_hop_limit"),
        since: "n/a (surge-ping 0.9.1 limitation)",
        reason: "upstream reads the IPv6 hop limit from an IPV6_HOPLIMIT control message; \
                 surge-ping's receive loop uses recv_from, which drops control messages, and \
                 an ICMPv6 socket never sees the IPv6 header. blackwatch leaves the metric \
                 out, as upstream itself does when the control message is missing. The suite \
                 checks the metric is absent in blackwatch exactly for IPv6 targets, and \
                 equal to blackbox_exporter's for IPv4 (raw socket: TTL from the IP header).",
    },
    Deliberate {
        what: Difference::NotExercised("probe_icmp_reply_hop_limit on unprivileged IPv4 sockets"),
        since: "n/a (surge-ping 0.9.1 limitation)",
        reason: "with an unprivileged datagram socket (net.ipv4.ping_group_range) the kernel \
                 hands over the ICMP message without the IP header and surge-ping asks for no \
                 IP_TTL control message, so blackwatch omits the metric there; upstream \
                 reports it. This machine refuses datagram ICMP sockets, so both exporters \
                 use raw sockets and no scenario shows it (tests/it/icmp.rs covers the \
                 datagram path inside a network namespace).",
    },
    Deliberate {
        what: Difference::NotExercised("echo reply payload comparison"),
        since: "n/a (surge-ping 0.9.1 limitation)",
        reason: "upstream compares the whole reply with the expected echo reply, payload \
                 included; surge-ping matches on peer, identifier and sequence and does not \
                 expose the reply payload. With a random identifier per probe a reply with \
                 the right identifier and sequence but other data does not occur on \
                 loopback. The dont_fragment path (own raw socket) compares byte for byte.",
    },
    Deliberate {
        what: Difference::NotExercised("echo identifier random per probe"),
        since: "master (#1537, after 0.28.0)",
        reason: "0.23 uses one process-wide echo identifier; master (and blackwatch) draw a \
                 random one per probe. Identifiers do not appear in metrics.",
    },
];

/// Metrics whose values depend on timing: compared for presence and plausibility only.
pub const TIMING_METRICS: &[&str] = &[
    "probe_duration_seconds",
    "probe_dns_lookup_time_seconds",
    "probe_icmp_duration_seconds",
];

/// Module timeout of every scenario.
const TIMEOUT: f64 = 5.0;

static SUITE: Suite = Suite {
    name: "icmp",
    table: DELIBERATE_DIFFERENCES,
    timing_metrics: TIMING_METRICS,
    timeout_slack: 0.25,
    every_entry_used: false,
};

/// One probe run through both exporters.
struct Scenario {
    /// Also the module name.
    name: &'static str,
    target: &'static str,
    /// The `icmp:` block, one YAML line per entry.
    icmp: &'static [&'static str],
    expect_success: bool,
}

impl Scenario {
    fn module_yaml(&self) -> String {
        module_yaml("icmp", TIMEOUT, &self.icmp.join("\n"))
    }
}

const fn scenario(
    name: &'static str,
    target: &'static str,
    icmp: &'static [&'static str],
    expect_success: bool,
) -> Scenario {
    Scenario {
        name,
        target,
        icmp,
        expect_success,
    }
}

fn scenarios() -> Vec<Scenario> {
    vec![
        scenario("ipv4_default", "127.0.0.1", &[], true),
        scenario("ipv6_default", "::1", &[], true),
        scenario(
            "ip4_preferred",
            "127.0.0.1",
            &["preferred_ip_protocol: ip4"],
            true,
        ),
        scenario(
            "ip4_preferred_ipv6_target",
            "::1",
            &["preferred_ip_protocol: ip4"],
            true,
        ),
        scenario("localhost_ip6_preferred_falls_back", "localhost", &[], true),
        scenario(
            "localhost_ip4",
            "localhost",
            &["preferred_ip_protocol: ip4"],
            true,
        ),
        scenario(
            "ip6_without_fallback_ipv4_target",
            "127.0.0.1",
            &["preferred_ip_protocol: ip6", "ip_protocol_fallback: false"],
            false,
        ),
        scenario(
            "payload_size_200",
            "127.0.0.1",
            &["payload_size: 200"],
            true,
        ),
        scenario("payload_size_12", "127.0.0.1", &["payload_size: 12"], true),
        scenario("payload_size_200_ipv6", "::1", &["payload_size: 200"], true),
        scenario("ttl_5", "127.0.0.1", &["ttl: 5"], true),
        scenario("ttl_0_os_default", "127.0.0.1", &["ttl: 0"], true),
        scenario("ttl_5_ipv6", "::1", &["ttl: 5"], true),
        scenario(
            "dont_fragment",
            "127.0.0.1",
            &["dont_fragment: true", "preferred_ip_protocol: ip4"],
            true,
        ),
        scenario(
            "dont_fragment_ttl_0",
            "127.0.0.1",
            &["dont_fragment: true", "ttl: 0"],
            true,
        ),
        scenario(
            "dont_fragment_ipv6_ignored",
            "::1",
            &["dont_fragment: true"],
            true,
        ),
        scenario(
            "source_127_0_0_1",
            "127.0.0.1",
            &["source_ip_address: 127.0.0.1"],
            true,
        ),
        scenario(
            "source_127_0_0_2",
            "127.0.0.1",
            &["source_ip_address: 127.0.0.2"],
            true,
        ),
        scenario(
            "source_dont_fragment",
            "127.0.0.1",
            &["source_ip_address: 127.0.0.3", "dont_fragment: true"],
            true,
        ),
        scenario("source_ipv6", "::1", &["source_ip_address: '::1'"], true),
        scenario(
            "source_invalid",
            "127.0.0.1",
            &["source_ip_address: not-an-ip"],
            false,
        ),
        scenario(
            "source_other_family",
            "127.0.0.1",
            &["source_ip_address: '::1'"],
            false,
        ),
    ]
}

/// Compares two `/probe` outputs for one scenario.
fn compare(scenario: &Scenario, bbe_full: &Exposition, bw_full: &Exposition) -> Outcome {
    let mut out = Outcome::default();
    out.expect_reference_success(bbe_full, scenario.expect_success);
    out.expect_timeout_metric(bw_full, TIMEOUT);

    let mut bbe = bbe_full.clone();
    let mut bw = bw_full.clone();
    SUITE.normalise(&mut bw, &mut out);
    let ipv6 = bbe_full.value("probe_ip_protocol") == Some(6.0);
    for d in DELIBERATE_DIFFERENCES {
        let Difference::OnlyInBlackboxForIpv6(metric) = d.what else {
            continue;
        };
        if !ipv6 {
            continue;
        }
        if bw.has(metric) {
            out.failures.push(format!(
                "blackwatch reports {metric} for an IPv6 target; update the table"
            ));
        }
        if bbe.remove_metric(metric) {
            out.note(
                d,
                format!("{metric} only in blackbox_exporter for IPv6 ({})", d.since),
            );
        }
    }
    SUITE.compare_series(&bbe, &bw, TIMEOUT, &mut out);
    out
}

#[test]
fn icmp_deliberate_differences_are_documented() {
    SUITE.assert_documented();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn icmp_probes_match_blackbox_exporter() {
    let scenarios = scenarios();
    assert!(scenarios.len() >= 6);
    SUITE.assert_scenario_names(scenarios.iter().map(|s| s.name));

    let config = write_temp_file(
        config_yaml(scenarios.iter().map(|s| (s.name, s.module_yaml()))).as_bytes(),
        ".yml",
    );
    let blackbox = Daemon::blackbox(&config).await;
    let blackwatch = Daemon::blackwatch(&config).await;

    let mut report = Report::new(&SUITE);
    for s in &scenarios {
        let outputs = Outputs {
            bbe: blackbox.probe(s.name, s.target, &[]).await,
            bw: blackwatch.probe(s.name, s.target, &[]).await,
        };
        let outcome = outputs.compare(|bbe, bw| compare(s, bbe, bw));
        let context = module_context(&s.module_yaml(), s.target);
        let note = format!(" (target {})", s.target);
        report.add(s.name, &note, outcome, &context, &outputs);
    }
    report.finish("", &blackbox, &blackwatch);
}
