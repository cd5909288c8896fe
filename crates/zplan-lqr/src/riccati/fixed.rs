//! The backward pass for small sizes known at compile time (n <= 8, m <= 4), bounded or not.
//!
//! At these sizes the per-call overhead of general kernels exceeds the arithmetic, so each
//! (n, m) gets its own instantiation: the value function lives in `[[f64; N]; N]` arrays on the
//! stack from one stage to the next, every loop has a constant trip count and unrolls, and the
//! whole pass is compiled for AVX-512F, AVX2 + FMA, NEON and portable Rust ([`Isa`]). The maths is that
//! of the module above (P = V F, H = l_hess + F'P, ...), split into the A and B blocks of F.
//! With control limits the box QP of `boxqp` gives k and its free set, on the same stack arrays.

use super::{ControlBox, PolicyMut, QuadraticModel};
use crate::boxqp::{self, BoxQpSettings, BoxQpStatus, BoxQpWork};
use crate::dense::{Isa, Mat, MatMut, cholesky_solve_matrix_inline, madd};

/// Control limits of a bounded pass, with the box QP's settings and scratch.
pub(super) struct Bounds<'a, 'w> {
    pub control_box: ControlBox<'a>,
    pub settings: &'a BoxQpSettings,
    pub work: &'w mut BoxQpWork,
}

/// Runs the pass when (n, m) has an instantiation; `None` otherwise.
pub(super) fn backward_pass(
    model: &QuadraticModel<'_>,
    bounds: Option<Bounds<'_, '_>>,
    mu: f64,
    policy: &mut PolicyMut<'_>,
) -> Option<Result<[f64; 2], usize>> {
    backward_pass_with(Isa::detect(), model, bounds, mu, policy)
}

/// [`backward_pass`] compiled for `isa`, which the running CPU must support.
pub(super) fn backward_pass_with(
    isa: Isa,
    model: &QuadraticModel<'_>,
    bounds: Option<Bounds<'_, '_>>,
    mu: f64,
    policy: &mut PolicyMut<'_>,
) -> Option<Result<[f64; 2], usize>> {
    macro_rules! sizes {
        ($(($n:literal, $m:literal))*) => {
            match (model.n, model.m) {
                $(($n, $m) => Some(dispatch::<$n, $m>(isa, model, bounds, mu, policy)),)*
                _ => None,
            }
        };
    }
    sizes!(
        (1, 1)(2, 1)(3, 1)(4, 1)(5, 1)(6, 1)(7, 1)(8, 1)(1, 2)(2, 2)(3, 2)(4, 2)(5, 2)(6, 2)(7, 2)(
            8, 2
        )(1, 3)(2, 3)(3, 3)(4, 3)(5, 3)(6, 3)(7, 3)(8, 3)(1, 4)(2, 4)(3, 4)(4, 4)(5, 4)(
            6, 4
        )(7, 4)(8, 4)
    )
}

