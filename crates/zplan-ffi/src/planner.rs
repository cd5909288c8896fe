//! The receding-horizon planner of either kind: over a latent bundle (box-DDP or sampling in
//! latent space, toward a goal image or a reward) or over a video bundle (sampling in
//! observation space, toward designated-pixel goals); settings, goals, plan, and the plan's
//! details.

use std::ffi::c_char;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use ndarray::{ArrayView1, ArrayView3, ArrayView4, Axis};
use zplan_envs::TaskKind;
use zplan_mpc::{
    Cut, Objective, ObservationPlanner, ObservationSettings, PixelGoal, Planner, PlannerKind,
    PlannerSettings, SamplingRule, SamplingSettings,
};

use crate::bundle::{Loaded, take_bundle, zp_bundle};
use crate::status::{
    Failure, Handle, Result, finite, free_handle, guard, non_null, slice, slice_mut, solve_status,
    utf8, with_handle, with_handle_ref, write, write_handle,
};
use crate::{
    ZP_BUNDLE_LATENT, ZP_BUNDLE_VIDEO, ZP_CUT_DDP, ZP_CUT_NOTHING, ZP_CUT_SAMPLING, ZP_CUT_SOLVE,
    ZP_OBJECTIVE_GOAL, ZP_OBJECTIVE_REWARD, ZP_PLANNER_CEM, ZP_PLANNER_DDP, ZP_PLANNER_MPPI,
    ZP_SOLVE_MAX_ITERATIONS, ZP_SOLVE_TIME_BUDGET, zp_status,
};

/// How a planner plans. Start from `zp_planner_settings_default()` or
/// `zp_planner_settings_reference()` and change fields. Plain data, owned by the caller;
/// `zp_planner_new` copies it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct zp_planner_settings {
    /// `ZP_OBJECTIVE_GOAL` (quadratic to the goal image's latent state) or
    /// `ZP_OBJECTIVE_REWARD` (the bundle's reward model).
    pub objective: u32,
    /// Weight w of the predicted reward with `ZP_OBJECTIVE_REWARD`.
    pub reward_weight: f64,
    /// Steps planned ahead, 1 <= T <= 10000.
    pub horizon: usize,
    /// Latent state weight, Q = q I.
    pub q: f64,
    /// Action weight, R = r I; > 0 for box-DDP (its steps need R positive definite), >= 0 for
    /// the sampling planners.
    pub r: f64,
    /// Uniformly random initial action sequences per plan (with the bang-bang ones at most
    /// 1024).
    pub random_candidates: usize,
    /// Random bang-bang initial action sequences per plan.
    pub bang_bang_candidates: usize,
    /// Also start from the previous plan shifted by one step.
    pub warm_start: bool,
    /// Box-DDP iterations per candidate, at most; >= 1.
    pub max_iterations: usize,
    /// Line-search steps rolled out together in one network call per time step, >= 1.
    pub line_search_batch: usize,
    /// Line-search steps rolled out together in each round after the first; 0 for
    /// `line_search_batch`.
    pub line_search_retry_batch: usize,
    /// Box-DDP: after each iteration only the candidates whose costs rank among the
    /// `keep_best` lowest go on (the others end as `ZP_SOLVE_OUTRANKED`); 0 keeps all.
    pub keep_best: usize,
    /// Wall-clock budget of one plan's solve in seconds, from the start of the call for the
    /// sampling planners; 0 for none. An iteration starts only when it is expected to end
    /// within it.
    pub time_budget: f64,
    /// Hard limit on one plan call in seconds, from its start, encoding included; 0 for none.
    /// Each phase after the encoding (the candidates' rollout, each box-DDP iteration and
    /// further line-search round, each sampling iteration) starts only when it is expected to
    /// end before the deadline, at the longest it took in recent plans; otherwise the plan ends
    /// with what it has and `zp_plan_info.cut` says what was left out. A phase that has
    /// started is not interrupted (a network call cannot be): a plan ends by the deadline up to
    /// how much longer a phase takes than it did recently, and the first plan of a planner,
    /// with no estimates yet, is cut only once time is up.
    pub deadline: f64,
    /// Seed of the random candidates.
    pub seed: u64,
    /// Terminal weight of the goal objective: the cost-to-go of this many steps of LQR on the
    /// dynamics linearised at the goal, computed once per goal; 0 for Q_T = Q (the reference
    /// planner).
    pub terminal_steps: usize,
    /// The solver: `ZP_PLANNER_DDP` (box-DDP from the candidates above), `ZP_PLANNER_CEM` or
    /// `ZP_PLANNER_MPPI` (sampling planners, configured by the fields below; `time_budget`
    /// bounds their iterations too). The defaults are PlaNet's CEM (1000 samples, 10
    /// iterations, 100 elites) and TD-MPC2's MPPI parameters.
    pub planner: u32,
    /// Sampling: action sequences per iteration (sample 0 is the current mean), 2 to 100000.
    pub samples: usize,
    /// Sampling: refits of the distribution per plan, >= 1.
    pub sampling_iterations: usize,
    /// Sampling: samples of lowest cost the distribution is refitted to, 1..=samples.
    pub elites: usize,
    /// Sampling: steps each sampled action is held, >= 1.
    pub action_repeat: usize,
    /// Sampling: initial standard deviation, as a fraction of half the action range.
    pub std_init: f64,
    /// MPPI: inverse temperature of the elite weights exp(temperature (J_min - J)).
    pub temperature: f64,
    /// MPPI: standard deviation bounds, as fractions of half the action range.
    pub std_min: f64,
    /// MPPI: see `std_min`.
    pub std_max: f64,
    /// Sampling: hand the sampled plan to box-DDP as one more candidate beside its own.
    pub refine_with_ddp: bool,
    /// Sampling: fit a full covariance over the action sequence (Visual Foresight's CEM)
    /// instead of a diagonal.
    pub full_covariance: bool,
}

