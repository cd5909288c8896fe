//! Exact Jacobians of a compiled network by reverse mode: dy/dz [B, ny, nz] and dy/du
//! [B, ny, nu].
//!
//! For each point the forward program runs once, keeping every intermediate value (the network
//! is compiled with no operation in place), and then the adjoints g_v = dy_i/dv of all ny
//! outputs travel back through the operations together: ny gradient rows per point, seeded with
//! g_y = e_i. Per operation, from its output's adjoint g to its inputs' (accumulated where a
//! value has several readers, assigned by the first):
//!
//! ```text
//! y = x W + b            g_x += g W'          (the affine kernel with W' packed at load)
//! y = f(x)               g_x += g * f'(x)     (f' from y: tanh 1 - y^2, sigmoid y (1 - y), ...)
//! y = a + b, a - b       g_a += g, g_b += g or -g
//! y = a * b              g_a += g * b, g_b += g * a
//! y = [a, b]             g_a += g[:, ..|a|], g_b += g[:, |a|..]
//! ```
//!
//! A point's reverse pass costs about ny forward rows, against 1 + nz + nu (forward) or
//! 2 (nz + nu) (central) for finite differences. A dense chain (most dynamics MLPs) runs the
//! same multiply-adds as one matrix product per tile instead (`chain.rs`); [`Reverse`] picks.

use ndarray::{ArrayView2, ArrayViewMut3, s};

use super::chain::Chain;
use super::kernels::{Activation, AffineTile, Layout, affine, pack};
use super::{Arithmetic, NativeJacobians, NativeNet, Op, Operand, Slot, TILE_ROWS, split2};

/// What an adjoint is multiplied by, element-wise, on its way to an input.
#[derive(Clone, Debug)]
enum Factor {
    One,
    Minus,
    /// A constant row [width].
    Row(Vec<f32>),
    /// The value in a slot (the other factor of a product), per point.
    Value(usize),
    /// f'(x) of an activation, from its output y in a slot, per point.
    Derivative(Activation, usize),
}

/// One operation of the reverse program, from the adjoint in slot `from` to that in slot `to`,
/// added to it (`accumulate`) or assigned.
#[derive(Clone, Debug)]
enum Step {
    /// g_to (+)= g_from W', W' packed as `layout` says.
    Affine {
        from: usize,
        to: usize,
        weights: Vec<f32>,
        layout: Layout,
        accumulate: bool,
    },
    /// g_to (+)= g_from * factor.
    Scale {
        from: usize,
        to: usize,
        factor: Factor,
        accumulate: bool,
    },
    /// g_to (+)= g_from[:, column..column + width of to].
    Slice {
        from: usize,
        column: usize,
        to: usize,
        accumulate: bool,
    },
}

/// The reverse program of a [`NativeNet`] and its adjoint arena (laid out as the value arena:
/// slot by slot, [TILE_ROWS, stride] each, the rows being ny adjoints of each point).
pub(super) struct Backward {
    steps: Vec<Step>,
    arena: Vec<f32>,
    /// A zero bias for the affine kernel, as wide as the widest slot.
    zeros: Vec<f32>,
    /// f'(x) of one point's row.
    derivative: Vec<f32>,
    /// Whether an adjoint reaches the state and the action (else that Jacobian is zero).
    reaches: [bool; 2],
}