fn dispatch<const N: usize, const M: usize>(
    isa: Isa,
    model: &QuadraticModel<'_>,
    bounds: Option<Bounds<'_, '_>>,
    mu: f64,
    policy: &mut PolicyMut<'_>,
) -> Result<[f64; 2], usize> {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            // SAFETY: `isa` is one the running CPU supports (`Isa::detect`/`available`).
            unsafe { pass_avx512::<N, M>(model, bounds, mu, policy) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => {
            // SAFETY: `isa` is one the running CPU supports (`Isa::detect`/`available`).
            unsafe { pass_avx2_fma::<N, M>(model, bounds, mu, policy) }
        }
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => pass::<N, M, true>(model, bounds, mu, policy),
        Isa::Portable => pass::<N, M, false>(model, bounds, mu, policy),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn pass_avx512<const N: usize, const M: usize>(
    model: &QuadraticModel<'_>,
    bounds: Option<Bounds<'_, '_>>,
    mu: f64,
    policy: &mut PolicyMut<'_>,
) -> Result<[f64; 2], usize> {
    pass::<N, M, true>(model, bounds, mu, policy)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn pass_avx2_fma<const N: usize, const M: usize>(
    model: &QuadraticModel<'_>,
    bounds: Option<Bounds<'_, '_>>,
    mu: f64,
    policy: &mut PolicyMut<'_>,
) -> Result<[f64; 2], usize> {
    pass::<N, M, true>(model, bounds, mu, policy)
}

#[inline(always)]
fn pass<const N: usize, const M: usize, const FMA: bool>(
    model: &QuadraticModel<'_>,
    mut bounds: Option<Bounds<'_, '_>>,
    mu: f64,
    policy: &mut PolicyMut<'_>,
) -> Result<[f64; 2], usize> {
    let horizon = model.horizon;
    let nm = N + M;
    let mut vxx = [[0.0; N]; N];
    let mut vx = [0.0; N];
    for i in 0..N {
        vx[i] = model.terminal_gradient[i];
        for j in 0..N {
            vxx[i][j] = model.terminal_hessian[i * N + j];
        }
    }
    store_value(policy, horizon, &vxx, &vx);
    let mut expected = [0.0; 2];
    for t in (0..horizon).rev() {
        let jac = &model.jacobians[t * N * nm..(t + 1) * N * nm];
        let lg = &model.cost_gradients[t * nm..(t + 1) * nm];
        let lh = &model.cost_hessians[t * nm * nm..(t + 1) * nm * nm];
        let defect = model.defects.map(|d| &d[t * N..(t + 1) * N]);
        let gain = &mut policy.gains[t * M * N..(t + 1) * M * N];
        let feedforward = &mut policy.feedforward[t * M..(t + 1) * M];
        let limits = bounds.as_mut().map(|b| StageBox {
            lower: b.control_box.lower,
            upper: b.control_box.upper,
            nominal: &b.control_box.nominal[t * M..(t + 1) * M],
            settings: b.settings,
            work: &mut *b.work,
        });
        let dv = stage::<N, M, FMA>(
            jac,
            defect,
            lg,
            lh,
            &mut vxx,
            &mut vx,
            mu,
            limits,
            gain,
            feedforward,
        )
        .ok_or(t)?;
        store_value(policy, t, &vxx, &vx);
        expected[0] += dv[0];
        expected[1] += dv[1];
    }
    Ok(expected)
}

#[inline(always)]
fn store_value<const N: usize>(
    policy: &mut PolicyMut<'_>,
    t: usize,
    vxx: &[[f64; N]; N],
    vx: &[f64; N],
) {
    policy.value_gradients[t * N..(t + 1) * N].copy_from_slice(vx);
    let out = &mut policy.value_hessians[t * N * N..(t + 1) * N * N];
    for i in 0..N {
        out[i * N..(i + 1) * N].copy_from_slice(&vxx[i]);
    }
}

/// One stage's limits on u (absolute) and its nominal controls, with the box QP's settings and
/// scratch.
struct StageBox<'a> {
    lower: &'a [f64],
    upper: &'a [f64],
    nominal: &'a [f64],
    settings: &'a BoxQpSettings,
    work: &'a mut BoxQpWork,
}

/// One stage; on entry `vxx`, `vx` hold V_{t+1}, on return V_t; `feedforward` holds the box
/// QP's warm start on entry. `None` when Q_uu + mu I is not positive definite.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn stage<const N: usize, const M: usize, const FMA: bool>(
    jac: &[f64],
    defect: Option<&[f64]>,
    lg: &[f64],
    lh: &[f64],
    vxx: &mut [[f64; N]; N],
    vx: &mut [f64; N],
    mu: f64,
    limits: Option<StageBox<'_>>,
    gain: &mut [f64],
    feedforward: &mut [f64],
) -> Option<[f64; 2]> {
    let nm = N + M;
    let mut a = [[0.0; N]; N];
    let mut b = [[0.0; M]; N];
    for i in 0..N {
        for j in 0..N {
            a[i][j] = jac[i * nm + j];
        }
        for j in 0..M {
            b[i][j] = jac[i * nm + N + j];
        }
    }

    // P = V [A B]
    let mut pa = [[0.0; N]; N];
    let mut pb = [[0.0; M]; N];
    for i in 0..N {
        for k in 0..N {
            let v = vxx[i][k];
            for j in 0..N {
                pa[i][j] = madd::<FMA>(v, a[k][j], pa[i][j]);
            }
            for j in 0..M {
                pb[i][j] = madd::<FMA>(v, b[k][j], pb[i][j]);
            }
        }
    }

    // Q_xx = l_xx + A'P_A, Q_ux = l_ux + B'P_A, Q_uu = l_uu + B'P_B
    let mut qxx = [[0.0; N]; N];
    let mut qux = [[0.0; N]; M];
    let mut quu = [[0.0; M]; M];
    for i in 0..N {
        for j in 0..N {
            qxx[i][j] = lh[i * nm + j];
        }
    }
    for i in 0..M {
        for j in 0..N {
            qux[i][j] = lh[(N + i) * nm + j];
        }
        for j in 0..M {
            quu[i][j] = lh[(N + i) * nm + N + j];
        }
    }
    for k in 0..N {
        for i in 0..N {
            let aki = a[k][i];
            for j in 0..N {
                qxx[i][j] = madd::<FMA>(aki, pa[k][j], qxx[i][j]);
            }
        }
        for i in 0..M {
            let bki = b[k][i];
            for j in 0..N {
                qux[i][j] = madd::<FMA>(bki, pa[k][j], qux[i][j]);
            }
            for j in 0..M {
                quu[i][j] = madd::<FMA>(bki, pb[k][j], quu[i][j]);
            }
        }
    }

    // v = V_x + V_xx c, Q_x = l_x + A'v, Q_u = l_u + B'v
    let mut v = *vx;
    if let Some(c) = defect {
        for i in 0..N {
            for k in 0..N {
                v[i] = madd::<FMA>(vxx[i][k], c[k], v[i]);
            }
        }
    }
    let mut qx = [0.0; N];
    let mut qu = [0.0; M];
    qx.copy_from_slice(&lg[..N]);
    qu.copy_from_slice(&lg[N..N + M]);
    for k in 0..N {
        for i in 0..N {
            qx[i] = madd::<FMA>(a[k][i], v[k], qx[i]);
        }
        for i in 0..M {
            qu[i] = madd::<FMA>(b[k][i], v[k], qu[i]);
        }
    }

    // Q_uu + mu I: the box QP's Hessian, or factorised in place as L L' when unbounded
    let mut l = quu;
    for i in 0..M {
        l[i][i] += mu;
    }

    if let Some(b) = limits {
        // k from the box QP min 1/2 du'(Q_uu + mu I)du + Q_u'du over lower - ubar <= du <= upper - ubar;
        // K_f = -H_ff^{-1} Q_ux[f, :] on its free set f, K = 0 on the clamped rows.
        let (mut lower, mut upper) = ([0.0; M], [0.0; M]);
        for i in 0..M {
            lower[i] = b.lower[i] - b.nominal[i];
            upper[i] = b.upper[i] - b.nominal[i];
        }
        let h = Mat::new(l.as_flattened(), M, M);
        let status = boxqp::solve(h, &qu, &lower, &upper, feedforward, b.settings, b.work);
        if status == BoxQpStatus::NotPositiveDefinite {
            return None;
        }
        let n_free = b.work.n_free;
        let mut rows = [[0.0; N]; M];
        for (a, &i) in b.work.free[..n_free].iter().enumerate() {
            for j in 0..N {
                rows[a][j] = -qux[i][j];
            }
        }
        cholesky_solve_matrix_inline::<FMA>(
            b.work.chol_free(),
            &mut MatMut::new(rows.as_flattened_mut(), n_free, N),
        );
        let mut kk = [[0.0; N]; M];
        for (a, &i) in b.work.free[..n_free].iter().enumerate() {
            kk[i] = rows[a];
        }
        let mut k = [0.0; M];
        k.copy_from_slice(feedforward);
        let dv = value_from_policy::<N, M, FMA>(&qxx, &qux, &quu, &qx, &qu, &kk, &k, vxx, vx);
        for i in 0..M {
            gain[i * N..(i + 1) * N].copy_from_slice(&kk[i]);
        }
        return Some(dv);
    }

    if !cholesky(&mut l) {
        return None;
    }

    let dv;
    if mu == 0.0 {
        // W = L^{-1} Q_ux, w = L^{-1} Q_u; V_xx = Q_xx - W'W, V_x = Q_x - W'w
        let mut w_mat = qux;
        let mut w = qu;
        lower_solve(&l, &mut w_mat, &mut w);
        for i in 0..N {
            for j in 0..=i {
                let mut s = qxx[i][j];
                for k in 0..M {
                    s -= w_mat[k][i] * w_mat[k][j];
                }
                vxx[i][j] = s;
                vxx[j][i] = s;
            }
            let mut s = qx[i];
            for k in 0..M {
                s -= w_mat[k][i] * w[k];
            }
            vx[i] = s;
        }
        let ww: f64 = w.iter().map(|x| x * x).sum();
        dv = [-ww, 0.5 * ww];
        // K = -L^{-T} W, k = -L^{-T} w
        lower_transpose_solve(&l, &mut w_mat, &mut w);
        for i in 0..M {
            for j in 0..N {
                gain[i * N + j] = -w_mat[i][j];
            }
            feedforward[i] = -w[i];
        }
    } else {
        // K = -(Q_uu + mu I)^{-1} Q_ux, k = -(Q_uu + mu I)^{-1} Q_u
        let mut kk = qux;
        let mut k = qu;
        lower_solve(&l, &mut kk, &mut k);
        lower_transpose_solve(&l, &mut kk, &mut k);
        for i in 0..M {
            for j in 0..N {
                kk[i][j] = -kk[i][j];
            }
            k[i] = -k[i];
        }
        dv = value_from_policy::<N, M, FMA>(&qxx, &qux, &quu, &qx, &qu, &kk, &k, vxx, vx);
        for i in 0..M {
            for j in 0..N {
                gain[i * N + j] = kk[i][j];
            }
            feedforward[i] = k[i];
        }
    }
    Some(dv)
}

/// The value function of the policy du = k + K dx (module docs, Tassa et al. eq. 11, with the
/// unregularised Q_uu): writes V_t into `vxx`, `vx` and returns dV.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn value_from_policy<const N: usize, const M: usize, const FMA: bool>(
    qxx: &[[f64; N]; N],
    qux: &[[f64; N]; M],
    quu: &[[f64; M]; M],
    qx: &[f64; N],
    qu: &[f64; M],
    kk: &[[f64; N]; M],
    k: &[f64; M],
    vxx: &mut [[f64; N]; N],
    vx: &mut [f64; N],
) -> [f64; 2] {
    // V_x = Q_x + K'(Q_uu k + Q_u) + Q_ux'k, V_xx = Q_xx + K'(Q_uu K + Q_ux) + Q_ux'K
    let mut quu_k = [0.0; M];
    let mut mk = *qux;
    for i in 0..M {
        for j in 0..M {
            quu_k[i] += quu[i][j] * k[j];
            for c in 0..N {
                mk[i][c] = madd::<FMA>(quu[i][j], kk[j][c], mk[i][c]);
            }
        }
    }
    let mut k_qu = 0.0;
    let mut k_quu_k = 0.0;
    for i in 0..M {
        k_qu += k[i] * qu[i];
        k_quu_k += k[i] * quu_k[i];
    }
    for i in 0..N {
        let mut s = qx[i];
        for r in 0..M {
            s += kk[r][i] * (quu_k[r] + qu[r]) + qux[r][i] * k[r];
        }
        vx[i] = s;
        for j in 0..=i {
            let mut s = qxx[i][j];
            for r in 0..M {
                s += 0.5 * (kk[r][i] * mk[r][j] + kk[r][j] * mk[r][i]);
                s += 0.5 * (qux[r][i] * kk[r][j] + qux[r][j] * kk[r][i]);
            }
            vxx[i][j] = s;
            vxx[j][i] = s;
        }
    }
    [k_qu, 0.5 * k_quu_k]
}

