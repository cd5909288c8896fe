//! Every buffer a DDP solve uses, sized once.

use std::time::{Duration, Instant};

use super::solution::IterationRecord;
use crate::riccati::RiccatiWork;

/// Buffers for DDP solves of `n` states, `m` controls, horizons up to `max_horizon`, line
/// searches of up to `line_search_batch` steps at once, and up to `candidates` initial guesses
/// solved together by [`crate::solve_batch`]. A solve allocates nothing.
pub struct Workspace {
    pub(crate) n: usize,
    pub(crate) m: usize,
    pub(crate) max_horizon: usize,
    /// Line-search steps per rollout, B.
    pub(crate) batch: usize,
    /// Initial guesses solved together, C.
    pub(crate) candidates: usize,
    /// C x T x (n + m): the trajectories of the candidates linearised in one call, stage-major
    /// per candidate ([x u] rows, split into `points_x` / `points_u`).
    pub(crate) points_x: Vec<f64>,
    pub(crate) points_u: Vec<f64>,
    /// C x T x n x (n+m): [f_x f_u] along each of those trajectories.
    pub(crate) jacobians: Vec<f64>,
    /// C x T x (n+m): cost gradients along those trajectories.
    pub(crate) cost_gradients: Vec<f64>,
    /// C x T x (n+m) x (n+m).
    pub(crate) cost_hessians: Vec<f64>,
    /// C x n and C x n x n: terminal cost derivatives.
    pub(crate) terminal_gradient: Vec<f64>,
    pub(crate) terminal_hessian: Vec<f64>,
    /// (T+1) x n x n and (T+1) x n: the value function.
    pub(crate) value_hessians: Vec<f64>,
    pub(crate) value_gradients: Vec<f64>,
    /// (T+1) x (C B) x n: line-search rollouts, time-major so that one time step of every
    /// candidate and step size is one contiguous block for one batched `step` call.
    pub(crate) trial_states: Vec<f64>,
    /// T x (C B) x m.
    pub(crate) trial_controls: Vec<f64>,
    /// C B: total costs of the rollouts' rows, and one stage's costs while they are summed.
    pub(crate) trial_costs: Vec<f64>,
    pub(crate) stage_costs: Vec<f64>,
    /// B.
    pub(crate) trial_alphas: Vec<f64>,
    /// Indices of the candidates taking part in the current batched call (at most C).
    pub(crate) slots: Vec<usize>,
    /// Per candidate: where its iteration stands.
    pub(crate) progress: Vec<Progress>,
    pub(crate) riccati: RiccatiWork,
    /// How long each phase is expected to take, for the deadline.
    pub(crate) expected: PhaseEstimates,
}

/// How long each phase of a batched solve is expected to take: the longest recent time of each.
/// A measurement above the estimate raises it at once ([`PhaseEstimates::update`]); every
/// solve lowers each estimate by 1/8 first ([`PhaseEstimates::age`]), so that a slow call
/// stops counting after a few solves, also for a phase that was not run meanwhile. A solve with
/// a deadline starts a phase only when the phase, this long, ends before it. Zero until the
/// phase has run once in this workspace.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PhaseEstimates {
    /// The initial rollout of every candidate (T batched steps).
    pub rollout: Duration,
    /// One linearisation along every running candidate.
    pub linearize: Duration,
    /// The backward passes of one iteration.
    pub backward: Duration,
    /// One line-search round (T batched steps and their costs).
    pub line_search_round: Duration,
}

impl PhaseEstimates {
    /// Folds the measured time `took` into the estimate `phase`: the larger of the two.
    pub fn update(phase: &mut Duration, took: Duration) {
        *phase = took.max(*phase);
    }

    /// Whether a phase expected to take `expected`, started now, would end after `end` (never
    /// without an end). A quarter of `expected` more is allowed for: a phase takes longer
    /// than its recent longest now and then on a busy machine.
    pub fn overruns(expected: Duration, end: Option<Instant>) -> bool {
        let margin = expected + expected / 4;
        end.is_some_and(|end| Instant::now().checked_add(margin).is_none_or(|t| t > end))
    }