impl From<&PlannerSettings> for zp_planner_settings {
    fn from(s: &PlannerSettings) -> Self {
        let (objective, reward_weight) = match s.objective {
            Objective::LatentGoal => (ZP_OBJECTIVE_GOAL, 1.0),
            Objective::Reward { weight } => (ZP_OBJECTIVE_REWARD, weight),
        };
        let (planner, sampling) = match &s.kind {
            PlannerKind::Ddp => (ZP_PLANNER_DDP, SamplingSettings::planet()),
            PlannerKind::Sampling(sampling) => match sampling.rule {
                SamplingRule::Cem => (ZP_PLANNER_CEM, sampling.clone()),
                SamplingRule::Mppi { .. } => (ZP_PLANNER_MPPI, sampling.clone()),
            },
        };
        let (temperature, std_min, std_max) = mppi_parameters(&sampling);
        Self {
            planner,
            samples: sampling.samples,
            sampling_iterations: sampling.iterations,
            elites: sampling.elites,
            action_repeat: sampling.action_repeat,
            std_init: sampling.std_init,
            temperature,
            std_min,
            std_max,
            refine_with_ddp: sampling.refine_with_ddp,
            full_covariance: sampling.full_covariance,
            objective,
            reward_weight,
            horizon: s.horizon,
            q: s.q,
            r: s.r,
            random_candidates: s.random_candidates,
            bang_bang_candidates: s.bang_bang_candidates,
            warm_start: s.warm_start,
            max_iterations: s.solver.max_iterations,
            line_search_batch: s.solver.line_search_batch,
            line_search_retry_batch: s.solver.line_search_retry_batch,
            keep_best: s.solver.keep_best,
            time_budget: s.solver.time_budget.map_or(0.0, |d| d.as_secs_f64()),
            deadline: s.deadline.map_or(0.0, |d| d.as_secs_f64()),
            seed: s.seed,
            terminal_steps: s.terminal_steps,
        }
    }
}

/// MPPI's (temperature, std_min, std_max) of `sampling`, TD-MPC2's for CEM settings (where
/// they are unused), so that switching `planner` to MPPI starts from sensible values.
fn mppi_parameters(sampling: &SamplingSettings) -> (f64, f64, f64) {
    let mppi = SamplingSettings::td_mpc2();
    match (sampling.rule, mppi.rule) {
        (
            SamplingRule::Mppi {
                temperature,
                std_min,
                std_max,
            },
            _,
        )
        | (
            SamplingRule::Cem,
            SamplingRule::Mppi {
                temperature,
                std_min,
                std_max,
            },
        ) => (temperature, std_min, std_max),
        (SamplingRule::Cem, SamplingRule::Cem) => unreachable!("TD-MPC2's rule is MPPI"),
    }
}

/// The sampling rule of a `planner` field: None for `ZP_PLANNER_DDP`.
fn sampling_rule(
    planner: u32,
    temperature: f64,
    std_min: f64,
    std_max: f64,
) -> Result<Option<SamplingRule>> {
    match planner {
        ZP_PLANNER_DDP => Ok(None),
        ZP_PLANNER_CEM => Ok(Some(SamplingRule::Cem)),
        ZP_PLANNER_MPPI => Ok(Some(SamplingRule::Mppi {
            temperature,
            std_min,
            std_max,
        })),
        other => Err(Failure::new(
            zp_status::ZP_INVALID_ARGUMENT,
            format!("settings.planner: unknown value {other}"),
        )),
    }
}

/// Refuses a setting that is not finite and >= 0, naming it.
fn non_negative(values: &[(&str, f64)]) -> Result<()> {
    for &(name, value) in values {
        if !(value.is_finite() && value >= 0.0) {
            return Err(Failure::new(
                zp_status::ZP_INVALID_ARGUMENT,
                format!("settings.{name} = {value}: must be finite and >= 0"),
            ));
        }
    }
    Ok(())
}

/// A time budget or deadline in seconds as the planners take it: 0 for none.
fn seconds(seconds: f64) -> Option<Duration> {
    // Beyond what a Duration holds (about 585 billion years): none.
    (seconds > 0.0)
        .then(|| Duration::try_from_secs_f64(seconds).ok())
        .flatten()
}

impl zp_planner_settings {
    fn to_settings(self) -> Result<PlannerSettings> {
        let invalid = |m: String| Failure::new(zp_status::ZP_INVALID_ARGUMENT, m);
        let objective = match self.objective {
            ZP_OBJECTIVE_GOAL => Objective::LatentGoal,
            ZP_OBJECTIVE_REWARD => Objective::Reward {
                weight: self.reward_weight,
            },
            other => {
                return Err(invalid(format!(
                    "settings.objective: unknown value {other}"
                )));
            }
        };
        non_negative(&[
            ("reward_weight", self.reward_weight),
            ("q", self.q),
            ("r", self.r),
            ("time_budget", self.time_budget),
            ("deadline", self.deadline),
            ("std_init", self.std_init),
            ("temperature", self.temperature),
            ("std_min", self.std_min),
            ("std_max", self.std_max),
        ])?;
        if self.line_search_batch == 0 {
            return Err(invalid(
                "settings.line_search_batch must be at least 1".into(),
            ));
        }
        let time_budget = seconds(self.time_budget);
        let rule = sampling_rule(self.planner, self.temperature, self.std_min, self.std_max)?;
        let kind = match rule {
            None => PlannerKind::Ddp,
            Some(rule) => PlannerKind::Sampling(SamplingSettings {
                rule,
                samples: self.samples,
                iterations: self.sampling_iterations,
                elites: self.elites,
                action_repeat: self.action_repeat,
                std_init: self.std_init,
                full_covariance: self.full_covariance,
                time_budget,
                refine_with_ddp: self.refine_with_ddp,
            }),
        };
        let mut settings = PlannerSettings {
            kind,
            objective,
            horizon: self.horizon,
            q: self.q,
            terminal_steps: self.terminal_steps,
            r: self.r,
            random_candidates: self.random_candidates,
            bang_bang_candidates: self.bang_bang_candidates,
            warm_start: self.warm_start,
            seed: self.seed,
            deadline: seconds(self.deadline),
            ..PlannerSettings::default()
        };
        settings.solver.max_iterations = self.max_iterations;
        settings.solver.line_search_batch = self.line_search_batch;
        settings.solver.line_search_retry_batch = self.line_search_retry_batch;
        settings.solver.keep_best = self.keep_best;
        settings.solver.time_budget = time_budget;
        Ok(settings)
    }
}

