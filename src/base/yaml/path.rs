//! The field path of a parse error, recorded by [`GoRules`](super::GoRules)' wrappers while
//! [`parse`](super::parse) runs: the keys and list indexes being deserialized, and a copy of
//! them at the innermost place an error passed through (the first error wins).
//!
//! The recorder is a thread-local that only `parse` installs, so the wrappers' code stays the
//! same for every type (a call into this module, not a generic field), and `from_str`, whose
//! callers have no use for a path, records nothing.
//!
//! It follows `serde_path_to_error`'s rules, which the messages were written against: a map
//! value's segment is its key as text (strings, booleans and integers; any other key is
//! [`Segment::Unknown`]), an error in a key itself names that key (or `Unknown` when the key
//! was never read, as for a syntax error or a duplicate key), an error in the map or list
//! around a value names the map or list, and an enum's variant is a segment of its content.
//! Nothing inside a key (a complex YAML key) is recorded.

use std::cell::RefCell;
use std::fmt::Display;

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Segment {
    /// A list element.
    Index(usize),
    /// A map value or an enum variant's content, by its key.
    Key(String),
    /// A map value whose key is not text.
    Unknown,
}

/// The key being read: armed before a map key or enum variant is deserialized, set by the
/// first value the key's visitor is handed.
#[derive(Default)]
enum KeyText {
    #[default]
    Idle,
    Armed,
    Seen(Option<String>),
}

impl KeyText {
    fn take(&mut self) -> Segment {
        match std::mem::take(self) {
            KeyText::Seen(Some(key)) => Segment::Key(key),
            _ => Segment::Unknown,
        }
    }
}

#[derive(Default)]
struct Recorder {
    stack: Vec<Segment>,
    failed: Option<Vec<Segment>>,
    key: KeyText,
    /// How many keys are being deserialized (nested keys: complex YAML keys).
    in_key: u32,
}

impl Recorder {
    fn fail(&mut self) {
        if self.in_key == 0 && self.failed.is_none() {
            self.failed = Some(self.stack.clone());
        }
    }
}

thread_local! {
    static RECORDER: RefCell<Option<Recorder>> = const { RefCell::new(None) };
}

/// Runs `f` on the recorder, if `parse` installed one on this thread.
fn with<R: Default>(f: impl FnOnce(&mut Recorder) -> R) -> R {
    RECORDER.with(|r| r.borrow_mut().as_mut().map(f).unwrap_or_default())
}

/// Runs `parse`'s deserialization with a recorder: its result and, when an error passed
/// through a wrapper, the path where it first did.
pub(super) fn recording<R>(f: impl FnOnce() -> R) -> (R, Option<Vec<Segment>>) {
    /// Puts back the recorder that was there before, also when `f` panics.
    struct Restore(Option<Recorder>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            RECORDER.with(|r| *r.borrow_mut() = previous);
        }
    }
    let _restore = Restore(RECORDER.with(|r| r.replace(Some(Recorder::default()))));
    let result = f();
    let failed = with(|r| r.failed.take());
    (result, failed)
}

/// An error passed through here: the current path is the error's, unless an error was
/// recorded already (deeper in, or earlier).
pub(super) fn fail() {
    with(Recorder::fail)
}

/// Before a map key or an enum variant is deserialized.
pub(super) fn key_start() {
    with(|r| {
        if r.in_key == 0 {
            r.key = KeyText::Armed;
        }
        r.in_key += 1;
    })
}

/// A visitor is handed a value: the key's text if this is the key being read (`None` for a
/// value that does not name a key: a float, bytes, a list, …).
pub(super) fn key_seen(text: Option<&dyn Display>) {
    with(|r| {
        if let KeyText::Armed = r.key {
            r.key = KeyText::Seen(text.map(|t| t.to_string()));
        }
    })
}

/// After a map key was deserialized: an error is the key's; the key is kept for its value.
pub(super) fn key_end(failed: bool) {
    with(|r| {
        r.in_key -= 1;
        if r.in_key > 0 {
            return;
        }
        if failed {
            let key = r.key.take();
            r.stack.push(key);
            r.fail();
            r.stack.pop();
        } else if let KeyText::Armed = r.key {
            r.key = KeyText::Seen(None);
        }
    })
}

/// After an enum variant was deserialized: an error is the enum's; otherwise the variant's
/// segment, for its content.
pub(super) fn variant_end(failed: bool) -> Option<Segment> {
    with(|r| {
        r.in_key -= 1;
        if r.in_key > 0 {
            return None;
        }
        let variant = r.key.take();
        if failed {
            r.fail();
            return None;
        }
        Some(variant)
    })
}

/// Before a map value: its key (from [`key_end`]) is the current path's last segment.
/// Returns whether a segment was pushed, for [`pop`].
pub(super) fn push_key() -> bool {
    with(|r| {
        if r.in_key > 0 {
            return false;
        }
        let key = r.key.take();
        r.stack.push(key);
        true
    })
}

/// Before a list element or an enum variant's content. Returns whether it was pushed.
pub(super) fn push(segment: Option<Segment>) -> bool {
    with(|r| match segment {
        Some(s) if r.in_key == 0 => {
            r.stack.push(s);
            true
        }
        _ => false,
    })
}

/// After the value of a [`push_key`] or [`push`].
pub(super) fn pop(pushed: bool) {
    if pushed {
        with(|r| {
            r.stack.pop();
        })
    }
}
