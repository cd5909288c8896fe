//! What a user brings to the DDP solver: the dynamics and the cost, behind two small traits.

use ndarray::{
    Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, ArrayViewMut3, s,
};

use crate::error::{ModelError, SolveError};

/// Discrete-time dynamics x_{t+1} = f_t(x_t, u_t) with `n` states and `m` controls.
///
/// Both methods take whole batches so that a model behind a per-call overhead (a neural network
/// on ONNX Runtime) is called once per time step of a line search and once per linearisation,
/// not once per point.
pub trait Dynamics {
    /// Number of states n.
    fn state_dim(&self) -> usize;

    /// Number of controls m.
    fn control_dim(&self) -> usize;

    /// One step for a batch of B points: row b of `next` (B x n) is f_t(row b of `states` (B x n),
    /// row b of `controls` (B x m)).
    fn step(
        &mut self,
        t: usize,
        states: ArrayView2<'_, f64>,
        controls: ArrayView2<'_, f64>,
        next: ArrayViewMut2<'_, f64>,
    ) -> Result<(), ModelError>;

    /// The Jacobians along a trajectory of T stages: `jacobians[t]` (n x (n+m)) is
    /// [df_t/dx  df_t/du] at (`states[t]`, `controls[t]`), with `states` T x n and `controls`
    /// T x m.
    fn linearize(
        &mut self,
        states: ArrayView2<'_, f64>,
        controls: ArrayView2<'_, f64>,
        jacobians: ArrayViewMut3<'_, f64>,
    ) -> Result<(), ModelError>;

    /// The Jacobians along K trajectories of `horizon` stages each, stacked: row r of
    /// `states` (K T x n), `controls` (K T x m) and `jacobians` (K T x n x (n+m)) is stage
    /// r % T of trajectory r / T. The default calls [`Dynamics::linearize`] once per
    /// trajectory; a model with a per-call overhead overrides it with one call for all.
    fn linearize_trajectories(
        &mut self,
        horizon: usize,
        states: ArrayView2<'_, f64>,
        controls: ArrayView2<'_, f64>,
        mut jacobians: ArrayViewMut3<'_, f64>,
    ) -> Result<(), ModelError> {
        let rows = states.nrows();
        for start in (0..rows).step_by(horizon.max(1)) {
            let end = (start + horizon).min(rows);
            self.linearize(
                states.slice(s![start..end, ..]),
                controls.slice(s![start..end, ..]),
                jacobians.slice_mut(s![start..end, .., ..]),
            )?;
        }
        Ok(())
    }
}

/// Stage costs l_t(x, u) and a terminal cost l_T(x), with their first and second derivatives.
pub trait Cost {
    /// l_t(x, u).
    fn stage(&self, t: usize, x: ArrayView1<'_, f64>, u: ArrayView1<'_, f64>) -> f64;

    /// The gradient [l_x; l_u] (n+m) and the Hessian [[l_xx, l_xu], [l_ux, l_uu]]
    /// ((n+m) x (n+m)) of l_t at (x, u). Both outputs hold stale values on entry: write every
    /// element. The solver reads l_xx, l_ux and l_uu (the l_xu block is taken as l_ux').
    /// A cost that can fail (a network behind it) says so through the `Result`.
    fn stage_derivatives(
        &self,
        t: usize,
        x: ArrayView1<'_, f64>,
        u: ArrayView1<'_, f64>,
        gradient: ArrayViewMut1<'_, f64>,
        hessian: ArrayViewMut2<'_, f64>,
    ) -> Result<(), ModelError>;

