//! `zplan mbrl`: model-based RL "version 1.5" on a task, end to end, with the machinery of
//! zplan-loop:
//!
//! ```text
//! D <- transitions of the base policy pi_0 (uniformly random actions)
//! model <- train(D)
//! repeat K times:
//!     for N steps: o <- camera; u <- MPC plan through the model; apply u; observe o', r
//!                  D <- D + (o, u, r, o')                    (committed after every episode)
//!     model' <- train(all of D); if model' loads and fits the planner, swap it in
//! ```
//!
//! The planner object lives through the whole run: a retrained bundle replaces its networks
//! only after it has passed validation (`zplan_loop::retrain`), so the old model serves until
//! then, and a failed training run leaves the old model and every committed row in place.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use rand::SeedableRng;
use serde::Serialize;
use zplan_envs::{Env, Pcg64, TaskKind};
use zplan_loop::{
    CommandTrainer, ModelKind, Recorder, ReferenceTrainer, Retrain, TrainJob, Trainer, retrain,
    run_episode, train_bundle,
};
use zplan_mpc::{Planner, PlannerSettings};

use crate::plot::{BLUE, Figure, GREY, ORANGE, font};

/// First start/goal draw of the loop's MPC episodes (for `--seed 0`).
const EPISODE_SEEDS: u64 = 1_000_000;

/// Model-based RL on a task: collect with random actions, train, then K times: plan with MPC
/// for N steps appending every transition, retrain on all the data and swap the new model into
/// the running planner. Writes OUT/buffer, OUT/models/K, OUT/mbrl.json and
/// OUT/learning-curve.png.
#[derive(Args, Serialize)]
pub struct MbrlCommand {
    #[arg(long)]
    #[serde(serialize_with = "task_name")]
    task: TaskKind,
    /// Retraining rounds after the first model.
    #[arg(long, default_value_t = 3)]
    #[serde(skip)]
    iterations: usize,
    /// MPC steps between two trainings (whole episodes, so at least this many).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    steps_per_iteration: u64,
    /// Episodes of the random base policy before the first model.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
    initial_episodes: u64,
    /// Training epochs of each model.
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// Model kind of the reference trainer.
    #[arg(long, value_enum, default_value_t = ModelKind::Deterministic)]
    #[serde(skip)]
    model: ModelKind,
    /// Train on latent predictions this many steps ahead (deterministic kind; needs data of
    /// several transitions per episode).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    #[serde(skip)]
    horizon: u64,
    /// Seed of the data, the episodes and the training runs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// A shell command that trains instead of the reference trainer; it reads its job from
    /// ZPLAN_TASK, ZPLAN_DATA, ZPLAN_OUT, ZPLAN_EPOCHS, ZPLAN_HORIZON and ZPLAN_SEED and writes
    /// a bundle to $ZPLAN_OUT.
    #[arg(long, value_name = "COMMAND")]
    #[serde(skip)]
    train_command: Option<String>,
    /// New output directory.
    #[arg(long)]
    #[serde(skip)]
    out: PathBuf,
}

fn task_name<S: serde::Serializer>(task: &TaskKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(task.name())
}

/// One line of the run's record.
#[derive(Serialize)]
struct Iteration {
    /// 0 for the model trained on pi_0's data.
    iteration: usize,
    transitions: usize,
    /// Percent of this iteration's MPC steps in goal (planned with the previous model).
    percent_in_goal: Option<f64>,
    /// Total training loss of the model trained at the end of this iteration.
    training_loss: Option<f64>,
    /// The bundle serving after this iteration.
    model: PathBuf,
    /// Why the model was not replaced, when it was not.
    kept_because: Option<String>,
}

/// mbrl.json: the options and one record per iteration.
#[derive(Serialize)]
struct Record<'a> {
    #[serde(flatten)]
    options: &'a MbrlCommand,
    iterations: &'a [Iteration],
}

