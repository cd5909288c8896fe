//! The networks of a bundle, each on its own session, with shape and NaN checks on every
//! input. All calls are batched: row b of every input and output belongs to the same point.
//!
//! Each network kind opens and validates itself against the manifest (`open`: the declared
//! signature, then one probe point whose output shapes must match): the encoder o -> z, the
//! dynamics and the reward model, both networks of (z, u) ([`StateActionNet`]), and the decoder
//! z -> o; and the video predictor of a video bundle, (frames, u, maps) -> (next frame, next
//! maps).

mod decoder;
mod dynamics;
mod encoder;
mod predictor;
mod reward;

use std::path::Path;

use ndarray::{Array2, ArrayView2, ArrayViewMutD};

pub use decoder::DecoderNet;
pub use dynamics::DynamicsNet;
pub use encoder::EncoderNet;
pub use predictor::PredictorNet;
pub use reward::RewardNet;

use crate::error::BundleError;
use crate::native::Isa;
use crate::network::{Net, NetworkOptions, first_non_finite};

/// Largest |native - onnxruntime| / (1 + |onnxruntime|) accepted on the probe.
const PROBE_TOLERANCE: f32 = 1e-4;

/// What computes a network's outputs: the dynamics' z_next, the encoder's z.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evaluator {
    /// zplan's native kernels with this instruction set; `multiply_adds` per row (per image
    /// for an encoder).
    Native {
        /// The kernels' instruction set.
        isa: Isa,
        /// Multiply-adds of the network's matrix products per row.
        multiply_adds: usize,
    },
    /// ONNX Runtime, and why not the native evaluator.
    OnnxRuntime {
        /// Not compiled (the first unsupported node), not agreeing, or not asked for.
        reason: String,
    },
}

impl std::fmt::Display for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Evaluator::Native { isa, .. } => write!(f, "native ({})", isa.name()),
            Evaluator::OnnxRuntime { reason } => write!(f, "onnxruntime ({reason})"),
        }
    }
}

/// Whether the native values `found` are ONNX Runtime's `expected` (of output `name`) to
/// [`PROBE_TOLERANCE`], non-finite values bit for bit.
fn compare<'a>(
    found: impl Iterator<Item = &'a f32>,
    expected: impl Iterator<Item = &'a f32>,
    name: &str,
) -> Result<(), String> {
    for (index, (&f, &e)) in found.zip(expected).enumerate() {
        let agree = if e.is_finite() {
            (f - e).abs() <= PROBE_TOLERANCE * (1.0 + e.abs())
        } else {
            f.to_bits() == e.to_bits() || (f.is_nan() && e.is_nan())
        };
        if !agree {
            return Err(format!(
                "the native evaluator gives {f} where ONNX Runtime gives {e} ({name}, probe \
                 element {index})"
            ));
        }
    }
    Ok(())
}

/// The row-major index of the first value of `values` that is not finite.
fn first_non_finite_of<D: ndarray::Dimension>(
    values: &ndarray::ArrayView<'_, f32, D>,
) -> Option<usize> {
    match values.as_slice() {
        Some(slice) => first_non_finite(slice),
        None => values.iter().position(|v| !v.is_finite()),
    }
}

/// A native result checked as ONNX Runtime's runs are (`Net::run`): every value of output
/// `name` of `network` finite.
fn check_native_output(
    net: &Net,
    network: &'static str,
    name: &str,
    values: ndarray::ArrayViewD<'_, f32>,
) -> Result<(), BundleError> {
    match first_non_finite_of(&values) {
        None => Ok(()),
        Some(index) => Err(BundleError::NonFiniteOutput {
            path: net.path.clone(),
            network,
            output: name.to_owned(),
            index,
        }),
    }
}

/// An input (or output buffer) of a call must have the shape the network needs.
fn check_shape(
    network: &'static str,
    input: &'static str,
    found: &[usize],
    expected: &[usize],
) -> Result<(), BundleError> {
    (found == expected)
        .then_some(())
        .ok_or_else(|| BundleError::Input {
            network,
            input,
            problem: format!("has shape {found:?}, expected {expected:?}"),
        })
}

/// Every value of an input must be finite; the error names the first that is not (index in
/// row-major order).
fn check_finite<D: ndarray::Dimension>(
    network: &'static str,
    input: &'static str,
    values: &ndarray::ArrayView<'_, f32, D>,
) -> Result<(), BundleError> {
    match first_non_finite_of(values) {
        None => Ok(()),
        Some(index) => Err(BundleError::NonFinite {
            network,
            input,
            index,
        }),
    }
}

