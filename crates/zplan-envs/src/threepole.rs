//! The three-link arm ("threepole").
//!
//! State (theta_1, theta_1_dot, theta_2, theta_2_dot, theta_3, theta_3_dot), relative joint
//! angles, theta_1 = 0 upright; three links of m = 0.1, l = 0.5; torques clipped to +-1. With the
//! reference's inertia H(theta), Coriolis C(theta, theta_dot) and gravity G(theta) terms (the
//! constants alpha_1..6, beta_1..3 below, ported as they are):
//!
//! ```text
//! theta_ddot = -(H + 1e-6 I)^{-1} (tau + C theta_dot - G)
//! ```
//!
//! integrated over 1/50 s while all three absolute link angles are inside +-pi/6, else over
//! 2.5/50 s; joint angles wrapped and clipped to +-pi, +-2pi/3, +-pi/3, rates to +-pi/2. Rendered
//! 80 x 80: three chained lines 5 px wide, 80/6 - 2 px long, from the centre.

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
const OUTSIDE_GOAL_STRETCH: f64 = 2.5;
const ANGLE_LIMITS: [f64; 3] = [PI, 2.0 * PI / 3.0, PI / 3.0];
const MAX_RATE: f64 = 0.5 * PI;
const TORQUE: f64 = 1.0;
const SIZE: usize = 80;
/// Each absolute link angle must lie strictly inside +-pi/6.
pub const GOAL_ANGLE: f64 = PI / 6.0;

/// The three-link task.
pub struct Threepole;

impl Threepole {
    /// Whether all three absolute link angles lie strictly inside +-pi/6.
    pub fn links_in_goal(s: &[f64]) -> bool {
        let a1 = s[0];
        let a2 = a1 + s[2];
        let a3 = a2 + s[4];
        [a1, a2, a3]
            .iter()
            .all(|a| -GOAL_ANGLE < *a && *a < GOAL_ANGLE)
    }

    /// d/dt of the state under torques tau.
    pub fn derivative(s: &[f64; 6], tau: &[f64; 3]) -> [f64; 6] {
        let (t1, t2, t3) = (s[0], s[2], s[4]);
        let (d1, d2, d3) = (s[1], s[3], s[5]);
        let (m, l) = (MASS, LENGTH);
        let inertia = m * l * l / 3.0;
        let lc = l / 2.0;
        let a1 = inertia + 2.0 * m * l * l;
        let a2 = inertia + m * l * l;
        let a3 = (m * lc + m * l) * l;
        let a4 = inertia;
        let a5 = m * l * lc;
        let a6 = m * l * lc;
        // The reference measures angles clockwise: sin(-x), cos(-x).
        let (s2, s3, s23) = (-t2.sin(), -t3.sin(), -(t2 + t3).sin());
        let (c2, c3, c23) = (t2.cos(), t3.cos(), (t2 + t3).cos());
        let (s1, s12, s123) = (-t1.sin(), -(t1 + t2).sin(), -(t1 + t2 + t3).sin());
        let h11 = a1 + a2 + a4 + 2.0 * a5 * c23 + 2.0 * a3 * c2 + 2.0 * a6 * c3;
        let h12 = a2 + a4 + a3 * c2 + a5 * c23 + 2.0 * a6 * c3;
        let h13 = a4 + a5 * c23 + a6 * c3;
        let h22 = a2 + a4 + 2.0 * a6 * c3;
        let h23 = a4 + a6 * c3;
        let h33 = a4;
        let b1 = (m * lc + m * l + m * l) * GRAVITY;
        let b2 = (m * lc + m * l) * GRAVITY;
        let b3 = m * GRAVITY * lc;
        let sum = d1 + d2 + d3;
        let c = [
            [
                a5 * (d2 + d3) * s23 + a3 * d2 * s2 + a6 * d3 * s3,
                a5 * sum * s23 + a3 * (d1 + d2) * s2 + a6 * d3 * s3,
                sum * (a5 * s23 + a6 * s3),
            ],
            [
                -a5 * d1 * s23 - a3 * d1 * s2 + a6 * d3 * s3,
                a6 * d3 * s3,
                a6 * sum * s3,
            ],
            [
                -a5 * d1 * s23 - a6 * (d1 + d2) * s3,
                -a6 * (d1 + d2) * s3,
                0.0,
            ],
        ];
        let g = [
            -b1 * s1 - b2 * s12 - b3 * s123,
            -b2 * s12 - b3 * s123,
            -b3 * s123,
        ];
        let h = [
            [h11 + 1e-6, h12, h13],
            [h12, h22 + 1e-6, h23],
            [h13, h23, h33 + 1e-6],
        ];
        let d = [d1, d2, d3];
        let rhs: [f64; 3] =
            std::array::from_fn(|i| tau[i] + (0..3).map(|j| c[i][j] * d[j]).sum::<f64>() - g[i]);
        let acc = solve3(&h, &rhs).map(|v| -v);
        [d1, acc[0], d2, acc[1], d3, acc[2]]
    }
}

