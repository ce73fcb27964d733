//! Conformance of the tcp prober against the real blackbox_exporter (Debian 0.23.0).
//!
//! [`tcp_probes_match_blackbox_exporter`] runs every scenario of [`scenarios`] through
//! both exporters — same loopback peers, same config file (one module per scenario) — and
//! compares the `/probe` outputs series by series: names, label sets, values as written,
//! HELP and TYPE lines and order. Timing metrics only have to be present in both and
//! plausible. The peers check what they receive, so a dialogue that goes wrong on one side
//! shows up as a different `probe_success`.
//!
//! Everything not in [`DELIBERATE_DIFFERENCES`] must match. That table only holds
//! version differences: blackwatch follows blackbox_exporter master (0.28+), the binary
//! here is 0.23. Scenarios using configuration 0.23 cannot load (`expect_bytes` [0.28+],
//! `labels` [0.26+]) are run through blackwatch only, from a second config file that
//! extends the shared one.
//!
//! The suite fails (it does not skip) when blackbox_exporter is not installed; see
//! `conformance::daemons`. Run with `--nocapture` for the per-scenario report.

use tempfile::TempPath;

use crate::conformance::compare::{Deliberate, Difference, Outcome, Suite};
use crate::conformance::daemons::Pair;
use crate::conformance::expo::{Exposition, SeriesKey};
use crate::conformance::report::{module_context, Outputs, Report};
use crate::conformance::yaml::{module_yaml, yaml_path};
use crate::support::certs::write_temp_file;
use crate::support::{self_signed_localhost, TcpServer, TestCa};
use crate::tcp::{
    banner_server, closed_port, irc_server, smtp_server, tls_server, tls_server_closing, v6_server,
    Received, V6Server, IRC_STEPS, SMTP_STEPS,
};

// ---------------------------------------------------------------------------
// The deliberate-difference table
// ---------------------------------------------------------------------------

pub const DELIBERATE_DIFFERENCES: &[Deliberate] = &[
    Deliberate {
        what: Difference::OnlyInBlackwatch("probe_timeout_seconds"),
        since: "master (#1571, after 0.28.0)",
        reason: "master reports the effective probe timeout on every probe; 0.23 has no such \
                 metric. The suite checks its value equals the module timeout.",
    },
    Deliberate {
        what: Difference::OnlyInBlackwatch("probe_failed_due_to_bytes"),
        since: "0.28",
        reason: "expect_bytes and its failure flag arrived in 0.28; master registers the flag \
                 (0) on every connected probe. The suite checks it is present exactly when \
                 the connection was made.",
    },
    Deliberate {
        what: Difference::OnlyInBlackboxWhenNotConnected("probe_failed_due_to_regex"),
        since: "0.28 (query_response.go, shared with the unix prober)",
        reason: "0.23 registers probe_failed_due_to_regex before dialling, so a refused \
                 connection or failed TLS dial still shows it as 0; master registers it in \
                 probeQueryResponses, only once connected.",
    },
    Deliberate {
        what: Difference::ExtraLabel {
            metric: "probe_ssl_last_chain_info",
            label: "serialnumber",
        },
        since: "0.26",
        reason: "the leaf certificate's serial number label was added to \
                 probe_ssl_last_chain_info in 0.26; 0.23 has the other four labels.",
    },
    Deliberate {
        what: Difference::Scenario("tls_hostname_param"),
        since: "0.24 (#981)",
        reason: "the `hostname` URL parameter sets the tcp prober's TLS server name (when \
                 tls_config.server_name is empty) since 0.24; 0.23 ignores it for tcp, \
                 verifies the IP target against the certificate's absent IP SANs and fails.",
    },
    Deliberate {
        what: Difference::BlackwatchOnly("expect_bytes"),
        since: "0.28",
        reason: "`expect_bytes` is an unknown field for 0.23, whose strict parser would reject \
                 the whole shared config; the scenario runs through blackwatch only.",
    },
    Deliberate {
        what: Difference::BlackwatchOnly("expect_bytes_mismatch"),
        since: "0.28",
        reason: "as expect_bytes: 0.23 cannot load the module; blackwatch must fail with \
                 probe_failed_due_to_bytes 1.",
    },
    Deliberate {
        what: Difference::BlackwatchOnly("labels_expect_info"),
        since: "0.26",
        reason: "query_response `labels` (probe_expect_info) arrived in 0.26; 0.23 rejects the \
                 field, so the scenario runs through blackwatch only.",
    },
];

