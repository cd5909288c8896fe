//! The latent dynamics (z, u) -> z_next and its Jacobians.

use std::path::Path;

use ndarray::{Array2, Array3, ArrayView2, ArrayViewD, ArrayViewMut2, ArrayViewMut3, s};

use super::{Evaluator, StateActionNet, check_native_output, check_shape, compare, expect_shape};
use crate::bundle::manifest::{DifferenceScheme, JacobianSpec, Manifest};
use crate::error::BundleError;
use crate::native::{NativeJacobians, NativeNet};
use crate::network::NetworkOptions;

/// Rows of the load-time comparison of the native evaluator with ONNX Runtime (two tiles).
const PROBE_ROWS: usize = 97;
/// Latent dynamics (z, u) -> z_next, with Jacobians from the model or by finite differences.
pub struct DynamicsNet {
    net: StateActionNet,
    /// For a network with A and B outputs whose z_next runs on ONNX Runtime: a second session
    /// on the model cut down to z_next (ONNX Runtime runs every node on every call, asked-for
    /// outputs or not). Not opened when the native evaluator runs z_next.
    z_next_net: Option<StateActionNet>,
    /// The native evaluator of z_next, when it compiled and agreed with ONNX Runtime.
    native: Option<NativeNet>,
    /// The native reverse-mode Jacobians, for model Jacobians, when they compiled and agreed
    /// with the model's A and B outputs.
    native_jacobians: Option<NativeNet>,
    /// The manifest's names for z_next, A and B, for messages.
    output: String,
    jacobian_names: [String; 2],
    evaluator: Evaluator,
    jacobian_evaluator: Evaluator,
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
        let not_asked = Evaluator::OnnxRuntime {
            reason: "not asked for".into(),
        };
        let mut dynamics = Self {
            net,
            z_next_net: None,
            native: None,
            native_jacobians: None,
            output: spec.output.clone(),
            jacobian_names: [spec.a_output.clone(), spec.b_output.clone()]
                .map(|name| name.unwrap_or_default()),
            evaluator: not_asked.clone(),
            jacobian_evaluator: not_asked,
            has_model_jacobians,
            jacobians: manifest.jacobians,
            fd_z: Array2::zeros((0, nz)),
            fd_u: Array2::zeros((0, nu)),
            fd_out: Array2::zeros((0, nz)),
        };
        if options.native {
            let path = dir.join(&spec.file);
            let (z, u) = probe_points(manifest);
            let compiled = NativeNet::compile(&path, inputs, &spec.output, (nz, nu))
                .and_then(|native| dynamics.agreeing(native, z.view(), u.view()));
            (dynamics.evaluator, dynamics.native) = described(compiled);
            if has_model_jacobians {
                let compiled =
                    NativeNet::compile_differentiable(&path, inputs, &spec.output, (nz, nu))
                        .and_then(|native| dynamics.agreeing_jacobians(native, z.view(), u.view()));
                (dynamics.jacobian_evaluator, dynamics.native_jacobians) = described(compiled);
            }
        }
        if has_model_jacobians && dynamics.native.is_none() {
            // z_next runs on ONNX Runtime: on the model cut down to it.
            let keep = [spec.output.as_str()];
            let dims = (nz, nu);
            dynamics.z_next_net = StateActionNet::open_pruned(
                dir, "dynamics", &spec.file, inputs, dims, options, &keep,
            )?;
            if let Some(cut) = &mut dynamics.z_next_net {
                cut.net.set_outputs(vec![(spec.output.clone(), vec![nz])]);
            }
        }
        if !matches!(dynamics.jacobians, JacobianSpec::Model) {
            // Finite differences are calls of z_next.
            dynamics.jacobian_evaluator = dynamics.evaluator.clone();
        }
        Ok(dynamics)
    }

    /// `native` when its z_next is what ONNX Runtime computes at the probe points.
    fn agreeing(
        &mut self,
        mut native: NativeNet,
        z: ArrayView2<'_, f32>,
        u: ArrayView2<'_, f32>,
    ) -> Result<NativeNet, String> {
        let nz = self.latent_dim();
        let mut expected = Array2::zeros((PROBE_ROWS, nz));
        self.onnx_z_next(z, u, expected.view_mut())
            .map_err(|e| format!("ONNX Runtime failed on the probe: {e}"))?;
        let mut found = Array2::zeros((PROBE_ROWS, nz));
        native.run(z, u, found.view_mut());
        compare(found.iter(), expected.iter(), "z_next")?;
        Ok(native)
    }

    /// `native` when its reverse-mode Jacobians are the model's A and B outputs at the probe
    /// points.
    fn agreeing_jacobians(
        &mut self,
        mut native: NativeNet,
        z: ArrayView2<'_, f32>,
        u: ArrayView2<'_, f32>,
    ) -> Result<NativeNet, String> {
        let (nz, nu) = (self.latent_dim(), self.action_dim());
        let mut expected_a = Array3::zeros((PROBE_ROWS, nz, nz));
        let mut expected_b = Array3::zeros((PROBE_ROWS, nz, nu));
        let mut outputs = [
            None,
            Some(expected_a.view_mut().into_dyn()),
            Some(expected_b.view_mut().into_dyn()),
        ];
        self.net
            .run(z, u, &mut outputs)
            .map_err(|e| format!("ONNX Runtime failed on the probe: {e}"))?;
        let mut found_a = Array3::zeros((PROBE_ROWS, nz, nz));
        let mut found_b = Array3::zeros((PROBE_ROWS, nz, nu));
        native.jacobians(z, u, found_a.view_mut(), found_b.view_mut());
        compare(found_a.iter(), expected_a.iter(), "A")?;
        compare(found_b.iter(), expected_b.iter(), "B")?;
        Ok(native)
    }

    /// What computes z_next (finite-difference Jacobians go the same way).
    pub fn evaluator(&self) -> &Evaluator {
        &self.evaluator
    }

    /// What computes model Jacobians: the native evaluator (see [`Self::native_jacobians`]),
    /// or ONNX Runtime's A and B outputs; for finite differences, [`Self::evaluator`].
    pub fn jacobian_evaluator(&self) -> &Evaluator {
        &self.jacobian_evaluator
    }

    /// How the native evaluator computes the model Jacobians; `None` when it does not.
    pub fn native_jacobians(&self) -> Option<NativeJacobians> {
        self.native_jacobians.as_ref()?.jacobian_method()
    }
}

