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

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use tempfile::TempPath;

use crate::conformance::daemons::Daemon;
use crate::conformance::expo::{Exposition, SeriesKey};
use crate::support::certs::write_temp_file;
use crate::support::{self_signed_localhost, TcpServer, TestCa};
use crate::tcp::{
    banner_server, closed_port, irc_server, smtp_server, tls_server, tls_server_closing, v6_server,
    Received, V6Server, IRC_STEPS, SMTP_STEPS,
};

// ---------------------------------------------------------------------------
// The deliberate-difference table
// ---------------------------------------------------------------------------

/// What a [`Deliberate`] entry allows.
#[derive(Clone, Copy, Debug)]
pub enum Difference {
    /// Series of this metric appear only in blackwatch's output (in any scenario).
    OnlyInBlackwatch(&'static str),
    /// 0.23 has this metric where blackwatch does not, in scenarios whose connection
    /// failed (blackwatch registers it only once connected).
    OnlyInBlackboxWhenNotConnected(&'static str),
    /// Blackwatch's series of `metric` carry the extra label `label`.
    ExtraLabel {
        metric: &'static str,
        label: &'static str,
    },
    /// 0.23 and blackwatch legitimately take different paths in this scenario; only
    /// blackwatch's own expected `probe_success` is checked.
    Scenario(&'static str),
    /// The scenario's configuration does not load in 0.23: it runs through blackwatch
    /// only.
    BlackwatchOnly(&'static str),
}

/// One documented, deliberate difference between blackwatch and blackbox_exporter 0.23.
#[derive(Clone, Copy, Debug)]
pub struct Deliberate {
    pub what: Difference,
    pub since: &'static str,
    pub reason: &'static str,
}

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

const TIMEOUT_SLACK: f64 = 0.25;
const DEFAULT_TIMEOUT: f64 = 5.0;

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::OnlyInBlackwatch(m) => write!(f, "metric {m} only in blackwatch"),
            Difference::OnlyInBlackboxWhenNotConnected(m) => {
                write!(f, "metric {m} only in 0.23 when the connection failed")
            }
            Difference::ExtraLabel { metric, label } => {
                write!(f, "label {label} of {metric} only in blackwatch")
            }
            Difference::Scenario(s) => write!(f, "scenario {s}"),
            Difference::BlackwatchOnly(s) => write!(f, "scenario {s} (blackwatch only)"),
        }
    }
}

fn scenario_rule(name: &str) -> Option<&'static Deliberate> {
    DELIBERATE_DIFFERENCES.iter().find(|d| match d.what {
        Difference::Scenario(s) | Difference::BlackwatchOnly(s) => s == name,
        _ => false,
    })
}

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
        let block = crate::harness::dedent(block);
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
        matches!(
            scenario_rule(self.name),
            Some(Deliberate {
                what: Difference::BlackwatchOnly(_),
                ..
            })
        )
    }

    fn module_yaml(&self) -> String {
        let mut yaml = format!("prober: tcp\ntimeout: {}s\n", self.timeout);
        if !self.tcp.trim().is_empty() {
            yaml.push_str("tcp:\n");
            for line in self.tcp.lines() {
                let _ = writeln!(yaml, "  {line}");
            }
        }
        yaml
    }
}

/// Peers and files that must outlive the run.
struct Fixtures {
    _servers: Vec<TcpServer>,
    _v6: V6Server,
    _files: Vec<TempPath>,
}

fn yaml_path(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
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
    ];
    (
        scenarios,
        Fixtures {
            _servers: servers,
            _v6: v6,
            _files: vec![ca_file],
        },
    )
}

fn config_yaml<'a>(scenarios: impl Iterator<Item = &'a Scenario>) -> String {
    let mut yaml = String::from("modules:\n");
    for scenario in scenarios {
        let _ = writeln!(yaml, "  {}:", scenario.name);
        for line in scenario.module_yaml().lines() {
            let _ = writeln!(yaml, "    {line}");
        }
    }
    yaml
}

// ---------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Outcome {
    failures: Vec<String>,
    deliberate: Vec<String>,
    /// Table entries this scenario needed (each entry must be needed somewhere).
    used: BTreeSet<String>,
}

fn check_timing(out: &mut Outcome, who: &str, key: &SeriesKey, value: f64, timeout: f64) {
    if !(value.is_finite() && value >= 0.0 && value < timeout + TIMEOUT_SLACK) {
        out.failures.push(format!(
            "{who}: implausible timing {key} = {value} (module timeout {timeout}s)"
        ));
    }
}

