//! The process log through the real binary, in both `--log.format`s: every line printed at
//! start-up, on reloads (SIGHUP and `POST /-/reload`, one of each failing on a bad file), on
//! a probe at debug level and at shutdown (SIGTERM) parses strictly — logfmt as key=value
//! pairs, JSON as one object — and carries Prometheus' keys (`ts` as RFC 3339, `caller`,
//! `level`, `msg`) first; stdout stays empty.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::Method;

use crate::support::process::listen_address;
use crate::support::{handlers, http_request, poll, HttpServer};

const BIN: &str = env!("CARGO_BIN_EXE_blackwatch");
/// Generous: the machine is shared with concurrent builds.
const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Strict parsers for the two formats.

/// Parses one logfmt line strictly: `key=value` pairs separated by one space; a key is one
/// or more characters other than space, controls, `=` and `"`; a value is either bare (one
/// or more such characters) or quoted with go-logfmt's escapes (`\\ \" \n \r \t \uXXXX`).
/// Keys must not repeat.
fn parse_logfmt(line: &str) -> Result<Vec<(String, String)>, String> {
    fn plain(c: char) -> bool {
        c > ' ' && c != '=' && c != '"' && c != '\u{7f}'
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if !plain(c) {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            return Err(format!("empty key after {pairs:?}"));
        }
        if chars.next() != Some('=') {
            return Err(format!("no `=` after key {key:?}"));
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(format!("unterminated quoted value of {key:?}")),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        Some('r') => value.push('\r'),
                        Some('t') => value.push('\t'),
                        Some('u') => {
                            let hex: String = chars.by_ref().take(4).collect();
                            let c = u32::from_str_radix(&hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .ok_or_else(|| format!("bad \\u escape {hex:?} in {key:?}"))?;
                            value.push(c);
                        }
                        other => return Err(format!("bad escape {other:?} in {key:?}")),
                    },
                    Some(c) if c < ' ' => {
                        return Err(format!("raw control {c:?} in quoted value of {key:?}"))
                    }
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if !plain(c) {
                    break;
                }
                value.push(c);
                chars.next();
            }
            if value.is_empty() {
                return Err(format!("empty bare value of {key:?} (go-kit quotes it)"));
            }
        }
        if pairs.iter().any(|(k, _)| *k == key) {
            return Err(format!("repeated key {key:?}"));
        }
        pairs.push((key, value));
        match chars.next() {
            None => return Ok(pairs),
            Some(' ') => {}
            Some(c) => return Err(format!("{c:?} instead of a space after a value")),
        }
    }
}

/// Parses one JSON line: an object whose values are strings, numbers or booleans, keys in
/// the order written (checked on the text, as serde_json's map is sorted).
fn parse_json(line: &str) -> Result<Vec<(String, String)>, String> {
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let object = value.as_object().ok_or("not an object")?;
    let mut pairs: Vec<(usize, String, String)> = Vec::new();
    for (k, v) in object {
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            other => return Err(format!("{k}: unexpected value {other}")),
        };
        let mut encoded = String::new();
        blackwatch::logging::append_json_string(&mut encoded, k);
        encoded.push(':');
        let at = line
            .find(&encoded)
            .ok_or_else(|| format!("key {k} not found as written"))?;
        pairs.push((at, k.clone(), text));
    }
    pairs.sort();
    Ok(pairs.into_iter().map(|(_, k, v)| (k, v)).collect())
}

/// One parsed line: its pairs in order, and a map for lookups.
struct Line {
    text: String,
    pairs: Vec<(String, String)>,
    map: BTreeMap<String, String>,
}

impl Line {
    fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }
    fn msg(&self) -> &str {
        self.get("msg").unwrap_or("")
    }
}

/// Parses every line in `format` and checks the keys every line must have, first and in
/// order: `ts` (RFC 3339, within the run), `caller` (`file.rs:line`), `level`, `msg`.
fn parse_all(format: &str, lines: &[String], start: jiff::Timestamp) -> Vec<Line> {
    let end = jiff::Timestamp::now();
    let mut out = Vec::new();
    for text in lines {
        let pairs = match format {
            "json" => parse_json(text),
            _ => parse_logfmt(text),
        }
        .unwrap_or_else(|e| panic!("{format} line does not parse ({e}):\n{text}"));
        let keys: Vec<&str> = pairs.iter().take(4).map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["ts", "caller", "level", "msg"], "{text}");
        let map: BTreeMap<String, String> = pairs.iter().cloned().collect();
        let ts: jiff::Timestamp = map["ts"]
            .parse()
            .unwrap_or_else(|e| panic!("ts is not RFC 3339 ({e}):\n{text}"));
        assert!(map["ts"].ends_with('Z') && map["ts"].len() == 24, "{text}");
        // The log rounds down to milliseconds.
        let slack = jiff::SignedDuration::from_millis(1);
        assert!(
            ts >= start - slack && ts <= end,
            "ts out of the run:\n{text}"
        );
        let caller = &map["caller"];
        let (file, line) = caller.rsplit_once(':').expect("caller is file:line");
        assert!(
            file.ends_with(".rs") && !file.contains('/') && line.parse::<u32>().is_ok(),
            "{text}"
        );
        assert!(
            ["debug", "info", "warn", "error"].contains(&map["level"].as_str()),
            "{text}"
        );
        assert!(!map["msg"].is_empty(), "{text}");
        out.push(Line {
            text: text.clone(),
            pairs,
            map,
        });
    }
    out
}

