//! Go's `time.Time` and `time.Duration` as template objects: `String()` as Go prints them,
//! `Format` with Go reference layouts, `Unix`, `UTC`, and `Duration.String()`; and Go's
//! `time.ParseInLocation(layout, value, time.UTC)` with its error texts ([`parse_in_utc`]).

use std::any::Any;

use super::value::{JsonRepr, Object, Value};

/// An instant with a fixed zone (UTC unless `In`/`tz` says otherwise).
#[derive(Clone, Debug, PartialEq)]
pub struct GoTime {
    /// Seconds since the Unix epoch.
    pub secs: i64,
    pub nanos: u32,
    /// Zone offset east of UTC, seconds.
    pub offset: i32,
    /// Zone abbreviation (`UTC`, `CET`, …).
    pub zone: String,
    /// Go's `*time.Time` (Prometheus' `toTime`) vs `time.Time` (Alertmanager fields).
    pub pointer: bool,
}

impl GoTime {
    pub fn utc(secs: i64, nanos: u32) -> Self {
        GoTime {
            secs,
            nanos,
            offset: 0,
            zone: "UTC".to_string(),
            pointer: false,
        }
    }

    /// From a `SystemTime` (UTC).
    pub fn from_system(t: std::time::SystemTime) -> Self {
        match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => GoTime::utc(d.as_secs() as i64, d.subsec_nanos()),
            Err(e) => {
                let d = e.duration();
                let mut secs = -(d.as_secs() as i64);
                let mut nanos = d.subsec_nanos();
                if nanos > 0 {
                    secs -= 1;
                    nanos = 1_000_000_000 - nanos;
                }
                GoTime::utc(secs, nanos)
            }
        }
    }

    pub fn unix_nanos(&self) -> i128 {
        i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos)
    }

    /// Civil fields in the time's zone.
    fn civil(&self) -> Civil {
        let local = self.secs + i64::from(self.offset);
        let days = local.div_euclid(86_400);
        let sod = local.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        Civil {
            year: y,
            month: m,
            day: d,
            hour: (sod / 3600) as u32,
            min: ((sod / 60) % 60) as u32,
            sec: (sod % 60) as u32,
            weekday: ((days + 4).rem_euclid(7)) as usize,
            yday: (days - days_from_civil(y, 1, 1) + 1) as u32,
        }
    }

    /// Go's `t.In(time.LoadLocation(name))`: "" and "UTC" are UTC, "Local" the system zone,
    /// anything else an IANA name from the time zone database.
    pub fn in_zone(&self, name: &str) -> Result<GoTime, String> {
        let unknown = || format!("unknown time zone {name}");
        let tz = match name {
            "" | "UTC" => jiff::tz::TimeZone::UTC,
            "Local" => jiff::tz::TimeZone::system(),
            _ => jiff::tz::TimeZone::get(name).map_err(|_| unknown())?,
        };
        let ts = jiff::Timestamp::new(self.secs, self.nanos as i32).map_err(|_| unknown())?;
        let info = tz.to_offset_info(ts);
        Ok(GoTime {
            offset: info.offset().seconds(),
            zone: match name {
                "" | "UTC" => "UTC".to_string(),
                _ => info.abbreviation().to_string(),
            },
            pointer: false,
            ..self.clone()
        })
    }

    /// Go's `Time.Format(layout)`.
    pub fn format(&self, layout: &str) -> String {
        format_layout(self, layout)
    }
}

struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    weekday: usize,
    yday: u32,
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Go's `Time.Format`: one `match` over layout elements, as `appendFormat` has it.
fn format_layout(t: &GoTime, layout: &str) -> String {
    let c = t.civil();
    let mut out = String::with_capacity(layout.len() + 8);
    let mut rest = layout;
    let h12 = match c.hour % 12 {
        0 => 12,
        h => h,
    };
    while let Some(ch) = rest.chars().next() {
        let take = |tok: &str| rest.starts_with(tok);
        let mut adv = ch.len_utf8();
        if take("January") {
            out.push_str(MONTHS[c.month as usize - 1]);
            adv = 7;
        } else if take("Jan") {
            out.push_str(&MONTHS[c.month as usize - 1][..3]);
            adv = 3;
        } else if take("Monday") {
            out.push_str(DAYS[c.weekday]);
            adv = 6;
        } else if take("Mon") {
            out.push_str(&DAYS[c.weekday][..3]);
            adv = 3;
        } else if take("MST") {
            if t.zone.is_empty() {
                // A zone without a name (a parsed numeric offset) prints as -0700.
                let a = t.offset.unsigned_abs() / 60;
                out.push(if t.offset < 0 { '-' } else { '+' });
                out.push_str(&format!("{:02}{:02}", a / 60, a % 60));
            } else {
                out.push_str(&t.zone);
            }
            adv = 3;
        } else if take("2006") {
            out.push_str(&format!("{:04}", c.year));
            adv = 4;
        } else if take("002") {
            out.push_str(&format!("{:03}", c.yday));
            adv = 3;
        } else if take("01") {
            out.push_str(&format!("{:02}", c.month));
            adv = 2;
        } else if take("02") {
            out.push_str(&format!("{:02}", c.day));
            adv = 2;
        } else if take("03") {
            out.push_str(&format!("{h12:02}"));
            adv = 2;
        } else if take("04") {
            out.push_str(&format!("{:02}", c.min));
            adv = 2;
        } else if take("05") {
            out.push_str(&format!("{:02}", c.sec));
            adv = 2;
        } else if take("06") {
            out.push_str(&format!("{:02}", c.year.rem_euclid(100)));
            adv = 2;
        } else if take("15") {
            out.push_str(&format!("{:02}", c.hour));
            adv = 2;
        } else if take("_2") {
            out.push_str(&format!("{:>2}", c.day));
            adv = 2;
        } else if take("PM") {
            out.push_str(if c.hour >= 12 { "PM" } else { "AM" });
            adv = 2;
        } else if take("pm") {
            out.push_str(if c.hour >= 12 { "pm" } else { "am" });
            adv = 2;
        } else if let Some((n, colon, secs, z)) = zone_token(rest) {
            if z && t.offset == 0 {
                out.push('Z');
            } else {
                let off = t.offset;
                out.push(if off < 0 { '-' } else { '+' });
                let a = off.unsigned_abs();
                out.push_str(&format!("{:02}", a / 3600));
                if n >= 2 {
                    if colon {
                        out.push(':');
                    }
                    out.push_str(&format!("{:02}", (a / 60) % 60));
                }
                if secs {
                    if colon {
                        out.push(':');
                    }
                    out.push_str(&format!("{:02}", a % 60));
                }
            }
            adv = n_len(rest);
        } else if (ch == '.' || ch == ',')
            && rest[1..].starts_with(['0', '9'])
            && frac_token(rest).is_some()
        {
            let (len, nines) = frac_token(rest).unwrap_or((0, false));
            let digits = format!("{:09}", t.nanos);
            let mut d = digits[..len.min(9)].to_string();
            if nines {
                while d.ends_with('0') {
                    d.pop();
                }
                if !d.is_empty() {
                    out.push(ch);
                    out.push_str(&d);
                }
            } else {
                out.push(ch);
                out.push_str(&d);
            }
            adv = len + 1;
        } else if ch == '1' {
            out.push_str(&c.month.to_string());
        } else if ch == '2' {
            out.push_str(&c.day.to_string());
        } else if ch == '3' {
            out.push_str(&h12.to_string());
        } else if ch == '4' {
            out.push_str(&c.min.to_string());
        } else if ch == '5' {
            out.push_str(&c.sec.to_string());
        } else {
            out.push(ch);
        }
        rest = &rest[adv..];
    }
    out
}

/// Zone tokens: returns (parts, colon, with seconds, Z-form).
fn zone_token(s: &str) -> Option<(usize, bool, bool, bool)> {
    const TOKS: [(&str, usize, bool, bool, bool); 10] = [
        ("Z07:00:00", 3, true, true, true),
        ("-07:00:00", 3, true, true, false),
        ("Z070000", 3, false, true, true),
        ("-070000", 3, false, true, false),
        ("Z07:00", 2, true, false, true),
        ("-07:00", 2, true, false, false),
        ("Z0700", 2, false, false, true),
        ("-0700", 2, false, false, false),
        ("Z07", 1, false, false, true),
        ("-07", 1, false, false, false),
    ];
    TOKS.iter()
        .find(|(t, ..)| s.starts_with(t))
        .map(|(_, n, c, sec, z)| (*n, *c, *sec, *z))
}

fn n_len(s: &str) -> usize {
    const TOKS: [&str; 10] = [
        "Z07:00:00",
        "-07:00:00",
        "Z070000",
        "-070000",
        "Z07:00",
        "-07:00",
        "Z0700",
        "-0700",
        "Z07",
        "-07",
    ];
    TOKS.iter()
        .find(|t| s.starts_with(*t))
        .map_or(1, |t| t.len())
}

/// `.000`/`.999` runs not followed by a digit: (digit count, trims zeros).
fn frac_token(s: &str) -> Option<(usize, bool)> {
    let b = s.as_bytes();
    let d = *b.get(1)?;
    if d != b'0' && d != b'9' {
        return None;
    }
    let mut n = 1;
    while b.get(1 + n) == Some(&d) {
        n += 1;
    }
    if b.get(1 + n).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some((n, d == b'9'))
}

