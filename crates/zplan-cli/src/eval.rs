//! `zplan eval`: a model's score on the true task, as docs/tasks.md scores it: the percent
//! of steps in goal, per episode and averaged over fixed random start/goal draws, with the MPC
//! step latency.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde::Serialize;
use zplan_envs::{Env, TaskKind};
use zplan_loop::{Evaluation, PHASES, evaluate, quantile};
use zplan_mpc::{Objective, Planner, PlannerKind, PlannerSettings, SamplingSettings};
use zplan_onnx::{Bundle, Manifest, NetworkOptions};

/// Score models on the true task: percent of steps in goal under the latent MPC planner; for
/// push, the success rate of the observation-space planner on a video bundle beside random
/// actions and the same planner on the true simulator.
#[derive(Args)]
pub struct EvalCommand {
    #[arg(long)]
    task: TaskKind,
    /// The bundle(s) to score; several give "all" (mean) and "top 1".
    #[arg(long = "model", alias = "models", num_args = 1.., required = true)]
    models: Vec<PathBuf>,
    /// Start/goal draws, one episode each.
    #[arg(long, default_value_t = 10)]
    episodes: usize,
    /// Seed of the first draw (episode k uses seed + k).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write the results as JSON: every model's, their spread, and the first model's at
    /// the top level.
    #[arg(long)]
    json: Option<PathBuf>,
    /// What the planner minimises.
    #[arg(long, value_enum, default_value_t = ObjectiveArg::Goal)]
    objective: ObjectiveArg,
    /// Plan with the reference planner's settings of docs/tasks.md (`PlannerSettings::reference`:
    /// its horizon and q, Q_T = Q) instead of zplan's (`PlannerSettings::for_bundle`: the
    /// task's, with the bundle's own choices).
    #[arg(long)]
    reference: bool,
    /// Latent state weight q instead of the task's.
    #[arg(long)]
    q: Option<f64>,
    /// Terminal weight from N steps of LQR at the goal instead of the bundle's choice (manifest
    /// field `planner`) or the task's (0: Q_T = Q).
    #[arg(long, value_name = "N")]
    terminal_steps: Option<usize>,
    /// Steps planned ahead instead of the task's.
    #[arg(long, value_name = "T")]
    horizon: Option<usize>,
    /// push: set the designated pixel anew at the object's true centre before every plan (a
    /// robot stack that tracks the object) instead of carrying it with the model's predictions.
    #[arg(long)]
    track: bool,
    #[command(flatten)]
    planner: PlannerArgs,
}

/// `--planner` and the sampling planners' settings (shared by `eval` and `bench mpc`).
#[derive(clap::Args, Clone, Debug)]
pub struct PlannerArgs {
    /// The solver: box-DDP, or a sampling planner with its preset (cem: PlaNet's 1000 samples,
    /// 10 iterations, 100 elites; mppi: TD-MPC2's 512, 6, 64, temperature 0.5).
    #[arg(long, value_enum, default_value_t = PlannerChoice::Ddp)]
    planner: PlannerChoice,
    /// Samples per iteration instead of the preset's.
    #[arg(long, value_name = "N")]
    samples: Option<usize>,
    /// Iterations per plan instead of the preset's.
    #[arg(long, value_name = "K")]
    iterations: Option<usize>,
    /// Elites instead of the preset's.
    #[arg(long)]
    elites: Option<usize>,
    /// Steps each sampled action is held.
    #[arg(long, value_name = "STEPS")]
    action_repeat: Option<usize>,
    /// Refine the sampled plan with box-DDP (as one more of its candidates).
    #[arg(long)]
    refine: bool,
    /// Fit a full covariance over the action sequence (Visual Foresight's CEM) instead of a
    /// diagonal.
    #[arg(long)]
    full_covariance: bool,
    /// What runs the dynamics network: zplan's native kernels (when the network compiles and
    /// agrees with ONNX Runtime at load; otherwise ONNX Runtime) or always ONNX Runtime. The
    /// encoder runs natively where it compiles either way.
    #[arg(long, value_enum, default_value_t = EvaluatorChoice::Native)]
    evaluator: EvaluatorChoice,
    /// Box-DDP: candidates that go on after each iteration, the K of lowest cost, instead of
    /// the settings' (0: every candidate).
    #[arg(long, value_name = "K")]
    keep_best: Option<usize>,
    /// Box-DDP: step sizes per line-search round after the first, instead of the settings'.
    #[arg(long, value_name = "B")]
    line_search_retry_batch: Option<usize>,
    /// Box-DDP: most iterations per plan instead of the settings' (4; 2 on threepole).
    #[arg(long, value_name = "K")]
    ddp_iterations: Option<usize>,
    /// Box-DDP: uniformly random initial sequences per plan instead of the settings' (3).
    #[arg(long, value_name = "N")]
    random_candidates: Option<usize>,
    /// Box-DDP: random bang-bang initial sequences per plan instead of the settings' (3).
    #[arg(long, value_name = "N")]
    bang_bang_candidates: Option<usize>,
    /// Hard limit on each plan call in microseconds, encoding included: phases that would not
    /// end by it are cut (see `PlannerSettings::deadline`).
    #[arg(long, value_name = "US")]
    deadline_us: Option<u64>,
}

