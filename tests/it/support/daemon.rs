//! In-process daemons, each built through `blackwatch::daemon::Daemon` from a config
//! written into a temp dir: [`Daemon`] serves HTTP on `127.0.0.1:0` (dropping it shuts it
//! down) and [`state_with_web`] builds one, not serving yet, with a `--web.config.file`.
//! [`http_request`] is the small HTTP/1.1 client the tests talk to them with.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use blackwatch::config;
use blackwatch::probe::log::Level;
use blackwatch::server::webconfig::Web;
use blackwatch::state::{Settings, Shared};
use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::install_crypto;
use super::scrape::Metrics;
use super::yaml::dedent;

/// A blackwatch HTTP server running in-process on `127.0.0.1:0`, its config in a temp file
/// (so `/-/reload` can be exercised). Dropping it shuts the server down.
pub struct Daemon {
    pub addr: SocketAddr,
    pub state: Arc<Shared>,
    pub config_path: PathBuf,
    _dir: tempfile::TempDir,
    token: CancellationToken,
    _task: JoinHandle<()>,
}

impl Daemon {
    /// Starts a server with `yaml` (a whole config file) and the default settings; its
    /// `probes:` are scheduled and its rules run, as in the binary.
    pub async fn start(yaml: &str) -> Self {
        Self::start_with(yaml, 0.5, 100).await
    }

    /// Starts a server with an explicit timeout offset and history limit.
    pub async fn start_with(yaml: &str, timeout_offset: f64, history_limit: usize) -> Self {
        install_crypto();
        let dir = tempfile::tempdir().expect("temp dir for the test config");
        let config_path = dir.path().join("blackwatch.yml");
        std::fs::write(&config_path, dedent(yaml)).expect("write test config");
        let cfg = match config::load(&config_path) {
            Ok(c) => c,
            Err(e) => panic!("test config does not load:\n{e}"),
        };
        let settings = Settings {
            config_file: Some(config_path.clone()),
            timeout_offset,
            log_prober: Level::Info,
            shutdown_grace: Duration::from_secs(1),
            storage_path: dir.path().join("data"),
            history_limit,
            ..Settings::default()
        };
        let token = CancellationToken::new();
        let daemon = match blackwatch::daemon::Daemon::build(cfg, settings, token.clone()) {
            Ok(d) => d,
            Err(e) => panic!("test daemon does not build: {e}"),
        };
        let state = Arc::clone(daemon.state());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let server = daemon.serve(listener, blackwatch::server::ServerOptions::default());
        let task = tokio::spawn(async move {
            if let Ok(Err(e)) = server.await {
                eprintln!("test server stopped: {e}");
            }
        });
        Self {
            addr,
            state,
            config_path,
            _dir: dir,
            token,
            _task: task,
        }
    }

    /// Replaces the config file on disk (call `/-/reload` afterwards).
    pub fn write_config(&self, yaml: &str) {
        std::fs::write(&self.config_path, dedent(yaml)).expect("rewrite test config");
    }

    pub async fn get(&self, path_and_query: &str) -> HttpResponse {
        http_request(self.addr, Method::GET, path_and_query, &[], Bytes::new()).await
    }

    pub async fn get_with(&self, path_and_query: &str, headers: &[(&str, &str)]) -> HttpResponse {
        http_request(
            self.addr,
            Method::GET,
            path_and_query,
            headers,
            Bytes::new(),
        )
        .await
    }

    pub async fn post(&self, path_and_query: &str) -> HttpResponse {
        http_request(self.addr, Method::POST, path_and_query, &[], Bytes::new()).await
    }

    /// Scrapes `/metrics` (text format) and parses it.
    pub async fn self_metrics(&self) -> Metrics {
        let resp = self.get("/metrics").await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        Metrics::parse(&resp.text())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// A response read in full.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl HttpResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body parsed as a metrics exposition.
    pub fn metrics(&self) -> Metrics {
        Metrics::parse(&self.text())
    }
}

/// One HTTP/1.1 request over a fresh connection; the body is read in full (not decoded).
/// Panics on any failure (see [`try_http_request`] for polling).
pub async fn http_request(
    addr: SocketAddr,
    method: Method,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> HttpResponse {
    match try_http_request(
        addr,
        method,
        path_and_query,
        headers,
        body,
        Duration::from_secs(60),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => panic!("request to the test server: {e}"),
    }
}

/// [`http_request`] that reports a refused connection, a failed exchange or no answer within
/// `timeout` as an error, for tests that poll a process that may not be up (or may be gone).
pub async fn try_http_request(
    addr: SocketAddr,
    method: Method,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Bytes,
    timeout: Duration,
) -> Result<HttpResponse, String> {
    let fut = async {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| format!("HTTP/1.1 handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut builder = Request::builder()
            .method(method)
            .uri(path_and_query)
            .header("host", addr.to_string());
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let req = builder
            .body(Full::new(body))
            .map_err(|e| format!("request: {e}"))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("send request: {e}"))?;
        let (parts, incoming) = resp.into_parts();
        let body = incoming
            .collect()
            .await
            .map_err(|e| format!("read body: {e}"))?
            .to_bytes();
        Ok(HttpResponse {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| format!("{path_and_query}: no answer within {timeout:?}"))?
}

/// Writes `modules` as `dir/blackwatch.yml` and, with `web = Some((yaml, files))`, the files
/// and `dir/web.yml`; returns the built daemon (not serving yet) and the web config (panics
/// on a bad file).
pub fn state_with_web(
    dir: &Path,
    modules: &str,
    web: Option<(&str, &[(&str, &str)])>,
) -> (blackwatch::daemon::Daemon, Option<Arc<Web>>) {
    install_crypto();
    let web = web.map(|(yaml, files)| {
        for (name, content) in files {
            std::fs::write(dir.join(name), content).expect("write file");
        }
        std::fs::write(dir.join("web.yml"), yaml).expect("write web.yml");
        match Web::load(&dir.join("web.yml")) {
            Ok(w) => Arc::new(w),
            Err(e) => panic!("web config does not load: {e}"),
        }
    });
    let config_path = dir.join("blackwatch.yml");
    std::fs::write(&config_path, modules).expect("write config");
    let cfg = blackwatch::config::load(&config_path).expect("config loads");
    let settings = Settings {
        config_file: Some(config_path),
        storage_path: dir.join("data"),
        history_limit: 10,
        ..Settings::default()
    };
    let token = CancellationToken::new();
    let daemon = blackwatch::daemon::Daemon::build(cfg, settings, token).expect("daemon builds");
    (daemon, web)
}
