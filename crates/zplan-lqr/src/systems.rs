//! Example systems with exact derivatives: a linear system, a pendulum and a cart-pole, each
//! discretised by explicit Euler so that the Jacobians are those of the discrete map.
//! They serve the tests, the benchmarks and as templates for implementing [`Dynamics`]; with
//! [`RandomMatrices`], the seeded draws of their random problems. Behind the feature `systems`.

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, ArrayViewMut3};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

use crate::error::{ModelError, SolveError};
use crate::model::Dynamics;

/// Seeded uniform draws for random test and benchmark problems: the same numbers on every
/// platform for a seed (PCG-64).
pub struct RandomMatrices(Pcg64);

impl RandomMatrices {
    /// Draws from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(Pcg64::seed_from_u64(seed))
    }

    /// Uniform in [-0.5, 0.5).
    pub fn uniform(&mut self) -> f64 {
        self.0.random_range(-0.5..0.5)
    }

    /// rows x cols, entries uniform in [-scale / 2, scale / 2).
    pub fn matrix(&mut self, rows: usize, cols: usize, scale: f64) -> Array2<f64> {
        Array2::from_shape_fn((rows, cols), |_| scale * self.uniform())
    }

    /// len entries uniform in [-scale / 2, scale / 2).
    pub fn vector(&mut self, len: usize, scale: f64) -> Array1<f64> {
        Array1::from_shape_fn(len, |_| scale * self.uniform())
    }

    /// M'M + shift I for a random n x n M: symmetric, eigenvalues >= shift.
    pub fn spd(&mut self, n: usize, shift: f64) -> Array2<f64> {
        let m = self.matrix(n, n, 1.0);
        m.t().dot(&m) + Array2::<f64>::eye(n) * shift
    }
}

/// Applies a per-point step to every row of a batch.
fn step_rows(
    states: ArrayView2<'_, f64>,
    controls: ArrayView2<'_, f64>,
    mut next: ArrayViewMut2<'_, f64>,
    mut point: impl FnMut(&[f64], &[f64], &mut [f64]),
) -> Result<(), ModelError> {
    let (n, m) = (states.ncols(), controls.ncols());
    let (mut x, mut u, mut out) = ([0.0; 8], [0.0; 8], [0.0; 8]);
    if n > 8 || m > 8 {
        return Err("example systems have at most 8 states and 8 controls".into());
    }
    for b in 0..states.nrows() {
        for i in 0..n {
            x[i] = states[[b, i]];
        }
        for i in 0..m {
            u[i] = controls[[b, i]];
        }
        point(&x[..n], &u[..m], &mut out[..n]);
        for i in 0..n {
            next[[b, i]] = out[i];
        }
    }
    Ok(())
}

/// Applies a per-point Jacobian to every stage of a trajectory.
fn linearize_rows(
    states: ArrayView2<'_, f64>,
    controls: ArrayView2<'_, f64>,
    mut jacobians: ArrayViewMut3<'_, f64>,
    mut point: impl FnMut(&[f64], &[f64], &mut ArrayViewMut2<'_, f64>),
) -> Result<(), ModelError> {
    let (n, m) = (states.ncols(), controls.ncols());
    let (mut x, mut u) = ([0.0; 8], [0.0; 8]);
    for t in 0..jacobians.shape()[0] {
        for i in 0..n {
            x[i] = states[[t, i]];
        }
        for i in 0..m {
            u[i] = controls[[t, i]];
        }
        let mut jac = jacobians.index_axis_mut(ndarray::Axis(0), t);
        point(&x[..n], &u[..m], &mut jac);
    }
    Ok(())
}

/// Writes a small fixed-size matrix into a view without allocating.
fn assign_rows<const R: usize, const C: usize>(
    target: &mut ArrayViewMut2<'_, f64>,
    rows: &[[f64; C]; R],
) {
    for (i, row) in rows.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            target[[i, j]] = v;
        }
    }
}

