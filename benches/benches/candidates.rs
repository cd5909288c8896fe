//! The planner's candidates on a shipped model, single thread: 7 initial action sequences
//! (the reference's 3 random + 3 bang-bang, and a warm start) solved one after the other with
//! `solve`, against all together with `solve_batch`, at the reference settings of each task.
//! Same dynamics adapter, same sequences, same results (the batched solve ends each candidate
//! as the sequential one does); the difference is the number of network calls.

use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ndarray::Array1;
use zplan_envs::TaskKind;
use zplan_lqr::{Problem, QuadraticCost, Solution, Workspace, solve, solve_batch};
use zplan_mpc::{LatentDynamics, PlannerSettings};
use zplan_onnx::Bundle;

const CANDIDATES: usize = 7;

fn model(task: TaskKind) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(task.name())
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("candidates_x7");
    for task in [
        TaskKind::Planar,
        TaskKind::Swing,
        TaskKind::Cartpole,
        TaskKind::Threepole,
    ] {
        let settings = PlannerSettings::reference(task);
        let (manifest, _, net, _, _) = Bundle::load(&model(task))
            .expect("shipped model")
            .into_parts();
        let (nz, nu, horizon) = (manifest.latent_dim, manifest.action.dim, settings.horizon);
        let mut dynamics = LatentDynamics::new(net);
        let mut cost = QuadraticCost::diagonal(nz, nu, settings.q, settings.r, settings.q);
        cost.set_goal(Array1::from_elem(nz, 0.5).view())
            .expect("goal");
        let problem = Problem::new(Array1::from_elem(nz, -0.5), horizon)
            .expect("problem")
            .with_control_bounds(
                Array1::from(manifest.action.low.clone()),
                Array1::from(manifest.action.high.clone()),
            )
            .expect("bounds");
        // Fixed sequences: candidate c holds a constant action between the limits.
        let start = |sol: &mut Solution, c: usize| {
            for (k, u) in sol.controls_mut().iter_mut().enumerate() {
                let (lo, hi) = (manifest.action.low[k % nu], manifest.action.high[k % nu]);
                *u = lo + (hi - lo) * c as f64 / (CANDIDATES - 1) as f64;
            }
        };
        let batch = settings.solver.line_search_batch;
        let mut sequential = Workspace::new(nz, nu, horizon, batch);
        let mut together = Workspace::with_candidates(nz, nu, horizon, batch, CANDIDATES);
        let mut solutions: Vec<Solution> = (0..CANDIDATES)
            .map(|_| Solution::new(nz, nu, horizon))
            .collect();
        group.bench_function(BenchmarkId::new("sequential", task.name()), |b| {
            b.iter(|| {
                for (c, sol) in solutions.iter_mut().enumerate() {
                    start(sol, c);
                    solve(
                        &mut dynamics,
                        &cost,
                        &problem,
                        &settings.solver,
                        &mut sequential,
                        sol,
                    )
                    .expect("solves");
                }
            })
        });
        group.bench_function(BenchmarkId::new("batched", task.name()), |b| {
            b.iter(|| {
                for (c, sol) in solutions.iter_mut().enumerate() {
                    start(sol, c);
                }
                solve_batch(
                    &mut dynamics,
                    &cost,
                    &problem,
                    &settings.solver,
                    &mut together,
                    &mut solutions,
                )
                .expect("solves")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