impl Object for GoTime {
    fn type_name(&self) -> String {
        if self.pointer {
            "*time.Time"
        } else {
            "time.Time"
        }
        .to_string()
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let r = match name {
            "Format" => match args {
                [Value::String(l)] => Ok(Value::from(self.format(l))),
                _ => Err(format!(
                    "wrong number of args for Format: want 1 got {}",
                    args.len()
                )),
            },
            "String" => Ok(Value::from(self.to_string())),
            "Unix" => Ok(Value::Int(self.secs)),
            "UnixMilli" => Ok(Value::Int(
                (self.unix_nanos() / 1_000_000).clamp(i64::MIN as i128, i64::MAX as i128) as i64,
            )),
            "UnixNano" => Ok(Value::Int(
                self.unix_nanos().clamp(i64::MIN as i128, i64::MAX as i128) as i64,
            )),
            "UTC" => Ok(Value::Object(std::sync::Arc::new(GoTime {
                offset: 0,
                zone: "UTC".into(),
                pointer: false,
                ..self.clone()
            }))),
            "Local" => self
                .in_zone("Local")
                .map(|t| Value::Object(std::sync::Arc::new(t))),
            "Year" => Ok(Value::Int(self.civil().year)),
            "Day" => Ok(Value::Int(i64::from(self.civil().day))),
            "Hour" => Ok(Value::Int(i64::from(self.civil().hour))),
            "Minute" => Ok(Value::Int(i64::from(self.civil().min))),
            "Second" => Ok(Value::Int(i64::from(self.civil().sec))),
            "IsZero" => Ok(Value::Bool(self.secs == -62_135_596_800 && self.nanos == 0)),
            _ => return None,
        };
        Some(r)
    }

    fn string(&self) -> Option<String> {
        Some(self.to_string())
    }