/// In-place Cholesky of a small SPD matrix (lower triangle); `false` if not positive definite.
#[inline(always)]
fn cholesky<const M: usize>(l: &mut [[f64; M]; M]) -> bool {
    for j in 0..M {
        let mut d = l[j][j];
        for k in 0..j {
            d -= l[j][k] * l[j][k];
        }
        if !d.is_finite() || d <= 0.0 {
            return false;
        }
        let ljj = d.sqrt();
        l[j][j] = ljj;
        for i in j + 1..M {
            let mut s = l[i][j];
            for k in 0..j {
                s -= l[i][k] * l[j][k];
            }
            l[i][j] = s / ljj;
        }
    }
    true
}

/// X <- L^{-1} X and x <- L^{-1} x.
#[inline(always)]
fn lower_solve<const M: usize, const N: usize>(
    l: &[[f64; M]; M],
    x: &mut [[f64; N]; M],
    y: &mut [f64; M],
) {
    for i in 0..M {
        for k in 0..i {
            let lik = l[i][k];
            for j in 0..N {
                x[i][j] -= lik * x[k][j];
            }
            y[i] -= lik * y[k];
        }
        let inv = 1.0 / l[i][i];
        for j in 0..N {
            x[i][j] *= inv;
        }
        y[i] *= inv;
    }
}

/// X <- L^{-T} X and x <- L^{-T} x.
#[inline(always)]
fn lower_transpose_solve<const M: usize, const N: usize>(
    l: &[[f64; M]; M],
    x: &mut [[f64; N]; M],
    y: &mut [f64; M],
) {
    for i in (0..M).rev() {
        for k in i + 1..M {
            let lki = l[k][i];
            for j in 0..N {
                x[i][j] -= lki * x[k][j];
            }
            y[i] -= lki * y[k];
        }
        let inv = 1.0 / l[i][i];
        for j in 0..N {
            x[i][j] *= inv;
        }
        y[i] *= inv;
    }
}