    /// l_T(x).
    fn terminal(&self, x: ArrayView1<'_, f64>) -> f64;

    /// The gradient (n) and Hessian (n x n) of l_T at x; write every element.
    fn terminal_derivatives(
        &self,
        x: ArrayView1<'_, f64>,
        gradient: ArrayViewMut1<'_, f64>,
        hessian: ArrayViewMut2<'_, f64>,
    ) -> Result<(), ModelError>;

    // The batched forms below are what the solver calls. Their defaults loop over the
    // per-point methods above; a cost behind a per-call overhead (a neural network) overrides
    // them with one call per batch, and reports its failures through the `Result`.

    /// Stage costs of B points at stage t: `out[b]` = l_t(row b of `states` (B x n), row b of
    /// `controls` (B x m)).
    fn stage_batch(
        &self,
        t: usize,
        states: ArrayView2<'_, f64>,
        controls: ArrayView2<'_, f64>,
        mut out: ArrayViewMut1<'_, f64>,
    ) -> Result<(), ModelError> {
        for ((x, u), out) in states
            .outer_iter()
            .zip(controls.outer_iter())
            .zip(out.iter_mut())
        {
            *out = self.stage(t, x, u);
        }
        Ok(())
    }

    /// Terminal costs of B points: `out[b]` = l_T(row b of `states`).
    fn terminal_batch(
        &self,
        states: ArrayView2<'_, f64>,
        mut out: ArrayViewMut1<'_, f64>,
    ) -> Result<(), ModelError> {
        for (x, out) in states.outer_iter().zip(out.iter_mut()) {
            *out = self.terminal(x);
        }
        Ok(())
    }

    /// Stage derivatives along K trajectories of `horizon` stages stacked (row r is stage
    /// r % horizon): `gradients` K T x (n+m), `hessians` K T x (n+m) x (n+m), as
    /// [`Cost::stage_derivatives`] writes them.
    fn stage_derivatives_along(
        &self,
        horizon: usize,
        states: ArrayView2<'_, f64>,
        controls: ArrayView2<'_, f64>,
        gradients: ArrayViewMut2<'_, f64>,
        hessians: ArrayViewMut3<'_, f64>,
    ) -> Result<(), ModelError> {
        stage_derivatives_by_row(self, horizon, states, controls, gradients, hessians)
    }
}

/// [`Cost::stage_derivatives_along`] as one [`Cost::stage_derivatives`] call per row.
fn stage_derivatives_by_row<C: Cost + ?Sized>(
    cost: &C,
    horizon: usize,
    states: ArrayView2<'_, f64>,
    controls: ArrayView2<'_, f64>,
    mut gradients: ArrayViewMut2<'_, f64>,
    mut hessians: ArrayViewMut3<'_, f64>,
) -> Result<(), ModelError> {
    for (r, (x, u)) in states.outer_iter().zip(controls.outer_iter()).enumerate() {
        cost.stage_derivatives(
            r % horizon.max(1),
            x,
            u,
            gradients.row_mut(r),
            hessians.index_axis_mut(ndarray::Axis(0), r),
        )?;
    }
    Ok(())
}

/// Tracking cost to a goal state:
///
/// ```text
/// l_t(x, u) = 1/2 (x - g)' Q (x - g) + 1/2 u' R u,
/// l_T(x)    = 1/2 (x - g)' Q_T (x - g) + q_T' (x - g)
/// ```
///
/// (q_T = 0 unless set with [`QuadraticCost::set_terminal`]).
#[derive(Clone, Debug)]
pub struct QuadraticCost {
    q: Weight,
    r: Array2<f64>,
    q_terminal: Weight,
    q_lin_terminal: Array1<f64>,
    goal: Array1<f64>,
}

impl QuadraticCost {
    /// Q (n x n), R (m x m), Q_T (n x n) and the goal g (n), checked for shape and finiteness.
    pub fn new(
        q: Array2<f64>,
        r: Array2<f64>,
        q_terminal: Array2<f64>,
        goal: Array1<f64>,
    ) -> Result<Self, SolveError> {
        let n = goal.len();
        SolveError::check_dim("Q rows", n, q.nrows())?;
        SolveError::check_dim("Q columns", n, q.ncols())?;
        SolveError::check_dim("Q_T rows", n, q_terminal.nrows())?;
        SolveError::check_dim("Q_T columns", n, q_terminal.ncols())?;
        SolveError::check_dim("R columns", r.nrows(), r.ncols())?;
        for (what, values) in [("Q", q.view()), ("R", r.view()), ("Q_T", q_terminal.view())] {
            if values.iter().any(|v| !v.is_finite()) {
                return Err(SolveError::NonFinite { what, stage: 0 });
            }
        }
        let cost = Self {
            q: Weight::new(q),
            r: r.as_standard_layout().into_owned(),
            q_terminal: Weight::new(q_terminal),
            q_lin_terminal: Array1::zeros(n),
            goal,
        };
        cost.check_goal(cost.goal.view())?;
        Ok(cost)
    }

