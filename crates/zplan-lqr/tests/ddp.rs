//! iLQR and box-DDP on the example systems.

mod common;

use common::{Run, cartpole_cost, random_linear};

use std::time::{Duration, Instant};

use ndarray::{
    Array1, Array2, Array3, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, ArrayViewMut3,
    arr1, s,
};
use zplan_lqr::systems::RandomMatrices;
use zplan_lqr::systems::{CartPole, LinearSystem, Pendulum};
use zplan_lqr::{
    Cost, Dynamics, LqrProblem, LqrSolution, LqrWorkspace, ModelError, PhaseEstimates, Problem,
    QuadraticCost, Settings, Solution, SolveError, Status, Workspace, solve, solve_batch,
    solve_batch_until, solve_lqr,
};

fn step_one<D: Dynamics>(d: &mut D, x: &Array1<f64>, u: &Array1<f64>) -> Array1<f64> {
    let mut next = Array2::zeros((1, x.len()));
    let xv = x.view().insert_axis(ndarray::Axis(0));
    let uv = u.view().insert_axis(ndarray::Axis(0));
    d.step(0, xv, uv, next.view_mut()).unwrap();
    next.row(0).to_owned()
}

/// Central differences of the one-step map against the analytic Jacobian.
fn check_jacobian<D: Dynamics>(d: &mut D, x: Array1<f64>, u: Array1<f64>) {
    let (n, m) = (x.len(), u.len());
    let mut jac = Array3::zeros((1, n, n + m));
    let xs = x.view().insert_axis(ndarray::Axis(0)).to_owned();
    let us = u.view().insert_axis(ndarray::Axis(0)).to_owned();
    d.linearize(xs.view(), us.view(), jac.view_mut()).unwrap();
    let h = 1e-6;
    for j in 0..n + m {
        let (mut xp, mut xm, mut up, mut um) = (x.clone(), x.clone(), u.clone(), u.clone());
        if j < n {
            xp[j] += h;
            xm[j] -= h;
        } else {
            up[j - n] += h;
            um[j - n] -= h;
        }
        let fd = (step_one(d, &xp, &up) - step_one(d, &xm, &um)) / (2.0 * h);
        for i in 0..n {
            let analytic = jac[[0, i, j]];
            assert!(
                (analytic - fd[i]).abs() < 1e-6 * (1.0 + fd[i].abs()),
                "d f_{i} / d z_{j}: {analytic} vs {}",
                fd[i]
            );
        }
    }
}

#[test]
fn example_system_jacobians_match_finite_differences() {
    let mut rng = RandomMatrices::new(3);
    for _ in 0..20 {
        check_jacobian(
            &mut Pendulum::default(),
            rng.vector(2, 8.0),
            rng.vector(1, 2.0),
        );
        check_jacobian(
            &mut CartPole::default(),
            rng.vector(4, 8.0),
            rng.vector(1, 20.0),
        );
    }
    let mut linear = LinearSystem::new(rng.matrix(3, 3, 1.0), rng.matrix(3, 2, 1.0)).unwrap();
    check_jacobian(&mut linear, rng.vector(3, 1.0), rng.vector(2, 1.0));
}

#[test]
fn ilqr_on_a_linear_system_reproduces_lqr() {
    let (n, m, horizon) = (4, 2, 30);
    let mut rng = RandomMatrices::new(21);
    let (a, b) = random_linear(&mut rng, n, m, 0.3);
    let q = rng.spd(n, 1.0);
    let r = rng.spd(m, 1.0);
    let goal = rng.vector(n, 1.0);
    let x0 = rng.vector(n, 2.0);

    // The same problem as LQR: 1/2 (x-g)'Q(x-g) = 1/2 x'Qx - (Qg)'x + const.
    let mut lqr = LqrProblem::new(n, m, horizon);
    for t in 0..horizon {
        lqr.a_mut(t).assign(&a);
        lqr.b_mut(t).assign(&b);
        lqr.q_mut(t).assign(&q);
        lqr.r_mut(t).assign(&r);
        lqr.q_lin_mut(t).assign(&(-q.dot(&goal)));
    }
    lqr.q_terminal_mut().assign(&(&q * 10.0));
    lqr.q_lin_terminal_mut().assign(&(-(&q * 10.0).dot(&goal)));
    let mut lqr_sol = LqrSolution::new(n, m, horizon);
    solve_lqr(&lqr, x0.view(), &mut LqrWorkspace::new(n, m), &mut lqr_sol).unwrap();

    let mut system = LinearSystem::new(a, b).unwrap();
    let cost = QuadraticCost::new(q.clone(), r, &q * 10.0, goal).unwrap();
    let problem = Problem::new(x0, horizon).unwrap();
    let mut run = Run::new(n, m, horizon, Settings::default());
    let status = run.solve(&mut system, &cost, &problem).unwrap();
    let sol = &run.sol;
    assert_eq!(status, Status::Converged);
    assert!(
        sol.iterations() <= 3,
        "a quadratic problem needs one Newton step, took {}",
        sol.iterations()
    );
    let diff = (&sol.controls() - &lqr_sol.controls())
        .iter()
        .fold(0.0f64, |a, v| a.max(v.abs()));
    assert!(diff < 1e-8, "controls differ by {diff}");
    let gains = (&sol.gains() - &lqr_sol.gains())
        .iter()
        .fold(0.0f64, |a, v| a.max(v.abs()));
    assert!(gains < 1e-8, "gains differ by {gains}");
}

