//! The bundle's reward model as the planner's cost:
//!
//! ```text
//! l_t(z, u) = -w r(z, u) + 1/2 rho |u|^2,     l_T(z) = -w r(z, 0)
//! ```
//!
//! Derivatives by central differences of step h in each of the n + m inputs, all points of a
//! trajectory (or of several) in one network call of K T (1 + 2 (n + m)) rows: the gradient
//! (r(x + h e_i) - r(x - h e_i)) / 2h, and a diagonal Hessian of second differences
//! (r(x + h e_i) - 2 r(x) + r(x - h e_i)) / h^2 clipped at zero, so that the model DDP sees
//! stays convex (plus rho I on the actions).

use std::sync::{Mutex, MutexGuard, PoisonError};

use ndarray::{
    Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, ArrayViewMut3, s,
};
use zplan_lqr::{Cost, ModelError};
use zplan_onnx::RewardNet;

/// -w r(z, u) + 1/2 rho |u|^2 through the bundle's reward network.
pub struct RewardCost {
    /// The network and its buffers. `Cost` takes `&self`; the lock (never contended: one
    /// planner plans on one thread at a time) keeps the cost `Sync` without a `RefCell`.
    inner: Mutex<Inner>,
    weight: f64,
    action_weight: f64,
    step: f64,
}

struct Inner {
    net: RewardNet,
    scratch: Scratch,
}

/// Network inputs and outputs, grown to the largest batch seen.
struct Scratch {
    z: Array2<f32>,
    u: Array2<f32>,
    r: Array1<f32>,
}

