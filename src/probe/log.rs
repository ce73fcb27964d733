//! The per-probe log: lines in logfmt, as blackbox_exporter shows them in `debug=true` output
//! and `/logs`. Lines below the `--log.prober` level are not kept; every line is also sent
//! to the process log at debug level.
//!
//! Bounded, because a hostile target can make a probe log a line per thing it sends (the TCP
//! prober logs every line read): each value is cut at [`MAX_VALUE_BYTES`], the first
//! [`HEAD_BYTES`] of lines are kept, then only the last [`TAIL_BYTES`], with a
//! `msg="Probe log truncated"` line in between saying how much was dropped.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt::Write as _;

use crate::clock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// The most bytes of one logged value (message, key-value, module or target) kept.
pub const MAX_VALUE_BYTES: usize = 4096;
/// The first lines of a probe's log are kept up to this many bytes…
pub const HEAD_BYTES: usize = 24 << 10;
/// …and after that only the last lines, up to this many bytes.
pub const TAIL_BYTES: usize = 8 << 10;

pub struct ProbeLog {
    module: String,
    target: String,
    /// `module=… target=…` as every line writes them, quoted once.
    line_keys: String,
    min: Level,
    /// The first lines, at most `HEAD_BYTES`.
    text: String,
    /// Once `text` is full: the latest lines, at most `TAIL_BYTES` together.
    tail: VecDeque<String>,
    tail_bytes: usize,
    dropped_lines: u64,
    dropped_bytes: u64,
    /// The first error-level line's message and `err` value, kept whatever `min` is: why
    /// a failed probe failed, in words, for uptime history and incident lists.
    first_error: Option<String>,
    /// The last info- or warn-level line in the same words: the reason when no error was
    /// logged but the final "Probe failed" (a failed check such as the status code logs at
    /// info, as blackbox_exporter does). Empty when there is none; the buffer is reused
    /// from line to line.
    last_note: String,
}

impl ProbeLog {
    pub fn new(module: &str, target: &str, min: Level) -> Self {
        let module = truncate(module, MAX_VALUE_BYTES).into_owned();
        let target = truncate(target, MAX_VALUE_BYTES).into_owned();
        let mut line_keys = String::with_capacity(module.len() + target.len() + 24);
        line_keys.push_str(" module=");
        write_logfmt_value(&mut line_keys, &module);
        line_keys.push_str(" target=");
        write_logfmt_value(&mut line_keys, &target);
        Self {
            module,
            target,
            line_keys,
            min,
            text: String::new(),
            tail: VecDeque::new(),
            tail_bytes: 0,
            dropped_lines: 0,
            dropped_bytes: 0,
            first_error: None,
            last_note: String::new(),
        }
    }

    /// Why the probe failed: the first error logged (`msg: err` when the line carries an
    /// `err` value); failing that, the last info or warn line before it, with its values
    /// (`Invalid HTTP response status code, wanted 2xx (status_code=503)`). `None` when
    /// nothing but the final verdict was logged.
    pub fn first_error(&self) -> Option<&str> {
        self.first_error
            .as_deref()
            .or((!self.last_note.is_empty()).then_some(self.last_note.as_str()))
    }

    pub fn debug(&mut self, msg: &str, kv: &[(&str, &str)]) {
        self.log(Level::Debug, msg, kv);
    }
    pub fn info(&mut self, msg: &str, kv: &[(&str, &str)]) {
        self.log(Level::Info, msg, kv);
    }
    pub fn warn(&mut self, msg: &str, kv: &[(&str, &str)]) {
        self.log(Level::Warn, msg, kv);
    }
    pub fn error(&mut self, msg: &str, kv: &[(&str, &str)]) {
        self.log(Level::Error, msg, kv);
    }