/// Metrics whose values depend on timing: compared for presence and plausibility only.
const TIMING_METRICS: &[&str] = &["probe_duration_seconds", "probe_dns_lookup_time_seconds"];

const DEFAULT_TIMEOUT: f64 = 5.0;

static SUITE: Suite = Suite {
    name: "tcp",
    table: DELIBERATE_DIFFERENCES,
    timing_metrics: TIMING_METRICS,
    timeout_slack: 0.25,
    every_entry_used: true,
};

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

/// A series blackwatch must report: name, labels, value.
type ExpectedSeries = (&'static str, Vec<(&'static str, &'static str)>, f64);

struct Scenario {
    /// Also the module name.
    name: &'static str,
    target: String,
    params: Vec<(&'static str, String)>,
    /// The `tcp:` block (YAML at column 0); `preferred_ip_protocol: ip4` is added unless
    /// the block sets one.
    tcp: String,
    timeout: f64,
    expect_success: bool,
    /// Series blackwatch's output must have with this value (checked in every scenario,
    /// the only check in blackwatch-only ones).
    expect_series: Vec<ExpectedSeries>,
}

impl Scenario {
    fn new(name: &'static str, target: impl Into<String>, expect_success: bool) -> Self {
        Self {
            name,
            target: target.into(),
            params: Vec::new(),
            tcp: String::new(),
            timeout: DEFAULT_TIMEOUT,
            expect_success,
            expect_series: Vec::new(),
        }
    }

    fn tcp(mut self, block: &str) -> Self {
        let block = crate::support::dedent(block);
        let mut text = String::new();
        if !block.contains("preferred_ip_protocol") {
            text.push_str("preferred_ip_protocol: ip4\n");
        }
        text.push_str(&block);
        self.tcp = text;
        self
    }

    fn param(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.params.push((name, value.into()));
        self
    }

    fn timeout(mut self, seconds: f64) -> Self {
        self.timeout = seconds;
        self
    }

    fn series(
        mut self,
        name: &'static str,
        labels: &[(&'static str, &'static str)],
        v: f64,
    ) -> Self {
        self.expect_series.push((name, labels.to_vec(), v));
        self
    }

    fn blackwatch_only(&self) -> bool {
        SUITE.blackwatch_only(self.name)
    }

    fn module_yaml(&self) -> String {
        module_yaml("tcp", self.timeout, &self.tcp)
    }
}

/// Peers and files that must outlive the run.
struct Fixtures {
    _servers: Vec<TcpServer>,
    _v6: V6Server,
    _files: Vec<TempPath>,
}

async fn scenarios() -> (Vec<Scenario>, Fixtures) {
    let ca = TestCa::new("Conformance CA");
    let ca_file = ca.write_ca_file();
    let ca_path = yaml_path(&ca_file);
    let with_ip = ca.localhost();
    let without_ip = ca.localhost_without_ip();
    let self_signed = self_signed_localhost();

    let connect = TcpServer::accept_and_close();
    let tls_ok = tls_server(&with_ip, "");
    let tls_no_ip = tls_server(&without_ip, "");
    let tls_self = tls_server(&self_signed, "+OK POP3 ready\r\n");
    // `openssl req -x509`'s default: self-signed with CA:TRUE, pinned through ca_file.
    let pinned =
        crate::support::certs::self_signed(&crate::support::LeafSpec::localhost().ca_true());
    let pinned_file = write_temp_file(pinned.chain_pem().as_bytes(), ".crt");
    let pinned_path = yaml_path(&pinned_file);
    let tls_pinned = tls_server(&pinned, "+OK POP3 ready\r\n");
    let tls_closing = tls_server_closing(&self_signed, "220 not pop\r\n", false);
    let ssh = banner_server(
        "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
        Received::default(),
    );
    let closing = TcpServer::spawn(|mut stream| async move {
        crate::tcp::write(&mut stream, "hello\r\nworld").await;
    });
    let silent = TcpServer::spawn(|stream| async move {
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        drop(stream);
    });
    let irc = irc_server(false);
    let irc_taken = irc_server(true);
    let smtp = smtp_server(&with_ip, Received::default());
    let smtp_no_ip = smtp_server(&without_ip, Received::default());
    let bytes = TcpServer::spawn(|mut stream| async move {
        crate::tcp::write(&mut stream, "\u{1}\u{2}ok").await;
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    });
    // PostgreSQL's SSLRequest, as upstream's example.yml sends it (`!!binary AAAACATSFi8=`):
    // answers `S` only when the eight bytes and the newline arrive unchanged.
    let postgres = TcpServer::spawn(|mut stream| async move {
        use tokio::io::AsyncReadExt as _;
        let mut got = [0u8; 9];
        let ok = stream.read_exact(&mut got).await.is_ok()
            && got == [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f, b'\n'];
        crate::tcp::write(&mut stream, if ok { "S\n" } else { "X\n" }).await;
    });
    let v6 = v6_server().await;
    let refused = closed_port();

    let ca_tls = format!("tls: true\ntls_config:\n  ca_file: {ca_path}\n");
    let scenarios = vec![
        Scenario::new("plain_connect", connect.target(), true),
        Scenario::new("plain_connect_localhost", connect.localhost_target(), true)
            .tcp("preferred_ip_protocol: ip6\n")
            .series("probe_ip_protocol", &[], 4.0),
        Scenario::new("localhost_ip6_no_fallback", connect.localhost_target(), false)
            .tcp("preferred_ip_protocol: ip6\nip_protocol_fallback: false\n"),
        Scenario::new("ipv6_literal", format!("[::1]:{}", v6.addr.port()), true)
            .tcp("query_response:\n  - expect: \"^SSH-2.0-v6$\"\n")
            .series("probe_ip_protocol", &[], 6.0),
        Scenario::new("refused", format!("127.0.0.1:{refused}"), false),
        Scenario::new("no_port", "127.0.0.1", false),
        Scenario::new("source_ip", connect.target(), true).tcp("source_ip_address: 127.0.0.1\n"),
        Scenario::new("source_ip_invalid", connect.target(), false)
            .tcp("source_ip_address: not-an-ip\n"),
        Scenario::new("tls_ok", tls_ok.localhost_target(), true).tcp(&ca_tls),
        Scenario::new("tls_ip_target_no_ip_san", tls_no_ip.target(), false).tcp(&ca_tls),
        Scenario::new("tls_server_name", tls_no_ip.target(), true)
            .tcp(&format!("{ca_tls}  server_name: localhost\n")),
        Scenario::new("tls_self_signed", tls_self.localhost_target(), false).tcp("tls: true\n"),
        Scenario::new("tls_self_signed_ca_true_pinned", tls_pinned.localhost_target(), true)
            .tcp(&format!("tls: true\ntls_config:\n  ca_file: {pinned_path}\n")),
        Scenario::new("tls_insecure", tls_self.target(), true).tcp(
            "tls: true\ntls_config:\n  insecure_skip_verify: true\nquery_response:\n  - expect: \"^\\\\+OK\"\n",
        ),
        Scenario::new("pop3s_upstream_regex", tls_self.target(), false).tcp(
            "tls: true\ntls_config:\n  insecure_skip_verify: true\nquery_response:\n  - expect: \"^+OK\"\n",
        ),
        Scenario::new("tls_eof_without_close_notify", tls_closing.target(), false)
            .tcp(
                "tls: true\ntls_config:\n  insecure_skip_verify: true\nquery_response:\n  - expect: \"^\\\\+OK\"\n",
            )
            .series("probe_failed_due_to_regex", &[], 1.0),
        Scenario::new("ssh_banner", ssh.target(), true).tcp(
            "query_response:\n  - expect: \"^SSH-2.0-\"\n  - send: \"SSH-2.0-blackbox-ssh-check\"\n",
        ),
        Scenario::new("expect_mismatch_at_eof", closing.target(), false)
            .tcp("query_response:\n  - expect: \"^SSH-2.0-\"\n")
            .series("probe_failed_due_to_regex", &[], 1.0),
        Scenario::new("expect_last_line_without_newline", closing.target(), true)
            .tcp("query_response:\n  - expect: \"^world$\"\n"),
        Scenario::new("expect_timeout", silent.target(), false)
            .tcp("query_response:\n  - expect: \"^SSH-2.0-\"\n")
            .timeout(1.0)
            .series("probe_failed_due_to_regex", &[], 0.0),
        Scenario::new("irc_dialogue", irc.target(), true).tcp(IRC_STEPS),
        Scenario::new("irc_nick_taken", irc_taken.target(), false)
            .tcp(IRC_STEPS)
            .series("probe_failed_due_to_regex", &[], 1.0),
        Scenario::new("starttls", smtp.localhost_target(), true)
            .tcp(&format!("{SMTP_STEPS}tls_config:\n  ca_file: {ca_path}\n")),
        Scenario::new("starttls_ip_target_no_ip_san", smtp_no_ip.target(), false)
            .tcp(&format!("{SMTP_STEPS}tls_config:\n  ca_file: {ca_path}\n")),
        Scenario::new("tls_hostname_param", tls_no_ip.target(), true)
            .tcp(&ca_tls)
            .param("hostname", "localhost"),
        Scenario::new("expect_bytes", bytes.target(), true)
            .tcp("query_response:\n  - expect_bytes: \"\\x01\\x02ok\"\n")
            .series("probe_failed_due_to_bytes", &[], 0.0),
        Scenario::new("expect_bytes_mismatch", bytes.target(), false)
            .tcp("query_response:\n  - expect_bytes: \"\\x01\\x02no\"\n")
            .series("probe_failed_due_to_bytes", &[], 1.0),
        Scenario::new("binary_send_postgres_sslrequest", postgres.target(), true)
            .tcp("query_response:\n  - send: !!binary AAAACATSFi8=\n  - expect: \"^S$\"\n"),
        Scenario::new("labels_expect_info", ssh.target(), true)
            .tcp(
                "query_response:\n  - expect: \"^SSH-2.0-([^ -]+)(?: (.*))?$\"\n    labels:\n      - name: ssh_version\n        value: \"${1}\"\n      - name: ssh_comments\n        value: \"${2}\"\n",
            )
            .series(
                "probe_expect_info",
                &[("ssh_comments", "Debian-2+deb12u3"), ("ssh_version", "OpenSSH_9.2p1")],
                1.0,
            ),
    ];
    let servers = vec![
        connect,
        tls_ok,
        tls_no_ip,
        tls_self,
        tls_closing,
        ssh,
        closing,
        silent,
        irc,
        irc_taken,
        smtp,
        smtp_no_ip,
        bytes,
        postgres,
        tls_pinned,
    ];
    (
        scenarios,
        Fixtures {
            _servers: servers,
            _v6: v6,
            _files: vec![ca_file, pinned_file],
        },
    )
}

// ---------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------

/// Blackwatch's own expectations: verdict, expected series, timeout metric, and the
/// flags registered exactly when connected.
fn check_blackwatch(scenario: &Scenario, bw: &Exposition, out: &mut Outcome) {
    out.expect_blackwatch_success(bw, scenario.expect_success);
    out.expect_timeout_metric(bw, scenario.timeout);
    if bw.has("probe_failed_due_to_bytes") != bw.has("probe_failed_due_to_regex") {
        out.failures.push(
            "blackwatch registers probe_failed_due_to_bytes and _regex together (once \
             connected)"
                .to_string(),
        );
    }
    if bw.has("probe_tls_cipher_info") {
        out.failures
            .push("blackwatch's tcp prober must not report probe_tls_cipher_info".to_string());
    }
    let by_key = bw.by_key();
    for (name, labels, value) in &scenario.expect_series {
        let key = SeriesKey {
            name: (*name).to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        };
        match by_key.get(&key) {
            Some(s) if s.value == *value => {}
            other => out.failures.push(format!(
                "blackwatch {key}: {:?}, expected {value}",
                other.map(|s| &s.raw)
            )),
        }
    }
}

fn compare_outputs(scenario: &Scenario, bbe_full: &Exposition, bw_full: &Exposition) -> Outcome {
    let mut out = Outcome::default();
    check_blackwatch(scenario, bw_full, &mut out);
    if let Some(rule) = SUITE.scenario_rule(scenario.name) {
        out.whole_scenario(rule, bbe_full, bw_full);
        return out;
    }
    out.expect_reference_success(bbe_full, scenario.expect_success);

    let connected = bw_full.has("probe_failed_due_to_regex");
    let mut bw = bw_full.clone();
    let mut bbe = bbe_full.clone();
    SUITE.normalise(&mut bw, &mut out);
    for d in DELIBERATE_DIFFERENCES {
        if let Difference::OnlyInBlackboxWhenNotConnected(metric) = d.what {
            if !connected && bbe.has(metric) && !bw.has(metric) {
                bbe.remove_metric(metric);
                out.note(
                    d,
                    format!(
                        "{metric} only in blackbox_exporter, the connection failed (since {})",
                        d.since
                    ),
                );
            }
        }
    }
    SUITE.compare_series(&bbe, &bw, scenario.timeout, &mut out);
    out
}

#[test]
fn tcp_deliberate_differences_are_documented() {
    SUITE.assert_documented();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_probes_match_blackbox_exporter() {
    let (scenarios, _fixtures) = scenarios().await;
    SUITE.assert_scenario_names(scenarios.iter().map(|s| s.name));
    let compared = scenarios.iter().filter(|s| !s.blackwatch_only()).count();
    assert!(compared >= 12, "only {compared} compared scenarios");

    let pair = Pair::start(
        scenarios
            .iter()
            .map(|s| (s.name, s.module_yaml(), s.blackwatch_only())),
    )
    .await;
    let (blackbox, blackwatch) = (&pair.blackbox, &pair.blackwatch);

    let mut report = Report::new(&SUITE);
    for scenario in &scenarios {
        let bbe = if scenario.blackwatch_only() {
            Ok(String::new())
        } else {
            blackbox
                .probe(scenario.name, &scenario.target, &scenario.params)
                .await
        };
        let bw = blackwatch
            .probe(scenario.name, &scenario.target, &scenario.params)
            .await;
        let outputs = Outputs { bbe, bw };
        let outcome = outputs.compare(|bbe, bw| compare_outputs(scenario, bbe, bw));
        let context = module_context(&scenario.module_yaml(), &scenario.target);
        report.add(scenario.name, "", outcome, &context, &outputs);
    }
    report.finish(
        &format!(
            " ({compared} compared with blackbox_exporter, {} blackwatch only)",
            scenarios.len() - compared
        ),
        blackbox,
        blackwatch,
    );
}
