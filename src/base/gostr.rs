//! Go strings are bytes; Rust strings are UTF-8. This codec carries arbitrary bytes (a
//! template file saved in GBK or Latin-1) through `String`-based code without loss, as
//! Python's `surrogateescape` (PEP 383) does: [`from_bytes`] keeps every valid UTF-8 character
//! and maps each byte that is not part of one to a reserved private-use code point,
//! [`to_bytes`] maps them back. The byte-oriented outputs (the e-mail writer) use
//! [`to_bytes`]; JSON outputs use [`to_utf8_lossy`], which turns each such byte into U+FFFD
//! as Go does (`[]rune(s)`, `encoding/json`).
//!
//! The reserved range is U+10FF80..=U+10FFFF, one code point per byte 0x80..=0xFF (bytes
//! below 0x80 are always valid UTF-8). A genuine input character in that range is escaped
//! too (its four UTF-8 bytes become four reserved code points), so the mapping stays
//! lossless for every input: `to_bytes(from_bytes(b)) == b`.
//!
//! Between the two ends, the decoded string has one `char` per Go rune, as Go's `range` over
//! a string yields them (an invalid byte is one `utf8.RuneError` there, one reserved code
//! point here): rune counts, truncation and Go's lexer see the same units.

use std::borrow::Cow;

const FIRST: u32 = 0x10_FF80;

fn reserved(c: char) -> Option<u8> {
    let c = u32::from(c);
    // The range ends at U+10FFFF, so `c - FIRST` is below 0x80.
    (c >= FIRST).then(|| 0x80 | (c - FIRST) as u8)
}

fn escape(out: &mut String, b: u8) {
    // Every byte value ≥ 0x80 has its code point: FIRST + (b - 0x80) ≤ U+10FFFF.
    if let Some(c) = char::from_u32(FIRST + u32::from(b & 0x7F)) {
        out.push(c);
    }
}

/// The raw byte a reserved code point stands for, if `c` is one.
pub fn raw_byte(c: char) -> Option<u8> {
    reserved(c)
}

/// Whether `s` carries raw bytes (or escaped reserved characters), i.e. differs from its
/// UTF-8 bytes once mapped back.
pub fn has_raw(s: &str) -> bool {
    s.chars().any(|c| reserved(c).is_some())
}

/// Decodes bytes losslessly: valid UTF-8 characters as themselves (except those in the
/// reserved range), every other byte as its reserved code point. Borrows when `b` is UTF-8
/// without reserved characters.
pub fn from_bytes(b: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(b) {
        if !has_raw(s) {
            return Cow::Borrowed(s);
        }
    }
    let mut out = String::with_capacity(b.len() + b.len() / 2);
    let mut rest = b;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, 0),
            Err(e) => {
                let n = e.valid_up_to();
                // The prefix up to `valid_up_to` is UTF-8 by definition.
                let s = std::str::from_utf8(&rest[..n]).unwrap_or_default();
                (s, e.error_len().unwrap_or(rest.len() - n))
            }
        };
        for c in valid.chars() {
            if reserved(c).is_some() {
                let mut buf = [0u8; 4];
                for &byte in c.encode_utf8(&mut buf).as_bytes() {
                    escape(&mut out, byte);
                }
            } else {
                out.push(c);
            }
        }
        let at = valid.len();
        for &byte in &rest[at..at + bad] {
            escape(&mut out, byte);
        }
        rest = &rest[at + bad..];
    }
    Cow::Owned(out)
}

/// The bytes `s` stands for: its UTF-8 with every reserved code point replaced by its byte.
/// Borrows when there is none.
pub fn to_bytes(s: &str) -> Cow<'_, [u8]> {
    if !has_raw(s) {
        return Cow::Borrowed(s.as_bytes());
    }
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match reserved(c) {
            Some(b) => out.push(b),
            None => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Cow::Owned(out)
}

