//! A native evaluator for image encoders, obs [B, C, H, W] -> z [B, nz]: a chain of
//! convolutions, element-wise activations, one flatten and affine layers (the encoders the
//! trainer exports). Each image runs through the chain on its own in buffers sized when the
//! network is compiled, so an encoding allocates nothing; as for the dynamics, ONNX Runtime
//! checks the compiled network at load (`EncoderNet`).
//!
//! A convolution is a matrix product over patches (im2col). For each output pixel p = (py, px)
//!
//! ```text
//! y[p, o] = b[o] + sum_{c, i, j} x[c, sy py + i - pad_top, sx px + j - pad_left] W[o, c, i, j]
//! ```
//!
//! (zero outside the image): the patches of [`TILE_ROWS`] pixels are gathered into a tile
//! [TILE_ROWS, kh kw C] and multiplied by W' [kh kw C, O] with the affine kernel. Feature maps
//! that a convolution reads or writes are stored pixel-major, [H W, stride] with each pixel's
//! channels together (the input image is interleaved so once per encoding, stride C; a
//! convolution writes stride padded(O)), so that a patch row is kh runs of kw pixels' channels,
//! each one copy where the stride is C; the flatten puts the maps back in the channel-major
//! order [C H W] the affine layer after it was trained on.

use std::path::Path;

use super::graph::{Graph, Node, Tensor};
use super::kernels::{
    Activation, AffineTile, Isa, LANES, Layout, MAX_COLUMNS, activate, affine, pack, pack_as,
    padded,
};
use super::{AffineLayer, TILE_ROWS, activation, f32_values};

/// Most values a native encoder holds for one image at a time (64 MiB of f32 per buffer): larger
/// networks run on ONNX Runtime.
const MAX_VALUES: usize = 1 << 24;

/// The shape of the value between two layers, for one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// `c` feature maps of h x w: channel-major [c, h, w] (`stride` None: the input image as
    /// given), or pixel-major [h w, stride].
    Maps {
        c: usize,
        h: usize,
        w: usize,
        stride: Option<usize>,
    },
    /// A vector of n values, stored in padded(n).
    Vector(usize),
}

impl Shape {
    /// Values stored.
    fn stored(self) -> usize {
        match self {
            Shape::Maps { c, h, w, stride } => h * w * stride.unwrap_or(c),
            Shape::Vector(n) => padded(n),
        }
    }
}

/// A 2-D convolution (one group, no dilation) as a matrix product over patches.
struct Conv {
    /// Input maps (c, h, w), pixel-major with `input_stride` values per pixel.
    input: (usize, usize, usize),
    input_stride: usize,
    /// Output maps (o, ho, wo).
    output: (usize, usize, usize),
    kernel: (usize, usize),
    stride: (usize, usize),
    /// Zero rows above and columns left of the image.
    pad: (usize, usize),
    /// W' [k, o], k = kh kw c, row (i kw + j) c + ci holding W[., ci, i, j].
    weights: Vec<f32>,
    layout: Layout,
    /// b [padded(o)].
    bias: Vec<f32>,
}

impl Conv {
    /// Patch length k = c kh kw.
    fn k(&self) -> usize {
        self.input.0 * self.kernel.0 * self.kernel.1
    }

    /// The patches of output pixels first..first + rows of `x` into `patches` [rows,
    /// padded(k)]: per kernel row i, the kw pixels' c channels in order, one copy when they
    /// lie inside the image and are stored together (stride c).
    fn gather(&self, x: &[f32], first: usize, rows: usize, patches: &mut [f32]) {
        let ((c, h, w), (_, _, wo)) = (self.input, self.output);
        let ((kh, kw), (sy, sx), (pt, pl)) = (self.kernel, self.stride, self.pad);
        let (k, stride, cs) = (self.k(), padded(self.k()), self.input_stride);
        for r in 0..rows {
            let (py, px) = ((first + r) / wo, (first + r) % wo);
            // Zero past k: another convolution's longer patches may have been there.
            patches[r * stride + k..(r + 1) * stride].fill(0.0);
            let row = &mut patches[r * stride..r * stride + k];
            // The first input column of the patch, when the whole run lies inside the image.
            let run = (px * sx).checked_sub(pl).filter(|&x0| x0 + kw <= w);
            for (i, kernel_row) in row.chunks_exact_mut(kw * c).enumerate() {
                // Input row y = sy py + i - pt, None above or below the image.
                match ((py * sy + i).checked_sub(pt).filter(|&y| y < h), run) {
                    (Some(y), Some(x0)) if cs == c => {
                        let at = (y * w + x0) * c;
                        copy_run(kernel_row, &x[at..at + kw * c]);
                    }
                    (Some(y), _) => {
                        for (j, pixel) in kernel_row.chunks_exact_mut(c).enumerate() {
                            match (px * sx + j).checked_sub(pl).filter(|&xx| xx < w) {
                                Some(xx) => {
                                    let at = (y * w + xx) * cs;
                                    copy_run(pixel, &x[at..at + c]);
                                }
                                None => pixel.fill(0.0),
                            }
                        }
                    }
                    (None, _) => kernel_row.fill(0.0),
                }
            }
            debug_assert_eq!(kh * kw * c, k);
        }
    }
}