/// The default settings: the reference planner of the benchmark tasks with horizon 10, q = 10,
/// r = 1, 3 random and 3 bang-bang candidates plus the warm start, 4 iterations.
#[unsafe(no_mangle)]
pub extern "C" fn zp_planner_settings_default() -> zp_planner_settings {
    (&PlannerSettings::default()).into()
}

/// Writes the reference settings of a benchmark task ("planar", "swing", "balance",
/// "cartpole", "threepole") to `*out`: the reference planner of docs/tasks.md, `terminal_steps` 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_settings_reference(
    task: *const c_char,
    out: *mut zp_planner_settings,
) -> zp_status {
    // SAFETY: the contract of `task_settings`, passed on.
    guard(|| unsafe { task_settings(task, out, PlannerSettings::reference) })
}

/// Writes zplan's settings for a benchmark task to `*out`: the reference settings plus a
/// terminal weight (`terminal_steps` 5), as `zplan eval` scores the shipped models; for
/// "cartpole" `horizon` 9, `q` 1000 and `terminal_steps` 23; `keep_best` 2 for "planar",
/// "swing" and "balance"; `max_iterations` 2 for "threepole".
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_settings_for_task(
    task: *const c_char,
    out: *mut zp_planner_settings,
) -> zp_status {
    // SAFETY: the contract of `task_settings`, passed on.
    guard(|| unsafe { task_settings(task, out, PlannerSettings::for_task) })
}

/// Writes to `*out` the settings `zp_planner_settings_for_task` gives, with the choices the
/// latent bundle records for its own model in place of the task's: `terminal_steps` from the
/// manifest field `planner`, which `zplan train --select-terminal-steps` chooses on validation
/// start/goal draws (a terminal weight that suits one trained model can fail another). A
/// bundle without choices gives the task's settings. The bundle is only read: call this before
/// `zp_planner_new` takes it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_settings_for_bundle(
    bundle: *const zp_bundle,
    task: *const c_char,
    out: *mut zp_planner_settings,
) -> zp_status {
    // SAFETY: `bundle` is NULL or live (the contract); const calls only share it.
    unsafe {
        with_handle_ref(bundle, |b| {
            let manifest = b.bundle.latent()?.manifest();
            // SAFETY: the caller's contract for `task` and `out`, passed on.
            task_settings(task, out, |task| {
                PlannerSettings::for_bundle(task, manifest)
            })
        })
    }
}

/// # Safety
/// `task` is NULL or a NUL-terminated string; `out` is NULL or writable.
unsafe fn task_settings(
    task: *const c_char,
    out: *mut zp_planner_settings,
    settings_of: impl FnOnce(TaskKind) -> PlannerSettings,
) -> Result<()> {
    non_null(out, "out")?;
    // SAFETY: the caller's contract.
    let task = unsafe { utf8(task, "task") }?;
    let task = TaskKind::from_name(task).ok_or_else(|| {
        Failure::new(
            zp_status::ZP_INVALID_ARGUMENT,
            format!(
                "task `{task}`: not a benchmark task (planar, swing, balance, cartpole, threepole)"
            ),
        )
    })?;
    // SAFETY: the caller's contract.
    unsafe { write(out, (&settings_of(task)).into(), "out") }
}

/// How an observation-space planner (`zp_planner_new_observation`) plans. Start from
/// `zp_observation_settings_default()` and change fields. Plain data, owned by the caller;
/// `zp_planner_new_observation` copies it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct zp_observation_settings {
    /// `ZP_PLANNER_CEM` or `ZP_PLANNER_MPPI`.
    pub planner: u32,
    /// Steps planned ahead, T >= 1; each step is one predictor call per iteration.
    pub horizon: usize,
    /// Weight of the last step's expected distance to the goal pixel (1 for the others).
    pub final_weight: f64,
    /// Action sequences per iteration, all predicted in one batched call per step, >= 2.
    pub samples: usize,
    /// Refits of the distribution per plan, >= 1.
    pub sampling_iterations: usize,
    /// Samples of lowest cost the distribution is refitted to, 1..=samples.
    pub elites: usize,
    /// Steps each sampled action is held, >= 1.
    pub action_repeat: usize,
    /// Initial standard deviation, as a fraction of half the action range.
    pub std_init: f64,
    /// MPPI: inverse temperature of the elite weights exp(temperature (J_min - J)).
    pub temperature: f64,
    /// MPPI: standard deviation bounds, as fractions of half the action range.
    pub std_min: f64,
    /// MPPI: see `std_min`.
    pub std_max: f64,
    /// Fit a full covariance over the action sequence instead of a diagonal.
    pub full_covariance: bool,
    /// Wall-clock budget of one plan in seconds (checked between iterations); 0 for none.
    pub time_budget: f64,
    /// Seed of the sampling.
    pub seed: u64,
}

impl From<&ObservationSettings> for zp_observation_settings {
    fn from(s: &ObservationSettings) -> Self {
        let sampling = &s.sampling;
        let (temperature, std_min, std_max) = mppi_parameters(sampling);
        Self {
            planner: match sampling.rule {
                SamplingRule::Cem => ZP_PLANNER_CEM,
                SamplingRule::Mppi { .. } => ZP_PLANNER_MPPI,
            },
            horizon: s.horizon,
            final_weight: s.final_weight,
            samples: sampling.samples,
            sampling_iterations: sampling.iterations,
            elites: sampling.elites,
            action_repeat: sampling.action_repeat,
            std_init: sampling.std_init,
            temperature,
            std_min,
            std_max,
            full_covariance: sampling.full_covariance,
            time_budget: sampling.time_budget.map_or(0.0, |d| d.as_secs_f64()),
            seed: s.seed,
        }
    }
}

