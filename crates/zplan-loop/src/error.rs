//! What can go wrong in the loop.

use std::path::PathBuf;
use std::process::ExitStatus;

use zplan_buffer::BufferError;
use zplan_mpc::PlanError;
use zplan_onnx::BundleError;

/// An error of the loop machinery: the planner's, the buffer's, a bundle's, or the trainer's.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    /// Planning failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The transition buffer refused a row or could not be written.
    #[error(transparent)]
    Buffer(#[from] BufferError),
    /// A network failed, or a bundle failed to load.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The trainer could not be started.
    #[error("cannot start the trainer `{program}`: {source}")]
    TrainerStart {
        /// The program run.
        program: String,
        /// Why it did not start.
        source: std::io::Error,
    },
    /// The trainer ran and failed.
    #[error("the trainer failed ({status}): `{program}`")]
    TrainerFailed {
        /// The program run.
        program: String,
        /// Its exit status.
        status: ExitStatus,
    },
    /// The trainer finished, and the bundle it wrote does not load.
    #[error("the trainer wrote a bundle zplan refuses: {0}")]
    Refused(#[source] BundleError),
    /// The reference trainer's files are not where they are looked for.
    #[error("the reference trainer is not installed: {what} (looked in {looked:?})")]
    TrainerMissing {
        /// What is missing.
        what: &'static str,
        /// Where it was looked for.
        looked: Vec<PathBuf>,
    },
    /// A training job is already running on this trainer thread.
    #[error("a training job is already running")]
    TrainerBusy,
    /// The worker thread of a training job panicked.
    #[error("the training thread panicked: {0}")]
    TrainerPanicked(String),
}