impl MbrlCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        if self.model.bundle_kind() != zplan_onnx::BundleKind::Latent {
            anyhow::bail!(
                "--model {}: zplan mbrl plans in a latent space; choose pc3, deterministic or e2c",
                self.model.name()
            );
        }
        let start = Instant::now();
        let buffer_dir = self.out.join("buffer");
        let task = self.task.task();
        let mut rec = Recorder::create(&buffer_dir, task.as_ref())?;
        let mut env = Env::new(self.task, self.seed);
        let mut rng = Pcg64::seed_from_u64(self.seed);
        rec.random_episodes(
            &mut env,
            self.initial_episodes as usize,
            &mut rng,
            |_, _| {},
        )?;
        rec.commit()?;

        let trainer: Box<dyn Trainer> = match &self.train_command {
            Some(shell) => Box::new(CommandTrainer::new(shell.clone())),
            None => Box::new(ReferenceTrainer::locate(None, self.model)?),
        };
        let job = |k: usize| TrainJob {
            task: self.task.name().to_owned(),
            data: buffer_dir.clone(),
            out: self.out.join("models").join(k.to_string()),
            epochs: self.epochs,
            horizon: self.horizon as usize,
            seed: self.seed.wrapping_add(k as u64),
        };
        let first = job(0);
        let bundle = train_bundle(trainer.as_ref(), &first).context("the first model")?;
        let loss = bundle.manifest().provenance.losses.get("total").copied();
        let settings = PlannerSettings::for_bundle(self.task, bundle.manifest());
        let mut planner = Planner::new(bundle, settings)?;
        let mut record = vec![Iteration {
            iteration: 0,
            transitions: rec.buffer().transitions(),
            percent_in_goal: None,
            training_loss: loss,
            model: first.out,
            kept_because: None,
        }];
        report(&record[0], start);

        // Start/goal draws of the MPC episodes: seeds from EPISODE_SEEDS on, apart from the
        // draws 0.. that `zplan eval` scores with.
        let mut episode_seed = EPISODE_SEEDS + self.seed.wrapping_mul(100_000);
        for k in 1..=self.iterations {
            // The inner loop: plan, act, record, replan; whole episodes until N steps.
            let (mut steps, mut in_goal) = (0, 0);
            while steps < self.steps_per_iteration as usize {
                run_episode(&mut env, &mut planner, episode_seed, |step| {
                    rec.append_step(step)?;
                    in_goal += usize::from(step.env.in_goal());
                    steps += 1;
                    Ok(())
                })?;
                episode_seed += 1;
                rec.commit()?;
            }
            // The outer loop: retrain on all of D; the old model serves until the new one
            // passes.
            let job = job(k);
            let (model, training_loss, kept_because) =
                match retrain(&mut planner, trainer.as_ref(), &job) {
                    Retrain::Swapped { loss } => (job.out, loss, None),
                    Retrain::Kept { reason } => (record[k - 1].model.clone(), None, Some(reason)),
                };
            record.push(Iteration {
                iteration: k,
                transitions: rec.buffer().transitions(),
                percent_in_goal: Some(100.0 * in_goal as f64 / steps as f64),
                training_loss,
                model,
                kept_because,
            });
            report(&record[k], start);
        }
        let json = self.out.join("mbrl.json");
        let curve = self.out.join("learning-curve.png");
        crate::write_json(
            &json,
            &Record {
                options: &self,
                iterations: &record,
            },
        )?;
        learning_curve(&curve, self.task, &record)?;
        println!(
            "zplan mbrl: wrote {} and {}",
            json.display(),
            curve.display()
        );
        Ok(())
    }
}

fn report(it: &Iteration, start: Instant) {
    let score = it
        .percent_in_goal
        .map_or("-".to_string(), |s| format!("{s:.1} % in goal"));
    let model = match &it.kept_because {
        None => format!(
            "model {} (training loss {:.4})",
            it.model.display(),
            it.training_loss.unwrap_or(f64::NAN)
        ),
        Some(why) => format!("kept model {} ({why})", it.model.display()),
    };
    println!(
        "iteration {:>2}: {:>6} transitions; MPC score {score}; {model}; {:.0} s",
        it.iteration,
        it.transitions,
        start.elapsed().as_secs_f64()
    );
}

/// Score per iteration (percent of its MPC steps in goal) and the data size, as a PNG.
fn learning_curve(path: &Path, task: TaskKind, record: &[Iteration]) -> anyhow::Result<()> {
    let last = record.len().saturating_sub(1).max(1) as f64;
    let most = record.iter().map(|it| it.transitions).max().unwrap_or(1) as f64;
    let mut figure = Figure::new(760, 520, WHITE);
    figure.draw(|area| {
        let area = area.titled(
            &format!("MBRL on {}: score and data per iteration", task.name()),
            font(20.0),
        )?;
        let (top, bottom) = area.split_vertically(240);
        let mut score = iteration_chart(&top, record.len(), 100.0, "MPC steps in goal (%)")?;
        score.draw_series(DashedLineSeries::new(
            [(-0.2, 50.0), (last + 0.2, 50.0)],
            6,
            4,
            GREY.stroke_width(1),
        ))?;
        // Scores exist from iteration 1 on (iteration 0 is pi_0's data).
        let points: Vec<(f64, f64)> = record
            .iter()
            .filter_map(|it| Some((it.iteration as f64, it.percent_in_goal?)))
            .collect();
        score.draw_series(LineSeries::new(points.clone(), BLUE.stroke_width(2)))?;
        score.draw_series(points.iter().map(|&p| Circle::new(p, 4, BLUE.filled())))?;

        let mut data = iteration_chart(
            &bottom,
            record.len(),
            most * 1.05,
            "transitions in the buffer",
        )?;
        let sizes = record
            .iter()
            .map(|it| (it.iteration as f64, it.transitions as f64));
        data.draw_series(LineSeries::new(sizes, ORANGE.stroke_width(2)))?;
        Ok(())
    })?;
    figure.write_png(path)
}

/// A chart of `iterations` iterations (x, whole-number ticks) on `area`, y from 0 to `top`
/// labelled `y_desc`.
fn iteration_chart<'a, 'b>(
    area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    iterations: usize,
    top: f64,
    y_desc: &str,
) -> anyhow::Result<ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>>
{
    let last = iterations.saturating_sub(1).max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.2..last + 0.2, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("iteration")
        .y_desc(y_desc)
        .x_labels(iterations.max(2))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .light_line_style(WHITE)
        .label_style(font(13.0))
        .axis_desc_style(font(14.0))
        .draw()?;
    Ok(chart)
}
