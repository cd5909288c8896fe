//! Every buffer a DDP solve uses, sized once.

use crate::riccati::RiccatiWork;

/// Buffers for DDP solves of `n` states, `m` controls, horizons up to `max_horizon` and line
/// searches of up to `line_search_batch` steps at once. A solve allocates nothing.
pub struct Workspace {
    pub(crate) n: usize,
    pub(crate) m: usize,
    pub(crate) max_horizon: usize,
    pub(crate) batch: usize,
    /// T x n x (n+m): [f_x f_u].
    pub(crate) jacobians: Vec<f64>,
    /// T x (n+m).
    pub(crate) cost_gradients: Vec<f64>,
    /// T x (n+m) x (n+m).
    pub(crate) cost_hessians: Vec<f64>,
    pub(crate) terminal_gradient: Vec<f64>,
    pub(crate) terminal_hessian: Vec<f64>,
    /// (T+1) x n x n and (T+1) x n: the value function.
    pub(crate) value_hessians: Vec<f64>,
    pub(crate) value_gradients: Vec<f64>,
    /// (T+1) x B x n: line-search rollouts, one row per step size, time-major so that a time
    /// step of the whole batch is one contiguous B x n block.
    pub(crate) trial_states: Vec<f64>,
    /// T x B x m.
    pub(crate) trial_controls: Vec<f64>,
    pub(crate) trial_costs: Vec<f64>,
    pub(crate) trial_alphas: Vec<f64>,
    pub(crate) riccati: RiccatiWork,
}

impl Workspace {
    /// Buffers for `n` states, `m` controls, horizons up to `max_horizon`, and line searches
    /// of up to `line_search_batch` steps at once (see [`crate::Settings::line_search_batch`]).
    pub fn new(n: usize, m: usize, max_horizon: usize, line_search_batch: usize) -> Self {
        let (t, nm, b) = (max_horizon, n + m, line_search_batch.max(1));
        Self {
            n,
            m,
            max_horizon,
            batch: b,
            jacobians: vec![0.0; t * n * nm],
            cost_gradients: vec![0.0; t * nm],
            cost_hessians: vec![0.0; t * nm * nm],
            terminal_gradient: vec![0.0; n],
            terminal_hessian: vec![0.0; n * n],
            value_hessians: vec![0.0; (t + 1) * n * n],
            value_gradients: vec![0.0; (t + 1) * n],
            trial_states: vec![0.0; (t + 1) * b * n],
            trial_controls: vec![0.0; t * b * m],
            trial_costs: vec![0.0; b],
            trial_alphas: vec![0.0; b],
            riccati: RiccatiWork::new(n, m),
        }
    }

    /// The largest horizon this workspace holds.
    pub fn max_horizon(&self) -> usize {
        self.max_horizon
    }
}
