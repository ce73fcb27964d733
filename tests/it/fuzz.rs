//! Time-bounded fuzzing on stable: every target of `fuzz/targets.rs` (config, units, rule
//! expressions, templates, DNS responses, HTTP bodies, regex expansion, API v2 bodies) fed
//! with proptest-generated inputs for `FUZZ_SECONDS` (default 1) each: raw bytes, and the
//! seed inputs of `fuzz/seeds/<target>/` mutated (bytes flipped, inserted, deleted,
//! duplicated, and dictionary tokens spliced in). A failing input is shrunk and printed as
//! a byte string; the run prints how many inputs each target executed.
//!
//! `FUZZ_SEED` picks another random sequence (the default is fixed, so CI is repeatable).
//! Longer, coverage-guided runs use the same targets through cargo-fuzz (see FUZZING.md).

#[path = "../../fuzz/targets.rs"]
mod targets;

use std::cell::Cell;
use std::path::PathBuf;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};
use tokio::time::Instant;

/// A fuzz input, printed as an escaped byte string.
#[derive(Clone)]
struct Input(Vec<u8>);

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

fn budget() -> Duration {
    std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(Duration::from_secs(1), Duration::from_secs_f64)
}

fn base_seed() -> u64 {
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_b1ac)
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    let seeds: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

/// Bytes the mutator likes to insert: structure of most text formats.
const SPECIAL: &[u8] = b"{}[]():,.-+*/\"'`\n\t #$|&!%@=<>~\\0\xff\x00\xc0";

/// Applies the mutations `ops` (kind, position, length/position, byte) to `seed`.
fn mutate(seed: &[u8], ops: &[(u8, u16, u16, u8)], dict: &[&[u8]]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for &(kind, a, b, byte) in ops {
        let len = v.len();
        let at = if len == 0 {
            0
        } else {
            usize::from(a) % (len + 1)
        };
        match kind % 6 {
            0 if at < len => v[at] ^= byte | 1,
            1 => v.insert(at, byte),
            2 => {
                let end = (at + usize::from(b) % 16 + 1).min(len);
                v.drain(at.min(end)..end);
            }
            3 if !dict.is_empty() => {
                let tok = dict[usize::from(byte) % dict.len()];
                v.splice(at..at, tok.iter().copied());
            }
            4 if len > 0 => {
                let from = usize::from(b) % len;
                let end = (from + usize::from(byte) % 64 + 1).min(len);
                let piece = v[from..end].to_vec();
                v.splice(at..at, piece);
            }
            5 if at < len => v[at] = SPECIAL[usize::from(byte) % SPECIAL.len()],
            _ => v.push(byte),
        }
    }
    v
}

fn inputs(target: &str, dict: &'static [&'static [u8]]) -> impl Strategy<Value = Input> {
    let seeds = seeds(target);
    let n = seeds.len();
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..96),
        1 => (0..n).prop_map({
            let seeds = seeds.clone();
            move |i| seeds[i].clone()
        }),
        6 => (
            0..n,
            proptest::collection::vec((any::<u8>(), any::<u16>(), any::<u16>(), any::<u8>()), 1..10)
        )
            .prop_map(move |(i, ops)| mutate(&seeds[i], &ops, dict)),
    ]
    .prop_map(Input)
}

