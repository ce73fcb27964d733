use std::sync::{Arc, Mutex};

use tracing_subscriber::layer::SubscriberExt as _;

use super::*;

#[test]
fn logfmt_values_are_quoted_only_when_go_logfmt_quotes_them() {
    let raw = gostr::from_bytes(b"a\xffb").into_owned();
    let cases: &[(&str, &str)] = &[
        ("plain", "plain"),
        ("127.0.0.1:9115", "127.0.0.1:9115"),
        ("back\\slash", "back\\slash"),
        ("é/ü", "é/ü"),
        ("", "\"\""),
        ("null", "\"null\""),
        ("listening on", "\"listening on\""),
        ("a=b", "\"a=b\""),
        ("say \"hi\"", "\"say \\\"hi\\\"\""),
        ("a\\ b", "\"a\\\\ b\""),
        ("line1\nline2\ttab\rcr", "\"line1\\nline2\\ttab\\rcr\""),
        ("bell\u{7}", "\"bell\\u0007\""),
        ("del\u{7f}", "\"del\u{7f}\""),
        ("rep\u{fffd}", "\"rep\\ufffd\""),
        (&raw, "\"a\\ufffdb\""),
    ];
    for (value, want) in cases {
        let mut out = String::new();
        append_logfmt_value(&mut out, value);
        assert_eq!(&out, want, "value {value:?}");
    }
}

#[test]
fn json_strings_are_escaped_as_go_without_html_escaping() {
    let raw = gostr::from_bytes(b"a\xffb").into_owned();
    let cases: &[(&str, &str)] = &[
        ("plain <b>&amp;</b>", "\"plain <b>&amp;</b>\""),
        ("", "\"\""),
        ("q\"b\\", "\"q\\\"b\\\\\""),
        ("n\nr\rt\t", "\"n\\nr\\rt\\t\""),
        ("\u{1}\u{8}\u{c}", "\"\\u0001\\u0008\\u000c\""),
        ("ls\u{2028}ps\u{2029}", "\"ls\\u2028ps\\u2029\""),
        ("rep\u{fffd}", "\"rep\u{fffd}\""),
        (&raw, "\"a\\ufffdb\""),
    ];
    for (value, want) in cases {
        let mut out = String::new();
        append_json_string(&mut out, value);
        assert_eq!(&out, want, "value {value:?}");
        let back: String = serde_json::from_str(&out).expect("valid JSON");
        if !gostr::has_raw(value) {
            assert_eq!(&back, value);
        }
    }
}

#[test]
fn logfmt_keys_drop_what_would_need_quoting() {
    let mut out = String::new();
    logfmt_key_into(&mut out, "a b=c\"d");
    assert_eq!(out, "abcd");
}

/// Lines written by a layer, for assertions.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Sink for Lines {
    fn write_line(&self, line: &[u8]) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(line);
    }
}

