//! The planner and the dynamics adapter on zplan-onnx's fixture bundles, through the real
//! ONNX Runtime.

use std::path::PathBuf;

use ndarray::{Array2, Array3, Array4};
use zplan_lqr::Dynamics as _;
use zplan_mpc::{LatentDynamics, PlanError, Planner, PlannerSettings};
use zplan_onnx::Bundle;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../zplan-onnx/tests/fixtures")
        .join(name)
}

#[test]
fn the_adapter_passes_steps_and_jacobians_through_in_f64() {
    let (_, _, net, _, _) = Bundle::load(&fixture("mlp")).unwrap().into_parts();
    let mut reference = Bundle::load(&fixture("mlp")).unwrap();
    let mut dynamics = LatentDynamics::new(net);
    assert_eq!((dynamics.state_dim(), dynamics.control_dim()), (3, 2));
    let z = Array2::from_shape_fn((4, 3), |(i, j)| (i as f64 - j as f64) * 0.3);
    let u = Array2::from_shape_fn((4, 2), |(i, j)| (i + j) as f64 * 0.1 - 0.2);
    let mut next = Array2::zeros((4, 3));
    dynamics
        .step(0, z.view(), u.view(), next.view_mut())
        .unwrap();
    let mut want = Array2::<f32>::zeros((4, 3));
    reference
        .dynamics()
        .step(
            z.mapv(|v| v as f32).view(),
            u.mapv(|v| v as f32).view(),
            want.view_mut(),
        )
        .unwrap();
    assert!(
        next.iter()
            .zip(want.iter())
            .all(|(a, b)| (a - f64::from(*b)).abs() < 1e-6)
    );

    let mut jac = Array3::zeros((4, 3, 5));
    dynamics
        .linearize(z.view(), u.view(), jac.view_mut())
        .unwrap();
    let (mut a, mut b) = (
        Array3::<f32>::zeros((4, 3, 3)),
        Array3::<f32>::zeros((4, 3, 2)),
    );
    reference
        .dynamics()
        .jacobians(
            z.mapv(|v| v as f32).view(),
            u.mapv(|v| v as f32).view(),
            a.view_mut(),
            b.view_mut(),
        )
        .unwrap();
    for t in 0..4 {
        for i in 0..3 {
            for j in 0..3 {
                assert!((jac[[t, i, j]] - f64::from(a[[t, i, j]])).abs() < 1e-6);
            }
            for j in 0..2 {
                assert!((jac[[t, i, 3 + j]] - f64::from(b[[t, i, j]])).abs() < 1e-6);
            }
        }
    }
}

fn settings() -> PlannerSettings {
    PlannerSettings {
        horizon: 6,
        ..PlannerSettings::reference("planar").unwrap()
    }
}

#[test]
fn plans_respect_the_action_limits_and_report_cost_and_times() {
    let mut planner = Planner::new(Bundle::load(&fixture("mlp")).unwrap(), settings()).unwrap();
    let goal = Array4::from_shape_fn((1, 1, 8, 8), |(_, _, i, j)| if i == j { 255u8 } else { 0 });
    let obs = Array4::from_shape_fn((1, 1, 8, 8), |(_, _, i, j)| ((i * 8 + j) * 3) as u8);
    assert!(matches!(planner.plan(obs.view()), Err(PlanError::NoGoal)));
    planner.set_goal(goal.view()).unwrap();
    for _ in 0..3 {
        let action = planner.plan(obs.view()).unwrap().to_vec();
        assert_eq!(action.len(), 2);
        assert!(
            action.iter().all(|u| (-1.0..=1.0).contains(u)),
            "{action:?}"
        );
        let plan = planner.solution();
        assert!(plan.controls().iter().all(|u| u.abs() <= 1.0 + 1e-12));
        assert!(plan.cost().is_finite());
        assert!(planner.times().solve > std::time::Duration::ZERO);
        assert!(planner.solution().iterations() >= 1);
    }
}

#[test]
fn a_wrong_image_is_an_error_and_the_planner_keeps_working() {
    let mut planner = Planner::new(Bundle::load(&fixture("mlp")).unwrap(), settings()).unwrap();
    let good = Array4::<u8>::zeros((1, 1, 8, 8));
    planner.set_goal(good.view()).unwrap();
    let wrong = Array4::<u8>::zeros((1, 1, 7, 8));
    let err = planner.plan(wrong.view()).unwrap_err();
    assert!(err.to_string().contains("[1, 1, 7, 8]"), "{err}");
    planner
        .plan(good.view())
        .expect("plans after a refused input");
}
