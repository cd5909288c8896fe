//! Sampling planners over the latent dynamics: the cross-entropy method (CEM; PlaNet, Visual
//! Foresight) and model-predictive path integral control (MPPI; TD-MPC2's rule).
//!
//! A Gaussian over the action sequence, diagonal, one (mean, std) per decision and action
//! (a decision holds for `action_repeat` steps):
//!
//! ```text
//! mean = previous plan shifted by one step (or the middle of the limits), std = std_init
//! repeat `iterations` times:
//!     u_s = clip(mean + std * eps_s), eps_s ~ N(0, I), s = 1..N   (sample 0 is the mean itself)
//!     J_s = sum_t l(z_t, u_t) + l_T(z_T),  z_{t+1} = f(z_t, u_t)  (one network call per step)
//!     E = the `elites` samples of lowest J
//!     CEM:  mean = avg_E u,  std = sqrt(avg_E (u - mean)^2)
//!     MPPI: w_s = exp(temperature (J_min - J_s)) over E,  mean = sum w u / sum w,
//!           std = clamp(sqrt(sum w (u - mean)^2 / sum w), std_min, std_max)
//! the plan is the final mean
//! ```
//!
//! With `full_covariance` (Visual Foresight's refit) the Gaussian has a full covariance over the
//! whole sequence of decisions and actions, k = decisions * m: u_s = clip(mean + L eps_s) with
//! L L' = Sigma, and the refit is Sigma = sum w (u - mean)(u - mean)' / sum w (plus a ridge of
//! 1e-9 half-range^2 so that L exists); the diagonal rule is the special case of a diagonal
//! Sigma.
//!
//! Every sample of one time step goes through the network in one batched call, so an iteration
//! is T calls of batch N. Buffers are sized once; a plan allocates nothing on the Rust side.

use std::time::{Duration, Instant};

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2};
use rand::RngExt;
use rand_pcg::Pcg64;
use zplan_lqr::{Cost, Dynamics, PhaseEstimates};

use crate::planner::PlanError;

/// Most samples per iteration a sampling planner takes.
pub const MAX_SAMPLES: usize = 100_000;

/// How the sampling distribution is refitted to the elites.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SamplingRule {
    /// The cross-entropy method: mean and standard deviation of the elites, equally weighted.
    Cem,
    /// MPPI as TD-MPC2 applies it: the elites weighted by exp(temperature (J_min - J)), the
    /// standard deviation clamped to [std_min, std_max].
    Mppi {
        /// Inverse temperature of the weights (TD-MPC2: 0.5), per unit of cost.
        temperature: f64,
        /// Smallest standard deviation, as a fraction of half the action range (TD-MPC2: 0.05).
        std_min: f64,
        /// Largest standard deviation, as a fraction of half the action range (TD-MPC2: 2).
        std_max: f64,
    },
}

/// Settings of the sampling planners.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingSettings {
    /// The update rule.
    pub rule: SamplingRule,
    /// Action sequences sampled per iteration, N (sample 0 is the current mean).
    pub samples: usize,
    /// Refits of the distribution per plan, K.
    pub iterations: usize,
    /// Samples of lowest cost that the distribution is refitted to.
    pub elites: usize,
    /// Steps each sampled action is held (the plan has ceil(T / repeat) decisions).
    pub action_repeat: usize,
    /// Initial standard deviation, as a fraction of half the action range.
    pub std_init: f64,
    /// Refit a full covariance over the whole action sequence (correlations across time and
    /// actions, as Visual Foresight's CEM) instead of a diagonal.
    pub full_covariance: bool,
    /// Start an iteration after the first only when it is expected (the longest recent
    /// iteration) to end within this budget, measured from the start of the plan call,
    /// encoding included; then plan with the distribution fitted so far.
    pub time_budget: Option<Duration>,
    /// Hand the final mean to box-DDP as one more candidate beside its own (sampling finds the
    /// basin, DDP refines it); otherwise the plan is the final mean, rolled out once.
    pub refine_with_ddp: bool,
}

impl SamplingSettings {
    /// PlaNet's CEM (Hafner et al. 2019): 1000 samples, 10 iterations, top 100; PlaNet plans 12
    /// steps ahead (set the planner's horizon).
    pub fn planet() -> Self {
        Self {
            rule: SamplingRule::Cem,
            samples: 1000,
            iterations: 10,
            elites: 100,
            action_repeat: 1,
            std_init: 1.0,
            full_covariance: false,
            time_budget: None,
            refine_with_ddp: false,
        }
    }