/// Implements [`Dynamics`] for an example system from its per-point `next` and `jacobian`.
macro_rules! point_dynamics {
    ($system:ty, $n:expr, $m:expr) => {
        impl Dynamics for $system {
            fn state_dim(&self) -> usize {
                $n
            }

            fn control_dim(&self) -> usize {
                $m
            }

            fn step(
                &mut self,
                _t: usize,
                states: ArrayView2<'_, f64>,
                controls: ArrayView2<'_, f64>,
                next: ArrayViewMut2<'_, f64>,
            ) -> Result<(), ModelError> {
                step_rows(states, controls, next, |x, u, out| self.next(x, u, out))
            }

            fn linearize(
                &mut self,
                states: ArrayView2<'_, f64>,
                controls: ArrayView2<'_, f64>,
                jacobians: ArrayViewMut3<'_, f64>,
            ) -> Result<(), ModelError> {
                linearize_rows(states, controls, jacobians, |x, u, jac| {
                    self.jacobian(x, u, jac)
                })
            }
        }
    };
}

/// x_{t+1} = A x_t + B u_t + c.
#[derive(Clone, Debug)]
pub struct LinearSystem {
    a: Array2<f64>,
    b: Array2<f64>,
    c: Array1<f64>,
}

impl LinearSystem {
    /// A (n x n) and B (n x m), no drift.
    pub fn new(a: Array2<f64>, b: Array2<f64>) -> Result<Self, SolveError> {
        let c = Array1::zeros(a.nrows());
        Self::affine(a, b, c)
    }

    /// A (n x n), B (n x m) and the drift c (n).
    pub fn affine(a: Array2<f64>, b: Array2<f64>, c: Array1<f64>) -> Result<Self, SolveError> {
        SolveError::check_dim("A columns", a.nrows(), a.ncols())?;
        SolveError::check_dim("B rows", a.nrows(), b.nrows())?;
        SolveError::check_dim("drift c", a.nrows(), c.len())?;
        Ok(Self { a, b, c })
    }
}

impl Dynamics for LinearSystem {
    fn state_dim(&self) -> usize {
        self.a.nrows()
    }

    fn control_dim(&self) -> usize {
        self.b.ncols()
    }

    fn step(
        &mut self,
        _t: usize,
        states: ArrayView2<'_, f64>,
        controls: ArrayView2<'_, f64>,
        mut next: ArrayViewMut2<'_, f64>,
    ) -> Result<(), ModelError> {
        // next[b] = A x[b] + B u[b] + c, row by row (no temporaries).
        for ((x, u), mut out) in states
            .outer_iter()
            .zip(controls.outer_iter())
            .zip(next.outer_iter_mut())
        {
            for i in 0..out.len() {
                out[i] = self.a.row(i).dot(&x) + self.b.row(i).dot(&u) + self.c[i];
            }
        }
        Ok(())
    }

    fn linearize(
        &mut self,
        _states: ArrayView2<'_, f64>,
        _controls: ArrayView2<'_, f64>,
        mut jacobians: ArrayViewMut3<'_, f64>,
    ) -> Result<(), ModelError> {
        let n = self.a.nrows();
        for mut jac in jacobians.outer_iter_mut() {
            jac.slice_mut(ndarray::s![.., ..n]).assign(&self.a);
            jac.slice_mut(ndarray::s![.., n..]).assign(&self.b);
        }
        Ok(())
    }
}

/// A pendulum, state (theta, theta_dot) with theta = 0 upright, torque u:
///
/// ```text
/// theta_ddot = (m g l sin(theta) - u) / (m l^2 / 3)
/// ```
///
/// (the swing-up task's equation, with sin(pi - theta) = sin(theta)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pendulum {
    /// Mass m.
    pub mass: f64,
    /// Length l.
    pub length: f64,
    /// Gravity g.
    pub gravity: f64,
    /// Euler step dt.
    pub dt: f64,
}

impl Default for Pendulum {
    fn default() -> Self {
        Self {
            mass: 0.1,
            length: 0.5,
            gravity: 9.81,
            dt: 0.02,
        }
    }
}

impl Pendulum {
    fn inertia(&self) -> f64 {
        self.mass * self.length * self.length / 3.0
    }

    fn next(&self, x: &[f64], u: &[f64], out: &mut [f64]) {
        let accel = (self.mass * self.gravity * self.length * x[0].sin() - u[0]) / self.inertia();
        out[0] = x[0] + self.dt * x[1];
        out[1] = x[1] + self.dt * accel;
    }

