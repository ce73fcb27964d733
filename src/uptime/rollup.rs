//! One rollup: what a period (a minute, an hour, a day) of one target's probes adds up to —
//! probes, successes, the latency sum, and a fixed log-bucket latency histogram — with its
//! compact on-disk encoding and the quantile estimate. Pure: no I/O, no clock.
//!
//! **Histogram and error bound.** `BUCKETS` buckets: bucket 0 holds latencies below
//! `FIRST_BOUND` (100 µs), bucket `i ≥ 1` holds `[100 µs · r^(i−1), 100 µs · r^i)` with
//! `r = 2^(1/4)`, the last one everything from `100 µs · r^78` (≈ 74 s) up. A quantile is the
//! bucket's geometric midpoint, so for latencies between 100 µs and 74 s the estimate is
//! within a factor `2^(1/8)` of the true (nearest-rank) quantile: **at most 9.1 % off**.

/// Number of histogram buckets.
pub const BUCKETS: usize = 80;
/// Upper bound of bucket 0, seconds.
pub const FIRST_BOUND: f64 = 1e-4;
/// log2 of the bucket ratio's inverse: buckets per doubling.
const PER_DOUBLING: f64 = 4.0;

/// The bucket a latency (seconds) falls into.
pub fn bucket_of(seconds: f64) -> usize {
    if seconds.is_nan() || seconds < FIRST_BOUND {
        return 0;
    }
    let i = 1.0 + ((seconds / FIRST_BOUND).log2() * PER_DOUBLING).floor();
    if i >= (BUCKETS - 1) as f64 {
        BUCKETS - 1
    } else {
        i as usize
    }
}

/// The value a bucket stands for: its geometric midpoint (bucket 0: half its bound; the last
/// bucket: its lower bound).
pub fn bucket_value(bucket: usize) -> f64 {
    match bucket {
        0 => FIRST_BOUND / 2.0,
        b if b >= BUCKETS - 1 => FIRST_BOUND * ((b - 1) as f64 / PER_DOUBLING).exp2(),
        b => FIRST_BOUND * ((b as f64 - 0.5) / PER_DOUBLING).exp2(),
    }
}

/// Probes of one target over some period, added up.
#[derive(Clone, Debug, PartialEq)]
pub struct Rollup {
    pub probes: u64,
    pub successes: u64,
    /// Sum of `probe_duration_seconds` over all probes, failed ones included.
    pub latency_sum: f64,
    pub histogram: [u32; BUCKETS],
}

impl Default for Rollup {
    fn default() -> Self {
        Self {
            probes: 0,
            successes: 0,
            latency_sum: 0.0,
            histogram: [0; BUCKETS],
        }
    }
}

impl Rollup {
    /// Counts one probe.
    pub fn observe(&mut self, success: bool, latency_seconds: f64) {
        self.probes += 1;
        self.successes += u64::from(success);
        let latency = if latency_seconds.is_finite() && latency_seconds > 0.0 {
            latency_seconds
        } else {
            0.0
        };
        self.latency_sum += latency;
        let b = &mut self.histogram[bucket_of(latency)];
        *b = b.saturating_add(1);
    }

    /// Adds another rollup to this one.
    pub fn merge(&mut self, other: &Rollup) {
        self.probes += other.probes;
        self.successes += other.successes;
        self.latency_sum += other.latency_sum;
        for (a, b) in self.histogram.iter_mut().zip(other.histogram.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    /// successes / probes; `None` without probes.
    pub fn ratio(&self) -> Option<f64> {
        (self.probes > 0).then(|| self.successes as f64 / self.probes as f64)
    }

    /// Mean latency; `None` without probes.
    pub fn latency_avg(&self) -> Option<f64> {
        (self.probes > 0).then(|| self.latency_sum / self.probes as f64)
    }

    /// The nearest-rank `q`-quantile of the latencies (the ⌈q·n⌉-th smallest), estimated from
    /// the histogram (see the module doc for the bound); `None` without probes.
    pub fn latency_quantile(&self, q: f64) -> Option<f64> {
        let total: u64 = self.histogram.iter().map(|c| u64::from(*c)).sum();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, c) in self.histogram.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= rank {
                return Some(bucket_value(i));
            }
        }
        Some(bucket_value(BUCKETS - 1))
    }