    /// Visual Foresight's CEM (Ebert et al. 2018): 200 samples, 3 iterations, 10 elites,
    /// actions held 3 steps (a 15-step horizon is 5 decisions), a full covariance over the
    /// sequence.
    pub fn visual_foresight() -> Self {
        Self {
            samples: 200,
            iterations: 3,
            elites: 10,
            action_repeat: 3,
            full_covariance: true,
            ..Self::planet()
        }
    }

    /// TD-MPC2's MPPI (Hansen et al. 2024): 512 samples, 6 iterations, 64 elites, temperature
    /// 0.5, std in [0.05, 2] of half the action range, starting at the largest.
    pub fn td_mpc2() -> Self {
        Self {
            rule: SamplingRule::Mppi {
                temperature: 0.5,
                std_min: 0.05,
                std_max: 2.0,
            },
            samples: 512,
            iterations: 6,
            elites: 64,
            action_repeat: 1,
            std_init: 2.0,
            full_covariance: false,
            time_budget: None,
            refine_with_ddp: false,
        }
    }

    /// Checks that the settings can work.
    pub fn check(&self) -> Result<(), PlanError> {
        if self.samples > MAX_SAMPLES {
            return Err(PlanError::Setting {
                name: "samples",
                value: self.samples.to_string(),
                rule: "at most 100000",
            });
        }
        if self.samples < 2 || self.iterations == 0 || self.action_repeat == 0 {
            return Err(PlanError::Settings(
                "sampling needs at least 2 samples, 1 iteration and an action repeat of 1",
            ));
        }
        if self.elites == 0 || self.elites > self.samples {
            return Err(PlanError::Settings(
                "sampling needs between 1 and `samples` elites",
            ));
        }
        if !(self.std_init.is_finite() && self.std_init > 0.0) {
            return Err(PlanError::Settings("std_init must be positive"));
        }
        if let SamplingRule::Mppi {
            temperature,
            std_min,
            std_max,
        } = self.rule
            && !(temperature > 0.0 && std_min >= 0.0 && std_max >= std_min && std_max.is_finite())
        {
            return Err(PlanError::Settings(
                "MPPI needs temperature > 0 and 0 <= std_min <= std_max",
            ));
        }
        Ok(())
    }
}

/// What the last sampling plan did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SamplingReport {
    /// Iterations run (fewer than asked when the time budget or the deadline stopped them).
    pub iterations: usize,
    /// Whether the time budget or the planner's deadline ended the iterations.
    pub stopped_by_budget: bool,
    /// Lowest sequence cost seen in the last iteration.
    pub best_cost: f64,
    /// Time in the dynamics network's calls (every sample of one step in one call).
    pub dynamics: Duration,
}

/// The search over action sequences, independent of the model that scores them: the
/// distribution, the draws laid out per step, the costs and the refit; sized once for
/// (N, T, m).
pub(crate) struct Search {
    settings: SamplingSettings,
    /// m, T, decisions.
    dims: (usize, usize, usize),
    /// Per decision and action: mean and standard deviation, decisions x m.
    mean: Vec<f64>,
    std: Vec<f64>,
    /// Sampled decisions, N x decisions x m.
    draws: Vec<f64>,
    /// Per step t: the actions of all samples (N x m), t < T.
    controls: Vec<f64>,
    /// Per sample: the sequence cost.
    costs: Vec<f64>,
    /// Sample indices, the elites first after selection.
    order: Vec<usize>,
    /// Elite weights.
    weights: Vec<f64>,
    /// With `full_covariance`: Sigma and its Cholesky factor L (k x k, row-major), and one
    /// sample's standard normal draws (k).
    covariance: Vec<f64>,
    factor: Vec<f64>,
    normal: Vec<f64>,
    report: SamplingReport,
    /// How long an iteration is expected to take (as [`PhaseEstimates`]'s phases).
    expected_iteration: Duration,
}

/// The sampler over latent dynamics: the search, and the rolled-out latent states.
pub(crate) struct Sampler {
    search: Search,
    /// n.
    state_dim: usize,
    /// Per step t: the states of all samples (N x n), t = 0..=T.
    states: Vec<f64>,
    /// Per sample: the stage cost being added.
    stage: Vec<f64>,
}

impl Sampler {
    pub(crate) fn new(settings: SamplingSettings, n: usize, m: usize, horizon: usize) -> Self {
        let samples = settings.samples;
        Self {
            state_dim: n,
            states: vec![0.0; (horizon + 1) * samples * n],
            stage: vec![0.0; samples],
            search: Search::new(settings, m, horizon),
        }
    }