/// x = H^{-1} b for a symmetric positive definite 3 x 3 H, by Cholesky.
fn solve3(h: &[[f64; 3]; 3], b: &[f64; 3]) -> [f64; 3] {
    let mut l = [[0.0; 3]; 3];
    for j in 0..3 {
        let d = h[j][j] - (0..j).map(|k| l[j][k] * l[j][k]).sum::<f64>();
        l[j][j] = d.sqrt();
        for i in j + 1..3 {
            l[i][j] = (h[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>()) / l[j][j];
        }
    }
    let mut y = [0.0; 3];
    for i in 0..3 {
        y[i] = (b[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = [0.0; 3];
    for i in (0..3).rev() {
        x[i] = (y[i] - (i + 1..3).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    x
}

impl Task for Threepole {
    fn kind(&self) -> TaskKind {
        TaskKind::Threepole
    }
    fn state_dim(&self) -> usize {
        6
    }
    fn state_names(&self) -> &'static [&'static str] {
        &[
            "theta_1",
            "theta_1_dot",
            "theta_2",
            "theta_2_dot",
            "theta_3",
            "theta_3_dot",
        ]
    }
    fn action_dim(&self) -> usize {
        3
    }
    fn action_limits(&self) -> (Vec<f64>, Vec<f64>) {
        (vec![-TORQUE; 3], vec![TORQUE; 3])
    }
    fn image(&self) -> ImageSpec {
        ImageSpec::square(2, SIZE)
    }
    fn episode_length(&self) -> usize {
        200
    }
    fn time_step(&self) -> f64 {
        DT
    }

    fn step(&self, state: &[f64], action: &[f64], next: &mut [f64]) {
        let tau = [0, 1, 2].map(|i| action[i].clamp(-TORQUE, TORQUE));
        let dt = if Self::links_in_goal(state) {
            DT
        } else {
            DT * OUTSIDE_GOAL_STRETCH
        };
        let mut s: [f64; 6] = std::array::from_fn(|i| state[i]);
        rk4(&mut s, dt, SUBSTEPS, |s| Self::derivative(s, &tau));
        for (joint, limit) in ANGLE_LIMITS.iter().enumerate() {
            next[2 * joint] = wrap(s[2 * joint], -limit, *limit).clamp(-limit, *limit);
            next[2 * joint + 1] = s[2 * joint + 1].clamp(-MAX_RATE, MAX_RATE);
        }
    }

    fn render(&self, state: &[f64], frame: &mut [u8]) {
        let mut canvas = Canvas::new(frame, SIZE, SIZE);
        let length = SIZE as f64 / 6.0 - 2.0;
        let (mut x, mut y) = (SIZE as f64 / 2.0, SIZE as f64 / 2.0);
        let mut angle = 0.0;
        for joint in 0..3 {
            angle += state[2 * joint];
            let (x1, y1) = (x + angle.sin() * length, y - angle.cos() * length);
            canvas.line(x, y, x1, y1, 5);
            (x, y) = (x1, y1);
        }
    }

    fn in_goal(&self, state: &[f64], _goal: &[f64]) -> bool {
        Self::links_in_goal(state)
    }

    fn sample_episode(&self, _rng: &mut Pcg64) -> (Vec<f64>, Vec<f64>) {
        (
            vec![0.95 * PI, 0.0, 0.65 * PI, 0.0, 0.33 * PI, 0.0],
            vec![0.0; 6],
        )
    }

    fn sample_state(&self, rng: &mut Pcg64) -> Vec<f64> {
        let mut s = Vec::with_capacity(6);
        for limit in ANGLE_LIMITS {
            s.push(uniform(rng, -limit, limit));
            s.push(uniform(rng, -MAX_RATE, MAX_RATE));
        }
        s
    }
}