/// The pendulum from hanging (theta = pi - 0.1) to upright in `horizon` steps, torque limited
/// to +-`limit` when given.
fn swing_up_problem(limit: Option<f64>, horizon: usize) -> (QuadraticCost, Problem) {
    let cost = QuadraticCost::new(
        Array2::from_diag(&arr1(&[0.1, 0.01])),
        Array2::from_elem((1, 1), 1.0),
        Array2::from_diag(&arr1(&[1000.0, 100.0])),
        Array1::zeros(2),
    )
    .unwrap();
    let mut problem = Problem::new(arr1(&[std::f64::consts::PI - 0.1, 0.0]), horizon).unwrap();
    if let Some(limit) = limit {
        problem = problem
            .with_control_bounds(arr1(&[-limit]), arr1(&[limit]))
            .unwrap();
    }
    (cost, problem)
}

/// 300 iterations, `batch` step sizes per line-search round.
fn swing_up_settings(batch: usize) -> Settings {
    Settings {
        max_iterations: 300,
        line_search_batch: batch,
        ..Settings::default()
    }
}

fn pendulum_swing_up(limit: Option<f64>, horizon: usize) -> (Solution, Status) {
    let mut pendulum = Pendulum::default();
    let (cost, problem) = swing_up_problem(limit, horizon);
    let mut run = Run::new(2, 1, horizon, swing_up_settings(1));
    let status = run.solve(&mut pendulum, &cost, &problem).unwrap();
    (run.sol, status)
}

#[test]
fn ilqr_swings_the_pendulum_up() {
    let (sol, status) = pendulum_swing_up(None, 150);
    assert_eq!(status, Status::Converged, "{:?}", sol.log().last());
    let last = sol.states().row(150).to_owned();
    assert!(
        last[0].abs() < 0.05 && last[1].abs() < 0.2,
        "final state {last}"
    );
    for w in sol.log().windows(2) {
        assert!(w[1].cost <= w[0].cost, "cost never increases");
    }
}

#[test]
fn box_ddp_swings_up_within_torque_limits_below_gravity() {
    // 0.3 < m g l = 0.49: the pendulum cannot be lifted directly and must be pumped.
    let limit = 0.3;
    let (sol, status) = pendulum_swing_up(Some(limit), 200);
    assert!(
        matches!(status, Status::Converged | Status::MaxIterations),
        "{status:?}"
    );
    assert!(
        sol.controls().iter().all(|u| u.abs() <= limit + 1e-12),
        "limits hold"
    );
    assert!(
        sol.controls()
            .iter()
            .any(|u| (u.abs() - limit).abs() < 1e-9),
        "some control saturates"
    );
    let last = sol.states().row(200).to_owned();
    assert!(
        last[0].abs() < 0.1 && last[1].abs() < 0.5,
        "final state {last}"
    );
}

#[test]
fn ilqr_swings_up_and_balances_the_cart_pole() {
    let horizon = 200;
    let mut cartpole = CartPole::default();
    let cost = cartpole_cost(100.0);
    let problem = Problem::new(arr1(&[std::f64::consts::PI, 0.0, 0.0, 0.0]), horizon)
        .unwrap()
        .with_control_bounds(arr1(&[-10.0]), arr1(&[10.0]))
        .unwrap();
    let mut run = Run::new(4, 1, horizon, swing_up_settings(1));
    // Seed the swing with a small push: from rest at the bottom with u = 0 the gradient in u is zero.
    run.sol.controls_mut().slice_mut(s![..10, ..]).fill(2.0);
    let status = run.solve(&mut cartpole, &cost, &problem).unwrap();
    let sol = &run.sol;
    assert!(
        matches!(status, Status::Converged | Status::MaxIterations),
        "{status:?}"
    );
    let last = sol.states().row(horizon).to_owned();
    assert!(
        last[0].abs() < 0.1 && last[1].abs() < 0.5,
        "final state {last}"
    );
    assert!(sol.controls().iter().all(|u| u.abs() <= 10.0));
}

