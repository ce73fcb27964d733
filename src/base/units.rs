//! The scalar syntaxes of Go configs: `time.ParseDuration` durations (`1m30s`, `1.5s`,
//! `100ms`; blackbox_exporter), prometheus/common's `model.Duration` (`1h30m`, `1d`; rule files
//! and alertmanager.yml) and `alecthomas/units` base-2 byte sizes (`1MB` = 1 MiB).
//!
//! Both are serde adapters so the raw config structs can use them with `#[serde(with = ...)]`,
//! and both print back in the same syntax for `/config`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Parses a Go duration string. Accepts the units ns, us, µs, μs, ms, s, m, h, an optional
/// sign, fractions, and several components (`1h2m3.5s`). `0` alone is allowed; a bare number
/// is not, exactly as in Go. Negative durations are rejected because no field accepts them.
pub fn parse_go_duration(input: &str) -> Result<Duration, String> {
    let err = || format!("time: invalid duration \"{input}\"");
    let mut s = input;
    if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    } else if let Some(rest) = s.strip_prefix('-') {
        if rest == "0" {
            return Ok(Duration::ZERO);
        }
        return Err(format!("negative duration \"{input}\" is not allowed"));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(err());
    }
    let mut total: f64 = 0.0;
    while !s.is_empty() {
        let num_len = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let num = &s[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(err());
        }
        let value: f64 = num.parse().map_err(|_| err())?;
        s = &s[num_len..];
        let unit_len = s
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(s.len());
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let nanos_per_unit = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration \"{input}\"")),
            other => {
                return Err(format!(
                    "time: unknown unit \"{other}\" in duration \"{input}\""
                ))
            }
        };
        total += value * nanos_per_unit;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(err());
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// Formats a duration the way Go's `Duration.String` does (`1m30s`, `500ms`, `0s`).
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", trim_float(nanos as f64 / 1e3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim_float(nanos as f64 / 1e6));
    }
    let total_secs = d.as_secs();
    let h = total_secs / 3600;
    let m = (total_secs % 3600) / 60;
    let s = (total_secs % 60) as f64 + f64::from(d.subsec_nanos()) / 1e9;
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{}s", trim_float(s)));
    out
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// Parses an `alecthomas/units` base-2 size: `1KB` and `1KiB` are both 1024 bytes, units are
/// case-sensitive, components may repeat (`1MB512KB`) and `0` alone means zero.
pub fn parse_base2_bytes(input: &str) -> Result<i64, String> {
    let mut s = input;
    let negative = if let Some(rest) = s.strip_prefix('-') {
        s = rest;
        true
    } else {
        s = s.strip_prefix('+').unwrap_or(s);
        false
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(format!("units: invalid {input}"));
    }
    let mut total: f64 = 0.0;
    while !s.is_empty() {
        let num_len = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let num = &s[..num_len];
        let value: f64 = num.parse().map_err(|_| format!("units: invalid {input}"))?;
        s = &s[num_len..];
        let unit_len = s
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(s.len());
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let mult: f64 = match unit {
            "B" => 1.0,
            "KB" | "KiB" => 1024.0,
            "MB" | "MiB" => 1024f64.powi(2),
            "GB" | "GiB" => 1024f64.powi(3),
            "TB" | "TiB" => 1024f64.powi(4),
            "PB" | "PiB" => 1024f64.powi(5),
            "EB" | "EiB" => 1024f64.powi(6),
            other => return Err(format!("units: unknown unit {other} in {input}")),
        };
        total += value * mult;
    }
    // Upstream turns negative or overflowing values into MaxInt64-1: "no limit" in practice.
    if negative || total >= i64::MAX as f64 {
        return Ok(i64::MAX - 1);
    }
    Ok(total as i64)
}

/// Formats a byte count in the largest exact base-2 unit (`1MiB`, `1536B`).
pub fn format_base2_bytes(v: i64) -> String {
    if v == 0 {
        return "0B".to_string();
    }
    for (unit, mult) in [("GiB", 1i64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if v % mult == 0 {
            return format!("{}{unit}", v / mult);
        }
    }
    format!("{v}B")
}

/// Serde adapter for Go durations.
pub mod go_duration {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Null is the zero duration, as Go decodes it without calling the parser.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let Some(s) = Option::<String>::deserialize(d)? else {
            return Ok(Duration::ZERO);
        };
        parse_go_duration(&s).map_err(serde::de::Error::custom)
    }

    pub fn serialize<S: Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_go_duration(*v))
    }
}

/// Serde adapter for optional Go durations.
pub mod opt_go_duration {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Null is no duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let Some(s) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        parse_go_duration(&s)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }

    pub fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.serialize_str(&format_go_duration(*d)),
            None => s.serialize_none(),
        }
    }
}

/// Serde adapter for base-2 byte sizes.
pub mod base2_bytes {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Null is zero bytes, as Go decodes it without calling the parser.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let Some(s) = Option::<String>::deserialize(d)? else {
            return Ok(0);
        };
        parse_base2_bytes(&s).map_err(serde::de::Error::custom)
    }

    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_base2_bytes(*v))
    }
}

/// Why a Prometheus duration did not parse; `Display` is prometheus/common's error text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromDurationError {
    Empty,
    Invalid(String),
    OutOfRange,
}

