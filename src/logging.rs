//! The process log: one `tracing` layer ([`LogLayer`]) that writes every event, of the daemon
//! and of the subcommands, as one line on stderr in Prometheus' style (go-kit log, as
//! blackbox_exporter 0.23 and Alertmanager 0.25 print it):
//!
//! - logfmt: `ts=2026-12-04T14:35:39.123Z caller=app.rs:62 level=info msg="listening on"
//!   address=127.0.0.1:9115` — a value is quoted only when it is empty, `null`, or holds a
//!   space, a control character, `=`, `"` or U+FFFD, with go-logfmt's escapes;
//! - JSON: `{"ts":"…","caller":"app.rs:62","level":"info","msg":"listening on",
//!   "address":"127.0.0.1:9115"}`, strings escaped as Go's `encoding/json` does without HTML
//!   escaping (go-kit's `json.Encoder` with `SetEscapeHTML(false)`), integers, floats and
//!   booleans as JSON numbers and booleans.
//!
//! `ts` is RFC 3339 UTC with milliseconds; `caller` is the source file's name and line (for
//! records bridged from the `log` crate, the record's own file and line); `level` is
//! `debug`, `info`, `warn` or `error` (tracing's TRACE prints as `debug`, go-kit has no
//! trace); an event's `message` field is `msg`. The fields of the event's spans follow,
//! outermost span first, then the event's own fields, in the order written. Each line is
//! built in a reused per-thread buffer and written with one `write` on stderr.
//!
//! Not here: which events are enabled (`main.rs` builds the filter from `--log.level` and
//! `BLACKWATCH_LOG`), and the probe logs of `/probe?debug=true` (`probe/log.rs` writes those
//! lines itself and sends each here at debug level).

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::base::{go, gostr};
use crate::clock;

/// How lines are written (`--log.format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Logfmt,
    Json,
}

/// Where finished lines go: stderr in the process, a buffer in tests.
pub trait Sink: Send + Sync + 'static {
    /// Writes one complete line (with its `\n`).
    fn write_line(&self, line: &[u8]);
}

/// The process' stderr, one `write_all` per line under its lock.
pub struct Stderr;

impl Sink for Stderr {
    fn write_line(&self, line: &[u8]) {
        // A closed stderr must not stop the daemon.
        let _ = std::io::stderr().lock().write_all(line);
    }
}

/// The layer that formats and writes every enabled event.
pub struct LogLayer<W: Sink = Stderr> {
    format: Format,
    sink: W,
}

impl LogLayer<Stderr> {
    pub fn stderr(format: Format) -> Self {
        Self::new(format, Stderr)
    }
}

impl<W: Sink> LogLayer<W> {
    pub fn new(format: Format, sink: W) -> Self {
        Self { format, sink }
    }
}

/// Installs the process log as the global subscriber: `filter` decides what is enabled,
/// `format` how it is written. Records of the `log` crate are bridged in. A second call
/// does nothing.
pub fn init(format: Format, filter: tracing_subscriber::filter::Targets) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(LogLayer::stderr(format))
        .try_init();
}

/// A span's fields, formatted once when the span is created (and on `record`), each with
/// its leading separator, ready to be copied into every line logged inside it.
struct SpanFields(String);

/// The per-thread buffers a line is built in: reused, so formatting allocates only while
/// they grow to the longest line so far.
#[derive(Default)]
struct Buffers {
    line: String,
    msg: String,
    fields: String,
    scratch: String,
    log_file: String,
}

/// Buffers above this capacity are dropped after the line, so one huge line does not keep
/// its memory for the life of the thread.
const KEEP_CAPACITY: usize = 64 << 10;

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// Runs `f` with this thread's buffers, or with fresh ones when they are in use (an event
/// logged while a value of another event is being formatted) or already torn down.
fn with_buffers(f: impl FnOnce(&mut Buffers)) {
    let mut f = Some(f);
    let _ = BUFFERS.try_with(|cell| {
        if let Ok(mut guard) = cell.try_borrow_mut() {
            let b = &mut *guard;
            if let Some(f) = f.take() {
                f(b);
            }
            for s in [
                &mut b.line,
                &mut b.msg,
                &mut b.fields,
                &mut b.scratch,
                &mut b.log_file,
            ] {
                s.clear();
                if s.capacity() > KEEP_CAPACITY {
                    *s = String::new();
                }
            }
        }
    });
    if let Some(f) = f {
        f(&mut Buffers::default());
    }
}

