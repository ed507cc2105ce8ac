//! Seeded random numbers: the same seed gives the same run, so a failure reproduces.

/// xorshift64*.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Up to `max` random bytes.
    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = (self.next() as usize) % (max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// `seed` with a few bytes changed, cut or extended.
    pub fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut out = seed.to_vec();
        for _ in 0..1 + self.next() % 4 {
            match self.next() % 4 {
                0 if !out.is_empty() => {
                    let i = (self.next() as usize) % out.len();
                    out[i] = self.next() as u8;
                }
                1 => out.truncate((self.next() as usize) % (out.len() + 1)),
                2 => out.extend(self.bytes(16)),
                _ if out.len() >= 8 => {
                    // Large length fields are the classic attack.
                    let i = (self.next() as usize) % (out.len() - 7);
                    out[i..i + 8].copy_from_slice(&u64::MAX.to_le_bytes());
                }
                _ => {}
            }
        }
        out
    }
}

/// Plain xorshift64 (13, 7, 17), without the multiplier of [`Rng`]: the sequence the
/// export kill test has always drawn its kill times from.
pub struct Xorshift64(pub u64);

impl Xorshift64 {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
