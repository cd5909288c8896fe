//! Training data with true states: the reference's single transitions, or sequences of them.
//!
//! Planar: o = frame(s), s from the grid of valid integer positions in turn, u a valid random
//! action, o' = frame(s'). Pole tasks: s0 from the data distribution, two random actions,
//! o = [frame(s0), frame(s1)], u = a1, o' = [frame(s1), frame(s2)].

use rand_pcg::Pcg64;

use crate::planar::Planar;
use crate::task::{Task, TaskKind};

/// One sampled transition.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Stacked observation, u8.
    pub obs: Vec<u8>,
    /// The action.
    pub action: Vec<f64>,
    /// Stacked next observation.
    pub next_obs: Vec<u8>,
    /// True state behind `obs` (the latest frame's).
    pub state: Vec<f64>,
    /// True state behind `next_obs`.
    pub next_state: Vec<f64>,
}

/// Draws transition `index` of a data set (the index picks the planar grid position).
pub fn sample_transition(task: &dyn Task, index: usize, rng: &mut Pcg64) -> Sample {
    let mut samples = sample_sequence(task, index, 1, rng);
    samples.pop().expect("one transition")
}

/// Draws `length` consecutive transitions under random actions from the start of transition
/// `index`: planar from its grid position, pole tasks from s0 of the data distribution after
/// one random action (so that the first observation shows a velocity); each observation
/// stacks the task's frames up to the state, oldest first. Length 1 is [`sample_transition`],
/// draw for draw.
pub fn sample_sequence(
    task: &dyn Task,
    index: usize,
    length: usize,
    rng: &mut Pcg64,
) -> Vec<Sample> {
    let image = task.image();
    let frame = image.frame_len();
    let n = task.state_dim();
    let render = |s: &[f64]| {
        let mut f = vec![0; frame];
        task.render(s, &mut f);
        f
    };
    let step = |s: &[f64], a: &[f64]| {
        let mut next = vec![0.0; n];
        task.step(s, a, &mut next);
        next
    };
    let planar = task.kind() == TaskKind::Planar;
    let mut state = if planar {
        let grid = Planar::grid();
        grid[index % grid.len()].to_vec()
    } else {
        task.sample_state(rng)
    };
    let mut frames = vec![render(&state)];
    if !planar {
        let a0 = task.sample_action(&state, rng);
        state = step(&state, &a0);
        frames.push(render(&state));
    }
    let mut samples = Vec::with_capacity(length);
    for _ in 0..length {
        let action = task.sample_action(&state, rng);
        let next_state = step(&state, &action);
        let obs = frames.concat();
        frames.push(render(&next_state));
        frames.remove(0);
        samples.push(Sample {
            obs,
            action,
            next_obs: frames.concat(),
            state: std::mem::replace(&mut state, next_state.clone()),
            next_state,
        });
    }
    samples
}
