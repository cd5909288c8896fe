//! The observation-space planner on a video bundle whose predictor moves the image and the maps
//! by exactly the action (zplan-onnx's `video-shift` fixture), through the real ONNX Runtime.

use std::path::PathBuf;

use ndarray::Array3;
use zplan_mpc::{ObservationPlanner, ObservationSettings, PixelGoal, PlanError};
use zplan_onnx::VideoBundle;

fn planner(settings: ObservationSettings) -> ObservationPlanner {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../zplan-onnx/tests/fixtures/video-shift");
    ObservationPlanner::new(VideoBundle::load(&dir).unwrap(), settings).unwrap()
}

/// Two 16 x 16 context frames with a bright square, oldest first.
fn frames() -> Array3<u8> {
    Array3::from_shape_fn((2, 16, 16), |(_, y, x)| {
        if (3..7).contains(&x) && (3..7).contains(&y) {
            255
        } else {
            20
        }
    })
}

#[test]
fn the_planner_carries_a_designated_pixel_onto_its_goal() {
    let mut planner = planner(ObservationSettings::default());
    let goal = [11.5, 10.5];
    let distance = |a: [f64; 2]| ((a[0] - goal[0]).powi(2) + (a[1] - goal[1]).powi(2)).sqrt();
    let mut position = [4.5, 4.5];
    let mut closest = distance(position);
    planner
        .set_pixel_goals(&[PixelGoal {
            from: position,
            to: goal,
        }])
        .unwrap();
    // The world moves the spot by the action, as the predictor does; the planner is told
    // nothing but the frames and tracks the spot with its own carried map.
    for _ in 0..14 {
        let action = planner.plan(frames().view()).unwrap().to_owned();
        assert!(action.iter().all(|u| (-1.0..=1.0).contains(u)), "{action}");
        position = [position[0] + action[0], position[1] + action[1]];
        closest = closest.min(distance(position));
        assert!(planner.report().best_cost.is_finite());
        assert!(planner.predicted_maps().iter().all(|v| v.is_finite()));
    }
    // 9.2 px away at the start, at most 1 px per axis a step: it gets there and stays near (the
    // carried map blurs with every fractional move, which flattens the cost near the goal).
    assert!(closest < 0.5, "the spot came no closer than {closest} px");
    assert!(distance(position) < 2.0, "the spot ended at {position:?}");
    let mean = planner.designated_means();
    let carried = [mean[[0, 0]], mean[[0, 1]]];
    let tracking = ((carried[0] - position[0]).powi(2) + (carried[1] - position[1]).powi(2)).sqrt();
    assert!(
        tracking < 1e-3,
        "the carried map's mean {carried:?}, the spot {position:?}"
    );
    let times = planner.times();
    assert_eq!(times.predictor_calls, 3 * 15);
    assert!(times.predictor <= times.total);
}

#[test]
fn the_same_seed_gives_the_same_plan_and_another_seed_another() {
    let goals = [
        PixelGoal {
            from: [2.0, 3.0],
            to: [9.0, 12.0],
        },
        PixelGoal {
            from: [8.0, 8.0],
            to: [1.0, 1.0],
        },
    ];
    let plans: Vec<Vec<f64>> = [0, 0, 1]
        .into_iter()
        .map(|seed| {
            let mut planner = planner(ObservationSettings {
                seed,
                ..ObservationSettings::default()
            });
            planner.set_pixel_goals(&goals).unwrap();
            planner.plan(frames().view()).unwrap();
            planner.plan_actions().to_vec()
        })
        .collect();
    assert_eq!(plans[0], plans[1]);
    assert_ne!(plans[0], plans[2]);
}

#[test]
fn float_frames_plan_as_the_same_bytes_do_and_nan_is_refused() {
    let goals = [PixelGoal {
        from: [4.5, 4.5],
        to: [11.5, 10.5],
    }];
    let bytes = frames();
    let mut floats = bytes.mapv(|v| f32::from(v) * (1.0 / 255.0));
    let mut plans = Vec::new();
    for as_floats in [false, true] {
        let mut planner = planner(ObservationSettings::default());
        planner.set_pixel_goals(&goals).unwrap();
        if as_floats {
            floats[[1, 2, 3]] = f32::NAN;
            match planner.plan_f32(floats.view()) {
                Err(PlanError::Bundle(zplan_onnx::BundleError::NonFinite { index, .. })) => {
                    assert_eq!(index, 256 + 2 * 16 + 3)
                }
                other => panic!("expected a NonFinite error, got {other:?}"),
            }
            floats[[1, 2, 3]] = f32::from(bytes[[1, 2, 3]]) * (1.0 / 255.0);
            planner.plan_f32(floats.view()).unwrap();
        } else {
            planner.plan(bytes.view()).unwrap();
        }
        plans.push(planner.plan_actions().to_vec());
    }
    assert_eq!(plans[0], plans[1]);
}

