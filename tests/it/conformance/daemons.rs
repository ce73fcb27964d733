//! Running blackwatch and the real blackbox_exporter as child processes on loopback,
//! and talking plain HTTP/1.0 to them.
//!
//! Each [`Daemon`] kills and reaps its process when dropped. Their stdout and
//! stderr are drained by background threads into a shared log (so a chatty
//! daemon never blocks on a full pipe), which failure reports can include.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::support::poll;

/// Environment variable overriding the blackbox_exporter binary.
pub const BLACKBOX_ENV: &str = "BLACKBOX_EXPORTER_BIN";
/// The Debian binary name (package prometheus-blackbox-exporter 0.23.0).
pub const BLACKBOX_DEFAULT: &str = "prometheus-blackbox-exporter";

/// How long a daemon may take to come up.
const STARTUP: Duration = Duration::from_secs(30);
/// Upper bound for one HTTP exchange with a daemon.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A running exporter process.
pub struct Daemon {
    pub name: &'static str,
    pub addr: SocketAddr,
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies `reader` line by line into `log`; each line is also offered to `on_line`.
fn drain<R: Read + Send + 'static>(
    reader: R,
    log: Arc<Mutex<String>>,
    mut on_line: impl FnMut(&str) + Send + 'static,
) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(reader);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    on_line(&line);
                    log.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push_str(&line);
                }
            }
        }
    });
}

impl Daemon {
    /// Starts `target/debug/blackwatch` on `127.0.0.1:0` and waits for its
    /// `listening on 127.0.0.1:PORT` line on stderr.
    pub async fn blackwatch(config: &Path) -> Daemon {
        Self::blackwatch_with_env(config, &[]).await
    }

