//! The grpc prober against real gRPC health servers, side by side with the real
//! blackbox_exporter (Debian 0.23.0).
//!
//! The peers are Python's grpcio + grpcio-health-checking (the gRPC C core, independent of
//! tonic), started from `tests/data/grpc/health_server.py` on `127.0.0.1:0`: a plaintext
//! server with `""` and `svc.up` SERVING and `svc.down` NOT_SERVING, one without the health
//! service, one with TLS (a certificate of a test CA for localhost and 127.0.0.1), one with a
//! self-signed `CA:TRUE` certificate pinned through `ca_file`, and one that records the
//! metadata it receives. [`grpc_probes_match_blackbox_exporter`] runs every
//! scenario of [`scenarios`] through both exporters — one config file, one module per
//! scenario — and compares the `/probe` outputs series by series with the helpers of
//! `conformance/` (names, label sets, values as written, HELP/TYPE, order; timing metrics
//! for presence and plausibility only), as `conformance_tcp.rs` does.
//!
//! Everything not in [`DELIBERATE_DIFFERENCES`] must match; that table holds the changes
//! upstream made after 0.23 (blackwatch follows master) and the probe deadline, which
//! blackwatch honours and 0.23 ignores. Scenarios whose configuration 0.23 cannot load
//! (`metadata` [0.28+]) or whose 0.23 behaviour is the ignored deadline run through
//! blackwatch only, with their own expectations (status code, metadata at the server).
//!
//! The suite fails (it does not skip) when blackbox_exporter or grpcio is missing;
//! `.ci/run` installs both.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tempfile::TempPath;

use crate::conformance::compare::{Deliberate, Difference, Outcome, Suite};
use crate::conformance::daemons::Pair;
use crate::conformance::expo::{Exposition, SeriesKey};
use crate::conformance::report::{module_context, Outputs, Report};
use crate::conformance::yaml::{module_yaml, yaml_path};
use crate::support::{TcpServer, TestCa};

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
        what: Difference::OnlyInBlackboxWithoutTls("probe_ssl_earliest_cert_expiry"),
        since: "0.26 (#1338)",
        reason: "0.23 registers probe_ssl_earliest_cert_expiry on every grpc probe, so a \
                 plaintext or failed call shows it as 0; since #1338 the TLS metrics are \
                 registered only after a call that returned over TLS.",
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
        what: Difference::BlackwatchOnly("metadata"),
        since: "0.28 (#956)",
        reason: "grpc `metadata` arrived in 0.28; 0.23's strict parser rejects the field, so \
                 the scenario runs through blackwatch only and the server checks what it got.",
    },
    Deliberate {
        what: Difference::BlackwatchOnly("metadata_uppercase_key"),
        since: "0.28 (#956) with grpc-go's metadata rules",
        reason: "as metadata: 0.23 cannot load it. grpc-go refuses a key outside \
                 [0-9a-z-_.] before connecting (status 13 INTERNAL); blackwatch must too.",
    },
    Deliberate {
        what: Difference::BlackwatchOnly("deadline"),
        since: "master (#1557); the reference asks for the deadline",
        reason: "0.23 to 0.28 call Health/Check on context.Background(), so a peer that \
                 accepts and never answers holds the probe past its timeout (until grpc-go's \
                 own 20 s connect timeout). blackwatch ends the call at the probe deadline \
                 with status 4 DEADLINE_EXCEEDED and its metrics.",
    },
];

/// Metrics whose values depend on timing: compared for presence and plausibility only.
const TIMING_METRICS: &[&str] = &[
    "probe_duration_seconds",
    "probe_dns_lookup_time_seconds",
    "probe_grpc_duration_seconds",
];

const DEFAULT_TIMEOUT: f64 = 5.0;

static SUITE: Suite = Suite {
    name: "grpc",
    table: DELIBERATE_DIFFERENCES,
    timing_metrics: TIMING_METRICS,
    timeout_slack: 0.25,
    every_entry_used: true,
};

// ---------------------------------------------------------------------------
// The gRPC health servers (grpcio in a Python child process)
// ---------------------------------------------------------------------------

