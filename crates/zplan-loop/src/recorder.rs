//! A transition buffer being written by a running loop.

use std::path::Path;

use zplan_buffer::{Buffer, BufferSpec, Transition};
use zplan_envs::{Env, Pcg64, Task, sample_sequence};

use crate::{LoopError, Step};

/// Rows between two automatic commits of a [`Recorder`].
pub const COMMIT_EVERY: usize = 1000;

/// A transition buffer being written, with the true state of every row: rows are committed
/// every [`COMMIT_EVERY`] appends and on [`Recorder::commit`], so that a killed process loses
/// at most the rows since the last commit.
pub struct Recorder {
    buffer: Buffer,
    appended: usize,
    /// o_t and o_{t+1} of the row being recorded.
    obs: Vec<u8>,
    next: Vec<u8>,
    /// The action as the buffer stores it (f32).
    action: Vec<f32>,
}

impl Recorder {
    /// A new buffer in `dir` for `task`'s images, actions and true states.
    pub fn create(dir: &Path, task: &dyn Task) -> Result<Self, LoopError> {
        let image = task.image();
        let spec = BufferSpec {
            obs_shape: vec![image.frames, image.height, image.width],
            action_dim: task.action_dim(),
            chunk_rows: 4096,
            state_dim: task.state_dim(),
        };
        Ok(Self {
            buffer: Buffer::create(dir, spec)?,
            appended: 0,
            obs: vec![0; image.len()],
            next: vec![0; image.len()],
            action: vec![0.0; task.action_dim()],
        })
    }

    /// The buffer written.
    pub fn buffer(&self) -> &Buffer {
        &self.buffer
    }

    /// Appends the row (obs, action, reward, next_obs, done) with the true states of both
    /// images; commits every [`COMMIT_EVERY`] rows.
    #[allow(clippy::too_many_arguments)]
    pub fn append(
        &mut self,
        obs: &[u8],
        action: &[f64],
        reward: f32,
        next_obs: &[u8],
        done: bool,
        state: &[f64],
        next_state: &[f64],
    ) -> Result<(), LoopError> {
        self.action.clear();
        self.action.extend(action.iter().map(|&v| v as f32));
        self.buffer.append(&Transition {
            obs,
            action: &self.action,
            reward,
            next_obs,
            done,
            state,
            next_state,
        })?;
        self.appended += 1;
        if self.appended.is_multiple_of(COMMIT_EVERY) {
            self.commit()?;
        }
        Ok(())
    }

    /// Appends one MPC step of [`crate::run_episode`]: reward 1 when the next state is in goal,
    /// done on the episode's last step.
    pub fn append_step(&mut self, step: &Step<'_>) -> Result<(), LoopError> {
        let mut next = std::mem::take(&mut self.next);
        step.env.observation(&mut next);
        let reward = f32::from(u8::from(step.env.in_goal()));
        let result = self.append(
            step.obs,
            step.action,
            reward,
            &next,
            step.last,
            step.state,
            step.env.state(),
        );
        self.next = next;
        result
    }

    /// Ends the current episode where it stands (independent samples are one episode each).
    pub fn end_episode(&mut self) {
        self.buffer.end_episode();
    }

    /// Commits every row appended so far.
    pub fn commit(&mut self) -> Result<(), LoopError> {
        Ok(self.buffer.commit()?)
    }

    /// `samples` transitions of the task's sample distribution (the reference data's: start
    /// states drawn over the task's whole state space, uniformly random actions,
    /// [`zplan_envs::sample_sequence`]), each draw continued for `sequence` transitions and
    /// ended as an episode of its own; reward 1 when the next state is in the task's nominal
    /// goal. `progress(state, next_state)` is called after every row.
    pub fn samples(
        &mut self,
        task: &dyn Task,
        samples: usize,
        sequence: usize,
        rng: &mut Pcg64,
        mut progress: impl FnMut(&[f64], &[f64]),
    ) -> Result<(), LoopError> {
        let goal = task.nominal_goal();
        let (start, mut index) = (self.buffer.transitions(), 0);
        while self.buffer.transitions() - start < samples {
            let length = sequence
                .max(1)
                .min(samples - (self.buffer.transitions() - start));
            for sample in sample_sequence(task, index, length, rng) {
                let reached = task.in_goal(&sample.next_state, &goal);
                self.append(
                    &sample.obs,
                    &sample.action,
                    f32::from(u8::from(reached)),
                    &sample.next_obs,
                    false,
                    &sample.state,
                    &sample.next_state,
                )?;
                progress(&sample.state, &sample.next_state);
            }
            self.end_episode();
            index += 1;
        }
        Ok(())
    }

    /// `episodes` whole episodes of the task under its random base policy pi_0
    /// ([`zplan_envs::Task::random_policy_action`]: uniformly random actions, push aims some
    /// episodes at the object) from the environment's start distribution; reward 1 when the
    /// next state is in goal. `progress(state, next_state)` is called after every row.
    pub fn random_episodes(
        &mut self,
        env: &mut Env,
        episodes: usize,
        rng: &mut Pcg64,
        progress: impl FnMut(&[f64], &[f64]),
    ) -> Result<(), LoopError> {
        let policy = |episode: usize, env: &Env, _: &[u8]| {
            Ok(env.task().random_policy_action(env.state(), episode, rng))
        };
        self.episodes(env, episodes, policy, progress)
    }

    /// `episodes` whole episodes of the task from the environment's start distribution, each
    /// action chosen by `policy(episode, env, obs)` from the environment (its state and goal)
    /// and the current image; reward 1 when the next state is in goal. `progress(state,
    /// next_state)` is called after every row. A policy's error ends the collection; the rows
    /// appended before it stay (committed by [`Recorder::commit`]).
    pub fn episodes(
        &mut self,
        env: &mut Env,
        episodes: usize,
        mut policy: impl FnMut(usize, &Env, &[u8]) -> Result<Vec<f64>, LoopError>,
        mut progress: impl FnMut(&[f64], &[f64]),
    ) -> Result<(), LoopError> {
        let length = env.task().episode_length();
        let (mut obs, mut next) = (
            std::mem::take(&mut self.obs),
            std::mem::take(&mut self.next),
        );
        let mut state = Vec::new();
        let mut result = Ok(());
        'episodes: for episode in 0..episodes {
            env.reset();
            for t in 0..length {
                env.observation(&mut obs);
                state.clear();
                state.extend_from_slice(env.state());
                let action = match policy(episode, env, &obs) {
                    Ok(action) => action,
                    Err(e) => {
                        result = Err(e);
                        break 'episodes;
                    }
                };
                env.step(&action);
                env.observation(&mut next);
                let reward = f32::from(u8::from(env.in_goal()));
                result = self.append(
                    &obs,
                    &action,
                    reward,
                    &next,
                    t + 1 == length,
                    &state,
                    env.state(),
                );
                if result.is_err() {
                    break 'episodes;
                }
                progress(&state, env.state());
            }
        }
        (self.obs, self.next) = (obs, next);
        result
    }
}
