//! What every task provides, as pure functions of a state.

use rand_pcg::Pcg64;

/// The tasks of docs/tasks.md: the five of the latent-control benchmark, and push.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum TaskKind {
    /// Point agent among obstacles, 40 x 40, one frame.
    Planar,
    /// Pendulum swing-up, 2 x 48 x 48.
    Swing,
    /// Pendulum balance, 2 x 48 x 48.
    Balance,
    /// Cart-pole balance, 2 x 80 x 80.
    Cartpole,
    /// Three-link arm, 2 x 80 x 80.
    Threepole,
    /// Pushing an object on a table, 2 x 32 x 32 (observation-space planning).
    Push,
}

impl TaskKind {
    /// Every task, in the order of docs/tasks.md.
    pub const ALL: [TaskKind; 6] = [
        Self::Planar,
        Self::Swing,
        Self::Balance,
        Self::Cartpole,
        Self::Threepole,
        Self::Push,
    ];

    /// The five tasks of the latent-control benchmark (all but push).
    pub const LATENT_BENCHMARK: [TaskKind; 5] = [
        Self::Planar,
        Self::Swing,
        Self::Balance,
        Self::Cartpole,
        Self::Threepole,
    ];

    /// The task's command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Planar => "planar",
            Self::Swing => "swing",
            Self::Balance => "balance",
            Self::Cartpole => "cartpole",
            Self::Threepole => "threepole",
            Self::Push => "push",
        }
    }

    /// The task named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The task's definition.
    pub fn task(self) -> Box<dyn Task> {
        match self {
            Self::Planar => Box::new(crate::planar::Planar),
            Self::Swing => Box::new(crate::pendulum::Pendulum::swing()),
            Self::Balance => Box::new(crate::pendulum::Pendulum::balance()),
            Self::Cartpole => Box::new(crate::cartpole::Cartpole),
            Self::Threepole => Box::new(crate::threepole::Threepole),
            Self::Push => Box::new(crate::push::Push),
        }
    }
}

/// Image layout of a task's observation: `frames` stacked single-channel frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageSpec {
    /// Frames stacked per observation (the previous frames first).
    pub frames: usize,
    /// Pixels per column.
    pub height: usize,
    /// Pixels per row.
    pub width: usize,
}

impl ImageSpec {
    /// `frames` stacked square frames of `size` x `size` pixels.
    pub const fn square(frames: usize, size: usize) -> Self {
        Self {
            frames,
            height: size,
            width: size,
        }
    }

    /// Bytes of one frame.
    pub fn frame_len(&self) -> usize {
        self.height * self.width
    }

    /// Bytes of one stacked observation.
    pub fn len(&self) -> usize {
        self.frames * self.frame_len()
    }

    /// Whether an observation has no pixels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A benchmark task: true dynamics, renderer, goal test and the reference's distributions.
/// States and actions are f64 slices of `state_dim()` and `action_dim()` values.
pub trait Task: Send + Sync {
    /// Which task this is.
    fn kind(&self) -> TaskKind;
    /// Size of the true state.
    fn state_dim(&self) -> usize;
    /// Names of the true state's components, in order (`state_dim()` of them).
    fn state_names(&self) -> &'static [&'static str];
    /// Size of the action.
    fn action_dim(&self) -> usize;
    /// Action limits the environment clips to (and the data sampler draws from).
    fn action_limits(&self) -> (Vec<f64>, Vec<f64>);
    /// Action limits of the reference planner (tighter than the environment's for the pendulum):
    /// the action bounds a trained bundle declares.
    fn planning_limits(&self) -> (Vec<f64>, Vec<f64>) {
        self.action_limits()
    }
    /// Image layout.
    fn image(&self) -> ImageSpec;
    /// Steps per episode when scoring.
    fn episode_length(&self) -> usize;
    /// Seconds per step (0 for the kinematic planar task).
    fn time_step(&self) -> f64;
    /// next = f(state, action), the action clipped to the limits and held over the step.
    fn step(&self, state: &[f64], action: &[f64], next: &mut [f64]);
    /// Draws `state` into one frame (`height * width` bytes, 0 black, 255 white).
    fn render(&self, state: &[f64], frame: &mut [u8]);
    /// Whether `state` scores as in goal for an episode whose goal state is `goal`.
    fn in_goal(&self, state: &[f64], goal: &[f64]) -> bool;
    /// The goal that data sampling rewards: upright for the pole tasks, (37, 37) for planar.
    fn nominal_goal(&self) -> Vec<f64> {
        vec![0.0; self.state_dim()]
    }
    /// An episode's start and goal states, as the reference scores them.
    fn sample_episode(&self, rng: &mut Pcg64) -> (Vec<f64>, Vec<f64>);
    /// A state from the reference's training-data distribution.
    fn sample_state(&self, rng: &mut Pcg64) -> Vec<f64>;
    /// An action from the reference's training-data distribution for `state`.
    fn sample_action(&self, state: &[f64], rng: &mut Pcg64) -> Vec<f64> {
        let _ = state;
        let (low, high) = self.action_limits();
        crate::uniform_action(&low, &high, rng)
    }
    /// An action of the random base policy pi_0 in `state`, during episode `episode` (0-based)
    /// of a collection: uniform within the action limits, unless the task aims some episodes
    /// (push: at the object, so that contacts are common).
    fn random_policy_action(&self, state: &[f64], episode: usize, rng: &mut Pcg64) -> Vec<f64> {
        let _ = (state, episode);
        let (low, high) = self.action_limits();
        crate::uniform_action(&low, &high, rng)
    }
}