/// Fails with the install hint when Python's grpcio is missing.
fn require_grpcio() {
    let ok = Command::new("python3")
        .args(["-c", "import grpc, grpc_health.v1.health"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "the grpc tests need Python's grpcio and grpcio-health-checking: pip install \
         --break-system-packages grpcio grpcio-health-checking (.ci/run installs them)"
    );
}

/// `tests/data/grpc/health_server.py` running the servers of a spec; killed on drop.
pub struct HealthServers {
    child: Child,
    stdin: Option<ChildStdin>,
    ports: BTreeMap<String, u16>,
    calls: Arc<Mutex<Vec<Value>>>,
}

impl HealthServers {
    pub fn start(spec: &Value) -> Self {
        require_grpcio();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/grpc/health_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(spec.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting python3");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let sink = calls.clone();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            if let Some(first) = lines.next() {
                let _ = tx.send(first);
            }
            for line in lines {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        let ready = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the gRPC health servers did not start");
        let ports: BTreeMap<String, u16> = ready
            .strip_prefix("READY ")
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or_else(|| panic!("unexpected server output {ready:?}"));
        HealthServers {
            child,
            stdin,
            ports,
            calls,
        }
    }

    pub fn target(&self, server: &str) -> String {
        format!("127.0.0.1:{}", self.ports[server])
    }

    pub fn localhost_target(&self, server: &str) -> String {
        format!("localhost:{}", self.ports[server])
    }

    /// The calls `server` has logged so far (specs with `"log": true`).
    fn calls(&self, server: &str) -> Vec<Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c["server"] == server)
            .cloned()
            .collect()
    }
}

impl Drop for HealthServers {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TLS key pair on disk for the Python server, with the CA files the probes use.
pub struct TlsFiles {
    pub cert: TempPath,
    pub key: TempPath,
    pub ca: TempPath,
    pub other_ca: TempPath,
    /// A self-signed `CA:TRUE` certificate (`openssl req -x509`'s default), its key, and
    /// the same certificate as the pinned `ca_file`.
    pub pinned_cert: TempPath,
    pub pinned_key: TempPath,
}

impl TlsFiles {
    pub fn new() -> Self {
        let ca = TestCa::new("gRPC test CA");
        let leaf = ca.localhost();
        let pinned =
            crate::support::certs::self_signed(&crate::support::LeafSpec::localhost().ca_true());
        TlsFiles {
            cert: leaf.write_chain_file(),
            key: leaf.write_key_file(),
            ca: ca.write_ca_file(),
            other_ca: TestCa::new("Another CA").write_ca_file(),
            pinned_cert: pinned.write_chain_file(),
            pinned_key: pinned.write_key_file(),
        }
    }

    pub fn server_tls(&self) -> Value {
        json!({"cert": self.cert.to_str(), "key": self.key.to_str()})
    }
}

/// The servers every grpc test uses: `plain`, `nohealth`, `tls` and `meta` (logging calls).
pub fn standard_servers(tls: &TlsFiles) -> HealthServers {
    let statuses = json!({"": "SERVING", "svc.up": "SERVING", "svc.down": "NOT_SERVING"});
    HealthServers::start(&json!({
        "log": true,
        "servers": [
            {"name": "plain", "statuses": statuses},
            {"name": "nohealth", "health": false},
            {"name": "tls", "statuses": statuses, "tls": tls.server_tls()},
            {"name": "meta", "statuses": {"": "SERVING"}},
            {"name": "pinned", "statuses": statuses, "tls": {
                "cert": tls.pinned_cert.to_str(), "key": tls.pinned_key.to_str()}},
        ],
    }))
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
    /// The `grpc:` block (YAML at column 0), `None` for a module without one;
    /// `preferred_ip_protocol: ip4` is added unless the block sets one.
    grpc: Option<String>,
    timeout: f64,
    expect_success: bool,
    expect_series: Vec<ExpectedSeries>,
}

impl Scenario {
    fn new(name: &'static str, target: impl Into<String>, expect_success: bool) -> Self {
        Self {
            name,
            target: target.into(),
            grpc: Some("preferred_ip_protocol: ip4\n".to_string()),
            timeout: DEFAULT_TIMEOUT,
            expect_success,
            expect_series: Vec::new(),
        }
    }

    fn grpc(mut self, block: &str) -> Self {
        let block = crate::support::dedent(block);
        let mut text = String::new();
        if !block.contains("preferred_ip_protocol") {
            text.push_str("preferred_ip_protocol: ip4\n");
        }
        text.push_str(&block);
        self.grpc = Some(text);
        self
    }

