//! The planner and the dynamics adapter on zplan-onnx's fixture bundles, through the real
//! ONNX Runtime.

use std::path::PathBuf;

use ndarray::{Array1, Array2, Array3, Array4, s};
use zplan_envs::TaskKind;
use zplan_lqr::Dynamics as _;
use zplan_lqr::{LqrProblem, LqrSolution, LqrWorkspace, Status, solve_lqr};
use zplan_mpc::{
    Cut, LatentDynamics, Objective, PlanError, Planner, PlannerKind, PlannerSettings, SamplingRule,
    SamplingSettings,
};
use zplan_onnx::{Bundle, BundleError, NetworkOptions};

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
        ..PlannerSettings::reference(TaskKind::Planar)
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
fn a_deadline_that_leaves_no_time_to_solve_gives_the_previous_plans_next_action() {
    let mut planner = Planner::new(Bundle::load(&fixture("mlp")).unwrap(), settings()).unwrap();
    let goal = Array4::from_shape_fn((1, 1, 8, 8), |(_, _, i, j)| if i == j { 255u8 } else { 0 });
    let obs = Array4::from_shape_fn((1, 1, 8, 8), |(_, _, i, j)| ((i * 8 + j) * 3) as u8);
    planner.set_goal(goal.view()).unwrap();
    planner.plan(obs.view()).unwrap();
    assert_eq!(planner.cut(), Cut::Nothing);
    let previous = planner.solution().controls().to_owned();

    // No phase fits: the plan ends after encoding, with the previous plan's next actions.
    planner.set_deadline(Some(std::time::Duration::ZERO));
    for step in 1..=2 {
        let action = planner.plan(obs.view()).unwrap().to_vec();
        assert_eq!(planner.cut(), Cut::Solve);
        assert_eq!(planner.status(), Status::TimeBudget);
        assert_eq!(action, previous.row(step).to_vec());
        assert!(planner.candidates().is_empty());
        assert_eq!(planner.solution().controls(), previous);
    }
    // Without a previous plan: the middle of the action bounds [-1, 1].
    planner.reset();
    assert_eq!(planner.plan(obs.view()).unwrap(), &[0.0, 0.0]);
    assert_eq!(planner.cut(), Cut::Solve);

    // Time enough: nothing is cut.
    planner.set_deadline(Some(std::time::Duration::from_secs(60)));
    planner.plan(obs.view()).unwrap();
    assert_eq!(planner.cut(), Cut::Nothing);
    assert_eq!(planner.candidates().len(), 6);
}

