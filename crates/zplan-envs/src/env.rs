//! An episode of a task: the true state, the goal, and the stacked observation the encoder sees.

use rand::SeedableRng;
use rand_pcg::Pcg64;

use crate::task::{ImageSpec, Task, TaskKind};

/// A running episode. Observations stack the previous frame before the current one (tasks of
/// two frames); at the start the first frame is repeated. The goal observation is the goal
/// state's frame repeated.
pub struct Env {
    task: Box<dyn Task>,
    rng: Pcg64,
    state: Vec<f64>,
    goal: Vec<f64>,
    scratch: Vec<f64>,
    /// Frames, oldest first.
    frames: Vec<Vec<u8>>,
    steps: usize,
}

impl Env {
    /// A task's environment whose episodes are drawn from `seed`.
    pub fn new(kind: TaskKind, seed: u64) -> Self {
        let task = kind.task();
        let image = task.image();
        let frames = vec![vec![0; image.frame_len()]; image.frames];
        let n = task.state_dim();
        let mut env = Self {
            task,
            rng: Pcg64::seed_from_u64(seed),
            state: vec![0.0; n],
            goal: vec![0.0; n],
            scratch: vec![0.0; n],
            frames,
            steps: 0,
        };
        env.reset();
        env
    }

    /// Starts an episode drawn from `seed` alone: the same seed gives the same start and goal.
    pub fn reset_seeded(&mut self, seed: u64) {
        self.rng = Pcg64::seed_from_u64(seed);
        self.reset();
    }

    /// Starts the next episode from the task's start and goal distribution.
    pub fn reset(&mut self) {
        let (start, goal) = self.task.sample_episode(&mut self.rng);
        self.reset_to(&start, &goal);
    }

    /// Starts an episode from a given state and goal.
    pub fn reset_to(&mut self, start: &[f64], goal: &[f64]) {
        self.state.copy_from_slice(start);
        self.goal.copy_from_slice(goal);
        self.steps = 0;
        let (first, rest) = self.frames.split_first_mut().expect("at least one frame");
        self.task.render(&self.state, first);
        for frame in rest {
            frame.copy_from_slice(first);
        }
    }

    /// Applies `action` (clipped by the task) for one step.
    pub fn step(&mut self, action: &[f64]) {
        self.task.step(&self.state, action, &mut self.scratch);
        std::mem::swap(&mut self.state, &mut self.scratch);
        self.frames.rotate_left(1);
        let last = self.frames.last_mut().expect("at least one frame");
        self.task.render(&self.state, last);
        self.steps += 1;
    }

    /// The task.
    pub fn task(&self) -> &dyn Task {
        self.task.as_ref()
    }

    /// The image layout.
    pub fn image(&self) -> ImageSpec {
        self.task.image()
    }

    /// The true state.
    pub fn state(&self) -> &[f64] {
        &self.state
    }

    /// The goal state.
    pub fn goal(&self) -> &[f64] {
        &self.goal
    }

    /// Steps taken in this episode.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Whether the true state is in goal.
    pub fn in_goal(&self) -> bool {
        self.task.in_goal(&self.state, &self.goal)
    }

    /// The stacked observation, `frames * height * width` bytes, oldest frame first.
    pub fn observation(&self, out: &mut [u8]) {
        for (chunk, frame) in out
            .chunks_exact_mut(self.image().frame_len())
            .zip(&self.frames)
        {
            chunk.copy_from_slice(frame);
        }
    }

    /// The goal observation: the goal state's frame, repeated for every stacked frame.
    pub fn goal_observation(&self, out: &mut [u8]) {
        let len = self.image().frame_len();
        let (first, rest) = out.split_at_mut(len);
        self.task.render(&self.goal, first);
        for chunk in rest.chunks_exact_mut(len) {
            chunk.copy_from_slice(first);
        }
    }
}