    fn without_block(mut self) -> Self {
        self.grpc = None;
        self
    }

    fn timeout(mut self, seconds: f64) -> Self {
        self.timeout = seconds;
        self
    }

    fn code(self, code: f64) -> Self {
        self.series("probe_grpc_status_code", &[], code)
    }

    fn serving(self, status: &'static str) -> Self {
        self.series(
            "probe_grpc_healthcheck_response",
            &[("serving_status", status)],
            1.0,
        )
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
        module_yaml("grpc", self.timeout, self.grpc.as_deref().unwrap_or(""))
    }
}

/// Peers and files that must outlive the run.
struct Fixtures {
    servers: HealthServers,
    _silent: TcpServer,
    _tls: TlsFiles,
}

fn scenarios() -> (Vec<Scenario>, Fixtures) {
    let tls = TlsFiles::new();
    let servers = standard_servers(&tls);
    let ca = yaml_path(&tls.ca);
    let other_ca = yaml_path(&tls.other_ca);
    let pinned = yaml_path(&tls.pinned_cert);
    // Accepts the connection and never answers: no TLS, no HTTP/2 settings.
    let silent = TcpServer::spawn(|stream| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(stream);
    });
    let refused = crate::tcp::closed_port();
    let plain = servers.target("plain");

    let scenarios = vec![
        Scenario::new("serving_whole_server", plain.clone(), true)
            .code(0.0)
            .serving("SERVING")
            .series("probe_grpc_ssl", &[], 0.0),
        Scenario::new("serving_named_service", plain.clone(), true)
            .grpc("service: svc.up\n")
            .serving("SERVING"),
        Scenario::new("http_scheme_target", format!("http://{plain}"), true),
        Scenario::new("not_serving", plain.clone(), false)
            .grpc("service: svc.down\n")
            .code(0.0)
            .serving("NOT_SERVING"),
        Scenario::new("unknown_service", plain.clone(), false)
            .grpc("service: no.such.service\n")
            .code(5.0),
        Scenario::new("no_health_service", servers.target("nohealth"), false).code(12.0),
        Scenario::new("refused", format!("127.0.0.1:{refused}"), false).code(14.0),
        // Upstream quirk: no `grpc:` block means no IP protocol fallback, and ip6 is
        // preferred, so an IPv4 literal does not resolve.
        Scenario::new("no_block_no_fallback", plain.clone(), false)
            .without_block()
            .series("probe_ip_protocol", &[], 0.0),
        Scenario::new("localhost_ip6_fallback", servers.localhost_target("plain"), true)
            .grpc("preferred_ip_protocol: ip6\n")
            .series("probe_ip_protocol", &[], 4.0),
        Scenario::new("tls_ca_file", servers.localhost_target("tls"), true)
            .grpc(&format!("tls: true\ntls_config:\n  ca_file: {ca}\n"))
            .code(0.0)
            .series("probe_grpc_ssl", &[], 1.0),
        Scenario::new("tls_ca_file_ip_target", servers.target("tls"), true)
            .grpc(&format!("tls: true\ntls_config:\n  ca_file: {ca}\n")),
        Scenario::new("tls_server_name", servers.target("tls"), true).grpc(&format!(
            "tls: true\ntls_config:\n  ca_file: {ca}\n  server_name: localhost\n"
        )),
        Scenario::new("tls_wrong_ca", servers.localhost_target("tls"), false)
            .grpc(&format!("tls: true\ntls_config:\n  ca_file: {other_ca}\n"))
            .code(14.0)
            .series("probe_grpc_ssl", &[], 0.0),
        Scenario::new("tls_wrong_server_name", servers.target("tls"), false).grpc(&format!(
            "tls: true\ntls_config:\n  ca_file: {ca}\n  server_name: other.example\n"
        )),
        Scenario::new("tls_insecure_skip_verify", servers.target("tls"), true)
            .grpc("tls: true\ntls_config:\n  insecure_skip_verify: true\n")
            .series("probe_tls_version_info", &[("version", "TLS 1.3")], 1.0),
        Scenario::new("tls_not_serving", servers.localhost_target("tls"), false)
            .grpc(&format!(
                "service: svc.down\ntls: true\ntls_config:\n  ca_file: {ca}\n"
            ))
            .serving("NOT_SERVING")
            .series("probe_grpc_ssl", &[], 1.0),
        Scenario::new("tls_unknown_service", servers.localhost_target("tls"), false)
            .grpc(&format!(
                "service: nope\ntls: true\ntls_config:\n  ca_file: {ca}\n"
            ))
            .code(5.0)
            .series("probe_grpc_ssl", &[], 0.0),
        Scenario::new("tls_self_signed_ca_true_pinned", servers.localhost_target("pinned"), true)
            .grpc(&format!("tls: true\ntls_config:\n  ca_file: {pinned}\n"))
            .series("probe_grpc_ssl", &[], 1.0),
        Scenario::new("tls_against_plaintext", plain.clone(), false)
            .grpc("tls: true\ntls_config:\n  insecure_skip_verify: true\n")
            .code(14.0),
        Scenario::new("plaintext_against_tls", servers.target("tls"), false).code(14.0),
        Scenario::new("metadata", servers.target("meta"), true).grpc(
            "metadata:\n  key1: [value1, value2]\n  key2-bin: [test]\n  authorization: [\"Bearer token\"]\n",
        ),
        Scenario::new("metadata_uppercase_key", servers.target("meta"), false)
            .grpc("metadata:\n  Authorization: [\"Bearer token\"]\n")
            .code(13.0),
        Scenario::new("deadline", silent.target(), false)
            .timeout(1.0)
            .code(4.0),
    ];
    (
        scenarios,
        Fixtures {
            servers,
            _silent: silent,
            _tls: tls,
        },
    )
}