#[test]
fn settings_a_planner_cannot_use_are_refused_by_name_and_value() {
    let refused = |settings: PlannerSettings| {
        let bundle = Bundle::load(&fixture("linear")).unwrap();
        match Planner::new(bundle, settings) {
            Err(PlanError::Setting { name, value, .. }) => format!("{name} = {value}"),
            Err(other) => panic!("expected a Setting error, got {other}"),
            Ok(_) => panic!("accepted"),
        }
    };
    let mut huge = settings();
    huge.horizon = 1_000_000;
    assert_eq!(refused(huge), "horizon = 1000000");
    let mut idle = settings();
    idle.solver.max_iterations = 0;
    assert_eq!(refused(idle), "solver.max_iterations = 0");
    let free = PlannerSettings {
        r: 0.0,
        ..settings()
    };
    assert_eq!(refused(free), "r = 0");
    let crowd = PlannerSettings {
        random_candidates: 2000,
        ..settings()
    };
    assert_eq!(
        refused(crowd),
        "random_candidates + bang_bang_candidates = 2003"
    );
    let flood = PlannerSettings {
        kind: PlannerKind::Sampling(SamplingSettings {
            samples: 1_000_000,
            ..SamplingSettings::planet()
        }),
        ..settings()
    };
    assert_eq!(refused(flood), "samples = 1000000");
    // The sampling planners need no positive R.
    let bundle = Bundle::load(&fixture("linear")).unwrap();
    let sampling = PlannerSettings {
        kind: PlannerKind::Sampling(SamplingSettings::planet()),
        r: 0.0,
        ..settings()
    };
    assert!(Planner::new(bundle, sampling).is_ok());
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

/// The linear fixture's W (64 x 3), A (3 x 3) and B (3 x 2).
fn linear_reference() -> (Array2<f64>, Array2<f64>, Array2<f64>) {
    let text = std::fs::read_to_string(fixture("linear").join("reference.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let matrix = |name: &str| {
        let rows = json[name].as_array().unwrap();
        let cols = rows[0].as_array().unwrap().len();
        Array2::from_shape_fn((rows.len(), cols), |(i, j)| rows[i][j].as_f64().unwrap())
    };
    (matrix("w"), matrix("a"), matrix("b"))
}

/// A test image and its exact encoding z = W' vec(obs / 255).
fn image(seed: usize, w: &Array2<f64>) -> (Array4<u8>, Array1<f64>) {
    let obs = Array4::from_shape_fn((1, 1, 8, 8), |(_, _, i, j)| {
        ((i * 8 + j) * (seed + 3) * 37 % 256) as u8
    });
    let flat = Array1::from_iter(obs.iter().map(|&p| f64::from(p) / 255.0));
    (obs, w.t().dot(&flat))
}

/// The LQR solution of sum_t 1/2 (z_t - g)' q I (z_t - g) + 1/2 u_t' r I u_t
/// + 1/2 (z_T - g)' q I (z_T - g) over z_{t+1} = A z_t + B u_t from z0.
fn lqr_to_goal(
    a: &Array2<f64>,
    b: &Array2<f64>,
    q: f64,
    r: f64,
    z_goal: &Array1<f64>,
    z0: &Array1<f64>,
    horizon: usize,
) -> LqrSolution {
    let (n, m) = b.dim();
    let mut lqr = LqrProblem::new(n, m, horizon);
    for t in 0..horizon {
        lqr.a_mut(t).assign(a);
        lqr.b_mut(t).assign(b);
        lqr.q_mut(t).assign(&(Array2::eye(n) * q));
        lqr.r_mut(t).assign(&(Array2::eye(m) * r));
        lqr.q_lin_mut(t).assign(&(z_goal * -q));
    }
    lqr.q_terminal_mut().assign(&(Array2::eye(n) * q));
    lqr.q_lin_terminal_mut().assign(&(z_goal * -q));
    let mut solution = LqrSolution::new(n, m, horizon);
    solve_lqr(&lqr, z0.view(), &mut LqrWorkspace::new(n, m), &mut solution).unwrap();
    solution
}

/// A planner on the linear fixture aimed at `goal`: Q = q I, R = r I, 3 cold candidates solved
/// to convergence (10 iterations).
fn linear_planner(
    goal: &Array4<u8>,
    q: f64,
    r: f64,
    horizon: usize,
    terminal_steps: usize,
) -> Planner {
    let mut settings = PlannerSettings {
        horizon,
        q,
        r,
        terminal_steps,
        random_candidates: 2,
        bang_bang_candidates: 1,
        warm_start: false,
        ..PlannerSettings::reference(TaskKind::Planar)
    };
    settings.solver.max_iterations = 10;
    let mut planner = Planner::new(Bundle::load(&fixture("linear")).unwrap(), settings).unwrap();
    planner.set_goal(goal.view()).unwrap();
    planner
}

#[test]
fn on_an_exactly_linear_bundle_the_planner_reproduces_lqr() {
    let (w, a, b) = linear_reference();
    let (goal, z_goal) = image(1, &w);
    let (obs, z0) = image(2, &w);
    let (q, r, horizon) = (10.0, 1.0, 8);
    let mut planner = linear_planner(&goal, q, r, horizon, 0);
    let action = planner.plan(obs.view()).unwrap().to_vec();

    let want = lqr_to_goal(&a, &b, q, r, &z_goal, &z0, horizon);

    // f32 networks and finite-difference Jacobians: agreement to single precision.
    let plan = planner.solution();
    let controls = (&plan.controls().slice(s![..horizon, ..]) - &want.controls())
        .iter()
        .fold(0.0f64, |acc, v| acc.max(v.abs()));
    let scale = want
        .controls()
        .iter()
        .fold(0.0f64, |acc, v| acc.max(v.abs()));
    assert!(scale > 0.1, "a problem where the controls matter: {scale}");
    assert!(
        controls < 1e-3 * scale,
        "controls differ by {controls} (scale {scale})"
    );
    let gains = (&plan.gains().slice(s![..horizon, .., ..]) - &want.gains())
        .iter()
        .fold(0.0f64, |acc, v| acc.max(v.abs()));
    assert!(gains < 1e-3, "gains differ by {gains}");
    assert!((action[0] - want.controls()[[0, 0]]).abs() < 1e-3 * scale);
    // Every candidate lands on the same optimum, to the precision its finite-difference
    // Jacobians allow (f32 outputs differenced over h = 0.01: errors near 1e-4, so each
    // candidate's fixed point moves with the rounding of its own rollouts).
    for candidate in planner.candidates() {
        assert!((candidate.cost() - plan.cost()).abs() < 1e-5 * plan.cost().abs().max(1.0));
    }
}

/// With the terminal weight of N steps of LQR at the goal, a T-step plan on linear dynamics is
/// the first T steps of the (T + N)-step LQR solution: the terminal cost is that solution's
/// cost-to-go, drift at the goal included (f(z_g, 0) = A z_g is not z_g).
#[test]
fn the_terminal_weight_extends_the_horizon_by_its_lqr_steps() {
    let (w, a, b) = linear_reference();
    let (goal, z_goal) = image(1, &w);
    let (obs, z0) = image(2, &w);
    let (q, r, horizon, steps) = (10.0, 1.0, 3, 7);
    let mut planner = linear_planner(&goal, q, r, horizon, steps);
    planner.plan(obs.view()).unwrap();

    let long = lqr_to_goal(&a, &b, q, r, &z_goal, &z0, horizon + steps);
    let short = lqr_to_goal(&a, &b, q, r, &z_goal, &z0, horizon);
    let want = long.controls().slice(s![..horizon, ..]).to_owned();
    let scale = want.iter().fold(0.0f64, |acc, v| acc.max(v.abs()));
    let gap = |other: ndarray::ArrayView2<'_, f64>| {
        (&other.slice(s![..horizon, ..]) - &want)
            .iter()
            .fold(0.0f64, |acc, v| acc.max(v.abs()))
    };
    assert!(
        gap(short.controls()) > 0.05 * scale,
        "a problem where the longer horizon changes the plan: {} vs {scale}",
        gap(short.controls())
    );
    let plan = planner.solution().controls();
    assert!(
        gap(plan) < 1e-3 * scale,
        "controls differ by {} (scale {scale})",
        gap(plan)
    );
}

#[test]
fn a_warm_start_from_the_previous_plan_needs_fewer_iterations() {
    let mut settings = PlannerSettings {
        random_candidates: 1,
        bang_bang_candidates: 0,
        warm_start: true,
        ..settings()
    };
    settings.solver.max_iterations = 100;
    // The model's A/B outputs and the encoder on ONNX Runtime: the iteration counts below move
    // with the rounding of the Jacobians and of z (the native kernels' differ in the last bits).
    let options = NetworkOptions {
        native: false,
        native_encoder: false,
        ..NetworkOptions::default()
    };
    let bundle = Bundle::load_with(&fixture("mlp"), &options).unwrap();
    let mut planner = Planner::new(bundle, settings).unwrap();
    let goal = Array4::from_shape_fn((1, 1, 8, 8), |(_, _, i, j)| if i == j { 255u8 } else { 0 });
    let obs = Array4::from_shape_fn((1, 1, 8, 8), |(_, _, i, j)| ((i * 8 + j) * 3) as u8);
    planner.set_goal(goal.view()).unwrap();
    planner.plan(obs.view()).unwrap();
    assert_eq!(planner.candidates().len(), 1, "no previous plan yet");
    // Over several replans (a single replan's count moves by one or two iterations with the
    // rounding of the Jacobians).
    let (mut warm_total, mut cold_total) = (0, 0);
    for _ in 0..4 {
        planner.plan(obs.view()).unwrap();
        let [warm, cold] = planner.candidates() else {
            panic!("the warm start and one random candidate")
        };
        warm_total += warm.iterations();
        cold_total += cold.iterations();
    }
    assert!(
        warm_total < cold_total,
        "warm {warm_total} vs cold {cold_total}"
    );
}

#[test]
fn a_nan_observation_is_an_error_and_a_solver_failure_keeps_the_last_plan() {
    let (w, _, _) = linear_reference();
    let mut planner = Planner::new(Bundle::load(&fixture("linear")).unwrap(), settings()).unwrap();
    let (goal, _) = image(1, &w);
    let (obs, _) = image(2, &w);
    planner.set_goal(goal.view()).unwrap();
    planner.plan(obs.view()).unwrap();
    let good = planner.solution().controls().to_owned();
    let status = planner.status();

    let mut bad = obs.mapv(|p| f32::from(p) / 255.0);
    bad[[0, 0, 3, 4]] = f32::NAN;
    let err = planner.plan_f32(bad.view()).unwrap_err();
    assert!(err.to_string().contains("observation"), "{err}");
    let err = planner.set_goal_f32(bad.view()).unwrap_err();
    assert!(
        err.to_string().contains("NaN") || err.to_string().contains("finite"),
        "{err}"
    );

    // Pixels near f32::MAX overflow the linear encoder: the error names the encoder as the
    // source of the non-finite latent state.
    let huge = obs.mapv(|_| f32::MAX / 4.0);
    let err = planner.plan_f32(huge.view()).unwrap_err();
    assert!(err.to_string().contains("the encoder produced"), "{err}");
    assert!(
        matches!(
            err,
            PlanError::Bundle(BundleError::NonFiniteOutput {
                network: "encoder",
                ..
            })
        ),
        "{err}"
    );
    assert_eq!(
        planner.solution().controls(),
        good,
        "the last good plan is kept"
    );
    assert_eq!(planner.status(), status);
    planner
        .plan(obs.view())
        .expect("plans again after a failure");
}

#[test]
fn the_reward_objective_plans_without_a_goal_and_lowers_the_predicted_cost() {
    let settings = PlannerSettings {
        objective: Objective::Reward { weight: 5.0 },
        ..settings()
    };
    let mut planner =
        Planner::new(Bundle::load(&fixture("mlp")).unwrap(), settings.clone()).unwrap();
    let obs = Array4::from_shape_fn((1, 1, 8, 8), |(_, _, i, j)| ((i * 8 + j) * 3) as u8);
    let action = planner.plan(obs.view()).unwrap().to_vec();
    assert!(
        action.iter().all(|u| (-1.0..=1.0).contains(u)),
        "{action:?}"
    );

    // The best plan's cost is what the reward network says of its trajectory.
    let mut bundle = Bundle::load(&fixture("mlp")).unwrap();
    let plan = planner.solution();
    let (z, u) = (plan.states(), plan.controls());
    let horizon = plan.horizon();
    let zs = z.slice(s![..horizon, ..]).mapv(|v| v as f32);
    let us = u.slice(s![..horizon, ..]).mapv(|v| v as f32);
    let mut r = Array1::<f32>::zeros(horizon);
    bundle
        .reward()
        .unwrap()
        .reward(zs.view(), us.view(), r.view_mut())
        .unwrap();
    let mut terminal = Array1::<f32>::zeros(1);
    let z_end = z.slice(s![horizon..=horizon, ..]).mapv(|v| v as f32);
    bundle
        .reward()
        .unwrap()
        .reward(
            z_end.view(),
            Array2::<f32>::zeros((1, 2)).view(),
            terminal.view_mut(),
        )
        .unwrap();
    let want: f64 = (0..horizon)
        .map(|t| -5.0 * f64::from(r[t]) + 0.5 * u.row(t).dot(&u.row(t)))
        .sum::<f64>()
        - 5.0 * f64::from(terminal[0]);
    assert!(
        (plan.cost() - want).abs() < 1e-4 * want.abs().max(1.0),
        "{} vs {want}",
        plan.cost()
    );
    for candidate in planner.candidates() {
        assert!(
            candidate.cost() >= plan.cost(),
            "the best candidate is kept"
        );
        for pair in candidate.log().windows(2) {
            assert!(
                pair[1].cost <= pair[0].cost,
                "iterations never raise the cost"
            );
        }
    }

    // A bundle without a reward model cannot plan on it.
    let err = Planner::new(Bundle::load(&fixture("linear")).unwrap(), settings)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("reward model"), "{err}");
}

