//! zplan-onnx: everything that touches ONNX Runtime.
//!
//! - [`Runtime`]: where the shared library is found, its version check, and the process-wide
//!   environment every session is created from.
//! - [`Bundle`]: a latent model bundle (`zplan.json` + ONNX files, docs/model-bundle.md),
//!   validated at load, holding one session per network: [`EncoderNet`], [`DynamicsNet`],
//!   [`DecoderNet`], [`RewardNet`].
//! - [`VideoBundle`]: a video bundle (manifest format version 2, kind "video"), holding a
//!   [`PredictorNet`] that predicts the next frame and carries designated-pixel maps along;
//!   [`BundleKind::of_bundle`] tells the two kinds apart before loading.
//! - The native evaluator: the dynamics' z_next on zplan's own kernels ([`Isa`]) when the graph
//!   is a feed-forward network they compile and agree with ONNX Runtime on at load
//!   ([`Evaluator`], [`NetworkOptions::native`]).

mod bundle;
mod error;
mod log;
mod native;
mod network;
mod networks;
mod protobuf;
mod pruning;
mod runtime;

pub use bundle::manifest::{
    ActionSpec, BundleKind, DecoderSpec, DifferenceScheme, DynamicsSpec, EncoderSpec,
    FORMAT_VERSION, JacobianSpec, MAX_MAPS, MAX_TERMINAL_STEPS, Manifest, ObservationSpec,
    PlannerChoices, PredictorSpec, Provenance, RewardSpec, VideoManifest,
};
pub use bundle::onnx_header::{MAX_IR_VERSION, MAX_OPSET, OnnxHeader};
pub use bundle::{Bundle, MANIFEST_FILE, VideoBundle};
pub use error::{BundleError, RuntimeError};
pub use log::{LogLevel, LogSink, log, log_level, set_log_sink};
pub use native::{Isa, NativeJacobians};
pub use network::{GraphOptimization, NetworkOptions, SessionSettings};
pub use networks::{DecoderNet, DynamicsNet, EncoderNet, Evaluator, PredictorNet, RewardNet};
/// Entry points for zplan's fuzz targets (crates/zplan-fuzz); not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    use ndarray::Array2;

    /// Decodes and compiles an ONNX model of (z [B, nz], u [B, nu]) -> z_next with the native
    /// evaluator and, if it compiles, runs it on a few rows.
    pub fn native_graph(bytes: &[u8], (nz, nu): (usize, usize)) {
        let compiled = crate::native::NativeNet::from_bytes(bytes, ("z", "u"), "z_next", (nz, nu));
        if let Ok(mut net) = compiled {
            let z = Array2::from_elem((3, nz), 0.5f32);
            let u = Array2::from_elem((3, nu), -0.5f32);
            let mut z_next = Array2::zeros((3, nz));
            net.run(z.view(), u.view(), z_next.view_mut());
        }
    }

    /// Decodes and compiles an ONNX model of obs [B, C, H, W] (`image` = [C, H, W]) -> z
    /// [B, nz] with the native encoder and, if it compiles, encodes two images.
    pub fn native_encoder(bytes: &[u8], image: [usize; 3], nz: usize) {
        let compiled = crate::native::NativeEncoder::from_bytes(bytes, "obs", "z", image, nz);
        if let Ok(mut net) = compiled {
            let obs = vec![0.5f32; 2 * image.iter().product::<usize>()];
            let mut z = vec![0.0f32; 2 * nz];
            net.run(&obs, &mut z);
        }
    }
}

pub use runtime::{
    LibrarySource, MINIMUM_VERSION, ORT_DISABLE_TELEMETRY, ORT_DYLIB_PATH, Runtime, SETUP_VERSION,
    ZPLAN_ORT_DYLIB, installed_dirs, setup_dir,
};
