//! The backward Riccati pass shared by LQR and (box-)DDP.
//!
//! Stage t has the dynamics Jacobian F_t = [f_x f_u] (n x (n+m)), an optional defect c_t
//! (x_{t+1} = f_x x + f_u u + c_t; zero in DDP, where the nominal trajectory is a rollout), and
//! the stage cost gradient and Hessian in (x, u):
//!
//! ```text
//! l_t ~ [l_x; l_u]' [x; u] + 1/2 [x; u]' [[l_xx, l_xu], [l_ux, l_uu]] [x; u]
//! ```
//!
//! Given the value function V_{t+1}(x) = V_x' x + 1/2 x' V_xx x, each stage forms the
//! Q-function, all of it in two products:
//!
//! ```text
//! P   = V_xx' F                           n x (n+m)
//! H   = l_hess + F' P       = [[Q_xx, Q_xu], [Q_ux, Q_uu]]
//! g   = l_grad + F' (V_x' + V_xx' c)      = [Q_x; Q_u]
//! ```
//!
//! then the control law du = k + K dx from the regularised Q_uu + mu I (Cholesky, or the box QP
//! when controls are bounded, with K zero on the clamped rows), and the value function
//! (Tassa, Erez, Todorov 2012, eq. 11, with the unregularised Q_uu):
//!
//! ```text
//! V_x  = Q_x  + K' Q_uu k + K' Q_u + Q_ux' k
//! V_xx = Q_xx + K' Q_uu K + K' Q_ux + Q_ux' K
//! dV   = [k' Q_u, 1/2 k' Q_uu k]            expected change, summed over stages
//! ```
//!
//! With mu = 0 and no bounds this simplifies through Q_uu = L L' (see `backward_stage`).
//! Problems with n <= 8 and m <= 4, bounded or not, run the fixed-size instantiations of
//! `fixed`; everything else runs the general pass here on the kernels of `dense`.

mod fixed;

use crate::boxqp::{self, BoxQpSettings, BoxQpStatus, BoxQpWork};
use crate::dense::{
    Mat, MatMut, cholesky, cholesky_solve, cholesky_solve_matrix, dot, gemm, gemm_lower, gemv,
    lower_solve, lower_solve_matrix, lower_transpose_solve, lower_transpose_solve_matrix,
};

/// The quadratic model of a whole horizon, stage data contiguous and row-major.
pub(crate) struct QuadraticModel<'a> {
    pub n: usize,
    pub m: usize,
    pub horizon: usize,
    /// T x n x (n+m): [f_x f_u] per stage.
    pub jacobians: &'a [f64],
    /// T x n, or `None` when every defect is zero.
    pub defects: Option<&'a [f64]>,
    /// T x (n+m): [l_x; l_u] per stage.
    pub cost_gradients: &'a [f64],
    /// T x (n+m) x (n+m): the stage cost Hessian, symmetric. Read: its lower triangle (the
    /// lower triangles of l_xx and l_uu, and l_ux in rows n.., columns ..n).
    pub cost_hessians: &'a [f64],
    /// n: terminal cost gradient.
    pub terminal_gradient: &'a [f64],
    /// n x n: terminal cost Hessian.
    pub terminal_hessian: &'a [f64],
}

/// Control limits on the deviation du from nominal controls ubar: lower - ubar <= du <= upper - ubar.
#[derive(Clone, Copy)]
pub(crate) struct ControlBox<'a> {
    pub lower: &'a [f64],
    pub upper: &'a [f64],
    /// T x m nominal controls.
    pub nominal: &'a [f64],
}

/// The policy and value function the pass writes.
pub(crate) struct PolicyMut<'a> {
    /// (T+1) x n x n.
    pub value_hessians: &'a mut [f64],
    /// (T+1) x n.
    pub value_gradients: &'a mut [f64],
    /// T x m x n: K_t.
    pub gains: &'a mut [f64],
    /// T x m: k_t. On entry: the warm start of the box QP.
    pub feedforward: &'a mut [f64],
}