    pub(crate) fn report(&self) -> SamplingReport {
        self.search.report()
    }

    /// How long one iteration is expected to take (the longest recent one; zero before the
    /// first).
    pub(crate) fn expected_iteration(&self) -> Duration {
        self.search.expected_iteration
    }

    /// Ages the iteration estimate as a plan does ([`PhaseEstimates::age`]), for a plan that
    /// did not sample.
    pub(crate) fn age_estimate(&mut self) {
        PhaseEstimates::age(&mut self.search.expected_iteration);
    }

    /// Fits the distribution from `z0` and writes its final mean, per step (T x m), to `plan`.
    /// `warm` is the previous plan shifted (T x m) when there is one. `start` is when the plan
    /// call began, for the time budget.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn plan(
        &mut self,
        dynamics: &mut dyn Dynamics,
        cost: &dyn Cost,
        z0: ArrayView1<'_, f64>,
        bounds: (&[f64], &[f64]),
        warm: Option<&[f64]>,
        rng: &mut Pcg64,
        (start, deadline): (Instant, Option<Instant>),
        plan: &mut [f64],
    ) -> Result<(), PlanError> {
        let (m, horizon, _) = self.search.dims;
        let dims = (self.state_dim, m, horizon);
        let (states, stage) = (&mut self.states, &mut self.stage);
        let rollout = |controls: &[f64], costs: &mut [f64]| {
            latent_rollout(dynamics, cost, z0, dims, states, stage, controls, costs)
        };
        self.search
            .run(rollout, bounds, warm, rng, (start, deadline), plan)
    }
}

/// Rolls every sample out from z0, one network call per step: `states` holds per step t the
/// N x n states (t = 0..=T), `controls` per step the N x m actions; writes each sequence's
/// cost to `costs`. Returns the time in the network's calls. `dims` is (n, m, T).
#[allow(clippy::too_many_arguments)]
fn latent_rollout(
    dynamics: &mut dyn Dynamics,
    cost: &dyn Cost,
    z0: ArrayView1<'_, f64>,
    (n, m, horizon): (usize, usize, usize),
    states: &mut [f64],
    stage: &mut [f64],
    controls: &[f64],
    costs: &mut [f64],
) -> Result<Duration, PlanError> {
    let samples = costs.len();
    for row in states[..samples * n].chunks_exact_mut(n) {
        row.copy_from_slice(z0.as_slice().expect("contiguous z0"));
    }
    costs.fill(0.0);
    let block = samples * n;
    let mut in_network = Duration::ZERO;
    for t in 0..=horizon {
        let (done, rest) = states.split_at_mut((t + 1) * block);
        let z = ArrayView2::from_shape((samples, n), &done[t * block..]).expect("N x n");
        let stage_costs = ArrayViewMut1::from(&mut stage[..]);
        let model = if t < horizon {
            let u =
                ArrayView2::from_shape((samples, m), &controls[t * samples * m..]).expect("N x m");
            let next = ArrayViewMut2::from_shape((samples, n), &mut rest[..block]).expect("N x n");
            let call = Instant::now();
            let stepped = dynamics.step(t, z, u, next);
            in_network += call.elapsed();
            stepped.map_err(|source| {
                PlanError::Solve(zplan_lqr::SolveError::Dynamics { stage: t, source })
            })?;
            cost.stage_batch(t, z, u, stage_costs)
        } else {
            cost.terminal_batch(z, stage_costs)
        };
        model
            .map_err(|source| PlanError::Solve(zplan_lqr::SolveError::Cost { stage: t, source }))?;
        for (total, value) in costs.iter_mut().zip(stage.iter()) {
            *total += value;
        }
    }
    if let Some(t) = (1..=horizon).find(|&t| {
        states[t * block..(t + 1) * block]
            .iter()
            .any(|v| !v.is_finite())
    }) {
        return Err(PlanError::Solve(zplan_lqr::SolveError::NonFinite {
            what: "latent state of a sampled rollout",
            stage: t,
        }));
    }
    Ok(in_network)
}