impl zp_observation_settings {
    fn to_settings(self) -> Result<ObservationSettings> {
        non_negative(&[
            ("final_weight", self.final_weight),
            ("time_budget", self.time_budget),
            ("std_init", self.std_init),
            ("temperature", self.temperature),
            ("std_min", self.std_min),
            ("std_max", self.std_max),
        ])?;
        let rule = sampling_rule(self.planner, self.temperature, self.std_min, self.std_max)?
            .ok_or_else(|| {
                Failure::new(
                    zp_status::ZP_INVALID_ARGUMENT,
                    "settings.planner: an observation planner samples (ZP_PLANNER_CEM or \
                     ZP_PLANNER_MPPI); box-DDP needs a latent bundle",
                )
            })?;
        Ok(ObservationSettings {
            sampling: SamplingSettings {
                rule,
                samples: self.samples,
                iterations: self.sampling_iterations,
                elites: self.elites,
                action_repeat: self.action_repeat,
                std_init: self.std_init,
                full_covariance: self.full_covariance,
                time_budget: seconds(self.time_budget),
                refine_with_ddp: false,
            },
            horizon: self.horizon,
            final_weight: self.final_weight,
            seed: self.seed,
        })
    }
}

/// Visual Foresight's planner: CEM with 200 samples, 3 iterations, 10 elites, a 15-step horizon
/// as 5 actions each held 3 steps, a full covariance, final weight 10, no time budget.
#[unsafe(no_mangle)]
pub extern "C" fn zp_observation_settings_default() -> zp_observation_settings {
    (&ObservationSettings::default()).into()
}

/// A receding-horizon planner over one bundle, with its own ONNX sessions and buffers: over a
/// latent bundle (`zp_planner_new`) or a video bundle (`zp_planner_new_observation`). Freed by
/// `zp_planner_free`. Not thread-safe: the caller serialises calls on one planner (it may move
/// between threads); separate planners run in parallel.
pub struct zp_planner {
    inner: Inner,
    /// [1, C, H, W] of an observation (C: frames x channels).
    shape: (usize, usize, usize, usize),
    poison: AtomicBool,
}

/// The planner of each bundle kind.
// One per handle, and the handle lives in its own heap allocation: the size difference costs
// nothing, a box would add an indirection on every call.
#[allow(clippy::large_enum_variant)]
enum Inner {
    Latent(Planner),
    Observation(ObservationPlanner),
}

impl Handle for zp_planner {
    const NAME: &'static str = "zp_planner";
    fn poison(&self) -> &AtomicBool {
        &self.poison
    }
}

impl zp_planner {
    /// The latent planner, or an error saying that `function` needs one.
    fn latent(&self, function: &str) -> Result<&Planner> {
        match &self.inner {
            Inner::Latent(p) => Ok(p),
            Inner::Observation(_) => Err(needs_kind(function, "a latent")),
        }
    }

    /// As [`Self::latent`], mutably.
    fn latent_mut(&mut self, function: &str) -> Result<&mut Planner> {
        match &mut self.inner {
            Inner::Latent(p) => Ok(p),
            Inner::Observation(_) => Err(needs_kind(function, "a latent")),
        }
    }

    /// The observation planner, or an error saying that `function` needs one.
    fn observation(&self, function: &str) -> Result<&ObservationPlanner> {
        match &self.inner {
            Inner::Observation(p) => Ok(p),
            Inner::Latent(_) => Err(needs_kind(function, "an observation")),
        }
    }

    /// As [`Self::observation`], mutably.
    fn observation_mut(&mut self, function: &str) -> Result<&mut ObservationPlanner> {
        match &mut self.inner {
            Inner::Observation(p) => Ok(p),
            Inner::Latent(_) => Err(needs_kind(function, "an observation")),
        }
    }

    /// Action limits (low, high) of the bundle.
    fn action_bounds(&self) -> (&[f64], &[f64]) {
        match &self.inner {
            Inner::Latent(p) => p.action_bounds(),
            Inner::Observation(p) => {
                let action = &p.manifest().action;
                (&action.low, &action.high)
            }
        }
    }

    /// The observation at `data` as [1, C, H, W].
    ///
    /// # Safety
    /// As for [`slice`].
    unsafe fn image<'a, T>(
        &self,
        data: *const T,
        len: usize,
        what: &str,
    ) -> Result<ArrayView4<'a, T>> {
        let (b, c, h, w) = self.shape;
        // SAFETY: the caller's contract.
        let values = unsafe { slice(data, len, b * c * h * w, what) }?;
        Ok(ArrayView4::from_shape(self.shape, values).expect("length checked"))
    }
}

fn needs_kind(function: &str, kind: &str) -> Failure {
    let this = if kind == "a latent" {
        "plans in observation space over a video bundle"
    } else {
        "plans over a latent bundle"
    };
    Failure::new(
        zp_status::ZP_INVALID_ARGUMENT,
        format!("{function} needs {kind} planner; this one {this}"),
    )
}

/// Sizes of a planner's inputs and outputs. Plain data, owned by the caller.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct zp_planner_info {
    /// The bundle kind it plans over: `ZP_BUNDLE_LATENT` or `ZP_BUNDLE_VIDEO`.
    pub kind: u32,
    /// Values in one observation or goal image: channels x height x width, row-major (an
    /// observation planner's frames x channels x height x width, oldest frame first).
    pub observation_len: usize,
    /// Frames in one observation (stacked, oldest first).
    pub frames: usize,
    /// Channels of one frame.
    pub channels: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
    /// Latent state size n (0 for an observation planner).
    pub latent_dim: usize,
    /// Action size m.
    pub action_dim: usize,
    /// Steps planned ahead T.
    pub horizon: usize,
    /// Observation planners: the designated pixels set by `zp_planner_set_pixel_goal` (0
    /// before), and the most it takes.
    pub designated_pixels: usize,
    /// See `designated_pixels`; 0 for a latent planner.
    pub max_designated_pixels: usize,
}

