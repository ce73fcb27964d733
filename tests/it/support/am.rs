//! The real Alertmanager 0.25 (`/usr/bin/prometheus-alertmanager`, Debian's package) as a
//! child process on a free loopback port, for the differential tests of notifiers
//! (`notify.rs`, `receivers.rs`): start it on a config, post alerts to its API v2.
//! Missing binary = a failed test, never a skipped one.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use blackwatch::alert::store::Alert;

use super::poll;

pub const AM_BIN: &str = "/usr/bin/prometheus-alertmanager";

/// The external URL both sides render into templates (`.ExternalURL`).
pub const EXTERNAL_URL: &str = "http://am.test:9093";

/// A running Alertmanager; killed and reaped on drop.
pub struct Am {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Am {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts Alertmanager 0.25 on `yaml` (no cluster, external URL [`EXTERNAL_URL`]) and waits
/// until it is ready.
pub async fn start_am(yaml: &str) -> Am {
    assert!(
        Path::new(AM_BIN).exists(),
        "the comparison needs Alertmanager 0.25: apt-get install -y prometheus-alertmanager"
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("am.yml");
    std::fs::write(&cfg, yaml).unwrap();
    let port = free_port();
    let child = Command::new(AM_BIN)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg(format!("--web.external-url={EXTERNAL_URL}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting prometheus-alertmanager");
    // Owned at once, so the process is killed and reaped on every path.
    let am = Am {
        child,
        base: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    let client = reqwest::Client::new();
    poll::until(
        "alertmanager to become ready",
        Duration::from_secs(10),
        async || match client.get(format!("{}/-/ready", am.base)).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("/-/ready answered {}", r.status())),
            Err(e) => Err(format!("/-/ready: {e}")),
        },
    )
    .await;
    am
}

impl Am {
    /// `POST /api/v2/alerts` with `alerts` (a zero `ends_at` is left out, as senders do).
    pub async fn post(&self, alerts: &[Alert]) {
        let body: Vec<serde_json::Value> = alerts
            .iter()
            .map(|a| {
                let mut v = serde_json::json!({
                    "labels": a.labels, "annotations": a.annotations,
                    "startsAt": blackwatch::alert::notify::go_time(a.starts_at),
                    "generatorURL": a.generator_url,
                });
                if a.ends_at != UNIX_EPOCH {
                    v["endsAt"] =
                        serde_json::Value::from(blackwatch::alert::notify::go_time(a.ends_at));
                }
                v
            })
            .collect();
        let r = reqwest::Client::new()
            .post(format!("{}/api/v2/alerts", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
}

/// `amtool config routes` against an Alertmanager API at `addr` (Alertmanager or
/// blackwatch): its output; panics with amtool's stderr when it fails.
pub async fn amtool_routes(addr: std::net::SocketAddr) -> String {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("amtool")
            .arg(format!("--alertmanager.url=http://{addr}"))
            .args(["config", "routes"])
            .output()
            .expect("amtool is installed (prometheus-alertmanager)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "amtool config routes: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
