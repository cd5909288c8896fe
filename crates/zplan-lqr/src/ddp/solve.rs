//! The iLQR / box-DDP iteration.
//!
//! ```text
//! roll out the initial controls from x_0; J = cost
//! repeat:
//!   linearise: F_t = [f_x f_u], cost gradients and Hessians along (x_t, u_t)
//!   backward pass with Q_uu + mu I (box QP when controls are bounded, except in the first
//!     iteration when unbounded_first_iteration is set); on a non-positive-definite Q_uu raise
//!     mu and repeat, give up above mu_max
//!   stop if mean_t max_i |k_t,i| / (|u_t,i| + 1) < gradient_tolerance and mu < 1e-5, or if the
//!     predicted improvement -(dV_1 + dV_2) is below cost_tolerance * max(1, |J|)
//!   line search over alpha: x^_0 = x_0, u^_t = clamp(u_t + alpha k_t + K_t (x^_t - x_t)),
//!     x^_{t+1} = f(x^_t, u^_t); accept the first alpha whose actual / expected improvement
//!     exceeds min_improvement_ratio, expected = -(alpha dV_1 + alpha^2 dV_2)
//!   accepted: lower mu, stop if the cost barely changed; rejected: raise mu
//! ```
//!
//! Several candidates (initial guesses) run this loop in lockstep, each with its own mu and
//! stopping tests; the model calls of a phase are batched over the candidates still running.

use std::time::{Duration, Instant};

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, ArrayViewMut3};

use super::problem::Problem;
use super::settings::Settings;
use super::solution::{IterationRecord, PhaseTimes, Solution, Status};
use super::workspace::{PhaseEstimates, Workspace};
use crate::dense::{all_finite, first_non_finite};
use crate::error::SolveError;
use crate::model::{Cost, Dynamics, check_dims};
use crate::riccati::{ControlBox, PolicyMut, QuadraticModel, backward_pass};

/// Below this mu, a small feedforward step counts as convergence (Tassa et al.).
const MU_CONVERGED: f64 = 1e-5;

/// Solves the optimal control problem by iLQR, or box-DDP when `problem` has control bounds.
///
/// Starts from the controls held in `solution` (its warm start) and leaves there the best
/// trajectory, the policy of the last backward pass, the status and per-phase timings.
/// Allocates nothing (unless the models do). Errors are reserved for bad input and failing
/// models; how the iteration ended is the returned [`Status`].
pub fn solve<D, C>(
    dynamics: &mut D,
    cost: &C,
    problem: &Problem,
    settings: &Settings,
    workspace: &mut Workspace,
    solution: &mut Solution,
) -> Result<Status, SolveError>
where
    D: Dynamics + ?Sized,
    C: Cost + ?Sized,
{
    solve_batch(
        dynamics,
        cost,
        problem,
        settings,
        workspace,
        std::slice::from_mut(solution),
    )?;
    Ok(solution.status)
}

/// What a batched solve did as a whole.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchReport {
    /// The candidate with the lowest cost.
    pub best: usize,
    /// Wall-clock time per phase, over all candidates.
    pub times: PhaseTimes,
    /// Iterations started (by any candidate).
    pub iterations: usize,
    /// Whether the time budget or the deadline stopped the solve before every candidate ended
    /// on its own (those still running end with [`Status::TimeBudget`]).
    pub out_of_time: bool,
}

/// Solves the same problem from several initial guesses at once, one [`Solution`] per
/// candidate (each holding its warm start), and reports the best.
///
/// The candidates iterate in lockstep, each with its own regularisation and stopping test, and
/// every call to the dynamics serves all of them: one [`Dynamics::step`] per time step of the
/// initial rollout and of each line-search round (candidates x step sizes rows), one
/// [`Dynamics::linearize_trajectories`] per iteration. Each candidate ends exactly as
/// [`solve`] would end it alone; in its iteration log the linearisation and line-search times
/// are those of the shared calls. Allocates nothing (unless the models do).
pub fn solve_batch<D, C>(
    dynamics: &mut D,
    cost: &C,
    problem: &Problem,
    settings: &Settings,
    workspace: &mut Workspace,
    solutions: &mut [Solution],
) -> Result<BatchReport, SolveError>
where
    D: Dynamics + ?Sized,
    C: Cost + ?Sized,
{
    solve_batch_until(
        dynamics, cost, problem, settings, workspace, solutions, None,
    )
}