fn level_str(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG | Level::TRACE => "debug",
    }
}

impl<S, W> Layer<S> for LogLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: Sink,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = String::new();
        let mut scratch = String::new();
        attrs.record(&mut Visitor::new(self.format, &mut fields, &mut scratch));
        span.extensions_mut().insert(SpanFields(fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(SpanFields(fields)) = ext.get_mut::<SpanFields>() {
            let mut scratch = String::new();
            values.record(&mut Visitor::new(self.format, fields, &mut scratch));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        with_buffers(|b| {
            let mut v = Visitor::new(self.format, &mut b.fields, &mut b.scratch);
            v.msg = Some(&mut b.msg);
            v.log_file = Some(&mut b.log_file);
            event.record(&mut v);
            let (has_msg, log_line) = (v.has_msg, v.log_line);

            let (file, line) = if b.log_file.is_empty() {
                (meta.file().unwrap_or(""), meta.line())
            } else {
                (b.log_file.as_str(), log_line)
            };
            let file = file.rsplit(['/', '\\']).next().unwrap_or(file);
            let out = &mut b.line;
            let json = self.format == Format::Json;
            out.push_str(if json { "{\"ts\":\"" } else { "ts=" });
            clock::write_rfc3339_now(out);
            if !file.is_empty() {
                out.push_str(if json { "\",\"caller\":\"" } else { " caller=" });
                // A file name needs no escaping in practice; escape it anyway for JSON.
                if json {
                    json_escape_into(out, file);
                } else {
                    logfmt_key_into(out, file);
                }
                if let Some(line) = line {
                    let _ = write!(out, ":{line}");
                }
            }
            out.push_str(if json { "\",\"level\":\"" } else { " level=" });
            out.push_str(level_str(meta.level()));
            if json {
                out.push('"');
            }
            if has_msg {
                if json {
                    out.push_str(",\"msg\":");
                    append_json_string(out, &b.msg);
                } else {
                    out.push_str(" msg=");
                    append_logfmt_value(out, &b.msg);
                }
            }
            if let Some(scope) = ctx.event_scope(event) {
                for span in scope.from_root() {
                    if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>() {
                        out.push_str(fields);
                    }
                }
            }
            out.push_str(&b.fields);
            out.push_str(if json { "}\n" } else { "\n" });
            self.sink.write_line(out.as_bytes());
        });
    }
}

/// Writes an event's or span's fields, each with its leading separator (` ` or `,`), into
/// `out`; the `message` field goes to `msg` when set. Fields the `log` bridge adds are
/// dropped (`log.target`, `log.module_path`) or become the caller (`log.file`, `log.line`).
struct Visitor<'a> {
    format: Format,
    out: &'a mut String,
    scratch: &'a mut String,
    msg: Option<&'a mut String>,
    has_msg: bool,
    log_file: Option<&'a mut String>,
    log_line: Option<u32>,
}

impl<'a> Visitor<'a> {
    fn new(format: Format, out: &'a mut String, scratch: &'a mut String) -> Self {
        Self {
            format,
            out,
            scratch,
            msg: None,
            has_msg: false,
            log_file: None,
            log_line: None,
        }
    }

    fn key(&mut self, name: &str) {
        match self.format {
            Format::Logfmt => {
                self.out.push(' ');
                logfmt_key_into(self.out, name);
                self.out.push('=');
            }
            Format::Json => {
                self.out.push(',');
                append_json_string(self.out, name);
                self.out.push(':');
            }
        }
    }

    fn string(&mut self, name: &str, value: &str) {
        self.key(name);
        match self.format {
            Format::Logfmt => append_logfmt_value(self.out, value),
            Format::Json => append_json_string(self.out, value),
        }
    }

    /// A number or boolean, already formatted: bare in both formats.
    fn bare(&mut self, name: &str, value: fmt::Arguments<'_>) {
        self.key(name);
        let _ = self.out.write_fmt(value);
    }