#[test]
fn goals_outside_the_image_and_plans_without_goals_are_errors() {
    let mut planner = planner(ObservationSettings::default());
    assert!(matches!(
        planner.plan(frames().view()),
        Err(PlanError::NoPixelGoal)
    ));
    let inside = PixelGoal {
        from: [1.0, 1.0],
        to: [15.9, 15.9],
    };
    for (bad, name) in [
        ([16.0, 3.0], "to"),
        ([-0.5, 3.0], "to"),
        ([3.0, f64::NAN], "to"),
    ] {
        match planner.set_pixel_goals(&[inside, PixelGoal { to: bad, ..inside }]) {
            Err(PlanError::PixelGoal { index, problem }) => {
                assert_eq!(index, 1);
                assert!(
                    problem.contains(name) && problem.contains("16 x 16"),
                    "{problem}"
                );
            }
            other => panic!("expected a PixelGoal error, got {other:?}"),
        }
    }
    match planner.set_pixel_goals(&[inside; 5]) {
        Err(PlanError::PixelGoal { problem, .. }) => {
            assert!(problem.contains("1 to 4"), "{problem}")
        }
        other => panic!("expected a PixelGoal error, got {other:?}"),
    }
    planner.set_pixel_goals(&[inside]).unwrap();
    assert!(matches!(
        planner.set_designated_pixels(&[[1.0, 1.0], [2.0, 2.0]]),
        Err(PlanError::PixelGoal { .. })
    ));
    assert!(matches!(
        planner.set_designated_pixels(&[[1.0, 16.0]]),
        Err(PlanError::PixelGoal { index: 0, .. })
    ));
    planner.set_designated_pixels(&[[5.2, 7.9]]).unwrap();
    assert_eq!(planner.designated_means()[[0, 0]], 5.5);
    assert_eq!(planner.designated_means()[[0, 1]], 7.5);
    let wrong = Array3::<u8>::zeros((1, 16, 16));
    assert!(matches!(
        planner.plan(wrong.view()),
        Err(PlanError::Bundle(_))
    ));
    assert!(planner.plan(frames().view()).is_ok());
}

#[test]
fn the_search_on_the_true_simulator_pushes_the_object_toward_its_goal() {
    use zplan_envs::TaskKind;
    use zplan_mpc::{PointGoal, SimulatorPlanner};

    let task = TaskKind::Push.task();
    let mut planner =
        SimulatorPlanner::new(TaskKind::Push.task(), ObservationSettings::default()).unwrap();
    assert!(matches!(
        planner.plan(&[5.0, 16.0, 10.0, 16.0]),
        Err(PlanError::NoPixelGoal)
    ));
    let goal = [20.0, 16.0];
    planner
        .set_point_goals(&[PointGoal {
            components: [2, 3],
            to: goal,
        }])
        .unwrap();
    // Pusher just left of the object, the goal 10 px to its right.
    let mut state = vec![4.0, 16.0, 10.0, 16.0];
    let mut next = state.clone();
    for _ in 0..20 {
        let action = planner.plan(&state).unwrap().to_vec();
        task.step(&state, &action, &mut next);
        std::mem::swap(&mut state, &mut next);
    }
    let left = ((state[2] - goal[0]).powi(2) + (state[3] - goal[1]).powi(2)).sqrt();
    assert!(
        left < 3.0,
        "the object ended {left} px from its goal: {state:?}"
    );
}

#[test]
fn a_swapped_bundle_keeps_the_goals_and_one_for_other_images_is_refused() {
    let mut planner = planner(ObservationSettings::default());
    planner
        .set_pixel_goals(&[PixelGoal {
            from: [4.5, 4.5],
            to: [11.5, 10.5],
        }])
        .unwrap();
    planner.plan(frames().view()).unwrap();
    let carried = planner.designated_means();
    let push = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/push");
    match planner.swap_bundle(VideoBundle::load(&push).unwrap()) {
        Err(PlanError::BundleMismatch(problem)) => {
            assert_eq!(
                problem,
                "it takes 2 frames of 1x32x32 images, the planner 2 frames of 1x16x16 images"
            )
        }
        other => panic!("expected a BundleMismatch error, got {other:?}"),
    }
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../zplan-onnx/tests/fixtures/video-shift");
    planner
        .swap_bundle(VideoBundle::load(&dir).unwrap())
        .unwrap();
    assert_eq!(planner.designated_means(), carried);
    let action = planner.plan(frames().view()).unwrap().to_owned();
    assert!(action.iter().all(|u| u.is_finite() && u.abs() <= 1.0));
}