/// Linear dynamics and quadratic cost with box limits make a QP in u; projected gradient on the
/// condensed QP is an independent reference for box-DDP.
#[test]
fn box_ddp_matches_projected_gradient_on_a_small_qp() {
    let (n, m, horizon) = (2, 1, 8);
    let mut rng = RandomMatrices::new(5);
    let (a, b) = random_linear(&mut rng, n, m, 0.2);
    let q = rng.spd(n, 0.5);
    let r = Array2::<f64>::eye(m) * 0.1;
    let x0 = arr1(&[3.0, -2.0]);
    let (lo, hi) = (-0.4, 0.4);

    // Condense: x_t = A^t x0 + sum_{s<t} A^{t-1-s} B u_s; J(u) = 1/2 u'Hu + g'u + const.
    let nu = horizon * m;
    let mut phi = vec![Array2::<f64>::zeros((n, nu)); horizon + 1];
    let mut free = vec![Array1::<f64>::zeros(n); horizon + 1];
    free[0] = x0.clone();
    for t in 0..horizon {
        let mut next = a.dot(&phi[t]);
        next.slice_mut(s![.., t * m..(t + 1) * m]).assign(&b);
        phi[t + 1] = next;
        free[t + 1] = a.dot(&free[t]);
    }
    let mut h = Array2::<f64>::zeros((nu, nu));
    let mut g = Array1::<f64>::zeros(nu);
    for t in 0..=horizon {
        let w = if t == horizon { &q * 10.0 } else { q.clone() };
        h = h + phi[t].t().dot(&w).dot(&phi[t]);
        g = g + phi[t].t().dot(&w.dot(&free[t]));
    }
    for t in 0..horizon {
        for i in 0..m {
            h[[t * m + i, t * m + i]] += r[[i, i]];
        }
    }
    let step = 1.0 / h.iter().map(|v| v.abs()).sum::<f64>();
    let mut u = Array1::<f64>::zeros(nu);
    for _ in 0..200_000 {
        u = (&u - &((h.dot(&u) + &g) * step)).mapv(|v| v.clamp(lo, hi));
    }

    let mut system = LinearSystem::new(a, b).unwrap();
    let cost = QuadraticCost::new(q.clone(), r, &q * 10.0, Array1::zeros(n)).unwrap();
    let problem = Problem::new(x0, horizon)
        .unwrap()
        .with_control_bounds(arr1(&[lo]), arr1(&[hi]))
        .unwrap();
    let settings = Settings {
        gradient_tolerance: 1e-10,
        cost_tolerance: 1e-14,
        ..Settings::default()
    };
    let mut run = Run::new(n, m, horizon, settings);
    run.solve(&mut system, &cost, &problem).unwrap();
    let ddp_u = run.sol.controls().iter().copied().collect::<Array1<f64>>();
    let diff = (&ddp_u - &u).iter().fold(0.0f64, |acc, v| acc.max(v.abs()));
    assert!(diff < 1e-6, "box-DDP {ddp_u} vs projected gradient {u}");
    assert!(
        u.iter().any(|v| (v.abs() - hi).abs() < 1e-12),
        "the reference is constrained"
    );
}

/// l(x, u) = 1/2 |x|^2 - 1/2 u^2 + 1/4 u^4: Q_uu = -1 at u = 0, not positive definite.
struct DoubleWell;

impl Cost for DoubleWell {
    fn stage(&self, _t: usize, x: ArrayView1<f64>, u: ArrayView1<f64>) -> f64 {
        0.5 * x.dot(&x) - 0.5 * u[0] * u[0] + 0.25 * u[0].powi(4)
    }
    fn stage_derivatives(
        &self,
        _t: usize,
        x: ArrayView1<f64>,
        u: ArrayView1<f64>,
        mut gradient: ArrayViewMut1<f64>,
        mut hessian: ArrayViewMut2<f64>,
    ) -> Result<(), ModelError> {
        let n = x.len();
        hessian.fill(0.0);
        for i in 0..n {
            gradient[i] = x[i];
            hessian[[i, i]] = 1.0;
        }
        gradient[n] = -u[0] + u[0].powi(3);
        hessian[[n, n]] = -1.0 + 3.0 * u[0] * u[0];
        Ok(())
    }
    fn terminal(&self, x: ArrayView1<f64>) -> f64 {
        0.5 * x.dot(&x)
    }
    fn terminal_derivatives(
        &self,
        x: ArrayView1<f64>,
        mut gradient: ArrayViewMut1<f64>,
        mut hessian: ArrayViewMut2<f64>,
    ) -> Result<(), ModelError> {
        gradient.assign(&x);
        hessian.assign(&Array2::eye(x.len()));
        Ok(())
    }
}

#[test]
fn a_non_positive_definite_q_uu_raises_mu_instead_of_failing() {
    // Weak control authority so that B'V B cannot make Q_uu positive at u = 0.
    let mut system =
        LinearSystem::new(Array2::eye(1) * 0.5, Array2::from_elem((1, 1), 0.01)).unwrap();
    let problem = Problem::new(arr1(&[1.0]), 5).unwrap();
    let mut run = Run::new(1, 1, 5, Settings::default());
    let status = run.solve(&mut system, &DoubleWell, &problem).unwrap();
    let sol = &run.sol;
    assert_ne!(status, Status::RegularizationLimit);
    assert!(
        sol.log()[0].mu > 1.0,
        "mu had to exceed 1 to make Q_uu + mu I positive definite"
    );
    // The controls leave the local maximum at 0 for a well at about +-1.
    assert!(
        sol.controls().iter().all(|u| (u.abs() - 1.0).abs() < 0.05),
        "{}",
        sol.controls()
    );
}

