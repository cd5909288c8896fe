//! One ONNX Runtime session per network file: opening with zplan's threading and session
//! settings, checking the declared inputs and outputs, and batched runs with outputs
//! preallocated once per batch size.
//!
//! A run goes through ONNX Runtime's C API with input and output names kept as C strings from
//! setup. By default (`Run`) the input tensors wrap the caller's buffers for the call and the
//! output tensors wrap buffers owned here; with [`SessionSettings::io_binding`] the inputs are
//! copied into buffers of an I/O binding made once per batch size (`RunWithBinding`). After the
//! first run at a batch size a run allocates nothing on the Rust side (ONNX Runtime's own C++
//! allocations are outside zplan's reach).

use std::ffi::{CStr, CString, c_char};
use std::path::{Path, PathBuf};
use std::ptr::{self, NonNull};

use ndarray::{ArrayViewD, ArrayViewMutD};
use ort::AsPointer;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{Session, SessionInputValue};
use ort::sys::{
    ONNXTensorElementDataType, OrtAllocatorType, OrtIoBinding, OrtMemType, OrtMemoryInfo,
    OrtStatusPtr, OrtValue,
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
    /// ONNX Runtime's session settings (graph optimisation, memory planning, the run path).
    pub session: SessionSettings,
    /// ONNX Runtime library to load if none is loaded yet (see [`Runtime::init`]).
    pub runtime_library: Option<PathBuf>,
    /// Run the dynamics' z_next with zplan's native evaluator when its graph is a small
    /// feed-forward network the evaluator compiles and the result agrees with ONNX Runtime's on
    /// a probe batch at load (see [`crate::Evaluator`]). Default true.
    pub native: bool,
    /// Run the encoder with zplan's native evaluator when its graph is a chain of
    /// convolutions, activations, a flatten and affine layers and the result agrees with ONNX
    /// Runtime's on probe images at load: an encoding then allocates nothing. Default true.
    pub native_encoder: bool,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        Self {
            intra_op_threads: 1,
            session: SessionSettings::default(),
            runtime_library: None,
            native: true,
            native_encoder: true,
        }
    }
}

/// ONNX Runtime's graph optimisation levels (`GraphOptimizationLevel` of its C API).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphOptimization {
    /// No graph rewrite: the nodes run as exported.
    Disabled,
    /// Constant folding, redundant-node removal, Conv+Add/Mul/BatchNorm fusions.
    Basic,
    /// Basic, and Gemm/MatMul/Conv + activation fusions.
    Extended,
    /// Extended, and layout rewrites (NCHWc blocked convolutions where the CPU has them).
    All,
}

impl GraphOptimization {
    /// Every level, least first.
    pub const ALL: [Self; 4] = [Self::Disabled, Self::Basic, Self::Extended, Self::All];

    /// The lower-case name (`disabled`, `basic`, `extended`, `all`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Basic => "basic",
            Self::Extended => "extended",
            Self::All => "all",
        }
    }

    fn level(self) -> GraphOptimizationLevel {
        match self {
            Self::Disabled => GraphOptimizationLevel::Disable,
            Self::Basic => GraphOptimizationLevel::Level1,
            Self::Extended => GraphOptimizationLevel::Level2,
            Self::All => GraphOptimizationLevel::All,
        }
    }
}

/// ONNX Runtime session settings for small batches on one thread. The defaults were chosen by
/// `zplan bench sessions` (docs/benchmarks.md, "ONNX Runtime session settings").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionSettings {
    /// Graph rewrites applied when the session is created. Default [`GraphOptimization::All`].
    pub graph_optimization: GraphOptimization,
    /// Plan the intermediate tensors' memory from the first run at each input shape and reuse
    /// the plan. Default true.
    pub memory_pattern: bool,
    /// Serve the intermediate tensors from ONNX Runtime's CPU arena (memory kept between runs)
    /// instead of the system allocator. Default true.
    pub cpu_arena: bool,
    /// Run through an I/O binding per batch size (`RunWithBinding`): inputs are copied into
    /// buffers bound once, outputs written into buffers bound once; false: `Run` with the
    /// caller's buffers wrapped as inputs on each call. Default false.
    pub io_binding: bool,
}