// ---------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------

/// Blackwatch's own expectations: verdict, expected series, timeout metric, the probe
/// ending by its deadline, and the TLS metrics exactly after a call over TLS.
fn check_blackwatch(scenario: &Scenario, bw: &Exposition, out: &mut Outcome) {
    out.expect_blackwatch_success(bw, scenario.expect_success);
    out.expect_timeout_metric(bw, scenario.timeout);
    if let Some(d) = bw.value("probe_duration_seconds") {
        if d > scenario.timeout + 0.5 {
            out.failures.push(format!(
                "blackwatch's probe took {d}s, past its {}s timeout",
                scenario.timeout
            ));
        }
    }
    let over_tls = bw.value("probe_grpc_ssl") == Some(1.0);
    for m in [
        "probe_ssl_earliest_cert_expiry",
        "probe_tls_version_info",
        "probe_ssl_last_chain_info",
    ] {
        if bw.has(m) != over_tls {
            out.failures.push(format!(
                "blackwatch reports {m} ({}) though probe_grpc_ssl is {over_tls}",
                bw.has(m)
            ));
        }
    }
    for m in [
        "probe_ssl_last_chain_expiry_timestamp_seconds",
        "probe_tls_cipher_info",
    ] {
        if bw.has(m) {
            out.failures.push(format!(
                "upstream's grpc prober has no {m}; blackwatch reports it"
            ));
        }
    }
    let by_key = bw.by_key();
    // Once a call was attempted (the check phase), all four serving statuses are reported.
    if by_key.contains_key(&series_key(
        "probe_grpc_duration_seconds",
        &[("phase", "check")],
    )) {
        for status in ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"] {
            let key = series_key(
                "probe_grpc_healthcheck_response",
                &[("serving_status", status)],
            );
            if !by_key.contains_key(&key) {
                out.failures.push(format!("blackwatch lacks {key}"));
            }
        }
    }
    for (name, labels, value) in &scenario.expect_series {
        let key = series_key(name, labels);
        match by_key.get(&key) {
            Some(s) if s.value == *value => {}
            other => out.failures.push(format!(
                "blackwatch {key}: {:?}, expected {value}",
                other.map(|s| &s.raw)
            )),
        }
    }
}