/// As [`solve_batch`], ending by `deadline` as well as by the time budget: an iteration starts
/// only when it is expected to reach the end of its first line-search round before both, and
/// each further round only when it is expected to end before them, by the workspace's
/// estimates of each phase ([`Workspace::phase_estimates`], from the solves it has run).
/// The candidates' initial rollout always runs. A phase that has started is not interrupted,
/// so a solve ends within the deadline up to how much longer a phase takes than it did
/// recently; the first solve in a workspace has no estimates yet and only stops once time is
/// up.
pub fn solve_batch_until<D, C>(
    dynamics: &mut D,
    cost: &C,
    problem: &Problem,
    settings: &Settings,
    workspace: &mut Workspace,
    solutions: &mut [Solution],
    deadline: Option<Instant>,
) -> Result<BatchReport, SolveError>
where
    D: Dynamics + ?Sized,
    C: Cost + ?Sized,
{
    let start = Instant::now();
    validate(dynamics, problem, settings, workspace, solutions)?;
    let end = PhaseEstimates::end(start, settings.time_budget, deadline);
    let mut batch = Batch {
        dynamics,
        cost,
        problem,
        settings,
        ws: workspace,
        solutions,
        end,
        out_of_time: false,
    };
    batch.ws.age_estimates();
    let mut clock = Instant::now();
    batch.initialise()?;
    PhaseEstimates::update(&mut batch.ws.expected.rollout, lap(&mut clock));
    let mut report = BatchReport {
        best: 0,
        times: PhaseTimes::default(),
        iterations: 0,
        out_of_time: false,
    };
    for _ in 0..settings.max_iterations {
        if !batch.gather_running() {
            break;
        }
        report.iterations += 1;
        let mut clock = Instant::now();
        batch.linearize()?;
        let linearize_time = lap(&mut clock);
        PhaseEstimates::update(&mut batch.ws.expected.linearize, linearize_time);
        report.times.linearize += linearize_time;
        let backward_time = batch.backward_round(linearize_time);
        PhaseEstimates::update(&mut batch.ws.expected.backward, backward_time);
        report.times.backward += backward_time;
        if batch.ws.slots.is_empty() {
            continue;
        }
        let mut clock = Instant::now();
        batch.line_search()?;
        let forward_time = lap(&mut clock);
        report.times.forward += forward_time;
        batch.accept_round(forward_time);
        batch.keep_best();
    }
    report.out_of_time = batch.out_of_time;
    let solutions = &*batch.solutions;
    for (c, solution) in solutions.iter().enumerate() {
        if solution.cost < solutions[report.best].cost {
            report.best = c;
        }
    }
    Ok(report)
}

/// A batched solve in progress: the models, the problem and settings, and the buffers that
/// every phase reads and writes.
struct Batch<'a, D: ?Sized, C: ?Sized> {
    dynamics: &'a mut D,
    cost: &'a C,
    problem: &'a Problem,
    settings: &'a Settings,
    ws: &'a mut Workspace,
    solutions: &'a mut [Solution],
    /// When the solve must end: the earlier of the time budget's end and the deadline.
    end: Option<Instant>,
    /// Whether `end` stopped a candidate.
    out_of_time: bool,
}

/// Checks the problem, the settings, the workspace and every solution against each other.
fn validate<D: Dynamics + ?Sized>(
    dynamics: &D,
    problem: &Problem,
    settings: &Settings,
    ws: &Workspace,
    solutions: &[Solution],
) -> Result<(), SolveError> {
    let (n, m, horizon) = (problem.x0.len(), ws.m, problem.horizon);
    settings.validate()?;
    check_dims(dynamics, n, m)?;
    SolveError::check_dim("workspace state dimension", n, ws.n)?;
    if solutions.is_empty() || solutions.len() > ws.candidates {
        return Err(SolveError::InvalidSettings {
            name: "candidates",
            reason: "need between 1 and the workspace's number of candidates",
        });
    }
    for solution in solutions {
        SolveError::check_dim("solution state dimension", n, solution.n)?;
        SolveError::check_dim("solution control dimension", m, solution.m)?;
        let max = ws.max_horizon.min(solution.max_horizon);
        if horizon > max {
            return Err(SolveError::HorizonTooLong { horizon, max });
        }
    }
    if let Some((lower, _)) = &problem.bounds {
        SolveError::check_dim("control bounds", m, lower.len())?;
    }
    let (first, later) = settings.line_search_rounds();
    for (name, batch) in [
        ("line_search_batch", first),
        ("line_search_retry_batch", later),
    ] {
        if batch > ws.batch {
            return Err(SolveError::InvalidSettings {
                name,
                reason: "exceeds the batch the workspace was built for",
            });
        }
    }
    Ok(())
}

