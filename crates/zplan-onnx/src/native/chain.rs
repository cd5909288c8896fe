//! Exact Jacobians of a dense chain, the shape of the trainer's dynamics MLPs:
//!
//! ```text
//! h_0 = [z, u],  h_l = f_l(h_{l-1} W_l + b_l) for 0 < l < L,  y = h_{L-1} W_L + b_L (+ z)
//! ```
//!
//! with W_l [k_l, n_l]. Then dy/dh_0 = W_L' D_{L-1} W_{L-1}' ... D_1 W_1' (+ [I 0]), where
//! D_l = diag f_l'(h_l) follows from the layer's output (`jacobian::derivative`). The first
//! two factors are one row-vector product per point against a matrix packed at load,
//!
//! ```text
//! (W_L' D_{L-1} W_{L-1}')[i, q] = sum_c d_c W_L[c, i] W_{L-1}[q, c] = (d P)[(i, q)],
//! P[c, (i, q)] = W_L[c, i] W_{L-1}[q, c],   P [n_{L-1}, ny k_{L-1}],
//! ```
//!
//! so a tile of points makes one matrix product [points, n_{L-1}] x P: the widest product the
//! network offers and no padding in its columns. The generic reverse program (`jacobian.rs`)
//! does the same multiply-adds as ny seeded rows per point, with the seeds and the scaling by
//! f' as passes of their own. Earlier layers, if any, follow as in reverse mode, ny rows per
//! point: G <- (G * d_l) W_l'.

use super::jacobian::{check_derivative, derivative, transposed};
use super::kernels::{Activation, AffineTile, Layout, affine, pack, padded};
use super::{Arithmetic, NativeNet, Op, Operand, TILE_ROWS};

/// Most f32 in the packed P (4 MiB); a larger network runs the generic reverse program.
const MAX_OUTER: usize = 1 << 20;

/// A hidden layer before the last two: G <- (G * f'(h)) W', ny rows per point.
struct Layer {
    /// The slot of h = f(h_prev W + b), and f.
    hidden: usize,
    activation: Activation,
    /// W' [n, k] packed for the affine kernel.
    transposed: Vec<f32>,
    layout: Layout,
    /// W's inputs k and outputs n (the width of h).
    k: usize,
    n: usize,
}

/// The reverse pass of a dense chain (the module's doc), with its scratch space.
pub(super) struct Chain {
    /// The slot of h_{L-1} and f_{L-1}, whose derivatives multiply P.
    last: usize,
    last_activation: Activation,
    /// P packed for the affine kernel: n_{L-1} inputs, ny k_{L-1} outputs.
    outer: Vec<f32>,
    outer_layout: Layout,
    /// n_{L-1} and k_{L-1}.
    width: usize,
    inputs: usize,
    /// The layers before the last two, from L - 2 down to 1.
    layers: Vec<Layer>,
    /// ny.
    outputs: usize,
    /// y = z + ...: dy/dz has the identity added.
    residual: bool,
    /// f'(h) of a tile, [TILE_ROWS, stride of h].
    derivative: Vec<f32>,
    /// d P of a tile, [TILE_ROWS, padded(ny k_{L-1})].
    product: Vec<f32>,
    /// G * d_l and the next G, [TILE_ROWS ny, padded width] (for L > 2).
    scaled: Vec<f32>,
    adjoint: Vec<f32>,
    /// The zero bias of the affine kernel.
    zeros: Vec<f32>,
}

/// The parts of a dense chain read off a compiled network's operations.
struct Parts<'n> {
    /// (W packed, its layout, k, n) of each affine layer, first to last.
    affine: Vec<(&'n [f32], Layout, usize, usize)>,
    /// (slot, f) of each hidden layer's output.
    hidden: Vec<(usize, Activation)>,
    residual: bool,
}

impl Chain {
    /// The chain's reverse pass if `net` (compiled with no operation in place) is a dense chain
    /// of at least two affine layers from the concatenation [z, u], else `None`.
    pub(super) fn compile(net: &NativeNet) -> Option<Self> {
        let Parts {
            affine,
            hidden,
            residual,
        } = Self::parts(net)?;
        let outputs = net.slots[net.output].width;
        let count = affine.len();
        let (last, previous) = (affine[count - 1], affine[count - 2]);
        let (width, inputs) = (last.2, previous.2);
        if outputs > TILE_ROWS || width * outputs * inputs > MAX_OUTER {
            return None;
        }
        let at = |(weights, layout, k, n): (&[f32], Layout, usize, usize), p, j| {
            layout.weight(weights, (k, n), p, j)
        };
        let (outer, outer_layout) = pack(width, outputs * inputs, |c, column| {
            let (i, q) = (column / inputs, column % inputs);
            at(last, c, i) * at(previous, q, c)
        });
        let layers: Vec<Layer> = (0..count - 2)
            .rev()
            .map(|l| {
                let (weights, layout, k, n) = affine[l];
                let (transposed, layout_t) = transposed(weights, layout, k, n);
                Layer {
                    hidden: hidden[l].0,
                    activation: hidden[l].1,
                    transposed,
                    layout: layout_t,
                    k,
                    n,
                }
            })
            .collect();
        let widest_hidden = hidden
            .iter()
            .map(|&(slot, _)| net.slots[slot].stride)
            .max()?;
        let widest_input = layers.iter().map(|l| padded(l.k)).max().unwrap_or(0);
        let rows = TILE_ROWS * outputs;
        let scratch = |wide: usize| {
            if layers.is_empty() {
                Vec::new()
            } else {
                vec![0.0; rows * wide]
            }
        };
        Some(Self {
            last: hidden[count - 2].0,
            last_activation: hidden[count - 2].1,
            outer,
            outer_layout,
            width,
            inputs,
            outputs,
            residual,
            derivative: vec![0.0; TILE_ROWS * widest_hidden],
            product: vec![0.0; TILE_ROWS * padded(outputs * inputs)],
            scaled: scratch(widest_hidden),
            adjoint: scratch(widest_input),
            zeros: vec![0.0; padded(outputs * inputs).max(widest_input)],
            layers,
        })
    }

