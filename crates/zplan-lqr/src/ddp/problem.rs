//! The problem description: initial state, horizon and control limits.

use ndarray::{Array1, ArrayView1};

use crate::error::SolveError;

/// Initial state x_0, horizon T and optional box limits lower <= u_t <= upper.
#[derive(Clone, Debug)]
pub struct Problem {
    pub(crate) x0: Array1<f64>,
    pub(crate) horizon: usize,
    pub(crate) bounds: Option<(Array1<f64>, Array1<f64>)>,
}

impl Problem {
    /// A problem from `x0` over `horizon` stages, with unbounded controls.
    pub fn new(x0: Array1<f64>, horizon: usize) -> Result<Self, SolveError> {
        let mut problem = Self {
            x0: Array1::zeros(x0.len()),
            horizon,
            bounds: None,
        };
        problem.set_initial_state(x0.view())?;
        Ok(problem)
    }

    /// Adds box limits on every control, `lower[i] <= u_t,i <= upper[i]`; infinite bounds are
    /// allowed, NaN and lower > upper are not. Bounded controls are solved by box-DDP.
    pub fn with_control_bounds(
        mut self,
        lower: Array1<f64>,
        upper: Array1<f64>,
    ) -> Result<Self, SolveError> {
        SolveError::check_dim("upper control bound", lower.len(), upper.len())?;
        for (index, (&lo, &hi)) in lower.iter().zip(&upper).enumerate() {
            if lo.is_nan() || hi.is_nan() || lo > hi {
                return Err(SolveError::InvalidBounds {
                    index,
                    lower: lo,
                    upper: hi,
                });
            }
        }
        self.bounds = Some((lower, upper));
        Ok(self)
    }

    /// Replaces x_0 in place (the receding-horizon loop does this every step).
    pub fn set_initial_state(&mut self, x0: ArrayView1<'_, f64>) -> Result<(), SolveError> {
        SolveError::check_dim("initial state x0", self.x0.len(), x0.len())?;
        if x0.iter().any(|v| !v.is_finite()) {
            return Err(SolveError::NonFinite {
                what: "initial state x0",
                stage: 0,
            });
        }
        self.x0.assign(&x0);
        Ok(())
    }

    /// Sets the horizon T (at most the workspace's maximum at solve time).
    pub fn set_horizon(&mut self, horizon: usize) {
        self.horizon = horizon;
    }

    /// The initial state x_0.
    pub fn initial_state(&self) -> ArrayView1<'_, f64> {
        self.x0.view()
    }

    /// The horizon T.
    pub fn horizon(&self) -> usize {
        self.horizon
    }

    /// The control limits, if any.
    pub fn control_bounds(&self) -> Option<(ArrayView1<'_, f64>, ArrayView1<'_, f64>)> {
        self.bounds.as_ref().map(|(lo, hi)| (lo.view(), hi.view()))
    }
}
