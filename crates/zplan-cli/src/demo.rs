//! `zplan demo`: one episode of a task (the pendulum swing-up by default) under the latent MPC
//! planner on a shipped model, written as pictures:
//! - `OUT/TASK.gif`: per step the goal image, the camera frame, and the decoder's images of
//!   the planner's current latent state z_0 and of the plan's last state z_T;
//! - `OUT/TASK.png`: the tracked quantity (pole angle, or distance to the goal on planar) and
//!   the actions over time, steps in goal shaded.
//!
//! On push the planner plans in observation space instead (crate::demo_push).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use ndarray::{Array2, Array4, s};
use plotters::prelude::*;
use zplan_envs::{Env, TaskKind};
use zplan_loop::{quantile, run_episode};
use zplan_mpc::{Planner, PlannerSettings};
use zplan_onnx::{Bundle, DecoderNet};

use crate::plot::{BLUE, Figure, GOAL_BAND, GREY, GreyGif, ORANGE, RED, font, padded_range};

/// Run one episode of a task on a shipped model and write DIR/TASK.gif (camera frames beside
/// the decoder's images of the planned latent states) and DIR/TASK.png (angle and action over
/// time); print the score and the MPC step latency.
#[derive(Args)]
pub struct DemoCommand {
    #[arg(long, default_value = "swing")]
    task: TaskKind,
    /// The bundle [default: models/TASK].
    #[arg(long)]
    model: Option<PathBuf>,
    /// Directory for the pictures.
    #[arg(long, default_value = "demo")]
    out: PathBuf,
    /// Start/goal draw of the episode.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// The last frames of the decoded z_0 and z_T, [0, 1].
type PlanEnds = (Vec<f32>, Vec<f32>);

/// What one step left for the pictures.
struct Frame {
    /// Last camera frame, [0, 1].
    camera: Vec<f32>,
    /// Decoder images of z_0 and z_T (last frame), when the bundle has a decoder.
    decoded: Option<PlanEnds>,
    tracked: f64,
    action: Vec<f64>,
    in_goal: bool,
}

impl DemoCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let name = self.task.name();
        let model = self
            .model
            .clone()
            .unwrap_or_else(|| crate::shipped_model(self.task));
        if self.task == TaskKind::Push {
            // Planning in observation space on a video bundle.
            return crate::demo_push::demo_push(&model, &self.out, self.seed);
        }
        let load = || Bundle::load(&model).with_context(|| format!("{}", model.display()));
        let bundle = load()?;
        let settings = PlannerSettings::for_bundle(self.task, bundle.manifest());
        let mut planner = Planner::new(bundle, settings)?;
        let (manifest, _, _, decoder, _) = load()?.into_parts();
        std::fs::create_dir_all(&self.out).with_context(|| format!("{}", self.out.display()))?;

        let mut env = Env::new(self.task, self.seed);
        let mut pictures = DecodedPlan::new(decoder, &env, &planner);
        let (mut frames, mut step_ms, mut encode_ms) = (Vec::new(), Vec::new(), Vec::new());
        let percent = run_episode(&mut env, &mut planner, self.seed, |step| {
            step_ms.push(step.plan_ms);
            encode_ms.push(step.planner.times().encode.as_secs_f64() * 1e3);
            let image = step.env.image();
            let last = &step.obs[(image.frames - 1) * image.frame_len()..];
            frames.push(Frame {
                camera: last.iter().map(|&p| f32::from(p) / 255.0).collect(),
                decoded: pictures.decode(step.planner)?,
                tracked: tracked(self.task, step.env.state(), step.env.goal()),
                action: step.action.to_vec(),
                in_goal: step.env.in_goal(),
            });
            Ok(())
        })?;

        let image = env.image();
        let mut goal = vec![0u8; image.len()];
        env.goal_observation(&mut goal);
        let goal: Vec<f32> = goal[..image.frame_len()]
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect();
        let gif_path = self.out.join(format!("{name}.gif"));
        let png_path = self.out.join(format!("{name}.png"));
        let time_step = env.task().time_step();
        write_gif(
            &gif_path,
            &frames,
            &goal,
            image.width,
            image.height,
            time_step,
        )?;
        let limits = (&manifest.action.low[..], &manifest.action.high[..]);
        write_plot(&png_path, self.task, &frames, time_step, limits, percent)?;

