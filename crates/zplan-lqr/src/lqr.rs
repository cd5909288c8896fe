//! Time-varying, finite-horizon affine LQR.
//!
//! ```text
//! minimise   sum_{t<T} 1/2 x'Q_t x + 1/2 u'R_t u + u'N_t x + q_t'x + r_t'u  +  1/2 x'Q_T x + q_T'x
//! subject to x_{t+1} = A_t x_t + B_t u_t + c_t,   x_0 given
//! ```
//!
//! The backward Riccati pass gives the optimal affine policy u_t = K_t x_t + k_t and the value
//! function V_t(x) = 1/2 x'P_t x + p_t'x + const; the forward pass rolls the policy out from x_0.

use ndarray::{
    ArrayView1, ArrayView2, ArrayView3, ArrayViewMut1, ArrayViewMut2, ArrayViewMut3, Axis,
    ShapeBuilder, s,
};

use crate::boxqp::BoxQpSettings;
use crate::dense::{all_finite, first_non_finite};
use crate::error::{ModelError, SolveError};
use crate::model::{Cost, Dynamics};
use crate::riccati::{PolicyMut, QuadraticModel, RiccatiWork, backward_pass};
use crate::views;

/// An LQR problem of `n` states, `m` controls and a horizon of `T` stages, stored stage by stage.
///
/// All data start at zero; fill them through the `*_mut` views (row-major, no copies).
#[derive(Clone, Debug)]
pub struct LqrProblem {
    n: usize,
    m: usize,
    horizon: usize,
    /// T x n x (n+m): [A_t B_t].
    jacobians: Vec<f64>,
    /// T x n.
    defects: Vec<f64>,
    /// T x (n+m): [q_t; r_t].
    gradients: Vec<f64>,
    /// T x (n+m) x (n+m): [[Q_t, N_t'], [N_t, R_t]] (the N_t' block is not read).
    hessians: Vec<f64>,
    terminal_gradient: Vec<f64>,
    terminal_hessian: Vec<f64>,
}

/// The `rows x cols` block at (`row`, `col`) of stage `t`'s `stride`-wide matrix in `data`.
fn stage_block(
    data: &mut [f64],
    t: usize,
    stride: usize,
    (row, col): (usize, usize),
    (rows, cols): (usize, usize),
) -> ArrayViewMut2<'_, f64> {
    let start = t * stride * stride + row * stride + col;
    let len = if rows == 0 {
        0
    } else {
        (rows - 1) * stride + cols
    };
    ArrayViewMut2::from_shape(
        (rows, cols).strides((stride, 1)),
        &mut data[start..start + len],
    )
    .expect("block inside the stage")
}

/// Columns `col..col + cols` of stage `t`'s n x (n+m) Jacobian [A_t B_t].
fn jacobian_block(
    data: &mut [f64],
    t: usize,
    nm: usize,
    n: usize,
    col: usize,
    cols: usize,
) -> ArrayViewMut2<'_, f64> {
    let start = t * n * nm + col;
    let len = if n == 0 { 0 } else { (n - 1) * nm + cols };
    ArrayViewMut2::from_shape((n, cols).strides((nm, 1)), &mut data[start..start + len])
        .expect("block inside the stage")
}

impl LqrProblem {
    /// A zero problem with `n` states, `m` controls and `horizon` stages.
    pub fn new(n: usize, m: usize, horizon: usize) -> Self {
        let nm = n + m;
        Self {
            n,
            m,
            horizon,
            jacobians: vec![0.0; horizon * n * nm],
            defects: vec![0.0; horizon * n],
            gradients: vec![0.0; horizon * nm],
            hessians: vec![0.0; horizon * nm * nm],
            terminal_gradient: vec![0.0; n],
            terminal_hessian: vec![0.0; n * n],
        }
    }

    /// Number of states n.
    pub fn state_dim(&self) -> usize {
        self.n
    }

    /// Number of controls m.
    pub fn control_dim(&self) -> usize {
        self.m
    }

    /// Number of stages T.
    pub fn horizon(&self) -> usize {
        self.horizon
    }