#[test]
fn the_strict_logfmt_parser_rejects_what_go_kit_never_writes() {
    let ok = parse_logfmt(r#"ts=x level=info msg="a \"b\"\n" e="" n=1"#).expect("parses");
    assert_eq!(ok[2], ("msg".to_string(), "a \"b\"\n".to_string()));
    assert_eq!(ok[3], ("e".to_string(), String::new()));
    for bad in [
        "",
        "ts=",
        "ts=x  level=info",
        "ts=x level=info ",
        "ts=\"unterminated",
        "ts=x ts=y",
        "ts=a\"b",
        "msg=\"a\\qb\"",
        "=x",
    ] {
        assert!(parse_logfmt(bad).is_err(), "{bad:?} parsed");
    }
}

// ---------------------------------------------------------------------------------------------
// The daemon.

/// Output of a child process, line by line, as it comes.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<Vec<String>>>);

impl Output {
    fn drain(&self, stream: impl Read + Send + 'static) -> std::thread::JoinHandle<()> {
        let lines = Arc::clone(&self.0);
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        })
    }
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    fn text(&self) -> String {
        self.lines().join("\n")
    }
    /// Waits until `count` lines contain `needle`.
    async fn wait_for(&self, needle: &str, count: usize) {
        poll::until(&format!("{count} × {needle:?}"), WAIT, async || {
            let n = self.lines().iter().filter(|l| l.contains(needle)).count();
            if n >= count {
                Ok(())
            } else {
                Err(self.text())
            }
        })
        .await;
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -{name} failed");
}

const MODULES: &str =
    "modules:\n  http_2xx:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\n";

/// A file that fails to load with two errors, one of them quoting a value, so the logged
/// error holds a newline and quotes.
const BAD: &str = "modules:\n  a:\n    prober: 'x\"y'\n  b:\n    prober: no such\n";

/// `msg` written as each format quotes it, to find lines before parsing them.
fn msg_needle(format: &str, msg: &str) -> String {
    let mut quoted = String::new();
    if format == "json" {
        quoted.push_str("\"msg\":");
        blackwatch::logging::append_json_string(&mut quoted, msg);
    } else {
        quoted.push_str(" msg=");
        blackwatch::logging::append_logfmt_value(&mut quoted, msg);
        quoted.push(' ');
    }
    quoted
}