    /// Whether `field` was taken as the message or a `log` bridge field.
    fn special_str(&mut self, field: &Field, value: &str) -> bool {
        match field.name() {
            "message" => match self.msg.as_deref_mut() {
                Some(msg) => {
                    msg.push_str(value);
                    self.has_msg = true;
                    true
                }
                None => false,
            },
            "log.target" | "log.module_path" => true,
            "log.file" => match self.log_file.as_deref_mut() {
                Some(file) => {
                    file.push_str(value);
                    true
                }
                None => false,
            },
            _ => false,
        }
    }
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.special_str(field, value) {
            self.string(field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            if let Some(msg) = self.msg.as_deref_mut() {
                let _ = write!(msg, "{value:?}");
                self.has_msg = true;
                return;
            }
        }
        if field.name().starts_with("log.") && self.log_file.is_some() {
            // `log.target`, `log.module_path`, `log.file` as `Debug` (the bridge normally
            // records them as strings).
            return;
        }
        // Formatted once into the scratch buffer, then quoted/escaped into the line.
        let mut scratch = std::mem::take(self.scratch);
        scratch.clear();
        let _ = write!(scratch, "{value:?}");
        self.string(field.name(), &scratch);
        *self.scratch = scratch;
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.bare(field.name(), format_args!("{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "log.line" && self.log_file.is_some() {
            self.log_line = u32::try_from(value).ok();
            return;
        }
        self.bare(field.name(), format_args!("{value}"));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.bare(field.name(), format_args!("{value}"));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.bare(field.name(), format_args!("{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        let text = go::format_go_float(value);
        if value.is_finite() || self.format == Format::Logfmt {
            self.bare(field.name(), format_args!("{text}"));
        } else {
            // JSON has no NaN or infinities.
            self.string(field.name(), &text);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.bare(field.name(), format_args!("{value}"));
    }
}

/// Whether go-logfmt quotes a value holding `c`.
fn logfmt_needs_quote(c: char) -> bool {
    c <= ' ' || c == '=' || c == '"' || c == '\u{7f}' || c == '\u{fffd}' || is_raw(c)
}

/// A byte that is not UTF-8, carried in a Rust string (see `base::gostr`).
fn is_raw(c: char) -> bool {
    gostr::raw_byte(c).is_some()
}

/// Appends a logfmt value as go-logfmt writes a string: bare when it can be, else quoted
/// with `\\`, `\"`, `\n`, `\r`, `\t`, `\u00XX` for other controls and `\ufffd` for U+FFFD
/// and bytes that are not UTF-8. Empty and `null` are quoted (`""`, `"null"`) so that
/// neither reads as something else.
pub fn append_logfmt_value(out: &mut String, v: &str) {
    if v.is_empty() || v == "null" || v.chars().any(logfmt_needs_quote) {
        out.push('"');
        escape_into(out, v, Escapes::Logfmt);
        out.push('"');
    } else {
        out.push_str(v);
    }
}

/// Appends a key as go-logfmt does: the characters that would need quoting are dropped.
fn logfmt_key_into(out: &mut String, key: &str) {
    if key.chars().any(logfmt_needs_quote) {
        out.extend(key.chars().filter(|&c| !logfmt_needs_quote(c)));
    } else {
        out.push_str(key);
    }
}

/// Appends `s` as a JSON string as Go's `encoding/json` writes it with HTML escaping off:
/// `\"`, `\\`, `\n`, `\r`, `\t`, `\u00XX` for other controls, `\u2028`, `\u2029`, and
/// `\ufffd` for bytes that are not UTF-8.
pub fn append_json_string(out: &mut String, s: &str) {
    out.push('"');
    json_escape_into(out, s);
    out.push('"');
}

fn json_escape_into(out: &mut String, s: &str) {
    escape_into(out, s, Escapes::Json);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Escapes {
    Logfmt,
    Json,
}

/// The escaping inside quotes both formats share, copying runs that need none in one go.
fn escape_into(out: &mut String, s: &str, how: Escapes) {
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            c if c < ' ' => Some(""),
            '\u{fffd}' if how == Escapes::Logfmt => Some("\\ufffd"),
            '\u{2028}' if how == Escapes::Json => Some("\\u2028"),
            '\u{2029}' if how == Escapes::Json => Some("\\u2029"),
            c if is_raw(c) => Some("\\ufffd"),
            _ => None,
        };
        let Some(esc) = esc else { continue };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push_str(esc);
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
}

#[cfg(test)]
mod tests;
