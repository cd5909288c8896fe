//! Seeded benchmark problems shared by the criterion benches and the peer comparisons, so
//! that every tool times the same numbers.

use std::time::{Duration, Instant};

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, ArrayViewMut3};
use serde::Serialize;
use zplan_lqr::systems::{LinearSystem, RandomMatrices};
use zplan_lqr::{Dynamics, LqrProblem, ModelError, Problem, SolveError};

/// The solver sizes (n, m, T) every report uses.
pub const SIZES: [(usize, usize, usize); 5] = [
    (4, 1, 30),
    (8, 2, 50),
    (16, 4, 50),
    (32, 8, 100),
    (64, 8, 50),
];

/// A time-invariant affine LQR problem with control limits:
///
/// ```text
/// x_{t+1} = A x_t + B u_t + f
/// l(x, u) = 1/2 x'Qx + 1/2 u'Ru + u'N x + q'x + r'u,   l_T(x) = 1/2 x'Qx + q'x
/// lower <= u_t <= upper   (box-DDP only)
/// ```
///
/// A = 0.98 I + noise of spectral radius about 0.12: some modes unstable, all controllable
/// within the limits over the horizon.
#[derive(Clone, Debug, Serialize)]
pub struct LqrData {
    /// States n.
    pub n: usize,
    /// Controls m.
    pub m: usize,
    /// Stages T.
    pub horizon: usize,
    /// n x n.
    pub a: Array2<f64>,
    /// n x m.
    pub b: Array2<f64>,
    /// n.
    pub f: Array1<f64>,
    /// n x n, positive definite.
    pub q: Array2<f64>,
    /// m x m, positive definite.
    pub r: Array2<f64>,
    /// m x n: the cross term u'N x.
    pub n_cross: Array2<f64>,
    /// n.
    pub q_lin: Array1<f64>,
    /// m.
    pub r_lin: Array1<f64>,
    /// n.
    pub x0: Array1<f64>,
    /// m.
    pub lower: Array1<f64>,
    /// m.
    pub upper: Array1<f64>,
}

/// How the open-loop dynamics A of a seeded problem behave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Stability {
    /// A = 0.98 I + noise: some modes unstable (the problems of the criterion benches and the
    /// Crocoddyl comparison).
    Mixed,
    /// A = 0.95 U, U random orthogonal: every eigenvalue of modulus 0.95.
    Stable,
    /// A = 1.05 U: every eigenvalue of modulus 1.05.
    Unstable,
}

impl Stability {
    /// Its name: mixed, stable or unstable.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mixed => "mixed",
            Self::Stable => "stable",
            Self::Unstable => "unstable",
        }
    }
}

impl LqrData {
    /// The problem of size (n, m, T) drawn from `seed`, with [`Stability::Mixed`] dynamics.
    pub fn random(n: usize, m: usize, horizon: usize, seed: u64) -> Self {
        Self::random_system(n, m, horizon, seed, Stability::Mixed)
    }

    /// The problem of size (n, m, T) drawn from `seed` with dynamics of the given stability.
    pub fn random_system(
        n: usize,
        m: usize,
        horizon: usize,
        seed: u64,
        stability: Stability,
    ) -> Self {
        let mut rng =
            RandomMatrices::new(seed ^ ((n as u64) << 32) ^ ((m as u64) << 16) ^ horizon as u64);
        let a = match stability {
            Stability::Mixed => {
                Array2::<f64>::eye(n) * 0.98 + rng.matrix(n, n, 0.4 / (n as f64).sqrt())
            }
            Stability::Stable => orthogonal(rng.matrix(n, n, 1.0)) * 0.95,
            Stability::Unstable => orthogonal(rng.matrix(n, n, 1.0)) * 1.05,
        };
        let b = rng.matrix(n, m, 1.0);
        let f = rng.vector(n, 0.1);
        let mq = rng.matrix(n, n, 1.0);
        let q = mq.t().dot(&mq) / n as f64 + Array2::<f64>::eye(n);
        let mr = rng.matrix(m, m, 1.0);
        let r = mr.t().dot(&mr) / m as f64 + Array2::<f64>::eye(m);
        let n_cross = rng.matrix(m, n, 0.2 / (n as f64).sqrt());
        let q_lin = rng.vector(n, 1.0);
        let r_lin = rng.vector(m, 1.0);
        let x0 = rng.vector(n, 2.0);
        Self {
            n,
            m,
            horizon,
            a,
            b,
            f,
            q,
            r,
            n_cross,
            q_lin,
            r_lin,
            x0,
            lower: Array1::from_elem(m, -0.5),
            upper: Array1::from_elem(m, 0.5),
        }
    }

