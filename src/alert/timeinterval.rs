//! Named time intervals (`time_intervals:` / `mute_time_intervals:`), as Alertmanager's
//! `timeinterval` package: parsing of each field with upstream's error texts, and
//! [`TimeInterval::contains`] evaluated in the interval's location.
//!
//! Time zones come from jiff's bundled IANA database, so a static binary in a container
//! without `/usr/share/zoneinfo` still knows `Europe/Berlin`; `Local` is the system zone.
//! Nothing here reads the clock: callers pass the flush time.

use std::time::SystemTime;

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// A named set of specs; the interval contains a time if any spec does.
#[derive(Clone, Debug)]
pub struct TimeInterval {
    pub name: String,
    pub specs: Vec<TimeIntervalSpec>,
}

impl TimeInterval {
    /// Whether `t` falls inside any of the specs.
    pub fn contains(&self, t: SystemTime) -> bool {
        self.specs.iter().any(|s| s.contains(t))
    }
}

/// `[start, end)` in minutes of the day (0..=1440).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    pub start_minute: u32,
    pub end_minute: u32,
}

/// An inclusive range of weekdays (0 = Sunday), days of month (negative from the end),
/// months (1..=12) or years.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InclusiveRange {
    pub begin: i32,
    pub end: i32,
}

/// One spec: every present field must match (AND); within a field any range (OR).
#[derive(Clone, Debug, Default)]
pub struct TimeIntervalSpec {
    pub times: Option<Vec<TimeRange>>,
    pub weekdays: Option<Vec<InclusiveRange>>,
    pub days_of_month: Option<Vec<InclusiveRange>>,
    pub months: Option<Vec<InclusiveRange>>,
    pub years: Option<Vec<InclusiveRange>>,
    /// `None` = UTC.
    pub location: Option<TimeZone>,
}

