//! `zplan mbrl`: model-based RL "version 1.5" on a task, end to end.
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
//! only after it has passed validation (`Planner::swap_bundle`), so the old model serves until
//! then, and a failed training run leaves the old model and every committed row in place.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use rand::SeedableRng;
use serde_json::json;
use zplan_envs::{Env, Pcg64, TaskKind};
use zplan_mpc::{Planner, PlannerSettings};
use zplan_onnx::Bundle;

use crate::collect::Recorder;
use crate::eval::run_episode;
use crate::picture::{BLACK, Canvas, GREY, Panel, WHITE};
use crate::train::{Trainer, run_trainer};

/// First start/goal draw of the loop's MPC episodes (for `--seed 0`).
const EPISODE_SEEDS: u64 = 1_000_000;

/// What to run.
pub struct MbrlArgs {
    pub task: TaskKind,
    pub iterations: usize,
    pub steps_per_iteration: usize,
    /// Episodes of pi_0 before the first model.
    pub initial_episodes: usize,
    pub epochs: usize,
    pub model: String,
    /// Prediction steps of the trainer's loss (its episodes are sequences already).
    pub horizon: usize,
    pub seed: u64,
    pub out: PathBuf,
    /// A shell command to train with instead of the reference trainer.
    pub train_command: Option<String>,
}

/// One line of the run's record.
struct Iteration {
    /// 0 for the model trained on pi_0's data.
    index: usize,
    transitions: usize,
    /// Percent of this iteration's MPC steps in goal (planned with the previous model).
    score: Option<f64>,
    /// Total training loss of the model trained at the end of this iteration.
    loss: Option<f64>,
    /// The bundle serving after this iteration.
    model: PathBuf,
    /// Why the model was not replaced, when it was not.
    kept_because: Option<String>,
}

pub fn run(args: &MbrlArgs) -> ExitCode {
    match mbrl(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("zplan mbrl: {message}");
            ExitCode::FAILURE
        }
    }
}

fn mbrl(args: &MbrlArgs) -> Result<(), String> {
    if args.steps_per_iteration == 0 || args.initial_episodes == 0 {
        return Err("--steps-per-iteration and --initial-episodes must be at least 1".into());
    }
    let start = Instant::now();
    let buffer_dir = args.out.join("buffer");
    let mut rec = Recorder::create(&buffer_dir, args.task)?;
    let mut env = Env::new(args.task, args.seed);
    let mut rng = Pcg64::seed_from_u64(args.seed);
    rec.random_episodes(&mut env, args.initial_episodes, &mut rng, || {})?;
    rec.commit()?;

    let settings = PlannerSettings::for_task(args.task.name()).expect("every task has one");
    let model_dir = |k: usize| args.out.join("models").join(k.to_string());
    let (bundle, loss) =
        train(args, &buffer_dir, &model_dir(0), 0).map_err(|e| format!("the first model: {e}"))?;
    let mut planner = Planner::new(bundle, settings).map_err(|e| e.to_string())?;
    let mut record = vec![Iteration {
        index: 0,
        transitions: rec.buffer.transitions(),
        score: None,
        loss: Some(loss),
        model: model_dir(0),
        kept_because: None,
    }];
    report(&record[0], start);

    // Start/goal draws of the MPC episodes: seeds from EPISODE_SEEDS on, apart from the draws
    // 0.. that `zplan eval` scores with.
    let mut episode_seed = EPISODE_SEEDS + args.seed.wrapping_mul(100_000);
    for k in 1..=args.iterations {
        // The inner loop: plan, act, record, replan; whole episodes until N steps.
        let (mut steps, mut in_goal) = (0, 0);
        while steps < args.steps_per_iteration {
            run_episode(&mut env, &mut planner, episode_seed, |step| {
                let reached = step.env.in_goal();
                rec.obs.copy_from_slice(step.obs);
                step.env.observation(&mut rec.next);
                let reward = f32::from(u8::from(reached));
                rec.append(step.action, reward, step.last, step.state, step.env.state())?;
                in_goal += usize::from(reached);
                steps += 1;
                Ok(())
            })?;
            episode_seed += 1;
            rec.commit()?;
        }

        // The outer loop: retrain on all of D; the old model serves until the new one passes.
        let candidate = model_dir(k);
        let (model, loss, kept_because) = match train(args, &buffer_dir, &candidate, k as u64)
            .and_then(|(bundle, loss)| {
                planner
                    .swap_bundle(bundle)
                    .map(|()| loss)
                    .map_err(|e| format!("the planner refused it: {e}"))
            }) {
            Ok(loss) => (candidate, Some(loss), None),
            Err(why) => (record[k - 1].model.clone(), None, Some(why)),
        };
        record.push(Iteration {
            index: k,
            transitions: rec.buffer.transitions(),
            score: Some(100.0 * in_goal as f64 / steps as f64),
            loss,
            model,
            kept_because,
        });
        report(&record[k], start);
    }
    write_record(args, &record)?;
    learning_curve(&args.out.join("learning-curve.png"), args.task, &record)?;
    println!(
        "zplan mbrl: wrote {} and {}",
        args.out.join("mbrl.json").display(),
        args.out.join("learning-curve.png").display()
    );
    Ok(())
}

