//! `zplan eval --task push`: the observation-space planner on its video bundle, scored as
//! docs/tasks.md scores push, beside two references on the same episodes: random actions, and
//! the same search on the true simulator with the object's true position.
//!
//! Each episode (seed + k) starts the object 8 to 20 px from its goal. The user's pointing is
//! the object's centre at the start (the designated pixel) and the goal position; the planner
//! sees only the camera frames and carries the designated pixel with its own predictions. The
//! episode runs its 60 steps and succeeds when the object's centre ends within 3 px of the goal.
//! With `--track` the designated pixel is set anew at the object's centre before every plan (a
//! robot stack that tracks the object) instead of carried by the model's predictions.

use std::path::Path;
use std::time::Instant;

use ndarray::Array3;
use rand::SeedableRng;
use serde::Serialize;
use zplan_envs::push::{GOAL_DISTANCE, Push};
use zplan_envs::{Env, Pcg64, TaskKind, uniform_action};
use zplan_loop::quantile;
use zplan_mpc::{ObservationPlanner, ObservationSettings, PixelGoal, PointGoal, SimulatorPlanner};
use zplan_onnx::VideoBundle;

/// One policy's results over the episodes.
#[derive(Serialize, Default)]
struct PolicyResult {
    policy: &'static str,
    success_percent: f64,
    final_distance_px_mean: f64,
    final_distance_px: Vec<f64>,
    plan_ms_median: f64,
    plan_ms_p99: f64,
    #[serde(skip)]
    plan_ms: Vec<f64>,
}

impl PolicyResult {
    fn finish(&mut self) {
        let n = self.final_distance_px.len() as f64;
        self.success_percent = 100.0
            * self
                .final_distance_px
                .iter()
                .filter(|&&d| d <= GOAL_DISTANCE)
                .count() as f64
            / n;
        self.final_distance_px_mean = self.final_distance_px.iter().sum::<f64>() / n;
        self.plan_ms_median = quantile(&self.plan_ms, 0.5);
        self.plan_ms_p99 = quantile(&self.plan_ms, 0.99);
    }

    fn print(&self) {
        let time = if self.plan_ms.is_empty() {
            String::new()
        } else {
            format!(
                "; plan median {:.1} ms, p99 {:.1} ms",
                self.plan_ms_median, self.plan_ms_p99
            )
        };
        println!(
            "  {:<26} success {:5.1} %, final distance mean {:5.2} px{time}",
            self.policy, self.success_percent, self.final_distance_px_mean
        );
    }
}

/// The record `--json` writes.
#[derive(Serialize)]
struct PushRecord<'a> {
    task: &'static str,
    model: &'a str,
    episodes: usize,
    seed: u64,
    samples: usize,
    iterations: usize,
    horizon: usize,
    predictor_ms_per_call_median: f64,
    policies: &'a [PolicyResult],
}

/// Euclidean distance between two points (px).
pub(crate) fn distance(a: [f64; 2], b: [f64; 2]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// Runs `episodes` episodes of push under the video model's planner and the two references.
pub fn evaluate_push(
    model: &Path,
    settings: ObservationSettings,
    episodes: usize,
    seed: u64,
    track: bool,
    json: Option<&Path>,
) -> anyhow::Result<()> {
    let (samples, iterations, horizon) = (
        settings.sampling.samples,
        settings.sampling.iterations,
        settings.horizon,
    );
    let mut planner = ObservationPlanner::new(VideoBundle::load(model)?, settings.clone())?;
    let mut simulator = SimulatorPlanner::new(TaskKind::Push.task(), settings)?;
    let image = TaskKind::Push.task().image();
    let mut frames = Array3::<u8>::zeros((image.frames, image.height, image.width));
    let mut env = Env::new(TaskKind::Push, seed);
    let mut results = [
        PolicyResult {
            policy: if track {
                "video model (CEM), tracked"
            } else {
                "video model (CEM)"
            },
            ..Default::default()
        },
        PolicyResult {
            policy: "random actions",
            ..Default::default()
        },
        PolicyResult {
            policy: "true simulator (CEM)",
            ..Default::default()
        },
    ];
    let mut predictor_ms = Vec::new();
    println!(
        "{} on push ({episodes} episodes, seed {seed}; CEM: {samples} samples, {iterations} iterations, {horizon} steps):",
        model.display()
    );
    for k in 0..episodes {
        let episode_seed = seed + k as u64;
        let mut finals = [0.0; 3];
        for (p, result) in results.iter_mut().enumerate() {
            env.reset_seeded(episode_seed);
            let goal = Push::object(env.goal());
            let start = Push::object(env.state());
            let mut rng = Pcg64::seed_from_u64(episode_seed);
            match p {
                0 => planner.set_pixel_goals(&[PixelGoal {
                    from: start,
                    to: goal,
                }])?,
                2 => simulator.set_point_goals(&[PointGoal {
                    components: [2, 3],
                    to: goal,
                }])?,
                _ => {}
            }
            for _ in 0..env.task().episode_length() {
                let began = Instant::now();
                let action = match p {
                    0 => {
                        if track {
                            planner.set_designated_pixels(&[Push::object(env.state())])?;
                        }
                        env.observation(frames.as_slice_mut().expect("contiguous"));
                        let action = planner.plan(frames.view())?.to_vec();
                        let times = planner.times();
                        predictor_ms.push(
                            times.predictor.as_secs_f64() * 1e3 / times.predictor_calls as f64,
                        );
                        action
                    }
                    1 => {
                        let (low, high) = env.task().action_limits();
                        uniform_action(&low, &high, &mut rng)
                    }
                    _ => simulator.plan(env.state())?.to_vec(),
                };
                if p != 1 {
                    result.plan_ms.push(began.elapsed().as_secs_f64() * 1e3);
                }
                env.step(&action);
            }
            finals[p] = distance(Push::object(env.state()), goal);
            result.final_distance_px.push(finals[p]);
        }
        println!(
            "  episode {k:>2}: final distance {:5.2} px (random {:5.2}, true simulator {:5.2})",
            finals[0], finals[1], finals[2]
        );
    }
    for result in &mut results {
        result.finish();
        result.print();
    }
    let per_call = quantile(&predictor_ms, 0.5);
    println!("  predictor: {per_call:.2} ms per batched call (median)");
    if let Some(path) = json {
        let record = PushRecord {
            task: "push",
            model: &model.display().to_string(),
            episodes,
            seed,
            samples,
            iterations,
            horizon,
            predictor_ms_per_call_median: per_call,
            policies: &results,
        };
        crate::write_json(path, &record)?;
    }
    Ok(())
}
