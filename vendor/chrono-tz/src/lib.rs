//! The part of chrono-tz 0.10's API that the `cel` crate uses, backed by jiff's time zone
//! database instead of chrono-tz's compiled-in tables.
//!
//! Why: chrono-tz compiles the whole IANA database into Rust statics, 1.3 MB of blackwatch's
//! binary (mostly relocated `.data.rel.ro`), while blackwatch already embeds the same
//! database once through jiff (`tzdb-bundle-always`, for Alertmanager `time_intervals`).
//! With this adapter patched in, CEL's `timestamp.getHours('Europe/Berlin')` and
//! Alertmanager's `location: Europe/Berlin` read the same data.
//!
//! What `cel` needs, and all this provides: [`Tz`] parsed from an IANA name ([`FromStr`],
//! case-sensitive and without `Local`, as chrono-tz and Go's `time.LoadLocation` on Linux),
//! the [`UTC`] constant, and `chrono::TimeZone` for `Tz`, so `DateTime::with_timezone` works.
//! Everything else of chrono-tz (the zone enum, `OffsetName`, serde) is absent: a crate that
//! needs it fails to compile rather than misbehave.

use std::fmt;
use std::str::FromStr;

use chrono::{
    FixedOffset, MappedLocalTime, NaiveDate, NaiveDateTime, NaiveTime, Offset as _, TimeZone,
};
use jiff::tz::AmbiguousOffset;

/// A time zone of the IANA database.
#[derive(Clone, PartialEq, Eq)]
pub struct Tz(jiff::tz::TimeZone);

/// Coordinated Universal Time.
pub const UTC: Tz = Tz(jiff::tz::TimeZone::UTC);

impl Tz {
    /// The IANA name this zone was parsed from (`"UTC"` for [`UTC`]).
    pub fn name(&self) -> &str {
        self.0.iana_name().unwrap_or("UTC")
    }

    fn offset_at(&self, ts: jiff::Timestamp) -> TzOffset {
        TzOffset::new(self, self.0.to_offset(ts))
    }
}

impl fmt::Debug for Tz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Tz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown time zone name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}' is not a valid timezone", self.0)
    }
}

impl std::error::Error for ParseError {}

impl FromStr for Tz {
    type Err = ParseError;

    fn from_str(name: &str) -> Result<Tz, ParseError> {
        let unknown = || ParseError(name.to_string());
        let tz = jiff::tz::TimeZone::get(name).map_err(|_| unknown())?;
        // jiff looks names up ignoring case; chrono-tz and Go do not.
        if tz.iana_name() != Some(name) {
            return Err(unknown());
        }
        Ok(Tz(tz))
    }
}

/// The offset of a [`Tz`] at one instant, with the zone it came from (chrono's
/// `TimeZone::from_offset` recovers the zone from it).
#[derive(Clone, PartialEq, Eq)]
pub struct TzOffset {
    tz: Tz,
    fixed: FixedOffset,
}

impl TzOffset {
    fn new(tz: &Tz, offset: jiff::tz::Offset) -> TzOffset {
        // jiff's offsets are within ±25:59:59 and chrono's within ±23:59:59; no zone of the
        // database comes near either bound, but clamp rather than panic.
        let secs = offset.seconds().clamp(-86_399, 86_399);
        let fixed = FixedOffset::east_opt(secs).unwrap_or_else(|| chrono::Utc.fix());
        TzOffset {
            tz: tz.clone(),
            fixed,
        }
    }
}

impl fmt::Debug for TzOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}{:?}", self.tz, self.fixed)
    }
}

impl fmt::Display for TzOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.fixed, f)
    }
}

impl chrono::Offset for TzOffset {
    fn fix(&self) -> FixedOffset {
        self.fixed
    }
}

/// `dt` (UTC) as a jiff timestamp, clamped to jiff's range (years -9999 to 9999; chrono's
/// is wider, and the offsets at jiff's ends hold beyond them).
fn timestamp(dt: &NaiveDateTime) -> jiff::Timestamp {
    let secs = dt.and_utc().timestamp();
    let secs = secs.clamp(
        jiff::Timestamp::MIN.as_second(),
        jiff::Timestamp::MAX.as_second(),
    );
    jiff::Timestamp::from_second(secs).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// `dt` as a jiff civil datetime, or `None` outside jiff's years.
fn civil(dt: &NaiveDateTime) -> Option<jiff::civil::DateTime> {
    use chrono::{Datelike, Timelike};
    let year = i16::try_from(dt.year()).ok()?;
    // chrono keeps a leap second as nanoseconds ≥ 1e9; jiff has no leap seconds.
    let nanos = dt.nanosecond().min(999_999_999);
    jiff::civil::DateTime::new(
        year,
        dt.month() as i8,
        dt.day() as i8,
        dt.hour() as i8,
        dt.minute() as i8,
        dt.second() as i8,
        nanos as i32,
    )
    .ok()
}

impl TimeZone for Tz {
    type Offset = TzOffset;

    fn from_offset(offset: &TzOffset) -> Tz {
        offset.tz.clone()
    }

    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> TzOffset {
        self.offset_at(timestamp(utc))
    }

    fn offset_from_utc_date(&self, utc: &NaiveDate) -> TzOffset {
        self.offset_from_utc_datetime(&utc.and_time(NaiveTime::MIN))
    }

    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> MappedLocalTime<TzOffset> {
        let Some(dt) = civil(local) else {
            // Outside jiff's years: the offset at the nearest end of its range.
            return MappedLocalTime::Single(self.offset_from_utc_datetime(local));
        };
        match self.0.to_ambiguous_timestamp(dt).offset() {
            AmbiguousOffset::Unambiguous { offset } => {
                MappedLocalTime::Single(TzOffset::new(self, offset))
            }
            // A local time skipped by a transition (clocks forward) does not exist.
            AmbiguousOffset::Gap { .. } => MappedLocalTime::None,
            // A local time repeated (clocks back): earlier instant first, as chrono orders.
            AmbiguousOffset::Fold { before, after } => {
                MappedLocalTime::Ambiguous(TzOffset::new(self, before), TzOffset::new(self, after))
            }
        }
    }

    fn offset_from_local_date(&self, local: &NaiveDate) -> MappedLocalTime<TzOffset> {
        self.offset_from_local_datetime(&local.and_time(NaiveTime::MIN))
    }
}
