//! Conformance of the dns prober against the real blackbox_exporter (Debian 0.23.0).
//!
//! [`dns_probes_match_blackbox_exporter`] runs every scenario of [`scenarios`] through both
//! exporters — same loopback DNS servers (the in-process server of `tests/it/dns.rs` and
//! Debian's dnsmasq), same config file (one module per scenario) — and compares:
//!
//! * the `/probe` outputs series by series: names, label sets, values as written, HELP and
//!   TYPE lines and order. Timing metrics ([`TIMING_METRICS`]) only have to be present in
//!   both, plausible, and zero in both or in neither;
//! * the queries the in-process server received from each, with the random id zeroed
//!   (header flags, question, no EDNS record: byte for byte).
//!
//! Most scenarios pin the record text the regex validators see with an anchored regex of
//! the whole miekg `RR.String()` line and `fail_if_not_matches_regexp`: blackbox_exporter
//! passing such a scenario proves the expected line is miekg's, blackwatch passing it
//! proves it renders the same bytes.
//!
//! Everything not in [`DELIBERATE_DIFFERENCES`] must match; that table only holds version
//! differences (blackwatch follows master, the binary here is 0.23). The suite fails — it
//! does not skip — when blackbox_exporter or dnsmasq is missing. Run with `--nocapture`
//! for the per-scenario report.

use std::net::{IpAddr, Ipv4Addr};

use crate::conformance::compare::{Deliberate, Difference, Outcome, Suite};
use crate::conformance::daemons::Daemon;
use crate::conformance::expo::Exposition;
use crate::conformance::report::{module_context, Outputs, Report};
use crate::conformance::yaml::{config_yaml, module_yaml, yaml_path};
use crate::dns::{
    authoritative_handler, recursive_handler, servfail_handler, zone_handler, DnsServer, Dnsmasq,
    Listen,
};
use crate::support::certs::write_temp_file;
use crate::support::tls::server_config;
use crate::support::{TestCa, TlsOptions};

pub const DELIBERATE_DIFFERENCES: &[Deliberate] = &[
    Deliberate {
        what: Difference::OnlyInBlackwatch("probe_timeout_seconds"),
        since: "master (#1571, after 0.28.0)",
        reason: "master reports the effective probe timeout on every probe; 0.23 has no such \
                 metric. The suite checks its value equals the module timeout.",
    },
    Deliberate {
        what: Difference::Scenario("rr_aaaa_v4_mapped"),
        since: "miekg/dns 1.1.5x (master uses 1.1.72; Debian's 0.23 was built with an older one)",
        reason: "an IPv4-mapped AAAA record (::ffff:1.2.3.4) is printed by current miekg as \
                 `::ffff:1.2.3.4`, so the text parses back as AAAA; the miekg in Debian's 0.23 \
                 printed Go's net.IP form `1.2.3.4`. blackwatch follows master's dependency.",
    },
];

/// Compared for presence and plausibility only.
pub const TIMING_METRICS: &[&str] = &[
    "probe_duration_seconds",
    "probe_dns_lookup_time_seconds",
    "probe_dns_duration_seconds",
];

static SUITE: Suite = Suite {
    name: "dns",
    table: DELIBERATE_DIFFERENCES,
    timing_metrics: TIMING_METRICS,
    timeout_slack: 0.3,
    every_entry_used: false,
};

/// The peers a scenario can probe.
struct Peers {
    zone: DnsServer,
    recursive: DnsServer,
    authoritative: DnsServer,
    servfail: DnsServer,
    tcp_only: DnsServer,
    v6: DnsServer,
    dot: DnsServer,
    dnsmasq: Dnsmasq,
    closed_port: u16,
}

impl Peers {
    fn servers(&self) -> [&DnsServer; 7] {
        [
            &self.zone,
            &self.recursive,
            &self.authoritative,
            &self.servfail,
            &self.tcp_only,
            &self.v6,
            &self.dot,
        ]
    }

    /// Every query received since the last call, ids zeroed, as hex.
    fn take_queries(&self, seen_before: &mut usize) -> Vec<String> {
        let mut all = Vec::new();
        for s in self.servers() {
            for q in s.seen() {
                let mut raw = q.raw.clone();
                if raw.len() >= 2 {
                    raw[0] = 0;
                    raw[1] = 0;
                }
                let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
                all.push(format!("{} {hex}", q.transport));
            }
        }
        let new = all[*seen_before..].to_vec();
        *seen_before = all.len();
        new
    }
}

