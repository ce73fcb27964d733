//! Periods and windows, in milliseconds since the epoch. A period of a level (minute, hour,
//! UTC day) is **left-open, right-closed** — minute `p` holds the probes started in
//! `(p·60 s, (p+1)·60 s]` — so a window `(from, to]` on period boundaries is exactly a union
//! of periods and means what Prometheus' `avg_over_time(x[to − from] @ to)` means: samples
//! with `from < t ≤ to`. Pure: times are arguments.

use std::time::Duration;

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;

/// The rollup levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    Minute,
    Hour,
    Day,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Minute, Level::Hour, Level::Day];

    pub fn ms(self) -> i64 {
        match self {
            Level::Minute => MINUTE_MS,
            Level::Hour => HOUR_MS,
            Level::Day => DAY_MS,
        }
    }

    /// The period of this level a probe started at `ts_ms` belongs to.
    pub fn period_of(self, ts_ms: i64) -> u32 {
        u32::try_from((ts_ms - 1).div_euclid(self.ms())).unwrap_or(0)
    }

    /// The end (inclusive) of period `p`: the period covers `(end − size, end]`.
    pub fn end_of(self, p: u32) -> i64 {
        (i64::from(p) + 1) * self.ms()
    }
}

pub fn floor_to(ts: i64, step: i64) -> i64 {
    ts.div_euclid(step) * step
}

pub fn ceil_to(ts: i64, step: i64) -> i64 {
    -(-ts).div_euclid(step) * step
}

pub fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A window `(from_ms, to_ms]`, both on minute boundaries (see [`Window::resolve`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub from_ms: i64,
    pub to_ms: i64,
}

/// A run of consecutive periods of one level: `first..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub level: Level,
    pub first: u32,
    pub end: u32,
}

impl Window {
    /// The window the rollups can answer for a requested `(from, to]`: both ends rounded
    /// outwards to the minute, and to the hour where minute rollups are no longer kept
    /// (before `minute_cutoff_ms`). The caller reports the result so nothing is hidden.
    pub fn resolve(from_ms: i64, to_ms: i64, minute_cutoff_ms: i64) -> Window {
        let mut from = floor_to(from_ms, MINUTE_MS);
        let mut to = ceil_to(to_ms.max(from_ms), MINUTE_MS);
        if from < minute_cutoff_ms {
            from = floor_to(from, HOUR_MS);
        }
        if floor_to(to, HOUR_MS) < minute_cutoff_ms {
            to = ceil_to(to, HOUR_MS);
        }
        Window {
            from_ms: from,
            to_ms: to,
        }
    }

    /// The window of length `w` ending at the minute boundary at or after `now_ms` (so the
    /// latest probes count), resolved as [`Window::resolve`] does.
    pub fn last(w: Duration, now_ms: i64, minute_cutoff_ms: i64) -> Window {
        let to = ceil_to(now_ms, MINUTE_MS);
        Window::resolve(to - duration_ms(w), to, minute_cutoff_ms)
    }

    /// The fewest periods covering the window: whole UTC days where they fit, whole hours
    /// where they fit, minutes at the edges; consecutive periods of a level merged.
    pub fn segments(&self) -> Vec<Segment> {
        let mut out: Vec<Segment> = Vec::new();
        let mut x = self.from_ms;
        while x < self.to_ms {
            let level = Level::ALL
                .into_iter()
                .rev()
                .find(|l| x % l.ms() == 0 && x + l.ms() <= self.to_ms)
                .unwrap_or(Level::Minute);
            let p = u32::try_from(x / level.ms()).unwrap_or(0);
            match out.last_mut() {
                Some(s) if s.level == level && s.end == p => s.end = p + 1,
                _ => out.push(Segment {
                    level,
                    first: p,
                    end: p + 1,
                }),
            }
            x += level.ms();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_006_400_000; // 2023-11-15T00:00:00Z, a UTC midnight.

    #[test]
    fn periods_are_left_open_right_closed() {
        assert_eq!(Level::Minute.period_of(T0), Level::Minute.period_of(T0 - 1));
        assert_eq!(
            Level::Minute.period_of(T0 + 1),
            Level::Minute.period_of(T0) + 1
        );
        assert_eq!(Level::Minute.end_of(Level::Minute.period_of(T0)), T0);
        assert_eq!(Level::Day.end_of(Level::Day.period_of(T0)), T0);
        assert_eq!(Level::Hour.period_of(T0 + 1), (T0 / HOUR_MS) as u32);
    }

    #[test]
    fn windows_round_outwards_to_what_is_kept() {
        let cutoff = T0 - 2 * DAY_MS;
        let w = Window::resolve(T0 - 90_500, T0 + 10, cutoff);
        assert_eq!((w.from_ms, w.to_ms), (T0 - 120_000, T0 + MINUTE_MS));
        // Older than the minute rollups: hour edges.
        let w = Window::resolve(
            T0 - 3 * DAY_MS + 61_000,
            T0 - 3 * DAY_MS + 61_000 + 1,
            cutoff,
        );
        assert_eq!(
            (w.from_ms, w.to_ms),
            (T0 - 3 * DAY_MS, T0 - 3 * DAY_MS + HOUR_MS)
        );
        let w = Window::last(Duration::from_secs(7 * 86400), T0 + 30_000, cutoff);
        assert_eq!((w.from_ms, w.to_ms), (T0 - 7 * DAY_MS, T0 + MINUTE_MS));
    }

    #[test]
    fn segments_use_days_then_hours_then_minutes() {
        let w = Window {
            from_ms: T0 - 2 * MINUTE_MS - HOUR_MS,
            to_ms: T0 + DAY_MS + HOUR_MS + 3 * MINUTE_MS,
        };
        let m = |ms: i64| (ms / MINUTE_MS) as u32;
        let h = |ms: i64| (ms / HOUR_MS) as u32;
        let d = |ms: i64| (ms / DAY_MS) as u32;
        assert_eq!(
            w.segments(),
            vec![
                Segment {
                    level: Level::Minute,
                    first: m(w.from_ms),
                    end: m(T0 - HOUR_MS)
                },
                Segment {
                    level: Level::Hour,
                    first: h(T0 - HOUR_MS),
                    end: h(T0)
                },
                Segment {
                    level: Level::Day,
                    first: d(T0),
                    end: d(T0) + 1
                },
                Segment {
                    level: Level::Hour,
                    first: h(T0 + DAY_MS),
                    end: h(T0 + DAY_MS) + 1
                },
                Segment {
                    level: Level::Minute,
                    first: m(T0 + DAY_MS + HOUR_MS),
                    end: m(w.to_ms)
                },
            ]
        );
        let empty = Window {
            from_ms: T0,
            to_ms: T0,
        };
        assert!(empty.segments().is_empty());
    }
}