/// dst = src, for the short runs of a patch row: lengths up to 16 as moves of a known size
/// rather than a call to memcpy.
fn copy_run(dst: &mut [f32], src: &[f32]) {
    macro_rules! known {
        ($($n:literal)*) => {
            match src.len() {
                $($n => dst[..$n].copy_from_slice(&src[..$n]),)*
                _ => dst.copy_from_slice(src),
            }
        };
    }
    known!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
}

enum Layer {
    Conv(Conv),
    /// In place on the `len` values stored.
    Activation {
        activation: Activation,
        len: usize,
    },
    /// Maps (c, h, w), channel-major (`stride` None) or pixel-major, to the channel-major
    /// vector [c h w].
    Flatten {
        maps: (usize, usize, usize),
        stride: Option<usize>,
    },
    /// y = x W + b for one row x [k]: dot products with the columns of W, packed
    /// [n, padded(k)] ([`Layout::Columns`]), taken [`MAX_COLUMNS`] at a time, so that the
    /// weights stream through once in order; b [padded(n) + LANES].
    Affine {
        k: usize,
        n: usize,
        weights: Vec<f32>,
        bias: Vec<f32>,
    },
}

/// A compiled image encoder obs [B, C, H, W] -> z [B, nz].
pub(crate) struct NativeEncoder {
    isa: Isa,
    layers: Vec<Layer>,
    /// The input image's channels and pixels (C, H W).
    image: (usize, usize),
    /// Whether the input image is interleaved to pixel-major [H W, C] (its first convolution
    /// reads it so) or kept as given.
    interleave: bool,
    latent_dim: usize,
    /// The value a layer reads and the one it writes, each as long as the largest value.
    current: Vec<f32>,
    next: Vec<f32>,
    /// A tile of convolution patches [TILE_ROWS, padded(k)] for the largest k.
    patches: Vec<f32>,
    multiply_adds: usize,
}

impl NativeEncoder {
    /// Compiles the encoder in `path` from `input` [B, C, H, W] (`image` = [C, H, W]) to
    /// `output` [B, nz]; `Err` names the node or tensor the evaluator cannot run.
    pub fn compile(
        path: &Path,
        input: &str,
        output: &str,
        image: [usize; 3],
        latent_dim: usize,
    ) -> Result<Self, String> {
        let graph = Graph::read(path)?;
        Self::from_graph(&graph, input, output, image, latent_dim)
    }

    /// Compiles the model held in `bytes` (external data is refused), for fuzzing.
    pub fn from_bytes(
        bytes: &[u8],
        input: &str,
        output: &str,
        image: [usize; 3],
        latent_dim: usize,
    ) -> Result<Self, String> {
        let graph = Graph::from_bytes(bytes, None)?;
        Self::from_graph(&graph, input, output, image, latent_dim)
    }

