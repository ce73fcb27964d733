//! Go's standard-library behaviour that users' files and upstream's outputs depend on:
//! `strconv.Quote` and `Unquote`, `unicode.IsPrint`, `net.SplitHostPort` with its error texts,
//! `strconv.FormatFloat(f, 'g', -1, 64)`, `textproto.CanonicalMIMEHeaderKey`,
//! `base64.StdEncoding` and `url.QueryEscape`.

use std::fmt;

use base64::alphabet;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};

/// Go's `base64.StdEncoding` (RFC 4648 with padding; like Go, decoding ignores non-zero
/// trailing bits). Use it through `base64::Engine`.
pub const BASE64_STD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Go's `url.QueryEscape`: letters, digits and `-_.~` as they are, space as `+`, every
/// other byte as `%XX` (upper-case hex).
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Go's `strconv.Quote` (`%q`): double quotes, the C escapes, `\\x` for other ASCII
/// controls and `\\u`/`\\U` for what Go does not print.
pub fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            '\u{7}' => q.push_str("\\a"),
            '\u{8}' => q.push_str("\\b"),
            '\u{c}' => q.push_str("\\f"),
            '\u{b}' => q.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                q.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if !is_print(c) => {
                if (c as u32) < 0x10000 {
                    q.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    q.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// Go's `unicode.IsPrint`, approximated: not a control, format, separator (other than
/// ASCII space) or private-use character.
pub fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    let u = c as u32;
    !(c.is_control()
        || c.is_whitespace()
        || u == 0xAD
        || (0x200B..=0x200F).contains(&u)
        || (0x2028..=0x202E).contains(&u)
        || (0x2060..=0x206F).contains(&u)
        || u == 0xFEFF
        || (0xE000..=0xF8FF).contains(&u)
        || u >= 0xF0000
        || (0xFFF9..=0xFFFB).contains(&u))
}

/// Why `net.SplitHostPort` refused an address; `Display` is Go's error text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrError {
    pub addr: String,
    pub why: &'static str,
}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "address {}: {}", self.addr, self.why)
    }
}

impl std::error::Error for AddrError {}

/// Go's `net.SplitHostPort`: `host:port` or `[host]:port`, brackets removed. The port may
/// be empty (`host:`), as in Go.
pub fn split_host_port(hostport: &str) -> Result<(&str, &str), AddrError> {
    let err = |why: &'static str| AddrError {
        addr: hostport.to_string(),
        why,
    };
    let Some(i) = hostport.rfind(':') else {
        return Err(err("missing port in address"));
    };
    let (host, j, k);
    if hostport.starts_with('[') {
        let Some(end) = hostport.find(']') else {
            return Err(err("missing ']' in address"));
        };
        if end + 1 == hostport.len() {
            return Err(err("missing port in address"));
        } else if end + 1 != i {
            if hostport.as_bytes()[end + 1] == b':' {
                return Err(err("too many colons in address"));
            }
            return Err(err("missing port in address"));
        }
        host = &hostport[1..end];
        j = 1;
        k = end + 1;
    } else {
        host = &hostport[..i];
        if host.contains(':') {
            return Err(err("too many colons in address"));
        }
        j = 0;
        k = 0;
    }
    if hostport[j..].contains('[') {
        return Err(err("unexpected '[' in address"));
    }
    if hostport[k..].contains(']') {
        return Err(err("unexpected ']' in address"));
    }
    Ok((host, &hostport[i + 1..]))
}

/// Formats a float as Go's `strconv.AppendFloat(f, 'g', -1, 64)`, which client_golang's
/// text encoder uses: shortest round-trip digits, exponent form when the decimal exponent
/// is below -4 or at least 6 (`1.44541248e+09`, `123456`, `1e+06`, `2.137e-05`).
pub fn format_go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rust's `{:e}` gives the same shortest round-trip digits as Go.
    let sci = format!("{v:e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if mantissa.starts_with('-') { "-" } else { "" };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..6).contains(&exp) {
        let mut m = digits[..1].to_string();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.abs())
    } else if exp < 0 {
        let zeros = "0".repeat((-exp - 1) as usize);
        format!("{sign}0.{zeros}{digits}")
    } else {
        let int_len = (exp + 1) as usize;
        if digits.len() <= int_len {
            format!("{sign}{digits}{}", "0".repeat(int_len - digits.len()))
        } else {
            format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
        }
    }
}

/// Go's `textproto.CanonicalMIMEHeaderKey`.
pub fn canonical_header(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        if upper {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        upper = c == '-';
    }
    out
}

/// Go's `strconv.Unquote` for "…" strings and '…' runes.
pub fn unquote(s: &str, q: char) -> Option<String> {
    let inner = s.strip_prefix(q).and_then(|r| r.strip_suffix(q))?;
    let mut out = String::with_capacity(inner.len());
    let mut it = inner.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            if c == q || c == '\n' {
                return None;
            }
            out.push(c);
            continue;
        }
        let e = it.next()?;
        match e {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '\'' if q == '\'' => out.push('\''),
            '"' if q == '"' => out.push('"'),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n).filter_map(|_| it.next()).collect();
                if hex.len() != n {
                    return None;
                }
                let v = u32::from_str_radix(&hex, 16).ok()?;
                // `\x` is a byte in Go; only an ASCII one is valid UTF-8 on its own.
                out.push(char::from_u32(v)?);
            }
            '0'..='7' => {
                let mut oct = String::from(e);
                for _ in 0..2 {
                    oct.push(it.next()?);
                }
                let v = u32::from_str_radix(&oct, 8).ok()?;
                if v > 255 {
                    return None;
                }
                out.push(char::from_u32(v)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_host_port_matches_go() {
        let ok = |s: &str, h: &str, p: &str| assert_eq!(split_host_port(s), Ok((h, p)), "{s}");
        ok("127.0.0.1:80", "127.0.0.1", "80");
        ok("[::1]:22", "::1", "22");
        ok("localhost:", "localhost", "");
        ok(":80", "", "80");
        let err = |s: &str, why: &str| {
            assert_eq!(
                split_host_port(s).map_err(|e| e.to_string()),
                Err(format!("address {s}: {why}")),
                "{s}"
            )
        };
        err("127.0.0.1", "missing port in address");
        err("::1", "too many colons in address");
        err("::1:80", "too many colons in address");
        err("[::1]", "missing port in address");
        err("[::1]:80:1", "too many colons in address");
        err("[::1", "missing ']' in address");
        err("a]:80", "unexpected ']' in address");
    }
}
