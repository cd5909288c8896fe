//! The pendulum of the swing-up and balance tasks.
//!
//! State (theta, theta_dot), theta = 0 upright, measured clockwise in the image:
//!
//! ```text
//! theta_ddot = (m g l sin(pi - theta) - u) / (m l^2 / 3),   m = 0.1, l = 0.5, g = 9.81
//! ```
//!
//! integrated over 1/50 s with the torque held, theta wrapped to [-pi, pi], theta_dot clipped to
//! +-3 pi, torque clipped to +-1 (the planner uses +-0.65). Rendered 48 x 48: a white line 4 px
//! wide from the centre, 22 px long.

use std::f64::consts::PI;

use rand_pcg::Pcg64;

use crate::integrate::{rk4, wrap};
use crate::raster::Canvas;
use crate::task::{ImageSpec, Task, TaskKind};
use crate::{SUBSTEPS, uniform};

const MASS: f64 = 0.1;
const LENGTH: f64 = 0.5;
const GRAVITY: f64 = 9.81;
const DT: f64 = 1.0 / 50.0;
const MAX_RATE: f64 = 3.0 * PI;
const TORQUE: f64 = 1.0;
const PLANNING_TORQUE: f64 = 0.65;
const SIZE: usize = 48;
/// In goal when |theta| <= pi / 6.
pub const GOAL_ANGLE: f64 = PI / 6.0;

/// The pendulum, as the swing-up or the balance task.
pub struct Pendulum {
    swing: bool,
}

impl Pendulum {
    /// Swing-up: start hanging near the bottom, theta ~ U[0.9 pi, 0.95 pi].
    pub fn swing() -> Self {
        Self { swing: true }
    }

    /// Balance: start upright at rest.
    pub fn balance() -> Self {
        Self { swing: false }
    }

    /// d/dt (theta, theta_dot) under torque u.
    pub fn derivative(s: &[f64; 2], u: f64) -> [f64; 2] {
        let inertia = MASS * LENGTH * LENGTH / 3.0;
        [
            s[1],
            (MASS * GRAVITY * LENGTH * (PI - s[0]).sin() - u) / inertia,
        ]
    }
}

impl Task for Pendulum {
    fn kind(&self) -> TaskKind {
        if self.swing {
            TaskKind::Swing
        } else {
            TaskKind::Balance
        }
    }
    fn state_dim(&self) -> usize {
        2
    }
    fn state_names(&self) -> &'static [&'static str] {
        &["theta", "theta_dot"]
    }
    fn action_dim(&self) -> usize {
        1
    }
    fn action_limits(&self) -> (Vec<f64>, Vec<f64>) {
        (vec![-TORQUE], vec![TORQUE])
    }
    fn planning_limits(&self) -> (Vec<f64>, Vec<f64>) {
        (vec![-PLANNING_TORQUE], vec![PLANNING_TORQUE])
    }
    fn image(&self) -> ImageSpec {
        ImageSpec::square(2, SIZE)
    }
    fn episode_length(&self) -> usize {
        100
    }
    fn time_step(&self) -> f64 {
        DT
    }

    fn step(&self, state: &[f64], action: &[f64], next: &mut [f64]) {
        let u = action[0].clamp(-TORQUE, TORQUE);
        let mut s = [state[0], state[1]];
        rk4(&mut s, DT, SUBSTEPS, |s| Self::derivative(s, u));
        next[0] = wrap(s[0], -PI, PI);
        next[1] = s[1].clamp(-MAX_RATE, MAX_RATE);
    }

    fn render(&self, state: &[f64], frame: &mut [u8]) {
        let mut canvas = Canvas::new(frame, SIZE, SIZE);
        let centre = SIZE as f64 / 2.0;
        let length = centre - 2.0;
        canvas.line(
            centre,
            centre,
            centre + state[0].sin() * length,
            centre - state[0].cos() * length,
            4,
        );
    }

    fn in_goal(&self, state: &[f64], _goal: &[f64]) -> bool {
        (-GOAL_ANGLE..=GOAL_ANGLE).contains(&state[0])
    }

    fn sample_episode(&self, rng: &mut Pcg64) -> (Vec<f64>, Vec<f64>) {
        let start = if self.swing {
            vec![uniform(rng, 0.9 * PI, 0.95 * PI), 0.0]
        } else {
            vec![0.0, 0.0]
        };
        (start, vec![0.0, 0.0])
    }

    fn sample_state(&self, rng: &mut Pcg64) -> Vec<f64> {
        vec![uniform(rng, -PI, PI), uniform(rng, -MAX_RATE, MAX_RATE)]
    }
}
