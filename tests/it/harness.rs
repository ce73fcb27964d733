//! Helpers shared by the prober and handler tests:
//!
//! * in-process probes from inline YAML ([`probe_http`], [`probe_with`], [`run_probe`]),
//!   returning the per-probe registry, its parsed exposition and the probe log;
//! * an in-process blackwatch HTTP server on `127.0.0.1:0` ([`Daemon`]) with a tiny
//!   HTTP/1.1 client ([`http_request`]);
//! * a parser for the Prometheus text format (and the sample lines of OpenMetrics),
//!   so assertions read `name{labels}` → value ([`Metrics`]).
//!
//! Everything runs on real time against real loopback sockets; timeouts are generous.

// Not every test uses every helper.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use blackwatch::config::{self, Config};
use blackwatch::probe::log::Level;
use blackwatch::probe::{self, Module, ProbeCx, Registry};
use blackwatch::state::{Settings, Shared};
use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The name of the module built by [`module_config`].
pub const MODULE: &str = "test";

/// Timeout used for in-process probes whose module sets none.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// Installs the ring provider as rustls' process default (idempotent).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

// ---------------------------------------------------------------------------
// Config from inline YAML
// ---------------------------------------------------------------------------

/// Removes the common leading indentation of the non-blank lines and leading blank lines,
/// so YAML can be written indented inside Rust string literals.
pub fn dedent(s: &str) -> String {
    let lines: Vec<&str> = s.lines().skip_while(|l| l.trim().is_empty()).collect();
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = String::new();
    for l in lines {
        if l.trim().is_empty() {
            out.push('\n');
        } else {
            out.push_str(&l[indent..]);
            out.push('\n');
        }
    }
    out
}

/// Indents every non-blank line by `n` spaces.
pub fn indent(s: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    s.lines()
        .map(|l| {
            if l.trim().is_empty() {
                "\n".to_string()
            } else {
                format!("{pad}{l}\n")
            }
        })
        .collect()
}

/// Loads a whole config file given inline; panics with every error when it is invalid.
pub fn config(yaml: &str) -> Config {
    let text = dedent(yaml);
    match config::load_str(&text, Path::new("test.yml")) {
        Ok(c) => c,
        Err(e) => panic!("test config does not load:\n{e}\n--- config ---\n{text}"),
    }
}

/// A config with one module named [`MODULE`] whose body is `module_yaml`
/// (`prober: http`, `timeout: …`, `http: …`).
pub fn module_config(module_yaml: &str) -> Config {
    let body = indent(&dedent(module_yaml), 4);
    config(&format!("modules:\n  {MODULE}:\n{body}"))
}

/// The module YAML for an http module whose `http:` block is `http_yaml` (may be empty).
pub fn http_module_yaml(http_yaml: &str) -> String {
    let block = dedent(http_yaml);
    if block.trim().is_empty() {
        "prober: http\ntimeout: 10s\nhttp: {}\n".to_string()
    } else {
        format!("prober: http\ntimeout: 10s\nhttp:\n{}", indent(&block, 2))
    }
}

// ---------------------------------------------------------------------------
// In-process probes
// ---------------------------------------------------------------------------

/// What one probe produced.
#[derive(Debug)]
pub struct Outcome {
    /// `probe::run`'s verdict.
    pub success: bool,
    /// The per-probe registry.
    pub registry: Registry,
    /// The registry's text exposition, parsed.
    pub metrics: Metrics,
    /// The probe log (debug level and up).
    pub log: String,
    /// Wall time of `probe::run`.
    pub elapsed: Duration,
}

impl Outcome {
    /// Value of an unlabelled metric; panics with the exposition when absent.
    pub fn value(&self, name: &str) -> f64 {
        self.metrics.value(name)
    }

    /// Value of one labelled series; panics with the exposition when absent.
    pub fn value_with(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.metrics.value_with(name, labels)
    }

    /// A readable dump for assertion messages.
    pub fn dump(&self) -> String {
        format!(
            "success={}\n--- metrics ---\n{}--- log ---\n{}",
            self.success,
            self.registry.encode_text(),
            self.log
        )
    }

