//! The receding-horizon planner: encode the camera image, plan with box-DDP over the learned
//! latent dynamics from several initial action sequences, keep the best, apply its first action.
//!
//! ```text
//! z_0 = g(o_t), z_g = g(o_goal)
//! minimise  sum_t 1/2 (z_t - z_g)' Q (z_t - z_g) + 1/2 u_t' R u_t + l_T(z_T)
//! subject to z_{t+1} = f(z_t, u_t), low <= u_t <= high
//! ```
//!
//! with l_T(z) = 1/2 (z - z_g)' Q (z - z_g) (the reference planner), or, with
//! `terminal_steps` = N > 0, the cost-to-go of N more steps of LQR on the dynamics linearised
//! at the goal, computed once per goal (`terminal.rs`).
//!
//! or, with [`Objective::Reward`], the bundle's reward model in place of the goal
//! ([`RewardCost`]).
//!
//! Candidates (as the reference planner of PC3): uniform random and random bang-bang sequences,
//! plus the previous plan shifted by one step (warm start). They are solved together
//! ([`zplan_lqr::solve_batch`]), so that each network call serves all of them: one encoder
//! call, then per iteration one linearisation call and one call per time step of each
//! line-search round. With `solver.keep_best` = k only the k cheapest candidates go on after
//! each iteration.
//!
//! With [`PlannerKind::Sampling`] the plan comes from CEM or MPPI over the same cost
//! (`sampling.rs`) instead, optionally refined by box-DDP as one more candidate.

use std::time::{Duration, Instant};

use ndarray::{Array1, Array2, ArrayView4};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;
use zplan_envs::TaskKind;
use zplan_lqr::{
    Cost, PhaseEstimates, Problem, QuadraticCost, Settings, Solution, Status, Workspace,
    solve_batch_until,
};
use zplan_onnx::{Bundle, BundleError, EncoderNet, Manifest, ObservationSpec};

use crate::dynamics::{DynamicsCalls, LatentDynamics};
use crate::frames::FrameStack;
use crate::reward::RewardCost;
use crate::sampling::{Sampler, SamplingReport, SamplingSettings};
use crate::terminal::GoalLqr;

/// Longest horizon a planner takes ([`PlannerSettings::horizon`]).
pub const MAX_HORIZON: usize = 10_000;

/// Most box-DDP candidates a planner takes (random plus bang-bang).
pub const MAX_CANDIDATES: usize = 1_024;

/// Finite-difference step of the reward model's derivatives, in latent units.
const REWARD_STEP: f64 = 1e-2;

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A network refused its input or failed.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The solver refused its input.
    #[error(transparent)]
    Solve(#[from] zplan_lqr::SolveError),
    /// `plan` before `set_goal`.
    #[error("no goal: call set_goal with a goal image first")]
    NoGoal,
    /// Settings that cannot work.
    #[error("invalid planner setting: {0}")]
    Settings(&'static str),
    /// A setting outside what the planner can use, named with its value.
    #[error("invalid planner setting {name} = {value}: {rule}")]
    Setting {
        /// The setting, as `PlannerSettings` names it.
        name: &'static str,
        /// Its value.
        value: String,
        /// What it must be.
        rule: &'static str,
    },
    /// A camera frame of another size than one frame of the bundle's observation.
    #[error(
        "a camera frame of {got} values; the bundle's frames have {expected} (channels x height \
         x width)"
    )]
    FrameLength {
        /// Values in one frame of the bundle's observation.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// A bundle to swap in that does not fit the planner: other images, another number of
    /// actions, or too few predictor maps. The planner keeps its bundle.
    #[error("the new bundle does not fit the planner: {0}")]
    BundleMismatch(String),
    /// An observation-space plan before `set_pixel_goals`.
    #[error("no pixel goal: call set_pixel_goals with the designated pixels and their goals first")]
    NoPixelGoal,
    /// A designated pixel or its goal that cannot be used.
    #[error("pixel goal {index}: {problem}")]
    PixelGoal {
        /// Which goal (its index in the list given).
        index: usize,
        /// What is wrong with it.
        problem: String,
    },
}