impl<D: Dynamics + ?Sized, C: Cost + ?Sized> Batch<'_, D, C> {
    /// Clamps every warm start into the bounds, rolls all candidates out together and starts each
    /// one's progress (mu = mu_init, its initial cost).
    fn initialise(&mut self) -> Result<(), SolveError> {
        let (problem, ws) = (self.problem, &mut *self.ws);
        let (m, horizon) = (ws.m, problem.horizon);
        for solution in self.solutions.iter_mut() {
            solution.begin(horizon);
            if let Some((lower, upper)) = &problem.bounds {
                for u in solution.controls[..horizon * m].chunks_exact_mut(m.max(1)) {
                    for ((ui, lo), hi) in u.iter_mut().zip(lower).zip(upper) {
                        *ui = ui.clamp(*lo, *hi);
                    }
                }
            }
            if let Some(t) = (0..horizon * m).find(|&i| !solution.controls[i].is_finite()) {
                return Err(SolveError::NonFinite {
                    what: "initial control guess",
                    stage: t / m.max(1),
                });
            }
        }
        rollout(&mut *self.dynamics, problem, ws, self.solutions)?;
        rollout_costs(self.cost, horizon, self.solutions.len(), ws)?;
        for (c, solution) in self.solutions.iter_mut().enumerate() {
            let total = ws.trial_costs[c];
            if !total.is_finite() {
                return Err(SolveError::NonFinite {
                    what: "cost of the initial rollout",
                    stage: 0,
                });
            }
            solution.cost = total;
            solution.status = Status::MaxIterations;
            let progress = &mut ws.progress[c];
            progress.mu = self.settings.mu_init;
            progress.dmu = 1.0;
            progress.cost = total;
            progress.running = true;
        }
        Ok(())
    }

    /// Gathers the candidates still running into `ws.slots`; false when none is, or when an
    /// iteration would end after `end` (the running ones then end with `TimeBudget`).
    fn gather_running(&mut self) -> bool {
        let ws = &mut *self.ws;
        ws.slots.clear();
        ws.slots
            .extend((0..self.solutions.len()).filter(|&c| ws.progress[c].running));
        if ws.slots.is_empty() {
            return false;
        }
        if PhaseEstimates::overruns(self.ws.expected.iteration(), self.end) {
            for &c in &self.ws.slots {
                self.solutions[c].status = Status::TimeBudget;
                self.ws.progress[c].running = false;
            }
            self.out_of_time = true;
            return false;
        }
        true
    }

    /// Dynamics Jacobians and cost derivatives along the trajectories of the running candidates.
    fn linearize(&mut self) -> Result<(), SolveError> {
        linearize(
            &mut *self.dynamics,
            self.cost,
            self.problem.horizon,
            self.ws,
            self.solutions,
        )
    }

    /// Per running candidate (`ws.slots`): the backward pass, raising mu until it succeeds, then
    /// the stopping tests. Candidates that go on to a line search stay in `slots`; the others end
    /// (converged, or at the regularisation limit). Returns the time of the backward passes.
    fn backward_round(&mut self, linearize_time: Duration) -> Duration {
        let Self {
            problem,
            settings,
            ws,
            solutions,
            ..
        } = self;
        let (m, horizon) = (ws.m, problem.horizon);
        let mut total = Duration::ZERO;
        let mut searching = 0;
        for slot in 0..ws.slots.len() {
            let c = ws.slots[slot];
            let solution = &mut solutions[c];
            let mut clock = Instant::now();
            let mut progress = ws.progress[c];
            let expected = loop {
                match backward(problem, horizon, progress.mu, settings, slot, ws, solution) {
                    Ok(expected) => break Some(expected),
                    Err(_) => {
                        increase_mu(&mut progress.mu, &mut progress.dmu, settings);
                        if progress.mu > settings.mu_max {
                            break None;
                        }
                    }
                }
            };
            let backward_time = lap(&mut clock);
            total += backward_time;
            let times = PhaseTimes {
                linearize: linearize_time,
                backward: backward_time,
                forward: Duration::ZERO,
            };
            let Some(expected) = expected else {
                solution.status = Status::RegularizationLimit;
                progress.running = false;
                ws.progress[c] = progress;
                continue;
            };
            let gradient_norm = feedforward_norm(
                &solution.feedforward[..horizon * m],
                &solution.controls[..horizon * m],
                m,
            );
            let record = IterationRecord {
                cost: progress.cost,
                mu: progress.mu,
                alpha: 0.0,
                expected_improvement: -(expected[0] + expected[1]),
                gradient_norm,
                times,
            };
            // Converged when the feedforward step is negligible, or when the quadratic model
            // predicts less improvement than the cost tolerance (near the optimum the actual
            // change is rounding noise and a line search would only fail).
            let negligible_step =
                gradient_norm < settings.gradient_tolerance && progress.mu < MU_CONVERGED;
            let nothing_to_gain = record.expected_improvement
                < settings.cost_tolerance * progress.cost.abs().max(1.0);
            if negligible_step || nothing_to_gain {
                decrease_mu(&mut progress.mu, &mut progress.dmu, settings);
                solution.record(record);
                solution.status = Status::Converged;
                progress.running = false;
            } else {
                progress.expected = expected;
                progress.record = record;
                progress.accepted = None;
                ws.slots[searching] = c;
                searching += 1;
            }
            ws.progress[c] = progress;
        }
        ws.slots.truncate(searching);
        total
    }

    /// Per candidate that searched: takes the accepted step (mu lowered; converged when the cost
    /// barely moved) or, when no step size lowered the cost, raises mu (ending the candidate above
    /// mu_max).
    fn accept_round(&mut self, forward_time: Duration) {
        let Self {
            settings,
            ws,
            solutions,
            ..
        } = self;
        for slot in 0..ws.slots.len() {
            let c = ws.slots[slot];
            let (progress, solution) = (&mut ws.progress[c], &mut solutions[c]);
            let mut record = progress.record;
            record.times.forward = forward_time;
            match progress.accepted {
                Some((alpha, new_total)) => {
                    let improvement = progress.cost - new_total;
                    progress.cost = new_total;
                    solution.cost = new_total;
                    record.cost = new_total;
                    record.alpha = alpha;
                    decrease_mu(&mut progress.mu, &mut progress.dmu, settings);
                    solution.record(record);
                    if improvement < settings.cost_tolerance * new_total.abs().max(1.0) {
                        solution.status = Status::Converged;
                        progress.running = false;
                    }
                }
                None => {
                    solution.record(record);
                    increase_mu(&mut progress.mu, &mut progress.dmu, settings);
                    if progress.mu > settings.mu_max {
                        solution.status = Status::RegularizationLimit;
                        progress.running = false;
                    }
                }
            }
        }
    }

    /// With `keep_best` k > 0: stops every running candidate whose cost is not among the k
    /// lowest of all candidates (ties by index), as [`Status::Outranked`].
    fn keep_best(&mut self) {
        let keep = self.settings.keep_best;
        let (ws, solutions) = (&mut *self.ws, &mut *self.solutions);
        if keep == 0 || keep >= solutions.len() {
            return;
        }
        for c in 0..solutions.len() {
            if !ws.progress[c].running {
                continue;
            }
            let cost = solutions[c].cost;
            let better = solutions
                .iter()
                .enumerate()
                .filter(|&(d, other)| other.cost < cost || (other.cost == cost && d < c))
                .count();
            if better >= keep {
                ws.progress[c].running = false;
                solutions[c].status = Status::Outranked;
            }
        }
    }

    /// The line search of every candidate in `ws.slots`, in rounds of `line_search_batch` step
    /// sizes (`line_search_retry_batch` after the first): each round rolls out all pending
    /// candidates x step sizes together, and a candidate leaves at the first step (in order)
    /// whose actual / expected improvement passes; its trial is copied into its solution and
    /// `progress.accepted` set.
    ///
    /// A round after the first starts only when it is expected to end before `end`; otherwise
    /// the candidates still searching end with `TimeBudget`, keeping their trajectories.
    fn line_search(&mut self) -> Result<(), SolveError> {
        let Self {
            dynamics,
            cost,
            problem,
            settings,
            ws,
            solutions,
            end,
            out_of_time,
        } = self;
        let (n, m, horizon) = (ws.n, ws.m, problem.horizon);
        let (stride_x, stride_u) = (ws.candidates * ws.batch * n, ws.candidates * ws.batch * m);
        // `pending` is a prefix of `slots`; the searching candidates stay in `slots` after it
        // for the caller, in some order.
        let mut pending = ws.slots.len();
        let mut alphas = settings.alphas().peekable();
        let (mut round_batch, later_batch) = settings.line_search_rounds();
        let mut first_round = true;
        while pending > 0 && alphas.peek().is_some() {
            if !first_round && PhaseEstimates::overruns(ws.expected.line_search_round, *end) {
                for &c in &ws.slots[..pending] {
                    solutions[c].status = Status::TimeBudget;
                    ws.progress[c].running = false;
                }
                *out_of_time = true;
                break;
            }
            first_round = false;
            let round_start = Instant::now();
            let mut count = 0;
            for alpha in alphas.by_ref().take(round_batch) {
                ws.trial_alphas[count] = alpha;
                count += 1;
            }
            round_batch = later_batch;
            trial_rollout(&mut **dynamics, problem, pending, count, ws, solutions)?;
            rollout_costs(*cost, horizon, pending * count, ws)?;
            PhaseEstimates::update(&mut ws.expected.line_search_round, round_start.elapsed());
            let mut slot = 0;
            while slot < pending {
                let c = ws.slots[slot];
                let progress = &mut ws.progress[c];
                let current = progress.cost;
                for b in 0..count {
                    let row = slot * count + b;
                    let new_total = ws.trial_costs[row];
                    let alpha = ws.trial_alphas[b];
                    let [d1, d2] = progress.expected;
                    let predicted = -(alpha * d1 + alpha * alpha * d2);
                    let improvement = current - new_total;
                    let accept = if predicted > 0.0 {
                        improvement / predicted > settings.min_improvement_ratio
                            && improvement > 0.0
                    } else {
                        improvement > 0.0
                    };
                    if accept {
                        let sol = &mut solutions[c];
                        for t in 0..=horizon {
                            let src = &ws.trial_states[t * stride_x + row * n..][..n];
                            sol.states[t * n..(t + 1) * n].copy_from_slice(src);
                        }
                        for t in 0..horizon {
                            let src = &ws.trial_controls[t * stride_u + row * m..][..m];
                            sol.controls[t * m..(t + 1) * m].copy_from_slice(src);
                        }
                        progress.accepted = Some((alpha, new_total));
                        break;
                    }
                }
                if progress.accepted.is_some() {
                    // Done: move it behind the pending prefix. The rows of this round's rollout
                    // are not read again, so the reorder is safe.
                    pending -= 1;
                    ws.slots.swap(slot, pending);
                    move_rows(ws, slot, pending, count, horizon);
                } else {
                    slot += 1;
                }
            }
        }
        Ok(())
    }
}