    /// A_t, n x n.
    pub fn a_mut(&mut self, t: usize) -> ArrayViewMut2<'_, f64> {
        let (n, nm) = (self.n, self.n + self.m);
        jacobian_block(&mut self.jacobians, t, nm, n, 0, n)
    }

    /// B_t, n x m.
    pub fn b_mut(&mut self, t: usize) -> ArrayViewMut2<'_, f64> {
        let (n, m, nm) = (self.n, self.m, self.n + self.m);
        jacobian_block(&mut self.jacobians, t, nm, n, n, m)
    }

    /// Q_t, n x n, symmetric.
    pub fn q_mut(&mut self, t: usize) -> ArrayViewMut2<'_, f64> {
        let (n, nm) = (self.n, self.n + self.m);
        stage_block(&mut self.hessians, t, nm, (0, 0), (n, n))
    }

    /// R_t, m x m, symmetric.
    pub fn r_mut(&mut self, t: usize) -> ArrayViewMut2<'_, f64> {
        let (n, m, nm) = (self.n, self.m, self.n + self.m);
        stage_block(&mut self.hessians, t, nm, (n, n), (m, m))
    }

    /// N_t, m x n: the cross term u'N_t x.
    pub fn n_mut(&mut self, t: usize) -> ArrayViewMut2<'_, f64> {
        let (n, m, nm) = (self.n, self.m, self.n + self.m);
        stage_block(&mut self.hessians, t, nm, (n, 0), (m, n))
    }

    /// c_t, n.
    pub fn c_mut(&mut self, t: usize) -> ArrayViewMut1<'_, f64> {
        let n = self.n;
        ArrayViewMut1::from(&mut self.defects[t * n..(t + 1) * n])
    }

    /// q_t, n.
    pub fn q_lin_mut(&mut self, t: usize) -> ArrayViewMut1<'_, f64> {
        let nm = self.n + self.m;
        ArrayViewMut1::from(&mut self.gradients[t * nm..t * nm + self.n])
    }

    /// r_t, m.
    pub fn r_lin_mut(&mut self, t: usize) -> ArrayViewMut1<'_, f64> {
        let nm = self.n + self.m;
        ArrayViewMut1::from(&mut self.gradients[t * nm + self.n..(t + 1) * nm])
    }

    /// Q_T, n x n, symmetric.
    pub fn q_terminal_mut(&mut self) -> ArrayViewMut2<'_, f64> {
        ArrayViewMut2::from_shape((self.n, self.n), &mut self.terminal_hessian).expect("n x n")
    }

    /// q_T, n.
    pub fn q_lin_terminal_mut(&mut self) -> ArrayViewMut1<'_, f64> {
        ArrayViewMut1::from(&mut self.terminal_gradient)
    }

    /// Checks every number is finite; names the first that is not.
    fn check_finite(&self) -> Result<(), SolveError> {
        let (n, nm) = (self.n, self.n + self.m);
        let fields: [(&'static str, &[f64], usize); 4] = [
            ("dynamics [A B]", &self.jacobians, n * nm),
            ("defect c", &self.defects, n),
            ("cost gradient [q; r]", &self.gradients, nm),
            ("cost Hessian [Q N'; N R]", &self.hessians, nm * nm),
        ];
        for (what, data, per_stage) in fields {
            if let Some(i) = first_non_finite(data) {
                return Err(SolveError::NonFinite {
                    what,
                    stage: i / per_stage.max(1),
                });
            }
        }
        if !all_finite(&self.terminal_gradient) || !all_finite(&self.terminal_hessian) {
            return Err(SolveError::NonFinite {
                what: "terminal cost",
                stage: self.horizon,
            });
        }
        Ok(())
    }
}

/// Buffers for [`solve_lqr`], sized once for `n`, `m`.
pub struct LqrWorkspace {
    n: usize,
    m: usize,
    riccati: RiccatiWork,
}

impl LqrWorkspace {
    /// A workspace for problems of `n` states and `m` controls.
    pub fn new(n: usize, m: usize) -> Self {
        Self {
            n,
            m,
            riccati: RiccatiWork::new(n, m),
        }
    }
}