/// Scratch for one stage, sized once.
pub(crate) struct RiccatiWork {
    p: Vec<f64>,
    h: Vec<f64>,
    g: Vec<f64>,
    v: Vec<f64>,
    chol: Vec<f64>,
    m_by_n: Vec<f64>,
    m_vec: Vec<f64>,
    lower: Vec<f64>,
    upper: Vec<f64>,
    boxqp: BoxQpWork,
}

impl RiccatiWork {
    pub fn new(n: usize, m: usize) -> Self {
        let nm = n + m;
        Self {
            p: vec![0.0; n * nm],
            h: vec![0.0; nm * nm],
            g: vec![0.0; nm],
            v: vec![0.0; n],
            chol: vec![0.0; m * m],
            m_by_n: vec![0.0; m * n],
            m_vec: vec![0.0; m],
            lower: vec![0.0; m],
            upper: vec![0.0; m],
            boxqp: BoxQpWork::new(m),
        }
    }
}

/// Runs the backward pass over the whole horizon. Returns the expected change dV, or the first
/// stage (counted from the end) whose regularised Q_uu is not positive definite.
pub(crate) fn backward_pass(
    model: &QuadraticModel<'_>,
    control_box: Option<ControlBox<'_>>,
    mu: f64,
    boxqp_settings: &BoxQpSettings,
    policy: &mut PolicyMut<'_>,
    work: &mut RiccatiWork,
) -> Result<[f64; 2], usize> {
    let bounds = control_box.map(|control_box| fixed::Bounds {
        control_box,
        settings: boxqp_settings,
        work: &mut work.boxqp,
    });
    if let Some(result) = fixed::backward_pass(model, bounds, mu, policy) {
        return result;
    }
    general_backward_pass(model, control_box, mu, boxqp_settings, policy, work)
}

/// The pass for any size, bounded or not, on the kernels of `dense`.
fn general_backward_pass(
    model: &QuadraticModel<'_>,
    control_box: Option<ControlBox<'_>>,
    mu: f64,
    boxqp_settings: &BoxQpSettings,
    policy: &mut PolicyMut<'_>,
    work: &mut RiccatiWork,
) -> Result<[f64; 2], usize> {
    let (n, m, horizon) = (model.n, model.m, model.horizon);
    let nm = n + m;
    // V_T = terminal cost.
    policy.value_gradients[horizon * n..(horizon + 1) * n].copy_from_slice(model.terminal_gradient);
    policy.value_hessians[horizon * n * n..(horizon + 1) * n * n]
        .copy_from_slice(model.terminal_hessian);
    let mut expected = [0.0; 2];
    for t in (0..horizon).rev() {
        let (vxx_now, vxx_next) =
            policy.value_hessians[t * n * n..(t + 2) * n * n].split_at_mut(n * n);
        let (vx_now, vx_next) = policy.value_gradients[t * n..(t + 2) * n].split_at_mut(n);
        let stage = Stage {
            jacobian: Mat::new(&model.jacobians[t * n * nm..(t + 1) * n * nm], n, nm),
            defect: model.defects.map(|d| &d[t * n..(t + 1) * n]),
            cost_gradient: &model.cost_gradients[t * nm..(t + 1) * nm],
            cost_hessian: Mat::new(&model.cost_hessians[t * nm * nm..(t + 1) * nm * nm], nm, nm),
            value_hessian_next: Mat::new(vxx_next, n, n),
            value_gradient_next: vx_next,
        };
        let limits = control_box.map(|b| (b.lower, b.upper, &b.nominal[t * m..(t + 1) * m]));
        let out = StageOut {
            gain: MatMut::new(&mut policy.gains[t * m * n..(t + 1) * m * n], m, n),
            feedforward: &mut policy.feedforward[t * m..(t + 1) * m],
            value_hessian: MatMut::new(vxx_now, n, n),
            value_gradient: vx_now,
        };
        let dv = backward_stage(n, m, &stage, limits, mu, boxqp_settings, out, work).ok_or(t)?;
        expected[0] += dv[0];
        expected[1] += dv[1];
    }
    Ok(expected)
}