/// The probe's output shape for one point must be what the manifest implies.
fn expect_shape(
    net: &Net,
    field: &str,
    name: &str,
    found: &[usize],
    expected: &[usize],
) -> Result<(), BundleError> {
    (found == expected)
        .then_some(())
        .ok_or_else(|| BundleError::Signature {
            path: net.path.clone(),
            field: field.to_string(),
            problem: format!(
                "output `{name}` has shape {found:?} for one point, the manifest implies {expected:?}"
            ),
        })
}

/// A network of a latent state and an action, (z [B, nz], u [B, nu]) -> outputs: the dynamics
/// and the reward model.
pub(crate) struct StateActionNet {
    net: Net,
    /// "dynamics" or "reward", for messages and manifest field names.
    network: &'static str,
    state_input: String,
    action_input: String,
    latent_dim: usize,
    action_dim: usize,
}

impl StateActionNet {
    /// Opens `file` of the bundle in `dir` and checks the declared shapes of its two inputs
    /// (manifest fields `NETWORK.state_input` and `NETWORK.action_input`).
    fn open(
        dir: &Path,
        network: &'static str,
        file: &str,
        (state_input, action_input): (&str, &str),
        (nz, nu): (usize, usize),
        options: &NetworkOptions,
    ) -> Result<Self, BundleError> {
        let net = Net::open(dir, file, network, options)?;
        Self::on(net, network, (state_input, action_input), (nz, nu))
    }

    /// As [`StateActionNet::open`], on the model cut down to the outputs `keep`; `None` when
    /// nothing would be removed (see [`Net::open_pruned`]).
    fn open_pruned(
        dir: &Path,
        network: &'static str,
        file: &str,
        inputs: (&str, &str),
        dims: (usize, usize),
        options: &NetworkOptions,
        keep: &[&str],
    ) -> Result<Option<Self>, BundleError> {
        match Net::open_pruned(dir, file, network, options, keep)? {
            Some(net) => Self::on(net, network, inputs, dims).map(Some),
            None => Ok(None),
        }
    }

    /// `net` with its two inputs' declared shapes checked.
    fn on(
        net: Net,
        network: &'static str,
        (state_input, action_input): (&str, &str),
        (nz, nu): (usize, usize),
    ) -> Result<Self, BundleError> {
        let field = |input: &str| format!("{network}.{input}");
        net.expect(true, &field("state_input"), state_input, &[None, Some(nz)])?;
        net.expect(
            true,
            &field("action_input"),
            action_input,
            &[None, Some(nu)],
        )?;
        Ok(Self {
            net,
            network,
            state_input: state_input.to_owned(),
            action_input: action_input.to_owned(),
            latent_dim: nz,
            action_dim: nu,
        })
    }

    /// The shapes of `outputs` for one point (z = 0, u = 0).
    fn probe(&mut self, outputs: &[&str]) -> Result<Vec<Vec<usize>>, BundleError> {
        let z = Array2::<f32>::zeros((1, self.latent_dim));
        let u = Array2::<f32>::zeros((1, self.action_dim));
        self.net.probe_shapes(
            &[
                (&self.state_input, z.view().into_dyn()),
                (&self.action_input, u.view().into_dyn()),
            ],
            outputs,
        )
    }

    /// Checks a batch of (z, u) inputs, shapes and values; returns B.
    fn check(
        &self,
        z: &ArrayView2<'_, f32>,
        u: &ArrayView2<'_, f32>,
    ) -> Result<usize, BundleError> {
        let batch = z.nrows();
        check_shape(self.network, "z", z.shape(), &[batch, self.latent_dim])?;
        check_shape(self.network, "u", u.shape(), &[batch, self.action_dim])?;
        check_finite(self.network, "z", z)?;
        check_finite(self.network, "u", u)?;
        Ok(batch)
    }

    /// Runs the network on checked inputs of one batch, into `outputs` (None: not wanted).
    fn run(
        &mut self,
        z: ArrayView2<'_, f32>,
        u: ArrayView2<'_, f32>,
        outputs: &mut [Option<ArrayViewMutD<'_, f32>>],
    ) -> Result<(), BundleError> {
        let (z, u) = (z.as_standard_layout(), u.as_standard_layout());
        let inputs = [
            (self.state_input.as_str(), z.view().into_dyn()),
            (self.action_input.as_str(), u.view().into_dyn()),
        ];
        self.net.run(z.nrows(), &inputs, outputs)
    }
}
