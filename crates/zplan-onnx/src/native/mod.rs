//! A native evaluator for small feed-forward networks of (z, u): the dynamics MLPs that the
//! sampling planners run hundreds of thousands of rows through per plan.
//!
//! At load the ONNX graph is decoded ([`graph`]) and compiled into a list of row-wise
//! operations on tiles of [`TILE_ROWS`] rows (Concat, Gemm / MatMul, Add / Sub / Mul, and the
//! element-wise activations). A batch then runs tile by tile through every operation while the
//! tile's values stay in the L1/L2 cache, with no per-call overhead and no allocation. Graphs with
//! any other operation are not compiled; the network then runs on ONNX Runtime, which also
//! checks every compiled network at load (see `DynamicsNet`): the native result must agree
//! with ONNX Runtime's on a probe batch, or ONNX Runtime is used.

mod chain;
mod encoder;
pub(crate) mod graph;
mod jacobian;
mod kernels;

use std::collections::HashMap;
use std::path::Path;

use ndarray::{ArrayView2, ArrayViewMut2};

pub(crate) use encoder::NativeEncoder;
use graph::{Graph, Node, Tensor};
pub use kernels::Isa;
use kernels::{Activation, AffineTile, Layout, activate, affine, pack, padded};

/// Rows per tile: a value 64 wide then takes 64 x 64 x 4 bytes = 16 KiB of a tile.
const TILE_ROWS: usize = 64;

/// Widest value the evaluator takes, and most f32 its tile arena may hold (64 MiB): larger
/// networks are not what it is for.
const MAX_WIDTH: usize = 4096;
const MAX_ARENA: usize = 1 << 24;

/// A value of the graph during evaluation: a [TILE_ROWS, stride] region of the arena.
#[derive(Clone, Copy, Debug)]
struct Slot {
    offset: usize,
    width: usize,
    stride: usize,
}

/// An operand of an element-wise binary operation.
#[derive(Clone, Debug)]
enum Operand {
    Slot(usize),
    /// A constant row broadcast over the tile, [stride] (a scalar is repeated).
    Row(Vec<f32>),
}

#[derive(Clone, Copy, Debug)]
enum Arithmetic {
    Add,
    Sub,
    Mul,
}

#[derive(Clone, Debug)]
enum Op {
    /// out = [parts...] along the feature axis.
    Concat { parts: Vec<usize>, out: usize },
    /// out = x W + b, W stored as `layout` says, b [n_pad]; out += x W + b with `accumulate`.
    Affine {
        input: usize,
        weights: Vec<f32>,
        layout: Layout,
        bias: Vec<f32>,
        out: usize,
        accumulate: bool,
    },
    /// out = f(input); `input == out` when it is applied in place.
    Unary {
        activation: Activation,
        input: usize,
        out: usize,
    },
    /// out = a (op) b.
    Binary {
        op: Arithmetic,
        a: Operand,
        b: Operand,
        out: usize,
    },
}

/// How the native evaluator computes a network's exact Jacobians.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NativeJacobians {
    /// The network is a dense chain (affine layers with activations between them from [z, u],
    /// plus z or not): one matrix product per point against its last two layers packed
    /// together, then ny rows per point through any earlier layer.
    DenseChain,
    /// Reverse mode through the compiled operations, ny rows per point.
    ReverseProgram,
}

/// A compiled network (z [B, nz], u [B, nu]) -> y [B, ny].
pub(crate) struct NativeNet {
    isa: Isa,
    slots: Vec<Slot>,
    ops: Vec<Op>,
    arena: Vec<f32>,
    state: usize,
    action: usize,
    output: usize,
    /// Multiply-adds per row, for reporting.
    multiply_adds: usize,
    /// The reverse-mode program, when compiled for Jacobians ([`NativeNet::compile_differentiable`]).
    backward: Option<jacobian::Reverse>,
}