struct Stage<'a> {
    jacobian: Mat<'a>,
    defect: Option<&'a [f64]>,
    cost_gradient: &'a [f64],
    cost_hessian: Mat<'a>,
    value_hessian_next: Mat<'a>,
    value_gradient_next: &'a [f64],
}

struct StageOut<'a> {
    gain: MatMut<'a>,
    feedforward: &'a mut [f64],
    value_hessian: MatMut<'a>,
    value_gradient: &'a mut [f64],
}

/// One stage of the pass (see the module docs); `None` when Q_uu + mu I is not positive definite.
#[allow(clippy::too_many_arguments)]
fn backward_stage(
    n: usize,
    m: usize,
    stage: &Stage<'_>,
    limits: Option<(&[f64], &[f64], &[f64])>,
    mu: f64,
    boxqp_settings: &BoxQpSettings,
    mut out: StageOut<'_>,
    work: &mut RiccatiWork,
) -> Option<[f64; 2]> {
    let nm = n + m;
    let f = stage.jacobian;

    // P = V_xx' F
    let mut p = MatMut::new(&mut work.p, n, nm);
    gemm(p.rb(), 0.0, 1.0, stage.value_hessian_next, false, f);

    // H = l_hess + F' P, symmetric: its lower block triangle (l_xu = l_ux'). The unregularised,
    // unbounded law reads only that triangle; the others read H whole, so it is mirrored for them.
    let unregularised_free = limits.is_none() && mu == 0.0;
    let mut h = MatMut::new(&mut work.h, nm, nm);
    h.copy_from(stage.cost_hessian);
    gemm_lower(h.rb(), 1.0, 1.0, f, true, p.as_ref());
    if !unregularised_free {
        h.mirror_lower();
    }

    // g = l_grad + F' (V_x' + V_xx' c)
    work.v.copy_from_slice(stage.value_gradient_next);
    if let Some(c) = stage.defect {
        gemv(&mut work.v, 1.0, 1.0, stage.value_hessian_next, false, c);
    }
    work.g.copy_from_slice(stage.cost_gradient);
    gemv(&mut work.g, 1.0, 1.0, f, true, &work.v);

    let h = h.as_ref();
    let q_xx = h.block(0, 0, n, n);
    let q_ux = h.block(n, 0, m, n);
    let q_uu = h.block(n, n, m, m);
    let (q_x, q_u) = work.g.split_at(n);

    // Control law from Q_uu + mu I.
    let mut chol = MatMut::new(&mut work.chol, m, m);
    chol.copy_from(q_uu);
    for i in 0..m {
        chol.add(i, i, mu);
    }
    match limits {
        None if unregularised_free => {
            // Unregularised and unbounded: with Q_uu = L L', W = L^{-1} Q_ux and w = L^{-1} Q_u,
            //   K = -L^{-T} W,  k = -L^{-T} w,  V_xx = Q_xx - W'W,  V_x = Q_x - W'w,
            //   dV = [-w'w, 1/2 w'w]:
            // the same value function in fewer products, V_xx on its lower block triangle.
            if !cholesky(&mut chol) {
                return None;
            }
            let l = chol.as_ref();
            out.gain.copy_from(q_ux);
            lower_solve_matrix(l, &mut out.gain);
            out.feedforward.copy_from_slice(q_u);
            lower_solve(l, out.feedforward);
            let (w_matrix, w) = (out.gain.as_ref(), &*out.feedforward);
            out.value_hessian.copy_from(q_xx);
            gemm_lower(out.value_hessian.rb(), 1.0, -1.0, w_matrix, true, w_matrix);
            out.value_hessian.mirror_lower();
            out.value_gradient.copy_from_slice(q_x);
            gemv(out.value_gradient, 1.0, -1.0, w_matrix, true, w);
            let ww = dot(w, w);
            lower_transpose_solve_matrix(l, &mut out.gain);
            lower_transpose_solve(l, out.feedforward);
            out.gain.data[..m * n].iter_mut().for_each(|v| *v = -*v);
            out.feedforward.iter_mut().for_each(|v| *v = -*v);
            return Some([-ww, 0.5 * ww]);
        }
        None => {
            if !cholesky(&mut chol) {
                return None;
            }
            // k = -Q_uu^{-1} Q_u, K = -Q_uu^{-1} Q_ux
            for (k, &qu) in out.feedforward.iter_mut().zip(q_u) {
                *k = -qu;
            }
            cholesky_solve(chol.as_ref(), out.feedforward);
            out.gain.copy_from(q_ux);
            out.gain.data.iter_mut().for_each(|v| *v = -*v);
            cholesky_solve_matrix(chol.as_ref(), &mut out.gain);
        }
        Some((lower, upper, nominal)) => {
            for i in 0..m {
                work.lower[i] = lower[i] - nominal[i];
                work.upper[i] = upper[i] - nominal[i];
            }
            let status = boxqp::solve(
                chol.as_ref(),
                q_u,
                &work.lower,
                &work.upper,
                out.feedforward,
                boxqp_settings,
                &mut work.boxqp,
            );
            if status == BoxQpStatus::NotPositiveDefinite {
                return None;
            }
            // K_f = -H_ff^{-1} Q_ux[f, :], K_c = 0
            out.gain.data.fill(0.0);
            let n_free = work.boxqp.n_free;
            let mut rows = MatMut::new(&mut work.m_by_n, n_free, n);
            for (a, &i) in work.boxqp.free[..n_free].iter().enumerate() {
                for j in 0..n {
                    rows.set(a, j, -q_ux.at(i, j));
                }
            }
            cholesky_solve_matrix(work.boxqp.chol_free(), &mut rows);
            for (a, &i) in work.boxqp.free[..n_free].iter().enumerate() {
                out.gain
                    .row_mut(i)
                    .copy_from_slice(&rows.data[a * n..(a + 1) * n]);
            }
        }
    }
    let k = &*out.feedforward;
    let gain = out.gain.as_ref();

    // dV = [k' Q_u, 1/2 k' Q_uu k]; m_vec = Q_uu k
    gemv(&mut work.m_vec, 0.0, 1.0, q_uu, false, k);
    let dv = [dot(k, q_u), 0.5 * dot(k, &work.m_vec)];

    // V_x = Q_x + K' (Q_uu k + Q_u) + Q_ux' k
    for (w, &qu) in work.m_vec.iter_mut().zip(q_u) {
        *w += qu;
    }
    out.value_gradient.copy_from_slice(q_x);
    gemv(out.value_gradient, 1.0, 1.0, gain, true, &work.m_vec);
    gemv(out.value_gradient, 1.0, 1.0, q_ux, true, k);

    // V_xx = Q_xx + K' (Q_uu K + Q_ux) + Q_ux' K
    let mut mk = MatMut::new(&mut work.m_by_n, m, n);
    mk.copy_from(q_ux);
    gemm(mk.rb(), 1.0, 1.0, q_uu, false, gain);
    out.value_hessian.copy_from(q_xx);
    gemm(out.value_hessian.rb(), 1.0, 1.0, gain, true, mk.as_ref());
    gemm(out.value_hessian.rb(), 1.0, 1.0, q_ux, true, gain);
    out.value_hessian.symmetrize();
    Some(dv)
}

