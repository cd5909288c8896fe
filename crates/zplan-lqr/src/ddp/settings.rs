//! Settings of the DDP solver.

use std::time::Duration;

use crate::boxqp::BoxQpSettings;
use crate::error::SolveError;

/// How the DDP solver iterates and when it stops. `Default` gives Tassa et al.'s constants.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Maximum number of iterations (backward pass + line search).
    pub max_iterations: usize,
    /// Converged when the feedforward step is this small relative to the controls:
    /// mean_t max_i |k_t,i| / (|u_t,i| + 1) < `gradient_tolerance` (with mu below 1e-5).
    pub gradient_tolerance: f64,
    /// Converged when an accepted step lowers the cost by less than
    /// `cost_tolerance * max(1, |J|)`, or the quadratic model predicts less than that.
    pub cost_tolerance: f64,
    /// Initial Levenberg-Marquardt regularisation mu, added to Q_uu (0: a plain Newton step
    /// until a Q_uu fails to be positive definite).
    pub mu_init: f64,
    /// Below this, decreasing mu sets it to zero.
    pub mu_min: f64,
    /// Above this the solver gives up with [`crate::Status::RegularizationLimit`].
    pub mu_max: f64,
    /// Growth factor of Tassa's schedule: on failure dmu <- max(dmu f, f), mu <- max(mu dmu,
    /// mu_min); on success dmu <- min(dmu / f, 1 / f), mu <- mu dmu (0 below mu_min).
    pub mu_factor: f64,
    /// First line-search step.
    pub alpha_init: f64,
    /// Each further step is the previous times this.
    pub alpha_decrease: f64,
    /// Steps below this are not tried.
    pub alpha_min: f64,
    /// Accept a step when actual / expected improvement exceeds this (0: any decrease the
    /// quadratic model predicts).
    pub min_improvement_ratio: f64,
    /// How many line-search steps are rolled out together, as one batch through
    /// [`crate::Dynamics::step`]. 1 is the classic sequential search; larger batches suit
    /// models with a high per-call cost. The workspace must be built for at least this many.
    pub line_search_batch: usize,
    /// Step sizes rolled out together in each later round of a line search, once the first
    /// round's have failed (0: `line_search_batch`). With 1 first and more later, the common
    /// case (alpha = 1 accepted) costs one rollout of one row per candidate, and a search that
    /// halves alpha many times takes a few rounds instead of one per step size: the rows are
    /// the same, the network calls fewer. The workspace must be built for
    /// [`Settings::largest_line_search_batch`].
    pub line_search_retry_batch: usize,
    /// Stop with [`crate::Status::TimeBudget`] before an iteration, or a further line-search
    /// round, that would end later than this long after the solve began (by the workspace's
    /// estimates of each phase, see [`crate::solve_batch_until`]).
    pub time_budget: Option<Duration>,
    /// With control bounds, the first backward pass ignores them: an unconstrained DDP step,
    /// whose line-search rollouts clamp the controls into the box, before box-DDP proper. From
    /// a cold guess on unstable dynamics the trajectory has exploded, the box QP saturates
    /// nearly every stage of the linearisation around it and the search creeps on with short
    /// steps; the clamped unconstrained feedback law brings the trajectory back in one
    /// iteration. Off for warm starts already near the solution (the MPC planner), where the
    /// first iteration would be wasted.
    pub unbounded_first_iteration: bool,
    /// Candidates of a batched solve ([`crate::solve_batch`]) that go on after each
    /// iteration: those whose costs rank among the `keep_best` lowest of all candidates (ties
    /// by index). The others end with [`crate::Status::Outranked`], and the later iterations'
    /// model calls serve only the survivors. 0 keeps every candidate until it stops by itself.
    pub keep_best: usize,
    /// Settings of the box QP used when controls are bounded.
    pub box_qp: BoxQpSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_iterations: 100,
            gradient_tolerance: 1e-4,
            cost_tolerance: 1e-7,
            mu_init: 0.0,
            mu_min: 1e-6,
            mu_max: 1e10,
            mu_factor: 1.6,
            alpha_init: 1.0,
            alpha_decrease: 0.5,
            alpha_min: 1e-4,
            min_improvement_ratio: 0.0,
            line_search_batch: 1,
            line_search_retry_batch: 0,
            time_budget: None,
            unbounded_first_iteration: true,
            keep_best: 0,
            box_qp: BoxQpSettings::default(),
        }
    }
}

impl Settings {
    pub(crate) fn validate(&self) -> Result<(), SolveError> {
        let invalid = |name, reason| Err(SolveError::InvalidSettings { name, reason });
        if !(self.mu_init >= 0.0 && self.mu_min >= 0.0 && self.mu_max > self.mu_min) {
            return invalid(
                "mu_init/mu_min/mu_max",
                "need mu_init >= 0, mu_min >= 0, mu_max > mu_min",
            );
        }
        if self.mu_factor.is_nan() || self.mu_factor <= 1.0 {
            return invalid("mu_factor", "must exceed 1");
        }
        if !(self.alpha_init > 0.0 && self.alpha_min > 0.0 && self.alpha_min <= self.alpha_init) {
            return invalid("alpha_init/alpha_min", "need 0 < alpha_min <= alpha_init");
        }
        if !(self.alpha_decrease > 0.0 && self.alpha_decrease < 1.0) {
            return invalid("alpha_decrease", "must lie in (0, 1)");
        }
        if self.line_search_batch == 0 {
            return invalid("line_search_batch", "must be at least 1");
        }
        if !(self.gradient_tolerance >= 0.0 && self.cost_tolerance >= 0.0) {
            return invalid("gradient_tolerance/cost_tolerance", "must be non-negative");
        }
        Ok(())
    }

    /// Step sizes per round in the line search's first round and in its later ones.
    pub(crate) fn line_search_rounds(&self) -> (usize, usize) {
        let later = match self.line_search_retry_batch {
            0 => self.line_search_batch,
            retry => retry,
        };
        (self.line_search_batch, later)
    }

    /// The most step sizes a line-search round rolls out together: the batch a workspace for
    /// these settings needs ([`crate::Workspace::with_candidates`]).
    pub fn largest_line_search_batch(&self) -> usize {
        let (first, later) = self.line_search_rounds();
        first.max(later)
    }

    /// The line-search step sizes: alpha_init, alpha_init * alpha_decrease, ... >= alpha_min.
    pub(crate) fn alphas(&self) -> impl Iterator<Item = f64> + '_ {
        std::iter::successors(Some(self.alpha_init), move |a| {
            Some(a * self.alpha_decrease)
        })
        .take_while(move |&a| a >= self.alpha_min)
    }
}
