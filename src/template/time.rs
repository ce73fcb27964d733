//! Go's `time.Time` and `time.Duration` as template objects: `String()` as Go prints them,
//! `Format` with Go reference layouts, `Unix`, `UTC`, and `Duration.String()`.

use std::any::Any;

use super::value::{Object, Value};

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
            out.push_str(&t.zone);
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