/// What the last successful plan did. Plain data, owned by the caller.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct zp_plan_info {
    /// How the best candidate's solve ended: a `ZP_SOLVE_*` value.
    pub solver_status: u32,
    /// Its iterations.
    pub iterations: usize,
    /// Its cost.
    pub cost: f64,
    /// Candidates solved.
    pub candidates: usize,
    /// Seconds spent encoding the observation.
    pub encode_seconds: f64,
    /// Seconds linearising the dynamics and cost (all candidates).
    pub linearize_seconds: f64,
    /// Seconds in backward passes.
    pub backward_seconds: f64,
    /// Seconds in line-search rollouts.
    pub forward_seconds: f64,
    /// Seconds of the whole plan call.
    pub total_seconds: f64,
    /// Sampling planners: iterations the last plan ran (fewer than `sampling_iterations` when
    /// `time_budget` stopped them); 0 with box-DDP. The candidate above is then the sampled
    /// plan's rollout (refined by box-DDP with `refine_with_ddp`).
    pub sampling_iterations: usize,
    /// Sampling planners: whether the time budget ended the last plan's iterations.
    pub sampling_stopped_by_budget: bool,
    /// Observation planners: seconds in the predictor's batched calls of the search.
    pub predictor_seconds: f64,
    /// Observation planners: the search's predictor calls (iterations x T).
    pub predictor_calls: usize,
    /// What the deadline or a time budget cut from the plan: a `ZP_CUT_*` value.
    pub cut: u32,
}

/// Creates a planner with `settings` over the networks of the bundle `*bundle` into `*out`.
/// The planner takes the bundle's networks: on `ZP_OK`, `*bundle` is NULL (the handle is
/// freed). On a failure, `*bundle` is unchanged when the settings or the bundle were refused
/// before the networks were taken, and NULL when the networks were lost in a later failure;
/// `zp_bundle_free(*bundle)` after the call is right either way. The caller owns the new
/// planner.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_new(
    bundle: *mut *mut zp_bundle,
    settings: *const zp_planner_settings,
    out: *mut *mut zp_planner,
) -> zp_status {
    guard(|| {
        non_null(settings, "settings")?;
        non_null(out, "out")?;
        // SAFETY: non-NULL; the caller passes a valid settings struct.
        let settings = unsafe { *settings }.to_settings()?;
        let check = |b: &Loaded| Ok(Planner::check_settings(b.latent()?.manifest(), &settings)?);
        let consume = |b: Loaded| Ok(Planner::new(b.into_latent()?, settings.clone())?);
        // SAFETY: `bundle` is NULL or points to NULL or a live handle (the contract).
        let planner = unsafe { take_bundle(bundle, check, consume) }?;
        let obs = planner.observation();
        let shape = (1, obs.stacked_channels(), obs.height, obs.width);
        let handle = zp_planner {
            inner: Inner::Latent(planner),
            shape,
            poison: AtomicBool::new(false),
        };
        // SAFETY: `out` is a writable `zp_planner *` (the contract).
        unsafe { write_handle(out, handle) }
    })
}

/// Creates an observation-space planner with `settings` over the video predictor of the bundle
/// `*bundle` into `*out` (Visual Foresight): set designated pixels and their goals with
/// `zp_planner_set_pixel_goal`, then plan from the context frames with `zp_planner_plan`. The
/// bundle is taken as by `zp_planner_new`: on `ZP_OK` `*bundle` is NULL; on a failure
/// `zp_bundle_free(*bundle)` after the call is right. The caller owns the new planner.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_new_observation(
    bundle: *mut *mut zp_bundle,
    settings: *const zp_observation_settings,
    out: *mut *mut zp_planner,
) -> zp_status {
    guard(|| {
        non_null(settings, "settings")?;
        non_null(out, "out")?;
        // SAFETY: non-NULL; the caller passes a valid settings struct.
        let settings = unsafe { *settings }.to_settings()?;
        let check = |b: &Loaded| b.video().map(|_| ());
        let consume = |b: Loaded| Ok(ObservationPlanner::new(b.into_video()?, settings)?);
        // SAFETY: `bundle` is NULL or points to NULL or a live handle (the contract).
        let planner = unsafe { take_bundle(bundle, check, consume) }?;
        let obs = planner.manifest().observation;
        let shape = (1, obs.stacked_channels(), obs.height, obs.width);
        let handle = zp_planner {
            inner: Inner::Observation(planner),
            shape,
            poison: AtomicBool::new(false),
        };
        // SAFETY: `out` is a writable `zp_planner *` (the contract).
        unsafe { write_handle(out, handle) }
    })
}

/// Frees a planner (NULL is ignored).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_free(planner: *mut zp_planner) {
    // SAFETY: the contract of `_free`.
    unsafe { free_handle(planner) };
}

/// Writes the planner's sizes to `*out`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_get_info(
    planner: *const zp_planner,
    out: *mut zp_planner_info,
) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    unsafe {
        with_handle_ref(planner, |p| {
            let action_dim = p.action_bounds().0.len();
            let (info, obs) = match &p.inner {
                Inner::Latent(planner) => (
                    zp_planner_info {
                        kind: ZP_BUNDLE_LATENT,
                        latent_dim: planner.solution().states().ncols(),
                        horizon: planner.settings().horizon,
                        ..zp_planner_info::default()
                    },
                    planner.observation(),
                ),
                Inner::Observation(planner) => (
                    zp_planner_info {
                        kind: ZP_BUNDLE_VIDEO,
                        horizon: planner.settings().horizon,
                        designated_pixels: planner.designated_maps().shape()[0],
                        max_designated_pixels: planner.manifest().predictor.max_maps,
                        ..zp_planner_info::default()
                    },
                    planner.manifest().observation,
                ),
            };
            let info = zp_planner_info {
                observation_len: obs.len(),
                frames: obs.frames,
                channels: obs.channels,
                height: obs.height,
                width: obs.width,
                action_dim,
                ..info
            };
            write(out, info, "out")
        })
    }
}

/// Copies the action limits of the bundle's manifest into `low` and `high` (`action_dim`
/// values each).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_get_action_bounds(
    planner: *const zp_planner,
    low: *mut f64,
    high: *mut f64,
    len: usize,
) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    unsafe {
        with_handle_ref(planner, |p| {
            let (lo, hi) = p.action_bounds();
            slice_mut(low, len, lo.len(), "low")?.copy_from_slice(lo);
            slice_mut(high, len, hi.len(), "high")?.copy_from_slice(hi);
            Ok(())
        })
    }
}