/// What the graph's names refer to while compiling.
enum Value<'g> {
    Rows(usize),
    Constant(&'g Tensor),
}

impl NativeNet {
    /// Compiles the network in `path` from inputs `state` [B, nz] and `action` [B, nu] to
    /// `output`; `Err` says which node or tensor the evaluator cannot run.
    pub fn compile(
        path: &Path,
        inputs: (&str, &str),
        output: &str,
        dims: (usize, usize),
    ) -> Result<Self, String> {
        let graph = Graph::read(path)?;
        Compiler::new(&graph, Isa::detect(), true).compile(inputs, output, dims)
    }

    /// As [`NativeNet::compile`], with every intermediate value kept (no operation in place)
    /// and the reverse-mode program of [`NativeNet::jacobians`].
    pub fn compile_differentiable(
        path: &Path,
        inputs: (&str, &str),
        output: &str,
        dims: (usize, usize),
    ) -> Result<Self, String> {
        let graph = Graph::read(path)?;
        let mut net = Compiler::new(&graph, Isa::detect(), false).compile(inputs, output, dims)?;
        net.backward = Some(jacobian::Reverse::compile(&net)?);
        Ok(net)
    }

    /// Compiles the model held in `bytes` (external data is refused), for fuzzing.
    pub fn from_bytes(
        bytes: &[u8],
        (state, action): (&str, &str),
        output: &str,
        (nz, nu): (usize, usize),
    ) -> Result<Self, String> {
        let graph = Graph::from_bytes(bytes, None)?;
        Compiler::new(&graph, Isa::detect(), true).compile((state, action), output, (nz, nu))
    }

    /// The instruction set in use.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Runs with the kernels of `isa` instead of the detected best (it must be available).
    #[cfg(test)]
    fn with_isa(mut self, isa: Isa) -> Self {
        self.isa = isa;
        self
    }

    /// Multiply-adds of the affine layers per row.
    pub fn multiply_adds_per_row(&self) -> usize {
        self.multiply_adds
    }

    /// y = f(z, u), row by row in tiles. Shapes are the caller's to check.
    pub fn run(
        &mut self,
        z: ArrayView2<'_, f32>,
        u: ArrayView2<'_, f32>,
        mut y: ArrayViewMut2<'_, f32>,
    ) {
        let batch = z.nrows();
        let mut start = 0;
        while start < batch {
            let rows = (batch - start).min(TILE_ROWS);
            self.load(self.state, z, start, rows);
            self.load(self.action, u, start, rows);
            for op in 0..self.ops.len() {
                self.apply(op, rows);
            }
            let out = self.slots[self.output];
            for r in 0..rows {
                let from = out.offset + r * out.stride;
                let values = &self.arena[from..from + out.width];
                let mut row = y.row_mut(start + r);
                match row.as_slice_mut() {
                    Some(row) => row.copy_from_slice(values),
                    None => row.iter_mut().zip(values).for_each(|(d, &v)| *d = v),
                }
            }
            start += rows;
        }
    }

    fn load(&mut self, slot: usize, input: ArrayView2<'_, f32>, start: usize, rows: usize) {
        let slot = self.slots[slot];
        for r in 0..rows {
            let to = slot.offset + r * slot.stride;
            let dst = &mut self.arena[to..to + slot.width];
            let row = input.row(start + r);
            match row.as_slice() {
                Some(row) => dst.copy_from_slice(row),
                None => dst.iter_mut().zip(row).for_each(|(d, &v)| *d = v),
            }
        }
    }

