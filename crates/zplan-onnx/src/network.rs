//! One ONNX Runtime session per network file: opening with zplan's threading, checking the
//! declared inputs and outputs, and batched runs with zero-copy inputs and outputs preallocated
//! once per batch size.
//!
//! A run goes through ONNX Runtime's C API (`OrtApi::Run`) with input and output names kept as
//! C strings from setup, input tensors wrapped around the caller's buffers and output tensors
//! around buffers owned here: after the first run at a batch size, a run allocates nothing on
//! the Rust side (ONNX Runtime's own C++ allocations are outside zplan's reach).

use std::ffi::{CStr, CString, c_char};
use std::path::{Path, PathBuf};
use std::ptr::{self, NonNull};

use ndarray::{ArrayViewD, ArrayViewMutD};
use ort::AsPointer;
use ort::session::{Session, SessionInputValue};
use ort::sys::{
    ONNXTensorElementDataType, OrtAllocatorType, OrtMemType, OrtMemoryInfo, OrtStatusPtr, OrtValue,
};
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::bundle::onnx_header::OnnxHeader;
use crate::error::BundleError;
use crate::runtime::Runtime;

/// Batch sizes whose preallocated outputs a network keeps.
const MAX_BATCH_SIZES: usize = 32;

/// How sessions are created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkOptions {
    /// Intra-op threads per session (spinning is always off). Default 1.
    pub intra_op_threads: usize,
    /// ONNX Runtime library to load if none is loaded yet (see [`Runtime::init`]).
    pub runtime_library: Option<PathBuf>,
    /// Run the dynamics' z_next with zplan's native evaluator when its graph is a small
    /// feed-forward network the evaluator compiles and the result agrees with ONNX Runtime's on
    /// a probe batch at load (see [`crate::Evaluator`]). Default true.
    pub native: bool,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        Self {
            intra_op_threads: 1,
            runtime_library: None,
            native: true,
        }
    }
}

/// Most inputs a network may have, and most outputs one run may ask for (the bundle's networks
/// have one or two inputs and up to three outputs).
const MAX_INPUTS: usize = 4;
const MAX_OUTPUTS: usize = 4;
/// Highest input rank (images are [B, C, H, W]).
const MAX_RANK: usize = 6;

/// A session and what zplan knows of it.
pub(crate) struct Net {
    pub path: PathBuf,
    /// The manifest's name for it (`encoder`, `dynamics`, ...), for messages.
    network: &'static str,
    session: Session,
    /// The model's input names, as C strings for `Run`.
    input_names: Vec<CString>,
    /// Output names, in the order `run` fills them, and pointers to them for `Run`.
    outputs: Vec<String>,
    output_names: Vec<CString>,
    output_name_ptrs: Vec<*const c_char>,
    /// Output shapes without the batch axis.
    output_dims: Vec<Vec<usize>>,
    /// CPU memory description of the tensors wrapped around zplan's buffers.
    memory: CpuMemory,
    /// Preallocated outputs, one set per batch size seen.
    by_batch: Vec<BoundOutputs>,
}

// SAFETY: the raw pointers point into this struct's own C strings and ONNX Runtime objects,
// which move with it and are used by one thread at a time (`run` takes `&mut self`).
unsafe impl Send for Net {}
// SAFETY: through `&Net` only plain Rust data is read (the path, for messages); every method
// that touches the session, the C strings or the ONNX Runtime values takes `&mut self`.
unsafe impl Sync for Net {}

/// `OrtMemoryInfo` for CPU tensors, released on drop.
struct CpuMemory(NonNull<OrtMemoryInfo>);

impl CpuMemory {
    fn new() -> Result<Self, String> {
        let mut info = ptr::null_mut();
        // SAFETY: a plain constructor call; `info` receives the new object.
        let status = unsafe {
            (ort::api().CreateCpuMemoryInfo)(
                OrtAllocatorType::OrtDeviceAllocator,
                OrtMemType::OrtMemTypeDefault,
                &mut info,
            )
        };
        check(status)?;
        NonNull::new(info)
            .map(Self)
            .ok_or_else(|| "CreateCpuMemoryInfo returned null".into())
    }

    /// An f32 tensor of `shape` over `data` (which must outlive the value).
    fn tensor(&self, data: *mut f32, len: usize, shape: &[i64]) -> Result<OwnedValue, String> {
        let mut value = ptr::null_mut();
        // SAFETY: `data` holds `len` f32 and outlives the value (the callers guarantee it).
        let status = unsafe {
            (ort::api().CreateTensorWithDataAsOrtValue)(
                self.0.as_ptr(),
                data.cast(),
                len * size_of::<f32>(),
                shape.as_ptr(),
                shape.len(),
                ONNXTensorElementDataType::ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT,
                &mut value,
            )
        };
        check(status)?;
        NonNull::new(value)
            .map(OwnedValue)
            .ok_or_else(|| "CreateTensorWithDataAsOrtValue returned null".into())
    }
}