/// Encodes the goal image (`len` = observation_len bytes, row-major [C, H, W], 0..255) once;
/// plans then steer towards it. Latent planners; an observation planner takes pixel goals
/// (`zp_planner_set_pixel_goal`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_set_goal(
    planner: *mut zp_planner,
    image: *const u8,
    len: usize,
) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    unsafe {
        with_handle(planner, |p| {
            let image = p.image(image, len, "image")?;
            Ok(p.latent_mut("zp_planner_set_goal")?.set_goal(image)?)
        })
    }
}

/// As `zp_planner_set_goal` for an image of floats in [0, 1] (the bytes' v / 255); NaN and
/// infinities are refused (ZP_NON_FINITE, naming the element). Finite values outside [0, 1]
/// are not refused: the encoder sees them as given, outside the range it was trained on.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_set_goal_f32(
    planner: *mut zp_planner,
    image: *const f32,
    len: usize,
) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    unsafe {
        with_handle(planner, |p| {
            let image = p.image(image, len, "image")?;
            Ok(p.latent_mut("zp_planner_set_goal_f32")?
                .set_goal_f32(image)?)
        })
    }
}

/// As `zp_planner_set_goal` from one goal frame (`len` = observation_len / frames bytes,
/// row-major [C, H, W] of one camera frame), repeated for every frame the bundle stacks.
/// Latent planners.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_set_goal_frame(
    planner: *mut zp_planner,
    frame: *const u8,
    len: usize,
) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    unsafe {
        with_handle(planner, |p| {
            let planner = p.latent_mut("zp_planner_set_goal_frame")?;
            let expected = planner.frame_stack().frame_len();
            let frame = slice(frame, len, expected, "frame")?;
            Ok(planner.set_goal_frame(frame)?)
        })
    }
}

/// As `zp_planner_plan` from the newest camera frame alone (`frame_len` = observation_len /
/// frames bytes, row-major [C, H, W]): the planner keeps the frames the bundle stacks, the
/// previous ones first as the benchmark tasks stack them; the first frame after
/// `zp_planner_new` or `zp_planner_reset` fills every slot. A swap keeps the frames. The
/// frames are copied into storage sized at `zp_planner_new`: nothing is allocated. Latent
/// planners.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_plan_frame(
    planner: *mut zp_planner,
    frame: *const u8,
    frame_len: usize,
    action: *mut f64,
    action_len: usize,
) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    unsafe {
        with_handle(planner, |p| {
            let planner = p.latent_mut("zp_planner_plan_frame")?;
            let expected = planner.frame_stack().frame_len();
            let frame = slice(frame, frame_len, expected, "frame")?;
            let m = planner.action_bounds().0.len();
            let out = slice_mut(action, action_len, m, "action")?;
            out.copy_from_slice(planner.plan_frame(frame)?);
            Ok(())
        })
    }
}

/// Plans from the observation (`obs_len` = observation_len bytes, row-major [C, H, W]; for an
/// observation planner the context frames [F, C, H, W], oldest first) and writes the first
/// action to `action` (`action_len` = action_dim values). On failure the planner keeps its last
/// good plan and stays usable. After the first call a latent planner allocates nothing, in the
/// whole process when its networks run natively (see "Allocations" at the top); an observation
/// planner allocates nothing in zplan, and ONNX Runtime allocates in its predictor's runs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_plan(
    planner: *mut zp_planner,
    obs: *const u8,
    obs_len: usize,
    action: *mut f64,
    action_len: usize,
) -> zp_status {
    plan_with(
        planner,
        obs,
        obs_len,
        action,
        action_len,
        |p, obs| Ok(p.plan(obs)?),
        |p, frames| Ok(p.plan(frames)?),
    )
}

/// As `zp_planner_plan` for an observation of floats in [0, 1] (the bytes' v / 255); NaN and
/// infinities are refused (ZP_NON_FINITE, naming the element). Finite values outside [0, 1]
/// are not refused: the networks see them as given, outside the range they were trained on.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_plan_f32(
    planner: *mut zp_planner,
    obs: *const f32,
    obs_len: usize,
    action: *mut f64,
    action_len: usize,
) -> zp_status {
    plan_with(
        planner,
        obs,
        obs_len,
        action,
        action_len,
        |p, obs| Ok(p.plan_f32(obs)?),
        |p, frames| Ok(p.plan_f32(frames)?),
    )
}

/// The checks and the copy of both plan calls around `latent` or `observation`.
fn plan_with<T>(
    planner: *mut zp_planner,
    obs: *const T,
    obs_len: usize,
    action: *mut f64,
    action_len: usize,
    latent: impl for<'a> FnOnce(&'a mut Planner, ArrayView4<'_, T>) -> Result<&'a [f64]>,
    observation: impl for<'a> FnOnce(
        &'a mut ObservationPlanner,
        ArrayView3<'_, T>,
    ) -> Result<ArrayView1<'a, f64>>,
) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    unsafe {
        with_handle(planner, |p| {
            let obs = p.image(obs, obs_len, "obs")?;
            let m = p.action_bounds().0.len();
            let out = slice_mut(action, action_len, m, "action")?;
            match &mut p.inner {
                Inner::Latent(planner) => out.copy_from_slice(latent(planner, obs)?),
                Inner::Observation(planner) => {
                    let first = observation(planner, obs.index_axis_move(Axis(0), 0))?;
                    out.iter_mut().zip(first).for_each(|(o, &u)| *o = u);
                }
            }
            Ok(())
        })
    }
}

/// Reads `count` points (x, y) from `xy` (2 `count` values), refusing NaN and infinities.
///
/// # Safety
/// As for [`slice`].
unsafe fn points(xy: *const f64, count: usize, what: &str) -> Result<Vec<[f64; 2]>> {
    // SAFETY: the caller's contract.
    let values = unsafe { slice(xy, 2 * count, 2 * count, what) }?;
    finite(values, what)?;
    Ok(values.chunks_exact(2).map(|p| [p[0], p[1]]).collect())
}