    /// The on-disk form: varint probes, varint successes, the f64 sum (little endian), then
    /// one (bucket byte, varint count) pair per non-empty bucket. Two probes in a minute take
    /// about 14 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        put_varint(out, self.probes);
        put_varint(out, self.successes);
        out.extend_from_slice(&self.latency_sum.to_le_bytes());
        for (i, c) in self.histogram.iter().enumerate() {
            if *c > 0 {
                out.push(i as u8);
                put_varint(out, u64::from(*c));
            }
        }
    }

    /// Decodes [`Rollup::encode`]'s bytes; `None` when they are not such bytes.
    pub fn decode(mut bytes: &[u8]) -> Option<Rollup> {
        let probes = get_varint(&mut bytes)?;
        let successes = get_varint(&mut bytes)?;
        let (sum, rest) = bytes.split_first_chunk::<8>()?;
        bytes = rest;
        let mut r = Rollup {
            probes,
            successes,
            latency_sum: f64::from_le_bytes(*sum),
            histogram: [0; BUCKETS],
        };
        while let Some((&b, rest)) = bytes.split_first() {
            bytes = rest;
            let c = get_varint(&mut bytes)?;
            let slot = r.histogram.get_mut(usize::from(b))?;
            *slot = u32::try_from(c).unwrap_or(u32::MAX);
        }
        Some(r)
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_quarter_doublings_from_100us() {
        assert_eq!(bucket_of(0.0), 0);
        assert_eq!(bucket_of(f64::NAN), 0);
        assert_eq!(bucket_of(0.000_099), 0);
        assert_eq!(bucket_of(0.0001), 1);
        assert_eq!(bucket_of(0.0002), 5);
        assert_eq!(bucket_of(1e6), BUCKETS - 1);
        // Every latency in the covered range is within 2^(1/8) of its bucket's value.
        let bound = 2f64.powf(0.125) * (1.0 + 1e-12);
        let mut v = 0.0001;
        while v < 74.0 {
            let est = bucket_value(bucket_of(v));
            assert!(est / v <= bound && v / est <= bound, "{v} -> {est}");
            v *= 1.013;
        }
    }

    #[test]
    fn quantiles_are_nearest_rank_within_the_bound() {
        let mut r = Rollup::default();
        for ms in 1..=100 {
            r.observe(ms != 100, f64::from(ms) / 1000.0);
        }
        assert_eq!(r.probes, 100);
        assert_eq!(r.successes, 99);
        assert_eq!(r.ratio(), Some(0.99));
        for (q, want) in [(0.5, 0.050), (0.95, 0.095), (0.99, 0.099)] {
            let got = r.latency_quantile(q).unwrap_or_default();
            assert!((got / want - 1.0).abs() <= 0.0906, "q{q}: {got} vs {want}");
        }
        assert_eq!(Rollup::default().latency_quantile(0.5), None);
        assert_eq!(Rollup::default().ratio(), None);
    }

    #[test]
    fn encoding_round_trips_and_is_small() {
        let mut r = Rollup::default();
        r.observe(true, 0.120);
        r.observe(false, 0.118);
        let mut buf = Vec::new();
        r.encode(&mut buf);
        assert!(buf.len() <= 14, "{}", buf.len());
        assert_eq!(Rollup::decode(&buf), Some(r.clone()));
        r.observe(true, 3.0);
        for _ in 0..300 {
            r.observe(true, 0.01);
        }
        r.encode(&mut buf);
        assert_eq!(Rollup::decode(&buf), Some(r));
        assert_eq!(Rollup::decode(&[0x80]), None);
        assert_eq!(Rollup::decode(&[1, 1, 0, 0]), None);
        assert_eq!(
            Rollup::decode(&[1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 200, 1]),
            None
        );
    }

    #[test]
    fn merge_adds_everything() {
        let mut a = Rollup::default();
        a.observe(true, 0.1);
        let mut b = Rollup::default();
        b.observe(false, 0.3);
        b.observe(true, 0.1);
        a.merge(&b);
        assert_eq!((a.probes, a.successes), (3, 2));
        assert!((a.latency_sum - 0.5).abs() < 1e-12);
        assert_eq!(a.histogram[bucket_of(0.1)], 2);
    }
}