    /// Go's `Time.MarshalJSON`: RFC 3339 with nanoseconds, years 0–9999 only.
    fn json(&self) -> Option<JsonRepr> {
        let year = self.civil().year;
        Some(if (0..=9999).contains(&year) {
            JsonRepr::Value(Value::from(
                self.format("2006-01-02T15:04:05.999999999Z07:00"),
            ))
        } else {
            JsonRepr::Error("Time.MarshalJSON: year outside of range [0,9999]".into())
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl std::fmt::Display for GoTime {
    /// Go's `Time.String()`: `2006-01-02 15:04:05.999999999 -0700 MST`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.format("2006-01-02 15:04:05.999999999 -0700 MST"))
    }
}

/// Go's `time.Duration` (nanoseconds) as a template object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoDuration {
    pub nanos: i64,
    pub pointer: bool,
}

impl Object for GoDuration {
    fn type_name(&self) -> String {
        if self.pointer {
            "*time.Duration"
        } else {
            "time.Duration"
        }
        .to_string()
    }
    fn method(&self, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        let n = self.nanos;
        let r = match name {
            "String" => Value::from(duration_string(n)),
            "Seconds" => Value::Float(n as f64 / 1e9),
            "Minutes" => Value::Float(n as f64 / 6e10),
            "Hours" => Value::Float(n as f64 / 3.6e12),
            "Milliseconds" => Value::Int(n / 1_000_000),
            "Nanoseconds" => Value::Int(n),
            _ => return None,
        };
        Some(Ok(r))
    }
    fn string(&self) -> Option<String> {
        Some(duration_string(self.nanos))
    }
    fn truth(&self) -> bool {
        self.pointer || self.nanos != 0
    }
    /// An `int64` of nanoseconds, as `encoding/json` writes a `time.Duration`.
    fn json(&self) -> Option<JsonRepr> {
        Some(JsonRepr::Value(Value::Int(self.nanos)))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Go's `Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
pub fn duration_string(d: i64) -> String {
    if d == 0 {
        return "0s".to_string();
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (unit, div) = if u < 1_000 {
            ("ns", 1u64)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&frac(u, div));
        out.push_str(unit);
    } else {
        let secs_total = u / 1_000_000_000;
        let h = secs_total / 3600;
        let m = (secs_total / 60) % 60;
        let s_nanos = u % 60_000_000_000;
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&frac(s_nanos, 1_000_000_000));
        out.push('s');
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

fn frac(v: u64, div: u64) -> String {
    let int = v / div;
    let rem = v % div;
    if rem == 0 {
        return int.to_string();
    }
    let width = div.ilog10() as usize;
    let mut f = format!("{rem:0width$}");
    while f.ends_with('0') {
        f.pop();
    }
    format!("{int}.{f}")
}

// ---- time.ParseInLocation(layout, value, time.UTC), a port of Go's `time/format.go`. ----

/// A layout element (Go's `std*` constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    TZ,
    Iso8601TZ,
    Iso8601SecondsTZ,
    Iso8601ShortTZ,
    Iso8601ColonTZ,
    Iso8601ColonSecondsTZ,
    NumTZ,
    NumSecondsTz,
    NumShortTZ,
    NumColonTZ,
    NumColonSecondsTZ,
    /// `.000` (digits count): exactly that many digits.
    FracSecond0(usize),
    /// `.999`: optional, any number of digits.
    FracSecond9,
}

/// Go's `nextStdChunk`: the first layout element, as (prefix end, element, suffix start);
/// `None` when the layout holds no element.
fn next_std_chunk(l: &[u8]) -> Option<(usize, Std, usize)> {
    let at = |i: usize, s: &str| l.get(i..i + s.len()) == Some(s.as_bytes());
    let lower_at = |i: usize| l.get(i).is_some_and(u8::is_ascii_lowercase);
    let digit_at = |i: usize| l.get(i).is_some_and(u8::is_ascii_digit);
    for i in 0..l.len() {
        let found = match l[i] {
            b'J' if at(i, "Jan") => {
                if at(i, "January") {
                    Some((Std::LongMonth, 7))
                } else if !lower_at(i + 3) {
                    Some((Std::Month, 3))
                } else {
                    None
                }
            }
            b'M' if at(i, "Mon") => {
                if at(i, "Monday") {
                    Some((Std::LongWeekDay, 6))
                } else if !lower_at(i + 3) {
                    Some((Std::WeekDay, 3))
                } else {
                    None
                }
            }
            b'M' if at(i, "MST") => Some((Std::TZ, 3)),
            b'0' if l.get(i + 1).is_some_and(|c| (b'1'..=b'6').contains(c)) => {
                let std = [
                    Std::ZeroMonth,
                    Std::ZeroDay,
                    Std::ZeroHour12,
                    Std::ZeroMinute,
                    Std::ZeroSecond,
                    Std::Year,
                ][usize::from(l[i + 1] - b'1')];
                Some((std, 2))
            }
            b'0' if at(i, "002") => Some((Std::ZeroYearDay, 3)),
            b'1' if at(i, "15") => Some((Std::Hour, 2)),
            b'1' => Some((Std::NumMonth, 1)),
            b'2' if at(i, "2006") => Some((Std::LongYear, 4)),
            b'2' => Some((Std::Day, 1)),
            b'_' if at(i, "_2") => {
                if at(i + 1, "2006") {
                    // `_2006` is a literal `_` and the year.
                    return Some((i + 1, Std::LongYear, i + 5));
                }
                Some((Std::UnderDay, 2))
            }
            b'_' if at(i, "__2") => Some((Std::UnderYearDay, 3)),
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if at(i, "PM") => Some((Std::PM, 2)),
            b'p' if at(i, "pm") => Some((Std::Pm, 2)),
            b'-' => [
                ("-070000", Std::NumSecondsTz),
                ("-07:00:00", Std::NumColonSecondsTZ),
                ("-0700", Std::NumTZ),
                ("-07:00", Std::NumColonTZ),
                ("-07", Std::NumShortTZ),
            ]
            .into_iter()
            .find(|(s, _)| at(i, s))
            .map(|(s, std)| (std, s.len())),
            b'Z' => [
                ("Z070000", Std::Iso8601SecondsTZ),
                ("Z07:00:00", Std::Iso8601ColonSecondsTZ),
                ("Z0700", Std::Iso8601TZ),
                ("Z07:00", Std::Iso8601ColonTZ),
                ("Z07", Std::Iso8601ShortTZ),
            ]
            .into_iter()
            .find(|(s, _)| at(i, s))
            .map(|(s, std)| (std, s.len())),
            b'.' | b',' if matches!(l.get(i + 1), Some(b'0' | b'9')) => {
                let ch = l[i + 1];
                let mut j = i + 1;
                while l.get(j) == Some(&ch) {
                    j += 1;
                }
                // The run of digits must end here: only a fractional second is all digits.
                if digit_at(j) {
                    None
                } else if ch == b'0' {
                    Some((Std::FracSecond0(j - (i + 1)), j - i))
                } else {
                    Some((Std::FracSecond9, j - i))
                }
            }
            _ => None,
        };
        if let Some((std, len)) = found {
            return Some((i, std, i + len));
        }
    }
    None
}

/// Go's `time.quote` for parse errors: ASCII as is (with `"` and `\` escaped), every byte
/// of anything else as `\xNN`.
fn time_quote(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for &b in s {
        if !(b' '..0x80).contains(&b) {
            out.push_str(&format!("\\x{b:02x}"));
        } else {
            if b == b'"' || b == b'\\' {
                out.push('\\');
            }
            out.push(char::from(b));
        }
    }
    out.push('"');
    out
}

/// Go's `getnum`: one or two digits (`fixed`: exactly two).
fn getnum(s: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    let d = |i: usize| {
        s.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| i64::from(c - b'0'))
    };
    let first = d(0)?;
    match d(1) {
        Some(second) => Some((first * 10 + second, &s[2..])),
        None if fixed => None,
        None => Some((first, &s[1..])),
    }
}

/// Go's `getnum3`: one to three digits (`fixed`: exactly three).
fn getnum3(s: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    let n = s.iter().take(3).take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || (fixed && n != 3) {
        return None;
    }
    let v = s[..n].iter().fold(0, |a, c| a * 10 + i64::from(c - b'0'));
    Some((v, &s[n..]))
}

/// Go's `time.atoi`: an optional sign and digits, all of `s`.
fn atoi(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (x, rest) = leading_int(digits)?;
    if !rest.is_empty() {
        return None;
    }
    let x = i64::try_from(x).ok()?;
    Some(if neg { -x } else { x })
}

/// Go's `leadingInt`: the leading digits (possibly none) as a number, `None` on overflow.
fn leading_int(s: &[u8]) -> Option<(u64, &[u8])> {
    let mut x: u64 = 0;
    let mut i = 0;
    while let Some(c) = s.get(i).filter(|c| c.is_ascii_digit()) {
        if x > (1 << 63) / 10 {
            return None;
        }
        x = x * 10 + u64::from(c - b'0');
        if x > 1 << 63 {
            return None;
        }
        i += 1;
    }
    Some((x, &s[i..]))
}

/// Go's `parseNanoseconds`: `value[0]` is the separator, then `nbytes - 1` digits.
fn parse_nanoseconds(value: &[u8], nbytes: usize) -> Result<i64, Option<&'static str>> {
    if !matches!(value.first(), Some(b'.' | b',')) {
        return Err(None);
    }
    let nbytes = nbytes.min(10);
    let mut ns = atoi(value.get(1..nbytes).ok_or(None)?).ok_or(None)?;
    if ns < 0 {
        return Err(Some("fractional second"));
    }
    for _ in nbytes..10 {
        ns *= 10;
    }
    Ok(ns)
}

/// Go's `parseTimeZone`: the length of a zone abbreviation at the start of `v`.
fn parse_time_zone(v: &[u8]) -> Option<usize> {
    if v.len() < 3 {
        return None;
    }
    if v.starts_with(b"ChST") || v.starts_with(b"MeST") {
        return Some(4);
    }
    if v.starts_with(b"GMT") {
        return Some(3 + parse_signed_offset(&v[3..]));
    }
    if v[0] == b'+' || v[0] == b'-' {
        let n = parse_signed_offset(v);
        return (n > 0).then_some(n);
    }
    let upper = v
        .iter()
        .take(6)
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    match upper {
        5 if v[4] == b'T' => Some(5),
        4 if v[3] == b'T' || v.starts_with(b"WITA") => Some(4),
        3 => Some(3),
        _ => None,
    }
}

/// Go's `parseSignedOffset`: `+N`/`-N` with N in 0..=23, else 0.
fn parse_signed_offset(v: &[u8]) -> usize {
    if !matches!(v.first(), Some(b'+' | b'-')) {
        return 0;
    }
    match leading_int(&v[1..]) {
        Some((x, rest)) if rest.len() < v.len() - 1 && x <= 23 => v.len() - rest.len(),
        _ => 0,
    }
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in(month: i64, year: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days before the first of `month` in a non-leap year (Go's `daysBefore`).
fn days_before(month: i64) -> i64 {
    (1..month).map(|m| days_in(m, 1)).sum()
}

/// Go's `time.ParseInLocation(layout, value, time.UTC)` (what Alertmanager's `toDate` and
/// `mustToDate` call), with Go's `*time.ParseError` texts. Works on the bytes the strings
/// stand for (see `base::gostr`), as Go does.
pub fn parse_in_utc(layout: &str, value: &str) -> Result<GoTime, String> {
    let layout_b = crate::base::gostr::to_bytes(layout);
    let value_b = crate::base::gostr::to_bytes(value);
    let (alayout, avalue): (&[u8], &[u8]) = (&layout_b, &value_b);
    let err_elem = |layout_elem: &[u8], value_elem: &[u8]| {
        format!(
            "parsing time {} as {}: cannot parse {} as {}",
            time_quote(avalue),
            time_quote(alayout),
            time_quote(value_elem),
            time_quote(layout_elem)
        )
    };
    let err_msg = |msg: &str| format!("parsing time {}{msg}", time_quote(avalue));

    let mut layout = alayout;
    let mut value = avalue;
    let (mut am_set, mut pm_set) = (false, false);
    let (mut year, mut month, mut day, mut yday) = (0i64, -1i64, -1i64, -1i64);
    let (mut hour, mut min, mut sec, mut nsec) = (0i64, 0i64, 0i64, 0i64);
    let mut utc = false;
    let mut zone_offset: Option<i64> = None;
    let mut zone_name: &[u8] = b"";

    loop {
        let chunk = next_std_chunk(layout);
        let (prefix, std, stdstr, suffix) = match chunk {
            Some((p, std, s)) => (&layout[..p], Some(std), &layout[p..s], &layout[s..]),
            None => (
                layout,
                None,
                &layout[layout.len()..],
                &layout[layout.len()..],
            ),
        };
        value = skip(value, prefix).map_err(|at| err_elem(prefix, at))?;
        let Some(std) = std else {
            if !value.is_empty() {
                return Err(err_msg(&format!(": extra text: {}", time_quote(value))));
            }
            break;
        };
        layout = suffix;
        let hold = value;
        let mut range_err: Option<&str> = None;
        let ok: Option<()> = (|| {
            match std {
                Std::Year => {
                    let p = value.get(..2)?;
                    value = &value[2..];
                    year = atoi(p)?;
                    year += if year >= 69 { 1900 } else { 2000 };
                }
                Std::LongYear => {
                    if value.len() < 4 || !value[0].is_ascii_digit() {
                        return None;
                    }
                    let p = &value[..4];
                    value = &value[4..];
                    year = atoi(p)?;
                }
                Std::Month | Std::LongMonth => {
                    let names: Vec<&str> = if std == Std::Month {
                        MONTHS.iter().map(|m| &m[..3]).collect()
                    } else {
                        MONTHS.to_vec()
                    };
                    let (i, rest) = lookup(&names, value)?;
                    month = i as i64 + 1;
                    value = rest;
                }
                Std::NumMonth | Std::ZeroMonth => {
                    let (m, rest) = getnum(value, std == Std::ZeroMonth)?;
                    month = m;
                    value = rest;
                    if !(1..=12).contains(&month) {
                        range_err = Some("month");
                    }
                }
                Std::WeekDay | Std::LongWeekDay => {
                    let names: Vec<&str> = if std == Std::WeekDay {
                        DAYS.iter().map(|d| &d[..3]).collect()
                    } else {
                        DAYS.to_vec()
                    };
                    value = lookup(&names, value)?.1;
                }
                Std::Day | Std::UnderDay | Std::ZeroDay => {
                    if std == Std::UnderDay && value.first() == Some(&b' ') {
                        value = &value[1..];
                    }
                    let (d, rest) = getnum(value, std == Std::ZeroDay)?;
                    day = d;
                    value = rest;
                }
                Std::UnderYearDay | Std::ZeroYearDay => {
                    for _ in 0..2 {
                        if std == Std::UnderYearDay && value.first() == Some(&b' ') {
                            value = &value[1..];
                        }
                    }
                    let (d, rest) = getnum3(value, std == Std::ZeroYearDay)?;
                    yday = d;
                    value = rest;
                }
                Std::Hour => {
                    let (h, rest) = getnum(value, false)?;
                    hour = h;
                    value = rest;
                    if !(0..24).contains(&hour) {
                        range_err = Some("hour");
                    }
                }
                Std::Hour12 | Std::ZeroHour12 => {
                    let (h, rest) = getnum(value, std == Std::ZeroHour12)?;
                    hour = h;
                    value = rest;
                    if !(0..=12).contains(&hour) {
                        range_err = Some("hour");
                    }
                }
                Std::Minute | Std::ZeroMinute => {
                    let (m, rest) = getnum(value, std == Std::ZeroMinute)?;
                    min = m;
                    value = rest;
                    if !(0..60).contains(&min) {
                        range_err = Some("minute");
                    }
                }
                Std::Second | Std::ZeroSecond => {
                    let (s, rest) = getnum(value, std == Std::ZeroSecond)?;
                    sec = s;
                    value = rest;
                    if !(0..60).contains(&sec) {
                        range_err = Some("second");
                        return Some(());
                    }
                    // A fractional second in the value but not in the layout.
                    if value.len() >= 2
                        && matches!(value[0], b'.' | b',')
                        && value[1].is_ascii_digit()
                    {
                        if let Some((_, Std::FracSecond0(_) | Std::FracSecond9, _)) =
                            next_std_chunk(layout)
                        {
                            return Some(());
                        }
                        let n = 2 + value[2..].iter().take_while(|c| c.is_ascii_digit()).count();
                        let r = parse_nanoseconds(value, n);
                        value = &value[n..];
                        match r {
                            Ok(ns) => nsec = ns,
                            Err(Some(e)) => range_err = Some(e),
                            Err(None) => return None,
                        }
                    }
                }
                Std::PM | Std::Pm => {
                    let p = value.get(..2)?;
                    value = &value[2..];
                    let (pm, am): (&[u8], &[u8]) = if std == Std::PM {
                        (b"PM", b"AM")
                    } else {
                        (b"pm", b"am")
                    };
                    if p == pm {
                        pm_set = true;
                    } else if p == am {
                        am_set = true;
                    } else {
                        return None;
                    }
                }
                Std::Iso8601TZ
                | Std::Iso8601ShortTZ
                | Std::Iso8601ColonTZ
                | Std::Iso8601SecondsTZ
                | Std::Iso8601ColonSecondsTZ
                | Std::NumTZ
                | Std::NumShortTZ
                | Std::NumColonTZ
                | Std::NumSecondsTz
                | Std::NumColonSecondsTZ => {
                    let iso = matches!(
                        std,
                        Std::Iso8601TZ
                            | Std::Iso8601ShortTZ
                            | Std::Iso8601ColonTZ
                            | Std::Iso8601SecondsTZ
                            | Std::Iso8601ColonSecondsTZ
                    );
                    if iso && value.first() == Some(&b'Z') {
                        value = &value[1..];
                        utc = true;
                        return Some(());
                    }
                    let v = value;
                    let (sign, hh, mm, ss, rest): (u8, &[u8], &[u8], &[u8], &[u8]) = match std {
                        Std::Iso8601ColonTZ | Std::NumColonTZ => {
                            if v.len() < 6 || v[3] != b':' {
                                return None;
                            }
                            (v[0], &v[1..3], &v[4..6], b"00", &v[6..])
                        }
                        Std::NumShortTZ | Std::Iso8601ShortTZ => {
                            if v.len() < 3 {
                                return None;
                            }
                            (v[0], &v[1..3], b"00", b"00", &v[3..])
                        }
                        Std::Iso8601ColonSecondsTZ | Std::NumColonSecondsTZ => {
                            if v.len() < 9 || v[3] != b':' || v[6] != b':' {
                                return None;
                            }
                            (v[0], &v[1..3], &v[4..6], &v[7..9], &v[9..])
                        }
                        Std::Iso8601SecondsTZ | Std::NumSecondsTz => {
                            if v.len() < 7 {
                                return None;
                            }
                            (v[0], &v[1..3], &v[3..5], &v[5..7], &v[7..])
                        }
                        _ => {
                            if v.len() < 5 {
                                return None;
                            }
                            (v[0], &v[1..3], &v[3..5], b"00", &v[5..])
                        }
                    };
                    value = rest;
                    let hr = getnum(hh, true).map(|x| x.0);
                    let m = hr.and_then(|_| getnum(mm, true).map(|x| x.0));
                    let s = m.and_then(|_| getnum(ss, true).map(|x| x.0));
                    let (hr_v, m_v, s_v) = (hr.unwrap_or(0), m.unwrap_or(0), s.unwrap_or(0));
                    if hr_v > 24 {
                        range_err = Some("time zone offset hour");
                    }
                    if m_v > 60 {
                        range_err = Some("time zone offset minute");
                    }
                    if s_v > 60 {
                        range_err = Some("time zone offset second");
                    }
                    let off = (hr_v * 60 + m_v) * 60 + s_v;
                    zone_offset = Some(match sign {
                        b'+' => off,
                        b'-' => -off,
                        _ => return None,
                    });
                    s?;
                }
                Std::TZ => {
                    if value.starts_with(b"UTC") {
                        utc = true;
                        value = &value[3..];
                        return Some(());
                    }
                    let n = parse_time_zone(value)?;
                    zone_name = &value[..n];
                    value = &value[n..];
                }
                Std::FracSecond0(digits) => {
                    let n = 1 + digits;
                    if value.len() < n {
                        return None;
                    }
                    let r = parse_nanoseconds(value, n);
                    value = &value[n..];
                    match r {
                        Ok(ns) => nsec = ns,
                        Err(Some(e)) => range_err = Some(e),
                        Err(None) => return None,
                    }
                }
                Std::FracSecond9 => {
                    if value.len() < 2
                        || !matches!(value[0], b'.' | b',')
                        || !value[1].is_ascii_digit()
                    {
                        // The fractional second is omitted.
                        return Some(());
                    }
                    let i = value[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                    let r = parse_nanoseconds(value, 1 + i);
                    value = &value[1 + i..];
                    match r {
                        Ok(ns) => nsec = ns,
                        Err(Some(e)) => range_err = Some(e),
                        Err(None) => return None,
                    }
                }
            }
            Some(())
        })();
        if let Some(r) = range_err {
            return Err(format!(
                "parsing time {}: {r} out of range",
                time_quote(avalue)
            ));
        }
        if ok.is_none() {
            return Err(err_elem(stdstr, hold));
        }
    }
    if pm_set && hour < 12 {
        hour += 12;
    } else if am_set && hour == 12 {
        hour = 0;
    }
    if yday >= 0 {
        let (mut m, mut d) = (0, 0);
        if is_leap(year) {
            if yday == 31 + 29 {
                m = 2;
                d = 29;
            } else if yday > 31 + 29 {
                yday -= 1;
            }
        }
        if !(1..=365).contains(&yday) {
            return Err(err_msg(": day-of-year out of range"));
        }
        if m == 0 {
            m = (yday - 1) / 31 + 1;
            if days_before(m + 1) < yday {
                m += 1;
            }
            d = yday - days_before(m);
        }
        if month >= 0 && month != m {
            return Err(err_msg(": day-of-year does not match month"));
        }
        month = m;
        if day >= 0 && day != d {
            return Err(err_msg(": day-of-year does not match day"));
        }
        day = d;
    } else {
        if month < 0 {
            month = 1;
        }
        if day < 0 {
            day = 1;
        }
    }
    if day < 1 || day > days_in(month, year) {
        return Err(err_msg(": day out of range"));
    }
    // The clock reading as if in UTC (Go's `Date(…, UTC)`); all fields are in range here.
    let clock =
        days_from_civil(year, month as u32, day as u32) * 86_400 + hour * 3600 + min * 60 + sec;
    let nanos = nsec as u32;
    let zone = |name: &[u8]| String::from(crate::base::gostr::from_bytes(name));
    if utc {
        return Ok(GoTime::utc(clock, nanos));
    }
    if let Some(off) = zone_offset {
        let secs = clock - off;
        // The location is UTC: an offset of 0 without another zone name is UTC itself.
        if off == 0 && (zone_name.is_empty() || zone_name == b"UTC") {
            return Ok(GoTime::utc(secs, nanos));
        }
        return Ok(GoTime {
            secs,
            nanos,
            offset: off as i32,
            zone: zone(zone_name),
            pointer: false,
        });
    }
    if !zone_name.is_empty() {
        // An abbreviation UTC does not know: a fabricated zone, the clock reading kept
        // as UTC's, the offset only from `GMT+N` (Go's behaviour).
        let mut offset = 0;
        if zone_name.len() > 3 && zone_name.starts_with(b"GMT") {
            offset = atoi(&zone_name[3..]).unwrap_or(0) * 3600;
        }
        return Ok(GoTime {
            secs: clock,
            nanos,
            offset: offset as i32,
            zone: zone(zone_name),
            pointer: false,
        });
    }
    Ok(GoTime::utc(clock, nanos))
}

/// Go's `skip`: removes `prefix` from `value`, a run of spaces matching any run of spaces.
/// On a mismatch, the rest of `value` from there (which Go's error quotes).
fn skip<'a>(mut value: &'a [u8], mut prefix: &[u8]) -> Result<&'a [u8], &'a [u8]> {
    while let Some(&p) = prefix.first() {
        if p == b' ' {
            if value.first().is_some_and(|&c| c != b' ') {
                return Err(value);
            }
            prefix = trim_spaces(prefix);
            value = trim_spaces(value);
            continue;
        }
        if value.first() != Some(&p) {
            return Err(value);
        }
        prefix = &prefix[1..];
        value = &value[1..];
    }
    Ok(value)
}

fn trim_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b' ').count();
    &s[n..]
}

/// Go's `lookup`: the first name `v` starts with, ASCII case-insensitively.
fn lookup<'a>(names: &[&str], v: &'a [u8]) -> Option<(usize, &'a [u8])> {
    names.iter().enumerate().find_map(|(i, n)| {
        let n = n.as_bytes();
        (v.len() >= n.len() && v[..n.len()].eq_ignore_ascii_case(n)).then(|| (i, &v[n.len()..]))
    })
}
