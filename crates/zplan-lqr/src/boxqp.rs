//! Projected-Newton box QP of box-constrained DDP (Tassa, Mansard, Todorov, ICRA 2014):
//!
//! ```text
//! minimise  1/2 x' H x + g' x   subject to  lower <= x <= upper
//! ```
//!
//! Each iteration splits the variables into clamped (at a bound, gradient pushing outwards) and
//! free ones, takes a Newton step on the free ones with the clamped ones held,
//! `x_f <- -H_ff^{-1} (g_f + H_fc x_c)`, and projects an Armijo backtracking search onto the box.
//! The Cholesky factor of H_ff of the final free set is kept: the DDP backward pass needs it for
//! the feedback gains on the free subspace.

use crate::dense::{Mat, MatMut, cholesky, cholesky_solve, dot};

/// Tolerances of the box QP, with the constants of Tassa et al.'s reference implementation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoxQpSettings {
    /// Maximum Newton iterations.
    pub max_iterations: usize,
    /// Stop when the norm of the free gradient falls below this.
    pub min_gradient: f64,
    /// Stop when an iteration improves the objective by less than this, relatively.
    pub min_relative_improvement: f64,
    /// Backtracking factor of the projected line search.
    pub step_decrease: f64,
    /// Give up the line search below this step.
    pub min_step: f64,
    /// Armijo sufficient-decrease constant.
    pub armijo: f64,
}

impl Default for BoxQpSettings {
    fn default() -> Self {
        Self {
            max_iterations: 100,
            min_gradient: 1e-8,
            min_relative_improvement: 1e-8,
            step_decrease: 0.6,
            min_step: 1e-22,
            armijo: 0.1,
        }
    }
}

/// How a box QP ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BoxQpStatus {
    /// The free block of H is not positive definite: the caller must regularise.
    NotPositiveDefinite,
    /// Converged: small gradient, small improvement, or every variable clamped.
    Converged,
    /// Iteration or line-search limit reached; the iterate is feasible and no worse than the start.
    Stalled,
}

/// Scratch for a box QP of at most `m` variables.
pub(crate) struct BoxQpWork {
    grad: Vec<f64>,
    search: Vec<f64>,
    candidate: Vec<f64>,
    hx: Vec<f64>,
    clamped: Vec<bool>,
    was_clamped: Vec<bool>,
    /// Indices of the free variables, the first `n_free` entries valid.
    pub free: Vec<usize>,
    pub n_free: usize,
    /// Cholesky factor of H_ff (lower triangle), `n_free x n_free`, row stride `m`.
    pub chol: Vec<f64>,
    rhs: Vec<f64>,
}

impl BoxQpWork {
    pub fn new(m: usize) -> Self {
        Self {
            grad: vec![0.0; m],
            search: vec![0.0; m],
            candidate: vec![0.0; m],
            hx: vec![0.0; m],
            clamped: vec![false; m],
            was_clamped: vec![false; m],
            free: vec![0; m],
            n_free: 0,
            chol: vec![0.0; m * m],
            rhs: vec![0.0; m],
        }
    }

    /// The Cholesky factor of the final H_ff.
    pub fn chol_free(&self) -> Mat<'_> {
        let m = self.free.len();
        Mat {
            data: &self.chol,
            rows: self.n_free,
            cols: self.n_free,
            stride: m.max(1),
        }
    }
}

fn objective(h: Mat<'_>, g: &[f64], x: &[f64], hx: &mut [f64]) -> f64 {
    for (i, v) in hx.iter_mut().enumerate() {
        *v = dot(&h.data[i * h.stride..i * h.stride + h.cols], x);
    }
    dot(g, x) + 0.5 * dot(x, hx)
}

fn project(x: &mut [f64], lower: &[f64], upper: &[f64]) {
    for ((v, &lo), &hi) in x.iter_mut().zip(lower).zip(upper) {
        *v = v.clamp(lo, hi);
    }
}

