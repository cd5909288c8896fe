//! `zplan collect`: training data for a task into a transition buffer.
//!
//! Two ways, as the reference and the MBRL loop need them:
//! - samples (default): the reference's data sampling, N independent transitions (planar: every
//!   valid grid position in turn with a valid random action; pole tasks: a random state and two
//!   random actions, x = [o0; o1], u = a1, x' = [o1; o2]); with `--sequence K` each sample
//!   goes on for K transitions under random actions (one episode each), for training on
//!   multi-step predictions;
//! - `--policy random --episodes K`: K episodes of the task's length under the random base
//!   policy pi_0 (uniformly random actions; on push every second episode aims at the object,
//!   docs/tasks.md), from the task's start distribution;
//! - `--policy planner --model DIR --episodes K` (push): K episodes under the observation-space
//!   planner on the video bundle in DIR, each toward the episode's goal with the designated
//!   pixel set at the object's true centre before every plan (as `zplan eval --track`). The
//!   data shows what a model's plans really do, which is where its training data was thin:
//!   retraining on it beside the base policy's data (the trainer takes several buffers) is a
//!   round of data aggregation (DAgger, Ross et al. 2011).
//!
//! On push the command reports the share of transitions in which the pusher moved the object.
//!
//! The reward is 1 when the next state is in goal (the nominal goal for samples), else 0. The
//! buffer keeps the true state of every row (its `state` field), for plots and probes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::ArrayView3;
use rand::SeedableRng;
use zplan_envs::{Env, Pcg64, Push, TaskKind};
use zplan_loop::{LoopError, Recorder};
use zplan_mpc::{ObservationPlanner, ObservationSettings, PixelGoal};
use zplan_onnx::VideoBundle;

/// Collect training data for a task into a transition buffer (docs/buffer-format.md).
#[derive(Args)]
pub struct CollectCommand {
    #[arg(long)]
    task: TaskKind,
    /// Independent transitions drawn as the reference samples its data.
    #[arg(long, default_value_t = 10_000)]
    samples: usize,
    /// Continue each sample for this many transitions under random actions (the reference: 1),
    /// as data for multi-step prediction (`--horizon` of the trainer).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    sequence: u64,
    /// The base policy for episode collection.
    #[arg(long, value_name = "POLICY", requires = "episodes")]
    policy: Option<Policy>,
    /// Collect this many whole episodes under --policy instead of independent samples.
    #[arg(long, requires = "policy")]
    episodes: Option<usize>,
    /// The video bundle `--policy planner` plans with.
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Samples per iteration of `--policy planner`'s CEM (default: Visual Foresight's 200).
    #[arg(long, value_name = "N", requires = "model")]
    cem_samples: Option<usize>,
    /// Iterations of `--policy planner`'s CEM (default: Visual Foresight's 3).
    #[arg(long, value_name = "N", requires = "model")]
    cem_iterations: Option<usize>,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// New buffer directory.
    #[arg(long)]
    out: PathBuf,
}

/// Base policies of episode collection.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Policy {
    /// Uniformly random actions within the task's limits.
    Random,
    /// The observation-space planner on the video bundle of --model (push).
    Planner,
}

impl CollectCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let what = match (self.policy, self.episodes) {
            (Some(Policy::Random), Some(episodes)) => Collection::RandomEpisodes(episodes),
            (Some(Policy::Planner), Some(episodes)) => {
                if self.task != TaskKind::Push {
                    anyhow::bail!(
                        "--policy planner plans in observation space, on push; {} is planned with `zplan mbrl`",
                        self.task.name()
                    );
                }
                let model = self
                    .model
                    .context("--policy planner needs --model (a video bundle)")?;
                let mut settings = ObservationSettings::default();
                let sampling = &mut settings.sampling;
                sampling.samples = self.cem_samples.unwrap_or(sampling.samples);
                sampling.iterations = self.cem_iterations.unwrap_or(sampling.iterations);
                sampling.elites = sampling.elites.min(sampling.samples);
                settings.seed = self.seed;
                let bundle = VideoBundle::load(&model)
                    .with_context(|| format!("--model {}", model.display()))?;
                let planner = ObservationPlanner::new(bundle, settings)
                    .with_context(|| format!("--model {}", model.display()))?;
                Collection::PlannerEpisodes(episodes, Box::new(planner))
            }
            _ => Collection::Samples {
                samples: self.samples,
                sequence: self.sequence as usize,
            },
        };
        collect(self.task, what, self.seed, &self.out)
    }
}

