//! Values formatted for people and the SVG the pages draw on the server: the 90-day uptime
//! bars, the response-time chart, and shields.io-style flat badges. Pure string building
//! (no I/O, no clock: times are arguments); every text interpolated is escaped. No
//! JavaScript: tooltips are SVG `<title>` elements.

use std::fmt::Write as _;

use crate::server::status::escape;
use crate::uptime::series::{Bucket, DayCell};

// ---------------------------------------------------------------------------
// Numbers for people
// ---------------------------------------------------------------------------

/// Trims a fixed-point number's trailing zeros (and the point): `12.50` → `12.5`.
fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A latency or other short duration in seconds: `850 µs`, `12.3 ms`, `120 ms`, `1.2 s`,
/// `12 s`, `2.5 min`. Three significant digits at most.
pub fn seconds(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "–".to_string();
    }
    let sig = |v: f64, unit: &str| {
        let digits = if v >= 100.0 {
            0
        } else if v >= 10.0 {
            1
        } else {
            2
        };
        format!("{} {unit}", trim(format!("{v:.digits$}")))
    };
    if s == 0.0 {
        "0 ms".to_string()
    } else if s < 1e-3 {
        sig((s * 1e6).round().max(1.0), "µs")
    } else if s < 1.0 {
        let ms = s * 1e3;
        // 999.6 ms would print as "1000 ms": say 1 s.
        if ms >= 999.5 {
            "1 s".to_string()
        } else {
            sig(ms, "ms")
        }
    } else if s < 60.0 {
        sig(s, "s")
    } else {
        sig(s / 60.0, "min")
    }
}

/// A span of time from milliseconds, coarse: `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`.
pub fn span_ms(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => {
            let m = (s % 3600) / 60;
            if m == 0 {
                format!("{} h", s / 3600)
            } else {
                format!("{} h {m} min", s / 3600)
            }
        }
        _ => {
            let h = (s % 86_400) / 3600;
            if h == 0 {
                format!("{} d", s / 86_400)
            } else {
                format!("{} d {h} h", s / 86_400)
            }
        }
    }
}

/// A ratio as a percentage with at most two decimals, never rounded up to 100:
/// `100 %`, `99.95 %`, `97.5 %`, `0 %`.
pub fn percent(ratio: f64) -> String {
    if !ratio.is_finite() {
        return "–".to_string();
    }
    if ratio >= 1.0 {
        return "100 %".to_string();
    }
    let hundredths = (ratio.max(0.0) * 10_000.0).floor() / 100.0;
    format!("{} %", trim(format!("{hundredths:.2}")))
}

/// An integer with thousands separators: `2,880`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The civil date and time of a unix-ms instant, UTC: (`2026-12-03`, `14:05`).
pub fn date_time(ms: i64) -> (String, String) {
    let t = crate::clock::rfc3339(crate::clock::from_unix_ms(ms));
    let date = t.get(..10).unwrap_or_default().to_string();
    let time = t.get(11..16).unwrap_or_default().to_string();
    (date, time)
}

/// `2026-12-03 14:05 UTC`.
pub fn when_utc(ms: i64) -> String {
    let (d, t) = date_time(ms);
    format!("{d} {t} UTC")
}

// ---------------------------------------------------------------------------
// Colours
// ---------------------------------------------------------------------------

/// Grey: no data.
pub const NO_DATA: &str = "#c9ced6";

/// The colour of a day's availability (bars).
pub fn availability_colour(ratio: Option<f64>) -> &'static str {
    match ratio {
        None => NO_DATA,
        Some(r) if r >= 0.999 => "#2da44e",
        Some(r) if r >= 0.99 => "#7cc35a",
        Some(r) if r >= 0.95 => "#d4a72c",
        Some(r) if r >= 0.90 => "#e8822f",
        Some(_) => "#cf222e",
    }
}

/// Badge colours (shields.io's names): by uptime thresholds.
pub fn uptime_badge_colour(ratio: f64) -> &'static str {
    match ratio {
        r if r >= 0.999 => "#4c1",
        r if r >= 0.99 => "#97ca00",
        r if r >= 0.97 => "#a4a61d",
        r if r >= 0.95 => "#dfb317",
        r if r >= 0.90 => "#fe7d37",
        _ => "#e05d44",
    }
}