/// The optimal policy, value function and trajectory of an [`LqrProblem`].
#[derive(Clone, Debug)]
pub struct LqrSolution {
    n: usize,
    m: usize,
    max_horizon: usize,
    horizon: usize,
    gains: Vec<f64>,
    feedforward: Vec<f64>,
    value_hessians: Vec<f64>,
    value_gradients: Vec<f64>,
    states: Vec<f64>,
    controls: Vec<f64>,
}

impl LqrSolution {
    /// A solution for horizons up to `max_horizon`.
    pub fn new(n: usize, m: usize, max_horizon: usize) -> Self {
        let t = max_horizon;
        Self {
            n,
            m,
            max_horizon,
            horizon: 0,
            gains: vec![0.0; t * m * n],
            feedforward: vec![0.0; t * m],
            value_hessians: vec![0.0; (t + 1) * n * n],
            value_gradients: vec![0.0; (t + 1) * n],
            states: vec![0.0; (t + 1) * n],
            controls: vec![0.0; t * m],
        }
    }

    /// K_t for t < T, shape T x m x n.
    pub fn gains(&self) -> ArrayView3<'_, f64> {
        views::matrices(&self.gains, self.horizon, self.m, self.n)
    }

    /// k_t for t < T, shape T x m.
    pub fn feedforward(&self) -> ArrayView2<'_, f64> {
        views::matrix(&self.feedforward, self.horizon, self.m)
    }

    /// P_t (value Hessian) for t <= T, shape (T+1) x n x n.
    pub fn value_hessians(&self) -> ArrayView3<'_, f64> {
        views::matrices(&self.value_hessians, self.horizon + 1, self.n, self.n)
    }

    /// p_t (value gradient) for t <= T, shape (T+1) x n.
    pub fn value_gradients(&self) -> ArrayView2<'_, f64> {
        views::matrix(&self.value_gradients, self.horizon + 1, self.n)
    }

    /// x_t for t <= T, shape (T+1) x n.
    pub fn states(&self) -> ArrayView2<'_, f64> {
        views::matrix(&self.states, self.horizon + 1, self.n)
    }

    /// u_t for t < T, shape T x m.
    pub fn controls(&self) -> ArrayView2<'_, f64> {
        views::matrix(&self.controls, self.horizon, self.m)
    }
}

/// The backward Riccati pass alone: fills the policy (K_t, k_t) and value function (P_t, p_t) of
/// `solution` without rolling out a trajectory. Allocates nothing.
///
/// Fails on mismatched dimensions, a horizon longer than the solution holds, a non-finite
/// number, or an R_t + B_t'P_{t+1}B_t that is not positive definite (the problem is not
/// strictly convex in u).
pub fn lqr_backward(
    problem: &LqrProblem,
    workspace: &mut LqrWorkspace,
    solution: &mut LqrSolution,
) -> Result<(), SolveError> {
    let (n, m, horizon) = (problem.n, problem.m, problem.horizon);
    SolveError::check_dim("workspace state dimension", n, workspace.n)?;
    SolveError::check_dim("workspace control dimension", m, workspace.m)?;
    SolveError::check_dim("solution state dimension", n, solution.n)?;
    SolveError::check_dim("solution control dimension", m, solution.m)?;
    if horizon > solution.max_horizon {
        return Err(SolveError::HorizonTooLong {
            horizon,
            max: solution.max_horizon,
        });
    }
    let model = QuadraticModel {
        n,
        m,
        horizon,
        jacobians: &problem.jacobians,
        defects: Some(&problem.defects),
        cost_gradients: &problem.gradients,
        cost_hessians: &problem.hessians,
        terminal_gradient: &problem.terminal_gradient,
        terminal_hessian: &problem.terminal_hessian,
    };
    let mut policy = PolicyMut {
        value_hessians: &mut solution.value_hessians,
        value_gradients: &mut solution.value_gradients,
        gains: &mut solution.gains,
        feedforward: &mut solution.feedforward,
    };
    let result = backward_pass(
        &model,
        None,
        0.0,
        &BoxQpSettings::default(),
        &mut policy,
        &mut workspace.riccati,
    );
    // Every input reaches K_t, k_t or V_0, so finite outputs vouch for finite inputs; only on a
    // failure are the inputs scanned, to name the culprit.
    let finite = result.is_ok()
        && all_finite(&solution.gains[..horizon * m * n])
        && all_finite(&solution.feedforward[..horizon * m])
        && all_finite(&solution.value_hessians[..n * n])
        && all_finite(&solution.value_gradients[..n]);
    if !finite {
        problem.check_finite()?;
        return Err(match result {
            Err(stage) => SolveError::NotPositiveDefinite { stage },
            Ok(_) => SolveError::NonFinite {
                what: "value function (overflow)",
                stage: 0,
            },
        });
    }
    solution.horizon = horizon;
    Ok(())
}

