//! The fuzz targets' bodies, shared by the cargo-fuzz binaries (`fuzz/fuzz_targets/*.rs`,
//! nightly, coverage-guided, for long local runs) and the time-bounded proptest runs in
//! `tests/it/fuzz.rs` (stable, in CI). Each function takes raw bytes, feeds them to one input
//! path of blackwatch and panics only when an invariant does not hold; anything else (an
//! error for bad input) is the expected outcome. A crash, a hang or an abort is a bug.
//!
//! Both users include this file with `#[path]`, so it may only use crates that both have:
//! blackwatch and its dependencies (tokio, tokio-util, reqwest, regex, serde_json, flate2,
//! brotli, rustls) plus tempfile.

// Each includer uses the targets it runs.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use blackwatch::labels::LabelSet;

/// Longest input given to the slower parsers: longer inputs only cost time, not coverage.
pub const MAX_INPUT: usize = 16 * 1024;

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(&data[..data.len().min(MAX_INPUT)])
}

/// A path names nothing the fuzzer may make the config read: the special files under
/// /dev, /proc and /sys could block or never end, which tells nothing about blackwatch.
fn reads_special_files(text: &str) -> bool {
    ["/dev", "/proc", "/sys", "..", "~"]
        .iter()
        .any(|p| text.contains(p))
}

/// The directory the fuzzed config lives in: it holds `rules/blackbox.yml` (the example rule
/// file), so `rule_files:` entries that name it load real rules.
pub fn config_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let rules = dir.path().join("rules");
        std::fs::create_dir(&rules).unwrap_or_else(|e| panic!("{}: {e}", rules.display()));
        std::fs::write(
            rules.join("blackbox.yml"),
            include_str!("../examples/rules/blackbox.yml"),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", rules.display()));
        dir
    })
    .path()
}

// ---------------------------------------------------------------------------------------
// Config: blackwatch.yml (modules, probes, rule_files/global, alerting, probe_policy) and
// rule files.
// ---------------------------------------------------------------------------------------

/// First byte even: `data[1..]` is a blackwatch.yml; odd: a Prometheus rule file.
pub fn config(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = text(rest);
    if reads_special_files(&text) {
        return;
    }
    let file = config_dir().join("blackwatch.yml");
    if mode % 2 == 0 {
        if let Ok(cfg) = blackwatch::config::load_str(&text, &file) {
            // What /config shows must render and load again (secrets print as `<secret>`,
            // which is still a valid value).
            let yaml = cfg.to_yaml();
            assert!(
                !yaml.starts_with("# could not render"),
                "config renders: {yaml}"
            );
        }
    } else {
        let _ = blackwatch::rules::file::parse_str(&text, &config_dir().join("rules.yml"));
    }
}

// ---------------------------------------------------------------------------------------
// Units: Go durations, base-2 sizes, Prometheus durations.
// ---------------------------------------------------------------------------------------

/// Below 2^53 ns (~104 days) and 2^53 bytes the parsers' f64 arithmetic is exact, so a
/// parsed value formats and re-parses to itself.
const EXACT: u64 = 1 << 53;