/// What [`collect`] draws.
pub(crate) enum Collection {
    /// The reference's samples, each continued for `sequence` transitions.
    Samples { samples: usize, sequence: usize },
    /// Whole episodes under uniformly random actions.
    RandomEpisodes(usize),
    /// Whole push episodes under the observation-space planner.
    PlannerEpisodes(usize, Box<ObservationPlanner>),
}

pub(crate) fn collect(
    task: TaskKind,
    what: Collection,
    seed: u64,
    out: &Path,
) -> anyhow::Result<()> {
    let definition = task.task();
    let mut rec = Recorder::create(out, definition.as_ref())?;
    let mut rng = Pcg64::seed_from_u64(seed);
    let total = match what {
        Collection::RandomEpisodes(episodes) | Collection::PlannerEpisodes(episodes, _) => {
            episodes * definition.episode_length()
        }
        Collection::Samples { samples, .. } => samples,
    };
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:40}] {pos}/{len} transitions, {per_sec}, eta {eta}",
        )?
        .progress_chars("=> "),
    );
    bar.set_message(format!("collect {}", task.name()));
    let start = Instant::now();
    // Transitions in which the pusher moved the object (push only).
    let mut contacts = 0;
    let mut count_contact = |state: &[f64], next: &[f64]| {
        if task == TaskKind::Push {
            contacts += usize::from(Push::object_moved(state, next));
        }
    };

    match what {
        Collection::Samples { samples, sequence } => {
            rec.samples(
                definition.as_ref(),
                samples,
                sequence,
                &mut rng,
                |state, next| {
                    count_contact(state, next);
                    bar.inc(1);
                },
            )?;
        }
        Collection::RandomEpisodes(episodes) => {
            let mut env = Env::new(task, seed);
            rec.random_episodes(&mut env, episodes, &mut rng, |state, next| {
                count_contact(state, next);
                bar.inc(1);
            })?;
        }
        Collection::PlannerEpisodes(episodes, mut planner) => {
            let mut env = Env::new(task, seed);
            let image = definition.image();
            let shape = (image.frames, image.height, image.width);
            let mut current = usize::MAX;
            let policy = |episode: usize, env: &Env, obs: &[u8]| -> Result<Vec<f64>, LoopError> {
                let object = Push::object(env.state());
                if episode != current {
                    current = episode;
                    planner.reset();
                    let to = Push::object(env.goal());
                    planner.set_pixel_goals(&[PixelGoal { from: object, to }])?;
                }
                planner.set_designated_pixels(&[object])?;
                let frames = ArrayView3::from_shape(shape, obs).expect("obs holds one image");
                Ok(planner.plan(frames)?.to_vec())
            };
            rec.episodes(&mut env, episodes, policy, |state, next| {
                count_contact(state, next);
                bar.inc(1);
            })?;
        }
    }
    rec.commit()?;
    bar.finish_and_clear();
    println!(
        "collected {} transitions ({} rows) of {} into {} in {:.1} s",
        rec.buffer().transitions(),
        rec.buffer().committed_len(),
        task.name(),
        out.display(),
        start.elapsed().as_secs_f64()
    );
    if task == TaskKind::Push {
        let transitions = rec.buffer().transitions();
        println!(
            "the pusher moved the object in {contacts} of {transitions} transitions ({:.1} %)",
            100.0 * contacts as f64 / transitions.max(1) as f64
        );
    }
    Ok(())
}