impl SessionSettings {
    /// The defaults and every single change from them (each other graph optimisation level,
    /// the memory pattern, the CPU arena, I/O binding switched), each with a name such as
    /// `graph optimisation basic` or `CPU arena off`: the settings `zplan bench sessions`
    /// compares.
    pub fn one_change_each() -> Vec<(String, Self)> {
        let default = Self::default();
        let mut list = vec![("default".to_string(), default)];
        for level in GraphOptimization::ALL {
            if level != default.graph_optimization {
                let settings = Self {
                    graph_optimization: level,
                    ..default
                };
                list.push((format!("graph optimisation {}", level.name()), settings));
            }
        }
        let switch = |on: bool| if on { "on" } else { "off" };
        let memory_pattern = !default.memory_pattern;
        let cpu_arena = !default.cpu_arena;
        let io_binding = !default.io_binding;
        list.push((
            format!("memory pattern {}", switch(memory_pattern)),
            Self {
                memory_pattern,
                ..default
            },
        ));
        list.push((
            format!("CPU arena {}", switch(cpu_arena)),
            Self {
                cpu_arena,
                ..default
            },
        ));
        list.push((
            format!("I/O binding {}", switch(io_binding)),
            Self {
                io_binding,
                ..default
            },
        ));
        list
    }
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            graph_optimization: GraphOptimization::All,
            memory_pattern: true,
            cpu_arena: true,
            io_binding: false,
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
    /// Run through I/O bindings ([`SessionSettings::io_binding`]).
    io_binding: bool,
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
    /// I/O bindings over these outputs, one per set of outputs asked for (and input shapes);
    /// declared first so that they are released before the tensors they hold.
    bindings: Vec<Binding>,
    /// Declared before `buffers` so that the tensors are released before their memory.
    values: Vec<OwnedValue>,
    value_ptrs: Vec<*mut OrtValue>,
    buffers: Vec<Vec<f32>>,
}

/// An `OrtIoBinding` with inputs copied into buffers owned here and outputs bound to a
/// [`BoundOutputs`]' tensors: a run is one copy per input and `RunWithBinding`.
struct Binding {
    ptr: NonNull<OrtIoBinding>,
    /// Bit i set: output i of `Net::outputs` is bound.
    wanted: u32,
    /// In the order the caller passes the inputs.
    inputs: Vec<BoundInput>,
}

/// One bound input: the model input's index, its shape, and the tensor over the buffer.
struct BoundInput {
    name: usize,
    shape: Vec<usize>,
    /// The tensor over `buffer`, held for the binding; declared first so that it is released
    /// before its memory.
    _tensor: OwnedValue,
    buffer: Vec<f32>,
}