/// What Go makes of the bytes `s` stands for when it needs Unicode (`[]rune(s)`,
/// `encoding/json`): each byte that is not part of valid UTF-8 becomes U+FFFD, one per byte
/// (Go's `utf8.DecodeRune` reports width 1 for an invalid byte). Borrows when there is no
/// raw byte.
pub fn to_utf8_lossy(s: &str) -> Cow<'_, str> {
    if !has_raw(s) {
        return Cow::Borrowed(s);
    }
    let bytes = to_bytes(s);
    let mut out = String::with_capacity(bytes.len());
    let mut rest: &[u8] = &bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(v) => {
                out.push_str(v);
                break;
            }
            Err(e) => {
                let n = e.valid_up_to();
                out.push_str(std::str::from_utf8(&rest[..n]).unwrap_or_default());
                let bad = e.error_len().unwrap_or(rest.len() - n);
                for _ in 0..bad {
                    out.push('\u{FFFD}');
                }
                rest = &rest[n + bad..];
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// "磁盘" (disk) in GBK: none of its bytes is part of a UTF-8 character.
    const GBK: &[u8] = &[0xB4, 0xC5, 0xC5, 0xCC];

    #[test]
    fn utf8_is_borrowed_and_unchanged() {
        assert!(matches!(
            from_bytes(b"plain \xC3\xA9"),
            Cow::Borrowed("plain é")
        ));
        assert!(matches!(to_bytes("plain é"), Cow::Borrowed(b) if b == "plain é".as_bytes()));
        assert!(matches!(to_utf8_lossy("é"), Cow::Borrowed("é")));
    }

    #[test]
    fn invalid_bytes_become_one_char_each_and_come_back() {
        let s = from_bytes(GBK);
        assert_eq!(s.chars().count(), 4);
        assert!(s.chars().all(|c| raw_byte(c).is_some()));
        assert_eq!(&*to_bytes(&s), GBK);
        assert_eq!(to_utf8_lossy(&s), "\u{FFFD}".repeat(4));
        // Mixed with ASCII template syntax, which stays visible to the lexer.
        let s = from_bytes(b"{{ .X }}\xB4\xC5");
        assert!(s.starts_with("{{ .X }}"));
        assert_eq!(&*to_bytes(&s), b"{{ .X }}\xB4\xC5");
    }

    #[test]
    fn legacy_bytes_that_happen_to_be_utf8_stay_a_character() {
        // "告警" in GBK is B8 E6 BE AF: B8 cannot start a character, but E6 BE AF is "澯".
        // Go's range over the string sees the same two runes.
        let s = from_bytes(&[0xB8, 0xE6, 0xBE, 0xAF]);
        assert_eq!(s.chars().count(), 2);
        assert!(s.ends_with('澯'));
        assert_eq!(&*to_bytes(&s), &[0xB8, 0xE6, 0xBE, 0xAF]);
        assert_eq!(to_utf8_lossy(&s), "\u{FFFD}澯");
    }

    #[test]
    fn genuine_reserved_characters_are_escaped_losslessly() {
        let input = "a\u{10FF80}b\u{10FFFF}".as_bytes();
        let s = from_bytes(input);
        assert_eq!(s.chars().count(), 2 + 8);
        assert_eq!(&*to_bytes(&s), input);
        // Lossy keeps them: they are valid UTF-8 in the original bytes.
        assert_eq!(to_utf8_lossy(&s), "a\u{10FF80}b\u{10FFFF}");
    }

    #[test]
    fn lossy_is_one_replacement_per_invalid_byte_as_go() {
        // E4 B8 is a truncated 3-byte sequence: Go's DecodeRune gives two RuneErrors.
        let s = from_bytes(b"\xE4\xB8x\xFF");
        assert_eq!(to_utf8_lossy(&s), "\u{FFFD}\u{FFFD}x\u{FFFD}");
    }

    proptest! {
        #[test]
        fn round_trip(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let s = from_bytes(&b);
            prop_assert_eq!(&*to_bytes(&s), &b[..]);
            // Without genuine reserved characters (F4 8F BE/BF ..), lossy replaces each
            // escaped byte by one U+FFFD: as many chars as the decoded string.
            let genuine = b.windows(3).any(|w| w == [0xF4, 0x8F, 0xBE] || w == [0xF4, 0x8F, 0xBF]);
            if !genuine {
                let lossy = to_utf8_lossy(&s);
                prop_assert_eq!(lossy.chars().count(), s.chars().count());
                prop_assert!(!has_raw(&lossy));
            }
        }

        #[test]
        fn round_trip_with_reserved_characters(
            parts in proptest::collection::vec(
                prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..8),
                    (0x10FF80u32..=0x10FFFF).prop_map(|c| char::from_u32(c).map(|c| c.to_string().into_bytes()).unwrap_or_default()),
                    Just(vec![0xF4, 0x8F, 0xBE]),
                ],
                0..12,
            )
        ) {
            let b: Vec<u8> = parts.concat();
            let s = from_bytes(&b);
            prop_assert_eq!(&*to_bytes(&s), &b[..]);
            // Re-decoding the mapped-back bytes gives the same string.
            let back = to_bytes(&s);
            prop_assert_eq!(from_bytes(&back), s.clone());
            // A valid UTF-8 input maps to itself when lossy.
            if let Ok(u) = std::str::from_utf8(&b) {
                prop_assert_eq!(to_utf8_lossy(&s), u);
            }
        }
    }
}