/// `--evaluator`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EvaluatorChoice {
    /// Native kernels where the network allows.
    Native,
    /// ONNX Runtime for every call.
    Onnxruntime,
}

/// `--planner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlannerChoice {
    /// Box-DDP from several initial sequences.
    Ddp,
    /// The cross-entropy method (PlaNet's settings).
    Cem,
    /// MPPI (TD-MPC2's settings).
    Mppi,
}

impl PlannerArgs {
    /// The settings the flags change: box-DDP's solver and initial sequences, the deadline.
    pub fn apply_to_ddp(&self, settings: &mut PlannerSettings) {
        if let Some(us) = self.deadline_us {
            settings.deadline = Some(std::time::Duration::from_micros(us));
        }
        if let Some(keep) = self.keep_best {
            settings.solver.keep_best = keep;
        }
        if let Some(batch) = self.line_search_retry_batch {
            settings.solver.line_search_retry_batch = batch;
        }
        if let Some(iterations) = self.ddp_iterations {
            settings.solver.max_iterations = iterations;
        }
        if let Some(count) = self.random_candidates {
            settings.random_candidates = count;
        }
        if let Some(count) = self.bang_bang_candidates {
            settings.bang_bang_candidates = count;
        }
    }

    /// `--planner`.
    pub fn choice(&self) -> PlannerChoice {
        self.planner
    }

    /// Loads the bundle in `dir` with the networks' options the flags ask for, and says what
    /// runs its dynamics.
    pub fn load(&self, dir: &Path) -> anyhow::Result<(Bundle, String)> {
        let options = NetworkOptions {
            native: self.evaluator == EvaluatorChoice::Native,
            ..NetworkOptions::default()
        };
        let mut bundle =
            Bundle::load_with(dir, &options).with_context(|| format!("{}", dir.display()))?;
        let evaluator = bundle.dynamics().evaluator().to_string();
        Ok((bundle, evaluator))
    }

    /// The planner kind the options ask for.
    pub fn kind(&self) -> PlannerKind {
        let preset = match self.planner {
            PlannerChoice::Ddp => return PlannerKind::Ddp,
            PlannerChoice::Cem => SamplingSettings::planet(),
            PlannerChoice::Mppi => SamplingSettings::td_mpc2(),
        };
        PlannerKind::Sampling(SamplingSettings {
            samples: self.samples.unwrap_or(preset.samples),
            iterations: self.iterations.unwrap_or(preset.iterations),
            elites: self.elites.unwrap_or(preset.elites),
            action_repeat: self.action_repeat.unwrap_or(preset.action_repeat),
            refine_with_ddp: self.refine,
            full_covariance: self.full_covariance || preset.full_covariance,
            ..preset
        })
    }
}

/// `--objective`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum ObjectiveArg {
    /// Quadratic in latent space to the goal image.
    Goal,
    /// The bundle's reward model, weighted by the task's q.
    Reward,
}

/// One model's result in the `--json` record.
#[derive(Serialize)]
struct ModelRecord {
    model: String,
    percent_in_goal: f64,
    episodes: Vec<f64>,
    step_ms_median: f64,
    step_ms_p99: f64,
    encode_ms_median: f64,
}

impl ModelRecord {
    fn new(model: &Path, score: &Evaluation) -> Self {
        Self {
            model: model.display().to_string(),
            percent_in_goal: score.percent,
            episodes: score.episodes.clone(),
            step_ms_median: quantile(&score.step_ms, 0.5),
            step_ms_p99: quantile(&score.step_ms, 0.99),
            encode_ms_median: quantile(&score.phase_ms[0], 0.5),
        }
    }
}

/// How the scores of independently trained models spread: "all" is their mean (the
/// literature's figure), "top 1" the best.
#[derive(Serialize)]
struct Spread {
    all: f64,
    top_1: f64,
    worst: f64,
    median: f64,
    /// Sample standard deviation (n - 1), 0 for one model.
    std: f64,
}

