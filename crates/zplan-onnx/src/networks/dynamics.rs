//! The latent dynamics (z, u) -> z_next and its Jacobians.

use std::path::Path;

use ndarray::{Array2, ArrayView2, ArrayViewMut2, ArrayViewMut3, s};

use super::{StateActionNet, check_shape, expect_shape};
use crate::bundle::manifest::{DifferenceScheme, JacobianSpec, Manifest};
use crate::error::BundleError;
use crate::network::NetworkOptions;

/// Latent dynamics (z, u) -> z_next, with Jacobians from the model or by finite differences.
pub struct DynamicsNet {
    net: StateActionNet,
    /// Whether the network outputs A and B (they follow z_next in the net's outputs).
    has_model_jacobians: bool,
    jacobians: JacobianSpec,
    /// Perturbed inputs and outputs of the finite-difference batch, grown to the largest seen.
    fd_z: Array2<f32>,
    fd_u: Array2<f32>,
    fd_out: Array2<f32>,
}

impl DynamicsNet {
    /// Opens and validates the dynamics of `manifest`: (z [B, nz], u [B, nu]) -> z_next [B, nz],
    /// with A [B, nz, nz] and B [B, nz, nu] when the manifest names them.
    pub(crate) fn open(
        dir: &Path,
        manifest: &Manifest,
        options: &NetworkOptions,
    ) -> Result<Self, BundleError> {
        let spec = &manifest.dynamics;
        let (nz, nu) = (manifest.latent_dim, manifest.action.dim);
        let inputs = (spec.state_input.as_str(), spec.action_input.as_str());
        let mut net = StateActionNet::open(dir, "dynamics", &spec.file, inputs, (nz, nu), options)?;
        net.net
            .expect(false, "dynamics.output", &spec.output, &[None, Some(nz)])?;
        let mut outputs = vec![(spec.output.clone(), vec![nz])];
        let mut names = vec![spec.output.as_str()];
        if let (Some(a), Some(b)) = (&spec.a_output, &spec.b_output) {
            net.net
                .expect(false, "dynamics.a_output", a, &[None, Some(nz), Some(nz)])?;
            net.net
                .expect(false, "dynamics.b_output", b, &[None, Some(nz), Some(nu)])?;
            outputs.push((a.clone(), vec![nz, nz]));
            outputs.push((b.clone(), vec![nz, nu]));
            names.extend([a.as_str(), b.as_str()]);
        }
        let shapes = net.probe(&names)?;
        let expected: [&[usize]; 3] = [&[1, nz], &[1, nz, nz], &[1, nz, nu]];
        let fields = ["dynamics.output", "dynamics.a_output", "dynamics.b_output"];
        for ((shape, name), (want, field)) in
            shapes.iter().zip(&names).zip(expected.iter().zip(fields))
        {
            expect_shape(&net.net, field, name, shape, want)?;
        }
        let has_model_jacobians = outputs.len() == 3;
        debug_assert!(has_model_jacobians || !matches!(manifest.jacobians, JacobianSpec::Model));
        net.net.set_outputs(outputs);
        Ok(Self {
            net,
            has_model_jacobians,
            jacobians: manifest.jacobians,
            fd_z: Array2::zeros((0, nz)),
            fd_u: Array2::zeros((0, nu)),
            fd_out: Array2::zeros((0, nz)),
        })
    }

    /// nz.
    pub fn latent_dim(&self) -> usize {
        self.net.latent_dim
    }

    /// nu.
    pub fn action_dim(&self) -> usize {
        self.net.action_dim
    }

    /// How Jacobians are obtained.
    pub fn jacobian_mode(&self) -> JacobianSpec {
        self.jacobians
    }

    /// Outputs every call must bind: z_next, and A and B when the network has them.
    fn output_count(&self) -> usize {
        if self.has_model_jacobians { 3 } else { 1 }
    }

    /// z_next [B, nz] = f(z [B, nz], u [B, nu]).
    pub fn step(
        &mut self,
        z: ArrayView2<'_, f32>,
        u: ArrayView2<'_, f32>,
        mut z_next: ArrayViewMut2<'_, f32>,
    ) -> Result<(), BundleError> {
        let batch = self.net.check(&z, &u)?;
        check_shape(
            "dynamics",
            "z_next (output)",
            z_next.shape(),
            &[batch, self.latent_dim()],
        )?;
        let mut outputs = [Some(z_next.view_mut().into_dyn()), None, None];
        let count = self.output_count();
        self.net.run(z, u, &mut outputs[..count])
    }

