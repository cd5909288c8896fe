//! The terminal weight of the goal objective: the cost-to-go of LQR on the latent dynamics
//! linearised at the goal.
//!
//! A horizon of a few steps cannot see where a motion leads. On an unstable system such as the
//! cart-pole, the plan that is cheapest over T steps lets the pole gain a speed that no force
//! can take out afterwards. With (A, B) the Jacobians of f at the goal (z_g, u_g) and the
//! stage weights Q, R, the Riccati recursion
//!
//! ```text
//! P_0 = Q,   P_{k+1} = Q + A'P_k A - A'P_k B (R + B'P_k B)^-1 B'P_k A
//! ```
//!
//! run for N steps gives the cost of N further steps of LQR from the end of the plan, and
//! Q_T = P_N makes the T-step plan cost what a (T + N)-step plan would near the goal (the
//! terminal cost of stabilising MPC; Mayne et al. 2000). A learned model's goal is seldom its
//! fixed point: in dz = z - z_g, du = u - u_g the linearisation is dz' = A dz + B du + c with
//! the drift c = f(z_g, u_g) - z_g, and the same backward pass carries the value gradient p,
//! so that l_T(z) = 1/2 dz' P_N dz + p_N' dz.

use ndarray::{Array2, Array3, ArrayView1, ArrayView2, Axis, s};
use zplan_lqr::{Dynamics, LqrProblem, LqrSolution, LqrWorkspace, lqr_backward};

use crate::dynamics::LatentDynamics;
use crate::planner::PlanError;

/// N-step LQR at the goal, sized once.
pub(crate) struct GoalLqr {
    problem: LqrProblem,
    workspace: LqrWorkspace,
    solution: LqrSolution,
    /// The goal z_g (1 x nz) and u_g (1 x nu) the dynamics are linearised at.
    z: Array2<f64>,
    u: Array2<f64>,
    /// f(z_g, u_g), 1 x nz.
    next: Array2<f64>,
    /// [A B] at (z_g, u_g), 1 x nz x (nz + nu).
    jacobian: Array3<f64>,
}

impl GoalLqr {
    /// N = `steps` >= 1 steps of LQR with Q = q I, R = r I, linearised at the action `u_goal`.
    pub(crate) fn new(steps: usize, q: f64, r: f64, u_goal: &[f64], nz: usize) -> Self {
        let (nu, u_goal) = (u_goal.len(), ArrayView1::from(u_goal));
        let mut problem = LqrProblem::new(nz, nu, steps);
        for t in 0..steps {
            problem.q_mut(t).diag_mut().fill(q);
            problem.r_mut(t).diag_mut().fill(r);
            // 1/2 u'Ru = 1/2 du'R du + (R u_g)'du + const in du = u - u_g.
            problem.r_lin_mut(t).assign(&(&u_goal * r));
        }
        problem.q_terminal_mut().diag_mut().fill(q);
        let mut u = Array2::zeros((1, nu));
        u.row_mut(0).assign(&u_goal);
        Self {
            problem,
            workspace: LqrWorkspace::new(nz, nu),
            solution: LqrSolution::new(nz, nu, steps),
            z: Array2::zeros((1, nz)),
            u,
            next: Array2::zeros((1, nz)),
            jacobian: Array3::zeros((1, nz, nz + nu)),
        }
    }

    /// (P_N, p_N) for the goal `z_goal`: linearises the dynamics there and runs the recursion.
    pub(crate) fn cost_to_go(
        &mut self,
        dynamics: &mut LatentDynamics,
        z_goal: ArrayView1<'_, f64>,
    ) -> Result<(ArrayView2<'_, f64>, ArrayView1<'_, f64>), PlanError> {
        let nz = z_goal.len();
        self.z.row_mut(0).assign(&z_goal);
        dynamics
            .linearize(self.z.view(), self.u.view(), self.jacobian.view_mut())
            .map_err(|source| zplan_lqr::SolveError::Dynamics { stage: 0, source })?;
        dynamics
            .step(0, self.z.view(), self.u.view(), self.next.view_mut())
            .map_err(|source| zplan_lqr::SolveError::Dynamics { stage: 0, source })?;
        let (a, b) = (
            self.jacobian.slice(s![0, .., ..nz]),
            self.jacobian.slice(s![0, .., nz..]),
        );
        // z' - z_g = A (z - z_g) + B (u - u_g) + c, the drift c = f(z_g, u_g) - z_g.
        for t in 0..self.problem.horizon() {
            self.problem.a_mut(t).assign(&a);
            self.problem.b_mut(t).assign(&b);
            let mut c = self.problem.c_mut(t);
            c.assign(&self.next.row(0));
            c -= &z_goal;
        }
        lqr_backward(&self.problem, &mut self.workspace, &mut self.solution)?;
        Ok((
            self.solution.value_hessians().index_axis_move(Axis(0), 0),
            self.solution.value_gradients().index_axis_move(Axis(0), 0),
        ))
    }
}