/// Badge colours by response time (seconds).
pub fn latency_badge_colour(s: f64) -> &'static str {
    match s {
        s if s < 0.2 => "#4c1",
        s if s < 0.5 => "#97ca00",
        s if s < 1.0 => "#dfb317",
        s if s < 2.0 => "#fe7d37",
        _ => "#e05d44",
    }
}

/// Grey for "no data" and "not found" badges.
pub const BADGE_GREY: &str = "#9f9f9f";

// ---------------------------------------------------------------------------
// Uptime bars
// ---------------------------------------------------------------------------

/// The compact uptime bars of `/`'s rows: [`uptime_bars`] with runs of days of the same
/// colour drawn as one rectangle whose tooltip gives the run's dates and percentage, so a
/// target that was fine all along costs one element, not 90.
pub fn uptime_bars_compact(
    cells: &[DayCell],
    first_day_ms: i64,
    cell_w: u32,
    height: u32,
) -> String {
    let n = cells.len() as u32;
    let width = n * cell_w;
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "<svg class=\"bars\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"Uptime per day, last {n} days\">"
    );
    let mut i = 0;
    while i < cells.len() {
        let colour = availability_colour(cells[i].ratio());
        let mut j = i + 1;
        while j < cells.len() && availability_colour(cells[j].ratio()) == colour {
            j += 1;
        }
        let run = cells[i..j].iter().fold(DayCell::default(), |a, c| DayCell {
            probes: a.probes + c.probes,
            successes: a.successes + c.successes,
        });
        let day = |k: usize| date_time(first_day_ms + k as i64 * crate::uptime::period::DAY_MS).0;
        let dates = if j - i == 1 {
            day(i)
        } else {
            format!("{} – {}", day(i), day(j - 1))
        };
        let tip = match run.ratio() {
            None => format!("{dates}: no data"),
            Some(r) => format!("{dates}: {} ({} probes)", percent(r), count(run.probes)),
        };
        let _ = write!(
            out,
            "<rect class=\"days\" x=\"{}\" y=\"0\" width=\"{}\" height=\"{height}\" fill=\"{colour}\"><title>{}</title></rect>",
            i as u32 * cell_w,
            (j - i) as u32 * cell_w,
            escape(&tip),
        );
        i = j;
    }
    out.push_str("</svg>");
    out
}

/// The uptime bars: one cell per UTC day (oldest first, the first starting at
/// `first_day_ms`), coloured by availability, grey without data, each with a `<title>`
/// tooltip (date, percentage, probes). `cell_w` is the cell pitch in px.
pub fn uptime_bars(cells: &[DayCell], first_day_ms: i64, cell_w: u32, height: u32) -> String {
    let n = cells.len() as u32;
    let width = n * cell_w;
    let gap = if cell_w > 3 { 1 } else { 0 };
    let mut out = String::with_capacity(cells.len() * 110 + 200);
    let _ = write!(
        out,
        "<svg class=\"bars\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"Uptime per day, last {n} days\">"
    );
    for (i, c) in cells.iter().enumerate() {
        let day_ms = first_day_ms + i as i64 * crate::uptime::period::DAY_MS;
        let (date, _) = date_time(day_ms);
        let ratio = c.ratio();
        let tip = match ratio {
            None => format!("{date}: no data"),
            Some(r) => format!("{date}: {} ({} probes)", percent(r), count(c.probes)),
        };
        let _ = write!(
            out,
            "<rect class=\"day\" x=\"{}\" y=\"0\" width=\"{}\" height=\"{height}\" rx=\"1\" fill=\"{}\"><title>{}</title></rect>",
            i as u32 * cell_w,
            cell_w - gap,
            availability_colour(ratio),
            escape(&tip),
        );
    }
    out.push_str("</svg>");
    out
}

// ---------------------------------------------------------------------------
// Response-time chart
// ---------------------------------------------------------------------------