    /// Diagonal weights: Q = q I, R = r I, Q_T = q_terminal I.
    pub fn diagonal(n: usize, m: usize, q: f64, r: f64, q_terminal: f64) -> Self {
        Self {
            q: Weight::new(Array2::eye(n) * q),
            r: Array2::eye(m) * r,
            q_terminal: Weight::new(Array2::eye(n) * q_terminal),
            q_lin_terminal: Array1::zeros(n),
            goal: Array1::zeros(n),
        }
    }

    /// Moves the goal g without reallocating.
    pub fn set_goal(&mut self, goal: ArrayView1<'_, f64>) -> Result<(), SolveError> {
        self.check_goal(goal)?;
        self.goal.assign(&goal);
        Ok(())
    }

    /// Replaces the terminal cost's Q_T (n x n) and q_T (n) without reallocating; refused, and
    /// the old ones kept, when a shape is wrong or a number is not finite.
    pub fn set_terminal(
        &mut self,
        q_terminal: ArrayView2<'_, f64>,
        q_lin_terminal: ArrayView1<'_, f64>,
    ) -> Result<(), SolveError> {
        let n = self.goal.len();
        SolveError::check_dim("Q_T rows", n, q_terminal.nrows())?;
        SolveError::check_dim("Q_T columns", n, q_terminal.ncols())?;
        SolveError::check_dim("q_T", n, q_lin_terminal.len())?;
        if q_terminal.iter().any(|v| !v.is_finite()) {
            return Err(SolveError::NonFinite {
                what: "Q_T",
                stage: 0,
            });
        }
        if q_lin_terminal.iter().any(|v| !v.is_finite()) {
            return Err(SolveError::NonFinite {
                what: "q_T",
                stage: 0,
            });
        }
        self.q_terminal.assign(q_terminal);
        self.q_lin_terminal.assign(&q_lin_terminal);
        Ok(())
    }

    /// The goal g.
    pub fn goal(&self) -> ArrayView1<'_, f64> {
        self.goal.view()
    }

    fn check_goal(&self, goal: ArrayView1<'_, f64>) -> Result<(), SolveError> {
        SolveError::check_dim("goal", self.goal.len(), goal.len())?;
        if goal.iter().any(|v| !v.is_finite()) {
            return Err(SolveError::NonFinite {
                what: "goal",
                stage: 0,
            });
        }
        Ok(())
    }
}

/// A weight W of 1/2 (x - g)' W (x - g), kept in standard layout, with its diagonal when
/// every other element is zero (the planner's Q = q I): each term is then one product
/// instead of a dot product with a row. Both forms give the same value: the row's other
/// terms are exact zeros.
#[derive(Clone, Debug)]
struct Weight {
    matrix: Array2<f64>,
    diagonal: Option<Vec<f64>>,
}

impl Weight {
    fn new(matrix: Array2<f64>) -> Self {
        let matrix = matrix.as_standard_layout().into_owned();
        let diagonal = Self::diagonal_of(&matrix);
        Self { matrix, diagonal }
    }

    fn diagonal_of(matrix: &Array2<f64>) -> Option<Vec<f64>> {
        let off_diagonal_zero = matrix.indexed_iter().all(|((i, j), &w)| i == j || w == 0.0);
        off_diagonal_zero.then(|| matrix.diag().to_vec())
    }

    fn assign(&mut self, matrix: ArrayView2<'_, f64>) {
        self.matrix.assign(&matrix);
        self.diagonal = Self::diagonal_of(&self.matrix);
    }

    fn rows(&self) -> &[f64] {
        self.matrix.as_slice().expect("kept in standard layout")
    }

