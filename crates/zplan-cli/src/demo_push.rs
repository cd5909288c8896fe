//! `zplan demo --task push`: one episode of push under the observation-space planner on a video
//! bundle, written as `OUT/push.gif`: per step the camera frame with the goal (+) and the
//! designated pixel's expected position (x) marked, the plan's predicted frames 5 steps and T
//! steps ahead, and the designated pixel's distribution as a heat map (scaled to its maximum).

use std::path::Path;
use std::time::Instant;

use ndarray::Array3;
use plotters::prelude::*;
use zplan_envs::push::{GOAL_DISTANCE, Push};
use zplan_envs::{Env, TaskKind};
use zplan_loop::quantile;
use zplan_mpc::{ObservationPlanner, ObservationSettings, PixelGoal};
use zplan_onnx::VideoBundle;

use crate::eval_push::distance;
use crate::plot::{Figure, GreyGif, font};

/// Runs the episode drawn from `seed` and writes the GIF into `out`.
pub fn demo_push(model: &Path, out: &Path, seed: u64) -> anyhow::Result<()> {
    let mut planner =
        ObservationPlanner::new(VideoBundle::load(model)?, ObservationSettings::default())?;
    let mut env = Env::new(TaskKind::Push, seed);
    let image = env.image();
    let (w, h) = (image.width, image.height);
    let goal = Push::object(env.goal());
    planner.set_pixel_goals(&[PixelGoal {
        from: Push::object(env.state()),
        to: goal,
    }])?;
    std::fs::create_dir_all(out)?;
    let path = out.join("push.gif");
    let (scale, margin, title) = (5, 8, 18);
    let panel = w * scale;
    let figure_w = (4 * panel + 5 * margin) as u32;
    let figure_h = (h * scale + 2 * title + 2 * margin) as u32;
    let mut gif = GreyGif::create(&path, figure_w, figure_h)?;
    let text = font(13.0).color(&WHITE);
    let mut frames = Array3::<u8>::zeros((image.frames, h, w));
    let mut plan_ms = Vec::new();
    for step in 0..env.task().episode_length() {
        env.observation(frames.as_slice_mut().expect("contiguous"));
        let began = Instant::now();
        let action = planner.plan(frames.view())?.to_vec();
        plan_ms.push(began.elapsed().as_secs_f64() * 1e3);
        let camera: Vec<f32> = frames
            .index_axis(ndarray::Axis(0), image.frames - 1)
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect();
        let predicted = planner.predicted_frames();
        let ahead = |k: usize| -> Vec<f32> {
            predicted
                .index_axis(ndarray::Axis(0), k.min(predicted.shape()[0] - 1))
                .iter()
                .copied()
                .collect()
        };
        let map = planner.designated_maps();
        let peak = map.fold(f32::MIN_POSITIVE, |m, &v| m.max(v));
        let heat: Vec<f32> = map.iter().map(|&v| v / peak).collect();
        let means = planner.designated_means();
        let horizon = predicted.shape()[0];
        let panels = [
            ("camera, goal +, pixel x".to_string(), camera),
            ("predicted, 5 steps".to_string(), ahead(4)),
            (format!("predicted, {horizon} steps"), ahead(horizon - 1)),
            ("designated pixel".to_string(), heat),
        ];
        let mut figure = Figure::new(figure_w, figure_h, BLACK);
        for (i, (_, picture)) in panels.iter().enumerate() {
            figure.grey_image(margin + i * (panel + margin), title, picture, w, h, scale);
        }
        let at = |[x, y]: [f64; 2]| {
            (
                (margin as f64 + x * scale as f64) as i32,
                (title as f64 + y * scale as f64) as i32,
            )
        };
        let distance = distance(Push::object(env.state()), goal);
        let caption = format!(
            "step {step}   u = {:+.2} {:+.2}   object {distance:.1} px from its goal{}",
            action[0],
            action[1],
            if distance <= GOAL_DISTANCE {
                ", in goal"
            } else {
                ""
            }
        );
        figure.draw(|area| {
            for (i, (label, _)) in panels.iter().enumerate() {
                let x = (margin + i * (panel + margin)) as i32;
                area.draw(&Text::new(label.as_str(), (x, 2), text.clone()))?;
            }
            let (gx, gy) = at(goal);
            let (px, py) = at([means[[0, 0]], means[[0, 1]]]);
            let style = ShapeStyle::from(&WHITE).stroke_width(1);
            area.draw(&PathElement::new(vec![(gx - 6, gy), (gx + 6, gy)], style))?;
            area.draw(&PathElement::new(vec![(gx, gy - 6), (gx, gy + 6)], style))?;
            area.draw(&PathElement::new(
                vec![(px - 4, py - 4), (px + 4, py + 4)],
                style,
            ))?;
            area.draw(&PathElement::new(
                vec![(px - 4, py + 4), (px + 4, py - 4)],
                style,
            ))?;
            let y = (title + h * scale + margin / 2) as i32;
            area.draw(&Text::new(caption, (margin as i32, y), text.clone()))?;
            Ok(())
        })?;
        gif.add(&figure, 150)?;
        env.step(&action);
    }
    let distance = distance(Push::object(env.state()), goal);
    println!(
        "zplan demo: push on {}: the object ended {distance:.2} px from its goal ({}); plan median {:.0} ms, p99 {:.0} ms",
        model.display(),
        if distance <= GOAL_DISTANCE {
            "success"
        } else {
            "not reached"
        },
        quantile(&plan_ms, 0.5),
        quantile(&plan_ms, 0.99)
    );
    println!("zplan demo: wrote {}", path.display());
    Ok(())
}
