//! The reference's training data: single transitions with their true states.
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
    let image = task.image();
    let frame = image.frame_len();
    let n = task.state_dim();
    let render = |s: &[f64]| {
        let mut f = vec![0; frame];
        task.render(s, &mut f);
        f
    };
    if task.kind() == TaskKind::Planar {
        let grid = Planar::grid();
        let state = grid[index % grid.len()].to_vec();
        let action = task.sample_action(&state, rng);
        let mut next_state = vec![0.0; n];
        task.step(&state, &action, &mut next_state);
        return Sample {
            obs: render(&state),
            action,
            next_obs: render(&next_state),
            state,
            next_state,
        };
    }
    let s0 = task.sample_state(rng);
    let a0 = task.sample_action(&s0, rng);
    let mut s1 = vec![0.0; n];
    task.step(&s0, &a0, &mut s1);
    let a1 = task.sample_action(&s1, rng);
    let mut s2 = vec![0.0; n];
    task.step(&s1, &a1, &mut s2);
    let (f0, f1, f2) = (render(&s0), render(&s1), render(&s2));
    Sample {
        obs: [f0, f1.clone()].concat(),
        action: a1,
        next_obs: [f1, f2].concat(),
        state: s1,
        next_state: s2,
    }
}