impl std::fmt::Display for PromDurationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => f.write_str("empty duration string"),
            Self::Invalid(s) => write!(f, "not a valid duration string: {}", super::go::quote(s)),
            Self::OutOfRange => f.write_str("duration out of range"),
        }
    }
}

impl std::error::Error for PromDurationError {}

/// Prometheus duration units, largest first, in milliseconds.
const PROM_UNITS: [(&str, u64); 7] = [
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
];

/// prometheus/common's `model.ParseDuration`: `0`, or integers with the units
/// `y w d h m s ms`, each at most once and largest first (`1h30m`, `90s`, `1d`). The total
/// must fit Go's `time.Duration` (nanoseconds in an `i64`).
pub fn parse_prom_duration(s: &str) -> Result<Duration, PromDurationError> {
    match s {
        "0" => return Ok(Duration::ZERO),
        "" => return Err(PromDurationError::Empty),
        _ => {}
    }
    let invalid = || PromDurationError::Invalid(s.to_string());
    let mut rest = s;
    let mut next_unit = 0;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(invalid());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        // The longest unit that matches: `ms` before `m`.
        let unit = PROM_UNITS
            .iter()
            .enumerate()
            .skip(next_unit)
            .filter(|(_, (u, _))| rest.starts_with(u))
            .max_by_key(|(_, (u, _))| u.len())
            .filter(|(_, (u, _))| !(*u == "m" && rest.starts_with("ms")));
        let Some((idx, (u, ms))) = unit else {
            return Err(invalid());
        };
        rest = &rest[u.len()..];
        next_unit = idx + 1;
        total = n
            .checked_mul(*ms)
            .and_then(|x| total.checked_add(x))
            .filter(|x| *x <= (i64::MAX as u64) / 1_000_000)
            .ok_or(PromDurationError::OutOfRange)?;
    }
    Ok(Duration::from_millis(total))
}

/// prometheus/common's `model.Duration.String()`: `1d2h`, `5m`, `0s`.
pub fn format_prom_duration(d: Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in PROM_UNITS {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// A Prometheus `model.Duration` (`1h30m`, `5m`, `1d`, `0`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PromDuration(pub Duration);

impl<'de> Deserialize<'de> for PromDuration {
    /// Null is the zero duration, as Go decodes it without calling `UnmarshalYAML`.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Some(s) = Option::<String>::deserialize(d)? else {
            return Ok(PromDuration(Duration::ZERO));
        };
        parse_prom_duration(&s)
            .map(PromDuration)
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for PromDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_prom_duration(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_go_syntax() {
        assert_eq!(parse_go_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_go_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_go_duration("10us"), Ok(Duration::from_micros(10)));
        assert!(parse_go_duration("1d").is_err());
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("s").is_err());
        assert!(parse_go_duration("-5s").is_err());
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(format_go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_go_duration(Duration::from_secs(5)), "5s");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
        assert_eq!(format_go_duration(Duration::from_secs(3600)), "1h0m0s");
    }

    #[test]
    fn sizes_are_base2_and_case_sensitive() {
        assert_eq!(parse_base2_bytes("1MB"), Ok(1 << 20));
        assert_eq!(parse_base2_bytes("1KiB"), Ok(1024));
        assert_eq!(parse_base2_bytes("1000B"), Ok(1000));
        assert_eq!(parse_base2_bytes("0"), Ok(0));
        assert_eq!(parse_base2_bytes("1MB512KB"), Ok((1 << 20) + 512 * 1024));
        assert_eq!(parse_base2_bytes("-1B"), Ok(i64::MAX - 1));
        assert_eq!(
            parse_base2_bytes("1000"),
            Err("units: unknown unit  in 1000".to_string())
        );
        assert!(parse_base2_bytes("1kb").is_err());
        assert_eq!(format_base2_bytes(1 << 20), "1MiB");
        assert_eq!(format_base2_bytes(1000), "1000B");
    }

    #[test]
    fn prometheus_durations() {
        let ok = [
            ("0", 0),
            ("0s", 0),
            ("5m", 300_000),
            ("1h30m", 5_400_000),
            ("1d", 86_400_000),
            ("1w", 604_800_000),
            ("1y", 31_536_000_000),
            ("250ms", 250),
            ("1m30s500ms", 90_500),
        ];
        for (s, ms) in ok {
            assert_eq!(parse_prom_duration(s), Ok(Duration::from_millis(ms)), "{s}");
        }
        for s in ["", "5", "1.5h", "5 m", "30s1m", "1mm", "-1s", "1h1h"] {
            assert!(parse_prom_duration(s).is_err(), "{s} should not parse");
        }
        assert_eq!(
            parse_prom_duration("5 minutes").unwrap_err().to_string(),
            r#"not a valid duration string: "5 minutes""#
        );
        assert_eq!(
            parse_prom_duration("").unwrap_err().to_string(),
            "empty duration string"
        );
        assert_eq!(
            parse_prom_duration("300000000y").unwrap_err(),
            PromDurationError::OutOfRange
        );
        for (d, s) in [(0, "0s"), (90_500, "1m30s500ms"), (93_600_000, "1d2h")] {
            assert_eq!(format_prom_duration(Duration::from_millis(d)), s);
            assert_eq!(parse_prom_duration(s), Ok(Duration::from_millis(d)));
        }
    }
}