impl Drop for CpuMemory {
    fn drop(&mut self) {
        // SAFETY: created by CreateCpuMemoryInfo, released once.
        unsafe { (ort::api().ReleaseMemoryInfo)(self.0.as_ptr()) }
    }
}

/// An `OrtValue` released on drop.
struct OwnedValue(NonNull<OrtValue>);

impl Drop for OwnedValue {
    fn drop(&mut self) {
        // SAFETY: created by CreateTensorWithDataAsOrtValue, released once.
        unsafe { (ort::api().ReleaseValue)(self.0.as_ptr()) }
    }
}

/// One batch size's outputs: buffers owned here and the tensors `Run` writes into.
struct BoundOutputs {
    batch: usize,
    /// Declared before `buffers` so that the tensors are released before their memory.
    values: Vec<OwnedValue>,
    value_ptrs: Vec<*mut OrtValue>,
    buffers: Vec<Vec<f32>>,
}

/// The position of the first value that is not finite. One pass over lanes of 16 (v * 0 is 0
/// for a finite v and NaN otherwise; the compiler vectorises the sums) finds that there is none.
pub(crate) fn first_non_finite(values: &[f32]) -> Option<usize> {
    let mut lanes = [0.0f32; 16];
    let chunks = values.chunks_exact(16);
    let rest = chunks.remainder().iter().fold(0.0, |acc, &v| acc + v * 0.0);
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += v * 0.0;
        }
    }
    if rest == 0.0 && lanes.iter().all(|&lane| lane == 0.0) {
        return None;
    }
    values.iter().position(|v| !v.is_finite())
}

/// Ok for a null status, else its message (and the status released).
fn check(status: OrtStatusPtr) -> Result<(), String> {
    if status.0.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null status from the API: read its message, then release it once.
    unsafe {
        let message = CStr::from_ptr((ort::api().GetErrorMessage)(status.0))
            .to_string_lossy()
            .into_owned();
        (ort::api().ReleaseStatus)(status.0);
        Err(message)
    }
}