/// A copy of fixture `name` in a new scratch directory whose manifest records `terminal_steps`
/// as the planner choice of its model.
fn fixture_choosing(name: &str, terminal_steps: usize) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "zplan-mpc-{name}-n{terminal_steps}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    let manifest = dir.join("zplan.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    json["planner"] = serde_json::json!({ "terminal_steps": terminal_steps });
    std::fs::write(&manifest, json.to_string()).unwrap();
    dir
}

#[test]
fn a_swapped_bundle_brings_the_terminal_weight_it_records_and_keeps_the_other_settings() {
    let mut planner = Planner::new(Bundle::load(&fixture("mlp")).unwrap(), settings()).unwrap();
    assert_eq!(planner.settings().terminal_steps, 0);
    let chosen = fixture_choosing("linear", 7);
    planner.swap_bundle(Bundle::load(&chosen).unwrap()).unwrap();
    assert_eq!(planner.settings().terminal_steps, 7);
    assert_eq!(planner.settings().horizon, 6);
    // A bundle that records nothing leaves the terminal weight as it is.
    planner
        .swap_bundle(Bundle::load(&fixture("linear")).unwrap())
        .unwrap();
    assert_eq!(planner.settings().terminal_steps, 7);
    std::fs::remove_dir_all(chosen).unwrap();
}

