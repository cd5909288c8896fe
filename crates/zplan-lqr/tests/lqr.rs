//! LQR against independent references: the dense KKT system of the same QP, and the discrete
//! algebraic Riccati equation solved by a doubling algorithm.

mod common;

use common::random_lqr;
use ndarray::{Array1, Array2, s};
use ndarray_linalg::{Inverse, Solve};
use zplan_lqr::systems::RandomMatrices;
use zplan_lqr::{
    Cost, Dynamics, LqrProblem, LqrSolution, LqrWorkspace, Problem, Settings, Solution, SolveError,
    Status, Workspace, solve, solve_lqr,
};

/// Reads back the stage data of an `LqrProblem` the way a user wrote them.
struct Stage {
    a: Array2<f64>,
    b: Array2<f64>,
    c: Array1<f64>,
    q: Array2<f64>,
    r: Array2<f64>,
    n: Array2<f64>,
    ql: Array1<f64>,
    rl: Array1<f64>,
}

fn stage(p: &mut LqrProblem, t: usize) -> Stage {
    Stage {
        a: p.a_mut(t).to_owned(),
        b: p.b_mut(t).to_owned(),
        c: p.c_mut(t).to_owned(),
        q: p.q_mut(t).to_owned(),
        r: p.r_mut(t).to_owned(),
        n: p.n_mut(t).to_owned(),
        ql: p.q_lin_mut(t).to_owned(),
        rl: p.r_lin_mut(t).to_owned(),
    }
}

/// Solves the equality-constrained QP over z = [x_0..x_T, u_0..u_{T-1}] through its KKT matrix.
fn dense_kkt(p: &mut LqrProblem, x0: &Array1<f64>) -> (Array2<f64>, Array2<f64>) {
    let (n, m, horizon) = (p.state_dim(), p.control_dim(), p.horizon());
    let nx = (horizon + 1) * n;
    let nz = nx + horizon * m;
    let nc = nx;
    let mut kkt = Array2::<f64>::zeros((nz + nc, nz + nc));
    let mut rhs = Array1::<f64>::zeros(nz + nc);
    let xi = |t: usize| t * n;
    let ui = |t: usize| nx + t * m;
    for t in 0..horizon {
        let st = stage(p, t);
        kkt.slice_mut(s![xi(t)..xi(t) + n, xi(t)..xi(t) + n])
            .assign(&st.q);
        kkt.slice_mut(s![ui(t)..ui(t) + m, ui(t)..ui(t) + m])
            .assign(&st.r);
        kkt.slice_mut(s![ui(t)..ui(t) + m, xi(t)..xi(t) + n])
            .assign(&st.n);
        kkt.slice_mut(s![xi(t)..xi(t) + n, ui(t)..ui(t) + m])
            .assign(&st.n.t());
        rhs.slice_mut(s![xi(t)..xi(t) + n]).assign(&(-&st.ql));
        rhs.slice_mut(s![ui(t)..ui(t) + m]).assign(&(-&st.rl));
        // Constraint row block t+1: -A x_t - B u_t + x_{t+1} = c_t
        let row = nz + (t + 1) * n;
        kkt.slice_mut(s![row..row + n, xi(t)..xi(t) + n])
            .assign(&(-&st.a));
        kkt.slice_mut(s![row..row + n, ui(t)..ui(t) + m])
            .assign(&(-&st.b));
        for i in 0..n {
            kkt[[row + i, xi(t + 1) + i]] = 1.0;
        }
        rhs.slice_mut(s![row..row + n]).assign(&st.c);
    }
    kkt.slice_mut(s![
        xi(horizon)..xi(horizon) + n,
        xi(horizon)..xi(horizon) + n
    ])
    .assign(&p.q_terminal_mut());
    rhs.slice_mut(s![xi(horizon)..xi(horizon) + n])
        .assign(&(-&p.q_lin_terminal_mut().to_owned()));
    for i in 0..n {
        kkt[[nz + i, xi(0) + i]] = 1.0;
    }
    rhs.slice_mut(s![nz..nz + n]).assign(x0);
    // Symmetric KKT: mirror the constraint block.
    let c = kkt.slice(s![nz.., ..nz]).to_owned();
    kkt.slice_mut(s![..nz, nz..]).assign(&c.t());
    let z = kkt.solve_into(rhs).expect("KKT solve");
    let xs = z
        .slice(s![..nx])
        .to_owned()
        .into_shape_with_order((horizon + 1, n))
        .unwrap();
    let us = z
        .slice(s![nx..nz])
        .to_owned()
        .into_shape_with_order((horizon, m))
        .unwrap();
    (xs, us)
}

