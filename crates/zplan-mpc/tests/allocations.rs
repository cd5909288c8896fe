//! Heap allocations of a plan call (encoder, solver, network runs), counted by zplan-lqr's
//! counting allocator, installed in this test binary only.

#[path = "../../zplan-lqr/tests/counting_alloc/mod.rs"]
mod counting_alloc;

use std::path::PathBuf;

use counting_alloc::allocations_during;
use ndarray::{Array3, Array4};
use zplan_envs::TaskKind;
use zplan_mpc::{
    ObservationPlanner, ObservationSettings, PixelGoal, Planner, PlannerKind, PlannerSettings,
    SamplingSettings,
};
use zplan_onnx::{Bundle, VideoBundle};

/// One test function, so that no other test thread allocates while this one counts.
#[test]
fn a_plan_call_allocates_nothing_once_its_batch_sizes_have_been_seen() {
    let ddp = PlannerSettings {
        horizon: 6,
        ..PlannerSettings::reference(TaskKind::Planar)
    };
    plans_allocate_nothing(ddp.clone(), true);
    for sampling in [
        SamplingSettings::planet(),
        SamplingSettings::visual_foresight(),
        SamplingSettings::td_mpc2(),
    ] {
        for refine_with_ddp in [false, true] {
            let kind = PlannerKind::Sampling(SamplingSettings {
                samples: 64,
                iterations: 3,
                elites: 8,
                refine_with_ddp,
                ..sampling.clone()
            });
            plans_allocate_nothing(
                PlannerSettings {
                    kind,
                    ..ddp.clone()
                },
                refine_with_ddp,
            );
        }
    }
    observation_plans_allocate_nothing();
}

/// The observation-space planner on the video-shift fixture: after two plans, none.
fn observation_plans_allocate_nothing() {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../zplan-onnx/tests/fixtures/video-shift");
    let settings = ObservationSettings {
        sampling: SamplingSettings {
            samples: 40,
            ..SamplingSettings::visual_foresight()
        },
        ..ObservationSettings::default()
    };
    let mut planner = ObservationPlanner::new(VideoBundle::load(&dir).unwrap(), settings).unwrap();
    let goals = [
        PixelGoal {
            from: [3.0, 3.0],
            to: [12.0, 9.0],
        },
        PixelGoal {
            from: [10.0, 2.0],
            to: [2.0, 2.0],
        },
    ];
    planner.set_pixel_goals(&goals).unwrap();
    let frames = Array3::from_shape_fn((2, 16, 16), |(f, i, j)| ((f + i * 16 + j) % 256) as u8);
    for _ in 0..2 {
        planner.plan(frames.view()).unwrap();
    }
    for _ in 0..3 {
        let allocations = allocations_during(|| {
            planner.plan(frames.view()).unwrap();
        });
        assert_eq!(allocations, 0, "heap allocations in one observation plan");
    }
}

/// Plans on the mlp fixture until every batch size has been met, then counts the allocations
/// of three more plan calls; `iterates`: the plans run solver iterations.
fn plans_allocate_nothing(settings: PlannerSettings, iterates: bool) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../zplan-onnx/tests/fixtures/mlp");
    let mut planner = Planner::new(Bundle::load(&dir).unwrap(), settings).unwrap();
    let goal = Array4::from_shape_fn((1, 1, 8, 8), |(_, _, i, j)| if i == j { 255u8 } else { 0 });
    let obs = Array4::from_shape_fn((1, 1, 8, 8), |(_, _, i, j)| ((i * 8 + j) * 3) as u8);
    planner.set_goal(goal.view()).unwrap();
    // Setup: the first calls meet every batch size (candidates x stages, step sizes, ...).
    for _ in 0..5 {
        planner.plan(obs.view()).unwrap();
    }
    for _ in 0..3 {
        let allocations = allocations_during(|| {
            planner.plan(obs.view()).unwrap();
        });
        let iterations: usize = planner.candidates().iter().map(|c| c.iterations()).sum();
        assert!(
            !iterates || iterations > planner.candidates().len(),
            "the solver iterated"
        );
        assert_eq!(
            allocations,
            0,
            "heap allocations in one plan call with {:?}",
            planner.settings().kind
        );
    }
}