    /// When work begun at `start` must end: the earlier of `start + budget` and `deadline`
    /// (None: neither is given).
    pub fn end(
        start: Instant,
        budget: Option<Duration>,
        deadline: Option<Instant>,
    ) -> Option<Instant> {
        match (budget.and_then(|b| start.checked_add(b)), deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Lowers `phase` by 1/8, once per solve or plan.
    pub fn age(phase: &mut Duration) {
        *phase -= *phase / 8;
    }

    /// Lowers every estimate by 1/8.
    pub fn age_all(&mut self) {
        for phase in [
            &mut self.rollout,
            &mut self.linearize,
            &mut self.backward,
            &mut self.line_search_round,
        ] {
            Self::age(phase);
        }
    }

    /// An iteration up to the end of its first line-search round.
    pub fn iteration(&self) -> Duration {
        self.linearize + self.backward + self.line_search_round
    }
}

/// Where one candidate's iteration stands inside a batched solve.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Progress {
    pub mu: f64,
    pub dmu: f64,
    pub cost: f64,
    pub running: bool,
    /// The backward pass's [dV_1, dV_2] for the line search.
    pub expected: [f64; 2],
    /// The iteration being recorded.
    pub record: IterationRecord,
    /// The accepted (alpha, cost) of this iteration's line search.
    pub accepted: Option<(f64, f64)>,
}

impl Workspace {
    /// Buffers for `n` states, `m` controls, horizons up to `max_horizon`, and line searches
    /// of up to `line_search_batch` steps at once (see [`crate::Settings::line_search_batch`]),
    /// for one initial guess at a time.
    pub fn new(n: usize, m: usize, max_horizon: usize, line_search_batch: usize) -> Self {
        Self::with_candidates(n, m, max_horizon, line_search_batch, 1)
    }

    /// As [`Workspace::new`], for up to `candidates` initial guesses solved together.
    pub fn with_candidates(
        n: usize,
        m: usize,
        max_horizon: usize,
        line_search_batch: usize,
        candidates: usize,
    ) -> Self {
        let (t, nm) = (max_horizon, n + m);
        let (b, c) = (line_search_batch.max(1), candidates.max(1));
        let idle = Progress {
            mu: 0.0,
            dmu: 1.0,
            cost: f64::INFINITY,
            running: false,
            expected: [0.0; 2],
            record: IterationRecord {
                cost: 0.0,
                mu: 0.0,
                alpha: 0.0,
                expected_improvement: 0.0,
                gradient_norm: 0.0,
                times: Default::default(),
            },
            accepted: None,
        };
        Self {
            n,
            m,
            max_horizon,
            batch: b,
            candidates: c,
            points_x: vec![0.0; c * t * n],
            points_u: vec![0.0; c * t * m],
            jacobians: vec![0.0; c * t * n * nm],
            cost_gradients: vec![0.0; c * t * nm],
            cost_hessians: vec![0.0; c * t * nm * nm],
            terminal_gradient: vec![0.0; c * n],
            terminal_hessian: vec![0.0; c * n * n],
            value_hessians: vec![0.0; (t + 1) * n * n],
            value_gradients: vec![0.0; (t + 1) * n],
            trial_states: vec![0.0; (t + 1) * c * b * n],
            trial_controls: vec![0.0; t * c * b * m],
            trial_costs: vec![0.0; c * b],
            stage_costs: vec![0.0; c * b],
            trial_alphas: vec![0.0; b],
            slots: Vec::with_capacity(c),
            progress: vec![idle; c],
            riccati: RiccatiWork::new(n, m),
            expected: PhaseEstimates::default(),
        }
    }

    /// The largest horizon this workspace holds.
    pub fn max_horizon(&self) -> usize {
        self.max_horizon
    }

    /// The most initial guesses this workspace solves together.
    pub fn candidates(&self) -> usize {
        self.candidates
    }

    /// How long each phase of a solve in this workspace is expected to take.
    pub fn phase_estimates(&self) -> PhaseEstimates {
        self.expected
    }

    /// Ages the estimates as a solve does at its start ([`PhaseEstimates::age_all`]), for a
    /// caller that decided by them not to solve.
    pub fn age_estimates(&mut self) {
        self.expected.age_all();
    }
}
