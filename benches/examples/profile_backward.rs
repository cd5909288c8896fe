//! Runs the LQR backward pass in a loop, for a profiler: `profile_backward N M T ITERATIONS`.

use zplan_benches::LqrData;
use zplan_lqr::{LqrSolution, LqrWorkspace, lqr_backward};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let [n, m, horizon, iterations] = args[..] else {
        eprintln!("usage: profile_backward N M T ITERATIONS");
        std::process::exit(2);
    };
    let problem = LqrData::random(n, m, horizon, 0).lqr_problem();
    let mut ws = LqrWorkspace::new(n, m);
    let mut sol = LqrSolution::new(n, m, horizon);
    for _ in 0..iterations {
        lqr_backward(&problem, &mut ws, &mut sol).expect("convex");
    }
    println!("{}", sol.gains()[[0, 0, 0]]);
}