    /// 1/2 (x - g)' W (x - g), and W (x - g) into `gradient`.
    fn distance(
        &self,
        x: &ArrayView1<'_, f64>,
        g: &Array1<f64>,
        mut gradient: Option<ArrayViewMut1<'_, f64>>,
    ) -> f64 {
        let n = x.len();
        let mut total = 0.0;
        for i in 0..n {
            let wd = match &self.diagonal {
                Some(diagonal) => diagonal[i] * (x[i] - g[i]),
                None => (0..n).fold(0.0, |acc, j| acc + self.matrix[[i, j]] * (x[j] - g[j])),
            };
            total += (x[i] - g[i]) * wd;
            if let Some(gradient) = gradient.as_mut() {
                gradient[i] = wd;
            }
        }
        0.5 * total
    }

    /// [`Weight::distance`] on slices.
    fn distance_rows(&self, x: &[f64], g: &[f64], mut gradient: Option<&mut [f64]>) -> f64 {
        let mut total = 0.0;
        for i in 0..x.len() {
            let wd = match &self.diagonal {
                Some(diagonal) => diagonal[i] * (x[i] - g[i]),
                None => self.rows()[i * x.len()..(i + 1) * x.len()]
                    .iter()
                    .zip(x.iter().zip(g))
                    .fold(0.0, |acc, (w, (x, g))| acc + w * (x - g)),
            };
            total += (x[i] - g[i]) * wd;
            if let Some(gradient) = gradient.as_mut() {
                gradient[i] = wd;
            }
        }
        0.5 * total
    }
}

/// 1/2 u' R u on contiguous rows, in the order of [`quadratic_form`].
fn quadratic_form_rows(r: &[f64], u: &[f64]) -> f64 {
    let mut total = 0.0;
    for (row, ui) in r.chunks_exact(u.len()).zip(u) {
        for (rij, uj) in row.iter().zip(u) {
            total += ui * rij * uj;
        }
    }
    0.5 * total
}

impl Cost for QuadraticCost {
    fn stage(&self, _t: usize, x: ArrayView1<'_, f64>, u: ArrayView1<'_, f64>) -> f64 {
        self.q.distance(&x, &self.goal, None) + quadratic_form(&self.r, &u)
    }

    /// Row by row as `stage`, on slices when the rows are contiguous (a sampling planner
    /// evaluates thousands of rows per step).
    fn stage_batch(
        &self,
        t: usize,
        states: ArrayView2<'_, f64>,
        controls: ArrayView2<'_, f64>,
        mut out: ArrayViewMut1<'_, f64>,
    ) -> Result<(), ModelError> {
        let (n, m) = (self.goal.len(), self.r.nrows());
        let slices = (states.as_slice(), controls.as_slice(), self.goal.as_slice());
        let (Some(xs), Some(us), Some(g)) = slices else {
            for ((x, u), out) in states.outer_iter().zip(controls.outer_iter()).zip(&mut out) {
                *out = self.stage(t, x, u);
            }
            return Ok(());
        };
        let r = self.r.as_slice().expect("kept in standard layout");
        for ((x, u), out) in xs.chunks_exact(n).zip(us.chunks_exact(m)).zip(&mut out) {
            *out = self.q.distance_rows(x, g, None) + quadratic_form_rows(r, u);
        }
        Ok(())
    }

    fn terminal_batch(
        &self,
        states: ArrayView2<'_, f64>,
        mut out: ArrayViewMut1<'_, f64>,
    ) -> Result<(), ModelError> {
        let n = self.goal.len();
        let slices = (
            states.as_slice(),
            self.q_lin_terminal.as_slice(),
            self.goal.as_slice(),
        );
        let (Some(xs), Some(lin), Some(g)) = slices else {
            for (x, out) in states.outer_iter().zip(&mut out) {
                *out = self.terminal(x);
            }
            return Ok(());
        };
        for (x, out) in xs.chunks_exact(n).zip(&mut out) {
            let linear: f64 = lin
                .iter()
                .zip(x.iter().zip(g))
                .map(|(l, (x, g))| l * (x - g))
                .sum();
            *out = self.q_terminal.distance_rows(x, g, None) + linear;
        }
        Ok(())
    }

