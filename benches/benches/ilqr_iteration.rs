//! One iLQR iteration (linearise, backward pass, line search) from the zero-control rollout, at
//! the report sizes, single thread. The initial rollout is part of the timed call.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use zplan_benches::{LqrData, SIZES};
use zplan_lqr::{Settings, Solution, Workspace, solve};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("ilqr_iteration");
    let settings = Settings {
        max_iterations: 1,
        ..Settings::default()
    };
    for (n, m, horizon) in SIZES {
        let data = LqrData::random(n, m, horizon, 0);
        let (mut dynamics, cost) = (data.dynamics(), data.lqr_problem());
        let problem = data.problem(false).expect("valid problem");
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

criterion_group!(benches, bench);
criterion_main!(benches);
