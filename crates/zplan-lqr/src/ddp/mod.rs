//! iLQR and box-constrained DDP on user dynamics and costs.

mod problem;
mod settings;
mod solution;
mod solve;
mod workspace;

pub use problem::Problem;
pub use settings::Settings;
pub use solution::{IterationRecord, LOG_CAPACITY, PhaseTimes, Solution, Status};
pub use solve::solve;
pub use workspace::Workspace;
