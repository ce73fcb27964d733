//! The real `blackwatch` binary: `--config.check` exit codes and output, `--version`, and a
//! daemon on `127.0.0.1:0` found through its `listening on` line (hickory server_harness):
//! endpoints, a probe against a loopback server, SIGHUP reload and SIGTERM exit.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::process::spawn_listening;
use crate::support::{handlers, http_request, poll, try_http_request, HttpServer, TestResponse};

const BIN: &str = env!("CARGO_BIN_EXE_blackwatch");
/// Generous: the machine is shared with concurrent builds.
const WAIT: Duration = Duration::from_secs(30);

fn run(args: &[&str]) -> (ExitStatus, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("BLACKWATCH_LOG")
        .output()
        .expect("running the blackwatch binary");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_config(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writing a test config");
    path
}

// ---------------------------------------------------------------------------------------------
// --config.check and --version.

#[test]
fn config_check_accepts_a_good_file() {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("modules/http.yml");
    let (status, _, stderr) = run(&[
        "--config.file",
        modules.to_str().expect("utf-8 path"),
        "--config.check",
    ]);
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    assert!(stderr.contains("Config file is ok"), "stderr:\n{stderr}");
}

#[test]
fn config_check_without_a_file_checks_the_embedded_modules() {
    let (status, _, stderr) = run(&["--config.check"]);
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
}

#[test]
fn config_check_lists_every_error_of_a_bad_file() {
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad/three-errors.yml");
    let bad = bad.to_str().expect("utf-8 path");
    let (status, _, stderr) = run(&["--config.file", bad, "--config.check"]);
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
    for want in [
        "error parsing config file: 3 errors:".to_string(),
        format!("{bad}:7:19: modules.dns_test.dns.query_type: query type 'NOPE' is not valid"),
        format!("{bad}:11:12: modules.icmp_test.icmp.ttl: \"ttl\" cannot exceed 255"),
        format!("{bad}:15:15: modules.http_2xx.http.method: invalid HTTP method \"GE T\""),
    ] {
        assert!(
            stderr.contains(&want),
            "missing {want:?} in stderr:\n{stderr}"
        );
    }
    assert!(!stderr.contains("Config file is ok"), "stderr:\n{stderr}");
}

#[test]
fn config_check_fails_on_a_missing_file() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let missing = dir.path().join("nope.yml");
    let missing = missing.to_str().expect("utf-8 path");
    let (status, _, stderr) = run(&["--config.file", missing, "--config.check"]);
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.contains(&format!("{missing}: error reading YAML file: ")),
        "stderr:\n{stderr}"
    );
}

#[test]
fn a_bad_config_also_stops_the_daemon_from_starting() {
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad/invalid-prober.yml");
    let (status, _, stderr) = run(&[
        "--config.file",
        bad.to_str().expect("utf-8 path"),
        "--web.listen-address",
        "127.0.0.1:0",
    ]);
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.contains("prober 'invalid' is not valid"),
        "stderr:\n{stderr}"
    );
    assert!(!stderr.contains("listening on"), "stderr:\n{stderr}");
}