/// [`PROBE_ROWS`] points of the load-time comparisons: latents spread over [-3, 3], actions
/// over the manifest's limits.
fn probe_points(manifest: &Manifest) -> (Array2<f32>, Array2<f32>) {
    let (nz, nu) = (manifest.latent_dim, manifest.action.dim);
    let mut state = 0x853c_49e6_748f_ea9b_u64;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    let z = Array2::from_shape_fn((PROBE_ROWS, nz), |_| 6.0 * uniform() - 3.0);
    let u = Array2::from_shape_fn((PROBE_ROWS, nu), |(_, j)| {
        let (low, high) = (
            manifest.action.low[j] as f32,
            manifest.action.high[j] as f32,
        );
        low + (high - low) * uniform()
    });
    (z, u)
}

/// The evaluator a native compilation gives, and the compiled network when it is used.
fn described(compiled: Result<NativeNet, String>) -> (Evaluator, Option<NativeNet>) {
    match compiled {
        Ok(native) => (
            Evaluator::Native {
                isa: native.isa(),
                multiply_adds: native.multiply_adds_per_row(),
            },
            Some(native),
        ),
        Err(reason) => (Evaluator::OnnxRuntime { reason }, None),
    }
}

impl DynamicsNet {
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
        z_next: ArrayViewMut2<'_, f32>,
    ) -> Result<(), BundleError> {
        let batch = self.net.check(&z, &u)?;
        check_shape(
            "dynamics",
            "z_next (output)",
            z_next.shape(),
            &[batch, self.latent_dim()],
        )?;
        self.forward(z, u, z_next)
    }

    /// A native result checked as ONNX Runtime's runs are (`Net::run`): every value of output
    /// `name` finite.
    fn check_finite(&self, values: ArrayViewD<'_, f32>, name: &str) -> Result<(), BundleError> {
        check_native_output(&self.net.net, "dynamics", name, values)
    }

    /// z_next on checked inputs: natively when the evaluator is compiled, else ONNX Runtime.
    fn forward(
        &mut self,
        z: ArrayView2<'_, f32>,
        u: ArrayView2<'_, f32>,
        mut z_next: ArrayViewMut2<'_, f32>,
    ) -> Result<(), BundleError> {
        if let Some(native) = &mut self.native {
            native.run(z, u, z_next.view_mut());
            return self.check_finite(z_next.view().into_dyn(), &self.output);
        }
        self.onnx_z_next(z, u, z_next)
    }

    /// z_next on ONNX Runtime: on the session cut down to z_next when there is one.
    fn onnx_z_next(
        &mut self,
        z: ArrayView2<'_, f32>,
        u: ArrayView2<'_, f32>,
        mut z_next: ArrayViewMut2<'_, f32>,
    ) -> Result<(), BundleError> {
        let mut outputs = [Some(z_next.view_mut().into_dyn()), None, None];
        match &mut self.z_next_net {
            Some(cut) => cut.run(z, u, &mut outputs[..1]),
            None => {
                let count = self.output_count();
                self.net.run(z, u, &mut outputs[..count])
            }
        }
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
                if let Some(native) = &mut self.native_jacobians {
                    native.jacobians(z, u, a.view_mut(), b.view_mut());
                    self.check_finite(a.view().into_dyn(), &self.jacobian_names[0])?;
                    return self.check_finite(b.view().into_dyn(), &self.jacobian_names[1]);
                }
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
        let (fd_z, fd_u, mut fd_out) = (
            std::mem::take(&mut self.fd_z),
            std::mem::take(&mut self.fd_u),
            std::mem::take(&mut self.fd_out),
        );
        let result = self.forward(
            fd_z.slice(s![..rows, ..]),
            fd_u.slice(s![..rows, ..]),
            fd_out.slice_mut(s![..rows, ..]),
        );
        (self.fd_z, self.fd_u, self.fd_out) = (fd_z, fd_u, fd_out);
        result?;
        let out = self.fd_out.slice(s![..rows, ..]);
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
