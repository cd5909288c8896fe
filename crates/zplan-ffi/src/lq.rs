//! LQR and box-constrained LQR on matrices the caller brings (their own linearisation).

use ndarray::{Array1, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2};
use zplan_lqr::{
    LqrProblem, LqrSolution, LqrWorkspace, Problem, Settings, Solution, solve, solve_lqr,
};

use crate::status::{Failure, Result, finite, guard, non_null, slice, slice_mut, solve_status};
use crate::{ZP_SOLVE_CONVERGED, zp_status};

/// A time-varying linear-quadratic problem, all arrays row-major and owned by the caller, who
/// keeps them valid during `zp_lq_solve` (which only reads them and keeps no pointer):
///
/// ```text
/// minimise   sum_{t<T} 1/2 x'Q_t x + 1/2 u'R_t u + q_t'x + r_t'u  +  1/2 x'Q_T x + q_T'x
/// subject to x_{t+1} = A_t x_t + B_t u_t + c_t,  x_0 given,  u_low <= u_t <= u_high
/// ```
///
/// Optional arrays may be NULL (zero); the bounds are both given or both NULL.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct zp_lq_problem {
    /// States n.
    pub n: usize,
    /// Controls m.
    pub m: usize,
    /// Stages T.
    pub horizon: usize,
    /// A_t: T x n x n.
    pub a: *const f64,
    /// B_t: T x n x m.
    pub b: *const f64,
    /// c_t: T x n, or NULL.
    pub c: *const f64,
    /// Q_t: T x n x n, symmetric.
    pub q: *const f64,
    /// R_t: T x m x m, symmetric positive definite (with the bounds: positive semidefinite
    /// suffices where the dynamics make the problem strictly convex).
    pub r: *const f64,
    /// q_t: T x n, or NULL.
    pub q_lin: *const f64,
    /// r_t: T x m, or NULL.
    pub r_lin: *const f64,
    /// Q_T: n x n, symmetric.
    pub q_terminal: *const f64,
    /// q_T: n, or NULL.
    pub q_lin_terminal: *const f64,
    /// x_0: n.
    pub x0: *const f64,
    /// Lower control bounds: m, or NULL for none.
    pub u_low: *const f64,
    /// Upper control bounds: m, or NULL for none.
    pub u_high: *const f64,
}

/// Where `zp_lq_solve` writes the solution: arrays owned by the caller, row-major, written
/// only on ZP_OK. Separate problems and solutions may be solved on several threads at once.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct zp_lq_solution {
    /// x_0..x_T: (T + 1) x n.
    pub states: *mut f64,
    /// u_0..u_{T-1}: T x m.
    pub controls: *mut f64,
    /// Feedback gains K_t of u_t = K_t x_t + k_t (unbounded) or of the local policy around the
    /// trajectory (bounded; rows of clamped controls are zero): T x m x n, or NULL.
    pub gains: *mut f64,
    /// Out: the optimal cost.
    pub cost: f64,
    /// Out: box-DDP iterations (0 without bounds: the Riccati solution is exact).
    pub iterations: usize,
    /// Out: a `ZP_SOLVE_*` value.
    pub solver_status: u32,
}

/// Solves `problem` into `solution`: by the Riccati recursion without bounds, by box-DDP (up to
/// 100 iterations) with them. Allocates its workspace on each call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_lq_solve(
    problem: *const zp_lq_problem,
    solution: *mut zp_lq_solution,
) -> zp_status {
    // SAFETY: the arguments and the arrays they point to follow this function's documented
    // contract.
    guard(|| unsafe {
        non_null(problem, "problem")?;
        non_null(solution, "solution")?;
        let (p, out) = (*problem, &mut *solution);
        let (n, m, horizon) = (p.n, p.m, p.horizon);
        if n == 0 || m == 0 || horizon == 0 {
            return Err(Failure::new(
                zp_status::ZP_INVALID_ARGUMENT,
                format!("problem: n = {n}, m = {m}, horizon = {horizon}: each must be at least 1"),
            ));
        }
        // The largest array, (T + 1) x n x max(n, m) doubles, must be addressable; then every
        // product of sizes below fits.
        let largest = horizon
            .checked_add(1)
            .and_then(|t| t.checked_mul(n))
            .and_then(|x| x.checked_mul(n.max(m)))
            .and_then(|x| x.checked_mul(size_of::<f64>()))
            .filter(|&bytes| bytes <= isize::MAX as usize);
        if largest.is_none() {
            return Err(Failure::new(
                zp_status::ZP_INVALID_ARGUMENT,
                format!("problem: n = {n}, m = {m}, horizon = {horizon}: the arrays overflow"),
            ));
        }
        let lq = build(&p)?;
        let x0 = slice(p.x0, n, n, "problem.x0")?;
        finite(x0, "problem.x0")?;
        let x0 = ArrayView1::from(x0);
        let states = slice_mut(
            out.states,
            (horizon + 1) * n,
            (horizon + 1) * n,
            "solution.states",
        )?;
        let controls = slice_mut(out.controls, horizon * m, horizon * m, "solution.controls")?;
        let gains = if out.gains.is_null() {
            None
        } else {
            Some(slice_mut(
                out.gains,
                horizon * m * n,
                horizon * m * n,
                "solution.gains",
            )?)
        };

        let bounds = match (p.u_low.is_null(), p.u_high.is_null()) {
            (true, true) => None,
            (false, false) => Some((
                Array1::from(slice(p.u_low, m, m, "problem.u_low")?.to_vec()),
                Array1::from(slice(p.u_high, m, m, "problem.u_high")?.to_vec()),
            )),
            _ => {
                return Err(Failure::new(
                    zp_status::ZP_NULL_POINTER,
                    "problem.u_low and problem.u_high: give both bounds or neither",
                ));
            }
        };
        let Some((low, high)) = bounds else {
            let mut ws = LqrWorkspace::new(n, m);
            let mut sol = LqrSolution::new(n, m, horizon);
            solve_lqr(&lq, x0, &mut ws, &mut sol)?;
            states.copy_from_slice(sol.states().as_slice().expect("contiguous"));
            controls.copy_from_slice(sol.controls().as_slice().expect("contiguous"));
            if let Some(gains) = gains {
                gains.copy_from_slice(sol.gains().as_slice().expect("contiguous"));
            }
            out.cost = rollout_cost(&lq, sol.states(), sol.controls());
            out.iterations = 0;
            out.solver_status = ZP_SOLVE_CONVERGED;
            return Ok(());
        };

        let mut sol = Solution::new(n, m, horizon);
        // Start from u = 0 moved into the box.
        for mut u in sol.controls_mut().outer_iter_mut() {
            for i in 0..m {
                u[i] = 0.0_f64.clamp(low[i], high[i]);
            }
        }
        let ddp = Problem::new(x0.to_owned(), horizon)?.with_control_bounds(low, high)?;
        let mut ws = zplan_lqr::Workspace::new(n, m, horizon, 1);
        let status = solve(
            &mut lq.dynamics(),
            &lq,
            &ddp,
            &Settings::default(),
            &mut ws,
            &mut sol,
        )?;
        states.copy_from_slice(sol.states().as_slice().expect("contiguous"));
        controls.copy_from_slice(sol.controls().as_slice().expect("contiguous"));
        if let Some(gains) = gains {
            gains.copy_from_slice(sol.gains().as_slice().expect("contiguous"));
        }
        out.cost = sol.cost();
        out.iterations = sol.iterations();
        out.solver_status = solve_status(status);
        Ok(())
    })
}