impl Backward {
    /// The reverse program of `net`, which was compiled with no operation in place.
    pub(super) fn compile(net: &NativeNet) -> Result<Self, String> {
        let outputs = net.slots[net.output].width;
        if outputs > TILE_ROWS {
            return Err(format!(
                "{outputs} outputs: the native Jacobian takes at most {TILE_ROWS}"
            ));
        }
        let mut written = vec![false; net.slots.len()];
        written[net.output] = true;
        // Whether `slot` already holds an adjoint (the next contribution adds to it).
        let mut mark = |slot: usize| std::mem::replace(&mut written[slot], true);
        let mut steps = Vec::new();
        for op in net.ops.iter().rev() {
            match op {
                Op::Concat { parts, out } => {
                    if !mark(*out) {
                        continue;
                    }
                    let mut column = 0;
                    for &part in parts {
                        steps.push(Step::Slice {
                            from: *out,
                            column,
                            to: part,
                            accumulate: mark(part),
                        });
                        column += net.slots[part].width;
                    }
                }
                Op::Affine {
                    input,
                    weights,
                    layout,
                    out,
                    ..
                } => {
                    if !mark(*out) {
                        continue;
                    }
                    let (k, n) = (net.slots[*input].width, net.slots[*out].width);
                    let (weights, layout) = transposed(weights, *layout, k, n);
                    steps.push(Step::Affine {
                        from: *out,
                        to: *input,
                        weights,
                        layout,
                        accumulate: mark(*input),
                    });
                }
                Op::Unary {
                    activation,
                    input,
                    out,
                } => {
                    if !mark(*out) {
                        continue;
                    }
                    check_derivative(*activation)?;
                    debug_assert_ne!(input, out, "compiled with no operation in place");
                    steps.push(Step::Scale {
                        from: *out,
                        to: *input,
                        factor: Factor::Derivative(*activation, *out),
                        accumulate: mark(*input),
                    });
                }
                Op::Binary { op, a, b, out } => {
                    if !mark(*out) {
                        continue;
                    }
                    let other = |operand: &Operand| match operand {
                        Operand::Slot(slot) => Factor::Value(*slot),
                        Operand::Row(row) => Factor::Row(row.clone()),
                    };
                    let factors = match op {
                        Arithmetic::Add => [Factor::One, Factor::One],
                        Arithmetic::Sub => [Factor::One, Factor::Minus],
                        Arithmetic::Mul => [other(b), other(a)],
                    };
                    for (operand, factor) in [a, b].into_iter().zip(factors) {
                        if let Operand::Slot(slot) = operand {
                            debug_assert_ne!(slot, out, "compiled with no operation in place");
                            steps.push(Step::Scale {
                                from: *out,
                                to: *slot,
                                factor,
                                accumulate: mark(*slot),
                            });
                        }
                    }
                }
            }
        }
        let widest = net.slots.iter().map(|s| s.stride).max().unwrap_or(0);
        Ok(Self {
            steps,
            arena: vec![0.0; net.arena.len()],
            zeros: vec![0.0; widest],
            derivative: vec![0.0; widest],
            reaches: [written[net.state], written[net.action]],
        })
    }

    /// Runs the reverse program over the adjoints of `points` points (ny rows each), whose
    /// values are in `net`'s arena.
    fn run(&mut self, net: &NativeNet, points: usize, outputs: usize) {
        let rows = points * outputs;
        let slots = &net.slots;
        // g_y = e_i in row i of each point.
        let seed = slots[net.output];
        for p in 0..points {
            for i in 0..outputs {
                let at = seed.offset + (p * outputs + i) * seed.stride;
                let row = &mut self.arena[at..at + seed.stride];
                row.fill(0.0);
                row[i] = 1.0;
            }
        }
        for step in &self.steps {
            match step {
                Step::Affine {
                    from,
                    to,
                    weights,
                    layout,
                    accumulate,
                } => {
                    let (from, to) = (slots[*from], slots[*to]);
                    let (x, out) = split2(
                        &mut self.arena,
                        (from.offset, TILE_ROWS * from.stride),
                        (to.offset, TILE_ROWS * to.stride),
                    );
                    affine(
                        net.isa,
                        AffineTile {
                            rows,
                            k: from.width,
                            x,
                            x_stride: from.stride,
                            weights,
                            bias: &self.zeros[..to.stride],
                            out,
                            accumulate: *accumulate,
                            layout: *layout,
                            n: to.width,
                        },
                    );
                }
                Step::Scale {
                    from,
                    to,
                    factor,
                    accumulate,
                } => {
                    let (from, to) = (slots[*from], slots[*to]);
                    let width = to.width;
                    for p in 0..points {
                        let f: &[f32] = match factor {
                            Factor::One | Factor::Minus => &[],
                            Factor::Row(row) => &row[..width],
                            Factor::Value(slot) => value_row(net, slots[*slot], p, width),
                            Factor::Derivative(activation, slot) => {
                                let y = value_row(net, slots[*slot], p, width);
                                derivative(*activation, y, &mut self.derivative[..width]);
                                &self.derivative[..width]
                            }
                        };
                        for i in 0..outputs {
                            let row = p * outputs + i;
                            let (g, dst) = split2(
                                &mut self.arena,
                                (from.offset + row * from.stride, width),
                                (to.offset + row * to.stride, width),
                            );
                            match factor {
                                Factor::One => combine(dst, g, *accumulate, 1.0),
                                Factor::Minus => combine(dst, g, *accumulate, -1.0),
                                _ => {
                                    let terms = g.iter().zip(f);
                                    let pairs = dst.iter_mut().zip(terms);
                                    if *accumulate {
                                        pairs.for_each(|(d, (g, f))| *d += g * f);
                                    } else {
                                        pairs.for_each(|(d, (g, f))| *d = g * f);
                                    }
                                }
                            }
                        }
                    }
                }
                Step::Slice {
                    from,
                    column,
                    to,
                    accumulate,
                } => {
                    let (from, to) = (slots[*from], slots[*to]);
                    for row in 0..rows {
                        let (g, dst) = split2(
                            &mut self.arena,
                            (from.offset + row * from.stride + *column, to.width),
                            (to.offset + row * to.stride, to.width),
                        );
                        combine(dst, g, *accumulate, 1.0);
                    }
                }
            }
        }
    }