/// Observation planners: designates `count` pixels and their goals (Visual Foresight). Pixel
/// p's spot is (`from_xy[2p]`, `from_xy[2p + 1]`) and its goal (`to_xy[2p]`, `to_xy[2p + 1]`),
/// in pixel coordinates: x to the right, y down, pixel (col, row) covering [col, col + 1) x
/// [row, row + 1). Both must lie inside the image; `count` is 1 to `max_designated_pixels`.
/// Plans then move each designated pixel's predicted map toward its goal; after each plan the
/// maps are carried by the plan's prediction of its first action. Clears the warm start.
/// Allocates when `count` changes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_set_pixel_goal(
    planner: *mut zp_planner,
    count: usize,
    from_xy: *const f64,
    to_xy: *const f64,
) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    unsafe {
        with_handle(planner, |p| {
            let from = points(from_xy, count, "from_xy")?;
            let to = points(to_xy, count, "to_xy")?;
            let goals: Vec<PixelGoal> = from
                .into_iter()
                .zip(to)
                .map(|(from, to)| PixelGoal { from, to })
                .collect();
            Ok(p.observation_mut("zp_planner_set_pixel_goal")?
                .set_pixel_goals(&goals)?)
        })
    }
}

/// Observation planners: re-registers the designated pixels at `xy` (`count` points (x, y), as
/// many as goals are set), keeping their goals and the warm start: for a robot stack that
/// tracks the spots itself rather than relying on the carried maps.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_set_designated_pixels(
    planner: *mut zp_planner,
    count: usize,
    xy: *const f64,
) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    unsafe {
        with_handle(planner, |p| {
            let pixels = points(xy, count, "xy")?;
            Ok(p.observation_mut("zp_planner_set_designated_pixels")?
                .set_designated_pixels(&pixels)?)
        })
    }
}

/// Observation planners: copies where the designated pixels are now, the mean (x, y) of each
/// one's map (carried by the last plan's prediction of its first action), into `xy` (`len` =
/// 2 x designated_pixels).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_get_designated_pixels(
    planner: *const zp_planner,
    xy: *mut f64,
    len: usize,
) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    unsafe {
        with_handle_ref(planner, |p| {
            let means = p
                .observation("zp_planner_get_designated_pixels")?
                .designated_means();
            copy_out(means.as_slice(), xy, len, "xy")
        })
    }
}

/// Observation planners: copies the last plan's predicted frames, T x C x H x W floats in
/// [0, 1] (step 1 first), into `frames` (all zero before the first plan).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_get_predicted_frames(
    planner: *const zp_planner,
    frames: *mut f32,
    len: usize,
) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    unsafe {
        with_handle_ref(planner, |p| {
            let predicted = p
                .observation("zp_planner_get_predicted_frames")?
                .predicted_frames();
            copy_out(predicted.as_slice(), frames, len, "frames")
        })
    }
}

/// Observation planners: copies the last plan's predicted maps of the designated pixels,
/// T x P x H x W (step 1 first; each map a distribution over the pixels), into `maps`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_get_pixel_maps(
    planner: *const zp_planner,
    maps: *mut f32,
    len: usize,
) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    unsafe {
        with_handle_ref(planner, |p| {
            let predicted = p.observation("zp_planner_get_pixel_maps")?.predicted_maps();
            copy_out(predicted.as_slice(), maps, len, "maps")
        })
    }
}

/// Replaces the planner's networks with those of the bundle `*bundle` (a retrained model,
/// loaded beforehand by `zp_bundle_load`, on any thread) without a new planner: settings, sizes
/// and handle stay, and the warm start is dropped. A latent planner takes the terminal weight
/// the new bundle's manifest records for its model, when it records one (field `planner`, as
/// `zp_planner_settings_for_bundle` reads it), and encodes its goal image again with the new
/// encoder; an observation planner keeps its pixel goals and the designated
/// pixels' current maps, and takes the new bundle's action limits. No file is read and no
/// session is built: the swap costs at most one encoding of the goal and the planner's buffers.
/// The planner takes the networks and `*bundle` becomes NULL on `ZP_OK`. A bundle of the other
/// kind (latent or video: ZP_INVALID_ARGUMENT), or for other images or another number of
/// actions, or (observation planners) whose predictor takes fewer maps than the pixel goals set
/// (ZP_SIZE_MISMATCH, the message naming both sizes), is refused before anything is taken
/// (`*bundle` unchanged); one whose encoder fails on the goal image is refused after (`*bundle`
/// NULL). On every failure the planner keeps serving with the networks it had;
/// `zp_bundle_free(*bundle)` after the call is right either way.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_swap_bundle(
    planner: *mut zp_planner,
    bundle: *mut *mut zp_bundle,
) -> zp_status {
    // SAFETY: `planner` is NULL or live and not shared during the call (the contract).
    unsafe {
        with_handle(planner, |p| match &mut p.inner {
            Inner::Latent(planner) => {
                let check = |b: &Loaded| Ok(planner.check_swap(b.latent()?.manifest())?);
                // SAFETY: `bundle` is NULL or points to NULL or a live handle (the contract).
                let next = take_bundle(bundle, check, |b| b.into_latent())?;
                Ok(planner.swap_bundle(next)?)
            }
            Inner::Observation(planner) => {
                let check = |b: &Loaded| Ok(planner.check_swap(b.video()?.manifest())?);
                // SAFETY: as above.
                let next = take_bundle(bundle, check, |b| b.into_video())?;
                Ok(planner.swap_bundle(next)?)
            }
        })
    }
}

/// Forgets the previous plan (a new episode): the next plan starts without a warm start, and
/// the next `zp_planner_plan_frame` fills every stacked frame with its frame.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_reset(planner: *mut zp_planner) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    unsafe {
        with_handle(planner, |p| {
            match &mut p.inner {
                Inner::Latent(planner) => planner.reset(),
                Inner::Observation(planner) => planner.reset(),
            }
            Ok(())
        })
    }
}

/// Latent planners: advances the warm start by one step, for a control period in which the
/// previous plan's next action was applied without planning. (An observation planner carries its
/// designated pixels with each plan's prediction, so it plans every period.)
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_shift(planner: *mut zp_planner) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    unsafe {
        with_handle(planner, |p| {
            p.latent_mut("zp_planner_shift")?.shift();
            Ok(())
        })
    }
}

