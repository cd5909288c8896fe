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
    pub epochs: usize,
    pub model: String,
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
    let root = workspace_root();
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
            episodes: None,
            seed: args.seed,
            out: &data,
        };
        if collect::run(&collect) != ExitCode::SUCCESS {
            return Err(format!("collecting data into {} failed", data.display()));
        }
    }
    let python = args
        .python
        .clone()
        .unwrap_or_else(|| root.join(".venv/bin/python"));
    if !python.is_file() {
        return Err(format!(
            "{} missing: run `make deps` (or pass --python)",
            python.display()
        ));
    }
    let status = Command::new(&python)
        .args(["-m", "zplan_train", "--task", name, "--model", &args.model])
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .args([
            "--epochs",
            &args.epochs.to_string(),
            "--seed",
            &args.seed.to_string(),
        ])
        .env("PYTHONPATH", root.join("training"))
        .status()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !status.success() {
        return Err(format!("the trainer failed ({status})"));
    }
    let bundle =
        Bundle::load(&out).map_err(|e| format!("the trainer wrote a bundle zplan refuses: {e}"))?;
    println!(
        "zplan train: {} is valid ({})",
        out.display(),
        bundle.manifest().name
    );
    Ok(())
}