#[test]
fn version_prints_name_and_version() {
    let (status, stdout, stderr) = run(&["--version"]);
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    assert_eq!(
        stdout.trim(),
        format!("blackwatch {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let (status, _, stderr) = run(&["--no-such-flag"]);
    assert_eq!(status.code(), Some(2), "stderr:\n{stderr}");
    assert!(stderr.contains("--no-such-flag"), "stderr:\n{stderr}");
}

// ---------------------------------------------------------------------------------------------
// The daemon.

/// A running `blackwatch`; killed on drop if a test fails before it exits.
struct Daemon {
    child: Child,
    addr: std::net::SocketAddr,
    /// Every stderr line so far, for failure messages.
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    /// Starts the binary on `127.0.0.1:0` and waits for its `listening on` line.
    async fn start(extra: &[&str]) -> Daemon {
        let mut cmd = Command::new(BIN);
        cmd.args(["--web.listen-address", "127.0.0.1:0"])
            .args(extra);
        let spawned = spawn_listening(cmd, WAIT).await;
        let mut daemon = Daemon {
            child: spawned.child,
            addr: "0.0.0.0:0".parse().expect("a placeholder address"),
            stderr: spawned.stderr,
        };
        match spawned.addr {
            Some(addr) => {
                assert!(addr.ip().is_loopback(), "listening on {addr}");
                assert_ne!(addr.port(), 0);
                daemon.addr = addr;
                daemon
            }
            None => panic!(
                "no `listening on 127.0.0.1:PORT` line; stderr:\n{}",
                daemon.stderr_text()
            ),
        }
    }

    fn stderr_text(&self) -> String {
        self.stderr.lock().expect("stderr lines").join("\n")
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit.
    async fn wait(&mut self) -> ExitStatus {
        poll::until("the daemon to exit", WAIT, async || {
            match self.child.try_wait().expect("polling the daemon") {
                Some(status) => Ok(status),
                None => Err(format!(
                    "the daemon did not exit; stderr:\n{}",
                    self.stderr_text()
                )),
            }
        })
        .await
    }

    async fn get(&self, path_and_query: &str) -> (u16, String) {
        http_get(self.addr, path_and_query).await
    }

    /// Polls `path` until `done(body)` holds.
    async fn wait_for(&self, path: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
        poll::until(&format!("{what} on {path}"), WAIT, async || {
            let body = match try_http_request(
                self.addr,
                http::Method::GET,
                path,
                &[],
                bytes::Bytes::new(),
                WAIT,
            )
            .await
            {
                Ok(r) => r.text(),
                // A daemon that is gone is shown with its last words.
                Err(e) => return Err(format!("{e}\nstderr:\n{}", self.stderr_text())),
            };
            if done(&body) {
                Ok(body)
            } else {
                Err(format!("body:\n{body}\nstderr:\n{}", self.stderr_text()))
            }
        })
        .await
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A GET to the daemon: status code and body (panics if the daemon does not answer).
async fn http_get(addr: std::net::SocketAddr, path_and_query: &str) -> (u16, String) {
    let resp = http_request(
        addr,
        http::Method::GET,
        path_and_query,
        &[],
        bytes::Bytes::new(),
    )
    .await;
    (resp.status, resp.text())
}

/// The value of an unlabelled sample `name` in a text exposition.
fn sample(exposition: &str, name: &str) -> Option<f64> {
    exposition.lines().find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok()).flatten()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_serves_probes_and_exits_cleanly_on_sigterm() {
    let target = HttpServer::plain(handlers::ok());
    let mut daemon = Daemon::start(&[]).await;

    let (status, body) = daemon.get("/-/ready").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = daemon.get("/-/healthy").await;
    assert_eq!((status, body.as_str()), (200, "Healthy"));

    let (status, body) = daemon.get("/metrics").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        sample(&body, "blackbox_exporter_config_last_reload_successful"),
        Some(1.0),
        "{body}"
    );

    let url = target.url("/");
    let (status, body) = daemon
        .get(&format!("/probe?target={url}&module=http_2xx"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sample(&body, "probe_success"), Some(1.0), "{body}");
    assert_eq!(
        sample(&body, "probe_http_status_code"),
        Some(200.0),
        "{body}"
    );
    assert_eq!(target.requests().len(), 1);

    // An unknown module is the client's mistake.
    let (status, _) = daemon
        .get(&format!("/probe?target={url}&module=no_such_module"))
        .await;
    assert_eq!(status, 400);

    daemon.signal("TERM");
    let status = daemon.wait().await;
    assert_eq!(status.code(), Some(0), "stderr:\n{}", daemon.stderr_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_a_changed_file_and_keeps_the_old_config_when_broken() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let first =
        "modules:\n  http_2xx:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\n";
    let path = write_config(dir.path(), "blackwatch.yml", first);
    let target = HttpServer::plain(handlers::ok());
    let mut daemon = Daemon::start(&["--config.file", path.to_str().expect("utf-8 path")]).await;

    let (status, config) = daemon.get("/config").await;
    assert_eq!(status, 200);
    assert!(config.contains("http_2xx"), "{config}");
    assert!(!config.contains("reloaded_module"), "{config}");

    // A changed, valid file: the new module appears after SIGHUP.
    let second = format!(
        "{first}  reloaded_module:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\n      method: HEAD\n"
    );
    write_config(dir.path(), "blackwatch.yml", &second);
    daemon.signal("HUP");
    daemon
        .wait_for("/config", "the reloaded module", |b| {
            b.contains("reloaded_module")
        })
        .await;
    let (_, body) = daemon
        .get(&format!(
            "/probe?target={}&module=reloaded_module",
            target.url("/")
        ))
        .await;
    assert_eq!(sample(&body, "probe_success"), Some(1.0), "{body}");
    assert_eq!(
        target.requests().last().map(|r| r.method.to_string()),
        Some("HEAD".to_string())
    );

    // A broken file: the reload fails, the old config stays.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("opening the config");
    writeln!(f, "  broken:\n    prober: nope").expect("appending");
    drop(f);
    daemon.signal("HUP");
    daemon
        .wait_for("/metrics", "a failed reload", |b| {
            sample(b, "blackbox_exporter_config_last_reload_successful") == Some(0.0)
        })
        .await;
    let (_, config) = daemon.get("/config").await;
    assert!(config.contains("reloaded_module"), "{config}");
    assert!(!config.contains("broken"), "{config}");
    let (_, body) = daemon
        .get(&format!(
            "/probe?target={}&module=reloaded_module",
            target.url("/")
        ))
        .await;
    assert_eq!(sample(&body, "probe_success"), Some(1.0), "{body}");

    daemon.signal("TERM");
    assert_eq!(daemon.wait().await.code(), Some(0));
}

/// `RssFile` of a process, in KiB (the binary's and libraries' pages it has mapped).
fn rss_file_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reading status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssFile:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("an RssFile line")
}

/// Waits for the `n`th stderr line that contains `needle` and returns it.
async fn nth_log_line(daemon: &Daemon, needle: &str, n: usize) -> String {
    poll::until(&format!("log line {n} with {needle}"), WAIT, async || {
        let lines = daemon.stderr.lock().expect("stderr lines").clone();
        match lines.iter().filter(|l| l.contains(needle)).nth(n - 1) {
            Some(l) => Ok(l.clone()),
            None => Err(format!("stderr:\n{}", lines.join("\n"))),
        }
    })
    .await
}

/// The number after ` bytes=` in a logfmt line.
fn bytes_field(line: &str) -> u64 {
    line.split(" bytes=")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no bytes= in {line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_pages_of_the_binary_are_released_and_the_daemon_keeps_working() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let first =
        "modules:\n  http_2xx:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\n";
    let path = write_config(dir.path(), "blackwatch.yml", first);
    let target = HttpServer::plain(handlers::ok());
    let daemon = Daemon::start(&[
        "--config.file",
        path.to_str().expect("utf-8 path"),
        "--log.level",
        "debug",
    ])
    .await;
    let pid = daemon.child.id();
    let at_start = rss_file_kib(pid);

    // Ten seconds after start: the read-only segments (code, read-only data) are unmapped.
    let line = nth_log_line(&daemon, "Released the binary's start-up pages", 1).await;
    assert!(line.contains("after=start-up"), "{line}");
    let released = bytes_field(&line);
    let after = rss_file_kib(pid);
    assert!(released > 1 << 20, "the code segment is megabytes: {line}");
    assert!(
        after < at_start,
        "RssFile {at_start} KiB at start, {after} KiB after the release"
    );

    // What was released comes back on use: probes, metrics and a reload all work.
    let (_, body) = daemon
        .get(&format!(
            "/probe?target={}&module=http_2xx",
            target.url("/")
        ))
        .await;
    assert_eq!(sample(&body, "probe_success"), Some(1.0), "{body}");
    let (status, body) = daemon.get("/metrics").await;
    assert_eq!(status, 200, "{body}");
    let second = format!(
        "{first}  head:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\n      method: HEAD\n"
    );
    write_config(dir.path(), "blackwatch.yml", &second);
    daemon.signal("HUP");
    let line = nth_log_line(&daemon, "Released the binary's start-up pages", 2).await;
    assert!(line.contains("after=reload"), "{line}");
    let (_, body) = daemon
        .get(&format!("/probe?target={}&module=head", target.url("/")))
        .await;
    assert_eq!(sample(&body, "probe_success"), Some(1.0), "{body}");
    assert_eq!(
        target.requests().last().map(|r| r.method.to_string()),
        Some("HEAD".to_string())
    );
}

// ---------------------------------------------------------------------------------------------
// Subcommands: `probe`, `check config`, `test rules`.

/// Runs the binary off the runtime's worker threads, so loopback servers keep serving.
async fn run_async(args: &[&str]) -> (ExitStatus, String, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&refs)
    })
    .await
    .expect("the blackwatch process finishes")
}

/// The value of the `key  value` line of a `probe` summary.
fn summary_field<'a>(summary: &'a str, key: &str) -> Option<&'a str> {
    summary.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?;
        rest.starts_with(' ').then(|| rest.trim())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_prints_a_summary_and_exits_0_on_success() {
    let target = HttpServer::plain(handlers::ok());
    let url = target.url("/health");
    let (status, stdout, stderr) = run_async(&["probe", &url]).await;
    assert_eq!(
        status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(
        summary_field(&stdout, "result"),
        Some("success"),
        "{stdout}"
    );
    assert_eq!(summary_field(&stdout, "target"), Some(url.as_str()));
    // The default module for an http:// target, from the built-in modules.
    assert_eq!(
        summary_field(&stdout, "module"),
        Some("http_2xx (http)"),
        "{stdout}"
    );
    assert_eq!(
        summary_field(&stdout, "http status"),
        Some("200 (HTTP/1.1)")
    );
    let phases = summary_field(&stdout, "phases").expect("a phases line");
    for phase in ["resolve", "connect", "processing", "transfer"] {
        assert!(phases.contains(phase), "{phases}");
    }
    assert!(summary_field(&stdout, "duration").is_some(), "{stdout}");
    assert!(summary_field(&stdout, "tls").is_none(), "{stdout}");
    assert!(!stdout.contains("log:"), "{stdout}");
    assert_eq!(target.requested_paths(), vec!["/health".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_failure_exits_1_and_prints_the_probe_log() {
    let target = HttpServer::plain(handlers::always(TestResponse::new(503)));
    let (status, stdout, stderr) = run_async(&["probe", &target.url("/")]).await;
    assert_eq!(
        status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(
        summary_field(&stdout, "result"),
        Some("FAILURE"),
        "{stdout}"
    );
    assert_eq!(
        summary_field(&stdout, "http status"),
        Some("503 (HTTP/1.1)")
    );
    let (_, log) = stdout.split_once("log:\n").expect("a log section");
    assert!(
        log.contains("Invalid HTTP response status code"),
        "log:\n{log}"
    );
    for want in ["msg=\"Beginning probe\"", "msg=\"Probe failed\""] {
        assert!(log.contains(want), "missing {want} in log:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_verbose_prints_the_log_on_success_too() {
    let target = HttpServer::plain(handlers::ok());
    let (status, stdout, _) = run_async(&["probe", "-v", &target.url("/")]).await;
    assert_eq!(status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("msg=\"Probe succeeded\""), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_metrics_output_is_the_probe_exposition() {
    let target = HttpServer::plain(handlers::ok());
    let (status, stdout, stderr) = run_async(&[
        "probe",
        "--output=metrics",
        "--module",
        "http_2xx",
        &target.url("/"),
    ])
    .await;
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    assert_eq!(sample(&stdout, "probe_success"), Some(1.0), "{stdout}");
    assert_eq!(sample(&stdout, "probe_http_status_code"), Some(200.0));
    assert!(
        stdout.contains("probe_http_duration_seconds{phase=\"connect\"} "),
        "{stdout}"
    );
    let (ok, out) = crate::conformance::promtool_check(&stdout).await;
    assert!(ok, "promtool check metrics:\n{out}\n{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_summary_shows_tls_version_and_certificate_expiry() {
    let ca = crate::support::TestCa::new("cli probe CA");
    let ca_file = ca.write_ca_file();
    let cert = ca.localhost();
    let not_after = cert.leaf().not_after();
    let target = HttpServer::tls(&cert, handlers::ok());
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = write_config(
        dir.path(),
        "blackwatch.yml",
        &format!(
            "modules:\n  https_private_ca:\n    prober: http\n    timeout: 5s\n    http:\n      \
             preferred_ip_protocol: ip4\n      tls_config:\n        ca_file: {:?}\n",
            ca_file.display().to_string()
        ),
    );
    let (status, stdout, stderr) = run_async(&[
        "probe",
        "--config.file",
        config.to_str().expect("utf-8 path"),
        "--module",
        "https_private_ca",
        &target.localhost_url("/"),
    ])
    .await;
    assert_eq!(
        status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let tls = summary_field(&stdout, "tls").expect("a tls line");
    let expiry = blackwatch::clock::rfc3339(
        std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(not_after).expect("future")),
    );
    assert!(tls.starts_with("TLS 1.3, certificate expires "), "{tls}");
    assert!(tls.contains(&expiry), "want {expiry} in {tls}");
    assert!(tls.contains(" days)"), "{tls}");
    // The module's timeout is the probe's.
    assert!(
        summary_field(&stdout, "duration").is_some_and(|d| d.ends_with("(timeout 5.000s)")),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_defaults_to_tcp_connect_for_host_port_targets() {
    let server = crate::support::TcpServer::accept_and_close();
    let (status, stdout, stderr) = run_async(&["probe", &server.target()]).await;
    assert_eq!(
        status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(summary_field(&stdout, "module"), Some("tcp_connect (tcp)"));
    assert!(summary_field(&stdout, "http status").is_none(), "{stdout}");

    // Nothing listening: a probe failure, not a usage error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let (status, stdout, _) = run_async(&["probe", &format!("127.0.0.1:{port}")]).await;
    assert_eq!(status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("Error dialing TCP"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_timeout_flag_bounds_the_probe() {
    let target = HttpServer::plain(handlers::always(
        TestResponse::ok().with_delay(Duration::from_secs(20)),
    ));
    let started = tokio::time::Instant::now();
    let (status, stdout, _) = run_async(&["probe", "--timeout", "300ms", &target.url("/")]).await;
    assert_eq!(status.code(), Some(1), "{stdout}");
    assert!(started.elapsed() < Duration::from_secs(15), "{stdout}");
    assert!(
        summary_field(&stdout, "duration").is_some_and(|d| d.ends_with("(timeout 300.0ms)")),
        "{stdout}"
    );
}

#[test]
fn probe_usage_errors_exit_2() {
    // Unknown module: the message lists the known ones.
    let (status, stdout, stderr) = run(&["probe", "--module", "nope", "http://127.0.0.1:1/"]);
    assert_eq!(status.code(), Some(2), "stderr:\n{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("unknown module \"nope\" in <embedded>; known modules: "),
        "{stderr}"
    );
    assert!(stderr.contains("http_2xx"), "{stderr}");

    // A config that does not load.
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad/invalid-prober.yml");
    let bad = bad.to_str().expect("utf-8 path");
    let (status, _, stderr) = run(&["probe", "--config.file", bad, "http://127.0.0.1:1/"]);
    assert_eq!(status.code(), Some(2), "stderr:\n{stderr}");
    assert!(stderr.contains("prober 'invalid' is not valid"), "{stderr}");

    // clap's own usage errors.
    for args in [
        &["probe"][..],
        &["probe", "--timeout", "soon", "http://127.0.0.1:1/"],
        &["probe", "--output=json", "http://127.0.0.1:1/"],
        &["probe", "--no-such-flag", "http://127.0.0.1:1/"],
        &["check", "config"],
        &["test", "rules"],
        &["no-such-command"],
    ] {
        let (status, _, stderr) = run(args);
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
    }
}

#[test]
fn probe_takes_the_config_file_given_before_the_subcommand() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = write_config(
        dir.path(),
        "blackwatch.yml",
        "modules:\n  only_mine:\n    prober: tcp\n",
    );
    let config = config.to_str().expect("utf-8 path");
    let (status, _, stderr) = run(&["--config.file", config, "probe", "127.0.0.1:1"]);
    // The default module is not in that file.
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "unknown module \"tcp_connect\" in {config}; known modules: only_mine"
        )),
        "{stderr}"
    );
}

#[test]
fn check_config_subcommand_matches_config_check() {
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/standalone.yml");
    let (status, _, stderr) = run(&["check", "config", good.to_str().expect("utf-8 path")]);
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    assert!(stderr.contains("Config file is ok: "), "{stderr}");
    assert!(stderr.contains("probe job(s)"), "{stderr}");

    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad/three-errors.yml");
    let bad = bad.to_str().expect("utf-8 path");
    let (status, _, stderr) = run(&["check", "config", bad]);
    let (flag_status, _, flag_stderr) = run(&["--config.file", bad, "--config.check"]);
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
    assert_eq!(flag_status.code(), Some(1));
    assert!(
        stderr.contains("error parsing config file: 3 errors:"),
        "{stderr}"
    );
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.contains(bad))
            .collect::<Vec<_>>(),
        flag_stderr
            .lines()
            .filter(|l| l.contains(bad))
            .collect::<Vec<_>>()
    );
}

#[test]
fn test_rules_subcommand_fails_on_a_missing_file() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let missing = dir.path().join("nope_test.yml");
    let (status, _, stderr) = run(&["test", "rules", missing.to_str().expect("utf-8 path")]);
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Shipped deployment files: the systemd unit, the Dockerfile, the Prometheus scrape configs and
// the Argo CD Application. Each is loaded here against the real binary or tool.

fn root_path(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read_root(rel: &str) -> String {
    std::fs::read_to_string(root_path(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

/// The value of `Key=` in a systemd unit (the first one).
fn unit_value<'a>(unit: &'a str, key: &str) -> &'a str {
    unit.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in the unit"))
}

/// A command line of the unit with the installed paths replaced by this build's binary and
/// the standalone example config.
fn unit_command(line: &str) -> Vec<String> {
    let example = root_path("examples/standalone.yml");
    line.split_whitespace()
        .map(|w| {
            w.replace("/usr/local/bin/blackwatch", BIN).replace(
                "/etc/blackwatch/blackwatch.yml",
                example.to_str().expect("utf-8 path"),
            )
        })
        .collect()
}

#[test]
fn systemd_unit_runs_the_binary_with_flags_it_accepts() {
    let unit = read_root("deploy/blackwatch.service");
    let pre = unit_command(unit_value(&unit, "ExecStartPre"));
    assert_eq!(pre[0], BIN);
    let args: Vec<&str> = pre[1..].iter().map(String::as_str).collect();
    assert_eq!(&args[..2], ["check", "config"]);
    let (status, _, stderr) = run(&args);
    assert_eq!(status.code(), Some(0), "ExecStartPre: {stderr}");

    // The daemon's command line, checked instead of started.
    let start = unit_command(unit_value(&unit, "ExecStart"));
    assert_eq!(start[0], BIN);
    let mut args: Vec<&str> = start[1..].iter().map(String::as_str).collect();
    assert!(
        args.contains(&"--storage.path=/var/lib/blackwatch"),
        "{args:?}"
    );
    args.push("--config.check");
    let (status, _, stderr) = run(&args);
    assert_eq!(status.code(), Some(0), "ExecStart: {stderr}");
    assert!(stderr.contains("Config file is ok"), "{stderr}");

    assert_eq!(unit_value(&unit, "ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(unit_value(&unit, "StateDirectory"), "blackwatch");

    // systemd's own check, with the binary path pointing at this build.
    let dir = tempfile::tempdir().expect("a temp dir");
    let unit_path = dir.path().join("blackwatch.service");
    std::fs::write(&unit_path, unit.replace("/usr/local/bin/blackwatch", BIN))
        .expect("writing the unit");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit_path)
        .output()
        .expect("running systemd-analyze (Debian package systemd)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && !text.contains("blackwatch.service"),
        "systemd-analyze verify:\n{text}"
    );
}

/// A JSON-array instruction (`ENTRYPOINT ["…"]`) of a Dockerfile.
fn dockerfile_array(dockerfile: &str, instruction: &str) -> Vec<String> {
    let line = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix(instruction)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {instruction} in the Dockerfile"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{instruction} {line}: {e}"))
}

#[test]
fn dockerfile_runs_the_static_binary_as_non_root_with_accepted_flags() {
    let dockerfile = read_root("deploy/Dockerfile");
    assert_eq!(
        dockerfile_array(&dockerfile, "ENTRYPOINT"),
        vec!["/usr/local/bin/blackwatch".to_string()]
    );
    let cmd = dockerfile_array(&dockerfile, "CMD");
    let mut args: Vec<&str> = cmd.iter().map(String::as_str).collect();
    args.push("--config.check");
    let (status, _, stderr) = run(&args);
    assert_eq!(status.code(), Some(0), "CMD {cmd:?}: {stderr}");
    assert!(
        cmd.contains(&"--storage.path=/var/lib/blackwatch".to_string()),
        "{cmd:?}"
    );
    // The build is locked and static, the final image distroless and not root.
    assert!(
        dockerfile.contains("cargo build --release --locked --target \"$triple\" --bin blackwatch"),
        "{dockerfile}"
    );
    assert!(dockerfile.contains("-unknown-linux-musl"));
    let last_from = dockerfile
        .lines()
        .rev()
        .find(|l| l.starts_with("FROM "))
        .expect("a FROM line");
    assert_eq!(last_from, "FROM gcr.io/distroless/static-debian12:nonroot");
    assert!(dockerfile.lines().any(|l| l == "USER 65532:65532"));
    assert!(dockerfile.lines().any(|l| l == "EXPOSE 9115"));
    // The build context filter keeps the (large) target directory out.
    let ignore = read_root("deploy/Dockerfile.dockerignore");
    assert!(ignore.lines().any(|l| l == "target/"), "{ignore}");
}

#[test]
fn prometheus_scrape_examples_pass_promtool() {
    let probe = root_path("examples/prometheus/probe-scrape.yml");
    let metrics = root_path("examples/prometheus/metrics-scrape.yml");
    for path in [&probe, &metrics] {
        let out = Command::new(std::env::var("PROMTOOL_BIN").unwrap_or_else(|_| "promtool".into()))
            .args(["check", "config"])
            .arg(path)
            .output()
            .expect("running promtool (Debian package prometheus)");
        assert!(
            out.status.success(),
            "promtool check config {}:\n{}{}",
            path.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let parse = |p: &Path| -> serde_json::Value {
        let text = std::fs::read_to_string(p).expect("reading the example");
        serde_saphyr::from_str(&text).expect("YAML")
    };
    let probe = parse(&probe);
    for job in probe["scrape_configs"].as_array().expect("scrape_configs") {
        assert_eq!(job["metrics_path"], "/probe", "{job}");
        let relabel = job["relabel_configs"].as_array().expect("relabel_configs");
        assert!(
            relabel
                .iter()
                .any(|r| r["target_label"] == "__param_target"),
            "{job}"
        );
        assert!(
            relabel
                .iter()
                .any(|r| r["target_label"] == "__address__" && r["replacement"] == "127.0.0.1:9115"),
            "{job}"
        );
    }
    let metrics = parse(&metrics);
    let jobs = metrics["scrape_configs"]
        .as_array()
        .expect("scrape_configs");
    assert!(jobs.iter().all(|j| j["honor_labels"] == true), "{metrics}");
}

#[test]
fn argocd_application_deploys_the_chart_with_a_valid_config() {
    let text = read_root("examples/argocd/blackwatch-application.yaml");
    let app: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
    assert_eq!(app["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(app["kind"], "Application");
    let source = &app["spec"]["source"];
    let chart_dir = source["path"].as_str().expect("spec.source.path");
    let chart = read_root(&format!("{chart_dir}/Chart.yaml"));
    assert!(chart.lines().any(|l| l == "name: blackwatch"), "{chart}");
    let values = &source["helm"]["valuesObject"];
    assert_eq!(values["serviceMonitor"]["enabled"], true);

    // Every *_file points into the chart's secret mount.
    let chart_values = read_root(&format!("{chart_dir}/values.yaml"));
    let mount = chart_values
        .lines()
        .find_map(|l| l.strip_prefix("secretsMountPath: "))
        .expect("secretsMountPath in the chart's values");
    let config = &values["config"];
    let config_json = serde_json::to_string_pretty(config).expect("JSON");
    let mut files = 0;
    for line in config_json.lines() {
        if let Some((key, value)) = line.trim().split_once(": ") {
            if key.trim_matches('"').ends_with("_file") {
                files += 1;
                assert!(value.trim_matches([',', '"']).starts_with(mount), "{line}");
            }
        }
    }
    assert!(files > 0, "the example shows a secret from existingSecret");
    assert!(values["existingSecret"].is_string());

    // The config itself loads (JSON is YAML).
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = write_config(dir.path(), "blackwatch.yml", &config_json);
    let (status, _, stderr) = run(&["check", "config", path.to_str().expect("utf-8 path")]);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("2 probe job(s)"), "{stderr}");
}

/// Runs the binary with its stdout or stderr closed before it writes (what `| head -1` does
/// to a longer output), returning the exit status and the other stream.
fn run_with_closed(args: &[&str], close_stdout: bool) -> (ExitStatus, String) {
    use std::io::Read as _;
    use std::process::Stdio;
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting blackwatch");
    let mut other = String::new();
    if close_stdout {
        drop(child.stdout.take());
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut other);
        }
    } else {
        drop(child.stderr.take());
        if let Some(mut o) = child.stdout.take() {
            let _ = o.read_to_string(&mut other);
        }
    }
    (child.wait().expect("waiting for blackwatch"), other)
}

/// A one-shot subcommand whose output goes away ends as a Unix tool does (by SIGPIPE, as
/// Go's tools do), never with a panic (exit 101 and a backtrace).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subcommands_end_quietly_when_their_output_goes_away() {
    use std::os::unix::process::ExitStatusExt as _;
    let target = HttpServer::plain(handlers::ok());
    let url = target.url("/");
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = write_config(
        dir.path(),
        "blackwatch.yml",
        "modules:\n  http_2xx:\n    prober: http\n",
    );
    let config = config.to_str().expect("utf-8 path").to_string();
    let rules = write_config(
        dir.path(),
        "rules_test.yml",
        "tests:\n  - interval: 1m\n    input_series:\n      - series: up\n        values: 1\n    promql_expr_test:\n      - expr: up\n        eval_time: 0m\n        exp_samples:\n          - labels: up\n            value: 1\n",
    );
    let rules = rules.to_str().expect("utf-8 path").to_string();
    let cases: Vec<(Vec<String>, bool)> = vec![
        (
            vec!["probe".into(), "--output=metrics".into(), url.clone()],
            true,
        ),
        (vec!["probe".into(), url.clone()], true),
        (vec!["check".into(), "config".into(), config.clone()], false),
        (
            vec!["--config.check".into(), "--config.file".into(), config],
            false,
        ),
        (vec!["test".into(), "rules".into(), rules], true),
    ];
    for (args, close_stdout) in cases {
        let argv: Vec<String> = args.clone();
        let (status, other) = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
            run_with_closed(&refs, close_stdout)
        })
        .await
        .expect("the blackwatch process finishes");
        assert!(!other.contains("panicked"), "{args:?}: {other}");
        assert_ne!(status.code(), Some(101), "{args:?}: {other}");
        assert!(
            status.code() == Some(0) || status.signal() == Some(libc::SIGPIPE),
            "{args:?} ended with {status:?}: {other}"
        );
    }
}
