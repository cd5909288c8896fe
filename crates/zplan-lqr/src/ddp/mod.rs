//! iLQR and box-constrained DDP on user dynamics and costs.

mod problem;
mod settings;
mod solution;
mod solve;
mod workspace;

pub use problem::Problem;
pub use settings::Settings;
pub use solution::{IterationRecord, LOG_CAPACITY, PhaseTimes, Solution, Status};
pub use solve::{BatchReport, solve, solve_batch, solve_batch_until};
pub use workspace::{PhaseEstimates, Workspace};