/// Refuses a bundle to swap in, with `(images, actions)`, unless it reads the images and drives
/// the actions of the planner's bundle, naming both where they differ.
pub(crate) fn check_same_interface(
    new: (&ObservationSpec, usize),
    planner: (&ObservationSpec, usize),
) -> Result<(), PlanError> {
    if new.1 != planner.1 {
        return Err(PlanError::BundleMismatch(format!(
            "it drives {} actions, the planner {}",
            new.1, planner.1
        )));
    }
    if new.0 != planner.0 {
        return Err(PlanError::BundleMismatch(format!(
            "it takes {}, the planner {}",
            new.0, planner.0
        )));
    }
    Ok(())
}

/// What the planner minimises.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Objective {
    /// Quadratic in latent space to the goal image's encoding (Q = q I, R = r I); needs
    /// [`Planner::set_goal`].
    LatentGoal,
    /// -`weight` r(z, u) + 1/2 r |u|^2 from the bundle's reward model (R = r I); no goal image.
    Reward {
        /// Weight w of the predicted reward.
        weight: f64,
    },
}

/// Which solver makes the plan.
#[derive(Clone, Debug, PartialEq)]
pub enum PlannerKind {
    /// Box-DDP from several initial sequences (needs meaningful Jacobians).
    Ddp,
    /// CEM or MPPI: batched forward calls only.
    Sampling(SamplingSettings),
}

/// How the planner plans. `reference(task)` gives the reference planner of docs/tasks.md.
#[derive(Clone, Debug)]
pub struct PlannerSettings {
    /// The solver: box-DDP (default) or a sampling planner.
    pub kind: PlannerKind,
    /// What is minimised.
    pub objective: Objective,
    /// Steps planned ahead, T.
    pub horizon: usize,
    /// Latent state weight, Q = q I.
    pub q: f64,
    /// Terminal weight of the goal objective. 0: Q_T = Q, as the reference planner. N > 0:
    /// Q_T = the cost-to-go of N further steps of LQR (Q, R) on the dynamics linearised at the
    /// goal and the middle of the action range, so that a short horizon sees where a motion
    /// leads (the terminal cost of stabilising MPC).
    pub terminal_steps: usize,
    /// Action weight, R = r I.
    pub r: f64,
    /// Uniformly random initial sequences per plan.
    pub random_candidates: usize,
    /// Random bang-bang initial sequences per plan.
    pub bang_bang_candidates: usize,
    /// Also start from the previous plan shifted by one step.
    pub warm_start: bool,
    /// The box-DDP solver's settings (per candidate).
    pub solver: Settings,
    /// Seed of the candidates' random draws.
    pub seed: u64,
    /// Hard limit on one plan call, from its start, encoding included. Each phase after the
    /// encoding (the candidates' rollout, each box-DDP iteration and further line-search round,
    /// each sampling iteration) starts only when it is expected to end before the deadline, at
    /// the longest it took in recent plans; otherwise the plan ends with what it has, and
    /// [`Planner::cut`] says what was left out. A phase that has started is not interrupted (a
    /// network call cannot be), so a plan ends by the deadline up to how much longer a phase
    /// takes than it did recently; the first plan has no estimates and is cut only once time
    /// is up. None: no deadline.
    pub deadline: Option<Duration>,
}

impl Default for PlannerSettings {
    /// The reference planner of docs/tasks.md with horizon 10 and q = 10: R = I, 3 random and 3
    /// bang-bang candidates plus the warm start, up to 4 iterations, mu from 1e-5 doubled up
    /// to 10, steps halved down to 1e-4 (tried one, then four at a time).
    fn default() -> Self {
        let solver = Settings {
            max_iterations: 4,
            mu_init: 1e-5,
            mu_min: 1e-6,
            mu_max: 10.0,
            mu_factor: 2.0,
            alpha_decrease: 0.5,
            alpha_min: 1e-4,
            // One step size in the first round: alpha = 1 is usually accepted, so trying four
            // at once mostly computes rollouts nobody uses. Once it fails, four at once: a
            // search that halves alpha down to 1e-4 then takes 4 rounds of T calls instead of
            // 14 (the accepted step is the same either way).
            line_search_batch: 1,
            line_search_retry_batch: 4,
            // The warm start is near the plan and four iterations are all there is: an
            // unconstrained first iteration would spend one of them.
            unbounded_first_iteration: false,
            ..Settings::default()
        };
        Self {
            kind: PlannerKind::Ddp,
            objective: Objective::LatentGoal,
            horizon: 10,
            q: 10.0,
            terminal_steps: 0,
            r: 1.0,
            random_candidates: 3,
            bang_bang_candidates: 3,
            warm_start: true,
            solver,
            seed: 0,
            deadline: None,
        }
    }
}

