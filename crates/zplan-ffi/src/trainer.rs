//! Training from a robot stack: a trainer (a shell command, or the reference PyTorch trainer)
//! runs a job on a worker thread while the control loop keeps planning; the loop polls for the
//! bundle, which comes back loaded and checked, and swaps it in with `zp_planner_swap_bundle`.

use std::ffi::c_char;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use zplan_loop::{
    CommandTrainer, LoopError, ModelKind, ReferenceTrainer, TrainJob, Trainer, TrainerThread,
};

use crate::bundle::zp_bundle;
use crate::status::{
    Failure, Handle, Result, free_handle, guard, non_null, utf8, with_handle, write_handle,
};
use crate::zp_status;

/// Model kind of `zp_trainer_new_reference`: PC3 (prediction, consistency, curvature).
pub const ZP_MODEL_PC3: u32 = 0;
/// Model kind of `zp_trainer_new_reference`: a deterministic encoder and latent dynamics.
pub const ZP_MODEL_DETERMINISTIC: u32 = 1;
/// Model kind of `zp_trainer_new_reference`: Embed to Control (locally linear dynamics).
pub const ZP_MODEL_E2C: u32 = 2;

/// One training run. The trainer reads it from its environment: ZPLAN_TASK, ZPLAN_DATA,
/// ZPLAN_OUT, ZPLAN_EPOCHS, ZPLAN_HORIZON and ZPLAN_SEED. The strings are copied by
/// `zp_trainer_start`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct zp_train_job {
    /// The task's name (a benchmark task's for the reference trainer).
    pub task: *const c_char,
    /// Transition buffer directory to train on (`zp_buffer_create`'s).
    pub data_dir: *const c_char,
    /// Directory the trainer writes the bundle into.
    pub out_dir: *const c_char,
    /// Training epochs.
    pub epochs: u32,
    /// Prediction steps of the loss (1: single transitions).
    pub horizon: u32,
    /// Seed of the run.
    pub seed: u64,
}

/// A trainer and at most one job running on its worker thread. Made by `zp_trainer_new_command`
/// or `zp_trainer_new_reference`, freed by `zp_trainer_free`. Not thread-safe: the caller
/// serialises calls on one trainer (it may move between threads). The worker thread, named
/// `zplan-trainer`, is the only thread the library starts, and only `zp_trainer_start` starts
/// it; it runs the trainer's process and loads the bundle, and ends with the job.
pub struct zp_trainer {
    thread: TrainerThread,
    poison: AtomicBool,
}

impl Handle for zp_trainer {
    const NAME: &'static str = "zp_trainer";
    fn poison(&self) -> &AtomicBool {
        &self.poison
    }
}

impl From<LoopError> for Failure {
    fn from(e: LoopError) -> Self {
        match e {
            LoopError::Bundle(e) => e.into(),
            LoopError::Plan(e) => e.into(),
            LoopError::Buffer(e) => e.into(),
            LoopError::Refused(_) => Failure::new(zp_status::ZP_BUNDLE, e.to_string()),
            LoopError::TrainerBusy => Failure::new(zp_status::ZP_BUSY, e.to_string()),
            e => Failure::new(zp_status::ZP_TRAINER, e.to_string()),
        }
    }
}

/// # Safety
/// `out` is NULL or writable.
unsafe fn new_trainer(trainer: Arc<dyn Trainer>, out: *mut *mut zp_trainer) -> Result<()> {
    let handle = zp_trainer {
        thread: TrainerThread::new(trainer),
        poison: AtomicBool::new(false),
    };
    // SAFETY: the caller's contract.
    unsafe { write_handle(out, handle) }
}

/// A trainer that runs `sh -c command` with the job in its environment and succeeds when the
/// command exits 0 with a bundle in ZPLAN_OUT. The caller owns the new handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_trainer_new_command(
    command: *const c_char,
    out: *mut *mut zp_trainer,
) -> zp_status {
    guard(|| {
        non_null(out, "out")?;
        // SAFETY: the caller passes NULL or a NUL-terminated string.
        let command = unsafe { utf8(command, "command") }?;
        // SAFETY: `out` is writable (the contract).
        unsafe { new_trainer(Arc::new(CommandTrainer::new(command)), out) }
    })
}

