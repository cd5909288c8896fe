//! zplan-lqr: LQR and iLQR / box-constrained DDP, with an allocation-free solve.
//!
//! Two solvers share one backward Riccati pass:
//! - [`solve_lqr`]: time-varying, finite-horizon affine LQR ([`LqrProblem`]);
//! - [`solve`]: iLQR on user [`Dynamics`] and [`Cost`], with Levenberg-Marquardt regularisation
//!   (Tassa's schedule), a line search on the ratio of actual to expected improvement, and box
//!   limits on the controls by box-constrained DDP (Tassa, Mansard, Todorov 2014), whose first
//!   iteration is by default an unconstrained step clamped into the box (a cold start that does
//!   not creep from a diverged rollout);
//!   [`solve_batch`] runs it from several initial guesses in lockstep, so that every call into
//!   the models serves all of them.
//!
//! Each follows one shape: the problem is a description, a workspace holds every buffer and is
//! sized once for the largest horizon, settings are a plain struct with `Default`, and the
//! solution carries the result and how the solve ended. Matrices are row-major `f64`.

// Links OpenBLAS (Debian libopenblas-dev) through ndarray-linalg's `openblas-system`; `dense`
// calls its `cblas_dgemm` directly.
extern crate ndarray_linalg as _;

mod boxqp;
#[cfg(feature = "checks")]
#[doc(hidden)]
pub mod checks;
mod ddp;
mod dense;
mod error;
mod lqr;
mod model;
mod riccati;
#[cfg(feature = "systems")]
pub mod systems;
mod views;

pub use boxqp::BoxQpSettings;
pub use ddp::{
    BatchReport, IterationRecord, LOG_CAPACITY, PhaseEstimates, PhaseTimes, Problem, Settings,
    Solution, Status, Workspace, solve, solve_batch, solve_batch_until,
};
pub use dense::{blas_threads, set_blas_threads};
pub use error::{ModelError, SolveError};
pub use lqr::{LqrDynamics, LqrProblem, LqrSolution, LqrWorkspace, lqr_backward, solve_lqr};
pub use model::{Cost, Dynamics, QuadraticCost};

/// The instruction set the solver's kernels run with on this CPU, chosen at run time:
/// "AVX-512F", "AVX2 + FMA", "NEON" or "portable". Products up to 160 in every dimension run in
/// these kernels, larger ones in OpenBLAS.
pub fn kernel_isa() -> &'static str {
    dense::Isa::detect().name()
}