/// Solves `problem` from the initial state `x0`: [`lqr_backward`], then the forward rollout
/// u_t = K_t x_t + k_t, x_{t+1} = A_t x_t + B_t u_t + c_t. Allocates nothing.
pub fn solve_lqr(
    problem: &LqrProblem,
    x0: ArrayView1<'_, f64>,
    workspace: &mut LqrWorkspace,
    solution: &mut LqrSolution,
) -> Result<(), SolveError> {
    let (n, m, horizon) = (problem.n, problem.m, problem.horizon);
    SolveError::check_dim("initial state x0", n, x0.len())?;
    if x0.iter().any(|v| !v.is_finite()) {
        return Err(SolveError::NonFinite {
            what: "initial state x0",
            stage: 0,
        });
    }
    lqr_backward(problem, workspace, solution)?;

    // Forward: u_t = K_t x_t + k_t, x_{t+1} = A_t x_t + B_t u_t + c_t.
    let nm = n + m;
    for (x, v) in solution.states[..n].iter_mut().zip(x0.iter()) {
        *x = *v;
    }
    for t in 0..horizon {
        let (done, rest) = solution.states.split_at_mut((t + 1) * n);
        let x = &done[t * n..];
        let u = &mut solution.controls[t * m..(t + 1) * m];
        for (i, ui) in u.iter_mut().enumerate() {
            let row = &solution.gains[(t * m + i) * n..(t * m + i + 1) * n];
            *ui = solution.feedforward[t * m + i] + crate::dense::dot(row, x);
        }
        let jac = &problem.jacobians[t * n * nm..(t + 1) * n * nm];
        for (i, xi) in rest[..n].iter_mut().enumerate() {
            let row = &jac[i * nm..(i + 1) * nm];
            *xi = problem.defects[t * n + i]
                + crate::dense::dot(&row[..n], x)
                + crate::dense::dot(&row[n..], u);
        }
    }
    Ok(())
}

// --- The LQ problem as a solver model (box-constrained LQR by box-DDP) --------------------------
//
// With control bounds the LQR problem has no closed-form policy; box-DDP solves it through the
// `Dynamics` and `Cost` traits below, in a few iterations since the dynamics are exactly linear.

/// An [`LqrProblem`]'s dynamics x_{t+1} = A_t x_t + B_t u_t + c_t as a [`Dynamics`] for
/// [`crate::solve`] (from [`LqrProblem::dynamics`]); the problem itself is the [`Cost`].
#[derive(Clone, Copy, Debug)]
pub struct LqrDynamics<'a>(&'a LqrProblem);

impl LqrProblem {
    /// The dynamics, for `solve(&mut problem.dynamics(), &problem, ...)`.
    pub fn dynamics(&self) -> LqrDynamics<'_> {
        LqrDynamics(self)
    }

    /// [A_t B_t], n x (n+m).
    fn jacobian(&self, t: usize) -> ArrayView2<'_, f64> {
        let nm = self.n + self.m;
        ArrayView2::from_shape(
            (self.n, nm),
            &self.jacobians[t * self.n * nm..][..self.n * nm],
        )
        .expect("n x (n+m)")
    }

    /// [[Q_t, N_t'], [N_t, R_t]] read from its lower blocks, and [q_t; r_t].
    fn stage_model(&self, t: usize) -> (ArrayView2<'_, f64>, ArrayView1<'_, f64>) {
        let nm = self.n + self.m;
        let hessian =
            ArrayView2::from_shape((nm, nm), &self.hessians[t * nm * nm..][..nm * nm]).expect("nm");
        (hessian, ArrayView1::from(&self.gradients[t * nm..][..nm]))
    }
}