pub fn units(data: &[u8]) {
    use blackwatch::base::units::{
        format_base2_bytes, format_go_duration, parse_base2_bytes, parse_go_duration,
    };
    use blackwatch::rules::file::{format_duration, parse_duration};

    let s = text(data);
    if let Ok(d) = parse_go_duration(&s) {
        if d.as_nanos() < u128::from(EXACT) {
            let f = format_go_duration(d);
            assert_eq!(parse_go_duration(&f), Ok(d), "go duration {s:?} -> {f:?}");
        }
    }
    if let Ok(v) = parse_base2_bytes(&s) {
        assert!(v >= 0, "size {s:?} parsed negative: {v}");
        if (v as u64) < EXACT {
            let f = format_base2_bytes(v);
            assert_eq!(parse_base2_bytes(&f), Ok(v), "size {s:?} -> {f:?}");
        }
    }
    if let Ok(d) = parse_duration(&s) {
        let f = format_duration(d);
        assert_eq!(
            parse_duration(&f),
            Ok(d),
            "prometheus duration {s:?} -> {f:?}"
        );
    }
    // The formatters on arbitrary values.
    if data.len() >= 8 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&data[..8]);
        let n = u64::from_le_bytes(b);
        let d = Duration::from_nanos(n % EXACT);
        let f = format_go_duration(d);
        assert_eq!(parse_go_duration(&f), Ok(d), "go duration {n} -> {f:?}");
        let v = (n % EXACT) as i64;
        let f = format_base2_bytes(v);
        assert_eq!(parse_base2_bytes(&f), Ok(v), "size {v} -> {f:?}");
        let d = Duration::from_millis(n % (EXACT / 1_000_000));
        let f = format_duration(d);
        assert_eq!(
            parse_duration(&f),
            Ok(d),
            "prometheus duration {d:?} -> {f:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Rule expressions: parse, then evaluate over a small in-memory storage.
// ---------------------------------------------------------------------------------------

fn storage() -> &'static blackwatch::rules::expr::mem::MemStorage {
    static MEM: OnceLock<blackwatch::rules::expr::mem::MemStorage> = OnceLock::new();
    MEM.get_or_init(|| {
        let mut m = blackwatch::rules::expr::mem::MemStorage::new();
        let series: [(&str, &str); 8] = [
            (
                r#"probe_success{job="web",instance="a"}"#,
                "1 1 0 0 1 _ stale 1",
            ),
            (r#"probe_success{job="web",instance="b"}"#, "0x7"),
            (
                r#"probe_success{job="db",instance="c",env="prod"}"#,
                "1+0x7",
            ),
            (
                r#"probe_duration_seconds{job="web",instance="a"}"#,
                "0.1+0.5x7",
            ),
            (
                r#"probe_duration_seconds{job="db",instance="c"}"#,
                "NaN +Inf -Inf 1e300 -1 0 _x2",
            ),
            (
                r#"probe_ssl_earliest_cert_expiry{job="web",instance="a"}"#,
                "1700000000x7",
            ),
            (r#"up{job="web",instance="a"}"#, "1 0 1 0 1 0 1 0"),
            (r#"requests_total{job="web",code="200"}"#, "0+10x3 0+10x3"),
        ];
        for (s, v) in series {
            if let Err(e) = m.add(s, v, 15_000) {
                panic!("fuzz storage {s}: {e}");
            }
        }
        m
    })
}

pub fn expr(data: &[u8]) {
    use blackwatch::rules::expr::Expr;
    let s = text(data);
    let Ok(e) = Expr::parse(&s) else {
        return;
    };
    // The text kept is the text given, and it parses again.
    assert!(Expr::parse(e.text()).is_ok(), "re-parse of {:?}", e.text());
    let _ = e.ranges();
    for at in [0, 30_000, 60_000, 105_000, 300_000, -15_000, i64::MAX / 2] {
        let _ = e.eval(at, storage());
    }
}

// ---------------------------------------------------------------------------------------
// Templates: rule annotations (Prometheus data and functions) and notification templates
// (Alertmanager data and functions, text and HTML).
// ---------------------------------------------------------------------------------------

fn am_data() -> &'static blackwatch::template::Value {
    use blackwatch::alert::store::Alert;
    static DATA: OnceLock<blackwatch::template::Value> = OnceLock::new();
    DATA.get_or_init(|| {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_763_700_000);
        let labels = |pairs: &[(&str, &str)]| -> LabelSet {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let alerts = vec![
            Alert {
                labels: labels(&[
                    ("alertname", "ProbeFailed"),
                    ("instance", "a"),
                    ("job", "web"),
                ]),
                annotations: labels(&[("summary", "a is <down>"), ("runbook", "http://x/?a=1&b")]),
                starts_at: now - Duration::from_secs(600),
                ends_at: SystemTime::UNIX_EPOCH,
                generator_url: "http://prometheus/graph?g0.expr=up".to_string(),
                updated_at: now,
                timeout: false,
            },
            Alert {
                labels: labels(&[
                    ("alertname", "ProbeFailed"),
                    ("instance", "b"),
                    ("job", "web"),
                ]),
                annotations: LabelSet::new(),
                starts_at: now - Duration::from_secs(7200),
                ends_at: now - Duration::from_secs(60),
                generator_url: String::new(),
                updated_at: now,
                timeout: true,
            },
        ];
        let ctx = blackwatch::alert::notify::NotifyContext {
            receiver: "team-web".to_string(),
            group_key: "{}:{alertname=\"ProbeFailed\"}".to_string(),
            group_labels: labels(&[("alertname", "ProbeFailed")]),
            external_url: "http://blackwatch:9115".to_string(),
            reason: blackwatch::alert::dedup::Reason::FirstNotification,
            now,
        };
        blackwatch::alert::notify::render::data_value(&ctx, &alerts)
    })
}

fn am_templates() -> &'static blackwatch::alert::notify::render::TemplateSet {
    static SET: OnceLock<blackwatch::alert::notify::render::TemplateSet> = OnceLock::new();
    SET.get_or_init(blackwatch::alert::notify::render::TemplateSet::defaults)
}

/// First byte: 0 mod 3 a rule annotation, 1 a notification text template, 2 an HTML one.
pub fn template(data: &[u8]) {
    use blackwatch::template::rules::{RuleData, RuleTemplate};
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let src = text(&rest[..rest.len().min(4096)]);
    match mode % 3 {
        0 => {
            let labels: LabelSet = [("instance", "a:80"), ("job", "web"), ("__name__", "up")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let ext: LabelSet = [("cluster".to_string(), "eu".to_string())].into();
            // `query` answers every text with one sample, so the result helpers run too.
            let query = |q: &str| {
                Ok(vec![blackwatch::template::prom::Sample {
                    labels: [("q".to_string(), q.to_string())].into(),
                    value: 1.5,
                }])
            };
            let data = RuleData {
                labels: &labels,
                external_labels: &ext,
                external_url: "http://blackwatch:9115",
                value: 0.25,
                query: Some(&query),
            };
            let _ = blackwatch::template::rules::check("fuzz", &src);
            let _ = RuleTemplate::new("fuzz", &src).expand(&data);
        }
        // Alertmanager template files are bytes: decoded as the loader decodes them.
        1 => {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_763_700_000);
            let src = blackwatch::base::gostr::from_bytes(&rest[..rest.len().min(4096)]);
            let _ = am_templates().render_text(&src, am_data(), now);
        }
        _ => {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_763_700_000);
            let src = blackwatch::base::gostr::from_bytes(&rest[..rest.len().min(4096)]);
            let _ = am_templates().render_html(&src, am_data(), now);
        }
    }
}

