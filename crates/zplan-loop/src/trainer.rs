//! Training as the loop sees it: a job, a trainer that runs it and writes a bundle, and the
//! rule "train, validate, then swap or keep with a reason".
//!
//! The job protocol: a trainer reads its job from the environment variables
//!
//! | variable | meaning |
//! |---|---|
//! | `ZPLAN_TASK` | the task's name |
//! | `ZPLAN_DATA` | the transition buffer directory to train on |
//! | `ZPLAN_OUT` | the bundle directory to write |
//! | `ZPLAN_EPOCHS` | training epochs |
//! | `ZPLAN_HORIZON` | prediction steps of the loss (1: single transitions) |
//! | `ZPLAN_SEED` | seed of the run |
//!
//! and exits 0 once `ZPLAN_OUT` holds a bundle. zplan then loads the bundle with every check of
//! `Bundle::load`; only a bundle that loads, and that the running planner accepts, is swapped in.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::thread::JoinHandle;

use zplan_mpc::Planner;
use zplan_onnx::{Bundle, BundleKind, VideoBundle};

use crate::LoopError;

/// One training run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainJob {
    /// The task's name (the benchmark tasks' names, or a robot's own).
    pub task: String,
    /// Transition buffer directory to train on.
    pub data: PathBuf,
    /// Bundle directory to write.
    pub out: PathBuf,
    /// Training epochs.
    pub epochs: usize,
    /// Prediction steps of the loss (1: single transitions).
    pub horizon: usize,
    /// Seed of the run.
    pub seed: u64,
}

impl TrainJob {
    /// Puts the job into `command`'s environment (the protocol of the module docs).
    fn export(&self, command: &mut Command) {
        command
            .env("ZPLAN_TASK", &self.task)
            .env("ZPLAN_DATA", &self.data)
            .env("ZPLAN_OUT", &self.out)
            .env("ZPLAN_EPOCHS", self.epochs.to_string())
            .env("ZPLAN_HORIZON", self.horizon.to_string())
            .env("ZPLAN_SEED", self.seed.to_string());
    }
}

/// Something that trains: runs a [`TrainJob`] to completion and leaves a bundle in `job.out`.
/// It may run on a worker thread ([`TrainerThread`]).
pub trait Trainer: Send + Sync {
    /// Runs the job; Ok once `job.out` holds a bundle.
    fn train(&self, job: &TrainJob) -> Result<(), LoopError>;
}

/// Runs `command`, its output going to the process's, and fails on a non-zero exit.
fn run_to_completion(mut command: Command, program: &str) -> Result<(), LoopError> {
    let status = command.status().map_err(|source| LoopError::TrainerStart {
        program: program.to_owned(),
        source,
    })?;
    if !status.success() {
        return Err(LoopError::TrainerFailed {
            program: program.to_owned(),
            status,
        });
    }
    Ok(())
}

/// A user's shell command (`sh -c`) that reads its job from the environment.
#[derive(Clone, Debug)]
pub struct CommandTrainer {
    shell: String,
}

impl CommandTrainer {
    /// A trainer that runs `sh -c shell`.
    pub fn new(shell: impl Into<String>) -> Self {
        Self {
            shell: shell.into(),
        }
    }
}

impl Trainer for CommandTrainer {
    fn train(&self, job: &TrainJob) -> Result<(), LoopError> {
        let mut command = Command::new("sh");
        command.args(["-c", &self.shell]);
        job.export(&mut command);
        run_to_completion(command, &self.shell)
    }
}

/// The model kinds of the reference trainer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ModelKind {
    /// Prediction, consistency and curvature losses (PC3).
    Pc3,
    /// A deterministic encoder and dynamics, trained on latent prediction.
    Deterministic,
    /// Embed to Control: a locally linear variational model.
    E2c,
    /// An action-conditioned video predictor (CDNA-style kernels and masks) that carries
    /// designated-pixel maps with the image: a video bundle, for observation-space planning.
    Video,
}