#[test]
fn a_warm_start_from_the_shifted_plan_needs_fewer_iterations() {
    let horizon = 100;
    let mut pendulum = Pendulum::default();
    let cost = QuadraticCost::new(
        Array2::from_diag(&arr1(&[1.0, 0.1])),
        Array2::from_elem((1, 1), 0.1),
        Array2::from_diag(&arr1(&[100.0, 10.0])),
        Array1::zeros(2),
    )
    .unwrap();
    let mut problem = Problem::new(arr1(&[1.0, 0.0]), horizon).unwrap();
    let mut warm = Run::new(2, 1, horizon, Settings::default());
    warm.solve(&mut pendulum, &cost, &problem).unwrap();

    // One MPC step later: the state the plan predicted, the plan shifted by one.
    let next = warm.sol.states().row(1).to_owned();
    problem.set_initial_state(next.view()).unwrap();
    warm.sol.shift();
    warm.solve(&mut pendulum, &cost, &problem).unwrap();

    let mut cold = Run::new(2, 1, horizon, Settings::default());
    cold.solve(&mut pendulum, &cost, &problem).unwrap();
    let (warm, cold) = (&warm.sol, &cold.sol);
    assert!(
        warm.iterations() < cold.iterations(),
        "warm {} vs cold {}",
        warm.iterations(),
        cold.iterations()
    );
    assert!((warm.cost() - cold.cost()).abs() < 1e-6 * cold.cost());
}

#[test]
fn a_batched_line_search_gives_the_sequential_result() {
    let (sequential, _) = pendulum_swing_up(Some(0.3), 120);
    let horizon = 120;
    let (cost, problem) = swing_up_problem(Some(0.3), 120);
    for batch in [3, 4, 14] {
        let mut run = Run::new(2, 1, horizon, swing_up_settings(batch));
        run.solve(&mut Pendulum::default(), &cost, &problem)
            .unwrap();
        let sol = &run.sol;
        assert_eq!(sol.iterations(), sequential.iterations(), "batch {batch}");
        assert_eq!(sol.controls(), sequential.controls(), "batch {batch}");
    }
    // One step size first and four at once after it: the same steps, fewer calls.
    let mut calls = Vec::new();
    for retry in [0, 4] {
        let settings = Settings {
            line_search_retry_batch: retry,
            ..swing_up_settings(1)
        };
        let mut run = Run::new(2, 1, horizon, settings);
        let mut pendulum = Counted::new(Pendulum::default());
        run.solve(&mut pendulum, &cost, &problem).unwrap();
        assert_eq!(
            run.sol.iterations(),
            sequential.iterations(),
            "retry {retry}"
        );
        assert_eq!(run.sol.controls(), sequential.controls(), "retry {retry}");
        calls.push(pendulum.steps);
    }
    assert!(
        calls[1] < calls[0],
        "calls with retry batch 0, 4: {calls:?}"
    );
}

/// Counts the calls into the wrapped dynamics.
struct Counted<D> {
    inner: D,
    steps: usize,
    linearizations: usize,
    /// Points linearised, over all calls.
    linearized_points: usize,
}

impl<D> Counted<D> {
    fn new(inner: D) -> Self {
        Self {
            inner,
            steps: 0,
            linearizations: 0,
            linearized_points: 0,
        }
    }
}

impl<D: Dynamics> Dynamics for Counted<D> {
    fn state_dim(&self) -> usize {
        self.inner.state_dim()
    }
    fn control_dim(&self) -> usize {
        self.inner.control_dim()
    }
    fn step(
        &mut self,
        t: usize,
        x: ArrayView2<f64>,
        u: ArrayView2<f64>,
        next: ArrayViewMut2<f64>,
    ) -> Result<(), ModelError> {
        self.steps += 1;
        self.inner.step(t, x, u, next)
    }
    fn linearize(
        &mut self,
        x: ArrayView2<f64>,
        u: ArrayView2<f64>,
        jac: ArrayViewMut3<f64>,
    ) -> Result<(), ModelError> {
        self.linearizations += 1;
        self.inner.linearize(x, u, jac)
    }
    fn linearize_trajectories(
        &mut self,
        _horizon: usize,
        x: ArrayView2<f64>,
        u: ArrayView2<f64>,
        jac: ArrayViewMut3<f64>,
    ) -> Result<(), ModelError> {
        // The example systems are time-invariant: every row in one call.
        self.linearizations += 1;
        self.linearized_points += x.nrows();
        self.inner.linearize(x, u, jac)
    }
}

