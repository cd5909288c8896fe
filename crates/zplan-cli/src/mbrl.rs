//! `zplan mbrl`: model-based RL "version 1.5" on a task, end to end, with the machinery of
//! zplan-loop:
//!
//! ```text
//! D <- transitions of the base policy pi_0 (random-action episodes from the start states, or
//!      samples of the task's whole state space)
//! model <- train(D)
//! repeat K times:
//!     for N steps: o <- camera; u <- MPC plan through the model; apply u; observe o', r
//!                  D <- D + (o, u, r, o')                    (committed after every episode)
//!     model' <- train(all of D) (anew, or going on from the serving model's weights)
//!     if model' loads and fits the planner, swap it in
//! ```
//!
//! The planner object lives through the whole run: a retrained bundle replaces its networks
//! only after it has loaded and the planner has accepted it, so the old model serves until
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
use zplan_loop::{CommandTrainer, Recorder, ReferenceTrainer, TrainJob, run_episode, train_bundle};
use zplan_mpc::{Planner, PlannerSettings};
use zplan_onnx::Bundle;

use crate::plot::{BLUE, Figure, GREY, ORANGE, font};
use crate::train::{Recipe, TrainingChoices};

/// First start/goal draw of the loop's MPC episodes (for `--seed 0`).
const EPISODE_SEEDS: u64 = 1_000_000;

/// Model-based RL on a task: collect with random actions, train, then K times: plan with MPC
/// for N steps appending every transition, retrain on all the data and swap the new model into
/// the running planner. Trains by the task's recipe (`zplan train`'s) unless told otherwise.
/// Writes OUT/buffer, OUT/models/K, OUT/mbrl.json and OUT/learning-curve.png.
#[derive(Args)]
pub struct MbrlCommand {
    #[arg(long)]
    task: TaskKind,
    /// Retraining rounds after the first model.
    #[arg(long, default_value_t = 3)]
    iterations: usize,
    /// MPC steps between two trainings (whole episodes, so at least this many).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    steps_per_iteration: u64,
    /// pi_0's data: episodes of uniformly random actions from the task's start states.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
    initial_episodes: u64,
    /// pi_0's data instead: this many transitions of the task's sample distribution (start
    /// states over the whole state space, uniformly random actions, in runs of `--sequence`),
    /// as `zplan collect --samples` draws the reference data.
    #[arg(long, conflicts_with = "initial_episodes", value_parser = clap::value_parser!(u64).range(1..))]
    initial_samples: Option<u64>,
    #[command(flatten)]
    choices: TrainingChoices,
    /// Rounds after the first go on training the serving model for this many epochs on all
    /// the data (the reference trainer's --init-from) instead of training a new one. With
    /// `--select-every` the serving model is a candidate too: a round keeps it unless a
    /// continued one plans better on the validation draws.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    continue_epochs: Option<u64>,
    /// Seed of the data, the episodes and the training runs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// A shell command that trains instead of the reference trainer, as it likes (the recipe,
    /// `--select-every` and `--continue-epochs` are the reference trainer's); it reads its job
    /// from ZPLAN_TASK, ZPLAN_DATA, ZPLAN_OUT, ZPLAN_EPOCHS, ZPLAN_HORIZON and ZPLAN_SEED and
    /// writes a bundle to $ZPLAN_OUT.
    #[arg(long, value_name = "COMMAND", conflicts_with = "continue_epochs")]
    train_command: Option<String>,
    /// New output directory.
    #[arg(long)]
    out: PathBuf,
}

/// Who trains each round's model.
enum RoundTrainer {
    /// The reference trainer, by the recipe (with the round's options).
    Reference(ReferenceTrainer),
    /// The user's `--train-command`, as it likes.
    Command(CommandTrainer),
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

/// mbrl.json: the options, the training recipe and one record per iteration.
#[derive(Serialize)]
struct Record<'a> {
    task: &'a str,
    steps_per_iteration: u64,
    initial_data: String,
    training: serde_json::Value,
    seed: u64,
    iterations: &'a [Iteration],
}