    fn jacobian(&self, x: &[f64], _u: &[f64], jac: &mut ArrayViewMut2<'_, f64>) {
        let i = self.inertia();
        let dt = self.dt;
        let rows = [
            [1.0, dt, 0.0],
            [
                dt * self.mass * self.gravity * self.length * x[0].cos() / i,
                1.0,
                -dt / i,
            ],
        ];
        assign_rows(jac, &rows);
    }
}

point_dynamics!(Pendulum, 2, 1);

/// The classic cart-pole, state (theta, theta_dot, x, x_dot) with theta = 0 upright, force F on
/// the cart (Barto, Sutton, Anderson 1983; `length` is the pole's half length):
///
/// ```text
/// temp        = (F + m_p l theta_dot^2 sin(theta)) / (m_c + m_p)
/// theta_ddot  = (g sin(theta) - cos(theta) temp) / (l (4/3 - m_p cos^2(theta) / (m_c + m_p)))
/// x_ddot      = temp - m_p l theta_ddot cos(theta) / (m_c + m_p)
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CartPole {
    /// Cart mass m_c.
    pub cart_mass: f64,
    /// Pole mass m_p.
    pub pole_mass: f64,
    /// Half the pole length, l.
    pub length: f64,
    /// Gravity g.
    pub gravity: f64,
    /// Euler step dt.
    pub dt: f64,
}

impl Default for CartPole {
    fn default() -> Self {
        Self {
            cart_mass: 1.0,
            pole_mass: 0.1,
            length: 0.5,
            gravity: 9.81,
            dt: 0.02,
        }
    }
}

/// Accelerations of the cart-pole and their partial derivatives in (theta, theta_dot, F).
struct CartPoleAccel {
    theta_ddot: f64,
    x_ddot: f64,
    d_theta_ddot: [f64; 3],
    d_x_ddot: [f64; 3],
}

impl CartPole {
    fn accel(&self, theta: f64, omega: f64, force: f64) -> CartPoleAccel {
        let (s, c) = theta.sin_cos();
        let total = self.cart_mass + self.pole_mass;
        let ml = self.pole_mass * self.length;
        let l = self.length;
        let temp = (force + ml * omega * omega * s) / total;
        let d_temp = [
            ml * omega * omega * c / total,
            2.0 * ml * omega * s / total,
            1.0 / total,
        ];
        let den = l * (4.0 / 3.0 - self.pole_mass * c * c / total);
        let d_den_theta = l * 2.0 * self.pole_mass * c * s / total;
        let num = self.gravity * s - c * temp;
        let d_num = [
            self.gravity * c + s * temp - c * d_temp[0],
            -c * d_temp[1],
            -c * d_temp[2],
        ];
        let theta_ddot = num / den;
        let d_theta_ddot = [
            (d_num[0] * den - num * d_den_theta) / (den * den),
            d_num[1] / den,
            d_num[2] / den,
        ];
        let x_ddot = temp - ml * theta_ddot * c / total;
        let d_x_ddot = [
            d_temp[0] - ml / total * (d_theta_ddot[0] * c - theta_ddot * s),
            d_temp[1] - ml / total * c * d_theta_ddot[1],
            d_temp[2] - ml / total * c * d_theta_ddot[2],
        ];
        CartPoleAccel {
            theta_ddot,
            x_ddot,
            d_theta_ddot,
            d_x_ddot,
        }
    }

    fn next(&self, x: &[f64], u: &[f64], out: &mut [f64]) {
        let a = self.accel(x[0], x[1], u[0]);
        out[0] = x[0] + self.dt * x[1];
        out[1] = x[1] + self.dt * a.theta_ddot;
        out[2] = x[2] + self.dt * x[3];
        out[3] = x[3] + self.dt * a.x_ddot;
    }

    fn jacobian(&self, x: &[f64], u: &[f64], jac: &mut ArrayViewMut2<'_, f64>) {
        let a = self.accel(x[0], x[1], u[0]);
        let dt = self.dt;
        let (dth, dx) = (a.d_theta_ddot, a.d_x_ddot);
        let rows = [
            [1.0, dt, 0.0, 0.0, 0.0],
            [dt * dth[0], 1.0 + dt * dth[1], 0.0, 0.0, dt * dth[2]],
            [0.0, 0.0, 1.0, dt, 0.0],
            [dt * dx[0], dt * dx[1], 0.0, 1.0, dt * dx[2]],
        ];
        assign_rows(jac, &rows);
    }
}

point_dynamics!(CartPole, 4, 1);
