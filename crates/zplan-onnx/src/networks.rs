//! The four networks of a bundle, each on its own session, with shape and NaN checks on every
//! input. All calls are batched: row b of every input and output belongs to the same point.

use ndarray::{
    Array2, ArrayView2, ArrayView4, ArrayViewMut1, ArrayViewMut2, ArrayViewMut3, ArrayViewMut4,
    Axis, IxDyn,
};

use crate::bundle::manifest::{DifferenceScheme, JacobianSpec, ObservationSpec};
use crate::error::BundleError;
use crate::network::Net;

fn input_error(network: &'static str, input: &'static str, problem: String) -> BundleError {
    BundleError::Input {
        network,
        input,
        problem,
    }
}

fn check_shape(
    network: &'static str,
    input: &'static str,
    found: &[usize],
    expected: &[usize],
) -> Result<(), BundleError> {
    if found == expected {
        Ok(())
    } else {
        Err(input_error(
            network,
            input,
            format!("has shape {found:?}, expected {expected:?}"),
        ))
    }
}

/// Checks a batch of (z [B, nz], u [B, nu]) inputs; returns B.
fn check_state_action(
    network: &'static str,
    z: &ArrayView2<'_, f32>,
    u: &ArrayView2<'_, f32>,
    (nz, nu): (usize, usize),
) -> Result<usize, BundleError> {
    let batch = z.nrows();
    check_shape(network, "z", z.shape(), &[batch, nz])?;
    check_shape(network, "u", u.shape(), &[batch, nu])?;
    check_finite(network, "z", z.iter())?;
    check_finite(network, "u", u.iter())?;
    Ok(batch)
}

fn check_finite<'a>(
    network: &'static str,
    input: &'static str,
    values: impl IntoIterator<Item = &'a f32>,
) -> Result<(), BundleError> {
    match values.into_iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(BundleError::NonFinite {
            network,
            input,
            index,
        }),
    }
}

/// Image encoder o -> z.
pub struct Encoder {
    pub(crate) net: Net,
    pub(crate) input: String,
    pub(crate) observation: ObservationSpec,
    pub(crate) latent_dim: usize,
    /// u8 images scaled to f32, grown to the largest batch seen.
    pub(crate) scaled: Vec<f32>,
}

impl Encoder {
    /// The image layout it takes.
    pub fn observation(&self) -> ObservationSpec {
        self.observation
    }

    /// nz.
    pub fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    fn expected(&self, batch: usize) -> [usize; 4] {
        let o = &self.observation;
        [batch, o.stacked_channels(), o.height, o.width]
    }

    /// Encodes f32 images [B, C, H, W] with values in [0, 1] into `z` [B, nz].
    pub fn encode(
        &mut self,
        obs: ArrayView4<'_, f32>,
        mut z: ArrayViewMut2<'_, f32>,
    ) -> Result<(), BundleError> {
        let batch = obs.shape()[0];
        check_shape("encoder", "observation", obs.shape(), &self.expected(batch))?;
        check_shape(
            "encoder",
            "z (output)",
            z.shape(),
            &[batch, self.latent_dim],
        )?;
        check_finite("encoder", "observation", obs.iter())?;
        let obs = obs.as_standard_layout();
        let inputs = [(self.input.as_str(), obs.view().into_dyn())];
        self.net
            .run(batch, &inputs, &mut [Some(z.view_mut().into_dyn())])
    }

    /// Encodes u8 images [B, C, H, W] (0..=255, scaled by 1/255) into `z` [B, nz].
    pub fn encode_u8(
        &mut self,
        obs: ArrayView4<'_, u8>,
        mut z: ArrayViewMut2<'_, f32>,
    ) -> Result<(), BundleError> {
        let batch = obs.shape()[0];
        let expected = self.expected(batch);
        check_shape("encoder", "observation", obs.shape(), &expected)?;
        check_shape(
            "encoder",
            "z (output)",
            z.shape(),
            &[batch, self.latent_dim],
        )?;
        let len = obs.len();
        if self.scaled.len() < len {
            self.scaled.resize(len, 0.0);
        }
        for (dst, &src) in self.scaled.iter_mut().zip(obs.iter()) {
            *dst = f32::from(src) * (1.0 / 255.0);
        }
        let scaled = ndarray::ArrayView::from_shape(IxDyn(&expected), &self.scaled[..len])
            .expect("sized above");
        let inputs = [(self.input.as_str(), scaled)];
        self.net
            .run(batch, &inputs, &mut [Some(z.view_mut().into_dyn())])
    }
}

/// Latent dynamics (z, u) -> z_next, with Jacobians from the model or by finite differences.
pub struct Dynamics {
    pub(crate) net: Net,
    pub(crate) state_input: String,
    pub(crate) action_input: String,
    pub(crate) latent_dim: usize,
    pub(crate) action_dim: usize,
    /// Whether the network outputs A and B (they follow z_next in the net's outputs).
    pub(crate) has_model_jacobians: bool,
    pub(crate) jacobians: JacobianSpec,
    /// Perturbed inputs and outputs of the finite-difference batch, grown to the largest seen.
    pub(crate) fd_z: Array2<f32>,
    pub(crate) fd_u: Array2<f32>,
    pub(crate) fd_out: Array2<f32>,
}