    /// As an [`LqrProblem`], which is also the cost for the DDP solver.
    pub fn lqr_problem(&self) -> LqrProblem {
        let mut p = LqrProblem::new(self.n, self.m, self.horizon);
        for t in 0..self.horizon {
            p.a_mut(t).assign(&self.a);
            p.b_mut(t).assign(&self.b);
            p.c_mut(t).assign(&self.f);
            p.q_mut(t).assign(&self.q);
            p.r_mut(t).assign(&self.r);
            p.n_mut(t).assign(&self.n_cross);
            p.q_lin_mut(t).assign(&self.q_lin);
            p.r_lin_mut(t).assign(&self.r_lin);
        }
        p.q_terminal_mut().assign(&self.q);
        p.q_lin_terminal_mut().assign(&self.q_lin);
        p
    }

    /// The dynamics, for the DDP solver.
    pub fn dynamics(&self) -> LinearSystem {
        LinearSystem::affine(self.a.clone(), self.b.clone(), self.f.clone())
            .expect("consistent shapes")
    }

    /// The DDP problem, with the control limits when `bounded`.
    pub fn problem(&self, bounded: bool) -> Result<Problem, SolveError> {
        let problem = Problem::new(self.x0.clone(), self.horizon)?;
        if bounded {
            problem.with_control_bounds(self.lower.clone(), self.upper.clone())
        } else {
            Ok(problem)
        }
    }
}

/// The orthogonal factor of `m` by Gram-Schmidt on its columns (a random matrix gives a random
/// rotation, all of whose eigenvalues have modulus 1).
fn orthogonal(mut m: Array2<f64>) -> Array2<f64> {
    for j in 0..m.ncols() {
        for k in 0..j {
            let projection = m.column(j).dot(&m.column(k));
            let previous = m.column(k).to_owned();
            m.column_mut(j).scaled_add(-projection, &previous);
        }
        let norm = m.column(j).dot(&m.column(j)).sqrt();
        m.column_mut(j).mapv_inplace(|v| v / norm);
    }
    m
}

/// Nonlinear dynamics for the iLQR benches: a seeded problem's affine dynamics plus a sine
/// term on every state,
///
/// ```text
/// x_{t+1} = A x_t + B u_t + f + eps sin(x_t),     df/dx = A + eps diag(cos x_t),  df/du = B
/// ```
pub struct SineSystem {
    linear: LinearSystem,
    eps: f64,
}

impl SineSystem {
    /// `data`'s dynamics with the sine term of weight `eps`.
    pub fn new(data: &LqrData, eps: f64) -> Self {
        Self {
            linear: data.dynamics(),
            eps,
        }
    }
}

impl Dynamics for SineSystem {
    fn state_dim(&self) -> usize {
        self.linear.state_dim()
    }

    fn control_dim(&self) -> usize {
        self.linear.control_dim()
    }

    fn step(
        &mut self,
        t: usize,
        states: ArrayView2<'_, f64>,
        controls: ArrayView2<'_, f64>,
        mut next: ArrayViewMut2<'_, f64>,
    ) -> Result<(), ModelError> {
        self.linear.step(t, states, controls, next.view_mut())?;
        next.zip_mut_with(&states, |out, &x| *out += self.eps * x.sin());
        Ok(())
    }

    fn linearize(
        &mut self,
        states: ArrayView2<'_, f64>,
        controls: ArrayView2<'_, f64>,
        mut jacobians: ArrayViewMut3<'_, f64>,
    ) -> Result<(), ModelError> {
        self.linear
            .linearize(states, controls, jacobians.view_mut())?;
        for (x, mut jac) in states.outer_iter().zip(jacobians.outer_iter_mut()) {
            for i in 0..x.len() {
                jac[[i, i]] += self.eps * x[i].cos();
            }
        }
        Ok(())
    }
}

/// Single-thread double-precision GFLOP/s of OpenBLAS's 256 x 256 DGEMM, best of repeated runs
/// for about `duration`: what the loaded BLAS core reaches, which on a CPU that OpenBLAS does
/// not know (it falls back to an older core's kernels) is a fraction of [`fma_peak_gflops`].
pub fn dgemm_gflops(duration: Duration) -> f64 {
    const N: usize = 256;
    let a = vec![0.5_f64; N * N];
    let b = vec![0.25_f64; N * N];
    let mut c = vec![0.0_f64; N * N];
    let mut best = f64::INFINITY;
    let start = Instant::now();
    while start.elapsed() < duration || best.is_infinite() {
        let t = Instant::now();
        // SAFETY: a, b and c hold N x N doubles each, row-major with leading dimension N.
        unsafe {
            cblas_sys::cblas_dgemm(
                cblas_sys::CBLAS_LAYOUT::CblasRowMajor,
                cblas_sys::CBLAS_TRANSPOSE::CblasNoTrans,
                cblas_sys::CBLAS_TRANSPOSE::CblasNoTrans,
                N as i32,
                N as i32,
                N as i32,
                1.0,
                a.as_ptr(),
                N as i32,
                b.as_ptr(),
                N as i32,
                0.0,
                c.as_mut_ptr(),
                N as i32,
            );
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    2.0 * (N * N * N) as f64 / best / 1e9
}

/// Single-thread double-precision peak of this core: the GFLOP/s of twelve independent chains of
/// fused multiply-adds on the widest vectors the CPU has (AVX-512F, AVX2 + FMA, aarch64 NEON,
/// else unfused pairs), best of repeated runs for about `duration`. No kernel exceeds it,
/// whichever BLAS core is loaded, so efficiencies are stated against it.
pub fn fma_peak_gflops(duration: Duration) -> f64 {
    const STEPS: usize = 100_000;
    let (lanes, run): (usize, fn(usize) -> f64) = fma_chains();
    let mut best = f64::INFINITY;
    let start = Instant::now();
    while start.elapsed() < duration || best.is_infinite() {
        let t = Instant::now();
        std::hint::black_box(run(std::hint::black_box(STEPS)));
        best = best.min(t.elapsed().as_secs_f64());
    }
    (2 * 12 * lanes * STEPS) as f64 / best / 1e9
}

/// The widest chain loop the CPU runs, with its vector width in doubles.
fn fma_chains() -> (usize, fn(usize) -> f64) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return (8, |steps| {
                // SAFETY: AVX-512F was detected on the running CPU just above.
                unsafe { chains_avx512(steps) }
            });
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return (4, |steps| {
                // SAFETY: AVX2 and FMA were detected on the running CPU just above.
                unsafe { chains_avx2_fma(steps) }
            });
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        // NEON (with its fused multiply-add) is part of every aarch64 CPU.
        (2, chains::<2, true>)
    }
    #[cfg(not(target_arch = "aarch64"))]
    (2, chains::<2, false>)
}

