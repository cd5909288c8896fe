//! Pushing: a top-down table seen by a fixed camera, a round pusher moved by velocity commands
//! and a round object it shoves (the observation-space task of Visual Foresight).
//!
//! Coordinates are pixels of the 32 x 32 image: x to the right, y down, pixel (col, row)
//! covering [col, col + 1) x [row, row + 1), so its centre is (col + 0.5, row + 0.5). State
//! s = (pusher x, pusher y, object x, object y); action u = (dx, dy), clipped to
//! [-MAX_STEP, MAX_STEP]^2 px per step. The table is [0, SIZE]^2 with walls at its border.
//!
//! One step is SUBSTEPS equal substeps of d = u / SUBSTEPS (quasi-static, momentum-free: the
//! object moves only while pushed and only as far as it is pushed). With R = PUSHER_RADIUS +
//! OBJECT_RADIUS, each substep:
//! 1. p <- clamp(p + d, PUSHER_RADIUS, SIZE - PUSHER_RADIUS)  (the pusher stops at the walls);
//! 2. if |o - p| < R, the object slides along the contact normal n = (o - p) / |o - p| out of
//!    penetration: o <- p + R n (when the centres coincide, n is the substep's direction);
//! 3. o <- clamp(o, OBJECT_RADIUS, SIZE - OBJECT_RADIUS)  (the object stops at the walls);
//! 4. if the walls left |o - p| < R, the pusher stops at the object: p <- o + R (p - o) / |p - o|,
//!    clamped to the table; if the walls leave it no room either (a corner), the substep is
//!    undone: pusher and object jam where they were.
//!
//! Rendering: black table, the object a disc of level 255, the pusher a disc of level 128
//! (two grey levels in one channel tell them apart and keep the predictor's input one channel
//! deep), both anti-aliased by coverage so that a sub-pixel move shows. 32 x 32 rather than
//! 48 x 48: a video predictor's cost grows with the pixels, and one batched call of 200
//! predictions has to stay within the planner's budget on one core (docs/tasks.md).

use rand_pcg::Pcg64;

use crate::raster::Canvas;
use crate::task::{ImageSpec, Task, TaskKind};
use crate::uniform;

/// Image size (pixels per side); also the table's size.
pub const SIZE: usize = 32;
/// Largest pusher move per axis and step, px. One pixel: everything in the image moves at
/// most one pixel a step, so a video predictor's transformation kernels need only 3 x 3 taps
/// (their cost grows with the square of the kernel size).
pub const MAX_STEP: f64 = 1.0;
/// Pusher radius, px.
pub const PUSHER_RADIUS: f64 = 2.0;
/// Object radius, px.
pub const OBJECT_RADIUS: f64 = 3.5;
/// Substeps per step.
pub const SUBSTEPS: usize = 8;
/// Grey level of the object.
pub const OBJECT_LEVEL: u8 = 255;
/// Grey level of the pusher.
pub const PUSHER_LEVEL: u8 = 128;
/// Distance of an episode's goal from the object's start, px: [min, max].
pub const GOAL_RANGE: [f64; 2] = [8.0, 20.0];
/// The object is at its goal within this distance, px.
pub const GOAL_DISTANCE: f64 = 3.0;
/// Clearance of start and goal positions from the walls, px (beyond the object's radius).
pub const MARGIN: f64 = 2.0;
/// Gap between pusher and object at an episode's start, px: [min, max] (the arm brought next
/// to the object, on a random side, as in Visual Foresight's pushing scenes).
pub const START_GAP: [f64; 2] = [1.0, 6.0];
/// Of the random base policy's episodes, every AIMED_EVERY-th (episode index % AIMED_EVERY ==
/// AIMED_EVERY - 1) aims its actions at the object ([`Push::aimed_action`], with retreats:
/// [`RETREAT_SHARE`]); the others move the pusher uniformly at random.
pub const AIMED_EVERY: usize = 2;
/// Each aimed episode aims at a point beside the object's centre, offset perpendicular to the
/// pusher-to-object line by a fraction in [-1, 1] of AIM_OFFSET px (spread evenly over the
/// episodes, [`Push::aim_offset`]): contacts off the centre line push the object along the
/// contact normal while the pusher moves another way, which head-on pushes never show (there
/// the two directions agree, and a model cannot tell which one the object follows).
pub const AIM_OFFSET: f64 = PUSHER_RADIUS + OBJECT_RADIUS;
/// In aimed episodes, the share of steps taken while touching the object that move the pusher
/// away from it instead ([`Push::retreat_action`]): without them the data would hold contact
/// only followed by more pushing, and a model could not tell that leaving the object leaves it
/// where it is.
pub const RETREAT_SHARE: f64 = 0.3;

/// The pushing task.
pub struct Push;

impl Push {
    /// The object's centre (x, y).
    pub fn object(state: &[f64]) -> [f64; 2] {
        [state[2], state[3]]
    }