#[test]
fn candidates_solved_together_end_as_each_alone_with_fewer_model_calls() {
    let horizon = 40;
    let (cost, problem) = swing_up_problem(Some(1.0), horizon);
    let settings = Settings {
        max_iterations: 6,
        line_search_batch: 4,
        ..Settings::default()
    };
    let mut rng = RandomMatrices::new(11);
    let guesses: Vec<Vec<f64>> = (0..5)
        .map(|_| (0..horizon).map(|_| 2.0 * rng.uniform()).collect())
        .collect();
    let start = |guess: &[f64]| {
        let mut sol = Solution::new(2, 1, horizon);
        for (u, g) in sol.controls_mut().iter_mut().zip(guess) {
            *u = *g;
        }
        sol
    };

    let mut alone = Counted::new(Pendulum::default());
    let mut ws = Workspace::new(2, 1, horizon, 4);
    let singles: Vec<Solution> = guesses
        .iter()
        .map(|g| {
            let mut sol = start(g);
            solve(&mut alone, &cost, &problem, &settings, &mut ws, &mut sol).unwrap();
            sol
        })
        .collect();

    let mut together = Counted::new(Pendulum::default());
    let mut ws = Workspace::with_candidates(2, 1, horizon, 4, guesses.len());
    let mut batch: Vec<Solution> = guesses.iter().map(|g| start(g)).collect();
    let report = solve_batch(
        &mut together,
        &cost,
        &problem,
        &settings,
        &mut ws,
        &mut batch,
    )
    .unwrap();

    for (c, (single, batched)) in singles.iter().zip(&batch).enumerate() {
        assert_eq!(batched.status(), single.status(), "candidate {c}");
        assert_eq!(batched.iterations(), single.iterations(), "candidate {c}");
        assert_eq!(batched.controls(), single.controls(), "candidate {c}");
        assert_eq!(batched.gains(), single.gains(), "candidate {c}");
        assert_eq!(batched.cost(), single.cost(), "candidate {c}");
    }
    let best = (0..batch.len())
        .min_by(|&a, &b| batch[a].cost().total_cmp(&batch[b].cost()))
        .unwrap();
    assert_eq!(report.best, best);
    assert!(
        together.steps * 3 < alone.steps && together.linearizations * 3 < alone.linearizations,
        "together {} steps / {} linearisations, alone {} / {}",
        together.steps,
        together.linearizations,
        alone.steps,
        alone.linearizations
    );

    // More candidates than the workspace holds is refused.
    let mut six: Vec<Solution> = (0..6).map(|_| Solution::new(2, 1, horizon)).collect();
    let err =
        solve_batch(&mut together, &cost, &problem, &settings, &mut ws, &mut six).unwrap_err();
    assert!(
        matches!(
            err,
            SolveError::InvalidSettings {
                name: "candidates",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn the_time_budget_and_iteration_limit_end_a_solve_with_a_status() {
    let horizon = 50;
    let cost = QuadraticCost::diagonal(2, 1, 1.0, 0.1, 100.0);
    let problem = Problem::new(arr1(&[3.0, 0.0]), horizon).unwrap();
    let budget = Settings {
        time_budget: Some(Duration::ZERO),
        ..Settings::default()
    };
    let mut run = Run::new(2, 1, horizon, budget);
    let status = run.solve(&mut Pendulum::default(), &cost, &problem);
    assert_eq!(status.unwrap(), Status::TimeBudget);
    assert_eq!(run.sol.iterations(), 0);
    run.settings = Settings {
        max_iterations: 1,
        ..Settings::default()
    };
    let status = run.solve(&mut Pendulum::default(), &cost, &problem);
    assert_eq!(status.unwrap(), Status::MaxIterations);
    assert_eq!(run.sol.iterations(), 1);
    assert_eq!(run.sol.log().len(), 1);
    assert!(run.sol.times().backward > Duration::ZERO);
}

/// The pendulum, each call taking at least `delay` longer: a model whose calls take time.
struct Slow {
    pendulum: Pendulum,
    delay: Duration,
}

impl Dynamics for Slow {
    fn state_dim(&self) -> usize {
        2
    }
    fn control_dim(&self) -> usize {
        1
    }
    fn step(
        &mut self,
        t: usize,
        x: ArrayView2<f64>,
        u: ArrayView2<f64>,
        next: ArrayViewMut2<f64>,
    ) -> Result<(), ModelError> {
        std::thread::sleep(self.delay);
        self.pendulum.step(t, x, u, next)
    }
    fn linearize(
        &mut self,
        x: ArrayView2<f64>,
        u: ArrayView2<f64>,
        jac: ArrayViewMut3<f64>,
    ) -> Result<(), ModelError> {
        std::thread::sleep(self.delay);
        self.pendulum.linearize(x, u, jac)
    }
}

#[test]
fn a_deadline_ends_a_solve_before_a_phase_that_would_not_fit() {
    let horizon = 20;
    let (cost, problem) = swing_up_problem(Some(2.0), horizon);
    let mut slow = Slow {
        pendulum: Pendulum::default(),
        delay: Duration::from_micros(500),
    };
    // No stopping test but the iteration limit and the deadline.
    let settings = Settings {
        max_iterations: 300,
        cost_tolerance: 0.0,
        gradient_tolerance: 0.0,
        ..Settings::default()
    };
    let mut ws = Workspace::new(2, 1, horizon, 1);
    let mut sol = [Solution::new(2, 1, horizon)];
    assert_eq!(ws.phase_estimates(), PhaseEstimates::default());
    let warm_up = Settings {
        max_iterations: 2,
        ..settings.clone()
    };
    solve_batch(&mut slow, &cost, &problem, &warm_up, &mut ws, &mut sol).unwrap();
    // Every phase has run once: T steps of at least 0.5 ms each for a rollout or a round.
    let expected = ws.phase_estimates();
    assert!(
        expected.rollout >= slow.delay * horizon as u32,
        "{expected:?}"
    );
    assert!(
        expected.line_search_round >= slow.delay * horizon as u32,
        "{expected:?}"
    );
    assert!(expected.linearize >= slow.delay, "{expected:?}");

    // A deadline already past: the candidates are rolled out, and no iteration starts.
    sol[0].controls_mut().fill(0.0);
    let report = solve_batch_until(
        &mut slow,
        &cost,
        &problem,
        &settings,
        &mut ws,
        &mut sol,
        Some(Instant::now()),
    )
    .unwrap();
    assert!(report.out_of_time);
    assert_eq!((report.iterations, sol[0].iterations()), (0, 0));
    assert_eq!(sol[0].status(), Status::TimeBudget);
    assert!(sol[0].cost().is_finite());

    // Room for a few iterations of the 300: the solve stops before the one that would not
    // fit, with the best trajectory so far.
    sol[0].controls_mut().fill(0.0);
    let start_cost = sol[0].cost();
    let report = solve_batch_until(
        &mut slow,
        &cost,
        &problem,
        &settings,
        &mut ws,
        &mut sol,
        Some(Instant::now() + 8 * expected.iteration()),
    )
    .unwrap();
    assert!(report.out_of_time, "{report:?} {:?}", sol[0].status());
    assert!((1..300).contains(&report.iterations), "{report:?}");
    assert_eq!(sol[0].status(), Status::TimeBudget);
    assert!(sol[0].cost() < start_cost);

    // Without a deadline the same solve runs on.
    sol[0].controls_mut().fill(0.0);
    let report = solve_batch_until(
        &mut slow, &cost, &problem, &warm_up, &mut ws, &mut sol, None,
    )
    .unwrap();
    assert!(!report.out_of_time);
    assert_eq!(sol[0].status(), Status::MaxIterations);
}

/// x' = x, except that at step `at` it yields NaN (`nan`) or fails (otherwise).
struct Faulty {
    at: usize,
    nan: bool,
}

impl Dynamics for Faulty {
    fn state_dim(&self) -> usize {
        1
    }
    fn control_dim(&self) -> usize {
        1
    }
    fn step(
        &mut self,
        t: usize,
        x: ArrayView2<f64>,
        _u: ArrayView2<f64>,
        mut next: ArrayViewMut2<f64>,
    ) -> Result<(), ModelError> {
        if t == self.at && !self.nan {
            return Err("network output has the wrong shape".into());
        }
        next.assign(&x.mapv(|v| if t == self.at { f64::NAN } else { v }));
        Ok(())
    }
    fn linearize(
        &mut self,
        _x: ArrayView2<f64>,
        _u: ArrayView2<f64>,
        mut jac: ArrayViewMut3<f64>,
    ) -> Result<(), ModelError> {
        jac.fill(1.0);
        Ok(())
    }
}

#[test]
fn bad_inputs_and_failing_models_are_errors_that_say_where() {
    let cost = QuadraticCost::diagonal(1, 1, 1.0, 1.0, 1.0);
    let mut run = Run::new(1, 1, 10, Settings::default());
    let problem = Problem::new(arr1(&[1.0]), 5).unwrap();
    let err = run
        .solve(&mut Faulty { at: 2, nan: true }, &cost, &problem)
        .unwrap_err();
    assert!(
        matches!(err, SolveError::NonFinite { stage: 3, .. }),
        "{err}"
    );

    assert!(matches!(
        Problem::new(arr1(&[f64::NAN]), 5),
        Err(SolveError::NonFinite { .. })
    ));
    assert!(matches!(
        Problem::new(arr1(&[1.0]), 5)
            .unwrap()
            .with_control_bounds(arr1(&[1.0]), arr1(&[-1.0])),
        Err(SolveError::InvalidBounds { index: 0, .. })
    ));
    let long = Problem::new(arr1(&[1.0]), 11).unwrap();
    assert!(matches!(
        run.solve(&mut Pendulum::default(), &cost, &long),
        Err(SolveError::Dimension {
            what: "dynamics state dimension",
            expected: 1,
            found: 2
        })
    ));
    let mut linear = LinearSystem::new(Array2::eye(1), Array2::eye(1)).unwrap();
    assert!(matches!(
        run.solve(&mut linear, &cost, &long),
        Err(SolveError::HorizonTooLong {
            horizon: 11,
            max: 10
        })
    ));
    run.settings.line_search_batch = 2;
    assert!(matches!(
        run.solve(&mut linear, &cost, &problem),
        Err(SolveError::InvalidSettings {
            name: "line_search_batch",
            ..
        })
    ));
    run.settings.line_search_batch = 1;
    run.settings.line_search_retry_batch = 2;
    assert!(matches!(
        run.solve(&mut linear, &cost, &problem),
        Err(SolveError::InvalidSettings {
            name: "line_search_retry_batch",
            ..
        })
    ));
    run.settings = Settings::default();
    let err = run
        .solve(&mut Faulty { at: 3, nan: false }, &cost, &problem)
        .unwrap_err();
    assert!(matches!(err, SolveError::Dynamics { stage: 3, .. }));
    assert!(err.to_string().contains("wrong shape"), "{err}");
}

#[test]
fn a_terminal_cost_with_a_linear_term_is_evaluated_and_checked() {
    let mut cost = QuadraticCost::diagonal(2, 1, 1.0, 1.0, 1.0);
    cost.set_goal(arr1(&[1.0, -1.0]).view()).unwrap();
    let q_terminal = ndarray::arr2(&[[4.0, 1.0], [1.0, 2.0]]);
    let q_lin = arr1(&[0.5, -3.0]);
    cost.set_terminal(q_terminal.view(), q_lin.view()).unwrap();

    // x - g = (1, 2): 1/2 (4 + 2 * 2 + 2 * 4) + (0.5 - 6) = 8 - 5.5.
    let x = arr1(&[2.0, 1.0]);
    assert!((cost.terminal(x.view()) - 2.5).abs() < 1e-12);
    let (mut gradient, mut hessian) = (Array1::zeros(2), Array2::zeros((2, 2)));
    cost.terminal_derivatives(x.view(), gradient.view_mut(), hessian.view_mut())
        .unwrap();
    assert_eq!(gradient, arr1(&[6.0 + 0.5, 5.0 - 3.0]));
    assert_eq!(hessian, q_terminal);

    let err = cost
        .set_terminal(q_terminal.view(), arr1(&[f64::NAN, 0.0]).view())
        .unwrap_err();
    assert!(
        matches!(err, SolveError::NonFinite { what: "q_T", .. }),
        "{err}"
    );
    let err = cost
        .set_terminal(Array2::zeros((3, 3)).view(), q_lin.view())
        .unwrap_err();
    assert!(err.to_string().contains("Q_T rows"), "{err}");
    assert!(
        (cost.terminal(x.view()) - 2.5).abs() < 1e-12,
        "a refused terminal cost leaves the old one"
    );
}

#[test]
fn batched_quadratic_costs_are_the_per_row_costs_bit_for_bit() {
    let (n, m, rows) = (3, 2, 7);
    let mut matrices = RandomMatrices::new(5);
    let dense = matrices.spd(n, 1.0);
    let diagonal = Array2::from_diag(&Array1::from(vec![4.0, 0.25, 3.0]));
    let r = Array2::from_diag(&Array1::from(vec![0.5, 2.0]));
    let goal = matrices.vector(n, 1.0);
    let states = matrices.matrix(rows, n, 1.0);
    let controls = matrices.matrix(rows, m, 1.0);
    // A column-major copy takes the general path, the row-major one the contiguous path.
    let states_f = states.t().as_standard_layout().into_owned().reversed_axes();
    let controls_f = controls
        .t()
        .as_standard_layout()
        .into_owned()
        .reversed_axes();
    assert!(states_f.as_slice().is_none());
    // A dense Q, and a diagonal one (each term one product instead of a row).
    for q in [dense, diagonal] {
        let cost = QuadraticCost::new(q.clone(), r.clone(), &q * 3.0, goal.clone()).unwrap();
        for (xs, us) in [
            (states.view(), controls.view()),
            (states_f.view(), controls_f.view()),
        ] {
            let mut batch = Array1::zeros(rows);
            cost.stage_batch(2, xs, us, batch.view_mut()).unwrap();
            let mut terminal = Array1::zeros(rows);
            cost.terminal_batch(xs, terminal.view_mut()).unwrap();
            let mut gradients = Array2::from_elem((rows, n + m), f64::NAN);
            let mut hessians = Array3::from_elem((rows, n + m, n + m), f64::NAN);
            cost.stage_derivatives_along(3, xs, us, gradients.view_mut(), hessians.view_mut())
                .unwrap();
            for b in 0..rows {
                let stage = cost.stage(2, xs.row(b), us.row(b));
                assert_eq!(batch[b].to_bits(), stage.to_bits(), "stage row {b}");
                let d = &xs.row(b) - &goal;
                let expected = 0.5 * d.dot(&q.dot(&d)) + 0.5 * us.row(b).dot(&r.dot(&us.row(b)));
                assert!(
                    (stage - expected).abs() <= 1e-12 * expected.abs(),
                    "stage row {b}"
                );
                let last = cost.terminal(xs.row(b));
                assert_eq!(terminal[b].to_bits(), last.to_bits(), "terminal row {b}");
                let mut gradient = Array1::zeros(n + m);
                let mut hessian = Array2::zeros((n + m, n + m));
                cost.stage_derivatives(
                    b % 3,
                    xs.row(b),
                    us.row(b),
                    gradient.view_mut(),
                    hessian.view_mut(),
                )
                .unwrap();
                let bits = |a: ArrayView1<'_, f64>| a.mapv(f64::to_bits);
                assert_eq!(
                    bits(gradients.row(b)),
                    bits(gradient.view()),
                    "gradient {b}"
                );
                assert_eq!(
                    hessians.index_axis(ndarray::Axis(0), b),
                    hessian,
                    "Hessian {b}"
                );
                let gradient_x = q.dot(&d);
                for i in 0..n {
                    assert!(
                        (gradient[i] - gradient_x[i]).abs() <= 1e-12 * (1.0 + gradient_x[i].abs())
                    );
                }
            }
        }
    }
}

/// Linear dynamics with some unstable modes (A = 0.98 I + noise), a quadratic cost and a control
/// box: from zero controls the rollout grows and the box QP of a linearisation around it
/// saturates most stages, so a bounded first iteration takes a short step. The unconstrained
/// first iteration (`unbounded_first_iteration`) clamps the feedback law into the box instead
/// and lands within a few per cent of the optimum in one full step (here: 5 iterations in all
/// against 23); box-DDP proper then finishes.
#[test]
fn box_ddp_cold_start_reaches_the_optimum_in_one_unconstrained_step() {
    let (n, m, horizon) = (8, 2, 50);
    let mut rng = RandomMatrices::new(1);
    let a = Array2::<f64>::eye(n) * 0.98 + rng.matrix(n, n, 0.4 / (n as f64).sqrt());
    let b = rng.matrix(n, m, 1.0);
    let x0 = rng.vector(n, 2.0);
    let cost = QuadraticCost::new(
        Array2::eye(n),
        Array2::eye(m),
        Array2::eye(n),
        Array1::zeros(n),
    )
    .unwrap();
    let (lo, hi) = (-0.5, 0.5);
    let problem = Problem::new(x0, horizon)
        .unwrap()
        .with_control_bounds(Array1::from_elem(m, lo), Array1::from_elem(m, hi))
        .unwrap();
    let solve_with = |unbounded_first_iteration: bool| {
        let settings = Settings {
            unbounded_first_iteration,
            gradient_tolerance: 1e-10,
            cost_tolerance: 1e-14,
            ..Settings::default()
        };
        let mut system = LinearSystem::new(a.clone(), b.clone()).unwrap();
        let mut run = Run::new(n, m, horizon, settings);
        let status = run.solve(&mut system, &cost, &problem).unwrap();
        assert_eq!(status, Status::Converged);
        run.sol
    };
    let (cold, plain) = (solve_with(true), solve_with(false));
    let diff = (&cold.controls() - &plain.controls())
        .iter()
        .fold(0.0f64, |acc, v| acc.max(v.abs()));
    assert!(diff < 1e-6, "the two starts end {diff} apart");
    assert!(cold.controls().iter().all(|u| (lo..=hi).contains(u)));
    let active = cold
        .controls()
        .iter()
        .filter(|u| u.abs() > hi - 1e-9)
        .count();
    assert!(active > 0, "the optimum is constrained");
    assert!(
        plain.log()[0].alpha < 1.0,
        "a bounded first iteration takes a short step here: {:?}",
        plain.log()[0]
    );
    let first = cold.log()[0];
    assert_eq!(first.alpha, 1.0);
    assert!(
        first.cost < cold.cost() * 1.05,
        "after one step {} against the optimum {}",
        first.cost,
        cold.cost()
    );
    assert!(
        cold.iterations() < plain.iterations(),
        "{} iterations cold, {} bounded from the start",
        cold.iterations(),
        plain.iterations()
    );
}

#[test]
fn keep_best_stops_the_outranked_candidates_and_leaves_the_others_as_alone() {
    let horizon = 40;
    let (cost, problem) = swing_up_problem(Some(1.0), horizon);
    let all = Settings {
        max_iterations: 6,
        line_search_batch: 2,
        ..Settings::default()
    };
    let keep = 2;
    let pruned = Settings {
        keep_best: keep,
        ..all.clone()
    };
    let mut rng = RandomMatrices::new(5);
    let guesses: Vec<Vec<f64>> = (0..6)
        .map(|_| (0..horizon).map(|_| 2.0 * rng.uniform() - 1.0).collect())
        .collect();
    let start = |guess: &[f64]| {
        let mut sol = Solution::new(2, 1, horizon);
        sol.controls_mut()
            .iter_mut()
            .zip(guess)
            .for_each(|(u, g)| *u = *g);
        sol
    };
    let mut ws = Workspace::with_candidates(2, 1, horizon, 2, guesses.len());
    let mut run = |settings: &Settings| {
        let mut dynamics = Counted::new(Pendulum::default());
        let mut batch: Vec<Solution> = guesses.iter().map(|g| start(g)).collect();
        let report = solve_batch(
            &mut dynamics,
            &cost,
            &problem,
            settings,
            &mut ws,
            &mut batch,
        )
        .unwrap();
        (batch, report, dynamics.linearized_points)
    };
    let (every, _, every_points) = run(&all);
    let (kept, report, kept_points) = run(&pruned);

    let survivors: Vec<usize> = (0..kept.len())
        .filter(|&c| kept[c].status() != Status::Outranked)
        .collect();
    let outranked = kept.len() - survivors.len();
    assert!(outranked >= kept.len() - keep, "{outranked} outranked");
    for &c in &survivors {
        // A survivor never met `keep` better candidates, so it iterated as without pruning.
        assert_eq!(kept[c].status(), every[c].status(), "candidate {c}");
        assert_eq!(kept[c].iterations(), every[c].iterations(), "candidate {c}");
        assert_eq!(kept[c].controls(), every[c].controls(), "candidate {c}");
        assert_eq!(kept[c].cost(), every[c].cost(), "candidate {c}");
    }
    for c in (0..kept.len()).filter(|c| !survivors.contains(c)) {
        assert!(
            kept[c].iterations() < every[c].iterations(),
            "candidate {c}"
        );
        let better = kept.iter().filter(|s| s.cost() < kept[c].cost()).count();
        assert!(better >= keep, "candidate {c} stopped with {better} better");
    }
    assert!(survivors.contains(&report.best));
    let lowest = kept
        .iter()
        .map(Solution::cost)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(kept[report.best].cost(), lowest);
    // After the first iteration only `keep` candidates are linearised.
    let first = guesses.len() * horizon;
    assert!(
        kept_points <= first + (all.max_iterations - 1) * keep * horizon,
        "{kept_points} points linearised"
    );
    assert!(
        kept_points < every_points,
        "{kept_points} of {every_points}"
    );
}
