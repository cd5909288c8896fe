//! Box-DDP from zero controls with and without the unconstrained first iteration
//! (`Settings::unbounded_first_iteration`), on the seeded problems of every report size: the
//! three kinds of open-loop dynamics, linear and with the sine term of `zplan bench boxddp`,
//! eight seeds each. Prints a markdown table of iteration counts.
//!
//! Usage: `cargo run --release -p zplan-benches --example cold_start`

use zplan_benches::{LqrData, SIZES, SineSystem, Stability};
use zplan_lqr::{Settings, Solution, Workspace, solve};

const SEEDS: u64 = 8;

fn median(mut values: Vec<usize>) -> usize {
    values.sort_unstable();
    values[values.len() / 2]
}

fn main() {
    println!(
        "| dynamics | sine term | n | m | T | median iterations: unconstrained first / bounded first | fewer / more iterations (of {SEEDS} seeds) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for eps in [0.0, 0.1] {
        for stability in [Stability::Mixed, Stability::Stable, Stability::Unstable] {
            for (n, m, horizon) in SIZES {
                let mut iterations = [Vec::new(), Vec::new()];
                for seed in 0..SEEDS {
                    let data = LqrData::random_system(n, m, horizon, seed, stability);
                    let cost = data.lqr_problem();
                    let problem = data.problem(true).expect("a valid problem");
                    let mut dynamics = SineSystem::new(&data, eps);
                    let mut ws = Workspace::new(n, m, horizon, 1);
                    for (counts, unbounded_first_iteration) in
                        iterations.iter_mut().zip([true, false])
                    {
                        let settings = Settings {
                            max_iterations: 500,
                            unbounded_first_iteration,
                            ..Settings::default()
                        };
                        let mut sol = Solution::new(n, m, horizon);
                        solve(&mut dynamics, &cost, &problem, &settings, &mut ws, &mut sol)
                            .expect("a well-posed problem");
                        counts.push(sol.iterations());
                    }
                }
                let [cold, bounded] = iterations;
                let pairs = || cold.iter().zip(&bounded);
                let fewer = pairs().filter(|(c, b)| c < b).count();
                let more = pairs().filter(|(c, b)| c > b).count();
                println!(
                    "| {} | {} | {n} | {m} | {horizon} | {} / {} | {fewer} / {more} |",
                    stability.name(),
                    if eps > 0.0 { "yes" } else { "no" },
                    median(cold.clone()),
                    median(bounded.clone()),
                );
            }
        }
    }
}