/// The project's PyTorch trainer (`python -m zplan_train`) in `training_dir` (the directory
/// holding the package `zplan_train`), run by `python` (NULL: `training_dir/../.venv/bin/python`),
/// training models of kind `model` (`ZP_MODEL_*`). Fails with ZP_TRAINER when either file is
/// missing. The caller owns the new handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_trainer_new_reference(
    training_dir: *const c_char,
    python: *const c_char,
    model: u32,
    out: *mut *mut zp_trainer,
) -> zp_status {
    guard(|| {
        non_null(out, "out")?;
        // SAFETY: the caller passes NULL or NUL-terminated strings.
        let training_dir = unsafe { utf8(training_dir, "training_dir") }?;
        let python = if python.is_null() {
            None
        } else {
            // SAFETY: as above.
            Some(PathBuf::from(unsafe { utf8(python, "python") }?))
        };
        let model = match model {
            ZP_MODEL_PC3 => ModelKind::Pc3,
            ZP_MODEL_DETERMINISTIC => ModelKind::Deterministic,
            ZP_MODEL_E2C => ModelKind::E2c,
            other => {
                return Err(Failure::new(
                    zp_status::ZP_INVALID_ARGUMENT,
                    format!("model = {other}: not a ZP_MODEL_* kind"),
                ));
            }
        };
        let trainer = ReferenceTrainer::in_dir(Path::new(training_dir), python.as_deref(), model)?;
        // SAFETY: `out` is writable (the contract).
        unsafe { new_trainer(Arc::new(trainer), out) }
    })
}

/// Starts `job` on the trainer's worker thread and returns at once. ZP_BUSY while an earlier
/// job has not been collected by `zp_trainer_poll` or `zp_trainer_wait`. Needs
/// `zp_runtime_init` (the worker loads the bundle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_trainer_start(
    trainer: *mut zp_trainer,
    job: *const zp_train_job,
) -> zp_status {
    // SAFETY: `trainer` is NULL or live and ours for the call (the contract).
    unsafe {
        with_handle(trainer, |t| {
            // SAFETY (inside the enclosing unsafe block): `job` is NULL or readable (the
            // contract).
            let job = job
                .as_ref()
                .ok_or_else(|| Failure::new(zp_status::ZP_NULL_POINTER, "job is NULL"))?;
            if zplan_onnx::Runtime::get().is_none() {
                return Err(Failure::new(
                    zp_status::ZP_RUNTIME,
                    "ONNX Runtime is not loaded: call zp_runtime_init first",
                ));
            }
            // The job's strings are NULL or NUL-terminated (the contract).
            let task = utf8(job.task, "job.task")?;
            let data = utf8(job.data_dir, "job.data_dir")?;
            let out = utf8(job.out_dir, "job.out_dir")?;
            if job.epochs == 0 || job.horizon == 0 {
                return Err(Failure::new(
                    zp_status::ZP_INVALID_ARGUMENT,
                    "job.epochs and job.horizon must be at least 1",
                ));
            }
            Ok(t.thread.start(TrainJob {
                task: task.to_owned(),
                data: data.into(),
                out: out.into(),
                epochs: job.epochs as usize,
                horizon: job.horizon as usize,
                seed: job.seed,
            })?)
        })
    }
}

/// Collects the trainer's job into `*out`: `blocking` waits for it, else a running job is
/// ZP_PENDING.
///
/// # Safety
/// `trainer` is NULL or live and ours for the call; `out` is NULL or writable.
unsafe fn collect(trainer: *mut zp_trainer, out: *mut *mut zp_bundle, blocking: bool) -> zp_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_handle(trainer, |t| {
            non_null(out, "out")?;
            if !t.thread.is_running() {
                return Err(Failure::new(
                    zp_status::ZP_INVALID_ARGUMENT,
                    "no training job is running: call zp_trainer_start first",
                ));
            }
            let finished = if blocking {
                t.thread.wait()
            } else {
                t.thread.poll()
            };
            let bundle = finished.ok_or_else(|| {
                Failure::new(zp_status::ZP_PENDING, "the training job is still running")
            })??;
            write_handle(out, zp_bundle::new(bundle))
        })
    }
}

/// Collects the running job without blocking: ZP_PENDING while it runs (`*out` untouched);
/// once it has finished, ZP_OK with the new bundle in `*out` (loaded and checked; the caller
/// owns it and usually hands it to `zp_planner_swap_bundle`), or the job's error (ZP_TRAINER:
/// the trainer did not start or failed; ZP_BUNDLE: the bundle it wrote does not load). A
/// collected job frees the trainer for the next `zp_trainer_start`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_trainer_poll(
    trainer: *mut zp_trainer,
    out: *mut *mut zp_bundle,
) -> zp_status {
    // SAFETY: the contract of `collect`, passed on.
    unsafe { collect(trainer, out, false) }
}

/// As `zp_trainer_poll`, but blocks until the job has finished. Never call it on the control
/// thread: training takes minutes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_trainer_wait(
    trainer: *mut zp_trainer,
    out: *mut *mut zp_bundle,
) -> zp_status {
    // SAFETY: the contract of `collect`, passed on.
    unsafe { collect(trainer, out, true) }
}

/// Frees a trainer (NULL is ignored), first waiting for a running job to finish; a bundle it
/// made and nobody collected is freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_trainer_free(trainer: *mut zp_trainer) {
    // SAFETY: the contract of `_free`.
    unsafe { free_handle(trainer) };
}
