//! The only place that reads clocks. Everything else receives a `Now` (or a value derived
//! from it) as an argument, so timer logic can be tested with paused tokio time.

use std::time::{SystemTime, UNIX_EPOCH};

/// A reading of both clocks at one moment.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    pub mono: tokio::time::Instant,
    pub wall: SystemTime,
}

impl Now {
    pub fn read() -> Self {
        Self {
            mono: tokio::time::Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// Milliseconds since the Unix epoch: the timestamp of stored samples and rule
    /// evaluations.
    pub fn unix_ms(&self) -> i64 {
        unix_ms(self.wall)
    }

    /// Seconds since the Unix epoch, for gauges (`*_timestamp_seconds`).
    pub fn unix_seconds(&self) -> f64 {
        match self.wall.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        }
    }
}

/// Wall time as milliseconds since the Unix epoch (negative before it): the one conversion
/// between the two representations of the wall-clock axis (`SystemTime` in the alert
/// pipeline and the APIs, `i64` milliseconds in the store and the rule engine).
pub fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => duration_ms(d),
        Err(e) => -duration_ms(e.duration()),
    }
}

/// A duration in whole milliseconds on that axis (saturating at `i64::MAX`).
pub fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The inverse of [`unix_ms`].
pub fn from_unix_ms(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + std::time::Duration::from_millis(ms.unsigned_abs())
    } else {
        UNIX_EPOCH - std::time::Duration::from_millis(ms.unsigned_abs())
    }
}

/// The current wall time as RFC 3339 with milliseconds, UTC (`2026-11-21T10:00:00.123Z`).
pub fn rfc3339_now() -> String {
    rfc3339(SystemTime::now())
}

/// Formats a wall time as RFC 3339 with milliseconds, UTC.
pub fn rfc3339(t: SystemTime) -> String {
    let mut out = String::with_capacity(24);
    write_rfc3339(&mut out, t);
    out
}

/// Appends the current wall time as [`rfc3339`] writes it, without allocating (the process
/// log stamps every line with it).
pub fn write_rfc3339_now(out: &mut String) {
    write_rfc3339(out, SystemTime::now());
}

/// Appends `t` as [`rfc3339`] writes it (digits pushed directly: every probe-log line is
/// stamped with it, and `write!` with padded integers cost several times as much).
pub fn write_rfc3339(out: &mut String, t: SystemTime) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let millis = d.subsec_millis();
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, mi, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    // Four-digit years: a clock past 9999 is written as 9999, not widened.
    push_digits(out, year.clamp(0, 9999) as u32, 4);
    out.push('-');
    push_digits(out, month as u32, 2);
    out.push('-');
    push_digits(out, day as u32, 2);
    out.push('T');
    push_digits(out, h as u32, 2);
    out.push(':');
    push_digits(out, mi as u32, 2);
    out.push(':');
    push_digits(out, s as u32, 2);
    out.push('.');
    push_digits(out, millis, 3);
    out.push('Z');
}

/// Appends the last `width` decimal digits of `n`, zero-padded.
fn push_digits(out: &mut String, n: u32, width: u32) {
    for i in (0..width).rev() {
        let digit = (n / 10u32.pow(i)) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_rfc3339() {
        let t = UNIX_EPOCH + Duration::from_millis(1_763_719_200_123);
        assert_eq!(rfc3339(t), "2025-11-21T10:00:00.123Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(253_402_300_799_999);
        assert_eq!(rfc3339(t), "9999-12-31T23:59:59.999Z");
        let t = UNIX_EPOCH + Duration::from_millis(951_825_600_007);
        assert_eq!(rfc3339(t), "2000-02-29T12:00:00.007Z");
    }

    #[test]
    fn unix_ms_round_trips_on_both_sides_of_the_epoch() {
        for ms in [0, 1, 1_763_719_200_123, -1, -86_400_000] {
            assert_eq!(unix_ms(from_unix_ms(ms)), ms);
        }
        assert_eq!(unix_ms(UNIX_EPOCH + Duration::from_micros(1_999)), 1);
    }
}
