//! Validation rules, one test per rule in `validate.rs`, plus the parse-level errors of
//! `mod.rs`: inline YAML → the exact `file:line:col: path: message` a user sees.
//! Cases named after upstream's `config/config_test.go` (`TestLoadBadConfigs`,
//! `TestIsEncodingAcceptable`, `TestHideConfigSecrets`) keep its scenarios.

use crate::base::SecretSource;
use std::path::Path;
use std::time::Duration;

use super::validate::is_encoding_acceptable;
use super::*;
use crate::probe::module::*;

/// Joins lines with `\n`, so line numbers in a snippet are easy to count.
fn y(lines: &[&str]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// Every error for `yaml`, as `ConfigError` prints them, with the file called `t.yml`.
fn errs(yaml: &str) -> Vec<String> {
    match load_str(yaml, Path::new("t.yml")) {
        Ok(c) => panic!("expected errors, but the config loaded: {c:?}\n{yaml}"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

/// The single error for `yaml`.
fn err(yaml: &str) -> String {
    let mut all = errs(yaml);
    assert_eq!(all.len(), 1, "expected exactly one error, got {all:#?}");
    all.remove(0)
}

fn load_ok(yaml: &str) -> Config {
    match load_str(yaml, Path::new("t.yml")) {
        Ok(c) => c,
        Err(e) => panic!("expected the config to load, got:\n{e}\n{yaml}"),
    }
}

/// A one-module file `modules: {m: {prober: <prober>, ...}}`; `body` lines start at line 4.
fn module_yaml(prober: &str, body: &[&str]) -> String {
    let prober_line = format!("    prober: {prober}");
    let mut lines = vec!["modules:", "  m:", prober_line.as_str()];
    lines.extend_from_slice(body);
    y(&lines)
}

fn http_module(body: &[&str]) -> HttpModule {
    let c = load_ok(&module_yaml("http", body));
    let m = Arc::try_unwrap(c.modules.into_values().next().expect("one module"))
        .expect("only reference");
    match m.prober {
        Prober::Http(h) => h,
        other => panic!("expected an http module, got {other:?}"),
    }
}

fn first_module(yaml: &str) -> crate::probe::Module {
    let c = load_ok(yaml);
    Arc::try_unwrap(c.modules.into_values().next().expect("one module")).expect("only reference")
}

// ---------------------------------------------------------------------------------------------
// Parse errors: position from serde-saphyr, path from the `GoRules` wrapper (base::yaml).

#[test]
fn unknown_field_is_rejected_with_its_path_and_position() {
    // Upstream: blackbox-bad.yml, `field invalid_extra_field not found`.
    let e = err(&module_yaml(
        "http",
        &["    http:", "      invalid_extra_field: 1"],
    ));
    assert!(
        e.starts_with(
            "t.yml:5:7: modules.m.http.invalid_extra_field: unknown field `invalid_extra_field`, expected one of valid_status_codes, "
        ),
        "{e}"
    );
    // The message does not repeat the position the prefix already gives.
    assert!(!e.contains(" at line "), "{e}");
}

#[test]
fn unknown_top_level_and_module_fields_are_rejected() {
    let e = err("unknown: true\n");
    assert!(
        e.starts_with("t.yml:1:1: unknown: unknown field `unknown`"),
        "{e}"
    );
    let e = err(&module_yaml("http", &["    tiemout: 5s"]));
    assert!(
        e.starts_with("t.yml:4:5: modules.m.tiemout: unknown field `tiemout`, expected one of "),
        "{e}"
    );
}

#[test]
fn unknown_field_in_nested_blocks_names_the_whole_path() {
    let e = err(&module_yaml(
        "tcp",
        &[
            "    tcp:",
            "      query_response:",
            "        - expect: x",
            "        - send: y",
            "          labelz: []",
        ],
    ));
    assert!(
        e.starts_with("t.yml:8:11: modules.m.tcp.query_response[1].labelz: unknown field `labelz`"),
        "{e}"
    );
    let e = err(&module_yaml(
        "http",
        &["    http:", "      tls_config:", "        insecure: true"],
    ));
    assert!(
        e.starts_with("t.yml:6:9: modules.m.http.tls_config.insecure: unknown field `insecure`"),
        "{e}"
    );
}

#[test]
fn a_module_or_label_called_value_keeps_its_name_in_the_path() {
    // `value` is also the name of serde-saphyr's Spanned field, which the path drops.
    let e = err(&y(&[
        "modules:",
        "  value:",
        "    prober: http",
        "    bogus: 1",
    ]));
    assert!(
        e.starts_with("t.yml:4:5: modules.value.bogus: unknown field"),
        "{e}"
    );
    assert_eq!(
        err(&module_yaml(
            "http",
            &["    http:", "      headers:", "        value: [x]"]
        )),
        "t.yml:6:16: modules.m.http.headers.value: expected a string"
    );
    let e = err(&module_yaml(
        "tcp",
        &[
            "    tcp:",
            "      query_response:",
            "        - send: x",
            "          labels:",
            "            - name: a",
            "              value: [1]",
        ],
    ));
    assert!(
        e.starts_with("t.yml:9:22: modules.m.tcp.query_response[0].labels[0].value: "),
        "{e}"
    );
}

#[test]
fn duplicate_keys_are_rejected_with_a_position() {
    assert_eq!(
        err(&y(&[
            "modules:",
            "  a:",
            "    prober: http",
            "  a:",
            "    prober: tcp"
        ])),
        "t.yml:4:3: modules.a: duplicate key `a`: each key may appear only once in a mapping"
    );
    assert_eq!(
        err(&y(&["modules:", "  a:", "    prober: http", "    prober: tcp"])),
        "t.yml:4:5: modules.a.prober: duplicate key `prober`: each key may appear only once in a mapping"
    );
}

#[test]
fn missing_prober_is_an_error() {
    assert_eq!(
        err(&y(&["modules:", "  a:", "    timeout: 5s"])),
        "t.yml:3:5: modules.a: missing field `prober`"
    );
}

#[test]
fn wrong_value_types_are_errors() {
    // Upstream: ``cannot unmarshal !!str `2xx` into []int``.
    assert_eq!(
        err(&module_yaml(
            "http",
            &["    http:", "      valid_status_codes: 2xx"]
        )),
        "t.yml:5:27: modules.m.http.valid_status_codes: expected a list"
    );
    assert_eq!(
        err(&module_yaml(
            "http",
            &["    http:", "      valid_status_codes: [200, 2xx]"]
        )),
        "t.yml:5:33: modules.m.http.valid_status_codes[1]: cannot unmarshal !!str `2xx` into int"
    );
    assert_eq!(
        err(&y(&["modules:", "  a:", "    prober:", "      - http"])),
        "t.yml:4:7: modules.a.prober: expected a string"
    );
    assert_eq!(
        err(&module_yaml(
            "http",
            &["    http:", "      follow_redirects: maybe"]
        )),
        // Upstream's words: ``cannot unmarshal !!str `maybe` into bool``.
        "t.yml:5:7: modules.m.http.follow_redirects: cannot unmarshal !!str `maybe` into bool"
    );
    assert_eq!(
        err(&module_yaml("http", &["    http: 5"])),
        "t.yml:4:11: modules.m.http: expected a mapping"
    );
}

#[test]
fn go_duration_syntax_errors() {
    // `1d` and a bare number are rejected as by Go's time.ParseDuration.
    assert_eq!(
        err(&module_yaml("http", &["    timeout: 1d"])),
        "t.yml:4:14: modules.m.timeout: time: unknown unit \"d\" in duration \"1d\""
    );
    assert_eq!(
        err(&module_yaml("http", &["    timeout: 10"])),
        "t.yml:4:14: modules.m.timeout: time: missing unit in duration \"10\""
    );
    assert_eq!(
        first_module(&module_yaml("http", &["    timeout: 1m30s"])).timeout,
        Duration::from_secs(90)
    );
}

#[test]
fn base2_size_errors() {
    // alecthomas/units: a unit is required and is case-sensitive.
    assert_eq!(
        err(&module_yaml(
            "http",
            &["    http:", "      body_size_limit: 1000"]
        )),
        "t.yml:5:24: modules.m.http.body_size_limit: units: unknown unit  in 1000"
    );
    assert_eq!(
        err(&module_yaml(
            "http",
            &["    http:", "      body_size_limit: 1kb"]
        )),
        "t.yml:5:24: modules.m.http.body_size_limit: units: unknown unit kb in 1kb"
    );
    let h = http_module(&["    http:", "      body_size_limit: 1MB"]);
    assert_eq!(h.body_size_limit, 1 << 20);
}

#[test]
fn empty_file_is_an_error() {
    // Upstream: `error parsing config file: EOF`.
    for text in ["", "\n\n", "# only a comment\n", "---\n"] {
        let e = load_str(text, Path::new("t.yml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "error parsing config file: t.yml: EOF: the file is empty"
        );
    }
}

#[test]
fn empty_modules_is_valid() {
    assert!(load_ok("modules: {}\n").modules.is_empty());
}

#[test]
fn only_the_first_document_is_read() {
    // blackbox_exporter decodes one document (`yaml.NewDecoder(…).Decode`) and ignores the
    // rest; 0.23 and upstream master accept this file with module `a` only.
    let c = load_ok(&y(&[
        "modules:",
        "  a:",
        "    prober: http",
        "---",
        "modules:",
        "  b:",
        "    prober: http",
    ]));
    assert_eq!(c.modules.keys().collect::<Vec<_>>(), ["a"]);
}

#[test]
fn yaml_syntax_errors_have_a_position() {
    assert_eq!(
        err("modules:\n  a: {prober: http\n"),
        "t.yml:2:6: modules.a: unclosed bracket '{'"
    );
}

#[test]
fn modules_without_entries_is_valid() {
    assert!(load_ok("modules:\n").modules.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Module-level rules.

#[test]
fn invalid_prober() {
    // Upstream: invalid-prober.yml.
    assert_eq!(
        err(&module_yaml("invalid", &[])),
        "t.yml:3:13: modules.m.prober: prober 'invalid' is not valid"
    );
}

fn grpc_module(body: &[&str]) -> GrpcModule {
    match first_module(&module_yaml("grpc", body)).prober {
        Prober::Grpc(g) => g,
        other => panic!("expected a grpc module, got {other:?}"),
    }
}

fn websocket_module(body: &[&str]) -> WebsocketModule {
    match first_module(&module_yaml("websocket", body)).prober {
        Prober::Websocket(w) => w,
        other => panic!("expected a websocket module, got {other:?}"),
    }
}

/// Upstream's TestWebsocketProbeUnmarshal (http_config with tls_config and basic_auth), the
/// defaults, example.yml's plain-string header, and what the prober takes from http_config.
#[test]
fn websocket_prober_block() {
    let w = websocket_module(&[
        "    websocket:",
        "      http_config:",
        "        tls_config:",
        "          insecure_skip_verify: true",
        "        basic_auth:",
        "          username: myuser",
        "          password: mypassword",
        "      headers:",
        "        X-Some-Header: \"my_header\"",
        "        X-Other: {values: [a], secrets: [b], files: [/tmp/h]}",
        "      query_response:",
        "        - expect: ^Hello,\\s(.+)\"",
        "          send: \"Hello server, i'am ${1}\"",
        "        - expect: ^Welcome",
    ]);
    assert!(w.tls_config.insecure_skip_verify);
    assert!(matches!(w.auth, Some(Auth::Basic { .. })));
    assert_eq!(w.headers.len(), 2);
    assert_eq!(w.headers[1].name.as_str(), "x-some-header");
    assert_eq!(w.headers[1].values, ["my_header"]);
    assert_eq!(w.headers[0].values, ["a"]);
    assert_eq!(w.headers[0].secrets.len(), 1);
    assert_eq!(w.query_response.len(), 2);
    assert_eq!(w.ip, IpPreference::from_config("ip6", true));

    let w = websocket_module(&[
        "    websocket:",
        "      preferred_ip_protocol: ip4",
        "      ip_protocol_fallback: false",
        "      http_config:",
        "        bearer_token: tok",
    ]);
    assert_eq!(w.ip, IpPreference::from_config("ip4", false));
    assert!(matches!(w.auth, Some(Auth::Authorization { .. })));
    let w = websocket_module(&[]);
    assert!(w.auth.is_none() && w.headers.is_empty() && w.query_response.is_empty());

    // Secrets stay hidden in the module dump.
    let m = first_module(&module_yaml(
        "websocket",
        &[
            "    websocket:",
            "      http_config:",
            "        authorization: {credentials: hunter2}",
            "      headers:",
            "        X-Token: {secrets: [hunter3]}",
        ],
    ));
    assert!(!m.yaml.contains("hunter"), "{}", m.yaml);
    assert!(m.yaml.contains("<secret>"), "{}", m.yaml);
}

/// http_config is validated whole, with the http block's texts; the fields the prober would
/// ignore (as upstream does) are refused by name.
#[test]
fn websocket_refusals() {
    assert_eq!(
        errs(&module_yaml(
            "websocket",
            &[
                "    websocket:",
                "      http_config:",
                "        basic_auth: {username: u}",
                "        authorization: {credentials: c}",
                "        tls_config: {min_version: TLS9}",
                "        proxy_url: http://proxy:3128",
                "        http_headers: {X-A: {values: [a]}}",
                "      query_response:",
                "        - expect: a",
                "          starttls: true",
                "          labels: [{name: x, value: y}]",
            ]
        )),
        vec![
            "t.yml:7:24: modules.m.websocket.http_config.authorization: at most one of basic_auth, oauth2 & authorization must be configured",
            "t.yml:8:35: modules.m.websocket.http_config.tls_config.min_version: unknown TLS version: TLS9",
            "t.yml:9:20: modules.m.websocket.http_config.proxy_url: proxy_url is not used by the websocket prober (blackbox_exporter ignores it)",
            "t.yml:10:29: modules.m.websocket.http_config.http_headers: http_headers is not used by the websocket prober (blackbox_exporter ignores it)",
            "t.yml:12:11: modules.m.websocket.query_response[0].labels: labels is not used by the websocket prober (blackbox_exporter ignores it)",
            "t.yml:12:11: modules.m.websocket.query_response[0].starttls: starttls is not used by the websocket prober (blackbox_exporter ignores it)",
        ]
    );
}

#[test]
fn grpc_defaults_and_the_missing_block_quirk() {
    // Upstream's DefaultModule has no GRPCProbe: without a block, no IP protocol fallback.
    let g = grpc_module(&[]);
    assert_eq!(
        g.ip,
        IpPreference {
            preferred: IpFamily::V6,
            fallback: false
        }
    );
    assert!(!g.tls && g.service.is_empty() && g.metadata.is_empty());
    // With a block (even an empty one), DefaultGRPCProbe applies: fallback true.
    let g = grpc_module(&["    grpc: {}"]);
    assert!(g.ip.fallback);
    let g = grpc_module(&["    grpc:", "      ip_protocol_fallback:"]);
    assert!(g.ip.fallback, "null keeps the default, as yaml.v3");
    let g = grpc_module(&["    grpc:", "      preferred_ip_protocol: ip4"]);
    assert_eq!(g.ip.preferred, IpFamily::V4);
}

#[test]
fn grpc_block_fields_as_upstream_example_yml() {
    // Upstream example.yml's grpc_health module, plus TLS settings.
    let g = grpc_module(&[
        "    grpc:",
        "      service: example",
        "      tls: true",
        "      tls_config:",
        "        insecure_skip_verify: true",
        "        server_name: grpc.example",
        "      metadata:",
        "        key:",
        "          - value1",
        "          - value2",
        "        authorization:",
        "          - \"Bearer token\"",
        "        key2-bin: [test]",
    ]);
    assert_eq!(g.service, "example");
    assert!(g.tls && g.tls_config.insecure_skip_verify);
    assert_eq!(g.tls_config.server_name.as_deref(), Some("grpc.example"));
    assert_eq!(
        g.metadata,
        vec![
            (
                "authorization".to_string(),
                vec!["Bearer token".to_string()]
            ),
            (
                "key".to_string(),
                vec!["value1".to_string(), "value2".to_string()]
            ),
            ("key2-bin".to_string(), vec!["test".to_string()]),
        ]
    );
}

#[test]
fn grpc_block_errors_are_positioned() {
    assert!(err(&module_yaml("grpc", &["    grpc:", "      servce: x"]))
        .starts_with("t.yml:5:7: modules.m.grpc.servce: unknown field `servce`"));
    assert_eq!(
        err(&module_yaml(
            "grpc",
            &[
                "    grpc:",
                "      tls_config:",
                "        ca: x",
                "        ca_file: y"
            ]
        )),
        "t.yml:6:9: modules.m.grpc.tls_config: at most one of ca, ca_file & ca_ref must be configured"
    );
    // metadata.MD is map[string][]string: a scalar value does not decode.
    let e = err(&module_yaml(
        "grpc",
        &["    grpc:", "      metadata:", "        key: value"],
    ));
    assert!(
        e.starts_with("t.yml:6:14: modules.m.grpc.metadata.key: "),
        "{e}"
    );
    // A grpc block beside another prober is parsed and ignored, as upstream.
    load_ok(&module_yaml("http", &["    grpc:", "      tls: true"]));
}

/// `unix:` (blackbox 0.28): the tcp dialogue's validation, `tls`, `tls_config`; no block is
/// upstream's zero UnixProbe; the block is allowed (and ignored) in other modules.
#[test]
fn unix_prober_block() {
    let m = first_module(&module_yaml(
        "unix",
        &[
            "    unix:",
            "      tls: true",
            "      tls_config:",
            "        server_name: localhost",
            "      query_response:",
            "        - send: PING",
            "        - expect: ^PONG (.+)$",
            "          labels: [{name: v, value: \"${1}\"}]",
        ],
    ));
    let Prober::Unix(u) = &m.prober else {
        panic!("expected a unix module, got {:?}", m.prober);
    };
    assert!(u.tls);
    assert_eq!(u.tls_config.server_name.as_deref(), Some("localhost"));
    assert_eq!(u.query_response.len(), 2);
    assert_eq!(u.query_response[0].send.as_deref(), Some(&b"PING"[..]));
    assert!(u.query_response[1].expect.is_some());
    assert!(m.yaml.contains("unix:"), "{}", m.yaml);

    let m = first_module(&module_yaml("unix", &[]));
    let Prober::Unix(u) = &m.prober else {
        panic!("expected a unix module, got {:?}", m.prober);
    };
    assert!(!u.tls && u.query_response.is_empty());
    assert!(!m.yaml.contains("unix:"), "{}", m.yaml);

    assert_eq!(
        errs(&module_yaml(
            "unix",
            &[
                "    unix:",
                "      query_response:",
                "        - expect: a",
                "          expect_bytes: b",
                "      tls_config:",
                "        min_version: TLS14",
                "      preferred_ip_protocol: ip4",
            ]
        )),
        vec![
            "t.yml:10:7: modules.m.unix.preferred_ip_protocol: unknown field `preferred_ip_protocol`, expected one of query_response, tls, tls_config",
        ]
    );
    assert_eq!(
        errs(&module_yaml(
            "unix",
            &[
                "    unix:",
                "      query_response:",
                "        - expect: a",
                "          expect_bytes: b",
                "      tls_config:",
                "        min_version: TLS14",
            ]
        )),
        vec![
            "t.yml:6:11: modules.m.unix.query_response[0]: expect and expect_bytes are mutually exclusive",
            "t.yml:9:22: modules.m.unix.tls_config.min_version: unknown TLS version: TLS14",
        ]
    );
    load_ok(&module_yaml("http", &["    unix:", "      tls: true"]));
}

#[test]
fn rule_files_and_alerting_sections_are_validated() {
    assert_eq!(
        errs(&y(&[
            "modules: {}",
            "probes: []",
            "rule_files: [a.yml]",
            "alerting: {}",
        ])),
        vec![
            "a.yml: error reading rule file: No such file or directory (os error 2)",
            "t.yml:4:11: alerting.route: no routes provided",
        ]
    );
}

#[test]
fn all_errors_are_collected_in_file_order() {
    // Three independent problems in two modules: all three are reported, in file order.
    let e = errs(&y(&[
        "modules:",
        "  a:",
        "    prober: dns",
        "    dns:",
        "      query_name: example.com",
        "      query_type: NOPE",
        "      query_class: X",
        "  b:",
        "    prober: icmp",
        "    icmp:",
        "      ttl: 300",
    ]));
    assert_eq!(
        e,
        vec![
            "t.yml:6:19: modules.a.dns.query_type: query type 'NOPE' is not valid",
            "t.yml:7:20: modules.a.dns.query_class: query class 'X' is not valid",
            "t.yml:11:12: modules.b.icmp.ttl: \"ttl\" cannot exceed 255",
        ]
    );
    let all = load_str(
        &y(&[
            "modules:",
            "  a:",
            "    prober: nope",
            "  b:",
            "    prober: icmp",
            "    icmp:",
            "      ttl: -1",
        ]),
        Path::new("t.yml"),
    )
    .unwrap_err();
    assert_eq!(
        all.to_string(),
        "error parsing config file: 2 errors:\n  \
         t.yml:3:13: modules.a.prober: prober 'nope' is not valid\n  \
         t.yml:7:12: modules.b.icmp.ttl: \"ttl\" cannot be negative"
    );
}

// ---------------------------------------------------------------------------------------------
// HTTP rules.

#[test]
fn status_codes_out_of_range_point_at_the_code() {
    assert_eq!(
        errs(&module_yaml(
            "http",
            &["    http:", "      valid_status_codes: [200, 1000, 99]"]
        )),
        vec![
            "t.yml:5:33: modules.m.http.valid_status_codes[1]: invalid HTTP status code 1000: must be between 100 and 999",
            "t.yml:5:39: modules.m.http.valid_status_codes[2]: invalid HTTP status code 99: must be between 100 and 999",
        ]
    );
    let e = errs(&module_yaml(
        "http",
        &[
            "    http:",
            "      valid_status_codes:",
            "        - 200",
            "        - -1",
        ],
    ));
    assert_eq!(
        e,
        vec!["t.yml:7:11: modules.m.http.valid_status_codes[1]: invalid HTTP status code -1: must be between 100 and 999"]
    );
    let h = http_module(&["    http:", "      valid_status_codes: [200, 404]"]);
    assert_eq!(h.valid_status_codes, vec![200, 404]);
}

/// Upstream's TestNewCELProgram (valid `body.foo == 'bar'`, invalid `foo.bar`, empty), as
/// positioned errors with upstream's message, and a null option left unset as yaml.v3 does.
#[test]
fn cel_programs_compile_at_load() {
    let h = http_module(&[
        "    http:",
        "      fail_if_body_json_matches_cel: \"body.foo == 'bar'\"",
        "      fail_if_body_json_not_matches_cel: \"has(body.ok) && body.items.all(i, i.n > 1)\"",
    ]);
    assert_eq!(
        h.fail_if_body_json_matches_cel
            .as_ref()
            .map(CelProgram::expression),
        Some("body.foo == 'bar'")
    );
    assert!(h.fail_if_body_json_not_matches_cel.is_some());
    let h = http_module(&["    http:", "      fail_if_body_json_matches_cel:"]);
    assert!(!h.has_cel());
    assert_eq!(
        errs(&module_yaml(
            "http",
            &[
                "    http:",
                "      fail_if_body_json_matches_cel: foo.bar",
                "      fail_if_body_json_not_matches_cel: \"\"",
            ]
        )),
        vec![
            "t.yml:5:38: modules.m.http.fail_if_body_json_matches_cel: \"Could not compile CEL program\" expression=\"foo.bar\": ERROR: <input>:1:1: undeclared reference to 'foo' (in container '')",
            "t.yml:6:42: modules.m.http.fail_if_body_json_not_matches_cel: \"Could not compile CEL program\" expression=\"\": ERROR: <input>:1:1: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}",
        ]
    );
    assert_eq!(
        err(&module_yaml(
            "http",
            &["    http:", "      fail_if_body_json_matches_cel: body.s.lowerAscii()"]
        )),
        "t.yml:5:38: modules.m.http.fail_if_body_json_matches_cel: \"Could not compile CEL program\" expression=\"body.s.lowerAscii()\": ERROR: <input>:1:18: undeclared reference to 'lowerAscii' (in container '')"
    );
}

#[test]
fn oauth2_is_validated_with_prometheus_common_texts() {
    let m = http_module(&[
        "    http:",
        "      oauth2:",
        "        client_id: x",
        "        client_secret: s3cret",
        "        token_url: http://127.0.0.1/t",
        "        scopes: [a, b]",
        "        proxy_url: http://127.0.0.1:3128",
    ]);
    let auth = format!("{:?}", m.client.headers.auth);
    assert!(auth.contains("OAuth2(TokenSource"), "{auth}");
    assert!(!auth.contains("s3cret"), "{auth}");
    assert_eq!(
        errs(&module_yaml(
            "http",
            &[
                "    http:",
                "      oauth2:",
                "        client_secret: a",
                "        client_secret_file: b",
                "        proxy_url: 'ftp://p'",
            ]
        )),
        vec![
            "t.yml:6:9: modules.m.http.oauth2.client_id: oauth2 client_id must be configured",
            "t.yml:6:9: modules.m.http.oauth2.token_url: oauth2 token_url must be configured",
            "t.yml:6:9: modules.m.http.oauth2.client_secret: at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured",
            "t.yml:8:20: modules.m.http.oauth2.proxy_url: unsupported proxy scheme \"ftp\": use http, https or socks5",
        ]
    );
    assert_eq!(
        errs(&module_yaml(
            "http",
            &[
                "    http:",
                "      basic_auth: {username: u}",
                "      bearer_token: t",
                "      oauth2: {client_id: x, token_url: 'http://t'}",
            ]
        )),
        vec![
            "t.yml:6:21: modules.m.http.bearer_token: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
            "t.yml:7:15: modules.m.http.oauth2: at most one of basic_auth, oauth2 & authorization must be configured",
        ]
    );
}

#[test]
fn proxies_are_validated_with_prometheus_common_texts() {
    let m = http_module(&[
        "    http:",
        "      proxy_url: http://user:pw@127.0.0.1:3128",
        "      no_proxy: localhost,10.0.0.0/8",
        "      proxy_connect_header:",
        "        X: [y]",
        "      skip_resolve_phase_with_proxy: true",
    ]);
    assert!(m.skip_resolve_phase_with_proxy);
    let to = |u: &str| m.client.proxy.proxy_for(&url::Url::parse(u).unwrap());
    assert_eq!(
        to("http://example.org/").map(|u| u.to_string()),
        Some("http://user:pw@127.0.0.1:3128/".to_string())
    );
    assert_eq!(to("http://10.1.2.3/"), None);
    assert_eq!(m.client.proxy.connect_headers().len(), 1);
    assert_eq!(
        errs(&module_yaml(
            "http",
            &[
                "    http:",
                "      proxy_url: http://127.0.0.1:3128",
                "      no_proxy: localhost",
                "      proxy_from_environment: true",
                "      proxy_connect_header:",
                "        X: [y]",
            ]
        )),
        vec![
            "t.yml:7:31: modules.m.http.proxy_from_environment: if proxy_from_environment is configured, proxy_url must not be configured",
            "t.yml:7:31: modules.m.http.proxy_from_environment: if proxy_from_environment is configured, no_proxy must not be configured",
        ]
    );
    assert_eq!(
        errs(&module_yaml(
            "http",
            &[
                "    http:",
                "      no_proxy: localhost",
                "      proxy_connect_header:",
                "        X: [y]",
            ]
        )),
        vec![
            "t.yml:5:17: modules.m.http.no_proxy: if no_proxy is configured, proxy_url must also be configured",
            "t.yml:7:9: modules.m.http.proxy_connect_header: if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured",
        ]
    );
}

#[test]
fn http3_is_not_supported_yet() {
    // Upstream's four HTTP/3 combinations all need `enable_http3: true`, which we reject.
    for extra in [
        &["      valid_http_versions: [HTTP/3.0, HTTP/2.0]"][..],
        &["      enable_http2: true"][..],
        &[
            "      enable_http2: false",
            "      valid_http_versions: [HTTP/3.0]",
        ][..],
        &[][..],
    ] {
        let mut body = vec!["    http:", "      enable_http3: true"];
        body.extend_from_slice(extra);
        assert_eq!(
            err(&module_yaml("http", &body)),
            "t.yml:5:21: modules.m.http.enable_http3: HTTP/3 is not supported yet by blackwatch"
        );
    }
}

#[test]
fn http3_version_needs_enable_http3() {
    assert_eq!(
        err(&module_yaml(
            "http",
            &["    http:", "      valid_http_versions: [HTTP/1.1, HTTP/3.0]"]
        )),
        "t.yml:5:39: modules.m.http.valid_http_versions[1]: HTTP/3 cannot be used as a valid HTTP version when enable_http3 is false"
    );
}

#[test]
fn body_and_body_file_are_exclusive() {
    // Upstream: invalid-http-body-config.yml.
    assert_eq!(
        err(&module_yaml(
            "http",
            &["    http:", "      body: x", "      body_file: /tmp/b"]
        )),
        "t.yml:6:18: modules.m.http.body_file: setting body and body_file both are not allowed"
    );
}

#[test]
fn unknown_compression_is_an_error() {
    assert_eq!(
        err(&module_yaml("http", &["    http:", "      compression: zstd"])),
        "t.yml:5:20: modules.m.http.compression: unknown compression \"zstd\": must be one of gzip, br, deflate, identity"
    );
    let h = http_module(&["    http:", "      compression: GZIP"]);
    assert_eq!(h.compression, Some(Compression::Gzip));
}

#[test]
fn compression_must_agree_with_accept_encoding() {
    // Upstream: invalid-http-compression-mismatch.yml, ...-special-case.yml (the header key
    // as written, in mixed case) and ...-reject-all-encodings.yml.
    for (header, value) in [
        ("Accept-Encoding", "deflate"),
        ("accEpt-enCoding", "deflate"),
        ("Accept-Encoding", "\"*;q=0.0\""),
    ] {
        let header_line = format!("        {header}: {value}");
        let e = err(&module_yaml(
            "http",
            &[
                "    http:",
                "      compression: gzip",
                "      headers:",
                &header_line,
            ],
        ));
        let shown = value.trim_matches('"');
        assert_eq!(
            e,
            format!(
                "t.yml:5:20: modules.m.http.compression: invalid configuration \"{header}: {shown}\", \"compression: gzip\""
            )
        );
    }
    // Accepted with q > 0.
    let h = http_module(&[
        "    http:",
        "      compression: gzip",
        "      headers:",
        "        Accept-Encoding: \"deflate, gzip;q=0.5\"",
    ]);
    assert_eq!(h.compression, Some(Compression::Gzip));
}

#[test]
fn invalid_header_name_and_value() {
    assert_eq!(
        errs(&module_yaml(
            "http",
            &[
                "    http:",
                "      headers:",
                "        \"bad name\": x",
                "        X-Ok: \"line\\nbreak\"",
            ]
        )),
        vec![
            "t.yml:6:21: modules.m.http.headers.bad name: invalid HTTP header name \"bad name\"",
            "t.yml:7:15: modules.m.http.headers.X-Ok: invalid HTTP header value \"line\\nbreak\"",
        ]
    );
}

#[test]
fn invalid_method() {
    assert_eq!(
        err(&module_yaml(
            "http",
            &["    http:", "      method: \"GE T\""]
        )),
        "t.yml:5:15: modules.m.http.method: invalid HTTP method \"GE T\""
    );
    // Sent as written, case-sensitive.
    assert_eq!(
        http_module(&["    http:", "      method: post"])
            .method
            .as_str(),
        "post"
    );
}

#[test]
fn invalid_body_regexps() {
    // Upstream: invalid-http-body-match-regexp.yml and ...-not-match-regexp.yml.
    for field in [
        "fail_if_body_matches_regexp",
        "fail_if_body_not_matches_regexp",
    ] {
        let field_line = format!("      {field}:");
        assert_eq!(
            err(&module_yaml(
                "http",
                &["    http:", &field_line, "        - ok", "        - ':['"]
            )),
            format!(
                "t.yml:7:11: modules.m.http.{field}[1]: could not compile regular expression \":[\": unclosed character class"
            )
        );
    }
}

#[test]
fn header_matcher_rules() {
    // Upstream: invalid-http-header-match.yml (no regexp) and ...-match-regexp.yml (`:[`).
    assert_eq!(
        err(&module_yaml(
            "http",
            &[
                "    http:",
                "      fail_if_header_matches:",
                "        - header: Set-Cookie",
            ]
        )),
        "t.yml:6:11: modules.m.http.fail_if_header_matches[0]: regexp must be set for HTTP header matchers"
    );
    assert_eq!(
        err(&module_yaml(
            "http",
            &[
                "    http:",
                "      fail_if_header_not_matches:",
                "        - regexp: x",
            ]
        )),
        "t.yml:6:11: modules.m.http.fail_if_header_not_matches[0]: header name must be set for HTTP header matchers"
    );
    assert_eq!(
        err(&module_yaml(
            "http",
            &[
                "    http:",
                "      fail_if_header_matches:",
                "        - header: Set-Cookie",
                "          regexp: ':['",
            ]
        )),
        "t.yml:6:11: modules.m.http.fail_if_header_matches[0].regexp: could not compile regular expression \":[\": unclosed character class"
    );
    assert_eq!(
        err(&module_yaml(
            "http",
            &[
                "    http:",
                "      fail_if_header_matches:",
                "        - header: \"Set Cookie\"",
                "          regexp: x",
            ]
        )),
        "t.yml:6:11: modules.m.http.fail_if_header_matches[0].header: invalid HTTP header name"
    );
}

#[test]
fn bearer_token_and_bearer_token_file_are_exclusive() {
    // Upstream: blackbox-bad2.yml.
    assert_eq!(
        err(&module_yaml(
            "http",
            &[
                "    http:",
                "      bearer_token: foo",
                "      bearer_token_file: /dev/null",
            ]
        )),
        "t.yml:6:26: modules.m.http.bearer_token_file: at most one of bearer_token & bearer_token_file must be configured"
    );
}

#[test]
fn auth_methods_are_exclusive() {
    assert_eq!(
        err(&module_yaml(
            "http",
            &[
                "    http:",
                "      basic_auth:",
                "        username: u",
                "      bearer_token: t",
            ]
        )),
        "t.yml:7:21: modules.m.http.bearer_token: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
    );
    assert_eq!(
        err(&module_yaml(
            "http",
            &[
                "    http:",
                "      authorization:",
                "        credentials: c",
                "      bearer_token_file: /f",
            ]
        )),
        "t.yml:6:9: modules.m.http.authorization: authorization is not compatible with bearer_token & bearer_token_file"
    );
    assert_eq!(
        err(&module_yaml(
            "http",
            &[
                "    http:",
                "      basic_auth:",
                "        username: u",
                "      authorization:",
                "        credentials: c",
            ]
        )),
        "t.yml:8:9: modules.m.http.authorization: at most one of basic_auth, oauth2 & authorization must be configured"
    );
}

#[test]
fn basic_auth_rules() {
    assert_eq!(
        errs(&module_yaml(
            "http",
            &[
                "    http:",
                "      basic_auth:",
                "        username: u",
                "        username_file: /u",
                "        password: p",
                "        password_file: /p",
            ]
        )),
        vec![
            "t.yml:6:9: modules.m.http.basic_auth: at most one of basic_auth username, username_file & username_ref must be configured",
            "t.yml:6:9: modules.m.http.basic_auth: at most one of basic_auth password, password_file & password_ref must be configured",
        ]
    );
    assert_eq!(
        err(&module_yaml(
            "http",
            &["    http:", "      basic_auth:", "        password_ref: vault"]
        )),
        "t.yml:6:9: modules.m.http.basic_auth: username_ref and password_ref need a secret manager, which blackwatch does not have; use the *_file form"
    );
    let h = http_module(&[
        "    http:",
        "      basic_auth:",
        "        username: u",
        "        password_file: /p",
    ]);
    match h.client.headers.auth {
        Some(Auth::Basic {
            username: SecretSource::Inline(u),
            password: Some(SecretSource::File(p)),
        }) => {
            assert_eq!(u.expose(), "u");
            assert_eq!(p, Path::new("/p"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn authorization_rules() {
    assert_eq!(
        err(&module_yaml(
            "http",
            &["    http:", "      authorization:", "        type: Basic"]
        )),
        "t.yml:6:9: modules.m.http.authorization: authorization type cannot be set to \"basic\", use \"basic_auth\" instead"
    );
    assert_eq!(
        err(&module_yaml(
            "http",
            &[
                "    http:",
                "      authorization:",
                "        credentials: c",
                "        credentials_file: /c",
            ]
        )),
        "t.yml:6:9: modules.m.http.authorization: at most one of authorization credentials & credentials_file must be configured"
    );
    assert_eq!(
        err(&module_yaml(
            "http",
            &["    http:", "      authorization:", "        credentials_ref: x"]
        )),
        "t.yml:6:9: modules.m.http.authorization: credentials_ref needs a secret manager, which blackwatch does not have; use credentials_file"
    );
    // The default type is Bearer, and bearer_token becomes the same.
    for body in [
        &[
            "    http:",
            "      authorization:",
            "        credentials: c",
        ][..],
        &["    http:", "      bearer_token: c"][..],
    ] {
        match http_module(body).client.headers.auth {
            Some(Auth::Authorization {
                kind,
                credentials: Some(SecretSource::Inline(c)),
            }) => {
                assert_eq!(kind, "Bearer");
                assert_eq!(c.expose(), "c");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn tls_config_rules() {
    assert_eq!(
        errs(&module_yaml(
            "http",
            &[
                "    http:",
                "      tls_config:",
                "        ca: x",
                "        ca_file: /ca",
                "        cert: x",
                "        cert_file: /c",
                "        key: x",
                "        key_file: /k",
            ]
        )),
        vec![
            "t.yml:6:9: modules.m.http.tls_config: at most one of ca, ca_file & ca_ref must be configured",
            "t.yml:6:9: modules.m.http.tls_config: at most one of cert, cert_file & cert_ref must be configured",
            "t.yml:6:9: modules.m.http.tls_config: at most one of key, key_file & key_ref must be configured",
        ]
    );
    assert_eq!(
        err(&module_yaml(
            "tcp",
            &["    tcp:", "      tls_config:", "        ca_ref: x"]
        )),
        "t.yml:6:9: modules.m.tcp.tls_config: ca_ref, cert_ref and key_ref need a secret manager, which blackwatch does not have; use the *_file form"
    );
    assert_eq!(
        err(&module_yaml(
            "http",
            &["    http:", "      tls_config:", "        cert_file: /c"]
        )),
        "t.yml:6:9: modules.m.http.tls_config: exactly one of key or key_file must be configured when a client certificate is configured"
    );
    assert_eq!(
        err(&module_yaml(
            "http",
            &["    http:", "      tls_config:", "        key_file: /k"]
        )),
        "t.yml:6:9: modules.m.http.tls_config: exactly one of cert or cert_file must be configured when a client key is configured"
    );
}

#[test]
fn tls_version_rules() {
    assert_eq!(
        err(&module_yaml(
            "dns",
            &[
                "    dns:",
                "      query_name: example.com",
                "      tls_config:",
                "        min_version: TLS9",
            ]
        )),
        "t.yml:7:22: modules.m.dns.tls_config.min_version: unknown TLS version: TLS9"
    );
    assert_eq!(
        err(&module_yaml(
            "http",
            &["    http:", "      tls_config:", "        max_version: TLS11"]
        )),
        "t.yml:6:22: modules.m.http.tls_config.max_version: TLS11 is not supported by blackwatch: TLS 1.0 and 1.1 are out of scope (rustls implements TLS 1.2 and 1.3)"
    );
    assert_eq!(
        err(&module_yaml(
            "http",
            &[
                "    http:",
                "      tls_config:",
                "        min_version: TLS13",
                "        max_version: TLS12",
            ]
        )),
        "t.yml:7:22: modules.m.http.tls_config.max_version: max_version must be greater than or equal to min_version, got min_version: TLS13 and max_version: TLS12"
    );
    // TLS10 as a minimum still allows 1.2 and 1.3.
    let h = http_module(&[
        "    http:",
        "      tls_config:",
        "        min_version: TLS10",
    ]);
    assert_eq!(h.client.tls_or_default().min_version, None);
}

#[test]
fn reserved_and_invalid_http_headers() {
    assert_eq!(
        errs(&module_yaml(
            "http",
            &[
                "    http:",
                "      http_headers:",
                "        authorization:",
                "          values: [x]",
                "        \"bad name\":",
                "          values: [y]",
            ]
        )),
        vec![
            "t.yml:7:11: modules.m.http.http_headers.authorization: setting header \"Authorization\" is not allowed",
            "t.yml:9:11: modules.m.http.http_headers.bad name: invalid HTTP header name",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// TCP, ICMP and DNS rules.

#[test]
fn tcp_query_response_rules() {
    // Upstream: invalid-tcp-query-response-regexp.yml; expect/expect_bytes [0.28+].
    assert_eq!(
        errs(&module_yaml(
            "tcp",
            &[
                "    tcp:",
                "      query_response:",
                "        - expect: ':['",
                "        - send: x",
                "          expect_bytes: y",
                "          expect: z",
            ]
        )),
        vec![
            "t.yml:6:19: modules.m.tcp.query_response[0].expect: could not compile regular expression \":[\": unclosed character class",
            "t.yml:7:11: modules.m.tcp.query_response[1]: expect and expect_bytes are mutually exclusive",
        ]
    );
}

#[test]
fn icmp_ttl_bounds() {
    // Upstream: invalid-icmp-ttl.yml and invalid-icmp-ttl-overflow.yml.
    assert_eq!(
        err(&module_yaml("icmp", &["    icmp:", "      ttl: -1"])),
        "t.yml:5:12: modules.m.icmp.ttl: \"ttl\" cannot be negative"
    );
    assert_eq!(
        err(&module_yaml("icmp", &["    icmp:", "      ttl: 256"])),
        "t.yml:5:12: modules.m.icmp.ttl: \"ttl\" cannot exceed 255"
    );
    assert_eq!(
        err(&module_yaml(
            "icmp",
            &["    icmp:", "      ttl: 99999999999999999999"]
        )),
        // Upstream: ``cannot unmarshal !!float `9999999...` into int``.
        "t.yml:5:7: modules.m.icmp.ttl: cannot unmarshal !!float `100000000000000000000` into int"
    );
}

#[test]
fn icmp_payload_size_bounds() {
    assert_eq!(
        err(&module_yaml(
            "icmp",
            &["    icmp:", "      payload_size: 70000"]
        )),
        "t.yml:5:21: modules.m.icmp.payload_size: \"payload_size\" must be between 0 and 65000"
    );
}

#[test]
fn dns_module_needs_query_name() {
    // Upstream: invalid-dns-module.yml.
    assert_eq!(
        err(&module_yaml("dns", &["    dns:", "      query_type: A"])),
        "t.yml:5:7: modules.m.dns.query_name: query name must be set for DNS module"
    );
    // Without a `dns:` block the probe asks for `.` (observed upstream).
    match first_module(&module_yaml("dns", &[])).prober {
        Prober::Dns(d) => assert_eq!(d.query_name, "."),
        other => panic!("{other:?}"),
    }
}

#[test]
fn dns_type_and_class() {
    // Upstream: invalid-dns-type.yml and invalid-dns-class.yml.
    assert_eq!(
        err(&module_yaml(
            "dns",
            &["    dns:", "      query_name: a", "      query_type: X"]
        )),
        "t.yml:6:19: modules.m.dns.query_type: query type 'X' is not valid"
    );
    assert_eq!(
        err(&module_yaml(
            "dns",
            &["    dns:", "      query_name: a", "      query_class: X"]
        )),
        "t.yml:6:20: modules.m.dns.query_class: query class 'X' is not valid"
    );
}

#[test]
fn dns_transport_rules() {
    assert_eq!(
        err(&module_yaml(
            "dns",
            &[
                "    dns:",
                "      query_name: a",
                "      transport_protocol: sctp",
            ]
        )),
        "t.yml:6:27: modules.m.dns.transport_protocol: transport protocol 'sctp' is not valid: must be udp or tcp"
    );
    assert_eq!(
        err(&module_yaml(
            "dns",
            &[
                "    dns:",
                "      query_name: a",
                "      dns_over_tls: true"
            ]
        )),
        "t.yml:6:21: modules.m.dns.dns_over_tls: dns_over_tls requires transport_protocol: tcp"
    );
}

#[test]
fn dns_rcodes_and_rr_regexps() {
    assert_eq!(
        errs(&module_yaml(
            "dns",
            &[
                "    dns:",
                "      query_name: a",
                "      valid_rcodes: [NOERROR, NOPE]",
                "      validate_answer_rrs:",
                "        fail_if_matches_regexp: ['(']",
            ]
        )),
        vec![
            "t.yml:6:31: modules.m.dns.valid_rcodes[1]: rcode 'NOPE' is not valid",
            "t.yml:8:34: modules.m.dns.validate_answer_rrs.fail_if_matches_regexp[0]: could not compile regular expression \"(\": unclosed group",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Defaults and normalisation.

#[test]
fn http_defaults() {
    let h = http_module(&[]);
    assert_eq!(
        h.ip,
        IpPreference {
            preferred: IpFamily::V6,
            fallback: true
        }
    );
    assert!(h.client.follow_redirects);
    assert!(h.client.enable_http2);
    assert_eq!(h.method, http::Method::GET);
    assert!(h.valid_status_codes.is_empty());
    assert_eq!(h.body_size_limit, 0);
    assert!(h.compression.is_none());
    assert!(h.client.headers.auth.is_none());
    assert!(h.body.is_none());
}

#[test]
fn tcp_icmp_dns_defaults() {
    let v6_fallback = IpPreference {
        preferred: IpFamily::V6,
        fallback: true,
    };
    match first_module(&module_yaml("tcp", &[])).prober {
        Prober::Tcp(t) => {
            assert_eq!(t.ip, v6_fallback);
            assert!(!t.tls);
            assert!(t.query_response.is_empty());
        }
        other => panic!("{other:?}"),
    }
    match first_module(&module_yaml("icmp", &[])).prober {
        Prober::Icmp(i) => {
            assert_eq!(i.ip, v6_fallback);
            assert_eq!(i.ttl, 64);
            assert_eq!(i.payload_size, 0);
            assert!(!i.dont_fragment);
        }
        other => panic!("{other:?}"),
    }
    match first_module(&module_yaml(
        "dns",
        &["    dns:", "      query_name: example.com"],
    ))
    .prober
    {
        Prober::Dns(d) => {
            assert_eq!(d.ip, v6_fallback);
            assert!(d.recursion_desired);
            assert_eq!(d.query_type, "ANY");
            assert_eq!(d.query_class, "IN");
            assert_eq!(d.transport_protocol, "udp");
            assert!(!d.dns_over_tls);
            assert_eq!(d.valid_rcodes, None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn any_preferred_protocol_other_than_ip6_means_ip4() {
    // Upstream quirk (observed): `ipv6` behaves as ip4.
    for (value, family) in [
        ("ip4", IpFamily::V4),
        ("ipv6", IpFamily::V4),
        ("ip6", IpFamily::V6),
        ("\"\"", IpFamily::V6),
    ] {
        let line = format!("      preferred_ip_protocol: {value}");
        let h = http_module(&["    http:", &line, "      ip_protocol_fallback: false"]);
        assert_eq!(
            h.ip,
            IpPreference {
                preferred: family,
                fallback: false
            },
            "{value}"
        );
    }
}

#[test]
fn no_follow_redirects_wins() {
    let h = http_module(&[
        "    http:",
        "      follow_redirects: true",
        "      no_follow_redirects: true",
    ]);
    assert!(!h.client.follow_redirects);
    let h = http_module(&[
        "    http:",
        "      follow_redirects: false",
        "      no_follow_redirects: false",
    ]);
    assert!(h.client.follow_redirects);
    let h = http_module(&["    http:", "      follow_redirects: false"]);
    assert!(!h.client.follow_redirects);
}

#[test]
fn secrets_serialize_as_secret() {
    // Upstream: TestHideConfigSecrets.
    let c = load_ok(&y(&[
        "modules:",
        "  a:",
        "    prober: http",
        "    http:",
        "      basic_auth:",
        "        username: user",
        "        password: mysecret-password",
        "      tls_config:",
        "        cert_file: /c",
        "        key: mysecret-key",
        "      http_headers:",
        "        X-Token:",
        "          secrets: [mysecret-header]",
        "  b:",
        "    prober: http",
        "    http:",
        "      bearer_token: mysecret-bearer",
        "  c:",
        "    prober: http",
        "    http:",
        "      authorization:",
        "        credentials: mysecret-credentials",
    ]));
    let yaml = c.to_yaml();
    assert!(!yaml.contains("mysecret"), "{yaml}");
    assert_eq!(yaml.matches("<secret>").count(), 5, "{yaml}");
    assert!(yaml.contains("username: user"), "{yaml}");
    // The deprecated key is hidden, defaults are expanded.
    let c = load_ok(&module_yaml(
        "http",
        &["    http:", "      no_follow_redirects: true"],
    ));
    let yaml = c.to_yaml();
    assert!(!yaml.contains("no_follow_redirects"), "{yaml}");
    assert!(yaml.contains("preferred_ip_protocol: ip6"), "{yaml}");
    assert!(yaml.contains("ttl: 64"), "{yaml}");
}

#[test]
fn to_yaml_round_trips() {
    let text = y(&[
        "modules:",
        "  a:",
        "    prober: http",
        "    timeout: 1m30s",
        "    http:",
        "      valid_status_codes: [200, 301]",
        "      method: POST",
        "      headers:",
        "        Accept-Encoding: gzip",
        "      compression: gzip",
        "      body_size_limit: 1MB",
        "      tls_config:",
        "        min_version: TLS12",
        "  d:",
        "    prober: dns",
        "    dns:",
        "      query_name: example.com",
        "      query_type: A",
    ]);
    let first = load_ok(&text).to_yaml();
    let second = load_ok(&first).to_yaml();
    assert_eq!(first, second);
    assert!(first.contains("timeout: 1m30s"), "{first}");
    assert!(first.contains("body_size_limit: 1MiB"), "{first}");
}

#[test]
fn checksum_follows_the_bytes() {
    let a = load_ok("modules: {}\n");
    let b = load_ok("modules: {}\n# changed\n");
    assert_eq!(a.checksum, checksum(b"modules: {}\n"));
    assert_ne!(a.checksum, b.checksum);
}

#[test]
fn raw_defaults_deserialize() {
    // The `Default` impls deserialize `{}`; this guards their `unreachable_default`.
    let h = raw::RawHttpProbe::default();
    assert_eq!(h.method.value, "GET");
    assert!(h.follow_redirects && h.enable_http2 && h.ip_protocol_fallback);
    assert_eq!(raw::RawIcmpProbe::default().ttl.value, 64);
    assert_eq!(raw::RawDnsProbe::default().query_type.value, "ANY");
    assert_eq!(raw::RawTcpProbe::default().preferred_ip_protocol, "ip6");
    assert!(raw::RawTlsConfig::default().min_version.value.is_empty());
}

#[test]
fn embedded_modules_load() {
    let c = embedded().expect("embedded modules are valid");
    for name in ["http_2xx", "http_post_2xx", "http_2xx_tls"] {
        assert!(c.modules.contains_key(name), "{name} missing");
    }
    assert_eq!(c.source, Path::new("<embedded>"));
}

#[test]
fn missing_file_is_an_error() {
    let e = load(Path::new("/nonexistent/blackwatch.yml")).unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with(
            "error parsing config file: /nonexistent/blackwatch.yml: error reading YAML file: "
        ),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// Upstream's TestIsEncodingAcceptable.

#[test]
fn is_encoding_acceptable_upstream_cases() {
    let cases: [(&str, &str, &str, bool); 13] = [
        ("empty compression", "", "gzip", true),
        ("trivial", "gzip", "gzip", true),
        ("trivial, quality", "gzip", "gzip;q=1.0", true),
        ("first", "gzip", "gzip, compress", true),
        ("second", "gzip", "compress, gzip", true),
        ("missing", "br", "gzip, compress", false),
        ("*", "br", "gzip, compress, *", true),
        ("* with quality", "br", "gzip, compress, *;q=0.1", true),
        ("rejected", "br", "gzip, compress, br;q=0.0", false),
        ("rejected *", "br", "gzip, compress, *;q=0.0", false),
        (
            "complex",
            "br",
            "gzip;q=1.0, compress;q=0.5, br;q=0.1, *;q=0.0",
            true,
        ),
        (
            "complex out of order",
            "br",
            "*;q=0.0, compress;q=0.5, br;q=0.1, gzip;q=1.0",
            true,
        ),
        (
            "complex with extra blanks",
            "br",
            " gzip;q=1.0, compress; q=0.5, br;q=0.1, *; q=0.0 ",
            true,
        ),
    ];
    for (name, encoding, header, expected) in cases {
        assert_eq!(
            is_encoding_acceptable(encoding, header),
            expected,
            "{name}: {encoding:?} vs {header:?}"
        );
    }
    // And an empty header accepts anything.
    assert!(is_encoding_acceptable("gzip", ""));
}

// ----- probes: (scheduled jobs) -----

fn probes_yaml(job_lines: &[&str]) -> String {
    let mut lines = vec![
        "modules:",
        "  http_2xx:",
        "    prober: http",
        "    timeout: 5s",
        "probes:",
    ];
    lines.extend_from_slice(job_lines);
    y(&lines)
}

#[test]
fn probes_load_with_defaults_and_both_target_forms() {
    let c = load_ok(&probes_yaml(&[
        "  - job: web",
        "    module: http_2xx",
        "    labels: {team: sre}",
        "    targets:",
        "      - https://a.example",
        "      - target: https://b.example",
        "        labels: {env: prod}",
    ]));
    assert_eq!(c.jobs.len(), 1);
    let j = &c.jobs[0];
    assert_eq!(j.interval, std::time::Duration::from_secs(30));
    assert_eq!(
        j.timeout,
        std::time::Duration::from_secs(5),
        "the module's timeout"
    );
    assert_eq!(j.targets.len(), 2);
    assert_eq!(
        j.targets[1].labels.get("env").map(String::as_str),
        Some("prod")
    );
    assert_eq!(j.labels.get("team").map(String::as_str), Some("sre"));
}

#[test]
fn probe_timeout_defaults_are_capped_at_the_interval() {
    let c = load_ok(&probes_yaml(&[
        "  - job: web",
        "    module: http_2xx",
        "    interval: 2s",
        "    targets: [a]",
    ]));
    assert_eq!(c.jobs[0].timeout, std::time::Duration::from_secs(2));
}

#[test]
fn probe_job_errors_are_all_reported() {
    assert_eq!(
        errs(&probes_yaml(&[
            "  - job: web",
            "    module: nope",
            "    interval: 10s",
            "    timeout: 20s",
            "    concurrency: 0",
            "    labels: {instance: x}",
            "    targets: [a, a]",
            "  - job: web",
            "    module: http_2xx",
            "    targets: []",
        ])),
        vec![
            "t.yml:6:5: probes[0].timeout: timeout 20s must not be greater than the interval 10s",
            "t.yml:6:5: probes[0].labels: label \"instance\" is set by blackwatch and cannot be configured",
            "t.yml:7:13: probes[0].module: undefined module \"nope\" used in job \"web\"",
            "t.yml:10:18: probes[0].concurrency: concurrency must be at least 1",
            "t.yml:12:18: probes[0].targets[1]: duplicate target \"a\" in job \"web\"",
            "t.yml:13:5: probes[1]: job \"web\" has neither targets nor file_sd",
            "t.yml:13:10: probes[1].job: duplicate job name \"web\"",
        ]
    );
}

#[test]
fn file_sd_paths_are_checked_and_resolved_against_the_config_directory() {
    let c = match load_str(
        &probes_yaml(&[
            "  - job: web",
            "    module: http_2xx",
            "    file_sd:",
            "      - files: [targets/*.json]",
            "        refresh_interval: 1m",
        ]),
        Path::new("/etc/blackwatch/blackwatch.yml"),
    ) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let sd = &c.jobs[0].file_sd[0];
    assert_eq!(
        sd.files,
        vec![std::path::PathBuf::from("/etc/blackwatch/targets/*.json")]
    );
    assert_eq!(sd.refresh_interval, std::time::Duration::from_secs(60));
    let e = errs(&probes_yaml(&[
        "  - job: web",
        "    module: http_2xx",
        "    file_sd:",
        "      - files: [targets/*/x.json, t.txt]",
    ]));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].contains("probes[0].file_sd[0].files[0]"), "{e:?}");
    assert!(e[1].contains("probes[0].file_sd[0].files[1]"), "{e:?}");
}

#[test]
fn unknown_keys_in_probes_are_rejected() {
    let e = err(&probes_yaml(&[
        "  - job: web",
        "    module: http_2xx",
        "    targets:",
        "      - target: a",
        "        lables: {x: y}",
    ]));
    assert!(e.contains("unknown field `lables`"), "{e}");
}

#[test]
fn alerting_inline_document_loads_with_positions_in_blackwatch_yml() {
    let c = load_ok(&y(&[
        "modules: {}",
        "alerting:",
        "  route:",
        "    receiver: team",
        "    group_by: [alertname]",
        "  receivers:",
        "    - name: team",
        "      webhook_configs: [{url: 'http://127.0.0.1:9/hook'}]",
    ]));
    let a = c.alerting.as_ref().expect("alerting section");
    assert_eq!(a.route.opts.receiver, "team");
    assert_eq!(a.receivers[0].webhook.len(), 1);
    let rendered = c.to_yaml();
    assert!(!rendered.contains("127.0.0.1:9"), "{rendered}");
    assert!(
        rendered.contains("alerting:") && rendered.contains("receiver: team"),
        "{rendered}"
    );
    assert!(rendered.contains("url: <secret>"), "{rendered}");

    assert_eq!(
        errs(&y(&[
            "modules: {}",
            "alerting:",
            "  route:",
            "    receiver: nobody",
            "  receivers: [{name: team}]",
        ])),
        vec![r#"t.yml:4:15: alerting.route.receiver: undefined receiver "nobody" used in route"#]
    );
    assert!(load_ok("modules: {}\n").alerting.is_none());
}

#[test]
fn alerting_config_file_is_relative_and_errors_name_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let am = dir.path().join("am.yml");
    std::fs::write(&am, "route:\n  receiver: r\nreceivers:\n  - name: r\n").unwrap();
    let bw = dir.path().join("bw.yml");
    std::fs::write(&bw, "alerting:\n  config_file: am.yml\n").unwrap();
    let c = load(&bw).unwrap();
    let a = c.alerting.as_ref().expect("alerting");
    assert_eq!(a.source, am);
    let before = c.checksum;
    std::fs::write(&am, "route:\n  receiver: r2\nreceivers:\n  - name: r2\n").unwrap();
    assert_ne!(
        load(&bw).unwrap().checksum,
        before,
        "a changed alertmanager.yml reloads"
    );

    std::fs::write(&am, "route:\n  receiver: r\nreceivers:\n  - name: x\n").unwrap();
    let e = load(&bw).unwrap_err().to_string();
    assert!(
        e.contains(&format!(
            "{}:2:13: route.receiver: undefined receiver \"r\" used in route",
            am.display()
        )),
        "{e}"
    );
    std::fs::write(
        &bw,
        "alerting:\n  config_file: am.yml\n  receivers: [{name: x}]\n",
    )
    .unwrap();
    let e = load(&bw).unwrap_err().to_string();
    assert!(e.contains("cannot be combined"), "{e}");
    std::fs::write(&bw, "alerting:\n  config_file: missing.yml\n").unwrap();
    let e = load(&bw).unwrap_err().to_string();
    assert!(
        e.contains("missing.yml") && e.contains("error reading"),
        "{e}"
    );
}

#[test]
fn rule_files_load_relative_to_the_config_and_global_sets_rule_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    for (name, alert) in [("a.yml", "A"), ("b.yml", "B")] {
        std::fs::write(
            dir.path().join("rules").join(name),
            format!("groups:\n  - name: g\n    rules:\n      - alert: {alert}\n        expr: probe_success == 0\n"),
        )
        .expect("write rules");
    }
    let cfg = dir.path().join("blackwatch.yml");
    std::fs::write(
        &cfg,
        y(&[
            "global:",
            "  evaluation_interval: 30s",
            "  external_labels: {cluster: c1}",
            "rule_files: ['rules/*.yml']",
        ]),
    )
    .expect("write config");
    let c = load(&cfg).expect("loads");
    assert_eq!(c.rules.evaluation_interval, Duration::from_secs(30));
    assert_eq!(
        c.rules.external_labels.get("cluster").map(String::as_str),
        Some("c1")
    );
    let names: Vec<&str> = c.rules.groups.iter().map(|g| g.rules[0].name()).collect();
    assert_eq!(names, ["A", "B"]);
    // Without `global:` the interval is 15s.
    assert_eq!(
        load_ok("modules: {}\n").rules.evaluation_interval,
        Duration::from_secs(15)
    );
}

#[test]
fn rule_file_and_global_errors_are_reported_with_the_config_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.yml"),
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: sum(\n",
    )
    .expect("write rules");
    let cfg = dir.path().join("blackwatch.yml");
    std::fs::write(
        &cfg,
        y(&[
            "global:",
            "  evaluation_interval: 1x",
            "rule_files: [bad.yml]",
        ]),
    )
    .expect("write config");
    let e: Vec<String> = load(&cfg)
        .expect_err("invalid")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e.iter().any(|m| m.ends_with(
            "blackwatch.yml:2:24: global.evaluation_interval: not a valid duration string: \"1x\""
        )),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m
                .contains("bad.yml:5:15: group \"g\", rule 1, \"A\": could not parse expression")),
        "{e:#?}"
    );
}
