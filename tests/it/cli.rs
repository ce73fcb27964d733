//! The real `blackwatch` binary: `--config.check` exit codes and output, `--version`, and a
//! daemon on `127.0.0.1:0` found through its `listening on` line (hickory server_harness):
//! endpoints, a probe against a loopback server, SIGHUP reload and SIGTERM exit.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::support::{handlers, HttpServer};

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
        let mut child = Command::new(BIN)
            .args(["--web.listen-address", "127.0.0.1:0"])
            .args(extra)
            .env_remove("BLACKWATCH_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting blackwatch");
        let stderr = child.stderr.take().expect("piped stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let all = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                all.lock().expect("stderr lines").push(line.clone());
                let _ = tx.send(line);
            }
        });
        let found = tokio::time::timeout(WAIT, async {
            while let Some(line) = rx.recv().await {
                if let Some(rest) = line.strip_prefix("listening on ") {
                    return rest.trim().parse::<std::net::SocketAddr>().ok();
                }
            }
            None
        })
        .await;
        let mut daemon = Daemon {
            child,
            addr: "0.0.0.0:0".parse().expect("a placeholder address"),
            stderr: lines,
        };
        match found {
            Ok(Some(addr)) => {
                assert!(addr.ip().is_loopback(), "listening on {addr}");
                assert_ne!(addr.port(), 0);
                daemon.addr = addr;
                daemon
            }
            _ => panic!(
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
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("polling the daemon") {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the daemon did not exit; stderr:\n{}",
                self.stderr_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn get(&self, path_and_query: &str) -> (u16, String) {
        http_get(self.addr, path_and_query).await
    }

    /// Polls `path` until `done(body)` holds.
    async fn wait_for(&self, path: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (_, body) = self.get(path).await;
            if done(&body) {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what} on {path}; last body:\n{body}\nstderr:\n{}",
                self.stderr_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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

/// A minimal HTTP/1.1 GET: status code and body.
async fn http_get(addr: std::net::SocketAddr, path_and_query: &str) -> (u16, String) {
    let fut = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connecting to the daemon");
        let request =
            format!("GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("sending the request");
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .expect("reading the response");
        raw
    };
    let raw = tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("GET {path_and_query} timed out"));
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {text:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
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
