//! The loop a robot stack runs around the latent planner: model-based RL "version 1.5".
//!
//! ```text
//! D <- transitions of a base policy                            (Recorder::random_episodes)
//! model <- train(D)                                            (Trainer, train_bundle)
//! repeat:
//!     for N steps: o <- camera; u <- plan(o); apply u; observe o', r
//!                  D <- D + (o, u, r, o')                      (run_episode, Recorder)
//!     model' <- train(all of D); validate; swap it in or keep  (retrain, TrainerThread)
//!               the old one with the reason
//! ```
//!
//! - [`run_episode`] and [`evaluate`]: episodes of a benchmark task under a [`Planner`],
//!   scored as docs/tasks.md scores them, with the latency of every MPC step.
//! - [`Recorder`]: a transition buffer being written, committed every [`COMMIT_EVERY`] rows.
//! - [`Trainer`]: the job protocol of training ([`TrainJob`]); [`CommandTrainer`] runs a shell
//!   command, [`ReferenceTrainer`] the project's PyTorch trainer. [`train_bundle`] loads what a
//!   trainer wrote (a bundle zplan refuses is an error), [`retrain`] swaps it into a running
//!   planner or keeps the old model with the reason, and [`TrainerThread`] runs a job on a worker
//!   thread so that the control loop keeps planning meanwhile.
//!
//! [`Planner`]: zplan_mpc::Planner

mod episode;
mod error;
mod recorder;
mod stats;
mod trainer;

pub use episode::{Evaluation, PHASES, Step, evaluate, run_episode};
pub use error::LoopError;
pub use recorder::{COMMIT_EVERY, Recorder};
pub use stats::quantile;
pub use trainer::{
    CommandTrainer, ModelKind, ReferenceTrainer, Retrain, TRAINING_DIR_VAR, TrainJob, Trainer,
    TrainerThread, retrain, train_bundle, train_video_bundle,
};
