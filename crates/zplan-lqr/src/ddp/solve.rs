//! The iLQR / box-DDP iteration.
//!
//! ```text
//! roll out the initial controls from x_0; J = cost
//! repeat:
//!   linearise: F_t = [f_x f_u], cost gradients and Hessians along (x_t, u_t)
//!   backward pass with Q_uu + mu I (box QP when controls are bounded); on a non-positive-definite
//!     Q_uu raise mu and repeat, give up above mu_max
//!   stop if mean_t max_i |k_t,i| / (|u_t,i| + 1) < gradient_tolerance and mu < 1e-5, or if the
//!     predicted improvement -(dV_1 + dV_2) is below cost_tolerance * max(1, |J|)
//!   line search over alpha: x^_0 = x_0, u^_t = clamp(u_t + alpha k_t + K_t (x^_t - x_t)),
//!     x^_{t+1} = f(x^_t, u^_t); accept the first alpha whose actual / expected improvement
//!     exceeds min_improvement_ratio, expected = -(alpha dV_1 + alpha^2 dV_2)
//!   accepted: lower mu, stop if the cost barely changed; rejected: raise mu
//! ```

use std::time::{Duration, Instant};

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, ArrayViewMut3};

use super::problem::Problem;
use super::settings::Settings;
use super::solution::{IterationRecord, PhaseTimes, Solution, Status};
use super::workspace::Workspace;
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
    let start = Instant::now();
    let (n, m, horizon) = (problem.x0.len(), workspace.m, problem.horizon);
    settings.validate()?;
    check_dims(dynamics, n, m)?;
    SolveError::check_dim("workspace state dimension", n, workspace.n)?;
    SolveError::check_dim("solution state dimension", n, solution.n)?;
    SolveError::check_dim("solution control dimension", m, solution.m)?;
    if let Some((lower, _)) = &problem.bounds {
        SolveError::check_dim("control bounds", m, lower.len())?;
    }
    let max = workspace.max_horizon.min(solution.max_horizon);
    if horizon > max {
        return Err(SolveError::HorizonTooLong { horizon, max });
    }
    if settings.line_search_batch > workspace.batch {
        return Err(SolveError::InvalidSettings {
            name: "line_search_batch",
            reason: "exceeds the batch the workspace was built for",
        });
    }
    solution.begin(horizon);

    // Initial rollout of the (clamped) warm-start controls.
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
    rollout(dynamics, problem, solution)?;
    let mut total = trajectory_cost(
        cost,
        horizon,
        n,
        m,
        &solution.states,
        n,
        &solution.controls,
        m,
    );
    if !total.is_finite() {
        return Err(SolveError::NonFinite {
            what: "cost of the initial rollout",
            stage: 0,
        });
    }
    solution.cost = total;

    let mut mu = settings.mu_init;
    let mut dmu = 1.0;
    let mut status = Status::MaxIterations;
    for _ in 0..settings.max_iterations {
        if settings
            .time_budget
            .is_some_and(|budget| start.elapsed() >= budget)
        {
            status = Status::TimeBudget;
            break;
        }
        let mut times = PhaseTimes::default();
        let mut clock = Instant::now();

        linearize(dynamics, cost, horizon, n, m, workspace, solution)?;
        times.linearize = lap(&mut clock);

        let expected = loop {
            match backward(problem, horizon, mu, settings, workspace, solution) {
                Ok(expected) => break Some(expected),
                Err(_) => {
                    increase_mu(&mut mu, &mut dmu, settings);
                    if mu > settings.mu_max {
                        break None;
                    }
                }
            }
        };
        times.backward = lap(&mut clock);
        let Some(expected) = expected else {
            status = Status::RegularizationLimit;
            break;
        };

        let gradient_norm = feedforward_norm(
            &solution.feedforward[..horizon * m],
            &solution.controls[..horizon * m],
            m,
        );
        let mut record = IterationRecord {
            cost: total,
            mu,
            alpha: 0.0,
            expected_improvement: -(expected[0] + expected[1]),
            gradient_norm,
            times,
        };
        // Converged when the feedforward step is negligible, or when the quadratic model
        // predicts less improvement than the cost tolerance (near the optimum the actual change
        // is rounding noise and a line search would only fail).
        let negligible_step = gradient_norm < settings.gradient_tolerance && mu < MU_CONVERGED;
        let nothing_to_gain =
            record.expected_improvement < settings.cost_tolerance * total.abs().max(1.0);
        if negligible_step || nothing_to_gain {
            decrease_mu(&mut mu, &mut dmu, settings);
            solution.record(record);
            status = Status::Converged;
            break;
        }

        let accepted = line_search(
            dynamics, cost, problem, settings, expected, total, workspace, solution,
        )?;
        record.times.forward = lap(&mut clock);
        match accepted {
            Some((alpha, new_total)) => {
                let improvement = total - new_total;
                total = new_total;
                solution.cost = total;
                record.cost = total;
                record.alpha = alpha;
                decrease_mu(&mut mu, &mut dmu, settings);
                solution.record(record);
                if improvement < settings.cost_tolerance * total.abs().max(1.0) {
                    status = Status::Converged;
                    break;
                }
            }
            None => {
                solution.record(record);
                increase_mu(&mut mu, &mut dmu, settings);
                if mu > settings.mu_max {
                    status = Status::RegularizationLimit;
                    break;
                }
            }
        }
    }
    solution.status = status;
    Ok(status)
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

