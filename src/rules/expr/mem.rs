//! `MemStorage`: the series of a rule unit test, written in promtool's `input_series`
//! notation and expanded exactly as promtool 2.42 expands it (sample `i` at `i × interval`):
//!
//! - `1 2 3` literal values; `-1`, `+Inf`, `NaN`, `1e3`, `0x1f`-free decimal/octal integers;
//! - `1x3` repeats: `1 1 1 1` (the value plus 3 more);
//! - `1+2x3` / `5-1x2` grows: `1 3 5 7` / `5 4 3` (by repeated float addition);
//! - `_` one missing sample, `_x3` three missing samples;
//! - `stale` a stale marker.

use super::{matches_all, stale_nan, Labels, Matcher, Queryable, Series, NAME};

/// A bad `series` or `values` string.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotationError(pub String);

/// In-memory series for tests and `blackwatch test rules`.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    series: Vec<Series>,
}

impl MemStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `series` (`name{label="value", …}`) with `values` in expanding notation, sample
    /// `i` at `i × interval_ms`.
    pub fn add(
        &mut self,
        series: &str,
        values: &str,
        interval_ms: i64,
    ) -> Result<(), NotationError> {
        let labels = parse_series(series)?;
        let values = expand(values)?;
        let points = values
            .into_iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| ((i as i64).saturating_mul(interval_ms), v)))
            .collect();
        self.add_points(labels, points);
        Ok(())
    }

    /// Adds points to the series `labels` (created if new), keeping points sorted by time.
    pub fn add_points(&mut self, labels: Labels, points: Vec<(i64, f64)>) {
        match self.series.iter_mut().find(|s| s.labels == labels) {
            Some(s) => {
                s.points.extend(points);
                crate::base::sort::sort_by_key(&mut s.points, |p| p.0);
            }
            None => {
                let mut points = points;
                crate::base::sort::sort_by_key(&mut points, |p| p.0);
                self.series.push(Series { labels, points });
                crate::base::sort::sort_by(&mut self.series, |a, b| a.labels.cmp(&b.labels));
            }
        }
    }

    /// Every series, sorted by labels.
    pub fn series(&self) -> &[Series] {
        &self.series
    }
}

impl Queryable for MemStorage {
    fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Vec<Series> {
        self.series
            .iter()
            .filter(|s| matches_all(matchers, &s.labels))
            .map(|s| Series {
                labels: s.labels.clone(),
                points: s
                    .points
                    .iter()
                    .copied()
                    .filter(|(t, _)| *t >= start_ms && *t <= end_ms)
                    .collect(),
            })
            .collect()
    }
}

/// Parses `name{a="b", …}` (or `{__name__="name", …}`) into labels.
pub fn parse_series(text: &str) -> Result<Labels, NotationError> {
    let err = |m: String| NotationError(format!("bad series {text:?}: {m}"));
    let ast = promql_parser::parser::parse(text).map_err(err)?;
    let promql_parser::parser::Expr::VectorSelector(vs) = ast else {
        return Err(err("expected a metric name with labels".to_string()));
    };
    if vs.offset.is_some() || vs.at.is_some() || !vs.matchers.or_matchers.is_empty() {
        return Err(err("expected a metric name with labels".to_string()));
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Some(name) = vs.name {
        pairs.push((NAME.to_string(), name));
    }
    for m in vs.matchers.matchers {
        if !matches!(m.op, promql_parser::label::MatchOp::Equal) {
            return Err(err(format!("label {} must use =", m.name)));
        }
        pairs.push((m.name, m.value));
    }
    Ok(Labels::new(pairs))
}

/// Expands a values string; `None` is a missing sample.
pub fn expand(text: &str) -> Result<Vec<Option<f64>>, NotationError> {
    let mut out = Vec::new();
    for item in text.split_whitespace() {
        expand_item(item, &mut out)
            .map_err(|m| NotationError(format!("bad value {item:?} in {text:?}: {m}")))?;
    }
    Ok(out)
}

fn expand_item(item: &str, out: &mut Vec<Option<f64>>) -> Result<(), String> {
    if item == "_" {
        out.push(None);
        return Ok(());
    }
    if let Some(n) = item.strip_prefix("_x") {
        let n = parse_uint(n)?;
        out.extend(std::iter::repeat_n(None, n as usize));
        return Ok(());
    }
    if item == "stale" {
        out.push(Some(stale_nan()));
        return Ok(());
    }
    let (value, rest) = signed_number(item)?;
    if rest.is_empty() {
        out.push(Some(value));
        return Ok(());
    }
    let (delta, rest) = if rest.starts_with(['+', '-']) {
        let (d, r) = signed_number(rest)?;
        (Some(d), r)
    } else {
        (None, rest)
    };
    let Some(n) = rest.strip_prefix('x') else {
        return Err(format!("unexpected {rest:?}"));
    };
    let n = parse_uint(n)?;
    let mut v = value;
    for _ in 0..=n {
        out.push(Some(v));
        if let Some(d) = delta {
            v += d;
        }
    }
    Ok(())
}

fn parse_uint(s: &str) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("expected a repetition count, got {s:?}"));
    }
    let n: u64 = s.parse().map_err(|_| format!("count {s:?} is too large"))?;
    if n > 1_000_000 {
        return Err(format!("count {n} is too large"));
    }
    Ok(n)
}