impl MbrlCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let recipe = Recipe::for_task(self.task)
            .overridden_by(&self.choices, self.initial_samples.map(|n| n as usize));
        if recipe.model.bundle_kind() != zplan_onnx::BundleKind::Latent {
            anyhow::bail!(
                "--model {}: zplan mbrl plans in a latent space; choose pc3, deterministic or e2c",
                recipe.model.name()
            );
        }
        // Found once, before anything is collected: the trainer of every round.
        let trainer = match &self.train_command {
            Some(shell) => RoundTrainer::Command(CommandTrainer::new(shell.clone())),
            None => RoundTrainer::Reference(ReferenceTrainer::locate(None, recipe.model)?),
        };
        let start = Instant::now();
        let buffer_dir = self.out.join("buffer");
        let task = self.task.task();
        let mut rec = Recorder::create(&buffer_dir, task.as_ref())?;
        let mut env = Env::new(self.task, self.seed);
        let mut rng = Pcg64::seed_from_u64(self.seed);
        let initial_data = match self.initial_samples {
            Some(_) => {
                rec.samples(
                    task.as_ref(),
                    recipe.samples,
                    recipe.sequence,
                    &mut rng,
                    |_, _| {},
                )?;
                format!(
                    "{} samples of the task's distribution in runs of {}",
                    recipe.samples, recipe.sequence
                )
            }
            None => {
                let episodes = self.initial_episodes as usize;
                rec.random_episodes(&mut env, episodes, &mut rng, |_, _| {})?;
                format!("{episodes} random-action episodes from the start states")
            }
        };
        rec.commit()?;
        let training = self.describe(&recipe);
        println!(
            "zplan mbrl: {}; pi_0's data: {initial_data}; {training}",
            self.task.name()
        );

        let job = |k: usize| TrainJob {
            task: self.task.name().to_owned(),
            data: buffer_dir.clone(),
            out: self.out.join("models").join(k.to_string()),
            epochs: match self.continue_epochs {
                Some(epochs) if k > 0 => epochs as usize,
                _ => recipe.epochs,
            },
            horizon: recipe.horizon,
            seed: self.seed.wrapping_add(k as u64),
        };
        let first = job(0);
        let bundle = self
            .train(&recipe, &trainer, &first, None)
            .context("the first model")?;
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
            // has loaded and the planner has taken it.
            let job = job(k);
            let serving = record[k - 1].model.clone();
            let continued = self.continue_epochs.is_some().then_some(serving.as_path());
            let swapped = self
                .train(&recipe, &trainer, &job, continued)
                .and_then(|bundle| {
                    let loss = bundle.manifest().provenance.losses.get("total").copied();
                    planner
                        .swap_bundle(bundle)
                        .context("the planner refused it")?;
                    Ok(loss)
                });
            let (model, training_loss, kept_because) = match swapped {
                Ok(loss) => (job.out, loss, None),
                Err(e) => (serving, None, Some(format!("{e:#}"))),
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
                task: self.task.name(),
                steps_per_iteration: self.steps_per_iteration,
                initial_data,
                training: serde_json::json!({
                    "model": recipe.model.name(),
                    "epochs": recipe.epochs,
                    "continue_epochs": self.continue_epochs,
                    "horizon": recipe.horizon,
                    "transition_width": recipe.transition_width,
                    "latent_init_std": recipe.latent_init_std,
                    "latent_noise": recipe.latent_noise,
                    "select_every": recipe.select_every,
                    "select_terminal_steps": recipe.select_terminal_steps,
                    "train_command": self.train_command,
                }),
                seed: self.seed,
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

    /// Runs `job` (the reference trainer by the recipe, or the user's command) and returns the
    /// bundle it leaves in `job.out`, loaded: with `--select-every`, the best of the run's
    /// checkpoints, its final model and the model it `continued` from, on the validation draws.
    fn train(
        &self,
        recipe: &Recipe,
        trainer: &RoundTrainer,
        job: &TrainJob,
        continued: Option<&Path>,
    ) -> anyhow::Result<Bundle> {
        let reference = match trainer {
            RoundTrainer::Command(command) => return Ok(train_bundle(command, job)?),
            RoundTrainer::Reference(reference) => reference,
        };
        let mut options = recipe.trainer_options();
        if self.continue_epochs.is_some() {
            options.push("--save-weights".to_owned());
        }
        if let Some(dir) = continued {
            options.extend(["--init-from".to_owned(), dir.display().to_string()]);
        }
        let trainer = reference.clone().with_options(options);
        train_bundle(&trainer, job)?;
        if let Some(every) = recipe.select_every {
            self.choices
                .selection(self.task, every, &recipe.select_terminal_steps)
                .keep_best(&job.out, job.epochs, continued)?;
        }
        Bundle::load(&job.out).with_context(|| format!("{}", job.out.display()))
    }

    /// The training as the run's first line states it.
    fn describe(&self, recipe: &Recipe) -> String {
        if let Some(shell) = &self.train_command {
            return format!("training by `{shell}`");
        }
        let mut text = recipe.describe();
        if let Some(epochs) = self.continue_epochs {
            text += &format!(", later rounds continue the serving model for {epochs} epochs");
        }
        if let Some(every) = recipe.select_every {
            text += &format!(", the best of every {every} epochs on validation draws");
        }
        text
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
