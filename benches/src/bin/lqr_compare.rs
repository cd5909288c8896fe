//! zplan's side of `make bench-compare`: times the LQR backward pass, the DDP solve and the
//! box-DDP solve on the seeded problems of every report size, single thread, and the DDP and
//! box-DDP solves of the same problems with a sine term in the dynamics; writes the problems,
//! the medians, the returned controls and the nonlinear solves' costs per iteration as JSON for
//! the peer script to replay.
//!
//! Usage: `lqr-compare OUT.json [--quick]`

use std::time::Duration;

use ndarray::Array2;
use serde::Serialize;
use zplan_benches::{LqrData, SIZES, SineSystem, Timing, backward_flops, time_runs};
use zplan_lqr::{
    LqrSolution, LqrWorkspace, Settings, Solution, Status, Workspace, lqr_backward, solve,
    solve_lqr,
};

#[derive(Serialize)]
struct Case {
    n: usize,
    m: usize,
    horizon: usize,
    problem: LqrData,
    backward: Timing,
    backward_gflops: f64,
    lqr_solve: Timing,
    ddp_solve: Timing,
    ddp_iterations: usize,
    boxddp_solve: Timing,
    boxddp_iterations: usize,
    lqr_controls: Array2<f64>,
    ddp_controls: Array2<f64>,
    boxddp_controls: Array2<f64>,
    sine_ddp: NonlinearSolve,
    sine_boxddp: NonlinearSolve,
}

/// Weight of the sine term of the nonlinear cases, x' = A x + B u + f + eps sin(x) (the
/// `mixed` problems of `zplan bench ilqr|boxddp`).
const NONLINEARITY: f64 = 0.1;

/// One solve of a nonlinear case from zero controls, with the solver's default tolerances.
#[derive(Serialize)]
struct NonlinearSolve {
    solve: Timing,
    iterations: usize,
    converged: bool,
    /// The cost after each iteration.
    costs: Vec<f64>,
    controls: Array2<f64>,
}

/// Tolerances tight enough that both solvers agree to 1e-8 at their fixed points.
fn comparison_settings() -> Settings {
    Settings {
        gradient_tolerance: 1e-10,
        cost_tolerance: 1e-15,
        max_iterations: 500,
        ..Settings::default()
    }
}

fn runs_for(estimate_us: f64, budget: Duration) -> usize {
    ((budget.as_secs_f64() * 1e6 / estimate_us.max(0.1)) as usize).clamp(20, 200_000)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out) = args.first() else {
        eprintln!("usage: lqr-compare OUT.json [--quick]");
        std::process::exit(2);
    };
    let budget = if args.iter().any(|a| a == "--quick") {
        Duration::from_millis(100)
    } else {
        Duration::from_secs(1)
    };
    let warm_up = budget / 4;
    let settings = comparison_settings();
    let mut cases = Vec::new();
    for (n, m, horizon) in SIZES {
        let data = LqrData::random(n, m, horizon, 0);
        let lqr = data.lqr_problem();
        let mut lqr_ws = LqrWorkspace::new(n, m);
        let mut lqr_sol = LqrSolution::new(n, m, horizon);
        let probe = time_runs(Duration::ZERO, 5, || {
            lqr_backward(&lqr, &mut lqr_ws, &mut lqr_sol).expect("convex")
        });
        let backward = time_runs(warm_up, runs_for(probe.median_us, budget), || {
            lqr_backward(&lqr, &mut lqr_ws, &mut lqr_sol).expect("convex")
        });
        let lqr_solve = time_runs(warm_up, runs_for(probe.median_us, budget), || {
            solve_lqr(&lqr, data.x0.view(), &mut lqr_ws, &mut lqr_sol).expect("convex")
        });

        let (mut dynamics, cost) = (data.dynamics(), data.lqr_problem());
        let mut ws = Workspace::new(n, m, horizon, 1);
        let mut ddp = |bounded: bool| {
            let problem = data.problem(bounded).expect("valid problem");
            let mut sol = Solution::new(n, m, horizon);
            let mut run = |sol: &mut Solution| {
                sol.controls_mut().fill(0.0);
                let status =
                    solve(&mut dynamics, &cost, &problem, &settings, &mut ws, sol).expect("solves");
                assert_eq!(
                    status,
                    Status::Converged,
                    "n={n} m={m} T={horizon} bounded={bounded}"
                );
            };
            let probe = time_runs(Duration::ZERO, 3, || run(&mut sol));
            let timing = time_runs(warm_up, runs_for(probe.median_us, budget), || run(&mut sol));
            (timing, sol)
        };
        let (ddp_solve, ddp_sol) = ddp(false);
        let (boxddp_solve, box_sol) = ddp(true);

        let mut sine = SineSystem::new(&data, NONLINEARITY);
        let nonlinear_settings = Settings {
            max_iterations: 500,
            ..Settings::default()
        };
        let mut nonlinear = |bounded: bool| {
            let problem = data.problem(bounded).expect("valid problem");
            let mut sol = Solution::new(n, m, horizon);
            let mut status = Status::Unsolved;
            let mut run = |sol: &mut Solution| {
                sol.controls_mut().fill(0.0);
                status = solve(
                    &mut sine,
                    &cost,
                    &problem,
                    &nonlinear_settings,
                    &mut ws,
                    sol,
                )
                .expect("solves");
            };
            let probe = time_runs(Duration::ZERO, 1, || run(&mut sol));
            let solve = time_runs(Duration::ZERO, runs_for(probe.median_us, budget), || {
                run(&mut sol)
            });
            NonlinearSolve {
                solve,
                iterations: sol.iterations(),
                converged: status == Status::Converged,
                costs: sol.log().iter().map(|record| record.cost).collect(),
                controls: sol.controls().to_owned(),
            }
        };
        let sine_ddp = nonlinear(false);
        let sine_boxddp = nonlinear(true);
        eprintln!(
            "n={n:>2} m={m} T={horizon:>3}: backward {:>8.1} us, LQR solve {:>8.1} us, DDP solve {:>8.1} us ({} it), box-DDP {:>9.1} us ({} it); with the sine term: DDP {:>9.1} us ({} it), box-DDP {:>9.1} us ({} it)",
            backward.median_us,
            lqr_solve.median_us,
            ddp_solve.median_us,
            ddp_sol.iterations(),
            boxddp_solve.median_us,
            box_sol.iterations(),
            sine_ddp.solve.median_us,
            sine_ddp.iterations,
            sine_boxddp.solve.median_us,
            sine_boxddp.iterations,
        );
        cases.push(Case {
            n,
            m,
            horizon,
            backward_gflops: backward_flops(n, m, horizon) / backward.median_us / 1e3,
            backward,
            lqr_solve,
            ddp_solve,
            ddp_iterations: ddp_sol.iterations(),
            boxddp_solve,
            boxddp_iterations: box_sol.iterations(),
            lqr_controls: lqr_sol.controls().to_owned(),
            ddp_controls: ddp_sol.controls().to_owned(),
            boxddp_controls: box_sol.controls().to_owned(),
            sine_ddp,
            sine_boxddp,
            problem: data,
        });
    }
    let json = serde_json::to_string(&serde_json::json!({ "cases": cases })).expect("serialisable");
    if let Some(dir) = std::path::Path::new(out).parent() {
        std::fs::create_dir_all(dir).expect("create the output directory");
    }
    std::fs::write(out, json).expect("write the output");
}