/// The fixed-size pass against the general one on every ISA this CPU has (run by
/// `tests/isa_paths.rs` through `crate::checks`); panics on a mismatch.
#[cfg(any(test, feature = "checks"))]
pub(crate) mod isa_checks {
    use super::*;
    use crate::dense::Isa;
    use crate::dense::isa_checks::filled;

    /// A positive definite n x n matrix, row-major.
    fn spd(n: usize, seed: u64) -> Vec<f64> {
        let g = filled(n * n, seed);
        let mut out = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                out[i * n + j] = (0..n).map(|k| g[k * n + i] * g[k * n + j]).sum::<f64>();
            }
            out[i * n + i] += 1.0;
        }
        out
    }

    /// The fixed-size pass on every ISA agrees with the general pass to 1e-10 (bounded or not,
    /// regularised or not), and the fused ISAs agree bit for bit.
    pub fn fixed_size_and_general_passes_agree_on_every_isa() {
        for &(n, m) in &[(1, 1), (3, 1), (4, 2), (8, 4)] {
            for (mu, bounded) in [(0.0, false), (0.3, false), (0.0, true), (0.3, true)] {
                let (nm, horizon) = (n + m, 7);
                let jacobians = filled(horizon * n * nm, 1);
                let defects = filled(horizon * n, 2);
                let gradients = filled(horizon * nm, 3);
                let mut hessians = Vec::new();
                for t in 0..horizon {
                    hessians.extend(spd(nm, 10 + t as u64));
                }
                let terminal_gradient = filled(n, 4);
                let terminal_hessian = spd(n, 5);
                let model = QuadraticModel {
                    n,
                    m,
                    horizon,
                    jacobians: &jacobians,
                    defects: Some(&defects),
                    cost_gradients: &gradients,
                    cost_hessians: &hessians,
                    terminal_gradient: &terminal_gradient,
                    terminal_hessian: &terminal_hessian,
                };
                // Limits tight enough that some controls of the box QP end clamped.
                let (lower, upper) = (vec![-0.2; m], vec![0.3; m]);
                let nominal = filled(horizon * m, 6);
                let control_box = ControlBox {
                    lower: &lower,
                    upper: &upper,
                    nominal: &nominal,
                };
                let run = |fixed: Option<Isa>| {
                    let mut vxx = vec![0.0; (horizon + 1) * n * n];
                    let mut vx = vec![0.0; (horizon + 1) * n];
                    let mut gains = vec![0.0; horizon * m * n];
                    let mut ff = vec![0.0; horizon * m];
                    let mut policy = PolicyMut {
                        value_hessians: &mut vxx,
                        value_gradients: &mut vx,
                        gains: &mut gains,
                        feedforward: &mut ff,
                    };
                    let settings = BoxQpSettings::default();
                    let mut work = RiccatiWork::new(n, m);
                    let control_box = bounded.then_some(control_box);
                    let dv = if let Some(isa) = fixed {
                        let bounds = control_box.map(|control_box| fixed::Bounds {
                            control_box,
                            settings: &settings,
                            work: &mut work.boxqp,
                        });
                        fixed::backward_pass_with(isa, &model, bounds, mu, &mut policy)
                            .expect("instantiated size")
                    } else {
                        general_backward_pass(
                            &model,
                            control_box,
                            mu,
                            &settings,
                            &mut policy,
                            &mut work,
                        )
                    };
                    (dv.expect("convex"), vxx, vx, gains, ff)
                };
                let general = run(None);
                let close = |x: &[f64], y: &[f64]| {
                    x.iter()
                        .zip(y)
                        .all(|(p, q)| (p - q).abs() <= 1e-10 * (1.0 + q.abs()))
                };
                let mut fused = None;
                for isa in Isa::available() {
                    let a = run(Some(isa));
                    let b = &general;
                    let case = format!("{isa:?} n={n} m={m} mu={mu} bounded={bounded}");
                    if bounded {
                        assert!(a.3.contains(&0.0), "no clamped control, {case}");
                    }
                    assert!(close(&a.0, &b.0), "dV, {case}");
                    assert!(close(&a.1, &b.1), "V_xx, {case}");
                    assert!(close(&a.2, &b.2), "V_x, {case}");
                    assert!(close(&a.3, &b.3), "K, {case}");
                    assert!(close(&a.4, &b.4), "k, {case}");
                    // The fused ISAs run the same chains: bit-identical.
                    if isa != Isa::Portable {
                        match &fused {
                            None => fused = Some(a),
                            Some(first) => assert!(*first == a, "fused ISAs differ, {case}"),
                        }
                    }
                }
            }
        }
    }
}
