//! Receding-horizon box-DDP on the true cart-pole state, as the latent planner runs on the
//! cart-pole task (horizon 5, Q = q I, R = I, |F| <= 10, 3 uniform + 3 bang-bang candidates and
//! the warm start, 4 iterations), with two terminal weights:
//!
//! - Q_T = Q (the reference planner);
//! - Q_T = P_N, the cost-to-go of N more steps of LQR on the dynamics linearised upright.
//!
//! Prints the percent of steps with |theta| <= pi/10 over 20 episodes from theta ~ U(+-pi/8)
//! (the task's scoring). `cargo run --release -p zplan-lqr --example cartpole_terminal_cost`

use std::f64::consts::PI;

use ndarray::{Array1, Array2, Array3, arr1, s};
use zplan_lqr::systems::{CartPole, RandomMatrices};
use zplan_lqr::{
    Dynamics, LqrProblem, LqrSolution, LqrWorkspace, Problem, QuadraticCost, Settings, Solution,
    Workspace, lqr_backward, solve_batch,
};

const EPISODES: usize = 20;
const STEPS: usize = 50;
const FORCE: f64 = 10.0;

/// P_N of P_0 = Q, P_{k+1} = Q + A'P_k A - A'P_k B (R + B'P_k B)^-1 B'P_k A at the upright
/// equilibrium, through the library's LQR backward pass.
fn cost_to_go(model: &mut CartPole, q: &Array2<f64>, steps: usize) -> Array2<f64> {
    let mut jacobian = Array3::zeros((1, 4, 5));
    model
        .linearize(
            Array2::zeros((1, 4)).view(),
            Array2::zeros((1, 1)).view(),
            jacobian.view_mut(),
        )
        .expect("the cart-pole linearises");
    let mut lqr = LqrProblem::new(4, 1, steps);
    for t in 0..steps {
        lqr.a_mut(t).assign(&jacobian.slice(s![0, .., ..4]));
        lqr.b_mut(t).assign(&jacobian.slice(s![0, .., 4..]));
        lqr.q_mut(t).assign(q);
        lqr.r_mut(t).fill(1.0);
    }
    lqr.q_terminal_mut().assign(q);
    let mut solution = LqrSolution::new(4, 1, steps);
    lqr_backward(&lqr, &mut LqrWorkspace::new(4, 1), &mut solution).expect("R > 0");
    solution.value_hessians().slice(s![0, .., ..]).to_owned()
}

/// Percent of steps in goal over the episodes, planning `horizon` steps with terminal weight
/// `q_terminal`.
fn score(q: f64, q_terminal: &Array2<f64>, horizon: usize) -> f64 {
    let mut model = CartPole::default();
    let mut plant = CartPole {
        dt: model.dt / 10.0,
        ..model
    };
    let cost = QuadraticCost::new(
        Array2::eye(4) * q,
        Array2::eye(1),
        q_terminal.clone(),
        Array1::zeros(4),
    )
    .expect("finite weights");
    let candidates = 7;
    let mut workspace = Workspace::with_candidates(4, 1, horizon, 1, candidates);
    let mut plans: Vec<Solution> = (0..candidates)
        .map(|_| Solution::new(4, 1, horizon))
        .collect();
    let settings = Settings {
        max_iterations: 4,
        ..Settings::default()
    };
    let mut rng = RandomMatrices::new(7);
    let (mut state, mut next) = (Array2::zeros((1, 4)), Array2::zeros((1, 4)));
    let mut in_goal = 0;
    for _ in 0..EPISODES {
        state.fill(0.0);
        state[[0, 0]] = 2.0 * rng.uniform() * PI / 8.0;
        let mut previous = vec![0.0; horizon];
        for _ in 0..STEPS {
            let problem = Problem::new(state.row(0).to_owned(), horizon)
                .and_then(|p| p.with_control_bounds(arr1(&[-FORCE]), arr1(&[FORCE])))
                .expect("a valid problem");
            // The warm start, 3 uniform and 3 bang-bang sequences.
            for (c, plan) in plans.iter_mut().enumerate() {
                for (t, u) in plan.controls_mut().iter_mut().enumerate() {
                    *u = match c {
                        0 => previous[t],
                        1..=3 => 2.0 * rng.uniform() * FORCE,
                        _ if rng.uniform() < 0.0 => -FORCE,
                        _ => FORCE,
                    };
                }
            }
            let report = solve_batch(
                &mut model,
                &cost,
                &problem,
                &settings,
                &mut workspace,
                &mut plans,
            )
            .expect("the solve runs");
            let controls = plans[report.best].controls();
            for (t, u) in previous.iter_mut().enumerate() {
                *u = controls[[(t + 1).min(horizon - 1), 0]];
            }
            // The plant: ten Euler steps of dt / 10 per control period, rate clipped.
            let force = Array2::from_elem((1, 1), controls[[0, 0]].clamp(-FORCE, FORCE));
            for _ in 0..10 {
                plant
                    .step(0, state.view(), force.view(), next.view_mut())
                    .expect("the plant steps");
                state.assign(&next);
                state[[0, 1]] = state[[0, 1]].clamp(-2.0 * PI, 2.0 * PI);
            }
            in_goal += usize::from(state[[0, 0]].abs() <= PI / 10.0);
        }
    }
    100.0 * in_goal as f64 / (EPISODES * STEPS) as f64
}

fn main() {
    println!("| q | Q_T | horizon | % of steps in goal |");
    println!("|---|---|---|---|");
    for q in [100.0, 1000.0] {
        let stage = Array2::eye(4) * q;
        println!("| {q} | Q | 5 | {:.1} |", score(q, &stage, 5));
        for steps in [10, 20, 100] {
            let terminal = cost_to_go(&mut CartPole::default(), &stage, steps);
            println!("| {q} | P_{steps} | 5 | {:.1} |", score(q, &terminal, 5));
        }
        println!("| {q} | Q | 50 | {:.1} |", score(q, &stage, 50));
    }
}