    /// The affine layers and activations of `net` if its operations are, in order, Concat
    /// [z, u]; then affine, activation, ..., affine (at least two affine layers); then
    /// optionally y = z + the last affine layer's output.
    fn parts(net: &NativeNet) -> Option<Parts<'_>> {
        let mut ops = net.ops.iter();
        let Some(Op::Concat { parts, out }) = ops.next() else {
            return None;
        };
        if parts[..] != [net.state, net.action] {
            return None;
        }
        let mut value = *out;
        let mut chain = Parts {
            affine: Vec::new(),
            hidden: Vec::new(),
            residual: false,
        };
        for op in ops {
            let after_affine = chain.affine.len() > chain.hidden.len();
            match op {
                _ if chain.residual => return None,
                Op::Affine {
                    input,
                    weights,
                    layout,
                    out,
                    accumulate: false,
                    ..
                } if *input == value && !after_affine => {
                    let (k, n) = (net.slots[*input].width, net.slots[*out].width);
                    chain.affine.push((weights, *layout, k, n));
                    value = *out;
                }
                Op::Unary {
                    activation,
                    input,
                    out,
                } if *input == value && after_affine && check_derivative(*activation).is_ok() => {
                    chain.hidden.push((*out, *activation));
                    value = *out;
                }
                Op::Binary {
                    op: Arithmetic::Add,
                    a: Operand::Slot(a),
                    b: Operand::Slot(b),
                    out,
                } if after_affine
                    && ((*a, *b) == (net.state, value) || (*a, *b) == (value, net.state)) =>
                {
                    chain.residual = true;
                    value = *out;
                }
                _ => return None,
            }
        }
        let complete = chain.affine.len() == chain.hidden.len() + 1;
        (complete && chain.affine.len() >= 2 && value == net.output).then_some(chain)
    }

    /// Whether dy/dz has the identity added (y = z + ...).
    pub(super) fn residual(&self) -> bool {
        self.residual
    }

    /// The reverse pass over `points` points whose values are in `net`'s arena; the result is
    /// then [`Chain::row`].
    pub(super) fn run(&mut self, net: &NativeNet, points: usize) {
        let ny = self.outputs;
        let slot = net.slots[self.last];
        let len = points * slot.stride;
        derivative(
            self.last_activation,
            &net.arena[slot.offset..slot.offset + len],
            &mut self.derivative[..len],
        );
        let columns = ny * self.inputs;
        affine(
            net.isa,
            AffineTile {
                rows: points,
                k: self.width,
                x: &self.derivative,
                x_stride: slot.stride,
                weights: &self.outer,
                bias: &self.zeros[..padded(columns)],
                out: &mut self.product,
                accumulate: false,
                layout: self.outer_layout,
                n: columns,
            },
        );
        for l in 0..self.layers.len() {
            let layer = &self.layers[l];
            let h = net.slots[layer.hidden];
            let len = points * h.stride;
            derivative(
                layer.activation,
                &net.arena[h.offset..h.offset + len],
                &mut self.derivative[..len],
            );
            let stride = padded(layer.n);
            for p in 0..points {
                let d = &self.derivative[p * h.stride..][..layer.n];
                for i in 0..ny {
                    let g = if l == 0 {
                        &self.product[p * padded(columns) + i * self.inputs..][..layer.n]
                    } else {
                        &self.adjoint[(p * ny + i) * padded(self.layers[l - 1].k)..][..layer.n]
                    };
                    let scaled = &mut self.scaled[(p * ny + i) * stride..][..layer.n];
                    for ((s, &g), &d) in scaled.iter_mut().zip(g).zip(d) {
                        *s = g * d;
                    }
                }
            }
            affine(
                net.isa,
                AffineTile {
                    rows: points * ny,
                    k: layer.n,
                    x: &self.scaled,
                    x_stride: stride,
                    weights: &layer.transposed,
                    bias: &self.zeros[..padded(layer.k)],
                    out: &mut self.adjoint,
                    accumulate: false,
                    layout: layer.layout,
                    n: layer.k,
                },
            );
        }
    }

    /// Row i of dy/d[z, u] at point p of the last [`Chain::run`] (without the residual's
    /// identity).
    pub(super) fn row(&self, p: usize, i: usize) -> &[f32] {
        match self.layers.last() {
            None => {
                let columns = padded(self.outputs * self.inputs);
                &self.product[p * columns + i * self.inputs..][..self.inputs]
            }
            Some(first) => &self.adjoint[(p * self.outputs + i) * padded(first.k)..][..first.k],
        }
    }
}
