//! Planar navigation among six obstacles (E2C, PCC, PC3).
//!
//! State (row, col) in [1.5, 38.5]^2; action (d_row, d_col) clipped to [-3, 3]^2;
//! s' = clip(s + u, 1.5, 38.5), unless the agent's 3 x 3 box (half-width 1.5) would then contain
//! an obstacle centre, in which case the agent stays where it is. Rendered 40 x 40: obstacles
//! as white discs in the box centre +- 2 px, the agent a 2 x 2 white block.

use rand_pcg::Pcg64;

use crate::raster::Canvas;
use crate::task::{ImageSpec, Task, TaskKind};
use crate::uniform;

/// Obstacle centres (row, col).
pub const OBSTACLES: [[f64; 2]; 6] = [
    [20.5, 5.5],
    [20.5, 13.5],
    [20.5, 27.5],
    [20.5, 35.5],
    [10.5, 20.5],
    [30.5, 20.5],
];
/// Half-width of the agent's box.
pub const HALF_AGENT: f64 = 1.5;
/// Image size.
pub const SIZE: usize = 40;
/// Largest step per axis.
pub const MAX_STEP: f64 = 3.0;
/// The goals an episode picks from.
pub const GOALS: [[f64; 2]; 3] = [[37.0, 37.0], [37.0, 3.0], [3.0, 37.0]];
/// In goal within this distance.
pub const GOAL_DISTANCE: f64 = 2.0;

/// The planar task.
pub struct Planar;

impl Planar {
    /// Inside the map and no obstacle centre inside the agent's box (edges included).
    pub fn is_valid(s: &[f64]) -> bool {
        let (low, high) = (HALF_AGENT, SIZE as f64 - HALF_AGENT);
        if s.iter().any(|&v| v < low || v > high) {
            return false;
        }
        let (top, bottom) = (s[0] - HALF_AGENT, s[0] + HALF_AGENT);
        let (left, right) = (s[1] - HALF_AGENT, s[1] + HALF_AGENT);
        !OBSTACLES
            .iter()
            .any(|o| top <= o[0] && o[0] <= bottom && left <= o[1] && o[1] <= right)
    }

    /// Every valid integer position, row-major: the reference's grid of data states.
    pub fn grid() -> Vec<[f64; 2]> {
        let mut out = Vec::new();
        for r in 0..SIZE {
            for c in 0..SIZE {
                let s = [r as f64, c as f64];
                if Self::is_valid(&s) {
                    out.push(s);
                }
            }
        }
        out
    }
}

impl Task for Planar {
    fn kind(&self) -> TaskKind {
        TaskKind::Planar
    }
    fn state_dim(&self) -> usize {
        2
    }
    fn state_names(&self) -> &'static [&'static str] {
        &["row", "col"]
    }
    fn action_dim(&self) -> usize {
        2
    }
    fn action_limits(&self) -> (Vec<f64>, Vec<f64>) {
        (vec![-MAX_STEP; 2], vec![MAX_STEP; 2])
    }
    fn image(&self) -> ImageSpec {
        ImageSpec::square(1, SIZE)
    }
    fn episode_length(&self) -> usize {
        40
    }
    fn time_step(&self) -> f64 {
        0.0
    }

    fn step(&self, state: &[f64], action: &[f64], next: &mut [f64]) {
        let (low, high) = (HALF_AGENT, SIZE as f64 - HALF_AGENT);
        let moved =
            [0, 1].map(|i| (state[i] + action[i].clamp(-MAX_STEP, MAX_STEP)).clamp(low, high));
        let target = if Self::is_valid(&moved) {
            moved
        } else {
            [state[0], state[1]]
        };
        next.copy_from_slice(&target);
    }

    fn render(&self, state: &[f64], frame: &mut [u8]) {
        let mut canvas = Canvas::new(frame, SIZE, SIZE);
        for [row, col] in OBSTACLES {
            // The reference draws each disc in the box int(centre) +- int(2.5).
            let (x, y) = (col as i64, row as i64);
            canvas.fill_ellipse(x - 2, y - 2, x + 2, y + 2);
        }
        // Python's round() rounds halves to even.
        let (r, c) = (
            state[0].round_ties_even() as i64,
            state[1].round_ties_even() as i64,
        );
        canvas.fill_block(r - 1, r + 1, c - 1, c + 1);
    }

    fn nominal_goal(&self) -> Vec<f64> {
        GOALS[0].to_vec()
    }

    fn in_goal(&self, state: &[f64], goal: &[f64]) -> bool {
        let (dr, dc) = (state[0] - goal[0], state[1] - goal[1]);
        (dr * dr + dc * dc).sqrt() <= GOAL_DISTANCE
    }

    fn sample_episode(&self, rng: &mut Pcg64) -> (Vec<f64>, Vec<f64>) {
        let start = loop {
            let s = [uniform(rng, 3.0, 7.0), uniform(rng, 3.0, 7.0)];
            if Self::is_valid(&s) {
                break s;
            }
        };
        let goal = GOALS[(uniform(rng, 0.0, 3.0) as usize).min(2)];
        (start.to_vec(), goal.to_vec())
    }

    fn sample_state(&self, rng: &mut Pcg64) -> Vec<f64> {
        loop {
            let s = [
                uniform(rng, HALF_AGENT, SIZE as f64 - HALF_AGENT),
                uniform(rng, HALF_AGENT, SIZE as f64 - HALF_AGENT),
            ];
            if Self::is_valid(&s) {
                return s.to_vec();
            }
        }
    }

    /// The reference's valid random action: uniform in [-3, 3]^2, redrawn until each component
    /// is within 0.1 of an integer and s + u is a valid state.
    fn sample_action(&self, state: &[f64], rng: &mut Pcg64) -> Vec<f64> {
        loop {
            let u = [
                uniform(rng, -MAX_STEP, MAX_STEP),
                uniform(rng, -MAX_STEP, MAX_STEP),
            ];
            let near_integer = u.iter().all(|v| (v - v.round()).abs() <= 0.1);
            if near_integer && Self::is_valid(&[state[0] + u[0], state[1] + u[1]]) {
                return u.to_vec();
            }
        }
    }
}