impl PlannerSettings {
    /// The reference planner's settings for a task: [`PlannerSettings::default`] with the
    /// horizon and q of docs/tasks.md.
    pub fn reference(task: TaskKind) -> Self {
        let (horizon, q) = match task {
            TaskKind::Planar => (10, 10.0),
            TaskKind::Swing | TaskKind::Balance => (10, 50.0),
            TaskKind::Cartpole => (5, 100.0),
            TaskKind::Threepole => (20, 50.0),
            // Not a task of the reference: Visual Foresight's horizon of 15 steps.
            TaskKind::Push => (15, 10.0),
        };
        Self {
            horizon,
            q,
            ..Self::default()
        }
    }

    /// Box-DDP's own initial sequences in a plan: none for a sampling planner without
    /// refinement; else the random and bang-bang ones, and the warm start when `has_previous`.
    pub fn ddp_candidates(&self, has_previous: bool) -> usize {
        match &self.kind {
            PlannerKind::Sampling(sampling) if !sampling.refine_with_ddp => 0,
            _ => {
                usize::from(self.warm_start && has_previous)
                    + self.random_candidates
                    + self.bang_bang_candidates
            }
        }
    }

    /// zplan's settings for a task: the reference's plus the terminal weight of
    /// `terminal_steps` steps of LQR at the goal, 5 for every task but the cart-pole. The
    /// cart-pole plans 9 steps ahead with PC3's q = 1000 and 23 LQR steps, chosen on start/goal
    /// draws held out of the scoring (docs/results.md, "Cart-pole settings"). On planar, swing
    /// and balance only the 2 candidates of lowest cost go on after each iteration
    /// (`solver.keep_best`): the same scores at about half the network work; the cart-pole and
    /// the three-link arm keep all 7, which score higher there (docs/results.md, "Candidates
    /// kept"). The three-link arm runs 2 box-DDP iterations per plan instead of 4:
    /// the same score, the step about 1.4 times shorter (docs/results.md, "Iterations on the
    /// three-link arm").
    pub fn for_task(task: TaskKind) -> Self {
        let reference = Self::reference(task);
        let mut settings = match task {
            TaskKind::Cartpole => Self {
                horizon: 9,
                q: 1000.0,
                terminal_steps: 23,
                ..reference
            },
            _ => Self {
                terminal_steps: 5,
                ..reference
            },
        };
        if matches!(task, TaskKind::Planar | TaskKind::Swing | TaskKind::Balance) {
            settings.solver.keep_best = 2;
        }
        if task == TaskKind::Threepole {
            settings.solver.max_iterations = 2;
        }
        settings
    }

    /// [`Self::for_task`] with the choices the bundle's manifest records for its own model
    /// (field `planner`: the terminal weight's LQR steps, which `zplan train
    /// --select-terminal-steps` chooses on validation draws) in place of the task's.
    pub fn for_bundle(task: TaskKind, manifest: &Manifest) -> Self {
        Self::for_task(task).with_bundle_choices(manifest)
    }

    /// These settings with the choices `manifest` records for its own model (field `planner`)
    /// in place of their own.
    pub fn with_bundle_choices(mut self, manifest: &Manifest) -> Self {
        if let Some(choices) = &manifest.planner {
            self.terminal_steps = choices.terminal_steps;
        }
        self
    }
}

/// What the deadline ([`PlannerSettings::deadline`]) or a time budget cut from the last plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Cut {
    /// Nothing: the plan ran to its end.
    #[default]
    Nothing,
    /// Everything after the encoding: no time was left to roll the candidates out. The action
    /// is the next of the previous plan (the middle of the action bounds when there is none),
    /// and [`Planner::solution`] is still the previous plan.
    Solve,
    /// The sampling planner's iterations after the first `done` (and box-DDP's refinement).
    Sampling {
        /// Iterations that ran.
        done: usize,
    },
    /// Box-DDP's iterations after the first `done`: the candidates were rolled out and the
    /// best trajectory found so far is the plan.
    Ddp {
        /// Iterations that started.
        done: usize,
    },
}