    fn apply(&mut self, op: usize, rows: usize) {
        let isa = self.isa;
        let slots = &self.slots;
        match &self.ops[op] {
            Op::Concat { parts, out } => {
                let out = slots[*out];
                let mut column = 0;
                for &part in parts {
                    let part = slots[part];
                    for r in 0..rows {
                        let (src, dst) = split(
                            &mut self.arena,
                            part.offset + r * part.stride,
                            out.offset + r * out.stride + column,
                            part.width,
                        );
                        dst.copy_from_slice(src);
                    }
                    column += part.width;
                }
            }
            Op::Affine {
                input,
                weights,
                layout,
                bias,
                out,
                accumulate,
            } => {
                let (input, out) = (slots[*input], slots[*out]);
                let out_width = out.width;
                let (x, out) = split2(
                    &mut self.arena,
                    (input.offset, TILE_ROWS * input.stride),
                    (out.offset, TILE_ROWS * out.stride),
                );
                affine(
                    isa,
                    AffineTile {
                        rows,
                        k: input.width,
                        x,
                        x_stride: input.stride,
                        weights,
                        bias,
                        out,
                        accumulate: *accumulate,
                        layout: *layout,
                        n: out_width,
                    },
                );
            }
            Op::Unary {
                activation,
                input,
                out,
            } => {
                let (input, out) = (slots[*input], slots[*out]);
                let len = rows * out.stride;
                if input.offset != out.offset {
                    let (src, dst) = split(&mut self.arena, input.offset, out.offset, len);
                    dst.copy_from_slice(src);
                }
                activate(
                    isa,
                    *activation,
                    &mut self.arena[out.offset..out.offset + len],
                );
            }
            Op::Binary { op, a, b, out } => {
                let out = slots[*out];
                let len = rows * out.stride;
                match a {
                    Operand::Slot(a) if slots[*a].offset == out.offset => {}
                    Operand::Slot(a) => {
                        let (src, dst) = split(&mut self.arena, slots[*a].offset, out.offset, len);
                        dst.copy_from_slice(src);
                    }
                    Operand::Row(row) => {
                        for r in 0..rows {
                            let at = out.offset + r * out.stride;
                            self.arena[at..at + out.stride].copy_from_slice(row);
                        }
                    }
                }
                match b {
                    Operand::Slot(b) => {
                        let (src, dst) = split(&mut self.arena, slots[*b].offset, out.offset, len);
                        combine(*op, dst, src);
                    }
                    Operand::Row(row) => {
                        for r in 0..rows {
                            let at = out.offset + r * out.stride;
                            combine(*op, &mut self.arena[at..at + out.stride], row);
                        }
                    }
                }
            }
        }
    }
}

/// The packed weights and bias of a Gemm or MatMul node over rows of k values.
pub(crate) struct AffineLayer {
    /// W [k, n] packed for [`affine`].
    weights: Vec<f32>,
    layout: Layout,
    /// beta C as a row [padded(n)].
    bias: Vec<f32>,
    n: usize,
}

impl AffineLayer {
    /// Gemm: Y = alpha A op(B) + beta C with A the rows, B a [k, n] (transB = 0) or [n, k]
    /// (transB = 1) constant and C a broadcast row; MatMul: Y = A B. `constant` finds the
    /// node's constant inputs by name.
    fn compile<'g>(
        node: &Node,
        k: usize,
        constant: impl Fn(&str) -> Result<&'g Tensor, String>,
    ) -> Result<Self, String> {
        let gemm = node.op_type == "Gemm";
        let weight_name = node.inputs.get(1).ok_or("input 1 is missing")?;
        let tensor = constant(weight_name)?;
        let (weights, dims) = (f32_values(weight_name, tensor)?, &tensor.dims[..]);
        let (alpha, beta) = if gemm {
            if node.int("transA", 0) != 0 {
                return Err("transA = 1 is not supported".into());
            }
            (node.float("alpha", 1.0), node.float("beta", 1.0))
        } else {
            (1.0, 0.0)
        };
        let transposed = gemm && node.int("transB", 0) != 0;
        let n = match (dims, transposed) {
            ([rows, n], false) if *rows == k => *n,
            ([n, cols], true) if *cols == k => *n,
            _ => {
                return Err(format!(
                    "weight `{weight_name}` of shape {dims:?} does not multiply rows of {k}"
                ));
            }
        };
        let (packed, layout) = pack(k, n, |p, j| {
            alpha
                * if transposed {
                    weights[j * k + p]
                } else {
                    weights[p * n + j]
                }
        });
        let mut bias = match node.inputs.get(2).filter(|name| gemm && !name.is_empty()) {
            Some(name) => broadcast_row(name, constant(name)?, n)?,
            None => vec![0.0; padded(n)],
        };
        bias.iter_mut().for_each(|b| *b *= beta);
        Ok(Self {
            weights: packed,
            layout,
            bias,
            n,
        })
    }
}

