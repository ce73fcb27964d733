//! Label sets and their fingerprints, shared by the rule engine and the alert pipeline.
//! (Matchers in Alertmanager's syntax live here too once the alert pipeline adds them.)

use std::collections::BTreeMap;

/// A label set: names to values, sorted by name. Empty values are not stored by convention.
pub type LabelSet = BTreeMap<String, String>;

/// The Prometheus/Alertmanager fingerprint of a label set: FNV-1a 64 over the sorted
/// `name 0xFF value 0xFF` bytes. Alertmanager prints it as `%016x`.
pub fn fingerprint(labels: &LabelSet) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for (name, value) in labels {
        add(name.as_bytes());
        add(&[0xff]);
        add(value.as_bytes());
        add(&[0xff]);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_set_is_the_fnv_offset() {
        assert_eq!(fingerprint(&LabelSet::new()), 0xcbf2_9ce4_8422_2325);
    }

    #[test]
    fn order_of_insertion_does_not_matter() {
        let a: LabelSet = [("a", "1"), ("b", "2")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let b: LabelSet = [("b", "2"), ("a", "1")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&LabelSet::new()));
    }
}