/// An optionally signed number at the start of `s`, and the rest.
fn signed_number(s: &str) -> Result<(f64, &str), String> {
    let (sign, body) = match s.as_bytes().first() {
        Some(b'+') => (1.0, &s[1..]),
        Some(b'-') => (-1.0, &s[1..]),
        _ => (1.0, s),
    };
    let (v, rest) = number(body)?;
    Ok((sign * v, rest))
}

/// A number as promtool's series lexer reads it: digits with optional fraction and
/// exponent (integers with a leading 0 are octal, as Go's `ParseInt(s, 0, 64)`), or
/// `Inf`/`NaN` in any case.
fn number(s: &str) -> Result<(f64, &str), String> {
    let alpha_end = s
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(s.len());
    let word = &s[..alpha_end];
    if word.eq_ignore_ascii_case("inf") {
        return Ok((f64::INFINITY, &s[alpha_end..]));
    }
    if word.eq_ignore_ascii_case("nan") {
        return Ok((f64::NAN, &s[alpha_end..]));
    }
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
    };
    digits(&mut i);
    if i < b.len() && b[i] == b'.' {
        i += 1;
        digits(&mut i);
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        digits(&mut i);
    }
    let (num, rest) = s.split_at(i);
    if num.is_empty() || num == "." {
        return Err(format!("expected a number at {s:?}"));
    }
    if rest.starts_with(|c: char| c.is_ascii_alphanumeric() && c != 'x') {
        return Err(format!("unexpected {rest:?} after {num:?}"));
    }
    let v =
        if num.len() > 1 && num.starts_with('0') && num.bytes().all(|c| (b'0'..=b'7').contains(&c))
        {
            i64::from_str_radix(&num[1..], 8)
                .map(|n| n as f64)
                .map_err(|e| e.to_string())?
        } else {
            num.parse::<f64>().map_err(|e| format!("{num:?}: {e}"))?
        };
    Ok((v, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::expr::is_stale;

    fn ex(s: &str) -> Vec<Option<f64>> {
        expand(s).unwrap()
    }

    #[test]
    fn expanding_notation() {
        assert_eq!(ex("1 2 3"), vec![Some(1.0), Some(2.0), Some(3.0)]);
        assert_eq!(ex("1x3"), vec![Some(1.0); 4]);
        assert_eq!(
            ex("1+1x3"),
            vec![Some(1.0), Some(2.0), Some(3.0), Some(4.0)]
        );
        assert_eq!(ex("0-2x2"), vec![Some(0.0), Some(-2.0), Some(-4.0)]);
        assert_eq!(ex("-1+0.5x1"), vec![Some(-1.0), Some(-0.5)]);
        assert_eq!(ex("_ _x2 1"), vec![None, None, None, Some(1.0)]);
        assert_eq!(
            ex("1e3 2.5E-1 010"),
            vec![Some(1000.0), Some(0.25), Some(8.0)]
        );
        assert_eq!(
            ex("Inf -inf"),
            vec![Some(f64::INFINITY), Some(f64::NEG_INFINITY)]
        );
        let v = ex("NaN stale");
        assert!(v[0].is_some_and(|x| x.is_nan() && !is_stale(x)));
        assert!(v[1].is_some_and(is_stale));
        assert_eq!(ex("1e2x1"), vec![Some(100.0); 2]);
    }

    #[test]
    fn bad_notation_is_an_error() {
        for bad in ["1x", "x3", "1+1", "abc", "1y3", "_x", "1+x3"] {
            assert!(expand(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn add_places_samples_at_multiples_of_the_interval() {
        let mut m = MemStorage::new();
        m.add(r#"up{job="a"}"#, "1 _ 3", 60_000).unwrap();
        let s = &m.series()[0];
        assert_eq!(s.labels.get(NAME), Some("up"));
        assert_eq!(s.labels.get("job"), Some("a"));
        assert_eq!(s.points, vec![(0, 1.0), (120_000, 3.0)]);
        assert!(m.add(r#"up{job=~"a"}"#, "1", 1).is_err());
    }
}
