//! `zplan eval`: a model's score on the true task, as docs/tasks.md scores it: the percent
//! of steps whose true state is in goal, per episode and averaged over fixed random start/goal
//! draws, with the MPC step latency.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use ndarray::ArrayView4;
use zplan_envs::{Env, TaskKind};
use zplan_mpc::{Objective, Planner, PlannerSettings};
use zplan_onnx::Bundle;

/// What to evaluate.
pub struct EvalArgs {
    pub task: TaskKind,
    pub models: Vec<PathBuf>,
    pub episodes: usize,
    pub seed: u64,
    pub json: Option<PathBuf>,
    /// Plan on the bundle's reward model instead of the distance to the goal image.
    pub reward_objective: bool,
    /// Start from the reference planner's settings (`PlannerSettings::reference`) instead of
    /// zplan's (`PlannerSettings::for_task`).
    pub reference: bool,
    /// Latent state weight instead of the settings' q.
    pub q: Option<f64>,
    /// Terminal LQR steps instead of the settings'.
    pub terminal_steps: Option<usize>,
    /// Horizon instead of the settings'.
    pub horizon: Option<usize>,
}

/// One model's results.
pub(crate) struct Score {
    pub(crate) percent: f64,
    pub(crate) episodes: Vec<f64>,
    pub(crate) step_ms: Vec<f64>,
    /// Per MPC step: encoding, linearisation, backward passes, line searches (ms).
    pub(crate) phase_ms: [Vec<f64>; 4],
}

/// The q-quantile (nearest rank) of unsorted values.
pub(crate) fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

pub fn run(args: &EvalArgs) -> ExitCode {
    let mut scores = Vec::new();
    for model in &args.models {
        match evaluate(args, model) {
            Ok(score) => scores.push(score),
            Err(message) => {
                eprintln!("zplan eval: {}: {message}", model.display());
                return ExitCode::FAILURE;
            }
        }
    }
    if scores.len() > 1 {
        let all = scores.iter().map(|s| s.percent).sum::<f64>() / scores.len() as f64;
        let top = scores
            .iter()
            .map(|s| s.percent)
            .fold(f64::NEG_INFINITY, f64::max);
        println!(
            "{}: all {all:.2} %, top 1 {top:.2} % over {} models",
            args.task.name(),
            scores.len()
        );
    }
    if let Some(path) = &args.json {
        let score = &scores[0];
        let episodes: Vec<String> = score.episodes.iter().map(|p| format!("{p:.4}")).collect();
        let json = format!(
            "{{\"task\": \"{}\", \"percent_in_goal\": {:.4}, \"episodes\": [{}], \"step_ms_median\": {:.4}, \"step_ms_p99\": {:.4}, \"encode_ms_median\": {:.4}}}\n",
            args.task.name(),
            score.percent,
            episodes.join(", "),
            quantile(&score.step_ms, 0.5),
            quantile(&score.step_ms, 0.99),
            quantile(&score.phase_ms[0], 0.5),
        );
        if let Err(e) = std::fs::write(path, json) {
            eprintln!("zplan eval: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

pub(crate) fn evaluate(args: &EvalArgs, model: &Path) -> Result<Score, String> {
    let bundle = Bundle::load(model).map_err(|e| e.to_string())?;
    let settings_of = if args.reference {
        PlannerSettings::reference
    } else {
        PlannerSettings::for_task
    };
    let mut settings = settings_of(args.task.name()).expect("every task has settings");
    if let Some(q) = args.q {
        settings.q = q;
    }
    if let Some(steps) = args.terminal_steps {
        settings.terminal_steps = steps;
    }
    if let Some(horizon) = args.horizon {
        settings.horizon = horizon;
    }
    if args.reward_objective {
        settings.objective = Objective::Reward { weight: settings.q };
    }
    let mut planner = Planner::new(bundle, settings).map_err(|e| e.to_string())?;
    let mut env = Env::new(args.task, args.seed);
    let mut episodes = Vec::new();
    let mut step_ms = Vec::new();
    let mut phase_ms: [Vec<f64>; 4] = Default::default();
    let settings = planner.settings();
    println!(
        "{} on {} ({} episodes, seed {}; horizon {}, q {}, terminal LQR steps {}):",
        model.display(),
        args.task.name(),
        args.episodes,
        args.seed,
        settings.horizon,
        settings.q,
        settings.terminal_steps,
    );
    for episode in 0..args.episodes {
        let percent = run_episode(&mut env, &mut planner, args.seed + episode as u64, |step| {
            step_ms.push(step.plan_ms);
            let times = step.planner.times();
            for (phase, time) in phase_ms.iter_mut().zip([
                times.encode,
                times.phases.linearize,
                times.phases.backward,
                times.phases.forward,
            ]) {
                phase.push(time.as_secs_f64() * 1e3);
            }
            Ok(())
        })?;
        println!("  episode {episode:>2}: {percent:6.2} % of steps in goal");
        episodes.push(percent);
    }
    let percent = episodes.iter().sum::<f64>() / episodes.len().max(1) as f64;
    let [encode, linearize, backward, forward] = phase_ms.each_ref().map(|v| quantile(v, 0.5));
    println!(
        "  mean {percent:.2} % in goal; MPC step median {:.3} ms, p99 {:.3} ms",
        quantile(&step_ms, 0.5),
        quantile(&step_ms, 0.99)
    );
    println!(
        "  phase medians: encode {encode:.3} ms ({:.0} % of the step), linearise {linearize:.3} ms, backward {backward:.3} ms, line search {forward:.3} ms",
        100.0 * encode / quantile(&step_ms, 0.5)
    );
    Ok(Score {
        percent,
        episodes,
        step_ms,
        phase_ms,
    })
}

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

/// Runs one episode from the start/goal draw of `seed` under the planner and returns its
/// percent of steps in goal. After every step `observe` sees it; an error it returns ends the
/// episode with that error.
pub fn run_episode(
    env: &mut Env,
    planner: &mut Planner,
    seed: u64,
    mut observe: impl FnMut(&Step<'_>) -> Result<(), String>,
) -> Result<f64, String> {
    let image = env.image();
    let shape = (1, image.frames, image.height, image.width);
    let (mut obs, mut goal) = (vec![0u8; image.len()], vec![0u8; image.len()]);
    env.reset_seeded(seed);
    env.goal_observation(&mut goal);
    planner
        .set_goal(ArrayView4::from_shape(shape, &goal).expect("image shape"))
        .map_err(|e| e.to_string())?;
    planner.reset();
    let length = env.task().episode_length();
    let (mut action, mut state) = (Vec::new(), Vec::new());
    let mut in_goal = 0;
    for t in 0..length {
        env.observation(&mut obs);
        state.clear();
        state.extend_from_slice(env.state());
        let start = Instant::now();
        let planned = planner
            .plan(ArrayView4::from_shape(shape, &obs).expect("image shape"))
            .map_err(|e| e.to_string())?;
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
