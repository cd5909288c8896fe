//! `zplan bench sessions`: ONNX Runtime's session settings side by side on one bundle, at the
//! batch sizes of the MPC step (the encoder at batch 1, the dynamics at the planner's candidate
//! rows and linearisation points) and on whole MPC steps.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use ndarray::{Array2, Array3, Array4};
use serde_json::json;
use zplan_envs::{Env, TaskKind};
use zplan_loop::{quantile, run_episode};
use zplan_mpc::{Planner, PlannerSettings};
use zplan_onnx::{Bundle, NetworkOptions, SessionSettings};

/// What `zplan bench sessions` times.
#[derive(Args)]
pub struct SessionsBench {
    #[arg(long)]
    task: TaskKind,
    /// The bundle [default: models/TASK].
    #[arg(long)]
    model: Option<PathBuf>,
    /// Rounds over all settings (each network call and MPC episode is timed once per round per
    /// setting, the settings in a rotated order).
    #[arg(long, default_value_t = 9)]
    rounds: usize,
    /// Calls of each network per setting and round.
    #[arg(long, default_value_t = 200)]
    calls: usize,
    /// Also write the medians as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One setting and its samples: per round, the median us of the encoder, z_next and Jacobian
/// calls, and the MPC step medians (us) with the dynamics on ONNX Runtime and native.
struct Variant {
    name: String,
    session: SessionSettings,
    encode: Vec<f64>,
    step: Vec<f64>,
    jacobians: Vec<f64>,
    mpc: [Vec<f64>; 2],
}

impl SessionsBench {
    pub fn execute(self) -> anyhow::Result<()> {
        let model = self
            .model
            .clone()
            .unwrap_or_else(|| crate::shipped_model(self.task));
        let settings = PlannerSettings::for_task(self.task);
        let rows = settings.random_candidates
            + settings.bang_bang_candidates
            + usize::from(settings.warm_start);
        let points = rows * settings.horizon;
        let load = |session: SessionSettings, native: bool| {
            // The encoder on ONNX Runtime, under the session settings compared.
            let options = NetworkOptions {
                session,
                native,
                native_encoder: false,
                ..NetworkOptions::default()
            };
            Bundle::load_with(&model, &options).with_context(|| format!("{}", model.display()))
        };
        let mut variants: Vec<Variant> = SessionSettings::one_change_each()
            .into_iter()
            .map(|(name, session)| Variant {
                name,
                session,
                encode: Vec::new(),
                step: Vec::new(),
                jacobians: Vec::new(),
                mpc: [Vec::new(), Vec::new()],
            })
            .collect();

        let mut bundle = load(SessionSettings::default(), false)?;
        let (nz, nu) = (
            bundle.dynamics().latent_dim(),
            bundle.dynamics().action_dim(),
        );
        let obs = bundle.encoder().observation();
        let image =
            Array4::<f32>::from_elem((1, obs.stacked_channels(), obs.height, obs.width), 0.5);
        let mut z1 = Array2::<f32>::zeros((1, nz));
        bundle.encoder().encode(image.view(), z1.view_mut())?;
        drop(bundle);
        let z = Array2::from_shape_fn((points, nz), |(_, j)| z1[[0, j]]);
        let u = Array2::from_shape_fn((points, nu), |(i, j)| ((i + j) % 5) as f32 * 0.1 - 0.2);
        let mut z_next = Array2::<f32>::zeros((points, nz));
        let (mut a, mut b) = (
            Array3::zeros((points, nz, nz)),
            Array3::zeros((points, nz, nu)),
        );
        let mut env = Env::new(self.task, 0);

        // Fresh sessions in every round: timings also differ between two sessions of the same
        // settings (where ONNX Runtime's buffers land), which the rounds average over.
        let median_us = |samples: &[f64]| quantile(samples, 0.5) * 1e6;
        for round in 0..self.rounds {
            let count = variants.len();
            for k in 0..count {
                let variant = &mut variants[(round + k) % count];
                let mut bundle = load(variant.session, false)?;
                let mut samples = Vec::with_capacity(self.calls);
                let mut time = |f: &mut dyn FnMut() -> anyhow::Result<()>| {
                    f()?;
                    samples.clear();
                    for _ in 0..self.calls {
                        let start = Instant::now();
                        f()?;
                        samples.push(start.elapsed().as_secs_f64());
                    }
                    anyhow::Ok(median_us(&samples))
                };
                let encoded =
                    time(&mut || Ok(bundle.encoder().encode(image.view(), z1.view_mut())?))?;
                let stepped = time(&mut || {
                    let rows = ndarray::s![..rows, ..];
                    Ok(bundle.dynamics().step(
                        z.slice(rows),
                        u.slice(rows),
                        z_next.slice_mut(rows),
                    )?)
                })?;
                let linearised = time(&mut || {
                    Ok(bundle.dynamics().jacobians(
                        z.view(),
                        u.view(),
                        a.view_mut(),
                        b.view_mut(),
                    )?)
                })?;
                variant.encode.push(encoded);
                variant.step.push(stepped);
                variant.jacobians.push(linearised);
                drop(bundle);
                for (native, samples) in [false, true].into_iter().zip(&mut variant.mpc) {
                    let mut planner =
                        Planner::new(load(variant.session, native)?, settings.clone())?;
                    let mut steps = Vec::new();
                    run_episode(&mut env, &mut planner, round as u64, |step| {
                        steps.push(step.plan_ms);
                        Ok(())
                    })?;
                    samples.push(quantile(&steps, 0.5) * 1e3);
                }
            }
        }

        let median = |values: &[f64]| quantile(values, 0.5);
        let base = &variants[0];
        let (base_encode, base_mpc) = (median(&base.encode), median(&base.mpc[1]));
        println!(
            "zplan bench sessions {} ({}, {} rounds; dynamics {rows} rows, linearisation {points} \
             points; medians of the rounds' medians in us, ratio = default / setting):",
            self.task.name(),
            model.display(),
            self.rounds
        );
        println!(
            "  {:<28} {:>16} {:>16} {:>16} {:>22} {:>18}",
            "setting", "encoder", "z_next", "A, B", "MPC step (onnxruntime)", "MPC step (native)"
        );
        let mut records = Vec::new();
        for variant in &variants {
            let cells = [
                (median(&variant.encode), median(&base.encode)),
                (median(&variant.step), median(&base.step)),
                (median(&variant.jacobians), median(&base.jacobians)),
                (median(&variant.mpc[0]), median(&base.mpc[0])),
                (median(&variant.mpc[1]), median(&base.mpc[1])),
            ];
            let text: Vec<String> = cells
                .iter()
                .map(|&(v, b)| format!("{v:.1} ({:.2}x)", b / v))
                .collect();
            println!(
                "  {:<28} {:>16} {:>16} {:>16} {:>22} {:>18}",
                variant.name, text[0], text[1], text[2], text[3], text[4]
            );
            records.push(json!({
                "setting": variant.name,
                "encoder_us": cells[0].0,
                "z_next_us": cells[1].0,
                "jacobians_us": cells[2].0,
                "mpc_step_onnxruntime_us": cells[3].0,
                "mpc_step_native_us": cells[4].0,
            }));
        }
        println!(
            "  default: encoder {base_encode:.1} us of a {base_mpc:.1} us MPC step (native dynamics)"
        );
        let record = json!({
            "task": self.task.name(),
            "model": model.display().to_string(),
            "rounds": self.rounds,
            "calls": self.calls,
            "dynamics_rows": rows,
            "linearisation_points": points,
            "settings": records,
        });
        match &self.json {
            Some(path) => crate::write_json(path, &record),
            None => Ok(()),
        }
    }
}