async fn run_daemon(format: &str, level: &str) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = dir.path().join("blackwatch.yml");
    std::fs::write(&config, MODULES).expect("writing the config");
    let target = HttpServer::plain(handlers::ok());
    let start = jiff::Timestamp::now();

    let mut child = Command::new(BIN)
        .env_remove("BLACKWATCH_LOG")
        .arg(format!("--log.format={format}"))
        .arg(format!("--log.level={level}"))
        .arg(format!("--config.file={}", config.display()))
        .arg("--web.listen-address=127.0.0.1:0")
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting blackwatch");
    let (stdout, stderr) = (Output::default(), Output::default());
    let readers = [
        stdout.drain(child.stdout.take().expect("piped stdout")),
        stderr.drain(child.stderr.take().expect("piped stderr")),
    ];
    let addr: SocketAddr = poll::until("the listening on line", WAIT, async || {
        match stderr.lines().iter().find_map(|l| listen_address(l)) {
            Some(addr) => Ok(addr),
            None => Err(stderr.text()),
        }
    })
    .await;

    // A changed file, reloaded by SIGHUP.
    let changed = format!("{MODULES}  tcp:\n    prober: tcp\n");
    std::fs::write(&config, &changed).expect("writing the config");
    signal(&child, "HUP");
    let loaded = msg_needle(format, "Loaded config file");
    stderr.wait_for(&loaded, 1).await;

    // Changed again, reloaded through the API.
    std::fs::write(&config, format!("{changed}  tcp2:\n    prober: tcp\n"))
        .expect("writing the config");
    let r = http_request(addr, Method::POST, "/-/reload", &[], Bytes::new()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    stderr.wait_for(&loaded, 2).await;

    // A probe: at debug level its log lines go to the process log too; its debug output
    // keeps blackbox_exporter's format.
    let r = http_request(
        addr,
        Method::GET,
        &format!(
            "/probe?module=http_2xx&debug=true&target={}",
            target.url("/")
        ),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(
        r.text().contains(" module=http_2xx target=")
            && r.text().contains("level=info msg=\"Probe succeeded\""),
        "{}",
        r.text()
    );

    // A bad file: both reload paths fail and say why.
    std::fs::write(&config, BAD).expect("writing the config");
    let r = http_request(addr, Method::POST, "/-/reload", &[], Bytes::new()).await;
    assert_eq!(r.status, 500, "{}", r.text());
    let failed = msg_needle(format, "Error reloading config");
    stderr.wait_for(&failed, 1).await;
    signal(&child, "HUP");
    stderr.wait_for(&failed, 2).await;

    signal(&child, "TERM");
    let status = poll::until("the daemon to exit", WAIT, async || {
        match child.try_wait().expect("polling the daemon") {
            Some(status) => Ok(status),
            None => Err(stderr.text()),
        }
    })
    .await;
    for reader in readers {
        reader.join().expect("reader thread");
    }
    assert!(status.success(), "{status}\n{}", stderr.text());
    assert_eq!(stdout.lines(), Vec::<String>::new(), "nothing on stdout");

    let lines = parse_all(format, &stderr.lines(), start);
    let msgs: Vec<&str> = lines.iter().map(Line::msg).collect();
    for want in [
        "Starting blackwatch",
        "listening on",
        "Reloading config (SIGHUP)",
        "Loaded config file",
        "Error reloading config",
        "Received signal, exiting gracefully",
        "Shutdown complete",
    ] {
        assert!(
            msgs.contains(&want),
            "no {want:?} line in:\n{}",
            stderr.text()
        );
    }
    let listening = lines
        .iter()
        .find(|l| l.msg() == "listening on")
        .expect("a listening on line");
    assert_eq!(listening.get("level"), Some("info"));
    assert_eq!(listening.get("address"), Some(addr.to_string().as_str()));
    assert!(
        listening
            .get("caller")
            .is_some_and(|c| c.starts_with("app.rs:")),
        "{}",
        listening.text
    );
    // The failed reload's error: every error, newline and quotes included, in one value.
    let error = lines
        .iter()
        .find(|l| l.msg() == "Error reloading config")
        .and_then(|l| l.get("error"))
        .expect("an error value");
    assert!(error.contains(&config.display().to_string()), "{error}");
    assert!(error.contains("2 errors:\n"), "{error}");
    assert!(error.contains("prober 'x\"y' is not valid"), "{error}");
    assert!(error.contains("prober 'no such' is not valid"), "{error}");
    let loaded = lines
        .iter()
        .find(|l| l.msg() == "Loaded config file")
        .expect("a loaded line");
    assert!(
        loaded
            .pairs
            .iter()
            .any(|(k, v)| k == "modules" && v.parse::<u32>().is_ok()),
        "{}",
        loaded.text
    );
    if level == "debug" {
        assert!(
            lines
                .iter()
                .any(|l| l.get("level") == Some("debug") && l.msg() == "Probe succeeded"),
            "no debug line from the probe:\n{}",
            stderr.text()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logfmt_lines_from_start_reloads_and_shutdown_parse() {
    run_daemon("logfmt", "info").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_from_start_reloads_and_shutdown_parse() {
    run_daemon("json", "info").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_lines_parse_in_both_formats() {
    run_daemon("logfmt", "debug").await;
    run_daemon("json", "debug").await;
}

/// A daemon that cannot start logs why in the chosen format, and nothing else.
#[test]
fn a_failed_start_is_one_parseable_error_line() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = dir.path().join("bad.yml");
    std::fs::write(&config, BAD).expect("writing the config");
    for format in ["logfmt", "json"] {
        let start = jiff::Timestamp::now();
        let out = Command::new(BIN)
            .env_remove("BLACKWATCH_LOG")
            .arg(format!("--log.format={format}"))
            .arg(format!("--config.file={}", config.display()))
            .arg("--web.listen-address=127.0.0.1:0")
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .stdin(Stdio::null())
            .output()
            .expect("running blackwatch");
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty(), "{format}: stdout not empty");
        let stderr: Vec<String> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(str::to_string)
            .collect();
        let lines = parse_all(format, &stderr, start);
        let error = lines
            .iter()
            .find(|l| l.msg() == "Error loading config")
            .unwrap_or_else(|| panic!("no error line:\n{}", stderr.join("\n")));
        assert_eq!(error.get("level"), Some("error"));
        let text = error.get("error").expect("an error value");
        assert!(text.contains(&config.display().to_string()), "{text}");
        assert!(text.contains("prober 'x\"y' is not valid\n"), "{text}");
        assert!(!stderr.iter().any(|l| l.contains("listening on")));
    }
}