/// Time spent in the last plan.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PlanTimes {
    /// Encoding the observation.
    pub encode: Duration,
    /// All candidate solves.
    pub solve: Duration,
    /// Of which: linearisation, backward passes, line searches.
    pub phases: zplan_lqr::PhaseTimes,
    /// Of which (sampling planners): the dynamics network's calls in the sampled rollouts.
    pub sampled_dynamics: Duration,
}

/// A planner over one bundle.
pub struct Planner {
    encoder: EncoderNet,
    dynamics: LatentDynamics,
    settings: PlannerSettings,
    low: Vec<f64>,
    high: Vec<f64>,
    cost: PlanCost,
    /// The terminal weight's LQR, with `terminal_steps > 0` and the goal objective.
    goal_lqr: Option<GoalLqr>,
    problem: Problem,
    workspace: Workspace,
    /// The best plan of the last successful call.
    best: Solution,
    /// One per candidate; the first `used` took part in the last plan.
    candidates: Vec<Solution>,
    used: usize,
    /// The previous plan shifted by one step, T x m.
    previous: Vec<f64>,
    /// The latent state being planned from (or the goal's, while it is set), as f64.
    z0: Array1<f64>,
    has_previous: bool,
    has_goal: bool,
    /// The goal image as given, kept to encode it again after `swap_bundle`.
    goal: GoalImage,
    /// The first action of the last plan.
    action: Vec<f64>,
    /// The sampling planner, with [`PlannerKind::Sampling`].
    sampler: Option<Sampler>,
    /// The sampler's plan, T x m.
    sampled: Vec<f64>,
    /// Settings that only roll a candidate out (the sampled plan without refinement).
    rollout_only: Settings,
    z: Array2<f32>,
    /// The camera frames of `plan_frame`, stacked.
    frames: FrameStack,
    rng: Pcg64,
    times: PlanTimes,
    calls: DynamicsCalls,
    cut: Cut,
}

impl Planner {
    /// The checks [`Planner::new`] makes before it takes the bundle's networks: the settings
    /// are usable, and the objective finds the networks it needs in a bundle with `manifest`.
    pub fn check_settings(
        manifest: &Manifest,
        settings: &PlannerSettings,
    ) -> Result<(), PlanError> {
        let refuse = |name, value: &dyn std::fmt::Display, rule| {
            Err(PlanError::Setting {
                name,
                value: value.to_string(),
                rule,
            })
        };
        if !(1..=MAX_HORIZON).contains(&settings.horizon) {
            return refuse("horizon", &settings.horizon, "between 1 and 10000 steps");
        }
        if !(settings.q.is_finite() && settings.q >= 0.0) {
            return refuse("q", &settings.q, "finite and >= 0");
        }
        match &settings.kind {
            PlannerKind::Ddp => {
                let candidates = settings.random_candidates + settings.bang_bang_candidates;
                if candidates == 0 && !settings.warm_start {
                    return Err(PlanError::Settings("at least one candidate is needed"));
                }
                if candidates > MAX_CANDIDATES {
                    return refuse(
                        "random_candidates + bang_bang_candidates",
                        &candidates,
                        "at most 1024",
                    );
                }
                if settings.solver.max_iterations == 0 {
                    return refuse(
                        "solver.max_iterations",
                        &0,
                        "at least 1 (box-DDP improves the candidates by its iterations)",
                    );
                }
                // Box-DDP's steps solve with Quu = R + B'V'B: R = r I must be positive
                // definite (the sampling planners take r = 0).
                if !(settings.r.is_finite() && settings.r > 0.0) {
                    return refuse("r", &settings.r, "finite and > 0 for box-DDP");
                }
            }
            PlannerKind::Sampling(sampling) => sampling.check()?,
        }
        if matches!(settings.objective, Objective::Reward { .. }) && manifest.reward.is_none() {
            return Err(PlanError::Settings(
                "the reward objective needs a bundle with a reward model",
            ));
        }
        Ok(())
    }