// ---------------------------------------------------------------------------------------
// DNS responses: the wire parser the prober uses on every answer.
// ---------------------------------------------------------------------------------------

pub fn dns(data: &[u8]) {
    let Ok(r) = blackwatch::probe::dns::parse_response(data) else {
        return;
    };
    // Every record takes at least 11 bytes (a 1-byte name, type, class, TTL, length), so a
    // message can never make the parser produce more records than that allows.
    let n = r.answer.len() + r.authority.len() + r.additional.len();
    assert!(
        n <= data.len() / 11,
        "{n} records from {} bytes",
        data.len()
    );
    assert_eq!(
        blackwatch::probe::dns::parse_response(data).as_ref(),
        Ok(&r),
        "parsing is deterministic"
    );
}

// ---------------------------------------------------------------------------------------
// HTTP response bodies: decompression under the body limit, as the prober decodes them.
// ---------------------------------------------------------------------------------------

/// Bytes: [compression, limit, flags, chunk size, body...]. Flags bit 0: keep the body;
/// bit 1: compress the body with the chosen encoder first (then it must decode to itself).
pub fn http_body(data: &[u8]) {
    use blackwatch::probe::http::{decode_body, DEFAULT_BODY_LIMIT};
    use blackwatch::probe::module::Compression;
    if data.len() < 4 {
        return;
    }
    let compression = match data[0] % 5 {
        0 => None,
        1 => Some(Compression::Identity),
        2 => Some(Compression::Gzip),
        3 => Some(Compression::Deflate),
        _ => Some(Compression::Brotli),
    };
    let limit = match data[1] {
        0 => DEFAULT_BODY_LIMIT,
        n => u64::from(n) * 16,
    };
    let keep = data[2] & 1 == 1;
    let encode = data[2] & 2 == 2;
    let chunk = usize::from(data[3]).max(1);
    let plain = &data[4..];
    let body = if encode {
        match encoded(compression, plain) {
            Some(b) => b,
            None => return,
        }
    } else {
        plain.to_vec()
    };
    let (count, kept, err) = decode_body(compression, body.chunks(chunk), limit, keep);
    assert!(count <= limit, "counted {count} over the limit {limit}");
    assert!(kept.len() as u64 <= count, "kept {} of {count}", kept.len());
    if !keep {
        assert!(kept.is_empty(), "kept a body nobody asked for");
    }
    let identity = matches!(compression, None | Some(Compression::Identity));
    if identity || encode {
        let want = plain.len() as u64;
        if want <= limit {
            assert_eq!(err, None, "{want} bytes under the limit {limit}");
            assert_eq!(count, want);
            if keep {
                assert_eq!(kept, plain, "the body decodes to itself");
            }
        } else {
            assert!(
                err.is_some(),
                "{want} bytes over the limit {limit} accepted"
            );
            assert_eq!(count, limit, "a body over the limit counts the limit");
        }
    }
}