/// x_{t+1} = f(x_t, u_t) from x_0, one point per call.
fn rollout<D: Dynamics + ?Sized>(
    dynamics: &mut D,
    problem: &Problem,
    solution: &mut Solution,
) -> Result<(), SolveError> {
    let (n, m) = (solution.n, solution.m);
    for (x, v) in solution.states[..n].iter_mut().zip(&problem.x0) {
        *x = *v;
    }
    for t in 0..problem.horizon {
        let (done, rest) = solution.states.split_at_mut((t + 1) * n);
        let x = ArrayView2::from_shape((1, n), &done[t * n..]).expect("1 x n");
        let u =
            ArrayView2::from_shape((1, m), &solution.controls[t * m..(t + 1) * m]).expect("1 x m");
        let next = ArrayViewMut2::from_shape((1, n), &mut rest[..n]).expect("1 x n");
        dynamics
            .step(t, x, u, next)
            .map_err(|source| SolveError::Dynamics { stage: t, source })?;
        if rest[..n].iter().any(|v| !v.is_finite()) {
            return Err(SolveError::NonFinite {
                what: "state of the initial rollout",
                stage: t + 1,
            });
        }
    }
    Ok(())
}

/// Sum of stage and terminal costs of a trajectory whose state rows are `x_stride` apart and
/// control rows `u_stride` apart (so that a line-search row of a time-major batch can be read).
#[allow(clippy::too_many_arguments)]
fn trajectory_cost<C: Cost + ?Sized>(
    cost: &C,
    horizon: usize,
    n: usize,
    m: usize,
    states: &[f64],
    x_stride: usize,
    controls: &[f64],
    u_stride: usize,
) -> f64 {
    let mut total = 0.0;
    for t in 0..horizon {
        let x = ArrayView1::from(&states[t * x_stride..t * x_stride + n]);
        let u = ArrayView1::from(&controls[t * u_stride..t * u_stride + m]);
        total += cost.stage(t, x, u);
    }
    let x = ArrayView1::from(&states[horizon * x_stride..horizon * x_stride + n]);
    total += cost.terminal(x);
    if total.is_nan() { f64::INFINITY } else { total }
}

