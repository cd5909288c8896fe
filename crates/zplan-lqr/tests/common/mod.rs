//! Seeded random problems shared by the integration tests.
#![allow(dead_code)]

use ndarray::Array2;
use zplan_lqr::LqrProblem;

use zplan_lqr::systems::RandomMatrices;

/// A random time-varying affine LQR problem with cross terms and linear costs.
pub fn random_lqr(n: usize, m: usize, horizon: usize, seed: u64) -> LqrProblem {
    let mut rng = RandomMatrices::new(seed);
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
