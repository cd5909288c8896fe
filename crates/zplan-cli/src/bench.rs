//! `zplan bench`: the solver on seeded synthetic problems (`lqr`, `ilqr`, `boxddp`) and the MPC
//! step on a task (`mpc`), single-threaded, as medians over many runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;
use zplan_benches::{
    LqrData, SineSystem, Stability, backward_flops, dgemm_gflops, rollout_flops, time_runs,
};
use zplan_envs::TaskKind;
use zplan_lqr::{
    LqrSolution, LqrWorkspace, Settings, Solution, Status, Workspace, solve, solve_lqr,
};

use crate::eval::{self, EvalArgs, quantile};

/// Which solver to time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SolverKind {
    /// The Riccati recursion and rollout of an affine LQR problem.
    Lqr,
    /// iLQR from zero controls on the problem with a sine nonlinearity in the dynamics.
    Ilqr,
    /// Box-DDP on the same nonlinear problem with |u_i| <= 0.5.
    BoxDdp,
}

impl SolverKind {
    fn name(self) -> &'static str {
        match self {
            Self::Lqr => "lqr",
            Self::Ilqr => "ilqr",
            Self::BoxDdp => "boxddp",
        }
    }
}

/// What `zplan bench lqr|ilqr|boxddp` times.
pub struct SolverArgs {
    pub kind: SolverKind,
    pub n: usize,
    pub m: usize,
    pub horizon: usize,
    pub system: Stability,
    pub seed: u64,
    pub runs: usize,
    pub json: Option<PathBuf>,
}

/// Weight of the sine term of the nonlinear problems.
const NONLINEARITY: f64 = 0.1;

/// Warm-up before timed runs.
const WARM_UP: Duration = Duration::from_millis(300);