/// The chains in explicit vector registers: the compiler keeps `chains`' arrays in scalar
/// registers and spills them on AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn chains_avx512(steps: usize) -> f64 {
    use std::arch::x86_64::*;
    let (a, b) = (
        _mm512_set1_pd(std::hint::black_box(0.999_999)),
        _mm512_set1_pd(std::hint::black_box(1e-6)),
    );
    let mut x = [_mm512_set1_pd(1.0); 12];
    for _ in 0..steps {
        for v in x.iter_mut() {
            *v = _mm512_fmadd_pd(*v, a, b);
        }
    }
    x.iter().map(|&v| _mm512_reduce_add_pd(v)).sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn chains_avx2_fma(steps: usize) -> f64 {
    use std::arch::x86_64::*;
    let (a, b) = (
        _mm256_set1_pd(std::hint::black_box(0.999_999)),
        _mm256_set1_pd(std::hint::black_box(1e-6)),
    );
    let mut x = [_mm256_set1_pd(1.0); 12];
    for _ in 0..steps {
        for v in x.iter_mut() {
            *v = _mm256_fmadd_pd(*v, a, b);
        }
    }
    let mut lanes = [0.0; 4];
    x.iter().fold(0.0, |sum, &v| {
        // SAFETY: `lanes` holds the 4 doubles of one vector.
        unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), v) };
        sum + lanes.iter().sum::<f64>()
    })
}

/// x <- x a + b on 12 independent vectors of L lanes, `steps` times (a < 1: the values settle).
#[inline(always)]
fn chains<const L: usize, const FMA: bool>(steps: usize) -> f64 {
    let (a, b) = (std::hint::black_box(0.999_999), std::hint::black_box(1e-6));
    let mut x = [[1.0_f64; L]; 12];
    for _ in 0..steps {
        for chain in x.iter_mut() {
            for v in chain.iter_mut() {
                *v = if FMA { v.mul_add(a, b) } else { *v * a + b };
            }
        }
    }
    x.iter().flatten().sum()
}

/// Flops of one rollout of T stages: x_{t+1} = A x + B u + f and u = K x + k.
pub fn rollout_flops(n: usize, m: usize, horizon: usize) -> f64 {
    let (n, m) = (n as f64, m as f64);
    (2.0 * n * (n + m) + 2.0 * m * n) * horizon as f64
}

/// Timing of repeated runs, in microseconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Timing {
    /// Median.
    pub median_us: f64,
    /// 10th percentile.
    pub p10_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
}

/// Runs `f` for about `warm_up`, then `runs` timed times; returns the percentiles.
pub fn time_runs(warm_up: Duration, runs: usize, mut f: impl FnMut()) -> Timing {
    let start = Instant::now();
    while start.elapsed() < warm_up {
        f();
    }
    let mut samples: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Timing {
        median_us: at(0.5),
        p10_us: at(0.1),
        p90_us: at(0.9),
    }
}

/// Multiply-adds counted as 2 flops: the Riccati recursion per stage forms
/// P = V F (2 n^2 (n+m)), H += F'P (2 n (n+m)^2), the gains (m^3/3 + 2 m^2 n) and the value
/// update (4 m^2 n + 4 m n^2).
pub fn backward_flops(n: usize, m: usize, horizon: usize) -> f64 {
    let (n, m) = (n as f64, m as f64);
    let per_stage = 2.0 * n * n * (n + m)
        + 2.0 * n * (n + m) * (n + m)
        + m * m * m / 3.0
        + 2.0 * m * m * n
        + 4.0 * m * m * n
        + 4.0 * m * n * n;
    per_stage * horizon as f64
}