fn series_key(name: &str, labels: &[(&str, &str)]) -> SeriesKey {
    SeriesKey {
        name: name.to_string(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
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

    let over_tls = bw_full.value("probe_grpc_ssl") == Some(1.0);
    let mut bw = bw_full.clone();
    let mut bbe = bbe_full.clone();
    SUITE.normalise(&mut bw, &mut out);
    for d in DELIBERATE_DIFFERENCES {
        if let Difference::OnlyInBlackboxWithoutTls(metric) = d.what {
            if !over_tls && !bw.has(metric) && bbe.value(metric) == Some(0.0) {
                bbe.remove_metric(metric);
                out.note(
                    d,
                    format!(
                        "{metric} 0 only in blackbox_exporter, no call over TLS (since {})",
                        d.since
                    ),
                );
            }
        }
    }
    SUITE.compare_series(&bbe, &bw, scenario.timeout, &mut out);
    out
}

/// What the `meta` server must have received from the `metadata` scenario: upstream's
/// `TestGRPCConnectionWithMetadata` (multi-value, `-bin`, authorization).
fn check_metadata(servers: &HealthServers) -> Result<(), String> {
    let calls = servers.calls("meta");
    let Some(call) = calls.first() else {
        return Err("the meta server saw no call".into());
    };
    let pairs: Vec<(String, Value)> = call["metadata"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| (p[0].as_str().unwrap_or_default().to_string(), p[1].clone()))
                .collect()
        })
        .unwrap_or_default();
    let values = |k: &str| -> Vec<Value> {
        pairs
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let want = [
        ("key1", vec![json!("value1"), json!("value2")]),
        ("key2-bin", vec![json!({"bin": "74657374"})]),
        ("authorization", vec![json!("Bearer token")]),
    ];
    for (k, v) in want {
        if values(k) != v {
            return Err(format!(
                "metadata {k}: got {:?}, want {v:?} (all: {pairs:?})",
                values(k)
            ));
        }
    }
    if calls.len() != 1 {
        return Err(format!(
            "the meta server saw {} calls; the uppercase key must fail before connecting",
            calls.len()
        ));
    }
    Ok(())
}

#[test]
fn grpc_deliberate_differences_are_documented() {
    SUITE.assert_documented();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_probes_match_blackbox_exporter() {
    let (scenarios, fixtures) = scenarios();
    SUITE.assert_scenario_names(scenarios.iter().map(|s| s.name));
    let compared = scenarios.iter().filter(|s| !s.blackwatch_only()).count();
    assert!(compared >= 15, "only {compared} compared scenarios");

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
            blackbox.probe(scenario.name, &scenario.target, &[]).await
        };
        let bw = blackwatch.probe(scenario.name, &scenario.target, &[]).await;
        let outputs = Outputs { bbe, bw };
        let mut outcome = outputs.compare(|bbe, bw| compare_outputs(scenario, bbe, bw));
        if scenario.name == "metadata_uppercase_key" {
            if let Err(e) = check_metadata(&fixtures.servers) {
                outcome.failures.push(e);
            }
        }
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

/// The probe log says why a call failed, in grpc-go's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_failures_are_explained_in_the_probe_log() {
    let tls = TlsFiles::new();
    let servers = standard_servers(&tls);
    let other_ca = yaml_path(&tls.other_ca);
    let cases = [
        (
            "preferred_ip_protocol: ip4\nservice: svc.down\n".to_string(),
            servers.target("plain"),
            "serving status NOT_SERVING",
        ),
        (
            "preferred_ip_protocol: ip4\n".to_string(),
            servers.target("nohealth"),
            "rpc error: code = Unimplemented",
        ),
        (
            "preferred_ip_protocol: ip4\n".to_string(),
            format!("127.0.0.1:{}", crate::tcp::closed_port()),
            "transport: Error while dialing: dial tcp 127.0.0.1:",
        ),
        (
            format!("preferred_ip_protocol: ip4\ntls: true\ntls_config:\n  ca_file: {other_ca}\n"),
            servers.localhost_target("tls"),
            "authentication handshake failed: tls: x509: certificate signed by unknown authority",
        ),
        (
            "preferred_ip_protocol: ip4\nmetadata:\n  Key: [v]\n".to_string(),
            servers.target("plain"),
            r#"code = Internal desc = header key \"Key\" contains illegal characters not in [0-9a-z-_.]"#,
        ),
    ];
    for (block, target, want) in cases {
        let yaml = module_yaml("grpc", 5.0, &block);
        let o = crate::support::probe_with(&yaml, &target).await;
        o.assert_success(false);
        assert!(o.log.contains(want), "{want:?} not in the log:\n{}", o.log);
    }
}
