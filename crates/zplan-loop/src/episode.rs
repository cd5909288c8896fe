//! Episodes of a benchmark task under the planner, scored as docs/tasks.md scores them: the
//! percent of steps whose true state is in goal.

use std::time::Instant;

use ndarray::ArrayView4;
use zplan_envs::Env;
use zplan_mpc::{Cut, DynamicsCalls, Planner};

use crate::LoopError;

/// One MPC step of [`run_episode`], as its `observe` sees it.
pub struct Step<'a> {
    /// The environment, already stepped (its state is s_{t+1}).
    pub env: &'a Env,
    /// The planner, holding this step's plan.
    pub planner: &'a Planner,
    /// The observation planned from, o_t.
    pub obs: &'a [u8],
    /// The true state s_t planned from.
    pub state: &'a [f64],
    /// The action applied, u_t.
    pub action: &'a [f64],
    /// Whether this step ends the episode.
    pub last: bool,
    /// Wall-clock time of the plan call in ms.
    pub plan_ms: f64,
}

/// Runs one episode from the start/goal draw of `seed` under the planner (goal image set, plan
/// reset) and returns its percent of steps in goal. After every step `observe` sees it; an
/// error it returns ends the episode with that error.
pub fn run_episode(
    env: &mut Env,
    planner: &mut Planner,
    seed: u64,
    mut observe: impl FnMut(&Step<'_>) -> Result<(), LoopError>,
) -> Result<f64, LoopError> {
    let image = env.image();
    let shape = (1, image.frames, image.height, image.width);
    let (mut obs, mut goal) = (vec![0u8; image.len()], vec![0u8; image.len()]);
    env.reset_seeded(seed);
    env.goal_observation(&mut goal);
    fn view(shape: (usize, usize, usize, usize), pixels: &[u8]) -> ArrayView4<'_, u8> {
        ArrayView4::from_shape(shape, pixels).expect("the task's image shape")
    }
    planner.set_goal(view(shape, &goal))?;
    planner.reset();
    let length = env.task().episode_length();
    let (mut action, mut state) = (Vec::new(), Vec::new());
    let mut in_goal = 0;
    for t in 0..length {
        env.observation(&mut obs);
        state.clear();
        state.extend_from_slice(env.state());
        let start = Instant::now();
        let planned = planner.plan(view(shape, &obs))?;
        let plan_ms = start.elapsed().as_secs_f64() * 1e3;
        action.clear();
        action.extend_from_slice(planned);
        env.step(&action);
        in_goal += usize::from(env.in_goal());
        observe(&Step {
            env,
            planner,
            obs: &obs,
            state: &state,
            action: &action,
            last: t + 1 == length,
            plan_ms,
        })?;
    }
    Ok(100.0 * in_goal as f64 / length as f64)
}

/// The phases of an MPC step that [`Evaluation::phase_ms`] times, in its order.
pub const PHASES: [&str; 5] = [
    "encode",
    "linearise",
    "backward",
    "line search",
    "sampled dynamics",
];

/// A model's score over several episodes, with the latency of every MPC step.
#[derive(Clone, Debug, Default)]
pub struct Evaluation {
    /// Mean over the episodes of their percent of steps in goal.
    pub percent: f64,
    /// Percent of steps in goal, per episode.
    pub episodes: Vec<f64>,
    /// Wall-clock time of every plan call (ms).
    pub step_ms: Vec<f64>,
    /// Per plan call, the time of each of the [`PHASES`] (ms).
    pub phase_ms: [Vec<f64>; 5],
    /// Per plan call, the dynamics network's calls and rows.
    pub dynamics_calls: Vec<DynamicsCalls>,
    /// Per plan call, what the deadline or a time budget cut.
    pub cuts: Vec<Cut>,
}

/// Scores the planner on `episodes` episodes, episode k from the start/goal draw `seed + k`;
/// `on_episode(k, percent)` is called after each.
pub fn evaluate(
    env: &mut Env,
    planner: &mut Planner,
    seed: u64,
    episodes: usize,
    mut on_episode: impl FnMut(usize, f64),
) -> Result<Evaluation, LoopError> {
    let mut result = Evaluation::default();
    for k in 0..episodes {
        let percent = run_episode(env, planner, seed + k as u64, |step| {
            result.step_ms.push(step.plan_ms);
            let times = step.planner.times();
            let phases = [
                times.encode,
                times.phases.linearize,
                times.phases.backward,
                times.phases.forward,
                times.sampled_dynamics,
            ];
            for (samples, time) in result.phase_ms.iter_mut().zip(phases) {
                samples.push(time.as_secs_f64() * 1e3);
            }
            result.dynamics_calls.push(step.planner.dynamics_calls());
            result.cuts.push(step.planner.cut());
            Ok(())
        })?;
        on_episode(k, percent);
        result.episodes.push(percent);
    }
    result.percent = result.episodes.iter().sum::<f64>() / result.episodes.len().max(1) as f64;
    Ok(result)
}
