//! The full LQR solve (`solve_lqr`: backward pass and rollout) at the report sizes, single thread.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use zplan_benches::{LqrData, SIZES};
use zplan_lqr::{LqrSolution, LqrWorkspace, solve_lqr};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("lqr_solve");
    for (n, m, horizon) in SIZES {
        let data = LqrData::random(n, m, horizon, 0);
        let problem = data.lqr_problem();
        let mut ws = LqrWorkspace::new(n, m);
        let mut sol = LqrSolution::new(n, m, horizon);
        group.bench_function(
            BenchmarkId::from_parameter(format!("n{n}_m{m}_T{horizon}")),
            |b| b.iter(|| solve_lqr(&problem, data.x0.view(), &mut ws, &mut sol).expect("convex")),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