fn max_abs_diff(a: ndarray::ArrayView2<f64>, b: ndarray::ArrayView2<f64>) -> f64 {
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn lqr_equals_the_dense_kkt_solution() {
    for &(n, m, horizon, seed) in &[
        (4, 2, 10, 1),
        (3, 1, 25, 2),
        (6, 3, 8, 3),
        (16, 4, 6, 4),
        (24, 6, 5, 5),
    ] {
        let mut problem = random_lqr(n, m, horizon, seed);
        let x0 = RandomMatrices::new(seed + 100).vector(n, 2.0);
        let mut ws = LqrWorkspace::new(n, m);
        let mut sol = LqrSolution::new(n, m, horizon);
        solve_lqr(&problem, x0.view(), &mut ws, &mut sol).unwrap();
        let (xs, us) = dense_kkt(&mut problem, &x0);
        let scale = 1.0
            + xs.iter()
                .chain(us.iter())
                .map(|v| v.abs())
                .fold(0.0, f64::max);
        assert!(
            max_abs_diff(sol.states(), xs.view()) < 1e-9 * scale,
            "states, n={n} m={m} T={horizon}"
        );
        assert!(
            max_abs_diff(sol.controls(), us.view()) < 1e-9 * scale,
            "controls, n={n} m={m} T={horizon}"
        );
        // The policy reproduces the controls: u_t = K_t x_t + k_t.
        for t in 0..horizon {
            let u = sol.gains().slice(s![t, .., ..]).dot(&sol.states().row(t))
                + sol.feedforward().row(t);
            assert!(
                (&u - &sol.controls().row(t))
                    .iter()
                    .all(|d| d.abs() < 1e-12)
            );
        }
    }
}

/// DARE P = Q + A'PA - A'PB (R + B'PB)^{-1} B'PA by the structure-preserving doubling algorithm.
fn dare_by_doubling(
    a: &Array2<f64>,
    b: &Array2<f64>,
    q: &Array2<f64>,
    r: &Array2<f64>,
) -> Array2<f64> {
    let n = a.nrows();
    let eye = Array2::<f64>::eye(n);
    let mut ak = a.clone();
    let mut gk = b.dot(&r.inv().unwrap()).dot(&b.t());
    let mut hk = q.clone();
    for _ in 0..60 {
        let w = (&eye + &gk.dot(&hk)).inv().unwrap();
        let a_next = ak.dot(&w).dot(&ak);
        let g_next = &gk + &ak.dot(&w).dot(&gk).dot(&ak.t());
        let h_next = &hk + &ak.t().dot(&hk).dot(&w).dot(&ak);
        ak = a_next;
        gk = g_next;
        hk = h_next;
    }
    hk
}

#[test]
fn long_horizon_gains_converge_to_the_dare_solution() {
    let (n, m, horizon) = (4, 2, 400);
    let mut rng = RandomMatrices::new(7);
    // An unstable system: eigenvalues of A up to about 1.3.
    let a = Array2::<f64>::eye(n) * 1.1 + rng.matrix(n, n, 0.5);
    let b = rng.matrix(n, m, 1.0);
    let q = rng.spd(n, 1.0);
    let r = rng.spd(m, 1.0);
    let mut problem = LqrProblem::new(n, m, horizon);
    for t in 0..horizon {
        problem.a_mut(t).assign(&a);
        problem.b_mut(t).assign(&b);
        problem.q_mut(t).assign(&q);
        problem.r_mut(t).assign(&r);
    }
    problem.q_terminal_mut().assign(&q);
    let mut ws = LqrWorkspace::new(n, m);
    let mut sol = LqrSolution::new(n, m, horizon);
    solve_lqr(&problem, Array1::zeros(n).view(), &mut ws, &mut sol).unwrap();

    let p = dare_by_doubling(&a, &b, &q, &r);
    let residual = &q + &a.t().dot(&p).dot(&a)
        - a.t()
            .dot(&p)
            .dot(&b)
            .dot(&(&r + &b.t().dot(&p).dot(&b)).inv().unwrap())
            .dot(&b.t())
            .dot(&p)
            .dot(&a)
        - &p;
    assert!(
        residual.iter().all(|v| v.abs() < 1e-8),
        "the doubling reference solves the DARE"
    );
    let k_dare = -(&r + &b.t().dot(&p).dot(&b))
        .inv()
        .unwrap()
        .dot(&b.t())
        .dot(&p)
        .dot(&a);

    let p0 = sol.value_hessians().slice(s![0, .., ..]).to_owned();
    let k0 = sol.gains().slice(s![0, .., ..]).to_owned();
    let scale = p.iter().map(|v| v.abs()).fold(0.0, f64::max);
    assert!(max_abs_diff(p0.view(), p.view()) < 1e-9 * scale);
    assert!(max_abs_diff(k0.view(), k_dare.view()) < 1e-9);
}

#[test]
fn bad_inputs_are_refused_with_what_and_where() {
    let (n, m, horizon) = (3, 1, 5);
    let mut problem = random_lqr(n, m, horizon, 11);
    let mut ws = LqrWorkspace::new(n, m);
    let mut sol = LqrSolution::new(n, m, horizon);

    match solve_lqr(&problem, Array1::zeros(n + 1).view(), &mut ws, &mut sol) {
        Err(SolveError::Dimension {
            what,
            expected: 3,
            found: 4,
        }) => assert_eq!(what, "initial state x0"),
        other => panic!("expected a dimension error, got {other:?}"),
    }
    let mut short = LqrSolution::new(n, m, horizon - 1);
    assert!(matches!(
        solve_lqr(&problem, Array1::zeros(n).view(), &mut ws, &mut short),
        Err(SolveError::HorizonTooLong { horizon: 5, max: 4 })
    ));
    let mut wrong_ws = LqrWorkspace::new(n, m + 1);
    assert!(matches!(
        solve_lqr(&problem, Array1::zeros(n).view(), &mut wrong_ws, &mut sol),
        Err(SolveError::Dimension { .. })
    ));
    assert!(matches!(
        solve_lqr(
            &problem,
            Array1::from_elem(n, f64::NAN).view(),
            &mut ws,
            &mut sol
        ),
        Err(SolveError::NonFinite {
            what: "initial state x0",
            ..
        })
    ));

    problem.b_mut(2)[[1, 0]] = f64::NAN;
    let err = solve_lqr(&problem, Array1::zeros(n).view(), &mut ws, &mut sol).unwrap_err();
    assert!(
        matches!(err, SolveError::NonFinite { stage: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("stage 2"));

    let mut concave = random_lqr(n, m, horizon, 12);
    concave.r_mut(3).fill(-1e3);
    assert!(matches!(
        solve_lqr(&concave, Array1::zeros(n).view(), &mut ws, &mut sol),
        Err(SolveError::NotPositiveDefinite { stage: 3 })
    ));
}

#[test]
fn a_shorter_horizon_uses_a_prefix_of_the_buffers() {
    let (n, m) = (4, 2);
    let mut ws = LqrWorkspace::new(n, m);
    let mut sol = LqrSolution::new(n, m, 50);
    let problem = random_lqr(n, m, 12, 5);
    let x0 = Array1::from_elem(n, 0.3);
    solve_lqr(&problem, x0.view(), &mut ws, &mut sol).unwrap();
    assert_eq!(sol.controls().nrows(), 12);
    assert_eq!(sol.states().nrows(), 13);
    let mut exact = LqrSolution::new(n, m, 12);
    solve_lqr(&problem, x0.view(), &mut ws, &mut exact).unwrap();
    assert_eq!(sol.controls(), exact.controls());
}

/// Total cost of the controls `us` rolled out from x0 through the problem's own dynamics.
fn rollout_cost(p: &LqrProblem, x0: &Array1<f64>, us: ndarray::ArrayView2<f64>) -> f64 {
    let (n, horizon) = (p.state_dim(), p.horizon());
    let mut x = x0.to_owned();
    let mut total = 0.0;
    for t in 0..horizon {
        let mut next = Array2::<f64>::zeros((1, n));
        p.dynamics()
            .step(
                t,
                x.view().insert_axis(ndarray::Axis(0)),
                us.slice(s![t..t + 1, ..]),
                next.view_mut(),
            )
            .unwrap();
        total += p.stage(t, x.view(), us.row(t));
        x = next.row(0).to_owned();
    }
    total + p.terminal(x.view())
}

#[test]
fn box_ddp_on_the_lq_problem_matches_lqr_and_respects_bounds() {
    let (n, m, horizon) = (4, 2, 12);
    let problem = random_lqr(n, m, horizon, 7);
    let x0 = RandomMatrices::new(107).vector(n, 2.0);
    let mut ws = LqrWorkspace::new(n, m);
    let mut lqr = LqrSolution::new(n, m, horizon);
    solve_lqr(&problem, x0.view(), &mut ws, &mut lqr).unwrap();
    let settings = Settings::default();
    let mut ddp_ws = Workspace::new(n, m, horizon, 1);

    // Unbounded: one Newton step of iLQR is the LQR solution.
    let mut sol = Solution::new(n, m, horizon);
    let unbounded = Problem::new(x0.clone(), horizon).unwrap();
    solve(
        &mut problem.dynamics(),
        &problem,
        &unbounded,
        &settings,
        &mut ddp_ws,
        &mut sol,
    )
    .unwrap();
    assert_eq!(sol.status(), Status::Converged);
    assert!(max_abs_diff(sol.controls(), lqr.controls()) < 1e-6);
    assert!(max_abs_diff(sol.states(), lqr.states()) < 1e-6);
    let lqr_cost = rollout_cost(&problem, &x0, lqr.controls());
    assert!((sol.cost() - lqr_cost).abs() < 1e-6 * lqr_cost.abs().max(1.0));

    // Bounds that cut the LQR controls: every control inside, some on a bound, and a lower
    // cost than clipping the LQR controls.
    let limit = 0.5 * lqr.controls().iter().fold(0.0_f64, |a, u| a.max(u.abs()));
    let bounded = Problem::new(x0.clone(), horizon)
        .unwrap()
        .with_control_bounds(Array1::from_elem(m, -limit), Array1::from_elem(m, limit))
        .unwrap();
    let mut boxed = Solution::new(n, m, horizon);
    solve(
        &mut problem.dynamics(),
        &problem,
        &bounded,
        &settings,
        &mut ddp_ws,
        &mut boxed,
    )
    .unwrap();
    assert_eq!(boxed.status(), Status::Converged);
    assert!(boxed.controls().iter().all(|u| u.abs() <= limit + 1e-12));
    assert!(
        boxed
            .controls()
            .iter()
            .any(|u| (u.abs() - limit).abs() < 1e-9)
    );
    let clipped = lqr.controls().mapv(|u| u.clamp(-limit, limit));
    assert!(boxed.cost() < rollout_cost(&problem, &x0, clipped.view()));
    assert!(boxed.cost() > lqr_cost);
}
