//! `zplan collect`: training data for a task into a transition buffer.
//!
//! Two ways, as the reference and the MBRL loop need them:
//! - samples (default): the reference's data sampling, N independent transitions (planar: every
//!   valid grid position in turn with a valid random action; pole tasks: a random state and two
//!   random actions, x = [o0; o1], u = a1, x' = [o1; o2]);
//! - `--policy random --episodes K`: K episodes of the task's length under uniformly random
//!   actions (the base policy pi_0), from the task's start distribution.
//!
//! The reward is 1 when the next state is in goal (the nominal goal for samples), else 0. The
//! true state of every buffer row goes to `states.npy` beside the buffer, for plots.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use ndarray::Array2;
use rand::SeedableRng;
use zplan_buffer::{Buffer, BufferSpec, Transition};
use zplan_envs::{Env, Pcg64, TaskKind, sample_transition, uniform};

/// Transitions between two commits.
const COMMIT_EVERY: usize = 1000;

/// What to collect.
pub struct CollectArgs<'a> {
    pub task: TaskKind,
    pub samples: usize,
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

/// Appends transitions and keeps the true state of every row the buffer writes.
struct Recorder {
    buffer: Buffer,
    states: Vec<Vec<f64>>,
    appended: usize,
    obs: Vec<u8>,
    next: Vec<u8>,
}

impl Recorder {
    fn append(
        &mut self,
        action: &[f64],
        reward: f32,
        done: bool,
        state: &[f64],
        next_state: &[f64],
    ) -> Result<(), String> {
        let before = self.buffer.len();
        let action: Vec<f32> = action.iter().map(|&v| v as f32).collect();
        let t = Transition {
            obs: &self.obs,
            action: &action,
            reward,
            next_obs: &self.next,
            done,
        };
        self.buffer.append(&t).map_err(|e| e.to_string())?;
        if self.buffer.len() == before + 2 {
            self.states.push(state.to_vec());
        }
        self.states.push(next_state.to_vec());
        self.appended += 1;
        if self.appended.is_multiple_of(COMMIT_EVERY) {
            self.buffer.commit().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

fn collect(args: &CollectArgs<'_>) -> Result<(), String> {
    let task = args.task.task();
    let image = task.image();
    let spec = BufferSpec {
        obs_shape: vec![image.frames, image.height, image.width],
        action_dim: task.action_dim(),
        chunk_rows: 4096,
    };
    let buffer = Buffer::create(args.out, spec).map_err(|e| e.to_string())?;
    let mut rec = Recorder {
        buffer,
        states: Vec::new(),
        appended: 0,
        obs: vec![0; image.len()],
        next: vec![0; image.len()],
    };
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
            for index in 0..args.samples {
                let sample = sample_transition(task.as_ref(), index, &mut rng);
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
                // Samples are independent: each is its own episode.
                rec.buffer.end_episode();
                bar.inc(1);
            }
        }
        Some(episodes) => {
            let (low, high) = task.action_limits();
            let mut env = Env::new(args.task, args.seed);
            for _ in 0..episodes {
                env.reset();
                let length = task.episode_length();
                for t in 0..length {
                    env.observation(&mut rec.obs);
                    let state = env.state().to_vec();
                    let action: Vec<f64> = low
                        .iter()
                        .zip(&high)
                        .map(|(&l, &h)| uniform(&mut rng, l, h))
                        .collect();
                    env.step(&action);
                    env.observation(&mut rec.next);
                    let reward = f32::from(u8::from(env.in_goal()));
                    let next_state = env.state().to_vec();
                    rec.append(&action, reward, t + 1 == length, &state, &next_state)?;
                    bar.inc(1);
                }
            }
        }
    }
    rec.buffer.commit().map_err(|e| e.to_string())?;
    bar.finish_and_clear();

    let rows = rec.states.len();
    let n = task.state_dim();
    let states = Array2::from_shape_fn((rows, n), |(i, j)| rec.states[i][j]);
    let path = args.out.join("states.npy");
    ndarray_npy::write_npy(&path, &states).map_err(|e| format!("{}: {e}", path.display()))?;
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