/// Runs `f` on generated inputs until the time budget is spent, in batches of fresh
/// deterministic random sequences; fails with the shrunk input on the first failure.
fn fuzz(name: &str, dict: &'static [&'static [u8]], f: impl Fn(&[u8])) {
    let strategy = inputs(name, dict);
    let started = Instant::now();
    let deadline = started + budget();
    let base = base_seed();
    let execs = Cell::new(0u64);
    let mut batch = 0u64;
    while Instant::now() < deadline {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&base.to_le_bytes());
        seed[8..16].copy_from_slice(&batch.to_le_bytes());
        seed[16..16 + name.len().min(16)].copy_from_slice(&name.as_bytes()[..name.len().min(16)]);
        let config = Config {
            cases: 128,
            failure_persistence: None,
            max_shrink_iters: 4096,
            ..Config::default()
        };
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
        let result = runner.run(&strategy, |input| {
            execs.set(execs.get() + 1);
            f(&input.0);
            Ok(())
        });
        match result {
            Ok(()) => {}
            Err(TestError::Fail(reason, input)) => panic!(
                "fuzz target {name} failed (FUZZ_SEED={base}, batch {batch}): {reason}\n\
                 minimal input: {input:?}"
            ),
            Err(e) => panic!("fuzz target {name}: {e}"),
        }
        batch += 1;
    }
    eprintln!(
        "fuzz {name}: {} executions in {:.1} s without a failure",
        execs.get(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn fuzz_config() {
    const DICT: &[&[u8]] = &[
        b"modules:\n",
        b"  x:\n    prober: http\n",
        b"probes:\n",
        b"  - job: j\n    module: x\n",
        b"targets: [a]\n",
        b"rule_files: [r.yml]\n",
        b"global:\n",
        b"alerting:\n",
        b"route:\n",
        b"receivers:\n",
        b"routes:\n",
        b"matchers: [",
        b"tls_config:\n",
        b"timeout: ",
        b"1s",
        b"-1h",
        b"1e999",
        b"\n  - ",
        b": ",
        b"\n    ",
        b"!!binary ",
        b"&a ",
        b"*a",
        b"<<: *a\n",
        b"valid_status_codes: [",
        b"query_response:\n",
        b"- expect: ",
        b"dns:\n",
        b"query_name: ",
        b"inhibit_rules:\n",
        b"time_intervals:\n",
        b"probe_policy:\n",
        b"groups:\n",
        b"- name: g\n",
        b"rules:\n",
        b"- alert: A\n",
        b"expr: ",
        b"for: ",
        b"annotations:\n",
        b"{{",
        b"}}",
        b"_file: f\n",
        b"null",
        b"~",
        b"'",
        b"\"\\u0000\"",
        b"%YAML 1.2\n",
        b"---\n",
        b"...\n",
    ];
    fuzz("config", DICT, targets::config);
}

#[test]
fn fuzz_units() {
    const DICT: &[&[u8]] = &[
        b"ns",
        b"us",
        "µs".as_bytes(),
        b"ms",
        b"s",
        b"m",
        b"h",
        b"d",
        b"w",
        b"y",
        b"B",
        b"KiB",
        b"MB",
        b"GiB",
        b"TiB",
        b"EiB",
        b".",
        b"9999999999999999999",
        b"+",
        b"-",
        b"0",
        b"1",
    ];
    fuzz("units", DICT, targets::units);
}

#[test]
fn fuzz_expr() {
    const DICT: &[&[u8]] = &[
        b"sum",
        b"avg",
        b"count_values(\"x\", ",
        b"rate(",
        b"irate(",
        b"[5m]",
        b"[1m:10s]",
        b" by (job) ",
        b" without (instance) ",
        b" offset -1m",
        b" @ 100",
        b" @ start()",
        b" and ",
        b" or ",
        b" unless ",
        b" on(job) ",
        b" ignoring(a) ",
        b" group_left(x) ",
        b" group_right ",
        b" == ",
        b" != ",
        b" > bool ",
        b"^",
        b"%",
        b"/",
        b"atan2",
        b"1e308",
        b"NaN",
        b"Inf",
        b"-",
        b"probe_success",
        b"up",
        b"requests_total",
        b"{job=~\"w.*\"}",
        b"{__name__=~\".+\"}",
        b"histogram_quantile(",
        b"topk(",
        b"bottomk(-1, ",
        b"quantile(2, ",
        b"label_replace(",
        b"label_join(",
        b"absent(",
        b"absent_over_time(",
        b"time()",
        b"vector(",
        b"scalar(",
        b"sort(",
        b"round(",
        b"clamp(",
        b"holt_winters(",
        b"(",
        b")",
        b",",
        b"\"",
        b"0x1f",
    ];
    fuzz("expr", DICT, targets::expr);
}

#[test]
fn fuzz_template() {
    const DICT: &[&[u8]] = &[
        b"{{",
        b"}}",
        b"{{-",
        b"-}}",
        b"{{end}}",
        b"{{ range ",
        b"{{ if ",
        b"{{ else }}",
        b"{{ with ",
        b"{{ define \"x\" }}",
        b"{{ template \"x\" . }}",
        b"{{ block \"y\" . }}",
        b"$labels",
        b"$value",
        b".Labels",
        b".Alerts",
        b".CommonLabels.Remove",
        b".StartsAt.Format",
        b".SortedPairs",
        b" | printf \"%v\" ",
        b"printf \"%0999d\" 1",
        b"humanize ",
        b"humanize1024 ",
        b"humanizeDuration ",
        b"reReplaceAll ",
        b"toUpper ",
        b"join ",
        b"index ",
        b"slice ",
        b"len ",
        b"$x := ",
        b"$x = ",
        b"eq ",
        b"lt ",
        b"and ",
        b"or ",
        b"not ",
        b"call ",
        b"html ",
        b"js ",
        b"safeHtml ",
        b"query \"up\"",
        b"first ",
        b"label \"job\" ",
        b"(",
        b")",
        b"\"",
        b"`",
        b"nil",
        b"1e308",
        b"-9223372036854775808",
        b"<script>",
        b"<a href=\"",
        b"\" onclick=\"",
        b"<style>",
        b"{{ template \"__subject\" . }}",
        b"{{ break }}",
        b"{{ continue }}",
        b"/*",
        b"*/",
    ];
    fuzz("template", DICT, targets::template);
}

#[test]
fn fuzz_dns() {
    const DICT: &[&[u8]] = &[
        b"\xc0\x0c",
        b"\xc0\x00",
        b"\xc0\xff",
        b"\x3f",
        b"\x00",
        b"\x00\x01\x00\x01",
        b"\x00\x29\x10\x00",
        b"\x00\x06\x00\x01",
        b"\x00\x10\x00\x01",
        b"\x00\x05\x00\x01",
        b"\x00\x2e\x00\x01",
        b"\xff\xff",
        b"\x00\x00\x00\x00\x00\x04",
        b"\x01a\x00",
        b"\x40",
    ];
    fuzz("dns", DICT, targets::dns);
}

#[test]
fn fuzz_http_body() {
    const DICT: &[&[u8]] = &[
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00",
        b"\x00\x00\xff\xff",
        b"\x03\x00",
        b"\xff\xff\xff\xff",
        b"\x78\x9c",
        b"\x0b",
        b"\x00",
    ];
    fuzz("http_body", DICT, targets::http_body);
}

#[test]
fn fuzz_expand() {
    const DICT: &[&[u8]] = &[
        b"$1",
        b"${1}",
        b"$name",
        b"${name}",
        b"$$",
        b"${",
        b"$",
        b"(?P<name>",
        b"(",
        b")",
        b".*",
        b"\x00",
        b"$99999999999999999999",
        b"${v}",
        b"(?i)",
        b"|",
        b"\\",
    ];
    fuzz("expand", DICT, targets::expand);
}

#[test]
fn fuzz_api() {
    const DICT: &[&[u8]] = &[
        b"\"labels\":",
        b"{\"a\":\"b\"}",
        b"\"startsAt\":",
        b"\"endsAt\":",
        b"\"2026-11-21T10:00:00Z\"",
        b"\"0001-01-01T00:00:00Z\"",
        b"\"9999-12-31T23:59:59.999999999-23:59\"",
        b"\"matchers\":",
        b"\"isRegex\":true",
        b"\"isEqual\":false",
        b"\"id\":",
        b"\"name\":",
        b"\"value\":",
        b"[",
        b"]",
        b"{",
        b"}",
        b",",
        b"null",
        b"1e999",
        b"\"\\u0000\"",
        b"\"\\ud800\"",
        b"\"(\"",
        b"=~",
        b"!~",
        b"\"alertname\"",
        b"\"__name__\"",
    ];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let api = rt.block_on(targets::Api::start());
    fuzz("api", DICT, |data| rt.block_on(api.run(data)));
    drop(api);
}

/// The seeds are valid inputs (so mutations start deep inside each parser): every config
/// seed loads (blackwatch.yml) or parses (rule file), every expression parses, every DNS
/// response parses, every rule template parses.
#[test]
fn fuzz_seeds_are_valid() {
    let dir = targets::config_dir();
    for s in seeds("config") {
        let text = String::from_utf8_lossy(&s[1..]).into_owned();
        if s[0] % 2 == 0 {
            if let Err(e) = blackwatch::config::load_str(&text, &dir.join("blackwatch.yml")) {
                panic!("config seed does not load: {e}\n{text}");
            }
        } else if let Err(e) = blackwatch::rules::file::parse_str(&text, &dir.join("rules.yml")) {
            panic!("rule-file seed does not parse: {e:?}\n{text}");
        }
    }
    for s in seeds("expr") {
        let text = String::from_utf8_lossy(&s).into_owned();
        if let Err(e) = blackwatch::rules::expr::Expr::parse(&text) {
            panic!("expression seed {text:?}: {e}");
        }
    }
    for s in seeds("dns") {
        if let Err(e) = blackwatch::probe::dns::parse_response(&s) {
            panic!("DNS seed {:?}: {e}", Input(s.clone()));
        }
    }
    for s in seeds("template").iter().filter(|s| s[0] % 3 == 0) {
        let text = String::from_utf8_lossy(&s[1..]).into_owned();
        if let Err(e) = blackwatch::template::rules::check("seed", &text) {
            panic!("template seed {text:?}: {e}");
        }
    }
}