        let (median, encode) = (quantile(&step_ms, 0.5), quantile(&encode_ms, 0.5));
        println!(
            "zplan demo: {name} on {}: {percent:.1} % of {} steps in goal; MPC step median {median:.3} ms, p99 {:.3} ms (encoder {encode:.3} ms, {:.0} %)",
            model.display(),
            frames.len(),
            quantile(&step_ms, 0.99),
            100.0 * encode / median
        );
        println!(
            "zplan demo: wrote {} and {}",
            gif_path.display(),
            png_path.display()
        );
        Ok(())
    }
}

/// The decoder's images of the plan's first and last latent states.
struct DecodedPlan {
    decoder: Option<DecoderNet>,
    /// z_0 and z_T, [2, nz].
    z: Array2<f32>,
    images: Array4<f32>,
}

impl DecodedPlan {
    fn new(decoder: Option<DecoderNet>, env: &Env, planner: &Planner) -> Self {
        let image = env.image();
        let nz = planner.solution().states().ncols();
        Self {
            decoder,
            z: Array2::zeros((2, nz)),
            images: Array4::zeros((2, image.frames, image.height, image.width)),
        }
    }

    /// The last frames of the decoded z_0 and z_T of the planner's plan; None without a decoder.
    fn decode(&mut self, planner: &Planner) -> Result<Option<PlanEnds>, zplan_loop::LoopError> {
        let Some(decoder) = self.decoder.as_mut() else {
            return Ok(None);
        };
        let plan = planner.solution().states();
        for (row, t) in [0, planner.solution().horizon()].into_iter().enumerate() {
            for (dst, src) in self.z.row_mut(row).iter_mut().zip(plan.row(t)) {
                *dst = *src as f32;
            }
        }
        decoder.decode(self.z.view(), self.images.view_mut())?;
        let last = self.images.dim().1 - 1;
        let frame = |b: usize| {
            self.images
                .slice(s![b, last, .., ..])
                .iter()
                .copied()
                .collect()
        };
        Ok(Some((frame(0), frame(1))))
    }
}

/// What the plot follows: the distance to the goal on planar, else the first (pole or link)
/// angle.
fn tracked(task: TaskKind, state: &[f64], goal: &[f64]) -> f64 {
    match task {
        TaskKind::Planar => (state[0] - goal[0]).hypot(state[1] - goal[1]),
        _ => state[0],
    }
}

fn tracked_label(task: TaskKind) -> &'static str {
    match task {
        TaskKind::Planar => "distance to goal (px)",
        _ => "angle (rad)",
    }
}

fn write_gif(
    path: &Path,
    frames: &[Frame],
    goal: &[f32],
    width: usize,
    height: usize,
    time_step: f64,
) -> anyhow::Result<()> {
    let scale = (160 / width).max(1);
    let (panel_w, panel_h) = (width * scale, height * scale);
    let (margin, title) = (8, 18);
    let figure_w = (4 * panel_w + 5 * margin) as u32;
    let figure_h = (panel_h + 2 * title + 2 * margin) as u32;
    let mut gif = GreyGif::create(path, figure_w, figure_h)?;
    // Real time where there is a time step, 100 ms per frame on kinematic tasks.
    let delay = if time_step > 0.0 {
        ((time_step * 1000.0).round() as u16).clamp(40, 200)
    } else {
        100
    };
    let blank = vec![0.0f32; width * height];
    let text = font(13.0).color(&WHITE);
    for (t, frame) in frames.iter().enumerate() {
        let mut figure = Figure::new(figure_w, figure_h, BLACK);
        let (now, end) = match &frame.decoded {
            Some((now, end)) => (now.as_slice(), end.as_slice()),
            None => (blank.as_slice(), blank.as_slice()),
        };
        let panels: [(&str, &[f32]); 4] = [
            ("goal", goal),
            ("camera", &frame.camera),
            ("model: now", now),
            ("model: plan end", end),
        ];
        for (i, (_, picture)) in panels.iter().enumerate() {
            let x = margin + i * (panel_w + margin);
            figure.grey_image(x, title, picture, width, height, scale);
        }
        let clock = if time_step > 0.0 {
            format!("t = {:.2} s", t as f64 * time_step)
        } else {
            format!("step {t}")
        };
        let action: Vec<String> = frame.action.iter().map(|u| format!("{u:+.2}")).collect();
        let caption = format!(
            "{clock}   u = {}   {}",
            action.join(" "),
            if frame.in_goal { "in goal" } else { "" }
        );
        figure.draw(|area| {
            for (i, (label, _)) in panels.iter().enumerate() {
                let x = (margin + i * (panel_w + margin)) as i32;
                area.draw(&Text::new(*label, (x, 2), text.clone()))?;
            }
            let y = (title + panel_h + margin / 2) as i32;
            area.draw(&Text::new(caption, (margin as i32, y), text.clone()))?;
            Ok(())
        })?;
        gif.add(&figure, delay)?;
    }
    Ok(())
}

