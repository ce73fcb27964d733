//! Shipped config is tested config: every `modules/*.yml` and `examples/*.yml` loads, the
//! embedded module list matches `modules/`, every `tests/data/bad/*.yml` fails with exactly
//! the message in the table below, and an unknown key added to any mapping of a shipped file
//! is rejected (hickory-dns `test_reject_unknown_fields`).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use blackwatch::config;

/// The mutation test's key; it must never become a real field.
const UNKNOWN_KEY: &str = "blackwatch_unknown_key";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `*.yml` files directly in `dir` (relative to the crate root), sorted; none if it is absent.
fn yml_files(dir: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(root().join(dir)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("reading a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Every shipped config file: `modules/*.yml` and `examples/*.yml`.
fn shipped_files() -> Vec<PathBuf> {
    let mut files = yml_files("modules");
    assert!(!files.is_empty(), "modules/ has no *.yml files");
    files.extend(yml_files("examples"));
    files
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// (a) and (b): shipped files load, and the embedded list is complete.

#[test]
fn every_shipped_file_loads() {
    for path in shipped_files() {
        let c = config::load(&path)
            .unwrap_or_else(|e| panic!("{} does not load:\n{e}", path.display()));
        assert!(
            !c.modules.is_empty(),
            "{} defines no modules",
            path.display()
        );
        assert_eq!(c.source, path);
    }
}

#[test]
fn embedded_modules_cover_exactly_the_modules_directory() {
    let on_disk: BTreeSet<String> = yml_files("modules")
        .iter()
        .map(|p| {
            format!(
                "modules/{}",
                p.file_name().expect("a file name").to_string_lossy()
            )
        })
        .collect();
    let embedded: BTreeSet<String> = config::EMBEDDED_MODULES
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    assert_eq!(
        embedded, on_disk,
        "config::EMBEDDED_MODULES must list every file in modules/ (add it with include_str!)"
    );
    assert_eq!(
        embedded.len(),
        config::EMBEDDED_MODULES.len(),
        "a file is embedded twice"
    );
    for (name, text) in config::EMBEDDED_MODULES {
        assert_eq!(
            *text,
            read(&root().join(name)),
            "{name}: embedded text differs from the file"
        );
    }
}

#[test]
fn embedded_config_has_the_documented_modules() {
    let c = config::embedded().unwrap_or_else(|e| panic!("embedded config is invalid:\n{e}"));
    for name in ["http_2xx", "http_post_2xx", "http_2xx_tls"] {
        assert!(
            c.modules.contains_key(name),
            "embedded config lacks {name}: {:?}",
            c.modules.keys().collect::<Vec<_>>()
        );
    }
    // Each embedded file's modules are all there.
    let mut expected = 0;
    for (name, _) in config::EMBEDDED_MODULES {
        expected += config::load(&root().join(name))
            .expect("checked by every_shipped_file_loads")
            .modules
            .len();
    }
    assert_eq!(c.modules.len(), expected);
}

// ---------------------------------------------------------------------------------------------
// (c): one invalid config per error, with its exact message.

/// `tests/data/bad/<file>` → the whole `ConfigErrors` text.
const BAD: &[(&str, &str)] = &[
    (
        "unknown-field.yml",
        "error parsing config file: tests/data/bad/unknown-field.yml:5:5: modules.http_2xx.invalid_extra_field: unknown field `invalid_extra_field`, expected one of prober, timeout, http, tcp, icmp, dns, grpc, unix, websocket",
    ),
    (
        "bearer-token-and-file.yml",
        "error parsing config file: tests/data/bad/bearer-token-and-file.yml:6:26: modules.http_2xx.http.bearer_token_file: at most one of bearer_token & bearer_token_file must be configured",
    ),
    (
        "invalid-prober.yml",
        "error parsing config file: tests/data/bad/invalid-prober.yml:3:13: modules.invalid_prober.prober: prober 'invalid' is not valid",
    ),
    (
        "invalid-dns-module.yml",
        "error parsing config file: tests/data/bad/invalid-dns-module.yml:5:7: modules.dns_test.dns.query_name: query name must be set for DNS module",
    ),
    (
        "invalid-dns-class.yml",
        "error parsing config file: tests/data/bad/invalid-dns-class.yml:6:20: modules.dns_test.dns.query_class: query class 'X' is not valid",
    ),
    (
        "invalid-dns-type.yml",
        "error parsing config file: tests/data/bad/invalid-dns-type.yml:6:19: modules.dns_test.dns.query_type: query type 'X' is not valid",
    ),
    (
        "invalid-http-header-match.yml",
        "error parsing config file: tests/data/bad/invalid-http-header-match.yml:6:11: modules.http_headers.http.fail_if_header_not_matches[0]: regexp must be set for HTTP header matchers",
    ),
    (
        "invalid-http-body-match-regexp.yml",
        "error parsing config file: tests/data/bad/invalid-http-body-match-regexp.yml:6:11: modules.http_body.http.fail_if_body_matches_regexp[0]: could not compile regular expression \":[\": unclosed character class",
    ),
    (
        "invalid-http-body-not-match-regexp.yml",
        "error parsing config file: tests/data/bad/invalid-http-body-not-match-regexp.yml:6:11: modules.http_body.http.fail_if_body_not_matches_regexp[0]: could not compile regular expression \":[\": unclosed character class",
    ),
    (
        "invalid-http-header-match-regexp.yml",
        "error parsing config file: tests/data/bad/invalid-http-header-match-regexp.yml:6:11: modules.http_headers.http.fail_if_header_not_matches[0].regexp: could not compile regular expression \":[\": unclosed character class",
    ),
    (
        "invalid-http-compression-mismatch.yml",
        "error parsing config file: tests/data/bad/invalid-http-compression-mismatch.yml:5:20: modules.http_compression.http.compression: invalid configuration \"Accept-Encoding: deflate\", \"compression: gzip\"",
    ),
    (
        "invalid-http-compression-mismatch-special-case.yml",
        "error parsing config file: tests/data/bad/invalid-http-compression-mismatch-special-case.yml:5:20: modules.http_compression.http.compression: invalid configuration \"accEpt-enCoding: deflate\", \"compression: gzip\"",
    ),
    (
        "invalid-http-request-compression-reject-all-encodings.yml",
        "error parsing config file: tests/data/bad/invalid-http-request-compression-reject-all-encodings.yml:5:20: modules.http_compression.http.compression: invalid configuration \"Accept-Encoding: *;q=0.0\", \"compression: gzip\"",
    ),
    (
        "invalid-http-http3.yml",
        "error parsing config file: tests/data/bad/invalid-http-http3.yml:5:21: modules.http3.http.enable_http3: HTTP/3 is not supported yet by blackwatch",
    ),
    (
        "invalid-http3-version-without-http3.yml",
        "error parsing config file: tests/data/bad/invalid-http3-version-without-http3.yml:7:11: modules.http3.http.valid_http_versions[1]: HTTP/3 cannot be used as a valid HTTP version when enable_http3 is false",
    ),
    (
        "invalid-icmp-ttl.yml",
        "error parsing config file: tests/data/bad/invalid-icmp-ttl.yml:5:12: modules.icmp_test.icmp.ttl: \"ttl\" cannot be negative",
    ),
    (
        "invalid-icmp-ttl-overflow.yml",
        "error parsing config file: tests/data/bad/invalid-icmp-ttl-overflow.yml:5:12: modules.icmp_test.icmp.ttl: \"ttl\" cannot exceed 255",
    ),
    (
        "invalid-tcp-query-response-regexp.yml",
        "error parsing config file: tests/data/bad/invalid-tcp-query-response-regexp.yml:6:19: modules.tcp_test.tcp.query_response[0].expect: could not compile regular expression \":[\": unclosed character class",
    ),
    (
        "invalid-unix-query-response-regexp.yml",
        "error parsing config file: tests/data/bad/invalid-unix-query-response-regexp.yml:8:19: modules.unix_socket_bad_regex.unix.query_response[0].expect: could not compile regular expression \":[\": unclosed character class",
    ),
    (
        "invalid-websocket-query-response-regexp.yml",
        "error parsing config file: tests/data/bad/invalid-websocket-query-response-regexp.yml:7:19: modules.websocket_test.websocket.query_response[0].expect: could not compile regular expression \":[\": unclosed character class",
    ),
    (
        "invalid-http-body-config.yml",
        "error parsing config file: tests/data/bad/invalid-http-body-config.yml:6:18: modules.http_body.http.body_file: setting body and body_file both are not allowed",
    ),
    (
        "invalid-duration.yml",
        "error parsing config file: tests/data/bad/invalid-duration.yml:4:14: modules.http_2xx.timeout: time: unknown unit \"d\" in duration \"1d\"",
    ),
    (
        "invalid-size.yml",
        "error parsing config file: tests/data/bad/invalid-size.yml:5:24: modules.http_2xx.http.body_size_limit: units: unknown unit kb in 1kb",
    ),
    (
        "duplicate-key.yml",
        "error parsing config file: tests/data/bad/duplicate-key.yml:4:3: modules.http_2xx: duplicate key `http_2xx`: each key may appear only once in a mapping",
    ),
    (
        "empty.yml",
        "error parsing config file: tests/data/bad/empty.yml: EOF: the file is empty",
    ),
    (
        "missing-prober.yml",
        "error parsing config file: tests/data/bad/missing-prober.yml:3:5: modules.http_2xx: missing field `prober`",
    ),
    (
        "invalid-grpc-tls-config.yml",
        "error parsing config file: tests/data/bad/invalid-grpc-tls-config.yml:7:9: modules.grpc.grpc.tls_config: exactly one of key or key_file must be configured when a client certificate is configured",
    ),
    (
        "oauth2-without-token-url.yml",
        "error parsing config file: tests/data/bad/oauth2-without-token-url.yml:6:9: modules.http_oauth.http.oauth2.token_url: oauth2 token_url must be configured",
    ),
    (
        "invalid-status-code.yml",
        "error parsing config file: tests/data/bad/invalid-status-code.yml:5:33: modules.http_2xx.http.valid_status_codes[1]: invalid HTTP status code 2000: must be between 100 and 999",
    ),
    (
        "reserved-http-header.yml",
        "error parsing config file: tests/data/bad/reserved-http-header.yml:7:11: modules.http_2xx.http.http_headers.User-Agent: setting header \"User-Agent\" is not allowed",
    ),
    (
        "three-errors.yml",
        "error parsing config file: 3 errors:\n  \
         tests/data/bad/three-errors.yml:7:19: modules.dns_test.dns.query_type: query type 'NOPE' is not valid\n  \
         tests/data/bad/three-errors.yml:11:12: modules.icmp_test.icmp.ttl: \"ttl\" cannot exceed 255\n  \
         tests/data/bad/three-errors.yml:15:15: modules.http_2xx.http.method: invalid HTTP method \"GE T\"",
    ),
];

#[test]
fn bad_configs_fail_with_their_exact_message() {
    let mut failures = Vec::new();
    for (file, want) in BAD {
        // A relative path, as a user would type it; cargo runs tests from the crate root.
        let path = Path::new("tests/data/bad").join(file);
        match config::load(&path) {
            Ok(_) => failures.push(format!("{file}: loaded, expected:\n{want}")),
            Err(e) if e.to_string() != *want => {
                failures.push(format!("{file}:\n   got: {e}\n  want: {want}"));
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[test]
fn bad_config_table_covers_every_file() {
    let on_disk: BTreeSet<String> = yml_files("tests/data/bad")
        .iter()
        .map(|p| {
            p.file_name()
                .expect("a file name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let in_table: BTreeSet<String> = BAD.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(
        on_disk, in_table,
        "every tests/data/bad file needs a table entry, and every entry a file"
    );
    assert_eq!(in_table.len(), BAD.len(), "a file is listed twice");
}

#[test]
fn missing_file_names_the_path() {
    let e = config::load(Path::new("tests/data/bad/does-not-exist.yml")).unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with(
            "error parsing config file: tests/data/bad/does-not-exist.yml: error reading YAML file: "
        ),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// (d): an unknown key in any mapping of a shipped file is rejected.

/// Mappings whose keys are user data (module and header names), not field names: an extra
/// entry there is a new module or header, not an unknown field.
const FREE_FORM: &[&str] = &[
    "modules",
    "headers",
    "http_headers",
    "proxy_connect_header",
    "metadata",
    "endpoint_params",
    "labels",
];

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#') && t != "---"
}

/// The key of a block-mapping line (`key: value`, `key:`, `- key: value`), without the `- `.
fn key_of(line: &str) -> Option<&str> {
    let t = line.trim_start().trim_start_matches("- ").trim_start();
    let (key, _) = t.split_once(':')?;
    let key = key.trim().trim_matches('"').trim_matches('\'');
    (!key.is_empty() && !key.contains(' ') && !key.starts_with(['{', '[', '#'])).then_some(key)
}

/// Every way to add `UNKNOWN_KEY` to one mapping of `text`: the mutated text and the 1-based
/// line the key is on. Works on block-style YAML by indentation: a mapping starts at the top,
/// after a `key:` line whose next content line is indented deeper, and at a `- key:` item.
fn mutations(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let insert = |at: usize, new_lines: &[String], replace: bool| {
        let mut out: Vec<String> = lines[..at].iter().map(|s| s.to_string()).collect();
        out.extend(new_lines.iter().cloned());
        let rest = if replace { at + 1 } else { at };
        out.extend(lines[rest..].iter().map(|s| s.to_string()));
        let mut s = out.join("\n");
        s.push('\n');
        s
    };
    let mut out = Vec::new();
    // The top-level mapping.
    out.push((insert(0, &[format!("{UNKNOWN_KEY}: 1")], false), 1));

    let mut block_scalar_indent: Option<usize> = None;
    for (i, line) in lines.iter().enumerate() {
        if !is_content(line) {
            continue;
        }
        let indent = indent_of(line);
        if let Some(b) = block_scalar_indent {
            if indent > b {
                continue;
            }
            block_scalar_indent = None;
        }
        let trimmed = line.trim_start();
        let value = trimmed.split_once(':').map(|(_, v)| v.trim()).unwrap_or("");
        if value.starts_with('|') || value.starts_with('>') {
            block_scalar_indent = Some(indent);
        }
        // `- key: value`: a mapping inside a sequence. Put the unknown key first.
        if let Some(item) = trimmed.strip_prefix("- ") {
            if key_of(line).is_some() && !item.starts_with(['{', '[', '"', '\'']) {
                let dash = " ".repeat(indent);
                let new = vec![
                    format!("{dash}- {UNKNOWN_KEY}: 1"),
                    format!("{dash}  {item}"),
                ];
                out.push((insert(i, &new, true), i + 1));
            }
        }
        // `key:` followed by a deeper, non-sequence line: a nested block mapping.
        let Some(key) = key_of(line) else { continue };
        if !value.is_empty() && !value.starts_with('#') {
            continue;
        }
        if FREE_FORM.contains(&key) {
            continue;
        }
        let Some(next) = lines[i + 1..].iter().find(|l| is_content(l)) else {
            continue;
        };
        let child = indent_of(next);
        if child > indent && !next.trim_start().starts_with("- ") {
            let new = vec![format!("{}{UNKNOWN_KEY}: 1", " ".repeat(child))];
            out.push((insert(i + 1, &new, false), i + 2));
        }
    }
    out
}

#[test]
fn mutation_helper_finds_every_mapping() {
    // A self-check of the text walker on a file with every shape it must handle.
    let text = "\
modules:
  a:
    prober: tcp
    tcp:
      query_response:
        - expect: x
        - send: |
            multi: line
          starttls: true
      tls_config:
        insecure_skip_verify: true
    http:
      headers:
        X: y
";
    let found: Vec<usize> = mutations(text).iter().map(|(_, line)| *line).collect();
    // top, module a, tcp, item 0, item 1, tls_config, http (headers is free-form).
    assert_eq!(found, vec![1, 3, 5, 6, 7, 11, 13]);
    config::load_str(text, Path::new("sample.yml")).expect("the sample is valid");
    for (mutated, line) in mutations(text) {
        let inserted = mutated.lines().nth(line - 1).expect("the inserted line");
        assert!(inserted.contains(UNKNOWN_KEY), "line {line}:\n{mutated}");
        assert_eq!(mutated.matches(UNKNOWN_KEY).count(), 1);
        assert!(rejects_unknown_key(&mutated, Path::new("sample.yml"), line).is_ok());
    }
}

/// `Ok` if loading `text` fails with an unknown-field error for `UNKNOWN_KEY` on `line`.
fn rejects_unknown_key(text: &str, file: &Path, line: usize) -> Result<(), String> {
    match config::load_str(text, file) {
        Ok(_) => Err(format!("unknown key on line {line} was accepted:\n{text}")),
        Err(errors) => {
            let hit = errors.iter().any(|e| {
                e.message
                    .starts_with(&format!("unknown field `{UNKNOWN_KEY}`"))
                    && e.line == line as u64
                    && e.path.ends_with(UNKNOWN_KEY)
            });
            if hit {
                Ok(())
            } else {
                Err(format!(
                    "unknown key on line {line} gave another error: {errors}\n{text}"
                ))
            }
        }
    }
}

#[test]
fn unknown_key_in_any_mapping_of_a_shipped_file_is_rejected() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for path in shipped_files() {
        let text = read(&path);
        let muts = mutations(&text);
        // At least: top level, `modules:`'s children, and their prober blocks.
        assert!(
            muts.len() >= 3,
            "{}: only {} mappings found",
            path.display(),
            muts.len()
        );
        for (mutated, line) in muts {
            checked += 1;
            if let Err(e) = rejects_unknown_key(&mutated, &path, line) {
                failures.push(format!("{}: {e}", path.display()));
            }
        }
    }
    assert!(checked > 0);
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}
