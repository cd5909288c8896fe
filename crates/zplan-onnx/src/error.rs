//! Error types of zplan-onnx.

use std::path::PathBuf;

use crate::runtime::LibrarySource;

/// Why ONNX Runtime could not be loaded. Every variant names the path involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// No path was given and neither the installed nor the setup location holds a library.
    #[error(
        "ONNX Runtime not found: no explicit path, ZPLAN_ORT_DYLIB and ORT_DYLIB_PATH are unset, \
         and none of {} holds libonnxruntime.so; run `make deps` (a source tree) or `make \
         install` (PREFIX/lib/zplan/), or set ZPLAN_ORT_DYLIB to the library file",
        searched.iter().map(|dir| dir.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotInstalled {
        /// The directories searched, installed locations first.
        searched: Vec<PathBuf>,
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

/// Why a model bundle cannot be loaded or run. Every variant names the file or input involved
/// and, where there is one, the manifest field.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// ONNX Runtime itself is not available.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A file cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The manifest is not valid JSON for the format (unknown or missing field, wrong type).
    #[error("{path}:{line}:{column}: {message}")]
    Json {
        /// The manifest.
        path: PathBuf,
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
        /// serde's message, naming the field.
        message: String,
    },
    /// A manifest field has a value the bundle cannot work with.
    #[error("{path}: field `{field}` {problem}")]
    Field {
        /// The manifest.
        path: PathBuf,
        /// The field, dotted (`action.low`).
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A network file named by the manifest does not exist.
    #[error("{path}: file named by manifest field `{field}` does not exist")]
    MissingFile {
        /// The missing file.
        path: PathBuf,
        /// The field that names it.
        field: String,
    },
    /// An ONNX file this ONNX Runtime cannot load (not ONNX, IR or opset too new).
    #[error("{path} (manifest field `{field}`): {problem}")]
    Onnx {
        /// The ONNX file.
        path: PathBuf,
        /// The field that names it.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// ONNX Runtime refused to create a session for the file.
    #[error("{path}: ONNX Runtime cannot load the model: {message}")]
    Session {
        /// The ONNX file.
        path: PathBuf,
        /// ONNX Runtime's message.
        message: String,
    },
    /// The network's inputs or outputs disagree with the manifest.
    #[error("{path} (manifest field `{field}`): {problem}")]
    Signature {
        /// The ONNX file.
        path: PathBuf,
        /// The manifest field the network disagrees with.
        field: String,
        /// How.
        problem: String,
    },
    /// Data passed to a network holds NaN or an infinity.
    #[error("{network} input `{input}`: element {index} is not finite (NaN or infinity)")]
    NonFinite {
        /// The network (`encoder`, `dynamics`, ...).
        network: &'static str,
        /// The input.
        input: &'static str,
        /// Position of the first such value, row-major.
        index: usize,
    },
    /// A network produced NaN or an infinity.
    #[error(
        "{path}: the {network} produced a value that is not finite (NaN or infinity) in output `{output}`, element {index}"
    )]
    NonFiniteOutput {
        /// The ONNX file.
        path: PathBuf,
        /// The network (`encoder`, `dynamics`, ...).
        network: &'static str,
        /// The output.
        output: String,
        /// Position of the first such value, row-major.
        index: usize,
    },
    /// Data passed to a network has the wrong shape.
    #[error("{network} input `{input}`: {problem}")]
    Input {
        /// The network (`encoder`, `dynamics`, ...).
        network: &'static str,
        /// The input.
        input: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// ONNX Runtime failed while running a network.
    #[error("{path}: inference failed: {message}")]
    Inference {
        /// The ONNX file.
        path: PathBuf,
        /// ONNX Runtime's message.
        message: String,
    },
}