    /// The pixel (col, row) under the object's centre.
    pub fn object_pixel(state: &[f64]) -> [usize; 2] {
        let clamp = |v: f64| (v.floor().max(0.0) as usize).min(SIZE - 1);
        [clamp(state[2]), clamp(state[3])]
    }

    /// Whether the object moved between two states (the pusher touched it).
    pub fn object_moved(state: &[f64], next: &[f64]) -> bool {
        state[2] != next[2] || state[3] != next[3]
    }

    /// An action toward the object: MAX_STEP on the larger axis (scaled on the other) toward
    /// the point o + offset (-(o_y - p_y), o_x - p_x) / |o - p| beside the object's centre o
    /// (perpendicular to the line from the pusher p), plus uniform
    /// noise in [-0.5, 0.5] px per axis, clipped. Pushing from wherever the pusher starts moves
    /// the object in every direction over many episodes.
    pub fn aimed_action(state: &[f64], offset: f64, rng: &mut Pcg64) -> Vec<f64> {
        let (ox, oy) = (state[2] - state[0], state[3] - state[1]);
        let length = ox.hypot(oy).max(1e-9);
        let (dx, dy) = (ox - offset * oy / length, oy + offset * ox / length);
        let scale = MAX_STEP / dx.abs().max(dy.abs()).max(1e-9);
        [dx, dy]
            .map(|d| (d * scale + uniform(rng, -0.5, 0.5)).clamp(-MAX_STEP, MAX_STEP))
            .to_vec()
    }

    /// The aim offset (px) of aimed episode `episode`: AIM_OFFSET x (2 frac(episode phi) - 1),
    /// phi the golden ratio's fractional part, so that any run of episodes covers [-1, 1] evenly.
    pub fn aim_offset(episode: usize) -> f64 {
        ((episode as f64 * 0.618_033_988_75).fract() * 2.0 - 1.0) * AIM_OFFSET
    }

    /// An action away from the object: a direction uniform within 90 degrees of the
    /// object-to-pusher direction, of length uniform in [0.5, 1] x MAX_STEP on the larger axis.
    pub fn retreat_action(state: &[f64], rng: &mut Pcg64) -> Vec<f64> {
        let away = (state[1] - state[3]).atan2(state[0] - state[2]);
        let angle = away
            + uniform(
                rng,
                -std::f64::consts::FRAC_PI_2,
                std::f64::consts::FRAC_PI_2,
            );
        let (dx, dy) = (angle.cos(), angle.sin());
        let scale = uniform(rng, 0.5, 1.0) * MAX_STEP / dx.abs().max(dy.abs());
        vec![dx * scale, dy * scale]
    }

    /// Whether the pusher touches the object (centres within 0.1 px of the contact distance).
    pub fn touching(state: &[f64]) -> bool {
        distance([state[0], state[1]], [state[2], state[3]]) < PUSHER_RADIUS + OBJECT_RADIUS + 0.1
    }

    fn random_position(rng: &mut Pcg64, radius: f64) -> [f64; 2] {
        let (low, high) = (radius + MARGIN, SIZE as f64 - radius - MARGIN);
        [uniform(rng, low, high), uniform(rng, low, high)]
    }

    /// A pusher position START_GAP px clear of the object at `object`, in a uniform direction.
    fn pusher_near(rng: &mut Pcg64, object: [f64; 2]) -> [f64; 2] {
        let (low, high) = (PUSHER_RADIUS, SIZE as f64 - PUSHER_RADIUS);
        loop {
            let r = PUSHER_RADIUS + OBJECT_RADIUS + uniform(rng, START_GAP[0], START_GAP[1]);
            let angle = uniform(rng, -std::f64::consts::PI, std::f64::consts::PI);
            let p = [object[0] + r * angle.cos(), object[1] + r * angle.sin()];
            if p.iter().all(|&c| (low..=high).contains(&c)) {
                return p;
            }
        }
    }

    /// A pusher position at least MARGIN px clear of the object at `object`.
    fn clear_pusher(rng: &mut Pcg64, object: [f64; 2]) -> [f64; 2] {
        let (low, high) = (PUSHER_RADIUS, SIZE as f64 - PUSHER_RADIUS);
        loop {
            let p = [uniform(rng, low, high), uniform(rng, low, high)];
            if distance(p, object) >= PUSHER_RADIUS + OBJECT_RADIUS + MARGIN {
                return p;
            }
        }
    }
}