#[test]
fn a_swapped_bundle_plans_to_the_same_goal_and_a_bad_one_is_refused() {
    let mut planner = Planner::new(Bundle::load(&fixture("mlp")).unwrap(), settings()).unwrap();
    let (w, a, b) = linear_reference();
    let (goal, _) = image(3, &w);
    let (obs, z0) = image(7, &w);
    planner.set_goal(goal.view()).unwrap();
    let before = planner.plan(obs.view()).unwrap().to_vec();

    // Another model for the same images and actions: the goal is encoded again by its encoder.
    planner
        .swap_bundle(Bundle::load(&fixture("linear")).unwrap())
        .unwrap();
    let after = planner.plan(obs.view()).unwrap().to_vec();
    assert_ne!(before, after);
    // The plan now follows the linear model exactly: z_1 = A z_0 + B u_0 from the image's z_0.
    let plan = planner.solution();
    assert!((&plan.states().row(0) - &z0).iter().all(|d| d.abs() < 1e-4));
    let z1 = a.dot(&z0) + b.dot(&plan.controls().row(0));
    assert!((&plan.states().row(1) - &z1).iter().all(|d| d.abs() < 1e-3));

    // A model for other images is refused, and the planner keeps the one it has.
    let err = planner
        .swap_bundle(Bundle::load(&fixture("conv")).unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("actions") || err.to_string().contains("images"));
    assert_eq!(planner.plan(obs.view()).unwrap().len(), 2);
    let plan = planner.solution();
    let z1 = a.dot(&z0) + b.dot(&plan.controls().row(0));
    assert!((&plan.states().row(1) - &z1).iter().all(|d| d.abs() < 1e-3));
}

