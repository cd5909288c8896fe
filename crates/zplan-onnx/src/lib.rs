//! zplan-onnx: ONNX Runtime for zplan.
//!
//! This crate owns everything that touches ONNX Runtime. It starts with the process-wide
//! [`Runtime`]: where the shared library is found, its version check, and the environment every
//! session is created from.

mod error;
mod runtime;

pub use error::RuntimeError;
pub use runtime::{
    LibrarySource, MINIMUM_VERSION, ORT_DYLIB_PATH, Runtime, SETUP_VERSION, ZPLAN_ORT_DYLIB,
    setup_dir,
};