impl Dynamics for LqrDynamics<'_> {
    fn state_dim(&self) -> usize {
        self.0.n
    }

    fn control_dim(&self) -> usize {
        self.0.m
    }

    fn step(
        &mut self,
        t: usize,
        states: ArrayView2<'_, f64>,
        controls: ArrayView2<'_, f64>,
        mut next: ArrayViewMut2<'_, f64>,
    ) -> Result<(), ModelError> {
        let n = self.0.n;
        let jac = self.0.jacobian(t);
        let c = &self.0.defects[t * n..(t + 1) * n];
        for ((x, u), mut out) in states
            .outer_iter()
            .zip(controls.outer_iter())
            .zip(next.outer_iter_mut())
        {
            for i in 0..n {
                let row = jac.row(i);
                out[i] = c[i] + row.slice(s![..n]).dot(&x) + row.slice(s![n..]).dot(&u);
            }
        }
        Ok(())
    }

    /// Stage t of the trajectory is row t: the Jacobian is [A_t B_t] whatever the point.
    fn linearize(
        &mut self,
        states: ArrayView2<'_, f64>,
        _controls: ArrayView2<'_, f64>,
        mut jacobians: ArrayViewMut3<'_, f64>,
    ) -> Result<(), ModelError> {
        for t in 0..states.nrows() {
            jacobians
                .index_axis_mut(Axis(0), t)
                .assign(&self.0.jacobian(t));
        }
        Ok(())
    }
}

impl Cost for LqrProblem {
    /// 1/2 x'Q_t x + 1/2 u'R_t u + u'N_t x + q_t'x + r_t'u, without temporaries.
    fn stage(&self, t: usize, x: ArrayView1<'_, f64>, u: ArrayView1<'_, f64>) -> f64 {
        let n = self.n;
        let (h, g) = self.stage_model(t);
        let mut total = 0.0;
        for i in 0..n {
            total += x[i] * (0.5 * h.slice(s![i, ..n]).dot(&x) + g[i]);
        }
        for i in 0..self.m {
            let row = h.row(n + i);
            total +=
                u[i] * (0.5 * row.slice(s![n..]).dot(&u) + row.slice(s![..n]).dot(&x) + g[n + i]);
        }
        total
    }

    fn stage_derivatives(
        &self,
        t: usize,
        x: ArrayView1<'_, f64>,
        u: ArrayView1<'_, f64>,
        mut gradient: ArrayViewMut1<'_, f64>,
        mut hessian: ArrayViewMut2<'_, f64>,
    ) -> Result<(), ModelError> {
        let n = self.n;
        let (h, g) = self.stage_model(t);
        // The stored N_t' block is not read: mirror N_t into it.
        for i in 0..h.nrows() {
            for j in 0..h.ncols() {
                hessian[[i, j]] = if i < n && j >= n {
                    h[[j, i]]
                } else {
                    h[[i, j]]
                };
            }
        }
        // [l_x; l_u] = H [x; u] + [q; r].
        for i in 0..h.nrows() {
            let row = hessian.row(i);
            gradient[i] = g[i] + row.slice(s![..n]).dot(&x) + row.slice(s![n..]).dot(&u);
        }
        Ok(())
    }

    /// 1/2 x'Q_T x + q_T'x.
    fn terminal(&self, x: ArrayView1<'_, f64>) -> f64 {
        let q = ArrayView2::from_shape((self.n, self.n), &self.terminal_hessian).expect("n x n");
        (0..self.n)
            .map(|i| x[i] * (0.5 * q.row(i).dot(&x) + self.terminal_gradient[i]))
            .sum()
    }

    fn terminal_derivatives(
        &self,
        x: ArrayView1<'_, f64>,
        mut gradient: ArrayViewMut1<'_, f64>,
        mut hessian: ArrayViewMut2<'_, f64>,
    ) -> Result<(), ModelError> {
        let q = ArrayView2::from_shape((self.n, self.n), &self.terminal_hessian).expect("n x n");
        hessian.assign(&q);
        for i in 0..self.n {
            gradient[i] = self.terminal_gradient[i] + q.row(i).dot(&x);
        }
        Ok(())
    }
}
