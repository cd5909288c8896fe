//! `zplan bench`: the solver on seeded synthetic problems (`lqr`, `ilqr`, `boxddp`), the MPC
//! step on a task (`mpc`), the hot swap of a bundle (`swap`) and ONNX Runtime's session
//! settings (`sessions`, in bench_sessions.rs), single-threaded, as medians over many runs.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::json;
use zplan_benches::{
    LqrData, SineSystem, Stability, backward_flops, dgemm_gflops, fma_peak_gflops, rollout_flops,
    time_runs,
};
use zplan_envs::{Env, TaskKind};
use zplan_loop::{evaluate, quantile, run_episode};
use zplan_lqr::{
    LqrSolution, LqrWorkspace, Settings, Solution, Status, Workspace, solve, solve_lqr,
};
use zplan_mpc::{Cut, DynamicsCalls, Planner, PlannerKind, PlannerSettings};
use zplan_onnx::{Bundle, JacobianSpec};

use crate::eval::PlannerArgs;

/// Time the solver on seeded synthetic problems, or the MPC step on a task (one thread).
#[derive(Subcommand)]
pub enum BenchCommand {
    /// The Riccati recursion and rollout of a seeded affine LQR problem.
    Lqr(SolverBench),
    /// iLQR from zero controls on the seeded problem with a sine term in its dynamics,
    /// x' = A x + B u + f + 0.1 sin(x).
    Ilqr(SolverBench),
    /// Box-DDP on the same nonlinear problem with |u_i| <= 0.5.
    Boxddp(SolverBench),
    /// Per-phase timing of the MPC step (encode, linearise, backward, line search) at the
    /// reference settings of a task, over whole episodes.
    Mpc(MpcBench),
    /// Hot reload: bundles loaded on a worker thread, swapped into a planning planner; times
    /// the swap on the control thread (median, p99) beside loading there too.
    Swap(SwapBench),
    /// ONNX Runtime's session settings side by side: the networks at the MPC step's batch
    /// sizes and whole MPC steps, for zplan's defaults and one change at a time.
    Sessions(crate::bench_sessions::SessionsBench),
}

impl BenchCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        match self {
            Self::Lqr(bench) => bench.execute(SolverKind::Lqr),
            Self::Ilqr(bench) => bench.execute(SolverKind::Ilqr),
            Self::Boxddp(bench) => bench.execute(SolverKind::BoxDdp),
            Self::Mpc(bench) => bench.execute(),
            Self::Swap(bench) => bench.execute(),
            Self::Sessions(bench) => bench.execute(),
        }
    }
}

/// Which solver to time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SolverKind {
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