impl Net {
    /// Opens `dir/file` after checking it exists inside `dir` (symbolic links resolved) and
    /// that its IR and opset are loadable.
    pub fn open(
        dir: &Path,
        file: &str,
        field: &'static str,
        options: &NetworkOptions,
    ) -> Result<Self, BundleError> {
        let path = dir.join(file);
        if !path.is_file() {
            return Err(BundleError::MissingFile {
                path,
                field: format!("{field}.file"),
            });
        }
        let inside = match (dir.canonicalize(), path.canonicalize()) {
            (Ok(dir), Ok(real)) => real.starts_with(dir),
            _ => false,
        };
        if !inside {
            return Err(BundleError::Field {
                path: dir.join(crate::bundle::MANIFEST_FILE),
                field: format!("{field}.file"),
                problem: format!(
                    "`{file}` resolves to a file outside the bundle directory {}",
                    dir.display()
                ),
            });
        }
        let onnx_error = |problem: String| BundleError::Onnx {
            path: path.clone(),
            field: format!("{field}.file"),
            problem,
        };
        let header = OnnxHeader::read(&path).map_err(onnx_error)?;
        header.check_supported().map_err(onnx_error)?;
        let runtime = Runtime::init(options.runtime_library.as_deref())?;
        let session_error = |message: String| BundleError::Session {
            path: path.clone(),
            message,
        };
        let message = |e: &dyn std::fmt::Display| session_error(e.to_string());
        let session = Session::builder(runtime.environment())
            .map_err(|e| message(&e))?
            .with_intra_threads(options.intra_op_threads.max(1))
            .map_err(|e| message(&e))?
            .with_inter_threads(1)
            .map_err(|e| message(&e))?
            .with_intra_op_spinning(false)
            .map_err(|e| message(&e))?
            .with_inter_op_spinning(false)
            .map_err(|e| message(&e))?
            .commit_from_file(&path)
            .map_err(|e| message(&e))?;
        let input_names = session
            .inputs()
            .iter()
            .map(|input| CString::new(input.name()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| message(&e))?;
        let memory = CpuMemory::new().map_err(session_error)?;
        Ok(Self {
            path,
            network: field,
            session,
            input_names,
            outputs: Vec::new(),
            output_names: Vec::new(),
            output_name_ptrs: Vec::new(),
            output_dims: Vec::new(),
            memory,
            by_batch: Vec::new(),
        })
    }

    fn signature_error(&self, field: String, problem: String) -> BundleError {
        BundleError::Signature {
            path: self.path.clone(),
            field,
            problem,
        }
    }

    /// Checks that the model declares an f32 input (or output) `name` of `rank` dimensions whose
    /// fixed dimensions match `dims` (`None` entries and dynamic axes are not compared).
    pub fn expect(
        &self,
        is_input: bool,
        field: &str,
        name: &str,
        dims: &[Option<usize>],
    ) -> Result<(), BundleError> {
        let list = if is_input {
            self.session.inputs()
        } else {
            self.session.outputs()
        };
        let kind = if is_input { "input" } else { "output" };
        let Some(outlet) = list.iter().find(|o| o.name() == name) else {
            let names: Vec<&str> = list.iter().map(|o| o.name()).collect();
            return Err(self.signature_error(
                field.to_string(),
                format!("the model has no {kind} named `{name}`; its {kind}s are {names:?}"),
            ));
        };
        let ValueType::Tensor { ty, shape, .. } = outlet.dtype() else {
            return Err(self.signature_error(
                field.to_string(),
                format!("{kind} `{name}` is not a tensor"),
            ));
        };
        if *ty != TensorElementType::Float32 {
            return Err(self.signature_error(
                field.to_string(),
                format!("{kind} `{name}` is {ty:?}, expected float32"),
            ));
        }
        let declared: Vec<i64> = shape.iter().copied().collect();
        if declared.len() != dims.len() {
            return Err(self.signature_error(
                field.to_string(),
                format!(
                    "{kind} `{name}` has shape {declared:?}, expected {} dimensions",
                    dims.len()
                ),
            ));
        }
        for (axis, (&d, want)) in declared.iter().zip(dims).enumerate() {
            if let Some(w) = want
                && d >= 0
                && d as usize != *w
            {
                return Err(self.signature_error(
                    field.to_string(),
                    format!("{kind} `{name}` has shape {declared:?}; axis {axis} should be {w}"),
                ));
            }
        }
        Ok(())
    }

    /// Declares the outputs `run` fills, with their shapes after the batch axis.
    pub fn set_outputs(&mut self, outputs: Vec<(String, Vec<usize>)>) {
        let (names, dims): (Vec<String>, _) = outputs.into_iter().unzip();
        self.output_names = names
            .iter()
            .map(|name| CString::new(name.as_str()).expect("checked names have no NUL"))
            .collect();
        self.output_name_ptrs = self.output_names.iter().map(|n| n.as_ptr()).collect();
        self.outputs = names;
        self.output_dims = dims;
        self.by_batch.clear();
    }

    /// The preallocated outputs for `batch` rows, made on first use.
    fn bound_outputs(&mut self, batch: usize) -> Result<usize, BundleError> {
        if let Some(slot) = self.by_batch.iter().position(|b| b.batch == batch) {
            return Ok(slot);
        }
        let mut bound = BoundOutputs {
            batch,
            values: Vec::with_capacity(self.outputs.len()),
            value_ptrs: Vec::with_capacity(self.outputs.len()),
            buffers: Vec::with_capacity(self.outputs.len()),
        };
        for dims in &self.output_dims {
            let shape: Vec<i64> = std::iter::once(batch)
                .chain(dims.iter().copied())
                .map(|d| d as i64)
                .collect();
            let mut buffer = vec![0.0f32; shape.iter().product::<i64>() as usize];
            let value = self
                .memory
                .tensor(buffer.as_mut_ptr(), buffer.len(), &shape)
                .map_err(|message| self.inference_error(message))?;
            bound.value_ptrs.push(value.0.as_ptr());
            bound.values.push(value);
            bound.buffers.push(buffer);
        }
        if self.by_batch.len() == MAX_BATCH_SIZES {
            // The planner uses a few fixed batch sizes; drop the oldest of any others.
            self.by_batch.remove(0);
        }
        self.by_batch.push(bound);
        Ok(self.by_batch.len() - 1)
    }

    fn inference_error(&self, message: String) -> BundleError {
        BundleError::Inference {
            path: self.path.clone(),
            message,
        }
    }

    /// Runs a batch of `batch` rows. `inputs` are (name, contiguous view) pairs; each output
    /// declared by `set_outputs` is copied into the matching view of `outputs`, if given.
    pub fn run(
        &mut self,
        batch: usize,
        inputs: &[(&str, ArrayViewD<'_, f32>)],
        outputs: &mut [Option<ArrayViewMutD<'_, f32>>],
    ) -> Result<(), BundleError> {
        if inputs.len() > MAX_INPUTS {
            return Err(self.inference_error(format!("more than {MAX_INPUTS} inputs")));
        }
        let slot = self.bound_outputs(batch)?;
        let mut names = [ptr::null::<c_char>(); MAX_INPUTS];
        let mut values: [Option<OwnedValue>; MAX_INPUTS] = Default::default();
        let mut value_ptrs = [ptr::null::<OrtValue>(); MAX_INPUTS];
        for (i, (name, view)) in inputs.iter().enumerate() {
            let Some(c_name) = self
                .input_names
                .iter()
                .find(|c| c.to_bytes() == name.as_bytes())
            else {
                return Err(self.inference_error(format!("the model has no input `{name}`")));
            };
            let Some(data) = view.as_slice() else {
                return Err(self.inference_error(format!("input `{name}` is not contiguous")));
            };
            if view.ndim() > MAX_RANK {
                return Err(self.inference_error(format!("input `{name}` has rank > {MAX_RANK}")));
            }
            let mut shape = [0i64; MAX_RANK];
            for (d, &n) in shape.iter_mut().zip(view.shape()) {
                *d = n as i64;
            }
            // ONNX Runtime only reads inputs; the API takes a mutable pointer regardless.
            let value = self
                .memory
                .tensor(data.as_ptr().cast_mut(), data.len(), &shape[..view.ndim()])
                .map_err(|message| self.inference_error(message))?;
            names[i] = c_name.as_ptr();
            value_ptrs[i] = value.0.as_ptr();
            values[i] = Some(value);
        }
        // Only the outputs asked for: ONNX Runtime then skips the nodes only the others need.
        let bound = &mut self.by_batch[slot];
        let mut out_names = [ptr::null::<c_char>(); MAX_OUTPUTS];
        let mut out_values = [ptr::null_mut::<OrtValue>(); MAX_OUTPUTS];
        let mut wanted = 0;
        for (i, out) in outputs.iter().enumerate().take(self.outputs.len()) {
            if out.is_some() {
                if wanted == MAX_OUTPUTS {
                    return Err(self.inference_error(format!("more than {MAX_OUTPUTS} outputs")));
                }
                out_names[wanted] = self.output_name_ptrs[i];
                out_values[wanted] = bound.value_ptrs[i];
                wanted += 1;
            }
        }
        // SAFETY: every pointer is live for the call: the names are this struct's C strings,
        // the inputs wrap the caller's borrowed views (kept alive in `values`), the outputs
        // wrap `bound.buffers` with their declared shapes.
        let status = unsafe {
            (ort::api().Run)(
                self.session.ptr().cast_mut(),
                ptr::null(),
                names.as_ptr(),
                value_ptrs.as_ptr(),
                inputs.len(),
                out_names.as_ptr(),
                wanted,
                out_values.as_mut_ptr(),
            )
        };
        drop(values);
        if let Err(message) = check(status) {
            return Err(self.inference_error(message));
        }
        let bound = &self.by_batch[slot];
        for ((name, buffer), out) in self
            .outputs
            .iter()
            .zip(&bound.buffers)
            .zip(outputs.iter_mut())
        {
            let Some(out) = out else { continue };
            if out.len() != buffer.len() {
                return Err(self.inference_error(format!(
                    "output `{name}` has {} values, expected {:?}",
                    buffer.len(),
                    out.shape()
                )));
            }
            if let Some(index) = first_non_finite(buffer) {
                return Err(BundleError::NonFiniteOutput {
                    path: self.path.clone(),
                    network: self.network,
                    output: name.clone(),
                    index,
                });
            }
            for (o, b) in out.iter_mut().zip(buffer) {
                *o = *b;
            }
        }
        Ok(())
    }

    /// Runs once without preallocation and returns each named output's shape.
    pub fn probe_shapes(
        &mut self,
        inputs: &[(&str, ArrayViewD<'_, f32>)],
        names: &[&str],
    ) -> Result<Vec<Vec<usize>>, BundleError> {
        let path = self.path.clone();
        let inference_error = |e: ort::Error| BundleError::Inference {
            path: path.clone(),
            message: e.to_string(),
        };
        let mut values: Vec<(&str, SessionInputValue<'_>)> = Vec::with_capacity(inputs.len());
        for (name, view) in inputs {
            values.push((
                name,
                TensorRef::from_array_view(view.view())
                    .map_err(inference_error)?
                    .into(),
            ));
        }
        let result = self.session.run(values).map_err(inference_error)?;
        names
            .iter()
            .map(|name| {
                let value = result.get(name).ok_or_else(|| BundleError::Inference {
                    path: self.path.clone(),
                    message: format!("the model did not produce output `{name}`"),
                })?;
                let (shape, _) = value.try_extract_tensor::<f32>().map_err(inference_error)?;
                Ok(shape.iter().map(|&d| d as usize).collect())
            })
            .collect()
    }
}