fn lap(clock: &mut Instant) -> Duration {
    let now = Instant::now();
    let elapsed = now - *clock;
    *clock = now;
    elapsed
}

/// Tassa's schedule, growing: dmu <- max(dmu f, f), mu <- max(mu dmu, mu_min).
fn increase_mu(mu: &mut f64, dmu: &mut f64, s: &Settings) {
    *dmu = (*dmu * s.mu_factor).max(s.mu_factor);
    *mu = (*mu * *dmu).max(s.mu_min);
}

/// Tassa's schedule, shrinking: dmu <- min(dmu / f, 1 / f), mu <- mu dmu, zero below mu_min.
fn decrease_mu(mu: &mut f64, dmu: &mut f64, s: &Settings) {
    *dmu = (*dmu / s.mu_factor).min(1.0 / s.mu_factor);
    let next = *mu * *dmu;
    *mu = if next > s.mu_min { next } else { 0.0 };
}

/// x_{t+1} = f(x_t, u_t) from x_0 for every candidate: one batched step per time step, with
/// candidate c in row c of the workspace's trial buffers.
fn rollout<D: Dynamics + ?Sized>(
    dynamics: &mut D,
    problem: &Problem,
    ws: &mut Workspace,
    solutions: &mut [Solution],
) -> Result<(), SolveError> {
    let (n, m, count) = (ws.n, ws.m, solutions.len());
    let (stride_x, stride_u) = (ws.candidates * ws.batch * n, ws.candidates * ws.batch * m);
    for (c, solution) in solutions.iter_mut().enumerate() {
        solution.states[..n].copy_from_slice(problem.x0.as_slice().expect("contiguous x0"));
        ws.trial_states[c * n..(c + 1) * n].copy_from_slice(&solution.states[..n]);
    }
    for t in 0..problem.horizon {
        for (c, solution) in solutions.iter().enumerate() {
            ws.trial_controls[t * stride_u + c * m..t * stride_u + (c + 1) * m]
                .copy_from_slice(&solution.controls[t * m..(t + 1) * m]);
        }
        step_rows(dynamics, t, count, ws)?;
        let next = &ws.trial_states[(t + 1) * stride_x..(t + 1) * stride_x + count * n];
        if next.iter().any(|v| !v.is_finite()) {
            return Err(SolveError::NonFinite {
                what: "state of the initial rollout",
                stage: t + 1,
            });
        }
        for (c, solution) in solutions.iter_mut().enumerate() {
            solution.states[(t + 1) * n..(t + 2) * n].copy_from_slice(&next[c * n..(c + 1) * n]);
        }
    }
    Ok(())
}