    /// Row `row` of slot `slot`'s adjoints, `width` wide (zeros where no adjoint reaches it).
    fn adjoint(&self, slot: Slot, row: usize, width: usize, reached: bool) -> &[f32] {
        if reached {
            &self.arena[slot.offset + row * slot.stride..][..width]
        } else {
            &self.zeros[..width]
        }
    }
}

/// How [`NativeNet::jacobians`] runs: the product of a dense chain where the network is one
/// (`chain.rs`), else the generic reverse program.
pub(super) enum Reverse {
    Chain(Chain),
    Program(Backward),
}

impl Reverse {
    /// The reverse pass of `net`, which was compiled with no operation in place.
    pub(super) fn compile(net: &NativeNet) -> Result<Self, String> {
        match Chain::compile(net) {
            Some(chain) => Ok(Reverse::Chain(chain)),
            None => Backward::compile(net).map(Reverse::Program),
        }
    }
}

impl NativeNet {
    /// dy/dz [B, ny, nz] into `dz` and dy/du [B, ny, nu] into `du` at the rows of (z, u), exactly
    /// (up to rounding), by reverse mode. Shapes are the caller's to check; the network must have
    /// been compiled by [`NativeNet::compile_differentiable`].
    pub fn jacobians(
        &mut self,
        z: ArrayView2<'_, f32>,
        u: ArrayView2<'_, f32>,
        mut dz: ArrayViewMut3<'_, f32>,
        mut du: ArrayViewMut3<'_, f32>,
    ) {
        let mut reverse = self
            .backward
            .take()
            .expect("compiled by NativeNet::compile_differentiable");
        let outputs = self.slots[self.output].width;
        let (state, action) = (self.slots[self.state], self.slots[self.action]);
        let per_tile = match reverse {
            Reverse::Chain(_) => TILE_ROWS,
            Reverse::Program(_) => TILE_ROWS / outputs,
        };
        let batch = z.nrows();
        let mut start = 0;
        while start < batch {
            let points = (batch - start).min(per_tile);
            self.load(self.state, z, start, points);
            self.load(self.action, u, start, points);
            for op in 0..self.ops.len() {
                self.apply(op, points);
            }
            match &mut reverse {
                Reverse::Chain(chain) => {
                    chain.run(self, points);
                    for p in 0..points {
                        for i in 0..outputs {
                            let row = chain.row(p, i);
                            store(&mut dz, start + p, i, &row[..state.width]);
                            store(&mut du, start + p, i, &row[state.width..]);
                            if chain.residual() {
                                dz[[start + p, i, i]] += 1.0;
                            }
                        }
                    }
                }
                Reverse::Program(backward) => {
                    backward.run(self, points, outputs);
                    let [to_state, to_action] = backward.reaches;
                    for p in 0..points {
                        for i in 0..outputs {
                            let row = p * outputs + i;
                            let g = backward.adjoint(state, row, state.width, to_state);
                            store(&mut dz, start + p, i, g);
                            let g = backward.adjoint(action, row, action.width, to_action);
                            store(&mut du, start + p, i, g);
                        }
                    }
                }
            }
            start += points;
        }
        self.backward = Some(reverse);
    }