/// A sampling planner on the linear fixture aimed at `goal` (horizon 8, Q = 10 I, R = I).
fn sampling_planner(goal: &Array4<u8>, sampling: SamplingSettings, seed: u64) -> Planner {
    let settings = PlannerSettings {
        kind: PlannerKind::Sampling(sampling),
        horizon: 8,
        q: 10.0,
        r: 1.0,
        terminal_steps: 0,
        seed,
        ..PlannerSettings::reference(TaskKind::Planar)
    };
    let mut planner = Planner::new(Bundle::load(&fixture("linear")).unwrap(), settings).unwrap();
    planner.set_goal(goal.view()).unwrap();
    planner
}

/// CEM (diagonal and full covariance) and MPPI with enough samples and iterations for a
/// 2-action, 8-step problem. MPPI's
/// temperature is per unit of cost: this problem's sequence costs differ by hundreds between
/// elites, so TD-MPC2's 0.5 (for rewards of order 1 per step) would put all weight on one
/// sample and stall; 0.001 keeps tens of elites weighted.
fn converging_samplers() -> [(&'static str, SamplingSettings); 3] {
    let cem = SamplingSettings {
        samples: 1000,
        iterations: 25,
        elites: 50,
        std_init: 0.05,
        ..SamplingSettings::planet()
    };
    let mppi = SamplingSettings {
        samples: 1000,
        iterations: 25,
        elites: 50,
        rule: SamplingRule::Mppi {
            temperature: 0.001,
            std_min: 1e-4,
            std_max: 0.05,
        },
        std_init: 0.05,
        ..SamplingSettings::td_mpc2()
    };
    let full = SamplingSettings {
        full_covariance: true,
        ..cem.clone()
    };
    [("CEM", cem), ("CEM, full covariance", full), ("MPPI", mppi)]
}

#[test]
fn cem_and_mppi_find_the_lqr_plans_first_action_on_a_linear_bundle() {
    let (w, a, b) = linear_reference();
    let (goal, z_goal) = image(1, &w);
    let (obs, z0) = image(2, &w);
    let want = lqr_to_goal(&a, &b, 10.0, 1.0, &z_goal, &z0, 8);
    let first = want.controls().row(0).to_owned();
    let scale = first.iter().fold(0.0f64, |acc, v| acc.max(v.abs()));
    assert!(
        scale > 0.1,
        "a problem where the first action matters: {first}"
    );
    for (name, sampling) in converging_samplers() {
        let mut planner = sampling_planner(&goal, sampling, 3);
        let action = planner.plan(obs.view()).unwrap().to_vec();
        let error = action
            .iter()
            .zip(&first)
            .fold(0.0f64, |acc, (a, b)| acc.max((a - b).abs()));
        assert!(
            error < 0.05 * scale,
            "{name}: first action {action:?}, LQR {first} (scale {scale})"
        );
        let report = planner.sampling_report().unwrap();
        assert_eq!(report.iterations, 25);
        assert!(!report.stopped_by_budget);
        // The network calls are timed, and are part of the plan's solve.
        let times = planner.times();
        assert_eq!(times.sampled_dynamics, report.dynamics);
        assert!(report.dynamics > std::time::Duration::ZERO && report.dynamics < times.solve);
    }
}

#[test]
fn sampling_plans_hold_the_limits_repeat_with_the_seed_and_stop_at_the_budget() {
    let (w, _, _) = linear_reference();
    let (goal, _) = image(1, &w);
    let (obs, _) = image(2, &w);
    // Wide draws (std 2 half-ranges) against limits of +-100: most samples are clipped.
    let wide = SamplingSettings {
        samples: 200,
        std_init: 2.0,
        ..SamplingSettings::visual_foresight()
    };
    let plan = |seed: u64| {
        let mut planner = sampling_planner(&goal, wide.clone(), seed);
        planner.plan(obs.view()).unwrap();
        planner.solution().controls().to_owned()
    };
    let (a, b, c) = (plan(5), plan(5), plan(6));
    assert!(a.iter().all(|u| u.abs() <= 100.0), "{a}");
    assert_eq!(a, b, "the same seed gives the same plan");
    assert_ne!(a, c, "another seed draws other samples");
    // Actions held 3 steps: the plan's 8 steps are 3 decisions.
    assert_eq!(a.row(0), a.row(2));
    assert_eq!(a.row(3), a.row(5));

    let mut budgeted = sampling_planner(
        &goal,
        SamplingSettings {
            time_budget: Some(std::time::Duration::ZERO),
            ..SamplingSettings::td_mpc2()
        },
        0,
    );
    budgeted.plan(obs.view()).unwrap();
    let report = budgeted.sampling_report().unwrap();
    assert_eq!(report.iterations, 1, "stops after the first iteration");
    assert!(report.stopped_by_budget);

    let refined = SamplingSettings {
        refine_with_ddp: true,
        ..wide.clone()
    };
    let mut planner = sampling_planner(&goal, refined, 5);
    planner.plan(obs.view()).unwrap();
    assert_eq!(
        planner.candidates().len(),
        7,
        "DDP's 3 random and 3 bang-bang candidates (no warm start yet) and the sampled plan"
    );
}

#[test]
fn a_non_finite_network_output_in_a_sampled_rollout_is_an_error_and_the_planner_recovers() {
    // z' = z + log(u + 1): -inf wherever a sample is clipped to the limit u = -1, which wide
    // draws (TD-MPC2's initial std of 2 half-ranges) do on the first iteration.
    let settings = PlannerSettings {
        kind: PlannerKind::Sampling(SamplingSettings::td_mpc2()),
        horizon: 5,
        terminal_steps: 0,
        ..PlannerSettings::reference(TaskKind::Planar)
    };
    let bundle = Bundle::load(&fixture("nan-dynamics")).unwrap();
    let mut planner = Planner::new(bundle, settings).unwrap();
    let grey = Array4::from_elem((1, 1, 4, 4), 128u8);
    planner.set_goal(grey.view()).unwrap();
    let err = planner.plan(grey.view()).unwrap_err();
    assert!(err.to_string().contains("dynamics"), "{err}");
    assert!(
        matches!(
            err,
            PlanError::Solve(zplan_lqr::SolveError::Dynamics { stage: 0, .. })
        ),
        "{err:?}"
    );
    // The planner is whole: a bundle of the same shape whose dynamics are z + u plans.
    let healthy = Bundle::load(&fixture("nan-encoder")).unwrap();
    planner.swap_bundle(healthy).unwrap();
    let action = planner.plan(grey.view()).unwrap();
    assert!(action[0].abs() <= 1.0, "{action:?}");
}