/// One batched step of the first `rows` rows of the trial buffers at time step t.
fn step_rows<D: Dynamics + ?Sized>(
    dynamics: &mut D,
    t: usize,
    rows: usize,
    ws: &mut Workspace,
) -> Result<(), SolveError> {
    let (n, m) = (ws.n, ws.m);
    let (stride_x, stride_u) = (ws.candidates * ws.batch * n, ws.candidates * ws.batch * m);
    let (done, rest) = ws.trial_states.split_at_mut((t + 1) * stride_x);
    let x = ArrayView2::from_shape((rows, n), &done[t * stride_x..t * stride_x + rows * n])
        .expect("rows x n");
    let u = ArrayView2::from_shape(
        (rows, m),
        &ws.trial_controls[t * stride_u..t * stride_u + rows * m],
    )
    .expect("rows x m");
    let next = ArrayViewMut2::from_shape((rows, n), &mut rest[..rows * n]).expect("rows x n");
    dynamics
        .step(t, x, u, next)
        .map_err(|source| SolveError::Dynamics { stage: t, source })
}

/// Total cost of each of the first `rows` rows of the trial buffers, into `ws.trial_costs`,
/// one batched cost call per stage; a NaN total becomes infinity (never accepted).
fn rollout_costs<C: Cost + ?Sized>(
    cost: &C,
    horizon: usize,
    rows: usize,
    ws: &mut Workspace,
) -> Result<(), SolveError> {
    let (n, m) = (ws.n, ws.m);
    let (stride_x, stride_u) = (ws.candidates * ws.batch * n, ws.candidates * ws.batch * m);
    let totals = &mut ws.trial_costs[..rows];
    let stage_costs = &mut ws.stage_costs[..rows];
    totals.fill(0.0);
    for t in 0..=horizon {
        let x = ArrayView2::from_shape((rows, n), &ws.trial_states[t * stride_x..][..rows * n])
            .expect("rows x n");
        let out = ArrayViewMut1::from(&mut stage_costs[..]);
        let result = if t < horizon {
            let u =
                ArrayView2::from_shape((rows, m), &ws.trial_controls[t * stride_u..][..rows * m])
                    .expect("rows x m");
            cost.stage_batch(t, x, u, out)
        } else {
            cost.terminal_batch(x, out)
        };
        result.map_err(|source| SolveError::Cost { stage: t, source })?;
        for (total, value) in totals.iter_mut().zip(stage_costs.iter()) {
            *total += value;
        }
    }
    for total in totals.iter_mut() {
        if total.is_nan() {
            *total = f64::INFINITY;
        }
    }
    Ok(())
}

