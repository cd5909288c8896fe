//! One ONNX Runtime session per network file: opening with zplan's threading, checking the
//! declared inputs and outputs, and batched runs with zero-copy inputs and outputs preallocated
//! once per batch size.

use std::path::{Path, PathBuf};

use ndarray::{ArrayViewD, ArrayViewMutD};
use ort::memory::Allocator;
use ort::session::{HasSelectedOutputs, OutputSelector, RunOptions, Session, SessionInputValue};

use ort::value::{Tensor, TensorElementType, TensorRef, ValueType};

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
}

impl Default for NetworkOptions {
    fn default() -> Self {
        Self {
            intra_op_threads: 1,
            runtime_library: None,
        }
    }
}

/// A session and what zplan knows of it.
pub(crate) struct Net {
    pub path: PathBuf,
    session: Session,
    /// Output names, in the order `run` fills them.
    outputs: Vec<String>,
    /// Output shapes without the batch axis.
    output_dims: Vec<Vec<usize>>,
    /// Run options with preallocated outputs, one per batch size seen.
    by_batch: Vec<(usize, RunOptions<HasSelectedOutputs>)>,
}

impl Net {
    /// Opens `dir/file` after checking it exists and that its IR and opset are loadable.
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
        Ok(Self {
            path,
            session,
            outputs: Vec::new(),
            output_dims: Vec::new(),
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
        let (names, dims) = outputs.into_iter().unzip();
        self.outputs = names;
        self.output_dims = dims;
        self.by_batch.clear();
    }

    /// Runs a batch of `batch` rows. `inputs` are (name, contiguous view) pairs; each output
    /// declared by `set_outputs` is copied into the matching view of `outputs`, if given.
    pub fn run(
        &mut self,
        batch: usize,
        inputs: &[(&str, ArrayViewD<'_, f32>)],
        outputs: &mut [Option<ArrayViewMutD<'_, f32>>],
    ) -> Result<(), BundleError> {
        let inference_error = |path: &Path, e: ort::Error| BundleError::Inference {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let slot = match self.by_batch.iter().position(|(b, _)| *b == batch) {
            Some(slot) => slot,
            None => {
                let mut selector = OutputSelector::no_default();
                for (name, dims) in self.outputs.iter().zip(&self.output_dims) {
                    let shape: Vec<usize> =
                        std::iter::once(batch).chain(dims.iter().copied()).collect();
                    let tensor = Tensor::<f32>::new(&Allocator::default(), shape)
                        .map_err(|e| inference_error(&self.path, e))?;
                    selector = selector
                        .with(name.clone())
                        .preallocate(name.clone(), tensor);
                }
                let options = RunOptions::new()
                    .map_err(|e| inference_error(&self.path, e))?
                    .with_outputs(selector);
                if self.by_batch.len() == MAX_BATCH_SIZES {
                    // The planner uses a few fixed batch sizes; drop the oldest of any others.
                    self.by_batch.remove(0);
                }
                self.by_batch.push((batch, options));
                self.by_batch.len() - 1
            }
        };
        let mut values: Vec<(&str, SessionInputValue<'_>)> = Vec::with_capacity(inputs.len());
        for (name, view) in inputs {
            let tensor = TensorRef::from_array_view(view.view())
                .map_err(|e| inference_error(&self.path, e))?;
            values.push((name, tensor.into()));
        }
        let options = &self.by_batch[slot].1;
        let result = self
            .session
            .run_with_options(values, options)
            .map_err(|e| inference_error(&self.path, e))?;
        for (name, out) in self.outputs.iter().zip(outputs.iter_mut()) {
            let Some(out) = out else { continue };
            let value = result[name.as_str()]
                .try_extract_array::<f32>()
                .map_err(|e| inference_error(&self.path, e))?;
            if value.shape() != out.shape() {
                return Err(BundleError::Inference {
                    path: self.path.clone(),
                    message: format!(
                        "output `{name}` has shape {:?}, expected {:?}",
                        value.shape(),
                        out.shape()
                    ),
                });
            }
            out.assign(&value);
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