impl ModelKind {
    /// The trainer's name of the kind (`--model`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Pc3 => "pc3",
            Self::Deterministic => "deterministic",
            Self::E2c => "e2c",
            Self::Video => "video",
        }
    }

    /// The kind of bundle the trainer writes for this model kind.
    pub fn bundle_kind(self) -> BundleKind {
        match self {
            Self::Video => BundleKind::Video,
            Self::Pc3 | Self::Deterministic | Self::E2c => BundleKind::Latent,
        }
    }

    /// The trainer's default prediction steps of the loss: 1 (single transitions) for the
    /// latent kinds, 10 fed-back predictions for the video predictor.
    pub fn default_horizon(self) -> usize {
        match self {
            Self::Video => 10,
            Self::Pc3 | Self::Deterministic | Self::E2c => 1,
        }
    }
}

/// Directory holding the reference trainer's Python package `zplan_train`, when set.
pub const TRAINING_DIR_VAR: &str = "ZPLAN_TRAINING_DIR";

/// The project's PyTorch trainer, `python -m zplan_train`, run from its source directory.
#[derive(Clone, Debug)]
pub struct ReferenceTrainer {
    python: PathBuf,
    training_dir: PathBuf,
    model: ModelKind,
    /// Further options of `python -m zplan_train`, passed as given.
    options: Vec<String>,
}

impl ReferenceTrainer {
    /// The trainer in `training_dir` (the directory holding `zplan_train/`), run by `python`.
    pub fn new(python: PathBuf, training_dir: PathBuf, model: ModelKind) -> Self {
        Self {
            python,
            training_dir,
            model,
            options: Vec::new(),
        }
    }

    /// The same trainer, passing `options` (e.g. `["--transition-width", "40"]`) to every run
    /// after the job's own.
    pub fn with_options(mut self, options: Vec<String>) -> Self {
        self.options = options;
        self
    }

    /// The trainer in `training_dir` (the directory holding `zplan_train/`), run by `python`
    /// when given, else by the project's `.venv/bin/python` beside that directory; checks that
    /// both exist.
    pub fn in_dir(
        training_dir: &Path,
        python: Option<&Path>,
        model: ModelKind,
    ) -> Result<Self, LoopError> {
        let package = training_dir.join("zplan_train/__main__.py");
        if !package.is_file() {
            return Err(LoopError::TrainerMissing {
                what: "the Python package zplan_train",
                looked: vec![package],
            });
        }
        let python = match python {
            Some(python) => python.to_path_buf(),
            None => training_dir.join("../.venv/bin/python"),
        };
        if !python.is_file() {
            return Err(LoopError::TrainerMissing {
                what: "the Python interpreter (`make deps` makes the project's .venv)",
                looked: vec![python],
            });
        }
        Ok(Self::new(python, training_dir.to_path_buf(), model))
    }

    /// Finds the trainer ([`ReferenceTrainer::in_dir`]): in the directory of
    /// [`TRAINING_DIR_VAR`], else in the first `training/` beside an ancestor of the running
    /// executable (a build tree's target/PROFILE/zplan).
    pub fn locate(python: Option<&Path>, model: ModelKind) -> Result<Self, LoopError> {
        let mut looked = Vec::new();
        let exe_dirs = std::env::current_exe()
            .and_then(|exe| exe.canonicalize())
            .map(|exe| {
                exe.ancestors()
                    .skip(1)
                    .map(|dir| dir.join("training"))
                    .collect()
            })
            .unwrap_or_else(|_| Vec::new());
        let candidates = std::env::var_os(TRAINING_DIR_VAR)
            .map(PathBuf::from)
            .into_iter()
            .chain(exe_dirs);
        for dir in candidates {
            if dir.join("zplan_train/__main__.py").is_file() {
                return Self::in_dir(&dir, python, model);
            }
            looked.push(dir);
        }
        Err(LoopError::TrainerMissing {
            what: "the Python package zplan_train",
            looked,
        })
    }
}

