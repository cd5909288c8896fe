//! `zplan demo`: one episode of a task (the pendulum swing-up by default) under the latent MPC
//! planner on a shipped model, written as pictures:
//! - `OUT/TASK.gif`: per step the goal image, the camera frame, and the decoder's images of
//!   the planner's current latent state z_0 and of the plan's last state z_T;
//! - `OUT/TASK.png`: the tracked quantity (pole angle, or distance to the goal on planar) and
//!   the actions over time, steps in goal shaded.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ndarray::{Array2, Array4};
use zplan_envs::{Env, TaskKind};
use zplan_mpc::{Planner, PlannerSettings};
use zplan_onnx::Bundle;

use crate::eval::{self, quantile, run_episode};
use crate::picture::{BLACK, Canvas, GREY, GreyGif, Panel, Rgb, WHITE};

/// What to show.
pub struct DemoArgs {
    pub task: TaskKind,
    pub model: Option<PathBuf>,
    pub out: PathBuf,
    pub seed: u64,
}

/// What one step left for the pictures.
struct Step {
    /// Last camera frame, [0, 1].
    frame: Vec<f32>,
    /// Decoder images of z_0 and z_T (last frame), when the bundle has a decoder.
    decoded: Option<(Vec<f32>, Vec<f32>)>,
    tracked: f64,
    action: Vec<f64>,
    in_goal: bool,
}

pub fn run(args: &DemoArgs) -> ExitCode {
    match demo(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("zplan demo: {message}");
            ExitCode::FAILURE
        }
    }
}

