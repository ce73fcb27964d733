//! The arithmetic of Prometheus 2.42's functions (`promql/functions.go`, `quantile.go`), on
//! plain points and values: the range-vector functions with `rate`'s extrapolation and
//! counter-reset rules, linear regression, Holt-Winters, quantiles (with
//! `histogram_quantile`'s bucket fix-ups) and the calendar of the date functions. Selecting
//! the points and shaping the result vectors is `eval.rs`'s job. `aggregate_fn` answers the
//! `*_over_time` functions a summary of the points suffices for.

use super::check::RangeFn;
use super::gomath;
use super::Aggregate;

/// The points of one series in a range, oldest first, and the window they were read from.
pub struct Window<'a> {
    pub points: &'a [(i64, f64)],
    /// The window's end (evaluation time minus offset, or the `@` time) in ms.
    pub end: i64,
    /// The window's length in ms.
    pub range: i64,
    /// The evaluation time of the enclosing step (`predict_linear` regresses to it).
    pub eval_at: i64,
}

/// One range function over one series; `None` drops the series from the result (as 2.42
/// does for `rate` & co. with fewer than two points). `args` are the scalar arguments
/// (`predict_linear`'s duration, `holt_winters`' factors, `quantile_over_time`'s φ).
pub fn range_fn(f: RangeFn, w: &Window<'_>, args: &[f64]) -> Result<Option<f64>, String> {
    let p = w.points;
    let arg = |i: usize| args.get(i).copied().unwrap_or(f64::NAN);
    Ok(Some(match f {
        RangeFn::Rate => return Ok(extrapolated_rate(w, true, true)),
        RangeFn::Increase => return Ok(extrapolated_rate(w, true, false)),
        RangeFn::Delta => return Ok(extrapolated_rate(w, false, false)),
        RangeFn::Irate => return Ok(instant_value(p, true)),
        RangeFn::Idelta => return Ok(instant_value(p, false)),
        RangeFn::Deriv => {
            if p.len() < 2 {
                return Ok(None);
            }
            linear_regression(p, p[0].0).0
        }
        RangeFn::PredictLinear => {
            if p.len() < 2 {
                return Ok(None);
            }
            let (slope, intercept) = linear_regression(p, w.eval_at);
            slope * arg(0) + intercept
        }
        RangeFn::HoltWinters => return holt_winters(p, arg(0), arg(1)),
        RangeFn::Resets => {
            let mut n = 0u64;
            for pair in p.windows(2) {
                if pair[1].1 < pair[0].1 {
                    n += 1;
                }
            }
            n as f64
        }
        RangeFn::Changes => {
            let mut n = 0u64;
            for pair in p.windows(2) {
                let (prev, cur) = (pair[0].1, pair[1].1);
                if cur != prev && !(cur.is_nan() && prev.is_nan()) {
                    n += 1;
                }
            }
            n as f64
        }
        RangeFn::Avg => avg_over_time(p),
        RangeFn::Min => {
            let mut min = p.first().map_or(f64::NAN, |x| x.1);
            for &(_, v) in p {
                if v < min || min.is_nan() {
                    min = v;
                }
            }
            min
        }
        RangeFn::Max => {
            let mut max = p.first().map_or(f64::NAN, |x| x.1);
            for &(_, v) in p {
                if v > max || max.is_nan() {
                    max = v;
                }
            }
            max
        }
        RangeFn::Sum => {
            let (mut sum, mut c) = (0.0, 0.0);
            for &(_, v) in p {
                (sum, c) = kahan_inc(v, sum, c);
            }
            if sum.is_infinite() {
                sum
            } else {
                sum + c
            }
        }
        RangeFn::Count => p.len() as f64,
        RangeFn::Last => p.last().map_or(f64::NAN, |x| x.1),
        RangeFn::Present => 1.0,
        RangeFn::Stddev => stdvar_over_time(p).sqrt(),
        RangeFn::Stdvar => stdvar_over_time(p),
        RangeFn::Quantile => {
            let mut values: Vec<f64> = p.iter().map(|x| x.1).collect();
            quantile(arg(0), &mut values)
        }
    }))
}

