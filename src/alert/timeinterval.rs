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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> SystemTime {
        let ts: Timestamp = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        SystemTime::from(ts)
    }

    fn r(begin: i32, end: i32) -> InclusiveRange {
        InclusiveRange { begin, end }
    }

    fn check(spec: &TimeIntervalSpec, valid: &[&str], invalid: &[&str]) {
        for v in valid {
            assert!(spec.contains(t(v)), "{v} should be inside {spec:?}");
        }
        for v in invalid {
            assert!(!spec.contains(t(v)), "{v} should be outside {spec:?}");
        }
    }

    /// Ported from upstream's `TestContainsTime` table.
    #[test]
    fn contains_time_upstream_table() {
        // Empty spec: always.
        check(
            &TimeIntervalSpec::default(),
            &[
                "2006-01-02T15:04:00Z",
                "2007-01-03T10:04:00Z",
                "2006-01-04T09:04:00Z",
            ],
            &[],
        );
        // 9am to 5pm, Monday to Friday.
        let office = TimeIntervalSpec {
            times: Some(vec![TimeRange {
                start_minute: 540,
                end_minute: 1020,
            }]),
            weekdays: Some(vec![r(1, 5)]),
            ..Default::default()
        };
        check(
            &office,
            &[
                "2020-05-04T15:04:00Z",
                "2020-05-05T10:04:00Z",
                "2020-06-09T09:04:00Z",
            ],
            &[
                "2020-05-03T15:04:00Z",
                "2020-05-04T08:59:00Z",
                "2020-05-05T05:00:00Z",
                "2020-05-05T17:00:00Z",
            ],
        );
        // Easter 2020.
        check(
            &TimeIntervalSpec {
                days_of_month: Some(vec![r(4, 6)]),
                months: Some(vec![r(4, 4)]),
                years: Some(vec![r(2020, 2020)]),
                ..Default::default()
            },
            &[
                "2020-04-04T15:04:00Z",
                "2020-04-05T00:00:00Z",
                "2020-04-06T23:05:00Z",
            ],
            &[
                "2018-05-03T15:04:00Z",
                "2020-04-03T23:59:00Z",
                "2020-06-04T23:59:00Z",
                "2019-04-06T23:59:00Z",
                "2020-04-07T00:00:00Z",
            ],
        );
        // Negative days of month: the last three days of each month.
        check(
            &TimeIntervalSpec {
                days_of_month: Some(vec![r(-3, -1)]),
                ..Default::default()
            },
            &[
                "2020-01-31T15:04:00Z",
                "2020-01-30T15:04:00Z",
                "2020-01-29T15:04:00Z",
                "2020-06-30T00:00:00Z",
                "2020-02-29T23:05:00Z",
                "2020-02-27T00:00:00Z",
            ],
            &[
                "2020-01-28T15:04:00Z",
                "2020-01-27T23:59:00Z",
                "2020-01-02T23:59:00Z",
                "2020-02-26T23:59:00Z",
                "2020-06-26T23:59:00Z",
            ],
        );
        // Out-of-bound days are clamped to the month.
        check(
            &TimeIntervalSpec {
                months: Some(vec![r(6, 6)]),
                days_of_month: Some(vec![r(-31, 31)]),
                ..Default::default()
            },
            &["2020-06-30T00:00:00Z", "2020-06-01T00:00:00Z"],
            &["2020-05-31T00:00:00Z", "2020-07-01T00:00:00Z"],
        );
        // Another time zone: 9am to 5pm Monday to Friday in Sydney.
        let sydney = TimeIntervalSpec {
            location: Some(parse_location("Australia/Sydney").unwrap()),
            ..office.clone()
        };
        check(
            &sydney,
            &["2021-04-06T13:00:00+10:00"],
            &["2021-04-06T13:00:00Z"],
        );
        // During daylight saving time in Sydney (UTC+11).
        check(
            &sydney,
            &["2021-11-01T09:00:00+11:00", "2021-10-31T22:00:00Z"],
            &["2021-10-31T21:00:00Z"],
        );
    }

    #[test]
    fn dst_transition_in_berlin_uses_local_wall_clock() {
        // 02:00–03:00 local does not exist on 2021-03-28; 01:30 UTC is 03:30 CEST.
        let spec = TimeIntervalSpec {
            times: Some(vec![parse_time_range("03:00", "04:00").unwrap()]),
            location: Some(parse_location("Europe/Berlin").unwrap()),
            ..Default::default()
        };
        check(
            &spec,
            &["2021-03-28T01:30:00Z", "2021-01-10T02:30:00Z"],
            &["2021-03-28T02:30:00Z", "2021-01-10T01:30:00Z"],
        );
    }

    #[test]
    fn interval_is_an_or_of_its_specs() {
        let iv = TimeInterval {
            name: "x".into(),
            specs: vec![
                TimeIntervalSpec {
                    weekdays: Some(vec![parse_weekday_range("saturday").unwrap()]),
                    ..Default::default()
                },
                TimeIntervalSpec {
                    weekdays: Some(vec![parse_weekday_range("Sunday").unwrap()]),
                    ..Default::default()
                },
            ],
        };
        assert!(iv.contains(t("2020-05-02T12:00:00Z"))); // Saturday
        assert!(iv.contains(t("2020-05-03T12:00:00Z"))); // Sunday
        assert!(!iv.contains(t("2020-05-04T12:00:00Z"))); // Monday
        let empty = TimeInterval {
            name: "none".into(),
            specs: vec![],
        };
        assert!(!empty.contains(t("2020-05-04T12:00:00Z")));
    }

    #[test]
    fn field_parsing_and_upstream_errors() {
        assert_eq!(parse_weekday_range("monday:friday"), Ok(r(1, 5)));
        assert_eq!(parse_month_range("may:august"), Ok(r(5, 8)));
        assert_eq!(parse_month_range("1:3"), Ok(r(1, 3)));
        assert_eq!(parse_month_range("December"), Ok(r(12, 12)));
        assert_eq!(parse_day_of_month_range("-3:-1"), Ok(r(-3, -1)));
        assert_eq!(parse_year_range("2020:2022"), Ok(r(2020, 2022)));
        assert_eq!(
            parse_time_range("17:00", "24:00"),
            Ok(TimeRange {
                start_minute: 1020,
                end_minute: 1440
            })
        );
        let errs: &[(Result<InclusiveRange, String>, &str)] = &[
            (
                parse_weekday_range("friday:monday"),
                "start day cannot be before end day",
            ),
            (
                parse_weekday_range("funday"),
                "funday is not a valid weekday",
            ),
            (
                parse_weekday_range("a:b:c"),
                "couldn't parse range a:b:c, invalid format",
            ),
            (
                parse_day_of_month_range("0"),
                "0 is not a valid day of the month: out of range",
            ),
            (
                parse_day_of_month_range("32"),
                "32 is not a valid day of the month: out of range",
            ),
            (
                parse_day_of_month_range("-3:5"),
                "end day must be negative if start day is negative",
            ),
            (
                parse_day_of_month_range("10:1"),
                "end day 1 is always before start day 10",
            ),
            (parse_month_range("foo"), "foo is not a valid month"),
            (
                parse_month_range("august:may"),
                "end month may is before start month august",
            ),
            (
                parse_year_range("2022:2020"),
                "end year 2020 is before start year 2022",
            ),
        ];
        for (got, want) in errs {
            assert_eq!(got.as_ref().unwrap_err(), want);
        }
        assert_eq!(
            parse_time_range("10:00", "09:00").unwrap_err(),
            "start time cannot be equal or greater than end time"
        );
        assert_eq!(
            parse_time_range("", "09:00").unwrap_err(),
            "both start and end times must be provided"
        );
        assert_eq!(
            parse_time_range("25:00", "26:00").unwrap_err(),
            "couldn't parse timestamp 25:00, invalid format"
        );
        assert!(parse_location("Mars/Olympus")
            .unwrap_err()
            .contains("unknown time zone"));
        assert!(parse_location("UTC").is_ok());
        assert!(parse_location("Local").is_ok());
    }
}