/// The values of the f32 constant `name`.
fn f32_values<'g>(name: &str, tensor: &'g Tensor) -> Result<&'g [f32], String> {
    tensor
        .values
        .as_deref()
        .ok_or_else(|| format!("constant `{name}` is not f32"))
}

/// The constant `name` as a row of `width` broadcast over the batch: [width], [1, width] or a
/// scalar, padded to [padded(width)] with zeros.
fn broadcast_row(name: &str, tensor: &Tensor, width: usize) -> Result<Vec<f32>, String> {
    let (values, dims) = (f32_values(name, tensor)?, &tensor.dims[..]);
    let mut row = vec![0.0; padded(width)];
    match (dims, values.len()) {
        (_, 1) => row[..width].fill(values[0]),
        ([n] | [1, n], _) if *n == width => row[..width].copy_from_slice(values),
        _ => {
            return Err(format!(
                "constant `{name}` of shape {dims:?} does not broadcast over rows of {width}"
            ));
        }
    }
    Ok(row)
}

/// The element-wise function a node applies, if it is one the kernels have.
fn activation(node: &Node) -> Option<Activation> {
    Some(match node.op_type.as_str() {
        "Tanh" => Activation::Tanh,
        "Sigmoid" => Activation::Sigmoid,
        "Relu" => Activation::Relu,
        "LeakyRelu" => Activation::LeakyRelu(node.float("alpha", 0.01)),
        "Elu" => Activation::Elu(node.float("alpha", 1.0)),
        "Softplus" => Activation::Softplus,
        "Neg" => Activation::Neg,
        _ => return None,
    })
}

/// x (op)= y element-wise.
fn combine(op: Arithmetic, x: &mut [f32], y: &[f32]) {
    let pairs = x.iter_mut().zip(y);
    match op {
        Arithmetic::Add => pairs.for_each(|(x, &y)| *x += y),
        Arithmetic::Sub => pairs.for_each(|(x, &y)| *x -= y),
        Arithmetic::Mul => pairs.for_each(|(x, &y)| *x *= y),
    }
}

/// (&arena[from..from + len], &mut arena[to..to + len]) of two disjoint regions.
fn split(arena: &mut [f32], from: usize, to: usize, len: usize) -> (&[f32], &mut [f32]) {
    split2(arena, (from, len), (to, len))
}

/// Two disjoint regions (offset, len) of the arena, the first to read, the second to write.
fn split2(
    arena: &mut [f32],
    (from, from_len): (usize, usize),
    (to, to_len): (usize, usize),
) -> (&[f32], &mut [f32]) {
    if from < to {
        let (head, tail) = arena.split_at_mut(to);
        (&head[from..from + from_len], &mut tail[..to_len])
    } else {
        let (head, tail) = arena.split_at_mut(from);
        (&tail[..from_len], &mut head[to..to + to_len])
    }
}

/// Turns a graph into slots and operations.
struct Compiler<'g> {
    graph: &'g Graph,
    isa: Isa,
    values: HashMap<&'g str, Value<'g>>,
    /// How many nodes read each value (graph outputs count once more).
    readers: HashMap<&'g str, usize>,
    slots: Vec<Slot>,
    /// Readers of all the names bound to each slot so far (Identity binds a second name),
    /// less the operations that already overwrote it in place.
    slot_readers: Vec<usize>,
    /// The affine operation that wrote each slot, if one did.
    affine_of: Vec<Option<usize>>,
    ops: Vec<Op>,
    multiply_adds: usize,
    /// Whether element-wise operations may overwrite an operand nothing else reads.
    in_place: bool,
}