/// Latent planners: sets `settings.deadline` for the next plans (seconds from the start of a
/// plan call, encoding included; 0 for none), e.g. to the time left in the control period.
/// A negative or non-finite value is refused.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_set_deadline(
    planner: *mut zp_planner,
    deadline: f64,
) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    unsafe {
        with_handle(planner, |p| {
            non_negative(&[("deadline", deadline)])?;
            p.latent_mut("zp_planner_set_deadline")?
                .set_deadline(seconds(deadline));
            Ok(())
        })
    }
}

/// Writes what the last successful plan did to `*out` (all zero before the first plan).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_get_plan_info(
    planner: *const zp_planner,
    out: *mut zp_plan_info,
) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    unsafe {
        with_handle_ref(planner, |p| {
            let info = match &p.inner {
                Inner::Latent(planner) => latent_plan_info(planner),
                Inner::Observation(planner) => observation_plan_info(planner),
            };
            write(out, info, "out")
        })
    }
}

fn latent_plan_info(planner: &Planner) -> zp_plan_info {
    let (best, times, cut) = (planner.solution(), planner.times(), planner.cut());
    let sampling = planner.sampling_report();
    if cut == Cut::Solve {
        return zp_plan_info {
            solver_status: solve_status(planner.status()),
            encode_seconds: times.encode.as_secs_f64(),
            total_seconds: times.encode.as_secs_f64(),
            cut: ZP_CUT_SOLVE,
            ..zp_plan_info::default()
        };
    }
    zp_plan_info {
        solver_status: solve_status(best.status()),
        iterations: best.iterations(),
        cost: best.cost(),
        candidates: planner.candidates().len(),
        encode_seconds: times.encode.as_secs_f64(),
        linearize_seconds: times.phases.linearize.as_secs_f64(),
        backward_seconds: times.phases.backward.as_secs_f64(),
        forward_seconds: times.phases.forward.as_secs_f64(),
        total_seconds: (times.encode + times.solve).as_secs_f64(),
        sampling_iterations: sampling.map_or(0, |r| r.iterations),
        sampling_stopped_by_budget: sampling.is_some_and(|r| r.stopped_by_budget),
        cut: match cut {
            Cut::Nothing => ZP_CUT_NOTHING,
            Cut::Solve => ZP_CUT_SOLVE,
            Cut::Sampling { .. } => ZP_CUT_SAMPLING,
            Cut::Ddp { .. } => ZP_CUT_DDP,
        },
        ..zp_plan_info::default()
    }
}

/// An observation planner's last plan: one candidate (the sampled plan), its expected-distance
/// cost, the search's iterations; the whole call in `total_seconds`.
fn observation_plan_info(planner: &ObservationPlanner) -> zp_plan_info {
    let report = planner.report();
    let times = planner.times();
    if report.iterations == 0 {
        return zp_plan_info::default();
    }
    zp_plan_info {
        solver_status: if report.stopped_by_budget {
            ZP_SOLVE_TIME_BUDGET
        } else {
            ZP_SOLVE_MAX_ITERATIONS
        },
        iterations: report.iterations,
        cost: report.best_cost,
        candidates: 1,
        total_seconds: times.total.as_secs_f64(),
        sampling_iterations: report.iterations,
        sampling_stopped_by_budget: report.stopped_by_budget,
        cut: if report.stopped_by_budget {
            ZP_CUT_SAMPLING
        } else {
            ZP_CUT_NOTHING
        },
        predictor_seconds: times.predictor.as_secs_f64(),
        predictor_calls: times.predictor_calls,
        ..zp_plan_info::default()
    }
}

/// Copies the last plan: latent states into `states` ((T + 1) x n, row-major, z_0 first) and
/// actions into `actions` (T x m). Either may be NULL (with its length 0) to skip it; an
/// observation planner has no latent states (`states` NULL, `states_len` 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_get_plan(
    planner: *const zp_planner,
    states: *mut f64,
    states_len: usize,
    actions: *mut f64,
    actions_len: usize,
) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    unsafe {
        with_handle_ref(planner, |p| match &p.inner {
            Inner::Latent(planner) => {
                let best = planner.solution();
                copy_optional(best.states().as_slice(), states, states_len, "states")?;
                copy_optional(best.controls().as_slice(), actions, actions_len, "actions")
            }
            Inner::Observation(planner) => {
                copy_optional(Some(&[]), states, states_len, "states")?;
                copy_optional(
                    planner.plan_actions().as_slice(),
                    actions,
                    actions_len,
                    "actions",
                )
            }
        })
    }
}

/// Latent planners: copies the last plan's feedback gains K_t (T x m x n, row-major), for
/// u_t = u*_t + K_t (z_t - z*_t) between plans.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_planner_get_gains(
    planner: *const zp_planner,
    gains: *mut f64,
    len: usize,
) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    unsafe {
        with_handle_ref(planner, |p| {
            let best = p.latent("zp_planner_get_gains")?.solution();
            copy_out(best.gains().as_slice(), gains, len, "gains")
        })
    }
}

/// Copies the contiguous array `from` into `(ptr, len)`, `len` checked against its length.
///
/// # Safety
/// As for [`slice_mut`].
unsafe fn copy_out<T: Copy>(from: Option<&[T]>, ptr: *mut T, len: usize, what: &str) -> Result<()> {
    let from = from.expect("planner arrays are contiguous");
    // SAFETY: the caller's contract.
    unsafe { slice_mut(ptr, len, from.len(), what) }?.copy_from_slice(from);
    Ok(())
}

/// As [`copy_out`], skipped when `ptr` is NULL and `len` 0.
///
/// # Safety
/// As for [`slice_mut`].
unsafe fn copy_optional(from: Option<&[f64]>, ptr: *mut f64, len: usize, what: &str) -> Result<()> {
    if ptr.is_null() && len == 0 {
        return Ok(());
    }
    // SAFETY: the caller's contract.
    unsafe { copy_out(from, ptr, len, what) }
}