/// Solves the box QP; `x` holds the warm start on entry and the solution on return.
///
/// `h` is m x m symmetric, `lower <= upper` elementwise (infinite bounds allowed).
pub(crate) fn solve(
    h: Mat<'_>,
    g: &[f64],
    lower: &[f64],
    upper: &[f64],
    x: &mut [f64],
    settings: &BoxQpSettings,
    work: &mut BoxQpWork,
) -> BoxQpStatus {
    let m = g.len();
    let stride = work.free.len().max(1);
    project(x, lower, upper);
    let mut value = objective(h, g, x, &mut work.hx);
    work.n_free = 0;
    let mut factorized = false;

    for iteration in 0..settings.max_iterations {
        // grad = g + H x
        for i in 0..m {
            work.grad[i] = g[i] + work.hx[i];
        }
        work.was_clamped[..m].copy_from_slice(&work.clamped[..m]);
        let mut n_free = 0;
        for i in 0..m {
            let at_lower = x[i] <= lower[i] && work.grad[i] > 0.0;
            let at_upper = x[i] >= upper[i] && work.grad[i] < 0.0;
            work.clamped[i] = at_lower || at_upper;
            if !work.clamped[i] {
                work.free[n_free] = i;
                n_free += 1;
            }
        }
        if n_free == 0 {
            work.n_free = 0;
            return BoxQpStatus::Converged;
        }
        // Refactor H_ff when the free set changed (or on the first pass).
        if iteration == 0 || !factorized || work.clamped[..m] != work.was_clamped[..m] {
            work.n_free = n_free;
            for a in 0..n_free {
                for b in 0..=a {
                    work.chol[a * stride + b] = h.at(work.free[a], work.free[b]);
                }
            }
            let mut l = MatMut {
                data: &mut work.chol,
                rows: n_free,
                cols: n_free,
                stride,
            };
            if !cholesky(&mut l) {
                work.n_free = 0;
                return BoxQpStatus::NotPositiveDefinite;
            }
            factorized = true;
        }
        let free_grad_norm: f64 = work.free[..n_free]
            .iter()
            .map(|&i| work.grad[i] * work.grad[i])
            .sum::<f64>()
            .sqrt();
        if free_grad_norm < settings.min_gradient {
            return BoxQpStatus::Converged;
        }
        // Newton step on the free set with the clamped variables held:
        // search_f = -H_ff^{-1} (g_f + H_fc x_c) - x_f, search_c = 0.
        for (a, &i) in work.free[..n_free].iter().enumerate() {
            let mut s = g[i];
            for j in 0..m {
                if work.clamped[j] {
                    s += h.at(i, j) * x[j];
                }
            }
            work.rhs[a] = s;
        }
        let chol = Mat {
            data: &work.chol,
            rows: n_free,
            cols: n_free,
            stride,
        };
        cholesky_solve(chol, &mut work.rhs[..n_free]);
        work.search[..m].fill(0.0);
        for (a, &i) in work.free[..n_free].iter().enumerate() {
            work.search[i] = -work.rhs[a] - x[i];
        }
        let slope = dot(&work.search[..m], &work.grad[..m]);
        if slope >= 0.0 {
            // Numerically at the optimum of the free subspace.
            return BoxQpStatus::Converged;
        }
        // Projected Armijo backtracking.
        let mut step = 1.0;
        let candidate_value = loop {
            for i in 0..m {
                work.candidate[i] = x[i] + step * work.search[i];
            }
            project(&mut work.candidate[..m], lower, upper);
            let v = objective(h, g, &work.candidate[..m], &mut work.hx);
            if (v - value) / (step * slope) >= settings.armijo {
                break v;
            }
            step *= settings.step_decrease;
            if step < settings.min_step {
                return BoxQpStatus::Stalled;
            }
        };
        let improvement = value - candidate_value;
        x[..m].copy_from_slice(&work.candidate[..m]);
        value = candidate_value;
        if improvement < settings.min_relative_improvement * value.abs() {
            return BoxQpStatus::Converged;
        }
    }
    BoxQpStatus::Stalled
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Projected gradient descent as an independent reference.
    fn projected_gradient(h: &[f64], g: &[f64], lo: &[f64], hi: &[f64]) -> Vec<f64> {
        let m = g.len();
        let mut x = vec![0.0; m];
        let lipschitz: f64 = h.iter().map(|v| v.abs()).sum::<f64>();
        for _ in 0..200_000 {
            for i in 0..m {
                let gi = g[i] + (0..m).map(|j| h[i * m + j] * x[j]).sum::<f64>();
                x[i] = (x[i] - gi / lipschitz).clamp(lo[i], hi[i]);
            }
        }
        x
    }

    #[test]
    fn matches_projected_gradient_on_small_problems() {
        let h = [4.0, 1.0, 0.5, 1.0, 3.0, -0.5, 0.5, -0.5, 2.0];
        let g = [-8.0, 3.0, -1.0];
        let lo = [-1.0, -1.0, -0.2];
        let hi = [1.0, 1.0, 0.2];
        let mut work = BoxQpWork::new(3);
        let mut x = [0.0; 3];
        let status = solve(
            Mat::new(&h, 3, 3),
            &g,
            &lo,
            &hi,
            &mut x,
            &BoxQpSettings::default(),
            &mut work,
        );
        assert_eq!(status, BoxQpStatus::Converged);
        let reference = projected_gradient(&h, &g, &lo, &hi);
        for i in 0..3 {
            assert!((x[i] - reference[i]).abs() < 1e-7, "{x:?} vs {reference:?}");
            assert!(x[i] >= lo[i] && x[i] <= hi[i]);
        }
        // x0 is at its upper bound (clamped); the free set excludes it.
        assert_eq!(x[0], 1.0);
        assert!(!work.free[..work.n_free].contains(&0));
    }

    #[test]
    fn unconstrained_optimum_inside_the_box_is_the_newton_step() {
        let h = [2.0, 0.0, 0.0, 4.0];
        let g = [-1.0, 2.0];
        let mut x = [0.3, -0.3];
        let mut work = BoxQpWork::new(2);
        let status = solve(
            Mat::new(&h, 2, 2),
            &g,
            &[-10.0; 2],
            &[10.0; 2],
            &mut x,
            &BoxQpSettings::default(),
            &mut work,
        );
        assert_eq!(status, BoxQpStatus::Converged);
        assert!((x[0] - 0.5).abs() < 1e-12 && (x[1] + 0.5).abs() < 1e-12);
        assert_eq!(work.n_free, 2);
    }

    #[test]
    fn indefinite_free_block_is_reported() {
        let h = [1.0, 2.0, 2.0, 1.0];
        let mut x = [0.0; 2];
        let mut work = BoxQpWork::new(2);
        let status = solve(
            Mat::new(&h, 2, 2),
            &[0.1, 0.1],
            &[-1.0; 2],
            &[1.0; 2],
            &mut x,
            &BoxQpSettings::default(),
            &mut work,
        );
        assert_eq!(status, BoxQpStatus::NotPositiveDefinite);
    }
}