impl Search {
    /// The search of `settings` over sequences of `horizon` steps of `m` actions.
    pub(crate) fn new(settings: SamplingSettings, m: usize, horizon: usize) -> Self {
        let decisions = horizon.div_ceil(settings.action_repeat);
        let samples = settings.samples;
        let k = if settings.full_covariance {
            decisions * m
        } else {
            0
        };
        Self {
            covariance: vec![0.0; k * k],
            factor: vec![0.0; k * k],
            normal: vec![0.0; k],
            dims: (m, horizon, decisions),
            mean: vec![0.0; decisions * m],
            std: vec![0.0; decisions * m],
            draws: vec![0.0; samples * decisions * m],
            controls: vec![0.0; horizon * samples * m],
            costs: vec![0.0; samples],
            order: (0..samples).collect(),
            weights: vec![0.0; settings.elites],
            report: SamplingReport::default(),
            expected_iteration: Duration::ZERO,
            settings,
        }
    }

    pub(crate) fn report(&self) -> SamplingReport {
        self.report
    }

    /// Fits the distribution and writes its final mean, per step (T x m), to `plan`.
    /// `rollout(controls, costs)` scores the samples: `controls` holds per step t the N x m
    /// actions (t < T), and it writes each sequence's cost to `costs` (N), returning the time
    /// spent in network calls. `warm` is the previous plan shifted (T x m) when there is one.
    /// `start` is when the plan call began, for the time budget; an iteration after the first
    /// starts only when it is expected to end before the budget's end and `deadline`.
    pub(crate) fn run<R>(
        &mut self,
        mut rollout: R,
        (low, high): (&[f64], &[f64]),
        warm: Option<&[f64]>,
        rng: &mut Pcg64,
        (start, deadline): (Instant, Option<Instant>),
        plan: &mut [f64],
    ) -> Result<(), PlanError>
    where
        R: FnMut(&[f64], &mut [f64]) -> Result<Duration, PlanError>,
    {
        let (m, horizon, decisions) = self.dims;
        let repeat = self.settings.action_repeat;
        for d in 0..decisions {
            for i in 0..m {
                let half = 0.5 * (high[i] - low[i]);
                self.mean[d * m + i] = match warm {
                    Some(warm) => warm[(d * repeat).min(horizon - 1) * m + i],
                    None => 0.5 * (low[i] + high[i]),
                };
                self.std[d * m + i] = self.settings.std_init * half;
            }
        }
        // Sigma = diag(std^2) to start with.
        let k = self.normal.len();
        self.covariance.fill(0.0);
        for j in 0..k {
            self.covariance[j * k + j] = self.std[j] * self.std[j];
        }
        self.report = SamplingReport::default();
        let end = PhaseEstimates::end(start, self.settings.time_budget, deadline);
        PhaseEstimates::age(&mut self.expected_iteration);
        for iteration in 0..self.settings.iterations {
            if iteration > 0 && PhaseEstimates::overruns(self.expected_iteration, end) {
                self.report.stopped_by_budget = true;
                break;
            }
            let began = Instant::now();
            self.draw((low, high), rng);
            self.report.dynamics += rollout(&self.controls, &mut self.costs)?;
            self.refit((low, high));
            self.report.iterations += 1;
            PhaseEstimates::update(&mut self.expected_iteration, began.elapsed());
        }
        for t in 0..horizon {
            let d = t / repeat;
            for i in 0..m {
                plan[t * m + i] = self.mean[d * m + i].clamp(low[i], high[i]);
            }
        }
        Ok(())
    }

    /// Draws N sequences of decisions, sample 0 the mean, and lays them out per step.
    fn draw(&mut self, (low, high): (&[f64], &[f64]), rng: &mut Pcg64) {
        let (m, horizon, decisions) = self.dims;
        let (samples, repeat) = (self.settings.samples, self.settings.action_repeat);
        let per_sample = decisions * m;
        if self.settings.full_covariance {
            cholesky(&self.covariance, &mut self.factor, per_sample);
        }
        for s in 0..samples {
            let draw = &mut self.draws[s * per_sample..(s + 1) * per_sample];
            if s == 0 {
                draw.copy_from_slice(&self.mean);
            } else if self.settings.full_covariance {
                // u = mean + L eps.
                for e in self.normal.iter_mut() {
                    *e = standard_normal(rng);
                }
                for (j, u) in draw.iter_mut().enumerate() {
                    let row = &self.factor[j * per_sample..j * per_sample + j + 1];
                    let noise: f64 = row.iter().zip(&self.normal).map(|(l, e)| l * e).sum();
                    *u = self.mean[j] + noise;
                }
            } else {
                for (j, u) in draw.iter_mut().enumerate() {
                    *u = self.mean[j] + self.std[j] * standard_normal(rng);
                }
            }
            for (j, u) in draw.iter_mut().enumerate() {
                let i = j % m;
                *u = u.clamp(low[i], high[i]);
            }
        }
        for t in 0..horizon {
            let d = t / repeat;
            for s in 0..samples {
                let from = s * per_sample + d * m;
                let to = (t * samples + s) * m;
                self.controls[to..to + m].copy_from_slice(&self.draws[from..from + m]);
            }
        }
    }