impl Spread {
    fn of(percents: &[f64]) -> Self {
        let n = percents.len() as f64;
        let all = percents.iter().sum::<f64>() / n;
        let var = if percents.len() > 1 {
            percents.iter().map(|p| (p - all).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        Self {
            all,
            top_1: percents.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            worst: percents.iter().copied().fold(f64::INFINITY, f64::min),
            median: quantile(percents, 0.5),
            std: var.sqrt(),
        }
    }
}

/// The record `--json` writes: the first model's result at the top level, every model's in
/// `models`, and their spread.
#[derive(Serialize)]
struct EvalRecord<'a> {
    task: &'a str,
    #[serde(flatten)]
    first: &'a ModelRecord,
    models: &'a [ModelRecord],
    spread: Spread,
}

impl EvalCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        if self.task == TaskKind::Push {
            // Planning in observation space: the video bundle and its own scoring.
            // Visual Foresight's search; --samples, --iterations and --elites resize it.
            let mut settings = zplan_mpc::ObservationSettings::default();
            let sampling = &mut settings.sampling;
            sampling.samples = self.planner.samples.unwrap_or(sampling.samples);
            sampling.iterations = self.planner.iterations.unwrap_or(sampling.iterations);
            sampling.elites = self.planner.elites.unwrap_or(sampling.elites);
            return crate::eval_push::evaluate_push(
                &self.models[0],
                settings,
                self.episodes,
                self.seed,
                self.track,
                self.json.as_deref(),
            );
        }
        let mut records = Vec::new();
        for model in &self.models {
            let score = self
                .score(model)
                .with_context(|| format!("{}", model.display()))?;
            records.push(ModelRecord::new(model, &score));
        }
        let percents: Vec<f64> = records.iter().map(|r| r.percent_in_goal).collect();
        let spread = Spread::of(&percents);
        if records.len() > 1 {
            println!(
                "{}: all {:.2} %, top 1 {:.2} % over {} models (median {:.2} %, worst {:.2} %, \
                 standard deviation {:.2} points)",
                self.task.name(),
                spread.all,
                spread.top_1,
                records.len(),
                spread.median,
                spread.worst,
                spread.std
            );
        }
        if let Some(path) = &self.json {
            let record = EvalRecord {
                task: self.task.name(),
                first: &records[0],
                models: &records,
                spread,
            };
            crate::write_json(path, &record)?;
        }
        Ok(())
    }

    /// The planner settings the options ask for on a bundle with this manifest.
    fn settings(&self, manifest: &Manifest) -> PlannerSettings {
        let mut settings = if self.reference {
            PlannerSettings::reference(self.task)
        } else {
            PlannerSettings::for_bundle(self.task, manifest)
        };
        settings.q = self.q.unwrap_or(settings.q);
        settings.terminal_steps = self.terminal_steps.unwrap_or(settings.terminal_steps);
        settings.horizon = self.horizon.unwrap_or(settings.horizon);
        if let ObjectiveArg::Reward = self.objective {
            settings.objective = Objective::Reward { weight: settings.q };
        }
        settings.kind = self.planner.kind();
        self.planner.apply_to_ddp(&mut settings);
        settings
    }

    fn score(&self, model: &Path) -> anyhow::Result<Evaluation> {
        let (bundle, evaluator) = self.planner.load(model)?;
        let settings = self.settings(bundle.manifest());
        let mut planner = Planner::new(bundle, settings)?;
        let mut env = Env::new(self.task, self.seed);
        let settings = planner.settings();
        println!(
            "{} on {} ({} episodes, seed {}; {:?} planner, horizon {}, q {}, terminal LQR steps {}):",
            model.display(),
            self.task.name(),
            self.episodes,
            self.seed,
            self.planner.choice(),
            settings.horizon,
            settings.q,
            settings.terminal_steps,
        );
        if self.planner.choice() == PlannerChoice::Ddp {
            let solver = &settings.solver;
            println!(
                "  box-DDP: {} candidates, at most {} iterations, {} kept after each",
                settings.ddp_candidates(true),
                solver.max_iterations,
                match solver.keep_best {
                    0 => "all".to_owned(),
                    k => k.to_string(),
                },
            );
        }
        println!("  dynamics evaluator: {evaluator}");
        let score = evaluate(
            &mut env,
            &mut planner,
            self.seed,
            self.episodes,
            |k, percent| println!("  episode {k:>2}: {percent:6.2} % of steps in goal"),
        )?;
        let step = quantile(&score.step_ms, 0.5);
        println!(
            "  mean {:.2} % in goal; MPC step median {step:.3} ms, p99 {:.3} ms",
            score.percent,
            quantile(&score.step_ms, 0.99)
        );
        let phases: Vec<String> = PHASES
            .iter()
            .zip(&score.phase_ms)
            .map(|(name, ms)| format!("{name} {:.3} ms", quantile(ms, 0.5)))
            .collect();
        println!(
            "  phase medians: {} (encode {:.0} % of the step)",
            phases.join(", "),
            100.0 * quantile(&score.phase_ms[0], 0.5) / step
        );
        Ok(score)
    }
}