/// Blackwatch's own expectations: verdict, expected series, timeout metric, and the
/// flags registered exactly when connected.
fn check_blackwatch(scenario: &Scenario, bw: &Exposition, out: &mut Outcome) {
    let want = f64::from(u8::from(scenario.expect_success));
    if bw.value("probe_success") != Some(want) {
        out.failures.push(format!(
            "blackwatch probe_success {:?}, expected {want}",
            bw.value("probe_success")
        ));
    }
    match bw.value("probe_timeout_seconds") {
        Some(t) if t == scenario.timeout => {}
        other => out.failures.push(format!(
            "blackwatch probe_timeout_seconds {other:?}, expected {}",
            scenario.timeout
        )),
    }
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

fn compare_outputs(scenario: &Scenario, bbe: &Exposition, bw_full: &Exposition) -> Outcome {
    let mut out = Outcome::default();
    check_blackwatch(scenario, bw_full, &mut out);
    if let Some(rule) = scenario_rule(scenario.name) {
        out.used.insert(rule.what.to_string());
        out.deliberate.push(format!(
            "whole scenario (since {}): blackbox_exporter probe_success {:?}, blackwatch {:?}",
            rule.since,
            bbe.value("probe_success"),
            bw_full.value("probe_success")
        ));
        return out;
    }
    let bbe_success = bbe.value("probe_success");
    if bbe_success != Some(f64::from(u8::from(scenario.expect_success))) {
        out.failures.push(format!(
            "scenario set-up: blackbox_exporter gave probe_success {bbe_success:?}, the scenario \
             expects {}",
            scenario.expect_success
        ));
    }

    let connected = bw_full.has("probe_failed_due_to_regex");
    let mut bw = bw_full.clone();
    let mut bbe = bbe.clone();
    for d in DELIBERATE_DIFFERENCES {
        match d.what {
            Difference::OnlyInBlackwatch(metric) => {
                if bw.has(metric) && !bbe.has(metric) {
                    out.used.insert(d.what.to_string());
                    out.deliberate
                        .push(format!("{metric} only in blackwatch (since {})", d.since));
                    bw.samples.retain(|s| s.key.name != metric);
                    bw.help.remove(metric);
                    bw.types.remove(metric);
                }
            }
            Difference::OnlyInBlackboxWhenNotConnected(metric) => {
                if !connected && bbe.has(metric) && !bw.has(metric) {
                    out.used.insert(d.what.to_string());
                    out.deliberate.push(format!(
                        "{metric} only in blackbox_exporter, the connection failed (since {})",
                        d.since
                    ));
                    bbe.samples.retain(|s| s.key.name != metric);
                    bbe.help.remove(metric);
                    bbe.types.remove(metric);
                }
            }
            Difference::ExtraLabel { metric, label } => {
                for sample in bw.samples.iter_mut().filter(|s| s.key.name == metric) {
                    if sample.key.labels.remove(label).is_some() {
                        out.used.insert(d.what.to_string());
                        out.deliberate.push(format!(
                            "{metric} has {label} in blackwatch (since {})",
                            d.since
                        ));
                    }
                }
            }
            Difference::Scenario(_) | Difference::BlackwatchOnly(_) => {}
        }
    }

    let a = bbe.by_key();
    let b = bw.by_key();
    for (key, sa) in &a {
        let Some(sb) = b.get(key) else {
            out.failures
                .push(format!("only in blackbox_exporter: {key} {}", sa.raw));
            continue;
        };
        if TIMING_METRICS.contains(&key.name.as_str()) {
            check_timing(
                &mut out,
                "blackbox_exporter",
                key,
                sa.value,
                scenario.timeout,
            );
            check_timing(&mut out, "blackwatch", key, sb.value, scenario.timeout);
            if (sa.value == 0.0) != (sb.value == 0.0) {
                out.failures.push(format!(
                    "{key}: zero in one output only: blackbox_exporter {}, blackwatch {}",
                    sa.raw, sb.raw
                ));
            }
            continue;
        }
        let same = sa.value == sb.value || (sa.value.is_nan() && sb.value.is_nan());
        if !same {
            out.failures.push(format!(
                "{key}: blackbox_exporter {}, blackwatch {}",
                sa.raw, sb.raw
            ));
        } else if sa.raw != sb.raw {
            out.failures.push(format!(
                "{key}: formatted differently: blackbox_exporter {}, blackwatch {}",
                sa.raw, sb.raw
            ));
        }
    }
    for (key, sb) in &b {
        if !a.contains_key(key) {
            out.failures
                .push(format!("only in blackwatch: {key} {}", sb.raw));
        }
    }
    for (name, help) in &bbe.help {
        if let Some(other) = bw.help.get(name) {
            if help != other {
                out.failures.push(format!(
                    "HELP of {name}: blackbox_exporter {help:?}, blackwatch {other:?}"
                ));
            }
        }
    }
    for (name, kind) in &bbe.types {
        if let Some(other) = bw.types.get(name) {
            if kind != other {
                out.failures.push(format!(
                    "TYPE of {name}: blackbox_exporter {kind}, blackwatch {other}"
                ));
            }
        }
    }
    let common: BTreeSet<&SeriesKey> = a.keys().filter(|k| b.contains_key(*k)).collect();
    let order = |e: &Exposition| -> Vec<String> {
        e.samples
            .iter()
            .filter(|s| common.contains(&s.key))
            .map(|s| s.key.to_string())
            .collect()
    };
    let (order_a, order_b) = (order(&bbe), order(&bw));
    if order_a != order_b {
        out.failures.push(format!(
            "series order differs:\n  blackbox_exporter: {order_a:?}\n  blackwatch:        {order_b:?}"
        ));
    }
    out
}

fn deliberate_table() -> String {
    let mut text = String::from(
        "Deliberate tcp differences (blackwatch follows blackbox_exporter master; reference is 0.23):\n",
    );
    for d in DELIBERATE_DIFFERENCES {
        let _ = writeln!(text, "  - {} [since {}]: {}", d.what, d.since, d.reason);
    }
    text
}

#[test]
fn tcp_deliberate_differences_are_documented() {
    for d in DELIBERATE_DIFFERENCES {
        assert!(d.reason.len() > 40, "{d:?} needs a real reason");
        assert!(!d.since.is_empty(), "{d:?} needs a version");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_probes_match_blackbox_exporter() {
    let (scenarios, _fixtures) = scenarios().await;
    let names: BTreeSet<&str> = scenarios.iter().map(|s| s.name).collect();
    assert_eq!(
        names.len(),
        scenarios.len(),
        "scenario names must be unique"
    );
    for d in DELIBERATE_DIFFERENCES {
        if let Difference::Scenario(s) | Difference::BlackwatchOnly(s) = d.what {
            assert!(names.contains(s), "the table names an unknown scenario {s}");
        }
    }
    let compared = scenarios.iter().filter(|s| !s.blackwatch_only()).count();
    assert!(compared >= 12, "only {compared} compared scenarios");

    let shared = write_temp_file(
        config_yaml(scenarios.iter().filter(|s| !s.blackwatch_only())).as_bytes(),
        ".yml",
    );
    let extended = write_temp_file(config_yaml(scenarios.iter()).as_bytes(), ".yml");
    let blackbox = Daemon::blackbox(&shared).await;
    let blackwatch = Daemon::blackwatch(&extended).await;

    let mut report = String::new();
    let mut failed = Vec::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    for scenario in &scenarios {
        let bbe_text = if scenario.blackwatch_only() {
            Ok(String::new())
        } else {
            blackbox
                .probe(scenario.name, &scenario.target, &scenario.params)
                .await
        };
        let bw_text = blackwatch
            .probe(scenario.name, &scenario.target, &scenario.params)
            .await;
        let mut outcome = Outcome::default();
        match (&bbe_text, &bw_text) {
            (Ok(a), Ok(b)) => match (Exposition::parse(a), Exposition::parse(b)) {
                (Ok(ea), Ok(eb)) => outcome = compare_outputs(scenario, &ea, &eb),
                (ea, eb) => outcome.failures.push(format!(
                    "unparsable output: blackbox_exporter {:?}, blackwatch {:?}",
                    ea.err(),
                    eb.err()
                )),
            },
            (a, b) => outcome.failures.push(format!(
                "probe request failed: blackbox_exporter {:?}, blackwatch {:?}",
                a.as_ref().err(),
                b.as_ref().err()
            )),
        }
        used.extend(outcome.used.iter().cloned());
        let status = if outcome.failures.is_empty() {
            "PASS"
        } else {
            "FAIL"
        };
        let _ = writeln!(report, "[{status}] {}", scenario.name);
        for d in &outcome.deliberate {
            let _ = writeln!(report, "    deliberate: {d}");
        }
        for f in &outcome.failures {
            let _ = writeln!(report, "    DIFF: {f}");
        }
        if !outcome.failures.is_empty() {
            let _ = writeln!(
                report,
                "    module:\n      {}\n    target: {}\n    --- blackbox_exporter ---\n{}\n    --- blackwatch ---\n{}",
                scenario.module_yaml().trim_end().replace('\n', "\n      "),
                scenario.target,
                bbe_text.unwrap_or_else(|e| e),
                bw_text.unwrap_or_else(|e| e),
            );
            failed.push(scenario.name);
        }
    }
    let _ = writeln!(
        report,
        "\n{}/{} tcp scenarios pass ({compared} compared with blackbox_exporter, {} blackwatch only).\n{}",
        scenarios.len() - failed.len(),
        scenarios.len(),
        scenarios.len() - compared,
        deliberate_table()
    );
    println!("{report}");
    let unused: Vec<String> = DELIBERATE_DIFFERENCES
        .iter()
        .map(|d| d.what.to_string())
        .filter(|w| !used.contains(w))
        .collect();
    assert!(
        unused.is_empty(),
        "deliberate differences no scenario needed (remove them or add a scenario): {unused:?}"
    );
    assert!(
        failed.is_empty(),
        "{} of {} tcp scenarios differ: {failed:?}\n\n{report}\nblackwatch log:\n{}",
        failed.len(),
        scenarios.len(),
        blackwatch.log()
    );
}