    /// Refits mean and std to the elites (the `elites` lowest costs; NaN costs last).
    fn refit(&mut self, (low, high): (&[f64], &[f64])) {
        let (m, _, decisions) = self.dims;
        let elites = self.settings.elites;
        let costs = &self.costs;
        let by_cost = |a: &usize, b: &usize| costs[*a].total_cmp(&costs[*b]);
        self.order.select_nth_unstable_by(elites - 1, by_cost);
        let elite = &self.order[..elites];
        let best = elite
            .iter()
            .map(|&s| costs[s])
            .fold(f64::INFINITY, f64::min);
        self.report.best_cost = best;
        let (floor, ceiling) = match self.settings.rule {
            SamplingRule::Cem => {
                self.weights.fill(1.0);
                (0.0, f64::INFINITY)
            }
            SamplingRule::Mppi {
                temperature,
                std_min,
                std_max,
            } => {
                for (w, &s) in self.weights.iter_mut().zip(elite) {
                    *w = (temperature * (best - costs[s])).exp();
                }
                (std_min, std_max)
            }
        };
        let total: f64 = self.weights.iter().sum();
        let per_sample = decisions * m;
        for j in 0..per_sample {
            let i = j % m;
            let value = |s: usize| self.draws[s * per_sample + j];
            let mean = elite
                .iter()
                .zip(&self.weights)
                .map(|(&s, w)| w * value(s))
                .sum::<f64>()
                / total;
            let variance = elite
                .iter()
                .zip(&self.weights)
                .map(|(&s, w)| w * (value(s) - mean).powi(2))
                .sum::<f64>()
                / total;
            let half = 0.5 * (high[i] - low[i]);
            self.mean[j] = mean;
            self.std[j] = variance
                .sqrt()
                .clamp(floor * half, ceiling * half)
                .max(1e-9 * half);
        }
        if self.settings.full_covariance {
            // Sigma_ab = sum w (u_a - mean_a)(u_b - mean_b) / sum w, its diagonal std^2 (the
            // clamped spread) so that MPPI's bounds hold, plus the ridge.
            for a in 0..per_sample {
                for b in 0..a {
                    let value = elite
                        .iter()
                        .zip(&self.weights)
                        .map(|(&s, w)| {
                            let u = &self.draws[s * per_sample..];
                            w * (u[a] - self.mean[a]) * (u[b] - self.mean[b])
                        })
                        .sum::<f64>()
                        / total;
                    self.covariance[a * per_sample + b] = value;
                    self.covariance[b * per_sample + a] = value;
                }
                let half = 0.5 * (high[a % m] - low[a % m]);
                self.covariance[a * per_sample + a] =
                    self.std[a] * self.std[a] + 1e-9 * half * half;
            }
        }
    }
}

/// Writes `plan` (T x m) shifted by one step into `previous`, the last step repeated: the warm
/// start of the next receding-horizon plan.
pub(crate) fn shift_plan(plan: &[f64], previous: &mut [f64], m: usize) {
    let t = plan.len() / m;
    previous[..(t - 1) * m].copy_from_slice(&plan[m..]);
    previous[(t - 1) * m..].copy_from_slice(&plan[(t - 1) * m..]);
}

/// The lower Cholesky factor L of the k x k symmetric matrix `a` (row-major) into `l`, L L' = A.
/// A pivot that is not positive (Sigma singular to rounding) is raised to a tiny positive
/// value, so that the draws stay finite.
fn cholesky(a: &[f64], l: &mut [f64], k: usize) {
    l.fill(0.0);
    for i in 0..k {
        for j in 0..=i {
            let dot: f64 = (0..j).map(|p| l[i * k + p] * l[j * k + p]).sum();
            if i == j {
                let pivot = a[i * k + i] - dot;
                l[i * k + i] = pivot.max(1e-300).sqrt();
            } else {
                l[i * k + j] = (a[i * k + j] - dot) / l[j * k + j];
            }
        }
    }
}

/// A standard normal draw (the Ziggurat method: one uniform draw and a table look-up for all
/// but about 1 % of draws, against a logarithm and a cosine for Box-Muller).
fn standard_normal(rng: &mut Pcg64) -> f64 {
    rng.sample(rand_distr::StandardNormal)
}
