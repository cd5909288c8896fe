//! Cart-pole balance.
//!
//! State (theta, theta_dot, x, x_dot), theta = 0 upright; cart M = 1.0 kg, pole m = 0.1 kg,
//! l = 0.5, force F clipped to +-10:
//!
//! ```text
//! h          = F + m l theta_dot^2 sin(theta)
//! theta_ddot = ((M + m) g sin(theta) - cos(theta) h) / (4/3 (M + m) l - m l cos^2(theta))
//! x_ddot     = (h - m l theta_ddot cos(theta)) / (M + m)
//! ```
//!
//! integrated over 1/50 s, theta wrapped to [-pi, pi], theta_dot clipped to +-2 pi, x_dot to +-6
//! (x itself is not limited). Rendered 80 x 80: a 16 x 8 cart centred 70 px down, at
//! 40 + x / 2.4 * 32 px across, and the pole a line 6 px wide and 52 px long.

use std::f64::consts::PI;

use rand_pcg::Pcg64;

use crate::integrate::{rk4, wrap};
use crate::raster::Canvas;
use crate::task::{ImageSpec, Task, TaskKind};
use crate::{SUBSTEPS, uniform};

const CART_MASS: f64 = 1.0;
const POLE_MASS: f64 = 0.1;
const LENGTH: f64 = 0.5;
const GRAVITY: f64 = 9.81;
const DT: f64 = 1.0 / 50.0;
const MAX_RATE: f64 = 2.0 * PI;
const POSITION: f64 = 2.4;
const MAX_SPEED: f64 = 6.0;
const FORCE: f64 = 10.0;
const SIZE: usize = 80;
/// In goal when |theta| <= pi / 10.
pub const GOAL_ANGLE: f64 = PI / 10.0;

/// The cart-pole task.
pub struct Cartpole;

impl Cartpole {
    /// d/dt (theta, theta_dot, x, x_dot) under force f.
    pub fn derivative(s: &[f64; 4], f: f64) -> [f64; 4] {
        let total = CART_MASS + POLE_MASS;
        let (sin, cos) = s[0].sin_cos();
        let h = f + POLE_MASS * LENGTH * s[1] * s[1] * sin;
        let theta_ddot = (total * GRAVITY * sin - cos * h)
            / (4.0 / 3.0 * total * LENGTH - POLE_MASS * LENGTH * cos * cos);
        let x_ddot = (h - POLE_MASS * LENGTH * theta_ddot * cos) / total;
        [s[1], theta_ddot, s[3], x_ddot]
    }
}

impl Task for Cartpole {
    fn kind(&self) -> TaskKind {
        TaskKind::Cartpole
    }
    fn state_dim(&self) -> usize {
        4
    }
    fn state_names(&self) -> &'static [&'static str] {
        &["theta", "theta_dot", "x", "x_dot"]
    }
    fn action_dim(&self) -> usize {
        1
    }
    fn action_limits(&self) -> (Vec<f64>, Vec<f64>) {
        (vec![-FORCE], vec![FORCE])
    }
    fn image(&self) -> ImageSpec {
        ImageSpec::square(2, SIZE)
    }
    fn episode_length(&self) -> usize {
        50
    }
    fn time_step(&self) -> f64 {
        DT
    }

    fn step(&self, state: &[f64], action: &[f64], next: &mut [f64]) {
        let f = action[0].clamp(-FORCE, FORCE);
        let mut s = [state[0], state[1], state[2], state[3]];
        rk4(&mut s, DT, SUBSTEPS, |s| Self::derivative(s, f));
        next[0] = wrap(s[0], -PI, PI);
        next[1] = s[1].clamp(-MAX_RATE, MAX_RATE);
        next[2] = s[2];
        next[3] = s[3].clamp(-MAX_SPEED, MAX_SPEED);
    }

    fn render(&self, state: &[f64], frame: &mut [u8]) {
        let mut canvas = Canvas::new(frame, SIZE, SIZE);
        let (w, h) = (SIZE as f64, SIZE as f64);
        let (half_w, half_h) = (w / 10.0, h / 20.0);
        let base_y = h - 2.0 * half_h - 2.0;
        let cart_x = w / 2.0 + state[2] / POSITION * (w / 2.0 - half_w);
        let length = h * 0.65;
        canvas.fill_rect(
            cart_x - half_w,
            base_y - half_h,
            cart_x + half_w,
            base_y + half_h,
        );
        canvas.line(
            cart_x,
            base_y,
            cart_x + state[0].sin() * length,
            base_y - state[0].cos() * length,
            6,
        );
    }

    fn in_goal(&self, state: &[f64], _goal: &[f64]) -> bool {
        (-GOAL_ANGLE..=GOAL_ANGLE).contains(&state[0])
    }

    fn sample_episode(&self, rng: &mut Pcg64) -> (Vec<f64>, Vec<f64>) {
        (
            vec![uniform(rng, -PI / 8.0, PI / 8.0), 0.0, 0.0, 0.0],
            vec![0.0; 4],
        )
    }

    /// The reference samples angles within +-pi/10 only.
    fn sample_state(&self, rng: &mut Pcg64) -> Vec<f64> {
        vec![
            uniform(rng, -GOAL_ANGLE, GOAL_ANGLE),
            uniform(rng, -MAX_RATE, MAX_RATE),
            uniform(rng, -POSITION, POSITION),
            uniform(rng, -MAX_SPEED, MAX_SPEED),
        ]
    }
}