/// A "nice" axis step (1, 2 or 5 × 10^k) giving about `ticks` intervals up to `max`.
pub fn nice_step(max: f64, ticks: u32) -> f64 {
    if max.is_nan() || max <= 0.0 || max.is_infinite() {
        return 1.0;
    }
    let raw = max / f64::from(ticks.max(1));
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// The response-time chart of one series: mean latency as a line (broken where there is
/// no data), p95 as a lighter line, failed probes as red marks along the bottom, a latency
/// axis labelled for people (`120 ms`, `1.2 s`) and time labels (`14:00` for a day or
/// less, else dates), all in UTC. Each bucket has a `<title>` tooltip.
pub fn response_chart(buckets: &[Bucket], width: u32, height: u32) -> String {
    const LEFT: f64 = 58.0;
    const RIGHT: f64 = 8.0;
    const TOP: f64 = 8.0;
    const BOTTOM: f64 = 22.0;
    let (w, h) = (f64::from(width), f64::from(height));
    let plot_w = (w - LEFT - RIGHT).max(1.0);
    let plot_h = (h - TOP - BOTTOM).max(1.0);
    let max = buckets
        .iter()
        .filter_map(|b| b.latency_p95.or(b.latency_avg))
        .fold(0.0f64, f64::max);
    let step = nice_step(max, 4);
    let top = if max > 0.0 {
        (max / step).ceil() * step
    } else {
        step
    };
    let n = buckets.len().max(1) as f64;
    let x_of = |i: usize| LEFT + (i as f64 + 0.5) * plot_w / n;
    let y_of = |v: f64| TOP + plot_h - (v / top).min(1.0) * plot_h;
    let mut out = String::with_capacity(buckets.len() * 160 + 1024);
    let _ = write!(
        out,
        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"Response time\" font-family=\"system-ui,sans-serif\" font-size=\"11\">"
    );
    // Latency axis: grid lines with labels.
    let mut v = 0.0;
    while v <= top * 1.000_001 {
        let y = y_of(v);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e5e7eb\"/><text class=\"y-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#555\">{}</text>",
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0,
            escape(&seconds(v)),
        );
        v += step;
    }
    // Time axis: about five labels.
    if let (Some(first), Some(last)) = (buckets.first(), buckets.last()) {
        let span = last.to_ms - first.from_ms;
        let every = (buckets.len() / 5).max(1);
        for (i, b) in buckets.iter().enumerate().step_by(every) {
            let (date, time) = date_time(b.from_ms);
            let label = if span <= crate::uptime::period::DAY_MS {
                time
            } else {
                date.get(5..).unwrap_or_default().to_string()
            };
            let _ = write!(
                out,
                "<text class=\"x-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">{}</text>",
                x_of(i),
                h - 6.0,
                escape(&label),
            );
        }
    }
    // Lines: p95 (light) under the mean, each broken where a bucket has no probes.
    for (class, colour, get) in [
        (
            "p95",
            "#9ecbff",
            (|b: &Bucket| b.latency_p95) as fn(&Bucket) -> Option<f64>,
        ),
        ("avg", "#0969da", |b: &Bucket| b.latency_avg),
    ] {
        let mut run: Vec<(f64, f64)> = Vec::new();
        let flush = |run: &mut Vec<(f64, f64)>, out: &mut String| {
            if run.len() == 1 {
                let (x, y) = run[0];
                let _ = write!(
                    out,
                    "<circle class=\"{class}\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"1.5\" fill=\"{colour}\"/>"
                );
            } else if run.len() > 1 {
                let _ = write!(
                    out,
                    "<polyline class=\"{class}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\""
                );
                for (x, y) in run.iter() {
                    let _ = write!(out, "{x:.1},{y:.1} ");
                }
                out.push_str("\"/>");
            }
            run.clear();
        };
        for (i, b) in buckets.iter().enumerate() {
            match get(b) {
                Some(v) => run.push((x_of(i), y_of(v))),
                None => flush(&mut run, &mut out),
            }
        }
        flush(&mut run, &mut out);
    }
    // Failures along the bottom, and a tooltip per bucket.
    let bw = plot_w / n;
    for (i, b) in buckets.iter().enumerate() {
        let failed = b.probes - b.successes.min(b.probes);
        if failed > 0 {
            let _ = write!(
                out,
                "<rect class=\"failed\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"4\" fill=\"#cf222e\"/>",
                x_of(i) - bw / 2.0,
                TOP + plot_h - 4.0,
                bw.max(1.0),
            );
        }
        let tip = match (b.latency_avg, b.latency_p95) {
            (Some(avg), Some(p95)) => format!(
                "{} – {}: mean {}, p95 {}, {} of {} probes failed",
                when_utc(b.from_ms),
                date_time(b.to_ms).1,
                seconds(avg),
                seconds(p95),
                count(failed),
                count(b.probes),
            ),
            _ => format!("{}: no data", when_utc(b.from_ms)),
        };
        let _ = write!(
            out,
            "<rect x=\"{:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{plot_h:.1}\" fill=\"transparent\"><title>{}</title></rect>",
            x_of(i) - bw / 2.0,
            bw.max(0.5),
            escape(&tip),
        );
    }
    out.push_str("</svg>");
    out
}