impl<'g> Compiler<'g> {
    fn new(graph: &'g Graph, isa: Isa, in_place: bool) -> Self {
        let mut readers = HashMap::new();
        for name in graph
            .nodes
            .iter()
            .flat_map(|n| &n.inputs)
            .chain(&graph.outputs)
        {
            *readers.entry(name.as_str()).or_insert(0) += 1;
        }
        let values = graph
            .initializers
            .iter()
            .map(|(name, tensor)| (name.as_str(), Value::Constant(tensor)))
            .collect();
        Self {
            graph,
            isa,
            values,
            readers,
            slots: Vec::new(),
            slot_readers: Vec::new(),
            affine_of: Vec::new(),
            ops: Vec::new(),
            multiply_adds: 0,
            in_place,
        }
    }

    /// Whether the node being compiled may overwrite `slot`: it is its only reader, and it is
    /// not one of the graph's inputs. If so, the read is counted as done and the slot no longer
    /// holds an affine layer's output.
    fn consume(&mut self, slot: usize) -> bool {
        let free = slot > 1 && self.slot_readers[slot] == 1;
        if free {
            self.slot_readers[slot] = 0;
            self.affine_of[slot] = None;
        }
        free
    }

    /// Binds `name` to a value.
    fn bind(&mut self, name: &'g str, value: Value<'g>) {
        if let Value::Rows(slot) = value {
            self.slot_readers[slot] += self.readers.get(name).copied().unwrap_or(0);
        }
        self.values.insert(name, value);
    }

    fn slot(&mut self, width: usize) -> Result<usize, String> {
        if width > MAX_WIDTH {
            return Err(format!(
                "a value {width} wide is wider than the native evaluator's {MAX_WIDTH}"
            ));
        }
        let offset = self
            .slots
            .last()
            .map_or(0, |s| s.offset + TILE_ROWS * s.stride);
        if offset + TILE_ROWS * padded(width) > MAX_ARENA {
            return Err(format!(
                "the network's values need more than the native evaluator's {} MiB",
                (MAX_ARENA * 4) >> 20
            ));
        }
        self.slots.push(Slot {
            offset,
            width,
            stride: padded(width),
        });
        self.slot_readers.push(0);
        self.affine_of.push(None);
        Ok(self.slots.len() - 1)
    }

    fn compile(
        mut self,
        (state, action): (&'g str, &'g str),
        output: &str,
        (nz, nu): (usize, usize),
    ) -> Result<NativeNet, String> {
        let state_slot = self.slot(nz)?;
        let action_slot = self.slot(nu)?;
        self.bind(state, Value::Rows(state_slot));
        self.bind(action, Value::Rows(action_slot));
        let needed = self.needed(output)?;
        for node in self
            .graph
            .nodes
            .iter()
            .filter(|n| needed.contains(&&n.outputs[0]))
        {
            self.node(node)
                .map_err(|problem| format!("node {}: {problem}", node.label()))?;
        }
        let output_slot = match self.values.get(output) {
            Some(Value::Rows(slot)) => *slot,
            _ => return Err(format!("output `{output}` is not computed from the inputs")),
        };
        let last = self.slots.last().expect("two input slots");
        let mut arena = vec![0.0; last.offset + TILE_ROWS * last.stride];
        arena.shrink_to_fit();
        Ok(NativeNet {
            isa: self.isa,
            slots: self.slots,
            ops: self.ops,
            arena,
            state: state_slot,
            action: action_slot,
            output: output_slot,
            multiply_adds: self.multiply_adds,
            backward: None,
        })
    }