    fn log(&mut self, level: Level, msg: &str, kv: &[(&str, &str)]) {
        // `probe_level`: `level` is the process log line's own key.
        tracing::debug!(module = %self.module, target = %self.target, probe_level = level.as_str(), kv = %Pairs(kv), "{msg}");
        // The final verdict ("Probe failed", "Probe succeeded") is no reason.
        if msg != "Probe failed" && msg != "Probe succeeded" {
            if level == Level::Error && self.first_error.is_none() {
                let reason = match kv.iter().find(|(k, _)| *k == "err") {
                    Some((_, err)) => format!("{msg}: {err}"),
                    None => msg.to_string(),
                };
                self.first_error = Some(truncate(&reason, MAX_VALUE_BYTES).into_owned());
            } else if matches!(level, Level::Info | Level::Warn) && self.first_error.is_none() {
                let note = &mut self.last_note;
                note.clear();
                note.push_str(msg);
                for (i, (k, v)) in kv.iter().enumerate() {
                    note.push_str(if i == 0 { " (" } else { " " });
                    note.push_str(k);
                    note.push('=');
                    note.push_str(v);
                }
                if !kv.is_empty() {
                    note.push(')');
                }
                cut_in_place(note, MAX_VALUE_BYTES);
            }
        }
        if level < self.min {
            return;
        }
        let values: usize = kv.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
        let mut line = String::with_capacity(self.line_keys.len() + msg.len() + values + 56);
        self.line_start(&mut line, level, msg);
        for (k, v) in kv {
            line.push(' ');
            line.push_str(&truncate(k, MAX_VALUE_BYTES));
            line.push('=');
            write_logfmt_value(&mut line, &truncate(v, MAX_VALUE_BYTES));
        }
        line.push('\n');
        self.push(line);
    }

    /// `ts=… module=… target=… level=… msg=…`, without the key-values, written into `out`.
    fn line_start(&self, out: &mut String, level: Level, msg: &str) {
        out.push_str("ts=");
        clock::write_rfc3339_now(out);
        out.push_str(&self.line_keys);
        out.push_str(" level=");
        out.push_str(level.as_str());
        out.push_str(" msg=");
        write_logfmt_value(out, &truncate(msg, MAX_VALUE_BYTES));
    }

    fn push(&mut self, line: String) {
        if self.tail.is_empty() && self.text.len() + line.len() <= HEAD_BYTES {
            self.text.push_str(&line);
            return;
        }
        self.tail_bytes += line.len();
        self.tail.push_back(line);
        while self.tail_bytes > TAIL_BYTES {
            let Some(old) = self.tail.pop_front() else {
                break;
            };
            self.tail_bytes -= old.len();
            self.dropped_lines += 1;
            self.dropped_bytes += old.len() as u64;
        }
    }

    /// Takes [`text`](Self::text) out of the log, which is left empty; without a copy
    /// when no line was dropped.
    pub fn take_text(&mut self) -> String {
        match self.text() {
            Cow::Owned(all) => {
                self.text.clear();
                self.tail.clear();
                self.tail_bytes = 0;
                self.dropped_lines = 0;
                self.dropped_bytes = 0;
                all
            }
            Cow::Borrowed(_) => std::mem::take(&mut self.text),
        }
    }

    /// The log: every kept line, and where lines were dropped, a `Probe log truncated` line.
    pub fn text(&self) -> Cow<'_, str> {
        if self.tail.is_empty() {
            return Cow::Borrowed(&self.text);
        }
        let mut out = String::with_capacity(self.text.len() + self.tail_bytes + 256);
        out.push_str(&self.text);
        if self.dropped_lines > 0 {
            self.line_start(&mut out, Level::Warn, "Probe log truncated");
            let _ = writeln!(
                out,
                " dropped_lines={} dropped_bytes={}",
                self.dropped_lines, self.dropped_bytes
            );
        }
        for line in &self.tail {
            out.push_str(line);
        }
        Cow::Owned(out)
    }
}

/// Key-values as this log writes them (`k=v k2="v 2"`), formatted only when the process log
/// writes the debug line that carries them.
struct Pairs<'a>(&'a [(&'a str, &'a str)]);

impl std::fmt::Display for Pairs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{k}={}", logfmt_value(v))?;
        }
        Ok(())
    }
}

/// `s` cut to at most `max` bytes (at a character boundary) plus a `…[N more bytes]` marker.
pub fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…[{} more bytes]", &s[..end], s.len() - end))
}

/// Quotes a logfmt value when it needs quoting.
pub fn logfmt_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    write_logfmt_value(&mut out, v);
    out
}

/// Appends [`logfmt_value`]'s text to `out`.
fn write_logfmt_value(out: &mut String, v: &str) {
    if !v.is_empty()
        && !v
            .chars()
            .any(|c| c == ' ' || c == '"' || c == '=' || c.is_control())
    {
        out.push_str(v);
    } else {
        let _ = write!(out, "{v:?}");
    }
}