impl Trainer for ReferenceTrainer {
    fn train(&self, job: &TrainJob) -> Result<(), LoopError> {
        let mut command = Command::new(&self.python);
        command
            .args(["-m", "zplan_train", "--task", &job.task])
            .args(["--model", self.model.name()])
            .arg("--data")
            .arg(&job.data)
            .arg("--out")
            .arg(&job.out)
            .args(["--epochs", &job.epochs.to_string()])
            .args(["--horizon", &job.horizon.to_string()])
            .args(["--seed", &job.seed.to_string()])
            .args(&self.options)
            .env("PYTHONPATH", &self.training_dir);
        job.export(&mut command);
        run_to_completion(command, &self.python.display().to_string())
    }
}

/// Runs the job and returns the latent bundle it wrote, validated by loading it.
pub fn train_bundle(trainer: &dyn Trainer, job: &TrainJob) -> Result<Bundle, LoopError> {
    trainer.train(job)?;
    Bundle::load(&job.out).map_err(LoopError::Refused)
}

/// Runs the job and returns the video bundle it wrote, validated by loading it.
pub fn train_video_bundle(trainer: &dyn Trainer, job: &TrainJob) -> Result<VideoBundle, LoopError> {
    trainer.train(job)?;
    VideoBundle::load(&job.out).map_err(LoopError::Refused)
}

/// What [`retrain`] did with the running planner.
#[derive(Debug)]
pub enum Retrain {
    /// The new bundle serves; its total training loss as its manifest records it.
    Swapped {
        /// `provenance.losses["total"]` of the new bundle.
        loss: Option<f64>,
    },
    /// The old bundle still serves.
    Kept {
        /// Why the new one was not swapped in.
        reason: String,
    },
}

/// Trains, validates, then swaps the new bundle into `planner` or keeps the old one with the
/// reason: a failed run, a bundle that does not load, or one the planner refuses (other sizes).
pub fn retrain(planner: &mut Planner, trainer: &dyn Trainer, job: &TrainJob) -> Retrain {
    let swapped = train_bundle(trainer, job).and_then(|bundle| {
        let loss = bundle.manifest().provenance.losses.get("total").copied();
        planner.swap_bundle(bundle)?;
        Ok(loss)
    });
    match swapped {
        Ok(loss) => Retrain::Swapped { loss },
        Err(LoopError::Plan(e)) => Retrain::Kept {
            reason: format!("the planner refused it: {e}"),
        },
        Err(e) => Retrain::Kept {
            reason: e.to_string(),
        },
    }
}

/// A training job on a worker thread: the control loop keeps planning with the old bundle and
/// picks up the validated new one when it is ready.
pub struct TrainerThread {
    trainer: Arc<dyn Trainer>,
    running: Option<JoinHandle<Result<Bundle, LoopError>>>,
}

impl TrainerThread {
    /// No job running yet.
    pub fn new(trainer: Arc<dyn Trainer>) -> Self {
        Self {
            trainer,
            running: None,
        }
    }

    /// Starts `job` ([`train_bundle`]) on a new thread named `zplan-trainer`.
    pub fn start(&mut self, job: TrainJob) -> Result<(), LoopError> {
        if self.running.is_some() {
            return Err(LoopError::TrainerBusy);
        }
        let trainer = Arc::clone(&self.trainer);
        let handle = std::thread::Builder::new()
            .name("zplan-trainer".into())
            .spawn(move || train_bundle(trainer.as_ref(), &job))
            .map_err(|source| LoopError::TrainerStart {
                program: "the zplan-trainer thread".into(),
                source,
            })?;
        self.running = Some(handle);
        Ok(())
    }

    /// Whether a job was started and has not been collected.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// The job's result once it has finished; None while it runs or when none was started.
    pub fn poll(&mut self) -> Option<Result<Bundle, LoopError>> {
        if self.running.as_ref()?.is_finished() {
            self.wait()
        } else {
            None
        }
    }

    /// Blocks until the job finishes and returns its result; None when none was started.
    pub fn wait(&mut self) -> Option<Result<Bundle, LoopError>> {
        let handle = self.running.take()?;
        Some(handle.join().unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(LoopError::TrainerPanicked(message))
        }))
    }
}

impl Drop for TrainerThread {
    /// Waits for a running job: its trainer process and files are not left behind half-done.
    fn drop(&mut self) {
        let _ = self.wait();
    }
}