impl Dynamics {
    /// nz.
    pub fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// nu.
    pub fn action_dim(&self) -> usize {
        self.action_dim
    }

    /// How Jacobians are obtained.
    pub fn jacobian_mode(&self) -> JacobianSpec {
        self.jacobians
    }

    /// z_next [B, nz] = f(z [B, nz], u [B, nu]).
    pub fn step(
        &mut self,
        z: ArrayView2<'_, f32>,
        u: ArrayView2<'_, f32>,
        mut z_next: ArrayViewMut2<'_, f32>,
    ) -> Result<(), BundleError> {
        let batch = check_state_action("dynamics", &z, &u, (self.latent_dim, self.action_dim))?;
        check_shape(
            "dynamics",
            "z_next (output)",
            z_next.shape(),
            &[batch, self.latent_dim],
        )?;
        let (z, u) = (z.as_standard_layout(), u.as_standard_layout());
        let inputs = [
            (self.state_input.as_str(), z.view().into_dyn()),
            (self.action_input.as_str(), u.view().into_dyn()),
        ];
        let mut outputs = [Some(z_next.view_mut().into_dyn()), None, None];
        let count = if self.has_model_jacobians { 3 } else { 1 };
        self.net.run(batch, &inputs, &mut outputs[..count])
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
        let points = check_state_action("dynamics", &z, &u, (self.latent_dim, self.action_dim))?;
        let (nz, nu) = (self.latent_dim, self.action_dim);
        check_shape("dynamics", "A (output)", a.shape(), &[points, nz, nz])?;
        check_shape("dynamics", "B (output)", b.shape(), &[points, nz, nu])?;
        match self.jacobians {
            JacobianSpec::Model => {
                let (z, u) = (z.as_standard_layout(), u.as_standard_layout());
                let inputs = [
                    (self.state_input.as_str(), z.view().into_dyn()),
                    (self.action_input.as_str(), u.view().into_dyn()),
                ];
                let mut outputs = [
                    None,
                    Some(a.view_mut().into_dyn()),
                    Some(b.view_mut().into_dyn()),
                ];
                self.net.run(points, &inputs, &mut outputs)
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
        let (nz, nu, points) = (self.latent_dim, self.action_dim, z.nrows());
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
        let fd_z = self.fd_z.slice(ndarray::s![..rows, ..]);
        let fd_u = self.fd_u.slice(ndarray::s![..rows, ..]);
        let inputs = [
            (self.state_input.as_str(), fd_z.into_dyn()),
            (self.action_input.as_str(), fd_u.into_dyn()),
        ];
        let mut out = self.fd_out.slice_mut(ndarray::s![..rows, ..]);
        let mut outputs = [Some(out.view_mut().into_dyn()), None, None];
        let count = if self.has_model_jacobians { 3 } else { 1 };
        self.net.run(rows, &inputs, &mut outputs[..count])?;
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

/// Decoder z -> o.
pub struct Decoder {
    pub(crate) net: Net,
    pub(crate) input: String,
    pub(crate) observation: ObservationSpec,
    pub(crate) latent_dim: usize,
}

impl Decoder {
    /// Decodes `z` [B, nz] into images [B, C, H, W].
    pub fn decode(
        &mut self,
        z: ArrayView2<'_, f32>,
        mut obs: ArrayViewMut4<'_, f32>,
    ) -> Result<(), BundleError> {
        let batch = z.nrows();
        let o = &self.observation;
        check_shape("decoder", "z", z.shape(), &[batch, self.latent_dim])?;
        check_shape(
            "decoder",
            "observation (output)",
            obs.shape(),
            &[batch, o.stacked_channels(), o.height, o.width],
        )?;
        check_finite("decoder", "z", z.iter())?;
        let z = z.as_standard_layout();
        let inputs = [(self.input.as_str(), z.view().into_dyn())];
        self.net
            .run(batch, &inputs, &mut [Some(obs.view_mut().into_dyn())])
    }
}

/// Reward model (z, u) -> r.
pub struct Reward {
    pub(crate) net: Net,
    pub(crate) state_input: String,
    pub(crate) action_input: String,
    pub(crate) latent_dim: usize,
    pub(crate) action_dim: usize,
    /// Whether the network writes r as [B, 1] rather than [B].
    pub(crate) column: bool,
}

impl Reward {
    /// Latent size nz.
    pub fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// Action size nu.
    pub fn action_dim(&self) -> usize {
        self.action_dim
    }

    /// r [B] at (z [B, nz], u [B, nu]).
    pub fn reward(
        &mut self,
        z: ArrayView2<'_, f32>,
        u: ArrayView2<'_, f32>,
        mut r: ArrayViewMut1<'_, f32>,
    ) -> Result<(), BundleError> {
        let batch = check_state_action("reward", &z, &u, (self.latent_dim, self.action_dim))?;
        check_shape("reward", "r (output)", r.shape(), &[batch])?;
        let (z, u) = (z.as_standard_layout(), u.as_standard_layout());
        let inputs = [
            (self.state_input.as_str(), z.view().into_dyn()),
            (self.action_input.as_str(), u.view().into_dyn()),
        ];
        let out = if self.column {
            r.view_mut().insert_axis(Axis(1)).into_dyn()
        } else {
            r.view_mut().into_dyn()
        };
        self.net.run(batch, &inputs, &mut [Some(out)])
    }
}
