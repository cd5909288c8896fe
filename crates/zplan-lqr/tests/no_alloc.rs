//! A solve allocates nothing: a counting global allocator watches the second solve of each kind
//! (the first may not allocate either, but the claim is about the hot path after setup).

mod common;
mod counting_alloc;

use common::{Run, cartpole_cost, random_lqr};
use counting_alloc::allocations_during;
use ndarray::{Array1, Array2, arr1};
use zplan_lqr::systems::RandomMatrices;
use zplan_lqr::systems::{CartPole, LinearSystem};
use zplan_lqr::{
    LqrSolution, LqrWorkspace, Problem, QuadraticCost, Settings, Solution, Workspace, solve_batch,
    solve_lqr,
};

/// One test function, so no other test thread allocates while we count.
#[test]
fn solves_allocate_nothing() {
    assert!(
        allocations_during(|| drop(std::hint::black_box(vec![1u8; 16]))) > 0,
        "the counter counts"
    );

    // LQR, below and above the BLAS cutoff.
    for &(n, m, horizon) in &[(4, 1, 30), (32, 8, 20)] {
        let problem = random_lqr(n, m, horizon, 1);
        let x0 = Array1::from_elem(n, 0.5);
        let mut ws = LqrWorkspace::new(n, m);
        let mut sol = LqrSolution::new(n, m, horizon);
        solve_lqr(&problem, x0.view(), &mut ws, &mut sol).unwrap();
        let count =
            allocations_during(|| solve_lqr(&problem, x0.view(), &mut ws, &mut sol).unwrap());
        assert_eq!(count, 0, "LQR n={n} m={m} T={horizon}");
    }

    // Box-DDP on the cart-pole with a batched line search, then a shifted warm start with a
    // shorter horizon (a prefix of the buffers).
    let horizon = 60;
    let mut cartpole = CartPole::default();
    let cost = cartpole_cost(10.0);
    let mut problem = Problem::new(arr1(&[0.4, 0.0, 0.0, 0.0]), horizon)
        .unwrap()
        .with_control_bounds(arr1(&[-10.0]), arr1(&[10.0]))
        .unwrap();
    let settings = Settings {
        line_search_batch: 4,
        ..Settings::default()
    };
    let mut run = Run::new(4, 1, horizon, settings.clone());
    run.solve(&mut cartpole, &cost, &problem).unwrap();
    let count = allocations_during(|| {
        let states = run.sol.states();
        let next = [
            states[[1, 0]],
            states[[1, 1]],
            states[[1, 2]],
            states[[1, 3]],
        ];
        problem
            .set_initial_state(ndarray::ArrayView1::from(&next))
            .unwrap();
        problem.set_horizon(horizon - 10);
        run.sol.shift();
        run.solve(&mut cartpole, &cost, &problem).unwrap();
    });
    assert_eq!(count, 0, "box-DDP cart-pole");
    assert!(run.sol.iterations() > 0);

    // Five candidates solved together.
    let mut ws = Workspace::with_candidates(4, 1, horizon, 4, 5);
    let mut candidates: Vec<Solution> = (0..5).map(|_| Solution::new(4, 1, horizon)).collect();
    let mut solve_all = || {
        for (c, sol) in candidates.iter_mut().enumerate() {
            sol.controls_mut().fill(c as f64 - 2.0);
        }
        let solutions = &mut candidates[..];
        solve_batch(
            &mut cartpole,
            &cost,
            &problem,
            &settings,
            &mut ws,
            solutions,
        )
        .unwrap();
    };
    solve_all();
    let count = allocations_during(solve_all);
    assert_eq!(count, 0, "batched box-DDP cart-pole");

    // Unconstrained iLQR at a BLAS-sized problem.
    let (n, m, horizon) = (32, 8, 20);
    let mut rng = RandomMatrices::new(9);
    let mut system = LinearSystem::new(
        Array2::eye(n) + rng.matrix(n, n, 0.1),
        rng.matrix(n, m, 1.0),
    )
    .unwrap();
    let cost = QuadraticCost::diagonal(n, m, 1.0, 0.1, 10.0);
    let problem = Problem::new(Array1::from_elem(n, 1.0), horizon).unwrap();
    let mut run = Run::new(n, m, horizon, Settings::default());
    run.solve(&mut system, &cost, &problem).unwrap();
    run.sol.controls_mut().fill(0.0);
    let count = allocations_during(|| {
        run.solve(&mut system, &cost, &problem).unwrap();
    });
    assert_eq!(count, 0, "iLQR n={n} m={m}");
}