/// [`truncate`] on an owned string, without a copy when it fits.
fn cut_in_place(s: &mut String, max: usize) {
    if s.len() > max {
        let cut = truncate(s, max).into_owned();
        *s = cut;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_error_is_the_failure_reason_whatever_the_level() {
        let mut log = ProbeLog::new("http_2xx", "t", Level::Warn);
        assert_eq!(log.first_error(), None);
        log.info("Resolving target address", &[]);
        log.error(
            "Error for HTTP request",
            &[("err", "dial tcp 127.0.0.1:1: connect: connection refused")],
        );
        log.error("Probe failed", &[("duration_seconds", "0.001")]);
        assert_eq!(
            log.first_error(),
            Some("Error for HTTP request: dial tcp 127.0.0.1:1: connect: connection refused")
        );
        let mut quiet = ProbeLog::new("m", "t", Level::Error);
        quiet.error("Invalid HTTP response status code", &[("status", "503")]);
        assert_eq!(
            quiet.first_error(),
            Some("Invalid HTTP response status code")
        );
    }

    #[test]
    fn short_logs_are_kept_whole() {
        let mut log = ProbeLog::new("m", "t", Level::Debug);
        log.info("Resolving target address", &[("target", "t")]);
        log.debug("Read line", &[("line", "hello world")]);
        let text = log.text();
        assert!(matches!(text, Cow::Borrowed(_)));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[1].ends_with("level=debug msg=\"Read line\" line=\"hello world\""));
    }

    #[test]
    fn endless_lines_keep_head_and_tail_within_the_bound() {
        let mut log = ProbeLog::new("tcp", "127.0.0.1:1", Level::Debug);
        let line = "x".repeat(200);
        let n = 100_000;
        for i in 0..n {
            log.debug("Read line", &[("line", &line), ("i", &i.to_string())]);
        }
        log.error("Error reading from connection", &[("err", "deadline")]);
        let text = log.text();
        assert!(
            text.len() <= HEAD_BYTES + TAIL_BYTES + 1024,
            "log is {} bytes",
            text.len()
        );
        assert!(text.len() >= HEAD_BYTES, "the head is kept");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with(" i=0"), "first line kept: {}", lines[0]);
        let marker = lines
            .iter()
            .find(|l| l.contains("msg=\"Probe log truncated\""))
            .expect("truncation marker");
        let dropped: u64 = marker
            .split(" dropped_lines=")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|v| v.parse().ok())
            .expect("dropped_lines");
        assert_eq!(
            dropped as usize + lines.len() - 1,
            n + 1,
            "kept + dropped = logged"
        );
        assert!(marker.contains("level=warn"));
        assert!(
            lines[lines.len() - 1].contains("Error reading from connection"),
            "the last line is kept"
        );
        assert!(lines[lines.len() - 2].ends_with(&format!(" i={}", n - 1)));

        // Taken out whole, marker included (its stamp is the time of writing, so the
        // lengths are compared); the log is left empty.
        let whole = text.len();
        let taken = log.take_text();
        assert_eq!(taken.len(), whole);
        assert!(taken.contains("msg=\"Probe log truncated\""));
        assert_eq!(log.text(), "");
    }

    #[test]
    fn take_text_moves_a_short_log_out() {
        let mut log = ProbeLog::new("m", "t", Level::Debug);
        log.info("Probe succeeded", &[]);
        let text = log.text().into_owned();
        assert_eq!(log.take_text(), text);
        assert_eq!(log.text(), "");
    }

    #[test]
    fn huge_values_are_cut_with_a_marker() {
        let huge = "é".repeat(10_000); // 2 bytes each: the cut lands on a char boundary
        let mut log = ProbeLog::new("m", &huge, Level::Debug);
        log.debug(&huge, &[("line", &huge)]);
        let text = log.text();
        assert!(
            text.len() < 4 * MAX_VALUE_BYTES,
            "line is {} bytes",
            text.len()
        );
        assert_eq!(text.matches("more bytes]").count(), 3, "{}", &text[..200]);
        assert!(text.contains(&format!("…[{} more bytes]", 20_000 - MAX_VALUE_BYTES)));
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "abc…[1 more bytes]");
        assert_eq!(truncate("aé", 2), "a…[2 more bytes]");
    }
}