fn distance(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

fn clamp_to_table(v: [f64; 2], radius: f64) -> [f64; 2] {
    v.map(|c| c.clamp(radius, SIZE as f64 - radius))
}

impl Task for Push {
    fn kind(&self) -> TaskKind {
        TaskKind::Push
    }
    fn state_dim(&self) -> usize {
        4
    }
    fn state_names(&self) -> &'static [&'static str] {
        &["pusher_x", "pusher_y", "object_x", "object_y"]
    }
    fn action_dim(&self) -> usize {
        2
    }
    fn action_limits(&self) -> (Vec<f64>, Vec<f64>) {
        (vec![-MAX_STEP; 2], vec![MAX_STEP; 2])
    }
    fn image(&self) -> ImageSpec {
        ImageSpec::square(2, SIZE)
    }
    fn episode_length(&self) -> usize {
        60
    }
    fn time_step(&self) -> f64 {
        0.0
    }

    fn step(&self, state: &[f64], action: &[f64], next: &mut [f64]) {
        let reach = PUSHER_RADIUS + OBJECT_RADIUS;
        let d = [0, 1].map(|i| action[i].clamp(-MAX_STEP, MAX_STEP) / SUBSTEPS as f64);
        let mut p = [state[0], state[1]];
        let mut o = [state[2], state[3]];
        for _ in 0..SUBSTEPS {
            let before = (p, o);
            p = clamp_to_table([p[0] + d[0], p[1] + d[1]], PUSHER_RADIUS);
            let gap = distance(o, p);
            if gap < reach {
                let n = if gap > 0.0 {
                    [(o[0] - p[0]) / gap, (o[1] - p[1]) / gap]
                } else {
                    let len = d[0].hypot(d[1]).max(f64::MIN_POSITIVE);
                    [d[0] / len, d[1] / len]
                };
                o = clamp_to_table([p[0] + reach * n[0], p[1] + reach * n[1]], OBJECT_RADIUS);
                let gap = distance(o, p);
                if gap < reach && gap > 0.0 {
                    let back = [(p[0] - o[0]) / gap, (p[1] - o[1]) / gap];
                    p = clamp_to_table(
                        [o[0] + reach * back[0], o[1] + reach * back[1]],
                        PUSHER_RADIUS,
                    );
                }
                if distance(o, p) < reach - 1e-12 {
                    (p, o) = before;
                }
            }
        }
        next.copy_from_slice(&[p[0], p[1], o[0], o[1]]);
    }

    fn render(&self, state: &[f64], frame: &mut [u8]) {
        let mut canvas = Canvas::new(frame, SIZE, SIZE);
        canvas.disc_coverage(state[2], state[3], OBJECT_RADIUS, OBJECT_LEVEL);
        canvas.disc_coverage(state[0], state[1], PUSHER_RADIUS, PUSHER_LEVEL);
    }

    fn in_goal(&self, state: &[f64], goal: &[f64]) -> bool {
        distance(Self::object(state), Self::object(goal)) <= GOAL_DISTANCE
    }

    /// The object at the table's centre.
    fn nominal_goal(&self) -> Vec<f64> {
        vec![SIZE as f64 / 2.0; 4]
    }

    /// Object start uniform in the table less OBJECT_RADIUS + MARGIN; goal at a uniform
    /// distance in GOAL_RANGE and a uniform direction, redrawn until it is as far from the
    /// walls; pusher START_GAP px clear of the object in a uniform direction. The goal
    /// state keeps the pusher where it started (only the object is scored).
    fn sample_episode(&self, rng: &mut Pcg64) -> (Vec<f64>, Vec<f64>) {
        let (low, high) = (OBJECT_RADIUS + MARGIN, SIZE as f64 - OBJECT_RADIUS - MARGIN);
        let object = Self::random_position(rng, OBJECT_RADIUS);
        let goal = loop {
            let r = uniform(rng, GOAL_RANGE[0], GOAL_RANGE[1]);
            let angle = uniform(rng, -std::f64::consts::PI, std::f64::consts::PI);
            let g = [object[0] + r * angle.cos(), object[1] + r * angle.sin()];
            if g.iter().all(|&c| (low..=high).contains(&c)) {
                break g;
            }
        };
        let pusher = Self::pusher_near(rng, object);
        (
            vec![pusher[0], pusher[1], object[0], object[1]],
            vec![pusher[0], pusher[1], goal[0], goal[1]],
        )
    }

    fn random_policy_action(&self, state: &[f64], episode: usize, rng: &mut Pcg64) -> Vec<f64> {
        if episode % AIMED_EVERY == AIMED_EVERY - 1 {
            if Self::touching(state) && uniform(rng, 0.0, 1.0) < RETREAT_SHARE {
                Self::retreat_action(state, rng)
            } else {
                Self::aimed_action(state, Self::aim_offset(episode), rng)
            }
        } else {
            let (low, high) = self.action_limits();
            crate::uniform_action(&low, &high, rng)
        }
    }

    /// Object uniform as an episode's start, pusher uniform and clear of it.
    fn sample_state(&self, rng: &mut Pcg64) -> Vec<f64> {
        let object = Self::random_position(rng, OBJECT_RADIUS);
        let pusher = Self::clear_pusher(rng, object);
        vec![pusher[0], pusher[1], object[0], object[1]]
    }
}
