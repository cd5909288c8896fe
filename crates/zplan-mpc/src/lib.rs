//! zplan-mpc: plans robot actions from camera images in the latent space of a learned model.
//!
//! [`Planner`] encodes the current (stacked) observation and the goal image with the bundle's
//! encoder and runs box-constrained DDP ([`zplan_lqr`]) over the bundle's latent dynamics
//! ([`LatentDynamics`], Jacobians from the model's A/B heads or batched finite differences)
//! from several initial action sequences, in a receding-horizon loop.
//!
//! [`ObservationPlanner`] plans in observation space over a video bundle (Visual Foresight):
//! CEM over action sequences scored by where the bundle's predictor carries designated pixels
//! ([`PixelGoal`]); [`SimulatorPlanner`] runs the same search on a task's true dynamics (the
//! bound a perfect model would reach).

mod dynamics;
mod frames;
mod observation;
mod planner;
mod reward;
mod sampling;
mod simulated;
mod terminal;

pub use dynamics::{DynamicsCalls, LatentDynamics};
pub use frames::FrameStack;
pub use observation::{ObservationPlanner, ObservationSettings, ObservationTimes, PixelGoal};
pub use planner::{
    Cut, MAX_CANDIDATES, MAX_HORIZON, Objective, PlanError, PlanTimes, Planner, PlannerKind,
    PlannerSettings,
};
pub use reward::RewardCost;
pub use sampling::{MAX_SAMPLES, SamplingReport, SamplingRule, SamplingSettings};
pub use simulated::{PointGoal, SimulatorPlanner};