/// Trains on the buffer into `out` and returns the validated bundle and its total loss.
fn train(args: &MbrlArgs, data: &Path, out: &Path, seed: u64) -> Result<(Bundle, f64), String> {
    let bundle = run_trainer(&Trainer {
        task: args.task,
        data,
        out,
        epochs: args.epochs,
        model: &args.model,
        horizon: args.horizon,
        seed: args.seed.wrapping_add(seed),
        python: None,
        command: args.train_command.as_deref(),
    })?;
    let losses = &bundle.manifest().provenance.losses;
    let loss = losses.get("total").copied().unwrap_or(f64::NAN);
    Ok((bundle, loss))
}

fn report(it: &Iteration, start: Instant) {
    let score = it
        .score
        .map_or("-".to_string(), |s| format!("{s:.1} % in goal"));
    let model = match &it.kept_because {
        None => format!(
            "model {} (training loss {:.4})",
            it.model.display(),
            it.loss.unwrap_or(f64::NAN)
        ),
        Some(why) => format!("kept model {} ({why})", it.model.display()),
    };
    println!(
        "iteration {:>2}: {:>6} transitions; MPC score {score}; {model}; {:.0} s",
        it.index,
        it.transitions,
        start.elapsed().as_secs_f64()
    );
}

fn write_record(args: &MbrlArgs, record: &[Iteration]) -> Result<(), String> {
    let iterations: Vec<_> = record
        .iter()
        .map(|it| {
            json!({
                "iteration": it.index,
                "transitions": it.transitions,
                "percent_in_goal": it.score,
                "training_loss": it.loss,
                "model": it.model.display().to_string(),
                "kept_because": it.kept_because,
            })
        })
        .collect();
    let text = serde_json::to_string_pretty(&json!({
        "task": args.task.name(),
        "steps_per_iteration": args.steps_per_iteration,
        "initial_episodes": args.initial_episodes,
        "epochs": args.epochs,
        "seed": args.seed,
        "iterations": iterations,
    }))
    .expect("JSON serialises");
    let path = args.out.join("mbrl.json");
    std::fs::write(&path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))
}

/// Score per iteration (percent of its MPC steps in goal) and the data size, as a PNG.
fn learning_curve(path: &Path, task: TaskKind, record: &[Iteration]) -> Result<(), String> {
    const BLUE: [u8; 3] = [31, 119, 180];
    const ORANGE: [u8; 3] = [255, 127, 14];
    let mut canvas = Canvas::new(720, 460, WHITE);
    canvas.text(
        20,
        12,
        &format!(
            "MBRL ON {}: SCORE AND DATA PER ITERATION",
            task.name().to_uppercase()
        ),
        2,
        BLACK,
    );
    let count = record.len();
    let scores: Vec<f64> = record.iter().map(|it| it.score.unwrap_or(0.0)).collect();
    let score = Panel {
        x: 70,
        y: 60,
        w: 620,
        h: 150,
        lo: 0.0,
        hi: 100.0,
        count,
    };
    score.frame(&mut canvas);
    score.dashed(&mut canvas, 50.0, GREY);
    // Scores exist from iteration 1 on (iteration 0 is pi_0's data).
    for k in 1..count {
        let (x, y) = (score.px(k as f64), score.py(scores[k]));
        canvas.fill_rect(x - 2, y - 2, 5, 5, BLUE);
        if k > 1 {
            let from = (score.px(k as f64 - 1.0), score.py(scores[k - 1]));
            canvas.line(from, (x, y), 2, BLUE);
        }
    }
    score.labels(&mut canvas, "% of MPC steps in goal (iteration 1 on)");
    let data: Vec<f64> = record.iter().map(|it| it.transitions as f64).collect();
    let top = data.iter().copied().fold(1.0, f64::max);
    let size = Panel {
        x: 70,
        y: 260,
        w: 620,
        h: 150,
        lo: 0.0,
        hi: top * 1.05,
        count,
    };
    size.frame(&mut canvas);
    size.series(&mut canvas, &data, ORANGE);
    size.labels(&mut canvas, "transitions in the buffer");
    for (k, _) in record.iter().enumerate() {
        let label = k.to_string();
        canvas.text(size.px(k as f64) - 3, 420, &label, 1, BLACK);
    }
    canvas.text(330, 436, "iteration", 1, BLACK);
    canvas.write_png(path)
}