    /// The checks [`Planner::swap_bundle`] makes before it takes the bundle's networks: a
    /// bundle with `manifest` reads the same images and drives the same actions.
    pub fn check_swap(&self, manifest: &Manifest) -> Result<(), PlanError> {
        check_same_interface(
            (&manifest.observation, manifest.action.dim),
            (&self.encoder.observation(), self.low.len()),
        )?;
        Self::check_settings(manifest, &self.settings)
    }

    /// A planner over `bundle`'s encoder and dynamics, action limits from its manifest.
    pub fn new(bundle: Bundle, settings: PlannerSettings) -> Result<Self, PlanError> {
        Self::check_settings(bundle.manifest(), &settings)?;
        let (manifest, encoder, dynamics, _, reward) = bundle.into_parts();
        let (nz, nu, t) = (manifest.latent_dim, manifest.action.dim, settings.horizon);
        let (low, high) = (manifest.action.low.clone(), manifest.action.high.clone());
        let cost = match settings.objective {
            Objective::LatentGoal => PlanCost::Goal(QuadraticCost::diagonal(
                nz, nu, settings.q, settings.r, settings.q,
            )),
            Objective::Reward { weight } => {
                let reward = reward.expect("check_settings: the bundle has a reward model");
                PlanCost::Reward(RewardCost::new(reward, weight, settings.r, REWARD_STEP))
            }
        };
        let goal_lqr =
            (settings.terminal_steps > 0 && matches!(cost, PlanCost::Goal(_))).then(|| {
                let middle: Vec<f64> = low.iter().zip(&high).map(|(l, h)| 0.5 * (l + h)).collect();
                GoalLqr::new(settings.terminal_steps, settings.q, settings.r, &middle, nz)
            });
        let sampler = match &settings.kind {
            PlannerKind::Ddp => None,
            PlannerKind::Sampling(sampling) => Some(Sampler::new(sampling.clone(), nz, nu, t)),
        };
        // DDP's own candidates, and the sampled plan as one more.
        let candidates = settings.ddp_candidates(true) + usize::from(sampler.is_some());
        let problem = Problem::new(Array1::zeros(nz), t)?
            .with_control_bounds(Array1::from(low.clone()), Array1::from(high.clone()))?;
        Ok(Self {
            encoder,
            dynamics: LatentDynamics::new(dynamics),
            goal_lqr,
            workspace: Workspace::with_candidates(
                nz,
                nu,
                t,
                settings.solver.largest_line_search_batch(),
                candidates,
            ),
            best: Solution::new(nz, nu, t),
            candidates: (0..candidates).map(|_| Solution::new(nz, nu, t)).collect(),
            used: 0,
            previous: vec![0.0; t * nu],
            z0: Array1::zeros(nz),
            has_previous: false,
            has_goal: false,
            goal: GoalImage::default(),
            action: vec![0.0; nu],
            sampler,
            sampled: vec![0.0; t * nu],
            rollout_only: Settings {
                max_iterations: 0,
                ..settings.solver.clone()
            },
            z: Array2::zeros((1, nz)),
            frames: FrameStack::new(&manifest.observation),
            rng: Pcg64::seed_from_u64(settings.seed),
            times: PlanTimes::default(),
            calls: DynamicsCalls::default(),
            cut: Cut::Nothing,
            settings,
            low,
            high,
            cost,
            problem,
        })
    }

    /// Encodes the goal image [1, C, H, W] (u8) once; plans then steer towards it.
    pub fn set_goal(&mut self, goal: ArrayView4<'_, u8>) -> Result<(), PlanError> {
        self.encoder.encode_u8(goal, self.z.view_mut())?;
        self.goal.keep_u8(goal);
        self.set_goal_latent()
    }

    /// As [`Planner::set_goal`], for an f32 image with values in [0, 1] (NaN is refused).
    pub fn set_goal_f32(&mut self, goal: ArrayView4<'_, f32>) -> Result<(), PlanError> {
        self.encoder.encode(goal, self.z.view_mut())?;
        self.goal.keep(goal);
        self.set_goal_latent()
    }

