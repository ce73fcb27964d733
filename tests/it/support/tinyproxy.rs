//! Debian's tinyproxy as a real forward proxy on loopback (plain http forwarded, https
//! through CONNECT), requiring basic auth ([`PROXY_USER`], [`PROXY_PASSWORD`]); used by
//! the receivers' proxy tests (`client.rs`) and the http prober's (`proxy_probe.rs`).

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use super::poll;

pub const PROXY_USER: &str = "alice";
pub const PROXY_PASSWORD: &str = "pr0xy-pw";

/// tinyproxy on 127.0.0.1 with a generated config: basic auth required, every CONNECT
/// port allowed, its log (the requests it handled) on stderr in a file.
pub struct Tinyproxy {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Tinyproxy {
    pub async fn start() -> Self {
        let bin = ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or_else(|| {
                panic!("the proxy tests need tinyproxy: apt-get install -y tinyproxy (.ci/run installs it)")
            });
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = dir.path().join("tinyproxy.conf");
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 20\nLogLevel Info\nBasicAuth {PROXY_USER} {PROXY_PASSWORD}\n"
            ),
        )
        .unwrap();
        let log = dir.path().join("tinyproxy.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin)
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        poll::until("tinyproxy to listen", Duration::from_secs(10), async || {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map_err(|e| e.to_string())
        })
        .await;
        Tinyproxy {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self, with_auth: bool) -> String {
        if with_auth {
            format!(
                "http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{}",
                self.port
            )
        } else {
            format!("http://127.0.0.1:{}", self.port)
        }
    }

    /// The request lines tinyproxy logged (`GET http://…`, `CONNECT host:port`).
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once("): ").map(|(_, r)| r.to_string()))
            .filter(|r| {
                r.starts_with("GET ") || r.starts_with("POST ") || r.starts_with("CONNECT ")
            })
            .collect()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