/// Dynamics Jacobians and cost derivatives along the trajectories of the candidates in
/// `ws.slots`, one batched call each; slot s's land in block s of the workspace's buffers.
fn linearize<D: Dynamics + ?Sized, C: Cost + ?Sized>(
    dynamics: &mut D,
    cost: &C,
    horizon: usize,
    ws: &mut Workspace,
    solutions: &[Solution],
) -> Result<(), SolveError> {
    let (n, m, nm) = (ws.n, ws.m, ws.n + ws.m);
    let rows = ws.slots.len() * horizon;
    for (slot, &c) in ws.slots.iter().enumerate() {
        let at = slot * horizon;
        ws.points_x[at * n..(at + horizon) * n]
            .copy_from_slice(&solutions[c].states[..horizon * n]);
        ws.points_u[at * m..(at + horizon) * m]
            .copy_from_slice(&solutions[c].controls[..horizon * m]);
    }
    let states = ArrayView2::from_shape((rows, n), &ws.points_x[..rows * n]).expect("KT x n");
    let controls = ArrayView2::from_shape((rows, m), &ws.points_u[..rows * m]).expect("KT x m");
    let jacobians = ArrayViewMut3::from_shape((rows, n, nm), &mut ws.jacobians[..rows * n * nm])
        .expect("KT x n x (n+m)");
    dynamics
        .linearize_trajectories(horizon, states, controls, jacobians)
        .map_err(|source| SolveError::Dynamics { stage: 0, source })?;
    if let Some(i) = first_non_finite(&ws.jacobians[..rows * n * nm]) {
        return Err(SolveError::NonFinite {
            what: "dynamics Jacobian",
            stage: (i / (n * nm)) % horizon.max(1),
        });
    }

    let gradients = ArrayViewMut2::from_shape((rows, nm), &mut ws.cost_gradients[..rows * nm])
        .expect("KT x nm");
    let hessians =
        ArrayViewMut3::from_shape((rows, nm, nm), &mut ws.cost_hessians[..rows * nm * nm])
            .expect("KT x nm x nm");
    cost.stage_derivatives_along(horizon, states, controls, gradients, hessians)
        .map_err(|source| SolveError::Cost { stage: 0, source })?;
    for (slot, &c) in ws.slots.iter().enumerate() {
        let x = ArrayView1::from(&solutions[c].states[horizon * n..(horizon + 1) * n]);
        let gradient = ArrayViewMut1::from(&mut ws.terminal_gradient[slot * n..(slot + 1) * n]);
        let hessian = ArrayViewMut2::from_shape(
            (n, n),
            &mut ws.terminal_hessian[slot * n * n..(slot + 1) * n * n],
        )
        .expect("n x n");
        cost.terminal_derivatives(x, gradient, hessian)
            .map_err(|source| SolveError::Cost {
                stage: horizon,
                source,
            })?;
    }
    let stage_of = |i: usize, per: usize| (i / per.max(1)) % horizon.max(1);
    if let Some(i) = first_non_finite(&ws.cost_gradients[..rows * nm]) {
        return Err(SolveError::NonFinite {
            what: "cost gradient",
            stage: stage_of(i, nm),
        });
    }
    if let Some(i) = first_non_finite(&ws.cost_hessians[..rows * nm * nm]) {
        return Err(SolveError::NonFinite {
            what: "cost Hessian",
            stage: stage_of(i, nm * nm),
        });
    }
    let slots = ws.slots.len();
    if !all_finite(&ws.terminal_gradient[..slots * n])
        || !all_finite(&ws.terminal_hessian[..slots * n * n])
    {
        return Err(SolveError::NonFinite {
            what: "terminal cost derivatives",
            stage: horizon,
        });
    }
    Ok(())
}

