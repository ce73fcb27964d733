//! Go-compatible scalar syntaxes used in blackbox_exporter configs: `time.ParseDuration`
//! durations (`1m30s`, `1.5s`, `100ms`) and `alecthomas/units` base-2 byte sizes (`1MB` = 1 MiB).
//!
//! Both are serde adapters so the raw config structs can use them with `#[serde(with = ...)]`,
//! and both print back in the same syntax for `/config`.

use std::time::Duration;

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

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
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

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = String::deserialize(d)?;
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

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let s = String::deserialize(d)?;
        parse_base2_bytes(&s).map_err(serde::de::Error::custom)
    }

    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_base2_bytes(*v))
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
}
