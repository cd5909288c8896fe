//! The observation-space planner's search run on the true simulator: the upper bound a perfect
//! model would give. The same CEM and the same cost as [`crate::ObservationPlanner`], with the
//! designated point's true position instead of a predicted map:
//!
//! ```text
//! J = sum_g sum_{t=1..T} w_t ||s_t[c_g] - g||,   w_t = 1 (t < T), w_T = final_weight
//! ```
//!
//! where s_t[c_g] are the two state components (x, y) the goal g is for.

use std::time::{Duration, Instant};

use ndarray::{Array1, ArrayView1};
use rand::SeedableRng;
use rand_pcg::Pcg64;
use zplan_envs::Task;

use crate::observation::ObservationSettings;
use crate::planner::PlanError;
use crate::sampling::{Search, shift_plan};

/// A goal for a point of the true state: state components (x, y) and where they should go.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PointGoal {
    /// Indices of x and y in the state.
    pub components: [usize; 2],
    /// (x, y) of the goal.
    pub to: [f64; 2],
}

/// CEM on the true dynamics of a task toward point goals.
pub struct SimulatorPlanner {
    task: Box<dyn Task>,
    settings: ObservationSettings,
    search: Search,
    rng: Pcg64,
    low: Vec<f64>,
    high: Vec<f64>,
    goals: Vec<PointGoal>,
    /// The N samples' states and their successors, N x n.
    states: Vec<f64>,
    next: Vec<f64>,
    plan: Vec<f64>,
    previous: Vec<f64>,
    has_previous: bool,
    action: Array1<f64>,
}

impl SimulatorPlanner {
    /// A planner on `task`'s true dynamics with the search of `settings`.
    pub fn new(task: Box<dyn Task>, settings: ObservationSettings) -> Result<Self, PlanError> {
        settings.sampling.check()?;
        if settings.horizon == 0 {
            return Err(PlanError::Settings("the horizon must be at least 1 step"));
        }
        let (low, high) = task.action_limits();
        let (n, m, t) = (task.state_dim(), task.action_dim(), settings.horizon);
        let samples = settings.sampling.samples;
        Ok(Self {
            search: Search::new(settings.sampling.clone(), m, t),
            rng: Pcg64::seed_from_u64(settings.seed),
            states: vec![0.0; samples * n],
            next: vec![0.0; samples * n],
            plan: vec![0.0; t * m],
            previous: vec![0.0; t * m],
            has_previous: false,
            action: Array1::zeros(m),
            goals: Vec::new(),
            low,
            high,
            task,
            settings,
        })
    }

    /// Sets the point goals; clears the warm start.
    pub fn set_point_goals(&mut self, goals: &[PointGoal]) -> Result<(), PlanError> {
        let n = self.task.state_dim();
        if let Some(index) = goals.iter().position(|g| {
            g.components.iter().any(|&c| c >= n) || !g.to.iter().all(|v| v.is_finite())
        }) {
            return Err(PlanError::PixelGoal {
                index,
                problem: format!(
                    "components must index the {n} state values and the goal be finite"
                ),
            });
        }
        self.goals.clear();
        self.goals.extend_from_slice(goals);
        self.has_previous = false;
        Ok(())
    }

    /// Plans from the true `state`; returns the plan's first action.
    pub fn plan(&mut self, state: &[f64]) -> Result<ArrayView1<'_, f64>, PlanError> {
        if self.goals.is_empty() {
            return Err(PlanError::NoPixelGoal);
        }
        let start = Instant::now();
        let (n, m, t) = (self.task.state_dim(), self.low.len(), self.settings.horizon);
        let samples = self.settings.sampling.samples;
        let final_weight = self.settings.final_weight;
        let (task, goals, states, next) = (
            self.task.as_ref(),
            &self.goals,
            &mut self.states,
            &mut self.next,
        );
        let rollout = |controls: &[f64], costs: &mut [f64]| -> Result<Duration, PlanError> {
            for row in states.chunks_exact_mut(n) {
                row.copy_from_slice(state);
            }
            costs.fill(0.0);
            for step in 0..t {
                let weight = if step + 1 == t { final_weight } else { 1.0 };
                for (s, cost) in costs.iter_mut().enumerate() {
                    let u = &controls[(step * samples + s) * m..][..m];
                    task.step(&states[s * n..][..n], u, &mut next[s * n..][..n]);
                    for goal in goals {
                        let [cx, cy] = goal.components;
                        let (x, y) = (next[s * n + cx], next[s * n + cy]);
                        *cost +=
                            weight * ((x - goal.to[0]).powi(2) + (y - goal.to[1]).powi(2)).sqrt();
                    }
                }
                std::mem::swap(states, next);
            }
            Ok(Duration::ZERO)
        };
        let warm = self.has_previous.then_some(&self.previous[..]);
        self.search.run(
            rollout,
            (&self.low, &self.high),
            warm,
            &mut self.rng,
            (start, None),
            &mut self.plan,
        )?;
        shift_plan(&self.plan, &mut self.previous, m);
        self.has_previous = true;
        for (a, &u) in self.action.iter_mut().zip(&self.plan[..m]) {
            *a = u;
        }
        Ok(self.action.view())
    }
}