/// What a range function gives over a summary of a series' points instead of the points
/// themselves: `Some(None)` for no points, `None` when `f` needs the points' order or times
/// (`rate`, `last`, …). Exact when the summary is (the values of `probe_success`); within the
/// summary's own error otherwise (latency histograms: min, max, quantiles and variance).
pub fn aggregate_fn(f: RangeFn, a: &Aggregate, args: &[f64]) -> Option<Option<f64>> {
    if !summarizable(f) {
        return None;
    }
    let n: u64 = a.values.iter().map(|v| v.1).sum();
    if n == 0 {
        return Some(None);
    }
    let count = n as f64;
    // The value of the i-th point in ascending order.
    let nth = |i: u64| {
        let mut seen = 0;
        for &(v, c) in &a.values {
            seen += c;
            if i < seen {
                return v;
            }
        }
        a.values.last().map_or(f64::NAN, |v| v.0)
    };
    let stdvar = || {
        let mean = a.values.iter().map(|&(v, c)| v * c as f64).sum::<f64>() / count;
        a.values
            .iter()
            .map(|&(v, c)| (v - mean) * (v - mean) * c as f64)
            .sum::<f64>()
            / count
    };
    Some(Some(match f {
        RangeFn::Avg => a.sum / count,
        RangeFn::Sum => a.sum,
        RangeFn::Count => count,
        RangeFn::Min => nth(0),
        RangeFn::Max => nth(n - 1),
        RangeFn::Present => 1.0,
        RangeFn::Stddev => stdvar().sqrt(),
        RangeFn::Stdvar => stdvar(),
        _ => {
            // `quantile`'s interpolation between the closest ranks, over the summary.
            let q = args.first().copied().unwrap_or(f64::NAN);
            if q.is_nan() {
                return Some(Some(f64::NAN));
            }
            if q < 0.0 {
                return Some(Some(f64::NEG_INFINITY));
            }
            if q > 1.0 {
                return Some(Some(f64::INFINITY));
            }
            let rank = q * (count - 1.0);
            let lower = gomath::max(0.0, rank.floor());
            let upper = gomath::min(count - 1.0, lower + 1.0);
            let weight = rank - rank.floor();
            nth(lower as u64) * (1.0 - weight) + nth(upper as u64) * weight
        }
    }))
}

/// Whether `aggregate_fn` answers `f` from a summary (it needs no order or times).
pub fn summarizable(f: RangeFn) -> bool {
    matches!(
        f,
        RangeFn::Avg
            | RangeFn::Sum
            | RangeFn::Count
            | RangeFn::Min
            | RangeFn::Max
            | RangeFn::Present
            | RangeFn::Quantile
            | RangeFn::Stddev
            | RangeFn::Stdvar
    )
}