impl Lines {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// Runs `f` with a subscriber made of our layer alone (everything enabled) and returns the
/// lines it wrote.
fn capture(format: Format, f: impl FnOnce()) -> Vec<String> {
    let lines = Lines::default();
    let subscriber = tracing_subscriber::registry().with(LogLayer::new(format, lines.clone()));
    tracing::subscriber::with_default(subscriber, f);
    lines.text().lines().map(str::to_string).collect()
}

/// `line` without its `ts=… ` prefix, after checking the timestamp's shape.
fn after_ts(line: &str) -> &str {
    let rest = line.strip_prefix("ts=").expect("starts with ts=");
    let (ts, rest) = rest.split_once(' ').expect("more after ts");
    assert_eq!(ts.len(), 24, "{ts}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{ts}");
    rest
}

#[test]
fn logfmt_lines_have_prometheus_keys_then_fields_in_order() {
    let addr: std::net::SocketAddr = "127.0.0.1:9115".parse().expect("addr");
    let mut line_no = 0;
    let lines = capture(Format::Logfmt, || {
        line_no = line!() + 1;
        tracing::info!(message = "listening on", address = %addr);
        tracing::warn!(
            jobs = 3,
            ok = true,
            ratio = 0.5,
            big = 1e21,
            "Loaded {} files",
            2
        );
        tracing::error!(error = %"bad: \"x\"\nsecond line", "Error reloading config");
        tracing::debug!(empty = "", "no-spaces");
        tracing::trace!(kv = ?[("a", "b")], "t");
    });
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert_eq!(
        after_ts(&lines[0]),
        format!("caller=tests.rs:{line_no} level=info msg=\"listening on\" address=127.0.0.1:9115")
    );
    assert!(
        after_ts(&lines[1])
            .ends_with("level=warn msg=\"Loaded 2 files\" jobs=3 ok=true ratio=0.5 big=1e+21"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].ends_with(
            "level=error msg=\"Error reloading config\" error=\"bad: \\\"x\\\"\\nsecond line\""
        ),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].ends_with("level=debug msg=no-spaces empty=\"\""),
        "{}",
        lines[3]
    );
    assert!(
        lines[4].ends_with("level=debug msg=t kv=\"[(\\\"a\\\", \\\"b\\\")]\""),
        "{}",
        lines[4]
    );
}

#[test]
fn json_lines_have_the_same_keys_in_the_same_order() {
    let lines = capture(Format::Json, || {
        tracing::info!(
            message = "listening on",
            address = "127.0.0.1:9115",
            n = -1,
            nan = f64::NAN
        );
    });
    assert_eq!(lines.len(), 1);
    let v: serde_json::Value = serde_json::from_str(&lines[0]).expect("a JSON object");
    assert_eq!(v["level"], "info");
    assert_eq!(v["msg"], "listening on");
    assert_eq!(v["address"], "127.0.0.1:9115");
    assert_eq!(v["n"], -1);
    assert_eq!(v["nan"], "NaN");
    assert!(v["caller"]
        .as_str()
        .is_some_and(|c| c.starts_with("tests.rs:")));
    let keys: Vec<&str> = [
        "\"ts\"",
        "\"caller\"",
        "\"level\"",
        "\"msg\"",
        "\"address\"",
        "\"n\"",
    ]
    .into_iter()
    .collect();
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| lines[0].find(k).expect("key present"))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{}", lines[0]);
}

#[test]
fn span_fields_are_flattened_outermost_first() {
    let lines = capture(Format::Logfmt, || {
        let outer = tracing::info_span!("reload", source = "SIGHUP");
        let _o = outer.enter();
        let inner = tracing::info_span!("group", group = tracing::field::Empty);
        inner.record("group", "g 1");
        let _i = inner.enter();
        tracing::info!(rules = 2, "Evaluated");
    });
    assert!(
        lines[0].ends_with("msg=Evaluated source=SIGHUP group=\"g 1\" rules=2"),
        "{}",
        lines[0]
    );
    let lines = capture(Format::Json, || {
        let span = tracing::info_span!("reload", source = "SIGHUP");
        let _s = span.enter();
        tracing::info!("Evaluated");
    });
    let v: serde_json::Value = serde_json::from_str(&lines[0]).expect("a JSON object");
    assert_eq!(v["source"], "SIGHUP");
}

#[test]
fn an_event_logged_while_formatting_another_is_written_too() {
    struct Noisy;
    impl fmt::Debug for Noisy {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            tracing::info!("inner");
            f.write_str("noisy")
        }
    }
    let lines = capture(Format::Logfmt, || {
        tracing::info!(value = ?Noisy, "outer");
    });
    // A scoped dispatcher (as here) drops the inner event; the global one, as in the
    // process, delivers it and it is written from fresh buffers. Either way the outer line
    // is whole.
    assert!(!lines.is_empty() && lines.len() <= 2, "{lines:#?}");
    let last = lines.last().expect("a line");
    assert!(last.ends_with("msg=outer value=noisy"), "{last}");
}