    /// Asserts the verdict, printing everything on mismatch.
    #[track_caller]
    pub fn assert_success(&self, want: bool) {
        assert_eq!(
            self.success,
            want,
            "unexpected probe result\n{}",
            self.dump()
        );
        let expected = if want { 1.0 } else { 0.0 };
        assert_eq!(self.value("probe_success"), expected, "{}", self.dump());
    }
}

/// Runs `module` of `config` against `target` in-process, as `/probe` would.
pub async fn run_probe(
    config: &Config,
    module: &str,
    target: &str,
    hostname: Option<&str>,
) -> Outcome {
    install_crypto();
    let module: Arc<Module> = config
        .modules
        .get(module)
        .unwrap_or_else(|| panic!("no module {module:?} in the test config"))
        .clone();
    let timeout = if module.timeout.is_zero() {
        DEFAULT_PROBE_TIMEOUT
    } else {
        module.timeout
    };
    let mut cx = ProbeCx::new(&module.name, target, timeout, Level::Debug);
    cx.hostname = hostname.map(str::to_string);
    let start = tokio::time::Instant::now();
    // A hung prober must not hang the test run.
    let success = tokio::time::timeout(
        timeout + Duration::from_secs(30),
        probe::run(target, &module, &mut cx),
    )
    .await
    .expect("probe::run did not return within its own timeout + 30s");
    let elapsed = start.elapsed();
    let text = cx.registry.encode_text();
    Outcome {
        success,
        metrics: Metrics::parse(&text),
        registry: cx.registry,
        log: cx.log.text().to_string(),
        elapsed,
    }
}

/// Probes `target` with a module given as YAML (the body of one `modules:` entry).
pub async fn probe_with(module_yaml: &str, target: &str) -> Outcome {
    let cfg = module_config(module_yaml);
    run_probe(&cfg, MODULE, target, None).await
}

/// Probes `target` with an http module whose `http:` block is `http_yaml`.
pub async fn probe_http(http_yaml: &str, target: &str) -> Outcome {
    probe_with(&http_module_yaml(http_yaml), target).await
}

// ---------------------------------------------------------------------------
// Metrics text parsing
// ---------------------------------------------------------------------------

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parsed exposition (text 0.0.4 or OpenMetrics sample lines; comments are skipped).
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    pub samples: Vec<Sample>,
    /// `# HELP name text` lines.
    pub help: BTreeMap<String, String>,
    /// `# TYPE name type` lines.
    pub types: BTreeMap<String, String>,
    text: String,
}

/// `name{a="1",b="2"}` with labels sorted by name.
pub fn series_key(name: &str, labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return name.to_string();
    }
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

impl Metrics {
    /// Parses exposition text; panics on a malformed sample line.
    pub fn parse(text: &str) -> Self {
        let mut m = Metrics {
            text: text.to_string(),
            ..Metrics::default()
        };
        for line in text.lines() {
            let line = line.trim_end();
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                m.help.insert(name.to_string(), help.to_string());
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, ty) = rest.split_once(' ').unwrap_or((rest, ""));
                m.types.insert(name.to_string(), ty.to_string());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            m.samples.push(
                parse_sample(line)
                    .unwrap_or_else(|e| panic!("bad sample line {line:?}: {e}\n{text}")),
            );
        }
        m
    }

    /// The text this was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every series as `name{labels}` → value.
    pub fn map(&self) -> BTreeMap<String, f64> {
        self.samples
            .iter()
            .map(|s| (series_key(&s.name, &s.labels), s.value))
            .collect()
    }

    /// The value of the series with exactly these labels (any order).
    pub fn get_with(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .map(|s| s.value)
    }

    /// The value of an unlabelled series.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.get_with(name, &[])
    }

    #[track_caller]
    pub fn value(&self, name: &str) -> f64 {
        self.get(name)
            .unwrap_or_else(|| panic!("metric {name} not found in\n{}", self.text))
    }

    #[track_caller]
    pub fn value_with(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get_with(name, labels)
            .unwrap_or_else(|| panic!("series {name}{labels:?} not found in\n{}", self.text))
    }

    /// All samples named `name`.
    pub fn family(&self, name: &str) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.name == name).collect()
    }

    /// Whether any sample is named `name`.
    pub fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }

    /// Names of all samples starting with `prefix`.
    pub fn names_with_prefix(&self, prefix: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .samples
            .iter()
            .filter(|s| s.name.starts_with(prefix))
            .map(|s| s.name.clone())
            .collect();
        v.dedup();
        v
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or_else(|| "no value".to_string())?;
    let name = line[..name_end].to_string();
    if name.is_empty() {
        return Err("empty metric name".into());
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        let mut end = None;
        loop {
            // Skip separators.
            while let Some((_, c)) = chars.peek() {
                if *c == ',' || *c == ' ' {
                    chars.next();
                } else {
                    break;
                }
            }
            match chars.peek() {
                Some((i, '}')) => {
                    end = Some(*i);
                    break;
                }
                None => break,
                _ => {}
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            match chars.next() {
                Some((_, '"')) => {}
                _ => return Err(format!("label {key} has no opening quote")),
            }
            let mut value = String::new();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, other)) => value.push(other),
                        None => return Err("dangling escape".into()),
                    },
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(format!("label {key} value not closed"));
            }
            labels.insert(key.trim().to_string(), value);
        }
        let end = end.ok_or_else(|| "label set not closed".to_string())?;
        rest = &after[end + 1..];
    }
    let value_str = rest
        .split_whitespace()
        .next()
        .ok_or_else(|| "no value".to_string())?;
    let value = match value_str {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse::<f64>().map_err(|e| format!("value {v:?}: {e}"))?,
    };
    Ok(Sample {
        name,
        labels,
        value,
    })
}