/// Dynamics Jacobians and cost derivatives along the current trajectory.
fn linearize<D: Dynamics + ?Sized, C: Cost + ?Sized>(
    dynamics: &mut D,
    cost: &C,
    horizon: usize,
    n: usize,
    m: usize,
    ws: &mut Workspace,
    sol: &Solution,
) -> Result<(), SolveError> {
    let nm = n + m;
    let states = ArrayView2::from_shape((horizon, n), &sol.states[..horizon * n]).expect("T x n");
    let controls =
        ArrayView2::from_shape((horizon, m), &sol.controls[..horizon * m]).expect("T x m");
    let jacobians =
        ArrayViewMut3::from_shape((horizon, n, nm), &mut ws.jacobians[..horizon * n * nm])
            .expect("T x n x (n+m)");
    dynamics
        .linearize(states, controls, jacobians)
        .map_err(|source| SolveError::Dynamics { stage: 0, source })?;
    if let Some(i) = first_non_finite(&ws.jacobians[..horizon * n * nm]) {
        return Err(SolveError::NonFinite {
            what: "dynamics Jacobian",
            stage: i / (n * nm),
        });
    }
    for t in 0..horizon {
        let x = ArrayView1::from(&sol.states[t * n..(t + 1) * n]);
        let u = ArrayView1::from(&sol.controls[t * m..(t + 1) * m]);
        let gradient = ArrayViewMut1::from(&mut ws.cost_gradients[t * nm..(t + 1) * nm]);
        let hessian = ArrayViewMut2::from_shape(
            (nm, nm),
            &mut ws.cost_hessians[t * nm * nm..(t + 1) * nm * nm],
        )
        .expect("(n+m)^2");
        cost.stage_derivatives(t, x, u, gradient, hessian);
    }
    let x = ArrayView1::from(&sol.states[horizon * n..(horizon + 1) * n]);
    let gradient = ArrayViewMut1::from(&mut ws.terminal_gradient[..]);
    let hessian = ArrayViewMut2::from_shape((n, n), &mut ws.terminal_hessian[..]).expect("n x n");
    cost.terminal_derivatives(x, gradient, hessian);
    let stage_of = |i: usize, per: usize| i / per.max(1);
    if let Some(i) = first_non_finite(&ws.cost_gradients[..horizon * nm]) {
        return Err(SolveError::NonFinite {
            what: "cost gradient",
            stage: stage_of(i, nm),
        });
    }
    if let Some(i) = first_non_finite(&ws.cost_hessians[..horizon * nm * nm]) {
        return Err(SolveError::NonFinite {
            what: "cost Hessian",
            stage: stage_of(i, nm * nm),
        });
    }
    if !all_finite(&ws.terminal_gradient) || !all_finite(&ws.terminal_hessian) {
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
    ws: &mut Workspace,
    sol: &mut Solution,
) -> Result<[f64; 2], usize> {
    let (n, m) = (ws.n, ws.m);
    let model = QuadraticModel {
        n,
        m,
        horizon,
        jacobians: &ws.jacobians,
        defects: None,
        cost_gradients: &ws.cost_gradients,
        cost_hessians: &ws.cost_hessians,
        terminal_gradient: &ws.terminal_gradient,
        terminal_hessian: &ws.terminal_hessian,
    };
    let control_box = problem.bounds.as_ref().map(|(lower, upper)| ControlBox {
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

/// Tries step sizes in batches of `line_search_batch`; on acceptance copies the trial into
/// `sol` and returns (alpha, cost).
#[allow(clippy::too_many_arguments)]
fn line_search<D: Dynamics + ?Sized, C: Cost + ?Sized>(
    dynamics: &mut D,
    cost: &C,
    problem: &Problem,
    settings: &Settings,
    expected: [f64; 2],
    current: f64,
    ws: &mut Workspace,
    sol: &mut Solution,
) -> Result<Option<(f64, f64)>, SolveError> {
    let (n, m, horizon) = (ws.n, ws.m, problem.horizon);
    let batch = ws.batch;
    let mut alphas = settings.alphas().peekable();
    while alphas.peek().is_some() {
        let mut count = 0;
        for alpha in alphas.by_ref().take(settings.line_search_batch) {
            ws.trial_alphas[count] = alpha;
            count += 1;
        }
        trial_rollout(dynamics, problem, count, ws, sol)?;
        for b in 0..count {
            let states = &ws.trial_states[b * n..];
            let controls = &ws.trial_controls[b * m..];
            ws.trial_costs[b] =
                trajectory_cost(cost, horizon, n, m, states, batch * n, controls, batch * m);
        }
        for b in 0..count {
            let alpha = ws.trial_alphas[b];
            let new_total = ws.trial_costs[b];
            let predicted = -(alpha * expected[0] + alpha * alpha * expected[1]);
            let improvement = current - new_total;
            let accept = if predicted > 0.0 {
                improvement / predicted > settings.min_improvement_ratio && improvement > 0.0
            } else {
                improvement > 0.0
            };
            if accept {
                for t in 0..=horizon {
                    let src = &ws.trial_states[(t * batch + b) * n..(t * batch + b + 1) * n];
                    sol.states[t * n..(t + 1) * n].copy_from_slice(src);
                }
                for t in 0..horizon {
                    let src = &ws.trial_controls[(t * batch + b) * m..(t * batch + b + 1) * m];
                    sol.controls[t * m..(t + 1) * m].copy_from_slice(src);
                }
                return Ok(Some((alpha, new_total)));
            }
        }
    }
    Ok(None)
}

/// Rolls out `count` step sizes at once: u^_t = clamp(u_t + alpha k_t + K_t (x^_t - x_t)).
fn trial_rollout<D: Dynamics + ?Sized>(
    dynamics: &mut D,
    problem: &Problem,
    count: usize,
    ws: &mut Workspace,
    sol: &Solution,
) -> Result<(), SolveError> {
    let (n, m) = (ws.n, ws.m);
    let (stride_x, stride_u) = (ws.batch * n, ws.batch * m);
    for b in 0..count {
        for (x, v) in ws.trial_states[b * n..(b + 1) * n]
            .iter_mut()
            .zip(&problem.x0)
        {
            *x = *v;
        }
    }
    for t in 0..problem.horizon {
        let x_nominal = &sol.states[t * n..(t + 1) * n];
        let u_nominal = &sol.controls[t * m..(t + 1) * m];
        let k = &sol.feedforward[t * m..(t + 1) * m];
        let gains = &sol.gains[t * m * n..(t + 1) * m * n];
        for b in 0..count {
            let alpha = ws.trial_alphas[b];
            let x = &ws.trial_states[t * stride_x + b * n..t * stride_x + (b + 1) * n];
            let u = &mut ws.trial_controls[t * stride_u + b * m..t * stride_u + (b + 1) * m];
            for i in 0..m {
                let row = &gains[i * n..(i + 1) * n];
                let mut value = u_nominal[i] + alpha * k[i];
                for j in 0..n {
                    value += row[j] * (x[j] - x_nominal[j]);
                }
                u[i] = value;
            }
            if let Some((lower, upper)) = &problem.bounds {
                for i in 0..m {
                    u[i] = u[i].clamp(lower[i], upper[i]);
                }
            }
        }
        let (done, rest) = ws.trial_states.split_at_mut((t + 1) * stride_x);
        let x = ArrayView2::from_shape((count, n), &done[t * stride_x..t * stride_x + count * n])
            .expect("B x n");
        let u = ArrayView2::from_shape(
            (count, m),
            &ws.trial_controls[t * stride_u..t * stride_u + count * m],
        )
        .expect("B x m");
        let next = ArrayViewMut2::from_shape((count, n), &mut rest[..count * n]).expect("B x n");
        dynamics
            .step(t, x, u, next)
            .map_err(|source| SolveError::Dynamics { stage: t, source })?;
    }
    Ok(())
}