pub fn run_solver(args: &SolverArgs) -> ExitCode {
    let (n, m, horizon) = (args.n, args.m, args.horizon);
    if n == 0 || m == 0 || horizon == 0 {
        eprintln!("zplan bench: --n, --m and --horizon must be at least 1");
        return ExitCode::FAILURE;
    }
    let data = LqrData::random_system(n, m, horizon, args.seed, args.system);
    let problem = data.lqr_problem();
    let (timing, (iterations, status)) = match args.kind {
        SolverKind::Lqr => {
            let mut ws = LqrWorkspace::new(n, m);
            let mut sol = LqrSolution::new(n, m, horizon);
            let x0 = data.x0.view();
            let timing = time_runs(WARM_UP, args.runs, || {
                solve_lqr(&problem, x0, &mut ws, &mut sol).expect("a convex problem");
            });
            (timing, (1, Status::Converged))
        }
        SolverKind::Ilqr | SolverKind::BoxDdp => {
            let bounded = args.kind == SolverKind::BoxDdp;
            let ddp = match data.problem(bounded) {
                Ok(ddp) => ddp,
                Err(e) => {
                    eprintln!("zplan bench: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let mut dynamics = SineSystem::new(&data, NONLINEARITY);
            let settings = Settings {
                max_iterations: 50,
                ..Settings::default()
            };
            let mut ws = Workspace::new(n, m, horizon, settings.line_search_batch);
            let mut sol = Solution::new(n, m, horizon);
            let mut outcome = (0, Status::Unsolved);
            let timing = time_runs(WARM_UP, args.runs, || {
                sol.controls_mut().fill(0.0);
                let status = solve(&mut dynamics, &problem, &ddp, &settings, &mut ws, &mut sol)
                    .expect("a well-posed problem");
                outcome = (sol.iterations(), status);
            });
            (timing, outcome)
        }
    };
    // Flops of the Riccati recursion and one rollout per iteration (line-search retries and
    // the linearisation are not counted).
    let flops = iterations as f64 * (backward_flops(n, m, horizon) + rollout_flops(n, m, horizon));
    let gflops = flops / timing.median_us / 1e3;
    let peak = dgemm_gflops(Duration::from_millis(200));
    println!(
        "zplan bench {} (n {n}, m {m}, T {horizon}, {} system, seed {}, {} runs, 1 thread):",
        args.kind.name(),
        args.system.name(),
        args.seed,
        args.runs
    );
    println!(
        "  median {:.2} us, p10 {:.2} us, p90 {:.2} us; {iterations} iteration(s), {status:?}",
        timing.median_us, timing.p10_us, timing.p90_us
    );
    println!(
        "  {gflops:.2} GFLOP/s = {:.1} % of the single-thread DGEMM peak measured now ({peak:.1} GFLOP/s)",
        100.0 * gflops / peak
    );
    let record = json!({
        "kind": args.kind.name(),
        "n": n,
        "m": m,
        "T": horizon,
        "system": args.system,
        "iterations": iterations,
        "status": format!("{status:?}"),
        "median_us": timing.median_us,
        "p10_us": timing.p10_us,
        "p90_us": timing.p90_us,
        "gflops": gflops,
        "peak_gflops": peak,
    });
    write_json(args.json.as_deref(), &record)
}

/// What `zplan bench mpc` times.
pub struct MpcArgs {
    pub task: TaskKind,
    pub model: PathBuf,
    pub episodes: usize,
    pub seed: u64,
    pub json: Option<PathBuf>,
}

pub fn run_mpc(args: &MpcArgs) -> ExitCode {
    let eval_args = EvalArgs {
        task: args.task,
        models: vec![args.model.clone()],
        episodes: args.episodes,
        seed: args.seed,
        json: None,
        reward_objective: false,
        // The reference planner, as the numpy peer plans.
        reference: true,
        q: None,
        terminal_steps: None,
        horizon: None,
    };
    let score = match eval::evaluate(&eval_args, &args.model) {
        Ok(score) => score,
        Err(message) => {
            eprintln!("zplan bench: {}: {message}", args.model.display());
            return ExitCode::FAILURE;
        }
    };
    let us = |values: &[f64], q: f64| quantile(values, q) * 1e3;
    let [encode, linearize, backward, forward] = &score.phase_ms;
    let record = json!({
        "task": args.task.name(),
        "model": args.model.display().to_string(),
        "steps": score.step_ms.len(),
        "step_us_median": us(&score.step_ms, 0.5),
        "step_us_p99": us(&score.step_ms, 0.99),
        "encode_us_median": us(encode, 0.5),
        "linearize_us_median": us(linearize, 0.5),
        "backward_us_median": us(backward, 0.5),
        "forward_us_median": us(forward, 0.5),
        "percent_in_goal": score.percent,
    });
    write_json(args.json.as_deref(), &record)
}

/// What `zplan bench swap` times.
pub struct SwapArgs {
    pub task: TaskKind,
    pub model: PathBuf,
    pub swaps: usize,
    pub json: Option<PathBuf>,
}

/// Hot reload as a robot stack does it: a worker thread loads each bundle (files, sessions,
/// probes) and hands it over a channel; the control thread, which plans between swaps, times
/// only `Planner::swap_bundle`. The peer is the swap that loads on the control thread: load +
/// swap, from the same samples.
pub fn run_swap(args: &SwapArgs) -> ExitCode {
    match swap_times(args) {
        Ok(record) => write_json(args.json.as_deref(), &record),
        Err(message) => {
            eprintln!("zplan bench swap: {}: {message}", args.model.display());
            ExitCode::FAILURE
        }
    }
}

fn swap_times(args: &SwapArgs) -> Result<serde_json::Value, String> {
    use std::sync::mpsc;
    use std::time::Instant;
    use zplan_mpc::{Planner, PlannerSettings};
    use zplan_onnx::Bundle;

    let settings = PlannerSettings::for_task(args.task.name()).expect("a benchmark task");
    let mut planner = Planner::new(
        Bundle::load(&args.model).map_err(|e| e.to_string())?,
        settings,
    )
    .map_err(|e| e.to_string())?;
    let mut env = zplan_envs::Env::new(args.task, 0);
    let (sender, receiver) = mpsc::sync_channel::<(Bundle, f64)>(1);
    let (model, swaps) = (args.model.clone(), args.swaps);
    let loader = std::thread::spawn(move || -> Result<(), String> {
        for _ in 0..swaps {
            let start = Instant::now();
            let bundle = Bundle::load(&model).map_err(|e| e.to_string())?;
            let load_ms = start.elapsed().as_secs_f64() * 1e3;
            if sender.send((bundle, load_ms)).is_err() {
                break;
            }
        }
        Ok(())
    });
    let (mut swap_ms, mut load_ms, mut step_ms) = (Vec::new(), Vec::new(), Vec::new());
    for (k, (bundle, load)) in receiver.iter().enumerate() {
        // A few plans on the serving networks between two swaps, as on the robot.
        eval::run_episode(&mut env, &mut planner, k as u64, |step| {
            step_ms.push(step.plan_ms);
            Ok(())
        })?;
        let start = Instant::now();
        planner.swap_bundle(bundle).map_err(|e| e.to_string())?;
        swap_ms.push(start.elapsed().as_secs_f64() * 1e3);
        load_ms.push(load);
    }
    loader
        .join()
        .map_err(|_| "the loader thread panicked".to_string())??;
    let inline: Vec<f64> = swap_ms.iter().zip(&load_ms).map(|(s, l)| s + l).collect();
    let q = |v: &[f64], p: f64| quantile(v, p);
    println!(
        "zplan bench swap ({}, {} swaps, bundle loaded on a worker thread):",
        args.model.display(),
        swap_ms.len()
    );
    println!(
        "  swap on the control thread: median {:.3} ms, p99 {:.3} ms",
        q(&swap_ms, 0.5),
        q(&swap_ms, 0.99)
    );
    println!(
        "  load on the worker: median {:.1} ms, p99 {:.1} ms; load + swap on the control thread \
         would be {:.1} ms median ({:.0}x the swap)",
        q(&load_ms, 0.5),
        q(&load_ms, 0.99),
        q(&inline, 0.5),
        q(&inline, 0.5) / q(&swap_ms, 0.5)
    );
    println!("  MPC step meanwhile: median {:.3} ms", q(&step_ms, 0.5));
    Ok(json!({
        "task": args.task.name(),
        "model": args.model.display().to_string(),
        "swaps": swap_ms.len(),
        "swap_ms_median": q(&swap_ms, 0.5),
        "swap_ms_p99": q(&swap_ms, 0.99),
        "load_ms_median": q(&load_ms, 0.5),
        "load_ms_p99": q(&load_ms, 0.99),
        "load_and_swap_ms_median": q(&inline, 0.5),
        "step_ms_median": q(&step_ms, 0.5),
    }))
}

fn write_json(path: Option<&Path>, record: &serde_json::Value) -> ExitCode {
    let Some(path) = path else {
        return ExitCode::SUCCESS;
    };
    let text = serde_json::to_string_pretty(record).expect("a JSON value serialises") + "\n";
    match std::fs::write(path, text) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zplan bench: {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}