fn backward(
    problem: &Problem,
    horizon: usize,
    mu: f64,
    settings: &Settings,
    slot: usize,
    ws: &mut Workspace,
    sol: &mut Solution,
) -> Result<[f64; 2], usize> {
    let (n, m) = (ws.n, ws.m);
    let nm = n + m;
    let (jac, grad, hess) = (horizon * n * nm, horizon * nm, horizon * nm * nm);
    let model = QuadraticModel {
        n,
        m,
        horizon,
        jacobians: &ws.jacobians[slot * jac..(slot + 1) * jac],
        defects: None,
        cost_gradients: &ws.cost_gradients[slot * grad..(slot + 1) * grad],
        cost_hessians: &ws.cost_hessians[slot * hess..(slot + 1) * hess],
        terminal_gradient: &ws.terminal_gradient[slot * n..(slot + 1) * n],
        terminal_hessian: &ws.terminal_hessian[slot * n * n..(slot + 1) * n * n],
    };
    let bounds = problem
        .bounds
        .as_ref()
        .filter(|_| sol.iterations > 0 || !settings.unbounded_first_iteration);
    let control_box = bounds.map(|(lower, upper)| ControlBox {
        lower: lower.as_slice().expect("contiguous bounds"),
        upper: upper.as_slice().expect("contiguous bounds"),
        nominal: &sol.controls,
    });
    let mut policy = PolicyMut {
        value_hessians: &mut ws.value_hessians,
        value_gradients: &mut ws.value_gradients,
        gains: &mut sol.gains,
        feedforward: &mut sol.feedforward,
    };
    backward_pass(
        &model,
        control_box,
        mu,
        &settings.box_qp,
        &mut policy,
        &mut ws.riccati,
    )
}