struct Scenario {
    name: String,
    target: String,
    /// The `dns:` block (YAML at column 0); `None` for a module without one.
    dns: Option<String>,
    timeout: u32,
    expect_success: bool,
}

impl Scenario {
    fn module_yaml(&self) -> String {
        module_yaml(
            "dns",
            f64::from(self.timeout),
            self.dns.as_deref().unwrap_or_default(),
        )
    }
}

fn s(name: &str, target: &str, dns: &str, expect_success: bool) -> Scenario {
    Scenario {
        name: name.to_string(),
        target: target.to_string(),
        dns: Some(dns.to_string()),
        timeout: 5,
        expect_success,
    }
}

/// `fail_if_not_matches_regexp` with one anchored regex of a whole record line.
fn exact(qname: &str, qtype: &str, transport: &str, line: &str) -> String {
    format!(
        "query_name: {qname}\nquery_type: {qtype}\ntransport_protocol: {transport}\npreferred_ip_protocol: ip4\nvalidate_answer_rrs:\n  fail_if_not_matches_regexp: [{:?}]\n",
        format!("^{}$", regex::escape(line))
    )
}

fn scenarios(p: &Peers, ca_file: &str) -> Vec<Scenario> {
    let zone = p.zone.target();
    let auth = p.authoritative.target();
    let rec = p.recursive.target();
    let ip4 = "preferred_ip_protocol: ip4\n";
    let mut v = vec![
        s("udp_a", &zone, &exact("example.com", "A", "udp", "example.com.\t3600\tIN\tA\t127.0.0.1"), true),
        s("tcp_a", &zone, &exact("example.com", "A", "tcp", "example.com.\t3600\tIN\tA\t127.0.0.1"), true),
        s("aaaa", &zone, &exact("example.com", "AAAA", "udp", "example.com.\t3600\tIN\tAAAA\t2001:db8::1"), true),
        s("mx", &zone, &format!("{}validate_additional_rrs:\n  fail_if_not_matches_regexp: [\"^mx\\\\.example\\\\.com\\\\.\\t3600\\tIN\\tA\\t127\\\\.0\\\\.0\\\\.25$\"]\n", exact("example.com", "MX", "udp", "example.com.\t3600\tIN\tMX\t10 mx.example.com.")), true),
        s("txt_escapes", &zone, &exact("example.com", "TXT", "tcp", "example.com.\t300\tIN\tTXT\t\"v=spf1 -all\" \"two words\" \"q\\\"b\\\\s\""), true),
        s("soa_serial", &zone, &exact("example.com", "SOA", "udp", "example.com.\t3600\tIN\tSOA\tns.example.com. admin.example.com. 1000 3600 600 86400 300"), true),
        s("ns_all_match", &zone, "query_name: example.com\nquery_type: NS\npreferred_ip_protocol: ip4\nvalidate_answer_rrs:\n  fail_if_all_match_regexp: [\"^example\\\\.com\\\\.\\t3600\\tIN\\tNS\\tns[12]\\\\.example\\\\.com\\\\.$\"]\n", true),
        s("caa", &zone, &exact("example.com", "CAA", "udp", "example.com.\t3600\tIN\tCAA\t0 issue \"letsencrypt.org\""), true),
        s("ds", &zone, &exact("example.com", "DS", "udp", "example.com.\t3600\tIN\tDS\t12345 8 2 DEADBEEF0102"), true),
        s("dnskey", &zone, &exact("example.com", "DNSKEY", "udp", "example.com.\t3600\tIN\tDNSKEY\t257 3 8 a2V5ZGF0YQ=="), true),
        s("cname", &zone, &exact("www.example.com", "CNAME", "udp", "www.example.com.\t600\tIN\tCNAME\texample.com."), true),
        s("srv", &zone, &exact("_sip._udp.example.com", "SRV", "udp", "_sip._udp.example.com.\t3600\tIN\tSRV\t1 5 5060 sip.example.com."), true),
        s("ptr", &zone, &exact("1.0.0.127.in-addr.arpa", "PTR", "tcp", "1.0.0.127.in-addr.arpa.\t3600\tIN\tPTR\tlocalhost."), true),
        s("any_unknown_type", &zone, "query_name: example.com\nquery_type: ANY\ntransport_protocol: tcp\npreferred_ip_protocol: ip4\nvalidate_answer_rrs:\n  fail_if_none_matches_regexp: [\"^example\\\\.com\\\\.\\t3600\\tCLASS1\\tTYPE65280\\t\\\\\\\\# 2 cafe$\"]\n", true),
        s("opt_record", &zone, "query_name: opt.example.com\nquery_type: A\npreferred_ip_protocol: ip4\nvalidate_additional_rrs:\n  fail_if_not_matches_regexp: [\"^\\n;; OPT PSEUDOSECTION:\\n; EDNS: version 0; flags: ; udp: 1232$\"]\n", true),
        s("class_ch_txt", &zone, &exact("example.com", "TXT", "udp", "example.com.\t3600\tCH\tTXT\t\"goCHAOS\"").replace("query_type: TXT\n", "query_type: TXT\nquery_class: CH\n"), true),
        s("wrong_id_skipped", &zone, &exact("wrongid.example.com", "A", "udp", "wrongid.example.com.\t60\tIN\tA\t127.0.0.1"), true),
        s("nxdomain_default", &zone, &format!("query_name: missing.example.com\n{ip4}"), false),
        s("nxdomain_valid", &zone, &format!("query_name: missing.example.com\nvalid_rcodes: [NXDOMAIN]\n{ip4}validate_authority_rrs:\n  fail_if_none_matches_regexp: [\"\\tSOA\\t\"]\n"), true),
        s("empty_answer_not_matches_fails", &zone, &format!("query_name: missing.example.com\nvalid_rcodes: [NXDOMAIN]\n{ip4}validate_answer_rrs:\n  fail_if_not_matches_regexp: [\".*\"]\n"), false),
        s("empty_answer_all_match_passes", &zone, &format!("query_name: missing.example.com\nvalid_rcodes: [NXDOMAIN]\n{ip4}validate_answer_rrs:\n  fail_if_all_match_regexp: [\"nothing\"]\n"), true),
        s("empty_answer_none_matches_fails", &zone, &format!("query_name: missing.example.com\nvalid_rcodes: [NXDOMAIN]\n{ip4}validate_answer_rrs:\n  fail_if_none_matches_regexp: [\".*\"]\n"), false),
        s("empty_validators", &zone, &format!("query_name: example.com\nquery_type: A\n{ip4}validate_answer_rrs: {{}}\nvalidate_authority_rrs: {{}}\nvalidate_additional_rrs: {{}}\n"), true),
        s("servfail_default", &p.servfail.target(), &format!("query_name: example.com\n{ip4}"), false),
        s("servfail_valid", &p.servfail.target(), &format!("query_name: example.com\n{ip4}valid_rcodes: [SERVFAIL, NXDOMAIN]\n"), true),
        s("valid_rcodes_empty", &rec, &format!("query_name: example.com\n{ip4}valid_rcodes: []\n"), false),
        s("recursive_ok", &rec, &format!("query_name: example.com\n{ip4}"), true),
        s("refused_without_rd", &rec, &format!("query_name: example.com\n{ip4}recursion_desired: false\n"), false),
        s("refused_valid", &rec, &format!("query_name: example.com\n{ip4}recursion_desired: false\nvalid_rcodes: [REFUSED]\n"), true),
        s("rcode_mismatch", &rec, &format!("query_name: example.com\n{ip4}valid_rcodes: [SERVFAIL, NXDOMAIN]\n"), false),
        s("matches_fails", &auth, &format!("query_name: example.com\n{ip4}validate_answer_rrs:\n  fail_if_matches_regexp: [\".*3600.*\"]\n"), false),
        s("matches_passes", &auth, &format!("query_name: example.com\n{ip4}validate_answer_rrs:\n  fail_if_matches_regexp: [\".*7200.*\"]\n"), true),
        s("not_matches_passes", &auth, &format!("query_name: example.com\n{ip4}validate_authority_rrs:\n  fail_if_not_matches_regexp: [\"ns.*.isp.net\"]\n"), true),
        s("not_matches_fails", &auth, &format!("query_name: example.com\n{ip4}validate_additional_rrs:\n  fail_if_not_matches_regexp: [\".*127.0.0.*\"]\n"), false),
        s("all_match_fails", &auth, &format!("query_name: example.com\n{ip4}validate_additional_rrs:\n  fail_if_all_match_regexp: [\".*127.0.0.*\"]\n"), false),
        s("all_match_passes", &auth, &format!("query_name: example.com\n{ip4}validate_additional_rrs:\n  fail_if_all_match_regexp: [\"^ns[12]\\\\.isp\\\\.net\\\\.\\t7200\\tIN\\tA{{1,4}}\\t\"]\n"), true),
        s("none_matches_fails", &auth, &format!("query_name: example.com\n{ip4}validate_additional_rrs:\n  fail_if_none_matches_regexp: [\".*127.0.0.3.*\"]\n"), false),
        s("none_matches_passes", &auth, &format!("query_name: example.com\n{ip4}validate_additional_rrs:\n  fail_if_none_matches_regexp: [\"^ns1\\\\.isp\\\\.net\\\\.\\t7200\\tIN\\tAAAA\\t::1$\"]\n"), true),
        s("soa_authoritative", &auth, &format!("query_name: example.com\nquery_type: SOA\n{ip4}"), true),
        s("udp_against_tcp_only", &p.tcp_only.target(), &format!("query_name: example.com\n{ip4}"), false),
        s("tcp_against_tcp_only", &p.tcp_only.target(), &format!("query_name: example.com\ntransport_protocol: tcp\n{ip4}"), true),
        s("ipv6_default", &p.v6.target(), "query_name: example.com\nquery_type: A\n", true),
        s("localhost_ip4", &format!("localhost:{}", p.zone.addr.port()), &format!("query_name: example.com\nquery_type: A\n{ip4}"), true),
        s("localhost_ip6_no_fallback", &format!("localhost:{}", p.zone.addr.port()), "query_name: example.com\nip_protocol_fallback: false\n", false),
        s("dot", &p.dot.target(), &format!("query_name: example.com\nquery_type: A\n{ip4}transport_protocol: tcp\ndns_over_tls: true\ntls_config:\n  ca_file: {ca_file}\n"), true),
        s("dot_wrong_server_name", &p.dot.target(), &format!("query_name: example.com\nquery_type: A\n{ip4}transport_protocol: tcp\ndns_over_tls: true\ntls_config:\n  ca_file: {ca_file}\n  server_name: other.example\n"), false),
        s("dnsmasq_a_udp", &p.dnsmasq.target(), &exact("example.test", "A", "udp", "example.test.\t300\tIN\tA\t127.0.0.1"), true),
        s("dnsmasq_txt_tcp", &p.dnsmasq.target(), &exact("example.test", "TXT", "tcp", "example.test.\t300\tIN\tTXT\t\"v=spf1 -all\""), true),
        s("dnsmasq_mx", &p.dnsmasq.target(), &exact("example.test", "MX", "udp", "example.test.\t300\tIN\tMX\t10 mail.example.test."), true),
        s("dnsmasq_nxdomain", &p.dnsmasq.target(), &format!("query_name: nope.test\n{ip4}"), false),
        s("dnsmasq_refused", &p.dnsmasq.target(), &format!("query_name: example.org\n{ip4}valid_rcodes: [REFUSED]\n"), true),
    ];
    let closed = format!("127.0.0.1:{}", p.closed_port);
    let mut udp_closed = s(
        "closed_port_udp",
        &closed,
        &format!("query_name: example.com\n{ip4}"),
        false,
    );
    udp_closed.timeout = 1;
    v.push(udp_closed);
    let mut tcp_closed = s(
        "closed_port_tcp",
        &closed,
        &format!("query_name: example.com\ntransport_protocol: tcp\n{ip4}"),
        false,
    );
    tcp_closed.timeout = 1;
    v.push(tcp_closed);
    let mut timeout = s(
        "no_answer_timeout",
        &zone,
        &format!("query_name: noanswer.example.com\n{ip4}"),
        false,
    );
    timeout.timeout = 1;
    v.push(timeout);
    // One scenario per record type the `types.example.com` answer carries: the record's
    // whole miekg line must be among the answers.
    let mut per_type = std::collections::BTreeMap::<String, usize>::new();
    for (_, line) in crate::dns::types_table() {
        let rtype = line.split('\t').nth(3).unwrap_or("x").to_lowercase();
        let n = per_type.entry(rtype.clone()).or_default();
        *n += 1;
        let name = if line.contains("::ffff:") {
            "rr_aaaa_v4_mapped".to_string()
        } else {
            format!("rr_{rtype}_{n}")
        };
        v.push(s(
            &name,
            &zone,
            &format!(
                "query_name: types.example.com\nquery_type: A\ntransport_protocol: tcp\n{ip4}validate_answer_rrs:\n  fail_if_none_matches_regexp: [{:?}]\n",
                format!("^{}$", regex::escape(line))
            ),
            true,
        ));
    }
    v.push(Scenario {
        name: "no_dns_block".to_string(),
        target: zone.clone(),
        dns: None,
        timeout: 5,
        expect_success: false,
    });
    v
}

