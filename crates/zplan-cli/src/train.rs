//! `zplan train --task T [--out DIR]`: collect data if there is none, run the reference trainer
//! (`python -m zplan_train` from the project's .venv), and validate the bundle it writes.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use zplan_envs::TaskKind;
use zplan_onnx::Bundle;

use crate::collect::{self, CollectArgs};

/// The source tree this binary was built from (for `.venv` and `training/`).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What to train.
pub struct TrainArgs {
    pub task: TaskKind,
    pub data: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub samples: usize,
    /// Transitions per collected sample.
    pub sequence: usize,
    pub epochs: usize,
    pub model: String,
    /// Prediction steps of the trainer's loss.
    pub horizon: usize,
    pub seed: u64,
    pub python: Option<PathBuf>,
}

pub fn run(args: &TrainArgs) -> ExitCode {
    match train(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("zplan train: {message}");
            ExitCode::FAILURE
        }
    }
}

fn train(args: &TrainArgs) -> Result<(), String> {
    let name = args.task.name();
    let data = args
        .data
        .clone()
        .unwrap_or_else(|| PathBuf::from("data").join(name));
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("models").join(name));
    if !data.join(zplan_buffer::META_FILE).is_file() {
        println!(
            "zplan train: no buffer at {}, collecting {} samples",
            data.display(),
            args.samples
        );
        let collect = CollectArgs {
            task: args.task,
            samples: args.samples,
            sequence: args.sequence,
            episodes: None,
            seed: args.seed,
            out: &data,
        };
        if collect::run(&collect) != ExitCode::SUCCESS {
            return Err(format!("collecting data into {} failed", data.display()));
        }
    }
    let bundle = run_trainer(&Trainer {
        task: args.task,
        data: &data,
        out: &out,
        epochs: args.epochs,
        model: &args.model,
        horizon: args.horizon,
        seed: args.seed,
        python: args.python.as_deref(),
        command: None,
    })?;
    println!(
        "zplan train: {} is valid ({})",
        out.display(),
        bundle.manifest().name
    );
    Ok(())
}

/// One training run: the reference trainer (`python -m zplan_train` from the project's .venv,
/// or `python`), or a user's shell `command`, which finds its job in the environment variables
/// ZPLAN_TASK, ZPLAN_DATA, ZPLAN_OUT, ZPLAN_EPOCHS, ZPLAN_HORIZON and ZPLAN_SEED.
pub(crate) struct Trainer<'a> {
    pub task: TaskKind,
    pub data: &'a Path,
    pub out: &'a Path,
    pub epochs: usize,
    pub model: &'a str,
    /// Prediction steps of the loss (1: single transitions).
    pub horizon: usize,
    pub seed: u64,
    pub python: Option<&'a Path>,
    pub command: Option<&'a str>,
}

/// Runs the trainer and returns the bundle it wrote, validated by loading it.
pub(crate) fn run_trainer(job: &Trainer<'_>) -> Result<Bundle, String> {
    let root = workspace_root();
    let mut command = match job.command {
        Some(shell) => {
            let mut command = Command::new("sh");
            command.args(["-c", shell]);
            command
        }
        None => {
            let python = job
                .python
                .map(Path::to_path_buf)
                .unwrap_or_else(|| root.join(".venv/bin/python"));
            if !python.is_file() {
                return Err(format!(
                    "{} missing: run `make deps` (or pass --python)",
                    python.display()
                ));
            }
            let mut command = Command::new(python);
            command
                .args(["-m", "zplan_train", "--task", job.task.name()])
                .args(["--model", job.model])
                .arg("--data")
                .arg(job.data)
                .arg("--out")
                .arg(job.out)
                .args(["--epochs", &job.epochs.to_string()])
                .args(["--horizon", &job.horizon.to_string()])
                .args(["--seed", &job.seed.to_string()])
                .env("PYTHONPATH", root.join("training"));
            command
        }
    };
    let status = command
        .env("ZPLAN_TASK", job.task.name())
        .env("ZPLAN_DATA", job.data)
        .env("ZPLAN_OUT", job.out)
        .env("ZPLAN_EPOCHS", job.epochs.to_string())
        .env("ZPLAN_HORIZON", job.horizon.to_string())
        .env("ZPLAN_SEED", job.seed.to_string())
        .status()
        .map_err(|e| format!("cannot run the trainer: {e}"))?;
    if !status.success() {
        return Err(format!("the trainer failed ({status})"));
    }
    Bundle::load(job.out).map_err(|e| format!("the trainer wrote a bundle zplan refuses: {e}"))
}