impl TimeIntervalSpec {
    /// Upstream's `ContainsTime`.
    pub fn contains(&self, t: SystemTime) -> bool {
        let Ok(ts) = Timestamp::try_from(t) else {
            return false;
        };
        let tz = self.location.clone().unwrap_or(TimeZone::UTC);
        let dt = ts.to_zoned(tz).datetime();
        if let Some(times) = &self.times {
            let m = dt.hour() as u32 * 60 + dt.minute() as u32;
            if !times
                .iter()
                .any(|r| m >= r.start_minute && m < r.end_minute)
            {
                return false;
            }
        }
        if let Some(days) = &self.days_of_month {
            let dim = i32::from(dt.date().days_in_month());
            let day = i32::from(dt.day());
            let hit = days.iter().any(|r| {
                let begin = if r.begin < 0 {
                    dim + r.begin + 1
                } else {
                    r.begin
                };
                let end = if r.end < 0 { dim + r.end + 1 } else { r.end };
                if begin > dim {
                    return false;
                }
                let begin = begin.clamp(-dim, dim);
                let end = end.clamp(-dim, dim);
                day >= begin && day <= end
            });
            if !hit {
                return false;
            }
        }
        if let Some(months) = &self.months {
            let m = i32::from(dt.month());
            if !months.iter().any(|r| m >= r.begin && m <= r.end) {
                return false;
            }
        }
        if let Some(weekdays) = &self.weekdays {
            let wd = i32::from(dt.weekday().to_sunday_zero_offset());
            if !weekdays.iter().any(|r| wd >= r.begin && wd <= r.end) {
                return false;
            }
        }
        if let Some(years) = &self.years {
            let y = i32::from(dt.year());
            if !years.iter().any(|r| y >= r.begin && y <= r.end) {
                return false;
            }
        }
        true
    }
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Go's `strconv.Atoi` with its error text.
fn atoi(s: &str) -> Result<i32, String> {
    s.parse::<i32>()
        .map_err(|_| format!("strconv.Atoi: parsing {s:?}: invalid syntax"))
}

fn range_from_str(
    input: &str,
    member: impl Fn(&str) -> Result<i32, String>,
) -> Result<InclusiveRange, String> {
    let lower = input.to_lowercase();
    if lower.contains(':') {
        let parts: Vec<&str> = lower.split(':').collect();
        if parts.len() != 2 {
            return Err(format!("couldn't parse range {lower}, invalid format"));
        }
        Ok(InclusiveRange {
            begin: member(parts[0])?,
            end: member(parts[1])?,
        })
    } else {
        let v = member(&lower)?;
        Ok(InclusiveRange { begin: v, end: v })
    }
}

/// `weekdays[i]`: `monday`, `monday:friday`.
pub fn parse_weekday_range(s: &str) -> Result<InclusiveRange, String> {
    let r = range_from_str(s, |m| {
        WEEKDAYS
            .iter()
            .position(|d| *d == m)
            .map(|i| i as i32)
            .ok_or_else(|| format!("{m} is not a valid weekday"))
    })?;
    if r.begin > r.end {
        return Err("start day cannot be before end day".to_string());
    }
    Ok(r)
}

/// `days_of_month[i]`: `1`, `1:5`, `-3:-1`.
pub fn parse_day_of_month_range(s: &str) -> Result<InclusiveRange, String> {
    let r = range_from_str(s, atoi)?;
    for v in [r.begin, r.end] {
        if v == 0 || !(-31..=31).contains(&v) {
            return Err(format!("{v} is not a valid day of the month: out of range"));
        }
    }
    if r.begin < 0 && r.end > 0 {
        return Err("end day must be negative if start day is negative".to_string());
    }
    let check_begin = if r.begin < 0 { 28 + r.begin } else { r.begin };
    let check_end = if r.end < 0 { 28 + r.end } else { r.end };
    if check_begin > check_end {
        return Err(format!(
            "end day {} is always before start day {}",
            r.end, r.begin
        ));
    }
    Ok(r)
}

/// `months[i]`: `may`, `1:3`, `may:august`.
pub fn parse_month_range(s: &str) -> Result<InclusiveRange, String> {
    let r = range_from_str(s, |m| match MONTHS.iter().position(|x| *x == m) {
        Some(i) => Ok(i as i32 + 1),
        None => m
            .parse::<i32>()
            .map_err(|_| format!("{m} is not a valid month")),
    })?;
    for v in [r.begin, r.end] {
        if !(1..=12).contains(&v) {
            return Err(format!("{v} is not a valid month: out of range"));
        }
    }
    if r.begin > r.end {
        return Err(format!(
            "end month {} is before start month {}",
            MONTHS[(r.end - 1) as usize],
            MONTHS[(r.begin - 1) as usize]
        ));
    }
    Ok(r)
}

/// `years[i]`: `2020`, `2020:2022`.
pub fn parse_year_range(s: &str) -> Result<InclusiveRange, String> {
    let r = range_from_str(s, atoi)?;
    if r.begin > r.end {
        return Err(format!(
            "end year {} is before start year {}",
            r.end, r.begin
        ));
    }
    Ok(r)
}

/// `HH:MM` (00:00 to 24:00) → minutes of the day.
fn parse_time_of_day(s: &str) -> Result<u32, String> {
    let bytes = s.as_bytes();
    let valid = s == "24:00"
        || (bytes.len() == 5
            && bytes[2] == b':'
            && bytes[0].is_ascii_digit()
            && bytes[1].is_ascii_digit()
            && bytes[3].is_ascii_digit()
            && bytes[4].is_ascii_digit()
            && (bytes[0] < b'2' || (bytes[0] == b'2' && bytes[1] <= b'3'))
            && bytes[3] <= b'5');
    if !valid {
        return Err(format!("couldn't parse timestamp {s}, invalid format"));
    }
    let h: u32 = s[..2]
        .parse()
        .map_err(|_| format!("invalid timestamp format: {s}"))?;
    let m: u32 = s[3..]
        .parse()
        .map_err(|_| format!("invalid timestamp format: {s}"))?;
    Ok(h * 60 + m)
}

/// `times[i]`: `{start_time, end_time}`.
pub fn parse_time_range(start: &str, end: &str) -> Result<TimeRange, String> {
    if start.is_empty() || end.is_empty() {
        return Err("both start and end times must be provided".to_string());
    }
    let start_minute = parse_time_of_day(start)?;
    let end_minute = parse_time_of_day(end)?;
    if start_minute >= end_minute {
        return Err("start time cannot be equal or greater than end time".to_string());
    }
    Ok(TimeRange {
        start_minute,
        end_minute,
    })
}

/// `location`: an IANA name, `UTC` (or empty) or `Local`.
pub fn parse_location(s: &str) -> Result<TimeZone, String> {
    match s {
        "" | "UTC" => Ok(TimeZone::UTC),
        "Local" => Ok(TimeZone::system()),
        name => TimeZone::get(name).map_err(|_| format!("unknown time zone {name}")),
    }
}
