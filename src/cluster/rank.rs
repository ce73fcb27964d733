//! Rendezvous (highest random weight) ranking: for a key (an aggregation group, a scheduled
//! target) every member gets a score from a hash of (member, key); the highest score owns
//! the key and the order of the scores is the order in which the others take over. When a
//! member joins or leaves, only the keys it owned (or now owns) move. Pure.

use sha2::{Digest, Sha256};

/// The score of `member` for `key`: the first 8 bytes of SHA-256(member NUL key). Stable
/// across processes, versions and platforms, so every replica computes the same order.
pub fn score(member: &str, key: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(member.as_bytes());
    h.update([0u8]);
    h.update(key.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// Where `me` stands for `key` among `members` (which should include `me`): 0 for the
/// owner, 1 for the next, … Ties (never in practice) go to the smaller name. A member not
/// in the list ranks last.
pub fn position(members: &[String], me: &str, key: &str) -> usize {
    let mine = score(me, key);
    members
        .iter()
        .filter(|m| m.as_str() != me)
        .filter(|m| {
            let theirs = score(m, key);
            theirs > mine || (theirs == mine && m.as_str() < me)
        })
        .count()
}

/// The `n` members that own `key`, best first.
pub fn owners<'a>(members: &'a [String], key: &str, n: usize) -> Vec<&'a str> {
    let mut scored: Vec<(u64, &str)> = members
        .iter()
        .map(|m| (score(m, key), m.as_str()))
        .collect();
    crate::base::sort::sort_by(&mut scored, |a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.into_iter().take(n).map(|(_, m)| m).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("blackwatch-{i}:9094")).collect()
    }

    #[test]
    fn every_key_has_exactly_one_owner_and_a_total_order() {
        let m = members(3);
        for k in 0..500 {
            let key = format!("{{}}:{{alertname=\"a{k}\"}}");
            let mut ranks: Vec<usize> = m.iter().map(|me| position(&m, me, &key)).collect();
            ranks.sort();
            assert_eq!(ranks, vec![0, 1, 2], "{key}");
            assert_eq!(
                owners(&m, &key, 1)[0],
                m.iter().find(|me| position(&m, me, &key) == 0).unwrap()
            );
        }
    }

    #[test]
    fn keys_spread_evenly_and_only_a_leavers_keys_move() {
        let m = members(3);
        let keys: Vec<String> = (0..3000)
            .map(|i| format!("job/https://host-{i}.example/"))
            .collect();
        let mut counts = [0usize; 3];
        for k in &keys {
            let o = owners(&m, k, 1)[0];
            counts[m.iter().position(|x| x == o).unwrap()] += 1;
        }
        for c in counts {
            assert!((850..=1150).contains(&c), "uneven: {counts:?}");
        }
        let two: Vec<String> = m[..2].to_vec();
        for k in &keys {
            let before = owners(&m, k, 1)[0];
            let after = owners(&two, k, 1)[0];
            if before != m[2] {
                assert_eq!(before, after, "{k} moved although its owner stayed");
            }
        }
    }

    #[test]
    fn a_member_outside_the_list_ranks_last() {
        let m = members(2);
        assert_eq!(position(&m, "stranger:1", "k"), 2);
    }
}