    /// Replaces the networks with `bundle`'s (a retrained model) without a new planner: the
    /// settings stay, except that a terminal weight the bundle records for its own model
    /// (manifest field `planner`, [`PlannerSettings::with_bundle_choices`]) replaces the
    /// old one; the goal image is encoded again by the new encoder, the warm start is dropped
    /// (the latent space changed). A bundle the planner cannot use (other images or actions,
    /// a failing network) is refused with the error, and the planner keeps serving with the
    /// networks and settings it had.
    pub fn swap_bundle(&mut self, bundle: Bundle) -> Result<(), PlanError> {
        self.check_swap(bundle.manifest())?;
        let settings = self.settings.clone().with_bundle_choices(bundle.manifest());
        let mut next = Planner::new(bundle, settings)?;
        if let Some(goal) = self.goal.view() {
            next.set_goal_f32(goal)?;
        }
        next.rng = self.rng.clone();
        // The same images: the frames seen so far stay stacked.
        std::mem::swap(&mut next.frames, &mut self.frames);
        *self = next;
        Ok(())
    }

    fn set_goal_latent(&mut self) -> Result<(), PlanError> {
        for (z0, z) in self.z0.iter_mut().zip(self.z.row(0)) {
            *z0 = f64::from(*z);
        }
        if let PlanCost::Goal(cost) = &mut self.cost {
            // The terminal weight first: if it fails, the previous goal stays whole.
            if let Some(lqr) = &mut self.goal_lqr {
                let (hessian, gradient) = lqr.cost_to_go(&mut self.dynamics, self.z0.view())?;
                cost.set_terminal(hessian, gradient)?;
            }
            cost.set_goal(self.z0.view())?;
        }
        self.has_goal = true;
        Ok(())
    }

    /// Forgets the previous plan (a new episode).
    pub fn reset(&mut self) {
        self.has_previous = false;
        self.frames.reset();
    }

    /// As [`Planner::set_goal`] from one goal frame (C x H x W u8, row-major), repeated for
    /// every frame the bundle stacks.
    pub fn set_goal_frame(&mut self, frame: &[u8]) -> Result<(), PlanError> {
        let goal = self.frames.goal(frame)?;
        self.encoder.encode_u8(goal, self.z.view_mut())?;
        self.goal.keep_u8(goal);
        self.set_goal_latent()
    }

    /// As [`Planner::plan`] from the newest camera frame alone (C x H x W u8, row-major): the
    /// planner stacks the frames the bundle takes itself, the previous ones first, the first
    /// frame after a reset ([`Planner::reset`]) in every slot ([`FrameStack`]).
    pub fn plan_frame(&mut self, frame: &[u8]) -> Result<&[f64], PlanError> {
        self.check_goal()?;
        let start = Instant::now();
        let obs = self.frames.push(frame)?;
        self.encoder.encode_u8(obs, self.z.view_mut())?;
        self.plan_encoded(start)
    }

    /// The frames [`Planner::plan_frame`] stacks.
    pub fn frame_stack(&self) -> &FrameStack {
        &self.frames
    }

    /// Advances the warm start by one more step, for a control period in which the first
    /// planned action was applied without a new plan (each plan already shifts it once).
    pub fn shift(&mut self) {
        // u_k <- u_{k+1}; the last action stays (repeated), as in the shift after a plan.
        let m = self.low.len();
        self.previous.copy_within(m.., 0);
    }

    /// Plans from the observation [1, C, H, W] (u8) and returns the first action. The whole
    /// plan is in [`Planner::solution`]. On an error the planner stays usable and keeps the
    /// last good plan.
    pub fn plan(&mut self, obs: ArrayView4<'_, u8>) -> Result<&[f64], PlanError> {
        self.check_goal()?;
        let start = Instant::now();
        self.encoder.encode_u8(obs, self.z.view_mut())?;
        self.plan_encoded(start)
    }

    /// As [`Planner::plan`], for an f32 observation with values in [0, 1] (NaN is refused).
    pub fn plan_f32(&mut self, obs: ArrayView4<'_, f32>) -> Result<&[f64], PlanError> {
        self.check_goal()?;
        let start = Instant::now();
        self.encoder.encode(obs, self.z.view_mut())?;
        self.plan_encoded(start)
    }