/// The caller's arrays copied into an `LqrProblem`, each checked for NULL, length and NaN.
///
/// # Safety
/// Every non-NULL array of `p` holds the length `zp_lq_problem` documents.
unsafe fn build(p: &zp_lq_problem) -> Result<LqrProblem> {
    let (n, m, horizon) = (p.n, p.m, p.horizon);
    let mut lq = LqrProblem::new(n, m, horizon);
    let required = |ptr: *const f64, len: usize, what: &str| -> Result<Option<&[f64]>> {
        // SAFETY: the caller's contract.
        let values = unsafe { slice(ptr, len, len, what) }?;
        finite(values, what)?;
        Ok(Some(values))
    };
    let optional = |ptr: *const f64, len: usize, what: &str| -> Result<Option<&[f64]>> {
        if ptr.is_null() {
            Ok(None)
        } else {
            required(ptr, len, what)
        }
    };
    let a = required(p.a, horizon * n * n, "problem.a")?;
    let b = required(p.b, horizon * n * m, "problem.b")?;
    let c = optional(p.c, horizon * n, "problem.c")?;
    let q = required(p.q, horizon * n * n, "problem.q")?;
    let r = required(p.r, horizon * m * m, "problem.r")?;
    let q_lin = optional(p.q_lin, horizon * n, "problem.q_lin")?;
    let r_lin = optional(p.r_lin, horizon * m, "problem.r_lin")?;
    let matrix =
        |data: Option<&[f64]>, t: usize, rows: usize, cols: usize, mut to: ArrayViewMut2<f64>| {
            if let Some(data) = data {
                let block = &data[t * rows * cols..(t + 1) * rows * cols];
                to.assign(&ArrayView2::from_shape((rows, cols), block).expect("sized"));
            }
        };
    let vector = |data: Option<&[f64]>, t: usize, len: usize, mut to: ArrayViewMut1<f64>| {
        if let Some(data) = data {
            to.assign(&ArrayView1::from(&data[t * len..(t + 1) * len]));
        }
    };
    for t in 0..horizon {
        matrix(a, t, n, n, lq.a_mut(t));
        matrix(b, t, n, m, lq.b_mut(t));
        vector(c, t, n, lq.c_mut(t));
        matrix(q, t, n, n, lq.q_mut(t));
        matrix(r, t, m, m, lq.r_mut(t));
        vector(q_lin, t, n, lq.q_lin_mut(t));
        vector(r_lin, t, m, lq.r_lin_mut(t));
    }
    matrix(
        required(p.q_terminal, n * n, "problem.q_terminal")?,
        0,
        n,
        n,
        lq.q_terminal_mut(),
    );
    vector(
        optional(p.q_lin_terminal, n, "problem.q_lin_terminal")?,
        0,
        n,
        lq.q_lin_terminal_mut(),
    );
    Ok(lq)
}

/// The cost of a trajectory: sum of stage costs plus the terminal cost.
fn rollout_cost(lq: &LqrProblem, states: ArrayView2<f64>, controls: ArrayView2<f64>) -> f64 {
    use zplan_lqr::Cost;
    let horizon = controls.nrows();
    (0..horizon)
        .map(|t| lq.stage(t, states.row(t), controls.row(t)))
        .sum::<f64>()
        + lq.terminal(states.row(horizon))
}
