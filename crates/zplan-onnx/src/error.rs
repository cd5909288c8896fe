//! Error types of zplan-onnx.

use std::path::PathBuf;

use crate::runtime::LibrarySource;

/// Why ONNX Runtime could not be loaded. Every variant names the path involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// No path was given and the setup location holds no library.
    #[error(
        "ONNX Runtime not found: no explicit path, ZPLAN_ORT_DYLIB and ORT_DYLIB_PATH are unset, \
         and the setup location {searched} holds no libonnxruntime.so; run `make deps`, or set \
         ZPLAN_ORT_DYLIB to the library file"
    )]
    NotInstalled {
        /// The setup directory that was searched.
        searched: PathBuf,
    },
    /// A path was given but nothing is there.
    #[error("ONNX Runtime library {path} (from {origin}) does not exist")]
    Missing {
        /// The path given.
        path: PathBuf,
        /// Where the path came from.
        origin: LibrarySource,
    },
    /// The dynamic loader refused the file.
    #[error("cannot open ONNX Runtime library {path} (from {origin}): {reason}")]
    Open {
        /// The library path.
        path: PathBuf,
        /// Where the path came from.
        origin: LibrarySource,
        /// The loader's message.
        reason: String,
    },
    /// The file is a shared library, but not ONNX Runtime.
    #[error("{path} (from {origin}) is not ONNX Runtime: it does not export OrtGetApiBase")]
    NotOnnxRuntime {
        /// The library path.
        path: PathBuf,
        /// Where the path came from.
        origin: LibrarySource,
    },
    /// The library is ONNX Runtime, but older than zplan needs.
    #[error(
        "ONNX Runtime {found} at {path} (from {origin}) is too old: zplan needs {required} or \
         newer; run `make deps` to install 1.31.1"
    )]
    TooOld {
        /// The library path.
        path: PathBuf,
        /// Where the path came from.
        origin: LibrarySource,
        /// The version the library reports.
        found: String,
        /// The oldest version accepted.
        required: String,
    },
    /// Another library is already loaded in this process.
    #[error(
        "ONNX Runtime is already loaded from {loaded}; {requested} cannot be loaded beside it in \
         the same process"
    )]
    AlreadyLoaded {
        /// The library in use.
        loaded: PathBuf,
        /// The library asked for.
        requested: PathBuf,
    },
    /// The library loaded but refused to create its environment.
    #[error("ONNX Runtime {path} loaded but cannot create its environment: {reason}")]
    Environment {
        /// The library path.
        path: PathBuf,
        /// ONNX Runtime's message.
        reason: String,
    },
}