    /// The goal objective needs a goal image before the first plan.
    fn check_goal(&self) -> Result<(), PlanError> {
        if !self.has_goal && self.settings.objective == Objective::LatentGoal {
            return Err(PlanError::NoGoal);
        }
        Ok(())
    }

    /// Plans from the latent state in `self.z`, encoded since `start`.
    fn plan_encoded(&mut self, start: Instant) -> Result<&[f64], PlanError> {
        for (z0, z) in self.z0.iter_mut().zip(self.z.row(0)) {
            *z0 = f64::from(*z);
        }
        self.problem.set_initial_state(self.z0.view())?;
        self.times.encode = start.elapsed();
        let deadline = self.settings.deadline.and_then(|d| start.checked_add(d));
        // The first phase: a sampling iteration and the rollout of its plan, or the rollout of
        // the box-DDP candidates.
        let first_phase = self.workspace.phase_estimates().rollout
            + self
                .sampler
                .as_ref()
                .map_or(Duration::ZERO, Sampler::expected_iteration);
        if PhaseEstimates::overruns(first_phase, deadline) {
            // Estimates not met again fall, so that one slow phase does not stop every plan.
            self.workspace.age_estimates();
            if let Some(sampler) = &mut self.sampler {
                sampler.age_estimate();
            }
            return Ok(self.plan_without_solving());
        }

        let solving = Instant::now();
        // Calls before this plan (the goal's linearisation) are not its own.
        self.dynamics.take_calls();
        let (t, m) = (self.settings.horizon, self.low.len());
        let warm = self.settings.warm_start && self.has_previous;
        let mut count = self.settings.ddp_candidates(self.has_previous);
        for c in 0..count {
            let mut controls = self.candidates[c].controls_mut();
            for k in 0..t {
                for i in 0..m {
                    let (lo, hi) = (self.low[i], self.high[i]);
                    controls[[k, i]] = if warm && c == 0 {
                        self.previous[k * m + i]
                    } else if (c - usize::from(warm)) < self.settings.random_candidates {
                        self.rng.random_range(lo..hi)
                    } else if self.rng.random_bool(0.5) {
                        lo
                    } else {
                        hi
                    };
                }
            }
        }
        let mut solver = &self.settings.solver;
        if let Some(sampler) = &mut self.sampler {
            let previous = self.has_previous.then_some(&self.previous[..]);
            sampler.plan(
                &mut self.dynamics,
                self.cost.get(),
                self.z0.view(),
                (&self.low, &self.high),
                previous,
                &mut self.rng,
                (start, deadline),
                &mut self.sampled,
            )?;
            let mut controls = self.candidates[count].controls_mut();
            for (dst, src) in controls.iter_mut().zip(&self.sampled) {
                *dst = *src;
            }
            count += 1;
            if count == 1 {
                solver = &self.rollout_only;
            }
        }
        let report = solve_batch_until(
            &mut self.dynamics,
            self.cost.get(),
            &self.problem,
            solver,
            &mut self.workspace,
            &mut self.candidates[..count],
            deadline,
        )?;
        self.cut = match self.sampler.as_ref().map(Sampler::report) {
            Some(sampled) if sampled.stopped_by_budget => Cut::Sampling {
                done: sampled.iterations,
            },
            _ if report.out_of_time => Cut::Ddp {
                done: report.iterations,
            },
            _ => Cut::Nothing,
        };
        self.used = count;
        self.best.copy_from(&self.candidates[report.best]);
        self.times.solve = solving.elapsed();
        self.times.phases = report.times;
        self.calls = self.dynamics.take_calls();
        self.times.sampled_dynamics = self
            .sampler
            .as_ref()
            .map_or(Duration::ZERO, |sampler| sampler.report().dynamics);

        // Warm start of the next plan: this plan shifted by one step.
        let controls = self.best.controls();
        for k in 0..t {
            let from = (k + 1).min(t - 1);
            for i in 0..m {
                self.previous[k * m + i] = controls[[from, i]];
            }
        }
        self.has_previous = true;
        for (a, u) in self.action.iter_mut().zip(controls.row(0)) {
            *a = *u;
        }
        Ok(&self.action)
    }

