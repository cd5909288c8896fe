//! What a DDP solve returns: the trajectory, the policy, how it ended and how long each phase took.

use std::time::Duration;

use ndarray::{ArrayView2, ArrayView3, ArrayViewMut2};

use crate::views;

/// How a solve ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// No solve has run yet.
    Unsolved,
    /// The gradient or cost-change tolerance was met.
    Converged,
    /// `max_iterations` ran out; the trajectory is the best found.
    MaxIterations,
    /// The time budget ran out; the trajectory is the best found.
    TimeBudget,
    /// mu exceeded `mu_max`: no regularised step decreased the cost. The trajectory is the best found.
    RegularizationLimit,
    /// A batched solve stopped this candidate after an iteration because `keep_best` others had
    /// lower costs ([`crate::Settings::keep_best`]). The trajectory is the best it found.
    Outranked,
}

/// Wall-clock time per phase.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PhaseTimes {
    /// Dynamics Jacobians and cost derivatives along the trajectory.
    pub linearize: Duration,
    /// Backward Riccati passes (including retries with a larger mu).
    pub backward: Duration,
    /// Line-search rollouts and their costs.
    pub forward: Duration,
}

impl PhaseTimes {
    fn add(&mut self, other: &PhaseTimes) {
        self.linearize += other.linearize;
        self.backward += other.backward;
        self.forward += other.forward;
    }
}

/// One iteration of a solve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IterationRecord {
    /// Cost after the iteration.
    pub cost: f64,
    /// mu the backward pass succeeded with.
    pub mu: f64,
    /// Accepted step, or 0 when the line search failed.
    pub alpha: f64,
    /// Improvement the quadratic model predicted for the full step, -(dV_1 + dV_2).
    pub expected_improvement: f64,
    /// mean_t max_i |k_t,i| / (|u_t,i| + 1).
    pub gradient_norm: f64,
    /// Time per phase in this iteration.
    pub times: PhaseTimes,
}

/// Iteration records kept per solve (more iterations are counted but not recorded).
pub const LOG_CAPACITY: usize = 256;

/// The trajectory and policy of a DDP solve. It also carries the initial guess: a solve starts
/// from the controls held here (zero at first, the previous solution after it, or whatever the
/// caller writes through [`Solution::controls_mut`]).
#[derive(Clone, Debug)]
pub struct Solution {
    pub(crate) n: usize,
    pub(crate) m: usize,
    pub(crate) max_horizon: usize,
    pub(crate) horizon: usize,
    /// (T_max + 1) x n.
    pub(crate) states: Vec<f64>,
    /// T_max x m.
    pub(crate) controls: Vec<f64>,
    /// T_max x m x n.
    pub(crate) gains: Vec<f64>,
    /// T_max x m; also the warm start of the box QP.
    pub(crate) feedforward: Vec<f64>,
    pub(crate) status: Status,
    pub(crate) iterations: usize,
    pub(crate) cost: f64,
    pub(crate) times: PhaseTimes,
    pub(crate) log: Vec<IterationRecord>,
}

impl Solution {
    /// A zero solution for `n` states, `m` controls and horizons up to `max_horizon`.
    pub fn new(n: usize, m: usize, max_horizon: usize) -> Self {
        let t = max_horizon;
        Self {
            n,
            m,
            max_horizon,
            horizon: 0,
            states: vec![0.0; (t + 1) * n],
            controls: vec![0.0; t * m],
            gains: vec![0.0; t * m * n],
            feedforward: vec![0.0; t * m],
            status: Status::Unsolved,
            iterations: 0,
            cost: f64::INFINITY,
            times: PhaseTimes::default(),
            log: Vec::with_capacity(LOG_CAPACITY),
        }
    }

    /// Makes this solution a copy of `other`, reusing its buffers: no allocation when both were
    /// built with the same dimensions.
    pub fn copy_from(&mut self, other: &Solution) {
        self.n = other.n;
        self.m = other.m;
        self.max_horizon = other.max_horizon;
        self.horizon = other.horizon;
        self.states.clone_from(&other.states);
        self.controls.clone_from(&other.controls);
        self.gains.clone_from(&other.gains);
        self.feedforward.clone_from(&other.feedforward);
        self.status = other.status;
        self.iterations = other.iterations;
        self.cost = other.cost;
        self.times = other.times;
        self.log.clone_from(&other.log);
    }

    /// How the last solve ended.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Iterations of the last solve.
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    /// Cost of the returned trajectory.
    pub fn cost(&self) -> f64 {
        self.cost
    }

    /// Horizon T of the last solve.
    pub fn horizon(&self) -> usize {
        self.horizon
    }

    /// Total time per phase in the last solve.
    pub fn times(&self) -> PhaseTimes {
        self.times
    }

    /// Per-iteration records of the last solve (at most [`LOG_CAPACITY`]).
    pub fn log(&self) -> &[IterationRecord] {
        &self.log
    }

    /// x_0 .. x_T, (T+1) x n.
    pub fn states(&self) -> ArrayView2<'_, f64> {
        views::matrix(&self.states, self.horizon + 1, self.n)
    }

    /// u_0 .. u_{T-1}, T x m.
    pub fn controls(&self) -> ArrayView2<'_, f64> {
        views::matrix(&self.controls, self.horizon, self.m)
    }

    /// Feedback gains K_t, T x m x n: u = u_t + k-step + K_t (x - x_t).
    pub fn gains(&self) -> ArrayView3<'_, f64> {
        views::matrices(&self.gains, self.horizon, self.m, self.n)
    }

    /// Feedforward terms k_t of the last backward pass, T x m.
    pub fn feedforward(&self) -> ArrayView2<'_, f64> {
        views::matrix(&self.feedforward, self.horizon, self.m)
    }

    /// The initial guess for the next solve, all `max_horizon` rows (T_max x m); a solve of
    /// horizon T reads the first T.
    pub fn controls_mut(&mut self) -> ArrayViewMut2<'_, f64> {
        let (t, m) = (self.max_horizon, self.m);
        ArrayViewMut2::from_shape((t, m), &mut self.controls[..]).expect("T_max x m")
    }

    /// Receding horizon: drops the first stage and repeats the last, so that the next solve,
    /// one step later, starts from the rest of this plan. Allocates nothing.
    pub fn shift(&mut self) {
        let (n, m, t) = (self.n, self.m, self.horizon);
        shift_rows(&mut self.controls[..t * m], m);
        shift_rows(&mut self.feedforward[..t * m], m);
        shift_rows(&mut self.gains[..t * m * n], m * n);
        shift_rows(&mut self.states[..(t + 1) * n], n);
    }

    pub(crate) fn begin(&mut self, horizon: usize) {
        self.horizon = horizon;
        self.iterations = 0;
        self.times = PhaseTimes::default();
        self.log.clear();
    }

    pub(crate) fn record(&mut self, record: IterationRecord) {
        self.iterations += 1;
        self.times.add(&record.times);
        if self.log.len() < self.log.capacity() {
            self.log.push(record);
        }
    }
}

/// Moves rows 1.. of `data` (rows of `width`) up by one; the last row stays.
fn shift_rows(data: &mut [f64], width: usize) {
    if data.len() > width {
        data.copy_within(width.., 0);
    }
}