    pub(super) fn from_graph(
        graph: &Graph,
        input: &str,
        output: &str,
        [c, h, w]: [usize; 3],
        latent_dim: usize,
    ) -> Result<Self, String> {
        let constant = |name: &str| -> Result<&Tensor, String> {
            graph
                .initializers
                .get(name)
                .or_else(|| constant_node(graph, name))
                .ok_or_else(|| format!("`{name}` is not a constant"))
        };
        let mut shape = Shape::Maps {
            c,
            h,
            w,
            stride: None,
        };
        let mut interleave = false;
        let (mut current, mut layers, mut multiply_adds) = (input, Vec::new(), 0);
        let (mut largest, mut largest_k) = (shape.stored(), 0);
        for node in &graph.nodes {
            if node.op_type == "Constant" && !node.inputs.iter().any(|i| i == current) {
                continue;
            }
            let fail = |problem: String| format!("node {}: {problem}", node.label());
            if node.inputs.first().map(String::as_str) != Some(current) || node.outputs.len() != 1 {
                return Err(fail(format!(
                    "not a chain: the encoder's nodes each take the previous one's output \
                     `{current}` first and have one output"
                )));
            }
            if !(node.domain.is_empty() || node.domain == "ai.onnx") {
                return Err(fail(format!("domain `{}` is not supported", node.domain)));
            }
            let layer = match (node.op_type.as_str(), shape) {
                ("Identity", _) => None,
                ("Conv", Shape::Maps { stride, .. }) => {
                    // Only the input is channel-major: interleave it for this convolution.
                    interleave |= stride.is_none();
                    let conv = conv(node, shape, stride.unwrap_or(c), &constant).map_err(fail)?;
                    let (o, ho, wo) = conv.output;
                    multiply_adds += ho * wo * o * conv.k();
                    largest_k = largest_k.max(conv.k());
                    shape = Shape::Maps {
                        c: o,
                        h: ho,
                        w: wo,
                        stride: Some(padded(o)),
                    };
                    Some(Layer::Conv(conv))
                }
                ("Reshape" | "Flatten", Shape::Maps { c, h, w, stride }) => {
                    flattens(node, &constant).map_err(fail)?;
                    shape = Shape::Vector(c * h * w);
                    Some(Layer::Flatten {
                        maps: (c, h, w),
                        stride,
                    })
                }
                ("Reshape" | "Flatten", Shape::Vector(_)) => {
                    flattens(node, &constant).map_err(fail)?;
                    None
                }
                ("Gemm" | "MatMul", Shape::Vector(k)) => {
                    let layer = AffineLayer::compile(node, k, constant).map_err(fail)?;
                    let n = layer.n;
                    let weights = pack_as(Layout::Columns, k, n, |p, j| {
                        layer.layout.weight(&layer.weights, (k, n), p, j)
                    });
                    let mut bias = layer.bias;
                    bias.resize(padded(n) + LANES, 0.0);
                    multiply_adds += k * n;
                    shape = Shape::Vector(n);
                    Some(Layer::Affine {
                        k,
                        n,
                        weights,
                        bias,
                    })
                }
                (op, _) => match activation(node) {
                    Some(activation) => Some(Layer::Activation {
                        activation,
                        len: shape.stored(),
                    }),
                    None if matches!(op, "Gemm" | "MatMul") => {
                        return Err(fail("an affine layer needs a flattened input".into()));
                    }
                    None => return Err(fail("the operation is not supported".into())),
                },
            };
            layers.extend(layer);
            largest = largest.max(shape.stored());
            if largest > MAX_VALUES {
                return Err(fail(format!(
                    "its output needs more than the native evaluator's {MAX_VALUES} values"
                )));
            }
            current = &node.outputs[0];
        }
        if current != output {
            return Err(format!(
                "output `{output}` is not the end of the chain from `{input}` (`{current}` is)"
            ));
        }
        if shape != Shape::Vector(latent_dim) {
            return Err(format!(
                "the chain ends in {shape:?}, not a vector of {latent_dim}"
            ));
        }
        Ok(Self {
            isa: Isa::detect(),
            layers,
            image: (c, h * w),
            interleave,
            latent_dim,
            // Slack for the last columns of an affine layer ([`NativeEncoder::apply`]).
            current: vec![0.0; largest + LANES],
            next: vec![0.0; largest + LANES],
            patches: vec![0.0; TILE_ROWS * padded(largest_k)],
            multiply_adds,
        })
    }

    /// The instruction set in use.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Runs with the kernels of `isa` instead of the detected best (it must be available).
    #[cfg(test)]
    pub(super) fn with_isa(mut self, isa: Isa) -> Self {
        self.isa = isa;
        self
    }