    /// The plan of a call cut before solving ([`Cut::Solve`]): the warm start's first action,
    /// or the middle of the bounds without one; the warm start moves on by one step.
    fn plan_without_solving(&mut self) -> &[f64] {
        let m = self.low.len();
        for i in 0..m {
            self.action[i] = if self.has_previous {
                self.previous[i]
            } else {
                0.5 * (self.low[i] + self.high[i])
            };
        }
        self.shift();
        self.used = 0;
        self.times.solve = Duration::ZERO;
        self.times.phases = zplan_lqr::PhaseTimes::default();
        self.times.sampled_dynamics = Duration::ZERO;
        self.calls = DynamicsCalls::default();
        self.cut = Cut::Solve;
        &self.action
    }

    /// Changes [`PlannerSettings::deadline`] for the next plans, e.g. to the time left in the
    /// control period.
    pub fn set_deadline(&mut self, deadline: Option<Duration>) {
        self.settings.deadline = deadline;
    }

    /// What the deadline or a time budget cut from the last plan.
    pub fn cut(&self) -> Cut {
        self.cut
    }

    /// The best plan of the last successful call: latent trajectory, actions, gains, cost,
    /// status.
    pub fn solution(&self) -> &Solution {
        &self.best
    }

    /// Every candidate of the last plan call, the warm start first when there was one.
    pub fn candidates(&self) -> &[Solution] {
        &self.candidates[..self.used]
    }

    /// How the last plan's best candidate ended ([`Status::TimeBudget`] when the deadline cut
    /// the plan before solving).
    pub fn status(&self) -> Status {
        match self.cut {
            Cut::Solve => Status::TimeBudget,
            _ => self.best.status(),
        }
    }

    /// Time per phase of the last plan.
    pub fn times(&self) -> PlanTimes {
        self.times
    }

    /// The dynamics network's calls and rows in the last plan.
    pub fn dynamics_calls(&self) -> DynamicsCalls {
        self.calls
    }

    /// The settings.
    pub fn settings(&self) -> &PlannerSettings {
        &self.settings
    }

    /// The observation the planner takes: [1, frames * channels, height, width].
    pub fn observation(&self) -> ObservationSpec {
        self.encoder.observation()
    }

    /// The action limits (low, high) of the bundle's manifest.
    pub fn action_bounds(&self) -> (&[f64], &[f64]) {
        (&self.low, &self.high)
    }

    /// Whether a goal image has been set.
    pub fn has_goal(&self) -> bool {
        self.has_goal
    }

    /// What the sampling planner did in the last plan (None with [`PlannerKind::Ddp`]).
    pub fn sampling_report(&self) -> Option<SamplingReport> {
        self.sampler.as_ref().map(Sampler::report)
    }
}

/// The last goal image scaled to [0, 1] as the encoder sees it, kept for
/// [`Planner::swap_bundle`] (its buffer reused between goals).
#[derive(Default)]
struct GoalImage {
    shape: Option<(usize, usize, usize, usize)>,
    data: Vec<f32>,
}

impl GoalImage {
    fn keep(&mut self, image: ArrayView4<'_, f32>) {
        self.shape = Some(image.dim());
        self.data.clear();
        self.data.extend(image.iter());
    }

    /// As `keep`, for a u8 image scaled as the encoder scales it (v / 255).
    fn keep_u8(&mut self, image: ArrayView4<'_, u8>) {
        self.shape = Some(image.dim());
        self.data.clear();
        self.data
            .extend(image.iter().map(|&v| f32::from(v) * (1.0 / 255.0)));
    }

    fn view(&self) -> Option<ArrayView4<'_, f32>> {
        let shape = self.shape?;
        Some(ArrayView4::from_shape(shape, &self.data).expect("kept with its shape"))
    }
}

/// The objective as a solver cost (one per planner, so the variants' sizes do not matter).
#[allow(clippy::large_enum_variant)]
enum PlanCost {
    Goal(QuadraticCost),
    Reward(RewardCost),
}

impl PlanCost {
    fn get(&self) -> &dyn Cost {
        match self {
            PlanCost::Goal(cost) => cost,
            PlanCost::Reward(cost) => cost,
        }
    }
}
