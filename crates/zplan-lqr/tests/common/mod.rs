//! Seeded random problems shared by the integration tests.
#![allow(dead_code)]

use ndarray::Array2;
use zplan_lqr::{
    Cost, Dynamics, LqrProblem, Problem, QuadraticCost, Settings, Solution, SolveError, Status,
    Workspace, solve,
};

use zplan_lqr::systems::RandomMatrices;

/// x' = A x + B u with A = I + noise of scale `spread` (n x n) and B uniform (n x m).
pub fn random_linear(
    rng: &mut RandomMatrices,
    n: usize,
    m: usize,
    spread: f64,
) -> (Array2<f64>, Array2<f64>) {
    let a = Array2::<f64>::eye(n) + rng.matrix(n, n, spread);
    (a, rng.matrix(n, m, 1.0))
}

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

/// The buffers and settings of solves of one size: a workspace for (n, m, T) and the settings'
/// line-search batch, and one solution holding the warm start.
pub struct Run {
    pub ws: Workspace,
    pub sol: Solution,
    pub settings: Settings,
}

impl Run {
    pub fn new(n: usize, m: usize, horizon: usize, settings: Settings) -> Self {
        Self {
            ws: Workspace::new(n, m, horizon, settings.largest_line_search_batch()),
            sol: Solution::new(n, m, horizon),
            settings,
        }
    }

    /// Solves from the controls held in `sol`.
    pub fn solve<D, C>(
        &mut self,
        dynamics: &mut D,
        cost: &C,
        problem: &Problem,
    ) -> Result<Status, SolveError>
    where
        D: Dynamics + ?Sized,
        C: Cost + ?Sized,
    {
        solve(
            dynamics,
            cost,
            problem,
            &self.settings,
            &mut self.ws,
            &mut self.sol,
        )
    }
}

/// The cart-pole's cost toward upright at rest: Q = diag(1, 0.1, 0.1, 0.1), R = 0.01,
/// Q_T = `terminal` diag(10, 1, 1, 1).
pub fn cartpole_cost(terminal: f64) -> QuadraticCost {
    QuadraticCost::new(
        Array2::from_diag(&ndarray::arr1(&[1.0, 0.1, 0.1, 0.1])),
        Array2::from_elem((1, 1), 0.01),
        Array2::from_diag(&ndarray::arr1(&[10.0, 1.0, 1.0, 1.0])) * terminal,
        ndarray::Array1::zeros(4),
    )
    .unwrap()
}
