//! Entries found by 64-bit digest: the digests sorted once, each lookup starting where an
//! evenly spread key would sit. SipHash digests are evenly spread, so a lookup probes a few
//! neighbours instead of bisecting the whole array: for 200,000 entries, 18 probes that each
//! miss the cache, which was a tenth of a no-op night's CPU.

use std::hash::Hasher;

/// SipHash (std's keyed hasher, with fixed keys) of `parts`, each closed by a separator so
/// that `["ab", "c"]` and `["a", "bc"]` differ.
pub(crate) fn digest(parts: &[&[u8]]) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    for part in parts {
        hasher.write(part);
        hasher.write_u8(0xff);
    }
    hasher.finish()
}

/// Digests, each with a value (a row or a position), sorted by digest; entries with one
/// digest keep the order they were given in.
#[derive(Debug, Default)]
pub(crate) struct DigestIndex {
    keys: Vec<u64>,
    values: Vec<u32>,
}

impl From<Vec<(u64, u32)>> for DigestIndex {
    fn from(mut pairs: Vec<(u64, u32)>) -> DigestIndex {
        // Stable: equal digests keep their order. Already sorted input costs one pass.
        pairs.sort_by_key(|&(key, _)| key);
        let (keys, values) = pairs.into_iter().unzip();
        DigestIndex { keys, values }
    }
}

impl DigestIndex {
    /// The value of the first entry with `key`.
    pub(crate) fn get(&self, key: u64) -> Option<u32> {
        let at = self.lower_bound(key);
        (self.keys.get(at) == Some(&key)).then(|| self.values[at])
    }

    fn lower_bound(&self, key: u64) -> usize {
        lower_bound(self.keys.len(), key, |at| self.keys[at])
    }
}

/// The first position in `0..n` whose key is not below `key`, for keys ascending and evenly
/// spread (`key_at` gives the key at a position): from the position an evenly spread key
/// would have, steps doubling outward until `key` is bracketed, then bisection. Keys that
/// are not evenly spread still give the right answer, in more probes.
pub(crate) fn lower_bound(n: usize, key: u64, key_at: impl Fn(usize) -> u64) -> usize {
    if n == 0 {
        return 0;
    }
    let guess = ((u128::from(key) * n as u128) >> 64) as usize;
    let (mut lo, mut hi) = if key_at(guess) < key {
        // The answer is past the guess: (guess, n].
        let (mut lo, mut step) = (guess + 1, 1);
        loop {
            let probe = guess + step;
            if probe >= n {
                break (lo, n);
            }
            if key_at(probe) >= key {
                break (lo, probe);
            }
            lo = probe + 1;
            step *= 2;
        }
    } else {
        // The answer is at the guess or before it: [0, guess].
        let (mut hi, mut step) = (guess, 1);
        loop {
            if step > guess {
                break (0, hi);
            }
            let probe = guess - step;
            if key_at(probe) < key {
                break (probe + 1, hi);
            }
            hi = probe;
            step *= 2;
        }
    };
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if key_at(mid) < key {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a plain bisection, for present and absent keys, evenly spread or clustered
    /// (the index stays right, only slower, on keys that are not spread), with duplicates.
    #[test]
    fn finds_what_bisection_finds() {
        for spread in [true, false] {
            for n in [0usize, 1, 2, 3, 17, 1000] {
                let key_of = |i: usize| {
                    let d = digest(&[&i.to_le_bytes()]);
                    if spread { d } else { d >> 40 }
                };
                // Every third key twice: the first of equal keys is found.
                let mut pairs: Vec<(u64, u32)> = (0..n).map(|i| (key_of(i), i as u32)).collect();
                pairs.extend((0..n).step_by(3).map(|i| (key_of(i), (n + i) as u32)));
                let index = DigestIndex::from(pairs.clone());
                let mut sorted = pairs.clone();
                sorted.sort_by_key(|&(k, _)| k);
                let keys: Vec<u64> = sorted.iter().map(|&(k, _)| k).collect();
                let probes = (0..n + 50).map(key_of).chain([0, 1, 1 << 63, u64::MAX - 1, u64::MAX]);
                for key in probes {
                    let expected = keys.partition_point(|&k| k < key);
                    assert_eq!(
                        lower_bound(keys.len(), key, |at| keys[at]),
                        expected,
                        "n {n} spread {spread}"
                    );
                    let first = sorted.iter().find(|(k, _)| *k == key).map(|&(_, v)| v);
                    assert_eq!(index.get(key), first, "n {n} spread {spread}");
                }
            }
        }
    }
}