    /// Multiply-adds of the convolutions and affine layers per image.
    pub fn multiply_adds(&self) -> usize {
        self.multiply_adds
    }

    /// z [B, nz] = encoder(obs [B, C H W]), both row-major; lengths are the caller's to check.
    pub fn run(&mut self, obs: &[f32], z: &mut [f32]) {
        let (c, pixels) = self.image;
        for (image, z) in obs
            .chunks_exact(c * pixels)
            .zip(z.chunks_exact_mut(self.latent_dim))
        {
            if self.interleave {
                for (ci, channel) in image.chunks_exact(pixels).enumerate() {
                    for (p, &v) in channel.iter().enumerate() {
                        self.current[p * c + ci] = v;
                    }
                }
            } else {
                self.current[..image.len()].copy_from_slice(image);
            }
            for layer in 0..self.layers.len() {
                if self.apply(layer) {
                    std::mem::swap(&mut self.current, &mut self.next);
                }
            }
            z.copy_from_slice(&self.current[..self.latent_dim]);
        }
    }

    /// Applies layer `index` to `current`: in place (false), or into `next` (true).
    fn apply(&mut self, index: usize) -> bool {
        let (isa, x, y) = (self.isa, &self.current, &mut self.next);
        match &self.layers[index] {
            Layer::Activation { activation, len } => {
                // Padding columns are transformed too and never read.
                activate(isa, *activation, &mut self.current[..*len]);
                false
            }
            Layer::Conv(conv) => {
                let (o, ho, wo) = conv.output;
                let (pixels, k, o_pad) = (ho * wo, conv.k(), padded(o));
                for first in (0..pixels).step_by(TILE_ROWS) {
                    let rows = (pixels - first).min(TILE_ROWS);
                    conv.gather(x, first, rows, &mut self.patches);
                    affine(
                        isa,
                        AffineTile {
                            rows,
                            k,
                            x: &self.patches,
                            x_stride: padded(k),
                            weights: &conv.weights,
                            bias: &conv.bias,
                            out: &mut y[first * o_pad..(first + rows) * o_pad],
                            accumulate: false,
                            layout: conv.layout,
                            n: o,
                        },
                    );
                }
                true
            }
            Layer::Flatten {
                maps: (c, h, w),
                stride,
            } => {
                let (c, h, w) = (*c, *h, *w);
                let n = c * h * w;
                match stride {
                    Some(cs) => {
                        for ci in 0..c {
                            for p in 0..h * w {
                                y[ci * h * w + p] = x[p * cs + ci];
                            }
                        }
                    }
                    None => y[..n].copy_from_slice(&x[..n]),
                }
                y[n..padded(n)].fill(0.0);
                true
            }
            Layer::Affine {
                k,
                n,
                weights,
                bias,
            } => {
                let (k, n) = (*k, *n);
                for first in (0..n).step_by(MAX_COLUMNS) {
                    affine(
                        isa,
                        AffineTile {
                            rows: 1,
                            k,
                            x,
                            x_stride: padded(k),
                            weights: &weights[first * padded(k)..],
                            bias: &bias[first..first + LANES],
                            out: &mut y[first..first + LANES],
                            accumulate: false,
                            layout: Layout::Columns,
                            n: (n - first).min(MAX_COLUMNS),
                        },
                    );
                }
                // The next layer reads whole vectors: zero, not stale values, past n.
                y[n..padded(n)].fill(0.0);
                true
            }
        }
    }
}

/// The tensor of a Constant node with output `name`.
fn constant_node<'g>(graph: &'g Graph, name: &str) -> Option<&'g Tensor> {
    graph
        .nodes
        .iter()
        .find(|n| n.op_type == "Constant" && n.outputs.first().is_some_and(|o| o == name))
        .and_then(|n| n.attribute("value")?.tensor.as_ref())
}