    /// The same network with the generic reverse program in place of a dense chain's product.
    #[cfg(test)]
    pub(super) fn with_reverse_program(mut self) -> Self {
        self.backward = Some(Reverse::Program(
            Backward::compile(&self).expect("compiled with no operation in place"),
        ));
        self
    }

    /// How the Jacobians are computed, when compiled for them.
    pub fn jacobian_method(&self) -> Option<NativeJacobians> {
        self.backward.as_ref().map(|reverse| match reverse {
            Reverse::Chain(_) => NativeJacobians::DenseChain,
            Reverse::Program(_) => NativeJacobians::ReverseProgram,
        })
    }
}

/// block[point, row, ..] = values, for a block [B, ny, width].
fn store(block: &mut ArrayViewMut3<'_, f32>, point: usize, row: usize, values: &[f32]) {
    let (_, rows, width) = block.dim();
    match block.as_slice_mut() {
        Some(all) => all[(point * rows + row) * width..][..width].copy_from_slice(values),
        None => block
            .slice_mut(s![point, row, ..])
            .iter_mut()
            .zip(values)
            .for_each(|(d, &v)| *d = v),
    }
}

/// Point `p`'s row of a value slot, `width` wide.
fn value_row(net: &NativeNet, slot: Slot, p: usize, width: usize) -> &[f32] {
    &net.arena[slot.offset + p * slot.stride..][..width]
}

/// dst = sign g or dst += sign g, element-wise.
fn combine(dst: &mut [f32], g: &[f32], accumulate: bool, sign: f32) {
    let pairs = dst.iter_mut().zip(g);
    if accumulate {
        pairs.for_each(|(d, &g)| *d += sign * g);
    } else {
        pairs.for_each(|(d, &g)| *d = sign * g);
    }
}

/// Activations whose derivative follows from their output.
pub(super) fn check_derivative(activation: Activation) -> Result<(), String> {
    match activation {
        // y > 0 exactly where x > 0 only for alpha > 0.
        Activation::LeakyRelu(alpha) | Activation::Elu(alpha) if alpha <= 0.0 => Err(format!(
            "{activation:?}: the derivative needs alpha > 0 to follow from the output"
        )),
        _ => Ok(()),
    }
}

/// f'(x) from y = f(x).
pub(super) fn derivative(activation: Activation, y: &[f32], out: &mut [f32]) {
    let pairs = out.iter_mut().zip(y);
    match activation {
        Activation::Tanh => pairs.for_each(|(d, &y)| *d = 1.0 - y * y),
        Activation::Sigmoid => pairs.for_each(|(d, &y)| *d = y * (1.0 - y)),
        Activation::Relu => pairs.for_each(|(d, &y)| *d = if y > 0.0 { 1.0 } else { 0.0 }),
        Activation::LeakyRelu(alpha) => {
            pairs.for_each(|(d, &y)| *d = if y > 0.0 { 1.0 } else { alpha })
        }
        // alpha (e^x - 1) = y for x <= 0, so f' = alpha e^x = y + alpha.
        Activation::Elu(alpha) => {
            pairs.for_each(|(d, &y)| *d = if y > 0.0 { 1.0 } else { y + alpha })
        }
        // y = ln(1 + e^x): f' = e^x / (1 + e^x) = 1 - e^-y.
        Activation::Softplus => pairs.for_each(|(d, &y)| *d = -(-y).exp_m1()),
        Activation::Neg => pairs.for_each(|(d, _)| *d = -1.0),
    }
}

/// W' [n, k] packed for the affine kernel from W [k, n] packed as `layout` says.
pub(super) fn transposed(
    weights: &[f32],
    layout: Layout,
    k: usize,
    n: usize,
) -> (Vec<f32>, Layout) {
    pack(n, k, |q, j| layout.weight(weights, (k, n), j, q))
}
