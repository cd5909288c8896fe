//! Seeded random problems shared by the integration tests.
#![allow(dead_code)]

use ndarray::{Array1, Array2};
use zplan_lqr::LqrProblem;

/// A small deterministic generator (PCG-style LCG), uniform in [-0.5, 0.5).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E3779B97F4A7C15) ^ 0xD1B54A32D192ED03)
    }

    pub fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) - 0.5
    }

    pub fn matrix(&mut self, rows: usize, cols: usize, scale: f64) -> Array2<f64> {
        Array2::from_shape_fn((rows, cols), |_| scale * self.next())
    }

    pub fn vector(&mut self, len: usize, scale: f64) -> Array1<f64> {
        Array1::from_shape_fn(len, |_| scale * self.next())
    }

    /// M'M + shift I.
    pub fn spd(&mut self, n: usize, shift: f64) -> Array2<f64> {
        let m = self.matrix(n, n, 1.0);
        m.t().dot(&m) + Array2::<f64>::eye(n) * shift
    }
}

/// A random time-varying affine LQR problem with cross terms and linear costs.
pub fn random_lqr(n: usize, m: usize, horizon: usize, seed: u64) -> LqrProblem {
    let mut rng = Rng::new(seed);
    let mut p = LqrProblem::new(n, m, horizon);
    for t in 0..horizon {
        p.a_mut(t)
            .assign(&(Array2::<f64>::eye(n) + rng.matrix(n, n, 0.4)));
        p.b_mut(t).assign(&rng.matrix(n, m, 1.0));
        p.c_mut(t).assign(&rng.vector(n, 0.2));
        p.q_mut(t).assign(&rng.spd(n, 1.0));
        p.r_mut(t).assign(&rng.spd(m, 1.0));
        p.n_mut(t).assign(&rng.matrix(m, n, 0.2));
        p.q_lin_mut(t).assign(&rng.vector(n, 1.0));
        p.r_lin_mut(t).assign(&rng.vector(m, 1.0));
    }
    p.q_terminal_mut().assign(&rng.spd(n, 1.0));
    p.q_lin_terminal_mut().assign(&rng.vector(n, 1.0));
    p
}