impl RewardCost {
    /// The cost -`weight` r(z, u) + 1/2 `action_weight` |u|^2, derivatives with step `step`.
    pub fn new(net: RewardNet, weight: f64, action_weight: f64, step: f64) -> Self {
        let (nz, nu) = (net.latent_dim(), net.action_dim());
        Self {
            inner: Mutex::new(Inner {
                net,
                scratch: Scratch {
                    z: Array2::zeros((0, nz)),
                    u: Array2::zeros((0, nu)),
                    r: Array1::zeros(0),
                },
            }),
            weight,
            action_weight,
            step,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic inside a network call leaves no half-written state that matters: every call
        // fills the rows it reads first.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// r at every row of `z` and `u` (f64 in, f64 out), one network call.
    fn rewards(
        &self,
        z: ArrayView2<'_, f64>,
        u: Option<ArrayView2<'_, f64>>,
        mut out: ArrayViewMut1<'_, f64>,
    ) -> Result<(), ModelError> {
        let rows = z.nrows();
        let mut guard = self.lock();
        let Inner { net, scratch } = &mut *guard;
        scratch.reserve(rows);
        scratch.load(z, u);
        net.reward(
            scratch.z.slice(s![..rows, ..]),
            scratch.u.slice(s![..rows, ..]),
            scratch.r.slice_mut(s![..rows]),
        )?;
        out.zip_mut_with(&scratch.r.slice(s![..rows]), |o, &r| *o = f64::from(r));
        Ok(())
    }

    /// Central differences of r around each row: writes -w times the gradient and the clipped
    /// diagonal of the Hessian into `gradients` (rows x d) and `hessians` (rows x d x d), d the
    /// number of inputs differentiated (n + m, or n without actions).
    fn differences(
        &self,
        z: ArrayView2<'_, f64>,
        u: Option<ArrayView2<'_, f64>>,
        mut gradients: ArrayViewMut2<'_, f64>,
        mut hessians: ArrayViewMut3<'_, f64>,
    ) -> Result<(), ModelError> {
        let (points, nz) = (z.nrows(), z.ncols());
        let nu = u.map_or(0, |u| u.ncols());
        let d = nz + nu;
        let per = 1 + 2 * d;
        let rows = points * per;
        let mut guard = self.lock();
        let Inner { net, scratch } = &mut *guard;
        scratch.reserve(rows);
        let h = self.step;
        for p in 0..points {
            for k in 0..per {
                let row = p * per + k;
                for i in 0..nz {
                    scratch.z[[row, i]] = z[[p, i]] as f32;
                }
                for j in 0..scratch.u.ncols() {
                    scratch.u[[row, j]] = u.map_or(0.0, |u| u[[p, j]] as f32);
                }
                if k > 0 {
                    let (input, sign) = ((k - 1) / 2, if k % 2 == 1 { 1.0 } else { -1.0 });
                    if input < nz {
                        scratch.z[[row, input]] += (sign * h) as f32;
                    } else {
                        scratch.u[[row, input - nz]] += (sign * h) as f32;
                    }
                }
            }
        }
        net.reward(
            scratch.z.slice(s![..rows, ..]),
            scratch.u.slice(s![..rows, ..]),
            scratch.r.slice_mut(s![..rows]),
        )?;
        for p in 0..points {
            let r = &scratch.r.as_slice().expect("contiguous")[p * per..(p + 1) * per];
            let centre = f64::from(r[0]);
            let mut hessian = hessians.index_axis_mut(ndarray::Axis(0), p);
            hessian.fill(0.0);
            for i in 0..d {
                let (plus, minus) = (f64::from(r[1 + 2 * i]), f64::from(r[2 + 2 * i]));
                gradients[[p, i]] = -self.weight * (plus - minus) / (2.0 * h);
                let curvature = -self.weight * (plus - 2.0 * centre + minus) / (h * h);
                hessian[[i, i]] = curvature.max(0.0);
            }
        }
        Ok(())
    }
}

impl Scratch {
    fn reserve(&mut self, rows: usize) {
        if self.z.nrows() < rows {
            self.z = Array2::zeros((rows, self.z.ncols()));
            self.u = Array2::zeros((rows, self.u.ncols()));
            self.r = Array1::zeros(rows);
        }
    }

    /// Rows of z and u (zero actions when `u` is None) into the f32 inputs.
    fn load(&mut self, z: ArrayView2<'_, f64>, u: Option<ArrayView2<'_, f64>>) {
        for (mut dst, src) in self.z.outer_iter_mut().zip(z.outer_iter()) {
            dst.zip_mut_with(&src, |d, &s| *d = s as f32);
        }
        for (r, mut dst) in self.u.outer_iter_mut().take(z.nrows()).enumerate() {
            match u {
                Some(u) => dst.zip_mut_with(&u.row(r), |d, &s| *d = s as f32),
                None => dst.fill(0.0),
            }
        }
    }
}

impl Cost for RewardCost {
    fn stage(&self, t: usize, x: ArrayView1<'_, f64>, u: ArrayView1<'_, f64>) -> f64 {
        let mut out = [0.0];
        let (x, u) = (
            x.insert_axis(ndarray::Axis(0)),
            u.insert_axis(ndarray::Axis(0)),
        );
        match self.stage_batch(t, x, u, ArrayViewMut1::from(&mut out[..])) {
            Ok(()) => out[0],
            Err(_) => f64::NAN,
        }
    }

    fn stage_derivatives(
        &self,
        _t: usize,
        x: ArrayView1<'_, f64>,
        u: ArrayView1<'_, f64>,
        gradient: ArrayViewMut1<'_, f64>,
        hessian: ArrayViewMut2<'_, f64>,
    ) -> Result<(), ModelError> {
        let (x, u) = (
            x.insert_axis(ndarray::Axis(0)),
            u.insert_axis(ndarray::Axis(0)),
        );
        let gradient = gradient.insert_axis(ndarray::Axis(0));
        let hessian = hessian.insert_axis(ndarray::Axis(0));
        self.stage_derivatives_along(1, x, u, gradient, hessian)
    }

    fn terminal(&self, x: ArrayView1<'_, f64>) -> f64 {
        let mut out = [0.0];
        match self.terminal_batch(
            x.insert_axis(ndarray::Axis(0)),
            ArrayViewMut1::from(&mut out[..]),
        ) {
            Ok(()) => out[0],
            Err(_) => f64::NAN,
        }
    }

    fn terminal_derivatives(
        &self,
        x: ArrayView1<'_, f64>,
        gradient: ArrayViewMut1<'_, f64>,
        hessian: ArrayViewMut2<'_, f64>,
    ) -> Result<(), ModelError> {
        let x = x.insert_axis(ndarray::Axis(0));
        let gradient = gradient.insert_axis(ndarray::Axis(0));
        let hessian = hessian.insert_axis(ndarray::Axis(0));
        self.differences(x, None, gradient, hessian)
    }

    fn stage_batch(
        &self,
        _t: usize,
        states: ArrayView2<'_, f64>,
        controls: ArrayView2<'_, f64>,
        mut out: ArrayViewMut1<'_, f64>,
    ) -> Result<(), ModelError> {
        self.rewards(states, Some(controls), out.view_mut())?;
        for (cost, u) in out.iter_mut().zip(controls.outer_iter()) {
            *cost = -self.weight * *cost + 0.5 * self.action_weight * u.dot(&u);
        }
        Ok(())
    }

    fn terminal_batch(
        &self,
        states: ArrayView2<'_, f64>,
        mut out: ArrayViewMut1<'_, f64>,
    ) -> Result<(), ModelError> {
        self.rewards(states, None, out.view_mut())?;
        out.mapv_inplace(|r| -self.weight * r);
        Ok(())
    }

    fn stage_derivatives_along(
        &self,
        _horizon: usize,
        states: ArrayView2<'_, f64>,
        controls: ArrayView2<'_, f64>,
        mut gradients: ArrayViewMut2<'_, f64>,
        mut hessians: ArrayViewMut3<'_, f64>,
    ) -> Result<(), ModelError> {
        self.differences(
            states,
            Some(controls),
            gradients.view_mut(),
            hessians.view_mut(),
        )?;
        let n = states.ncols();
        for ((mut g, mut h), u) in gradients
            .outer_iter_mut()
            .zip(hessians.outer_iter_mut())
            .zip(controls.outer_iter())
        {
            for (j, &uj) in u.iter().enumerate() {
                g[n + j] += self.action_weight * uj;
                h[[n + j, n + j]] += self.action_weight;
            }
        }
        Ok(())
    }
}
