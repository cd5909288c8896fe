//! Temporary.
use zplan_benches::LqrData;
use zplan_lqr::{Settings, Solution, Workspace, solve};
fn main() {
    let (n, m, t) = (32, 8, 100);
    let data = LqrData::random(n, m, t, 0);
    let (mut d, c) = (data.dynamics(), data.cost());
    let p = data.problem(true).unwrap();
    let mut ws = Workspace::new(n, m, t, 1);
    let mut sol = Solution::new(n, m, t);
    let s = Settings {
        gradient_tolerance: 1e-10,
        cost_tolerance: 1e-15,
        max_iterations: 500,
        ..Settings::default()
    };
    let st = solve(&mut d, &c, &p, &s, &mut ws, &mut sol).unwrap();
    println!("{st:?} {}", sol.iterations());
    for r in sol.log() {
        println!(
            "cost {:.15e} mu {:.2e} alpha {:.3e} exp {:.3e} g {:.3e} {:?}",
            r.cost, r.mu, r.alpha, r.expected_improvement, r.gradient_norm, r.times.backward
        );
    }
}
