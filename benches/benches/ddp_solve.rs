//! The DDP solver from zero controls at the report sizes, single thread:
//! - `ilqr_iteration`: one iLQR iteration (linearise, backward pass, line search) without
//!   limits; the initial rollout is part of the timed call;
//! - `boxddp_solve`: a box-DDP solve to convergence with the limits |u_i| <= 0.5.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use zplan_benches::{LqrData, SIZES};
use zplan_lqr::{Settings, Solution, Workspace, solve};

/// Times `solve` from zero controls on every report size.
fn solve_from_zero(c: &mut Criterion, group: &str, settings: Settings, bounded: bool) {
    let mut group = c.benchmark_group(group);
    for (n, m, horizon) in SIZES {
        let data = LqrData::random(n, m, horizon, 0);
        let (mut dynamics, cost) = (data.dynamics(), data.lqr_problem());
        let problem = data.problem(bounded).expect("valid problem");
        let mut ws = Workspace::new(n, m, horizon, 1);
        let mut sol = Solution::new(n, m, horizon);
        group.bench_function(
            BenchmarkId::from_parameter(format!("n{n}_m{m}_T{horizon}")),
            |b| {
                b.iter(|| {
                    sol.controls_mut().fill(0.0);
                    solve(&mut dynamics, &cost, &problem, &settings, &mut ws, &mut sol)
                        .expect("solves")
                })
            },
        );
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    let one_iteration = Settings {
        max_iterations: 1,
        ..Settings::default()
    };
    solve_from_zero(c, "ilqr_iteration", one_iteration, false);
    solve_from_zero(c, "boxddp_solve", Settings::default(), true);
}

criterion_group!(benches, bench);
criterion_main!(benches);
