//! The C ABI of zplan: `libzplan` (cdylib and staticlib) and its header `include/zplan.h`,
//! generated from this crate by cbindgen.
//!
//! Rules every function follows:
//! - handles are opaque heap objects made by `zp_<type>_new` (or `_load`, `_create`, `_open`)
//!   and released by `zp_<type>_free` (or `zp_buffer_close`); functions are `zp_<type>_<verb>`;
//! - every fallible function returns a `zp_status` and writes its out-parameters only on
//!   `ZP_OK`; every pointer is checked for NULL; arrays come with their length, checked against
//!   what the model or problem needs;
//! - `zp_last_error_message` gives the calling thread's last failure in words;
//! - no panic crosses the boundary: one is caught, reported as `ZP_PANIC`, and poisons the
//!   handle in use, which then refuses every call with `ZP_POISONED` but its `_free`.
//!
//! Threads: a function that takes a `const` handle may be called from several threads at once;
//! one that takes a non-`const` handle needs the caller to serialise calls on that handle.
//! Handles may move between threads.
//!
//! Allocations: after a latent planner's first plan call, its plan calls (`zp_planner_plan`,
//! `_plan_f32`, `_plan_frame`) allocate nothing in the whole process (no malloc from zplan,
//! ONNX Runtime or OpenBLAS) when the bundle's encoder and dynamics run on zplan's native
//! kernels (`zp_bundle_info.native_encoder` and `.native_dynamics`: the default wherever they
//! compile, as for every shipped bundle). A network left on ONNX Runtime allocates in each of
//! its runs (about 30 small blocks per run of a shipped encoder), and so does an observation
//! planner's video predictor. Loading, making a planner, setting a goal and swapping a bundle
//! allocate.

#![allow(non_camel_case_types)]
// Every `unsafe extern "C"` function states its contract in its doc comment, which becomes the
// header's; the `# Safety` section would repeat it.
#![allow(clippy::missing_safety_doc)]

mod buffer;
mod bundle;
mod lq;
mod planner;
mod runtime;
mod status;
mod trainer;

pub use buffer::*;
pub use bundle::*;
pub use lq::*;
pub use planner::*;
pub use runtime::*;
pub use status::zp_status;
pub use trainer::*;

/// Major version of zplan (the C header's and the library's).
pub const ZPLAN_VERSION_MAJOR: u32 = 0;
/// Minor version of zplan.
pub const ZPLAN_VERSION_MINOR: u32 = 1;
/// Patch version of zplan.
pub const ZPLAN_VERSION_PATCH: u32 = 0;
/// Version of the binary interface: raised whenever a type's layout or a function's signature
/// changes incompatibly. A program built against one ABI version needs a library of the same:
/// the shared library's SONAME is libzplan.so.N for ABI version N, so the loader refuses another.
pub const ZPLAN_ABI_VERSION: u32 = 8;

/// Kind of `zp_bundle_info`: encoder and latent dynamics (and optionally a decoder and a
/// reward model), planned over by `zp_planner_new`.
pub const ZP_BUNDLE_LATENT: u32 = 0;
/// Kind of `zp_bundle_info`: a video predictor over images and designated-pixel maps, planned
/// over by `zp_planner_new_observation`.
pub const ZP_BUNDLE_VIDEO: u32 = 1;

/// Planner of `zp_planner_settings`: box-DDP from random, bang-bang and warm-start candidates.
pub const ZP_PLANNER_DDP: u32 = 0;
/// Planner of `zp_planner_settings`: the cross-entropy method over action sequences.
pub const ZP_PLANNER_CEM: u32 = 1;
/// Planner of `zp_planner_settings`: MPPI (TD-MPC2's update rule) over action sequences.
pub const ZP_PLANNER_MPPI: u32 = 2;

/// Objective of `zp_planner_settings`: quadratic in latent space to the goal image.
pub const ZP_OBJECTIVE_GOAL: u32 = 0;
/// Objective of `zp_planner_settings`: the bundle's reward model, weighted by `reward_weight`.
pub const ZP_OBJECTIVE_REWARD: u32 = 1;

/// Solver outcome in `zp_plan_info` and `zp_lq_solution`: no solve has run.
pub const ZP_SOLVE_UNSOLVED: u32 = 0;
/// Solver outcome: the gradient or cost-change tolerance was met.
pub const ZP_SOLVE_CONVERGED: u32 = 1;
/// Solver outcome: the iteration limit ran out; the trajectory is the best found.
pub const ZP_SOLVE_MAX_ITERATIONS: u32 = 2;
/// Solver outcome: the time budget ran out; the trajectory is the best found.
pub const ZP_SOLVE_TIME_BUDGET: u32 = 3;
/// Solver outcome: no regularised step lowered the cost; the trajectory is the best found.
pub const ZP_SOLVE_REGULARIZATION_LIMIT: u32 = 4;
/// Solver outcome: `keep_best` other candidates had lower costs after an iteration, so this one
/// stopped; the trajectory is the best it found.
pub const ZP_SOLVE_OUTRANKED: u32 = 5;

/// What the deadline (`zp_planner_settings.deadline`) or a time budget cut from a plan
/// (`zp_plan_info.cut`): nothing, the plan ran to its end.
pub const ZP_CUT_NOTHING: u32 = 0;
/// Cut: everything after encoding, no time was left to roll the candidates out. The action is
/// the next of the previous plan (the middle of the action bounds when there is none), and
/// `zp_planner_get_plan` still gives the previous plan.
pub const ZP_CUT_SOLVE: u32 = 1;
/// Cut: the sampling planner's iterations after the first `zp_plan_info.sampling_iterations`.
pub const ZP_CUT_SAMPLING: u32 = 2;
/// Cut: box-DDP's iterations after the first `zp_plan_info.iterations` of its best candidate
/// (the candidates were rolled out; the best trajectory found so far is the plan).
pub const ZP_CUT_DDP: u32 = 3;

/// Severity of a message passed to a `zp_log_callback`, lowest first: detail for debugging.
pub const ZP_LOG_VERBOSE: u32 = 0;
/// Severity: what was loaded, and how.
pub const ZP_LOG_INFO: u32 = 1;
/// Severity: something works, but not as asked or expected (the default level).
pub const ZP_LOG_WARNING: u32 = 2;
/// Severity: a call failed.
pub const ZP_LOG_ERROR: u32 = 3;
/// Severity: the library cannot go on.
pub const ZP_LOG_FATAL: u32 = 4;

#[cfg(test)]
mod tests {
    #[test]
    fn version_constants_are_the_crate_version() {
        let version = format!(
            "{}.{}.{}",
            super::ZPLAN_VERSION_MAJOR,
            super::ZPLAN_VERSION_MINOR,
            super::ZPLAN_VERSION_PATCH
        );
        assert_eq!(version, env!("CARGO_PKG_VERSION"));
    }
}