    fn stage_derivatives(
        &self,
        _t: usize,
        x: ArrayView1<'_, f64>,
        u: ArrayView1<'_, f64>,
        mut gradient: ArrayViewMut1<'_, f64>,
        mut hessian: ArrayViewMut2<'_, f64>,
    ) -> Result<(), ModelError> {
        let (n, m) = (x.len(), u.len());
        self.q
            .distance(&x, &self.goal, Some(gradient.slice_mut(ndarray::s![..n])));
        for i in 0..m {
            gradient[n + i] = (0..m).fold(0.0, |acc, j| acc + self.r[[i, j]] * u[j]);
        }
        hessian.fill(0.0);
        hessian
            .slice_mut(ndarray::s![..n, ..n])
            .assign(&self.q.matrix);
        hessian.slice_mut(ndarray::s![n.., n..]).assign(&self.r);
        Ok(())
    }

    /// As `stage_derivatives` row by row, on slices when every array is contiguous: the
    /// Hessian blkdiag(Q, R) is the same at every point and copied.
    fn stage_derivatives_along(
        &self,
        horizon: usize,
        states: ArrayView2<'_, f64>,
        controls: ArrayView2<'_, f64>,
        mut gradients: ArrayViewMut2<'_, f64>,
        mut hessians: ArrayViewMut3<'_, f64>,
    ) -> Result<(), ModelError> {
        let (n, m) = (self.goal.len(), self.r.nrows());
        let d = n + m;
        let slices = (
            states.as_slice(),
            controls.as_slice(),
            self.goal.as_slice(),
            gradients.as_slice_mut(),
            hessians.as_slice_mut(),
        );
        let (Some(xs), Some(us), Some(g), Some(grads), Some(hess)) = slices else {
            return stage_derivatives_by_row(self, horizon, states, controls, gradients, hessians);
        };
        let r = self.r.as_slice().expect("kept in standard layout");
        let rows = xs.chunks_exact(n).zip(us.chunks_exact(m));
        for (row, (x, u)) in rows.enumerate() {
            let gradient = &mut grads[row * d..(row + 1) * d];
            self.q.distance_rows(x, g, Some(&mut gradient[..n]));
            for (i, r_row) in r.chunks_exact(m).enumerate() {
                gradient[n + i] = r_row.iter().zip(u).fold(0.0, |acc, (r, u)| acc + r * u);
            }
            if row == 0 {
                let hessian = &mut hess[..d * d];
                hessian.fill(0.0);
                for (i, q_row) in self.q.rows().chunks_exact(n).enumerate() {
                    hessian[i * d..i * d + n].copy_from_slice(q_row);
                }
                for (i, r_row) in r.chunks_exact(m).enumerate() {
                    hessian[(n + i) * d + n..(n + i + 1) * d].copy_from_slice(r_row);
                }
            } else {
                let (first, rest) = hess.split_at_mut(d * d);
                rest[(row - 1) * d * d..row * d * d].copy_from_slice(first);
            }
        }
        Ok(())
    }

    fn terminal(&self, x: ArrayView1<'_, f64>) -> f64 {
        let linear: f64 = (0..x.len())
            .map(|i| self.q_lin_terminal[i] * (x[i] - self.goal[i]))
            .sum();
        self.q_terminal.distance(&x, &self.goal, None) + linear
    }

    fn terminal_derivatives(
        &self,
        x: ArrayView1<'_, f64>,
        mut gradient: ArrayViewMut1<'_, f64>,
        mut hessian: ArrayViewMut2<'_, f64>,
    ) -> Result<(), ModelError> {
        self.q_terminal
            .distance(&x, &self.goal, Some(gradient.view_mut()));
        gradient += &self.q_lin_terminal;
        hessian.assign(&self.q_terminal.matrix);
        Ok(())
    }
}

/// 1/2 u' R u.
fn quadratic_form(r: &Array2<f64>, u: &ArrayView1<'_, f64>) -> f64 {
    let mut total = 0.0;
    for i in 0..u.len() {
        for j in 0..u.len() {
            total += u[i] * r[[i, j]] * u[j];
        }
    }
    0.5 * total
}

/// Checks a model's dimensions against the problem's.
pub(crate) fn check_dims<D: Dynamics + ?Sized>(
    dynamics: &D,
    n: usize,
    m: usize,
) -> Result<(), SolveError> {
    SolveError::check_dim("dynamics state dimension", n, dynamics.state_dim())?;
    SolveError::check_dim("dynamics control dimension", m, dynamics.control_dim())
}