impl Binding {
    /// Whether it binds these inputs, in this order and shape, and these outputs.
    fn fits(&self, names: &[usize], inputs: &[(&str, ArrayViewD<'_, f32>)], wanted: u32) -> bool {
        self.wanted == wanted
            && self.inputs.len() == inputs.len()
            && self.inputs.iter().zip(names.iter().zip(inputs)).all(
                |(bound, (&name, (_, view)))| bound.name == name && bound.shape == view.shape(),
            )
    }
}

impl Drop for Binding {
    fn drop(&mut self) {
        // SAFETY: created by CreateIoBinding, released once, before the values it holds.
        unsafe { (ort::api().ReleaseIoBinding)(self.ptr.as_ptr()) }
    }
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

/// `dir/file` after checking that it is a file inside `dir` (symbolic links resolved) whose IR
/// and opset are loadable; errors name the manifest field `FIELD.file`.
fn checked_path(dir: &Path, file: &str, field: &'static str) -> Result<PathBuf, BundleError> {
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
    Ok(path)
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
        let path = checked_path(dir, file, field)?;
        Self::create(path, None, field, options)
    }

    /// As [`Net::open`], on the model cut down to the outputs `keep` and the nodes they need
    /// (`crate::pruning`); `None` when nothing would be removed or the model cannot be cut.
    pub fn open_pruned(
        dir: &Path,
        file: &str,
        field: &'static str,
        options: &NetworkOptions,
        keep: &[&str],
    ) -> Result<Option<Self>, BundleError> {
        let path = checked_path(dir, file, field)?;
        let onnx_error = |problem: String| BundleError::Onnx {
            path: path.clone(),
            field: format!("{field}.file"),
            problem,
        };
        let bytes = std::fs::read(&path).map_err(|e| onnx_error(format!("cannot read: {e}")))?;
        match crate::pruning::keep_outputs(&bytes, keep).map_err(onnx_error)? {
            Some(pruned) => Self::create(path, Some(&pruned), field, options).map(Some),
            None => Ok(None),
        }
    }

    /// A session on the model at `path` (checked by [`checked_path`]), or on `model`, its
    /// edited encoding, when given.
    fn create(
        path: PathBuf,
        model: Option<&[u8]>,
        field: &'static str,
        options: &NetworkOptions,
    ) -> Result<Self, BundleError> {
        let runtime = Runtime::init(options.runtime_library.as_deref())?;
        let session_error = |message: String| BundleError::Session {
            path: path.clone(),
            message,
        };
        let message = |e: &dyn std::fmt::Display| session_error(e.to_string());
        let settings = options.session;
        let mut builder = Session::builder(runtime.environment()).map_err(|e| message(&e))?;
        if !settings.cpu_arena {
            // SAFETY: the builder's own options object, alive for the call.
            check(unsafe { (ort::api().DisableCpuMemArena)(builder.ptr_mut()) })
                .map_err(session_error)?;
        }
        let mut builder = builder
            .with_optimization_level(settings.graph_optimization.level())
            .map_err(|e| message(&e))?
            .with_memory_pattern(settings.memory_pattern)
            .map_err(|e| message(&e))?
            .with_intra_threads(options.intra_op_threads.max(1))
            .map_err(|e| message(&e))?
            .with_inter_threads(1)
            .map_err(|e| message(&e))?
            .with_intra_op_spinning(false)
            .map_err(|e| message(&e))?
            .with_inter_op_spinning(false)
            .map_err(|e| message(&e))?;
        let session = match model {
            Some(bytes) => builder.commit_from_memory(bytes),
            None => builder.commit_from_file(&path),
        }
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
            io_binding: settings.io_binding,
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
            bindings: Vec::new(),
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
        if self.outputs.len() > MAX_OUTPUTS {
            return Err(self.inference_error(format!("more than {MAX_OUTPUTS} outputs")));
        }
        // The model's index of each input, and each view as a contiguous slice.
        let mut names = [0usize; MAX_INPUTS];
        let mut data: [&[f32]; MAX_INPUTS] = [&[]; MAX_INPUTS];
        for (i, (name, view)) in inputs.iter().enumerate() {
            let Some(index) = self
                .input_names
                .iter()
                .position(|c| c.to_bytes() == name.as_bytes())
            else {
                return Err(self.inference_error(format!("the model has no input `{name}`")));
            };
            let Some(slice) = view.as_slice() else {
                return Err(self.inference_error(format!("input `{name}` is not contiguous")));
            };
            if view.ndim() > MAX_RANK {
                return Err(self.inference_error(format!("input `{name}` has rank > {MAX_RANK}")));
            }
            names[i] = index;
            data[i] = slice;
        }
        // Only the outputs asked for: ONNX Runtime then skips the nodes only the others need.
        let wanted = outputs
            .iter()
            .take(self.outputs.len())
            .enumerate()
            .filter(|(_, out)| out.is_some())
            .fold(0u32, |mask, (i, _)| mask | 1 << i);
        let slot = self.bound_outputs(batch)?;
        let (names, data) = (&names[..inputs.len()], &data[..inputs.len()]);
        let status = if self.io_binding {
            self.run_bound(slot, names, data, inputs, wanted)
        } else {
            self.run_wrapped(slot, names, data, inputs, wanted)
        };
        status.map_err(|message| self.inference_error(message))?;
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

    /// `Run` with the caller's inputs wrapped as tensors for this call and the outputs of
    /// `wanted` written into the preallocated outputs of `by_batch[slot]`.
    fn run_wrapped(
        &mut self,
        slot: usize,
        names: &[usize],
        data: &[&[f32]],
        inputs: &[(&str, ArrayViewD<'_, f32>)],
        wanted: u32,
    ) -> Result<(), String> {
        let mut name_ptrs = [ptr::null::<c_char>(); MAX_INPUTS];
        let mut values: [Option<OwnedValue>; MAX_INPUTS] = Default::default();
        let mut value_ptrs = [ptr::null::<OrtValue>(); MAX_INPUTS];
        for (i, ((&name, slice), (_, view))) in names.iter().zip(data).zip(inputs).enumerate() {
            let mut shape = [0i64; MAX_RANK];
            for (d, &n) in shape.iter_mut().zip(view.shape()) {
                *d = n as i64;
            }
            // ONNX Runtime only reads inputs; the API takes a mutable pointer regardless.
            let value = self.memory.tensor(
                slice.as_ptr().cast_mut(),
                slice.len(),
                &shape[..view.ndim()],
            )?;
            name_ptrs[i] = self.input_names[name].as_ptr();
            value_ptrs[i] = value.0.as_ptr();
            values[i] = Some(value);
        }
        let bound = &self.by_batch[slot];
        let mut out_names = [ptr::null::<c_char>(); MAX_OUTPUTS];
        let mut out_values = [ptr::null_mut::<OrtValue>(); MAX_OUTPUTS];
        let mut count = 0;
        for i in (0..self.outputs.len()).filter(|i| wanted & 1 << i != 0) {
            out_names[count] = self.output_name_ptrs[i];
            out_values[count] = bound.value_ptrs[i];
            count += 1;
        }
        // SAFETY: every pointer is live for the call: the names are this struct's C strings,
        // the inputs wrap the caller's borrowed views (kept alive in `values`), the outputs
        // wrap `bound.buffers` with their declared shapes.
        let status = unsafe {
            (ort::api().Run)(
                self.session.ptr().cast_mut(),
                ptr::null(),
                name_ptrs.as_ptr(),
                value_ptrs.as_ptr(),
                names.len(),
                out_names.as_ptr(),
                count,
                out_values.as_mut_ptr(),
            )
        };
        drop(values);
        check(status)
    }

    /// `RunWithBinding` on the binding of `by_batch[slot]` for these inputs and outputs (made on
    /// first use), after copying the inputs into its buffers.
    fn run_bound(
        &mut self,
        slot: usize,
        names: &[usize],
        data: &[&[f32]],
        inputs: &[(&str, ArrayViewD<'_, f32>)],
        wanted: u32,
    ) -> Result<(), String> {
        let found = self.by_batch[slot]
            .bindings
            .iter()
            .position(|b| b.fits(names, inputs, wanted));
        let index = match found {
            Some(index) => index,
            None => {
                let binding = self.bind(slot, names, inputs, wanted)?;
                self.by_batch[slot].bindings.push(binding);
                self.by_batch[slot].bindings.len() - 1
            }
        };
        let binding = &mut self.by_batch[slot].bindings[index];
        for (input, slice) in binding.inputs.iter_mut().zip(data) {
            input.buffer.copy_from_slice(slice);
        }
        // SAFETY: the binding holds tensors over buffers it owns (inputs) and over
        // `by_batch[slot].buffers` (outputs), all alive for the call.
        check(unsafe {
            (ort::api().RunWithBinding)(
                self.session.ptr().cast_mut(),
                ptr::null(),
                binding.ptr.as_ptr(),
            )
        })
    }

    /// A binding of input buffers shaped as `inputs` and of the outputs of `wanted`.
    fn bind(
        &self,
        slot: usize,
        names: &[usize],
        inputs: &[(&str, ArrayViewD<'_, f32>)],
        wanted: u32,
    ) -> Result<Binding, String> {
        let mut raw = ptr::null_mut();
        // SAFETY: the session is alive; `raw` receives the new binding.
        check(unsafe { (ort::api().CreateIoBinding)(self.session.ptr().cast_mut(), &mut raw) })?;
        let ptr = NonNull::new(raw).ok_or("CreateIoBinding returned null")?;
        let mut binding = Binding {
            ptr,
            wanted,
            inputs: Vec::with_capacity(inputs.len()),
        };
        for (&name, (_, view)) in names.iter().zip(inputs) {
            let mut buffer = vec![0.0f32; view.len()];
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            let value = self
                .memory
                .tensor(buffer.as_mut_ptr(), buffer.len(), &shape)?;
            // SAFETY: binding, C string and tensor are alive; ONNX Runtime keeps its own
            // reference to the tensor, whose buffer lives as long as the binding.
            check(unsafe {
                (ort::api().BindInput)(
                    ptr.as_ptr(),
                    self.input_names[name].as_ptr(),
                    value.0.as_ptr(),
                )
            })?;
            binding.inputs.push(BoundInput {
                name,
                shape: view.shape().to_vec(),
                _tensor: value,
                buffer,
            });
        }
        let bound = &self.by_batch[slot];
        for i in (0..self.outputs.len()).filter(|i| wanted & 1 << i != 0) {
            // SAFETY: as for the inputs; the output tensors live in `bound`, which holds the
            // binding and releases it first.
            check(unsafe {
                (ort::api().BindOutput)(ptr.as_ptr(), self.output_name_ptrs[i], bound.value_ptrs[i])
            })?;
        }
        Ok(binding)
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