/// The problem and the runs of a solver bench.
#[derive(Args)]
pub struct SolverBench {
    /// States.
    #[arg(long)]
    n: usize,
    /// Controls.
    #[arg(long)]
    m: usize,
    /// Stages.
    #[arg(long)]
    horizon: usize,
    /// Open-loop dynamics: `mixed` (A = 0.98 I + noise), `stable` or `unstable` (every
    /// eigenvalue of modulus 0.95 or 1.05).
    #[arg(long, value_enum, default_value_t = Stability::Unstable)]
    system: Stability,
    /// Seed of the problem.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Timed runs after the warm-up.
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// Also write the result as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// What `zplan bench mpc` times.
#[derive(Args)]
pub struct MpcBench {
    #[arg(long)]
    task: TaskKind,
    /// The bundle [default: models/TASK].
    #[arg(long)]
    model: Option<PathBuf>,
    /// Episodes to run (each step of each is one sample).
    #[arg(long, default_value_t = 3)]
    episodes: usize,
    /// Steps planned ahead instead of the reference settings' (e.g. PlaNet's 12).
    #[arg(long, value_name = "T")]
    horizon: Option<usize>,
    /// Seed of the first start/goal draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write the medians as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    #[command(flatten)]
    planner: PlannerArgs,
}

/// What `zplan bench swap` times.
#[derive(Args)]
pub struct SwapBench {
    #[arg(long)]
    task: TaskKind,
    /// The bundle [default: models/TASK].
    #[arg(long)]
    model: Option<PathBuf>,
    /// Swaps to time (one episode is planned before each).
    #[arg(long, default_value_t = 50)]
    swaps: usize,
    /// Also write the medians as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Weight of the sine term of the nonlinear problems.
const NONLINEARITY: f64 = 0.1;

/// Warm-up before timed runs.
const WARM_UP: Duration = Duration::from_millis(300);

impl SolverBench {
    fn execute(self, kind: SolverKind) -> anyhow::Result<()> {
        let args = &self;
        let (n, m, horizon) = (args.n, args.m, args.horizon);
        anyhow::ensure!(
            n > 0 && m > 0 && horizon > 0,
            "--n, --m and --horizon must be at least 1"
        );
        let data = LqrData::random_system(n, m, horizon, args.seed, args.system);
        let problem = data.lqr_problem();
        let (timing, (iterations, status)) = match kind {
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
                let ddp = data.problem(kind == SolverKind::BoxDdp)?;
                let mut dynamics = SineSystem::new(&data, NONLINEARITY);
                let settings = Settings {
                    max_iterations: 50,
                    ..Settings::default()
                };
                let mut ws = Workspace::new(n, m, horizon, settings.largest_line_search_batch());
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
        let flops =
            iterations as f64 * (backward_flops(n, m, horizon) + rollout_flops(n, m, horizon));
        let gflops = flops / timing.median_us / 1e3;
        let peak = fma_peak_gflops(Duration::from_millis(200));
        let dgemm = dgemm_gflops(Duration::from_millis(200));
        println!(
            "zplan bench {} (n {n}, m {m}, T {horizon}, {} system, seed {}, {} runs, 1 thread):",
            kind.name(),
            args.system.name(),
            args.seed,
            args.runs
        );
        println!(
            "  median {:.2} us, p10 {:.2} us, p90 {:.2} us; {iterations} iteration(s), {status:?}",
            timing.median_us, timing.p10_us, timing.p90_us
        );
        println!(
            "  {gflops:.2} GFLOP/s = {:.1} % of this core's double-precision FMA peak measured now \
             ({peak:.1} GFLOP/s; OpenBLAS's 256 x 256 DGEMM reaches {dgemm:.1})",
            100.0 * gflops / peak
        );
        let record = json!({
            "kind": kind.name(),
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
            "dgemm_gflops": dgemm,
        });
        write_record(args.json.as_ref(), &record)
    }
}

impl MpcBench {
    /// The MPC step at the reference planner's settings (as the numpy peer plans), per phase.
    fn execute(self) -> anyhow::Result<()> {
        let reference = PlannerSettings::reference(self.task);
        let mut settings = PlannerSettings {
            kind: self.planner.kind(),
            horizon: self.horizon.unwrap_or(reference.horizon),
            ..reference
        };
        self.planner.apply_to_ddp(&mut settings);
        let model = self
            .model
            .unwrap_or_else(|| crate::shipped_model(self.task));
        let (bundle, evaluator) = self.planner.load(&model)?;
        let jacobians = jacobian_source(&bundle);
        let mut planner = Planner::new(bundle, settings)?;
        let mut env = Env::new(self.task, self.seed);
        let score = evaluate(&mut env, &mut planner, self.seed, self.episodes, |_, _| {})?;
        let us = |values: &[f64], q: f64| quantile(values, q) * 1e3;
        let [encode, linearize, backward, forward, sampled] = &score.phase_ms;
        let calls = median_calls(&score.dynamics_calls);
        let deadline_us = planner.settings().deadline.map(|d| d.as_secs_f64() * 1e6);
        let over_deadline =
            deadline_us.map(|limit| score.step_ms.iter().filter(|&&ms| ms * 1e3 > limit).count());
        let count = |kind: fn(&Cut) -> bool| score.cuts.iter().filter(|c| kind(c)).count();
        let cuts = json!({
            "solve": count(|c| *c == Cut::Solve),
            "ddp": count(|c| matches!(c, Cut::Ddp { .. })),
            "sampling": count(|c| matches!(c, Cut::Sampling { .. })),
        });

        let model_steps = match &planner.settings().kind {
            PlannerKind::Sampling(s) => s.samples * s.iterations * planner.settings().horizon,
            PlannerKind::Ddp => 0,
        };
        let record = json!({
            "task": self.task.name(),
            "model": model.display().to_string(),
            "planner": format!("{:?}", self.planner.choice()),
            "evaluator": evaluator,
            "horizon": planner.settings().horizon,
            "sampled_model_steps_per_plan": model_steps,
            "steps": score.step_ms.len(),
            "step_us_median": us(&score.step_ms, 0.5),
            "step_us_p99": us(&score.step_ms, 0.99),
            "step_us_max": us(&score.step_ms, 1.0),
            "deadline_us": deadline_us,
            "steps_over_deadline": over_deadline,
            "cuts": cuts,
            "encode_us_median": us(encode, 0.5),
            "linearize_us_median": us(linearize, 0.5),
            "backward_us_median": us(backward, 0.5),
            "forward_us_median": us(forward, 0.5),
            "sampled_dynamics_us_median": us(sampled, 0.5),
            "percent_in_goal": score.percent,
            "dynamics_calls_per_step": calls.step_calls,
            "dynamics_rows_per_step": calls.step_rows,
            "jacobian_calls_per_step": calls.jacobian_calls,
            "jacobian_points_per_step": calls.jacobian_points,
            "jacobians": jacobians,
        });
        println!(
            "zplan bench mpc {} ({} steps, dynamics {evaluator}): median {:.1} us, p99 {:.1} us",
            self.task.name(),
            score.step_ms.len(),
            us(&score.step_ms, 0.5),
            us(&score.step_ms, 0.99)
        );
        if let (Some(limit), Some(over)) = (deadline_us, over_deadline) {
            println!(
                "  deadline {limit:.0} us: max {:.1} us, {over} of {} steps over it; steps cut \
                 before solving {}, in box-DDP {}, in sampling {}",
                us(&score.step_ms, 1.0),
                score.step_ms.len(),
                cuts["solve"],
                cuts["ddp"],
                cuts["sampling"]
            );
        }
        println!(
            "  phase medians: encode {:.1} us, linearise {:.1}, backward {:.1}, line search {:.1}",
            us(encode, 0.5),
            us(linearize, 0.5),
            us(backward, 0.5),
            us(forward, 0.5)
        );
        println!(
            "  per step (medians): {} dynamics calls of {} rows in all, {} linearisations of {} \
             points in all ({jacobians})",
            calls.step_calls, calls.step_rows, calls.jacobian_calls, calls.jacobian_points
        );
        write_record(self.json.as_ref(), &record)
    }
}

/// The median of each count over the plans.
fn median_calls(calls: &[DynamicsCalls]) -> DynamicsCalls {
    let median = |count: fn(&DynamicsCalls) -> usize| {
        let mut values: Vec<usize> = calls.iter().map(count).collect();
        values.sort_unstable();
        values.get(values.len() / 2).copied().unwrap_or(0)
    };
    DynamicsCalls {
        step_calls: median(|c| c.step_calls),
        step_rows: median(|c| c.step_rows),
        jacobian_calls: median(|c| c.jacobian_calls),
        jacobian_points: median(|c| c.jacobian_points),
    }
}

/// How the bundle's Jacobians are computed, in words.
fn jacobian_source(bundle: &Bundle) -> String {
    match bundle.manifest().jacobians {
        JacobianSpec::Model => format!("model Jacobians on {}", bundle.jacobian_evaluator()),
        JacobianSpec::FiniteDifferences { scheme, .. } => {
            format!("{scheme:?} differences").to_lowercase()
        }
    }
}

impl SwapBench {
    /// Hot reload as a robot stack does it: a worker thread loads each bundle (files, sessions,
    /// probes) and hands it over a channel; the control thread, which plans between swaps,
    /// times only `Planner::swap_bundle`. The peer is the swap that loads on the control
    /// thread: load + swap, from the same samples.
    fn execute(self) -> anyhow::Result<()> {
        let settings = PlannerSettings::for_task(self.task);
        let (model, mut planner) = planner_on(self.task, self.model, settings)?;
        let mut env = Env::new(self.task, 0);
        let (sender, receiver) = mpsc::sync_channel::<(Bundle, f64)>(1);
        let (path, swaps) = (model.clone(), self.swaps);
        let loader = std::thread::spawn(move || -> Result<(), zplan_onnx::BundleError> {
            for _ in 0..swaps {
                let start = Instant::now();
                let bundle = Bundle::load(&path)?;
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
            run_episode(&mut env, &mut planner, k as u64, |step| {
                step_ms.push(step.plan_ms);
                Ok(())
            })?;
            let start = Instant::now();
            planner.swap_bundle(bundle)?;
            swap_ms.push(start.elapsed().as_secs_f64() * 1e3);
            load_ms.push(load);
        }
        loader
            .join()
            .map_err(|_| anyhow::anyhow!("the loader thread panicked"))??;
        let inline: Vec<f64> = swap_ms.iter().zip(&load_ms).map(|(s, l)| s + l).collect();
        let q = |v: &[f64], p: f64| quantile(v, p);
        println!(
            "zplan bench swap ({}, {} swaps, bundle loaded on a worker thread):",
            model.display(),
            swap_ms.len()
        );
        println!(
            "  swap on the control thread: median {:.3} ms, p99 {:.3} ms",
            q(&swap_ms, 0.5),
            q(&swap_ms, 0.99)
        );
        println!(
            "  load on the worker: median {:.1} ms, p99 {:.1} ms; load + swap on the control \
             thread would be {:.1} ms median ({:.0}x the swap)",
            q(&load_ms, 0.5),
            q(&load_ms, 0.99),
            q(&inline, 0.5),
            q(&inline, 0.5) / q(&swap_ms, 0.5)
        );
        println!("  MPC step meanwhile: median {:.3} ms", q(&step_ms, 0.5));
        let record = json!({
            "task": self.task.name(),
            "model": model.display().to_string(),
            "swaps": swap_ms.len(),
            "swap_ms_median": q(&swap_ms, 0.5),
            "swap_ms_p99": q(&swap_ms, 0.99),
            "load_ms_median": q(&load_ms, 0.5),
            "load_ms_p99": q(&load_ms, 0.99),
            "load_and_swap_ms_median": q(&inline, 0.5),
            "step_ms_median": q(&step_ms, 0.5),
        });
        write_record(self.json.as_ref(), &record)
    }
}

/// A planner with `settings` on `model` (default: the task's shipped bundle), and the path.
fn planner_on(
    task: TaskKind,
    model: Option<PathBuf>,
    settings: PlannerSettings,
) -> anyhow::Result<(PathBuf, Planner)> {
    let model = model.unwrap_or_else(|| crate::shipped_model(task));
    let bundle = Bundle::load(&model).with_context(|| format!("{}", model.display()))?;
    Ok((model, Planner::new(bundle, settings)?))
}

fn write_record(path: Option<&PathBuf>, record: &serde_json::Value) -> anyhow::Result<()> {
    match path {
        Some(path) => crate::write_json(path, record),
        None => Ok(()),
    }
}
