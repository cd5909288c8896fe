//! `zplan collect`: training data for a task into a transition buffer.
//!
//! Two ways, as the reference and the MBRL loop need them:
//! - samples (default): the reference's data sampling, N independent transitions (planar: every
//!   valid grid position in turn with a valid random action; pole tasks: a random state and two
//!   random actions, x = [o0; o1], u = a1, x' = [o1; o2]); with `--sequence K` each sample
//!   goes on for K transitions under random actions (one episode each), for training on
//!   multi-step predictions;
//! - `--policy random --episodes K`: K episodes of the task's length under uniformly random
//!   actions (the base policy pi_0), from the task's start distribution.
//!
//! The reward is 1 when the next state is in goal (the nominal goal for samples), else 0. The
//! buffer keeps the true state of every row (its `state` field), for plots and probes.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use zplan_buffer::{Buffer, BufferSpec, Transition};
use zplan_envs::{Env, Pcg64, TaskKind, sample_sequence, uniform};

/// Transitions between two commits.
const COMMIT_EVERY: usize = 1000;

/// What to collect.
pub struct CollectArgs<'a> {
    pub task: TaskKind,
    pub samples: usize,
    /// Transitions per sample (1: the reference's independent transitions).
    pub sequence: usize,
    pub episodes: Option<usize>,
    pub seed: u64,
    pub out: &'a Path,
}

pub fn run(args: &CollectArgs<'_>) -> ExitCode {
    match collect(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("zplan collect: {message}");
            ExitCode::FAILURE
        }
    }
}

/// A buffer being written, with the true state of every row it holds.
pub(crate) struct Recorder {
    pub(crate) buffer: Buffer,
    appended: usize,
    /// o_t and o_{t+1} of the next `append`.
    pub(crate) obs: Vec<u8>,
    pub(crate) next: Vec<u8>,
}

impl Recorder {
    /// A new buffer in `dir` for `task`'s images and actions.
    pub(crate) fn create(dir: &Path, task: TaskKind) -> Result<Self, String> {
        let task = task.task();
        let image = task.image();
        let spec = BufferSpec {
            obs_shape: vec![image.frames, image.height, image.width],
            action_dim: task.action_dim(),
            chunk_rows: 4096,
            state_dim: task.state_dim(),
        };
        Ok(Self {
            buffer: Buffer::create(dir, spec).map_err(|e| e.to_string())?,
            appended: 0,
            obs: vec![0; image.len()],
            next: vec![0; image.len()],
        })
    }

    /// Appends (`obs`, action, reward, `next`, done) with the true states of both images.
    pub(crate) fn append(
        &mut self,
        action: &[f64],
        reward: f32,
        done: bool,
        state: &[f64],
        next_state: &[f64],
    ) -> Result<(), String> {
        let action: Vec<f32> = action.iter().map(|&v| v as f32).collect();
        let t = Transition {
            obs: &self.obs,
            action: &action,
            reward,
            next_obs: &self.next,
            done,
            state,
            next_state,
        };
        self.buffer.append(&t).map_err(|e| e.to_string())?;
        self.appended += 1;
        if self.appended.is_multiple_of(COMMIT_EVERY) {
            self.commit()?;
        }
        Ok(())
    }

    /// Commits the buffer: its rows and their true states.
    pub(crate) fn commit(&mut self) -> Result<(), String> {
        self.buffer.commit().map_err(|e| e.to_string())
    }

    /// `episodes` whole episodes of the task under uniformly random actions (the base policy
    /// pi_0) from the environment's start distribution.
    pub(crate) fn random_episodes(
        &mut self,
        env: &mut Env,
        episodes: usize,
        rng: &mut Pcg64,
        mut progress: impl FnMut(),
    ) -> Result<(), String> {
        let (low, high) = env.task().action_limits();
        let length = env.task().episode_length();
        for _ in 0..episodes {
            env.reset();
            for t in 0..length {
                env.observation(&mut self.obs);
                let state = env.state().to_vec();
                let action: Vec<f64> = low
                    .iter()
                    .zip(&high)
                    .map(|(&l, &h)| uniform(rng, l, h))
                    .collect();
                env.step(&action);
                env.observation(&mut self.next);
                let reward = f32::from(u8::from(env.in_goal()));
                let next_state = env.state().to_vec();
                self.append(&action, reward, t + 1 == length, &state, &next_state)?;
                progress();
            }
        }
        Ok(())
    }
}

fn collect(args: &CollectArgs<'_>) -> Result<(), String> {
    let task = args.task.task();
    let mut rec = Recorder::create(args.out, args.task)?;
    let mut rng = Pcg64::seed_from_u64(args.seed);
    let total = match args.episodes {
        Some(episodes) => episodes * task.episode_length(),
        None => args.samples,
    };
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:40}] {pos}/{len} transitions, {per_sec}, eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(format!("collect {}", args.task.name()));
    let start = Instant::now();

    match args.episodes {
        None => {
            let goal = task.nominal_goal();
            let mut index = 0;
            while rec.buffer.transitions() < args.samples {
                let length = args.sequence.min(args.samples - rec.buffer.transitions());
                for sample in sample_sequence(task.as_ref(), index, length, &mut rng) {
                    rec.obs.copy_from_slice(&sample.obs);
                    rec.next.copy_from_slice(&sample.next_obs);
                    let reward = f32::from(u8::from(task.in_goal(&sample.next_state, &goal)));
                    rec.append(
                        &sample.action,
                        reward,
                        false,
                        &sample.state,
                        &sample.next_state,
                    )?;
                    bar.inc(1);
                }
                // Samples (sequences) are independent: each is its own episode.
                rec.buffer.end_episode();
                index += 1;
            }
        }
        Some(episodes) => {
            let mut env = Env::new(args.task, args.seed);
            rec.random_episodes(&mut env, episodes, &mut rng, || bar.inc(1))?;
        }
    }
    rec.commit()?;
    bar.finish_and_clear();
    println!(
        "collected {} transitions ({} rows) of {} into {} in {:.1} s",
        rec.buffer.transitions(),
        rec.buffer.committed_len(),
        args.task.name(),
        args.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
