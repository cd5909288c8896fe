//! zplan-onnx: everything that touches ONNX Runtime.
//!
//! - [`Runtime`]: where the shared library is found, its version check, and the process-wide
//!   environment every session is created from.
//! - [`Bundle`]: a model bundle (`zplan.json` + ONNX files, docs/model-bundle.md), validated at
//!   load, holding one session per network: [`Encoder`], [`Dynamics`], [`Decoder`], [`Reward`].

mod bundle;
mod error;
mod native;
mod network;
mod networks;
mod protobuf;
mod runtime;

pub use bundle::manifest::{
    ActionSpec, DecoderSpec, DifferenceScheme, DynamicsSpec, EncoderSpec, FORMAT_VERSION,
    JacobianSpec, Manifest, ObservationSpec, Provenance, RewardSpec,
};
pub use bundle::onnx_header::{MAX_IR_VERSION, MAX_OPSET, OnnxHeader};
pub use bundle::{Bundle, MANIFEST_FILE};
pub use error::{BundleError, RuntimeError};
pub use native::Isa;
pub use network::NetworkOptions;
pub use networks::{DecoderNet, DynamicsNet, EncoderNet, Evaluator, RewardNet};
pub use runtime::{
    LibrarySource, MINIMUM_VERSION, ORT_DISABLE_TELEMETRY, ORT_DYLIB_PATH, Runtime, SETUP_VERSION,
    ZPLAN_ORT_DYLIB, setup_dir,
};
