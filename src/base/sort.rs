//! Stable sorting for the paths that are not hot (config checks, API responses, alert and
//! rule lists). The standard library's sort is compiled once per call site (its comparison
//! closure is part of the type), about 6 KiB each; these functions sort through one
//! non-generic index sort instead, so a call site adds a few hundred bytes. Per-probe and
//! per-scrape code keeps `slice::sort_by`.

use std::cmp::Ordering;

/// `v.sort_by(cmp)`: stable, and the same order.
pub fn sort_by<T>(v: &mut [T], mut cmp: impl FnMut(&T, &T) -> Ordering) {
    if v.len() < 2 {
        return;
    }
    let mut order: Vec<usize> = (0..v.len()).collect();
    sort_indices(&mut order, &mut |i, j| cmp(&v[i], &v[j]));
    permute(v, &order);
}

/// `v.sort_by_key(key)`: stable, and the same order.
pub fn sort_by_key<T, K: Ord>(v: &mut [T], mut key: impl FnMut(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)));
}

/// Sorts `order` (indexes) by `cmp`, stably: the one instance of the standard sort.
#[inline(never)]
fn sort_indices(order: &mut [usize], cmp: &mut dyn FnMut(usize, usize) -> Ordering) {
    order.sort_by(|&i, &j| cmp(i, j));
}

/// Rearranges `v` so that position `k` holds what was at `order[k]`, in place: the element
/// for `k` is where the swaps of earlier positions left it, found by following `order`.
fn permute<T>(v: &mut [T], order: &[usize]) {
    for k in 0..v.len() {
        let mut from = order[k];
        while from < k {
            from = order[from];
        }
        v.swap(k, from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_like_the_standard_stable_sort() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for len in 0..200 {
            // Few distinct keys, so stability is tested; the second field is the input order.
            let items: Vec<(u64, usize)> = (0..len).map(|i| (next() % 7, i)).collect();
            let mut want = items.clone();
            want.sort_by_key(|a| a.0);
            let mut got = items.clone();
            sort_by(&mut got, |a, b| a.0.cmp(&b.0));
            assert_eq!(got, want, "len {len}");
            let mut got = items.clone();
            sort_by_key(&mut got, |a| std::cmp::Reverse(a.0));
            let mut want2 = items;
            want2.sort_by_key(|a| std::cmp::Reverse(a.0));
            assert_eq!(got, want2, "len {len}, by key");
        }
    }

    #[test]
    fn moves_owned_values_without_losing_any() {
        let mut v: Vec<String> = ["d", "b", "a", "c", "b"].map(String::from).to_vec();
        sort_by(&mut v, |a, b| a.cmp(b));
        assert_eq!(v, ["a", "b", "b", "c", "d"]);
    }
}