/// `rate`, `increase` and `delta` (2.42's `extrapolatedRate`).
fn extrapolated_rate(w: &Window<'_>, is_counter: bool, is_rate: bool) -> Option<f64> {
    let p = w.points;
    if p.len() < 2 {
        return None;
    }
    let (first, last) = (p[0], p[p.len() - 1]);
    let range_start = w.end - w.range;
    let range_end = w.end;
    let mut result = last.1 - first.1;
    if is_counter {
        let mut prev = first.1;
        for &(_, cur) in &p[1..] {
            if cur < prev {
                result += prev;
            }
            prev = cur;
        }
    }
    let mut duration_to_start = (first.0 - range_start) as f64 / 1000.0;
    let duration_to_end = (range_end - last.0) as f64 / 1000.0;
    let sampled_interval = (last.0 - first.0) as f64 / 1000.0;
    let average_between = sampled_interval / (p.len() - 1) as f64;
    if is_counter && result > 0.0 && first.1 >= 0.0 {
        let duration_to_zero = sampled_interval * (first.1 / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    let threshold = average_between * 1.1;
    let mut extrapolate_to = sampled_interval;
    extrapolate_to += if duration_to_start < threshold {
        duration_to_start
    } else {
        average_between / 2.0
    };
    extrapolate_to += if duration_to_end < threshold {
        duration_to_end
    } else {
        average_between / 2.0
    };
    let mut factor = extrapolate_to / sampled_interval;
    if is_rate {
        factor /= w.range as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate` and `idelta` (2.42's `instantValue`).
fn instant_value(p: &[(i64, f64)], is_rate: bool) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (last, prev) = (p[p.len() - 1], p[p.len() - 2]);
    let mut result = if is_rate && last.1 < prev.1 {
        last.1
    } else {
        last.1 - prev.1
    };
    let interval = last.0 - prev.0;
    if interval == 0 {
        return None;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

/// Least squares with Kahan sums; the intercept is at `intercept_time` (2.42's
/// `linearRegression`).
fn linear_regression(p: &[(i64, f64)], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0f64, 0.0, 0.0, 0.0);
    let init_y = p[0].1;
    let mut const_y = true;
    for (i, &(t, v)) in p.iter().enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t - intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sum_x, sum_y, sum_xy, sum_x2) = (sum_x + c_x, sum_y + c_y, sum_xy + c_xy, sum_x2 + c_x2);
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// Double exponential smoothing, as 2.42's `holt_winters` (its errors panic there and
/// fail the query).
fn holt_winters(p: &[(i64, f64)], sf: f64, tf: f64) -> Result<Option<f64>, String> {
    if sf <= 0.0 || sf >= 1.0 {
        return Err(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
            go_f(sf)
        ));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {}",
            go_f(tf)
        ));
    }
    if p.len() < 2 {
        return Ok(None);
    }
    let (mut s0, mut s1) = (0.0f64, p[0].1);
    let mut b = p[1].1 - p[0].1;
    for (i, &(_, v)) in p.iter().enumerate().skip(1) {
        let x = sf * v;
        b = if i == 1 {
            b
        } else {
            tf * (s1 - s0) + (1.0 - tf) * b
        };
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    Ok(Some(s1))
}

/// Go's `%f`: six decimals.
fn go_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v:.6}")
    }
}

/// Kahan–Neumaier summation step, as Prometheus' `kahanSumInc`.
pub fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

fn avg_over_time(points: &[(i64, f64)]) -> f64 {
    let (mut mean, mut count, mut c) = (0.0f64, 0.0f64, 0.0f64);
    for &(_, v) in points {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_inc(v / count - mean / count, mean, c);
    }
    if mean.is_infinite() {
        mean
    } else {
        mean + c
    }
}

/// The population variance with Kahan-compensated mean and sum of squares, as 2.42.
fn stdvar_over_time(points: &[(i64, f64)]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
    for &(_, v) in points {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Prometheus' `quantile`: linear interpolation between the closest ranks; NaN sorts first.
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    crate::base::sort::sort_by(values, |a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = gomath::max(0.0, rank.floor());
    let upper = gomath::min(n - 1.0, lower + 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// 2.42's `bucketQuantile` over classic buckets `(upper bound, cumulative count)`, with
/// its fix-ups: buckets of the same bound are merged, counts made monotonic.
pub fn bucket_quantile(q: f64, buckets: &mut [(f64, f64)]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    crate::base::sort::sort_by(buckets, |a, b| {
        a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal)
    });
    if !buckets
        .last()
        .is_some_and(|b| b.0.is_infinite() && b.0 > 0.0)
    {
        return f64::NAN;
    }
    // coalesceBuckets
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(ub, c) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == ub => last.1 += c,
            _ => merged.push((ub, c)),
        }
    }
    // ensureMonotonic
    let mut max = merged[0].1;
    for b in merged.iter_mut().skip(1) {
        if b.1 > max {
            max = b.1;
        } else if b.1 < max {
            b.1 = max;
        }
    }
    let b = merged;
    if b.len() < 2 {
        return f64::NAN;
    }
    let observations = b[b.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    // sort.Search over the first len-1 buckets.
    let i = b[..b.len() - 1].partition_point(|x| x.1 < rank);
    if i == b.len() - 1 {
        return b[b.len() - 2].0;
    }
    if i == 0 && b[0].0 <= 0.0 {
        return b[0].0;
    }
    let mut bucket_start = 0.0;
    let bucket_end = b[i].0;
    let mut count = b[i].1;
    if i > 0 {
        bucket_start = b[i - 1].0;
        count -= b[i - 1].1;
        rank -= b[i - 1].1;
    }
    bucket_start + (bucket_end - bucket_start) * (rank / count)
}

/// A UTC calendar date and time, as Go's `time.Time` accessors give them.
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    /// Sunday = 0.
    pub weekday: u32,
    /// 1 to 366.
    pub yearday: u32,
    pub days_in_month: u32,
}

impl Civil {
    /// The UTC calendar of `time.Unix(secs, 0)`, computed as Go 1.19's `time` package does:
    /// seconds since its absolute zero year as a wrapping `uint64`, then 400/100/4/1-year
    /// cycles. Out-of-range seconds (a float of ±Inf or NaN converts to `i64::MIN`) wrap the
    /// way Go's do, so even those dates are Go's.
    pub fn from_unix(secs: i64) -> Civil {
        // unixToInternal + internalToAbsolute.
        const UNIX_TO_ABSOLUTE: i64 = 9_223_372_028_715_321_600;
        let abs = secs.wrapping_add(UNIX_TO_ABSOLUTE) as u64;
        let (year, yday) = abs_year_day(abs);
        let (month, day) = month_day(year, yday);
        let month_start = days_since_epoch(year)
            .wrapping_add(u64::from(DAYS_BEFORE[(month - 1) as usize]))
            .wrapping_add(u64::from(is_leap(year) && month >= 3));
        // Prometheus: 32 - time.Date(year, month, 32, …).Day().
        let (y32, yd32) = abs_year_day(month_start.wrapping_add(31).wrapping_mul(86_400));
        let days_in_month = 32 - month_day(y32, yd32).1;
        Civil {
            year,
            month,
            day,
            hour: (abs % 86_400 / 3600) as u32,
            minute: (abs % 3600 / 60) as u32,
            // absWeekday: the absolute epoch is a Monday.
            weekday: ((abs.wrapping_add(86_400) % 604_800) / 86_400) as u32,
            yearday: yday + 1,
            days_in_month,
        }
    }
}

/// Go's `absoluteZeroYear`.
const ABSOLUTE_ZERO_YEAR: i64 = -292_277_022_399;
/// Go's `daysBefore`: days before each month of a non-leap year.
const DAYS_BEFORE: [u32; 13] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];
const DAYS_PER_400_YEARS: u64 = 365 * 400 + 97;
const DAYS_PER_100_YEARS: u64 = 365 * 100 + 24;
const DAYS_PER_4_YEARS: u64 = 365 * 4 + 1;

/// Go's `isLeap` (truncated remainders, as Go's `%`).
fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Go's `absDate(abs, false)`: the year and the zero-based day of the year.
fn abs_year_day(abs: u64) -> (i64, u32) {
    let mut d = abs / 86_400;
    let mut n = d / DAYS_PER_400_YEARS;
    let mut y = 400 * n;
    d -= DAYS_PER_400_YEARS * n;
    n = d / DAYS_PER_100_YEARS;
    n -= n >> 2;
    y += 100 * n;
    d -= DAYS_PER_100_YEARS * n;
    n = d / DAYS_PER_4_YEARS;
    y += 4 * n;
    d -= DAYS_PER_4_YEARS * n;
    n = d / 365;
    n -= n >> 2;
    y += n;
    d -= 365 * n;
    ((y as i64).wrapping_add(ABSOLUTE_ZERO_YEAR), d as u32)
}

/// The rest of Go's `absDate(abs, true)`: month (1-12) and day of the month of a year's
/// zero-based day.
fn month_day(year: i64, yday: u32) -> (u32, u32) {
    let mut day = yday;
    if is_leap(year) {
        if day > 31 + 29 - 1 {
            day -= 1;
        } else if day == 31 + 29 - 1 {
            return (2, 29);
        }
    }
    let mut month = (day / 31) as usize;
    let end = DAYS_BEFORE[month + 1];
    let begin = if day >= end {
        month += 1;
        end
    } else {
        DAYS_BEFORE[month]
    };
    ((month + 1) as u32, day - begin + 1)
}

/// Go's `daysSinceEpoch`: days from the absolute zero year to January 1 of `year`.
fn days_since_epoch(year: i64) -> u64 {
    let mut y = year.wrapping_sub(ABSOLUTE_ZERO_YEAR) as u64;
    let mut n = y / 400;
    y -= 400 * n;
    let mut d = DAYS_PER_400_YEARS.wrapping_mul(n);
    n = y / 100;
    y -= 100 * n;
    d = d.wrapping_add(DAYS_PER_100_YEARS * n);
    n = y / 4;
    y -= 4 * n;
    d = d.wrapping_add(DAYS_PER_4_YEARS * n);
    d.wrapping_add(365 * y)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Extreme and out-of-range times, as promtool 2.42 (Go 1.19, amd64) prints
    /// minute, hour, day_of_month, day_of_week, day_of_year, days_in_month, month and year
    /// for them (captured once from `promtool test rules`): ±Inf, NaN and 1e300 convert to
    /// i64::MIN, and Go's time arithmetic wraps.
    #[test]
    fn calendar_matches_go_at_the_extremes() {
        let cases: [(f64, [i64; 8]); 12] = [
            (
                f64::NEG_INFINITY,
                [30, 15, 4, 0, 339, 31, 12, 292_277_026_596],
            ),
            (f64::INFINITY, [30, 15, 4, 0, 339, 31, 12, 292_277_026_596]),
            (f64::NAN, [30, 15, 4, 0, 339, 31, 12, 292_277_026_596]),
            (1e300, [30, 15, 4, 0, 339, 31, 12, 292_277_026_596]),
            (-1e19, [30, 15, 4, 0, 339, 31, 12, 292_277_026_596]),
            (9.3e18, [30, 15, 4, 0, 339, 31, 12, 292_277_026_596]),
            (-9.2e18, [26, 12, 3, 2, 123, 31, 5, -291_536_392_293]),
            (9.2e18, [33, 11, 31, 5, 244, 31, 8, 291_536_396_232]),
            (-62_135_596_801.0, [59, 23, 31, 0, 366, 31, 12, 0]),
            (253_402_300_800.0, [0, 0, 1, 6, 1, 31, 1, 10_000]),
            (-1e15, [13, 22, 29, 0, 180, 30, 6, -31_686_769]),
            (1e15, [46, 1, 5, 0, 187, 31, 7, 31_690_708]),
        ];
        for (v, want) in cases {
            let c = Civil::from_unix(gomath::float_to_int64(v));
            let got = [
                i64::from(c.minute),
                i64::from(c.hour),
                i64::from(c.day),
                i64::from(c.weekday),
                i64::from(c.yearday),
                i64::from(c.days_in_month),
                i64::from(c.month),
                c.year,
            ];
            assert_eq!(got, want, "time {v}");
        }
    }

    /// Every day from 1600 to 2400 follows the previous one (the Go port against itself: no
    /// gaps, months of the right length, weekdays in turn).
    #[test]
    fn calendar_days_follow_each_other() {
        let mut prev = Civil::from_unix(-11_676_096_000 - 86_400);
        let mut secs = -11_676_096_000i64; // 1600-01-01
        while secs < 13_569_465_600 {
            let c = Civil::from_unix(secs);
            if c.day == 1 {
                assert_eq!(prev.day, prev.days_in_month, "{}-{}", prev.year, prev.month);
                assert_eq!(c.month, prev.month % 12 + 1);
            } else {
                assert_eq!(
                    (c.day, c.month, c.year),
                    (prev.day + 1, prev.month, prev.year)
                );
            }
            assert_eq!(c.weekday, (prev.weekday + 1) % 7);
            let leap = c.year % 4 == 0 && (c.year % 100 != 0 || c.year % 400 == 0);
            if c.month == 2 {
                assert_eq!(c.days_in_month, if leap { 29 } else { 28 }, "{}", c.year);
            }
            prev = c;
            secs += 86_400;
        }
        assert_eq!((prev.year, prev.month, prev.day), (2399, 12, 31));
    }

    #[test]
    fn calendar_matches_go() {
        let c = Civil::from_unix(0);
        assert_eq!(
            (c.year, c.month, c.day, c.weekday, c.yearday),
            (1970, 1, 1, 4, 1)
        );
        // 2024-02-29T13:45:00Z, a Thursday, day 60 of a leap year.
        let c = Civil::from_unix(1_709_214_300);
        assert_eq!(
            (
                c.year,
                c.month,
                c.day,
                c.hour,
                c.minute,
                c.weekday,
                c.yearday,
                c.days_in_month
            ),
            (2024, 2, 29, 13, 45, 4, 60, 29)
        );
        // 1969-12-31T23:59:59Z, a Wednesday.
        let c = Civil::from_unix(-1);
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.weekday),
            (1969, 12, 31, 23, 3)
        );
    }
}