/// Two charts over time: the tracked quantity, and the actions with their limits dashed; the
/// steps in goal shaded green.
fn write_plot(
    path: &Path,
    task: TaskKind,
    frames: &[Frame],
    time_step: f64,
    (low, high): (&[f64], &[f64]),
    percent: f64,
) -> anyhow::Result<()> {
    // Kinematic tasks (time step 0) count steps.
    let (dt, x_label) = if time_step > 0.0 {
        (time_step, "time (s); green: in goal")
    } else {
        (1.0, "step; green: in goal")
    };
    let x_end = frames.len() as f64 * dt;
    let mut figure = Figure::new(800, 560, WHITE);
    figure.draw(|area| {
        let area = area.titled(
            &format!("{}: {percent:.1} % of steps in goal", task.name()),
            font(20.0),
        )?;
        let (top, bottom) = area.split_vertically(270);
        let tracked: Vec<f64> = frames.iter().map(|f| f.tracked).collect();
        let actions = low
            .iter()
            .chain(high)
            .copied()
            .chain(frames.iter().flat_map(|f| f.action.clone()));
        for (panel, range, y_label) in [
            (
                &top,
                padded_range(tracked.iter().copied()),
                tracked_label(task),
            ),
            (&bottom, padded_range(actions), "action"),
        ] {
            let mut chart = ChartBuilder::on(panel)
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(0.0..x_end, range.clone())?;
            chart
                .configure_mesh()
                .x_desc(x_label)
                .y_desc(y_label)
                .label_style(font(13.0))
                .axis_desc_style(font(14.0))
                .light_line_style(WHITE)
                .draw()?;
            chart.draw_series(frames.iter().enumerate().filter(|(_, f)| f.in_goal).map(
                |(t, _)| {
                    let t = t as f64 * dt;
                    Rectangle::new([(t, range.start), (t + dt, range.end)], GOAL_BAND.filled())
                },
            ))?;
            if y_label == "action" {
                for (i, (&lo, &hi)) in low.iter().zip(high).enumerate() {
                    for limit in [lo, hi] {
                        chart.draw_series(DashedLineSeries::new(
                            [(0.0, limit), (x_end, limit)],
                            6,
                            4,
                            GREY.stroke_width(1),
                        ))?;
                    }
                    let colour = [ORANGE, RED, BLUE][i % 3];
                    let series = frames
                        .iter()
                        .enumerate()
                        .map(|(t, f)| (t as f64 * dt, f.action[i]));
                    chart.draw_series(LineSeries::new(series, colour.stroke_width(2)))?;
                }
            } else {
                let series = tracked.iter().enumerate().map(|(t, &v)| (t as f64 * dt, v));
                chart.draw_series(LineSeries::new(series, BLUE.stroke_width(2)))?;
            }
        }
        Ok(())
    })?;
    figure.write_png(path)
}