    /// [`Daemon::blackwatch`] with extra environment variables (e.g. `HTTP_PROXY`).
    pub async fn blackwatch_with_env(config: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_blackwatch"))
            .envs(env.iter().copied())
            .arg("--config.file")
            .arg(config)
            .args(["--web.listen-address", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the blackwatch binary");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = tokio::sync::oneshot::channel::<SocketAddr>();
        let mut tx = Some(tx);
        drain(
            child.stderr.take().expect("piped stderr"),
            Arc::clone(&log),
            move |line| {
                if let Some(addr) = crate::support::process::listen_address(line) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
            },
        );
        drain(
            child.stdout.take().expect("piped stdout"),
            Arc::clone(&log),
            |_| {},
        );
        let addr = match tokio::time::timeout(STARTUP, rx).await {
            Ok(Ok(addr)) => addr,
            _ => {
                let _ = child.kill();
                let status = child.wait();
                let text = log.lock().unwrap_or_else(PoisonError::into_inner).clone();
                panic!("blackwatch did not report its listen address ({status:?}):\n{text}");
            }
        };
        let mut daemon = Daemon {
            name: "blackwatch",
            addr,
            child,
            log,
        };
        daemon.wait_healthy().await;
        daemon
    }

    /// Starts the real blackbox_exporter on a free loopback port and polls
    /// `/-/healthy` until it answers. Panics (the suite fails, it does not skip)
    /// when the binary is not installed.
    pub async fn blackbox(config: &Path) -> Daemon {
        let binary = std::env::var(BLACKBOX_ENV).unwrap_or_else(|_| BLACKBOX_DEFAULT.to_owned());
        let mut last_error = String::new();
        // The port is picked by binding and releasing it; retry if another process
        // grabbed it in between.
        for _attempt in 0..3 {
            let port = {
                let listener = std::net::TcpListener::bind("127.0.0.1:0")
                    .expect("binding 127.0.0.1:0 to pick a port");
                listener.local_addr().expect("local address").port()
            };
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let mut child = match Command::new(&binary)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--web.listen-address={addr}"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
            {
                Ok(child) => child,
                Err(e) => panic!(
                    "cannot run blackbox_exporter `{binary}` ({e}). The conformance suite needs \
                     the real exporter: install the Debian package prometheus-blackbox-exporter \
                     (or set {BLACKBOX_ENV} to its path). It fails instead of skipping."
                ),
            };
            let log = Arc::new(Mutex::new(String::new()));
            drain(
                child.stderr.take().expect("piped stderr"),
                Arc::clone(&log),
                |_| {},
            );
            drain(
                child.stdout.take().expect("piped stdout"),
                Arc::clone(&log),
                |_| {},
            );
            let mut daemon = Daemon {
                name: "blackbox_exporter",
                addr,
                child,
                log,
            };
            match daemon.poll_healthy().await {
                Ok(()) => return daemon,
                Err(e) => last_error = format!("{e}\n{}", daemon.log()),
            }
        }
        panic!("blackbox_exporter did not come up: {last_error}");
    }

    /// Everything the process wrote so far.
    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn wait_healthy(&mut self) {
        if let Err(e) = self.poll_healthy().await {
            panic!("{} is not healthy: {e}\n{}", self.name, self.log());
        }
    }

    /// Polls `/-/healthy` until 200, the process exits, or [`STARTUP`] passes.
    async fn poll_healthy(&mut self) -> Result<(), String> {
        let (name, addr) = (self.name, self.addr);
        // An exit ends the wait early: the condition polled is "healthy or exited".
        poll::within(STARTUP, async || {
            if let Ok((200, _)) = http_get(addr, "/-/healthy").await {
                return Ok(Ok(()));
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Ok(Err(format!("{name} exited early: {status}")));
            }
            Err(format!("{name} not healthy on {addr}"))
        })
        .await
        .and_then(|healthy| healthy)
    }

    /// GET `path_and_query` on the daemon.
    pub async fn get(&self, path_and_query: &str) -> Result<(u16, String), String> {
        http_get(self.addr, path_and_query).await
    }

    /// `/probe?module=...&target=...` plus `extra` parameters; the body of a 200.
    pub async fn probe(
        &self,
        module: &str,
        target: &str,
        extra: &[(&str, String)],
    ) -> Result<String, String> {
        let mut query = format!(
            "/probe?module={}&target={}",
            percent_encode(module),
            percent_encode(target)
        );
        for (name, value) in extra {
            query.push_str(&format!(
                "&{}={}",
                percent_encode(name),
                percent_encode(value)
            ));
        }
        match self.get(&query).await {
            Ok((200, body)) => Ok(body),
            Ok((status, body)) => Err(format!("{} answered {status}: {body}", self.name)),
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A GET to either daemon: status code and body, or why there is none.
pub async fn http_get(addr: SocketAddr, path_and_query: &str) -> Result<(u16, String), String> {
    let resp = crate::support::try_http_request(
        addr,
        http::Method::GET,
        path_and_query,
        &[],
        bytes::Bytes::new(),
        REQUEST_TIMEOUT,
    )
    .await?;
    Ok((resp.status, resp.text()))
}

/// The two daemons of a differential suite and their config files (kept while they run).
pub struct Pair {
    pub blackbox: Daemon,
    pub blackwatch: Daemon,
    _configs: [tempfile::TempPath; 2],
}

impl Pair {
    /// blackbox_exporter with the modules it can load, blackwatch with every module. Items:
    /// (module name, module YAML, blackwatch only).
    pub async fn start<'a>(modules: impl IntoIterator<Item = (&'a str, String, bool)>) -> Pair {
        let modules: Vec<_> = modules.into_iter().collect();
        let config = |all: bool| {
            let yaml = super::yaml::config_yaml(
                modules
                    .iter()
                    .filter(|(_, _, only)| all || !only)
                    .map(|(name, yaml, _)| (*name, yaml.clone())),
            );
            crate::support::certs::write_temp_file(yaml.as_bytes(), ".yml")
        };
        let shared = config(false);
        let extended = config(true);
        Pair {
            blackbox: Daemon::blackbox(&shared).await,
            blackwatch: Daemon::blackwatch(&extended).await,
            _configs: [shared, extended],
        }
    }
}