    /// The names of the node outputs `output` depends on.
    fn needed(&self, output: &str) -> Result<Vec<&'g String>, String> {
        let mut needed: Vec<&'g String> = Vec::new();
        let mut wanted = vec![output.to_owned()];
        for node in self.graph.nodes.iter().rev() {
            if node.outputs.is_empty() {
                return Err(format!("node {} has no output", node.label()));
            }
            if node.outputs.iter().any(|o| wanted.contains(o)) {
                if node.outputs.len() != 1 {
                    return Err(format!(
                        "node {} has {} outputs",
                        node.label(),
                        node.outputs.len()
                    ));
                }
                needed.push(&node.outputs[0]);
                wanted.extend(node.inputs.iter().filter(|i| !i.is_empty()).cloned());
            }
        }
        Ok(needed)
    }

    fn rows(&self, name: &str) -> Result<usize, String> {
        match self.values.get(name) {
            Some(Value::Rows(slot)) => Ok(*slot),
            Some(Value::Constant(_)) => Err(format!("`{name}` is a constant")),
            None => Err(format!("input `{name}` is not known")),
        }
    }

    fn constant(&self, name: &str) -> Result<&'g Tensor, String> {
        match self.values.get(name) {
            Some(Value::Constant(tensor)) => Ok(tensor),
            _ => Err(format!("`{name}` is not a constant")),
        }
    }

    /// A constant as a row of `width` broadcast over the batch.
    fn broadcast_row(&self, name: &str, width: usize) -> Result<Vec<f32>, String> {
        broadcast_row(name, self.constant(name)?, width)
    }

    fn node(&mut self, node: &'g Node) -> Result<(), String> {
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Err(format!("domain `{}` is not supported", node.domain));
        }
        let input = |i: usize| -> Result<&'g str, String> {
            node.inputs
                .get(i)
                .map(String::as_str)
                .ok_or_else(|| format!("input {i} is missing"))
        };
        let output = node.outputs[0].as_str();
        let value = match node.op_type.as_str() {
            "Identity" => match self.values.get(input(0)?) {
                Some(Value::Rows(slot)) => Value::Rows(*slot),
                Some(Value::Constant(t)) => Value::Constant(t),
                None => return Err(format!("input `{}` is not known", input(0)?)),
            },
            "Constant" => match node.attribute("value").and_then(|a| a.tensor.as_ref()) {
                Some(tensor) => Value::Constant(tensor),
                None => return Err("only a tensor `value` is supported".into()),
            },
            "Concat" => {
                let axis = node.int("axis", 1);
                if axis != 1 && axis != -1 {
                    return Err(format!("axis {axis}: only the feature axis is supported"));
                }
                let parts = node
                    .inputs
                    .iter()
                    .map(|name| self.rows(name))
                    .collect::<Result<Vec<_>, _>>()?;
                let width = parts.iter().map(|&p| self.slots[p].width).sum();
                let out = self.slot(width)?;
                self.ops.push(Op::Concat { parts, out });
                Value::Rows(out)
            }
            "Gemm" | "MatMul" => Value::Rows(self.affine(node)?),
            "Add" | "Sub" | "Mul" => Value::Rows(self.binary(node)?),
            _ => {
                let activation = activation(node).ok_or("the operation is not supported")?;
                let input = self.rows(input(0)?)?;
                let out = if self.in_place && self.consume(input) {
                    input
                } else {
                    self.slot(self.slots[input].width)?
                };
                self.ops.push(Op::Unary {
                    activation,
                    input,
                    out,
                });
                Value::Rows(out)
            }
        };
        self.bind(output, value);
        Ok(())
    }

    /// A Gemm or MatMul node on rows ([`AffineLayer::compile`]).
    fn affine(&mut self, node: &'g Node) -> Result<usize, String> {
        let input = self.rows(node.inputs.first().ok_or("input 0 is missing")?)?;
        let k = self.slots[input].width;
        let layer = AffineLayer::compile(node, k, |name| self.constant(name))?;
        let out = self.slot(layer.n)?;
        self.affine_of[out] = Some(self.ops.len());
        self.multiply_adds += k * layer.n;
        self.ops.push(Op::Affine {
            input,
            weights: layer.weights,
            layout: layer.layout,
            bias: layer.bias,
            out,
            accumulate: false,
        });
        Ok(out)
    }

    /// Element-wise Add, Sub or Mul of two row values of one width, or of a row value and a
    /// broadcast constant.
    fn binary(&mut self, node: &'g Node) -> Result<usize, String> {
        let op = match node.op_type.as_str() {
            "Add" => Arithmetic::Add,
            "Sub" => Arithmetic::Sub,
            _ => Arithmetic::Mul,
        };
        let [a, b] = [0, 1].map(|i| node.inputs.get(i).map(String::as_str));
        let (Some(a), Some(b)) = (a, b) else {
            return Err("two inputs are needed".into());
        };
        let width = match (self.values.get(a), self.values.get(b)) {
            (Some(Value::Rows(x)), Some(Value::Rows(y))) => {
                let (wx, wy) = (self.slots[*x].width, self.slots[*y].width);
                if wx != wy {
                    return Err(format!("widths {wx} and {wy} differ"));
                }
                wx
            }
            (Some(Value::Rows(x)), _) | (_, Some(Value::Rows(x))) => self.slots[*x].width,
            _ => return Err("neither input depends on the network's inputs".into()),
        };
        let operand = |name: &str| -> Result<Operand, String> {
            match self.values.get(name) {
                Some(Value::Rows(slot)) => Ok(Operand::Slot(*slot)),
                _ => self.broadcast_row(name, width).map(Operand::Row),
            }
        };
        let (mut a, mut b) = (operand(a)?, operand(b)?);
        let commutes = !matches!(op, Arithmetic::Sub);
        if commutes && matches!(a, Operand::Row(_)) {
            std::mem::swap(&mut a, &mut b);
        }
        // x W + c + d with nothing else reading x W: d joins the affine layer's bias.
        if let (Operand::Slot(x), Operand::Row(row), Arithmetic::Add | Arithmetic::Sub) =
            (&a, &b, op)
            && let Some(layer) = self.affine_of[*x]
            && self.consume(*x)
        {
            let Op::Affine { bias, .. } = &mut self.ops[layer] else {
                unreachable!("affine_of names affine operations")
            };
            let sign = if matches!(op, Arithmetic::Sub) {
                -1.0
            } else {
                1.0
            };
            bias.iter_mut().zip(row).for_each(|(b, r)| *b += sign * r);
            self.affine_of[*x] = Some(layer);
            return Ok(*x);
        }
        // x W + y V with nothing else reading either product: the second layer adds its
        // product to the first's output (it runs later, and nothing reads that slot between).
        if let (Operand::Slot(x), Operand::Slot(y), Arithmetic::Add) = (&a, &b, op)
            && let (Some(first), Some(second)) = (self.affine_of[*x], self.affine_of[*y])
            && first < second
            && self.slot_readers[*x] == 1
            && self.consume(*y)
        {
            let x = *x;
            self.consume(x);
            let Op::Affine {
                out, accumulate, ..
            } = &mut self.ops[second]
            else {
                unreachable!("affine_of names affine operations")
            };
            (*out, *accumulate) = (x, true);
            self.affine_of[x] = Some(first);
            return Ok(x);
        }
        // In place into an operand nothing else reads.
        let out = match (&a, &b) {
            (Operand::Slot(x), _) if self.in_place && self.consume(*x) => *x,
            (_, Operand::Slot(y)) if self.in_place && commutes && self.consume(*y) => {
                let y = *y;
                std::mem::swap(&mut a, &mut b);
                y
            }
            _ => self.slot(width)?,
        };
        self.ops.push(Op::Binary { op, a, b, out });
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
