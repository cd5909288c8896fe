//! The bundle's latent dynamics behind zplan-lqr's [`zplan_lqr::Dynamics`]: f64 in the solver,
//! f32 in the network, one batched ONNX call per time step of a line search and one per
//! linearisation.

use ndarray::{Array2, Array3, ArrayView2, ArrayViewMut2, ArrayViewMut3, s};
use zplan_lqr::ModelError;

/// The dynamics network's work in one plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DynamicsCalls {
    /// Calls of z_next (rollouts and line searches).
    pub step_calls: usize,
    /// Rows of those calls.
    pub step_rows: usize,
    /// Linearisations (one call each: model Jacobians, or one batch of finite differences).
    pub jacobian_calls: usize,
    /// Points linearised.
    pub jacobian_points: usize,
}

/// zplan-onnx's dynamics network as a solver model.
pub struct LatentDynamics {
    net: zplan_onnx::DynamicsNet,
    /// Counted since the last [`LatentDynamics::take_calls`].
    calls: DynamicsCalls,
    z: Array2<f32>,
    u: Array2<f32>,
    out: Array2<f32>,
    a: Array3<f32>,
    b: Array3<f32>,
}

impl LatentDynamics {
    /// Wraps the network; buffers grow to the largest batch seen.
    pub fn new(net: zplan_onnx::DynamicsNet) -> Self {
        let (nz, nu) = (net.latent_dim(), net.action_dim());
        Self {
            net,
            calls: DynamicsCalls::default(),
            z: Array2::zeros((0, nz)),
            u: Array2::zeros((0, nu)),
            out: Array2::zeros((0, nz)),
            a: Array3::zeros((0, nz, nz)),
            b: Array3::zeros((0, nz, nu)),
        }
    }

    /// The calls counted since the last call of this, and a new count.
    pub fn take_calls(&mut self) -> DynamicsCalls {
        std::mem::take(&mut self.calls)
    }

    fn reserve(&mut self, rows: usize) {
        let (nz, nu) = (self.net.latent_dim(), self.net.action_dim());
        if self.z.nrows() < rows {
            self.z = Array2::zeros((rows, nz));
            self.u = Array2::zeros((rows, nu));
            self.out = Array2::zeros((rows, nz));
            self.a = Array3::zeros((rows, nz, nz));
            self.b = Array3::zeros((rows, nz, nu));
        }
    }

    /// Copies f64 rows into the first rows of an f32 buffer.
    fn load(dst: &mut Array2<f32>, src: &ArrayView2<'_, f64>) {
        for (mut d, s) in dst.outer_iter_mut().zip(src.outer_iter()) {
            for (d, s) in d.iter_mut().zip(s.iter()) {
                *d = *s as f32;
            }
        }
    }
}

impl zplan_lqr::Dynamics for LatentDynamics {
    fn state_dim(&self) -> usize {
        self.net.latent_dim()
    }

    fn control_dim(&self) -> usize {
        self.net.action_dim()
    }

    fn step(
        &mut self,
        _t: usize,
        states: ArrayView2<'_, f64>,
        controls: ArrayView2<'_, f64>,
        mut next: ArrayViewMut2<'_, f64>,
    ) -> Result<(), ModelError> {
        let rows = states.nrows();
        self.calls.step_calls += 1;
        self.calls.step_rows += rows;
        self.reserve(rows);
        Self::load(&mut self.z, &states);
        Self::load(&mut self.u, &controls);
        let (z, u) = (self.z.slice(s![..rows, ..]), self.u.slice(s![..rows, ..]));
        self.net.step(z, u, self.out.slice_mut(s![..rows, ..]))?;
        next.zip_mut_with(&self.out.slice(s![..rows, ..]), |n, &o| *n = f64::from(o));
        Ok(())
    }

    /// The network is time-invariant: all trajectories' points go through one call.
    fn linearize_trajectories(
        &mut self,
        _horizon: usize,
        states: ArrayView2<'_, f64>,
        controls: ArrayView2<'_, f64>,
        jacobians: ArrayViewMut3<'_, f64>,
    ) -> Result<(), ModelError> {
        self.linearize(states, controls, jacobians)
    }

    fn linearize(
        &mut self,
        states: ArrayView2<'_, f64>,
        controls: ArrayView2<'_, f64>,
        mut jacobians: ArrayViewMut3<'_, f64>,
    ) -> Result<(), ModelError> {
        let rows = states.nrows();
        let nz = self.net.latent_dim();
        self.calls.jacobian_calls += 1;
        self.calls.jacobian_points += rows;
        self.reserve(rows);
        Self::load(&mut self.z, &states);
        Self::load(&mut self.u, &controls);
        let (z, u) = (self.z.slice(s![..rows, ..]), self.u.slice(s![..rows, ..]));
        self.net.jacobians(
            z,
            u,
            self.a.slice_mut(s![..rows, .., ..]),
            self.b.slice_mut(s![..rows, .., ..]),
        )?;
        jacobians
            .slice_mut(s![.., .., ..nz])
            .zip_mut_with(&self.a.slice(s![..rows, .., ..]), |j, &a| *j = f64::from(a));
        jacobians
            .slice_mut(s![.., .., nz..])
            .zip_mut_with(&self.b.slice(s![..rows, .., ..]), |j, &b| *j = f64::from(b));
        Ok(())
    }
}