// ---------------------------------------------------------------------------
// In-process server
// ---------------------------------------------------------------------------

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
    /// Starts a server with `yaml` (a whole config file) and the default settings.
    pub async fn start(yaml: &str) -> Self {
        Self::start_with(yaml, 0.5, 100).await
    }

    /// Starts a server as [`Daemon::start`] does; the config's `probes:` are scheduled
    /// (every daemon schedules them; the name stays for the tests that rely on it).
    pub async fn start_scheduled(yaml: &str) -> Self {
        Self::start(yaml).await
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
pub async fn http_request(
    addr: SocketAddr,
    method: Method,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> HttpResponse {
    let fut = async {
        let tcp = TcpStream::connect(addr)
            .await
            .expect("connect to test server");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .expect("HTTP/1.1 handshake");
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
        let req = builder.body(Full::new(body)).expect("request");
        let resp = sender.send_request(req).await.expect("send request");
        let (parts, incoming) = resp.into_parts();
        let body = incoming.collect().await.expect("read body").to_bytes();
        HttpResponse {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    };
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .expect("request to the test server timed out")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_escapes_and_go_floats() {
        let m = Metrics::parse(
            "# HELP a Help.\n# TYPE a gauge\na 1\nb{x=\"1\",y=\"q\\\"uo\\\\te,}\"} -6.21355968e+10\nc{} NaN\nd_total 3 1700000000\n# EOF\n",
        );
        assert_eq!(m.get("a"), Some(1.0));
        assert_eq!(
            m.get_with("b", &[("y", "q\"uo\\te,}"), ("x", "1")]),
            Some(-62135596800.0)
        );
        assert!(m.get("c").is_some_and(f64::is_nan));
        assert_eq!(m.get("d_total"), Some(3.0));
        assert_eq!(m.types.get("a").map(String::as_str), Some("gauge"));
        assert_eq!(m.help.get("a").map(String::as_str), Some("Help."));
        assert_eq!(m.get("b"), None, "labels must match exactly");
        assert_eq!(
            m.map().keys().cloned().collect::<Vec<_>>(),
            vec![
                "a".to_string(),
                "b{x=\"1\",y=\"q\\\"uo\\\\te,}\"}".to_string(),
                "c".to_string(),
                "d_total".to_string()
            ]
        );
    }

    #[test]
    fn dedent_and_indent() {
        assert_eq!(
            dedent("\n    a:\n      b: 1\n\n    c: 2\n"),
            "a:\n  b: 1\n\nc: 2\n"
        );
        assert_eq!(indent("a:\n  b\n", 2), "  a:\n    b\n");
    }
}