fn encoded(
    compression: Option<blackwatch::probe::module::Compression>,
    plain: &[u8],
) -> Option<Vec<u8>> {
    use blackwatch::probe::module::Compression;
    match compression {
        None | Some(Compression::Identity) => Some(plain.to_vec()),
        Some(Compression::Gzip) => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(plain).ok()?;
            e.finish().ok()
        }
        Some(Compression::Deflate) => {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(plain).ok()?;
            e.finish().ok()
        }
        Some(Compression::Brotli) => {
            let mut out = Vec::new();
            {
                let mut e = brotli::CompressorWriter::new(&mut out, 4096, 1, 22);
                e.write_all(plain).ok()?;
                e.flush().ok()?;
            }
            Some(out)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Regex helpers: Go's Regexp.Expand of tcp query_response `expect` captures into `send`,
// and the body / header regexes the HTTP prober matches against response bytes.
// ---------------------------------------------------------------------------------------

/// Bytes: pattern, 0, template, 0, haystack.
pub fn expand(data: &[u8]) {
    let mut parts = data.splitn(3, |&b| b == 0);
    let (Some(pat), Some(tmpl), Some(hay)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let pat = String::from_utf8_lossy(&pat[..pat.len().min(256)]);
    let Ok(re) = regex::bytes::RegexBuilder::new(&pat)
        .size_limit(1 << 20)
        .build()
    else {
        return;
    };
    let hay = &hay[..hay.len().min(4096)];
    if let Some(caps) = re.captures(hay) {
        let out = blackwatch::probe::tcp::expand(&re, tmpl, &caps);
        // Each byte of the template yields at most one capture (no nesting), so the output
        // is bounded by the template times the haystack.
        assert!(out.len() <= tmpl.len() * (hay.len() + 1), "expansion grew");
    }
}

// ---------------------------------------------------------------------------------------
// API v2 bodies: alerts and silences posted to a running in-process server.
// ---------------------------------------------------------------------------------------

/// An in-process blackwatch with an alerting section, serving on 127.0.0.1:0.
pub struct Api {
    base: String,
    client: reqwest::Client,
    token: tokio_util::sync::CancellationToken,
    _dir: tempfile::TempDir,
}

const API_CONFIG: &str = "modules: {}
alerting:
  route:
    receiver: blackhole
    group_by: [alertname]
    group_wait: 1h
  receivers:
    - name: blackhole
";

impl Api {
    /// Starts the server on the current tokio runtime.
    pub async fn start() -> Api {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let file = dir.path().join("blackwatch.yml");
        let config = blackwatch::config::load_str(API_CONFIG, &file)
            .unwrap_or_else(|e| panic!("fuzz API config: {e}"));
        let settings = blackwatch::state::Settings {
            storage_path: dir.path().join("data"),
            ..Default::default()
        };
        let token = tokio_util::sync::CancellationToken::new();
        let daemon = blackwatch::daemon::Daemon::build(config, settings, token.clone())
            .unwrap_or_else(|e| panic!("start alerting: {e}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local addr: {e}"));
        let _server = daemon.serve(listener, blackwatch::server::ServerOptions::default());
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|e| panic!("client: {e}"));
        Api {
            base: format!("http://{addr}"),
            client,
            token,
            _dir: dir,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> (u16, String) {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                (status, text)
            }
            Err(e) => panic!("{method} {path}: the server did not answer: {e}"),
        }
    }

    /// First byte: 0 mod 5 POST alerts, 1 POST a silence, 2 GET alerts with the rest as
    /// `filter`, 3 GET silences with the rest as `filter`, 4 DELETE a silence by that id.
    /// Every answer is a 2xx or 4xx, and the lists still serve valid JSON afterwards.
    pub async fn run(&self, data: &[u8]) {
        use reqwest::Method;
        let Some((&mode, rest)) = data.split_first() else {
            return;
        };
        let rest = &rest[..rest.len().min(MAX_INPUT)];
        let lossy = String::from_utf8_lossy(rest);
        let enc =
            |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
        let (status, body) = match mode % 5 {
            0 => {
                self.call(Method::POST, "/api/v2/alerts", Some(rest.to_vec()))
                    .await
            }
            1 => {
                self.call(Method::POST, "/api/v2/silences", Some(rest.to_vec()))
                    .await
            }
            2 => {
                self.call(
                    Method::GET,
                    &format!("/api/v2/alerts?filter={}", enc(&lossy)),
                    None,
                )
                .await
            }
            3 => {
                self.call(
                    Method::GET,
                    &format!("/api/v2/silences?filter={}", enc(&lossy)),
                    None,
                )
                .await
            }
            _ => {
                let id: String = url::form_urlencoded::byte_serialize(lossy.as_bytes()).collect();
                self.call(Method::DELETE, &format!("/api/v2/silence/{id}"), None)
                    .await
            }
        };
        assert!(
            (200..500).contains(&status),
            "mode {mode}: status {status}: {body}"
        );
        for path in [
            "/api/v2/alerts",
            "/api/v2/silences",
            "/api/v2/alerts/groups",
        ] {
            let (status, body) = self.call(Method::GET, path, None).await;
            assert_eq!(status, 200, "GET {path} after the input: {body}");
            assert!(
                serde_json::from_str::<serde_json::Value>(&body).is_ok_and(|v| v.is_array()),
                "GET {path} is not a JSON array: {body}"
            );
        }
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.token.cancel();
    }
}