/// mean_t max_i |k_t,i| / (|u_t,i| + 1).
fn feedforward_norm(feedforward: &[f64], controls: &[f64], m: usize) -> f64 {
    if feedforward.is_empty() || m == 0 {
        return 0.0;
    }
    let stages = feedforward.len() / m;
    let sum: f64 = feedforward
        .chunks_exact(m)
        .zip(controls.chunks_exact(m))
        .map(|(k, u)| {
            k.iter()
                .zip(u)
                .map(|(k, u)| k.abs() / (u.abs() + 1.0))
                .fold(0.0, f64::max)
        })
        .sum();
    sum / stages as f64
}

/// After `slots[a]` and `slots[b]` swapped, swaps their rows (states, controls, costs) in the
/// current round's rollout so that row blocks still follow `slots`.
fn move_rows(ws: &mut Workspace, a: usize, b: usize, count: usize, horizon: usize) {
    if a == b {
        return;
    }
    let (n, m) = (ws.n, ws.m);
    let (stride_x, stride_u) = (ws.candidates * ws.batch * n, ws.candidates * ws.batch * m);
    for t in 0..=horizon {
        let block = &mut ws.trial_states[t * stride_x..(t + 1) * stride_x];
        swap_chunks(block, a * count * n, b * count * n, count * n);
    }
    for t in 0..horizon {
        let block = &mut ws.trial_controls[t * stride_u..(t + 1) * stride_u];
        swap_chunks(block, a * count * m, b * count * m, count * m);
    }
    swap_chunks(&mut ws.trial_costs, a * count, b * count, count);
}

fn swap_chunks(data: &mut [f64], a: usize, b: usize, len: usize) {
    let (low, high) = (a.min(b), a.max(b));
    let (first, second) = data.split_at_mut(high);
    first[low..low + len].swap_with_slice(&mut second[..len]);
}

/// Rolls out `count` step sizes for each of the first `pending` candidates in `ws.slots`, row
/// slot * count + b: u^_t = clamp(u_t + alpha_b k_t + K_t (x^_t - x_t)).
fn trial_rollout<D: Dynamics + ?Sized>(
    dynamics: &mut D,
    problem: &Problem,
    pending: usize,
    count: usize,
    ws: &mut Workspace,
    solutions: &[Solution],
) -> Result<(), SolveError> {
    let (n, m) = (ws.n, ws.m);
    let (stride_x, stride_u) = (ws.candidates * ws.batch * n, ws.candidates * ws.batch * m);
    let rows = pending * count;
    for row in 0..rows {
        ws.trial_states[row * n..(row + 1) * n]
            .copy_from_slice(problem.x0.as_slice().expect("contiguous x0"));
    }
    for t in 0..problem.horizon {
        for slot in 0..pending {
            let sol = &solutions[ws.slots[slot]];
            let x_nominal = &sol.states[t * n..(t + 1) * n];
            let u_nominal = &sol.controls[t * m..(t + 1) * m];
            let k = &sol.feedforward[t * m..(t + 1) * m];
            let gains = &sol.gains[t * m * n..(t + 1) * m * n];
            for b in 0..count {
                let row = slot * count + b;
                let alpha = ws.trial_alphas[b];
                let x = &ws.trial_states[t * stride_x + row * n..][..n];
                let u = &mut ws.trial_controls[t * stride_u + row * m..][..m];
                for i in 0..m {
                    let gain = &gains[i * n..(i + 1) * n];
                    let mut value = u_nominal[i] + alpha * k[i];
                    for j in 0..n {
                        value += gain[j] * (x[j] - x_nominal[j]);
                    }
                    u[i] = value;
                }
                if let Some((lower, upper)) = &problem.bounds {
                    for i in 0..m {
                        u[i] = u[i].clamp(lower[i], upper[i]);
                    }
                }
            }
        }
        step_rows(dynamics, t, rows, ws)?;
    }
    Ok(())
}
