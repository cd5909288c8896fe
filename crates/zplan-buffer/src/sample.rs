//! Seeded uniform sampling of transitions and of sequences inside episodes.

use crate::buffer::Buffer;

/// SplitMix64: a small seeded generator, identical on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0), without modulo bias worth noticing for n << 2^64.
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// Draws from the committed rows of a buffer as they were when the sampler was made.
pub struct Sampler {
    rng: Rng,
    /// Rows that start a transition.
    transitions: Vec<usize>,
    /// For each row, how many consecutive transitions start there (0 for a final row).
    run: Vec<usize>,
}

impl Sampler {
    /// Indexes the committed rows of `buffer`; draws are reproducible from `seed`.
    pub fn new(buffer: &Buffer, seed: u64) -> Self {
        let n = buffer.committed_len();
        let mut run = vec![0; n];
        for i in (0..n).rev() {
            if buffer.is_valid(i) {
                run[i] = 1 + if i + 1 < n { run[i + 1] } else { 0 };
            }
        }
        let transitions = (0..n).filter(|&i| run[i] > 0).collect();
        Self {
            rng: Rng::new(seed),
            transitions,
            run,
        }
    }

    /// Number of transitions to draw from.
    pub fn transitions(&self) -> usize {
        self.transitions.len()
    }

    /// `count` transition rows drawn uniformly with replacement: row i is (o_i, u_i, r_i) with
    /// next observation row i + 1. Empty when the buffer holds no transition.
    pub fn sample_transitions(&mut self, count: usize) -> Vec<usize> {
        if self.transitions.is_empty() {
            return Vec::new();
        }
        (0..count)
            .map(|_| self.transitions[self.rng.below(self.transitions.len())])
            .collect()
    }

    /// `count` start rows of sequences of `length` consecutive transitions inside one episode
    /// (rows s .. s + length, observations s ..= s + length), uniform over all such starts.
    pub fn sample_sequences(&mut self, count: usize, length: usize) -> Vec<usize> {
        let starts: Vec<usize> = (0..self.run.len())
            .filter(|&i| self.run[i] >= length.max(1))
            .collect();
        if starts.is_empty() {
            return Vec::new();
        }
        (0..count)
            .map(|_| starts[self.rng.below(starts.len())])
            .collect()
    }
}
