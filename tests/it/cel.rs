//! CEL body matching in the http prober against a loopback server: the 12 cases each of
//! upstream's `TestFailIfBodyMatchesCEL` and `TestFailIfBodyNotMatchesCEL`
//! (`prober/http_test.go`), with their assertions on `probe_failed_due_to_cel` and the body
//! lengths, plus cel-go's numeric equality, the check order and the metric's registration.
//! blackbox_exporter 0.23 has no CEL (it came in 0.27), so these cases are not differential.

use crate::support::{handlers, probe_http, HttpServer, Outcome, TestResponse};

/// (name, response body, expression, whether the probe succeeds)
type Case = (&'static str, &'static str, &'static str, bool);

/// Upstream's TestFailIfBodyMatchesCEL table.
const MATCHES: &[Case] = &[
    (
        "celExpression matches",
        r#"{"foo": {"bar": "baz"}}"#,
        "body.foo.bar == 'baz'",
        false,
    ),
    (
        "celExpression does not match",
        r#"{"foo": {"bar": "baz"}}"#,
        "body.foo.bar == 'qux'",
        true,
    ),
    (
        "celExpression does not match with empty body",
        "{}",
        "body.foo.bar == 'qux'",
        false,
    ),
    (
        "celExpression result not boolean",
        r#"{"foo": {"bar": "baz"}}"#,
        "body.foo.bar",
        false,
    ),
    (
        "body is not json",
        "hello world",
        "body.foo.bar == 'baz'",
        false,
    ),
    (
        "body is empty json object",
        "{}",
        "body.foo.bar == 'baz'",
        false,
    ),
    ("body is json string", r#""foo""#, "body == 'foo'", false),
    (
        "body is json list",
        r#"["foo","bar","baz"]"#,
        "body[2] == 'baz'",
        false,
    ),
    ("body is json boolean", "true", "body", false),
    ("body is empty", "", "body.foo.bar == 'baz'", false),
    (
        "body returns emoji",
        "🤠🤠🤠",
        "body.foo.bar == 'baz'",
        false,
    ),
    (
        "body returns json with emojis",
        r#"{"foo": {"bar": "🤠🤠🤠"}}"#,
        "body.foo.bar == '😿😿😿'",
        true,
    ),
];

/// Upstream's TestFailIfBodyNotMatchesCEL table.
const NOT_MATCHES: &[Case] = &[
    (
        "cel matches",
        r#"{"foo": {"bar": "baz"}}"#,
        "body.foo.bar == 'baz'",
        true,
    ),
    (
        "cel does not match",
        r#"{"foo": {"bar": "baz"}}"#,
        "body.foo.bar == 'qux'",
        false,
    ),
    (
        "cel does not match with empty body",
        "{}",
        "body.foo.bar == 'qux'",
        false,
    ),
    (
        "cel result not boolean",
        r#"{"foo": {"bar": "baz"}}"#,
        "body.foo.bar",
        false,
    ),
    (
        "body is not json",
        "hello world",
        "body.foo.bar == 'baz'",
        false,
    ),
    ("body is empty json object", "{}", "!has(body.foo)", true),
    ("body is json string", r#""foo""#, "body == 'foo'", true),
    (
        "body is json list",
        r#"["foo","bar","baz"]"#,
        "body[2] == 'baz'",
        true,
    ),
    ("body is json boolean", "true", "body", true),
    ("body is empty", "", "body.foo.bar == 'baz'", false),
    (
        "body returns emoji",
        "🤠🤠🤠",
        "body.foo.bar == 'baz'",
        false,
    ),
    (
        "body returns json with emojis",
        r#"{"foo": {"bar": "🤠🤠🤠"}}"#,
        "body.foo.bar == '🤠🤠🤠'",
        true,
    ),
];

async fn probe_cel(option: &str, expr: &str, body: &'static str, extra: &str) -> Outcome {
    let server = HttpServer::plain(handlers::fixed(200, body));
    let yaml = format!("{option}: {expr:?}\n{extra}");
    probe_http(&yaml, &server.url("/")).await
}

async fn run_table(option: &str, cases: &[Case]) {
    for &(name, body, expr, want) in cases {
        let o = probe_cel(option, expr, body, "").await;
        assert_eq!(o.success, want, "{option} {name}: {expr}\n{}", o.dump());
        let failed = if want { 0.0 } else { 1.0 };
        assert_eq!(
            o.value("probe_failed_due_to_cel"),
            failed,
            "{name}\n{}",
            o.dump()
        );
        // Lengths are populated whatever CEL decided (upstream checks them for #673).
        assert_eq!(
            o.value("probe_http_content_length"),
            body.len() as f64,
            "{name}"
        );
        assert_eq!(
            o.value("probe_http_uncompressed_body_length"),
            body.len() as f64,
            "{name}"
        );
        assert_eq!(o.value("probe_failed_due_to_regex"), 0.0, "{name}");
    }
}

#[tokio::test]
async fn fail_if_body_json_matches_cel_upstream_cases() {
    run_table("fail_if_body_json_matches_cel", MATCHES).await;
}

#[tokio::test]
async fn fail_if_body_json_not_matches_cel_upstream_cases() {
    run_table("fail_if_body_json_not_matches_cel", NOT_MATCHES).await;
}

/// Each failure reason is logged with upstream's message.
#[tokio::test]
async fn failures_are_logged_with_upstream_messages() {
    for (option, body, expr, message) in [
        (
            "fail_if_body_json_matches_cel",
            r#"{"a": 1}"#,
            "body.a == 1",
            "Body matched CEL expression",
        ),
        (
            "fail_if_body_json_not_matches_cel",
            r#"{"a": 1}"#,
            "body.a == 2",
            "Body did not match CEL expression",
        ),
        (
            "fail_if_body_json_not_matches_cel",
            r#"{"a": 1}"#,
            "body.a",
            "CEL evaluation result is not a boolean",
        ),
        (
            "fail_if_body_json_not_matches_cel",
            r#"{"a": 1}"#,
            "body.b == 1",
            "Error evaluating CEL expression",
        ),
        (
            "fail_if_body_json_matches_cel",
            "not json",
            "body.b == 1",
            "Error unmarshalling HTTP body to JSON",
        ),
    ] {
        let o = probe_cel(option, expr, body, "").await;
        o.assert_success(false);
        assert!(
            o.log.contains(message),
            "{expr}: want {message:?}\n{}",
            o.dump()
        );
    }
}

/// JSON numbers are doubles and compare equal to ints of the same value (cel-go's
/// heterogeneous equality); both options in one module are both applied.
#[tokio::test]
async fn numbers_are_doubles_and_both_options_apply() {
    let body = r#"{"n": 5, "items": [{"ok": true}, {"ok": true}], "status": "up"}"#;
    let o = probe_cel(
        "fail_if_body_json_not_matches_cel",
        "body.n == 5 && type(body.n) == double && body.n > 4 && body.items.all(i, i.ok)",
        body,
        "fail_if_body_json_matches_cel: \"body.status == 'down'\"",
    )
    .await;
    o.assert_success(true);
    let o = probe_cel(
        "fail_if_body_json_not_matches_cel",
        "body.n == 5",
        body,
        "fail_if_body_json_matches_cel: \"body.status == 'up'\"",
    )
    .await;
    o.assert_success(false);
    assert_eq!(o.value("probe_failed_due_to_cel"), 1.0);
}

/// `probe_failed_due_to_cel` exists only when a CEL option is configured, and CEL is not
/// evaluated (the metric stays 0) once the status check has failed.
#[tokio::test]
async fn metric_registration_and_check_order() {
    let server = HttpServer::plain(handlers::fixed(200, "{}"));
    let o = probe_http("", &server.url("/")).await;
    o.assert_success(true);
    assert!(
        o.metrics
            .names_with_prefix("probe_failed_due_to_cel")
            .is_empty(),
        "{}",
        o.dump()
    );

    let server = HttpServer::plain(handlers::always(TestResponse::text(500, "{}")));
    let o = probe_http(
        "fail_if_body_json_matches_cel: \"!has(body.x)\"",
        &server.url("/"),
    )
    .await;
    o.assert_success(false);
    assert_eq!(o.value("probe_failed_due_to_cel"), 0.0, "{}", o.dump());

    // Body regexes run first; when they pass, CEL sees the same whole body (see
    // probe/http/checks.rs for upstream's difference here).
    let o = probe_cel(
        "fail_if_body_json_not_matches_cel",
        "body.ok",
        r#"{"ok": true}"#,
        "fail_if_body_not_matches_regexp: [ok]",
    )
    .await;
    o.assert_success(true);
    let o = probe_cel(
        "fail_if_body_json_not_matches_cel",
        "body.ok",
        r#"{"ok": true}"#,
        "fail_if_body_matches_regexp: [ok]",
    )
    .await;
    o.assert_success(false);
    assert_eq!(o.value("probe_failed_due_to_regex"), 1.0);
    assert_eq!(o.value("probe_failed_due_to_cel"), 0.0);

    // A body over body_size_limit fails the CEL check, as upstream's read error does.
    let o = probe_cel(
        "fail_if_body_json_not_matches_cel",
        "has(body.ok)",
        r#"{"ok": true, "padding": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#,
        "body_size_limit: 16B",
    )
    .await;
    o.assert_success(false);
    assert_eq!(o.value("probe_failed_due_to_cel"), 1.0);
}