    /// The Jacobians at T points: `a[t]` = dz_next/dz [nz, nz], `b[t]` = dz_next/du [nz, nu] at
    /// (z[t], u[t]). From the model's A and B outputs, or by finite differences (the manifest's
    /// scheme) with every perturbed point in one batched call.
    pub fn jacobians(
        &mut self,
        z: ArrayView2<'_, f32>,
        u: ArrayView2<'_, f32>,
        mut a: ArrayViewMut3<'_, f32>,
        mut b: ArrayViewMut3<'_, f32>,
    ) -> Result<(), BundleError> {
        let points = self.net.check(&z, &u)?;
        let (nz, nu) = (self.latent_dim(), self.action_dim());
        check_shape("dynamics", "A (output)", a.shape(), &[points, nz, nz])?;
        check_shape("dynamics", "B (output)", b.shape(), &[points, nz, nu])?;
        match self.jacobians {
            JacobianSpec::Model => {
                let mut outputs = [
                    None,
                    Some(a.view_mut().into_dyn()),
                    Some(b.view_mut().into_dyn()),
                ];
                self.net.run(z, u, &mut outputs)
            }
            JacobianSpec::FiniteDifferences { step, scheme } => {
                self.finite_differences(z, u, step as f32, scheme, a, b)
            }
        }
    }

    /// Column i of [A B] at point t, x = (z_t, u_t): (f(x + h e_i) - f(x - h e_i)) / 2h
    /// (central) or (f(x + h e_i) - f(x)) / h (forward).
    fn finite_differences(
        &mut self,
        z: ArrayView2<'_, f32>,
        u: ArrayView2<'_, f32>,
        h: f32,
        scheme: DifferenceScheme,
        mut a: ArrayViewMut3<'_, f32>,
        mut b: ArrayViewMut3<'_, f32>,
    ) -> Result<(), BundleError> {
        let (nz, nu, points) = (self.net.latent_dim, self.net.action_dim, z.nrows());
        let d = nz + nu;
        // Per point: central, rows 2 i (+h) and 2 i + 1 (-h); forward, row 0 unperturbed and
        // row 1 + i (+h).
        let per_point = match scheme {
            DifferenceScheme::Central => 2 * d,
            DifferenceScheme::Forward => 1 + d,
        };
        let rows = points * per_point;
        if self.fd_z.nrows() < rows {
            self.fd_z = Array2::zeros((rows, nz));
            self.fd_u = Array2::zeros((rows, nu));
            self.fd_out = Array2::zeros((rows, nz));
        }
        let perturbation = |k: usize| -> Option<(usize, f32)> {
            match scheme {
                DifferenceScheme::Central => {
                    Some((k / 2, if k.is_multiple_of(2) { h } else { -h }))
                }
                DifferenceScheme::Forward => (k > 0).then(|| (k - 1, h)),
            }
        };
        for t in 0..points {
            for k in 0..per_point {
                let row = t * per_point + k;
                self.fd_z.row_mut(row).assign(&z.row(t));
                self.fd_u.row_mut(row).assign(&u.row(t));
                if let Some((i, delta)) = perturbation(k) {
                    if i < nz {
                        self.fd_z[[row, i]] += delta;
                    } else {
                        self.fd_u[[row, i - nz]] += delta;
                    }
                }
            }
        }
        let fd_z = self.fd_z.slice(s![..rows, ..]);
        let fd_u = self.fd_u.slice(s![..rows, ..]);
        let count = self.output_count();
        let mut out = self.fd_out.slice_mut(s![..rows, ..]);
        let mut outputs = [Some(out.view_mut().into_dyn()), None, None];
        self.net.run(fd_z, fd_u, &mut outputs[..count])?;
        for t in 0..points {
            let row = |k: usize| out.row(t * per_point + k);
            for i in 0..d {
                let (plus, minus, inv) = match scheme {
                    DifferenceScheme::Central => (row(2 * i), row(2 * i + 1), 1.0 / (2.0 * h)),
                    DifferenceScheme::Forward => (row(1 + i), row(0), 1.0 / h),
                };
                for r in 0..nz {
                    let derivative = (plus[r] - minus[r]) * inv;
                    if i < nz {
                        a[[t, r, i]] = derivative;
                    } else {
                        b[[t, r, i - nz]] = derivative;
                    }
                }
            }
        }
        Ok(())
    }
}