/// A Conv node over maps of `shape`, read pixel-major with `input_stride` values per pixel.
fn conv<'g>(
    node: &Node,
    shape: Shape,
    input_stride: usize,
    constant: &impl Fn(&str) -> Result<&'g Tensor, String>,
) -> Result<Conv, String> {
    let Shape::Maps { c, h, w, .. } = shape else {
        unreachable!("called on maps")
    };
    let weight_name = node.inputs.get(1).ok_or("input 1 is missing")?;
    let tensor = constant(weight_name)?;
    let (weights, dims) = (f32_values(weight_name, tensor)?, &tensor.dims[..]);
    let &[o, wc, kh, kw] = dims else {
        return Err(format!(
            "weight `{weight_name}` of shape {dims:?} is not 2-D convolution's"
        ));
    };
    if wc != c || kh == 0 || kw == 0 {
        return Err(format!(
            "weight `{weight_name}` of shape {dims:?} does not convolve {c} channels"
        ));
    }
    if node.int("group", 1) != 1 {
        return Err("only group = 1 is supported".into());
    }
    if node.ints("dilations", &[1, 1]).iter().any(|&d| d != 1) {
        return Err("only dilations of 1 are supported".into());
    }
    let auto_pad = node
        .attribute("auto_pad")
        .and_then(|a| a.string.as_deref())
        .unwrap_or("NOTSET");
    if !matches!(auto_pad, "NOTSET" | "VALID") {
        return Err(format!("auto_pad {auto_pad} is not supported"));
    }
    if !matches!(node.ints("kernel_shape", &[kh as i64, kw as i64]), [a, b] if *a == kh as i64 && *b == kw as i64)
    {
        return Err("kernel_shape differs from the weight's".into());
    }
    let as_sizes = |values: &[i64], what: &str| -> Result<Vec<usize>, String> {
        values
            .iter()
            .map(|&v| usize::try_from(v).ok().filter(|&v| v < 1 << 16))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("{what} {values:?} are not sizes"))
    };
    let strides = as_sizes(node.ints("strides", &[1, 1]), "strides")?;
    let pads = as_sizes(node.ints("pads", &[0, 0, 0, 0]), "pads")?;
    let (&[sy, sx], &[pt, pl, pb, pr]) = (&strides[..], &pads[..]) else {
        return Err("strides and pads of a 2-D convolution are needed".into());
    };
    if sy == 0 || sx == 0 || h + pt + pb < kh || w + pl + pr < kw {
        return Err("the kernel does not fit the padded image".into());
    }
    let (ho, wo) = ((h + pt + pb - kh) / sy + 1, (w + pl + pr - kw) / sx + 1);
    let k = c * kh * kw;
    let fits = |n: Option<usize>| n.is_some_and(|n| n <= MAX_VALUES);
    if !fits(ho.checked_mul(wo).and_then(|p| p.checked_mul(padded(o))))
        || !fits(padded(k).checked_mul(TILE_ROWS))
    {
        return Err(format!(
            "its output or a tile of its patches needs more than the native evaluator's \
             {MAX_VALUES} values"
        ));
    }
    let bias = match node.inputs.get(2).filter(|name| !name.is_empty()) {
        Some(name) => super::broadcast_row(name, constant(name)?, o)?,
        None => vec![0.0; padded(o)],
    };
    // W' [k, o]: row p = (i kw + j) c + ci holds W[., ci, i, j], the order patches are gathered.
    let (weights, layout) = pack(k, o, |p, oc| {
        let (ci, ij) = (p % c, p / c);
        weights[((oc * c + ci) * kh + ij / kw) * kw + ij % kw]
    });
    let conv = Conv {
        input: (c, h, w),
        input_stride,
        output: (o, ho, wo),
        kernel: (kh, kw),
        stride: (sy, sx),
        pad: (pt, pl),
        weights,
        layout,
        bias,
    };
    Ok(conv)
}

/// Checks that a Reshape or Flatten node keeps the batch axis and flattens the rest: Flatten
/// with axis 1, or Reshape to a shape of two values.
fn flattens<'g>(
    node: &Node,
    constant: &impl Fn(&str) -> Result<&'g Tensor, String>,
) -> Result<(), String> {
    if node.op_type == "Flatten" {
        return match node.int("axis", 1) {
            1 => Ok(()),
            axis => Err(format!(
                "axis {axis}: only a flatten after the batch axis is supported"
            )),
        };
    }
    let name = node.inputs.get(1).ok_or("input 1 is missing")?;
    match &constant(name)?.dims[..] {
        [2] => Ok(()),
        dims => Err(format!(
            "shape `{name}` of {dims:?} values: only a reshape to [batch, values] is supported"
        )),
    }
}