fn compare(sc: &Scenario, bbe: &Exposition, bw_full: &Exposition) -> Outcome {
    let mut out = Outcome::default();
    if let Some(rule) = SUITE.scenario_rule(&sc.name) {
        out.expect_blackwatch_success(bw_full, sc.expect_success);
        out.whole_scenario(rule, bbe, bw_full);
        return out;
    }
    out.expect_reference_success(bbe, sc.expect_success);
    let timeout = f64::from(sc.timeout);
    out.expect_timeout_metric(bw_full, timeout);
    let mut bw = bw_full.clone();
    SUITE.normalise(&mut bw, &mut out);
    SUITE.compare_series(bbe, &bw, timeout, &mut out);
    out
}

#[test]
fn deliberate_differences_are_documented() {
    SUITE.assert_documented();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_probes_match_blackbox_exporter() {
    crate::support::install_crypto();
    let ca = TestCa::new("DoT CA");
    let ca_file = ca.write_ca_file();
    // A port nothing listens on, over UDP or TCP.
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let peers = Peers {
        zone: DnsServer::start(zone_handler()).await,
        recursive: DnsServer::start(recursive_handler()).await,
        authoritative: DnsServer::start(authoritative_handler()).await,
        servfail: DnsServer::start(servfail_handler()).await,
        tcp_only: DnsServer::start_on(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            Listen::TcpOnly,
            recursive_handler(),
        )
        .await,
        v6: DnsServer::start_on(
            "::1".parse().expect("::1"),
            Listen::UdpAndTcp,
            zone_handler(),
        )
        .await,
        dot: DnsServer::start_tls(
            server_config(&ca.localhost(), &TlsOptions::default().no_alpn()),
            zone_handler(),
        )
        .await,
        dnsmasq: Dnsmasq::start().await,
        closed_port,
    };
    let ca_path = yaml_path(&ca_file);
    let scenarios = scenarios(&peers, &ca_path);
    assert!(scenarios.len() >= 14);
    SUITE.assert_scenario_names(scenarios.iter().map(|s| s.name.as_str()));

    let config = write_temp_file(
        config_yaml(scenarios.iter().map(|s| (s.name.as_str(), s.module_yaml()))).as_bytes(),
        ".yml",
    );
    let blackbox = Daemon::blackbox(&config).await;
    let blackwatch = Daemon::blackwatch(&config).await;

    let mut report = Report::new(&SUITE);
    let mut seen = 0;
    for sc in &scenarios {
        let bbe = blackbox.probe(&sc.name, &sc.target, &[]).await;
        let bbe_queries = peers.take_queries(&mut seen);
        let bw = blackwatch.probe(&sc.name, &sc.target, &[]).await;
        let bw_queries = peers.take_queries(&mut seen);
        let outputs = Outputs { bbe, bw };
        let mut outcome = outputs.compare(|bbe, bw| compare(sc, bbe, bw));
        if bbe_queries != bw_queries {
            outcome.failures.push(format!(
                "queries received differ (ids zeroed):\n  blackbox_exporter: {bbe_queries:?}\n  blackwatch:        {bw_queries:?}"
            ));
        }
        let mut context = String::new();
        if !outcome.failures.is_empty() {
            // blackbox_exporter's own log of the probe shows the RR texts it matched.
            if let Ok(debug) = blackbox
                .probe(&sc.name, &sc.target, &[("debug", "true".to_string())])
                .await
            {
                let _ = peers.take_queries(&mut seen);
                let log: Vec<&str> = debug.lines().filter(|l| l.contains("msg=")).collect();
                context = format!(
                    "    blackbox_exporter log:\n      {}\n",
                    log.join("\n      ")
                );
            }
            context.push_str(&module_context(&sc.module_yaml(), &sc.target));
        }
        report.add(&sc.name, "", outcome, &context, &outputs);
    }
    report.finish("", &blackbox, &blackwatch);
}