// ---------------------------------------------------------------------------
// Badges
// ---------------------------------------------------------------------------

/// Approximate width (px) of `text` in 11 px Verdana, the badge font (shields.io measures
/// the same font; this table is coarser but errs wide).
pub fn text_width(text: &str) -> u32 {
    let w: f64 = text
        .chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | '.' | ',' | ':' | ';' | '|' | '!' | '\'' => 3.9,
            ' ' | 'f' | 't' | 'r' | 'I' | '(' | ')' | '[' | ']' | '/' => 4.9,
            'm' | 'w' | 'M' | 'W' | '%' => 10.5,
            'A'..='Z' => 7.6,
            _ => 7.0,
        })
        .sum();
    w.ceil() as u32
}

/// A flat badge: `label` on grey, `message` on `colour`, with a `<title>` of both.
pub fn badge(label: &str, message: &str, colour: &str) -> String {
    let lw = text_width(label) + 10;
    let mw = text_width(message) + 10;
    let total = lw + mw;
    let (label, message, colour) = (escape(label), escape(message), escape(colour));
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total}\" height=\"20\" role=\"img\" aria-label=\"{label}: {message}\">\
<title>{label}: {message}</title>\
<linearGradient id=\"s\" x2=\"0\" y2=\"100%\"><stop offset=\"0\" stop-color=\"#bbb\" stop-opacity=\".1\"/><stop offset=\"1\" stop-opacity=\".1\"/></linearGradient>\
<clipPath id=\"r\"><rect width=\"{total}\" height=\"20\" rx=\"3\" fill=\"#fff\"/></clipPath>\
<g clip-path=\"url(#r)\"><rect width=\"{lw}\" height=\"20\" fill=\"#555\"/><rect x=\"{lw}\" width=\"{mw}\" height=\"20\" fill=\"{colour}\"/><rect width=\"{total}\" height=\"20\" fill=\"url(#s)\"/></g>\
<g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,Geneva,DejaVu Sans,sans-serif\" font-size=\"11\">\
<text x=\"{lx}\" y=\"15\" fill=\"#010101\" fill-opacity=\".3\">{label}</text><text class=\"label\" x=\"{lx}\" y=\"14\">{label}</text>\
<text x=\"{mx}\" y=\"15\" fill=\"#010101\" fill-opacity=\".3\">{message}</text><text class=\"message\" x=\"{mx}\" y=\"14\">{message}</text></g></svg>",
        lx = lw / 2,
        mx = lw + mw / 2,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_for_people() {
        assert_eq!(seconds(0.12), "120 ms");
        assert_eq!(seconds(1.2), "1.2 s");
        assert_eq!(seconds(1.234), "1.23 s");
        assert_eq!(seconds(0.0123), "12.3 ms");
        assert_eq!(seconds(0.00085), "850 µs");
        assert_eq!(seconds(12.0), "12 s");
        assert_eq!(seconds(0.9996), "1 s");
        assert_eq!(seconds(150.0), "2.5 min");
        assert_eq!(seconds(0.0), "0 ms");
        assert_eq!(seconds(f64::NAN), "–");
    }

    #[test]
    fn percentages_never_round_up_to_100() {
        assert_eq!(percent(1.0), "100 %");
        assert_eq!(percent(0.9995), "99.95 %");
        assert_eq!(percent(0.99999), "99.99 %");
        assert_eq!(percent(0.975), "97.5 %");
        assert_eq!(percent(0.0), "0 %");
        assert_eq!(percent(1.0 / 3.0), "33.33 %");
    }

    #[test]
    fn spans_counts_and_dates() {
        assert_eq!(span_ms(45_000), "45 s");
        assert_eq!(span_ms(12 * 60_000 + 5_000), "12 min");
        assert_eq!(span_ms(3 * 3_600_000 + 5 * 60_000), "3 h 5 min");
        assert_eq!(span_ms(2 * 86_400_000 + 4 * 3_600_000), "2 d 4 h");
        assert_eq!(count(2880), "2,880");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(999), "999");
        assert_eq!(
            date_time(1_700_000_000_000),
            ("2023-11-14".to_string(), "22:13".to_string())
        );
        assert_eq!(when_utc(1_700_000_000_000), "2023-11-14 22:13 UTC");
    }

    #[test]
    fn axis_steps_are_nice() {
        assert_eq!(nice_step(0.43, 4), 0.2);
        assert_eq!(nice_step(1.9, 4), 0.5);
        assert_eq!(nice_step(0.0, 4), 1.0);
        assert!((nice_step(0.012, 4) - 0.005).abs() < 1e-12);
    }

    #[test]
    fn bars_have_a_cell_per_day_with_tooltips() {
        let cells = [
            DayCell::default(),
            DayCell {
                probes: 2880,
                successes: 2880,
            },
            DayCell {
                probes: 2000,
                successes: 1999,
            },
            DayCell {
                probes: 10,
                successes: 5,
            },
        ];
        let svg = uptime_bars(&cells, 1_700_006_400_000, 6, 24);
        assert_eq!(svg.matches("<rect class=\"day\"").count(), 4);
        assert!(svg.contains("<title>2023-11-15: no data</title>"), "{svg}");
        assert!(svg.contains("<title>2023-11-16: 100 % (2,880 probes)</title>"));
        assert!(svg.contains("<title>2023-11-17: 99.95 % (2,000 probes)</title>"));
        assert!(svg.contains(NO_DATA) && svg.contains("#cf222e") && svg.contains("#2da44e"));
    }

    #[test]
    fn compact_bars_merge_runs_of_one_colour() {
        let good = DayCell {
            probes: 100,
            successes: 100,
        };
        let mut cells = vec![good; 90];
        cells[40] = DayCell {
            probes: 100,
            successes: 50,
        };
        let svg = uptime_bars_compact(&cells, 1_700_006_400_000, 3, 16);
        assert_eq!(svg.matches("<rect").count(), 3, "{svg}");
        assert!(
            svg.contains("<title>2023-11-15 – 2023-12-24: 100 % (4,000 probes)</title>"),
            "{svg}"
        );
        assert!(
            svg.contains("<title>2023-12-25: 50 % (100 probes)</title>"),
            "{svg}"
        );
    }

    #[test]
    fn chart_labels_axes_for_people_and_breaks_on_gaps() {
        let b = |i: i64, avg: Option<f64>, probes: u64, ok: u64| Bucket {
            from_ms: 1_700_000_000_000 + i * 600_000,
            to_ms: 1_700_000_000_000 + (i + 1) * 600_000,
            probes,
            successes: ok,
            latency_avg: avg,
            latency_p95: avg.map(|a| a * 1.5),
        };
        let buckets = vec![
            b(0, Some(0.12), 20, 20),
            b(1, Some(0.2), 20, 19),
            b(2, None, 0, 0),
            b(3, Some(0.3), 20, 20),
            b(4, Some(0.25), 20, 20),
        ];
        let svg = response_chart(&buckets, 600, 160);
        // 0.45 s at most: a 0.2 s step → 0 ms … 600 ms.
        for label in ["0 ms", "200 ms", "400 ms", "600 ms"] {
            assert!(svg.contains(&format!(">{label}</text>")), "{label}: {svg}");
        }
        let exponent = regex::Regex::new(r">[^<>]*\d[eE][-+]?\d[^<>]*<").expect("regex");
        assert!(!exponent.is_match(&svg), "no exponents: {svg}");
        assert_eq!(svg.matches("<polyline class=\"avg\"").count(), 2, "{svg}");
        assert_eq!(svg.matches("class=\"failed\"").count(), 1);
        assert!(svg.contains(">22:13</text>"), "{svg}");
        assert!(svg.contains("mean 200 ms, p95 300 ms, 1 of 20 probes failed"));
    }

    #[test]
    fn badges_escape_and_size_their_text() {
        let svg = badge("uptime 30d", "99.95 %", uptime_badge_colour(0.9995));
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("<title>uptime 30d: 99.95 %</title>"));
        assert!(svg.contains("#4c1"));
        let svg = badge("a<b", "x&y", BADGE_GREY);
        assert!(svg.contains("a&lt;b") && svg.contains("x&amp;y") && !svg.contains("a<b"));
        assert!(text_width("99.95 %") > text_width("1 %"));
        assert_eq!(latency_badge_colour(0.12), "#4c1");
        assert_eq!(latency_badge_colour(3.0), "#e05d44");
    }
}