fn demo(args: &DemoArgs) -> Result<(), String> {
    let name = args.task.name();
    let model = args
        .model
        .clone()
        .unwrap_or_else(|| Path::new("models").join(name));
    let load =
        |what: &str| Bundle::load(&model).map_err(|e| format!("{} ({what}): {e}", model.display()));
    let mut planner = Planner::new(
        load("planner")?,
        PlannerSettings::for_task(name).expect("every task has settings"),
    )
    .map_err(|e| e.to_string())?;
    let (manifest, _, _, mut decoder, _) = load("decoder")?.into_parts();
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;

    let mut env = Env::new(args.task, args.seed);
    let image = env.image();
    let (frame_len, frames) = (image.frame_len(), image.frames);
    let nz = planner.solution().states().ncols();
    let mut z = Array2::<f32>::zeros((2, nz));
    let mut decoded = Array4::<f32>::zeros((2, frames, image.height, image.width));
    let mut steps = Vec::new();
    let mut step_ms = Vec::new();
    let mut encode_ms = Vec::new();
    let mut decode_error = None;
    let percent = run_episode(
        &mut env,
        &mut planner,
        args.seed,
        |&eval::Step {
             env,
             planner,
             obs,
             plan_ms,
             ..
         }| {
            step_ms.push(plan_ms);
            encode_ms.push(planner.times().encode.as_secs_f64() * 1e3);
            let last = &obs[(frames - 1) * frame_len..];
            let plan = planner.solution().states();
            let horizon = planner.solution().horizon();
            let pictures = decoder.as_mut().and_then(|decoder| {
                for (row, t) in [0, horizon].into_iter().enumerate() {
                    for (dst, src) in z.row_mut(row).iter_mut().zip(plan.row(t)) {
                        *dst = *src as f32;
                    }
                }
                match decoder.decode(z.view(), decoded.view_mut()) {
                    Ok(()) => {
                        let frame = |b: usize| {
                            decoded
                                .slice(ndarray::s![b, frames - 1, .., ..])
                                .iter()
                                .copied()
                                .collect()
                        };
                        Some((frame(0), frame(1)))
                    }
                    Err(e) => {
                        decode_error.get_or_insert(e.to_string());
                        None
                    }
                }
            });
            steps.push(Step {
                frame: last.iter().map(|&p| f32::from(p) / 255.0).collect(),
                decoded: pictures,
                tracked: tracked(args.task, env.state(), env.goal()),
                action: planner.solution().controls().row(0).to_vec(),
                in_goal: env.in_goal(),
            });
            Ok(())
        },
    )?;
    if let Some(e) = decode_error {
        return Err(format!("decoder: {e}"));
    }

    let mut goal = vec![0u8; image.len()];
    env.goal_observation(&mut goal);
    let goal: Vec<f32> = goal[..frame_len]
        .iter()
        .map(|&p| f32::from(p) / 255.0)
        .collect();
    let gif_path = args.out.join(format!("{name}.gif"));
    let png_path = args.out.join(format!("{name}.png"));
    let time_step = env.task().time_step();
    write_gif(
        &gif_path,
        &steps,
        &goal,
        image.width,
        image.height,
        time_step,
    )?;
    let (low, high) = (&manifest.action.low, &manifest.action.high);
    write_plot(&png_path, args.task, &steps, time_step, low, high, percent)?;

    let (median, encode) = (quantile(&step_ms, 0.5), quantile(&encode_ms, 0.5));
    println!(
        "zplan demo: {name} on {}: {percent:.1} % of {} steps in goal; MPC step median {median:.3} ms, p99 {:.3} ms (encoder {encode:.3} ms, {:.0} %)",
        model.display(),
        steps.len(),
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
    steps: &[Step],
    goal: &[f32],
    width: usize,
    height: usize,
    time_step: f64,
) -> Result<(), String> {
    let scale = (160 / width).max(1);
    let (panel_w, panel_h) = (width * scale, height * scale);
    let (margin, title) = (8, 14);
    let canvas_w = 4 * panel_w + 5 * margin;
    let canvas_h = panel_h + 2 * title + 2 * margin;
    let mut gif = GreyGif::create(path, canvas_w, canvas_h)?;
    // Real time where there is a time step, 100 ms per frame on kinematic tasks.
    let delay = if time_step > 0.0 {
        ((time_step * 1000.0).round() as u16).clamp(40, 200)
    } else {
        100
    };
    for (t, step) in steps.iter().enumerate() {
        let mut canvas = Canvas::new(canvas_w, canvas_h, BLACK);
        let blank = vec![0.0f32; width * height];
        let (now, end) = match &step.decoded {
            Some((now, end)) => (now.as_slice(), end.as_slice()),
            None => (blank.as_slice(), blank.as_slice()),
        };
        let panels: [(&str, &[f32]); 4] = [
            ("goal", goal),
            ("camera", &step.frame),
            ("model: now", now),
            ("model: plan end", end),
        ];
        for (i, (label, picture)) in panels.into_iter().enumerate() {
            let x = (margin + i * (panel_w + margin)) as i64;
            canvas.text(x, margin as i64 / 2, label, 1, WHITE);
            canvas.grey_image(x, title as i64, picture, width, height, scale);
        }
        let clock = if time_step > 0.0 {
            format!("t = {:.2} s", t as f64 * time_step)
        } else {
            format!("step {t}")
        };
        let caption = format!(
            "{clock}   u = {}   {}",
            step.action
                .iter()
                .map(|u| format!("{u:+.2}"))
                .collect::<Vec<_>>()
                .join(" "),
            if step.in_goal { "in goal" } else { "" }
        );
        canvas.text(
            margin as i64,
            (title + panel_h + margin / 2) as i64,
            &caption,
            1,
            WHITE,
        );
        gif.add(&canvas, delay)?;
    }
    Ok(())
}

const BLUE: Rgb = [31, 119, 180];
const ORANGE: Rgb = [255, 127, 14];
const GREEN_BAND: Rgb = [214, 240, 214];
const RED: Rgb = [214, 39, 40];

/// Two panels over time: the tracked quantity and the actions (limits dashed in grey).
fn write_plot(
    path: &Path,
    task: TaskKind,
    steps: &[Step],
    time_step: f64,
    low: &[f64],
    high: &[f64],
    percent: f64,
) -> Result<(), String> {
    let (width, height) = (720usize, 480usize);
    let mut canvas = Canvas::new(width, height, WHITE);
    let title = format!("{}: {percent:.1} % of steps in goal", task.name());
    canvas.text(60, 8, &title, 2, BLACK);
    let tracked: Vec<f64> = steps.iter().map(|s| s.tracked).collect();
    let (lo, hi) = span(&tracked);
    let top = Panel {
        x: 60,
        y: 40,
        w: 640,
        h: 180,
        lo,
        hi,
        count: steps.len(),
    };
    let (alo, ahi) = span(&[low, high].concat());
    let bottom = Panel {
        x: 60,
        y: 270,
        w: 640,
        h: 160,
        lo: alo,
        hi: ahi,
        count: steps.len(),
    };
    for panel in [&top, &bottom] {
        for (t, step) in steps.iter().enumerate() {
            if step.in_goal {
                let x0 = panel.px(t as f64 - 0.5);
                let x1 = panel.px(t as f64 + 0.5);
                canvas.fill_rect(x0, panel.y, (x1 - x0).max(1), panel.h, GREEN_BAND);
            }
        }
        panel.frame(&mut canvas);
    }
    top.series(&mut canvas, &tracked, BLUE);
    top.labels(&mut canvas, tracked_label(task));
    for (i, (lo, hi)) in low.iter().zip(high).enumerate() {
        for limit in [*lo, *hi] {
            bottom.dashed(&mut canvas, limit, GREY);
        }
        let series: Vec<f64> = steps.iter().map(|s| s.action[i]).collect();
        bottom.series(&mut canvas, &series, [ORANGE, RED, BLUE][i % 3]);
    }
    bottom.labels(&mut canvas, "action");
    // Kinematic tasks (time step 0) count steps.
    let (label, axis) = if time_step > 0.0 {
        (
            format!("{:.2}", steps.len() as f64 * time_step),
            "time (s); green: in goal",
        )
    } else {
        (steps.len().to_string(), "step; green: in goal")
    };
    canvas.text(60, 440, "0", 1, BLACK);
    canvas.text(700 - 6 * label.len() as i64, 440, &label, 1, BLACK);
    canvas.text(300, 452, axis, 1, BLACK);
    canvas.write_png(path)
}

fn span(values: &[f64]) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.05).max(1e-3);
    (lo - pad, hi + pad)
}
